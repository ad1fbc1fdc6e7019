/* duration.c: parse "500ms", "30s", "5m", "1h", "250". */
#include "duration.h"
#include "errors.h"

#include <string.h>

int duration_parse_ms(const char *s, int64_t *out_ms)
{
    if (!s || !*s)
        return KAHUNA_EBADREQ;
    int64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return KAHUNA_EBADREQ;
    while (*p >= '0' && *p <= '9') {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return KAHUNA_EBADREQ;
        v = v * 10 + d;
        p++;
    }
    int64_t mult;
    if (*p == '\0' || strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0)
        mult = 1000;
    else if (strcmp(p, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else
        return KAHUNA_EBADREQ;
    if (v > INT64_MAX / mult)
        return KAHUNA_EBADREQ;
    *out_ms = v * mult;
    return 0;
}
