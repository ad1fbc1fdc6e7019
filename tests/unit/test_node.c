/* test_node.c: unit tests of daemon/node.c with the real state machine, on
 * a temporary data dir.
 *
 * The node is driven through node.h alone: proposals from many threads at
 * once (group commit: fewer log transactions than requests), restart and
 * replay, TTL expiry of keys and locks (the node proposes the expire
 * commands itself), lock waiters served in arrival order, time-outs,
 * departed clients, read barriers, and a stop that answers everyone. Waits
 * poll with a deadline; nothing asserts timing. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "node.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kahuna-test-node.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static node *start(const char *id)
{
    node_config cfg = {.node_id = id, .data_dir = dir, .history_keep = 16};
    node *n = NULL;
    ck_assert_int_eq(node_start(&cfg, &n), 0);
    ck_assert_ptr_nonnull(n);
    return n;
}

/* ---- waiting for one answer ---- */

typedef struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int calls;
    fsm_result res;
    char owner[300];
} answer;

static void answer_init(answer *a)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
}

static void on_done(void *arg, const fsm_result *res)
{
    answer *a = arg;
    pthread_mutex_lock(&a->mu);
    a->res = *res;
    a->res.owner = NULL;
    snprintf(a->owner, sizeof a->owner, "%s", res->owner ? res->owner : "");
    a->done = 1;
    a->calls++;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits up to 20 s for the answer; returns its status. */
static int wait_answer(answer *a)
{
    int64_t until = clock_mono_ms() + 20000;
    pthread_mutex_lock(&a->mu);
    while (!a->done && clock_mono_ms() < until) {
        pthread_mutex_unlock(&a->mu);
        usleep(1000);
        pthread_mutex_lock(&a->mu);
    }
    int done = a->done;
    int st = a->res.status;
    pthread_mutex_unlock(&a->mu);
    ck_assert_msg(done, "no answer within 20 s");
    return st;
}

static int is_done(answer *a)
{
    pthread_mutex_lock(&a->mu);
    int d = a->done;
    pthread_mutex_unlock(&a->mu);
    return d;
}

static command kv_put(const char *key, const char *value, int64_t ttl_ms)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = CMD_KV_PUT;
    c.key = kbytes_str(key);
    c.value = kbytes_str(value);
    c.ttl_ms = ttl_ms;
    return c;
}

static command lock_cmd(uint8_t type, const char *name, const char *owner, int64_t ttl_ms)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.key = kbytes_str(name);
    c.owner = kbytes_str(owner);
    c.ttl_ms = ttl_ms;
    return c;
}

static int propose_wait(node *n, command c, answer *a)
{
    answer_init(a);
    node_propose(n, &c, on_done, a);
    return wait_answer(a);
}

static node_status status_of(node *n)
{
    node_status s;
    node_get_status(n, &s);
    return s;
}

/* Polls cond(n, arg) every ms for up to 20 s. */
static int poll_until(int (*cond)(node *, void *), node *n, void *arg)
{
    int64_t until = clock_mono_ms() + 20000;
    while (clock_mono_ms() < until) {
        if (cond(n, arg))
            return 1;
        usleep(1000);
    }
    return 0;
}

static int waiters_at_least(node *n, void *arg)
{
    return status_of(n).lock_waiters >= (uint64_t)(uintptr_t)arg;
}

static int key_absent(node *n, void *arg)
{
    kv_record rec;
    int rc = fsm_kv_get(node_reader(n), kbytes_str(arg), 0, &rec);
    if (rc == 0)
        kv_record_free(&rec);
    return rc == KAHUNA_ENOTFOUND;
}

static int lock_free(node *n, void *arg)
{
    lock_record rec;
    int rc = fsm_lock_get(node_reader(n), kbytes_str(arg), &rec);
    if (rc == 0)
        lock_record_free(&rec);
    return rc == KAHUNA_ENOTFOUND;
}

/* ------------------------------------------------------------------ */

START_TEST(test_node_is_the_single_node_leader_and_ready)
{
    node *n = start("n1");
    node_status s = status_of(n);
    ck_assert_str_eq(s.node_id, "n1");
    ck_assert_str_eq(s.leader_id, "n1");
    ck_assert_int_eq(s.is_leader, 1);
    ck_assert_uint_eq(s.term, 1);
    ck_assert_uint_eq(s.commit_index, 2); /* the bootstrap configuration, the term's NOOP */
    ck_assert_uint_eq(s.applied_index, 2);
    ck_assert_int_eq(node_ready(n), 1);
    node_free(n);
}
END_TEST

START_TEST(test_node_propose_applies_then_answers_with_the_revision)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, kv_put("k", "v1", 0), &a), 0);
    ck_assert_int_eq(a.res.revision, 1);
    ck_assert_int_eq(a.res.version, 1);
    ck_assert_int_eq(propose_wait(n, kv_put("k", "v2", 0), &a), 0);
    ck_assert_int_eq(a.res.revision, 2);
    ck_assert_int_eq(a.res.version, 2);
    /* answered after apply: a read sees it at once */
    kv_record rec;
    ck_assert_int_eq(fsm_kv_get(node_reader(n), kbytes_str("k"), 0, &rec), 0);
    ck_assert_uint_eq(rec.value.len, 2);
    ck_assert_mem_eq(rec.value.data, "v2", 2);
    kv_record_free(&rec);
    node_status s = status_of(n);
    ck_assert_int_eq(s.revision, 2);
    ck_assert_uint_eq(s.proposals, 2);
    node_free(n);
}
END_TEST

START_TEST(test_node_invalid_command_is_answered_at_once)
{
    node *n = start("n1");
    answer a;
    answer_init(&a);
    command c = kv_put("", "v", 0); /* empty key */
    node_propose(n, &c, on_done, &a);
    ck_assert_int_eq(a.done, 1);    /* on the calling thread, before return */
    ck_assert_int_eq(a.res.status, KAHUNA_EBADREQ);
    node_free(n);
}
END_TEST

START_TEST(test_node_refuses_expire_commands_from_clients)
{
    node *n = start("n1");
    answer a;
    command c = lock_cmd(CMD_LOCK_EXPIRE, "L", "", 0);
    c.num = 1;
    ck_assert_int_eq(propose_wait(n, c, &a), KAHUNA_EBADREQ);
    command k;
    memset(&k, 0, sizeof k);
    k.type = CMD_KV_EXPIRE;
    k.key = kbytes_str("k");
    k.num = 1;
    ck_assert_int_eq(propose_wait(n, k, &a), KAHUNA_EBADREQ);
    node_free(n);
}
END_TEST

/* ---- group commit ---- */

#define GC_THREADS 8
#define GC_PER_THREAD 250

typedef struct gc_ctx {
    node *n;
    int id;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *left;
    int *failures;
} gc_ctx;

static void gc_done(void *arg, const fsm_result *res)
{
    gc_ctx *g = arg;
    pthread_mutex_lock(g->mu);
    if (res->status != 0)
        (*g->failures)++;
    if (--(*g->left) == 0)
        pthread_cond_broadcast(g->cv);
    pthread_mutex_unlock(g->mu);
}

static void *gc_thread(void *arg)
{
    gc_ctx *g = arg;
    for (int i = 0; i < GC_PER_THREAD; i++) {
        char key[64];
        snprintf(key, sizeof key, "gc/%d/%d", g->id, i);
        command c = kv_put(key, "x", 0);
        node_propose(g->n, &c, gc_done, g);
    }
    return NULL;
}

START_TEST(test_node_group_commit_shares_log_transactions)
{
    node *n = start("n1");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = GC_THREADS * GC_PER_THREAD, failures = 0;
    pthread_t th[GC_THREADS];
    gc_ctx ctx[GC_THREADS];
    uint64_t batches0 = status_of(n).batches;
    for (int i = 0; i < GC_THREADS; i++) {
        ctx[i] = (gc_ctx){n, i, &mu, &cv, &left, &failures};
        ck_assert_int_eq(pthread_create(&th[i], NULL, gc_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&mu);
    while (left > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    ck_assert_int_eq(failures, 0);
    node_status s = status_of(n);
    ck_assert_uint_eq(s.proposals, GC_THREADS * GC_PER_THREAD);
    ck_assert_int_eq(s.revision, GC_THREADS * GC_PER_THREAD);
    ck_assert_uint_lt(s.batches - batches0, (uint64_t)(GC_THREADS * GC_PER_THREAD));
    ck_assert_uint_eq(s.applied_index, s.commit_index);
    node_free(n);
}
END_TEST

/* ---- restart ---- */

START_TEST(test_node_restart_keeps_everything_and_takes_a_new_term)
{
    node *n = start("n1");
    answer a;
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "r/%d", i);
        ck_assert_int_eq(propose_wait(n, kv_put(key, "val", 0), &a), 0);
    }
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "o1", 60000), &a), 0);
    int64_t token1 = a.res.token;
    command seq;
    memset(&seq, 0, sizeof seq);
    seq.type = CMD_SEQ_NEXT;
    seq.key = kbytes_str("s");
    seq.num = 5;
    ck_assert_int_eq(propose_wait(n, seq, &a), 0);
    ck_assert_int_eq(a.res.last, 5);
    node_status before = status_of(n);
    node_free(n);

    n = start("n1");
    node_status after = status_of(n);
    ck_assert_uint_eq(after.term, before.term + 1);
    ck_assert_int_eq(after.revision, before.revision);
    ck_assert_uint_eq(after.applied_index, before.applied_index + 1); /* + the new NOOP */
    kv_record rec;
    ck_assert_int_eq(fsm_kv_get(node_reader(n), kbytes_str("r/49"), 0, &rec), 0);
    kv_record_free(&rec);
    /* sequences continue, tokens keep increasing */
    ck_assert_int_eq(propose_wait(n, seq, &a), 0);
    ck_assert_int_eq(a.res.value, 6);
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_RELEASE, "L", "o1", 0), &a), 0);
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "o2", 60000), &a), 0);
    ck_assert_int_gt(a.res.token, token1);
    node_free(n);
}
END_TEST

START_TEST(test_node_rebuilds_the_state_from_the_log)
{
    node *n = start("n1");
    answer a;
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "x/%d", i);
        ck_assert_int_eq(propose_wait(n, kv_put(key, "v", 0), &a), 0);
    }
    node_free(n);
    /* lose state.db entirely: the log replays it */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/state.db*", dir);
    ck_assert_int_eq(system(cmd), 0);
    n = start("n1");
    kv_record rec;
    ck_assert_int_eq(fsm_kv_get(node_reader(n), kbytes_str("x/19"), 0, &rec), 0);
    ck_assert_int_eq(rec.revision, 20);
    kv_record_free(&rec);
    ck_assert_int_eq(status_of(n).revision, 20);
    node_free(n);
}
END_TEST

START_TEST(test_node_refuses_a_data_dir_of_another_node)
{
    node *n = start("n1");
    node_free(n);
    node_config cfg = {.node_id = "n2", .data_dir = dir, .history_keep = 16};
    ck_assert_int_eq(node_start(&cfg, &n), KAHUNA_EMISMATCH);
    ck_assert_ptr_null(n);
}
END_TEST

/* ---- TTLs ---- */

START_TEST(test_node_key_ttl_expiry_proposes_an_expire)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, kv_put("t", "v", 100), &a), 0);
    int64_t rev = a.res.revision;
    int64_t left = node_ttl_remaining(n, FSM_TTL_KV, kbytes_str("t"), rev);
    ck_assert_int_gt(left, 0);
    ck_assert_int_le(left, 100);
    ck_assert_int_eq(node_ttl_remaining(n, FSM_TTL_KV, kbytes_str("nope"), 1), -1);
    ck_assert(poll_until(key_absent, n, (void *)"t"));
    ck_assert_uint_ge(status_of(n).expirations, 1);
    ck_assert_int_eq(node_ttl_remaining(n, FSM_TTL_KV, kbytes_str("t"), rev), -1);
    node_free(n);
}
END_TEST

START_TEST(test_node_write_after_the_deadline_finds_the_key_expired)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, kv_put("t", "v", 30), &a), 0);
    usleep(60 * 1000);
    command c = kv_put("t", "new", 0);
    c.flags = CMD_F_IF_NOT_EXISTS;
    ck_assert_int_eq(propose_wait(n, c, &a), 0); /* the expire went first */
    ck_assert_int_eq(a.res.version, 1);
    node_free(n);
}
END_TEST

START_TEST(test_node_lock_ttl_expiry_frees_the_lock)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "o1", 100), &a), 0);
    int64_t t1 = a.res.token;
    ck_assert(poll_until(lock_free, n, (void *)"L"));
    ck_assert_uint_ge(status_of(n).expirations, 1);
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "o2", 1000), &a), 0);
    ck_assert_int_gt(a.res.token, t1);
    node_free(n);
}
END_TEST

START_TEST(test_node_lock_held_answer_carries_the_remaining_ttl)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "holder", 60000), &a), 0);
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "other", 1000), &a), KAHUNA_ELOCKHELD);
    ck_assert_str_eq(a.owner, "holder");
    ck_assert_int_gt(a.res.ttl_ms, 0);
    ck_assert_int_le(a.res.ttl_ms, 60000);
    node_free(n);
}
END_TEST

START_TEST(test_node_ttls_restart_in_full_after_a_restart)
{
    node *n = start("n1");
    answer a;
    ck_assert_int_eq(propose_wait(n, kv_put("t", "v", 600000), &a), 0);
    int64_t rev = a.res.revision;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "L", "o", 600000), &a), 0);
    int64_t tok = a.res.token;
    node_free(n);
    n = start("n1");
    ck_assert_int_gt(node_ttl_remaining(n, FSM_TTL_KV, kbytes_str("t"), rev), 590000);
    ck_assert_int_gt(node_ttl_remaining(n, FSM_TTL_LOCK, kbytes_str("L"), tok), 590000);
    node_free(n);
}
END_TEST

/* ---- lock waiters ---- */

static void acquire_waiting(node *n, answer *a, const char *owner, int64_t wait_ms, uint64_t waiters_after)
{
    answer_init(a);
    command c = lock_cmd(CMD_LOCK_ACQUIRE, "W", owner, 60000);
    node_lock_acquire(n, &c, wait_ms, NULL, on_done, a);
    ck_assert(poll_until(waiters_at_least, n, (void *)(uintptr_t)waiters_after));
}

START_TEST(test_node_lock_waiters_are_served_in_arrival_order)
{
    node *n = start("n1");
    answer a, b, c, d, r;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    acquire_waiting(n, &b, "B", 20000, 1);
    acquire_waiting(n, &c, "C", 20000, 2);
    acquire_waiting(n, &d, "D", 20000, 3);
    ck_assert(!is_done(&b) && !is_done(&c) && !is_done(&d));
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_RELEASE, "W", "A", 0), &r), 0);
    ck_assert_int_eq(wait_answer(&b), 0);
    ck_assert_int_gt(b.res.token, a.res.token);
    ck_assert(!is_done(&c) && !is_done(&d));
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_RELEASE, "W", "B", 0), &r), 0);
    ck_assert_int_eq(wait_answer(&c), 0);
    ck_assert_int_gt(c.res.token, b.res.token);
    ck_assert(!is_done(&d));
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_RELEASE, "W", "C", 0), &r), 0);
    ck_assert_int_eq(wait_answer(&d), 0);
    ck_assert_int_eq(status_of(n).lock_waiters, 0);
    ck_assert_int_eq(b.calls + c.calls + d.calls, 3);
    node_free(n);
}
END_TEST

START_TEST(test_node_lock_waiter_gets_the_lock_when_it_expires)
{
    node *n = start("n1");
    answer a, b;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 150), &a), 0);
    acquire_waiting(n, &b, "B", 20000, 1);
    ck_assert_int_eq(wait_answer(&b), 0);
    ck_assert_int_gt(b.res.token, a.res.token);
    node_free(n);
}
END_TEST

START_TEST(test_node_lock_waiter_times_out_with_lock_held)
{
    node *n = start("n1");
    answer a, b;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    answer_init(&b);
    command c = lock_cmd(CMD_LOCK_ACQUIRE, "W", "B", 60000);
    node_lock_acquire(n, &c, 100, NULL, on_done, &b);
    ck_assert_int_eq(wait_answer(&b), KAHUNA_ELOCKHELD);
    ck_assert_str_eq(b.owner, "A");
    ck_assert_int_eq(b.res.token, a.res.token);
    ck_assert_int_gt(b.res.ttl_ms, 0);
    ck_assert_int_eq(status_of(n).lock_waiters, 0);
    node_free(n);
}
END_TEST

static int gone(void *arg) { (void)arg; return 0; }

START_TEST(test_node_lock_waiter_whose_client_left_is_dropped)
{
    node *n = start("n1");
    answer a, b;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    answer_init(&b);
    command c = lock_cmd(CMD_LOCK_ACQUIRE, "W", "B", 60000);
    node_lock_acquire(n, &c, 20000, gone, on_done, &b);
    ck_assert_int_eq(wait_answer(&b), KAHUNA_ECANCELED);
    ck_assert_int_eq(status_of(n).lock_waiters, 0);
    node_free(n);
}
END_TEST

START_TEST(test_node_lock_acquire_on_a_free_lock_does_not_wait)
{
    node *n = start("n1");
    answer b;
    answer_init(&b);
    command c = lock_cmd(CMD_LOCK_ACQUIRE, "W", "B", 60000);
    node_lock_acquire(n, &c, 20000, NULL, on_done, &b);
    ck_assert_int_eq(wait_answer(&b), 0);
    ck_assert_str_eq(b.owner, "B");
    node_free(n);
}
END_TEST

START_TEST(test_node_holder_reacquire_does_not_queue_behind_waiters)
{
    node *n = start("n1");
    answer a, b, again;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    acquire_waiting(n, &b, "B", 20000, 1);
    answer_init(&again);
    command c = lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000);
    node_lock_acquire(n, &c, 20000, NULL, on_done, &again);
    ck_assert_int_eq(wait_answer(&again), 0);
    ck_assert_int_eq(again.res.token, a.res.token);
    ck_assert(!is_done(&b));
    node_free(n);
    ck_assert_int_eq(b.res.status, KAHUNA_ESHUTDOWN);
}
END_TEST

START_TEST(test_node_no_wait_acquire_with_waiters_is_answered_lock_held)
{
    node *n = start("n1");
    answer a, b, c;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    acquire_waiting(n, &b, "B", 20000, 1);
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "C", 60000), &c), KAHUNA_ELOCKHELD);
    ck_assert_str_eq(c.owner, "A");
    node_free(n);
}
END_TEST

/* ---- reads and stop ---- */

static void on_read(void *arg, int status)
{
    answer *a = arg;
    pthread_mutex_lock(&a->mu);
    a->res.status = status;
    a->done = 1;
    a->calls++;
    pthread_mutex_unlock(&a->mu);
}

START_TEST(test_node_read_barrier_sees_every_acknowledged_write)
{
    node *n = start("n1");
    answer a, r;
    ck_assert_int_eq(propose_wait(n, kv_put("k", "v", 0), &a), 0);
    answer_init(&r);
    node_read_barrier(n, on_read, &r);
    ck_assert_int_eq(wait_answer(&r), 0);
    kv_record rec;
    ck_assert_int_eq(fsm_kv_get(node_reader(n), kbytes_str("k"), 0, &rec), 0);
    kv_record_free(&rec);
    node_free(n);
}
END_TEST

START_TEST(test_node_stop_answers_waiters_and_refuses_new_requests)
{
    node *n = start("n1");
    answer a, b, after, rd;
    ck_assert_int_eq(propose_wait(n, lock_cmd(CMD_LOCK_ACQUIRE, "W", "A", 60000), &a), 0);
    acquire_waiting(n, &b, "B", 20000, 1);
    node_stop(n);
    ck_assert_int_eq(wait_answer(&b), KAHUNA_ESHUTDOWN);
    ck_assert_int_eq(b.calls, 1);
    answer_init(&after);
    command c = kv_put("k", "v", 0);
    node_propose(n, &c, on_done, &after);
    ck_assert_int_eq(after.done, 1);
    ck_assert_int_eq(after.res.status, KAHUNA_ESHUTDOWN);
    answer_init(&rd);
    node_read_barrier(n, on_read, &rd);
    ck_assert_int_eq(rd.res.status, KAHUNA_ESHUTDOWN);
    ck_assert_int_eq(node_ready(n), 0);
    /* still readable until node_free */
    lock_record rec;
    ck_assert_int_eq(fsm_lock_get(node_reader(n), kbytes_str("W"), &rec), 0);
    lock_record_free(&rec);
    node_status s = status_of(n);
    ck_assert_str_eq(s.node_id, "n1");
    node_stop(n); /* twice is fine */
    node_free(n);
}
END_TEST

START_TEST(test_node_stop_keeps_every_acknowledged_write)
{
    node *n = start("n1");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = GC_THREADS * GC_PER_THREAD, failures = 0;
    gc_ctx ctx = {n, 0, &mu, &cv, &left, &failures};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, gc_thread, &ctx), 0);
    pthread_join(th, NULL);
    node_stop(n); /* mid-stream: some answered, the rest ESHUTDOWN */
    int64_t rev = status_of(n).revision;
    node_free(n);
    n = start("n1");
    ck_assert_int_eq(status_of(n).revision, rev);
    node_free(n);
    ck_assert_int_eq(left, GC_THREADS * GC_PER_THREAD - GC_PER_THREAD);
}
END_TEST

START_TEST(test_node_readers_of_many_threads_are_closed_at_free)
{
    node *n = start("n1");
    ck_assert_ptr_nonnull(node_reader(n));
    ck_assert_ptr_eq(node_reader(n), node_reader(n));
    node_free(n);
    n = start("n1");                /* a new node: a new reader on this thread */
    fsm_reader *r = node_reader(n);
    ck_assert_ptr_nonnull(r);
    int64_t rev = -1, keys = -1;
    ck_assert_int_eq(fsm_reader_stats(r, &rev, &keys), 0);
    node_free(n);
}
END_TEST

static Suite *node_suite(void)
{
    Suite *s = suite_create("node");
    TCase *tc = tcase_create("proposals");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_node_is_the_single_node_leader_and_ready);
    tcase_add_test(tc, test_node_propose_applies_then_answers_with_the_revision);
    tcase_add_test(tc, test_node_invalid_command_is_answered_at_once);
    tcase_add_test(tc, test_node_refuses_expire_commands_from_clients);
    tcase_add_test(tc, test_node_group_commit_shares_log_transactions);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_node_restart_keeps_everything_and_takes_a_new_term);
    tcase_add_test(tc, test_node_rebuilds_the_state_from_the_log);
    tcase_add_test(tc, test_node_refuses_a_data_dir_of_another_node);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_node_key_ttl_expiry_proposes_an_expire);
    tcase_add_test(tc, test_node_write_after_the_deadline_finds_the_key_expired);
    tcase_add_test(tc, test_node_lock_ttl_expiry_frees_the_lock);
    tcase_add_test(tc, test_node_lock_held_answer_carries_the_remaining_ttl);
    tcase_add_test(tc, test_node_ttls_restart_in_full_after_a_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("waiters");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_node_lock_waiters_are_served_in_arrival_order);
    tcase_add_test(tc, test_node_lock_waiter_gets_the_lock_when_it_expires);
    tcase_add_test(tc, test_node_lock_waiter_times_out_with_lock_held);
    tcase_add_test(tc, test_node_lock_waiter_whose_client_left_is_dropped);
    tcase_add_test(tc, test_node_lock_acquire_on_a_free_lock_does_not_wait);
    tcase_add_test(tc, test_node_holder_reacquire_does_not_queue_behind_waiters);
    tcase_add_test(tc, test_node_no_wait_acquire_with_waiters_is_answered_lock_held);
    suite_add_tcase(s, tc);

    tc = tcase_create("reads_and_stop");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_node_read_barrier_sees_every_acknowledged_write);
    tcase_add_test(tc, test_node_stop_answers_waiters_and_refuses_new_requests);
    tcase_add_test(tc, test_node_stop_keeps_every_acknowledged_write);
    tcase_add_test(tc, test_node_readers_of_many_threads_are_closed_at_free);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(node_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
