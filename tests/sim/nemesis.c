/* nemesis.c: the faults of a simulated run. Until fault_time, at random
 * intervals, one of: a network partition into two random sides, a node cut
 * off, a one-way link cut, healing the network, worse or better network
 * quality (drop, duplicate, delay), a node crash (losing its writes in
 * flight), a process pause, a restart, a leader transfer, a membership
 * change (add a learner, promote it, remove a member). At fault_time everything heals:
 * links, network quality, every crashed node restarts; the run then has
 * quiet_time to show it makes progress again. */
#include <string.h>

#include "errors.h"
#include "sim.h"

#define U(x) ((unsigned long long)(x))

static void schedule_next(sim *s)
{
    sim_event ev = {0};
    ev.kind = EV_NEMESIS;
    sim_schedule(s, s->now + rng_range(&s->rng, 20, s->p_nemesis_max), &ev);
}

void nemesis_start(sim *s)
{
    s->drop_pm = 0;
    s->dup_pm = 0;
    schedule_next(s);
}

static void heal_net(sim *s)
{
    memset(s->blocked, 0, sizeof s->blocked);
}

static void partition(sim *s)
{
    int side[SIM_SLOTS], a = 0;
    for (int i = 0; i < s->nslots; i++) {
        side[i] = (int)rng_below(&s->rng, 2);
        a += side[i];
    }
    if (a == 0 || a == s->nslots)
        side[rng_below(&s->rng, (uint64_t)s->nslots)] ^= 1;
    heal_net(s);
    for (int i = 0; i < s->nslots; i++)
        for (int k = 0; k < s->nslots; k++)
            s->blocked[i][k] = side[i] != side[k];
    sim_trace(s, "nemesis: partition");
}

static void isolate(sim *s)
{
    sim_node *l = sim_leader(s);
    int v = l && rng_chance(&s->rng, 600) ? l->slot : (int)rng_below(&s->rng, (uint64_t)s->nslots);
    for (int i = 0; i < s->nslots; i++)
        s->blocked[v][i] = s->blocked[i][v] = i != v;
    sim_trace(s, "nemesis: isolate node %llu", U(s->nodes[v].id));
}

static void cut_link(sim *s)
{
    int a = (int)rng_below(&s->rng, (uint64_t)s->nslots);
    int b = (int)rng_below(&s->rng, (uint64_t)s->nslots);
    s->blocked[a][b] = 1;
    sim_trace(s, "nemesis: cut %llu -> %llu", U(s->nodes[a].id), U(s->nodes[b].id));
}

static void quality(sim *s)
{
    s->drop_pm = (unsigned)rng_below(&s->rng, 200);
    s->dup_pm = (unsigned)rng_below(&s->rng, 100);
    s->max_delay = rng_range(&s->rng, 2, 40);
    sim_trace(s, "nemesis: drop %u%%o dup %u%%o delay <= %llu", s->drop_pm, s->dup_pm,
              U(s->max_delay));
}

static void crash(sim *s)
{
    sim_node *l = sim_leader(s);
    int v = l && rng_chance(&s->rng, 400) ? l->slot : (int)rng_below(&s->rng, (uint64_t)s->nslots);
    sim_crash(s, v);
}

static void restart(sim *s)
{
    for (int tries = 0; tries < s->nslots; tries++) {
        int v = (int)rng_below(&s->rng, (uint64_t)s->nslots);
        if (s->nodes[v].started && !s->nodes[v].up) {
            sim_start_node(s, v);
            sim_drive(s, v);
            return;
        }
    }
}

/* A process pause (SIGSTOP, GC, a slow disk): the node stops handling
 * anything, then wakes up with a stale view of the world. */
static void pause_node(sim *s)
{
    sim_node *l = sim_leader(s);
    int v = l && rng_chance(&s->rng, 600) ? l->slot : (int)rng_below(&s->rng, (uint64_t)s->nslots);
    s->nodes[v].paused_until = s->now + rng_range(&s->rng, 50, 800);
    sim_trace(s, "nemesis: pause node %llu until %llu", U(s->nodes[v].id),
              U(s->nodes[v].paused_until));
}

static void transfer(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l)
        return;
    uint64_t to = rng_range(&s->rng, 1, (uint64_t)s->nslots);
    int rc = raft_transfer(l->r, to);
    sim_trace(s, "nemesis: transfer %llu -> %llu: %d", U(l->id), U(to), rc);
    if (rc < 0 && rc != KAHUNA_EBADREQ && rc != KAHUNA_EUNAVAILABLE)
        sim_fail(s, "raft_transfer failed: %d", rc);
    sim_drive(s, l->slot);
}

static void membership(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l || s->o.no_membership)
        return;
    raft_status st;
    raft_status_get(l->r, &st);
    const raft_config *c = st.config;
    uint64_t out[SIM_SLOTS], learners[SIM_SLOTS];
    size_t nout = 0, nlearn = 0;
    for (int i = 0; i < s->nslots; i++) {
        const raft_server *sv = raft_config_find(c, s->nodes[i].id);
        if (!sv)
            out[nout++] = s->nodes[i].id;
        else if (sv->role == RAFT_LEARNER)
            learners[nlearn++] = sv->id;
    }
    int op;
    uint64_t id;
    if (nout && rng_chance(&s->rng, 400)) {
        op = RAFT_CHANGE_ADD_LEARNER;
        id = out[rng_below(&s->rng, nout)];
    } else if (nlearn && rng_chance(&s->rng, 700)) {
        op = RAFT_CHANGE_PROMOTE;
        id = learners[rng_below(&s->rng, nlearn)];
    } else if (raft_config_voters(c) > 3 || nlearn) {
        op = RAFT_CHANGE_REMOVE;
        id = c->servers[rng_below(&s->rng, c->n)].id;
        if (raft_config_voters(c) <= 3 && raft_config_find(c, id)->role == RAFT_VOTER)
            return;
    } else {
        return;
    }
    char ctx[32];
    int k = snprintf(ctx, sizeof ctx, "n%llu=sim://%llu", U(id), U(id));
    uint64_t index = 0;
    int rc = raft_change(l->r, op, id, ctx, (size_t)k, &index);
    sim_trace(s, "nemesis: membership %s %llu on leader %llu: %d (index %llu)",
              op == RAFT_CHANGE_ADD_LEARNER ? "add learner" :
              op == RAFT_CHANGE_PROMOTE ? "promote" : "remove",
              U(id), U(l->id), rc, U(index));
    if (rc < 0 && rc != KAHUNA_EBADREQ && rc != KAHUNA_EUNAVAILABLE)
        sim_fail(s, "raft_change failed: %d", rc);
    sim_drive(s, l->slot);
    if (rc == 0 && op == RAFT_CHANGE_ADD_LEARNER && !s->nodes[id - 1].started) {
        sim_start_node(s, (int)id - 1);
        sim_drive(s, (int)id - 1);
    }
}

void nemesis_event(sim *s)
{
    if (s->now >= s->o.fault_time)
        return;
    switch (rng_below(&s->rng, 13)) {
    case 12: pause_node(s); break;
    case 0: partition(s); break;
    case 1: isolate(s); break;
    case 2: cut_link(s); break;
    case 3: case 4: heal_net(s); sim_trace(s, "nemesis: heal network"); break;
    case 5: quality(s); break;
    case 6: crash(s); break;
    case 7: case 8: restart(s); break;
    case 9: transfer(s); break;
    case 10: case 11: membership(s); break;
    }
    schedule_next(s);
}

void nemesis_heal(sim *s)
{
    heal_net(s);
    s->drop_pm = 0;
    s->dup_pm = 0;
    s->max_delay = 10;
    s->healed = 1;
    s->heal_time = s->now;
    sim_trace(s, "nemesis: heal everything");
    for (int i = 0; i < s->nslots; i++)
        if (s->nodes[i].started && !s->nodes[i].up) {
            sim_start_node(s, i);
            sim_drive(s, i);
        }
}

/* Figure 8 needs leaders that die right after appending: in some seeds a
 * new leader is crashed within a few time units, and restarted later. */
void nemesis_new_leader(sim *s, sim_node *n)
{
    if (s->now >= s->o.fault_time || !rng_chance(&s->rng, s->p_kill_new_leader))
        return;
    sim_event ev = {0};
    ev.kind = EV_CRASH;
    ev.node = n->slot;
    ev.inc = n->incarnation;
    sim_schedule(s, s->now + rng_range(&s->rng, 1, 40), &ev);
}

void nemesis_crash_event(sim *s, sim_event *ev)
{
    sim_node *n = &s->nodes[ev->node];
    if (ev->kind == EV_CRASH) {
        if (!n->up || n->incarnation != ev->inc)
            return;
        sim_crash(s, n->slot);
        sim_event r = {0};
        r.kind = EV_RESTART;
        r.node = n->slot;
        r.inc = n->incarnation;
        sim_schedule(s, s->now + rng_range(&s->rng, 20, 300), &r);
    } else if (!n->up && n->incarnation == ev->inc) {
        sim_start_node(s, n->slot);
        sim_drive(s, n->slot);
    }
}
