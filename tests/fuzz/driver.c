/* driver.c: a standalone main for fuzz targets, so that they run in
 * `make check` without libFuzzer: every file of the seed corpus, then a
 * fixed number of deterministic pseudo-random mutations of those seeds
 * (bit flips, byte changes, inserts, deletes, splices, and tokens that
 * matter to the parsers). A crash or abort fails the test.
 *
 * Usage: fuzz_X_check [CORPUS_DIR] ; FUZZ_ITERATIONS overrides the number
 * of mutations (default 20000). The corpus defaults to
 * $TOP_SRCDIR/tests/fuzz/corpus/request. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic across runs and platforms */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static const char *const tokens[] = {
    "%", "%2F", "%zz", "%00", "%ff", "+", "&", "=", "?", "/", "\n", "\"", "\\", "\\u0000", "{", "}", "[", "]",
    ":", ",", "null", "true", "false", "-1", "0", "1", "9223372036854775807", "99999999999999999999",
    "1e3", "1.5", "\"value\":", "\"value_base64\":", "\"ttl_ms\":", "\"owner\":", "\"wait_ms\":",
    "\"count\":", "\"idempotency_key\":", "\"if_revision\":", "\"if_value\":", "\"force\":",
    "/v1/kv/", "/v1/locks/", "/v1/sequences/", "/acquire", "/release", "/extend", "/next", "/v1/cluster",
    "/members/", "revision=", "history", "raw", "encoding=base64", "consistency=stale", "prefix=",
    "limit=", "after=", "keys_only", "if_not_exists", "if_exists", "application/json", "\xff", "\xc3\xa9",
};

static int load_file(const char *path, seed *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap);
    if (!p) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            uint8_t *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                fclose(f);
                return -1;
            }
            p = q;
            cap *= 2;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    s->p = p;
    s->n = n;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every regular file of dir, in name order (deterministic). */
static seed *load_corpus(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    *count = 0;
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        if (!nn)
            break;
        names = nn;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    seed *seeds = calloc(n ? n : 1, sizeof *seeds);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (path) {
            snprintf(path, len, "%s/%s", dir, names[i]);
            if (seeds && load_file(path, &seeds[k]) == 0)
                k++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    *count = k;
    return seeds;
}

/* One mutated copy of a seed (malloc'd), spliced with another sometimes. */
static uint8_t *mutate(const seed *seeds, size_t nseeds, size_t *out_n)
{
    const seed *s = &seeds[below(nseeds)];
    size_t cap = s->n + 256, n = s->n;
    uint8_t *p = malloc(cap);
    if (!p)
        return NULL;
    if (s->n)
        memcpy(p, s->p, s->n);
    int rounds = 1 + (int)below(6);
    for (int r = 0; r < rounds; r++) {
        switch (below(7)) {
        case 0: /* flip a bit */
            if (n)
                p[below(n)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* set a random byte */
            if (n)
                p[below(n)] = (uint8_t)rnd();
            break;
        case 2: /* delete a run */
            if (n) {
                size_t at = below(n), len = 1 + below(n - at < 16 ? n - at : 16);
                memmove(p + at, p + at + len, n - at - len);
                n -= len;
            }
            break;
        case 3: /* insert a random byte */
        case 4: { /* insert a token */
            const char *t = tokens[below(sizeof tokens / sizeof *tokens)];
            char one[1] = {(char)rnd()};
            size_t tl = r % 2 ? strlen(t) : 1;
            const char *src = r % 2 ? t : one;
            if (n + tl > cap)
                break;
            size_t at = below(n + 1);
            memmove(p + at + tl, p + at, n - at);
            memcpy(p + at, src, tl);
            n += tl;
            break;
        }
        case 5: { /* splice: tail of another seed */
            const seed *o = &seeds[below(nseeds)];
            size_t at = below(n + 1), from = below(o->n + 1), len = o->n - from;
            if (at + len > cap)
                len = cap - at;
            memcpy(p + at, o->p + from, len);
            n = at + len;
            break;
        }
        default: /* change the method byte */
            if (n)
                p[0] = (uint8_t)below(9);
        }
    }
    *out_n = n;
    return p;
}

int main(int argc, char **argv)
{
    char dir[4096];
    const char *top = getenv("TOP_SRCDIR");
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/request", top ? top : ".");
    long iterations = 20000;
    const char *it = getenv("FUZZ_ITERATIONS");
    if (it)
        iterations = strtol(it, NULL, 10);

    size_t nseeds = 0;
    seed *seeds = load_corpus(dir, &nseeds);
    if (!seeds || nseeds == 0) {
        fprintf(stderr, "fuzz driver: no seed corpus in %s (pass the directory or set TOP_SRCDIR)\n", dir);
        free(seeds);
        return 1;
    }
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput(seeds[i].p, seeds[i].n);
    for (long i = 0; i < iterations; i++) {
        size_t n = 0;
        uint8_t *p = mutate(seeds, nseeds, &n);
        if (!p)
            continue;
        LLVMFuzzerTestOneInput(p, n);
        free(p);
    }
    printf("fuzz driver: %zu seeds and %ld mutations ran without a crash\n", nseeds, iterations);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].p);
    free(seeds);
    return 0;
}
