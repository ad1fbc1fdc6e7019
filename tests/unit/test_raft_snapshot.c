/* test_raft_snapshot.c: log compaction and InstallSnapshot as far as the
 * core goes (metadata: index, term, configuration): compaction with
 * trailing entries, the leader sending a snapshot to a follower that needs
 * compacted entries, the follower installing it (answer after it is
 * durable), retries, restart from a snapshot. */
#include <check.h>
#include <stdlib.h>

#include "errors.h"
#include "raft_fixture.h"

/* Takes a snapshot at index on t and compacts its store like a node would. */
static uint64_t snapshot(tnode *t, uint64_t index, uint64_t trailing)
{
    raft_snapshot_meta meta;
    uint64_t to;
    ck_assert_int_eq(raft_snapshot_taken(t->r, index, trailing, &meta, &to), 0);
    ck_assert_uint_eq(meta.index, index);
    ck_assert_int_eq(memstore_set_snapshot(&t->st, &meta), 0);
    ck_assert_int_eq(memstore_compact(&t->st, to), 0);
    raft_config_free(&meta.config);
    return to;
}

static void single_leader_with_entries(tnode *t, int n)
{
    tn_init(t, 1, 1, NULL);
    tn_tick(t, 10);
    tn_process(t, NULL);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(raft_propose(t->r, RAFT_ENTRY_COMMAND, "e", 1, NULL, NULL), 0);
    tn_process(t, NULL);
}

static raft_msg snapshot_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
                             uint64_t sterm, int voters)
{
    raft_msg m = tc_msg(RAFT_MSG_SNAPSHOT, from, to, term);
    m.snapshot.index = index;
    m.snapshot.term = sterm;
    for (int i = 1; i <= voters; i++)
        ck_assert_int_eq(raft_config_add(&m.snapshot.config, (uint64_t)i, RAFT_VOTER, NULL, 0), 0);
    return m;
}

START_TEST(test_raft_snapshot_compacts_the_log_keeping_trailing_entries)
{
    tnode t;
    single_leader_with_entries(&t, 10);   /* 1 config, 2 no-op, 3..12 */
    ck_assert_uint_eq(t.applied, 12);
    ck_assert_uint_eq(snapshot(&t, 8, 2), 6);
    raft_status st = tn_status(&t);
    ck_assert_uint_eq(st.snapshot_index, 8);
    ck_assert_uint_eq(st.first_index, 7);
    uint64_t term;
    ck_assert_int_eq(raft_term_at(t.r, 6, &term), 0);
    ck_assert_uint_eq(term, 1);
    ck_assert_int_eq(raft_term_at(t.r, 5, &term), KAHUNA_ENOTFOUND);
    /* the core goes on from the compacted log */
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "f", 1, NULL, NULL), 0);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.applied, 13);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_snapshot_must_be_of_applied_state_and_newer_than_the_last)
{
    tnode t;
    single_leader_with_entries(&t, 3);
    raft_snapshot_meta meta;
    uint64_t to;
    ck_assert_int_eq(raft_snapshot_taken(t.r, 6, 0, &meta, &to), KAHUNA_EBADREQ);
    snapshot(&t, 4, 0);
    ck_assert_int_eq(raft_snapshot_taken(t.r, 3, 0, &meta, &to), 0);
    ck_assert_uint_eq(meta.index, 0);     /* older: nothing happens */
    ck_assert_uint_eq(to, 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_snapshot_meta_carries_the_configuration_at_its_index)
{
    tnode t;
    single_leader_with_entries(&t, 2);
    raft_snapshot_meta meta;
    uint64_t to;
    ck_assert_int_eq(raft_snapshot_taken(t.r, 3, 0, &meta, &to), 0);
    ck_assert_uint_eq(meta.term, 1);
    ck_assert_uint_eq(meta.config.n, 1);
    ck_assert_uint_eq(meta.config.servers[0].id, 1);
    raft_config_free(&meta.config);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_sends_a_snapshot_to_a_follower_needing_compacted_entries)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    tc_isolate(&c, 3);
    for (int i = 0; i < 8; i++)
        tc_propose(&c, 1, "x");
    tc_stabilize(&c);
    tnode *l = tc_node(&c, 1);
    uint64_t applied = l->applied;
    snapshot(l, applied, 0);
    tc_heal(&c);
    for (int i = 0; i < 5; i++) {
        tn_tick(l, 1);
        tc_stabilize(&c);
    }
    tnode *f = tc_node(&c, 3);
    ck_assert_uint_eq(f->snap_index, applied);
    ck_assert_uint_eq(f->applied, l->applied);
    ck_assert_uint_eq(memstore_last_index(&f->st), memstore_last_index(&l->st));
    uint64_t match;
    int state;
    ck_assert_int_eq(raft_progress_get(l->r, 3, &match, NULL, &state, NULL), 0);
    ck_assert_uint_eq(match, memstore_last_index(&l->st));
    ck_assert_int_eq(state, RAFT_PR_REPLICATE);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_follower_installs_a_snapshot_and_acks_once_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = snapshot_msg(2, 1, 2, 10, 2, 3);
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_int_eq(u.has_snapshot, 1);
    ck_assert_uint_eq(u.snapshot.index, 10);
    ck_assert_uint_eq(u.snapshot.term, 2);
    ck_assert_uint_eq(u.snapshot.config.n, 3);
    ck_assert(u.must_sync);
    ck_assert_uint_eq(u.n_committed, 0);  /* the snapshot is the state */
    ck_assert_uint_eq(u.n_now, 0);
    ck_assert_uint_eq(u.n_after, 1);
    ck_assert_int_eq(u.msgs_after[0].type, RAFT_MSG_APPEND_RESP);
    ck_assert_uint_eq(u.msgs_after[0].index, 10);
    raft_status st = tn_status(&t);
    ck_assert_uint_eq(st.commit, 10);
    ck_assert_uint_eq(st.applied, 10);
    ck_assert_uint_eq(st.first_index, 11);
    ck_assert_uint_eq(st.last_index, 10);
    ck_assert_uint_eq(st.durable_index, 0);
    tn_persist(&t, &u);
    tn_record(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(tn_status(&t).durable_index, 10);
    /* and the log goes on from there */
    uint64_t terms[] = {2};
    m = tn_append_msg(2, 1, 2, 10, 2, 11, terms, 1);
    tn_step(&t, &m);
    raft_msg_free(&m);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.applied, 11);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_follower_that_has_the_snapshot_entry_only_moves_its_commit)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 1, 1, 1};       /* 2..5 */
    tn_set_log(&t, mine, 4, 1);
    raft_msg m = snapshot_msg(2, 1, 1, 4, 1, 3);
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_int_eq(u.has_snapshot, 0);
    ck_assert_uint_eq(tn_status(&t).commit, 4);
    ck_assert_uint_eq(tn_status(&t).last_index, 5);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_snapshot_at_or_below_commit_is_acked_and_ignored)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1};
    raft_msg a = tn_append_msg(2, 1, 1, 1, 1, 3, terms, 2);
    tn_step(&t, &a);
    raft_msg_free(&a);
    tn_process(&t, NULL);
    raft_msg m = snapshot_msg(2, 1, 1, 2, 1, 3);
    tn_step(&t, &m);
    raft_msg_free(&m);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_uint_eq(t.snap_index, 0);
    ck_assert_uint_eq(tm_find(&out, RAFT_MSG_APPEND_RESP, 2)->index, 3);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

/* Leader 1 (3 voters) with a snapshot past what follower 3 has; follower 3
 * is put into the snapshot state. */
static void leader_snapshotting_to_3(tcluster *c)
{
    tc_init(c, 3, NULL);
    tc_elect(c, 1);
    tc_isolate(c, 3);
    for (int i = 0; i < 4; i++)
        tc_propose(c, 1, "x");
    tc_stabilize(c);
    tnode *l = tc_node(c, 1);
    snapshot(l, l->applied, 0);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 3, 1, tn_status(l).term);
    m.reject = 1;                         /* 3 has only up to 2: compacted away */
    m.index = tn_status(l).last_index - 1;
    m.hint = 2;
    m.log_term = 1;
    tn_step(l, &m);
    tmsgs out = {0};
    tn_process(l, &out);
    ck_assert_ptr_nonnull(tm_find(&out, RAFT_MSG_SNAPSHOT, 3));
    tm_clear(&out);
    int state;
    ck_assert_int_eq(raft_progress_get(l->r, 3, NULL, NULL, &state, NULL), 0);
    ck_assert_int_eq(state, RAFT_PR_SNAPSHOT);
}

START_TEST(test_raft_failed_snapshot_report_returns_the_follower_to_probe)
{
    tcluster c;
    leader_snapshotting_to_3(&c);
    tnode *l = tc_node(&c, 1);
    ck_assert_int_eq(raft_snapshot_status(l->r, 3, 0), 0);
    int state;
    ck_assert_int_eq(raft_progress_get(l->r, 3, NULL, NULL, &state, NULL), 0);
    ck_assert_int_eq(state, RAFT_PR_PROBE);
    tc_heal(&c);
    for (int i = 0; i < 5; i++) {
        tn_tick(l, 1);
        tc_stabilize(&c);
    }
    ck_assert_uint_eq(tc_node(&c, 3)->applied, l->applied);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_unanswered_snapshot_is_sent_again_after_the_retry_ticks)
{
    tcluster c;
    leader_snapshotting_to_3(&c);
    tnode *l = tc_node(&c, 1);
    tmsgs out = {0};
    for (unsigned i = 0; i < l->o.snapshot_retry_ticks + 2; i++) {
        tn_tick(l, 1);
        raft_msg m = tc_msg(RAFT_MSG_HEARTBEAT_RESP, 3, 1, tn_status(l).term);
        tn_step(l, &m);
        tn_process(l, &out);
    }
    ck_assert_uint_ge(tm_count(&out, RAFT_MSG_SNAPSHOT), 1);
    tm_clear(&out);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_restart_from_a_snapshot_keeps_its_point_and_configuration)
{
    tnode t;
    single_leader_with_entries(&t, 6);
    snapshot(&t, 6, 0);
    tn_restart(&t);
    raft_status st = tn_status(&t);
    ck_assert_uint_eq(st.snapshot_index, 6);
    ck_assert_uint_eq(st.first_index, 7);
    ck_assert_uint_eq(st.last_index, 8);
    ck_assert_uint_eq(st.config->n, 1);
    tn_tick(&t, 10);                      /* the only voter campaigns again */
    tn_process(&t, NULL);
    ck_assert_int_eq(tn_status(&t).role, RAFT_LEADER);
    ck_assert_uint_eq(t.applied, 9);      /* 7, 8 replayed, then its no-op */
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_installed_snapshot_brings_its_configuration)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = snapshot_msg(2, 1, 2, 10, 2, 5);
    tn_step(&t, &m);
    raft_msg_free(&m);
    tn_process(&t, NULL);
    ck_assert_uint_eq(raft_config_voters(tn_status(&t).config), 5);
    tn_restart(&t);
    ck_assert_uint_eq(raft_config_voters(tn_status(&t).config), 5);
    ck_assert_uint_eq(tn_status(&t).snapshot_index, 10);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_malformed_snapshot_message_is_refused)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = snapshot_msg(2, 1, 2, 10, 2, 0);   /* no voters */
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    m = snapshot_msg(2, 1, 2, 10, 3, 3);            /* from the future */
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    ck_assert_uint_eq(tn_status(&t).snapshot_index, 0);
    tn_free(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, test_raft_snapshot_compacts_the_log_keeping_trailing_entries);
    tcase_add_test(tc, test_raft_snapshot_must_be_of_applied_state_and_newer_than_the_last);
    tcase_add_test(tc, test_raft_snapshot_meta_carries_the_configuration_at_its_index);
    tcase_add_test(tc, test_raft_leader_sends_a_snapshot_to_a_follower_needing_compacted_entries);
    tcase_add_test(tc, test_raft_follower_installs_a_snapshot_and_acks_once_durable);
    tcase_add_test(tc, test_raft_follower_that_has_the_snapshot_entry_only_moves_its_commit);
    tcase_add_test(tc, test_raft_snapshot_at_or_below_commit_is_acked_and_ignored);
    tcase_add_test(tc, test_raft_failed_snapshot_report_returns_the_follower_to_probe);
    tcase_add_test(tc, test_raft_unanswered_snapshot_is_sent_again_after_the_retry_ticks);
    tcase_add_test(tc, test_raft_restart_from_a_snapshot_keeps_its_point_and_configuration);
    tcase_add_test(tc, test_raft_installed_snapshot_brings_its_configuration);
    tcase_add_test(tc, test_raft_malformed_snapshot_message_is_refused);
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
