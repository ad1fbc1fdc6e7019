/* membership.c: configurations and single-server membership changes
 * (thesis §4.1, §4.2.2, §4.3).
 *
 * A configuration takes effect on a server as soon as its CONFIG entry is
 * in the server's log, committed or not; a truncated CONFIG entry takes its
 * configuration with it (the previous one is back). The core keeps the
 * configuration at the snapshot point (base) and every CONFIG entry after it
 * (they are few), so both are cheap.
 *
 * The leader allows one change at a time: a new change only when the
 * previous CONFIG entry is committed, and not before the leader's no-op of
 * its term is committed either (the raft-dev fix for single-server changes:
 * pending_conf_index starts at the no-op). A learner is promoted only once it
 * is close to the leader's log (catchup_lag) and was heard from recently,
 * so the promotion does not stall commits. A leader that removes itself
 * keeps leading (without counting itself) until the removal is committed,
 * then steps down; a server that is not a voter never campaigns. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* ---- raft_config ---- */

void raft_config_free(raft_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->servers[i].ctx);
    free(c->servers);
    c->servers = NULL;
    c->n = 0;
}

int raft_config_add(raft_config *c, uint64_t id, uint8_t role, const void *ctx, size_t ctx_len)
{
    if (id == RAFT_NONE || (role != RAFT_VOTER && role != RAFT_LEARNER) ||
        ctx_len > RAFT_MAX_SERVER_CTX || (ctx_len && !ctx) || c->n >= RAFT_MAX_SERVERS ||
        raft_config_find(c, id))
        return KAHUNA_EBADREQ;
    raft_server *s = realloc(c->servers, (c->n + 1) * sizeof *s);
    if (!s)
        return KAHUNA_ENOMEM;
    c->servers = s;
    s = &c->servers[c->n];
    memset(s, 0, sizeof *s);
    if (ctx_len) {
        s->ctx = malloc(ctx_len);
        if (!s->ctx)
            return KAHUNA_ENOMEM;
        memcpy(s->ctx, ctx, ctx_len);
    }
    s->id = id;
    s->role = role;
    s->ctx_len = ctx_len;
    c->n++;
    return 0;
}

int raft_config_copy(raft_config *dst, const raft_config *src)
{
    dst->servers = NULL;
    dst->n = 0;
    for (size_t i = 0; i < src->n; i++) {
        const raft_server *s = &src->servers[i];
        int rc = raft_config_add(dst, s->id, s->role, s->ctx, s->ctx_len);
        if (rc < 0) {
            raft_config_free(dst);
            return rc;
        }
    }
    return 0;
}

const raft_server *raft_config_find(const raft_config *c, uint64_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->servers[i].id == id)
            return &c->servers[i];
    return NULL;
}

size_t raft_config_voters(const raft_config *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->servers[i].role == RAFT_VOTER;
    return n;
}

/* Encoding: version u8 (1) | count u32 | count x (id u64 | role u8 |
 * ctx_len u16 | ctx), integers big-endian. */
#define CONFIG_VERSION 1

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int raft_config_encode(const raft_config *c, uint8_t **out, size_t *len)
{
    size_t n = 5;
    for (size_t i = 0; i < c->n; i++)
        n += 11 + c->servers[i].ctx_len;
    uint8_t *p = malloc(n);
    if (!p)
        return KAHUNA_ENOMEM;
    p[0] = CONFIG_VERSION;
    p[1] = (uint8_t)(c->n >> 24);
    p[2] = (uint8_t)(c->n >> 16);
    p[3] = (uint8_t)(c->n >> 8);
    p[4] = (uint8_t)c->n;
    size_t o = 5;
    for (size_t i = 0; i < c->n; i++) {
        const raft_server *s = &c->servers[i];
        put_u64(p + o, s->id);
        p[o + 8] = s->role;
        p[o + 9] = (uint8_t)(s->ctx_len >> 8);
        p[o + 10] = (uint8_t)s->ctx_len;
        if (s->ctx_len)
            memcpy(p + o + 11, s->ctx, s->ctx_len);
        o += 11 + s->ctx_len;
    }
    *out = p;
    *len = n;
    return 0;
}

int raft_config_decode(const uint8_t *p, size_t n, raft_config *out)
{
    out->servers = NULL;
    out->n = 0;
    if (n < 5 || !p || p[0] != CONFIG_VERSION)
        return KAHUNA_EBADREQ;
    uint32_t count = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (count > RAFT_MAX_SERVERS)
        return KAHUNA_EBADREQ;
    size_t o = 5;
    for (uint32_t i = 0; i < count; i++) {
        if (n - o < 11)
            goto bad;
        uint64_t id = get_u64(p + o);
        uint8_t role = p[o + 8];
        size_t clen = (size_t)p[o + 9] << 8 | p[o + 10];
        o += 11;
        if (n - o < clen)
            goto bad;
        int rc = raft_config_add(out, id, role, p + o, clen);
        if (rc < 0) {
            raft_config_free(out);
            return rc;
        }
        o += clen;
    }
    if (o != n)
        goto bad;
    return 0;
bad:
    raft_config_free(out);
    return KAHUNA_EBADREQ;
}

int raft_bootstrap_entry(const raft_config *initial, raft_entry *out)
{
    memset(out, 0, sizeof *out);
    if (raft_config_voters(initial) == 0)
        return KAHUNA_EBADREQ;
    out->index = 1;
    out->term = 1;
    out->type = RAFT_ENTRY_CONFIG;
    return raft_config_encode(initial, &out->data, &out->len);
}

/* ---- the configuration in effect ---- */

const raft_config *raft_memb_current(const raft *r)
{
    const raft_membership *m = &r->memb;
    return m->n ? &m->log[m->n - 1].config : &m->base;
}

uint64_t raft_memb_current_index(const raft *r)
{
    return r->memb.n ? r->memb.log[r->memb.n - 1].index : 0;
}

int raft_memb_is_voter(const raft *r, uint64_t id)
{
    const raft_server *s = raft_config_find(raft_memb_current(r), id);
    return s && s->role == RAFT_VOTER;
}

size_t raft_memb_quorum(const raft *r)
{
    return raft_config_voters(raft_memb_current(r)) / 2 + 1;
}

int raft_memb_on_append(raft *r, const raft_entry *e)
{
    raft_membership *m = &r->memb;
    raft_config c;
    int rc = raft_config_decode(e->data, e->len, &c);
    if (rc < 0)
        return rc;
    raft_conf_at *at = raft_vec_push(&m->log, &m->n, &m->cap, sizeof *at);
    if (!at) {
        raft_config_free(&c);
        return KAHUNA_ENOMEM;
    }
    at->index = e->index;
    at->config = c;
    if (r->role == RAFT_LEADER)
        return raft_pr_sync_config(r);
    return 0;
}

void raft_memb_truncate(raft *r, uint64_t from)
{
    raft_membership *m = &r->memb;
    while (m->n && m->log[m->n - 1].index >= from) {
        raft_config_free(&m->log[m->n - 1].config);
        m->n--;
    }
}

int raft_memb_config_at(const raft *r, uint64_t index, raft_config *out)
{
    const raft_membership *m = &r->memb;
    const raft_config *c = &m->base;
    for (size_t i = 0; i < m->n && m->log[i].index <= index; i++)
        c = &m->log[i].config;
    return raft_config_copy(out, c);
}

void raft_memb_compact(raft *r, uint64_t index)
{
    raft_membership *m = &r->memb;
    size_t k = 0;
    while (k < m->n && m->log[k].index <= index)
        k++;
    if (k == 0)
        return;
    raft_config_free(&m->base);
    m->base = m->log[k - 1].config;
    for (size_t i = 0; i + 1 < k; i++)
        raft_config_free(&m->log[i].config);
    memmove(m->log, m->log + k, (m->n - k) * sizeof *m->log);
    m->n -= k;
}

int raft_memb_reset(raft *r, const raft_config *base)
{
    raft_membership *m = &r->memb;
    raft_config c;
    int rc = raft_config_copy(&c, base);
    if (rc < 0)
        return rc;
    raft_memb_truncate(r, 0);
    raft_config_free(&m->base);
    m->base = c;
    return 0;
}

void raft_memb_free(raft_membership *m)
{
    for (size_t i = 0; i < m->n; i++)
        raft_config_free(&m->log[i].config);
    free(m->log);
    raft_config_free(&m->base);
    memset(m, 0, sizeof *m);
}

int raft_memb_on_commit(raft *r)
{
    if (r->role != RAFT_LEADER || raft_memb_is_voter(r, r->id))
        return 0;
    if (raft_memb_current_index(r) <= r->log.commit)
        return raft_become_follower(r, r->term, RAFT_NONE);
    return 0;
}

/* ---- changes ---- */

static int build_change(raft *r, int op, uint64_t id, const void *ctx, size_t ctx_len,
                        raft_config *out)
{
    const raft_config *cur = raft_memb_current(r);
    const raft_server *s = raft_config_find(cur, id);
    if (op == RAFT_CHANGE_ADD_LEARNER) {
        if (s)
            return KAHUNA_EBADREQ;
        int rc = raft_config_copy(out, cur);
        if (rc == 0) {
            rc = raft_config_add(out, id, RAFT_LEARNER, ctx, ctx_len);
            if (rc < 0)
                raft_config_free(out);
        }
        return rc;
    }
    if (!s)
        return KAHUNA_EBADREQ;
    if (op == RAFT_CHANGE_PROMOTE) {
        const raft_progress *p = raft_pr_find(r, id);
        if (s->role != RAFT_LEARNER || !p || !p->recent_active ||
            p->match + r->o.catchup_lag < raft_log_last_index(&r->log))
            return KAHUNA_EBADREQ;
    } else if (op == RAFT_CHANGE_REMOVE) {
        if (s->role == RAFT_VOTER && raft_config_voters(cur) == 1)
            return KAHUNA_EBADREQ;
    } else {
        return KAHUNA_EBADREQ;
    }
    out->servers = NULL;
    out->n = 0;
    for (size_t i = 0; i < cur->n; i++) {
        const raft_server *c = &cur->servers[i];
        if (c->id == id && op == RAFT_CHANGE_REMOVE)
            continue;
        uint8_t role = c->id == id ? RAFT_VOTER : c->role;
        int rc = raft_config_add(out, c->id, role, c->ctx, c->ctx_len);
        if (rc < 0) {
            raft_config_free(out);
            return rc;
        }
    }
    return 0;
}

int raft_change(raft *r, int op, uint64_t id, const void *ctx, size_t ctx_len, uint64_t *index)
{
    if (r->err)
        return r->err;
    if (r->role != RAFT_LEADER || r->transferee != RAFT_NONE ||
        r->pending_conf_index > r->log.commit)
        return KAHUNA_EUNAVAILABLE;
    raft_config c;
    int rc = build_change(r, op, id, ctx, ctx_len, &c);
    if (rc < 0)
        return rc == KAHUNA_ENOMEM ? raft_fail(r, rc) : rc;
    raft_entry e = {raft_log_last_index(&r->log) + 1, r->term, RAFT_ENTRY_CONFIG, NULL, 0};
    rc = raft_config_encode(&c, &e.data, &e.len);
    raft_config_free(&c);
    if (rc < 0)
        return raft_fail(r, rc);
    rc = raft_log_append(r, &e, 1);
    free(e.data);
    if (rc < 0)
        return raft_fail(r, rc);
    r->pending_conf_index = e.index;
    r->bcast_pending = 1;
    if (index)
        *index = e.index;
    return 0;
}
