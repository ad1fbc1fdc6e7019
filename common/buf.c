/* buf.c: growable byte buffers. */
#include "buf.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kbytes kbytes_str(const char *s)
{
    kbytes b = {(const uint8_t *)s, s ? strlen(s) : 0};
    return b;
}

int kbytes_eq(kbytes a, kbytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

char *kbytes_strdup(kbytes b)
{
    char *s = malloc(b.n + 1);
    if (!s)
        return NULL;
    if (b.n)
        memcpy(s, b.p, b.n);
    s[b.n] = '\0';
    return s;
}

int kbuf_reserve(kbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return KAHUNA_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return KAHUNA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kbuf_append(kbuf *b, const void *p, size_t n)
{
    int rc = kbuf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kbuf_append_str(kbuf *b, const char *s)
{
    return kbuf_append(b, s, strlen(s));
}

int kbuf_append_byte(kbuf *b, uint8_t c)
{
    return kbuf_append(b, &c, 1);
}

int kbuf_vprintf(kbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return KAHUNA_EINTERNAL;
    int rc = kbuf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int kbuf_printf(kbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = kbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void kbuf_reset(kbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void kbuf_free(kbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint8_t *kbuf_detach(kbuf *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
