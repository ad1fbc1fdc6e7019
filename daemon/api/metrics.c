/* metrics.c: sharded request counters and their Prometheus rendering,
 * with the node's and the Raft figures (kahuna_raft_*: term, indexes,
 * role, leader changes, snapshots, and on the leader each peer's match
 * index and lag). */
#include "metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "errors.h"

#define SHARDS 8
/* The statuses the API answers with; anything else is counted as "other". */
static const int codes[] = {200, 400, 404, 405, 409, 410, 413, 500, 503, 504};
#define NCODES (sizeof codes / sizeof codes[0])
#define CODE_OTHER NCODES
/* Histogram bucket upper bounds in microseconds (0.5 ms .. 5 s). */
static const int64_t bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000, 50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                        "0.1", "0.25", "0.5", "1", "2.5", "5"};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

typedef struct shard {
    _Atomic uint64_t requests[REQ_ROUTE_COUNT][REQ_METHOD_COUNT][NCODES + 1];
    _Atomic uint64_t buckets[REQ_ROUTE_COUNT][NBUCKETS + 1];   /* last: +Inf only */
    _Atomic uint64_t sum_us[REQ_ROUTE_COUNT];
    _Atomic uint64_t count[REQ_ROUTE_COUNT];
} __attribute__((aligned(64))) shard;

struct metrics {
    shard shards[SHARDS];
};

static _Atomic unsigned next_shard;
static _Thread_local int my_shard = -1;

int metrics_new(metrics **out)
{
    metrics *m = aligned_alloc(64, sizeof *m);
    if (!m)
        return KAHUNA_ENOMEM;
    for (int s = 0; s < SHARDS; s++) {
        shard *sh = &m->shards[s];
        for (int r = 0; r < REQ_ROUTE_COUNT; r++) {
            for (int k = 0; k < REQ_METHOD_COUNT; k++)
                for (size_t c = 0; c <= NCODES; c++)
                    atomic_init(&sh->requests[r][k][c], 0);
            for (size_t b = 0; b <= NBUCKETS; b++)
                atomic_init(&sh->buckets[r][b], 0);
            atomic_init(&sh->sum_us[r], 0);
            atomic_init(&sh->count[r], 0);
        }
    }
    *out = m;
    return 0;
}

void metrics_free(metrics *m)
{
    free(m);
}

void metrics_observe(metrics *m, req_route route, req_method method, int http_status, int64_t duration_us)
{
    if (my_shard < 0)
        my_shard = (int)(atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % SHARDS);
    shard *sh = &m->shards[my_shard];
    if ((unsigned)route >= REQ_ROUTE_COUNT)
        route = REQ_ROUTE_UNKNOWN;
    if ((unsigned)method >= REQ_METHOD_COUNT)
        method = REQ_OTHER;
    size_t c = CODE_OTHER;
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i] == http_status) {
            c = i;
            break;
        }
    if (duration_us < 0)
        duration_us = 0;
    size_t b = 0;
    while (b < NBUCKETS && duration_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&sh->requests[route][method][c], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->buckets[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->sum_us[route], (uint64_t)duration_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->count[route], 1, memory_order_relaxed);
}

static uint64_t sum_requests(metrics *m, int r, int k, size_t c)
{
    uint64_t v = 0;
    for (int s = 0; s < SHARDS; s++)
        v += atomic_load_explicit(&m->shards[s].requests[r][k][c], memory_order_relaxed);
    return v;
}

static uint64_t sum_bucket(metrics *m, int r, size_t b)
{
    uint64_t v = 0;
    for (int s = 0; s < SHARDS; s++)
        v += atomic_load_explicit(&m->shards[s].buckets[r][b], memory_order_relaxed);
    return v;
}

/* A label value: ids are [A-Za-z0-9._-], but escape as the format asks
 * in case. */
static int put_label(kbuf *out, const char *v)
{
    int rc = 0;
    for (; *v && !rc; v++) {
        if (*v == '\\' || *v == '"')
            rc = kbuf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            rc = kbuf_append_str(out, "\\n");
        else
            rc = kbuf_append_byte(out, (uint8_t)*v);
    }
    return rc;
}

/* One labelled sample: NAME{peer="ID"} VALUE. */
static int put_peer_sample(kbuf *out, const char *name, const char *peer, uint64_t v)
{
    int rc = kbuf_printf(out, "%s{peer=\"", name);
    if (!rc)
        rc = put_label(out, peer);
    if (!rc)
        rc = kbuf_printf(out, "\"} %" PRIu64 "\n", v);
    return rc;
}

static int render_raft(const node_status *st, const node_member *mm, size_t nm, kbuf *out)
{
    static const int roles[] = {RAFT_FOLLOWER, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER};
    int rc = 0;
#define P(...) do { if (!rc) rc = kbuf_printf(out, __VA_ARGS__); } while (0)
    P("# HELP kahuna_raft_term Current Raft term.\n# TYPE kahuna_raft_term gauge\n"
      "kahuna_raft_term %" PRIu64 "\n", st->term);
    P("# HELP kahuna_raft_commit_index Highest log index known to be committed.\n"
      "# TYPE kahuna_raft_commit_index gauge\nkahuna_raft_commit_index %" PRIu64 "\n", st->commit_index);
    P("# HELP kahuna_raft_applied_index Highest log index applied to the state machine.\n"
      "# TYPE kahuna_raft_applied_index gauge\nkahuna_raft_applied_index %" PRIu64 "\n", st->applied_index);
    P("# HELP kahuna_raft_leader_changes_total Leaders seen by this node since it started.\n"
      "# TYPE kahuna_raft_leader_changes_total counter\nkahuna_raft_leader_changes_total %" PRIu64 "\n",
      st->leader_changes);
    P("# HELP kahuna_raft_has_leader 1 when this node knows a leader.\n"
      "# TYPE kahuna_raft_has_leader gauge\nkahuna_raft_has_leader %d\n", st->leader_id[0] ? 1 : 0);
    P("# HELP kahuna_raft_role 1 for this node's current Raft role, 0 for the others.\n"
      "# TYPE kahuna_raft_role gauge\n");
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        P("kahuna_raft_role{role=\"%s\"} %d\n", raft_role_name(roles[i]), st->role == roles[i]);
    P("# HELP kahuna_raft_snapshots_sent_total Snapshots this node sent to followers.\n"
      "# TYPE kahuna_raft_snapshots_sent_total counter\nkahuna_raft_snapshots_sent_total %" PRIu64 "\n",
      st->snapshots_sent);
    P("# HELP kahuna_raft_snapshots_installed_total Snapshots this node received and installed.\n"
      "# TYPE kahuna_raft_snapshots_installed_total counter\n"
      "kahuna_raft_snapshots_installed_total %" PRIu64 "\n", st->snapshots_installed);
    if (mm) {
        uint64_t voters = 0, learners = 0;
        for (size_t i = 0; i < nm; i++) {
            if (mm[i].voter)
                voters++;
            else
                learners++;
        }
        P("# HELP kahuna_raft_members Members in this node's view of the configuration.\n"
          "# TYPE kahuna_raft_members gauge\n"
          "kahuna_raft_members{role=\"voter\"} %" PRIu64 "\n"
          "kahuna_raft_members{role=\"learner\"} %" PRIu64 "\n", voters, learners);
    }
    if (mm && st->is_leader) {
        P("# HELP kahuna_raft_peer_match_index Highest log index the leader knows a peer has.\n"
          "# TYPE kahuna_raft_peer_match_index gauge\n");
        for (size_t i = 0; i < nm && !rc; i++)
            if (!mm[i].is_self)
                rc = put_peer_sample(out, "kahuna_raft_peer_match_index", mm[i].id, mm[i].match_index);
        P("# HELP kahuna_raft_peer_lag_entries Entries of the leader's log a peer does not have yet.\n"
          "# TYPE kahuna_raft_peer_lag_entries gauge\n");
        for (size_t i = 0; i < nm && !rc; i++)
            if (!mm[i].is_self)
                rc = put_peer_sample(out, "kahuna_raft_peer_lag_entries", mm[i].id,
                                     st->last_log_index > mm[i].match_index
                                         ? st->last_log_index - mm[i].match_index : 0);
    }
#undef P
    return rc;
}

int metrics_render(metrics *m, const node_status *st, const node_member *members, size_t nmembers,
                   kbuf *out)
{
    int rc = 0;
#define P(...) do { if (!rc) rc = kbuf_printf(out, __VA_ARGS__); } while (0)
    P("# HELP kahuna_http_requests_total HTTP requests answered, by route pattern, method and status.\n"
      "# TYPE kahuna_http_requests_total counter\n");
    for (int r = 0; r < REQ_ROUTE_COUNT; r++)
        for (int k = 0; k < REQ_METHOD_COUNT; k++)
            for (size_t c = 0; c <= NCODES; c++) {
                uint64_t v = sum_requests(m, r, k, c);
                if (!v)
                    continue;
                if (c == CODE_OTHER)
                    P("kahuna_http_requests_total{route=\"%s\",method=\"%s\",code=\"other\"} %" PRIu64 "\n",
                      req_route_name((req_route)r), req_method_name((req_method)k), v);
                else
                    P("kahuna_http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                      req_route_name((req_route)r), req_method_name((req_method)k), codes[c], v);
            }

    P("# HELP kahuna_http_request_duration_seconds Time from a request's headers to its answer, by route pattern.\n"
      "# TYPE kahuna_http_request_duration_seconds histogram\n");
    for (int r = 0; r < REQ_ROUTE_COUNT; r++) {
        uint64_t count = 0, sum = 0;
        for (int s = 0; s < SHARDS; s++) {
            count += atomic_load_explicit(&m->shards[s].count[r], memory_order_relaxed);
            sum += atomic_load_explicit(&m->shards[s].sum_us[r], memory_order_relaxed);
        }
        if (!count)
            continue;
        const char *name = req_route_name((req_route)r);
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += sum_bucket(m, r, b);
            P("kahuna_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %" PRIu64 "\n",
              name, bucket_le[b], cum);
        }
        cum += sum_bucket(m, r, NBUCKETS);
        /* +Inf must equal _count; shards are read one by one, so take the
         * larger of the two readings for both */
        if (cum > count)
            count = cum;
        P("kahuna_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, count);
        P("kahuna_http_request_duration_seconds_sum{route=\"%s\"} %" PRIu64 ".%06" PRIu64 "\n",
          name, sum / 1000000, sum % 1000000);
        P("kahuna_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n", name, count);
    }

    if (st) {
        P("# HELP kahuna_term Current Raft term.\n# TYPE kahuna_term gauge\nkahuna_term %" PRIu64 "\n", st->term);
        P("# HELP kahuna_commit_index Highest log index known to be committed.\n"
          "# TYPE kahuna_commit_index gauge\nkahuna_commit_index %" PRIu64 "\n", st->commit_index);
        P("# HELP kahuna_applied_index Highest log index applied to the state machine.\n"
          "# TYPE kahuna_applied_index gauge\nkahuna_applied_index %" PRIu64 "\n", st->applied_index);
        P("# HELP kahuna_last_log_index Last index in this node's log.\n"
          "# TYPE kahuna_last_log_index gauge\nkahuna_last_log_index %" PRIu64 "\n", st->last_log_index);
        P("# HELP kahuna_revision Store-wide revision.\n"
          "# TYPE kahuna_revision gauge\nkahuna_revision %" PRId64 "\n", st->revision);
        P("# HELP kahuna_proposals_total Commands proposed since start.\n"
          "# TYPE kahuna_proposals_total counter\nkahuna_proposals_total %" PRIu64 "\n", st->proposals);
        P("# HELP kahuna_batches_total Log transactions (fsyncs) since start.\n"
          "# TYPE kahuna_batches_total counter\nkahuna_batches_total %" PRIu64 "\n", st->batches);
        P("# HELP kahuna_expirations_total Expire commands proposed since start.\n"
          "# TYPE kahuna_expirations_total counter\nkahuna_expirations_total %" PRIu64 "\n", st->expirations);
        P("# HELP kahuna_lock_waiters Requests waiting for a lock now.\n"
          "# TYPE kahuna_lock_waiters gauge\nkahuna_lock_waiters %" PRIu64 "\n", st->lock_waiters);
        P("# HELP kahuna_is_leader 1 when this node is the leader.\n"
          "# TYPE kahuna_is_leader gauge\nkahuna_is_leader %d\n", st->is_leader ? 1 : 0);
        if (!rc)
            rc = render_raft(st, members, nmembers, out);
    }
#undef P
    return rc;
}
