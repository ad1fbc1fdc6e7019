/* check.c: the invariants the simulator checks after every step (Raft
 * paper Figure 3, etcd's TLA+ invariants, and our persistence rules):
 *
 *   election safety     at most one leader per term;
 *   log matching        two logs with an entry of the same index and term
 *                       hold the same entry and the same term before it;
 *   leader append-only  a leader never removes or rewrites its entries;
 *   leader completeness a new leader's log holds every entry committed in
 *                       an earlier term;
 *   state machine safety every node applies the same entry at an index,
 *                       in order, and a snapshot equals the replayed log;
 *   commit is durable   a leader's commit index is within its durable log;
 *   Figure 8            a leader's commit index moves only to entries of
 *                       its own term;
 *   persistence order   a message leaves only when what it vouches for is
 *                       durable (term, vote, acked entries);
 *   and at the end: a leader exists and every member caught up. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

typedef struct sim_committed {
    uint64_t term, hash;
    uint64_t cterm;          /* committed at the latest in this term */
    int has_cmd;
    uint64_t key, val;
} sim_committed;

/* The committed table lives behind s->committed, typed here. */
static sim_committed *committed_at(sim *s, uint64_t index)
{
    if (index >= s->ncommitted) {
        size_t nc = s->ncommitted ? s->ncommitted : 1024;
        while (nc <= index)
            nc *= 2;
        sim_committed *p = realloc(s->committed, nc * sizeof *p);
        if (!p) {
            sim_fail(s, "out of memory");
            return NULL;
        }
        memset(p + s->ncommitted, 0, (nc - s->ncommitted) * sizeof *p);
        s->committed = p;
        s->ncommitted = nc;
    }
    return &((sim_committed *)s->committed)[index];
}


#define U(x) ((unsigned long long)(x))

/* Records that index holds (term, hash) committed, known by a node in
 * term cterm (so committed in cterm or earlier); hash 0 = unknown. */
static void record_committed(sim *s, uint64_t index, uint64_t term, uint64_t hash,
                             uint64_t cterm, const char *who)
{
    sim_committed *c = committed_at(s, index);
    if (!c)
        return;
    if (c->term == 0) {
        c->term = term;
        c->hash = hash;
        c->cterm = cterm;
        return;
    }
    if (cterm < c->cterm)
        c->cterm = cterm;
    if (c->term != term || (hash && c->hash && c->hash != hash))
        sim_fail(s, "state machine safety: index %llu committed as term %llu, %s says term %llu",
                 U(index), U(c->term), who, U(term));
    else if (!c->hash)
        c->hash = hash;
}

/* ---- mirror ---- */

int mirror_term(const sim_node *n, uint64_t index, uint64_t *term)
{
    *term = 0;
    if (index == n->m_prev) {
        *term = n->m_prev_term;
        return 0;
    }
    if (index < n->m_prev || index > n->m_prev + n->mn)
        return -1;
    *term = n->m[index - n->m_prev - 1].term;
    return 0;
}

static uint64_t mirror_last(const sim_node *n)
{
    return n->m_prev + n->mn;
}

static int mirror_push(sim *s, sim_node *n, uint64_t term, uint64_t hash)
{
    if (n->mn == n->mcap) {
        size_t nc = n->mcap ? n->mcap * 2 : 64;
        sim_mentry *p = realloc(n->m, nc * sizeof *p);
        if (!p) {
            sim_fail(s, "out of memory");
            return -1;
        }
        n->m = p;
        n->mcap = nc;
    }
    n->m[n->mn].term = term;
    n->m[n->mn].hash = hash;
    n->mn++;
    return 0;
}

void mirror_reset(sim *s, sim_node *n)
{
    n->m_prev = n->disk.prev_index;
    n->m_prev_term = n->disk.prev_term;
    n->mn = 0;
    for (size_t i = 0; i < n->disk.n; i++)
        if (mirror_push(s, n, n->disk.e[i].term, sim_entry_hash(&n->disk.e[i])) < 0)
            return;
    n->commit_seen = n->disk.snap.index;
}

/* ---- log matching registry: (index, term) -> (hash, previous term) ---- */

static size_t reg_slot(const sim *s, uint64_t index, uint64_t term)
{
    uint64_t h = index * 0x9e3779b97f4a7c15ull ^ term * 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 29)) & (s->capreg - 1);
}

static int reg_grow(sim *s)
{
    size_t nc = s->capreg ? s->capreg * 2 : 4096;
    sim_reg *old = s->reg;
    size_t oldcap = s->capreg;
    s->reg = calloc(nc, sizeof *s->reg);
    if (!s->reg) {
        s->reg = old;
        sim_fail(s, "out of memory");
        return -1;
    }
    s->capreg = nc;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].term)
            continue;
        size_t k = reg_slot(s, old[i].index, old[i].term);
        while (s->reg[k].term)
            k = (k + 1) & (nc - 1);
        s->reg[k] = old[i];
    }
    free(old);
    return 0;
}

static void reg_check(sim *s, const sim_node *n, uint64_t index, uint64_t term,
                      uint64_t hash, uint64_t prev_term)
{
    if ((s->nreg + 1) * 2 > s->capreg && reg_grow(s) < 0)
        return;
    size_t k = reg_slot(s, index, term);
    while (s->reg[k].term) {
        sim_reg *r = &s->reg[k];
        if (r->index == index && r->term == term) {
            if (r->hash != hash || r->prev_term != prev_term)
                sim_fail(s, "log matching: node %llu has entry %llu/%llu differing from "
                         "another log (content or previous term %llu vs %llu)",
                         U(n->id), U(index), U(term), U(prev_term), U(r->prev_term));
            return;
        }
        k = (k + 1) & (s->capreg - 1);
    }
    s->reg[k].index = index;
    s->reg[k].term = term;
    s->reg[k].hash = hash;
    s->reg[k].prev_term = prev_term;
    s->nreg++;
}

/* ---- per update ---- */

static int leading_same_term(sim_node *n, const raft_update *u)
{
    return n->leader_term && u->role == RAFT_LEADER && u->term == n->leader_term;
}

static void check_entries(sim *s, sim_node *n, const raft_update *u)
{
    uint64_t first = u->entries[0].index, last = mirror_last(n);
    if (first > last + 1 || first <= n->m_prev) {
        sim_fail(s, "node %llu: entries from %llu do not fit its log (%llu..%llu)",
                 U(n->id), U(first), U(n->m_prev + 1), U(last));
        return;
    }
    if (first <= last) {
        if (leading_same_term(n, u))
            sim_fail(s, "leader append-only: leader %llu of term %llu rewrites its log from %llu",
                     U(n->id), U(u->term), U(first));
        if (first <= n->commit_seen)
            sim_fail(s, "node %llu rewrites committed entry %llu (commit %llu)", U(n->id),
                     U(first), U(n->commit_seen));
        n->mn = (size_t)(first - n->m_prev - 1);
    }
    for (size_t i = 0; i < u->n_entries && !s->failed; i++) {
        const raft_entry *e = &u->entries[i];
        uint64_t prev_term;
        if (e->index != mirror_last(n) + 1 || mirror_term(n, e->index - 1, &prev_term) < 0) {
            sim_fail(s, "node %llu: entry %llu out of order", U(n->id), U(e->index));
            return;
        }
        uint64_t h = sim_entry_hash(e);
        reg_check(s, n, e->index, e->term, h, prev_term);
        if (mirror_push(s, n, e->term, h) < 0)
            return;
    }
}

/* Leader completeness: an entry committed in a term before the new
 * leader's term is in the new leader's log. */
static void check_new_leader(sim *s, sim_node *n, uint64_t term)
{
    sim_committed *c = (sim_committed *)s->committed;
    for (uint64_t i = n->m_prev + 1; i < s->ncommitted; i++) {
        if (!c[i].term || c[i].cterm >= term)
            continue;
        uint64_t t;
        if (mirror_term(n, i, &t) < 0) {
            sim_fail(s, "leader completeness: leader %llu of term %llu lacks %llu "
                     "(committed in term %llu)", U(n->id), U(term), U(i), U(c[i].cterm));
            return;
        }
        if (t != c[i].term) {
            sim_fail(s, "leader completeness: leader %llu of term %llu has term %llu at "
                     "%llu, committed term is %llu", U(n->id), U(term), U(t), U(i),
                     U(c[i].term));
            return;
        }
    }
}

void check_update(sim *s, sim_node *n, const raft_update *u)
{
    if (u->has_snapshot) {
        if (leading_same_term(n, u))
            sim_fail(s, "leader append-only: leader %llu installs a snapshot", U(n->id));
        if (u->snapshot.index <= n->commit_seen)
            sim_fail(s, "node %llu installs snapshot %llu at or below its commit %llu",
                     U(n->id), U(u->snapshot.index), U(n->commit_seen));
        n->m_prev = u->snapshot.index;
        n->m_prev_term = u->snapshot.term;
        n->mn = 0;
        record_committed(s, u->snapshot.index, u->snapshot.term, 0, u->term, "a snapshot");
        n->commit_seen = u->snapshot.index;
    }
    if (u->n_entries)
        check_entries(s, n, u);
    if (u->soft_changed && u->role == RAFT_LEADER) {
        check_new_leader(s, n, u->term);
        raft_status st;
        raft_status_get(n->r, &st);
        n->lead_commit0 = st.commit;
    }
    n->leader_term = u->role == RAFT_LEADER ? u->term : 0;
}

/* ---- per message sent ---- */

uint64_t check_ack_term(const sim_node *n, const raft_msg *m)
{
    uint64_t t = 0;
    if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && mirror_term(n, m->index, &t) < 0)
        t = 0;
    return t;
}

void check_send(sim *s, sim_node *n, const raft_msg *m, uint64_t ack_term)
{
    const memstore *d = &n->disk;
    switch (m->type) {
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_READ_INDEX:
    case RAFT_MSG_READ_INDEX_RESP:
        return;
    }
    const char *t = raft_msg_type_name(m->type);
    if (m->term > d->hs.term) {
        sim_fail(s, "persistence: node %llu sends %s of term %llu, durable term is %llu",
                 U(n->id), t, U(m->term), U(d->hs.term));
        return;
    }
    if (m->type == RAFT_MSG_VOTE && (d->hs.term != m->term || d->hs.vote != n->id))
        sim_fail(s, "persistence: node %llu asks for votes before its own vote is durable",
                 U(n->id));
    if (m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
        (d->hs.term != m->term || d->hs.vote != m->to))
        sim_fail(s, "persistence: node %llu grants a vote to %llu in term %llu, durable "
                 "vote is %llu in term %llu", U(n->id), U(m->to), U(m->term),
                 U(d->hs.vote), U(d->hs.term));
    if (m->type == RAFT_MSG_APPEND_RESP && !m->reject && m->index > d->prev_index) {
        uint64_t dt;
        if (memstore_term(d, m->index, &dt) < 0 || (ack_term && dt != ack_term))
            sim_fail(s, "persistence: node %llu acks index %llu that is not durable "
                     "(durable log ends at %llu)", U(n->id), U(m->index),
                     U(memstore_last_index(d)));
    }
}

/* ---- apply ---- */

void check_apply(sim *s, sim_node *n, const raft_entry *e)
{
    uint64_t mt;
    if (mirror_term(n, e->index, &mt) == 0 && e->index > n->m_prev && mt != e->term)
        sim_fail(s, "node %llu applies %llu/%llu, its log has term %llu", U(n->id),
                 U(e->index), U(e->term), U(mt));
    uint64_t dt;
    if (e->index > n->disk.prev_index &&
        (memstore_term(&n->disk, e->index, &dt) < 0 || dt != e->term))
        sim_fail(s, "node %llu applies %llu before it is durable locally", U(n->id),
                 U(e->index));
    raft_status st;
    raft_status_get(n->r, &st);
    record_committed(s, e->index, e->term, sim_entry_hash(e), st.term, "an apply");
    sim_committed *c = committed_at(s, e->index);
    if (c && e->type == RAFT_ENTRY_COMMAND && e->len == 16 && !c->has_cmd) {
        c->has_cmd = 1;
        for (int i = 0; i < 8; i++) {
            c->key = c->key << 8 | e->data[i];
            c->val = c->val << 8 | e->data[8 + i];
        }
    }
}

/* A snapshot must equal the state machine replayed from the committed log. */
void check_snapshot_install(sim *s, sim_node *n, const raft_snapshot_meta *m)
{
    uint64_t kv[SIM_KEYS] = {0};
    sim_committed *c = (sim_committed *)s->committed;
    if (m->index >= s->ncommitted)
        return;
    for (uint64_t i = 1; i <= m->index; i++) {
        if (!c[i].term)
            return;   /* not every entry was seen applied: cannot replay */
        if (c[i].has_cmd && c[i].key < SIM_KEYS)
            kv[c[i].key] = c[i].val;
    }
    if (memcmp(kv, n->in_kv, sizeof kv) != 0)
        sim_fail(s, "node %llu installs snapshot %llu whose state differs from the log",
                 U(n->id), U(m->index));
}

/* ---- after every step ---- */

static void check_node(sim *s, sim_node *n)
{
    raft_status st;
    raft_status_get(n->r, &st);
    if (st.last_index != mirror_last(n))
        sim_fail(s, "node %llu: core log ends at %llu, updates say %llu", U(n->id),
                 U(st.last_index), U(mirror_last(n)));
    if (st.applied != n->applied || st.commit < st.applied || st.commit > st.last_index ||
        st.snapshot_index > st.applied || st.durable_index > st.last_index)
        sim_fail(s, "node %llu: inconsistent core: applied %llu (node %llu), commit %llu, "
                 "last %llu, snapshot %llu, durable %llu", U(n->id), U(st.applied),
                 U(n->applied), U(st.commit), U(st.last_index), U(st.snapshot_index),
                 U(st.durable_index));
    uint64_t mt;
    if (mirror_term(n, st.last_index, &mt) == 0 && mt != st.last_term)
        sim_fail(s, "node %llu: core last term %llu, updates say %llu", U(n->id),
                 U(st.last_term), U(mt));
    if (st.role == RAFT_LEADER) {
        if (st.term >= s->nterms) {
            size_t nc = s->nterms ? s->nterms : 64;
            while (nc <= st.term)
                nc *= 2;
            uint64_t *p = realloc(s->leader_of_term, nc * sizeof *p);
            if (!p) {
                sim_fail(s, "out of memory");
                return;
            }
            memset(p + s->nterms, 0, (nc - s->nterms) * sizeof *p);
            s->leader_of_term = p;
            s->nterms = nc;
        }
        if (s->leader_of_term[st.term] && s->leader_of_term[st.term] != n->id)
            sim_fail(s, "election safety: nodes %llu and %llu both lead term %llu",
                     U(s->leader_of_term[st.term]), U(n->id), U(st.term));
        s->leader_of_term[st.term] = n->id;
        /* Figure 8: a leader moves its commit index only to an entry of
         * its own term (older entries are committed with it). */
        if (n->leader_term == st.term && st.commit > n->lead_commit0 &&
            (mirror_term(n, st.commit, &mt) < 0 || mt != st.term))
            sim_fail(s, "leader %llu of term %llu committed %llu, an entry of term %llu",
                     U(n->id), U(st.term), U(st.commit), U(mt));
        uint64_t dt;
        if (st.commit > n->disk.prev_index &&
            (memstore_term(&n->disk, st.commit, &dt) < 0 ||
             mirror_term(n, st.commit, &mt) < 0 || dt != mt))
            sim_fail(s, "leader %llu commits %llu beyond its durable log (ends at %llu)",
                     U(n->id), U(st.commit), U(memstore_last_index(&n->disk)));
    }
    for (uint64_t i = n->commit_seen + 1; i <= st.commit && !s->failed; i++) {
        if (i <= n->m_prev)
            continue;
        const sim_mentry *e = &n->m[i - n->m_prev - 1];
        record_committed(s, i, e->term, e->hash, st.term, "a commit index");
    }
    if (st.commit > n->commit_seen)
        n->commit_seen = st.commit;
}

void check_step(sim *s)
{
    for (int i = 0; i < s->nslots && !s->failed; i++)
        if (s->nodes[i].up)
            check_node(s, &s->nodes[i]);
}

void check_end(sim *s)
{
    sim_node *l = sim_leader(s);
    if (!l) {
        sim_fail(s, "liveness: no leader %llu time units after healing",
                 U(s->o.quiet_time));
        return;
    }
    raft_status st;
    raft_status_get(l->r, &st);
    for (size_t i = 0; i < st.config->n; i++) {
        uint64_t id = st.config->servers[i].id;
        if (id == 0 || id > (uint64_t)s->nslots)
            continue;
        sim_node *n = &s->nodes[id - 1];
        if (n->up && n->applied < st.commit)
            sim_fail(s, "liveness: member %llu applied %llu, leader %llu committed %llu",
                     U(n->id), U(n->applied), U(l->id), U(st.commit));
    }
}

void check_free(sim *s)
{
    free(s->leader_of_term);
    free(s->committed);
    free(s->reg);
}
