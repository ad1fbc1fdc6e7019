/* test_raft_persist.c: the persistence rules of docs/raft.md, written in
 * the update: term and vote durable before any message of that term;
 * entries durable before they are acknowledged; the leader sends
 * AppendEntries before its own write but counts itself only after it; the
 * truncation point; what needs an fsync; what survives a crash. */
#include <check.h>
#include <stdlib.h>

#include "errors.h"
#include "raft_fixture.h"

static size_t count(const raft_msg *m, size_t n, int type)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += m[i].type == type;
    return k;
}

START_TEST(test_raft_vote_request_waits_until_term_and_own_vote_are_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_tick(&t, 10);
    tn_process(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    tn_step(&t, &m);
    raft_update u1, u2;
    ck_assert_int_eq(raft_update_get(t.r, &u1), 0);
    ck_assert_uint_eq(count(u1.msgs_now, u1.n_now, RAFT_MSG_VOTE), 0);
    ck_assert_uint_eq(count(u1.msgs_after, u1.n_after, RAFT_MSG_VOTE), 2);
    /* until persisted, later messages of the term wait too */
    m = tc_msg(RAFT_MSG_VOTE_RESP, 3, 1, 1);
    m.reject = 1;
    tn_step(&t, &m);
    tn_tick(&t, 10);                      /* a new pre-election: pre-votes may go */
    ck_assert_int_eq(raft_update_get(t.r, &u2), 0);
    ck_assert_uint_eq(count(u2.msgs_now, u2.n_now, RAFT_MSG_PREVOTE), 2);
    tn_persist(&t, &u1);
    tn_persist(&t, &u2);
    ck_assert_uint_eq(t.st.hs.term, 1);
    ck_assert_uint_eq(t.st.hs.vote, 1);
    raft_update_free(&u1);
    raft_update_free(&u2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_granted_vote_waits_until_the_vote_is_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = tc_msg(RAFT_MSG_VOTE, 2, 1, 4);
    m.index = 1;
    m.log_term = 1;
    tn_step(&t, &m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert(u.hs_changed && u.must_sync);
    ck_assert_uint_eq(u.hs.term, 4);
    ck_assert_uint_eq(u.hs.vote, 2);
    ck_assert_uint_eq(u.n_now, 0);
    ck_assert_uint_eq(count(u.msgs_after, u.n_after, RAFT_MSG_VOTE_RESP), 1);
    ck_assert_int_eq(u.msgs_after[0].reject, 0);
    ck_assert_uint_ne(u.seq, 0);
    tn_persist(&t, &u);
    raft_update_free(&u);
    /* a refusal in the durable term needs nothing more */
    m.from = 3;
    tn_step(&t, &m);
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(count(u.msgs_now, u.n_now, RAFT_MSG_VOTE_RESP), 1);
    ck_assert_int_eq(u.msgs_now[0].reject, 1);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_append_ack_waits_until_the_entries_are_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);
    tn_step(&t, &hb);
    tn_process(&t, NULL);                 /* term 1 durable */
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 0, terms, 2);
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_entries, 2);
    ck_assert(u.must_sync);
    ck_assert_uint_eq(u.n_now, 0);
    ck_assert_uint_eq(count(u.msgs_after, u.n_after, RAFT_MSG_APPEND_RESP), 1);
    ck_assert_uint_eq(u.msgs_after[0].index, 3);
    ck_assert_uint_eq(tn_status(&t).durable_index, 1);
    tn_persist(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(tn_status(&t).durable_index, 3);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_heartbeat_answer_goes_at_once_when_the_term_is_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);
    tn_step(&t, &hb);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(count(u.msgs_after, u.n_after, RAFT_MSG_HEARTBEAT_RESP), 1);  /* new term */
    tn_persist(&t, &u);
    raft_update_free(&u);
    tn_step(&t, &hb);
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(count(u.msgs_now, u.n_now, RAFT_MSG_HEARTBEAT_RESP), 1);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_sends_appends_before_its_own_write_is_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = tn_status(&t).last_index;
    tn_step(&t, &m);
    tn_process(&t, NULL);
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "a", 1, NULL, NULL), 0);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_entries, 1);
    ck_assert_uint_ge(count(u.msgs_now, u.n_now, RAFT_MSG_APPEND), 1);
    ck_assert_uint_eq(count(u.msgs_after, u.n_after, RAFT_MSG_APPEND), 0);
    tn_persist(&t, &u);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_counts_itself_only_after_its_write_is_durable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    uint64_t idx;
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "a", 1, &idx, NULL), 0);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = idx;
    tn_step(&t, &m);                      /* follower 2 has it, we do not yet */
    ck_assert_uint_lt(tn_status(&t).commit, idx);
    tn_persist(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(tn_status(&t).commit, idx);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_commit_never_passes_the_leaders_durable_log)
{
    raft_options o;
    tn_options(&o, 1);
    tnode t;
    tn_init(&t, 1, 5, &o);
    tn_make_leader(&t);
    uint64_t idx;
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "a", 1, &idx, NULL), 0);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    for (uint64_t f = 2; f <= 4; f++) {   /* a majority without us */
        raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, f, 1, tn_status(&t).term);
        m.index = idx;
        tn_step(&t, &m);
    }
    ck_assert_uint_lt(tn_status(&t).commit, idx);
    tn_persist(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(tn_status(&t).commit, idx);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_rewrite_lowers_the_durable_index_until_persisted)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t mine[] = {1, 1, 1};
    tn_set_log(&t, mine, 3, 1);
    ck_assert_uint_eq(tn_status(&t).durable_index, 4);
    uint64_t terms[] = {2};
    raft_msg m = tn_append_msg(2, 1, 2, 2, 1, 0, terms, 1);   /* rewrites 3.. */
    tn_step(&t, &m);
    raft_msg_free(&m);
    ck_assert_uint_eq(tn_status(&t).durable_index, 2);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.entries[0].index, 3);
    ck_assert_uint_eq(u.truncate_from, 3);
    ck_assert_uint_eq(count(u.msgs_after, u.n_after, RAFT_MSG_APPEND_RESP), 1);
    tn_persist(&t, &u);
    raft_update_free(&u);
    ck_assert_uint_eq(tn_status(&t).durable_index, 3);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_updates_persisted_later_in_order_advance_the_durable_index)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_update u[3];
    for (int i = 0; i < 3; i++) {
        uint64_t terms[] = {1};
        raft_msg m = tn_append_msg(2, 1, 1, 1 + (uint64_t)i, 1, 0, terms, 1);
        tn_step(&t, &m);
        raft_msg_free(&m);
        ck_assert_int_eq(raft_update_get(t.r, &u[i]), 0);
    }
    ck_assert_uint_eq(tn_status(&t).durable_index, 1);
    ck_assert_int_eq(memstore_apply(&t.st, &u[0]), 0);
    ck_assert_int_eq(memstore_apply(&t.st, &u[1]), 0);
    ck_assert_int_eq(raft_persisted(t.r, u[1].seq), 0);   /* both at once */
    ck_assert_uint_eq(tn_status(&t).durable_index, 3);
    ck_assert_int_eq(memstore_apply(&t.st, &u[2]), 0);
    ck_assert_int_eq(raft_persisted(t.r, u[2].seq), 0);
    ck_assert_uint_eq(tn_status(&t).durable_index, 4);
    for (int i = 0; i < 3; i++)
        raft_update_free(&u[i]);
    ck_assert_int_eq(raft_persisted(t.r, 999), KAHUNA_EBADREQ);
    ck_assert_int_eq(raft_tick(t.r), 0);   /* not sticky */
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_commit_only_change_needs_no_fsync)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 0, terms, 1);
    tn_step(&t, &m);
    raft_msg_free(&m);
    tn_process(&t, NULL);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);
    hb.commit = 2;
    tn_step(&t, &hb);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_int_eq(u.hs_changed, 1);
    ck_assert_uint_eq(u.hs.commit, 2);
    ck_assert_int_eq(u.must_sync, 0);
    ck_assert_uint_eq(u.n_committed, 2);
    tn_persist(&t, &u);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_committed_entries_are_handed_out_only_once_durable_here)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    uint64_t terms[] = {1, 1};
    raft_msg m = tn_append_msg(2, 1, 1, 1, 1, 3, terms, 2);
    tn_step(&t, &m);
    raft_msg_free(&m);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(tn_status(&t).commit, 3);
    ck_assert_uint_eq(u.n_committed, 1);  /* only the bootstrap entry is durable */
    tn_persist(&t, &u);
    tn_record(&t, &u);
    raft_update_free(&u);
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_committed, 2);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_restart_keeps_durable_term_vote_and_log_and_loses_the_rest)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = tc_msg(RAFT_MSG_VOTE, 2, 1, 5);
    m.index = 1;
    m.log_term = 1;
    tn_step(&t, &m);
    tn_process(&t, NULL);                 /* durable: term 5, vote 2 */
    uint64_t terms[] = {5};
    raft_msg a = tn_append_msg(2, 1, 5, 1, 1, 0, terms, 1);
    tn_step(&t, &a);                      /* not persisted: lost in the crash */
    raft_msg_free(&a);
    tn_restart(&t);
    raft_status st = tn_status(&t);
    ck_assert_uint_eq(st.term, 5);
    ck_assert_uint_eq(st.vote, 2);
    ck_assert_uint_eq(st.last_index, 1);
    m.from = 3;                           /* still one vote per term */
    tn_step(&t, &m);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_int_eq(tm_find(&out, RAFT_MSG_VOTE_RESP, 3)->reject, 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_storage_read_error_stops_the_core)
{
    /* a log that cannot be read at start: no core */
    tnode t;
    tn_init(&t, 1, 3, NULL);
    t.st.fail_reads = 1;
    raft_init in;
    memstore_init_of(&t.st, 0, &in);
    raft_storage st = memstore_storage(&t.st);
    raft *r = NULL;
    ck_assert_int_eq(raft_new(&t.o, &st, &in, &r), KAHUNA_EIO);
    ck_assert_ptr_null(r);
    t.st.fail_reads = 0;
    /* a core that cannot read its log refuses to go on */
    uint64_t mine[] = {1, 1};
    tn_set_log(&t, mine, 2, 1);
    t.st.fail_reads = 1;
    uint64_t terms[] = {2};
    raft_msg m = tn_append_msg(2, 1, 2, 2, 1, 0, terms, 1);
    ck_assert_int_eq(raft_step(t.r, &m), KAHUNA_EIO);
    raft_msg_free(&m);
    ck_assert_int_eq(raft_tick(t.r), KAHUNA_EIO);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), KAHUNA_EIO);
    t.st.fail_reads = 0;
    tn_free(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_persist");
    TCase *tc = tcase_create("persist");
    tcase_add_test(tc, test_raft_vote_request_waits_until_term_and_own_vote_are_durable);
    tcase_add_test(tc, test_raft_granted_vote_waits_until_the_vote_is_durable);
    tcase_add_test(tc, test_raft_append_ack_waits_until_the_entries_are_durable);
    tcase_add_test(tc, test_raft_heartbeat_answer_goes_at_once_when_the_term_is_durable);
    tcase_add_test(tc, test_raft_leader_sends_appends_before_its_own_write_is_durable);
    tcase_add_test(tc, test_raft_leader_counts_itself_only_after_its_write_is_durable);
    tcase_add_test(tc, test_raft_commit_never_passes_the_leaders_durable_log);
    tcase_add_test(tc, test_raft_rewrite_lowers_the_durable_index_until_persisted);
    tcase_add_test(tc, test_raft_updates_persisted_later_in_order_advance_the_durable_index);
    tcase_add_test(tc, test_raft_commit_only_change_needs_no_fsync);
    tcase_add_test(tc, test_raft_committed_entries_are_handed_out_only_once_durable_here);
    tcase_add_test(tc, test_raft_restart_keeps_durable_term_vote_and_log_and_loses_the_rest);
    tcase_add_test(tc, test_raft_storage_read_error_stops_the_core);
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
