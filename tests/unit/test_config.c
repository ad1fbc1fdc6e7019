/* test_config.c: unit tests of daemon/config.c, kahunad's options (SPEC §2).
 *
 * config_parse takes argv, an environment lookup and the config file, so
 * each rule is checked with a fake environment and temporary files: the
 * defaults, each option's accepted and rejected forms, the precedence
 * command line > environment > file, and file errors with FILE:LINE. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h" /* not autoconf's config.h */
#include "errors.h"

/* A fake environment: NULL-terminated "NAME=value" strings. */
static const char *fake_getenv(void *arg, const char *name)
{
    const char *const *env = arg;
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static const char *no_env[] = {"HOME=/home/u", NULL};

#define SECRET "0123456789abcdef0123"   /* a valid peer secret (20 bytes) */
#define PEERS3 "n1=http://10.0.0.1:2070,n2=http://10.0.0.2:2070,n3=http://10.0.0.3:2070"

/* Parses argv (NULL-terminated, without argv[0]) with env. */
static int parse(const char *const *args, const char *const *env, kconfig *c, char **err)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"kahunad";
    for (; args && *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return config_parse(argc, argv, fake_getenv, (void *)env, c, err);
}

/* Expects parse to fail with a message containing want. */
static void expect_error(const char *const *args, const char *const *env, const char *want)
{
    kconfig c;
    char *err = NULL;
    int rc = parse(args, env, &c, &err);
    ck_assert_int_eq(rc, KAHUNA_EBADREQ);
    ck_assert_ptr_nonnull(err);
    if (!strstr(err, want))
        ck_abort_msg("error '%s' does not mention '%s'", err, want);
    free(err);
}

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/kahuna-test-config.XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(test_config_defaults_make_a_single_node_cluster)
{
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(NULL, no_env, &c, &err), 0);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(c.node_id, "n1");
    ck_assert_str_eq(c.listen_host, "127.0.0.1");
    ck_assert_int_eq(c.listen_port, 2070);
    ck_assert_int_eq(c.resp_off, 0);
    ck_assert_str_eq(c.resp_host, "127.0.0.1");
    ck_assert_int_eq(c.resp_port, 7379);
    ck_assert_uint_eq(c.npeers, 0);
    ck_assert_int_eq(c.log_level, LOG_INFO);
    ck_assert_int_eq(c.history_keep, 16);
    ck_assert_int_eq(c.http_threads, 0);
    ck_assert_ptr_null(c.config_file);
    ck_assert_int_eq(config_is_multi_node(&c), 0);
    config_free(&c);
}
END_TEST

START_TEST(test_config_default_data_dir_uses_home_local_share)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--node-id", "alpha", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.data_dir, "/home/u/.local/share/kahuna/alpha");
    config_free(&c);
}
END_TEST

START_TEST(test_config_default_data_dir_prefers_xdg_data_home)
{
    kconfig c;
    char *err = NULL;
    const char *env[] = {"HOME=/home/u", "XDG_DATA_HOME=/srv/data", NULL};
    ck_assert_int_eq(parse(NULL, env, &c, &err), 0);
    ck_assert_str_eq(c.data_dir, "/srv/data/kahuna/n1");
    config_free(&c);
    const char *rel[] = {"HOME=/home/u", "XDG_DATA_HOME=relative", NULL};
    ck_assert_int_eq(parse(NULL, rel, &c, &err), 0);
    ck_assert_str_eq(c.data_dir, "/home/u/.local/share/kahuna/n1");
    config_free(&c);
}
END_TEST

START_TEST(test_config_without_home_asks_for_data_dir)
{
    const char *env[] = {NULL};
    expect_error(NULL, env, "--data-dir");
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--data-dir", "/d", NULL};
    ck_assert_int_eq(parse(args, env, &c, &err), 0);
    ck_assert_str_eq(c.data_dir, "/d");
    config_free(&c);
}
END_TEST

START_TEST(test_config_accepts_both_option_forms)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--node-id=n7", "--listen", "0.0.0.0:8080", "--log-level=debug",
                          "--history-keep", "3", "--http-threads=4", "--data-dir=/x", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.node_id, "n7");
    ck_assert_str_eq(c.listen_host, "0.0.0.0");
    ck_assert_int_eq(c.listen_port, 8080);
    ck_assert_int_eq(c.log_level, LOG_DEBUG);
    ck_assert_int_eq(c.history_keep, 3);
    ck_assert_int_eq(c.http_threads, 4);
    ck_assert_str_eq(c.data_dir, "/x");
    config_free(&c);
}
END_TEST

START_TEST(test_config_node_id_is_1_to_64_safe_characters)
{
    kconfig c;
    char *err = NULL;
    const char *ok[] = {"--node-id", "Node_1.a-b", NULL};
    ck_assert_int_eq(parse(ok, no_env, &c, &err), 0);
    config_free(&c);
    char id64[65], id65[66];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'a', 65);
    id65[65] = '\0';
    const char *ok64[] = {"--node-id", id64, NULL};
    ck_assert_int_eq(parse(ok64, no_env, &c, &err), 0);
    config_free(&c);
    const char *long65[] = {"--node-id", id65, NULL};
    expect_error(long65, no_env, "at most 64");
    const char *empty[] = {"--node-id=", NULL};
    expect_error(empty, no_env, "empty");
    const char *slash[] = {"--node-id", "a/b", NULL};
    expect_error(slash, no_env, "--node-id 'a/b'");
    const char *space[] = {"--node-id", "a b", NULL};
    expect_error(space, no_env, "letters, digits");
}
END_TEST

START_TEST(test_config_listen_takes_ipv4_names_and_bracketed_ipv6)
{
    kconfig c;
    char *err = NULL;
    const char *v6[] = {"--listen", "[::1]:2071", "--resp-listen", "[fe80::1]:7000", NULL};
    ck_assert_int_eq(parse(v6, no_env, &c, &err), 0);
    ck_assert_str_eq(c.listen_host, "::1");
    ck_assert_int_eq(c.listen_port, 2071);
    ck_assert_str_eq(c.resp_host, "fe80::1");
    ck_assert_int_eq(c.resp_port, 7000);
    config_free(&c);
    const char *name[] = {"--listen", "localhost:1", NULL};
    ck_assert_int_eq(parse(name, no_env, &c, &err), 0);
    ck_assert_str_eq(c.listen_host, "localhost");
    ck_assert_int_eq(c.listen_port, 1);
    config_free(&c);
}
END_TEST

START_TEST(test_config_listen_rejects_bad_addresses_and_ports)
{
    const char *cases[][2] = {
        {"127.0.0.1", "HOST:PORT"},
        {"127.0.0.1:0", "1 to 65535"},
        {"127.0.0.1:65536", "1 to 65535"},
        {"127.0.0.1:-1", "1 to 65535"},
        {"127.0.0.1:80x", "1 to 65535"},
        {"127.0.0.1:", "port is missing"},
        {":2070", "host is missing"},
        {"::1:2070", "brackets"},
        {"[::1]2070", "HOST:PORT"},
        {"[::1:2070", "closing bracket"},
        {"[nothex]:2070", "IPv6"},
        {"ho st:80", "host"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"--listen", cases[i][0], NULL};
        expect_error(args, no_env, cases[i][1]);
    }
}
END_TEST

START_TEST(test_config_resp_listen_off_disables_it)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--resp-listen", "off", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_int_eq(c.resp_off, 1);
    ck_assert_ptr_null(c.resp_host);
    config_free(&c);
}
END_TEST

START_TEST(test_config_listen_and_resp_listen_must_differ)
{
    const char *args[] = {"--listen", "127.0.0.1:5000", "--resp-listen", "127.0.0.1:5000", NULL};
    expect_error(args, no_env, "--resp-listen off");
}
END_TEST

START_TEST(test_config_peers_parse_ids_and_urls)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--node-id", "n2", "--peers",
                          "n1=http://10.0.0.1:2070,n2=http://10.0.0.2:2070,n3=https://h3",
                          "--peer-secret", SECRET, NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_uint_eq(c.npeers, 3);
    ck_assert_str_eq(c.peers[0].id, "n1");
    ck_assert_str_eq(c.peers[0].url, "http://10.0.0.1:2070");
    ck_assert_str_eq(c.peers[2].id, "n3");
    ck_assert_str_eq(c.peers[2].url, "https://h3");
    ck_assert_int_eq(config_is_multi_node(&c), 1);
    config_free(&c);
}
END_TEST

START_TEST(test_config_peers_of_only_this_node_is_single_node)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--peers", "n1=http://127.0.0.1:2070", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_uint_eq(c.npeers, 1);
    ck_assert_int_eq(config_is_multi_node(&c), 0);
    config_free(&c);
}
END_TEST

START_TEST(test_config_peers_rejects_malformed_lists)
{
    const char *cases[][2] = {
        {"n1", "ID=URL"},
        {"n1=ftp://x", "http://"},
        {"n1=http://", "needs a host"},
        {"n1=http://a,,n2=http://b", "ID=URL"},
        {"n1=http://a,n1=http://b", "twice"},
        {"bad id=http://a", "letters"},
        {"n2=http://a", "must list this node"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"--peers", cases[i][0], NULL};
        expect_error(args, no_env, cases[i][1]);
    }
}
END_TEST

START_TEST(test_config_log_level_and_numbers_are_checked)
{
    const char *lvl[] = {"--log-level", "verbose", NULL};
    expect_error(lvl, no_env, "error, warn, info, debug");
    const char *hk0[] = {"--history-keep", "0", NULL};
    expect_error(hk0, no_env, "1 to 100000");
    const char *hkx[] = {"--history-keep", "12abc", NULL};
    expect_error(hkx, no_env, "history-keep");
    const char *th[] = {"--http-threads", "-1", NULL};
    expect_error(th, no_env, "http-threads");
}
END_TEST

START_TEST(test_config_unknown_option_and_missing_value_are_errors)
{
    const char *unk[] = {"--bogus", NULL};
    expect_error(unk, no_env, "unknown option '--bogus'");
    const char *miss[] = {"--listen", NULL};
    expect_error(miss, no_env, "--listen needs a value");
    const char *pos[] = {"stray", NULL};
    expect_error(pos, no_env, "unexpected argument 'stray'");
    const char *flagval[] = {"--help=yes", NULL};
    expect_error(flagval, no_env, "takes no value");
}
END_TEST

START_TEST(test_config_help_and_version_skip_other_checks)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--listen", "nonsense", "--help", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_int_eq(c.help, 1);
    config_free(&c);
    const char *v[] = {"--version", NULL};
    ck_assert_int_eq(parse(v, no_env, &c, &err), 0);
    ck_assert_int_eq(c.version, 1);
    config_free(&c);
    const char *h[] = {"-h", NULL};
    ck_assert_int_eq(parse(h, no_env, &c, &err), 0);
    ck_assert_int_eq(c.help, 1);
    config_free(&c);
    ck_assert_ptr_nonnull(strstr(config_usage(), "--node-id"));
    ck_assert_ptr_nonnull(strstr(config_usage(), "--peer-secret"));
    ck_assert_ptr_nonnull(strstr(config_usage(), "--join"));
    ck_assert_ptr_nonnull(strstr(config_usage(), "--advertise-url"));
}
END_TEST

START_TEST(test_config_environment_sets_options)
{
    kconfig c;
    char *err = NULL;
    const char *env[] = {"HOME=/h", "KAHUNA_NODE_ID=envnode", "KAHUNA_LISTEN=127.0.0.2:3000",
                         "KAHUNA_RESP_LISTEN=off", "KAHUNA_LOG_LEVEL=warn",
                         "KAHUNA_DATA_DIR=/envdir", "KAHUNA_HISTORY_KEEP=5", "KAHUNA_HTTP_THREADS=2",
                         "KAHUNA_PEERS=", NULL};
    ck_assert_int_eq(parse(NULL, env, &c, &err), 0);
    ck_assert_str_eq(c.node_id, "envnode");
    ck_assert_str_eq(c.listen_host, "127.0.0.2");
    ck_assert_int_eq(c.listen_port, 3000);
    ck_assert_int_eq(c.resp_off, 1);
    ck_assert_int_eq(c.log_level, LOG_WARN);
    ck_assert_str_eq(c.data_dir, "/envdir");
    ck_assert_int_eq(c.history_keep, 5);
    ck_assert_int_eq(c.http_threads, 2);
    ck_assert_uint_eq(c.npeers, 0); /* empty counts as unset */
    config_free(&c);
}
END_TEST

START_TEST(test_config_bad_environment_value_names_the_variable)
{
    const char *env[] = {"HOME=/h", "KAHUNA_LISTEN=nope", NULL};
    expect_error(NULL, env, "KAHUNA_LISTEN 'nope'");
}
END_TEST

START_TEST(test_config_command_line_overrides_environment_overrides_file)
{
    char *path = write_file("node-id = filenode\nlisten = 127.0.0.3:3003\nlog-level = error\n"
                            "history-keep = 7\n");
    char cfgenv[256];
    snprintf(cfgenv, sizeof cfgenv, "KAHUNA_CONFIG=%s", path);
    const char *env[] = {"HOME=/h", cfgenv, "KAHUNA_NODE_ID=envnode", "KAHUNA_LISTEN=127.0.0.2:3002", NULL};
    const char *args[] = {"--node-id", "cmdnode", NULL};
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(args, env, &c, &err), 0);
    ck_assert_str_eq(c.node_id, "cmdnode");        /* command line beats env and file */
    ck_assert_str_eq(c.listen_host, "127.0.0.2");  /* env beats file */
    ck_assert_int_eq(c.log_level, LOG_ERROR);      /* file beats default */
    ck_assert_int_eq(c.history_keep, 7);
    ck_assert_str_eq(c.config_file, path);
    ck_assert_str_eq(c.data_dir, "/h/.local/share/kahuna/cmdnode");
    config_free(&c);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_config_command_line_config_beats_environment_config)
{
    char *a = write_file("node-id = from-a\n");
    char *b = write_file("node-id = from-b\n");
    char cfgenv[256];
    snprintf(cfgenv, sizeof cfgenv, "KAHUNA_CONFIG=%s", a);
    const char *env[] = {"HOME=/h", cfgenv, NULL};
    const char *args[] = {"--config", b, NULL};
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(args, env, &c, &err), 0);
    ck_assert_str_eq(c.node_id, "from-b");
    config_free(&c);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_config_file_allows_comments_blanks_quotes_and_underscores)
{
    char *path = write_file("# kahuna\n\n   \nnode_id = \"q1\"   # trailing comment\n"
                            "\tresp-listen=off\r\n--data-dir = /var/lib/k#1\n");
    const char *args[] = {"--config", path, NULL};
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.node_id, "q1");
    ck_assert_int_eq(c.resp_off, 1);
    ck_assert_str_eq(c.data_dir, "/var/lib/k#1");
    config_free(&c);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_config_file_errors_give_file_and_line)
{
    struct { const char *text; const char *want; } cases[] = {
        {"node-id = a\nbogus = 1\n", ":2: unknown key 'bogus'"},
        {"\n\nthis line has no equals\n", ":3: expected 'key = value'"},
        {"listen = 1.2.3.4\n", ":1: listen '1.2.3.4'"},
        {"config = other\n", ":1: 'config' cannot be set"},
        {"node-id =\n", ":1: node-id has no value"},
        {" = x\n", ":1: the key is missing"},
        {"help = 1\n", ":1: unknown key 'help'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_file(cases[i].text);
        const char *args[] = {"--config", path, NULL};
        char want[512];
        snprintf(want, sizeof want, "%s%s", path, cases[i].want);
        expect_error(args, no_env, want);
        unlink(path);
        free(path);
    }
}
END_TEST

START_TEST(test_config_missing_file_is_an_error)
{
    const char *args[] = {"--config", "/nonexistent/kahuna.conf", NULL};
    expect_error(args, no_env, "cannot read config file /nonexistent/kahuna.conf");
}
END_TEST

/* ---- clusters (issue 3) ---- */

START_TEST(test_config_multi_node_peers_need_a_peer_secret)
{
    const char *args[] = {"--peers", PEERS3, NULL};
    expect_error(args, no_env, "--peer-secret SECRET or set KAHUNA_PEER_SECRET");
    expect_error(args, no_env, "same value on every node");
}
END_TEST

START_TEST(test_config_join_needs_a_peer_secret)
{
    const char *args[] = {"--join", NULL};
    expect_error(args, no_env, "--join needs a peer secret");
}
END_TEST

START_TEST(test_config_peer_secret_shorter_than_16_bytes_is_refused)
{
    const char *s15[] = {"--peer-secret", "0123456789abcde", NULL};
    expect_error(s15, no_env, "--peer-secret: the peer secret is too short: use at least 16 bytes");
    const char *env[] = {"HOME=/h", "KAHUNA_PEER_SECRET=short", NULL};
    expect_error(NULL, env, "KAHUNA_PEER_SECRET: the peer secret is too short");
    /* the message never repeats the secret */
    kconfig c;
    char *err = NULL;
    const char *s15b[] = {"--peer-secret", "hunter2hunter2", NULL};
    ck_assert_int_eq(parse(s15b, no_env, &c, &err), KAHUNA_EBADREQ);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    free(err);
    err = NULL;
    const char *s16[] = {"--peer-secret", "0123456789abcdef", NULL};
    ck_assert_int_eq(parse(s16, no_env, &c, &err), 0);
    ck_assert_str_eq(c.peer_secret, "0123456789abcdef");
    config_free(&c);
}
END_TEST

START_TEST(test_config_peer_secret_is_visible_ascii_without_spaces)
{
    const char *sp[] = {"--peer-secret", "0123456789 abcdef", NULL};
    expect_error(sp, no_env, "visible ASCII");
    const char *ctl[] = {"--peer-secret", "0123456789abcdef\r\nX-Evil: 1", NULL};
    expect_error(ctl, no_env, "visible ASCII");
    const char *utf8[] = {"--peer-secret", "0123456789abcdef\xc3\xa9", NULL};
    expect_error(utf8, no_env, "visible ASCII");
}
END_TEST

START_TEST(test_config_peer_secret_comes_from_environment_or_file)
{
    kconfig c;
    char *err = NULL;
    const char *env[] = {"HOME=/h", "KAHUNA_PEER_SECRET=" SECRET, "KAHUNA_PEERS=" PEERS3, NULL};
    ck_assert_int_eq(parse(NULL, env, &c, &err), 0);
    ck_assert_str_eq(c.peer_secret, SECRET);
    ck_assert_int_eq(config_is_clustered(&c), 1);
    config_free(&c);
    char *path = write_file("peer-secret = \"" SECRET "\"\npeers = " PEERS3 "\n");
    const char *args[] = {"--config", path, NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.peer_secret, SECRET);
    config_free(&c);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_config_single_node_may_carry_a_peer_secret)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--peer-secret", SECRET, NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.peer_secret, SECRET);
    ck_assert_int_eq(config_is_clustered(&c), 0);
    config_free(&c);
    ck_assert_int_eq(parse(NULL, no_env, &c, &err), 0);
    ck_assert_ptr_null(c.peer_secret);
    ck_assert_int_eq(c.join, 0);
    config_free(&c);
}
END_TEST

START_TEST(test_config_join_comes_from_flag_environment_or_file)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--join", "--peer-secret", SECRET, "--peers", PEERS3, NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_int_eq(c.join, 1);
    ck_assert_int_eq(config_is_clustered(&c), 1);
    config_free(&c);
    const char *nopeers[] = {"--join", "--peer-secret", SECRET, NULL};
    expect_error(nopeers, no_env, "--join needs --peers");
    const char *env[] = {"HOME=/h", "KAHUNA_JOIN=1", "KAHUNA_PEER_SECRET=" SECRET, "KAHUNA_PEERS=" PEERS3, NULL};
    ck_assert_int_eq(parse(NULL, env, &c, &err), 0);
    ck_assert_int_eq(c.join, 1);
    config_free(&c);
    const char *env0[] = {"HOME=/h", "KAHUNA_JOIN=false", NULL};
    ck_assert_int_eq(parse(NULL, env0, &c, &err), 0);
    ck_assert_int_eq(c.join, 0);
    config_free(&c);
    char *path = write_file("join = yes\npeer-secret = " SECRET "\npeers = " PEERS3 "\n");
    const char *fargs[] = {"--config", path, NULL};
    ck_assert_int_eq(parse(fargs, no_env, &c, &err), 0);
    ck_assert_int_eq(c.join, 1);
    config_free(&c);
    unlink(path);
    free(path);
    const char *bad[] = {"HOME=/h", "KAHUNA_JOIN=maybe", NULL};
    expect_error(NULL, bad, "KAHUNA_JOIN 'maybe': expected 1 or 0");
    const char *val[] = {"--join=1", NULL};
    expect_error(val, no_env, "takes no value");
}
END_TEST

START_TEST(test_config_join_takes_peers_as_information_only)
{
    /* a new node n4 joining n1..n3: the list need not name it */
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--node-id", "n4", "--join", "--peers", PEERS3, "--peer-secret", SECRET,
                          "--listen", "10.0.0.4:2070", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_int_eq(c.join, 1);
    ck_assert_uint_eq(c.npeers, 3);
    ck_assert_str_eq(c.advertise_url, "http://10.0.0.4:2070");
    config_free(&c);
    /* without --join the same list is refused */
    const char *nojoin[] = {"--node-id", "n4", "--peers", PEERS3, "--peer-secret", SECRET, NULL};
    expect_error(nojoin, no_env, "must list this node too");
}
END_TEST

START_TEST(test_config_advertise_url_defaults_to_this_nodes_peers_entry)
{
    kconfig c;
    char *err = NULL;
    const char *args[] = {"--node-id", "n2", "--peers", PEERS3, "--peer-secret", SECRET,
                          "--listen", "0.0.0.0:2070", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_str_eq(c.advertise_url, "http://10.0.0.2:2070");
    config_free(&c);
}
END_TEST

START_TEST(test_config_advertise_url_defaults_to_the_listen_address)
{
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(NULL, no_env, &c, &err), 0);
    ck_assert_str_eq(c.advertise_url, "http://127.0.0.1:2070");
    config_free(&c);
    const char *v6[] = {"--listen", "[::1]:2080", NULL};
    ck_assert_int_eq(parse(v6, no_env, &c, &err), 0);
    ck_assert_str_eq(c.advertise_url, "http://[::1]:2080");
    config_free(&c);
    /* a single node without a peer secret may listen on every interface
     * without saying more: it never talks to peers */
    const char *any[] = {"--listen", "0.0.0.0:2070", NULL};
    ck_assert_int_eq(parse(any, no_env, &c, &err), 0);
    config_free(&c);
}
END_TEST

START_TEST(test_config_clustered_wildcard_listen_needs_advertise_url)
{
    const char *v4[] = {"--join", "--peer-secret", SECRET, "--listen", "0.0.0.0:2070", NULL};
    expect_error(v4, no_env, "pass --advertise-url http://THIS_HOST:2070");
    const char *v6[] = {"--join", "--peer-secret", SECRET, "--listen", "[::]:2071", NULL};
    expect_error(v6, no_env, "--listen [::]:2071 is not an address other nodes can reach");
    /* a single node with a secret may take members later: the same rule */
    const char *single[] = {"--peer-secret", SECRET, "--listen", "0.0.0.0:2070", NULL};
    expect_error(single, no_env, "pass --advertise-url");
    kconfig c;
    char *err = NULL;
    const char *ok[] = {"--join", "--peer-secret", SECRET, "--listen", "0.0.0.0:2070",
                        "--advertise-url", "http://10.0.0.9:2070/", "--peers", PEERS3, "--node-id", "n9", NULL};
    ck_assert_int_eq(parse(ok, no_env, &c, &err), 0);
    ck_assert_str_eq(c.advertise_url, "http://10.0.0.9:2070");  /* trailing '/' dropped */
    config_free(&c);
}
END_TEST

START_TEST(test_config_advertise_url_must_be_reachable_and_well_formed)
{
    const char *cases[][2] = {
        {"ftp://h:1", "http://"},
        {"http://", "needs a host"},
        {"http://a b", "spaces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"--advertise-url", cases[i][0], NULL};
        expect_error(args, no_env, cases[i][1]);
    }
    const char *wild[] = {"--join", "--peer-secret", SECRET, "--advertise-url", "http://0.0.0.0:2070", NULL};
    expect_error(wild, no_env, "not an address other nodes can reach");
    const char *wildpeers[] = {"--peers", "n1=http://0.0.0.0:2070,n2=http://10.0.0.2:2070",
                               "--peer-secret", SECRET, NULL};
    expect_error(wildpeers, no_env, "http://0.0.0.0:2070 is not an address other nodes can reach");
}
END_TEST

START_TEST(test_config_advertise_url_must_match_this_nodes_peers_entry)
{
    const char *args[] = {"--peers", PEERS3, "--peer-secret", SECRET,
                          "--advertise-url", "http://10.9.9.9:2070", NULL};
    expect_error(args, no_env, "differs from this node's URL in --peers (n1=http://10.0.0.1:2070)");
    kconfig c;
    char *err = NULL;
    const char *same[] = {"--peers", PEERS3, "--peer-secret", SECRET,
                          "--advertise-url", "http://10.0.0.1:2070/", NULL};
    ck_assert_int_eq(parse(same, no_env, &c, &err), 0);
    ck_assert_str_eq(c.advertise_url, "http://10.0.0.1:2070");
    config_free(&c);
}
END_TEST

START_TEST(test_config_snapshot_entries_is_a_number_0_means_default)
{
    kconfig c;
    char *err = NULL;
    ck_assert_int_eq(parse(NULL, no_env, &c, &err), 0);
    ck_assert_uint_eq(c.snapshot_entries, 0);
    config_free(&c);
    const char *args[] = {"--snapshot-entries", "50", NULL};
    ck_assert_int_eq(parse(args, no_env, &c, &err), 0);
    ck_assert_uint_eq(c.snapshot_entries, 50);
    config_free(&c);
    const char *env[] = {"HOME=/h", "KAHUNA_SNAPSHOT_ENTRIES=7", NULL};
    ck_assert_int_eq(parse(NULL, env, &c, &err), 0);
    ck_assert_uint_eq(c.snapshot_entries, 7);
    config_free(&c);
    const char *neg[] = {"--snapshot-entries", "-1", NULL};
    expect_error(neg, no_env, "snapshot-entries is a whole number");
    const char *big[] = {"--snapshot-entries", "1000000001", NULL};
    expect_error(big, no_env, "snapshot-entries is a whole number");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, test_config_defaults_make_a_single_node_cluster);
    tcase_add_test(tc, test_config_default_data_dir_uses_home_local_share);
    tcase_add_test(tc, test_config_default_data_dir_prefers_xdg_data_home);
    tcase_add_test(tc, test_config_without_home_asks_for_data_dir);
    tcase_add_test(tc, test_config_accepts_both_option_forms);
    tcase_add_test(tc, test_config_node_id_is_1_to_64_safe_characters);
    tcase_add_test(tc, test_config_listen_takes_ipv4_names_and_bracketed_ipv6);
    tcase_add_test(tc, test_config_listen_rejects_bad_addresses_and_ports);
    tcase_add_test(tc, test_config_resp_listen_off_disables_it);
    tcase_add_test(tc, test_config_listen_and_resp_listen_must_differ);
    tcase_add_test(tc, test_config_peers_parse_ids_and_urls);
    tcase_add_test(tc, test_config_peers_of_only_this_node_is_single_node);
    tcase_add_test(tc, test_config_peers_rejects_malformed_lists);
    tcase_add_test(tc, test_config_log_level_and_numbers_are_checked);
    tcase_add_test(tc, test_config_unknown_option_and_missing_value_are_errors);
    tcase_add_test(tc, test_config_help_and_version_skip_other_checks);
    suite_add_tcase(s, tc);

    tc = tcase_create("cluster");
    tcase_add_test(tc, test_config_multi_node_peers_need_a_peer_secret);
    tcase_add_test(tc, test_config_join_needs_a_peer_secret);
    tcase_add_test(tc, test_config_peer_secret_shorter_than_16_bytes_is_refused);
    tcase_add_test(tc, test_config_peer_secret_is_visible_ascii_without_spaces);
    tcase_add_test(tc, test_config_peer_secret_comes_from_environment_or_file);
    tcase_add_test(tc, test_config_single_node_may_carry_a_peer_secret);
    tcase_add_test(tc, test_config_join_comes_from_flag_environment_or_file);
    tcase_add_test(tc, test_config_join_takes_peers_as_information_only);
    tcase_add_test(tc, test_config_advertise_url_defaults_to_this_nodes_peers_entry);
    tcase_add_test(tc, test_config_advertise_url_defaults_to_the_listen_address);
    tcase_add_test(tc, test_config_clustered_wildcard_listen_needs_advertise_url);
    tcase_add_test(tc, test_config_advertise_url_must_be_reachable_and_well_formed);
    tcase_add_test(tc, test_config_advertise_url_must_match_this_nodes_peers_entry);
    tcase_add_test(tc, test_config_snapshot_entries_is_a_number_0_means_default);
    suite_add_tcase(s, tc);

    tc = tcase_create("sources");
    tcase_add_test(tc, test_config_environment_sets_options);
    tcase_add_test(tc, test_config_bad_environment_value_names_the_variable);
    tcase_add_test(tc, test_config_command_line_overrides_environment_overrides_file);
    tcase_add_test(tc, test_config_command_line_config_beats_environment_config);
    tcase_add_test(tc, test_config_file_allows_comments_blanks_quotes_and_underscores);
    tcase_add_test(tc, test_config_file_errors_give_file_and_line);
    tcase_add_test(tc, test_config_missing_file_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
