/* resp_internal.h: what the RESP server (server.c) shares with the command
 * families (cmd_*.c) and the command table (commands.c). Not for use
 * outside daemon/resp/.
 *
 * Threads: everything here belongs to the loop thread, except the
 * completion queue (mutex) and resp_conn.gone (atomic), which the node
 * thread touches through the callbacks in server.c.
 *
 * How a command runs. The loop parses a connection's input and dispatches
 * each command through the table. A handler either answers at once
 * (resp_out) or starts an operation (resp_op_start) that waits for the
 * node: proposals (resp_op_propose), a linearizable read barrier
 * (resp_op_read), a lock wait. Each operation holds a reply slot in the
 * connection's FIFO, so replies leave in request order whatever order the
 * node answers in. Ordering between commands of one connection:
 *   - LOCAL commands (PING, CLIENT ...) touch no store: they run at once.
 *   - READs wait for a read barrier. Consecutive reads share one barrier
 *     (one barrier per loop pass serves every connection) and run in order;
 *     while the client has more than RESP_OUT_SOFT unread reply bytes, its
 *     reads past the barrier are held, so a client that does not read its
 *     replies does not make the server build them.
 *   - WRITEs are proposals. On the leader a connection may have many in
 *     flight (the node keeps a thread's proposals in order), which is what
 *     makes pipelined writes share an fsync.
 *   - EXCL commands (read-then-write at the edge, lock waits, MULTI/EXEC)
 *     run alone: nothing else of that connection starts until they end.
 * A command that may not start yet stalls the connection: it stays in the
 * input buffer and is parsed again when the connection's operations end. */
#ifndef KAHUNA_RESP_INTERNAL_H
#define KAHUNA_RESP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "resp.h"
#include "parse.h"
#include "reply.h"
#include "errors.h"

/* ---- limits (docs/resp.md) ---- */
#define RESP_MAX_ARGC (1024 * 1024)                  /* arguments of one command */
#define RESP_MAX_BULK (KAHUNA_MAX_VALUE + 64 * 1024) /* one argument; more: protocol error */
#define RESP_MAX_QUERY (64u * 1024 * 1024)           /* one command, all arguments */
#define RESP_OUT_SOFT (256u * 1024)                  /* unsent replies: stop reading */
#define RESP_OUT_HARD (64u * 1024 * 1024)            /* unsent replies: close the client */
#define RESP_READ_CHUNK (16 * 1024)
#define RESP_MAX_PENDING 1024                        /* replies queued per client: stop parsing */

/* command classes (see above) */
enum { RC_LOCAL = 0, RC_READ = 1, RC_WRITE = 2, RC_EXCL = 3 };

/* command flags */
#define RF_NOAUTH 0x01u      /* allowed before AUTH */
#define RF_NOMULTI 0x02u     /* runs at once even inside MULTI (EXEC, DISCARD, ...) */
#define RF_WRITE 0x04u       /* changes the store (COMMAND's "write") */
#define RF_READONLY 0x08u    /* reads the store (COMMAND's "readonly") */
#define RF_FAST 0x10u
#define RF_DENYOOM 0x20u
#define RF_STALE 0x40u       /* allowed without a leader (COMMAND's "stale") */
#define RF_NOSCRIPT 0x80u
#define RF_LOADING 0x100u
#define RF_PUBSUB 0x200u
#define RF_ALLOWBUSY 0x400u

typedef struct resp_server resp_server;
typedef struct resp_conn resp_conn;
typedef struct resp_op resp_op;
typedef struct resp_slot resp_slot;
typedef struct resp_ctx resp_ctx;
typedef struct resp_command resp_command;
typedef struct resp_txn resp_txn;

/* One reply waiting its turn in a connection's FIFO. */
struct resp_slot {
    resp_slot *next;
    int done;
    kbuf buf;
};

struct resp_conn {
    resp_server *s;
    int fd;
    uint64_t id;
    resp_conn *prev, *next;    /* the server's list of open connections */
    kbuf in;                   /* received bytes; in[in_pos..len) not yet consumed */
    size_t in_pos;
    size_t need;               /* the parser wants this many bytes from in_pos */
    rparse ps;
    kbuf out;                  /* replies ready to send; out[out_sent..len) unsent */
    size_t out_sent;
    resp_slot *head, *tail;    /* replies that wait for an earlier one */
    int nslots;
    resp_op *ready_head, *ready_tail; /* reads past their barrier, held while output is over RESP_OUT_SOFT */
    int inflight;              /* operations not finished */
    int batch_reads;           /* of them, reads in the barrier batch not yet issued */
    int excl;                  /* an EXCL operation is in flight */
    int writes_only;           /* every operation in flight is a WRITE */
    int stalled;               /* a parsed command waits for inflight to end */
    int proto;                 /* 2 or 3 */
    int authed;
    int readonly;              /* READONLY: reads are served from local state */
    int closing;               /* close once every reply is sent (QUIT, protocol error) */
    int eof;                   /* read() saw the peer's end of stream */
    int rdhup;                 /* the peer shut down its side (EPOLLRDHUP seen) */
    int closed;                /* socket closed; freed when inflight == 0 */
    atomic_int gone;           /* peer gone: lock waits give up (read by the node thread) */
    int events;                /* epoll interest now */
    int in_pending;            /* 1: on the parse list, 2: on the write list */
    resp_conn *pnext, *wnext;  /* parse list, write list */
    resp_conn *dnext;          /* list of closed connections to free */
    char *name;                /* CLIENT SETNAME; malloc'd */
    char *lib_name, *lib_ver;  /* CLIENT SETINFO */
    char addr[64], laddr[64];
    int64_t created_ms, last_ms;
    const char *last_cmd;      /* lower-case name of the last command */
    /* MULTI state (cmd_multi.c) */
    int in_multi;
    int multi_error;           /* a queued command was refused: EXEC aborts */
    int multi_count;           /* commands queued */
    kbuf multi_buf;            /* the queued commands (cmd_list items: argc, then the arguments) */
    kbuf watch_buf;            /* WATCH: cmd_list key, then an 8-byte revision, per key */
    size_t nwatch;
};

/* Context of one dispatched command. */
struct resp_ctx {
    resp_conn *c;
    const resp_command *cmd;
    size_t argc;
    kbytes *argv;              /* valid during the handler only */
    reply r;
    int have_r;
    resp_txn *txn;             /* EXEC: the handler's proposals go into this transaction */
};

typedef void (*resp_handler)(resp_ctx *x);

struct resp_command {
    const char *name;          /* upper case, as clients send it */
    int arity;                 /* Redis convention: n exact, -n at least n (name included) */
    unsigned flags;            /* RF_* */
    int cls;                   /* RC_* */
    /* class that depends on the arguments (may be NULL) */
    int (*classify)(size_t argc, const kbytes *argv);
    resp_handler fn;
    int first_key, last_key, step;
    const char *group;         /* COMMAND DOCS group: "string", "generic", ... */
    const char *summary;
    const char *since;
    const char *acl;           /* "@write @string @slow" */
    const char *args;          /* syntax after the name, for COMMAND DOCS and HELP */
};

/* Results a node callback hands back to the loop thread. */
typedef struct resp_result {
    int status;
    int64_t revision, version, create_revision, token, ttl_ms, value, last;
    int found;
    const uint8_t *data;       /* fsm_result.data: valid during on_result only */
    size_t data_len;
} resp_result;

typedef void (*resp_result_fn)(resp_op *op, int tag, const resp_result *res);
typedef void (*resp_read_fn)(resp_op *op, int status);

/* An operation that waits for the node. */
struct resp_op {
    resp_op *next;             /* barrier batch / free list */
    resp_conn *c;
    resp_slot *slot;
    int proto;
    int cls;
    int pending;               /* node calls not yet answered */
    int read_status;           /* the barrier's status, for a held read */
    resp_result_fn on_result;  /* one per answered node call */
    resp_read_fn on_read;      /* after the read barrier */
    /* copied arguments (resp_op_start with copy_args) */
    kbuf argbuf;
    kbytes *argv;
    size_t argc, argv_cap;
    /* free use by the command */
    int64_t n, i1, i2, i3;
    int status;
    unsigned flags;
    void *data;                /* freed with free() by resp_op_done unless NULL */
    resp_txn *txn;             /* the operation is part of an EXEC (cmd_multi.c) */
    size_t txn_index;          /* which queued command */
};

/* ---- server.c: for the command families ---- */

/* The reply of a command that answers at once. */
reply *resp_out(resp_ctx *x);

/* Starts an operation for the command in x, with a reply slot. copy_args:
 * keep a copy of the arguments (op->argv) for use after the handler
 * returns. Returns NULL when out of memory (an error reply is written). */
resp_op *resp_op_start(resp_ctx *x, int copy_args);
/* Proposes cmd (copied); on_result(op, tag, res) runs on the loop thread. */
void resp_op_propose(resp_op *op, const command *cmd, int tag);
/* node_lock_acquire with a wait; the waiter is dropped when the client goes. */
void resp_op_lock_acquire(resp_op *op, const command *cmd, int64_t wait_ms, int tag);
/* Runs on_read(op, status) on the loop thread once a read barrier passed
 * (at once, status 0, on a READONLY connection). */
void resp_op_read(resp_op *op, resp_read_fn on_read);
/* The reply of op (into the connection's output or its slot). */
reply resp_op_reply(resp_op *op);
/* Ends op: its reply becomes sendable, op is freed. */
void resp_op_done(resp_op *op, reply *r);
/* Convenience: answer op with an error for status and end it. */
void resp_op_fail(resp_op *op, int status);

/* The error reply for a KAHUNA_E* status (TRYAGAIN, ERR ...). */
void resp_reply_status(reply *r, int status);

node *resp_node(resp_server *s);
fsm_reader *resp_reader(resp_server *s);   /* NULL: an error reply is due */
/* The read memo of one read snapshot (server.c, struct resp_server):
 * resp_memo_get fills rec (the caller frees it) and *rc (0 or
 * KAHUNA_ENOTFOUND) and returns 1 when key is the memo's; 0 otherwise.
 * resp_memo_put remembers what fsm_kv_get said of key (rc 0 with rec, or
 * KAHUNA_ENOTFOUND), only while a snapshot is held. */
int resp_memo_get(resp_server *s, kbytes key, kv_record *rec, int *rc);
void resp_memo_put(resp_server *s, kbytes key, const kv_record *rec, int rc);
const char *resp_node_id(resp_server *s);
const char *resp_password(resp_server *s); /* NULL when none */
int resp_is_leader(resp_server *s);

/* INFO, CLIENT LIST, HELLO */
typedef struct resp_stats {
    uint64_t connections_received, commands_processed, rejected_connections;
    uint64_t connected, blocked, max_clients;
    int64_t started_ms;
    int port;
    char run_id[41];
} resp_stats;
void resp_get_stats(resp_server *s, resp_stats *out);
/* Calls fn for every open connection (loop thread). */
void resp_foreach_conn(resp_server *s, void (*fn)(void *arg, resp_conn *c), void *arg);
/* Appends Redis's CLIENT LIST line for c to out (no trailing newline). */
int resp_conn_describe(resp_conn *c, kbuf *out);

/* SCAN cursors: remember the last key of a page under a 64-bit number. */
uint64_t resp_cursor_save(resp_server *s, kbytes last_key);
/* 0 and *key set, or KAHUNA_ENOTFOUND when the cursor is unknown or gone. */
int resp_cursor_load(resp_server *s, uint64_t cursor, kbuf *key);

/* ---- commands.c ---- */
const resp_command *resp_command_lookup(kbytes name);
/* every command, sorted by name */
size_t resp_command_all(const resp_command *const **out);

/* COMMAND (commands.c, next to the table it describes) */
void resp_cmd_command(resp_ctx *x);

/* ---- helpers shared by the families (commands.c) ---- */
int resp_arg_ll(kbytes a, long long *out);
int resp_arg_is(kbytes a, const char *word);    /* case-insensitive */
/* 1..KAHUNA_MAX_KEY bytes */
int resp_key_ok(kbytes k);
/* standard error replies */
void resp_err_arity(resp_ctx *x);
void resp_err_syntax(reply *r);
void resp_err_int(reply *r);
void resp_err_key(reply *r, kbytes k);

/* ---- cmd_multi.c: MULTI/EXEC ---- */

/* Queues the command of x on a connection in MULTI: replies +QUEUED, or an
 * error that makes EXEC fail. */
void resp_multi_queue(resp_ctx *x, int cls);
/* Forgets MULTI state and WATCHed keys (RESET, DISCARD). */
void resp_multi_reset(resp_conn *c);
/* Transaction mode of the resp_op_* functions (server.c calls these when
 * op->txn / x->txn is set). */
reply *resp_txn_out(resp_ctx *x);
void resp_txn_attach(resp_ctx *x, resp_op *op);
void resp_txn_propose(resp_op *op, const command *cmd, int tag);
void resp_txn_read(resp_op *op);
reply resp_txn_reply(resp_op *op);
void resp_txn_done(resp_op *op, reply *r);
/* Inside EXEC, the value a read saw at its place in the transaction.
 * Returns 1 when it answered (rc in *rc), 0 when the key is not one the
 * transaction captured. */
int resp_txn_lookup(resp_server *s, kbytes key, kv_record *rec, int64_t *ttl_left, int *rc);

/* the tables of the families */
extern const resp_command resp_cmds_conn[];
extern const size_t resp_cmds_conn_n;
extern const resp_command resp_cmds_strings[];
extern const size_t resp_cmds_strings_n;
extern const resp_command resp_cmds_keys[];
extern const size_t resp_cmds_keys_n;
extern const resp_command resp_cmds_kahuna[];
extern const size_t resp_cmds_kahuna_n;
extern const resp_command resp_cmds_multi[];
extern const size_t resp_cmds_multi_n;
extern const resp_command resp_cmds_bits[];
extern const size_t resp_cmds_bits_n;

/* server.c: for cmd_multi.c */
resp_op *resp_op_alloc(resp_server *s);
void resp_op_release(resp_server *s, resp_op *op);
int resp_op_copy_args(resp_op *op, const kbytes *argv, size_t argc);
/* the transaction whose reads are being answered now (NULL outside EXEC) */
void resp_set_txn_reading(resp_server *s, resp_txn *t, resp_op *op);
resp_txn *resp_txn_reading(resp_server *s, resp_op **op);

/* One proposal whose answer maps to a reply in one of these ways
 * (resp_propose_one, commands.c). cmd_validate runs first; a refused
 * command is answered at once. */
enum {
    WR_OK_NIL = 1,   /* +OK; nil when a condition failed (SET NX/XX) */
    WR_OK_ANY,       /* +OK, also when the key was absent (SET with a past EXAT) */
    WR_BOOL,         /* :1 done; :0 not found / condition / not owner */
    WR_TOKEN,        /* :fencing token; nil when held */
    WR_SEQ_VALUE,    /* :first value handed out */
    WR_SEQ_SET,      /* +OK; an error when it would move backwards */
    WR_BULK_OLD,     /* the returned value (data) when found, else nil (SET GET, GETDEL...) */
    WR_INT_VALUE,    /* :value (APPEND, INCR, SETBIT...) */
    WR_BULK_DATA,    /* the returned data (INCRBYFLOAT) */
    WR_RENAME,       /* +OK; "no such key" */
    WR_RENAMENX,     /* :1 / :0 when the destination exists; "no such key" */
};
/* The error reply for a failed result (ERANGE says which rule in res->last). */
void resp_reply_result_error(reply *r, const resp_result *res);
void resp_propose_one(resp_ctx *x, const command *cmd, int kind);
/* The on_result of resp_propose_one, for handlers that propose themselves
 * (op->i1 = the kind). */
void resp_one_result(resp_op *op, int tag, const resp_result *res);

/* Turns the expire argument of SET/SETEX/... into a TTL in ms (Redis's
 * getExpireMillisecondsOrReply, then kahuna's 366-day limit). Returns 0
 * with *ttl_ms (<= 0: the time is already past), or -1 after an error
 * reply. (cmd_strings.c) */
int resp_expire_arg(resp_ctx *x, kbytes arg, int seconds, int absolute, int64_t *ttl_ms);

/* "expire" for EXPIRE: the lower-case name Redis puts in messages. */
void resp_lower_name(const resp_command *cmd, char *out, size_t size);

/* shared by cmd_strings.c and cmd_keys.c: a key's record when it exists and
 * has not expired (0), else KAHUNA_ENOTFOUND or another error. */
int resp_kv_lookup(resp_server *s, kbytes key, kv_record *rec, int64_t *ttl_left);

#endif
