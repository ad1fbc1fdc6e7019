/* node.h: one kahuna node: the loop that turns proposals into log entries,
 * commits them, applies them to the state machine, and answers.
 *
 * The edges (api/, resp/) build commands and hand them here; they never
 * touch raftlog or fsm writes themselves. The node thread owns the raftlog
 * and the fsm writer. Requests that arrive together share one log
 * transaction and one fsync (group commit), and are applied in one state
 * transaction; only then is each request answered.
 *
 * TTLs: the node keeps the deadline table (leases.h) on its monotonic
 * clock. When a key's or a lock's deadline passes, the node proposes
 * CMD_KV_EXPIRE / CMD_LOCK_EXPIRE, always before any proposal that arrived
 * after the deadline, so a write never sees an expired key or lock.
 *
 * Callbacks (node_done_fn, node_read_fn) run exactly once per request,
 * either on the calling thread before the call returns, or on the node
 * thread. They must not block and must not call back into the node. */
#ifndef KAHUNA_NODE_H
#define KAHUNA_NODE_H

#include <stdint.h>

#include "fsm/command.h"
#include "fsm/fsm.h"
#include "raft/raft.h"

typedef struct node node;

/* ---- what the node asks of the peer transport (daemon/peer/) ----------
 * The node never does network I/O itself: main.c hands it these callbacks,
 * implemented by the peer transport. Every one of them must return at once
 * (queue and go), may be called from any node thread, and must not call
 * back into the node before returning. */
typedef struct node_transport {
    void *arg;                /* for send and send_snapshot */
    /* Sends m (borrowed: encode or copy before returning) to the peer at
     * url. Never blocks: a full queue drops the message (Raft retries). */
    void (*send)(void *arg, const raft_msg *m, const char *url);
    /* Sends the snapshot file at path (state database at m->snapshot.index)
     * to the peer at url in chunks, then m itself; reports the outcome with
     * node_snapshot_status(n, m->to, ok). path is borrowed (copy the
     * string); the file stays until a newer snapshot replaces it, and a
     * file that disappears is a failed send. */
    void (*send_snapshot)(void *arg, const raft_msg *m, const char *url, const char *path);
    /* Forwards an encoded request (peer/rpc.h) to the leader at url and
     * calls done(done_arg, status, body) once with the leader's answer
     * body (status 0), or KAHUNA_EUNAVAILABLE (nothing was sent: the
     * request certainly did not happen), or KAHUNA_ETIMEOUT (sent, no
     * answer: fate unknown). alive may be NULL; when it returns 0 the
     * forwarder aborts the request (answer KAHUNA_ECANCELED). */
    void (*forward)(void *arg, const char *url, const kbytes req, int64_t timeout_ms,
                    int (*alive)(void *alive_arg), void *alive_arg,
                    void (*done)(void *done_arg, int status, kbytes body), void *done_arg);
    /* Added: forward is called with forward_arg as its first argument (not
     * arg): the forwarder (peer/forward.h, peer_forwarder_bind) is another
     * object than the transport that arg points to. */
    void *forward_arg;
} node_transport;

typedef struct node_peer {
    const char *id;           /* node id, e.g. "n2" */
    const char *url;          /* "http://HOST:PORT" */
} node_peer;

typedef struct node_config {
    const char *node_id;
    const char *data_dir;     /* holds raft.db and state.db; must exist */
    int history_keep;         /* fsm_options.history_keep */
    /* Added for Raft: */
    const char *self_url;     /* this node's URL as peers reach it */
    const node_peer *peers;   /* initial members, this node included; NULL/0: alone.
                                 With join: the members to reach until the log
                                 brings the configuration (not a bootstrap) */
    size_t npeers;
    int join;                 /* start with an empty log and wait to be added */
    const node_transport *transport;  /* NULL: single node, no peers ever */
    int tick_ms;              /* Raft tick (0: NODE_DEFAULT_TICK_MS) */
    int election_ticks;       /* election timeout in ticks (0: default 10) */
    uint64_t snapshot_entries;/* applied entries between snapshots (0: default) */
    uint64_t seed;            /* election timeout PRNG seed (0: from the clock) */
} node_config;

#define NODE_DEFAULT_TICK_MS 100

/* The Raft id of a node name: FNV-1a 64 of the name, never 0. */
uint64_t node_raft_id(const char *name);

/* Opens the data dir (refusing one that belongs to another node id: returns
 * KAHUNA_EMISMATCH), replays the log into the state machine, arms every TTL
 * in full, and starts the node thread. */
int node_start(const node_config *cfg, node **out);

/* Added for kahunad's start-up message: the node id the data dir belongs to
 * (after node_start returned KAHUNA_EMISMATCH), in a malloc'd *owner that
 * the caller frees. KAHUNA_ENOTFOUND / KAHUNA_EIO when it cannot tell. */
int node_data_dir_owner(const char *data_dir, char **owner);

/* Stops taking requests (new ones get KAHUNA_ESHUTDOWN at once), finishes
 * the batch in flight (every acknowledged write is durable), answers every
 * queued or waiting request (KAHUNA_ESHUTDOWN), and joins the node thread.
 * The node stays valid for node_reader / node_get_status until node_free,
 * so the HTTP server can finish its responses in between. */
void node_stop(node *n);
/* Frees a stopped node (calls node_stop if needed). */
void node_free(node *n);

/* Outcome of a proposal. res is valid only during the call. status
 * KAHUNA_ESHUTDOWN / KAHUNA_EUNAVAILABLE mean it was not applied;
 * KAHUNA_ETIMEOUT that its fate is unknown. */
typedef void (*node_done_fn)(void *arg, const fsm_result *res);

/* Proposes cmd (copied before return). done gets the apply result. For a
 * lock_held answer, res->ttl_ms is the holder's remaining TTL. */
void node_propose(node *n, const command *cmd, node_done_fn done, void *arg);

/* A lock acquire that may wait: when the lock is held and wait_ms > 0, the
 * request queues behind earlier waiters for that lock (arrival order) and
 * is granted when the lock is released or expires, or answered lock_held
 * after wait_ms. alive(arg) is polled from the node thread while waiting;
 * when it returns 0 (the client went away) the waiter is dropped and done
 * gets KAHUNA_ECANCELED. alive may be NULL. */
void node_lock_acquire(node *n, const command *cmd, int64_t wait_ms,
                       int (*alive)(void *arg), node_done_fn done, void *arg);

/* Linearizable read barrier: done(arg, 0) once this node's state reflects
 * every write acknowledged before the call (ReadIndex); then read with the
 * calling thread's fsm_reader. done(arg, KAHUNA_EUNAVAILABLE) when no
 * leader can confirm. May call done before returning. */
typedef void (*node_read_fn)(void *arg, int status);
void node_read_barrier(node *n, node_read_fn done, void *arg);

/* This thread's read-only connection to the state database (opened on
 * first use, closed at thread exit or node_free). NULL on failure. */
fsm_reader *node_reader(node *n);

/* Remaining TTL in ms of a key (kind FSM_TTL_KV, generation = the key's
 * revision) or lock (FSM_TTL_LOCK, generation = token), on this node's
 * clock: -1 when it has none, 0 when it has expired (readers treat the key
 * as gone, the lock as free, before the expire command is applied), else
 * the remaining milliseconds. A new leader restarts every TTL in full on
 * every node (SPEC §1). */
int64_t node_ttl_remaining(node *n, int kind, kbytes name, int64_t generation);

typedef struct node_status {
    const char *node_id;
    char leader_id[80];       /* "" when unknown */
    int is_leader;
    int role;                 /* RAFT_FOLLOWER ... RAFT_LEADER */
    uint64_t leader_changes;  /* leaders seen since start */
    uint64_t snapshots_sent, snapshots_installed;
    uint64_t first_log_index; /* first entry kept in raft.db (compaction) */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_log_index;
    int64_t revision;
    uint64_t proposals;       /* commands proposed since start */
    uint64_t batches;         /* log transactions (fsyncs) since start */
    uint64_t expirations;     /* expire commands proposed since start */
    uint64_t lock_waiters;    /* requests waiting for a lock now */
} node_status;
void node_get_status(node *n, node_status *out);

/* 1 when a leader is known and this node has applied what it knows to be
 * committed (GET /ready). */
int node_ready(node *n);

/* ---- Raft (issue 3) ---------------------------------------------------- */

/* Proposal flags (node_submit). */
#define NODE_NO_FORWARD 1     /* answer KAHUNA_EUNAVAILABLE instead of
                                 forwarding when this node is not the leader
                                 (a request that was already forwarded once) */

/* node_propose / node_lock_acquire with flags: wait_ms as for
 * node_lock_acquire (0 for everything else). */
void node_submit(node *n, const command *cmd, int64_t wait_ms, int (*alive)(void *arg),
                 int flags, node_done_fn done, void *arg);

/* A Raft message from a peer, decoded by the transport. The node takes what
 * *m owns (m is left empty). Never blocks. */
void node_receive(node *n, raft_msg *m);

/* A complete snapshot file received from the leader, with its SNAPSHOT
 * message: the node takes *m and the file (renames or deletes it). */
void node_receive_snapshot(node *n, raft_msg *m, const char *path);

/* The transport's report on node_transport.send_snapshot. */
void node_snapshot_status(node *n, uint64_t to, int ok);

/* The cluster id peers' messages must carry; 0 while a node started with
 * join has not been contacted yet. node_adopt_cluster_id stores the first
 * one seen (from an authenticated peer) durably; later calls with another
 * id return KAHUNA_EMISMATCH. */
uint64_t node_cluster_id(node *n);
int node_adopt_cluster_id(node *n, uint64_t id);

/* Directory for snapshot files being received (inside the data dir). */
const char *node_snapshot_dir(node *n);

/* Membership and leadership: on the leader directly, on a follower
 * forwarded. done gets 0 once the change is committed, or KAHUNA_EUNAVAILABLE
 * (no leader, another change pending), KAHUNA_EBADREQ (makes no sense:
 * unknown id, already a member, last voter), KAHUNA_ETIMEOUT. An added node
 * joins as a learner and is promoted to voter by the leader once it has
 * caught up. Transfer: to NULL or "" picks the most caught-up voter; done
 * once the new leader is known. */
typedef void (*node_admin_fn)(void *arg, int status);
enum node_admin_op {
    NODE_ADMIN_ADD = 1,       /* id + url: joins as a learner */
    NODE_ADMIN_REMOVE = 2,    /* id */
    NODE_ADMIN_TRANSFER = 3,  /* id of the new leader, or NULL/"" */
};
/* flags: NODE_NO_FORWARD as for node_submit. */
void node_admin(node *n, int op, const char *id, const char *url, int flags,
                node_admin_fn done, void *arg);

typedef struct node_member {
    char id[80];
    char url[512];
    int voter;                /* 0: learner */
    int is_leader;
    int is_self;
    uint64_t match_index;     /* leader's view (0 when this node is not the leader) */
    int64_t last_contact_ms;  /* ms since this node last heard from it; -1 unknown, 0 self */
} node_member;
/* Test-only fault switch (kahunad with KAHUNA_TEST_FAULTS=1, route
 * POST /raft/v1/test/block): drops every Raft message to and from the
 * nodes named in ids (comma-separated names; "" heals) and forwards nothing
 * to them, as if the network between them were cut. KAHUNA_EBADREQ for a
 * malformed list, KAHUNA_ENOMEM. */
int node_set_blocked(node *n, const char *ids);

/* This node's view of the membership: *out malloc'd (caller frees). */
int node_members(node *n, node_member **out, size_t *count);

#endif
