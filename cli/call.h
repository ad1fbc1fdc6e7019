/* call.h: how kahuna-cli talks to the cluster: one request tried on the
 * endpoints in turn, the answer decoded, failures turned into a message on
 * stderr and an exit status; and the small output helpers every command
 * uses (results alone on stdout). */
#ifndef KAHUNA_CLI_CALL_H
#define KAHUNA_CLI_CALL_H

#include "buf.h"
#include "cli.h"
#include "httpc.h"

#include <jansson.h>
#include <stdint.h>

struct cli_ctx {
    char **endpoints;         /* owned */
    size_t n_endpoints;
    size_t current;           /* the endpoint that answered last: tried first */
    int64_t timeout_ms;       /* --timeout: budget of one call, retries included */
    int json, quiet;
    httpc *http;              /* owned */
    /* When set, polled during requests and waits: non-zero stops the call
     * with KAHUNA_ECANCELED (lock run, on a signal). */
    int (*cancel)(void *arg);
    void *cancel_arg;
};

/* call flags */
enum {
    CALL_IDEMPOTENT = 1,      /* safe to resend to another endpoint after a lost answer */
    CALL_ONE_ROUND = 2,       /* try each endpoint once; no waiting out a 503 */
};

typedef struct call_result {
    int rc;                   /* 0: an HTTP answer is in resp; else a KAHUNA_E* code */
    httpc_response resp;
    json_t *json;             /* the body when it is a JSON object, else NULL */
    const char *endpoint;     /* the endpoint that answered (borrowed from ctx) */
    kbuf errors;              /* when rc != 0: what went wrong, per endpoint */
} call_result;

#define CALL_RESULT_INIT {0, HTTPC_RESPONSE_INIT, NULL, NULL, KBUF_INIT}

/* Sends METHOD path (which starts with "/" and carries the query) to the
 * endpoints: starting with the current one, on to the next when nothing
 * could be sent there or when it answers 503; when every endpoint answered
 * 503 it waits (Retry-After, at most 1 s) and goes round again until
 * budget_ms runs out. Returns r->rc. r must be CALL_RESULT_INIT or reused;
 * free it with call_result_free(). */
int call_do(cli_ctx *c, const char *method, const char *path, const char *content_type,
            kbytes body, int64_t budget_ms, int flags, call_result *r);

/* Same with a JSON body (borrowed; NULL sends no body). */
int call_json(cli_ctx *c, const char *method, const char *path, json_t *body,
              int64_t budget_ms, int flags, call_result *r);

void call_result_free(call_result *r);

/* 1 when the call got a 2xx answer. */
int call_ok(const call_result *r);

/* Reports a call that did not get a 2xx answer: a message on stderr (none
 * for a "no" answer under --quiet; the server's JSON body under --json),
 * and returns the exit status (cli_exit_for_http / cli_exit_for_error).
 * what says what was asked ("kv get app/x"). */
int call_fail(cli_ctx *c, const call_result *r, const char *what);

/* Builds "PREFIX" + percent-encoded name + "SUFFIX" into out (reset first). */
int call_path(kbuf *out, const char *prefix, kbytes name, const char *suffix);

/* Appends "&key=" + percent-encoded value (or "?key=" when out has no '?'). */
int call_query(kbuf *out, const char *key, kbytes value);

/* Appends '?' or '&' (as call_query) and then the formatted text, which
 * the caller has made safe for a query string ("raw", "revision=12"). */
int call_qadd(kbuf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the answer's body for --json (adds a newline when missing).
 * Returns the exit status (0, or 70 when stdout fails). */
int call_print_body(const call_result *r);

/* stdout helpers; they return 0 or -1 (a write error, reported at exit). */
int out_write(const void *p, size_t n);
int out_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A message on stderr, prefixed with "kahuna-cli: ", ending with a newline. */
void err_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flushes stdout; returns the exit status to use (status, or 70 when
 * writing the results failed). */
int out_finish(int status);

/* Field helpers for JSON answers: the integer (or -1), the string (or NULL). */
int64_t jint(json_t *obj, const char *key);
const char *jstr(json_t *obj, const char *key);

/* The value bytes of an answer object ("value" or "value_base64"), into
 * out (reset first). Returns 0, KAHUNA_ENOTFOUND when neither field is
 * there, KAHUNA_EBADREQ on bad base64, KAHUNA_ENOMEM. */
int jvalue(json_t *obj, const char *text_key, const char *b64_key, kbuf *out);

/* Lists a collection page by page: GET collection?prefix=P&limit=..&after=..
 * (plus extra_query, "&keys_only" say), up to limit items (<= 0: all),
 * calling each() on every item in order; name_field names the item field
 * that "after" takes. With --json the items are gathered and printed as
 * one {"items": [...], "more": bool} object instead. Pages hold 1000
 * items, or $KAHUNA_PAGE_SIZE (1..1000). Returns the exit status; what is
 * for messages. */
int call_list(cli_ctx *c, const char *collection, const char *prefix, int64_t limit,
              const char *extra_query, const char *name_field,
              int (*each)(json_t *item, void *arg), void *arg, const char *what);

#endif
