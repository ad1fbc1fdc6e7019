/* commands.c: the RESP command table (the union of the families' tables,
 * sorted for a case-insensitive binary search), the helpers every family
 * uses (argument parsing, Redis's standard error texts, status -> error),
 * and the COMMAND command, which describes the table to clients. */
#include "resp_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME 32

static const resp_command **table;
static size_t table_n;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int cmp_cmd(const void *a, const void *b)
{
    const resp_command *x = *(const resp_command *const *)a;
    const resp_command *y = *(const resp_command *const *)b;
    return strcmp(x->name, y->name);
}

static void table_build(void)
{
    struct {
        const resp_command *t;
        size_t n;
    } fams[] = {
        {resp_cmds_conn, resp_cmds_conn_n},
        {resp_cmds_strings, resp_cmds_strings_n},
        {resp_cmds_keys, resp_cmds_keys_n},
        {resp_cmds_kahuna, resp_cmds_kahuna_n},
        {resp_cmds_multi, resp_cmds_multi_n},
        {resp_cmds_bits, resp_cmds_bits_n},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        total += fams[i].n;
    /* a static table of a hundred entries: built once, kept for the life
     * of the process */
    static const resp_command *storage[512];
    if (total > sizeof storage / sizeof storage[0])
        total = sizeof storage / sizeof storage[0];
    size_t k = 0;
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        for (size_t j = 0; j < fams[i].n && k < total; j++)
            storage[k++] = &fams[i].t[j];
    qsort(storage, k, sizeof storage[0], cmp_cmd);
    table = storage;
    table_n = k;
}

const resp_command *resp_command_lookup(kbytes name)
{
    char up[MAX_NAME + 1];
    if (name.n == 0 || name.n > MAX_NAME)
        return NULL;
    for (size_t i = 0; i < name.n; i++) {
        if (name.p[i] == 0)
            return NULL;
        up[i] = (char)toupper(name.p[i]);
    }
    up[name.n] = '\0';
    pthread_once(&table_once, table_build);
    size_t lo = 0, hi = table_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(up, table[mid]->name);
        if (c == 0)
            return table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t resp_command_all(const resp_command *const **out)
{
    pthread_once(&table_once, table_build);
    *out = table;
    return table_n;
}

/* ---- helpers ---- */

int resp_arg_ll(kbytes a, long long *out)
{
    return rparse_ll(a.p, a.n, out);
}

int resp_arg_is(kbytes a, const char *word)
{
    size_t n = strlen(word);
    if (a.n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (toupper(a.p[i]) != toupper((unsigned char)word[i]))
            return 0;
    return 1;
}

int resp_key_ok(kbytes k)
{
    return k.n >= 1 && k.n <= KAHUNA_MAX_KEY;
}

void resp_lower_name(const resp_command *cmd, char *out, size_t size)
{
    size_t i = 0;
    for (; cmd->name[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)cmd->name[i]);
    out[i] = '\0';
}

static void lower_name(const char *name, char *out, size_t size)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

void resp_err_arity(resp_ctx *x)
{
    char low[MAX_NAME + 1];
    lower_name(x->cmd->name, low, sizeof low);
    reply_errorf(resp_out(x), "ERR wrong number of arguments for '%s' command", low);
}

void resp_err_syntax(reply *r)
{
    reply_error(r, "ERR syntax error");
}

void resp_err_int(reply *r)
{
    reply_error(r, "ERR value is not an integer or out of range");
}

void resp_err_key(reply *r, kbytes k)
{
    if (k.n == 0)
        reply_error(r, "ERR invalid key: kahuna keys are 1 to 4096 bytes, not empty");
    else
        reply_errorf(r, "ERR invalid key: kahuna keys are 1 to %d bytes", KAHUNA_MAX_KEY);
}

void resp_reply_status(reply *r, int status)
{
    switch (status) {
    case KAHUNA_EUNAVAILABLE:
        reply_error(r, "TRYAGAIN no leader: the cluster has no leader or no quorum now, retry later");
        break;
    case KAHUNA_ESHUTDOWN:
        reply_error(r, "TRYAGAIN this node is shutting down, retry on another node");
        break;
    case KAHUNA_ETIMEOUT:
        reply_error(r, "ERR timeout: the outcome of this command is unknown");
        break;
    case KAHUNA_ETOOLARGE:
        reply_errorf(r, "ERR string exceeds maximum allowed size (%d bytes)", KAHUNA_MAX_VALUE);
        break;
    case KAHUNA_EWRONGTYPE:
        reply_error(r, "WRONGTYPE Operation against a key holding the wrong kind of value");
        break;
    case KAHUNA_ERANGE:
        reply_error(r, "ERR value is not an integer or out of range");
        break;
    case KAHUNA_EBADREQ:
        reply_error(r, "ERR invalid request");
        break;
    case KAHUNA_ECOMPACTED:
        reply_error(r, "ERR that revision is older than the kept history");
        break;
    case KAHUNA_ECANCELED:
        reply_error(r, "ERR request canceled");
        break;
    case KAHUNA_ENOMEM:
        reply_error(r, "ERR out of memory");
        break;
    case KAHUNA_EIO:
        reply_error(r, "ERR storage error on this node: see its log");
        break;
    default:
        reply_errorf(r, "ERR internal error (%s): see the server log", kahuna_strerror(status));
        break;
    }
}

/* ---- one proposal, one reply ---- */

void resp_reply_result_error(reply *r, const resp_result *res)
{
    if (res->status == KAHUNA_ERANGE) {
        switch (res->last) {
        case FSM_ERANGE_OVERFLOW:
            reply_error(r, "ERR increment or decrement would overflow");
            return;
        case FSM_ERANGE_NOT_FLOAT:
            reply_error(r, "ERR value is not a valid float");
            return;
        case FSM_ERANGE_NAN_INF:
            reply_error(r, "ERR increment would produce NaN or Infinity");
            return;
        default:
            break;
        }
    }
    resp_reply_status(r, res->status);
}

void resp_one_result(resp_op *op, int tag, const resp_result *res)
{
    reply r = resp_op_reply(op);
    int st = res->status;
    (void)tag;
    switch (op->i1) {
    case WR_BULK_OLD:
        if (st == 0 || st == KAHUNA_ECONDITION || st == KAHUNA_ENOTFOUND) {
            if (res->found && st != KAHUNA_ENOTFOUND)
                reply_bulk(&r, res->data ? res->data : (const uint8_t *)"", res->data_len);
            else
                reply_null(&r);
        } else {
            resp_reply_result_error(&r, res);
        }
        break;
    case WR_INT_VALUE:
        if (st == 0)
            reply_int(&r, res->value);
        else
            resp_reply_result_error(&r, res);
        break;
    case WR_BULK_DATA:
        if (st == 0)
            reply_bulk(&r, res->data ? res->data : (const uint8_t *)"", res->data_len);
        else
            resp_reply_result_error(&r, res);
        break;
    case WR_RENAME:
        if (st == 0)
            reply_simple(&r, "OK");
        else if (st == KAHUNA_ENOTFOUND)
            reply_error(&r, "ERR no such key");
        else
            resp_reply_status(&r, st);
        break;
    case WR_RENAMENX:
        if (st == 0)
            reply_int(&r, 1);
        else if (st == KAHUNA_ECONDITION)
            reply_int(&r, 0);
        else if (st == KAHUNA_ENOTFOUND)
            reply_error(&r, "ERR no such key");
        else
            resp_reply_status(&r, st);
        break;
    case WR_OK_NIL:
        if (st == 0)
            reply_simple(&r, "OK");
        else if (st == KAHUNA_ECONDITION)
            reply_null(&r);
        else
            resp_reply_status(&r, st);
        break;
    case WR_OK_ANY:
        if (st == 0 || st == KAHUNA_ENOTFOUND)
            reply_simple(&r, "OK");
        else
            resp_reply_status(&r, st);
        break;
    case WR_BOOL:
        if (st == 0)
            reply_int(&r, 1);
        else if (st == KAHUNA_ENOTFOUND || st == KAHUNA_ECONDITION || st == KAHUNA_ENOTOWNER)
            reply_int(&r, 0);
        else
            resp_reply_status(&r, st);
        break;
    case WR_TOKEN:
        if (st == 0)
            reply_int(&r, res->token);
        else if (st == KAHUNA_ELOCKHELD || st == KAHUNA_ECANCELED)
            reply_null(&r);
        else
            resp_reply_status(&r, st);
        break;
    case WR_SEQ_VALUE:
        if (st == 0)
            reply_int(&r, res->value);
        else
            resp_reply_status(&r, st);
        break;
    case WR_SEQ_SET:
        if (st == 0)
            reply_simple(&r, "OK");
        else if (st == KAHUNA_ECONDITION)
            reply_error(&r, "ERR the sequence would move backwards: add FORCE to allow it");
        else
            resp_reply_status(&r, st);
        break;
    default:
        resp_reply_status(&r, KAHUNA_EINTERNAL);
        break;
    }
    resp_op_done(op, &r);
}

void resp_propose_one(resp_ctx *x, const command *cmd, int kind)
{
    int rc = cmd_validate(cmd);
    if (rc) {
        resp_reply_status(resp_out(x), rc);
        return;
    }
    resp_op *op = resp_op_start(x, 0);
    if (!op)
        return;
    op->i1 = kind;
    op->on_result = resp_one_result;
    resp_op_propose(op, cmd, 0);
}

/* ---- COMMAND ---- */

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {RF_WRITE, "write"},       {RF_READONLY, "readonly"}, {RF_DENYOOM, "denyoom"},
    {RF_NOAUTH, "no_auth"},    {RF_NOSCRIPT, "noscript"}, {RF_LOADING, "loading"},
    {RF_STALE, "stale"},       {RF_FAST, "fast"},         {RF_ALLOWBUSY, "allow_busy"},
    {RF_PUBSUB, "pubsub"},
};

static size_t count_words(const char *s)
{
    size_t n = 0;
    int in = 0;
    for (; s && *s; s++) {
        if (*s == ' ') {
            in = 0;
        } else if (!in) {
            in = 1;
            n++;
        }
    }
    return n;
}

static void reply_words(reply *r, const char *s)
{
    reply_set(r, count_words(s));
    while (s && *s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        char word[48];
        size_t n = (size_t)(e - s) < sizeof word - 1 ? (size_t)(e - s) : sizeof word - 1;
        memcpy(word, s, n);
        word[n] = '\0';
        reply_simple(r, word);
        s = e;
    }
}

static void reply_command_info(reply *r, const resp_command *cmd)
{
    char low[MAX_NAME + 1];
    lower_name(cmd->name, low, sizeof low);
    reply_array(r, 10);
    reply_bulk_str(r, low);
    reply_int(r, cmd->arity);
    size_t nf = 0;
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
        if (cmd->flags & flag_names[i].flag)
            nf++;
    reply_set(r, nf);
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++)
        if (cmd->flags & flag_names[i].flag)
            reply_simple(r, flag_names[i].name);
    reply_int(r, cmd->first_key);
    reply_int(r, cmd->last_key);
    reply_int(r, cmd->step);
    reply_words(r, cmd->acl);
    reply_set(r, 0);   /* tips */
    reply_array(r, 0); /* key specs */
    reply_array(r, 0); /* subcommands */
}

static void reply_command_docs(reply *r, const resp_command *cmd)
{
    char low[MAX_NAME + 1];
    lower_name(cmd->name, low, sizeof low);
    reply_bulk_str(r, low);
    reply_map(r, cmd->args && *cmd->args ? 4 : 3);
    reply_bulk_str(r, "summary");
    reply_bulk_str(r, cmd->summary ? cmd->summary : "");
    reply_bulk_str(r, "since");
    reply_bulk_str(r, cmd->since ? cmd->since : "1.0.0");
    reply_bulk_str(r, "group");
    reply_bulk_str(r, cmd->group ? cmd->group : "generic");
    if (cmd->args && *cmd->args) {
        /* kahuna's own field: the syntax, as "help" shows it */
        reply_bulk_str(r, "syntax");
        reply_bulk_str(r, cmd->args);
    }
}

static void command_cmd(resp_ctx *x)
{
    reply *r = resp_out(x);
    const resp_command *const *all;
    size_t n = resp_command_all(&all);

    if (x->argc == 1) {
        reply_array(r, n);
        for (size_t i = 0; i < n; i++)
            reply_command_info(r, all[i]);
        return;
    }
    kbytes sub = x->argv[1];
    if (resp_arg_is(sub, "COUNT") && x->argc == 2) {
        reply_int(r, (long long)n);
    } else if (resp_arg_is(sub, "LIST") && (x->argc == 2)) {
        char low[MAX_NAME + 1];
        reply_array(r, n);
        for (size_t i = 0; i < n; i++) {
            lower_name(all[i]->name, low, sizeof low);
            reply_bulk_str(r, low);
        }
    } else if (resp_arg_is(sub, "INFO")) {
        if (x->argc == 2) {
            reply_array(r, n);
            for (size_t i = 0; i < n; i++)
                reply_command_info(r, all[i]);
            return;
        }
        reply_array(r, x->argc - 2);
        for (size_t i = 2; i < x->argc; i++) {
            const resp_command *c = resp_command_lookup(x->argv[i]);
            if (c)
                reply_command_info(r, c);
            else
                reply_null_array(r);
        }
    } else if (resp_arg_is(sub, "DOCS")) {
        if (x->argc == 2) {
            reply_map(r, n);
            for (size_t i = 0; i < n; i++)
                reply_command_docs(r, all[i]);
            return;
        }
        size_t found = 0;
        for (size_t i = 2; i < x->argc; i++)
            if (resp_command_lookup(x->argv[i]))
                found++;
        reply_map(r, found);
        for (size_t i = 2; i < x->argc; i++) {
            const resp_command *c = resp_command_lookup(x->argv[i]);
            if (c)
                reply_command_docs(r, c);
        }
    } else if (resp_arg_is(sub, "GETKEYS") && x->argc >= 3) {
        const resp_command *c = resp_command_lookup(x->argv[2]);
        size_t argc = x->argc - 2;
        if (!c) {
            reply_error(r, "ERR Invalid command specified");
            return;
        }
        if ((c->arity > 0 && (size_t)c->arity != argc) || (c->arity < 0 && argc < (size_t)-c->arity)) {
            reply_error(r, "ERR Invalid number of arguments specified for command");
            return;
        }
        if (c->first_key == 0) {
            reply_error(r, "ERR The command has no key arguments");
            return;
        }
        size_t last = c->last_key < 0 ? argc + (size_t)c->last_key : (size_t)c->last_key;
        size_t cnt = 0;
        for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->step)
            cnt++;
        reply_array(r, cnt);
        for (size_t i = (size_t)c->first_key; i <= last && i < argc; i += (size_t)c->step)
            reply_bulk_kbytes(r, x->argv[2 + i]);
    } else if (resp_arg_is(sub, "HELP") && x->argc == 2) {
        static const char *help[] = {
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)", "    Return details about all commands.",
            "COUNT", "    Return the total number of commands.",
            "LIST", "    Return a list of all command names.",
            "INFO [<command-name> ...]", "    Return details about these commands (all when none).",
            "DOCS [<command-name> ...]", "    Return documentation about these commands (all when none).",
            "GETKEYS <full-command>", "    Return the keys of a full command.",
            "HELP", "    Print this help.",
        };
        reply_array(r, sizeof help / sizeof help[0]);
        for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
            reply_simple(r, help[i]);
    } else {
        int nlen = sub.n > 128 ? 128 : (int)sub.n;
        reply_errorf(r, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try COMMAND HELP.",
                     nlen, (const char *)sub.p);
    }
}

void resp_cmd_command(resp_ctx *x)
{
    command_cmd(x);
}
