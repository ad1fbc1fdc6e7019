/* kv.c: the key/value resource: answers to PUT, DELETE and PATCH once
 * applied, and the reads (GET one key, at a revision, its history, lists). */
#include "api_internal.h"

#include <stdio.h>

#include "errors.h"

static kbytes key_of(const req *rq)
{
    return kbytes_make(rq->name.data, rq->name.len);
}

void api_kv_written(const req *rq, const fsm_result *res, api_reply *out)
{
    jw w;
    switch (res->status) {
    case 0:
        api_reply_json(out, 200, &w);
        jw_obj_open(&w, NULL);
        jw_bytes(&w, "key", key_of(rq), 0);
        jw_int(&w, "revision", res->revision);
        if (rq->op != REQ_OP_KV_DELETE) {
            jw_int(&w, "version", res->version);
            jw_int(&w, "create_revision", res->create_revision);
            if (res->ttl_ms > 0)
                jw_int(&w, "ttl_ms", res->ttl_ms);
        }
        jw_obj_close(&w);
        api_reply_finish(out, &w);
        return;
    case KAHUNA_ECONDITION:
        api_reply_error_open(out, res->status, "the write condition did not hold; revision is the key's current one (0: absent)", &w);
        jw_int(&w, "revision", res->revision);
        api_reply_error_close(out, &w);
        return;
    case KAHUNA_ENOTFOUND:
        api_reply_error(out, res->status, "key not found");
        return;
    default:
        api_reply_error(out, res->status, NULL);
    }
}

/* Remaining TTL of a key as reads report it: -1 none, 0 expired (the key
 * reads as absent), else milliseconds. A node that keeps no deadline for a
 * key with a TTL yet reports the TTL granted. */
static int64_t remaining(const api_env *env, const kv_record *rec)
{
    if (rec->ttl_ms <= 0)
        return -1;
    int64_t left = node_ttl_remaining(env->n, FSM_TTL_KV, kbytes_make(rec->key.data, rec->key.len), rec->revision);
    return left < 0 ? rec->ttl_ms : left;
}

static void item(jw *w, const kv_record *rec, int64_t left, int keys_only, int base64)
{
    jw_obj_open(w, NULL);
    jw_bytes(w, "key", kbytes_make(rec->key.data, rec->key.len), 0);
    if (!keys_only)
        jw_bytes(w, "value", kbytes_make(rec->value.data, rec->value.len), base64);
    jw_int(w, "revision", rec->revision);
    jw_int(w, "create_revision", rec->create_revision);
    jw_int(w, "version", rec->version);
    if (left > 0)
        jw_int(w, "ttl_ms", left);
    jw_obj_close(w);
}

static void read_error(api_reply *out, int rc, const req *rq)
{
    char msg[160];
    switch (rc) {
    case KAHUNA_ENOTFOUND:
        api_reply_error(out, rc, "key not found");
        return;
    case KAHUNA_ECOMPACTED:
        snprintf(msg, sizeof msg, "revision %lld is older than the kept history of this key", (long long)rq->revision);
        api_reply_error(out, rc, msg);
        return;
    case KAHUNA_EBADREQ:
        snprintf(msg, sizeof msg, "revision %lld is in the future", (long long)rq->revision);
        api_reply_error(out, rc, msg);
        return;
    default:
        api_reply_error(out, rc, NULL);
    }
}

static void get_one(const api_env *env, fsm_reader *rd, const req *rq, api_reply *out)
{
    kv_record rec = {KBUF_INIT, KBUF_INIT, 0, 0, 0, 0, 0};
    int rc = fsm_kv_get(rd, key_of(rq), rq->revision, &rec);
    if (rc) {
        read_error(out, rc, rq);
        kv_record_free(&rec);
        return;
    }
    int64_t left = rq->revision ? -1 : remaining(env, &rec);
    if (left == 0) {
        api_reply_error(out, KAHUNA_ENOTFOUND, "key not found");
        kv_record_free(&rec);
        return;
    }
    if (rq->raw) {
        out->http_status = 200;
        out->content_type = API_OCTETS;
        out->raw_headers = 1;
        out->revision = rec.revision;
        out->create_revision = rec.create_revision;
        out->version = rec.version;
        out->ttl_ms = left;
        kbuf_reset(out->body);
        if (kbuf_append(out->body, rec.value.data, rec.value.len))
            api_reply_error(out, KAHUNA_ENOMEM, NULL);
        kv_record_free(&rec);
        return;
    }
    jw w;
    api_reply_json(out, 200, &w);
    item(&w, &rec, left, 0, rq->base64);
    api_reply_finish(out, &w);
    kv_record_free(&rec);
}

static void history(fsm_reader *rd, const req *rq, api_reply *out)
{
    kv_list l = {NULL, 0, 0};
    int rc = fsm_kv_history(rd, key_of(rq), &l);
    if (rc) {
        read_error(out, rc, rq);
        kv_list_free(&l);
        return;
    }
    jw w;
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_bytes(&w, "key", key_of(rq), 0);
    jw_arr_open(&w, "items");
    for (size_t i = 0; i < l.n; i++) {
        const kv_record *rec = &l.items[i];
        jw_obj_open(&w, NULL);
        jw_int(&w, "revision", rec->revision);
        if (!rec->deleted) {
            jw_bytes(&w, "value", kbytes_make(rec->value.data, rec->value.len), rq->base64);
            jw_int(&w, "version", rec->version);
        }
        jw_bool(&w, "deleted", rec->deleted);
        jw_obj_close(&w);
    }
    jw_arr_close(&w);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
    kv_list_free(&l);
}

/* A page of keys. Keys whose TTL has run out (their expire command not yet
 * applied) are left out; when that thins a page, the next keys are fetched
 * so that a page is full whenever more keys exist. */
static void list(const api_env *env, fsm_reader *rd, const req *rq, api_reply *out)
{
    jw w;
    kbuf after = KBUF_INIT;
    size_t sent = 0;
    int more = 0, rc = 0;
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_arr_open(&w, "items");
    if (kbuf_append(&after, rq->after.data, rq->after.len))
        rc = KAHUNA_ENOMEM;
    for (int round = 0; !rc && round < 16; round++) {
        kv_list l = {NULL, 0, 0};
        rc = fsm_kv_list(rd, kbytes_make(rq->prefix.data, rq->prefix.len), kbytes_make(after.data, after.len),
                         rq->limit - sent, rq->keys_only, &l);
        if (rc) {
            kv_list_free(&l);
            break;
        }
        for (size_t i = 0; i < l.n; i++) {
            int64_t left = remaining(env, &l.items[i]);
            if (left == 0)
                continue;
            item(&w, &l.items[i], left, rq->keys_only, rq->base64);
            sent++;
        }
        more = l.more;
        if (l.n) {
            kbuf_reset(&after);
            if (kbuf_append(&after, l.items[l.n - 1].key.data, l.items[l.n - 1].key.len))
                rc = KAHUNA_ENOMEM;
        }
        kv_list_free(&l);
        if (!more || sent >= rq->limit)
            break;
    }
    kbuf_free(&after);
    if (rc) {
        api_reply_error(out, rc, NULL);
        return;
    }
    jw_arr_close(&w);
    jw_bool(&w, "more", more);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
}

void api_kv_read(const api_env *env, const req *rq, api_reply *out)
{
    fsm_reader *rd = node_reader(env->n);
    if (!rd) {
        api_reply_error(out, KAHUNA_EIO, "cannot open the state database for reading; see the node's log");
        return;
    }
    switch (rq->op) {
    case REQ_OP_KV_GET:
        get_one(env, rd, rq, out);
        return;
    case REQ_OP_KV_HISTORY:
        history(rd, rq, out);
        return;
    case REQ_OP_KV_LIST:
        list(env, rd, rq, out);
        return;
    default:
        api_reply_error(out, KAHUNA_EINTERNAL, "not a key/value read");
    }
}
