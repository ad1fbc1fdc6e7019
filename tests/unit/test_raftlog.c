/* test_raftlog.c: unit tests of daemon/raftlog.c, the Raft log and hard
 * state in raft.db.
 *
 * Each rule of raftlog.h on a fresh file in a temporary directory: appends
 * survive a reopen, a conflicting suffix is replaced in one append, the
 * committed prefix is never overwritten, compaction moves the start point,
 * the file refuses another node id, and damage (a flipped byte in a row) is
 * caught by the per-row checksum. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "fsm/fsm.h"
#include "raftlog.h"

static char dir[256];
static char path[300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kahuna-test-raftlog.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/raft.db", dir);
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Appends entries first..last of term, data "e<index>". */
static void append_range(raftlog *l, uint64_t first, uint64_t last, uint64_t term)
{
    size_t n = (size_t)(last - first + 1);
    raftlog_entry *e = calloc(n, sizeof *e);
    char (*bufs)[32] = calloc(n, 32);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(bufs);
    for (size_t i = 0; i < n; i++) {
        e[i].index = first + i;
        e[i].term = term;
        e[i].type = FSM_ENTRY_COMMAND;
        int k = snprintf(bufs[i], 32, "e%llu", (unsigned long long)(first + i));
        e[i].data = (uint8_t *)bufs[i];
        e[i].len = (size_t)k;
    }
    ck_assert_int_eq(raftlog_append(l, e, n), 0);
    free(e);
    free(bufs);
}

static void expect_entry(raftlog *l, uint64_t index, uint64_t term, const char *data)
{
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, index, index, 1 << 20, &e, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(e[0].index, index);
    ck_assert_uint_eq(e[0].term, term);
    ck_assert_uint_eq(e[0].len, strlen(data));
    ck_assert_mem_eq(e[0].data, data, e[0].len);
    raftlog_entries_free(e, n);
}

START_TEST(test_raftlog_new_file_is_empty)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_uint_eq(raftlog_first_index(l), 1);
    ck_assert_uint_eq(raftlog_last_index(l), 0);
    ck_assert_uint_eq(raftlog_last_term(l), 0);
    uint64_t t = 99;
    ck_assert_int_eq(raftlog_term(l, 0, &t), 0);
    ck_assert_uint_eq(t, 0);
    raftlog_hardstate hs;
    ck_assert_int_eq(raftlog_load_hardstate(l, &hs), 0);
    ck_assert_uint_eq(hs.term, 0);
    ck_assert_str_eq(hs.vote, "");
    ck_assert_uint_eq(hs.commit, 0);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_runs_wal_with_synchronous_full)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 1, 1);
    raftlog_close(l);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_raftlog_appended_entries_survive_reopen)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 11, 20, 2);
    ck_assert_uint_eq(raftlog_last_index(l), 20);
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_uint_eq(raftlog_first_index(l), 1);
    ck_assert_uint_eq(raftlog_last_index(l), 20);
    ck_assert_uint_eq(raftlog_last_term(l), 2);
    uint64_t t;
    ck_assert_int_eq(raftlog_term(l, 10, &t), 0);
    ck_assert_uint_eq(t, 1);
    ck_assert_int_eq(raftlog_term(l, 11, &t), 0);
    ck_assert_uint_eq(t, 2);
    expect_entry(l, 1, 1, "e1");
    expect_entry(l, 20, 2, "e20");
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_entries_reads_a_range_in_order)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 100, 1);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 5, 50, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 46);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(e[i].index, 5 + i);
    raftlog_entries_free(e, n);
    /* hi past the end is clamped */
    ck_assert_int_eq(raftlog_entries(l, 99, 1000, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 2);
    raftlog_entries_free(e, n);
    /* lo past the end: nothing */
    ck_assert_int_eq(raftlog_entries(l, 101, 200, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 0);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_entries_stops_at_max_bytes_but_returns_one)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 100, 1); /* "e1".."e9" are 2 bytes, then 3 */
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 1, 100, 1, &e, &n), 0);
    ck_assert_uint_eq(n, 1);
    raftlog_entries_free(e, n);
    ck_assert_int_eq(raftlog_entries(l, 1, 100, 10, &e, &n), 0);
    ck_assert_uint_eq(n, 5);
    raftlog_entries_free(e, n);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_append_replaces_a_conflicting_suffix)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 6, 7, 2); /* replaces 6..10 with 6..7 of term 2 */
    ck_assert_uint_eq(raftlog_last_index(l), 7);
    ck_assert_uint_eq(raftlog_last_term(l), 2);
    expect_entry(l, 5, 1, "e5");
    expect_entry(l, 6, 2, "e6");
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_uint_eq(raftlog_last_index(l), 7);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 1, 10, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 7);
    raftlog_entries_free(e, n);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_append_refuses_gaps)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 3, 1);
    raftlog_entry e = {5, 1, FSM_ENTRY_COMMAND, (uint8_t *)"x", 1};
    ck_assert_int_eq(raftlog_append(l, &e, 1), KAHUNA_EIO);
    raftlog_entry two[2] = {{4, 1, FSM_ENTRY_COMMAND, (uint8_t *)"x", 1},
                            {6, 1, FSM_ENTRY_COMMAND, (uint8_t *)"y", 1}};
    ck_assert_int_eq(raftlog_append(l, two, 2), KAHUNA_EIO);
    ck_assert_uint_eq(raftlog_last_index(l), 3);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_never_overwrites_committed_entries)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    raftlog_hardstate hs = {.term = 1, .commit = 8};
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    raftlog_entry e = {8, 2, FSM_ENTRY_COMMAND, (uint8_t *)"x", 1};
    ck_assert_int_eq(raftlog_append(l, &e, 1), KAHUNA_EIO);
    expect_entry(l, 8, 1, "e8");
    e.index = 9;
    ck_assert_int_eq(raftlog_append(l, &e, 1), 0);
    ck_assert_uint_eq(raftlog_last_index(l), 9);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_hardstate_survives_reopen)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_hardstate hs = {.term = 7, .commit = 0};
    snprintf(hs.vote, sizeof hs.vote, "n3");
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_hardstate got;
    ck_assert_int_eq(raftlog_load_hardstate(l, &got), 0);
    ck_assert_uint_eq(got.term, 7);
    ck_assert_str_eq(got.vote, "n3");
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_refuses_another_node_id)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n2", &l), KAHUNA_EMISMATCH);
    ck_assert_ptr_null(l);
    char *owner = NULL;
    ck_assert_int_eq(raftlog_read_node_id(path, &owner), 0);
    ck_assert_str_eq(owner, "n1");
    free(owner);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_compact_drops_the_prefix_and_keeps_its_term)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 11, 20, 3);
    ck_assert_int_eq(raftlog_compact(l, 12), 0);
    ck_assert_uint_eq(raftlog_first_index(l), 13);
    uint64_t t;
    ck_assert_int_eq(raftlog_term(l, 12, &t), 0);
    ck_assert_uint_eq(t, 3);
    ck_assert_int_eq(raftlog_term(l, 11, &t), KAHUNA_ECOMPACTED);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 12, 20, SIZE_MAX, &e, &n), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(raftlog_compact(l, 5), 0); /* already done: nothing */
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_uint_eq(raftlog_first_index(l), 13);
    ck_assert_uint_eq(raftlog_last_index(l), 20);
    ck_assert_int_eq(raftlog_term(l, 12, &t), 0);
    ck_assert_uint_eq(t, 3);
    /* compacting everything leaves an empty log that continues after it */
    ck_assert_int_eq(raftlog_compact(l, 20), 0);
    ck_assert_uint_eq(raftlog_first_index(l), 21);
    ck_assert_uint_eq(raftlog_last_index(l), 20);
    ck_assert_uint_eq(raftlog_last_term(l), 3);
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_uint_eq(raftlog_last_index(l), 20);
    ck_assert_uint_eq(raftlog_last_term(l), 3);
    append_range(l, 21, 21, 4);
    ck_assert_uint_eq(raftlog_last_index(l), 21);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_compact_past_the_end_is_refused)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 3, 1);
    ck_assert_int_eq(raftlog_compact(l, 4), KAHUNA_EIO);
    ck_assert_uint_eq(raftlog_first_index(l), 1);
    raftlog_close(l);
}
END_TEST

/* Runs sql directly on raft.db (simulating damage under SQLite). */
static void tamper(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

START_TEST(test_raftlog_rows_carry_a_crc32_of_index_term_type_and_data)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 1, 1);
    raftlog_close(l);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT crc FROM entries WHERE idx = 1", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    /* zlib.crc32(struct.pack('<QQB', 1, 1, 1) + b'e1') */
    ck_assert_int_eq(sqlite3_column_int64(s, 0), 2230477592LL);
    sqlite3_finalize(s);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_raftlog_damaged_entry_fails_its_checksum)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 5, 1);
    raftlog_close(l);
    tamper("UPDATE entries SET data = X'6532' WHERE idx = 3"); /* "e2" instead of "e3" */
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 1, 5, SIZE_MAX, &e, &n), KAHUNA_EIO);
    ck_assert_int_eq(raftlog_entries(l, 1, 2, SIZE_MAX, &e, &n), 0);
    raftlog_entries_free(e, n);
    uint64_t t;
    ck_assert_int_eq(raftlog_term(l, 3, &t), KAHUNA_EIO);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_damaged_last_entry_fails_open)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 5, 1);
    raftlog_close(l);
    tamper("UPDATE entries SET term = 9 WHERE idx = 5");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
}
END_TEST

START_TEST(test_raftlog_damaged_hardstate_fails_open)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_hardstate hs = {.term = 3};
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    raftlog_close(l);
    tamper("UPDATE meta SET term = 2");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
}
END_TEST

START_TEST(test_raftlog_gap_in_the_file_fails_open)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 5, 1);
    raftlog_close(l);
    tamper("DELETE FROM entries WHERE idx = 3");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
}
END_TEST

START_TEST(test_raftlog_binary_and_empty_data_round_trip)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    uint8_t bin[300];
    for (int i = 0; i < 300; i++)
        bin[i] = (uint8_t)i;
    raftlog_entry e[2] = {{1, 1, FSM_ENTRY_NOOP, NULL, 0}, {2, 1, FSM_ENTRY_COMMAND, bin, sizeof bin}};
    ck_assert_int_eq(raftlog_append(l, e, 2), 0);
    raftlog_close(l);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_entry *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 1, 2, SIZE_MAX, &got, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(got[0].type, FSM_ENTRY_NOOP);
    ck_assert_uint_eq(got[0].len, 0);
    ck_assert_uint_eq(got[1].len, sizeof bin);
    ck_assert_mem_eq(got[1].data, bin, sizeof bin);
    raftlog_entries_free(got, n);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_unwritable_location_is_eio)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open("/nonexistent-dir/raft.db", "n1", &l), KAHUNA_EIO);
    ck_assert_ptr_null(l);
}
END_TEST

static Suite *raftlog_suite(void)
{
    Suite *s = suite_create("raftlog");
    TCase *tc = tcase_create("raftlog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_raftlog_new_file_is_empty);
    tcase_add_test(tc, test_raftlog_runs_wal_with_synchronous_full);
    tcase_add_test(tc, test_raftlog_appended_entries_survive_reopen);
    tcase_add_test(tc, test_raftlog_entries_reads_a_range_in_order);
    tcase_add_test(tc, test_raftlog_entries_stops_at_max_bytes_but_returns_one);
    tcase_add_test(tc, test_raftlog_append_replaces_a_conflicting_suffix);
    tcase_add_test(tc, test_raftlog_append_refuses_gaps);
    tcase_add_test(tc, test_raftlog_never_overwrites_committed_entries);
    tcase_add_test(tc, test_raftlog_hardstate_survives_reopen);
    tcase_add_test(tc, test_raftlog_refuses_another_node_id);
    tcase_add_test(tc, test_raftlog_compact_drops_the_prefix_and_keeps_its_term);
    tcase_add_test(tc, test_raftlog_compact_past_the_end_is_refused);
    tcase_add_test(tc, test_raftlog_rows_carry_a_crc32_of_index_term_type_and_data);
    tcase_add_test(tc, test_raftlog_damaged_entry_fails_its_checksum);
    tcase_add_test(tc, test_raftlog_damaged_last_entry_fails_open);
    tcase_add_test(tc, test_raftlog_damaged_hardstate_fails_open);
    tcase_add_test(tc, test_raftlog_gap_in_the_file_fails_open);
    tcase_add_test(tc, test_raftlog_binary_and_empty_data_round_trip);
    tcase_add_test(tc, test_raftlog_unwritable_location_is_eio);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(raftlog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
