/* run.c: kahuna-cli lock run NAME [--ttl D] [--wait D] [--owner O] --
 * COMMAND [ARGS...] (SPEC §5): run a command while holding a lock.
 *
 * One thread, no signal handlers. SIGCHLD, SIGTERM, SIGINT and SIGHUP are
 * blocked from the start and taken with sigtimedwait(), whose timeout is
 * the next extend; so a child's exit, a signal to forward and the extend
 * timer are handled one at a time, in one loop, without races.
 *
 *   acquire (waiting on the server up to --wait; a signal meanwhile aborts
 *     it, and nothing runs) -> not obtained: exit 75, nothing run
 *   fork + exec COMMAND with KAHUNA_LOCK and KAHUNA_FENCING_TOKEN set
 *   loop: extend every TTL/3; forward SIGTERM/SIGINT/SIGHUP to the child
 *     (not when the terminal sent it: the child got it too); reap the child
 *   child exited -> release, exit with its status (128+N for signal N)
 *
 * The lease is timed on our monotonic clock from the moment each acquire
 * or extend request was sent, so our idea of its end is never later than
 * the server's. An extend answered 404/409 means the lock is lost: say so,
 * SIGTERM the child (SIGKILL after a grace period), exit 75 without
 * releasing. An extend that gets no answer is retried until the lease is
 * nearly out; then the lock counts as lost too. */
#include "call.h"
#include "cli.h"
#include "clock.h"
#include "errors.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_KILL_GRACE_MS 10000    /* after SIGTERM for a lost lock, then SIGKILL */
#define RUN_RETRY_MAX_MS 1000      /* between extend attempts that got no answer */
#define RUN_RELEASE_ON_ABORT_MS 2000

typedef struct run_state {
    cli_ctx *c;
    const char *name;
    const char *owner;
    int64_t ttl_ms;
    kbuf path_extend, path_release, what;
    sigset_t sigs;                 /* SIGCHLD SIGTERM SIGINT SIGHUP */
    sigset_t stop_sigs;            /* SIGTERM SIGINT SIGHUP */
} run_state;

/* cancel callback while acquiring: a stop signal is pending */
static int stop_pending(void *arg)
{
    sigset_t p;
    if (sigpending(&p) != 0)
        return 0;
    return sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1 || sigismember(&p, SIGHUP) == 1;
}

/* Takes a pending stop signal, or returns 0 when none is pending. */
static int take_stop_signal(run_state *s)
{
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&s->stop_sigs, NULL, &zero);
    return sig > 0 ? sig : 0;
}

static json_t *owner_body(run_state *s, int with_ttl)
{
    json_t *b = json_pack("{s:s}", "owner", s->owner);
    if (b && with_ttl && json_object_set_new(b, "ttl_ms", json_integer(s->ttl_ms))) {
        json_decref(b);
        b = NULL;
    }
    return b;
}

/* Best effort: the lock expires anyway when this fails. */
static void release(run_state *s, int64_t budget_ms, int quiet_on_failure)
{
    call_result r = CALL_RESULT_INIT;
    json_t *b = owner_body(s, 0);
    if (!b)
        return;
    call_json(s->c, "POST", kbuf_str(&s->path_release), b, budget_ms, CALL_ONE_ROUND, &r);
    if (!call_ok(&r) && !quiet_on_failure) {
        if (r.rc == 0 && (r.resp.status == 404 || r.resp.status == 409))
            err_printf("%s: the lock was no longer held by %s at release", kbuf_str(&s->what), s->owner);
        else
            err_printf("%s: could not release the lock; it expires within %lld ms (%s)", kbuf_str(&s->what),
                       (long long)s->ttl_ms, r.rc ? kbuf_str(&r.errors) : "unexpected answer");
    }
    json_decref(b);
    call_result_free(&r);
}

static int make_owner(const cli_inv *inv, kbuf *out)
{
    if (inv->set[OPT_OWNER])
        return kbuf_append_str(out, inv->str[OPT_OWNER]);
    uint32_t rnd;
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)clock_wall_ms() ^ (uint32_t)clock_mono_us();
    kbuf user = KBUF_INIT, host = KBUF_INIT;
    int rc = lock_user_host(&user, &host);
    if (!rc)
        rc = cli_format_run_owner(out, kbuf_str(&user), kbuf_str(&host), (long)getpid(), rnd);
    kbuf_free(&user);
    kbuf_free(&host);
    return rc;
}

static struct timespec ts_of_ms(int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    return ts;
}

/* Runs the command; returns its pid, or -1 (reported). */
static pid_t spawn(run_state *s, const cli_inv *inv, const sigset_t *child_mask, int64_t token)
{
    char tok[32];
    snprintf(tok, sizeof(tok), "%lld", (long long)token);
    if (setenv("KAHUNA_LOCK", s->name, 1) != 0 || setenv("KAHUNA_FENCING_TOKEN", tok, 1) != 0) {
        err_printf("%s: cannot set the environment: %s", kbuf_str(&s->what), strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        err_printf("%s: cannot fork: %s", kbuf_str(&s->what), strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, child_mask, NULL);
        execvp(inv->command[0], inv->command);
        int e = errno;
        /* only async-signal-safe calls from here */
        static const char pre[] = "kahuna-cli: lock run: cannot run ";
        const char *msg = strerror(e);
        if (write(STDERR_FILENO, pre, sizeof(pre) - 1) < 0 ||
            write(STDERR_FILENO, inv->command[0], strlen(inv->command[0])) < 0 ||
            write(STDERR_FILENO, ": ", 2) < 0 || write(STDERR_FILENO, msg, strlen(msg)) < 0 ||
            write(STDERR_FILENO, "\n", 1) < 0) {
            /* nothing more to do */
        }
        _exit(e == ENOENT ? 127 : 126);
    }
    return pid;
}

enum extend_outcome { EXTENDED, LOST, NO_ANSWER };

static enum extend_outcome extend(run_state *s, int64_t budget_ms, int64_t *lease_end, kbuf *why)
{
    call_result r = CALL_RESULT_INIT;
    json_t *b = owner_body(s, 1);
    enum extend_outcome out = NO_ANSWER;
    kbuf_reset(why);
    if (!b) {
        kbuf_append_str(why, "out of memory");
        return NO_ANSWER;
    }
    int64_t sent_at = clock_mono_ms();
    call_json(s->c, "POST", kbuf_str(&s->path_extend), b, budget_ms, CALL_IDEMPOTENT | CALL_ONE_ROUND, &r);
    if (call_ok(&r)) {
        *lease_end = sent_at + s->ttl_ms;
        out = EXTENDED;
    } else if (r.rc == 0 && (r.resp.status == 404 || r.resp.status == 409)) {
        const char *m = r.json ? jstr(json_object_get(r.json, "error"), "message") : NULL;
        kbuf_printf(why, "%s", m ? m : (r.resp.status == 404 ? "the lock is not held" : "held by another owner"));
        out = LOST;
    } else if (r.rc == 0) {
        kbuf_printf(why, "HTTP %d from %s", r.resp.status, r.endpoint);
    } else {
        kbuf_append_str(why, r.errors.len ? kbuf_str(&r.errors) : kahuna_strerror(r.rc));
    }
    json_decref(b);
    call_result_free(&r);
    return out;
}

/* The loop while the child runs. Returns the exit status. */
static int supervise(run_state *s, pid_t pid, int64_t lease_end)
{
    int64_t ttl = s->ttl_ms;
    int64_t interval = ttl / 3 > 0 ? ttl / 3 : 1;
    int64_t margin = ttl / 10;
    int64_t retry = ttl / 10 < RUN_RETRY_MAX_MS ? (ttl / 10 > 10 ? ttl / 10 : 10) : RUN_RETRY_MAX_MS;
    int64_t next_extend = clock_mono_ms() + interval;
    int lost = 0, killed = 0, failing = 0, wstatus = 0;
    int64_t kill_at = 0;
    kbuf why = KBUF_INIT;

    for (;;) {
        int64_t now = clock_mono_ms();
        int64_t wake = lost ? (killed ? now + 60000 : kill_at) : next_extend;
        struct timespec ts = ts_of_ms(wake - now);
        siginfo_t info;
        int sig = sigtimedwait(&s->sigs, &info, &ts);
        if (sig == SIGCHLD) {
            pid_t w = waitpid(pid, &wstatus, WNOHANG);
            if (w == pid)
                break;
            if (w < 0 && errno == ECHILD) {
                err_printf("%s: lost track of the command (pid %ld)", kbuf_str(&s->what), (long)pid);
                wstatus = -1;
                break;
            }
            continue;
        }
        if (sig > 0) {
            /* SIGTERM/SIGINT/SIGHUP: pass it on, unless the terminal sent
             * it to the whole foreground group (the child has it already). */
            if (info.si_code != SI_KERNEL)
                kill(pid, sig);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            err_printf("%s: sigtimedwait: %s", kbuf_str(&s->what), strerror(errno));
            kill(pid, SIGTERM);
            lost = 1;
            kill_at = now + RUN_KILL_GRACE_MS;
            continue;
        }
        /* the timer */
        now = clock_mono_ms();
        if (lost) {
            if (!killed && now >= kill_at) {
                err_printf("%s: the command did not stop after SIGTERM; sending SIGKILL", kbuf_str(&s->what));
                kill(pid, SIGKILL);
                killed = 1;
            }
            continue;
        }
        if (now >= lease_end - margin) {
            err_printf("%s: lock lost: it could not be extended before its TTL ran out (%s); stopping the command",
                       kbuf_str(&s->what), why.len ? kbuf_str(&why) : "no answer");
        } else {
            int64_t budget = lease_end - margin - now;
            if (budget > s->c->timeout_ms)
                budget = s->c->timeout_ms;
            enum extend_outcome o = extend(s, budget, &lease_end, &why);
            now = clock_mono_ms();
            if (o == EXTENDED) {
                if (failing)
                    err_printf("%s: extended the lock again", kbuf_str(&s->what));
                failing = 0;
                next_extend = now + interval;
                continue;
            }
            if (o == NO_ANSWER) {
                if (!failing)
                    err_printf("%s: could not extend the lock (%s); retrying", kbuf_str(&s->what), kbuf_str(&why));
                failing = 1;
                next_extend = now + retry;
                continue;
            }
            err_printf("%s: lock lost (%s); stopping the command", kbuf_str(&s->what), kbuf_str(&why));
        }
        lost = 1;
        kill(pid, SIGTERM);
        kill_at = now + RUN_KILL_GRACE_MS;
    }
    kbuf_free(&why);
    if (lost)
        return CLI_EXIT_TEMPFAIL;
    release(s, s->c->timeout_ms, 0);
    return wstatus < 0 ? CLI_EXIT_SOFTWARE : cli_exit_for_wait_status(wstatus);
}

int cmd_lock_run(cli_ctx *c, const cli_inv *inv)
{
    run_state s;
    memset(&s, 0, sizeof(s));
    s.c = c;
    s.name = inv->pos[0];
    s.ttl_ms = inv->set[OPT_TTL] ? inv->num[OPT_TTL] : CLI_DEFAULT_LOCK_TTL_MS;
    int64_t wait = inv->set[OPT_WAIT] ? inv->num[OPT_WAIT] : 0;
    kbuf owner = KBUF_INIT, path_acquire = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    json_t *body = NULL;
    sigset_t old_mask;
    int status = CLI_EXIT_SOFTWARE;

    sigemptyset(&s.stop_sigs);
    sigaddset(&s.stop_sigs, SIGTERM);
    sigaddset(&s.stop_sigs, SIGINT);
    sigaddset(&s.stop_sigs, SIGHUP);
    s.sigs = s.stop_sigs;
    sigaddset(&s.sigs, SIGCHLD);

    kbuf_printf(&s.what, "lock run %s", s.name);
    if (make_owner(inv, &owner) || call_path(&path_acquire, "/v1/locks/", kbytes_str(s.name), "/acquire") ||
        call_path(&s.path_extend, "/v1/locks/", kbytes_str(s.name), "/extend") ||
        call_path(&s.path_release, "/v1/locks/", kbytes_str(s.name), "/release"))
        goto out;
    s.owner = kbuf_str(&owner);
    body = owner_body(&s, 1);
    if (!body || json_object_set_new(body, "wait_ms", json_integer(wait)))
        goto out;

    /* SIGCHLD must not be ignored (inherited SIG_IGN would reap for us). */
    signal(SIGCHLD, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &s.sigs, &old_mask) != 0) {
        err_printf("%s: sigprocmask: %s", kbuf_str(&s.what), strerror(errno));
        goto out;
    }

    c->cancel = stop_pending;
    c->cancel_arg = &s;
    int64_t sent_at = clock_mono_ms();
    int64_t budget = c->timeout_ms > INT64_MAX - wait ? INT64_MAX : c->timeout_ms + wait;
    call_json(c, "POST", kbuf_str(&path_acquire), body, budget, CALL_IDEMPOTENT, &r);
    c->cancel = NULL;
    c->cancel_arg = NULL;
    if (r.rc == KAHUNA_ECANCELED || (call_ok(&r) && stop_pending(&s))) {
        /* Stopped while acquiring: run nothing; do not keep the lock. */
        int sig = take_stop_signal(&s);
        release(&s, RUN_RELEASE_ON_ABORT_MS, 1);
        err_printf("%s: interrupted before the command started", kbuf_str(&s.what));
        status = sig ? 128 + sig : CLI_EXIT_TEMPFAIL;
        goto out;
    }
    if (!call_ok(&r)) {
        if (r.rc == 0 && r.resp.status == 409) {
            call_fail(c, &r, kbuf_str(&s.what));
            if (!c->quiet)
                err_printf("%s: lock not obtained; the command was not run", kbuf_str(&s.what));
            status = CLI_EXIT_TEMPFAIL;
        } else {
            status = call_fail(c, &r, kbuf_str(&s.what));
        }
        goto out;
    }
    int64_t token = jint(r.json, "fencing_token");
    if (token < 0) {
        err_printf("%s: unexpected answer from %s (no fencing_token)", kbuf_str(&s.what), r.endpoint);
        release(&s, c->timeout_ms, 1);
        goto out;
    }
    pid_t pid = spawn(&s, inv, &old_mask, token);
    if (pid < 0) {
        release(&s, c->timeout_ms, 0);
        goto out;
    }
    status = supervise(&s, pid, sent_at + s.ttl_ms);
out:
    /* Signals stay blocked: one still pending goes away with the process
     * instead of killing it after the child's status was decided. */
    json_decref(body);
    call_result_free(&r);
    kbuf_free(&owner);
    kbuf_free(&path_acquire);
    kbuf_free(&s.path_extend);
    kbuf_free(&s.path_release);
    kbuf_free(&s.what);
    return status;
}
