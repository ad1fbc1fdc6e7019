/* cmd_multi.c: MULTI EXEC DISCARD WATCH UNWATCH. An EXEC'd block is one
 * CMD_TXN entry in the replicated log: all of it applies, in order, or
 * none of it when a WATCHed key changed.
 *
 * MULTI queues the commands' arguments (after the checks Redis makes at
 * queue time: unknown command, arity, AUTH). EXEC then runs every queued
 * command's own handler in "transaction mode": resp_op_propose adds the
 * command to the CMD_TXN being built instead of proposing it, and a read
 * adds a CMD_KV_GET for each of its keys, so that it sees the store at its
 * place in the transaction. When the transaction's result comes back, each
 * sub-result goes to the handler's on_result as a single proposal's would,
 * the reads run against the captured values (resp_txn_lookup), and the
 * replies, collected per command, become EXEC's array.
 *
 * WATCH reads each key's revision (0 when absent) after a read barrier;
 * the transaction carries them and apply checks them before changing
 * anything, so the check and the writes are one atomic step.
 *
 * Differences from Redis (docs/resp.md): inside EXEC, reads that are not
 * reads of given keys (KEYS, SCAN, DBSIZE, RANDOMKEY, LOCK.INFO, SEQ.GET)
 * see the store after the whole transaction; EXPIRE with GT/LT is refused
 * inside MULTI (it needs a read before its write); LOCK.ACQUIRE ... WAIT
 * does not wait. */
#include "resp_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct txn_item {
    const resp_command *cmd;
    resp_op *op;               /* its operation while it waits for results */
    kbuf reply;
    int done;
} txn_item;

typedef struct txn_sub {
    size_t item;
    int tag;
    int capture;               /* a CMD_KV_GET for a read of the item */
} txn_sub;

typedef struct txn_capture {
    size_t item;
    kbuf key;
    int found;
    int64_t revision, ttl_ms;
    kbuf value;
} txn_capture;

struct resp_txn {
    resp_conn *c;
    kbuf aux;
    txn_item *items;
    size_t nitems, cur;
    txn_sub *subs;
    size_t nsubs, subcap;
    txn_capture *caps;
    size_t ncaps, capcap;
    int err;
};

#define QUEUED_HEADER 4 /* argc, little-endian, as the first list item */

static void txn_free(resp_txn *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nitems; i++) {
        kbuf_free(&t->items[i].reply);
        if (t->items[i].op && !t->items[i].done)
            resp_op_release(t->c->s, t->items[i].op);
    }
    for (size_t i = 0; i < t->ncaps; i++) {
        kbuf_free(&t->caps[i].key);
        kbuf_free(&t->caps[i].value);
    }
    free(t->items);
    free(t->subs);
    free(t->caps);
    kbuf_free(&t->aux);
    free(t);
}

void resp_multi_reset(resp_conn *c)
{
    c->in_multi = 0;
    c->multi_error = 0;
    c->multi_count = 0;
    kbuf_reset(&c->multi_buf);
    kbuf_reset(&c->watch_buf);
    c->nwatch = 0;
}

/* ---- queueing ---- */

void resp_multi_queue(resp_ctx *x, int cls)
{
    resp_conn *c = x->c;
    reply *r = resp_out(x);
    if (cls == RC_EXCL && strcmp(x->cmd->name, "LOCK.ACQUIRE") != 0) {
        char low[40];
        resp_lower_name(x->cmd, low, sizeof low);
        reply_errorf(r, "ERR '%s' with these options is not supported inside MULTI", low);
        c->multi_error = 1;
        return;
    }
    size_t total = QUEUED_HEADER + 10;
    for (size_t i = 0; i < x->argc; i++)
        total += x->argv[i].n + 10;
    if (c->multi_buf.len + total > KAHUNA_MAX_TXN) {
        reply_errorf(r, "ERR transaction too large: at most %d bytes of queued commands", KAHUNA_MAX_TXN);
        c->multi_error = 1;
        return;
    }
    uint8_t hdr[QUEUED_HEADER] = {(uint8_t)x->argc, (uint8_t)(x->argc >> 8), (uint8_t)(x->argc >> 16),
                                  (uint8_t)(x->argc >> 24)};
    size_t mark = c->multi_buf.len;
    int rc = cmd_list_add(&c->multi_buf, kbytes_make(hdr, sizeof hdr));
    for (size_t i = 0; i < x->argc && !rc; i++)
        rc = cmd_list_add(&c->multi_buf, x->argv[i]);
    if (rc) {
        c->multi_buf.len = mark;
        reply_error(r, "ERR out of memory");
        c->multi_error = 1;
        return;
    }
    c->multi_count++;
    reply_simple(r, "QUEUED");
}

static void multi_cmd(resp_ctx *x)
{
    if (x->c->in_multi) {
        reply_error(resp_out(x), "ERR MULTI calls can not be nested");
        return;
    }
    x->c->in_multi = 1;
    x->c->multi_error = 0;
    x->c->multi_count = 0;
    kbuf_reset(&x->c->multi_buf);
    reply_simple(resp_out(x), "OK");
}

static void discard_cmd(resp_ctx *x)
{
    if (!x->c->in_multi) {
        reply_error(resp_out(x), "ERR DISCARD without MULTI");
        return;
    }
    resp_multi_reset(x->c);
    reply_simple(resp_out(x), "OK");
}

/* ---- WATCH ---- */

static void watch_read(resp_op *op, int status)
{
    resp_conn *c = op->c;
    reply r = resp_op_reply(op);
    int rc = status;
    int64_t store_rev = -1;
    for (size_t i = 1; i < op->argc && !rc; i++) {
        kv_record rec;
        int64_t rev = 0;
        int lrc = resp_kv_lookup(c->s, op->argv[i], &rec, NULL);
        if (lrc == 0) {
            rev = rec.revision;
        } else if (lrc != KAHUNA_ENOTFOUND) {
            rc = lrc;
        } else {
            /* absent: remember the store revision, so that EXEC also sees
             * a create and delete in between (-(revision + 1), command.h) */
            fsm_reader *rd = resp_reader(c->s);
            if (store_rev < 0 && (!rd || fsm_reader_stats(rd, &store_rev, NULL) != 0))
                rc = KAHUNA_EIO;
            rev = -(store_rev + 1);
        }
        kv_record_free(&rec);
        if (!rc && resp_key_ok(op->argv[i])) {
            uint8_t b[8];
            for (int k = 0; k < 8; k++)
                b[k] = (uint8_t)((uint64_t)rev >> (8 * k));
            if (cmd_list_add(&c->watch_buf, op->argv[i]) || kbuf_append(&c->watch_buf, b, 8))
                rc = KAHUNA_ENOMEM;
            else
                c->nwatch++;
        }
    }
    if (rc)
        resp_reply_status(&r, rc);
    else
        reply_simple(&r, "OK");
    resp_op_done(op, &r);
}

static void watch_cmd(resp_ctx *x)
{
    if (x->c->in_multi) {
        reply_error(resp_out(x), "ERR WATCH inside MULTI is not allowed");
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, watch_read);
}

static void unwatch_cmd(resp_ctx *x)
{
    if (!x->txn) {
        kbuf_reset(&x->c->watch_buf);
        x->c->nwatch = 0;
    }
    reply_simple(resp_out(x), "OK");
}

/* ---- transaction mode ---- */

reply *resp_txn_out(resp_ctx *x)
{
    resp_txn *t = x->txn;
    if (!x->have_r) {
        x->r = reply_make(&t->items[t->cur].reply, x->c->proto);
        x->have_r = 1;
    }
    return &x->r;
}

void resp_txn_attach(resp_ctx *x, resp_op *op)
{
    resp_txn *t = x->txn;
    op->txn_index = t->cur;
    t->items[t->cur].op = op;
}

static txn_sub *add_sub(resp_txn *t)
{
    if (t->nsubs == t->subcap) {
        size_t nc = t->subcap ? t->subcap * 2 : 16;
        txn_sub *p = realloc(t->subs, nc * sizeof *p);
        if (!p)
            return NULL;
        t->subs = p;
        t->subcap = nc;
    }
    txn_sub *s = &t->subs[t->nsubs++];
    memset(s, 0, sizeof *s);
    return s;
}

void resp_txn_propose(resp_op *op, const command *cmd, int tag)
{
    resp_txn *t = op->txn;
    int rc = cmd_txn_add(&t->aux, cmd);
    txn_sub *s = rc ? NULL : add_sub(t);
    if (!s) {
        if (!t->err)
            t->err = rc ? rc : KAHUNA_ENOMEM;
        return;
    }
    s->item = op->txn_index;
    s->tag = tag;
    op->pending++;
}

void resp_txn_read(resp_op *op)
{
    resp_txn *t = op->txn;
    const resp_command *cmd = t->items[op->txn_index].cmd;
    if (cmd->first_key <= 0 || op->argc == 0)
        return; /* not a read of given keys: it runs after the transaction */
    size_t last = cmd->last_key < 0 ? op->argc - (size_t)(-cmd->last_key) : (size_t)cmd->last_key;
    for (size_t i = (size_t)cmd->first_key; i <= last && i < op->argc; i += (size_t)cmd->step) {
        if (!resp_key_ok(op->argv[i]))
            continue;
        command get;
        memset(&get, 0, sizeof get);
        get.type = CMD_KV_GET;
        get.key = op->argv[i];
        int rc = cmd_txn_add(&t->aux, &get);
        txn_sub *s = rc ? NULL : add_sub(t);
        if (!s) {
            if (!t->err)
                t->err = rc ? rc : KAHUNA_ENOMEM;
            return;
        }
        s->item = op->txn_index;
        s->capture = 1;
        s->tag = (int)i;
    }
}

reply resp_txn_reply(resp_op *op)
{
    return reply_make(&op->txn->items[op->txn_index].reply, op->proto);
}

void resp_txn_done(resp_op *op, reply *r)
{
    resp_txn *t = op->txn;
    txn_item *it = &t->items[op->txn_index];
    if (r && r->err)
        t->err = KAHUNA_ENOMEM;
    it->done = 1;
    it->op = NULL;
    resp_op_release(op->c->s, op);
}

int resp_txn_lookup(resp_server *s, kbytes key, kv_record *rec, int64_t *ttl_left, int *rc)
{
    resp_op *op;
    resp_txn *t = resp_txn_reading(s, &op);
    if (!t || !op)
        return 0;
    for (size_t i = 0; i < t->ncaps; i++) {
        txn_capture *cp = &t->caps[i];
        if (cp->item != op->txn_index || !kbytes_eq(kbytes_make(cp->key.data, cp->key.len), key))
            continue;
        memset(rec, 0, sizeof *rec);
        if (!cp->found) {
            *rc = KAHUNA_ENOTFOUND;
            return 1;
        }
        if (kbuf_append(&rec->key, key.p, key.n) || kbuf_append(&rec->value, cp->value.data, cp->value.len)) {
            kv_record_free(rec);
            *rc = KAHUNA_ENOMEM;
            return 1;
        }
        rec->revision = cp->revision;
        rec->ttl_ms = cp->ttl_ms;
        if (ttl_left) {
            *ttl_left = -1;
            if (cp->ttl_ms > 0) {
                int64_t left = node_ttl_remaining(resp_node(s), FSM_TTL_KV, key, cp->revision);
                *ttl_left = left > 0 ? left : cp->ttl_ms;
            }
        }
        *rc = 0;
        return 1;
    }
    return 0;
}

/* ---- EXEC ---- */

/* Writes EXEC's reply: every command's reply, in order. */
static void exec_reply(resp_op *eop, resp_txn *t)
{
    reply r = resp_op_reply(eop);
    if (t->err) {
        resp_reply_status(&r, t->err);
    } else {
        reply_array(&r, t->nitems);
        for (size_t i = 0; i < t->nitems && !r.err; i++) {
            txn_item *it = &t->items[i];
            if (!it->done || it->reply.len == 0) {
                reply_error(&r, "ERR internal error: no reply for this command");
                continue;
            }
            if (kbuf_append(r.b, it->reply.data, it->reply.len))
                r.err = KAHUNA_ENOMEM;
        }
    }
    txn_free(t);
    resp_op_done(eop, &r);
}

static int capture_add(resp_txn *t, const txn_sub *s, const fsm_result *fr, kbytes data)
{
    if (t->ncaps == t->capcap) {
        size_t nc = t->capcap ? t->capcap * 2 : 8;
        txn_capture *p = realloc(t->caps, nc * sizeof *p);
        if (!p)
            return KAHUNA_ENOMEM;
        t->caps = p;
        t->capcap = nc;
    }
    txn_capture *cp = &t->caps[t->ncaps++];
    memset(cp, 0, sizeof *cp);
    cp->item = s->item;
    cp->found = fr->status == 0;
    cp->revision = fr->revision;
    cp->ttl_ms = fr->ttl_ms;
    resp_op *op = t->items[s->item].op;
    kbytes key = op && (size_t)s->tag < op->argc ? op->argv[s->tag] : kbytes_make(NULL, 0);
    if (kbuf_append(&cp->key, key.p, key.n) || kbuf_append(&cp->value, data.p, data.n))
        return KAHUNA_ENOMEM;
    return 0;
}

/* Hands the sub-results to the handlers, then runs the reads. */
static void exec_deliver(resp_txn *t, kbytes enc)
{
    resp_server *s = t->c->s;
    size_t off = 0;
    for (size_t i = 0; i < t->nsubs && !t->err; i++) {
        fsm_result fr;
        kbytes data;
        if (fsm_txn_result_next(enc, &off, &fr, &data)) {
            t->err = KAHUNA_EINTERNAL;
            break;
        }
        txn_sub *sub = &t->subs[i];
        txn_item *it = &t->items[sub->item];
        if (sub->capture) {
            if (capture_add(t, sub, &fr, data))
                t->err = KAHUNA_ENOMEM;
            continue;
        }
        if (!it->op || it->done)
            continue;
        resp_result rr = {fr.status, fr.revision, fr.version, fr.create_revision, fr.token, fr.ttl_ms,
                          fr.value, fr.last, fr.found, data.p, data.n};
        it->op->pending--;
        it->op->on_result(it->op, sub->tag, &rr);
    }
    for (size_t i = 0; i < t->nitems && !t->err; i++) {
        txn_item *it = &t->items[i];
        if (it->done || !it->op || !it->op->on_read)
            continue;
        resp_set_txn_reading(s, t, it->op);
        it->op->on_read(it->op, 0);
        resp_set_txn_reading(s, NULL, NULL);
    }
}

static void exec_result(resp_op *eop, int tag, const resp_result *res)
{
    resp_txn *t = eop->data;
    (void)tag;
    eop->data = NULL;
    if (res->status == KAHUNA_ECONDITION) {
        /* a watched key changed: nothing was applied */
        reply r = resp_op_reply(eop);
        reply_null_array(&r);
        txn_free(t);
        resp_op_done(eop, &r);
        return;
    }
    if (res->status)
        t->err = res->status;
    else
        exec_deliver(t, kbytes_make(res->data, res->data_len));
    exec_reply(eop, t);
}

/* Reads the next queued command out of buf at *off into argv. */
static int next_queued(kbytes buf, size_t *off, kbytes **argv, size_t *argc, size_t *cap)
{
    kbytes hdr;
    int rc = cmd_list_next(buf, off, &hdr);
    if (rc)
        return rc;
    if (hdr.n != QUEUED_HEADER)
        return KAHUNA_EINTERNAL;
    size_t n = (size_t)hdr.p[0] | (size_t)hdr.p[1] << 8 | (size_t)hdr.p[2] << 16 | (size_t)hdr.p[3] << 24;
    if (n > *cap) {
        kbytes *a = realloc(*argv, n * sizeof *a);
        if (!a)
            return KAHUNA_ENOMEM;
        *argv = a;
        *cap = n;
    }
    for (size_t i = 0; i < n; i++)
        if (cmd_list_next(buf, off, &(*argv)[i]))
            return KAHUNA_EINTERNAL;
    *argc = n;
    return 0;
}

static void exec_cmd(resp_ctx *x)
{
    resp_conn *c = x->c;
    if (!c->in_multi) {
        reply_error(resp_out(x), "ERR EXEC without MULTI");
        return;
    }
    if (c->multi_error) {
        resp_multi_reset(c);
        reply_error(resp_out(x), "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    resp_op *eop = resp_op_start(x, 0);
    if (!eop) {
        resp_multi_reset(c);
        return;
    }
    resp_txn *t = calloc(1, sizeof *t);
    if (t)
        t->c = c;
    if (!t || (c->multi_count && !(t->items = calloc((size_t)c->multi_count, sizeof *t->items)))) {
        free(t);
        resp_multi_reset(c);
        resp_op_fail(eop, KAHUNA_ENOMEM);
        return;
    }
    /* the watches, then every queued command through its handler */
    int rc = cmd_txn_begin(&t->aux, c->nwatch);
    size_t woff = 0;
    kbytes wbuf = kbytes_make(c->watch_buf.data, c->watch_buf.len);
    for (size_t i = 0; i < c->nwatch && !rc; i++) {
        kbytes key;
        rc = cmd_list_next(wbuf, &woff, &key);
        if (!rc && woff + 8 > wbuf.n)
            rc = KAHUNA_EINTERNAL;
        if (!rc) {
            uint64_t rev = 0;
            for (int k = 0; k < 8; k++)
                rev |= (uint64_t)wbuf.p[woff + (size_t)k] << (8 * k);
            woff += 8;
            rc = cmd_txn_watch(&t->aux, key, (int64_t)rev);
        }
    }
    kbytes qbuf = kbytes_make(c->multi_buf.data, c->multi_buf.len);
    size_t qoff = 0, cap = 0, argc = 0;
    kbytes *argv = NULL;
    for (size_t i = 0; i < (size_t)c->multi_count && !rc && !t->err; i++) {
        rc = next_queued(qbuf, &qoff, &argv, &argc, &cap);
        if (rc)
            break;
        const resp_command *cmd = resp_command_lookup(argv[0]);
        t->items[i].cmd = cmd;
        t->cur = i;
        t->nitems = i + 1;
        resp_ctx sub = {c, cmd, argc, argv, {NULL, 2, 0}, 0, t};
        if (!cmd) {
            reply_error(resp_out(&sub), "ERR unknown command");
        } else {
            cmd->fn(&sub);
            if (sub.have_r && sub.r.err)
                t->err = KAHUNA_ENOMEM;
        }
        if (!t->items[i].op)
            t->items[i].done = 1; /* answered at once */
    }
    free(argv);
    if (rc && !t->err)
        t->err = rc;
    resp_multi_reset(c);
    if (t->err || t->nsubs == 0) {
        /* nothing to propose (or a failure): answer now */
        if (!t->err)
            exec_deliver(t, kbytes_make(NULL, 0));
        exec_reply(eop, t);
        return;
    }
    command txn;
    memset(&txn, 0, sizeof txn);
    txn.type = CMD_TXN;
    txn.aux = kbytes_make(t->aux.data, t->aux.len);
    rc = cmd_validate(&txn);
    if (rc) {
        t->err = rc;
        exec_reply(eop, t);
        return;
    }
    eop->data = t;
    eop->on_result = exec_result;
    resp_op_propose(eop, &txn, 0);
}

#define MUL(name, arity, flags, cls, fn, first, last, summary, args) \
    {name, arity, flags, cls, NULL, fn, first, last, first ? 1 : 0, "transactions", summary, "1.2.0", \
     "@fast @transaction", args}

const resp_command resp_cmds_multi[] = {
    MUL("MULTI", 1, RF_NOMULTI | RF_FAST | RF_LOADING | RF_STALE | RF_ALLOWBUSY | RF_NOSCRIPT, RC_LOCAL,
        multi_cmd, 0, 0, "Starts a transaction.", ""),
    MUL("EXEC", 1, RF_NOMULTI | RF_LOADING | RF_STALE | RF_NOSCRIPT, RC_EXCL, exec_cmd, 0, 0,
        "Executes all commands in a transaction: one entry of the replicated log.", ""),
    MUL("DISCARD", 1, RF_NOMULTI | RF_FAST | RF_LOADING | RF_STALE | RF_ALLOWBUSY | RF_NOSCRIPT, RC_LOCAL,
        discard_cmd, 0, 0, "Discards a transaction.", ""),
    MUL("WATCH", -2, RF_NOMULTI | RF_FAST | RF_LOADING | RF_STALE | RF_ALLOWBUSY | RF_NOSCRIPT, RC_READ,
        watch_cmd, 1, -1, "Monitors changes to keys to determine the execution of a transaction.",
        "key [key ...]"),
    MUL("UNWATCH", 1, RF_FAST | RF_LOADING | RF_STALE | RF_ALLOWBUSY | RF_NOSCRIPT, RC_LOCAL, unwatch_cmd,
        0, 0, "Forgets about watched keys of a transaction.", ""),
};
const size_t resp_cmds_multi_n = sizeof resp_cmds_multi / sizeof resp_cmds_multi[0];
