/* test_raft_membership.c: single-server membership changes (thesis §4):
 * learners, promotion once caught up, removal, one change at a time, a
 * configuration in effect as soon as it is appended (and gone with its
 * entry), the leader removing itself; and leadership transfer (§3.10). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "raft_fixture.h"

/* A 3-voter cluster plus an empty node 4 (not a member yet), leader 1
 * elected with its no-op committed. */
static void cluster_with_spare(tcluster *c)
{
    tc_init(c, 3, NULL);
    c->size = 4;
    tn_init_empty(&c->n[3], 4, NULL);
    tc_elect(c, 1);
    tn_tick(tc_node(c, 1), 1);
    tc_stabilize(c);
}

static const raft_server *member(tnode *t, uint64_t id)
{
    return raft_config_find(tn_status(t).config, id);
}

static int change(tcluster *c, uint64_t leader, int op, uint64_t id)
{
    uint64_t index;
    return raft_change(tc_node(c, leader)->r, op, id, "n", 1, &index);
}

/* Heartbeats until everyone has what the leader has. */
static void settle(tcluster *c, uint64_t leader, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        tn_tick(tc_node(c, leader), 1);
        tc_stabilize(c);
    }
}

START_TEST(test_raft_added_learner_is_in_the_configuration_as_soon_as_appended)
{
    tcluster c;
    cluster_with_spare(&c);
    tc_isolate(&c, 2);
    tc_isolate(&c, 3);                    /* nothing can commit */
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    const raft_server *s = member(tc_node(&c, 1), 4);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->role, RAFT_LEARNER);
    ck_assert_uint_eq(s->ctx_len, 1);
    ck_assert_int_eq(raft_progress_get(tc_node(&c, 1)->r, 4, NULL, NULL, NULL, NULL), 0);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_learner_gets_the_log_but_does_not_count_for_commit)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    settle(&c, 1, 3);
    tnode *l = tc_node(&c, 4);
    ck_assert_uint_eq(l->applied, tc_node(&c, 1)->applied);
    ck_assert_ptr_nonnull(member(l, 4));
    tc_isolate(&c, 2);
    tc_isolate(&c, 3);
    uint64_t commit = tn_status(tc_node(&c, 1)).commit;
    uint64_t idx = tc_propose(&c, 1, "x");
    settle(&c, 1, 3);
    ck_assert_uint_ge(memstore_last_index(&l->st), idx);   /* the learner has it */
    ck_assert_uint_eq(tn_status(tc_node(&c, 1)).commit, commit);   /* not committed */
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_learner_never_campaigns)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    settle(&c, 1, 3);
    tc_isolate(&c, 4);
    tn_tick(tc_node(&c, 4), 100);
    tc_stabilize(&c);
    ck_assert_int_eq(tn_status(tc_node(&c, 4)).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(tn_status(tc_node(&c, 4)).term, tn_status(tc_node(&c, 1)).term);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_promotion_waits_until_the_learner_caught_up)
{
    tcluster c;
    cluster_with_spare(&c);
    tc_isolate(&c, 4);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    settle(&c, 1, 2);
    for (int i = 0; i < 5; i++)
        tc_propose(&c, 1, "x");
    settle(&c, 1, 2);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_PROMOTE, 4), KAHUNA_EBADREQ);
    tc_heal(&c);
    settle(&c, 1, 5);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_PROMOTE, 4), 0);
    ck_assert_int_eq(member(tc_node(&c, 1), 4)->role, RAFT_VOTER);
    settle(&c, 1, 3);
    ck_assert_int_eq(member(tc_node(&c, 4), 4)->role, RAFT_VOTER);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_second_change_refused_until_the_first_is_committed)
{
    tcluster c;
    cluster_with_spare(&c);
    tc_isolate(&c, 2);
    tc_isolate(&c, 3);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    tc_stabilize(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 3), KAHUNA_EUNAVAILABLE);
    tc_heal(&c);
    settle(&c, 1, 3);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 3), 0);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_change_refused_before_the_leaders_noop_commits)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    uint64_t index;
    ck_assert_int_eq(raft_change(t.r, RAFT_CHANGE_ADD_LEARNER, 4, NULL, 0, &index),
                     KAHUNA_EUNAVAILABLE);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = tn_status(&t).last_index;
    tn_step(&t, &m);
    ck_assert_int_eq(raft_change(t.r, RAFT_CHANGE_ADD_LEARNER, 4, NULL, 0, &index), 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_removed_voters_no_longer_count_for_the_quorum)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 3), 0);
    settle(&c, 1, 2);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 2), 0);
    settle(&c, 1, 2);
    ck_assert_uint_eq(raft_config_voters(tn_status(tc_node(&c, 1)).config), 1);
    tc_isolate(&c, 2);
    tc_isolate(&c, 3);
    uint64_t idx = tc_propose(&c, 1, "alone");
    tc_stabilize(&c);
    ck_assert_uint_eq(tn_status(tc_node(&c, 1)).commit, idx);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_leader_removing_itself_steps_down_once_the_removal_commits)
{
    tcluster c;
    cluster_with_spare(&c);
    tc_isolate(&c, 2);
    tc_isolate(&c, 3);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 1), 0);
    tc_stabilize(&c);
    ck_assert_int_eq(tn_status(tc_node(&c, 1)).role, RAFT_LEADER);   /* not committed */
    tc_heal(&c);
    settle(&c, 1, 2);
    ck_assert_int_eq(tn_status(tc_node(&c, 1)).role, RAFT_FOLLOWER);
    tc_isolate(&c, 1);
    tn_tick(tc_node(&c, 1), 50);          /* outside the configuration: never campaigns */
    tc_stabilize(&c);
    ck_assert_int_eq(tn_status(tc_node(&c, 1)).role, RAFT_FOLLOWER);
    for (int i = 0; i < 30 && tn_status(tc_node(&c, 2)).role != RAFT_LEADER &&
                    tn_status(tc_node(&c, 3)).role != RAFT_LEADER; i++) {
        tn_tick(tc_node(&c, 2), 1);
        tn_tick(tc_node(&c, 3), 2);
        tc_stabilize(&c);
    }
    ck_assert(tn_status(tc_node(&c, 2)).role == RAFT_LEADER ||
              tn_status(tc_node(&c, 3)).role == RAFT_LEADER);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_truncated_configuration_entry_takes_its_configuration_with_it)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_config cfg = {0};
    for (uint64_t id = 1; id <= 4; id++)
        ck_assert_int_eq(raft_config_add(&cfg, id, RAFT_VOTER, NULL, 0), 0);
    raft_msg m = tc_msg(RAFT_MSG_APPEND, 2, 1, 2);
    m.index = 1;
    m.log_term = 1;
    m.n_entries = 1;
    m.entries = calloc(1, sizeof *m.entries);
    m.entries[0].index = 2;
    m.entries[0].term = 2;
    m.entries[0].type = RAFT_ENTRY_CONFIG;
    ck_assert_int_eq(raft_config_encode(&cfg, &m.entries[0].data, &m.entries[0].len), 0);
    raft_config_free(&cfg);
    tn_step(&t, &m);
    raft_msg_free(&m);
    tn_process(&t, NULL);
    ck_assert_ptr_nonnull(member(&t, 4));          /* in effect, uncommitted */
    uint64_t terms[] = {3};
    raft_msg a = tn_append_msg(3, 1, 3, 1, 1, 0, terms, 1);   /* a new leader rewrites 2 */
    tn_step(&t, &a);
    raft_msg_free(&a);
    tn_process(&t, NULL);
    ck_assert_ptr_null(member(&t, 4));
    ck_assert_uint_eq(raft_config_voters(tn_status(&t).config), 3);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_configuration_is_read_back_from_the_log_on_restart)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    settle(&c, 1, 3);
    tn_restart(tc_node(&c, 2));
    ck_assert_int_eq(member(tc_node(&c, 2), 4)->role, RAFT_LEARNER);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_changes_that_make_no_sense_are_refused)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 2), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_PROMOTE, 2), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_PROMOTE, 9), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_REMOVE, 9), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 0), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 1, 77, 4), KAHUNA_EBADREQ);
    ck_assert_int_eq(change(&c, 2, RAFT_CHANGE_ADD_LEARNER, 4), KAHUNA_EUNAVAILABLE);
    ck_assert_int_eq(raft_propose(tc_node(&c, 1)->r, RAFT_ENTRY_CONFIG, "x", 1, NULL, NULL),
                     KAHUNA_EBADREQ);
    tc_free(&c);
    tnode t;
    tn_init(&t, 1, 1, NULL);
    tn_tick(&t, 10);
    tn_process(&t, NULL);
    uint64_t index;
    ck_assert_int_eq(raft_change(t.r, RAFT_CHANGE_REMOVE, 1, NULL, 0, &index), KAHUNA_EBADREQ);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_candidate_counts_only_the_votes_of_voters)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    raft_config cfg = {0};
    for (uint64_t id = 1; id <= 3; id++)
        ck_assert_int_eq(raft_config_add(&cfg, id, RAFT_VOTER, NULL, 0), 0);
    ck_assert_int_eq(raft_config_add(&cfg, 4, RAFT_LEARNER, NULL, 0), 0);
    raft_entry e = {2, 1, RAFT_ENTRY_CONFIG, NULL, 0};
    ck_assert_int_eq(raft_config_encode(&cfg, &e.data, &e.len), 0);
    raft_config_free(&cfg);
    ck_assert_int_eq(memstore_append(&t.st, &e, 1), 0);
    free(e.data);
    tn_restart(&t);
    tn_tick(&t, 10);
    tn_process(&t, NULL);
    raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, 4, 1, 1);
    tn_step(&t, &m);
    ck_assert_int_eq(tn_status(&t).role, RAFT_PRECANDIDATE);
    m.from = 2;
    tn_step(&t, &m);
    ck_assert_int_eq(tn_status(&t).role, RAFT_CANDIDATE);
    m = tc_msg(RAFT_MSG_VOTE_RESP, 4, 1, 1);
    tn_step(&t, &m);
    ck_assert_int_eq(tn_status(&t).role, RAFT_CANDIDATE);
    tn_free(&t);
}
END_TEST

/* ---- leader transfer ---- */

static raft_msg *find_in(raft_update *u, int type)
{
    for (size_t i = 0; i < u->n_now; i++)
        if (u->msgs_now[i].type == type)
            return &u->msgs_now[i];
    for (size_t i = 0; i < u->n_after; i++)
        if (u->msgs_after[i].type == type)
            return &u->msgs_after[i];
    return NULL;
}

START_TEST(test_raft_transfer_to_a_caught_up_follower_sends_timeout_now)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    tnode *l = tc_node(&c, 1);
    ck_assert_int_eq(raft_transfer(l->r, 2), 0);
    raft_update u;
    ck_assert_int_eq(raft_update_get(l->r, &u), 0);
    raft_msg *m = find_in(&u, RAFT_MSG_TIMEOUT_NOW);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->to, 2);
    tn_persist(l, &u);
    raft_update_free(&u);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_transfer_catches_the_target_up_first)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    ck_assert_int_eq(raft_transfer(t.r, 2), 0);
    raft_update u;
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_ptr_null(find_in(&u, RAFT_MSG_TIMEOUT_NOW));   /* 2 is behind */
    tn_persist(&t, &u);
    raft_update_free(&u);
    raft_msg m = tc_msg(RAFT_MSG_APPEND_RESP, 2, 1, tn_status(&t).term);
    m.index = tn_status(&t).last_index;
    tn_step(&t, &m);
    ck_assert_int_eq(raft_update_get(t.r, &u), 0);
    ck_assert_ptr_nonnull(find_in(&u, RAFT_MSG_TIMEOUT_NOW));
    raft_update_free(&u);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_proposals_are_refused_during_a_transfer_until_it_is_abandoned)
{
    tnode t;
    tn_init(&t, 1, 3, NULL);
    tn_make_leader(&t);
    ck_assert_int_eq(raft_transfer(t.r, 3), 0);
    ck_assert_uint_eq(tn_status(&t).transferee, 3);
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "x", 1, NULL, NULL),
                     KAHUNA_EUNAVAILABLE);
    /* answers keep the leader in office, the target never takes over */
    for (int i = 0; i < 10; i++) {
        raft_msg hb = tc_msg(RAFT_MSG_HEARTBEAT_RESP, 2, 1, tn_status(&t).term);
        tn_step(&t, &hb);
        tn_tick(&t, 1);
    }
    tn_process(&t, NULL);
    ck_assert_int_eq(tn_status(&t).role, RAFT_LEADER);
    ck_assert_uint_eq(tn_status(&t).transferee, 0);
    ck_assert_int_eq(raft_propose(t.r, RAFT_ENTRY_COMMAND, "x", 1, NULL, NULL), 0);
    tn_free(&t);
}
END_TEST

START_TEST(test_raft_timeout_now_makes_the_target_leader_despite_leases)
{
    tcluster c;
    tc_init(&c, 3, NULL);
    tc_elect(&c, 1);
    uint64_t term = tn_status(tc_node(&c, 1)).term;
    ck_assert_int_eq(raft_transfer(tc_node(&c, 1)->r, 3), 0);
    tc_stabilize(&c);                     /* no ticks: every lease still holds */
    ck_assert_int_eq(tn_status(tc_node(&c, 3)).role, RAFT_LEADER);
    ck_assert_uint_eq(tn_status(tc_node(&c, 3)).term, term + 1);
    ck_assert_int_eq(tn_status(tc_node(&c, 1)).role, RAFT_FOLLOWER);
    ck_assert_uint_eq(tn_status(tc_node(&c, 1)).leader, 3);
    tc_free(&c);
}
END_TEST

START_TEST(test_raft_transfer_needs_a_voter_and_a_leader)
{
    tcluster c;
    cluster_with_spare(&c);
    ck_assert_int_eq(change(&c, 1, RAFT_CHANGE_ADD_LEARNER, 4), 0);
    settle(&c, 1, 2);
    ck_assert_int_eq(raft_transfer(tc_node(&c, 1)->r, 4), KAHUNA_EBADREQ);
    ck_assert_int_eq(raft_transfer(tc_node(&c, 1)->r, 9), KAHUNA_EBADREQ);
    ck_assert_int_eq(raft_transfer(tc_node(&c, 2)->r, 3), KAHUNA_EUNAVAILABLE);
    ck_assert_int_eq(raft_transfer(tc_node(&c, 1)->r, 1), 0);   /* already there */
    tc_free(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_membership");
    TCase *tc = tcase_create("membership");
    tcase_add_test(tc, test_raft_added_learner_is_in_the_configuration_as_soon_as_appended);
    tcase_add_test(tc, test_raft_learner_gets_the_log_but_does_not_count_for_commit);
    tcase_add_test(tc, test_raft_learner_never_campaigns);
    tcase_add_test(tc, test_raft_promotion_waits_until_the_learner_caught_up);
    tcase_add_test(tc, test_raft_second_change_refused_until_the_first_is_committed);
    tcase_add_test(tc, test_raft_change_refused_before_the_leaders_noop_commits);
    tcase_add_test(tc, test_raft_removed_voters_no_longer_count_for_the_quorum);
    tcase_add_test(tc, test_raft_leader_removing_itself_steps_down_once_the_removal_commits);
    tcase_add_test(tc, test_raft_truncated_configuration_entry_takes_its_configuration_with_it);
    tcase_add_test(tc, test_raft_configuration_is_read_back_from_the_log_on_restart);
    tcase_add_test(tc, test_raft_changes_that_make_no_sense_are_refused);
    tcase_add_test(tc, test_raft_candidate_counts_only_the_votes_of_voters);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("transfer");
    tcase_add_test(tt, test_raft_transfer_to_a_caught_up_follower_sends_timeout_now);
    tcase_add_test(tt, test_raft_transfer_catches_the_target_up_first);
    tcase_add_test(tt, test_raft_proposals_are_refused_during_a_transfer_until_it_is_abandoned);
    tcase_add_test(tt, test_raft_timeout_now_makes_the_target_leader_despite_leases);
    tcase_add_test(tt, test_raft_transfer_needs_a_voter_and_a_leader);
    suite_add_tcase(s, tt);
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
