/* raft_fixture.c: see raft_fixture.h. Failures here abort the test
 * (ck_assert), they are bugs of the test or of the core. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "raft_fixture.h"

void tm_push(tmsgs *l, raft_msg *m)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->m = realloc(l->m, l->cap * sizeof *l->m);
        ck_assert_ptr_nonnull(l->m);
    }
    l->m[l->n++] = *m;
    memset(m, 0, sizeof *m);
}

void tm_clear(tmsgs *l)
{
    for (size_t i = 0; i < l->n; i++)
        raft_msg_free(&l->m[i]);
    free(l->m);
    memset(l, 0, sizeof *l);
}

size_t tm_count(const tmsgs *l, int type)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        k += l->m[i].type == type;
    return k;
}

raft_msg *tm_find(tmsgs *l, int type, uint64_t to)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->m[i].type == type && (!to || l->m[i].to == to))
            return &l->m[i];
    return NULL;
}

void tn_options(raft_options *o, uint64_t id)
{
    raft_options_default(o, id);
    o->election_ticks = 10;
    o->heartbeat_ticks = 1;
    o->max_msg_entries = 4;
    o->max_inflight = 3;
    o->catchup_lag = 2;
    o->snapshot_retry_ticks = 20;
}

static void start(tnode *t)
{
    raft_init in;
    memstore_init_of(&t->st, t->applied, &in);
    raft_storage st = memstore_storage(&t->st);
    ck_assert_int_eq(raft_new(&t->o, &st, &in, &t->r), 0);
    t->role = RAFT_FOLLOWER;
}

void tn_init_empty(tnode *t, uint64_t id, const raft_options *o)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    if (o) {
        t->o = *o;
        t->o.id = id;
    } else {
        tn_options(&t->o, id);
    }
    memstore_init(&t->st);
    start(t);
}

void tn_init(tnode *t, uint64_t id, int voters, const raft_options *o)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    if (o) {
        t->o = *o;
        t->o.id = id;
    } else {
        tn_options(&t->o, id);
    }
    memstore_init(&t->st);
    raft_config c = {0};
    for (int i = 1; i <= voters; i++)
        ck_assert_int_eq(raft_config_add(&c, (uint64_t)i, RAFT_VOTER, "x", 1), 0);
    raft_entry e;
    ck_assert_int_eq(raft_bootstrap_entry(&c, &e), 0);
    raft_config_free(&c);
    ck_assert_int_eq(memstore_append(&t->st, &e, 1), 0);
    free(e.data);
    start(t);
}

void tn_restart(tnode *t)
{
    raft_free(t->r);
    t->applied = t->st.snap.index;   /* volatile state machine: from the snapshot */
    start(t);
}

void tn_free(tnode *t)
{
    raft_free(t->r);
    memstore_free(&t->st);
    memset(t, 0, sizeof *t);
}

void tn_record(tnode *t, const raft_update *u)
{
    if (u->has_snapshot) {
        t->applied = u->snapshot.index;
        t->applied_term = u->snapshot.term;
        t->snap_index = u->snapshot.index;
    }
    for (size_t i = 0; i < u->n_committed; i++) {
        ck_assert_uint_eq(u->committed[i].index, t->applied + 1);
        t->applied = u->committed[i].index;
        t->applied_term = u->committed[i].term;
        t->napplied++;
    }
    for (size_t i = 0; i < u->n_reads && t->nreads < 64; i++)
        t->reads[t->nreads++] = u->reads[i];
    t->role = u->role;
}

void tn_persist(tnode *t, raft_update *u)
{
    ck_assert_int_eq(memstore_apply(&t->st, u), 0);
    if (u->seq)
        ck_assert_int_eq(raft_persisted(t->r, u->seq), 0);
}

void tn_process(tnode *t, tmsgs *out)
{
    for (int guard = 0; raft_has_update(t->r); guard++) {
        ck_assert_int_lt(guard, 1000);
        raft_update u;
        ck_assert_int_eq(raft_update_get(t->r, &u), 0);
        tn_persist(t, &u);
        tn_record(t, &u);
        for (size_t i = 0; out && i < u.n_now; i++)
            tm_push(out, &u.msgs_now[i]);
        for (size_t i = 0; out && i < u.n_after; i++)
            tm_push(out, &u.msgs_after[i]);
        raft_update_free(&u);
    }
}

void tn_tick(tnode *t, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(raft_tick(t->r), 0);
}

void tc_init(tcluster *c, int size, const raft_options *o)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    for (int i = 0; i < size; i++)
        tn_init(&c->n[i], (uint64_t)i + 1, size, o);
}

void tc_free(tcluster *c)
{
    for (int i = 0; i < c->size; i++)
        tn_free(&c->n[i]);
    tm_clear(&c->net);
}

tnode *tc_node(tcluster *c, uint64_t id)
{
    ck_assert(id >= 1 && id <= (uint64_t)c->size);
    return &c->n[id - 1];
}

void tc_stabilize(tcluster *c)
{
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < c->size; i++)
            if (c->n[i].r)
                tn_process(&c->n[i], &c->net);
        if (c->net.n == 0)
            return;
        tmsgs batch = c->net;
        memset(&c->net, 0, sizeof c->net);
        for (size_t i = 0; i < batch.n; i++) {
            raft_msg *m = &batch.m[i];
            if (m->to < 1 || m->to > (uint64_t)c->size || c->cut[m->from][m->to])
                continue;
            tnode *t = &c->n[m->to - 1];
            if (!t->r)
                continue;
            int rc = raft_step(t->r, m);
            ck_assert_msg(rc == 0, "step %s %llu->%llu: %d", raft_msg_type_name(m->type),
                          (unsigned long long)m->from, (unsigned long long)m->to, rc);
        }
        tm_clear(&batch);
    }
    ck_abort_msg("cluster does not stabilize");
}

void tc_elect(tcluster *c, uint64_t id)
{
    tnode *t = tc_node(c, id);
    tn_tick(t, (int)t->o.election_ticks * 2);
    tc_stabilize(c);
    raft_status st;
    raft_status_get(t->r, &st);
    ck_assert_int_eq(st.role, RAFT_LEADER);
}

uint64_t tc_propose(tcluster *c, uint64_t id, const char *data)
{
    uint64_t index, term;
    ck_assert_int_eq(raft_propose(tc_node(c, id)->r, RAFT_ENTRY_COMMAND, data, strlen(data),
                                  &index, &term), 0);
    return index;
}

void tc_isolate(tcluster *c, uint64_t id)
{
    for (int i = 1; i <= TC_MAX; i++) {
        c->cut[id][i] = 1;
        c->cut[i][id] = 1;
    }
}

void tc_heal(tcluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
}

raft_msg tc_msg(int type, uint64_t from, uint64_t to, uint64_t term)
{
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = (uint8_t)type;
    m.from = from;
    m.to = to;
    m.term = term;
    return m;
}

void tn_step(tnode *t, raft_msg *m)
{
    int rc = raft_step(t->r, m);
    ck_assert_msg(rc == 0, "raft_step(%s) = %d", raft_msg_type_name(m->type), rc);
}

raft_status tn_status(tnode *t)
{
    raft_status st;
    raft_status_get(t->r, &st);
    return st;
}

void tn_make_leader(tnode *t)
{
    tn_tick(t, (int)t->o.election_ticks * 2);
    tn_process(t, NULL);
    raft_status st = tn_status(t);
    ck_assert_int_eq(st.role, RAFT_PRECANDIDATE);
    for (uint64_t v = 2; tn_status(t).role == RAFT_PRECANDIDATE; v++) {
        ck_assert_uint_le(v, TC_MAX);
        raft_msg m = tc_msg(RAFT_MSG_PREVOTE_RESP, v, t->id, st.term + 1);
        tn_step(t, &m);
    }
    tn_process(t, NULL);
    for (uint64_t v = 2; tn_status(t).role == RAFT_CANDIDATE; v++) {
        ck_assert_uint_le(v, TC_MAX);
        raft_msg m = tc_msg(RAFT_MSG_VOTE_RESP, v, t->id, st.term + 1);
        tn_step(t, &m);
    }
    tn_process(t, NULL);
    ck_assert_int_eq(tn_status(t).role, RAFT_LEADER);
}

void tn_set_log(tnode *t, const uint64_t *terms, size_t n, uint64_t term)
{
    ck_assert_uint_eq(t->st.prev_index, 0);
    raft_entry *e = calloc(n ? n : 1, sizeof *e);
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < n; i++) {
        e[i].index = 2 + i;
        e[i].term = terms[i];
        e[i].type = RAFT_ENTRY_NOOP;
    }
    /* everything after the bootstrap entry is replaced */
    for (size_t i = 1; i < t->st.n; i++)
        free(t->st.e[i].data);
    if (t->st.n > 1)
        t->st.n = 1;
    ck_assert_int_eq(memstore_append(&t->st, e, n), 0);
    free(e);
    t->st.hs.term = term;
    t->st.hs.vote = 0;
    t->st.hs.commit = 0;
    t->applied = 0;
    tn_restart(t);
}

raft_msg tn_append_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t prev,
                       uint64_t prev_term, uint64_t commit, const uint64_t *terms, size_t n)
{
    raft_msg m = tc_msg(RAFT_MSG_APPEND, from, to, term);
    m.index = prev;
    m.log_term = prev_term;
    m.commit = commit;
    if (n) {
        m.entries = calloc(n, sizeof *m.entries);
        ck_assert_ptr_nonnull(m.entries);
        m.n_entries = n;
        for (size_t i = 0; i < n; i++) {
            m.entries[i].index = prev + 1 + i;
            m.entries[i].term = terms[i];
            m.entries[i].type = RAFT_ENTRY_NOOP;
        }
    }
    return m;
}
