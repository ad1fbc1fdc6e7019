/* peer.c: the incoming peer routes (/raft/v1/...): the secret check, Raft
 * message frames handed to the node, snapshot files received in chunks,
 * and requests forwarded by followers (see peer.h).
 *
 * Everything here comes from the network: frames are decoded by the codec,
 * which trusts nothing; query numbers are parsed strictly; the sender's id
 * becomes part of a file name only when it is [A-Za-z0-9._-]{1,64} without
 * "..", so it can never name another directory. Warnings about refused
 * requests are rate-limited (one line per kind every 10 s): a misconfigured
 * peer retries many times a second. */
#include "api/peer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "fsm/command.h"
#include "fsm/fsm.h"
#include "peer/rpc.h"
#include "raft/codec.h"

#define PEER_ID_MAX 64
#define WARN_EVERY_MS 10000

/* Serialises the snapshot file operations (chunks may arrive on any worker). */
static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;

enum { WARN_SECRET, WARN_FRAMES, WARN_CLUSTER, WARN_SNAPSHOT, WARN_FORWARD, WARN_KINDS };
static _Atomic int64_t last_warn_ms[WARN_KINDS];

static int warn_due(int kind)
{
    int64_t now = clock_mono_ms();
    int64_t last = atomic_load(&last_warn_ms[kind]);
    if (last && now - last < WARN_EVERY_MS)
        return 0;
    return atomic_compare_exchange_strong(&last_warn_ms[kind], &last, now ? now : 1);
}

/* ---- routes and admission ---- */

api_peer_route api_peer_route_of(const char *path)
{
    if (!path || strncmp(path, "/raft/", 6) != 0)
        return API_PEER_NONE;
    if (strcmp(path, "/raft/v1/messages") == 0)
        return API_PEER_MESSAGES;
    if (strcmp(path, "/raft/v1/snapshot/chunk") == 0)
        return API_PEER_SNAPSHOT_CHUNK;
    if (strcmp(path, "/raft/v1/snapshot/done") == 0)
        return API_PEER_SNAPSHOT_DONE;
    if (strcmp(path, "/raft/v1/forward") == 0)
        return API_PEER_FORWARD;
    if (strcmp(path, "/raft/v1/test/block") == 0)
        return API_PEER_TEST_BLOCK;
    return API_PEER_UNKNOWN;
}

int api_peer_secret_ok(const char *secret, const char *given)
{
    if (!secret || !*secret || !given)
        return 0;
    size_t ls = strlen(secret), lg = strlen(given);
    volatile unsigned char diff = ls != lg;
    for (size_t i = 0; i < lg; i++)
        diff |= (unsigned char)((unsigned char)given[i] ^ (unsigned char)secret[i % ls]);
    return diff == 0;
}

void api_peer_error(api_reply *out, int http_status, const char *code, const char *message)
{
    jw w;
    api_reply_json(out, http_status, &w);
    jw_obj_open(&w, NULL);
    jw_obj_open(&w, "error");
    jw_str(&w, "code", code);
    jw_str(&w, "message", message);
    jw_obj_close(&w);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
}

/* An error answer for a KAHUNA_E* status, with the API's usual code. */
static void status_error(api_reply *out, int status, const char *message)
{
    api_peer_error(out, kahuna_http_status(status), kahuna_error_name(status),
                   message ? message : kahuna_strerror(status));
}

static void errorf(api_reply *out, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void errorf(api_reply *out, int http_status, const char *code, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_peer_error(out, http_status, code, msg);
}

int api_peer_admit(const char *secret, const char *given, kbytes method, api_peer_route route,
                   int body_over, const char *client, api_reply *out)
{
    if (!secret || !*secret) {
        if (warn_due(WARN_SECRET))
            log_warn("peer", "refused a peer request from %s: this node has no peer secret "
                     "(start kahunad with --peer-secret to join a cluster)", client);
        api_peer_error(out, 403, "forbidden",
                       "this node refuses peer requests: it was started without a peer secret; "
                       "start kahunad with --peer-secret (the same on every node)");
        return 1;
    }
    if (!api_peer_secret_ok(secret, given)) {
        if (warn_due(WARN_SECRET))
            log_warn("peer", "refused a peer request from %s: %s %s", client,
                     given ? "wrong" : "no", API_PEER_SECRET_HEADER " (every node needs the same --peer-secret)");
        api_peer_error(out, 403, "forbidden",
                       given ? "wrong " API_PEER_SECRET_HEADER ": every node of a cluster must be "
                               "started with the same --peer-secret"
                             : "missing " API_PEER_SECRET_HEADER " header: peer routes are for kahuna nodes");
        return 1;
    }
    if (!kbytes_eq(method, kbytes_str("POST"))) {
        api_peer_error(out, 405, "bad_request", "peer routes take POST only");
        out->allow = "POST";
        return 1;
    }
    if (route == API_PEER_UNKNOWN || route == API_PEER_NONE) {
        api_peer_error(out, 404, "not_found",
                       "no such peer route (this node speaks /raft/v1/messages, /raft/v1/snapshot/chunk, "
                       "/raft/v1/snapshot/done and /raft/v1/forward)");
        return 1;
    }
    if (body_over) {
        api_peer_error(out, 413, "too_large", "the peer request body is over the limit of 9 MiB");
        return 1;
    }
    return 0;
}

/* ---- query arguments ---- */

/* The value of the one argument called name: 0, KAHUNA_ENOTFOUND when it
 * is absent, KAHUNA_EBADREQ when it has no value or appears twice. */
static int arg_get(const req_arg *args, size_t nargs, const char *name, kbytes *out)
{
    size_t nl = strlen(name);
    int found = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].name_len != nl || memcmp(args[i].name, name, nl) != 0)
            continue;
        if (found || !args[i].value)
            return KAHUNA_EBADREQ;
        *out = kbytes_make(args[i].value, args[i].value_len);
        found = 1;
    }
    return found ? 0 : KAHUNA_ENOTFOUND;
}

/* Decimal digits only, 1..20 of them, no overflow. */
static int parse_u64(kbytes b, uint64_t *out)
{
    if (b.n == 0 || b.n > 20)
        return KAHUNA_EBADREQ;
    uint64_t v = 0;
    for (size_t i = 0; i < b.n; i++) {
        if (b.p[i] < '0' || b.p[i] > '9')
            return KAHUNA_EBADREQ;
        unsigned d = (unsigned)(b.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return KAHUNA_EBADREQ;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int is_id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* A node id or decimal Raft id, safe inside a file name. */
static int from_ok(kbytes b)
{
    if (b.n == 0 || b.n > PEER_ID_MAX)
        return 0;
    for (size_t i = 0; i < b.n; i++) {
        if (!is_id_char(b.p[i]))
            return 0;
        if (b.p[i] == '.' && i + 1 < b.n && b.p[i + 1] == '.')
            return 0;
    }
    return 1;
}

typedef struct snap_args {
    char from[PEER_ID_MAX + 1];
    uint64_t index, term;
    uint64_t num;             /* offset (chunk) or size (done) */
} snap_args;

/* Parses from, index, term and numname; 0, or 1 with a 400 in out. */
static int snap_args_get(const req_arg *args, size_t nargs, const char *numname, snap_args *sa,
                         api_reply *out)
{
    const char *names[4] = {"from", "index", "term", numname};
    kbytes v[4];
    for (int i = 0; i < 4; i++) {
        int rc = arg_get(args, nargs, names[i], &v[i]);
        if (rc == KAHUNA_ENOTFOUND) {
            errorf(out, 400, "bad_request", "query argument %s is missing", names[i]);
            return 1;
        }
        if (rc) {
            errorf(out, 400, "bad_request", "query argument %s must appear once, with a value", names[i]);
            return 1;
        }
    }
    if (!from_ok(v[0])) {
        api_peer_error(out, 400, "bad_request",
                       "query argument from must be a node id: 1 to 64 of A-Z a-z 0-9 . _ - (no \"..\")");
        return 1;
    }
    memcpy(sa->from, v[0].p, v[0].n);
    sa->from[v[0].n] = '\0';
    uint64_t *dst[3] = {&sa->index, &sa->term, &sa->num};
    for (int i = 1; i < 4; i++) {
        if (parse_u64(v[i], dst[i - 1])) {
            errorf(out, 400, "bad_request", "query argument %s must be a decimal number (0..2^64-1)", names[i]);
            return 1;
        }
    }
    if (sa->index == 0 || sa->term == 0) {
        api_peer_error(out, 400, "bad_request", "query arguments index and term must be positive");
        return 1;
    }
    if (sa->num > (uint64_t)INT64_MAX) {
        errorf(out, 400, "bad_request", "query argument %s is out of range", numname);
        return 1;
    }
    return 0;
}

/* ---- frames ---- */

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The cluster id to decode body with: the node's, or, while the node has
 * none yet (a joining node never contacted), the first frame's (*adopt =
 * 1: adopt it once a frame decoded with it). 0, or 1 with a 400 in out. */
static int frame_cluster_id(node *n, kbytes body, uint64_t *cid, int *adopt, api_reply *out)
{
    *adopt = 0;
    *cid = node_cluster_id(n);
    if (*cid)
        return 0;
    if (body.n < RAFT_CODEC_HEADER) {
        api_peer_error(out, 400, "bad_request", "truncated frame: shorter than its 24-byte header");
        return 1;
    }
    *cid = be64(body.p + 8);
    if (*cid == 0) {
        api_peer_error(out, 400, "bad_request", "the frame carries cluster id 0");
        return 1;
    }
    *adopt = 1;
    return 0;
}

/* After a frame decoded with an adopted id: 0, or 1 with the answer in out. */
static int adopt(node *n, uint64_t cid, const char *client, api_reply *out)
{
    int rc = node_adopt_cluster_id(n, cid);
    if (rc == KAHUNA_EMISMATCH) {
        api_peer_error(out, 409, "wrong_cluster", "this node already belongs to another cluster");
        return 1;
    }
    if (rc) {
        status_error(out, rc, "cannot store the cluster id");
        return 1;
    }
    log_info("peer", "joined cluster %016" PRIx64 " (first contact from %s)", cid, client);
    return 0;
}

/* The answer for a frame that does not decode. */
static void frame_error(int rc, size_t k, size_t delivered, const char *client, api_reply *out)
{
    if (rc == KAHUNA_EMISMATCH) {
        if (warn_due(WARN_CLUSTER))
            log_warn("peer", "refused Raft messages from %s: they belong to another cluster "
                     "(is that node's data dir from another cluster?)", client);
        errorf(out, 409, "wrong_cluster",
               "frame %zu carries another cluster id than this node's: it belongs to another cluster", k);
        return;
    }
    if (rc == KAHUNA_ENOMEM) {
        status_error(out, rc, NULL);
        return;
    }
    if (warn_due(WARN_FRAMES))
        log_warn("peer", "refused a bad Raft message frame from %s (frame %zu, %zu delivered before it): %s",
                 client, k, delivered, rc == KAHUNA_ETOOLARGE ? "too large" : "malformed, truncated or bad CRC");
    if (rc == KAHUNA_ETOOLARGE)
        errorf(out, 413, "too_large", "frame %zu is over the 8 MiB limit", k);
    else
        errorf(out, 400, "bad_request",
               "frame %zu is malformed, truncated or fails its CRC (%zu frames before it were delivered)",
               k, delivered);
}

static void serve_messages(node *n, kbytes body, const char *client, api_reply *out)
{
    uint64_t cid;
    int need_adopt;
    if (body.n > 0 && frame_cluster_id(n, body, &cid, &need_adopt, out))
        return;
    size_t off = 0, k = 0;
    while (off < body.n) {
        raft_msg m;
        size_t used = 0;
        int rc = raft_codec_decode(body.p + off, body.n - off, cid, API_PEER_MAX_BODY, &m, &used);
        if (rc) {
            frame_error(rc, k, k, client, out);
            return;
        }
        if (need_adopt) {
            if (adopt(n, cid, client, out)) {
                raft_msg_free(&m);
                return;
            }
            need_adopt = 0;
        }
        node_receive(n, &m);
        raft_msg_free(&m);
        off += used;
        k++;
    }
    out->http_status = 204;
    kbuf_reset(out->body);
}

/* ---- snapshots ---- */

static int snap_path(node *n, const snap_args *sa, kbuf *path, api_reply *out)
{
    const char *dir = node_snapshot_dir(n);
    if (!dir || !*dir) {
        api_peer_error(out, 503, "unavailable", "this node cannot receive snapshots now");
        return 1;
    }
    if (kbuf_printf(path, "%s/recv-%s-%" PRIu64 "-%" PRIu64 ".part", dir, sa->from, sa->index, sa->term)) {
        status_error(out, KAHUNA_ENOMEM, NULL);
        return 1;
    }
    return 0;
}

/* 1 when name is "recv-FROM-DIGITS-DIGITS.part" for this FROM. */
static int is_part_of(const char *name, const char *from)
{
    size_t fl = strlen(from);
    if (strncmp(name, "recv-", 5) != 0 || strncmp(name + 5, from, fl) != 0 || name[5 + fl] != '-')
        return 0;
    const char *p = name + 6 + fl;
    for (int field = 0; field < 2; field++) {
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (field == 0 && *p++ != '-')
            return 0;
    }
    return strcmp(p, ".part") == 0;
}

/* A new transfer from this sender: its older partial files go. */
static void remove_stale_parts(const char *dir, const char *from, const char *keep_name)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    kbuf p = KBUF_INIT;
    while ((e = readdir(d))) {
        if (!is_part_of(e->d_name, from) || strcmp(e->d_name, keep_name) == 0)
            continue;
        kbuf_reset(&p);
        if (kbuf_printf(&p, "%s/%s", dir, e->d_name) == 0 && unlink(kbuf_str(&p)) == 0)
            log_info("peer", "removed the unfinished snapshot %s", kbuf_str(&p));
    }
    kbuf_free(&p);
    closedir(d);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        done += (size_t)w;
    }
    return 0;
}

static void serve_chunk(node *n, const req_arg *args, size_t nargs, kbytes body, const char *client,
                        api_reply *out)
{
    snap_args sa;
    kbuf path = KBUF_INIT;
    if (snap_args_get(args, nargs, "offset", &sa, out) || snap_path(n, &sa, &path, out)) {
        kbuf_free(&path);
        return;
    }
    if ((uint64_t)INT64_MAX - sa.num < body.n) {
        api_peer_error(out, 400, "bad_request", "offset + chunk length is out of range");
        kbuf_free(&path);
        return;
    }
    pthread_mutex_lock(&snap_mu);
    int fd;
    if (sa.num == 0) {
        const char *dir = node_snapshot_dir(n);
        const char *name = strrchr(kbuf_str(&path), '/') + 1;
        remove_stale_parts(dir, sa.from, name);
        fd = open(kbuf_str(&path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 && errno == ENOENT && mkdir(dir, 0700) == 0)
            fd = open(kbuf_str(&path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    } else {
        fd = open(kbuf_str(&path), O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            pthread_mutex_unlock(&snap_mu);
            errorf(out, 409, "wrong_offset",
                   "no transfer of this snapshot is in progress: start again at offset 0");
            kbuf_free(&path);
            return;
        }
    }
    if (fd < 0) {
        int e = errno;
        pthread_mutex_unlock(&snap_mu);
        log_error("peer", "cannot write the snapshot file %s: %s; check the data dir", kbuf_str(&path),
                  strerror(e));
        status_error(out, KAHUNA_EIO, "cannot write the snapshot file");
        kbuf_free(&path);
        return;
    }
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = -errno;
    } else if ((uint64_t)sb.st_size != sa.num) {
        close(fd);
        pthread_mutex_unlock(&snap_mu);
        errorf(out, 409, "wrong_offset", "offset %" PRIu64 " does not follow the %" PRIu64
               " bytes received: start again at offset 0", sa.num, (uint64_t)sb.st_size);
        kbuf_free(&path);
        return;
    } else {
        rc = write_all(fd, body.p, body.n, sa.num);
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    pthread_mutex_unlock(&snap_mu);
    if (rc) {
        log_error("peer", "cannot write the snapshot file %s (chunk from %s): %s; check the disk",
                  kbuf_str(&path), client, strerror(-rc));
        unlink(kbuf_str(&path));
        status_error(out, KAHUNA_EIO, "cannot write the snapshot file");
    } else {
        out->http_status = 204;
        kbuf_reset(out->body);
    }
    kbuf_free(&path);
}

/* Refuses a received snapshot: 400, the file goes. Under snap_mu. */
static void refuse_snapshot(const char *path, const char *client, api_reply *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse_snapshot(const char *path, const char *client, api_reply *out, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unlink(path);
    if (warn_due(WARN_SNAPSHOT))
        log_warn("peer", "refused the snapshot from %s: %s", client, msg);
    api_peer_error(out, 400, "bad_request", msg);
}

static void serve_done(node *n, const req_arg *args, size_t nargs, kbytes body, const char *client,
                       api_reply *out)
{
    snap_args sa;
    kbuf pathb = KBUF_INIT;
    if (snap_args_get(args, nargs, "size", &sa, out) || snap_path(n, &sa, &pathb, out)) {
        kbuf_free(&pathb);
        return;
    }
    const char *path = kbuf_str(&pathb);
    raft_msg m;
    memset(&m, 0, sizeof m);

    pthread_mutex_lock(&snap_mu);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        pthread_mutex_unlock(&snap_mu);
        if (e == ENOENT) {
            api_peer_error(out, 400, "bad_request", "no chunk of this snapshot was received");
        } else {
            log_error("peer", "cannot open the snapshot file %s: %s", path, strerror(e));
            status_error(out, KAHUNA_EIO, "cannot read the snapshot file");
        }
        kbuf_free(&pathb);
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        pthread_mutex_unlock(&snap_mu);
        log_error("peer", "cannot sync the snapshot file %s: %s; check the disk", path, strerror(e));
        status_error(out, KAHUNA_EIO, "cannot sync the snapshot file");
        kbuf_free(&pathb);
        return;
    }
    close(fd);
    if ((uint64_t)sb.st_size != sa.num) {
        refuse_snapshot(path, client, out, "truncated snapshot: %" PRIu64 " of %" PRIu64 " bytes received",
                        (uint64_t)sb.st_size, sa.num);
        goto out;
    }

    uint64_t cid;
    int need_adopt;
    size_t used = 0;
    if (frame_cluster_id(n, body, &cid, &need_adopt, out)) {
        unlink(path);
        goto out;
    }
    int rc = raft_codec_decode(body.p, body.n, cid, API_PEER_MAX_BODY, &m, &used);
    if (rc == KAHUNA_EMISMATCH) {
        unlink(path);
        frame_error(rc, 0, 0, client, out);
        goto out;
    }
    if (rc) {
        refuse_snapshot(path, client, out, "the SNAPSHOT frame is malformed, truncated or fails its CRC");
        goto out;
    }
    if (used != body.n) {
        refuse_snapshot(path, client, out, "the body must be exactly one SNAPSHOT frame");
        goto out;
    }
    if (m.type != RAFT_MSG_SNAPSHOT) {
        refuse_snapshot(path, client, out, "the frame is a %s message, not SNAPSHOT", raft_msg_type_name(m.type));
        goto out;
    }
    if (m.snapshot.index != sa.index || m.snapshot.term != sa.term) {
        refuse_snapshot(path, client, out,
                        "the frame's snapshot (index %" PRIu64 ", term %" PRIu64 ") is not the one sent (index %"
                        PRIu64 ", term %" PRIu64 ")", m.snapshot.index, m.snapshot.term, sa.index, sa.term);
        goto out;
    }
    uint64_t idx = 0;
    rc = fsm_snapshot_check(path, &idx);
    if (rc) {
        refuse_snapshot(path, client, out, "the file is not a complete kahuna state snapshot (%s)",
                        rc == KAHUNA_EBADREQ ? "damaged, truncated or of another format" : kahuna_strerror(rc));
        goto out;
    }
    if (idx != m.snapshot.index) {
        refuse_snapshot(path, client, out, "the file is a snapshot at index %" PRIu64 ", not %" PRIu64,
                        idx, m.snapshot.index);
        goto out;
    }
    if (need_adopt && adopt(n, cid, client, out)) {
        unlink(path);
        goto out;
    }
    log_info("peer", "received the snapshot at index %" PRIu64 " (term %" PRIu64 ", %" PRIu64 " bytes) from %s",
             sa.index, sa.term, sa.num, client);
    node_receive_snapshot(n, &m, path);
    out->http_status = 204;
    kbuf_reset(out->body);
out:
    pthread_mutex_unlock(&snap_mu);
    raft_msg_free(&m);
    kbuf_free(&pathb);
}

/* POST /raft/v1/test/block: the test-only fault switch (node_set_blocked),
 * on only when kahunad runs with KAHUNA_TEST_FAULTS=1. */
static void serve_test_block(node *n, kbytes body, api_reply *out)
{
    const char *on = getenv("KAHUNA_TEST_FAULTS");
    if (!on || strcmp(on, "1") != 0) {
        api_peer_error(out, 404, "not_found", "the test fault switch is off (it is for tests: start "
                       "kahunad with KAHUNA_TEST_FAULTS=1)");
        return;
    }
    char *ids = malloc(body.n + 1);
    if (!ids) {
        api_peer_error(out, 500, "internal", "out of memory");
        return;
    }
    if (body.n)
        memcpy(ids, body.p, body.n);
    ids[body.n] = '\0';
    ids[strcspn(ids, "\r\n")] = '\0';
    int rc = body.n && memchr(body.p, '\0', body.n) ? KAHUNA_EBADREQ : node_set_blocked(n, ids);
    free(ids);
    if (rc == KAHUNA_EBADREQ)
        api_peer_error(out, 400, "bad_request", "the body is a comma-separated list of node ids");
    else if (rc)
        api_peer_error(out, 500, "internal", "out of memory");
    else
        out->http_status = 204;
}

void api_peer_serve(node *n, api_peer_route route, const req_arg *args, size_t nargs, kbytes body,
                    const char *client, api_reply *out)
{
    out->content_type = API_JSON;
    switch (route) {
    case API_PEER_MESSAGES:
        serve_messages(n, body, client, out);
        break;
    case API_PEER_SNAPSHOT_CHUNK:
        serve_chunk(n, args, nargs, body, client, out);
        break;
    case API_PEER_SNAPSHOT_DONE:
        serve_done(n, args, nargs, body, client, out);
        break;
    case API_PEER_TEST_BLOCK:
        serve_test_block(n, body, out);
        break;
    default:
        api_peer_error(out, 404, "not_found", "no such peer route");
    }
}

/* ---- forwarded requests ---- */

/* 1 when b can be a node id (empty allowed when may_be_empty). */
static int id_ok(kbytes b, int may_be_empty)
{
    if (b.n == 0)
        return may_be_empty;
    if (b.n > PEER_ID_MAX)
        return 0;
    for (size_t i = 0; i < b.n; i++)
        if (!is_id_char(b.p[i]))
            return 0;
    return 1;
}

static int url_ok(kbytes b)
{
    if (b.n == 0 || b.n > 511)
        return 0;
    for (size_t i = 0; i < b.n; i++)
        if (b.p[i] <= ' ' || b.p[i] >= 0x7f)
            return 0;
    return 1;
}

int api_peer_forward_start(node *n, kbytes body, kbuf *scratch, int (*alive)(void *arg),
                           node_done_fn done, node_admin_fn admin_done, void *arg, api_reply *out)
{
    rpc_request rq;
    int rc = rpc_request_decode(body, &rq);
    if (rc) {
        if (warn_due(WARN_FORWARD))
            log_warn("peer", "refused a malformed forwarded request");
        api_peer_error(out, 400, "bad_request", "the forwarded request is malformed");
        return 1;
    }
    if (rq.op == RPC_PROPOSE) {
        command cmd;
        rc = cmd_decode(rq.a.p, rq.a.n, &cmd);
        if (rc) {
            status_error(out, rc, "the forwarded command does not decode");
            return 1;
        }
        if (rq.wait_ms < 0 || rq.wait_ms > REQ_MAX_WAIT_MS) {
            api_peer_error(out, 400, "bad_request", "the forwarded wait_ms is out of range");
            return 1;
        }
        if (cmd.type == CMD_SEQ_NEXT)
            cmd.now_ms = clock_wall_ms();      /* the leader's clock, as for its own clients */
        node_submit(n, &cmd, rq.wait_ms, alive, NODE_NO_FORWARD, done, arg);
        return 0;
    }
    int op;
    switch (rq.op) {
    case RPC_ADMIN_ADD: op = NODE_ADMIN_ADD; break;
    case RPC_ADMIN_REMOVE: op = NODE_ADMIN_REMOVE; break;
    case RPC_ADMIN_TRANSFER: op = NODE_ADMIN_TRANSFER; break;
    default:
        api_peer_error(out, 400, "bad_request", "unknown forwarded operation");
        return 1;
    }
    if (!id_ok(rq.a, op == NODE_ADMIN_TRANSFER) || (op == NODE_ADMIN_ADD && !url_ok(rq.b)) ||
        (op != NODE_ADMIN_ADD && rq.b.n)) {
        api_peer_error(out, 400, "bad_request", "the forwarded member id or URL is malformed");
        return 1;
    }
    /* "id\0url\0" in scratch, which outlives the node's use */
    kbuf_reset(scratch);
    if (kbuf_append(scratch, rq.a.p, rq.a.n) || kbuf_append_byte(scratch, 0) ||
        kbuf_append(scratch, rq.b.p, rq.b.n) || kbuf_append_byte(scratch, 0)) {
        status_error(out, KAHUNA_ENOMEM, NULL);
        return 1;
    }
    const char *id = (const char *)scratch->data;
    const char *url = id + rq.a.n + 1;
    node_admin(n, op, id, op == NODE_ADMIN_ADD ? url : NULL, NODE_NO_FORWARD, admin_done, arg);
    return 0;
}

int api_peer_forward_encode(const fsm_result *res, kbuf *out)
{
    kbuf_reset(out);
    return rpc_result_encode(res, out);
}
