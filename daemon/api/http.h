/* http.h: the HTTP server of a node (libmicrohttpd): the REST API of SPEC §3,
 * /health, /ready, /metrics, and the peer Raft routes under /raft/
 * (api/peer.h).
 *
 * It runs libmicrohttpd's epoll loop on a small pool of threads; a request
 * that waits for the node (a write, a linearizable read, a lock wait) is
 * suspended, not parked on a thread, so many keep-alive clients are served
 * by few threads. */
#ifndef KAHUNA_API_HTTP_H
#define KAHUNA_API_HTTP_H

#include "node.h"

typedef struct api_server api_server;

typedef struct api_options {
    const char *host;         /* address to bind, e.g. "127.0.0.1", "0.0.0.0", "::1" */
    int port;                 /* 1..65535 */
    int threads;              /* libmicrohttpd thread pool size; 0 = number of CPUs */
    const char *node_id;
    /* Added for Raft: the secret every /raft/ request must carry in
     * X-Kahuna-Peer-Secret (copied). NULL or "": every /raft/ request is
     * refused with 403. */
    const char *peer_secret;
} api_options;

/* Binds and starts serving. Returns 0, or KAHUNA_EIO with *err_msg set to a
 * static message saying what failed (for example that the port is in use). */
int api_server_start(const api_options *opts, node *n, api_server **out, const char **err_msg);

/* Stops accepting new connections (first step of a clean shutdown). */
void api_server_quiesce(api_server *s);

/* Stops the server: waits for handlers to finish, closes every connection,
 * frees s. Call after node_stop (so no request is left suspended) and
 * before node_free. */
void api_server_stop(api_server *s);

#endif
