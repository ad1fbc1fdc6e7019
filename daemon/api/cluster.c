/* cluster.c: GET /v1/cluster, the membership and leadership operations
 * (POST /v1/cluster/members, DELETE /v1/cluster/members/{id}, POST
 * /v1/cluster/transfer-leadership), /health, /ready and /metrics.
 *
 * The reads answer at once from node_get_status / node_members. The three
 * changes wait for the node (node_admin: through the log, on the leader;
 * a follower forwards them), so they do not go through api_cluster_serve:
 * http.c starts them with api_cluster_admin_start, suspends the connection
 * exactly as for a write, and answers with api_cluster_admin_reply once
 * the node's callback has run. Ids and URLs are checked here, before the
 * node sees them: a bad one is a 400 that changes nothing. */
#include "api_internal.h"
#include "api/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* Longest member URL: what node_member.url holds. */
#define MEMBER_URL_MAX (sizeof(((node_member *)0)->url) - 1)
#define MEMBER_ID_MAX 64

/* ---- checks ---- */

static int is_id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* NULL when b is a node id ([A-Za-z0-9._-]{1,64}), else what is wrong. */
static const char *check_id(kbytes b)
{
    if (b.n == 0)
        return "is empty";
    if (b.n > MEMBER_ID_MAX)
        return "is longer than 64 characters";
    for (size_t i = 0; i < b.n; i++)
        if (!is_id_char(b.p[i]))
            return "may use only letters, digits, '.', '_' and '-'";
    return NULL;
}

static int host_is_wildcard(const char *h, size_t n)
{
    char host[INET6_ADDRSTRLEN + 1];
    struct in_addr a4;
    struct in6_addr a6;
    if (n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, &a4) == 1)
        return a4.s_addr == htonl(INADDR_ANY);
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_UNSPECIFIED(&a6);
    return 0;
}

/* NULL when b is a URL a peer can be reached at: http:// or https://, a
 * host, no spaces or control characters, at most MEMBER_URL_MAX bytes, and
 * not a wildcard address. *len is the length without trailing '/'. */
static const char *check_url(kbytes b, size_t *len)
{
    size_t skip;
    if (b.n >= 7 && memcmp(b.p, "http://", 7) == 0)
        skip = 7;
    else if (b.n >= 8 && memcmp(b.p, "https://", 8) == 0)
        skip = 8;
    else
        return "must start with http:// or https://";
    if (b.n > MEMBER_URL_MAX)
        return "is longer than 511 bytes";
    for (size_t i = 0; i < b.n; i++)
        if (b.p[i] <= ' ' || b.p[i] >= 0x7f || b.p[i] == ',')
            return "must not contain spaces, commas, control or non-ASCII characters";
    const char *h = (const char *)b.p + skip;
    size_t rest = b.n - skip, hn;
    if (rest > 0 && *h == '[') {
        const char *close = memchr(h, ']', rest);
        if (!close)
            return "has an IPv6 address without its closing bracket";
        hn = (size_t)(close - h - 1);
        if (host_is_wildcard(h + 1, hn))
            return "names a wildcard address ([::]) that other nodes cannot reach";
        hn += 2;
    } else {
        hn = 0;
        while (hn < rest && h[hn] != ':' && h[hn] != '/' && h[hn] != '?' && h[hn] != '#')
            hn++;
        if (host_is_wildcard(h, hn))
            return "names a wildcard address (0.0.0.0) that other nodes cannot reach";
    }
    if (hn == 0)
        return "needs a host, e.g. http://10.0.0.4:2070";
    size_t n = b.n;
    while (n > skip && b.p[n - 1] == '/')
        n--;
    *len = n;
    return NULL;
}

/* Makes a kbuf usable as a C string without changing its length: the
 * bytes stay where they are until the connection's next request. */
static int terminate(kbuf *b)
{
    if (kbuf_append_byte(b, 0))
        return KAHUNA_ENOMEM;
    b->len--;
    return 0;
}

/* ---- GET /v1/cluster ---- */

static void cluster_get(const api_env *env, api_reply *out)
{
    node_status st;
    node_member *mm = NULL;
    size_t nm = 0;
    node_get_status(env->n, &st);
    int rc = node_members(env->n, &mm, &nm);
    if (rc) {
        api_reply_error(out, rc, "cannot read the membership");
        return;
    }
    jw w;
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_str(&w, "node_id", env->node_id);
    if (st.leader_id[0])
        jw_str(&w, "leader", st.leader_id);
    else
        jw_null(&w, "leader");
    jw_str(&w, "role", raft_role_name(st.role));
    jw_uint(&w, "term", st.term);
    jw_uint(&w, "commit_index", st.commit_index);
    jw_uint(&w, "applied_index", st.applied_index);
    jw_uint(&w, "last_log_index", st.last_log_index);
    jw_int(&w, "revision", st.revision);
    jw_arr_open(&w, "members");
    for (size_t i = 0; i < nm; i++) {
        const node_member *m = &mm[i];
        jw_obj_open(&w, NULL);
        jw_str(&w, "id", m->id);
        jw_str(&w, "url", m->url);
        jw_str(&w, "role", m->voter ? "voter" : "learner");
        jw_bool(&w, "leader", m->is_leader);
        jw_bool(&w, "self", m->is_self);
        jw_uint(&w, "match_index", m->match_index);
        if (m->last_contact_ms >= 0)
            jw_int(&w, "last_contact_ms", m->last_contact_ms);
        else
            jw_null(&w, "last_contact_ms");
        jw_obj_close(&w);
    }
    jw_arr_close(&w);
    jw_obj_close(&w);
    api_reply_finish(out, &w);
    free(mm);
}

/* ---- membership and leadership changes ---- */

int api_cluster_is_admin(req_op op)
{
    return op == REQ_OP_CLUSTER_ADD || op == REQ_OP_CLUSTER_REMOVE || op == REQ_OP_CLUSTER_TRANSFER;
}

static int bad(api_reply *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(api_reply *out, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply_error(out, KAHUNA_EBADREQ, msg);
    return KAHUNA_EBADREQ;
}

int api_cluster_admin_start(const api_env *env, req *rq, api_reply *out, node_admin_fn done, void *arg)
{
    kbytes id = kbytes_make(rq->name.data, rq->name.len);
    const char *e;
    int op;
    switch (rq->op) {
    case REQ_OP_CLUSTER_ADD: {
        size_t ulen = 0;
        if ((e = check_id(id)) != NULL)
            return bad(out, "id %s (ids are 1-64 of A-Z a-z 0-9 . _ -)", e);
        if ((e = check_url(kbytes_make(rq->url.data, rq->url.len), &ulen)) != NULL)
            return bad(out, "url %s", e);
        rq->url.len = ulen;
        op = NODE_ADMIN_ADD;
        break;
    }
    case REQ_OP_CLUSTER_REMOVE:
        if ((e = check_id(id)) != NULL)
            return bad(out, "member id %s (ids are 1-64 of A-Z a-z 0-9 . _ -)", e);
        op = NODE_ADMIN_REMOVE;
        break;
    case REQ_OP_CLUSTER_TRANSFER:
        if (id.n > 0 && (e = check_id(id)) != NULL)
            return bad(out, "to %s (ids are 1-64 of A-Z a-z 0-9 . _ -)", e);
        op = NODE_ADMIN_TRANSFER;
        break;
    default:
        api_reply_error(out, KAHUNA_EINTERNAL, "not a membership or leadership change");
        return KAHUNA_EINTERNAL;
    }
    if (terminate(&rq->name) || terminate(&rq->url)) {
        api_reply_error(out, KAHUNA_ENOMEM, NULL);
        return KAHUNA_ENOMEM;
    }
    const char *url = op == NODE_ADMIN_ADD ? kbuf_str(&rq->url) : NULL;
    node_admin(env->n, op, kbuf_str(&rq->name), url, 0, done, arg);
    return 0;
}

/* The member named id in this node's view, copied into *m; 0 when it is
 * not there (or the view cannot be read). *voters counts the voters. */
static int find_member(const api_env *env, const char *id, node_member *m, size_t *voters)
{
    node_member *mm = NULL;
    size_t nm = 0;
    int found = 0;
    *voters = 0;
    if (node_members(env->n, &mm, &nm) != 0)
        return 0;
    for (size_t i = 0; i < nm; i++) {
        if (mm[i].voter)
            (*voters)++;
        if (id && strcmp(mm[i].id, id) == 0) {
            *m = mm[i];
            found = 1;
        }
    }
    free(mm);
    return found;
}

/* Why the leader refused a change (KAHUNA_EBADREQ carries no text): what
 * this node's view of the membership explains, else the possible reasons. */
static void explain_refusal(const api_env *env, const req *rq, char *msg, size_t cap)
{
    const char *id = kbuf_str(&rq->name);
    node_member m;
    size_t voters = 0;
    int member = find_member(env, id, &m, &voters);
    switch (rq->op) {
    case REQ_OP_CLUSTER_ADD:
        if (member)
            snprintf(msg, cap, "%s is already a member (%s); remove it first to give it another URL",
                     id, m.url);
        else
            snprintf(msg, cap, "the cluster refused to add %s: it is already a member, or this "
                     "node runs alone without a peer secret (--peer-secret) and cannot take "
                     "members", id);
        return;
    case REQ_OP_CLUSTER_REMOVE:
        if (!member)
            snprintf(msg, cap, "%s is not a member of the cluster (GET /v1/cluster lists them)", id);
        else if (m.voter && voters <= 1)
            snprintf(msg, cap, "%s is the last voter: a cluster cannot remove its last voter", id);
        else
            snprintf(msg, cap, "the cluster refused to remove %s", id);
        return;
    default:
        if (!id[0])
            snprintf(msg, cap, "no other voter can take the leadership");
        else if (!member)
            snprintf(msg, cap, "%s is not a member of the cluster (GET /v1/cluster lists them)", id);
        else if (!m.voter)
            snprintf(msg, cap, "%s is a learner still catching up: only a voter can lead", id);
        else
            snprintf(msg, cap, "cannot hand the leadership to %s", id);
        return;
    }
}

void api_cluster_admin_reply(const api_env *env, const req *rq, int status, api_reply *out)
{
    const char *id = kbuf_str(&rq->name);
    char msg[1024];
    jw w;
    switch (status) {
    case 0:
        break;
    case KAHUNA_EBADREQ:
        explain_refusal(env, rq, msg, sizeof msg);
        api_reply_error(out, status, msg);
        return;
    case KAHUNA_EUNAVAILABLE:
        api_reply_error(out, status, "no leader, or another membership change is still in progress; "
                        "nothing was changed: try again");
        return;
    case KAHUNA_ETIMEOUT:
        api_reply_error(out, status, "the change was proposed but not confirmed in time; it may "
                        "still happen: look at GET /v1/cluster before trying again");
        return;
    default:
        api_reply_error(out, status, NULL);
        return;
    }
    api_reply_json(out, 200, &w);
    jw_obj_open(&w, NULL);
    jw_bool(&w, "ok", 1);
    switch (rq->op) {
    case REQ_OP_CLUSTER_ADD:
        jw_str(&w, "id", id);
        jw_str(&w, "url", kbuf_str(&rq->url));
        jw_str(&w, "role", "learner");
        break;
    case REQ_OP_CLUSTER_REMOVE:
        jw_str(&w, "id", id);
        break;
    default: {
        node_status st;
        node_get_status(env->n, &st);
        if (st.leader_id[0])
            jw_str(&w, "leader", st.leader_id);
        else
            jw_null(&w, "leader");
        break;
    }
    }
    jw_obj_close(&w);
    api_reply_finish(out, &w);
}

/* ---- /metrics, /health, /ready ---- */

static void metrics_get(const api_env *env, api_reply *out)
{
    node_status st;
    node_member *mm = NULL;
    size_t nm = 0;
    node_get_status(env->n, &st);
    if (node_members(env->n, &mm, &nm) != 0) {
        mm = NULL;    /* the node's figures without the per-peer ones */
        nm = 0;
    }
    kbuf_reset(out->body);
    out->http_status = 200;
    out->content_type = API_PROMETHEUS;
    int rc = metrics_render(env->m, &st, mm, nm, out->body);
    free(mm);
    if (rc)
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
        /* these wait for the node: http.c runs them through
         * api_cluster_admin_start / api_cluster_admin_reply */
        api_reply_error(out, KAHUNA_EINTERNAL, "membership changes are not wired into this "
                        "server (api_cluster_admin_start)");
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
