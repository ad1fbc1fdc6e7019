/* peer.h: the incoming peer routes under /raft/ on the API port, for the
 * router (http.c): Raft messages, snapshot chunks, and requests forwarded
 * by followers. Like the resource files, peer.c knows nothing of
 * libmicrohttpd: http.c reads the body (up to API_PEER_MAX_BODY) and hands
 * it over with the query arguments.
 *
 *   POST /raft/v1/messages        body: concatenated codec frames -> 204
 *   POST /raft/v1/snapshot/chunk?from=&index=&term=&offset=   raw bytes -> 204
 *   POST /raft/v1/snapshot/done?from=&index=&term=&size=      SNAPSHOT frame -> 204
 *   POST /raft/v1/forward         body: rpc request -> 200 rpc answer
 *
 * Every /raft/ request must carry X-Kahuna-Peer-Secret equal to the node's
 * peer secret (compared in constant time); a node without a secret refuses
 * them all with 403. Errors are JSON {"error":{"code","message"}} like the
 * rest of the API; peer answers never carry the X-Kahuna-* headers. */
#ifndef KAHUNA_API_PEER_H
#define KAHUNA_API_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "node.h"
#include "api/api_internal.h"

#define API_PEER_MAX_BODY ((size_t)(8 + 1) * 1024 * 1024)   /* a whole transaction (KAHUNA_MAX_TXN) plus framing */
#define API_PEER_SECRET_HEADER "X-Kahuna-Peer-Secret"

typedef enum api_peer_route {
    API_PEER_NONE = 0,          /* not under /raft/ */
    API_PEER_UNKNOWN,           /* under /raft/, no such route */
    API_PEER_MESSAGES,
    API_PEER_SNAPSHOT_CHUNK,
    API_PEER_SNAPSHOT_DONE,
    API_PEER_FORWARD,
    API_PEER_TEST_BLOCK,        /* test-only fault switch (KAHUNA_TEST_FAULTS=1) */
} api_peer_route;

/* The peer route of a path (without the query). */
api_peer_route api_peer_route_of(const char *path);

/* 1 when given equals secret; 0 when it does not, or when either is NULL
 * or secret is empty. The time taken depends on given's length only. */
int api_peer_secret_ok(const char *secret, const char *given);

/* The checks made before the body is read, in this order: the secret
 * (403), the method (405, Allow: POST), the route (404), the announced
 * body length (413; body_over: Content-Length is over API_PEER_MAX_BODY).
 * Returns 0 when the request may go on, else 1 with the answer in out.
 * client names the peer in the (rate-limited) warning about a bad secret. */
int api_peer_admit(const char *secret, const char *given, kbytes method, api_peer_route route,
                   int body_over, const char *client, api_reply *out);

/* Serves MESSAGES, SNAPSHOT_CHUNK and SNAPSHOT_DONE at once: the answer
 * goes in out (204 with an empty body on success). client names the peer
 * in log lines ("10.0.0.4:51234"). args are the raw query arguments. */
void api_peer_serve(node *n, api_peer_route route, const req_arg *args, size_t nargs, kbytes body,
                    const char *client, api_reply *out);

/* POST /raft/v1/forward: decodes the rpc request in body and hands it to
 * the node with NODE_NO_FORWARD: a proposal through node_submit (then done
 * runs once with its result), an admin op through node_admin (admin_done
 * runs once). Returns 0 when the node has it (the callback may run before
 * this returns), or 1 when the request is refused with the answer in out
 * (no callback). body must stay valid until the callback has run; scratch
 * (reset here) holds the id and URL strings an admin op lends the node
 * and must stay untouched until then too. */
int api_peer_forward_start(node *n, kbytes body, kbuf *scratch, int (*alive)(void *arg),
                           node_done_fn done, node_admin_fn admin_done, void *arg, api_reply *out);

/* The body of the answer to a forwarded request (200,
 * application/octet-stream): the rpc answer of res, appended to out (admin
 * ops: a result whose status is the admin status). Called from the node's
 * callback, while res is valid. Returns 0 or the rpc_result_encode error
 * (KAHUNA_ENOMEM; KAHUNA_EBADREQ for a result the codec cannot carry). */
int api_peer_forward_encode(const fsm_result *res, kbuf *out);

/* A JSON error answer with an explicit HTTP status and code. */
void api_peer_error(api_reply *out, int http_status, const char *code, const char *message);

#endif
