/* test_resp_server.c: the RESP server in-process: a real node on a
 * temporary data dir, the listener on a free loopback port, and clients
 * that write raw bytes and check the exact bytes that come back. These are
 * the rules that need control over how bytes arrive: pipelining order,
 * half frames, clients that never read, protocol errors, AUTH. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "node.h"
#include "resp/resp.h"

static char dir[64];
static node *nd;
static resp_server *srv;
static int port;

static void start(const char *pass, int max_clients)
{
    snprintf(dir, sizeof dir, "/tmp/kahuna-resp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    node_config cfg = {.node_id = "n1", .data_dir = dir, .history_keep = 16};
    ck_assert_int_eq(node_start(&cfg, &nd), 0);
    /* wait until the single node leads */
    int64_t deadline = clock_mono_ms() + 10000;
    while (!node_ready(nd) && clock_mono_ms() < deadline)
        usleep(10000);
    ck_assert(node_ready(nd));
    resp_options o = {"127.0.0.1", 0, pass, "n1", max_clients};
    const char *err = NULL;
    ck_assert_int_eq(resp_server_start(&o, nd, &srv, &err), 0);
    port = resp_server_port(srv);
    ck_assert_int_gt(port, 0);
}

static void setup(void)
{
    start(NULL, 0);
}

static void setup_auth(void)
{
    start("s3cret", 0);
}

static void setup_few(void)
{
    start(NULL, 2);
}

static void teardown(void)
{
    resp_server_quiesce(srv);
    node_stop(nd);
    resp_server_stop(srv);
    node_free(nd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        c += w;
        n -= (size_t)w;
    }
}

static void sends(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Reads exactly n bytes (5 s deadline); returns how many arrived. */
static size_t read_n(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (got < n) {
        int left = (int)(deadline - clock_mono_ms());
        if (left <= 0)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, left) <= 0)
            break;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void expect_bytes(int fd, const char *want, size_t n)
{
    char *buf = malloc(n + 1);
    size_t got = read_n(fd, buf, n, 5000);
    buf[got] = '\0';
    ck_assert_msg(got == n && memcmp(buf, want, n) == 0, "got [%s] want [%.*s]", buf, (int)n, want);
    free(buf);
}
#define EXPECT(fd, s) expect_bytes(fd, s, sizeof(s) - 1)

/* 1 when nothing arrives within ms (the reply is held back). */
static int silent_for(int fd, int ms)
{
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, ms) == 0;
}

/* 1 when the server closed the connection (after what was read). */
static int closed_by_server(int fd)
{
    char c;
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 5000) <= 0)
        return 0;
    return recv(fd, &c, 1, 0) == 0;
}

START_TEST(test_resp_ping_echo_and_inline_commands)
{
    int fd = dial();
    sends(fd, "*1\r\n$4\r\nPING\r\n");
    EXPECT(fd, "+PONG\r\n");
    sends(fd, "PING\r\nECHO \"a b\"\r\n");
    EXPECT(fd, "+PONG\r\n$3\r\na b\r\n");
    close(fd);
}
END_TEST

START_TEST(test_resp_pipelined_replies_keep_request_order)
{
    int fd = dial();
    /* writes, reads and local commands interleaved in one send */
    sends(fd, "SET a 1\r\nGET a\r\nPING\r\nSET a 2\r\nSET b x\r\nGET a\r\nECHO e\r\nDEL a b nope\r\n"
              "GET a\r\nSEQ.NEXT s\r\nSEQ.NEXT s\r\nEXISTS a b\r\n");
    EXPECT(fd, "+OK\r\n$1\r\n1\r\n+PONG\r\n+OK\r\n+OK\r\n$1\r\n2\r\n$1\r\ne\r\n:2\r\n$-1\r\n:1\r\n:2\r\n:0\r\n");
    close(fd);
}
END_TEST

START_TEST(test_resp_many_pipelined_writes_then_reads)
{
    int fd = dial();
    char *req = malloc(200 * 64), *want = malloc(200 * 64);
    size_t rn = 0, wn = 0;
    for (int i = 0; i < 100; i++) {
        rn += (size_t)sprintf(req + rn, "SET k%d v%d\r\n", i, i);
        wn += (size_t)sprintf(want + wn, "+OK\r\n");
    }
    for (int i = 0; i < 100; i++) {
        char v[16];
        int vl = sprintf(v, "v%d", i);
        rn += (size_t)sprintf(req + rn, "GET k%d\r\n", i);
        wn += (size_t)sprintf(want + wn, "$%d\r\n%s\r\n", vl, v);
    }
    send_all(fd, req, rn);
    expect_bytes(fd, want, wn);
    free(req);
    free(want);
    close(fd);
}
END_TEST

/* Reads of one key, many in one pipeline, interleaved with writes of it
 * and from other clients: each read sees every write answered before it
 * (the memo of a read snapshot never outlives the snapshot). */
START_TEST(test_resp_pipelined_reads_of_one_key_see_each_write_before_them)
{
    int fd = dial(), other = dial();
    char *req = malloc(300 * 40), *want = malloc(300 * 40);
    ck_assert_ptr_nonnull(req);
    ck_assert_ptr_nonnull(want);
    for (int round = 0; round < 20; round++) {
        size_t rn = 0, wn = 0;
        for (int i = 0; i < 10; i++) {
            rn += (size_t)sprintf(req + rn, "GET hot\r\n");
            if (round == 0)
                wn += (size_t)sprintf(want + wn, "$-1\r\n");
            else
                wn += (size_t)sprintf(want + wn, "$%d\r\nw%03d\r\n", 4, round - 1);
        }
        rn += (size_t)sprintf(req + rn, "GET cold\r\nSET hot v%03d\r\nGET hot\r\nGET hot\r\n", round);
        wn += (size_t)sprintf(want + wn, "$-1\r\n+OK\r\n$4\r\nv%03d\r\n$4\r\nv%03d\r\n", round, round);
        send_all(fd, req, rn);
        expect_bytes(fd, want, wn);
        /* another client changes the key between two pipelines */
        char set[64], ok[] = "+OK\r\n";
        int sl = sprintf(set, "SET hot w%03d\r\n", round);
        send_all(other, set, (size_t)sl);
        expect_bytes(other, ok, strlen(ok));
    }
    free(req);
    free(want);
    close(other);
    close(fd);
}
END_TEST

START_TEST(test_resp_half_a_frame_waits_and_others_are_served)
{
    int a = dial(), b = dial();
    sends(a, "*3\r\n$3\r\nSET\r\n$1\r\nh\r\n$5\r\nhel");
    ck_assert(silent_for(a, 100));
    sends(b, "PING\r\n");
    EXPECT(b, "+PONG\r\n");
    sends(a, "lo\r\n");
    EXPECT(a, "+OK\r\n");
    sends(b, "GET h\r\n");
    EXPECT(b, "$5\r\nhello\r\n");
    close(a);
    close(b);
}
END_TEST

START_TEST(test_resp_protocol_error_answers_then_closes)
{
    int fd = dial();
    sends(fd, "PING\r\n*1\r\n$-5\r\n");
    EXPECT(fd, "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
    ck_assert(closed_by_server(fd));
    close(fd);
}
END_TEST

START_TEST(test_resp_oversized_bulk_is_refused)
{
    int fd = dial();
    sends(fd, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    EXPECT(fd, "-ERR Protocol error: invalid bulk length\r\n");
    ck_assert(closed_by_server(fd));
    close(fd);
}
END_TEST

START_TEST(test_resp_value_over_the_limit_is_an_error)
{
    int fd = dial();
    size_t n = 1024 * 1024 + 1;
    char *v = malloc(n);
    memset(v, 'x', n);
    char hdr[64];
    int hl = sprintf(hdr, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", n);
    send_all(fd, hdr, (size_t)hl);
    send_all(fd, v, n);
    sends(fd, "\r\nPING\r\n");
    EXPECT(fd, "-ERR string exceeds maximum allowed size (1048576 bytes)\r\n+PONG\r\n");
    free(v);
    close(fd);
}
END_TEST

START_TEST(test_resp_quit_answers_ok_then_closes)
{
    int fd = dial();
    sends(fd, "QUIT\r\nPING\r\n");
    EXPECT(fd, "+OK\r\n");
    ck_assert(closed_by_server(fd));
    close(fd);
}
END_TEST

START_TEST(test_resp_unknown_and_arity_errors)
{
    int fd = dial();
    sends(fd, "FOO a b\r\nGET\r\nSET a\r\nCLIENT NOPE\r\nSELECT 1\r\nSELECT x\r\nSELECT 0\r\n");
    EXPECT(fd, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
               "-ERR wrong number of arguments for 'get' command\r\n"
               "-ERR wrong number of arguments for 'set' command\r\n"
               "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"
               "-ERR DB index is out of range\r\n"
               "-ERR invalid DB index\r\n"
               "+OK\r\n");
    close(fd);
}
END_TEST

START_TEST(test_resp_hello_3_switches_to_resp3)
{
    int fd = dial();
    sends(fd, "GET nope\r\nHELLO 4\r\n");
    EXPECT(fd, "$-1\r\n-NOPROTO unsupported protocol version\r\n");
    sends(fd, "HELLO 3\r\n");
    char buf[512];
    size_t got = read_n(fd, buf, 3, 5000);
    ck_assert_uint_eq(got, 3);
    ck_assert(memcmp(buf, "%7\r", 3) == 0);
    /* drain the rest of the map */
    while (!silent_for(fd, 100))
        ck_assert_int_gt(recv(fd, buf, sizeof buf, 0), 0);
    sends(fd, "GET nope\r\nLOCK.INFO nope\r\n");
    EXPECT(fd, "_\r\n_\r\n");
    close(fd);
}
END_TEST

START_TEST(test_resp_commands_need_auth_when_a_password_is_set)
{
    int fd = dial();
    sends(fd, "GET a\r\nAUTH wrong\r\nAUTH other s3cret\r\nHELLO 3\r\n");
    EXPECT(fd, "-NOAUTH Authentication required.\r\n"
               "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
               "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    char buf[64];
    ck_assert_uint_eq(read_n(fd, buf, 12, 5000), 12);
    ck_assert(memcmp(buf, "-NOAUTH HELL", 12) == 0);
    while (!silent_for(fd, 100))
        ck_assert_int_gt(recv(fd, buf, sizeof buf, 0), 0);
    sends(fd, "AUTH s3cret\r\nSET a 1\r\nGET a\r\n");
    EXPECT(fd, "+OK\r\n+OK\r\n$1\r\n1\r\n");
    int b = dial();
    sends(b, "AUTH default s3cret\r\nPING\r\n");
    EXPECT(b, "+OK\r\n+PONG\r\n");
    close(b);
    close(fd);
}
END_TEST

#define NOAUTH_HELLO                                                                                   \
    "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> " \
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "   \
    "version at the same time\r\n"

/* Redis 7: HELLO may be sent before AUTH, but only its AUTH option makes it
 * succeed; HELLO's own argument errors come before -WRONGPASS and -NOAUTH,
 * and an unauthenticated HELLO changes neither the protocol nor the name. */
START_TEST(test_resp_hello_without_auth_answers_noauth_and_changes_nothing)
{
    int fd = dial();
    sends(fd, "HELLO\r\nHELLO 3\r\nHELLO 3 SETNAME w1\r\nHELLO 4\r\nHELLO 3 FOO\r\n"
              "HELLO 3 SETNAME \"a b\"\r\nHELLO 3 AUTH default nope SETNAME \"a b\"\r\n"
              "HELLO 3 AUTH default nope\r\nGET a\r\n");
    EXPECT(fd, NOAUTH_HELLO NOAUTH_HELLO NOAUTH_HELLO "-NOPROTO unsupported protocol version\r\n"
               "-ERR Syntax error in HELLO option 'FOO'\r\n"
               "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
               "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
               "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
               "-NOAUTH Authentication required.\r\n");
    /* still RESP2 and nameless once authenticated */
    sends(fd, "AUTH s3cret\r\nCLIENT GETNAME\r\nGET nope\r\n");
    EXPECT(fd, "+OK\r\n$-1\r\n$-1\r\n");
    close(fd);
}
END_TEST

START_TEST(test_resp_unauthenticated_clients_cannot_send_big_frames)
{
    int fd = dial();
    sends(fd, "*20\r\n");
    EXPECT(fd, "-ERR Protocol error: unauthenticated multibulk length\r\n");
    ck_assert(closed_by_server(fd));
    close(fd);
}
END_TEST

START_TEST(test_resp_too_many_clients_are_refused)
{
    int a = dial(), b = dial();
    sends(a, "PING\r\n");
    EXPECT(a, "+PONG\r\n");
    sends(b, "PING\r\n");
    EXPECT(b, "+PONG\r\n");
    int c = dial();
    EXPECT(c, "-ERR max number of clients reached\r\n");
    ck_assert(closed_by_server(c));
    close(c);
    close(a);
    close(b);
}
END_TEST

/* Parses "omem=N" of the client with the given id out of CLIENT LIST. */
static long long client_omem(int fd, long long id)
{
    char buf[65536];
    sends(fd, "CLIENT LIST\r\n");
    size_t got = 0;
    while (!silent_for(fd, 200) && got < sizeof buf - 1) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    char key[32];
    snprintf(key, sizeof key, "id=%lld ", id);
    char *line = strstr(buf, key);
    ck_assert_ptr_nonnull(line);
    char *om = strstr(line, " omem=");
    ck_assert_ptr_nonnull(om);
    return atoll(om + 6);
}

START_TEST(test_resp_client_that_never_reads_has_bounded_replies)
{
    int w = dial(), r = dial();
    /* a 256 KiB value, then thousands of GETs nobody reads */
    size_t vn = 256 * 1024;
    char *v = malloc(vn);
    memset(v, 'v', vn);
    char hdr[64];
    int hl = sprintf(hdr, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%zu\r\n", vn);
    send_all(w, hdr, (size_t)hl);
    send_all(w, v, vn);
    sends(w, "\r\n");
    EXPECT(w, "+OK\r\n");
    int rcvbuf = 4096;
    ck_assert_int_eq(setsockopt(r, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    sends(r, "CLIENT ID\r\n");
    char idb[32];
    size_t n = read_n(r, idb, 4, 5000);
    ck_assert_uint_eq(n, 4);
    while (idb[n - 1] != '\n')
        ck_assert_uint_eq(read_n(r, idb + n++, 1, 5000), 1);
    long long id = atoll(idb + 1);
    /* the writes block once the server stops reading: send from a nonblocking loop */
    int sent = 0;
    int64_t deadline = clock_mono_ms() + 3000;
    while (clock_mono_ms() < deadline) {
        ssize_t s = send(r, "GET big\r\n", 9, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (s < 0) {
            ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
            usleep(20000);
            continue;
        }
        sent++;
    }
    ck_assert_int_gt(sent, 10); /* 10 replies are 2.5 MiB */
    long long omem = client_omem(w, id);
    /* about RESP_OUT_SOFT plus one command's reply, not `sent` of them */
    ck_assert_msg(omem <= 2 * 1024 * 1024, "omem %lld after %d GETs", omem, sent);
    sends(w, "PING\r\n");
    EXPECT(w, "+PONG\r\n");
    free(v);
    close(r);
    close(w);
}
END_TEST

START_TEST(test_resp_lock_waiter_is_granted_on_release)
{
    int a = dial(), b = dial();
    sends(a, "LOCK.ACQUIRE L alice 30000\r\n");
    char buf[64];
    size_t n = read_n(a, buf, 1, 5000);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(buf[0], ':');
    while (!silent_for(a, 50))
        ck_assert_int_gt(recv(a, buf, sizeof buf, 0), 0);
    sends(b, "LOCK.ACQUIRE L bob 30000 WAIT 10000\r\nPING\r\n");
    ck_assert(silent_for(b, 200));
    sends(a, "LOCK.RELEASE L bob\r\nLOCK.RELEASE L alice\r\n");
    EXPECT(a, ":0\r\n:1\r\n");
    n = read_n(b, buf, 1, 5000);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(buf[0], ':');
    while (buf[n - 1] != '\n')
        ck_assert_uint_eq(read_n(b, buf + n++, 1, 5000), 1);
    EXPECT(b, "+PONG\r\n");
    sends(a, "LOCK.ACQUIRE L carol 1000\r\n");
    EXPECT(a, "$-1\r\n");
    close(a);
    close(b);
}
END_TEST

START_TEST(test_resp_stop_with_clients_connected)
{
    int fd = dial();
    sends(fd, "SET a 1\r\n");
    EXPECT(fd, "+OK\r\n");
    /* teardown stops the server with this client still connected */
    (void)fd;
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resp_server");
    TCase *t = tcase_create("server");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_resp_ping_echo_and_inline_commands);
    tcase_add_test(t, test_resp_pipelined_replies_keep_request_order);
    tcase_add_test(t, test_resp_many_pipelined_writes_then_reads);
    tcase_add_test(t, test_resp_pipelined_reads_of_one_key_see_each_write_before_them);
    tcase_add_test(t, test_resp_half_a_frame_waits_and_others_are_served);
    tcase_add_test(t, test_resp_protocol_error_answers_then_closes);
    tcase_add_test(t, test_resp_oversized_bulk_is_refused);
    tcase_add_test(t, test_resp_value_over_the_limit_is_an_error);
    tcase_add_test(t, test_resp_quit_answers_ok_then_closes);
    tcase_add_test(t, test_resp_unknown_and_arity_errors);
    tcase_add_test(t, test_resp_hello_3_switches_to_resp3);
    tcase_add_test(t, test_resp_client_that_never_reads_has_bounded_replies);
    tcase_add_test(t, test_resp_lock_waiter_is_granted_on_release);
    tcase_add_test(t, test_resp_stop_with_clients_connected);
    suite_add_tcase(s, t);
    TCase *a = tcase_create("auth");
    tcase_add_checked_fixture(a, setup_auth, teardown);
    tcase_set_timeout(a, 60);
    tcase_add_test(a, test_resp_commands_need_auth_when_a_password_is_set);
    tcase_add_test(a, test_resp_unauthenticated_clients_cannot_send_big_frames);
    tcase_add_test(a, test_resp_hello_without_auth_answers_noauth_and_changes_nothing);
    suite_add_tcase(s, a);
    TCase *f = tcase_create("limits");
    tcase_add_checked_fixture(f, setup_few, teardown);
    tcase_set_timeout(f, 60);
    tcase_add_test(f, test_resp_too_many_clients_are_refused);
    suite_add_tcase(s, f);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
