/* client.c: the simulated workload and its history.
 *
 * SIM_CLIENTS clients, each with one operation at a time, on SIM_KEYS
 * registers: writes of unique values (proposed on the node the client
 * picked, usually the leader) and linearizable reads (ReadIndex on any
 * node, then the node's state once it has applied up to the read index).
 * Every operation is recorded with its call and return time and outcome:
 *   ok       the write was applied with the index and term it was proposed
 *            at / the read returned a value;
 *   fail     definitely not applied (refused, or its index was applied with
 *            another term: that entry can never commit) / read refused;
 *   unknown  the client gave up or the node crashed: a write may still take
 *            effect later (return time = never). Unknown reads are dropped.
 * At the end each key's history must be linearizable (wgl.c), and some
 * write must have succeeded after the faults healed. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sim.h"
#include "wgl.h"

#define U(x) ((unsigned long long)(x))
#define OP_TIMEOUT 600
#define STOP_BEFORE_END 1500

static sim_op *new_op(sim *s)
{
    if (s->nhist == s->caphist) {
        size_t nc = s->caphist ? s->caphist * 2 : 256;
        sim_op *p = realloc(s->hist, nc * sizeof *p);
        if (!p) {
            sim_fail(s, "out of memory");
            return NULL;
        }
        s->hist = p;
        s->caphist = nc;
    }
    sim_op *o = &s->hist[s->nhist++];
    memset(o, 0, sizeof *o);
    o->call = s->now;
    return o;
}

static void schedule_action(sim *s, int client, uint64_t delay)
{
    sim_event ev = {0};
    ev.kind = EV_CLIENT;
    ev.client = client;
    sim_schedule(s, s->now + delay, &ev);
}

static void finish(sim *s, int client, int outcome)
{
    sim_client *c = &s->clients[client];
    sim_op *o = &s->hist[c->op];
    o->outcome = outcome;
    o->ret = outcome == OUT_UNKNOWN ? WGL_NEVER : s->now;
    if (outcome == OUT_OK && o->kind == OP_WRITE)
        s->writes_ok++;
    if (outcome == OUT_OK && o->kind == OP_READ)
        s->reads_ok++;
    c->busy = 0;
    if (outcome != OUT_OK && rng_chance(&s->rng, 500))
        c->home = -1;
    sim_trace(s, "client %d %s key %llu value %llu: %s", client,
              o->kind == OP_WRITE ? "write" : "read", U(o->key), U(o->value),
              outcome == OUT_OK ? "ok" : outcome == OUT_FAIL ? "fail" : "unknown");
    schedule_action(s, client, rng_range(&s->rng, 5, 60));
}

void client_start(sim *s)
{
    for (int i = 0; i < SIM_CLIENTS; i++) {
        s->clients[i].home = -1;
        schedule_action(s, i, rng_range(&s->rng, 50, 300));
    }
}

/* Clients stick to the node they believe leads, as real ones do, so a
 * deposed leader that does not know it yet gets requests too. */
static int pick_node(sim *s, sim_client *c)
{
    if (c->home >= 0 && s->nodes[c->home].up && rng_chance(&s->rng, 850))
        return c->home;
    sim_node *l = sim_leader(s);
    if (l && rng_chance(&s->rng, s->healed ? 900 : 700)) {
        c->home = l->slot;
        return l->slot;
    }
    return (int)rng_below(&s->rng, (uint64_t)s->nslots);
}

static int start_write(sim *s, sim_client *c, sim_node *n, sim_op *o)
{
    o->kind = OP_WRITE;
    o->value = ++s->next_value;
    uint8_t data[16];
    for (int i = 0; i < 8; i++) {
        data[i] = (uint8_t)(o->key >> (56 - 8 * i));
        data[8 + i] = (uint8_t)(o->value >> (56 - 8 * i));
    }
    int rc = raft_propose(n->r, RAFT_ENTRY_COMMAND, data, sizeof data, &c->index, &c->term);
    if (rc < 0 && rc != KAHUNA_EUNAVAILABLE)
        sim_fail(s, "node %llu: raft_propose failed: %d", U(n->id), rc);
    return rc;
}

static int start_read(sim *s, sim_client *c, sim_node *n, sim_op *o)
{
    o->kind = OP_READ;
    c->read_id = ++s->next_read_id;
    c->read_ready = 0;
    int rc = raft_read_index(n->r, c->read_id);
    if (rc < 0 && rc != KAHUNA_EUNAVAILABLE)
        sim_fail(s, "node %llu: raft_read_index failed: %d", U(n->id), rc);
    return rc;
}

static void start_op(sim *s, int client)
{
    sim_client *c = &s->clients[client];
    int slot = pick_node(s, c);
    sim_node *n = &s->nodes[slot];
    if (!n->up) {
        schedule_action(s, client, rng_range(&s->rng, 5, 60));
        return;
    }
    if (n->paused_until > s->now) {   /* the request waits in the socket */
        schedule_action(s, client, n->paused_until - s->now + rng_range(&s->rng, 0, 20));
        return;
    }
    sim_op *o = new_op(s);
    if (!o)
        return;
    o->client = client;
    o->key = rng_below(&s->rng, SIM_KEYS);
    c->op = s->nhist - 1;
    c->node = slot;
    c->inc = n->incarnation;
    c->busy = 1;
    int rc = rng_chance(&s->rng, 500) ? start_write(s, c, n, o) : start_read(s, c, n, o);
    if (rc < 0) {
        finish(s, client, OUT_FAIL);
        return;
    }
    sim_event ev = {0};
    ev.kind = EV_CLIENT;
    ev.client = client;
    ev.token = c->token = ++s->next_token;
    sim_schedule(s, s->now + OP_TIMEOUT, &ev);
    sim_drive(s, slot);
}

void client_event(sim *s, sim_event *ev)
{
    sim_client *c = &s->clients[ev->client];
    if (ev->token) {   /* an operation's timeout */
        if (c->busy && c->token == ev->token) {
            int write = s->hist[c->op].kind == OP_WRITE;
            finish(s, ev->client, write ? OUT_UNKNOWN : OUT_FAIL);
        }
        return;
    }
    if (c->busy)
        return;
    if (s->now + STOP_BEFORE_END >= s->o.fault_time + s->o.quiet_time) {
        s->clients_stopped = 1;
        return;
    }
    start_op(s, ev->client);
}

static int waits_on(const sim_client *c, const sim_node *n)
{
    return c->busy && c->node == n->slot && c->inc == n->incarnation;
}

void client_on_apply(sim *s, sim_node *n, const raft_entry *e)
{
    for (int i = 0; i < SIM_CLIENTS; i++) {
        sim_client *c = &s->clients[i];
        if (!waits_on(c, n) || s->hist[c->op].kind != OP_WRITE || c->index != e->index)
            continue;
        if (e->term != c->term) {
            finish(s, i, OUT_FAIL);
            continue;
        }
        uint64_t v = 0;
        for (size_t k = 8; k < 16 && k < e->len; k++)
            v = v << 8 | e->data[k];
        if (v != s->hist[c->op].value)
            sim_fail(s, "client %d: entry %llu/%llu holds value %llu, proposed %llu", i,
                     U(e->index), U(e->term), U(v), U(s->hist[c->op].value));
        finish(s, i, OUT_OK);
    }
}

void client_on_read_state(sim *s, sim_node *n, const raft_read_state *rs)
{
    for (int i = 0; i < SIM_CLIENTS; i++) {
        sim_client *c = &s->clients[i];
        if (!waits_on(c, n) || s->hist[c->op].kind != OP_READ || c->read_id != rs->id ||
            c->read_ready)
            continue;
        if (!rs->ok) {
            finish(s, i, OUT_FAIL);
            continue;
        }
        c->read_ready = 1;
        c->read_index = rs->index;
    }
}

void client_on_applied(sim *s, sim_node *n)
{
    for (int i = 0; i < SIM_CLIENTS; i++) {
        sim_client *c = &s->clients[i];
        if (!waits_on(c, n) || s->hist[c->op].kind != OP_READ || !c->read_ready ||
            n->applied < c->read_index)
            continue;
        s->hist[c->op].value = n->kv[s->hist[c->op].key];
        finish(s, i, OUT_OK);
    }
}

void client_on_crash(sim *s, sim_node *n)
{
    for (int i = 0; i < SIM_CLIENTS; i++) {
        sim_client *c = &s->clients[i];
        if (waits_on(c, n))
            finish(s, i, s->hist[c->op].kind == OP_WRITE ? OUT_UNKNOWN : OUT_FAIL);
    }
}

static int check_key(sim *s, uint64_t key, wgl_op *ops)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nhist; i++) {
        const sim_op *o = &s->hist[i];
        if (o->key != key)
            continue;
        int unknown_write = o->kind == OP_WRITE &&
                            (o->outcome == OUT_UNKNOWN || o->outcome == OUT_PENDING);
        if (o->outcome != OUT_OK && !unknown_write)
            continue;
        ops[n].kind = o->kind == OP_WRITE ? WGL_WRITE : WGL_READ;
        ops[n].value = o->value;
        ops[n].call = o->call;
        ops[n].ret = unknown_write ? WGL_NEVER : o->ret;
        n++;
    }
    size_t bad;
    int rc = wgl_check(ops, n, 0, 20 * 1000 * 1000, &bad);
    if (rc == 0)
        sim_fail(s, "linearizability: key %llu has no linearization (%zu operations; "
                 "stuck at a %s of %llu called at %llu)", U(key), n,
                 ops[bad].kind == WGL_WRITE ? "write" : "read", U(ops[bad].value),
                 U(ops[bad].call));
    else if (rc == -1)
        s->wgl_giveups++;
    else if (rc == -2)
        sim_fail(s, "out of memory in the checker");
    return rc;
}

int client_check_history(sim *s)
{
    int ok_after_heal = 0;
    for (size_t i = 0; i < s->nhist; i++)
        if (s->hist[i].kind == OP_WRITE && s->hist[i].outcome == OUT_OK &&
            s->hist[i].call >= s->heal_time)
            ok_after_heal = 1;
    if (!ok_after_heal) {
        sim_fail(s, "liveness: no write succeeded after healing");
        return -1;
    }
    wgl_op *ops = calloc(s->nhist ? s->nhist : 1, sizeof *ops);
    if (!ops) {
        sim_fail(s, "out of memory");
        return -1;
    }
    for (uint64_t k = 0; k < SIM_KEYS && !s->failed; k++)
        check_key(s, k, ops);
    free(ops);
    return s->failed ? -1 : 0;
}

void client_free(sim *s)
{
    free(s->hist);
}
