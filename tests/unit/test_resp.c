/* test_resp.c: unit tests of the RESP listener's pure parts: the request
 * parser (daemon/resp/parse.c), the reply writer (reply.c) and glob
 * matching (glob.c). One test per rule. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "resp/glob.h"
#include "resp/parse.h"
#include "resp/reply.h"

static const rparse_limits LIM = {1024 * 1024, 1024 * 1024 + 65536, 0};

/* Parses s completely; returns the status, *consumed, and p->argv. */
static int parse_str(rparse *p, const char *s, size_t n, size_t *consumed, const char **err)
{
    size_t need;
    return rparse_next(p, (const uint8_t *)s, n, &LIM, consumed, &need, err);
}

static int arg_is(const rparse *p, size_t i, const char *s, size_t n)
{
    return i < p->argc && p->argv[i].n == n && memcmp(p->argv[i].p, s, n) == 0;
}

#define ARG(p, i, s) ck_assert_msg(arg_is(p, i, s, sizeof(s) - 1), "argv[%d] is not %s", (int)(i), s)

/* ---- parser ---- */

START_TEST(test_parse_multibulk_command)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nhello\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(used, sizeof in - 1);
    ck_assert_uint_eq(p.argc, 3);
    ARG(&p, 0, "SET");
    ARG(&p, 1, "a");
    ARG(&p, 2, "hello");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_multibulk_arguments_point_into_the_input)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "*1\r\n$4\r\nPING\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_ptr_eq(p.argv[0].p, (const uint8_t *)in + 8);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_binary_safe_bulk)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "*2\r\n$3\r\nGET\r\n$6\r\na\r\n\0\xff" "b\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert(arg_is(&p, 1, "a\r\n\0\xff" "b", 6));
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_empty_bulk_argument)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(p.argc, 2);
    ck_assert_uint_eq(p.argv[1].n, 0);
    ck_assert_uint_eq(used, sizeof in - 1);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_inline_command)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "SET  a\tb\r\nGET a\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(used, 10);
    ck_assert_uint_eq(p.argc, 3);
    ARG(&p, 0, "SET");
    ARG(&p, 1, "a");
    ARG(&p, 2, "b");
    ck_assert_int_eq(parse_str(&p, in + used, sizeof in - 1 - used, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(used, 6);
    ARG(&p, 0, "GET");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_inline_quotes_and_escapes)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "SET \"a b\\n\\x41\\\"\" 'it\\'s' \"\"\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(p.argc, 4);
    ARG(&p, 1, "a b\nA\"");
    ARG(&p, 2, "it's");
    ck_assert_uint_eq(p.argv[3].n, 0);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_inline_unbalanced_quotes_is_error)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    ck_assert_int_eq(parse_str(&p, "SET \"a b\r\n", 10, &used, &err), RPARSE_ERROR);
    ck_assert_str_eq(err, "Protocol error: unbalanced quotes in request");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_closing_quote_must_be_followed_by_space)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    ck_assert_int_eq(parse_str(&p, "SET \"a\"b c\r\n", 12, &used, &err), RPARSE_ERROR);
    ck_assert_str_eq(err, "Protocol error: unbalanced quotes in request");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_skips_empty_commands)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n";
    ck_assert_int_eq(parse_str(&p, in, sizeof in - 1, &used, &err), RPARSE_DONE);
    ck_assert_uint_eq(used, sizeof in - 1);
    ck_assert_uint_eq(p.argc, 1);
    ARG(&p, 0, "PING");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_empty_commands_alone_are_consumed)
{
    rparse p = RPARSE_INIT;
    size_t used, need;
    const char *err;
    const char in[] = "\r\n*0\r\n";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)in, sizeof in - 1, &LIM, &used, &need, &err), RPARSE_MORE);
    ck_assert_uint_eq(used, sizeof in - 1);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_waits_for_half_a_frame)
{
    rparse p = RPARSE_INIT;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
    size_t n = sizeof in - 1, start = 0;
    /* feed one byte more each time; drop what the parser consumed */
    for (size_t have = 1; have <= n; have++) {
        size_t used, need;
        const char *err;
        int rc = rparse_next(&p, (const uint8_t *)in + start, have - start, &LIM, &used, &need, &err);
        if (have < n) {
            ck_assert_int_eq(rc, RPARSE_MORE);
            start += used;
        } else {
            ck_assert_int_eq(rc, RPARSE_DONE);
            ARG(&p, 1, "hello world");
        }
    }
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_big_bulk_tells_how_much_it_needs)
{
    rparse p = RPARSE_INIT;
    size_t used, need;
    const char *err;
    const char in[] = "*2\r\n$3\r\nGET\r\n$100000\r\nxx";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)in, sizeof in - 1, &LIM, &used, &need, &err), RPARSE_MORE);
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_eq(need, 22 + 100000 + 2);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_resumes_after_the_buffer_moved)
{
    rparse p = RPARSE_INIT;
    size_t used, need;
    const char *err;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n";
    char *a = malloc(sizeof in), *b = malloc(sizeof in);
    memcpy(a, in, 18);
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)a, 18, &LIM, &used, &need, &err), RPARSE_MORE);
    memcpy(b, in, sizeof in);
    memset(a, 'X', 18);
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)b, sizeof in - 1, &LIM, &used, &need, &err), RPARSE_DONE);
    ARG(&p, 1, "abc");
    ck_assert_ptr_eq(p.argv[1].p, (const uint8_t *)b + 18);
    free(a);
    free(b);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_pipelined_commands_one_at_a_time)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err;
    const char in[] = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
    size_t off = 0, n = sizeof in - 1;
    const char *names[] = {"PING", "GET", "PING"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(parse_str(&p, in + off, n - off, &used, &err), RPARSE_DONE);
        ck_assert(arg_is(&p, 0, names[i], strlen(names[i])));
        off += used;
    }
    ck_assert_uint_eq(off, n);
    rparse_free(&p);
}
END_TEST

static void expect_error(const char *in, size_t n, const char *msg)
{
    rparse p = RPARSE_INIT;
    size_t used;
    const char *err = NULL;
    int rc = parse_str(&p, in, n, &used, &err);
    ck_assert_msg(rc == RPARSE_ERROR, "no error for %.*s", (int)n, in);
    ck_assert_str_eq(err, msg);
    rparse_free(&p);
}

START_TEST(test_parse_invalid_multibulk_length)
{
    expect_error("*abc\r\n", 6, "Protocol error: invalid multibulk length");
    expect_error("*\r\n", 3, "Protocol error: invalid multibulk length");
    expect_error("*+1\r\n", 5, "Protocol error: invalid multibulk length");
    expect_error("*01\r\n", 5, "Protocol error: invalid multibulk length");
    expect_error("*2147483648\r\n", 13, "Protocol error: invalid multibulk length");
    expect_error("*1048577\r\n", 10, "Protocol error: invalid multibulk length");
    expect_error("*99999999999999999999999\r\n", 26, "Protocol error: invalid multibulk length");
}
END_TEST

START_TEST(test_parse_huge_count_costs_nothing_until_data_arrives)
{
    rparse p = RPARSE_INIT;
    size_t used, need;
    const char *err;
    const char in[] = "*1048576\r\n";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)in, sizeof in - 1, &LIM, &used, &need, &err), RPARSE_MORE);
    ck_assert_uint_le(p.cap, 8);
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_invalid_bulk_length)
{
    expect_error("*1\r\n$-1\r\n", 9, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$x\r\n", 8, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$\r\n", 7, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$1114113\r\n", 14, "Protocol error: invalid bulk length");
    expect_error("*1\r\n$9223372036854775808\r\n", 26, "Protocol error: invalid bulk length");
}
END_TEST

START_TEST(test_parse_bulk_must_start_with_dollar)
{
    expect_error("*1\r\n+OK\r\n", 9, "Protocol error: expected '$', got '+'");
}
END_TEST

START_TEST(test_parse_bulk_must_end_with_crlf)
{
    expect_error("*1\r\n$2\r\nabcd", 12, "Protocol error: invalid bulk terminator");
}
END_TEST

START_TEST(test_parse_too_big_inline_request)
{
    size_t n = RPARSE_INLINE_MAX + 10;
    char *s = malloc(n);
    memset(s, 'a', n);
    expect_error(s, n, "Protocol error: too big inline request");
    s[n - 1] = '\n';
    expect_error(s, n, "Protocol error: too big inline request");
    free(s);
}
END_TEST

START_TEST(test_parse_too_big_count_strings)
{
    size_t n = RPARSE_INLINE_MAX + 10;
    char *s = malloc(n + 8);
    memset(s, '1', n);
    s[0] = '*';
    expect_error(s, n, "Protocol error: too big mbulk count string");
    memcpy(s, "*1\r\n$", 5);
    expect_error(s, n, "Protocol error: too big bulk count string");
    free(s);
}
END_TEST

START_TEST(test_parse_unauthenticated_limits)
{
    rparse p = RPARSE_INIT;
    rparse_limits lim = LIM;
    lim.unauthenticated = 1;
    size_t used, need;
    const char *err;
    const char many[] = "*11\r\n";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)many, 5, &lim, &used, &need, &err), RPARSE_ERROR);
    ck_assert_str_eq(err, "Protocol error: unauthenticated multibulk length");
    rparse_reset(&p);
    const char big[] = "*2\r\n$4\r\nAUTH\r\n$16385\r\n";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)big, sizeof big - 1, &lim, &used, &need, &err), RPARSE_ERROR);
    ck_assert_str_eq(err, "Protocol error: unauthenticated bulk length");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_reset_restarts_at_the_command)
{
    rparse p = RPARSE_INIT;
    size_t used, need;
    const char *err;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n";
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)in, 20, &LIM, &used, &need, &err), RPARSE_MORE);
    rparse_reset(&p);
    ck_assert_int_eq(rparse_next(&p, (const uint8_t *)in, sizeof in - 1, &LIM, &used, &need, &err), RPARSE_DONE);
    ARG(&p, 1, "abc");
    rparse_free(&p);
}
END_TEST

START_TEST(test_parse_ll_is_strict)
{
    long long v;
    ck_assert(rparse_ll((const uint8_t *)"0", 1, &v) && v == 0);
    ck_assert(rparse_ll((const uint8_t *)"-12", 3, &v) && v == -12);
    ck_assert(rparse_ll((const uint8_t *)"9223372036854775807", 19, &v) && v == LLONG_MAX);
    ck_assert(rparse_ll((const uint8_t *)"-9223372036854775808", 20, &v) && v == LLONG_MIN);
    ck_assert(!rparse_ll((const uint8_t *)"9223372036854775808", 19, &v));
    ck_assert(!rparse_ll((const uint8_t *)"+1", 2, &v));
    ck_assert(!rparse_ll((const uint8_t *)" 1", 2, &v));
    ck_assert(!rparse_ll((const uint8_t *)"01", 2, &v));
    ck_assert(!rparse_ll((const uint8_t *)"-0", 2, &v));
    ck_assert(!rparse_ll((const uint8_t *)"-", 1, &v));
    ck_assert(!rparse_ll((const uint8_t *)"1e3", 3, &v));
    ck_assert(!rparse_ll((const uint8_t *)"", 0, &v));
}
END_TEST

/* ---- writer ---- */

static void expect_buf(kbuf *b, const char *want, size_t n)
{
    ck_assert_msg(b->len == n && memcmp(b->data, want, n) == 0, "got [%.*s] want [%.*s]", (int)b->len,
                  (const char *)b->data, (int)n, want);
    kbuf_reset(b);
}
#define EXPECT(b, s) expect_buf(b, s, sizeof(s) - 1)

START_TEST(test_reply_resp2_encodings)
{
    kbuf b = KBUF_INIT;
    reply r = reply_make(&b, 2);
    reply_simple(&r, "OK");
    EXPECT(&b, "+OK\r\n");
    reply_int(&r, -42);
    EXPECT(&b, ":-42\r\n");
    reply_bulk(&r, "a\0b", 3);
    EXPECT(&b, "$3\r\na\0b\r\n");
    reply_null(&r);
    EXPECT(&b, "$-1\r\n");
    reply_null_array(&r);
    EXPECT(&b, "*-1\r\n");
    reply_map(&r, 2);
    EXPECT(&b, "*4\r\n");
    reply_set(&r, 3);
    EXPECT(&b, "*3\r\n");
    reply_bool(&r, 1);
    EXPECT(&b, ":1\r\n");
    reply_double(&r, 1.5);
    EXPECT(&b, "$3\r\n1.5\r\n");
    reply_verbatim(&r, "hi", 2);
    EXPECT(&b, "$2\r\nhi\r\n");
    reply_bulk_ll(&r, 1234);
    EXPECT(&b, "$4\r\n1234\r\n");
    ck_assert_int_eq(r.err, 0);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_reply_resp3_encodings)
{
    kbuf b = KBUF_INIT;
    reply r = reply_make(&b, 3);
    reply_null(&r);
    EXPECT(&b, "_\r\n");
    reply_null_array(&r);
    EXPECT(&b, "_\r\n");
    reply_map(&r, 2);
    EXPECT(&b, "%2\r\n");
    reply_set(&r, 3);
    EXPECT(&b, "~3\r\n");
    reply_bool(&r, 0);
    EXPECT(&b, "#f\r\n");
    reply_double(&r, -2.25);
    EXPECT(&b, ",-2.25\r\n");
    reply_double(&r, 1.0 / 0.0);
    EXPECT(&b, ",inf\r\n");
    reply_verbatim(&r, "hi", 2);
    EXPECT(&b, "=6\r\ntxt:hi\r\n");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_reply_error_has_no_line_breaks)
{
    kbuf b = KBUF_INIT;
    reply r = reply_make(&b, 2);
    reply_error(&r, "ERR bad\r\nthing");
    EXPECT(&b, "-ERR bad  thing\r\n");
    reply_errorf(&r, "ERR %s %d", "x", 7);
    EXPECT(&b, "-ERR x 7\r\n");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_reply_integers_at_the_limits)
{
    char buf[24];
    ck_assert_str_eq((reply_ll2str(buf, LLONG_MIN), buf), "-9223372036854775808");
    ck_assert_str_eq((reply_ll2str(buf, LLONG_MAX), buf), "9223372036854775807");
    ck_assert_uint_eq(reply_ll2str(buf, 0), 1);
    ck_assert_str_eq(buf, "0");
}
END_TEST

/* ---- glob ---- */

static int gm(const char *pat, const char *s)
{
    return glob_match((const uint8_t *)pat, strlen(pat), (const uint8_t *)s, strlen(s), 0);
}

START_TEST(test_glob_star_and_question_mark)
{
    ck_assert(gm("*", "anything"));
    ck_assert(gm("h?llo", "hello"));
    ck_assert(!gm("h?llo", "hllo"));
    ck_assert(gm("h*llo", "hllo"));
    ck_assert(gm("h*llo", "heeeello"));
    ck_assert(gm("a*b*c", "axxbyyc"));
    ck_assert(!gm("a*b*c", "axxbyy"));
    ck_assert(gm("user:*", "user:1"));
    ck_assert(!gm("user:*", "users"));
    ck_assert(gm("*:*:*", "a:b:c"));
    ck_assert(gm("**a", "a"));
}
END_TEST

START_TEST(test_glob_classes)
{
    ck_assert(gm("h[ae]llo", "hello"));
    ck_assert(gm("h[ae]llo", "hallo"));
    ck_assert(!gm("h[ae]llo", "hillo"));
    ck_assert(gm("h[^e]llo", "hallo"));
    ck_assert(!gm("h[^e]llo", "hello"));
    ck_assert(gm("h[a-b]llo", "hbllo"));
    ck_assert(gm("h[b-a]llo", "hallo")); /* reversed range is swapped */
    ck_assert(!gm("h[a-b]llo", "hcllo"));
    ck_assert(gm("[\\]]", "]"));
    ck_assert(gm("[ab", "a")); /* unterminated: runs to the end */
}
END_TEST

START_TEST(test_glob_escapes)
{
    ck_assert(gm("a\\*b", "a*b"));
    ck_assert(!gm("a\\*b", "axb"));
    ck_assert(gm("a\\?", "a?"));
    ck_assert(gm("a\\", "a\\"));
}
END_TEST

START_TEST(test_glob_nocase)
{
    ck_assert(glob_match((const uint8_t *)"MAXCLI*", 7, (const uint8_t *)"maxclients", 10, 1));
    ck_assert(!glob_match((const uint8_t *)"MAXCLI*", 7, (const uint8_t *)"maxclients", 10, 0));
}
END_TEST

START_TEST(test_glob_many_stars_stay_fast)
{
    char s[200], pat[100];
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    for (size_t i = 0; i < sizeof pat - 2; i += 2) {
        pat[i] = 'a';
        pat[i + 1] = '*';
    }
    pat[sizeof pat - 2] = 'b';
    pat[sizeof pat - 1] = '\0';
    ck_assert(!gm(pat, s)); /* exponential in a naive matcher */
}
END_TEST

START_TEST(test_glob_literal_prefix)
{
    uint8_t out[32];
    ck_assert_uint_eq(glob_literal_prefix((const uint8_t *)"user:*", 6, out), 5);
    ck_assert(memcmp(out, "user:", 5) == 0);
    ck_assert_uint_eq(glob_literal_prefix((const uint8_t *)"a\\*b?", 5, out), 3);
    ck_assert(memcmp(out, "a*b", 3) == 0);
    ck_assert_uint_eq(glob_literal_prefix((const uint8_t *)"[ab]", 4, out), 0);
    ck_assert(glob_is_literal((const uint8_t *)"a\\*b", 4));
    ck_assert(!glob_is_literal((const uint8_t *)"a*b", 3));
}
END_TEST

static Suite *resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *p = tcase_create("parse");
    tcase_add_test(p, test_parse_multibulk_command);
    tcase_add_test(p, test_parse_multibulk_arguments_point_into_the_input);
    tcase_add_test(p, test_parse_binary_safe_bulk);
    tcase_add_test(p, test_parse_empty_bulk_argument);
    tcase_add_test(p, test_parse_inline_command);
    tcase_add_test(p, test_parse_inline_quotes_and_escapes);
    tcase_add_test(p, test_parse_inline_unbalanced_quotes_is_error);
    tcase_add_test(p, test_parse_closing_quote_must_be_followed_by_space);
    tcase_add_test(p, test_parse_skips_empty_commands);
    tcase_add_test(p, test_parse_empty_commands_alone_are_consumed);
    tcase_add_test(p, test_parse_waits_for_half_a_frame);
    tcase_add_test(p, test_parse_big_bulk_tells_how_much_it_needs);
    tcase_add_test(p, test_parse_resumes_after_the_buffer_moved);
    tcase_add_test(p, test_parse_pipelined_commands_one_at_a_time);
    tcase_add_test(p, test_parse_invalid_multibulk_length);
    tcase_add_test(p, test_parse_huge_count_costs_nothing_until_data_arrives);
    tcase_add_test(p, test_parse_invalid_bulk_length);
    tcase_add_test(p, test_parse_bulk_must_start_with_dollar);
    tcase_add_test(p, test_parse_bulk_must_end_with_crlf);
    tcase_add_test(p, test_parse_too_big_inline_request);
    tcase_add_test(p, test_parse_too_big_count_strings);
    tcase_add_test(p, test_parse_unauthenticated_limits);
    tcase_add_test(p, test_parse_reset_restarts_at_the_command);
    tcase_add_test(p, test_parse_ll_is_strict);
    suite_add_tcase(s, p);
    TCase *w = tcase_create("reply");
    tcase_add_test(w, test_reply_resp2_encodings);
    tcase_add_test(w, test_reply_resp3_encodings);
    tcase_add_test(w, test_reply_error_has_no_line_breaks);
    tcase_add_test(w, test_reply_integers_at_the_limits);
    suite_add_tcase(s, w);
    TCase *g = tcase_create("glob");
    tcase_add_test(g, test_glob_star_and_question_mark);
    tcase_add_test(g, test_glob_classes);
    tcase_add_test(g, test_glob_escapes);
    tcase_add_test(g, test_glob_nocase);
    tcase_add_test(g, test_glob_many_stars_stay_fast);
    tcase_add_test(g, test_glob_literal_prefix);
    suite_add_tcase(s, g);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(resp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
