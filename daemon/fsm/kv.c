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
    /* drops the key's ?2 + 1 oldest rows */
    {W_HIST_PRUNE, "DELETE FROM kv_history WHERE key = ?1 AND revision <="
                   " (SELECT revision FROM kv_history WHERE key = ?1"
                   " ORDER BY revision LIMIT 1 OFFSET ?2)"},
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
 * removal of the oldest. The kv row counts the key's history rows
 * (hist_count, past versions only) so that no query is needed to know when
 * to prune, and remembers whether it was ever pruned, so that kv_compacted
 * is written once per key. */

int kv_load_meta(fsm *f, kbytes key, kv_meta *m)
{
    sqlite3_stmt *st = f->st[W_KV_META];
    memset(m, 0, sizeof *m);
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

/* For an absent key: the history rows and pruning its past lives left. */
static int kv_load_past(fsm *f, kbytes key, kv_meta *m)
{
    sqlite3_stmt *st = f->st[W_KV_PAST];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
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

/* Moves the live version of a present key, as written, into history. */
static int kv_move_to_history(fsm *f, kbytes key)
{
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

/* With `count` kept versions of the key (live + history rows), drops the
 * oldest history rows beyond history_keep and records that the key was
 * pruned. */
static int kv_prune(fsm *f, kbytes key, int64_t count, int was_pruned)
{
    int64_t excess = count - f->history_keep;
    if (excess <= 0)
        return 0;
    sqlite3_stmt *st = f->st[W_HIST_PRUNE];
    if (fsm_bind_bytes(st, 1, key) || fsm_bind_i64(st, 2, excess - 1) || fsm_exec(st))
        return KAHUNA_EIO;
    if (!was_pruned) {
        st = f->st[W_COMPACT_SET];
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
    if (m->present && (rc = kv_move_to_history(f, key)))
        return rc;
    sqlite3_stmt *st = f->st[m->present ? W_KV_UPDATE : W_KV_INSERT];
    if (fsm_bind_bytes(st, 1, key) || fsm_bind_bytes(st, 2, value) ||
        fsm_bind_i64(st, 3, rev) || (!m->present && fsm_bind_i64(st, 4, create)) ||
        fsm_bind_i64(st, 5, version) || fsm_bind_i64(st, 6, ttl_ms) ||
        fsm_bind_i64(st, 7, kept) || fsm_bind_i64(st, 8, m->pruned || past > kept) ||
        fsm_exec(st))
        return KAHUNA_EIO;
    if ((rc = kv_prune(f, key, count, m->pruned)))
        return rc;
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
    int64_t rev = fsm_next_revision(f);
    int rc = kv_move_to_history(f, key);
    if (rc)
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
