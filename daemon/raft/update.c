/* update.c: the core's output. Everything the inputs produced waits in the
 * core until the caller collects it with raft_update_get: on a leader this
 * is also the moment proposals are broadcast and a ReadIndex round starts,
 * so whatever arrived since the last update is batched. The update carries
 * the persistent part (snapshot, entries, hard state, registered with
 * persist.c under a sequence number), the messages (now / after), the
 * committed entries that are durable here, read states and soft state. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define CHECK_ERR(r) do { if ((r)->err) return (r)->err; } while (0)

int raft_has_update(const raft *r)
{
    if (r->err)
        return 1;
    if (r->nnow || r->nafter || r->nreads || r->snap_pending || r->timeout_reset)
        return 1;
    if (r->bcast_pending || (r->role == RAFT_LEADER && r->ri.nq &&
                             r->log.commit >= r->term_start_index))
        return 1;
    if (raft_log_last_index(&r->log) > r->log.handed)
        return 1;
    if (r->term != r->hs_handed.term || r->vote != r->hs_handed.vote ||
        r->log.commit != r->hs_handed.commit)
        return 1;
    uint64_t ready = r->log.commit < r->d_match ? r->log.commit : r->d_match;
    if (ready > r->log.applied)
        return 1;
    return r->role != r->soft_role || r->leader != r->soft_leader;
}

static int take_entries(raft *r, raft_update *u)
{
    raft_log *l = &r->log;
    uint64_t last = raft_log_last_index(l);
    if (last <= l->handed)
        return 0;
    size_t n = (size_t)(last - l->handed);
    size_t from = (size_t)(l->handed - l->stable_last);
    u->entries = calloc(n, sizeof *u->entries);
    if (!u->entries)
        return KAHUNA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const raft_entry *e = &l->u[from + i];
        u->entries[i] = *e;
        u->entries[i].data = NULL;
        if (e->len) {
            u->entries[i].data = malloc(e->len);
            if (!u->entries[i].data) {
                raft_entries_free(u->entries, i);
                u->entries = NULL;
                return KAHUNA_ENOMEM;
            }
            memcpy(u->entries[i].data, e->data, e->len);
        }
    }
    u->n_entries = n;
    u->truncate_from = u->entries[0].index;
    l->handed = last;
    return 0;
}

static int take_committed(raft *r, raft_update *u)
{
    raft_log *l = &r->log;
    uint64_t hi = l->commit < r->d_match ? l->commit : r->d_match;
    if (hi <= l->applied)
        return 0;
    int rc = raft_log_slice(l, l->applied + 1, hi, SIZE_MAX, r->o.max_committed_bytes,
                            &u->committed, &u->n_committed);
    if (rc < 0)
        return rc;
    l->applied = u->committed[u->n_committed - 1].index;
    return 0;
}

static int take_persistent(raft *r, raft_update *u)
{
    if (r->snap_pending) {
        int rc = raft_config_copy(&u->snapshot.config, &r->snap.config);
        if (rc < 0)
            return rc;
        u->has_snapshot = 1;
        u->snapshot.index = r->snap.index;
        u->snapshot.term = r->snap.term;
        r->snap_pending = 0;
    }
    int rc = take_entries(r, u);
    if (rc < 0)
        return rc;
    u->hs.term = r->term;
    u->hs.vote = r->vote;
    u->hs.commit = r->log.commit;
    int hard = r->term != r->hs_handed.term || r->vote != r->hs_handed.vote;
    u->hs_changed = hard || r->log.commit != r->hs_handed.commit;
    u->must_sync = hard || u->n_entries || u->has_snapshot;
    r->hs_handed = u->hs;
    return raft_persist_record(r, u);
}

int raft_update_get(raft *r, raft_update *u)
{
    memset(u, 0, sizeof *u);
    CHECK_ERR(r);
    int rc = 0;
    if (r->role == RAFT_LEADER) {
        if (r->bcast_pending) {
            r->bcast_pending = 0;
            rc = raft_repl_broadcast(r);
        }
        if (rc == 0)
            rc = raft_ri_flush(r);
    }
    if (rc == 0)
        rc = take_persistent(r, u);
    if (rc == 0)
        rc = take_committed(r, u);
    if (rc < 0) {
        raft_update_free(u);
        return raft_fail(r, rc);
    }
    u->msgs_now = r->now;
    u->n_now = r->nnow;
    u->msgs_after = r->after;
    u->n_after = r->nafter;
    u->reads = r->reads;
    u->n_reads = r->nreads;
    r->now = r->after = NULL;
    r->nnow = r->capnow = r->nafter = r->capafter = 0;
    r->reads = NULL;
    r->nreads = r->capreads = 0;
    u->soft_changed = r->role != r->soft_role || r->leader != r->soft_leader;
    r->soft_role = r->role;
    r->soft_leader = r->leader;
    u->role = r->role;
    u->leader = r->leader;
    u->term = r->term;
    u->timeout_reset = r->timeout_reset;
    r->timeout_reset = 0;
    return 0;
}

void raft_update_free(raft_update *u)
{
    if (!u)
        return;
    raft_config_free(&u->snapshot.config);
    raft_entries_free(u->entries, u->n_entries);
    raft_msgs_free(u->msgs_now, u->n_now);
    raft_msgs_free(u->msgs_after, u->n_after);
    raft_entries_free(u->committed, u->n_committed);
    free(u->reads);
    memset(u, 0, sizeof *u);
}

