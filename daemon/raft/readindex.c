/* readindex.c: linearizable reads without a log write (thesis §6.4).
 *
 * A read request (local, or forwarded by a follower) is queued on the
 * leader. Requests are parked until the leader has committed an entry of
 * its own term (its no-op): before that its commit index may be behind
 * entries committed by earlier leaders. At the next update (raft_update_get)
 * every queued request joins one new round: round number = ++last_round,
 * read index = the commit index now, and a heartbeat carrying the round
 * goes to every follower. A follower echoes the round in its answer; the
 * leader keeps, per follower, the highest round acked in this term. A round
 * is confirmed when a quorum of voters (the leader included) has acked it
 * or a later round: some quorum still followed us after the round started,
 * so no other leader can have committed anything we do not have. Its
 * requests are then answered with the round's index: a local request as a
 * read state, a forwarded one with READ_INDEX_RESP.
 *
 * Safety details: a request only joins a round started after it arrived
 * (never an older one); round numbers never repeat on this node, and acks
 * of other terms are dropped by the term rules, so an old round cannot
 * confirm a new request; when the leader steps down every waiting request
 * fails (ok=0 / reject) instead of being answered. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

int raft_ri_committed_in_term(raft *r)
{
    return r->role == RAFT_LEADER && r->log.commit >= r->term_start_index;
}

int raft_ri_push_state(raft *r, uint64_t id, uint64_t index, int ok)
{
    raft_read_state *s = raft_vec_push(&r->reads, &r->nreads, &r->capreads, sizeof *s);
    if (!s)
        return KAHUNA_ENOMEM;
    s->id = id;
    s->index = index;
    s->ok = ok;
    return 0;
}

static int answer(raft *r, const raft_read_req *q, uint64_t index, int ok)
{
    if (q->from == RAFT_NONE)
        return raft_ri_push_state(r, q->id, index, ok);
    raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_READ_INDEX_RESP, q->from);
    m.ctx = q->id;
    m.index = index;
    m.reject = (uint8_t)!ok;
    return raft_send(r, &m);
}

int raft_ri_request(raft *r, uint64_t id, uint64_t from)
{
    raft_readindex *ri = &r->ri;
    raft_read_req *q = raft_vec_push(&ri->queued, &ri->nq, &ri->capq, sizeof *q);
    if (!q)
        return KAHUNA_ENOMEM;
    q->id = id;
    q->from = from;
    return 0;
}

/* Confirms every round up to the highest one a quorum has acked. */
int raft_ri_on_ack(raft *r)
{
    raft_readindex *ri = &r->ri;
    if (ri->nr == 0)
        return 0;
    const raft_config *c = raft_memb_current(r);
    uint64_t acks[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < c->n && n < RAFT_MAX_SERVERS; i++) {
        const raft_server *s = &c->servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        if (s->id == r->id) {
            acks[n++] = ri->last_round;
        } else {
            const raft_progress *p = raft_pr_find(r, s->id);
            acks[n++] = p ? p->read_ack : 0;
        }
    }
    if (n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && acks[j] > acks[j - 1]; j--) {
            uint64_t t = acks[j];
            acks[j] = acks[j - 1];
            acks[j - 1] = t;
        }
    uint64_t confirmed = acks[n / 2];
    size_t done = 0;
    int rc = 0;
    for (; done < ri->nr && ri->rounds[done].round <= confirmed; done++) {
        raft_read_round *rd = &ri->rounds[done];
        for (size_t k = 0; k < rd->n && rc == 0; k++)
            rc = answer(r, &rd->reqs[k], rd->index, 1);
        free(rd->reqs);
    }
    memmove(ri->rounds, ri->rounds + done, (ri->nr - done) * sizeof *ri->rounds);
    ri->nr -= done;
    return rc;
}

int raft_ri_flush(raft *r)
{
    raft_readindex *ri = &r->ri;
    if (ri->nq == 0 || !raft_ri_committed_in_term(r))
        return 0;
    raft_read_round *rd = raft_vec_push(&ri->rounds, &ri->nr, &ri->capr, sizeof *rd);
    if (!rd)
        return KAHUNA_ENOMEM;
    rd->round = ++ri->last_round;
    rd->index = r->log.commit;
    rd->reqs = ri->queued;
    rd->n = ri->nq;
    ri->queued = NULL;
    ri->nq = ri->capq = 0;
    int rc = raft_repl_heartbeat(r);
    if (rc < 0)
        return rc;
    return raft_ri_on_ack(r);
}

int raft_ri_on_read_index(raft *r, const raft_msg *m)
{
    if (r->role != RAFT_LEADER) {
        raft_read_req q = {m->ctx, m->from};
        return answer(r, &q, 0, 0);
    }
    return raft_ri_request(r, m->ctx, m->from);
}

int raft_ri_on_read_index_resp(raft *r, const raft_msg *m)
{
    return raft_ri_push_state(r, m->ctx, m->index, !m->reject);
}

int raft_ri_fail_all(raft *r)
{
    raft_readindex *ri = &r->ri;
    int rc = 0;
    for (size_t i = 0; i < ri->nq; i++)
        if (rc == 0)
            rc = answer(r, &ri->queued[i], 0, 0);
    ri->nq = 0;
    for (size_t i = 0; i < ri->nr; i++) {
        for (size_t k = 0; k < ri->rounds[i].n; k++)
            if (rc == 0)
                rc = answer(r, &ri->rounds[i].reqs[k], 0, 0);
        free(ri->rounds[i].reqs);
    }
    ri->nr = 0;
    return rc;
}

void raft_ri_free(raft_readindex *ri)
{
    free(ri->queued);
    for (size_t i = 0; i < ri->nr; i++)
        free(ri->rounds[i].reqs);
    free(ri->rounds);
    memset(ri, 0, sizeof *ri);
}
