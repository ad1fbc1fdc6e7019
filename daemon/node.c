/* node.c: one kahuna node: the loop that turns proposals into log entries,
 * makes them durable, applies them, and answers.
 *
 * Threads. Callers (HTTP threads) encode their command, put a request on
 * the queue (a mutex + condition variable) and return; the node thread owns
 * raftlog and the fsm writer and is the only one that touches them. Each
 * turn of the loop:
 *   1. takes what is queued (group commit: at most NODE_BATCH_ENTRIES
 *      requests or NODE_BATCH_BYTES of encoded commands);
 *   2. puts in front of them, in this order: one expire command per lease
 *      whose deadline has passed (so a request that arrived after a deadline
 *      always finds the key or lock expired in the log), then the acquire of
 *      the first waiter of each lock that became free in the previous turn;
 *   3. stamps the wall clock into SEQ_NEXT commands (now_ms);
 *   4. appends the whole batch to raft.db in one transaction, one fsync;
 *      single node: it is committed once durable;
 *   5. applies the batch to state.db in one transaction;
 *   6. only then answers every request of the batch, and releases the read
 *      barriers that the apply satisfied.
 * A failed append or apply is fail-stop: log what to do, exit(70). Nothing
 * is answered from a state that may be wrong; acknowledged writes are in
 * raft.db and the restart replays them.
 *
 * Terms. Until the Raft core exists, a node is the single-node leader: each
 * start takes the next term (what winning an election would do), saves
 * term and vote durably, and appends a NOOP entry of that term.
 *
 * TTLs. The fsm reports every TTL it arms or disarms (ttl_hook) and the node
 * mirrors them in the deadline table (leases.c) on its monotonic clock. At
 * start every TTL restarts in full (SPEC §1). A lock disarm means the lock
 * became free: its first waiter (arrival order) is proposed in the next
 * turn; if someone else won the lock meanwhile, it keeps its place.
 *
 * Compaction. The fsm's checkpoint thread checkpoints state.db off this
 * thread and advances fsm_durable_index(). After each turn the node
 * compacts the log up to that index (never past it), keeping NODE_LOG_KEEP
 * entries for followers that will need to catch up: in transactions of at
 * most NODE_COMPACT_CHUNK entries, one per turn, so that no turn waits long
 * for a big DELETE; what is left waits for a chunk's worth or for
 * NODE_COMPACT_INTERVAL_MS. */
#include "node.h"
#include "clock.h"
#include "errors.h"
#include "leases.h"
#include "log.h"
#include "raftlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NODE_BATCH_ENTRIES 1024
#define NODE_BATCH_BYTES (8u << 20)
#define NODE_EXPIRE_MAX 1024            /* expire commands per turn */
#define NODE_REPLAY_BYTES (8u << 20)
#define NODE_COMPACT_INTERVAL_MS 1000
#define NODE_COMPACT_CHUNK 1024         /* log entries dropped per raft.db transaction */
#define NODE_CHECKPOINT_INTERVAL_MS 1000 /* state.db checkpoints (also every few MB of WAL) */
#define NODE_LOG_KEEP 10000
#define NODE_ALIVE_POLL_MS 100
#define NODE_EXIT_FAILSTOP 70

/* A request from a caller: a proposal (maybe a lock acquire that may wait). */
typedef struct req {
    struct req *next;
    struct req *prev;           /* waiter list only */
    kbuf enc;                   /* the encoded command */
    uint8_t type;               /* cmd_type */
    command cmd;                /* LOCK_ACQUIRE: decoded view into enc */
    node_done_fn done;
    void *arg;
    int64_t wait_ms;            /* > 0: may wait for the lock */
    int64_t deadline;           /* monotonic ms when waiting ends */
    int (*alive)(void *arg);
    int served;                 /* proposed as the first waiter of a freed lock */
    int final;                  /* last try after the wait deadline */
} req;

typedef struct barrier {
    struct barrier *next;
    uint64_t index;
    node_read_fn done;
    void *arg;
} barrier;

/* One entry of the batch being built. */
typedef struct item {
    req *r;                     /* NULL: an expire command */
    size_t due;                 /* index into the due leases when r == NULL */
} item;

typedef struct rslot rslot;

struct node {
    uint64_t gen;               /* unique per node ever started (reader cache key) */
    char *node_id;
    char *raft_path;
    char *state_path;
    raftlog *log;
    fsm *fsm;
    leases *leases;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu;         /* guards the queue, barriers, stop state */
    pthread_cond_t cv;          /* the node thread waits here */
    pthread_cond_t stop_cv;     /* node_stop callers wait here */
    req *q_head, *q_tail;
    barrier *barriers;
    int stop_state;             /* 0 running, 1 stopping, 2 stopped */

    _Atomic uint64_t term;
    _Atomic uint64_t commit_index;
    _Atomic uint64_t applied_index;
    _Atomic uint64_t last_log_index;
    _Atomic int64_t revision;
    _Atomic uint64_t proposals;
    _Atomic uint64_t batches;
    _Atomic uint64_t expirations;
    _Atomic uint64_t lock_waiters;
    _Atomic int stopping;       /* mirror of stop_state >= 1 for lock-free reads */

    /* node thread only */
    req *w_head, *w_tail;       /* lock waiters, arrival order */
    int64_t hook_now;           /* monotonic ms of the apply in progress */
    int track_freed;            /* record freed locks (the loop runs) */
    kbuf *freed;                /* lock names that became free in this apply */
    size_t nfreed, cap_freed;
    kbuf *serve;                /* lock names whose first waiter goes next */
    size_t nserve, cap_serve;
    int64_t next_alive_poll;
    int64_t last_compact_ms;
    item *items;
    raftlog_entry *lents;
    fsm_entry *fents;
    fsm_result *results;
    size_t cap_batch;
    kbuf *exp_enc;              /* encodings of the expire commands */
    size_t cap_exp;
    kbuf tmp;

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

static int ensure_batch(node *n, size_t want)
{
    if (want <= n->cap_batch)
        return 0;
    size_t cap = n->cap_batch ? n->cap_batch : 256;
    while (cap < want)
        cap *= 2;
    item *it = realloc(n->items, cap * sizeof *it);
    if (it)
        n->items = it;
    raftlog_entry *le = realloc(n->lents, cap * sizeof *le);
    if (le)
        n->lents = le;
    fsm_entry *fe = realloc(n->fents, cap * sizeof *fe);
    if (fe)
        n->fents = fe;
    fsm_result *res = realloc(n->results, cap * sizeof *res);
    if (res)
        n->results = res;
    if (!it || !le || !fe || !res)
        return KAHUNA_ENOMEM;
    n->cap_batch = cap;
    return 0;
}

static void add_item(node *n, size_t *count, req *r, size_t due)
{
    if (ensure_batch(n, *count + 1) != 0)
        fail_stop("growing the batch (out of memory)", KAHUNA_ENOMEM);
    n->items[*count].r = r;
    n->items[*count].due = due;
    (*count)++;
}

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
static void tend_waiters(node *n, int64_t now, size_t *count)
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
                add_item(n, count, w, 0);
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
/* one turn of the loop                                               */

/* Log entries that may be compacted now: up to what state.db holds
 * durably, minus NODE_LOG_KEEP. */
static uint64_t compactable(node *n)
{
    uint64_t durable = fsm_durable_index(n->fsm);
    if (durable <= NODE_LOG_KEEP)
        return 0;
    uint64_t upto = durable - NODE_LOG_KEEP, first = raftlog_first_index(n->log);
    return upto >= first ? upto - first + 1 : 0;
}

/* Compacts one chunk of the log when a chunk's worth is there or
 * NODE_COMPACT_INTERVAL_MS has passed; all of it with `all` (at stop). */
static void housekeeping(node *n, int64_t now, int all)
{
    uint64_t todo = compactable(n);
    if (todo == 0)
        return;
    if (!all && todo < NODE_COMPACT_CHUNK && now - n->last_compact_ms < NODE_COMPACT_INTERVAL_MS)
        return;
    n->last_compact_ms = now;
    do {
        uint64_t n_drop = todo < NODE_COMPACT_CHUNK ? todo : NODE_COMPACT_CHUNK;
        uint64_t upto = raftlog_first_index(n->log) + n_drop - 1;
        int rc = raftlog_compact(n->log, upto);
        if (rc != 0)
            fail_stop("compacting raft.db", rc);
        log_debug("node", "log compacted up to %llu", (unsigned long long)upto);
        todo -= n_drop;
    } while (all && todo > 0);
}

static void run_turn(node *n, req *taken)
{
    int64_t now = clock_mono_ms();
    size_t count = 0;

    /* 1. expired leases first */
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
    if (ndue > n->cap_exp) {
        kbuf *ne = realloc(n->exp_enc, ndue * sizeof *ne);
        if (!ne)
            fail_stop("growing the batch (out of memory)", KAHUNA_ENOMEM);
        for (size_t i = n->cap_exp; i < ndue; i++) {
            kbuf z = KBUF_INIT;
            ne[i] = z;
        }
        n->exp_enc = ne;
        n->cap_exp = ndue;
    }
    for (size_t i = 0; i < ndue; i++) {
        command c;
        memset(&c, 0, sizeof c);
        c.type = due[i].kind == FSM_TTL_LOCK ? CMD_LOCK_EXPIRE : CMD_KV_EXPIRE;
        c.key = kb(&due[i].name);
        c.num = due[i].generation;
        kbuf_reset(&n->exp_enc[i]);
        int rc = cmd_encode(&c, &n->exp_enc[i]);
        if (rc) {
            log_error("node", "cannot encode the expiry of a TTL (%s): a bug; it stays unexpired "
                      "until restart", kahuna_strerror(rc));
            continue;
        }
        add_item(n, &count, NULL, i);
    }

    /* 2. waiters: time-outs and departures, then the first waiter of each
     * lock freed in the previous turn */
    tend_waiters(n, now, &count);
    for (size_t i = 0; i < n->nserve; i++) {
        req *w = first_waiter(n, kb(&n->serve[i]));
        if (!w)
            continue;
        waiter_unlink(n, w);
        w->served = 1;
        add_item(n, &count, w, 0);
    }
    n->nserve = 0;

    /* 3. the requests, in arrival order */
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
        add_item(n, &count, r, 0);
    }
    if (count == 0) {
        leases_due_free(due, ndue);
        return;
    }

    /* 4. durable in the log */
    uint64_t first = raftlog_last_index(n->log) + 1;
    uint64_t term = atomic_load(&n->term);
    uint64_t proposed = 0;
    for (size_t i = 0; i < count; i++) {
        const kbuf *enc = n->items[i].r ? &n->items[i].r->enc : &n->exp_enc[n->items[i].due];
        n->lents[i].index = first + i;
        n->lents[i].term = term;
        n->lents[i].type = FSM_ENTRY_COMMAND;
        n->lents[i].data = enc->data;
        n->lents[i].len = enc->len;
        n->fents[i].index = first + i;
        n->fents[i].term = term;
        n->fents[i].type = FSM_ENTRY_COMMAND;
        n->fents[i].data = enc->data;
        n->fents[i].len = enc->len;
        if (n->items[i].r)
            proposed++;
    }
    int rc = raftlog_append(n->log, n->lents, count);
    if (rc)
        fail_stop("appending to raft.db", rc);
    uint64_t last = first + count - 1;
    atomic_fetch_add(&n->batches, 1);
    atomic_fetch_add(&n->proposals, proposed);
    atomic_fetch_add(&n->expirations, count - proposed);
    atomic_store(&n->last_log_index, last);
    pthread_mutex_lock(&n->mu);
    atomic_store(&n->commit_index, last);   /* a single node commits what is durable */
    pthread_mutex_unlock(&n->mu);

    /* 5. applied */
    memset(n->results, 0, count * sizeof *n->results);
    n->hook_now = clock_mono_ms();
    n->nfreed = 0;
    rc = fsm_apply_batch(n->fsm, n->fents, count, n->results);
    if (rc)
        fail_stop("applying to state.db", rc);
    atomic_store(&n->revision, fsm_current_revision(n->fsm));
    barrier *ready = NULL;
    pthread_mutex_lock(&n->mu);
    atomic_store(&n->applied_index, last);
    for (barrier **pp = &n->barriers; *pp;) {
        barrier *b = *pp;
        if (b->index <= last) {
            *pp = b->next;
            b->next = ready;
            ready = b;
        } else {
            pp = &b->next;
        }
    }
    pthread_mutex_unlock(&n->mu);

    /* 6. answers */
    int stopping = atomic_load(&n->stopping);
    now = clock_mono_ms();
    for (size_t i = 0; i < count; i++) {
        fsm_result *res = &n->results[i];
        req *r = n->items[i].r;
        if (!r) {
            const lease_due *d = &due[n->items[i].due];
            leases_disarm_generation(n->leases, d->kind, kb(&d->name), d->generation);
            fsm_result_clear(res);
            continue;
        }
        if (res->status == KAHUNA_ELOCKHELD && r->type == CMD_LOCK_ACQUIRE && r->wait_ms > 0 &&
            !r->final && now < r->deadline && !stopping) {
            if (r->served)
                waiter_push_front_of_name(n, r);
            else
                waiter_push_back(n, r);
            r->served = 0;
            fsm_result_clear(res);
            continue;
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
        fsm_result_clear(res);
        req_free(r);
    }
    leases_due_free(due, ndue);
    while (ready) {
        barrier *b = ready;
        ready = b->next;
        b->done(b->arg, 0);
        free(b);
    }

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

/* The next moment the loop has something to do without new requests. */
static int64_t next_wake(node *n, int64_t now)
{
    int64_t wake = leases_next_deadline(n->leases);
    for (req *w = n->w_head; w; w = w->next) {
        if (w->deadline < wake)
            wake = w->deadline;
        if (w->alive && n->next_alive_poll < wake)
            wake = n->next_alive_poll;
    }
    uint64_t todo = compactable(n);
    if (todo > 0) {
        int64_t hk = todo >= NODE_COMPACT_CHUNK ? now : n->last_compact_ms + NODE_COMPACT_INTERVAL_MS;
        if (hk < wake)
            wake = hk;
    }
    return wake < now ? now : wake;
}

static void shutdown_answers(node *n)
{
    pthread_mutex_lock(&n->mu);
    req *q = n->q_head;
    n->q_head = n->q_tail = NULL;
    barrier *b = n->barriers;
    n->barriers = NULL;
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
    while (b) {
        barrier *next = b->next;
        b->done(b->arg, KAHUNA_ESHUTDOWN);
        free(b);
        b = next;
    }
    n->nserve = 0;
}

static void *node_main(void *arg)
{
    node *n = arg;
    n->track_freed = 1;
    n->last_compact_ms = clock_mono_ms();
    for (;;) {
        pthread_mutex_lock(&n->mu);
        for (;;) {
            if (n->stop_state != 0 || n->q_head || n->nserve > 0)
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
        /* take up to a batch of requests */
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
        pthread_mutex_unlock(&n->mu);
        run_turn(n, taken);
        housekeeping(n, clock_mono_ms(), 0);
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

/* Applies the committed entries that state.db has not applied yet. */
static int replay(node *n)
{
    uint64_t applied = fsm_applied_index(n->fsm);
    uint64_t first = raftlog_first_index(n->log);
    uint64_t last = raftlog_last_index(n->log);
    if (applied > last) {
        log_error("node", "state.db has applied entries up to %llu but raft.db ends at %llu: the "
                  "two files do not belong together; restore the data dir from a backup",
                  (unsigned long long)applied, (unsigned long long)last);
        return KAHUNA_EIO;
    }
    if (applied + 1 < first) {
        log_error("node", "state.db has applied entries up to %llu but raft.db starts at %llu (the "
                  "entries between are compacted): state.db is older than the log; restore the "
                  "data dir from a backup", (unsigned long long)applied, (unsigned long long)first);
        return KAHUNA_EIO;
    }
    if (applied < last)
        log_info("node", "replaying log entries %llu..%llu into state.db",
                 (unsigned long long)(applied + 1), (unsigned long long)last);
    uint64_t lo = applied + 1;
    while (lo <= last) {
        raftlog_entry *e = NULL;
        size_t cnt = 0;
        int rc = raftlog_entries(n->log, lo, last, NODE_REPLAY_BYTES, &e, &cnt);
        if (rc)
            return rc == KAHUNA_ENOMEM ? rc : KAHUNA_EIO;
        fsm_entry *fe = calloc(cnt ? cnt : 1, sizeof *fe);
        if (!fe) {
            raftlog_entries_free(e, cnt);
            return KAHUNA_ENOMEM;
        }
        for (size_t i = 0; i < cnt; i++) {
            fe[i].index = e[i].index;
            fe[i].term = e[i].term;
            fe[i].type = e[i].type;
            fe[i].data = e[i].data;
            fe[i].len = e[i].len;
        }
        rc = fsm_apply_batch(n->fsm, fe, cnt, NULL);
        free(fe);
        raftlog_entries_free(e, cnt);
        if (rc)
            return rc;
        lo += cnt;
    }
    return 0;
}

/* Becomes the leader of the next term: durable term and vote, then a NOOP. */
static int take_term(node *n)
{
    raftlog_hardstate hs;
    int rc = raftlog_load_hardstate(n->log, &hs);
    if (rc)
        return rc;
    hs.term = (hs.term > raftlog_last_term(n->log) ? hs.term : raftlog_last_term(n->log)) + 1;
    snprintf(hs.vote, sizeof hs.vote, "%s", n->node_id);
    hs.commit = raftlog_last_index(n->log);
    if ((rc = raftlog_save_hardstate(n->log, &hs)) != 0)
        return rc;
    raftlog_entry noop = {raftlog_last_index(n->log) + 1, hs.term, FSM_ENTRY_NOOP, NULL, 0};
    if ((rc = raftlog_append(n->log, &noop, 1)) != 0)
        return rc;
    fsm_entry fe = {noop.index, noop.term, FSM_ENTRY_NOOP, NULL, 0};
    if ((rc = fsm_apply_batch(n->fsm, &fe, 1, NULL)) != 0)
        return rc;
    atomic_store(&n->term, hs.term);
    return 0;
}

static void node_destroy(node *n)
{
    if (!n)
        return;
    close_readers(n);
    fsm_close(n->fsm);
    raftlog_close(n->log);
    leases_free(n->leases);
    free_names(n->freed, n->cap_freed);
    free_names(n->serve, n->cap_serve);
    free_names(n->exp_enc, n->cap_exp);
    kbuf_free(&n->tmp);
    free(n->items);
    free(n->lents);
    free(n->fents);
    free(n->results);
    free(n->node_id);
    free(n->raft_path);
    free(n->state_path);
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
    n->raft_path = path_join(cfg->data_dir, "raft.db");
    n->state_path = path_join(cfg->data_dir, "state.db");
    int rc = KAHUNA_ENOMEM;
    if (!n->node_id || !n->raft_path || !n->state_path)
        goto fail;
    if ((rc = leases_new(&n->leases)) != 0)
        goto fail;
    if ((rc = raftlog_open(n->raft_path, cfg->node_id, &n->log)) != 0)
        goto fail;
    fsm_options fo = {cfg->history_keep > 0 ? cfg->history_keep : 16};
    if ((rc = fsm_open(n->state_path, &fo, &n->fsm)) != 0) {
        log_error("node", "cannot open %s (%s); check the data dir", n->state_path, kahuna_strerror(rc));
        goto fail;
    }
    /* from here the fsm's writer belongs to this thread, then (after
     * pthread_create) to the node thread */
    if ((rc = fsm_checkpointer_start(n->fsm, NODE_CHECKPOINT_INTERVAL_MS, 0)) != 0)
        goto fail;
    if ((rc = replay(n)) != 0 || (rc = take_term(n)) != 0)
        goto fail;
    n->hook_now = clock_mono_ms();
    if ((rc = fsm_foreach_ttl(n->fsm, arm_hook, n)) != 0)
        goto fail;
    fsm_set_ttl_hook(n->fsm, ttl_hook, n);
    uint64_t last = raftlog_last_index(n->log);
    atomic_store(&n->last_log_index, last);
    atomic_store(&n->commit_index, last);
    atomic_store(&n->applied_index, fsm_applied_index(n->fsm));
    atomic_store(&n->revision, fsm_current_revision(n->fsm));
    if (pthread_create(&n->thread, NULL, node_main, n) != 0) {
        rc = KAHUNA_ENOMEM;
        goto fail;
    }
    n->thread_started = 1;
    log_info("node", "node %s is the leader of term %llu; log %llu..%llu, revision %lld, %zu TTLs armed",
             n->node_id, (unsigned long long)atomic_load(&n->term),
             (unsigned long long)raftlog_first_index(n->log), (unsigned long long)last,
             (long long)atomic_load(&n->revision), leases_count(n->leases));
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
    /* a last checkpoint, on this thread now that the node thread is gone,
     * then the log down to what it made durable */
    fsm_checkpointer_stop(n->fsm);
    int rc = fsm_checkpoint(n->fsm);
    if (rc)
        log_warn("node", "last checkpoint of state.db failed (%s); the next start replays more "
                 "of the log", kahuna_strerror(rc));
    housekeeping(n, clock_mono_ms(), 1);
    fsm_close(n->fsm);
    n->fsm = NULL;
    raftlog_close(n->log);
    n->log = NULL;
    log_info("node", "node %s stopped at index %llu", n->node_id,
             (unsigned long long)atomic_load(&n->applied_index));
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

void node_propose(node *n, const command *cmd, node_done_fn done, void *arg)
{
    if (atomic_load(&n->stopping)) {
        answer_status(done, arg, KAHUNA_ESHUTDOWN);
        return;
    }
    req *r = make_req(cmd, done, arg);
    if (r)
        enqueue(n, r);
}

void node_lock_acquire(node *n, const command *cmd, int64_t wait_ms,
                       int (*alive)(void *arg), node_done_fn done, void *arg)
{
    if (cmd->type != CMD_LOCK_ACQUIRE || wait_ms < 0) {
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
    r->wait_ms = wait_ms;
    r->deadline = add_sat(clock_mono_ms(), wait_ms);
    r->alive = alive;
    enqueue(n, r);
}

void node_read_barrier(node *n, node_read_fn done, void *arg)
{
    pthread_mutex_lock(&n->mu);
    if (n->stop_state != 0) {
        pthread_mutex_unlock(&n->mu);
        done(arg, KAHUNA_ESHUTDOWN);
        return;
    }
    uint64_t index = atomic_load(&n->commit_index);
    if (atomic_load(&n->applied_index) >= index) {
        pthread_mutex_unlock(&n->mu);
        done(arg, 0);
        return;
    }
    barrier *b = malloc(sizeof *b);
    if (!b) {
        pthread_mutex_unlock(&n->mu);
        done(arg, KAHUNA_ENOMEM);
        return;
    }
    b->index = index;
    b->done = done;
    b->arg = arg;
    b->next = n->barriers;
    n->barriers = b;
    pthread_mutex_unlock(&n->mu);
}

int64_t node_ttl_remaining(node *n, int kind, kbytes name, int64_t generation)
{
    return leases_remaining(n->leases, kind, name, generation, clock_mono_ms());
}

void node_get_status(node *n, node_status *out)
{
    memset(out, 0, sizeof *out);
    out->node_id = n->node_id;
    out->leader_id = n->node_id;
    out->is_leader = 1;
    out->term = atomic_load(&n->term);
    out->commit_index = atomic_load(&n->commit_index);
    out->applied_index = atomic_load(&n->applied_index);
    out->last_log_index = atomic_load(&n->last_log_index);
    out->revision = atomic_load(&n->revision);
    out->proposals = atomic_load(&n->proposals);
    out->batches = atomic_load(&n->batches);
    out->expirations = atomic_load(&n->expirations);
    out->lock_waiters = atomic_load(&n->lock_waiters);
}

int node_ready(node *n)
{
    return !atomic_load(&n->stopping) &&
           atomic_load(&n->applied_index) >= atomic_load(&n->commit_index);
}
