/* test_cluster_api.c: unit tests of the REST cluster routes (daemon/api/
 * cluster.c) and of the Raft figures of /metrics (daemon/api/metrics.c):
 * GET /v1/cluster, the membership and leadership changes (checks, the call
 * to node_admin, the answer for each status), and the kahuna_raft_*
 * metrics.
 *
 * The node is faked: this file defines the node.h functions cluster.c
 * calls (node_get_status, node_members, node_admin, node_ready), driven by
 * the globals below, so the routes are tested without a running node. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/cluster.h"
#include "errors.h"

/* ---- the fake node ---- */

static node_status fake_status;
static node_member fake_members[4];
static size_t fake_nmembers;
static int admin_calls;
static int admin_op;
static char admin_id[128], admin_url[600];
static int admin_url_null;
static int admin_answer;       /* status the fake node answers with, synchronously */

void node_get_status(node *n, node_status *out)
{
    (void)n;
    *out = fake_status;
}

int node_members(node *n, node_member **out, size_t *count)
{
    (void)n;
    *out = malloc(sizeof fake_members);
    if (!*out)
        return KAHUNA_ENOMEM;
    memcpy(*out, fake_members, sizeof fake_members);
    *count = fake_nmembers;
    return 0;
}

void node_admin(node *n, int op, const char *id, const char *url, int flags, node_admin_fn done, void *arg)
{
    (void)n;
    (void)flags;
    admin_calls++;
    admin_op = op;
    snprintf(admin_id, sizeof admin_id, "%s", id ? id : "(null)");
    admin_url_null = url == NULL;
    snprintf(admin_url, sizeof admin_url, "%s", url ? url : "");
    done(arg, admin_answer);
}

int node_ready(node *n)
{
    (void)n;
    return 1;
}

static void add_member(const char *id, const char *url, int voter, int leader, int self,
                       uint64_t match, int64_t contact)
{
    node_member *m = &fake_members[fake_nmembers++];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->url, sizeof m->url, "%s", url);
    m->voter = voter;
    m->is_leader = leader;
    m->is_self = self;
    m->match_index = match;
    m->last_contact_ms = contact;
}

/* ---- request plumbing ---- */

static req R;
static kbuf body_buf;
static api_env env;
static metrics *M;
static json_t *J;          /* the last JSON answer */
static api_reply rp;

static void setup(void)
{
    memset(&fake_status, 0, sizeof fake_status);
    fake_status.node_id = "n1";
    fake_status.role = RAFT_LEADER;
    fake_status.is_leader = 1;
    snprintf(fake_status.leader_id, sizeof fake_status.leader_id, "n1");
    fake_status.term = 3;
    fake_status.commit_index = 40;
    fake_status.applied_index = 39;
    fake_status.last_log_index = 42;
    fake_nmembers = 0;
    add_member("n1", "http://127.0.0.1:2071", 1, 1, 1, 42, 0);
    add_member("n2", "http://127.0.0.1:2072", 1, 0, 0, 40, 12);
    add_member("n3", "http://127.0.0.1:2073", 0, 0, 0, 7, -1);
    admin_calls = 0;
    admin_answer = 0;
    admin_id[0] = admin_url[0] = '\0';
    req_init(&R);
    ck_assert_int_eq(metrics_new(&M), 0);
    env.n = NULL;
    env.m = M;
    env.node_id = "n1";
    env.self_url = "http://127.0.0.1:2071";
    J = NULL;
}

static void teardown(void)
{
    req_free(&R);
    kbuf_free(&body_buf);
    metrics_free(M);
    if (J)
        json_decref(J);
}

static void reply_reset(void)
{
    memset(&rp, 0, sizeof rp);
    rp.body = &body_buf;
    rp.http_status = 500;
    rp.content_type = API_JSON;
    if (J)
        json_decref(J);
    J = NULL;
}

static void parse_answer(void)
{
    J = json_loadb((const char *)body_buf.data, body_buf.len, 0, NULL);
    ck_assert_msg(J != NULL, "answer is not JSON: %.*s", (int)body_buf.len, (const char *)body_buf.data);
}

static int decode(const char *method, const char *path, const char *body)
{
    req_input in;
    memset(&in, 0, sizeof in);
    in.method = kbytes_str(method);
    in.path = kbytes_str(path);
    in.content_type = kbytes_str(body ? "application/json" : "");
    in.body = kbytes_make(body, body ? strlen(body) : 0);
    return req_decode(&in, &R);
}

/* What http.c does for an admin op: start, wait for done, reply. */
static int done_status;
static int done_calls;
static void on_done(void *arg, int status)
{
    ck_assert_ptr_eq(arg, &done_status);
    done_status = status;
    done_calls++;
}

static int admin(const char *method, const char *path, const char *body)
{
    ck_assert_int_eq(decode(method, path, body), 0);
    ck_assert_int_eq(api_cluster_is_admin(R.op), 1);
    reply_reset();
    done_calls = 0;
    int rc = api_cluster_admin_start(&env, &R, &rp, on_done, &done_status);
    if (rc == 0) {
        ck_assert_int_eq(done_calls, 1);
        reply_reset();
        api_cluster_admin_reply(&env, &R, done_status, &rp);
    } else {
        ck_assert_int_eq(done_calls, 0);
    }
    parse_answer();
    return rp.http_status;
}

static const char *error_message(void)
{
    return json_string_value(json_object_get(json_object_get(J, "error"), "message"));
}

static const char *str_at(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- GET /v1/cluster ---- */

START_TEST(test_cluster_get_shows_term_indexes_role_and_leader)
{
    ck_assert_int_eq(decode("GET", "/v1/cluster", NULL), 0);
    reply_reset();
    api_cluster_serve(&env, &R, &rp);
    ck_assert_int_eq(rp.http_status, 200);
    parse_answer();
    ck_assert_str_eq(str_at(J, "node_id"), "n1");
    ck_assert_str_eq(str_at(J, "leader"), "n1");
    ck_assert_str_eq(str_at(J, "role"), "leader");
    ck_assert_int_eq(json_integer_value(json_object_get(J, "term")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(J, "commit_index")), 40);
    ck_assert_int_eq(json_integer_value(json_object_get(J, "applied_index")), 39);
}
END_TEST

START_TEST(test_cluster_get_leader_is_null_when_unknown)
{
    fake_status.leader_id[0] = '\0';
    fake_status.role = RAFT_CANDIDATE;
    fake_status.is_leader = 0;
    ck_assert_int_eq(decode("GET", "/v1/cluster", NULL), 0);
    reply_reset();
    api_cluster_serve(&env, &R, &rp);
    parse_answer();
    ck_assert(json_is_null(json_object_get(J, "leader")));
    ck_assert_str_eq(str_at(J, "role"), "candidate");
}
END_TEST

START_TEST(test_cluster_get_lists_members_as_voters_and_learners)
{
    ck_assert_int_eq(decode("GET", "/v1/cluster", NULL), 0);
    reply_reset();
    api_cluster_serve(&env, &R, &rp);
    parse_answer();
    json_t *mm = json_object_get(J, "members");
    ck_assert_uint_eq(json_array_size(mm), 3);
    json_t *m1 = json_array_get(mm, 0), *m2 = json_array_get(mm, 1), *m3 = json_array_get(mm, 2);
    ck_assert_str_eq(str_at(m1, "id"), "n1");
    ck_assert_str_eq(str_at(m1, "url"), "http://127.0.0.1:2071");
    ck_assert_str_eq(str_at(m1, "role"), "voter");
    ck_assert(json_is_true(json_object_get(m1, "leader")));
    ck_assert(json_is_true(json_object_get(m1, "self")));
    ck_assert_int_eq(json_integer_value(json_object_get(m1, "last_contact_ms")), 0);
    ck_assert(json_is_false(json_object_get(m2, "leader")));
    ck_assert_int_eq(json_integer_value(json_object_get(m2, "match_index")), 40);
    ck_assert_int_eq(json_integer_value(json_object_get(m2, "last_contact_ms")), 12);
    ck_assert_str_eq(str_at(m3, "role"), "learner");
    ck_assert(json_is_null(json_object_get(m3, "last_contact_ms")));   /* -1: unknown */
}
END_TEST

/* ---- changes: checks ---- */

START_TEST(test_cluster_add_refuses_a_bad_id_without_calling_the_node)
{
    const char *bodies[] = {
        "{\"id\":\"n/4\",\"url\":\"http://10.0.0.4:2070\"}",
        "{\"id\":\"n 4\",\"url\":\"http://10.0.0.4:2070\"}",
        "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"url\":\"http://h:1\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ck_assert_int_eq(admin("POST", "/v1/cluster/members", bodies[i]), 400);
        ck_assert_ptr_nonnull(strstr(error_message(), "id "));
    }
    ck_assert_int_eq(admin_calls, 0);
}
END_TEST

START_TEST(test_cluster_add_refuses_a_bad_url_without_calling_the_node)
{
    struct { const char *url; const char *want; } cases[] = {
        {"ftp://h:1", "http:// or https://"},
        {"10.0.0.4:2070", "http:// or https://"},
        {"http://", "needs a host"},
        {"http://:2070", "needs a host"},
        {"http://a b:1", "spaces"},
        {"http://h:1,n5=http://x", "commas"},
        {"http://0.0.0.0:2070", "wildcard"},
        {"http://[::]:2070", "wildcard"},
        {"http://[::1:2070", "closing bracket"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"id\":\"n4\",\"url\":\"%s\"}", cases[i].url);
        ck_assert_int_eq(admin("POST", "/v1/cluster/members", body), 400);
        ck_assert_msg(strstr(error_message(), cases[i].want) != NULL, "%s: '%s' lacks '%s'",
                      cases[i].url, error_message(), cases[i].want);
    }
    char *longurl = malloc(600);
    ck_assert_ptr_nonnull(longurl);
    memset(longurl, 'a', 599);
    longurl[599] = '\0';
    memcpy(longurl, "http://", 7);
    char *body = NULL;
    ck_assert_int_ge(asprintf(&body, "{\"id\":\"n4\",\"url\":\"%s\"}", longurl), 0);
    ck_assert_int_eq(admin("POST", "/v1/cluster/members", body), 400);
    ck_assert_ptr_nonnull(strstr(error_message(), "511"));
    free(body);
    free(longurl);
    ck_assert_int_eq(admin_calls, 0);
}
END_TEST

START_TEST(test_cluster_remove_and_transfer_refuse_bad_ids)
{
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n%204", NULL), 400);
    ck_assert_int_eq(admin("POST", "/v1/cluster/transfer-leadership", "{\"to\":\"a/b\"}"), 400);
    ck_assert_int_eq(admin_calls, 0);
}
END_TEST

/* ---- changes: the call and the answers ---- */

START_TEST(test_cluster_add_asks_the_node_to_add_a_learner)
{
    ck_assert_int_eq(admin("POST", "/v1/cluster/members", "{\"id\":\"n4\",\"url\":\"http://10.0.0.4:2070/\"}"), 200);
    ck_assert_int_eq(admin_calls, 1);
    ck_assert_int_eq(admin_op, NODE_ADMIN_ADD);
    ck_assert_str_eq(admin_id, "n4");
    ck_assert_str_eq(admin_url, "http://10.0.0.4:2070");     /* trailing '/' dropped */
    ck_assert(json_is_true(json_object_get(J, "ok")));
    ck_assert_str_eq(str_at(J, "id"), "n4");
    ck_assert_str_eq(str_at(J, "url"), "http://10.0.0.4:2070");
}
END_TEST

START_TEST(test_cluster_remove_asks_the_node_to_remove_the_member)
{
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n3", NULL), 200);
    ck_assert_int_eq(admin_op, NODE_ADMIN_REMOVE);
    ck_assert_str_eq(admin_id, "n3");
    ck_assert_int_eq(admin_url_null, 1);
    ck_assert(json_is_true(json_object_get(J, "ok")));
    ck_assert_str_eq(str_at(J, "id"), "n3");
}
END_TEST

START_TEST(test_cluster_transfer_names_the_target_or_none)
{
    ck_assert_int_eq(admin("POST", "/v1/cluster/transfer-leadership", "{\"to\":\"n2\"}"), 200);
    ck_assert_int_eq(admin_op, NODE_ADMIN_TRANSFER);
    ck_assert_str_eq(admin_id, "n2");
    ck_assert(json_is_true(json_object_get(J, "ok")));
    ck_assert_str_eq(str_at(J, "leader"), "n1");   /* the fake node's view */
    ck_assert_int_eq(admin("POST", "/v1/cluster/transfer-leadership", NULL), 200);
    ck_assert_str_eq(admin_id, "");                /* the node picks the target */
    ck_assert_int_eq(admin("POST", "/v1/cluster/transfer-leadership", "{}"), 200);
    ck_assert_str_eq(admin_id, "");
}
END_TEST

START_TEST(test_cluster_change_refused_by_the_leader_is_400_with_the_reason)
{
    admin_answer = KAHUNA_EBADREQ;
    ck_assert_int_eq(admin("POST", "/v1/cluster/members", "{\"id\":\"n2\",\"url\":\"http://h:1\"}"), 400);
    ck_assert_str_eq(str_at(json_object_get(J, "error"), "code"), "bad_request");
    ck_assert_ptr_nonnull(strstr(error_message(), "n2 is already a member"));
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n9", NULL), 400);
    ck_assert_ptr_nonnull(strstr(error_message(), "n9 is not a member"));
    ck_assert_int_eq(admin("POST", "/v1/cluster/transfer-leadership", "{\"to\":\"n3\"}"), 400);
    ck_assert_ptr_nonnull(strstr(error_message(), "learner"));
    fake_nmembers = 1;   /* n1 alone */
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n1", NULL), 400);
    ck_assert_ptr_nonnull(strstr(error_message(), "last voter"));
}
END_TEST

START_TEST(test_cluster_change_without_leader_is_503_with_retry_after)
{
    admin_answer = KAHUNA_EUNAVAILABLE;
    ck_assert_int_eq(admin("POST", "/v1/cluster/members", "{\"id\":\"n4\",\"url\":\"http://h:1\"}"), 503);
    ck_assert_int_gt(rp.retry_after, 0);
    ck_assert_str_eq(str_at(json_object_get(J, "error"), "code"), "unavailable");
    admin_answer = KAHUNA_ESHUTDOWN;
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n3", NULL), 503);
}
END_TEST

START_TEST(test_cluster_change_of_unknown_fate_is_504)
{
    admin_answer = KAHUNA_ETIMEOUT;
    ck_assert_int_eq(admin("DELETE", "/v1/cluster/members/n3", NULL), 504);
    ck_assert_str_eq(str_at(json_object_get(J, "error"), "code"), "timeout");
    ck_assert_ptr_nonnull(strstr(error_message(), "GET /v1/cluster"));
}
END_TEST

/* ---- /metrics ---- */

static char *render(void)
{
    kbuf out = KBUF_INIT;
    node_member *mm = NULL;
    size_t nm = 0;
    ck_assert_int_eq(node_members(NULL, &mm, &nm), 0);
    ck_assert_int_eq(metrics_render(M, &fake_status, mm, nm, &out), 0);
    free(mm);
    ck_assert_int_eq(kbuf_append_byte(&out, 0), 0);
    return (char *)kbuf_detach(&out, NULL);
}

static void expect_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
        p += n;
    }
    ck_abort_msg("metrics lack the line '%s'", line);
}

START_TEST(test_metrics_show_the_raft_figures)
{
    fake_status.leader_changes = 2;
    fake_status.snapshots_sent = 5;
    fake_status.snapshots_installed = 1;
    char *t = render();
    expect_line(t, "kahuna_raft_term 3");
    expect_line(t, "kahuna_raft_commit_index 40");
    expect_line(t, "kahuna_raft_applied_index 39");
    expect_line(t, "kahuna_raft_leader_changes_total 2");
    expect_line(t, "kahuna_raft_snapshots_sent_total 5");
    expect_line(t, "kahuna_raft_snapshots_installed_total 1");
    expect_line(t, "kahuna_raft_has_leader 1");
    expect_line(t, "kahuna_raft_role{role=\"leader\"} 1");
    expect_line(t, "kahuna_raft_role{role=\"follower\"} 0");
    expect_line(t, "kahuna_raft_members{role=\"voter\"} 2");
    expect_line(t, "kahuna_raft_members{role=\"learner\"} 1");
    expect_line(t, "kahuna_term 3");   /* the older names stay */
    free(t);
}
END_TEST

START_TEST(test_metrics_show_each_peers_match_index_and_lag_on_the_leader)
{
    char *t = render();
    expect_line(t, "kahuna_raft_peer_match_index{peer=\"n2\"} 40");
    expect_line(t, "kahuna_raft_peer_match_index{peer=\"n3\"} 7");
    expect_line(t, "kahuna_raft_peer_lag_entries{peer=\"n2\"} 2");
    expect_line(t, "kahuna_raft_peer_lag_entries{peer=\"n3\"} 35");
    ck_assert_ptr_null(strstr(t, "{peer=\"n1\"}"));   /* not itself */
    free(t);
}
END_TEST

START_TEST(test_metrics_show_no_peer_figures_on_a_follower)
{
    fake_status.role = RAFT_FOLLOWER;
    fake_status.is_leader = 0;
    char *t = render();
    ck_assert_ptr_null(strstr(t, "kahuna_raft_peer_"));
    expect_line(t, "kahuna_raft_role{role=\"follower\"} 1");
    free(t);
}
END_TEST

static Suite *cluster_api_suite(void)
{
    Suite *s = suite_create("cluster_api");
    TCase *tc = tcase_create("view");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cluster_get_shows_term_indexes_role_and_leader);
    tcase_add_test(tc, test_cluster_get_leader_is_null_when_unknown);
    tcase_add_test(tc, test_cluster_get_lists_members_as_voters_and_learners);
    suite_add_tcase(s, tc);

    tc = tcase_create("changes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cluster_add_refuses_a_bad_id_without_calling_the_node);
    tcase_add_test(tc, test_cluster_add_refuses_a_bad_url_without_calling_the_node);
    tcase_add_test(tc, test_cluster_remove_and_transfer_refuse_bad_ids);
    tcase_add_test(tc, test_cluster_add_asks_the_node_to_add_a_learner);
    tcase_add_test(tc, test_cluster_remove_asks_the_node_to_remove_the_member);
    tcase_add_test(tc, test_cluster_transfer_names_the_target_or_none);
    tcase_add_test(tc, test_cluster_change_refused_by_the_leader_is_400_with_the_reason);
    tcase_add_test(tc, test_cluster_change_without_leader_is_503_with_retry_after);
    tcase_add_test(tc, test_cluster_change_of_unknown_fate_is_504);
    suite_add_tcase(s, tc);

    tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_metrics_show_the_raft_figures);
    tcase_add_test(tc, test_metrics_show_each_peers_match_index_and_lag_on_the_leader);
    tcase_add_test(tc, test_metrics_show_no_peer_figures_on_a_follower);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cluster_api_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
