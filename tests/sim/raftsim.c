/* raftsim.c: runs the deterministic simulation of a Raft cluster over many
 * seeds (see sim.h). A failing seed prints why and the command line that
 * replays it exactly, with a trace (-v).
 *
 *   raftsim [--check] [--seeds N] [--seed S] [--nodes 3|5] [--time T] [-v]
 *
 * --seed S is the first seed (default 1); --seeds N runs S..S+N-1 (default
 * 100); --check runs the batch of `make check` (CHECK_SEEDS: 3000, about
 * 20 s on one core; a tenth of that in a sanitizer build, which is ~15
 * times slower); without --nodes a seed runs 3 nodes when even and 5 when
 * odd; --time T sets the fault phase length in time units (default 6000,
 * and a quiet phase of 4000 follows); -v traces the run, -v -v also every
 * message and disk write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

#define U(x) ((unsigned long long)(x))

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_SEEDS 300
#else
#define CHECK_SEEDS 3000
#endif

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: raftsim [--check] [--seeds N] [--seed S] [--nodes 3|5] [--time T] [-v]\n");
}

int main(int argc, char **argv)
{
    uint64_t first = 1, count = 100, nodes = 0, ftime = 6000;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--seeds"))
            bad = parse_u64(v, &count), i++;
        else if (!strcmp(a, "--seed"))
            bad = parse_u64(v, &first), i++;
        else if (!strcmp(a, "--nodes"))
            bad = parse_u64(v, &nodes) || (nodes != 3 && nodes != 5), i++;
        else if (!strcmp(a, "--time"))
            bad = parse_u64(v, &ftime) || ftime < 100, i++;
        else if (!strcmp(a, "--check"))
            count = CHECK_SEEDS;
        else if (!strcmp(a, "-v"))
            verbose++;
        else
            bad = 1;
        if (bad) {
            usage();
            return 64;
        }
    }
    clock_t t0 = clock();
    uint64_t events = 0, msgs = 0, elections = 0, wok = 0, rok = 0, crashes = 0, giveups = 0;
    uint64_t snaps = 0;
    for (uint64_t seed = first; seed < first + count; seed++) {
        sim_opts o = {0};
        o.seed = seed;
        o.nodes = nodes ? (int)nodes : (seed % 2 ? 5 : 3);
        o.fault_time = ftime;
        o.quiet_time = 4000;
        o.verbose = verbose;
        sim s;
        int rc = sim_init(&s, &o);
        if (rc == 0 && !s.failed)
            rc = sim_run(&s);
        if (rc < 0 || s.failed) {
            fprintf(stderr, "raftsim: seed %llu (%d nodes) FAILED: %s\n", U(seed), o.nodes,
                    s.why[0] ? s.why : "setup failed");
            fprintf(stderr, "replay: %s --seed %llu --seeds 1 --nodes %d --time %llu -v\n",
                    argv[0], U(seed), o.nodes, U(ftime));
            sim_free(&s);
            return 1;
        }
        events += s.events;
        msgs += s.msgs;
        elections += s.elections;
        wok += s.writes_ok;
        rok += s.reads_ok;
        crashes += s.crashes;
        giveups += s.wgl_giveups;
        snaps += s.snapshots_sent;
        sim_free(&s);
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("raftsim: %llu seeds from %llu ok in %.1fs: %llu events, %llu messages, "
           "%llu leaders, %llu crashes, %llu snapshots sent, %llu writes and %llu reads "
           "acknowledged, %llu linearizability checks gave up\n",
           U(count), U(first), secs, U(events), U(msgs), U(elections), U(crashes), U(snaps),
           U(wok), U(rok), U(giveups));
    return 0;
}
