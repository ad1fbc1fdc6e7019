/* kbench.c: kahuna's load generator.
 *
 * N clients, each one keep-alive HTTP/1.1 connection with one request in
 * flight, driven by one epoll loop per thread over non-blocking sockets.
 * Requests are written and responses parsed by hand (status line, headers,
 * Content-Length or chunked body) so that the client is never the
 * bottleneck: no libcurl, no allocation per request once warmed up.
 *
 * A workload runs for a fixed time after a warm-up; only requests that
 * complete inside the measured window count. Latency is kept in a
 * log-linear histogram (1 us resolution below 128 us, then 64 buckets per
 * power of two, under 1.6% error), so percentiles cost nothing per request.
 *
 * Workloads (SPEC §3):
 *   kv-set    PUT /v1/kv/bench/<client>-<n>, a fresh key every time
 *   kv-get    GET /v1/kv/bench/get/<i> of --keys keys loaded beforehand
 *             (linearizable; --stale adds ?consistency=stale)
 *   lock      POST /v1/locks/bench/lock/<pid>-<client>/acquire then
 *             /release: one lock per client, so nobody waits on anybody
 *   seq-next  POST /v1/sequences/bench/seq/next, one shared sequence
 * One request is one op (a lock cycle is two ops). Any answer outside 2xx,
 * a broken connection or a request over --timeout is an error. The lock
 * workload also reports whole cycles: acquire sent to release answered.
 *
 * --target etcd runs the same workloads against etcd's v3 HTTP/JSON
 * gateway (etcd 3.4), keys and values base64 as the gateway wants them:
 *   kv-set    POST /v3/kv/put {"key": "bench/<client>-<n>", "value": ...}
 *   kv-get    POST /v3/kv/range {"key": "bench/get/<i>"} (linearizable by
 *             default; --stale sends "serializable": true)
 *   lock      POST /v3/lease/grant once per client (not measured), then
 *             per cycle POST /v3/lock/lock {"name": "bench/lock/<pid>-
 *             <client>", "lease": ID} and POST /v3/lock/unlock {"key": the
 *             key lock answered}; after the run each client revokes its
 *             lease, as a kahuna client releases its lock
 * seq-next has no etcd counterpart. A 2xx answer that lacks what the step
 * needs (the lease ID, the lock key, the kvs of a read) is an error too.
 *
 * --endpoints URL,URL,... spreads the clients: client i talks to endpoint
 * i % n (one URL: every client to it, like --url).
 *
 * Exit status: 0 all requests succeeded, 1 some failed, 2 usage error or
 * the server could not be reached at all. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "duration.h"
#include "errors.h"

/* ------------------------------------------------------------ options */

enum workload { W_KV_SET, W_KV_GET, W_LOCK, W_SEQ_NEXT, W_COUNT_, W_PRELOAD };
static const char *const workload_names[W_COUNT_] = {"kv-set", "kv-get", "lock", "seq-next"};

#define MAX_CLIENTS 10000
#define MAX_THREADS 64
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (16 * 1024 * 1024)
#define ERR_SAMPLE_BYTES 200
#define MAX_ENDPOINTS 64

enum target { T_KAHUNA, T_ETCD };

/* One server to talk to; all strings malloc'd, freed by main. */
typedef struct endpoint {
    const char *url;          /* as given (borrowed from argv or the list copy) */
    char *host;               /* as written in the URL, without brackets */
    char *hostport;           /* for the Host header: "host:port" as written */
    char *port;
    char *base;               /* path prefix from the URL, no trailing '/' */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} endpoint;

typedef struct options {
    enum target target;
    endpoint eps[MAX_ENDPOINTS];
    int neps;
    int clients;
    int threads;
    int64_t duration_ms;
    int64_t warmup_ms;
    int64_t timeout_ms;
    int value_size;
    int keys;
    int stale;
    int json;
    int want[W_COUNT_];
    int64_t lease_ttl_s;      /* etcd lock: TTL of each client's lease */
} options;

/* ---------------------------------------------------------- histogram */

#define HIST_SUB 64
#define HIST_MAX_SHIFT 40
#define HIST_BUCKETS (2 * HIST_SUB + HIST_MAX_SHIFT * HIST_SUB)

typedef struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    uint64_t max_us;
} hist;

static size_t hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6; /* v >> shift is in [64, 128) */
    if (shift > HIST_MAX_SHIFT)
        return HIST_BUCKETS - 1;
    return (size_t)(2 * HIST_SUB + (shift - 1) * HIST_SUB + (int)((v >> shift) - HIST_SUB));
}

static uint64_t hist_upper(size_t i) /* largest value that lands in bucket i */
{
    if (i < 2 * HIST_SUB)
        return i;
    size_t shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t m = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    return ((m + 1) << shift) - 1;
}

static void hist_add(hist *h, uint64_t us)
{
    h->n[hist_index(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(hist *into, const hist *h)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->n[i] += h->n[i];
    into->count += h->count;
    if (h->max_us > into->max_us)
        into->max_us = h->max_us;
}

static uint64_t hist_percentile(const hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            return u < h->max_us ? u : h->max_us;
        }
    }
    return h->max_us;
}

/* -------------------------------------------------------- per-thread run */

typedef struct stats {
    hist lat;
    uint64_t ok;
    uint64_t errors;          /* every failed request, whatever the cause */
    uint64_t status[600];     /* non-2xx answers by status */
    uint64_t conn_errors;     /* refused, reset, closed mid-request */
    uint64_t timeouts;
    uint64_t bad_responses;   /* unparseable HTTP */
    uint64_t unexpected;      /* 2xx without the lease ID, lock key or kvs needed */
    hist cycle;               /* lock: acquire sent to release answered */
    uint64_t cycles;
    char sample[ERR_SAMPLE_BYTES + 1]; /* first non-2xx answer, for the user */
} stats;

enum conn_state { C_IDLE, C_CONNECTING, C_SENDING, C_RECEIVING, C_BACKOFF, C_DONE };

enum setup_step { S_NONE, S_LEASE_GRANT, S_LEASE_REVOKE };

typedef struct conn {
    int fd;
    int client;               /* global client number */
    const endpoint *ep;       /* where this client sends its requests */
    enum conn_state state;
    kbuf out;
    size_t out_off;
    kbuf in;
    kbuf path, body;          /* scratch for build_request, kept to reuse */
    kbuf plain;               /* scratch: text before base64 (etcd) */
    kbuf lease;               /* etcd: this client's lease ID, as answered */
    kbuf lock_key;            /* etcd: the key /v3/lock/lock answered */
    enum setup_step setup;    /* in flight: a set-up request, not an op */
    int lease_done;           /* etcd: lease revoked after the run */
    int64_t started_us;       /* request (or connect) start */
    int64_t cycle_started_us; /* lock: when the acquire of this cycle was sent */
    int64_t backoff_until_us;
    uint64_t n;               /* requests issued by this client */
    int lock_held;            /* lock workload: next step is release */
    int epoll_out;            /* EPOLLOUT registered */
    uint32_t rng;
} conn;

typedef struct worker {
    pthread_t tid;
    const options *opt;
    const char *value;        /* JSON-safe value text (etcd: its base64) */
    enum workload w;
    int ep;
    conn *conns;
    int nconns;
    int64_t warm_end_us;
    int64_t end_us;           /* no new request from this instant */
    int64_t drain_end_us;     /* give up on requests in flight */
    uint64_t quota;           /* preload: requests this worker issues; 0 = timed */
    uint64_t issued;
    uint64_t key_base, key_step; /* preload: keys key_base + k * key_step */
    stats st;
    int fatal;                /* epoll/socket failure: the run is void */
} worker;

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x ? x : 0x9e3779b9u;
}

static void conn_close(worker *wk, conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(wk->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->epoll_out = 0;
    c->out_off = 0;
    kbuf_reset(&c->out);
    kbuf_reset(&c->in);
}

static int set_epoll(worker *wk, conn *c, int want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(wk->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return -1;
    c->epoll_out = want_out;
    return 0;
}

static int in_window(const worker *wk, int64_t now)
{
    return wk->quota || (now >= wk->warm_end_us && now < wk->end_us);
}

static void count_failure(worker *wk, int64_t now, uint64_t *kind)
{
    if (in_window(wk, now)) {
        wk->st.errors++;
        (*kind)++;
    }
}

static void conn_connect(worker *wk, conn *c, int64_t now);

/* A broken or timed-out connection: counted, closed, retried shortly. */
static void conn_fail(worker *wk, conn *c, int64_t now, uint64_t *kind)
{
    if (c->state == C_SENDING || c->state == C_RECEIVING || c->state == C_CONNECTING)
        count_failure(wk, now, kind);
    conn_close(wk, c);
    c->state = C_BACKOFF;
    c->backoff_until_us = now + 100 * 1000;
    c->lock_held = 0;
    c->setup = S_NONE;
}

static int may_issue(worker *wk, int64_t now)
{
    if (wk->quota)
        return wk->issued < wk->quota;
    return now < wk->end_us;
}

/* Appends to out the base64 of the text fmt makes (etcd wants keys,
 * values and lock names that way); c->plain is the scratch. */
static int b64_printf(conn *c, kbuf *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int b64_printf(conn *c, kbuf *out, const char *fmt, ...)
{
    va_list ap;
    kbuf_reset(&c->plain);
    va_start(ap, fmt);
    int rc = kbuf_vprintf(&c->plain, fmt, ap);
    va_end(ap);
    return rc ? rc : base64_encode(kbytes_make(c->plain.data, c->plain.len), out);
}

/* The path and body of the next kahuna request. */
static int kahuna_request(worker *wk, conn *c, const char **method)
{
    const options *o = wk->opt;
    const char *base = c->ep->base;
    kbuf *path = &c->path, *body = &c->body;
    int rc = 0;
    *method = "POST";
    switch (wk->w) {
    case W_KV_SET:
        *method = "PUT";
        rc = kbuf_printf(path, "%s/v1/kv/bench/%d-%llu", base, c->client, (unsigned long long)c->n);
        if (!rc)
            rc = kbuf_printf(body, "{\"value\":\"%s\"}", wk->value);
        break;
    case W_PRELOAD:
        *method = "PUT";
        rc = kbuf_printf(path, "%s/v1/kv/bench/get/%llu", base,
                         (unsigned long long)(wk->key_base + wk->issued * wk->key_step));
        if (!rc)
            rc = kbuf_printf(body, "{\"value\":\"%s\"}", wk->value);
        break;
    case W_KV_GET:
        *method = "GET";
        rc = kbuf_printf(path, "%s/v1/kv/bench/get/%u%s", base, xorshift(&c->rng) % (uint32_t)o->keys,
                         o->stale ? "?consistency=stale" : "");
        break;
    case W_LOCK:
        rc = kbuf_printf(path, "%s/v1/locks/bench/lock/%ld-%d/%s", base, (long)getpid(), c->client,
                         c->lock_held ? "release" : "acquire");
        if (!rc && c->lock_held)
            rc = kbuf_printf(body, "{\"owner\":\"kbench-%ld-%d\"}", (long)getpid(), c->client);
        else if (!rc)
            rc = kbuf_printf(body, "{\"owner\":\"kbench-%ld-%d\",\"ttl_ms\":30000}", (long)getpid(), c->client);
        break;
    case W_SEQ_NEXT:
        rc = kbuf_printf(path, "%s/v1/sequences/bench/seq/next", base);
        if (!rc)
            rc = kbuf_append_str(body, "{}");
        break;
    default:
        rc = KAHUNA_EINTERNAL;
    }
    return rc;
}

/* The path and body of the next etcd request (always a POST): c->setup
 * says whether it is a lease grant or revoke rather than the workload's. */
static int etcd_request(worker *wk, conn *c)
{
    const options *o = wk->opt;
    const char *base = c->ep->base;
    kbuf *path = &c->path, *body = &c->body;
    int rc;
    if (c->setup == S_LEASE_GRANT) {
        rc = kbuf_printf(path, "%s/v3/lease/grant", base);
        return rc ? rc : kbuf_printf(body, "{\"TTL\":%lld}", (long long)o->lease_ttl_s);
    }
    if (c->setup == S_LEASE_REVOKE) {
        rc = kbuf_printf(path, "%s/v3/lease/revoke", base);
        return rc ? rc : kbuf_printf(body, "{\"ID\":\"%s\"}", kbuf_str(&c->lease));
    }
    switch (wk->w) {
    case W_KV_SET:
    case W_PRELOAD:
        rc = kbuf_printf(path, "%s/v3/kv/put", base);
        if (!rc)
            rc = kbuf_append_str(body, "{\"key\":\"");
        if (!rc && wk->w == W_KV_SET)
            rc = b64_printf(c, body, "bench/%d-%llu", c->client, (unsigned long long)c->n);
        else if (!rc)
            rc = b64_printf(c, body, "bench/get/%llu", (unsigned long long)(wk->key_base + wk->issued * wk->key_step));
        if (!rc)
            rc = kbuf_printf(body, "\",\"value\":\"%s\"}", wk->value);
        break;
    case W_KV_GET:
        rc = kbuf_printf(path, "%s/v3/kv/range", base);
        if (!rc)
            rc = kbuf_append_str(body, "{\"key\":\"");
        if (!rc)
            rc = b64_printf(c, body, "bench/get/%u", xorshift(&c->rng) % (uint32_t)o->keys);
        if (!rc)
            rc = kbuf_append_str(body, o->stale ? "\",\"serializable\":true}" : "\"}");
        break;
    case W_LOCK:
        if (c->lock_held) {
            rc = kbuf_printf(path, "%s/v3/lock/unlock", base);
            if (!rc)
                rc = kbuf_printf(body, "{\"key\":\"%s\"}", kbuf_str(&c->lock_key));
            break;
        }
        rc = kbuf_printf(path, "%s/v3/lock/lock", base);
        if (!rc)
            rc = kbuf_append_str(body, "{\"name\":\"");
        if (!rc)
            rc = b64_printf(c, body, "bench/lock/%ld-%d", (long)getpid(), c->client);
        if (!rc)
            rc = kbuf_printf(body, "\",\"lease\":\"%s\"}", kbuf_str(&c->lease));
        break;
    default:
        rc = KAHUNA_EINTERNAL; /* seq-next: refused by main */
    }
    return rc;
}

static int build_request(worker *wk, conn *c)
{
    kbuf *b = &c->out;
    const char *method = "POST";
    kbuf_reset(&c->path);
    kbuf_reset(&c->body);
    int rc = wk->opt->target == T_ETCD ? etcd_request(wk, c) : kahuna_request(wk, c, &method);
    kbuf_reset(b);
    c->out_off = 0;
    if (!rc)
        rc = kbuf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kbench\r\nAccept: application/json\r\n",
                         method, kbuf_str(&c->path), c->ep->hostport);
    if (!rc && c->body.len)
        rc = kbuf_printf(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", c->body.len,
                         kbuf_str(&c->body));
    else if (!rc)
        rc = kbuf_append_str(b, "\r\n");
    return rc;
}

/* Writes what it can. 0: all sent or waiting for EPOLLOUT; -1: broken. */
static int conn_flush(worker *wk, conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->out_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return c->epoll_out ? 0 : set_epoll(wk, c, 1);
        } else {
            return -1;
        }
    }
    c->state = C_RECEIVING;
    return c->epoll_out ? set_epoll(wk, c, 0) : 0;
}

static void conn_issue(worker *wk, conn *c, int64_t now)
{
    /* after the window, a client that holds its lock still releases it
     * (not measured), so a run leaves no lock behind; an etcd client then
     * revokes its lease */
    int etcd_lock = wk->opt->target == T_ETCD && wk->w == W_LOCK;
    int release_after = wk->w == W_LOCK && c->lock_held && now < wk->drain_end_us;
    int revoke_after = etcd_lock && !c->lock_held && c->lease.len && !c->lease_done && now < wk->drain_end_us;
    c->setup = S_NONE;
    if (!may_issue(wk, now) && !release_after && !revoke_after) {
        c->state = C_DONE;
        conn_close(wk, c);
        return;
    }
    if (!may_issue(wk, now) && revoke_after)
        c->setup = S_LEASE_REVOKE;
    else if (etcd_lock && !c->lease.len)
        c->setup = S_LEASE_GRANT;
    if (build_request(wk, c) != 0) {
        wk->fatal = 1;
        c->state = C_DONE;
        conn_close(wk, c);
        return;
    }
    if (c->setup == S_NONE) {
        if (wk->w != W_LOCK || !c->lock_held)
            c->n++;
        if (wk->w == W_LOCK && !c->lock_held)
            c->cycle_started_us = now;
        wk->issued++;
    }
    c->started_us = now;
    c->state = C_SENDING;
    if (conn_flush(wk, c) != 0)
        conn_fail(wk, c, now, &wk->st.conn_errors);
}

static void conn_connect(worker *wk, conn *c, int64_t now)
{
    if (!may_issue(wk, now)) {
        c->state = C_DONE;
        return;
    }
    c->fd = socket(c->ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        wk->fatal = 1;
        c->state = C_DONE;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(wk->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        wk->fatal = 1;
        c->state = C_DONE;
        return;
    }
    c->epoll_out = 1;
    c->started_us = now;
    c->state = C_CONNECTING;
    if (connect(c->fd, (const struct sockaddr *)&c->ep->addr, c->ep->addrlen) != 0 && errno != EINPROGRESS)
        conn_fail(wk, c, now, &wk->st.conn_errors);
    /* completion (or failure) shows up as EPOLLOUT */
}

/* --------------------------------------------------- response parsing */

typedef struct response {
    int status;
    size_t total;             /* bytes of the whole response in the buffer */
    size_t body_off, body_len;
    int close;                /* "Connection: close" */
} response;

static const uint8_t *find_crlf(const uint8_t *p, size_t from, size_t n)
{
    if (from >= n)
        return NULL;
    return memmem(p + from, n - from, "\r\n", 2);
}

static int header_is(const uint8_t *line, size_t len, const char *name, const uint8_t **val, size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp((const char *)line, name, nl) != 0)
        return 0;
    size_t i = nl + 1;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t e = len;
    while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    *val = line + i;
    *vlen = e - i;
    return 1;
}

static int has_token(const uint8_t *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp((const char *)v + i, tok, tl) == 0)
            return 1;
    return 0;
}

/* Finds the end of a chunked body starting at pos. 1: complete (*end set),
 * 0: need more bytes, -1: malformed. */
static int chunked_end(const uint8_t *p, size_t n, size_t pos, size_t *end, size_t *body_len)
{
    size_t total = 0;
    for (;;) {
        const uint8_t *eol = find_crlf(p, pos, n);
        if (!eol)
            return n - pos > 1024 ? -1 : 0;
        size_t size = 0, i = pos, digits = 0;
        while (p + i < eol && isxdigit(p[i])) {
            int d = isdigit(p[i]) ? p[i] - '0' : (tolower(p[i]) - 'a' + 10);
            size = size * 16 + (size_t)d;
            if (size > MAX_BODY_BYTES)
                return -1;
            i++;
            digits++;
        }
        if (!digits || (p + i < eol && p[i] != ';' && p[i] != ' '))
            return -1;
        pos = (size_t)(eol - p) + 2;
        if (size == 0) { /* trailers, then an empty line */
            for (;;) {
                const uint8_t *t = find_crlf(p, pos, n);
                if (!t)
                    return 0;
                size_t tl = (size_t)(t - p) - pos;
                pos += tl + 2;
                if (tl == 0) {
                    *end = pos;
                    *body_len = total;
                    return 1;
                }
            }
        }
        if (n - pos < size + 2)
            return 0;
        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n')
            return -1;
        pos += size + 2;
        total += size;
    }
}

/* Parses one response from the start of in. 1: complete, 0: need more,
 * -1: malformed. eof: the peer closed (ends a body without length). */
static int parse_response(const kbuf *in, int eof, response *r)
{
    const uint8_t *p = in->data;
    size_t n = in->len;
    memset(r, 0, sizeof *r);
    if (n == 0)
        return 0;
    const uint8_t *hend = memmem(p, n, "\r\n\r\n", 4);
    if (!hend)
        return n > MAX_HEADER_BYTES ? -1 : 0;
    size_t hlen = (size_t)(hend - p) + 4;
    const uint8_t *eol = find_crlf(p, 0, n);
    size_t l0 = (size_t)(eol - p);
    if (l0 < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || !isdigit(p[9]) || !isdigit(p[10]) ||
        !isdigit(p[11]) || (l0 > 12 && p[12] != ' '))
        return -1;
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (r->status < 100 || r->status > 599)
        return -1;
    if (p[7] == '0')
        r->close = 1; /* HTTP/1.0: closes unless it says keep-alive */
    long long clen = -1;
    int chunked = 0;
    size_t pos = l0 + 2;
    while (pos < hlen - 2) {
        const uint8_t *le = find_crlf(p, pos, n);
        size_t ll = (size_t)(le - p) - pos;
        const uint8_t *v;
        size_t vl;
        if (header_is(p + pos, ll, "content-length", &v, &vl)) {
            if (vl == 0 || vl > 10)
                return -1;
            clen = 0;
            for (size_t i = 0; i < vl; i++) {
                if (!isdigit(v[i]))
                    return -1;
                clen = clen * 10 + (v[i] - '0');
            }
            if (clen > MAX_BODY_BYTES)
                return -1;
        } else if (header_is(p + pos, ll, "transfer-encoding", &v, &vl)) {
            chunked = has_token(v, vl, "chunked");
        } else if (header_is(p + pos, ll, "connection", &v, &vl)) {
            if (has_token(v, vl, "close"))
                r->close = 1;
            else if (has_token(v, vl, "keep-alive"))
                r->close = 0;
        }
        pos += ll + 2;
    }
    r->body_off = hlen;
    if (r->status < 200 || r->status == 204 || r->status == 304) {
        r->total = hlen;
        return 1;
    }
    if (chunked) {
        int rc = chunked_end(p, n, hlen, &r->total, &r->body_len);
        return rc;
    }
    if (clen >= 0) {
        if (n - hlen < (size_t)clen)
            return 0;
        r->body_len = (size_t)clen;
        r->total = hlen + (size_t)clen;
        return 1;
    }
    /* no length: the body runs to the end of the connection */
    if (!eof)
        return n - hlen > MAX_BODY_BYTES ? -1 : 0;
    r->close = 1;
    r->body_len = n - hlen;
    r->total = n;
    return 1;
}

/* Finds "name": in a JSON body and puts its value in out when it is a
 * string without escapes or a bare number (lease IDs, base64 keys: all
 * etcd's gateway sends for these). Scans the bytes as they are: the etcd
 * answers it reads carry a Content-Length. 0: found, -1: not there. */
static int json_scalar(const uint8_t *p, size_t n, const char *name, kbuf *out)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl + 2 < n; i++) {
        if (p[i] != '"' || memcmp(p + i + 1, name, nl) != 0 || p[i + 1 + nl] != '"')
            continue;
        size_t j = i + nl + 2;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
            j++;
        if (j >= n || p[j] != ':')
            continue;
        j++;
        while (j < n && (p[j] == ' ' || p[j] == '\t' || p[j] == '\r' || p[j] == '\n'))
            j++;
        size_t k = j;
        if (j < n && p[j] == '"') {
            for (k = ++j; k < n && p[k] != '"'; k++)
                if (p[k] == '\\')
                    return -1;
            if (k >= n)
                return -1;
        } else {
            while (k < n && (isdigit(p[k]) || p[k] == '-'))
                k++;
        }
        if (k == j)
            return -1;
        kbuf_reset(out);
        return kbuf_append(out, p + j, k - j) == 0 ? 0 : -1;
    }
    return -1;
}

/* etcd: takes what a 2xx answer carries for the next step (the lease ID,
 * the lock key) and checks a read found its key. 0 when the answer has
 * what it should. */
static int etcd_take(worker *wk, conn *c, const response *r)
{
    const uint8_t *body = c->in.data + r->body_off;
    size_t n = r->total - r->body_off;
    if (c->setup == S_LEASE_GRANT)
        return json_scalar(body, n, "ID", &c->lease);
    if (c->setup == S_LEASE_REVOKE)
        return 0;
    if (wk->w == W_LOCK && !c->lock_held)
        return json_scalar(body, n, "key", &c->lock_key);
    if (wk->w == W_KV_GET)
        return memmem(body, n, "\"kvs\"", 5) ? 0 : -1;
    return 0;
}

static void record_answer(worker *wk, conn *c, const response *r, int64_t now)
{
    int good = r->status >= 200 && r->status < 300;
    int unexpected = 0;
    enum setup_step setup = c->setup;
    if (good && wk->opt->target == T_ETCD && etcd_take(wk, c, r) != 0) {
        good = 0;
        unexpected = 1;
    }
    c->setup = S_NONE;
    if (setup == S_LEASE_REVOKE)
        c->lease_done = 1; /* whatever the answer: the lease runs out anyway */
    int cycle_done = 0;
    if (wk->w == W_LOCK && setup == S_NONE) {
        cycle_done = good && c->lock_held;
        c->lock_held = good ? !c->lock_held : 0;
    }
    if (!in_window(wk, now))
        return;
    if (good) {
        if (setup != S_NONE)
            return; /* a set-up step is not an op */
        wk->st.ok++;
        hist_add(&wk->st.lat, (uint64_t)(now - c->started_us));
        if (cycle_done) {
            wk->st.cycles++;
            hist_add(&wk->st.cycle, (uint64_t)(now - c->cycle_started_us));
        }
        return;
    }
    wk->st.errors++;
    if (unexpected)
        wk->st.unexpected++;
    else
        wk->st.status[r->status]++;
    if (!wk->st.sample[0]) {
        size_t n = r->body_len < ERR_SAMPLE_BYTES - 8 ? r->body_len : ERR_SAMPLE_BYTES - 8;
        int k = snprintf(wk->st.sample, sizeof wk->st.sample, "%d ", r->status);
        for (size_t i = 0; i < n && k >= 0 && (size_t)k < ERR_SAMPLE_BYTES; i++) {
            uint8_t ch = c->in.data[r->body_off + i];
            wk->st.sample[k++] = (ch >= 32 && ch < 127) ? (char)ch : '.';
        }
        if (k >= 0 && (size_t)k <= ERR_SAMPLE_BYTES)
            wk->st.sample[k] = '\0';
    }
}

static void conn_readable(worker *wk, conn *c, int64_t now)
{
    int eof = 0;
    for (;;) {
        if (kbuf_reserve(&c->in, 16384) != 0) {
            wk->fatal = 1;
            return;
        }
        ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (r > 0) {
            c->in.len += (size_t)r;
            c->in.data[c->in.len] = '\0';
            continue;
        }
        if (r == 0) {
            eof = 1;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        conn_fail(wk, c, now, &wk->st.conn_errors);
        return;
    }
    if (c->state != C_RECEIVING && c->state != C_SENDING) {
        /* nothing asked: the server closed an idle connection, or talks nonsense */
        if (eof || c->in.len) {
            conn_close(wk, c);
            c->state = C_BACKOFF;
            c->backoff_until_us = now;
        }
        return;
    }
    response resp;
    int rc = parse_response(&c->in, eof, &resp);
    if (rc < 0) {
        conn_fail(wk, c, now, &wk->st.bad_responses);
        return;
    }
    if (rc == 0) {
        if (eof)
            conn_fail(wk, c, now, &wk->st.conn_errors);
        return;
    }
    record_answer(wk, c, &resp, now);
    if (resp.close || eof || resp.total != c->in.len) {
        /* closing, or bytes we never asked for: start over on a new connection */
        conn_close(wk, c);
        c->state = C_IDLE;
        conn_connect(wk, c, now);
        return;
    }
    kbuf_reset(&c->in);
    conn_issue(wk, c, now);
}

static void conn_writable(worker *wk, conn *c, int64_t now)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_fail(wk, c, now, &wk->st.conn_errors);
            return;
        }
        if (set_epoll(wk, c, 0) != 0) {
            wk->fatal = 1;
            return;
        }
        conn_issue(wk, c, now);
        return;
    }
    if (c->state == C_SENDING && conn_flush(wk, c) != 0)
        conn_fail(wk, c, now, &wk->st.conn_errors);
}

static int busy(const conn *c)
{
    return c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_RECEIVING;
}

static void *worker_run(void *arg)
{
    worker *wk = arg;
    int64_t timeout_us = wk->opt->timeout_ms * 1000;
    struct epoll_event evs[256];

    for (int i = 0; i < wk->nconns; i++)
        conn_connect(wk, &wk->conns[i], clock_mono_us());

    for (;;) {
        int64_t now = clock_mono_us();
        int active = 0;
        for (int i = 0; i < wk->nconns; i++) {
            conn *c = &wk->conns[i];
            if (busy(c) && now - c->started_us > timeout_us)
                conn_fail(wk, c, now, &wk->st.timeouts);
            if (c->state == C_BACKOFF && now >= c->backoff_until_us)
                conn_connect(wk, c, now);
            if (c->state == C_BACKOFF && !may_issue(wk, now))
                c->state = C_DONE;
            if (busy(c) || c->state == C_BACKOFF)
                active++;
        }
        if (wk->fatal || !active || now >= wk->drain_end_us)
            break;
        int n = epoll_wait(wk->ep, evs, (int)(sizeof evs / sizeof evs[0]), 20);
        if (n < 0 && errno != EINTR) {
            wk->fatal = 1;
            break;
        }
        now = clock_mono_us();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR) && c->state == C_CONNECTING) {
                conn_writable(wk, c, now);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_readable(wk, c, now);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT) && c->state == C_SENDING)
                conn_writable(wk, c, now);
        }
    }
    for (int i = 0; i < wk->nconns; i++) {
        conn_close(wk, &wk->conns[i]);
        wk->conns[i].state = C_DONE;
    }
    return NULL;
}

/* ------------------------------------------------------------ a phase */

typedef struct phase_result {
    stats st;
    double seconds;           /* measured window */
    int fatal;
} phase_result;

static int run_phase(const options *o, enum workload w, const char *value, uint64_t preload, phase_result *res)
{
    int nt = o->threads < o->clients ? o->threads : o->clients;
    worker *wks = calloc((size_t)nt, sizeof *wks);
    conn *conns = calloc((size_t)o->clients, sizeof *conns);
    if (!wks || !conns) {
        free(wks);
        free(conns);
        return KAHUNA_ENOMEM;
    }
    int64_t t0 = clock_mono_us();
    int64_t warm_end = preload ? t0 : t0 + o->warmup_ms * 1000;
    int64_t end = preload ? INT64_MAX / 4 : warm_end + o->duration_ms * 1000;
    int64_t drain_end = preload ? INT64_MAX / 4 : end + o->timeout_ms * 1000;
    int started = 0, rc = 0;
    int per = o->clients / nt, extra = o->clients % nt, next = 0;

    for (int t = 0; t < nt; t++)
        wks[t].ep = -1;
    for (int t = 0; t < nt; t++) {
        worker *wk = &wks[t];
        wk->opt = o;
        wk->value = value;
        wk->w = preload ? W_PRELOAD : w;
        wk->conns = conns + next;
        wk->nconns = per + (t < extra);
        for (int i = 0; i < wk->nconns; i++) {
            conn *c = &wk->conns[i];
            c->fd = -1;
            c->client = next + i;
            c->ep = &o->eps[c->client % o->neps];
            c->rng = 2463534242u ^ ((uint32_t)c->client * 2654435761u);
            xorshift(&c->rng);
        }
        next += wk->nconns;
        wk->warm_end_us = warm_end;
        wk->end_us = end;
        wk->drain_end_us = drain_end;
        if (preload) {
            wk->quota = preload / (uint64_t)nt + ((uint64_t)t < preload % (uint64_t)nt);
            wk->key_base = (uint64_t)t;
            wk->key_step = (uint64_t)nt;
            if (wk->quota == 0)
                wk->nconns = 0;
        }
        wk->ep = epoll_create1(EPOLL_CLOEXEC);
        if (wk->ep < 0) {
            rc = KAHUNA_EIO;
            break;
        }
    }
    for (int t = 0; rc == 0 && t < nt; t++) {
        if (pthread_create(&wks[t].tid, NULL, worker_run, &wks[t]) != 0) {
            rc = KAHUNA_EIO;
            break;
        }
        started++;
    }
    memset(res, 0, sizeof *res);
    for (int t = 0; t < started; t++)
        pthread_join(wks[t].tid, NULL);
    int64_t finished = clock_mono_us();
    for (int t = 0; t < nt; t++) {
        stats *s = &wks[t].st;
        hist_merge(&res->st.lat, &s->lat);
        res->st.ok += s->ok;
        res->st.errors += s->errors;
        res->st.conn_errors += s->conn_errors;
        res->st.timeouts += s->timeouts;
        res->st.bad_responses += s->bad_responses;
        res->st.unexpected += s->unexpected;
        hist_merge(&res->st.cycle, &s->cycle);
        res->st.cycles += s->cycles;
        for (int k = 0; k < 600; k++)
            res->st.status[k] += s->status[k];
        if (!res->st.sample[0] && s->sample[0])
            memcpy(res->st.sample, s->sample, sizeof s->sample);
        res->fatal |= wks[t].fatal;
        if (wks[t].ep >= 0)
            close(wks[t].ep);
    }
    res->seconds = preload ? (double)(finished - t0) / 1e6 : (double)o->duration_ms / 1000.0;
    for (int i = 0; i < o->clients; i++) {
        kbuf_free(&conns[i].out);
        kbuf_free(&conns[i].in);
        kbuf_free(&conns[i].path);
        kbuf_free(&conns[i].body);
        kbuf_free(&conns[i].plain);
        kbuf_free(&conns[i].lease);
        kbuf_free(&conns[i].lock_key);
    }
    free(conns);
    free(wks);
    if (rc == 0 && res->fatal)
        rc = KAHUNA_EIO;
    return rc;
}

/* ------------------------------------------------------------ output */

static void print_errors(FILE *f, const stats *s, int json)
{
    const char *sep = "";
    for (int k = 0; k < 600; k++) {
        if (!s->status[k])
            continue;
        if (json)
            fprintf(f, "%s\"%d\":%llu", sep, k, (unsigned long long)s->status[k]);
        else
            fprintf(f, "%sHTTP %d: %llu", sep, k, (unsigned long long)s->status[k]);
        sep = json ? "," : ", ";
    }
    const struct { const char *name; uint64_t n; } other[] = {
        {"connection", s->conn_errors}, {"timeout", s->timeouts}, {"bad_response", s->bad_responses},
        {"unexpected_answer", s->unexpected}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (!other[i].n)
            continue;
        if (json)
            fprintf(f, "%s\"%s\":%llu", sep, other[i].name, (unsigned long long)other[i].n);
        else
            fprintf(f, "%s%s: %llu", sep, other[i].name, (unsigned long long)other[i].n);
        sep = json ? "," : ", ";
    }
}

static void print_result(const options *o, enum workload w, const phase_result *r, int *header_done)
{
    const stats *s = &r->st;
    double ops_s = r->seconds > 0 ? (double)s->ok / r->seconds : 0;
    double p50 = (double)hist_percentile(&s->lat, 0.50) / 1000.0;
    double p99 = (double)hist_percentile(&s->lat, 0.99) / 1000.0;
    double p999 = (double)hist_percentile(&s->lat, 0.999) / 1000.0;
    double mx = (double)s->lat.max_us / 1000.0;
    double cyc_s = r->seconds > 0 ? (double)s->cycles / r->seconds : 0;
    double c50 = (double)hist_percentile(&s->cycle, 0.50) / 1000.0;
    double c99 = (double)hist_percentile(&s->cycle, 0.99) / 1000.0;
    double c999 = (double)hist_percentile(&s->cycle, 0.999) / 1000.0;
    double cmx = (double)s->cycle.max_us / 1000.0;
    const char *name = workload_names[w];
    if (o->json) {
        printf("{\"workload\":\"%s\",\"target\":\"%s\",\"endpoints\":%d,\"clients\":%d,\"threads\":%d,"
               "\"seconds\":%.3f,\"ops\":%llu,"
               "\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
               "\"errors\":%llu,\"errors_by_kind\":{",
               name, o->target == T_ETCD ? "etcd" : "kahuna", o->neps, o->clients, o->threads, r->seconds,
               (unsigned long long)s->ok, ops_s, p50, p99, p999, mx, (unsigned long long)s->errors);
        print_errors(stdout, s, 1);
        printf("}");
        if (w == W_KV_GET)
            printf(",\"consistency\":\"%s\"", o->stale ? "stale" : "linearizable");
        if (w == W_LOCK)
            printf(",\"cycles\":%llu,\"cycles_per_s\":%.1f,\"cycle_p50_ms\":%.3f,\"cycle_p99_ms\":%.3f,"
                   "\"cycle_p999_ms\":%.3f,\"cycle_max_ms\":%.3f",
                   (unsigned long long)s->cycles, cyc_s, c50, c99, c999, cmx);
        printf("}\n");
    } else {
        if (!*header_done) {
            printf("%-12s %7s %7s %10s %10s %8s %8s %8s %8s %7s\n", "workload", "clients", "seconds", "ops",
                   "ops/s", "p50 ms", "p99 ms", "p999 ms", "max ms", "errors");
            *header_done = 1;
        }
        printf("%-12s %7d %7.1f %10llu %10.1f %8.3f %8.3f %8.3f %8.3f %7llu\n",
               w == W_KV_GET && o->stale ? "kv-get-stale" : name, o->clients, r->seconds,
               (unsigned long long)s->ok, ops_s, p50, p99, p999, mx, (unsigned long long)s->errors);
        if (w == W_LOCK) /* whole cycles: acquire sent to release answered */
            printf("%-12s %7d %7.1f %10llu %10.1f %8.3f %8.3f %8.3f %8.3f %7s\n", "lock-cycle", o->clients,
                   r->seconds, (unsigned long long)s->cycles, cyc_s, c50, c99, c999, cmx, "-");
    }
    fflush(stdout);
    if (s->errors) {
        fprintf(stderr, "kbench: %s: %llu errors (", name, (unsigned long long)s->errors);
        print_errors(stderr, s, 0);
        fprintf(stderr, ")%s%s\n", s->sample[0] ? "; first answer: " : "", s->sample);
    }
}

/* ------------------------------------------------------------ set-up */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kbench [options]\n"
            "  --url URL          server to load (default http://127.0.0.1:2070)\n"
            "  --endpoints U,U,.. several servers: client i talks to the (i mod n)th\n"
            "  --target T         kahuna (default) or etcd (its v3 HTTP/JSON gateway;\n"
            "                     workloads kv-set, kv-get, lock)\n"
            "  --clients N        concurrent keep-alive connections (default 64)\n"
            "  --threads N        event loops sharing the clients (default 1)\n"
            "  --duration D       measured time per workload (default 10s)\n"
            "  --warmup D         unmeasured time before it (default 1s)\n"
            "  --timeout D        a request slower than this is an error (default 10s)\n"
            "  --workload LIST    kv-set,kv-get,lock,seq-next or all (default all)\n"
            "  --value-size N     bytes of each value written (default 100)\n"
            "  --keys N           keys loaded for kv-get (default 1000)\n"
            "  --stale            kv-get with ?consistency=stale (etcd: serializable)\n"
            "  --json             one JSON object per workload instead of a table\n"
            "Durations take a unit: 500ms, 10s, 1m.\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_dur(const char *s, int64_t *out)
{
    size_t i = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++;
    if (s[i] == '\0')
        return -1; /* a bare number: seconds or milliseconds? ask for a unit */
    return duration_parse_ms(s, out) == 0 ? 0 : -1;
}

/* *named_seq: seq-next was asked for by name (not through "all"). */
static int parse_workloads(const char *s, int *want, int *named_seq)
{
    *named_seq = 0;
    memset(want, 0, sizeof(int) * W_COUNT_);
    char *copy = strdup(s);
    if (!copy)
        return -1;
    int rc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        if (strcmp(t, workload_names[W_SEQ_NEXT]) == 0)
            *named_seq = 1;
        for (int w = 0; w < W_COUNT_; w++) {
            if (strcmp(t, workload_names[w]) == 0 || strcmp(t, "all") == 0) {
                want[w] = 1;
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "kbench: unknown workload '%s' (kv-set, kv-get, lock, seq-next, all)\n", t);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

/* http://HOST[:PORT][/PREFIX]; HOST may be [v6]. */
static int parse_url(endpoint *o, const char *url)
{
    o->url = url;
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "kbench: --url must start with http:// (got '%s')\n", url);
        return -1;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    o->hostport = strndup(h, hl);
    o->base = strdup(slash ? slash : "");
    if (!o->hostport || !o->base)
        return -1;
    size_t bl = strlen(o->base);
    while (bl && o->base[bl - 1] == '/')
        o->base[--bl] = '\0';
    const char *hp = o->hostport, *portp = NULL;
    size_t hostlen;
    if (hp[0] == '[') {
        const char *rb = strchr(hp, ']');
        if (!rb || (rb[1] && rb[1] != ':'))
            goto bad;
        o->host = strndup(hp + 1, (size_t)(rb - hp - 1));
        portp = rb[1] ? rb + 2 : NULL;
    } else {
        const char *colon = strrchr(hp, ':');
        hostlen = colon ? (size_t)(colon - hp) : strlen(hp);
        o->host = strndup(hp, hostlen);
        portp = colon ? colon + 1 : NULL;
    }
    o->port = strdup(portp ? portp : "80");
    if (!o->host || !o->port || !o->host[0] || !o->port[0])
        goto bad;
    return 0;
bad:
    fprintf(stderr, "kbench: cannot read host and port in --url '%s'\n", url);
    return -1;
}

/* Resolves the URL and makes one blocking connection, so that a server
 * that is not there gets a clear message instead of a run full of errors. */
static int probe_server(endpoint *o, enum target target)
{
    const char *url = o->url;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(o->host, o->port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "kbench: cannot resolve '%s': %s\n", o->host, gai_strerror(gai));
        return -1;
    }
    memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
    o->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("kbench: socket");
        return -1;
    }
    int err = 0;
    if (connect(fd, (struct sockaddr *)&o->addr, o->addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int pr = poll(&pfd, 1, 5000);
            socklen_t len = sizeof err;
            if (pr == 0)
                err = ETIMEDOUT;
            else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
    }
    close(fd);
    if (err) {
        fprintf(stderr, "kbench: cannot connect to %s: %s (is %s running there? see --url)\n", url,
                strerror(err), target == T_ETCD ? "etcd" : "kahunad");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {.clients = 64, .threads = 1, .duration_ms = 10000, .warmup_ms = 1000, .timeout_ms = 10000,
                 .value_size = 100, .keys = 1000};
    const char *url = NULL;
    char *endpoints = NULL; /* copy of the --endpoints list, cut in place */
    int rc = 0, named_seq = 0, workloads_given = 0;
    for (int w = 0; w < W_COUNT_; w++)
        o.want[w] = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--stale") == 0) {
            o.stale = 1;
            takes = 0;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
            takes = 0;
        } else if (!v) {
            fprintf(stderr, "kbench: %s %s\n", a, a[0] == '-' && a[1] == '-' ? "needs a value" : "is not an option");
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--url") == 0) {
            url = v;
        } else if (strcmp(a, "--endpoints") == 0) {
            free(endpoints);
            endpoints = strdup(v);
            if (!endpoints) {
                fprintf(stderr, "kbench: out of memory\n");
                return 2;
            }
        } else if (strcmp(a, "--target") == 0) {
            if (strcmp(v, "kahuna") == 0)
                o.target = T_KAHUNA;
            else if (strcmp(v, "etcd") == 0)
                o.target = T_ETCD;
            else
                rc = -1;
        } else if (strcmp(a, "--clients") == 0) {
            rc = parse_int(v, 1, MAX_CLIENTS, &o.clients);
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_int(v, 1, MAX_THREADS, &o.threads);
        } else if (strcmp(a, "--value-size") == 0) {
            rc = parse_int(v, 0, 1024 * 1024, &o.value_size);
        } else if (strcmp(a, "--keys") == 0) {
            rc = parse_int(v, 1, 10000000, &o.keys);
        } else if (strcmp(a, "--duration") == 0) {
            rc = parse_dur(v, &o.duration_ms);
            if (!rc && (o.duration_ms < 1 || o.duration_ms > 24LL * 3600 * 1000))
                rc = -1;
        } else if (strcmp(a, "--warmup") == 0) {
            rc = parse_dur(v, &o.warmup_ms);
            if (!rc && o.warmup_ms > 3600LL * 1000)
                rc = -1;
        } else if (strcmp(a, "--timeout") == 0) {
            rc = parse_dur(v, &o.timeout_ms);
            if (!rc && (o.timeout_ms < 1 || o.timeout_ms > 3600LL * 1000))
                rc = -1;
        } else if (strcmp(a, "--workload") == 0) {
            workloads_given = 1;
            if (parse_workloads(v, o.want, &named_seq) != 0) {
                free(endpoints);
                return 2;
            }
        } else {
            fprintf(stderr, "kbench: unknown option %s\n", a);
            usage(stderr);
            free(endpoints);
            return 2;
        }
        if (rc) {
            fprintf(stderr, "kbench: bad value for %s: '%s'%s\n", a, v,
                    strstr("--duration --warmup --timeout", a) ? " (durations take a unit: 500ms, 10s, 1m)" : "");
            free(endpoints);
            return 2;
        }
        i += takes;
    }

    if (o.target == T_ETCD && o.want[W_SEQ_NEXT]) {
        if (workloads_given && named_seq) {
            fprintf(stderr, "kbench: etcd has no sequences: seq-next runs only with --target kahuna\n");
            rc = 2;
        }
        o.want[W_SEQ_NEXT] = 0;
    }
    if (!rc && url && endpoints) {
        fprintf(stderr, "kbench: give --url or --endpoints, not both\n");
        rc = 2;
    }
    if (!rc && endpoints) {
        char *save = NULL;
        for (char *t = strtok_r(endpoints, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
            if (o.neps == MAX_ENDPOINTS) {
                fprintf(stderr, "kbench: at most %d --endpoints\n", MAX_ENDPOINTS);
                rc = 2;
            } else if (parse_url(&o.eps[o.neps++], t) != 0) {
                rc = 2;
            }
        }
        if (!rc && o.neps == 0) {
            fprintf(stderr, "kbench: --endpoints needs at least one URL\n");
            rc = 2;
        }
    } else if (!rc && parse_url(&o.eps[o.neps++], url ? url : "http://127.0.0.1:2070") != 0) {
        rc = 2;
    }
    for (int e = 0; !rc && e < o.neps; e++)
        if (probe_server(&o.eps[e], o.target) != 0)
            rc = 2;
    /* etcd lock: a lease outlives the phase (warm-up, run, drain) with
     * room to spare, so no keep-alive is needed; revoked at the end */
    o.lease_ttl_s = (o.warmup_ms + o.duration_ms + o.timeout_ms) / 1000 + 60;
    char *value = rc ? NULL : malloc((size_t)o.value_size + 1);
    if (!rc && !value) {
        fprintf(stderr, "kbench: out of memory\n");
        rc = 2;
    }
    if (!rc) {
        for (int i = 0; i < o.value_size; i++)
            value[i] = (char)('a' + i % 26);
        value[o.value_size] = '\0';
    }
    kbuf value_b64 = KBUF_INIT; /* etcd takes values in base64 */
    if (!rc && o.target == T_ETCD) {
        if (base64_encode(kbytes_make(value, (size_t)o.value_size), &value_b64) != 0 ||
            kbuf_append_str(&value_b64, "") != 0) {
            fprintf(stderr, "kbench: out of memory\n");
            rc = 2;
        } else {
            free(value);
            value = (char *)kbuf_detach(&value_b64, NULL);
        }
    }

    int header_done = 0, any_errors = 0;
    for (int w = 0; rc == 0 && w < W_COUNT_; w++) {
        if (!o.want[w])
            continue;
        phase_result res;
        if (w == W_KV_GET) {
            int prc = run_phase(&o, W_PRELOAD, value, (uint64_t)o.keys, &res);
            if (prc != 0 || res.st.errors || res.st.ok < (uint64_t)o.keys) {
                fprintf(stderr, "kbench: loading %d keys for kv-get failed: %llu of them written (", o.keys,
                        (unsigned long long)res.st.ok);
                print_errors(stderr, &res.st, 0);
                fprintf(stderr, ")%s%s\n", res.st.sample[0] ? "; first answer: " : "", res.st.sample);
                any_errors = 1;
                continue;
            }
        }
        if (run_phase(&o, (enum workload)w, value, 0, &res) != 0) {
            fprintf(stderr, "kbench: %s: the load generator itself failed (out of memory or file descriptors?)\n",
                    workload_names[w]);
            rc = 2;
            break;
        }
        print_result(&o, (enum workload)w, &res, &header_done);
        if (res.st.errors)
            any_errors = 1;
    }
    free(value);
    for (int e = 0; e < o.neps; e++) {
        free(o.eps[e].host);
        free(o.eps[e].hostport);
        free(o.eps[e].port);
        free(o.eps[e].base);
    }
    free(endpoints);
    if (rc)
        return rc;
    return any_errors ? 1 : 0;
}
