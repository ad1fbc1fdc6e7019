/* test_cli.c: unit tests of kahuna-cli's command line (SPEC §5): parsing
 * of commands, options, durations and numbers, the exit-status rules, the
 * owner strings and the URL paths. No server is involved. */
#include "call.h"
#include "cli.h"
#include "errors.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXARGS 32

/* Parses a command line given as words; keeps argv alive for the checks. */
static char *words[MAXARGS + 1];
static cli_inv inv;
static kbuf err = KBUF_INIT;

static int parse_v(const char *first, va_list ap)
{
    int argc = 0;
    words[argc++] = (char *)"kahuna-cli";
    for (const char *w = first; w && argc < MAXARGS; w = va_arg(ap, const char *))
        words[argc++] = (char *)w;
    words[argc] = NULL;
    return cli_parse(argc, words, &inv, &err);
}

/* parse("kv", "get", "k", NULL) */
static int parse(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    int rc = parse_v(first, ap);
    va_end(ap);
    return rc;
}

static void teardown(void)
{
    kbuf_free(&err);
}

#define assert_cmd(noun_, verb_) do { \
        ck_assert_ptr_nonnull(inv.cmd); \
        ck_assert_str_eq(inv.cmd->noun, noun_); \
        ck_assert_str_eq(inv.cmd->verb, verb_); \
    } while (0)

#define assert_usage_error(...) do { \
        ck_assert_int_eq(parse(__VA_ARGS__, NULL), KAHUNA_EBADREQ); \
        ck_assert_uint_gt(err.len, 0); \
    } while (0)

/* ---- commands and positionals ---- */

START_TEST(test_every_command_of_the_spec_is_known)
{
    static const char *const cmds[][2] = {
        {"kv", "set"}, {"kv", "get"}, {"kv", "del"}, {"kv", "ttl"}, {"kv", "ls"}, {"kv", "history"},
        {"lock", "acquire"}, {"lock", "extend"}, {"lock", "release"}, {"lock", "info"}, {"lock", "ls"},
        {"lock", "run"}, {"seq", "next"}, {"seq", "get"}, {"seq", "set"}, {"seq", "del"},
        {"cluster", "status"}, {"cluster", "members"}, {"cluster", "add"}, {"cluster", "remove"},
        {"cluster", "transfer-leader"},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        ck_assert_int_eq(parse(cmds[i][0], cmds[i][1], "--help", NULL), 0);
        assert_cmd(cmds[i][0], cmds[i][1]);
    }
    ck_assert_int_eq(parse("health", NULL), 0);
    ck_assert_str_eq(inv.cmd->noun, "health");
    ck_assert_ptr_null(inv.cmd->verb);
}
END_TEST

START_TEST(test_kv_set_takes_key_value_and_ttl)
{
    ck_assert_int_eq(parse("kv", "set", "app/x", "hello", "--ttl", "30s", NULL), 0);
    assert_cmd("kv", "set");
    ck_assert_int_eq(inv.npos, 2);
    ck_assert_str_eq(inv.pos[0], "app/x");
    ck_assert_str_eq(inv.pos[1], "hello");
    ck_assert(inv.set[OPT_TTL]);
    ck_assert_int_eq(inv.num[OPT_TTL], 30000);
}
END_TEST

START_TEST(test_option_value_with_equals_sign)
{
    ck_assert_int_eq(parse("kv", "set", "k", "v", "--ttl=500ms", NULL), 0);
    ck_assert_int_eq(inv.num[OPT_TTL], 500);
    ck_assert_int_eq(parse("lock", "acquire", "L", "--owner=a=b", NULL), 0);
    ck_assert_str_eq(inv.str[OPT_OWNER], "a=b");
}
END_TEST

START_TEST(test_options_may_come_before_or_after_positionals)
{
    ck_assert_int_eq(parse("kv", "set", "--ttl", "5m", "k", "v", NULL), 0);
    ck_assert_int_eq(inv.num[OPT_TTL], 300000);
    ck_assert_str_eq(inv.pos[0], "k");
    ck_assert_str_eq(inv.pos[1], "v");
    ck_assert_int_eq(parse("kv", "set", "k", "--if-not-exists", "v", NULL), 0);
    ck_assert(inv.set[OPT_IF_NOT_EXISTS]);
    ck_assert_int_eq(inv.npos, 2);
}
END_TEST

START_TEST(test_global_options_are_accepted_anywhere)
{
    ck_assert_int_eq(parse("--json", "--endpoints", "http://a:1", "kv", "get", "k", NULL), 0);
    ck_assert(inv.json);
    ck_assert_str_eq(inv.endpoints, "http://a:1");
    ck_assert_int_eq(parse("kv", "--quiet", "get", "k", NULL), 0);
    ck_assert(inv.quiet);
    ck_assert_int_eq(parse("kv", "get", "k", "--timeout", "2s", "--json", NULL), 0);
    ck_assert(inv.json);
    ck_assert_int_eq(inv.timeout_ms, 2000);
}
END_TEST

START_TEST(test_defaults_when_options_are_absent)
{
    ck_assert_int_eq(parse("kv", "get", "k", NULL), 0);
    ck_assert_int_eq(inv.timeout_ms, CLI_DEFAULT_TIMEOUT_MS);
    ck_assert_ptr_null(inv.endpoints);
    ck_assert(!inv.json && !inv.quiet && !inv.help && !inv.version);
}
END_TEST

START_TEST(test_command_options_before_the_command_are_a_usage_error)
{
    assert_usage_error("--ttl", "5s", "kv", "set", "k", "v");
}
END_TEST

START_TEST(test_unknown_command_verb_or_option_is_a_usage_error)
{
    assert_usage_error("frobnicate");
    assert_usage_error("kv", "frob", "k");
    assert_usage_error("kv", "get", "k", "--frob");
    assert_usage_error("kv", "get", "k", "-x");
    ck_assert_int_eq(parse(NULL), KAHUNA_EBADREQ);
    assert_usage_error("kv");
}
END_TEST

START_TEST(test_option_of_another_command_is_a_usage_error)
{
    assert_usage_error("kv", "get", "k", "--ttl", "5s");
    assert_usage_error("lock", "info", "L", "--owner", "me");
    assert_usage_error("seq", "get", "s", "--force");
}
END_TEST

START_TEST(test_missing_or_extra_arguments_are_a_usage_error)
{
    assert_usage_error("kv", "get");
    assert_usage_error("kv", "get", "a", "b");
    assert_usage_error("kv", "ttl", "k");
    assert_usage_error("seq", "set", "s");
    assert_usage_error("cluster", "add", "n2");
    assert_usage_error("cluster", "status", "extra");
    assert_usage_error("health", "extra");
    assert_usage_error("kv", "set", "k", "v", "w");
}
END_TEST

START_TEST(test_option_without_its_value_is_a_usage_error)
{
    assert_usage_error("kv", "set", "k", "v", "--ttl");
    assert_usage_error("kv", "get", "k", "--json=yes");
}
END_TEST

/* ---- durations and numbers ---- */

START_TEST(test_durations_take_ms_s_m_h_and_bare_milliseconds)
{
    static const struct { const char *s; int64_t ms; } cases[] = {
        {"500ms", 500}, {"30s", 30000}, {"5m", 300000}, {"1h", 3600000}, {"250", 250}, {"0", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(parse("lock", "acquire", "L", "--wait", cases[i].s, NULL), 0);
        ck_assert_int_eq(inv.num[OPT_WAIT], cases[i].ms);
    }
}
END_TEST

START_TEST(test_bad_duration_is_a_usage_error)
{
    static const char *const bad[] = {"", "5x", "-1s", "1.5s", "s", "10 s", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_usage_error("kv", "set", "k", "v", "--ttl", bad[i]);
    assert_usage_error("kv", "ttl", "k", "soon");
    assert_usage_error("kv", "get", "k", "--timeout", "0");
}
END_TEST

START_TEST(test_bad_number_is_a_usage_error)
{
    assert_usage_error("kv", "del", "k", "--if-revision", "abc");
    assert_usage_error("kv", "get", "k", "--revision", "-3");
    assert_usage_error("kv", "get", "k", "--revision", "0");
    assert_usage_error("kv", "ls", "--limit", "0");
    assert_usage_error("kv", "ls", "--limit", "1e3");
    assert_usage_error("seq", "next", "s", "--count", "0");
    assert_usage_error("seq", "set", "s", "12x");
    assert_usage_error("seq", "set", "s", "-1");
}
END_TEST

START_TEST(test_parse_uint_is_strict)
{
    int64_t v;
    ck_assert_int_eq(cli_parse_uint("0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(cli_parse_uint("9223372036854775807", &v), 0);
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert_int_eq(cli_parse_uint("9223372036854775808", &v), KAHUNA_EBADREQ);
    ck_assert_int_eq(cli_parse_uint("", &v), KAHUNA_EBADREQ);
    ck_assert_int_eq(cli_parse_uint("+1", &v), KAHUNA_EBADREQ);
    ck_assert_int_eq(cli_parse_uint(" 1", &v), KAHUNA_EBADREQ);
    ck_assert_int_eq(cli_parse_uint("1 ", &v), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_kv_ttl_and_seq_set_take_their_value_as_positional)
{
    ck_assert_int_eq(parse("kv", "ttl", "k", "90s", NULL), 0);
    ck_assert_int_eq(inv.pos_num, 90000);
    ck_assert_int_eq(parse("seq", "set", "s", "41", "--force", NULL), 0);
    ck_assert_int_eq(inv.pos_num, 41);
    ck_assert(inv.set[OPT_FORCE]);
}
END_TEST

/* ---- kv set rules ---- */

START_TEST(test_kv_set_needs_value_or_file_not_both)
{
    assert_usage_error("kv", "set", "k");
    assert_usage_error("kv", "set", "k", "v", "--file", "/etc/hosts");
    ck_assert_int_eq(parse("kv", "set", "k", "--file", "-", NULL), 0);
    ck_assert_str_eq(inv.str[OPT_FILE], "-");
    ck_assert_int_eq(inv.npos, 1);
}
END_TEST

START_TEST(test_kv_set_conditions_exclude_each_other)
{
    assert_usage_error("kv", "set", "k", "v", "--if-not-exists", "--if-exists");
    assert_usage_error("kv", "set", "k", "v", "--if-revision", "3", "--if-value", "x");
    ck_assert_int_eq(parse("kv", "set", "k", "v", "--if-revision", "3", NULL), 0);
    ck_assert_int_eq(inv.num[OPT_IF_REVISION], 3);
    ck_assert_int_eq(parse("kv", "set", "k", "v", "--if-value", "", NULL), 0);
    ck_assert_str_eq(inv.str[OPT_IF_VALUE], "");
}
END_TEST

START_TEST(test_double_dash_makes_a_dash_value_positional)
{
    ck_assert_int_eq(parse("kv", "set", "k", "--", "-1", NULL), 0);
    ck_assert_str_eq(inv.pos[1], "-1");
    ck_assert_int_eq(parse("kv", "set", "--ttl", "1s", "--", "k", "--json", NULL), 0);
    ck_assert_str_eq(inv.pos[0], "k");
    ck_assert_str_eq(inv.pos[1], "--json");
    ck_assert(!inv.json);
}
END_TEST

START_TEST(test_key_must_be_1_to_4096_bytes)
{
    char *big = malloc(CLI_MAX_NAME + 2);
    memset(big, 'k', CLI_MAX_NAME + 1);
    big[CLI_MAX_NAME + 1] = '\0';
    assert_usage_error("kv", "get", big);
    big[CLI_MAX_NAME] = '\0';
    ck_assert_int_eq(parse("kv", "get", big, NULL), 0);
    assert_usage_error("kv", "get", "");
    assert_usage_error("lock", "info", "");
    free(big);
}
END_TEST

/* ---- lock options and lock run ---- */

START_TEST(test_lock_ttl_must_be_positive_and_owner_1_to_256_bytes)
{
    assert_usage_error("lock", "acquire", "L", "--ttl", "0");
    assert_usage_error("lock", "acquire", "L", "--owner", "");
    char owner[CLI_MAX_OWNER + 2];
    memset(owner, 'o', sizeof(owner) - 1);
    owner[sizeof(owner) - 1] = '\0';
    assert_usage_error("lock", "release", "L", "--owner", owner);
    owner[CLI_MAX_OWNER] = '\0';
    ck_assert_int_eq(parse("lock", "release", "L", "--owner", owner, NULL), 0);
}
END_TEST

START_TEST(test_lock_run_takes_the_command_after_double_dash)
{
    ck_assert_int_eq(parse("lock", "run", "jobs/nightly", "--ttl", "1m", "--wait=5s", "--", "sh", "-c",
                           "echo hi", "--ttl", "x", NULL), 0);
    assert_cmd("lock", "run");
    ck_assert_str_eq(inv.pos[0], "jobs/nightly");
    ck_assert_int_eq(inv.num[OPT_TTL], 60000);
    ck_assert_int_eq(inv.num[OPT_WAIT], 5000);
    ck_assert_int_eq(inv.ncommand, 5);
    ck_assert_str_eq(inv.command[0], "sh");
    ck_assert_str_eq(inv.command[3], "--ttl");
    ck_assert_ptr_null(inv.command[inv.ncommand]);
}
END_TEST

START_TEST(test_lock_run_command_options_are_not_ours)
{
    /* without "--", the command starts at the first word after NAME */
    ck_assert_int_eq(parse("lock", "run", "L", "--owner", "me", "ls", "--json", "-l", NULL), 0);
    ck_assert_str_eq(inv.str[OPT_OWNER], "me");
    ck_assert(!inv.json);
    ck_assert_int_eq(inv.ncommand, 3);
    ck_assert_str_eq(inv.command[0], "ls");
    ck_assert_str_eq(inv.command[1], "--json");
}
END_TEST

START_TEST(test_lock_run_needs_name_and_command)
{
    assert_usage_error("lock", "run", "L");
    assert_usage_error("lock", "run", "L", "--");
    assert_usage_error("lock", "run", "--", "true");
    assert_usage_error("lock", "run", "L", "--count", "3", "--", "true");
}
END_TEST

/* ---- help and version ---- */

START_TEST(test_help_wins_over_other_errors)
{
    ck_assert_int_eq(parse("kv", "set", "--help", NULL), 0);
    ck_assert(inv.help);
    assert_cmd("kv", "set");
    ck_assert_int_eq(parse("--help", NULL), 0);
    ck_assert(inv.help);
    ck_assert_ptr_null(inv.cmd);
    ck_assert_int_eq(parse("kv", "-h", NULL), 0);
    ck_assert(inv.help);
    ck_assert_str_eq(inv.noun, "kv");
    ck_assert_int_eq(parse("help", "lock", NULL), 0);
    ck_assert(inv.help);
    ck_assert_str_eq(inv.noun, "lock");
    /* but not when --help belongs to the command lock run runs */
    ck_assert_int_eq(parse("lock", "run", "L", "--", "grep", "--help", NULL), 0);
    ck_assert(!inv.help);
}
END_TEST

START_TEST(test_version_needs_no_command)
{
    ck_assert_int_eq(parse("--version", NULL), 0);
    ck_assert(inv.version);
}
END_TEST

START_TEST(test_usage_lists_every_command)
{
    kbuf u = KBUF_INIT;
    ck_assert_int_eq(cli_usage(&u, NULL, NULL), 0);
    for (const cli_cmd *c = cli_commands; c->noun; c++) {
        char line[128];
        snprintf(line, sizeof(line), "kahuna-cli %s%s%s", c->noun, c->verb ? " " : "", c->verb ? c->verb : "");
        ck_assert_msg(strstr(kbuf_str(&u), line), "usage misses %s", line);
    }
    kbuf_free(&u);
}
END_TEST

/* ---- endpoints ---- */

START_TEST(test_endpoints_split_on_commas_without_trailing_slash)
{
    char **eps;
    size_t n;
    ck_assert_int_eq(cli_split_endpoints("http://a:1, https://b:2/ ,http://[::1]:3", &eps, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(eps[0], "http://a:1");
    ck_assert_str_eq(eps[1], "https://b:2");
    ck_assert_str_eq(eps[2], "http://[::1]:3");
    cli_free_endpoints(eps, n);
}
END_TEST

START_TEST(test_bad_endpoint_is_refused)
{
    static const char *const bad[] = {"", "a:1", "ftp://a:1", "http://", "http://a:1,", ",http://a:1",
                                      "http://a:1/v1", "http://a:1?x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char **eps = NULL;
        size_t n = 0;
        ck_assert_msg(cli_split_endpoints(bad[i], &eps, &n, &err) == KAHUNA_EBADREQ, "accepted '%s'", bad[i]);
        ck_assert_ptr_null(eps);
    }
}
END_TEST

/* ---- exit statuses ---- */

START_TEST(test_exit_status_for_answers)
{
    ck_assert_int_eq(cli_exit_for_http(200), 0);
    ck_assert_int_eq(cli_exit_for_http(204), 0);
    ck_assert_int_eq(cli_exit_for_http(404), 1);
    ck_assert_int_eq(cli_exit_for_http(409), 1);
    ck_assert_int_eq(cli_exit_for_http(503), 69);
    ck_assert_int_eq(cli_exit_for_http(504), 69);
    ck_assert_int_eq(cli_exit_for_http(400), 70);
    ck_assert_int_eq(cli_exit_for_http(410), 70);
    ck_assert_int_eq(cli_exit_for_http(413), 70);
    ck_assert_int_eq(cli_exit_for_http(500), 70);
}
END_TEST

START_TEST(test_exit_status_when_no_answer_came)
{
    ck_assert_int_eq(cli_exit_for_error(KAHUNA_EUNAVAILABLE), 69);
    ck_assert_int_eq(cli_exit_for_error(KAHUNA_ETIMEOUT), 69);
    ck_assert_int_eq(cli_exit_for_error(KAHUNA_EIO), 69);
    ck_assert_int_eq(cli_exit_for_error(KAHUNA_ENOMEM), 70);
    ck_assert_int_eq(cli_exit_for_error(KAHUNA_EINTERNAL), 70);
}
END_TEST

static int wait_status_of_child(int how)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (how == 0)
            _exit(7);
        raise(SIGKILL);
        _exit(99);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    return ws;
}

START_TEST(test_lock_run_exit_status_passes_the_command_status_through)
{
    ck_assert_int_eq(cli_exit_for_wait_status(wait_status_of_child(0)), 7);
    ck_assert_int_eq(cli_exit_for_wait_status(wait_status_of_child(1)), 128 + SIGKILL);
}
END_TEST

/* ---- owners ---- */

START_TEST(test_owner_is_user_at_host_and_run_owner_adds_pid_and_random)
{
    kbuf o = KBUF_INIT;
    ck_assert_int_eq(cli_format_owner(&o, "alice", "db1"), 0);
    ck_assert_str_eq(kbuf_str(&o), "alice@db1");
    kbuf_reset(&o);
    ck_assert_int_eq(cli_format_run_owner(&o, "alice", "db1", 4242, 0xbeef), 0);
    ck_assert_str_eq(kbuf_str(&o), "alice@db1:4242:0000beef");
    kbuf_free(&o);
}
END_TEST

START_TEST(test_default_owner_is_kahuna_owner_else_user_at_host)
{
    kbuf o = KBUF_INIT;
    ck_assert_int_eq(parse("lock", "acquire", "L", NULL), 0);
    setenv("KAHUNA_OWNER", "cron-a", 1);
    ck_assert_int_eq(lock_default_owner(&inv, &o), 0);
    ck_assert_str_eq(kbuf_str(&o), "cron-a");
    unsetenv("KAHUNA_OWNER");
    setenv("USER", "bob", 1);
    kbuf_reset(&o);
    ck_assert_int_eq(lock_default_owner(&inv, &o), 0);
    ck_assert(strncmp(kbuf_str(&o), "bob@", 4) == 0);
    ck_assert_uint_gt(o.len, 4);
    ck_assert_int_eq(parse("lock", "acquire", "L", "--owner", "explicit", NULL), 0);
    setenv("KAHUNA_OWNER", "cron-a", 1);
    kbuf_reset(&o);
    ck_assert_int_eq(lock_default_owner(&inv, &o), 0);
    ck_assert_str_eq(kbuf_str(&o), "explicit");
    kbuf_free(&o);
}
END_TEST

/* ---- URL paths ---- */

START_TEST(test_names_are_percent_encoded_in_paths_slashes_kept)
{
    kbuf p = KBUF_INIT;
    ck_assert_int_eq(call_path(&p, "/v1/kv/", kbytes_str("app/db url?x#y%"), NULL), 0);
    ck_assert_str_eq(kbuf_str(&p), "/v1/kv/app/db%20url%3Fx%23y%25");
    ck_assert_int_eq(call_path(&p, "/v1/locks/", kbytes_str("jobs/nightly"), "/acquire"), 0);
    ck_assert_str_eq(kbuf_str(&p), "/v1/locks/jobs/nightly/acquire");
    ck_assert_int_eq(call_qadd(&p, "raw"), 0);
    ck_assert_int_eq(call_query(&p, "after", kbytes_str("a/b&c")), 0);
    ck_assert_str_eq(kbuf_str(&p), "/v1/locks/jobs/nightly/acquire?raw&after=a%2Fb%26c");
    kbuf_free(&p);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_every_command_of_the_spec_is_known);
    tcase_add_test(tc, test_kv_set_takes_key_value_and_ttl);
    tcase_add_test(tc, test_option_value_with_equals_sign);
    tcase_add_test(tc, test_options_may_come_before_or_after_positionals);
    tcase_add_test(tc, test_global_options_are_accepted_anywhere);
    tcase_add_test(tc, test_defaults_when_options_are_absent);
    tcase_add_test(tc, test_command_options_before_the_command_are_a_usage_error);
    tcase_add_test(tc, test_unknown_command_verb_or_option_is_a_usage_error);
    tcase_add_test(tc, test_option_of_another_command_is_a_usage_error);
    tcase_add_test(tc, test_missing_or_extra_arguments_are_a_usage_error);
    tcase_add_test(tc, test_option_without_its_value_is_a_usage_error);
    tcase_add_test(tc, test_durations_take_ms_s_m_h_and_bare_milliseconds);
    tcase_add_test(tc, test_bad_duration_is_a_usage_error);
    tcase_add_test(tc, test_bad_number_is_a_usage_error);
    tcase_add_test(tc, test_parse_uint_is_strict);
    tcase_add_test(tc, test_kv_ttl_and_seq_set_take_their_value_as_positional);
    tcase_add_test(tc, test_kv_set_needs_value_or_file_not_both);
    tcase_add_test(tc, test_kv_set_conditions_exclude_each_other);
    tcase_add_test(tc, test_double_dash_makes_a_dash_value_positional);
    tcase_add_test(tc, test_key_must_be_1_to_4096_bytes);
    tcase_add_test(tc, test_lock_ttl_must_be_positive_and_owner_1_to_256_bytes);
    tcase_add_test(tc, test_lock_run_takes_the_command_after_double_dash);
    tcase_add_test(tc, test_lock_run_command_options_are_not_ours);
    tcase_add_test(tc, test_lock_run_needs_name_and_command);
    tcase_add_test(tc, test_help_wins_over_other_errors);
    tcase_add_test(tc, test_version_needs_no_command);
    tcase_add_test(tc, test_usage_lists_every_command);
    tcase_add_test(tc, test_endpoints_split_on_commas_without_trailing_slash);
    tcase_add_test(tc, test_bad_endpoint_is_refused);
    tcase_add_test(tc, test_exit_status_for_answers);
    tcase_add_test(tc, test_exit_status_when_no_answer_came);
    tcase_add_test(tc, test_lock_run_exit_status_passes_the_command_status_through);
    tcase_add_test(tc, test_owner_is_user_at_host_and_run_owner_adds_pid_and_random);
    tcase_add_test(tc, test_default_owner_is_kahuna_owner_else_user_at_host);
    tcase_add_test(tc, test_names_are_percent_encoded_in_paths_slashes_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
