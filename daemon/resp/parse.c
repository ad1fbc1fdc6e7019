/* parse.c: the RESP request parser (see parse.h). It follows Redis's
 * processMultibulkBuffer / processInlineBuffer (networking.c) closely, so
 * that clients see the same protocol errors, with two deliberate
 * differences: the two bytes after a bulk argument must be "\r\n" (Redis
 * skips them unchecked, which lets a desynchronised client go on), and an
 * inline line longer than RPARSE_INLINE_MAX is refused even when its
 * newline arrived in the same read. */
#include "parse.h"
#include "errors.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNAUTH_MAX_ARGC 10
#define UNAUTH_MAX_BULK 16384

int rparse_ll(const uint8_t *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0;

    if (n == 0 || n > 20)
        return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return 0;
    }
    if (s[i] < '1' || s[i] > '9')
        return 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

static int add_arg(rparse_arg **args, size_t *n, size_t *cap, size_t off, size_t len)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        rparse_arg *a = realloc(*args, nc * sizeof *a);
        if (!a)
            return RPARSE_NOMEM;
        *args = a;
        *cap = nc;
    }
    (*args)[*n].off = off;
    (*args)[*n].len = len;
    (*n)++;
    return 0;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int rparse_split_inline(const uint8_t *line, size_t n, kbuf *out, rparse_arg **args,
                        size_t *nargs, size_t *cap)
{
    /* Redis works on a C string: a NUL ends the line. */
    const uint8_t *nul = memchr(line, '\0', n);
    if (nul)
        n = (size_t)(nul - line);

    size_t i = 0;
    for (;;) {
        while (i < n && is_space(line[i]))
            i++;
        if (i == n)
            return 0;
        int inq = 0, insq = 0, done = 0;
        size_t start = out->len;
        while (!done) {
            /* c is the byte at i, or 0 at the end (Redis's terminating NUL) */
            uint8_t c = i < n ? line[i] : 0;
            uint8_t next = i + 1 < n ? line[i + 1] : 0;
            if (inq) {
                if (c == '\\' && next == 'x' && i + 3 < n && hex_val(line[i + 2]) >= 0 &&
                    hex_val(line[i + 3]) >= 0) {
                    uint8_t b = (uint8_t)(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    if (kbuf_append_byte(out, b))
                        return RPARSE_NOMEM;
                    i += 3;
                } else if (c == '\\' && next) {
                    uint8_t e;
                    i++;
                    switch (next) {
                    case 'n': e = '\n'; break;
                    case 'r': e = '\r'; break;
                    case 't': e = '\t'; break;
                    case 'b': e = '\b'; break;
                    case 'a': e = '\a'; break;
                    default: e = next; break;
                    }
                    if (kbuf_append_byte(out, e))
                        return RPARSE_NOMEM;
                } else if (c == '"') {
                    /* the closing quote must be followed by a space or nothing */
                    if (next && !is_space(next))
                        return RPARSE_ERROR;
                    done = 1;
                } else if (!c) {
                    return RPARSE_ERROR; /* unterminated quotes */
                } else if (kbuf_append_byte(out, c)) {
                    return RPARSE_NOMEM;
                }
            } else if (insq) {
                if (c == '\\' && next == '\'') {
                    i++;
                    if (kbuf_append_byte(out, '\''))
                        return RPARSE_NOMEM;
                } else if (c == '\'') {
                    if (next && !is_space(next))
                        return RPARSE_ERROR;
                    done = 1;
                } else if (!c) {
                    return RPARSE_ERROR;
                } else if (kbuf_append_byte(out, c)) {
                    return RPARSE_NOMEM;
                }
            } else {
                switch (c) {
                case ' ': case '\n': case '\r': case '\t': case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    if (kbuf_append_byte(out, c))
                        return RPARSE_NOMEM;
                    break;
                }
            }
            if (i < n)
                i++;
        }
        if (add_arg(args, nargs, cap, start, out->len - start))
            return RPARSE_NOMEM;
    }
}

static int set_argv(rparse *p, size_t n)
{
    if (n > p->argv_cap) {
        size_t nc = p->argv_cap ? p->argv_cap : 8;
        while (nc < n)
            nc *= 2;
        kbytes *a = realloc(p->argv, nc * sizeof *a);
        if (!a)
            return RPARSE_NOMEM;
        p->argv = a;
        p->argv_cap = nc;
    }
    p->argc = n;
    return 0;
}

static int parse_inline(rparse *p, const uint8_t *buf, size_t len, size_t *consumed,
                        const char **err)
{
    const uint8_t *nl = memchr(buf, '\n', len);
    if (!nl) {
        if (len > RPARSE_INLINE_MAX) {
            *err = "Protocol error: too big inline request";
            return RPARSE_ERROR;
        }
        return RPARSE_MORE;
    }
    size_t linelen = (size_t)(nl - buf);
    if (linelen > RPARSE_INLINE_MAX) {
        *err = "Protocol error: too big inline request";
        return RPARSE_ERROR;
    }
    *consumed = linelen + 1;
    if (linelen && buf[linelen - 1] == '\r')
        linelen--;
    kbuf_reset(&p->scratch);
    p->nargs = 0;
    int rc = rparse_split_inline(buf, linelen, &p->scratch, &p->args, &p->nargs, &p->cap);
    if (rc == RPARSE_ERROR) {
        *err = "Protocol error: unbalanced quotes in request";
        return RPARSE_ERROR;
    }
    if (rc)
        return rc;
    if (p->nargs == 0)
        return RPARSE_DONE; /* blank line: the caller sees argc == 0 */
    if (set_argv(p, p->nargs))
        return RPARSE_NOMEM;
    const uint8_t *base = p->scratch.data ? p->scratch.data : (const uint8_t *)""; /* all empty */
    for (size_t i = 0; i < p->nargs; i++)
        p->argv[i] = kbytes_make(base + p->args[i].off, p->args[i].len);
    p->nargs = 0;
    return RPARSE_DONE;
}

/* Finds the "\r\n"-terminated line starting at buf[from]. Returns 1 with
 * *end = index of the '\r', 0 when incomplete. */
static int find_line(const uint8_t *buf, size_t len, size_t from, size_t *end)
{
    const uint8_t *cr = memchr(buf + from, '\r', len - from);
    if (!cr)
        return 0;
    size_t e = (size_t)(cr - buf);
    if (e + 1 >= len)
        return 0; /* the '\n' has not arrived */
    *end = e;
    return 1;
}

static int parse_multibulk(rparse *p, const uint8_t *buf, size_t len, const rparse_limits *lim,
                           size_t *consumed, size_t *need, const char **err)
{
    size_t max_argc = lim->max_argc, max_bulk = lim->max_bulk;
    if (lim->unauthenticated) {
        if (max_argc > UNAUTH_MAX_ARGC)
            max_argc = UNAUTH_MAX_ARGC;
        if (max_bulk > UNAUTH_MAX_BULK)
            max_bulk = UNAUTH_MAX_BULK;
    }

    if (!p->in_multibulk) {
        size_t e;
        long long ll;
        if (!find_line(buf, len, 1, &e)) {
            if (len > RPARSE_INLINE_MAX) {
                *err = "Protocol error: too big mbulk count string";
                return RPARSE_ERROR;
            }
            return RPARSE_MORE;
        }
        if (e > RPARSE_INLINE_MAX) {
            *err = "Protocol error: too big mbulk count string";
            return RPARSE_ERROR;
        }
        if (buf[e + 1] != '\n' || !rparse_ll(buf + 1, e - 1, &ll) || ll > INT_MAX ||
            (ll > 0 && (unsigned long long)ll > lim->max_argc)) {
            *err = "Protocol error: invalid multibulk length";
            return RPARSE_ERROR;
        }
        if (ll > 0 && (unsigned long long)ll > max_argc) {
            *err = "Protocol error: unauthenticated multibulk length";
            return RPARSE_ERROR;
        }
        if (ll <= 0) {
            *consumed = e + 2; /* an empty command: skipped */
            p->argc = 0;
            return RPARSE_DONE;
        }
        p->in_multibulk = 1;
        p->mb_total = (size_t)ll;
        p->pos = e + 2;
        p->bulk_len = -1;
        p->nargs = 0;
    }

    while (p->nargs < p->mb_total) {
        if (p->bulk_len < 0) {
            size_t e;
            long long ll;
            if (p->pos >= len)
                return RPARSE_MORE;
            if (buf[p->pos] != '$') {
                uint8_t c = buf[p->pos];
                snprintf(p->errbuf, sizeof p->errbuf, "Protocol error: expected '$', got '%c'",
                         c >= 32 && c < 127 ? c : ' ');
                *err = p->errbuf;
                return RPARSE_ERROR;
            }
            if (!find_line(buf, len, p->pos, &e)) {
                if (len - p->pos > RPARSE_INLINE_MAX) {
                    *err = "Protocol error: too big bulk count string";
                    return RPARSE_ERROR;
                }
                return RPARSE_MORE;
            }
            if (e - p->pos > RPARSE_INLINE_MAX) {
                *err = "Protocol error: too big bulk count string";
                return RPARSE_ERROR;
            }
            if (buf[e + 1] != '\n' || !rparse_ll(buf + p->pos + 1, e - p->pos - 1, &ll) ||
                ll < 0 || (unsigned long long)ll > lim->max_bulk) {
                *err = "Protocol error: invalid bulk length";
                return RPARSE_ERROR;
            }
            if ((unsigned long long)ll > max_bulk) {
                *err = "Protocol error: unauthenticated bulk length";
                return RPARSE_ERROR;
            }
            p->bulk_len = ll;
            p->pos = e + 2;
        }
        size_t bl = (size_t)p->bulk_len;
        if (len - p->pos < bl + 2) {
            *need = p->pos + bl + 2;
            return RPARSE_MORE;
        }
        if (buf[p->pos + bl] != '\r' || buf[p->pos + bl + 1] != '\n') {
            *err = "Protocol error: invalid bulk terminator";
            return RPARSE_ERROR;
        }
        if (add_arg(&p->args, &p->nargs, &p->cap, p->pos, bl))
            return RPARSE_NOMEM;
        p->pos += bl + 2;
        p->bulk_len = -1;
    }

    if (set_argv(p, p->nargs))
        return RPARSE_NOMEM;
    for (size_t i = 0; i < p->nargs; i++)
        p->argv[i] = kbytes_make(buf + p->args[i].off, p->args[i].len);
    *consumed = p->pos;
    p->in_multibulk = 0;
    p->nargs = 0;
    p->pos = 0;
    return RPARSE_DONE;
}

int rparse_next(rparse *p, const uint8_t *buf, size_t len, const rparse_limits *lim,
                size_t *consumed, size_t *need, const char **err)
{
    size_t total = 0;
    *consumed = 0;
    *need = 0;
    *err = NULL;
    for (;;) {
        size_t used = 0;
        int rc;
        p->argc = 0;
        if (len == 0) {
            *consumed = total;
            return RPARSE_MORE;
        }
        if (p->in_multibulk || buf[0] == '*')
            rc = parse_multibulk(p, buf, len, lim, &used, need, err);
        else
            rc = parse_inline(p, buf, len, &used, err);
        if (rc == RPARSE_MORE && *need)
            *need += total;
        if (rc != RPARSE_DONE) {
            *consumed = total;
            return rc;
        }
        total += used;
        if (p->argc > 0) {
            *consumed = total;
            return RPARSE_DONE;
        }
        /* an empty command: skip it and go on */
        buf += used;
        len -= used;
    }
}

void rparse_reset(rparse *p)
{
    p->in_multibulk = 0;
    p->mb_total = 0;
    p->pos = 0;
    p->bulk_len = -1;
    p->nargs = 0;
    p->argc = 0;
}

void rparse_free(rparse *p)
{
    free(p->args);
    free(p->argv);
    kbuf_free(&p->scratch);
    *p = (rparse)RPARSE_INIT;
}
