/* kv.c: the key/value store of the state machine: apply of KV_PUT,
 * KV_DELETE, KV_SET_TTL and KV_EXPIRE, and the reads (get, get at a
 * revision, list, history).
 *
 * A key's live version is its row in `kv`; `kv_history` holds only its
 * past versions and tombstones (deleted = 1). A write that makes a new
 * version moves the live one, as it was written, into kv_history (a delete
 * also adds a tombstone); a put of a fresh key touches kv only, so that it
 * writes one table's pages. The key's kept versions -- the live one plus
 * its history rows -- are pruned to the newest history_keep; a key that
 * lost rows to pruning is recorded in `kv_compacted` (kept after a delete),
 * which is how a read at an old revision tells 410 (compacted) from 404
 * (did not exist).
 *
 * A TTL change (PATCH, KV_SET_TTL) gives the key a new revision but makes no
 * new version and no history row; the kv row keeps the revision and ttl_ms
 * the version was written with in wrev and wttl (NULL when not patched
 * since, i.e. equal to revision and ttl_ms). A read at revision N returns
 * the live row when its revision is <= N, else the live version as written
 * when wrev <= N, else the newest history row <= N: so between a PATCH and
 * the next write, a read at a revision older than the PATCH shows the
 * version as it was written. ?history lists the live version as written,
 * then the history rows, newest first. */
#include "fsm_internal.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

const fsm_sql kv_write_sql[] = {
    {W_KV_META, "SELECT revision, create_revision, version, hist_count, pruned"
                " FROM kv WHERE key = ?1"},
    {W_KV_VALUE, "SELECT value FROM kv WHERE key = ?1"},
    {W_KV_PAST, "SELECT (SELECT count(*) FROM kv_history WHERE key = ?1),"
                " EXISTS (SELECT 1 FROM kv_compacted WHERE key = ?1)"},
    {W_KV_INSERT, "INSERT INTO kv(key, value, revision, create_revision, version, ttl_ms,"
                  " hist_count, pruned) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
    {W_KV_UPDATE, "UPDATE kv SET value = ?2, revision = ?3, version = ?5, ttl_ms = ?6,"
                  " hist_count = ?7, pruned = ?8, wrev = NULL, wttl = NULL WHERE key = ?1"},
    {W_KV_DELETE, "DELETE FROM kv WHERE key = ?1"},
    /* the right-hand sides see the old row: wrev, wttl keep the written ones */
    {W_KV_SET_TTL, "UPDATE kv SET wrev = coalesce(wrev, revision), wttl = coalesce(wttl, ttl_ms),"
                   " revision = ?2, ttl_ms = ?3 WHERE key = ?1"},
    /* the live version, as written, becomes a history row */
    {W_HIST_MOVE, "INSERT INTO kv_history(key, revision, value, deleted, version,"
                  " create_revision, ttl_ms) SELECT key, coalesce(wrev, revision), value, 0,"
                  " version, create_revision, coalesce(wttl, ttl_ms) FROM kv WHERE key = ?1"},
    {W_HIST_ADD, "INSERT INTO kv_history(key, revision, value, deleted, version,"
                 " create_revision, ttl_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    /* keeps the key's ?2 newest rows, drops the older ones */
    {W_HIST_PRUNE, "DELETE FROM kv_history WHERE key = ?1 AND revision <="
                   " (SELECT revision FROM kv_history WHERE key = ?1"
                   " ORDER BY revision DESC LIMIT 1 OFFSET ?2)"},
    {W_COMPACT_SET, "INSERT OR IGNORE INTO kv_compacted(key) VALUES (?1)"},
    {W_KV_TTLS, "SELECT key, revision, ttl_ms FROM kv WHERE ttl_ms > 0 ORDER BY key"},
    {0, NULL},
};

#define KV_COLS "revision, create_revision, version, ttl_ms"
const fsm_sql kv_read_sql[] = {
    {R_KV_GET, "SELECT " KV_COLS ", value FROM kv WHERE key = ?1"},
    /* the live row at ?2: as it is, or as written before a PATCH */
    {R_KV_AT, "SELECT CASE WHEN revision <= ?2 THEN revision ELSE wrev END, create_revision,"
              " version, CASE WHEN revision <= ?2 THEN ttl_ms ELSE wttl END, value FROM kv"
              " WHERE key = ?1 AND coalesce(wrev, revision) <= ?2"},
    {R_HIST_AT, "SELECT " KV_COLS ", value, deleted FROM kv_history"
                " WHERE key = ?1 AND revision <= ?2 ORDER BY revision DESC LIMIT 1"},
    {R_COMPACTED, "SELECT 1 FROM kv_compacted WHERE key = ?1"},
    {R_HIST_ALL, "SELECT coalesce(wrev, revision) AS rev, create_revision, version,"
                 " coalesce(wttl, ttl_ms), value, 0 FROM kv WHERE key = ?1"
                 " UNION ALL SELECT " KV_COLS ", value, deleted FROM kv_history"
                 " WHERE key = ?1 ORDER BY rev DESC"},
    {R_KV_LIST, "SELECT " KV_COLS ", value, key FROM kv"
                " WHERE key >= ?1 ORDER BY key LIMIT ?3"},
    {R_KV_LIST_TO, "SELECT " KV_COLS ", value, key FROM kv"
                   " WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"},
    {R_KV_KEYS, "SELECT " KV_COLS ", NULL, key FROM kv"
                " WHERE key >= ?1 ORDER BY key LIMIT ?3"},
    {R_KV_KEYS_TO, "SELECT " KV_COLS ", NULL, key FROM kv"
                   " WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"},
    {0, NULL},
};

/* Column positions of the read statements above. */
enum { C_REV, C_CREATE, C_VERSION, C_TTL, C_VALUE, C_DELETED, C_KEY = 5 };

/* ---- apply ----
 *
 * Statements per put, the hot path: the key's row (W_KV_META); for a new
 * key a look at what history a previous life left and an insert into kv,
 * nothing more; for a present key the move of its live version into
 * history, the update, and once the key has history_keep versions the
 * removal of the oldest (once per key at the end of the batch: "pruning"
 * below). The kv row counts the key's history rows (hist_count, past
 * versions only) so that no query is needed to know when to prune, and
 * remembers whether it was ever pruned, so that kv_compacted is written
 * once per key. A key written again right after its last write needs no
 * statement at all until its run of writes ends ("the hot key"). */

/* ---- the hot key: a key written again and again in one batch ----
 *
 * kv_write remembers the version it wrote last (f->hot: the key's kv row
 * as it is, wrev and wttl NULL), so that, while nothing else touches that
 * row, the next write of the same key needs no statement at all: not
 * kv_load_meta's SELECT (the row is in memory), not W_HIST_MOVE's INSERT
 * ... SELECT (the version that becomes history is in memory), and not the
 * UPDATE of the row (hot_dirty: the row in the table is older than f->hot
 * until kv_hot_forget writes it). The history rows wait in a ring of the
 * newest history_keep (older ones would be pruned anyway). The run of
 * writes of the key ends with kv_hot_forget, which writes the row and the
 * ring's rows: at the end of the batch, when another key is written, and
 * before any other statement reads or changes a kv row or counts history
 * rows. So the batch commits the rows that writing one by one would have
 * left; only the statements differ. Values over KV_HOT_MAX_VALUE are not
 * remembered (memory stays bounded). */
#define KV_HOT_MAX_VALUE (64 * 1024)

static int kv_hot_is(const fsm *f, kbytes key)
{
    return f->hot_valid && kbytes_eq(kbytes_make(f->hot_key.data, f->hot_key.len), key);
}

/* Inserts the waiting history rows that the key keeps (the newest
 * hot_kept of them). */
static int kv_hot_insert_ring(fsm *f)
{
    size_t n = f->ring_n;
    size_t skip = (int64_t)n > f->hot_kept ? n - (size_t)(f->hot_kept > 0 ? f->hot_kept : 0) : 0;
    kbytes key = kbytes_make(f->hot_key.data, f->hot_key.len);
    int rc = 0;
    for (size_t i = skip; i < n && !rc; i++) {
        const kv_hot_row *h = &f->ring[(f->ring_head + i) % f->ring_cap];
        sqlite3_stmt *st = f->st[W_HIST_ADD];
        if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, h->revision) ||
            fsm_bind_bytes(st, 3, kbytes_make(h->value.data, h->value.len)) ||
            fsm_bind_i64(st, 4, 0) || fsm_bind_i64(st, 5, h->version) ||
            fsm_bind_i64(st, 6, h->create_revision) || fsm_bind_i64(st, 7, h->ttl_ms) ||
            fsm_exec(st))
            rc = KAHUNA_EIO;
    }
    f->ring_n = 0;
    f->ring_head = 0;
    return rc;
}

/* Writes the hot key's kv row, which kv_write left behind (hot_dirty). */
static int kv_hot_write_row(fsm *f)
{
    sqlite3_stmt *st = f->st[W_KV_UPDATE];
    f->hot_dirty = 0;
    if (fsm_bind_bytes(st, 1, kbytes_make(f->hot_key.data, f->hot_key.len)) ||
        fsm_bind_bytes(st, 2, kbytes_make(f->hot.value.data, f->hot.value.len)) ||
        fsm_bind_i64(st, 3, f->hot.revision) || fsm_bind_i64(st, 5, f->hot.version) ||
        fsm_bind_i64(st, 6, f->hot.ttl_ms) || fsm_bind_i64(st, 7, f->hot_kept) ||
        fsm_bind_i64(st, 8, f->hot_pruned) || fsm_exec(st))
        return KAHUNA_EIO;
    return 0;
}

int kv_hot_forget(fsm *f)
{
    int rc = f->hot_dirty && f->hot_valid ? kv_hot_write_row(f) : 0;
    if (f->ring_n) {
        int rc2 = kv_hot_insert_ring(f);
        if (!rc)
            rc = rc2;
    }
    f->hot_dirty = 0;
    f->hot_valid = 0;
    return rc;
}

/* The hot key's live version goes to the ring, the newest history row
 * (the oldest waiting one drops out when the ring is full). */
static int kv_hot_push(fsm *f)
{
    if (!f->ring) {
        f->ring = calloc((size_t)f->history_keep, sizeof *f->ring);
        if (!f->ring)
            return KAHUNA_ENOMEM;
        f->ring_cap = (size_t)f->history_keep;
    }
    size_t slot;
    if (f->ring_n < f->ring_cap) {
        slot = (f->ring_head + f->ring_n) % f->ring_cap;
        f->ring_n++;
    } else {
        slot = f->ring_head;
        f->ring_head = (f->ring_head + 1) % f->ring_cap;
    }
    kv_hot_row *h = &f->ring[slot];
    kbuf spare = h->value;             /* swap buffers: no copy */
    *h = f->hot;
    f->hot.value = spare;
    f->hot_valid = 0;                  /* until kv_hot_set */
    return 0;
}

/* Remembers the version kv_write just wrote. */
static int kv_hot_set(fsm *f, kbytes key, kbytes value, int64_t rev, int64_t version,
                      int64_t create, int64_t ttl_ms, int64_t kept, int pruned)
{
    /* the ring holds hot_key's rows, also between kv_hot_push and here */
    int same = kbytes_eq(kbytes_make(f->hot_key.data, f->hot_key.len), key);
    if (same)
        f->hot_kept = kept;            /* what the key keeps now, ring rows included */
    if (value.n > KV_HOT_MAX_VALUE || (!same && f->ring_n)) {
        int rc = kv_hot_forget(f);
        if (rc || value.n > KV_HOT_MAX_VALUE)
            return rc;
    }
    f->hot_valid = 0;
    if (!same) {
        kbuf_reset(&f->hot_key);
        if (kbuf_append(&f->hot_key, key.p, key.n))
            return KAHUNA_ENOMEM;
    }
    kbuf_reset(&f->hot.value);
    if (value.n && kbuf_append(&f->hot.value, value.p, value.n))
        return KAHUNA_ENOMEM;
    f->hot.revision = rev;
    f->hot.version = version;
    f->hot.create_revision = create;
    f->hot.ttl_ms = ttl_ms;
    f->hot_kept = kept;
    f->hot_pruned = pruned;
    f->hot_valid = 1;
    return 0;
}

void kv_batch_abort(fsm *f)
{
    f->hot_valid = 0;
    f->hot_dirty = 0;
    f->ring_n = 0;
    f->ring_head = 0;
    f->prune_n = 0;
}

void kv_batch_free(fsm *f)
{
    kv_batch_abort(f);
    for (size_t i = 0; i < f->prune_cap; i++)
        kbuf_free(&f->prune_keys[i]);
    free(f->prune_keys);
    f->prune_keys = NULL;
    f->prune_cap = 0;
    for (size_t i = 0; i < f->ring_cap; i++)
        kbuf_free(&f->ring[i].value);
    free(f->ring);
    f->ring = NULL;
    f->ring_cap = 0;
    kbuf_free(&f->hot_key);
    kbuf_free(&f->hot.value);
}

int kv_load_meta(fsm *f, kbytes key, kv_meta *m)
{
    sqlite3_stmt *st = f->st[W_KV_META];
    memset(m, 0, sizeof *m);
    if (kv_hot_is(f, key)) {
        m->present = 1;
        m->revision = f->hot.revision;
        m->create_revision = f->hot.create_revision;
        m->version = f->hot.version;
        m->hist_count = f->hot_kept;
        m->pruned = f->hot_pruned;
        return 0;
    }
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc;
    m->present = 1;
    m->revision = sqlite3_column_int64(st, 0);
    m->create_revision = sqlite3_column_int64(st, 1);
    m->version = sqlite3_column_int64(st, 2);
    m->hist_count = sqlite3_column_int64(st, 3);
    m->pruned = sqlite3_column_int(st, 4) != 0;
    fsm_done(st);
    return 0;
}

/* For an absent key: the history rows and pruning its past lives left.
 * It counts rows, so the batch's deferred prunes are done first. */
static int kv_load_past(fsm *f, kbytes key, kv_meta *m)
{
    int rc = kv_hot_forget(f);
    if (!rc)
        rc = kv_prune_flush(f);
    if (rc)
        return rc;
    sqlite3_stmt *st = f->st[W_KV_PAST];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return KAHUNA_EIO;             /* an aggregate always has a row */
    m->hist_count = sqlite3_column_int64(st, 0);
    m->pruned = sqlite3_column_int(st, 1) != 0;
    fsm_done(st);
    return 0;
}

/* *equal = the key's value equals v (the key is present). */
static int kv_value_equals(fsm *f, kbytes key, kbytes v, int *equal)
{
    sqlite3_stmt *st = f->st[W_KV_VALUE];
    *equal = 0;
    if (kv_hot_is(f, key)) {
        *equal = kbytes_eq(kbytes_make(f->hot.value.data, f->hot.value.len), v);
        return 0;
    }
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc;
    kbytes cur;
    rc = fsm_col_bytes(st, 0, &cur);
    if (!rc)
        *equal = kbytes_eq(cur, v);
    fsm_done(st);
    return rc;
}

/* Moves the live version of a present key, as written, into history (for
 * the hot key: into the ring, see above). */
static int kv_move_to_history(fsm *f, kbytes key)
{
    if (kv_hot_is(f, key))
        return kv_hot_push(f);
    int rc = kv_hot_forget(f);
    if (rc)
        return rc;
    sqlite3_stmt *st = f->st[W_HIST_MOVE];
    if (fsm_bind_bytes(st, 1, key) || fsm_exec(st))
        return KAHUNA_EIO;
    return 0;
}

/* Adds a tombstone history row. */
static int kv_add_tombstone(fsm *f, kbytes key, int64_t revision)
{
    sqlite3_stmt *st = f->st[W_HIST_ADD];
    if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, revision) ||
        fsm_bind_bytes(st, 3, kbytes_make(NULL, 0)) || fsm_bind_i64(st, 4, 1) ||
        fsm_bind_i64(st, 5, 0) || fsm_bind_i64(st, 6, 0) || fsm_bind_i64(st, 7, 0) ||
        fsm_exec(st))
        return KAHUNA_EIO;
    return 0;
}

/* ---- pruning, deferred to the end of the batch ----
 *
 * A write that takes a key past history_keep versions must drop the oldest
 * history rows. The kv row says at once how many history rows the key
 * keeps (hist_count; kv_compacted is written at once too), but the rows
 * themselves are deleted once per key and batch, by kv_prune_flush, when
 * the batch ends (before its COMMIT): a key written a thousand times in one
 * batch is pruned once instead of a thousand times. Nothing in apply reads
 * a key's history rows except kv_load_past, which flushes first, and
 * readers only see committed batches, so the outcome is the same as
 * pruning at each write whatever the batch boundaries are (deterministic).
 *
 * The flush keeps, of each pending key, the newest hist_count rows when
 * the key is live (its kv row counts them), else the newest history_keep
 * (a deleted key keeps history_keep rows, tombstone included, as
 * kv_remove's count says). */

/* Records that key's history must be cut down at the end of the batch.
 * Consecutive writes of one key record it once. */
static int kv_prune_later(fsm *f, kbytes key)
{
    if (f->prune_n) {
        const kbuf *last = &f->prune_keys[f->prune_n - 1];
        if (kbytes_eq(kbytes_make(last->data, last->len), key))
            return 0;
    }
    if (f->prune_n == f->prune_cap) {
        size_t ncap = f->prune_cap ? f->prune_cap * 2 : 16;
        kbuf *p = realloc(f->prune_keys, ncap * sizeof *p);
        if (!p)
            return KAHUNA_ENOMEM;
        memset(p + f->prune_cap, 0, (ncap - f->prune_cap) * sizeof *p);
        f->prune_keys = p;
        f->prune_cap = ncap;
    }
    kbuf *b = &f->prune_keys[f->prune_n];
    kbuf_reset(b);
    if (kbuf_append(b, key.p, key.n))
        return KAHUNA_ENOMEM;
    f->prune_n++;
    return 0;
}

int kv_prune_flush(fsm *f)
{
    int rc = 0;
    for (size_t i = 0; i < f->prune_n && !rc; i++) {
        kbytes key = kbytes_make(f->prune_keys[i].data, f->prune_keys[i].len);
        kv_meta m;
        if ((rc = kv_load_meta(f, key, &m)))
            break;
        int64_t keep = m.present ? m.hist_count : f->history_keep;
        sqlite3_stmt *st = f->st[W_HIST_PRUNE];
        if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, keep) || fsm_exec(st))
            rc = KAHUNA_EIO;
    }
    f->prune_n = 0;
    return rc;
}

/* With `count` kept versions of the key (live + history rows), has the
 * oldest history rows beyond history_keep dropped (at the end of the
 * batch) and records that the key was pruned. */
static int kv_prune(fsm *f, kbytes key, int64_t count, int was_pruned)
{
    int64_t excess = count - f->history_keep;
    if (excess <= 0)
        return 0;
    int rc = kv_prune_later(f, key);
    if (rc)
        return rc;
    if (!was_pruned) {
        sqlite3_stmt *st = f->st[W_COMPACT_SET];
        if (fsm_bind_bytes(st, 1, key) || fsm_exec(st))
            return KAHUNA_EIO;
    }
    return 0;
}

int kv_apply_put(fsm *f, const command *c, fsm_result *res)
{
    kv_meta m;
    int rc = kv_load_meta(f, c->key, &m);
    if (rc)
        return rc;
    int ok = 1;
    if ((c->flags & CMD_F_IF_NOT_EXISTS) && m.present)
        ok = 0;
    if ((c->flags & CMD_F_IF_EXISTS) && !m.present)
        ok = 0;
    if (c->flags & CMD_F_IF_REVISION) {
        if (c->if_revision == 0 ? m.present : (!m.present || m.revision != c->if_revision))
            ok = 0;
    }
    if (ok && (c->flags & CMD_F_IF_VALUE)) {
        int equal = 0;
        if (m.present && (rc = kv_value_equals(f, c->key, c->aux, &equal)))
            return rc;
        ok = equal;
    }
    if (!ok) {
        res->status = KAHUNA_ECONDITION;
        res->revision = m.present ? m.revision : 0;
        return 0;
    }
    return kv_write(f, c->key, c->value, c->ttl_ms, &m, kbytes_make(NULL, 0), 0, res);
}

int kv_write(fsm *f, kbytes key, kbytes value, int64_t ttl_ms, kv_meta *m, kbytes keep_name,
             int64_t keep_generation, fsm_result *res)
{
    int rc;
    if (!m->present && (rc = kv_load_past(f, key, m)))
        return rc;

    int64_t rev = fsm_next_revision(f);
    int64_t version = m->present ? m->version + 1 : 1;
    int64_t create = m->present ? m->create_revision : rev;
    /* history rows once the live version moved there, then + the new one */
    int64_t past = m->hist_count + (m->present ? 1 : 0);
    int64_t count = past + 1;
    int64_t kept = count > f->history_keep ? f->history_keep - 1 : past;
    /* the hot key's row is written when its run ends (see "the hot key") */
    int defer = m->present && value.n <= KV_HOT_MAX_VALUE && kv_hot_is(f, key);
    if (m->present && (rc = kv_move_to_history(f, key)))
        return rc;
    if (!defer) {
        f->hot_dirty = 0;              /* this write replaces a row left behind */
        sqlite3_stmt *st = f->st[m->present ? W_KV_UPDATE : W_KV_INSERT];
        if (fsm_bind_bytes(st, 1, key) || fsm_bind_bytes(st, 2, value) ||
            fsm_bind_i64(st, 3, rev) || (!m->present && fsm_bind_i64(st, 4, create)) ||
            fsm_bind_i64(st, 5, version) || fsm_bind_i64(st, 6, ttl_ms) ||
            fsm_bind_i64(st, 7, kept) || fsm_bind_i64(st, 8, m->pruned || past > kept) ||
            fsm_exec(st))
            return KAHUNA_EIO;
    }
    if ((rc = kv_prune(f, key, count, m->pruned)) ||
        (rc = kv_hot_set(f, key, value, rev, version, create, ttl_ms, kept, m->pruned || past > kept)))
        return rc;
    f->hot_dirty = defer;
    if (!m->present)
        f->kv_count++;
    if (ttl_ms > 0 && keep_generation)
        fsm_ttl_emit_keep(f, FSM_TTL_KV, key, rev, ttl_ms, keep_name.n ? keep_name : key, keep_generation);
    else
        fsm_ttl_emit(f, FSM_TTL_KV, ttl_ms > 0 ? FSM_TTL_ARM : FSM_TTL_DISARM, key, rev, ttl_ms);
    res->revision = rev;
    res->version = version;
    res->create_revision = create;
    res->ttl_ms = ttl_ms;
    return 0;
}

/* Deletes a present key: tombstone, row gone, TTL disarmed. */
int kv_remove(fsm *f, kbytes key, const kv_meta *m, fsm_result *res)
{
    int rc = kv_hot_forget(f);
    if (rc)
        return rc;
    int64_t rev = fsm_next_revision(f);
    if ((rc = kv_move_to_history(f, key)))
        return rc;
    sqlite3_stmt *st = f->st[W_KV_DELETE];
    if (fsm_bind_bytes(st, 1, key) || fsm_exec(st))
        return KAHUNA_EIO;
    if ((rc = kv_add_tombstone(f, key, rev)) || (rc = kv_prune(f, key, m->hist_count + 2, m->pruned)))
        return rc;
    f->kv_count--;
    fsm_ttl_emit(f, FSM_TTL_KV, FSM_TTL_DISARM, key, rev, 0);
    res->revision = rev;
    return 0;
}

int kv_apply_delete(fsm *f, const command *c, fsm_result *res)
{
    kv_meta m;
    int rc = kv_load_meta(f, c->key, &m);
    if (rc)
        return rc;
    if (!m.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if ((c->flags & CMD_F_IF_REVISION) && m.revision != c->if_revision) {
        res->status = KAHUNA_ECONDITION;
        res->revision = m.revision;
        return 0;
    }
    return kv_remove(f, c->key, &m, res);
}

int kv_apply_set_ttl(fsm *f, const command *c, fsm_result *res)
{
    kv_meta m;
    int rc = kv_load_meta(f, c->key, &m);
    if (rc)
        return rc;
    if (!m.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if ((rc = kv_hot_forget(f)))
        return rc;
    int64_t rev = fsm_next_revision(f);
    sqlite3_stmt *st = f->st[W_KV_SET_TTL];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_i64(st, 2, rev) ||
        fsm_bind_i64(st, 3, c->ttl_ms) || fsm_exec(st))
        return KAHUNA_EIO;
    fsm_ttl_emit(f, FSM_TTL_KV, c->ttl_ms > 0 ? FSM_TTL_ARM : FSM_TTL_DISARM, c->key, rev, c->ttl_ms);
    res->revision = rev;
    res->version = m.version;
    res->create_revision = m.create_revision;
    res->ttl_ms = c->ttl_ms;
    return 0;
}

int kv_apply_expire(fsm *f, const command *c, fsm_result *res)
{
    kv_meta m;
    int rc = kv_load_meta(f, c->key, &m);
    if (rc)
        return rc;
    if (!m.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if (m.revision != c->num) {        /* written again since: not this expiry */
        res->status = KAHUNA_ECONDITION;
        res->revision = m.revision;
        return 0;
    }
    return kv_remove(f, c->key, &m, res);
}

/* ---- reads ---- */

void kv_record_free(kv_record *r)
{
    if (!r)
        return;
    kbuf_free(&r->key);
    kbuf_free(&r->value);
    memset(r, 0, sizeof *r);
}

void kv_list_free(kv_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        kv_record_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Fills out from the current row of st (KV_COLS, value, then deleted or
 * key at column 5). key: the key to copy, or NULL to take column C_KEY. */
static int kv_fill(sqlite3_stmt *st, const kbytes *key, int has_deleted, kv_record *out)
{
    out->revision = sqlite3_column_int64(st, C_REV);
    out->create_revision = sqlite3_column_int64(st, C_CREATE);
    out->version = sqlite3_column_int64(st, C_VERSION);
    out->ttl_ms = sqlite3_column_int64(st, C_TTL);
    out->deleted = has_deleted ? sqlite3_column_int(st, C_DELETED) != 0 : 0;
    int rc = fsm_col_kbuf(st, C_VALUE, &out->value);
    if (!rc)
        rc = key ? kbuf_append(&out->key, key->p, key->n) : fsm_col_kbuf(st, C_KEY, &out->key);
    return rc;
}

static int kv_get_latest(fsm_reader *r, kbytes key, kv_record *out)
{
    sqlite3_stmt *st = r->st[R_KV_GET];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc ? rc : KAHUNA_ENOTFOUND;
    rc = kv_fill(st, &key, 0, out);
    fsm_done(st);
    return rc;
}

/* The key as of store revision at, inside a read transaction. */
static int kv_get_at(fsm_reader *r, kbytes key, int64_t at, kv_record *out)
{
    int64_t current = 0;
    int rc = fsm_read_meta(r, &current, NULL);
    if (rc)
        return rc;
    if (at > current)
        return KAHUNA_EBADREQ;         /* the future */
    sqlite3_stmt *st = r->st[R_KV_AT];
    if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, at))
        return KAHUNA_EIO;
    rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        rc = kv_fill(st, &key, 0, out);
        fsm_done(st);
        return rc;
    }

    st = r->st[R_HIST_AT];
    if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, at))
        return KAHUNA_EIO;
    rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (sqlite3_column_int(st, C_DELETED)) {
            fsm_done(st);
            return KAHUNA_ENOTFOUND;
        }
        rc = kv_fill(st, &key, 0, out);
        fsm_done(st);
        return rc;
    }
    /* No kept version at or before `at`: pruned, or never there. */
    st = r->st[R_COMPACTED];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        fsm_done(st);
        return KAHUNA_ECOMPACTED;
    }
    return KAHUNA_ENOTFOUND;
}

int fsm_kv_get(fsm_reader *r, kbytes key, int64_t at_revision, kv_record *out)
{
    memset(out, 0, sizeof *out);
    if (at_revision < 0)
        return KAHUNA_EBADREQ;
    int rc;
    if (at_revision == 0) {
        rc = kv_get_latest(r, key, out);
    } else {
        rc = fsm_read_begin(r);
        if (rc)
            return rc;
        rc = fsm_read_end(r, kv_get_at(r, key, at_revision, out));
    }
    if (rc)
        kv_record_free(out);
    return rc;
}

/* Appends the rows of st to out (each one a record), at most `limit`; a
 * row beyond sets more. key: as for kv_fill. */
static int kv_collect(sqlite3_stmt *st, const kbytes *key, int has_deleted, size_t limit, kv_list *out)
{
    size_t cap = 0;
    int rc;
    while ((rc = fsm_step(st)) == 1) {
        if (out->n == limit) {
            out->more = 1;
            fsm_done(st);
            return 0;
        }
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            kv_record *p = realloc(out->items, ncap * sizeof *p);
            if (!p) {
                fsm_done(st);
                return KAHUNA_ENOMEM;
            }
            out->items = p;
            cap = ncap;
        }
        kv_record *item = &out->items[out->n];
        memset(item, 0, sizeof *item);
        out->n++;
        if ((rc = kv_fill(st, key, has_deleted, item))) {
            fsm_done(st);
            return rc;
        }
    }
    return rc;
}

int fsm_kv_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, int keys_only, kv_list *out)
{
    memset(out, 0, sizeof *out);
    fsm_range rg;
    int rc = fsm_range_make(prefix, after, limit, &rg);
    if (rc)
        return rc;
    sqlite3_stmt *st = r->st[keys_only ? (rg.bounded ? R_KV_KEYS_TO : R_KV_KEYS)
                                       : (rg.bounded ? R_KV_LIST_TO : R_KV_LIST)];
    rc = fsm_range_bind(&rg, st, limit);
    if (!rc)
        rc = kv_collect(st, NULL, 0, limit, out);
    fsm_range_free(&rg);
    if (rc)
        kv_list_free(out);
    return rc;
}

int fsm_kv_history(fsm_reader *r, kbytes key, kv_list *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = r->st[R_HIST_ALL];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    int rc = kv_collect(st, &key, 1, SIZE_MAX, out);
    if (!rc && out->n == 0)
        rc = KAHUNA_ENOTFOUND;
    if (rc)
        kv_list_free(out);
    return rc;
}
