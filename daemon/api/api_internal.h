/* api_internal.h: what the REST router (http.c) and the resource files
 * (kv.c, locks.c, seq.c, cluster.c) share.
 *
 * The resource files know nothing of libmicrohttpd: they turn a decoded
 * request plus either an apply result (writes) or this thread's state
 * reader (reads) into an api_reply, and http.c sends it. */
#ifndef KAHUNA_API_INTERNAL_H
#define KAHUNA_API_INTERNAL_H

#include <stdint.h>

#include "buf.h"
#include "node.h"
#include "api/jsonw.h"
#include "api/metrics.h"
#include "api/request.h"

/* What the resource files need from the server. */
typedef struct api_env {
    node *n;
    metrics *m;
    const char *node_id;
    const char *self_url;     /* "http://HOST:PORT" of this node */
} api_env;

#define API_JSON "application/json"
#define API_OCTETS "application/octet-stream"
#define API_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

typedef struct api_reply {
    int http_status;
    kbuf *body;               /* borrowed: the connection's buffer, reset by the caller */
    const char *content_type; /* static string */
    const char *allow;        /* 405: the Allow header */
    int retry_after;          /* > 0: Retry-After seconds (503) */
    int raw_headers;          /* raw value reads: the X-Kahuna-* headers below */
    int64_t revision, create_revision, version, ttl_ms;
} api_reply;

/* ---- replies (http.c) ---- */

/* A JSON reply: sets status and content type; the caller writes the body
 * with the returned writer. */
void api_reply_json(api_reply *out, int http_status, jw *w);

/* An error reply {"error":{"code","message"}} for a KAHUNA_E* status;
 * message NULL uses the default text. */
void api_reply_error(api_reply *out, int status, const char *message);

/* Same, leaving the top-level object open so that the caller can add
 * fields (for example "revision" on condition_failed); finish with
 * api_reply_error_close. */
void api_reply_error_open(api_reply *out, int status, const char *message, jw *w);
void api_reply_error_close(api_reply *out, jw *w);

/* Finishes a JSON reply: an allocation failure becomes a 500. */
void api_reply_finish(api_reply *out, jw *w);

/* ---- resources ---- */

/* Answers an applied write from its result (rq->op is a write). */
void api_kv_written(const req *rq, const fsm_result *res, api_reply *out);
void api_lock_written(const req *rq, const fsm_result *res, api_reply *out);
void api_seq_written(const req *rq, const fsm_result *res, api_reply *out);

/* Serves a read with this thread's state reader (after the read barrier
 * when it is linearizable). */
void api_kv_read(const api_env *env, const req *rq, api_reply *out);
void api_lock_read(const api_env *env, const req *rq, api_reply *out);
void api_seq_read(const api_env *env, const req *rq, api_reply *out);

/* /v1/cluster*, /health, /ready, /metrics. */
void api_cluster_serve(const api_env *env, const req *rq, api_reply *out);

#endif
