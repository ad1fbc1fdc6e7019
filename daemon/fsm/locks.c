/* locks.c: locks of the state machine: apply of LOCK_ACQUIRE, LOCK_EXTEND,
 * LOCK_RELEASE and LOCK_EXPIRE, and the reads.
 *
 * A held lock is a row in `locks` (a free lock has none): owner, fencing
 * token, and the TTL granted at the last acquire or extend. The token is the
 * store revision at which the lock was granted, so the tokens of a lock
 * strictly increase over its grants, on every node and across restarts.
 * Acquire by the holder keeps the token and restarts the TTL (a retried
 * request is harmless). Expiry is the leader's decision, entering the log as
 * LOCK_EXPIRE with the token of the grant it saw run out: a later grant is
 * never ended by an old expiry. */
#include "fsm_internal.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

const fsm_sql lock_write_sql[] = {
    {W_LOCK_GET, "SELECT owner, token, ttl_ms FROM locks WHERE name = ?1"},
    {W_LOCK_PUT, "INSERT INTO locks(name, owner, token, ttl_ms) VALUES (?1, ?2, ?3, ?4)"},
    {W_LOCK_SET_TTL, "UPDATE locks SET ttl_ms = ?2 WHERE name = ?1"},
    {W_LOCK_DELETE, "DELETE FROM locks WHERE name = ?1"},
    {W_LOCK_TTLS, "SELECT name, token, ttl_ms FROM locks ORDER BY name"},
    {0, NULL},
};

const fsm_sql lock_read_sql[] = {
    {R_LOCK_GET, "SELECT owner, token, ttl_ms, name FROM locks WHERE name = ?1"},
    {R_LOCK_LIST, "SELECT owner, token, ttl_ms, name FROM locks"
                  " WHERE name >= ?1 ORDER BY name LIMIT ?3"},
    {R_LOCK_LIST_TO, "SELECT owner, token, ttl_ms, name FROM locks"
                     " WHERE name >= ?1 AND name < ?2 ORDER BY name LIMIT ?3"},
    {0, NULL},
};

/* ---- apply ---- */

typedef struct lock_state {
    int present;
    int mine;                  /* held by the command's owner */
    int64_t token, ttl_ms;
    char *holder;              /* malloc'd when held by another owner */
} lock_state;

static int lock_load(fsm *f, const command *c, lock_state *s)
{
    sqlite3_stmt *st = f->st[W_LOCK_GET];
    memset(s, 0, sizeof *s);
    if (fsm_bind_bytes(st, 1, c->key))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc;
    s->present = 1;
    s->token = sqlite3_column_int64(st, 1);
    s->ttl_ms = sqlite3_column_int64(st, 2);
    kbytes owner;
    rc = fsm_col_bytes(st, 0, &owner);
    if (!rc) {
        s->mine = kbytes_eq(owner, c->owner);
        if (!s->mine && !(s->holder = kbytes_strdup(owner)))
            rc = KAHUNA_ENOMEM;
    }
    fsm_done(st);
    return rc;
}

/* A conflict: the lock is held by someone else (holder, token, granted TTL
 * go into res; the holder string moves there). */
static int lock_refuse(lock_state *s, int status, fsm_result *res)
{
    res->status = status;
    res->owner = s->holder;
    s->holder = NULL;
    res->token = s->token;
    res->ttl_ms = s->ttl_ms;
    return 0;
}

static int lock_granted(const command *c, int64_t rev, int64_t token, int64_t ttl, fsm_result *res)
{
    res->revision = rev;
    res->token = token;
    res->ttl_ms = ttl;
    res->owner = kbytes_strdup(c->owner);
    return res->owner ? 0 : KAHUNA_ENOMEM;
}

static int lock_set_ttl(fsm *f, const command *c)
{
    sqlite3_stmt *st = f->st[W_LOCK_SET_TTL];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_i64(st, 2, c->ttl_ms) || fsm_exec(st))
        return KAHUNA_EIO;
    return 0;
}

int lock_apply_acquire(fsm *f, const command *c, fsm_result *res)
{
    lock_state s;
    int rc = lock_load(f, c, &s);
    if (rc)
        return rc;
    if (s.present && !s.mine)
        return lock_refuse(&s, KAHUNA_ELOCKHELD, res);
    int64_t rev = fsm_next_revision(f);
    int64_t token = s.present ? s.token : rev;
    if (s.present) {
        rc = lock_set_ttl(f, c);
    } else {
        sqlite3_stmt *st = f->st[W_LOCK_PUT];
        if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_bytes(st, 2, c->owner) ||
            fsm_bind_i64(st, 3, token) || fsm_bind_i64(st, 4, c->ttl_ms) || fsm_exec(st))
            rc = KAHUNA_EIO;
    }
    if (rc)
        return rc;
    fsm_ttl_emit(f, FSM_TTL_LOCK, FSM_TTL_ARM, c->key, token, c->ttl_ms);
    return lock_granted(c, rev, token, c->ttl_ms, res);
}

int lock_apply_extend(fsm *f, const command *c, fsm_result *res)
{
    lock_state s;
    int rc = lock_load(f, c, &s);
    if (rc)
        return rc;
    if (!s.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if (!s.mine)
        return lock_refuse(&s, KAHUNA_ENOTOWNER, res);
    int64_t rev = fsm_next_revision(f);
    if ((rc = lock_set_ttl(f, c)))
        return rc;
    fsm_ttl_emit(f, FSM_TTL_LOCK, FSM_TTL_ARM, c->key, s.token, c->ttl_ms);
    return lock_granted(c, rev, s.token, c->ttl_ms, res);
}

static int lock_free(fsm *f, const command *c, int64_t token, fsm_result *res)
{
    int64_t rev = fsm_next_revision(f);
    sqlite3_stmt *st = f->st[W_LOCK_DELETE];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_exec(st))
        return KAHUNA_EIO;
    fsm_ttl_emit(f, FSM_TTL_LOCK, FSM_TTL_DISARM, c->key, token, 0);
    res->revision = rev;
    res->token = token;
    return 0;
}

int lock_apply_release(fsm *f, const command *c, fsm_result *res)
{
    lock_state s;
    int rc = lock_load(f, c, &s);
    if (rc)
        return rc;
    if (!s.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if (!s.mine)
        return lock_refuse(&s, KAHUNA_ENOTOWNER, res);
    return lock_free(f, c, s.token, res);
}

int lock_apply_expire(fsm *f, const command *c, fsm_result *res)
{
    lock_state s;
    int rc = lock_load(f, c, &s);  /* c->owner is empty: never "mine" */
    free(s.holder);
    if (rc)
        return rc;
    if (!s.present) {
        res->status = KAHUNA_ENOTFOUND;
        return 0;
    }
    if (s.token != c->num) {           /* granted again since: not this expiry */
        res->status = KAHUNA_ECONDITION;
        res->token = s.token;
        return 0;
    }
    return lock_free(f, c, s.token, res);
}

/* ---- reads ---- */

void lock_record_free(lock_record *r)
{
    if (!r)
        return;
    kbuf_free(&r->name);
    kbuf_free(&r->owner);
    memset(r, 0, sizeof *r);
}

void lock_list_free(lock_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        lock_record_free(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int lock_fill(sqlite3_stmt *st, lock_record *out)
{
    out->token = sqlite3_column_int64(st, 1);
    out->ttl_ms = sqlite3_column_int64(st, 2);
    int rc = fsm_col_kbuf(st, 0, &out->owner);
    if (!rc)
        rc = fsm_col_kbuf(st, 3, &out->name);
    return rc;
}

static int lock_fill_row(sqlite3_stmt *st, void *item)
{
    return lock_fill(st, item);
}

int fsm_lock_get(fsm_reader *r, kbytes name, lock_record *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = r->st[R_LOCK_GET];
    if (fsm_bind_bytes(st, 1, name))
        return KAHUNA_EIO;
    int rc = fsm_step(st);
    if (rc <= 0)
        return rc ? rc : KAHUNA_ENOTFOUND;
    rc = lock_fill(st, out);
    fsm_done(st);
    if (rc)
        lock_record_free(out);
    return rc;
}

int fsm_lock_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, lock_list *out)
{
    memset(out, 0, sizeof *out);
    fsm_range rg;
    int rc = fsm_range_make(prefix, after, limit, &rg);
    if (rc)
        return rc;
    sqlite3_stmt *st = r->st[rg.bounded ? R_LOCK_LIST_TO : R_LOCK_LIST];
    rc = fsm_range_bind(&rg, st, limit);
    if (!rc)
        rc = fsm_collect_rows(st, limit, sizeof *out->items, lock_fill_row, (void **)&out->items,
                              &out->n, &out->more);
    fsm_range_free(&rg);
    if (rc)
        lock_list_free(out);
    return rc;
}
