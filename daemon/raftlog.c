/* raftlog.c: the Raft log and hard state in SQLite (raft.db).
 *
 * What is durable when (docs/raft.md):
 *  - The connection runs journal_mode=WAL with synchronous=FULL: SQLite
 *    fsyncs the WAL at every COMMIT, so an append or a hard-state save is on
 *    disk when the call returns. A torn tail of the WAL (crash in the middle
 *    of a commit) is ignored by SQLite's recovery: a transaction is either
 *    all there or not at all.
 *  - raftlog_append writes a batch, and the removal of a conflicting suffix,
 *    in one BEGIN IMMEDIATE ... COMMIT: one fsync per batch (group commit).
 *    raftlog_write does the same for a whole Raft update: snapshot point,
 *    suffix removal, entries and hard state in one transaction.
 *  - Committed entries are never overwritten: an append that would truncate
 *    at or below the saved commit index is refused as corruption.
 *  - The data directory is fsync'ed once after raft.db and its WAL exist, so
 *    the files themselves survive a power loss.
 *  - Checkpoints run inside commits every few thousand WAL pages (SQLite's
 *    autocheckpoint, raised from its default so that it is rare); the WAL
 *    is trimmed back to journal_size_limit afterwards.
 *
 * Integrity: every entry row carries a CRC32 of (index, term, type, data)
 * and the meta row a CRC32 of its fields; both are checked on every read.
 * Any SQLite error, checksum mismatch or gap is KAHUNA_EIO plus one log line
 * saying what to do: the caller must stop the node, never go on with a log
 * it cannot trust.
 *
 * Tables (format 2; a format 1 file gains the last two tables and is
 * marked format 2 when opened, in the open transaction):
 *   meta(id=1, format, node_id, term, vote, commit_index, snap_index,
 *        snap_term, crc)      hard state and the compaction point
 *   entries(idx PRIMARY KEY, term, type, data, crc)
 *   snapshot(id=1, idx, term, config, crc)
 *                             the snapshot meta (no row: none)
 *   cluster(id=1, cluster_id, crc)
 *                             the cluster id (no row: not set)
 * The log holds the entries snap_index+1 .. last_index, without gaps.
 * Two points, kept apart: the compaction point (meta.snap_index: no entry
 * at or below it) and the snapshot meta (the state machine at snapshot.idx,
 * kept in a state file beside raft.db). A snapshot received from the leader
 * moves both at once (raftlog_write); a local snapshot is recorded first
 * (raftlog_save_snapshot) and the log compacted later, never past it. So
 * compaction point <= snapshot.idx <= last_index whenever a snapshot is
 * stored, and entries at or below snapshot.idx are never replaced. */
#include "raftlog.h"
#include "fsync.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAFTLOG_FORMAT 2               /* 1: no snapshot and cluster tables */
#define RAFTLOG_AUTOCHECKPOINT_PAGES 8192          /* about 32 MiB of WAL */
#define RAFTLOG_JOURNAL_SIZE_LIMIT (64 * 1024 * 1024)

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_DELETE_FROM,
    ST_DELETE_UPTO,
    ST_SELECT_RANGE,
    ST_SELECT_ONE,
    ST_UPDATE_META,
    ST_DELETE_ALL,
    ST_PUT_SNAPSHOT,
    ST_PUT_CLUSTER,
    ST_COUNT_
};

static const char *const stmt_sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO entries (idx, term, type, data, crc) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_DELETE_FROM] = "DELETE FROM entries WHERE idx >= ?1",
    [ST_DELETE_UPTO] = "DELETE FROM entries WHERE idx <= ?1",
    [ST_SELECT_RANGE] = "SELECT idx, term, type, data, crc FROM entries WHERE idx >= ?1 AND idx <= ?2 ORDER BY idx",
    [ST_SELECT_ONE] = "SELECT idx, term, type, data, crc FROM entries WHERE idx = ?1",
    [ST_UPDATE_META] = "UPDATE meta SET term = ?1, vote = ?2, commit_index = ?3, snap_index = ?4, "
                       "snap_term = ?5, crc = ?6 WHERE id = 1",
    [ST_DELETE_ALL] = "DELETE FROM entries",
    [ST_PUT_SNAPSHOT] = "INSERT OR REPLACE INTO snapshot (id, idx, term, config, crc) "
                        "VALUES (1, ?1, ?2, ?3, ?4)",
    [ST_PUT_CLUSTER] = "INSERT OR REPLACE INTO cluster (id, cluster_id, crc) VALUES (1, ?1, ?2)",
};

struct raftlog {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT_];
    char *path;
    char *node_id;
    raftlog_hardstate hs;
    uint64_t snap_index;      /* compaction point: entries <= snap_index are gone */
    uint64_t snap_term;
    uint64_t last_index;
    uint64_t last_term;
    raftlog_snapshot snap;    /* the stored snapshot meta (index 0: none) */
    uint64_t cluster_id;      /* 0: not set */
};

/* ---- CRC32 (IEEE 802.3, reflected), slice-by-8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc_update(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        uint32_t hi = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t entry_crc(uint64_t index, uint64_t term, uint8_t type, const uint8_t *data, size_t len)
{
    uint8_t hdr[17];
    put_u64(hdr, index);
    put_u64(hdr + 8, term);
    hdr[16] = type;
    uint32_t c = crc_update(0, hdr, sizeof hdr);
    return crc_update(c, data, len);
}

static uint32_t meta_crc(const char *node_id, const raftlog_hardstate *hs, uint64_t snap_index,
                         uint64_t snap_term)
{
    uint8_t b[32];
    put_u64(b, hs->term);
    put_u64(b + 8, hs->commit);
    put_u64(b + 16, snap_index);
    put_u64(b + 24, snap_term);
    uint32_t c = crc_update(0, b, sizeof b);
    c = crc_update(c, node_id, strlen(node_id) + 1);
    return crc_update(c, hs->vote, strlen(hs->vote) + 1);
}

static uint32_t snapshot_crc(uint64_t index, uint64_t term, const uint8_t *config, size_t len)
{
    uint8_t b[16];
    put_u64(b, index);
    put_u64(b + 8, term);
    return crc_update(crc_update(0, b, sizeof b), config, len);
}

static uint32_t cluster_crc(uint64_t id)
{
    uint8_t b[8];
    put_u64(b, id);
    return crc_update(0, b, sizeof b);
}

/* ---- errors ---- */

/* Logs a storage failure with what to do, returns KAHUNA_EIO. */
static int db_fail(const raftlog *l, const char *what)
{
    int code = l->db ? sqlite3_extended_errcode(l->db) : SQLITE_ERROR;
    const char *msg = l->db ? sqlite3_errmsg(l->db) : "cannot open";
    const char *todo = "check the disk (permissions, errors in dmesg) and restart kahunad";
    if ((code & 0xff) == SQLITE_FULL)
        todo = "free disk space, then restart kahunad";
    else if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB)
        todo = "the file is damaged: restore this node's data dir from a backup, or remove it and "
               "let the node rejoin empty";
    else if ((code & 0xff) == SQLITE_READONLY || (code & 0xff) == SQLITE_CANTOPEN ||
             (code & 0xff) == SQLITE_PERM)
        todo = "make the data dir and its files writable by kahunad's user, then restart kahunad";
    log_error("raftlog", "%s: %s failed: %s (sqlite %d): %s", l->path, what, msg, code, todo);
    return KAHUNA_EIO;
}

/* Logs damage found by our own checks, returns KAHUNA_EIO. */
static int corrupt(const raftlog *l, const char *what, uint64_t index)
{
    char at[48] = "";
    if (index)
        snprintf(at, sizeof at, " (entry %llu)", (unsigned long long)index);
    log_error("raftlog", "%s: %s%s: the Raft log is damaged; restore this node's data dir from a "
              "backup, or remove it and let the node rejoin empty", l->path, what, at);
    return KAHUNA_EIO;
}

static int exec_sql(raftlog *l, const char *sql, const char *what)
{
    char *emsg = NULL;
    int rc = sqlite3_exec(l->db, sql, NULL, NULL, &emsg);
    sqlite3_free(emsg);
    return rc == SQLITE_OK ? 0 : db_fail(l, what);
}

static int step_done(raftlog *l, int st, const char *what)
{
    sqlite3_stmt *s = l->st[st];
    int rc = sqlite3_step(s);
    int ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
    if (!ok) {
        db_fail(l, what);
        sqlite3_reset(s);
        return KAHUNA_EIO;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return 0;
}

static int txn_begin(raftlog *l) { return step_done(l, ST_BEGIN, "BEGIN IMMEDIATE"); }

static int txn_commit(raftlog *l)
{
    int rc = step_done(l, ST_COMMIT, "COMMIT");
    if (rc && !sqlite3_get_autocommit(l->db))
        step_done(l, ST_ROLLBACK, "ROLLBACK");
    return rc;
}

static void txn_rollback(raftlog *l)
{
    if (!sqlite3_get_autocommit(l->db))
        step_done(l, ST_ROLLBACK, "ROLLBACK");
}

/* ---- open ---- */

static int pragma_text(raftlog *l, const char *sql, const char *want)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(l, sql);
    int rc = sqlite3_step(s);
    int ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (ok && want) {
        const unsigned char *got = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
        ok = got && strcmp((const char *)got, want) == 0;
        if (!ok) {
            log_error("raftlog", "%s: %s answered '%s', not '%s': this file system cannot give "
                      "kahuna's durability; put the data dir on a local disk",
                      l->path, sql, got ? (const char *)got : "", want);
            sqlite3_finalize(s);
            return KAHUNA_EIO;
        }
    }
    if (!ok) {
        db_fail(l, sql);
        sqlite3_finalize(s);
        return KAHUNA_EIO;
    }
    sqlite3_finalize(s);
    return 0;
}


static int write_meta(raftlog *l, const raftlog_hardstate *hs, uint64_t snap_index, uint64_t snap_term)
{
    sqlite3_stmt *s = l->st[ST_UPDATE_META];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)hs->term);
    sqlite3_bind_text(s, 2, hs->vote, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)hs->commit);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)snap_index);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)snap_term);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)meta_crc(l->node_id, hs, snap_index, snap_term));
    int rc = step_done(l, ST_UPDATE_META, "writing the hard state");
    if (rc == 0 && sqlite3_changes(l->db) != 1)
        return corrupt(l, "the meta row is missing", 0);
    return rc;
}

/* Reads the meta row, creating it for a new file. */
static int load_meta(raftlog *l, const char *node_id)
{
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT format, node_id, term, vote, commit_index, snap_index, snap_term, crc "
                      "FROM meta WHERE id = 1";
    if (sqlite3_prepare_v2(l->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(l, "reading the meta row");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        if (sqlite3_prepare_v2(l->db, "INSERT INTO meta (id, format, node_id, term, vote, commit_index, "
                               "snap_index, snap_term, crc) VALUES (1, ?1, ?2, 0, '', 0, 0, 0, ?3)",
                               -1, &s, NULL) != SQLITE_OK)
            return db_fail(l, "creating the meta row");
        memset(&l->hs, 0, sizeof l->hs);
        sqlite3_bind_int(s, 1, RAFTLOG_FORMAT);
        sqlite3_bind_text(s, 2, node_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)meta_crc(node_id, &l->hs, 0, 0));
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return db_fail(l, "creating the meta row");
        l->snap_index = l->snap_term = 0;
        return 0;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return db_fail(l, "reading the meta row");
    }
    int format = sqlite3_column_int(s, 0);
    const char *owner = (const char *)sqlite3_column_text(s, 1);
    const char *vote = (const char *)sqlite3_column_text(s, 3);
    if (format != RAFTLOG_FORMAT && format != 1) {
        log_error("raftlog", "%s: log format %d is not one this kahunad knows (1..%d); run the "
                  "kahunad version that wrote it", l->path, format, RAFTLOG_FORMAT);
        sqlite3_finalize(s);
        return KAHUNA_EIO;
    }
    if (!owner || !vote || strlen(vote) >= sizeof l->hs.vote) {
        sqlite3_finalize(s);
        return corrupt(l, "the meta row is malformed", 0);
    }
    if (strcmp(owner, node_id) != 0) {
        log_debug("raftlog", "%s belongs to node '%s', not '%s'", l->path, owner, node_id);
        sqlite3_finalize(s);
        return KAHUNA_EMISMATCH;
    }
    l->hs.term = (uint64_t)sqlite3_column_int64(s, 2);
    snprintf(l->hs.vote, sizeof l->hs.vote, "%s", vote);
    l->hs.commit = (uint64_t)sqlite3_column_int64(s, 4);
    l->snap_index = (uint64_t)sqlite3_column_int64(s, 5);
    l->snap_term = (uint64_t)sqlite3_column_int64(s, 6);
    uint32_t crc = (uint32_t)sqlite3_column_int64(s, 7);
    sqlite3_finalize(s);
    if (crc != meta_crc(node_id, &l->hs, l->snap_index, l->snap_term))
        return corrupt(l, "the hard state fails its checksum", 0);
    if (format == 1) {
        /* the single-node build's file: the new tables were just created
         * empty (no snapshot meta, no cluster id), in this transaction */
        if ((rc = exec_sql(l, "UPDATE meta SET format = 2 WHERE id = 1", "upgrading to format 2")))
            return rc;
        log_info("raftlog", "%s: upgraded from format 1 to format 2 (snapshots, cluster id)", l->path);
    }
    return 0;
}

/* Reads the snapshot meta and the cluster id rows (CRC-checked). */
static int load_extra(raftlog *l)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT idx, term, config, crc FROM snapshot WHERE id = 1", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(l, "reading the snapshot meta");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        uint64_t index = (uint64_t)sqlite3_column_int64(s, 0);
        uint64_t term = (uint64_t)sqlite3_column_int64(s, 1);
        const void *blob = sqlite3_column_blob(s, 2);
        int len = sqlite3_column_bytes(s, 2);
        uint32_t crc = (uint32_t)sqlite3_column_int64(s, 3);
        uint8_t *config = NULL;
        if (len > 0 && !blob) {
            sqlite3_finalize(s);
            return KAHUNA_ENOMEM;
        }
        if (len > 0 && !(config = malloc((size_t)len))) {
            sqlite3_finalize(s);
            return KAHUNA_ENOMEM;
        }
        if (len > 0)
            memcpy(config, blob, (size_t)len);
        sqlite3_finalize(s);
        size_t n = len > 0 ? (size_t)len : 0;
        if (index == 0 || crc != snapshot_crc(index, term, config, n)) {
            free(config);
            return corrupt(l, "the snapshot meta fails its checksum", 0);
        }
        l->snap = (raftlog_snapshot){index, term, config, n};
    } else {
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            return db_fail(l, "reading the snapshot meta");
    }
    if (sqlite3_prepare_v2(l->db, "SELECT cluster_id, crc FROM cluster WHERE id = 1", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(l, "reading the cluster id");
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64(s, 0);
        uint32_t crc = (uint32_t)sqlite3_column_int64(s, 1);
        sqlite3_finalize(s);
        if (id == 0 || crc != cluster_crc(id))
            return corrupt(l, "the cluster id fails its checksum", 0);
        l->cluster_id = id;
        return 0;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(l, "reading the cluster id");
}

/* Reads one row of a stepped SELECT into e (data malloc'd), checking its CRC. */
static int read_row(raftlog *l, sqlite3_stmt *s, raftlog_entry *e)
{
    e->index = (uint64_t)sqlite3_column_int64(s, 0);
    e->term = (uint64_t)sqlite3_column_int64(s, 1);
    int type = sqlite3_column_int(s, 2);
    const void *blob = sqlite3_column_blob(s, 3);
    int len = sqlite3_column_bytes(s, 3);
    uint32_t crc = (uint32_t)sqlite3_column_int64(s, 4);
    if (type < 0 || type > 255 || len < 0)
        return corrupt(l, "an entry has a bad type or length", e->index);
    e->type = (uint8_t)type;
    e->len = (size_t)len;
    e->data = malloc(e->len ? e->len : 1);
    if (!e->data)
        return KAHUNA_ENOMEM;
    if (len)
        memcpy(e->data, blob, e->len);
    if (entry_crc(e->index, e->term, e->type, e->data, e->len) != crc) {
        free(e->data);
        e->data = NULL;
        return corrupt(l, "an entry fails its checksum", e->index);
    }
    return 0;
}

/* Reads entry index (CRC-checked). ENOTFOUND when there is no such row. */
static int read_one(raftlog *l, uint64_t index, raftlog_entry *e)
{
    sqlite3_stmt *s = l->st[ST_SELECT_ONE];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)index);
    int rc = sqlite3_step(s);
    int out;
    if (rc == SQLITE_ROW)
        out = read_row(l, s, e);
    else if (rc == SQLITE_DONE)
        out = KAHUNA_ENOTFOUND;
    else
        out = db_fail(l, "reading an entry");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

static int load_bounds(raftlog *l)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT min(idx), max(idx), count(*) FROM entries", -1, &s, NULL) != SQLITE_OK)
        return db_fail(l, "reading the log bounds");
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return db_fail(l, "reading the log bounds");
    }
    int empty = sqlite3_column_type(s, 0) == SQLITE_NULL;
    uint64_t lo = (uint64_t)sqlite3_column_int64(s, 0);
    uint64_t hi = (uint64_t)sqlite3_column_int64(s, 1);
    uint64_t count = (uint64_t)sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    if (empty) {
        l->last_index = l->snap_index;
        l->last_term = l->snap_term;
        return 0;
    }
    if (lo != l->snap_index + 1)
        return corrupt(l, "the first entry does not follow the compaction point", lo);
    if (count != hi - lo + 1)
        return corrupt(l, "the log has a gap", lo);
    raftlog_entry e;
    int rc = read_one(l, hi, &e);
    if (rc == KAHUNA_ENOTFOUND)
        return corrupt(l, "the last entry vanished", hi);
    if (rc)
        return rc;
    free(e.data);
    if (e.term < l->snap_term)
        return corrupt(l, "the last entry's term is below the compaction point's", hi);
    l->last_index = hi;
    l->last_term = e.term;
    return 0;
}

int raftlog_open(const char *path, const char *node_id, raftlog **out)
{
    pthread_once(&crc_once, crc_init);
    *out = NULL;
    raftlog *l = calloc(1, sizeof *l);
    if (!l)
        return KAHUNA_ENOMEM;
    l->path = strdup(path);
    l->node_id = strdup(node_id);
    if (!l->path || !l->node_id) {
        raftlog_close(l);
        return KAHUNA_ENOMEM;
    }
    int rc;
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_fail(l, "opening");
        raftlog_close(l);
        return rc;
    }
    sqlite3_extended_result_codes(l->db, 1);
    char sql[128];
    if ((rc = exec_sql(l, "PRAGMA busy_timeout = 10000", "setting busy_timeout")) ||
        (rc = pragma_text(l, "PRAGMA journal_mode = WAL", "wal")) ||
        (rc = exec_sql(l, "PRAGMA synchronous = FULL", "setting synchronous=FULL")))
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %d", RAFTLOG_JOURNAL_SIZE_LIMIT);
    if ((rc = pragma_text(l, sql, NULL)))
        goto fail;
    if (sqlite3_wal_autocheckpoint(l->db, RAFTLOG_AUTOCHECKPOINT_PAGES) != SQLITE_OK) {
        rc = db_fail(l, "setting wal_autocheckpoint");
        goto fail;
    }
    if ((rc = exec_sql(l, "BEGIN IMMEDIATE", "BEGIN")))
        goto fail;
    rc = exec_sql(l,
                  "CREATE TABLE IF NOT EXISTS meta ("
                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                  " format INTEGER NOT NULL, node_id TEXT NOT NULL,"
                  " term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL,"
                  " snap_index INTEGER NOT NULL, snap_term INTEGER NOT NULL, crc INTEGER NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS entries ("
                  " idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL,"
                  " data BLOB NOT NULL, crc INTEGER NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS snapshot ("
                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                  " idx INTEGER NOT NULL, term INTEGER NOT NULL, config BLOB NOT NULL,"
                  " crc INTEGER NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS cluster ("
                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                  " cluster_id INTEGER NOT NULL, crc INTEGER NOT NULL);",
                  "creating the tables");
    if (rc == 0)
        rc = load_meta(l, node_id);
    if (rc == 0)
        rc = load_extra(l);
    if (rc) {
        exec_sql(l, "ROLLBACK", "ROLLBACK");
        goto fail;
    }
    if ((rc = exec_sql(l, "COMMIT", "COMMIT")))
        goto fail;
    if ((rc = fsync_parent_dir(path)))
        goto fail;
    for (int i = 0; i < ST_COUNT_; i++)
        if (sqlite3_prepare_v3(l->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL) != SQLITE_OK) {
            rc = db_fail(l, "preparing statements");
            goto fail;
        }
    if ((rc = load_bounds(l)))
        goto fail;
    if (l->snap.index && (l->snap.index < l->snap_index || l->snap.index > l->last_index)) {
        rc = corrupt(l, "the snapshot point lies outside the log", l->snap.index);
        goto fail;
    }
    *out = l;
    return 0;
fail:
    raftlog_close(l);
    return rc;
}

int raftlog_read_node_id(const char *path, char **out)
{
    *out = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = KAHUNA_EIO;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT node_id FROM meta WHERE id = 1", -1, &s, NULL) == SQLITE_OK) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW && sqlite3_column_text(s, 0)) {
            *out = strdup((const char *)sqlite3_column_text(s, 0));
            rc = *out ? 0 : KAHUNA_ENOMEM;
        } else if (step == SQLITE_DONE) {
            rc = KAHUNA_ENOTFOUND;
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

void raftlog_close(raftlog *l)
{
    if (!l)
        return;
    for (int i = 0; i < ST_COUNT_; i++)
        sqlite3_finalize(l->st[i]);
    if (l->db && sqlite3_close(l->db) != SQLITE_OK)
        log_warn("raftlog", "%s: close: %s", l->path, sqlite3_errmsg(l->db));
    raftlog_snapshot_free(&l->snap);
    free(l->path);
    free(l->node_id);
    free(l);
}

/* ---- append and write ---- */

/* Checks that entries[0..n) (n >= 1) may go into a log whose entries at or
 * below floor are fixed (compacted or in the snapshot) and whose last index
 * is last: they start in floor+1 .. last+1, are consecutive with terms that
 * never go down, and replace no committed entry. Returns 0 or code
 * (logged; nothing was written). */
static int entries_fit(const raftlog *l, const raftlog_entry *entries, size_t n, uint64_t floor,
                       uint64_t last, int code)
{
    uint64_t first = entries[0].index;
    if (first <= floor || first > last + 1) {
        log_error("raftlog", "%s: entries at index %llu do not fit the log (%llu..%llu): a bug; "
                  "restart kahunad and report it", l->path, (unsigned long long)first,
                  (unsigned long long)(floor + 1), (unsigned long long)last);
        return code;
    }
    for (size_t i = 1; i < n; i++)
        if (entries[i].index != first + i || entries[i].term < entries[i - 1].term) {
            log_error("raftlog", "%s: appended entries are not consecutive at %llu: a bug; restart "
                      "kahunad and report it", l->path, (unsigned long long)entries[i].index);
            return code;
        }
    if (first <= last && first <= l->hs.commit) {
        log_error("raftlog", "%s: refusing to overwrite committed entry %llu (commit index %llu): "
                  "a bug or a damaged log; restore this node from a backup", l->path,
                  (unsigned long long)first, (unsigned long long)l->hs.commit);
        return code;
    }
    return 0;
}

/* Inside a transaction: deletes the stored entries from entries[0].index
 * on when there are any (last: the last stored index), then inserts
 * entries[0..n). */
static int write_entries(raftlog *l, const raftlog_entry *entries, size_t n, uint64_t last)
{
    int rc;
    if (entries[0].index <= last) {
        sqlite3_bind_int64(l->st[ST_DELETE_FROM], 1, (sqlite3_int64)entries[0].index);
        if ((rc = step_done(l, ST_DELETE_FROM, "removing a conflicting suffix")))
            return rc;
    }
    sqlite3_stmt *s = l->st[ST_INSERT];
    for (size_t i = 0; i < n; i++) {
        const raftlog_entry *e = &entries[i];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->index);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)e->term);
        sqlite3_bind_int(s, 3, e->type);
        if (sqlite3_bind_blob64(s, 4, e->len ? (const void *)e->data : "", e->len, SQLITE_STATIC) != SQLITE_OK) {
            rc = db_fail(l, "binding an entry");
            sqlite3_clear_bindings(s);
            return rc;
        }
        sqlite3_bind_int64(s, 5, (sqlite3_int64)entry_crc(e->index, e->term, e->type, e->data, e->len));
        if ((rc = step_done(l, ST_INSERT, "appending an entry")))
            return rc;
    }
    return 0;
}

/* The stored entries at or below this index are fixed: compacted, or in
 * the stored snapshot. */
static uint64_t fixed_upto(const raftlog *l)
{
    return l->snap.index > l->snap_index ? l->snap.index : l->snap_index;
}

int raftlog_append(raftlog *l, const raftlog_entry *entries, size_t n)
{
    if (n == 0)
        return 0;
    int rc = entries_fit(l, entries, n, fixed_upto(l), l->last_index, KAHUNA_EIO);
    if (rc)
        return rc;
    if ((rc = txn_begin(l)))
        return rc;
    if ((rc = write_entries(l, entries, n, l->last_index)) || (rc = txn_commit(l))) {
        txn_rollback(l);
        return rc;
    }
    l->last_index = entries[n - 1].index;
    l->last_term = entries[n - 1].term;
    return 0;
}

/* Inside a transaction: stores the snapshot meta row. */
static int put_snapshot(raftlog *l, const raftlog_snapshot *snap)
{
    sqlite3_stmt *s = l->st[ST_PUT_SNAPSHOT];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)snap->index);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)snap->term);
    if (sqlite3_bind_blob64(s, 3, snap->config_len ? (const void *)snap->config : "",
                            snap->config_len, SQLITE_STATIC) != SQLITE_OK) {
        int rc = db_fail(l, "binding the snapshot configuration");
        sqlite3_clear_bindings(s);
        return rc;
    }
    sqlite3_bind_int64(s, 4, (sqlite3_int64)snapshot_crc(snap->index, snap->term, snap->config,
                                                         snap->config_len));
    return step_done(l, ST_PUT_SNAPSHOT, "storing the snapshot meta");
}

/* A malloc'd copy of snap (config too) into *out: 0 or KAHUNA_ENOMEM. */
static int snapshot_copy(const raftlog_snapshot *snap, raftlog_snapshot *out)
{
    *out = (raftlog_snapshot){snap->index, snap->term, NULL, 0};
    if (snap->config_len == 0)
        return 0;
    if (!(out->config = malloc(snap->config_len)))
        return KAHUNA_ENOMEM;
    memcpy(out->config, snap->config, snap->config_len);
    out->config_len = snap->config_len;
    return 0;
}

static int snapshot_valid(const raftlog *l, const raftlog_snapshot *snap)
{
    if (snap->index == 0 || (snap->config_len && !snap->config)) {
        log_error("raftlog", "%s: a snapshot meta with index 0 or without its configuration: a "
                  "bug; restart kahunad and report it", l->path);
        return KAHUNA_EBADREQ;
    }
    return 0;
}

static int hardstate_valid(const raftlog *l, const raftlog_hardstate *hs)
{
    if (memchr(hs->vote, '\0', sizeof hs->vote) == NULL) {
        log_error("raftlog", "%s: a vote without its terminating NUL: a bug", l->path);
        return KAHUNA_EBADREQ;
    }
    return 0;
}

int raftlog_write(raftlog *l, const raftlog_snapshot *snap, const raftlog_entry *entries,
                  size_t n, const raftlog_hardstate *hs)
{
    if (!snap && n == 0 && !hs)
        return 0;
    int rc;
    if ((snap && (rc = snapshot_valid(l, snap))) || (hs && (rc = hardstate_valid(l, hs))))
        return rc;
    /* the log as the entries find it: after the snapshot, if any */
    uint64_t floor = snap ? snap->index : fixed_upto(l);
    uint64_t last = snap ? snap->index : l->last_index;
    if (n && (rc = entries_fit(l, entries, n, floor, last, KAHUNA_EBADREQ)))
        return rc;
    if (n && snap && entries[0].term < snap->term) {
        log_error("raftlog", "%s: entry %llu of term %llu follows a snapshot of term %llu: a bug; "
                  "restart kahunad and report it", l->path, (unsigned long long)entries[0].index,
                  (unsigned long long)entries[0].term, (unsigned long long)snap->term);
        return KAHUNA_EBADREQ;
    }
    raftlog_snapshot keep = {0, 0, NULL, 0};
    if (snap && (rc = snapshot_copy(snap, &keep)))
        return rc;

    if ((rc = txn_begin(l)))
        goto fail;
    if (snap && ((rc = step_done(l, ST_DELETE_ALL, "emptying the log for a snapshot")) ||
                 (rc = put_snapshot(l, snap))))
        goto rollback;
    if (n && (rc = write_entries(l, entries, n, last)))
        goto rollback;
    if ((snap || hs) && (rc = write_meta(l, hs ? hs : &l->hs, snap ? snap->index : l->snap_index,
                                         snap ? snap->term : l->snap_term)))
        goto rollback;
    if ((rc = txn_commit(l)))
        goto fail;

    if (snap) {
        raftlog_snapshot_free(&l->snap);
        l->snap = keep;
        l->snap_index = l->last_index = snap->index;
        l->snap_term = l->last_term = snap->term;
    }
    if (n) {
        l->last_index = entries[n - 1].index;
        l->last_term = entries[n - 1].term;
    }
    if (hs)
        l->hs = *hs;
    return 0;
rollback:
    txn_rollback(l);
fail:
    raftlog_snapshot_free(&keep);
    return rc;
}

uint64_t raftlog_first_index(const raftlog *l) { return l->snap_index + 1; }
uint64_t raftlog_last_index(const raftlog *l) { return l->last_index; }
uint64_t raftlog_last_term(const raftlog *l) { return l->last_term; }

/* ENOTFOUND past the last entry, ECOMPACTED below the compaction point. */
int raftlog_term(raftlog *l, uint64_t index, uint64_t *term)
{
    if (index == 0) {
        *term = 0;
        return 0;
    }
    if (index == l->snap_index) {
        *term = l->snap_term;
        return 0;
    }
    if (index < l->snap_index)
        return KAHUNA_ECOMPACTED;
    if (index > l->last_index)
        return KAHUNA_ENOTFOUND;
    if (index == l->last_index) {
        *term = l->last_term;
        return 0;
    }
    raftlog_entry e;
    int rc = read_one(l, index, &e);
    if (rc == KAHUNA_ENOTFOUND)
        return corrupt(l, "an entry inside the log is missing", index);
    if (rc)
        return rc;
    free(e.data);
    *term = e.term;
    return 0;
}

/* ECOMPACTED when lo is at or below the compaction point; hi is clamped to
 * the last index; lo > hi gives no entries. */
int raftlog_entries(raftlog *l, uint64_t lo, uint64_t hi, size_t max_bytes,
                    raftlog_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (lo <= l->snap_index)
        return KAHUNA_ECOMPACTED;
    if (hi > l->last_index)
        hi = l->last_index;
    if (lo > hi)
        return 0;
    size_t cap = 0, count = 0, bytes = 0;
    raftlog_entry *arr = NULL;
    sqlite3_stmt *s = l->st[ST_SELECT_RANGE];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)lo);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)hi);
    int rc = 0;
    uint64_t want = lo;
    for (;;) {
        int src = sqlite3_step(s);
        if (src == SQLITE_DONE)
            break;
        if (src != SQLITE_ROW) {
            rc = db_fail(l, "reading entries");
            break;
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            raftlog_entry *na = realloc(arr, ncap * sizeof *na);
            if (!na) {
                rc = KAHUNA_ENOMEM;
                break;
            }
            arr = na;
            cap = ncap;
        }
        if ((rc = read_row(l, s, &arr[count])) != 0)
            break;
        count++;
        if (arr[count - 1].index != want) {
            rc = corrupt(l, "the log has a gap", want);
            break;
        }
        want++;
        bytes += arr[count - 1].len;
        if (bytes >= max_bytes)
            break;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == 0 && count == 0)
        rc = corrupt(l, "an entry inside the log is missing", lo);
    if (rc) {
        raftlog_entries_free(arr, count);
        return rc;
    }
    *out = arr;
    *n = count;
    return 0;
}

void raftlog_entries_free(raftlog_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
    free(e);
}

/* ---- hard state and compaction ---- */

int raftlog_save_hardstate(raftlog *l, const raftlog_hardstate *hs)
{
    if (memchr(hs->vote, '\0', sizeof hs->vote) == NULL) {
        log_error("raftlog", "%s: a vote without its terminating NUL: a bug", l->path);
        return KAHUNA_EIO;
    }
    int rc = write_meta(l, hs, l->snap_index, l->snap_term);
    if (rc)
        return rc;
    l->hs = *hs;
    return 0;
}

int raftlog_load_hardstate(raftlog *l, raftlog_hardstate *hs)
{
    *hs = l->hs;
    return 0;
}

int raftlog_compact(raftlog *l, uint64_t upto_index)
{
    if (upto_index <= l->snap_index)
        return 0;
    if (l->snap.index && upto_index > l->snap.index) {
        log_error("raftlog", "%s: compaction up to %llu past the snapshot at %llu: a bug; restart "
                  "kahunad and report it", l->path, (unsigned long long)upto_index,
                  (unsigned long long)l->snap.index);
        return KAHUNA_EBADREQ;
    }
    if (upto_index > l->last_index) {
        log_error("raftlog", "%s: compaction up to %llu past the last entry %llu: a bug; restart "
                  "kahunad and report it", l->path, (unsigned long long)upto_index,
                  (unsigned long long)l->last_index);
        return KAHUNA_EIO;
    }
    uint64_t term;
    int rc = raftlog_term(l, upto_index, &term);
    if (rc)
        return rc == KAHUNA_EIO ? rc : corrupt(l, "cannot read the compaction point", upto_index);
    if ((rc = txn_begin(l)))
        return rc;
    sqlite3_bind_int64(l->st[ST_DELETE_UPTO], 1, (sqlite3_int64)upto_index);
    if ((rc = step_done(l, ST_DELETE_UPTO, "compacting the log")) ||
        (rc = write_meta(l, &l->hs, upto_index, term))) {
        txn_rollback(l);
        return rc;
    }
    if ((rc = txn_commit(l)))
        return rc;
    l->snap_index = upto_index;
    l->snap_term = term;
    return 0;
}

/* ---- snapshot meta and cluster id ---- */

void raftlog_snapshot_free(raftlog_snapshot *s)
{
    if (!s)
        return;
    free(s->config);
    memset(s, 0, sizeof *s);
}

int raftlog_save_snapshot(raftlog *l, const raftlog_snapshot *snap)
{
    int rc = snapshot_valid(l, snap);
    if (rc)
        return rc;
    if (snap->index < l->snap.index || snap->index < l->snap_index || snap->index > l->last_index) {
        log_error("raftlog", "%s: a snapshot at %llu does not fit the log (%llu..%llu, stored "
                  "snapshot %llu): a bug; restart kahunad and report it", l->path,
                  (unsigned long long)snap->index, (unsigned long long)l->snap_index,
                  (unsigned long long)l->last_index, (unsigned long long)l->snap.index);
        return KAHUNA_EBADREQ;
    }
    uint64_t term = 0;
    if ((rc = raftlog_term(l, snap->index, &term)))
        return rc == KAHUNA_EIO ? rc : corrupt(l, "cannot read the snapshot point", snap->index);
    if (term != snap->term) {
        log_error("raftlog", "%s: a snapshot at %llu of term %llu, but the entry there has term "
                  "%llu: a bug; restart kahunad and report it", l->path,
                  (unsigned long long)snap->index, (unsigned long long)snap->term,
                  (unsigned long long)term);
        return KAHUNA_EBADREQ;
    }
    raftlog_snapshot keep;
    if ((rc = snapshot_copy(snap, &keep)))
        return rc;
    if ((rc = put_snapshot(l, snap))) {         /* one statement: its own transaction */
        raftlog_snapshot_free(&keep);
        return rc;
    }
    raftlog_snapshot_free(&l->snap);
    l->snap = keep;
    return 0;
}

int raftlog_load_snapshot(raftlog *l, raftlog_snapshot *out)
{
    return snapshot_copy(&l->snap, out);
}

int raftlog_set_cluster_id(raftlog *l, uint64_t id)
{
    if (id == 0)
        return KAHUNA_EBADREQ;
    if (id == l->cluster_id)
        return 0;
    if (l->cluster_id) {
        log_error("raftlog", "%s: this data dir belongs to cluster %016llx, not %016llx: start "
                  "kahunad with the data dir of this cluster's node, or an empty one", l->path,
                  (unsigned long long)l->cluster_id, (unsigned long long)id);
        return KAHUNA_EMISMATCH;
    }
    sqlite3_stmt *s = l->st[ST_PUT_CLUSTER];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)cluster_crc(id));
    int rc = step_done(l, ST_PUT_CLUSTER, "storing the cluster id");
    if (rc)
        return rc;
    l->cluster_id = id;
    return 0;
}

uint64_t raftlog_cluster_id(const raftlog *l) { return l->cluster_id; }
