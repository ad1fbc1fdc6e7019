/* base64.h: standard base64 (RFC 4648, with padding), for "value_base64". */
#ifndef KAHUNA_BASE64_H
#define KAHUNA_BASE64_H

#include "buf.h"

int base64_encode(kbytes src, kbuf *out);
/* Strict decoding: rejects characters outside the alphabet, bad padding,
 * non-zero bits after the last byte (RFC 4648 §3.5: one spelling per value)
 * and a length that is not a multiple of 4. Appends to out; on rejection out
 * is left as it was. Returns 0, KAHUNA_EBADREQ or KAHUNA_ENOMEM. */
int base64_decode(const char *src, size_t n, kbuf *out);

#endif
