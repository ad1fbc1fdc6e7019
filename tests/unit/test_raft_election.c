/* test_raft_election.c: leader election (Raft Figure 2 "RequestVote",
 * "Rules for Servers"; PreVote thesis §9.6; CheckQuorum and leases §4.2.3,
 * §6.2), one test per rule. */
#include <check.h>
#include <stdlib.h>

#include "errors.h"
#include "raft_fixture.h"

static raft_status status(tnode *t)
{
    raft_status st;
    raft_status_get(t->r, &st);
    return st;
}

/* Ticks until the node's election timer fires; returns the messages. */
static void timeout(tnode *t, tmsgs *out)
{
    tn_tick(t, (int)t->o.election_ticks);
    tn_process(t, out);
}

START_TEST(test_raft_follower_starts_prevote_after_election_timeout)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tmsgs out = {0};
    tn_tick(&t, 9);
    tn_process(&t, &out);
    ck_assert_uint_eq(out.n, 0);
    tn_tick(&t, 1);
    tn_process(&t, &out);
    ck_assert_int_eq(status(&t).role, RAFT_PRECANDIDATE);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_PREVOTE), 2);
    raft_msg *m = tm_find(&out, RAFT_MSG_PREVOTE, 2);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->term, 1);
    ck_assert_uint_eq(m->index, 1);
    ck_assert_uint_eq(m->log_term, 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_prevote_changes_neither_term_nor_vote)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_tick(&t, 10);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_int_eq(u.hs_changed, 0);
    ck_assert_int_eq(u.must_sync, 0);
    ck_assert_uint_eq(u.n_now, 2);      /* pre-votes need nothing durable */
    ck_assert_uint_eq(status(&t).term, 0);
    ck_assert_uint_eq(status(&t).vote, 0);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_prevote_quorum_makes_candidate_with_next_term_and_own_vote)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    timeout(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    raft_status st = status(&t);
    ck_assert_int_eq(st.role, RAFT_CANDIDATE);
    ck_assert_uint_eq(st.term, 1);
    ck_assert_uint_eq(st.vote, 1);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert(u.hs_changed && u.must_sync);
    ck_assert_uint_eq(u.hs.term, 1);
    ck_assert_uint_eq(u.hs.vote, 1);
    ck_assert_uint_eq(u.n_after, 2);    /* RequestVote waits for term and vote */
    ck_assert_int_eq(u.msgs_after[0].type, RAFT_MSG_VOTE);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_candidate_with_majority_becomes_leader_and_appends_noop)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    timeout(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tn_process(&t, NULL);
    m = tc_msg(RAFT_MSG_VOTE_RESP, 3, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    raft_status st = status(&t);
    ck_assert_int_eq(st.role, RAFT_LEADER);
    ck_assert_uint_eq(st.last_index, 2);
    ck_assert_uint_eq(st.last_term, 1);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_entries, 1);
    ck_assert_int_eq(u.entries[0].type, RAFT_ENTRY_NOOP);
    ck_assert_uint_eq(u.entries[0].term, 1);
    ck_assert(u.soft_changed && u.role == RAFT_LEADER && u.leader == 1);
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_candidate_rejected_by_majority_becomes_follower)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    timeout(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    m = tc_msg(RAFT_MSG_VOTE_RESP, 2, 1, 1);
    m.reject = 1;
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    ck_assert_int_eq(status(&t).role, RAFT_CANDIDATE);
    m.from = 3;
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    ck_assert_int_eq(status(&t).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(status(&t).term, 1);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_split_vote_times_out_into_a_new_election_of_a_higher_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    timeout(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tn_process(&t, NULL);
    ck_assert_int_eq(status(&t).role, RAFT_CANDIDATE);
    tmsgs out = {0};
    timeout(&t, &out);                        /* nobody answered */
    ck_assert_int_eq(status(&t).role, RAFT_PRECANDIDATE);
    raft_msg *pv = tm_find(&out, RAFT_MSG_PREVOTE, 0);
    ck_assert_ptr_nonnull(pv);
    ck_assert_uint_eq(pv->term, 2);
    m = tc_msg(RAFT_MSG_PREVOTE_RESP, 3, 1, 2);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    ck_assert_int_eq(status(&t).role, RAFT_CANDIDATE);
    ck_assert_uint_eq(status(&t).term, 2);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

/* Sends a RequestVote from `from` to t; returns 1 granted, 0 refused, -1 no answer. */
static int ask_vote(tnode *t, int type, uint64_t from, uint64_t term, uint64_t last,
                    uint64_t last_term)
{
    raft_msg m = tc_msg(type, from, t->id, term);
    m.index = last;
    m.log_term = last_term;
    ck_assert_int_eq(raft_step(t->r, &m), 0);
    tmsgs out = {0};
    tn_process(t, &out);
    raft_msg *r = tm_find(&out, type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP
                                                       : RAFT_MSG_PREVOTE_RESP, from);
    int res = r ? !r->reject : -1;
    tm_clear(&out);
    return res;
}

START_TEST(test_raft_vote_granted_at_most_once_per_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 2, 1, 1, 1), 1);
    ck_assert_uint_eq(t.st.hs.vote, 2);      /* durable before the answer */
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 1, 1, 1), 0);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 2, 1, 1, 1), 1);   /* same candidate again */
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_vote_refused_to_candidate_with_older_last_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = tc_msg(RAFT_MSG_APPEND, 2, 1, 3);
    raft_entry e = {2, 3, RAFT_ENTRY_NOOP, NULL, 0};
    m.index = 1;
    m.log_term = 1;
    m.entries = &e;
    m.n_entries = 1;
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tn_process(&t, NULL);
    tn_tick(&t, 10);                          /* leader lease over */
    /* longer log, but last term 2 < 3 */
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 4, 10, 2), 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_vote_refused_to_candidate_with_shorter_log_of_same_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = tc_msg(RAFT_MSG_APPEND, 2, 1, 1);
    raft_entry e[2] = {{2, 1, RAFT_ENTRY_NOOP, NULL, 0}, {3, 1, RAFT_ENTRY_NOOP, NULL, 0}};
    m.index = 1;
    m.log_term = 1;
    m.entries = e;
    m.n_entries = 2;
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tn_process(&t, NULL);
    tn_tick(&t, 10);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 2, 2, 1), 0);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 2, 3, 1), 1);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_vote_of_lower_term_is_not_granted)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 2, 5, 1, 1), 1);
    ck_assert_int_ne(ask_vote(&t, RAFT_MSG_VOTE, 3, 4, 1, 1), 1);
    ck_assert_uint_eq(status(&t).term, 5);
    ck_assert_uint_eq(status(&t).vote, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_prevote_refused_to_stale_log_and_granted_to_up_to_date)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg m = tc_msg(RAFT_MSG_APPEND, 2, 1, 2);
    raft_entry e = {2, 2, RAFT_ENTRY_NOOP, NULL, 0};
    m.index = 1;
    m.log_term = 1;
    m.entries = &e;
    m.n_entries = 1;
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tn_process(&t, NULL);
    tn_tick(&t, 10);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_PREVOTE, 3, 3, 1, 1), 0);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_PREVOTE, 3, 3, 2, 2), 1);
    ck_assert_uint_eq(status(&t).term, 2);   /* a pre-vote changes nothing */
    ck_assert_uint_eq(status(&t).vote, 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_follower_in_leader_lease_ignores_vote_requests)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &hb), 0);
    tn_process(&t, NULL);
    tn_tick(&t, 9);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 2, 5, 1), -1);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_PREVOTE, 3, 2, 5, 1), -1);
    ck_assert_uint_eq(status(&t).term, 1);
    ck_assert_uint_eq(status(&t).leader, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_follower_past_leader_lease_grants_vote)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &hb), 0);
    tn_process(&t, NULL);
    raft_set_election_timeout(t.r, 15);
    tn_tick(&t, 10);                          /* lease (10 ticks) over, timer (15) not yet */
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 3, 2, 5, 1), 1);
    ck_assert_uint_eq(status(&t).term, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_higher_term_in_any_message_turns_leader_into_follower)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, 7);
    m.reject = 1;
    ck_assert_int_eq(raft_step(tc_node(&c, 1)->r, &m), 0);
    raft_status st = status(tc_node(&c, 1));
    ck_assert_int_eq(st.role, RAFT_FOLLOWER);
    ck_assert_uint_eq(st.term, 7);
    ck_assert_uint_eq(st.vote, 0);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_candidate_hearing_leader_of_same_term_becomes_follower)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    timeout(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    ck_assert_int_eq(status(&t).role, RAFT_CANDIDATE);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 3, 1, 1);
    ck_assert_int_eq(raft_step(t.r, &hb), 0);
    ck_assert_int_eq(status(&t).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(status(&t).leader, 3);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_stale_leader_is_told_the_newer_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    ck_assert_int_eq(ask_vote(&t, RAFT_MSG_VOTE, 2, 3, 1, 1), 1);
    raft_msg m = tc_msg(RAFT_MSG_HEARTBEAT, 3, 1, 2);
    ck_assert_int_eq(raft_step(t.r, &m), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    raft_msg *r = tm_find(&out, RAFT_MSG_APPEND_RESP, 3);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->term, 3);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_leader_without_quorum_steps_down_after_election_timeout)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    uint64_t term = status(tc_node(&c, 1)).term;
    tc_isolate(&c, 1);
    for (int i = 0; i < 20; i++) {
        tn_tick(tc_node(&c, 1), 1);
        tc_stabilize(&c);
    }
    ck_assert_int_eq(status(tc_node(&c, 1)).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(status(tc_node(&c, 1)).term, term);   /* no new term for that */
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_leader_with_quorum_stays_leader)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    tc_isolate(&c, 3);
    for (int i = 0; i < 50; i++) {
        tn_tick(tc_node(&c, 1), 1);
        tn_tick(tc_node(&c, 2), 1);
        tc_stabilize(&c);
    }
    ck_assert_int_eq(status(tc_node(&c, 1)).role, RAFT_LEADER);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_partitioned_node_does_not_disrupt_the_cluster_on_return)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    uint64_t term = status(tc_node(&c, 1)).term;
    tc_isolate(&c, 3);
    for (int i = 0; i < 100; i++) {
        tn_tick(tc_node(&c, 3), 1);
        tc_stabilize(&c);
    }
    ck_assert_uint_eq(status(tc_node(&c, 3)).term, term);   /* pre-votes only */
    tc_heal(&c);
    for (int i = 0; i < 5; i++) {
        for (int k = 1; k <= 3; k++)
            tn_tick(tc_node(&c, (uint64_t)k), 1);
        tc_stabilize(&c);
    }
    ck_assert_int_eq(status(tc_node(&c, 1)).role, RAFT_LEADER);
    ck_assert_uint_eq(status(tc_node(&c, 1)).term, term);
    ck_assert_uint_eq(status(tc_node(&c, 3)).leader, 1);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_server_outside_the_configuration_never_campaigns)
{
    tnode t;
    tn_init_empty(&t, 9, NULL);
    tmsgs out = {0};
    tn_tick(&t, 100);
    tn_process(&t, &out);
    ck_assert_uint_eq(out.n, 0);
    ck_assert_int_eq(status(&t).role, RAFT_FOLLOWER);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_single_voter_elects_itself_and_commits_after_persisting)
{
    tnode t;
    tn_init(&t, 1, 1, NULL);
    tn_tick(&t, 10);
    ck_assert_int_eq(status(&t).role, RAFT_LEADER);
    ck_assert_uint_eq(status(&t).commit, 1);   /* the no-op (2) is not durable yet */
    tn_process(&t, NULL);
    ck_assert_uint_eq(status(&t).commit, 2);
    ck_assert_uint_eq(t.applied, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_election_timeout_comes_from_the_caller)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_update u;
    raft_set_election_timeout(t.r, 13);
    raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT, 2, 1, 1);   /* resets the timer */
    ck_assert_int_eq(raft_step(t.r, &hb), 0);
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_int_eq(u.timeout_reset, 1);
    raft_update_free(&u);
    tn_tick(&t, 12);
    ck_assert_int_eq(status(&t).role, RAFT_FOLLOWER);
    tn_tick(&t, 1);
    ck_assert_int_eq(status(&t).role, RAFT_PRECANDIDATE);
    tn_free(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_election");
    TCase *tc = tcase_create("election");
    tcase_add_test(tc, test_raft_follower_starts_prevote_after_election_timeout);
    tcase_add_test(tc, test_raft_prevote_changes_neither_term_nor_vote);
    tcase_add_test(tc, test_raft_prevote_quorum_makes_candidate_with_next_term_and_own_vote);
    tcase_add_test(tc, test_raft_candidate_with_majority_becomes_leader_and_appends_noop);
    tcase_add_test(tc, test_raft_candidate_rejected_by_majority_becomes_follower);
    tcase_add_test(tc, test_raft_split_vote_times_out_into_a_new_election_of_a_higher_term);
    tcase_add_test(tc, test_raft_vote_granted_at_most_once_per_term);
    tcase_add_test(tc, test_raft_vote_refused_to_candidate_with_older_last_term);
    tcase_add_test(tc, test_raft_vote_refused_to_candidate_with_shorter_log_of_same_term);
    tcase_add_test(tc, test_raft_vote_of_lower_term_is_not_granted);
    tcase_add_test(tc, test_raft_prevote_refused_to_stale_log_and_granted_to_up_to_date);
    tcase_add_test(tc, test_raft_follower_in_leader_lease_ignores_vote_requests);
    tcase_add_test(tc, test_raft_follower_past_leader_lease_grants_vote);
    tcase_add_test(tc, test_raft_higher_term_in_any_message_turns_leader_into_follower);
    tcase_add_test(tc, test_raft_candidate_hearing_leader_of_same_term_becomes_follower);
    tcase_add_test(tc, test_raft_stale_leader_is_told_the_newer_term);
    tcase_add_test(tc, test_raft_leader_without_quorum_steps_down_after_election_timeout);
    tcase_add_test(tc, test_raft_leader_with_quorum_stays_leader);
    tcase_add_test(tc, test_raft_partitioned_node_does_not_disrupt_the_cluster_on_return);
    tcase_add_test(tc, test_raft_server_outside_the_configuration_never_campaigns);
    tcase_add_test(tc, test_raft_single_voter_elects_itself_and_commits_after_persisting);
    tcase_add_test(tc, test_raft_election_timeout_comes_from_the_caller);
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
