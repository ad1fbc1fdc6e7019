/* test_raft_readindex.c: linearizable reads with ReadIndex (thesis §6.4):
 * parked until the leader commits an entry of its term, one heartbeat
 * round per batch, answered once a quorum acked a round started after the
 * request, failed when leadership is lost, forwarded by followers. */
#include <check.h>
#include <stdlib.h>

#include "errors.h"
#include "raft_fixture.h"

/* Leader 1 of `voters`, with its no-op committed (acked by node 2). */
static void committed_leader(tnode *t, int voters)
{
    tn_init(t, 1, voters, NULL);
    tn_make_leader(t);
    raft_status st = tn_status(t);
    for (uint64_t f = 2; f <= (uint64_t)voters / 2 + 1; f++) {
        raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, f, 1, st.term);
        m.index = st.last_index;
        tn_step(t, &m);
    }
    tn_process(t, NULL);
    ck_assert_uint_eq(tn_status(t).commit, st.last_index);
}

static void ack_round(tnode *t, uint64_t from, uint64_t round)
{
    raft_msg m = tc_msg(RAFT_MSG_HEARTBEAT_RESP, from, t->id, tn_status(t).term);
    m.ctx = round;
    tn_step(t, &m);
}

/* The round carried by the heartbeats in out (0: none). */
static uint64_t round_of(tmsgs *out)
{
    raft_msg *h = tm_find(out, RAFT_MSG_HEARTBEAT, 0);
    return h ? h->ctx : 0;
}

START_TEST(test_raft_read_index_parked_until_leader_commits_an_entry_of_its_term)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    ck_assert_int_eq(raft_read_index(t.r, 7), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_HEARTBEAT), 0);
    ck_assert_uint_eq(t.nreads, 0);
    tm_clear(&out);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = tn_status(&t).last_index;   /* the no-op commits */
    tn_step(&t, &m);
    tn_process(&t, &out);
    uint64_t round = round_of(&out);
    ck_assert_uint_ne(round, 0);
    ack_round(&t, 2, round);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 1);
    ck_assert_uint_eq(t.reads[0].id, 7);
    ck_assert_int_eq(t.reads[0].ok, 1);
    ck_assert_uint_eq(t.reads[0].index, tn_status(&t).commit);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_waits_for_a_quorum_to_ack_the_round)
{
    tnode t;
    committed_leader(&t, 5);
    ck_assert_int_eq(raft_read_index(t.r, 1), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    uint64_t round = round_of(&out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_HEARTBEAT), 4);
    ack_round(&t, 2, round);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 0);       /* 2 of 5 */
    ack_round(&t, 2, round);              /* the same node twice counts once */
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 0);
    ack_round(&t, 4, round);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_requests_of_one_update_share_one_round)
{
    tnode t;
    committed_leader(&t, 3);
    for (uint64_t id = 1; id <= 3; id++)
        ck_assert_int_eq(raft_read_index(t.r, id), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_uint_eq(tm_count(&out, RAFT_MSG_HEARTBEAT), 2);   /* one per follower */
    ack_round(&t, 3, round_of(&out));
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(t.reads[i].id, i + 1);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_never_answers_a_request_with_an_earlier_round)
{
    tnode t;
    committed_leader(&t, 3);
    tmsgs out = {0};
    uint64_t r1;
    ck_assert_int_eq(raft_read_index(t.r, 1), 0);
    tn_process(&t, &out);
    r1 = round_of(&out);
    tm_clear(&out);
    ck_assert_int_eq(raft_read_index(t.r, 2), 0);
    ack_round(&t, 2, r1);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_uint_eq(u.n_reads, 1);
    ck_assert_uint_eq(u.reads[0].id, 1);
    uint64_t r2 = 0;
    for (size_t i = 0; i < u.n_now; i++)
        if (u.msgs_now[i].type == RAFT_MSG_HEARTBEAT)
            r2 = u.msgs_now[i].ctx;
    ck_assert_uint_gt(r2, r1);            /* request 2 got a round of its own */
    tn_persist(&t, &u);
    raft_update_free(&u);
    ack_round(&t, 3, r1);                 /* late acks of r1 do not answer it */
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 0);
    ack_round(&t, 3, r2);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 1);
    ck_assert_uint_eq(t.reads[0].id, 2);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_is_the_commit_index_when_the_round_starts)
{
    tnode t;
    committed_leader(&t, 3);
    uint64_t c0 = tn_status(&t).commit;
    uint64_t idx;
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "w", 1, &idx, NULL), 0);
    ck_assert_int_eq(raft_read_index(t.r, 1), 0);   /* the write is not committed */
    tmsgs out = {0};
    tn_process(&t, &out);
    ack_round(&t, 2, round_of(&out));
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.reads[0].index, c0);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = idx;
    tn_step(&t, &m);
    ck_assert_int_eq(raft_read_index(t.r, 2), 0);
    tm_clear(&out);
    tn_process(&t, &out);
    ack_round(&t, 2, round_of(&out));
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.reads[1].index, idx);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_fails_when_the_leader_steps_down)
{
    tnode t;
    committed_leader(&t, 3);
    ck_assert_int_eq(raft_read_index(t.r, 1), 0);
    tn_process(&t, NULL);                 /* in a round */
    ck_assert_int_eq(raft_read_index(t.r, 2), 0);   /* queued */
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term + 1);
    m.reject = 1;
    tn_step(&t, &m);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 2);
    ck_assert_int_eq(t.reads[0].ok, 0);
    ck_assert_int_eq(t.reads[1].ok, 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_acks_of_another_term_are_ignored)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_set_log(&t, NULL, 0, 3);
    tn_make_leader(&t);                   /* term 4 */
    raft_msg c = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, 4);
    c.index = tn_status(&t).last_index;
    tn_step(&t, &c);
    ck_assert_int_eq(raft_read_index(t.r, 1), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    raft_msg m = tc_msg(RAFT_MSG_HEARTBEAT_RESP, 2, 1, 3);
    m.ctx = round_of(&out);
    tn_step(&t, &m);
    tn_process(&t, NULL);
    ck_assert_uint_eq(t.nreads, 0);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_forwarded_by_a_follower_is_answered_by_the_leader)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    tc_propose(&c, 1, "x");
    tc_stabilize(&c);
    ck_assert_int_eq(raft_read_index(tc_node(&c, 2)->r, 42), 0);
    tc_stabilize(&c);
    tnode *f = tc_node(&c, 2);
    ck_assert_uint_eq(f->nreads, 1);
    ck_assert_uint_eq(f->reads[0].id, 42);
    ck_assert_int_eq(f->reads[0].ok, 1);
    ck_assert_uint_eq(f->reads[0].index, tn_status(tc_node(&c, 1)).commit);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_read_index_without_a_known_leader_is_unavailable)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    ck_assert_int_eq(raft_read_index(t.r, 1), KAHUNA_EUNAVAILABLE);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_read_index_on_a_single_voter_needs_no_round)
{
    tnode t;
    tn_init(&t, 1, 1, NULL);
    tn_tick(&t, 10);
    tn_process(&t, NULL);
    ck_assert_int_eq(raft_read_index(t.r, 9), 0);
    tmsgs out = {0};
    tn_process(&t, &out);
    ck_assert_uint_eq(out.n, 0);
    ck_assert_uint_eq(t.nreads, 1);
    ck_assert_uint_eq(t.reads[0].index, 2);
    tm_clear(&out);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_deposed_leader_that_does_not_know_it_cannot_answer_reads)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    raft_set_election_timeout(tc_node(&c, 3)->r, 30);   /* 2 campaigns first */
    tc_elect(&c, 1);
    tc_isolate(&c, 1);
    for (int i = 0; i < 40 && tn_status(tc_node(&c, 2)).role != RAFT_LEADER; i++) {
        tn_tick(tc_node(&c, 2), 1);
        tn_tick(tc_node(&c, 3), 1);
        tc_stabilize(&c);
    }
    ck_assert_int_eq(tn_status(tc_node(&c, 2)).role, RAFT_LEADER);
    ck_assert_int_eq(tn_status(tc_node(&c, 1)).role, RAFT_LEADER);   /* never ticked */
    tc_heal(&c);
    ck_assert_int_eq(raft_read_index(tc_node(&c, 1)->r, 5), 0);
    tc_stabilize(&c);
    tnode *old = tc_node(&c, 1);
    ck_assert_uint_eq(old->nreads, 1);
    ck_assert_int_eq(old->reads[0].ok, 0);
    ck_assert_int_eq(tn_status(old).role, RAFT_FOLLOWER);
    tc_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_readindex");
    TCase *tc = tcase_create("readindex");
    tcase_add_test(tc, test_raft_read_index_parked_until_leader_commits_an_entry_of_its_term);
    tcase_add_test(tc, test_raft_read_index_waits_for_a_quorum_to_ack_the_round);
    tcase_add_test(tc, test_raft_read_index_requests_of_one_update_share_one_round);
    tcase_add_test(tc, test_raft_read_index_never_answers_a_request_with_an_earlier_round);
    tcase_add_test(tc, test_raft_read_index_is_the_commit_index_when_the_round_starts);
    tcase_add_test(tc, test_raft_read_index_fails_when_the_leader_steps_down);
    tcase_add_test(tc, test_raft_read_index_acks_of_another_term_are_ignored);
    tcase_add_test(tc, test_raft_read_index_forwarded_by_a_follower_is_answered_by_the_leader);
    tcase_add_test(tc, test_raft_read_index_without_a_known_leader_is_unavailable);
    tcase_add_test(tc, test_raft_read_index_on_a_single_voter_needs_no_round);
    tcase_add_test(tc, test_raft_deposed_leader_that_does_not_know_it_cannot_answer_reads);
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
