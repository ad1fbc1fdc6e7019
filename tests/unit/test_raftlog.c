/* test_raftlog.c: unit tests of daemon/raftlog.c, the Raft log and hard
 * state in raft.db.
 *
 * Each rule of raftlog.h on a fresh file in a temporary directory: appends
 * survive a reopen, a conflicting suffix is replaced in one append, the
 * committed prefix is never overwritten, compaction moves the start point,
 * the file refuses another node id, and damage (a flipped byte in a row) is
 * caught by the per-row checksum. Then the Raft additions: raftlog_write
 * (snapshot point, suffix replacement, entries and hard state in one
 * write; bad indexes change nothing), the snapshot meta, the compaction
 * bound it sets, the cluster id, and the in-place upgrade of a format 1
 * file. */
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

/* ---- Raft additions: raftlog_write, snapshot meta, cluster id ---- */

/* Entries first..last of term with data "e<index>" (the data lives in the
 * struct: free with free_batch). */
typedef struct batch {
    raftlog_entry *e;
    char (*bufs)[32];
    size_t n;
} batch;

static batch make_batch(uint64_t first, uint64_t last, uint64_t term)
{
    batch b;
    b.n = (size_t)(last - first + 1);
    b.e = calloc(b.n, sizeof *b.e);
    b.bufs = calloc(b.n, 32);
    ck_assert_ptr_nonnull(b.e);
    ck_assert_ptr_nonnull(b.bufs);
    for (size_t i = 0; i < b.n; i++) {
        b.e[i].index = first + i;
        b.e[i].term = term;
        b.e[i].type = FSM_ENTRY_COMMAND;
        int k = snprintf(b.bufs[i], 32, "e%llu", (unsigned long long)(first + i));
        b.e[i].data = (uint8_t *)b.bufs[i];
        b.e[i].len = (size_t)k;
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->e);
    free(b->bufs);
}

static const uint8_t config_bytes[] = {1, 2, 3, 0, 0xff, 'n', '1', '=', 'u'};

static raftlog_snapshot snap_at(uint64_t index, uint64_t term)
{
    raftlog_snapshot s = {index, term, (uint8_t *)config_bytes, sizeof config_bytes};
    return s;
}

/* The log's bounds, and the term at first_index - 1. */
static void expect_bounds(raftlog *l, uint64_t first, uint64_t last, uint64_t last_term,
                          uint64_t term_before_first)
{
    ck_assert_uint_eq(raftlog_first_index(l), first);
    ck_assert_uint_eq(raftlog_last_index(l), last);
    ck_assert_uint_eq(raftlog_last_term(l), last_term);
    uint64_t t = 99;
    ck_assert_int_eq(raftlog_term(l, first - 1, &t), 0);
    ck_assert_uint_eq(t, term_before_first);
}

static void expect_snapshot(raftlog *l, uint64_t index, uint64_t term)
{
    raftlog_snapshot s;
    ck_assert_int_eq(raftlog_load_snapshot(l, &s), 0);
    ck_assert_uint_eq(s.index, index);
    ck_assert_uint_eq(s.term, term);
    if (index == 0) {
        ck_assert_ptr_null(s.config);
        ck_assert_uint_eq(s.config_len, 0);
    } else {
        ck_assert_uint_eq(s.config_len, sizeof config_bytes);
        ck_assert_mem_eq(s.config, config_bytes, sizeof config_bytes);
    }
    raftlog_snapshot_free(&s);
    ck_assert_ptr_null(s.config);
}

static void reopen(raftlog **l)
{
    raftlog_close(*l);
    *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", l), 0);
}

START_TEST(test_raftlog_new_file_has_no_snapshot_and_no_cluster_id)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    expect_snapshot(l, 0, 0);
    ck_assert_uint_eq(raftlog_cluster_id(l), 0);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_snapshot_on_empty_log_starts_the_log_after_it)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_snapshot s = snap_at(50, 4);
    ck_assert_int_eq(raftlog_write(l, &s, NULL, 0, NULL), 0);
    expect_bounds(l, 51, 50, 4, 4);
    expect_snapshot(l, 50, 4);
    uint64_t t;
    ck_assert_int_eq(raftlog_term(l, 49, &t), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(raftlog_term(l, 51, &t), KAHUNA_ENOTFOUND);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 51, 60, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 0);
    reopen(&l);
    expect_bounds(l, 51, 50, 4, 4);
    expect_snapshot(l, 50, 4);
    /* the log goes on after the snapshot point */
    append_range(l, 51, 52, 5);
    reopen(&l);
    expect_bounds(l, 51, 52, 5, 4);
    expect_entry(l, 51, 5, "e51");
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_snapshot_on_full_log_deletes_every_entry)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 11, 20, 2);
    ck_assert_int_eq(raftlog_compact(l, 5), 0);
    /* a snapshot inside the log: the entries after it go too */
    raftlog_snapshot s = snap_at(15, 2);
    ck_assert_int_eq(raftlog_write(l, &s, NULL, 0, NULL), 0);
    expect_bounds(l, 16, 15, 2, 2);
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 16, 20, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 0);
    reopen(&l);
    expect_bounds(l, 16, 15, 2, 2);
    expect_snapshot(l, 15, 2);
    /* a snapshot past the log's end (a follower far behind) */
    append_range(l, 16, 18, 3);
    s = snap_at(100, 7);
    ck_assert_int_eq(raftlog_write(l, &s, NULL, 0, NULL), 0);
    expect_bounds(l, 101, 100, 7, 7);
    reopen(&l);
    expect_bounds(l, 101, 100, 7, 7);
    expect_snapshot(l, 100, 7);
    uint64_t t;
    ck_assert_int_eq(raftlog_term(l, 16, &t), KAHUNA_ECOMPACTED);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM entries", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_snapshot_entries_and_hardstate_in_one_write)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    raftlog_snapshot s = snap_at(30, 3);
    batch b = make_batch(31, 33, 3);
    raftlog_hardstate hs = {.term = 3, .commit = 30};
    snprintf(hs.vote, sizeof hs.vote, "n2");
    ck_assert_int_eq(raftlog_write(l, &s, b.e, b.n, &hs), 0);
    free_batch(&b);
    expect_bounds(l, 31, 33, 3, 3);
    reopen(&l);
    expect_bounds(l, 31, 33, 3, 3);
    expect_snapshot(l, 30, 3);
    expect_entry(l, 31, 3, "e31");
    expect_entry(l, 33, 3, "e33");
    raftlog_hardstate got;
    ck_assert_int_eq(raftlog_load_hardstate(l, &got), 0);
    ck_assert_uint_eq(got.term, 3);
    ck_assert_str_eq(got.vote, "n2");
    ck_assert_uint_eq(got.commit, 30);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_replaces_a_suffix_and_appends_in_one_write)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    batch b = make_batch(1, 10, 1);
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, NULL), 0);
    free_batch(&b);
    expect_bounds(l, 1, 10, 1, 0);
    /* 6..10 of term 1 become 6..12 of term 2 */
    b = make_batch(6, 12, 2);
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, NULL), 0);
    free_batch(&b);
    expect_bounds(l, 1, 12, 2, 0);
    expect_entry(l, 5, 1, "e5");
    expect_entry(l, 6, 2, "e6");
    /* a shorter replacement drops the rest of the old suffix */
    b = make_batch(8, 8, 3);
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, NULL), 0);
    free_batch(&b);
    expect_bounds(l, 1, 8, 3, 0);
    reopen(&l);
    expect_bounds(l, 1, 8, 3, 0);
    expect_entry(l, 7, 2, "e7");
    expect_entry(l, 8, 3, "e8");
    raftlog_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(raftlog_entries(l, 1, 100, SIZE_MAX, &e, &n), 0);
    ck_assert_uint_eq(n, 8);
    raftlog_entries_free(e, n);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_saves_hardstate_with_entries)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    batch b = make_batch(1, 5, 2);
    raftlog_hardstate hs = {.term = 2, .commit = 3};
    snprintf(hs.vote, sizeof hs.vote, "n1");
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, &hs), 0);
    free_batch(&b);
    /* a hard state alone */
    hs.commit = 5;
    ck_assert_int_eq(raftlog_write(l, NULL, NULL, 0, &hs), 0);
    reopen(&l);
    expect_bounds(l, 1, 5, 2, 0);
    raftlog_hardstate got;
    ck_assert_int_eq(raftlog_load_hardstate(l, &got), 0);
    ck_assert_uint_eq(got.term, 2);
    ck_assert_str_eq(got.vote, "n1");
    ck_assert_uint_eq(got.commit, 5);
    /* nothing at all: nothing happens */
    ck_assert_int_eq(raftlog_write(l, NULL, NULL, 0, NULL), 0);
    expect_bounds(l, 1, 5, 2, 0);
    raftlog_close(l);
}
END_TEST

/* The whole visible state of l, to compare before and after a refused write. */
typedef struct log_view {
    uint64_t first, last, last_term, snap_index, snap_term, commit, term;
    size_t n;
} log_view;

static log_view view(raftlog *l)
{
    log_view v;
    memset(&v, 0, sizeof v);
    v.first = raftlog_first_index(l);
    v.last = raftlog_last_index(l);
    v.last_term = raftlog_last_term(l);
    raftlog_snapshot s;
    ck_assert_int_eq(raftlog_load_snapshot(l, &s), 0);
    v.snap_index = s.index;
    v.snap_term = s.term;
    raftlog_snapshot_free(&s);
    raftlog_hardstate hs;
    ck_assert_int_eq(raftlog_load_hardstate(l, &hs), 0);
    v.commit = hs.commit;
    v.term = hs.term;
    raftlog_entry *e = NULL;
    ck_assert_int_eq(raftlog_entries(l, v.first, v.last, SIZE_MAX, &e, &v.n), 0);
    for (size_t i = 0; i < v.n; i++)
        ck_assert_uint_eq(e[i].term, i + v.first <= 12 ? 1 : 2);
    raftlog_entries_free(e, v.n);
    return v;
}

static void expect_same(log_view a, log_view b)
{
    ck_assert_uint_eq(a.first, b.first);
    ck_assert_uint_eq(a.last, b.last);
    ck_assert_uint_eq(a.last_term, b.last_term);
    ck_assert_uint_eq(a.snap_index, b.snap_index);
    ck_assert_uint_eq(a.snap_term, b.snap_term);
    ck_assert_uint_eq(a.commit, b.commit);
    ck_assert_uint_eq(a.term, b.term);
    ck_assert_uint_eq(a.n, b.n);
}

START_TEST(test_raftlog_write_with_bad_indexes_changes_nothing)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 12, 1);
    append_range(l, 13, 20, 2);
    ck_assert_int_eq(raftlog_compact(l, 4), 0);
    raftlog_snapshot s = snap_at(8, 1);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    raftlog_hardstate hs = {.term = 2, .commit = 10};
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    log_view before = view(l);
    raftlog_hardstate hs2 = {.term = 9, .commit = 20};

    batch gap = make_batch(22, 23, 2);                     /* after last + 1 */
    ck_assert_int_eq(raftlog_write(l, NULL, gap.e, gap.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&gap);
    batch holes = make_batch(21, 23, 2);                   /* not consecutive */
    holes.e[2].index = 24;
    ck_assert_int_eq(raftlog_write(l, NULL, holes.e, holes.n, &hs2), KAHUNA_EBADREQ);
    holes.e[2].index = 23;                                 /* terms going down */
    holes.e[2].term = 1;
    ck_assert_int_eq(raftlog_write(l, NULL, holes.e, holes.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&holes);
    batch committed = make_batch(10, 11, 3);               /* over the commit index */
    ck_assert_int_eq(raftlog_write(l, NULL, committed.e, committed.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&committed);
    hs.commit = 0;                                         /* below the snapshot ... */
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    before = view(l);
    batch in_snap = make_batch(8, 9, 3);
    ck_assert_int_eq(raftlog_write(l, NULL, in_snap.e, in_snap.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&in_snap);
    batch compacted = make_batch(3, 4, 3);                 /* ... and the compaction point */
    ck_assert_int_eq(raftlog_write(l, NULL, compacted.e, compacted.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&compacted);
    raftlog_snapshot zero = snap_at(0, 1);                 /* a snapshot at index 0 */
    ck_assert_int_eq(raftlog_write(l, &zero, NULL, 0, &hs2), KAHUNA_EBADREQ);
    raftlog_snapshot later = snap_at(40, 5);               /* entries not right after it */
    batch after = make_batch(42, 42, 5);
    ck_assert_int_eq(raftlog_write(l, &later, after.e, after.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&after);
    batch older = make_batch(41, 41, 4);                   /* of a term below the snapshot's */
    ck_assert_int_eq(raftlog_write(l, &later, older.e, older.n, &hs2), KAHUNA_EBADREQ);
    free_batch(&older);
    raftlog_hardstate novote = {.term = 9};                /* a vote without its NUL */
    memset(novote.vote, 'x', sizeof novote.vote);
    batch ok = make_batch(21, 21, 2);
    ck_assert_int_eq(raftlog_write(l, NULL, ok.e, ok.n, &novote), KAHUNA_EBADREQ);
    free_batch(&ok);

    expect_same(before, view(l));
    reopen(&l);
    expect_same(before, view(l));
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_write_after_a_snapshot_replaces_its_own_suffix)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_snapshot s = snap_at(10, 2);
    ck_assert_int_eq(raftlog_write(l, &s, NULL, 0, NULL), 0);
    batch b = make_batch(11, 15, 2);
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, NULL), 0);
    free_batch(&b);
    b = make_batch(11, 12, 3);
    ck_assert_int_eq(raftlog_write(l, NULL, b.e, b.n, NULL), 0);
    free_batch(&b);
    expect_bounds(l, 11, 12, 3, 2);
    reopen(&l);
    expect_bounds(l, 11, 12, 3, 2);
    expect_entry(l, 11, 3, "e11");
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_saved_snapshot_survives_reopen_and_keeps_the_entries)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 11, 20, 2);
    raftlog_snapshot s = snap_at(15, 2);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    expect_bounds(l, 1, 20, 2, 0);
    expect_snapshot(l, 15, 2);
    reopen(&l);
    expect_bounds(l, 1, 20, 2, 0);
    expect_snapshot(l, 15, 2);
    expect_entry(l, 1, 1, "e1");
    /* a newer one replaces it; the same one again is fine */
    s = snap_at(18, 2);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    reopen(&l);
    expect_snapshot(l, 18, 2);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_save_snapshot_refuses_a_point_outside_the_log)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 10, 1);
    append_range(l, 11, 20, 2);
    ck_assert_int_eq(raftlog_compact(l, 5), 0);
    raftlog_snapshot s = snap_at(21, 2);                   /* past the last entry */
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), KAHUNA_EBADREQ);
    s = snap_at(4, 1);                                     /* below the compaction point */
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), KAHUNA_EBADREQ);
    s = snap_at(12, 1);                                    /* not the entry's term */
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), KAHUNA_EBADREQ);
    s = snap_at(0, 0);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), KAHUNA_EBADREQ);
    expect_snapshot(l, 0, 0);
    s = snap_at(5, 1);                                     /* at the compaction point */
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    s = snap_at(12, 2);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    s = snap_at(11, 2);                                    /* older than the stored one */
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), KAHUNA_EBADREQ);
    reopen(&l);
    expect_snapshot(l, 12, 2);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_compact_never_passes_the_stored_snapshot)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 20, 1);
    raftlog_snapshot s = snap_at(12, 1);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    ck_assert_int_eq(raftlog_compact(l, 13), KAHUNA_EBADREQ);
    expect_bounds(l, 1, 20, 1, 0);
    ck_assert_int_eq(raftlog_compact(l, 10), 0);
    expect_bounds(l, 11, 20, 1, 1);
    ck_assert_int_eq(raftlog_compact(l, 12), 0);
    expect_bounds(l, 13, 20, 1, 1);
    reopen(&l);
    expect_bounds(l, 13, 20, 1, 1);
    ck_assert_int_eq(raftlog_compact(l, 20), KAHUNA_EBADREQ);
    expect_snapshot(l, 12, 1);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_cluster_id_is_set_once_and_survives_reopen)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 0), KAHUNA_EBADREQ);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 0xfedcba9876543210ULL), 0);
    ck_assert_uint_eq(raftlog_cluster_id(l), 0xfedcba9876543210ULL);
    reopen(&l);
    ck_assert_uint_eq(raftlog_cluster_id(l), 0xfedcba9876543210ULL);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 0xfedcba9876543210ULL), 0);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 7), KAHUNA_EMISMATCH);
    reopen(&l);
    ck_assert_uint_eq(raftlog_cluster_id(l), 0xfedcba9876543210ULL);
    raftlog_close(l);
}
END_TEST

/* The format of raft.db as the meta row says. */
static int file_format(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT format FROM meta", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int f = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return f;
}

START_TEST(test_raftlog_format_1_file_is_upgraded_in_place)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 20, 1);
    ck_assert_int_eq(raftlog_compact(l, 5), 0);
    raftlog_hardstate hs = {.term = 1, .commit = 20};
    snprintf(hs.vote, sizeof hs.vote, "n1");
    ck_assert_int_eq(raftlog_save_hardstate(l, &hs), 0);
    raftlog_close(l);
    /* what the single-node build wrote: no snapshot or cluster table */
    tamper("DROP TABLE snapshot; DROP TABLE cluster; UPDATE meta SET format = 1");
    ck_assert_int_eq(file_format(), 1);
    /* another node's open must not upgrade it */
    ck_assert_int_eq(raftlog_open(path, "n2", &l), KAHUNA_EMISMATCH);
    ck_assert_int_eq(file_format(), 1);
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    ck_assert_int_eq(file_format(), 2);
    expect_bounds(l, 6, 20, 1, 1);
    expect_snapshot(l, 0, 0);
    ck_assert_uint_eq(raftlog_cluster_id(l), 0);
    raftlog_hardstate got;
    ck_assert_int_eq(raftlog_load_hardstate(l, &got), 0);
    ck_assert_uint_eq(got.commit, 20);
    expect_entry(l, 6, 1, "e6");
    raftlog_snapshot s = snap_at(20, 1);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 42), 0);
    reopen(&l);
    expect_snapshot(l, 20, 1);
    ck_assert_uint_eq(raftlog_cluster_id(l), 42);
    raftlog_close(l);
}
END_TEST

START_TEST(test_raftlog_unknown_newer_format_is_refused)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_close(l);
    tamper("UPDATE meta SET format = 3");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
}
END_TEST

START_TEST(test_raftlog_damaged_snapshot_meta_or_cluster_id_fails_open)
{
    raftlog *l = NULL;
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    append_range(l, 1, 5, 1);
    raftlog_snapshot s = snap_at(3, 1);
    ck_assert_int_eq(raftlog_save_snapshot(l, &s), 0);
    ck_assert_int_eq(raftlog_set_cluster_id(l, 42), 0);
    raftlog_close(l);
    tamper("UPDATE snapshot SET term = 2");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
    tamper("UPDATE snapshot SET term = 1; UPDATE cluster SET cluster_id = 43");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), KAHUNA_EIO);
    tamper("UPDATE cluster SET cluster_id = 42");
    ck_assert_int_eq(raftlog_open(path, "n1", &l), 0);
    raftlog_close(l);
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
    tcase_add_test(tc, test_raftlog_new_file_has_no_snapshot_and_no_cluster_id);
    tcase_add_test(tc, test_raftlog_write_snapshot_on_empty_log_starts_the_log_after_it);
    tcase_add_test(tc, test_raftlog_write_snapshot_on_full_log_deletes_every_entry);
    tcase_add_test(tc, test_raftlog_write_snapshot_entries_and_hardstate_in_one_write);
    tcase_add_test(tc, test_raftlog_write_replaces_a_suffix_and_appends_in_one_write);
    tcase_add_test(tc, test_raftlog_write_saves_hardstate_with_entries);
    tcase_add_test(tc, test_raftlog_write_with_bad_indexes_changes_nothing);
    tcase_add_test(tc, test_raftlog_write_after_a_snapshot_replaces_its_own_suffix);
    tcase_add_test(tc, test_raftlog_saved_snapshot_survives_reopen_and_keeps_the_entries);
    tcase_add_test(tc, test_raftlog_save_snapshot_refuses_a_point_outside_the_log);
    tcase_add_test(tc, test_raftlog_compact_never_passes_the_stored_snapshot);
    tcase_add_test(tc, test_raftlog_cluster_id_is_set_once_and_survives_reopen);
    tcase_add_test(tc, test_raftlog_format_1_file_is_upgraded_in_place);
    tcase_add_test(tc, test_raftlog_unknown_newer_format_is_refused);
    tcase_add_test(tc, test_raftlog_damaged_snapshot_meta_or_cluster_id_fails_open);
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
