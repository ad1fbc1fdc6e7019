/* raftlog.h: the Raft log and hard state, durable in SQLite (raft.db).
 *
 * Durability rules (docs/raft.md):
 *  - raft.db runs in WAL mode with synchronous=FULL: every commit is
 *    fsync'ed before raftlog_append / raftlog_save_hardstate (and the
 *    Raft additions at the end: raftlog_write...) return.
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
 * database or snapshot); remembers index and its term as the start point.
 * When a snapshot meta is stored (raftlog_save_snapshot / raftlog_write),
 * upto_index must not pass its index: KAHUNA_EBADREQ, nothing changes. */
int raftlog_compact(raftlog *l, uint64_t upto_index);

/* ---- snapshots and the cluster id (added for Raft, issue 3) ----
 * raft.db format 2 (format 1 files, from the single-node build, are
 * upgraded in place by raftlog_open). Two points are kept apart:
 *  - the compaction point (first_index - 1 and its term): below it there
 *    are no entries;
 *  - the snapshot meta: the state machine at index and the configuration
 *    there, stored with the state file. Compaction never passes it. */

/* The snapshot point: the state machine at index (term), and the Raft
 * configuration in effect there (config = raft_config_encode bytes). */
typedef struct raftlog_snapshot {
    uint64_t index;           /* 0: none */
    uint64_t term;
    uint8_t *config;          /* malloc'd when loaded (raftlog_snapshot_free) */
    size_t config_len;
} raftlog_snapshot;

/* Frees s->config and zeroes *s (not s itself). NULL is fine. */
void raftlog_snapshot_free(raftlog_snapshot *s);

/* One durable write of a Raft update, in ONE transaction (one fsync):
 *  snap (may be NULL): the log becomes empty after snap->index: every stored
 *    entry is deleted, first_index = snap->index + 1, last_index = snap->index,
 *    raftlog_term(snap->index) = snap->term, and the snapshot meta is stored;
 *  entries (n may be 0): entries[0].index may be <= last_index + 1; every
 *    stored entry with index >= entries[0].index is deleted first, then
 *    they are appended (consecutive indexes required, else KAHUNA_EBADREQ
 *    and nothing changes);
 *  hs (may be NULL): the hard state.
 * Also KAHUNA_EBADREQ, nothing changed: snap->index 0, entries that would
 * replace an entry at or below the saved commit index or the stored
 * snapshot index, entries[0] before the compaction point, terms that go
 * down. Returns 0 (durable) or KAHUNA_EIO (caller stops the node), or
 * KAHUNA_ENOMEM before anything was written. Costs
 * what raftlog_append costs (same statements, one transaction); the
 * caller keeps ownership of everything passed. */
int raftlog_write(raftlog *l, const raftlog_snapshot *snap, const raftlog_entry *entries,
                  size_t n, const raftlog_hardstate *hs);

/* Records the snapshot meta of a local snapshot (entries are not touched;
 * compaction follows with raftlog_compact(upto <= snap->index)).
 * KAHUNA_EBADREQ (nothing changes) unless compaction point <= snap->index
 * <= last_index, snap->term is the term of that entry, and snap->index is
 * not below the stored snapshot's. Durable on return. */
int raftlog_save_snapshot(raftlog *l, const raftlog_snapshot *snap);

/* The stored snapshot meta (index 0 and config NULL when none). out->config
 * is malloc'd (NULL when config_len is 0): free with raftlog_snapshot_free. */
int raftlog_load_snapshot(raftlog *l, raftlog_snapshot *out);

/* Cluster id (0 = not set yet). Setting it again to the same id does
 * nothing; to another id is KAHUNA_EMISMATCH (the data dir belongs to
 * another cluster), to 0 KAHUNA_EBADREQ. Durable on return. */
int raftlog_set_cluster_id(raftlog *l, uint64_t id);
uint64_t raftlog_cluster_id(const raftlog *l);

#endif
