/* config.h: kahunad's options (SPEC §2) from the command line, the
 * environment (KAHUNA_*) and a config file, in that order of precedence.
 *
 * config_parse is pure apart from reading the config file: the environment
 * comes through a lookup function, nothing is printed, nothing exits. The
 * caller (main.c) turns an error into a message and exit status 64.
 *
 * Note: this is daemon/config.h; autoconf's generated header of the same
 * name is reached with <config.h> from the build directory. */
#ifndef KAHUNA_DAEMON_CONFIG_H
#define KAHUNA_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_MAX_NODE_ID 64          /* node ids: 1..64 of [A-Za-z0-9._-] */
#define CONFIG_DEFAULT_NODE_ID "n1"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:2070"
#define CONFIG_DEFAULT_RESP_LISTEN "127.0.0.1:7379"
#define CONFIG_DEFAULT_HISTORY_KEEP 16
#define CONFIG_MAX_HISTORY_KEEP 100000
#define CONFIG_MAX_HTTP_THREADS 1024
#define CONFIG_MIN_PEER_SECRET 16      /* bytes */
#define CONFIG_MAX_PEER_SECRET 1024
#define CONFIG_MAX_SNAPSHOT_ENTRIES 1000000000

typedef struct config_peer {
    char *id;
    char *url;
} config_peer;

/* A parsed configuration. Every string is malloc'd and owned by the struct
 * (config_free). */
typedef struct kconfig {
    char *node_id;
    char *listen_host;        /* without brackets: "127.0.0.1", "::1", "localhost" */
    int listen_port;
    int resp_off;             /* --resp-listen off */
    char *resp_host;          /* NULL when resp_off */
    int resp_port;
    config_peer *peers;       /* npeers entries; empty = single-node cluster */
    size_t npeers;
    char *data_dir;           /* as given, or the default under XDG_DATA_HOME / HOME */
    char *config_file;        /* NULL when none */
    enum log_level log_level;
    int history_keep;         /* 1..CONFIG_MAX_HISTORY_KEEP */
    int http_threads;         /* 0 = number of CPUs */
    char *requirepass;        /* RESP AUTH password; NULL = none */
    /* Raft cluster (issue 3): */
    char *peer_secret;        /* shared secret of /raft/ traffic (X-Kahuna-Peer-Secret);
                                 NULL = none (then every /raft/ request is refused);
                                 required when config_is_clustered() */
    int join;                 /* --join: start empty and wait to be added to an existing
                                 cluster; --peers is then information only, not a
                                 bootstrap configuration */
    char *advertise_url;      /* never NULL after config_parse: the URL peers use to reach
                                 this node, without trailing '/': --advertise-url, else this
                                 node's URL in --peers, else http://LISTEN_HOST:PORT */
    uint64_t snapshot_entries;/* applied entries between snapshots; 0 = the node's default */
    int help;                 /* --help given: print config_usage(), nothing else was checked */
    int version;              /* --version given */
} kconfig;

/* Returns the value of environment variable name, or NULL when unset. */
typedef const char *(*config_getenv_fn)(void *arg, const char *name);

/* Parses argv[1..argc) (argv[0] is the program name), the environment and
 * the config file (--config or KAHUNA_CONFIG) into *out. Empty environment
 * variables count as unset. Returns 0; or KAHUNA_EBADREQ with *err set to
 * a malloc'd one-line message that says what is wrong and what to do
 * (caller frees); or KAHUNA_ENOMEM. On error *out holds nothing to free. */
int config_parse(int argc, char *const argv[], config_getenv_fn getenv_fn, void *env_arg,
                 kconfig *out, char **err);

void config_free(kconfig *c);

/* 1 when the peer list names other nodes than this one (a multi-node
 * cluster bootstrapped from --peers). */
int config_is_multi_node(const kconfig *c);

/* 1 when this node talks to peers: a multi-node --peers, or --join. Such
 * a node always has a peer_secret; it, and any node with a peer_secret,
 * has an advertise_url that is not a wildcard address (config_parse
 * refuses otherwise). */
int config_is_clustered(const kconfig *c);

/* The --help text (static). */
const char *config_usage(void);

#endif
