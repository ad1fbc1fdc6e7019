/* cluster.c: kahuna-cli cluster status|members|add|remove|transfer-leader
 * and health (SPEC §5), over the REST cluster API (SPEC §3).
 *
 * "cluster status" and "members" show the view of the first endpoint that
 * answers. Membership changes go through the log, one node at a time; a
 * single-node cluster refuses them with a 400 that is shown as it is. */
#include "call.h"
#include "cli.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GET /v1/cluster into r; returns the exit status (0 when r holds it). */
static int get_cluster(cli_ctx *c, const char *what, call_result *r)
{
    call_do(c, "GET", "/v1/cluster", NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, r);
    if (!call_ok(r))
        return call_fail(c, r, what);
    if (!r->json) {
        err_printf("%s: unexpected answer from %s (not a JSON object)", what, r->endpoint);
        return CLI_EXIT_SOFTWARE;
    }
    return CLI_EXIT_OK;
}

static void print_scalar(const char *key, json_t *v)
{
    if (json_is_string(v))
        out_printf("%s: %s\n", key, json_string_value(v));
    else if (json_is_integer(v))
        out_printf("%s: %lld\n", key, (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        out_printf("%s: %s\n", key, json_is_true(v) ? "true" : "false");
    else if (json_is_real(v))
        out_printf("%s: %g\n", key, json_real_value(v));
    else if (json_is_null(v))
        out_printf("%s: -\n", key);
}

int cmd_cluster_status(cli_ctx *c, const cli_inv *inv)
{
    static const char *const first[] = {"node_id", "leader", "term", "commit_index", "applied_index"};
    call_result r = CALL_RESULT_INIT;
    int status = get_cluster(c, "cluster status", &r);
    if (status)
        goto out;
    if (c->json) {
        status = call_print_body(&r);
        goto out;
    }
    /* The well-known fields first, then any other plain field. */
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
        json_t *v = json_object_get(r.json, first[i]);
        if (v)
            print_scalar(first[i], v);
        else if (strcmp(first[i], "leader") == 0)
            out_printf("leader: -\n");
    }
    const char *key;
    json_t *v;
    json_object_foreach(r.json, key, v) {
        int known = 0;
        for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
            known |= strcmp(key, first[i]) == 0;
        if (!known)
            print_scalar(key, v);
    }
    json_t *members = json_object_get(r.json, "members");
    if (json_is_array(members))
        out_printf("members: %zu\n", json_array_size(members));
out:
    call_result_free(&r);
    return status;
}

int cmd_cluster_members(cli_ctx *c, const cli_inv *inv)
{
    call_result r = CALL_RESULT_INIT;
    int status = get_cluster(c, "cluster members", &r);
    if (status)
        goto out;
    json_t *members = json_object_get(r.json, "members");
    if (c->json) {
        char *text = json_is_array(members) ? json_dumps(members, JSON_COMPACT) : NULL;
        status = text && out_printf("%s\n", text) == 0 ? CLI_EXIT_OK : CLI_EXIT_SOFTWARE;
        free(text);
        goto out;
    }
    if (!json_is_array(members)) {
        err_printf("cluster members: unexpected answer from %s (no \"members\")", r.endpoint);
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    /* ID, URL, ROLE, MATCH_INDEX, LAST_CONTACT_MS separated by tabs */
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        const char *id = jstr(m, "id"), *url = jstr(m, "url"), *role = jstr(m, "role");
        out_printf("%s\t%s\t%s\t", id ? id : "", url ? url : "", role ? role : "");
        if (jint(m, "match_index") >= 0)
            out_printf("%lld\t", (long long)jint(m, "match_index"));
        else
            out_printf("-\t");
        if (jint(m, "last_contact_ms") >= 0)
            out_printf("%lld\n", (long long)jint(m, "last_contact_ms"));
        else
            out_printf("-\n");
    }
out:
    call_result_free(&r);
    return status;
}

/* A request that changes the cluster; prints nothing on success but the
 * server's JSON with --json. */
static int cluster_change(cli_ctx *c, const char *what, const char *method, const char *path, json_t *body)
{
    call_result r = CALL_RESULT_INIT;
    call_json(c, method, path, body, c->timeout_ms, 0, &r);
    int status = call_ok(&r) ? (c->json ? call_print_body(&r) : CLI_EXIT_OK) : call_fail(c, &r, what);
    call_result_free(&r);
    return status;
}

int cmd_cluster_add(cli_ctx *c, const cli_inv *inv)
{
    kbuf what = KBUF_INIT;
    json_t *body = json_pack("{s:s,s:s}", "id", inv->pos[0], "url", inv->pos[1]);
    int status = CLI_EXIT_SOFTWARE;
    if (body && !kbuf_printf(&what, "cluster add %s", inv->pos[0]))
        status = cluster_change(c, kbuf_str(&what), "POST", "/v1/cluster/members", body);
    json_decref(body);
    kbuf_free(&what);
    return status;
}

int cmd_cluster_remove(cli_ctx *c, const cli_inv *inv)
{
    kbuf what = KBUF_INIT, path = KBUF_INIT;
    int status = CLI_EXIT_SOFTWARE;
    if (!kbuf_printf(&what, "cluster remove %s", inv->pos[0]) &&
        !call_path(&path, "/v1/cluster/members/", kbytes_str(inv->pos[0]), NULL))
        status = cluster_change(c, kbuf_str(&what), "DELETE", kbuf_str(&path), NULL);
    kbuf_free(&what);
    kbuf_free(&path);
    return status;
}

int cmd_cluster_transfer(cli_ctx *c, const cli_inv *inv)
{
    json_t *body = inv->npos ? json_pack("{s:s}", "to", inv->pos[0]) : json_object();
    int status = CLI_EXIT_SOFTWARE;
    if (body)
        status = cluster_change(c, "cluster transfer-leader", "POST", "/v1/cluster/transfer-leadership", body);
    json_decref(body);
    return status;
}

int cmd_health(cli_ctx *c, const cli_inv *inv)
{
    call_result r = CALL_RESULT_INIT;
    int status;
    call_do(c, "GET", "/health", NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, &r);
    if (!call_ok(&r))
        status = call_fail(c, &r, "health");
    else if (c->json && r.json)
        status = call_print_body(&r);
    else
        status = c->quiet ? CLI_EXIT_OK : (out_printf("ok\n") ? CLI_EXIT_SOFTWARE : CLI_EXIT_OK);
    call_result_free(&r);
    return status;
}
