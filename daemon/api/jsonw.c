/* jsonw.c: streaming JSON writer (see jsonw.h). */
#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "errors.h"
#include "utf8.h"

void jw_init(jw *w, kbuf *out)
{
    w->out = out;
    w->comma = 0;
    w->err = 0;
}

int jw_error(const jw *w)
{
    return w->err;
}

static void put(jw *w, const void *p, size_t n)
{
    if (!w->err)
        w->err = kbuf_append(w->out, p, n);
}

int jw_append_escaped(kbuf *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. Reserving for the common case
     * (no escapes) keeps the copy loop simple; escapes grow as needed. */
    int rc = kbuf_reserve(out, n + 2);
    if (rc)
        return rc;
    out->data[out->len++] = '"';
    size_t run = 0; /* start of the current run of bytes copied as they are */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        if (i > run && (rc = kbuf_append(out, s + run, i - run)))
            return rc;
        run = i + 1;
        char esc[6];
        size_t en = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        if ((rc = kbuf_append(out, esc, en)))
            return rc;
    }
    if (n > run && (rc = kbuf_append(out, s + run, n - run)))
        return rc;
    return kbuf_append_byte(out, '"');
}

static void key_prefix(jw *w, const char *key, const char *suffix)
{
    if (w->comma)
        put(w, ",", 1);
    w->comma = 1;
    if (!key)
        return;
    put(w, "\"", 1);
    put(w, key, strlen(key));
    if (suffix)
        put(w, suffix, strlen(suffix));
    put(w, "\":", 2);
}

void jw_obj_open(jw *w, const char *key)
{
    key_prefix(w, key, NULL);
    put(w, "{", 1);
    w->comma = 0;
}

void jw_obj_close(jw *w)
{
    put(w, "}", 1);
    w->comma = 1;
}

void jw_arr_open(jw *w, const char *key)
{
    key_prefix(w, key, NULL);
    put(w, "[", 1);
    w->comma = 0;
}

void jw_arr_close(jw *w)
{
    put(w, "]", 1);
    w->comma = 1;
}

void jw_str(jw *w, const char *key, const char *s)
{
    key_prefix(w, key, NULL);
    if (!w->err)
        w->err = jw_append_escaped(w->out, (const uint8_t *)s, strlen(s));
}

void jw_int(jw *w, const char *key, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    key_prefix(w, key, NULL);
    put(w, num, (size_t)n);
}

void jw_uint(jw *w, const char *key, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRIu64, v);
    key_prefix(w, key, NULL);
    put(w, num, (size_t)n);
}

void jw_bool(jw *w, const char *key, int v)
{
    key_prefix(w, key, NULL);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void jw_null(jw *w, const char *key)
{
    key_prefix(w, key, NULL);
    put(w, "null", 4);
}

void jw_bytes(jw *w, const char *key, kbytes b, int force_base64)
{
    if (!force_base64 && utf8_valid(b.p, b.n)) {
        key_prefix(w, key, NULL);
        if (!w->err)
            w->err = jw_append_escaped(w->out, b.p, b.n);
        return;
    }
    key_prefix(w, key, key ? "_base64" : NULL);
    put(w, "\"", 1);
    if (!w->err)
        w->err = base64_encode(b, w->out);
    put(w, "\"", 1);
}
