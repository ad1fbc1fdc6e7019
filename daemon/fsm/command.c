/* command.c: the binary codec of replicated-log commands, and their rules.
 *
 * Encoding (version 1), all integers little-endian base-128 varints:
 *
 *   byte 0     format version, 1
 *   byte 1     command type (cmd_type)
 *   fields     tag (1 byte), length (varint), payload (length bytes)
 *
 * Tags: 1 flags, 2 key, 3 value, 4 owner, 5 aux, 6 ttl_ms, 7 if_revision,
 * 8 num, 9 now_ms. Byte fields carry their bytes as the payload; integer
 * fields carry one varint that must fill the payload exactly (flags
 * unsigned, the others zigzag-encoded int64). The encoder omits fields that
 * are zero or empty (an absent byte field decodes as empty, so an empty
 * if_value survives: CMD_F_IF_VALUE says it is there).
 *
 * Decoding is strict, so that every node reads the same entry the same way
 * and hostile bytes cannot get through: tags must appear in strictly
 * increasing order (no duplicates), an unknown tag is rejected (not
 * skipped), varints must be minimal (no padding) and fit in 64 bits, every
 * length is checked against what remains, and the decoded command must pass
 * cmd_validate. Any failure is KAHUNA_EBADREQ. A future field or command
 * gets a new tag or type value; old nodes reject what they do not know
 * rather than apply half of it.
 *
 * Types 12..24 are the read-modify-write commands of the RESP listener
 * (command.h); CMD_TXN nests complete encoded commands in its aux field, and
 * each of them is decoded, and so validated, like a top-level command.
 *
 * Validation (cmd_validate) checks, per type, the required fields, their
 * ranges, and that fields a type does not use are zero or empty (now_ms is
 * allowed on every command, as the leader may stamp it on all of them). */
#include "command.h"
#include "errors.h"

#include <string.h>

#define CMD_FORMAT_VERSION 1

enum {
    TAG_FLAGS = 1,
    TAG_KEY = 2,
    TAG_VALUE = 3,
    TAG_OWNER = 4,
    TAG_AUX = 5,
    TAG_TTL = 6,
    TAG_IF_REVISION = 7,
    TAG_NUM = 8,
    TAG_NOW = 9,
};

/* ---- varints ---- */

static size_t varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a minimal varint from p[0..n). Returns the bytes used, 0 on error. */
static size_t varint_get(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return 0;                  /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return 0;              /* padded, not minimal */
            *out = v;
            return i + 1;
        }
    }
    return 0;                          /* truncated or too long */
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ---- encoding ---- */

static int put_field(kbuf *out, uint8_t tag, const void *p, size_t n)
{
    uint8_t hdr[11];
    hdr[0] = tag;
    size_t h = 1 + varint_put(hdr + 1, n);
    int rc = kbuf_append(out, hdr, h);
    if (rc == 0)
        rc = kbuf_append(out, p, n);
    return rc;
}

static int put_uint(kbuf *out, uint8_t tag, uint64_t v)
{
    uint8_t tmp[10];
    if (v == 0)
        return 0;
    return put_field(out, tag, tmp, varint_put(tmp, v));
}

static int put_int(kbuf *out, uint8_t tag, int64_t v)
{
    return put_uint(out, tag, zigzag(v));
}

static int put_bytes(kbuf *out, uint8_t tag, kbytes b, int even_empty)
{
    if (b.n == 0 && !even_empty)
        return 0;
    return put_field(out, tag, b.p, b.n);
}

int cmd_encode(const command *cmd, kbuf *out)
{
    int rc = cmd_validate(cmd);
    if (rc)
        return rc;
    size_t start = out->len;
    uint8_t head[2] = {CMD_FORMAT_VERSION, cmd->type};
    rc = kbuf_append(out, head, sizeof head);
    if (!rc) rc = put_uint(out, TAG_FLAGS, cmd->flags);
    if (!rc) rc = put_bytes(out, TAG_KEY, cmd->key, 0);
    if (!rc) rc = put_bytes(out, TAG_VALUE, cmd->value, 0);
    if (!rc) rc = put_bytes(out, TAG_OWNER, cmd->owner, 0);
    if (!rc) rc = put_bytes(out, TAG_AUX, cmd->aux, 0);
    if (!rc) rc = put_int(out, TAG_TTL, cmd->ttl_ms);
    if (!rc) rc = put_int(out, TAG_IF_REVISION, cmd->if_revision);
    if (!rc) rc = put_int(out, TAG_NUM, cmd->num);
    if (!rc) rc = put_int(out, TAG_NOW, cmd->now_ms);
    if (rc) {
        out->len = start;              /* leave out as it was */
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

/* ---- decoding ---- */

static int get_int_payload(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0)
        return KAHUNA_EBADREQ;
    size_t used = varint_get(p, n, out);
    return used == n ? 0 : KAHUNA_EBADREQ;
}

int cmd_decode(const uint8_t *p, size_t n, command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    if (!p || n < 2 || p[0] != CMD_FORMAT_VERSION)
        return KAHUNA_EBADREQ;
    cmd->type = p[1];
    size_t off = 2;
    unsigned last_tag = 0;
    while (off < n) {
        unsigned tag = p[off++];
        if (tag <= last_tag)
            return KAHUNA_EBADREQ;     /* out of order or repeated */
        last_tag = tag;
        uint64_t len;
        size_t used = varint_get(p + off, n - off, &len);
        if (used == 0)
            return KAHUNA_EBADREQ;
        off += used;
        if (len > n - off)
            return KAHUNA_EBADREQ;
        const uint8_t *pl = p + off;
        size_t pn = (size_t)len;
        off += pn;
        uint64_t u;
        switch (tag) {
        case TAG_FLAGS:
            if (get_int_payload(pl, pn, &u) || u > UINT32_MAX)
                return KAHUNA_EBADREQ;
            cmd->flags = (uint32_t)u;
            break;
        case TAG_KEY: cmd->key = kbytes_make(pl, pn); break;
        case TAG_VALUE: cmd->value = kbytes_make(pl, pn); break;
        case TAG_OWNER: cmd->owner = kbytes_make(pl, pn); break;
        case TAG_AUX: cmd->aux = kbytes_make(pl, pn); break;
        case TAG_TTL:
        case TAG_IF_REVISION:
        case TAG_NUM:
        case TAG_NOW:
            if (get_int_payload(pl, pn, &u))
                return KAHUNA_EBADREQ;
            if (tag == TAG_TTL) cmd->ttl_ms = unzigzag(u);
            else if (tag == TAG_IF_REVISION) cmd->if_revision = unzigzag(u);
            else if (tag == TAG_NUM) cmd->num = unzigzag(u);
            else cmd->now_ms = unzigzag(u);
            break;
        default:
            return KAHUNA_EBADREQ;     /* unknown tag: rejected, never skipped */
        }
    }
    return cmd_validate(cmd) ? KAHUNA_EBADREQ : 0;
}

/* ---- validation ---- */

/* Which fields each type uses. */
enum {
    U_KEY = 1 << 0,
    U_VALUE = 1 << 1,
    U_OWNER = 1 << 2,
    U_AUX = 1 << 3,
    U_TTL = 1 << 4,
    U_NUM = 1 << 5,
};

static int check_key(kbytes k, size_t max)
{
    if (k.n == 0)
        return KAHUNA_EBADREQ;
    return k.n > max ? KAHUNA_ETOOLARGE : 0;
}

static int check_ttl(int64_t ttl, int64_t min)
{
    return ttl >= min && ttl <= KAHUNA_MAX_TTL_MS ? 0 : KAHUNA_EBADREQ;
}

int cmd_validate(const command *cmd)
{
    if (!cmd)
        return KAHUNA_EBADREQ;
    unsigned uses = 0;
    uint32_t allowed_flags = 0;
    int rc = 0;
    switch ((cmd_type)cmd->type) {
    case CMD_NOOP:
        break;
    case CMD_KV_PUT:
        uses = U_KEY | U_VALUE | U_AUX | U_TTL;
        allowed_flags = CMD_F_IF_NOT_EXISTS | CMD_F_IF_EXISTS | CMD_F_IF_REVISION | CMD_F_IF_VALUE;
        break;
    case CMD_KV_DELETE:
        uses = U_KEY;
        allowed_flags = CMD_F_IF_REVISION;
        break;
    case CMD_KV_SET_TTL:
        uses = U_KEY | U_TTL;
        break;
    case CMD_KV_EXPIRE:
    case CMD_LOCK_EXPIRE:
        uses = U_KEY | U_NUM;
        break;
    case CMD_LOCK_ACQUIRE:
    case CMD_LOCK_EXTEND:
        uses = U_KEY | U_OWNER | U_TTL;
        break;
    case CMD_LOCK_RELEASE:
        uses = U_KEY | U_OWNER;
        break;
    case CMD_SEQ_NEXT:
        uses = U_KEY | U_NUM | U_AUX;
        break;
    case CMD_SEQ_SET:
        uses = U_KEY | U_NUM;
        allowed_flags = CMD_F_FORCE;
        break;
    case CMD_SEQ_DELETE:
        uses = U_KEY;
        break;
    case CMD_KV_SET:
        uses = U_KEY | U_VALUE | U_TTL;
        allowed_flags = CMD_F_IF_NOT_EXISTS | CMD_F_IF_EXISTS | CMD_F_KEEPTTL | CMD_F_RETURN;
        break;
    case CMD_KV_GETDEL:
    case CMD_KV_GET:
        uses = U_KEY;
        break;
    case CMD_KV_TTL_IF:
        uses = U_KEY | U_TTL;
        allowed_flags = CMD_F_IF_HAS_TTL | CMD_F_IF_NO_TTL | CMD_F_IF_REVISION | CMD_F_RETURN;
        break;
    case CMD_KV_INCR:
        uses = U_KEY | U_NUM;
        break;
    case CMD_KV_INCRBYFLOAT:
    case CMD_KV_APPEND:
        uses = U_KEY | U_VALUE;
        break;
    case CMD_KV_SETRANGE:
        uses = U_KEY | U_VALUE | U_NUM;
        break;
    case CMD_KV_SETBIT:
        uses = U_KEY | U_NUM;
        allowed_flags = CMD_F_BIT;
        break;
    case CMD_KV_BITOP:
        uses = U_KEY | U_NUM | U_AUX;
        break;
    case CMD_KV_COPY:
        uses = U_KEY | U_AUX;
        allowed_flags = CMD_F_REPLACE | CMD_F_MOVE;
        break;
    case CMD_KV_FLUSH:
        break;
    case CMD_TXN:
        uses = U_AUX;
        break;
    default:
        return KAHUNA_EBADREQ;         /* unknown or reserved type */
    }

    /* Size limits first: they are 413, everything else is 400. */
    if (uses & U_KEY) {
        if ((rc = check_key(cmd->key, KAHUNA_MAX_KEY)))
            return rc;
    } else if (cmd->key.n) {
        return KAHUNA_EBADREQ;
    }
    if (uses & U_OWNER) {
        if ((rc = check_key(cmd->owner, KAHUNA_MAX_OWNER)))
            return rc;
    } else if (cmd->owner.n) {
        return KAHUNA_EBADREQ;
    }
    if (uses & U_VALUE) {
        if (cmd->value.n > KAHUNA_MAX_VALUE)
            return KAHUNA_ETOOLARGE;
    } else if (cmd->value.n) {
        return KAHUNA_EBADREQ;
    }
    if (cmd->flags & ~allowed_flags)
        return KAHUNA_EBADREQ;
    if ((cmd->key.n && !cmd->key.p) || (cmd->value.n && !cmd->value.p) ||
        (cmd->owner.n && !cmd->owner.p) || (cmd->aux.n && !cmd->aux.p))
        return KAHUNA_EBADREQ;
    if (cmd->now_ms < 0)
        return KAHUNA_EBADREQ;
    if (!(uses & U_TTL) && cmd->ttl_ms)
        return KAHUNA_EBADREQ;
    if (!(uses & U_NUM) && cmd->num)
        return KAHUNA_EBADREQ;
    if (!(uses & U_AUX) && cmd->aux.n)
        return KAHUNA_EBADREQ;

    /* if_revision: only with its flag (which only KV_PUT and KV_DELETE
     * allow), and >= 0. */
    if (cmd->flags & CMD_F_IF_REVISION) {
        if (cmd->if_revision < 0)
            return KAHUNA_EBADREQ;
    } else if (cmd->if_revision) {
        return KAHUNA_EBADREQ;
    }

    switch ((cmd_type)cmd->type) {
    case CMD_KV_PUT:
        if ((cmd->flags & CMD_F_IF_NOT_EXISTS) && (cmd->flags & CMD_F_IF_EXISTS))
            return KAHUNA_EBADREQ;
        if (cmd->flags & CMD_F_IF_VALUE) {
            if (cmd->aux.n > KAHUNA_MAX_VALUE)
                return KAHUNA_ETOOLARGE;
        } else if (cmd->aux.n) {
            return KAHUNA_EBADREQ;
        }
        return check_ttl(cmd->ttl_ms, 0);
    case CMD_KV_SET_TTL:
        return check_ttl(cmd->ttl_ms, 0);
    case CMD_KV_EXPIRE:
    case CMD_LOCK_EXPIRE:
        return cmd->num >= 1 ? 0 : KAHUNA_EBADREQ;
    case CMD_LOCK_ACQUIRE:
    case CMD_LOCK_EXTEND:
        return check_ttl(cmd->ttl_ms, 1);
    case CMD_SEQ_NEXT:
        if (cmd->aux.n > KAHUNA_MAX_IDEMPOTENCY_KEY)
            return KAHUNA_EBADREQ;
        return cmd->num >= 1 && cmd->num <= KAHUNA_MAX_SEQ_COUNT ? 0 : KAHUNA_EBADREQ;
    case CMD_SEQ_SET:
        return cmd->num >= 0 ? 0 : KAHUNA_EBADREQ;
    case CMD_KV_SET:
        if ((cmd->flags & CMD_F_IF_NOT_EXISTS) && (cmd->flags & CMD_F_IF_EXISTS))
            return KAHUNA_EBADREQ;
        if ((cmd->flags & CMD_F_KEEPTTL) && cmd->ttl_ms)
            return KAHUNA_EBADREQ;
        return check_ttl(cmd->ttl_ms, 0);
    case CMD_KV_TTL_IF:
        if ((cmd->flags & CMD_F_IF_HAS_TTL) && (cmd->flags & CMD_F_IF_NO_TTL))
            return KAHUNA_EBADREQ;
        return check_ttl(cmd->ttl_ms, -1);
    case CMD_KV_INCRBYFLOAT:
        return cmd->value.n >= 1 && cmd->value.n <= 512 ? 0 : KAHUNA_EBADREQ;
    case CMD_KV_SETRANGE:
        return cmd->num >= 0 && cmd->num <= KAHUNA_MAX_VALUE ? 0 : KAHUNA_ETOOLARGE;
    case CMD_KV_SETBIT:
        return cmd->num >= 0 && cmd->num < (int64_t)KAHUNA_MAX_VALUE * 8 ? 0 : KAHUNA_ETOOLARGE;
    case CMD_KV_BITOP: {
        if (cmd->num < CMD_BITOP_AND || cmd->num > CMD_BITOP_NOT)
            return KAHUNA_EBADREQ;
        if (cmd->aux.n > KAHUNA_MAX_TXN)
            return KAHUNA_ETOOLARGE;
        size_t off = 0, count = 0;
        kbytes item;
        while ((rc = cmd_list_next(cmd->aux, &off, &item)) == 0) {
            if ((rc = check_key(item, KAHUNA_MAX_KEY)))
                return rc;
            count++;
        }
        if (rc != KAHUNA_ENOTFOUND || count == 0 || (cmd->num == CMD_BITOP_NOT && count != 1))
            return KAHUNA_EBADREQ;
        return 0;
    }
    case CMD_KV_COPY:
        return check_key(cmd->aux, KAHUNA_MAX_KEY);
    case CMD_TXN: {
        if (cmd->aux.n > KAHUNA_MAX_TXN)
            return KAHUNA_ETOOLARGE;
        cmd_txn_reader r;
        kbytes key;
        int64_t rev;
        command sub;
        if (cmd_txn_open(cmd->aux, &r))
            return KAHUNA_EBADREQ;
        while ((rc = cmd_txn_next_watch(&r, &key, &rev)) == 0)
            if (check_key(key, KAHUNA_MAX_KEY) || rev == INT64_MIN)
                return KAHUNA_EBADREQ;   /* rev < 0: absent as of a store revision */
        if (rc != KAHUNA_ENOTFOUND)
            return KAHUNA_EBADREQ;
        while ((rc = cmd_txn_next_command(&r, &sub)) == 0) {
            switch (sub.type) {
            case CMD_NOOP:
            case CMD_KV_EXPIRE:
            case CMD_LOCK_EXPIRE:
            case CMD_TXN:
                return KAHUNA_EBADREQ;
            default:
                break;
            }
        }
        return rc == KAHUNA_ENOTFOUND ? 0 : KAHUNA_EBADREQ;
    }
    default:
        return 0;
    }
}

/* ---- lists and transactions ---- */

int cmd_list_add(kbuf *out, kbytes item)
{
    uint8_t hdr[10];
    int rc = kbuf_append(out, hdr, varint_put(hdr, item.n));
    if (!rc)
        rc = kbuf_append(out, item.p, item.n);
    return rc;
}

int cmd_list_next(kbytes list, size_t *off, kbytes *item)
{
    if (*off >= list.n)
        return KAHUNA_ENOTFOUND;
    uint64_t len;
    size_t used = varint_get(list.p + *off, list.n - *off, &len);
    if (used == 0 || len > list.n - *off - used)
        return KAHUNA_EBADREQ;
    *item = kbytes_make(list.p + *off + used, (size_t)len);
    *off += used + (size_t)len;
    return 0;
}

int cmd_txn_begin(kbuf *out, size_t nwatches)
{
    uint8_t hdr[10];
    return kbuf_append(out, hdr, varint_put(hdr, nwatches));
}

int cmd_txn_watch(kbuf *out, kbytes key, int64_t revision)
{
    uint8_t tmp[10];
    int rc = cmd_list_add(out, key);
    if (!rc)
        rc = kbuf_append(out, tmp, varint_put(tmp, zigzag(revision)));
    return rc;
}

int cmd_txn_add(kbuf *out, const command *sub)
{
    kbuf enc = KBUF_INIT;
    int rc = cmd_encode(sub, &enc);
    if (!rc)
        rc = cmd_list_add(out, kbytes_make(enc.data, enc.len));
    kbuf_free(&enc);
    return rc;
}

int cmd_txn_open(kbytes aux, cmd_txn_reader *r)
{
    uint64_t n;
    memset(r, 0, sizeof *r);
    r->aux = aux;
    size_t used = varint_get(aux.p, aux.n, &n);
    if (used == 0 || n > aux.n)
        return KAHUNA_EBADREQ;
    r->off = used;
    r->watches_left = (size_t)n;
    return 0;
}

int cmd_txn_next_watch(cmd_txn_reader *r, kbytes *key, int64_t *revision)
{
    if (r->watches_left == 0)
        return KAHUNA_ENOTFOUND;
    int rc = cmd_list_next(r->aux, &r->off, key);
    if (rc)
        return KAHUNA_EBADREQ;
    uint64_t u;
    size_t used = varint_get(r->aux.p + r->off, r->aux.n - r->off, &u);
    if (used == 0)
        return KAHUNA_EBADREQ;
    r->off += used;
    *revision = unzigzag(u);
    r->watches_left--;
    return 0;
}

int cmd_txn_next_command(cmd_txn_reader *r, command *sub)
{
    if (r->watches_left)
        return KAHUNA_EBADREQ;
    kbytes item;
    int rc = cmd_list_next(r->aux, &r->off, &item);
    if (rc)
        return rc;
    /* no transaction inside a transaction: checked before decoding, so
     * that hostile nesting cannot recurse */
    if (item.n >= 2 && item.p[1] == CMD_TXN)
        return KAHUNA_EBADREQ;
    return cmd_decode(item.p, item.n, sub) ? KAHUNA_EBADREQ : 0;
}

const char *cmd_type_name(uint8_t type)
{
    switch ((cmd_type)type) {
    case CMD_NOOP: return "noop";
    case CMD_KV_PUT: return "kv_put";
    case CMD_KV_DELETE: return "kv_delete";
    case CMD_KV_SET_TTL: return "kv_set_ttl";
    case CMD_KV_EXPIRE: return "kv_expire";
    case CMD_LOCK_ACQUIRE: return "lock_acquire";
    case CMD_LOCK_EXTEND: return "lock_extend";
    case CMD_LOCK_RELEASE: return "lock_release";
    case CMD_LOCK_EXPIRE: return "lock_expire";
    case CMD_SEQ_NEXT: return "seq_next";
    case CMD_SEQ_SET: return "seq_set";
    case CMD_SEQ_DELETE: return "seq_delete";
    case CMD_KV_SET: return "kv_set";
    case CMD_KV_GETDEL: return "kv_getdel";
    case CMD_KV_TTL_IF: return "kv_ttl_if";
    case CMD_KV_INCR: return "kv_incr";
    case CMD_KV_INCRBYFLOAT: return "kv_incrbyfloat";
    case CMD_KV_APPEND: return "kv_append";
    case CMD_KV_SETRANGE: return "kv_setrange";
    case CMD_KV_SETBIT: return "kv_setbit";
    case CMD_KV_BITOP: return "kv_bitop";
    case CMD_KV_COPY: return "kv_copy";
    case CMD_KV_FLUSH: return "kv_flush";
    case CMD_TXN: return "txn";
    case CMD_KV_GET: return "kv_get";
    default: return "unknown";
    }
}
