/* glob.c: Redis-style glob matching (see glob.h). One atom (`?`, a class,
 * an escape or a literal byte) always matches exactly one byte, so the
 * classic "remember the last star and retry one byte further" loop gives
 * the same answers as Redis's recursive stringmatchlen. Classes follow
 * Redis, quirks included: an unterminated `[` runs to the end of the
 * pattern, and a range whose ends are reversed is swapped. */
#include "glob.h"

#include <ctype.h>

static int fold(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* Does the atom at pat[0..plen) match byte c? *alen = its length. */
static int match_atom(const uint8_t *pat, size_t plen, uint8_t c, int nocase, size_t *alen)
{
    if (pat[0] == '?') {
        *alen = 1;
        return 1;
    }
    if (pat[0] == '[') {
        size_t i = 1;
        int neg = 0, match = 0;
        if (i < plen && pat[i] == '^') {
            neg = 1;
            i++;
        }
        for (;;) {
            if (i < plen && pat[i] == '\\' && plen - i >= 2) {
                i++;
                if (fold(pat[i], nocase) == fold(c, nocase))
                    match = 1;
            } else if (i < plen && pat[i] == ']') {
                break;
            } else if (i >= plen) {
                i--; /* unterminated: the class takes the rest of the pattern */
                break;
            } else if (plen - i >= 3 && pat[i + 1] == '-') {
                int lo = pat[i], hi = pat[i + 2], x = c;
                if (lo > hi) {
                    int t = lo;
                    lo = hi;
                    hi = t;
                }
                if (nocase) {
                    lo = tolower(lo);
                    hi = tolower(hi);
                    x = tolower(x);
                }
                i += 2;
                if (x >= lo && x <= hi)
                    match = 1;
            } else if (fold(pat[i], nocase) == fold(c, nocase)) {
                match = 1;
            }
            i++;
        }
        *alen = i + 1;
        return neg ? !match : match;
    }
    if (pat[0] == '\\' && plen >= 2) {
        *alen = 2;
        return fold(pat[1], nocase) == fold(c, nocase);
    }
    *alen = 1;
    return fold(pat[0], nocase) == fold(c, nocase);
}

int glob_match(const uint8_t *pat, size_t plen, const uint8_t *str, size_t slen, int nocase)
{
    size_t p = 0, s = 0;
    size_t star_p = 0, star_s = 0;
    int have_star = 0;

    while (s < slen) {
        size_t alen;
        if (p < plen && pat[p] == '*') {
            while (p < plen && pat[p] == '*')
                p++;
            if (p == plen)
                return 1; /* a trailing star takes the rest */
            have_star = 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < plen && match_atom(pat + p, plen - p, str[s], nocase, &alen)) {
            p += alen;
            s++;
            continue;
        }
        if (!have_star)
            return 0;
        /* let the last star take one more byte and retry */
        star_s++;
        s = star_s;
        p = star_p;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

size_t glob_literal_prefix(const uint8_t *pat, size_t plen, uint8_t *out)
{
    size_t i = 0, n = 0;
    while (i < plen) {
        uint8_t c = pat[i];
        if (c == '*' || c == '?' || c == '[')
            break;
        if (c == '\\' && plen - i >= 2) {
            out[n++] = pat[i + 1];
            i += 2;
        } else {
            out[n++] = c;
            i++;
        }
    }
    return n;
}

int glob_is_literal(const uint8_t *pat, size_t plen)
{
    for (size_t i = 0; i < plen; i++) {
        uint8_t c = pat[i];
        if (c == '*' || c == '?' || c == '[')
            return 0;
        if (c == '\\' && plen - i >= 2)
            i++;
    }
    return 1;
}
