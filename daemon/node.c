/* node.c: one kahuna node: the thread that drives the Raft core (raft/),
 * makes its output durable (raftlog), applies committed entries to the
 * state machine (fsm) and answers the callers.
 *
 * Threads. Callers (HTTP and RESP threads, the peer transport) put work on
 * queues (one mutex + condition variable) and return: proposals, peer
 * messages, read barriers, membership operations. The node thread owns the
 * Raft core, raftlog and the fsm writer, and is the only one that touches
 * them. Each turn of the loop:
 *   1. steps every peer message that arrived, then the clock ticks due;
 *   2. on the leader: builds one batch (expire commands for leases whose
 *      deadline passed, then the first waiter of each lock freed in the
 *      previous turn, then the queued requests in arrival order), stamps
 *      SEQ_NEXT with the wall clock and proposes it; on a follower: forwards
 *      the queued requests to the leader (node_transport.forward);
 *   3. asks for read indexes, runs membership operations;
 *   4. drains the core's updates (docs/raft.md "the caller's loop"): sends
 *      msgs_now, writes snapshot point + entries + hard state in one raft.db
 *      transaction (one fsync: group commit), sends msgs_after, installs a
 *      received snapshot, applies the committed entries in one state.db
 *      transaction, and only then answers the requests whose entries were
 *      applied, and the reads whose index is applied.
 * A failed write on this path is fail-stop: log what to do, exit(70).
 *
 * Requests. A proposal is done when an applied entry has the (index, term)
 * raft_propose gave it, and certainly not applied when that index is
 * applied with another term (answer "unavailable": retry). A leader that
 * steps down keeps its requests for NODE_UNKNOWN_WAIT_MS in case the new
 * leader commits them; after that their fate is unknown (KAHUNA_ETIMEOUT).
 *
 * TTLs. The fsm reports every TTL it arms or disarms (ttl_hook) and every
 * node mirrors them in its deadline table (leases.c) on its monotonic
 * clock, but only the leader turns a passed deadline into an expire
 * command. A node that becomes leader restarts every TTL in full (SPEC §1).
 *
 * Snapshots. Every snapshot_entries applied entries the snapshot thread
 * copies state.db into snapshots/snap-INDEX.db (fsm_snapshot_create); the
 * node then records the snapshot point in raft.db and compacts the log up
 * to it minus NODE_LOG_KEEP entries. The newest file is what the leader
 * sends to a follower that is too far behind; a follower installs a
 * received file (fsm_snapshot_install) after the snapshot point is durable
 * in raft.db, and a restart finishes an install a crash interrupted. */
#include "node.h"
#include "clock.h"
#include "errors.h"
#include "fsync.h"
#include "leases.h"
#include "log.h"
#include "peer/rpc.h"
#include "raftlog.h"

#include <dirent.h>
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

#define NODE_BATCH_ENTRIES 1024
#define NODE_BATCH_BYTES (8u << 20)
#define NODE_EXPIRE_MAX 1024            /* expire commands per turn */
#define NODE_COMPACT_CHUNK 4096         /* log entries dropped per raft.db transaction */
#define NODE_CHECKPOINT_INTERVAL_MS 1000 /* state.db checkpoints (also every few MB of WAL) */
#define NODE_LOG_KEEP 10000             /* entries kept behind a snapshot for slow followers */
#define NODE_SNAPSHOT_ENTRIES 100000    /* default snapshot_entries */
#define NODE_ALIVE_POLL_MS 100
#define NODE_EXIT_FAILSTOP 70
#define NODE_UNKNOWN_WAIT_MS 3000       /* a deposed leader waits this long for its requests' fate */
#define NODE_READ_WAIT_MS 5000          /* a read barrier gives up after this */
#define NODE_ADMIN_WAIT_MS 10000        /* membership operations */
#define NODE_FORWARD_TIMEOUT_MS 10000   /* forwarded request without a lock wait */
#define NODE_FORWARD_MARGIN_MS 5000     /* ... added to a forwarded lock wait */

/* A request from a caller: a proposal (maybe a lock acquire that may wait),
 * or an expire command the leader made (done == NULL). */
typedef struct req {
    struct req *next;
    struct req *prev;           /* waiter list only */
    kbuf enc;                   /* the encoded command */
    uint8_t type;               /* cmd_type */
    command cmd;                /* LOCK_ACQUIRE: decoded view into enc */
    node_done_fn done;
    void *arg;
    int flags;                  /* NODE_NO_FORWARD */
    int64_t wait_ms;            /* > 0: may wait for the lock */
    int64_t deadline;           /* monotonic ms when waiting ends */
    int (*alive)(void *arg);
    int served;                 /* proposed as the first waiter of a freed lock */
    int final;                  /* last try after the wait deadline */
    uint64_t index, term;       /* proposed as this entry */
    int64_t give_up;            /* pending on a deposed leader: fate unknown after this */
    int exp_kind;               /* expire command: the lease it ends */
    int64_t exp_gen;
} req;

typedef struct barrier {
    struct barrier *next;
    uint64_t id;                /* read index request id */
    uint64_t index;             /* 0 until the read index is known */
    int64_t give_up;
    node_read_fn done;
    void *arg;
} barrier;

typedef struct admin {
    struct admin *next;
    int op;
    char *id;
    char *url;
    int flags;
    node_admin_fn done;
    void *arg;
    uint64_t index, term;       /* the CONFIG entry (ADD / REMOVE) */
    uint64_t to;                /* TRANSFER: the chosen voter */
    int64_t give_up;
} admin;

typedef struct inmsg {
    struct inmsg *next;
    raft_msg m;
    char *snapshot_path;        /* SNAPSHOT with its file */
    int snap_status;            /* -1: a message; 0/1: snapshot_status(to = m.to) */
} inmsg;

typedef struct member {
    uint64_t id;
    char *name;
    char *url;
    int voter;
    int64_t last_contact;       /* monotonic ms, 0 never */
    uint64_t match;             /* leader: the member's match index */
} member;

typedef struct rslot rslot;

struct node {
    uint64_t gen;               /* unique per node ever started (reader cache key) */
    char *node_id;
    uint64_t self;              /* Raft id */
    char *self_url;
    char *data_dir;
    char *raft_path;
    char *state_path;
    char *snap_dir;
    raftlog *log;
    fsm *fsm;
    leases *leases;
    raft *r;
    node_transport tr;
    int has_transport;
    int tick_ms;
    unsigned election_ticks;
    uint64_t snapshot_entries;
    uint64_t rng;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu;         /* guards everything below up to "node thread only" */
    pthread_cond_t cv;          /* the node thread waits here */
    pthread_cond_t stop_cv;     /* node_stop callers wait here */
    req *q_head, *q_tail;
    barrier *b_new;             /* read barriers not yet asked for */
    inmsg *in_head, *in_tail;
    admin *a_new;
    int stop_state;             /* 0 running, 1 stopping, 2 stopped */
    member *members;            /* published copy of the membership */
    size_t nmembers;
    char leader_name[80];
    char *leader_url;
    uint64_t snap_done_index;   /* the snapshot thread's result (0: none) */
    int snap_running;
    uint64_t cluster_id;
    int cluster_id_unsaved;     /* adopted, not yet in raft.db */
    uint64_t *blocked;          /* test fault switch: Raft ids cut off */
    size_t nblocked;

    _Atomic uint64_t term;
    _Atomic uint64_t commit_index;
    _Atomic uint64_t applied_index;
    _Atomic uint64_t last_log_index;
    _Atomic uint64_t first_log_index;
    _Atomic int64_t revision;
    _Atomic uint64_t proposals;
    _Atomic uint64_t batches;
    _Atomic uint64_t expirations;
    _Atomic uint64_t lock_waiters;
    _Atomic uint64_t leader_changes;
    _Atomic uint64_t snapshots_sent;
    _Atomic uint64_t snapshots_installed;
    _Atomic int role;
    _Atomic uint64_t leader;
    _Atomic int stopping;       /* mirror of stop_state >= 1 for lock-free reads */
    _Atomic int any_blocked;    /* nblocked > 0 */
    _Atomic int alone;          /* the only voter: reads need no round */

    /* node thread only */
    req *p_head, *p_tail;       /* proposed, waiting for apply (index order) */
    barrier *b_wait;            /* asked, waiting for the read index or apply */
    admin *a_wait;
    uint64_t next_read_id;
    req *w_head, *w_tail;       /* lock waiters, arrival order */
    int64_t hook_now;           /* monotonic ms of the apply in progress */
    int track_freed;            /* record freed locks (the leader's loop runs) */
    kbuf *freed;                /* lock names that became free in this apply */
    size_t nfreed, cap_freed;
    kbuf *serve;                /* lock names whose first waiter goes next */
    size_t nserve, cap_serve;
    int64_t next_alive_poll;
    int64_t next_tick;
    member *mem;                /* the membership, node thread's copy */
    size_t nmem;
    member *book;               /* the --peers given at start: addresses of
                                   peers a joining node reaches before its
                                   log holds the configuration */
    size_t nbook;
    uint64_t mem_seen_last;     /* last index when mem was rebuilt */
    raftlog_hardstate hs_unsaved;/* a commit-only hard state not yet written */
    int hs_dirty;
    uint64_t snap_index;        /* the current snapshot point */
    uint64_t compact_to;        /* log entries <= this may be dropped */
    int64_t snap_retry_at;      /* after a failed snapshot: not before this */
    pthread_t snap_thread;
    int snap_thread_started;
    fsm_entry *fents;
    fsm_result *results;
    size_t cap_apply;
    raftlog_entry *lents;
    size_t cap_lents;
    kbuf tmp;
    uint64_t last_leader;

    rslot *readers;             /* reader slots handed out (under reg_mu) */
};

static _Atomic uint64_t node_gen_counter = 1;

/* ------------------------------------------------------------------ */
/* fail-stop                                                          */

static void fail_stop(const char *what, int rc)
{
    log_error("node", "%s failed (%s): stopping kahunad now so that nothing is answered from a "
              "state that may be wrong; fix the problem logged above and restart kahunad "
              "(acknowledged writes are safe in raft.db and are replayed)",
              what, kahuna_strerror(rc));
    _exit(NODE_EXIT_FAILSTOP);
}

/* ------------------------------------------------------------------ */
/* readers: one per (thread, node)                                     */

struct rslot {
    rslot *tnext;               /* the thread's list */
    rslot *nnext;               /* the node's list */
    node *owner;                /* NULL once the node is freed */
    uint64_t gen;
    fsm_reader *r;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_key_ok;
static _Thread_local uint64_t tl_gen;
static _Thread_local fsm_reader *tl_reader;

static void unlink_from_node(rslot *s)
{
    if (!s->owner)
        return;
    for (rslot **pp = &s->owner->readers; *pp; pp = &(*pp)->nnext)
        if (*pp == s) {
            *pp = s->nnext;
            break;
        }
    s->owner = NULL;
}

/* Thread exit: close this thread's readers. */
static void reg_thread_exit(void *head)
{
    pthread_mutex_lock(&reg_mu);
    rslot *s = head;
    while (s) {
        rslot *next = s->tnext;
        unlink_from_node(s);
        if (s->r)
            fsm_reader_close(s->r);
        free(s);
        s = next;
    }
    pthread_mutex_unlock(&reg_mu);
    tl_gen = 0;
    tl_reader = NULL;
}

static void reg_init(void)
{
    reg_key_ok = pthread_key_create(&reg_key, reg_thread_exit) == 0;
}

fsm_reader *node_reader(node *n)
{
    if (tl_reader && tl_gen == n->gen)
        return tl_reader;
    pthread_once(&reg_once, reg_init);
    if (!reg_key_ok)
        return NULL;
    rslot *head = pthread_getspecific(reg_key);
    fsm_reader *found = NULL;
    pthread_mutex_lock(&reg_mu);
    /* drop slots of freed nodes, find this node's */
    for (rslot **pp = &head; *pp;) {
        rslot *s = *pp;
        if (!s->owner) {
            *pp = s->tnext;
            free(s);
            continue;
        }
        if (s->owner == n && s->gen == n->gen && s->r)
            found = s->r;
        pp = &s->tnext;
    }
    pthread_mutex_unlock(&reg_mu);
    if (!found) {
        rslot *s = calloc(1, sizeof *s);
        if (!s) {
            pthread_setspecific(reg_key, head);
            return NULL;
        }
        if (fsm_reader_open(n->state_path, &s->r) != 0) {
            log_warn("node", "cannot open a reader of %s; reads on this thread fail until it can",
                     n->state_path);
            free(s);
            pthread_setspecific(reg_key, head);
            return NULL;
        }
        s->owner = n;
        s->gen = n->gen;
        pthread_mutex_lock(&reg_mu);
        s->nnext = n->readers;
        n->readers = s;
        s->tnext = head;
        head = s;
        pthread_mutex_unlock(&reg_mu);
        found = s->r;
    }
    pthread_setspecific(reg_key, head);
    tl_gen = n->gen;
    tl_reader = found;
    return found;
}

/* node_free: close every reader handed out for n, whatever thread has it. */
static void close_readers(node *n)
{
    pthread_mutex_lock(&reg_mu);
    rslot *s = n->readers;
    while (s) {
        rslot *next = s->nnext;
        if (s->r)
            fsm_reader_close(s->r);
        s->r = NULL;
        s->owner = NULL;
        s->nnext = NULL;
        s = next;
    }
    n->readers = NULL;
    pthread_mutex_unlock(&reg_mu);
}

/* ------------------------------------------------------------------ */
/* small helpers                                                      */

static void req_free(req *r)
{
    if (!r)
        return;
    kbuf_free(&r->enc);
    free(r);
}

static void answer_status(node_done_fn done, void *arg, int status)
{
    fsm_result res;
    memset(&res, 0, sizeof res);
    res.status = status;
    done(arg, &res);
}

static void req_answer_status(req *r, int status)
{
    answer_status(r->done, r->arg, status);
    req_free(r);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

static int push_name(kbuf **arr, size_t *n, size_t *cap, kbytes name)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        kbuf *na = realloc(*arr, ncap * sizeof *na);
        if (!na)
            return KAHUNA_ENOMEM;
        for (size_t i = *cap; i < ncap; i++) {
            kbuf z = KBUF_INIT;
            na[i] = z;
        }
        *arr = na;
        *cap = ncap;
    }
    kbuf_reset(&(*arr)[*n]);
    if (kbuf_append(&(*arr)[*n], name.p, name.n) != 0)
        return KAHUNA_ENOMEM;
    (*n)++;
    return 0;
}

static void free_names(kbuf *arr, size_t cap)
{
    for (size_t i = 0; i < cap; i++)
        kbuf_free(&arr[i]);
    free(arr);
}

static kbytes kb(const kbuf *b) { return kbytes_make(b->data, b->len); }

/* A list of requests to propose, in order. */
typedef struct batch {
    req *head, *tail;
    size_t n;
} batch;

static void batch_add(batch *bt, req *r)
{
    r->next = NULL;
    if (bt->tail)
        bt->tail->next = r;
    else
        bt->head = r;
    bt->tail = r;
    bt->n++;
}

/* ------------------------------------------------------------------ */
/* the TTL hook                                                       */

static void ttl_hook(void *arg, const fsm_ttl_event *ev)
{
    node *n = arg;
    if (ev->op == FSM_TTL_ARM) {
        int64_t ttl = ev->ttl_ms;
        if (ev->keep_generation) {
            /* a value change that keeps the TTL (RESP INCR, APPEND...): the
             * deadline stays; in full only when there was no lease */
            kbytes from = ev->keep_name.n ? ev->keep_name : ev->name;
            int64_t left = leases_remaining(n->leases, ev->kind, from, ev->keep_generation, n->hook_now);
            if (left > 0)
                ttl = left;
            else if (left == 0)
                ttl = 1; /* already due: expires at once */
        }
        if (leases_arm(n->leases, ev->kind, ev->name, ev->generation, ttl, n->hook_now) != 0)
            fail_stop("arming a TTL (out of memory)", KAHUNA_ENOMEM);
        return;
    }
    leases_disarm(n->leases, ev->kind, ev->name);
    if (ev->kind == FSM_TTL_LOCK && n->track_freed &&
        push_name(&n->freed, &n->nfreed, &n->cap_freed, ev->name) != 0)
        fail_stop("recording a freed lock (out of memory)", KAHUNA_ENOMEM);
}

/* Start-up: arm every TTL in full. */
static void arm_hook(void *arg, const fsm_ttl_event *ev)
{
    node *n = arg;
    if (ev->op == FSM_TTL_ARM &&
        leases_arm(n->leases, ev->kind, ev->name, ev->generation, ev->ttl_ms, n->hook_now) != 0)
        fail_stop("arming a TTL (out of memory)", KAHUNA_ENOMEM);
}

/* ------------------------------------------------------------------ */
/* lock waiters (node thread only)                                    */

static void waiter_unlink(node *n, req *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        n->w_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        n->w_tail = w->prev;
    w->next = w->prev = NULL;
    atomic_fetch_sub(&n->lock_waiters, 1);
}

static void waiter_push_back(node *n, req *w)
{
    w->next = NULL;
    w->prev = n->w_tail;
    if (n->w_tail)
        n->w_tail->next = w;
    else
        n->w_head = w;
    n->w_tail = w;
    atomic_fetch_add(&n->lock_waiters, 1);
}

/* Puts w before every other waiter of its lock (it was first and lost a race). */
static void waiter_push_front_of_name(node *n, req *w)
{
    req *at = n->w_head;
    while (at && !kbytes_eq(at->cmd.key, w->cmd.key))
        at = at->next;
    if (!at) {
        waiter_push_back(n, w);
        return;
    }
    w->next = at;
    w->prev = at->prev;
    if (at->prev)
        at->prev->next = w;
    else
        n->w_head = w;
    at->prev = w;
    atomic_fetch_add(&n->lock_waiters, 1);
}

static req *first_waiter(node *n, kbytes name)
{
    for (req *w = n->w_head; w; w = w->next)
        if (kbytes_eq(w->cmd.key, name))
            return w;
    return NULL;
}

/* Answers r lock_held from the current state when another owner holds the
 * lock: 0 answered (r freed), 1 held by r's owner, -1 free or unknown. */
static int answer_held_from_state(node *n, req *r, int64_t now)
{
    fsm_reader *rd = node_reader(n);
    if (!rd)
        return -1;
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    if (fsm_lock_get(rd, r->cmd.key, &rec) != 0)
        return -1;
    if (kbytes_eq(kb(&rec.owner), r->cmd.owner)) {
        lock_record_free(&rec);
        return 1;
    }
    fsm_result res;
    memset(&res, 0, sizeof res);
    res.status = KAHUNA_ELOCKHELD;
    res.token = rec.token;
    int64_t left = leases_remaining(n->leases, FSM_TTL_LOCK, r->cmd.key, rec.token, now);
    res.ttl_ms = left >= 0 ? left : rec.ttl_ms;
    res.owner = kbytes_strdup(kb(&rec.owner));
    lock_record_free(&rec);
    r->done(r->arg, &res);
    fsm_result_clear(&res);
    req_free(r);
    return 0;
}

/* ------------------------------------------------------------------ */
/* batch building                                                     */

/* SEQ_NEXT carries the leader's wall clock for the idempotency window. */
static int stamp_now(node *n, req *r)
{
    command c;
    int rc = cmd_decode(r->enc.data, r->enc.len, &c);
    if (rc)
        return rc;
    c.now_ms = clock_wall_ms();
    kbuf_reset(&n->tmp);
    if ((rc = cmd_encode(&c, &n->tmp)) != 0)
        return rc;
    kbuf t = r->enc;
    r->enc = n->tmp;
    n->tmp = t;
    return 0;
}

/* Waiters whose time is up, or whose client went away. */
static void tend_waiters(node *n, int64_t now, batch *bt)
{
    if (!n->w_head)
        return;
    int poll = now >= n->next_alive_poll;
    if (poll)
        n->next_alive_poll = now + NODE_ALIVE_POLL_MS;
    req *w = n->w_head;
    while (w) {
        req *next = w->next;
        if (now >= w->deadline) {
            waiter_unlink(n, w);
            int held = answer_held_from_state(n, w, now);
            if (held != 0) {     /* free now (or unknown): one last try */
                w->final = 1;
                batch_add(bt, w);
            }
        } else if (poll && w->alive && !w->alive(w->arg)) {
            waiter_unlink(n, w);
            req_answer_status(w, KAHUNA_ECANCELED);
        }
        w = next;
    }
}

/* A lock acquire meets waiters of its lock: wait behind them, or answer
 * lock_held at once; 0 when r was consumed, 1 when it is to be proposed. */
static int acquire_meets_waiters(node *n, req *r, int64_t now)
{
    if (!first_waiter(n, r->cmd.key))
        return 1;
    if (r->wait_ms > 0) {
        /* the holder re-acquiring must not queue behind its own waiters */
        fsm_reader *rd = node_reader(n);
        lock_record rec;
        memset(&rec, 0, sizeof rec);
        if (rd && fsm_lock_get(rd, r->cmd.key, &rec) == 0) {
            int mine = kbytes_eq(kb(&rec.owner), r->cmd.owner);
            lock_record_free(&rec);
            if (mine)
                return 1;
        }
        waiter_push_back(n, r);
        return 0;
    }
    int held = answer_held_from_state(n, r, now);
    return held == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* ids and membership                                                 */

static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t node_raft_id(const char *name)
{
    uint64_t h = fnv1a(name, strlen(name));
    return h ? h : 1;
}

/* The vote is stored as the decimal Raft id; a name (older files) maps
 * through node_raft_id. */
static uint64_t vote_id(const char *s)
{
    if (!s[0])
        return RAFT_NONE;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == 0 && end && *end == '\0' && s[0] >= '0' && s[0] <= '9')
        return (uint64_t)v;
    return node_raft_id(s);
}

/* Test fault switch: 1 when traffic with id is cut. */
static int is_blocked(node *n, uint64_t id)
{
    if (!atomic_load_explicit(&n->any_blocked, memory_order_relaxed))
        return 0;
    int hit = 0;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nblocked && !hit; i++)
        hit = n->blocked[i] == id;
    pthread_mutex_unlock(&n->mu);
    return hit;
}

static void members_free(member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].url);
    }
    free(m);
}

static const member *member_find(const member *m, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].id == id)
            return &m[i];
    return NULL;
}

static member *member_find_mut(node *n, uint64_t id)
{
    for (size_t i = 0; i < n->nmem; i++)
        if (n->mem[i].id == id)
            return &n->mem[i];
    return NULL;
}

/* Splits a config ctx "name=url" into malloc'd strings. */
static int ctx_split(const uint8_t *ctx, size_t len, char **name, char **url)
{
    const uint8_t *eq = memchr(ctx, '=', len);
    size_t nl = eq ? (size_t)(eq - ctx) : len;
    size_t ul = eq ? len - nl - 1 : 0;
    *name = malloc(nl + 1);
    *url = malloc(ul + 1);
    if (!*name || !*url) {
        free(*name);
        free(*url);
        return KAHUNA_ENOMEM;
    }
    memcpy(*name, ctx, nl);
    (*name)[nl] = '\0';
    if (ul)
        memcpy(*url, eq + 1, ul);
    (*url)[ul] = '\0';
    return 0;
}

/* Rebuilds the membership from the core's configuration, keeping contact
 * times, and publishes a copy for node_members. */
static void members_refresh(node *n)
{
    raft_status st;
    raft_status_get(n->r, &st);
    const raft_config *c = st.config;
    member *nm = calloc(c && c->n ? c->n : 1, sizeof *nm);
    member *pub = calloc(c && c->n ? c->n : 1, sizeof *pub);
    if (!nm || !pub)
        fail_stop("rebuilding the membership (out of memory)", KAHUNA_ENOMEM);
    size_t k = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        const raft_server *s = &c->servers[i];
        member *m = &nm[k];
        if (ctx_split(s->ctx, s->ctx_len, &m->name, &m->url) != 0)
            fail_stop("rebuilding the membership (out of memory)", KAHUNA_ENOMEM);
        m->id = s->id;
        m->voter = s->role == RAFT_VOTER;
        const member *old = member_find(n->mem, n->nmem, s->id);
        m->last_contact = old ? old->last_contact : 0;
        pub[k] = *m;
        pub[k].name = strdup(m->name);
        pub[k].url = strdup(m->url);
        if (!pub[k].name || !pub[k].url)
            fail_stop("rebuilding the membership (out of memory)", KAHUNA_ENOMEM);
        k++;
    }
    members_free(n->mem, n->nmem);
    n->mem = nm;
    n->nmem = k;
    atomic_store(&n->alone, k == 1 && nm[0].id == n->self && nm[0].voter);
    pthread_mutex_lock(&n->mu);
    member *oldpub = n->members;
    size_t oldn = n->nmembers;
    n->members = pub;
    n->nmembers = k;
    pthread_mutex_unlock(&n->mu);
    members_free(oldpub, oldn);
}

/* Publishes the leader's name and URL (under mu) after a change. */
static void leader_publish(node *n, uint64_t leader)
{
    const member *m = leader ? member_find(n->mem, n->nmem, leader) : NULL;
    if (!m && leader)
        m = member_find(n->book, n->nbook, leader);
    char *url = m && m->url[0] ? strdup(m->url) : NULL;
    pthread_mutex_lock(&n->mu);
    if (m)
        snprintf(n->leader_name, sizeof n->leader_name, "%s", m->name);
    else if (leader)
        snprintf(n->leader_name, sizeof n->leader_name, "%" PRIu64, leader);
    else
        n->leader_name[0] = '\0';
    free(n->leader_url);
    n->leader_url = url;
    pthread_mutex_unlock(&n->mu);
    atomic_store(&n->leader, leader);
}

/* ------------------------------------------------------------------ */
/* storage glue                                                       */

static int st_entries(void *arg, uint64_t lo, uint64_t hi, size_t max_bytes, raft_entry **out, size_t *cnt)
{
    node *n = arg;
    raftlog_entry *e = NULL;
    size_t k = 0;
    *out = NULL;
    *cnt = 0;
    int rc = raftlog_entries(n->log, lo, hi, max_bytes, &e, &k);
    if (rc)
        return rc == KAHUNA_ENOMEM ? rc : KAHUNA_EIO;
    raft_entry *re = calloc(k ? k : 1, sizeof *re);
    if (!re) {
        raftlog_entries_free(e, k);
        return KAHUNA_ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        re[i].index = e[i].index;
        re[i].term = e[i].term;
        re[i].type = e[i].type;
        re[i].data = e[i].data;     /* moved */
        re[i].len = e[i].len;
    }
    free(e);
    *out = re;
    *cnt = k;
    return 0;
}

static int st_term(void *arg, uint64_t index, uint64_t *term)
{
    node *n = arg;
    int rc = raftlog_term(n->log, index, term);
    return rc == 0 || rc == KAHUNA_ENOMEM ? rc : KAHUNA_EIO;
}

static char *snap_path(node *n, uint64_t index)
{
    char *p = NULL;
    if (asprintf(&p, "%s/snap-%020" PRIu64 ".db", n->snap_dir, index) < 0)
        return NULL;
    return p;
}


/* Deletes snapshot files other than the one at keep (and leftovers). */
static void snap_cleanup(node *n, uint64_t keep)
{
    DIR *d = opendir(n->snap_dir);
    if (!d)
        return;
    char *keep_path = snap_path(n, keep);
    const char *keep_base = keep_path ? strrchr(keep_path, '/') + 1 : "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, keep_base) == 0)
            continue;
        if (strncmp(de->d_name, "snap-", 5) != 0 && strncmp(de->d_name, "tmp-", 4) != 0)
            continue;   /* recv-*.part belong to the transport */
        char *p = NULL;
        if (asprintf(&p, "%s/%s", n->snap_dir, de->d_name) >= 0) {
            unlink(p);
            free(p);
        }
    }
    closedir(d);
    free(keep_path);
}

/* Replaces the state with the snapshot file at index (received, or left by
 * an install a crash interrupted) and re-arms every TTL in full. */
static int install_snapshot_file(node *n, uint64_t index)
{
    char *p = snap_path(n, index);
    if (!p)
        return KAHUNA_ENOMEM;
    int rc = fsm_snapshot_install(n->fsm, p);
    if (rc) {
        log_error("node", "cannot install snapshot %s (%s): the data dir is incomplete; remove the "
                  "data dir and let the node catch up from the leader again", p, kahuna_strerror(rc));
        free(p);
        return rc;
    }
    free(p);
    leases_clear(n->leases);
    n->hook_now = clock_mono_ms();
    if ((rc = fsm_foreach_ttl(n->fsm, ttl_hook, n)) != 0)
        return rc;
    atomic_store(&n->revision, fsm_current_revision(n->fsm));
    atomic_store(&n->applied_index, fsm_applied_index(n->fsm));
    atomic_fetch_add(&n->snapshots_installed, 1);
    log_info("node", "installed the snapshot at index %" PRIu64 " (revision %" PRId64 ")", index,
             (int64_t)atomic_load(&n->revision));
    return 0;
}

/* ------------------------------------------------------------------ */
/* sending                                                            */

static void send_msgs(node *n, raft_msg *m, size_t cnt)
{
    if (!n->has_transport)
        return;
    for (size_t i = 0; i < cnt; i++) {
        const member *to = member_find(n->mem, n->nmem, m[i].to);
        if (!to)
            to = member_find(n->book, n->nbook, m[i].to);
        if (!to || !to->url[0] || is_blocked(n, m[i].to))
            continue;
        if (m[i].type == RAFT_MSG_SNAPSHOT) {
            char *p = snap_path(n, m[i].snapshot.index);
            struct stat sb;
            if (!p || stat(p, &sb) != 0) {
                log_warn("node", "no snapshot file for index %" PRIu64 " to send to %s; will retry",
                         m[i].snapshot.index, to->name);
                raft_snapshot_status(n->r, m[i].to, 0);
                free(p);
                continue;
            }
            log_info("node", "sending the snapshot at index %" PRIu64 " to %s (%lld bytes)",
                     m[i].snapshot.index, to->name, (long long)sb.st_size);
            atomic_fetch_add(&n->snapshots_sent, 1);
            n->tr.send_snapshot(n->tr.arg, &m[i], to->url, p);
            free(p);   /* the transport opened or copied it */
            continue;
        }
        n->tr.send(n->tr.arg, &m[i], to->url);
    }
}

/* ------------------------------------------------------------------ */
/* forwarding to the leader                                           */

typedef struct fwd {
    node_done_fn done;
    void *arg;
    node_admin_fn admin_done;
} fwd;

static void on_forwarded(void *arg, int status, kbytes body)
{
    fwd *f = arg;
    fsm_result res;
    memset(&res, 0, sizeof res);
    if (status == 0 && rpc_result_decode(body, &res) != 0) {
        log_warn("node", "the leader's answer to a forwarded request does not decode; its fate is "
                 "unknown (check that every node runs the same kahunad version)");
        memset(&res, 0, sizeof res);
        status = KAHUNA_ETIMEOUT;
    }
    if (status != 0)
        res.status = status;
    if (f->admin_done)
        f->admin_done(f->arg, res.status);
    else
        f->done(f->arg, &res);
    fsm_result_clear(&res);
    free(f);
}

/* The leader's URL (malloc'd) or NULL when none is known (or it is us). */
static char *leader_url_dup(node *n)
{
    pthread_mutex_lock(&n->mu);
    char *u = n->leader_url ? strdup(n->leader_url) : NULL;
    pthread_mutex_unlock(&n->mu);
    return u;
}

/* Sends an encoded rpc request to the leader; answers through f. */
static void forward_rpc(node *n, const rpc_request *rq, int64_t timeout_ms, int (*alive)(void *),
                        void *alive_arg, fwd *f)
{
    char *url = NULL;
    int status = KAHUNA_EUNAVAILABLE;
    kbuf body = KBUF_INIT;
    uint64_t leader = atomic_load(&n->leader);
    if (n->has_transport && n->tr.forward && leader != n->self && !is_blocked(n, leader) &&
        (url = leader_url_dup(n)) != NULL) {
        status = rpc_request_encode(rq, &body);
        if (status == 0) {
            n->tr.forward(n->tr.forward_arg, url, kbytes_make(body.data, body.len), timeout_ms,
                          alive, alive_arg, on_forwarded, f);
            free(url);
            kbuf_free(&body);
            return;
        }
    }
    free(url);
    kbuf_free(&body);
    on_forwarded(f, status, kbytes_make(NULL, 0));
}

/* A request this node cannot propose: forwarded to the leader, or answered
 * unavailable when there is none or it must not be forwarded. */
static void forward_req(node *n, req *r)
{
    if (r->flags & NODE_NO_FORWARD || !r->done) {
        if (r->done)
            answer_status(r->done, r->arg, KAHUNA_EUNAVAILABLE);
        req_free(r);
        return;
    }
    fwd *f = calloc(1, sizeof *f);
    if (!f) {
        req_answer_status(r, KAHUNA_ENOMEM);
        return;
    }
    f->done = r->done;
    f->arg = r->arg;
    int64_t wait = 0;
    if (r->wait_ms > 0) {
        wait = r->deadline - clock_mono_ms();
        if (wait < 0)
            wait = 0;
    }
    rpc_request rq = {RPC_PROPOSE, 0, wait, kbytes_make(r->enc.data, r->enc.len), kbytes_make(NULL, 0)};
    int64_t timeout = wait > 0 ? wait + NODE_FORWARD_MARGIN_MS : NODE_FORWARD_TIMEOUT_MS;
    forward_rpc(n, &rq, timeout, r->alive, r->arg, f);
    req_free(r);
}

/* ------------------------------------------------------------------ */
/* answering applied requests                                         */

static int is_leader(node *n) { return atomic_load(&n->role) == RAFT_LEADER; }

static void answer_applied(node *n, req *r, fsm_result *res, int64_t now)
{
    if (!r->done) {   /* an expire command */
        leases_disarm_generation(n->leases, r->exp_kind, r->cmd.key, r->exp_gen);
        req_free(r);
        return;
    }
    if (res->status == KAHUNA_ELOCKHELD && r->type == CMD_LOCK_ACQUIRE && r->wait_ms > 0 &&
        !r->final && now < r->deadline && !atomic_load(&n->stopping)) {
        if (!is_leader(n)) {
            forward_req(n, r);
            return;
        }
        if (r->served)
            waiter_push_front_of_name(n, r);
        else
            waiter_push_back(n, r);
        r->served = 0;
        return;
    }
    if (res->status == KAHUNA_ELOCKHELD && r->type == CMD_LOCK_ACQUIRE) {
        int64_t left = leases_remaining(n->leases, FSM_TTL_LOCK, r->cmd.key, res->token, now);
        if (left >= 0)
            res->ttl_ms = left;
    }
    if (r->served && res->status != 0 && res->status != KAHUNA_ELOCKHELD &&
        push_name(&n->freed, &n->nfreed, &n->cap_freed, r->cmd.key) != 0)
        fail_stop("recording a freed lock (out of memory)", KAHUNA_ENOMEM); /* still free */
    r->done(r->arg, res);
    req_free(r);
}

static req *pending_pop(node *n)
{
    req *r = n->p_head;
    if (r) {
        n->p_head = r->next;
        if (!n->p_head)
            n->p_tail = NULL;
        r->next = NULL;
    }
    return r;
}

static void pending_push(node *n, req *r)
{
    r->next = NULL;
    if (n->p_tail)
        n->p_tail->next = r;
    else
        n->p_head = r;
    n->p_tail = r;
}

/* A pending request whose entry will never be known: expire commands are
 * simply forgotten (a new leader re-arms every lease). */
static void pending_unknown(req *r)
{
    if (r->done)
        req_answer_status(r, KAHUNA_ETIMEOUT);
    else
        req_free(r);
}

static void admin_free(admin *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->url);
    free(a);
}

static void admin_finish(admin *a, int status)
{
    a->done(a->arg, status);
    admin_free(a);
}

/* Read barriers whose index is applied. */
static void release_barriers(node *n)
{
    uint64_t applied = atomic_load(&n->applied_index);
    barrier *ready = NULL;
    for (barrier **pp = &n->b_wait; *pp;) {
        barrier *b = *pp;
        if (b->index && b->index <= applied) {
            *pp = b->next;
            b->next = ready;
            ready = b;
        } else {
            pp = &b->next;
        }
    }
    while (ready) {
        barrier *b = ready;
        ready = b->next;
        b->done(b->arg, 0);
        free(b);
    }
}

static int ensure_apply(node *n, size_t want)
{
    if (want <= n->cap_apply)
        return 0;
    size_t cap = n->cap_apply ? n->cap_apply : 256;
    while (cap < want)
        cap *= 2;
    fsm_entry *fe = realloc(n->fents, cap * sizeof *fe);
    if (fe)
        n->fents = fe;
    fsm_result *res = realloc(n->results, cap * sizeof *res);
    if (res)
        n->results = res;
    if (!fe || !res)
        return KAHUNA_ENOMEM;
    n->cap_apply = cap;
    return 0;
}

static void apply_committed(node *n, const raft_entry *e, size_t cnt)
{
    if (cnt == 0)
        return;
    if (ensure_apply(n, cnt) != 0)
        fail_stop("growing the apply batch (out of memory)", KAHUNA_ENOMEM);
    for (size_t i = 0; i < cnt; i++) {
        n->fents[i].index = e[i].index;
        n->fents[i].term = e[i].term;
        n->fents[i].type = e[i].type;
        n->fents[i].data = e[i].data;
        n->fents[i].len = e[i].len;
    }
    memset(n->results, 0, cnt * sizeof *n->results);
    n->hook_now = clock_mono_ms();
    n->nfreed = 0;
    n->track_freed = is_leader(n);
    int rc = fsm_apply_batch(n->fsm, n->fents, cnt, n->results);
    if (rc)
        fail_stop("applying to state.db", rc);
    atomic_store(&n->revision, fsm_current_revision(n->fsm));
    atomic_store(&n->applied_index, fsm_applied_index(n->fsm));

    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < cnt; i++) {
        fsm_result *res = &n->results[i];
        while (n->p_head && n->p_head->index < e[i].index)
            pending_unknown(pending_pop(n));
        if (n->p_head && n->p_head->index == e[i].index) {
            req *r = pending_pop(n);
            if (r->term == e[i].term)
                answer_applied(n, r, res, now);
            else if (r->done)
                req_answer_status(r, KAHUNA_EUNAVAILABLE);   /* replaced: never applied */
            else
                req_free(r);
        }
        if (e[i].type == RAFT_ENTRY_CONFIG) {
            for (admin **pp = &n->a_wait; *pp;) {
                admin *a = *pp;
                if (a->op != NODE_ADMIN_TRANSFER && a->index == e[i].index) {
                    *pp = a->next;
                    admin_finish(a, a->term == e[i].term ? 0 : KAHUNA_EUNAVAILABLE);
                } else {
                    pp = &a->next;
                }
            }
        }
        fsm_result_clear(res);
    }
    release_barriers(n);

    /* locks freed in this apply: their first waiters go next turn */
    for (size_t i = 0; i < n->nfreed; i++) {
        kbytes name = kb(&n->freed[i]);
        if (!first_waiter(n, name))
            continue;
        int dup = 0;
        for (size_t j = 0; j < n->nserve && !dup; j++)
            dup = kbytes_eq(kb(&n->serve[j]), name);
        if (!dup && push_name(&n->serve, &n->nserve, &n->cap_serve, name) != 0)
            fail_stop("recording a freed lock (out of memory)", KAHUNA_ENOMEM);
    }
    n->nfreed = 0;
}

/* ------------------------------------------------------------------ */
/* leadership changes                                                 */

static void became_leader(node *n)
{
    /* SPEC §1: a new leader restarts every remaining TTL in full */
    leases_rearm_all(n->leases, clock_mono_ms());
    n->next_alive_poll = 0;
    log_info("node", "node %s is the leader of term %" PRIu64 "; log up to %" PRIu64 ", %zu TTLs "
             "restarted in full", n->node_id, (uint64_t)atomic_load(&n->term),
             (uint64_t)atomic_load(&n->last_log_index), leases_count(n->leases));
}

static void stepped_down(node *n)
{
    int64_t give_up = clock_mono_ms() + NODE_UNKNOWN_WAIT_MS;
    for (req *r = n->p_head; r; r = r->next)
        if (!r->give_up)
            r->give_up = give_up;
    while (n->w_head) {   /* waiters go on waiting at the new leader */
        req *w = n->w_head;
        waiter_unlink(n, w);
        forward_req(n, w);
    }
    n->nserve = 0;
}

static void soft_change(node *n, const raft_update *u)
{
    int was = atomic_load(&n->role);
    atomic_store(&n->term, u->term);
    if (u->leader != n->last_leader) {
        n->last_leader = u->leader;
        if (u->leader)
            atomic_fetch_add(&n->leader_changes, 1);
        leader_publish(n, u->leader);
        const member *m = member_find(n->mem, n->nmem, u->leader);
        if (!m)
            m = member_find(n->book, n->nbook, u->leader);
        if (u->leader && u->leader != n->self) {
            log_info("node", "leader of term %" PRIu64 " is %s", u->term, m ? m->name : "(unknown)");
            /* the new leader restarts every TTL in full; followers do the
             * same so that what they report never runs ahead of it */
            leases_rearm_all(n->leases, clock_mono_ms());
        }
        else if (!u->leader)
            log_info("node", "no leader known (term %" PRIu64 ")", u->term);
    }
    atomic_store(&n->role, u->role);
    if (u->role == RAFT_LEADER && was != RAFT_LEADER)
        became_leader(n);
    if (was == RAFT_LEADER && u->role != RAFT_LEADER) {
        log_info("node", "node %s is no longer the leader (term %" PRIu64 ")", n->node_id, u->term);
        stepped_down(n);
    }
    if (u->leader && u->leader != n->self) {
        for (admin **pp = &n->a_wait; *pp;) {
            admin *a = *pp;
            if (a->op == NODE_ADMIN_TRANSFER) {
                *pp = a->next;
                admin_finish(a, u->leader == a->to ? 0 : KAHUNA_EUNAVAILABLE);
            } else {
                pp = &a->next;
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* updates                                                            */

static void save_update(node *n, raft_update *u)
{
    if (u->hs_changed) {
        n->hs_unsaved.term = u->hs.term;
        if (u->hs.vote)
            snprintf(n->hs_unsaved.vote, sizeof n->hs_unsaved.vote, "%" PRIu64, u->hs.vote);
        else
            n->hs_unsaved.vote[0] = '\0';
        n->hs_unsaved.commit = u->hs.commit;
        n->hs_dirty = 1;
    }
    if (!(u->has_snapshot || u->n_entries > 0 || (u->hs_changed && u->must_sync)))
        return;   /* a commit-only hard state waits for the next write */
    raftlog_snapshot snap;
    memset(&snap, 0, sizeof snap);
    uint8_t *cfg = NULL;
    if (u->has_snapshot) {
        size_t len = 0;
        int rc = raft_config_encode(&u->snapshot.config, &cfg, &len);
        if (rc)
            fail_stop("encoding the snapshot configuration", rc);
        snap.index = u->snapshot.index;
        snap.term = u->snapshot.term;
        snap.config = cfg;
        snap.config_len = len;
    }
    if (u->n_entries > n->cap_lents) {
        raftlog_entry *le = realloc(n->lents, u->n_entries * sizeof *le);
        if (!le)
            fail_stop("growing the log batch (out of memory)", KAHUNA_ENOMEM);
        n->lents = le;
        n->cap_lents = u->n_entries;
    }
    for (size_t i = 0; i < u->n_entries; i++) {
        n->lents[i].index = u->entries[i].index;
        n->lents[i].term = u->entries[i].term;
        n->lents[i].type = u->entries[i].type;
        n->lents[i].data = u->entries[i].data;
        n->lents[i].len = u->entries[i].len;
    }
    int rc = raftlog_write(n->log, u->has_snapshot ? &snap : NULL, n->lents, u->n_entries,
                           n->hs_dirty ? &n->hs_unsaved : NULL);
    free(cfg);
    if (rc)
        fail_stop("writing to raft.db", rc);
    n->hs_dirty = 0;
    if (u->has_snapshot) {
        n->snap_index = u->snapshot.index;
        n->compact_to = 0;
    }
    atomic_fetch_add(&n->batches, 1);
    atomic_store(&n->last_log_index, raftlog_last_index(n->log));
    atomic_store(&n->first_log_index, raftlog_first_index(n->log));
}

/* The membership changed when the core's configuration differs from ours. */
static int members_changed(node *n)
{
    raft_status st;
    raft_status_get(n->r, &st);
    const raft_config *c = st.config;
    size_t cn = c ? c->n : 0;
    if (cn != n->nmem)
        return 1;
    for (size_t i = 0; i < cn; i++) {
        const member *m = member_find(n->mem, n->nmem, c->servers[i].id);
        if (!m || m->voter != (c->servers[i].role == RAFT_VOTER))
            return 1;
    }
    return 0;
}

static uint64_t rng_next(node *n)
{
    /* xorshift64*: election timeouts only */
    uint64_t x = n->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    n->rng = x;
    return x * 2685821657736338717ULL;
}

static void new_timeout(node *n)
{
    unsigned et = n->election_ticks;
    raft_set_election_timeout(n->r, et + (unsigned)(rng_next(n) % et));
}

static void handle_update(node *n, raft_update *u)
{
    if (members_changed(n)) {
        members_refresh(n);
        leader_publish(n, n->last_leader);   /* its name may be known now */
    }
    send_msgs(n, u->msgs_now, u->n_now);
    save_update(n, u);
    if (u->seq) {
        int rc = raft_persisted(n->r, u->seq);
        if (rc)
            fail_stop("the Raft core (persisted)", rc);
    }
    send_msgs(n, u->msgs_after, u->n_after);
    if (u->has_snapshot) {
        int rc = install_snapshot_file(n, u->snapshot.index);
        if (rc)
            fail_stop("installing a snapshot", rc);
        while (n->p_head && n->p_head->index <= u->snapshot.index)
            pending_unknown(pending_pop(n));
        snap_cleanup(n, u->snapshot.index);
        release_barriers(n);
    }
    apply_committed(n, u->committed, u->n_committed);
    for (size_t i = 0; i < u->n_reads; i++) {
        const raft_read_state *rs = &u->reads[i];
        for (barrier **pp = &n->b_wait; *pp; pp = &(*pp)->next) {
            barrier *b = *pp;
            if (b->id != rs->id)
                continue;
            if (rs->ok) {
                b->index = rs->index ? rs->index : 1;
            } else {
                *pp = b->next;
                b->done(b->arg, KAHUNA_EUNAVAILABLE);
                free(b);
            }
            break;
        }
    }
    if (u->n_reads)
        release_barriers(n);
    if (u->soft_changed)
        soft_change(n, u);
    if (u->timeout_reset)
        new_timeout(n);
    raft_status st;
    raft_status_get(n->r, &st);
    atomic_store(&n->commit_index, st.commit);
}

static void drain(node *n)
{
    while (raft_has_update(n->r)) {
        raft_update u;
        int rc = raft_update_get(n->r, &u);
        if (rc)
            fail_stop("the Raft core (update)", rc);
        handle_update(n, &u);
        raft_update_free(&u);
    }
}

/* ------------------------------------------------------------------ */
/* snapshots and compaction                                           */

static void *snapshot_main(void *arg)
{
    node *n = arg;
    char *tmp = NULL;
    uint64_t idx = 0;
    int rc = KAHUNA_ENOMEM;
    if (asprintf(&tmp, "%s/tmp-%" PRIu64 ".db", n->snap_dir, (uint64_t)clock_mono_us()) >= 0) {
        unlink(tmp);
        rc = fsm_snapshot_create(n->state_path, tmp, &idx);
    }
    char *dst = rc == 0 ? snap_path(n, idx) : NULL;
    if (rc == 0 && (!dst || rename(tmp, dst) != 0 || fsync_path(n->snap_dir, 1) != 0))
        rc = KAHUNA_EIO;
    if (rc) {
        log_warn("node", "taking a snapshot of state.db failed (%s); the log keeps growing until the "
                 "next try; check free space in %s", kahuna_strerror(rc), n->snap_dir);
        if (tmp)
            unlink(tmp);
        idx = 0;
    }
    free(tmp);
    free(dst);
    pthread_mutex_lock(&n->mu);
    n->snap_done_index = idx;
    n->snap_running = 2;   /* done: the node thread joins */
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

static void maybe_start_snapshot(node *n)
{
    uint64_t applied = atomic_load(&n->applied_index);
    if (n->snap_thread_started || applied < n->snap_index + n->snapshot_entries ||
        clock_mono_ms() < n->snap_retry_at)
        return;
    pthread_mutex_lock(&n->mu);
    n->snap_running = 1;
    n->snap_done_index = 0;
    pthread_mutex_unlock(&n->mu);
    if (pthread_create(&n->snap_thread, NULL, snapshot_main, n) != 0) {
        log_warn("node", "cannot start the snapshot thread; will retry");
        pthread_mutex_lock(&n->mu);
        n->snap_running = 0;
        pthread_mutex_unlock(&n->mu);
        return;
    }
    n->snap_thread_started = 1;
}

/* The snapshot thread finished: record the snapshot point, plan compaction. */
static void snapshot_finished(node *n)
{
    pthread_mutex_lock(&n->mu);
    int done = n->snap_running == 2;
    uint64_t idx = n->snap_done_index;
    pthread_mutex_unlock(&n->mu);
    if (!done || !n->snap_thread_started)
        return;
    pthread_join(n->snap_thread, NULL);
    n->snap_thread_started = 0;
    pthread_mutex_lock(&n->mu);
    n->snap_running = 0;
    pthread_mutex_unlock(&n->mu);
    if (idx == 0) {
        n->snap_retry_at = clock_mono_ms() + 10000;
        return;
    }
    uint64_t trailing = n->snapshot_entries / 2 < NODE_LOG_KEEP ? n->snapshot_entries / 2 : NODE_LOG_KEEP;
    raft_snapshot_meta meta;
    memset(&meta, 0, sizeof meta);
    uint64_t compact_to = 0;
    int rc = raft_snapshot_taken(n->r, idx, trailing, &meta, &compact_to);
    if (rc)
        fail_stop("the Raft core (snapshot taken)", rc);
    if (meta.index == 0) {
        char *p = snap_path(n, idx);
        if (p && idx != n->snap_index)
            unlink(p);
        free(p);
        return;
    }
    raftlog_snapshot s;
    memset(&s, 0, sizeof s);
    size_t len = 0;
    if ((rc = raft_config_encode(&meta.config, &s.config, &len)) != 0)
        fail_stop("encoding the snapshot configuration", rc);
    s.index = meta.index;
    s.term = meta.term;
    s.config_len = len;
    rc = raftlog_save_snapshot(n->log, &s);
    free(s.config);
    raft_config_free(&meta.config);
    if (rc)
        fail_stop("recording the snapshot point in raft.db", rc);
    n->snap_index = idx;
    n->compact_to = compact_to;
    snap_cleanup(n, idx);
    log_info("node", "snapshot at index %" PRIu64 "; log kept from %" PRIu64, idx, compact_to + 1);
    drain(n);
}

/* Drops one chunk of compactable log entries per turn. */
static void compact_some(node *n)
{
    uint64_t first = raftlog_first_index(n->log);
    if (n->compact_to < first)
        return;
    uint64_t upto = n->compact_to;
    if (upto - first + 1 > NODE_COMPACT_CHUNK)
        upto = first + NODE_COMPACT_CHUNK - 1;
    int rc = raftlog_compact(n->log, upto);
    if (rc)
        fail_stop("compacting raft.db", rc);
    atomic_store(&n->first_log_index, raftlog_first_index(n->log));
}

/* ------------------------------------------------------------------ */
/* one turn of the loop                                               */

static req *make_expire(node *n, const lease_due *d)
{
    req *r = calloc(1, sizeof *r);
    if (!r)
        fail_stop("building an expire command (out of memory)", KAHUNA_ENOMEM);
    command c;
    memset(&c, 0, sizeof c);
    c.type = d->kind == FSM_TTL_LOCK ? CMD_LOCK_EXPIRE : CMD_KV_EXPIRE;
    c.key = kb(&d->name);
    c.num = d->generation;
    int rc = cmd_encode(&c, &r->enc);
    if (rc == 0)
        rc = cmd_decode(r->enc.data, r->enc.len, &r->cmd);
    if (rc) {
        log_error("node", "cannot encode the expiry of a TTL (%s): a bug; it stays unexpired "
                  "until the next leader", kahuna_strerror(rc));
        req_free(r);
        return NULL;
    }
    (void)n;
    r->type = c.type;
    r->exp_kind = d->kind;
    r->exp_gen = d->generation;
    return r;
}

/* The leader's batch: expiries, freed locks' first waiters, requests. */
static void propose_batch(node *n, req *taken, int64_t now)
{
    batch bt = {NULL, NULL, 0};
    lease_due *due = NULL;
    size_t ndue = 0;
    if (leases_pop_due(n->leases, now, NODE_EXPIRE_MAX, &due, &ndue) != 0)
        fail_stop("collecting expired TTLs (out of memory)", KAHUNA_ENOMEM);
    if (ndue == NODE_EXPIRE_MAX && taken) {
        /* more may be due: expire them all before any newer request */
        pthread_mutex_lock(&n->mu);
        req *tail = taken;
        while (tail->next)
            tail = tail->next;
        tail->next = n->q_head;
        if (!n->q_head)
            n->q_tail = tail;
        n->q_head = taken;
        pthread_mutex_unlock(&n->mu);
        taken = NULL;
    }
    for (size_t i = 0; i < ndue; i++) {
        req *r = make_expire(n, &due[i]);
        if (r)
            batch_add(&bt, r);
    }
    leases_due_free(due, ndue);

    tend_waiters(n, now, &bt);
    for (size_t i = 0; i < n->nserve; i++) {
        req *w = first_waiter(n, kb(&n->serve[i]));
        if (!w)
            continue;
        waiter_unlink(n, w);
        w->served = 1;
        batch_add(&bt, w);
    }
    n->nserve = 0;

    while (taken) {
        req *r = taken;
        taken = r->next;
        r->next = NULL;
        if (r->type == CMD_SEQ_NEXT) {
            int rc = stamp_now(n, r);
            if (rc) {
                req_answer_status(r, rc);
                continue;
            }
        } else if (r->type == CMD_LOCK_ACQUIRE && !acquire_meets_waiters(n, r, now)) {
            continue;
        }
        batch_add(&bt, r);
    }

    int rearm = 0;
    uint64_t proposed = 0, expires = 0;
    req *r = bt.head;
    while (r) {
        req *next = r->next;
        uint64_t index = 0, term = 0;
        int rc = raft_propose(n->r, RAFT_ENTRY_COMMAND, r->enc.data, r->enc.len, &index, &term);
        if (rc == KAHUNA_EUNAVAILABLE || rc == KAHUNA_EBADREQ) {
            if (!r->done) {
                rearm = 1;
                req_free(r);
            } else {
                req_answer_status(r, rc == KAHUNA_EBADREQ ? KAHUNA_ETOOLARGE : KAHUNA_EUNAVAILABLE);
            }
        } else if (rc) {
            fail_stop("the Raft core (propose)", rc);
        } else {
            r->index = index;
            r->term = term;
            r->give_up = 0;
            pending_push(n, r);
            if (r->done)
                proposed++;
            else
                expires++;
        }
        r = next;
    }
    if (rearm)   /* a lease handed out and not proposed must come due again */
        leases_rearm_all(n->leases, now);
    atomic_fetch_add(&n->proposals, proposed);
    atomic_fetch_add(&n->expirations, expires);
}

static void run_admin(node *n, admin *a, int64_t now)
{
    a->next = NULL;
    if (!is_leader(n)) {
        if (a->flags & NODE_NO_FORWARD) {
            admin_finish(a, KAHUNA_EUNAVAILABLE);
            return;
        }
        fwd *f = calloc(1, sizeof *f);
        if (!f) {
            admin_finish(a, KAHUNA_ENOMEM);
            return;
        }
        f->admin_done = a->done;
        f->arg = a->arg;
        int op = a->op == NODE_ADMIN_ADD ? RPC_ADMIN_ADD
               : a->op == NODE_ADMIN_REMOVE ? RPC_ADMIN_REMOVE : RPC_ADMIN_TRANSFER;
        rpc_request rq = {op, 0, 0, kbytes_str(a->id ? a->id : ""), kbytes_str(a->url ? a->url : "")};
        forward_rpc(n, &rq, NODE_ADMIN_WAIT_MS, NULL, NULL, f);
        admin_free(a);
        return;
    }
    uint64_t index = 0;
    int rc = 0;
    if (a->op == NODE_ADMIN_ADD && !n->has_transport) {
        admin_finish(a, KAHUNA_EBADREQ);   /* it could never be reached */
        return;
    }
    if (a->op == NODE_ADMIN_ADD) {
        char *ctx = NULL;
        int len = asprintf(&ctx, "%s=%s", a->id, a->url);
        if (len < 0) {
            admin_finish(a, KAHUNA_ENOMEM);
            return;
        }
        rc = raft_change(n->r, RAFT_CHANGE_ADD_LEARNER, node_raft_id(a->id), ctx, (size_t)len, &index);
        free(ctx);
    } else if (a->op == NODE_ADMIN_REMOVE) {
        rc = raft_change(n->r, RAFT_CHANGE_REMOVE, node_raft_id(a->id), NULL, 0, &index);
    } else {
        uint64_t to = 0;
        if (a->id && a->id[0]) {
            const member *m = member_find(n->mem, n->nmem, node_raft_id(a->id));
            if (!m || !m->voter) {
                admin_finish(a, KAHUNA_EBADREQ);
                return;
            }
            to = m->id;
        } else {
            uint64_t best = 0;
            for (size_t i = 0; i < n->nmem; i++) {
                uint64_t match = 0, next = 0;
                int state = 0, active = 0;
                if (!n->mem[i].voter || n->mem[i].id == n->self ||
                    raft_progress_get(n->r, n->mem[i].id, &match, &next, &state, &active) != 0)
                    continue;
                if (!to || match > best) {
                    to = n->mem[i].id;
                    best = match;
                }
            }
            if (!to) {
                admin_finish(a, KAHUNA_EBADREQ);   /* no other voter */
                return;
            }
        }
        if (to == n->self) {
            admin_finish(a, 0);
            return;
        }
        rc = raft_transfer(n->r, to);
        a->to = to;
    }
    if (rc) {
        admin_finish(a, rc == KAHUNA_EBADREQ ? KAHUNA_EBADREQ : KAHUNA_EUNAVAILABLE);
        return;
    }
    a->index = index;
    a->term = atomic_load(&n->term);
    a->give_up = now + NODE_ADMIN_WAIT_MS;
    a->next = n->a_wait;
    n->a_wait = a;
}

/* Learners that have caught up become voters (one change at a time). */
static void promote_learners(node *n)
{
    uint64_t last = atomic_load(&n->last_log_index);
    for (size_t i = 0; i < n->nmem; i++) {
        if (n->mem[i].voter)
            continue;
        /* the core checks the lag too; this also waits for a first answer,
         * so that a learner that never started is not made a voter */
        uint64_t match = 0, next = 0, idx = 0;
        int state = 0, active = 0;
        if (raft_progress_get(n->r, n->mem[i].id, &match, &next, &state, &active) != 0 ||
            match == 0 || !active || last - match > 128)
            continue;
        if (raft_change(n->r, RAFT_CHANGE_PROMOTE, n->mem[i].id, NULL, 0, &idx) == 0) {
            log_info("node", "promoting %s to voter (entry %" PRIu64 ")", n->mem[i].name, idx);
            return;
        }
    }
}

static void give_up_waits(node *n, int64_t now)
{
    for (req **pp = &n->p_head, *prev = NULL; *pp;) {
        req *r = *pp;
        if (r->give_up && now >= r->give_up) {
            *pp = r->next;
            if (n->p_tail == r)
                n->p_tail = prev;
            pending_unknown(r);
        } else {
            prev = r;
            pp = &r->next;
        }
    }
    for (barrier **pp = &n->b_wait; *pp;) {
        barrier *b = *pp;
        if (now >= b->give_up) {
            *pp = b->next;
            b->done(b->arg, KAHUNA_EUNAVAILABLE);
            free(b);
        } else {
            pp = &b->next;
        }
    }
    for (admin **pp = &n->a_wait; *pp;) {
        admin *a = *pp;
        if (now >= a->give_up) {
            *pp = a->next;
            admin_finish(a, KAHUNA_ETIMEOUT);
        } else {
            pp = &a->next;
        }
    }
}

static void step_in(node *n, inmsg *in, int64_t now)
{
    if (in->snap_status >= 0) {
        raft_snapshot_status(n->r, in->m.to, in->snap_status);
        return;
    }
    if (in->snapshot_path) {
        char *dst = snap_path(n, in->m.snapshot.index);
        if (!dst || in->m.snapshot.index == n->snap_index || rename(in->snapshot_path, dst) != 0 ||
            fsync_path(n->snap_dir, 1) != 0) {
            unlink(in->snapshot_path);
            free(dst);
            if (in->m.snapshot.index != n->snap_index)
                return;   /* the leader retries */
        } else {
            free(dst);
        }
    }
    if (is_blocked(n, in->m.from)) {
        if (in->snapshot_path)
            unlink(in->snapshot_path);
        return;
    }
    member *m = member_find_mut(n, in->m.from);
    if (m)
        m->last_contact = now;
    int rc = raft_step(n->r, &in->m);
    if (rc == KAHUNA_EBADREQ || rc == KAHUNA_EUNAVAILABLE)
        log_debug("node", "ignored a %s message from %" PRIu64, raft_msg_type_name(in->m.type), in->m.from);
    else if (rc)
        fail_stop("the Raft core (step)", rc);
}

static void inmsg_free(inmsg *in)
{
    raft_msg_free(&in->m);
    free(in->snapshot_path);
    free(in);
}

/* Copies match indexes and contact times into the published membership. */
static void publish_progress(node *n)
{
    int leader = is_leader(n);
    uint64_t last = atomic_load(&n->last_log_index);
    for (size_t i = 0; i < n->nmem; i++) {
        member *m = &n->mem[i];
        uint64_t match = 0, next = 0;
        int state = 0, active = 0;
        if (m->id == n->self)
            m->match = last;
        else if (leader && raft_progress_get(n->r, m->id, &match, &next, &state, &active) == 0)
            m->match = match;
        else
            m->match = 0;
    }
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nmembers; i++) {
        const member *m = member_find(n->mem, n->nmem, n->members[i].id);
        if (m) {
            n->members[i].match = m->match;
            n->members[i].last_contact = m->last_contact;
        }
    }
    pthread_mutex_unlock(&n->mu);
}

static void save_cluster_id(node *n)
{
    pthread_mutex_lock(&n->mu);
    int todo = n->cluster_id_unsaved;
    uint64_t id = n->cluster_id;
    n->cluster_id_unsaved = 0;
    pthread_mutex_unlock(&n->mu);
    if (!todo)
        return;
    int rc = raftlog_set_cluster_id(n->log, id);
    if (rc)
        fail_stop("storing the cluster id in raft.db", rc);
    log_info("node", "joined cluster %016" PRIx64, id);
}

static void run_turn(node *n, req *taken, inmsg *in, barrier *bnew, admin *anew)
{
    int64_t now = clock_mono_ms();
    save_cluster_id(n);
    while (in) {
        inmsg *next = in->next;
        step_in(n, in, now);
        inmsg_free(in);
        in = next;
    }
    int ticked = 0;
    while (now >= n->next_tick) {
        int rc = raft_tick(n->r);
        if (rc)
            fail_stop("the Raft core (tick)", rc);
        n->next_tick += n->tick_ms;
        if (now - n->next_tick > 10 * (int64_t)n->tick_ms)
            n->next_tick = now + n->tick_ms;   /* paused: no burst of ticks */
        ticked = 1;
    }
    drain(n);
    if (is_leader(n)) {
        propose_batch(n, taken, now);
    } else {
        while (taken) {
            req *r = taken;
            taken = r->next;
            forward_req(n, r);
        }
    }
    while (bnew) {
        barrier *b = bnew;
        bnew = b->next;
        b->id = ++n->next_read_id;
        b->index = 0;
        b->give_up = now + NODE_READ_WAIT_MS;
        int rc = raft_read_index(n->r, b->id);
        if (rc) {
            if (rc != KAHUNA_EUNAVAILABLE && rc != KAHUNA_EBADREQ)
                fail_stop("the Raft core (read index)", rc);
            b->done(b->arg, KAHUNA_EUNAVAILABLE);
            free(b);
            continue;
        }
        b->next = n->b_wait;
        n->b_wait = b;
    }
    while (anew) {
        admin *a = anew;
        anew = a->next;
        run_admin(n, a, now);
    }
    if (ticked && is_leader(n))
        promote_learners(n);
    if (ticked)
        publish_progress(n);
    drain(n);
    if (ticked)
        give_up_waits(n, now);
    snapshot_finished(n);
    maybe_start_snapshot(n);
    compact_some(n);
}

/* The next moment the loop has something to do without new input. */
static int64_t next_wake(node *n, int64_t now)
{
    int64_t wake = n->next_tick;
    if (is_leader(n)) {
        int64_t d = leases_next_deadline(n->leases);
        if (d < wake)
            wake = d;
        for (req *w = n->w_head; w; w = w->next) {
            if (w->deadline < wake)
                wake = w->deadline;
            if (w->alive && n->next_alive_poll < wake)
                wake = n->next_alive_poll;
        }
    }
    if (n->compact_to >= raftlog_first_index(n->log))
        wake = now;
    return wake < now ? now : wake;
}

static void shutdown_answers(node *n)
{
    pthread_mutex_lock(&n->mu);
    req *q = n->q_head;
    n->q_head = n->q_tail = NULL;
    barrier *b = n->b_new;
    n->b_new = NULL;
    admin *a = n->a_new;
    n->a_new = NULL;
    inmsg *in = n->in_head;
    n->in_head = n->in_tail = NULL;
    pthread_mutex_unlock(&n->mu);
    while (q) {
        req *next = q->next;
        req_answer_status(q, KAHUNA_ESHUTDOWN);
        q = next;
    }
    while (n->w_head) {
        req *w = n->w_head;
        waiter_unlink(n, w);
        req_answer_status(w, KAHUNA_ESHUTDOWN);
    }
    while (n->p_head)
        pending_unknown(pending_pop(n));
    while (b) {
        barrier *next = b->next;
        b->done(b->arg, KAHUNA_ESHUTDOWN);
        free(b);
        b = next;
    }
    while (n->b_wait) {
        barrier *w = n->b_wait;
        n->b_wait = w->next;
        w->done(w->arg, KAHUNA_ESHUTDOWN);
        free(w);
    }
    while (a) {
        admin *next = a->next;
        admin_finish(a, KAHUNA_ESHUTDOWN);
        a = next;
    }
    while (n->a_wait) {
        admin *w = n->a_wait;
        n->a_wait = w->next;
        admin_finish(w, KAHUNA_ETIMEOUT);
    }
    while (in) {
        inmsg *next = in->next;
        inmsg_free(in);
        in = next;
    }
    n->nserve = 0;
}

static void *node_main(void *arg)
{
    node *n = arg;
    for (;;) {
        pthread_mutex_lock(&n->mu);
        for (;;) {
            if (n->stop_state != 0 || n->q_head || n->in_head || n->b_new || n->a_new ||
                n->nserve > 0 || n->snap_running == 2)
                break;
            int64_t now = clock_mono_ms();
            int64_t wake = next_wake(n, now);
            if (wake <= now)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t delta = wake - now;
            if (delta > 3600 * 1000)
                delta = 3600 * 1000;
            ts.tv_sec += (time_t)(delta / 1000);
            ts.tv_nsec += (long)(delta % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            int w = pthread_cond_timedwait(&n->cv, &n->mu, &ts);
            if (w == ETIMEDOUT)
                break;
        }
        if (n->stop_state != 0) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        /* take up to a batch of requests, and everything else */
        req *taken = n->q_head, *last = NULL;
        size_t cnt = 0, bytes = 0;
        for (req *r = n->q_head; r; r = r->next) {
            if (cnt > 0 && (cnt >= NODE_BATCH_ENTRIES || bytes + r->enc.len > NODE_BATCH_BYTES))
                break;
            cnt++;
            bytes += r->enc.len;
            last = r;
        }
        if (last) {
            n->q_head = last->next;
            if (!n->q_head)
                n->q_tail = NULL;
            last->next = NULL;
        } else {
            taken = NULL;
        }
        inmsg *in = n->in_head;
        n->in_head = n->in_tail = NULL;
        barrier *b = n->b_new;
        n->b_new = NULL;
        admin *a = n->a_new;
        n->a_new = NULL;
        pthread_mutex_unlock(&n->mu);
        run_turn(n, taken, in, b, a);
    }
    shutdown_answers(n);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* start                                                              */

static char *path_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

static int cmp_peer(const void *a, const void *b)
{
    return strcmp(((const node_peer *)a)->id, ((const node_peer *)b)->id);
}

/* A new cluster: every initial member writes the same first entry (the
 * members sorted by id, so the order of --peers does not matter). */
static int bootstrap(node *n, const node_config *cfg)
{
    size_t np = cfg->npeers ? cfg->npeers : 1;
    node_peer *peers = calloc(np, sizeof *peers);
    if (!peers)
        return KAHUNA_ENOMEM;
    if (cfg->npeers)
        memcpy(peers, cfg->peers, np * sizeof *peers);
    else
        peers[0] = (node_peer){n->node_id, n->self_url ? n->self_url : ""};
    qsort(peers, np, sizeof *peers, cmp_peer);
    raft_config c = {NULL, 0};
    int rc = 0;
    for (size_t i = 0; i < np && rc == 0; i++) {
        char *ctx = NULL;
        int len = asprintf(&ctx, "%s=%s", peers[i].id, peers[i].url);
        if (len < 0) {
            rc = KAHUNA_ENOMEM;
            break;
        }
        rc = raft_config_add(&c, node_raft_id(peers[i].id), RAFT_VOTER, ctx, (size_t)len);
        free(ctx);
    }
    free(peers);
    raft_entry e;
    memset(&e, 0, sizeof e);
    if (rc == 0)
        rc = raft_bootstrap_entry(&c, &e);
    raft_config_free(&c);
    if (rc)
        return rc == KAHUNA_EBADREQ ? KAHUNA_EBADREQ : rc;
    raftlog_entry le = {e.index, e.term, e.type, e.data, e.len};
    rc = raftlog_write(n->log, NULL, &le, 1, NULL);
    if (rc == 0)
        rc = raftlog_set_cluster_id(n->log, fnv1a(e.data, e.len) | 1);
    free(e.data);
    if (rc == 0)
        log_info("node", "bootstrapped a new cluster of %zu member%s", np, np == 1 ? "" : "s");
    return rc;
}

/* The cluster id: stored, or derived from the bootstrap entry. */
static int load_cluster_id(node *n)
{
    uint64_t id = raftlog_cluster_id(n->log);
    if (id == 0 && raftlog_first_index(n->log) == 1 && raftlog_last_index(n->log) >= 1) {
        raftlog_entry *e = NULL;
        size_t k = 0;
        int rc = raftlog_entries(n->log, 1, 1, 1 << 20, &e, &k);
        if (rc)
            return rc;
        if (k == 1 && e[0].type == RAFT_ENTRY_CONFIG && e[0].term == 1) {
            id = fnv1a(e[0].data, e[0].len) | 1;
        } else {
            raftlog_entries_free(e, k);
            log_error("node", "%s was written by a kahunad from before Raft (no cluster "
                      "configuration in its log); this build cannot read it: move the data dir "
                      "away and start with an empty one (docs/operations.md, upgrade)", n->raft_path);
            return KAHUNA_EIO;
        }
        raftlog_entries_free(e, k);
        if ((rc = raftlog_set_cluster_id(n->log, id)) != 0)
            return rc;
    }
    n->cluster_id = id;
    return 0;
}

static int core_start(node *n, const node_config *cfg)
{
    raftlog_hardstate hs;
    int rc = raftlog_load_hardstate(n->log, &hs);
    if (rc)
        return rc;
    raftlog_snapshot snap;
    memset(&snap, 0, sizeof snap);
    if ((rc = raftlog_load_snapshot(n->log, &snap)) != 0)
        return rc;
    raft_init init;
    memset(&init, 0, sizeof init);
    if (snap.index) {
        rc = raft_config_decode(snap.config, snap.config_len, &init.snapshot.config);
        if (rc) {
            raftlog_snapshot_free(&snap);
            log_error("node", "the snapshot configuration in %s does not decode; restore the data "
                      "dir from a backup or start this node empty and re-add it", n->raft_path);
            return KAHUNA_EIO;
        }
        init.snapshot.index = snap.index;
        init.snapshot.term = snap.term;
        n->snap_index = snap.index;
    }
    raftlog_snapshot_free(&snap);
    if (n->snap_index && fsm_applied_index(n->fsm) < n->snap_index &&
        (rc = install_snapshot_file(n, n->snap_index)) != 0) {
        raft_config_free(&init.snapshot.config);
        return rc;
    }
    init.hs.term = hs.term;
    atomic_store(&n->term, hs.term);
    init.hs.vote = vote_id(hs.vote);
    init.hs.commit = hs.commit;
    n->hs_unsaved = hs;
    init.first_index = raftlog_first_index(n->log);
    init.last_index = raftlog_last_index(n->log);
    init.prev_term = 0;
    if (init.first_index > 1 && (rc = raftlog_term(n->log, init.first_index - 1, &init.prev_term)) != 0) {
        raft_config_free(&init.snapshot.config);
        return rc;
    }
    init.applied = fsm_applied_index(n->fsm);
    if (init.applied > init.last_index) {
        log_error("node", "state.db has applied entries up to %" PRIu64 " but raft.db ends at %" PRIu64
                  ": the two files do not belong together; restore the data dir from a backup",
                  init.applied, init.last_index);
        raft_config_free(&init.snapshot.config);
        return KAHUNA_EIO;
    }
    if (init.applied + 1 < init.first_index) {
        log_error("node", "state.db has applied entries up to %" PRIu64 " but raft.db starts at %"
                  PRIu64 " and no snapshot covers the gap; restore the data dir from a backup",
                  init.applied, init.first_index);
        raft_config_free(&init.snapshot.config);
        return KAHUNA_EIO;
    }
    raft_options o;
    raft_options_default(&o, n->self);
    o.election_ticks = n->election_ticks;
    raft_storage st = {n, st_entries, st_term};
    rc = raft_new(&o, &st, &init, &n->r);
    raft_config_free(&init.snapshot.config);
    if (rc)
        return rc;
    (void)cfg;
    new_timeout(n);
    members_refresh(n);
    return 0;
}

/* A node that is the only voter does not wait an election timeout. */
static void campaign_alone(node *n)
{
    if (n->nmem != 1 || n->mem[0].id != n->self || !n->mem[0].voter)
        return;
    for (unsigned i = 0; i < 2 * n->election_ticks + 2 && !is_leader(n); i++) {
        int rc = raft_tick(n->r);
        if (rc)
            fail_stop("the Raft core (tick)", rc);
        drain(n);
    }
}

static void node_destroy(node *n)
{
    if (!n)
        return;
    close_readers(n);
    raft_free(n->r);
    fsm_close(n->fsm);
    raftlog_close(n->log);
    leases_free(n->leases);
    free_names(n->freed, n->cap_freed);
    free_names(n->serve, n->cap_serve);
    kbuf_free(&n->tmp);
    free(n->fents);
    free(n->results);
    free(n->lents);
    members_free(n->mem, n->nmem);
    members_free(n->book, n->nbook);
    members_free(n->members, n->nmembers);
    free(n->leader_url);
    free(n->blocked);
    free(n->node_id);
    free(n->self_url);
    free(n->data_dir);
    free(n->raft_path);
    free(n->state_path);
    free(n->snap_dir);
    pthread_cond_destroy(&n->cv);
    pthread_cond_destroy(&n->stop_cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

int node_start(const node_config *cfg, node **out)
{
    *out = NULL;
    node *n = calloc(1, sizeof *n);
    if (!n)
        return KAHUNA_ENOMEM;
    pthread_condattr_t ca;
    if (pthread_mutex_init(&n->mu, NULL) != 0) {
        free(n);
        return KAHUNA_ENOMEM;
    }
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&n->cv, &ca) != 0 || pthread_cond_init(&n->stop_cv, NULL) != 0) {
        pthread_mutex_destroy(&n->mu);
        free(n);
        return KAHUNA_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    n->gen = atomic_fetch_add(&node_gen_counter, 1);
    n->node_id = strdup(cfg->node_id);
    n->self = node_raft_id(cfg->node_id);
    n->self_url = strdup(cfg->self_url ? cfg->self_url : "");
    n->data_dir = strdup(cfg->data_dir);
    n->raft_path = path_join(cfg->data_dir, "raft.db");
    n->state_path = path_join(cfg->data_dir, "state.db");
    n->snap_dir = path_join(cfg->data_dir, "snapshots");
    n->tick_ms = cfg->tick_ms > 0 ? cfg->tick_ms : NODE_DEFAULT_TICK_MS;
    n->election_ticks = cfg->election_ticks > 0 ? (unsigned)cfg->election_ticks : 10;
    n->snapshot_entries = cfg->snapshot_entries ? cfg->snapshot_entries : NODE_SNAPSHOT_ENTRIES;
    n->rng = cfg->seed ? cfg->seed : ((uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32) ^ n->self);
    if (!n->rng)
        n->rng = 1;
    if (cfg->transport) {
        n->tr = *cfg->transport;
        n->has_transport = 1;
    }
    atomic_store(&n->role, RAFT_FOLLOWER);
    int rc = KAHUNA_ENOMEM;
    if (!n->node_id || !n->self_url || !n->data_dir || !n->raft_path || !n->state_path || !n->snap_dir)
        goto fail;
    if (cfg->npeers) {
        if ((n->book = calloc(cfg->npeers, sizeof *n->book)) == NULL)
            goto fail;
        for (size_t i = 0; i < cfg->npeers; i++) {
            n->book[i].id = node_raft_id(cfg->peers[i].id);
            n->book[i].name = strdup(cfg->peers[i].id);
            n->book[i].url = strdup(cfg->peers[i].url);
            n->nbook++;
            if (!n->book[i].name || !n->book[i].url)
                goto fail;
        }
    }

    if (mkdir(n->snap_dir, 0700) != 0 && errno != EEXIST) {
        log_error("node", "cannot create %s (%s); check the data dir's permissions", n->snap_dir,
                  strerror(errno));
        rc = KAHUNA_EIO;
        goto fail;
    }
    if ((rc = leases_new(&n->leases)) != 0)
        goto fail;
    fsm_sqlite_setup();                /* before the first SQLite use (speed) */
    if ((rc = raftlog_open(n->raft_path, cfg->node_id, &n->log)) != 0)
        goto fail;
    fsm_options fo = {cfg->history_keep > 0 ? cfg->history_keep : 16};
    if ((rc = fsm_open(n->state_path, &fo, &n->fsm)) != 0) {
        log_error("node", "cannot open %s (%s); check the data dir", n->state_path, kahuna_strerror(rc));
        goto fail;
    }
    if ((rc = fsm_checkpointer_start(n->fsm, NODE_CHECKPOINT_INTERVAL_MS, 0)) != 0)
        goto fail;
    {
        raftlog_snapshot s;
        memset(&s, 0, sizeof s);
        if ((rc = raftlog_load_snapshot(n->log, &s)) != 0)
            goto fail;
        int empty = raftlog_last_index(n->log) == 0 && s.index == 0;
        raftlog_snapshot_free(&s);
        if (empty && !cfg->join && (rc = bootstrap(n, cfg)) != 0)
            goto fail;
        if (empty && cfg->join)
            log_info("node", "node %s starts empty and waits to be added to a cluster "
                     "(kahuna-cli cluster add %s %s, on any member)", n->node_id, n->node_id, n->self_url);
    }
    if ((rc = load_cluster_id(n)) != 0)
        goto fail;
    n->hook_now = clock_mono_ms();
    if ((rc = fsm_foreach_ttl(n->fsm, arm_hook, n)) != 0)
        goto fail;
    fsm_set_ttl_hook(n->fsm, ttl_hook, n);
    if ((rc = core_start(n, cfg)) != 0)
        goto fail;
    snap_cleanup(n, n->snap_index);   /* leftovers; the current snapshot file stays */
    atomic_store(&n->last_log_index, raftlog_last_index(n->log));
    atomic_store(&n->first_log_index, raftlog_first_index(n->log));
    atomic_store(&n->applied_index, fsm_applied_index(n->fsm));
    atomic_store(&n->revision, fsm_current_revision(n->fsm));
    n->next_tick = clock_mono_ms() + n->tick_ms;
    campaign_alone(n);
    if (pthread_create(&n->thread, NULL, node_main, n) != 0) {
        rc = KAHUNA_ENOMEM;
        goto fail;
    }
    n->thread_started = 1;
    log_info("node", "node %s started: term %" PRIu64 ", log %" PRIu64 "..%" PRIu64 ", applied %" PRIu64
             ", revision %" PRId64 ", %zu member%s, %zu TTLs armed", n->node_id,
             (uint64_t)atomic_load(&n->term), raftlog_first_index(n->log), raftlog_last_index(n->log),
             (uint64_t)atomic_load(&n->applied_index), (int64_t)atomic_load(&n->revision), n->nmem,
             n->nmem == 1 ? "" : "s", leases_count(n->leases));
    *out = n;
    return 0;
fail:
    if (rc != KAHUNA_EMISMATCH && rc != KAHUNA_ENOMEM && rc != KAHUNA_EIO)
        rc = KAHUNA_EIO;
    node_destroy(n);
    return rc;
}

int node_data_dir_owner(const char *data_dir, char **owner)
{
    *owner = NULL;
    char *path = path_join(data_dir, "raft.db");
    if (!path)
        return KAHUNA_ENOMEM;
    int rc = raftlog_read_node_id(path, owner);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------ */
/* stop                                                               */

void node_stop(node *n)
{
    pthread_mutex_lock(&n->mu);
    if (n->stop_state == 2) {
        pthread_mutex_unlock(&n->mu);
        return;
    }
    if (n->stop_state == 1) {       /* another thread is stopping it */
        while (n->stop_state != 2)
            pthread_cond_wait(&n->stop_cv, &n->mu);
        pthread_mutex_unlock(&n->mu);
        return;
    }
    n->stop_state = 1;
    atomic_store(&n->stopping, 1);
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    if (n->thread_started)
        pthread_join(n->thread, NULL);
    n->thread_started = 0;
    if (n->snap_thread_started) {
        pthread_join(n->snap_thread, NULL);
        n->snap_thread_started = 0;
    }
    if (n->hs_dirty && raftlog_save_hardstate(n->log, &n->hs_unsaved) != 0)
        log_warn("node", "saving the commit index at stop failed; the next start re-learns it");
    fsm_checkpointer_stop(n->fsm);
    int rc = fsm_checkpoint(n->fsm);
    if (rc)
        log_warn("node", "last checkpoint of state.db failed (%s); the next start replays more "
                 "of the log", kahuna_strerror(rc));
    fsm_close(n->fsm);
    n->fsm = NULL;
    raftlog_close(n->log);
    n->log = NULL;
    log_info("node", "node %s stopped at index %" PRIu64, n->node_id,
             (uint64_t)atomic_load(&n->applied_index));
    pthread_mutex_lock(&n->mu);
    n->stop_state = 2;
    pthread_cond_broadcast(&n->stop_cv);
    pthread_mutex_unlock(&n->mu);
}

void node_free(node *n)
{
    if (!n)
        return;
    node_stop(n);
    node_destroy(n);
}

/* ------------------------------------------------------------------ */
/* requests                                                           */

static void enqueue(node *n, req *r)
{
    pthread_mutex_lock(&n->mu);
    if (n->stop_state != 0) {
        pthread_mutex_unlock(&n->mu);
        req_answer_status(r, KAHUNA_ESHUTDOWN);
        return;
    }
    r->next = NULL;
    if (n->q_tail)
        n->q_tail->next = r;
    else
        n->q_head = r;
    n->q_tail = r;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

/* Encodes cmd into a new request, or answers done with the error. */
static req *make_req(const command *cmd, node_done_fn done, void *arg)
{
    if (cmd->type == CMD_NOOP || cmd->type == CMD_KV_EXPIRE || cmd->type == CMD_LOCK_EXPIRE) {
        /* expiry is the node's own decision (SPEC §1), never a client's */
        answer_status(done, arg, KAHUNA_EBADREQ);
        return NULL;
    }
    req *r = calloc(1, sizeof *r);
    if (!r) {
        answer_status(done, arg, KAHUNA_ENOMEM);
        return NULL;
    }
    int rc = cmd_encode(cmd, &r->enc);
    if (rc == 0 && cmd->type == CMD_LOCK_ACQUIRE)
        rc = cmd_decode(r->enc.data, r->enc.len, &r->cmd);
    if (rc) {
        req_free(r);
        answer_status(done, arg, rc);
        return NULL;
    }
    r->type = cmd->type;
    r->done = done;
    r->arg = arg;
    return r;
}

void node_submit(node *n, const command *cmd, int64_t wait_ms, int (*alive)(void *arg),
                 int flags, node_done_fn done, void *arg)
{
    if (wait_ms < 0 || (wait_ms > 0 && cmd->type != CMD_LOCK_ACQUIRE)) {
        answer_status(done, arg, KAHUNA_EBADREQ);
        return;
    }
    if (atomic_load(&n->stopping)) {
        answer_status(done, arg, KAHUNA_ESHUTDOWN);
        return;
    }
    req *r = make_req(cmd, done, arg);
    if (!r)
        return;
    r->flags = flags;
    r->wait_ms = wait_ms;
    r->deadline = add_sat(clock_mono_ms(), wait_ms);
    r->alive = alive;
    if (!is_leader(n)) {   /* the node thread checks again: this is a shortcut */
        forward_req(n, r);
        return;
    }
    enqueue(n, r);
}

void node_propose(node *n, const command *cmd, node_done_fn done, void *arg)
{
    node_submit(n, cmd, 0, NULL, 0, done, arg);
}

void node_lock_acquire(node *n, const command *cmd, int64_t wait_ms,
                       int (*alive)(void *arg), node_done_fn done, void *arg)
{
    if (cmd->type != CMD_LOCK_ACQUIRE) {
        answer_status(done, arg, KAHUNA_EBADREQ);
        return;
    }
    node_submit(n, cmd, wait_ms, alive, 0, done, arg);
}

void node_read_barrier(node *n, node_read_fn done, void *arg)
{
    if (atomic_load(&n->alone) && is_leader(n) && !atomic_load(&n->stopping)) {
        /* the only voter is leader until it stops: what it has committed
         * is everything acknowledged, so waiting for its apply suffices */
        pthread_mutex_lock(&n->mu);
        uint64_t index = atomic_load(&n->commit_index);
        if (atomic_load(&n->applied_index) >= index && n->stop_state == 0) {
            pthread_mutex_unlock(&n->mu);
            done(arg, 0);
            return;
        }
        pthread_mutex_unlock(&n->mu);
    }
    barrier *b = calloc(1, sizeof *b);
    if (!b) {
        done(arg, KAHUNA_ENOMEM);
        return;
    }
    b->done = done;
    b->arg = arg;
    pthread_mutex_lock(&n->mu);
    if (n->stop_state != 0) {
        pthread_mutex_unlock(&n->mu);
        free(b);
        done(arg, KAHUNA_ESHUTDOWN);
        return;
    }
    b->next = n->b_new;
    n->b_new = b;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

static void push_in(node *n, inmsg *in)
{
    pthread_mutex_lock(&n->mu);
    if (n->stop_state != 0) {
        pthread_mutex_unlock(&n->mu);
        if (in->snapshot_path)
            unlink(in->snapshot_path);
        inmsg_free(in);
        return;
    }
    in->next = NULL;
    if (n->in_tail)
        n->in_tail->next = in;
    else
        n->in_head = in;
    n->in_tail = in;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void node_receive(node *n, raft_msg *m)
{
    inmsg *in = calloc(1, sizeof *in);
    if (!in) {
        raft_msg_free(m);
        return;
    }
    in->m = *m;
    memset(m, 0, sizeof *m);
    in->snap_status = -1;
    push_in(n, in);
}

void node_receive_snapshot(node *n, raft_msg *m, const char *path)
{
    inmsg *in = calloc(1, sizeof *in);
    char *p = strdup(path);
    if (!in || !p) {
        free(in);
        free(p);
        unlink(path);
        raft_msg_free(m);
        return;
    }
    in->m = *m;
    memset(m, 0, sizeof *m);
    in->snapshot_path = p;
    in->snap_status = -1;
    push_in(n, in);
}

void node_snapshot_status(node *n, uint64_t to, int ok)
{
    inmsg *in = calloc(1, sizeof *in);
    if (!in)
        return;   /* the leader probes again after snapshot_retry_ticks */
    in->m.to = to;
    in->snap_status = ok ? 1 : 0;
    push_in(n, in);
}

uint64_t node_cluster_id(node *n)
{
    pthread_mutex_lock(&n->mu);
    uint64_t id = n->cluster_id;
    pthread_mutex_unlock(&n->mu);
    return id;
}

int node_adopt_cluster_id(node *n, uint64_t id)
{
    if (id == 0)
        return KAHUNA_EBADREQ;
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    if (n->cluster_id == 0) {
        /* the node thread stores it before it steps any message */
        n->cluster_id = id;
        n->cluster_id_unsaved = 1;
        pthread_cond_signal(&n->cv);
    } else if (n->cluster_id != id) {
        rc = KAHUNA_EMISMATCH;
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

int node_set_blocked(node *n, const char *ids)
{
    size_t cap = 1;
    for (const char *p = ids; *p; p++)
        cap += *p == ',';
    uint64_t *list = calloc(cap, sizeof *list);
    if (!list)
        return KAHUNA_ENOMEM;
    size_t k = 0;
    const char *p = ids;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 64) {
            free(list);
            return KAHUNA_EBADREQ;
        }
        char name[65];
        memcpy(name, p, len);
        name[len] = '\0';
        list[k++] = node_raft_id(name);
        p += len;
        if (*p == ',')
            p++;
    }
    pthread_mutex_lock(&n->mu);
    free(n->blocked);
    n->blocked = list;
    n->nblocked = k;
    atomic_store(&n->any_blocked, k > 0);
    pthread_mutex_unlock(&n->mu);
    log_warn("node", "test fault switch: Raft traffic with [%s] is %s", ids, k ? "cut" : "restored");
    return 0;
}

const char *node_snapshot_dir(node *n)
{
    return n->snap_dir;
}

void node_admin(node *n, int op, const char *id, const char *url, int flags,
                node_admin_fn done, void *arg)
{
    if (op < NODE_ADMIN_ADD || op > NODE_ADMIN_TRANSFER ||
        ((op == NODE_ADMIN_ADD || op == NODE_ADMIN_REMOVE) && (!id || !id[0])) ||
        (op == NODE_ADMIN_ADD && (!url || !url[0]))) {
        done(arg, KAHUNA_EBADREQ);
        return;
    }
    admin *a = calloc(1, sizeof *a);
    if (!a) {
        done(arg, KAHUNA_ENOMEM);
        return;
    }
    a->op = op;
    a->id = strdup(id ? id : "");
    a->url = strdup(url ? url : "");
    a->flags = flags;
    a->done = done;
    a->arg = arg;
    if (!a->id || !a->url) {
        admin_finish(a, KAHUNA_ENOMEM);
        return;
    }
    pthread_mutex_lock(&n->mu);
    if (n->stop_state != 0) {
        pthread_mutex_unlock(&n->mu);
        admin_finish(a, KAHUNA_ESHUTDOWN);
        return;
    }
    a->next = n->a_new;
    n->a_new = a;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

int node_members(node *n, node_member **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    int64_t now = clock_mono_ms();
    uint64_t leader = atomic_load(&n->leader);
    pthread_mutex_lock(&n->mu);
    node_member *m = calloc(n->nmembers ? n->nmembers : 1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&n->mu);
        return KAHUNA_ENOMEM;
    }
    for (size_t i = 0; i < n->nmembers; i++) {
        const member *s = &n->members[i];
        snprintf(m[i].id, sizeof m[i].id, "%s", s->name);
        snprintf(m[i].url, sizeof m[i].url, "%s", s->url);
        m[i].voter = s->voter;
        m[i].is_leader = s->id == leader;
        m[i].is_self = s->id == n->self;
        m[i].match_index = s->match;
        m[i].last_contact_ms = m[i].is_self ? 0 : s->last_contact ? now - s->last_contact : -1;
    }
    *count = n->nmembers;
    pthread_mutex_unlock(&n->mu);
    *out = m;
    return 0;
}

int64_t node_ttl_remaining(node *n, int kind, kbytes name, int64_t generation)
{
    /* SPEC §3: reads stop returning a key at once when its TTL passes,
     * before the expire command is applied. Every node keeps deadlines
     * (armed at its own apply, so a follower's never come before the
     * leader's) and restarts them in full when a leader is elected. */
    return leases_remaining(n->leases, kind, name, generation, clock_mono_ms());
}

void node_get_status(node *n, node_status *out)
{
    memset(out, 0, sizeof *out);
    out->node_id = n->node_id;
    pthread_mutex_lock(&n->mu);
    snprintf(out->leader_id, sizeof out->leader_id, "%s", n->leader_name);
    pthread_mutex_unlock(&n->mu);
    out->role = atomic_load(&n->role);
    out->is_leader = out->role == RAFT_LEADER;
    out->term = atomic_load(&n->term);
    out->commit_index = atomic_load(&n->commit_index);
    out->applied_index = atomic_load(&n->applied_index);
    out->last_log_index = atomic_load(&n->last_log_index);
    out->first_log_index = atomic_load(&n->first_log_index);
    out->revision = atomic_load(&n->revision);
    out->proposals = atomic_load(&n->proposals);
    out->batches = atomic_load(&n->batches);
    out->expirations = atomic_load(&n->expirations);
    out->lock_waiters = atomic_load(&n->lock_waiters);
    out->leader_changes = atomic_load(&n->leader_changes);
    out->snapshots_sent = atomic_load(&n->snapshots_sent);
    out->snapshots_installed = atomic_load(&n->snapshots_installed);
}

int node_ready(node *n)
{
    return !atomic_load(&n->stopping) && atomic_load(&n->leader) != RAFT_NONE &&
           atomic_load(&n->applied_index) >= atomic_load(&n->commit_index);
}
