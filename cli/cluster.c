/* cluster.c: kahuna-cli cluster status|members|add|remove|transfer-leader
 * and health (SPEC §5), over the REST cluster API (SPEC §3).
 *
 * "cluster status" (for people: fields, then an aligned member table) and
 * "members" (for scripts: tab-separated) show the view of the first
 * endpoint that answers. Membership changes go through the log, one node
 * at a time, on the leader (a follower forwards them); a refusal (400) is
 * shown with the server's reason, no leader (503, after the retries of
 * call.c) exits 69. An added node joins as a learner and the leader makes
 * it a voter once it has caught up. */
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

/* One member as the columns of a table: id, URL, role ("leader",
 * "voter" or "learner"), match index and ms since last contact ("-" when
 * unknown). Each cell is written into cells[i] (reset first). */
#define MEMBER_COLS 5
static int member_cells(json_t *m, kbuf cells[MEMBER_COLS])
{
    const char *id = jstr(m, "id"), *url = jstr(m, "url"), *role = jstr(m, "role");
    int rc = 0;
    for (int i = 0; i < MEMBER_COLS; i++)
        kbuf_reset(&cells[i]);
    if (json_is_true(json_object_get(m, "leader")))
        role = "leader";
    rc |= kbuf_append_str(&cells[0], id ? id : "");
    rc |= kbuf_append_str(&cells[1], url ? url : "");
    rc |= kbuf_append_str(&cells[2], role ? role : "");
    if (jint(m, "match_index") >= 0)
        rc |= kbuf_printf(&cells[3], "%lld", (long long)jint(m, "match_index"));
    else
        rc |= kbuf_append_str(&cells[3], "-");
    if (jint(m, "last_contact_ms") >= 0)
        rc |= kbuf_printf(&cells[4], "%lld", (long long)jint(m, "last_contact_ms"));
    else
        rc |= kbuf_append_str(&cells[4], "-");
    return rc ? KAHUNA_ENOMEM : 0;
}

static void free_cells(kbuf cells[MEMBER_COLS])
{
    for (int i = 0; i < MEMBER_COLS; i++)
        kbuf_free(&cells[i]);
}

/* A cell padded to width and two spaces, or the last one and a newline. */
static void print_cell(const char *text, size_t width, int last)
{
    if (last)
        out_printf("%s\n", text);
    else
        out_printf("%-*s  ", (int)width, text);
}

/* The members as an aligned table with a header line, for people. */
static int print_member_table(json_t *members)
{
    static const char *const head[MEMBER_COLS] = {"ID", "URL", "ROLE", "MATCH_INDEX", "LAST_CONTACT_MS"};
    size_t width[MEMBER_COLS];
    kbuf cells[MEMBER_COLS] = {KBUF_INIT, KBUF_INIT, KBUF_INIT, KBUF_INIT, KBUF_INIT};
    for (int k = 0; k < MEMBER_COLS; k++)
        width[k] = strlen(head[k]);
    size_t i;
    json_t *m;
    int rc = 0;
    json_array_foreach(members, i, m) {
        if ((rc = member_cells(m, cells)) != 0)
            break;
        for (int k = 0; k < MEMBER_COLS; k++)
            if (cells[k].len > width[k])
                width[k] = cells[k].len;
    }
    for (int k = 0; k < MEMBER_COLS && !rc; k++)
        print_cell(head[k], width[k], k + 1 == MEMBER_COLS);
    json_array_foreach(members, i, m) {
        if (rc || (rc = member_cells(m, cells)) != 0)
            break;
        for (int k = 0; k < MEMBER_COLS; k++)
            print_cell(kbuf_str(&cells[k]), width[k], k + 1 == MEMBER_COLS);
    }
    free_cells(cells);
    return rc ? CLI_EXIT_SOFTWARE : CLI_EXIT_OK;
}

int cmd_cluster_status(cli_ctx *c, const cli_inv *inv)
{
    static const char *const first[] = {"node_id", "leader", "role", "term", "commit_index", "applied_index"};
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
    if (json_is_array(members)) {
        out_printf("members: %zu\n\n", json_array_size(members));
        status = print_member_table(members);
    }
out:
    call_result_free(&r);
    return status;
}

int cmd_cluster_members(cli_ctx *c, const cli_inv *inv)
{
    call_result r = CALL_RESULT_INIT;
    kbuf cells[MEMBER_COLS] = {KBUF_INIT, KBUF_INIT, KBUF_INIT, KBUF_INIT, KBUF_INIT};
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
    /* ID, URL, ROLE, MATCH_INDEX, LAST_CONTACT_MS separated by tabs, for scripts */
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m) {
        if (member_cells(m, cells) != 0) {
            status = CLI_EXIT_SOFTWARE;
            break;
        }
        for (int k = 0; k < MEMBER_COLS; k++)
            out_printf("%s%c", kbuf_str(&cells[k]), k + 1 < MEMBER_COLS ? '\t' : '\n');
    }
out:
    free_cells(cells);
    call_result_free(&r);
    return status;
}

/* A request that changes the cluster (not idempotent: an answer lost on
 * the way is not sent again elsewhere; a 503 is, as nothing was done).
 * Prints nothing on success, or the server's JSON with --json, or with
 * print_field the answer's field of that name (the new leader). */
static int cluster_change(cli_ctx *c, const char *what, const char *method, const char *path, json_t *body,
                          const char *print_field)
{
    call_result r = CALL_RESULT_INIT;
    call_json(c, method, path, body, c->timeout_ms, 0, &r);
    int status;
    if (!call_ok(&r))
        status = call_fail(c, &r, what);
    else if (c->json)
        status = call_print_body(&r);
    else if (print_field && !c->quiet && r.json && jstr(r.json, print_field))
        status = out_printf("%s\n", jstr(r.json, print_field)) ? CLI_EXIT_SOFTWARE : CLI_EXIT_OK;
    else
        status = CLI_EXIT_OK;
    call_result_free(&r);
    return status;
}

int cmd_cluster_add(cli_ctx *c, const cli_inv *inv)
{
    kbuf what = KBUF_INIT;
    json_t *body = json_pack("{s:s,s:s}", "id", inv->pos[0], "url", inv->pos[1]);
    int status = CLI_EXIT_SOFTWARE;
    if (body && !kbuf_printf(&what, "cluster add %s", inv->pos[0]))
        status = cluster_change(c, kbuf_str(&what), "POST", "/v1/cluster/members", body, NULL);
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
        status = cluster_change(c, kbuf_str(&what), "DELETE", kbuf_str(&path), NULL, NULL);
    kbuf_free(&what);
    kbuf_free(&path);
    return status;
}

int cmd_cluster_transfer(cli_ctx *c, const cli_inv *inv)
{
    json_t *body = inv->npos ? json_pack("{s:s}", "to", inv->pos[0]) : json_object();
    int status = CLI_EXIT_SOFTWARE;
    if (body)
        status = cluster_change(c, "cluster transfer-leader", "POST", "/v1/cluster/transfer-leadership", body,
                                "leader");
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
