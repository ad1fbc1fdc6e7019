/* parse.h: the RESP request parser: RESP2 multibulk frames
 * ("*2\r\n$3\r\nGET\r\n$1\r\na\r\n") and inline commands ("GET a\r\n", so
 * telnet and nc work), with Redis's rules and error texts.
 *
 * It is pure (no I/O) and incremental: it is handed the bytes received so
 * far for a connection and either returns one complete command, or says it
 * needs more bytes and remembers how far it got, so a large frame that
 * arrives in many pieces is scanned once, not once per piece. Multibulk
 * arguments point into the caller's buffer (zero copy); inline arguments,
 * which may contain escapes, are unescaped into the parser's own scratch
 * buffer.
 *
 * Every length is checked against limits before anything is allocated, so
 * a hostile count ("*2147483647") costs nothing. */
#ifndef KAHUNA_RESP_PARSE_H
#define KAHUNA_RESP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Redis's PROTO_INLINE_MAX_SIZE: an inline command, or the count line of a
 * multibulk frame, longer than this is a protocol error. */
#define RPARSE_INLINE_MAX (64 * 1024)

typedef struct rparse_limits {
    size_t max_argc;          /* most arguments in one command (>= 1) */
    size_t max_bulk;          /* longest single argument in bytes */
    int unauthenticated;      /* as Redis: at most 10 arguments of 16 KiB until AUTH */
} rparse_limits;

typedef struct rparse_arg {
    size_t off;               /* from the start of the command */
    size_t len;
} rparse_arg;

/* Parser state of one connection. Zero-initialise (RPARSE_INIT), free with
 * rparse_free. */
typedef struct rparse {
    /* progress through the current multibulk frame */
    int in_multibulk;
    size_t mb_total;          /* arguments announced */
    size_t pos;               /* next unparsed byte, from the command start */
    long long bulk_len;       /* announced length of the next argument, -1 before its $ line */
    rparse_arg *args;         /* arguments found so far */
    size_t nargs, cap;
    /* the complete command handed out by rparse_next */
    kbytes *argv;
    size_t argc, argv_cap;
    kbuf scratch;             /* unescaped inline arguments */
    char errbuf[64];          /* for errors that quote the input */
} rparse;

#define RPARSE_INIT {0, 0, 0, -1, NULL, 0, 0, NULL, 0, 0, KBUF_INIT, {0}}

enum {
    RPARSE_MORE = 0,          /* incomplete: call again with more bytes */
    RPARSE_DONE = 1,          /* p->argv[0..argc) is a command (argc >= 1) */
    RPARSE_ERROR = 2,         /* protocol error: *err says what; close the connection */
    RPARSE_NOMEM = 3,         /* out of memory */
};

/* Parses the next command from buf[0..len), which must start where the
 * previous command ended (the caller drops consumed bytes; it may move or
 * grow the buffer between calls, the state keeps offsets only). Empty
 * commands (blank lines, "*0\r\n", "*-1\r\n") are skipped silently, as Redis
 * does. On RPARSE_DONE, *consumed is the size of the command (and of any
 * skipped empty ones before it) and p->argv is valid until the next call or
 * until buf changes. On RPARSE_MORE, *consumed may be > 0 when empty
 * commands were skipped, and *need is a lower bound on the number of bytes
 * (counted from buf) the command needs, so the caller can read a large
 * argument in one go. On RPARSE_ERROR, *err is a Redis-style message
 * without the "ERR " prefix ("Protocol error: invalid bulk length"), static
 * or in p->errbuf. */
int rparse_next(rparse *p, const uint8_t *buf, size_t len, const rparse_limits *lim,
                size_t *consumed, size_t *need, const char **err);

/* Forgets a partially parsed command (so parsing restarts at the command
 * start); keeps memory. */
void rparse_reset(rparse *p);

void rparse_free(rparse *p);

/* Redis's string2ll: a strict decimal integer ("-12", not "+12", " 12",
 * "012" or "1e3") that fits a long long. Returns 1 and sets *out, or 0. */
int rparse_ll(const uint8_t *s, size_t n, long long *out);

/* Splits an inline line into arguments with Redis's sdssplitargs rules:
 * spaces separate, "double quotes" take \n \r \t \b \a \\ \" and \xHH
 * escapes, 'single quotes' take \'. Appends the unescaped bytes of each
 * argument to out and their lengths (offsets into out) to args. Returns 0,
 * RPARSE_ERROR for unbalanced quotes, or RPARSE_NOMEM. */
int rparse_split_inline(const uint8_t *line, size_t n, kbuf *out, rparse_arg **args,
                        size_t *nargs, size_t *cap);

#endif
