/* reply.h: RESP2 and RESP3 reply writers.
 *
 * A reply is written into a kbuf through a `reply` cursor that also knows
 * the protocol version of the connection, so command code writes one reply
 * and gets the right encoding: reply_null is "$-1" in RESP2 and "_" in
 * RESP3, reply_map is a flat array in RESP2 and a "%" map in RESP3, and so
 * on. Errors are sticky: after an allocation failure every later call does
 * nothing and r->err stays KAHUNA_ENOMEM, so a caller checks once, at the
 * end of the reply. Pure functions, no I/O. */
#ifndef KAHUNA_RESP_REPLY_H
#define KAHUNA_RESP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct reply {
    kbuf *b;          /* where bytes go; owned by the caller */
    int proto;        /* 2 or 3 */
    int err;          /* 0, or KAHUNA_ENOMEM once an append failed */
} reply;

static inline reply reply_make(kbuf *b, int proto) { reply r = {b, proto, 0}; return r; }

/* "+s" : s must not contain CR or LF (callers pass constants). */
void reply_simple(reply *r, const char *s);
/* "-msg": msg starts with the error code ("ERR syntax error", "WRONGTYPE
 * ..."); CR and LF in it become spaces, as Redis does. */
void reply_error(reply *r, const char *msg);
void reply_errorf(reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* reply_error with a message that is not NUL-terminated. */
void reply_error_bytes(reply *r, const void *msg, size_t n);
void reply_int(reply *r, long long v);
void reply_bulk(reply *r, const void *p, size_t n);
void reply_bulk_str(reply *r, const char *s);
void reply_bulk_kbytes(reply *r, kbytes b);
/* an integer sent as a bulk string (TIME, INFO-like fields) */
void reply_bulk_ll(reply *r, long long v);
/* the null bulk string: "$-1" (RESP2) / "_" (RESP3) */
void reply_null(reply *r);
/* the null array: "*-1" (RESP2) / "_" (RESP3) */
void reply_null_array(reply *r);
void reply_array(reply *r, size_t n);
/* n key/value pairs follow: "*2n" (RESP2) / "%n" (RESP3) */
void reply_map(reply *r, size_t n);
/* "*n" (RESP2) / "~n" (RESP3) */
void reply_set(reply *r, size_t n);
/* a bulk string "%.17g"-style (RESP2) / ",d" (RESP3); "inf", "-inf", "nan" */
void reply_double(reply *r, double d);
/* ":1"/":0" (RESP2) / "#t"/"#f" (RESP3) */
void reply_bool(reply *r, int v);
/* a bulk string (RESP2) / "=len\r\ntxt:..." verbatim string (RESP3) */
void reply_verbatim(reply *r, const void *p, size_t n);

/* Formats v in decimal into buf (>= 21 bytes); returns the length. */
size_t reply_ll2str(char *buf, long long v);

#endif
