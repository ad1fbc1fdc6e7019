/* transport.h: the outgoing half of the peer network edge of Raft: Raft
 * messages and snapshot files sent to the other nodes over HTTP (libcurl).
 *
 * One sender thread drives a libcurl multi handle. Per destination URL
 * there is a bounded queue of encoded frames (daemon/raft/codec.h) and at
 * most one POST /raft/v1/messages in flight, which carries every frame
 * queued so far (that batching is what gives throughput), over a kept-alive
 * connection. peer_send only encodes and queues: it never blocks the Raft
 * loop. A full queue drops the message, and a failed POST drops its batch
 * and backs that peer off for a little while (50..500 ms); Raft retries
 * either way. Other peers are never held up by a slow or dead one.
 *
 * Snapshots are streamed from the file in chunks of at most 1 MiB
 * (POST /raft/v1/snapshot/chunk?from=&index=&term=&offset=, raw bytes),
 * then POST /raft/v1/snapshot/done?from=&index=&term=&size= with the
 * encoded SNAPSHOT frame as body, on a second connection of that peer, so
 * messages keep flowing meanwhile. Every peer_send_snapshot call is
 * reported exactly once with node_snapshot_status (from the sender thread):
 * ok = 1 once the receiver accepted the done request, ok = 0 on any
 * failure. One snapshot per peer at a time: a second call for a peer whose
 * transfer is still running is not sent and is reported as failed (the
 * running one reports its own outcome).
 *
 * Every request carries the header X-Kahuna-Peer-Secret. */
#ifndef KAHUNA_PEER_TRANSPORT_H
#define KAHUNA_PEER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "raft/raft.h"

typedef struct peer_transport peer_transport;

typedef struct peer_options {
    const char *secret;          /* sent as X-Kahuna-Peer-Secret (required, non-empty,
                                    printable ASCII: no CR, LF or control bytes) */
    size_t queue_bytes;          /* per-peer bound on queued encoded bytes (0: 16 MiB) */
    int64_t timeout_ms;          /* per HTTP request (0: 5000) */
} peer_options;

#define PEER_DEFAULT_QUEUE_BYTES ((size_t)16 * 1024 * 1024)
#define PEER_DEFAULT_TIMEOUT_MS 5000
/* Largest POST /raft/v1/messages body the sender builds (whole frames; one
 * frame larger than this still goes alone). The receiver accepts 8 MiB. */
#define PEER_MAX_BATCH_BYTES ((size_t)4 * 1024 * 1024)
/* Snapshot chunk size. */
#define PEER_SNAPSHOT_CHUNK ((size_t)1024 * 1024)

/* Starts the sender thread. libcurl must be initialised already
 * (httpc_global_init, once per process). Returns 0, KAHUNA_EBADREQ (no or
 * a bad secret), KAHUNA_ENOMEM or KAHUNA_EINTERNAL. */
int peer_transport_start(const peer_options *o, peer_transport **out);

/* The node whose cluster id goes into encoded frames (node_cluster_id(n) at
 * encode time) and which gets the snapshot reports. Call before any send. */
void peer_transport_set_node(peer_transport *t, node *n);

/* Stops the sender thread and frees t. Call once nobody sends any more
 * (after node_stop) and while the node still exists (before node_free):
 * queued messages are dropped, and a snapshot transfer still running is
 * abandoned without a report. NULL is fine. */
void peer_transport_stop(peer_transport *t);

/* Encodes m (borrowed) and queues it for the peer at url ("http://HOST:PORT").
 * Never blocks; a full queue drops the message. */
void peer_send(peer_transport *t, const raft_msg *m, const char *url);

/* Sends the snapshot file at path (m is the SNAPSHOT message, borrowed:
 * encoded before return) to the peer at url; see above. path must stay
 * valid until the report. */
void peer_send_snapshot(peer_transport *t, const raft_msg *m, const char *url, const char *path);

/* Fills the send and send_snapshot members (and arg) of *out; forward is
 * left as it is (daemon/peer/forward.h). */
void peer_transport_bind(peer_transport *t, node_transport *out);

/* Counters since start, for /metrics. */
typedef struct peer_stats {
    uint64_t msgs_queued;        /* messages accepted by peer_send */
    uint64_t msgs_sent;          /* messages in batches the receiver accepted */
    uint64_t msgs_dropped_full;  /* dropped by peer_send: the peer's queue was full (or, rarely,
                                    out of memory / a message that does not encode) */
    uint64_t msgs_dropped_failed;/* dropped with a batch that failed */
    uint64_t bytes_sent;         /* encoded bytes in accepted batches */
    uint64_t batches_sent;       /* POST /raft/v1/messages accepted */
    uint64_t batches_failed;     /* ... failed (no connection, timeout, error status) */
    uint64_t snapshots_sent;     /* snapshot transfers reported ok */
    uint64_t snapshots_failed;   /* ... reported failed */
    uint64_t snapshot_bytes;     /* snapshot file bytes accepted by receivers */
} peer_stats;
void peer_transport_stats(peer_transport *t, peer_stats *out);

#endif
