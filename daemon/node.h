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

typedef struct node node;

typedef struct node_config {
    const char *node_id;
    const char *data_dir;     /* holds raft.db and state.db; must exist */
    int history_keep;         /* fsm_options.history_keep */
} node_config;

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
 * as gone, the lock as free), else the remaining milliseconds. */
int64_t node_ttl_remaining(node *n, int kind, kbytes name, int64_t generation);

typedef struct node_status {
    const char *node_id;
    const char *leader_id;    /* "" when unknown */
    int is_leader;
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

#endif
