/* test_httpc.c: unit tests of the HTTP client wrapper (common/httpc.c),
 * and of kahuna-cli's use of it across endpoints (cli/call.c), against a
 * small libmicrohttpd server running inside the test. */
#include "call.h"
#include "httpc.h"
#include "errors.h"
#include "clock.h"

#include <check.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct MHD_Daemon *srv;
static int srv_port;
static atomic_int srv_connections;
static atomic_int srv_echoes;

typedef struct upload {
    kbuf body;
} upload;

static enum MHD_Result answer(struct MHD_Connection *conn, int status, const void *body, size_t n,
                              const char *ctype, const char *h1, const char *v1)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (h1)
        MHD_add_response_header(r, h1, v1);
    MHD_add_response_header(r, "X-Kahuna-Leader", "n2");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (kbuf_append(&u->body, data, *data_size))
            return MHD_NO;
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/echo") == 0) {
        atomic_fetch_add(&srv_echoes, 1);
        /* "METHOD CONTENT-TYPE\n" then the request body, bytes as sent */
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        kbuf out = KBUF_INIT;
        if (kbuf_printf(&out, "%s %s\n", method, ct ? ct : "-") ||
            kbuf_append(&out, u->body.data ? u->body.data : (const uint8_t *)"", u->body.len))
            return MHD_NO;
        enum MHD_Result ret = answer(conn, 200, out.data, out.len, "application/octet-stream", NULL, NULL);
        kbuf_free(&out);
        return ret;
    }
    if (strncmp(url, "/unavailable", 12) == 0)
        return answer(conn, 503, "{}", 2, "application/json", "Retry-After", "0");
    if (strcmp(url, "/slow") == 0) {
        usleep(1000 * 1000);
        return answer(conn, 200, "late", 4, "text/plain", NULL, NULL);
    }
    if (strncmp(url, "/drop", 5) == 0)
        return MHD_NO; /* closes the connection without an answer */
    if (strcmp(url, "/path/a/b/../c") == 0) /* MHD decodes %2F */
        return answer(conn, 200, "as-is", 5, "text/plain", NULL, NULL);
    return answer(conn, 404, "{}", 2, "application/json", NULL, NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u) {
        kbuf_free(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&srv_connections, 1);
}

static void start_server(void)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                           NULL, NULL, handler, NULL,
                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                           MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                           MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
                           MHD_OPTION_END);
    ck_assert_ptr_nonnull(srv);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    srv_port = info->port;
    atomic_store(&srv_connections, 0);
    atomic_store(&srv_echoes, 0);
}

static void stop_server(void)
{
    MHD_stop_daemon(srv);
    srv = NULL;
}

/* A loopback port where nothing listens (bound then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static char url_buf[256];
static const char *url(const char *path)
{
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", srv_port, path);
    return url_buf;
}

START_TEST(test_httpc_body_round_trip_is_binary_safe)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    static const uint8_t bin[] = {0, 1, 2, 0xff, 0, '\n', 0x80, 'x'};
    httpc_request req = {.method = "PUT", .url = url("/echo"), .content_type = "application/octet-stream",
                         .body = kbytes_make(bin, sizeof(bin)), .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_int_eq(r.status, 200);
    const char *head = "PUT application/octet-stream\n";
    ck_assert_uint_eq(r.body.len, strlen(head) + sizeof(bin));
    ck_assert_int_eq(memcmp(r.body.data, head, strlen(head)), 0);
    ck_assert_int_eq(memcmp(r.body.data + strlen(head), bin, sizeof(bin)), 0);
    ck_assert_str_eq(r.content_type, "application/octet-stream");
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_body_without_content_type_sends_none)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_request req = {.method = "POST", .url = url("/echo"), .body = kbytes_str("a=b"), .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_str_eq(kbuf_str(&r.body), "POST -\na=b");
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_methods_without_body)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_response r = HTTPC_RESPONSE_INIT;
    const char *methods[] = {"GET", "DELETE", "POST", "PUT", "PATCH"};
    for (size_t i = 0; i < 5; i++) {
        httpc_request req = {.method = methods[i], .url = url("/echo"), .timeout_ms = 5000};
        ck_assert_int_eq(httpc_do(c, &req, &r), 0);
        ck_assert_int_eq(r.status, 200);
        char want[32];
        snprintf(want, sizeof(want), "%s -\n", methods[i]);
        ck_assert_str_eq(kbuf_str(&r.body), want);
    }
    httpc_request head = {.method = "HEAD", .url = url("/echo"), .timeout_ms = 5000};
    ck_assert_int_eq(httpc_do(c, &head, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body.len, 0);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_http_error_is_an_answer_with_selected_headers)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_request req = {.method = "GET", .url = url("/unavailable"), .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(r.retry_after_ms, 0);
    ck_assert_str_eq(r.leader, "n2");
    ck_assert_str_eq(r.content_type, "application/json");
    req.url = url("/nothing-here");
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_int_eq(r.retry_after_ms, -1);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_refused_connection_is_unavailable)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/echo", dead_port());
    httpc_request req = {.method = "POST", .url = u, .body = kbytes_str("x"), .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_EUNAVAILABLE);
    ck_assert_str_ne(httpc_last_error(c), "no error");
    /* and a refused request after a good one on the same client */
    req.url = url("/echo");
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    req.url = u;
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_EUNAVAILABLE);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_timeout_after_sending_is_unknown_outcome)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_request req = {.method = "POST", .url = url("/slow"), .timeout_ms = 200};
    httpc_response r = HTTPC_RESPONSE_INIT;
    int64_t t0 = clock_mono_ms();
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_ETIMEOUT);
    ck_assert_int_lt(clock_mono_ms() - t0, 900);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

static int cancel_calls;
static int cancel_after_two(void *arg)
{
    (void)arg;
    return ++cancel_calls > 2;
}

START_TEST(test_httpc_cancel_callback_stops_the_request)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    cancel_calls = 0;
    httpc_request req = {.method = "GET", .url = url("/slow"), .timeout_ms = 5000,
                         .cancel = cancel_after_two};
    httpc_response r = HTTPC_RESPONSE_INIT;
    int64_t t0 = clock_mono_ms();
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_ECANCELED);
    ck_assert_int_lt(clock_mono_ms() - t0, 900);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_connection_closed_without_answer_is_io_error)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_request req = {.method = "POST", .url = url("/drop"), .body = kbytes_str("{}"),
                         .content_type = "application/json", .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_EIO);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_keeps_the_connection_alive)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_response r = HTTPC_RESPONSE_INIT;
    for (int i = 0; i < 5; i++) {
        httpc_request req = {.method = i % 2 ? "PUT" : "GET", .url = url("/echo"),
                             .body = kbytes_str("v"), .timeout_ms = 5000};
        ck_assert_int_eq(httpc_do(c, &req, &r), 0);
        ck_assert_int_eq(r.status, 200);
    }
    ck_assert_int_eq(atomic_load(&srv_connections), 1);
    httpc_close_connections(c);
    httpc_request req = {.method = "GET", .url = url("/echo"), .timeout_ms = 5000};
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_int_eq(atomic_load(&srv_connections), 2);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_body_over_the_limit_is_refused)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_set_max_body(c, 10);
    httpc_request req = {.method = "PUT", .url = url("/echo"), .body = kbytes_str("0123456789abcdef"),
                         .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), KAHUNA_ETOOLARGE);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_path_is_sent_as_is)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_request req = {.method = "GET", .url = url("/path/a%2Fb/../c"), .timeout_ms = 5000};
    httpc_response r = HTTPC_RESPONSE_INIT;
    ck_assert_int_eq(httpc_do(c, &req, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(kbuf_str(&r.body), "as-is");
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

START_TEST(test_httpc_rejects_unknown_method_and_scheme)
{
    httpc *c;
    ck_assert_int_eq(httpc_new(&c), 0);
    httpc_response r = HTTPC_RESPONSE_INIT;
    httpc_request bad_method = {.method = "BREW", .url = url("/echo"), .timeout_ms = 5000};
    ck_assert_int_eq(httpc_do(c, &bad_method, &r), KAHUNA_EBADREQ);
    httpc_request bad_scheme = {.method = "GET", .url = "file:///etc/passwd", .timeout_ms = 5000};
    ck_assert_int_eq(httpc_do(c, &bad_scheme, &r), KAHUNA_EBADREQ);
    httpc_response_free(&r);
    httpc_free(c);
}
END_TEST

/* ---- cli/call.c: one call across several endpoints ---- */

static char ep_buf[4][96];
static char *eps[4];

/* A context over endpoints given as paths on the test server ("" for the
 * server itself, "/unavailable" answers 503, "/drop" closes without an
 * answer) or NULL for a port where nothing listens. */
static void make_ctx(cli_ctx *c, httpc *h, int n, const char *const *where)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < n; i++) {
        if (where[i])
            snprintf(ep_buf[i], sizeof(ep_buf[i]), "http://127.0.0.1:%d%s", srv_port, where[i]);
        else
            snprintf(ep_buf[i], sizeof(ep_buf[i]), "http://127.0.0.1:%d", dead_port());
        eps[i] = ep_buf[i];
    }
    c->endpoints = eps;
    c->n_endpoints = (size_t)n;
    c->timeout_ms = 5000;
    c->http = h;
}

START_TEST(test_call_tries_the_next_endpoint_when_one_is_unreachable)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {NULL, NULL, ""};
    make_ctx(&c, h, 3, where);
    call_result r = CALL_RESULT_INIT;
    ck_assert_int_eq(call_do(&c, "POST", "/echo", NULL, kbytes_str("x"), 5000, 0, &r), 0);
    ck_assert_int_eq(r.resp.status, 200);
    ck_assert_str_eq(r.endpoint, ep_buf[2]);
    ck_assert_uint_eq(c.current, 2); /* and starts there next time */
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

START_TEST(test_call_with_every_endpoint_unreachable_is_unavailable)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {NULL, NULL};
    make_ctx(&c, h, 2, where);
    call_result r = CALL_RESULT_INIT;
    ck_assert_int_eq(call_do(&c, "GET", "/echo", NULL, kbytes_make(NULL, 0), 5000, CALL_IDEMPOTENT, &r),
                     KAHUNA_EUNAVAILABLE);
    ck_assert(strstr(kbuf_str(&r.errors), ep_buf[0]) && strstr(kbuf_str(&r.errors), ep_buf[1]));
    ck_assert_int_eq(cli_exit_for_error(r.rc), CLI_EXIT_UNAVAILABLE);
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

START_TEST(test_call_skips_an_endpoint_that_answers_503)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {"/unavailable", ""};
    make_ctx(&c, h, 2, where);
    call_result r = CALL_RESULT_INIT;
    ck_assert_int_eq(call_do(&c, "PUT", "/echo", "application/json", kbytes_str("{}"), 5000, 0, &r), 0);
    ck_assert_int_eq(r.resp.status, 200);
    ck_assert_int_eq(atomic_load(&srv_echoes), 1);
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

START_TEST(test_call_with_only_503_answers_retries_until_the_budget_then_answers_503)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {"/unavailable", "/unavailable"};
    make_ctx(&c, h, 2, where);
    call_result r = CALL_RESULT_INIT;
    int64_t t0 = clock_mono_ms();
    ck_assert_int_eq(call_do(&c, "GET", "/echo", NULL, kbytes_make(NULL, 0), 400, CALL_IDEMPOTENT, &r), 0);
    int64_t took = clock_mono_ms() - t0;
    ck_assert_int_eq(r.resp.status, 503);
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, 3000);
    ck_assert_int_eq(cli_exit_for_http(r.resp.status), CLI_EXIT_UNAVAILABLE);
    /* one round only when asked */
    t0 = clock_mono_ms();
    ck_assert_int_eq(call_do(&c, "GET", "/echo", NULL, kbytes_make(NULL, 0), 5000, CALL_ONE_ROUND, &r), 0);
    ck_assert_int_eq(r.resp.status, 503);
    ck_assert_int_lt(clock_mono_ms() - t0, 1000);
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

START_TEST(test_call_does_not_resend_a_write_whose_answer_was_lost)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {"/drop", ""};
    make_ctx(&c, h, 2, where);
    call_result r = CALL_RESULT_INIT;
    ck_assert_int_eq(call_do(&c, "POST", "/echo", NULL, kbytes_str("x"), 5000, 0, &r), KAHUNA_EIO);
    ck_assert_int_eq(atomic_load(&srv_echoes), 0);
    /* an idempotent request is sent again to the next endpoint */
    ck_assert_int_eq(call_do(&c, "POST", "/echo", NULL, kbytes_str("x"), 5000, CALL_IDEMPOTENT, &r), 0);
    ck_assert_int_eq(r.resp.status, 200);
    ck_assert_int_eq(atomic_load(&srv_echoes), 1);
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

START_TEST(test_call_decodes_a_json_answer)
{
    httpc *h;
    ck_assert_int_eq(httpc_new(&h), 0);
    cli_ctx c;
    const char *where[] = {""};
    make_ctx(&c, h, 1, where);
    call_result r = CALL_RESULT_INIT;
    ck_assert_int_eq(call_do(&c, "GET", "/nothing-here", NULL, kbytes_make(NULL, 0), 5000, 0, &r), 0);
    ck_assert_int_eq(r.resp.status, 404);
    ck_assert_ptr_nonnull(r.json);
    ck_assert(!call_ok(&r));
    ck_assert_int_eq(cli_exit_for_http(r.resp.status), CLI_EXIT_NO);
    call_result_free(&r);
    httpc_free(h);
}
END_TEST

static Suite *httpc_suite(void)
{
    Suite *s = suite_create("httpc");
    TCase *tc = tcase_create("httpc");
    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_add_test(tc, test_httpc_body_round_trip_is_binary_safe);
    tcase_add_test(tc, test_httpc_body_without_content_type_sends_none);
    tcase_add_test(tc, test_httpc_methods_without_body);
    tcase_add_test(tc, test_httpc_http_error_is_an_answer_with_selected_headers);
    tcase_add_test(tc, test_httpc_refused_connection_is_unavailable);
    tcase_add_test(tc, test_httpc_timeout_after_sending_is_unknown_outcome);
    tcase_add_test(tc, test_httpc_cancel_callback_stops_the_request);
    tcase_add_test(tc, test_httpc_connection_closed_without_answer_is_io_error);
    tcase_add_test(tc, test_httpc_keeps_the_connection_alive);
    tcase_add_test(tc, test_httpc_body_over_the_limit_is_refused);
    tcase_add_test(tc, test_httpc_path_is_sent_as_is);
    tcase_add_test(tc, test_httpc_rejects_unknown_method_and_scheme);
    suite_add_tcase(s, tc);

    TCase *tcc = tcase_create("call");
    tcase_add_checked_fixture(tcc, start_server, stop_server);
    tcase_add_test(tcc, test_call_tries_the_next_endpoint_when_one_is_unreachable);
    tcase_add_test(tcc, test_call_with_every_endpoint_unreachable_is_unavailable);
    tcase_add_test(tcc, test_call_skips_an_endpoint_that_answers_503);
    tcase_add_test(tcc, test_call_with_only_503_answers_retries_until_the_budget_then_answers_503);
    tcase_add_test(tcc, test_call_does_not_resend_a_write_whose_answer_was_lost);
    tcase_add_test(tcc, test_call_decodes_a_json_answer);
    suite_add_tcase(s, tcc);
    return s;
}

int main(void)
{
    if (httpc_global_init() != 0)
        return 1;
    SRunner *sr = srunner_create(httpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    httpc_global_cleanup();
    return failed ? 1 : 0;
}
