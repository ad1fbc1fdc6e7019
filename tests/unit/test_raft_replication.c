/* test_raft_replication.c: log replication (Raft Figure 2
 * "AppendEntries", "Rules for Servers: Leaders"; §5.3, §5.4.2 Figure 8)
 * and its flow control (probe / replicate / inflight window, batching,
 * reject hints), one test per rule. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "raft_fixture.h"

/* Steps m into t, processes, returns the APPEND_RESP it answered with. */
static raft_msg answer(tnode *t, raft_msg *m, tmsgs *out)
{
    tn_step(t, m);
    raft_msg_free(m);
    tn_process(t, out);
    raft_msg *r = tm_find(out, RAFT_MSG_APPEND_RESP, 0);
    ck_assert_ptr_nonnull(r);
    return *r;
}

START_TEST(test_raft_append_with_matching_prev_appends_and_acks_last_new_index)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 0, terms, 2);
    tmsgs out = {0};
    raft_msg r = answer(&t, &m, &out);
    ck_assert_int_eq(r.reject, 0);
    ck_assert_uint_eq(r.index, 3);
    ck_assert_uint_eq(memstore_last_index(&t.st), 3);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_with_missing_prev_is_rejected_with_hint)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {3};
    raft_msg m = tn_append_msg(2, 1, 3, 5, 3, 0, terms, 1);
    tmsgs out = {0};
    raft_msg r = answer(&t, &m, &out);
    ck_assert_int_eq(r.reject, 1);
    ck_assert_uint_eq(r.index, 5);        /* the rejected prev */
    ck_assert_uint_eq(r.hint, 1);         /* our last entry */
    ck_assert_uint_eq(r.log_term, 1);
    ck_assert_uint_eq(memstore_last_index(&t.st), 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_reject_hint_skips_the_whole_conflicting_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 3, 3, 3};       /* indexes 2..5 */
    tn_set_log(&t, mine, 4, 3);
    uint64_t terms[] = {4};
    raft_msg m = tn_append_msg(2, 1, 4, 5, 2, 0, terms, 1);   /* leader has (5, 2) */
    tmsgs out = {0};
    raft_msg r = answer(&t, &m, &out);
    ck_assert_int_eq(r.reject, 1);
    ck_assert_uint_eq(r.hint, 2);         /* last index with term <= 2 */
    ck_assert_uint_eq(r.log_term, 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_conflicting_suffix_is_replaced_from_the_first_conflict)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 1, 1};          /* 2..4 in term 1 */
    tn_set_log(&t, mine, 3, 1);
    uint64_t terms[] = {1, 2};            /* 2 matches, 3 conflicts */
    raft_msg m = tn_append_msg(2, 1, 2, 1, 1, 0, terms, 2);
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_entries, 1);
    ck_assert_uint_eq(u.entries[0].index, 3);    /* the truncation point */
    ck_assert_uint_eq(u.entries[0].term, 2);
    tn_persist(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(memstore_last_index(&t.st), 3);
    uint64_t term;
    ck_assert_int_eq(memstore_term(&t.st, 3, &term), 0);
    ck_assert_uint_eq(term, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_of_entries_already_present_rewrites_nothing)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 1, 1};
    tn_set_log(&t, mine, 3, 1);
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 0, terms, 2);   /* a late duplicate */
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_entries, 0);
    ck_assert_uint_eq(memstore_last_index(&t.st), 4);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_commit_is_min_of_leader_commit_and_last_new_entry)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 1, 1, 1};       /* 2..5, maybe stale beyond 3 */
    tn_set_log(&t, mine, 4, 1);
    uint64_t terms[] = {1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 9, terms, 1);
    tmsgs out = {0};
    answer(&t, &m, &out);
    ck_assert_uint_eq(tn_status(&t).commit, 2);
    ck_assert_uint_eq(t.applied, 2);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_below_commit_acks_the_commit_index)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 4, terms, 3);
    tmsgs out = {0};
    answer(&t, &m, &out);
    tm_clear(&out);
    ck_assert_uint_eq(tn_status(&t).commit, 4);
    m = tn_append_msg(2, 1, 1, 2, 1, 4, terms, 1);   /* stale, below commit */
    raft_msg r = answer(&t, &m, &out);
    ck_assert_int_eq(r.reject, 0);
    ck_assert_uint_eq(r.index, 4);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_below_commit_never_changes_committed_entries)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 3, terms, 2);
    tmsgs out = {0};
    answer(&t, &m, &out);
    tm_clear(&out);
    uint64_t other[] = {2, 2};            /* a (bogus) rewrite of 2..3 */
    m = tn_append_msg(3, 1, 2, 1, 1, 3, other, 2);
    raft_msg r = answer(&t, &m, &out);
    ck_assert_int_eq(r.reject, 0);
    ck_assert_uint_eq(r.index, 3);
    uint64_t term;
    ck_assert_int_eq(memstore_term(&t.st, 3, &term), 0);
    ck_assert_uint_eq(term, 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_with_malformed_entries_is_refused_and_ignored)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 0, terms, 2);
    m.entries[1].index = 7;               /* not contiguous */
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EBADREQ);
    m.entries[1].index = 3;
    m.entries[1].term = 5;                /* newer than the message */
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EBADREQ);
    m.entries[1].term = 1;
    m.entries[1].type = RAFT_ENTRY_CONFIG;   /* does not decode */
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    ck_assert_uint_eq(tn_status(&t).last_index, 1);
    ck_assert_int_eq(raft_tick(t.r), 0);  /* not sticky */
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_replicates_proposals_to_every_follower)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    uint64_t idx = tc_propose(&c, 1, "a");
    tc_stabilize(&c);
    for (uint64_t id = 1; id <= 3; id++)
        ck_assert_uint_ge(memstore_last_index(&tc_node(&c, id)->st), idx);
    ck_assert_uint_eq(tc_node(&c, 1)->applied, idx);
    tn_tick(tc_node(&c, 1), 1);           /* the heartbeat carries the commit */
    tc_stabilize(&c);
    ck_assert_uint_eq(tc_node(&c, 2)->applied, idx);
    ck_assert_uint_eq(tc_node(&c, 3)->applied, idx);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_leader_heartbeats_every_heartbeat_tick_with_commit_capped_by_match)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    tmsgs out = {0};
    tn_tick(&t, 1);
    tn_process(&t, &out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_HEARTBEAT), 2);
    ck_assert_uint_eq(tm_find(&out, RAFT_MSG_HEARTBEAT, 2)->commit, 0);   /* match 0 */
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_uses_reject_hint_to_find_the_match_point)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 2, 2, 3, 3};    /* 2..6 */
    tn_set_log(&t, mine, 5, 3);
    tn_make_leader(&t);                   /* term 4, no-op at 7 */
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, 4);
    m.reject = 1;
    m.index = 6;                          /* first probe: prev 6 */
    m.hint = 5;
    m.log_term = 2;                       /* follower: (5, 2) */
    tn_step(&t, &m);
    tmsgs out = {0};
    tn_process(&t, &out);
    raft_msg *a = tm_find(&out, RAFT_MSG_APPEND, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->index, 4);       /* our last entry with term <= 2 */
    ck_assert_uint_eq(a->log_term, 2);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_stale_reject_is_ignored)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.reject = 1;
    m.index = 0;                          /* not the probe we sent (prev 1) */
    m.hint = 0;
    tn_step(&t, &m);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_APPEND), 0);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_probe_keeps_one_append_in_flight)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);                   /* first probe already sent (dropped) */
    tmsgs out = {0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "x", 1, NULL, NULL), 0);
        tn_process(&t, &out);
    }
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_APPEND), 0);
    tm_clear(&out);
    tn_tick(&t, 1);                       /* heartbeat out, answer in */
    raft_msg m = tc_msg(RAFT_MSG_HEARTBEAT_RESP, 2, 1, tn_status(&t).term);
    tn_step(&t, &m);
    tn_process(&t, &out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_APPEND), 1);   /* the next probe */
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

/* Leader 1 with follower 2 in replicate state at the leader's last index. */
static void leader_with_replicating_follower(tnode *t, const raft_options *o)
{
    tn_init(t, 1, 3, o);
    tn_make_leader(t);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(t).term);
    m.index = tn_status(t).last_index;
    tn_step(t, &m);
    tn_process(t, NULL);
    int state;
    ck_assert_int_eq(raft_progress_get(t->r, 2, NULL, NULL, &state, NULL), 0);
    ck_assert_int_eq(state, RAFT_PR_REPLICATE);
}

START_TEST(test_raft_replicate_pipelines_up_to_the_inflight_window)
{
    tnode t;
    leader_with_replicating_follower(&t, NULL);   /* window 3 */
    tmsgs out = {0};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "x", 1, NULL, NULL), 0);
        tn_process(&t, &out);
    }
    size_t to2 = 0;
    for (size_t i = 0; i < out.n; i++)
        to2 += out.m[i].type == RAFT_MSG_APPEND && out.m[i].to == 2;
    ck_assert_uint_eq(to2, 3);
    tm_clear(&out);
    /* an ack opens the window again */
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = tn_status(&t).last_index - 3;
    tn_step(&t, &m);
    tn_process(&t, &out);
    to2 = 0;
    for (size_t i = 0; i < out.n; i++)
        to2 += out.m[i].type == RAFT_MSG_APPEND && out.m[i].to == 2 && out.m[i].n_entries;
    ck_assert_uint_eq(to2, 1);            /* the two entries left, in one message */
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_batches_respect_max_entries_and_max_bytes)
{
    tnode t;
    raft_options o;
    tn_options(&o, 1);
    o.max_msg_entries = 4;
    o.max_msg_bytes = 10;
    leader_with_replicating_follower(&t, &o);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "abc", 3, NULL, NULL), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    raft_msg *a = tm_find(&out, RAFT_MSG_APPEND, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->n_entries, 3);   /* 3 x 3 bytes <= 10 < 4 x 3 */
    tm_clear(&out);
    tn_free(&t);
    o.max_msg_bytes = 1024;
    leader_with_replicating_follower(&t, &o);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "abc", 3, NULL, NULL), 0);
    tn_process(&t, &out);
    a = tm_find(&out, RAFT_MSG_APPEND, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->n_entries, 4);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_lost_appends_are_recovered_after_a_heartbeat_answer)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    tc_isolate(&c, 2);
    for (int i = 0; i < 10; i++) {
        tc_propose(&c, 1, "v");
        tc_stabilize(&c);
    }
    tc_heal(&c);
    for (int i = 0; i < 10; i++) {
        tn_tick(tc_node(&c, 1), 1);
        tc_stabilize(&c);
    }
    ck_assert_uint_eq(tc_node(&c, 2)->applied, tc_node(&c, 1)->applied);
    ck_assert_uint_eq(memstore_last_index(&tc_node(&c, 2)->st),
                      memstore_last_index(&tc_node(&c, 1)->st));
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_leader_commits_entry_of_its_term_stored_on_a_majority)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    uint64_t idx;
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "a", 1, &idx, NULL), 0);
    tn_process(&t, NULL);
    ck_assert_uint_lt(tn_status(&t).commit, idx);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 3, 1, tn_status(&t).term);
    m.index = idx;
    tn_step(&t, &m);
    ck_assert_uint_eq(tn_status(&t).commit, idx);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.applied, idx);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_never_commits_an_older_term_entry_by_counting_replicas)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {2};                /* index 2 from term 2, never committed */
    tn_set_log(&t, mine, 1, 2);
    tn_make_leader(&t);                   /* term 3, no-op at 3 */
    uint64_t term = tn_status(&t).term;
    ck_assert_uint_eq(term, 3);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, term);
    m.index = 2;                          /* a majority has (2, 2) now */
    tn_step(&t, &m);
    tn_process(&t, NULL);
    ck_assert_uint_eq(tn_status(&t).commit, 0);   /* Figure 8 */
    m.index = 3;
    tn_step(&t, &m);
    ck_assert_uint_eq(tn_status(&t).commit, 3);   /* with the no-op, 2 is committed too */
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_committed_entries_are_applied_once_and_in_order)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    for (int i = 0; i < 7; i++)
        tc_propose(&c, 1, "x");
    tc_stabilize(&c);
    tn_tick(tc_node(&c, 1), 1);
    tc_stabilize(&c);
    for (uint64_t id = 1; id <= 3; id++) {
        tnode *t = tc_node(&c, id);
        ck_assert_uint_eq(t->applied, 9);      /* config, no-op, 7 commands */
        ck_assert_uint_eq(t->napplied, 9);     /* the fixture checks the order */
    }
    tc_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_replication");
    TCase *tc = tcase_create("replication");
    tcase_add_test(tc, test_raft_append_with_matching_prev_appends_and_acks_last_new_index);
    tcase_add_test(tc, test_raft_append_with_missing_prev_is_rejected_with_hint);
    tcase_add_test(tc, test_raft_reject_hint_skips_the_whole_conflicting_term);
    tcase_add_test(tc, test_raft_append_conflicting_suffix_is_replaced_from_the_first_conflict);
    tcase_add_test(tc, test_raft_append_of_entries_already_present_rewrites_nothing);
    tcase_add_test(tc, test_raft_append_commit_is_min_of_leader_commit_and_last_new_entry);
    tcase_add_test(tc, test_raft_append_below_commit_acks_the_commit_index);
    tcase_add_test(tc, test_raft_append_below_commit_never_changes_committed_entries);
    tcase_add_test(tc, test_raft_append_with_malformed_entries_is_refused_and_ignored);
    tcase_add_test(tc, test_raft_leader_replicates_proposals_to_every_follower);
    tcase_add_test(tc, test_raft_leader_heartbeats_every_heartbeat_tick_with_commit_capped_by_match);
    tcase_add_test(tc, test_raft_leader_uses_reject_hint_to_find_the_match_point);
    tcase_add_test(tc, test_raft_stale_reject_is_ignored);
    tcase_add_test(tc, test_raft_probe_keeps_one_append_in_flight);
    tcase_add_test(tc, test_raft_replicate_pipelines_up_to_the_inflight_window);
    tcase_add_test(tc, test_raft_append_batches_respect_max_entries_and_max_bytes);
    tcase_add_test(tc, test_raft_lost_appends_are_recovered_after_a_heartbeat_answer);
    tcase_add_test(tc, test_raft_leader_commits_entry_of_its_term_stored_on_a_majority);
    tcase_add_test(tc, test_raft_leader_never_commits_an_older_term_entry_by_counting_replicas);
    tcase_add_test(tc, test_raft_committed_entries_are_applied_once_and_in_order);
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
