/* cmd_bits.c: bit and comparison commands on string values: SETBIT GETBIT
 * BITCOUNT BITPOS BITOP LCS. SETBIT and BITOP are read-modify-write
 * commands applied in the state machine (fsm/strings.c); the others read a
 * value after a read barrier and compute here, on the loop thread, with
 * Redis 7's index rules (negative indexes count from the end, BYTE/BIT
 * units). Values are at most 1 MiB, so the work per command is bounded;
 * LCS refuses inputs whose table would need more than LCS_MAX_TABLE bytes,
 * as Redis refuses more than proto-max-bulk-len. */
#include "resp_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BIT_OFFSET 4294967295LL              /* Redis: 2^32 - 1 */
#define LCS_MAX_TABLE (64LL * 1024 * 1024)

static int bit_offset(resp_ctx *x, kbytes a, long long *out)
{
    if (!resp_arg_ll(a, out) || *out < 0 || *out > MAX_BIT_OFFSET) {
        reply_error(resp_out(x), "ERR bit offset is not an integer or out of range");
        return -1;
    }
    return 0;
}

/* ---- SETBIT, GETBIT ---- */

static void setbit_cmd(resp_ctx *x)
{
    long long off;
    if (bit_offset(x, x->argv[2], &off))
        return;
    kbytes v = x->argv[3];
    if (v.n != 1 || (v.p[0] != '0' && v.p[0] != '1')) {
        reply_error(resp_out(x), "ERR bit is not an integer or out of range");
        return;
    }
    if (off >= (long long)KAHUNA_MAX_VALUE * 8) {
        resp_reply_status(resp_out(x), KAHUNA_ETOOLARGE);
        return;
    }
    if (!resp_key_ok(x->argv[1])) {
        resp_err_key(resp_out(x), x->argv[1]);
        return;
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_SETBIT;
    cmd.key = x->argv[1];
    cmd.num = off;
    if (v.p[0] == '1')
        cmd.flags = CMD_F_BIT;
    resp_propose_one(x, &cmd, WR_INT_VALUE);
}

/* The value of op->argv[1] (empty when absent), or an error reply. */
static int read_value(resp_op *op, int status, kv_record *rec, reply *r)
{
    memset(rec, 0, sizeof *rec);
    if (status) {
        resp_reply_status(r, status);
        return -1;
    }
    int rc = resp_kv_lookup(op->c->s, op->argv[1], rec, NULL);
    if (rc == KAHUNA_ENOTFOUND)
        return 0;
    if (rc) {
        resp_reply_status(r, rc);
        return -1;
    }
    return 0;
}

static void getbit_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (read_value(op, status, &rec, &r) == 0) {
        size_t byte = (size_t)(op->i1 >> 3);
        int bit = 7 - (int)(op->i1 & 7);
        reply_int(&r, byte < rec.value.len ? (rec.value.data[byte] >> bit) & 1 : 0);
    }
    kv_record_free(&rec);
    resp_op_done(op, &r);
}

static void getbit_cmd(resp_ctx *x)
{
    long long off;
    if (bit_offset(x, x->argv[2], &off))
        return;
    resp_op *op = resp_op_start(x, 1);
    if (!op)
        return;
    op->i1 = off;
    resp_op_read(op, getbit_read);
}

/* ---- BITCOUNT, BITPOS ---- */

static int popcount8(uint8_t b)
{
    return __builtin_popcount(b);
}

/* Turns Redis's start/end (in bytes, or bits with isbit) into an inclusive
 * bit range of a value of len bytes. Returns 0 when the range is empty. */
static int bit_range(long long start, long long end, int isbit, size_t len, long long *bs, long long *be)
{
    long long tot = isbit ? (long long)len * 8 : (long long)len;
    if (start < 0 && end < 0 && start > end)
        return 0;
    if (start < 0)
        start = tot + start;
    if (end < 0)
        end = tot + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= tot)
        end = tot - 1;
    if (start > end)
        return 0;
    *bs = isbit ? start : start * 8;
    *be = isbit ? end : end * 8 + 7;
    return 1;
}

static int unit_arg(kbytes a, int *isbit)
{
    if (resp_arg_is(a, "BIT"))
        *isbit = 1;
    else if (resp_arg_is(a, "BYTE"))
        *isbit = 0;
    else
        return -1;
    return 0;
}

static void bitcount_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (read_value(op, status, &rec, &r)) {
        resp_op_done(op, &r);
        return;
    }
    long long start = 0, end = -1;
    int isbit = 0;
    if (rec.revision == 0) {
        reply_int(&r, 0); /* no key: 0, whatever the arguments (as Redis) */
    } else if (op->argc == 4 || op->argc == 5) {
        if (!resp_arg_ll(op->argv[2], &start) || !resp_arg_ll(op->argv[3], &end))
            resp_err_int(&r);
        else if (op->argc == 5 && unit_arg(op->argv[4], &isbit))
            resp_err_syntax(&r);
        else
            goto count;
    } else if (op->argc == 2) {
        goto count;
    } else {
        resp_err_syntax(&r);
    }
    kv_record_free(&rec);
    resp_op_done(op, &r);
    return;
count:;
    long long bs, be, n = 0;
    if (bit_range(start, end, isbit, rec.value.len, &bs, &be)) {
        for (long long b = bs; b <= be;) {
            if ((b & 7) == 0 && b + 7 <= be) {
                n += popcount8(rec.value.data[b >> 3]);
                b += 8;
            } else {
                n += (rec.value.data[b >> 3] >> (7 - (b & 7))) & 1;
                b++;
            }
        }
    }
    reply_int(&r, n);
    kv_record_free(&rec);
    resp_op_done(op, &r);
}

static void bitcount_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 1);
    if (op)
        resp_op_read(op, bitcount_read);
}

/* BITPOS key bit [start [end [BYTE|BIT]]] */
static void bitpos_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record rec;
    if (read_value(op, status, &rec, &r)) {
        resp_op_done(op, &r);
        return;
    }
    int bit = (int)op->i1;
    if (rec.revision == 0) {
        /* no key: an endless run of zeros */
        reply_int(&r, bit ? -1 : 0);
        kv_record_free(&rec);
        resp_op_done(op, &r);
        return;
    }
    long long start = 0, end = -1;
    int isbit = 0, end_given = 0;
    if (op->argc >= 4 && op->argc <= 6) {
        if (!resp_arg_ll(op->argv[3], &start)) {
            resp_err_int(&r);
            goto out;
        }
        if (op->argc == 6 && unit_arg(op->argv[5], &isbit)) {
            resp_err_syntax(&r);
            goto out;
        }
        if (op->argc >= 5) {
            if (!resp_arg_ll(op->argv[4], &end)) {
                resp_err_int(&r);
                goto out;
            }
            end_given = 1;
        }
    } else if (op->argc != 3) {
        resp_err_syntax(&r);
        goto out;
    }
    long long bs, be;
    if (!bit_range(start, end, isbit, rec.value.len, &bs, &be)) {
        reply_int(&r, -1);
        goto out;
    }
    for (long long b = bs; b <= be;) {
        uint8_t byte = rec.value.data[b >> 3];
        if ((b & 7) == 0 && b + 7 <= be && byte == (bit ? 0x00 : 0xff)) {
            b += 8; /* a whole byte without the bit we look for */
            continue;
        }
        if (((byte >> (7 - (b & 7))) & 1) == bit) {
            reply_int(&r, b);
            goto out;
        }
        b++;
    }
    /* not found: for a clear bit with no end given, the value counts as
     * padded with zeros on the right */
    reply_int(&r, (bit == 0 && !end_given) ? be + 1 : -1);
out:
    kv_record_free(&rec);
    resp_op_done(op, &r);
}

static void bitpos_cmd(resp_ctx *x)
{
    long long bit;
    if (!resp_arg_ll(x->argv[2], &bit)) {
        resp_err_int(resp_out(x));
        return;
    }
    if (bit != 0 && bit != 1) {
        reply_error(resp_out(x), "ERR The bit argument must be 1 or 0.");
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (!op)
        return;
    op->i1 = bit;
    resp_op_read(op, bitpos_read);
}

/* ---- BITOP ---- */

static void bitop_cmd(resp_ctx *x)
{
    int op;
    kbytes o = x->argv[1];
    if (resp_arg_is(o, "AND"))
        op = CMD_BITOP_AND;
    else if (resp_arg_is(o, "OR"))
        op = CMD_BITOP_OR;
    else if (resp_arg_is(o, "XOR"))
        op = CMD_BITOP_XOR;
    else if (resp_arg_is(o, "NOT"))
        op = CMD_BITOP_NOT;
    else {
        resp_err_syntax(resp_out(x));
        return;
    }
    if (op == CMD_BITOP_NOT && x->argc != 4) {
        reply_error(resp_out(x), "ERR BITOP NOT must be called with a single source key.");
        return;
    }
    for (size_t i = 2; i < x->argc; i++) {
        if (!resp_key_ok(x->argv[i])) {
            resp_err_key(resp_out(x), x->argv[i]);
            return;
        }
    }
    kbuf list = KBUF_INIT;
    int rc = 0;
    for (size_t i = 3; i < x->argc && !rc; i++)
        rc = cmd_list_add(&list, x->argv[i]);
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CMD_KV_BITOP;
    cmd.key = x->argv[2];
    cmd.num = op;
    cmd.aux = kbytes_make(list.data, list.len);
    if (rc)
        resp_reply_status(resp_out(x), rc);
    else
        resp_propose_one(x, &cmd, WR_INT_VALUE);
    kbuf_free(&list);
}

/* ---- LCS ---- */

typedef struct lcs_range {
    uint32_t a0, a1, b0, b1;
} lcs_range;

static void lcs_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    kv_record ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    int rc = status;
    if (!rc) {
        rc = resp_kv_lookup(op->c->s, op->argv[1], &ra, NULL);
        if (rc == KAHUNA_ENOTFOUND)
            rc = 0;
    }
    if (!rc) {
        rc = resp_kv_lookup(op->c->s, op->argv[2], &rb, NULL);
        if (rc == KAHUNA_ENOTFOUND)
            rc = 0;
    }
    uint32_t *dp = NULL;
    lcs_range *ranges = NULL;
    kbuf result = KBUF_INIT;
    if (rc) {
        resp_reply_status(&r, rc);
        goto out;
    }
    int getlen = (int)(op->flags & 1), getidx = (int)(op->flags & 2), withmatchlen = (int)(op->flags & 4);
    long long minmatchlen = op->i1;
    const uint8_t *a = ra.value.data, *b = rb.value.data;
    uint32_t alen = (uint32_t)ra.value.len, blen = (uint32_t)rb.value.len;
    unsigned long long cells = (unsigned long long)(alen + 1) * (blen + 1);
    if (cells * sizeof(uint32_t) > (unsigned long long)LCS_MAX_TABLE) {
        reply_errorf(&r, "ERR Insufficient memory, transient memory for LCS exceeds %lld bytes", LCS_MAX_TABLE);
        goto out;
    }
    dp = malloc((size_t)cells * sizeof *dp);
    if (!dp) {
        reply_error(&r, "ERR Insufficient memory, failed allocating transient memory for LCS");
        goto out;
    }
#define LCS(A, B) dp[(B) + (size_t)(A) * (blen + 1)]
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                LCS(i, j) = 0;
            else if (a[i - 1] == b[j - 1])
                LCS(i, j) = LCS(i - 1, j - 1) + 1;
            else
                LCS(i, j) = LCS(i - 1, j) > LCS(i, j - 1) ? LCS(i - 1, j) : LCS(i, j - 1);
        }
    }
    uint32_t idx = LCS(alen, blen);
    int computelcs = getidx || !getlen;
    size_t nranges = 0;
    if (computelcs && (kbuf_reserve(&result, idx) ||
                       !(ranges = malloc(((size_t)idx + 1) * sizeof *ranges)))) {
        r.err = KAHUNA_ENOMEM;
        goto out;
    }
    if (computelcs)
        result.len = idx;
    /* walk back through the table (Redis's lcsCommand) */
    uint32_t i = alen, j = blen;
    uint32_t as = alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
    while (computelcs && i > 0 && j > 0) {
        int emit = 0;
        if (a[i - 1] == b[j - 1]) {
            result.data[idx - 1] = a[i - 1];
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--;
                bs--;
            } else {
                emit = 1;
            }
            if (as == 0 || bs == 0)
                emit = 1;
            idx--;
            i--;
            j--;
        } else {
            if (LCS(i - 1, j) > LCS(i, j - 1))
                i--;
            else
                j--;
            if (as != alen)
                emit = 1;
        }
        if (emit) {
            uint32_t mlen = ae - as + 1;
            if (getidx && (minmatchlen == 0 || mlen >= minmatchlen))
                ranges[nranges++] = (lcs_range){as, ae, bs, be};
            as = alen;
        }
    }
#undef LCS
    if (getidx) {
        reply_map(&r, 2);
        reply_bulk_str(&r, "matches");
        reply_array(&r, nranges);
        for (size_t k = 0; k < nranges; k++) {
            reply_array(&r, withmatchlen ? 3 : 2);
            reply_array(&r, 2);
            reply_int(&r, ranges[k].a0);
            reply_int(&r, ranges[k].a1);
            reply_array(&r, 2);
            reply_int(&r, ranges[k].b0);
            reply_int(&r, ranges[k].b1);
            if (withmatchlen)
                reply_int(&r, (long long)ranges[k].a1 - ranges[k].a0 + 1);
        }
        reply_bulk_str(&r, "len");
        reply_int(&r, dp[(size_t)alen * (blen + 1) + blen]);
    } else if (getlen) {
        reply_int(&r, dp[(size_t)alen * (blen + 1) + blen]);
    } else {
        reply_bulk(&r, result.data ? result.data : (const uint8_t *)"", result.len);
    }
out:
    free(dp);
    free(ranges);
    kbuf_free(&result);
    kv_record_free(&ra);
    kv_record_free(&rb);
    resp_op_done(op, &r);
}

/* LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] */
static void lcs_cmd(resp_ctx *x)
{
    unsigned fl = 0;
    long long minmatchlen = 0;
    for (size_t j = 3; j < x->argc; j++) {
        kbytes o = x->argv[j];
        if (resp_arg_is(o, "IDX")) {
            fl |= 2;
        } else if (resp_arg_is(o, "LEN")) {
            fl |= 1;
        } else if (resp_arg_is(o, "WITHMATCHLEN")) {
            fl |= 4;
        } else if (resp_arg_is(o, "MINMATCHLEN") && j + 1 < x->argc) {
            if (!resp_arg_ll(x->argv[++j], &minmatchlen)) {
                resp_err_int(resp_out(x));
                return;
            }
            if (minmatchlen < 0)
                minmatchlen = 0;
        } else {
            resp_err_syntax(resp_out(x));
            return;
        }
    }
    if ((fl & 1) && (fl & 2)) {
        reply_error(resp_out(x), "ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    resp_op *op = resp_op_start(x, 1);
    if (!op)
        return;
    op->flags = fl;
    op->i1 = minmatchlen;
    resp_op_read(op, lcs_read);
}

#define BIT(name, arity, flags, cls, fn, first, last, since, acl, summary, args) \
    {name, arity, flags, cls, NULL, fn, first, last, first ? 1 : 0, "bitmap", summary, since, acl, args}

const resp_command resp_cmds_bits[] = {
    BIT("SETBIT", 4, RF_WRITE | RF_DENYOOM, RC_WRITE, setbit_cmd, 1, 1, "2.2.0", "@write @bitmap @slow",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        "key offset value"),
    BIT("GETBIT", 3, RF_READONLY | RF_FAST, RC_READ, getbit_cmd, 1, 1, "2.2.0", "@read @bitmap @fast",
        "Returns a bit value by offset.", "key offset"),
    BIT("BITCOUNT", -2, RF_READONLY, RC_READ, bitcount_cmd, 1, 1, "2.6.0", "@read @bitmap @slow",
        "Counts the number of set bits (population counting) in a string.", "key [start end [BYTE|BIT]]"),
    BIT("BITPOS", -3, RF_READONLY, RC_READ, bitpos_cmd, 1, 1, "2.8.7", "@read @bitmap @slow",
        "Finds the first set (1) or clear (0) bit in a string.", "key bit [start [end [BYTE|BIT]]]"),
    BIT("BITOP", -4, RF_WRITE | RF_DENYOOM, RC_WRITE, bitop_cmd, 2, -1, "2.6.0", "@write @bitmap @slow",
        "Performs bitwise operations on multiple strings, and stores the result.",
        "AND|OR|XOR|NOT destkey key [key ...]"),
    {"LCS", -3, RF_READONLY, RC_READ, NULL, lcs_cmd, 1, 2, 1, "string", "Finds the longest common substring.",
     "7.0.0", "@read @string @slow", "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]"},
};
const size_t resp_cmds_bits_n = sizeof resp_cmds_bits / sizeof resp_cmds_bits[0];
