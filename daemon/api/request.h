/* request.h: decoding of one REST request (SPEC §3) into what the node must
 * do: the route, and either a command to propose, a read to serve, or an
 * error with its message.
 *
 * Pure functions: no libmicrohttpd, no node, no clock. http.c feeds them
 * what libmicrohttpd parsed; unit tests and the fuzzer feed them directly.
 *
 * Rules decided here (see docs/api.md):
 * - the path is taken raw and percent-decoded here; a bad escape is 400;
 * - keys and names are the rest of the path after the collection, 1..4096
 *   bytes (over: 413); for POST the last segment is the action;
 * - a known route with a method it does not serve is 405 with Allow;
 * - JSON bodies must be objects; unknown fields are ignored; a field of the
 *   wrong type or a missing required field is 400 naming the field;
 * - a PUT /v1/kv/{key} whose Content-Type is not JSON stores the body as
 *   the value; conditions and TTL then come from the query string (they
 *   are honoured from the query string for JSON bodies too, the body wins). */
#ifndef KAHUNA_API_REQUEST_H
#define KAHUNA_API_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fsm/command.h"

/* Request bodies larger than this are refused with 413 without being kept:
 * a 1 MiB value in base64 plus room for the other fields. */
#define REQ_MAX_BODY (2 * 1024 * 1024 + 64 * 1024)
/* Listings: default and largest page. */
#define REQ_LIST_DEFAULT 1000
#define REQ_LIST_MAX 10000
/* Longest a lock acquire may wait on the server. */
#define REQ_MAX_WAIT_MS KAHUNA_MAX_TTL_MS

/* Route patterns: a small fixed set, used as the metrics label. */
typedef enum req_route {
    REQ_ROUTE_UNKNOWN = 0,
    REQ_ROUTE_KV,               /* /v1/kv/{key} */
    REQ_ROUTE_KV_LIST,          /* /v1/kv */
    REQ_ROUTE_LOCK,             /* /v1/locks/{name} */
    REQ_ROUTE_LOCK_ACQUIRE,     /* POST /v1/locks/{name}/acquire */
    REQ_ROUTE_LOCK_EXTEND,
    REQ_ROUTE_LOCK_RELEASE,
    REQ_ROUTE_LOCK_LIST,        /* /v1/locks */
    REQ_ROUTE_SEQ,              /* /v1/sequences/{name} */
    REQ_ROUTE_SEQ_NEXT,         /* POST /v1/sequences/{name}/next */
    REQ_ROUTE_SEQ_LIST,         /* /v1/sequences */
    REQ_ROUTE_CLUSTER,          /* /v1/cluster */
    REQ_ROUTE_CLUSTER_MEMBERS,  /* /v1/cluster/members */
    REQ_ROUTE_CLUSTER_MEMBER,   /* /v1/cluster/members/{id} */
    REQ_ROUTE_CLUSTER_TRANSFER, /* /v1/cluster/transfer-leadership */
    REQ_ROUTE_HEALTH,
    REQ_ROUTE_READY,
    REQ_ROUTE_METRICS,
    REQ_ROUTE_COUNT
} req_route;

/* "/v1/kv/{key}", ...; "other" for REQ_ROUTE_UNKNOWN. */
const char *req_route_name(req_route r);

typedef enum req_method {
    REQ_GET = 0,
    REQ_HEAD,
    REQ_PUT,
    REQ_POST,
    REQ_DELETE,
    REQ_PATCH,
    REQ_OTHER,
    REQ_METHOD_COUNT
} req_method;

req_method req_method_parse(kbytes m);
const char *req_method_name(req_method m);   /* "GET", ..., "OTHER" */

typedef enum req_op {
    REQ_OP_NONE = 0,        /* decoding failed: see status / message */
    REQ_OP_KV_GET,          /* GET/HEAD /v1/kv/{key} [?revision] */
    REQ_OP_KV_HISTORY,      /* GET /v1/kv/{key}?history */
    REQ_OP_KV_LIST,
    REQ_OP_KV_PUT,          /* writes: cmd is filled */
    REQ_OP_KV_DELETE,
    REQ_OP_KV_SET_TTL,
    REQ_OP_LOCK_ACQUIRE,
    REQ_OP_LOCK_EXTEND,
    REQ_OP_LOCK_RELEASE,
    REQ_OP_LOCK_GET,
    REQ_OP_LOCK_LIST,
    REQ_OP_SEQ_NEXT,
    REQ_OP_SEQ_SET,
    REQ_OP_SEQ_DELETE,
    REQ_OP_SEQ_GET,
    REQ_OP_SEQ_LIST,
    REQ_OP_CLUSTER_GET,
    REQ_OP_CLUSTER_ADD,     /* id, url in name / value */
    REQ_OP_CLUSTER_REMOVE,  /* id in name */
    REQ_OP_CLUSTER_TRANSFER,/* optional target in name */
    REQ_OP_HEALTH,
    REQ_OP_READY,
    REQ_OP_METRICS,
    REQ_OP_COUNT
} req_op;

/* 1 for the ops that propose a command (r->cmd is valid). */
int req_op_is_write(req_op op);
/* 1 for the reads that honour ?consistency (linearizable by default). */
int req_op_is_data_read(req_op op);

/* One query argument as libmicrohttpd hands it over: still percent-encoded
 * ('+' may already be a space), value NULL when there was no '='. */
typedef struct req_arg {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} req_arg;

typedef struct req_input {
    kbytes method;
    kbytes path;            /* raw: still percent-encoded, without the query */
    const req_arg *args;
    size_t nargs;
    kbytes content_type;    /* empty when absent */
    kbytes body;            /* must stay valid while the decoded command is used */
} req_input;

/* A decoded request. Buffers are kept across req_reset so that a
 * connection reuses them for its next request. */
typedef struct req {
    req_route route;
    req_method method;
    req_op op;

    /* error, when op == REQ_OP_NONE */
    int status;             /* KAHUNA_E* */
    int http_status;        /* the HTTP status (405 for a wrong method) */
    const char *allow;      /* 405: value of the Allow header */
    char message[200];

    kbuf name;              /* decoded key / lock / sequence name / member id */

    /* writes */
    command cmd;            /* borrows from name, body, json and the bufs below */
    int64_t wait_ms;        /* lock acquire */

    /* reads */
    int64_t revision;       /* ?revision=N, 0 = latest */
    size_t limit;
    kbuf prefix;
    kbuf after;
    unsigned keys_only : 1;
    unsigned raw : 1;
    unsigned base64 : 1;
    unsigned stale : 1;

    /* decoded byte strings the command may borrow */
    kbuf value;
    kbuf aux;
    kbuf owner;
    kbuf url;               /* cluster add */
    void *json;             /* json_t * of the body, kept while cmd borrows from it */
} req;

void req_init(req *r);
/* Forgets the request but keeps the buffers (cheap; for the next request). */
void req_reset(req *r);
void req_free(req *r);

/* Decodes in into r (which must be initialised; it is reset first).
 * Returns 0, or the KAHUNA_E* code also left in r->status, with
 * r->http_status and r->message saying what is wrong. */
int req_decode(const req_input *in, req *r);

/* The route of a raw path and method alone (no decoding): for the metrics
 * label of a request refused before its body was read. */
req_route req_route_of(kbytes method, kbytes path);

/* Splits a raw query string (without '?') the way libmicrohttpd does: on
 * '&' and the first '='; '+' is left as is (req_decode treats '+' and ' '
 * alike). Pieces point into q. At most max args; returns how many. */
size_t req_split_query(kbytes q, req_arg *args, size_t max);

#endif
