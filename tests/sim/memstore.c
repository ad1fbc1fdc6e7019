/* memstore.c: see memstore.h. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "memstore.h"

void memstore_init(memstore *s)
{
    memset(s, 0, sizeof *s);
}

void memstore_free(memstore *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->e[i].data);
    free(s->e);
    raft_config_free(&s->snap.config);
    memset(s, 0, sizeof *s);
}

static int copy_entry(raft_entry *d, const raft_entry *e)
{
    *d = *e;
    d->data = NULL;
    if (e->len) {
        d->data = malloc(e->len);
        if (!d->data)
            return KAHUNA_ENOMEM;
        memcpy(d->data, e->data, e->len);
    }
    return 0;
}

int memstore_copy(memstore *dst, const memstore *src)
{
    memstore_init(dst);
    dst->hs = src->hs;
    dst->prev_index = src->prev_index;
    dst->prev_term = src->prev_term;
    dst->snap.index = src->snap.index;
    dst->snap.term = src->snap.term;
    int rc = raft_config_copy(&dst->snap.config, &src->snap.config);
    if (rc < 0)
        return rc;
    return memstore_append(dst, src->e, src->n);
}

uint64_t memstore_last_index(const memstore *s)
{
    return s->prev_index + s->n;
}

int memstore_term(const memstore *s, uint64_t index, uint64_t *term)
{
    *term = 0;
    if (index == s->prev_index) {
        *term = s->prev_term;
        return 0;
    }
    if (index < s->prev_index || index > memstore_last_index(s))
        return -1;
    *term = s->e[index - s->prev_index - 1].term;
    return 0;
}

int memstore_append(memstore *s, const raft_entry *e, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t first = e[0].index;
    if (first <= s->prev_index || first > memstore_last_index(s) + 1)
        return KAHUNA_EINTERNAL;
    size_t keep = (size_t)(first - s->prev_index - 1);
    for (size_t i = keep; i < s->n; i++)
        free(s->e[i].data);
    s->n = keep;
    if (s->n + n > s->cap) {
        size_t nc = s->cap ? s->cap : 16;
        while (nc < s->n + n)
            nc *= 2;
        raft_entry *p = realloc(s->e, nc * sizeof *p);
        if (!p)
            return KAHUNA_ENOMEM;
        s->e = p;
        s->cap = nc;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = copy_entry(&s->e[s->n], &e[i]);
        if (rc < 0)
            return rc;
        s->n++;
    }
    return 0;
}

int memstore_set_snapshot(memstore *s, const raft_snapshot_meta *m)
{
    raft_config c;
    int rc = raft_config_copy(&c, &m->config);
    if (rc < 0)
        return rc;
    raft_config_free(&s->snap.config);
    s->snap.index = m->index;
    s->snap.term = m->term;
    s->snap.config = c;
    return 0;
}

int memstore_apply(memstore *s, const raft_update *u)
{
    int rc = 0;
    if (u->has_snapshot) {
        rc = memstore_set_snapshot(s, &u->snapshot);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < s->n; i++)
            free(s->e[i].data);
        s->n = 0;
        s->prev_index = u->snapshot.index;
        s->prev_term = u->snapshot.term;
    }
    if (u->n_entries && u->truncate_from != u->entries[0].index)
        return KAHUNA_EINTERNAL;
    rc = memstore_append(s, u->entries, u->n_entries);
    if (rc < 0)
        return rc;
    if (u->hs_changed)
        s->hs = u->hs;
    return 0;
}

int memstore_compact(memstore *s, uint64_t to)
{
    if (to <= s->prev_index)
        return 0;
    if (to > memstore_last_index(s))
        return KAHUNA_EINTERNAL;
    size_t k = (size_t)(to - s->prev_index);
    uint64_t t = s->e[k - 1].term;
    for (size_t i = 0; i < k; i++)
        free(s->e[i].data);
    memmove(s->e, s->e + k, (s->n - k) * sizeof *s->e);
    s->n -= k;
    s->prev_index = to;
    s->prev_term = t;
    return 0;
}

static int st_entries(void *arg, uint64_t lo, uint64_t hi, size_t max_bytes,
                      raft_entry **out, size_t *n)
{
    memstore *s = arg;
    *out = NULL;
    *n = 0;
    if (s->fail_reads)
        return KAHUNA_EIO;
    if (lo <= s->prev_index || hi > memstore_last_index(s) || lo > hi)
        return KAHUNA_EIO;
    size_t cnt = (size_t)(hi - lo + 1);
    raft_entry *res = calloc(cnt, sizeof *res);
    if (!res)
        return KAHUNA_ENOMEM;
    size_t k = 0, bytes = 0;
    for (; k < cnt; k++) {
        const raft_entry *e = &s->e[lo - s->prev_index - 1 + k];
        if (k > 0 && bytes + e->len > max_bytes)
            break;
        if (copy_entry(&res[k], e) < 0) {
            raft_entries_free(res, k);
            return KAHUNA_ENOMEM;
        }
        bytes += e->len;
    }
    *out = res;
    *n = k;
    return 0;
}

static int st_term(void *arg, uint64_t index, uint64_t *term)
{
    memstore *s = arg;
    if (s->fail_reads)
        return KAHUNA_EIO;
    return memstore_term(s, index, term) < 0 ? KAHUNA_EIO : 0;
}

raft_storage memstore_storage(memstore *s)
{
    raft_storage st = {s, st_entries, st_term};
    return st;
}

void memstore_init_of(const memstore *s, uint64_t applied, raft_init *in)
{
    memset(in, 0, sizeof *in);
    in->hs = s->hs;
    in->snapshot = s->snap;   /* borrowed */
    in->first_index = s->prev_index + 1;
    in->prev_term = s->prev_term;
    in->last_index = memstore_last_index(s);
    in->applied = applied > s->snap.index ? applied : s->snap.index;
}
