/* fuzz_resp.c: fuzz target for the RESP request parser (daemon/resp/
 * parse.c) and the glob matcher (glob.c).
 *
 * Input layout: the first byte is a setting (bit 0: parse as an
 * unauthenticated client; the rest seeds how the stream is cut); the other
 * bytes are what a client sent. The stream is parsed twice, in one piece
 * and in pieces of varying sizes (as reads deliver it, the consumed bytes
 * dropped between calls), and both must see exactly the same commands and
 * the same error: the incremental parser must not depend on where reads
 * split the frames. The glob matcher gets the first bytes as a pattern and
 * the rest as a string, and must agree with plain comparison on literal
 * patterns.
 *
 * Built two ways (tests/fuzz/Makefile.inc): with clang and libFuzzer by
 * `make fuzz`, and with driver.c as a `make check` program under gcc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "resp/glob.h"
#include "resp/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c) do { if (!(c)) abort(); } while (0)

/* small limits, so that the limit paths are reached by small inputs */
static const rparse_limits LIM = {64, 300, 0};

/* Appends what the parser says to a transcript: commands, then how the
 * stream ended. */
static void note_command(kbuf *t, const rparse *p)
{
    ASSERT(p->argc >= 1);
    ASSERT(kbuf_append_byte(t, 'C') == 0);
    ASSERT(kbuf_append(t, &p->argc, sizeof p->argc) == 0);
    for (size_t i = 0; i < p->argc; i++) {
        ASSERT(kbuf_append(t, &p->argv[i].n, sizeof p->argv[i].n) == 0);
        ASSERT(kbuf_append(t, p->argv[i].p, p->argv[i].n) == 0);
    }
}

static void note_end(kbuf *t, int rc, const char *err)
{
    ASSERT(kbuf_append_byte(t, rc == RPARSE_ERROR ? 'E' : 'M') == 0);
    if (rc == RPARSE_ERROR)
        ASSERT(kbuf_append_str(t, err) == 0);
}

static void parse_whole(const uint8_t *s, size_t n, const rparse_limits *lim, kbuf *t)
{
    rparse p = RPARSE_INIT;
    size_t off = 0;
    for (;;) {
        size_t used, need;
        const char *err;
        int rc = rparse_next(&p, s + off, n - off, lim, &used, &need, &err);
        ASSERT(used <= n - off);
        off += used;
        if (rc == RPARSE_DONE) {
            ASSERT(used > 0);
            note_command(t, &p);
            continue;
        }
        ASSERT(rc == RPARSE_MORE || rc == RPARSE_ERROR);
        if (rc == RPARSE_ERROR)
            ASSERT(err && *err);
        note_end(t, rc, err);
        break;
    }
    rparse_free(&p);
}

static void parse_pieces(const uint8_t *s, size_t n, const rparse_limits *lim, unsigned seed, kbuf *t)
{
    rparse p = RPARSE_INIT;
    kbuf in = KBUF_INIT; /* as a connection's input buffer */
    size_t fed = 0, pos = 0;
    uint32_t x = seed * 2654435761u + 1;
    int rc = RPARSE_MORE;
    const char *err = NULL;
    while (rc != RPARSE_ERROR) {
        if (fed < n) {
            x = x * 1103515245u + 12345u;
            size_t chunk = 1 + (x >> 16) % 17;
            if (chunk > n - fed)
                chunk = n - fed;
            /* drop consumed bytes, as the server does, so argv pointers
             * from an earlier call would be stale */
            kbuf tail = KBUF_INIT;
            ASSERT(kbuf_append(&tail, in.data ? in.data + pos : NULL, in.len - pos) == 0);
            ASSERT(kbuf_append(&tail, s + fed, chunk) == 0);
            kbuf_free(&in);
            in = tail;
            pos = 0;
            fed += chunk;
        }
        for (;;) {
            size_t used, need;
            rc = rparse_next(&p, in.data ? in.data + pos : (const uint8_t *)"", in.len - pos, lim, &used,
                             &need, &err);
            pos += used;
            if (rc != RPARSE_DONE)
                break;
            note_command(t, &p);
        }
        if (fed == n && rc == RPARSE_MORE)
            break;
    }
    note_end(t, rc, err);
    kbuf_free(&in);
    rparse_free(&p);
}

static void fuzz_glob(const uint8_t *s, size_t n)
{
    size_t plen = n / 3 > 40 ? 40 : n / 3;
    size_t slen = n - plen > 200 ? 200 : n - plen;
    const uint8_t *pat = s, *str = s + plen;
    int m = glob_match(pat, plen, str, slen, 0);
    int mc = glob_match(pat, plen, str, slen, 1);
    ASSERT(m == 0 || m == 1);
    ASSERT(mc == 0 || mc == 1);
    uint8_t lit[40];
    size_t ln = glob_literal_prefix(pat, plen, lit);
    ASSERT(ln <= plen);
    /* every match starts with the literal prefix */
    if (m)
        ASSERT(slen >= ln && memcmp(str, lit, ln) == 0);
    if (glob_is_literal(pat, plen))
        ASSERT(m == (slen == ln && memcmp(str, lit, ln) == 0));
    /* a lone star matches everything */
    ASSERT(glob_match((const uint8_t *)"*", 1, str, slen, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    rparse_limits lim = LIM;
    lim.unauthenticated = data[0] & 1;
    const uint8_t *s = data + 1;
    size_t n = size - 1;

    kbuf whole = KBUF_INIT, pieces = KBUF_INIT;
    parse_whole(s, n, &lim, &whole);
    parse_pieces(s, n, &lim, data[0] >> 1, &pieces);
    ASSERT(whole.len == pieces.len && memcmp(whole.data, pieces.data, whole.len) == 0);
    kbuf_free(&whole);
    kbuf_free(&pieces);

    /* inline splitting on its own, with every kind of byte */
    kbuf out = KBUF_INIT;
    rparse_arg *args = NULL;
    size_t nargs = 0, cap = 0;
    int rc = rparse_split_inline(s, n, &out, &args, &nargs, &cap);
    ASSERT(rc == 0 || rc == RPARSE_ERROR);
    for (size_t i = 0; i < nargs; i++)
        ASSERT(args[i].off + args[i].len <= out.len);
    free(args);
    kbuf_free(&out);

    fuzz_glob(s, n);
    return 0;
}
