/* snapshot.c: log compaction and InstallSnapshot, as far as the core is
 * concerned: snapshot metadata (index, term, configuration), never the
 * state bytes, which the transport carries beside the SNAPSHOT message.
 *
 * Compaction: the caller takes a snapshot of its state machine at an
 * applied index and says so (raft_snapshot_taken); the core remembers the
 * snapshot point and forgets the log up to it, minus `trailing` entries kept
 * for followers that are only a little behind.
 *
 * Leader: a follower whose next entry is compacted gets a SNAPSHOT message
 * with the latest snapshot point, and its progress waits in the snapshot
 * state until it answers, the transport reports (raft_snapshot_status), or
 * snapshot_retry_ticks pass.
 *
 * Follower: a snapshot at or below its commit index is old news; one whose
 * last entry it already has only moves the commit index; otherwise the log
 * is replaced by the snapshot point, commit and applied jump there, the
 * configuration becomes the snapshot's, and the update carries the snapshot
 * to install. The answer (an APPEND_RESP acking the snapshot index) waits
 * until that is durable (persist.c). */
#include <stdlib.h>
#include <string.h>

#include "core.h"

int raft_snapshot_taken(raft *r, uint64_t index, uint64_t trailing,
                        raft_snapshot_meta *meta, uint64_t *compact_to)
{
    *compact_to = 0;
    if (meta)
        memset(meta, 0, sizeof *meta);
    if (r->err)
        return r->err;
    if (index <= r->snap.index)
        return 0;
    if (index > r->log.applied)
        return KAHUNA_EBADREQ;
    uint64_t term;
    int rc = raft_log_term(&r->log, index, &term);
    if (rc < 0)
        return raft_fail(r, rc == KAHUNA_ECOMPACTED ? KAHUNA_EINTERNAL : rc);
    raft_config c;
    rc = raft_memb_config_at(r, index, &c);
    if (rc < 0)
        return raft_fail(r, rc);
    raft_config_free(&r->snap.config);
    r->snap.index = index;
    r->snap.term = term;
    r->snap.config = c;
    raft_memb_compact(r, index);
    if (meta) {
        meta->index = index;
        meta->term = term;
        rc = raft_config_copy(&meta->config, &c);
        if (rc < 0)
            return raft_fail(r, rc);
    }
    uint64_t to = index > trailing ? index - trailing : 0;
    if (to <= r->log.prev_index)
        return 0;
    rc = raft_log_term(&r->log, to, &term);
    if (rc < 0)
        return raft_fail(r, rc);
    if (to > r->log.stable_last)
        return raft_fail(r, KAHUNA_EINTERNAL);   /* applied entries are durable */
    r->log.prev_index = to;
    r->log.prev_term = term;
    *compact_to = to;
    return 0;
}

int raft_snap_send(raft *r, raft_progress *p)
{
    if (r->snap.index == 0)
        return KAHUNA_EINTERNAL;     /* compacted without a snapshot */
    raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_SNAPSHOT, p->id);
    m.snapshot.index = r->snap.index;
    m.snapshot.term = r->snap.term;
    int rc = raft_config_copy(&m.snapshot.config, &r->snap.config);
    if (rc < 0)
        return rc;
    m.commit = r->log.commit;
    raft_pr_become_snapshot(p, r->snap.index);
    rc = raft_send(r, &m);
    return rc < 0 ? rc : 1;
}

int raft_snapshot_status(raft *r, uint64_t to, int ok)
{
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER)
        return 0;
    raft_progress *p = raft_pr_find(r, to);
    if (!p || p->state != RAFT_PR_SNAPSHOT)
        return 0;
    if (!ok)
        p->pending_snapshot = 0;
    raft_pr_become_probe(p);
    p->probe_sent = 1;          /* wait for an answer or a heartbeat answer */
    return 0;
}

int raft_snap_tick(raft *r)
{
    for (size_t i = 0; i < r->nprs; i++) {
        raft_progress *p = &r->prs[i];
        if (p->state != RAFT_PR_SNAPSHOT)
            continue;
        if (++p->snap_elapsed >= r->o.snapshot_retry_ticks) {
            p->pending_snapshot = 0;
            raft_pr_become_probe(p);
        }
    }
    return 0;
}

static int ack(raft *r, uint64_t to, uint64_t index)
{
    raft_msg resp;
    raft_msg_init(r, &resp, RAFT_MSG_APPEND_RESP, to);
    resp.index = index;
    return raft_send(r, &resp);
}

static int restore(raft *r, const raft_snapshot_meta *s)
{
    raft_config snapc;
    int rc = raft_config_copy(&snapc, &s->config);
    if (rc < 0)
        return rc;
    rc = raft_memb_reset(r, &s->config);
    if (rc < 0) {
        raft_config_free(&snapc);
        return rc;
    }
    raft_log *l = &r->log;
    for (size_t i = 0; i < l->un; i++)
        free(l->u[i].data);
    l->un = 0;
    l->prev_index = s->index;
    l->prev_term = s->term;
    l->stable_last = s->index;
    l->handed = s->index;
    l->commit = s->index;
    l->applied = s->index;
    raft_persist_floor(r, 0);
    raft_config_free(&r->snap.config);
    r->snap.index = s->index;
    r->snap.term = s->term;
    r->snap.config = snapc;
    r->snap_pending = 1;
    return 0;
}

int raft_snap_on_snapshot(raft *r, const raft_msg *m)
{
    const raft_snapshot_meta *s = &m->snapshot;
    if (s->index == 0 || s->term == 0 || s->term > m->term ||
        raft_config_voters(&s->config) == 0)
        return KAHUNA_EBADREQ;
    if (s->index <= r->log.commit)
        return ack(r, m->from, r->log.commit);
    if (raft_log_match(&r->log, s->index, s->term)) {
        r->log.commit = s->index;
        return ack(r, m->from, s->index);
    }
    int rc = restore(r, s);
    if (rc < 0)
        return rc;
    return ack(r, m->from, s->index);
}
