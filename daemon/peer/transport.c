/* transport.c: the peer sender: per-peer queues of encoded Raft frames and
 * snapshot transfers, driven by one thread over a libcurl multi handle
 * (see transport.h).
 *
 * Locking. t->mu guards the peer list, every queue, the busy flags, the
 * hand-over of snapshot jobs and the counters. peer_send holds it only to
 * encode into the queue; the sender thread holds it only to swap a queue
 * into its in-flight buffer (O(1) unless the batch must be cut), never
 * across libcurl calls or file reads. Fields marked "thread" below are
 * touched by the sender thread alone. Peers are never freed before stop,
 * so the thread may use a peer it found under the lock after unlocking.
 *
 * Wake-ups. peer_send wakes the thread (curl_multi_wakeup) only when a
 * peer's queue goes from empty to non-empty while no POST is in flight for
 * it; a completing POST makes the thread look at every queue again before
 * it polls, and a peer in back-off bounds the poll timeout. */
#include "peer/transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "httpc.h"
#include "log.h"
#include "raft/codec.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 500
#define CONNECT_TIMEOUT_MAX_MS 1000
/* The receiver fsyncs and checks the whole file before answering done. */
#define DONE_TIMEOUT_MIN_MS 60000
#define IDLE_POLL_MS 1000
/* Bytes of an error answer kept for the log line. */
#define ERR_BODY_KEEP 200
/* An in-flight buffer larger than this is freed after its POST. */
#define KEEP_BUFFER_MAX ((size_t)1024 * 1024)
#define MAX_CONNECTS 256

enum { X_MSGS = 1, X_SNAP = 2 };
enum { SNAP_CHUNK = 1, SNAP_DONE = 2 };

struct peer;

/* One easy handle of a peer (kept for the peer's life, so its connection is
 * reused) and the answer of its request in flight. */
typedef struct xfer {
    struct peer *p;
    int kind;                 /* X_MSGS, X_SNAP */
    CURL *easy;
    int active;               /* added to the multi handle */
    kbuf resp;                /* first bytes of the answer, for the log */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

typedef struct snap_job {
    struct snap_job *next;    /* in t->reports */
    uint64_t to, from, index, term;
    char *path;
    kbuf frame;               /* the encoded SNAPSHOT message */
    int fd;
    uint64_t size, offset;
    size_t chunk_len;         /* bytes in the chunk in flight */
    int phase;                /* SNAP_CHUNK, SNAP_DONE */
    kbuf chunk;
    int64_t t0_ms;
} snap_job;

typedef struct peer {
    struct peer *next;
    char *url;                /* base URL without a trailing '/' (immutable) */
    /* under t->mu */
    kbuf queue;               /* encoded frames waiting */
    int busy;                 /* a POST /raft/v1/messages is in flight */
    uint64_t burst_drops;     /* queue-full drops not yet reported */
    snap_job *snap_new;       /* a job handed to the thread */
    int snap_busy;            /* a job is new or running */
    /* thread */
    char *msg_url;
    kbuf inflight;            /* body of the POST in flight */
    size_t inflight_frames;
    int64_t backoff_until_ms;
    int backoff_ms;
    int to_start;             /* a batch was taken: start its POST */
    int failing;              /* the last POST failed (logged once per run) */
    int drop_logged;          /* a burst of drops was logged */
    int drop_log_now;
    xfer mx;                  /* messages */
    xfer sx;                  /* snapshot chunks */
    snap_job *snap;           /* running job */
    kbuf snap_url;
} peer;

struct peer_transport {
    pthread_mutex_t mu;
    size_t queue_bytes;
    int64_t timeout_ms;
    CURLM *multi;
    struct curl_slist *hdrs;  /* shared by every request */
    pthread_t thread;
    node *_Atomic n;
    /* under mu */
    int stopping;
    peer *peers;
    snap_job *reports;        /* jobs never started: report failed */
    peer_stats st;
};

/* ---- helpers ---- */

static void job_free(snap_job *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    kbuf_free(&j->frame);
    kbuf_free(&j->chunk);
    free(j);
}

static size_t frame_len_at(const uint8_t *p)
{
    uint32_t body = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    return RAFT_CODEC_HEADER + (size_t)body;
}

/* Number of whole frames in b[0..n). */
static size_t count_frames(const uint8_t *b, size_t n)
{
    size_t off = 0, k = 0;
    while (n - off >= RAFT_CODEC_HEADER) {
        off += frame_len_at(b + off);
        k++;
    }
    return k;
}

static peer *peer_find(peer_transport *t, const char *url, size_t len)
{
    for (peer *p = t->peers; p; p = p->next)
        if (strlen(p->url) == len && memcmp(p->url, url, len) == 0)
            return p;
    return NULL;
}

/* The peer of url, created on first use (under t->mu). NULL when out of
 * memory or url is empty. */
static peer *peer_get(peer_transport *t, const char *url)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len == 0)
        return NULL;
    peer *p = peer_find(t, url, len);
    if (p)
        return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    kbuf mu = KBUF_INIT;
    p->url = kbytes_strdup(kbytes_make(url, len));
    if (!p->url || kbuf_printf(&mu, "%s/raft/v1/messages", p->url)) {
        kbuf_free(&mu);
        free(p->url);
        free(p);
        return NULL;
    }
    p->msg_url = (char *)kbuf_detach(&mu, NULL);
    p->mx.p = p;
    p->mx.kind = X_MSGS;
    p->sx.p = p;
    p->sx.kind = X_SNAP;
    p->next = t->peers;
    t->peers = p;
    return p;
}

static void wake_thread(peer_transport *t)
{
    CURLMcode mc = curl_multi_wakeup(t->multi);
    if (mc != CURLM_OK)
        log_warn("peer", "cannot wake the sender thread: %s", curl_multi_strerror(mc));
}

/* ---- sending (any thread) ---- */

void peer_send(peer_transport *t, const raft_msg *m, const char *url)
{
    if (!t || !m || !url)
        return;
    node *n = atomic_load(&t->n);
    uint64_t cid = n ? node_cluster_id(n) : 0;
    int wake = 0, rc = 0, nomem = 0;
    pthread_mutex_lock(&t->mu);
    if (t->stopping) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    peer *p = peer_get(t, url);
    if (!p) {
        nomem = 1;
        t->st.msgs_dropped_full++;
    } else {
        size_t old = p->queue.len;
        rc = raft_codec_encode(m, cid, &p->queue);
        if (rc) {
            p->queue.len = old;
            t->st.msgs_dropped_full++;
        } else if (p->queue.len > t->queue_bytes && old > 0) {
            /* full: drop; the first frame is always taken, so a bound
             * smaller than one frame still lets traffic through */
            p->queue.len = old;
            p->burst_drops++;
            t->st.msgs_dropped_full++;
        } else {
            t->st.msgs_queued++;
            wake = old == 0 && !p->busy;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (nomem)
        log_warn("peer", "out of memory queueing a message to %s: dropped (Raft retries)", url);
    else if (rc == KAHUNA_ENOMEM)
        log_warn("peer", "out of memory encoding a message to %s: dropped (Raft retries)", url);
    else if (rc)
        log_error("peer", "cannot encode a %s message to %s: %s; dropped (this is a bug)",
                  raft_msg_type_name(m->type), url, kahuna_strerror(rc));
    if (wake)
        wake_thread(t);
}

void peer_send_snapshot(peer_transport *t, const raft_msg *m, const char *url, const char *path)
{
    if (!t || !m || !url || !path)
        return;
    snap_job *j = calloc(1, sizeof *j);
    if (!j) {
        log_error("peer", "out of memory starting a snapshot transfer to %s: the leader will retry", url);
        return;
    }
    j->fd = -1;
    uint64_t index = m->snapshot.index;
    j->to = m->to;
    j->from = m->from;
    j->index = m->snapshot.index;
    j->term = m->snapshot.term;
    node *n = atomic_load(&t->n);
    int rc = KAHUNA_ENOMEM;
    j->path = strdup(path);
    if (j->path)
        rc = raft_codec_encode(m, n ? node_cluster_id(n) : 0, &j->frame);

    pthread_mutex_lock(&t->mu);
    if (t->stopping) {
        pthread_mutex_unlock(&t->mu);
        job_free(j);
        return;
    }
    peer *p = rc == 0 ? peer_get(t, url) : NULL;
    int busy = p && p->snap_busy;
    if (!p || busy) {
        j->next = t->reports;     /* reported failed by the thread */
        t->reports = j;
    } else {
        p->snap_new = j;
        p->snap_busy = 1;
    }
    pthread_mutex_unlock(&t->mu);
    if (busy)
        log_info("peer", "a snapshot transfer to %s is still running: snapshot at index %" PRIu64 " not sent",
                 url, index);
    else if (!p)
        log_warn("peer", "cannot start a snapshot transfer to %s: %s; the leader will retry", url,
                 kahuna_strerror(rc ? rc : KAHUNA_ENOMEM));
    wake_thread(t);
}

/* ---- the sender thread ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (x->resp.len < ERR_BODY_KEEP) {
        size_t keep = ERR_BODY_KEEP - x->resp.len;
        if (kbuf_append(&x->resp, data, n < keep ? n : keep))
            kbuf_reset(&x->resp);
    }
    return n;
}

#define SETOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto fail; } while (0)

/* Creates x's easy handle with the options every request of x shares. */
static int xfer_init(peer_transport *t, xfer *x)
{
    CURL *e = curl_easy_init();
    if (!e)
        return KAHUNA_ENOMEM;
    int64_t connect_ms = t->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? t->timeout_ms : CONNECT_TIMEOUT_MAX_MS;
    SETOPT(CURLOPT_PRIVATE, x);
    SETOPT(CURLOPT_HTTPHEADER, t->hdrs);
    SETOPT(CURLOPT_POST, 1L);
    if (httpc_easy_defaults(e, x->errbuf, "kahuna-peer") != 0)
        goto fail;
    SETOPT(CURLOPT_PATH_AS_IS, 1L);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, x);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    if (x->kind == X_MSGS)
        SETOPT(CURLOPT_URL, x->p->msg_url);
    x->easy = e;
    return 0;
fail:
    curl_easy_cleanup(e);
    return KAHUNA_EINTERNAL;
}

/* Starts a POST of body on x (to url when not NULL). */
static int xfer_start(peer_transport *t, xfer *x, const char *url, const kbuf *body, int64_t timeout_ms)
{
    if (!x->easy) {
        int rc = xfer_init(t, x);
        if (rc)
            return rc;
    }
    CURL *e = x->easy;
    x->errbuf[0] = '\0';
    kbuf_reset(&x->resp);
    if (url)
        SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    SETOPT(CURLOPT_POSTFIELDS, body->len ? (const char *)body->data : "");
    SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    if (curl_multi_add_handle(t->multi, e) != CURLM_OK)
        return KAHUNA_EINTERNAL;
    x->active = 1;
    return 0;
fail:
    return KAHUNA_EINTERNAL;
}

#undef SETOPT

/* Why a finished request failed, for a log line (NULL: it did not). */
static const char *xfer_failure(xfer *x, CURLcode rc, long code, char *buf, size_t cap)
{
    if (rc != CURLE_OK) {
        snprintf(buf, cap, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        return buf;
    }
    if (code == 204 || code == 200)
        return NULL;
    const char *hint = "";
    if (code == 403)
        hint = " (every node must be started with the same --peer-secret)";
    else if (code == 409)
        hint = " (is it a node of another cluster, or did it restart?)";
    char body[ERR_BODY_KEEP + 1];
    size_t n = x->resp.len < ERR_BODY_KEEP ? x->resp.len : ERR_BODY_KEEP;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = x->resp.data[i];
        body[i] = ch < 0x20 || ch > 0x7e ? ' ' : (char)ch;   /* one log line */
    }
    body[n] = '\0';
    snprintf(buf, cap, "HTTP %ld%s: %s", code, hint, body);
    return buf;
}

/* Moves the peer's queue (at most PEER_MAX_BATCH_BYTES of whole frames,
 * at least one frame) into its in-flight buffer. Under t->mu. */
static void take_batch(peer *p)
{
    if (p->queue.len <= PEER_MAX_BATCH_BYTES) {
        kbuf tmp = p->inflight;
        p->inflight = p->queue;
        p->queue = tmp;
        kbuf_reset(&p->queue);
        return;
    }
    size_t cut = 0;
    while (p->queue.len - cut >= RAFT_CODEC_HEADER) {
        size_t f = frame_len_at(p->queue.data + cut);
        if (cut > 0 && cut + f > PEER_MAX_BATCH_BYTES)
            break;
        cut += f;
    }
    kbuf_reset(&p->inflight);
    if (kbuf_append(&p->inflight, p->queue.data, cut)) {
        /* out of memory: send the whole queue as it is */
        kbuf tmp = p->inflight;
        p->inflight = p->queue;
        p->queue = tmp;
        kbuf_reset(&p->queue);
        return;
    }
    memmove(p->queue.data, p->queue.data + cut, p->queue.len - cut);
    p->queue.len -= cut;
}

static void msgs_start(peer_transport *t, peer *p)
{
    p->inflight_frames = count_frames(p->inflight.data, p->inflight.len);
    int rc = xfer_start(t, &p->mx, NULL, &p->inflight, t->timeout_ms);
    if (rc == 0)
        return;
    log_warn("peer", "cannot start a request to %s: %s; dropping %zu messages", p->url,
             kahuna_strerror(rc), p->inflight_frames);
    pthread_mutex_lock(&t->mu);
    p->busy = 0;
    t->st.msgs_dropped_failed += p->inflight_frames;
    t->st.batches_failed++;
    pthread_mutex_unlock(&t->mu);
    kbuf_reset(&p->inflight);
    p->backoff_ms = BACKOFF_MAX_MS;
    p->backoff_until_ms = clock_mono_ms() + p->backoff_ms;
}

static void msgs_finished(peer_transport *t, peer *p, CURLcode rc, long code)
{
    char why[ERR_BODY_KEEP + 160];
    const char *fail = xfer_failure(&p->mx, rc, code, why, sizeof why);
    size_t frames = p->inflight_frames;
    size_t bytes = p->inflight.len;
    uint64_t drops = 0;

    pthread_mutex_lock(&t->mu);
    p->busy = 0;
    if (fail) {
        t->st.msgs_dropped_failed += frames;
        t->st.batches_failed++;
    } else {
        t->st.msgs_sent += frames;
        t->st.bytes_sent += bytes;
        t->st.batches_sent++;
    }
    if (!fail && p->drop_logged) {
        drops = p->burst_drops;
        p->burst_drops = 0;
    }
    pthread_mutex_unlock(&t->mu);

    if (fail) {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS)
            p->backoff_ms = BACKOFF_MAX_MS;
        p->backoff_until_ms = clock_mono_ms() + p->backoff_ms;
        if (!p->failing)
            log_warn("peer", "cannot send to %s: %s; dropping messages and retrying (Raft resends)",
                     p->url, fail);
        p->failing = 1;
    } else {
        if (p->failing)
            log_info("peer", "%s answers again", p->url);
        p->failing = 0;
        p->backoff_ms = 0;
        p->backoff_until_ms = 0;
        if (p->drop_logged) {
            log_info("peer", "the queue to %s has room again; %" PRIu64 " messages were dropped",
                     p->url, drops);
            p->drop_logged = 0;
        }
    }
    if (p->inflight.cap > KEEP_BUFFER_MAX)
        kbuf_free(&p->inflight);
    else
        kbuf_reset(&p->inflight);
}

/* Reports and frees the running snapshot job of p. */
static void snap_finish(peer_transport *t, peer *p, int ok, const char *why)
{
    snap_job *j = p->snap;
    p->snap = NULL;
    pthread_mutex_lock(&t->mu);
    p->snap_busy = 0;
    if (ok) {
        t->st.snapshots_sent++;
    } else {
        t->st.snapshots_failed++;
    }
    pthread_mutex_unlock(&t->mu);
    if (ok)
        log_info("peer", "sent the snapshot at index %" PRIu64 " (%" PRIu64 " bytes) to %s in %" PRId64 " ms",
                 j->index, j->size, p->url, clock_mono_ms() - j->t0_ms);
    else
        log_warn("peer", "sending the snapshot at index %" PRIu64 " to %s failed: %s; the leader will retry",
                 j->index, p->url, why);
    node *n = atomic_load(&t->n);
    if (n)
        node_snapshot_status(n, j->to, ok);
    job_free(j);
}

static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        got += (size_t)r;
    }
    return 0;
}

/* Sends the next request of p's snapshot job. */
static void snap_next(peer_transport *t, peer *p)
{
    snap_job *j = p->snap;
    char why[256];
    kbuf_reset(&p->snap_url);
    int rc;
    if (j->phase == SNAP_CHUNK) {
        uint64_t left = j->size - j->offset;
        j->chunk_len = left < PEER_SNAPSHOT_CHUNK ? (size_t)left : PEER_SNAPSHOT_CHUNK;
        kbuf_reset(&j->chunk);
        if (kbuf_reserve(&j->chunk, j->chunk_len)) {
            snap_finish(t, p, 0, "out of memory");
            return;
        }
        int err = read_full(j->fd, j->chunk.data, j->chunk_len, j->offset);
        if (err) {
            snprintf(why, sizeof why, "cannot read %s: %s", j->path,
                     err == -EIO ? "the file is shorter than it was" : strerror(-err));
            snap_finish(t, p, 0, why);
            return;
        }
        j->chunk.len = j->chunk_len;
        rc = kbuf_printf(&p->snap_url,
                         "%s/raft/v1/snapshot/chunk?from=%" PRIu64 "&index=%" PRIu64 "&term=%" PRIu64
                         "&offset=%" PRIu64, p->url, j->from, j->index, j->term, j->offset);
        if (rc == 0)
            rc = xfer_start(t, &p->sx, kbuf_str(&p->snap_url), &j->chunk, t->timeout_ms);
    } else {
        int64_t tmo = t->timeout_ms > DONE_TIMEOUT_MIN_MS ? t->timeout_ms : DONE_TIMEOUT_MIN_MS;
        rc = kbuf_printf(&p->snap_url,
                         "%s/raft/v1/snapshot/done?from=%" PRIu64 "&index=%" PRIu64 "&term=%" PRIu64
                         "&size=%" PRIu64, p->url, j->from, j->index, j->term, j->size);
        if (rc == 0)
            rc = xfer_start(t, &p->sx, kbuf_str(&p->snap_url), &j->frame, tmo);
    }
    if (rc) {
        snprintf(why, sizeof why, "cannot start a request: %s", kahuna_strerror(rc));
        snap_finish(t, p, 0, why);
    }
}

static void snap_start(peer_transport *t, peer *p)
{
    snap_job *j = p->snap;
    char why[256];
    struct stat sb;
    j->t0_ms = clock_mono_ms();
    j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (j->fd < 0 || fstat(j->fd, &sb) != 0) {
        snprintf(why, sizeof why, "cannot open %s: %s", j->path, strerror(errno));
        snap_finish(t, p, 0, why);
        return;
    }
    j->size = (uint64_t)sb.st_size;
    j->offset = 0;
    j->phase = SNAP_CHUNK;    /* at least one chunk, even for an empty file */
    log_info("peer", "sending the snapshot at index %" PRIu64 " (%" PRIu64 " bytes) to %s",
             j->index, j->size, p->url);
    snap_next(t, p);
}

static void snap_finished(peer_transport *t, peer *p, CURLcode rc, long code)
{
    snap_job *j = p->snap;
    char why[ERR_BODY_KEEP + 160];
    const char *fail = xfer_failure(&p->sx, rc, code, why, sizeof why);
    if (!j)
        return;
    if (fail) {
        snap_finish(t, p, 0, fail);
        return;
    }
    if (j->phase == SNAP_DONE) {
        snap_finish(t, p, 1, NULL);
        return;
    }
    j->offset += j->chunk_len;
    pthread_mutex_lock(&t->mu);
    t->st.snapshot_bytes += j->chunk_len;
    pthread_mutex_unlock(&t->mu);
    if (j->offset >= j->size) {
        j->phase = SNAP_DONE;
        kbuf_free(&j->chunk);
    }
    snap_next(t, p);
}

/* Handles every finished transfer; returns how many there were. */
static int reap(peer_transport *t)
{
    int done = 0, left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(t->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        long code = 0;
        if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK)
            priv = NULL;
        xfer *x = (xfer *)priv;
        if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        curl_multi_remove_handle(t->multi, e);
        if (!x)
            continue;
        x->active = 0;
        done++;
        if (x->kind == X_MSGS)
            msgs_finished(t, x->p, rc, code);
        else
            snap_finished(t, x->p, rc, code);
    }
    return done;
}

static void *sender_main(void *arg)
{
    peer_transport *t = arg;
    for (;;) {
        int64_t now = clock_mono_ms();
        int64_t timeout = IDLE_POLL_MS;
        snap_job *reports;

        pthread_mutex_lock(&t->mu);
        if (t->stopping) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        reports = t->reports;
        t->reports = NULL;
        for (peer *p = t->peers; p; p = p->next) {
            if (!p->busy && p->queue.len > 0) {
                if (now >= p->backoff_until_ms) {
                    take_batch(p);
                    p->busy = 1;
                    p->to_start = 1;
                } else if (p->backoff_until_ms - now < timeout) {
                    timeout = p->backoff_until_ms - now;
                }
            }
            if (p->snap_new && !p->snap) {
                p->snap = p->snap_new;
                p->snap_new = NULL;
                p->snap->phase = 0;       /* to start below */
            }
            if (p->burst_drops > 0 && !p->drop_logged) {
                p->drop_logged = 1;
                p->drop_log_now = 1;      /* logged below, outside the lock */
            }
        }
        node *n = atomic_load(&t->n);
        for (snap_job *j = reports; j; j = j->next)
            t->st.snapshots_failed++;
        pthread_mutex_unlock(&t->mu);

        while (reports) {
            snap_job *j = reports;
            reports = j->next;
            if (n)
                node_snapshot_status(n, j->to, 0);
            job_free(j);
        }
        /* new peers are pushed at the head and none is freed before stop:
         * the list from head on is stable without the lock */
        pthread_mutex_lock(&t->mu);
        peer *head = t->peers;
        pthread_mutex_unlock(&t->mu);
        for (peer *p = head; p; p = p->next) {
            if (p->drop_log_now) {
                p->drop_log_now = 0;
                log_warn("peer", "the queue to %s is full: dropping messages (the peer is slow or down)",
                         p->url);
            }
            if (p->to_start) {
                p->to_start = 0;
                msgs_start(t, p);
            }
            if (p->snap && p->snap->phase == 0)
                snap_start(t, p);
        }

        int running = 0;
        CURLMcode mc = curl_multi_perform(t->multi, &running);
        if (mc != CURLM_OK)
            log_error("peer", "libcurl: %s", curl_multi_strerror(mc));
        if (reap(t) > 0)
            continue;    /* look at the queues again before sleeping */
        mc = curl_multi_poll(t->multi, NULL, 0, (int)(timeout > 0 ? timeout : 0), NULL);
        if (mc != CURLM_OK) {
            log_error("peer", "libcurl poll: %s", curl_multi_strerror(mc));
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- start and stop ---- */

static int secret_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            return 0;
    return 1;
}

static void transport_free(peer_transport *t)
{
    while (t->peers) {
        peer *p = t->peers;
        t->peers = p->next;
        xfer *xs[2] = {&p->mx, &p->sx};
        for (int i = 0; i < 2; i++) {
            if (xs[i]->easy) {
                if (xs[i]->active)
                    curl_multi_remove_handle(t->multi, xs[i]->easy);
                curl_easy_cleanup(xs[i]->easy);
            }
            kbuf_free(&xs[i]->resp);
        }
        job_free(p->snap);
        job_free(p->snap_new);
        kbuf_free(&p->queue);
        kbuf_free(&p->inflight);
        kbuf_free(&p->snap_url);
        free(p->msg_url);
        free(p->url);
        free(p);
    }
    while (t->reports) {
        snap_job *j = t->reports;
        t->reports = j->next;
        job_free(j);
    }
    if (t->multi)
        curl_multi_cleanup(t->multi);
    curl_slist_free_all(t->hdrs);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int peer_transport_start(const peer_options *o, peer_transport **out)
{
    if (!o || !secret_ok(o->secret))
        return KAHUNA_EBADREQ;
    peer_transport *t = calloc(1, sizeof *t);
    if (!t)
        return KAHUNA_ENOMEM;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return KAHUNA_EINTERNAL;
    }
    atomic_init(&t->n, NULL);
    t->queue_bytes = o->queue_bytes ? o->queue_bytes : PEER_DEFAULT_QUEUE_BYTES;
    t->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PEER_DEFAULT_TIMEOUT_MS;

    int rc = KAHUNA_ENOMEM;
    kbuf h = KBUF_INIT;
    struct curl_slist *l;
    if (kbuf_printf(&h, "X-Kahuna-Peer-Secret: %s", o->secret))
        goto fail;
    if (!(l = curl_slist_append(NULL, kbuf_str(&h))))
        goto fail;
    t->hdrs = l;
    if (!(l = curl_slist_append(t->hdrs, "Content-Type: application/octet-stream")))
        goto fail;
    if (!(l = curl_slist_append(t->hdrs, "Expect:")))
        goto fail;
    kbuf_free(&h);
    rc = KAHUNA_EINTERNAL;
    t->multi = curl_multi_init();
    if (!t->multi || curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTS) != CURLM_OK)
        goto fail;
    if (pthread_create(&t->thread, NULL, sender_main, t) != 0)
        goto fail;
    *out = t;
    return 0;
fail:
    kbuf_free(&h);
    transport_free(t);
    return rc;
}

void peer_transport_set_node(peer_transport *t, node *n)
{
    if (t)
        atomic_store(&t->n, n);
}

void peer_transport_stop(peer_transport *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stopping = 1;
    pthread_mutex_unlock(&t->mu);
    wake_thread(t);
    pthread_join(t->thread, NULL);
    transport_free(t);
}

static void bound_send(void *arg, const raft_msg *m, const char *url)
{
    peer_send(arg, m, url);
}

static void bound_send_snapshot(void *arg, const raft_msg *m, const char *url, const char *path)
{
    peer_send_snapshot(arg, m, url, path);
}

void peer_transport_bind(peer_transport *t, node_transport *out)
{
    out->arg = t;
    out->send = bound_send;
    out->send_snapshot = bound_send_snapshot;
}

void peer_transport_stats(peer_transport *t, peer_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    *out = t->st;
    pthread_mutex_unlock(&t->mu);
}
