/* reply.c: RESP2 and RESP3 reply writers (see reply.h). Integers are
 * formatted by hand: replies are the hot path of a pipelined benchmark. */
#include "reply.h"
#include "errors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t reply_ll2str(char *buf, long long v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    unsigned long long u;
    if (v < 0) {
        buf[len++] = '-';
        u = (unsigned long long)(-(v + 1)) + 1;
    } else {
        u = (unsigned long long)v;
    }
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

static void put(reply *r, const void *p, size_t n)
{
    if (r->err)
        return;
    if (kbuf_append(r->b, p, n))
        r->err = KAHUNA_ENOMEM;
}

/* "<c><v>\r\n" */
static void put_header(reply *r, char c, long long v)
{
    char buf[32];
    buf[0] = c;
    size_t n = 1 + reply_ll2str(buf + 1, v);
    buf[n++] = '\r';
    buf[n++] = '\n';
    put(r, buf, n);
}

void reply_simple(reply *r, const char *s)
{
    if (r->err)
        return;
    size_t n = strlen(s);
    if (kbuf_reserve(r->b, n + 3)) {
        r->err = KAHUNA_ENOMEM;
        return;
    }
    put(r, "+", 1);
    put(r, s, n);
    put(r, "\r\n", 2);
}

void reply_error_bytes(reply *r, const void *msg, size_t n)
{
    if (r->err)
        return;
    if (kbuf_reserve(r->b, n + 3)) {
        r->err = KAHUNA_ENOMEM;
        return;
    }
    put(r, "-", 1);
    size_t start = r->b->len;
    put(r, msg, n);
    for (size_t i = start; i < r->b->len; i++)
        if (r->b->data[i] == '\r' || r->b->data[i] == '\n')
            r->b->data[i] = ' ';
    put(r, "\r\n", 2);
}

void reply_error(reply *r, const char *msg)
{
    reply_error_bytes(r, msg, strlen(msg));
}

void reply_errorf(reply *r, const char *fmt, ...)
{
    kbuf tmp = KBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = kbuf_vprintf(&tmp, fmt, ap);
    va_end(ap);
    if (rc) {
        r->err = KAHUNA_ENOMEM;
        kbuf_free(&tmp);
        return;
    }
    reply_error_bytes(r, tmp.data, tmp.len);
    kbuf_free(&tmp);
}

void reply_int(reply *r, long long v)
{
    put_header(r, ':', v);
}

void reply_bulk(reply *r, const void *p, size_t n)
{
    if (r->err)
        return;
    if (kbuf_reserve(r->b, n + 32)) {
        r->err = KAHUNA_ENOMEM;
        return;
    }
    put_header(r, '$', (long long)n);
    put(r, p, n);
    put(r, "\r\n", 2);
}

void reply_bulk_str(reply *r, const char *s)
{
    reply_bulk(r, s, strlen(s));
}

void reply_bulk_kbytes(reply *r, kbytes b)
{
    reply_bulk(r, b.p, b.n);
}

void reply_bulk_ll(reply *r, long long v)
{
    char buf[24];
    size_t n = reply_ll2str(buf, v);
    reply_bulk(r, buf, n);
}

void reply_null(reply *r)
{
    if (r->proto >= 3)
        put(r, "_\r\n", 3);
    else
        put(r, "$-1\r\n", 5);
}

void reply_null_array(reply *r)
{
    if (r->proto >= 3)
        put(r, "_\r\n", 3);
    else
        put(r, "*-1\r\n", 5);
}

void reply_array(reply *r, size_t n)
{
    put_header(r, '*', (long long)n);
}

void reply_map(reply *r, size_t n)
{
    if (r->proto >= 3)
        put_header(r, '%', (long long)n);
    else
        put_header(r, '*', (long long)(2 * n));
}

void reply_set(reply *r, size_t n)
{
    put_header(r, r->proto >= 3 ? '~' : '*', (long long)n);
}

void reply_double(reply *r, double d)
{
    char buf[64];
    int n;
    if (isinf(d))
        n = snprintf(buf, sizeof buf, "%s", d > 0 ? "inf" : "-inf");
    else if (isnan(d))
        n = snprintf(buf, sizeof buf, "nan");
    else
        n = snprintf(buf, sizeof buf, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof buf) {
        r->err = KAHUNA_EINTERNAL;
        return;
    }
    if (r->proto >= 3) {
        put(r, ",", 1);
        put(r, buf, (size_t)n);
        put(r, "\r\n", 2);
    } else {
        reply_bulk(r, buf, (size_t)n);
    }
}

void reply_bool(reply *r, int v)
{
    if (r->proto >= 3)
        put(r, v ? "#t\r\n" : "#f\r\n", 4);
    else
        put(r, v ? ":1\r\n" : ":0\r\n", 4);
}

void reply_verbatim(reply *r, const void *p, size_t n)
{
    if (r->proto < 3) {
        reply_bulk(r, p, n);
        return;
    }
    put_header(r, '=', (long long)n + 4);
    put(r, "txt:", 4);
    put(r, p, n);
    put(r, "\r\n", 2);
}
