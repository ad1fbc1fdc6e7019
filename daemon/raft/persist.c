/* persist.c: what is durable, and which messages must wait for it.
 *
 * The core hands out persistent state in updates (hard state, entries,
 * snapshot) and learns they are durable when the caller calls
 * raft_persisted(seq). From those reports it keeps:
 *   d_term, d_vote  the hard state known durable;
 *   d_match         the longest log prefix known durable AND equal to the
 *                   log in memory (a rewrite not yet durable lowers it).
 *
 * Every outgoing message is checked against them (raft_send):
 *   - any message of our term needs that term durable (a node must never
 *     speak in a term it could forget);
 *   - a vote request needs our own vote durable, a granted vote the vote;
 *   - a successful append answer needs the acked entries durable;
 *   - pre-votes and ReadIndex forwarding need nothing.
 * A message that passes goes to msgs_now; one that does not goes to
 * msgs_after of the update being built, which the caller sends only once
 * that update (and every earlier one) is durable: by then everything the
 * message relies on is durable, because the core's whole state is in it.
 *
 * The leader counts itself towards a quorum with d_match, so its own
 * entries commit only once its own write is durable, while its
 * AppendEntries go out before (parallel write, thesis §10.2.1). */
#include <stdlib.h>
#include <string.h>

#include "core.h"

static int needs_wait(const raft *r, const raft_msg *m)
{
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_READ_INDEX:
    case RAFT_MSG_READ_INDEX_RESP:
        return 0;
    }
    if (m->term > r->d_term)
        return 1;
    switch (m->type) {
    case RAFT_MSG_VOTE:
        return r->d_term != m->term || r->d_vote != r->id;
    case RAFT_MSG_VOTE_RESP:
        return !m->reject && (r->d_term != m->term || r->d_vote != m->to);
    case RAFT_MSG_APPEND_RESP:
        return !m->reject && r->d_match < m->index;
    }
    return 0;
}

int raft_send(raft *r, raft_msg *m)
{
    raft_msg *slot;
    if (needs_wait(r, m))
        slot = raft_vec_push(&r->after, &r->nafter, &r->capafter, sizeof *slot);
    else
        slot = raft_vec_push(&r->now, &r->nnow, &r->capnow, sizeof *slot);
    if (!slot) {
        raft_msg_free(m);
        return KAHUNA_ENOMEM;
    }
    *slot = *m;
    memset(m, 0, sizeof *m);
    return 0;
}

void raft_persist_floor(raft *r, uint64_t floor)
{
    if (r->d_match > floor)
        r->d_match = floor;
    if (r->unhanded_floor > floor)
        r->unhanded_floor = floor;
}

int raft_persist_record(raft *r, raft_update *u)
{
    if (!u->hs_changed && !u->n_entries && !u->has_snapshot && r->unhanded_floor == RAFT_NO_FLOOR)
        return 0;
    raft_record *rec = raft_vec_push(&r->recs, &r->nrecs, &r->caprecs, sizeof *rec);
    if (!rec)
        return KAHUNA_ENOMEM;
    rec->seq = ++r->next_seq;
    rec->term = u->hs.term;
    rec->vote = u->hs.vote;
    rec->has_entries = u->n_entries > 0;
    rec->has_snapshot = u->has_snapshot;
    if (u->n_entries)
        rec->last = u->entries[u->n_entries - 1].index;
    else if (u->has_snapshot)
        rec->last = u->snapshot.index;
    rec->floor = r->unhanded_floor;
    r->unhanded_floor = RAFT_NO_FLOOR;
    u->seq = rec->seq;
    return 0;
}

/* The durable prefix once recs[0] is durable: what it wrote, capped by
 * every rewrite still pending after it. */
static uint64_t durable_after_first(const raft *r)
{
    const raft_record *rec = &r->recs[0];
    uint64_t cand = (rec->has_entries || rec->has_snapshot) ? rec->last : r->d_match;
    for (size_t i = 1; i < r->nrecs; i++)
        if (cand > r->recs[i].floor)
            cand = r->recs[i].floor;
    if (cand > r->unhanded_floor)
        cand = r->unhanded_floor;
    return cand;
}

int raft_persist_done(raft *r, uint64_t seq)
{
    size_t k = 0;
    while (k < r->nrecs && r->recs[k].seq <= seq)
        k++;
    if (k == 0)
        return 0;
    for (size_t i = 0; i < k; i++) {
        r->d_term = r->recs[0].term;
        r->d_vote = r->recs[0].vote;
        r->d_match = durable_after_first(r);
        memmove(r->recs, r->recs + 1, (r->nrecs - 1) * sizeof *r->recs);
        r->nrecs--;
    }
    raft_log_stable_to(&r->log, r->d_match);
    if (r->role != RAFT_LEADER)
        return 0;
    int moved = 0;
    int rc = raft_repl_maybe_commit(r, &moved);
    if (rc == 0 && moved)
        rc = raft_repl_on_commit(r);
    return rc;
}
