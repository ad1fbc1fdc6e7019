/* glob.h: Redis-style glob patterns for KEYS and SCAN MATCH: `*` any run of
 * bytes, `?` one byte, `[abc]` `[^abc]` `[a-z]` classes, `\x` a literal x.
 * Same answers as Redis's stringmatchlen, but iterative: a pattern full of
 * stars costs O(pattern * string), never exponential time. */
#ifndef KAHUNA_RESP_GLOB_H
#define KAHUNA_RESP_GLOB_H

#include <stddef.h>
#include <stdint.h>

/* 1 when str matches pattern. nocase folds ASCII letters. */
int glob_match(const uint8_t *pat, size_t plen, const uint8_t *str, size_t slen, int nocase);

/* The literal bytes every match must start with (the pattern up to its first
 * `*`, `?` or `[`, escapes resolved), written into out (room for plen
 * bytes); returns their number. KEYS and SCAN list only that prefix. */
size_t glob_literal_prefix(const uint8_t *pat, size_t plen, uint8_t *out);

/* 1 when the pattern has no wildcard at all: it matches one exact string,
 * the literal prefix. */
int glob_is_literal(const uint8_t *pat, size_t plen);

#endif
