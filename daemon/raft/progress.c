/* progress.c: the leader's view of each follower (etcd design.md, thesis
 * §10.2.1).
 *
 *   probe      match point unknown: at most one AppendEntries out; the next
 *              goes after its answer or after a heartbeat answer.
 *   replicate  match known: entries stream optimistically (next moves on at
 *              send time), up to max_inflight unacked messages.
 *   snapshot   the follower needs a snapshot: no appends until it answers
 *              (or the transport reports, or snapshot_retry_ticks pass).
 *
 * A reject puts the follower back to probe from the hint it gave. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

raft_progress *raft_pr_find(raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->nprs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static raft_progress *pr_add(raft *r, uint64_t id)
{
    raft_progress *p = raft_vec_push(&r->prs, &r->nprs, &r->capprs, sizeof *r->prs);
    if (!p)
        return NULL;
    p->id = id;
    p->next = raft_log_last_index(&r->log) + 1;
    p->state = RAFT_PR_PROBE;
    return p;
}

void raft_pr_free_all(raft *r)
{
    for (size_t i = 0; i < r->nprs; i++)
        free(r->prs[i].inf);
    r->nprs = 0;
}

int raft_pr_reset_all(raft *r)
{
    raft_pr_free_all(r);
    const raft_config *c = raft_memb_current(r);
    for (size_t i = 0; i < c->n; i++)
        if (c->servers[i].id != r->id && !pr_add(r, c->servers[i].id))
            return KAHUNA_ENOMEM;
    return 0;
}

int raft_pr_sync_config(raft *r)
{
    const raft_config *c = raft_memb_current(r);
    for (size_t i = 0; i < r->nprs;) {
        if (!raft_config_find(c, r->prs[i].id)) {
            free(r->prs[i].inf);
            r->prs[i] = r->prs[r->nprs - 1];
            r->nprs--;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        uint64_t id = c->servers[i].id;
        if (id == r->id || raft_pr_find(r, id))
            continue;
        raft_progress *p = pr_add(r, id);
        if (!p)
            return KAHUNA_ENOMEM;
        p->recent_active = 1;   /* a new member gets an election timeout of grace */
    }
    return 0;
}

static void reset_state(raft_progress *p, int state)
{
    p->state = state;
    p->probe_sent = 0;
    p->pending_snapshot = 0;
    p->snap_elapsed = 0;
    p->inf_start = p->inf_count = 0;
}

void raft_pr_become_probe(raft_progress *p)
{
    if (p->state == RAFT_PR_SNAPSHOT) {
        uint64_t pending = p->pending_snapshot;
        reset_state(p, RAFT_PR_PROBE);
        p->next = (p->match > pending ? p->match : pending) + 1;
    } else {
        reset_state(p, RAFT_PR_PROBE);
        p->next = p->match + 1;
    }
}

void raft_pr_become_replicate(raft_progress *p)
{
    reset_state(p, RAFT_PR_REPLICATE);
    p->next = p->match + 1;
}

void raft_pr_become_snapshot(raft_progress *p, uint64_t index)
{
    reset_state(p, RAFT_PR_SNAPSHOT);
    p->pending_snapshot = index;
}

int raft_pr_paused(const raft *r, const raft_progress *p)
{
    switch (p->state) {
    case RAFT_PR_PROBE:
        return p->probe_sent;
    case RAFT_PR_REPLICATE:
        return p->inf_count >= r->o.max_inflight;
    default:
        return 1;
    }
}

int raft_pr_update(raft_progress *p, uint64_t index)
{
    int news = 0;
    if (p->match < index) {
        p->match = index;
        p->probe_sent = 0;
        news = 1;
    }
    if (p->next < index + 1)
        p->next = index + 1;
    return news;
}

int raft_pr_decr(raft_progress *p, uint64_t rejected, uint64_t match_hint)
{
    if (p->state == RAFT_PR_REPLICATE) {
        if (rejected <= p->match)
            return 0;   /* stale: that append was already acked */
        p->next = p->match + 1;
        return 1;
    }
    if (p->next == 0 || p->next - 1 != rejected)
        return 0;       /* stale: not the probe we are waiting for */
    uint64_t n = match_hint + 1 < rejected ? match_hint + 1 : rejected;
    p->next = n > p->match + 1 ? n : p->match + 1;
    p->probe_sent = 0;
    return 1;
}

static int inf_add(raft *r, raft_progress *p, uint64_t last)
{
    if (!p->inf) {
        p->inf = calloc(r->o.max_inflight, sizeof *p->inf);
        if (!p->inf)
            return KAHUNA_ENOMEM;
        p->inf_cap = r->o.max_inflight;
    }
    if (p->inf_count >= p->inf_cap)
        return 0;
    p->inf[(p->inf_start + p->inf_count) % p->inf_cap] = last;
    p->inf_count++;
    return 0;
}

void raft_pr_sent(raft *r, raft_progress *p, uint64_t last)
{
    if (p->state == RAFT_PR_REPLICATE) {
        if (last >= p->next) {
            p->next = last + 1;
            if (inf_add(r, p, last) < 0)
                raft_fail(r, KAHUNA_ENOMEM);
        }
    } else if (p->state == RAFT_PR_PROBE) {
        p->probe_sent = 1;
    }
}

void raft_pr_inf_free_to(raft_progress *p, uint64_t index)
{
    while (p->inf_count > 0 && p->inf[p->inf_start] <= index) {
        p->inf_start = (p->inf_start + 1) % p->inf_cap;
        p->inf_count--;
    }
}

void raft_pr_inf_free_first(raft_progress *p)
{
    if (p->inf_count == 0)
        return;
    p->inf_start = (p->inf_start + 1) % p->inf_cap;
    p->inf_count--;
}
