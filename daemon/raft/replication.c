/* replication.c: AppendEntries and heartbeats, both sides, and the commit
 * rule.
 *
 * Leader: appends go out in batches (max_msg_entries / max_msg_bytes),
 * pipelined within the follower's inflight window (progress.c). A reject
 * carries a hint (index + term) so the leader skips a whole conflicting term
 * at once. The commit index moves to the highest index a quorum of voters
 * has, and only when that entry is of the leader's current term (§5.4.2,
 * Figure 8); the leader's own vote in that count is its durable log
 * (persist.c), and the commit index never passes that durable log.
 *
 * Follower: the consistency check on (prev index, prev term), the
 * conflicting suffix dropped (never at or below commit), commit =
 * min(leader commit, last new entry). Heartbeats carry commit =
 * min(follower's match, leader commit), so they never commit an entry the
 * follower has not been checked for. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

uint64_t raft_repl_self_match(const raft *r)
{
    uint64_t last = raft_log_last_index(&r->log);
    return r->d_match < last ? r->d_match : last;
}

/* Sends the next batch to p; returns 1 when a message went out. */
int raft_repl_send_append(raft *r, raft_progress *p, int even_empty)
{
    if (raft_pr_paused(r, p))
        return 0;
    uint64_t last = raft_log_last_index(&r->log);
    if (p->next > last + 1)
        p->next = last + 1;
    if (p->next == 0)
        p->next = 1;
    uint64_t prev = p->next - 1, prev_term = 0;
    int rc = raft_log_term(&r->log, prev, &prev_term);
    if (rc == KAHUNA_ECOMPACTED)
        return raft_snap_send(r, p);
    if (rc < 0)
        return rc;
    raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_APPEND, p->id);
    if (p->next <= last) {
        rc = raft_log_slice(&r->log, p->next, last, r->o.max_msg_entries, r->o.max_msg_bytes,
                            &m.entries, &m.n_entries);
        if (rc == KAHUNA_ECOMPACTED)
            return raft_snap_send(r, p);
        if (rc < 0)
            return rc;
    }
    if (m.n_entries == 0 && !even_empty)
        return 0;
    m.index = prev;
    m.log_term = prev_term;
    m.commit = r->log.commit;
    raft_pr_sent(r, p, m.n_entries ? m.entries[m.n_entries - 1].index : prev);
    rc = raft_send(r, &m);
    return rc < 0 ? rc : 1;
}

int raft_repl_broadcast(raft *r)
{
    for (size_t i = 0; i < r->nprs; i++) {
        int rc = raft_repl_send_append(r, &r->prs[i], 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int raft_repl_heartbeat(raft *r)
{
    for (size_t i = 0; i < r->nprs; i++) {
        raft_progress *p = &r->prs[i];
        raft_msg m;
        raft_msg_init(r, &m, RAFT_MSG_HEARTBEAT, p->id);
        m.commit = p->match < r->log.commit ? p->match : r->log.commit;
        m.ctx = r->ri.last_round;
        int rc = raft_send(r, &m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- commit ---- */

int raft_repl_maybe_commit(raft *r, int *moved)
{
    *moved = 0;
    const raft_config *c = raft_memb_current(r);
    uint64_t m[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < c->n && n < RAFT_MAX_SERVERS; i++) {
        const raft_server *s = &c->servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        if (s->id == r->id) {
            m[n++] = raft_repl_self_match(r);
        } else {
            const raft_progress *p = raft_pr_find(r, s->id);
            m[n++] = p ? p->match : 0;
        }
    }
    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)       /* insertion sort, descending */
        for (size_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
            uint64_t t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    uint64_t idx = m[n / 2];             /* held by n/2+1 voters */
    /* Never beyond our own durable log, even when followers were faster:
     * whatever this leader calls committed it can apply and answer at once,
     * and its hard state never names a commit index it could lose. */
    if (idx > raft_repl_self_match(r))
        idx = raft_repl_self_match(r);
    if (idx <= r->log.commit)
        return 0;
    uint64_t t;
    int rc = raft_log_term(&r->log, idx, &t);
    if (rc < 0)
        return rc;
    if (t != r->term)
        return 0;                        /* Figure 8: count only our own term */
    r->log.commit = idx;
    *moved = 1;
    return 0;
}

int raft_repl_on_commit(raft *r)
{
    r->bcast_pending = 1;
    return raft_memb_on_commit(r);
}

/* ---- follower side ---- */

static int commit_to(raft *r, uint64_t c)
{
    uint64_t last = raft_log_last_index(&r->log);
    if (c > last)
        c = last;
    if (c > r->log.commit)
        r->log.commit = c;
    return 0;
}

/* Walks back from index to the last entry whose term is <= term. */
static int conflict_by_term(raft *r, uint64_t index, uint64_t term,
                            uint64_t *out_index, uint64_t *out_term)
{
    for (;;) {
        uint64_t t;
        int rc = raft_log_term(&r->log, index, &t);
        if (rc == KAHUNA_ECOMPACTED || rc == KAHUNA_ENOTFOUND) {
            *out_index = index;
            *out_term = 0;
            return 0;
        }
        if (rc < 0)
            return rc;
        if (t <= term || index == 0) {
            *out_index = index;
            *out_term = t;
            return 0;
        }
        index--;
    }
}

/* Entries in a message must follow prev, in non-decreasing terms no newer
 * than the message, and configs must decode. */
static int check_entries(const raft_msg *m)
{
    uint64_t t = m->log_term;
    for (size_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < t || e->term > m->term ||
            e->term == 0 || e->type > RAFT_ENTRY_CONFIG || (e->len && !e->data))
            return KAHUNA_EBADREQ;
        t = e->term;
        if (e->type == RAFT_ENTRY_CONFIG) {
            raft_config c = {0};
            int rc = raft_config_decode(e->data, e->len, &c);
            raft_config_free(&c);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int reply_append(raft *r, uint64_t to, int reject, uint64_t index,
                        uint64_t hint, uint64_t hint_term)
{
    raft_msg resp;
    raft_msg_init(r, &resp, RAFT_MSG_APPEND_RESP, to);
    resp.reject = (uint8_t)reject;
    resp.index = index;
    resp.hint = hint;
    resp.log_term = hint_term;
    return raft_send(r, &resp);
}

int raft_repl_on_append(raft *r, const raft_msg *m)
{
    int rc = check_entries(m);
    if (rc < 0)
        return rc;
    if (m->index < r->log.commit)
        return reply_append(r, m->from, 0, r->log.commit, 0, 0);
    if (!raft_log_match(&r->log, m->index, m->log_term)) {
        uint64_t last = raft_log_last_index(&r->log);
        uint64_t hint = m->index < last ? m->index : last, hint_term = 0;
        rc = conflict_by_term(r, hint, m->log_term, &hint, &hint_term);
        if (rc < 0)
            return rc;
        return reply_append(r, m->from, 1, m->index, hint, hint_term);
    }
    uint64_t last_new = m->index + m->n_entries;
    for (size_t i = 0; i < m->n_entries; i++) {
        const raft_entry *e = &m->entries[i];
        if (raft_log_match(&r->log, e->index, e->term))
            continue;
        if (e->index <= r->log.commit)
            return KAHUNA_EINTERNAL;     /* a committed entry would change */
        rc = raft_log_append(r, e, m->n_entries - i);
        if (rc < 0)
            return rc;
        break;
    }
    commit_to(r, m->commit < last_new ? m->commit : last_new);
    return reply_append(r, m->from, 0, last_new, 0, 0);
}

int raft_repl_on_heartbeat(raft *r, const raft_msg *m)
{
    commit_to(r, m->commit);
    raft_msg resp;
    raft_msg_init(r, &resp, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp.ctx = m->ctx;
    return raft_send(r, &resp);
}

/* ---- leader side ---- */

static int on_reject(raft *r, raft_progress *p, const raft_msg *m)
{
    uint64_t hint = m->hint;
    if (m->log_term > 0) {
        uint64_t t;
        int rc = conflict_by_term(r, m->hint, m->log_term, &hint, &t);
        if (rc < 0)
            return rc;
    }
    if (!raft_pr_decr(p, m->index, hint))
        return 0;
    if (p->state == RAFT_PR_REPLICATE)
        raft_pr_become_probe(p);
    int rc = raft_repl_send_append(r, p, 1);
    return rc < 0 ? rc : 0;
}

int raft_repl_on_append_resp(raft *r, const raft_msg *m)
{
    raft_progress *p = raft_pr_find(r, m->from);
    if (!p)
        return 0;
    p->recent_active = 1;
    if (m->reject)
        return on_reject(r, p, m);
    if (m->index > raft_log_last_index(&r->log))
        return KAHUNA_EBADREQ;           /* acks what we never sent */
    int was_paused = raft_pr_paused(r, p);
    if (!raft_pr_update(p, m->index))
        return 0;
    if (p->state == RAFT_PR_PROBE) {
        raft_pr_become_replicate(p);
    } else if (p->state == RAFT_PR_SNAPSHOT) {
        if (p->match + 1 >= raft_log_first_index(&r->log)) {
            raft_pr_become_probe(p);
            raft_pr_become_replicate(p);
        }
    } else {
        raft_pr_inf_free_to(p, m->index);
    }
    uint64_t id = p->id;
    int moved = 0;
    int rc = raft_repl_maybe_commit(r, &moved);
    if (rc < 0)
        return rc;
    if (moved) {
        rc = raft_repl_on_commit(r);
        if (rc < 0 || r->role != RAFT_LEADER)
            return rc;
        p = raft_pr_find(r, id);
        if (!p)
            return 0;
    } else if (was_paused) {
        rc = raft_repl_send_append(r, p, 0);
        if (rc < 0)
            return rc;
    }
    while ((rc = raft_repl_send_append(r, p, 0)) == 1)
        ;
    if (rc < 0)
        return rc;
    return raft_xfer_on_match(r, p);
}

int raft_repl_on_heartbeat_resp(raft *r, const raft_msg *m)
{
    raft_progress *p = raft_pr_find(r, m->from);
    if (!p)
        return 0;
    p->recent_active = 1;
    p->probe_sent = 0;
    /* Appends (or their answers) may have been lost: free one inflight slot
     * and send what comes next, even empty, so that the follower either
     * acks or rejects and the leader finds out where it stands. */
    if (p->state == RAFT_PR_REPLICATE && p->inf_count >= r->o.max_inflight)
        raft_pr_inf_free_first(p);
    if (p->match < raft_log_last_index(&r->log)) {
        int rc = raft_repl_send_append(r, p, 1);
        if (rc < 0)
            return rc;
    }
    if (m->ctx > p->read_ack) {
        p->read_ack = m->ctx;
        return raft_ri_on_ack(r);
    }
    return 0;
}
