/* test_raft_wgl.c: the simulator's linearizability checker
 * (tests/sim/wgl.c) on small register histories whose answer is known, so
 * that a "linearizable" from raftsim means something. */
#include <check.h>
#include <stdlib.h>

#include "wgl.h"

#define W(v, c, r) {WGL_WRITE, v, c, r}
#define R(v, c, r) {WGL_READ, v, c, r}

static int lin(const wgl_op *ops, size_t n)
{
    size_t bad;
    return wgl_check(ops, n, 0, 1000000, &bad);
}

START_TEST(test_raft_wgl_sequential_history_is_linearizable)
{
    wgl_op h[] = {W(1, 0, 10), R(1, 20, 30), W(2, 40, 50), R(2, 60, 70)};
    ck_assert_int_eq(lin(h, 4), 1);
    ck_assert_int_eq(lin(h, 0), 1);
}
END_TEST

START_TEST(test_raft_wgl_stale_read_after_a_completed_write_is_not)
{
    wgl_op h[] = {W(1, 0, 10), R(0, 20, 30)};
    ck_assert_int_eq(lin(h, 2), 0);
    wgl_op h2[] = {W(1, 0, 10), W(2, 20, 30), R(1, 40, 50)};
    ck_assert_int_eq(lin(h2, 3), 0);
}
END_TEST

START_TEST(test_raft_wgl_concurrent_operations_may_take_either_order)
{
    wgl_op h[] = {W(1, 0, 10), R(0, 5, 15), R(1, 6, 16)};
    ck_assert_int_eq(lin(h, 3), 1);
    wgl_op touching[] = {W(1, 0, 10), R(0, 10, 20)};   /* closed intervals */
    ck_assert_int_eq(lin(touching, 2), 1);
}
END_TEST

START_TEST(test_raft_wgl_reads_cannot_go_back_in_time)
{
    /* both writes concurrent with both reads, but once 2 was read after 1,
     * a later read cannot return 1 again */
    wgl_op h[] = {W(1, 0, 100), W(2, 0, 100), R(1, 10, 20), R(2, 30, 40), R(1, 50, 60)};
    ck_assert_int_eq(lin(h, 5), 0);
    wgl_op ok[] = {W(1, 0, 100), W(2, 0, 100), R(1, 10, 20), R(2, 30, 40), R(2, 50, 60)};
    ck_assert_int_eq(lin(ok, 5), 1);
}
END_TEST

START_TEST(test_raft_wgl_unknown_write_may_apply_late_or_never)
{
    wgl_op late[] = {W(2, 0, WGL_NEVER), R(0, 10, 20), R(2, 50, 60)};
    ck_assert_int_eq(lin(late, 3), 1);
    wgl_op never[] = {W(2, 0, WGL_NEVER), R(0, 10, 20), R(0, 50, 60)};
    ck_assert_int_eq(lin(never, 3), 1);
    wgl_op flip[] = {W(2, 0, WGL_NEVER), R(2, 10, 20), R(0, 50, 60)};
    ck_assert_int_eq(lin(flip, 3), 0);
    wgl_op before[] = {R(2, 0, 5), W(2, 10, WGL_NEVER)};   /* not before its call */
    ck_assert_int_eq(lin(before, 2), 0);
}
END_TEST

START_TEST(test_raft_wgl_many_concurrent_writes_are_searched_quickly)
{
    wgl_op h[40];
    size_t n = 0;
    for (uint64_t v = 1; v <= 12; v++)
        h[n++] = (wgl_op)W(v, 0, 1000);
    h[n++] = (wgl_op)R(7, 1100, 1200);
    h[n++] = (wgl_op)R(7, 1300, 1400);
    ck_assert_int_eq(lin(h, n), 1);
    h[n++] = (wgl_op)R(99, 1500, 1600);
    ck_assert_int_eq(lin(h, n), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_wgl");
    TCase *tc = tcase_create("wgl");
    tcase_add_test(tc, test_raft_wgl_sequential_history_is_linearizable);
    tcase_add_test(tc, test_raft_wgl_stale_read_after_a_completed_write_is_not);
    tcase_add_test(tc, test_raft_wgl_concurrent_operations_may_take_either_order);
    tcase_add_test(tc, test_raft_wgl_reads_cannot_go_back_in_time);
    tcase_add_test(tc, test_raft_wgl_unknown_write_may_apply_late_or_never);
    tcase_add_test(tc, test_raft_wgl_many_concurrent_writes_are_searched_quickly);
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
