/* test_peer_forward.c: unit tests of the forwarder (daemon/peer/forward.c)
 * against a small libmicrohttpd "leader" running inside the test. The
 * base URL's path picks how the leader behaves (answers, holds, drops the
 * connection, breaks an answer off, answers a given status); the rules
 * under test are the outcome mapping of forward.h: answered (0), certainly
 * not run (KAHUNA_EUNAVAILABLE), fate unknown (KAHUNA_ETIMEOUT), client
 * gone (KAHUNA_ECANCELED), stopping (KAHUNA_ESHUTDOWN). */
#include "peer/forward.h"
#include "peer/rpc.h"
#include "clock.h"
#include "errors.h"
#include "httpc.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "s3cret"
#define DEADLINE_MS 20000
#define FORWARD_SUFFIX "/raft/v1/forward"

/* What fsm_result_clear does, without linking the state machine: this test
 * builds from the codec's sources alone. */
static void result_clear(fsm_result *r)
{
    free(r->owner);
    kbuf_free(&r->data);
    memset(r, 0, sizeof *r);
}

/* ---- the leader ---- */

static struct MHD_Daemon *srv;
static int srv_port;
static atomic_int srv_connections;   /* connections accepted */
static atomic_int srv_requests;      /* complete requests seen (any path) */
static atomic_int srv_held;          /* requests that reached /hang */
static atomic_int srv_client_closed; /* /hang requests whose client went away */
static atomic_int srv_release;       /* lets /hang requests answer */
static atomic_int srv_inflight, srv_max_inflight;
static atomic_int srv_gate_open;
static atomic_int srv_gate_target;

typedef struct upload {
    kbuf body;
} upload;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const void *body, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The leader's answer to a forwarded proposal: revision = wait_ms,
 * version = the command's length, data = the command's bytes. */
static enum MHD_Result answer_ok(struct MHD_Connection *conn, const upload *u)
{
    rpc_request rq;
    if (rpc_request_decode(kbytes_make(u->body.data, u->body.len), &rq))
        return answer(conn, 400, "bad", 3);
    fsm_result res = {.status = 0, .revision = rq.wait_ms, .version = (int64_t)rq.a.n};
    kbuf enc = KBUF_INIT;
    if (kbuf_append(&res.data, rq.a.p, rq.a.n) || rpc_result_encode(&res, &enc)) {
        kbuf_free(&res.data);
        kbuf_free(&enc);
        return MHD_NO;
    }
    enum MHD_Result ret = answer(conn, 200, enc.data, enc.len);
    kbuf_free(&res.data);
    kbuf_free(&enc);
    return ret;
}

/* Holds the request until released, or until the client closes the
 * connection (then closes it too, without an answer). */
static enum MHD_Result hold(struct MHD_Connection *conn, const upload *u)
{
    atomic_fetch_add(&srv_held, 1);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    for (int i = 0; i < 3000 && !atomic_load(&srv_release); i++) {
        struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
        if (fd >= 0 && poll(&p, 1, 10) > 0) {
            char c;
            ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                atomic_fetch_add(&srv_client_closed, 1);
                return MHD_NO;
            }
            usleep(10000);
        } else if (fd < 0) {
            usleep(10000);
        }
    }
    return answer_ok(conn, u);
}

/* Waits until srv_gate_target requests are in the handler at once (or a
 * deadline), then lets every one through. */
static enum MHD_Result gate(struct MHD_Connection *conn, const upload *u)
{
    int now = atomic_fetch_add(&srv_inflight, 1) + 1;
    int max = atomic_load(&srv_max_inflight);
    while (now > max && !atomic_compare_exchange_weak(&srv_max_inflight, &max, now))
        ;
    if (now >= atomic_load(&srv_gate_target))
        atomic_store(&srv_gate_open, 1);
    for (int i = 0; i < 1500 && !atomic_load(&srv_gate_open); i++)
        usleep(10000);
    atomic_fetch_sub(&srv_inflight, 1);
    return answer_ok(conn, u);
}

static ssize_t half_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos == 0 && max >= 4) {
        memcpy(buf, "KFWR", 4);
        return 4;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (kbuf_append(&u->body, data, *data_size))
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&srv_requests, 1);
    const char *secret = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Kahuna-Peer-Secret");
    if (!secret || strcmp(secret, SECRET) != 0)
        return answer(conn, 403, "secret", 6);
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (strcmp(method, "POST") != 0 || !ct || strcmp(ct, "application/octet-stream") != 0)
        return answer(conn, 400, "form", 4);
    size_t ul = strlen(url), sl = strlen(FORWARD_SUFFIX);
    if (ul < sl || strcmp(url + ul - sl, FORWARD_SUFFIX) != 0)
        return answer(conn, 404, "route", 5);
    size_t ml = ul - sl;
    if (ml == 3 && strncmp(url, "/ok", 3) == 0)
        return answer_ok(conn, u);
    if (ml == 0)
        return answer_ok(conn, u);
    if (ml == 5 && strncmp(url, "/hang", 5) == 0)
        return hold(conn, u);
    if (ml == 5 && strncmp(url, "/gate", 5) == 0)
        return gate(conn, u);
    if (ml == 5 && strncmp(url, "/drop", 5) == 0)
        return MHD_NO; /* closes the connection without an answer */
    if (ml == 5 && strncmp(url, "/half", 5) == 0) {
        struct MHD_Response *r = MHD_create_response_from_callback(1000, 4096, half_reader, NULL, NULL);
        if (!r)
            return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (ml == 11 && strncmp(url, "/status/", 8) == 0)
        return answer(conn, (unsigned)atoi(url + 8), "status", 6);
    return answer(conn, 404, "mode", 4);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u) {
        kbuf_free(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&srv_connections, 1);
}

static void start_server(void)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    atomic_store(&srv_connections, 0);
    atomic_store(&srv_requests, 0);
    atomic_store(&srv_held, 0);
    atomic_store(&srv_client_closed, 0);
    atomic_store(&srv_release, 0);
    atomic_store(&srv_inflight, 0);
    atomic_store(&srv_max_inflight, 0);
    atomic_store(&srv_gate_open, 0);
    atomic_store(&srv_gate_target, 1);
    srv = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
                           NULL, NULL, handler, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                           MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                           MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                           MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                           MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
                           MHD_OPTION_END);
    ck_assert_ptr_nonnull(srv);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    srv_port = info->port;
}

static void stop_server(void)
{
    atomic_store(&srv_release, 1);
    atomic_store(&srv_gate_open, 1);
    MHD_stop_daemon(srv);
    srv = NULL;
}

static char url_buf[256];
static const char *url(const char *mode)
{
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", srv_port, mode);
    return url_buf;
}

/* A loopback port where nothing listens (bound then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listener that never accepts, with its accept queue filled: a connect
 * to it never completes (the kernel drops the SYNs). */
static int full_fd = -1, filler_fd[3] = {-1, -1, -1};
static int full_port(void)
{
    full_fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(full_fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(full_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(full_fd, 0), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(full_fd, (struct sockaddr *)&sa, &len), 0);
    for (int i = 0; i < 3; i++) {
        filler_fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(filler_fd[i], 0);
        int rc = connect(filler_fd[i], (struct sockaddr *)&sa, sizeof(sa));
        ck_assert(rc == 0 || errno == EINPROGRESS);
    }
    return ntohs(sa.sin_port);
}

static void close_full_port(void)
{
    for (int i = 0; i < 3; i++)
        if (filler_fd[i] >= 0)
            close(filler_fd[i]);
    if (full_fd >= 0)
        close(full_fd);
    full_fd = filler_fd[0] = filler_fd[1] = filler_fd[2] = -1;
}

/* ---- outcomes collected from done callbacks ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

typedef struct outcome {
    int calls;
    int status;
    int on_forwarder_thread;
    kbuf body;
} outcome;

static pthread_t test_thread;

static void on_done(void *arg, int status, kbytes body)
{
    outcome *o = arg;
    pthread_mutex_lock(&mu);
    o->calls++;
    o->status = status;
    o->on_forwarder_thread = !pthread_equal(pthread_self(), test_thread);
    if (kbuf_append(&o->body, body.p, body.n))
        o->status = 999;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits until every one of o[0..n) has been answered; 0 at the deadline. */
static int wait_all(outcome *o, size_t n)
{
    int64_t deadline = clock_mono_ms() + DEADLINE_MS;
    pthread_mutex_lock(&mu);
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n || clock_mono_ms() >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
        done += o[i].calls > 0;
    pthread_mutex_unlock(&mu);
    return done == n;
}

/* Polls cond until true or the deadline. */
static int wait_until(int (*cond)(void))
{
    int64_t deadline = clock_mono_ms() + DEADLINE_MS;
    while (!cond()) {
        if (clock_mono_ms() >= deadline)
            return 0;
        usleep(5000);
    }
    return 1;
}

static void outcome_free(outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kbuf_free(&o[i].body);
}

/* An encoded proposal whose command bytes are cmd. */
static kbuf proposal(kbytes cmd, int64_t wait_ms)
{
    rpc_request rq = {.op = RPC_PROPOSE, .wait_ms = wait_ms, .a = cmd};
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_request_encode(&rq, &enc), 0);
    return enc;
}

/* Checks a status-0 outcome: the leader's answer echoes cmd and wait. */
static void assert_answered(const outcome *o, kbytes cmd, int64_t wait_ms)
{
    ck_assert_int_eq(o->calls, 1);
    ck_assert_int_eq(o->status, 0);
    fsm_result res;
    ck_assert_int_eq(rpc_result_decode(kbytes_make(o->body.data, o->body.len), &res), 0);
    ck_assert_int_eq(res.status, 0);
    ck_assert_int_eq(res.revision, wait_ms);
    ck_assert_uint_eq(res.data.len, cmd.n);
    ck_assert_int_eq(memcmp(res.data.data, cmd.p, cmd.n), 0);
    result_clear(&res);
}

/* One request to base url; returns its outcome (after it was answered). */
static outcome forward_one(peer_forwarder *f, const char *base, int64_t timeout_ms)
{
    static const uint8_t cmd[] = {1, 1, 2, 1, 'k', 0, 0xff};
    kbuf rq = proposal(kbytes_make(cmd, sizeof cmd), 11);
    outcome o = {0, 0, 0, KBUF_INIT};
    peer_forward(f, base, kbytes_make(rq.data, rq.len), timeout_ms, NULL, NULL, on_done, &o);
    kbuf_free(&rq);
    ck_assert(wait_all(&o, 1));
    ck_assert_int_eq(o.calls, 1);
    return o;
}

static peer_forwarder *fw;

static void setup(void)
{
    test_thread = pthread_self();
    start_server();
    ck_assert_int_eq(peer_forwarder_start(SECRET, &fw), 0);
}

static void teardown(void)
{
    peer_forwarder_stop(fw);
    fw = NULL;
    stop_server();
    close_full_port();
}

/* ---- answered ---- */

START_TEST(test_forward_answer_200_gives_the_leaders_body)
{
    static const uint8_t cmd[] = {1, 1, 2, 1, 'k', 0, 0xff, '\n'};
    kbuf rq = proposal(kbytes_make(cmd, sizeof cmd), 1234);
    outcome o = {0, 0, 0, KBUF_INIT};
    peer_forward(fw, url("/ok"), kbytes_make(rq.data, rq.len), 5000, NULL, NULL, on_done, &o);
    /* the request was copied: the caller's buffer may change at once */
    memset(rq.data, 'x', rq.len);
    kbuf_free(&rq);
    ck_assert(wait_all(&o, 1));
    assert_answered(&o, kbytes_make(cmd, sizeof cmd), 1234);
    ck_assert(o.on_forwarder_thread);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_url_with_trailing_slash_reaches_the_route)
{
    outcome o = forward_one(fw, url("/"), 5000);
    ck_assert_int_eq(o.status, 0);
    outcome_free(&o, 1);
    o = forward_one(fw, url("/ok//"), 5000);
    ck_assert_int_eq(o.status, 0);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_keeps_the_connection_alive_between_requests)
{
    for (int i = 0; i < 20; i++) {
        outcome o = forward_one(fw, url("/ok"), 5000);
        ck_assert_int_eq(o.status, 0);
        outcome_free(&o, 1);
    }
    ck_assert_int_eq(atomic_load(&srv_requests), 20);
    ck_assert_int_eq(atomic_load(&srv_connections), 1);
}
END_TEST

#define MANY 200
#define AT_ONCE 64

static int alive_yes(void *arg)
{
    return 1;
}

START_TEST(test_forward_200_concurrent_requests_all_complete)
{
    /* The leader holds requests until AT_ONCE of them are in flight
     * together: the test passes only if they really are. */
    atomic_store(&srv_gate_target, AT_ONCE);
    static outcome o[MANY];
    static char cmds[MANY][32];
    memset(o, 0, sizeof o);
    for (int i = 0; i < MANY; i++) {
        int n = snprintf(cmds[i], sizeof cmds[i], "command-%d", i);
        kbuf rq = proposal(kbytes_make(cmds[i], (size_t)n), i);
        peer_forward(fw, url("/gate"), kbytes_make(rq.data, rq.len), i % 3 ? 15000 : 0,
                     i % 2 ? alive_yes : NULL, NULL, on_done, &o[i]);
        kbuf_free(&rq);
    }
    ck_assert(wait_all(o, MANY));
    for (int i = 0; i < MANY; i++)
        assert_answered(&o[i], kbytes_str(cmds[i]), i);
    ck_assert_int_ge(atomic_load(&srv_max_inflight), AT_ONCE);
    ck_assert_int_le(atomic_load(&srv_connections), MANY);
    outcome_free(o, MANY);

    /* a second wave of AT_ONCE reuses connections the first one opened
     * (it had at least AT_ONCE open together) */
    int conns = atomic_load(&srv_connections);
    ck_assert_int_ge(conns, AT_ONCE);
    memset(o, 0, sizeof o);
    for (int i = 0; i < AT_ONCE; i++) {
        kbuf rq = proposal(kbytes_str(cmds[i]), i);
        peer_forward(fw, url("/ok"), kbytes_make(rq.data, rq.len), 15000, NULL, NULL, on_done, &o[i]);
        kbuf_free(&rq);
    }
    ck_assert(wait_all(o, AT_ONCE));
    for (int i = 0; i < AT_ONCE; i++)
        assert_answered(&o[i], kbytes_str(cmds[i]), i);
    ck_assert_int_eq(atomic_load(&srv_connections), conns);
    outcome_free(o, AT_ONCE);
}
END_TEST

static int held_one(void)
{
    return atomic_load(&srv_held) >= 1;
}

START_TEST(test_forward_without_timeout_waits_for_the_answer)
{
    const int64_t none[] = {0, -1};
    for (int i = 0; i < 2; i++) {
        atomic_store(&srv_release, 0);
        atomic_store(&srv_held, 0);
        kbuf rq = proposal(kbytes_str("c"), 3);
        outcome o = {0, 0, 0, KBUF_INIT};
        peer_forward(fw, url("/hang"), kbytes_make(rq.data, rq.len), none[i], NULL, NULL, on_done, &o);
        kbuf_free(&rq);
        ck_assert(wait_until(held_one));
        usleep(300 * 1000); /* longer than any accidental zero timeout */
        pthread_mutex_lock(&mu);
        ck_assert_int_eq(o.calls, 0);
        pthread_mutex_unlock(&mu);
        atomic_store(&srv_release, 1);
        ck_assert(wait_all(&o, 1));
        assert_answered(&o, kbytes_str("c"), 3);
        outcome_free(&o, 1);
    }
}
END_TEST

/* ---- not sent: KAHUNA_EUNAVAILABLE ---- */

START_TEST(test_forward_refused_connection_is_unavailable)
{
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d", dead_port());
    outcome o = forward_one(fw, u, 5000);
    ck_assert_int_eq(o.status, KAHUNA_EUNAVAILABLE);
    ck_assert_uint_eq(o.body.len, 0);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_unresolvable_host_is_unavailable)
{
    outcome o = forward_one(fw, "http://no-such-host.invalid:7070", 3000);
    ck_assert_int_eq(o.status, KAHUNA_EUNAVAILABLE);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_no_connection_within_the_timeout_is_unavailable)
{
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d", full_port());
    outcome o = forward_one(fw, u, 300);
    ck_assert_int_eq(o.status, KAHUNA_EUNAVAILABLE);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_503_and_4xx_from_the_route_are_unavailable)
{
    const char *modes[] = {"/status/503", "/status/400", "/status/404", "/status/413", "/status/409", "/nope"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        outcome o = forward_one(fw, url(modes[i]), 5000);
        ck_assert_msg(o.status == KAHUNA_EUNAVAILABLE, "%s: %d", modes[i], o.status);
        ck_assert_uint_eq(o.body.len, 0);
        outcome_free(&o, 1);
    }
}
END_TEST

START_TEST(test_forward_wrong_or_missing_secret_is_unavailable)
{
    const char *secrets[] = {"wrong", "", NULL};
    for (size_t i = 0; i < 3; i++) {
        peer_forwarder *f;
        ck_assert_int_eq(peer_forwarder_start(secrets[i], &f), 0);
        outcome o = forward_one(f, url("/ok"), 5000);
        ck_assert_int_eq(o.status, KAHUNA_EUNAVAILABLE);
        outcome_free(&o, 1);
        peer_forwarder_stop(f);
    }
    ck_assert_int_eq(atomic_load(&srv_requests), 3); /* refused by the leader, not before */
}
END_TEST

START_TEST(test_forward_secret_with_a_line_break_is_refused)
{
    peer_forwarder *f = (peer_forwarder *)1;
    ck_assert_int_eq(peer_forwarder_start("a\r\nX-Evil: 1", &f), KAHUNA_EBADREQ);
    ck_assert_ptr_null(f);
}
END_TEST

/* ---- sent, fate unknown: KAHUNA_ETIMEOUT ---- */

START_TEST(test_forward_timeout_after_sending_is_timeout)
{
    outcome o = forward_one(fw, url("/hang"), 300);
    ck_assert_int_eq(o.status, KAHUNA_ETIMEOUT);
    ck_assert_int_eq(atomic_load(&srv_held), 1); /* the leader did get it */
    ck_assert_uint_eq(o.body.len, 0);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_connection_closed_without_answer_is_timeout)
{
    outcome o = forward_one(fw, url("/drop"), 5000);
    ck_assert_int_eq(o.status, KAHUNA_ETIMEOUT);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_connection_closed_mid_answer_is_timeout)
{
    outcome o = forward_one(fw, url("/half"), 5000);
    ck_assert_int_eq(o.status, KAHUNA_ETIMEOUT);
    ck_assert_uint_eq(o.body.len, 0);
    outcome_free(&o, 1);
}
END_TEST

START_TEST(test_forward_is_sent_at_most_once)
{
    /* A reused connection that the leader closes without an answer:
     * libcurl would quietly send the request again on a new connection;
     * the forwarder must not (the leader may have run it already). */
    outcome o = forward_one(fw, url("/ok"), 5000);
    ck_assert_int_eq(o.status, 0);
    outcome_free(&o, 1);
    o = forward_one(fw, url("/drop"), 5000);
    ck_assert_int_eq(o.status, KAHUNA_ETIMEOUT);
    outcome_free(&o, 1);
    ck_assert_int_eq(atomic_load(&srv_requests), 2);
}
END_TEST

START_TEST(test_forward_other_statuses_are_timeout)
{
    const char *modes[] = {"/status/500", "/status/502", "/status/504", "/status/201", "/status/302"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        outcome o = forward_one(fw, url(modes[i]), 5000);
        ck_assert_msg(o.status == KAHUNA_ETIMEOUT, "%s: %d", modes[i], o.status);
        ck_assert_uint_eq(o.body.len, 0);
        outcome_free(&o, 1);
    }
}
END_TEST

/* ---- the client went away: KAHUNA_ECANCELED ---- */

static atomic_int client_alive;
static int alive_flag(void *arg)
{
    return atomic_load(&client_alive);
}

static int client_closed_one(void)
{
    return atomic_load(&srv_client_closed) >= 1;
}

START_TEST(test_forward_alive_zero_cancels_and_closes_the_connection)
{
    atomic_store(&client_alive, 1);
    kbuf rq = proposal(kbytes_str("c"), 0);
    outcome o = {0, 0, 0, KBUF_INIT}, other = {0, 0, 0, KBUF_INIT};
    peer_forward(fw, url("/hang"), kbytes_make(rq.data, rq.len), 0, alive_flag, NULL, on_done, &o);
    ck_assert(wait_until(held_one));
    atomic_store(&client_alive, 0);
    ck_assert(wait_all(&o, 1));
    ck_assert_int_eq(o.status, KAHUNA_ECANCELED);
    ck_assert(wait_until(client_closed_one)); /* the leader saw the connection close */
    /* the forwarder goes on serving */
    peer_forward(fw, url("/ok"), kbytes_make(rq.data, rq.len), 5000, alive_yes, NULL, on_done, &other);
    ck_assert(wait_all(&other, 1));
    assert_answered(&other, kbytes_str("c"), 0);
    kbuf_free(&rq);
    pthread_mutex_lock(&mu);
    ck_assert_int_eq(o.calls, 1);
    pthread_mutex_unlock(&mu);
    outcome_free(&o, 1);
    outcome_free(&other, 1);
}
END_TEST

/* ---- stopping ---- */

#define HELD 5
#define UNSENT 3

static int held_all(void)
{
    return atomic_load(&srv_held) >= HELD;
}

START_TEST(test_forward_stop_answers_every_request_in_flight)
{
    char full[64];
    snprintf(full, sizeof full, "http://127.0.0.1:%d", full_port());
    outcome held[HELD], unsent[UNSENT];
    memset(held, 0, sizeof held);
    memset(unsent, 0, sizeof unsent);
    kbuf rq = proposal(kbytes_str("c"), 0);
    for (int i = 0; i < HELD; i++)
        peer_forward(fw, url("/hang"), kbytes_make(rq.data, rq.len), i ? 0 : 60000, NULL, NULL, on_done, &held[i]);
    for (int i = 0; i < UNSENT; i++)
        peer_forward(fw, full, kbytes_make(rq.data, rq.len), 0, alive_yes, NULL, on_done, &unsent[i]);
    kbuf_free(&rq);
    ck_assert(wait_until(held_all));
    peer_forwarder_stop(fw);
    fw = NULL;
    /* every request was answered before stop returned, exactly once */
    for (int i = 0; i < HELD; i++) {
        ck_assert_int_eq(held[i].calls, 1);
        ck_assert_int_eq(held[i].status, KAHUNA_ETIMEOUT);
    }
    for (int i = 0; i < UNSENT; i++) {
        ck_assert_int_eq(unsent[i].calls, 1);
        ck_assert_int_eq(unsent[i].status, KAHUNA_EUNAVAILABLE);
    }
    outcome_free(held, HELD);
    outcome_free(unsent, UNSENT);
}
END_TEST

typedef struct chain {
    peer_forwarder *f;
    const char *url;
    outcome first, second;
    kbuf rq;
} chain;

/* done of the first request: forwards a second one. */
static void on_done_forward_again(void *arg, int status, kbytes body)
{
    chain *c = arg;
    on_done(&c->first, status, body);
    peer_forward(c->f, c->url, kbytes_make(c->rq.data, c->rq.len), 5000, NULL, NULL, on_done, &c->second);
}

START_TEST(test_forward_done_may_forward_again)
{
    chain c = {.f = fw, .url = url("/ok"), .rq = proposal(kbytes_str("again"), 8)};
    peer_forward(fw, c.url, kbytes_make(c.rq.data, c.rq.len), 5000, NULL, NULL, on_done_forward_again, &c);
    ck_assert(wait_all(&c.second, 1));
    assert_answered(&c.first, kbytes_str("again"), 8);
    assert_answered(&c.second, kbytes_str("again"), 8);
    kbuf_free(&c.rq);
    outcome_free(&c.first, 1);
    outcome_free(&c.second, 1);
}
END_TEST

START_TEST(test_forward_while_stopping_is_shutdown)
{
    chain c = {.f = fw, .url = url("/hang"), .rq = proposal(kbytes_str("c"), 0)};
    peer_forward(fw, c.url, kbytes_make(c.rq.data, c.rq.len), 0, NULL, NULL, on_done_forward_again, &c);
    ck_assert(wait_until(held_one));
    peer_forwarder_stop(fw);
    fw = NULL;
    ck_assert_int_eq(c.first.calls, 1);
    ck_assert_int_eq(c.first.status, KAHUNA_ETIMEOUT);
    ck_assert_int_eq(c.second.calls, 1);
    ck_assert_int_eq(c.second.status, KAHUNA_ESHUTDOWN);
    kbuf_free(&c.rq);
    outcome_free(&c.first, 1);
    outcome_free(&c.second, 1);
}
END_TEST

START_TEST(test_forward_stop_of_an_idle_forwarder_returns)
{
    peer_forwarder *f;
    ck_assert_int_eq(peer_forwarder_start(SECRET, &f), 0);
    peer_forwarder_stop(f);
    peer_forwarder_stop(NULL);
}
END_TEST

/* ---- binding into node_transport ---- */

START_TEST(test_forward_bind_sets_forward_and_keeps_arg)
{
    int transport_obj;
    node_transport t;
    memset(&t, 0, sizeof t);
    t.arg = &transport_obj;
    peer_forwarder_bind(fw, &t);
    ck_assert_ptr_eq(t.arg, &transport_obj);
    ck_assert_ptr_eq(t.forward_arg, fw);
    ck_assert_ptr_nonnull(t.forward);
    ck_assert_ptr_null(t.send);
    kbuf rq = proposal(kbytes_str("via-bind"), 5);
    outcome o = {0, 0, 0, KBUF_INIT};
    t.forward(t.forward_arg, url("/ok"), kbytes_make(rq.data, rq.len), 5000, NULL, NULL, on_done, &o);
    kbuf_free(&rq);
    ck_assert(wait_all(&o, 1));
    assert_answered(&o, kbytes_str("via-bind"), 5);
    outcome_free(&o, 1);
}
END_TEST

static Suite *forward_suite(void)
{
    Suite *s = suite_create("peer_forward");
    TCase *ok = tcase_create("answered");
    tcase_add_checked_fixture(ok, setup, teardown);
    tcase_set_timeout(ok, 120);
    tcase_add_test(ok, test_forward_answer_200_gives_the_leaders_body);
    tcase_add_test(ok, test_forward_url_with_trailing_slash_reaches_the_route);
    tcase_add_test(ok, test_forward_keeps_the_connection_alive_between_requests);
    tcase_add_test(ok, test_forward_200_concurrent_requests_all_complete);
    tcase_add_test(ok, test_forward_without_timeout_waits_for_the_answer);
    tcase_add_test(ok, test_forward_done_may_forward_again);
    tcase_add_test(ok, test_forward_bind_sets_forward_and_keeps_arg);
    suite_add_tcase(s, ok);

    TCase *un = tcase_create("not_sent");
    tcase_add_checked_fixture(un, setup, teardown);
    tcase_set_timeout(un, 120);
    tcase_add_test(un, test_forward_refused_connection_is_unavailable);
    tcase_add_test(un, test_forward_unresolvable_host_is_unavailable);
    tcase_add_test(un, test_forward_no_connection_within_the_timeout_is_unavailable);
    tcase_add_test(un, test_forward_503_and_4xx_from_the_route_are_unavailable);
    tcase_add_test(un, test_forward_wrong_or_missing_secret_is_unavailable);
    tcase_add_test(un, test_forward_secret_with_a_line_break_is_refused);
    suite_add_tcase(s, un);

    TCase *unk = tcase_create("fate_unknown");
    tcase_add_checked_fixture(unk, setup, teardown);
    tcase_set_timeout(unk, 120);
    tcase_add_test(unk, test_forward_timeout_after_sending_is_timeout);
    tcase_add_test(unk, test_forward_connection_closed_without_answer_is_timeout);
    tcase_add_test(unk, test_forward_connection_closed_mid_answer_is_timeout);
    tcase_add_test(unk, test_forward_is_sent_at_most_once);
    tcase_add_test(unk, test_forward_other_statuses_are_timeout);
    suite_add_tcase(s, unk);

    TCase *life = tcase_create("lifecycle");
    tcase_add_checked_fixture(life, setup, teardown);
    tcase_set_timeout(life, 120);
    tcase_add_test(life, test_forward_alive_zero_cancels_and_closes_the_connection);
    tcase_add_test(life, test_forward_stop_answers_every_request_in_flight);
    tcase_add_test(life, test_forward_while_stopping_is_shutdown);
    tcase_add_test(life, test_forward_stop_of_an_idle_forwarder_returns);
    suite_add_tcase(s, life);
    return s;
}

int main(void)
{
    if (httpc_global_init() != 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(forward_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
