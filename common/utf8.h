/* utf8.h: UTF-8 validation (JSON strings must be valid UTF-8). */
#ifndef KAHUNA_UTF8_H
#define KAHUNA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* 1 when p[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const uint8_t *p, size_t n);

#endif
