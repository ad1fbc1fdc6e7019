/* raft.h: kahuna's Raft core, a pure deterministic state machine.
 *
 * The core does no I/O, reads no clock, draws no random numbers and keeps no
 * global state. Everything arrives as an input (a peer message, a tick, a
 * proposal, "persisted up to update N", ...) and everything it wants done
 * comes out in a raft_update that the caller collects with raft_update_get.
 * docs/raft.md is the design page: message types, the persistence rules and
 * the caller's loop. In short, for every update, in order:
 *
 *   1. send msgs_now at once (any time);
 *   2. persist: snapshot (if any: replace the log by the snapshot point),
 *      then entries (first delete every stored entry with index >=
 *      truncate_from, then append), then the hard state; fsync when
 *      must_sync; then call raft_persisted(r, seq);
 *   3. send msgs_after once this update and every earlier one are durable;
 *   4. install the snapshot into the state machine (its data comes from the
 *      transport), then apply committed[] in order;
 *   5. answer read states (wait until applied >= index first).
 *
 * Ownership: inputs are borrowed (the core copies what it keeps); an update
 * owns everything it points to until raft_update_free. Entries handed out by
 * the storage callbacks are malloc'd and freed by the core.
 *
 * Errors: 0 or a negative KAHUNA_E* code. KAHUNA_EBADREQ and
 * KAHUNA_EUNAVAILABLE leave the core unchanged. KAHUNA_ENOMEM, KAHUNA_EIO
 * (from a storage callback) and KAHUNA_EINTERNAL (a broken invariant) are
 * sticky: the core refuses every later call with the same code, and the
 * caller must stop the node (fail-stop, never continue on a log it cannot
 * trust). */
#ifndef KAHUNA_RAFT_H
#define KAHUNA_RAFT_H

#include <stddef.h>
#include <stdint.h>

#define RAFT_NONE 0                /* "no node": ids are nonzero */

/* Log entry types; equal to FSM_ENTRY_* in fsm/fsm.h. */
enum raft_entry_type {
    RAFT_ENTRY_NOOP = 0,           /* appended by every new leader */
    RAFT_ENTRY_COMMAND = 1,        /* opaque to the core */
    RAFT_ENTRY_CONFIG = 2,         /* an encoded raft_config (raft_config_encode) */
};

typedef struct raft_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;
    uint8_t *data;                 /* malloc'd, owned by whoever holds the entry */
    size_t len;
} raft_entry;

/* Frees the data of n entries and the array itself (NULL is fine). */
void raft_entries_free(raft_entry *e, size_t n);

/* ---- configuration ---------------------------------------------------- */

enum raft_server_role {
    RAFT_VOTER = 1,                /* votes, counts for commit */
    RAFT_LEARNER = 2,              /* receives the log, never votes */
};

typedef struct raft_server {
    uint64_t id;
    uint8_t role;                  /* RAFT_VOTER / RAFT_LEARNER */
    uint8_t *ctx;                  /* opaque to the core (the node puts name and
                                      URL here); malloc'd, owned by the config */
    size_t ctx_len;                /* <= RAFT_MAX_SERVER_CTX */
} raft_server;

#define RAFT_MAX_SERVERS 64
#define RAFT_MAX_SERVER_CTX 1024

/* A membership: the servers array and their ctx are owned by the struct. */
typedef struct raft_config {
    raft_server *servers;
    size_t n;
} raft_config;

void raft_config_free(raft_config *c);       /* frees, leaves an empty config */
int raft_config_copy(raft_config *dst, const raft_config *src);  /* dst is overwritten, not freed */
/* Adds a server (ctx copied). KAHUNA_EBADREQ for id 0, a duplicate id, a bad
 * role, ctx over RAFT_MAX_SERVER_CTX or more than RAFT_MAX_SERVERS. */
int raft_config_add(raft_config *c, uint64_t id, uint8_t role, const void *ctx, size_t ctx_len);
const raft_server *raft_config_find(const raft_config *c, uint64_t id);
size_t raft_config_voters(const raft_config *c);
/* The CONFIG entry payload: sets *out and *len (malloc'd,
 * caller frees). Decoding checks every length; KAHUNA_EBADREQ on bad bytes. */
int raft_config_encode(const raft_config *c, uint8_t **out, size_t *len);
int raft_config_decode(const uint8_t *p, size_t n, raft_config *out);

/* The first log entry of a new cluster: index 1, term 1, type CONFIG, the
 * initial members. Every initial member writes the same entry to its empty
 * log before raft_new (out->data is malloc'd, caller frees). A node that joins
 * later starts with an empty log and learns everything from the leader. */
int raft_bootstrap_entry(const raft_config *initial, raft_entry *out);

/* ---- snapshots and hard state ----------------------------------------- */

/* A snapshot point: the state machine after applying every entry up to
 * index (whose term is term), and the configuration in effect there. The
 * state bytes themselves never enter the core. */
typedef struct raft_snapshot_meta {
    uint64_t index;                /* 0: no snapshot */
    uint64_t term;
    raft_config config;            /* owned by the struct */
} raft_snapshot_meta;

typedef struct raft_hardstate {
    uint64_t term;                 /* current term */
    uint64_t vote;                 /* voted for in term, RAFT_NONE if none */
    uint64_t commit;               /* advisory: need not be synced */
} raft_hardstate;

/* ---- messages --------------------------------------------------------- */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,           /* AppendEntries: index=prev index, log_term=prev term,
                                      entries, commit */
    RAFT_MSG_APPEND_RESP = 2,      /* ok: index = last index now matching the leader;
                                      reject: index = rejected prev index, hint +
                                      log_term = where the leader should look */
    RAFT_MSG_VOTE = 3,             /* RequestVote: index/log_term = candidate's last
                                      entry; transfer=1 after TimeoutNow */
    RAFT_MSG_VOTE_RESP = 4,        /* reject=0: granted */
    RAFT_MSG_PREVOTE = 5,          /* like VOTE, term = candidate's term + 1, changes
                                      nobody's term or vote */
    RAFT_MSG_PREVOTE_RESP = 6,     /* granted: term = the asked term */
    RAFT_MSG_HEARTBEAT = 7,        /* commit = min(follower's match, leader commit),
                                      ctx = latest ReadIndex round */
    RAFT_MSG_HEARTBEAT_RESP = 8,   /* ctx echoed */
    RAFT_MSG_SNAPSHOT = 9,         /* InstallSnapshot: snapshot meta; the state bytes
                                      travel beside the message (transport) */
    RAFT_MSG_TIMEOUT_NOW = 10,     /* leader transfer: campaign now */
    RAFT_MSG_READ_INDEX = 11,      /* follower -> leader: ctx = request id, term 0 */
    RAFT_MSG_READ_INDEX_RESP = 12, /* leader -> follower: ctx = request id, index =
                                      read index; reject=1: no answer, retry */
};
#define RAFT_MSG_TYPE_MAX 12

typedef struct raft_msg {
    uint8_t type;
    uint8_t reject;
    uint8_t transfer;
    uint64_t from, to;
    uint64_t term;
    uint64_t index;
    uint64_t log_term;
    uint64_t hint;
    uint64_t commit;
    uint64_t ctx;
    raft_entry *entries;           /* owned by the message */
    size_t n_entries;
    raft_snapshot_meta snapshot;   /* SNAPSHOT only; owned by the message */
} raft_msg;

void raft_msg_free(raft_msg *m);   /* frees what m owns, not m itself */
const char *raft_msg_type_name(int type);

/* ---- the core ---------------------------------------------------------- */

typedef struct raft raft;

/* Read access to the persisted log, supplied by the caller. The core only
 * asks for entries it knows are durable and not compacted. Both return 0,
 * KAHUNA_EIO (sticky for the core) or KAHUNA_ENOMEM. */
typedef struct raft_storage {
    void *arg;
    /* Entries [lo, hi] into a malloc'd array (each data malloc'd); stops once
     * max_bytes of data is passed but returns at least one entry. */
    int (*entries)(void *arg, uint64_t lo, uint64_t hi, size_t max_bytes,
                   raft_entry **out, size_t *n);
    int (*term)(void *arg, uint64_t index, uint64_t *term);
} raft_storage;

typedef struct raft_options {
    uint64_t id;                   /* this node, nonzero */
    unsigned election_ticks;       /* base election timeout (default 10) */
    unsigned heartbeat_ticks;      /* leader heartbeat period (default 1) */
    size_t max_msg_entries;        /* entries per AppendEntries (default 64) */
    size_t max_msg_bytes;          /* data bytes per AppendEntries (default 1 MiB;
                                      one bigger entry still goes alone) */
    size_t max_inflight;           /* unacked AppendEntries per follower (default 64) */
    size_t max_committed_bytes;    /* committed entries per update (default 4 MiB) */
    unsigned snapshot_retry_ticks; /* snapshot without answer: probe again (default 50) */
    uint64_t catchup_lag;          /* a learner within this many entries of the
                                      leader's last index may be promoted (default 128) */
    int prevote;                   /* default 1 */
    int check_quorum;              /* default 1 */
} raft_options;

void raft_options_default(raft_options *o, uint64_t id);

/* What the caller loaded from disk. A brand-new node: everything 0. */
typedef struct raft_init {
    raft_hardstate hs;
    raft_snapshot_meta snapshot;   /* borrowed, copied; index 0 when none */
    uint64_t first_index;          /* first entry in storage (1 when nothing compacted) */
    uint64_t prev_term;            /* term of entry first_index - 1 (0 when that is 0) */
    uint64_t last_index;           /* last entry in storage (first_index - 1 when empty) */
    uint64_t applied;              /* state machine applied index (>= snapshot.index) */
} raft_init;

/* Creates a core from persisted state. Reads the configuration entries from
 * storage (one pass over the log). The initial election timeout is
 * options.election_ticks; see raft_set_election_timeout. */
int raft_new(const raft_options *o, const raft_storage *st, const raft_init *init,
             raft **out);
void raft_free(raft *r);

/* The randomised election timeout in ticks, chosen by the caller's PRNG in
 * [election_ticks, 2 * election_ticks). The core uses it from the next
 * election timer reset on; every update with timeout_reset set asks for a
 * fresh value. Values below 1 are taken as 1. */
void raft_set_election_timeout(raft *r, unsigned ticks);

/* One logical clock tick. */
int raft_tick(raft *r);

/* A message from a peer (borrowed). KAHUNA_EBADREQ for a message that is not
 * for this node or does not make sense (it is ignored). */
int raft_step(raft *r, const raft_msg *m);

/* Appends a NOOP or COMMAND entry (data copied) on the leader. Out: its index
 * and term; the entry is committed when an applied entry has that index and
 * term, and lost when that index is applied with another term.
 * KAHUNA_EUNAVAILABLE when not leader or during a leader transfer. */
int raft_propose(raft *r, uint8_t type, const void *data, size_t len,
                 uint64_t *index, uint64_t *term);

enum raft_change_op {
    RAFT_CHANGE_ADD_LEARNER = 1,   /* new server as learner (ctx kept) */
    RAFT_CHANGE_PROMOTE = 2,       /* learner -> voter, once caught up */
    RAFT_CHANGE_REMOVE = 3,        /* voter or learner leaves */
};
/* Membership change, one server at a time, on the leader. It takes effect as
 * soon as the CONFIG entry is appended (thesis §4.1). KAHUNA_EUNAVAILABLE:
 * not leader, transfer in progress, or a previous change (or the leader's
 * first entry of its term) is not committed yet. KAHUNA_EBADREQ: the change
 * makes no sense (unknown id, already member, promote a learner that has
 * not caught up, remove the last voter). */
int raft_change(raft *r, int op, uint64_t id, const void *ctx, size_t ctx_len,
                uint64_t *index);

/* Linearizable read: asks for a read index for request id (chosen by the
 * caller, unique per request). The answer comes later as a raft_read_state
 * with the same id. On a follower the request is forwarded to the leader;
 * KAHUNA_EUNAVAILABLE when no leader is known. */
int raft_read_index(raft *r, uint64_t id);

/* Leader transfer to voter `to` (caught up first, then TimeoutNow). Aborted
 * after an election timeout. KAHUNA_EUNAVAILABLE when not leader. */
int raft_transfer(raft *r, uint64_t to);

/* Everything in updates up to and including seq is durable. */
int raft_persisted(raft *r, uint64_t seq);

/* The caller has taken a snapshot of the state machine at index (<= the
 * last committed entry handed out). *meta (may be NULL; config owned by the
 * caller) is the snapshot point to store durably with the state bytes. The
 * core forgets entries up to index - trailing (kept for slow followers);
 * once the snapshot is durable the caller may delete stored entries
 * <= *compact_to (0: none). An index at or below the current snapshot point
 * changes nothing (meta->index 0). */
int raft_snapshot_taken(raft *r, uint64_t index, uint64_t trailing,
                        raft_snapshot_meta *meta, uint64_t *compact_to);

/* The transport's report on a snapshot sent to `to`: ok=0 means it failed
 * (the leader probes again). */
int raft_snapshot_status(raft *r, uint64_t to, int ok);

/* ---- output ------------------------------------------------------------ */

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRECANDIDATE = 1,
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};
const char *raft_role_name(int role);

typedef struct raft_read_state {
    uint64_t id;                   /* the caller's request id */
    uint64_t index;                /* serve the read once applied >= index */
    int ok;                        /* 0: failed (lost leadership): retry */
} raft_read_state;

typedef struct raft_update {
    uint64_t seq;                  /* != 0: call raft_persisted(seq) once the
                                      snapshot, entries and hard state below are durable */
    int hs_changed;
    int must_sync;                 /* term, vote, entries or snapshot changed: fsync */
    raft_hardstate hs;
    int has_snapshot;              /* install: log replaced by snapshot point */
    raft_snapshot_meta snapshot;
    raft_entry *entries;           /* to persist, after deleting stored entries */
    size_t n_entries;
    uint64_t truncate_from;        /* ... with index >= this (= entries[0].index;
                                      0 when no entries) */
    raft_msg *msgs_now;            /* send at once */
    size_t n_now;
    raft_msg *msgs_after;          /* send once this update and all before are durable */
    size_t n_after;
    raft_entry *committed;         /* apply in order */
    size_t n_committed;
    raft_read_state *reads;
    size_t n_reads;
    int soft_changed;              /* role or leader changed since the last update */
    int role;
    uint64_t leader;
    uint64_t term;
    int timeout_reset;             /* pass a fresh raft_set_election_timeout */
} raft_update;

/* 1 when raft_update_get would return something to do. */
int raft_has_update(const raft *r);
/* Moves all pending output into *u (overwritten; free with raft_update_free).
 * On a leader this is also where queued proposals are broadcast and a new
 * ReadIndex round starts, so everything that arrived since the last update is
 * batched. */
int raft_update_get(raft *r, raft_update *u);
void raft_update_free(raft_update *u);

/* ---- status ------------------------------------------------------------ */

typedef struct raft_status {
    uint64_t id;
    int role;
    uint64_t term, vote, leader;
    uint64_t commit, applied;
    uint64_t first_index, last_index, last_term;
    uint64_t durable_index;        /* log known durable (matches memory) */
    uint64_t snapshot_index;
    uint64_t transferee;
    const raft_config *config;     /* borrowed; valid until the next call */
} raft_status;
void raft_status_get(const raft *r, raft_status *st);

enum raft_progress_state { RAFT_PR_PROBE = 0, RAFT_PR_REPLICATE = 1, RAFT_PR_SNAPSHOT = 2 };
/* Leader's view of a peer: KAHUNA_ENOTFOUND when not leader or no such peer. */
int raft_progress_get(const raft *r, uint64_t id, uint64_t *match, uint64_t *next,
                      int *state, int *recent_active);

/* Term of the entry at index in the core's log (memory or storage): 0 and
 * KAHUNA_ENOTFOUND outside [first_index - 1, last_index]. For tests. */
int raft_term_at(raft *r, uint64_t index, uint64_t *term);

#endif
