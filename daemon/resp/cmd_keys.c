/* cmd_keys.c: generic key commands: DEL UNLINK EXISTS TYPE TTL PTTL
 * EXPIRETIME PEXPIRETIME EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME
 * RENAMENX COPY FLUSHDB FLUSHALL KEYS SCAN RANDOMKEY.
 *
 * DEL proposes one KV_DELETE per key (the reply counts those that
 * existed), so a DEL of several keys is not one atomic step (inside
 * MULTI/EXEC it is). EXPIRE without options is one KV_SET_TTL (or a
 * KV_DELETE when the time is already past); with NX/XX it is one
 * KV_TTL_IF, checked in apply. GT and LT compare with the TTL left, which
 * only the node's clock knows: the edge reads it, decides, and proposes a
 * KV_TTL_IF that applies only if the key is still at the revision it read
 * (else it reads again), so the decision is never applied to a changed
 * key. PERSIST, RENAME, RENAMENX and COPY are single read-modify-write
 * commands (fsm/strings.c).
 *
 * KEYS and SCAN list keys in byte order through fsm_kv_list, narrowed to
 * the literal prefix of the pattern. A SCAN cursor is a number standing for
 * the last key of the previous page (resp_cursor_save); a cursor the
 * server no longer remembers is "ERR invalid cursor". */
#include "resp_internal.h"
#include "clock.h"
#include "glob.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 1000

/* 1 when a listed key has not run out on this node's clock */
static int item_live(resp_server *s, const kv_record *it)
{
    if (it->ttl_ms <= 0)
        return 1;
    return node_ttl_remaining(resp_node(s), FSM_TTL_KV, kbytes_make(it->key.data, it->key.len),
                              it->revision) != 0;
}

/* ---- DEL / UNLINK ---- */

static void del_result(resp_op *op, int tag, const resp_result *res)
{
    (void)tag;
    if (res->status == 0)
        op->n++;
    else if (res->status != KAHUNA_ENOTFOUND && !op->status)
        op->status = res->status;
    if (op->pending)
        return;
    reply r = resp_op_reply(op);
    if (op->status)
        resp_reply_status(&r, op->status);
    else
        reply_int(&r, op->n);
    resp_op_done(op, &r);
}

static void del_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 0);
    if (!op)
        return;
    op->on_result = del_result;
    size_t proposed = 0;
    for (size_t i = 1; i < x->argc; i++) {
        if (!resp_key_ok(x->argv[i]))
            continue; /* no such key can exist */
        command cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = CMD_KV_DELETE;
        cmd.key = x->argv[i];
        resp_op_propose(op, &cmd, (int)i);
        proposed++;
    }
    if (!proposed) {
        reply r = resp_op_reply(op);
        reply_int(&r, 0);
        resp_op_done(op, &r);
    }
}

/* ---- EXISTS, TYPE, TTL ... ---- */

static void exists_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    long long n = 0;
    int err = status;
    for (size_t i = 1; i < op->argc && !err; i++) {
        kv_record rec;
        int rc = resp_kv_lookup(op->c->s, op->argv[i], &rec, NULL);
        if (rc == 0)
            n++;
        else if (rc != KAHUNA_ENOTFOUND)
            err = rc;
        kv_record_free(&rec);
    }
    if (err)
        resp_reply_status(&r, err);
    else
        reply_int(&r, n);
    resp_op_done(op, &r);
}

static void exists_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, exists_read);
}

static void type_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (status) {
        resp_reply_status(&r, status);
    } else {
        int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, NULL);
        if (rc == 0)
            reply_simple(&r, "string");
        else if (rc == KAHUNA_ENOTFOUND)
            reply_simple(&r, "none");
        else
            resp_reply_status(&r, rc);
        kv_record_free(&rec);
    }
    resp_op_done(op, &r);
}

static void type_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, type_read);
}

#define TTL_MS 0x1
#define TTL_ABS 0x2

static void ttl_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    int64_t left;
    if (status) {
        resp_reply_status(&r, status);
        resp_op_done(op, &r);
        return;
    }
    int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, &left);
    kv_record_free(&rec);
    if (rc == KAHUNA_ENOTFOUND) {
        reply_int(&r, -2);
    } else if (rc) {
        resp_reply_status(&r, rc);
    } else if (left < 0) {
        reply_int(&r, -1);
    } else {
        long long v = left;
        if (op->i1 & TTL_ABS)
            v += clock_wall_ms();
        reply_int(&r, (op->i1 & TTL_MS) ? v : (v + 500) / 1000);
    }
    resp_op_done(op, &r);
}

static void ttl_cmd(resp_ctx *x)
{
    const char *n = x->cmd->name;
    resp_op *op = resp_op_start(x, 1);
    if (!op)
        return;
    op->i1 = (n[0] == 'P' ? TTL_MS : 0) | (strstr(n, "EXPIRETIME") ? TTL_ABS : 0);
    resp_op_read(op, ttl_read);
}

/* ---- EXPIRE family, PERSIST ---- */

#define EXP_NX 0x1
#define EXP_XX 0x2
#define EXP_GT 0x4
#define EXP_LT 0x8

static int expire_classify(size_t argc, const kbytes *argv)
{
    for (size_t j = 3; j < argc; j++)
        if (resp_arg_is(argv[j], "GT") || resp_arg_is(argv[j], "LT"))
            return RC_EXCL; /* a read, then the write */
    return RC_WRITE;
}

static void bool_result(resp_op *op, int tag, const resp_result *res)
{
    reply r = resp_op_reply(op);
    (void)tag;
    if (res->status == 0)
        reply_int(&r, 1);
    else if (res->status == KAHUNA_ENOTFOUND || res->status == KAHUNA_ECONDITION)
        reply_int(&r, 0);
    else
        resp_reply_status(&r, res->status);
    resp_op_done(op, &r);
}

/* Proposes the expiry of op (ttl <= 0: delete) and answers 1/0. */
static void expire_write(resp_op *op, kbytes key, int64_t ttl)
{
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.key = key;
    if (ttl <= 0) {
        cmd.type = CMD_KV_DELETE;
    } else {
        cmd.type = CMD_KV_SET_TTL;
        cmd.ttl_ms = ttl;
    }
    op->on_result = bool_result;
    resp_op_propose(op, &cmd, 0);
}

/* KV_TTL_IF for the options in fl; if_revision > 0 adds that condition. */
static void expire_write_if(resp_op *op, kbytes key, int64_t ttl, int fl, int64_t if_revision)
{
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_TTL_IF;
    cmd.key = key;
    cmd.ttl_ms = ttl > 0 ? ttl : -1; /* a past time deletes the key */
    if (fl & EXP_NX)
        cmd.flags |= CMD_F_IF_NO_TTL;
    if (fl & EXP_XX)
        cmd.flags |= CMD_F_IF_HAS_TTL;
    if (if_revision > 0) {
        cmd.flags |= CMD_F_IF_REVISION;
        cmd.if_revision = if_revision;
    }
    resp_op_propose(op, &cmd, 0);
}

#define EXPIRE_RETRIES 16

static void expire_read(resp_op *op, int status);

/* GT/LT: the write applies only to the revision that was read; when the
 * key changed in between, read and decide again. */
static void expire_cas_result(resp_op *op, int tag, const resp_result *res)
{
    (void)tag;
    if (res->status == KAHUNA_ECONDITION && res->found && op->n < EXPIRE_RETRIES) {
        op->n++;
        resp_op_read(op, expire_read);
        return;
    }
    bool_result(op, 0, res);
}

static void expire_read(resp_op *op, int status)
{
    kv_record rec;
    int64_t left;
    if (status) {
        resp_op_fail(op, status);
        return;
    }
    int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, &left);
    int64_t rev = rec.revision;
    kv_record_free(&rec);
    if (rc && rc != KAHUNA_ENOTFOUND) {
        resp_op_fail(op, rc);
        return;
    }
    int64_t ttl = op->i1;
    int fl = (int)op->i2;
    int refuse = rc == KAHUNA_ENOTFOUND;
    if (!refuse && (fl & EXP_XX) && left == -1)
        refuse = 1;
    if (!refuse && (fl & EXP_GT) && (left == -1 || ttl <= left))
        refuse = 1;
    if (!refuse && (fl & EXP_LT) && left != -1 && ttl >= left)
        refuse = 1;
    if (refuse) {
        reply r = resp_op_reply(op);
        reply_int(&r, 0);
        resp_op_done(op, &r);
        return;
    }
    op->on_result = expire_cas_result;
    expire_write_if(op, op->argv[1], ttl, fl & EXP_XX, rev);
}

static void expire_cmd(resp_ctx *x)
{
    const char *n = x->cmd->name;
    int seconds = strcmp(n, "EXPIRE") == 0 || strcmp(n, "EXPIREAT") == 0;
    int absolute = strstr(n, "AT") != NULL;
    int fl = 0;
    char low[32];
    resp_lower_name(x->cmd, low, sizeof low);

    for (size_t j = 3; j < x->argc; j++) {
        kbytes o = x->argv[j];
        if (resp_arg_is(o, "NX"))
            fl |= EXP_NX;
        else if (resp_arg_is(o, "XX"))
            fl |= EXP_XX;
        else if (resp_arg_is(o, "GT"))
            fl |= EXP_GT;
        else if (resp_arg_is(o, "LT"))
            fl |= EXP_LT;
        else {
            int ln = o.n > 128 ? 128 : (int)o.n;
            reply_errorf(resp_out(x), "ERR Unsupported option %.*s", ln, (const char *)o.p);
            return;
        }
    }
    if ((fl & EXP_NX) && (fl & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(resp_out(x), "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((fl & EXP_GT) && (fl & EXP_LT)) {
        reply_error(resp_out(x), "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!resp_arg_ll(x->argv[2], &when)) {
        resp_err_int(resp_out(x));
        return;
    }
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            reply_errorf(resp_out(x), "ERR invalid expire time in '%s' command", low);
            return;
        }
        when *= 1000;
    }
    int64_t now = clock_wall_ms();
    int64_t ttl;
    if (absolute) {
        ttl = when < LLONG_MIN + now ? -1 : when - now;
    } else {
        if (when > LLONG_MAX - now) {
            reply_errorf(resp_out(x), "ERR invalid expire time in '%s' command", low);
            return;
        }
        ttl = when;
    }
    if (ttl > KAHUNA_MAX_TTL_MS) {
        reply_errorf(resp_out(x), "ERR invalid expire time in '%s' command", low);
        return;
    }
    if (!resp_key_ok(x->argv[1])) {
        reply_int(resp_out(x), 0);
        return;
    }
    int cas = (fl & (EXP_GT | EXP_LT)) != 0;
    resp_op *op = resp_op_start(x, cas);
    if (!op)
        return;
    if (!fl) {
        expire_write(op, x->argv[1], ttl);
        return;
    }
    if (!cas) {
        op->on_result = bool_result;
        expire_write_if(op, x->argv[1], ttl, fl, 0);
        return;
    }
    op->i1 = ttl;
    op->i2 = fl;
    resp_op_read(op, expire_read);
}

static void persist_cmd(resp_ctx *x)
{
    if (!resp_key_ok(x->argv[1])) {
        reply_int(resp_out(x), 0);
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_TTL_IF;
    cmd.key = x->argv[1];
    cmd.flags = CMD_F_IF_HAS_TTL;
    resp_propose_one(x, &cmd, WR_BOOL);
}

/* ---- RENAME, RENAMENX, COPY, FLUSHDB ---- */

static void rename_cmd(resp_ctx *x)
{
    int nx = strcmp(x->cmd->name, "RENAMENX") == 0;
    if (!resp_key_ok(x->argv[1])) {
        reply_error(resp_out(x), "ERR no such key");
        return;
    }
    if (!resp_key_ok(x->argv[2])) {
        resp_err_key(resp_out(x), x->argv[2]);
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_COPY;
    cmd.key = x->argv[1];
    cmd.aux = x->argv[2];
    cmd.flags = CMD_F_MOVE | (nx ? 0 : CMD_F_REPLACE);
    resp_propose_one(x, &cmd, nx ? WR_RENAMENX : WR_RENAME);
}

/* COPY source destination [DB destination-db] [REPLACE] */
static void copy_cmd(resp_ctx *x)
{
    int replace = 0;
    for (size_t j = 3; j < x->argc; j++) {
        if (resp_arg_is(x->argv[j], "REPLACE")) {
            replace = 1;
        } else if (resp_arg_is(x->argv[j], "DB") && j + 1 < x->argc) {
            long long db;
            if (!resp_arg_ll(x->argv[++j], &db)) {
                resp_err_int(resp_out(x));
                return;
            }
            if (db != 0) {
                reply_error(resp_out(x), "ERR DB index is out of range");
                return;
            }
        } else {
            resp_err_syntax(resp_out(x));
            return;
        }
    }
    if (kbytes_eq(x->argv[1], x->argv[2])) {
        reply_error(resp_out(x), "ERR source and destination objects are the same");
        return;
    }
    if (!resp_key_ok(x->argv[1])) {
        reply_int(resp_out(x), 0);
        return;
    }
    if (!resp_key_ok(x->argv[2])) {
        resp_err_key(resp_out(x), x->argv[2]);
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_COPY;
    cmd.key = x->argv[1];
    cmd.aux = x->argv[2];
    cmd.flags = replace ? CMD_F_REPLACE : 0;
    resp_propose_one(x, &cmd, WR_BOOL);
}

static void flush_cmd(resp_ctx *x)
{
    if (x->argc > 2 || (x->argc == 2 && !resp_arg_is(x->argv[1], "ASYNC") && !resp_arg_is(x->argv[1], "SYNC"))) {
        resp_err_syntax(resp_out(x));
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_FLUSH;
    resp_propose_one(x, &cmd, WR_OK_ANY);
}

/* ---- KEYS, SCAN, RANDOMKEY ---- */

/* Lists keys matching pat (all when !pat) strictly after `after`, at most
 * limit listed (0: no limit), appending the matching ones to out as bulk
 * strings and counting them. *last gets the last key listed and *more
 * whether the listing stopped early. */
static int list_keys(resp_server *s, const kbytes *pat, kbytes after, size_t limit, int match_all,
                     kbuf *out, size_t *count, kbuf *last, int *more)
{
    fsm_reader *rd = resp_reader(s);
    if (!rd)
        return KAHUNA_EIO;
    uint8_t *pbuf = NULL;
    kbytes prefix = {NULL, 0};
    if (pat && pat->n) {
        pbuf = malloc(pat->n);
        if (!pbuf)
            return KAHUNA_ENOMEM;
        prefix = kbytes_make(pbuf, glob_literal_prefix(pat->p, pat->n, pbuf));
    }
    reply w = reply_make(out, 2);
    kbuf cur = KBUF_INIT;
    int rc = kbuf_append(&cur, after.p, after.n);
    size_t listed = 0;
    *more = 0;
    while (!rc) {
        size_t want = LIST_PAGE;
        if (limit && limit - listed < want)
            want = limit - listed;
        kv_list l;
        memset(&l, 0, sizeof l);
        rc = fsm_kv_list(rd, prefix, kbytes_make(cur.data, cur.len), want, 1, &l);
        if (rc) {
            kv_list_free(&l);
            break;
        }
        for (size_t i = 0; i < l.n; i++) {
            kv_record *it = &l.items[i];
            if (!match_all)
                continue;
            if (pat && !glob_match(pat->p, pat->n, it->key.data, it->key.len, 0))
                continue;
            if (!item_live(s, it))
                continue;
            reply_bulk(&w, it->key.data, it->key.len);
            (*count)++;
        }
        listed += l.n;
        if (l.n) {
            kbuf_reset(&cur);
            rc = kbuf_append(&cur, l.items[l.n - 1].key.data, l.items[l.n - 1].key.len);
        }
        int l_more = l.more;
        kv_list_free(&l);
        if (w.err)
            rc = w.err;
        if (rc || !l_more)
            break;
        if (limit && listed >= limit) {
            *more = 1;
            break;
        }
    }
    if (!rc && last) {
        kbuf_reset(last);
        rc = kbuf_append(last, cur.data, cur.len);
    }
    kbuf_free(&cur);
    free(pbuf);
    return rc;
}

static void keys_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    if (status) {
        resp_reply_status(&r, status);
        resp_op_done(op, &r);
        return;
    }
    kbytes pat = op->argv[1];
    kbuf found = KBUF_INIT;
    size_t count = 0;
    int more = 0, rc = 0;
    if (glob_is_literal(pat.p, pat.n)) {
        uint8_t *key = malloc(pat.n ? pat.n : 1);
        if (!key) {
            rc = KAHUNA_ENOMEM;
        } else {
            kbytes k = kbytes_make(key, glob_literal_prefix(pat.p, pat.n, key));
            kv_record rec;
            rc = resp_kv_lookup(op->c->s, k, &rec, NULL);
            kv_record_free(&rec);
            if (rc == 0) {
                reply w = reply_make(&found, 2);
                reply_bulk(&w, k.p, k.n);
                rc = w.err;
                count = 1;
            } else if (rc == KAHUNA_ENOTFOUND) {
                rc = 0;
            }
            free(key);
        }
    } else {
        rc = list_keys(op->c->s, &pat, kbytes_make(NULL, 0), 0, 1, &found, &count, NULL, &more);
    }
    if (rc) {
        resp_reply_status(&r, rc);
    } else {
        reply_array(&r, count);
        if (!r.err && found.len && kbuf_append(r.b, found.data, found.len))
            r.err = KAHUNA_ENOMEM;
    }
    kbuf_free(&found);
    resp_op_done(op, &r);
}

static void keys_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, keys_read);
}

typedef struct scan_args {
    uint64_t cursor;
    long long count;
    int has_pat, has_type;
    kbytes pat, type;
} scan_args;

/* Parses SCAN's arguments; replies the error and returns -1 when r. */
static int scan_parse(const kbytes *argv, size_t argc, scan_args *a, reply *r)
{
    memset(a, 0, sizeof *a);
    a->count = 10;
    kbytes c = argv[1];
    uint64_t v = 0;
    if (c.n == 0 || c.n > 20)
        goto bad_cursor;
    for (size_t i = 0; i < c.n; i++) {
        if (c.p[i] < '0' || c.p[i] > '9')
            goto bad_cursor;
        uint64_t d = (uint64_t)(c.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            goto bad_cursor;
        v = v * 10 + d;
    }
    a->cursor = v;
    for (size_t j = 2; j < argc; j += 2) {
        size_t left = argc - j;
        if (resp_arg_is(argv[j], "COUNT") && left >= 2) {
            if (!resp_arg_ll(argv[j + 1], &a->count)) {
                if (r)
                    resp_err_int(r);
                return -1;
            }
            if (a->count < 1) {
                if (r)
                    resp_err_syntax(r);
                return -1;
            }
        } else if (resp_arg_is(argv[j], "MATCH") && left >= 2) {
            a->pat = argv[j + 1];
            a->has_pat = !(a->pat.n == 1 && a->pat.p[0] == '*');
        } else if (resp_arg_is(argv[j], "TYPE") && left >= 2) {
            a->type = argv[j + 1];
            a->has_type = 1;
        } else {
            if (r)
                resp_err_syntax(r);
            return -1;
        }
    }
    return 0;
bad_cursor:
    if (r)
        reply_error(r, "ERR invalid cursor");
    return -1;
}

static void scan_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    scan_args a;
    kbuf after = KBUF_INIT, last = KBUF_INIT, found = KBUF_INIT;
    size_t count = 0;
    int more = 0, rc = status;

    if (!rc && scan_parse(op->argv, op->argc, &a, NULL))
        rc = KAHUNA_EBADREQ;
    if (!rc && a.cursor && resp_cursor_load(op->c->s, a.cursor, &after)) {
        reply_error(&r, "ERR invalid cursor");
        goto out;
    }
    if (!rc) {
        size_t limit = a.count > 10000 ? 10000 : (size_t)a.count;
        int match_all = !a.has_type || resp_arg_is(a.type, "string");
        rc = list_keys(op->c->s, a.has_pat ? &a.pat : NULL, kbytes_make(after.data, after.len), limit,
                       match_all, &found, &count, &last, &more);
    }
    if (rc) {
        resp_reply_status(&r, rc);
    } else {
        uint64_t next = more ? resp_cursor_save(op->c->s, kbytes_make(last.data, last.len)) : 0;
        char buf[24];
        size_t n = 0;
        char tmp[24];
        size_t t = 0;
        do {
            tmp[t++] = (char)('0' + next % 10);
            next /= 10;
        } while (next);
        while (t)
            buf[n++] = tmp[--t];
        reply_array(&r, 2);
        reply_bulk(&r, buf, n);
        reply_array(&r, count);
        if (!r.err && found.len && kbuf_append(r.b, found.data, found.len))
            r.err = KAHUNA_ENOMEM;
    }
out:
    kbuf_free(&after);
    kbuf_free(&last);
    kbuf_free(&found);
    resp_op_done(op, &r);
}

static void scan_cmd(resp_ctx *x)
{
    scan_args a;
    if (scan_parse(x->argv, x->argc, &a, NULL)) {
        scan_parse(x->argv, x->argc, &a, resp_out(x)); /* again, to say why */
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, scan_read);
}

static _Thread_local uint64_t rnd_state;

static uint64_t rnd_next(void)
{
    if (!rnd_state)
        rnd_state = (uint64_t)clock_mono_us() * 0x9E3779B97F4A7C15ULL | 1;
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void randomkey_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    resp_server *s = op->c->s;
    fsm_reader *rd = resp_reader(s);
    int rc = status ? status : (rd ? 0 : KAHUNA_EIO);
    int done = 0;
    for (int attempt = 0; attempt < 16 && !rc && !done; attempt++) {
        /* a random printable string: not uniform over keys, but spread */
        uint8_t after[8];
        size_t n = 1 + rnd_next() % sizeof after;
        for (size_t i = 0; i < n; i++)
            after[i] = (uint8_t)(0x20 + rnd_next() % 95);
        for (int pass = 0; pass < 2 && !rc && !done; pass++) {
            kv_list l;
            memset(&l, 0, sizeof l);
            rc = fsm_kv_list(rd, kbytes_make(NULL, 0), pass ? kbytes_make(NULL, 0) : kbytes_make(after, n),
                             1, 1, &l);
            if (!rc && l.n == 0 && pass == 1) {
                reply_null(&r); /* empty store */
                done = 1;
            } else if (!rc && l.n == 1) {
                if (item_live(s, &l.items[0])) {
                    reply_bulk(&r, l.items[0].key.data, l.items[0].key.len);
                    done = 1;
                }
                pass = 2; /* try another random point */
            }
            kv_list_free(&l);
        }
    }
    if (rc)
        resp_reply_status(&r, rc);
    else if (!done)
        reply_null(&r); /* only expired keys seen */
    resp_op_done(op, &r);
}

static void randomkey_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 0);
    if (op)
        resp_op_read(op, randomkey_read);
}

#define KEY(name, arity, flags, cls, classify, fn, first, last, step, since, acl, summary, args) \
    {name, arity, flags, cls, classify, fn, first, last, step, "generic", summary, since, acl, args}

const resp_command resp_cmds_keys[] = {
    KEY("DEL", -2, RF_WRITE, RC_WRITE, NULL, del_cmd, 1, -1, 1, "1.0.0", "@keyspace @write @slow",
        "Deletes one or more keys.", "key [key ...]"),
    KEY("UNLINK", -2, RF_WRITE | RF_FAST, RC_WRITE, NULL, del_cmd, 1, -1, 1, "4.0.0",
        "@keyspace @write @fast", "Deletes one or more keys.", "key [key ...]"),
    KEY("EXISTS", -2, RF_READONLY | RF_FAST, RC_READ, NULL, exists_cmd, 1, -1, 1, "1.0.0",
        "@keyspace @read @fast", "Determines whether one or more keys exist.", "key [key ...]"),
    KEY("TYPE", 2, RF_READONLY | RF_FAST, RC_READ, NULL, type_cmd, 1, 1, 1, "1.0.0", "@keyspace @read @fast",
        "Determines the type of value stored at a key.", "key"),
    KEY("TTL", 2, RF_READONLY | RF_FAST, RC_READ, NULL, ttl_cmd, 1, 1, 1, "1.0.0", "@keyspace @read @fast",
        "Returns the expiration time in seconds of a key.", "key"),
    KEY("PTTL", 2, RF_READONLY | RF_FAST, RC_READ, NULL, ttl_cmd, 1, 1, 1, "2.6.0", "@keyspace @read @fast",
        "Returns the expiration time in milliseconds of a key.", "key"),
    KEY("EXPIRETIME", 2, RF_READONLY | RF_FAST, RC_READ, NULL, ttl_cmd, 1, 1, 1, "7.0.0",
        "@keyspace @read @fast", "Returns the expiration time of a key as a Unix timestamp.", "key"),
    KEY("PEXPIRETIME", 2, RF_READONLY | RF_FAST, RC_READ, NULL, ttl_cmd, 1, 1, 1, "7.0.0",
        "@keyspace @read @fast", "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "key"),
    KEY("EXPIRE", -3, RF_WRITE | RF_FAST, RC_WRITE, expire_classify, expire_cmd, 1, 1, 1, "1.0.0",
        "@keyspace @write @fast", "Sets the expiration time of a key in seconds.",
        "key seconds [NX|XX|GT|LT]"),
    KEY("PEXPIRE", -3, RF_WRITE | RF_FAST, RC_WRITE, expire_classify, expire_cmd, 1, 1, 1, "2.6.0",
        "@keyspace @write @fast", "Sets the expiration time of a key in milliseconds.",
        "key milliseconds [NX|XX|GT|LT]"),
    KEY("EXPIREAT", -3, RF_WRITE | RF_FAST, RC_WRITE, expire_classify, expire_cmd, 1, 1, 1, "1.2.0",
        "@keyspace @write @fast", "Sets the expiration time of a key to a Unix timestamp.",
        "key unix-time-seconds [NX|XX|GT|LT]"),
    KEY("PEXPIREAT", -3, RF_WRITE | RF_FAST, RC_WRITE, expire_classify, expire_cmd, 1, 1, 1, "2.6.0",
        "@keyspace @write @fast", "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "key unix-time-milliseconds [NX|XX|GT|LT]"),
    KEY("PERSIST", 2, RF_WRITE | RF_FAST, RC_WRITE, NULL, persist_cmd, 1, 1, 1, "2.2.0",
        "@keyspace @write @fast", "Removes the expiration time of a key.", "key"),
    KEY("RENAME", 3, RF_WRITE, RC_WRITE, NULL, rename_cmd, 1, 2, 1, "1.0.0", "@keyspace @write @slow",
        "Renames a key and overwrites the destination.", "key newkey"),
    KEY("RENAMENX", 3, RF_WRITE | RF_FAST, RC_WRITE, NULL, rename_cmd, 1, 2, 1, "1.0.0",
        "@keyspace @write @fast", "Renames a key only when the target key name doesn't exist.", "key newkey"),
    KEY("COPY", -3, RF_WRITE | RF_DENYOOM, RC_WRITE, NULL, copy_cmd, 1, 2, 1, "6.2.0", "@keyspace @write @slow",
        "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]"),
    {"FLUSHDB", -1, RF_WRITE, RC_WRITE, NULL, flush_cmd, 0, 0, 0, "server",
     "Removes all keys from the database (locks and sequences stay).", "1.0.0",
     "@keyspace @write @slow @dangerous", "[ASYNC|SYNC]"},
    {"FLUSHALL", -1, RF_WRITE, RC_WRITE, NULL, flush_cmd, 0, 0, 0, "server",
     "Removes all keys from all databases (locks and sequences stay).", "1.0.0",
     "@keyspace @write @slow @dangerous", "[ASYNC|SYNC]"},
    KEY("KEYS", 2, RF_READONLY, RC_READ, NULL, keys_cmd, 0, 0, 0, "1.0.0", "@keyspace @read @slow @dangerous",
        "Returns all key names that match a pattern.", "pattern"),
    KEY("SCAN", -2, RF_READONLY, RC_READ, NULL, scan_cmd, 0, 0, 0, "2.8.0", "@keyspace @read @slow",
        "Iterates over the key names in the database.", "cursor [MATCH pattern] [COUNT count] [TYPE type]"),
    KEY("RANDOMKEY", 1, RF_READONLY, RC_READ, NULL, randomkey_cmd, 0, 0, 0, "1.0.0", "@keyspace @read @slow",
        "Returns a random key name from the database.", ""),
};
const size_t resp_cmds_keys_n = sizeof resp_cmds_keys / sizeof resp_cmds_keys[0];
