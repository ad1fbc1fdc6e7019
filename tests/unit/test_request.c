/* test_request.c: unit tests of the REST request decoding (daemon/api/
 * request.c) and the JSON writer of responses (daemon/api/jsonw.c).
 *
 * One test per rule of SPEC §3 and docs/api.md, named after the rule. The
 * decoder is pure, so each test feeds it a method, a raw URL (split at '?'
 * the way libmicrohttpd does), a content type and a body. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"
#include "api/request.h"
#include "errors.h"

static req R;
static req_arg args[64];

static void setup(void)
{
    req_init(&R);
}

static void teardown(void)
{
    req_free(&R);
}

/* Decodes METHOD URL with an optional content type and body (len bytes). */
static int decode_n(const char *method, const char *url, const char *ct, const void *body, size_t len)
{
    const char *q = strchr(url, '?');
    req_input in;
    memset(&in, 0, sizeof in);
    in.method = kbytes_str(method);
    in.path = kbytes_make(url, q ? (size_t)(q - url) : strlen(url));
    in.args = args;
    in.nargs = q ? req_split_query(kbytes_str(q + 1), args, 64) : 0;
    in.content_type = kbytes_str(ct);
    in.body = kbytes_make(body, len);
    return req_decode(&in, &R);
}

static int decode(const char *method, const char *url, const char *ct, const char *body)
{
    return decode_n(method, url, ct, body, body ? strlen(body) : 0);
}

static int json(const char *method, const char *url, const char *body)
{
    return decode(method, url, "application/json", body);
}

static int name_is(const char *s)
{
    return R.name.len == strlen(s) && memcmp(R.name.data, s, R.name.len) == 0;
}

static int bytes_is(kbytes b, const void *s, size_t n)
{
    return b.n == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

static int message_has(const char *s)
{
    return strstr(R.message, s) != NULL;
}

/* A long string of n copies of c, malloc'd. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ------------------------------------------------------------ routing */

START_TEST(test_key_is_the_rest_of_the_path_slashes_allowed)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/app/db/url", "{\"value\":\"x\"}"), 0);
    ck_assert_int_eq(R.route, REQ_ROUTE_KV);
    ck_assert_int_eq(R.op, REQ_OP_KV_PUT);
    ck_assert(name_is("app/db/url"));
    ck_assert(bytes_is(R.cmd.key, "app/db/url", 10));
}
END_TEST

START_TEST(test_key_is_percent_decoded_including_slash_and_nul)
{
    ck_assert_int_eq(decode("GET", "/v1/kv/a%2Fb%20c%00d+e", NULL, NULL), 0);
    ck_assert_uint_eq(R.name.len, 9);
    ck_assert_mem_eq(R.name.data, "a/b c\0d+e", 9);   /* '+' in a path is a plus */
}
END_TEST

START_TEST(test_invalid_percent_escape_in_key_is_bad_request)
{
    ck_assert_int_eq(decode("GET", "/v1/kv/a%zz", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 400);
    ck_assert_int_eq(R.op, REQ_OP_NONE);
    ck_assert(message_has("percent"));
    ck_assert_int_eq(decode("GET", "/v1/kv/a%4", NULL, NULL), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_key_of_4096_bytes_is_accepted_and_4097_is_too_large)
{
    char url[5000];
    char *k = repeat('k', 4096);
    snprintf(url, sizeof url, "/v1/kv/%s", k);
    ck_assert_int_eq(decode("GET", url, NULL, NULL), 0);
    ck_assert_uint_eq(R.name.len, 4096);
    snprintf(url, sizeof url, "/v1/kv/%sk", k);
    ck_assert_int_eq(decode("GET", url, NULL, NULL), KAHUNA_ETOOLARGE);
    ck_assert_int_eq(R.http_status, 413);
    free(k);
}
END_TEST

START_TEST(test_collection_with_or_without_trailing_slash_is_the_listing)
{
    ck_assert_int_eq(decode("GET", "/v1/kv", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_LIST);
    ck_assert_int_eq(decode("GET", "/v1/kv/", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_LIST);
    ck_assert_int_eq(decode("GET", "/v1/locks/", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_LIST);
    ck_assert_int_eq(decode("GET", "/v1/sequences", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_SEQ_LIST);
}
END_TEST

START_TEST(test_unknown_route_is_not_found)
{
    const char *paths[] = {"/", "/v1", "/v1/kvx", "/v2/kv/a", "/health/", "/v1/cluster/other", "*", ""};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        ck_assert_int_eq(decode("GET", paths[i], NULL, NULL), KAHUNA_ENOTFOUND);
        ck_assert_int_eq(R.http_status, 404);
        ck_assert_int_eq(R.route, REQ_ROUTE_UNKNOWN);
    }
}
END_TEST

START_TEST(test_known_route_with_wrong_method_is_405_with_allow)
{
    ck_assert_int_eq(decode("POST", "/v1/kv/a", NULL, "{}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
    ck_assert_str_eq(R.allow, "GET, HEAD, PUT, DELETE, PATCH");
    ck_assert_int_eq(decode("DELETE", "/v1/kv", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
    ck_assert_str_eq(R.allow, "GET, HEAD");
    ck_assert_int_eq(decode("BREW", "/health", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
    ck_assert_int_eq(R.method, REQ_OTHER);
    ck_assert_int_eq(decode("GET", "/v1/cluster/members", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_str_eq(R.allow, "POST");
    ck_assert_int_eq(decode("PUT", "/v1/locks/a", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
}
END_TEST

START_TEST(test_post_action_is_the_last_path_segment)
{
    ck_assert_int_eq(json("POST", "/v1/locks/jobs/nightly/acquire", "{\"owner\":\"w1\",\"ttl_ms\":1000}"), 0);
    ck_assert_int_eq(R.route, REQ_ROUTE_LOCK_ACQUIRE);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_ACQUIRE);
    ck_assert(name_is("jobs/nightly"));
    ck_assert_int_eq(json("POST", "/v1/locks/a/extend", "{\"owner\":\"w1\",\"ttl_ms\":1000}"), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_EXTEND);
    ck_assert_int_eq(json("POST", "/v1/locks/a/release", "{\"owner\":\"w1\"}"), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_RELEASE);
    ck_assert_int_eq(R.cmd.type, CMD_LOCK_RELEASE);
    ck_assert_int_eq(json("POST", "/v1/sequences/orders/eu/next", NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_SEQ_NEXT);
    ck_assert(name_is("orders/eu"));
}
END_TEST

START_TEST(test_get_of_a_name_ending_like_an_action_reads_that_name)
{
    ck_assert_int_eq(decode("GET", "/v1/locks/jobs/acquire", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_GET);
    ck_assert(name_is("jobs/acquire"));
    ck_assert_int_eq(decode("GET", "/v1/sequences/a/next", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_SEQ_GET);
    ck_assert(name_is("a/next"));
}
END_TEST

START_TEST(test_post_without_action_is_405)
{
    ck_assert_int_eq(json("POST", "/v1/locks/jobs", "{}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
    ck_assert_int_eq(json("POST", "/v1/sequences/s", "{}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 405);
    ck_assert_str_eq(R.allow, "GET, HEAD, PUT, DELETE");
}
END_TEST

START_TEST(test_action_without_name_is_bad_request)
{
    ck_assert_int_eq(json("POST", "/v1/locks/acquire", "{\"owner\":\"w\",\"ttl_ms\":5}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 400);
    ck_assert(message_has("empty"));
    ck_assert_int_eq(json("POST", "/v1/sequences//next", NULL), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_head_is_served_like_get)
{
    ck_assert_int_eq(decode("HEAD", "/v1/kv/a", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_GET);
    ck_assert_int_eq(R.method, REQ_HEAD);
}
END_TEST

START_TEST(test_operations_routes)
{
    ck_assert_int_eq(decode("GET", "/health", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_HEALTH);
    ck_assert_int_eq(decode("GET", "/ready", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_READY);
    ck_assert_int_eq(decode("GET", "/metrics", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_METRICS);
    ck_assert_int_eq(decode("GET", "/v1/cluster", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_CLUSTER_GET);
    ck_assert_int_eq(json("POST", "/v1/cluster/members", "{\"id\":\"n2\",\"url\":\"http://h:1\"}"), 0);
    ck_assert_int_eq(R.op, REQ_OP_CLUSTER_ADD);
    ck_assert(name_is("n2"));
    ck_assert_int_eq(decode("DELETE", "/v1/cluster/members/n2", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_CLUSTER_REMOVE);
    ck_assert(name_is("n2"));
    ck_assert_int_eq(decode("POST", "/v1/cluster/transfer-leadership", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_CLUSTER_TRANSFER);
    ck_assert_int_eq(json("POST", "/v1/cluster/transfer-leadership", "{\"to\":\"n3\"}"), 0);
    ck_assert(name_is("n3"));
}
END_TEST

START_TEST(test_member_add_needs_id_and_url)
{
    ck_assert_int_eq(json("POST", "/v1/cluster/members", "{\"id\":\"n2\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("url"));
    ck_assert_int_eq(json("POST", "/v1/cluster/members", "{\"url\":\"http://x\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("id"));
}
END_TEST

START_TEST(test_route_of_gives_metrics_label_without_decoding)
{
    ck_assert_int_eq(req_route_of(kbytes_str("PUT"), kbytes_str("/v1/kv/x%zz")), REQ_ROUTE_KV);
    ck_assert_int_eq(req_route_of(kbytes_str("POST"), kbytes_str("/v1/locks/a/acquire")), REQ_ROUTE_LOCK_ACQUIRE);
    ck_assert_str_eq(req_route_name(REQ_ROUTE_KV), "/v1/kv/{key}");
    ck_assert_str_eq(req_route_name(REQ_ROUTE_UNKNOWN), "other");
    ck_assert_str_eq(req_method_name(REQ_PATCH), "PATCH");
}
END_TEST

/* ---------------------------------------------------------------- kv put */

START_TEST(test_put_json_value_becomes_kv_put_command)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"hello\",\"ttl_ms\":5000}"), 0);
    ck_assert_int_eq(R.cmd.type, CMD_KV_PUT);
    ck_assert(bytes_is(R.cmd.value, "hello", 5));
    ck_assert_int_eq(R.cmd.ttl_ms, 5000);
    ck_assert_uint_eq(R.cmd.flags, 0);
}
END_TEST

START_TEST(test_put_json_value_may_hold_nul_and_unicode)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"a\\u0000b\\u00e9\"}"), 0);
    ck_assert(bytes_is(R.cmd.value, "a\0b\xc3\xa9", 5));
}
END_TEST

START_TEST(test_put_value_base64_is_decoded)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value_base64\":\"AP8=\"}"), 0);
    ck_assert(bytes_is(R.cmd.value, "\x00\xff", 2));
}
END_TEST

START_TEST(test_put_invalid_base64_is_bad_request)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value_base64\":\"A\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("value_base64"));
}
END_TEST

START_TEST(test_put_with_value_and_value_base64_is_bad_request)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"value_base64\":\"eA==\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("not both"));
}
END_TEST

START_TEST(test_put_without_value_is_bad_request_naming_the_field)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"ttl_ms\":5}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(R.http_status, 400);
    ck_assert(message_has("value"));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", ""), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_put_empty_string_value_is_allowed)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"\"}"), 0);
    ck_assert_uint_eq(R.cmd.value.n, 0);
}
END_TEST

START_TEST(test_put_conditions_from_json)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_not_exists\":true}"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_NOT_EXISTS);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_exists\":true}"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_EXISTS);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_revision\":7}"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_REVISION);
    ck_assert_int_eq(R.cmd.if_revision, 7);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_value\":\"old\"}"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_VALUE);
    ck_assert(bytes_is(R.cmd.aux, "old", 3));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_not_exists\":false}"), 0);
    ck_assert_uint_eq(R.cmd.flags, 0);
}
END_TEST

START_TEST(test_put_if_not_exists_and_if_exists_together_is_bad_request)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_not_exists\":true,\"if_exists\":true}"),
                     KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_put_non_json_content_type_stores_body_as_value)
{
    ck_assert_int_eq(decode_n("PUT", "/v1/kv/bin", "application/octet-stream", "\x00\x01{\xff", 4), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_PUT);
    ck_assert(bytes_is(R.cmd.value, "\x00\x01{\xff", 4));
    /* no content type at all is not JSON either; nor is curl's -d default */
    ck_assert_int_eq(decode("PUT", "/v1/kv/a", NULL, "{\"value\":\"x\"}"), 0);
    ck_assert(bytes_is(R.cmd.value, "{\"value\":\"x\"}", 13));
    ck_assert_int_eq(decode("PUT", "/v1/kv/a", "application/x-www-form-urlencoded", "abc"), 0);
    ck_assert(bytes_is(R.cmd.value, "abc", 3));
}
END_TEST

START_TEST(test_json_content_type_with_parameters_is_json)
{
    ck_assert_int_eq(decode("PUT", "/v1/kv/a", " Application/JSON ; charset=utf-8", "{\"value\":\"x\"}"), 0);
    ck_assert(bytes_is(R.cmd.value, "x", 1));
    ck_assert_int_eq(decode("PUT", "/v1/kv/a", "application/merge-patch+json", "{\"value\":\"y\"}"), 0);
    ck_assert(bytes_is(R.cmd.value, "y", 1));
}
END_TEST

START_TEST(test_raw_put_takes_conditions_and_ttl_from_query_string)
{
    ck_assert_int_eq(decode("PUT", "/v1/kv/a?ttl_ms=1500&if_revision=3&if_value=o%26ld+v", "text/plain", "new"), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 1500);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_REVISION | CMD_F_IF_VALUE);
    ck_assert_int_eq(R.cmd.if_revision, 3);
    ck_assert(bytes_is(R.cmd.aux, "o&ld v", 6));
    ck_assert_int_eq(decode("PUT", "/v1/kv/a?if_not_exists", "text/plain", "new"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_NOT_EXISTS);
    ck_assert_int_eq(decode("PUT", "/v1/kv/a?if_exists=true", "text/plain", "new"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_EXISTS);
    ck_assert_int_eq(decode("PUT", "/v1/kv/a?if_exists=maybe", "text/plain", "new"), KAHUNA_EBADREQ);
    ck_assert(message_has("if_exists"));
    ck_assert_int_eq(decode("PUT", "/v1/kv/a?ttl_ms=soon", "text/plain", "new"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
}
END_TEST

START_TEST(test_json_body_overrides_query_conditions_and_query_ones_still_apply)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a?ttl_ms=100&if_not_exists", "{\"value\":\"x\",\"ttl_ms\":200}"), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 200);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_NOT_EXISTS);
}
END_TEST

START_TEST(test_ttl_zero_means_none_and_negative_or_huge_is_bad_request)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":0}"), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 0);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":-1}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":31622400001}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":31622400000}"), 0);
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":99999999999999999999999}"),
                     KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_value_over_1_mib_is_too_large)
{
    size_t n = 1024 * 1024;
    char *v = repeat('v', n + 1);
    ck_assert_int_eq(decode_n("PUT", "/v1/kv/a", "text/plain", v, n), 0);
    ck_assert_int_eq(decode_n("PUT", "/v1/kv/a", "text/plain", v, n + 1), KAHUNA_ETOOLARGE);
    ck_assert_int_eq(R.http_status, 413);
    free(v);
}
END_TEST

START_TEST(test_wrong_field_type_is_bad_request_naming_the_field)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":5}"), KAHUNA_EBADREQ);
    ck_assert(message_has("value"));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":\"5s\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":1.5}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"if_exists\":1}"), KAHUNA_EBADREQ);
    ck_assert(message_has("if_exists"));
}
END_TEST

START_TEST(test_null_field_is_treated_as_absent)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"ttl_ms\":null}"), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 0);
}
END_TEST

START_TEST(test_unknown_json_fields_are_ignored)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a", "{\"value\":\"x\",\"colour\":[1,{\"a\":2}]}"), 0);
}
END_TEST

START_TEST(test_invalid_json_is_bad_request)
{
    const char *bad[] = {"{", "{\"value\":}", "[1]", "\"str\"", "42", "{\"value\":\"x\",\"value\":\"y\"}",
                         "{\"value\":\"\xff\"}", "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(json("PUT", "/v1/kv/a", bad[i]), KAHUNA_EBADREQ);
        ck_assert_int_eq(R.http_status, 400);
        ck_assert_int_eq(R.op, REQ_OP_NONE);
    }
}
END_TEST

/* --------------------------------------------------- kv other writes */

START_TEST(test_delete_takes_if_revision_from_query_or_body)
{
    ck_assert_int_eq(decode("DELETE", "/v1/kv/a", NULL, NULL), 0);
    ck_assert_int_eq(R.cmd.type, CMD_KV_DELETE);
    ck_assert_uint_eq(R.cmd.flags, 0);
    ck_assert_int_eq(decode("DELETE", "/v1/kv/a?if_revision=9", NULL, NULL), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_IF_REVISION);
    ck_assert_int_eq(R.cmd.if_revision, 9);
    ck_assert_int_eq(json("DELETE", "/v1/kv/a", "{\"if_revision\":4}"), 0);
    ck_assert_int_eq(R.cmd.if_revision, 4);
    ck_assert_int_eq(decode("DELETE", "/v1/kv/a?if_revision=-2", NULL, NULL), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_patch_sets_ttl_and_needs_ttl_ms)
{
    ck_assert_int_eq(json("PATCH", "/v1/kv/a", "{\"ttl_ms\":2500}"), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_SET_TTL);
    ck_assert_int_eq(R.cmd.type, CMD_KV_SET_TTL);
    ck_assert_int_eq(R.cmd.ttl_ms, 2500);
    ck_assert_int_eq(json("PATCH", "/v1/kv/a", "{\"ttl_ms\":0}"), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 0);
    ck_assert_int_eq(decode("PATCH", "/v1/kv/a?ttl_ms=10", NULL, NULL), 0);
    ck_assert_int_eq(R.cmd.ttl_ms, 10);
    ck_assert_int_eq(json("PATCH", "/v1/kv/a", "{}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("PATCH", "/v1/kv/a", "{\"ttl_ms\":-5}"), KAHUNA_EBADREQ);
}
END_TEST

/* ---------------------------------------------------------- kv reads */

START_TEST(test_get_reads_latest_by_default_linearizable)
{
    ck_assert_int_eq(decode("GET", "/v1/kv/a", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_GET);
    ck_assert_int_eq(R.revision, 0);
    ck_assert_uint_eq(R.stale, 0);
    ck_assert_uint_eq(R.raw, 0);
    ck_assert_uint_eq(R.base64, 0);
}
END_TEST

START_TEST(test_get_options_revision_history_encoding_raw_stale)
{
    ck_assert_int_eq(decode("GET", "/v1/kv/a?revision=12&encoding=base64&consistency=stale", NULL, NULL), 0);
    ck_assert_int_eq(R.revision, 12);
    ck_assert_uint_eq(R.base64, 1);
    ck_assert_uint_eq(R.stale, 1);
    ck_assert_int_eq(decode("GET", "/v1/kv/a?history", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_HISTORY);
    ck_assert_int_eq(decode("GET", "/v1/kv/a?raw", NULL, NULL), 0);
    ck_assert_uint_eq(R.raw, 1);
    ck_assert_int_eq(decode("GET", "/v1/kv/a?raw=false", NULL, NULL), 0);
    ck_assert_uint_eq(R.raw, 0);
}
END_TEST

START_TEST(test_get_bad_options_are_bad_request)
{
    const char *bad[] = {"/v1/kv/a?revision=0", "/v1/kv/a?revision=-1", "/v1/kv/a?revision=x",
                         "/v1/kv/a?revision=99999999999999999999", "/v1/kv/a?history&revision=3",
                         "/v1/kv/a?encoding=hex", "/v1/kv/a?consistency=eventual", "/v1/kv/a?history&raw",
                         "/v1/kv/a?raw=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(decode("GET", bad[i], NULL, NULL) == KAHUNA_EBADREQ, "%s", bad[i]);
        ck_assert_int_eq(R.http_status, 400);
    }
}
END_TEST

START_TEST(test_unknown_query_parameters_are_ignored)
{
    ck_assert_int_eq(decode("GET", "/v1/kv/a?foo=bar&x", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_GET);
}
END_TEST

START_TEST(test_list_takes_prefix_limit_after_keys_only)
{
    ck_assert_int_eq(decode("GET", "/v1/kv?prefix=app%2Fdb+x&limit=50&after=app%2Fa&keys_only", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_KV_LIST);
    ck_assert_str_eq(kbuf_str(&R.prefix), "app/db x");
    ck_assert_str_eq(kbuf_str(&R.after), "app/a");
    ck_assert_uint_eq(R.limit, 50);
    ck_assert_uint_eq(R.keys_only, 1);
}
END_TEST

START_TEST(test_list_limit_defaults_and_must_be_in_range)
{
    ck_assert_int_eq(decode("GET", "/v1/kv", NULL, NULL), 0);
    ck_assert_uint_eq(R.limit, REQ_LIST_DEFAULT);
    ck_assert_int_eq(decode("GET", "/v1/kv?limit=10000", NULL, NULL), 0);
    ck_assert_int_eq(decode("GET", "/v1/kv?limit=0", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert(message_has("limit"));
    ck_assert_int_eq(decode("GET", "/v1/kv?limit=10001", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode("GET", "/v1/locks?limit=-1", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode("GET", "/v1/sequences?limit=abc", NULL, NULL), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_invalid_percent_escape_in_query_is_bad_request)
{
    ck_assert_int_eq(decode("GET", "/v1/kv?prefix=%G1", NULL, NULL), KAHUNA_EBADREQ);
    ck_assert(message_has("prefix"));
}
END_TEST

/* -------------------------------------------------------------- locks */

START_TEST(test_acquire_takes_owner_ttl_and_wait)
{
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"w1\",\"ttl_ms\":30000,\"wait_ms\":500}"), 0);
    ck_assert_int_eq(R.cmd.type, CMD_LOCK_ACQUIRE);
    ck_assert(bytes_is(R.cmd.owner, "w1", 2));
    ck_assert_int_eq(R.cmd.ttl_ms, 30000);
    ck_assert_int_eq(R.wait_ms, 500);
}
END_TEST

START_TEST(test_lock_body_may_come_without_json_content_type)
{
    ck_assert_int_eq(decode("POST", "/v1/locks/l/acquire", "application/x-www-form-urlencoded",
                            "{\"owner\":\"w1\",\"ttl_ms\":30000}"), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_ACQUIRE);
}
END_TEST

START_TEST(test_acquire_needs_owner_and_positive_ttl)
{
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"ttl_ms\":1000}"), KAHUNA_EBADREQ);
    ck_assert(message_has("owner"));
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"w\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"w\",\"ttl_ms\":0}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"w\",\"ttl_ms\":-10}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"w\",\"ttl_ms\":10,\"wait_ms\":-1}"),
                     KAHUNA_EBADREQ);
    ck_assert(message_has("wait_ms"));
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", NULL), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":7,\"ttl_ms\":10}"), KAHUNA_EBADREQ);
    ck_assert(message_has("owner"));
}
END_TEST

START_TEST(test_owner_is_1_to_256_bytes)
{
    char body[600];
    char *o = repeat('o', 257);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", "{\"owner\":\"\",\"ttl_ms\":10}"), KAHUNA_EBADREQ);
    snprintf(body, sizeof body, "{\"owner\":\"%s\",\"ttl_ms\":10}", o);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", body), KAHUNA_ETOOLARGE);
    ck_assert_int_eq(R.http_status, 413);
    o[256] = '\0';
    snprintf(body, sizeof body, "{\"owner\":\"%s\",\"ttl_ms\":10}", o);
    ck_assert_int_eq(json("POST", "/v1/locks/l/acquire", body), 0);
    free(o);
}
END_TEST

START_TEST(test_extend_needs_owner_and_ttl_release_needs_owner)
{
    ck_assert_int_eq(json("POST", "/v1/locks/l/extend", "{\"owner\":\"w\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("ttl_ms"));
    ck_assert_int_eq(json("POST", "/v1/locks/l/release", "{}"), KAHUNA_EBADREQ);
    ck_assert(message_has("owner"));
    ck_assert_int_eq(json("POST", "/v1/locks/l/release", "{\"owner\":\"w\",\"ttl_ms\":\"ignored\"}"), 0);
}
END_TEST

START_TEST(test_lock_reads)
{
    ck_assert_int_eq(decode("GET", "/v1/locks/a/b", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_GET);
    ck_assert(name_is("a/b"));
    ck_assert_int_eq(decode("GET", "/v1/locks?prefix=a&limit=3&consistency=stale", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_LOCK_LIST);
    ck_assert_uint_eq(R.limit, 3);
    ck_assert_uint_eq(R.stale, 1);
}
END_TEST

/* ---------------------------------------------------------- sequences */

START_TEST(test_next_body_is_optional_and_count_defaults_to_1)
{
    ck_assert_int_eq(decode("POST", "/v1/sequences/s/next", NULL, NULL), 0);
    ck_assert_int_eq(R.cmd.type, CMD_SEQ_NEXT);
    ck_assert_int_eq(R.cmd.num, 1);
    ck_assert_uint_eq(R.cmd.aux.n, 0);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":10,\"idempotency_key\":\"k1\"}"), 0);
    ck_assert_int_eq(R.cmd.num, 10);
    ck_assert(bytes_is(R.cmd.aux, "k1", 2));
}
END_TEST

START_TEST(test_next_count_must_be_1_to_max)
{
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":0}"), KAHUNA_EBADREQ);
    ck_assert(message_has("count"));
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":-3}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":1000001}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":1000000}"), 0);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"count\":\"2\"}"), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_idempotency_key_is_1_to_256_bytes)
{
    char body[600];
    char *k = repeat('i', 257);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", "{\"idempotency_key\":\"\"}"), KAHUNA_EBADREQ);
    snprintf(body, sizeof body, "{\"idempotency_key\":\"%s\"}", k);
    ck_assert_int_eq(json("POST", "/v1/sequences/s/next", body), KAHUNA_ETOOLARGE);
    free(k);
}
END_TEST

START_TEST(test_sequence_set_takes_value_and_force)
{
    ck_assert_int_eq(json("PUT", "/v1/sequences/s", "{\"value\":100}"), 0);
    ck_assert_int_eq(R.cmd.type, CMD_SEQ_SET);
    ck_assert_int_eq(R.cmd.num, 100);
    ck_assert_uint_eq(R.cmd.flags, 0);
    ck_assert_int_eq(json("PUT", "/v1/sequences/s", "{\"value\":5,\"force\":true}"), 0);
    ck_assert_uint_eq(R.cmd.flags, CMD_F_FORCE);
    ck_assert_int_eq(json("PUT", "/v1/sequences/s", "{}"), KAHUNA_EBADREQ);
    ck_assert(message_has("value"));
    ck_assert_int_eq(json("PUT", "/v1/sequences/s", "{\"value\":-1}"), KAHUNA_EBADREQ);
    ck_assert_int_eq(json("PUT", "/v1/sequences/s", "{\"value\":1,\"force\":\"yes\"}"), KAHUNA_EBADREQ);
    ck_assert(message_has("force"));
}
END_TEST

START_TEST(test_sequence_delete_and_reads)
{
    ck_assert_int_eq(decode("DELETE", "/v1/sequences/s", NULL, NULL), 0);
    ck_assert_int_eq(R.cmd.type, CMD_SEQ_DELETE);
    ck_assert_int_eq(decode("GET", "/v1/sequences/s", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_SEQ_GET);
    ck_assert_int_eq(decode("GET", "/v1/sequences?prefix=s", NULL, NULL), 0);
    ck_assert_int_eq(R.op, REQ_OP_SEQ_LIST);
}
END_TEST

/* --------------------------------------------------------- reuse, misc */

START_TEST(test_a_request_reuses_buffers_and_forgets_the_previous_one)
{
    ck_assert_int_eq(json("PUT", "/v1/kv/a?if_value=x", "{\"value\":\"1\",\"if_exists\":true}"), 0);
    ck_assert_int_eq(decode("PUT", "/v1/kv/b", "text/plain", "2"), 0);
    ck_assert(name_is("b"));
    ck_assert_uint_eq(R.cmd.flags, 0);
    ck_assert_ptr_null(R.json);
    ck_assert_int_eq(decode("GET", "/v1/kv/c?raw", NULL, NULL), 0);
    ck_assert_int_eq(decode("GET", "/v1/kv/c", NULL, NULL), 0);
    ck_assert_uint_eq(R.raw, 0);
}
END_TEST

START_TEST(test_split_query_like_libmicrohttpd)
{
    req_arg a[8];
    size_t n = req_split_query(kbytes_str("a=1&&b&c=&d=x=y"), a, 8);
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(a[0].name_len, 1);
    ck_assert_uint_eq(a[0].value_len, 1);
    ck_assert_ptr_null(a[1].value);
    ck_assert_ptr_nonnull(a[2].value);
    ck_assert_uint_eq(a[2].value_len, 0);
    ck_assert_uint_eq(a[3].value_len, 3);
    ck_assert_uint_eq(req_split_query(kbytes_str("a&b&c"), a, 2), 2);
}
END_TEST

START_TEST(test_write_ops_are_writes_and_reads_are_reads)
{
    ck_assert(req_op_is_write(REQ_OP_KV_PUT));
    ck_assert(req_op_is_write(REQ_OP_SEQ_NEXT));
    ck_assert(!req_op_is_write(REQ_OP_KV_GET));
    ck_assert(req_op_is_data_read(REQ_OP_LOCK_LIST));
    ck_assert(!req_op_is_data_read(REQ_OP_HEALTH));
}
END_TEST

/* ------------------------------------------------------------- jsonw */

START_TEST(test_jsonw_escapes_quotes_controls_and_keeps_utf8)
{
    kbuf b = KBUF_INIT;
    jw w;
    jw_init(&w, &b);
    jw_obj_open(&w, NULL);
    jw_bytes(&w, "value", kbytes_make("a\"b\\c\n\x01\x7f\xc3\xa9", 10), 0);
    jw_int(&w, "n", -5);
    jw_arr_open(&w, "items");
    jw_int(&w, NULL, 1);
    jw_int(&w, NULL, 2);
    jw_arr_close(&w);
    jw_bool(&w, "more", 0);
    jw_null(&w, "leader");
    jw_obj_close(&w);
    ck_assert_int_eq(jw_error(&w), 0);
    ck_assert_str_eq(kbuf_str(&b),
                     "{\"value\":\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\",\"n\":-5,\"items\":[1,2],"
                     "\"more\":false,\"leader\":null}");
    json_error_t err;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &err);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_jsonw_bytes_that_are_not_utf8_become_base64_field)
{
    kbuf b = KBUF_INIT;
    jw w;
    jw_init(&w, &b);
    jw_obj_open(&w, NULL);
    jw_bytes(&w, "key", kbytes_make("\xff\x00", 2), 0);
    jw_bytes(&w, "value", kbytes_make("hi", 2), 1);
    jw_obj_close(&w);
    ck_assert_str_eq(kbuf_str(&b), "{\"key_base64\":\"/wA=\",\"value_base64\":\"aGk=\"}");
    kbuf_free(&b);
}
END_TEST

/* -------------------------------------------------------------- main */

static Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("routing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_key_is_the_rest_of_the_path_slashes_allowed);
    tcase_add_test(tc, test_key_is_percent_decoded_including_slash_and_nul);
    tcase_add_test(tc, test_invalid_percent_escape_in_key_is_bad_request);
    tcase_add_test(tc, test_key_of_4096_bytes_is_accepted_and_4097_is_too_large);
    tcase_add_test(tc, test_collection_with_or_without_trailing_slash_is_the_listing);
    tcase_add_test(tc, test_unknown_route_is_not_found);
    tcase_add_test(tc, test_known_route_with_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_post_action_is_the_last_path_segment);
    tcase_add_test(tc, test_get_of_a_name_ending_like_an_action_reads_that_name);
    tcase_add_test(tc, test_post_without_action_is_405);
    tcase_add_test(tc, test_action_without_name_is_bad_request);
    tcase_add_test(tc, test_head_is_served_like_get);
    tcase_add_test(tc, test_operations_routes);
    tcase_add_test(tc, test_member_add_needs_id_and_url);
    tcase_add_test(tc, test_route_of_gives_metrics_label_without_decoding);
    suite_add_tcase(s, tc);

    tc = tcase_create("kv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_put_json_value_becomes_kv_put_command);
    tcase_add_test(tc, test_put_json_value_may_hold_nul_and_unicode);
    tcase_add_test(tc, test_put_value_base64_is_decoded);
    tcase_add_test(tc, test_put_invalid_base64_is_bad_request);
    tcase_add_test(tc, test_put_with_value_and_value_base64_is_bad_request);
    tcase_add_test(tc, test_put_without_value_is_bad_request_naming_the_field);
    tcase_add_test(tc, test_put_empty_string_value_is_allowed);
    tcase_add_test(tc, test_put_conditions_from_json);
    tcase_add_test(tc, test_put_if_not_exists_and_if_exists_together_is_bad_request);
    tcase_add_test(tc, test_put_non_json_content_type_stores_body_as_value);
    tcase_add_test(tc, test_json_content_type_with_parameters_is_json);
    tcase_add_test(tc, test_raw_put_takes_conditions_and_ttl_from_query_string);
    tcase_add_test(tc, test_json_body_overrides_query_conditions_and_query_ones_still_apply);
    tcase_add_test(tc, test_ttl_zero_means_none_and_negative_or_huge_is_bad_request);
    tcase_add_test(tc, test_value_over_1_mib_is_too_large);
    tcase_add_test(tc, test_wrong_field_type_is_bad_request_naming_the_field);
    tcase_add_test(tc, test_null_field_is_treated_as_absent);
    tcase_add_test(tc, test_unknown_json_fields_are_ignored);
    tcase_add_test(tc, test_invalid_json_is_bad_request);
    tcase_add_test(tc, test_delete_takes_if_revision_from_query_or_body);
    tcase_add_test(tc, test_patch_sets_ttl_and_needs_ttl_ms);
    tcase_add_test(tc, test_get_reads_latest_by_default_linearizable);
    tcase_add_test(tc, test_get_options_revision_history_encoding_raw_stale);
    tcase_add_test(tc, test_get_bad_options_are_bad_request);
    tcase_add_test(tc, test_unknown_query_parameters_are_ignored);
    tcase_add_test(tc, test_list_takes_prefix_limit_after_keys_only);
    tcase_add_test(tc, test_list_limit_defaults_and_must_be_in_range);
    tcase_add_test(tc, test_invalid_percent_escape_in_query_is_bad_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("locks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_acquire_takes_owner_ttl_and_wait);
    tcase_add_test(tc, test_lock_body_may_come_without_json_content_type);
    tcase_add_test(tc, test_acquire_needs_owner_and_positive_ttl);
    tcase_add_test(tc, test_owner_is_1_to_256_bytes);
    tcase_add_test(tc, test_extend_needs_owner_and_ttl_release_needs_owner);
    tcase_add_test(tc, test_lock_reads);
    suite_add_tcase(s, tc);

    tc = tcase_create("sequences");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_next_body_is_optional_and_count_defaults_to_1);
    tcase_add_test(tc, test_next_count_must_be_1_to_max);
    tcase_add_test(tc, test_idempotency_key_is_1_to_256_bytes);
    tcase_add_test(tc, test_sequence_set_takes_value_and_force);
    tcase_add_test(tc, test_sequence_delete_and_reads);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_a_request_reuses_buffers_and_forgets_the_previous_one);
    tcase_add_test(tc, test_split_query_like_libmicrohttpd);
    tcase_add_test(tc, test_write_ops_are_writes_and_reads_are_reads);
    tcase_add_test(tc, test_jsonw_escapes_quotes_controls_and_keeps_utf8);
    tcase_add_test(tc, test_jsonw_bytes_that_are_not_utf8_become_base64_field);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
