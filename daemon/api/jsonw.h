/* jsonw.h: a small streaming JSON writer for API responses.
 *
 * Responses are written straight into a reusable kbuf, without building a
 * jansson tree first: that keeps the hot read path (GET /v1/kv/{key}) free
 * of per-field allocations. Commas are handled by the writer; nesting is
 * the caller's (every open has its close). Errors are sticky: after an
 * allocation failure every call does nothing and jw_error() says so.
 *
 * Byte strings that users chose (keys, names, owners, values) are written
 * with jw_bytes(): as "name":"text" when they are valid UTF-8, otherwise as
 * "name_base64":"...", so a response is always valid JSON. */
#ifndef KAHUNA_API_JSONW_H
#define KAHUNA_API_JSONW_H

#include <stdint.h>

#include "buf.h"

typedef struct jw {
    kbuf *out;        /* borrowed; the writer appends to it */
    int comma;        /* a member was written at this level: the next needs ',' */
    int err;          /* 0 or KAHUNA_ENOMEM */
} jw;

void jw_init(jw *w, kbuf *out);
int jw_error(const jw *w);

/* key is NULL inside arrays and at the top level. */
void jw_obj_open(jw *w, const char *key);
void jw_obj_close(jw *w);
void jw_arr_open(jw *w, const char *key);
void jw_arr_close(jw *w);

void jw_str(jw *w, const char *key, const char *s);
void jw_int(jw *w, const char *key, int64_t v);
void jw_uint(jw *w, const char *key, uint64_t v);
void jw_bool(jw *w, const char *key, int v);
void jw_null(jw *w, const char *key);

/* "key": text when b is valid UTF-8 and force_base64 is 0, otherwise
 * "key_base64": base64 of b. */
void jw_bytes(jw *w, const char *key, kbytes b, int force_base64);

/* Appends s as a JSON string literal (quotes included); s must be valid
 * UTF-8. Exposed for the error-body helper and tests. */
int jw_append_escaped(kbuf *out, const uint8_t *s, size_t n);

#endif
