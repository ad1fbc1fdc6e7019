/* leases.h: the deadline table of TTLs (keys and locks) on this node's
 * monotonic clock.
 *
 * The state machine stores TTLs as durations; the deadlines live here, on
 * the leader, because only the leader decides that time has run out (SPEC
 * §1). An entry is keyed by (kind, name) and remembers the generation it
 * was armed for (a key's revision, a lock's fencing token), its TTL and its
 * deadline. When the deadline passes, leases_pop_due hands the entry out
 * once, so the node proposes one expire command per deadline; the entry
 * stays (remaining() says 0, "expired") until apply disarms it.
 *
 * A hash map (SipHash with a random key, so names chosen by clients cannot
 * force collisions) plus a binary min-heap of deadlines: O(1) lookups and
 * O(log n) arm, disarm and pop, for millions of entries. All functions are
 * thread-safe (one mutex): the node thread writes, HTTP threads read. */
#ifndef KAHUNA_LEASES_H
#define KAHUNA_LEASES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct leases leases;

/* One due lease handed out by leases_pop_due. name is malloc'd and owned by
 * the array (leases_due_free). */
typedef struct lease_due {
    int kind;
    kbuf name;
    int64_t generation;
} lease_due;

int leases_new(leases **out);
void leases_free(leases *l);

/* Sets (or replaces) the lease of (kind, name): generation, deadline
 * now_ms + ttl_ms. ttl_ms <= 0 disarms. Returns 0 or KAHUNA_ENOMEM. */
int leases_arm(leases *l, int kind, kbytes name, int64_t generation, int64_t ttl_ms, int64_t now_ms);

/* Removes the lease of (kind, name), if any. */
void leases_disarm(leases *l, int kind, kbytes name);

/* Removes the lease of (kind, name) only when it is still the one armed for
 * generation (after an expire command was applied). */
void leases_disarm_generation(leases *l, int kind, kbytes name, int64_t generation);

/* Time is in whole milliseconds, and now_ms at arming is the clock rounded
 * down, so a lease armed at real time T with deadline floor(T) + ttl lasts
 * through the whole millisecond of its deadline: it expires only once
 * now_ms > deadline, never before T + ttl (SPEC §1: never early).
 *
 * -1: no lease for (kind, name) at this generation; 0: expired; else the
 * milliseconds left (at least 1 until it has expired). */
int64_t leases_remaining(leases *l, int kind, kbytes name, int64_t generation, int64_t now_ms);

/* Takes up to max leases whose deadline is < now_ms, earliest first, each
 * handed out once (until re-armed). *out is a malloc'd array of *n entries
 * (NULL when none), freed with leases_due_free. Returns 0 or KAHUNA_ENOMEM
 * (then nothing was taken). */
int leases_pop_due(leases *l, int64_t now_ms, size_t max, lease_due **out, size_t *n);
void leases_due_free(lease_due *d, size_t n);

/* Restarts every lease in full: deadline = now_ms + its TTL, including the
 * ones already handed out as due (a new leader, SPEC §1). */
void leases_rearm_all(leases *l, int64_t now_ms);

/* The earliest time (ms) at which a lease not yet handed out is due, i.e.
 * its deadline + 1, or INT64_MAX when none. */
int64_t leases_next_deadline(leases *l);

/* Forgets every lease (a snapshot replaced the state: the caller re-arms). */
void leases_clear(leases *l);

/* Number of leases in the table (armed or due). */
size_t leases_count(leases *l);

#endif
