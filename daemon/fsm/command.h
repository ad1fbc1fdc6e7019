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
    CMD_TYPE_MAX_ = 64     /* tags below this are reserved for future commands */
} cmd_type;

/* flags */
#define CMD_F_IF_NOT_EXISTS 0x01u
#define CMD_F_IF_EXISTS 0x02u
#define CMD_F_IF_REVISION 0x04u
#define CMD_F_IF_VALUE 0x08u
#define CMD_F_FORCE 0x10u

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

#endif
