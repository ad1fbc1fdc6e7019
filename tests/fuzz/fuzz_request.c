/* fuzz_request.c: fuzz target for the REST request decoding (daemon/api/
 * request.c), the error bodies built from its messages, and the command
 * codec (cmd_encode / cmd_decode round trips).
 *
 * Input layout: the first byte picks the method; the rest is split at the
 * first three '\n' into raw path, raw query string, content type and body
 * (the body may hold anything, '\n' and NUL included). The same input is
 * also handed to cmd_decode as a log entry.
 *
 * Built two ways (tests/fuzz/Makefile.inc): with clang and libFuzzer by
 * `make fuzz`, and with driver.c as a `make check` program under gcc. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/request.h"
#include "errors.h"
#include "fsm/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "BREW", ""};

#define ASSERT(c) do { if (!(c)) abort(); } while (0)

static int bytes_same(kbytes a, kbytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static int commands_same(const command *a, const command *b)
{
    return a->type == b->type && a->flags == b->flags && bytes_same(a->key, b->key) &&
           bytes_same(a->value, b->value) && bytes_same(a->owner, b->owner) && bytes_same(a->aux, b->aux) &&
           a->ttl_ms == b->ttl_ms && a->if_revision == b->if_revision && a->num == b->num &&
           a->now_ms == b->now_ms;
}

/* Encodes cmd, decodes it back, and checks nothing changed. */
static void round_trip(const command *cmd)
{
    kbuf enc = KBUF_INIT;
    int rc = cmd_encode(cmd, &enc);
    if (rc == KAHUNA_ENOMEM) {
        kbuf_free(&enc);
        return;
    }
    ASSERT(rc == 0);
    command back;
    ASSERT(cmd_decode(enc.data, enc.len, &back) == 0);
    ASSERT(commands_same(cmd, &back));
    kbuf_free(&enc);
}

/* The error body of a refused request must be valid JSON with the code. */
static void check_error_body(const req *r)
{
    kbuf body = KBUF_INIT;
    api_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.body = &body;
    api_reply_error(&rp, r->status, r->message);
    json_error_t err;
    json_t *j = json_loadb((const char *)body.data, body.len, 0, &err);
    ASSERT(j != NULL);
    json_t *code = json_object_get(json_object_get(j, "error"), "code");
    ASSERT(json_is_string(code));
    json_decref(j);
    kbuf_free(&body);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    const char *method = methods[data[0] % (sizeof methods / sizeof *methods)];
    const uint8_t *p = data + 1, *end = data + size;
    kbytes part[4] = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    for (int i = 0; i < 3; i++) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            part[i] = kbytes_make(p, (size_t)(end - p));
            p = end;
            break;
        }
        part[i] = kbytes_make(p, (size_t)(nl - p));
        p = nl + 1;
    }
    if (p < end)
        part[3] = kbytes_make(p, (size_t)(end - p));

    req_arg args[32];
    req_input in = {
        .method = kbytes_str(method),
        .path = part[0],
        .args = args,
        .nargs = req_split_query(part[1], args, 32),
        .content_type = part[2],
        .body = part[3],
    };
    req r;
    req_init(&r);
    int rc = req_decode(&in, &r);
    ASSERT(rc == r.status);
    ASSERT(req_route_of(in.method, in.path) == r.route);
    if (rc) {
        ASSERT(r.op == REQ_OP_NONE);
        ASSERT(r.http_status >= 400 && r.http_status <= 599);
        ASSERT(r.message[0] != '\0');
        check_error_body(&r);
    } else {
        ASSERT(r.op != REQ_OP_NONE);
        if (req_op_is_write(r.op)) {
            ASSERT(cmd_validate(&r.cmd) == 0);
            round_trip(&r.cmd);
        }
    }
    /* decoding the same input again into a used request gives the same */
    int rc2 = req_decode(&in, &r);
    ASSERT(rc2 == rc);
    req_free(&r);
}

static void fuzz_codec(const uint8_t *data, size_t size)
{
    command cmd;
    if (cmd_decode(data, size, &cmd) == 0) {
        ASSERT(cmd_validate(&cmd) == 0);
        round_trip(&cmd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_codec(data, size);
    return 0;
}
