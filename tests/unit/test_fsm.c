/* test_fsm.c: unit tests of the state machine's apply machinery
 * (daemon/fsm/fsm.c): the store-wide revision, entry types, batches and
 * their transaction, replay after restart, determinism, the TTL scan,
 * checkpoints and the durable index, readers, and failure handling. The
 * rules of each data type are in test_fsm_kv.c, test_fsm_locks.c and
 * test_fsm_seq.c. */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "fsm_fixture.h"

static fsm_entry raw_entry(uint64_t index, uint8_t type, const void *data, size_t len)
{
    fsm_entry e = {index, 1, type, data, len};
    return e;
}

/* Runs SQL on the state database through a connection of its own. */
static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        ck_abort_msg("%s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

/* ------------------------------------------------ a deterministic workload */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* n entries of mixed commands on a few keys, locks and sequences, with
 * noop/config entries and an undecodable one here and there. */
static fsm_entry *workload(uint64_t seed, size_t n)
{
    static const char *keys[] = {"k0", "k1", "k2", "dir/k3", "dir/k4"};
    static const char *owners[] = {"w0", "w1", "w2"};
    static const char *ikeys[] = {"", "i0", "i1"};
    fsm_entry *es = calloc(n, sizeof *es);
    ck_assert_ptr_nonnull(es);
    uint64_t s = seed;
    int64_t now = 1700000000000LL;
    char val[32];
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&s);
        const char *key = keys[r % 5];
        const char *owner = owners[(r >> 8) % 3];
        int64_t small = (int64_t)((r >> 16) % 8);
        int64_t recent = (int64_t)i > small ? (int64_t)i - small : 1;  /* a revision near now */
        now += (int64_t)((r >> 24) % 120000);
        snprintf(val, sizeof val, "v%zu", i);
        command c;
        switch ((r >> 32) % 16) {
        case 0: case 1: case 2: c = fx_put(key, val); break;
        case 3: c = fx_put_ttl(key, val, 1000 + small); c.flags = CMD_F_IF_NOT_EXISTS; break;
        case 4: c = fx_put(key, val); c.flags = CMD_F_IF_REVISION; c.if_revision = recent; break;
        case 5: c = fx_del(key); break;
        case 6: c = fx_set_ttl(key, small * 100); break;
        case 7: c = fx_kv_expire(key, recent); break;
        case 8: c = fx_acquire(key, owner, 500 + small); break;
        case 9: c = fx_extend(key, owner, 700); break;
        case 10: c = fx_release(key, owner); break;
        case 11: c = fx_lock_expire(key, recent); break;
        case 12: c = fx_seq_next(key, 1 + small, ikeys[small % 3], now); break;
        case 13: c = fx_seq_set(key, small * 3, (int)(small & 1)); break;
        case 14: c = fx_seq_del(key); break;
        default:
            es[i] = raw_entry(i + 1, (r >> 40) % 2 ? FSM_ENTRY_NOOP : FSM_ENTRY_CONFIG, NULL, 0);
            if ((r >> 41) % 4 == 0) {          /* garbage in a COMMAND entry */
                uint8_t *g = malloc(3);
                ck_assert_ptr_nonnull(g);
                memcpy(g, "\x01\x01\x09", 3);
                es[i] = raw_entry(i + 1, FSM_ENTRY_COMMAND, g, 3);
            }
            continue;
        }
        es[i] = fx_entry(i + 1, &c);
    }
    return es;
}

static void workload_free(fsm_entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fx_entry_free(&es[i]);
    free(es);
}

/* Applies es[0..n) in batches of 1..max entries (sizes from seed). */
static void apply_in_batches(fsm *f, const fsm_entry *es, size_t n, size_t max, uint64_t seed,
                             fsm_result *results)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n;) {
        size_t k = 1 + (size_t)(rng_next(&s) % max);
        if (k > n - i)
            k = n - i;
        ck_assert_int_eq(fsm_apply_batch(f, es + i, k, results ? results + i : NULL), 0);
        i += k;
    }
}

/* Everything a client can see, serialized: every table of the state
 * database in key order (through SQL, so that nothing is missed). */
static void dump(const char *path, kbuf *out)
{
    static const char *queries[] = {
        "SELECT applied_index, applied_term, revision, kv_count FROM meta",
        "SELECT * FROM kv ORDER BY key",
        "SELECT * FROM kv_history ORDER BY key, revision",
        "SELECT * FROM kv_compacted ORDER BY key",
        "SELECT * FROM locks ORDER BY name",
        "SELECT * FROM seqs ORDER BY name",
        "SELECT * FROM seq_idem ORDER BY name, ikey",
    };
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        sqlite3_stmt *st = NULL;
        ck_assert_int_eq(sqlite3_prepare_v2(db, queries[q], -1, &st, NULL), SQLITE_OK);
        ck_assert_int_eq(kbuf_printf(out, "#%zu\n", q), 0);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                int t = sqlite3_column_type(st, c);
                const void *p = sqlite3_column_blob(st, c);
                int len = sqlite3_column_bytes(st, c);
                ck_assert_int_eq(kbuf_printf(out, "%d:%d:", t, len), 0);
                ck_assert_int_eq(kbuf_append(out, p ? p : "", (size_t)len), 0);
                ck_assert_int_eq(kbuf_append_byte(out, '|'), 0);
            }
            ck_assert_int_eq(kbuf_append_byte(out, '\n'), 0);
        }
        ck_assert_int_eq(rc, SQLITE_DONE);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The bookkeeping of history agrees with the history itself. */
static void assert_history_bookkeeping(const char *path, int keep)
{
    ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM kv WHERE hist_count !="
                                   " (SELECT count(*) FROM kv_history h WHERE h.key = kv.key)"), 0);
    ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM kv WHERE pruned !="
                                   " EXISTS (SELECT 1 FROM kv_compacted c WHERE c.key = kv.key)"), 0);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT key FROM kv_history"
             " GROUP BY key HAVING count(*) > %d)", keep);
    ck_assert_int_eq(sql_int(path, sql), 0);
    ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM kv"),
                     sql_int(path, "SELECT kv_count FROM meta"));
}

static void assert_same_state(const char *path_a, const char *path_b)
{
    kbuf a = KBUF_INIT, b = KBUF_INIT;
    dump(path_a, &a);
    dump(path_b, &b);
    ck_assert_uint_gt(a.len, 100);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert(memcmp(a.data, b.data, a.len) == 0);
    kbuf_free(&a);
    kbuf_free(&b);
}

static void assert_same_results(const fsm_result *a, const fsm_result *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(a[i].status, b[i].status);
        ck_assert_int_eq(a[i].revision, b[i].revision);
        ck_assert_int_eq(a[i].version, b[i].version);
        ck_assert_int_eq(a[i].create_revision, b[i].create_revision);
        ck_assert_int_eq(a[i].token, b[i].token);
        ck_assert_int_eq(a[i].ttl_ms, b[i].ttl_ms);
        ck_assert_int_eq(a[i].value, b[i].value);
        ck_assert_int_eq(a[i].last, b[i].last);
        ck_assert_str_eq(a[i].owner ? a[i].owner : "-", b[i].owner ? b[i].owner : "-");
    }
}

static void results_clear(fsm_result *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fsm_result_clear(&rs[i]);
}

/* ------------------------------------------------------------- revisions */

START_TEST(test_apply_revision_is_one_counter_for_the_whole_store)
{
    fsm_result res;
    command c = fx_put("k", "v");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 1);
    fsm_result_clear(&res);
    c = fx_acquire("l", "w", 1000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 2);
    fsm_result_clear(&res);
    c = fx_seq_next("s", 1, NULL, 0);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 3);
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), 3);
}
END_TEST

START_TEST(test_apply_failures_and_noops_take_no_revision)
{
    fx_put_rev("k", "v");
    command cs[] = {
        fx_del("nope"), fx_set_ttl("nope", 1), fx_kv_expire("k", 99),
        fx_extend("l", "w", 10), fx_release("l", "w"), fx_lock_expire("l", 1),
        fx_seq_del("s"),
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        ck_assert_int_ne(fx_apply(&cs[i], NULL), 0);
    command noop;
    memset(&noop, 0, sizeof noop);
    ck_assert_int_eq(fx_apply(&noop, NULL), 0);
    ck_assert_int_eq(fsm_current_revision(fx.f), 1);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 9);
}
END_TEST

/* --------------------------------------------------------- entry types */

START_TEST(test_apply_noop_and_config_entries_only_advance_the_applied_index)
{
    fsm_entry es[2] = {raw_entry(1, FSM_ENTRY_NOOP, NULL, 0),
                       raw_entry(2, FSM_ENTRY_CONFIG, "cfg", 3)};
    fsm_result rs[2];
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 2, rs), 0);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 2);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
    ck_assert_int_eq(rs[0].status, 0);
    ck_assert_int_eq(rs[1].status, 0);
    ck_assert_int_eq(fx.nevents, 0);
}
END_TEST

START_TEST(test_apply_undecodable_command_is_bad_request_and_apply_goes_on)
{
    command c = fx_put("k", "v");
    fsm_entry es[3] = {raw_entry(1, FSM_ENTRY_COMMAND, "\x07garbage", 8),
                       fx_entry(2, &c),
                       raw_entry(3, FSM_ENTRY_COMMAND, NULL, 0)};
    fsm_result rs[3];
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 3, rs), 0);
    ck_assert_int_eq(rs[0].status, KAHUNA_EBADREQ);
    ck_assert_int_eq(rs[1].status, 0);
    ck_assert_int_eq(rs[1].revision, 1);
    ck_assert_int_eq(rs[2].status, KAHUNA_EBADREQ);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 3);
    ck_assert_int_eq(fsm_current_revision(fx.f), 1);
    fx_entry_free(&es[1]);
    results_clear(rs, 3);
}
END_TEST

START_TEST(test_apply_skips_entries_at_or_below_the_applied_index)
{
    command c1 = fx_put("k", "first"), c2 = fx_put("k", "second");
    fsm_entry es[2] = {fx_entry(1, &c1), fx_entry(2, &c2)};
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 1, NULL), 0);
    fsm_result rs[2];
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 2, rs), 0);   /* 1 again, then 2 */
    ck_assert_int_eq(rs[0].revision, 0);                      /* skipped */
    ck_assert_int_eq(rs[1].revision, 2);
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 2, NULL), 0);  /* both again */
    ck_assert_int_eq(fsm_current_revision(fx.f), 2);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 2);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_int_eq(r.version, 2);
    kv_record_free(&r);
    fx_entry_free(&es[0]);
    fx_entry_free(&es[1]);
    results_clear(rs, 2);
}
END_TEST

START_TEST(test_apply_refuses_a_gap_in_the_log)
{
    command c = fx_put("k", "v");
    fsm_entry e = fx_entry(2, &c);
    ck_assert_int_eq(fsm_apply_batch(fx.f, &e, 1, NULL), KAHUNA_EIO);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 0);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), KAHUNA_ENOTFOUND);
    fx_entry_free(&e);
}
END_TEST

START_TEST(test_apply_empty_batch_changes_nothing)
{
    ck_assert_int_eq(fsm_apply_batch(fx.f, NULL, 0, NULL), 0);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 0);
}
END_TEST

/* -------------------------------------------------------------- batches */

START_TEST(test_apply_batch_gives_one_result_per_entry)
{
    command cs[4] = {fx_put("a", "1"), fx_acquire("l", "w1", 100), fx_acquire("l", "w2", 100),
                     fx_seq_next("s", 2, NULL, 0)};
    fsm_entry es[4];
    for (int i = 0; i < 4; i++)
        es[i] = fx_entry((uint64_t)i + 1, &cs[i]);
    fsm_result rs[4];
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 4, rs), 0);
    ck_assert_int_eq(rs[0].revision, 1);
    ck_assert_int_eq(rs[1].token, 2);
    ck_assert_int_eq(rs[2].status, KAHUNA_ELOCKHELD);
    ck_assert_str_eq(rs[2].owner, "w1");
    ck_assert_int_eq(rs[3].value, 1);
    ck_assert_int_eq(rs[3].last, 2);
    ck_assert_int_eq(rs[3].revision, 3);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 4);
    for (int i = 0; i < 4; i++)
        fx_entry_free(&es[i]);
    results_clear(rs, 4);
}
END_TEST

START_TEST(test_apply_sqlite_error_rolls_back_the_whole_batch)
{
    fx_put_rev("before", "x");
    /* make the database refuse one key, as a failing disk would */
    sql_exec(fx.path, "CREATE TRIGGER boom BEFORE INSERT ON kv WHEN NEW.key = CAST('boom' AS BLOB)"
                      " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    command cs[3] = {fx_put("a", "1"), fx_acquire("l", "w", 100), fx_put("boom", "2")};
    fsm_entry es[3];
    for (int i = 0; i < 3; i++)
        es[i] = fx_entry((uint64_t)i + 2, &cs[i]);
    fsm_result rs[3];
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 3, rs), KAHUNA_EIO);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 1);
    ck_assert_int_eq(fsm_current_revision(fx.f), 1);
    ck_assert_ptr_null(rs[1].owner);                          /* results cleared */
    kv_record r;
    ck_assert_int_eq(fx_get("a", 0, &r), KAHUNA_ENOTFOUND);
    lock_record lr;
    ck_assert_int_eq(fsm_lock_get(fx.r, kbytes_str("l"), &lr), KAHUNA_ENOTFOUND);
    int64_t rev = -1, keys = -1;
    ck_assert_int_eq(fsm_reader_stats(fx.r, &rev, &keys), 0);
    ck_assert_int_eq(rev, 1);
    ck_assert_int_eq(keys, 1);
    /* once the disk is fine again, the same batch applies as if nothing happened */
    sql_exec(fx.path, "DROP TRIGGER boom");
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, 3, rs), 0);
    ck_assert_int_eq(rs[0].revision, 2);
    ck_assert_int_eq(rs[1].token, 3);
    ck_assert_int_eq(rs[2].revision, 4);
    ck_assert_uint_eq(fsm_applied_index(fx.f), 4);
    for (int i = 0; i < 3; i++)
        fx_entry_free(&es[i]);
    results_clear(rs, 3);
}
END_TEST

/* ---------------------------------------------------- restart and replay */

START_TEST(test_apply_restart_resumes_after_the_last_batch)
{
    fx_put_rev("a", "1");
    command c = fx_acquire("l", "w", 100);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fx_reopen();
    ck_assert_uint_eq(fsm_applied_index(fx.f), 2);
    ck_assert_int_eq(fsm_current_revision(fx.f), 2);
    ck_assert_int_eq(fx_put_rev("b", "2"), 3);
    kv_record r;
    ck_assert_int_eq(fx_get("a", 0, &r), 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_apply_replay_is_idempotent)
{
    const size_t n = 600;
    fsm_entry *es = workload(42, n);
    fsm_result *first = calloc(n, sizeof *first);
    ck_assert_ptr_nonnull(first);
    apply_in_batches(fx.f, es, 400, 16, 7, first);
    /* restart, and the node replays its whole log from the start */
    fx_reopen();
    apply_in_batches(fx.f, es, n, 32, 8, NULL);
    ck_assert_uint_eq(fsm_applied_index(fx.f), n);

    char dir[256], path[300];
    fx_mkdtemp(dir);
    snprintf(path, sizeof path, "%s/state.db", dir);
    fsm *g = NULL;
    ck_assert_int_eq(fsm_open(path, NULL, &g), 0);
    fsm_result *once = calloc(n, sizeof *once);
    ck_assert_ptr_nonnull(once);
    apply_in_batches(g, es, n, 64, 9, once);
    ck_assert_int_eq(fsm_current_revision(g), fsm_current_revision(fx.f));
    fsm_close(g);
    assert_same_state(fx.path, path);
    assert_same_results(first, once, 400);
    results_clear(first, n);
    results_clear(once, n);
    free(first);
    free(once);
    workload_free(es, n);
    fx_rmdir(dir);
}
END_TEST

START_TEST(test_apply_is_deterministic)
{
    const size_t n = 3000;
    fsm_entry *es = workload(1234567, n);
    char dir[2][256], path[2][300];
    fsm_result *rs[2];
    for (int k = 0; k < 2; k++) {
        fx_mkdtemp(dir[k]);
        snprintf(path[k], sizeof path[k], "%s/state.db", dir[k]);
        fsm *f = NULL;
        ck_assert_int_eq(fsm_open(path[k], NULL, &f), 0);
        rs[k] = calloc(n, sizeof *rs[k]);
        ck_assert_ptr_nonnull(rs[k]);
        /* different batch sizes on each node: the state must not care */
        apply_in_batches(f, es, n, k ? 100 : 3, 100 + (uint64_t)k, rs[k]);
        fsm_close(f);
    }
    assert_same_state(path[0], path[1]);
    assert_same_results(rs[0], rs[1], n);
    assert_history_bookkeeping(path[0], 16);
    ck_assert_int_gt(sql_int(path[0], "SELECT count(*) FROM kv_compacted"), 0);
    /* the workload went through every outcome, not just the happy path */
    static const int outcomes[] = {0, KAHUNA_ECONDITION, KAHUNA_ENOTFOUND, KAHUNA_ELOCKHELD,
                                   KAHUNA_ENOTOWNER, KAHUNA_EBADREQ};
    for (size_t o = 0; o < sizeof outcomes / sizeof outcomes[0]; o++) {
        size_t seen = 0;
        for (size_t i = 0; i < n; i++)
            seen += rs[0][i].status == outcomes[o];
        ck_assert_msg(seen >= 10, "outcome %d seen %zu times", outcomes[o], seen);
    }

    /* and the reads agree too */
    fsm_reader *r[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(fsm_reader_open(path[k], &r[k]), 0);
    kv_list l[2];
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(fsm_kv_list(r[k], kbytes_str(""), kbytes_str(""), 100, 0, &l[k]), 0);
    ck_assert_uint_eq(l[0].n, l[1].n);
    for (size_t i = 0; i < l[0].n; i++) {
        ck_assert_str_eq(FX_STR(l[0].items[i].key), FX_STR(l[1].items[i].key));
        ck_assert_str_eq(FX_STR(l[0].items[i].value), FX_STR(l[1].items[i].value));
        ck_assert_int_eq(l[0].items[i].revision, l[1].items[i].revision);
    }
    for (int k = 0; k < 2; k++) {
        kv_list_free(&l[k]);
        fsm_reader_close(r[k]);
        results_clear(rs[k], n);
        free(rs[k]);
        fx_rmdir(dir[k]);
    }
    workload_free(es, n);
}
END_TEST

/* Runs of writes of one key (the hot key of kv.c, whose history rows wait
 * in memory until the run ends), cut by deletes, TTL changes, conditional
 * puts, expiries, other keys and values too big to be remembered: whatever
 * the batches, the state and the results are those of one entry per
 * batch, and every key keeps exactly its newest versions. */
static fsm_entry *hot_workload(uint64_t seed, size_t n)
{
    static const char *keys[] = {"hot", "k1", "hot2"};
    fsm_entry *es = calloc(n, sizeof *es);
    ck_assert_ptr_nonnull(es);
    uint64_t s = seed;
    size_t big_n = 70 * 1024;
    char *big = malloc(big_n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'b', big_n);
    big[big_n] = '\0';
    const char *key = keys[0];
    char val[32], fresh[32];
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&s);
        if (r % 40 == 0) {                      /* the run moves to another key */
            if ((r >> 8) % 2) {
                key = keys[(r >> 9) % 3];
            } else {                            /* a new one: its history grows */
                snprintf(fresh, sizeof fresh, "new%zu", i);
                key = fresh;
            }
        }
        int64_t recent = (int64_t)i > 3 ? (int64_t)i - (int64_t)((r >> 16) % 4) : 1;
        char prev[32];
        snprintf(val, sizeof val, "%zu", i);    /* numbers, for INCR */
        snprintf(prev, sizeof prev, "%zu", i ? i - 1 : 0);
        command c;
        switch ((r >> 32) % 64) {
        case 8: c = fx_put(key, val); c.flags = CMD_F_IF_VALUE; c.aux = kbytes_str(prev); break;
        case 9: c = fx_put(key, ""); c.type = CMD_KV_INCR; c.num = 5; c.value = kbytes_make(NULL, 0); break;
        case 10: c = fx_put(key, "x"); c.type = CMD_KV_APPEND; break;
        case 11:
            c = fx_put(key, "");
            if ((r >> 50) % 8 == 0) {
                c.type = CMD_KV_FLUSH;
                c.key = kbytes_make(NULL, 0);
            }
            break;
        case 0: c = fx_del(key); break;
        case 1: c = fx_set_ttl(key, 1000); break;
        case 2: c = fx_put(key, val); c.flags = CMD_F_IF_NOT_EXISTS; break;
        case 3: c = fx_put(key, val); c.flags = CMD_F_IF_REVISION; c.if_revision = recent; break;
        case 4: c = fx_kv_expire(key, recent); break;
        case 5: c = fx_put(key, big); break;
        case 6: c = fx_put_ttl(key, val, 5000); break;
        case 7: c = fx_put(keys[1], val); break;
        default: c = fx_put(key, val); break;
        }
        es[i] = fx_entry(i + 1, &c);
    }
    free(big);
    return es;
}

START_TEST(test_apply_of_a_hot_key_is_the_same_in_any_batches)
{
    const size_t n = 3000;
    fsm_entry *es = hot_workload(987654321, n);
    static const int keeps[] = {16, 3, 1};
    for (size_t q = 0; q < sizeof keeps / sizeof keeps[0]; q++) {
        char dir[2][256], path[2][300];
        fsm *f[2];
        fsm_result *rs[2];
        for (int k = 0; k < 2; k++) {
            fx_mkdtemp(dir[k]);
            snprintf(path[k], sizeof path[k], "%s/state.db", dir[k]);
            fsm_options o = {keeps[q]};
            ck_assert_int_eq(fsm_open(path[k], &o, &f[k]), 0);
            rs[k] = calloc(n, sizeof *rs[k]);
            ck_assert_ptr_nonnull(rs[k]);
        }
        /* node 0 one entry per batch, node 1 in batches of up to 300;
         * compared after each of node 1's batches (a lost history row
         * would be pruned away by later writes) */
        uint64_t seed = 7 + q;
        for (size_t i = 0; i < n;) {
            size_t k = 1 + (size_t)(rng_next(&seed) % 300);
            if (k > n - i)
                k = n - i;
            ck_assert_int_eq(fsm_apply_batch(f[1], es + i, k, rs[1] + i), 0);
            for (size_t j = i; j < i + k; j++)
                ck_assert_int_eq(fsm_apply_batch(f[0], es + j, 1, rs[0] + j), 0);
            i += k;
            assert_same_state(path[0], path[1]);
            assert_history_bookkeeping(path[1], keeps[q]);
        }
        assert_same_results(rs[0], rs[1], n);
        for (int k = 0; k < 2; k++) {
            fsm_close(f[k]);
            results_clear(rs[k], n);
            free(rs[k]);
            fx_rmdir(dir[k]);
        }
    }
    workload_free(es, n);
}
END_TEST

/* ------------------------------------------------------------ TTL scan */

START_TEST(test_foreach_ttl_arms_every_key_and_lock_with_a_ttl)
{
    command cs[] = {fx_put_ttl("a", "1", 1000), fx_put("b", "2"), fx_put_ttl("c", "3", 3000),
                    fx_acquire("l1", "w", 500), fx_acquire("l2", "w", 700)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        ck_assert_int_eq(fx_apply(&cs[i], NULL), 0);
    command patch = fx_set_ttl("a", 2000);
    ck_assert_int_eq(fx_apply(&patch, NULL), 0);
    fx.nevents = 0;
    ck_assert_int_eq(fsm_foreach_ttl(fx.f, fx_hook, NULL), 0);
    ck_assert_int_eq(fx.nevents, 4);
    ck_assert_int_eq(fx.events[0].kind, FSM_TTL_KV);
    ck_assert_str_eq(fx.events[0].name, "a");
    ck_assert_int_eq(fx.events[0].op, FSM_TTL_ARM);
    ck_assert_int_eq(fx.events[0].generation, 6);            /* the key's revision */
    ck_assert_int_eq(fx.events[0].ttl_ms, 2000);
    ck_assert_str_eq(fx.events[1].name, "c");
    ck_assert_int_eq(fx.events[1].generation, 3);
    ck_assert_int_eq(fx.events[2].kind, FSM_TTL_LOCK);
    ck_assert_str_eq(fx.events[2].name, "l1");
    ck_assert_int_eq(fx.events[2].generation, 4);            /* the token */
    ck_assert_int_eq(fx.events[2].ttl_ms, 500);
    ck_assert_str_eq(fx.events[3].name, "l2");
    ck_assert_int_eq(fx.events[3].ttl_ms, 700);
}
END_TEST

START_TEST(test_foreach_ttl_after_restart_sees_the_same_ttls)
{
    command c = fx_put_ttl("a", "1", 1000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fx_reopen();
    fx.nevents = 0;
    ck_assert_int_eq(fsm_foreach_ttl(fx.f, fx_hook, NULL), 0);
    ck_assert_int_eq(fx.nevents, 1);
    ck_assert_int_eq(fx.events[0].ttl_ms, 1000);
}
END_TEST

/* ---------------------------------------------------------- checkpoints */

START_TEST(test_checkpoint_makes_the_applied_index_durable)
{
    ck_assert_uint_eq(fsm_durable_index(fx.f), 0);
    fx_put_rev("a", "1");
    fx_put_rev("b", "2");
    ck_assert_uint_eq(fsm_durable_index(fx.f), 0);
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 2);
    fx_put_rev("c", "3");
    ck_assert_uint_eq(fsm_durable_index(fx.f), 2);
}
END_TEST

START_TEST(test_checkpoint_held_back_by_a_reader_keeps_the_durable_index)
{
    fx_put_rev("a", "1");
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 1);
    /* a reader in the middle of a read pins the WAL it started on */
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM kv;", NULL, NULL, NULL), SQLITE_OK);
    fx_put_rev("b", "2");
    fx_put_rev("c", "3");
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 1);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 3);
}
END_TEST

START_TEST(test_open_makes_what_is_on_disk_durable)
{
    fx_put_rev("a", "1");
    fx_reopen();
    ck_assert_uint_eq(fsm_durable_index(fx.f), 1);
}
END_TEST

START_TEST(test_state_db_uses_wal_mode)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

/* ------------------------------------------------ the checkpoint thread */

/* Polls cond every ms for up to 10 s. */
#define WAIT_UNTIL(cond)                                                    \
    do {                                                                    \
        int64_t wait_end_ = clock_mono_ms() + 10000;                        \
        while (!(cond) && clock_mono_ms() < wait_end_) {                    \
            struct timespec ts_ = {0, 1000000L};                            \
            nanosleep(&ts_, NULL);                                          \
        }                                                                   \
        ck_assert_msg((cond), "timed out waiting for: %s", #cond);          \
    } while (0)

static uint64_t ckpt_rounds(void)
{
    fsm_checkpoint_stats st;
    fsm_checkpoint_stats_get(fx.f, &st);
    return st.rounds;
}

static int64_t wal_size(void)
{
    char p[320];
    snprintf(p, sizeof p, "%s-wal", fx.path);
    struct stat st;
    return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The applied index that state.db's database file holds by itself (what a
 * checkpoint copied there), read from a copy of the file without its WAL.
 * Only checkpoints write that file, so stop the thread first. */
static uint64_t applied_in_db_file(void)
{
    char copy[320];
    snprintf(copy, sizeof copy, "%s/copy.db", fx.dir);
    FILE *in = fopen(fx.path, "rb"), *out = fopen(copy, "wb");
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(copy, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT applied_index FROM meta", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    uint64_t applied = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (const char *sfx = ""; sfx; sfx = *sfx ? (sfx[1] == 'w' ? "-shm" : NULL) : "-wal") {
        char p[330];
        snprintf(p, sizeof p, "%s%s", copy, sfx);
        unlink(p);
    }
    return applied;
}

/* Applies one batch of n fresh keys with values of vlen bytes. */
static void put_batch(int n, size_t vlen)
{
    static char value[4096];
    memset(value, 'v', sizeof value - 1);
    value[vlen < sizeof value ? vlen : sizeof value - 1] = '\0';
    fsm_entry es[64];
    char keys[64][32];
    ck_assert_int_le(n, 64);
    uint64_t next = fsm_applied_index(fx.f) + 1;
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d-%llu", i, (unsigned long long)next);
        command c = fx_put(keys[i], value);
        es[i] = fx_entry(next + (uint64_t)i, &c);
    }
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, (size_t)n, NULL), 0);
    for (int i = 0; i < n; i++)
        fx_entry_free(&es[i]);
}

START_TEST(test_checkpoint_thread_makes_the_applied_index_durable)
{
    fx_put_rev("a", "1");
    fx_put_rev("b", "2");
    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 10, 0), 0);
    WAIT_UNTIL(fsm_durable_index(fx.f) == 2);
    fx_put_rev("c", "3");
    WAIT_UNTIL(fsm_durable_index(fx.f) == 3);
    /* a checkpoint on the writer while the thread runs is harmless */
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    fsm_checkpointer_stop(fx.f);
    fsm_checkpointer_stop(fx.f);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 3);
}
END_TEST

START_TEST(test_checkpoint_thread_held_back_by_a_reader_keeps_the_durable_index)
{
    fx_put_rev("a", "1");
    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 10, 0), 0);
    WAIT_UNTIL(fsm_durable_index(fx.f) == 1);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM kv;", NULL, NULL, NULL), SQLITE_OK);
    fx_put_rev("b", "2");
    fx_put_rev("c", "3");
    uint64_t r0 = ckpt_rounds();
    WAIT_UNTIL(ckpt_rounds() >= r0 + 3);
    ck_assert_uint_eq(fsm_durable_index(fx.f), 1);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    WAIT_UNTIL(fsm_durable_index(fx.f) == 3);
}
END_TEST

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t get_varint(const unsigned char *p, uint64_t *v)
{
    *v = 0;
    for (size_t i = 0; i < 8; i++) {
        *v = *v << 7 | (p[i] & 0x7f);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    *v = *v << 8 | p[8];
    return 9;
}

/* Reads meta.applied_index from the database file's own page (root page
 * 2: meta is the first table of the schema) while checkpoints may write
 * the file: a page read twice alike is taken as whole. 0 when the file
 * does not hold the page yet. */
static uint64_t applied_in_db_page(void)
{
    static unsigned char a[65536], b[65536];
    FILE *fp = fopen(fx.path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fread(a, 1, 100, fp), 100);
    size_t psz = (size_t)get_be(a + 16, 2);
    if (psz == 1)
        psz = 65536;
    size_t got = 0;
    for (int tries = 0;; tries++) {
        ck_assert_int_lt(tries, 1000);
        ck_assert_int_eq(fseek(fp, (long)psz, SEEK_SET), 0);
        got = fread(a, 1, psz, fp);
        ck_assert_int_eq(fseek(fp, (long)psz, SEEK_SET), 0);
        if (fread(b, 1, psz, fp) == got && memcmp(a, b, got) == 0)
            break;
    }
    fclose(fp);
    if (got < psz)
        return 0;
    ck_assert_uint_eq(a[0], 0x0d);                     /* a table leaf */
    ck_assert_uint_eq(get_be(a + 3, 2), 1);            /* one row */
    const unsigned char *cell = a + get_be(a + 8, 2);
    uint64_t len, rowid, hdr, t_id, t_applied;
    cell += get_varint(cell, &len);
    cell += get_varint(cell, &rowid);
    const unsigned char *rec = cell;
    size_t h = get_varint(rec, &hdr);
    h += get_varint(rec + h, &t_id);
    get_varint(rec + h, &t_applied);
    ck_assert_uint_eq(t_id, 0);                        /* id is the rowid */
    static const int size[] = {0, 1, 2, 3, 4, 6, 8};
    ck_assert(t_applied <= 6 || t_applied == 8 || t_applied == 9);
    if (t_applied >= 8)
        return t_applied - 8;
    return get_be(rec + hdr, size[t_applied]);         /* applied_index >= 0 */
}

static atomic_int writer_done;

static void *busy_writer(void *arg)
{
    (void)arg;
    for (int b = 0; b < 300; b++)
        put_batch(64, 100 + (size_t)(b % 7) * 100);
    atomic_store(&writer_done, 1);
    return NULL;
}

/* The rule at the top of fsm.c: the durable index never passes what a
 * checkpoint copied into the database file, also while the writer commits
 * during checkpoints (and the WAL is reset under it). */
START_TEST(test_durable_index_never_passes_what_a_checkpoint_covered)
{
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = 'meta'",
                                        -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);

    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 1, 256 * 1024), 0);
    pthread_t w;
    atomic_store(&writer_done, 0);
    ck_assert_int_eq(pthread_create(&w, NULL, busy_writer, NULL), 0);
    uint64_t last = 0, checks = 0;
    while (!atomic_load(&writer_done)) {
        uint64_t durable = fsm_durable_index(fx.f);   /* first the index, then the file */
        uint64_t in_file = applied_in_db_page();
        ck_assert_msg(in_file >= durable, "durable index %llu, database file at %llu",
                      (unsigned long long)durable, (unsigned long long)in_file);
        ck_assert_uint_ge(durable, last);
        last = durable;
        checks++;
    }
    ck_assert_int_eq(pthread_join(w, NULL), 0);
    ck_assert_uint_gt(checks, 0);
    ck_assert_uint_le(fsm_durable_index(fx.f), fsm_applied_index(fx.f));
    /* the whole file, once it holds still */
    fsm_checkpointer_stop(fx.f);
    ck_assert_uint_ge(applied_in_db_file(), fsm_durable_index(fx.f));
    /* and a plain checkpoint on the writer */
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), fsm_applied_index(fx.f));
    ck_assert_uint_eq(applied_in_db_file(), fsm_applied_index(fx.f));
    ck_assert_uint_eq(applied_in_db_page(), fsm_applied_index(fx.f));
}
END_TEST

START_TEST(test_checkpoint_thread_resets_a_wal_past_the_restart_size)
{
    const int64_t restart = 1024 * 1024;
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 1000, restart), 0);
    /* 64 fresh keys of 500-byte values: some 500 kB of WAL per batch
     * (two b-tree leaves a key), 100 MB in all */
    for (int b = 0; b < 200; b++)
        put_batch(64, 500);
    fsm_checkpoint_stats st;
    fsm_checkpoint_stats_get(fx.f, &st);
    fsm_checkpointer_stop(fx.f);
    ck_assert_uint_gt(st.restarts, 0);
    /* the WAL file was used over and over: without resets it would hold
     * all of the 100 MB */
    ck_assert_int_lt(wal_size(), 40 * restart);
}
END_TEST

START_TEST(test_checkpoint_thread_truncates_the_wal_when_the_writer_is_idle)
{
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 5, 0), 0);
    for (int b = 0; b < 20; b++)
        put_batch(64, 500);
    ck_assert_int_gt(wal_size(), 0);
    WAIT_UNTIL(wal_size() == 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), fsm_applied_index(fx.f));
    /* and the writer goes on after it */
    put_batch(3, 10);
    WAIT_UNTIL(fsm_durable_index(fx.f) == fsm_applied_index(fx.f));
}
END_TEST

/* -------------------------------------------------------------- readers */

START_TEST(test_reader_stats_report_revision_and_key_count)
{
    int64_t rev = -1, keys = -1;
    ck_assert_int_eq(fsm_reader_stats(fx.r, &rev, &keys), 0);
    ck_assert_int_eq(rev, 0);
    ck_assert_int_eq(keys, 0);
    fx_put_rev("a", "1");
    fx_put_rev("b", "1");
    fx_put_rev("a", "2");
    command c = fx_del("b");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_acquire("l", "w", 10);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fsm_reader_stats(fx.r, &rev, &keys), 0);
    ck_assert_int_eq(rev, 5);
    ck_assert_int_eq(keys, 1);
}
END_TEST

START_TEST(test_reader_sees_each_batch_once_committed)
{
    fsm_reader *other = NULL;
    ck_assert_int_eq(fsm_reader_open(fx.path, &other), 0);
    kv_record r;
    ck_assert_int_eq(fsm_kv_get(other, kbytes_str("k"), 0, &r), KAHUNA_ENOTFOUND);
    fx_put_rev("k", "v");
    ck_assert_int_eq(fsm_kv_get(other, kbytes_str("k"), 0, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "v");
    kv_record_free(&r);
    fsm_reader_close(other);
}
END_TEST

START_TEST(test_reader_cannot_write)
{
    /* the reader's connection is read-only: its own SQL could not change state */
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_ne(sqlite3_exec(db, "DELETE FROM kv", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_reader_of_a_missing_database_fails)
{
    char path[400];
    snprintf(path, sizeof path, "%s/none.db", fx.dir);
    fsm_reader *r = NULL;
    ck_assert_int_ne(fsm_reader_open(path, &r), 0);
    ck_assert_ptr_null(r);
}
END_TEST

/* -------------------------------------------------------------- opening */

START_TEST(test_open_rejects_a_negative_history_keep)
{
    char path[400];
    snprintf(path, sizeof path, "%s/other.db", fx.dir);
    fsm_options o = {-1};
    fsm *f = NULL;
    ck_assert_int_eq(fsm_open(path, &o, &f), KAHUNA_EBADREQ);
    ck_assert_ptr_null(f);
}
END_TEST

START_TEST(test_open_refuses_a_database_of_an_unknown_format)
{
    fsm_reader_close(fx.r);
    fsm_close(fx.f);
    fx.r = NULL;
    fx.f = NULL;
    sql_exec(fx.path, "PRAGMA user_version = 99");
    fsm *f = NULL;
    ck_assert_int_eq(fsm_open(fx.path, NULL, &f), KAHUNA_EMISMATCH);
    ck_assert_ptr_null(f);
}
END_TEST

START_TEST(test_open_of_an_unwritable_path_fails)
{
    fsm *f = NULL;
    ck_assert_int_ne(fsm_open("/nonexistent-dir/kahuna/state.db", NULL, &f), 0);
    ck_assert_ptr_null(f);
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *fsm_suite(void)
{
    Suite *s = suite_create("fsm");
    TCase *tc;

    tc = tcase_create("apply");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_apply_revision_is_one_counter_for_the_whole_store);
    tcase_add_test(tc, test_apply_failures_and_noops_take_no_revision);
    tcase_add_test(tc, test_apply_noop_and_config_entries_only_advance_the_applied_index);
    tcase_add_test(tc, test_apply_undecodable_command_is_bad_request_and_apply_goes_on);
    tcase_add_test(tc, test_apply_skips_entries_at_or_below_the_applied_index);
    tcase_add_test(tc, test_apply_refuses_a_gap_in_the_log);
    tcase_add_test(tc, test_apply_empty_batch_changes_nothing);
    tcase_add_test(tc, test_apply_batch_gives_one_result_per_entry);
    tcase_add_test(tc, test_apply_sqlite_error_rolls_back_the_whole_batch);
    suite_add_tcase(s, tc);

    tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_apply_restart_resumes_after_the_last_batch);
    tcase_add_test(tc, test_apply_replay_is_idempotent);
    tcase_add_test(tc, test_apply_is_deterministic);
    tcase_add_test(tc, test_apply_of_a_hot_key_is_the_same_in_any_batches);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl_checkpoint");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_foreach_ttl_arms_every_key_and_lock_with_a_ttl);
    tcase_add_test(tc, test_foreach_ttl_after_restart_sees_the_same_ttls);
    tcase_add_test(tc, test_checkpoint_makes_the_applied_index_durable);
    tcase_add_test(tc, test_checkpoint_held_back_by_a_reader_keeps_the_durable_index);
    tcase_add_test(tc, test_open_makes_what_is_on_disk_durable);
    tcase_add_test(tc, test_state_db_uses_wal_mode);
    suite_add_tcase(s, tc);

    tc = tcase_create("checkpoint_thread");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_checkpoint_thread_makes_the_applied_index_durable);
    tcase_add_test(tc, test_checkpoint_thread_held_back_by_a_reader_keeps_the_durable_index);
    tcase_add_test(tc, test_durable_index_never_passes_what_a_checkpoint_covered);
    tcase_add_test(tc, test_checkpoint_thread_resets_a_wal_past_the_restart_size);
    tcase_add_test(tc, test_checkpoint_thread_truncates_the_wal_when_the_writer_is_idle);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers_open");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_reader_stats_report_revision_and_key_count);
    tcase_add_test(tc, test_reader_sees_each_batch_once_committed);
    tcase_add_test(tc, test_reader_cannot_write);
    tcase_add_test(tc, test_reader_of_a_missing_database_fails);
    tcase_add_test(tc, test_open_rejects_a_negative_history_keep);
    tcase_add_test(tc, test_open_refuses_a_database_of_an_unknown_format);
    tcase_add_test(tc, test_open_of_an_unwritable_path_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fsm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
