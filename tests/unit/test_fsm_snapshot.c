/* test_fsm_snapshot.c: unit tests of daemon/fsm/snapshot.c: copies of
 * state.db made while the writer applies, the checks a received file must
 * pass, and the install that replaces the whole state.
 *
 * One test per rule of fsm.h's "snapshots" section: the copy is consistent
 * at its applied index and self-contained (no -wal), check refuses garbage,
 * truncated, damaged and foreign files, install replaces kv, locks, seqs,
 * revision and applied index in one transaction (readers never see a mix),
 * is durable, survives a restart, lets apply go on, and can go back to an
 * older snapshot. */
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

#define WAIT_UNTIL(cond)                                                    \
    do {                                                                    \
        int64_t wait_end_ = clock_mono_ms() + 10000;                        \
        while (!(cond) && clock_mono_ms() < wait_end_) {                    \
            struct timespec ts_ = {0, 1000000L};                            \
            nanosleep(&ts_, NULL);                                          \
        }                                                                   \
        ck_assert_msg((cond), "timed out waiting for: %s", #cond);          \
    } while (0)

/* A second state machine ("another node") in a directory of its own. */
static struct {
    char dir[256];
    char path[300];
    fsm *f;
    fsm_reader *r;
} other;

static void other_open(void)
{
    fsm_options o = {16};
    ck_assert_int_eq(fsm_open(other.path, &o, &other.f), 0);
    ck_assert_int_eq(fsm_reader_open(other.path, &other.r), 0);
}

static void other_close(void)
{
    fsm_reader_close(other.r);
    fsm_close(other.f);
    other.r = NULL;
    other.f = NULL;
}

static void setup(void)
{
    fx_setup();
    memset(&other, 0, sizeof other);
    fx_mkdtemp(other.dir);
    snprintf(other.path, sizeof other.path, "%s/state.db", other.dir);
    other_open();
}

static void teardown(void)
{
    other_close();
    fx_rmdir(other.dir);
    fx_teardown();
}

/* Applies cmd to f as its next entry; returns the command's status. */
static int apply_to(fsm *f, command c)
{
    fsm_entry e = fx_entry(fsm_applied_index(f) + 1, &c);
    fsm_result res;
    ck_assert_int_eq(fsm_apply_batch(f, &e, 1, &res), 0);
    fx_entry_free(&e);
    int status = res.status;
    fsm_result_clear(&res);
    return status;
}

/* fx.dir/name, in a static buffer per call site (copied by the caller). */
static void in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", fx.dir, name);
}

/* Snapshot of fx's state into fx.dir/name; returns its applied index. */
static uint64_t snapshot(const char *name, char *out, size_t n)
{
    in_dir(out, n, name);
    uint64_t idx = 0;
    ck_assert_int_eq(fsm_snapshot_create(fx.path, out, &idx), 0);
    return idx;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int exists_with(const char *path, const char *suffix)
{
    char p[400];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return exists(p);
}

static long file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* Copies the first n bytes of src into dst. */
static void copy_prefix(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb");
    ck_assert_ptr_nonnull(in);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    write_file(dst, buf, (size_t)n);
    free(buf);
}

/* Runs sql on the database file at path (read-write). */
static void sql_on(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "");
    sqlite3_close(db);
}

/* key's value through reader r as a C string in out ("" when absent). */
static void value_of(fsm_reader *r, const char *key, char *out, size_t n)
{
    kv_record rec;
    memset(&rec, 0, sizeof rec);
    int rc = fsm_kv_get(r, kbytes_str(key), 0, &rec);
    ck_assert(rc == 0 || rc == KAHUNA_ENOTFOUND);
    snprintf(out, n, "%s", rc == 0 ? FX_STR(rec.value) : "");
    kv_record_free(&rec);
}

static void expect_value(fsm_reader *r, const char *key, const char *want)
{
    char got[128];
    value_of(r, key, got, sizeof got);
    ck_assert_str_eq(got, want);
}

static void expect_absent(fsm_reader *r, const char *key)
{
    kv_record rec;
    memset(&rec, 0, sizeof rec);
    ck_assert_int_eq(fsm_kv_get(r, kbytes_str(key), 0, &rec), KAHUNA_ENOTFOUND);
    kv_record_free(&rec);
}

static void expect_lock(fsm_reader *r, const char *name, const char *owner, int64_t token)
{
    lock_record lr;
    memset(&lr, 0, sizeof lr);
    ck_assert_int_eq(fsm_lock_get(r, kbytes_str(name), &lr), 0);
    ck_assert_str_eq(FX_STR(lr.owner), owner);
    ck_assert_int_eq(lr.token, token);
    lock_record_free(&lr);
}

static void expect_no_lock(fsm_reader *r, const char *name)
{
    lock_record lr;
    memset(&lr, 0, sizeof lr);
    ck_assert_int_eq(fsm_lock_get(r, kbytes_str(name), &lr), KAHUNA_ENOTFOUND);
    lock_record_free(&lr);
}

static int64_t seq_value(fsm_reader *r, const char *name)
{
    seq_record sr;
    memset(&sr, 0, sizeof sr);
    int rc = fsm_seq_get(r, kbytes_str(name), &sr);
    int64_t v = rc == 0 ? sr.value : -1;
    seq_record_free(&sr);
    return v;
}

/* State A on fx: two keys (one with a TTL), a lock, a sequence. Returns
 * the lock's token. */
static int64_t build_state_a(void)
{
    command c = {0};                                                  /* a no-op entry */
    c.type = CMD_NOOP;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fx_put_rev("a1", "1");
    c = fx_put_ttl("a2", "2", 5000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fsm_result res;
    c = fx_acquire("L1", "o1", 3000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t token = res.token;
    fsm_result_clear(&res);
    c = fx_seq_next("s1", 5, NULL, 1000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    return token;
}

/* ---- create ---- */

START_TEST(test_snapshot_copy_holds_the_state_at_its_applied_index)
{
    int64_t token = build_state_a();
    char p[300];
    uint64_t idx = snapshot("snap.db", p, sizeof p);
    ck_assert_uint_eq(idx, fsm_applied_index(fx.f));
    uint64_t checked = 0;
    ck_assert_int_eq(fsm_snapshot_check(p, &checked), 0);
    ck_assert_uint_eq(checked, idx);
    fsm_reader *r = NULL;
    ck_assert_int_eq(fsm_reader_open(p, &r), 0);
    expect_value(r, "a1", "1");
    expect_value(r, "a2", "2");
    expect_lock(r, "L1", "o1", token);
    ck_assert_int_eq(seq_value(r, "s1"), 5);
    int64_t rev = 0, keys = 0;
    ck_assert_int_eq(fsm_reader_stats(r, &rev, &keys), 0);
    ck_assert_int_eq(rev, fsm_current_revision(fx.f));
    ck_assert_int_eq(keys, 2);
    fsm_reader_close(r);
}
END_TEST

START_TEST(test_snapshot_file_is_self_contained_without_a_wal)
{
    build_state_a();
    char p[300];
    snapshot("snap.db", p, sizeof p);
    ck_assert(!exists_with(p, "-wal"));
    ck_assert(!exists_with(p, "-shm"));
    ck_assert(!exists_with(p, "-journal"));
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "delete");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* reading it (check, a reader) leaves nothing beside it either */
    uint64_t idx;
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), 0);
    ck_assert(!exists_with(p, "-wal"));
    ck_assert(!exists_with(p, "-shm"));
}
END_TEST

START_TEST(test_snapshot_create_refuses_an_existing_destination)
{
    build_state_a();
    char p[300];
    in_dir(p, sizeof p, "taken.db");
    write_file(p, "mine", 4);
    uint64_t idx = 99;
    ck_assert_int_eq(fsm_snapshot_create(fx.path, p, &idx), KAHUNA_EBADREQ);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(file_size(p), 4);
}
END_TEST

START_TEST(test_snapshot_create_of_a_missing_state_database_fails_and_leaves_nothing)
{
    char p[300], missing[300];
    in_dir(p, sizeof p, "snap.db");
    in_dir(missing, sizeof missing, "nothing-here.db");
    uint64_t idx = 99;
    ck_assert_int_eq(fsm_snapshot_create(missing, p, &idx), KAHUNA_EIO);
    ck_assert(!exists(p));
    ck_assert(!exists(missing));
}
END_TEST

/* The snapshot thread of the consistency test. */
#define RACE_SNAPSHOTS 6
static struct {
    uint64_t idx[RACE_SNAPSHOTS];
    int rc[RACE_SNAPSHOTS];
    atomic_int done;
} race;

static void *race_snapshots(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACE_SNAPSHOTS; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/race-%d.db", fx.dir, i);
        race.rc[i] = fsm_snapshot_create(fx.path, p, &race.idx[i]);
    }
    atomic_store(&race.done, 1);
    return NULL;
}

/* Entry i puts k<i> = v<i>: at applied index n the state holds k1..kn and
 * revision n, nothing more. (Without the fixture's TTL hook, which has
 * room for a few events only.) */
static void apply_puts(uint64_t first, int count)
{
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    fsm_entry es[64];
    char key[32], val[32];
    ck_assert_int_le(count, 64);
    for (int i = 0; i < count; i++) {
        uint64_t k = first + (uint64_t)i;
        snprintf(key, sizeof key, "k%llu", (unsigned long long)k);
        snprintf(val, sizeof val, "v%llu", (unsigned long long)k);
        command c = fx_put(key, val);
        es[i] = fx_entry(k, &c);
    }
    ck_assert_int_eq(fsm_apply_batch(fx.f, es, (size_t)count, NULL), 0);
    for (int i = 0; i < count; i++)
        fx_entry_free(&es[i]);
}

START_TEST(test_snapshot_create_while_the_writer_applies_is_consistent_at_its_index)
{
    apply_puts(1, 50);
    memset(&race, 0, sizeof race);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, race_snapshots, NULL), 0);
    int64_t end = clock_mono_ms() + 20000;
    while (!atomic_load(&race.done) && clock_mono_ms() < end)
        apply_puts(fsm_applied_index(fx.f) + 1, 20);
    pthread_join(t, NULL);
    for (int i = 0; i < RACE_SNAPSHOTS; i++) {
        ck_assert_int_eq(race.rc[i], 0);
        uint64_t n = race.idx[i];
        ck_assert_uint_ge(n, 50);
        char p[300], key[32], val[32];
        snprintf(p, sizeof p, "%s/race-%d.db", fx.dir, i);
        uint64_t checked = 0;
        ck_assert_int_eq(fsm_snapshot_check(p, &checked), 0);
        ck_assert_uint_eq(checked, n);
        fsm_reader *r = NULL;
        ck_assert_int_eq(fsm_reader_open(p, &r), 0);
        int64_t rev = 0, keys = 0;
        ck_assert_int_eq(fsm_reader_stats(r, &rev, &keys), 0);
        ck_assert_int_eq(rev, (int64_t)n);
        ck_assert_int_eq(keys, (int64_t)n);
        snprintf(key, sizeof key, "k%llu", (unsigned long long)n);
        snprintf(val, sizeof val, "v%llu", (unsigned long long)n);
        expect_value(r, key, val);
        snprintf(key, sizeof key, "k%llu", (unsigned long long)(n + 1));
        expect_absent(r, key);
        fsm_reader_close(r);
    }
}
END_TEST

/* ---- check ---- */

START_TEST(test_snapshot_check_rejects_garbage)
{
    char p[300];
    in_dir(p, sizeof p, "garbage.db");
    uint64_t idx = 99;
    write_file(p, "", 0);
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    ck_assert_uint_eq(idx, 0);
    unlink(p);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    write_file(p, junk, sizeof junk);
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    unlink(p);
    /* an SQLite header followed by garbage */
    memcpy(junk, "SQLite format 3", 16);
    write_file(p, junk, sizeof junk);
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    ck_assert(!exists_with(p, "-wal"));
}
END_TEST

START_TEST(test_snapshot_check_rejects_a_truncated_file)
{
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "key-%03d", i);
        fx_put_rev(key, "a value long enough to fill a few pages of the copy");
    }
    char p[300], cut[300];
    snapshot("snap.db", p, sizeof p);
    long size = file_size(p);
    ck_assert_int_gt(size, 4 * 4096);
    in_dir(cut, sizeof cut, "cut.db");
    uint64_t idx = 99;
    copy_prefix(p, cut, size - 4096);       /* a whole page short */
    ck_assert_int_eq(fsm_snapshot_check(cut, &idx), KAHUNA_EBADREQ);
    unlink(cut);
    copy_prefix(p, cut, size / 2 + 100);    /* cut in a page */
    ck_assert_int_eq(fsm_snapshot_check(cut, &idx), KAHUNA_EBADREQ);
    unlink(cut);
    copy_prefix(p, cut, 60);                /* cut in the header */
    ck_assert_int_eq(fsm_snapshot_check(cut, &idx), KAHUNA_EBADREQ);
    ck_assert_uint_eq(idx, 0);
    /* the whole file is fine */
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), 0);
}
END_TEST

/* The root page of table in the database at path. */
static int root_page(const char *path, const char *table)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int page = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return page;
}

/* Overwrites page (1-based, 4096 bytes) of the file at path with junk. */
static void damage_page(const char *path, int page)
{
    FILE *fp = fopen(path, "r+b");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, (long)(page - 1) * 4096 + 8, SEEK_SET), 0);
    char junk[1024];
    memset(junk, 0xA5, sizeof junk);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_snapshot_check_rejects_a_damaged_page)
{
    build_state_a();
    char p[300];
    snapshot("snap.db", p, sizeof p);
    damage_page(p, root_page(p, "kv"));
    uint64_t idx = 99;
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    ck_assert_uint_eq(idx, 0);
}
END_TEST

START_TEST(test_snapshot_check_rejects_another_schema)
{
    build_state_a();
    char p[300], q[300];
    uint64_t idx = 99;
    /* another SQLite database with the same user_version */
    in_dir(q, sizeof q, "foreign.db");
    sql_on(q, "CREATE TABLE t(a); INSERT INTO t VALUES (1); PRAGMA user_version = 2;");
    ck_assert_int_eq(fsm_snapshot_check(q, &idx), KAHUNA_EBADREQ);
    /* a state database of an unknown format */
    snapshot("v3.db", p, sizeof p);
    sql_on(p, "PRAGMA user_version = 3");
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    /* one without a state table */
    snapshot("notable.db", p, sizeof p);
    sql_on(p, "DROP TABLE seq_idem");
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    /* one without its meta row */
    snapshot("nometa.db", p, sizeof p);
    sql_on(p, "DELETE FROM meta");
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    /* a WAL-mode database (state.db itself) */
    ck_assert_int_eq(fsm_snapshot_check(fx.path, &idx), KAHUNA_EBADREQ);
    /* a hot journal beside a good file */
    snapshot("journal.db", p, sizeof p);
    char j[400];
    snprintf(j, sizeof j, "%s-journal", p);
    write_file(j, "x", 1);
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EBADREQ);
    unlink(j);
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), 0);
}
END_TEST

START_TEST(test_snapshot_check_of_a_missing_file_is_eio)
{
    char p[300];
    in_dir(p, sizeof p, "missing.db");
    uint64_t idx = 99;
    ck_assert_int_eq(fsm_snapshot_check(p, &idx), KAHUNA_EIO);
    ck_assert(!exists(p));
}
END_TEST

/* ---- install ---- */

START_TEST(test_snapshot_install_replaces_the_whole_state)
{
    int64_t token = build_state_a();
    char p[300];
    uint64_t idx = snapshot("a.db", p, sizeof p);
    int64_t rev = fsm_current_revision(fx.f);
    /* the other node has a state of its own, further along */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(apply_to(other.f, fx_put("b1", "x")), 0);
    ck_assert_int_eq(apply_to(other.f, fx_put("a1", "other")), 0);
    ck_assert_int_eq(apply_to(other.f, fx_acquire("L2", "o2", 1000)), 0);
    ck_assert_int_eq(apply_to(other.f, fx_acquire("L1", "o9", 1000)), 0);
    ck_assert_int_eq(apply_to(other.f, fx_seq_next("s2", 1, NULL, 1000)), 0);
    ck_assert_int_eq(apply_to(other.f, fx_seq_next("s1", 100, NULL, 1000)), 0);
    ck_assert_uint_gt(fsm_applied_index(other.f), idx);

    ck_assert_int_eq(fsm_snapshot_install(other.f, p), 0);
    ck_assert_uint_eq(fsm_applied_index(other.f), idx);
    ck_assert_int_eq(fsm_current_revision(other.f), rev);
    /* a reader opened before the install sees the new state */
    expect_value(other.r, "a1", "1");
    expect_value(other.r, "a2", "2");
    expect_absent(other.r, "b1");
    expect_lock(other.r, "L1", "o1", token);
    expect_no_lock(other.r, "L2");
    ck_assert_int_eq(seq_value(other.r, "s1"), 5);
    ck_assert_int_eq(seq_value(other.r, "s2"), -1);
    int64_t srev = 0, keys = 0;
    ck_assert_int_eq(fsm_reader_stats(other.r, &srev, &keys), 0);
    ck_assert_int_eq(srev, rev);
    ck_assert_int_eq(keys, 2);
    kv_record rec;
    memset(&rec, 0, sizeof rec);
    ck_assert_int_eq(fsm_kv_get(other.r, kbytes_str("a1"), 0, &rec), 0);
    ck_assert_int_eq(rec.version, 1);
    kv_record_free(&rec);
    /* the snapshot file was only read */
    ck_assert(!exists_with(p, "-wal"));
    ck_assert(!exists_with(p, "-journal"));
    uint64_t again = 0;
    ck_assert_int_eq(fsm_snapshot_check(p, &again), 0);
    ck_assert_uint_eq(again, idx);
}
END_TEST

START_TEST(test_snapshot_install_lets_apply_go_on_from_the_snapshot)
{
    int64_t token = build_state_a();
    char p[300];
    uint64_t idx = snapshot("a.db", p, sizeof p);
    int64_t rev = fsm_current_revision(fx.f);
    ck_assert_int_eq(apply_to(other.f, fx_put("b1", "x")), 0);
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), 0);

    fsm_entry e;
    fsm_result res;
    command c = fx_put("c", "3");
    e = fx_entry(idx + 1, &c);
    ck_assert_int_eq(fsm_apply_batch(other.f, &e, 1, &res), 0);
    fx_entry_free(&e);
    ck_assert_int_eq(res.status, 0);
    ck_assert_int_eq(res.revision, rev + 1);     /* revisions go on from the snapshot's */
    fsm_result_clear(&res);
    c = fx_acquire("L1", "o2", 1000);            /* the lock of the snapshot is held */
    e = fx_entry(idx + 2, &c);
    ck_assert_int_eq(fsm_apply_batch(other.f, &e, 1, &res), 0);
    fx_entry_free(&e);
    ck_assert_int_eq(res.status, KAHUNA_ELOCKHELD);
    ck_assert_int_eq(res.token, token);
    fsm_result_clear(&res);
    ck_assert_int_eq(apply_to(other.f, fx_seq_next("s1", 1, NULL, 2000)), 0);
    ck_assert_int_eq(seq_value(other.r, "s1"), 6);
    ck_assert_uint_eq(fsm_applied_index(other.f), idx + 3);
    /* an entry at or below the installed index is skipped */
    c = fx_put("old", "x");
    e = fx_entry(idx, &c);
    ck_assert_int_eq(fsm_apply_batch(other.f, &e, 1, NULL), 0);
    fx_entry_free(&e);
    expect_absent(other.r, "old");

    /* all of it survives a restart */
    other_close();
    other_open();
    ck_assert_uint_eq(fsm_applied_index(other.f), idx + 3);
    ck_assert_int_eq(fsm_current_revision(other.f), rev + 2);
    expect_value(other.r, "c", "3");
    expect_value(other.r, "a1", "1");
    expect_absent(other.r, "b1");
}
END_TEST

START_TEST(test_snapshot_install_of_an_older_snapshot_over_a_newer_state)
{
    int64_t token = build_state_a();
    char p[300];
    uint64_t idx = snapshot("a.db", p, sizeof p);
    int64_t rev = fsm_current_revision(fx.f);
    command c = fx_del("a1");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fx_put_rev("a3", "3");
    c = fx_release("L1", "o1");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_seq_next("s1", 10, NULL, 2000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), idx + 4);

    ck_assert_int_eq(fsm_snapshot_install(fx.f, p), 0);
    ck_assert_uint_eq(fsm_applied_index(fx.f), idx);
    ck_assert_int_eq(fsm_current_revision(fx.f), rev);
    ck_assert_uint_eq(fsm_durable_index(fx.f), idx);   /* the state is back there */
    expect_value(fx.r, "a1", "1");
    expect_absent(fx.r, "a3");
    expect_lock(fx.r, "L1", "o1", token);
    ck_assert_int_eq(seq_value(fx.r, "s1"), 5);
    /* and goes on from there */
    ck_assert_int_eq(fx_put_rev("a4", "4"), rev + 1);
    ck_assert_uint_eq(fsm_applied_index(fx.f), idx + 1);
    ck_assert_int_eq(fsm_checkpoint(fx.f), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), idx + 1);
}
END_TEST

START_TEST(test_snapshot_install_does_not_call_the_ttl_hook)
{
    build_state_a();
    char p[300];
    snapshot("a.db", p, sizeof p);
    fsm_set_ttl_hook(other.f, fx_hook, NULL);
    fx.nevents = 0;
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), 0);
    ck_assert_int_eq(fx.nevents, 0);
    /* the caller re-arms the snapshot's TTLs */
    ck_assert_int_eq(fsm_foreach_ttl(other.f, fx_hook, NULL), 0);
    ck_assert_int_eq(fx.nevents, 2);
    int kv = 0, lock = 0;
    for (int i = 0; i < fx.nevents; i++) {
        ck_assert_int_eq(fx.events[i].op, FSM_TTL_ARM);
        if (fx.events[i].kind == FSM_TTL_KV) {
            ck_assert_str_eq(fx.events[i].name, "a2");
            ck_assert_int_eq(fx.events[i].ttl_ms, 5000);
            kv++;
        } else {
            ck_assert_str_eq(fx.events[i].name, "L1");
            ck_assert_int_eq(fx.events[i].ttl_ms, 3000);
            lock++;
        }
    }
    ck_assert_int_eq(kv, 1);
    ck_assert_int_eq(lock, 1);
}
END_TEST

START_TEST(test_snapshot_install_is_durable_at_once)
{
    build_state_a();
    char p[300];
    uint64_t idx = snapshot("a.db", p, sizeof p);
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), 0);
    ck_assert_uint_eq(fsm_durable_index(other.f), idx);
    /* state.db stays in WAL mode */
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(other.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

START_TEST(test_snapshot_install_of_a_bad_file_changes_nothing)
{
    build_state_a();
    char good[300], p[300];
    snapshot("a.db", good, sizeof good);
    ck_assert_int_eq(apply_to(other.f, fx_put("b1", "x")), 0);
    ck_assert_int_eq(apply_to(other.f, fx_acquire("L2", "o2", 1000)), 0);
    uint64_t idx = fsm_applied_index(other.f);
    int64_t rev = fsm_current_revision(other.f);

    in_dir(p, sizeof p, "garbage.db");
    write_file(p, "not a database at all", 21);
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EBADREQ);
    in_dir(p, sizeof p, "foreign.db");
    sql_on(p, "CREATE TABLE t(a); PRAGMA user_version = 2;");
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EBADREQ);
    snapshot("cols.db", p, sizeof p);           /* a column more in one table */
    sql_on(p, "ALTER TABLE seqs ADD COLUMN extra INTEGER");
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EBADREQ);
    snapshot("damaged.db", p, sizeof p);        /* a damaged page: fails in the copy */
    damage_page(p, root_page(p, "kv"));
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EBADREQ);
    snapshot("nometa.db", p, sizeof p);
    sql_on(p, "DELETE FROM meta");
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EBADREQ);
    in_dir(p, sizeof p, "missing.db");
    ck_assert_int_eq(fsm_snapshot_install(other.f, p), KAHUNA_EIO);
    ck_assert(!exists(p));

    ck_assert_uint_eq(fsm_applied_index(other.f), idx);
    ck_assert_int_eq(fsm_current_revision(other.f), rev);
    expect_value(other.r, "b1", "x");
    expect_absent(other.r, "a1");
    expect_lock(other.r, "L2", "o2", 2);
    /* and a good one still installs */
    ck_assert_int_eq(fsm_snapshot_install(other.f, good), 0);
    expect_value(other.r, "a1", "1");
    expect_absent(other.r, "b1");
}
END_TEST

START_TEST(test_snapshot_install_keeps_the_checkpoint_thread_working)
{
    build_state_a();
    char p[300];
    uint64_t idx = snapshot("a.db", p, sizeof p);
    apply_puts(fsm_applied_index(fx.f) + 1, 30);
    ck_assert_int_eq(fsm_checkpointer_start(fx.f, 10, 0), 0);
    uint64_t newer = fsm_applied_index(fx.f);
    WAIT_UNTIL(fsm_durable_index(fx.f) == newer);

    ck_assert_int_eq(fsm_snapshot_install(fx.f, p), 0);
    ck_assert_uint_eq(fsm_durable_index(fx.f), idx);
    fsm_checkpoint_stats cs;
    fsm_checkpoint_stats_get(fx.f, &cs);
    uint64_t rounds = cs.rounds;
    apply_puts(idx + 1, 5);
    WAIT_UNTIL(fsm_durable_index(fx.f) == idx + 5);
    fsm_checkpoint_stats_get(fx.f, &cs);
    ck_assert_uint_gt(cs.rounds, rounds);
    fsm_checkpointer_stop(fx.f);
}
END_TEST

/* The reader thread of the atomicity test: x and y always agree. */
static struct {
    atomic_int stop;
    atomic_int reads;
    atomic_int mixed;
    atomic_int failed;
} mix;

static void *mix_reader(void *arg)
{
    (void)arg;
    fsm_reader *r = NULL;
    if (fsm_reader_open(fx.path, &r) != 0) {
        atomic_store(&mix.failed, 1);
        return NULL;
    }
    while (!atomic_load(&mix.stop)) {
        kv_record x, y;
        memset(&x, 0, sizeof x);
        memset(&y, 0, sizeof y);
        int ok = fsm_reader_begin(r) == 0;
        int rx = fsm_kv_get(r, kbytes_str("x"), 0, &x);
        int ry = fsm_kv_get(r, kbytes_str("y"), 0, &y);
        ok = fsm_reader_end(r) == 0 && ok;
        if (!ok || rx || ry)
            atomic_store(&mix.failed, 1);
        else if (x.value.len != y.value.len || memcmp(x.value.data, y.value.data, x.value.len) != 0)
            atomic_fetch_add(&mix.mixed, 1);
        atomic_fetch_add(&mix.reads, 1);
        kv_record_free(&x);
        kv_record_free(&y);
    }
    fsm_reader_close(r);
    return NULL;
}

START_TEST(test_snapshot_install_readers_see_the_old_state_or_the_new_never_a_mix)
{
    char a[300], b[300];
    fsm_set_ttl_hook(fx.f, NULL, NULL);
    fx_put_rev("x", "A");
    fx_put_rev("y", "A");
    for (int i = 0; i < 300; i++) {           /* some bulk, so an install takes a while */
        char key[32];
        snprintf(key, sizeof key, "bulk-%03d", i);
        fx_put_rev(key, "some bytes of bulk to copy around");
    }
    snapshot("a.db", a, sizeof a);
    fx_put_rev("x", "B");
    fx_put_rev("y", "B");
    snapshot("b.db", b, sizeof b);
    memset(&mix, 0, sizeof mix);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, mix_reader, NULL), 0);
    WAIT_UNTIL(atomic_load(&mix.reads) > 0 || atomic_load(&mix.failed));
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(fsm_snapshot_install(fx.f, i % 2 ? b : a), 0);
    int before = atomic_load(&mix.reads);
    WAIT_UNTIL(atomic_load(&mix.reads) > before || atomic_load(&mix.failed));
    atomic_store(&mix.stop, 1);
    pthread_join(t, NULL);
    ck_assert_int_eq(atomic_load(&mix.failed), 0);
    ck_assert_int_eq(atomic_load(&mix.mixed), 0);
    expect_value(fx.r, "x", "B");
    expect_value(fx.r, "y", "B");
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("fsm_snapshot");
    TCase *tc = tcase_create("create");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_snapshot_copy_holds_the_state_at_its_applied_index);
    tcase_add_test(tc, test_snapshot_file_is_self_contained_without_a_wal);
    tcase_add_test(tc, test_snapshot_create_refuses_an_existing_destination);
    tcase_add_test(tc, test_snapshot_create_of_a_missing_state_database_fails_and_leaves_nothing);
    tcase_add_test(tc, test_snapshot_create_while_the_writer_applies_is_consistent_at_its_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("check");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_snapshot_check_rejects_garbage);
    tcase_add_test(tc, test_snapshot_check_rejects_a_truncated_file);
    tcase_add_test(tc, test_snapshot_check_rejects_a_damaged_page);
    tcase_add_test(tc, test_snapshot_check_rejects_another_schema);
    tcase_add_test(tc, test_snapshot_check_of_a_missing_file_is_eio);
    suite_add_tcase(s, tc);

    tc = tcase_create("install");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_snapshot_install_replaces_the_whole_state);
    tcase_add_test(tc, test_snapshot_install_lets_apply_go_on_from_the_snapshot);
    tcase_add_test(tc, test_snapshot_install_of_an_older_snapshot_over_a_newer_state);
    tcase_add_test(tc, test_snapshot_install_does_not_call_the_ttl_hook);
    tcase_add_test(tc, test_snapshot_install_is_durable_at_once);
    tcase_add_test(tc, test_snapshot_install_of_a_bad_file_changes_nothing);
    tcase_add_test(tc, test_snapshot_install_keeps_the_checkpoint_thread_working);
    tcase_add_test(tc, test_snapshot_install_readers_see_the_old_state_or_the_new_never_a_mix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
