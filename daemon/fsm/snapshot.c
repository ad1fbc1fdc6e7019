/* snapshot.c: snapshots of the state machine: a consistent copy of
 * state.db in one file, made while apply goes on; the checks a file from a
 * peer must pass; and its installation in place of the whole state.
 *
 * The file. VACUUM INTO on a read-only connection of its own copies the
 * database as of one read transaction (WAL: the writer goes on meanwhile)
 * into a new file, compacted, in rollback-journal mode: a single
 * self-contained file, no -wal or -shm beside it. The copy carries the
 * meta row, so its applied index is exactly the state it holds. It is
 * fsync'ed, and its directory too, before fsm_snapshot_create returns.
 *
 * Checking a file. Before SQLite opens it, its 100-byte header must say
 * SQLite, rollback journal (a WAL-mode file would make SQLite create -wal
 * and -shm files and read frames that are not there), and a size that the
 * file has (a copy cut short in transit is refused here, before any page
 * is read); no hot journal may lie beside it (SQLite would roll it back,
 * writing the file). VACUUM INTO writes the copy under a journal of its
 * own, deleted when the copy is complete: a process that dies meanwhile
 * leaves dest and dest-journal, for the caller's clean-up of unfinished
 * files. Then PRAGMA quick_check, the schema version and the
 * tables, and the meta row.
 *
 * Installing. On the writer connection: ATTACH the file, check that it has
 * the same tables with the same columns as state.db, then in one
 * transaction delete every row of every table and copy the file's rows in
 * (INSERT ... SELECT *, which SQLite turns into a page-level copy when the
 * tables match), meta included. Readers see the old state or the new. The
 * commit runs with synchronous=FULL, so the new state is durable when the
 * call returns: the caller may then drop log entries the old state needed.
 * The durable index becomes the installed applied index, also when that
 * is lower than before (an older snapshot); the checkpoint thread is
 * stopped meanwhile, since a checkpoint that began before the install
 * could otherwise raise the durable index back to the old state's. The
 * writer's prepared statements survive ATTACH and DETACH (SQLite prepares
 * them again on their next step). */
#include "fsm_internal.h"
#include "errors.h"
#include "fsync.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The state database format this build reads: fsm.c's FSM_SCHEMA_VERSION
 * (test_fsm_snapshot checks that a fresh snapshot passes). */
#define SNAP_SCHEMA_VERSION 2
#define SNAP_BUSY_TIMEOUT_MS 5000
#define SNAP_SCHEMA "kahuna_snap"          /* the ATTACH name during an install */

/* The tables a state database must have. */
static const char *const snap_tables[] = {
    "meta", "kv", "kv_history", "kv_compacted", "locks", "seqs", "seq_idem", NULL,
};

/* ---- helpers ---- */

/* Logs why path is not a snapshot this build can install; EBADREQ. */
static int refuse(const char *path, const char *why)
{
    log_warn("fsm", "%s is not a state snapshot this kahunad can install: %s", path, why);
    return KAHUNA_EBADREQ;
}

/* The code for a SQLite error while reading a snapshot file: a damaged
 * file or one of another kind is EBADREQ, the rest I/O or memory. */
static int snap_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
    case SQLITE_ERROR:         /* no such table or column */
    case SQLITE_MISMATCH:
    case SQLITE_CONSTRAINT:
    case SQLITE_RANGE:
        return KAHUNA_EBADREQ;
    case SQLITE_NOMEM:
        return KAHUNA_ENOMEM;
    default:
        return KAHUNA_EIO;
    }
}

/* Logs a failed statement on db about path; returns its snap_code. */
static int snap_fail(sqlite3 *db, const char *path, const char *what)
{
    int code = sqlite3_extended_errcode(db);
    int rc = snap_code(code);
    if (rc == KAHUNA_EBADREQ)
        return refuse(path, sqlite3_errmsg(db));
    log_error("fsm", "%s: %s failed: %s (%d): check the disk holding the data dir", path, what,
              sqlite3_errmsg(db), code);
    return rc;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* The checks on the file header, before SQLite opens path (top of file). */
static int snap_header_check(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error("fsm", "cannot open the snapshot %s: %s", path, strerror(errno));
        return KAHUNA_EIO;
    }
    struct stat st;
    uint8_t h[100];
    ssize_t got = -1;
    int err = 0;
    if (fstat(fd, &st) != 0)
        err = errno;
    else if ((got = pread(fd, h, sizeof h, 0)) < 0)
        err = errno;
    close(fd);     /* no SQLite connection of ours has this file open yet */
    if (err) {
        log_error("fsm", "cannot read the snapshot %s: %s", path, strerror(err));
        return KAHUNA_EIO;
    }
    if (got != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return refuse(path, "not an SQLite database");
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || page > 65536 || (page & (page - 1)) != 0)
        return refuse(path, "bad page size");
    if (h[18] != 1 || h[19] != 1)
        return refuse(path, "not in rollback-journal mode");
    uint32_t pages = be32(h + 28);
    if (be32(h + 24) != be32(h + 92) || pages == 0)
        return refuse(path, "its header does not give its size");
    if ((uint64_t)pages * page != (uint64_t)st.st_size)
        return refuse(path, "its size is not the size its header gives (truncated?)");
    size_t n = strlen(path);
    char *journal = malloc(n + sizeof "-journal");
    if (!journal)
        return KAHUNA_ENOMEM;
    memcpy(journal, path, n);
    memcpy(journal + n, "-journal", sizeof "-journal");
    int hot = stat(journal, &st) == 0 && st.st_size > 0;
    free(journal);
    if (hot)
        return refuse(path, "a journal lies beside it");
    return 0;
}

static int snap_open_ro(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("fsm", "cannot open %s: %s: check the data dir and its permissions", path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return db ? KAHUNA_EIO : KAHUNA_ENOMEM;
    }
    if (sqlite3_extended_result_codes(db, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(db, SNAP_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        log_error("fsm", "%s: configuring a connection failed: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return KAHUNA_EIO;
    }
    *out = db;
    return 0;
}

/* Runs a one-row query on db; *out = its first column as an integer.
 * No row: KAHUNA_ENOTFOUND. Errors: snap_fail's code. */
static int snap_int(sqlite3 *db, const char *path, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return snap_fail(db, path, sql);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = KAHUNA_ENOTFOUND;
    } else {
        rc = snap_fail(db, path, sql);
    }
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    return rc;
}

/* The applied index in the meta row of path (open on db). */
static int snap_applied(sqlite3 *db, const char *path, uint64_t *index)
{
    int64_t v = 0;
    int rc = snap_int(db, path, "SELECT applied_index FROM meta WHERE id = 1", &v);
    if (rc == KAHUNA_ENOTFOUND || (rc == 0 && v < 0))
        return refuse(path, "no valid meta row");
    if (rc == 0)
        *index = (uint64_t)v;
    return rc;
}

/* ---- create ---- */

int fsm_snapshot_create(const char *state_path, const char *dest_path, uint64_t *index)
{
    *index = 0;
    struct stat st;
    if (lstat(dest_path, &st) == 0) {
        log_error("fsm", "snapshot file %s exists already: a bug; remove it", dest_path);
        return KAHUNA_EBADREQ;
    }
    if (errno != ENOENT) {
        log_error("fsm", "cannot create the snapshot %s: %s", dest_path, strerror(errno));
        return KAHUNA_EIO;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st_v = NULL;
    int rc = snap_open_ro(state_path, &db);
    if (!rc && (sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st_v, NULL) != SQLITE_OK ||
                sqlite3_bind_text(st_v, 1, dest_path, -1, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_step(st_v) != SQLITE_DONE)) {
        int code = sqlite3_extended_errcode(db);
        log_error("fsm", "copying %s into the snapshot %s failed: %s (%d): check free space and "
                  "the disk holding the data dir", state_path, dest_path, sqlite3_errmsg(db), code);
        rc = (code & 0xff) == SQLITE_NOMEM ? KAHUNA_ENOMEM : KAHUNA_EIO;
    }
    (void)sqlite3_finalize(st_v);  /* repeats the step's error, handled */
    if (db && sqlite3_close(db) != SQLITE_OK && !rc) {
        log_error("fsm", "closing a connection to %s failed: %s", state_path, sqlite3_errmsg(db));
        rc = KAHUNA_EIO;
    }
    /* what a peer will check, on our own copy: a failure here is ours */
    if (!rc && (rc = snap_header_check(dest_path)) == KAHUNA_EBADREQ) {
        log_error("fsm", "the snapshot %s that VACUUM INTO wrote is not self-contained: a bug "
                  "(or a SQLite that behaves otherwise); report it", dest_path);
        rc = KAHUNA_EIO;
    }
    if (!rc && !(rc = snap_open_ro(dest_path, &db))) {
        rc = snap_applied(db, dest_path, index);
        if (sqlite3_close(db) != SQLITE_OK && !rc)
            rc = KAHUNA_EIO;
        if (rc == KAHUNA_EBADREQ)
            rc = KAHUNA_EIO;
    }
    if (!rc)
        rc = fsync_path(dest_path, 0);
    if (!rc)
        rc = fsync_parent_dir(dest_path);
    if (rc) {
        *index = 0;
        if (unlink(dest_path) != 0 && errno != ENOENT)
            log_warn("fsm", "cannot remove the failed snapshot %s: %s", dest_path, strerror(errno));
        /* VACUUM INTO writes the copy under a rollback journal of its own */
        char *journal = sqlite3_mprintf("%s-journal", dest_path);
        if (journal)
            (void)unlink(journal);
        sqlite3_free(journal);
    }
    return rc;
}

/* ---- check ---- */

int fsm_snapshot_check(const char *path, uint64_t *index)
{
    *index = 0;
    int rc = snap_header_check(path);
    if (rc)
        return rc;
    sqlite3 *db = NULL;
    if ((rc = snap_open_ro(path, &db)))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) {
        rc = snap_fail(db, path, "PRAGMA quick_check");
    } else {
        int s = sqlite3_step(st);
        const unsigned char *txt = s == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        if (s != SQLITE_ROW)
            rc = snap_fail(db, path, "PRAGMA quick_check");
        else if (!txt || strcmp((const char *)txt, "ok") != 0)
            rc = refuse(path, txt ? (const char *)txt : "quick_check failed");
    }
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    int64_t version = 0;
    if (!rc && !(rc = snap_int(db, path, "PRAGMA user_version", &version)) &&
        version != SNAP_SCHEMA_VERSION)
        rc = refuse(path, "a state database format this kahunad does not know");
    for (const char *const *t = snap_tables; !rc && *t; t++) {
        char *sql = sqlite3_mprintf("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                    "AND name = '%q'", *t);
        int64_t n = 0;
        rc = sql ? snap_int(db, path, sql, &n) : KAHUNA_ENOMEM;
        sqlite3_free(sql);
        if (!rc && n != 1)
            rc = refuse(path, "a state table is missing");
    }
    if (!rc)
        rc = snap_applied(db, path, index);
    if (sqlite3_close(db) != SQLITE_OK && !rc)
        rc = KAHUNA_EIO;
    if (rc)
        *index = 0;
    return rc;
}

/* ---- install ---- */

static int exec_w(fsm *f, const char *path, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(f->db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    int code = sqlite3_extended_errcode(f->db);
    log_error("fsm", "installing the snapshot %s: %s failed: %s (%d)", path, sql,
              err ? err : sqlite3_errmsg(f->db), code);
    sqlite3_free(err);
    return (code & 0xff) == SQLITE_NOMEM ? KAHUNA_ENOMEM : KAHUNA_EIO;
}

/* The names of schema's tables (not SQLite's own), sorted, as one string
 * "a\nb\n" in *out (sqlite3_malloc'd: sqlite3_free). */
static int table_names(sqlite3 *db, const char *path, const char *schema, char **out)
{
    *out = NULL;
    char *sql = sqlite3_mprintf("SELECT name FROM \"%w\".sqlite_schema WHERE type = 'table' "
                                "AND name NOT LIKE 'sqlite\\_%%' ESCAPE '\\' ORDER BY name", schema);
    if (!sql)
        return KAHUNA_ENOMEM;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK ? 0 : snap_fail(db, path, sql);
    sqlite3_free(sql);
    sqlite3_str *s = sqlite3_str_new(db);
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
        sqlite3_str_appendf(s, "%s\n", (const char *)sqlite3_column_text(st, 0));
    if (!rc && step != SQLITE_DONE)
        rc = snap_fail(db, path, "listing the tables");
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    if (!rc && sqlite3_str_errcode(s) != SQLITE_OK)
        rc = KAHUNA_ENOMEM;
    char *names = sqlite3_str_finish(s);
    if (rc) {
        sqlite3_free(names);
        return rc;
    }
    *out = names ? names : sqlite3_mprintf("%s", "");
    return *out ? 0 : KAHUNA_ENOMEM;
}

/* The columns of schema.table (name, type, not null, primary key), in
 * order, as one string (sqlite3_malloc'd). */
static int table_columns(sqlite3 *db, const char *path, const char *schema, const char *table,
                         char **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, ?2) ORDER BY cid";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return snap_fail(db, path, sql);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, schema, -1, SQLITE_STATIC);
    sqlite3_str *s = sqlite3_str_new(db);
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        sqlite3_str_appendf(s, "%s %s %d %d,", (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2),
                            sqlite3_column_int(st, 3));
    if (step != SQLITE_DONE)
        rc = snap_fail(db, path, "reading the columns of a table");
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    if (!rc && sqlite3_str_errcode(s) != SQLITE_OK)
        rc = KAHUNA_ENOMEM;
    char *cols = sqlite3_str_finish(s);
    if (rc) {
        sqlite3_free(cols);
        return rc;
    }
    *out = cols ? cols : sqlite3_mprintf("%s", "");
    return *out ? 0 : KAHUNA_ENOMEM;
}

/* The attached snapshot has the schema version, tables and columns of
 * state.db. *tables: main's table names ("a\nb\n", sqlite3_free). */
static int schema_match(fsm *f, const char *path, char **tables)
{
    *tables = NULL;
    int64_t mine = 0, theirs = -1;
    int rc = snap_int(f->db, path, "PRAGMA main.user_version", &mine);
    if (!rc)
        rc = snap_int(f->db, path, "PRAGMA " SNAP_SCHEMA ".user_version", &theirs);
    if (!rc && mine != theirs)
        return refuse(path, "another state database format than this node's");
    char *snap_names = NULL;
    if (!rc)
        rc = table_names(f->db, path, "main", tables);
    if (!rc)
        rc = table_names(f->db, path, SNAP_SCHEMA, &snap_names);
    if (!rc && strcmp(*tables, snap_names) != 0)
        rc = refuse(path, "other tables than this node's state database");
    sqlite3_free(snap_names);
    for (char *t = *tables; !rc && t && *t;) {
        char *nl = strchr(t, '\n');
        *nl = '\0';
        char *a = NULL, *b = NULL;
        rc = table_columns(f->db, path, "main", t, &a);
        if (!rc)
            rc = table_columns(f->db, path, SNAP_SCHEMA, t, &b);
        if (!rc && strcmp(a, b) != 0)
            rc = refuse(path, "a table with other columns than this node's");
        sqlite3_free(a);
        sqlite3_free(b);
        *nl = '\n';
        t = nl + 1;
    }
    if (rc) {
        sqlite3_free(*tables);
        *tables = NULL;
    }
    return rc;
}

/* The meta row as the writer sees it (inside the install transaction). */
typedef struct snap_meta {
    uint64_t applied_index, applied_term;
    int64_t revision, kv_count;
} snap_meta;

static int read_meta(fsm *f, const char *path, snap_meta *m)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT applied_index, applied_term, revision, kv_count FROM main.meta WHERE id = 1";
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        return snap_fail(f->db, path, sql);
    int step = sqlite3_step(st), rc = 0;
    if (step == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(st, 0), term = sqlite3_column_int64(st, 1);
        m->revision = sqlite3_column_int64(st, 2);
        m->kv_count = sqlite3_column_int64(st, 3);
        if (idx < 0 || term < 0 || m->revision < 0 || m->kv_count < 0)
            rc = refuse(path, "a meta row with negative figures");
        m->applied_index = (uint64_t)idx;
        m->applied_term = (uint64_t)term;
    } else if (step == SQLITE_DONE) {
        rc = refuse(path, "no meta row");
    } else {
        rc = snap_fail(f->db, path, sql);
    }
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    return rc;
}

/* In one transaction: every table of main emptied and filled from the
 * snapshot (tables: "a\nb\n"). *m: the new meta row. */
static int copy_tables(fsm *f, const char *path, char *tables, snap_meta *m)
{
    int rc = exec_w(f, path, "BEGIN IMMEDIATE");
    for (char *t = tables; !rc && *t;) {
        char *nl = strchr(t, '\n');
        *nl = '\0';
        char *sql = sqlite3_mprintf("DELETE FROM main.\"%w\"; INSERT INTO main.\"%w\" SELECT * FROM "
                                    SNAP_SCHEMA ".\"%w\";", t, t, t);
        *nl = '\n';
        t = nl + 1;
        if (!sql) {
            rc = KAHUNA_ENOMEM;
            break;
        }
        char *err = NULL;
        if (sqlite3_exec(f->db, sql, NULL, NULL, &err) != SQLITE_OK) {
            rc = snap_code(sqlite3_extended_errcode(f->db));
            if (rc == KAHUNA_EBADREQ)
                refuse(path, err ? err : sqlite3_errmsg(f->db));
            else
                log_error("fsm", "installing the snapshot %s failed: %s: check the disk holding "
                          "the data dir", path, err ? err : sqlite3_errmsg(f->db));
            sqlite3_free(err);
        }
        sqlite3_free(sql);
    }
    if (!rc)
        rc = read_meta(f, path, m);
    if (!rc)
        rc = exec_w(f, path, "COMMIT");
    if (rc && !sqlite3_get_autocommit(f->db))
        (void)exec_w(f, path, "ROLLBACK");
    return rc;
}

/* The install proper, with the checkpoint thread stopped. *installed: the
 * new state was committed (even when a later step failed). */
static int install(fsm *f, const char *path, int *installed)
{
    *installed = 0;
    int64_t sync = 1;
    int rc = snap_int(f->db, path, "PRAGMA main.synchronous", &sync);
    if (rc)
        return rc == KAHUNA_EBADREQ ? KAHUNA_EIO : rc;
    if ((rc = exec_w(f, path, "PRAGMA main.synchronous = FULL")))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, "ATTACH ?1 AS " SNAP_SCHEMA, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE)
        rc = snap_fail(f->db, path, "ATTACH");
    (void)sqlite3_finalize(st);    /* repeats the step's error, handled */
    int attached = !rc;
    char *tables = NULL;
    snap_meta m;
    memset(&m, 0, sizeof m);
    if (!rc)
        rc = schema_match(f, path, &tables);
    if (!rc)
        rc = copy_tables(f, path, tables, &m);
    sqlite3_free(tables);
    *installed = !rc;
    if (*installed) {
        f->applied_index = m.applied_index;
        f->applied_term = m.applied_term;
        f->revision = m.revision;
        f->kv_count = m.kv_count;
    }
    int rc2 = attached ? exec_w(f, path, "DETACH " SNAP_SCHEMA) : 0;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA main.synchronous = %d", (int)sync);
    int rc3 = exec_w(f, path, pragma);
    if (!rc)
        rc = rc2 ? rc2 : rc3;
    return rc;
}

int fsm_snapshot_install(fsm *f, const char *path)
{
    int rc = snap_header_check(path);
    if (rc)
        return rc;
    int restart = f->ckpt != NULL;
    fsm_checkpointer_stop(f);
    int installed = 0;
    rc = install(f, path, &installed);
    if (installed) {
        /* committed with synchronous=FULL: durable (see the top of file) */
        atomic_store(&f->committed_index, f->applied_index);
        atomic_store(&f->durable_index, f->applied_index);
    }
    if (restart) {
        int rc2 = fsm_checkpointer_start(f, f->ckpt_interval_ms, f->ckpt_restart_bytes);
        if (rc2 && !rc)
            rc = rc2;
    }
    if (rc == 0)
        log_info("fsm", "installed the snapshot %s: applied index %llu, revision %lld", path,
                 (unsigned long long)f->applied_index, (long long)f->revision);
    return rc;
}
