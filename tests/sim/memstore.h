/* memstore.h: an in-memory Raft storage for tests and the simulator: the
 * log, hard state and snapshot point exactly as a durable store would hold
 * them, with the raft_storage read callbacks over it.
 *
 * memstore_apply persists one raft_update the way docs/raft.md says a node
 * must (snapshot, then entries replacing any stored suffix, then hard
 * state). Entries are copied; the store owns its memory. */
#ifndef KAHUNA_SIM_MEMSTORE_H
#define KAHUNA_SIM_MEMSTORE_H

#include "raft/raft.h"

typedef struct memstore {
    raft_hardstate hs;
    raft_snapshot_meta snap;   /* owned */
    uint64_t prev_index;       /* entries <= prev_index are compacted */
    uint64_t prev_term;
    raft_entry *e;             /* entries prev_index+1 ... */
    size_t n, cap;
    int fail_reads;            /* tests: make the read callbacks fail */
} memstore;

void memstore_init(memstore *s);
void memstore_free(memstore *s);
/* dst = deep copy of src (dst must be free or uninitialised). */
int memstore_copy(memstore *dst, const memstore *src);
uint64_t memstore_last_index(const memstore *s);
/* Term at index, 0 and -1 when outside the store. */
int memstore_term(const memstore *s, uint64_t index, uint64_t *term);
/* Appends entries (indexes follow, or rewrite a suffix). */
int memstore_append(memstore *s, const raft_entry *e, size_t n);
int memstore_apply(memstore *s, const raft_update *u);
/* Drops entries <= to (to <= last). */
int memstore_compact(memstore *s, uint64_t to);
/* Sets the snapshot point (meta copied). */
int memstore_set_snapshot(memstore *s, const raft_snapshot_meta *m);
raft_storage memstore_storage(memstore *s);
/* raft_init describing the store, applied = max(snapshot index, applied). */
void memstore_init_of(const memstore *s, uint64_t applied, raft_init *in);

#endif
