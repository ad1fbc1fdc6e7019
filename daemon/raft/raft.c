/* raft.c: the core's entry points: creation from persisted state, the term
 * rules every message goes through (Raft §5.1, with the PreVote and lease
 * exceptions), dispatch by role, role transitions, status. The output is
 * update.c; the Raft concerns themselves live in election.c,
 * replication.c, readindex.c, membership.c, snapshot.c, transfer.c and
 * persist.c; see core.h and docs/raft.md. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

void *raft_vec_push(void *arrp, size_t *n, size_t *cap, size_t size)
{
    void *arr;
    memcpy(&arr, arrp, sizeof arr);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *p = realloc(arr, nc * size);
        if (!p)
            return NULL;
        arr = p;
        memcpy(arrp, &arr, sizeof arr);
        *cap = nc;
    }
    void *slot = (char *)arr + *n * size;
    memset(slot, 0, size);
    (*n)++;
    return slot;
}

void raft_entries_free(raft_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].data);
    free(e);
}

void raft_msg_free(raft_msg *m)
{
    if (!m)
        return;
    raft_entries_free(m->entries, m->n_entries);
    m->entries = NULL;
    m->n_entries = 0;
    raft_config_free(&m->snapshot.config);
}

const char *raft_msg_type_name(int type)
{
    static const char *const names[] = {
        "none", "append", "append_resp", "vote", "vote_resp", "prevote",
        "prevote_resp", "heartbeat", "heartbeat_resp", "snapshot",
        "timeout_now", "read_index", "read_index_resp",
    };
    if (type < 0 || type > RAFT_MSG_TYPE_MAX)
        return "unknown";
    return names[type];
}

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    }
    return "unknown";
}

void raft_options_default(raft_options *o, uint64_t id)
{
    memset(o, 0, sizeof *o);
    o->id = id;
    o->election_ticks = 10;
    o->heartbeat_ticks = 1;
    o->max_msg_entries = 64;
    o->max_msg_bytes = 1024 * 1024;
    o->max_inflight = 64;
    o->max_committed_bytes = 4 * 1024 * 1024;
    o->snapshot_retry_ticks = 50;
    o->catchup_lag = 128;
    o->prevote = 1;
    o->check_quorum = 1;
}

int raft_fail(raft *r, int err)
{
    if (!r->err)
        r->err = err;
    return r->err;
}

void raft_msg_init(raft *r, raft_msg *m, int type, uint64_t to)
{
    memset(m, 0, sizeof *m);
    m->type = (uint8_t)type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
}

/* ---- creation ---- */

/* Reads the CONFIG entries of (from, last] from storage into the membership. */
static int load_configs(raft *r, uint64_t from, uint64_t last)
{
    uint64_t lo = from + 1;
    while (lo <= last) {
        raft_entry *e = NULL;
        size_t n = 0;
        int rc = raft_log_slice(&r->log, lo, last, SIZE_MAX, 4 * 1024 * 1024, &e, &n);
        if (rc < 0)
            return rc == KAHUNA_ECOMPACTED ? KAHUNA_EIO : rc;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (e[i].type == RAFT_ENTRY_CONFIG) {
                rc = raft_memb_on_append(r, &e[i]);
                if (rc == KAHUNA_EBADREQ)
                    rc = KAHUNA_EIO;   /* a stored config that does not decode */
            }
        lo = e[n - 1].index + 1;
        raft_entries_free(e, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int check_init(const raft_options *o, const raft_storage *st, const raft_init *in)
{
    if (!o || !st || !in || o->id == RAFT_NONE || o->election_ticks < 1 ||
        o->heartbeat_ticks < 1 || o->max_msg_entries < 1 || o->max_inflight < 1 ||
        !st->entries || !st->term)
        return KAHUNA_EBADREQ;
    uint64_t first = in->first_index ? in->first_index : 1;
    if (in->last_index + 1 < first)
        return KAHUNA_EBADREQ;
    if (in->snapshot.index && (in->snapshot.index + 1 < first ||
                               in->snapshot.index > in->last_index))
        return KAHUNA_EBADREQ;
    if (!in->snapshot.index && first > 1)
        return KAHUNA_EBADREQ;
    if (in->applied < in->snapshot.index || in->applied > in->last_index)
        return KAHUNA_EBADREQ;
    return 0;
}

int raft_new(const raft_options *o, const raft_storage *st, const raft_init *in, raft **out)
{
    *out = NULL;
    int rc = check_init(o, st, in);
    if (rc < 0)
        return rc;
    raft *r = calloc(1, sizeof *r);
    if (!r)
        return KAHUNA_ENOMEM;
    r->o = *o;
    r->id = o->id;
    r->role = RAFT_FOLLOWER;
    r->term = in->hs.term;
    r->vote = in->hs.vote;
    r->d_term = r->term;
    r->d_vote = r->vote;
    r->unhanded_floor = RAFT_NO_FLOOR;
    r->timeout = r->next_timeout = o->election_ticks;
    r->log.st = *st;
    uint64_t first = in->first_index ? in->first_index : 1;
    r->log.prev_index = first - 1;
    r->log.prev_term = first > 1 ? in->prev_term : 0;
    r->log.stable_last = in->last_index;
    r->log.handed = in->last_index;
    r->log.applied = in->applied;
    uint64_t commit = in->hs.commit > in->applied ? in->hs.commit : in->applied;
    r->log.commit = commit < in->last_index ? commit : in->last_index;
    r->d_match = in->last_index;
    r->snap.index = in->snapshot.index;
    r->snap.term = in->snapshot.term;
    rc = raft_config_copy(&r->snap.config, &in->snapshot.config);
    if (rc == 0)
        rc = raft_memb_reset(r, &in->snapshot.config);
    if (rc == 0)
        rc = load_configs(r, in->snapshot.index > r->log.prev_index ? in->snapshot.index
                                                                      : r->log.prev_index,
                          in->last_index);
    if (rc < 0) {
        raft_free(r);
        return rc;
    }
    r->hs_handed.term = r->term;
    r->hs_handed.vote = r->vote;
    r->hs_handed.commit = r->log.commit;
    r->soft_role = RAFT_FOLLOWER;
    r->soft_leader = RAFT_NONE;
    *out = r;
    return 0;
}

void raft_msgs_free(raft_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        raft_msg_free(&m[i]);
    free(m);
}

void raft_free(raft *r)
{
    if (!r)
        return;
    raft_log_free(&r->log);
    raft_memb_free(&r->memb);
    raft_config_free(&r->snap.config);
    raft_pr_free_all(r);
    free(r->prs);
    free(r->votes);
    raft_ri_free(&r->ri);
    free(r->recs);
    raft_msgs_free(r->now, r->nnow);
    raft_msgs_free(r->after, r->nafter);
    free(r->reads);
    free(r);
}

void raft_set_election_timeout(raft *r, unsigned ticks)
{
    r->next_timeout = ticks ? ticks : 1;
}

void raft_reset_timer(raft *r)
{
    r->election_elapsed = 0;
    r->timeout = r->next_timeout;
    r->timeout_reset = 1;
}

/* ---- roles ---- */

int raft_become_follower(raft *r, uint64_t term, uint64_t leader)
{
    int was_leader = r->role == RAFT_LEADER;
    if (term > r->term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->nvotes = 0;
    raft_reset_timer(r);
    if (was_leader) {
        raft_xfer_abort(r);
        raft_pr_free_all(r);
        r->bcast_pending = 0;
        return raft_ri_fail_all(r);
    }
    return 0;
}

int raft_become_precandidate(raft *r)
{
    r->role = RAFT_PRECANDIDATE;
    r->leader = RAFT_NONE;
    r->nvotes = 0;
    raft_reset_timer(r);
    return 0;
}

int raft_become_candidate(raft *r)
{
    r->role = RAFT_CANDIDATE;
    r->term++;
    r->vote = r->id;
    r->leader = RAFT_NONE;
    r->nvotes = 0;
    raft_reset_timer(r);
    return 0;
}

int raft_become_leader(raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->nvotes = 0;
    r->transferee = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    int rc = raft_pr_reset_all(r);
    if (rc < 0)
        return raft_fail(r, rc);
    /* The no-op of the term (§5.4.2, §8): commits everything before it and
     * lets ReadIndex and membership changes start. */
    raft_entry noop = {raft_log_last_index(&r->log) + 1, r->term, RAFT_ENTRY_NOOP, NULL, 0};
    r->term_start_index = noop.index;
    r->pending_conf_index = noop.index;
    rc = raft_log_append(r, &noop, 1);
    if (rc < 0)
        return raft_fail(r, rc);
    r->bcast_pending = 0;
    rc = raft_repl_broadcast(r);
    if (rc < 0)
        return rc;
    int moved = 0;
    rc = raft_repl_maybe_commit(r, &moved);
    if (rc == 0 && moved)
        rc = raft_repl_on_commit(r);
    return rc;
}

/* ---- inputs ---- */

#define CHECK_ERR(r) do { if ((r)->err) return (r)->err; } while (0)

int raft_tick(raft *r)
{
    CHECK_ERR(r);
    int rc = raft_elect_tick(r);
    return rc < 0 ? raft_fail(r, rc) : 0;
}

static int is_leader_msg(int type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT || type == RAFT_MSG_SNAPSHOT;
}

/* Messages of a term older than ours: tell a stale leader about the new
 * term (with PreVote and CheckQuorum a deposed leader could otherwise go on
 * forever); refuse a stale pre-vote so the pre-candidate learns our term. */
static int on_lower_term(raft *r, const raft_msg *m)
{
    raft_msg resp;
    if (is_leader_msg(m->type) && m->type != RAFT_MSG_SNAPSHOT &&
        (r->o.check_quorum || r->o.prevote)) {
        raft_msg_init(r, &resp, RAFT_MSG_APPEND_RESP, m->from);
        resp.reject = 1;
        resp.index = m->index;
        return raft_send(r, &resp);
    }
    if (m->type == RAFT_MSG_PREVOTE) {
        raft_msg_init(r, &resp, RAFT_MSG_PREVOTE_RESP, m->from);
        resp.reject = 1;
        return raft_send(r, &resp);
    }
    return 0;
}

/* Term rules; returns 1 when the message is to be dispatched. */
static int term_rules(raft *r, const raft_msg *m, int *rc)
{
    *rc = 0;
    if (m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
            /* §4.2.3 / §9.6: within the election timeout of hearing from a
             * leader, (pre)votes are ignored, unless a transfer asks. */
            if (!m->transfer && raft_elect_in_lease(r))
                return 0;
        }
        if (m->type == RAFT_MSG_PREVOTE)
            return 1;
        if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject)
            return 1;
        *rc = raft_become_follower(r, m->term, is_leader_msg(m->type) ? m->from : RAFT_NONE);
        return *rc == 0;
    }
    if (m->term < r->term) {
        *rc = on_lower_term(r, m);
        return 0;
    }
    return 1;
}

static int check_msg(const raft *r, const raft_msg *m)
{
    if (m->to != r->id || m->from == RAFT_NONE || m->from == r->id ||
        m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
        return KAHUNA_EBADREQ;
    if (m->type != RAFT_MSG_READ_INDEX && m->term == 0)
        return KAHUNA_EBADREQ;
    return 0;
}

/* Same-term message from the leader: followers learn who leads, candidates
 * of this term lost. */
static int heard_leader(raft *r, const raft_msg *m)
{
    if (r->role == RAFT_LEADER)
        return 0;   /* two leaders in one term cannot happen: drop */
    if (r->role != RAFT_FOLLOWER) {
        int rc = raft_become_follower(r, m->term, m->from);
        if (rc < 0)
            return rc;
    }
    r->leader = m->from;
    r->election_elapsed = 0;
    return 1;
}

static int dispatch(raft *r, const raft_msg *m)
{
    int rc;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        rc = heard_leader(r, m);
        if (rc <= 0)
            return rc;
        if (m->type == RAFT_MSG_APPEND)
            return raft_repl_on_append(r, m);
        if (m->type == RAFT_MSG_HEARTBEAT)
            return raft_repl_on_heartbeat(r, m);
        return raft_snap_on_snapshot(r, m);
    case RAFT_MSG_APPEND_RESP:
        return r->role == RAFT_LEADER ? raft_repl_on_append_resp(r, m) : 0;
    case RAFT_MSG_HEARTBEAT_RESP:
        return r->role == RAFT_LEADER ? raft_repl_on_heartbeat_resp(r, m) : 0;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        return raft_elect_on_vote(r, m);
    case RAFT_MSG_VOTE_RESP:
        return r->role == RAFT_CANDIDATE ? raft_elect_on_vote_resp(r, m) : 0;
    case RAFT_MSG_PREVOTE_RESP:
        return r->role == RAFT_PRECANDIDATE ? raft_elect_on_vote_resp(r, m) : 0;
    case RAFT_MSG_TIMEOUT_NOW:
        return r->role == RAFT_FOLLOWER ? raft_xfer_on_timeout_now(r, m) : 0;
    }
    return KAHUNA_EBADREQ;
}

int raft_step(raft *r, const raft_msg *m)
{
    CHECK_ERR(r);
    int rc = check_msg(r, m);
    if (rc < 0)
        return rc;
    if (m->type == RAFT_MSG_READ_INDEX)
        rc = raft_ri_on_read_index(r, m);
    else if (m->type == RAFT_MSG_READ_INDEX_RESP)
        rc = raft_ri_on_read_index_resp(r, m);
    else if (term_rules(r, m, &rc))
        rc = dispatch(r, m);
    if (rc == KAHUNA_EBADREQ)
        return rc;
    return rc < 0 ? raft_fail(r, rc) : 0;
}

int raft_propose(raft *r, uint8_t type, const void *data, size_t len,
                 uint64_t *index, uint64_t *term)
{
    CHECK_ERR(r);
    if (type != RAFT_ENTRY_NOOP && type != RAFT_ENTRY_COMMAND)
        return KAHUNA_EBADREQ;
    if (r->role != RAFT_LEADER || r->transferee != RAFT_NONE)
        return KAHUNA_EUNAVAILABLE;
    raft_entry e = {raft_log_last_index(&r->log) + 1, r->term, type, (uint8_t *)data, len};
    int rc = raft_log_append(r, &e, 1);
    if (rc < 0)
        return raft_fail(r, rc);
    r->bcast_pending = 1;
    if (index)
        *index = e.index;
    if (term)
        *term = e.term;
    return 0;
}

int raft_read_index(raft *r, uint64_t id)
{
    CHECK_ERR(r);
    int rc;
    if (r->role == RAFT_LEADER) {
        rc = raft_ri_request(r, id, RAFT_NONE);
    } else if (r->leader != RAFT_NONE) {
        raft_msg m;
        raft_msg_init(r, &m, RAFT_MSG_READ_INDEX, r->leader);
        m.term = 0;
        m.ctx = id;
        rc = raft_send(r, &m);
    } else {
        return KAHUNA_EUNAVAILABLE;
    }
    return rc < 0 ? raft_fail(r, rc) : 0;
}

int raft_persisted(raft *r, uint64_t seq)
{
    CHECK_ERR(r);
    if (seq > r->next_seq)
        return KAHUNA_EBADREQ;   /* never handed out: a caller bug, core unchanged */
    int rc = raft_persist_done(r, seq);
    return rc < 0 ? raft_fail(r, rc) : 0;
}

/* ---- status ---- */

void raft_status_get(const raft *r, raft_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->log.commit;
    st->applied = r->log.applied;
    st->first_index = raft_log_first_index(&r->log);
    st->last_index = raft_log_last_index(&r->log);
    if (raft_log_last_term((raft_log *)&r->log, &st->last_term) < 0)
        st->last_term = 0;
    st->durable_index = r->d_match;
    st->snapshot_index = r->snap.index;
    st->transferee = r->transferee;
    st->config = raft_memb_current(r);
}

int raft_progress_get(const raft *r, uint64_t id, uint64_t *match, uint64_t *next,
                      int *state, int *recent_active)
{
    if (r->role != RAFT_LEADER)
        return KAHUNA_ENOTFOUND;
    const raft_progress *p = raft_pr_find((raft *)r, id);
    if (!p)
        return KAHUNA_ENOTFOUND;
    if (match)
        *match = p->match;
    if (next)
        *next = p->next;
    if (state)
        *state = p->state;
    if (recent_active)
        *recent_active = p->recent_active;
    return 0;
}

int raft_term_at(raft *r, uint64_t index, uint64_t *term)
{
    int rc = raft_log_term(&r->log, index, term);
    if (rc < 0) {
        *term = 0;
        return rc == KAHUNA_ECOMPACTED ? KAHUNA_ENOTFOUND : rc;
    }
    return 0;
}
