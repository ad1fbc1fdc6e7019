/* test_fsm_seq.c: unit tests of sequences in the state machine
 * (daemon/fsm/seq.c): next and its count, idempotency keys and their
 * 10-minute window, set (forward, backward with force), delete, overflow,
 * and the reads. One test per rule of SPEC §3 "Sequences" and fsm.h. */
#include <check.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fsm_fixture.h"

#define T0 1700000000000LL            /* the leader's wall clock, ms */
#define WINDOW (10 * 60 * 1000)

typedef struct next_answer {
    int status;
    int64_t value, last, revision;
} next_answer;

static next_answer next(const char *name, int64_t count, const char *ikey, int64_t now)
{
    fsm_result res;
    command c = fx_seq_next(name, count, ikey, now);
    next_answer a;
    a.status = fx_apply(&c, &res);
    a.value = res.value;
    a.last = res.last;
    a.revision = res.revision;
    fsm_result_clear(&res);
    return a;
}

static int apply(command c)
{
    return fx_apply(&c, NULL);
}

static int64_t seq_value(const char *name)
{
    seq_record r;
    ck_assert_int_eq(fsm_seq_get(fx.r, kbytes_str(name), &r), 0);
    int64_t v = r.value;
    seq_record_free(&r);
    return v;
}

static int64_t idem_rows(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM seq_idem", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ----------------------------------------------------------------- next */

START_TEST(test_seq_next_of_a_new_name_starts_at_1)
{
    next_answer a = next("ids", 1, NULL, T0);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(a.value, 1);
    ck_assert_int_eq(a.last, 1);
    ck_assert_int_eq(a.revision, 1);
    ck_assert_int_eq(seq_value("ids"), 1);
}
END_TEST

START_TEST(test_seq_next_hands_out_count_values_without_gaps)
{
    next_answer a = next("ids", 10, NULL, T0);
    ck_assert_int_eq(a.value, 1);
    ck_assert_int_eq(a.last, 10);
    a = next("ids", 1, NULL, T0);
    ck_assert_int_eq(a.value, 11);
    ck_assert_int_eq(a.last, 11);
    a = next("ids", 5, NULL, T0);
    ck_assert_int_eq(a.value, 12);
    ck_assert_int_eq(a.last, 16);
    ck_assert_int_eq(seq_value("ids"), 16);
}
END_TEST

START_TEST(test_seq_next_takes_a_revision_each_time)
{
    ck_assert_int_eq(next("a", 1, NULL, T0).revision, 1);
    ck_assert_int_eq(next("b", 1, NULL, T0).revision, 2);
    ck_assert_int_eq(next("a", 1, NULL, T0).revision, 3);
}
END_TEST

START_TEST(test_seq_next_overflow_is_range_error_and_changes_nothing)
{
    ck_assert_int_eq(apply(fx_seq_set("s", INT64_MAX - 2, 0)), 0);
    int64_t rev = fsm_current_revision(fx.f);
    next_answer a = next("s", 3, NULL, T0);
    ck_assert_int_eq(a.status, KAHUNA_ERANGE);
    ck_assert_int_eq(fsm_current_revision(fx.f), rev);
    ck_assert_int_eq(seq_value("s"), INT64_MAX - 2);
    a = next("s", 2, NULL, T0);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(a.value, INT64_MAX - 1);
    ck_assert_int_eq(a.last, INT64_MAX);
    ck_assert_int_eq(next("s", 1, NULL, T0).status, KAHUNA_ERANGE);
}
END_TEST

/* ---------------------------------------------------------- idempotency */

START_TEST(test_seq_idempotency_key_returns_same_answer)
{
    next_answer a = next("ids", 3, "req-1", T0);
    ck_assert_int_eq(a.status, 0);
    next("ids", 1, NULL, T0 + 1);
    int64_t rev = fsm_current_revision(fx.f);
    next_answer b = next("ids", 3, "req-1", T0 + 1000);
    ck_assert_int_eq(b.status, 0);
    ck_assert_int_eq(b.value, a.value);
    ck_assert_int_eq(b.last, a.last);
    ck_assert_int_eq(b.revision, a.revision);
    ck_assert_int_eq(fsm_current_revision(fx.f), rev);   /* no new revision */
    ck_assert_int_eq(seq_value("ids"), 4);               /* nothing handed out */
}
END_TEST

START_TEST(test_seq_idempotency_key_with_another_count_is_bad_request)
{
    next("ids", 3, "req-1", T0);
    next_answer b = next("ids", 2, "req-1", T0 + 5);
    ck_assert_int_eq(b.status, KAHUNA_EBADREQ);
    ck_assert_int_eq(seq_value("ids"), 3);
}
END_TEST

START_TEST(test_seq_idempotency_window_ends_after_10_minutes)
{
    next_answer a = next("ids", 1, "req-1", T0);
    next_answer b = next("ids", 1, "req-1", T0 + WINDOW - 1);
    ck_assert_int_eq(b.value, a.value);
    next_answer c = next("ids", 1, "req-1", T0 + WINDOW);
    ck_assert_int_eq(c.status, 0);
    ck_assert_int_eq(c.value, a.value + 1);
    /* the new answer starts a new window */
    next_answer d = next("ids", 1, "req-1", T0 + WINDOW + 10);
    ck_assert_int_eq(d.value, c.value);
}
END_TEST

START_TEST(test_seq_idempotency_keys_belong_to_one_sequence)
{
    next_answer a = next("a", 1, "req", T0);
    next_answer b = next("b", 1, "req", T0);
    ck_assert_int_eq(a.value, 1);
    ck_assert_int_eq(b.value, 1);
    ck_assert_int_ne(a.revision, b.revision);
}
END_TEST

START_TEST(test_seq_without_idempotency_key_always_hands_out_new_values)
{
    ck_assert_int_eq(next("ids", 1, "", T0).value, 1);
    ck_assert_int_eq(next("ids", 1, "", T0).value, 2);
    ck_assert_int_eq(idem_rows(), 0);
}
END_TEST

START_TEST(test_seq_idempotency_entries_are_pruned_by_the_commands_clock)
{
    next("a", 1, "r1", T0);
    next("a", 1, "r2", T0 + 1000);
    ck_assert_int_eq(idem_rows(), 2);
    next("b", 1, NULL, T0 + WINDOW);               /* r1 is out of its window */
    ck_assert_int_eq(idem_rows(), 1);
    next("b", 1, NULL, T0 + WINDOW + 1000);
    ck_assert_int_eq(idem_rows(), 0);
    /* pruned, not merely hidden: a clock going back does not revive it */
    next_answer a = next("a", 1, "r1", T0 + 10);
    ck_assert_int_eq(a.value, 3);
}
END_TEST

/* ------------------------------------------------------------------ set */

START_TEST(test_seq_set_of_an_absent_sequence_creates_it)
{
    fsm_result res;
    command c = fx_seq_set("s", 41, 0);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 41);
    ck_assert_int_eq(res.revision, 1);
    fsm_result_clear(&res);
    ck_assert_int_eq(seq_value("s"), 41);
    ck_assert_int_eq(next("s", 1, NULL, T0).value, 42);
}
END_TEST

START_TEST(test_seq_set_forward_then_next_returns_value_plus_1)
{
    next("s", 5, NULL, T0);
    ck_assert_int_eq(apply(fx_seq_set("s", 100, 0)), 0);
    ck_assert_int_eq(next("s", 1, NULL, T0).value, 101);
    ck_assert_int_eq(apply(fx_seq_set("s", 101, 0)), 0);   /* same value: fine */
}
END_TEST

START_TEST(test_seq_set_backwards_needs_force)
{
    next("s", 10, NULL, T0);
    int64_t rev = fsm_current_revision(fx.f);
    fsm_result res;
    command c = fx_seq_set("s", 3, 0);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.value, 10);
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), rev);
    ck_assert_int_eq(seq_value("s"), 10);
    ck_assert_int_eq(apply(fx_seq_set("s", 3, 1)), 0);
    ck_assert_int_eq(seq_value("s"), 3);
    ck_assert_int_eq(next("s", 1, NULL, T0).value, 4);
}
END_TEST

START_TEST(test_seq_set_to_0_restarts_at_1)
{
    next("s", 10, NULL, T0);
    ck_assert_int_eq(apply(fx_seq_set("s", 0, 1)), 0);
    ck_assert_int_eq(next("s", 1, NULL, T0).value, 1);
}
END_TEST

/* --------------------------------------------------------------- delete */

START_TEST(test_seq_delete_of_an_absent_sequence_is_not_found)
{
    ck_assert_int_eq(apply(fx_seq_del("s")), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
}
END_TEST

START_TEST(test_seq_delete_then_next_starts_at_1)
{
    next("s", 10, NULL, T0);
    ck_assert_int_eq(apply(fx_seq_del("s")), 0);
    seq_record r;
    ck_assert_int_eq(fsm_seq_get(fx.r, kbytes_str("s"), &r), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(next("s", 1, NULL, T0).value, 1);
}
END_TEST

START_TEST(test_seq_delete_forgets_its_idempotency_keys)
{
    next("s", 10, "req", T0);
    ck_assert_int_eq(apply(fx_seq_del("s")), 0);
    ck_assert_int_eq(idem_rows(), 0);
    next_answer a = next("s", 10, "req", T0 + 1);
    ck_assert_int_eq(a.value, 1);
    ck_assert_int_gt(a.revision, 2);
}
END_TEST

/* ---------------------------------------------------------------- reads */

START_TEST(test_seq_get_returns_the_last_value_handed_out)
{
    seq_record r;
    ck_assert_int_eq(fsm_seq_get(fx.r, kbytes_str("s"), &r), KAHUNA_ENOTFOUND);
    next("s", 7, NULL, T0);
    ck_assert_int_eq(fsm_seq_get(fx.r, kbytes_str("s"), &r), 0);
    ck_assert_str_eq(FX_STR(r.name), "s");
    ck_assert_int_eq(r.value, 7);
    seq_record_free(&r);
}
END_TEST

START_TEST(test_seq_list_by_prefix_in_order)
{
    next("orders/b", 1, NULL, T0);
    next("orders/a", 2, NULL, T0);
    next("users", 3, NULL, T0);
    seq_list l;
    ck_assert_int_eq(fsm_seq_list(fx.r, kbytes_str("orders/"), kbytes_str(""), 10, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.more, 0);
    ck_assert_str_eq(FX_STR(l.items[0].name), "orders/a");
    ck_assert_int_eq(l.items[0].value, 2);
    ck_assert_str_eq(FX_STR(l.items[1].name), "orders/b");
    seq_list_free(&l);
    ck_assert_int_eq(fsm_seq_list(fx.r, kbytes_str(""), kbytes_str("orders/a"), 1, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.more, 1);
    ck_assert_str_eq(FX_STR(l.items[0].name), "orders/b");
    seq_list_free(&l);
    ck_assert_int_eq(fsm_seq_list(fx.r, kbytes_str(""), kbytes_str(""), 10001, &l), KAHUNA_EBADREQ);
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *seq_suite(void)
{
    Suite *s = suite_create("fsm_seq");
    TCase *tc;

    tc = tcase_create("next");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_seq_next_of_a_new_name_starts_at_1);
    tcase_add_test(tc, test_seq_next_hands_out_count_values_without_gaps);
    tcase_add_test(tc, test_seq_next_takes_a_revision_each_time);
    tcase_add_test(tc, test_seq_next_overflow_is_range_error_and_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("idempotency");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_seq_idempotency_key_returns_same_answer);
    tcase_add_test(tc, test_seq_idempotency_key_with_another_count_is_bad_request);
    tcase_add_test(tc, test_seq_idempotency_window_ends_after_10_minutes);
    tcase_add_test(tc, test_seq_idempotency_keys_belong_to_one_sequence);
    tcase_add_test(tc, test_seq_without_idempotency_key_always_hands_out_new_values);
    tcase_add_test(tc, test_seq_idempotency_entries_are_pruned_by_the_commands_clock);
    suite_add_tcase(s, tc);

    tc = tcase_create("set_delete");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_seq_set_of_an_absent_sequence_creates_it);
    tcase_add_test(tc, test_seq_set_forward_then_next_returns_value_plus_1);
    tcase_add_test(tc, test_seq_set_backwards_needs_force);
    tcase_add_test(tc, test_seq_set_to_0_restarts_at_1);
    tcase_add_test(tc, test_seq_delete_of_an_absent_sequence_is_not_found);
    tcase_add_test(tc, test_seq_delete_then_next_starts_at_1);
    tcase_add_test(tc, test_seq_delete_forgets_its_idempotency_keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("reads");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_seq_get_returns_the_last_value_handed_out);
    tcase_add_test(tc, test_seq_list_by_prefix_in_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seq_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
