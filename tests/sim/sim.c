/* sim.c: the simulated world: the event queue, the network, the nodes and
 * their disks, and the loop that drives each Raft core the way the real
 * node loop must (docs/raft.md): send msgs_now at once, queue the
 * persistent part on the disk, send msgs_after when that write completes,
 * install snapshots and apply committed entries, answer reads. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "raft/codec.h"
#include "sim.h"

/* ---- reporting ---- */

void sim_trace(sim *s, const char *fmt, ...)
{
    if (!s->o.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[t=%llu] ", (unsigned long long)s->now);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void sim_fail(sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(s->why, sizeof s->why, "t=%llu: ", (unsigned long long)s->now);
    if (k > 0 && (size_t)k < sizeof s->why)
        vsnprintf(s->why + k, sizeof s->why - (size_t)k, fmt, ap);
    va_end(ap);
    if (s->o.verbose)
        fprintf(stderr, "FAIL %s\n", s->why);
}

uint64_t sim_entry_hash(const raft_entry *e)
{
    uint64_t h = 0xcbf29ce484222325ull ^ e->type;
    for (size_t i = 0; i < e->len; i++)
        h = (h ^ e->data[i]) * 0x100000001b3ull;
    return h ^ (e->term << 1);
}

/* ---- event queue: a binary heap on (time, seq) ---- */

static int ev_less(const sim_event *a, const sim_event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

void sim_schedule(sim *s, uint64_t at, sim_event *ev)
{
    if (s->nheap == s->capheap) {
        size_t nc = s->capheap ? s->capheap * 2 : 256;
        sim_event *h = realloc(s->heap, nc * sizeof *h);
        if (!h) {
            sim_fail(s, "out of memory");
            raft_msg_free(ev->msg);
            free(ev->msg);
            free(ev->kv);
            return;
        }
        s->heap = h;
        s->capheap = nc;
    }
    ev->time = at;
    ev->seq = ++s->evseq;
    size_t i = s->nheap++;
    s->heap[i] = *ev;
    while (i > 0 && ev_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
        sim_event t = s->heap[i];
        s->heap[i] = s->heap[(i - 1) / 2];
        s->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static sim_event pop_event(sim *s)
{
    sim_event top = s->heap[0];
    s->heap[0] = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->nheap && ev_less(&s->heap[l], &s->heap[m]))
            m = l;
        if (r < s->nheap && ev_less(&s->heap[r], &s->heap[m]))
            m = r;
        if (m == i)
            break;
        sim_event t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
    return top;
}

static void free_event(sim_event *ev)
{
    if (ev->msg) {
        raft_msg_free(ev->msg);
        free(ev->msg);
    }
    free(ev->kv);
    ev->msg = NULL;
    ev->kv = NULL;
}

/* ---- network ---- */

static int slot_of(const sim *s, uint64_t id)
{
    for (int i = 0; i < s->nslots; i++)
        if (s->nodes[i].id == id)
            return i;
    return -1;
}

/* Every message goes through the wire codec (encode, then decode what
 * arrives), as it will between real peers. */
static void net_send_one(sim *s, sim_node *from, const raft_msg *m, uint64_t delay)
{
    sim_event ev = {0};
    ev.kind = EV_DELIVER;
    ev.node = slot_of(s, m->to);
    kbuf wire = KBUF_INIT;
    int rc = raft_codec_encode(m, SIM_CLUSTER_ID, &wire);
    ev.msg = calloc(1, sizeof *ev.msg);
    if (rc == 0 && !ev.msg)
        rc = KAHUNA_ENOMEM;
    size_t used = 0;
    if (rc == 0)
        rc = raft_codec_decode(wire.data, wire.len, SIM_CLUSTER_ID, RAFT_CODEC_MAX_BODY,
                               ev.msg, &used);
    if (rc == 0 && used != wire.len)
        rc = KAHUNA_EINTERNAL;
    kbuf_free(&wire);
    if (rc == 0 && m->type == RAFT_MSG_SNAPSHOT) {
        ev.kv = malloc(sizeof from->snap_kv);
        if (!ev.kv)
            rc = KAHUNA_ENOMEM;
        else
            memcpy(ev.kv, from->snap_kv, sizeof from->snap_kv);
    }
    if (rc < 0) {
        sim_fail(s, "node %llu: %s does not go through the codec: %d",
                 (unsigned long long)from->id, raft_msg_type_name(m->type), rc);
        free_event(&ev);
        return;
    }
    ev.inc = (uint64_t)from->slot;   /* sender slot, for partitions */
    sim_schedule(s, s->now + delay, &ev);
}

static void net_send(sim *s, sim_node *from, const raft_msg *m, uint64_t ack_term)
{
    check_send(s, from, m, ack_term);
    s->msgs++;
    if (m->type == RAFT_MSG_SNAPSHOT)
        s->snapshots_sent++;
    if (slot_of(s, m->to) < 0)
        return;
    if (rng_chance(&s->rng, s->drop_pm))
        return;
    net_send_one(s, from, m, rng_range(&s->rng, 1, s->max_delay));
    if (rng_chance(&s->rng, s->dup_pm))
        net_send_one(s, from, m, rng_range(&s->rng, 1, 3 * s->max_delay));
}

static void deliver(sim *s, sim_event *ev)
{
    int from = (int)ev->inc;
    if (ev->node < 0 || s->blocked[from][ev->node])
        return;
    sim_node *n = &s->nodes[ev->node];
    if (!n->up)
        return;
    const raft_msg *m = ev->msg;
    if (s->o.verbose > 1)
        sim_trace(s, "deliver %s %llu->%llu term %llu index %llu log_term %llu commit %llu "
                  "n %zu reject %d hint %llu ctx %llu", raft_msg_type_name(m->type),
                  (unsigned long long)m->from, (unsigned long long)m->to,
                  (unsigned long long)m->term, (unsigned long long)m->index,
                  (unsigned long long)m->log_term, (unsigned long long)m->commit,
                  m->n_entries, m->reject, (unsigned long long)m->hint,
                  (unsigned long long)m->ctx);
    if (m->type == RAFT_MSG_SNAPSHOT && ev->kv) {
        n->has_in = 1;
        n->in_index = m->snapshot.index;
        n->in_term = m->snapshot.term;
        memcpy(n->in_kv, ev->kv, sizeof n->in_kv);
    }
    int rc = raft_step(n->r, m);
    if (rc < 0 && rc != KAHUNA_EBADREQ)
        sim_fail(s, "node %llu: raft_step(%s) failed: %d", (unsigned long long)n->id,
                 raft_msg_type_name(m->type), rc);
    else if (rc == KAHUNA_EBADREQ)
        sim_fail(s, "node %llu: raft_step refused a %s from %llu", (unsigned long long)n->id,
                 raft_msg_type_name(m->type), (unsigned long long)m->from);
    sim_drive(s, ev->node);
}

/* ---- nodes ---- */

sim_node *sim_leader(sim *s)
{
    sim_node *best = NULL;
    raft_status st, bst;
    for (int i = 0; i < s->nslots; i++) {
        sim_node *n = &s->nodes[i];
        if (!n->up)
            continue;
        raft_status_get(n->r, &st);
        if (st.role == RAFT_LEADER && (!best || st.term > bst.term)) {
            best = n;
            bst = st;
        }
    }
    return best;
}

static void new_timeout(sim *s, sim_node *n)
{
    raft_set_election_timeout(n->r, (unsigned)rng_range(&s->rng, 10, 19));
}

static void schedule_tick(sim *s, sim_node *n)
{
    sim_event ev = {0};
    ev.kind = EV_TICK;
    ev.node = n->slot;
    ev.inc = n->incarnation;
    sim_schedule(s, s->now + n->tick_period, &ev);
}

int sim_start_node(sim *s, int slot)
{
    sim_node *n = &s->nodes[slot];
    raft_options o;
    raft_options_default(&o, n->id);
    o.max_msg_entries = s->p_msg_entries;
    o.max_inflight = s->p_inflight;
    o.snapshot_retry_ticks = 30;
    o.catchup_lag = 4;
    raft_init in;
    memstore_init_of(&n->disk, 0, &in);
    raft_storage st = memstore_storage(&n->disk);
    int rc = raft_new(&o, &st, &in, &n->r);
    if (rc < 0) {
        sim_fail(s, "node %llu: raft_new failed: %d", (unsigned long long)n->id, rc);
        return rc;
    }
    n->started = 1;
    n->up = 1;
    n->incarnation++;
    memcpy(n->kv, n->disk_kv, sizeof n->kv);
    memcpy(n->snap_kv, n->disk_kv, sizeof n->kv);
    n->applied = n->disk.snap.index;
    n->has_in = 0;
    n->leader_term = 0;
    n->disk_free_at = s->now;
    mirror_reset(s, n);
    new_timeout(s, n);
    schedule_tick(s, n);
    sim_trace(s, "node %llu starts (term %llu, log %llu..%llu)", (unsigned long long)n->id,
              (unsigned long long)n->disk.hs.term, (unsigned long long)n->disk.prev_index + 1,
              (unsigned long long)memstore_last_index(&n->disk));
    return 0;
}

static void job_free(sim_job *j);

static void free_jobs(sim_node *n)
{
    for (size_t i = 0; i < n->njobs; i++)
        job_free(&n->jobs[i]);
    n->njobs = 0;
}

void sim_crash(sim *s, int slot)
{
    sim_node *n = &s->nodes[slot];
    if (!n->up)
        return;
    sim_trace(s, "node %llu crashes (%zu writes lost)", (unsigned long long)n->id, n->njobs);
    client_on_crash(s, n);
    raft_free(n->r);
    n->r = NULL;
    n->up = 0;
    free_jobs(n);
    n->has_in = 0;
    s->crashes++;
}

/* ---- the driver ---- */

/* Sends k messages; ack_terms NULL: made just now. */
static void send_all(sim *s, sim_node *n, raft_msg *m, const uint64_t *ack_terms, size_t k)
{
    for (size_t i = 0; i < k; i++)
        net_send(s, n, &m[i], ack_terms ? ack_terms[i] : check_ack_term(n, &m[i]));
}

static void schedule_disk(sim *s, sim_node *n, sim_job *j)
{
    uint64_t start = n->disk_free_at > s->now ? n->disk_free_at : s->now;
    j->done_at = start + rng_range(&s->rng, 1, s->p_disk_max);
    n->disk_free_at = j->done_at;
    sim_event ev = {0};
    ev.kind = EV_DISK;
    ev.node = n->slot;
    ev.inc = n->incarnation;
    sim_schedule(s, j->done_at, &ev);
}

static int job_add_msgs(const sim_node *n, sim_job *j, raft_msg *m, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (j->nafter == j->capafter) {
            size_t nc = j->capafter ? j->capafter * 2 : 8;
            raft_msg *p = realloc(j->after, nc * sizeof *p);
            if (!p)
                return KAHUNA_ENOMEM;
            j->after = p;
            uint64_t *t = realloc(j->after_term, nc * sizeof *t);
            if (!t)
                return KAHUNA_ENOMEM;
            j->after_term = t;
            j->capafter = nc;
        }
        j->after_term[j->nafter] = check_ack_term(n, &m[i]);
        j->after[j->nafter++] = m[i];
        memset(&m[i], 0, sizeof m[i]);
    }
    return 0;
}

static void job_free(sim_job *j)
{
    raft_update_free(&j->u);
    for (size_t i = 0; i < j->nafter; i++)
        raft_msg_free(&j->after[i]);
    free(j->after);
    free(j->after_term);
    memset(j, 0, sizeof *j);
}

/* Moves the persistent part of u and its msgs_after into the disk queue. */
static void queue_persist(sim *s, sim_node *n, raft_update *u)
{
    if (!u->seq) {
        if (!u->n_after)
            return;
        if (n->njobs == 0) {   /* everything before is durable already */
            send_all(s, n, u->msgs_after, NULL, u->n_after);
            return;
        }
        if (job_add_msgs(n, &n->jobs[n->njobs - 1], u->msgs_after, u->n_after) < 0)
            sim_fail(s, "out of memory");
        return;
    }
    if (n->njobs == n->capjobs) {
        size_t nc = n->capjobs ? n->capjobs * 2 : 8;
        sim_job *p = realloc(n->jobs, nc * sizeof *p);
        if (!p) {
            sim_fail(s, "out of memory");
            return;
        }
        n->jobs = p;
        n->capjobs = nc;
    }
    sim_job *j = &n->jobs[n->njobs++];
    memset(j, 0, sizeof *j);
    j->seq = u->seq;
    j->u.seq = u->seq;
    j->u.hs_changed = u->hs_changed;
    j->u.must_sync = u->must_sync;
    j->u.hs = u->hs;
    j->u.has_snapshot = u->has_snapshot;
    j->u.snapshot = u->snapshot;
    memset(&u->snapshot, 0, sizeof u->snapshot);
    j->u.entries = u->entries;
    j->u.n_entries = u->n_entries;
    j->u.truncate_from = u->truncate_from;
    u->entries = NULL;
    u->n_entries = 0;
    if (u->has_snapshot)
        memcpy(j->snap_kv, n->in_kv, sizeof j->snap_kv);
    if (job_add_msgs(n, j, u->msgs_after, u->n_after) < 0)
        sim_fail(s, "out of memory");
    schedule_disk(s, n, j);
}

static void disk_done(sim *s, sim_event *ev)
{
    sim_node *n = &s->nodes[ev->node];
    if (!n->up || ev->inc != n->incarnation || n->njobs == 0 || n->jobs[0].done_at > s->now)
        return;
    sim_job j = n->jobs[0];
    memmove(n->jobs, n->jobs + 1, (n->njobs - 1) * sizeof *n->jobs);
    n->njobs--;
    int rc = memstore_apply(&n->disk, &j.u);
    if (rc < 0)
        sim_fail(s, "node %llu: memstore_apply failed: %d", (unsigned long long)n->id, rc);
    if (j.u.has_snapshot)
        memcpy(n->disk_kv, j.snap_kv, sizeof n->disk_kv);
    if (s->o.verbose > 1)
        sim_trace(s, "node %llu durable seq %llu: log %llu..%llu term %llu vote %llu",
                  (unsigned long long)n->id, (unsigned long long)j.seq,
                  (unsigned long long)n->disk.prev_index + 1,
                  (unsigned long long)memstore_last_index(&n->disk),
                  (unsigned long long)n->disk.hs.term, (unsigned long long)n->disk.hs.vote);
    if (rc == 0 && j.seq) {
        rc = raft_persisted(n->r, j.seq);
        if (rc < 0)
            sim_fail(s, "node %llu: raft_persisted failed: %d", (unsigned long long)n->id, rc);
    }
    send_all(s, n, j.after, j.after_term, j.nafter);
    job_free(&j);
    sim_drive(s, n->slot);
}

static void install_snapshot(sim *s, sim_node *n, const raft_snapshot_meta *m)
{
    if (!n->has_in || n->in_index != m->index || n->in_term != m->term) {
        sim_fail(s, "node %llu: install snapshot %llu/%llu without its data",
                 (unsigned long long)n->id, (unsigned long long)m->index,
                 (unsigned long long)m->term);
        return;
    }
    check_snapshot_install(s, n, m);
    memcpy(n->kv, n->in_kv, sizeof n->kv);
    memcpy(n->snap_kv, n->in_kv, sizeof n->kv);
    n->applied = m->index;
    sim_trace(s, "node %llu installs snapshot %llu/%llu", (unsigned long long)n->id,
              (unsigned long long)m->index, (unsigned long long)m->term);
}

static void apply_entry(sim *s, sim_node *n, const raft_entry *e)
{
    if (e->index != n->applied + 1) {
        sim_fail(s, "node %llu: applies %llu after %llu", (unsigned long long)n->id,
                 (unsigned long long)e->index, (unsigned long long)n->applied);
        return;
    }
    check_apply(s, n, e);
    if (e->type == RAFT_ENTRY_COMMAND && e->len == 16) {
        uint64_t key = 0, val = 0;
        for (int i = 0; i < 8; i++) {
            key = key << 8 | e->data[i];
            val = val << 8 | e->data[8 + i];
        }
        if (key < SIM_KEYS)
            n->kv[key] = val;
    }
    n->applied = e->index;
    client_on_apply(s, n, e);
}

/* Takes a snapshot now and then, like a node compacting its log. */
static void maybe_snapshot(sim *s, sim_node *n)
{
    if (n->njobs || n->applied < n->disk.snap.index + n->snap_every)
        return;
    raft_snapshot_meta meta;
    uint64_t to;
    int rc = raft_snapshot_taken(n->r, n->applied, rng_below(&s->rng, 6), &meta, &to);
    if (rc < 0) {
        sim_fail(s, "node %llu: raft_snapshot_taken failed: %d", (unsigned long long)n->id, rc);
        return;
    }
    if (meta.index == 0)
        return;
    memcpy(n->snap_kv, n->kv, sizeof n->kv);
    memcpy(n->disk_kv, n->kv, sizeof n->kv);
    rc = memstore_set_snapshot(&n->disk, &meta);
    if (rc == 0)
        rc = memstore_compact(&n->disk, to);
    if (rc < 0)
        sim_fail(s, "node %llu: snapshot storage failed: %d", (unsigned long long)n->id, rc);
    raft_config_free(&meta.config);
    sim_trace(s, "node %llu snapshot at %llu, log from %llu", (unsigned long long)n->id,
              (unsigned long long)n->applied, (unsigned long long)to + 1);
}

static void handle_update(sim *s, sim_node *n, raft_update *u)
{
    check_update(s, n, u);
    send_all(s, n, u->msgs_now, NULL, u->n_now);
    if (u->has_snapshot)
        install_snapshot(s, n, &u->snapshot);
    queue_persist(s, n, u);
    for (size_t i = 0; i < u->n_committed && !s->failed; i++)
        apply_entry(s, n, &u->committed[i]);
    for (size_t i = 0; i < u->n_reads; i++)
        client_on_read_state(s, n, &u->reads[i]);
    client_on_applied(s, n);
    if (u->soft_changed) {
        sim_trace(s, "node %llu is %s in term %llu (leader %llu)", (unsigned long long)n->id,
                  raft_role_name(u->role), (unsigned long long)u->term,
                  (unsigned long long)u->leader);
        if (u->role == RAFT_LEADER) {
            s->elections++;
            nemesis_new_leader(s, n);
        }
    }
    if (u->timeout_reset)
        new_timeout(s, n);
    maybe_snapshot(s, n);
}

int sim_drive(sim *s, int slot)
{
    sim_node *n = &s->nodes[slot];
    for (int rounds = 0; n->up && raft_has_update(n->r) && !s->failed; rounds++) {
        if (rounds > 1000) {
            sim_fail(s, "node %llu: updates do not settle", (unsigned long long)n->id);
            break;
        }
        raft_update u;
        int rc = raft_update_get(n->r, &u);
        if (rc < 0) {
            sim_fail(s, "node %llu: raft_update_get failed: %d", (unsigned long long)n->id, rc);
            break;
        }
        handle_update(s, n, &u);
        raft_update_free(&u);
    }
    return s->failed ? -1 : 0;
}

/* ---- setup and main loop ---- */

static int bootstrap(sim *s)
{
    raft_config c = {0};
    int rc = 0;
    for (int i = 0; i < s->o.nodes && rc == 0; i++) {
        char ctx[32];
        int k = snprintf(ctx, sizeof ctx, "n%d=sim://%d", i + 1, i + 1);
        rc = raft_config_add(&c, (uint64_t)i + 1, RAFT_VOTER, ctx, (size_t)k);
    }
    raft_entry e;
    if (rc == 0)
        rc = raft_bootstrap_entry(&c, &e);
    raft_config_free(&c);
    for (int i = 0; i < s->o.nodes && rc == 0; i++)
        rc = memstore_append(&s->nodes[i].disk, &e, 1);
    if (rc == 0)
        free(e.data);
    for (int i = 0; i < s->o.nodes && rc == 0; i++)
        rc = sim_start_node(s, i);
    return rc;
}

int sim_init(sim *s, const sim_opts *o)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    rng_seed(&s->rng, o->seed);
    s->nslots = SIM_SLOTS;
    s->max_delay = 10;
    static const size_t entries[] = {1, 2, 3, 8, 64};
    static const size_t inflight[] = {1, 2, 4, 16};
    static const uint64_t disk[] = {2, 8, 30};
    static const uint64_t pace[] = {150, 600, 1200};
    s->p_msg_entries = entries[rng_below(&s->rng, 5)];
    s->p_inflight = inflight[rng_below(&s->rng, 4)];
    s->p_disk_max = disk[rng_below(&s->rng, 3)];
    s->p_nemesis_max = pace[rng_below(&s->rng, 3)];
    s->p_kill_new_leader = rng_chance(&s->rng, 300) ? 400 : 0;
    for (int i = 0; i < s->nslots; i++) {
        sim_node *n = &s->nodes[i];
        n->slot = i;
        n->id = (uint64_t)i + 1;
        memstore_init(&n->disk);
        n->tick_period = rng_range(&s->rng, 8, 12);    /* clock rates differ */
        n->snap_every = rng_range(&s->rng, 8, 40);
    }
    int rc = bootstrap(s);
    if (rc < 0)
        return rc;
    client_start(s);
    nemesis_start(s);
    sim_event ev = {0};
    ev.kind = EV_HEAL;
    sim_schedule(s, o->fault_time, &ev);
    ev.kind = EV_END;
    sim_schedule(s, o->fault_time + o->quiet_time, &ev);
    return 0;
}

static void tick(sim *s, sim_event *ev)
{
    sim_node *n = &s->nodes[ev->node];
    if (!n->up || ev->inc != n->incarnation)
        return;
    n->ticks++;
    int rc = raft_tick(n->r);
    if (rc < 0)
        sim_fail(s, "node %llu: raft_tick failed: %d", (unsigned long long)n->id, rc);
    schedule_tick(s, n);
    sim_drive(s, n->slot);
}

/* An event for a paused node waits until the pause ends (its order among
 * the node's other waiting events is shuffled a little). */
static int defer_if_paused(sim *s, sim_event *ev)
{
    if (ev->kind != EV_TICK && ev->kind != EV_DELIVER && ev->kind != EV_DISK)
        return 0;
    if (ev->node < 0 || s->nodes[ev->node].paused_until <= s->now)
        return 0;
    sim_event later = *ev;
    sim_schedule(s, s->nodes[ev->node].paused_until + rng_below(&s->rng, 10), &later);
    ev->msg = NULL;
    ev->kv = NULL;
    return 1;
}

int sim_run(sim *s)
{
    int done = 0;
    while (!done && !s->failed && s->nheap) {
        sim_event ev = pop_event(s);
        s->now = ev.time;
        s->events++;
        if (defer_if_paused(s, &ev))
            continue;
        switch (ev.kind) {
        case EV_TICK: tick(s, &ev); break;
        case EV_DELIVER: deliver(s, &ev); break;
        case EV_DISK: disk_done(s, &ev); break;
        case EV_CLIENT: client_event(s, &ev); break;
        case EV_NEMESIS: nemesis_event(s); break;
        case EV_HEAL: nemesis_heal(s); break;
        case EV_END: done = 1; break;
        case EV_CRASH:
        case EV_RESTART: nemesis_crash_event(s, &ev); break;
        }
        free_event(&ev);
        if (!s->failed)
            check_step(s);
    }
    if (!s->failed)
        check_end(s);
    if (!s->failed)
        client_check_history(s);
    return s->failed ? -1 : 0;
}

void sim_free(sim *s)
{
    for (size_t i = 0; i < s->nheap; i++)
        free_event(&s->heap[i]);
    free(s->heap);
    for (int i = 0; i < s->nslots; i++) {
        sim_node *n = &s->nodes[i];
        raft_free(n->r);
        for (size_t k = 0; k < n->njobs; k++)
            job_free(&n->jobs[k]);
        free(n->jobs);
        memstore_free(&n->disk);
        free(n->m);
    }
    client_free(s);
    check_free(s);
}
