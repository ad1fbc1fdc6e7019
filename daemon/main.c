/* main.c: kahunad: reads the options, takes the data dir, starts the node
 * and the HTTP server, and stops them cleanly on SIGTERM/SIGINT. Nothing
 * else lives here.
 *
 * Exit status: 0 after a clean stop; 64 for a bad option or config; 1 when
 * the node cannot start (data dir in use or of another node, port busy,
 * storage error). A node that fails on its durability path exits 70 from
 * node.c (fail-stop).
 *
 * Peers: with --peer-secret, the peer transport (Raft messages and
 * snapshots out) and the forwarder (client requests a follower sends to the
 * leader) are started before the node and handed to it as callbacks; the
 * /raft/ routes of the HTTP server bring peer input in.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by
 * sigwait() here, so the stop runs in order on the main thread: stop
 * accepting connections, stop the node (the batch in flight completes and is
 * answered; queued and waiting requests get "unavailable"), finish the HTTP
 * responses, free. SIGPIPE is ignored (a client that hangs up is an error
 * on that connection, not a death of the process). */
#ifdef HAVE_CONFIG_H
#include <config.h>             /* autoconf's, for PACKAGE_VERSION */
#endif
#include "config.h"             /* daemon/config.h: the options */

#include "api/http.h"
#include "resp/resp.h"
#include "errors.h"
#include "httpc.h"
#include "log.h"
#include "node.h"
#include "peer/forward.h"
#include "peer/transport.h"
#include "testvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define EXIT_USAGE 64
#define EXIT_START 1

static const char *env_lookup(void *arg, const char *name)
{
    (void)arg;
    return getenv(name);
}

/* mkdir -p dir, new directories mode 0700. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return ENOMEM;
    int rc = 0;
    for (char *s = p + 1; ; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = errno;
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    if (rc == 0) {
        struct stat st;
        if (stat(dir, &st) != 0)
            rc = errno;
        else if (!S_ISDIR(st.st_mode))
            rc = ENOTDIR;
    }
    return rc;
}

/* Takes DATA_DIR/LOCK (flock, exclusive) for the life of the process and
 * writes our pid in it. Returns the fd, or -1 after logging why. */
static int lock_data_dir(const char *dir)
{
    char *path = NULL;
    if (asprintf(&path, "%s/LOCK", dir) < 0) {
        log_error("main", "out of memory");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("main", "cannot open %s: %s; make the data dir writable by this user or pass "
                  "another --data-dir", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            log_error("main", "data dir %s is in use by another kahunad%s%s%s: stop it first, or "
                      "pass another --data-dir", dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        else
            log_error("main", "cannot lock %s: %s", path, strerror(e));
        close(fd);
        free(path);
        return -1;
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
        log_warn("main", "cannot write the pid into %s: %s", path, strerror(errno));
    free(path);
    return fd;
}

/* After node_stop: forwarded requests in flight are answered (their HTTP
 * connections are still there to take the answer), then the sender stops. */
static void stop_peers(peer_forwarder *pf, peer_transport *pt)
{
    if (pf)
        peer_forwarder_stop(pf);
    if (pt)
        peer_transport_stop(pt);
}

static void print_url(char *buf, size_t n, const char *host, int port)
{
    if (strchr(host, ':'))
        snprintf(buf, n, "http://[%s]:%d", host, port);
    else
        snprintf(buf, n, "http://%s:%d", host, port);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);

    kconfig cfg;
    char *err = NULL;
    int rc = config_parse(argc, argv, env_lookup, NULL, &cfg, &err);
    if (rc) {
        fprintf(stderr, "kahunad: %s\n", err ? err : "out of memory");
        free(err);
        return EXIT_USAGE;
    }
    if (cfg.help) {
        fputs(config_usage(), stdout);
        config_free(&cfg);
        return 0;
    }
    if (cfg.version) {
        printf("kahunad %s\n", PACKAGE_VERSION);
        config_free(&cfg);
        return 0;
    }
    log_set_level(cfg.log_level);
    if (cfg.config_file)
        log_info("main", "options from %s, the environment and the command line", cfg.config_file);
    if (testvfs_install_if_asked() != 0) {      /* KAHUNA_TEST_LOSE_UNSYNCED=1: tests only */
        config_free(&cfg);
        return EXIT_START;
    }
    if (httpc_global_init() != 0) {
        log_error("main", "cannot initialise libcurl; check the installation of libcurl");
        config_free(&cfg);
        return EXIT_START;
    }

    int e = make_dirs(cfg.data_dir);
    if (e) {
        log_error("main", "cannot create data dir %s: %s; create it, or pass another --data-dir",
                  cfg.data_dir, strerror(e));
        config_free(&cfg);
        return EXIT_START;
    }
    int lock_fd = lock_data_dir(cfg.data_dir);
    if (lock_fd < 0) {
        config_free(&cfg);
        return EXIT_START;
    }

    /* every thread started from here on inherits the blocked signals */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    /* the peer edge: only with a secret (a node without one never talks
     * to peers, and refuses every /raft/ request) */
    peer_transport *pt = NULL;
    peer_forwarder *pf = NULL;
    node_transport ntr;
    memset(&ntr, 0, sizeof ntr);
    if (cfg.peer_secret) {
        peer_options popt = {cfg.peer_secret, 0, 0};
        if (peer_transport_start(&popt, &pt) != 0 || peer_forwarder_start(cfg.peer_secret, &pf) != 0) {
            log_error("main", "cannot start the peer transport (out of memory or libcurl failed)");
            if (pt)
                peer_transport_stop(pt);
            close(lock_fd);
            config_free(&cfg);
            return EXIT_START;
        }
        peer_transport_bind(pt, &ntr);
        peer_forwarder_bind(pf, &ntr);
    }
    node_peer *peers = calloc(cfg.npeers ? cfg.npeers : 1, sizeof *peers);
    if (!peers) {
        log_error("main", "out of memory");
        close(lock_fd);
        config_free(&cfg);
        return EXIT_START;
    }
    for (size_t i = 0; i < cfg.npeers; i++)
        peers[i] = (node_peer){cfg.peers[i].id, cfg.peers[i].url};
    node_config ncfg;
    memset(&ncfg, 0, sizeof ncfg);
    ncfg.node_id = cfg.node_id;
    ncfg.data_dir = cfg.data_dir;
    ncfg.history_keep = cfg.history_keep;
    ncfg.self_url = cfg.advertise_url;
    ncfg.peers = peers;
    ncfg.npeers = cfg.npeers;
    ncfg.join = cfg.join;
    ncfg.transport = pt ? &ntr : NULL;
    ncfg.snapshot_entries = cfg.snapshot_entries;
    node *n = NULL;
    rc = node_start(&ncfg, &n);
    free(peers);
    if (rc == 0 && pt)
        peer_transport_set_node(pt, n);
    if (rc == KAHUNA_EMISMATCH) {
        char *owner = NULL;
        if (node_data_dir_owner(cfg.data_dir, &owner) == 0)
            log_error("main", "data dir %s belongs to node %s; pass --node-id %s or use another "
                      "--data-dir", cfg.data_dir, owner, owner);
        else
            log_error("main", "data dir %s belongs to another node; pass that node's --node-id or "
                      "use another --data-dir", cfg.data_dir);
        free(owner);
    } else if (rc) {
        log_error("main", "cannot start node %s in %s (%s); see the messages above",
                  cfg.node_id, cfg.data_dir, kahuna_strerror(rc));
    }
    if (rc) {
        if (pf)
            peer_forwarder_stop(pf);
        if (pt)
            peer_transport_stop(pt);
        close(lock_fd);
        config_free(&cfg);
        return EXIT_START;
    }

    api_options aopt;
    memset(&aopt, 0, sizeof aopt);
    aopt.host = cfg.listen_host;
    aopt.port = cfg.listen_port;
    aopt.threads = cfg.http_threads;
    aopt.node_id = cfg.node_id;
    aopt.peer_secret = cfg.peer_secret;
    api_server *srv = NULL;
    const char *api_err = NULL;
    rc = api_server_start(&aopt, n, &srv, &api_err);
    if (rc) {
        log_error("main", "cannot serve REST on %s port %d: %s", cfg.listen_host, cfg.listen_port,
                  api_err ? api_err : kahuna_strerror(rc));
        node_stop(n);
        stop_peers(pf, pt);
        node_free(n);
        close(lock_fd);
        config_free(&cfg);
        return EXIT_START;
    }
    resp_server *rsrv = NULL;
    if (!cfg.resp_off) {
        resp_options ropt = {cfg.resp_host, cfg.resp_port, cfg.requirepass, cfg.node_id, 0};
        const char *resp_err = NULL;
        rc = resp_server_start(&ropt, n, &rsrv, &resp_err);
        if (rc) {
            log_error("main", "cannot serve the Redis protocol on %s port %d: %s", cfg.resp_host,
                      cfg.resp_port, resp_err ? resp_err : kahuna_strerror(rc));
            api_server_quiesce(srv);
            node_stop(n);
            stop_peers(pf, pt);
            api_server_stop(srv);
            node_free(n);
            close(lock_fd);
            config_free(&cfg);
            return EXIT_START;
        }
    }
    char url[600];
    print_url(url, sizeof url, cfg.listen_host, cfg.listen_port);
    if (rsrv)
        log_info("main", "kahunad %s serving REST on %s and the Redis protocol on %s:%d, data in %s",
                 cfg.node_id, url, cfg.resp_host, resp_server_port(rsrv), cfg.data_dir);
    else
        log_info("main", "kahunad %s serving REST on %s, data in %s", cfg.node_id, url, cfg.data_dir);

    int sig = 0;
    for (;;) {
        int w = sigwait(&stop_signals, &sig);
        if (w == 0)
            break;
        if (w != EINTR) {
            log_error("main", "sigwait: %s; stopping", strerror(w));
            break;
        }
    }
    log_info("main", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    api_server_quiesce(srv);
    if (rsrv)
        resp_server_quiesce(rsrv);
    node_stop(n);
    stop_peers(pf, pt);
    api_server_stop(srv);
    if (rsrv)
        resp_server_stop(rsrv);
    node_free(n);
    log_info("main", "kahunad %s stopped cleanly", cfg.node_id);
    close(lock_fd);
    config_free(&cfg);
    return 0;
}
