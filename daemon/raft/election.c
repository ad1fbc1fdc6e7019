/* election.c: leader election with PreVote and CheckQuorum.
 *
 * Timers: followers and candidates count ticks since they last heard from a
 * leader (or started an election); at the randomised timeout a voter starts
 * a pre-election (thesis §9.6): it asks for votes for term+1 without
 * changing its term or vote, and only when a quorum would vote for it does
 * it become a candidate (term+1, vote for itself, RequestVote). A node that
 * is not a voter in its current configuration never campaigns.
 *
 * Voting (§5.2, §5.4.1): one vote per term, only for a candidate whose log
 * is at least as up to date (last term, then last index). A pre-vote is
 * granted under the same log rule to any term above ours, and changes
 * nothing here.
 *
 * Lease (§4.2.3): a node that heard from a leader less than election_ticks
 * ago ignores (pre)vote requests of higher terms, unless they come from a
 * leader transfer. CheckQuorum: a leader that has not heard from a quorum
 * of voters within an election timeout steps down, so a partitioned leader
 * stops acting as one and the lease of the others is sound. */
#include <string.h>

#include "core.h"

int raft_elect_promotable(const raft *r)
{
    return raft_memb_is_voter(r, r->id);
}

int raft_elect_in_lease(const raft *r)
{
    return r->o.check_quorum && r->leader != RAFT_NONE &&
           r->election_elapsed < r->o.election_ticks;
}

/* Records the answer of voter id (the first answer counts); returns the
 * tally in *granted / *rejected. */
static int poll(raft *r, uint64_t id, int granted, size_t *yes, size_t *no)
{
    int known = 0;
    for (size_t i = 0; i < r->nvotes; i++)
        if (r->votes[i].id == id)
            known = 1;
    if (!known && raft_memb_is_voter(r, id)) {
        raft_vote *v = raft_vec_push(&r->votes, &r->nvotes, &r->capvotes, sizeof *v);
        if (!v)
            return KAHUNA_ENOMEM;
        v->id = id;
        v->granted = granted;
    }
    *yes = *no = 0;
    for (size_t i = 0; i < r->nvotes; i++) {
        if (!raft_memb_is_voter(r, r->votes[i].id))
            continue;
        if (r->votes[i].granted)
            (*yes)++;
        else
            (*no)++;
    }
    return 0;
}

/* The outcome of a tally: 1 won, -1 lost, 0 open. */
static int tally(raft *r, size_t yes, size_t no)
{
    size_t q = raft_memb_quorum(r);
    if (yes >= q)
        return 1;
    if (no + q > raft_config_voters(raft_memb_current(r)))
        return -1;
    return 0;
}

int raft_elect_campaign(raft *r, int prevote, int transfer)
{
    if (!raft_elect_promotable(r))
        return 0;
    int rc = prevote ? raft_become_precandidate(r) : raft_become_candidate(r);
    if (rc < 0)
        return rc;
    size_t yes, no;
    rc = poll(r, r->id, 1, &yes, &no);
    if (rc < 0)
        return rc;
    if (tally(r, yes, no) == 1)
        return prevote ? raft_elect_campaign(r, 0, transfer) : raft_become_leader(r);
    uint64_t last = raft_log_last_index(&r->log), last_term;
    rc = raft_log_last_term(&r->log, &last_term);
    if (rc < 0)
        return rc;
    const raft_config *c = raft_memb_current(r);
    for (size_t i = 0; i < c->n; i++) {
        const raft_server *s = &c->servers[i];
        if (s->role != RAFT_VOTER || s->id == r->id)
            continue;
        raft_msg m;
        raft_msg_init(r, &m, prevote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id);
        m.term = prevote ? r->term + 1 : r->term;
        m.index = last;
        m.log_term = last_term;
        m.transfer = (uint8_t)(transfer != 0);
        rc = raft_send(r, &m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int raft_elect_on_vote(raft *r, const raft_msg *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    uint64_t last = raft_log_last_index(&r->log), last_term;
    int rc = raft_log_last_term(&r->log, &last_term);
    if (rc < 0)
        return rc;
    int can_vote = r->vote == m->from ||
                   (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
                   (pre && m->term > r->term);
    int up_to_date = m->log_term > last_term ||
                     (m->log_term == last_term && m->index >= last);
    raft_msg resp;
    raft_msg_init(r, &resp, pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP, m->from);
    if (can_vote && up_to_date) {
        resp.term = m->term;
        if (!pre) {
            r->vote = m->from;
            r->election_elapsed = 0;
        }
    } else {
        resp.reject = 1;
    }
    return raft_send(r, &resp);
}

int raft_elect_on_vote_resp(raft *r, const raft_msg *m)
{
    if (r->role == RAFT_PRECANDIDATE && !m->reject && m->term != r->term + 1)
        return 0;
    size_t yes, no;
    int rc = poll(r, m->from, !m->reject, &yes, &no);
    if (rc < 0)
        return rc;
    switch (tally(r, yes, no)) {
    case 1:
        if (r->role == RAFT_PRECANDIDATE)
            return raft_elect_campaign(r, 0, 0);
        return raft_become_leader(r);
    case -1:
        return raft_become_follower(r, r->term, RAFT_NONE);
    }
    return 0;
}

int raft_elect_check_quorum(raft *r)
{
    const raft_config *c = raft_memb_current(r);
    size_t active = 0;
    for (size_t i = 0; i < c->n; i++) {
        const raft_server *s = &c->servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        if (s->id == r->id) {
            active++;
            continue;
        }
        const raft_progress *p = raft_pr_find(r, s->id);
        if (p && p->recent_active)
            active++;
    }
    for (size_t i = 0; i < r->nprs; i++)
        r->prs[i].recent_active = 0;
    if (active < raft_memb_quorum(r))
        return raft_become_follower(r, r->term, RAFT_NONE);
    return 0;
}

static int tick_leader(raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->o.election_ticks) {
        r->election_elapsed = 0;
        if (r->o.check_quorum) {
            int rc = raft_elect_check_quorum(r);
            if (rc < 0 || r->role != RAFT_LEADER)
                return rc;
        }
    }
    int rc = raft_xfer_tick(r);
    if (rc == 0)
        rc = raft_snap_tick(r);
    if (rc == 0 && r->heartbeat_elapsed >= r->o.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        rc = raft_repl_heartbeat(r);
    }
    return rc;
}

int raft_elect_tick(raft *r)
{
    if (r->role == RAFT_LEADER)
        return tick_leader(r);
    if (r->election_elapsed < UINT32_MAX)
        r->election_elapsed++;
    if (r->election_elapsed >= r->timeout && raft_elect_promotable(r)) {
        r->election_elapsed = 0;
        return raft_elect_campaign(r, r->o.prevote, 0);
    }
    return 0;
}
