/* wgl.c: see wgl.h. The search walks a doubly linked list of call and
 * return events in time order. At a call it tries to linearize that
 * operation now (the model must accept it, and the pair (set of linearized
 * operations, register value) must be new, else that configuration was
 * already explored); at a return whose operation is not linearized yet it
 * backtracks. The history is linearizable when the list empties. */
#include <stdlib.h>
#include <string.h>

#include "wgl.h"

typedef struct ent {
    int call;
    size_t op;
    uint64_t time;
    struct ent *match, *prev, *next;
} ent;

typedef struct frame {
    ent *e;
    uint64_t state;
} frame;

/* A set of (bitset, state) configurations: open addressing over an arena. */
typedef struct cache {
    size_t words;          /* bitset words per configuration */
    uint64_t *arena;       /* (words + 1) per stored configuration */
    size_t n, cap;
    size_t *slots;         /* index+1 into the arena, 0 = empty */
    size_t nslots;
} cache;

static uint64_t hash_cfg(const uint64_t *w, size_t words, uint64_t state)
{
    uint64_t h = state * 0x9e3779b97f4a7c15ull ^ 0x632be59bd9b4e019ull;
    for (size_t i = 0; i < words; i++) {
        h ^= w[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h *= 0xbf58476d1ce4e5b9ull;
    }
    return h ^ (h >> 31);
}

static int cache_grow(cache *c)
{
    size_t ns = c->nslots ? c->nslots * 2 : 1024;
    size_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const uint64_t *cfg = c->arena + i * (c->words + 1);
        size_t h = (size_t)hash_cfg(cfg, c->words, cfg[c->words]) & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = i + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = ns;
    return 0;
}

/* 1: added (new), 0: already there, -1: out of memory. */
static int cache_add(cache *c, const uint64_t *w, uint64_t state)
{
    if ((c->n + 1) * 2 > c->nslots && cache_grow(c) < 0)
        return -1;
    size_t h = (size_t)hash_cfg(w, c->words, state) & (c->nslots - 1);
    while (c->slots[h]) {
        const uint64_t *cfg = c->arena + (c->slots[h] - 1) * (c->words + 1);
        if (cfg[c->words] == state && memcmp(cfg, w, c->words * sizeof *w) == 0)
            return 0;
        h = (h + 1) & (c->nslots - 1);
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        uint64_t *a = realloc(c->arena, nc * (c->words + 1) * sizeof *a);
        if (!a)
            return -1;
        c->arena = a;
        c->cap = nc;
    }
    uint64_t *cfg = c->arena + c->n * (c->words + 1);
    memcpy(cfg, w, c->words * sizeof *w);
    cfg[c->words] = state;
    c->slots[h] = ++c->n;
    return 1;
}

static int cmp_ent(const void *a, const void *b)
{
    const ent *x = *(const ent *const *)a, *y = *(const ent *const *)b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->call != y->call)
        return x->call ? -1 : 1;      /* calls first: touching = concurrent */
    return x->op < y->op ? -1 : (x->op > y->op);
}

static void lift(ent *e)
{
    e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    ent *m = e->match;
    m->prev->next = m->next;
    if (m->next)
        m->next->prev = m->prev;
}

static void unlift(ent *e)
{
    ent *m = e->match;
    m->prev->next = m;
    if (m->next)
        m->next->prev = m;
    e->prev->next = e;
    if (e->next)
        e->next->prev = e;
}

static int step(const wgl_op *op, uint64_t state, uint64_t *out)
{
    if (op->kind == WGL_WRITE) {
        *out = op->value;
        return 1;
    }
    *out = state;
    return op->value == state;
}

/* Builds the sorted, linked event list behind head. */
static ent *build(const wgl_op *ops, size_t n, ent *head)
{
    ent *ev = calloc(2 * n, sizeof *ev);
    ent **order = calloc(2 * n, sizeof *order);
    if (!ev || !order) {
        free(ev);
        free(order);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        ent *c = &ev[2 * i], *r = &ev[2 * i + 1];
        c->call = 1;
        c->op = r->op = i;
        c->time = ops[i].call;
        r->time = ops[i].ret;
        c->match = r;
        r->match = c;
        order[2 * i] = c;
        order[2 * i + 1] = r;
    }
    qsort(order, 2 * n, sizeof *order, cmp_ent);
    ent *prev = head;
    for (size_t i = 0; i < 2 * n; i++) {
        prev->next = order[i];
        order[i]->prev = prev;
        prev = order[i];
    }
    prev->next = NULL;
    free(order);
    return ev;
}

int wgl_check(const wgl_op *ops, size_t n, uint64_t init, uint64_t max_steps, size_t *bad_op)
{
    *bad_op = 0;
    if (n == 0)
        return 1;
    ent head = {0};
    ent *ev = build(ops, n, &head);
    cache c = {0};
    c.words = (n + 63) / 64;
    uint64_t *lin = calloc(c.words, sizeof *lin);
    frame *stack = calloc(n, sizeof *stack);
    if (!ev || !lin || !stack) {
        free(ev);
        free(lin);
        free(stack);
        return -2;
    }
    size_t depth = 0, best = 0;
    uint64_t state = init, steps = 0;
    int res = 1;
    ent *e = head.next;
    while (head.next) {
        if (++steps > max_steps) {
            res = -1;
            break;
        }
        if (e->call) {
            uint64_t s2;
            if (step(&ops[e->op], state, &s2)) {
                lin[e->op / 64] |= 1ull << (e->op % 64);
                int added = cache_add(&c, lin, s2);
                if (added < 0) {
                    res = -2;
                    break;
                }
                if (added) {
                    stack[depth].e = e;
                    stack[depth].state = state;
                    depth++;
                    if (depth > best) {
                        best = depth;
                        *bad_op = e->op;
                    }
                    state = s2;
                    lift(e);
                    e = head.next;
                    continue;
                }
                lin[e->op / 64] &= ~(1ull << (e->op % 64));
            }
            e = e->next;
        } else {
            if (depth == 0) {
                res = 0;
                *bad_op = e->op;
                break;
            }
            depth--;
            ent *cl = stack[depth].e;
            state = stack[depth].state;
            lin[cl->op / 64] &= ~(1ull << (cl->op % 64));
            unlift(cl);
            e = cl->next;
        }
    }
    free(ev);
    free(lin);
    free(stack);
    free(c.arena);
    free(c.slots);
    return res;
}
