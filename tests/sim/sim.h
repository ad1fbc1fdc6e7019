/* sim.h: the deterministic simulation of a kahuna Raft cluster (raftsim).
 *
 * One process, one thread, one seed: N Raft cores (3 or 5 voters, up to
 * SIM_SLOTS nodes with membership changes), each with simulated storage
 * (a durable memstore plus a FIFO of writes in flight; a crash loses the
 * writes not yet reported durable), a simulated network (delay, drop,
 * duplicate, reorder, partitions), per-node clocks (tick periods differ),
 * and clients doing register writes and linearizable reads. Everything is
 * driven by one event queue ordered by (time, sequence number), and every
 * random choice comes from one PRNG, so a seed replays exactly.
 *
 * Files: sim.c (events, network, nodes, storage), check.c (the invariants
 * checked after every step), client.c (the workload and its history),
 * nemesis.c (faults), wgl.c (linearizability), raftsim.c (main). */
#ifndef KAHUNA_SIM_H
#define KAHUNA_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "memstore.h"
#include "raft/raft.h"
#include "rng.h"

#define SIM_SLOTS 5           /* node slots; node id = slot + 1 */
#define SIM_KEYS 3            /* registers the clients use */
#define SIM_CLIENTS 4
#define SIM_CLUSTER_ID 0x6b6168756e61ull   /* "kahuna" */

typedef struct sim_opts {
    uint64_t seed;
    int nodes;                /* initial voters: 3 or 5 */
    uint64_t fault_time;      /* faults happen in [0, fault_time) */
    uint64_t quiet_time;      /* then everything heals for this long */
    int verbose;
    int no_membership;
} sim_opts;

/* A write in flight on a node's disk: the persistent part of an update and
 * the messages that wait for it. */
typedef struct sim_job {
    uint64_t seq;             /* raft_persisted(seq) when done; 0: none */
    raft_update u;            /* persistent fields only (moved from the update) */
    uint64_t snap_kv[SIM_KEYS];
    raft_msg *after;          /* messages waiting for this write */
    uint64_t *after_term;     /* for each: term of its acked entry when made */
    size_t nafter, capafter;
    uint64_t done_at;
} sim_job;

/* The simulator's mirror of one node's log (every entry the core handed
 * out, durable or not): term and content hash per index. */
typedef struct sim_mentry {
    uint64_t term, hash;
} sim_mentry;

typedef struct sim_node {
    int slot;
    uint64_t id;
    int started;              /* ever started (has a disk) */
    int up;
    uint64_t incarnation;
    raft *r;
    memstore disk;            /* durable: survives crashes */
    uint64_t disk_kv[SIM_KEYS];  /* state at disk.snap.index */
    uint64_t kv[SIM_KEYS];    /* volatile state machine */
    uint64_t applied;
    uint64_t snap_kv[SIM_KEYS];  /* state at the core's snapshot point */
    int has_in;               /* snapshot data received with a SNAPSHOT message */
    uint64_t in_index, in_term, in_kv[SIM_KEYS];
    sim_job *jobs;
    size_t njobs, capjobs;
    uint64_t disk_free_at;
    uint64_t tick_period;
    uint64_t ticks;
    uint64_t m_prev, m_prev_term;  /* mirror: entries m_prev+1 ... */
    sim_mentry *m;
    size_t mn, mcap;
    uint64_t leader_term;     /* term it led in at its last update, 0 if none */
    uint64_t lead_commit0;    /* its commit index when it became leader */
    uint64_t commit_seen;     /* committed entries already recorded globally */
    uint64_t snap_every;
    uint64_t paused_until;    /* a paused process handles nothing before */
} sim_node;

enum { EV_TICK = 1, EV_DELIVER, EV_DISK, EV_CLIENT, EV_NEMESIS, EV_HEAL, EV_END, EV_CRASH,
       EV_RESTART };

typedef struct sim_event {
    uint64_t time, seq;
    int kind;
    int node;                 /* slot */
    uint64_t inc;             /* node incarnation it belongs to */
    int client;
    uint64_t token;
    raft_msg *msg;            /* EV_DELIVER, owned */
    uint64_t *kv;             /* snapshot data with a SNAPSHOT message, owned */
} sim_event;

enum { OP_WRITE = 1, OP_READ = 2 };
enum { OUT_PENDING = 0, OUT_OK, OUT_FAIL, OUT_UNKNOWN };

typedef struct sim_op {
    int client, kind, outcome;
    uint64_t key, value;
    uint64_t call, ret;
} sim_op;

typedef struct sim_client {
    int home;                 /* slot it believes leads (sticky), -1: none */
    int busy;
    size_t op;                /* index in history */
    int node;
    uint64_t inc;
    uint64_t index, term;     /* write: where it was proposed */
    uint64_t read_id;
    int read_ready;
    uint64_t read_index;
    uint64_t token;           /* identifies the op for its timeout event */
} sim_client;

typedef struct sim_reg {      /* (index, term) -> content of that entry */
    uint64_t index, term, hash, prev_term;
} sim_reg;

typedef struct sim {
    sim_opts o;
    rng rng;
    uint64_t now, evseq;
    sim_event *heap;
    size_t nheap, capheap;
    sim_node nodes[SIM_SLOTS];
    int nslots;
    /* network */
    int blocked[SIM_SLOTS][SIM_SLOTS];   /* from -> to cut */
    unsigned drop_pm, dup_pm;            /* permille */
    uint64_t max_delay;
    int healed;
    /* profile of this seed: limits and fault pace */
    size_t p_msg_entries, p_inflight;
    uint64_t p_disk_max, p_nemesis_max;
    unsigned p_kill_new_leader;          /* permille: crash a new leader soon */
    /* workload */
    sim_client clients[SIM_CLIENTS];
    sim_op *hist;
    size_t nhist, caphist;
    uint64_t next_value, next_read_id, next_token;
    int clients_stopped;
    uint64_t heal_time;
    /* invariants */
    uint64_t *leader_of_term;            /* index = term */
    size_t nterms;
    void *committed;                     /* check.c: index -> what was committed there */
    size_t ncommitted;
    sim_reg *reg;                        /* open addressing */
    size_t nreg, capreg;
    int failed;
    char why[512];
    /* stats */
    uint64_t events, msgs, elections, snapshots_sent, writes_ok, reads_ok, crashes;
    uint64_t wgl_giveups;
} sim;

/* sim.c */
int sim_init(sim *s, const sim_opts *o);
void sim_free(sim *s);
int sim_run(sim *s);
void sim_schedule(sim *s, uint64_t at, sim_event *ev);
void sim_crash(sim *s, int slot);
int sim_start_node(sim *s, int slot);
int sim_drive(sim *s, int slot);
sim_node *sim_leader(sim *s);
void sim_trace(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t sim_entry_hash(const raft_entry *e);

/* check.c */
void check_update(sim *s, sim_node *n, const raft_update *u);
/* ack_term: for a successful APPEND_RESP, the term the acked entry had in
 * the node's log when the message was made. */
void check_send(sim *s, sim_node *n, const raft_msg *m, uint64_t ack_term);
uint64_t check_ack_term(const sim_node *n, const raft_msg *m);
void check_apply(sim *s, sim_node *n, const raft_entry *e);
void check_snapshot_install(sim *s, sim_node *n, const raft_snapshot_meta *m);
void check_step(sim *s);
void check_end(sim *s);
void mirror_reset(sim *s, sim_node *n);
int mirror_term(const sim_node *n, uint64_t index, uint64_t *term);
void check_free(sim *s);

/* client.c */
void client_start(sim *s);
void client_event(sim *s, sim_event *ev);
void client_on_apply(sim *s, sim_node *n, const raft_entry *e);
void client_on_read_state(sim *s, sim_node *n, const raft_read_state *rs);
void client_on_applied(sim *s, sim_node *n);
void client_on_crash(sim *s, sim_node *n);
int client_check_history(sim *s);
void client_free(sim *s);

/* nemesis.c */
void nemesis_start(sim *s);
void nemesis_event(sim *s);
void nemesis_heal(sim *s);
void nemesis_new_leader(sim *s, sim_node *n);
void nemesis_crash_event(sim *s, sim_event *ev);

#endif
