/* strings.c: apply of the read-modify-write commands the RESP listener
 * needs (command.h, types 12..24): SET with GET/KEEPTTL, GETDEL, TTL changes
 * with conditions, INCR and INCRBYFLOAT, APPEND, SETRANGE, SETBIT, BITOP,
 * COPY/RENAME, FLUSH, reads inside a transaction, and CMD_TXN itself.
 *
 * They work on the same `kv` rows as KV_PUT and KV_DELETE, through kv.c's
 * kv_write and kv_remove, so every change makes a new version with history,
 * a new revision, and the TTL events the node needs.
 *
 * Rules that keep apply deterministic:
 *   - Numbers are parsed and printed here, from the stored bytes only.
 *     INCRBYFLOAT uses IEEE double (not long double, whose size differs
 *     between CPUs) and prints the shortest decimal that reads back as the
 *     same double, in plain notation ("10.6", "5200"), as Redis shows it.
 *   - A value change keeps the key's TTL (as Redis does): the new version
 *     stores the same TTL duration and asks the node, through
 *     fsm_ttl_event.keep_generation, to keep the old deadline.
 *   - CMD_TXN checks every watch before it changes anything; then it
 *     applies its sub-commands in order, each with its own result (a
 *     failing sub-command does not undo the others, as in Redis's EXEC). */
#include "fsm_internal.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const fsm_sql str_write_sql[] = {
    {W_STR_GET, "SELECT value, ttl_ms FROM kv WHERE key = ?1"},
    {W_STR_KEYS, "SELECT key FROM kv ORDER BY key LIMIT 256"},
    {0, NULL},
};

static const kbytes NO_NAME = {NULL, 0};

/* A key's row: meta, and when present its value and TTL. */
typedef struct str_row {
    kv_meta m;
    kbuf value;
    int64_t ttl_ms;
} str_row;

static int row_load(fsm *f, kbytes key, str_row *r)
{
    memset(r, 0, sizeof *r);
    int rc = kv_load_meta(f, key, &r->m);
    if (rc || !r->m.present)
        return rc;
    if ((rc = kv_hot_forget(f)))       /* the kv row, as it is, in the table */
        return rc;
    sqlite3_stmt *st = f->st[W_STR_GET];
    if (fsm_bind_bytes(st, 1, key))
        return KAHUNA_EIO;
    rc = fsm_step(st);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return KAHUNA_EIO; /* meta said present */
    rc = fsm_col_kbuf(st, 0, &r->value);
    r->ttl_ms = sqlite3_column_int64(st, 1);
    fsm_done(st);
    return rc;
}

static void row_free(str_row *r)
{
    kbuf_free(&r->value);
}

static kbytes row_bytes(const str_row *r)
{
    return kbytes_make(r->value.data, r->value.len);
}

/* Writes a new value for a key whose row is r, keeping its TTL. */
static int write_keep_ttl(fsm *f, kbytes key, kbytes value, str_row *r, fsm_result *res)
{
    int64_t ttl = r->m.present ? r->ttl_ms : 0;
    return kv_write(f, key, value, ttl, &r->m, NO_NAME, ttl > 0 ? r->m.revision : 0, res);
}

static int set_data(fsm_result *res, kbytes b)
{
    kbuf_reset(&res->data);
    return kbuf_append(&res->data, b.p, b.n);
}

int str_apply_get(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (!rc && !r.m.present)
        res->status = KAHUNA_ENOTFOUND;
    if (!rc && r.m.present) {
        res->found = 1;
        res->revision = r.m.revision;
        res->version = r.m.version;
        res->create_revision = r.m.create_revision;
        res->ttl_ms = r.ttl_ms;
        rc = set_data(res, row_bytes(&r));
    }
    row_free(&r);
    return rc;
}

int str_apply_set(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    if ((c->flags & CMD_F_RETURN) && r.m.present && (rc = set_data(res, row_bytes(&r))))
        goto out;
    if (((c->flags & CMD_F_IF_NOT_EXISTS) && r.m.present) || ((c->flags & CMD_F_IF_EXISTS) && !r.m.present)) {
        res->status = KAHUNA_ECONDITION;
        res->revision = r.m.present ? r.m.revision : 0;
        goto out;
    }
    if (c->flags & CMD_F_KEEPTTL)
        rc = write_keep_ttl(f, c->key, c->value, &r, res);
    else
        rc = kv_write(f, c->key, c->value, c->ttl_ms, &r.m, NO_NAME, 0, res);
out:
    row_free(&r);
    return rc;
}

int str_apply_getdel(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (!rc && !r.m.present)
        res->status = KAHUNA_ENOTFOUND;
    if (!rc && r.m.present) {
        res->found = 1;
        rc = set_data(res, row_bytes(&r));
        if (!rc)
            rc = kv_remove(f, c->key, &r.m, res);
    }
    row_free(&r);
    return rc;
}

int str_apply_ttl_if(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    if (!r.m.present) {
        res->status = KAHUNA_ENOTFOUND;
        goto out;
    }
    res->found = 1;
    if ((c->flags & CMD_F_RETURN) && (rc = set_data(res, row_bytes(&r))))
        goto out;
    if (((c->flags & CMD_F_IF_HAS_TTL) && r.ttl_ms == 0) || ((c->flags & CMD_F_IF_NO_TTL) && r.ttl_ms > 0) ||
        ((c->flags & CMD_F_IF_REVISION) && r.m.revision != c->if_revision)) {
        res->status = KAHUNA_ECONDITION;
        res->revision = r.m.revision;
        goto out;
    }
    if (c->ttl_ms < 0) {
        rc = kv_remove(f, c->key, &r.m, res);
        goto out;
    }
    if (c->ttl_ms == 0 && r.ttl_ms == 0) {
        res->revision = r.m.revision; /* nothing to change: no revision */
        goto out;
    }
    if ((rc = kv_hot_forget(f)))       /* a kv row changes outside kv_write */
        goto out;
    int64_t rev = fsm_next_revision(f);
    sqlite3_stmt *st = f->st[W_KV_SET_TTL];
    if (fsm_bind_bytes(st, 1, c->key) || fsm_bind_i64(st, 2, rev) || fsm_bind_i64(st, 3, c->ttl_ms) ||
        fsm_exec(st)) {
        rc = KAHUNA_EIO;
        goto out;
    }
    fsm_ttl_emit(f, FSM_TTL_KV, c->ttl_ms > 0 ? FSM_TTL_ARM : FSM_TTL_DISARM, c->key, rev, c->ttl_ms);
    res->revision = rev;
    res->version = r.m.version;
    res->create_revision = r.m.create_revision;
    res->ttl_ms = c->ttl_ms;
out:
    row_free(&r);
    return rc;
}

/* ---- numbers ---- */

/* Redis's string2ll: strict decimal that fits a long long. */
static int parse_ll(kbytes b, long long *out)
{
    if (b.n == 0 || b.n > 20)
        return 0;
    char buf[24];
    memcpy(buf, b.p, b.n);
    buf[b.n] = '\0';
    const char *s = buf;
    if (*s == '-')
        s++;
    if (!*s || (s[0] == '0' && (s[1] || s != buf)))
        return 0; /* "", "-", "0x", "-0" */
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

/* Redis's string2ld rules, on a double: no leading space, the whole
 * string, not NaN. */
static int parse_double(kbytes b, double *out)
{
    if (b.n == 0 || b.n > 512)
        return 0;
    char buf[520];
    memcpy(buf, b.p, b.n);
    buf[b.n] = '\0';
    if (memchr(b.p, '\0', b.n) || buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' ||
        buf[0] == '\v' || buf[0] == '\f')
        return 0;
    errno = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end || isnan(v) || (errno == ERANGE && isinf(v)))
        return 0;
    *out = v;
    return 1;
}

/* The shortest decimal that reads back as d, in plain notation. */
static int format_double(double d, kbuf *out)
{
    char buf[400];
    int digits = 17, exp10 = 0;
    for (int p = 1; p <= 17; p++) {
        char e[64];
        snprintf(e, sizeof e, "%.*e", p - 1, d);
        if (strtod(e, NULL) == d) {
            digits = p;
            const char *x = strchr(e, 'e');
            exp10 = x ? atoi(x + 1) : 0;
            break;
        }
    }
    int decimals = digits - 1 - exp10;
    if (decimals < 0)
        decimals = 0;
    int n = snprintf(buf, sizeof buf, "%.*f", decimals, d);
    if (n < 0 || (size_t)n >= sizeof buf)
        return KAHUNA_ERANGE;
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    kbuf_reset(out);
    return kbuf_append(out, buf, strlen(buf));
}

int str_apply_incr(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    long long cur = 0;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    if (r.m.present && !parse_ll(row_bytes(&r), &cur)) {
        res->status = KAHUNA_ERANGE;
        res->last = FSM_ERANGE_NOT_INTEGER;
        goto out;
    }
    if ((c->num > 0 && cur > LLONG_MAX - c->num) || (c->num < 0 && cur < LLONG_MIN - c->num)) {
        res->status = KAHUNA_ERANGE;
        res->last = FSM_ERANGE_OVERFLOW;
        goto out;
    }
    cur += c->num;
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", cur);
    rc = write_keep_ttl(f, c->key, kbytes_make(buf, (size_t)n), &r, res);
    res->value = cur;
out:
    row_free(&r);
    return rc;
}

int str_apply_incrbyfloat(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    double cur = 0, incr;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    if ((r.m.present && !parse_double(row_bytes(&r), &cur)) || !parse_double(c->value, &incr)) {
        res->status = KAHUNA_ERANGE;
        res->last = FSM_ERANGE_NOT_FLOAT;
        goto out;
    }
    cur += incr;
    if (isnan(cur) || isinf(cur)) {
        res->status = KAHUNA_ERANGE;
        res->last = FSM_ERANGE_NAN_INF;
        goto out;
    }
    rc = format_double(cur, &res->data);
    if (rc == KAHUNA_ERANGE) {
        res->status = rc;
        res->last = FSM_ERANGE_NAN_INF;
        rc = 0;
        goto out;
    }
    if (!rc) {
        kbuf text = res->data; /* kv_write fills res: keep the text aside */
        res->data = (kbuf)KBUF_INIT;
        rc = write_keep_ttl(f, c->key, kbytes_make(text.data, text.len), &r, res);
        kbuf_free(&res->data);
        res->data = text;
    }
out:
    row_free(&r);
    return rc;
}

/* ---- byte edits ---- */

int str_apply_append(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    if (r.value.len + c->value.n > KAHUNA_MAX_VALUE) {
        res->status = KAHUNA_ETOOLARGE;
        goto out;
    }
    if ((rc = kbuf_append(&r.value, c->value.p, c->value.n)))
        goto out;
    rc = write_keep_ttl(f, c->key, row_bytes(&r), &r, res);
    res->value = (int64_t)r.value.len;
out:
    row_free(&r);
    return rc;
}

/* Makes r's value at least n bytes long, zero-padded. */
static int grow_zero(str_row *r, size_t n)
{
    if (r->value.len >= n)
        return 0;
    size_t add = n - r->value.len;
    int rc = kbuf_reserve(&r->value, add);
    if (rc)
        return rc;
    memset(r->value.data + r->value.len, 0, add);
    r->value.len = n;
    r->value.data[n] = '\0';
    return 0;
}

int str_apply_setrange(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    if (c->value.n == 0) {
        res->value = (int64_t)r.value.len; /* nothing to write, nothing created */
        goto out;
    }
    size_t off = (size_t)c->num;
    if (off + c->value.n > KAHUNA_MAX_VALUE) {
        res->status = KAHUNA_ETOOLARGE;
        goto out;
    }
    if ((rc = grow_zero(&r, off + c->value.n)))
        goto out;
    memcpy(r.value.data + off, c->value.p, c->value.n);
    rc = write_keep_ttl(f, c->key, row_bytes(&r), &r, res);
    res->value = (int64_t)r.value.len;
out:
    row_free(&r);
    return rc;
}

int str_apply_setbit(fsm *f, const command *c, fsm_result *res)
{
    str_row r;
    int rc = row_load(f, c->key, &r);
    if (rc)
        goto out;
    res->found = r.m.present;
    size_t byte = (size_t)(c->num >> 3);
    int bit = 7 - (int)(c->num & 7);
    if ((rc = grow_zero(&r, byte + 1)))
        goto out;
    uint8_t *p = &r.value.data[byte];
    res->value = (*p >> bit) & 1;
    if (c->flags & CMD_F_BIT)
        *p = (uint8_t)(*p | (1u << bit));
    else
        *p = (uint8_t)(*p & ~(1u << bit));
    int64_t old = res->value;
    rc = write_keep_ttl(f, c->key, row_bytes(&r), &r, res);
    res->value = old;
out:
    row_free(&r);
    return rc;
}

int str_apply_bitop(fsm *f, const command *c, fsm_result *res)
{
    kbuf out = KBUF_INIT;
    size_t off = 0, nsrc = 0;
    kbytes key;
    int rc;
    /* the length of the result: the longest source */
    size_t maxlen = 0;
    while ((rc = cmd_list_next(c->aux, &off, &key)) == 0) {
        str_row s;
        if ((rc = row_load(f, key, &s))) {
            row_free(&s);
            goto out;
        }
        if (s.value.len > maxlen)
            maxlen = s.value.len;
        if (nsrc == 0) {
            if ((rc = kbuf_append(&out, s.value.data, s.value.len))) {
                row_free(&s);
                goto out;
            }
        } else {
            if ((rc = kbuf_reserve(&out, maxlen > out.len ? maxlen - out.len : 0))) {
                row_free(&s);
                goto out;
            }
            if (maxlen > out.len) {
                memset(out.data + out.len, 0, maxlen - out.len);
                out.len = maxlen;
            }
            for (size_t i = 0; i < out.len; i++) {
                uint8_t b = i < s.value.len ? s.value.data[i] : 0;
                if (c->num == CMD_BITOP_AND)
                    out.data[i] &= b;
                else if (c->num == CMD_BITOP_OR)
                    out.data[i] |= b;
                else
                    out.data[i] ^= b;
            }
        }
        nsrc++;
        row_free(&s);
    }
    if (rc != KAHUNA_ENOTFOUND) {
        res->status = KAHUNA_EBADREQ;
        rc = 0;
        goto out;
    }
    rc = 0;
    if (c->num == CMD_BITOP_NOT)
        for (size_t i = 0; i < out.len; i++)
            out.data[i] = (uint8_t)~out.data[i];
    /* AND with a shorter source: the missing bytes count as zero */
    if (c->num == CMD_BITOP_AND && out.len < maxlen) {
        if ((rc = kbuf_reserve(&out, maxlen - out.len)))
            goto out;
        memset(out.data + out.len, 0, maxlen - out.len);
        out.len = maxlen;
    }
    kv_meta dm;
    if ((rc = kv_load_meta(f, c->key, &dm)))
        goto out;
    res->found = dm.present;
    res->value = (int64_t)out.len;
    if (out.len == 0) {
        if (dm.present)
            rc = kv_remove(f, c->key, &dm, res);
    } else {
        rc = kv_write(f, c->key, kbytes_make(out.data, out.len), 0, &dm, NO_NAME, 0, res);
    }
    res->value = (int64_t)out.len;
out:
    kbuf_free(&out);
    return rc;
}

/* ---- keys ---- */

int str_apply_copy(fsm *f, const command *c, fsm_result *res)
{
    str_row src;
    int rc = row_load(f, c->key, &src);
    if (rc)
        goto out;
    if (!src.m.present) {
        res->status = KAHUNA_ENOTFOUND;
        goto out;
    }
    if (kbytes_eq(c->key, c->aux)) {
        /* RENAME k k: nothing to do; COPY k k and RENAMENX k k: refused */
        if (!((c->flags & CMD_F_MOVE) && (c->flags & CMD_F_REPLACE)))
            res->status = KAHUNA_ECONDITION;
        res->found = 1;
        goto out;
    }
    kv_meta dm;
    if ((rc = kv_load_meta(f, c->aux, &dm)))
        goto out;
    res->found = dm.present;
    if (dm.present && !(c->flags & CMD_F_REPLACE)) {
        res->status = KAHUNA_ECONDITION;
        goto out;
    }
    rc = kv_write(f, c->aux, row_bytes(&src), src.ttl_ms, &dm, c->key, src.ttl_ms > 0 ? src.m.revision : 0, res);
    if (!rc && (c->flags & CMD_F_MOVE)) {
        fsm_result tmp;
        memset(&tmp, 0, sizeof tmp);
        rc = kv_remove(f, c->key, &src.m, &tmp);
        res->revision = tmp.revision; /* the last revision this command took */
        fsm_result_clear(&tmp);
    }
out:
    row_free(&src);
    return rc;
}

int str_apply_flush(fsm *f, const command *c, fsm_result *res)
{
    (void)c;
    int64_t removed = 0;
    int frc = kv_hot_forget(f);        /* every kv row as it is, in the table */
    if (frc)
        return frc;
    for (;;) {
        kbuf keys[256];
        size_t n = 0;
        int rc;
        sqlite3_stmt *st = f->st[W_STR_KEYS];
        while ((rc = fsm_step(st)) == 1) {
            keys[n] = (kbuf)KBUF_INIT;
            rc = fsm_col_kbuf(st, 0, &keys[n]);
            n++;
            if (rc) {
                fsm_done(st);
                break;
            }
        }
        for (size_t i = 0; i < n && !rc; i++) {
            kbytes k = kbytes_make(keys[i].data, keys[i].len);
            kv_meta m;
            rc = kv_load_meta(f, k, &m);
            if (!rc && m.present) {
                fsm_result tmp;
                memset(&tmp, 0, sizeof tmp);
                rc = kv_remove(f, k, &m, &tmp);
                res->revision = tmp.revision;
                fsm_result_clear(&tmp);
                removed++;
            }
        }
        for (size_t i = 0; i < n; i++)
            kbuf_free(&keys[i]);
        if (rc)
            return rc;
        if (n == 0)
            break;
    }
    res->value = removed;
    return 0;
}

/* ---- transactions ---- */

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static size_t get_varint(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* One sub-result: status, revision, version, create_revision, token,
 * ttl_ms, value, last, found (zigzag varints), then data (length, bytes). */
static int result_encode(const fsm_result *r, kbuf *out)
{
    uint8_t buf[10 * 10];
    size_t n = 0;
    int64_t v[9] = {r->status, r->revision, r->version, r->create_revision, r->token,
                    r->ttl_ms, r->value, r->last, r->found};
    for (int i = 0; i < 9; i++)
        n += put_varint(buf + n, zz(v[i]));
    n += put_varint(buf + n, r->data.len);
    int rc = kbuf_append(out, buf, n);
    if (!rc)
        rc = kbuf_append(out, r->data.data, r->data.len);
    return rc;
}

int fsm_txn_result_next(kbytes enc, size_t *off, fsm_result *out, kbytes *data)
{
    int64_t v[9];
    uint64_t u;
    memset(out, 0, sizeof *out);
    if (*off >= enc.n)
        return KAHUNA_ENOTFOUND;
    size_t o = *off;
    for (int i = 0; i < 9; i++) {
        size_t used = get_varint(enc.p + o, enc.n - o, &u);
        if (!used)
            return KAHUNA_EBADREQ;
        o += used;
        v[i] = unzz(u);
    }
    size_t used = get_varint(enc.p + o, enc.n - o, &u);
    if (!used || u > enc.n - o - used)
        return KAHUNA_EBADREQ;
    o += used;
    out->status = (int)v[0];
    out->revision = v[1];
    out->version = v[2];
    out->create_revision = v[3];
    out->token = v[4];
    out->ttl_ms = v[5];
    out->value = v[6];
    out->last = v[7];
    out->found = (int)v[8];
    *data = kbytes_make(enc.p + o, (size_t)u);
    *off = o + (size_t)u;
    return 0;
}

/* *changed = 1 when key has a past version or tombstone newer than rev.
 * Only a WATCH of an absent key asks, so the statement is not kept. */
static int changed_since(fsm *f, kbytes key, int64_t rev, int *changed)
{
    sqlite3_stmt *st = NULL;
    *changed = 0;
    if (sqlite3_prepare_v2(f->db, "SELECT 1 FROM kv_history WHERE key = ?1 AND revision > ?2 LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        log_error("fsm", "cannot prepare the WATCH check: %s; restart kahunad", sqlite3_errmsg(f->db));
        return KAHUNA_EIO;
    }
    int rc = KAHUNA_EIO;
    if (sqlite3_bind_blob(st, 1, key.n ? (const void *)key.p : (const void *)"", (int)key.n, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(st, 2, rev) == SQLITE_OK) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW || step == SQLITE_DONE) {
            *changed = step == SQLITE_ROW;
            rc = 0;
        } else {
            log_error("fsm", "the WATCH check failed: %s; check the disk and restart kahunad",
                      sqlite3_errmsg(f->db));
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int str_apply_txn(fsm *f, const command *c, fsm_result *res)
{
    cmd_txn_reader rd;
    kbytes key;
    int64_t want;
    int rc;
    if (cmd_txn_open(c->aux, &rd)) {
        res->status = KAHUNA_EBADREQ;
        return 0;
    }
    /* every watch first: nothing changes when one fails */
    while ((rc = cmd_txn_next_watch(&rd, &key, &want)) == 0) {
        kv_meta m;
        if ((rc = kv_load_meta(f, key, &m)))
            return rc;
        int changed = (m.present ? m.revision : 0) != want;
        if (want < 0) {
            /* absent when watched, at store revision -want - 1: a key
             * created and deleted since then changed too (Redis) */
            changed = m.present;
            if (!changed && (rc = changed_since(f, key, -want - 1, &changed)))
                return rc;
        }
        if (changed) {
            res->status = KAHUNA_ECONDITION;
            res->revision = m.present ? m.revision : 0;
            return 0;
        }
    }
    if (rc != KAHUNA_ENOTFOUND) {
        res->status = KAHUNA_EBADREQ;
        return 0;
    }
    command sub;
    int64_t count = 0;
    while ((rc = cmd_txn_next_command(&rd, &sub)) == 0) {
        fsm_result sr;
        memset(&sr, 0, sizeof sr);
        rc = fsm_apply_command(f, &sub, &sr);
        if (!rc)
            rc = result_encode(&sr, &res->data);
        fsm_result_clear(&sr);
        if (rc)
            return rc;
        count++;
    }
    /* validated when decoded: a malformed list cannot reach here */
    res->value = count;
    res->revision = f->revision;
    return 0;
}
