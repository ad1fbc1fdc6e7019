/* seq.c: the sequence resource: answers to next, set and delete once
 * applied, and the reads. */
#include "api_internal.h"

#include <string.h>

#include "errors.h"

static kbytes name_of(const req *rq)
{
    return kbytes_make(rq->name.data, rq->name.len);
}

void api_seq_written(const req *rq, const fsm_result *res, api_reply *out)
{
    jw w;
    switch (res->status) {
    case 0:
        api_reply_json(out, 200, &w);
        jw_obj_open(&w, NULL);
        jw_bytes(&w, "name", name_of(rq), 0);
        if (rq->op == REQ_OP_SEQ_NEXT) {
            jw_int(&w, "value", res->value);
            jw_int(&w, "last", res->last);
        } else if (rq->op == REQ_OP_SEQ_SET) {
            jw_int(&w, "value", rq->cmd.num);
        }
        jw_int(&w, "revision", res->revision);
        jw_obj_close(&w);
        api_reply_finish(out, &w);
        return;
    case KAHUNA_ECONDITION:
        api_reply_error_open(out, res->status,
                             "the new value is below the current one: moving a sequence backwards needs \"force\": true", &w);
        jw_int(&w, "value", res->value);
        api_reply_error_close(out, &w);
        return;
    case KAHUNA_ENOTFOUND:
        api_reply_error(out, res->status, "no such sequence");
        return;
    default:
        api_reply_error(out, res->status, NULL);
    }
}

void api_seq_read(const api_env *env, const req *rq, api_reply *out)
{
    fsm_reader *rd = node_reader(env->n);
    jw w;
    if (!rd) {
        api_reply_error(out, KAHUNA_EIO, "cannot open the state database for reading; see the node's log");
        return;
    }
    if (rq->op == REQ_OP_SEQ_GET) {
        seq_record rec;
        memset(&rec, 0, sizeof rec);
        int rc = fsm_seq_get(rd, name_of(rq), &rec);
        if (rc) {
            api_reply_error(out, rc, rc == KAHUNA_ENOTFOUND ? "no such sequence" : NULL);
        } else {
            api_reply_json(out, 200, &w);
            jw_obj_open(&w, NULL);
            jw_bytes(&w, "name", name_of(rq), 0);
            jw_int(&w, "value", rec.value);
            jw_obj_close(&w);
            api_reply_finish(out, &w);
        }
        seq_record_free(&rec);
        return;
    }
    if (rq->op != REQ_OP_SEQ_LIST) {
        api_reply_error(out, KAHUNA_EINTERNAL, "not a sequence read");
        return;
    }
    seq_list l = {NULL, 0, 0};
    int rc = fsm_seq_list(rd, kbytes_make(rq->prefix.data, rq->prefix.len),
                          kbytes_make(rq->after.data, rq->after.len), rq->limit, &l);
    if (rc) {
        api_reply_error(out, rc, NULL);
        seq_list_free(&l);
        return;
    }
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_arr_open(&w, "items");
    for (size_t i = 0; i < l.n; i++) {
        jw_obj_open(&w, NULL);
        jw_bytes(&w, "name", kbytes_make(l.items[i].name.data, l.items[i].name.len), 0);
        jw_int(&w, "value", l.items[i].value);
        jw_obj_close(&w);
    }
    jw_arr_close(&w);
    jw_bool(&w, "more", l.more);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
    seq_list_free(&l);
}
