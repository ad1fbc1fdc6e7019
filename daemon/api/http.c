/* http.c: the HTTP server of a node: libmicrohttpd set-up, the life of a
 * request (body, decoding, waiting for the node, answer), and metrics.
 *
 * Threads. libmicrohttpd runs a pool of worker threads, each with its own
 * epoll loop (poll where epoll is missing). A handler never blocks: a
 * request that waits for the node (a write through node_propose, a lock
 * acquire that may wait, the read barrier of a linearizable read) is
 * suspended and resumed from the node's callback; libmicrohttpd then calls
 * the handler again, which answers. Reads run on the worker thread with
 * that thread's own state reader.
 *
 * Suspend and resume race: the node may answer on its own thread at any
 * moment after the call, even before the handler has suspended, and
 * MHD_resume_connection must never run before MHD_suspend_connection. Each
 * request therefore goes through an atomic state:
 *
 *   CALLING    the handler is inside node_*()
 *   SUSPENDING the handler is inside MHD_suspend_connection()
 *   SUSPENDED  suspended; whoever moves the state to DONE resumes
 *   DONE       the node has answered (result stored)
 *
 * The callback stores the result and swaps in DONE; if it finds SUSPENDED
 * it resumes. The handler, after the node call, moves CALLING->SUSPENDING
 * (if that fails the answer came synchronously: answer now, no suspend),
 * suspends, then moves SUSPENDING->SUSPENDED; if that fails the callback
 * came meanwhile, and the handler resumes the connection itself.
 *
 * Memory. Each connection has one context (allocated when it opens, freed
 * when it closes) whose buffers (body, decoded request, response) are
 * reused by all its requests; a response points into the context's buffer
 * (no copy), which stays untouched until the request completes.
 *
 * Peer routes. A path under /raft/ is a peer request (api/peer.h): its
 * secret, method, route and announced length are checked before the body
 * is read, its body limit is API_PEER_MAX_BODY, it is not counted in the
 * REST metrics, and its answers carry no X-Kahuna-* headers. A forwarded
 * request waits for the node exactly like a REST write. A snapshot's done
 * request (fsync and a full check of the file: seconds for a big state)
 * runs on a thread of its own while its connection is suspended, so that
 * it never stalls the worker's other connections; api_server_stop waits
 * for those threads. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "api/cluster.h"
#include "api/peer.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

/* Per-connection memory for the request line, headers and read buffer:
 * room for a 4096-byte key fully percent-encoded (12 KiB) plus headers.
 * libmicrohttpd zeroes this whole pool between two requests of a
 * keep-alive connection, so it is kept small: it is a per-request cost. */
#define CONN_MEMORY_LIMIT (24 * 1024)
/* Idle keep-alive connections are closed after this many seconds. */
#define CONN_IDLE_TIMEOUT 300
/* Buffers above this size are freed after a request, not kept. */
#define KEEP_BUFFER_MAX (64 * 1024)

enum { WAIT_IDLE = 0, WAIT_CALLING, WAIT_SUSPENDING, WAIT_SUSPENDED, WAIT_DONE };

struct api_server {
    struct MHD_Daemon *d;
    api_env env;
    char *node_id;
    char *self_url;
    char *peer_secret;        /* NULL: /raft/ refused */
    pthread_mutex_t bg_mu;    /* snapshot done threads running */
    pthread_cond_t bg_cv;
    int bg_running;
    int listen_fd;            /* closed by MHD_stop_daemon unless quiesced */
    int quiesced;
};

typedef struct conn {
    api_server *srv;
    struct MHD_Connection *mc;
    int fd;                   /* the client socket, for the alive probe */

    /* the request in progress */
    int started;
    int decoded;
    int too_large;
    int body_oom;
    int64_t t0_us;
    req_route route;
    req_method method;
    int http_status;          /* of the answer, for metrics (0: none) */
    kbuf body;
    req rq;
    req_arg *args;
    size_t nargs, cap_args;

    /* waiting for the node */
    _Atomic int wait;
    int read_status;          /* read barrier outcome */
    fsm_result res;           /* apply outcome; res.owner points into owner (never freed) */
    kbuf owner;               /* (peer forward: the admin op's id and URL) */

    kbuf out;                 /* response body */

    /* peer routes */
    api_peer_route peer;      /* API_PEER_NONE for a REST request */
    int peer_refused;         /* answered before the body was read */
    int peer_status;          /* forward: 0, or why its answer did not encode */
    int peer_http;            /* snapshot done: the HTTP status of the answer in out */
    char client[INET6_ADDRSTRLEN + 16];
} conn;

/* ---- connection contexts ---- */

static conn *conn_new(api_server *s, struct MHD_Connection *mc)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = s;
    c->mc = mc;
    c->fd = -1;
    req_init(&c->rq);
    atomic_init(&c->wait, WAIT_IDLE);
    return c;
}

static void shrink(kbuf *b)
{
    if (b->cap > KEEP_BUFFER_MAX)
        kbuf_free(b);
    else
        kbuf_reset(b);
}

/* Forgets the request, keeping (small) buffers for the next one. */
static void conn_reset(conn *c)
{
    c->started = 0;
    c->decoded = 0;
    c->too_large = 0;
    c->body_oom = 0;
    c->http_status = 0;
    c->nargs = 0;
    req_reset(&c->rq);
    shrink(&c->body);
    shrink(&c->out);
    kbuf_reset(&c->owner);
    memset(&c->res, 0, sizeof c->res);
    c->read_status = 0;
    c->peer = API_PEER_NONE;
    c->peer_refused = 0;
    c->peer_status = 0;
    c->peer_http = 0;
    atomic_store(&c->wait, WAIT_IDLE);
}

static void conn_free(conn *c)
{
    if (!c)
        return;
    req_free(&c->rq);
    kbuf_free(&c->body);
    kbuf_free(&c->out);
    kbuf_free(&c->owner);
    free(c->args);
    free(c);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = conn_new(cls, mc);
        if (!*socket_context)
            log_warn("http", "out of memory for a new connection: it will be refused");
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_free(*socket_context);
        *socket_context = NULL;
    }
}

static conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- answering ---- */

static int add_int_header(struct MHD_Response *r, const char *name, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return MHD_add_response_header(r, name, num) == MHD_YES;
}

static enum MHD_Result send_reply(conn *c, const api_reply *rp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(c->out.len, c->out.data, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        log_warn("http", "cannot create a response (out of memory): closing the connection");
        return MHD_NO;
    }
    node_status st;
    node_get_status(c->srv->env.n, &st);
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type) == MHD_YES;
    if (ok && st.leader_id[0])
        ok = MHD_add_response_header(r, "X-Kahuna-Leader", st.leader_id) == MHD_YES;
    if (ok && rp->allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rp->allow) == MHD_YES;
    if (ok && rp->retry_after > 0)
        ok = add_int_header(r, MHD_HTTP_HEADER_RETRY_AFTER, rp->retry_after);
    if (ok && rp->raw_headers) {
        ok = add_int_header(r, "X-Kahuna-Revision", rp->revision) &&
             add_int_header(r, "X-Kahuna-Create-Revision", rp->create_revision) &&
             add_int_header(r, "X-Kahuna-Version", rp->version) &&
             (rp->ttl_ms <= 0 || add_int_header(r, "X-Kahuna-Ttl-Ms", rp->ttl_ms));
    }
    enum MHD_Result ret = MHD_NO;
    if (ok)
        ret = MHD_queue_response(c->mc, (unsigned)rp->http_status, r);
    else
        log_warn("http", "cannot add response headers (out of memory): closing the connection");
    MHD_destroy_response(r);
    c->http_status = rp->http_status;
    return ret;
}

static void reply_init(conn *c, api_reply *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->body = &c->out;
    rp->http_status = 500;
    rp->content_type = API_JSON;
}

/* The answer to a peer request: no X-Kahuna-* headers; 204 has no body. */
static enum MHD_Result send_peer_reply(conn *c, const api_reply *rp)
{
    size_t len = rp->http_status == 204 ? 0 : c->out.len;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, c->out.data, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        log_warn("http", "cannot create a response (out of memory): closing the connection");
        return MHD_NO;
    }
    int ok = 1;
    if (len)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type) == MHD_YES;
    if (ok && rp->allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rp->allow) == MHD_YES;
    enum MHD_Result ret = MHD_NO;
    if (ok)
        ret = MHD_queue_response(c->mc, (unsigned)rp->http_status, r);
    else
        log_warn("http", "cannot add response headers (out of memory): closing the connection");
    MHD_destroy_response(r);
    c->http_status = rp->http_status;
    return ret;
}

/* The answer to a forwarded request or a snapshot's done whose work is done. */
static enum MHD_Result peer_answer(conn *c)
{
    if (c->peer == API_PEER_SNAPSHOT_DONE) {
        api_reply rp;
        reply_init(c, &rp);
        rp.http_status = c->peer_http;
        return send_peer_reply(c, &rp);
    }
    if (c->res.status == KAHUNA_ECANCELED) {
        /* the forwarding node went away: nobody to answer */
        c->http_status = 499;
        return MHD_NO;
    }
    api_reply rp;
    reply_init(c, &rp);
    if (c->peer_status) {
        api_peer_error(&rp, 500, "internal", "cannot encode the answer to a forwarded request");
    } else {
        rp.http_status = 200;
        rp.content_type = API_OCTETS;
    }
    return send_peer_reply(c, &rp);
}

static enum MHD_Result send_error(conn *c, int status, const char *message)
{
    api_reply rp;
    reply_init(c, &rp);
    api_reply_error(&rp, status, message);
    return send_reply(c, &rp);
}

/* The answer to a decoded request whose node work (if any) is done. */
static enum MHD_Result answer(conn *c)
{
    if (c->peer != API_PEER_NONE)
        return peer_answer(c);
    const req *rq = &c->rq;
    const api_env *env = &c->srv->env;
    api_reply rp;
    reply_init(c, &rp);

    if (req_op_is_write(rq->op)) {
        if (c->res.status == KAHUNA_ECANCELED) {
            /* a lock waiter whose client went away: nobody to answer */
            c->http_status = 499;
            return MHD_NO;
        }
        switch (rq->op) {
        case REQ_OP_KV_PUT:
        case REQ_OP_KV_DELETE:
        case REQ_OP_KV_SET_TTL:
            api_kv_written(rq, &c->res, &rp);
            break;
        case REQ_OP_SEQ_NEXT:
        case REQ_OP_SEQ_SET:
        case REQ_OP_SEQ_DELETE:
            api_seq_written(rq, &c->res, &rp);
            break;
        default:
            api_lock_written(rq, &c->res, &rp);
        }
        return send_reply(c, &rp);
    }
    if (req_op_is_data_read(rq->op)) {
        if (c->read_status) {
            api_reply_error(&rp, c->read_status, NULL);
            return send_reply(c, &rp);
        }
        switch (rq->op) {
        case REQ_OP_KV_GET:
        case REQ_OP_KV_HISTORY:
        case REQ_OP_KV_LIST:
            api_kv_read(env, rq, &rp);
            break;
        case REQ_OP_LOCK_GET:
        case REQ_OP_LOCK_LIST:
            api_lock_read(env, rq, &rp);
            break;
        default:
            api_seq_read(env, rq, &rp);
        }
        return send_reply(c, &rp);
    }
    if (api_cluster_is_admin(rq->op)) {
        api_cluster_admin_reply(env, rq, c->read_status, &rp);
        return send_reply(c, &rp);
    }
    api_cluster_serve(env, rq, &rp);
    return send_reply(c, &rp);
}

/* ---- waiting for the node ---- */

static void wake(conn *c)
{
    struct MHD_Connection *mc = c->mc;
    if (atomic_exchange(&c->wait, WAIT_DONE) == WAIT_SUSPENDED)
        MHD_resume_connection(mc);
    /* otherwise the handler is still in the node call or suspending, and
     * sees DONE itself; c must not be touched after the exchange */
}

static void on_applied(void *arg, const fsm_result *res)
{
    conn *c = arg;
    c->res = *res;
    c->res.owner = NULL;
    if (res->owner) {
        kbuf_reset(&c->owner);
        if (kbuf_append_str(&c->owner, res->owner) == 0)
            c->res.owner = (char *)c->owner.data;
    }
    wake(c);
}

static void on_read_barrier(void *arg, int status)
{
    conn *c = arg;
    c->read_status = status;
    wake(c);
}

static void on_admin_done(void *arg, int status)
{
    conn *c = arg;
    c->read_status = status;
    wake(c);
}

/* A forwarded proposal's result: encoded here, while res is valid. */
static void on_forwarded(void *arg, const fsm_result *res)
{
    conn *c = arg;
    c->peer_status = api_peer_forward_encode(res, &c->out);
    c->res.status = res->status;
    wake(c);
}

static void on_forwarded_admin(void *arg, int status)
{
    conn *c = arg;
    fsm_result res;
    memset(&res, 0, sizeof res);
    res.status = status;
    c->peer_status = api_peer_forward_encode(&res, &c->out);
    c->res.status = status;
    wake(c);
}

/* Called right after the node call: suspends unless the answer is in. */
static enum MHD_Result wait_or_answer(conn *c)
{
    int expect = WAIT_CALLING;
    if (!atomic_compare_exchange_strong(&c->wait, &expect, WAIT_SUSPENDING))
        return answer(c);                     /* answered synchronously */
    MHD_suspend_connection(c->mc);
    expect = WAIT_SUSPENDING;
    if (!atomic_compare_exchange_strong(&c->wait, &expect, WAIT_SUSPENDED))
        MHD_resume_connection(c->mc);         /* answered while suspending */
    return MHD_YES;
}

/* Alive probe of a lock waiter, from the node thread: 0 once the client
 * has closed its end (or the socket failed). */
static int conn_alive(void *arg)
{
    conn *c = arg;
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    if (c->fd < 0)
        return 1;
    int n = poll(&p, 1, 0);
    if (n <= 0)
        return 1;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return 0;
    char b;
    ssize_t got = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0)
        return 0;
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return 0;
    return 1;
}

static enum MHD_Result dispatch(conn *c)
{
    req *rq = &c->rq;
    node *n = c->srv->env.n;

    if (rq->op == REQ_OP_NONE) {
        api_reply rp;
        reply_init(c, &rp);
        api_reply_error(&rp, rq->status, rq->message);
        rp.http_status = rq->http_status;
        rp.allow = rq->allow;
        return send_reply(c, &rp);
    }
    if (req_op_is_write(rq->op)) {
        if (rq->cmd.type == CMD_SEQ_NEXT)
            rq->cmd.now_ms = clock_wall_ms();
        atomic_store(&c->wait, WAIT_CALLING);
        if (rq->op == REQ_OP_LOCK_ACQUIRE && rq->wait_ms > 0) {
            const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
            c->fd = ci ? ci->connect_fd : -1;
            node_lock_acquire(n, &rq->cmd, rq->wait_ms, conn_alive, on_applied, c);
        } else {
            node_propose(n, &rq->cmd, on_applied, c);
        }
        return wait_or_answer(c);
    }
    if (api_cluster_is_admin(rq->op)) {
        api_reply rp;
        reply_init(c, &rp);
        atomic_store(&c->wait, WAIT_CALLING);
        if (api_cluster_admin_start(&c->srv->env, rq, &rp, on_admin_done, c) != 0) {
            atomic_store(&c->wait, WAIT_IDLE);
            return send_reply(c, &rp);        /* refused (bad id or URL): done never runs */
        }
        return wait_or_answer(c);
    }
    if (req_op_is_data_read(rq->op) && !rq->stale) {
        atomic_store(&c->wait, WAIT_CALLING);
        node_read_barrier(n, on_read_barrier, c);
        return wait_or_answer(c);
    }
    return answer(c);
}

/* ---- the handler ---- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    conn *c = cls;
    (void)kind;
    if (c->nargs == c->cap_args) {
        size_t cap = c->cap_args ? c->cap_args * 2 : 8;
        req_arg *a = realloc(c->args, cap * sizeof *a);
        if (!a)
            return MHD_NO;
        c->args = a;
        c->cap_args = cap;
    }
    req_arg *a = &c->args[c->nargs++];
    a->name = key;
    a->name_len = key_size;
    a->value = value;
    a->value_len = value ? value_size : 0;
    return MHD_YES;
}

static enum MHD_Result decode(conn *c, const char *url, const char *method)
{
    c->nargs = 0;
    int total = MHD_get_connection_values_n(c->mc, MHD_GET_ARGUMENT_KIND, collect_arg, c);
    if (total < 0 || (size_t)total != c->nargs)
        return send_error(c, KAHUNA_ENOMEM, NULL);
    const char *ct = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    req_input in = {
        .method = kbytes_str(method),
        .path = kbytes_str(url),
        .args = c->args,
        .nargs = c->nargs,
        .content_type = kbytes_str(ct),
        .body = kbytes_make(c->body.data, c->body.len),
    };
    req_decode(&in, &c->rq);
    c->decoded = 1;
    c->route = c->rq.route;
    return dispatch(c);
}

static int content_length_over(struct MHD_Connection *mc, size_t limit)
{
    const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    unsigned long long v = 0;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;             /* libmicrohttpd refuses it itself */
        if (v > limit)
            return 1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    return v > limit;
}

/* ---- peer routes ---- */

/* "HOST:PORT" of the client, for log lines. */
static void client_addr(conn *c, char *buf, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN + 1], port[8];
    snprintf(buf, cap, "an unknown address");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(buf, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* First call of a peer request: the checks made before its body is read. */
static enum MHD_Result peer_begin(conn *c, const char *method)
{
    const char *given = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, API_PEER_SECRET_HEADER);
    char client[INET6_ADDRSTRLEN + 16];
    client_addr(c, client, sizeof client);
    api_reply rp;
    reply_init(c, &rp);
    if (!api_peer_admit(c->srv->peer_secret, given, kbytes_str(method), c->peer,
                        content_length_over(c->mc, API_PEER_MAX_BODY), client, &rp))
        return MHD_YES;
    c->peer_refused = 1;
    return send_peer_reply(c, &rp);
}

/* A snapshot's done request, on its own thread (see the top comment). */
static void *peer_done_main(void *arg)
{
    conn *c = arg;
    api_server *s = c->srv;
    api_reply rp;
    reply_init(c, &rp);
    api_peer_serve(s->env.n, c->peer, c->args, c->nargs, kbytes_make(c->body.data, c->body.len), c->client,
                   &rp);
    c->peer_http = rp.http_status;
    wake(c);                  /* c must not be touched after this */
    pthread_mutex_lock(&s->bg_mu);
    s->bg_running--;
    pthread_cond_broadcast(&s->bg_cv);
    pthread_mutex_unlock(&s->bg_mu);
    return NULL;
}

/* Starts peer_done_main; 0, or -1 when no thread could be started. */
static int peer_done_start(conn *c)
{
    api_server *s = c->srv;
    pthread_attr_t attr;
    pthread_t th;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->bg_mu);
    s->bg_running++;
    pthread_mutex_unlock(&s->bg_mu);
    atomic_store(&c->wait, WAIT_CALLING);
    int rc = pthread_create(&th, &attr, peer_done_main, c);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return 0;
    atomic_store(&c->wait, WAIT_IDLE);
    pthread_mutex_lock(&s->bg_mu);
    s->bg_running--;
    pthread_mutex_unlock(&s->bg_mu);
    return -1;
}

/* Last call of a peer request: the body is in. */
static enum MHD_Result peer_dispatch(conn *c)
{
    node *n = c->srv->env.n;
    kbytes body = kbytes_make(c->body.data, c->body.len);
    api_reply rp;
    reply_init(c, &rp);
    c->decoded = 1;
    if (c->peer == API_PEER_FORWARD) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        atomic_store(&c->wait, WAIT_CALLING);
        if (api_peer_forward_start(n, body, &c->owner, conn_alive, on_forwarded, on_forwarded_admin, c, &rp)) {
            atomic_store(&c->wait, WAIT_IDLE);
            return send_peer_reply(c, &rp);
        }
        return wait_or_answer(c);
    }
    c->nargs = 0;
    int total = MHD_get_connection_values_n(c->mc, MHD_GET_ARGUMENT_KIND, collect_arg, c);
    if (total < 0 || (size_t)total != c->nargs) {
        api_peer_error(&rp, 500, "internal", "out of memory");
        return send_peer_reply(c, &rp);
    }
    client_addr(c, c->client, sizeof c->client);
    if (c->peer == API_PEER_SNAPSHOT_DONE) {
        if (peer_done_start(c) == 0)
            return wait_or_answer(c);
        log_warn("http", "cannot start a thread for a snapshot check: checking on the worker thread");
    }
    api_peer_serve(n, c->peer, c->args, c->nargs, body, c->client, &rp);
    return send_peer_reply(c, &rp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)cls;
    (void)version;
    conn *c = conn_of(mc);
    if (!c)
        return MHD_NO;

    if (!c->started) {
        c->started = 1;
        *req_cls = c;
        c->t0_us = clock_mono_us();
        c->method = req_method_parse(kbytes_str(method));
        c->route = req_route_of(kbytes_str(method), kbytes_str(url));
        c->peer = api_peer_route_of(url);
        if (c->peer != API_PEER_NONE)
            return peer_begin(c, method);
        if (content_length_over(mc, REQ_MAX_BODY)) {
            c->too_large = 1;
            return send_error(c, KAHUNA_ETOOLARGE, "the request body is over the limit of 2 MiB + 64 KiB");
        }
        return MHD_YES;
    }
    if (c->peer_refused) {
        /* answered already: whatever else comes is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* a body over the limit (chunked, or longer than announced) is read
         * and dropped, then refused */
        size_t limit = c->peer != API_PEER_NONE ? API_PEER_MAX_BODY : REQ_MAX_BODY;
        if (!c->too_large) {
            if (c->body.len + *upload_data_size > limit) {
                c->too_large = 1;
                shrink(&c->body);
            } else if (kbuf_append(&c->body, upload_data, *upload_data_size)) {
                c->too_large = 1;
                c->body_oom = 1;   /* answered 500 below */
                kbuf_free(&c->body);
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->too_large && c->peer != API_PEER_NONE) {
        api_reply rp;
        reply_init(c, &rp);
        if (c->body_oom)
            api_peer_error(&rp, 500, "internal", "out of memory");
        else
            api_peer_error(&rp, 413, "too_large", "the peer request body is over the limit of 8 MiB");
        return send_peer_reply(c, &rp);
    }
    if (c->too_large) {
        if (c->body_oom)
            return send_error(c, KAHUNA_ENOMEM, NULL);
        return send_error(c, KAHUNA_ETOOLARGE, "the request body is over the limit of 2 MiB + 64 KiB");
    }
    if (!c->decoded)
        return c->peer != API_PEER_NONE ? peer_dispatch(c) : decode(c, url, method);
    if (atomic_load(&c->wait) == WAIT_DONE)
        return answer(c);
    return MHD_YES;   /* not reached: a suspended request is not called */
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    api_server *s = cls;
    conn *c = *req_cls;
    (void)mc;
    (void)toe;
    if (!c)
        return;
    if (c->peer == API_PEER_NONE)
        metrics_observe(s->env.m, c->route, c->method, c->http_status, clock_mono_us() - c->t0_us);
    conn_reset(c);
    *req_cls = NULL;
}

/* libmicrohttpd decodes the path itself; keys are decoded by request.c
 * from the raw path, so that "%2F" stays part of a key and a bad escape
 * is a 400. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("http", "libmicrohttpd: %s", line);
}

/* ---- start and stop ---- */

static char errbuf[512];

static int open_listener(const api_options *o, int *fd_out, int *v6_out, const char **err_msg)
{
    char host[256];
    const char *h = o->host && o->host[0] ? o->host : "127.0.0.1";
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        *err_msg = "the listen host name is too long";
        return KAHUNA_EIO;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai) {
        snprintf(errbuf, sizeof errbuf, "cannot resolve listen address %.200s: %.200s", host, gai_strerror(gai));
        *err_msg = errbuf;
        return KAHUNA_EIO;
    }
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            last_errno = errno;
            close(fd);
            if (last_errno == EADDRINUSE)
                break;
            continue;
        }
        *fd_out = fd;
        *v6_out = ai->ai_family == AF_INET6;
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    if (last_errno == EADDRINUSE)
        snprintf(errbuf, sizeof errbuf,
                 "port %d is in use: stop the other process or pass --listen HOST:OTHERPORT", o->port);
    else
        snprintf(errbuf, sizeof errbuf, "cannot listen on %.200s port %d: %.200s", host, o->port,
                 last_errno ? strerror(last_errno) : "no usable address");
    *err_msg = errbuf;
    return KAHUNA_EIO;
}

static unsigned connection_limit(void)
{
    struct rlimit rl;
    unsigned limit = 4096;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* leave room for the databases, peers and the RESP listener */
        unsigned room = rl.rlim_cur > 256 ? (unsigned)(rl.rlim_cur - 128) : (unsigned)(rl.rlim_cur / 2);
        if (room < limit)
            limit = room;
    }
    return limit;
}

int api_server_start(const api_options *opts, node *n, api_server **out, const char **err_msg)
{
    static const char *no_msg = "";
    *err_msg = no_msg;
    if (opts->port < 1 || opts->port > 65535) {
        *err_msg = "the listen port must be 1..65535";
        return KAHUNA_EIO;
    }
    api_server *s = calloc(1, sizeof *s);
    if (!s) {
        *err_msg = "out of memory";
        return KAHUNA_EIO;
    }
    s->listen_fd = -1;
    if (pthread_mutex_init(&s->bg_mu, NULL) != 0) {
        free(s);
        *err_msg = "cannot create a mutex";
        return KAHUNA_EIO;
    }
    if (pthread_cond_init(&s->bg_cv, NULL) != 0) {
        pthread_mutex_destroy(&s->bg_mu);
        free(s);
        *err_msg = "cannot create a condition variable";
        return KAHUNA_EIO;
    }
    int v6 = 0;
    int rc = open_listener(opts, &s->listen_fd, &v6, err_msg);
    if (rc) {
        pthread_cond_destroy(&s->bg_cv);
        pthread_mutex_destroy(&s->bg_mu);
        free(s);
        return rc;
    }
    const char *host = opts->host && opts->host[0] ? opts->host : "127.0.0.1";
    kbuf url = KBUF_INIT;
    int bracket = strchr(host, ':') && host[0] != '[';
    if (kbuf_printf(&url, "http://%s%s%s:%d", bracket ? "[" : "", host, bracket ? "]" : "", opts->port)) {
        *err_msg = "out of memory";
        goto fail;
    }
    s->self_url = (char *)kbuf_detach(&url, NULL);
    s->node_id = strdup(opts->node_id ? opts->node_id : "");
    if (opts->peer_secret && opts->peer_secret[0] && !(s->peer_secret = strdup(opts->peer_secret))) {
        *err_msg = "out of memory";
        goto fail;
    }
    if (!s->self_url || !s->node_id || metrics_new(&s->env.m)) {
        *err_msg = "out of memory";
        goto fail;
    }
    s->env.n = n;
    s->env.node_id = s->node_id;
    s->env.self_url = s->self_url;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = opts->threads > 0 ? (unsigned)opts->threads : (ncpu > 0 ? (unsigned)ncpu : 1);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    else if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    if (v6)
        flags |= MHD_USE_IPv6;

    s->d = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
                            MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_IDLE_TIMEOUT,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                            MHD_OPTION_END);
    if (!s->d) {
        *err_msg = "cannot start the HTTP server (libmicrohttpd); see the log above";
        goto fail;
    }
    log_info("http", "serving the REST API on %s (%u threads, %s)", s->self_url, threads,
             (flags & MHD_USE_EPOLL) ? "epoll" : "poll");
    *out = s;
    return 0;

fail:
    kbuf_free(&url);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    metrics_free(s->env.m);
    free(s->self_url);
    free(s->node_id);
    free(s->peer_secret);
    pthread_cond_destroy(&s->bg_cv);
    pthread_mutex_destroy(&s->bg_mu);
    free(s);
    return KAHUNA_EIO;
}

void api_server_quiesce(api_server *s)
{
    if (!s || s->quiesced)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    s->quiesced = 1;
}

void api_server_stop(api_server *s)
{
    if (!s)
        return;
    /* a snapshot check still running holds a suspended connection */
    pthread_mutex_lock(&s->bg_mu);
    while (s->bg_running > 0)
        pthread_cond_wait(&s->bg_cv, &s->bg_mu);
    pthread_mutex_unlock(&s->bg_mu);
    MHD_stop_daemon(s->d);
    metrics_free(s->env.m);
    free(s->self_url);
    free(s->node_id);
    free(s->peer_secret);
    pthread_cond_destroy(&s->bg_cv);
    pthread_mutex_destroy(&s->bg_mu);
    free(s);
}
