/* test_leases.c: unit tests of daemon/leases.c, the deadline table of TTLs.
 *
 * Time is passed in explicitly, so every rule is checked without waiting:
 * remaining() counts down and says "expired" at the deadline, pop_due hands
 * each deadline out once and in order, a re-arm or disarm replaces it, a
 * new leader restarts every TTL in full, and a million entries stay fast. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fsm/fsm.h"
#include "leases.h"

static kbytes S(const char *s) { return kbytes_str(s); }

START_TEST(test_leases_remaining_counts_down_to_expired)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("a"), 5, 1000, 10000), 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 5, 10000), 1000);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 5, 10999), 1);
    /* whole milliseconds: the deadline's own millisecond is still held, so
     * a lease armed at floor(T) never ends before T + ttl */
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 5, 11000), 1);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 5, 11001), 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 5, 99999), 0);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_remaining_is_minus_one_without_a_lease)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 1, 0), -1);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("a"), 5, 1000, 0), 0);
    /* another generation, another kind, another name */
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 4, 0), -1);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_LOCK, S("a"), 5, 0), -1);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("b"), 5, 0), -1);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_kinds_do_not_share_names)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("x"), 1, 100, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_LOCK, S("x"), 2, 200, 0), 0);
    ck_assert_uint_eq(leases_count(l), 2);
    leases_disarm(l, FSM_TTL_KV, S("x"));
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_LOCK, S("x"), 2, 0), 200);
    ck_assert_uint_eq(leases_count(l), 1);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_pop_due_hands_out_each_deadline_once_in_order)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("late"), 1, 300, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_LOCK, S("early"), 7, 100, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("mid"), 2, 200, 0), 0);
    ck_assert_int_eq(leases_next_deadline(l), 101); /* due once past its deadline */
    lease_due *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(leases_pop_due(l, 99, 100, &d, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(leases_pop_due(l, 250, 100, &d, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(d[0].kind, FSM_TTL_LOCK);
    ck_assert_str_eq(kbuf_str(&d[0].name), "early");
    ck_assert_int_eq(d[0].generation, 7);
    ck_assert_str_eq(kbuf_str(&d[1].name), "mid");
    leases_due_free(d, n);
    /* handed out once: not again, though still expired until disarmed */
    ck_assert_int_eq(leases_pop_due(l, 250, 100, &d, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_LOCK, S("early"), 7, 250), 0);
    ck_assert_uint_eq(leases_count(l), 3);
    ck_assert_int_eq(leases_next_deadline(l), 301);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_pop_due_respects_max)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S(name), i, 10 + i, 0), 0);
    }
    lease_due *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(leases_pop_due(l, 1000, 4, &d, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(kbuf_str(&d[3].name), "k3");
    leases_due_free(d, n);
    ck_assert_int_eq(leases_pop_due(l, 1000, 100, &d, &n), 0);
    ck_assert_uint_eq(n, 6);
    leases_due_free(d, n);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_rearm_replaces_generation_and_deadline)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("k"), 1, 100, 0), 0);
    lease_due *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(leases_pop_due(l, 100, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 0); /* not before its deadline's millisecond is over */
    ck_assert_int_eq(leases_pop_due(l, 101, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 1);
    leases_due_free(d, n);
    /* a write with a new TTL re-arms the popped entry */
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("k"), 2, 500, 100), 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("k"), 2, 100), 500);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("k"), 1, 100), -1);
    ck_assert_int_eq(leases_pop_due(l, 600, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(leases_pop_due(l, 601, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(d[0].generation, 2);
    leases_due_free(d, n);
    ck_assert_uint_eq(leases_count(l), 1);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_disarm_removes_the_deadline)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("a"), 1, 100, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("b"), 1, 200, 0), 0);
    leases_disarm(l, FSM_TTL_KV, S("a"));
    leases_disarm(l, FSM_TTL_KV, S("never-armed"));
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 1, 0), -1);
    ck_assert_int_eq(leases_next_deadline(l), 201);
    /* arming with no TTL disarms too */
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("b"), 2, 0, 0), 0);
    ck_assert_uint_eq(leases_count(l), 0);
    ck_assert_int_eq(leases_next_deadline(l), INT64_MAX);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_disarm_generation_keeps_a_newer_lease)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_LOCK, S("L"), 3, 100, 0), 0);
    leases_disarm_generation(l, FSM_TTL_LOCK, S("L"), 2);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_LOCK, S("L"), 3, 0), 100);
    leases_disarm_generation(l, FSM_TTL_LOCK, S("L"), 3);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_LOCK, S("L"), 3, 0), -1);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_rearm_all_restarts_every_ttl_in_full)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("a"), 1, 100, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("b"), 1, 1000, 0), 0);
    lease_due *d = NULL;
    size_t n = 0;
    ck_assert_int_eq(leases_pop_due(l, 150, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 1); /* "a" handed out, not yet expired in the log */
    leases_due_free(d, n);
    leases_rearm_all(l, 5000);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("a"), 1, 5000), 100);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, S("b"), 1, 5000), 1000);
    ck_assert_int_eq(leases_next_deadline(l), 5101);
    ck_assert_int_eq(leases_pop_due(l, 5101, 10, &d, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(kbuf_str(&d[0].name), "a");
    leases_due_free(d, n);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_binary_names_are_exact)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    kbytes a = kbytes_make("a\0b", 3), b = kbytes_make("a\0c", 3), c = kbytes_make("a", 1);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, a, 1, 10, 0), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, b, 1, 20, 0), 0);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, a, 1, 0), 10);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, b, 1, 0), 20);
    ck_assert_int_eq(leases_remaining(l, FSM_TTL_KV, c, 1, 0), -1);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_huge_ttl_does_not_overflow)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S("k"), 1, INT64_MAX, 1000), 0);
    ck_assert_int_eq(leases_next_deadline(l), INT64_MAX);
    ck_assert_int_gt(leases_remaining(l, FSM_TTL_KV, S("k"), 1, 1000), 0);
    leases_free(l);
}
END_TEST

START_TEST(test_leases_cope_with_a_million_entries)
{
    leases *l = NULL;
    ck_assert_int_eq(leases_new(&l), 0);
    const int N = 1000000;
    char name[32];
    /* deadlines in a scrambled order */
    for (int i = 0; i < N; i++) {
        int k = (int)(((int64_t)i * 7919) % N);
        snprintf(name, sizeof name, "key/%d", k);
        ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S(name), k, 1 + k, 0), 0);
    }
    ck_assert_uint_eq(leases_count(l), (size_t)N);
    /* re-arm half with later deadlines, disarm a quarter */
    for (int k = 0; k < N; k += 2) {
        snprintf(name, sizeof name, "key/%d", k);
        ck_assert_int_eq(leases_arm(l, FSM_TTL_KV, S(name), k, 2 * N + k, 0), 0);
    }
    for (int k = 1; k < N; k += 4) {
        snprintf(name, sizeof name, "key/%d", k);
        leases_disarm(l, FSM_TTL_KV, S(name));
    }
    size_t expect = (size_t)N - (size_t)N / 4;
    ck_assert_uint_eq(leases_count(l), expect);
    int64_t last = -1;
    size_t total = 0;
    for (;;) {
        lease_due *d = NULL;
        size_t n = 0;
        ck_assert_int_eq(leases_pop_due(l, INT64_MAX - 1, 4096, &d, &n), 0);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int64_t g = d[i].generation;
            int64_t deadline = (g % 2 == 0) ? 2 * N + g : 1 + g;
            ck_assert_int_ge(deadline, last);
            last = deadline;
            leases_disarm_generation(l, FSM_TTL_KV, kbytes_make(d[i].name.data, d[i].name.len), g);
        }
        total += n;
        leases_due_free(d, n);
    }
    ck_assert_uint_eq(total, expect);
    ck_assert_uint_eq(leases_count(l), 0);
    leases_free(l);
}
END_TEST

static Suite *leases_suite(void)
{
    Suite *s = suite_create("leases");
    TCase *tc = tcase_create("leases");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_leases_remaining_counts_down_to_expired);
    tcase_add_test(tc, test_leases_remaining_is_minus_one_without_a_lease);
    tcase_add_test(tc, test_leases_kinds_do_not_share_names);
    tcase_add_test(tc, test_leases_pop_due_hands_out_each_deadline_once_in_order);
    tcase_add_test(tc, test_leases_pop_due_respects_max);
    tcase_add_test(tc, test_leases_rearm_replaces_generation_and_deadline);
    tcase_add_test(tc, test_leases_disarm_removes_the_deadline);
    tcase_add_test(tc, test_leases_disarm_generation_keeps_a_newer_lease);
    tcase_add_test(tc, test_leases_rearm_all_restarts_every_ttl_in_full);
    tcase_add_test(tc, test_leases_binary_names_are_exact);
    tcase_add_test(tc, test_leases_huge_ttl_does_not_overflow);
    tcase_add_test(tc, test_leases_cope_with_a_million_entries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(leases_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
