/* resp.h: the Redis-protocol listener of a node (SPEC §4): RESP2/RESP3,
 * pipelining, many clients, on its own port (7379 by default).
 *
 * One thread runs an epoll loop over non-blocking sockets; no thread per
 * connection. Commands become node proposals, read barriers and reads of
 * the state database, exactly as the REST API does, so both see one store.
 * Answers from the node arrive on the node thread and are handed back to
 * the loop through a queue and an eventfd; replies on a connection always
 * go out in request order. docs/resp.md lists the commands and the limits.
 *
 * Lifecycle, as api/http.h: resp_server_start after node_start;
 * resp_server_quiesce when shutting down (no new connections); node_stop
 * (which answers everything in flight); resp_server_stop; node_free. */
#ifndef KAHUNA_RESP_RESP_H
#define KAHUNA_RESP_RESP_H

#include "node.h"

typedef struct resp_server resp_server;

typedef struct resp_options {
    const char *host;         /* address to bind: "127.0.0.1", "0.0.0.0", "::1", "localhost" */
    int port;                 /* 1..65535; 0 = any free port (see resp_server_port) */
    const char *requirepass;  /* NULL or "" = no password; else AUTH is required (copied) */
    const char *node_id;      /* copied */
    int max_clients;          /* 0 = 10000; more connections are refused with an error */
} resp_options;

/* Binds and starts the loop thread. Returns 0, or KAHUNA_EIO with *err_msg
 * set to a static message saying what failed (port in use, bad address),
 * or KAHUNA_ENOMEM / KAHUNA_EBADREQ (bad options). */
int resp_server_start(const resp_options *opts, node *n, resp_server **out, const char **err_msg);

/* The port actually bound (useful with port 0). */
int resp_server_port(const resp_server *s);

/* Stops accepting new connections; existing ones are still served. */
void resp_server_quiesce(resp_server *s);

/* Delivers the answers the node has given, makes a last attempt to send
 * pending replies, closes every connection, joins the thread and frees s.
 * Call after node_stop and before node_free. */
void resp_server_stop(resp_server *s);

#endif
