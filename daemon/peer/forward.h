/* forward.h: forwarding of client requests from a follower to the leader
 * (POST LEADER_URL/raft/v1/forward, body and answer in peer/rpc.h format).
 *
 * One thread drives every forwarded request at once over one libcurl multi
 * handle, with kept-alive connections to the leader, so that many clients
 * of a follower are served concurrently and no request waits for another.
 *
 * What the caller learns is what makes 503 and 504 right:
 *   0                    the leader answered 200; body is its rpc answer
 *   KAHUNA_EUNAVAILABLE  the leader certainly did not run the request: no
 *                        connection was made, nothing was sent, or the
 *                        /raft route refused it (4xx, 503)
 *   KAHUNA_ETIMEOUT      sent, then no complete answer (timeout, broken
 *                        connection, other statuses): fate unknown
 *   KAHUNA_ECANCELED     alive() returned 0: the request was dropped (the
 *                        leader sees its connection close)
 *   KAHUNA_ESHUTDOWN     the forwarder is stopping (answered at once)
 *   KAHUNA_ENOMEM        the request could not be queued (answered at once) */
#ifndef KAHUNA_PEER_FORWARD_H
#define KAHUNA_PEER_FORWARD_H

#include <stdint.h>

#include "buf.h"
#include "node.h"

typedef struct peer_forwarder peer_forwarder;

/* Most connections kept to one leader (requests beyond wait in line, and
 * count as not sent while they wait). */
#define PEER_FORWARD_MAX_CONNECTIONS 256
/* Connection set-up limit, whatever the request's timeout: a leader that
 * does not accept within this time did not get the request. */
#define PEER_FORWARD_CONNECT_TIMEOUT_MS 5000
/* Largest answer body accepted. */
#define PEER_FORWARD_MAX_ANSWER ((size_t)256 * 1024 * 1024)

/* Starts the forwarder thread. secret (copied) goes out as header
 * X-Kahuna-Peer-Secret; NULL or "" sends none (the leader will refuse:
 * KAHUNA_EUNAVAILABLE). libcurl must be initialised (httpc_global_init).
 * Returns 0, KAHUNA_EBADREQ (a secret with CR or LF), KAHUNA_ENOMEM or
 * KAHUNA_EINTERNAL. */
int peer_forwarder_start(const char *secret, peer_forwarder **out);

/* Stops taking requests (peer_forward answers KAHUNA_ESHUTDOWN from then
 * on), answers every request in flight (KAHUNA_ETIMEOUT when it was sent,
 * KAHUNA_EUNAVAILABLE when not; an answer already complete is delivered),
 * joins the thread and frees f. No call of peer_forward may start after
 * stop has returned. NULL is fine. */
void peer_forwarder_stop(peer_forwarder *f);

/* Forwards req (copied) to the leader at url ("http://HOST:PORT") and calls
 * done(done_arg, status, body) exactly once, from the forwarder thread (or
 * before returning, with KAHUNA_ESHUTDOWN or KAHUNA_ENOMEM); body is valid
 * only during the call and empty unless status is 0. timeout_ms <= 0: no
 * limit. alive may be NULL; else it is polled from the forwarder thread
 * about every 100 ms, and when it returns 0 the request is aborted
 * (KAHUNA_ECANCELED). alive_arg and done_arg must stay valid until done.
 * done may call peer_forward again. Thread-safe. */
void peer_forward(peer_forwarder *f, const char *url, const kbytes req, int64_t timeout_ms,
                  int (*alive)(void *alive_arg), void *alive_arg,
                  void (*done)(void *done_arg, int status, kbytes body), void *done_arg);

/* Sets out->forward (to peer_forward) and out->forward_arg (to f); leaves
 * the other fields, arg included, as they are. */
void peer_forwarder_bind(peer_forwarder *f, node_transport *out);

#endif
