/* raftlog.h: the Raft log and hard state, durable in SQLite (raft.db).
 *
 * Durability rules (docs/raft.md):
 *  - raft.db runs in WAL mode with synchronous=FULL: every commit is
 *    fsync'ed before raftlog_append / raftlog_save_hardstate return.
 *  - A batch of entries is one transaction (group commit: one fsync).
 *  - A failed write on this path is returned as KAHUNA_EIO and the caller
 *    must stop the node; it never continues on a log it cannot trust.
 *  - Each entry row carries a CRC32 of (index, term, type, data), verified
 *    on read; a mismatch is KAHUNA_EIO.
 * The file also records the node id it belongs to, so a data dir is never
 * served under another node's name. One thread uses a raftlog at a time. */
#ifndef KAHUNA_RAFTLOG_H
#define KAHUNA_RAFTLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct raftlog raftlog;

typedef struct raftlog_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;             /* FSM_ENTRY_NOOP / COMMAND / CONFIG */
    uint8_t *data;            /* owned by whoever filled the struct */
    size_t len;
} raftlog_entry;

typedef struct raftlog_hardstate {
    uint64_t term;
    char vote[257];           /* node id voted for in term, "" = none */
    uint64_t commit;
} raftlog_hardstate;

/* Opens or creates path for node_id. KAHUNA_EMISMATCH when the file belongs
 * to another node id; KAHUNA_EIO when it cannot be opened or is corrupt. */
int raftlog_open(const char *path, const char *node_id, raftlog **out);
void raftlog_close(raftlog *l);

/* Added for kahunad's start-up message: the node id that the raft.db at
 * path belongs to, in a malloc'd *out (caller frees). KAHUNA_ENOTFOUND when
 * the file records none, KAHUNA_EIO when it cannot be read. Read-only. */
int raftlog_read_node_id(const char *path, char **out);

/* Appends entries (indexes must follow last_index, or start at or below it,
 * in which case the conflicting suffix is replaced in the same transaction).
 * Durable on return. */
int raftlog_append(raftlog *l, const raftlog_entry *entries, size_t n);

uint64_t raftlog_first_index(const raftlog *l); /* first kept entry (last_index+1 when empty) */
uint64_t raftlog_last_index(const raftlog *l);
uint64_t raftlog_last_term(const raftlog *l);
/* Term of entry index (0 for index 0 or the compacted snapshot point). */
int raftlog_term(raftlog *l, uint64_t index, uint64_t *term);

/* Reads entries [lo, hi] into *out (malloc'd array; each data malloc'd;
 * free with raftlog_entries_free), stopping early once max_bytes is passed
 * (at least one entry is returned when any exists). */
int raftlog_entries(raftlog *l, uint64_t lo, uint64_t hi, size_t max_bytes,
                    raftlog_entry **out, size_t *n);
void raftlog_entries_free(raftlog_entry *e, size_t n);

int raftlog_save_hardstate(raftlog *l, const raftlog_hardstate *hs);
int raftlog_load_hardstate(raftlog *l, raftlog_hardstate *hs);

/* Drops entries up to and including index (they are in a durable state
 * database or snapshot); remembers index and its term as the start point. */
int raftlog_compact(raftlog *l, uint64_t upto_index);

#endif
