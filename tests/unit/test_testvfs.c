/* test_testvfs.c: unit tests of daemon/testvfs.c, the SQLite VFS of
 * KAHUNA_TEST_LOSE_UNSYNCED that keeps writes in memory until fsync.
 *
 * First the file rules, on the VFS itself: the process reads its unsynced
 * writes, a sync puts them on disk, a truncation waits for the sync too,
 * every handle of a path shares one overlay. Then SQLite through it: a
 * child process writes and kills itself with SIGKILL (it never closes or
 * syncs anything: the crash), and the parent opens the files afterwards.
 * What was synced is there (a commit with synchronous=FULL, a complete
 * checkpoint), what was not is gone, what is left is always a prefix of
 * the commits, and the database is never damaged. The child tells the
 * parent what SQLite acknowledged as durable through shared memory. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testvfs.h"

static char dir[256];
static char path[300];             /* dir/test.db */

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kahuna-test-testvfs.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/test.db", dir);
    ck_assert_int_eq(testvfs_install(), 0);
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- helpers ---- */

/* In a child process: a failed condition exits with a message (check's
 * asserts belong to the test process). */
#define CHILD_OK(c)                                                                  \
    do {                                                                             \
        if (!(c)) {                                                                  \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #c);           \
            _exit(100);                                                              \
        }                                                                            \
    } while (0)

/* Runs fn(arg) in a child process that then dies by SIGKILL, with its
 * databases open and nothing closed; asserts that it got that far. */
static void crash_child(void (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn(arg);
        kill(getpid(), SIGKILL);
        _exit(101);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        ck_abort_msg("the child failed before its crash (exit status %d): see its message",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Zeroed memory that a child's writes reach the parent through. */
static void *shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    memset(p, 0, n);
    return p;
}

static uint64_t rnd_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens p read-write (created when absent) with a busy timeout, then runs
 * setup_sql. NULL on failure. */
static sqlite3 *db_open(const char *p, const char *setup_sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
        (setup_sql && exec_sql(db, setup_sql) != SQLITE_OK)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* *out = the first column of the first row of sql; 0 or -1. */
static int query_i64(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA integrity_check on db says "ok". */
static int integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    return ok;
}

static void db_close(sqlite3 *db)
{
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* The value row id carries: 1..5000 bytes (overflow pages included). */
static size_t payload(int64_t id, unsigned char *buf)
{
    size_t n = 1 + (size_t)((id * 7919) % 5000);
    for (size_t j = 0; j < n; j++)
        buf[j] = (unsigned char)(id + (int64_t)j);
    return n;
}

static int insert_row(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
    static _Thread_local unsigned char buf[5000];
    sqlite3_stmt *st = NULL;
    size_t n = payload(a * 1000003 + b, buf);
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, a);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) >= 3)
        rc = sqlite3_bind_int64(st, 2, b);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, sqlite3_bind_parameter_count(st), buf, (int)n, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(sqlite3_db_handle(st));
    sqlite3_finalize(st);
    return rc;
}

/* Every row of sql (columns a, b, v) carries the payload insert_row gave it. */
static int payloads_ok(sqlite3 *db, const char *sql)
{
    unsigned char want[5000];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    int ok = 1, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t n = payload(sqlite3_column_int64(st, 0) * 1000003 + sqlite3_column_int64(st, 1), want);
        if ((size_t)sqlite3_column_bytes(st, 2) != n || memcmp(sqlite3_column_blob(st, 2), want, n) != 0)
            ok = 0;
    }
    sqlite3_finalize(st);
    return ok && rc == SQLITE_DONE;
}

/* ---- the VFS itself ---- */

static sqlite3_vfs *tvfs(void)
{
    sqlite3_vfs *v = sqlite3_vfs_find(TESTVFS_NAME);
    ck_assert_ptr_nonnull(v);
    return v;
}

static sqlite3_file *vfs_open(const char *p, int flags)
{
    sqlite3_vfs *v = tvfs();
    sqlite3_file *f = calloc(1, (size_t)v->szOsFile);
    ck_assert_ptr_nonnull(f);
    int out = 0;
    ck_assert_int_eq(v->xOpen(v, p, f, flags | SQLITE_OPEN_MAIN_DB, &out), SQLITE_OK);
    return f;
}

static void vfs_close(sqlite3_file *f)
{
    ck_assert_int_eq(f->pMethods->xClose(f), SQLITE_OK);
    free(f);
}

static void vfs_write(sqlite3_file *f, int byte, int n, sqlite3_int64 off)
{
    unsigned char *b = malloc((size_t)n);
    ck_assert_ptr_nonnull(b);
    memset(b, byte, (size_t)n);
    ck_assert_int_eq(f->pMethods->xWrite(f, b, n, off), SQLITE_OK);
    free(b);
}

static sqlite3_int64 vfs_size(sqlite3_file *f)
{
    sqlite3_int64 n = -1;
    ck_assert_int_eq(f->pMethods->xFileSize(f, &n), SQLITE_OK);
    return n;
}

static off_t raw_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_size;
}

/* The whole real file, read with plain read(2); *n its length. */
static unsigned char *raw_read(const char *p, size_t *n)
{
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

/* bytes [from, to) of b are all byte */
static int all_are(const unsigned char *b, size_t from, size_t to, int byte)
{
    for (size_t i = from; i < to; i++)
        if (b[i] != (unsigned char)byte)
            return 0;
    return 1;
}

#define RW_CREATE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)

START_TEST(test_testvfs_installed_is_the_default_vfs)
{
    ck_assert_ptr_eq(sqlite3_vfs_find(NULL), tvfs());
    ck_assert_int_eq(testvfs_install(), 0);           /* again: nothing changes */
    ck_assert_ptr_eq(sqlite3_vfs_find(NULL), tvfs());
    ck_assert_int_eq(unsetenv("KAHUNA_TEST_LOSE_UNSYNCED"), 0);
    ck_assert_int_eq(testvfs_install_if_asked(), 0);
    ck_assert_int_eq(setenv("KAHUNA_TEST_LOSE_UNSYNCED", "1", 1), 0);
    ck_assert_int_eq(testvfs_install_if_asked(), 0);
    ck_assert_ptr_eq(sqlite3_vfs_find(NULL), tvfs());

    sqlite3 *db = db_open(path, NULL);
    ck_assert_ptr_nonnull(db);
    char *name = NULL;
    ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFSNAME, &name), SQLITE_OK);
    ck_assert_ptr_nonnull(name);
    ck_assert_str_eq(name, TESTVFS_NAME "/unix");
    sqlite3_free(name);
    db_close(db);
}
END_TEST

START_TEST(test_testvfs_unsynced_writes_are_read_back_but_not_on_disk)
{
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    vfs_write(f, 0xab, 10000, 0);
    ck_assert_int_eq(vfs_size(f), 10000);
    unsigned char b[10000];
    ck_assert_int_eq(f->pMethods->xRead(f, b, sizeof b, 0), SQLITE_OK);
    ck_assert(all_are(b, 0, sizeof b, 0xab));
    ck_assert_int_eq(raw_size(path), 0);
    ck_assert_uint_ge(testvfs_unsynced_bytes(), 10000);
    /* past the end: a short read, zero-filled */
    memset(b, 1, sizeof b);
    ck_assert_int_eq(f->pMethods->xRead(f, b, 100, 9950), SQLITE_IOERR_SHORT_READ);
    ck_assert(all_are(b, 0, 50, 0xab));
    ck_assert(all_are(b, 50, 100, 0));
    vfs_close(f);
}
END_TEST

START_TEST(test_testvfs_sync_puts_the_writes_on_disk)
{
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    vfs_write(f, 0x11, 5000, 0);
    vfs_write(f, 0x22, 100, 4050);                    /* across a block boundary */
    ck_assert_int_eq(f->pMethods->xSync(f, SQLITE_SYNC_FULL), SQLITE_OK);
    ck_assert_uint_eq(testvfs_unsynced_bytes(), 0);
    size_t n = 0;
    unsigned char *b = raw_read(path, &n);
    ck_assert_uint_eq(n, 5000);
    ck_assert(all_are(b, 0, 4050, 0x11));
    ck_assert(all_are(b, 4050, 4150, 0x22));
    ck_assert(all_are(b, 4150, 5000, 0x11));
    free(b);
    vfs_close(f);
}
END_TEST

START_TEST(test_testvfs_truncation_waits_for_sync_and_reads_zeros_after_it)
{
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    vfs_write(f, 0xaa, 3 * 4096 + 100, 0);
    ck_assert_int_eq(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
    ck_assert_int_eq(f->pMethods->xTruncate(f, 100), SQLITE_OK);
    ck_assert_int_eq(vfs_size(f), 100);
    ck_assert_int_eq(raw_size(path), 3 * 4096 + 100);  /* not yet */
    vfs_write(f, 'w', 4, 8000);                       /* extends it again */
    ck_assert_int_eq(vfs_size(f), 8004);
    unsigned char b[8004];
    ck_assert_int_eq(f->pMethods->xRead(f, b, sizeof b, 0), SQLITE_OK);
    ck_assert(all_are(b, 0, 100, 0xaa));
    ck_assert(all_are(b, 100, 8000, 0));              /* not the old bytes */
    ck_assert(all_are(b, 8000, 8004, 'w'));
    ck_assert_int_eq(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
    size_t n = 0;
    unsigned char *r = raw_read(path, &n);
    ck_assert_uint_eq(n, 8004);
    ck_assert_mem_eq(r, b, n);
    free(r);
    /* growing with xTruncate reads zeros too */
    ck_assert_int_eq(f->pMethods->xTruncate(f, 9000), SQLITE_OK);
    ck_assert_int_eq(vfs_size(f), 9000);
    unsigned char z[996];
    ck_assert_int_eq(f->pMethods->xRead(f, z, sizeof z, 8004), SQLITE_OK);
    ck_assert(all_are(z, 0, sizeof z, 0));
    /* a cut inside an unsynced block, then growth: zeros past the cut */
    vfs_write(f, 0xcc, 4096, 0);
    ck_assert_int_eq(f->pMethods->xTruncate(f, 50), SQLITE_OK);
    ck_assert_int_eq(f->pMethods->xTruncate(f, 200), SQLITE_OK);
    ck_assert_int_eq(f->pMethods->xRead(f, z, 200, 0), SQLITE_OK);
    ck_assert(all_are(z, 0, 50, 0xcc));
    ck_assert(all_are(z, 50, 200, 0));
    vfs_close(f);
}
END_TEST

START_TEST(test_testvfs_handles_of_one_file_share_one_overlay)
{
    char other[400];
    snprintf(other, sizeof other, "%s/./test.db", dir);        /* another spelling */
    sqlite3_file *a = vfs_open(path, RW_CREATE);
    sqlite3_file *b = vfs_open(other, SQLITE_OPEN_READWRITE);
    vfs_write(a, 0x5a, 6000, 0);
    ck_assert_int_eq(vfs_size(b), 6000);
    unsigned char buf[6000];
    ck_assert_int_eq(b->pMethods->xRead(b, buf, sizeof buf, 0), SQLITE_OK);
    ck_assert(all_are(buf, 0, sizeof buf, 0x5a));
    ck_assert_int_eq(b->pMethods->xTruncate(b, 10), SQLITE_OK);
    ck_assert_int_eq(vfs_size(a), 10);
    /* a sync through either handle writes what both wrote */
    ck_assert_int_eq(b->pMethods->xSync(b, SQLITE_SYNC_NORMAL), SQLITE_OK);
    ck_assert_int_eq(raw_size(path), 10);
    vfs_close(a);
    vfs_close(b);
}
END_TEST

START_TEST(test_testvfs_read_only_handle_refuses_writes)
{
    sqlite3_file *a = vfs_open(path, RW_CREATE);
    sqlite3_file *r = vfs_open(path, SQLITE_OPEN_READONLY);
    unsigned char x = 1;
    ck_assert_int_eq(r->pMethods->xWrite(r, &x, 1, 0), SQLITE_IOERR_WRITE);
    ck_assert_int_eq(r->pMethods->xTruncate(r, 0), SQLITE_IOERR_TRUNCATE);
    /* the writer's unsynced data reaches the file when the writer closes,
     * although a reader stays */
    vfs_write(a, 0x33, 100, 0);
    vfs_close(a);
    ck_assert_int_eq(raw_size(path), 100);
    vfs_close(r);
}
END_TEST

START_TEST(test_testvfs_last_close_writes_out_what_was_not_synced)
{
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    vfs_write(f, 0x44, 4096 + 7, 0);
    ck_assert_int_eq(raw_size(path), 0);
    vfs_close(f);
    size_t n = 0;
    unsigned char *b = raw_read(path, &n);
    ck_assert_uint_eq(n, 4096 + 7);
    ck_assert(all_are(b, 0, n, 0x44));
    free(b);
    ck_assert_uint_eq(testvfs_unsynced_bytes(), 0);
}
END_TEST

START_TEST(test_testvfs_exists_follows_the_overlay_size)
{
    sqlite3_vfs *v = tvfs();
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    int res = -1;
    ck_assert_int_eq(v->xAccess(v, path, SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
    ck_assert_int_eq(res, 0);                          /* empty: as the unix VFS says */
    vfs_write(f, 1, 10, 0);
    ck_assert_int_eq(v->xAccess(v, path, SQLITE_ACCESS_EXISTS, &res), SQLITE_OK);
    ck_assert_int_eq(res, 1);
    ck_assert_int_eq(raw_size(path), 0);
    vfs_close(f);
}
END_TEST

START_TEST(test_testvfs_deleted_file_comes_back_empty)
{
    sqlite3_vfs *v = tvfs();
    sqlite3_file *old = vfs_open(path, RW_CREATE);
    vfs_write(old, 0x66, 100, 0);
    ck_assert_int_eq(v->xDelete(v, path, 0), SQLITE_OK);
    sqlite3_file *f = vfs_open(path, RW_CREATE);
    ck_assert_int_eq(vfs_size(f), 0);
    ck_assert_int_eq(vfs_size(old), 100);              /* an unlinked file keeps its bytes */
    unsigned char b[100];
    ck_assert_int_eq(old->pMethods->xRead(old, b, sizeof b, 0), SQLITE_OK);
    ck_assert(all_are(b, 0, sizeof b, 0x66));
    vfs_close(old);
    ck_assert_int_eq(raw_size(path), 0);
    vfs_close(f);
}
END_TEST

/* ---- crashes ---- */

static void child_vfs_sync_then_more(void *arg)
{
    (void)arg;
    sqlite3_vfs *v = sqlite3_vfs_find(TESTVFS_NAME);
    CHILD_OK(v);
    sqlite3_file *f = calloc(1, (size_t)v->szOsFile);
    CHILD_OK(f);
    CHILD_OK(v->xOpen(v, path, f, RW_CREATE | SQLITE_OPEN_MAIN_DB, NULL) == SQLITE_OK);
    unsigned char b[8192];
    memset(b, 'a', sizeof b);
    CHILD_OK(f->pMethods->xWrite(f, b, sizeof b, 0) == SQLITE_OK);
    CHILD_OK(f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK);
    memset(b, 'b', sizeof b);
    CHILD_OK(f->pMethods->xWrite(f, b, 100, 0) == SQLITE_OK);
    CHILD_OK(f->pMethods->xWrite(f, b, sizeof b, 8192) == SQLITE_OK);
    CHILD_OK(f->pMethods->xTruncate(f, 50) == SQLITE_OK);
    CHILD_OK(f->pMethods->xWrite(f, b, 10, 20000) == SQLITE_OK);
}

START_TEST(test_testvfs_crash_keeps_the_synced_bytes_and_loses_the_rest)
{
    crash_child(child_vfs_sync_then_more, NULL);
    size_t n = 0;
    unsigned char *b = raw_read(path, &n);
    ck_assert_uint_eq(n, 8192);
    ck_assert(all_are(b, 0, n, 'a'));
    free(b);
}
END_TEST

static const char *const wal_setup =
    "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
    "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, v BLOB NOT NULL)";
static const char *const insert_t = "INSERT INTO t(a, v) VALUES (?1, ?2)";

static void insert_many(sqlite3 *db, int64_t from, int64_t to)
{
    for (int64_t i = from; i <= to; i++)
        CHILD_OK(insert_row(db, insert_t, i, 0) == SQLITE_OK);
}

static void child_full_commits(void *arg)
{
    (void)arg;
    sqlite3 *db = db_open(path, wal_setup);
    CHILD_OK(db);
    CHILD_OK(exec_sql(db, "PRAGMA synchronous=FULL") == SQLITE_OK);
    insert_many(db, 1, 50);
}

/* count(*) and max(a) of t, and the checks every crash test makes: the
 * database is sound and every row has its payload. */
static void check_t(int64_t *count, int64_t *max)
{
    sqlite3 *db = db_open(path, NULL);
    ck_assert_ptr_nonnull(db);
    ck_assert(integrity_ok(db));
    ck_assert_int_eq(query_i64(db, "SELECT count(*) FROM t", count), 0);
    ck_assert_int_eq(query_i64(db, "SELECT coalesce(max(a), 0) FROM t", max), 0);
    ck_assert(payloads_ok(db, "SELECT a, 0, v FROM t"));
    db_close(db);
}

/* Crashes a child that runs fn; then t holds exactly the rows 1..want. */
static void crash_then_expect_rows(void (*fn)(void *), int64_t want)
{
    crash_child(fn, NULL);
    int64_t count = 0, max = 0;
    check_t(&count, &max);
    ck_assert_int_eq(count, want);
    ck_assert_int_eq(max, want);
}

START_TEST(test_testvfs_crash_keeps_commits_made_with_synchronous_full)
{
    crash_then_expect_rows(child_full_commits, 50);
}
END_TEST

static void child_full_then_unsynced(void *arg)
{
    (void)arg;
    sqlite3 *db = db_open(path, wal_setup);
    CHILD_OK(db);
    CHILD_OK(exec_sql(db, "PRAGMA synchronous=FULL") == SQLITE_OK);
    insert_many(db, 1, 10);
    CHILD_OK(testvfs_unsynced_bytes() == 0);
    CHILD_OK(exec_sql(db, "PRAGMA synchronous=OFF") == SQLITE_OK);
    insert_many(db, 11, 30);
    CHILD_OK(testvfs_unsynced_bytes() > 0);
    CHILD_OK(exec_sql(db, "PRAGMA synchronous=NORMAL") == SQLITE_OK);
    insert_many(db, 31, 50);
    /* another connection of the process sees all of it, also when it asks
     * for memory-mapped reads */
    sqlite3 *r = db_open(path, "PRAGMA mmap_size=268435456");
    int64_t n = 0;
    CHILD_OK(r && query_i64(r, "SELECT count(*) FROM t", &n) == 0 && n == 50);
}

START_TEST(test_testvfs_crash_loses_commits_made_without_sync)
{
    crash_then_expect_rows(child_full_then_unsynced, 10);
}
END_TEST

static void child_checkpoint_then_more(void *arg)
{
    (void)arg;
    sqlite3 *db = db_open(path, wal_setup);
    CHILD_OK(db);
    CHILD_OK(exec_sql(db, "PRAGMA synchronous=NORMAL") == SQLITE_OK);
    insert_many(db, 1, 30);
    int nlog = -1, nckpt = -1;
    CHILD_OK(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt) == SQLITE_OK);
    insert_many(db, 31, 60);
}

START_TEST(test_testvfs_crash_keeps_what_a_checkpoint_synced)
{
    crash_then_expect_rows(child_checkpoint_then_more, 30);
}
END_TEST

/* Rounds of random transactions, each round a child killed after a random
 * number of them. */
typedef struct round_report {
    _Atomic int64_t durable;       /* the last row SQLite said was durable */
    _Atomic int64_t attempted;     /* the last row whose commit returned */
} round_report;

typedef struct round_arg {
    int wal;
    uint64_t seed;
    int64_t first;
    int ntx;
    round_report *rep;
} round_arg;

static void child_round(void *arg)
{
    round_arg *a = arg;
    uint64_t s = a->seed;
    /* auto_vacuum=FULL: deleting junk shrinks the file (truncations) */
    sqlite3 *db = db_open(path, "PRAGMA auto_vacuum=FULL; PRAGMA cache_size=20");
    CHILD_OK(db);
    CHILD_OK(exec_sql(db, a->wal ? "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0"
                                 : "PRAGMA journal_mode=DELETE") == SQLITE_OK);
    CHILD_OK(exec_sql(db, "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, v BLOB NOT NULL);"
                          "CREATE TABLE IF NOT EXISTS junk(v BLOB)") == SQLITE_OK);
    for (int64_t i = a->first; i < a->first + a->ntx; i++) {
        uint64_t r = rnd_next(&s);
        int full = r % 3 == 0;
        CHILD_OK(exec_sql(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") == SQLITE_OK);
        CHILD_OK(exec_sql(db, "BEGIN") == SQLITE_OK);
        CHILD_OK(insert_row(db, insert_t, i, 0) == SQLITE_OK);
        if (r % 5 == 0)
            CHILD_OK(exec_sql(db, "INSERT INTO junk VALUES (randomblob(30000))") == SQLITE_OK);
        if (r % 11 == 0)
            CHILD_OK(exec_sql(db, "DELETE FROM junk") == SQLITE_OK);
        CHILD_OK(exec_sql(db, "COMMIT") == SQLITE_OK);
        if (full)
            atomic_store(&a->rep->durable, i);
        atomic_store(&a->rep->attempted, i);
        if (a->wal && r % 13 == 0) {
            static const int modes[] = {SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_FULL,
                                        SQLITE_CHECKPOINT_RESTART, SQLITE_CHECKPOINT_TRUNCATE};
            int nlog = -1, nckpt = -1;
            CHILD_OK(sqlite3_wal_checkpoint_v2(db, NULL, modes[(r >> 8) % 4], &nlog, &nckpt) == SQLITE_OK);
            /* a complete checkpoint synced the WAL, then the database */
            if (nlog == nckpt)
                atomic_store(&a->rep->durable, i);
        }
        if (r % 37 == 0)
            CHILD_OK(exec_sql(db, "VACUUM") == SQLITE_OK);
    }
}

static void crash_rounds(int wal, uint64_t seed)
{
    round_report *rep = shared_alloc(sizeof *rep);
    int64_t next = 1;
    for (int round = 0; round < 8; round++) {
        int ntx = 20 + (int)(rnd_next(&seed) % 100);
        round_arg a = {wal, seed, next, ntx, rep};
        atomic_store(&rep->durable, 0);
        atomic_store(&rep->attempted, 0);
        crash_child(child_round, &a);
        int64_t count = 0, max = 0;
        check_t(&count, &max);
        /* a prefix of the commits: rows 1..max, no gap */
        ck_assert_int_eq(count, max);
        ck_assert_int_ge(max, atomic_load(&rep->durable));
        ck_assert_int_le(max, atomic_load(&rep->attempted));
        next = max + 1;
    }
    ck_assert_int_eq(munmap(rep, sizeof *rep), 0);
}

START_TEST(test_testvfs_crash_at_any_commit_leaves_a_durable_prefix_in_wal_mode)
{
    crash_rounds(1, 0x9e3779b97f4a7c15ULL);
}
END_TEST

START_TEST(test_testvfs_crash_at_any_commit_leaves_a_durable_prefix_in_rollback_mode)
{
    crash_rounds(0, 0xd1b54a32d192ed03ULL);
}
END_TEST

/* Writers on their own connections and threads, a checkpointer and a
 * reader; the process dies in the middle of whatever they do. Writers 0
 * and 1 commit with synchronous=FULL and report each commit; writer 2
 * runs NORMAL. */
#define NWRITERS 3

typedef struct mt_report {
    _Atomic int64_t acked[NWRITERS];
    int64_t first[NWRITERS];
} mt_report;

typedef struct mt_writer {
    mt_report *rep;
    int id;
} mt_writer;

static const char *const insert_mt = "INSERT INTO mt(w, seq, v) VALUES (?1, ?2, ?3)";

static void *mt_write(void *arg)
{
    mt_writer *w = arg;
    sqlite3 *db = db_open(path, w->id < 2 ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    CHILD_OK(db);
    for (int64_t seq = w->rep->first[w->id];; seq++) {
        CHILD_OK(insert_row(db, insert_mt, w->id, seq) == SQLITE_OK);
        if (w->id < 2)
            atomic_store(&w->rep->acked[w->id], seq);
    }
    return NULL;
}

static void *mt_checkpoint(void *arg)
{
    (void)arg;
    sqlite3 *db = db_open(path, "PRAGMA synchronous=NORMAL");
    CHILD_OK(db);
    static const int modes[] = {SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_RESTART,
                                SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_TRUNCATE};
    for (unsigned i = 0;; i++) {
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, modes[i % 4], NULL, NULL);
        CHILD_OK(rc == SQLITE_OK || rc == SQLITE_BUSY);
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *mt_read(void *arg)
{
    (void)arg;
    sqlite3 *db = NULL;
    CHILD_OK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    CHILD_OK(sqlite3_busy_timeout(db, 10000) == SQLITE_OK);
    for (;;) {
        int64_t n = 0;
        CHILD_OK(query_i64(db, "SELECT count(*) FROM mt", &n) == 0);
    }
    return NULL;
}

static void child_mt(void *arg)
{
    mt_report *rep = arg;
    sqlite3 *db = db_open(path, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                                "CREATE TABLE IF NOT EXISTS mt(w INTEGER, seq INTEGER, v BLOB NOT NULL,"
                                " PRIMARY KEY (w, seq))");
    CHILD_OK(db);
    static mt_writer ws[NWRITERS];
    pthread_t t;
    for (int i = 0; i < NWRITERS; i++) {
        ws[i] = (mt_writer){rep, i};
        CHILD_OK(pthread_create(&t, NULL, mt_write, &ws[i]) == 0);
    }
    CHILD_OK(pthread_create(&t, NULL, mt_checkpoint, NULL) == 0);
    CHILD_OK(pthread_create(&t, NULL, mt_read, NULL) == 0);
    /* until both FULL writers had 60 commits acknowledged in this round */
    for (int polls = 0;; polls++) {
        CHILD_OK(polls < 60 * 1000);
        if (atomic_load(&rep->acked[0]) >= rep->first[0] + 60 &&
            atomic_load(&rep->acked[1]) >= rep->first[1] + 60)
            break;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_testvfs_crash_keeps_every_synced_commit_of_concurrent_writers)
{
    mt_report *rep = shared_alloc(sizeof *rep);
    for (int i = 0; i < NWRITERS; i++)
        rep->first[i] = 1;
    for (int round = 0; round < 3; round++) {
        crash_child(child_mt, rep);
        sqlite3 *db = db_open(path, NULL);
        ck_assert_ptr_nonnull(db);
        ck_assert(integrity_ok(db));
        ck_assert(payloads_ok(db, "SELECT w, seq, v FROM mt"));
        for (int i = 0; i < NWRITERS; i++) {
            char sql[160];
            int64_t count = 0, max = 0;
            snprintf(sql, sizeof sql, "SELECT count(*) FROM mt WHERE w = %d", i);
            ck_assert_int_eq(query_i64(db, sql, &count), 0);
            snprintf(sql, sizeof sql, "SELECT coalesce(max(seq), 0) FROM mt WHERE w = %d", i);
            ck_assert_int_eq(query_i64(db, sql, &max), 0);
            ck_assert_int_eq(count, max);                     /* a prefix of its commits */
            if (i < 2)
                ck_assert_int_ge(max, atomic_load(&rep->acked[i]));
            rep->first[i] = max + 1;
        }
        db_close(db);
    }
    ck_assert_int_eq(munmap(rep, sizeof *rep), 0);
}
END_TEST

/* ---- files read by plain I/O after SQLite closed them ---- */

START_TEST(test_testvfs_vacuum_into_copy_is_on_disk_for_plain_reads)
{
    sqlite3 *db = db_open(path, wal_setup);
    ck_assert_ptr_nonnull(db);
    ck_assert_int_eq(exec_sql(db, "PRAGMA synchronous=NORMAL"), SQLITE_OK);
    for (int64_t i = 1; i <= 40; i++)
        ck_assert_int_eq(insert_row(db, insert_t, i, 0), SQLITE_OK);
    char copy[400];
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    char *sql = sqlite3_mprintf("VACUUM INTO %Q", copy);
    ck_assert_ptr_nonnull(sql);
    ck_assert_int_eq(exec_sql(db, sql), SQLITE_OK);
    sqlite3_free(sql);
    size_t n = 0;
    unsigned char *b = raw_read(copy, &n);
    ck_assert_uint_ge(n, 100);
    ck_assert_mem_eq(b, "SQLite format 3", 16);
    uint32_t page = (uint32_t)b[16] << 8 | b[17];
    uint32_t pages = (uint32_t)b[28] << 24 | (uint32_t)b[29] << 16 | (uint32_t)b[30] << 8 | b[31];
    ck_assert_uint_eq((uint64_t)page * pages, n);
    free(b);
    db_close(db);
}
END_TEST

static Suite *testvfs_suite(void)
{
    Suite *s = suite_create("testvfs");
    TCase *tc = tcase_create("testvfs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_testvfs_installed_is_the_default_vfs);
    tcase_add_test(tc, test_testvfs_unsynced_writes_are_read_back_but_not_on_disk);
    tcase_add_test(tc, test_testvfs_sync_puts_the_writes_on_disk);
    tcase_add_test(tc, test_testvfs_truncation_waits_for_sync_and_reads_zeros_after_it);
    tcase_add_test(tc, test_testvfs_handles_of_one_file_share_one_overlay);
    tcase_add_test(tc, test_testvfs_read_only_handle_refuses_writes);
    tcase_add_test(tc, test_testvfs_last_close_writes_out_what_was_not_synced);
    tcase_add_test(tc, test_testvfs_exists_follows_the_overlay_size);
    tcase_add_test(tc, test_testvfs_deleted_file_comes_back_empty);
    tcase_add_test(tc, test_testvfs_crash_keeps_the_synced_bytes_and_loses_the_rest);
    tcase_add_test(tc, test_testvfs_crash_keeps_commits_made_with_synchronous_full);
    tcase_add_test(tc, test_testvfs_crash_loses_commits_made_without_sync);
    tcase_add_test(tc, test_testvfs_crash_keeps_what_a_checkpoint_synced);
    tcase_add_test(tc, test_testvfs_crash_at_any_commit_leaves_a_durable_prefix_in_wal_mode);
    tcase_add_test(tc, test_testvfs_crash_at_any_commit_leaves_a_durable_prefix_in_rollback_mode);
    tcase_add_test(tc, test_testvfs_crash_keeps_every_synced_commit_of_concurrent_writers);
    tcase_add_test(tc, test_testvfs_vacuum_into_copy_is_on_disk_for_plain_reads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(testvfs_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
