/* seq.c: kahuna-cli seq next|get|set|del|ls (SPEC §5), over the REST
 * sequence API (SPEC §3).
 *
 * "seq next" sends a fresh idempotency key, so that when an answer is lost
 * the request can be sent again (to another endpoint) without handing out
 * a second range. */
#include "call.h"
#include "cli.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* "cli-" and 32 hex digits from the kernel's random source (falling back
 * on the clock and pid, which is still unique enough per host). */
static int make_idempotency_key(kbuf *out)
{
    uint8_t r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, b = (uint64_t)getpid();
        memcpy(r, &a, 8);
        memcpy(r + 8, &b, 8);
    }
    int rc = kbuf_append_str(out, "cli-");
    for (size_t i = 0; !rc && i < sizeof(r); i++)
        rc = kbuf_printf(out, "%02x", r[i]);
    return rc;
}

/* One request on /v1/sequences/NAME[SUFFIX]; prints "value" when print_value. */
static int seq_call(cli_ctx *c, const cli_inv *inv, const char *verb, const char *method,
                    const char *suffix, json_t *body, int flags, int print_value)
{
    const char *name = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    int status = CLI_EXIT_SOFTWARE;

    kbuf_printf(&what, "seq %s %s", verb, name);
    if (call_path(&path, "/v1/sequences/", kbytes_str(name), suffix))
        goto out;
    call_json(c, method, kbuf_str(&path), body, c->timeout_ms, flags, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    status = CLI_EXIT_OK;
    if (c->json) {
        status = call_print_body(&r);
    } else if (print_value) {
        if (jint(r.json, "value") < 0) {
            err_printf("%s: unexpected answer from %s (no \"value\")", kbuf_str(&what), r.endpoint);
            status = CLI_EXIT_SOFTWARE;
        } else {
            out_printf("%lld\n", (long long)jint(r.json, "value"));
        }
    }
out:
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    return status;
}

int cmd_seq_next(cli_ctx *c, const cli_inv *inv)
{
    kbuf key = KBUF_INIT;
    json_t *body = NULL;
    int status = CLI_EXIT_SOFTWARE;
    if (make_idempotency_key(&key))
        goto out;
    body = json_pack("{s:I,s:s}", "count", (json_int_t)(inv->set[OPT_COUNT] ? inv->num[OPT_COUNT] : 1),
                     "idempotency_key", kbuf_str(&key));
    if (!body)
        goto out;
    status = seq_call(c, inv, "next", "POST", "/next", body, CALL_IDEMPOTENT, 1);
out:
    json_decref(body);
    kbuf_free(&key);
    return status;
}

int cmd_seq_get(cli_ctx *c, const cli_inv *inv)
{
    return seq_call(c, inv, "get", "GET", NULL, NULL, CALL_IDEMPOTENT, 1);
}

int cmd_seq_set(cli_ctx *c, const cli_inv *inv)
{
    json_t *body = json_pack("{s:I}", "value", (json_int_t)inv->pos_num);
    if (!body || (inv->set[OPT_FORCE] && json_object_set_new(body, "force", json_true()))) {
        json_decref(body);
        return CLI_EXIT_SOFTWARE;
    }
    int status = seq_call(c, inv, "set", "PUT", NULL, body, 0, 0);
    json_decref(body);
    return status;
}

int cmd_seq_del(cli_ctx *c, const cli_inv *inv)
{
    return seq_call(c, inv, "del", "DELETE", NULL, NULL, 0, 0);
}

/* NAME and VALUE separated by a tab. */
static int print_seq(json_t *item, void *arg)
{
    kbuf name = KBUF_INIT;
    jvalue(item, "name", "name_base64", &name);
    int rc = out_write(name.data, name.len) || out_printf("\t%lld\n", (long long)jint(item, "value"));
    kbuf_free(&name);
    return rc ? -1 : 0;
}

int cmd_seq_ls(cli_ctx *c, const cli_inv *inv)
{
    return call_list(c, "/v1/sequences", inv->npos ? inv->pos[0] : "", inv->set[OPT_LIMIT] ? inv->num[OPT_LIMIT] : 0,
                     NULL, "name", print_seq, NULL, "seq ls");
}
