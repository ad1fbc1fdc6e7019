/* cmd_kahuna.c: kahuna's own commands over RESP (SPEC §4): locks
 * (LOCK.ACQUIRE LOCK.EXTEND LOCK.RELEASE LOCK.INFO), sequences (SEQ.NEXT
 * SEQ.GET SEQ.SET SEQ.DEL) and CLUSTER.INFO. They are the REST API's
 * /v1/locks, /v1/sequences and /v1/cluster with Redis-style replies:
 * integers, nil for "no", errors only for bad input or an unavailable
 * cluster. */
#include "resp_internal.h"
#include "clock.h"

#include <stdio.h>
#include <string.h>

static int owner_ok(kbytes o)
{
    return o.n >= 1 && o.n <= KAHUNA_MAX_OWNER;
}

/* Parses a TTL in ms argument (1 .. KAHUNA_MAX_TTL_MS); replies on error. */
static int ttl_arg(resp_ctx *x, kbytes a, int64_t *out)
{
    long long v;
    if (!resp_arg_ll(a, &v)) {
        resp_err_int(resp_out(x));
        return -1;
    }
    if (v < 1 || v > KAHUNA_MAX_TTL_MS) {
        reply_errorf(resp_out(x), "ERR invalid ttl_ms: from 1 to %lld milliseconds (366 days)",
                     (long long)KAHUNA_MAX_TTL_MS);
        return -1;
    }
    *out = v;
    return 0;
}

/* Checks a lock name and owner; replies on error. */
static int name_owner_ok(resp_ctx *x, kbytes name, const kbytes *owner)
{
    if (!resp_key_ok(name)) {
        reply_errorf(resp_out(x), "ERR invalid lock name: 1 to %d bytes", KAHUNA_MAX_KEY);
        return 0;
    }
    if (owner && !owner_ok(*owner)) {
        reply_errorf(resp_out(x), "ERR invalid lock owner: 1 to %d bytes", KAHUNA_MAX_OWNER);
        return 0;
    }
    return 1;
}

/* LOCK.ACQUIRE name owner ttl_ms [WAIT ms] */
static int acquire_classify(size_t argc, const kbytes *argv)
{
    long long w;
    if (argc == 6 && resp_arg_ll(argv[5], &w) && w > 0)
        return RC_EXCL;
    return RC_WRITE;
}

static void acquire_result(resp_op *op, int tag, const resp_result *res)
{
    reply r = resp_op_reply(op);
    (void)tag;
    if (res->status == 0)
        reply_int(&r, res->token);
    else if (res->status == KAHUNA_ELOCKHELD || res->status == KAHUNA_ECANCELED)
        reply_null(&r);
    else
        resp_reply_status(&r, res->status);
    resp_op_done(op, &r);
}

static void lock_acquire_cmd(resp_ctx *x)
{
    int64_t ttl;
    long long wait = 0;
    if (x->argc != 4 && x->argc != 6) {
        resp_err_syntax(resp_out(x));
        return;
    }
    if (x->argc == 6) {
        if (!resp_arg_is(x->argv[4], "WAIT")) {
            resp_err_syntax(resp_out(x));
            return;
        }
        if (!resp_arg_ll(x->argv[5], &wait)) {
            resp_err_int(resp_out(x));
            return;
        }
        if (wait < 0 || wait > KAHUNA_MAX_TTL_MS) {
            reply_errorf(resp_out(x), "ERR invalid WAIT: from 0 to %lld milliseconds",
                         (long long)KAHUNA_MAX_TTL_MS);
            return;
        }
    }
    if (!name_owner_ok(x, x->argv[1], &x->argv[2]) || ttl_arg(x, x->argv[3], &ttl))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_LOCK_ACQUIRE;
    cmd.key = x->argv[1];
    cmd.owner = x->argv[2];
    cmd.ttl_ms = ttl;
    if (wait == 0) {
        resp_propose_one(x, &cmd, WR_TOKEN);
        return;
    }
    int rc = cmd_validate(&cmd);
    if (rc) {
        resp_reply_status(resp_out(x), rc);
        return;
    }
    resp_op *op = resp_op_start(x, 0);
    if (!op)
        return;
    op->on_result = acquire_result;
    resp_op_lock_acquire(op, &cmd, wait, 0);
}

static void lock_extend_cmd(resp_ctx *x)
{
    int64_t ttl;
    if (!name_owner_ok(x, x->argv[1], &x->argv[2]) || ttl_arg(x, x->argv[3], &ttl))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_LOCK_EXTEND;
    cmd.key = x->argv[1];
    cmd.owner = x->argv[2];
    cmd.ttl_ms = ttl;
    resp_propose_one(x, &cmd, WR_BOOL);
}

static void lock_release_cmd(resp_ctx *x)
{
    if (!name_owner_ok(x, x->argv[1], &x->argv[2]))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_LOCK_RELEASE;
    cmd.key = x->argv[1];
    cmd.owner = x->argv[2];
    resp_propose_one(x, &cmd, WR_BOOL);
}

static void lock_info_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    fsm_reader *rd = resp_reader(op->c->s);
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    int rc = status ? status : (rd ? fsm_lock_get(rd, op->argv[1], &rec) : KAHUNA_EIO);
    int64_t left = -1;
    if (rc == 0) {
        left = node_ttl_remaining(resp_node(op->c->s), FSM_TTL_LOCK, op->argv[1], rec.token);
        if (left == 0)
            rc = KAHUNA_ENOTFOUND; /* run out: free */
        else if (left < 0)
            left = rec.ttl_ms;
    }
    if (rc == KAHUNA_ENOTFOUND) {
        reply_null_array(&r);
    } else if (rc) {
        resp_reply_status(&r, rc);
    } else {
        reply_array(&r, 3);
        reply_bulk(&r, rec.owner.data, rec.owner.len);
        reply_int(&r, rec.token);
        reply_int(&r, left);
    }
    lock_record_free(&rec);
    resp_op_done(op, &r);
}

static void lock_info_cmd(resp_ctx *x)
{
    if (!resp_key_ok(x->argv[1])) {
        reply_null_array(resp_out(x));
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, lock_info_read);
}

/* ---- sequences ---- */

static int seq_name_ok(resp_ctx *x, kbytes name)
{
    if (!resp_key_ok(name)) {
        reply_errorf(resp_out(x), "ERR invalid sequence name: 1 to %d bytes", KAHUNA_MAX_KEY);
        return 0;
    }
    return 1;
}

static void seq_next_cmd(resp_ctx *x)
{
    long long count = 1;
    if (x->argc > 3) {
        resp_err_syntax(resp_out(x));
        return;
    }
    if (x->argc == 3) {
        if (!resp_arg_ll(x->argv[2], &count)) {
            resp_err_int(resp_out(x));
            return;
        }
        if (count < 1 || count > KAHUNA_MAX_SEQ_COUNT) {
            reply_errorf(resp_out(x), "ERR invalid count: from 1 to %d", KAHUNA_MAX_SEQ_COUNT);
            return;
        }
    }
    if (!seq_name_ok(x, x->argv[1]))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_SEQ_NEXT;
    cmd.key = x->argv[1];
    cmd.num = count;
    cmd.now_ms = clock_wall_ms();
    resp_propose_one(x, &cmd, WR_SEQ_VALUE);
}

static void seq_get_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    fsm_reader *rd = resp_reader(op->c->s);
    seq_record rec;
    memset(&rec, 0, sizeof rec);
    int rc = status ? status : (rd ? fsm_seq_get(rd, op->argv[1], &rec) : KAHUNA_EIO);
    if (rc == 0)
        reply_int(&r, rec.value);
    else if (rc == KAHUNA_ENOTFOUND)
        reply_null(&r);
    else
        resp_reply_status(&r, rc);
    seq_record_free(&rec);
    resp_op_done(op, &r);
}

static void seq_get_cmd(resp_ctx *x)
{
    if (!resp_key_ok(x->argv[1])) {
        reply_null(resp_out(x));
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, seq_get_read);
}

/* SEQ.SET name value [FORCE] */
static void seq_set_cmd(resp_ctx *x)
{
    long long v;
    int force = 0;
    if (x->argc > 4 || (x->argc == 4 && !(force = resp_arg_is(x->argv[3], "FORCE")))) {
        resp_err_syntax(resp_out(x));
        return;
    }
    if (!resp_arg_ll(x->argv[2], &v) || v < 0) {
        resp_err_int(resp_out(x));
        return;
    }
    if (!seq_name_ok(x, x->argv[1]))
        return;
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_SEQ_SET;
    cmd.key = x->argv[1];
    cmd.num = v;
    if (force)
        cmd.flags |= CMD_F_FORCE;
    resp_propose_one(x, &cmd, WR_SEQ_SET);
}

static void seq_del_cmd(resp_ctx *x)
{
    if (!resp_key_ok(x->argv[1])) {
        reply_int(resp_out(x), 0);
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_SEQ_DELETE;
    cmd.key = x->argv[1];
    resp_propose_one(x, &cmd, WR_BOOL);
}

/* ---- CLUSTER.INFO ---- */

static void cluster_info_cmd(resp_ctx *x)
{
    node_status st;
    node_get_status(resp_node(x->c->s), &st);
    kbuf b = KBUF_INIT;
    int rc = kbuf_printf(&b,
                         "node_id:%s\r\nrole:%s\r\nleader:%s\r\nready:%d\r\nterm:%llu\r\n"
                         "commit_index:%llu\r\napplied_index:%llu\r\nlast_log_index:%llu\r\n"
                         "revision:%lld\r\nproposals:%llu\r\nbatches:%llu\r\nexpirations:%llu\r\n"
                         "lock_waiters:%llu\r\n",
                         st.node_id ? st.node_id : resp_node_id(x->c->s), st.is_leader ? "leader" : "follower",
                         st.leader_id, node_ready(resp_node(x->c->s)),
                         (unsigned long long)st.term, (unsigned long long)st.commit_index,
                         (unsigned long long)st.applied_index, (unsigned long long)st.last_log_index,
                         (long long)st.revision, (unsigned long long)st.proposals,
                         (unsigned long long)st.batches, (unsigned long long)st.expirations,
                         (unsigned long long)st.lock_waiters);
    reply *r = resp_out(x);
    if (rc)
        r->err = rc;
    else
        reply_verbatim(r, b.data, b.len);
    kbuf_free(&b);
}

#define KH(name, arity, flags, cls, classify, fn, first, group, since, acl, summary, args) \
    {name, arity, flags, cls, classify, fn, first, first, first ? 1 : 0, group, summary, since, acl, args}

const resp_command resp_cmds_kahuna[] = {
    KH("LOCK.ACQUIRE", -4, RF_WRITE, RC_WRITE, acquire_classify, lock_acquire_cmd, 1, "kahuna", "0.1.0",
       "@write @slow", "Acquires a lock: the fencing token, or nil when another owner holds it.",
       "name owner ttl_ms [WAIT ms]"),
    KH("LOCK.EXTEND", 4, RF_WRITE | RF_FAST, RC_WRITE, NULL, lock_extend_cmd, 1, "kahuna", "0.1.0",
       "@write @fast", "Extends a lock held by owner: 1, or 0 when not held by owner.", "name owner ttl_ms"),
    KH("LOCK.RELEASE", 3, RF_WRITE | RF_FAST, RC_WRITE, NULL, lock_release_cmd, 1, "kahuna", "0.1.0",
       "@write @fast", "Releases a lock held by owner: 1, or 0 when not held by owner.", "name owner"),
    KH("LOCK.INFO", 2, RF_READONLY | RF_FAST, RC_READ, NULL, lock_info_cmd, 1, "kahuna", "0.1.0",
       "@read @fast", "The holder of a lock: [owner, fencing_token, ttl_ms], or nil when free.", "name"),
    KH("SEQ.NEXT", -2, RF_WRITE | RF_FAST, RC_WRITE, NULL, seq_next_cmd, 1, "kahuna", "0.1.0",
       "@write @fast", "Hands out the next count values of a sequence; returns the first.", "name [count]"),
    KH("SEQ.GET", 2, RF_READONLY | RF_FAST, RC_READ, NULL, seq_get_cmd, 1, "kahuna", "0.1.0",
       "@read @fast", "The last value handed out by a sequence, or nil.", "name"),
    KH("SEQ.SET", -3, RF_WRITE | RF_FAST, RC_WRITE, NULL, seq_set_cmd, 1, "kahuna", "0.1.0",
       "@write @fast", "Sets a sequence so that the next value is value+1 (FORCE to move backwards).",
       "name value [FORCE]"),
    KH("SEQ.DEL", 2, RF_WRITE | RF_FAST, RC_WRITE, NULL, seq_del_cmd, 1, "kahuna", "0.1.0",
       "@write @fast", "Deletes a sequence: 1, or 0 when there was none.", "name"),
    KH("CLUSTER.INFO", 1, RF_STALE | RF_LOADING, RC_LOCAL, NULL, cluster_info_cmd, 0, "kahuna", "0.1.0",
       "@slow", "This node's view of the kahuna cluster, as text.", ""),
};
const size_t resp_cmds_kahuna_n = sizeof resp_cmds_kahuna / sizeof resp_cmds_kahuna[0];
