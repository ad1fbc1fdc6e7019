/* config.c: kahunad's options from argv, the environment and a config file.
 *
 * Each source is read into a table of raw strings first (command line, then
 * the environment, then the file named by --config or KAHUNA_CONFIG); then
 * the values are checked and applied file -> environment -> command line,
 * so the later source wins. Every value is checked, also one that a later
 * source overrides, and an error names where the value came from
 * ("--listen", "KAHUNA_LISTEN", "FILE:LINE: listen"). */
#include "config.h"
#include "errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_id {
    OPT_NODE_ID,
    OPT_LISTEN,
    OPT_RESP_LISTEN,
    OPT_PEERS,
    OPT_DATA_DIR,
    OPT_CONFIG,
    OPT_LOG_LEVEL,
    OPT_HISTORY_KEEP,
    OPT_HTTP_THREADS,
    OPT_REQUIREPASS,
    OPT_PEER_SECRET,
    OPT_JOIN,
    OPT_ADVERTISE_URL,
    OPT_SNAPSHOT_ENTRIES,
    OPT_HELP,
    OPT_VERSION,
    OPT_COUNT_
};

static const struct opt_def {
    const char *name;     /* long option without the dashes; also the file key */
    const char *env;      /* NULL: not settable from the environment */
    int has_arg;
    int in_file;          /* may appear in a config file */
    const char *what;     /* expected shape, for messages */
} opt_defs[OPT_COUNT_] = {
    [OPT_NODE_ID] = {"node-id", "KAHUNA_NODE_ID", 1, 1, "ID"},
    [OPT_LISTEN] = {"listen", "KAHUNA_LISTEN", 1, 1, "HOST:PORT"},
    [OPT_RESP_LISTEN] = {"resp-listen", "KAHUNA_RESP_LISTEN", 1, 1, "HOST:PORT or off"},
    [OPT_PEERS] = {"peers", "KAHUNA_PEERS", 1, 1, "ID=URL,..."},
    [OPT_DATA_DIR] = {"data-dir", "KAHUNA_DATA_DIR", 1, 1, "DIR"},
    [OPT_CONFIG] = {"config", "KAHUNA_CONFIG", 1, 0, "FILE"},
    [OPT_LOG_LEVEL] = {"log-level", "KAHUNA_LOG_LEVEL", 1, 1, "error|warn|info|debug"},
    [OPT_HISTORY_KEEP] = {"history-keep", "KAHUNA_HISTORY_KEEP", 1, 1, "N"},
    [OPT_HTTP_THREADS] = {"http-threads", "KAHUNA_HTTP_THREADS", 1, 1, "N"},
    [OPT_REQUIREPASS] = {"requirepass", "KAHUNA_REQUIREPASS", 1, 1, "PASSWORD"},
    [OPT_PEER_SECRET] = {"peer-secret", "KAHUNA_PEER_SECRET", 1, 1, "SECRET"},
    [OPT_JOIN] = {"join", "KAHUNA_JOIN", 0, 1, "1 or 0"},
    [OPT_ADVERTISE_URL] = {"advertise-url", "KAHUNA_ADVERTISE_URL", 1, 1, "URL"},
    [OPT_SNAPSHOT_ENTRIES] = {"snapshot-entries", "KAHUNA_SNAPSHOT_ENTRIES", 1, 1, "N"},
    [OPT_HELP] = {"help", NULL, 0, 0, NULL},
    [OPT_VERSION] = {"version", NULL, 0, 0, NULL},
};

/* One raw value and where it came from. */
typedef struct raw_value {
    char *value;          /* malloc'd; NULL = not given by this source */
    char *origin;         /* malloc'd: "--listen", "KAHUNA_LISTEN", "FILE:3: listen" */
} raw_value;

typedef struct raw_source {
    raw_value v[OPT_COUNT_];
} raw_source;

static void raw_source_free(raw_source *s)
{
    for (int i = 0; i < OPT_COUNT_; i++) {
        free(s->v[i].value);
        free(s->v[i].origin);
        s->v[i].value = s->v[i].origin = NULL;
    }
}

/* Sets *err to a malloc'd formatted message; returns KAHUNA_EBADREQ (or
 * KAHUNA_ENOMEM when even that fails). */
__attribute__((format(printf, 2, 3)))
static int fail(char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        *err = NULL;
        return KAHUNA_ENOMEM;
    }
    free(*err);
    *err = msg;
    return KAHUNA_EBADREQ;
}

static int set_raw(raw_value *rv, const char *value, size_t value_len, const char *origin_fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_raw(raw_value *rv, const char *value, size_t value_len, const char *origin_fmt, ...)
{
    char *v = malloc(value_len + 1);
    if (!v)
        return KAHUNA_ENOMEM;
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    char *o = NULL;
    va_list ap;
    va_start(ap, origin_fmt);
    int n = vasprintf(&o, origin_fmt, ap);
    va_end(ap);
    if (n < 0) {
        free(v);
        return KAHUNA_ENOMEM;
    }
    free(rv->value);
    free(rv->origin);
    rv->value = v;
    rv->origin = o;
    return 0;
}

static int find_opt(const char *name, size_t len)
{
    for (int i = 0; i < OPT_COUNT_; i++)
        if (strlen(opt_defs[i].name) == len && memcmp(opt_defs[i].name, name, len) == 0)
            return i;
    return -1;
}

/* ---- value checks: each returns NULL or a static description ---- */

static int is_node_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static const char *check_node_id(const char *s, size_t n)
{
    if (n == 0)
        return "a node id must not be empty";
    if (n > CONFIG_MAX_NODE_ID)
        return "a node id has at most 64 characters";
    for (size_t i = 0; i < n; i++)
        if (!is_node_id_char(s[i]))
            return "a node id uses only letters, digits, '.', '_' and '-'";
    return NULL;
}

static const char *parse_port(const char *s, int *port)
{
    if (*s == '\0')
        return "the port is missing (HOST:PORT, e.g. 127.0.0.1:2070)";
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return "the port must be a number from 1 to 65535";
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return "the port must be a number from 1 to 65535";
    }
    if (v < 1)
        return "the port must be a number from 1 to 65535";
    *port = (int)v;
    return NULL;
}

/* HOST:PORT or [IPV6]:PORT. *host is malloc'd on success. */
static const char *parse_hostport(const char *s, char **host, int *port, int *nomem)
{
    const char *h, *colon;
    size_t hn;
    *nomem = 0;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return "an IPv6 address needs its closing bracket, e.g. [::1]:2070";
        if (close[1] != ':')
            return "expected HOST:PORT, e.g. 127.0.0.1:2070 or [::1]:2070";
        h = s + 1;
        hn = (size_t)(close - h);
        colon = close + 1;
        char tmp[INET6_ADDRSTRLEN + 1];
        unsigned char addr[16];
        if (hn == 0 || hn >= sizeof tmp)
            return "not a valid IPv6 address between the brackets";
        memcpy(tmp, h, hn);
        tmp[hn] = '\0';
        if (inet_pton(AF_INET6, tmp, addr) != 1)
            return "not a valid IPv6 address between the brackets";
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return "expected HOST:PORT, e.g. 127.0.0.1:2070";
        h = s;
        hn = (size_t)(colon - s);
        if (memchr(h, ':', hn))
            return "write an IPv6 address in brackets, e.g. [::1]:2070";
        if (hn == 0)
            return "the host is missing (HOST:PORT, e.g. 127.0.0.1:2070 or 0.0.0.0:2070)";
        if (hn > 253)
            return "the host name is too long";
        for (size_t i = 0; i < hn; i++) {
            char c = h[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return "the host must be an IPv4 address, a host name, or [IPv6]";
        }
    }
    const char *perr = parse_port(colon + 1, port);
    if (perr)
        return perr;
    char *copy = malloc(hn + 1);
    if (!copy) {
        *nomem = 1;
        return "out of memory";
    }
    memcpy(copy, h, hn);
    copy[hn] = '\0';
    *host = copy;
    return NULL;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static const char *parse_int(const char *s, long lo, long hi, int *out)
{
    if (*s == '\0')
        return "expected a number";
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end != '\0' || s[0] == '+' || is_blank(s[0]))
        return "expected a whole number";
    if (v < lo || v > hi)
        return "the number is out of range";
    *out = (int)v;
    return NULL;
}

/* 1/0, true/false, yes/no, on/off (any case). */
static const char *parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return NULL;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return NULL;
        }
    }
    return "expected 1 or 0 (true/false, yes/no, on/off)";
}

/* The peer secret travels in an HTTP header (X-Kahuna-Peer-Secret): it
 * must be long enough not to be guessed, and header-safe. */
static const char *check_peer_secret(const char *s)
{
    size_t n = strlen(s);
    if (n < CONFIG_MIN_PEER_SECRET)
        return "the peer secret is too short: use at least 16 bytes, e.g. the output of "
               "'openssl rand -hex 32'";
    if (n > CONFIG_MAX_PEER_SECRET)
        return "the peer secret is longer than 1024 bytes";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return "the peer secret may use only visible ASCII characters (no spaces), "
                   "e.g. the output of 'openssl rand -hex 32'";
    return NULL;
}

static void peers_free(config_peer *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].id);
        free(p[i].url);
    }
    free(p);
}

static const char *check_url(const char *u, size_t n)
{
    size_t skip;
    if (n >= 7 && strncmp(u, "http://", 7) == 0)
        skip = 7;
    else if (n >= 8 && strncmp(u, "https://", 8) == 0)
        skip = 8;
    else
        return "a peer URL starts with http:// or https://";
    if (n == skip || u[skip] == '/')
        return "a peer URL needs a host, e.g. http://10.0.0.2:2070";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= ' ' || u[i] == ',' || (unsigned char)u[i] == 0x7f)
            return "a peer URL must not contain spaces or control characters";
    return NULL;
}

/* "ID=URL,ID=URL" -> array. */
static const char *parse_peers(const char *s, config_peer **out, size_t *nout, int *nomem)
{
    config_peer *peers = NULL;
    size_t n = 0;
    const char *p = s;
    const char *e = NULL;
    *nomem = 0;
    if (*s == '\0')
        return "expected ID=URL,... (e.g. n1=http://10.0.0.1:2070,n2=http://10.0.0.2:2070)";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            e = "each peer is ID=URL, e.g. n2=http://10.0.0.2:2070";
            goto bad;
        }
        size_t idn = (size_t)(eq - p);
        size_t urln = len - idn - 1;
        if ((e = check_node_id(p, idn)) != NULL)
            goto bad;
        if ((e = check_url(eq + 1, urln)) != NULL)
            goto bad;
        for (size_t i = 0; i < n; i++)
            if (strlen(peers[i].id) == idn && memcmp(peers[i].id, p, idn) == 0) {
                e = "a peer id appears twice";
                goto bad;
            }
        config_peer *np = realloc(peers, (n + 1) * sizeof *np);
        if (!np)
            goto oom;
        peers = np;
        peers[n].id = malloc(idn + 1);
        peers[n].url = malloc(urln + 1);
        if (!peers[n].id || !peers[n].url) {
            free(peers[n].id);
            free(peers[n].url);
            goto oom;
        }
        memcpy(peers[n].id, p, idn);
        peers[n].id[idn] = '\0';
        memcpy(peers[n].url, eq + 1, urln);
        peers[n].url[urln] = '\0';
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = peers;
    *nout = n;
    return NULL;
oom:
    *nomem = 1;
    e = "out of memory";
bad:
    peers_free(peers, n);
    return e;
}

/* Applies one raw value to the config. */
static int apply_value(kconfig *c, int id, const raw_value *rv, char **err)
{
    const char *v = rv->value;
    const char *e = NULL;
    int nomem = 0;
    switch (id) {
    case OPT_NODE_ID:
        if ((e = check_node_id(v, strlen(v))) != NULL)
            break;
        free(c->node_id);
        if (!(c->node_id = strdup(v)))
            return KAHUNA_ENOMEM;
        return 0;
    case OPT_LISTEN: {
        char *host = NULL;
        int port = 0;
        if ((e = parse_hostport(v, &host, &port, &nomem)) != NULL)
            break;
        free(c->listen_host);
        c->listen_host = host;
        c->listen_port = port;
        return 0;
    }
    case OPT_RESP_LISTEN: {
        if (strcmp(v, "off") == 0) {
            free(c->resp_host);
            c->resp_host = NULL;
            c->resp_off = 1;
            c->resp_port = 0;
            return 0;
        }
        char *host = NULL;
        int port = 0;
        if ((e = parse_hostport(v, &host, &port, &nomem)) != NULL)
            break;
        free(c->resp_host);
        c->resp_host = host;
        c->resp_port = port;
        c->resp_off = 0;
        return 0;
    }
    case OPT_PEERS: {
        config_peer *peers = NULL;
        size_t n = 0;
        if ((e = parse_peers(v, &peers, &n, &nomem)) != NULL)
            break;
        peers_free(c->peers, c->npeers);
        c->peers = peers;
        c->npeers = n;
        return 0;
    }
    case OPT_DATA_DIR:
        if (*v == '\0') {
            e = "the data dir must not be empty";
            break;
        }
        free(c->data_dir);
        if (!(c->data_dir = strdup(v)))
            return KAHUNA_ENOMEM;
        return 0;
    case OPT_CONFIG:
        if (*v == '\0') {
            e = "the config file name must not be empty";
            break;
        }
        free(c->config_file);
        if (!(c->config_file = strdup(v)))
            return KAHUNA_ENOMEM;
        return 0;
    case OPT_LOG_LEVEL:
        if (log_parse_level(v, &c->log_level) != 0)
            e = "the log level is one of error, warn, info, debug";
        else
            return 0;
        break;
    case OPT_HISTORY_KEEP:
        if ((e = parse_int(v, 1, CONFIG_MAX_HISTORY_KEEP, &c->history_keep)) != NULL)
            e = "history-keep is a whole number from 1 to 100000";
        else
            return 0;
        break;
    case OPT_HTTP_THREADS:
        if ((e = parse_int(v, 0, CONFIG_MAX_HTTP_THREADS, &c->http_threads)) != NULL)
            e = "http-threads is a whole number from 0 (one per CPU) to 1024";
        else
            return 0;
        break;
    case OPT_REQUIREPASS:
        free(c->requirepass);
        if (!(c->requirepass = strdup(v)))
            return KAHUNA_ENOMEM;
        return 0;
    case OPT_PEER_SECRET:
        if ((e = check_peer_secret(v)) != NULL)
            break;
        free(c->peer_secret);
        if (!(c->peer_secret = strdup(v)))
            return KAHUNA_ENOMEM;
        return 0;
    case OPT_JOIN:
        if ((e = parse_bool(v, &c->join)) != NULL)
            break;
        return 0;
    case OPT_SNAPSHOT_ENTRIES: {
        int n = 0;
        if (parse_int(v, 0, CONFIG_MAX_SNAPSHOT_ENTRIES, &n) != NULL) {
            e = "snapshot-entries is a whole number from 0 (the default, 100000) to 1000000000";
            break;
        }
        c->snapshot_entries = (uint64_t)n;
        return 0;
    }
    case OPT_ADVERTISE_URL: {
        size_t n = strlen(v);
        if ((e = check_url(v, n)) != NULL)
            break;
        while (n > 0 && v[n - 1] == '/')   /* peers append /raft/v1/... */
            n--;
        char *u = strndup(v, n);
        if (!u)
            return KAHUNA_ENOMEM;
        free(c->advertise_url);
        c->advertise_url = u;
        return 0;
    }
    default:
        return 0;
    }
    if (nomem)
        return KAHUNA_ENOMEM;
    if (id == OPT_PEER_SECRET)     /* never echo a secret into logs */
        return fail(err, "%s: %s", rv->origin, e);
    return fail(err, "%s '%s': %s", rv->origin, v, e);
}

/* ---- the three sources ---- */

static int read_argv(int argc, char *const argv[], raw_source *src, char **err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            int rc = set_raw(&src->v[OPT_HELP], "1", 1, "-h");
            if (rc)
                return rc;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return fail(err, "unexpected argument '%s'; kahunad takes only options (see kahunad --help)", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int id = find_opt(name, nlen);
        if (id < 0)
            return fail(err, "unknown option '--%.*s' (see kahunad --help)", (int)nlen, name);
        const struct opt_def *d = &opt_defs[id];
        const char *value;
        if (!d->has_arg) {
            if (eq)
                return fail(err, "option --%s takes no value", d->name);
            value = "1";
        } else if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc)
                return fail(err, "option --%s needs a value: --%s %s", d->name, d->name, d->what);
            value = argv[++i];
        }
        int rc = set_raw(&src->v[id], value, strlen(value), "--%s", d->name);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_env(config_getenv_fn getenv_fn, void *env_arg, raw_source *src)
{
    if (!getenv_fn)
        return 0;
    for (int id = 0; id < OPT_COUNT_; id++) {
        const char *name = opt_defs[id].env;
        if (!name)
            continue;
        const char *v = getenv_fn(env_arg, name);
        if (!v || *v == '\0')
            continue;
        int rc = set_raw(&src->v[id], v, strlen(v), "%s", name);
        if (rc)
            return rc;
    }
    return 0;
}

/* Trims [*s, *s + *n) in place. */
static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* `key = value` lines; '#' starts a comment at the start of a line or after
 * a blank; a value may be put in double quotes. */
static int parse_file_line(const char *path, unsigned long lineno, const char *line, size_t len,
                           raw_source *src, char **err)
{
    /* cut a comment: '#' at the start or after whitespace, outside quotes */
    int in_quotes = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"')
            in_quotes = !in_quotes;
        else if (line[i] == '#' && !in_quotes && (i == 0 || is_blank(line[i - 1]))) {
            len = i;
            break;
        }
    }
    const char *s = line;
    size_t n = len;
    trim(&s, &n);
    if (n == 0)
        return 0;
    if (memchr(s, '\0', n))
        return fail(err, "%s:%lu: the line contains a NUL byte", path, lineno);
    const char *eq = memchr(s, '=', n);
    if (!eq)
        return fail(err, "%s:%lu: expected 'key = value' (e.g. listen = 127.0.0.1:2070)", path, lineno);
    const char *k = s;
    size_t kn = (size_t)(eq - s);
    trim(&k, &kn);
    const char *v = eq + 1;
    size_t vn = (size_t)(s + n - v);
    trim(&v, &vn);
    if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
        v++;
        vn -= 2;
    }
    if (kn == 0)
        return fail(err, "%s:%lu: the key is missing before '='", path, lineno);
    /* accept node_id as well as node-id, and a leading "--" */
    char key[64];
    if (kn >= 2 && k[0] == '-' && k[1] == '-') {
        k += 2;
        kn -= 2;
    }
    if (kn >= sizeof key)
        return fail(err, "%s:%lu: unknown key '%.*s' (keys are the long option names, e.g. node-id)",
                    path, lineno, (int)(kn > 80 ? 80 : kn), k);
    for (size_t i = 0; i < kn; i++)
        key[i] = k[i] == '_' ? '-' : k[i];
    key[kn] = '\0';
    int id = find_opt(key, kn);
    if (id == OPT_CONFIG)
        return fail(err, "%s:%lu: 'config' cannot be set inside a config file", path, lineno);
    if (id < 0 || !opt_defs[id].in_file)
        return fail(err, "%s:%lu: unknown key '%s' (keys are the long option names, e.g. node-id)",
                    path, lineno, key);
    if (vn == 0)
        return fail(err, "%s:%lu: %s has no value", path, lineno, key);
    return set_raw(&src->v[id], v, vn, "%s:%lu: %s", path, lineno, opt_defs[id].name);
}

static int read_file(const char *path, raw_source *src, char **err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, "cannot read config file %s: %s; fix the path given by --config or KAHUNA_CONFIG",
                    path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        rc = parse_file_line(path, lineno, line, (size_t)len, src, err);
        if (rc)
            break;
        errno = 0;
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, "cannot read config file %s: %s", path, strerror(errno ? errno : EIO));
    free(line);
    fclose(f);
    return rc;
}

/* ---- defaults and the whole ---- */

static int set_default_data_dir(kconfig *c, config_getenv_fn getenv_fn, void *env_arg, char **err)
{
    const char *xdg = getenv_fn ? getenv_fn(env_arg, "XDG_DATA_HOME") : NULL;
    const char *home = getenv_fn ? getenv_fn(env_arg, "HOME") : NULL;
    char *dir = NULL;
    int n;
    if (xdg && xdg[0] == '/')   /* the XDG spec ignores relative paths */
        n = asprintf(&dir, "%s/kahuna/%s", xdg, c->node_id);
    else if (home && home[0] != '\0')
        n = asprintf(&dir, "%s/.local/share/kahuna/%s", home, c->node_id);
    else
        return fail(err, "no data dir: HOME and XDG_DATA_HOME are not set; pass --data-dir DIR");
    if (n < 0)
        return KAHUNA_ENOMEM;
    c->data_dir = dir;
    return 0;
}

static int set_defaults(kconfig *c)
{
    memset(c, 0, sizeof *c);
    c->log_level = LOG_INFO;
    c->history_keep = CONFIG_DEFAULT_HISTORY_KEEP;
    c->http_threads = 0;
    c->listen_port = 2070;
    c->resp_port = 7379;
    c->node_id = strdup(CONFIG_DEFAULT_NODE_ID);
    c->listen_host = strdup("127.0.0.1");
    c->resp_host = strdup("127.0.0.1");
    if (!c->node_id || !c->listen_host || !c->resp_host)
        return KAHUNA_ENOMEM;
    return 0;
}

static const config_peer *self_peer(const kconfig *c)
{
    for (size_t i = 0; i < c->npeers; i++)
        if (strcmp(c->peers[i].id, c->node_id) == 0)
            return &c->peers[i];
    return NULL;
}

static int is_wildcard_host(const char *h)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return a4.s_addr == htonl(INADDR_ANY);
    if (inet_pton(AF_INET6, h, &a6) == 1)
        return IN6_IS_ADDR_UNSPECIFIED(&a6);
    return 0;
}

/* Length of url without trailing slashes. */
static size_t url_len(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return n;
}

static int same_url(const char *a, const char *b)
{
    size_t n = url_len(a);
    return n == url_len(b) && memcmp(a, b, n) == 0;
}

/* 1 when the host of an http(s) URL (checked by check_url) is 0.0.0.0 or
 * [::]: a listen address, not one peers can connect to. */
static int url_host_is_wildcard(const char *url)
{
    const char *h = strstr(url, "://");
    if (!h)
        return 0;
    h += 3;
    char host[INET6_ADDRSTRLEN + 1];
    size_t n;
    if (*h == '[') {
        h++;
        n = strcspn(h, "]");
    } else {
        n = strcspn(h, ":/?#");
    }
    if (n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    return is_wildcard_host(host);
}

/* The cluster rules, once every source is applied: the peer list names
 * this node (unless it joins), a cluster has a peer secret, and peers can
 * reach this node at its advertised URL (set here when not given). */
static int check_cluster(kconfig *c, char **err)
{
    const config_peer *self = self_peer(c);
    if (c->npeers > 0 && !self && !c->join)
        return fail(err, "--peers must list this node too (%s=http://HOST:PORT), or pass the "
                    "--node-id that the list names (a node that joins an existing cluster "
                    "takes --join)", c->node_id);
    int clustered = config_is_clustered(c);
    /* a node with a secret may be given members later: its URL goes into
     * the log with them, so it must be one they can reach */
    int reachable = clustered || c->peer_secret;
    if (clustered && !c->peer_secret)
        return fail(err, "%s needs a peer secret: pass --peer-secret SECRET or set "
                    "KAHUNA_PEER_SECRET, the same value on every node (at least 16 bytes, e.g. "
                    "'openssl rand -hex 32')",
                    c->join ? "--join" : "a cluster of several nodes (--peers)");
    if (c->advertise_url) {
        if (self && !same_url(self->url, c->advertise_url))
            return fail(err, "--advertise-url %s differs from this node's URL in --peers (%s=%s); "
                        "make them the same, or leave --advertise-url out",
                        c->advertise_url, self->id, self->url);
    } else if (self) {
        if (!(c->advertise_url = strndup(self->url, url_len(self->url))))
            return KAHUNA_ENOMEM;
    } else {
        int n;
        if (reachable && is_wildcard_host(c->listen_host))
            return fail(err, "--listen %s%s%s:%d is not an address other nodes can reach: pass "
                        "--advertise-url http://THIS_HOST:%d (the URL peers use to reach this "
                        "node), or list this node in --peers",
                        strchr(c->listen_host, ':') ? "[" : "", c->listen_host,
                        strchr(c->listen_host, ':') ? "]" : "", c->listen_port, c->listen_port);
        if (strchr(c->listen_host, ':'))
            n = asprintf(&c->advertise_url, "http://[%s]:%d", c->listen_host, c->listen_port);
        else
            n = asprintf(&c->advertise_url, "http://%s:%d", c->listen_host, c->listen_port);
        if (n < 0) {
            c->advertise_url = NULL;
            return KAHUNA_ENOMEM;
        }
    }
    if (reachable && url_host_is_wildcard(c->advertise_url))
        return fail(err, "this node's URL %s is not an address other nodes can reach: give "
                    "this node's real host name or address in --peers or --advertise-url",
                    c->advertise_url);
    if (c->join && c->npeers == 0)
        return fail(err, "--join needs --peers listing the members of the running cluster "
                    "(ID=URL,...): this node answers them before its log names them");
    return 0;
}

int config_parse(int argc, char *const argv[], config_getenv_fn getenv_fn, void *env_arg,
                 kconfig *out, char **err)
{
    raw_source cmd, env, file;
    memset(&cmd, 0, sizeof cmd);
    memset(&env, 0, sizeof env);
    memset(&file, 0, sizeof file);
    kconfig c;
    *err = NULL;
    int rc = set_defaults(&c);
    if (rc)
        goto out;
    if ((rc = read_argv(argc, argv, &cmd, err)) != 0)
        goto out;
    if (cmd.v[OPT_HELP].value || cmd.v[OPT_VERSION].value) {
        c.help = cmd.v[OPT_HELP].value != NULL;
        c.version = cmd.v[OPT_VERSION].value != NULL;
        goto done;
    }
    if ((rc = read_env(getenv_fn, env_arg, &env)) != 0)
        goto out;
    const raw_value *cfg = cmd.v[OPT_CONFIG].value ? &cmd.v[OPT_CONFIG] : &env.v[OPT_CONFIG];
    if (cfg->value) {
        if ((rc = apply_value(&c, OPT_CONFIG, cfg, err)) != 0)
            goto out;
        if ((rc = read_file(c.config_file, &file, err)) != 0)
            goto out;
    }
    raw_source *order[3] = {&file, &env, &cmd};
    for (int s = 0; s < 3; s++)
        for (int id = 0; id < OPT_COUNT_; id++) {
            if (id == OPT_CONFIG || !order[s]->v[id].value)
                continue;
            if ((rc = apply_value(&c, id, &order[s]->v[id], err)) != 0)
                goto out;
        }
    if (!c.data_dir && (rc = set_default_data_dir(&c, getenv_fn, env_arg, err)) != 0)
        goto out;
    if ((rc = check_cluster(&c, err)) != 0)
        goto out;
    if (!c.resp_off && c.resp_port == c.listen_port && strcmp(c.resp_host, c.listen_host) == 0) {
        rc = fail(err, "--listen and --resp-listen both use %s:%d; give the RESP listener another "
                  "port or pass --resp-listen off", c.listen_host, c.listen_port);
        goto out;
    }
done:
    *out = c;
    memset(&c, 0, sizeof c);
    rc = 0;
out:
    if (rc == KAHUNA_ENOMEM) {
        free(*err);
        *err = strdup("out of memory while reading the options");
    }
    if (rc)
        config_free(&c);
    raw_source_free(&cmd);
    raw_source_free(&env);
    raw_source_free(&file);
    return rc;
}

void config_free(kconfig *c)
{
    if (!c)
        return;
    free(c->node_id);
    free(c->listen_host);
    free(c->resp_host);
    peers_free(c->peers, c->npeers);
    free(c->data_dir);
    free(c->config_file);
    free(c->requirepass);
    free(c->peer_secret);
    free(c->advertise_url);
    memset(c, 0, sizeof *c);
}

int config_is_multi_node(const kconfig *c)
{
    for (size_t i = 0; i < c->npeers; i++)
        if (strcmp(c->peers[i].id, c->node_id) != 0)
            return 1;
    return 0;
}

int config_is_clustered(const kconfig *c)
{
    return c->join || config_is_multi_node(c);
}

const char *config_usage(void)
{
    return "Usage: kahunad [OPTION]...\n"
           "Runs a kahuna node: locks, a key/value store and sequences over REST.\n"
           "Plain kahunad starts a working single-node cluster.\n"
           "\n"
           "  --node-id ID             this node's name (KAHUNA_NODE_ID; default n1)\n"
           "  --listen HOST:PORT       REST API and peer Raft (KAHUNA_LISTEN; default 127.0.0.1:2070)\n"
           "  --resp-listen HOST:PORT  Redis protocol, or off (KAHUNA_RESP_LISTEN; default 127.0.0.1:7379)\n"
           "  --peers ID=URL,...       initial members, this node included (KAHUNA_PEERS;\n"
           "                           default: a single-node cluster)\n"
           "  --data-dir DIR           SQLite files (KAHUNA_DATA_DIR; default\n"
           "                           $XDG_DATA_HOME/kahuna/ID or ~/.local/share/kahuna/ID)\n"
           "  --config FILE            'key = value' lines with the long option names\n"
           "                           (KAHUNA_CONFIG)\n"
           "  --log-level LEVEL        error, warn, info or debug (KAHUNA_LOG_LEVEL; default info)\n"
           "  --history-keep N         versions of each key kept for ?revision and ?history\n"
           "                           (KAHUNA_HISTORY_KEEP; default 16)\n"
           "  --http-threads N         HTTP worker threads, 0 = one per CPU (KAHUNA_HTTP_THREADS)\n"
           "  --requirepass PASSWORD   clients of the Redis protocol must AUTH with it first\n"
           "                           (KAHUNA_REQUIREPASS; default: no password)\n"
           "\n"
           "Clusters:\n"
           "  --peer-secret SECRET     shared secret of peer Raft traffic, the same on every\n"
           "                           node, at least 16 bytes (KAHUNA_PEER_SECRET); needed\n"
           "                           with a multi-node --peers or --join\n"
           "  --join                   start empty and wait to be added to a running cluster\n"
           "                           (kahuna-cli cluster add ID URL); --peers then lists\n"
           "                           the running cluster's members (KAHUNA_JOIN=1)\n"
           "  --advertise-url URL      the URL other nodes use to reach this one\n"
           "                           (KAHUNA_ADVERTISE_URL; default: this node's URL in\n"
           "                           --peers, else http://LISTEN_HOST:PORT)\n"
           "  --snapshot-entries N     applied log entries between two snapshots, after which\n"
           "                           the log is compacted (KAHUNA_SNAPSHOT_ENTRIES; 0 =\n"
           "                           default, 100000)\n"
           "\n"
           "  -h, --help               print this help and exit\n"
           "  --version                print the version and exit\n"
           "\n"
           "The command line overrides the environment, which overrides the config file.\n"
           "IPv6 addresses go in brackets: --listen [::1]:2070.\n";
}
