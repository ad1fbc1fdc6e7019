/* pct.c: percent-decoding and encoding. */
#include "pct.h"
#include "errors.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pct_decode(const char *src, size_t n, int plus_is_space, kbuf *out)
{
    int rc = kbuf_reserve(out, n);
    if (rc)
        return rc;
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = n - i < 3 ? -1 : hexval(src[i + 1]);
            int lo = n - i < 3 ? -1 : hexval(src[i + 2]);
            if (hi < 0 || lo < 0) {
                /* a rejected decode leaves out as it was */
                out->len = start;
                out->data[start] = '\0';
                return KAHUNA_EBADREQ;
            }
            out->data[out->len++] = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out->data[out->len++] = ' ';
        } else {
            out->data[out->len++] = (uint8_t)c;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

static int encode(kbytes src, kbuf *out, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < src.n; i++) {
        uint8_t c = src.p[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        int rc;
        if (plain) {
            rc = kbuf_append_byte(out, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = kbuf_append(out, e, 3);
        }
        if (rc)
            return rc;
    }
    return kbuf_reserve(out, 0);
}

int pct_encode_path(kbytes src, kbuf *out) { return encode(src, out, 1); }
int pct_encode_query(kbytes src, kbuf *out) { return encode(src, out, 0); }
