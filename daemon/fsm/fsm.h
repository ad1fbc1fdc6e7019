/* fsm.h: the replicated state machine: key/value, locks and sequences in
 * SQLite (state.db, WAL).
 *
 * The writer side (struct fsm) is owned by the node's apply path, one
 * thread. It applies committed log entries in batches, each batch in one
 * SQLite transaction that also records the last applied index, so a restart
 * resumes exactly after the last batch that committed. Apply is pure: it
 * reads no clock, no randomness and nothing node-local; the same log gives
 * the same database on every node.
 *
 * The reader side (struct fsm_reader) is a separate read-only connection;
 * each thread that serves reads opens its own. WAL lets readers run while
 * the writer applies.
 *
 * Revisions: one store-wide counter. Every command that changes state takes
 * the next revision (a failed condition or a no-op does not). A lock grant's
 * fencing token is the revision at which it was granted, so tokens of a lock
 * strictly increase across restarts and leader changes.
 *
 * TTLs: the database stores each key's and lock's TTL as a duration (ttl_ms)
 * and never a deadline. Deadlines belong to the leader's monotonic clock
 * (leases.c); apply reports every TTL it arms or disarms through the TTL hook
 * so the node can keep its deadline table, and expiry comes back as
 * CMD_KV_EXPIRE / CMD_LOCK_EXPIRE commands. */
#ifndef KAHUNA_FSM_H
#define KAHUNA_FSM_H

#include <stdint.h>
#include <stddef.h>

#include "buf.h"

typedef struct fsm fsm;
typedef struct fsm_reader fsm_reader;

typedef struct fsm_options {
    int history_keep;       /* versions of a key kept for ?revision and ?history; >= 1, default 16 */
} fsm_options;

/* A committed log entry handed to apply. data is an encoded command (for
 * FSM_ENTRY_COMMAND); other entry types only advance the applied index. */
#define FSM_ENTRY_NOOP 0
#define FSM_ENTRY_COMMAND 1
#define FSM_ENTRY_CONFIG 2
typedef struct fsm_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;
    const uint8_t *data;
    size_t len;
} fsm_entry;

/* The outcome of one applied command. status is 0 or a KAHUNA_E* code
 * (ENOTFOUND, ELOCKHELD, ENOTOWNER, ECONDITION, EBADREQ for a command that
 * does not decode: it is skipped, changes nothing, and apply goes on). */
typedef struct fsm_result {
    int status;
    int64_t revision;         /* store revision of this write; on ECONDITION the key's current revision (0 if absent) */
    int64_t version;          /* KV: writes to the key since it was created */
    int64_t create_revision;  /* KV */
    int64_t token;            /* locks: fencing token of the (current) grant */
    int64_t ttl_ms;           /* KV/locks: TTL granted (0 = none); on ELOCKHELD the holder's TTL */
    int64_t value;            /* sequences: first value handed out, or current value */
    int64_t last;             /* sequences: last value handed out by this call */
    char *owner;              /* locks: the owner (holder on ELOCKHELD); malloc'd, freed by fsm_result_clear */
    /* Added for the RESP read-modify-write commands (strings.c): */
    int found;                /* the key existed before the command */
    kbuf data;                /* bytes the command returns: an old value (SET GET, GETDEL...), a
                               * float as text (INCRBYFLOAT), a transaction's results (CMD_TXN,
                               * read with fsm_txn_result_next); freed by fsm_result_clear */
} fsm_result;

/* For status KAHUNA_ERANGE from the string commands, fsm_result.last says
 * which rule failed (the RESP edge picks Redis's message from it). */
#define FSM_ERANGE_NOT_INTEGER 1  /* the value is not an integer (INCR...) */
#define FSM_ERANGE_OVERFLOW 2     /* increment or decrement would overflow */
#define FSM_ERANGE_NOT_FLOAT 3    /* the value or increment is not a valid float */
#define FSM_ERANGE_NAN_INF 4      /* the result would be NaN or Infinity */

/* Reads the next sub-result of a CMD_TXN result (res->data) at *off:
 * fills out (its data stays empty) and points *data into enc. Returns 0,
 * KAHUNA_ENOTFOUND at the end, KAHUNA_EBADREQ when enc is malformed. */
int fsm_txn_result_next(kbytes enc, size_t *off, fsm_result *out, kbytes *data);

void fsm_result_clear(fsm_result *r);

/* TTL hook: called during apply, on the applying thread, for every TTL that
 * apply arms (a write with ttl_ms > 0, a lock grant or extend) or disarms (a
 * delete, a release, an expire, a write without TTL). For a lock, a disarm
 * also means the lock became free. generation: the key's revision after the
 * write, or the grant's fencing token. The hook must only record. */
#define FSM_TTL_KV 1
#define FSM_TTL_LOCK 2
#define FSM_TTL_ARM 1
#define FSM_TTL_DISARM 2
typedef struct fsm_ttl_event {
    int kind;             /* FSM_TTL_KV or FSM_TTL_LOCK */
    int op;               /* FSM_TTL_ARM or FSM_TTL_DISARM */
    kbytes name;          /* borrowed for the duration of the call */
    int64_t generation;
    int64_t ttl_ms;       /* for ARM */
    /* Added for value changes that keep a key's TTL (INCR, APPEND, SET
     * KEEPTTL, RENAME...): when keep_generation != 0, the new lease keeps
     * the deadline of the lease of (keep_name, keep_generation) if there is
     * one (ttl_ms is the TTL to arm in full when there is none). A hook that
     * ignores these fields arms ttl_ms in full: the TTL restarts, never ends
     * early. */
    kbytes keep_name;
    int64_t keep_generation;
} fsm_ttl_event;
typedef void (*fsm_ttl_hook)(void *arg, const fsm_ttl_event *ev);

/* Opens (creating if needed) the state database at path. */
int fsm_open(const char *path, const fsm_options *opts, fsm **out);
void fsm_close(fsm *f);
void fsm_set_ttl_hook(fsm *f, fsm_ttl_hook hook, void *arg);

uint64_t fsm_applied_index(const fsm *f);
int64_t fsm_current_revision(const fsm *f);

/* Applies entries[0..n) in one transaction; results[i] is the outcome of
 * entries[i] (results may be NULL when nobody waits for them). Entries at or
 * below the applied index are skipped (idempotent replay). Returns 0, or
 * KAHUNA_EIO when the transaction failed: the node must stop (fail-stop),
 * since a half-known state must never answer. */
int fsm_apply_batch(fsm *f, const fsm_entry *entries, size_t n, fsm_result *results);

/* Calls hook(ARM) for every key and lock that has a TTL: used at start-up
 * and when a node becomes leader, to restart every TTL in full. */
int fsm_foreach_ttl(fsm *f, fsm_ttl_hook hook, void *arg);

/* Periodic housekeeping outside apply's hot path: checkpoints the WAL so
 * everything applied so far is durable in the database file. Afterwards
 * fsm_durable_index() tells up to which log index the log may be compacted. */
int fsm_checkpoint(fsm *f);
uint64_t fsm_durable_index(const fsm *f);

/* Added for throughput: checkpoints on a thread of their own, so that
 * apply never waits for one. The thread has its own connection to
 * state.db; it checkpoints without blocking the writer (PASSIVE) every
 * interval_ms and whenever the WAL has grown by wal_restart_bytes / 4,
 * resets a WAL past wal_restart_bytes (0: FSM_WAL_RESTART_BYTES) with a
 * short RESTART right after a complete checkpoint, and truncates the WAL
 * file when the writer is idle. It advances fsm_durable_index(), which any
 * thread may read. Start and stop it on the apply thread (or while no
 * apply runs): start after fsm_open; fsm_close stops it. While it runs,
 * fsm_checkpoint is not needed (it is harmless: with a checkpoint already
 * running it does nothing). Returns 0, KAHUNA_EIO or KAHUNA_ENOMEM. */
#define FSM_WAL_RESTART_BYTES (32 * 1024 * 1024)
int fsm_checkpointer_start(fsm *f, int interval_ms, int64_t wal_restart_bytes);
/* Stops the thread, after the checkpoint in progress (idempotent). */
void fsm_checkpointer_stop(fsm *f);

/* What the checkpoint thread has done since fsm_checkpointer_start (for
 * /metrics and tests; all zero when it does not run). Safe from any thread
 * between fsm_checkpointer_start and fsm_checkpointer_stop / fsm_close. */
typedef struct fsm_checkpoint_stats {
    uint64_t rounds;          /* checkpoint rounds run */
    uint64_t complete;        /* rounds whose checkpoint covered the whole WAL */
    uint64_t restarts;        /* WAL resets (RESTART or TRUNCATE checkpoints that succeeded) */
    uint64_t wal_frames;      /* frames in the WAL after the writer's last commit (while it runs) */
    int64_t max_block_us;     /* longest RESTART/TRUNCATE (the writer may wait that long) */
} fsm_checkpoint_stats;
void fsm_checkpoint_stats_get(fsm *f, fsm_checkpoint_stats *out);

/* ---- snapshots (snapshot.c; added for Raft, issue 3) ----
 * A snapshot is a copy of state.db in one self-contained SQLite file
 * (rollback journal, never a -wal beside it): every state table and the
 * meta row with the applied index it reflects. A node sends it to a
 * follower too far behind, which checks it and installs it in place of its
 * whole state. */

/* Writes a consistent copy of the state database at state_path to
 * dest_path (which must not exist: KAHUNA_EBADREQ) with its own read-only
 * connection (safe while the writer applies: VACUUM INTO inside one read
 * transaction), then fsyncs the file and its directory. *index = the
 * applied index recorded in the copy. On failure dest_path is removed.
 * Any thread; returns 0, KAHUNA_EBADREQ, KAHUNA_EIO or KAHUNA_ENOMEM. */
int fsm_snapshot_create(const char *state_path, const char *dest_path, uint64_t *index);

/* Checks that path is a kahuna state database this build can read (opens
 * read-only, PRAGMA quick_check, expected tables and schema version) and
 * reads its applied index. KAHUNA_EBADREQ when it is not (a truncated or
 * garbage file from a peer must never be installed), KAHUNA_EIO on I/O.
 * Reads the whole file (quick_check): call it once, when a file arrives. */
int fsm_snapshot_check(const char *path, uint64_t *index);

/* Replaces the whole state of f with the snapshot at path in ONE
 * transaction on the writer connection (ATTACH, delete every row of every
 * state table, INSERT ... SELECT, DETACH), so readers see the old state or
 * the new, never a mix; the fsm's cached applied index and revision are
 * reloaded. Does not call the TTL hook (the caller re-arms with
 * fsm_foreach_ttl). The applied index may go down (an older snapshot).
 * The new state is durable on return (its commit is fsync'ed), and
 * fsm_durable_index() becomes its applied index; a running checkpoint
 * thread is stopped for the install and started again. The file is only
 * read. On the apply thread; KAHUNA_EBADREQ (the file does not fit this
 * database: nothing changed), KAHUNA_EIO or KAHUNA_ENOMEM. */
int fsm_snapshot_install(fsm *f, const char *path);

/* Added for speed (issue 4): process-wide SQLite settings, to call once
 * before the first SQLite use of the process (node_start does): turns off
 * SQLite's memory statistics, whose global mutex every SQLite allocation
 * and free of every thread otherwise takes. Later calls, and a call after
 * SQLite was initialized, change nothing (the statistics stay on, which is
 * only slower). */
void fsm_sqlite_setup(void);

/* ---- reads ---- */

int fsm_reader_open(const char *path, fsm_reader **out);
void fsm_reader_close(fsm_reader *r);

typedef struct kv_record {
    kbuf key;
    kbuf value;
    int64_t revision;         /* revision of the key's last write */
    int64_t create_revision;
    int64_t version;
    int64_t ttl_ms;           /* TTL granted at the last write/PATCH (0 = none); the remaining time is leases' business */
    int deleted;              /* history items only */
} kv_record;
void kv_record_free(kv_record *r);

/* at_revision 0 = latest. ENOTFOUND when absent (or deleted at that
 * revision), ECOMPACTED when at_revision is older than the kept history,
 * EBADREQ when at_revision is in the future. */
int fsm_kv_get(fsm_reader *r, kbytes key, int64_t at_revision, kv_record *out);

typedef struct kv_list {
    kv_record *items;
    size_t n;
    int more;
} kv_list;
void kv_list_free(kv_list *l);

/* Keys with the given prefix (may be empty), strictly after `after` (empty:
 * from the start), ordered bytewise, at most limit (1..10000). keys_only
 * leaves values empty. */
int fsm_kv_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, int keys_only, kv_list *out);

/* The kept versions of key, newest first (deleted ones with deleted = 1).
 * ENOTFOUND when the key never had a kept version. */
int fsm_kv_history(fsm_reader *r, kbytes key, kv_list *out);

typedef struct lock_record {
    kbuf name;
    kbuf owner;
    int64_t token;
    int64_t ttl_ms;           /* TTL granted at the last acquire/extend */
} lock_record;
void lock_record_free(lock_record *r);

/* ENOTFOUND when the lock is free. */
int fsm_lock_get(fsm_reader *r, kbytes name, lock_record *out);

typedef struct lock_list {
    lock_record *items;
    size_t n;
    int more;
} lock_list;
void lock_list_free(lock_list *l);
int fsm_lock_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, lock_list *out);

typedef struct seq_record {
    kbuf name;
    int64_t value;            /* last value handed out (0 before the first) */
} seq_record;
void seq_record_free(seq_record *r);
int fsm_seq_get(fsm_reader *r, kbytes name, seq_record *out);

typedef struct seq_list {
    seq_record *items;
    size_t n;
    int more;
} seq_list;
void seq_list_free(seq_list *l);
int fsm_seq_list(fsm_reader *r, kbytes prefix, kbytes after, size_t limit, seq_list *out);

/* Store-wide figures for /metrics and DBSIZE: current revision, key count. */
int fsm_reader_stats(fsm_reader *r, int64_t *revision, int64_t *keys);

/* Added for the RESP listener: one read snapshot over several reads (the
 * batch of reads one read barrier released), so that they share one SQLite
 * read transaction instead of taking and dropping the lock per statement.
 * Nests with the reader's own transactions. Both return 0 or KAHUNA_EIO. */
int fsm_reader_begin(fsm_reader *r);
int fsm_reader_end(fsm_reader *r);

#endif
