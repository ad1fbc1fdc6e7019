/* call.c: one request of kahuna-cli, tried on the endpoints in turn (see
 * call.h), and the messages and exit statuses made from its outcome.
 *
 * Failover rules: an endpoint where nothing could be sent (no connection)
 * or that answers 503 (no leader) is skipped for the next one. When the
 * request was sent but no answer came, the outcome is unknown: only an
 * idempotent request is sent again elsewhere. When every endpoint answered
 * 503 the call waits a little and goes round again within its budget, so a
 * command issued during an election succeeds once a leader is chosen. */
#include "call.h"
#include "cli.h"
#include "base64.h"
#include "clock.h"
#include "errors.h"
#include "pct.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_CONNECT_TIMEOUT_MS 3000
#define CALL_MAX_RETRY_WAIT_MS 1000
#define CALL_DEFAULT_RETRY_WAIT_MS 200
#define CALL_MIN_RETRY_WAIT_MS 50

static int out_failed;

void call_result_free(call_result *r)
{
    httpc_response_free(&r->resp);
    if (r->json)
        json_decref(r->json);
    r->json = NULL;
    r->rc = 0;
    r->endpoint = NULL;
    kbuf_free(&r->errors);
}

int call_ok(const call_result *r)
{
    return r->rc == 0 && r->resp.status >= 200 && r->resp.status < 300;
}

static void note_error(call_result *r, const char *endpoint, const char *msg)
{
    if (r->errors.len)
        kbuf_append_str(&r->errors, "; ");
    kbuf_printf(&r->errors, "%s: %s", endpoint, msg);
}

static void parse_json(call_result *r)
{
    const char *ct = r->resp.content_type;
    if (r->resp.body.len == 0)
        return;
    if (ct && strncmp(ct, "application/json", 16) != 0)
        return;
    json_t *j = json_loadb((const char *)r->resp.body.data, r->resp.body.len, 0, NULL);
    if (j && json_is_object(j))
        r->json = j;
    else if (j)
        json_decref(j);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Sleeps up to ms, in short steps so that a cancel is seen promptly.
 * Returns 1 when canceled. */
static int wait_ms(cli_ctx *c, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (;;) {
        if (c->cancel && c->cancel(c->cancel_arg))
            return 1;
        int64_t left = end - clock_mono_ms();
        if (left <= 0)
            return 0;
        sleep_ms(left < 50 ? left : 50);
    }
}

int call_do(cli_ctx *c, const char *method, const char *path, const char *content_type,
            kbytes body, int64_t budget_ms, int flags, call_result *r)
{
    kbuf url = KBUF_INIT;
    httpc_response last503 = HTTPC_RESPONSE_INIT;
    size_t idx503 = 0;
    int64_t deadline = clock_mono_ms() + budget_ms;
    int rc = 0;

    call_result_free(r);
    for (;;) {
        int got503 = 0;
        int64_t retry_ms = CALL_DEFAULT_RETRY_WAIT_MS;
        kbuf_reset(&r->errors); /* report the last round only */
        for (size_t k = 0; k < c->n_endpoints; k++) {
            size_t idx = (c->current + k) % c->n_endpoints;
            const char *ep = c->endpoints[idx];
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0) {
                rc = KAHUNA_ETIMEOUT;
                if (last503.status)
                    break;
                note_error(r, ep, "no time left");
                goto out;
            }
            kbuf_reset(&url);
            if (kbuf_append_str(&url, ep) || kbuf_append_str(&url, path)) {
                rc = KAHUNA_ENOMEM;
                goto out;
            }
            httpc_request req = {
                .method = method, .url = kbuf_str(&url), .content_type = content_type, .body = body,
                .timeout_ms = left,
                .connect_timeout_ms = left < CALL_CONNECT_TIMEOUT_MS ? left : CALL_CONNECT_TIMEOUT_MS,
                .cancel = c->cancel, .cancel_arg = c->cancel_arg,
            };
            rc = httpc_do(c->http, &req, &r->resp);
            if (rc == 0 && r->resp.status == 503) {
                got503 = 1;
                if (r->resp.retry_after_ms >= 0)
                    retry_ms = r->resp.retry_after_ms;
                httpc_response_free(&last503);
                last503 = r->resp;
                idx503 = idx;
                httpc_response fresh = HTTPC_RESPONSE_INIT;
                r->resp = fresh;
                continue;
            }
            if (rc == 0) {
                c->current = idx;
                r->endpoint = ep;
                goto out;
            }
            note_error(r, ep, httpc_last_error(c->http));
            if (rc == KAHUNA_EUNAVAILABLE)
                continue;
            if (rc == KAHUNA_EIO && (flags & CALL_IDEMPOTENT))
                continue;
            if (rc == KAHUNA_ETIMEOUT && last503.status)
                break; /* the time ran out: the 503 seen is the answer */
            goto out;
        }
        if (!got503 && !last503.status) {
            rc = KAHUNA_EUNAVAILABLE;
            goto out;
        }
        int64_t left = deadline - clock_mono_ms();
        if (retry_ms > CALL_MAX_RETRY_WAIT_MS)
            retry_ms = CALL_MAX_RETRY_WAIT_MS;
        if (retry_ms < CALL_MIN_RETRY_WAIT_MS)
            retry_ms = CALL_MIN_RETRY_WAIT_MS;
        if ((flags & CALL_ONE_ROUND) || rc == KAHUNA_ETIMEOUT || left <= retry_ms + CALL_MIN_RETRY_WAIT_MS)
            break;
        if (wait_ms(c, retry_ms)) {
            rc = KAHUNA_ECANCELED;
            goto out;
        }
    }
    /* Every endpoint said 503 until the time ran out: that is the answer. */
    httpc_response_free(&r->resp);
    r->resp = last503;
    last503 = (httpc_response)HTTPC_RESPONSE_INIT;
    r->endpoint = c->endpoints[idx503];
    rc = 0;
out:
    httpc_response_free(&last503);
    kbuf_free(&url);
    r->rc = rc;
    if (rc == 0)
        parse_json(r);
    return rc;
}

int call_json(cli_ctx *c, const char *method, const char *path, json_t *body,
              int64_t budget_ms, int flags, call_result *r)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            call_result_free(r);
            r->rc = KAHUNA_ENOMEM;
            return r->rc;
        }
    }
    int rc = call_do(c, method, path, body ? "application/json" : NULL, kbytes_str(text), budget_ms, flags, r);
    free(text);
    return rc;
}

int64_t jint(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

const char *jstr(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int jvalue(json_t *obj, const char *text_key, const char *b64_key, kbuf *out)
{
    kbuf_reset(out);
    json_t *v = obj ? json_object_get(obj, text_key) : NULL;
    if (json_is_string(v))
        return kbuf_append(out, json_string_value(v), json_string_length(v));
    v = obj ? json_object_get(obj, b64_key) : NULL;
    if (json_is_string(v))
        return base64_decode(json_string_value(v), json_string_length(v), out);
    return KAHUNA_ENOTFOUND;
}

/* A field of the error answer: inside "error" or beside it. */
static json_t *error_field(json_t *root, const char *key)
{
    json_t *e = root ? json_object_get(root, "error") : NULL;
    json_t *v = json_is_object(e) ? json_object_get(e, key) : NULL;
    if (!v && root)
        v = json_object_get(root, key);
    return v;
}

int call_fail(cli_ctx *c, const call_result *r, const char *what)
{
    if (r->rc != 0) {
        const char *why;
        switch (r->rc) {
        case KAHUNA_EUNAVAILABLE: why = "no endpoint could be reached"; break;
        case KAHUNA_ETIMEOUT: why = "no answer in time; the outcome is unknown"; break;
        case KAHUNA_EIO: why = "the connection broke before the answer; the outcome is unknown"; break;
        case KAHUNA_ECANCELED: why = "interrupted"; break;
        case KAHUNA_ETOOLARGE: why = "the answer is too large"; break;
        default: why = kahuna_strerror(r->rc); break;
        }
        if (r->errors.len)
            err_printf("%s: %s (%s)", what, why, kbuf_str(&r->errors));
        else
            err_printf("%s: %s", what, why);
        return cli_exit_for_error(r->rc);
    }
    int status = r->resp.status;
    int code = cli_exit_for_http(status);
    if (c->json && r->json)
        call_print_body(r);
    if (code == CLI_EXIT_NO && c->quiet)
        return code;

    kbuf msg = KBUF_INIT;
    json_t *m = error_field(r->json, "message");
    json_t *ecode = error_field(r->json, "code");
    if (json_is_string(m) && json_string_length(m))
        kbuf_append_str(&msg, json_string_value(m));
    else if (json_is_string(ecode))
        kbuf_append_str(&msg, json_string_value(ecode));
    else
        kbuf_printf(&msg, "HTTP %d from %s", status, r->endpoint ? r->endpoint : "the server");
    const char *cs = json_is_string(ecode) ? json_string_value(ecode) : "";
    if (strcmp(cs, "lock_held") == 0) {
        json_t *owner = error_field(r->json, "owner");
        json_t *ttl = error_field(r->json, "ttl_ms");
        if (json_is_string(owner))
            kbuf_printf(&msg, " (owner %s", json_string_value(owner));
        if (json_is_string(owner) && json_is_integer(ttl))
            kbuf_printf(&msg, ", %lld ms left", (long long)json_integer_value(ttl));
        if (json_is_string(owner))
            kbuf_append_str(&msg, ")");
    } else if (strcmp(cs, "condition_failed") == 0) {
        json_t *rev = error_field(r->json, "revision");
        if (json_is_integer(rev))
            kbuf_printf(&msg, " (current revision %lld)", (long long)json_integer_value(rev));
    }
    if (status == 503)
        kbuf_append_str(&msg, " (the cluster has no leader; tried every endpoint)");
    err_printf("%s: %s", what, kbuf_str(&msg));
    kbuf_free(&msg);
    return code;
}

int call_path(kbuf *out, const char *prefix, kbytes name, const char *suffix)
{
    kbuf_reset(out);
    int rc = kbuf_append_str(out, prefix);
    if (!rc)
        rc = pct_encode_path(name, out);
    if (!rc && suffix)
        rc = kbuf_append_str(out, suffix);
    return rc;
}

int call_query(kbuf *out, const char *key, kbytes value)
{
    const char *sep = memchr(out->data ? out->data : (const uint8_t *)"", '?', out->len) ? "&" : "?";
    int rc = kbuf_printf(out, "%s%s=", sep, key);
    if (!rc)
        rc = pct_encode_query(value, out);
    return rc;
}

int call_qadd(kbuf *out, const char *fmt, ...)
{
    const char *sep = memchr(out->data ? out->data : (const uint8_t *)"", '?', out->len) ? "&" : "?";
    int rc = kbuf_append_str(out, sep);
    if (!rc) {
        va_list ap;
        va_start(ap, fmt);
        rc = kbuf_vprintf(out, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int out_write(const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, stdout) != n) {
        out_failed = 1;
        return -1;
    }
    return 0;
}

int out_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stdout, fmt, ap);
    va_end(ap);
    if (n < 0) {
        out_failed = 1;
        return -1;
    }
    return 0;
}

void err_printf(const char *fmt, ...)
{
    kbuf line = KBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = kbuf_append_str(&line, "kahuna-cli: ");
    if (!rc)
        rc = kbuf_vprintf(&line, fmt, ap);
    va_end(ap);
    if (!rc)
        rc = kbuf_append_str(&line, "\n");
    if (!rc) {
        fflush(stdout);
        fwrite(line.data, 1, line.len, stderr);
    }
    kbuf_free(&line);
}

int call_print_body(const call_result *r)
{
    const kbuf *b = &r->resp.body;
    if (out_write(b->data, b->len))
        return CLI_EXIT_SOFTWARE;
    if (b->len && b->data[b->len - 1] != '\n' && out_write("\n", 1))
        return CLI_EXIT_SOFTWARE;
    return CLI_EXIT_OK;
}

int out_finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        out_failed = 1;
    if (out_failed) {
        if (errno != EPIPE)
            fprintf(stderr, "kahuna-cli: cannot write the results: %s\n", strerror(errno));
        return status ? status : CLI_EXIT_SOFTWARE;
    }
    return status;
}

#define CALL_PAGE_MAX 1000

int call_list(cli_ctx *c, const char *collection, const char *prefix, int64_t limit,
              const char *extra_query, const char *name_field,
              int (*each)(json_t *item, void *arg), void *arg, const char *what)
{
    call_result r = CALL_RESULT_INIT;
    kbuf path = KBUF_INIT, after = KBUF_INIT;
    json_t *all = c->json ? json_array() : NULL;
    int64_t remaining = limit > 0 ? limit : INT64_MAX;
    int64_t page_max = CALL_PAGE_MAX;
    int more = 0, have_after = 0, status = CLI_EXIT_OK;
    const char *env_page = getenv("KAHUNA_PAGE_SIZE");
    if (!env_page || cli_parse_uint(env_page, &page_max) != 0 || page_max < 1 || page_max > CALL_PAGE_MAX)
        page_max = CALL_PAGE_MAX;

    if (c->json && !all)
        return CLI_EXIT_SOFTWARE;
    for (;;) {
        int64_t page = remaining < page_max ? remaining : page_max;
        kbuf_reset(&path);
        int rc = kbuf_append_str(&path, collection);
        if (!rc)
            rc = call_query(&path, "prefix", kbytes_str(prefix ? prefix : ""));
        if (!rc)
            rc = kbuf_printf(&path, "&limit=%lld", (long long)page);
        if (!rc && have_after)
            rc = call_query(&path, "after", kbytes_make(after.data, after.len));
        if (!rc && extra_query)
            rc = kbuf_append_str(&path, extra_query);
        if (rc) {
            status = CLI_EXIT_SOFTWARE;
            break;
        }
        call_do(c, "GET", kbuf_str(&path), NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, &r);
        if (!call_ok(&r)) {
            status = call_fail(c, &r, what);
            break;
        }
        json_t *items = r.json ? json_object_get(r.json, "items") : NULL;
        if (!json_is_array(items)) {
            err_printf("%s: unexpected answer from %s (no \"items\")", what, r.endpoint);
            status = CLI_EXIT_SOFTWARE;
            break;
        }
        more = json_is_true(json_object_get(r.json, "more"));
        size_t i, n = json_array_size(items);
        for (i = 0; i < n && remaining > 0; i++, remaining--) {
            json_t *item = json_array_get(items, i);
            if (all ? json_array_append(all, item) != 0 : each(item, arg) != 0) {
                status = CLI_EXIT_SOFTWARE;
                goto done;
            }
        }
        if (i < n)
            more = 1;
        if (n == 0 || !more || remaining == 0)
            break;
        /* page on from the last name seen */
        json_t *last = json_array_get(items, n - 1);
        char b64[64];
        snprintf(b64, sizeof(b64), "%s_base64", name_field);
        if (jvalue(last, name_field, b64, &after) != 0) {
            err_printf("%s: unexpected answer from %s (an item without \"%s\")", what, r.endpoint, name_field);
            status = CLI_EXIT_SOFTWARE;
            break;
        }
        have_after = 1;
    }
    if (status == CLI_EXIT_OK && all) {
        json_t *obj = json_pack("{s:O,s:b}", "items", all, "more", more);
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (!text || out_printf("%s\n", text))
            status = CLI_EXIT_SOFTWARE;
        free(text);
        json_decref(obj);
    }
done:
    if (all)
        json_decref(all);
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&after);
    return status;
}
