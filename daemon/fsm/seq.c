/* seq.c: sequences of the state machine: apply of SEQ_NEXT, SEQ_SET and
 * SEQ_DELETE, and the reads.
 *
 * A sequence is a row in `seqs` holding the last value handed out; a new
 * name starts at 1, and a deleted one starts again at 1. SEQ_NEXT with an
 * idempotency key records its answer in `seq_idem` with the leader's clock
 * (the command's now_ms): the same (name, key) within 10 minutes of that
 * gets the same answer again, without a new revision. Entries older than
 * the window are pruned while applying SEQ_NEXT, by the command's now_ms,
 * so every node prunes the same entries at the same point of the log. */
#include "fsm_internal.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

#define SEQ_IDEM_WINDOW_MS (10 * 60 * 1000)

const fsm_sql seq_write_sql[] = {
    {W_SEQ_GET, "SELECT last FROM seqs WHERE name = ?1"},
    {W_SEQ_PUT, "INSERT INTO seqs(name, last) VALUES (?1, ?2)"
                " ON CONFLICT(name) DO UPDATE SET last = excluded.last"},
    {W_SEQ_DELETE, "DELETE FROM seqs WHERE name = ?1"},
    {W_IDEM_PRUNE, "DELETE FROM seq_idem WHERE time_ms <= ?1"},
    {W_IDEM_GET, "SELECT value, last, count, revision FROM seq_idem"
                 " WHERE name = ?1 AND ikey = ?2 AND time_ms > ?3"},
    {W_IDEM_PUT, "INSERT INTO seq_idem(name, ikey, value, last, count, time_ms, revision)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name, ikey) DO UPDATE SET"
                 " value = excluded.value, last = excluded.last, count = excluded.count,"
                 " time_ms = excluded.time_ms, revision = excluded.revision"},
    {W_IDEM_DELETE_SEQ, "DELETE FROM seq_idem WHERE name = ?1"},
    {0, NULL},
};

const fsm_sql seq_read_sql[] = {
    {R_SEQ_GET, "SELECT last, name FROM seqs WHERE name = ?1"},
    {R_SEQ_LIST, "SELECT last, name FROM seqs WHERE name >= ?1 ORDER BY name LIMIT ?3"},
    {R_SEQ_LIST_TO, "SELECT last, name FROM seqs"
                    " WHERE name >= ?1 AND name < ?2 ORDER BY name LIMIT ?3"},
    {0, NULL},
};

/* ---- apply ---- */

/* *present, *last: the sequence's row. */
static int seq_load(fsm *f, kbytes name, int *present, int64_t *last)
{
    sqlite3_stmt *st = f->st[W_SEQ_GET];
    *present = 0;
    *last = 0;
    if (fsm_bind_bytes(st, 1, name))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc;
    *present = 1;
    *last = sqlite3_column_int64(st, 0);
    fsm_done(st);
    return 0;
}

static int seq_store(fsm *f, kbytes name, int64_t last)
{
    sqlite3_stmt *st = f->st[W_SEQ_PUT];
    if (fsm_bind_bytes(st, 1, name) || fsm_bind_i64(st, 2, last) || fsm_exec(st))
        return KAHUNA_EIO;
    return 0;
}

/* Looks up a live idempotency entry; *found = 1 and res filled when there
 * is one (status EBADREQ when the count differs). */
static int seq_idem_lookup(fsm *f, const command *c, int64_t cutoff, int *found, fsm_result *res)
{
    sqlite3_stmt *st = f->st[W_IDEM_GET];
    *found = 0;
    if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_bytes(st, 2, c->aux) ||
        fsm_bind_i64(st, 3, cutoff))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc;
    *found = 1;
    if (sqlite3_column_int64(st, 2) != c->num) {
        res->status = KAHUNA_EBADREQ;  /* same key, another request */
    } else {
        res->value = sqlite3_column_int64(st, 0);
        res->last = sqlite3_column_int64(st, 1);
        res->revision = sqlite3_column_int64(st, 3);
    }
    fsm_done(st);
    return 0;
}

int seq_apply_next(fsm *f, const command *c, fsm_result *res)
{
    /* now_ms >= 0 (cmd_validate), so no overflow here. */
    const int64_t cutoff = c->now_ms - SEQ_IDEM_WINDOW_MS;
    sqlite3_stmt *st = f->st[W_IDEM_PRUNE];
    if (fsm_bind_i64(st, 1, cutoff) || fsm_exec(st))
        return KAHUNA_EIO;
    int rc;
    if (c->aux.n) {
        int found;
        if ((rc = seq_idem_lookup(f, c, cutoff, &found, res)) || found)
            return rc;
    }
    int present;
    int64_t last;
    if ((rc = seq_load(f, c->key, &present, &last)))
        return rc;
    if (last > INT64_MAX - c->num) {
        res->status = KAHUNA_ERANGE;
        res->value = last;
        return 0;
    }
    int64_t rev = fsm_next_revision(f);
    int64_t first = last + 1;
    last += c->num;
    if ((rc = seq_store(f, c->key, last)))
        return rc;
    if (c->aux.n) {
        st = f->st[W_IDEM_PUT];
        if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_bytes(st, 2, c->aux) ||
            fsm_bind_i64(st, 3, first) || fsm_bind_i64(st, 4, last) ||
            fsm_bind_i64(st, 5, c->num) || fsm_bind_i64(st, 6, c->now_ms) ||
            fsm_bind_i64(st, 7, rev) || fsm_exec(st))
            return KAHUNA_EIO;
    }
    res->revision = rev;
    res->value = first;
    res->last = last;
    return 0;
}

int seq_apply_set(fsm *f, const command *c, fsm_result *res)
{
    int present;
    int64_t last;
    int rc = seq_load(f, c->key, &present, &last);
    if (rc)
        return rc;
    if (present && c->num < last && !(c->flags & CMD_F_FORCE)) {
        res->status = KAHUNA_ECONDITION;   /* backwards needs force */
        res->value = last;
        return 0;
    }
    int64_t rev = fsm_next_revision(f);
    if ((rc = seq_store(f, c->key, c->num)))
        return rc;
    res->revision = rev;
    res->value = c->num;
    return 0;
}

int seq_apply_delete(fsm *f, const command *c, fsm_result *res)
{
    int present;
    int64_t last;
    int rc = seq_load(f, c->key, &present, &last);
    if (rc)
        return rc;
    if (!present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    int64_t rev = fsm_next_revision(f);
    sqlite3_stmt *st = f->st[W_SEQ_DELETE];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_exec(st))
        return KAHUNA_EIO;
    st = f->st[W_IDEM_DELETE_SEQ];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_exec(st))
        return KAHUNA_EIO;
    res->revision = rev;
    res->value = last;
    return 0;
}

/* ---- reads ---- */

void seq_record_free(seq_record *r)
{
    if (!r)
        return;
    kbuf_free(&r->name);
    memset(r, 0, sizeof *r);
}

void seq_list_free(seq_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        seq_record_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int seq_fill(sqlite3_stmt *st, seq_record *out)
{
    out->value = sqlite3_column_int64(st, 0);
    return fsm_col_kbuf(st, 1, &out->name);
}

static int seq_fill_row(sqlite3_stmt *st, void *item)
{
    return seq_fill(st, item);
}

int fsm_seq_get(fsm_reader *r, kbytes name, seq_record *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = r->st[R_SEQ_GET];
    if (fsm_bind_bytes(st, 1, name))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc ? rc : KAHUNA_ENOTFOUND;
    rc = seq_fill(st, out);
    fsm_done(st);
    if (rc)
        seq_record_free(out);
    return rc;
}

int fsm_seq_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, seq_list *out)
{
    memset(out, 0, sizeof *out);
    fsm_range rg;
    int rc = fsm_range_make(prefix, after, limit, &rg);
    if (rc)
        return rc;
    sqlite3_stmt *st = r->st[rg.bounded ? R_SEQ_LIST_TO : R_SEQ_LIST];
    rc = fsm_range_bind(&rg, st, limit);
    if (!rc)
        rc = fsm_collect_rows(st, limit, sizeof *out->items, seq_fill_row, (void **)&out->items,
                              &out->n, &out->more);
    fsm_range_free(&rg);
    if (rc)
        seq_list_free(out);
    return rc;
}
