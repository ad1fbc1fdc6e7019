/* kv.c: kahuna-cli kv set|get|del|ttl|ls|history (SPEC §5), over the
 * REST key/value API (SPEC §3).
 *
 * Values are bytes: "kv set" sends text as "value" and anything that is not
 * valid UTF-8 as "value_base64"; "kv get" asks for the bare bytes (?raw) and
 * prints them exactly, adding a newline only when stdout is a terminal. */
#include "call.h"
#include "cli.h"
#include "base64.h"
#include "errors.h"
#include "utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "kv get app/x": the subject of messages. */
static void what_of(kbuf *w, const char *verb, const char *key)
{
    kbuf_reset(w);
    kbuf_printf(w, "kv %s %s", verb, key);
}

/* Reads all of PATH ("-": stdin) into out. Returns the exit status. */
static int read_value_file(const char *path, kbuf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        err_printf("kv set: cannot open %s: %s", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    int status = CLI_EXIT_OK;
    for (;;) {
        if (kbuf_reserve(out, 65536)) {
            err_printf("kv set: out of memory reading %s", path);
            status = CLI_EXIT_SOFTWARE;
            break;
        }
        size_t n = fread(out->data + out->len, 1, 65536, f);
        out->len += n;
        out->data[out->len] = '\0';
        if (n < 65536) {
            if (ferror(f)) {
                err_printf("kv set: cannot read %s: %s", path, strerror(errno));
                status = CLI_EXIT_SOFTWARE;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    return status;
}

/* Sets "value" or "value_base64" of obj to the bytes v. */
static int set_value(json_t *obj, const char *text_key, const char *b64_key, kbytes v)
{
    if (utf8_valid(v.p, v.n))
        return json_object_set_new(obj, text_key, json_stringn((const char *)v.p, v.n));
    kbuf b = KBUF_INIT;
    int rc = base64_encode(v, &b);
    if (!rc)
        rc = json_object_set_new(obj, b64_key, json_stringn(kbuf_str(&b), b.len));
    kbuf_free(&b);
    return rc;
}

int cmd_kv_set(cli_ctx *c, const cli_inv *inv)
{
    const char *key = inv->pos[0];
    kbuf value = KBUF_INIT, path = KBUF_INIT, what = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    json_t *body = json_object();
    int status;

    what_of(&what, "set", key);
    if (!body) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    if (inv->set[OPT_FILE]) {
        status = read_value_file(inv->str[OPT_FILE], &value);
        if (status)
            goto out;
    } else if (kbuf_append_str(&value, inv->pos[1])) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    int rc = set_value(body, "value", "value_base64", kbytes_make(value.data, value.len));
    if (!rc && inv->set[OPT_TTL])
        rc = json_object_set_new(body, "ttl_ms", json_integer(inv->num[OPT_TTL]));
    if (!rc && inv->set[OPT_IF_NOT_EXISTS])
        rc = json_object_set_new(body, "if_not_exists", json_true());
    if (!rc && inv->set[OPT_IF_EXISTS])
        rc = json_object_set_new(body, "if_exists", json_true());
    if (!rc && inv->set[OPT_IF_REVISION])
        rc = json_object_set_new(body, "if_revision", json_integer(inv->num[OPT_IF_REVISION]));
    if (!rc && inv->set[OPT_IF_VALUE])
        rc = set_value(body, "if_value", "if_value_base64", kbytes_str(inv->str[OPT_IF_VALUE]));
    if (!rc)
        rc = call_path(&path, "/v1/kv/", kbytes_str(key), NULL);
    if (rc) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    call_json(c, "PUT", kbuf_str(&path), body, c->timeout_ms, 0, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    status = CLI_EXIT_OK;
    if (c->json)
        status = call_print_body(&r);
    else if (!c->quiet && jint(r.json, "revision") >= 0)
        out_printf("%lld\n", (long long)jint(r.json, "revision"));
out:
    json_decref(body);
    call_result_free(&r);
    kbuf_free(&value);
    kbuf_free(&path);
    kbuf_free(&what);
    return status;
}

int cmd_kv_get(cli_ctx *c, const cli_inv *inv)
{
    const char *key = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT, value = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    int status;

    what_of(&what, "get", key);
    int rc = call_path(&path, "/v1/kv/", kbytes_str(key), NULL);
    if (!rc && !c->json)
        rc = call_qadd(&path, "raw");
    if (!rc && inv->set[OPT_REVISION])
        rc = call_qadd(&path, "revision=%lld", (long long)inv->num[OPT_REVISION]);
    if (!rc && inv->set[OPT_STALE])
        rc = call_qadd(&path, "consistency=stale");
    if (rc) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    call_do(c, "GET", kbuf_str(&path), NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    if (c->json) {
        status = call_print_body(&r);
        goto out;
    }
    if (r.json) {
        /* A server that answered JSON to ?raw: take the value from it. */
        if (jvalue(r.json, "value", "value_base64", &value) != 0) {
            err_printf("%s: unexpected answer from %s", kbuf_str(&what), r.endpoint);
            status = CLI_EXIT_SOFTWARE;
            goto out;
        }
        out_write(value.data, value.len);
    } else {
        out_write(r.resp.body.data, r.resp.body.len);
    }
    if (isatty(STDOUT_FILENO))
        out_write("\n", 1);
    status = CLI_EXIT_OK;
out:
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    kbuf_free(&value);
    return status;
}

int cmd_kv_del(cli_ctx *c, const cli_inv *inv)
{
    const char *key = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    int status;

    what_of(&what, "del", key);
    int rc = call_path(&path, "/v1/kv/", kbytes_str(key), NULL);
    if (!rc && inv->set[OPT_IF_REVISION])
        rc = call_qadd(&path, "if_revision=%lld", (long long)inv->num[OPT_IF_REVISION]);
    if (rc) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    call_do(c, "DELETE", kbuf_str(&path), NULL, kbytes_make(NULL, 0), c->timeout_ms, 0, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    status = CLI_EXIT_OK;
    if (c->json)
        status = call_print_body(&r);
    else if (!c->quiet && jint(r.json, "revision") >= 0)
        out_printf("%lld\n", (long long)jint(r.json, "revision"));
out:
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    return status;
}

int cmd_kv_ttl(cli_ctx *c, const cli_inv *inv)
{
    const char *key = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    json_t *body = json_pack("{s:I}", "ttl_ms", (json_int_t)inv->pos_num);
    int status;

    what_of(&what, "ttl", key);
    if (!body || call_path(&path, "/v1/kv/", kbytes_str(key), NULL)) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    call_json(c, "PATCH", kbuf_str(&path), body, c->timeout_ms, CALL_IDEMPOTENT, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    status = c->json ? call_print_body(&r) : CLI_EXIT_OK;
out:
    json_decref(body);
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    return status;
}

/* One key per line, its bytes as they are. */
static int print_key(json_t *item, void *arg)
{
    kbuf *k = arg;
    if (jvalue(item, "key", "key_base64", k) != 0)
        return -1;
    if (out_write(k->data, k->len) || out_write("\n", 1))
        return -1;
    return 0;
}

int cmd_kv_ls(cli_ctx *c, const cli_inv *inv)
{
    kbuf k = KBUF_INIT;
    const char *extra = c->json ? (inv->set[OPT_STALE] ? "&consistency=stale" : NULL)
                                : (inv->set[OPT_STALE] ? "&keys_only&consistency=stale" : "&keys_only");
    int status = call_list(c, "/v1/kv", inv->npos ? inv->pos[0] : "", inv->set[OPT_LIMIT] ? inv->num[OPT_LIMIT] : 0,
                           extra, "key", print_key, &k, "kv ls");
    kbuf_free(&k);
    return status;
}

int cmd_kv_history(cli_ctx *c, const cli_inv *inv)
{
    const char *key = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT, value = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    int status;

    what_of(&what, "history", key);
    if (call_path(&path, "/v1/kv/", kbytes_str(key), "?history")) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    call_do(c, "GET", kbuf_str(&path), NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    if (c->json) {
        status = call_print_body(&r);
        goto out;
    }
    json_t *items = r.json ? json_object_get(r.json, "items") : NULL;
    if (!json_is_array(items)) {
        err_printf("%s: unexpected answer from %s (no \"items\")", kbuf_str(&what), r.endpoint);
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        out_printf("%lld\t", (long long)jint(item, "revision"));
        if (json_is_true(json_object_get(item, "deleted"))) {
            out_printf("(deleted)\n");
        } else if (jvalue(item, "value", "value_base64", &value) == 0) {
            out_write(value.data, value.len);
            out_write("\n", 1);
        } else {
            out_printf("\n");
        }
    }
    status = CLI_EXIT_OK;
out:
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    kbuf_free(&value);
    return status;
}
