/* server.c: the RESP listener's event loop (resp.h): one thread, epoll
 * (level-triggered), non-blocking sockets, a parser and an output buffer
 * per connection, and the hand-off of node answers back to the loop.
 *
 * A pass of the loop:
 *   1. epoll_wait; accept new clients; read what each readable client sent
 *      (one read per client per pass) and dispatch the complete commands.
 *   2. Deliver the node's answers (completion queue): each finishes an
 *      operation, whose reply then takes its turn in the FIFO.
 *   3. Issue one read barrier for every read parsed in this pass (all
 *      clients together), and parse again the clients that were waiting.
 *   4. Send: one send() per client with output, EPOLLOUT only for what the
 *      kernel did not take. Replies of a pipeline leave in one write.
 * Node callbacks run on the node thread (or on this thread, inside the
 * call): they copy the result into a resp_wait and push it on the queue;
 * the eventfd is written only when the queue was empty, and never for a
 * callback that runs on the loop thread itself.
 *
 * Memory per client is bounded: a command may hold RESP_MAX_QUERY bytes of
 * input; a client whose unsent replies pass RESP_OUT_SOFT is not read
 * (TCP pushes back) until they drain, and one whose replies pass
 * RESP_OUT_HARD (one huge reply) is closed. */
#include "resp_internal.h"
#include "clock.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define CURSOR_SLOTS 4096
#define DEFAULT_MAX_CLIENTS 10000

/* A node call in flight, then its answer on the way back. */
typedef struct resp_wait {
    struct resp_wait *next;
    resp_server *s;
    resp_op *op;               /* the operation (NULL for a barrier) */
    resp_op *ops;              /* a barrier's batch of reads */
    int tag;
    int lock_wait;
    resp_result res;
} resp_wait;

typedef struct cursor_slot {
    uint64_t id;
    kbuf key;
} cursor_slot;

struct resp_server {
    node *node;
    char *node_id;
    char *pass;
    int max_clients;
    int lfd, ep, efd, port;
    pthread_t thread;
    int thread_started;
    atomic_int stop_req, quiesce_req;

    pthread_mutex_t qmu;       /* guards qhead/qtail */
    resp_wait *qhead, *qtail;
    resp_wait *lhead, *ltail;  /* answers given on the loop thread itself */

    resp_conn *conns;          /* open connections */
    size_t nconns;
    resp_conn *parse_list;     /* clients to parse again this pass */
    resp_conn *write_list;     /* clients with output to send */
    resp_conn *dead;           /* closed, freed at the end of the pass */
    resp_op *batch, *batch_tail; /* reads waiting for the next barrier */

    resp_op *free_ops;
    resp_slot *free_slots;
    resp_wait *free_waits;

    resp_txn *txn_reading;     /* EXEC answering reads (cmd_multi.c) */
    resp_op *txn_reading_op;
    int is_leader;
    int stopping;              /* loop thread: no new commands */
    int accept_paused;
    int64_t accept_resume_ms;
    uint64_t next_conn_id;
    uint64_t lock_waiters;
    resp_stats stats;

    cursor_slot *cursors;
    uint64_t cursor_seq, cursor_base;

    /* resp_memo_*: the last key resp_kv_lookup read inside the read
     * snapshot that drain_completions holds over the reads of one barrier
     * (memo_on), and what the store said of it; forgotten when the
     * snapshot ends. A pipeline that reads one key again and again reads
     * it from SQLite once per snapshot: the snapshot would give the same
     * answer each time. */
    int memo_on, memo_valid, memo_rc;
    kbuf memo_key;
    kv_record memo_rec;
};

static _Thread_local resp_server *tl_loop;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        /* control structures of a few dozen bytes: like Redis, a server
         * that cannot get them cannot go on correctly */
        log_error("resp", "out of memory: aborting; give kahunad more memory");
        abort();
    }
    return p;
}

/* ---- wake-ups and the completion queue ---- */

static void wake(resp_server *s)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(s->efd, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is already non-zero, the loop will wake */
}

static void queue_push(resp_server *s, resp_wait *w)
{
    w->next = NULL;
    if (tl_loop == s) {
        if (s->ltail)
            s->ltail->next = w;
        else
            s->lhead = w;
        s->ltail = w;
        return;
    }
    pthread_mutex_lock(&s->qmu);
    int was_empty = s->qhead == NULL;
    if (s->qtail)
        s->qtail->next = w;
    else
        s->qhead = w;
    s->qtail = w;
    pthread_mutex_unlock(&s->qmu);
    if (was_empty)
        wake(s);
}

static resp_wait *wait_new(resp_server *s)
{
    resp_wait *w = s->free_waits;
    if (w)
        s->free_waits = w->next;
    else
        w = xcalloc(1, sizeof *w);
    memset(w, 0, sizeof *w);
    w->s = s;
    return w;
}

static void wait_free(resp_server *s, resp_wait *w)
{
    w->next = s->free_waits;
    s->free_waits = w;
}

static void on_node_done(void *arg, const fsm_result *res)
{
    resp_wait *w = arg;
    w->res.status = res->status;
    w->res.revision = res->revision;
    w->res.version = res->version;
    w->res.create_revision = res->create_revision;
    w->res.token = res->token;
    w->res.ttl_ms = res->ttl_ms;
    w->res.value = res->value;
    w->res.last = res->last;
    w->res.found = res->found;
    w->res.data = NULL;
    w->res.data_len = 0;
    if (res->data.len) {
        uint8_t *copy = malloc(res->data.len);
        if (copy) {
            memcpy(copy, res->data.data, res->data.len);
            w->res.data = copy;
            w->res.data_len = res->data.len;
        } else {
            w->res.status = KAHUNA_ENOMEM; /* the command applied; its answer is lost */
        }
    }
    queue_push(w->s, w);
}

static void on_barrier(void *arg, int status)
{
    resp_wait *w = arg;
    w->res.status = status;
    queue_push(w->s, w);
}

static int lock_alive(void *arg)
{
    resp_wait *w = arg;
    return !atomic_load(&w->op->c->gone);
}

/* ---- connections ---- */

static size_t out_pending(const resp_conn *c)
{
    return c->out.len - c->out_sent;
}

static void list_add(resp_conn *c, int which)
{
    resp_server *s = c->s;
    if (c->in_pending & which)
        return;
    c->in_pending |= which;
    if (which == 1) {
        c->pnext = s->parse_list;
        s->parse_list = c;
    } else {
        c->wnext = s->write_list;
        s->write_list = c;
    }
}

static void want_parse(resp_conn *c)
{
    if (!c->closed && !c->s->stopping)
        list_add(c, 1);
}

static void want_write(resp_conn *c)
{
    if (!c->closed && out_pending(c))
        list_add(c, 2);
}

static void conn_update_events(resp_conn *c)
{
    if (c->closed)
        return;
    int want = 0;
    if (!c->closing && !c->eof && !c->stalled && out_pending(c) <= RESP_OUT_SOFT)
        want |= EPOLLIN;
    if (!c->rdhup && !c->eof && !c->closing)
        want |= EPOLLRDHUP;
    if (out_pending(c))
        want |= EPOLLOUT;
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = (uint32_t)want, .data.ptr = c};
    if (epoll_ctl(c->s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = want;
    else
        log_warn("resp", "epoll_ctl on client %llu: %s", (unsigned long long)c->id, strerror(errno));
}

static void slot_free(resp_server *s, resp_slot *sl)
{
    if (sl->buf.cap > 16 * 1024)
        kbuf_free(&sl->buf);
    else
        kbuf_reset(&sl->buf);
    sl->done = 0;
    sl->next = s->free_slots;
    s->free_slots = sl;
}

static resp_slot *slot_new(resp_conn *c, int done)
{
    resp_server *s = c->s;
    resp_slot *sl = s->free_slots;
    if (sl)
        s->free_slots = sl->next;
    else
        sl = xcalloc(1, sizeof *sl);
    sl->next = NULL;
    sl->done = done;
    c->nslots++;
    if (c->tail)
        c->tail->next = sl;
    else
        c->head = sl;
    c->tail = sl;
    return sl;
}

static void op_free(resp_server *s, resp_op *op);

static void conn_close(resp_conn *c, const char *why)
{
    resp_server *s = c->s;
    if (c->closed)
        return;
    if (why)
        log_debug("resp", "closing client %llu (%s): %s", (unsigned long long)c->id, c->addr, why);
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed = 1;
    atomic_store(&c->gone, 1);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    /* done slots go now; pending ones belong to their operations */
    resp_slot *sl = c->head;
    while (sl) {
        resp_slot *nx = sl->next;
        if (sl->done)
            slot_free(s, sl);
        else
            sl->next = NULL;
        sl = nx;
    }
    c->head = c->tail = NULL;
    c->nslots = 0;
    /* held reads end now, unanswered */
    while (c->ready_head) {
        resp_op *op = c->ready_head;
        c->ready_head = op->next;
        slot_free(s, op->slot);
        op_free(s, op);
        c->inflight--;
    }
    c->ready_tail = NULL;
    if (c->inflight == 0) {
        c->dnext = s->dead;
        s->dead = c;
    }
}

static void conn_free(resp_conn *c)
{
    kbuf_free(&c->in);
    kbuf_free(&c->out);
    rparse_free(&c->ps);
    free(c->name);
    free(c->lib_name);
    free(c->lib_ver);
    kbuf_free(&c->multi_buf);
    kbuf_free(&c->watch_buf);
    free(c);
}

/* Moves finished replies at the head of the FIFO into the output. */
static int conn_flush_fifo(resp_conn *c)
{
    while (c->head && c->head->done) {
        resp_slot *sl = c->head;
        if (sl->buf.len && kbuf_append(&c->out, sl->buf.data, sl->buf.len))
            return KAHUNA_ENOMEM;
        c->head = sl->next;
        if (!c->head)
            c->tail = NULL;
        c->nslots--;
        slot_free(c->s, sl);
    }
    return 0;
}

static void conn_check_output(resp_conn *c)
{
    if (out_pending(c) > RESP_OUT_HARD) {
        log_warn("resp", "closing client %llu (%s): %zu bytes of replies unread (limit %u); "
                 "the client must read its replies, or ask for less at once",
                 (unsigned long long)c->id, c->addr, out_pending(c), RESP_OUT_HARD);
        conn_close(c, "output buffer limit");
        return;
    }
    want_write(c);
}

/* Runs held reads while the client's unread output allows. */
static void conn_run_ready(resp_conn *c)
{
    while (!c->closed && c->ready_head && out_pending(c) <= RESP_OUT_SOFT) {
        resp_op *op = c->ready_head;
        c->ready_head = op->next;
        if (!c->ready_head)
            c->ready_tail = NULL;
        op->next = NULL;
        op->on_read(op, op->read_status);
    }
}

static void conn_write(resp_conn *c)
{
    while (!c->closed && out_pending(c)) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, out_pending(c), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c, strerror(errno));
            return;
        }
        c->out_sent += (size_t)n;
    }
    if (c->closed)
        return;
    if (!out_pending(c)) {
        if (c->out.cap > 1024 * 1024)
            kbuf_free(&c->out);
        else
            kbuf_reset(&c->out);
        c->out_sent = 0;
        if ((c->closing) && c->inflight == 0 && !c->head) {
            conn_close(c, c->eof ? "end of input" : "closing");
            return;
        }
        /* replies drained: build the held ones, parse what waited */
        conn_run_ready(c);
        if (c->closed)
            return;
        if (c->in_pos < c->in.len)
            want_parse(c);
    } else if (c->out_sent > 64 * 1024 && c->out_sent > c->out.len / 2) {
        memmove(c->out.data, c->out.data + c->out_sent, out_pending(c));
        c->out.len -= c->out_sent;
        c->out_sent = 0;
    }
    conn_update_events(c);
}

/* ---- operations ---- */

static resp_op *op_new(resp_server *s)
{
    resp_op *op = s->free_ops;
    if (op) {
        s->free_ops = op->next;
        kbuf keep = op->argbuf;
        kbytes *argv = op->argv;
        size_t cap = op->argv_cap;
        memset(op, 0, sizeof *op);
        kbuf_reset(&keep);
        op->argbuf = keep;
        op->argv = argv;
        op->argv_cap = cap;
    } else {
        op = xcalloc(1, sizeof *op);
    }
    return op;
}

static void op_free(resp_server *s, resp_op *op)
{
    free(op->data);
    op->data = NULL;
    if (op->argbuf.cap > 64 * 1024)
        kbuf_free(&op->argbuf);
    if (op->argv_cap > 1024) {
        free(op->argv);
        op->argv = NULL;
        op->argv_cap = 0;
    }
    op->next = s->free_ops;
    s->free_ops = op;
}

static int op_copy_args(resp_op *op, const kbytes *argv, size_t argc)
{
    size_t total = 0;
    for (size_t i = 0; i < argc; i++)
        total += argv[i].n;
    if (argc > op->argv_cap) {
        kbytes *a = realloc(op->argv, argc * sizeof *a);
        if (!a)
            return KAHUNA_ENOMEM;
        op->argv = a;
        op->argv_cap = argc;
    }
    kbuf_reset(&op->argbuf);
    if (kbuf_reserve(&op->argbuf, total))
        return KAHUNA_ENOMEM;
    for (size_t i = 0; i < argc; i++) {
        size_t off = op->argbuf.len;
        if (kbuf_append(&op->argbuf, argv[i].p, argv[i].n))
            return KAHUNA_ENOMEM;
        op->argv[i] = kbytes_make(op->argbuf.data + off, argv[i].n);
    }
    op->argc = argc;
    return 0;
}

reply *resp_out(resp_ctx *x)
{
    if (x->txn)
        return resp_txn_out(x);
    if (!x->have_r) {
        resp_conn *c = x->c;
        kbuf *b = c->head ? &slot_new(c, 1)->buf : &c->out;
        x->r = reply_make(b, c->proto);
        x->have_r = 1;
    }
    return &x->r;
}

resp_op *resp_op_start(resp_ctx *x, int copy_args)
{
    resp_conn *c = x->c;
    resp_op *op = op_new(c->s);
    if (copy_args && op_copy_args(op, x->argv, x->argc)) {
        op_free(c->s, op);
        reply_error(resp_out(x), "ERR out of memory");
        return NULL;
    }
    op->c = c;
    op->proto = c->proto;
    if (x->txn) {
        /* part of an EXEC: no slot, the EXEC operation holds the connection */
        op->txn = x->txn;
        op->cls = RC_LOCAL;
        resp_txn_attach(x, op);
        return op;
    }
    op->cls = x->cmd ? x->cmd->cls : RC_EXCL;
    if (x->cmd && x->cmd->classify)
        op->cls = x->cmd->classify(x->argc, x->argv);
    op->slot = slot_new(c, 0);
    c->inflight++;
    if (op->cls == RC_EXCL)
        c->excl = 1;
    if (op->cls != RC_WRITE)
        c->writes_only = 0;
    else if (c->inflight == 1)
        c->writes_only = 1;
    return op;
}

void resp_op_propose(resp_op *op, const command *cmd, int tag)
{
    if (op->txn) {
        resp_txn_propose(op, cmd, tag);
        return;
    }
    resp_server *s = op->c->s;
    resp_wait *w = wait_new(s);
    w->op = op;
    w->tag = tag;
    op->pending++;
    node_propose(s->node, cmd, on_node_done, w);
}

void resp_op_lock_acquire(resp_op *op, const command *cmd, int64_t wait_ms, int tag)
{
    if (op->txn) {
        resp_txn_propose(op, cmd, tag); /* inside EXEC a lock is tried, not waited for */
        return;
    }
    resp_server *s = op->c->s;
    resp_wait *w = wait_new(s);
    w->op = op;
    w->tag = tag;
    w->lock_wait = 1;
    op->pending++;
    s->lock_waiters++;
    node_lock_acquire(s->node, cmd, wait_ms, lock_alive, on_node_done, w);
}

void resp_op_read(resp_op *op, resp_read_fn on_read)
{
    resp_conn *c = op->c;
    resp_server *s = c->s;
    op->on_read = on_read;
    if (op->txn) {
        resp_txn_read(op);
        return;
    }
    if (c->readonly) {
        on_read(op, 0);
        return;
    }
    op->next = NULL;
    if (s->batch_tail)
        s->batch_tail->next = op;
    else
        s->batch = op;
    s->batch_tail = op;
    c->batch_reads++;
}

reply resp_op_reply(resp_op *op)
{
    if (op->txn)
        return resp_txn_reply(op);
    resp_conn *c = op->c;
    kbuf *b = (!c->closed && c->head == op->slot) ? &c->out : &op->slot->buf;
    return reply_make(b, op->proto);
}

void resp_op_done(resp_op *op, reply *r)
{
    if (op->txn) {
        resp_txn_done(op, r);
        return;
    }
    resp_conn *c = op->c;
    resp_server *s = c->s;
    resp_slot *sl = op->slot;
    int oom = r && r->err;

    c->inflight--;
    if (c->inflight == 0) {
        c->excl = 0;
        c->writes_only = 0;
    }
    if (c->closed) {
        slot_free(s, sl);
        op_free(s, op);
        if (c->inflight == 0) {
            c->dnext = s->dead;
            s->dead = c;
        }
        return;
    }
    sl->done = 1;
    op_free(s, op);
    if (oom || conn_flush_fifo(c)) {
        conn_close(c, "out of memory for a reply");
        return;
    }
    conn_check_output(c);
    if (c->closed)
        return;
    if (c->stalled) {
        c->stalled = 0;
        want_parse(c);
    } else if (c->closing || c->eof) {
        want_parse(c); /* may be the last thing it waited for */
    }
}

void resp_op_fail(resp_op *op, int status)
{
    reply r = resp_op_reply(op);
    resp_reply_status(&r, status);
    resp_op_done(op, &r);
}

/* ---- dispatch ---- */

static int can_start(resp_conn *c, int cls)
{
    if (c->nslots >= RESP_MAX_PENDING)
        return 0; /* resumes when the first pending reply is done */
    if (c->inflight == 0 || cls == RC_LOCAL)
        return 1;
    if (c->excl)
        return 0;
    switch (cls) {
    case RC_READ:
        return !c->readonly && c->batch_reads == c->inflight;
    case RC_WRITE:
        return c->writes_only && c->s->is_leader;
    default:
        return 0;
    }
}

static void reply_unknown(reply *r, const kbytes *argv, size_t argc)
{
    kbuf args = KBUF_INIT;
    int rc = 0;
    for (size_t i = 1; i < argc && args.len < 128 && !rc; i++) {
        size_t room = 128 - args.len;
        size_t n = argv[i].n < room ? argv[i].n : room;
        rc = kbuf_append_byte(&args, '\'');
        if (!rc)
            rc = kbuf_append(&args, argv[i].p, n);
        if (!rc)
            rc = kbuf_append_str(&args, "' ");
    }
    if (rc) {
        r->err = KAHUNA_ENOMEM;
    } else {
        int nlen = argv[0].n > 128 ? 128 : (int)argv[0].n;
        reply_errorf(r, "ERR unknown command '%.*s', with args beginning with: %s", nlen,
                     (const char *)argv[0].p, kbuf_str(&args));
    }
    kbuf_free(&args);
}

enum { DISPATCH_OK = 0, DISPATCH_STALL = 1 };

static int dispatch(resp_conn *c, kbytes *argv, size_t argc)
{
    resp_server *s = c->s;
    resp_ctx x = {c, NULL, argc, argv, {NULL, 2, 0}, 0, NULL};
    const resp_command *cmd = resp_command_lookup(argv[0]);

    if (!cmd) {
        if (c->in_multi)
            c->multi_error = 1;
        reply_unknown(resp_out(&x), argv, argc);
        goto out;
    }
    x.cmd = cmd;
    if ((cmd->arity > 0 && (size_t)cmd->arity != argc) ||
        (cmd->arity < 0 && argc < (size_t)-cmd->arity)) {
        if (c->in_multi)
            c->multi_error = 1;
        resp_err_arity(&x);
        goto out;
    }
    if (s->pass && !c->authed && !(cmd->flags & RF_NOAUTH)) {
        if (c->in_multi)
            c->multi_error = 1;
        reply_error(resp_out(&x), "NOAUTH Authentication required.");
        goto out;
    }
    int cls = cmd->classify ? cmd->classify(argc, argv) : cmd->cls;
    if (c->in_multi && !(cmd->flags & RF_NOMULTI)) {
        resp_multi_queue(&x, cls);
        goto out;
    }
    if (!can_start(c, cls))
        return DISPATCH_STALL;
    cmd->fn(&x);
    c->last_cmd = cmd->name;
    s->stats.commands_processed++;
out:
    if (x.have_r && x.r.err) {
        conn_close(c, "out of memory for a reply");
        return DISPATCH_OK;
    }
    return DISPATCH_OK;
}

static void conn_parse(resp_conn *c)
{
    resp_server *s = c->s;
    while (!c->closed && !c->closing && !s->stopping && c->in_pos < c->in.len) {
        if (out_pending(c) > RESP_OUT_SOFT)
            break; /* resumes when the client has read its replies */
        rparse_limits lim = {RESP_MAX_ARGC, RESP_MAX_BULK, s->pass && !c->authed};
        size_t consumed, need;
        const char *err;
        int rc = rparse_next(&c->ps, c->in.data + c->in_pos, c->in.len - c->in_pos, &lim,
                             &consumed, &need, &err);
        if (rc == RPARSE_MORE) {
            c->in_pos += consumed;
            c->need = need;
            break;
        }
        if (rc == RPARSE_ERROR) {
            resp_ctx x = {c, NULL, 0, NULL, {NULL, 2, 0}, 0, NULL};
            reply_errorf(resp_out(&x), "ERR %s", err);
            log_debug("resp", "client %llu (%s): %s", (unsigned long long)c->id, c->addr, err);
            c->closing = 1;
            c->in_pos = c->in.len;
            rparse_reset(&c->ps);
            if (x.r.err)
                conn_close(c, "out of memory");
            break;
        }
        if (rc == RPARSE_NOMEM) {
            conn_close(c, "out of memory while parsing");
            return;
        }
        c->last_ms = clock_mono_ms();
        if (dispatch(c, c->ps.argv, c->ps.argc) == DISPATCH_STALL) {
            rparse_reset(&c->ps);
            c->stalled = 1;
            break;
        }
        c->in_pos += consumed;
        c->need = 0;
    }
    if (c->closed)
        return;
    /* drop consumed input */
    if (c->in_pos == c->in.len) {
        c->in_pos = 0;
        if (c->in.cap > 256 * 1024)
            kbuf_free(&c->in);
        else
            kbuf_reset(&c->in);
    } else if (c->in_pos > 0 && (c->in_pos > 64 * 1024 || c->in_pos > c->in.len / 2)) {
        memmove(c->in.data, c->in.data + c->in_pos, c->in.len - c->in_pos);
        c->in.len -= c->in_pos;
        c->in_pos = 0;
    }
    /* after the peer's EOF, nothing more will come: finish when idle */
    if (c->eof && !c->stalled && out_pending(c) <= RESP_OUT_SOFT)
        c->closing = 1;
    conn_check_output(c);
    if (c->closed)
        return;
    if (c->closing && c->inflight == 0 && !c->head && !out_pending(c)) {
        conn_close(c, "closing");
        return;
    }
    conn_update_events(c);
}

static void conn_read(resp_conn *c)
{
    size_t buffered = c->in.len - c->in_pos;
    size_t want = RESP_READ_CHUNK;
    if (c->need > buffered && c->need - buffered > want)
        want = c->need - buffered; /* a large argument: read it in one go */
    if (buffered >= RESP_MAX_QUERY) {
        log_warn("resp", "closing client %llu (%s): one command over %u bytes",
                 (unsigned long long)c->id, c->addr, RESP_MAX_QUERY);
        conn_close(c, "query buffer limit");
        return;
    }
    if (c->in_pos > 0 && c->in.cap - c->in.len < want + 1) {
        memmove(c->in.data, c->in.data + c->in_pos, buffered);
        c->in.len = buffered;
        c->in_pos = 0;
    }
    if (kbuf_reserve(&c->in, want)) {
        conn_close(c, "out of memory for input");
        return;
    }
    ssize_t n;
    do {
        n = read(c->fd, c->in.data + c->in.len, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        conn_close(c, strerror(errno));
        return;
    }
    if (n == 0) {
        c->eof = 1;
        atomic_store(&c->gone, 1);
        want_parse(c);
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    conn_parse(c);
}

static void conn_event(resp_conn *c, uint32_t ev)
{
    if (c->closed)
        return;
    if (ev & (EPOLLERR | EPOLLHUP)) {
        /* reset, or both directions shut: nothing can be sent any more */
        conn_close(c, "connection reset");
        return;
    }
    if (ev & EPOLLOUT)
        conn_write(c);
    if (c->closed)
        return;
    if (ev & EPOLLRDHUP) {
        /* the peer will send nothing more: lock waits give up now; the
         * bytes it sent before are still read and answered */
        c->rdhup = 1;
        atomic_store(&c->gone, 1);
    }
    if ((ev & EPOLLIN) && !c->stalled && !c->closing && !c->eof)
        conn_read(c);
    if (!c->closed)
        conn_update_events(c);
}

/* ---- accepting ---- */

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(buf, size, "%s:%d", host, port);
}

static void do_accept(resp_server *s)
{
    for (int i = 0; i < 128; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            log_warn("resp", "accept: %s; pausing new connections for 100 ms (raise the "
                     "open files limit, ulimit -n, if this repeats)", strerror(errno));
            epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL);
            s->accept_paused = 1;
            s->accept_resume_ms = clock_mono_ms() + 100;
            return;
        }
        s->stats.connections_received++;
        if (s->nconns >= (size_t)s->max_clients) {
            static const char msg[] = "-ERR max number of clients reached\r\n";
            ssize_t w = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w; /* best effort: the client is refused either way */
            close(fd);
            s->stats.rejected_connections++;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log_debug("resp", "TCP_NODELAY: %s", strerror(errno));
        resp_conn *c = xcalloc(1, sizeof *c);
        c->s = s;
        c->fd = fd;
        c->id = ++s->next_conn_id;
        c->proto = 2;
        c->authed = s->pass == NULL;
        c->ps = (rparse)RPARSE_INIT;
        atomic_init(&c->gone, 0);
        c->created_ms = c->last_ms = clock_mono_ms();
        format_addr(&ss, c->addr, sizeof c->addr);
        struct sockaddr_storage ls;
        socklen_t lsl = sizeof ls;
        if (getsockname(fd, (struct sockaddr *)&ls, &lsl) == 0)
            format_addr(&ls, c->laddr, sizeof c->laddr);
        c->events = EPOLLIN | EPOLLRDHUP;
        struct epoll_event ev = {.events = (uint32_t)c->events, .data.ptr = c};
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            log_warn("resp", "epoll_ctl: %s: refusing a client", strerror(errno));
            close(fd);
            rparse_free(&c->ps);
            free(c);
            continue;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
    }
}

static void accept_resume(resp_server *s)
{
    if (!s->accept_paused || clock_mono_ms() < s->accept_resume_ms || s->lfd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) == 0)
        s->accept_paused = 0;
    else
        s->accept_resume_ms = clock_mono_ms() + 100;
}

static void stop_listening(resp_server *s)
{
    if (s->lfd < 0)
        return;
    if (!s->accept_paused)
        epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lfd, NULL);
    close(s->lfd);
    s->lfd = -1;
    s->accept_paused = 0;
    log_info("resp", "no longer accepting Redis-protocol connections");
}

/* ---- the pass ---- */

static int drain_completions(resp_server *s)
{
    resp_wait *list = s->lhead;
    s->lhead = s->ltail = NULL;
    pthread_mutex_lock(&s->qmu);
    resp_wait *shared = s->qhead;
    s->qhead = s->qtail = NULL;
    pthread_mutex_unlock(&s->qmu);
    if (!list) {
        list = shared;
    } else {
        resp_wait *t = list;
        while (t->next)
            t = t->next;
        t->next = shared;
    }
    int did = list != NULL;
    while (list) {
        resp_wait *w = list;
        list = w->next;
        if (!w->op) {
            resp_op *op = w->ops;
            /* the reads of one barrier share one read snapshot */
            fsm_reader *rd = (!w->res.status && op && op->next) ? resp_reader(s) : NULL;
            if (rd && fsm_reader_begin(rd))
                rd = NULL;
            s->memo_on = rd != NULL;
            s->memo_valid = 0;
            while (op) {
                resp_op *nx = op->next;
                resp_conn *c = op->c;
                op->next = NULL;
                if (c->closed) {
                    resp_op_done(op, NULL);
                } else if (c->ready_head || out_pending(c) > RESP_OUT_SOFT) {
                    op->read_status = w->res.status;
                    if (c->ready_tail)
                        c->ready_tail->next = op;
                    else
                        c->ready_head = op;
                    c->ready_tail = op;
                } else {
                    op->on_read(op, w->res.status);
                }
                op = nx;
            }
            s->memo_on = 0;
            s->memo_valid = 0;
            if (rd && fsm_reader_end(rd))
                log_warn("resp", "ending a read snapshot failed; see the fsm messages above");
        } else {
            resp_op *op = w->op;
            if (w->lock_wait)
                s->lock_waiters--;
            op->pending--;
            op->on_result(op, w->tag, &w->res);
            free((void *)w->res.data);
            w->res.data = NULL;
        }
        wait_free(s, w);
    }
    return did;
}

static void issue_barrier(resp_server *s)
{
    resp_wait *w = wait_new(s);
    w->ops = s->batch;
    for (resp_op *op = s->batch; op; op = op->next)
        op->c->batch_reads--;
    s->batch = s->batch_tail = NULL;
    node_read_barrier(s->node, on_barrier, w);
}

/* Frees closed connections that no list refers to any more (all of them
 * when force). */
static void reap_dead(resp_server *s, int force)
{
    resp_conn **pp = &s->dead;
    while (*pp) {
        resp_conn *c = *pp;
        if (c->in_pending && !force) {
            pp = &c->dnext;
            continue;
        }
        *pp = c->dnext;
        conn_free(c);
    }
}

static void run_pass(resp_server *s)
{
    for (int round = 0; round < 1000; round++) {
        int did = drain_completions(s);
        while (s->parse_list) {
            resp_conn *c = s->parse_list;
            s->parse_list = c->pnext;
            c->in_pending &= ~1;
            if (!c->closed)
                conn_parse(c);
            did = 1;
        }
        if (s->batch) {
            issue_barrier(s);
            did = 1;
        }
        if (s->lhead)
            continue;
        while (s->write_list) {
            resp_conn *c = s->write_list;
            s->write_list = c->wnext;
            c->in_pending &= ~2;
            if (!c->closed)
                conn_write(c);
        }
        if (!did && !s->parse_list && !s->lhead)
            break;
    }
    reap_dead(s, 0);
}

static void refresh_leader(resp_server *s)
{
    node_status st;
    node_get_status(s->node, &st);
    s->is_leader = st.is_leader;
}

static void *loop_main(void *arg)
{
    resp_server *s = arg;
    struct epoll_event evs[MAX_EVENTS];
    tl_loop = s;

    while (!atomic_load(&s->stop_req)) {
        int timeout = -1;
        if (s->accept_paused)
            timeout = 100;
        int n = epoll_wait(s->ep, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("resp", "epoll_wait: %s: the Redis-protocol listener stops", strerror(errno));
            break;
        }
        refresh_leader(s);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &s->efd) {
                uint64_t v;
                ssize_t r = read(s->efd, &v, sizeof v);
                (void)r; /* EAGAIN: already drained */
            } else if (p == &s->lfd) {
                if (s->lfd >= 0)
                    do_accept(s);
            } else {
                conn_event(p, evs[i].events);
            }
        }
        if (atomic_load(&s->quiesce_req))
            stop_listening(s);
        accept_resume(s);
        run_pass(s);
    }

    /* stopping: the node has answered everything; deliver and send, but
     * start nothing new */
    s->stopping = 1;
    run_pass(s);
    for (resp_conn *c = s->conns, *nx; c; c = nx) {
        nx = c->next;
        if (out_pending(c))
            conn_write(c);
    }
    tl_loop = NULL;
    return NULL;
}

/* ---- start and stop ---- */

static int listen_on(const char *host, int port, int *out_fd, int *out_port, const char **err_msg)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (gai != 0) {
        *err_msg = "cannot resolve the RESP listen address: check --resp-listen";
        return KAHUNA_EIO;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
            log_debug("resp", "SO_REUSEADDR: %s", strerror(errno));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (saved == EADDRINUSE)
            *err_msg = "the RESP port is already in use: stop the other process or pass another --resp-listen";
        else if (saved == EACCES)
            *err_msg = "no permission to bind the RESP port: use a port above 1023 in --resp-listen";
        else
            *err_msg = "cannot bind the RESP listen address: check --resp-listen";
        return KAHUNA_EIO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *out_port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *out_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *out_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    *out_fd = fd;
    return 0;
}

static void random_hex(char *out, size_t nhex)
{
    uint8_t raw[32];
    size_t nraw = (nhex + 1) / 2;
    if (nraw > sizeof raw)
        nraw = sizeof raw;
    if (getrandom(raw, nraw, GRND_NONBLOCK) != (ssize_t)nraw) {
        uint64_t x = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock_mono_us();
        for (size_t i = 0; i < nraw; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw[i] = (uint8_t)x;
        }
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nhex; i++)
        out[i] = hex[(raw[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
    out[nhex] = '\0';
}

static void server_free(resp_server *s)
{
    if (!s)
        return;
    kbuf_free(&s->memo_key);
    kv_record_free(&s->memo_rec);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->ep >= 0)
        close(s->ep);
    if (s->efd >= 0)
        close(s->efd);
    while (s->free_ops) {
        resp_op *op = s->free_ops;
        s->free_ops = op->next;
        kbuf_free(&op->argbuf);
        free(op->argv);
        free(op->data);
        free(op);
    }
    while (s->free_slots) {
        resp_slot *sl = s->free_slots;
        s->free_slots = sl->next;
        kbuf_free(&sl->buf);
        free(sl);
    }
    while (s->free_waits) {
        resp_wait *w = s->free_waits;
        s->free_waits = w->next;
        free(w);
    }
    if (s->cursors) {
        for (size_t i = 0; i < CURSOR_SLOTS; i++)
            kbuf_free(&s->cursors[i].key);
        free(s->cursors);
    }
    pthread_mutex_destroy(&s->qmu);
    free(s->node_id);
    free(s->pass);
    free(s);
}

int resp_server_start(const resp_options *opts, node *n, resp_server **out, const char **err_msg)
{
    *out = NULL;
    *err_msg = NULL;
    if (!opts || !n || opts->port < 0 || opts->port > 65535 || opts->max_clients < 0) {
        *err_msg = "bad RESP listener options";
        return KAHUNA_EBADREQ;
    }
    resp_server *s = calloc(1, sizeof *s);
    if (!s) {
        *err_msg = "out of memory";
        return KAHUNA_ENOMEM;
    }
    s->lfd = s->ep = s->efd = -1;
    s->node = n;
    pthread_mutex_init(&s->qmu, NULL);
    atomic_init(&s->stop_req, 0);
    atomic_init(&s->quiesce_req, 0);
    s->max_clients = opts->max_clients ? opts->max_clients : DEFAULT_MAX_CLIENTS;
    s->node_id = strdup(opts->node_id ? opts->node_id : "");
    s->pass = opts->requirepass && *opts->requirepass ? strdup(opts->requirepass) : NULL;
    s->cursors = calloc(CURSOR_SLOTS, sizeof *s->cursors);
    if (!s->node_id || (opts->requirepass && *opts->requirepass && !s->pass) || !s->cursors) {
        server_free(s);
        *err_msg = "out of memory";
        return KAHUNA_ENOMEM;
    }
    uint8_t rnd[4];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) == (ssize_t)sizeof rnd)
        s->cursor_base = ((uint64_t)(rnd[0] & 0x3f) << 56) | ((uint64_t)rnd[1] << 48) |
                         ((uint64_t)rnd[2] << 40) | ((uint64_t)rnd[3] << 32);
    else
        s->cursor_base = ((uint64_t)clock_wall_ms() & 0x3fffffffULL) << 32;
    random_hex(s->stats.run_id, 40);
    s->stats.started_ms = clock_wall_ms();
    s->stats.max_clients = (uint64_t)s->max_clients;

    int rc = listen_on(opts->host, opts->port, &s->lfd, &s->port, err_msg);
    if (rc) {
        server_free(s);
        return rc;
    }
    s->stats.port = s->port;
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->ep < 0 || s->efd < 0) {
        server_free(s);
        *err_msg = "cannot create the RESP event loop (epoll/eventfd): raise the open files limit";
        return KAHUNA_EIO;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->lfd};
    struct epoll_event ev2 = {.events = EPOLLIN, .data.ptr = &s->efd};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) != 0 ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev2) != 0) {
        server_free(s);
        *err_msg = "cannot set up the RESP event loop (epoll_ctl)";
        return KAHUNA_EIO;
    }
    if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
        server_free(s);
        *err_msg = "cannot start the RESP thread";
        return KAHUNA_EIO;
    }
    s->thread_started = 1;
    log_info("resp", "serving the Redis protocol on %s port %d%s", opts->host ? opts->host : "*",
             s->port, s->pass ? " (AUTH required)" : "");
    *out = s;
    return 0;
}

int resp_server_port(const resp_server *s)
{
    return s->port;
}

void resp_server_quiesce(resp_server *s)
{
    if (!s)
        return;
    atomic_store(&s->quiesce_req, 1);
    wake(s);
}

void resp_server_stop(resp_server *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        atomic_store(&s->stop_req, 1);
        wake(s);
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
    }
    /* every connection goes; one whose operation the node never answered
     * (it must have: node_stop answers everything) is leaked, not freed
     * under a callback */
    int leaked = 0;
    while (s->conns) {
        resp_conn *c = s->conns;
        conn_close(c, "server stopping");
        if (c->inflight)
            leaked++;
    }
    s->parse_list = s->write_list = NULL;
    reap_dead(s, 1);
    while (s->batch) {
        resp_op *op = s->batch;
        s->batch = op->next;
        leaked++;
    }
    if (leaked)
        log_warn("resp", "%d Redis-protocol requests were still waiting for the node at stop", leaked);
    server_free(s);
}

/* ---- accessors for the families ---- */

node *resp_node(resp_server *s)
{
    return s->node;
}

fsm_reader *resp_reader(resp_server *s)
{
    return node_reader(s->node);
}

int resp_memo_get(resp_server *s, kbytes key, kv_record *rec, int *rc)
{
    if (!s->memo_on || !s->memo_valid || !kbytes_eq(kbytes_make(s->memo_key.data, s->memo_key.len), key))
        return 0;
    memset(rec, 0, sizeof *rec);
    *rc = s->memo_rc;
    if (s->memo_rc)
        return 1;
    const kv_record *m = &s->memo_rec;
    if ((m->key.len && kbuf_append(&rec->key, m->key.data, m->key.len)) ||
        (m->value.len && kbuf_append(&rec->value, m->value.data, m->value.len))) {
        kv_record_free(rec);
        return 0;                      /* out of memory: read the store instead */
    }
    rec->revision = m->revision;
    rec->create_revision = m->create_revision;
    rec->version = m->version;
    rec->ttl_ms = m->ttl_ms;
    rec->deleted = m->deleted;
    return 1;
}

void resp_memo_put(resp_server *s, kbytes key, const kv_record *rec, int rc)
{
    if (!s->memo_on || (rc && rc != KAHUNA_ENOTFOUND))
        return;
    s->memo_valid = 0;
    kbuf_reset(&s->memo_key);
    kbuf_reset(&s->memo_rec.key);
    kbuf_reset(&s->memo_rec.value);
    if (kbuf_append(&s->memo_key, key.p, key.n))
        return;
    if (rc == 0) {
        if ((rec->key.len && kbuf_append(&s->memo_rec.key, rec->key.data, rec->key.len)) ||
            (rec->value.len && kbuf_append(&s->memo_rec.value, rec->value.data, rec->value.len)))
            return;
        s->memo_rec.revision = rec->revision;
        s->memo_rec.create_revision = rec->create_revision;
        s->memo_rec.version = rec->version;
        s->memo_rec.ttl_ms = rec->ttl_ms;
        s->memo_rec.deleted = rec->deleted;
    }
    s->memo_rc = rc;
    s->memo_valid = 1;
}

const char *resp_node_id(resp_server *s)
{
    return s->node_id;
}

const char *resp_password(resp_server *s)
{
    return s->pass;
}

int resp_is_leader(resp_server *s)
{
    return s->is_leader;
}

void resp_get_stats(resp_server *s, resp_stats *out)
{
    *out = s->stats;
    out->connected = s->nconns;
    out->blocked = s->lock_waiters;
}

void resp_foreach_conn(resp_server *s, void (*fn)(void *arg, resp_conn *c), void *arg)
{
    /* oldest first, as Redis lists them */
    resp_conn *last = s->conns;
    while (last && last->next)
        last = last->next;
    for (resp_conn *c = last; c; c = c->prev)
        fn(arg, c);
}

int resp_conn_describe(resp_conn *c, kbuf *out)
{
    int64_t now = clock_mono_ms();
    char flags[8];
    size_t nf = 0;
    if (c->in_multi)
        flags[nf++] = 'x';
    if (c->readonly)
        flags[nf++] = 'r';
    if (c->closing)
        flags[nf++] = 'c';
    if (nf == 0)
        flags[nf++] = 'N';
    flags[nf] = '\0';
    const char *ev = out_pending(c) ? (c->events & EPOLLIN ? "rw" : "w") : (c->events & EPOLLIN ? "r" : "");
    char cmd[40] = "NULL";
    if (c->last_cmd) {
        size_t i = 0;
        for (; c->last_cmd[i] && i + 1 < sizeof cmd; i++)
            cmd[i] = (char)(c->last_cmd[i] >= 'A' && c->last_cmd[i] <= 'Z' ? c->last_cmd[i] + 32 : c->last_cmd[i]);
        cmd[i] = '\0';
    }
    return kbuf_printf(out,
                       "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=0 "
                       "sub=0 psub=0 ssub=0 multi=%d qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 "
                       "rbs=%zu rbp=0 obl=%zu oll=%d omem=%zu tot-mem=%zu events=%s cmd=%s "
                       "user=default redir=-1 resp=%d lib-name=%s lib-ver=%s",
                       (unsigned long long)c->id, c->addr, c->laddr, c->fd, c->name ? c->name : "",
                       (long long)((now - c->created_ms) / 1000), (long long)((now - c->last_ms) / 1000),
                       flags, c->in_multi ? c->multi_count : -1, c->in.len - c->in_pos,
                       c->in.cap > c->in.len ? c->in.cap - c->in.len : 0, c->in.cap, out_pending(c),
                       c->inflight, c->out.cap, c->in.cap + c->out.cap + sizeof *c, ev,
                       cmd, c->proto, c->lib_name ? c->lib_name : "",
                       c->lib_ver ? c->lib_ver : "");
}

/* ---- for cmd_multi.c ---- */

resp_op *resp_op_alloc(resp_server *s)
{
    return op_new(s);
}

void resp_op_release(resp_server *s, resp_op *op)
{
    op_free(s, op);
}

int resp_op_copy_args(resp_op *op, const kbytes *argv, size_t argc)
{
    return op_copy_args(op, argv, argc);
}

void resp_set_txn_reading(resp_server *s, resp_txn *t, resp_op *op)
{
    s->txn_reading = t;
    s->txn_reading_op = op;
}

resp_txn *resp_txn_reading(resp_server *s, resp_op **op)
{
    *op = s->txn_reading_op;
    return s->txn_reading;
}

/* ---- SCAN cursors ---- */

uint64_t resp_cursor_save(resp_server *s, kbytes last_key)
{
    uint64_t seq = ++s->cursor_seq;
    cursor_slot *sl = &s->cursors[seq % CURSOR_SLOTS];
    kbuf_reset(&sl->key);
    if (kbuf_append(&sl->key, last_key.p, last_key.n)) {
        sl->id = 0;
        return 0;
    }
    sl->id = s->cursor_base + (seq & 0xffffffffULL);
    if (sl->id == 0)
        sl->id = 1;
    return sl->id;
}

int resp_cursor_load(resp_server *s, uint64_t cursor, kbuf *key)
{
    uint64_t seq = cursor - s->cursor_base;
    if (cursor < s->cursor_base || seq > 0xffffffffULL)
        return KAHUNA_ENOTFOUND;
    cursor_slot *sl = &s->cursors[seq % CURSOR_SLOTS];
    if (sl->id != cursor)
        return KAHUNA_ENOTFOUND;
    kbuf_reset(key);
    return kbuf_append(key, sl->key.data, sl->key.len);
}
