/* cluster.c: GET /v1/cluster, the membership and leadership operations,
 * /health, /ready and /metrics.
 *
 * Until the Raft core (issue 3) gives node.h a membership API, a node runs
 * alone: GET /v1/cluster shows it as the only member and leader, and the
 * changes answer 400 saying that they need a Raft cluster. */
#include "api_internal.h"

#include "errors.h"

static void cluster_get(const api_env *env, api_reply *out)
{
    node_status st;
    node_get_status(env->n, &st);
    jw w;
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_str(&w, "node_id", env->node_id);
    if (st.leader_id && st.leader_id[0])
        jw_str(&w, "leader", st.leader_id);
    else
        jw_null(&w, "leader");
    jw_uint(&w, "term", st.term);
    jw_uint(&w, "commit_index", st.commit_index);
    jw_uint(&w, "applied_index", st.applied_index);
    jw_uint(&w, "last_log_index", st.last_log_index);
    jw_int(&w, "revision", st.revision);
    jw_arr_open(&w, "members");
    jw_obj_open(&w, NULL);
    jw_str(&w, "id", env->node_id);
    jw_str(&w, "url", env->self_url);
    jw_str(&w, "role", st.is_leader ? "leader" : "follower");
    jw_uint(&w, "match_index", st.last_log_index);
    jw_int(&w, "last_contact_ms", 0);
    jw_obj_close(&w);
    jw_arr_close(&w);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
}

static void metrics_get(const api_env *env, api_reply *out)
{
    node_status st;
    node_get_status(env->n, &st);
    kbuf_reset(out->body);
    out->http_status = 200;
    out->content_type = API_PROMETHEUS;
    if (metrics_render(env->m, &st, out->body))
        api_reply_error(out, KAHUNA_ENOMEM, NULL);
}

void api_cluster_serve(const api_env *env, const req *rq, api_reply *out)
{
    jw w;
    switch (rq->op) {
    case REQ_OP_CLUSTER_GET:
        cluster_get(env, out);
        return;
    case REQ_OP_CLUSTER_ADD:
    case REQ_OP_CLUSTER_REMOVE:
    case REQ_OP_CLUSTER_TRANSFER:
        api_reply_error(out, KAHUNA_EBADREQ,
                        "this node runs alone (started without --peers): membership and leadership "
                        "changes need a Raft cluster");
        return;
    case REQ_OP_HEALTH:
        api_reply_json(out, 200, &w);
        jw_obj_open(&w, NULL);
        jw_str(&w, "status", "ok");
        jw_str(&w, "node_id", env->node_id);
        jw_obj_close(&w);
        api_reply_finish(out, &w);
        return;
    case REQ_OP_READY:
        if (!node_ready(env->n)) {
            api_reply_error(out, KAHUNA_EUNAVAILABLE,
                            "not ready: no leader is known or this node is still applying the log");
            return;
        }
        api_reply_json(out, 200, &w);
        jw_obj_open(&w, NULL);
        jw_bool(&w, "ready", 1);
        jw_str(&w, "node_id", env->node_id);
        jw_obj_close(&w);
        api_reply_finish(out, &w);
        return;
    case REQ_OP_METRICS:
        metrics_get(env, out);
        return;
    default:
        api_reply_error(out, KAHUNA_EINTERNAL, "not a cluster operation");
    }
}
