/* core.h: the Raft core's private state, shared by the files of daemon/raft/.
 *
 * One concern per file: log.c (the log: unstable tail in memory + a view of
 * the stable entries in storage), progress.c (per-follower replication state
 * and the inflight window), election.c (PreVote, votes, CheckQuorum),
 * replication.c (AppendEntries, heartbeats, commit), readindex.c,
 * membership.c, snapshot.c, transfer.c, persist.c (what is durable and which
 * messages must wait for it), raft.c (creation, term rules, dispatch,
 * roles), update.c (the output). Nothing here is visible outside daemon/raft/. */
#ifndef KAHUNA_RAFT_CORE_H
#define KAHUNA_RAFT_CORE_H

#include <stdint.h>
#include <stddef.h>

#include "errors.h"
#include "raft.h"

#define RAFT_NO_FLOOR UINT64_MAX

/* ---- small growable arrays ---- */
/* arrp points to the array pointer (any element type). Makes room for one
 * more element of size `size`; returns the new slot (zeroed) or NULL when
 * out of memory. */
void *raft_vec_push(void *arrp, size_t *n, size_t *cap, size_t size);

/* ---- log.c ---- */
typedef struct raft_log {
    raft_storage st;
    uint64_t prev_index;      /* entries <= prev_index are compacted away */
    uint64_t prev_term;       /* term of prev_index */
    uint64_t stable_last;     /* storage holds (prev_index, stable_last] */
    raft_entry *u;            /* unstable tail: index stable_last+1 ... */
    size_t un, ucap;
    uint64_t handed;          /* unstable entries <= handed went out in an update */
    uint64_t commit;
    uint64_t applied;         /* committed entries handed out for apply */
} raft_log;

uint64_t raft_log_last_index(const raft_log *l);
uint64_t raft_log_first_index(const raft_log *l);
/* Term of index: 0 for index 0; KAHUNA_ECOMPACTED below prev_index;
 * KAHUNA_ENOTFOUND beyond the last index; KAHUNA_EIO/ENOMEM from storage. */
int raft_log_term(raft_log *l, uint64_t index, uint64_t *term);
int raft_log_last_term(raft_log *l, uint64_t *term);
/* 1 when the log has index with this term (0 also on any error). */
int raft_log_match(raft_log *l, uint64_t index, uint64_t term);
/* Copies of entries [lo, hi], at most max_n and about max_bytes (at least
 * one). KAHUNA_ECOMPACTED when lo <= prev_index. */
int raft_log_slice(raft_log *l, uint64_t lo, uint64_t hi, size_t max_n, size_t max_bytes,
                   raft_entry **out, size_t *n);
/* Appends copies of entries whose first index is <= last + 1; any entries
 * at or after that index are dropped first. */
int raft_log_append(raft *r, const raft_entry *e, size_t n);
/* Drops unstable entries <= index (they are durable in storage now). */
void raft_log_stable_to(raft_log *l, uint64_t index);
void raft_log_free(raft_log *l);

/* ---- progress.c ---- */
typedef struct raft_progress {
    uint64_t id;
    uint64_t match, next;
    int state;                /* RAFT_PR_* */
    int probe_sent;           /* probe: an append is out, wait for an answer */
    uint64_t pending_snapshot;/* snapshot: index of the snapshot sent */
    unsigned snap_elapsed;
    int recent_active;
    uint64_t read_ack;        /* highest ReadIndex round acked in this term */
    /* inflight window: last index of each unacked append, oldest first */
    uint64_t *inf;
    size_t inf_start, inf_count, inf_cap;
} raft_progress;

raft_progress *raft_pr_find(raft *r, uint64_t id);
int raft_pr_reset_all(raft *r);         /* new leader: one progress per other member */
int raft_pr_sync_config(raft *r);       /* add/remove progresses after a config change */
void raft_pr_free_all(raft *r);
void raft_pr_become_probe(raft_progress *p);
void raft_pr_become_replicate(raft_progress *p);
void raft_pr_become_snapshot(raft_progress *p, uint64_t index);
int raft_pr_paused(const raft *r, const raft_progress *p);
/* The follower acked up to index: 1 when that is news. */
int raft_pr_update(raft_progress *p, uint64_t index);
/* A reject of the append at prev index `rejected`; next_hint is where the
 * follower's log may match. 1 when the reject was not stale. */
int raft_pr_decr(raft_progress *p, uint64_t rejected, uint64_t next_hint);
void raft_pr_sent(raft *r, raft_progress *p, uint64_t last);   /* an append went out */
void raft_pr_inf_free_to(raft_progress *p, uint64_t index);
void raft_pr_inf_free_first(raft_progress *p);

/* ---- persist.c ---- */
typedef struct raft_record {
    uint64_t seq;
    uint64_t term, vote;      /* hard state of this update */
    int has_entries, has_snapshot;
    uint64_t last;            /* last entry index written (or snapshot index) */
    uint64_t floor;           /* memory and disk agree at most up to here while pending */
} raft_record;

/* Queues m (moved; m is zeroed) into msgs_now or msgs_after, depending on
 * what is durable. */
int raft_send(raft *r, raft_msg *m);
/* Lowers the durable prefix: the log is rewritten from index floor+1 on. */
void raft_persist_floor(raft *r, uint64_t floor);
int raft_persist_record(raft *r, raft_update *u);
int raft_persist_done(raft *r, uint64_t seq);

/* ---- election.c ---- */
int raft_elect_campaign(raft *r, int prevote, int transfer);
int raft_elect_on_vote(raft *r, const raft_msg *m);
int raft_elect_on_vote_resp(raft *r, const raft_msg *m);
int raft_elect_tick(raft *r);
int raft_elect_promotable(const raft *r);
int raft_elect_in_lease(const raft *r);
int raft_elect_check_quorum(raft *r);

/* ---- replication.c ---- */
int raft_repl_send_append(raft *r, raft_progress *p, int even_empty);
int raft_repl_broadcast(raft *r);
int raft_repl_heartbeat(raft *r);
int raft_repl_on_append(raft *r, const raft_msg *m);
int raft_repl_on_append_resp(raft *r, const raft_msg *m);
int raft_repl_on_heartbeat(raft *r, const raft_msg *m);
int raft_repl_on_heartbeat_resp(raft *r, const raft_msg *m);
/* Recomputes the commit index on the leader; *moved = 1 when it moved,
 * and then the caller calls raft_repl_on_commit. */
int raft_repl_maybe_commit(raft *r, int *moved);
int raft_repl_on_commit(raft *r);
uint64_t raft_repl_self_match(const raft *r);

/* ---- readindex.c ---- */
typedef struct raft_read_req {
    uint64_t id;
    uint64_t from;            /* RAFT_NONE: local, else the follower that asked */
} raft_read_req;

typedef struct raft_read_round {
    uint64_t round;
    uint64_t index;
    raft_read_req *reqs;
    size_t n;
} raft_read_round;

typedef struct raft_readindex {
    raft_read_req *queued;    /* waiting for the next round (or for the
                                 leader's first commit of its term) */
    size_t nq, capq;
    raft_read_round *rounds;  /* started, waiting for a quorum of acks */
    size_t nr, capr;
    uint64_t last_round;      /* round counter, never reset */
} raft_readindex;

int raft_ri_request(raft *r, uint64_t id, uint64_t from);
int raft_ri_flush(raft *r);                      /* start a round for queued reads */
int raft_ri_on_ack(raft *r);                     /* after a heartbeat ack: release */
int raft_ri_on_read_index(raft *r, const raft_msg *m);
int raft_ri_on_read_index_resp(raft *r, const raft_msg *m);
int raft_ri_fail_all(raft *r);                   /* lost leadership */
int raft_ri_push_state(raft *r, uint64_t id, uint64_t index, int ok);
void raft_ri_free(raft_readindex *ri);
int raft_ri_committed_in_term(raft *r);

/* ---- membership.c ---- */
typedef struct raft_conf_at {
    uint64_t index;
    raft_config config;
} raft_conf_at;

typedef struct raft_membership {
    raft_config base;         /* config at the snapshot point */
    raft_conf_at *log;        /* CONFIG entries after the snapshot, in order */
    size_t n, cap;
} raft_membership;

const raft_config *raft_memb_current(const raft *r);
uint64_t raft_memb_current_index(const raft *r); /* index of its entry (0: base) */
int raft_memb_is_voter(const raft *r, uint64_t id);
size_t raft_memb_quorum(const raft *r);
int raft_memb_on_append(raft *r, const raft_entry *e); /* CONFIG entry appended */
void raft_memb_truncate(raft *r, uint64_t from);       /* entries >= from dropped */
int raft_memb_config_at(const raft *r, uint64_t index, raft_config *out);
void raft_memb_compact(raft *r, uint64_t index);       /* snapshot at index */
int raft_memb_reset(raft *r, const raft_config *base);
int raft_memb_on_commit(raft *r);                      /* leader removed? */
void raft_memb_free(raft_membership *m);

/* ---- snapshot.c ---- */
int raft_snap_send(raft *r, raft_progress *p);
int raft_snap_on_snapshot(raft *r, const raft_msg *m);
int raft_snap_tick(raft *r);

/* ---- transfer.c ---- */
int raft_xfer_on_match(raft *r, raft_progress *p);
int raft_xfer_tick(raft *r);
int raft_xfer_on_timeout_now(raft *r, const raft_msg *m);
void raft_xfer_abort(raft *r);

/* ---- raft.c ---- */
int raft_become_follower(raft *r, uint64_t term, uint64_t leader);
int raft_become_precandidate(raft *r);
int raft_become_candidate(raft *r);
int raft_become_leader(raft *r);
void raft_reset_timer(raft *r);
/* Builds a message from this node in the current term. */
void raft_msg_init(raft *r, raft_msg *m, int type, uint64_t to);
int raft_fail(raft *r, int err);                 /* sticky error */
void raft_msgs_free(raft_msg *m, size_t n);      /* n messages and the array */

typedef struct raft_vote {
    uint64_t id;
    int granted;
} raft_vote;

struct raft {
    raft_options o;
    uint64_t id;
    int err;                          /* sticky fatal error */

    int role;
    uint64_t term, vote, leader;
    raft_log log;
    raft_membership memb;
    raft_snapshot_meta snap;          /* latest snapshot (ours or installed) */

    /* timers */
    unsigned election_elapsed;        /* follower: since the leader was heard;
                                         leader: since the last CheckQuorum */
    unsigned heartbeat_elapsed;
    unsigned timeout;                 /* randomised election timeout in use */
    unsigned next_timeout;            /* the caller's latest value */

    /* candidate */
    raft_vote *votes;
    size_t nvotes, capvotes;

    /* leader */
    raft_progress *prs;
    size_t nprs, capprs;
    int bcast_pending;                /* proposals to broadcast at update time */
    uint64_t pending_conf_index;      /* no change until commit >= this */
    uint64_t transferee;
    unsigned transfer_elapsed;
    uint64_t term_start_index;        /* index of this leader's no-op */
    raft_readindex ri;

    /* persistence */
    uint64_t d_term, d_vote;          /* hard state known durable */
    uint64_t d_match;                 /* log known durable and equal to memory */
    uint64_t unhanded_floor;          /* rewrites not yet in an update */
    raft_record *recs;                /* handed updates not yet durable */
    size_t nrecs, caprecs;
    uint64_t next_seq;

    /* output under construction */
    raft_msg *now, *after;
    size_t nnow, capnow, nafter, capafter;
    raft_read_state *reads;
    size_t nreads, capreads;
    int snap_pending;                 /* installed snapshot not yet handed out */
    raft_hardstate hs_handed;
    int soft_role;
    uint64_t soft_leader;
    int timeout_reset;
};

#endif
