/* cluster.h: the membership and leadership changes of the REST API
 * (POST /v1/cluster/members, DELETE /v1/cluster/members/{id}, POST
 * /v1/cluster/transfer-leadership), for the router (http.c).
 *
 * They wait for the node like a write: the router starts one with
 * api_cluster_admin_start, suspends the connection until done() has run
 * (it may run on the calling thread before the start returns, or on a
 * node thread), then answers with api_cluster_admin_reply. The other
 * cluster routes (GET /v1/cluster, /health, /ready, /metrics) answer at
 * once through api_cluster_serve (api_internal.h). */
#ifndef KAHUNA_API_CLUSTER_H
#define KAHUNA_API_CLUSTER_H

#include "node.h"
#include "api/api_internal.h"

/* 1 for REQ_OP_CLUSTER_ADD, _REMOVE and _TRANSFER. */
int api_cluster_is_admin(req_op op);

/* Checks the member id / URL / transfer target of rq (an admin op) and
 * calls node_admin(..., done, arg). Returns 0 when started: done(arg,
 * status) then runs exactly once, possibly before this returns. Returns a
 * KAHUNA_E* code when the request is refused (a 400 for a bad id or URL)
 * with the answer already in out: done is not called.
 * rq keeps the id and URL strings the node borrows (they are terminated
 * in place, lengths unchanged): it must stay untouched until done ran. */
int api_cluster_admin_start(const api_env *env, req *rq, api_reply *out, node_admin_fn done, void *arg);

/* The answer to a started admin op, from the status done() got: 200
 * {"ok":true,...}; 400 with the reason for KAHUNA_EBADREQ; 503 with
 * Retry-After for KAHUNA_EUNAVAILABLE / KAHUNA_ESHUTDOWN; 504 for
 * KAHUNA_ETIMEOUT. */
void api_cluster_admin_reply(const api_env *env, const req *rq, int status, api_reply *out);

#endif
