/* pct.h: percent-decoding of URL paths and query strings. */
#ifndef KAHUNA_PCT_H
#define KAHUNA_PCT_H

#include "buf.h"

/* Decodes %XX escapes of src[0..n) into out (appended). When plus_is_space
 * is set ('+' in a query string) '+' becomes ' '. Returns 0, or
 * KAHUNA_EBADREQ on a truncated or non-hex escape (out is then left as it
 * was), or KAHUNA_ENOMEM. */
int pct_decode(const char *src, size_t n, int plus_is_space, kbuf *out);

/* Appends src percent-encoded for use in a URL path: unreserved characters
 * and '/' stay, every other byte becomes %XX. */
int pct_encode_path(kbytes src, kbuf *out);

/* Same, for a query-string value: '/' is encoded too. */
int pct_encode_query(kbytes src, kbuf *out);

#endif
