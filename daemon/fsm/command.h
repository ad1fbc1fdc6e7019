/* command.h: the commands of the replicated log, and their binary codec.
 *
 * Every mutation of kahuna's state is a command: the API edges (REST, RESP)
 * build one, node.c encodes it into a log entry, and after commit fsm.c
 * decodes and applies it on every node. The encoding is the on-disk and
 * on-wire format of log entries, so it is versioned and never changes
 * meaning: a new field or command gets a new tag, old ones stay readable.
 *
 * Apply must be deterministic, so a command carries everything apply needs:
 * relative TTLs (never deadlines), and the leader's wall clock `now_ms` where
 * a rule needs time (the 10-minute idempotency window of sequences). */
#ifndef KAHUNA_COMMAND_H
#define KAHUNA_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Limits of SPEC §3, checked by the edges and again by cmd_decode. */
#define KAHUNA_MAX_KEY 4096              /* keys and names: 1..4096 bytes */
#define KAHUNA_MAX_OWNER 256             /* lock owners: 1..256 bytes */
#define KAHUNA_MAX_VALUE (1024 * 1024)   /* values: 0..1 MiB */
#define KAHUNA_MAX_IDEMPOTENCY_KEY 256   /* idempotency keys: 1..256 bytes */
#define KAHUNA_MAX_TTL_MS (366LL * 24 * 3600 * 1000) /* TTLs: 1 ms .. 366 days */
#define KAHUNA_MAX_SEQ_COUNT 1000000     /* one `next` hands out at most this many */

typedef enum cmd_type {
    CMD_NOOP = 0,          /* appended by a new leader; changes nothing */
    CMD_KV_PUT = 1,        /* key, value, ttl_ms (0 = none), flags, if_revision, aux = if_value */
    CMD_KV_DELETE = 2,     /* key, flags & CMD_F_IF_REVISION -> if_revision */
    CMD_KV_SET_TTL = 3,    /* key, ttl_ms (0 removes the TTL) */
    CMD_KV_EXPIRE = 4,     /* key, num = the key's revision the leader saw expire */
    CMD_LOCK_ACQUIRE = 5,  /* key = name, owner, ttl_ms */
    CMD_LOCK_EXTEND = 6,   /* key = name, owner, ttl_ms */
    CMD_LOCK_RELEASE = 7,  /* key = name, owner */
    CMD_LOCK_EXPIRE = 8,   /* key = name, num = fencing token of the grant that expired */
    CMD_SEQ_NEXT = 9,      /* key = name, num = count, aux = idempotency key (may be empty), now_ms */
    CMD_SEQ_SET = 10,      /* key = name, num = value, flags & CMD_F_FORCE */
    CMD_SEQ_DELETE = 11,   /* key = name */
    /* Read-modify-write commands of the RESP listener (fsm/strings.c). A
     * value change keeps the key's TTL unless the command says otherwise,
     * as in Redis. Results: fsm_result.found (the key existed), .value,
     * .data (returned bytes). */
    CMD_KV_SET = 12,       /* SET with GET/KEEPTTL, GETSET: key, value, ttl_ms, flags IF_NOT_EXISTS|
                            * IF_EXISTS|KEEPTTL|RETURN; data = the old value (RETURN); ECONDITION when
                            * NX/XX refused (the old value is still returned) */
    CMD_KV_GETDEL = 13,    /* key; data = the value; ENOTFOUND */
    CMD_KV_TTL_IF = 14,    /* key, ttl_ms (> 0 sets, 0 removes, -1 deletes the key), flags IF_HAS_TTL|
                            * IF_NO_TTL|IF_REVISION|RETURN; ENOTFOUND, ECONDITION; data = value (RETURN) */
    CMD_KV_INCR = 15,      /* key, num = increment; value = the new value; ERANGE (res.last says why) */
    CMD_KV_INCRBYFLOAT = 16, /* key, value = the increment as text; data = the new value as text */
    CMD_KV_APPEND = 17,    /* key, value; value = the new length; ETOOLARGE */
    CMD_KV_SETRANGE = 18,  /* key, value, num = offset; value = the new length; ETOOLARGE */
    CMD_KV_SETBIT = 19,    /* key, num = bit offset, flags & BIT = the bit; value = the old bit */
    CMD_KV_BITOP = 20,     /* key = destination, num = CMD_BITOP_*, aux = source keys (cmd_list_*);
                            * value = the destination's length (0: deleted) */
    CMD_KV_COPY = 21,      /* key = source, aux = destination, flags REPLACE|MOVE (RENAME); the copy
                            * keeps the source's TTL; ENOTFOUND (no source), ECONDITION (the
                            * destination exists and no REPLACE, or source = destination) */
    CMD_KV_FLUSH = 22,     /* deletes every key; value = how many */
    CMD_TXN = 23,          /* aux = watches then sub-commands (cmd_txn_*): applied all together, or
                            * none (ECONDITION) when a watched key changed; data = the sub-results */
    CMD_KV_GET = 24,       /* key; data = the value, found, revision, ttl_ms: a read inside CMD_TXN */
    CMD_TYPE_MAX_ = 64     /* tags below this are reserved for future commands */
} cmd_type;

/* CMD_KV_BITOP operations */
#define CMD_BITOP_AND 1
#define CMD_BITOP_OR 2
#define CMD_BITOP_XOR 3
#define CMD_BITOP_NOT 4

/* Most bytes of the aux field of BITOP and TXN (a transaction: its
 * sub-commands and watches together). */
#define KAHUNA_MAX_TXN (8 * 1024 * 1024)

/* flags */
#define CMD_F_IF_NOT_EXISTS 0x01u
#define CMD_F_IF_EXISTS 0x02u
#define CMD_F_IF_REVISION 0x04u
#define CMD_F_IF_VALUE 0x08u
#define CMD_F_FORCE 0x10u
/* flags of the RESP read-modify-write commands */
#define CMD_F_KEEPTTL 0x20u      /* KV_SET: keep the key's TTL */
#define CMD_F_RETURN 0x40u       /* KV_SET, KV_TTL_IF: return the (old) value in data */
#define CMD_F_IF_HAS_TTL 0x80u   /* KV_TTL_IF: only when the key has a TTL */
#define CMD_F_IF_NO_TTL 0x100u   /* KV_TTL_IF: only when the key has none */
#define CMD_F_BIT 0x200u         /* KV_SETBIT: the bit to set is 1 */
#define CMD_F_REPLACE 0x400u     /* KV_COPY: overwrite the destination */
#define CMD_F_MOVE 0x800u        /* KV_COPY: delete the source (RENAME) */

/* A decoded command. Byte fields borrow memory: from the caller when it
 * builds a command, from the entry buffer after cmd_decode. */
typedef struct command {
    uint8_t type;         /* cmd_type */
    uint32_t flags;
    kbytes key;           /* key, lock name or sequence name */
    kbytes value;         /* value (KV_PUT) */
    kbytes owner;         /* lock owner */
    kbytes aux;           /* if_value (KV_PUT), idempotency key (SEQ_NEXT) */
    int64_t ttl_ms;
    int64_t if_revision;
    int64_t num;          /* count, sequence value, or generation for *_EXPIRE */
    int64_t now_ms;       /* leader's wall clock when proposed (SEQ_NEXT) */
} command;

/* Appends the encoding of cmd to out. Returns 0, the cmd_validate error, or
 * KAHUNA_ENOMEM. */
int cmd_encode(const command *cmd, kbuf *out);

/* Decodes p[0..n) into cmd (fields point into p). Hostile input safe:
 * returns KAHUNA_EBADREQ on anything malformed or over a limit. */
int cmd_decode(const uint8_t *p, size_t n, command *cmd);

/* Checks the limits and required fields of a command as built by an edge,
 * before it is proposed; cmd_decode applies the same rules. Returns 0,
 * KAHUNA_ETOOLARGE (key, value or owner over its limit) or KAHUNA_EBADREQ
 * (anything else: empty key, TTL or count out of range, unknown type...). */
int cmd_validate(const command *cmd);

/* "kv_put", "lock_acquire", ...: for logs and metrics. */
const char *cmd_type_name(uint8_t type);

/* Lists of byte strings inside a field (BITOP's source keys): each item is
 * a varint length and its bytes. cmd_list_add appends one; cmd_list_next
 * reads the item at *off (0, KAHUNA_ENOTFOUND at the end, KAHUNA_EBADREQ
 * when malformed). */
int cmd_list_add(kbuf *out, kbytes item);
int cmd_list_next(kbytes list, size_t *off, kbytes *item);

/* CMD_TXN's aux: a varint count of watches, each a key (list item) and a
 * zigzag varint revision (> 0: the key's revision must still be this one;
 * 0: the key must be absent; -(R + 1): the key was absent at store
 * revision R and must have had no version or deletion since), then the sub-commands
 * until the end, each an encoded command as a list item. Build with
 * cmd_txn_begin(count of watches), cmd_txn_watch (that many times), then
 * cmd_txn_add; read with cmd_txn_open, cmd_txn_next_watch,
 * cmd_txn_next_command. Sub-commands may be any command but NOOP, the
 * *_EXPIRE commands and TXN itself. */
int cmd_txn_begin(kbuf *out, size_t nwatches);
int cmd_txn_watch(kbuf *out, kbytes key, int64_t revision);
int cmd_txn_add(kbuf *out, const command *sub);
typedef struct cmd_txn_reader {
    kbytes aux;
    size_t off;
    size_t watches_left;
} cmd_txn_reader;
int cmd_txn_open(kbytes aux, cmd_txn_reader *r);
/* 0 with a watch, KAHUNA_ENOTFOUND when the watches are done */
int cmd_txn_next_watch(cmd_txn_reader *r, kbytes *key, int64_t *revision);
/* 0 with a decoded sub-command (pointing into aux), KAHUNA_ENOTFOUND at the
 * end; call after every watch was read */
int cmd_txn_next_command(cmd_txn_reader *r, command *sub);

#endif
