/* rpc.c: the codec of forwarded requests and of the leader's answers (see
 * rpc.h for the layout).
 *
 * The bytes come from the network, so decoding trusts nothing: every length
 * is checked against what is left before it is used, fixed-size fields are
 * read only when present, reserved bytes must be zero, and the input must
 * be consumed exactly. The encoding is canonical: decoding then encoding
 * gives the same bytes back (the fuzz target checks it), so the encoder
 * refuses what the decoder would refuse.
 *
 * Field rules beyond the layout (both directions):
 *   request: flags 0; wait_ms >= 0, and 0 unless op is RPC_PROPOSE;
 *     PROPOSE: a non-empty, b empty;
 *     ADMIN_ADD: a (node id) and b (URL) non-empty;
 *     ADMIN_REMOVE: a non-empty, b empty;
 *     ADMIN_TRANSFER: a may be empty, b empty;
 *     node ids and URLs hold no NUL byte (they become C strings).
 *   answer: status 0 or negative (down to RPC_MIN_STATUS); found and
 *     has_owner 0 or 1; no owner bytes without has_owner; the owner holds
 *     no NUL byte (fsm_result.owner is a C string). */
#include "rpc.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t request_magic[4] = {'K', 'F', 'W', 'D'};
static const uint8_t result_magic[4] = {'K', 'F', 'W', 'R'};

#define RPC_VERSION 1
#define RPC_MIN_STATUS (-4096)

/* magic, version, op, flags, wait_ms, a_len, b_len */
#define REQUEST_FIXED (4 + 1 + 1 + 2 + 8 + 4 + 4)
/* magic, version, reserved u8 + u16, status, 7 x i64, found, has_owner,
 * owner_len, data_len */
#define RESULT_FIXED (4 + 1 + 1 + 2 + 4 + 7 * 8 + 1 + 1 + 4 + 4)

/* ---- big-endian writing (into a buffer reserved beforehand) ---- */

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    return p + 8;
}

static uint8_t *put_bytes(uint8_t *p, kbytes b)
{
    p = put_u32(p, (uint32_t)b.n);
    if (b.n)
        memcpy(p, b.p, b.n);
    return p + b.n;
}

/* ---- reading: a cursor that never passes the end ---- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int get_raw(reader *r, size_t n, const uint8_t **out)
{
    if (n > r->left)
        return KAHUNA_EBADREQ;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int get_u8(reader *r, uint8_t *v)
{
    const uint8_t *p;
    if (get_raw(r, 1, &p))
        return KAHUNA_EBADREQ;
    *v = p[0];
    return 0;
}

static int get_u16(reader *r, uint16_t *v)
{
    const uint8_t *p;
    if (get_raw(r, 2, &p))
        return KAHUNA_EBADREQ;
    *v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
    return 0;
}

static int get_u32(reader *r, uint32_t *v)
{
    const uint8_t *p;
    if (get_raw(r, 4, &p))
        return KAHUNA_EBADREQ;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return 0;
}

static int get_u64(reader *r, uint64_t *v)
{
    const uint8_t *p;
    if (get_raw(r, 8, &p))
        return KAHUNA_EBADREQ;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    *v = x;
    return 0;
}

/* A u32 length and that many bytes (pointing into the input). */
static int get_bytes(reader *r, kbytes *out)
{
    uint32_t n;
    const uint8_t *p;
    if (get_u32(r, &n) || get_raw(r, n, &p))
        return KAHUNA_EBADREQ;
    *out = kbytes_make(n ? p : NULL, n);
    return 0;
}

static int has_nul(kbytes b)
{
    return b.n && memchr(b.p, '\0', b.n) != NULL;
}

/* Two's complement reinterpretation, without an overflowing conversion. */
static int64_t i64_of(uint64_t u)
{
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- requests ---- */

static int request_valid(int op, int flags, int64_t wait_ms, kbytes a, kbytes b)
{
    if (flags != 0 || wait_ms < 0 || a.n > UINT32_MAX || b.n > UINT32_MAX)
        return 0;
    if ((a.n && !a.p) || (b.n && !b.p))
        return 0;
    switch (op) {
    case RPC_PROPOSE:
        return a.n > 0 && b.n == 0;
    case RPC_ADMIN_ADD:
        return wait_ms == 0 && a.n > 0 && b.n > 0 && !has_nul(a) && !has_nul(b);
    case RPC_ADMIN_REMOVE:
        return wait_ms == 0 && a.n > 0 && b.n == 0 && !has_nul(a);
    case RPC_ADMIN_TRANSFER:
        return wait_ms == 0 && b.n == 0 && !has_nul(a);
    default:
        return 0;
    }
}

int rpc_request_encode(const rpc_request *rq, kbuf *out)
{
    if (!request_valid(rq->op, rq->flags, rq->wait_ms, rq->a, rq->b))
        return KAHUNA_EBADREQ;
    if (rq->a.n + rq->b.n > SIZE_MAX - REQUEST_FIXED)
        return KAHUNA_ETOOLARGE;
    size_t total = REQUEST_FIXED + rq->a.n + rq->b.n;
    if (kbuf_reserve(out, total))
        return KAHUNA_ENOMEM;
    uint8_t *p = out->data + out->len;
    memcpy(p, request_magic, 4);
    p += 4;
    *p++ = RPC_VERSION;
    *p++ = (uint8_t)rq->op;
    p = put_u16(p, 0);
    p = put_u64(p, (uint64_t)rq->wait_ms);
    p = put_bytes(p, rq->a);
    put_bytes(p, rq->b);
    out->len += total;
    out->data[out->len] = '\0'; /* kbuf keeps a NUL after the data */
    return 0;
}

int rpc_request_decode(kbytes in, rpc_request *out)
{
    reader r = {in.p, in.p ? in.n : 0};
    const uint8_t *magic;
    uint8_t version, op;
    uint16_t flags;
    uint64_t wait;
    kbytes a, b;

    memset(out, 0, sizeof *out);
    if (get_raw(&r, 4, &magic) || memcmp(magic, request_magic, 4) != 0)
        return KAHUNA_EBADREQ;
    if (get_u8(&r, &version) || version != RPC_VERSION)
        return KAHUNA_EBADREQ;
    if (get_u8(&r, &op) || get_u16(&r, &flags) || get_u64(&r, &wait) ||
        get_bytes(&r, &a) || get_bytes(&r, &b) || r.left != 0)
        return KAHUNA_EBADREQ;
    if (!request_valid(op, flags, i64_of(wait), a, b))
        return KAHUNA_EBADREQ;
    out->op = op;
    out->flags = flags;
    out->wait_ms = i64_of(wait);
    out->a = a;
    out->b = b;
    return 0;
}

/* ---- answers ---- */

int rpc_result_encode(const fsm_result *res, kbuf *out)
{
    if (res->status > 0 || res->status < RPC_MIN_STATUS)
        return KAHUNA_EBADREQ;
    kbytes owner = res->owner ? kbytes_str(res->owner) : kbytes_make(NULL, 0);
    kbytes data = kbytes_make(res->data.data, res->data.len);
    if (owner.n > UINT32_MAX || data.n > UINT32_MAX)
        return KAHUNA_ETOOLARGE;
    if (owner.n + data.n > SIZE_MAX - RESULT_FIXED)
        return KAHUNA_ETOOLARGE;
    size_t total = RESULT_FIXED + owner.n + data.n;
    if (kbuf_reserve(out, total))
        return KAHUNA_ENOMEM;
    uint8_t *p = out->data + out->len;
    memcpy(p, result_magic, 4);
    p += 4;
    *p++ = RPC_VERSION;
    *p++ = 0;
    p = put_u16(p, 0);
    p = put_u32(p, (uint32_t)res->status);
    const int64_t ints[7] = {res->revision, res->version, res->create_revision, res->token,
                             res->ttl_ms, res->value, res->last};
    for (int i = 0; i < 7; i++)
        p = put_u64(p, (uint64_t)ints[i]);
    *p++ = res->found ? 1 : 0;
    *p++ = res->owner ? 1 : 0;
    p = put_bytes(p, owner);
    put_bytes(p, data);
    out->len += total;
    out->data[out->len] = '\0';
    return 0;
}

int rpc_result_decode(kbytes in, fsm_result *res)
{
    reader r = {in.p, in.p ? in.n : 0};
    const uint8_t *magic;
    uint8_t version, reserved8, found, has_owner;
    uint16_t reserved16;
    uint32_t status;
    uint64_t ints[7];
    kbytes owner, data;

    memset(res, 0, sizeof *res);
    if (get_raw(&r, 4, &magic) || memcmp(magic, result_magic, 4) != 0)
        return KAHUNA_EBADREQ;
    if (get_u8(&r, &version) || version != RPC_VERSION)
        return KAHUNA_EBADREQ;
    if (get_u8(&r, &reserved8) || get_u16(&r, &reserved16) || reserved8 || reserved16)
        return KAHUNA_EBADREQ;
    if (get_u32(&r, &status))
        return KAHUNA_EBADREQ;
    for (int i = 0; i < 7; i++)
        if (get_u64(&r, &ints[i]))
            return KAHUNA_EBADREQ;
    if (get_u8(&r, &found) || get_u8(&r, &has_owner) || get_bytes(&r, &owner) ||
        get_bytes(&r, &data) || r.left != 0)
        return KAHUNA_EBADREQ;
    int32_t st;
    memcpy(&st, &status, sizeof st);
    if (st > 0 || st < RPC_MIN_STATUS || found > 1 || has_owner > 1 || (!has_owner && owner.n) ||
        has_nul(owner))
        return KAHUNA_EBADREQ;

    /* Everything checked: only now allocate (at most what the input holds). */
    char *o = NULL;
    if (has_owner && !(o = kbytes_strdup(owner)))
        return KAHUNA_ENOMEM;
    if (data.n && kbuf_append(&res->data, data.p, data.n)) {
        free(o);
        kbuf_free(&res->data);
        return KAHUNA_ENOMEM;
    }
    res->status = st;
    res->revision = i64_of(ints[0]);
    res->version = i64_of(ints[1]);
    res->create_revision = i64_of(ints[2]);
    res->token = i64_of(ints[3]);
    res->ttl_ms = i64_of(ints[4]);
    res->value = i64_of(ints[5]);
    res->last = i64_of(ints[6]);
    res->found = found;
    res->owner = o;
    return 0;
}
