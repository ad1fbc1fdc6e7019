/* test_fsm_locks.c: unit tests of locks in the state machine
 * (daemon/fsm/locks.c): grants and fencing tokens, re-acquire by the
 * holder, extend, release, expiry by token, reads, and the TTL hook. One
 * test per rule of SPEC §3 "Locks" and fsm.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fsm_fixture.h"

static int64_t acquire(const char *name, const char *owner, int64_t ttl, int expect)
{
    fsm_result res;
    command c = fx_acquire(name, owner, ttl);
    ck_assert_int_eq(fx_apply(&c, &res), expect);
    int64_t token = res.token;
    fsm_result_clear(&res);
    return token;
}

static int apply(command c)
{
    return fx_apply(&c, NULL);
}

/* -------------------------------------------------------------- acquire */

START_TEST(test_lock_acquire_of_a_free_lock_grants_it_with_token_equal_to_revision)
{
    fx_put_rev("k", "v");
    fsm_result res;
    command c = fx_acquire("jobs/nightly", "w1", 30000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 2);
    ck_assert_int_eq(res.token, 2);
    ck_assert_int_eq(res.ttl_ms, 30000);
    ck_assert_ptr_nonnull(res.owner);
    ck_assert_str_eq(res.owner, "w1");
    fsm_result_clear(&res);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("jobs/nightly"), &r), 0);
    ck_assert_str_eq(FX_STR(r.name), "jobs/nightly");
    ck_assert_str_eq(FX_STR(r.owner), "w1");
    ck_assert_int_eq(r.token, 2);
    ck_assert_int_eq(r.ttl_ms, 30000);
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_reacquire_by_owner_keeps_token)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    fsm_result res;
    command c = fx_acquire("l", "w1", 5000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.token, t1);
    ck_assert_int_eq(res.revision, t1 + 1);          /* a write: fresh TTL */
    ck_assert_int_eq(res.ttl_ms, 5000);
    fsm_result_clear(&res);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    ck_assert_int_eq(r.token, t1);
    ck_assert_int_eq(r.ttl_ms, 5000);
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_acquire_held_by_another_is_lock_held_with_the_holder)
{
    int64_t t1 = acquire("l", "w1", 4000, 0);
    fsm_result res;
    command c = fx_acquire("l", "w2", 1000);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ELOCKHELD);
    ck_assert_ptr_nonnull(res.owner);
    ck_assert_str_eq(res.owner, "w1");
    ck_assert_int_eq(res.token, t1);
    ck_assert_int_eq(res.ttl_ms, 4000);
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), t1);  /* no revision taken */
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    ck_assert_str_eq(FX_STR(r.owner), "w1");
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_owners_are_compared_bytewise)
{
    acquire("l", "w1", 1000, 0);
    command c = fx_acquire("l", "w1", 1000);
    c.owner = kbytes_make("w1\0", 3);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ELOCKHELD);
    acquire("l", "W1", 1000, KAHUNA_ELOCKHELD);
}
END_TEST

START_TEST(test_lock_token_increases_across_grants)
{
    int64_t last = 0;
    for (int i = 0; i < 5; i++) {
        char owner[16];
        snprintf(owner, sizeof owner, "w%d", i);
        fx_put_rev("noise", "x");
        int64_t t = acquire("l", owner, 1000, 0);
        ck_assert_int_gt(t, last);
        last = t;
        if (i % 2)
            ck_assert_int_eq(apply(fx_release("l", owner)), 0);
        else
            ck_assert_int_eq(apply(fx_lock_expire("l", t)), 0);
    }
}
END_TEST

START_TEST(test_lock_tokens_of_different_locks_are_distinct)
{
    int64_t a = acquire("a", "w", 1000, 0);
    int64_t b = acquire("b", "w", 1000, 0);
    ck_assert_int_ne(a, b);
}
END_TEST

/* --------------------------------------------------------------- extend */

START_TEST(test_lock_extend_of_a_free_lock_is_not_found)
{
    ck_assert_int_eq(apply(fx_extend("l", "w1", 1000)), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
}
END_TEST

START_TEST(test_lock_extend_by_another_owner_is_not_owner)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    fsm_result res;
    command c = fx_extend("l", "w2", 9000);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ENOTOWNER);
    ck_assert_str_eq(res.owner, "w1");
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), t1);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    ck_assert_int_eq(r.ttl_ms, 1000);
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_extend_by_the_owner_replaces_the_ttl_and_keeps_the_token)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    fsm_result res;
    command c = fx_extend("l", "w1", 9000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.token, t1);
    ck_assert_int_eq(res.ttl_ms, 9000);
    ck_assert_int_eq(res.revision, t1 + 1);
    ck_assert_str_eq(res.owner, "w1");
    fsm_result_clear(&res);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    ck_assert_int_eq(r.ttl_ms, 9000);
    ck_assert_int_eq(r.token, t1);
    lock_record_free(&r);
}
END_TEST

/* -------------------------------------------------------------- release */

START_TEST(test_lock_release_of_a_free_lock_is_not_found)
{
    ck_assert_int_eq(apply(fx_release("l", "w1")), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_lock_release_by_another_owner_is_not_owner)
{
    acquire("l", "w1", 1000, 0);
    ck_assert_int_eq(apply(fx_release("l", "w2")), KAHUNA_ENOTOWNER);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_release_by_the_owner_frees_it)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    fsm_result res;
    command c = fx_release("l", "w1");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, t1 + 1);
    fsm_result_clear(&res);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), KAHUNA_ENOTFOUND);
    int64_t t2 = acquire("l", "w2", 1000, 0);
    ck_assert_int_gt(t2, t1);
}
END_TEST

/* --------------------------------------------------------------- expire */

START_TEST(test_lock_expire_with_the_current_token_frees_it)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    ck_assert_int_eq(apply(fx_lock_expire("l", t1)), 0);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), t1 + 1);
}
END_TEST

START_TEST(test_lock_expire_of_an_older_grant_changes_nothing)
{
    int64_t t1 = acquire("l", "w1", 1000, 0);
    ck_assert_int_eq(apply(fx_release("l", "w1")), 0);
    int64_t t2 = acquire("l", "w2", 1000, 0);
    int64_t before = fsm_current_revision(fx.f);
    ck_assert_int_eq(apply(fx_lock_expire("l", t1)), KAHUNA_ECONDITION);
    ck_assert_int_eq(fsm_current_revision(fx.f), before);
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), 0);
    ck_assert_str_eq(FX_STR(r.owner), "w2");
    ck_assert_int_eq(r.token, t2);
    lock_record_free(&r);
}
END_TEST

START_TEST(test_lock_expire_of_a_free_lock_is_not_found)
{
    ck_assert_int_eq(apply(fx_lock_expire("l", 1)), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
}
END_TEST

START_TEST(test_lock_expire_does_not_end_a_reacquired_lease_early)
{
    /* Re-acquire by the holder keeps the token: the leader re-arms it with
     * the same generation, so an expiry for that token still applies. */
    int64_t t1 = acquire("l", "w1", 1000, 0);
    acquire("l", "w1", 1000, 0);
    ck_assert_int_eq(apply(fx_lock_expire("l", t1)), 0);
}
END_TEST

/* ---------------------------------------------------------------- reads */

START_TEST(test_lock_get_of_a_free_lock_is_not_found)
{
    lock_record r;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &r), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_lock_list_shows_held_locks_by_prefix_in_order)
{
    acquire("jobs/b", "w1", 1000, 0);
    acquire("jobs/a", "w2", 2000, 0);
    acquire("jobs/c", "w3", 3000, 0);
    acquire("other", "w4", 1000, 0);
    ck_assert_int_eq(apply(fx_release("jobs/c", "w3")), 0);
    lock_list l;
    ck_assert_int_eq(fsm_lock_list(fx.r, kbytes_str("jobs/"), kbytes_str(""), 10, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.more, 0);
    ck_assert_str_eq(FX_STR(l.items[0].name), "jobs/a");
    ck_assert_str_eq(FX_STR(l.items[0].owner), "w2");
    ck_assert_int_eq(l.items[0].ttl_ms, 2000);
    ck_assert_str_eq(FX_STR(l.items[1].name), "jobs/b");
    lock_list_free(&l);
    ck_assert_int_eq(fsm_lock_list(fx.r, kbytes_str(""), kbytes_str(""), 1, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.more, 1);
    lock_list_free(&l);
    ck_assert_int_eq(fsm_lock_list(fx.r, kbytes_str(""), kbytes_str("jobs/b"), 10, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(FX_STR(l.items[0].name), "other");
    lock_list_free(&l);
    ck_assert_int_eq(fsm_lock_list(fx.r, kbytes_str(""), kbytes_str(""), 0, &l), KAHUNA_EBADREQ);
}
END_TEST

/* ------------------------------------------------------------- TTL hook */

START_TEST(test_lock_ttl_hook_arms_a_grant_with_its_token)
{
    int64_t t1 = acquire("l", "w1", 1500, 0);
    ck_assert_int_eq(fx.nevents, 1);
    ck_assert_int_eq(fx.events[0].kind, FSM_TTL_LOCK);
    ck_assert_int_eq(fx.events[0].op, FSM_TTL_ARM);
    ck_assert_str_eq(fx.events[0].name, "l");
    ck_assert_int_eq(fx.events[0].generation, t1);
    ck_assert_int_eq(fx.events[0].ttl_ms, 1500);
}
END_TEST

START_TEST(test_lock_ttl_hook_rearms_reacquire_and_extend_with_the_same_token)
{
    int64_t t1 = acquire("l", "w1", 1500, 0);
    acquire("l", "w1", 2500, 0);
    ck_assert_int_eq(apply(fx_extend("l", "w1", 3500)), 0);
    ck_assert_int_eq(fx.nevents, 3);
    ck_assert_int_eq(fx.events[1].op, FSM_TTL_ARM);
    ck_assert_int_eq(fx.events[1].generation, t1);
    ck_assert_int_eq(fx.events[1].ttl_ms, 2500);
    ck_assert_int_eq(fx.events[2].op, FSM_TTL_ARM);
    ck_assert_int_eq(fx.events[2].generation, t1);
    ck_assert_int_eq(fx.events[2].ttl_ms, 3500);
}
END_TEST

START_TEST(test_lock_ttl_hook_disarms_when_the_lock_becomes_free)
{
    int64_t t1 = acquire("l", "w1", 1500, 0);
    ck_assert_int_eq(apply(fx_release("l", "w1")), 0);
    int64_t t2 = acquire("l", "w2", 1500, 0);
    ck_assert_int_eq(apply(fx_lock_expire("l", t2)), 0);
    ck_assert_int_eq(fx.nevents, 4);
    ck_assert_int_eq(fx.events[1].op, FSM_TTL_DISARM);
    ck_assert_int_eq(fx.events[1].kind, FSM_TTL_LOCK);
    ck_assert_int_eq(fx.events[1].generation, t1);
    ck_assert_int_eq(fx.events[3].op, FSM_TTL_DISARM);
    ck_assert_int_eq(fx.events[3].generation, t2);
}
END_TEST

START_TEST(test_lock_ttl_hook_quiet_on_refusals)
{
    acquire("l", "w1", 1500, 0);
    acquire("l", "w2", 1500, KAHUNA_ELOCKHELD);
    ck_assert_int_eq(apply(fx_extend("l", "w2", 10)), KAHUNA_ENOTOWNER);
    ck_assert_int_eq(apply(fx_release("l", "w2")), KAHUNA_ENOTOWNER);
    ck_assert_int_eq(apply(fx_lock_expire("l", 77)), KAHUNA_ECONDITION);
    ck_assert_int_eq(fx.nevents, 1);
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *locks_suite(void)
{
    Suite *s = suite_create("fsm_locks");
    TCase *tc;

    tc = tcase_create("acquire");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_lock_acquire_of_a_free_lock_grants_it_with_token_equal_to_revision);
    tcase_add_test(tc, test_lock_reacquire_by_owner_keeps_token);
    tcase_add_test(tc, test_lock_acquire_held_by_another_is_lock_held_with_the_holder);
    tcase_add_test(tc, test_lock_owners_are_compared_bytewise);
    tcase_add_test(tc, test_lock_token_increases_across_grants);
    tcase_add_test(tc, test_lock_tokens_of_different_locks_are_distinct);
    suite_add_tcase(s, tc);

    tc = tcase_create("extend_release_expire");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_lock_extend_of_a_free_lock_is_not_found);
    tcase_add_test(tc, test_lock_extend_by_another_owner_is_not_owner);
    tcase_add_test(tc, test_lock_extend_by_the_owner_replaces_the_ttl_and_keeps_the_token);
    tcase_add_test(tc, test_lock_release_of_a_free_lock_is_not_found);
    tcase_add_test(tc, test_lock_release_by_another_owner_is_not_owner);
    tcase_add_test(tc, test_lock_release_by_the_owner_frees_it);
    tcase_add_test(tc, test_lock_expire_with_the_current_token_frees_it);
    tcase_add_test(tc, test_lock_expire_of_an_older_grant_changes_nothing);
    tcase_add_test(tc, test_lock_expire_of_a_free_lock_is_not_found);
    tcase_add_test(tc, test_lock_expire_does_not_end_a_reacquired_lease_early);
    suite_add_tcase(s, tc);

    tc = tcase_create("reads");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_lock_get_of_a_free_lock_is_not_found);
    tcase_add_test(tc, test_lock_list_shows_held_locks_by_prefix_in_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl_hook");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_lock_ttl_hook_arms_a_grant_with_its_token);
    tcase_add_test(tc, test_lock_ttl_hook_rearms_reacquire_and_extend_with_the_same_token);
    tcase_add_test(tc, test_lock_ttl_hook_disarms_when_the_lock_becomes_free);
    tcase_add_test(tc, test_lock_ttl_hook_quiet_on_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(locks_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
