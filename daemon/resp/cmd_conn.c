/* cmd_conn.c: connection and server commands: PING ECHO QUIT HELLO AUTH
 * SELECT RESET CLIENT INFO DBSIZE TIME READONLY READWRITE CONFIG (and
 * COMMAND, whose handler is in commands.c). Replies and error texts follow
 * Redis 7; where kahuna differs (one database, no replicas in Redis's
 * sense) docs/resp.md says how. */
#include <config.h>           /* autoconf's, for PACKAGE_VERSION */

#include "resp_internal.h"
#include "clock.h"
#include "glob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* the Redis version whose behaviour the listener follows */
#define RESP_REDIS_VERSION "7.0.0"

static void ping_cmd(resp_ctx *x)
{
    reply *r = resp_out(x);
    if (x->argc > 2) {
        resp_err_arity(x);
        return;
    }
    if (x->argc == 2)
        reply_bulk_kbytes(r, x->argv[1]);
    else
        reply_simple(r, "PONG");
}

static void echo_cmd(resp_ctx *x)
{
    reply_bulk_kbytes(resp_out(x), x->argv[1]);
}

static void quit_cmd(resp_ctx *x)
{
    reply_simple(resp_out(x), "OK");
    x->c->closing = 1;
}

/* constant-time comparison of a password */
static int pass_eq(kbytes given, const char *want)
{
    size_t wn = strlen(want);
    unsigned diff = given.n != wn;
    for (size_t i = 0; i < given.n; i++)
        diff |= given.p[i] ^ (uint8_t)want[i % (wn ? wn : 1)];
    return diff == 0;
}

/* Checks user/password; 0 when they are right, else replies WRONGPASS. */
static int check_auth(resp_ctx *x, const kbytes *user, kbytes pass)
{
    const char *want = resp_password(x->c->s);
    int ok;
    if (user && !resp_arg_is(*user, "default"))
        ok = 0;
    else
        ok = !want || pass_eq(pass, want);
    if (!ok) {
        reply_error(resp_out(x), "WRONGPASS invalid username-password pair or user is disabled.");
        return -1;
    }
    x->c->authed = 1;
    return 0;
}

static void auth_cmd(resp_ctx *x)
{
    if (x->argc > 3) {
        resp_err_syntax(resp_out(x));
        return;
    }
    if (x->argc == 2 && !resp_password(x->c->s)) {
        reply_error(resp_out(x), "ERR AUTH <password> called without any password configured for "
                                 "the default user. Are you sure your configuration is correct?");
        return;
    }
    if (check_auth(x, x->argc == 3 ? &x->argv[1] : NULL, x->argv[x->argc - 1]) == 0)
        reply_simple(resp_out(x), "OK");
}

/* Redis's validateClientName: printable ASCII without spaces; answers the
 * error and returns -1 when NAME is not one. */
static int check_name(resp_ctx *x, kbytes name)
{
    for (size_t i = 0; i < name.n; i++) {
        if (name.p[i] < '!' || name.p[i] > '~') {
            reply_error(resp_out(x), "ERR Client names cannot contain spaces, newlines or special characters.");
            return -1;
        }
    }
    return 0;
}

/* Redis's clientSetNameOrReply. */
static int set_name(resp_ctx *x, kbytes name)
{
    if (check_name(x, name))
        return -1;
    char *dup = NULL;
    if (name.n) {
        dup = kbytes_strdup(name);
        if (!dup) {
            reply_error(resp_out(x), "ERR out of memory");
            return -1;
        }
    }
    free(x->c->name);
    x->c->name = dup;
    return 0;
}

static void hello_cmd(resp_ctx *x)
{
    resp_conn *c = x->c;
    long long ver = 0;
    size_t j = 1;
    const kbytes *user = NULL, *pass = NULL, *name = NULL;

    if (x->argc >= 2) {
        if (!resp_arg_ll(x->argv[1], &ver)) {
            reply_error(resp_out(x), "ERR Protocol version is not an integer or out of range");
            return;
        }
        j = 2;
        if (ver < 2 || ver > 3) {
            reply_error(resp_out(x), "NOPROTO unsupported protocol version");
            return;
        }
    }
    for (; j < x->argc; j++) {
        size_t more = x->argc - 1 - j;
        if (resp_arg_is(x->argv[j], "AUTH") && more >= 2) {
            user = &x->argv[j + 1];
            pass = &x->argv[j + 2];
            j += 2;
        } else if (resp_arg_is(x->argv[j], "SETNAME") && more >= 1) {
            /* As Redis 7 does: a bad name is refused while the options are
             * read, before AUTH is tried; the name is set only once the
             * client is authenticated. */
            name = &x->argv[j + 1];
            if (check_name(x, *name))
                return;
            j++;
        } else {
            int n = x->argv[j].n > 128 ? 128 : (int)x->argv[j].n;
            reply_errorf(resp_out(x), "ERR Syntax error in HELLO option '%.*s'", n,
                         (const char *)x->argv[j].p);
            return;
        }
    }
    if (user && pass && check_auth(x, user, *pass))
        return;
    if (!c->authed) {
        reply_error(resp_out(x), "NOAUTH HELLO must be called with the client already authenticated, "
                                 "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                                 "authenticate the client and select the RESP protocol version at the "
                                 "same time");
        return;
    }
    if (name && set_name(x, *name))
        return;
    if (ver)
        c->proto = (int)ver;
    reply *r = resp_out(x);
    r->proto = c->proto; /* the reply itself uses the new protocol */
    reply_map(r, 7);
    reply_bulk_str(r, "server");
    reply_bulk_str(r, "kahuna");
    reply_bulk_str(r, "version");
    reply_bulk_str(r, RESP_REDIS_VERSION);
    reply_bulk_str(r, "proto");
    reply_int(r, c->proto);
    reply_bulk_str(r, "id");
    reply_int(r, (long long)c->id);
    reply_bulk_str(r, "mode");
    reply_bulk_str(r, "standalone");
    reply_bulk_str(r, "role");
    reply_bulk_str(r, "master");
    reply_bulk_str(r, "modules");
    reply_array(r, 0);
}

static void select_cmd(resp_ctx *x)
{
    long long db;
    if (!resp_arg_ll(x->argv[1], &db) || db < -2147483648LL || db > 2147483647LL) {
        reply_error(resp_out(x), "ERR invalid DB index");
        return;
    }
    if (db != 0) {
        reply_error(resp_out(x), "ERR DB index is out of range");
        return;
    }
    reply_simple(resp_out(x), "OK");
}

static void reset_cmd(resp_ctx *x)
{
    resp_conn *c = x->c;
    c->proto = 2;
    c->readonly = 0;
    c->authed = resp_password(c->s) == NULL;
    free(c->name);
    c->name = NULL;
    resp_multi_reset(c);
    reply *r = resp_out(x);
    r->proto = 2;
    reply_simple(r, "RESET");
}

static void readonly_cmd(resp_ctx *x)
{
    x->c->readonly = 1;
    reply_simple(resp_out(x), "OK");
}

static void readwrite_cmd(resp_ctx *x)
{
    x->c->readonly = 0;
    reply_simple(resp_out(x), "OK");
}

static void time_cmd(resp_ctx *x)
{
    struct timespec ts;
    reply *r = resp_out(x);
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        reply_error(r, "ERR cannot read the clock");
        return;
    }
    reply_array(r, 2);
    reply_bulk_ll(r, (long long)ts.tv_sec);
    reply_bulk_ll(r, (long long)(ts.tv_nsec / 1000));
}

/* ---- CLIENT ---- */

typedef struct list_ctx {
    kbuf *out;
    int rc;
    int filter_ids;
    size_t nids;
    const kbytes *ids;
} list_ctx;

static void list_one(void *arg, resp_conn *c)
{
    list_ctx *l = arg;
    if (l->rc)
        return;
    if (l->filter_ids) {
        int found = 0;
        for (size_t i = 0; i < l->nids && !found; i++) {
            long long id;
            if (resp_arg_ll(l->ids[i], &id) && (uint64_t)id == c->id)
                found = 1;
        }
        if (!found)
            return;
    }
    l->rc = resp_conn_describe(c, l->out);
    if (!l->rc)
        l->rc = kbuf_append_byte(l->out, '\n');
}

static void client_err_sub(resp_ctx *x, const char *sub)
{
    char low[32];
    size_t i = 0;
    for (; sub[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(sub[i] >= 'A' && sub[i] <= 'Z' ? sub[i] + 32 : sub[i]);
    low[i] = '\0';
    reply_errorf(resp_out(x), "ERR wrong number of arguments for 'client|%s' command", low);
}

static void client_cmd(resp_ctx *x)
{
    resp_conn *c = x->c;
    kbytes sub = x->argv[1];
    reply *r;

    if (resp_arg_is(sub, "ID")) {
        if (x->argc != 2)
            return client_err_sub(x, "id");
        reply_int(resp_out(x), (long long)c->id);
    } else if (resp_arg_is(sub, "GETNAME")) {
        if (x->argc != 2)
            return client_err_sub(x, "getname");
        r = resp_out(x);
        if (c->name)
            reply_bulk_str(r, c->name);
        else
            reply_null(r);
    } else if (resp_arg_is(sub, "SETNAME")) {
        if (x->argc != 3)
            return client_err_sub(x, "setname");
        if (set_name(x, x->argv[2]) == 0)
            reply_simple(resp_out(x), "OK");
    } else if (resp_arg_is(sub, "SETINFO")) {
        if (x->argc != 4)
            return client_err_sub(x, "setinfo");
        char **field;
        if (resp_arg_is(x->argv[2], "LIB-NAME"))
            field = &c->lib_name;
        else if (resp_arg_is(x->argv[2], "LIB-VER"))
            field = &c->lib_ver;
        else {
            int n = x->argv[2].n > 128 ? 128 : (int)x->argv[2].n;
            reply_errorf(resp_out(x), "ERR Unrecognized option '%.*s'", n, (const char *)x->argv[2].p);
            return;
        }
        for (size_t i = 0; i < x->argv[3].n; i++) {
            if (x->argv[3].p[i] < '!' || x->argv[3].p[i] > '~') {
                reply_error(resp_out(x), "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.");
                return;
            }
        }
        char *dup = kbytes_strdup(x->argv[3]);
        if (!dup) {
            reply_error(resp_out(x), "ERR out of memory");
            return;
        }
        free(*field);
        *field = dup;
        reply_simple(resp_out(x), "OK");
    } else if (resp_arg_is(sub, "INFO")) {
        if (x->argc != 2)
            return client_err_sub(x, "info");
        kbuf line = KBUF_INIT;
        r = resp_out(x);
        if (resp_conn_describe(c, &line) || kbuf_append_byte(&line, '\n'))
            r->err = KAHUNA_ENOMEM;
        else
            reply_verbatim(r, line.data, line.len);
        kbuf_free(&line);
    } else if (resp_arg_is(sub, "LIST")) {
        list_ctx l = {NULL, 0, 0, 0, NULL};
        kbuf out = KBUF_INIT;
        size_t j = 2;
        r = resp_out(x);
        while (j < x->argc) {
            if (resp_arg_is(x->argv[j], "TYPE") && j + 1 < x->argc) {
                kbytes t = x->argv[j + 1];
                if (resp_arg_is(t, "normal")) {
                    /* every kahuna client is a normal one */
                } else if (resp_arg_is(t, "master") || resp_arg_is(t, "replica") ||
                           resp_arg_is(t, "slave") || resp_arg_is(t, "pubsub")) {
                    l.filter_ids = 1; /* none of those: an empty list */
                } else {
                    int n = t.n > 128 ? 128 : (int)t.n;
                    reply_errorf(r, "ERR Unknown client type '%.*s'", n, (const char *)t.p);
                    return;
                }
                j += 2;
            } else if (resp_arg_is(x->argv[j], "ID") && j + 1 < x->argc) {
                l.filter_ids = 1;
                l.ids = &x->argv[j + 1];
                l.nids = x->argc - j - 1;
                for (size_t k = 0; k < l.nids; k++) {
                    long long id;
                    if (!resp_arg_ll(l.ids[k], &id) || id <= 0) {
                        reply_error(r, "ERR Invalid client ID");
                        return;
                    }
                }
                j = x->argc;
            } else {
                resp_err_syntax(r);
                return;
            }
        }
        l.out = &out;
        resp_foreach_conn(c->s, list_one, &l);
        if (l.rc)
            r->err = KAHUNA_ENOMEM;
        else
            reply_verbatim(r, out.data ? out.data : (const uint8_t *)"", out.len);
        kbuf_free(&out);
    } else if (resp_arg_is(sub, "NO-EVICT") || resp_arg_is(sub, "NO-TOUCH")) {
        if (x->argc != 3)
            return client_err_sub(x, resp_arg_is(sub, "NO-EVICT") ? "no-evict" : "no-touch");
        if (!resp_arg_is(x->argv[2], "ON") && !resp_arg_is(x->argv[2], "OFF")) {
            resp_err_syntax(resp_out(x));
            return;
        }
        reply_simple(resp_out(x), "OK");
    } else if (resp_arg_is(sub, "HELP") && x->argc == 2) {
        static const char *help[] = {
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME", "    Return the name of the current connection.",
            "ID", "    Return the ID of the current connection.",
            "INFO", "    Return information about the current client connection.",
            "LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]",
            "    Return information about client connections.",
            "SETNAME <name>", "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
            "NO-EVICT|NO-TOUCH (ON|OFF)", "    Accepted and ignored.",
            "HELP", "    Print this help.",
        };
        r = resp_out(x);
        reply_array(r, sizeof help / sizeof help[0]);
        for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
            reply_simple(r, help[i]);
    } else {
        int n = sub.n > 128 ? 128 : (int)sub.n;
        reply_errorf(resp_out(x), "ERR unknown subcommand '%.*s'. Try CLIENT HELP.", n,
                     (const char *)sub.p);
    }
}

/* ---- INFO ---- */

typedef struct info_ctx {
    kbuf *b;
    int rc;
    int any;
} info_ctx;

static int want_section(resp_ctx *x, const char *name, int in_default)
{
    if (x->argc == 1)
        return in_default;
    for (size_t i = 1; i < x->argc; i++) {
        if (resp_arg_is(x->argv[i], name) || resp_arg_is(x->argv[i], "all") ||
            resp_arg_is(x->argv[i], "everything"))
            return 1;
        if (in_default && resp_arg_is(x->argv[i], "default"))
            return 1;
    }
    return 0;
}

static void section(info_ctx *ic, const char *title)
{
    if (ic->rc)
        return;
    ic->rc = kbuf_printf(ic->b, "%s# %s\r\n", ic->any ? "\r\n" : "", title);
    ic->any = 1;
}

static void info_cmd(resp_ctx *x)
{
    resp_server *s = x->c->s;
    kbuf b = KBUF_INIT;
    info_ctx ic = {&b, 0, 0};
    resp_stats st;
    node_status ns;
    resp_get_stats(s, &st);
    node_get_status(resp_node(s), &ns);
    int64_t now = clock_wall_ms();
    int64_t up = (now - st.started_ms) / 1000;

    if (want_section(x, "server", 1)) {
        struct utsname un;
        int have_un = uname(&un) == 0;
        section(&ic, "Server");
        if (!ic.rc)
            ic.rc = kbuf_printf(&b,
                                "redis_version:%s\r\nkahuna_version:%s\r\nredis_mode:standalone\r\n"
                                "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:epoll\r\n"
                                "process_id:%d\r\nrun_id:%s\r\ntcp_port:%d\r\nserver_time_usec:%lld\r\n"
                                "uptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\nkahuna_node_id:%s\r\n",
                                RESP_REDIS_VERSION, PACKAGE_VERSION, have_un ? un.sysname : "?",
                                have_un ? un.release : "?", have_un ? un.machine : "?",
                                (int)(sizeof(void *) * 8), (int)getpid(), st.run_id, st.port,
                                (long long)now * 1000, (long long)up, (long long)(up / 86400),
                                resp_node_id(s));
    }
    if (want_section(x, "clients", 1)) {
        section(&ic, "Clients");
        if (!ic.rc)
            ic.rc = kbuf_printf(&b, "connected_clients:%llu\r\nmaxclients:%llu\r\nblocked_clients:%llu\r\n",
                                (unsigned long long)st.connected, (unsigned long long)st.max_clients,
                                (unsigned long long)st.blocked);
    }
    if (want_section(x, "stats", 1)) {
        section(&ic, "Stats");
        if (!ic.rc)
            ic.rc = kbuf_printf(&b,
                                "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                                "rejected_connections:%llu\r\nkahuna_proposals:%llu\r\nkahuna_batches:%llu\r\n"
                                "kahuna_expirations:%llu\r\n",
                                (unsigned long long)st.connections_received,
                                (unsigned long long)st.commands_processed,
                                (unsigned long long)st.rejected_connections,
                                (unsigned long long)ns.proposals, (unsigned long long)ns.batches,
                                (unsigned long long)ns.expirations);
    }
    if (want_section(x, "replication", 1)) {
        section(&ic, "Replication");
        if (!ic.rc)
            ic.rc = kbuf_printf(&b,
                                "role:master\r\nconnected_slaves:0\r\nkahuna_raft_role:%s\r\n"
                                "kahuna_leader:%s\r\nkahuna_term:%llu\r\nkahuna_commit_index:%llu\r\n"
                                "kahuna_applied_index:%llu\r\nkahuna_last_log_index:%llu\r\n"
                                "kahuna_revision:%lld\r\n",
                                ns.is_leader ? "leader" : "follower", ns.leader_id,
                                (unsigned long long)ns.term, (unsigned long long)ns.commit_index,
                                (unsigned long long)ns.applied_index, (unsigned long long)ns.last_log_index,
                                (long long)ns.revision);
    }
    if (want_section(x, "keyspace", 1)) {
        int64_t rev = 0, keys = 0;
        fsm_reader *rd = resp_reader(s);
        section(&ic, "Keyspace");
        if (!ic.rc && rd && fsm_reader_stats(rd, &rev, &keys) == 0 && keys > 0)
            ic.rc = kbuf_printf(&b, "db0:keys=%lld,expires=0,avg_ttl=0\r\n", (long long)keys);
    }
    reply *r = resp_out(x);
    if (ic.rc)
        r->err = KAHUNA_ENOMEM;
    else
        reply_verbatim(r, b.data ? b.data : (const uint8_t *)"", b.len);
    kbuf_free(&b);
}

/* ---- DBSIZE ---- */

static void dbsize_read(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    int64_t rev, keys;
    fsm_reader *rd;
    if (status) {
        resp_reply_status(&r, status);
    } else if (!(rd = resp_reader(op->c->s))) {
        resp_reply_status(&r, KAHUNA_EIO);
    } else {
        int rc = fsm_reader_stats(rd, &rev, &keys);
        if (rc)
            resp_reply_status(&r, rc);
        else
            reply_int(&r, keys);
    }
    resp_op_done(op, &r);
}

static void dbsize_cmd(resp_ctx *x)
{
    resp_op *op = resp_op_start(x, 0);
    if (op)
        resp_op_read(op, dbsize_read);
}

/* ---- CONFIG ---- */

static void config_cmd(resp_ctx *x)
{
    kbytes sub = x->argv[1];
    reply *r = resp_out(x);
    if (resp_arg_is(sub, "GET") && x->argc >= 3) {
        resp_stats st;
        char maxc[24], port[24];
        resp_get_stats(x->c->s, &st);
        reply_ll2str(maxc, (long long)st.max_clients);
        reply_ll2str(port, st.port);
        char bulk[24];
        reply_ll2str(bulk, RESP_MAX_BULK);
        const char *params[][2] = {
            {"appendonly", "yes"}, {"appendfsync", "always"}, {"databases", "1"},
            {"maxclients", maxc}, {"maxmemory", "0"}, {"port", port}, {"proto-max-bulk-len", bulk},
            {"save", ""}, {"timeout", "0"},
        };
        size_t np = sizeof params / sizeof params[0];
        int hit[sizeof params / sizeof params[0]] = {0};
        size_t n = 0;
        for (size_t i = 0; i < np; i++) {
            for (size_t j = 2; j < x->argc && !hit[i]; j++) {
                if (glob_match(x->argv[j].p, x->argv[j].n, (const uint8_t *)params[i][0],
                               strlen(params[i][0]), 1)) {
                    hit[i] = 1;
                    n++;
                }
            }
        }
        reply_map(r, n);
        for (size_t i = 0; i < np; i++) {
            if (hit[i]) {
                reply_bulk_str(r, params[i][0]);
                reply_bulk_str(r, params[i][1]);
            }
        }
    } else if (resp_arg_is(sub, "SET") && x->argc >= 4) {
        int n = x->argv[2].n > 128 ? 128 : (int)x->argv[2].n;
        reply_errorf(r, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'", n,
                     (const char *)x->argv[2].p);
    } else if (resp_arg_is(sub, "RESETSTAT") && x->argc == 2) {
        reply_simple(r, "OK");
    } else if (resp_arg_is(sub, "HELP") && x->argc == 2) {
        static const char *help[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
            "RESETSTAT", "    Accepted; does nothing.",
            "HELP", "    Print this help.",
        };
        reply_array(r, sizeof help / sizeof help[0]);
        for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
            reply_simple(r, help[i]);
    } else {
        int n = sub.n > 128 ? 128 : (int)sub.n;
        reply_errorf(r, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try CONFIG HELP.",
                     n, (const char *)sub.p);
    }
}

#define CONN(name, arity, flags, cls, fn, group, since, summary, args)                    \
    {name, arity, flags, cls, NULL, fn, 0, 0, 0, group, summary, since, "@connection @fast", args}

const resp_command resp_cmds_conn[] = {
    CONN("PING", -1, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, ping_cmd, "connection", "1.0.0",
         "Returns the server's liveliness response.", "[message]"),
    CONN("ECHO", 2, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, echo_cmd, "connection", "1.0.0",
         "Returns the given string.", "message"),
    CONN("QUIT", -1, RF_NOAUTH | RF_FAST | RF_STALE | RF_LOADING | RF_ALLOWBUSY | RF_NOMULTI, RC_LOCAL,
         quit_cmd, "connection", "1.0.0", "Closes the connection.", ""),
    CONN("AUTH", -2, RF_NOAUTH | RF_FAST | RF_STALE | RF_LOADING | RF_NOSCRIPT | RF_NOMULTI, RC_LOCAL,
         auth_cmd, "connection", "1.0.0", "Authenticates the connection.", "[username] password"),
    CONN("HELLO", -1, RF_NOAUTH | RF_FAST | RF_STALE | RF_LOADING | RF_NOSCRIPT | RF_NOMULTI, RC_LOCAL,
         hello_cmd, "connection", "6.0.0", "Handshakes with the server.",
         "[protover [AUTH username password] [SETNAME clientname]]"),
    CONN("SELECT", 2, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, select_cmd, "connection", "1.0.0",
         "Changes the selected database (kahuna has database 0 only).", "index"),
    CONN("RESET", 1, RF_FAST | RF_STALE | RF_LOADING | RF_NOAUTH | RF_NOMULTI, RC_LOCAL, reset_cmd,
         "connection", "6.2.0", "Resets the connection.", ""),
    CONN("CLIENT", -2, RF_STALE | RF_LOADING, RC_LOCAL, client_cmd, "connection", "2.4.0",
         "A container for client connection commands.",
         "ID|INFO|LIST|GETNAME|SETNAME name|SETINFO attr value|HELP"),
    CONN("READONLY", 1, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, readonly_cmd, "cluster", "3.0.0",
         "Serves this connection's reads from the node's local state (stale, no leader round trip).", ""),
    CONN("READWRITE", 1, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, readwrite_cmd, "cluster", "3.0.0",
         "Makes this connection's reads linearizable again (the default).", ""),
    {"COMMAND", -1, RF_STALE | RF_LOADING, RC_LOCAL, NULL, resp_cmd_command, 0, 0, 0, "server",
     "Returns detailed information about all commands.", "2.8.13", "@slow @connection",
     "[COUNT|LIST|INFO [name ...]|DOCS [name ...]|GETKEYS command ...]"},
    {"INFO", -1, RF_STALE | RF_LOADING, RC_LOCAL, NULL, info_cmd, 0, 0, 0, "server",
     "Returns information and statistics about the server.", "1.0.0", "@slow @dangerous",
     "[section ...]"},
    {"DBSIZE", 1, RF_READONLY | RF_FAST, RC_READ, NULL, dbsize_cmd, 0, 0, 0, "server",
     "Returns the number of keys in the database.", "1.0.0", "@keyspace @read @fast", ""},
    {"TIME", 1, RF_FAST | RF_STALE | RF_LOADING, RC_LOCAL, NULL, time_cmd, 0, 0, 0, "server",
     "Returns the server time.", "2.6.0", "@fast", ""},
    {"CONFIG", -2, RF_STALE | RF_LOADING | RF_NOSCRIPT, RC_LOCAL, NULL, config_cmd, 0, 0, 0, "server",
     "Reads the few Redis configuration parameters kahuna emulates.", "2.0.0", "@admin @slow @dangerous",
     "GET pattern [pattern ...]|RESETSTAT|HELP"},
};
const size_t resp_cmds_conn_n = sizeof resp_cmds_conn / sizeof resp_cmds_conn[0];
