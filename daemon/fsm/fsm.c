/* fsm.c: the replicated state machine's database: opening state.db, the
 * batch apply loop, checkpoints, and the reader connections. The rules of
 * each data type live in kv.c, locks.c and seq.c.
 *
 * Durability. state.db runs in WAL mode with synchronous=NORMAL: a commit
 * is not fsync'ed, so after a power loss the database may come back some
 * batches behind -- but always consistent, and always with the applied
 * index of the batches it kept, because meta (applied index, store
 * revision) is written in the same transaction as the effects. The node
 * replays the Raft log from there; entries at or below the applied index
 * are skipped, so replay is idempotent. The Raft log is the durable source
 * of truth, and it may only be compacted up to fsm_durable_index().
 * Automatic checkpoints are off (wal_autocheckpoint=0) so that apply never
 * pays for one; the checkpoint thread (or fsm_checkpoint) runs them.
 *
 * The durable index rule. The writer publishes committed_index = the
 * applied index of a batch after that batch's COMMIT has returned. A
 * checkpoint reads committed_index = C *before* it starts; when it then
 * reports that it covered the whole WAL it saw (SQLITE_OK and nCkpt ==
 * nLog), durable_index becomes max(durable_index, C). Never the applied
 * index as of the end of the checkpoint: batches committed while it ran
 * may lie beyond the WAL snapshot it copied. Why C is then durable, from
 * SQLite's wal.c (sqlite3WalCheckpoint / walCheckpoint):
 *  1. C's COMMIT returned, so its frames are in the WAL and in the shared
 *     WAL-index header before C was published; the checkpoint reads that
 *     header after it loaded C, so the WAL it checkpoints (nLog = its
 *     mxFrame) holds C's commit frame -- unless the WAL was restarted
 *     since, which SQLite does only once nBackfill == mxFrame, i.e. C was
 *     already copied by a checkpoint that then fsync'ed the database file
 *     (see 3): C is durable.
 *  2. Before it copies frames into the database file, a checkpoint
 *     fsyncs the WAL; frames it finds already copied (nBackfill) were
 *     fsync'ed by the checkpoint that copied them. With nCkpt == nLog,
 *     every frame up to C's commit is fsync'ed in the WAL and copied, so
 *     recovery after a power loss finds C in the WAL or the database file.
 *  3. Those WAL frames are overwritten only after a WAL restart, which
 *     needs nBackfill == mxFrame of the newest header; a checkpoint sets
 *     that only after fsync'ing the database file (it fsyncs the file
 *     exactly when it copied up to the newest mxFrame). So C stays
 *     recoverable after its frames are gone.
 * Partial checkpoints (a reader pinning an old snapshot, SQLITE_BUSY)
 * leave the durable index alone. Every checkpoint connection must run
 * with synchronous above OFF (OFF skips those fsyncs): the writer has
 * NORMAL, the checkpoint thread FULL.
 *
 * Checkpoint thread. It checkpoints on its own connection so that apply
 * never waits: PASSIVE (copies what no reader pins; takes no lock the
 * writer needs) every interval and whenever the WAL grew by a quarter of
 * the restart size (the writer's WAL hook wakes it). Under a steady
 * write load a PASSIVE checkpoint never ends with the whole WAL copied at
 * the moment the writer starts its next transaction, so SQLite never
 * restarts the WAL and it would grow without bound: once it is past the
 * restart size (FSM_WAL_RESTART_BYTES), right after PASSIVE passes have
 * brought the uncopied rest down to little (at once past twice that size:
 * a writer faster than the copying, as in a replay), the thread runs a
 * RESTART checkpoint, which
 * holds the write lock while it copies that rest and waits (at most
 * FSM_CKPT_BUSY_MS) for readers of the old WAL, so the writer's next
 * transaction starts the WAL over. When the writer has been idle for a
 * round, a TRUNCATE checkpoint gives the WAL file's space back (a WAL that
 * a long reader made grow keeps its size until then: the writer has no
 * journal_size_limit, since cutting a WAL file in a commit costs about
 * 1 ms per MB).
 *
 * Determinism. Apply reads no clock and no randomness; everything comes
 * from the entries. Keys are BLOBs compared with memcmp, so every node
 * orders them the same way. history_keep must be the same on every node.
 *
 * Schema (user_version 2):
 *   meta          one row: applied index and term, store revision, live keys
 *   kv            live keys: value, revision, create_revision, version, ttl_ms,
 *                 the key's count of history rows and whether it was pruned,
 *                 and (wrev, wttl) the revision and ttl_ms the live version
 *                 was written with, NULL until a PATCH changes them
 *   kv_history    kept past versions per key (key, revision), tombstones
 *                 deleted=1; the live version is only in kv (see kv.c)
 *   kv_compacted  keys whose older history was pruned (-> 410, not 404)
 *   locks         held locks: owner, token, ttl_ms (free = no row)
 *   seqs          sequences: last value handed out
 *   seq_idem      idempotency keys of SEQ_NEXT for 10 minutes */
#include "fsm_internal.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FSM_SCHEMA_VERSION 2
#define FSM_DEFAULT_HISTORY 16
#define FSM_BUSY_TIMEOUT_MS 5000

static const char *const schema_sql =
    "CREATE TABLE meta("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " applied_index INTEGER NOT NULL, applied_term INTEGER NOT NULL,"
    " revision INTEGER NOT NULL, kv_count INTEGER NOT NULL);"
    "INSERT INTO meta VALUES (1, 0, 0, 0, 0);"
    "CREATE TABLE kv("
    " key BLOB PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL,"
    " create_revision INTEGER NOT NULL, version INTEGER NOT NULL,"
    " ttl_ms INTEGER NOT NULL, hist_count INTEGER NOT NULL,"
    " pruned INTEGER NOT NULL, wrev INTEGER, wttl INTEGER) WITHOUT ROWID;"
    "CREATE TABLE kv_history("
    " key BLOB NOT NULL, revision INTEGER NOT NULL, value BLOB NOT NULL,"
    " deleted INTEGER NOT NULL, version INTEGER NOT NULL,"
    " create_revision INTEGER NOT NULL, ttl_ms INTEGER NOT NULL,"
    " PRIMARY KEY (key, revision)) WITHOUT ROWID;"
    "CREATE TABLE kv_compacted(key BLOB PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE locks("
    " name BLOB PRIMARY KEY, owner BLOB NOT NULL, token INTEGER NOT NULL,"
    " ttl_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE seqs("
    " name BLOB PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE seq_idem("
    " name BLOB NOT NULL, ikey BLOB NOT NULL, value INTEGER NOT NULL,"
    " last INTEGER NOT NULL, count INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
    " revision INTEGER NOT NULL, PRIMARY KEY (name, ikey)) WITHOUT ROWID;"
    "CREATE INDEX seq_idem_time ON seq_idem(time_ms);"
    "PRAGMA user_version = 2;";

static const fsm_sql fsm_write_sql[] = {
    {W_BEGIN, "BEGIN IMMEDIATE"},
    {W_COMMIT, "COMMIT"},
    {W_ROLLBACK, "ROLLBACK"},
    {W_META_SET, "UPDATE meta SET applied_index = ?1, applied_term = ?2,"
                 " revision = ?3, kv_count = ?4 WHERE id = 1"},
    {0, NULL},
};

static const fsm_sql fsm_read_sql[] = {
    {R_BEGIN, "BEGIN"},
    {R_COMMIT, "COMMIT"},
    {R_ROLLBACK, "ROLLBACK"},
    {R_META, "SELECT revision, kv_count FROM meta WHERE id = 1"},
    {0, NULL},
};

/* ---- helpers shared with kv.c, locks.c, seq.c ---- */

static void log_sqlite(sqlite3 *db, const char *what, const char *sql)
{
    log_error("fsm", "%s failed: %s (%d)%s%s", what, sqlite3_errmsg(db),
              sqlite3_extended_errcode(db), sql ? " in: " : "", sql ? sql : "");
}

void fsm_ttl_emit(fsm *f, int kind, int op, kbytes name, int64_t generation, int64_t ttl_ms)
{
    if (!f->hook)
        return;
    fsm_ttl_event ev = {kind, op, name, generation, op == FSM_TTL_ARM ? ttl_ms : 0, {NULL, 0}, 0};
    f->hook(f->hook_arg, &ev);
}

void fsm_ttl_emit_keep(fsm *f, int kind, kbytes name, int64_t generation, int64_t ttl_ms,
                       kbytes keep_name, int64_t keep_generation)
{
    if (!f->hook)
        return;
    fsm_ttl_event ev = {kind, FSM_TTL_ARM, name, generation, ttl_ms, keep_name, keep_generation};
    f->hook(f->hook_arg, &ev);
}

int fsm_bind_bytes(sqlite3_stmt *st, int idx, kbytes b)
{
    const void *p = b.n ? (const void *)b.p : (const void *)"";
    int rc = sqlite3_bind_blob64(st, idx, p, (sqlite3_uint64)b.n, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        log_sqlite(sqlite3_db_handle(st), "binding a blob", sqlite3_sql(st));
        return KAHUNA_EIO;
    }
    return 0;
}

int fsm_bind_i64(sqlite3_stmt *st, int idx, int64_t v)
{
    if (sqlite3_bind_int64(st, idx, (sqlite3_int64)v) != SQLITE_OK) {
        log_sqlite(sqlite3_db_handle(st), "binding an integer", sqlite3_sql(st));
        return KAHUNA_EIO;
    }
    return 0;
}

int fsm_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        (void)sqlite3_reset(st);       /* SQLITE_OK after DONE */
        return 0;
    }
    log_sqlite(sqlite3_db_handle(st), "statement", sqlite3_sql(st));
    (void)sqlite3_reset(st);           /* repeats the error just logged */
    return KAHUNA_EIO;
}

int fsm_exec(sqlite3_stmt *st)
{
    int rc = fsm_step(st);
    if (rc == 1) {                     /* a row we do not want: run to the end */
        do
            rc = sqlite3_step(st);
        while (rc == SQLITE_ROW);
        if (rc != SQLITE_DONE) {
            log_sqlite(sqlite3_db_handle(st), "statement", sqlite3_sql(st));
            (void)sqlite3_reset(st);   /* repeats the error just logged */
            return KAHUNA_EIO;
        }
        (void)sqlite3_reset(st);       /* SQLITE_OK after DONE */
        return 0;
    }
    return rc;
}

int fsm_col_bytes(sqlite3_stmt *st, int col, kbytes *out)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!p) {
        if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
            return KAHUNA_ENOMEM;
        p = "";
        n = 0;
    }
    *out = kbytes_make(p, n > 0 ? (size_t)n : 0);
    return 0;
}

int fsm_col_kbuf(sqlite3_stmt *st, int col, kbuf *out)
{
    kbytes b;
    int rc = fsm_col_bytes(st, col, &b);
    if (rc)
        return rc;
    kbuf_reset(out);
    return b.n ? kbuf_append(out, b.p, b.n) : 0;
}

int fsm_read_begin(fsm_reader *r)
{
    if (r->depth++ > 0)
        return 0;
    int rc = fsm_exec(r->st[R_BEGIN]);
    if (rc)
        r->depth = 0;
    return rc;
}

int fsm_read_end(fsm_reader *r, int rc)
{
    if (r->depth > 1) {
        r->depth--;
        return rc;
    }
    r->depth = 0;
    if (fsm_exec(r->st[R_COMMIT]) == 0)
        return rc;
    if (!sqlite3_get_autocommit(r->db))
        (void)fsm_exec(r->st[R_ROLLBACK]);
    return rc ? rc : KAHUNA_EIO;
}

int fsm_read_meta(fsm_reader *r, int64_t *revision, int64_t *keys)
{
    sqlite3_stmt *st = r->st[R_META];
    int rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        log_error("fsm", "state database has no meta row: it is damaged; restore the data dir from a peer");
        return KAHUNA_EIO;
    }
    if (revision)
        *revision = sqlite3_column_int64(st, 0);
    if (keys)
        *keys = sqlite3_column_int64(st, 1);
    fsm_done(st);
    return 0;
}

int fsm_range_make(kbytes prefix, kbytes after, size_t limit, fsm_range *rg)
{
    memset(rg, 0, sizeof *rg);
    if (limit < 1 || limit > FSM_LIST_MAX)
        return KAHUNA_EBADREQ;
    /* lower = max(prefix, after + "\0"): the smallest key after `after`. */
    int use_after = 0;
    if (after.n) {
        size_t m = after.n < prefix.n ? after.n : prefix.n;
        int c = m ? memcmp(after.p, prefix.p, m) : 0;
        use_after = c > 0 || (c == 0 && after.n >= prefix.n);
    }
    int rc = use_after ? kbuf_append(&rg->lower, after.p, after.n)
                       : kbuf_append(&rg->lower, prefix.p, prefix.n);
    if (!rc && use_after)
        rc = kbuf_append_byte(&rg->lower, 0);
    /* upper = the prefix with its last byte below 0xff incremented. */
    size_t n = prefix.n;
    while (n > 0 && prefix.p[n - 1] == 0xff)
        n--;
    if (!rc && n > 0) {
        rc = kbuf_append(&rg->upper, prefix.p, n);
        if (!rc) {
            rg->upper.data[n - 1]++;
            rg->bounded = 1;
        }
    }
    if (rc)
        fsm_range_free(rg);
    return rc;
}

int fsm_range_bind(const fsm_range *rg, sqlite3_stmt *st, size_t limit)
{
    if (fsm_bind_bytes(st, 1, kbytes_make(rg->lower.data, rg->lower.len)))
        return KAHUNA_EIO;
    if (rg->bounded && fsm_bind_bytes(st, 2, kbytes_make(rg->upper.data, rg->upper.len)))
        return KAHUNA_EIO;
    return fsm_bind_i64(st, 3, (int64_t)limit + 1);
}

void fsm_range_free(fsm_range *rg)
{
    kbuf_free(&rg->lower);
    kbuf_free(&rg->upper);
    rg->bounded = 0;
}

void fsm_result_clear(fsm_result *r)
{
    if (!r)
        return;
    free(r->owner);
    kbuf_free(&r->data);
    memset(r, 0, sizeof *r);
}

/* ---- opening ---- */

static int prepare_table(sqlite3 *db, const fsm_sql *tab, sqlite3_stmt **st)
{
    for (; tab->sql; tab++) {
        if (sqlite3_prepare_v3(db, tab->sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &st[tab->id], NULL) != SQLITE_OK) {
            log_sqlite(db, "preparing a statement", tab->sql);
            return KAHUNA_EIO;
        }
    }
    return 0;
}

static void finalize_all(sqlite3_stmt **st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        (void)sqlite3_finalize(st[i]);
        st[i] = NULL;
    }
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("fsm", "%s failed: %s", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return KAHUNA_EIO;
    }
    return 0;
}

/* Runs a one-row query and returns its first column as an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_sqlite(db, "preparing", sql);
        return KAHUNA_EIO;
    }
    int rc = fsm_step(st);
    if (rc == 1) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == 0) {
        log_error("fsm", "%s returned no row", sql);
        rc = KAHUNA_EIO;
    }
    (void)sqlite3_finalize(st);    /* its return repeats the step's, handled */
    return rc;
}

static int set_wal(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK) {
        log_sqlite(db, "PRAGMA journal_mode", NULL);
        return KAHUNA_EIO;
    }
    int rc = fsm_step(st);
    int ok = rc == 1 && sqlite3_column_text(st, 0) &&
             strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    (void)sqlite3_finalize(st);    /* its return repeats the step's, handled */
    if (!ok) {
        log_error("fsm", "%s: cannot switch to WAL mode: put the data dir on a local file system", path);
        return KAHUNA_EIO;
    }
    return 0;
}

static int create_schema(fsm *f)
{
    int64_t v = 0;
    int rc = query_int(f->db, "PRAGMA user_version", &v);
    if (rc)
        return rc;
    if (v == FSM_SCHEMA_VERSION)
        return 0;
    if (v != 0) {
        log_error("fsm", "state database has format %lld, this kahuna knows %d: "
                  "run the kahuna version that wrote it", (long long)v, FSM_SCHEMA_VERSION);
        return KAHUNA_EMISMATCH;
    }
    if ((rc = exec_sql(f->db, "BEGIN IMMEDIATE")))
        return rc;
    rc = exec_sql(f->db, schema_sql);
    if (!rc)
        rc = exec_sql(f->db, "COMMIT");
    if (rc && !sqlite3_get_autocommit(f->db))
        (void)exec_sql(f->db, "ROLLBACK");
    return rc;
}

static int load_meta(fsm *f)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT applied_index, applied_term, revision, kv_count FROM meta WHERE id = 1";
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_sqlite(f->db, "preparing", sql);
        return KAHUNA_EIO;
    }
    int rc = fsm_step(st);
    if (rc == 1) {
        f->applied_index = (uint64_t)sqlite3_column_int64(st, 0);
        f->applied_term = (uint64_t)sqlite3_column_int64(st, 1);
        f->revision = sqlite3_column_int64(st, 2);
        f->kv_count = sqlite3_column_int64(st, 3);
        rc = 0;
    } else if (rc == 0) {
        log_error("fsm", "state database has no meta row: it is damaged; restore the data dir from a peer");
        rc = KAHUNA_EIO;
    }
    (void)sqlite3_finalize(st);    /* its return repeats the step's, handled */
    return rc;
}

static pthread_once_t sqlite_setup_once = PTHREAD_ONCE_INIT;

static void sqlite_setup_run(void)
{
    /* SQLITE_MISUSE: SQLite is already initialized (someone used it
     * first); it keeps its statistics, which costs speed, not correctness */
    int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (rc != SQLITE_OK)
        log_debug("fsm", "SQLite memory statistics stay on (%s)", sqlite3_errstr(rc));
}

void fsm_sqlite_setup(void)
{
    if (pthread_once(&sqlite_setup_once, sqlite_setup_run) != 0)
        log_debug("fsm", "SQLite set-up skipped");
}

static int open_db(const char *path, int flags, sqlite3 **out)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("fsm", "cannot open %s: %s: check the data dir and its permissions", path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return db ? KAHUNA_EIO : KAHUNA_ENOMEM;
    }
    if (sqlite3_extended_result_codes(db, 1) != SQLITE_OK ||
        sqlite3_busy_timeout(db, FSM_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        log_sqlite(db, "configuring the connection", NULL);
        sqlite3_close(db);
        return KAHUNA_EIO;
    }
    *out = db;
    return 0;
}

/* Busy handling of the writer and the checkpoint connection: short sleeps
 * (SQLite's busy_timeout sleeps 1, 2, 5, 10... ms, so a writer that waited
 * for a 3 ms RESTART checkpoint would lose 8 ms), up to *(int *)arg ms. */
#define FSM_BUSY_STEP_US 100
static int writer_busy_ms = FSM_BUSY_TIMEOUT_MS;

static int busy_wait(void *arg, int count)
{
    const int max_ms = *(const int *)arg;
    if ((int64_t)count * FSM_BUSY_STEP_US >= (int64_t)max_ms * 1000)
        return 0;
    struct timespec ts = {0, FSM_BUSY_STEP_US * 1000L};
    (void)nanosleep(&ts, NULL);        /* EINTR: just ask again sooner */
    return 1;
}

static int set_busy_wait(sqlite3 *db, int *max_ms)
{
    if (sqlite3_busy_handler(db, busy_wait, max_ms) != SQLITE_OK) {
        log_sqlite(db, "setting the busy handler", NULL);
        return KAHUNA_EIO;
    }
    return 0;
}

int fsm_open(const char *path, const fsm_options *opts, fsm **out)
{
    *out = NULL;
    int keep = opts && opts->history_keep ? opts->history_keep : FSM_DEFAULT_HISTORY;
    if (keep < 1)
        return KAHUNA_EBADREQ;
    fsm *f = calloc(1, sizeof *f);
    if (!f)
        return KAHUNA_ENOMEM;
    f->history_keep = keep;
    f->path = strdup(path);
    int rc = f->path ? 0 : KAHUNA_ENOMEM;
    if (!rc) rc = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &f->db);
    if (!rc) rc = set_busy_wait(f->db, &writer_busy_ms);
    if (!rc) rc = set_wal(f->db, path);
    if (!rc) rc = exec_sql(f->db, "PRAGMA synchronous=NORMAL");
    if (!rc) rc = exec_sql(f->db, "PRAGMA wal_autocheckpoint=0");
    /* no truncating of the WAL file in a commit (it costs about 1 ms per
     * MB cut): the checkpoint thread keeps the WAL short and truncates it
     * when the writer is idle */
    if (!rc) rc = exec_sql(f->db, "PRAGMA journal_size_limit=-1");
    if (!rc) rc = exec_sql(f->db, "PRAGMA cache_size=-16384");
    if (!rc) rc = exec_sql(f->db, "PRAGMA temp_store=MEMORY");
    if (!rc) rc = create_schema(f);
    if (!rc) rc = prepare_table(f->db, fsm_write_sql, f->st);
    if (!rc) rc = prepare_table(f->db, kv_write_sql, f->st);
    if (!rc) rc = prepare_table(f->db, lock_write_sql, f->st);
    if (!rc) rc = prepare_table(f->db, seq_write_sql, f->st);
    if (!rc) rc = prepare_table(f->db, str_write_sql, f->st);
    if (!rc) rc = load_meta(f);
    if (!rc)
        atomic_store(&f->committed_index, f->applied_index);
    /* What a crash left in the WAL may not be on disk yet: sync it now so
     * that the durable index starts right. */
    if (!rc) rc = fsm_checkpoint(f);
    if (rc) {
        fsm_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void fsm_close(fsm *f)
{
    if (!f)
        return;
    fsm_checkpointer_stop(f);
    kv_batch_free(f);
    finalize_all(f->st, W_COUNT);
    if (f->db && sqlite3_close(f->db) != SQLITE_OK)
        log_sqlite(f->db, "closing state.db", NULL);
    free(f->path);
    free(f);
}

void fsm_set_ttl_hook(fsm *f, fsm_ttl_hook hook, void *arg)
{
    f->hook = hook;
    f->hook_arg = arg;
}

uint64_t fsm_applied_index(const fsm *f) { return f->applied_index; }
int64_t fsm_current_revision(const fsm *f) { return f->revision; }
uint64_t fsm_durable_index(const fsm *f) { return atomic_load(&f->durable_index); }

/* ---- apply ---- */

static int apply_command(fsm *f, const fsm_entry *e, fsm_result *res)
{
    command c;
    if (cmd_decode(e->data, e->len, &c) != 0) {
        log_warn("fsm", "entry %llu (term %llu): command does not decode (%zu bytes); skipped",
                 (unsigned long long)e->index, (unsigned long long)e->term, e->len);
        res->status = KAHUNA_EBADREQ;
        return 0;
    }
    return fsm_apply_command(f, &c, res);
}

int fsm_apply_command(fsm *f, const command *c, fsm_result *res)
{
    switch ((cmd_type)c->type) {
    case CMD_NOOP: return 0;
    case CMD_KV_PUT: return kv_apply_put(f, c, res);
    case CMD_KV_DELETE: return kv_apply_delete(f, c, res);
    case CMD_KV_SET_TTL: return kv_apply_set_ttl(f, c, res);
    case CMD_KV_EXPIRE: return kv_apply_expire(f, c, res);
    case CMD_LOCK_ACQUIRE: return lock_apply_acquire(f, c, res);
    case CMD_LOCK_EXTEND: return lock_apply_extend(f, c, res);
    case CMD_LOCK_RELEASE: return lock_apply_release(f, c, res);
    case CMD_LOCK_EXPIRE: return lock_apply_expire(f, c, res);
    case CMD_SEQ_NEXT: return seq_apply_next(f, c, res);
    case CMD_SEQ_SET: return seq_apply_set(f, c, res);
    case CMD_SEQ_DELETE: return seq_apply_delete(f, c, res);
    /* the RESP read-modify-write commands (strings.c) */
    case CMD_KV_SET: return str_apply_set(f, c, res);
    case CMD_KV_GETDEL: return str_apply_getdel(f, c, res);
    case CMD_KV_TTL_IF: return str_apply_ttl_if(f, c, res);
    case CMD_KV_INCR: return str_apply_incr(f, c, res);
    case CMD_KV_INCRBYFLOAT: return str_apply_incrbyfloat(f, c, res);
    case CMD_KV_APPEND: return str_apply_append(f, c, res);
    case CMD_KV_SETRANGE: return str_apply_setrange(f, c, res);
    case CMD_KV_SETBIT: return str_apply_setbit(f, c, res);
    case CMD_KV_BITOP: return str_apply_bitop(f, c, res);
    case CMD_KV_COPY: return str_apply_copy(f, c, res);
    case CMD_KV_FLUSH: return str_apply_flush(f, c, res);
    case CMD_TXN: return str_apply_txn(f, c, res);
    case CMD_KV_GET: return str_apply_get(f, c, res);
    default:                           /* cmd_decode lets none through */
        res->status = KAHUNA_EBADREQ;
        return 0;
    }
}

static int apply_entry(fsm *f, const fsm_entry *e, fsm_result *res)
{
    switch (e->type) {
    case FSM_ENTRY_COMMAND:
        return apply_command(f, e, res);
    case FSM_ENTRY_NOOP:
    case FSM_ENTRY_CONFIG:
        return 0;
    default:
        log_warn("fsm", "entry %llu has unknown type %u; only the applied index moves",
                 (unsigned long long)e->index, e->type);
        return 0;
    }
}

static void ckpt_yield(fsm *f);

int fsm_apply_batch(fsm *f, const fsm_entry *entries, size_t n, fsm_result *results)
{
    if (results)
        memset(results, 0, n * sizeof *results);

    /* Which entries are new, and are they contiguous with what we have? */
    uint64_t next = f->applied_index;
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index <= next)
            continue;
        if (entries[i].index != next + 1) {
            log_error("fsm", "entry %llu follows applied index %llu: entries are missing; "
                      "the node must stop: state.db and the Raft log do not match "
                      "(restore the data dir from a peer)",
                      (unsigned long long)entries[i].index, (unsigned long long)next);
            return KAHUNA_EIO;
        }
        next = entries[i].index;
        todo++;
    }
    if (todo == 0)
        return 0;

    const uint64_t old_index = f->applied_index, old_term = f->applied_term;
    const int64_t old_revision = f->revision, old_count = f->kv_count;
    fsm_result scratch;
    memset(&scratch, 0, sizeof scratch);
    ckpt_yield(f);
    int rc = fsm_exec(f->st[W_BEGIN]);
    for (size_t i = 0; i < n && !rc; i++) {
        const fsm_entry *e = &entries[i];
        if (e->index <= f->applied_index)
            continue;
        fsm_result *res = results ? &results[i] : &scratch;
        rc = apply_entry(f, e, res);
        if (!results)
            fsm_result_clear(&scratch);
        f->applied_index = e->index;
        f->applied_term = e->term;
    }
    if (!rc)
        rc = kv_hot_forget(f);
    if (!rc)
        rc = kv_prune_flush(f);
    if (!rc) {
        sqlite3_stmt *st = f->st[W_META_SET];
        if (fsm_bind_i64(st, 1, (int64_t)f->applied_index) ||
            fsm_bind_i64(st, 2, (int64_t)f->applied_term) ||
            fsm_bind_i64(st, 3, f->revision) ||
            fsm_bind_i64(st, 4, f->kv_count))
            rc = KAHUNA_EIO;
        if (!rc)
            rc = fsm_exec(st);
    }
    if (!rc)
        rc = fsm_exec(f->st[W_COMMIT]);
    if (!rc) {
        /* the durable index rule (top of file): published after COMMIT */
        atomic_store_explicit(&f->committed_index, f->applied_index, memory_order_release);
        return 0;
    }

    if (!sqlite3_get_autocommit(f->db) && fsm_exec(f->st[W_ROLLBACK]) != 0)
        log_error("fsm", "rollback failed too");
    kv_batch_abort(f);
    f->applied_index = old_index;
    f->applied_term = old_term;
    f->revision = old_revision;
    f->kv_count = old_count;
    if (results)
        for (size_t i = 0; i < n; i++)
            fsm_result_clear(&results[i]);
    log_error("fsm", "applying entries %llu..%llu failed (%s); nothing of the batch was applied. "
              "The node must stop: check the disk holding state.db (space, permissions, errors), "
              "then restart; the log is replayed from index %llu",
              (unsigned long long)(old_index + 1), (unsigned long long)next,
              kahuna_strerror(rc), (unsigned long long)(old_index + 1));
    return KAHUNA_EIO;
}

/* ARM events for the rows of st: (name, generation, ttl_ms) of one kind. */
static int foreach_ttl_row(sqlite3_stmt *st, int kind, fsm_ttl_hook hook, void *arg)
{
    int rc;
    while ((rc = fsm_step(st)) == 1) {
        fsm_ttl_event ev = {kind, FSM_TTL_ARM, {NULL, 0}, 0, 0, {NULL, 0}, 0};
        if ((rc = fsm_col_bytes(st, 0, &ev.name))) {
            fsm_done(st);
            return rc;
        }
        ev.generation = sqlite3_column_int64(st, 1);
        ev.ttl_ms = sqlite3_column_int64(st, 2);
        hook(arg, &ev);
    }
    return rc;
}

int fsm_foreach_ttl(fsm *f, fsm_ttl_hook hook, void *arg)
{
    int rc = fsm_exec(f->st[W_BEGIN]);
    if (rc)
        return rc;
    rc = foreach_ttl_row(f->st[W_KV_TTLS], FSM_TTL_KV, hook, arg);
    if (!rc)
        rc = foreach_ttl_row(f->st[W_LOCK_TTLS], FSM_TTL_LOCK, hook, arg);
    if (!rc)
        rc = fsm_exec(f->st[W_COMMIT]);
    if (rc && !sqlite3_get_autocommit(f->db))
        (void)fsm_exec(f->st[W_ROLLBACK]);
    return rc;
}

/* ---- checkpoints ----
 *
 * The rule and the thread's policy are at the top of the file; ckpt_run is
 * the one place that turns a checkpoint into a durable index. */

#define FSM_CKPT_BUSY_MS 20                   /* longest lock wait of a RESTART / TRUNCATE */
#define FSM_CKPT_SETTLE_PASSES 4              /* PASSIVE passes at most before a RESTART */

static int ckpt_busy_ms = FSM_CKPT_BUSY_MS;

typedef struct fsm_ckpt {
    fsm *f;
    sqlite3 *db;                   /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* the thread sleeps here between rounds */
    int stop;                      /* guarded by mu */
    int interval_ms;
    int64_t kick_frames, restart_frames;
    atomic_int kicked;             /* the writer asked for a round */
    atomic_int wants_lock;         /* a RESTART/TRUNCATE waits for the write lock */
    _Atomic uint64_t written;      /* WAL frames the writer committed, in all */
    _Atomic uint64_t kick_base;    /* `written` when the last round started */
    int w_last;                    /* writer only: WAL frames after its previous commit */
    _Atomic uint64_t rounds, complete, restarts;
    _Atomic int64_t max_block_us;
    uint64_t last_committed;       /* thread only: committed index at the previous round */
    int failed;                    /* thread only: the last round's checkpoint failed */
} fsm_ckpt;

static void durable_advance(fsm *f, uint64_t idx)
{
    uint64_t cur = atomic_load(&f->durable_index);
    while (idx > cur && !atomic_compare_exchange_weak(&f->durable_index, &cur, idx))
        ;
}

/* One checkpoint (mode SQLITE_CHECKPOINT_*) on db. *frames: the frames of
 * the WAL it saw (-1 when unknown); *complete: it copied all of them, and
 * the durable index has moved. Returns 0, 1 when it could not run or
 * finish now (SQLITE_BUSY: try later), or KAHUNA_EIO. */
static int ckpt_run(fsm *f, sqlite3 *db, int mode, int *frames, int *complete)
{
    /* Loaded before the checkpoint starts: see the rule. */
    uint64_t covered = atomic_load_explicit(&f->committed_index, memory_order_acquire);
    int nlog = -1, nckpt = -1;
    *complete = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, mode, &nlog, &nckpt);
    *frames = nlog;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return 1;
    if (rc != SQLITE_OK) {
        log_sqlite(db, "checkpoint of state.db", NULL);
        return KAHUNA_EIO;
    }
    if (nlog >= 0 && nckpt == nlog) {
        *complete = 1;
        durable_advance(f, covered);
    }
    return 0;
}

int fsm_checkpoint(fsm *f)
{
    int frames = -1, complete = 0;
    int rc = ckpt_run(f, f->db, SQLITE_CHECKPOINT_PASSIVE, &frames, &complete);
    if (rc < 0)
        return rc;
    if (!complete)
        log_debug("fsm", "checkpoint did not cover the WAL (%d frames; %s); durable index stays %llu",
                  frames, rc ? "another checkpoint runs" : "a reader holds part of it",
                  (unsigned long long)atomic_load(&f->durable_index));
    return 0;
}

/* The writer's WAL hook (on the apply thread, after each commit): counts
 * the frames written and wakes the thread once a quarter of the restart
 * size more are there. */
static int ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    fsm *f = arg;
    fsm_ckpt *c = f->ckpt;
    atomic_store_explicit(&f->wal_frames, frames, memory_order_relaxed);
    uint64_t grew = (uint64_t)(frames >= c->w_last ? frames - c->w_last : frames);
    c->w_last = frames;
    uint64_t written = atomic_fetch_add(&c->written, grew) + grew;
    if (written - atomic_load(&c->kick_base) >= (uint64_t)c->kick_frames &&
        !atomic_exchange(&c->kicked, 1)) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

/* fsyncs the database file (op SQLITE_FCNTL_FILE_POINTER) or the WAL
 * (SQLITE_FCNTL_JOURNAL_POINTER) through db's own handle, holding no lock:
 * what PASSIVE passes wrote is then on disk already when a RESTART syncs
 * under the write lock. Only an optimization: errors surface in the
 * checkpoint's own syncs. (Never open()+close() these files beside SQLite:
 * closing any descriptor drops the process's POSIX locks on the file.) */
static void ckpt_presync(sqlite3 *db, int op)
{
    sqlite3_file *fp = NULL;
    if (sqlite3_file_control(db, "main", op, &fp) == SQLITE_OK && fp && fp->pMethods)
        (void)fp->pMethods->xSync(fp, SQLITE_SYNC_NORMAL);
}

/* The writer, before each batch: while a RESTART/TRUNCATE waits for the
 * write lock, it lets it have it (SQLite's locks are not fair: a writer
 * that commits back to back, as in a replay, would leave it no gap). It
 * would wait for that checkpoint anyway; at most 2 x FSM_CKPT_BUSY_MS. */
static void ckpt_yield(fsm *f)
{
    fsm_ckpt *c = f->ckpt;
    if (!c || !atomic_load_explicit(&c->wants_lock, memory_order_relaxed))
        return;
    int64_t until = clock_mono_us() + 2000 * FSM_CKPT_BUSY_MS;
    while (atomic_load(&c->wants_lock) && clock_mono_us() < until) {
        struct timespec ts = {0, 50 * 1000L};
        (void)nanosleep(&ts, NULL);
    }
}

/* A RESTART or TRUNCATE: holds the writer off while it runs. */
static void ckpt_reset(fsm_ckpt *c, int mode)
{
    ckpt_presync(c->db, SQLITE_FCNTL_JOURNAL_POINTER);
    ckpt_presync(c->db, SQLITE_FCNTL_FILE_POINTER);
    int64_t t0 = clock_mono_us();
    int frames = -1, complete = 0;
    atomic_store(&c->wants_lock, 1);
    int rc = ckpt_run(c->f, c->db, mode, &frames, &complete);
    atomic_store(&c->wants_lock, 0);
    int64_t took = clock_mono_us() - t0;
    if (took > atomic_load(&c->max_block_us))
        atomic_store(&c->max_block_us, took);
    if (rc == 0 && complete)
        atomic_fetch_add(&c->restarts, 1);
    if (took > 100 * 1000)
        log_warn("fsm", "a %s checkpoint of state.db held writes for %lld ms: check the disk "
                 "holding the data dir", mode == SQLITE_CHECKPOINT_RESTART ? "RESTART" : "TRUNCATE",
                 (long long)(took / 1000));
}

static void ckpt_round(fsm_ckpt *c)
{
    fsm *f = c->f;
    uint64_t committed = atomic_load(&f->committed_index);
    int idle = committed == c->last_committed;
    c->last_committed = committed;
    atomic_store(&c->kick_base, atomic_load(&c->written));
    atomic_fetch_add(&c->rounds, 1);

    int frames = -1, complete = 0;
    int rc = ckpt_run(f, c->db, SQLITE_CHECKPOINT_PASSIVE, &frames, &complete);
    if (rc < 0) {
        if (!c->failed)
            log_warn("fsm", "checkpoints of state.db fail; the Raft log is kept until one "
                     "succeeds: check the disk holding the data dir");
        c->failed = 1;
        return;
    }
    if (c->failed)
        log_info("fsm", "checkpoints of state.db work again");
    c->failed = 0;
    if (complete)
        atomic_fetch_add(&c->complete, 1);
    if (rc != 0 || frames <= 0)
        return;

    if (frames >= c->restart_frames) {
        /* Copy what the writer added meanwhile until little is left, so
         * that the RESTART holds the writer off only briefly. */
        for (int i = 0; i < FSM_CKPT_SETTLE_PASSES && frames < 2 * c->restart_frames; i++) {
            int before = frames;
            if (ckpt_run(f, c->db, SQLITE_CHECKPOINT_PASSIVE, &frames, &complete) != 0)
                return;
            if (frames >= before && frames - before < c->restart_frames / 16)
                break;
        }
        if (frames >= c->restart_frames && (complete || frames >= 2 * c->restart_frames))
            ckpt_reset(c, SQLITE_CHECKPOINT_RESTART);
    } else if (idle && complete) {
        ckpt_reset(c, SQLITE_CHECKPOINT_TRUNCATE);
    }
}

static void *ckpt_main(void *arg)
{
    fsm_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!atomic_load(&c->kicked)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += c->interval_ms / 1000;
            ts.tv_nsec += (long)(c->interval_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            int w = 0;
            while (!c->stop && !atomic_load(&c->kicked) && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            if (c->stop)
                break;
        }
        atomic_store(&c->kicked, 0);
        pthread_mutex_unlock(&c->mu);
        ckpt_round(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void ckpt_free(fsm_ckpt *c)
{
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        log_sqlite(c->db, "closing the checkpoint connection of state.db", NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int fsm_checkpointer_start(fsm *f, int interval_ms, int64_t wal_restart_bytes)
{
    if (f->ckpt)
        return 0;
    f->ckpt_interval_ms = interval_ms;          /* for fsm_snapshot_install */
    f->ckpt_restart_bytes = wal_restart_bytes;
    fsm_ckpt *c = calloc(1, sizeof *c);
    if (!c)
        return KAHUNA_ENOMEM;
    c->f = f;
    c->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    c->last_committed = atomic_load(&f->committed_index);
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) {
        free(c);
        return KAHUNA_ENOMEM;
    }
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&c->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(c);
        return KAHUNA_ENOMEM;
    }
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        pthread_cond_destroy(&c->cv);
        free(c);
        return KAHUNA_ENOMEM;
    }
    int64_t applied = 0, page = 0;
    int rc = open_db(f->path, SQLITE_OPEN_READWRITE, &c->db);
    if (!rc) rc = set_busy_wait(c->db, &ckpt_busy_ms);
    if (!rc) rc = exec_sql(c->db, "PRAGMA synchronous=FULL");    /* see the rule */
    if (!rc) rc = exec_sql(c->db, "PRAGMA wal_autocheckpoint=0");
    /* a first read opens the WAL: a connection that never read has none to
     * checkpoint */
    if (!rc) rc = query_int(c->db, "SELECT applied_index FROM meta WHERE id = 1", &applied);
    if (!rc) rc = query_int(c->db, "PRAGMA page_size", &page);
    if (rc) {
        ckpt_free(c);
        return rc;
    }
    if (page < 512)
        page = 4096;
    if (wal_restart_bytes <= 0)
        wal_restart_bytes = FSM_WAL_RESTART_BYTES;
    c->restart_frames = wal_restart_bytes / page > 16 ? wal_restart_bytes / page : 16;
    c->kick_frames = c->restart_frames / 4;
    f->ckpt = c;
    (void)sqlite3_wal_hook(f->db, ckpt_wal_hook, f);
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        (void)sqlite3_wal_hook(f->db, NULL, NULL);
        f->ckpt = NULL;
        ckpt_free(c);
        log_error("fsm", "cannot start the checkpoint thread: raise the process's thread limit");
        return KAHUNA_ENOMEM;
    }
    return 0;
}

void fsm_checkpointer_stop(fsm *f)
{
    fsm_ckpt *c = f->ckpt;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    (void)sqlite3_wal_hook(f->db, NULL, NULL);
    f->ckpt = NULL;
    ckpt_free(c);
}

void fsm_checkpoint_stats_get(fsm *f, fsm_checkpoint_stats *out)
{
    memset(out, 0, sizeof *out);
    out->wal_frames = (uint64_t)atomic_load(&f->wal_frames);
    fsm_ckpt *c = f->ckpt;
    if (!c)
        return;
    out->rounds = atomic_load(&c->rounds);
    out->complete = atomic_load(&c->complete);
    out->restarts = atomic_load(&c->restarts);
    out->max_block_us = atomic_load(&c->max_block_us);
}

/* ---- readers ---- */

int fsm_reader_open(const char *path, fsm_reader **out)
{
    *out = NULL;
    fsm_reader *r = calloc(1, sizeof *r);
    if (!r)
        return KAHUNA_ENOMEM;
    int rc = open_db(path, SQLITE_OPEN_READONLY, &r->db);
    if (!rc) rc = prepare_table(r->db, fsm_read_sql, r->st);
    if (!rc) rc = prepare_table(r->db, kv_read_sql, r->st);
    if (!rc) rc = prepare_table(r->db, lock_read_sql, r->st);
    if (!rc) rc = prepare_table(r->db, seq_read_sql, r->st);
    if (rc) {
        if (r->db)
            log_error("fsm", "cannot read %s: open the state database with fsm_open first", path);
        fsm_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void fsm_reader_close(fsm_reader *r)
{
    if (!r)
        return;
    finalize_all(r->st, R_COUNT);
    if (r->db && sqlite3_close(r->db) != SQLITE_OK)
        log_sqlite(r->db, "closing a reader of state.db", NULL);
    free(r);
}

int fsm_reader_stats(fsm_reader *r, int64_t *revision, int64_t *keys)
{
    return fsm_read_meta(r, revision, keys);
}

int fsm_reader_begin(fsm_reader *r)
{
    return fsm_read_begin(r);
}

int fsm_reader_end(fsm_reader *r)
{
    return fsm_read_end(r, 0);
}

int fsm_collect_rows(sqlite3_stmt *st, size_t limit, size_t item_size,
                     int (*fill)(sqlite3_stmt *st, void *item), void **items, size_t *n,
                     int *more)
{
    size_t cap = 0;
    int rc;
    while ((rc = fsm_step(st)) == 1) {
        rc = 0;
        if (*n == limit) {
            *more = 1;
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *p = realloc(*items, ncap * item_size);
            if (!p) {
                rc = KAHUNA_ENOMEM;
                break;
            }
            *items = p;
            cap = ncap;
        }
        void *item = (char *)*items + (*n)++ * item_size;
        memset(item, 0, item_size);
        if ((rc = fill(st, item)))
            break;
    }
    if (rc || *more)
        fsm_done(st);   /* stopped before the end (a second reset is harmless) */
    return rc;
}
