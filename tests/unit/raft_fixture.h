/* raft_fixture.h: helpers for the Raft core's unit tests: single nodes on
 * an in-memory store (tests/sim/memstore.h) that the test drives by hand,
 * and small clusters whose messages the test delivers (all of them, or
 * with links cut). Everything is synchronous and deterministic. */
#ifndef KAHUNA_TEST_RAFT_FIXTURE_H
#define KAHUNA_TEST_RAFT_FIXTURE_H

#include "memstore.h"
#include "raft/raft.h"

#define TC_MAX 5

/* A list of messages (owned). */
typedef struct tmsgs {
    raft_msg *m;
    size_t n, cap;
} tmsgs;

void tm_push(tmsgs *l, raft_msg *m);            /* moves m */
void tm_clear(tmsgs *l);
size_t tm_count(const tmsgs *l, int type);
/* First message of type (to = 0: any destination), NULL when none. */
raft_msg *tm_find(tmsgs *l, int type, uint64_t to);

typedef struct tnode {
    uint64_t id;
    raft *r;
    raft_options o;
    memstore st;
    uint64_t applied, applied_term;   /* last applied */
    size_t napplied;
    raft_read_state reads[64];
    size_t nreads;
    int role;
    uint64_t snap_index;              /* last snapshot installed from an update */
} tnode;

/* Options used by the fixture: election 10, heartbeat 1, small batches. */
void tn_options(raft_options *o, uint64_t id);
/* A node of a bootstrapped cluster of voters 1..voters (o NULL: tn_options). */
void tn_init(tnode *t, uint64_t id, int voters, const raft_options *o);
/* A node that joins later: empty log, no configuration. */
void tn_init_empty(tnode *t, uint64_t id, const raft_options *o);
/* Restarts the core from the store (a crash: only persisted state stays). */
void tn_restart(tnode *t);
void tn_free(tnode *t);
/* Persists u (memstore_apply + raft_persisted) and records what it applies. */
void tn_persist(tnode *t, raft_update *u);
/* Applies committed entries, read states and role of u to the record. */
void tn_record(tnode *t, const raft_update *u);
/* Takes updates until none is left, persisting each at once; all messages
 * (now and after) go to out (may be NULL: dropped). */
void tn_process(tnode *t, tmsgs *out);
void tn_tick(tnode *t, int n);
void tn_step(tnode *t, raft_msg *m);          /* asserts success; m stays the caller's */
/* The node (voter 1) wins an election with the votes of nodes 2, 3, ...
 * as many as it needs; everything is persisted; the leader's first
 * messages are dropped. */
void tn_make_leader(tnode *t);
/* Replaces the log after the bootstrap entry by entries 2.. of the given
 * terms (NOOPs), sets the durable term, and restarts the core. */
void tn_set_log(tnode *t, const uint64_t *terms, size_t n, uint64_t term);
/* AppendEntries with NOOP entries prev+1.. of the given terms (free with
 * raft_msg_free). */
raft_msg tn_append_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t prev,
                       uint64_t prev_term, uint64_t commit, const uint64_t *terms, size_t n);
raft_status tn_status(tnode *t);

typedef struct tcluster {
    tnode n[TC_MAX];
    int size;
    tmsgs net;
    int cut[TC_MAX + 1][TC_MAX + 1];   /* by id: from -> to dropped */
} tcluster;

void tc_init(tcluster *c, int size, const raft_options *o);
void tc_free(tcluster *c);
tnode *tc_node(tcluster *c, uint64_t id);
/* Processes every node, then delivers messages until the network is quiet. */
void tc_stabilize(tcluster *c);
/* Makes id leader (its election timer fires, messages flow). */
void tc_elect(tcluster *c, uint64_t id);
/* Proposes a COMMAND with text data on id; returns its index. */
uint64_t tc_propose(tcluster *c, uint64_t id, const char *data);
void tc_isolate(tcluster *c, uint64_t id);
void tc_heal(tcluster *c);
/* A message for a node built by hand (term and such set by the test). */
raft_msg tc_msg(int type, uint64_t from, uint64_t to, uint64_t term);

#endif
