/* duration.h: durations as users write them ("500ms", "30s", "5m", "1h";
 * a bare number is milliseconds) and as kahuna prints them. */
#ifndef KAHUNA_DURATION_H
#define KAHUNA_DURATION_H

#include <stdint.h>

/* Parses s into milliseconds. Accepts a non-negative integer followed by
 * nothing or one of ms, s, m, h. Returns 0 or KAHUNA_EBADREQ (empty,
 * negative, unknown unit, trailing junk, overflow past INT64_MAX ms). */
int duration_parse_ms(const char *s, int64_t *out_ms);

#endif
