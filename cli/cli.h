/* cli.h: kahuna-cli's command line: the table of commands (SPEC §5), the
 * parsing of arguments into an invocation, and the exit-status rules.
 *
 * Everything here is pure (no I/O, no network), so that the unit tests can
 * check every parsing and exit-code rule. The commands themselves live in
 * one file per noun (kv.c, lock.c, run.c, seq.c, cluster.c) and talk to the
 * cluster through call.h. */
#ifndef KAHUNA_CLI_H
#define KAHUNA_CLI_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* Exit statuses (sysexits.h values), for every command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_NO = 1,          /* the answer is "no": not found, held, condition failed, not owner */
    CLI_EXIT_USAGE = 64,      /* bad command line */
    CLI_EXIT_UNAVAILABLE = 69,/* no endpoint answered, or the cluster has no leader */
    CLI_EXIT_SOFTWARE = 70,   /* anything else */
    CLI_EXIT_TEMPFAIL = 75,   /* lock run: lock not obtained, or lost while running */
};

/* Every option, global or of a command. */
enum cli_opt {
    OPT_ENDPOINTS, OPT_TIMEOUT, OPT_JSON, OPT_QUIET, OPT_HELP, OPT_VERSION,
    OPT_TTL, OPT_WAIT, OPT_OWNER, OPT_FILE,
    OPT_IF_NOT_EXISTS, OPT_IF_EXISTS, OPT_IF_REVISION, OPT_IF_VALUE,
    OPT_REVISION, OPT_STALE, OPT_LIMIT, OPT_COUNT, OPT_FORCE,
    OPT__COUNT
};

#define CLI_OPT_BIT(o) (1u << (o))
#define CLI_MAX_POS 4
#define CLI_DEFAULT_ENDPOINT "http://127.0.0.1:2070"
#define CLI_DEFAULT_TIMEOUT_MS 10000
#define CLI_DEFAULT_LOCK_TTL_MS 30000
#define CLI_MAX_NAME 4096     /* keys and lock/sequence names: 1..4096 bytes */
#define CLI_MAX_OWNER 256

typedef struct cli_inv cli_inv;
typedef struct cli_ctx cli_ctx;

typedef struct cli_cmd {
    const char *noun;
    const char *verb;         /* NULL for a command that is a noun alone (health) */
    int (*run)(cli_ctx *ctx, const cli_inv *inv);  /* returns the exit status */
    uint32_t opts;            /* CLI_OPT_BIT()s of the command's own options */
    int min_pos, max_pos;     /* positional arguments after NOUN VERB */
    int takes_command;        /* lock run: NAME, then "--" COMMAND [ARGS...] */
    /* Extra checks of the parsed values (pure); 0 or KAHUNA_EBADREQ with a
     * message in err. May fill inv->pos_num. May be NULL. */
    int (*check)(cli_inv *inv, kbuf *err);
    const char *usage;        /* arguments and options, after "NOUN VERB" */
} cli_cmd;

/* One parsed command line. Strings point into argv (not copied). */
struct cli_inv {
    const cli_cmd *cmd;       /* NULL with help or version when no command was named */
    const char *noun;         /* as typed, for help on a noun alone */
    int set[OPT__COUNT];      /* 1 when the option was given */
    const char *str[OPT__COUNT]; /* its text (last one wins) */
    int64_t num[OPT__COUNT];  /* its value in ms (durations) or as a number */
    const char *pos[CLI_MAX_POS];
    int npos;
    int64_t pos_num;          /* a numeric positional once checked (kv ttl D, seq set N) */
    char **command;           /* lock run: NULL-terminated argv of the command */
    int ncommand;
    /* global options, resolved */
    const char *endpoints;    /* NULL: $KAHUNA_ENDPOINTS or the default */
    int64_t timeout_ms;
    int json, quiet, help, version;
};

/* Parses argv (argv[argc] must be NULL, as main() gets it). Returns 0, or
 * KAHUNA_EBADREQ with a one-line message in err (exit 64). When --help or
 * --version is asked, returns 0 with inv->help / inv->version set and
 * whatever command could be recognised, without further checks. */
int cli_parse(int argc, char **argv, cli_inv *inv, kbuf *err);

/* The command table, ending with a zeroed entry. */
extern const cli_cmd cli_commands[];

/* Appends the usage text: of one command, of every verb of a noun, or of
 * everything (noun == NULL). */
int cli_usage(kbuf *out, const char *noun, const cli_cmd *cmd);

/* 1 when noun is one of the table's nouns. */
int cli_noun_known(const char *noun);

/* A strict non-negative decimal integer ("0", "42"; no sign, no spaces, no
 * junk, no overflow). Returns 0 or KAHUNA_EBADREQ. */
int cli_parse_uint(const char *s, int64_t *out);

/* Splits "URL[,URL...]" into a malloc'd array of malloc'd strings (free
 * with cli_free_endpoints), trailing '/' removed. Each must be http:// or
 * https:// with a host. Returns 0, KAHUNA_EBADREQ (message in err) or
 * KAHUNA_ENOMEM. */
int cli_split_endpoints(const char *s, char ***out, size_t *n, kbuf *err);
void cli_free_endpoints(char **eps, size_t n);

/* The exit status for an HTTP answer's status code. */
int cli_exit_for_http(int status);

/* The exit status when no HTTP answer came (a KAHUNA_E* code from call.h). */
int cli_exit_for_error(int rc);

/* "USER@HOST", and lock run's "USER@HOST:PID:RANDOM" (random: 8 hex
 * digits). Appended to out. */
int cli_format_owner(kbuf *out, const char *user, const char *host);
int cli_format_run_owner(kbuf *out, const char *user, const char *host, long pid, uint32_t random);

/* The exit status of lock run for a child's wait status (as waitpid gives
 * it): its exit code, or 128 + the signal that killed it. */
int cli_exit_for_wait_status(int wstatus);

/* The commands, one file per noun. Each returns the exit status. */
int cmd_kv_set(cli_ctx *c, const cli_inv *inv);
int cmd_kv_get(cli_ctx *c, const cli_inv *inv);
int cmd_kv_del(cli_ctx *c, const cli_inv *inv);
int cmd_kv_ttl(cli_ctx *c, const cli_inv *inv);
int cmd_kv_ls(cli_ctx *c, const cli_inv *inv);
int cmd_kv_history(cli_ctx *c, const cli_inv *inv);
int cmd_lock_acquire(cli_ctx *c, const cli_inv *inv);
int cmd_lock_extend(cli_ctx *c, const cli_inv *inv);
int cmd_lock_release(cli_ctx *c, const cli_inv *inv);
int cmd_lock_info(cli_ctx *c, const cli_inv *inv);
int cmd_lock_ls(cli_ctx *c, const cli_inv *inv);
int cmd_lock_run(cli_ctx *c, const cli_inv *inv);
int cmd_seq_next(cli_ctx *c, const cli_inv *inv);
int cmd_seq_get(cli_ctx *c, const cli_inv *inv);
int cmd_seq_set(cli_ctx *c, const cli_inv *inv);
int cmd_seq_del(cli_ctx *c, const cli_inv *inv);
int cmd_seq_ls(cli_ctx *c, const cli_inv *inv);
int cmd_cluster_status(cli_ctx *c, const cli_inv *inv);
int cmd_cluster_members(cli_ctx *c, const cli_inv *inv);
int cmd_cluster_add(cli_ctx *c, const cli_inv *inv);
int cmd_cluster_remove(cli_ctx *c, const cli_inv *inv);
int cmd_cluster_transfer(cli_ctx *c, const cli_inv *inv);
int cmd_health(cli_ctx *c, const cli_inv *inv);

/* Shared by lock.c and run.c (they read the environment). */
/* The user and host names for owners: $USER (else $LOGNAME, else the
 * password entry, else "uid<N>") and gethostname(). Appended. */
int lock_user_host(kbuf *user, kbuf *host);
/* --owner, else $KAHUNA_OWNER, else USER@HOSTNAME. Appended to out. */
int lock_default_owner(const cli_inv *inv, kbuf *out);

#endif
