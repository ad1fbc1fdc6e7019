/* cli.c: kahuna-cli's command table and argument parsing (SPEC §5), and
 * the rules that turn answers into exit statuses. Pure: no I/O here.
 *
 * Command lines are "[global options] NOUN VERB [ARGS]". Options may come
 * before or after the positional arguments, as "--ttl 30s" or "--ttl=30s";
 * global options are accepted anywhere. "--" ends the options: what follows
 * is positional (a VALUE that starts with '-'), or for lock run the command
 * to run. */
#include "cli.h"
#include "duration.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

enum opt_type { T_FLAG, T_STR, T_DUR, T_NUM };

static const struct {
    const char *name;
    enum opt_type type;
} opt_specs[OPT__COUNT] = {
    [OPT_ENDPOINTS] = {"endpoints", T_STR},
    [OPT_TIMEOUT] = {"timeout", T_DUR},
    [OPT_JSON] = {"json", T_FLAG},
    [OPT_QUIET] = {"quiet", T_FLAG},
    [OPT_HELP] = {"help", T_FLAG},
    [OPT_VERSION] = {"version", T_FLAG},
    [OPT_TTL] = {"ttl", T_DUR},
    [OPT_WAIT] = {"wait", T_DUR},
    [OPT_OWNER] = {"owner", T_STR},
    [OPT_FILE] = {"file", T_STR},
    [OPT_IF_NOT_EXISTS] = {"if-not-exists", T_FLAG},
    [OPT_IF_EXISTS] = {"if-exists", T_FLAG},
    [OPT_IF_REVISION] = {"if-revision", T_NUM},
    [OPT_IF_VALUE] = {"if-value", T_STR},
    [OPT_REVISION] = {"revision", T_NUM},
    [OPT_STALE] = {"stale", T_FLAG},
    [OPT_LIMIT] = {"limit", T_NUM},
    [OPT_COUNT] = {"count", T_NUM},
    [OPT_FORCE] = {"force", T_FLAG},
};

#define B(o) CLI_OPT_BIT(o)
#define GLOBAL_OPTS (B(OPT_ENDPOINTS) | B(OPT_TIMEOUT) | B(OPT_JSON) | B(OPT_QUIET) | B(OPT_HELP) | B(OPT_VERSION))
#define COND_OPTS (B(OPT_IF_NOT_EXISTS) | B(OPT_IF_EXISTS) | B(OPT_IF_REVISION) | B(OPT_IF_VALUE))

static int fail(kbuf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(kbuf *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kbuf_reset(err);
    kbuf_vprintf(err, fmt, ap);
    va_end(ap);
    return KAHUNA_EBADREQ;
}

/* ---- checks of parsed values, per command ---- */

static int check_name_arg(const char *what, const char *s, kbuf *err)
{
    size_t n = strlen(s);
    if (n == 0)
        return fail(err, "%s must not be empty", what);
    if (n > CLI_MAX_NAME)
        return fail(err, "%s is %zu bytes long; at most %d are allowed", what, n, CLI_MAX_NAME);
    return 0;
}

static int check_owner(cli_inv *inv, kbuf *err)
{
    if (!inv->set[OPT_OWNER])
        return 0;
    size_t n = strlen(inv->str[OPT_OWNER]);
    if (n == 0 || n > CLI_MAX_OWNER)
        return fail(err, "--owner must be 1 to %d bytes long", CLI_MAX_OWNER);
    return 0;
}

static int check_key(cli_inv *inv, kbuf *err)
{
    return check_name_arg("KEY", inv->pos[0], err);
}

static int check_name(cli_inv *inv, kbuf *err)
{
    return check_name_arg("NAME", inv->pos[0], err);
}

static int check_kv_set(cli_inv *inv, kbuf *err)
{
    int rc = check_key(inv, err);
    if (rc)
        return rc;
    if (inv->npos == 2 && inv->set[OPT_FILE])
        return fail(err, "kv set takes VALUE or --file, not both");
    if (inv->npos == 1 && !inv->set[OPT_FILE])
        return fail(err, "kv set needs a VALUE or --file PATH|-");
    int conds = inv->set[OPT_IF_NOT_EXISTS] + inv->set[OPT_IF_EXISTS] + inv->set[OPT_IF_REVISION] +
                inv->set[OPT_IF_VALUE];
    if (conds > 1)
        return fail(err, "--if-not-exists, --if-exists, --if-revision and --if-value exclude each other");
    if (inv->set[OPT_FILE] && !inv->str[OPT_FILE][0])
        return fail(err, "--file needs a PATH, or - for standard input");
    return 0;
}

static int check_kv_get(cli_inv *inv, kbuf *err)
{
    int rc = check_key(inv, err);
    if (rc)
        return rc;
    if (inv->set[OPT_REVISION] && inv->num[OPT_REVISION] < 1)
        return fail(err, "--revision must be 1 or more");
    if (inv->set[OPT_REVISION] && inv->set[OPT_STALE])
        return fail(err, "--revision and --stale exclude each other");
    return 0;
}

static int check_kv_ttl(cli_inv *inv, kbuf *err)
{
    int rc = check_key(inv, err);
    if (rc)
        return rc;
    if (duration_parse_ms(inv->pos[1], &inv->pos_num) != 0)
        return fail(err, "bad duration '%s' (use 500ms, 30s, 5m, 1h, or milliseconds)", inv->pos[1]);
    return 0;
}

static int check_limit(cli_inv *inv, kbuf *err)
{
    if (inv->set[OPT_LIMIT] && inv->num[OPT_LIMIT] < 1)
        return fail(err, "--limit must be 1 or more");
    return 0;
}

static int check_lock(cli_inv *inv, kbuf *err)
{
    int rc = check_name(inv, err);
    if (!rc)
        rc = check_owner(inv, err);
    if (rc)
        return rc;
    if (inv->set[OPT_TTL] && inv->num[OPT_TTL] < 1)
        return fail(err, "--ttl must be more than 0");
    return 0;
}

static int check_lock_run(cli_inv *inv, kbuf *err)
{
    int rc = check_lock(inv, err);
    if (rc)
        return rc;
    if (inv->ncommand == 0)
        return fail(err, "lock run needs a COMMAND after NAME (lock run NAME [options] -- COMMAND [ARGS...])");
    return 0;
}

static int check_seq_next(cli_inv *inv, kbuf *err)
{
    int rc = check_name(inv, err);
    if (rc)
        return rc;
    if (inv->set[OPT_COUNT] && inv->num[OPT_COUNT] < 1)
        return fail(err, "--count must be 1 or more");
    return 0;
}

static int check_seq_set(cli_inv *inv, kbuf *err)
{
    int rc = check_name(inv, err);
    if (rc)
        return rc;
    if (cli_parse_uint(inv->pos[1], &inv->pos_num) != 0)
        return fail(err, "bad VALUE '%s': a number 0 or more is needed", inv->pos[1]);
    return 0;
}

static int check_cluster_add(cli_inv *inv, kbuf *err)
{
    char **eps = NULL;
    size_t n = 0;
    if (!inv->pos[0][0])
        return fail(err, "ID must not be empty");
    int rc = cli_split_endpoints(inv->pos[1], &eps, &n, err);
    cli_free_endpoints(eps, n);
    if (rc)
        return rc;
    if (n != 1)
        return fail(err, "cluster add takes one URL");
    return 0;
}

static int check_cluster_id(cli_inv *inv, kbuf *err)
{
    if (inv->npos > 0 && !inv->pos[0][0])
        return fail(err, "ID must not be empty");
    return 0;
}

/* ---- the table ---- */

const cli_cmd cli_commands[] = {
    {"kv", "set", cmd_kv_set, B(OPT_TTL) | B(OPT_FILE) | COND_OPTS, 1, 2, 0, check_kv_set,
     "KEY VALUE [--ttl D] [--if-not-exists|--if-exists|--if-revision N|--if-value V]\n"
     "KEY --file PATH|- [--ttl D] [--if-...]"},
    {"kv", "get", cmd_kv_get, B(OPT_REVISION) | B(OPT_STALE), 1, 1, 0, check_kv_get,
     "KEY [--revision N] [--stale]"},
    {"kv", "del", cmd_kv_del, B(OPT_IF_REVISION), 1, 1, 0, check_key, "KEY [--if-revision N]"},
    {"kv", "ttl", cmd_kv_ttl, 0, 2, 2, 0, check_kv_ttl, "KEY D"},
    {"kv", "ls", cmd_kv_ls, B(OPT_LIMIT) | B(OPT_STALE), 0, 1, 0, check_limit, "[PREFIX] [--limit N] [--stale]"},
    {"kv", "history", cmd_kv_history, 0, 1, 1, 0, check_key, "KEY"},
    {"lock", "acquire", cmd_lock_acquire, B(OPT_OWNER) | B(OPT_TTL) | B(OPT_WAIT), 1, 1, 0, check_lock,
     "NAME [--owner O] [--ttl D] [--wait D]"},
    {"lock", "extend", cmd_lock_extend, B(OPT_OWNER) | B(OPT_TTL), 1, 1, 0, check_lock,
     "NAME [--owner O] [--ttl D]"},
    {"lock", "release", cmd_lock_release, B(OPT_OWNER), 1, 1, 0, check_lock, "NAME [--owner O]"},
    {"lock", "info", cmd_lock_info, 0, 1, 1, 0, check_name, "NAME"},
    {"lock", "ls", cmd_lock_ls, B(OPT_LIMIT), 0, 1, 0, check_limit, "[PREFIX] [--limit N]"},
    {"lock", "run", cmd_lock_run, B(OPT_OWNER) | B(OPT_TTL) | B(OPT_WAIT), 1, 1, 1, check_lock_run,
     "NAME [--ttl D] [--wait D] [--owner O] -- COMMAND [ARGS...]"},
    {"seq", "next", cmd_seq_next, B(OPT_COUNT), 1, 1, 0, check_seq_next, "NAME [--count N]"},
    {"seq", "get", cmd_seq_get, 0, 1, 1, 0, check_name, "NAME"},
    {"seq", "set", cmd_seq_set, B(OPT_FORCE), 2, 2, 0, check_seq_set, "NAME VALUE [--force]"},
    {"seq", "del", cmd_seq_del, 0, 1, 1, 0, check_name, "NAME"},
    {"seq", "ls", cmd_seq_ls, B(OPT_LIMIT), 0, 1, 0, check_limit, "[PREFIX] [--limit N]"},
    {"cluster", "status", cmd_cluster_status, 0, 0, 0, 0, NULL, ""},
    {"cluster", "members", cmd_cluster_members, 0, 0, 0, 0, NULL, ""},
    {"cluster", "add", cmd_cluster_add, 0, 2, 2, 0, check_cluster_add, "ID URL"},
    {"cluster", "remove", cmd_cluster_remove, 0, 1, 1, 0, check_cluster_id, "ID"},
    {"cluster", "transfer-leader", cmd_cluster_transfer, 0, 0, 1, 0, check_cluster_id, "[ID]"},
    {"health", NULL, cmd_health, 0, 0, 0, 0, NULL, ""},
    {NULL, NULL, NULL, 0, 0, 0, 0, NULL, NULL},
};

int cli_noun_known(const char *noun)
{
    for (const cli_cmd *c = cli_commands; c->noun; c++)
        if (strcmp(c->noun, noun) == 0)
            return 1;
    return 0;
}

static int noun_has_verbs(const char *noun)
{
    for (const cli_cmd *c = cli_commands; c->noun; c++)
        if (strcmp(c->noun, noun) == 0)
            return c->verb != NULL;
    return 0;
}

static const cli_cmd *find_cmd(const char *noun, const char *verb)
{
    for (const cli_cmd *c = cli_commands; c->noun; c++)
        if (strcmp(c->noun, noun) == 0 &&
            ((!verb && !c->verb) || (verb && c->verb && strcmp(c->verb, verb) == 0)))
            return c;
    return NULL;
}

static void list_verbs(kbuf *out, const char *noun)
{
    const char *sep = "";
    for (const cli_cmd *c = cli_commands; c->noun; c++)
        if (strcmp(c->noun, noun) == 0 && c->verb) {
            kbuf_printf(out, "%s%s", sep, c->verb);
            sep = ", ";
        }
}

/* ---- parsing ---- */

static int is_option(const char *a)
{
    return a[0] == '-' && a[1] != '\0' && strcmp(a, "--") != 0;
}

static void describe_cmd(kbuf *out, const cli_cmd *cmd)
{
    if (cmd->verb)
        kbuf_printf(out, "%s %s", cmd->noun, cmd->verb);
    else
        kbuf_printf(out, "%s", cmd->noun);
}

/* Takes the option at argv[*i] (and its value), advancing *i. */
static int take_option(int argc, char **argv, int *i, uint32_t allowed, const cli_cmd *cmd,
                       cli_inv *inv, kbuf *err)
{
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0) {
        inv->set[OPT_HELP] = 1;
        (*i)++;
        return 0;
    }
    if (a[1] != '-')
        return fail(err, "unknown option '%s' (put -- before a value that starts with '-')", a);
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    int o;
    for (o = 0; o < OPT__COUNT; o++)
        if (strlen(opt_specs[o].name) == nlen && strncmp(opt_specs[o].name, name, nlen) == 0)
            break;
    if (o == OPT__COUNT)
        return fail(err, "unknown option '--%.*s'", (int)nlen, name);
    if (!(allowed & B(o))) {
        kbuf d = KBUF_INIT;
        if (cmd)
            describe_cmd(&d, cmd);
        int rc = cmd ? fail(err, "option --%s does not apply to '%s'", opt_specs[o].name, kbuf_str(&d))
                     : fail(err, "option --%s must come after the command", opt_specs[o].name);
        kbuf_free(&d);
        return rc;
    }
    const char *val;
    if (opt_specs[o].type == T_FLAG) {
        if (eq)
            return fail(err, "option --%s takes no value", opt_specs[o].name);
        inv->set[o] = 1;
        (*i)++;
        return 0;
    }
    if (eq) {
        val = eq + 1;
        (*i)++;
    } else {
        if (*i + 1 >= argc)
            return fail(err, "option --%s needs a value", opt_specs[o].name);
        val = argv[*i + 1];
        *i += 2;
    }
    inv->set[o] = 1;
    inv->str[o] = val;
    if (opt_specs[o].type == T_DUR && duration_parse_ms(val, &inv->num[o]) != 0)
        return fail(err, "bad duration for --%s: '%s' (use 500ms, 30s, 5m, 1h, or milliseconds)",
                    opt_specs[o].name, val);
    if (opt_specs[o].type == T_NUM && cli_parse_uint(val, &inv->num[o]) != 0)
        return fail(err, "bad number for --%s: '%s'", opt_specs[o].name, val);
    return 0;
}

/* Global options up to the next positional argument. */
static int take_globals(int argc, char **argv, int *i, cli_inv *inv, kbuf *err)
{
    while (*i < argc && is_option(argv[*i])) {
        int rc = take_option(argc, argv, i, GLOBAL_OPTS, NULL, inv, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void resolve_globals(cli_inv *inv)
{
    inv->json = inv->set[OPT_JSON];
    inv->quiet = inv->set[OPT_QUIET];
    inv->help = inv->set[OPT_HELP];
    inv->version = inv->set[OPT_VERSION];
    inv->endpoints = inv->set[OPT_ENDPOINTS] ? inv->str[OPT_ENDPOINTS] : NULL;
    inv->timeout_ms = inv->set[OPT_TIMEOUT] ? inv->num[OPT_TIMEOUT] : CLI_DEFAULT_TIMEOUT_MS;
}

static int parse(int argc, char **argv, cli_inv *inv, kbuf *err)
{
    int i = 1, rc;

    rc = take_globals(argc, argv, &i, inv, err);
    if (rc)
        return rc;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc)
        return fail(err, "missing command");
    const char *noun = argv[i++];
    inv->noun = noun;
    if (strcmp(noun, "help") == 0) {
        inv->set[OPT_HELP] = 1;
        inv->noun = i < argc ? argv[i] : NULL;
        if (inv->noun && i + 1 < argc)
            inv->cmd = find_cmd(inv->noun, argv[i + 1]);
        return 0;
    }
    if (!cli_noun_known(noun))
        return fail(err, "unknown command '%s'", noun);
    const cli_cmd *cmd;
    if (noun_has_verbs(noun)) {
        rc = take_globals(argc, argv, &i, inv, err);
        if (rc)
            return rc;
        if (i >= argc) {
            kbuf_reset(err);
            kbuf_printf(err, "%s: missing verb (", noun);
            list_verbs(err, noun);
            kbuf_append_str(err, ")");
            return KAHUNA_EBADREQ;
        }
        const char *verb = argv[i++];
        cmd = find_cmd(noun, verb);
        if (!cmd) {
            kbuf_reset(err);
            kbuf_printf(err, "%s: unknown verb '%s' (", noun, verb);
            list_verbs(err, noun);
            kbuf_append_str(err, ")");
            return KAHUNA_EBADREQ;
        }
    } else {
        cmd = find_cmd(noun, NULL);
    }
    inv->cmd = cmd;

    uint32_t allowed = GLOBAL_OPTS | cmd->opts;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            if (cmd->takes_command) {
                inv->command = argv + i;
                inv->ncommand = argc - i;
                break;
            }
            for (; i < argc; i++) {
                if (inv->npos >= cmd->max_pos || inv->npos >= CLI_MAX_POS)
                    return fail(err, "too many arguments ('%s')", argv[i]);
                inv->pos[inv->npos++] = argv[i];
            }
            break;
        }
        if (is_option(a)) {
            rc = take_option(argc, argv, &i, allowed, cmd, inv, err);
            if (rc)
                return rc;
            continue;
        }
        if (cmd->takes_command && inv->npos == cmd->max_pos) {
            inv->command = argv + i;
            inv->ncommand = argc - i;
            break;
        }
        if (inv->npos >= cmd->max_pos || inv->npos >= CLI_MAX_POS)
            return fail(err, "too many arguments ('%s')", a);
        inv->pos[inv->npos++] = a;
        i++;
    }
    if (inv->set[OPT_HELP] || inv->set[OPT_VERSION])
        return 0;
    if (inv->npos < cmd->min_pos)
        return fail(err, "missing argument");
    if (inv->set[OPT_TIMEOUT] && inv->num[OPT_TIMEOUT] < 1)
        return fail(err, "--timeout must be more than 0");
    if (inv->set[OPT_ENDPOINTS] && !inv->str[OPT_ENDPOINTS][0])
        return fail(err, "--endpoints must not be empty");
    if (cmd->check)
        return cmd->check(inv, err);
    return 0;
}

int cli_parse(int argc, char **argv, cli_inv *inv, kbuf *err)
{
    memset(inv, 0, sizeof(*inv));
    int rc = parse(argc, argv, inv, err);
    resolve_globals(inv);
    /* --help anywhere among our own words (not those of the command that
     * lock run runs), even when parsing stopped at an error before it. */
    int help = 0;
    int end = inv->command ? (int)(inv->command - argv) : argc;
    for (int i = 1; i < end; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            help = 1;
    }
    if (help) {
        /* Help is wanted: whatever else is wrong with the line. */
        inv->help = 1;
        kbuf_reset(err);
        return 0;
    }
    if (rc == 0 && !inv->cmd && !inv->help && !inv->version)
        return fail(err, "missing command");
    if (rc != 0 && inv->version && !inv->cmd)
        return 0;
    return rc;
}

/* ---- usage ---- */

static int usage_of(kbuf *out, const cli_cmd *c)
{
    const char *u = c->usage;
    int rc = 0;
    do {
        const char *nl = strchr(u, '\n');
        size_t n = nl ? (size_t)(nl - u) : strlen(u);
        rc |= kbuf_append_str(out, "  kahuna-cli ");
        rc |= kbuf_append_str(out, c->noun);
        if (c->verb)
            rc |= kbuf_printf(out, " %s", c->verb);
        if (n)
            rc |= kbuf_printf(out, " %.*s", (int)n, u);
        rc |= kbuf_append_str(out, "\n");
        u = nl ? nl + 1 : NULL;
    } while (u);
    return rc ? KAHUNA_ENOMEM : 0;
}

int cli_usage(kbuf *out, const char *noun, const cli_cmd *cmd)
{
    int rc = 0;
    if (cmd) {
        rc |= kbuf_append_str(out, "usage:\n");
        rc |= usage_of(out, cmd);
        return rc ? KAHUNA_ENOMEM : 0;
    }
    if (noun && cli_noun_known(noun)) {
        rc |= kbuf_append_str(out, "usage:\n");
        for (const cli_cmd *c = cli_commands; c->noun; c++)
            if (strcmp(c->noun, noun) == 0)
                rc |= usage_of(out, c);
        return rc ? KAHUNA_ENOMEM : 0;
    }
    rc |= kbuf_append_str(out, "usage: kahuna-cli [global options] NOUN VERB [ARGS]\n\ncommands:\n");
    for (const cli_cmd *c = cli_commands; c->noun; c++)
        rc |= usage_of(out, c);
    rc |= kbuf_append_str(out,
        "\nglobal options (anywhere on the line):\n"
        "  --endpoints URL[,URL...]  where the cluster is (env KAHUNA_ENDPOINTS;\n"
        "                            default " CLI_DEFAULT_ENDPOINT ")\n"
        "  --timeout D               time limit of each request, retries included (default 10s)\n"
        "  --json                    print the server's JSON answer\n"
        "  --quiet                   no confirmation output, no message for a \"no\" answer\n"
        "  --help, --version\n"
        "\n"
        "Durations: 500ms, 30s, 5m, 1h; a bare number is milliseconds.\n"
        "Lock owner: --owner, else $KAHUNA_OWNER, else USER@HOSTNAME.\n"
        "Exit status: 0 done, 1 no (not found, held, condition failed, not owner),\n"
        "64 usage error, 69 cluster unreachable or no leader, 70 other error,\n"
        "75 lock not obtained or lost (lock run). See kahuna-cli(1).\n");
    return rc ? KAHUNA_ENOMEM : 0;
}

/* ---- small pure helpers ---- */

int cli_parse_uint(const char *s, int64_t *out)
{
    if (!s || !*s)
        return KAHUNA_EBADREQ;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return KAHUNA_EBADREQ;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return KAHUNA_EBADREQ;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void cli_free_endpoints(char **eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++)
        free(eps[i]);
    free(eps);
}

int cli_split_endpoints(const char *s, char ***out, size_t *n, kbuf *err)
{
    char **eps = NULL;
    size_t count = 0;
    const char *p = s;
    *out = NULL;
    *n = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        while (len && p[len - 1] == '/')
            len--;
        size_t scheme = strncmp(p, "http://", 7) == 0 ? 7 : strncmp(p, "https://", 8) == 0 ? 8 : 0;
        if (len == 0 || !scheme || len <= scheme || memchr(p + scheme, '/', len - scheme) ||
            memchr(p, '?', len) || memchr(p, '#', len)) {
            cli_free_endpoints(eps, count);
            return fail(err, "bad endpoint '%.*s': use http://HOST:PORT", (int)(end ? (size_t)(end - p) : strlen(p)), p);
        }
        char **grown = realloc(eps, (count + 1) * sizeof(*eps));
        if (!grown) {
            cli_free_endpoints(eps, count);
            return KAHUNA_ENOMEM;
        }
        eps = grown;
        eps[count] = kbytes_strdup(kbytes_make(p, len));
        if (!eps[count]) {
            cli_free_endpoints(eps, count);
            return KAHUNA_ENOMEM;
        }
        count++;
        if (!end)
            break;
        p = end + 1;
    }
    *out = eps;
    *n = count;
    return 0;
}

int cli_exit_for_http(int status)
{
    if (status >= 200 && status < 300)
        return CLI_EXIT_OK;
    if (status == 404 || status == 409)
        return CLI_EXIT_NO;
    if (status == 503 || status == 504)
        return CLI_EXIT_UNAVAILABLE;
    return CLI_EXIT_SOFTWARE;
}

int cli_exit_for_error(int rc)
{
    switch (rc) {
    case 0: return CLI_EXIT_OK;
    case KAHUNA_EUNAVAILABLE:
    case KAHUNA_ETIMEOUT:
    case KAHUNA_EIO:
        return CLI_EXIT_UNAVAILABLE;
    case KAHUNA_EBADREQ:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_SOFTWARE;
    }
}

int cli_format_owner(kbuf *out, const char *user, const char *host)
{
    return kbuf_printf(out, "%s@%s", user && *user ? user : "unknown", host && *host ? host : "localhost");
}

int cli_format_run_owner(kbuf *out, const char *user, const char *host, long pid, uint32_t random)
{
    int rc = cli_format_owner(out, user, host);
    if (!rc)
        rc = kbuf_printf(out, ":%ld:%08x", pid, (unsigned)random);
    return rc;
}

int cli_exit_for_wait_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return CLI_EXIT_SOFTWARE;
}
