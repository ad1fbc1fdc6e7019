/* request.c: from method, raw path, query arguments and body to a decoded
 * request (see request.h). Everything here is pure and hostile-input safe:
 * it is fuzzed by tests/fuzz/fuzz_request.c. */
#include "request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "errors.h"
#include "pct.h"

/* ---- names ---- */

static const char *const route_names[REQ_ROUTE_COUNT] = {
    [REQ_ROUTE_UNKNOWN] = "other",
    [REQ_ROUTE_KV] = "/v1/kv/{key}",
    [REQ_ROUTE_KV_LIST] = "/v1/kv",
    [REQ_ROUTE_LOCK] = "/v1/locks/{name}",
    [REQ_ROUTE_LOCK_ACQUIRE] = "/v1/locks/{name}/acquire",
    [REQ_ROUTE_LOCK_EXTEND] = "/v1/locks/{name}/extend",
    [REQ_ROUTE_LOCK_RELEASE] = "/v1/locks/{name}/release",
    [REQ_ROUTE_LOCK_LIST] = "/v1/locks",
    [REQ_ROUTE_SEQ] = "/v1/sequences/{name}",
    [REQ_ROUTE_SEQ_NEXT] = "/v1/sequences/{name}/next",
    [REQ_ROUTE_SEQ_LIST] = "/v1/sequences",
    [REQ_ROUTE_CLUSTER] = "/v1/cluster",
    [REQ_ROUTE_CLUSTER_MEMBERS] = "/v1/cluster/members",
    [REQ_ROUTE_CLUSTER_MEMBER] = "/v1/cluster/members/{id}",
    [REQ_ROUTE_CLUSTER_TRANSFER] = "/v1/cluster/transfer-leadership",
    [REQ_ROUTE_HEALTH] = "/health",
    [REQ_ROUTE_READY] = "/ready",
    [REQ_ROUTE_METRICS] = "/metrics",
};

const char *req_route_name(req_route r)
{
    if ((unsigned)r >= REQ_ROUTE_COUNT)
        return "other";
    return route_names[r];
}

static const char *const method_names[REQ_METHOD_COUNT] = {
    "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OTHER",
};

req_method req_method_parse(kbytes m)
{
    for (int i = 0; i < REQ_OTHER; i++)
        if (kbytes_eq(m, kbytes_str(method_names[i])))
            return (req_method)i;
    return REQ_OTHER;
}

const char *req_method_name(req_method m)
{
    if ((unsigned)m >= REQ_METHOD_COUNT)
        return "OTHER";
    return method_names[m];
}

int req_op_is_write(req_op op)
{
    switch (op) {
    case REQ_OP_KV_PUT:
    case REQ_OP_KV_DELETE:
    case REQ_OP_KV_SET_TTL:
    case REQ_OP_LOCK_ACQUIRE:
    case REQ_OP_LOCK_EXTEND:
    case REQ_OP_LOCK_RELEASE:
    case REQ_OP_SEQ_NEXT:
    case REQ_OP_SEQ_SET:
    case REQ_OP_SEQ_DELETE:
        return 1;
    default:
        return 0;
    }
}

int req_op_is_data_read(req_op op)
{
    switch (op) {
    case REQ_OP_KV_GET:
    case REQ_OP_KV_HISTORY:
    case REQ_OP_KV_LIST:
    case REQ_OP_LOCK_GET:
    case REQ_OP_LOCK_LIST:
    case REQ_OP_SEQ_GET:
    case REQ_OP_SEQ_LIST:
        return 1;
    default:
        return 0;
    }
}

/* ---- life cycle ---- */

void req_init(req *r)
{
    memset(r, 0, sizeof *r);
}

static void clear_fields(req *r)
{
    r->route = REQ_ROUTE_UNKNOWN;
    r->method = REQ_OTHER;
    r->op = REQ_OP_NONE;
    r->status = 0;
    r->http_status = 200;
    r->allow = NULL;
    r->message[0] = '\0';
    memset(&r->cmd, 0, sizeof r->cmd);
    r->wait_ms = 0;
    r->revision = 0;
    r->limit = REQ_LIST_DEFAULT;
    r->keys_only = 0;
    r->raw = 0;
    r->base64 = 0;
    r->stale = 0;
}

void req_reset(req *r)
{
    clear_fields(r);
    kbuf_reset(&r->name);
    kbuf_reset(&r->prefix);
    kbuf_reset(&r->after);
    kbuf_reset(&r->value);
    kbuf_reset(&r->aux);
    kbuf_reset(&r->owner);
    kbuf_reset(&r->url);
    if (r->json) {
        json_decref((json_t *)r->json);
        r->json = NULL;
    }
}

void req_free(req *r)
{
    req_reset(r);
    kbuf_free(&r->name);
    kbuf_free(&r->prefix);
    kbuf_free(&r->after);
    kbuf_free(&r->value);
    kbuf_free(&r->aux);
    kbuf_free(&r->owner);
    kbuf_free(&r->url);
}

/* ---- errors ---- */

static int fail(req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(req *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->op = REQ_OP_NONE;
    r->status = status;
    r->http_status = kahuna_http_status(status);
    return status;
}

static int fail_method(req *r, const char *allow, const char *what)
{
    fail(r, KAHUNA_EBADREQ, "method %s is not allowed on %s; allowed: %s",
         req_method_name(r->method), what, allow);
    r->http_status = 405;
    r->allow = allow;
    return r->status;
}

static int fail_nomem(req *r)
{
    return fail(r, KAHUNA_ENOMEM, "out of memory");
}

/* ---- routing ---- */

/* Matches path against a collection such as "/v1/kv": 1 for the collection
 * itself ("/v1/kv" or "/v1/kv/"), 2 for a member (rest set to what follows
 * the slash, non-empty), 0 otherwise. */
static int match_coll(kbytes path, const char *coll, kbytes *rest)
{
    size_t n = strlen(coll);
    if (path.n < n || memcmp(path.p, coll, n) != 0)
        return 0;
    if (path.n == n || (path.n == n + 1 && path.p[n] == '/'))
        return 1;
    if (path.p[n] != '/')
        return 0;
    *rest = kbytes_make(path.p + n + 1, path.n - n - 1);
    return 2;
}

static int is_exact(kbytes path, const char *s)
{
    return kbytes_eq(path, kbytes_str(s));
}

/* Splits "name/action": when the last segment of rest equals one of the
 * actions, returns its index and sets name to what is before the slash
 * (possibly empty); else -1. */
static int split_action(kbytes rest, const char *const *actions, kbytes *name)
{
    size_t i = rest.n;
    while (i > 0 && rest.p[i - 1] != '/')
        i--;
    kbytes last = kbytes_make(rest.p + i, rest.n - i);
    for (int a = 0; actions[a]; a++) {
        if (kbytes_eq(last, kbytes_str(actions[a]))) {
            *name = kbytes_make(rest.p, i ? i - 1 : 0);
            return a;
        }
    }
    return -1;
}

static const char *const lock_actions[] = {"acquire", "extend", "release", NULL};
static const char *const seq_actions[] = {"next", NULL};

/* Finds the route; sets *rest to the raw name part (may be empty). */
static req_route route_of(req_method m, kbytes path, kbytes *rest)
{
    kbytes tail = {NULL, 0};
    int k;
    *rest = tail;
    if ((k = match_coll(path, "/v1/kv", &tail))) {
        *rest = tail;
        return k == 1 ? REQ_ROUTE_KV_LIST : REQ_ROUTE_KV;
    }
    if ((k = match_coll(path, "/v1/locks", &tail))) {
        if (k == 1)
            return REQ_ROUTE_LOCK_LIST;
        *rest = tail;
        int a = m == REQ_POST ? split_action(tail, lock_actions, rest) : -1;
        if (a == 0) return REQ_ROUTE_LOCK_ACQUIRE;
        if (a == 1) return REQ_ROUTE_LOCK_EXTEND;
        if (a == 2) return REQ_ROUTE_LOCK_RELEASE;
        return REQ_ROUTE_LOCK;
    }
    if ((k = match_coll(path, "/v1/sequences", &tail))) {
        if (k == 1)
            return REQ_ROUTE_SEQ_LIST;
        *rest = tail;
        if (m == REQ_POST && split_action(tail, seq_actions, rest) == 0)
            return REQ_ROUTE_SEQ_NEXT;
        return REQ_ROUTE_SEQ;
    }
    if (is_exact(path, "/v1/cluster") || is_exact(path, "/v1/cluster/"))
        return REQ_ROUTE_CLUSTER;
    if ((k = match_coll(path, "/v1/cluster/members", &tail))) {
        *rest = tail;
        return k == 1 ? REQ_ROUTE_CLUSTER_MEMBERS : REQ_ROUTE_CLUSTER_MEMBER;
    }
    if (is_exact(path, "/v1/cluster/transfer-leadership"))
        return REQ_ROUTE_CLUSTER_TRANSFER;
    if (is_exact(path, "/health"))
        return REQ_ROUTE_HEALTH;
    if (is_exact(path, "/ready"))
        return REQ_ROUTE_READY;
    if (is_exact(path, "/metrics"))
        return REQ_ROUTE_METRICS;
    return REQ_ROUTE_UNKNOWN;
}

req_route req_route_of(kbytes method, kbytes path)
{
    kbytes rest;
    return route_of(req_method_parse(method), path, &rest);
}

/* ---- query arguments ---- */

size_t req_split_query(kbytes q, req_arg *args, size_t max)
{
    size_t n = 0, i = 0;
    while (i < q.n && n < max) {
        size_t j = i;
        while (j < q.n && q.p[j] != '&')
            j++;
        if (j > i) {
            const char *s = (const char *)q.p + i;
            size_t len = j - i;
            const char *eq = memchr(s, '=', len);
            req_arg *a = &args[n++];
            a->name = s;
            if (eq) {
                a->name_len = (size_t)(eq - s);
                a->value = eq + 1;
                a->value_len = len - a->name_len - 1;
            } else {
                a->name_len = len;
                a->value = NULL;
                a->value_len = 0;
            }
        }
        i = j + 1;
    }
    return n;
}

static int arg_is(const req_arg *a, const char *name)
{
    size_t n = strlen(name);
    return a->name_len == n && memcmp(a->name, name, n) == 0;
}

/* Decodes an argument value into out (reset first). */
static int arg_decode(req *r, const req_arg *a, kbuf *out)
{
    kbuf_reset(out);
    int rc = a->value ? pct_decode(a->value, a->value_len, 1, out) : kbuf_reserve(out, 0);
    if (rc == KAHUNA_ENOMEM)
        return fail_nomem(r);
    if (rc)
        return fail(r, KAHUNA_EBADREQ, "query parameter %.*s: invalid percent-encoding",
                    (int)(a->name_len > 40 ? 40 : a->name_len), a->name);
    return 0;
}

/* Strict decimal integer: optional '-', digits, nothing else, no overflow. */
static int parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
            return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int arg_int(req *r, const req_arg *a, kbuf *scratch, const char *what, int64_t *out)
{
    int rc = arg_decode(r, a, scratch);
    if (rc)
        return rc;
    if (parse_i64(scratch->data, scratch->len, out))
        return fail(r, KAHUNA_EBADREQ, "query parameter %s must be an integer", what);
    return 0;
}

static int arg_bool(req *r, const req_arg *a, kbuf *scratch, const char *what, int *out)
{
    int rc = arg_decode(r, a, scratch);
    if (rc)
        return rc;
    const char *s = kbuf_str(scratch);
    if (scratch->len == 0 || !strcmp(s, "true") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "0"))
        *out = 0;
    else
        return fail(r, KAHUNA_EBADREQ, "query parameter %s must be true or false", what);
    return 0;
}

/* ---- JSON bodies ---- */

static int is_json_type(kbytes ct)
{
    /* media type up to ';', trimmed, case-insensitive */
    if (ct.n == 0)
        return 0;
    size_t n = 0;
    while (n < ct.n && ct.p[n] != ';')
        n++;
    while (n > 0 && (ct.p[n - 1] == ' ' || ct.p[n - 1] == '\t'))
        n--;
    size_t s = 0;
    while (s < n && (ct.p[s] == ' ' || ct.p[s] == '\t'))
        s++;
    const char *t = (const char *)ct.p + s;
    size_t len = n - s;
    if (len == 16 && !strncasecmp(t, "application/json", 16))
        return 1;
    if (len > 5 && !strncasecmp(t + len - 5, "+json", 5))
        return 1;
    return 0;
}

/* Parses the body as a JSON object into r->json. An empty body is an empty
 * object when allow_empty. */
static int parse_body(req *r, kbytes body, int allow_empty)
{
    if (body.n == 0) {
        if (!allow_empty)
            return fail(r, KAHUNA_EBADREQ, "a JSON object body is required");
        r->json = json_object();
        if (!r->json)
            return fail_nomem(r);
        return 0;
    }
    json_error_t err;
    json_t *j = json_loadb((const char *)body.p, body.n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!j)
        return fail(r, KAHUNA_EBADREQ, "invalid JSON at line %d column %d: %s", err.line, err.column, err.text);
    r->json = j;
    if (!json_is_object(j))
        return fail(r, KAHUNA_EBADREQ, "the body must be a JSON object");
    return 0;
}

/* Field getters: 0 and *present = 0 when the field is absent or null. */
static int jfield_str(req *r, const char *field, kbytes *out, int *present)
{
    json_t *v = json_object_get((json_t *)r->json, field);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(r, KAHUNA_EBADREQ, "field %s must be a string", field);
    *out = kbytes_make(json_string_value(v), json_string_length(v));
    *present = 1;
    return 0;
}

static int jfield_int(req *r, const char *field, int64_t *out, int *present)
{
    json_t *v = json_object_get((json_t *)r->json, field);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return fail(r, KAHUNA_EBADREQ, "field %s must be an integer", field);
    *out = (int64_t)json_integer_value(v);
    *present = 1;
    return 0;
}

static int jfield_bool(req *r, const char *field, int *out, int *present)
{
    json_t *v = json_object_get((json_t *)r->json, field);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(r, KAHUNA_EBADREQ, "field %s must be true or false", field);
    *out = json_is_true(v);
    *present = 1;
    return 0;
}

/* "value" (text) or "value_base64": exactly one when required, at most one
 * otherwise. Base64 is decoded into buf. */
static int jfield_bytes(req *r, const char *field, int required, kbuf *buf, kbytes *out, int *present)
{
    char b64name[48];
    snprintf(b64name, sizeof b64name, "%s_base64", field);
    kbytes text = {NULL, 0}, b64 = {NULL, 0};
    int has_text, has_b64, rc;
    if ((rc = jfield_str(r, field, &text, &has_text)) || (rc = jfield_str(r, b64name, &b64, &has_b64)))
        return rc;
    if (has_text && has_b64)
        return fail(r, KAHUNA_EBADREQ, "give %s or %s, not both", field, b64name);
    *present = has_text || has_b64;
    if (!*present) {
        if (required)
            return fail(r, KAHUNA_EBADREQ, "missing field %s (or %s)", field, b64name);
        return 0;
    }
    if (has_text) {
        *out = text;
        return 0;
    }
    kbuf_reset(buf);
    rc = base64_decode((const char *)b64.p, b64.n, buf);
    if (rc == KAHUNA_ENOMEM)
        return fail_nomem(r);
    if (rc)
        return fail(r, KAHUNA_EBADREQ, "field %s is not valid base64", b64name);
    *out = kbytes_make(buf->data, buf->len);
    return 0;
}

/* ---- common checks ---- */

static int check_ttl(req *r, int64_t ttl, int zero_ok)
{
    if (ttl < 0 || ttl > KAHUNA_MAX_TTL_MS || (!zero_ok && ttl == 0))
        return fail(r, KAHUNA_EBADREQ, "ttl_ms must be %s1..%lld milliseconds",
                    zero_ok ? "0 (no TTL) or " : "", (long long)KAHUNA_MAX_TTL_MS);
    return 0;
}

static int check_owner(req *r, kbytes owner)
{
    if (owner.n == 0)
        return fail(r, KAHUNA_EBADREQ, "owner must not be empty (1..%d bytes)", KAHUNA_MAX_OWNER);
    if (owner.n > KAHUNA_MAX_OWNER)
        return fail(r, KAHUNA_ETOOLARGE, "owner is longer than %d bytes", KAHUNA_MAX_OWNER);
    return 0;
}

static int check_value_size(req *r, kbytes v, const char *what)
{
    if (v.n > KAHUNA_MAX_VALUE)
        return fail(r, KAHUNA_ETOOLARGE, "%s is larger than %d bytes", what, KAHUNA_MAX_VALUE);
    return 0;
}

/* Last word on a command built here: the codec's own rules. */
static int validate(req *r)
{
    int rc = cmd_validate(&r->cmd);
    if (rc == KAHUNA_ETOOLARGE)
        return fail(r, rc, "a key, value or owner is over its limit");
    if (rc)
        return fail(r, KAHUNA_EBADREQ, "invalid request: %s", kahuna_strerror(rc));
    return 0;
}

static int decode_name(req *r, kbytes raw, const char *what)
{
    kbuf_reset(&r->name);
    int rc = pct_decode((const char *)raw.p, raw.n, 0, &r->name);
    if (rc == KAHUNA_ENOMEM)
        return fail_nomem(r);
    if (rc)
        return fail(r, KAHUNA_EBADREQ, "invalid percent-encoding in the %s", what);
    if (r->name.len == 0)
        return fail(r, KAHUNA_EBADREQ, "the %s is empty (1..%d bytes)", what, KAHUNA_MAX_KEY);
    if (r->name.len > KAHUNA_MAX_KEY)
        return fail(r, KAHUNA_ETOOLARGE, "the %s is longer than %d bytes", what, KAHUNA_MAX_KEY);
    return 0;
}

static kbytes name_bytes(const req *r)
{
    return kbytes_make(r->name.data, r->name.len);
}

/* ---- reads: query arguments ---- */

#define RA_REVISION 0x01u
#define RA_HISTORY 0x02u
#define RA_ENCODING 0x04u
#define RA_RAW 0x08u
#define RA_LIST 0x10u      /* prefix, limit, after */
#define RA_KEYS_ONLY 0x20u
#define RA_CONSISTENCY 0x40u

static int read_args(req *r, const req_input *in, unsigned allowed, int *history)
{
    kbuf scratch = KBUF_INIT;
    int rc = 0;
    *history = 0;
    for (size_t i = 0; i < in->nargs && !rc; i++) {
        const req_arg *a = &in->args[i];
        int flag;
        if ((allowed & RA_REVISION) && arg_is(a, "revision")) {
            if (!(rc = arg_int(r, a, &scratch, "revision", &r->revision)) && r->revision < 1)
                rc = fail(r, KAHUNA_EBADREQ, "revision must be >= 1");
        } else if ((allowed & RA_HISTORY) && arg_is(a, "history")) {
            rc = arg_bool(r, a, &scratch, "history", history);
        } else if ((allowed & RA_ENCODING) && arg_is(a, "encoding")) {
            if (!(rc = arg_decode(r, a, &scratch))) {
                if (!strcmp(kbuf_str(&scratch), "base64"))
                    r->base64 = 1;
                else if (!strcmp(kbuf_str(&scratch), "auto") || scratch.len == 0)
                    r->base64 = 0;
                else
                    rc = fail(r, KAHUNA_EBADREQ, "encoding must be base64 or auto");
            }
        } else if ((allowed & RA_RAW) && arg_is(a, "raw")) {
            if (!(rc = arg_bool(r, a, &scratch, "raw", &flag)))
                r->raw = flag ? 1u : 0u;
        } else if ((allowed & RA_KEYS_ONLY) && arg_is(a, "keys_only")) {
            if (!(rc = arg_bool(r, a, &scratch, "keys_only", &flag)))
                r->keys_only = flag ? 1u : 0u;
        } else if ((allowed & RA_CONSISTENCY) && arg_is(a, "consistency")) {
            if (!(rc = arg_decode(r, a, &scratch))) {
                if (!strcmp(kbuf_str(&scratch), "stale"))
                    r->stale = 1;
                else if (!strcmp(kbuf_str(&scratch), "linearizable") || scratch.len == 0)
                    r->stale = 0;
                else
                    rc = fail(r, KAHUNA_EBADREQ, "consistency must be stale or linearizable");
            }
        } else if ((allowed & RA_LIST) && arg_is(a, "prefix")) {
            if (!(rc = arg_decode(r, a, &r->prefix)) && r->prefix.len > KAHUNA_MAX_KEY)
                rc = fail(r, KAHUNA_ETOOLARGE, "prefix is longer than %d bytes", KAHUNA_MAX_KEY);
        } else if ((allowed & RA_LIST) && arg_is(a, "after")) {
            if (!(rc = arg_decode(r, a, &r->after)) && r->after.len > KAHUNA_MAX_KEY)
                rc = fail(r, KAHUNA_ETOOLARGE, "after is longer than %d bytes", KAHUNA_MAX_KEY);
        } else if ((allowed & RA_LIST) && arg_is(a, "limit")) {
            int64_t lim = 0;
            if (!(rc = arg_int(r, a, &scratch, "limit", &lim))) {
                if (lim < 1 || lim > REQ_LIST_MAX)
                    rc = fail(r, KAHUNA_EBADREQ, "limit must be 1..%d", REQ_LIST_MAX);
                else
                    r->limit = (size_t)lim;
            }
        }
        /* anything else is ignored, like unknown JSON fields */
    }
    kbuf_free(&scratch);
    return rc;
}

/* ---- writes ---- */

static int decode_kv_put(req *r, const req_input *in)
{
    kbuf scratch = KBUF_INIT;
    int rc = 0, flag, present;
    int64_t ttl = 0, ifrev = 0;
    int has_ttl = 0, has_ifrev = 0, if_not_exists = 0, if_exists = 0, has_ifval = 0;
    kbytes ifval = {NULL, 0}, value = {NULL, 0};

    for (size_t i = 0; i < in->nargs && !rc; i++) {
        const req_arg *a = &in->args[i];
        if (arg_is(a, "ttl_ms")) {
            rc = arg_int(r, a, &scratch, "ttl_ms", &ttl);
            has_ttl = 1;
        } else if (arg_is(a, "if_revision")) {
            rc = arg_int(r, a, &scratch, "if_revision", &ifrev);
            has_ifrev = 1;
        } else if (arg_is(a, "if_not_exists")) {
            rc = arg_bool(r, a, &scratch, "if_not_exists", &if_not_exists);
        } else if (arg_is(a, "if_exists")) {
            rc = arg_bool(r, a, &scratch, "if_exists", &if_exists);
        } else if (arg_is(a, "if_value")) {
            if (!(rc = arg_decode(r, a, &r->aux))) {
                ifval = kbytes_make(r->aux.data, r->aux.len);
                has_ifval = 1;
            }
        }
    }
    kbuf_free(&scratch);
    if (rc)
        return rc;

    if (is_json_type(in->content_type)) {
        int64_t v;
        if ((rc = parse_body(r, in->body, 0)) ||
            (rc = jfield_bytes(r, "value", 1, &r->value, &value, &present)))
            return rc;
        if ((rc = jfield_int(r, "ttl_ms", &v, &present)))
            return rc;
        if (present) {
            ttl = v;
            has_ttl = 1;
        }
        if ((rc = jfield_int(r, "if_revision", &v, &present)))
            return rc;
        if (present) {
            ifrev = v;
            has_ifrev = 1;
        }
        if ((rc = jfield_bool(r, "if_not_exists", &flag, &present)))
            return rc;
        if (present)
            if_not_exists = flag;
        if ((rc = jfield_bool(r, "if_exists", &flag, &present)))
            return rc;
        if (present)
            if_exists = flag;
        kbytes iv;
        if ((rc = jfield_bytes(r, "if_value", 0, &r->aux, &iv, &present)))
            return rc;
        if (present) {
            ifval = iv;
            has_ifval = 1;
        }
    } else {
        value = in->body;
    }

    if ((rc = check_value_size(r, value, "the value")))
        return rc;
    if (has_ttl && (rc = check_ttl(r, ttl, 1)))
        return rc;
    if (has_ifrev && ifrev < 0)
        return fail(r, KAHUNA_EBADREQ, "if_revision must be >= 0 (0: the key must not exist)");
    if (if_not_exists && if_exists)
        return fail(r, KAHUNA_EBADREQ, "if_not_exists and if_exists exclude each other");
    if (has_ifval && (rc = check_value_size(r, ifval, "if_value")))
        return rc;

    command *c = &r->cmd;
    c->type = CMD_KV_PUT;
    c->key = name_bytes(r);
    c->value = value;
    c->ttl_ms = has_ttl ? ttl : 0;
    if (if_not_exists)
        c->flags |= CMD_F_IF_NOT_EXISTS;
    if (if_exists)
        c->flags |= CMD_F_IF_EXISTS;
    if (has_ifrev) {
        c->flags |= CMD_F_IF_REVISION;
        c->if_revision = ifrev;
    }
    if (has_ifval) {
        c->flags |= CMD_F_IF_VALUE;
        c->aux = ifval;
    }
    r->op = REQ_OP_KV_PUT;
    return 0;
}

static int decode_kv_delete(req *r, const req_input *in)
{
    kbuf scratch = KBUF_INIT;
    int rc = 0, present, has_ifrev = 0;
    int64_t ifrev = 0, v;
    for (size_t i = 0; i < in->nargs && !rc; i++) {
        if (arg_is(&in->args[i], "if_revision")) {
            rc = arg_int(r, &in->args[i], &scratch, "if_revision", &ifrev);
            has_ifrev = 1;
        }
    }
    kbuf_free(&scratch);
    if (rc)
        return rc;
    if (in->body.n) {
        if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_int(r, "if_revision", &v, &present)))
            return rc;
        if (present) {
            ifrev = v;
            has_ifrev = 1;
        }
    }
    if (has_ifrev && ifrev < 0)
        return fail(r, KAHUNA_EBADREQ, "if_revision must be >= 0");
    r->cmd.type = CMD_KV_DELETE;
    r->cmd.key = name_bytes(r);
    if (has_ifrev) {
        r->cmd.flags |= CMD_F_IF_REVISION;
        r->cmd.if_revision = ifrev;
    }
    r->op = REQ_OP_KV_DELETE;
    return 0;
}

static int decode_kv_patch(req *r, const req_input *in)
{
    kbuf scratch = KBUF_INIT;
    int rc = 0, present = 0;
    int64_t ttl = 0;
    for (size_t i = 0; i < in->nargs && !rc; i++) {
        if (arg_is(&in->args[i], "ttl_ms")) {
            rc = arg_int(r, &in->args[i], &scratch, "ttl_ms", &ttl);
            present = 1;
        }
    }
    kbuf_free(&scratch);
    if (rc)
        return rc;
    if (in->body.n || !present) {
        if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_int(r, "ttl_ms", &ttl, &present)))
            return rc;
        if (!present)
            return fail(r, KAHUNA_EBADREQ, "missing field ttl_ms (0 removes the TTL)");
    }
    if ((rc = check_ttl(r, ttl, 1)))
        return rc;
    r->cmd.type = CMD_KV_SET_TTL;
    r->cmd.key = name_bytes(r);
    r->cmd.ttl_ms = ttl;
    r->op = REQ_OP_KV_SET_TTL;
    return 0;
}

static int decode_lock_write(req *r, const req_input *in, req_op op)
{
    int rc, present;
    kbytes owner = {NULL, 0};
    int64_t ttl = 0, wait = 0;
    if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_str(r, "owner", &owner, &present)))
        return rc;
    if (!present)
        return fail(r, KAHUNA_EBADREQ, "missing field owner");
    if ((rc = check_owner(r, owner)))
        return rc;
    if (op != REQ_OP_LOCK_RELEASE) {
        if ((rc = jfield_int(r, "ttl_ms", &ttl, &present)))
            return rc;
        if (!present)
            return fail(r, KAHUNA_EBADREQ, "missing field ttl_ms");
        if ((rc = check_ttl(r, ttl, 0)))
            return rc;
    }
    if (op == REQ_OP_LOCK_ACQUIRE) {
        if ((rc = jfield_int(r, "wait_ms", &wait, &present)))
            return rc;
        if (present && (wait < 0 || wait > REQ_MAX_WAIT_MS))
            return fail(r, KAHUNA_EBADREQ, "wait_ms must be 0..%lld milliseconds", (long long)REQ_MAX_WAIT_MS);
    }
    r->cmd.type = op == REQ_OP_LOCK_ACQUIRE ? CMD_LOCK_ACQUIRE
                : op == REQ_OP_LOCK_EXTEND ? CMD_LOCK_EXTEND : CMD_LOCK_RELEASE;
    r->cmd.key = name_bytes(r);
    r->cmd.owner = owner;
    r->cmd.ttl_ms = ttl;
    r->wait_ms = wait;
    r->op = op;
    return 0;
}

static int decode_seq_next(req *r, const req_input *in)
{
    int rc, present;
    int64_t count = 1;
    kbytes ikey = {NULL, 0};
    if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_int(r, "count", &count, &present)))
        return rc;
    if (count < 1 || count > KAHUNA_MAX_SEQ_COUNT)
        return fail(r, KAHUNA_EBADREQ, "count must be 1..%d", KAHUNA_MAX_SEQ_COUNT);
    if ((rc = jfield_str(r, "idempotency_key", &ikey, &present)))
        return rc;
    if (present && ikey.n == 0)
        return fail(r, KAHUNA_EBADREQ, "idempotency_key must not be empty (1..%d bytes)", KAHUNA_MAX_IDEMPOTENCY_KEY);
    if (ikey.n > KAHUNA_MAX_IDEMPOTENCY_KEY)
        return fail(r, KAHUNA_ETOOLARGE, "idempotency_key is longer than %d bytes", KAHUNA_MAX_IDEMPOTENCY_KEY);
    r->cmd.type = CMD_SEQ_NEXT;
    r->cmd.key = name_bytes(r);
    r->cmd.num = count;
    r->cmd.aux = ikey;
    r->op = REQ_OP_SEQ_NEXT;
    return 0;
}

static int decode_seq_set(req *r, const req_input *in)
{
    int rc, present, force = 0;
    int64_t value = 0;
    if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_int(r, "value", &value, &present)))
        return rc;
    if (!present)
        return fail(r, KAHUNA_EBADREQ, "missing field value");
    if (value < 0)
        return fail(r, KAHUNA_EBADREQ, "value must be >= 0");
    if ((rc = jfield_bool(r, "force", &force, &present)))
        return rc;
    r->cmd.type = CMD_SEQ_SET;
    r->cmd.key = name_bytes(r);
    r->cmd.num = value;
    if (force)
        r->cmd.flags |= CMD_F_FORCE;
    r->op = REQ_OP_SEQ_SET;
    return 0;
}

static int decode_cluster_add(req *r, const req_input *in)
{
    int rc, present;
    kbytes id = {NULL, 0}, url = {NULL, 0};
    if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_str(r, "id", &id, &present)))
        return rc;
    if (!present || id.n == 0)
        return fail(r, KAHUNA_EBADREQ, "missing field id");
    if ((rc = jfield_str(r, "url", &url, &present)))
        return rc;
    if (!present || url.n == 0)
        return fail(r, KAHUNA_EBADREQ, "missing field url");
    if (id.n > KAHUNA_MAX_KEY || url.n > KAHUNA_MAX_KEY)
        return fail(r, KAHUNA_ETOOLARGE, "id or url is longer than %d bytes", KAHUNA_MAX_KEY);
    kbuf_reset(&r->name);
    kbuf_reset(&r->url);
    if (kbuf_append(&r->name, id.p, id.n) || kbuf_append(&r->url, url.p, url.n))
        return fail_nomem(r);
    r->op = REQ_OP_CLUSTER_ADD;
    return 0;
}

static int decode_cluster_transfer(req *r, const req_input *in)
{
    int rc, present;
    kbytes to = {NULL, 0};
    if ((rc = parse_body(r, in->body, 1)) || (rc = jfield_str(r, "to", &to, &present)))
        return rc;
    if (to.n > KAHUNA_MAX_KEY)
        return fail(r, KAHUNA_ETOOLARGE, "to is longer than %d bytes", KAHUNA_MAX_KEY);
    kbuf_reset(&r->name);
    if (kbuf_append(&r->name, to.p, to.n))
        return fail_nomem(r);
    r->op = REQ_OP_CLUSTER_TRANSFER;
    return 0;
}

/* ---- the decoder ---- */

static int is_read_method(req_method m)
{
    return m == REQ_GET || m == REQ_HEAD;
}

static int decode_kv(req *r, const req_input *in, kbytes rest)
{
    int rc, history;
    if (!is_read_method(r->method) && r->method != REQ_PUT && r->method != REQ_DELETE && r->method != REQ_PATCH)
        return fail_method(r, "GET, HEAD, PUT, DELETE, PATCH", "/v1/kv/{key}");
    if ((rc = decode_name(r, rest, "key")))
        return rc;
    switch (r->method) {
    case REQ_PUT:
        rc = decode_kv_put(r, in);
        break;
    case REQ_DELETE:
        rc = decode_kv_delete(r, in);
        break;
    case REQ_PATCH:
        rc = decode_kv_patch(r, in);
        break;
    default:
        if ((rc = read_args(r, in, RA_REVISION | RA_HISTORY | RA_ENCODING | RA_RAW | RA_CONSISTENCY, &history)))
            return rc;
        if (history && r->revision)
            return fail(r, KAHUNA_EBADREQ, "history and revision cannot be combined");
        if (history && r->raw)
            return fail(r, KAHUNA_EBADREQ, "raw applies to a single value, not to history");
        r->op = history ? REQ_OP_KV_HISTORY : REQ_OP_KV_GET;
        return 0;
    }
    if (rc)
        return rc;
    return validate(r);
}

static int decode_list(req *r, const req_input *in, const char *what, unsigned extra, req_op op)
{
    int history;
    if (!is_read_method(r->method))
        return fail_method(r, "GET, HEAD", what);
    int rc = read_args(r, in, RA_LIST | RA_CONSISTENCY | extra, &history);
    if (rc)
        return rc;
    r->op = op;
    return 0;
}

static int decode_read_only(req *r, const req_input *in, const char *what, req_op op, unsigned args)
{
    int history;
    if (!is_read_method(r->method))
        return fail_method(r, "GET, HEAD", what);
    int rc = args ? read_args(r, in, args, &history) : 0;
    if (rc)
        return rc;
    r->op = op;
    return 0;
}

static int decode_lock(req *r, const req_input *in, kbytes rest)
{
    int rc;
    req_op op;
    switch (r->route) {
    case REQ_ROUTE_LOCK:
        if (!is_read_method(r->method))
            return fail_method(r, "GET, HEAD", "/v1/locks/{name} (POST needs an action: /acquire, /extend or /release)");
        if ((rc = decode_name(r, rest, "lock name")))
            return rc;
        return decode_read_only(r, in, "/v1/locks/{name}", REQ_OP_LOCK_GET, RA_CONSISTENCY);
    case REQ_ROUTE_LOCK_ACQUIRE: op = REQ_OP_LOCK_ACQUIRE; break;
    case REQ_ROUTE_LOCK_EXTEND: op = REQ_OP_LOCK_EXTEND; break;
    default: op = REQ_OP_LOCK_RELEASE; break;
    }
    if ((rc = decode_name(r, rest, "lock name")) || (rc = decode_lock_write(r, in, op)))
        return rc;
    return validate(r);
}

static int decode_seq(req *r, const req_input *in, kbytes rest)
{
    int rc;
    if (r->route == REQ_ROUTE_SEQ_NEXT) {
        if ((rc = decode_name(r, rest, "sequence name")) || (rc = decode_seq_next(r, in)))
            return rc;
        return validate(r);
    }
    if (!is_read_method(r->method) && r->method != REQ_PUT && r->method != REQ_DELETE)
        return fail_method(r, "GET, HEAD, PUT, DELETE", "/v1/sequences/{name} (POST needs the action /next)");
    if ((rc = decode_name(r, rest, "sequence name")))
        return rc;
    if (is_read_method(r->method))
        return decode_read_only(r, in, "/v1/sequences/{name}", REQ_OP_SEQ_GET, RA_CONSISTENCY);
    if (r->method == REQ_PUT)
        rc = decode_seq_set(r, in);
    else {
        r->cmd.type = CMD_SEQ_DELETE;
        r->cmd.key = name_bytes(r);
        r->op = REQ_OP_SEQ_DELETE;
        rc = 0;
    }
    if (rc)
        return rc;
    return validate(r);
}

int req_decode(const req_input *in, req *r)
{
    kbytes rest;
    req_reset(r);
    r->method = req_method_parse(in->method);
    r->route = route_of(r->method, in->path, &rest);

    switch (r->route) {
    case REQ_ROUTE_UNKNOWN:
        return fail(r, KAHUNA_ENOTFOUND, "no such route; see docs/api.md for the REST API");
    case REQ_ROUTE_KV:
        return decode_kv(r, in, rest);
    case REQ_ROUTE_KV_LIST:
        return decode_list(r, in, "/v1/kv", RA_KEYS_ONLY | RA_ENCODING, REQ_OP_KV_LIST);
    case REQ_ROUTE_LOCK:
    case REQ_ROUTE_LOCK_ACQUIRE:
    case REQ_ROUTE_LOCK_EXTEND:
    case REQ_ROUTE_LOCK_RELEASE:
        return decode_lock(r, in, rest);
    case REQ_ROUTE_LOCK_LIST:
        return decode_list(r, in, "/v1/locks", 0, REQ_OP_LOCK_LIST);
    case REQ_ROUTE_SEQ:
    case REQ_ROUTE_SEQ_NEXT:
        return decode_seq(r, in, rest);
    case REQ_ROUTE_SEQ_LIST:
        return decode_list(r, in, "/v1/sequences", 0, REQ_OP_SEQ_LIST);
    case REQ_ROUTE_CLUSTER:
        return decode_read_only(r, in, "/v1/cluster", REQ_OP_CLUSTER_GET, 0);
    case REQ_ROUTE_CLUSTER_MEMBERS:
        if (r->method != REQ_POST)
            return fail_method(r, "POST", "/v1/cluster/members (GET /v1/cluster lists the members)");
        return decode_cluster_add(r, in);
    case REQ_ROUTE_CLUSTER_MEMBER:
        if (r->method != REQ_DELETE)
            return fail_method(r, "DELETE", "/v1/cluster/members/{id}");
        {
            int rc = decode_name(r, rest, "member id");
            if (rc)
                return rc;
        }
        r->op = REQ_OP_CLUSTER_REMOVE;
        return 0;
    case REQ_ROUTE_CLUSTER_TRANSFER:
        if (r->method != REQ_POST)
            return fail_method(r, "POST", "/v1/cluster/transfer-leadership");
        return decode_cluster_transfer(r, in);
    case REQ_ROUTE_HEALTH:
        return decode_read_only(r, in, "/health", REQ_OP_HEALTH, 0);
    case REQ_ROUTE_READY:
        return decode_read_only(r, in, "/ready", REQ_OP_READY, 0);
    case REQ_ROUTE_METRICS:
        return decode_read_only(r, in, "/metrics", REQ_OP_METRICS, 0);
    default:
        return fail(r, KAHUNA_EINTERNAL, "unhandled route");
    }
}
