/* forward.c: the forwarder thread (see forward.h).
 *
 * Callers queue a request under the mutex and wake the thread with
 * curl_multi_wakeup; the thread moves queued requests onto easy handles
 * (from a pool, so handles are not made per request) in one multi handle,
 * whose connection cache keeps connections to the leader alive between
 * requests. Everything else (the active list, the pool, the multi handle's
 * transfers) belongs to the thread alone.
 *
 * "Was anything sent?" decides between KAHUNA_EUNAVAILABLE and
 * KAHUNA_ETIMEOUT: libcurl calls the pre-request callback once a connection
 * is made (or reused) and just before the request goes out. A failure
 * before that point (refused, unresolvable, connect timeout, still waiting
 * for a free connection) means the leader cannot have run the request.
 * After it, only an answer tells: a complete HTTP answer from the /raft
 * route checks (4xx, 503) says it did not run; anything else is unknown.
 *
 * A forwarded request is sent at most once. libcurl would quietly send it
 * again on a new connection when a reused one closes before any answer
 * byte arrived; but the leader may have run it (and then lost the
 * connection), so the pre-request callback refuses a second sending and
 * the request ends KAHUNA_ETIMEOUT. A connection the leader closed while
 * idle is not at risk: libcurl checks a cached connection before reusing
 * it, and drops idle ones after 118 s (CURLOPT_MAXAGE_CONN), before
 * kahunad's own idle timeout (300 s) would close them. */
#include "peer/forward.h"
#include "clock.h"
#include "errors.h"
#include "httpc.h"
#include "log.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FORWARD_PATH "/raft/v1/forward"
#define ALIVE_POLL_MS 100
#define IDLE_POLL_MS 1000
#define POOL_MAX PEER_FORWARD_MAX_CONNECTIONS
#define TCP_KEEPIDLE_S 10L
#define TCP_KEEPINTVL_S 5L

typedef struct fwd_req {
    struct fwd_req *next, *prev;  /* queue (next only), then active list */
    CURL *easy;
    const char *url;              /* in mem[] */
    const uint8_t *body;          /* in mem[] */
    size_t body_n;
    kbuf answer;
    int64_t timeout_ms;
    int (*alive)(void *alive_arg);
    void *alive_arg;
    void (*done)(void *done_arg, int status, kbytes body);
    void *done_arg;
    int sent;                     /* the pre-request callback ran */
    int resend;                   /* libcurl wanted to send it again */
    int too_large;
    int nomem;
    char err[CURL_ERROR_SIZE];
    uint8_t mem[];                /* body bytes, then the URL and its NUL */
} fwd_req;

struct peer_forwarder {
    CURLM *multi;
    struct curl_slist *headers;   /* shared by every request */
    pthread_t thread;
    pthread_mutex_t mu;
    /* under mu */
    fwd_req *queue, *queue_tail;
    int stopping;
    int wake_pending;
    /* the forwarder thread's own */
    fwd_req *active;
    size_t nalive;                /* active requests that have an alive callback */
    CURL *pool[POOL_MAX];
    size_t npool;
    uint8_t logged[600 / 8];      /* HTTP statuses already logged */
    int logged_perform;
};

/* ---- requests ---- */

/* Calls done once and frees r (which must be off every list). */
static void reply(fwd_req *r, int status)
{
    kbytes body = kbytes_make(NULL, 0);
    if (status == 0)
        body = kbytes_make(r->answer.data, r->answer.len);
    r->done(r->done_arg, status, body);
    kbuf_free(&r->answer);
    free(r);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    fwd_req *r = arg;
    size_t n = size * nmemb;
    if (n > PEER_FORWARD_MAX_ANSWER || r->answer.len > PEER_FORWARD_MAX_ANSWER - n) {
        r->too_large = 1;
        return 0;
    }
    if (kbuf_append(&r->answer, p, n)) {
        r->nomem = 1;
        return 0;
    }
    return n;
}

static int on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    fwd_req *r = arg;
    if (r->sent) {
        r->resend = 1;
        return CURL_PREREQFUNC_ABORT; /* at most once: see the top of the file */
    }
    r->sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* ---- the easy handle pool ---- */

static CURL *pool_get(peer_forwarder *f)
{
    if (f->npool)
        return f->pool[--f->npool];
    return curl_easy_init();
}

static void pool_put(peer_forwarder *f, CURL *e)
{
    if (f->npool < POOL_MAX) {
        curl_easy_reset(e); /* forgets the request's pointers */
        f->pool[f->npool++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

#define SETOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) return KAHUNA_EINTERNAL; } while (0)

static int setup(peer_forwarder *f, fwd_req *r, CURL *e)
{
    SETOPT(CURLOPT_URL, r->url);
    SETOPT(CURLOPT_PRIVATE, (void *)r);
    SETOPT(CURLOPT_HTTPHEADER, f->headers);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_n);
    SETOPT(CURLOPT_POSTFIELDS, r->body_n ? (const char *)r->body : "");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (httpc_easy_defaults(e, r->err, "kahuna-peer") != 0)
        return KAHUNA_EINTERNAL;
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_KEEPIDLE, TCP_KEEPIDLE_S);
    SETOPT(CURLOPT_TCP_KEEPINTVL, TCP_KEEPINTVL_S);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)r);
    SETOPT(CURLOPT_PREREQFUNCTION, on_prereq);
    SETOPT(CURLOPT_PREREQDATA, (void *)r);
    long connect_ms = PEER_FORWARD_CONNECT_TIMEOUT_MS;
    if (r->timeout_ms > 0) {
        long t = r->timeout_ms > INT_MAX ? INT_MAX : (long)r->timeout_ms;
        SETOPT(CURLOPT_TIMEOUT_MS, t);
        if (t < connect_ms)
            connect_ms = t;
    }
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    return 0;
}

/* Puts a queued request on an easy handle and into the multi handle; when
 * that fails, it was not sent: answers KAHUNA_EUNAVAILABLE. */
static void start(peer_forwarder *f, fwd_req *r)
{
    CURL *e = pool_get(f);
    if (!e) {
        log_error("peer", "cannot forward a request: libcurl has no memory for a transfer");
        reply(r, KAHUNA_EUNAVAILABLE);
        return;
    }
    int rc = setup(f, r, e);
    if (rc || curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        log_error("peer", "cannot forward a request to %s: libcurl refused to set it up (out of memory?)", r->url);
        pool_put(f, e);
        reply(r, KAHUNA_EUNAVAILABLE);
        return;
    }
    r->easy = e;
    r->prev = NULL;
    r->next = f->active;
    if (f->active)
        f->active->prev = r;
    f->active = r;
    if (r->alive)
        f->nalive++;
}

/* Takes r out of the multi handle and the active list. */
static void detach(peer_forwarder *f, fwd_req *r)
{
    curl_multi_remove_handle(f->multi, r->easy);
    pool_put(f, r->easy);
    r->easy = NULL;
    if (r->prev)
        r->prev->next = r->next;
    else
        f->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    if (r->alive)
        f->nalive--;
}

/* Logs once per forwarder and HTTP status. */
static int first_time(peer_forwarder *f, long code)
{
    if (code < 0 || code >= 600)
        code = 0;
    uint8_t bit = (uint8_t)(1u << (code % 8));
    if (f->logged[code / 8] & bit)
        return 0;
    f->logged[code / 8] |= bit;
    return 1;
}

/* The status of a finished transfer (see forward.h and the top of file). */
static int outcome(peer_forwarder *f, const fwd_req *r, CURLcode res, long code)
{
    if (res == CURLE_OK) {
        if (code == 200)
            return 0;
        if (code == 503) {
            log_debug("peer", "the leader at %s answered 503 to a forwarded request", r->url);
            return KAHUNA_EUNAVAILABLE;
        }
        if (code == 403) {
            if (first_time(f, code))
                log_error("peer", "the leader at %s refused this node's peer secret (HTTP 403): give every "
                          "node the same peer secret", r->url);
            return KAHUNA_EUNAVAILABLE;
        }
        if (code >= 400 && code < 500) {
            if (first_time(f, code))
                log_warn("peer", "the leader at %s refused a forwarded request with HTTP %ld: check that "
                         "every node runs the same kahunad version", r->url, code);
            return KAHUNA_EUNAVAILABLE;
        }
        if (first_time(f, code))
            log_warn("peer", "the leader at %s answered a forwarded request with HTTP %ld: its outcome is "
                     "unknown (answered as a timeout); see the leader's log", r->url, code);
        return KAHUNA_ETIMEOUT;
    }
    if (!r->sent) {
        log_debug("peer", "forward to %s not sent: %s", r->url, r->err[0] ? r->err : curl_easy_strerror(res));
        return KAHUNA_EUNAVAILABLE;
    }
    if (r->resend)
        log_debug("peer", "the connection to %s closed before an answer: not sending the request again, "
                  "its outcome is unknown", r->url);
    else if (r->too_large)
        log_warn("peer", "the leader at %s answered a forwarded request with more than %zu bytes: dropped, "
                 "its outcome is unknown", r->url, PEER_FORWARD_MAX_ANSWER);
    else if (r->nomem)
        log_error("peer", "out of memory reading the leader's answer to a forwarded request");
    else
        log_debug("peer", "forward to %s failed after sending: %s", r->url,
                  r->err[0] ? r->err : curl_easy_strerror(res));
    return KAHUNA_ETIMEOUT;
}

/* Answers every transfer libcurl reports finished. */
static void collect(peer_forwarder *f)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(f->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode res = msg->data.result; /* msg is gone after remove_handle */
        char *priv = NULL;
        if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) {
            curl_multi_remove_handle(f->multi, e);
            continue; /* cannot happen: every handle carries its request */
        }
        fwd_req *r = (fwd_req *)(void *)priv;
        long code = 0;
        if (res == CURLE_OK && (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code < 100))
            res = CURLE_GOT_NOTHING;
        int status = outcome(f, r, res, code);
        detach(f, r);
        reply(r, status);
    }
}

/* Drops the requests whose client went away. */
static void poll_alive(peer_forwarder *f)
{
    fwd_req *r = f->active, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->alive && !r->alive(r->alive_arg)) {
            detach(f, r);
            reply(r, KAHUNA_ECANCELED);
        }
    }
}

static void *forward_thread(void *arg)
{
    peer_forwarder *f = arg;
    int64_t next_alive = clock_mono_ms() + ALIVE_POLL_MS;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        fwd_req *q = f->queue;
        f->queue = f->queue_tail = NULL;
        f->wake_pending = 0;
        int stopping = f->stopping;
        pthread_mutex_unlock(&f->mu);

        while (q) {
            fwd_req *next = q->next;
            q->next = NULL;
            if (stopping)
                reply(q, KAHUNA_EUNAVAILABLE); /* never started */
            else
                start(f, q);
            q = next;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(f->multi, &running);
        if (mc != CURLM_OK && !f->logged_perform) {
            f->logged_perform = 1;
            log_error("peer", "libcurl failed driving forwarded requests: %s", curl_multi_strerror(mc));
        }
        collect(f);
        if (stopping)
            break;
        int64_t now = clock_mono_ms();
        if (now >= next_alive) {
            poll_alive(f);
            next_alive = now + ALIVE_POLL_MS;
        }
        int wait = IDLE_POLL_MS;
        if (f->nalive)
            wait = next_alive - now < 1 ? 1 : (int)(next_alive - now);
        mc = curl_multi_poll(f->multi, NULL, 0, wait, NULL);
        if (mc != CURLM_OK && !f->logged_perform) {
            f->logged_perform = 1;
            log_error("peer", "libcurl failed waiting for forwarded requests: %s", curl_multi_strerror(mc));
        }
    }
    /* Stopping: what is still in flight gets its verdict now. */
    while (f->active) {
        fwd_req *r = f->active;
        int status = r->sent ? KAHUNA_ETIMEOUT : KAHUNA_EUNAVAILABLE;
        detach(f, r);
        reply(r, status);
    }
    return NULL;
}

/* ---- the interface ---- */

static void free_forwarder(peer_forwarder *f)
{
    for (size_t i = 0; i < f->npool; i++)
        curl_easy_cleanup(f->pool[i]);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    curl_slist_free_all(f->headers);
    free(f);
}

/* Appends a header line to f->headers. */
static int add_header(peer_forwarder *f, const char *line)
{
    struct curl_slist *h = curl_slist_append(f->headers, line);
    if (!h)
        return KAHUNA_ENOMEM;
    f->headers = h;
    return 0;
}

int peer_forwarder_start(const char *secret, peer_forwarder **out)
{
    *out = NULL;
    if (secret && strpbrk(secret, "\r\n"))
        return KAHUNA_EBADREQ;
    peer_forwarder *f = calloc(1, sizeof *f);
    if (!f)
        return KAHUNA_ENOMEM;
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        free(f);
        return KAHUNA_EINTERNAL;
    }
    int rc = add_header(f, "Expect:");
    if (!rc)
        rc = add_header(f, "Content-Type: application/octet-stream");
    if (!rc && secret && secret[0]) {
        kbuf line = KBUF_INIT;
        rc = kbuf_printf(&line, "X-Kahuna-Peer-Secret: %s", secret);
        if (!rc)
            rc = add_header(f, kbuf_str(&line));
        kbuf_free(&line);
    }
    if (!rc && !(f->multi = curl_multi_init()))
        rc = KAHUNA_EINTERNAL;
    if (!rc && (curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)PEER_FORWARD_MAX_CONNECTIONS) !=
                    CURLM_OK ||
                curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)PEER_FORWARD_MAX_CONNECTIONS) != CURLM_OK))
        rc = KAHUNA_EINTERNAL;
    if (!rc && pthread_create(&f->thread, NULL, forward_thread, f) != 0)
        rc = KAHUNA_EINTERNAL;
    if (rc) {
        pthread_mutex_destroy(&f->mu);
        free_forwarder(f);
        return rc;
    }
    *out = f;
    return 0;
}

void peer_forwarder_stop(peer_forwarder *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = 1;
    curl_multi_wakeup(f->multi);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    free_forwarder(f);
}

void peer_forward(peer_forwarder *f, const char *url, const kbytes req, int64_t timeout_ms,
                  int (*alive)(void *alive_arg), void *alive_arg,
                  void (*done)(void *done_arg, int status, kbytes body), void *done_arg)
{
    if (!f) {
        done(done_arg, KAHUNA_ESHUTDOWN, kbytes_make(NULL, 0));
        return;
    }
    size_t ulen = url ? strlen(url) : 0;
    while (ulen && url[ulen - 1] == '/')
        ulen--;
    size_t plen = sizeof FORWARD_PATH - 1;
    size_t extra = ulen + plen + 1;
    if (req.n > SIZE_MAX - sizeof(fwd_req) - extra) {
        done(done_arg, KAHUNA_ENOMEM, kbytes_make(NULL, 0));
        return;
    }
    fwd_req *r = malloc(sizeof(fwd_req) + req.n + extra);
    if (!r) {
        done(done_arg, KAHUNA_ENOMEM, kbytes_make(NULL, 0));
        return;
    }
    memset(r, 0, sizeof *r);
    if (req.n)
        memcpy(r->mem, req.p, req.n);
    char *u = (char *)r->mem + req.n;
    if (ulen)
        memcpy(u, url, ulen);
    memcpy(u + ulen, FORWARD_PATH, plen + 1);
    r->url = u;
    r->body = r->mem;
    r->body_n = req.n;
    r->timeout_ms = timeout_ms;
    r->alive = alive;
    r->alive_arg = alive_arg;
    r->done = done;
    r->done_arg = done_arg;

    pthread_mutex_lock(&f->mu);
    if (f->stopping) {
        pthread_mutex_unlock(&f->mu);
        free(r);
        done(done_arg, KAHUNA_ESHUTDOWN, kbytes_make(NULL, 0));
        return;
    }
    if (f->queue_tail)
        f->queue_tail->next = r;
    else
        f->queue = r;
    f->queue_tail = r;
    if (!f->wake_pending) {
        /* under the mutex: stop cannot free the multi handle meanwhile */
        f->wake_pending = 1;
        curl_multi_wakeup(f->multi);
    }
    pthread_mutex_unlock(&f->mu);
}

static void forward_cb(void *arg, const char *url, const kbytes req, int64_t timeout_ms,
                       int (*alive)(void *alive_arg), void *alive_arg,
                       void (*done)(void *done_arg, int status, kbytes body), void *done_arg)
{
    peer_forward(arg, url, req, timeout_ms, alive, alive_arg, done, done_arg);
}

void peer_forwarder_bind(peer_forwarder *f, node_transport *out)
{
    out->forward = forward_cb;
    out->forward_arg = f;
}
