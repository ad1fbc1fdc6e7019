/* test_node_cluster.c: real nodes (node.c + raftlog + fsm + the Raft core)
 * wired into 3- to 4-node clusters in one process by an in-memory transport
 * that stands in for the HTTP peer edge: messages go through the real wire
 * codec, snapshots are copied as files, forwarded requests through the real
 * rpc codec. Election, replication, forwarding, leader loss, restart,
 * snapshot catch-up, membership and leader transfer, and a lost quorum.
 * Waits poll with a deadline; nothing asserts timing. */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "node.h"
#include "peer/rpc.h"
#include "raft/codec.h"

#define MAXN 5
#define CLUSTER_ID 77

typedef struct cluster {
    pthread_mutex_t mu;        /* guards up[] and the calls into nodes[] */
    node *nodes[MAXN];
    int up[MAXN];
    char dirs[MAXN][256];
    char ids[MAXN][16];
    char urls[MAXN][32];
    int n;
    uint64_t snapshot_entries;
} cluster;

static cluster C;
static node_transport T;

static int index_of_url(const char *url)
{
    int i = -1;
    if (sscanf(url, "mem://%d", &i) != 1 || i < 0 || i >= MAXN)
        return -1;
    return i;
}

static int index_of_id(uint64_t id)
{
    for (int i = 0; i < MAXN; i++)
        if (C.ids[i][0] && node_raft_id(C.ids[i]) == id)
            return i;
    return -1;
}

static void t_send(void *arg, const raft_msg *m, const char *url)
{
    (void)arg;
    int to = index_of_url(url);
    kbuf b = KBUF_INIT;
    if (to < 0 || raft_codec_encode(m, CLUSTER_ID, &b) != 0) {
        kbuf_free(&b);
        return;
    }
    raft_msg copy;
    size_t used = 0;
    if (raft_codec_decode(b.data, b.len, CLUSTER_ID, RAFT_CODEC_MAX_BODY, &copy, &used) == 0) {
        pthread_mutex_lock(&C.mu);
        if (C.up[to])
            node_receive(C.nodes[to], &copy);
        pthread_mutex_unlock(&C.mu);
        raft_msg_free(&copy);
    }
    kbuf_free(&b);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t k;
    int rc = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k)
            rc = -1;
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

static void t_send_snapshot(void *arg, const raft_msg *m, const char *url, const char *path)
{
    (void)arg;
    int to = index_of_url(url), from = index_of_id(m->from);
    int ok = 0;
    pthread_mutex_lock(&C.mu);
    if (to >= 0 && C.up[to]) {
        char dst[512];
        snprintf(dst, sizeof dst, "%s/recv-test.part", node_snapshot_dir(C.nodes[to]));
        kbuf b = KBUF_INIT;
        raft_msg copy;
        size_t used = 0;
        if (copy_file(path, dst) == 0 && raft_codec_encode(m, CLUSTER_ID, &b) == 0 &&
            raft_codec_decode(b.data, b.len, CLUSTER_ID, RAFT_CODEC_MAX_BODY, &copy, &used) == 0) {
            node_receive_snapshot(C.nodes[to], &copy, dst);
            raft_msg_free(&copy);
            ok = 1;
        }
        kbuf_free(&b);
    }
    if (from >= 0 && C.up[from])
        node_snapshot_status(C.nodes[from], m->to, ok);
    pthread_mutex_unlock(&C.mu);
}

typedef struct fwd_ctx {
    void (*done)(void *, int, kbytes);
    void *arg;
} fwd_ctx;

static void fwd_result(fwd_ctx *c, const fsm_result *res)
{
    kbuf b = KBUF_INIT;
    if (rpc_result_encode(res, &b) == 0)
        c->done(c->arg, 0, kbytes_make(b.data, b.len));
    else
        c->done(c->arg, KAHUNA_ETIMEOUT, kbytes_make(NULL, 0));
    kbuf_free(&b);
    free(c);
}

static void fwd_done(void *arg, const fsm_result *res)
{
    fwd_result(arg, res);
}

static void fwd_admin_done(void *arg, int status)
{
    fsm_result res;
    memset(&res, 0, sizeof res);
    res.status = status;
    fwd_result(arg, &res);
}

static void t_forward(void *arg, const char *url, const kbytes req, int64_t timeout_ms,
                      int (*alive)(void *), void *alive_arg,
                      void (*done)(void *, int, kbytes), void *done_arg)
{
    (void)arg;
    (void)timeout_ms;
    (void)alive;
    (void)alive_arg;
    int to = index_of_url(url);
    rpc_request rq;
    fwd_ctx *c = calloc(1, sizeof *c);
    if (!c || to < 0 || rpc_request_decode(req, &rq) != 0) {
        free(c);
        done(done_arg, KAHUNA_EUNAVAILABLE, kbytes_make(NULL, 0));
        return;
    }
    c->done = done;
    c->arg = done_arg;
    pthread_mutex_lock(&C.mu);
    if (!C.up[to]) {
        pthread_mutex_unlock(&C.mu);
        free(c);
        done(done_arg, KAHUNA_EUNAVAILABLE, kbytes_make(NULL, 0));
        return;
    }
    node *target = C.nodes[to];
    if (rq.op == RPC_PROPOSE) {
        command cmd;
        if (cmd_decode(rq.a.p, rq.a.n, &cmd) != 0) {
            pthread_mutex_unlock(&C.mu);
            free(c);
            done(done_arg, KAHUNA_EUNAVAILABLE, kbytes_make(NULL, 0));
            return;
        }
        node_submit(target, &cmd, rq.wait_ms, NULL, NODE_NO_FORWARD, fwd_done, c);
    } else {
        char id[80] = "", u[200] = "";
        snprintf(id, sizeof id, "%.*s", (int)rq.a.n, (const char *)rq.a.p);
        snprintf(u, sizeof u, "%.*s", (int)rq.b.n, (const char *)rq.b.p);
        int op = rq.op == RPC_ADMIN_ADD ? NODE_ADMIN_ADD
               : rq.op == RPC_ADMIN_REMOVE ? NODE_ADMIN_REMOVE : NODE_ADMIN_TRANSFER;
        node_admin(target, op, id, u, NODE_NO_FORWARD, fwd_admin_done, c);
    }
    pthread_mutex_unlock(&C.mu);
}

/* ---- cluster set-up ---- */

static void cluster_setup(void)
{
    memset(&C, 0, sizeof C);
    pthread_mutex_init(&C.mu, NULL);
    memset(&T, 0, sizeof T);
    T.send = t_send;
    T.send_snapshot = t_send_snapshot;
    T.forward = t_forward;
    for (int i = 0; i < MAXN; i++) {
        snprintf(C.dirs[i], sizeof C.dirs[i], "/tmp/kahuna-test-cluster.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(C.dirs[i]));
        snprintf(C.ids[i], sizeof C.ids[i], "n%d", i + 1);
        snprintf(C.urls[i], sizeof C.urls[i], "mem://%d", i);
    }
    C.snapshot_entries = 0;
}

static void stop_node(int i)
{
    pthread_mutex_lock(&C.mu);
    node *n = C.up[i] ? C.nodes[i] : NULL;
    C.up[i] = 0;
    pthread_mutex_unlock(&C.mu);
    if (n)
        node_free(n);
}

static void cluster_teardown(void)
{
    for (int i = 0; i < MAXN; i++)
        stop_node(i);
    for (int i = 0; i < MAXN; i++) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", C.dirs[i]);
        ck_assert_int_eq(system(cmd), 0);
    }
    pthread_mutex_destroy(&C.mu);
}

static void start_node(int i, int npeers, int join)
{
    node_peer peers[MAXN];
    for (int k = 0; k < npeers; k++)
        peers[k] = (node_peer){C.ids[k], C.urls[k]};
    node_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node_id = C.ids[i];
    cfg.data_dir = C.dirs[i];
    cfg.history_keep = 16;
    cfg.self_url = C.urls[i];
    cfg.peers = peers;              /* a joining node: whom to reach first */
    cfg.npeers = (size_t)npeers;
    cfg.join = join;
    cfg.transport = &T;
    cfg.tick_ms = 20;
    cfg.election_ticks = 10;
    cfg.snapshot_entries = C.snapshot_entries;
    cfg.seed = (uint64_t)(i + 1) * 7919;
    node *n = NULL;
    ck_assert_int_eq(node_start(&cfg, &n), 0);
    pthread_mutex_lock(&C.mu);
    C.nodes[i] = n;
    C.up[i] = 1;
    pthread_mutex_unlock(&C.mu);
    if (join)
        ck_assert_int_eq(node_adopt_cluster_id(n, CLUSTER_ID), 0);
}

static void start_cluster(int n)
{
    C.n = n;
    for (int i = 0; i < n; i++)
        start_node(i, n, 0);
}

/* The index of the node every live node agrees is leader, or -1. */
static int agreed_leader(void)
{
    int leader = -1;
    for (int i = 0; i < MAXN; i++) {
        if (!C.up[i])
            continue;
        node_status st;
        node_get_status(C.nodes[i], &st);
        if (!st.leader_id[0])
            return -1;
        int idx = -1;
        for (int k = 0; k < MAXN; k++)
            if (strcmp(C.ids[k], st.leader_id) == 0)
                idx = k;
        if (idx < 0 || (leader >= 0 && idx != leader))
            return -1;
        leader = idx;
    }
    if (leader >= 0) {
        if (!C.up[leader])
            return -1;
        node_status st;
        node_get_status(C.nodes[leader], &st);
        if (!st.is_leader)
            return -1;
    }
    return leader;
}

static int wait_leader(void)
{
    int64_t until = clock_mono_ms() + 20000;
    while (clock_mono_ms() < until) {
        int l = agreed_leader();
        if (l >= 0)
            return l;
        usleep(10000);
    }
    ck_abort_msg("no leader within 20 s");
    return -1;
}

/* ---- requests ---- */

typedef struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    fsm_result res;
} answer;

static void on_done(void *arg, const fsm_result *res)
{
    answer *a = arg;
    pthread_mutex_lock(&a->mu);
    a->res = *res;
    a->res.owner = NULL;
    a->res.data = (kbuf)KBUF_INIT;
    a->done = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void on_status(void *arg, int status)
{
    fsm_result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    on_done(arg, &r);
}

static int wait_answer(answer *a)
{
    int64_t until = clock_mono_ms() + 20000;
    pthread_mutex_lock(&a->mu);
    while (!a->done && clock_mono_ms() < until) {
        pthread_mutex_unlock(&a->mu);
        usleep(2000);
        pthread_mutex_lock(&a->mu);
    }
    int done = a->done;
    pthread_mutex_unlock(&a->mu);
    ck_assert_msg(done, "no answer within 20 s");
    return a->res.status;
}

static void answer_init(answer *a)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
}

static void answer_destroy(answer *a)
{
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

/* Puts key=value through node i; returns the status (revision in *rev). */
static int put(int i, const char *key, const char *value, int64_t *rev)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = CMD_KV_PUT;
    c.key = kbytes_str(key);
    c.value = kbytes_str(value);
    answer a;
    answer_init(&a);
    node_propose(C.nodes[i], &c, on_done, &a);
    int st = wait_answer(&a);
    if (rev)
        *rev = a.res.revision;
    answer_destroy(&a);
    return st;
}

/* Puts with retries while there is no leader (503). */
static void put_ok(int i, const char *key, const char *value)
{
    int64_t until = clock_mono_ms() + 20000;
    int st;
    while ((st = put(i, key, value, NULL)) == KAHUNA_EUNAVAILABLE && clock_mono_ms() < until)
        usleep(20000);
    ck_assert_msg(st == 0, "put %s through n%d: %s", key, i + 1, kahuna_strerror(st));
}

static int barrier(int i)
{
    answer a;
    answer_init(&a);
    node_read_barrier(C.nodes[i], on_status, &a);
    int st = wait_answer(&a);
    answer_destroy(&a);
    return st;
}

/* 1 when node i has key with value in its local state. */
static int has_value(int i, const char *key, const char *value)
{
    fsm_reader *r = node_reader(C.nodes[i]);
    if (!r)
        return 0;
    kv_record rec;
    memset(&rec, 0, sizeof rec);
    if (fsm_kv_get(r, kbytes_str(key), 0, &rec) != 0)
        return 0;
    int same = rec.value.len == strlen(value) && memcmp(rec.value.data, value, rec.value.len) == 0;
    kv_record_free(&rec);
    return same;
}

static int wait_value(int i, const char *key, const char *value)
{
    int64_t until = clock_mono_ms() + 20000;
    while (clock_mono_ms() < until) {
        if (has_value(i, key, value))
            return 1;
        usleep(5000);
    }
    return 0;
}

static int other_than(int a, int b)
{
    for (int i = 0; i < C.n; i++)
        if (i != a && i != b && C.up[i])
            return i;
    return -1;
}

/* ---- tests ---- */

START_TEST(test_cluster_elects_one_leader_that_every_node_knows)
{
    start_cluster(3);
    int l = wait_leader();
    int leaders = 0;
    for (int i = 0; i < 3; i++) {
        node_status st;
        node_get_status(C.nodes[i], &st);
        leaders += st.is_leader;
        ck_assert_str_eq(st.leader_id, C.ids[l]);
    }
    ck_assert_int_eq(leaders, 1);
    node_member *m = NULL;
    size_t k = 0;
    ck_assert_int_eq(node_members(C.nodes[0], &m, &k), 0);
    ck_assert_uint_eq(k, 3);
    for (size_t i = 0; i < k; i++)
        ck_assert(m[i].voter);
    free(m);
}
END_TEST

START_TEST(test_cluster_write_on_a_follower_is_forwarded_and_reaches_every_node)
{
    start_cluster(3);
    int l = wait_leader();
    int f = other_than(l, -1);
    int64_t rev = 0;
    ck_assert_int_eq(put(f, "k", "v1", &rev), 0);
    ck_assert_int_gt(rev, 0);
    for (int i = 0; i < 3; i++)
        ck_assert(wait_value(i, "k", "v1"));
    /* a linearizable read on a follower sees a write acknowledged before it */
    ck_assert_int_eq(put(l, "k", "v2", NULL), 0);
    ck_assert_int_eq(barrier(f), 0);
    ck_assert(has_value(f, "k", "v2"));
}
END_TEST

START_TEST(test_cluster_a_new_leader_takes_over_and_the_old_one_catches_up)
{
    start_cluster(3);
    int l = wait_leader();
    put_ok(l, "before", "1");
    stop_node(l);
    int l2 = wait_leader();
    ck_assert_int_ne(l2, l);
    put_ok(l2, "after", "2");
    start_node(l, 3, 0);
    ck_assert(wait_value(l, "before", "1"));
    ck_assert(wait_value(l, "after", "2"));
}
END_TEST

START_TEST(test_cluster_restart_of_every_node_keeps_the_state)
{
    start_cluster(3);
    int l = wait_leader();
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_ok(l, key, "x");
    }
    for (int i = 0; i < 3; i++)
        stop_node(i);
    for (int i = 0; i < 3; i++)
        start_node(i, 3, 0);
    l = wait_leader();
    ck_assert_int_eq(barrier(l), 0);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert(has_value(l, key, "x"));
    }
}
END_TEST

START_TEST(test_cluster_follower_far_behind_catches_up_by_snapshot)
{
    C.snapshot_entries = 20;
    start_cluster(3);
    int l = wait_leader();
    int f = other_than(l, -1);
    stop_node(f);
    char key[32];
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof key, "s%d", i);
        put_ok(l, key, "v");
    }
    /* wait for the leader to snapshot and compact past what f has */
    int64_t until = clock_mono_ms() + 20000;
    node_status st;
    node_get_status(C.nodes[l], &st);
    while (st.first_log_index < 60 && clock_mono_ms() < until) {
        usleep(10000);
        node_get_status(C.nodes[l], &st);
    }
    ck_assert_uint_ge(st.first_log_index, 60);
    start_node(f, 3, 0);
    ck_assert(wait_value(f, "s149", "v"));
    ck_assert(wait_value(f, "s0", "v"));
    node_get_status(C.nodes[f], &st);
    ck_assert_uint_ge(st.snapshots_installed, 1);
}
END_TEST

START_TEST(test_cluster_add_a_node_as_learner_then_voter_and_remove_another)
{
    start_cluster(3);
    int l = wait_leader();
    put_ok(l, "a", "1");
    start_node(3, 3, 1);
    answer a;
    answer_init(&a);
    node_admin(C.nodes[other_than(l, -1)], NODE_ADMIN_ADD, C.ids[3], C.urls[3], 0, on_status, &a);
    ck_assert_int_eq(wait_answer(&a), 0);
    answer_destroy(&a);
    ck_assert(wait_value(3, "a", "1"));
    /* promoted once caught up */
    int64_t until = clock_mono_ms() + 20000;
    int voter = 0;
    while (!voter && clock_mono_ms() < until) {
        node_member *m = NULL;
        size_t k = 0;
        ck_assert_int_eq(node_members(C.nodes[l], &m, &k), 0);
        for (size_t i = 0; i < k; i++)
            if (strcmp(m[i].id, C.ids[3]) == 0)
                voter = m[i].voter;
        free(m);
        usleep(10000);
    }
    ck_assert(voter);
    int victim = other_than(l, 3);
    answer_init(&a);
    node_admin(C.nodes[l], NODE_ADMIN_REMOVE, C.ids[victim], NULL, 0, on_status, &a);
    ck_assert_int_eq(wait_answer(&a), 0);
    answer_destroy(&a);
    stop_node(victim);
    l = wait_leader();
    put_ok(l, "b", "2");
    ck_assert(wait_value(3, "b", "2"));
}
END_TEST

START_TEST(test_cluster_transfer_leadership_moves_the_leader)
{
    start_cluster(3);
    int l = wait_leader();
    int to = other_than(l, -1);
    put_ok(l, "t", "1");
    answer a;
    answer_init(&a);
    node_admin(C.nodes[l], NODE_ADMIN_TRANSFER, C.ids[to], NULL, 0, on_status, &a);
    ck_assert_int_eq(wait_answer(&a), 0);
    answer_destroy(&a);
    ck_assert_int_eq(wait_leader(), to);
}
END_TEST

START_TEST(test_cluster_without_a_quorum_writes_never_succeed_and_reads_are_refused)
{
    start_cluster(3);
    int l = wait_leader();
    put_ok(l, "q", "1");
    for (int i = 0; i < 3; i++)
        if (i != l)
            stop_node(i);
    int st = put(l, "q", "2", NULL);
    ck_assert_msg(st == KAHUNA_EUNAVAILABLE || st == KAHUNA_ETIMEOUT, "got %s", kahuna_strerror(st));
    ck_assert_int_eq(barrier(l), KAHUNA_EUNAVAILABLE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("node_cluster");
    TCase *tc = tcase_create("cluster");
    tcase_add_checked_fixture(tc, cluster_setup, cluster_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cluster_elects_one_leader_that_every_node_knows);
    tcase_add_test(tc, test_cluster_write_on_a_follower_is_forwarded_and_reaches_every_node);
    tcase_add_test(tc, test_cluster_a_new_leader_takes_over_and_the_old_one_catches_up);
    tcase_add_test(tc, test_cluster_restart_of_every_node_keeps_the_state);
    tcase_add_test(tc, test_cluster_follower_far_behind_catches_up_by_snapshot);
    tcase_add_test(tc, test_cluster_add_a_node_as_learner_then_voter_and_remove_another);
    tcase_add_test(tc, test_cluster_transfer_leadership_moves_the_leader);
    tcase_add_test(tc, test_cluster_without_a_quorum_writes_never_succeed_and_reads_are_refused);
    suite_add_tcase(s, tc);
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
