/* rpc.h: the body of a request a follower forwards to the leader
 * (POST /raft/v1/forward) and of the leader's answer. Pure codec: no I/O.
 *
 * Request:  magic "KFWD" | version u8 (1) | op u8 | flags u16 |
 *           wait_ms i64 | a_len u32 | a | b_len u32 | b
 *   op RPC_PROPOSE: a = an encoded command (fsm/command.h), b empty;
 *   op RPC_ADMIN_ADD / RPC_ADMIN_REMOVE / RPC_ADMIN_TRANSFER: a = node id
 *   (may be empty for TRANSFER), b = url (ADD only).
 * Answer:   magic "KFWR" | version u8 (1) | reserved u8 u16 | status i32 |
 *           revision version create_revision token ttl_ms value last (i64) |
 *           found u8 | has_owner u8 | owner_len u32 | owner | data_len u32 | data
 *   status is 0 or a KAHUNA_E* code; for admin ops only status counts.
 * Integers big-endian. Decoding checks every length against what is left,
 * the magic and version, op and flag values, and that the input is
 * consumed exactly; it never allocates more than the input holds. */
#ifndef KAHUNA_PEER_RPC_H
#define KAHUNA_PEER_RPC_H

#include <stdint.h>

#include "buf.h"
#include "fsm/fsm.h"

enum rpc_op {
    RPC_PROPOSE = 1,
    RPC_ADMIN_ADD = 2,
    RPC_ADMIN_REMOVE = 3,
    RPC_ADMIN_TRANSFER = 4,
};

#define RPC_MAX_BODY (9u * 1024 * 1024)   /* = API_PEER_MAX_BODY */

typedef struct rpc_request {
    int op;
    int flags;                /* reserved, 0 */
    int64_t wait_ms;          /* lock acquire wait (PROPOSE), else 0 */
    kbytes a;                 /* decode: points into the input */
    kbytes b;
} rpc_request;

int rpc_request_encode(const rpc_request *rq, kbuf *out);
/* KAHUNA_EBADREQ for anything malformed. */
int rpc_request_decode(kbytes in, rpc_request *out);

/* Appends the answer for res (status = res->status). */
int rpc_result_encode(const fsm_result *res, kbuf *out);
/* Fills *res (owner and data malloc'd: fsm_result_clear). KAHUNA_EBADREQ
 * for anything malformed (then *res holds nothing to free). */
int rpc_result_decode(kbytes in, fsm_result *res);

#endif
