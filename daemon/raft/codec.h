/* codec.h: the peer wire format of Raft messages (binary, versioned).
 *
 * One frame = a 24-byte header + a body:
 *   magic "KRFT" | version u8 (1) | type u8 | reserved u16 (0) |
 *   cluster_id u64 | body_len u32 | crc32 u32
 * The CRC-32 (IEEE) covers the 20 header bytes before it and the body, so
 * a flipped type or length is caught as surely as a flipped payload byte.
 * body:
 *   flags u8 (1 reject, 2 transfer) | from | to | term | index | log_term |
 *   hint | commit | ctx (u64 each) | n_entries u32 |
 *   n_entries x (index u64 | term u64 | type u8 | len u32 | data) |
 *   has_snapshot u8 [| index u64 | term u64 | config_len u32 | config]
 * Integers are big-endian. Entries appear only in APPEND, a snapshot only in
 * SNAPSHOT (config encoded as in raft_config_encode). Frames concatenate.
 *
 * Decoding trusts nothing: every length is checked against what is left,
 * the CRC and cluster id are verified before the body is read, the body
 * must be consumed exactly, and nothing is allocated beyond what the input
 * actually holds. */
#ifndef KAHUNA_RAFT_CODEC_H
#define KAHUNA_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "raft.h"

#define RAFT_CODEC_VERSION 1
#define RAFT_CODEC_HEADER 24
#define RAFT_CODEC_MAX_BODY (64u * 1024 * 1024)   /* a sane default for max_body */

/* CRC-32 (IEEE 802.3, as zlib): start with crc = 0. */
uint32_t raft_crc32(uint32_t crc, const void *p, size_t n);

/* Appends the frame of m to out. KAHUNA_ETOOLARGE when a length does not fit
 * the format, KAHUNA_EBADREQ for a message type it does not know. */
int raft_codec_encode(const raft_msg *m, uint64_t cluster_id, kbuf *out);

/* Length of the frame that starts at p, from its header: 0 with *len = 0
 * when fewer than RAFT_CODEC_HEADER bytes are there yet. Errors as for
 * raft_codec_decode (only header checks: no CRC). */
int raft_codec_frame_len(const uint8_t *p, size_t n, uint64_t cluster_id, size_t max_body,
                         size_t *len);

/* Decodes the frame at the start of p[0..n) into *m (owned by the caller:
 * raft_msg_free); *used = its length. KAHUNA_EBADREQ for anything malformed
 * (including a truncated frame), KAHUNA_EMISMATCH for another cluster id,
 * KAHUNA_ETOOLARGE for a body over max_body, KAHUNA_ENOMEM. On error *m is
 * empty. */
int raft_codec_decode(const uint8_t *p, size_t n, uint64_t cluster_id, size_t max_body,
                      raft_msg *m, size_t *used);

#endif
