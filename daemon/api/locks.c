/* locks.c: the lock resource: answers to acquire, extend and release once
 * applied (or once a waiting acquire is served), and the reads. */
#include "api_internal.h"

#include <string.h>

#include "errors.h"

static kbytes name_of(const req *rq)
{
    return kbytes_make(rq->name.data, rq->name.len);
}

void api_lock_written(const req *rq, const fsm_result *res, api_reply *out)
{
    jw w;
    switch (res->status) {
    case 0:
        api_reply_json(out, 200, &w);
        jw_obj_open(&w, NULL);
        jw_bytes(&w, "name", name_of(rq), 0);
        jw_bytes(&w, "owner", rq->cmd.owner, 0);
        if (rq->op == REQ_OP_LOCK_RELEASE) {
            jw_bool(&w, "released", 1);
        } else {
            jw_int(&w, "fencing_token", res->token);
            jw_int(&w, "ttl_ms", res->ttl_ms);
        }
        jw_int(&w, "revision", res->revision);
        jw_obj_close(&w);
        api_reply_finish(out, &w);
        return;
    case KAHUNA_ELOCKHELD:
        api_reply_error_open(out, res->status, "the lock is held by another owner", &w);
        if (res->owner)
            jw_bytes(&w, "owner", kbytes_str(res->owner), 0);
        if (res->ttl_ms > 0)
            jw_int(&w, "ttl_ms", res->ttl_ms);
        api_reply_error_close(out, &w);
        return;
    case KAHUNA_ENOTOWNER:
        api_reply_error_open(out, res->status, "the lock is held by another owner", &w);
        if (res->owner)
            jw_bytes(&w, "owner", kbytes_str(res->owner), 0);
        api_reply_error_close(out, &w);
        return;
    case KAHUNA_ENOTFOUND:
        api_reply_error(out, res->status, "the lock is not held");
        return;
    default:
        api_reply_error(out, res->status, NULL);
    }
}

/* Remaining TTL of a grant: 0 when it has run out (the lock reads as free
 * even before its expire command applies); a node that keeps no deadline
 * for it yet reports the TTL granted. */
static int64_t remaining(const api_env *env, const lock_record *rec)
{
    int64_t left = node_ttl_remaining(env->n, FSM_TTL_LOCK, kbytes_make(rec->name.data, rec->name.len), rec->token);
    return left < 0 ? rec->ttl_ms : left;
}

static void item(jw *w, const lock_record *rec, int64_t left)
{
    jw_obj_open(w, NULL);
    jw_bytes(w, "name", kbytes_make(rec->name.data, rec->name.len), 0);
    jw_bytes(w, "owner", kbytes_make(rec->owner.data, rec->owner.len), 0);
    jw_int(w, "fencing_token", rec->token);
    jw_int(w, "ttl_ms", left);
    jw_obj_close(w);
}

static void get_one(const api_env *env, fsm_reader *rd, const req *rq, api_reply *out)
{
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    int rc = fsm_lock_get(rd, name_of(rq), &rec);
    int64_t left = rc ? 0 : remaining(env, &rec);
    if (rc == KAHUNA_ENOTFOUND || (!rc && left == 0)) {
        api_reply_error(out, KAHUNA_ENOTFOUND, "the lock is free");
    } else if (rc) {
        api_reply_error(out, rc, NULL);
    } else {
        jw w;
        api_reply_json(out, 200, &w);
        item(&w, &rec, left);
        api_reply_finish(out, &w);
    }
    lock_record_free(&rec);
}

static void list(const api_env *env, fsm_reader *rd, const req *rq, api_reply *out)
{
    lock_list l = {NULL, 0, 0};
    int rc = fsm_lock_list(rd, kbytes_make(rq->prefix.data, rq->prefix.len),
                           kbytes_make(rq->after.data, rq->after.len), rq->limit, &l);
    if (rc) {
        api_reply_error(out, rc, NULL);
        lock_list_free(&l);
        return;
    }
    jw w;
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_arr_open(&w, "items");
    for (size_t i = 0; i < l.n; i++) {
        int64_t left = remaining(env, &l.items[i]);
        if (left != 0)
            item(&w, &l.items[i], left);
    }
    jw_arr_close(&w);
    jw_bool(&w, "more", l.more);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
    lock_list_free(&l);
}

void api_lock_read(const api_env *env, const req *rq, api_reply *out)
{
    fsm_reader *rd = node_reader(env->n);
    if (!rd) {
        api_reply_error(out, KAHUNA_EIO, "cannot open the state database for reading; see the node's log");
        return;
    }
    if (rq->op == REQ_OP_LOCK_GET)
        get_one(env, rd, rq, out);
    else if (rq->op == REQ_OP_LOCK_LIST)
        list(env, rd, rq, out);
    else
        api_reply_error(out, KAHUNA_EINTERNAL, "not a lock read");
}
