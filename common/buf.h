/* buf.h: a growable byte buffer, and a borrowed byte slice.
 *
 * kbuf owns its memory (free with kbuf_free); kbytes borrows memory owned by
 * someone else. Bytes always travel with their length; kbuf keeps one spare
 * NUL after the data so text can be used as a C string. */
#ifndef KAHUNA_BUF_H
#define KAHUNA_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef struct kbytes {
    const uint8_t *p;
    size_t n;
} kbytes;

typedef struct kbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} kbuf;

#define KBUF_INIT {NULL, 0, 0}

static inline kbytes kbytes_make(const void *p, size_t n) { kbytes b = {(const uint8_t *)p, n}; return b; }
kbytes kbytes_str(const char *s);
int kbytes_eq(kbytes a, kbytes b);
/* Returns a malloc'd NUL-terminated copy, or NULL when out of memory. */
char *kbytes_strdup(kbytes b);

/* All return 0 or KAHUNA_ENOMEM. */
int kbuf_reserve(kbuf *b, size_t extra);
int kbuf_append(kbuf *b, const void *p, size_t n);
int kbuf_append_str(kbuf *b, const char *s);
int kbuf_append_byte(kbuf *b, uint8_t c);
int kbuf_printf(kbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kbuf_vprintf(kbuf *b, const char *fmt, va_list ap);
void kbuf_reset(kbuf *b);          /* len = 0, keeps memory */
void kbuf_free(kbuf *b);           /* frees memory, back to KBUF_INIT */
/* Hands the data to the caller (who frees it) and resets b. */
uint8_t *kbuf_detach(kbuf *b, size_t *len);
static inline const char *kbuf_str(const kbuf *b) { return b->data ? (const char *)b->data : ""; }

#endif
