/* base64.c: RFC 4648 base64 with padding. */
#include "base64.h"
#include "errors.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(kbytes src, kbuf *out)
{
    size_t olen = (src.n + 2) / 3 * 4;
    int rc = kbuf_reserve(out, olen);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < src.n; i += 3) {
        uint32_t v = (uint32_t)src.p[i] << 16 | (uint32_t)src.p[i + 1] << 8 | src.p[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (i < src.n) {
        uint32_t v = (uint32_t)src.p[i] << 16;
        if (i + 1 < src.n)
            v |= (uint32_t)src.p[i + 1] << 8;
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < src.n ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len += olen;
    out->data[out->len] = '\0';
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int base64_decode(const char *src, size_t n, kbuf *out)
{
    if (n % 4 != 0)
        return KAHUNA_EBADREQ;
    int rc = kbuf_reserve(out, n / 4 * 3);
    if (rc)
        return rc;
    size_t start = out->len;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64val(src[i]), b = b64val(src[i + 1]);
        int last = (i + 4 == n);
        int pad2 = last && src[i + 2] == '=' && src[i + 3] == '=';
        int pad1 = last && !pad2 && src[i + 3] == '=';
        int c = pad2 ? 0 : b64val(src[i + 2]);
        int d = (pad1 || pad2) ? 0 : b64val(src[i + 3]);
        /* Strict: the bits after the last byte must be zero, so that each
         * value has exactly one spelling ("Zh==" is not another "f"). */
        int stray = (pad2 && b >= 0 && (b & 15)) || (pad1 && c >= 0 && (c & 3));
        if (a < 0 || b < 0 || c < 0 || d < 0 || stray) {
            out->len = start;
            out->data[start] = '\0';
            return KAHUNA_EBADREQ;
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out->data[out->len++] = (uint8_t)(v >> 16);
        if (!pad2)
            out->data[out->len++] = (uint8_t)(v >> 8);
        if (!pad1 && !pad2)
            out->data[out->len++] = (uint8_t)v;
    }
    out->data[out->len] = '\0';
    return 0;
}
