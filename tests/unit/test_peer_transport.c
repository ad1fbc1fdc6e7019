/* test_peer_transport.c: unit tests of the peer network edge of Raft.
 *
 * The sender (daemon/peer/transport.c) runs against a recording
 * libmicrohttpd server inside the test, which can hold requests at a gate
 * (a slow peer) or answer errors. The incoming /raft/ routes
 * (daemon/api/peer.c through daemon/api/http.c) run in the real API server
 * over a stand-in node: every node.h function is a test double here that
 * records what the routes hand it. Snapshot files are real snapshots
 * (fsm_snapshot_create of a state database that applied a few NOOPs),
 * checked on arrival by the real fsm_snapshot_check. */
#include "api/http.h"
#include "api/peer.h"
#include "clock.h"
#include "errors.h"
#include "fsm/command.h"
#include "fsm/fsm.h"
#include "httpc.h"
#include "peer/rpc.h"
#include "peer/transport.h"
#include "raft/codec.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SECRET "s3cret-peer"
#define CID 0x1234abcd5678ef01ull
#define DEADLINE_MS 10000

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls cond until it holds or DEADLINE_MS pass; returns whether it held. */
static int wait_until(int (*cond)(void))
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (!cond()) {
        if (clock_mono_ms() > end)
            return 0;
        sleep_ms(2);
    }
    return 1;
}

/* ==== the stand-in node ================================================= */

typedef struct report {
    uint64_t to;
    int ok;
} report;

static struct fake {
    pthread_mutex_t mu;
    _Atomic uint64_t cluster_id;
    raft_msg *msgs;
    size_t nmsgs, cap;
    size_t nsnaps;
    raft_msg snap_msg;
    kbuf snap_bytes;
    report reports[64];
    size_t nreports;
    size_t nsubmits;
    uint8_t submit_type;
    int submit_flags;
    int64_t submit_wait;
    char submit_key[64];
    int64_t submit_now_ms;
    int submit_async;                  /* keep done for complete_pending() */
    node_done_fn pending_done;
    void *pending_arg;
    size_t nadmins;
    int admin_op, admin_flags, admin_status;
    char admin_id[80], admin_url[512];
    int admin_url_null;
    char snapdir[256];
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define FAKE ((node *)&fk)

static void fake_reset(const char *snapdir)
{
    pthread_mutex_lock(&fk.mu);
    for (size_t i = 0; i < fk.nmsgs; i++)
        raft_msg_free(&fk.msgs[i]);
    free(fk.msgs);
    raft_msg_free(&fk.snap_msg);
    kbuf_free(&fk.snap_bytes);
    fk.msgs = NULL;
    fk.nmsgs = fk.cap = fk.nsnaps = fk.nreports = fk.nsubmits = fk.nadmins = 0;
    fk.submit_async = 0;
    fk.pending_done = NULL;
    fk.admin_status = 0;
    atomic_store(&fk.cluster_id, CID);
    snprintf(fk.snapdir, sizeof fk.snapdir, "%s", snapdir ? snapdir : "");
    pthread_mutex_unlock(&fk.mu);
}

static size_t fake_nmsgs(void)
{
    pthread_mutex_lock(&fk.mu);
    size_t n = fk.nmsgs;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

uint64_t node_raft_id(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h ? h : 1;
}
int node_start(const node_config *cfg, node **out) { (void)cfg; *out = FAKE; return 0; }
int node_data_dir_owner(const char *data_dir, char **owner) { (void)data_dir; *owner = NULL; return KAHUNA_ENOTFOUND; }
void node_stop(node *n) { (void)n; }
void node_free(node *n) { (void)n; }

void node_propose(node *n, const command *cmd, node_done_fn done, void *arg)
{
    fsm_result r;
    (void)n;
    (void)cmd;
    memset(&r, 0, sizeof r);
    r.status = KAHUNA_EUNAVAILABLE;
    done(arg, &r);
}

void node_lock_acquire(node *n, const command *cmd, int64_t wait_ms, int (*alive)(void *arg),
                       node_done_fn done, void *arg)
{
    (void)wait_ms;
    (void)alive;
    node_propose(n, cmd, done, arg);
}

void node_read_barrier(node *n, node_read_fn done, void *arg) { (void)n; done(arg, KAHUNA_EUNAVAILABLE); }
fsm_reader *node_reader(node *n) { (void)n; return NULL; }
int64_t node_ttl_remaining(node *n, int kind, kbytes name, int64_t generation)
{
    (void)n; (void)kind; (void)name; (void)generation;
    return -1;
}

void node_get_status(node *n, node_status *out)
{
    (void)n;
    memset(out, 0, sizeof *out);
    out->node_id = "n1";
    snprintf(out->leader_id, sizeof out->leader_id, "n1");
    out->is_leader = 1;
    out->role = RAFT_LEADER;
    out->term = 3;
}

int node_ready(node *n) { (void)n; return 1; }

void node_submit(node *n, const command *cmd, int64_t wait_ms, int (*alive)(void *arg), int flags,
                 node_done_fn done, void *arg)
{
    (void)n;
    (void)alive;
    pthread_mutex_lock(&fk.mu);
    fk.nsubmits++;
    fk.submit_type = cmd->type;
    fk.submit_flags = flags;
    fk.submit_wait = wait_ms;
    fk.submit_now_ms = cmd->now_ms;
    size_t kl = cmd->key.n < sizeof fk.submit_key - 1 ? cmd->key.n : sizeof fk.submit_key - 1;
    memcpy(fk.submit_key, cmd->key.p, kl);
    fk.submit_key[kl] = '\0';
    int async = fk.submit_async;
    if (async) {
        fk.pending_done = done;
        fk.pending_arg = arg;
    }
    pthread_mutex_unlock(&fk.mu);
    if (async)
        return;
    fsm_result r;
    memset(&r, 0, sizeof r);
    r.revision = 42;
    r.version = 2;
    r.create_revision = 41;
    r.owner = "holder";
    done(arg, &r);
}

/* Answers the proposal kept by an async node_submit, from this thread. */
static void complete_pending(int64_t revision)
{
    pthread_mutex_lock(&fk.mu);
    node_done_fn done = fk.pending_done;
    void *arg = fk.pending_arg;
    fk.pending_done = NULL;
    pthread_mutex_unlock(&fk.mu);
    ck_assert_ptr_nonnull(done);
    fsm_result r;
    memset(&r, 0, sizeof r);
    r.revision = revision;
    done(arg, &r);
}

static int pending_is_set(void)
{
    pthread_mutex_lock(&fk.mu);
    int set = fk.pending_done != NULL;
    pthread_mutex_unlock(&fk.mu);
    return set;
}

void node_receive(node *n, raft_msg *m)
{
    (void)n;
    pthread_mutex_lock(&fk.mu);
    if (fk.nmsgs == fk.cap) {
        fk.cap = fk.cap ? fk.cap * 2 : 64;
        fk.msgs = realloc(fk.msgs, fk.cap * sizeof *fk.msgs);
        ck_assert_ptr_nonnull(fk.msgs);
    }
    fk.msgs[fk.nmsgs++] = *m;
    memset(m, 0, sizeof *m);
    pthread_mutex_unlock(&fk.mu);
}

void node_receive_snapshot(node *n, raft_msg *m, const char *path)
{
    (void)n;
    pthread_mutex_lock(&fk.mu);
    raft_msg_free(&fk.snap_msg);
    fk.snap_msg = *m;
    memset(m, 0, sizeof *m);
    kbuf_reset(&fk.snap_bytes);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        ck_assert_int_eq(kbuf_append(&fk.snap_bytes, buf, got), 0);
    fclose(f);
    unlink(path);                      /* the node takes the file */
    fk.nsnaps++;
    pthread_mutex_unlock(&fk.mu);
}

void node_snapshot_status(node *n, uint64_t to, int ok)
{
    (void)n;
    pthread_mutex_lock(&fk.mu);
    if (fk.nreports < 64)
        fk.reports[fk.nreports++] = (report){to, ok};
    pthread_mutex_unlock(&fk.mu);
}

static size_t fake_nreports(void)
{
    pthread_mutex_lock(&fk.mu);
    size_t n = fk.nreports;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

uint64_t node_cluster_id(node *n) { (void)n; return atomic_load(&fk.cluster_id); }

int node_adopt_cluster_id(node *n, uint64_t id)
{
    (void)n;
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong(&fk.cluster_id, &zero, id))
        return 0;
    return zero == id ? 0 : KAHUNA_EMISMATCH;
}

const char *node_snapshot_dir(node *n) { (void)n; return fk.snapdir; }

void node_admin(node *n, int op, const char *id, const char *url, int flags, node_admin_fn done, void *arg)
{
    (void)n;
    pthread_mutex_lock(&fk.mu);
    fk.nadmins++;
    fk.admin_op = op;
    fk.admin_flags = flags;
    snprintf(fk.admin_id, sizeof fk.admin_id, "%s", id ? id : "(null)");
    fk.admin_url_null = url == NULL;
    snprintf(fk.admin_url, sizeof fk.admin_url, "%s", url ? url : "");
    int status = fk.admin_status;
    pthread_mutex_unlock(&fk.mu);
    done(arg, status);
}

int node_set_blocked(node *n, const char *ids) { (void)n; (void)ids; return 0; }

int node_members(node *n, node_member **out, size_t *count)
{
    (void)n;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return KAHUNA_ENOMEM;
    snprintf((*out)->id, sizeof (*out)->id, "n1");
    snprintf((*out)->url, sizeof (*out)->url, "http://127.0.0.1:1");
    (*out)->voter = 1;
    (*out)->is_leader = 1;
    (*out)->is_self = 1;
    *count = 1;
    return 0;
}

/* ==== helpers: frames, files, ports ===================================== */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kahuna-peer-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    if (!d)
        return 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* An APPEND from 1 to 2 whose index is i, with one entry of len bytes. */
static void make_append(raft_msg *m, uint64_t i, size_t len)
{
    memset(m, 0, sizeof *m);
    m->type = RAFT_MSG_APPEND;
    m->from = 1;
    m->to = 2;
    m->term = 1;
    m->index = i;
    m->log_term = 1;
    m->commit = i;
    m->entries = calloc(1, sizeof *m->entries);
    ck_assert_ptr_nonnull(m->entries);
    m->n_entries = 1;
    m->entries[0].index = i + 1;
    m->entries[0].term = 1;
    m->entries[0].type = RAFT_ENTRY_COMMAND;
    m->entries[0].len = len;
    m->entries[0].data = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(m->entries[0].data);
    memset(m->entries[0].data, (int)('a' + i % 26), len);
}

static void encode_append(kbuf *out, uint64_t i, uint64_t cid)
{
    raft_msg m;
    make_append(&m, i, 16);
    ck_assert_int_eq(raft_codec_encode(&m, cid, out), 0);
    raft_msg_free(&m);
}

/* A SNAPSHOT message from 1 to 2 at (index, term) with a one-voter config. */
static void make_snapshot_msg(raft_msg *m, uint64_t index, uint64_t term)
{
    memset(m, 0, sizeof *m);
    m->type = RAFT_MSG_SNAPSHOT;
    m->from = 1;
    m->to = 2;
    m->term = term;
    m->snapshot.index = index;
    m->snapshot.term = term;
    ck_assert_int_eq(raft_config_add(&m->snapshot.config, 1, RAFT_VOTER, "n1=http://a", 11), 0);
}

static void encode_snapshot_msg(kbuf *out, uint64_t index, uint64_t term)
{
    raft_msg m;
    make_snapshot_msg(&m, index, term);
    ck_assert_int_eq(raft_codec_encode(&m, CID, out), 0);
    raft_msg_free(&m);
}

/* A snapshot at path of a state database whose applied index is index. */
static void make_state_db(const char *path, uint64_t index)
{
    fsm_options o = {.history_keep = 16};
    fsm *f = NULL;
    char state[600];
    snprintf(state, sizeof state, "%s.state", path);
    ck_assert_int_eq(fsm_open(state, &o, &f), 0);
    fsm_entry *e = calloc(index, sizeof *e);
    ck_assert_ptr_nonnull(e);
    for (uint64_t i = 0; i < index; i++) {
        e[i].index = i + 1;
        e[i].term = 1;
        e[i].type = FSM_ENTRY_NOOP;
    }
    ck_assert_int_eq(fsm_apply_batch(f, e, index, NULL), 0);
    free(e);
    fsm_close(f);
    uint64_t got = 0;
    ck_assert_int_eq(fsm_snapshot_create(state, path, &got), 0);
    ck_assert_uint_eq(got, index);
}

static int read_file(const char *path, kbuf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        if (kbuf_append(out, buf, got))
            break;
    fclose(f);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* A TCP socket bound to 127.0.0.1 on a free port, listening or not. */
static int bound_socket(int do_listen, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    if (do_listen)
        ck_assert_int_eq(listen(fd, 64), 0);
    return fd;
}

/* ==== the recording peer ================================================ */

typedef struct rec_entry {
    char path[64];
    char from[80], index[32], term[32], offset[32], size[32];
    char secret[80], ctype[80];
    kbuf body;
} rec_entry;

typedef struct recorder {
    struct MHD_Daemon *d;
    int port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rec_entry *e;
    size_t n, cap;
    int status;               /* answer to every request (204) */
    int chunk_status;         /* answer to snapshot chunks (0: status) */
    char gate_prefix[64];     /* requests under this path wait while the gate is closed */
    int gate_closed;
    int held;                 /* requests waiting at the gate */
} recorder;

static void copy_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name, char *dst,
                       size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, kind, name);
    snprintf(dst, cap, "%s", v ? v : "");
}

static enum MHD_Result rec_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *data, size_t *data_size, void **con_cls)
{
    recorder *r = cls;
    rec_entry *e = *con_cls;
    (void)method;
    (void)version;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return MHD_NO;
        snprintf(e->path, sizeof e->path, "%s", url);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "from", e->from, sizeof e->from);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "index", e->index, sizeof e->index);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "term", e->term, sizeof e->term);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "offset", e->offset, sizeof e->offset);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "size", e->size, sizeof e->size);
        copy_value(c, MHD_HEADER_KIND, "X-Kahuna-Peer-Secret", e->secret, sizeof e->secret);
        copy_value(c, MHD_HEADER_KIND, "Content-Type", e->ctype, sizeof e->ctype);
        *con_cls = e;
        return MHD_YES;
    }
    if (*data_size) {
        if (kbuf_append(&e->body, data, *data_size))
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    if (r->gate_prefix[0] && strncmp(url, r->gate_prefix, strlen(r->gate_prefix)) == 0) {
        r->held++;
        while (r->gate_closed)
            pthread_cond_wait(&r->cv, &r->mu);
        r->held--;
    }
    int status = r->status;
    if (r->chunk_status && strcmp(url, "/raft/v1/snapshot/chunk") == 0)
        status = r->chunk_status;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->e = realloc(r->e, r->cap * sizeof *r->e);
        if (!r->e) {
            pthread_mutex_unlock(&r->mu);
            return MHD_NO;
        }
    }
    r->e[r->n++] = *e;
    memset(&e->body, 0, sizeof e->body);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    static const char err[] = "{\"error\":{\"code\":\"x\",\"message\":\"refused by the test\"}}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(status == 204 ? 0 : sizeof err - 1,
                                                                (void *)err, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void rec_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    rec_entry *e = *con_cls;
    if (e) {
        kbuf_free(&e->body);
        free(e);
        *con_cls = NULL;
    }
}

/* Starts r on fd (a bound socket; listened on here) or on a new one (-1). */
static void rec_start(recorder *r, int fd)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->status = 204;
    if (fd < 0) {
        fd = bound_socket(1, &r->port);
    } else {
        struct sockaddr_in sa;
        socklen_t sl = sizeof sa;
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        r->port = ntohs(sa.sin_port);
        ck_assert_int_eq(listen(fd, 64), 0);
    }
    snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->port);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                            rec_handler, r, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_NOTIFY_COMPLETED, rec_completed, r, MHD_OPTION_END);
    ck_assert_ptr_nonnull(r->d);
}

static void rec_gate(recorder *r, const char *prefix, int closed)
{
    pthread_mutex_lock(&r->mu);
    snprintf(r->gate_prefix, sizeof r->gate_prefix, "%s", prefix);
    r->gate_closed = closed;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void rec_stop(recorder *r)
{
    if (!r->d)
        return;
    rec_gate(r, "", 0);
    MHD_stop_daemon(r->d);
    for (size_t i = 0; i < r->n; i++)
        kbuf_free(&r->e[i].body);
    free(r->e);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    memset(r, 0, sizeof *r);
}

/* Frames received in POST /raft/v1/messages, as their APPEND index, in
 * arrival order; returns how many (and the number of POSTs). */
static size_t rec_frames(recorder *r, uint64_t *idx, size_t cap, size_t *posts)
{
    size_t k = 0;
    *posts = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        rec_entry *e = &r->e[i];
        if (strcmp(e->path, "/raft/v1/messages") != 0)
            continue;
        (*posts)++;
        size_t off = 0;
        while (off < e->body.len) {
            raft_msg m;
            size_t used;
            ck_assert_int_eq(raft_codec_decode(e->body.data + off, e->body.len - off, CID, 64u << 20, &m, &used), 0);
            if (k < cap)
                idx[k] = m.index;
            k++;
            raft_msg_free(&m);
            off += used;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return k;
}

static size_t rec_held(recorder *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = (size_t)r->held;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ==== transport fixture ================================================= */

static recorder rec, rec2;
static peer_transport *tp;
static uint64_t want_frames;

static void start_transport(size_t queue_bytes)
{
    peer_options o = {.secret = SECRET, .queue_bytes = queue_bytes, .timeout_ms = 3000};
    ck_assert_int_eq(peer_transport_start(&o, &tp), 0);
    peer_transport_set_node(tp, FAKE);
}

static void transport_setup(void)
{
    make_tmpdir();
    fake_reset(tmpdir);
    tp = NULL;
    memset(&rec, 0, sizeof rec);
    memset(&rec2, 0, sizeof rec2);
}

static void transport_teardown(void)
{
    peer_transport_stop(tp);
    tp = NULL;
    rec_stop(&rec);
    rec_stop(&rec2);
    fake_reset(NULL);
    remove_tree(tmpdir);
}

static void send_append(const char *url, uint64_t i, size_t len)
{
    raft_msg m;
    make_append(&m, i, len);
    peer_send(tp, &m, url);
    raft_msg_free(&m);
}

static int rec_has_want_frames(void)
{
    size_t posts;
    return rec_frames(&rec, NULL, 0, &posts) >= want_frames;
}

static int rec_holds_one(void) { return rec_held(&rec) >= 1; }

/* The receiver records a batch before the sender has read its answer:
 * the sender's counters follow a moment later. */
static int tp_sent_300(void)
{
    peer_stats st;
    peer_transport_stats(tp, &st);
    return st.msgs_sent >= 300;
}

START_TEST(test_transport_start_needs_a_secret)
{
    peer_transport *t = NULL;
    peer_options o = {.secret = NULL};
    ck_assert_int_eq(peer_transport_start(&o, &t), KAHUNA_EBADREQ);
    o.secret = "";
    ck_assert_int_eq(peer_transport_start(&o, &t), KAHUNA_EBADREQ);
    o.secret = "bad\r\nX-Injected: 1";
    ck_assert_int_eq(peer_transport_start(&o, &t), KAHUNA_EBADREQ);
    peer_transport_stop(NULL);
}
END_TEST

START_TEST(test_transport_batches_queued_messages_in_order)
{
    rec_start(&rec, -1);
    start_transport(0);
    rec_gate(&rec, "/raft/v1/messages", 1);
    send_append(rec.url, 1, 16);
    ck_assert(wait_until(rec_holds_one));          /* one POST in flight, held */
    for (uint64_t i = 2; i <= 300; i++)
        send_append(rec.url, i, 16);
    rec_gate(&rec, "/raft/v1/messages", 0);
    want_frames = 300;
    ck_assert(wait_until(rec_has_want_frames));

    uint64_t idx[300];
    size_t posts;
    ck_assert_uint_eq(rec_frames(&rec, idx, 300, &posts), 300);
    for (uint64_t i = 0; i < 300; i++)
        ck_assert_uint_eq(idx[i], i + 1);
    /* the first POST carried one frame; the 299 queued behind it went in
     * one more (at most a few) */
    ck_assert_uint_le(posts, 3);
    pthread_mutex_lock(&rec.mu);
    for (size_t i = 0; i < rec.n; i++) {
        ck_assert_str_eq(rec.e[i].secret, SECRET);
        ck_assert_str_eq(rec.e[i].ctype, "application/octet-stream");
    }
    pthread_mutex_unlock(&rec.mu);
    ck_assert(wait_until(tp_sent_300));
    peer_stats st;
    peer_transport_stats(tp, &st);
    ck_assert_uint_eq(st.msgs_sent, 300);
    ck_assert_uint_eq(st.msgs_dropped_full, 0);
    ck_assert_uint_eq(st.batches_sent, posts);
}
END_TEST

START_TEST(test_transport_full_queue_drops_instead_of_blocking)
{
    rec_start(&rec, -1);
    start_transport(4096);
    rec_gate(&rec, "/raft/v1/messages", 1);
    send_append(rec.url, 1, 16);
    ck_assert(wait_until(rec_holds_one));
    /* the peer does not answer: 2000 sends must all return, most dropped */
    for (uint64_t i = 2; i <= 2001; i++)
        send_append(rec.url, i, 64);
    peer_stats st;
    peer_transport_stats(tp, &st);
    ck_assert_uint_gt(st.msgs_dropped_full, 1500);
    ck_assert_uint_eq(st.msgs_queued + st.msgs_dropped_full, 2001);

    rec_gate(&rec, "/raft/v1/messages", 0);
    want_frames = st.msgs_queued;
    ck_assert(wait_until(rec_has_want_frames));
    uint64_t idx[64];
    size_t posts;
    size_t got = rec_frames(&rec, idx, 64, &posts);
    ck_assert_uint_eq(got, st.msgs_queued);
    /* what was kept is the oldest messages, in order, within the bound */
    for (size_t i = 0; i < got && i < 64; i++)
        ck_assert_uint_eq(idx[i], i + 1);
    ck_assert_uint_lt((got - 1) * 64, 4096 + 200);

    /* and the queue takes messages again */
    send_append(rec.url, 5000, 16);
    want_frames = got + 1;
    ck_assert(wait_until(rec_has_want_frames));
}
END_TEST

static int tp_has_failed_batch(void)
{
    peer_stats st;
    peer_transport_stats(tp, &st);
    return st.batches_failed >= 1;
}

static int rec2_has_frames(void)
{
    size_t posts;
    return rec_frames(&rec2, NULL, 0, &posts) >= want_frames;
}

START_TEST(test_transport_peer_down_then_back)
{
    int port;
    int fd = bound_socket(0, &port);           /* bound, not listening: refused */
    char down_url[64];
    snprintf(down_url, sizeof down_url, "http://127.0.0.1:%d", port);
    rec_start(&rec2, -1);                      /* another peer, healthy */
    start_transport(0);

    send_append(down_url, 1, 16);
    ck_assert(wait_until(tp_has_failed_batch));
    /* the healthy peer is not held up by the dead one */
    for (uint64_t i = 1; i <= 20; i++) {
        send_append(down_url, i, 16);
        send_append(rec2.url, i, 16);
    }
    want_frames = 20;
    ck_assert(wait_until(rec2_has_frames));

    /* the peer comes back on the same port; Raft resends, so do we */
    rec_start(&rec, fd);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    size_t posts;
    uint64_t i = 100;
    while (rec_frames(&rec, NULL, 0, &posts) == 0) {
        ck_assert_int_lt(clock_mono_ms(), end);
        send_append(down_url, i++, 16);
        sleep_ms(20);
    }
    peer_stats st;
    peer_transport_stats(tp, &st);
    ck_assert_uint_ge(st.msgs_dropped_failed, 1);
    ck_assert_uint_ge(st.msgs_sent, 21);
}
END_TEST

static int one_report(void) { return fake_nreports() >= 1; }
static int two_reports(void) { return fake_nreports() >= 2; }

/* Reassembles the chunks r received, checking each follows the last. */
static void rec_reassemble(recorder *r, kbuf *out, size_t *chunks, rec_entry *done)
{
    *chunks = 0;
    memset(done, 0, sizeof *done);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        rec_entry *e = &r->e[i];
        if (strcmp(e->path, "/raft/v1/snapshot/chunk") == 0) {
            ck_assert_uint_eq(strtoull(e->offset, NULL, 10), out->len);
            ck_assert_uint_le(e->body.len, PEER_SNAPSHOT_CHUNK);
            ck_assert_str_eq(e->secret, SECRET);
            ck_assert_int_eq(kbuf_append(out, e->body.data, e->body.len), 0);
            (*chunks)++;
        } else if (strcmp(e->path, "/raft/v1/snapshot/done") == 0) {
            *done = *e;
            memset(&done->body, 0, sizeof done->body);
            ck_assert_int_eq(kbuf_append(&done->body, e->body.data, e->body.len), 0);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

START_TEST(test_transport_snapshot_chunks_reassemble_byte_for_byte)
{
    rec_start(&rec, -1);
    start_transport(0);
    size_t size = 2 * PEER_SNAPSHOT_CHUNK + 12345;
    uint8_t *data = malloc(size);
    ck_assert_ptr_nonnull(data);
    uint32_t x = 12345;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/snap.db", tmpdir);
    write_file(path, data, size);

    raft_msg m;
    make_snapshot_msg(&m, 77, 5);
    peer_send_snapshot(tp, &m, rec.url, path);
    raft_msg_free(&m);
    ck_assert(wait_until(one_report));
    ck_assert_uint_eq(fk.reports[0].to, 2);
    ck_assert_int_eq(fk.reports[0].ok, 1);

    kbuf got = KBUF_INIT;
    size_t chunks;
    rec_entry done;
    rec_reassemble(&rec, &got, &chunks, &done);
    ck_assert_uint_eq(chunks, 3);
    ck_assert_uint_eq(got.len, size);
    ck_assert(memcmp(got.data, data, size) == 0);
    ck_assert_str_eq(done.from, "1");
    ck_assert_str_eq(done.index, "77");
    ck_assert_str_eq(done.term, "5");
    char want_size[32];
    snprintf(want_size, sizeof want_size, "%zu", size);
    ck_assert_str_eq(done.size, want_size);
    raft_msg dm;
    size_t used;
    ck_assert_int_eq(raft_codec_decode(done.body.data, done.body.len, CID, 1u << 20, &dm, &used), 0);
    ck_assert_uint_eq(used, done.body.len);
    ck_assert_int_eq(dm.type, RAFT_MSG_SNAPSHOT);
    ck_assert_uint_eq(dm.snapshot.index, 77);
    raft_msg_free(&dm);
    kbuf_free(&done.body);
    kbuf_free(&got);
    free(data);
    peer_stats st;
    peer_transport_stats(tp, &st);
    ck_assert_uint_eq(st.snapshots_sent, 1);
    ck_assert_uint_eq(st.snapshot_bytes, size);
}
END_TEST

START_TEST(test_transport_snapshot_failure_is_reported_not_ok)
{
    rec_start(&rec, -1);
    rec.chunk_status = 500;
    start_transport(0);
    char path[512];
    snprintf(path, sizeof path, "%s/snap.db", tmpdir);
    write_file(path, "abc", 3);
    raft_msg m;
    make_snapshot_msg(&m, 9, 2);
    peer_send_snapshot(tp, &m, rec.url, path);
    ck_assert(wait_until(one_report));
    ck_assert_int_eq(fk.reports[0].ok, 0);

    /* a file that is gone is a failed send too */
    snprintf(path, sizeof path, "%s/missing.db", tmpdir);
    peer_send_snapshot(tp, &m, rec.url, path);
    raft_msg_free(&m);
    ck_assert(wait_until(two_reports));
    ck_assert_int_eq(fk.reports[1].ok, 0);
    peer_stats st;
    peer_transport_stats(tp, &st);
    ck_assert_uint_eq(st.snapshots_failed, 2);
}
END_TEST

START_TEST(test_transport_second_snapshot_for_a_busy_peer_is_reported_failed)
{
    rec_start(&rec, -1);
    rec_gate(&rec, "/raft/v1/snapshot/", 1);
    start_transport(0);
    char path[512];
    snprintf(path, sizeof path, "%s/snap.db", tmpdir);
    write_file(path, "0123456789", 10);
    raft_msg m;
    make_snapshot_msg(&m, 9, 2);
    peer_send_snapshot(tp, &m, rec.url, path);
    ck_assert(wait_until(rec_holds_one));
    peer_send_snapshot(tp, &m, rec.url, path);
    ck_assert(wait_until(one_report));
    ck_assert_int_eq(fk.reports[0].ok, 0);       /* the second one */

    /* messages to that peer flow while its snapshot is held */
    send_append(rec.url, 1, 16);
    want_frames = 1;
    ck_assert(wait_until(rec_has_want_frames));

    rec_gate(&rec, "/raft/v1/snapshot/", 0);
    ck_assert(wait_until(two_reports));
    ck_assert_int_eq(fk.reports[1].ok, 1);       /* the first one */
    raft_msg_free(&m);
}
END_TEST

START_TEST(test_transport_bind_fills_send_and_snapshot_only)
{
    start_transport(0);
    node_transport nt;
    memset(&nt, 0, sizeof nt);
    int marker;
    nt.forward_arg = &marker;
    peer_transport_bind(tp, &nt);
    ck_assert_ptr_eq(nt.arg, tp);
    ck_assert_ptr_nonnull(nt.send);
    ck_assert_ptr_nonnull(nt.send_snapshot);
    ck_assert_ptr_null(nt.forward);
    ck_assert_ptr_eq(nt.forward_arg, &marker);
}
END_TEST

/* ==== API server fixture (the receive side) ============================= */

static api_server *srv;
static char srv_url[64];
static httpc *hc;

static void start_api(const char *secret)
{
    const char *err = NULL;
    for (int attempt = 0; attempt < 20; attempt++) {
        int port;
        int fd = bound_socket(0, &port);
        close(fd);
        api_options o = {.host = "127.0.0.1", .port = port, .threads = 2, .node_id = "n1",
                         .peer_secret = secret};
        if (api_server_start(&o, FAKE, &srv, &err) == 0) {
            snprintf(srv_url, sizeof srv_url, "http://127.0.0.1:%d", port);
            return;
        }
    }
    ck_abort_msg("cannot start the API server: %s", err ? err : "?");
}

static void api_setup(void)
{
    make_tmpdir();
    char snapdir[300];
    snprintf(snapdir, sizeof snapdir, "%s/snap", tmpdir);
    ck_assert_int_eq(mkdir(snapdir, 0700), 0);
    fake_reset(snapdir);
    srv = NULL;
    tp = NULL;
    memset(&rec, 0, sizeof rec);
    memset(&rec2, 0, sizeof rec2);
    ck_assert_int_eq(httpc_new(&hc), 0);
    start_api(SECRET);
}

static void api_teardown(void)
{
    peer_transport_stop(tp);
    tp = NULL;
    api_server_stop(srv);
    srv = NULL;
    httpc_free(hc);
    hc = NULL;
    fake_reset(NULL);
    remove_tree(tmpdir);
}

/* POST path (with its query) to the server with secret (NULL: none). */
static int post(const char *method, const char *path, const char *secret, const void *body, size_t n,
                httpc_response *resp)
{
    char url[600], hdr[200];
    snprintf(url, sizeof url, "%s%s", srv_url, path);
    snprintf(hdr, sizeof hdr, "X-Kahuna-Peer-Secret: %s", secret ? secret : "");
    const char *headers[] = {hdr, NULL};
    httpc_request rq = {
        .method = method,
        .url = url,
        .content_type = "application/octet-stream",
        .body = kbytes_make(body, n),
        .timeout_ms = 10000,
        .headers = secret ? headers : NULL,
    };
    int rc = httpc_do(hc, &rq, resp);
    ck_assert_int_eq(rc, 0);
    return resp->status;
}

static int body_has(const httpc_response *r, const char *s)
{
    return r->body.data && strstr(kbuf_str(&r->body), s) != NULL;
}

START_TEST(test_peer_route_without_secret_header_is_403)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", NULL, b.data, b.len, &r), 403);
    ck_assert(body_has(&r, "\"code\":\"forbidden\""));
    ck_assert_ptr_null(r.leader);                  /* no X-Kahuna-* headers */
    ck_assert_uint_eq(fake_nmsgs(), 0);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_peer_route_with_wrong_secret_is_403)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", "s3cret-pees", b.data, b.len, &r), 403);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET "x", b.data, b.len, &r), 403);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", "", b.data, b.len, &r), 403);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", "nope", b.data, b.len, &r), 403);
    ck_assert_int_eq(post("POST", "/raft/v1/snapshot/chunk?from=1&index=1&term=1&offset=0", "nope", "x", 1, &r),
                     403);
    ck_assert_uint_eq(fake_nmsgs(), 0);
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_peer_routes_without_configured_secret_are_403)
{
    api_server_stop(srv);
    start_api(NULL);
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 403);
    ck_assert(body_has(&r, "--peer-secret"));
    ck_assert_int_eq(post("POST", "/raft/v1/messages", "", b.data, b.len, &r), 403);
    ck_assert_uint_eq(fake_nmsgs(), 0);
    /* the REST API is unaffected */
    ck_assert_int_eq(post("GET", "/health", NULL, NULL, 0, &r), 200);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_peer_route_takes_post_only)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post("GET", "/raft/v1/messages", SECRET, NULL, 0, &r), 405);
    ck_assert_int_eq(post("PUT", "/raft/v1/messages", SECRET, "x", 1, &r), 405);
    ck_assert_int_eq(post("POST", "/raft/v1/nothing", SECRET, NULL, 0, &r), 404);
    ck_assert(body_has(&r, "\"code\":\"not_found\""));
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_messages_are_delivered_in_order_with_204)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    for (uint64_t i = 1; i <= 5; i++)
        encode_append(&b, i, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 204);
    ck_assert_ptr_null(r.leader);
    ck_assert_uint_eq(fake_nmsgs(), 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(fk.msgs[i].type, RAFT_MSG_APPEND);
        ck_assert_uint_eq(fk.msgs[i].index, i + 1);
        ck_assert_uint_eq(fk.msgs[i].n_entries, 1);
    }
    /* an empty batch is fine */
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, NULL, 0, &r), 204);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_messages_garbage_is_400_and_nothing_delivered)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    static const char junk[] = "this is not a frame, not even close to one of them";
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, junk, sizeof junk - 1, &r), 400);
    ck_assert(body_has(&r, "\"code\":\"bad_request\""));
    ck_assert_uint_eq(fake_nmsgs(), 0);

    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    b.data[b.len - 1] ^= 0x40;                      /* CRC no longer matches */
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 400);
    ck_assert_uint_eq(fake_nmsgs(), 0);

    kbuf_reset(&b);
    encode_append(&b, 1, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len - 3, &r), 400);   /* truncated */
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, 10, &r), 400);          /* half a header */
    ck_assert_uint_eq(fake_nmsgs(), 0);

    /* two good frames then a bad one: the good ones are delivered */
    kbuf_reset(&b);
    encode_append(&b, 1, CID);
    encode_append(&b, 2, CID);
    ck_assert_int_eq(kbuf_append(&b, junk, 30), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 400);
    ck_assert(body_has(&r, "frame 2"));
    ck_assert_uint_eq(fake_nmsgs(), 2);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_messages_of_another_cluster_are_409)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID + 1);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 409);
    ck_assert(body_has(&r, "\"code\":\"wrong_cluster\""));
    ck_assert_uint_eq(fake_nmsgs(), 0);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_messages_first_contact_adopts_the_cluster_id)
{
    atomic_store(&fk.cluster_id, 0);
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    /* garbage adopts nothing */
    static const char junk[] = "KRFT but not really a frame of any kind at all";
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, junk, sizeof junk - 1, &r), 400);
    ck_assert_uint_eq(node_cluster_id(FAKE), 0);

    encode_append(&b, 1, CID);
    encode_append(&b, 2, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 204);
    ck_assert_uint_eq(node_cluster_id(FAKE), CID);
    ck_assert_uint_eq(fake_nmsgs(), 2);
    kbuf_reset(&b);
    encode_append(&b, 3, CID + 7);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 409);
    ck_assert_uint_eq(fake_nmsgs(), 2);
    httpc_response_free(&r);
    kbuf_free(&b);
}
END_TEST

/* Sends only the head of a POST announcing a body of n bytes and reads the
 * answer into out (NUL-terminated): the server refuses it before any body
 * byte, and a client still uploading could see the connection close before
 * it reads that answer. */
static void post_head_only(const char *path, size_t n, char *out, size_t cap)
{
    int port = 0;
    ck_assert_int_eq(sscanf(srv_url, "http://127.0.0.1:%d", &port), 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};   /* the server may keep the connection open */
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char head[400];
    int k = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Kahuna-Peer-Secret: %s\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                     path, SECRET, n);
    ck_assert_int_eq(write(fd, head, (size_t)k), k);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, out + got, cap - 1 - got)) > 0) {
        got += (size_t)r;
        out[got] = '\0';
        if (strstr(out, "too_large\"") && strstr(out, "}}"))
            break;   /* the whole error body is here */
    }
    out[got] = '\0';
    close(fd);
}

START_TEST(test_peer_body_over_8_mib_is_413)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    char answer[4096];
    post_head_only("/raft/v1/messages", API_PEER_MAX_BODY + 1, answer, sizeof answer);
    ck_assert_msg(strncmp(answer, "HTTP/1.1 413", 12) == 0, "answer: %.80s", answer);
    ck_assert_ptr_nonnull(strstr(answer, "too_large"));
    /* a REST-sized limit does not apply: 3 MiB of frames is fine */
    kbuf b = KBUF_INIT;
    raft_msg m;
    make_append(&m, 1, 3u << 20);
    ck_assert_int_eq(raft_codec_encode(&m, CID, &b), 0);
    raft_msg_free(&m);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 204);
    ck_assert_uint_eq(fake_nmsgs(), 1);
    kbuf_free(&b);
    httpc_response_free(&r);
}
END_TEST

static int fake_has_5_msgs(void) { return fake_nmsgs() >= 5; }

START_TEST(test_transport_to_api_server_end_to_end)
{
    start_transport(0);
    for (uint64_t i = 1; i <= 5; i++)
        send_append(srv_url, i, 100);
    ck_assert(wait_until(fake_has_5_msgs));
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(fk.msgs[i].index, i + 1);
}
END_TEST

START_TEST(test_snapshot_chunk_offset_must_follow_the_received_bytes)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    const char *base = "/raft/v1/snapshot/chunk?from=n2&index=10&term=3";
    char p[256];
    snprintf(p, sizeof p, "%s&offset=5", base);
    ck_assert_int_eq(post("POST", p, SECRET, "hello", 5, &r), 409);   /* nothing started */
    snprintf(p, sizeof p, "%s&offset=0", base);
    ck_assert_int_eq(post("POST", p, SECRET, "hello", 5, &r), 204);
    snprintf(p, sizeof p, "%s&offset=4", base);
    ck_assert_int_eq(post("POST", p, SECRET, "XXXX", 4, &r), 409);
    ck_assert(body_has(&r, "offset 0"));
    snprintf(p, sizeof p, "%s&offset=6", base);
    ck_assert_int_eq(post("POST", p, SECRET, "XXXX", 4, &r), 409);
    snprintf(p, sizeof p, "%s&offset=5", base);
    ck_assert_int_eq(post("POST", p, SECRET, " world", 6, &r), 204);

    char path[512];
    snprintf(path, sizeof path, "%s/recv-n2-10-3.part", fk.snapdir);
    kbuf got = KBUF_INIT;
    ck_assert_int_eq(read_file(path, &got), 0);
    ck_assert_uint_eq(got.len, 11);
    ck_assert(memcmp(got.data, "hello world", 11) == 0);

    /* offset 0 restarts the file */
    snprintf(p, sizeof p, "%s&offset=0", base);
    ck_assert_int_eq(post("POST", p, SECRET, "ab", 2, &r), 204);
    kbuf_reset(&got);
    ck_assert_int_eq(read_file(path, &got), 0);
    ck_assert_uint_eq(got.len, 2);

    /* a new snapshot from the same sender removes the unfinished one */
    ck_assert_int_eq(post("POST", "/raft/v1/snapshot/chunk?from=n2&index=11&term=3&offset=0", SECRET, "z", 1, &r),
                     204);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_uint_eq(count_files(fk.snapdir), 1);
    kbuf_free(&got);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_snapshot_query_numbers_are_parsed_strictly)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    static const char *bad[] = {
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3",                     /* no offset */
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset",               /* no value */
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=",
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=-1",
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=+1",
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=1x",
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=0x10",
        "/raft/v1/snapshot/chunk?from=n2&index=18446744073709551616&term=3&offset=0",   /* 2^64 */
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=9223372036854775808",   /* > INT64_MAX */
        "/raft/v1/snapshot/chunk?from=n2&index=0&term=3&offset=0",
        "/raft/v1/snapshot/chunk?from=n2&index=10&term=3&offset=0&offset=0",
        "/raft/v1/snapshot/done?from=n2&index=10&term=3",
        "/raft/v1/snapshot/done?from=n2&index=10&term=3&size=1e3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(post("POST", bad[i], SECRET, "x", 1, &r) == 400, "%s: %d", bad[i], r.status);
        ck_assert(body_has(&r, "\"code\":\"bad_request\""));
    }
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/snapshot/chunk?from=n2&index=18446744073709551615&term=3&offset=0",
                          SECRET, "x", 1, &r), 204);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_snapshot_from_that_could_build_a_path_is_refused)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    static const char *from[] = {
        "..", "../x", "a/b", "%2e%2e", "%2Fetc", "a%00b", "..a", "a..", "", "x+y", "a%20b",
        "0123456789012345678901234567890123456789012345678901234567890123456789",   /* 70 */
    };
    char p[256];
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        snprintf(p, sizeof p, "/raft/v1/snapshot/chunk?from=%s&index=10&term=3&offset=0", from[i]);
        ck_assert_msg(post("POST", p, SECRET, "x", 1, &r) == 400, "from=%s: %d", from[i], r.status);
        snprintf(p, sizeof p, "/raft/v1/snapshot/done?from=%s&index=10&term=3&size=1", from[i]);
        ck_assert_msg(post("POST", p, SECRET, "x", 1, &r) == 400, "from=%s: %d", from[i], r.status);
    }
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    ck_assert_uint_eq(count_files(tmpdir), 1);                 /* only snap/ */
    /* ids and decimal Raft ids are fine */
    ck_assert_int_eq(post("POST", "/raft/v1/snapshot/chunk?from=node-2.a_b&index=10&term=3&offset=0", SECRET,
                          "x", 1, &r), 204);
    ck_assert_int_eq(post("POST", "/raft/v1/snapshot/chunk?from=12345678901234567890&index=10&term=3&offset=0",
                          SECRET, "x", 1, &r), 204);
    ck_assert_uint_eq(count_files(fk.snapdir), 2);
    httpc_response_free(&r);
}
END_TEST

/* Sends file's bytes in chunks of chunk bytes, as n2's snapshot at (index, term). */
static void send_chunks(const kbuf *file, size_t chunk, uint64_t index, uint64_t term)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    char p[256];
    size_t off = 0;
    do {
        size_t n = file->len - off < chunk ? file->len - off : chunk;
        snprintf(p, sizeof p, "/raft/v1/snapshot/chunk?from=n2&index=%llu&term=%llu&offset=%zu",
                 (unsigned long long)index, (unsigned long long)term, off);
        ck_assert_int_eq(post("POST", p, SECRET, file->data + off, n, &r), 204);
        off += n;
    } while (off < file->len);
    httpc_response_free(&r);
}

static int post_done(uint64_t index, uint64_t term, size_t size, const kbuf *frame, httpc_response *r)
{
    char p[256];
    snprintf(p, sizeof p, "/raft/v1/snapshot/done?from=n2&index=%llu&term=%llu&size=%zu",
             (unsigned long long)index, (unsigned long long)term, size);
    return post("POST", p, SECRET, frame->data, frame->len, r);
}

START_TEST(test_snapshot_received_in_chunks_goes_to_the_node)
{
    char db[512];
    snprintf(db, sizeof db, "%s/state.db", tmpdir);
    make_state_db(db, 7);
    kbuf file = KBUF_INIT, frame = KBUF_INIT;
    ck_assert_int_eq(read_file(db, &file), 0);
    send_chunks(&file, 1000, 7, 2);
    encode_snapshot_msg(&frame, 7, 2);
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post_done(7, 2, file.len, &frame, &r), 204);
    ck_assert_uint_eq(fk.nsnaps, 1);
    ck_assert_uint_eq(fk.snap_msg.snapshot.index, 7);
    ck_assert_uint_eq(fk.snap_msg.snapshot.term, 2);
    ck_assert_uint_eq(fk.snap_bytes.len, file.len);
    ck_assert(memcmp(fk.snap_bytes.data, file.data, file.len) == 0);
    kbuf_free(&file);
    kbuf_free(&frame);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_snapshot_truncated_is_400_and_deleted)
{
    char db[512];
    snprintf(db, sizeof db, "%s/state.db", tmpdir);
    make_state_db(db, 7);
    kbuf file = KBUF_INIT, frame = KBUF_INIT;
    ck_assert_int_eq(read_file(db, &file), 0);
    size_t full = file.len;
    file.len = full / 2;
    send_chunks(&file, 1000, 7, 2);
    encode_snapshot_msg(&frame, 7, 2);
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post_done(7, 2, full, &frame, &r), 400);
    ck_assert(body_has(&r, "truncated"));
    ck_assert_uint_eq(fk.nsnaps, 0);
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    /* done without any chunk */
    ck_assert_int_eq(post_done(7, 2, full, &frame, &r), 400);
    kbuf_free(&file);
    kbuf_free(&frame);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_snapshot_that_is_not_a_state_database_is_400_and_deleted)
{
    kbuf file = KBUF_INIT, frame = KBUF_INIT;
    for (int i = 0; i < 5000; i++)
        ck_assert_int_eq(kbuf_append_byte(&file, (uint8_t)(i * 7)), 0);
    send_chunks(&file, 4096, 7, 2);
    encode_snapshot_msg(&frame, 7, 2);
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post_done(7, 2, file.len, &frame, &r), 400);
    ck_assert_uint_eq(fk.nsnaps, 0);
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    kbuf_free(&file);
    kbuf_free(&frame);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_snapshot_whose_frame_does_not_match_is_400)
{
    char db[512];
    snprintf(db, sizeof db, "%s/state.db", tmpdir);
    make_state_db(db, 7);
    kbuf file = KBUF_INIT, frame = KBUF_INIT;
    ck_assert_int_eq(read_file(db, &file), 0);
    httpc_response r = HTTPC_RESPONSE_INIT;

    /* the frame names another snapshot than the query */
    send_chunks(&file, 100000, 7, 2);
    encode_snapshot_msg(&frame, 8, 2);
    ck_assert_int_eq(post_done(7, 2, file.len, &frame, &r), 400);
    ck_assert_uint_eq(count_files(fk.snapdir), 0);

    /* the file is a snapshot at another index than the frame says */
    send_chunks(&file, 100000, 9, 2);
    kbuf_reset(&frame);
    encode_snapshot_msg(&frame, 9, 2);
    ck_assert_int_eq(post_done(9, 2, file.len, &frame, &r), 400);
    ck_assert(body_has(&r, "index 7"));

    /* not a SNAPSHOT frame */
    send_chunks(&file, 100000, 7, 2);
    kbuf_reset(&frame);
    encode_append(&frame, 7, CID);
    ck_assert_int_eq(post_done(7, 2, file.len, &frame, &r), 400);

    /* another cluster */
    send_chunks(&file, 100000, 7, 2);
    kbuf_reset(&frame);
    raft_msg m;
    make_snapshot_msg(&m, 7, 2);
    ck_assert_int_eq(raft_codec_encode(&m, CID + 1, &frame), 0);
    raft_msg_free(&m);
    ck_assert_int_eq(post_done(7, 2, file.len, &frame, &r), 409);
    ck_assert(body_has(&r, "wrong_cluster"));

    ck_assert_uint_eq(fk.nsnaps, 0);
    ck_assert_uint_eq(count_files(fk.snapdir), 0);
    kbuf_free(&file);
    kbuf_free(&frame);
    httpc_response_free(&r);
}
END_TEST

static int fake_has_snapshot(void)
{
    pthread_mutex_lock(&fk.mu);
    int done = fk.nsnaps >= 1 && fk.nreports >= 1;
    pthread_mutex_unlock(&fk.mu);
    return done;
}

START_TEST(test_transport_snapshot_to_api_server_end_to_end)
{
    char db[512];
    snprintf(db, sizeof db, "%s/state.db", tmpdir);
    make_state_db(db, 5);
    kbuf file = KBUF_INIT;
    ck_assert_int_eq(read_file(db, &file), 0);
    start_transport(0);
    raft_msg m;
    make_snapshot_msg(&m, 5, 1);
    peer_send_snapshot(tp, &m, srv_url, db);
    raft_msg_free(&m);
    ck_assert(wait_until(fake_has_snapshot));
    ck_assert_int_eq(fk.reports[0].ok, 1);
    ck_assert_uint_eq(fk.snap_msg.snapshot.index, 5);
    ck_assert_uint_eq(fk.snap_bytes.len, file.len);
    ck_assert(memcmp(fk.snap_bytes.data, file.data, file.len) == 0);
    kbuf_free(&file);
}
END_TEST

/* An encoded forward request. */
static void forward_req(kbuf *out, int op, kbytes a, kbytes b, int64_t wait_ms)
{
    rpc_request rq = {.op = op, .wait_ms = wait_ms, .a = a, .b = b};
    ck_assert_int_eq(rpc_request_encode(&rq, out), 0);
}

static void kv_put_cmd(kbuf *out, const char *key)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = CMD_KV_PUT;
    c.key = kbytes_str(key);
    c.value = kbytes_str("v");
    ck_assert_int_eq(cmd_encode(&c, out), 0);
}

START_TEST(test_forward_propose_answers_the_rpc_result)
{
    kbuf cmd = KBUF_INIT, fwd = KBUF_INIT;
    kv_put_cmd(&cmd, "k1");
    forward_req(&fwd, RPC_PROPOSE, kbytes_make(cmd.data, cmd.len), kbytes_make(NULL, 0), 0);
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 200);
    ck_assert_str_eq(r.content_type, "application/octet-stream");
    ck_assert_ptr_null(r.leader);
    fsm_result res;
    ck_assert_int_eq(rpc_result_decode(kbytes_make(r.body.data, r.body.len), &res), 0);
    ck_assert_int_eq(res.status, 0);
    ck_assert_int_eq(res.revision, 42);
    ck_assert_int_eq(res.create_revision, 41);
    ck_assert_str_eq(res.owner, "holder");
    fsm_result_clear(&res);
    ck_assert_uint_eq(fk.nsubmits, 1);
    ck_assert_int_eq(fk.submit_type, CMD_KV_PUT);
    ck_assert_str_eq(fk.submit_key, "k1");
    ck_assert_int_eq(fk.submit_flags & NODE_NO_FORWARD, NODE_NO_FORWARD);
    kbuf_free(&cmd);
    kbuf_free(&fwd);
    httpc_response_free(&r);
}
END_TEST

typedef struct async_post {
    kbuf fwd;
    httpc_response r;
    int status;
} async_post;

static void *post_thread(void *arg)
{
    async_post *a = arg;
    httpc *c = NULL;
    ck_assert_int_eq(httpc_new(&c), 0);
    char url[600], hdr[200];
    snprintf(url, sizeof url, "%s/raft/v1/forward", srv_url);
    snprintf(hdr, sizeof hdr, "X-Kahuna-Peer-Secret: %s", SECRET);
    const char *headers[] = {hdr, NULL};
    httpc_request rq = {.method = "POST", .url = url, .content_type = "application/octet-stream",
                        .body = kbytes_make(a->fwd.data, a->fwd.len), .timeout_ms = 10000, .headers = headers};
    a->status = httpc_do(c, &rq, &a->r) == 0 ? a->r.status : -1;
    httpc_free(c);
    return NULL;
}

START_TEST(test_forward_waits_for_the_node_without_blocking_the_server)
{
    fk.submit_async = 1;
    async_post a = {.fwd = KBUF_INIT, .r = HTTPC_RESPONSE_INIT};
    kbuf cmd = KBUF_INIT;
    kv_put_cmd(&cmd, "slow");
    forward_req(&a.fwd, RPC_PROPOSE, kbytes_make(cmd.data, cmd.len), kbytes_make(NULL, 0), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_thread, &a), 0);
    ck_assert(wait_until(pending_is_set));
    /* the server answers others meanwhile */
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 204);
    complete_pending(99);
    pthread_join(th, NULL);
    ck_assert_int_eq(a.status, 200);
    fsm_result res;
    ck_assert_int_eq(rpc_result_decode(kbytes_make(a.r.body.data, a.r.body.len), &res), 0);
    ck_assert_int_eq(res.revision, 99);
    fsm_result_clear(&res);
    httpc_response_free(&a.r);
    httpc_response_free(&r);
    kbuf_free(&a.fwd);
    kbuf_free(&cmd);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_forward_admin_ops_answer_the_admin_status)
{
    kbuf fwd = KBUF_INIT;
    httpc_response r = HTTPC_RESPONSE_INIT;
    fsm_result res;

    forward_req(&fwd, RPC_ADMIN_ADD, kbytes_str("n4"), kbytes_str("http://127.0.0.1:9004"), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 200);
    ck_assert_int_eq(rpc_result_decode(kbytes_make(r.body.data, r.body.len), &res), 0);
    ck_assert_int_eq(res.status, 0);
    fsm_result_clear(&res);
    ck_assert_int_eq(fk.admin_op, NODE_ADMIN_ADD);
    ck_assert_str_eq(fk.admin_id, "n4");
    ck_assert_str_eq(fk.admin_url, "http://127.0.0.1:9004");
    ck_assert_int_eq(fk.admin_flags & NODE_NO_FORWARD, NODE_NO_FORWARD);

    fk.admin_status = KAHUNA_EUNAVAILABLE;
    kbuf_reset(&fwd);
    forward_req(&fwd, RPC_ADMIN_REMOVE, kbytes_str("n3"), kbytes_make(NULL, 0), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 200);
    ck_assert_int_eq(rpc_result_decode(kbytes_make(r.body.data, r.body.len), &res), 0);
    ck_assert_int_eq(res.status, KAHUNA_EUNAVAILABLE);
    fsm_result_clear(&res);
    ck_assert_int_eq(fk.admin_op, NODE_ADMIN_REMOVE);
    ck_assert_str_eq(fk.admin_id, "n3");
    ck_assert_int_eq(fk.admin_url_null, 1);

    fk.admin_status = 0;
    kbuf_reset(&fwd);
    forward_req(&fwd, RPC_ADMIN_TRANSFER, kbytes_make(NULL, 0), kbytes_make(NULL, 0), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 200);
    ck_assert_int_eq(fk.admin_op, NODE_ADMIN_TRANSFER);
    ck_assert_str_eq(fk.admin_id, "");
    ck_assert_uint_eq(fk.nadmins, 3);
    kbuf_free(&fwd);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_forward_garbage_is_400_and_reaches_nothing)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, "KFWD garbage", 12, &r), 400);
    ck_assert(body_has(&r, "\"code\":\"bad_request\""));
    /* a well-formed request whose command does not decode */
    kbuf fwd = KBUF_INIT;
    forward_req(&fwd, RPC_PROPOSE, kbytes_str("not a command"), kbytes_make(NULL, 0), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 400);
    /* a member id that could not be one */
    kbuf_reset(&fwd);
    forward_req(&fwd, RPC_ADMIN_REMOVE, kbytes_str("n3/../x"), kbytes_make(NULL, 0), 0);
    ck_assert_int_eq(post("POST", "/raft/v1/forward", SECRET, fwd.data, fwd.len, &r), 400);
    ck_assert_uint_eq(fk.nsubmits, 0);
    ck_assert_uint_eq(fk.nadmins, 0);
    kbuf_free(&fwd);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_peer_requests_are_not_counted_as_rest_routes)
{
    httpc_response r = HTTPC_RESPONSE_INIT;
    kbuf b = KBUF_INIT;
    encode_append(&b, 1, CID);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(post("POST", "/raft/v1/messages", SECRET, b.data, b.len, &r), 204);
    ck_assert_int_eq(post("POST", "/raft/v1/messages", "bad", b.data, b.len, &r), 403);
    ck_assert_int_eq(post("GET", "/metrics", NULL, NULL, 0, &r), 200);
    ck_assert(!body_has(&r, "route=\"other\""));
    ck_assert(!body_has(&r, "/raft"));
    /* REST answers still carry the leader header */
    ck_assert_int_eq(post("GET", "/health", NULL, NULL, 0, &r), 200);
    ck_assert_ptr_nonnull(r.leader);
    kbuf_free(&b);
    httpc_response_free(&r);
}
END_TEST

START_TEST(test_peer_secret_compare)
{
    ck_assert_int_eq(api_peer_secret_ok("abc", "abc"), 1);
    ck_assert_int_eq(api_peer_secret_ok("abc", "abd"), 0);
    ck_assert_int_eq(api_peer_secret_ok("abc", "ab"), 0);
    ck_assert_int_eq(api_peer_secret_ok("abc", "abcabc"), 0);
    ck_assert_int_eq(api_peer_secret_ok("abc", ""), 0);
    ck_assert_int_eq(api_peer_secret_ok("abc", NULL), 0);
    ck_assert_int_eq(api_peer_secret_ok("", ""), 0);
    ck_assert_int_eq(api_peer_secret_ok(NULL, "x"), 0);
    ck_assert_int_eq(api_peer_route_of("/raft/v1/messages"), API_PEER_MESSAGES);
    ck_assert_int_eq(api_peer_route_of("/raft/v1/messages/"), API_PEER_UNKNOWN);
    ck_assert_int_eq(api_peer_route_of("/raftx"), API_PEER_NONE);
    ck_assert_int_eq(api_peer_route_of("/v1/kv/raft/"), API_PEER_NONE);
}
END_TEST

static Suite *peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *tt = tcase_create("transport");
    tcase_add_checked_fixture(tt, transport_setup, transport_teardown);
    tcase_set_timeout(tt, 60);
    tcase_add_test(tt, test_transport_start_needs_a_secret);
    tcase_add_test(tt, test_transport_batches_queued_messages_in_order);
    tcase_add_test(tt, test_transport_full_queue_drops_instead_of_blocking);
    tcase_add_test(tt, test_transport_peer_down_then_back);
    tcase_add_test(tt, test_transport_snapshot_chunks_reassemble_byte_for_byte);
    tcase_add_test(tt, test_transport_snapshot_failure_is_reported_not_ok);
    tcase_add_test(tt, test_transport_second_snapshot_for_a_busy_peer_is_reported_failed);
    tcase_add_test(tt, test_transport_bind_fills_send_and_snapshot_only);
    suite_add_tcase(s, tt);

    TCase *ta = tcase_create("routes");
    tcase_add_checked_fixture(ta, api_setup, api_teardown);
    tcase_set_timeout(ta, 60);
    tcase_add_test(ta, test_peer_secret_compare);
    tcase_add_test(ta, test_peer_route_without_secret_header_is_403);
    tcase_add_test(ta, test_peer_route_with_wrong_secret_is_403);
    tcase_add_test(ta, test_peer_routes_without_configured_secret_are_403);
    tcase_add_test(ta, test_peer_route_takes_post_only);
    tcase_add_test(ta, test_messages_are_delivered_in_order_with_204);
    tcase_add_test(ta, test_messages_garbage_is_400_and_nothing_delivered);
    tcase_add_test(ta, test_messages_of_another_cluster_are_409);
    tcase_add_test(ta, test_messages_first_contact_adopts_the_cluster_id);
    tcase_add_test(ta, test_peer_body_over_8_mib_is_413);
    tcase_add_test(ta, test_transport_to_api_server_end_to_end);
    tcase_add_test(ta, test_snapshot_chunk_offset_must_follow_the_received_bytes);
    tcase_add_test(ta, test_snapshot_query_numbers_are_parsed_strictly);
    tcase_add_test(ta, test_snapshot_from_that_could_build_a_path_is_refused);
    tcase_add_test(ta, test_snapshot_received_in_chunks_goes_to_the_node);
    tcase_add_test(ta, test_snapshot_truncated_is_400_and_deleted);
    tcase_add_test(ta, test_snapshot_that_is_not_a_state_database_is_400_and_deleted);
    tcase_add_test(ta, test_snapshot_whose_frame_does_not_match_is_400);
    tcase_add_test(ta, test_transport_snapshot_to_api_server_end_to_end);
    tcase_add_test(ta, test_forward_propose_answers_the_rpc_result);
    tcase_add_test(ta, test_forward_waits_for_the_node_without_blocking_the_server);
    tcase_add_test(ta, test_forward_admin_ops_answer_the_admin_status);
    tcase_add_test(ta, test_forward_garbage_is_400_and_reaches_nothing);
    tcase_add_test(ta, test_peer_requests_are_not_counted_as_rest_routes);
    suite_add_tcase(s, ta);
    return s;
}

int main(void)
{
    if (httpc_global_init() != 0)
        return 1;
    SRunner *sr = srunner_create(peer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    httpc_global_cleanup();
    return failed ? 1 : 0;
}
