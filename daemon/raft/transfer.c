/* transfer.c: leadership transfer (thesis §3.10).
 *
 * The leader stops accepting proposals, brings the target's log up to its
 * own last index, then sends TIMEOUT_NOW; the target starts an election at
 * once, without a pre-vote, and its vote requests carry the transfer flag
 * so that voters ignore their leader lease. If the target has not taken
 * over within an election timeout, the transfer is abandoned and the
 * leader takes proposals again. */
#include "core.h"

static int send_timeout_now(raft *r, uint64_t to)
{
    raft_msg m;
    raft_msg_init(r, &m, RAFT_MSG_TIMEOUT_NOW, to);
    return raft_send(r, &m);
}

int raft_transfer(raft *r, uint64_t to)
{
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER)
        return KAHUNA_EUNAVAILABLE;
    if (to == r->id)
        return 0;
    if (!raft_memb_is_voter(r, to))
        return KAHUNA_EBADREQ;
    if (r->transferee == to)
        return 0;
    raft_progress *p = raft_pr_find(r, to);
    if (!p)
        return KAHUNA_EBADREQ;
    r->transferee = to;
    r->transfer_elapsed = 0;
    int rc;
    if (p->match == raft_log_last_index(&r->log))
        rc = send_timeout_now(r, to);
    else
        rc = raft_repl_send_append(r, p, 1);
    return rc < 0 ? raft_fail(r, rc) : 0;
}

int raft_xfer_on_match(raft *r, raft_progress *p)
{
    if (r->transferee == p->id && p->match == raft_log_last_index(&r->log))
        return send_timeout_now(r, p->id);
    return 0;
}

void raft_xfer_abort(raft *r)
{
    r->transferee = RAFT_NONE;
    r->transfer_elapsed = 0;
}

int raft_xfer_tick(raft *r)
{
    if (r->transferee != RAFT_NONE && ++r->transfer_elapsed >= r->o.election_ticks)
        raft_xfer_abort(r);
    return 0;
}

int raft_xfer_on_timeout_now(raft *r, const raft_msg *m)
{
    (void)m;
    return raft_elect_campaign(r, 0, 1);
}
