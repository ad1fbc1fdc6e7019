/* metrics.h: request counters and latency histograms of the HTTP API, and
 * the Prometheus text exposition of GET /metrics (format version 0.0.4).
 *
 * Recording is lock-free: each thread adds to its own shard of relaxed
 * atomic counters (a shard is picked per thread, round robin), and
 * rendering sums the shards. Labels are the route pattern, never the key. */
#ifndef KAHUNA_API_METRICS_H
#define KAHUNA_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "node.h"
#include "api/request.h"

typedef struct metrics metrics;

/* Returns 0 or KAHUNA_ENOMEM. Free with metrics_free. */
int metrics_new(metrics **out);
void metrics_free(metrics *m);

/* Records one answered request: its route, method, HTTP status and how
 * long it took from its first byte of headers to its answer. */
void metrics_observe(metrics *m, req_route route, req_method method, int http_status, int64_t duration_us);

/* Appends the exposition to out: the request counters and histograms, then
 * the node's figures from st (may be NULL), then the Raft figures of st
 * and, on the leader, of each other member in members[0..nmembers)
 * (node_members; may be NULL). Returns 0 or KAHUNA_ENOMEM. */
int metrics_render(metrics *m, const node_status *st, const node_member *members, size_t nmembers,
                   kbuf *out);

#endif
