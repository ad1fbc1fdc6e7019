/* leases.c: the deadline table of TTLs: a chained hash map of (kind, name)
 * and a binary min-heap of deadlines, under one mutex.
 *
 * An entry is in the heap while it waits for its deadline (heap_pos is its
 * slot) and out of it once leases_pop_due has handed it out (heap_pos ==
 * NOT_IN_HEAP); it leaves the map when disarmed. The heap's capacity always
 * covers every entry of the map, so putting entries back never allocates. */
#include "leases.h"
#include "errors.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NOT_IN_HEAP SIZE_MAX
#define MIN_BUCKETS 1024

typedef struct lease {
    struct lease *next;       /* hash chain */
    uint64_t hash;
    int64_t generation;
    int64_t ttl_ms;
    int64_t deadline;
    size_t heap_pos;
    int kind;
    size_t name_len;
    uint8_t name[];
} lease;

struct leases {
    pthread_mutex_t mu;
    lease **buckets;
    size_t nbuckets;          /* a power of two */
    size_t count;
    lease **heap;
    size_t heap_len;
    size_t heap_cap;
    uint64_t k0, k1;          /* SipHash key */
};

/* ---- SipHash-2-4 ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                   \
    do {                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                  \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *p, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m = 0;
        for (int j = 0; j < 8; j++)
            m |= (uint64_t)p[i + (size_t)j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (int j = 0; i + (size_t)j < n; j++)
        b |= (uint64_t)p[i + (size_t)j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key_hash(const leases *l, int kind, kbytes name)
{
    return siphash(l->k0, l->k1, name.p, name.n) ^ ((uint64_t)(unsigned)kind * 0x9E3779B97F4A7C15ULL);
}

/* ---- heap ---- */

static void heap_set(leases *l, size_t i, lease *e)
{
    l->heap[i] = e;
    e->heap_pos = i;
}

static void sift_up(leases *l, size_t i)
{
    lease *e = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->deadline <= e->deadline)
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, e);
}

static void sift_down(leases *l, size_t i)
{
    lease *e = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_len)
            break;
        if (c + 1 < l->heap_len && l->heap[c + 1]->deadline < l->heap[c]->deadline)
            c++;
        if (l->heap[c]->deadline >= e->deadline)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, e);
}

static void heap_push(leases *l, lease *e)
{
    /* capacity >= count is kept by leases_arm */
    size_t i = l->heap_len++;
    heap_set(l, i, e);
    sift_up(l, i);
}

static void heap_remove(leases *l, lease *e)
{
    size_t i = e->heap_pos;
    if (i == NOT_IN_HEAP)
        return;
    e->heap_pos = NOT_IN_HEAP;
    size_t last = --l->heap_len;
    if (i == last)
        return;
    heap_set(l, i, l->heap[last]);
    if (i > 0 && l->heap[i]->deadline < l->heap[(i - 1) / 2]->deadline)
        sift_up(l, i);
    else
        sift_down(l, i);
}

static void heap_fix(leases *l, lease *e)
{
    if (e->heap_pos == NOT_IN_HEAP) {
        heap_push(l, e);
        return;
    }
    size_t i = e->heap_pos;
    if (i > 0 && e->deadline < l->heap[(i - 1) / 2]->deadline)
        sift_up(l, i);
    else
        sift_down(l, i);
}

/* ---- map ---- */

static lease **find_slot(leases *l, int kind, kbytes name, uint64_t h)
{
    lease **pp = &l->buckets[h & (l->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        lease *e = *pp;
        if (e->hash == h && e->kind == kind && e->name_len == name.n &&
            (name.n == 0 || memcmp(e->name, name.p, name.n) == 0))
            return pp;
    }
    return pp;
}

static int grow_buckets(leases *l)
{
    size_t nb = l->nbuckets * 2;
    lease **b = calloc(nb, sizeof *b);
    if (!b)
        return KAHUNA_ENOMEM;
    for (size_t i = 0; i < l->nbuckets; i++) {
        lease *e = l->buckets[i];
        while (e) {
            lease *next = e->next;
            size_t j = e->hash & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->nbuckets = nb;
    return 0;
}

static void unlink_free(leases *l, lease **pp)
{
    lease *e = *pp;
    heap_remove(l, e);
    *pp = e->next;
    l->count--;
    free(e);
}

int leases_new(leases **out)
{
    leases *l = calloc(1, sizeof *l);
    if (!l)
        return KAHUNA_ENOMEM;
    l->nbuckets = MIN_BUCKETS;
    l->buckets = calloc(l->nbuckets, sizeof *l->buckets);
    if (!l->buckets || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->buckets);
        free(l);
        return KAHUNA_ENOMEM;
    }
    uint64_t key[2];
    if (getrandom(key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        key[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)l;
        key[1] = (uint64_t)ts.tv_sec * 0xBF58476D1CE4E5B9ULL;
    }
    l->k0 = key[0];
    l->k1 = key[1];
    *out = l;
    return 0;
}

void leases_free(leases *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nbuckets; i++) {
        lease *e = l->buckets[i];
        while (e) {
            lease *next = e->next;
            free(e);
            e = next;
        }
    }
    free(l->buckets);
    free(l->heap);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void leases_clear(leases *l)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->nbuckets; i++) {
        lease *e = l->buckets[i];
        while (e) {
            lease *next = e->next;
            free(e);
            e = next;
        }
        l->buckets[i] = NULL;
    }
    l->count = 0;
    l->heap_len = 0;
    pthread_mutex_unlock(&l->mu);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int leases_arm(leases *l, int kind, kbytes name, int64_t generation, int64_t ttl_ms, int64_t now_ms)
{
    if (ttl_ms <= 0) {
        leases_disarm(l, kind, name);
        return 0;
    }
    uint64_t h = key_hash(l, kind, name);
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    lease **pp = find_slot(l, kind, name, h);
    lease *e = *pp;
    if (!e) {
        if (l->count + 1 > l->heap_cap) {
            size_t ncap = l->heap_cap ? l->heap_cap * 2 : 1024;
            lease **nh = realloc(l->heap, ncap * sizeof *nh);
            if (!nh) {
                rc = KAHUNA_ENOMEM;
                goto out;
            }
            l->heap = nh;
            l->heap_cap = ncap;
        }
        if (l->count + 1 > l->nbuckets && grow_buckets(l) == 0)
            pp = find_slot(l, kind, name, h);
        e = malloc(sizeof *e + name.n);
        if (!e) {
            rc = KAHUNA_ENOMEM;
            goto out;
        }
        e->next = NULL;
        e->hash = h;
        e->kind = kind;
        e->name_len = name.n;
        if (name.n)
            memcpy(e->name, name.p, name.n);
        e->heap_pos = NOT_IN_HEAP;
        *pp = e;
        l->count++;
    }
    e->generation = generation;
    e->ttl_ms = ttl_ms;
    e->deadline = add_sat(now_ms, ttl_ms);
    heap_fix(l, e);
out:
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void leases_disarm(leases *l, int kind, kbytes name)
{
    uint64_t h = key_hash(l, kind, name);
    pthread_mutex_lock(&l->mu);
    lease **pp = find_slot(l, kind, name, h);
    if (*pp)
        unlink_free(l, pp);
    pthread_mutex_unlock(&l->mu);
}

void leases_disarm_generation(leases *l, int kind, kbytes name, int64_t generation)
{
    uint64_t h = key_hash(l, kind, name);
    pthread_mutex_lock(&l->mu);
    lease **pp = find_slot(l, kind, name, h);
    if (*pp && (*pp)->generation == generation)
        unlink_free(l, pp);
    pthread_mutex_unlock(&l->mu);
}

int64_t leases_remaining(leases *l, int kind, kbytes name, int64_t generation, int64_t now_ms)
{
    uint64_t h = key_hash(l, kind, name);
    int64_t r = -1;
    pthread_mutex_lock(&l->mu);
    lease *e = *find_slot(l, kind, name, h);
    if (e && e->generation == generation) {
        if (e->heap_pos == NOT_IN_HEAP || e->deadline < now_ms)
            r = 0;
        else if (e->deadline == now_ms)
            r = 1; /* under a millisecond left, but not over: never report 0 early */
        else
            r = e->deadline - now_ms;
    }
    pthread_mutex_unlock(&l->mu);
    return r;
}

void leases_due_free(lease_due *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        kbuf_free(&d[i].name);
    free(d);
}

int leases_pop_due(leases *l, int64_t now_ms, size_t max, lease_due **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    lease_due *d = NULL;
    size_t cap = 0, count = 0;
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    while (count < max && l->heap_len > 0 && l->heap[0]->deadline < now_ms) {
        lease *e = l->heap[0];
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            if (ncap > max)
                ncap = max;
            lease_due *nd = realloc(d, ncap * sizeof *nd);
            if (!nd) {
                rc = KAHUNA_ENOMEM;
                break;
            }
            d = nd;
            cap = ncap;
        }
        lease_due *x = &d[count];
        x->kind = e->kind;
        x->generation = e->generation;
        kbuf nb = KBUF_INIT;
        x->name = nb;
        if (kbuf_append(&x->name, e->name, e->name_len) != 0) {
            rc = KAHUNA_ENOMEM;
            break;
        }
        count++;
        heap_remove(l, e);
    }
    if (rc) {
        /* put back what was taken: the heap has room for every entry */
        for (size_t i = 0; i < count; i++) {
            kbytes name = kbytes_make(d[i].name.data, d[i].name.len);
            lease *e = *find_slot(l, d[i].kind, name, key_hash(l, d[i].kind, name));
            if (e && e->heap_pos == NOT_IN_HEAP)
                heap_push(l, e);
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (rc) {
        leases_due_free(d, count);
        return rc;
    }
    if (count == 0) {
        free(d);
        d = NULL;
    }
    *out = d;
    *n = count;
    return 0;
}

void leases_rearm_all(leases *l, int64_t now_ms)
{
    pthread_mutex_lock(&l->mu);
    l->heap_len = 0;
    for (size_t i = 0; i < l->nbuckets; i++)
        for (lease *e = l->buckets[i]; e; e = e->next) {
            e->deadline = add_sat(now_ms, e->ttl_ms);
            heap_set(l, l->heap_len++, e);
        }
    for (size_t i = l->heap_len / 2; i-- > 0;)
        sift_down(l, i);
    pthread_mutex_unlock(&l->mu);
}

int64_t leases_next_deadline(leases *l)
{
    pthread_mutex_lock(&l->mu);
    int64_t d = INT64_MAX;
    if (l->heap_len && l->heap[0]->deadline < INT64_MAX)
        d = l->heap[0]->deadline + 1;
    pthread_mutex_unlock(&l->mu);
    return d;
}

size_t leases_count(leases *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->count;
    pthread_mutex_unlock(&l->mu);
    return n;
}
