/* cmd_strings.c: string commands on the key/value store (the one the REST
 * API serves under /v1/kv): GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX
 * MGET MSET MSETNX APPEND STRLEN GETRANGE/SUBSTR SETRANGE INCR INCRBY DECR
 * DECRBY INCRBYFLOAT. Writes are single proposals: KV_PUT and KV_DELETE,
 * or the read-modify-write commands applied inside the state machine
 * (fsm/strings.c) so that they are atomic; MSET and MSETNX are one CMD_TXN.
 * Reads wait for a read barrier, then read the local state database and
 * treat a key whose TTL has run out on this node's clock as gone, as the
 * REST API does.
 *
 * Expiry times: kahuna stores TTLs, never deadlines, so EXAT/PXAT are
 * turned into a TTL here, from this node's wall clock. A time already past
 * deletes the key (SET with NX/XX and a past time writes it with a 1 ms TTL
 * instead, so that the condition is still checked in one step). TTLs are
 * 1 ms .. 366 days (KAHUNA_MAX_TTL_MS); more is "invalid expire time". */
#include "resp_internal.h"
#include "clock.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int resp_kv_lookup(resp_server *s, kbytes key, kv_record *rec, int64_t *ttl_left)
{
    memset(rec, 0, sizeof *rec);
    if (ttl_left)
        *ttl_left = -1;
    if (!resp_key_ok(key))
        return KAHUNA_ENOTFOUND;
    int trc;
    if (resp_txn_lookup(s, key, rec, ttl_left, &trc))
        return trc;
    int rc;
    if (!resp_memo_get(s, key, rec, &rc)) {
        fsm_reader *rd = resp_reader(s);
        if (!rd)
            return KAHUNA_EIO;
        rc = fsm_kv_get(rd, key, 0, rec);
        resp_memo_put(s, key, rec, rc);
    }
    if (rc) {
        kv_record_free(rec);
        memset(rec, 0, sizeof *rec);
        return rc;
    }
    int64_t left = -1;
    if (rec->ttl_ms > 0) {
        left = node_ttl_remaining(resp_node(s), FSM_TTL_KV, key, rec->revision);
        if (left == 0) {
            kv_record_free(rec);
            memset(rec, 0, sizeof *rec);
            return KAHUNA_ENOTFOUND;
        }
        if (left < 0)
            left = rec->ttl_ms; /* not armed here yet: the full TTL */
    }
    if (ttl_left)
        *ttl_left = left;
    return 0;
}

/* ---- GET, MGET, STRLEN, GETRANGE ---- */

static void get_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (status) {
        resp_reply_status(&r, status);
    } else {
        int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, NULL);
        if (rc == 0)
            reply_bulk(&r, rec.value.data, rec.value.len);
        else if (rc == KAHUNA_ENOTFOUND)
            reply_null(&r);
        else
            resp_reply_status(&r, rc);
        kv_record_free(&rec);
    }
    resp_op_done(op, &r);
}

static void get_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, get_read);
}

static void mget_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    size_t mark = r.b->len;
    int err = status;
    if (!err) {
        reply_array(&r, op->argc - 1);
        for (size_t i = 1; i < op->argc && !err && !r.err; i++) {
            kv_record rec;
            int rc = resp_kv_lookup(op->c->s, op->argv[i], &rec, NULL);
            if (rc == 0)
                reply_bulk(&r, rec.value.data, rec.value.len);
            else if (rc == KAHUNA_ENOTFOUND)
                reply_null(&r);
            else
                err = rc;
            kv_record_free(&rec);
        }
    }
    if (err) {
        r.b->len = mark;
        r.err = 0;
        resp_reply_status(&r, err);
    }
    resp_op_done(op, &r);
}

static void mget_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, mget_read);
}

static void strlen_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (status) {
        resp_reply_status(&r, status);
    } else {
        int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, NULL);
        if (rc == 0)
            reply_int(&r, (long long)rec.value.len);
        else if (rc == KAHUNA_ENOTFOUND)
            reply_int(&r, 0);
        else
            resp_reply_status(&r, rc);
        kv_record_free(&rec);
    }
    resp_op_done(op, &r);
}

static void strlen_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, strlen_read);
}

static void getrange_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (status) {
        resp_reply_status(&r, status);
        resp_op_done(op, &r);
        return;
    }
    int rc = resp_kv_lookup(op->c->s, op->argv[1], &rec, NULL);
    if (rc == KAHUNA_ENOTFOUND) {
        reply_bulk(&r, "", 0);
    } else if (rc) {
        resp_reply_status(&r, rc);
    } else {
        long long start = op->i1, end = op->i2, len = (long long)rec.value.len;
        if (start < 0 && end < 0 && start > end) {
            reply_bulk(&r, "", 0);
        } else {
            if (start < 0)
                start = len + start;
            if (end < 0)
                end = len + end;
            if (start < 0)
                start = 0;
            if (end < 0)
                end = 0;
            if (end >= len)
                end = len - 1;
            if (start > end || len == 0)
                reply_bulk(&r, "", 0);
            else
                reply_bulk(&r, rec.value.data + start, (size_t)(end - start + 1));
        }
    }
    kv_record_free(&rec);
    resp_op_done(op, &r);
}

static void getrange_cmd(resp_ctx *x)
{
    long long start, end;
    if (!resp_arg_ll(x->argv[2], &start) || !resp_arg_ll(x->argv[3], &end)) {
        resp_err_int(resp_out(x));
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (!op)
        return;
    op->i1 = start;
    op->i2 = end;
    resp_op_read(op, getrange_read);
}

/* ---- SET and friends ---- */

int resp_expire_arg(resp_ctx *x, kbytes arg, int seconds, int absolute, int64_t *ttl_ms)
{
    long long v;
    char low[32];
    resp_lower_name(x->cmd, low, sizeof low);
    if (!resp_arg_ll(arg, &v)) {
        resp_err_int(resp_out(x));
        return -1;
    }
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        reply_errorf(resp_out(x), "ERR invalid expire time in '%s' command", low);
        return -1;
    }
    if (seconds)
        v *= 1000;
    if (absolute)
        v -= clock_wall_ms();
    if (v > KAHUNA_MAX_TTL_MS) {
        reply_errorf(resp_out(x), "ERR invalid expire time in '%s' command", low);
        return -1;
    }
    *ttl_ms = v;
    return 0;
}

#define SET_NX 0x01u
#define SET_XX 0x02u
#define SET_GET 0x04u
#define SET_KEEPTTL 0x08u
#define SET_EX 0x10u
#define SET_PX 0x20u
#define SET_EXAT 0x40u
#define SET_PXAT 0x80u
#define SET_ANY_EXPIRE (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

/* Writes key=value under the SET flags and ttl (ms; <= 0 past), with the
 * given reply kind. */
static void do_set(resp_ctx *x, kbytes key, kbytes val, unsigned fl, int have_ttl, int64_t ttl, int kind)
{
    command cmd;
    if (!resp_key_ok(key)) {
        resp_err_key(resp_out(x), key);
        return;
    }
    if (val.n > KAHUNA_MAX_VALUE) {
        resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
        return;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.key = key;
    if (have_ttl && ttl <= 0 && !(fl & (SET_NX | SET_XX))) {
        /* already expired: the key is gone, as in Redis */
        cmd.type = CMD_KV_DELETE;
        resp_propose_one(x, &cmd, kind == WR_OK_NIL ? WR_OK_ANY : kind);
        return;
    }
    cmd.type = CMD_KV_PUT;
    cmd.value = val;
    cmd.ttl_ms = have_ttl ? (ttl > 0 ? ttl : 1) : 0;
    if (fl & SET_NX)
        cmd.flags |= CMD_F_IF_NOT_EXISTS;
    if (fl & SET_XX)
        cmd.flags |= CMD_F_IF_EXISTS;
    resp_propose_one(x, &cmd, kind);
}

static void set_cmd(resp_ctx *x)
{
    unsigned fl = 0;
    kbytes expv = {NULL, 0};
    for (size_t j = 3; j < x->argc; j++) {
        kbytes o = x->argv[j];
        int has_next = j + 1 < x->argc;
        if (resp_arg_is(o, "NX") && !(fl & SET_XX)) {
            fl |= SET_NX;
        } else if (resp_arg_is(o, "XX") && !(fl & SET_NX)) {
            fl |= SET_XX;
        } else if (resp_arg_is(o, "GET")) {
            fl |= SET_GET;
        } else if (resp_arg_is(o, "KEEPTTL") && !(fl & SET_ANY_EXPIRE)) {
            fl |= SET_KEEPTTL;
        } else if (resp_arg_is(o, "EX") && !(fl & (SET_KEEPTTL | (SET_ANY_EXPIRE & ~SET_EX))) && has_next) {
            fl |= SET_EX;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "PX") && !(fl & (SET_KEEPTTL | (SET_ANY_EXPIRE & ~SET_PX))) && has_next) {
            fl |= SET_PX;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "EXAT") && !(fl & (SET_KEEPTTL | (SET_ANY_EXPIRE & ~SET_EXAT))) && has_next) {
            fl |= SET_EXAT;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "PXAT") && !(fl & (SET_KEEPTTL | (SET_ANY_EXPIRE & ~SET_PXAT))) && has_next) {
            fl |= SET_PXAT;
            expv = x->argv[++j];
        } else {
            resp_err_syntax(resp_out(x));
            return;
        }
    }
    int64_t ttl = 0;
    int have_ttl = (fl & SET_ANY_EXPIRE) != 0;
    if (have_ttl && resp_expire_arg(x, expv, (fl & (SET_EX | SET_EXAT)) != 0,
                                    (fl & (SET_EXAT | SET_PXAT)) != 0, &ttl))
        return;
    if (fl & (SET_GET | SET_KEEPTTL)) {
        /* read-modify-write: applied as one step in the state machine */
        kbytes key = x->argv[1], val = x->argv[2];
        if (!resp_key_ok(key)) {
            resp_err_key(resp_out(x), key);
            return;
        }
        command cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = CMD_KV_SET;
        cmd.key = key;
        cmd.value = val;
        cmd.ttl_ms = have_ttl ? (ttl > 0 ? ttl : 1) : 0; /* a past time: gone after 1 ms */
        if (fl & SET_NX)
            cmd.flags |= CMD_F_IF_NOT_EXISTS;
        if (fl & SET_XX)
            cmd.flags |= CMD_F_IF_EXISTS;
        if (fl & SET_KEEPTTL)
            cmd.flags |= CMD_F_KEEPTTL;
        if (fl & SET_GET)
            cmd.flags |= CMD_F_RETURN;
        resp_propose_one(x, &cmd, (fl & SET_GET) ? WR_BULK_OLD : WR_OK_NIL);
        return;
    }
    do_set(x, x->argv[1], x->argv[2], fl, have_ttl, ttl, WR_OK_NIL);
}

static void setnx_cmd(resp_ctx *x)
{
    do_set(x, x->argv[1], x->argv[2], SET_NX, 0, 0, WR_BOOL);
}

static void setex_cmd(resp_ctx *x)
{
    int64_t ttl;
    int seconds = strcmp(x->cmd->name, "SETEX") == 0;
    if (resp_expire_arg(x, x->argv[2], seconds, 0, &ttl))
        return;
    do_set(x, x->argv[1], x->argv[3], 0, 1, ttl, WR_OK_NIL);
}


/* One key command built by the caller: checks the key, then proposes. */
static void propose_key(resp_ctx *x, command *cmd, int kind, int missing_is_nil)
{
    if (!resp_key_ok(cmd->key)) {
        if (missing_is_nil)
            reply_null(resp_out(x));
        else
            resp_err_key(resp_out(x), cmd->key);
        return;
    }
    resp_propose_one(x, cmd, kind);
}

static void getset_cmd(resp_ctx *x)
{
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_SET;
    cmd.key = x->argv[1];
    cmd.value = x->argv[2];
    cmd.flags = CMD_F_RETURN;
    if (cmd.value.n > KAHUNA_MAX_VALUE) {
        resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
        return;
    }
    propose_key(x, &cmd, WR_BULK_OLD, 0);
}

static void getdel_cmd(resp_ctx *x)
{
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_GETDEL;
    cmd.key = x->argv[1];
    propose_key(x, &cmd, WR_BULK_OLD, 1);
}

static int getex_classify(size_t argc, const kbytes *argv)
{
    (void)argv;
    return argc > 2 ? RC_WRITE : RC_READ;
}

/* GETEX key [EX seconds|PX milliseconds|EXAT unix-time|PXAT unix-time-ms|PERSIST] */
static void getex_cmd(resp_ctx *x)
{
    if (x->argc == 2) {
        get_cmd(x);
        return;
    }
    unsigned fl = 0;
    int persist = 0;
    kbytes expv = {NULL, 0};
    for (size_t j = 2; j < x->argc; j++) {
        kbytes o = x->argv[j];
        int has_next = j + 1 < x->argc;
        int any = (fl & SET_ANY_EXPIRE) || persist;
        if (resp_arg_is(o, "EX") && !any && has_next) {
            fl |= SET_EX;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "PX") && !any && has_next) {
            fl |= SET_PX;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "EXAT") && !any && has_next) {
            fl |= SET_EXAT;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "PXAT") && !any && has_next) {
            fl |= SET_PXAT;
            expv = x->argv[++j];
        } else if (resp_arg_is(o, "PERSIST") && !any) {
            persist = 1;
        } else {
            resp_err_syntax(resp_out(x));
            return;
        }
    }
    int64_t ttl = 0;
    if (!persist && resp_expire_arg(x, expv, (fl & (SET_EX | SET_EXAT)) != 0,
                                    (fl & (SET_EXAT | SET_PXAT)) != 0, &ttl))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_TTL_IF;
    cmd.key = x->argv[1];
    cmd.flags = CMD_F_RETURN;
    cmd.ttl_ms = persist ? 0 : (ttl > 0 ? ttl : -1); /* a past time deletes the key */
    propose_key(x, &cmd, WR_BULK_OLD, 1);
}

/* ---- MSET, MSETNX ---- */

static void mset_result(resp_op *op, int tag, const resp_result *res)
{
    (void)tag;
    if (res->status && !op->status)
        op->status = res->status;
    if (op->pending)
        return;
    reply r = resp_op_reply(op);
    int nx = op->i1;
    if (op->status == KAHUNA_ECONDITION && nx)
        reply_int(&r, 0);
    else if (op->status)
        resp_reply_status(&r, op->status);
    else if (nx)
        reply_int(&r, 1);
    else
        reply_simple(&r, "OK");
    resp_op_done(op, &r);
}

static void mset_cmd(resp_ctx *x)
{
    int nx = strcmp(x->cmd->name, "MSETNX") == 0;
    if (x->argc % 2 == 0) {
        resp_err_arity(x);
        return;
    }
    for (size_t i = 1; i < x->argc; i += 2) {
        if (!resp_key_ok(x->argv[i])) {
            resp_err_key(resp_out(x), x->argv[i]);
            return;
        }
        if (x->argv[i + 1].n > KAHUNA_MAX_VALUE) {
            resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
            return;
        }
    }
    if (x->txn && nx) {
        reply_error(resp_out(x), "ERR 'msetnx' is not supported inside MULTI");
        return;
    }
    resp_op *op = resp_op_start(x, 0);
    if (!op)
        return;
    op->i1 = nx;
    op->on_result = mset_result;
    command put;
    memset(&put, 0, sizeof put);
    put.type = CMD_KV_PUT;
    if (x->txn) {
        /* inside EXEC: the puts join the transaction */
        for (size_t i = 1; i < x->argc; i += 2) {
            put.key = x->argv[i];
            put.value = x->argv[i + 1];
            resp_op_propose(op, &put, (int)i);
        }
        return;
    }
    /* one log entry: all the puts, and for MSETNX the condition that no
     * key exists (a watch on revision 0 each) */
    kbuf aux = KBUF_INIT;
    int rc = cmd_txn_begin(&aux, nx ? (x->argc - 1) / 2 : 0);
    for (size_t i = 1; nx && i < x->argc && !rc; i += 2)
        rc = cmd_txn_watch(&aux, x->argv[i], 0);
    for (size_t i = 1; i < x->argc && !rc; i += 2) {
        put.key = x->argv[i];
        put.value = x->argv[i + 1];
        rc = cmd_txn_add(&aux, &put);
    }
    command txn;
    memset(&txn, 0, sizeof txn);
    txn.type = CMD_TXN;
    txn.aux = kbytes_make(aux.data, aux.len);
    if (!rc)
        rc = cmd_validate(&txn);
    if (rc)
        resp_op_fail(op, rc);
    else
        resp_op_propose(op, &txn, 0);
    kbuf_free(&aux);
}

/* ---- APPEND, SETRANGE, INCR family ---- */

static void append_cmd(resp_ctx *x)
{
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_APPEND;
    cmd.key = x->argv[1];
    cmd.value = x->argv[2];
    if (cmd.value.n > KAHUNA_MAX_VALUE) {
        resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
        return;
    }
    propose_key(x, &cmd, WR_INT_VALUE, 0);
}

static void setrange_cmd(resp_ctx *x)
{
    long long off;
    if (!resp_arg_ll(x->argv[2], &off)) {
        resp_err_int(resp_out(x));
        return;
    }
    if (off < 0) {
        reply_error(resp_out(x), "ERR offset is out of range");
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_SETRANGE;
    cmd.key = x->argv[1];
    cmd.value = x->argv[3];
    if (cmd.value.n == 0) {
        cmd.num = 0; /* nothing is written: only the length comes back */
    } else if ((unsigned long long)off + cmd.value.n > KAHUNA_MAX_VALUE) {
        resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
        return;
    } else {
        cmd.num = off;
    }
    propose_key(x, &cmd, WR_INT_VALUE, 0);
}

static void incr_cmd(resp_ctx *x)
{
    const char *n = x->cmd->name;
    long long by = 1;
    if (x->argc == 3 && !resp_arg_ll(x->argv[2], &by)) {
        resp_err_int(resp_out(x));
        return;
    }
    if (n[0] == 'D') {
        if (by == LLONG_MIN) {
            reply_error(resp_out(x), "ERR decrement would overflow");
            return;
        }
        by = -by;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_INCR;
    cmd.key = x->argv[1];
    cmd.num = by;
    propose_key(x, &cmd, WR_INT_VALUE, 0);
}

static void incrbyfloat_cmd(resp_ctx *x)
{
    kbytes v = x->argv[2];
    char buf[520];
    int ok = v.n > 0 && v.n < sizeof buf && !memchr(v.p, 0, v.n);
    if (ok) {
        memcpy(buf, v.p, v.n);
        buf[v.n] = '\0';
        char *end;
        double d = strtod(buf, &end);
        ok = *end == '\0' && !isnan(d) && !isinf(d) && buf[0] != ' ' && buf[0] != '\t';
    }
    if (!ok) {
        reply_error(resp_out(x), "ERR value is not a valid float");
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_INCRBYFLOAT;
    cmd.key = x->argv[1];
    cmd.value = v;
    propose_key(x, &cmd, WR_BULK_DATA, 0);
}

#define STR(name, arity, flags, cls, fn, first, last, step, since, acl, summary, args) \
    {name, arity, flags, cls, NULL, fn, first, last, step, "string", summary, since, acl, args}

const resp_command resp_cmds_strings[] = {
    STR("GET", 2, RF_READONLY | RF_FAST, RC_READ, get_cmd, 1, 1, 1, "1.0.0", "@read @string @fast",
        "Returns the string value of a key.", "key"),
    STR("SET", -3, RF_WRITE | RF_DENYOOM, RC_WRITE, set_cmd, 1, 1, 1, "1.0.0", "@write @string @slow",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
    STR("SETNX", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, setnx_cmd, 1, 1, 1, "1.0.0",
        "@write @string @fast", "Set the string value of a key only when the key doesn't exist.", "key value"),
    STR("SETEX", 4, RF_WRITE | RF_DENYOOM, RC_WRITE, setex_cmd, 1, 1, 1, "2.0.0", "@write @string @slow",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "key seconds value"),
    STR("PSETEX", 4, RF_WRITE | RF_DENYOOM, RC_WRITE, setex_cmd, 1, 1, 1, "2.6.0", "@write @string @slow",
        "Sets both string value and expiration time in milliseconds of a key.", "key milliseconds value"),
    STR("MGET", -2, RF_READONLY | RF_FAST, RC_READ, mget_cmd, 1, -1, 1, "1.0.0", "@read @string @fast",
        "Returns the string values of one or more keys.", "key [key ...]"),
    STR("STRLEN", 2, RF_READONLY | RF_FAST, RC_READ, strlen_cmd, 1, 1, 1, "2.2.0", "@read @string @fast",
        "Returns the length of a string value.", "key"),
    STR("GETRANGE", 4, RF_READONLY, RC_READ, getrange_cmd, 1, 1, 1, "2.4.0", "@read @string @slow",
        "Returns a substring of the string stored at a key.", "key start end"),
    STR("SUBSTR", 4, RF_READONLY, RC_READ, getrange_cmd, 1, 1, 1, "1.0.0", "@read @string @slow",
        "Returns a substring from a string value.", "key start end"),
    STR("GETSET", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, getset_cmd, 1, 1, 1, "1.0.0",
        "@write @string @fast", "Returns the previous string value of a key after setting it to a new value.",
        "key value"),
    STR("GETDEL", 2, RF_WRITE | RF_FAST, RC_WRITE, getdel_cmd, 1, 1, 1, "6.2.0", "@write @string @fast",
        "Returns the string value of a key after deleting the key.", "key"),
    {"GETEX", -2, RF_WRITE | RF_FAST, RC_WRITE, getex_classify, getex_cmd, 1, 1, 1, "string",
     "Returns the string value of a key after setting its expiration time.", "6.2.0", "@write @string @fast",
     "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]"},
    STR("MSET", -3, RF_WRITE | RF_DENYOOM, RC_WRITE, mset_cmd, 1, -1, 2, "1.0.1", "@write @string @slow",
        "Atomically creates or modifies the string values of one or more keys.", "key value [key value ...]"),
    STR("MSETNX", -3, RF_WRITE | RF_DENYOOM, RC_WRITE, mset_cmd, 1, -1, 2, "1.0.1", "@write @string @slow",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        "key value [key value ...]"),
    STR("APPEND", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, append_cmd, 1, 1, 1, "2.0.0",
        "@write @string @fast", "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        "key value"),
    STR("SETRANGE", 4, RF_WRITE | RF_DENYOOM, RC_WRITE, setrange_cmd, 1, 1, 1, "2.2.0", "@write @string @slow",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        "key offset value"),
    STR("INCR", 2, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, incr_cmd, 1, 1, 1, "1.0.0", "@write @string @fast",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key"),
    STR("INCRBY", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, incr_cmd, 1, 1, 1, "1.0.0",
        "@write @string @fast", "Increments the integer value of a key by a number.", "key increment"),
    STR("DECR", 2, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, incr_cmd, 1, 1, 1, "1.0.0", "@write @string @fast",
        "Decrements the integer value of a key by one.", "key"),
    STR("DECRBY", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, incr_cmd, 1, 1, 1, "1.0.0",
        "@write @string @fast", "Decrements a number from the integer value of a key.", "key decrement"),
    STR("INCRBYFLOAT", 3, RF_WRITE | RF_DENYOOM | RF_FAST, RC_WRITE, incrbyfloat_cmd, 1, 1, 1, "2.6.0",
        "@write @string @fast", "Increment the floating point value of a key by a number.", "key increment"),
};
const size_t resp_cmds_strings_n = sizeof resp_cmds_strings / sizeof resp_cmds_strings[0];
