/* fsm_internal.h: what fsm.c shares with kv.c, locks.c and seq.c: the
 * writer and reader structs, the prepared statements of each, and small
 * SQLite helpers. Not for use outside daemon/fsm/.
 *
 * Conventions of the apply functions (kv_apply_*, lock_apply_*,
 * seq_apply_*): they run inside the batch transaction, put the command's
 * outcome in res (status 0 or KAHUNA_E*, result fields), and return 0, or
 * KAHUNA_EIO / KAHUNA_ENOMEM when the batch must be rolled back. A state
 * change takes its revision with fsm_next_revision() only once it is sure
 * to happen. */
#ifndef KAHUNA_FSM_INTERNAL_H
#define KAHUNA_FSM_INTERNAL_H

#include <sqlite3.h>
#include <stdatomic.h>

#include "command.h"
#include "fsm.h"

/* Statements of the writer connection. */
enum fsm_wstmt {
    W_BEGIN, W_COMMIT, W_ROLLBACK, W_META_SET,
    /* kv.c */
    W_KV_META, W_KV_VALUE, W_KV_PAST, W_KV_INSERT, W_KV_UPDATE, W_KV_DELETE,
    W_KV_SET_TTL, W_HIST_MOVE, W_HIST_ADD, W_HIST_PRUNE, W_COMPACT_SET, W_KV_TTLS,
    /* locks.c */
    W_LOCK_GET, W_LOCK_PUT, W_LOCK_SET_TTL, W_LOCK_DELETE, W_LOCK_TTLS,
    /* seq.c */
    W_SEQ_GET, W_SEQ_PUT, W_SEQ_DELETE, W_IDEM_PRUNE, W_IDEM_GET, W_IDEM_PUT,
    W_IDEM_DELETE_SEQ,
    /* strings.c */
    W_STR_GET, W_STR_KEYS,
    W_COUNT
};

/* Statements of a reader connection. */
enum fsm_rstmt {
    R_BEGIN, R_COMMIT, R_ROLLBACK, R_META,
    /* kv.c */
    R_KV_GET, R_KV_AT, R_HIST_AT, R_COMPACTED, R_HIST_ALL,
    R_KV_LIST, R_KV_LIST_TO, R_KV_KEYS, R_KV_KEYS_TO,
    /* locks.c */
    R_LOCK_GET, R_LOCK_LIST, R_LOCK_LIST_TO,
    /* seq.c */
    R_SEQ_GET, R_SEQ_LIST, R_SEQ_LIST_TO,
    R_COUNT
};

/* One statement's SQL, in a table ended by sql == NULL. */
typedef struct fsm_sql {
    int id;
    const char *sql;
} fsm_sql;

extern const fsm_sql kv_write_sql[], kv_read_sql[];
extern const fsm_sql lock_write_sql[], lock_read_sql[];
extern const fsm_sql seq_write_sql[], seq_read_sql[];
extern const fsm_sql str_write_sql[];

/* kv.c: a version of a key kept in memory during a batch (the hot key). */
typedef struct kv_hot_row {
    kbuf value;
    int64_t revision, version, create_revision, ttl_ms;
} kv_hot_row;

struct fsm {
    sqlite3 *db;
    sqlite3_stmt *st[W_COUNT];
    int history_keep;
    uint64_t applied_index;
    uint64_t applied_term;
    int64_t revision;          /* store revision, advanced during apply */
    int64_t kv_count;          /* live keys */
    /* Checkpoints (fsm.c, "Durability"): the writer publishes the applied
     * index of each batch once its COMMIT has returned; the checkpoint
     * thread reads it before a checkpoint and, when that checkpoint covered
     * the whole WAL, makes it the durable index. */
    char *path;                            /* state.db, for the checkpoint thread's connection */
    _Atomic uint64_t committed_index;      /* applied index of the last committed batch */
    _Atomic uint64_t durable_index;        /* only grows */
    _Atomic int wal_frames;                /* frames in the WAL after the last commit */
    struct fsm_ckpt *ckpt;                 /* the checkpoint thread, or NULL */
    /* Added for snapshot.c: the arguments of the last
     * fsm_checkpointer_start, so that an install can restart the thread. */
    int ckpt_interval_ms;
    int64_t ckpt_restart_bytes;
    fsm_ttl_hook hook;
    void *hook_arg;
    /* kv.c: keys whose history rows are pruned at the end of the batch
     * (kv_prune_flush); prune_n in use, prune_cap allocated (kbufs kept
     * for reuse) */
    kbuf *prune_keys;
    size_t prune_n, prune_cap;
    /* kv.c: the hot key (the last one kv_write wrote in this batch, its kv
     * row as it is now) and the history rows it waits to insert, a ring of
     * at most history_keep from ring_head */
    int hot_valid;
    int hot_dirty;             /* the kv row in the table is older than hot */
    kbuf hot_key;
    kv_hot_row hot;
    int64_t hot_kept;          /* the row's hist_count */
    int hot_pruned;            /* the row's pruned */
    kv_hot_row *ring;
    size_t ring_cap, ring_head, ring_n;
};

struct fsm_reader {
    sqlite3 *db;
    sqlite3_stmt *st[R_COUNT];
    int depth;                 /* nested fsm_read_begin calls */
};

/* Takes the next store revision (apply only). */
static inline int64_t fsm_next_revision(fsm *f) { return ++f->revision; }

/* Calls the TTL hook, if any. */
void fsm_ttl_emit(fsm *f, int kind, int op, kbytes name, int64_t generation, int64_t ttl_ms);

/* Binding: 0 or KAHUNA_EIO (logged). Bytes are always bound as BLOBs, also
 * when empty, so that ordering is bytewise (memcmp). */
int fsm_bind_bytes(sqlite3_stmt *st, int idx, kbytes b);
int fsm_bind_i64(sqlite3_stmt *st, int idx, int64_t v);

/* Steps st once. Returns 1 with a row (the caller reads columns, then calls
 * fsm_done), 0 when done (st is reset), KAHUNA_EIO on error (logged, st is
 * reset). */
int fsm_step(sqlite3_stmt *st);

/* Ends the use of st after fsm_step gave a row. Resetting a statement
 * returns the error of its last step, which fsm_step has already handled,
 * so there is nothing left to check. */
static inline void fsm_done(sqlite3_stmt *st) { (void)sqlite3_reset(st); }

/* Runs st to completion and resets it: 0 or KAHUNA_EIO. */
int fsm_exec(sqlite3_stmt *st);

/* The bytes of a column (valid until the next step/reset of st); 0 or
 * KAHUNA_ENOMEM. */
int fsm_col_bytes(sqlite3_stmt *st, int col, kbytes *out);

/* Copies a column into a kbuf (replacing its contents): 0 or KAHUNA_ENOMEM. */
int fsm_col_kbuf(sqlite3_stmt *st, int col, kbuf *out);

/* Read transactions on a reader: consistent snapshots for multi-statement
 * reads. fsm_read_end commits (ok) and returns rc, or the commit's error.
 * They nest: only the outermost pair begins and commits. */
int fsm_read_begin(fsm_reader *r);
int fsm_read_end(fsm_reader *r, int rc);

/* The store revision and key count as a reader sees them. */
int fsm_read_meta(fsm_reader *r, int64_t *revision, int64_t *keys);

/* The key range of a list query (prefix, strictly after `after`), as the
 * bounds of an index range scan. List statements use ?1 = lower bound
 * (inclusive), ?2 = upper bound (exclusive; only the *_TO variants, chosen
 * when rg.bounded), ?3 = limit. fsm_range_make returns 0, KAHUNA_EBADREQ
 * (limit out of 1..10000) or KAHUNA_ENOMEM; free rg with fsm_range_free
 * (rg must stay alive while the statement runs). fsm_range_bind binds
 * limit + 1 so that the caller learns whether there are more. */
#define FSM_LIST_MAX 10000
typedef struct fsm_range {
    kbuf lower;
    kbuf upper;
    int bounded;
} fsm_range;
int fsm_range_make(kbytes prefix, kbytes after, size_t limit, fsm_range *rg);
int fsm_range_bind(const fsm_range *rg, sqlite3_stmt *st, size_t limit);
void fsm_range_free(fsm_range *rg);

/* Steps st (already bound) and collects at most limit rows into a growing
 * array of item_size-byte items, each zeroed and then filled by fill(st,
 * item); a row past limit sets *more. *items (malloc'd) and *n are the
 * caller's to free, item by item, also on error (every counted item was
 * zeroed first, so freeing it is safe). Returns 0 or a KAHUNA_E* code. */
int fsm_collect_rows(sqlite3_stmt *st, size_t limit, size_t item_size,
                     int (*fill)(sqlite3_stmt *st, void *item), void **items, size_t *n,
                     int *more);

/* kv.c: a key's row as apply sees it, and the writes that strings.c
 * (the RESP read-modify-write commands) shares with KV_PUT and KV_DELETE. */
typedef struct kv_meta {
    int present;
    int64_t revision, create_revision, version;
    int64_t hist_count;        /* history rows (past versions) of the key, all lives */
    int pruned;                /* the key is in kv_compacted */
} kv_meta;
int kv_load_meta(fsm *f, kbytes key, kv_meta *m);
/* Writes a new version of key (m from kv_load_meta; present or not), as
 * KV_PUT does once its conditions hold, and fills res. With keep_generation
 * != 0 and ttl_ms > 0, the TTL keeps the deadline of the lease of
 * (keep_name, keep_generation) (a value change that keeps its TTL). */
int kv_write(fsm *f, kbytes key, kbytes value, int64_t ttl_ms, kv_meta *m, kbytes keep_name,
             int64_t keep_generation, fsm_result *res);
/* Deletes a present key (tombstone, TTL disarmed). */
int kv_remove(fsm *f, kbytes key, const kv_meta *m, fsm_result *res);
/* Deletes the history rows that the batch's writes left beyond what each
 * key keeps (kv.c, "pruning"): fsm_apply_batch calls it before its COMMIT.
 * 0 or KAHUNA_EIO. */
int kv_prune_flush(fsm *f);
/* Ends the hot key's run (kv.c, "the hot key"): writes its kv row and the
 * history rows it waits to insert, forgets it. Every statement that reads
 * or changes a kv row other than kv.c's own, and everything that counts
 * history rows, calls it first;
 * fsm_apply_batch calls it (then kv_prune_flush) before its COMMIT. 0 or
 * KAHUNA_EIO. */
int kv_hot_forget(fsm *f);
/* After a rollback: forgets the hot key, its ring and the pending prunes.
 * kv_batch_free also frees their memory (fsm_close). */
void kv_batch_abort(fsm *f);
void kv_batch_free(fsm *f);

/* Calls the TTL hook for an ARM that keeps the deadline of another lease
 * (fsm_ttl_event.keep_generation). */
void fsm_ttl_emit_keep(fsm *f, int kind, kbytes name, int64_t generation, int64_t ttl_ms,
                       kbytes keep_name, int64_t keep_generation);

/* kv.c, locks.c, seq.c: apply one decoded command. */
int kv_apply_put(fsm *f, const command *c, fsm_result *res);
int kv_apply_delete(fsm *f, const command *c, fsm_result *res);
int kv_apply_set_ttl(fsm *f, const command *c, fsm_result *res);
int kv_apply_expire(fsm *f, const command *c, fsm_result *res);

int lock_apply_acquire(fsm *f, const command *c, fsm_result *res);
int lock_apply_extend(fsm *f, const command *c, fsm_result *res);
int lock_apply_release(fsm *f, const command *c, fsm_result *res);
int lock_apply_expire(fsm *f, const command *c, fsm_result *res);

int seq_apply_next(fsm *f, const command *c, fsm_result *res);
int seq_apply_set(fsm *f, const command *c, fsm_result *res);
int seq_apply_delete(fsm *f, const command *c, fsm_result *res);

/* fsm.c: applies one decoded command (a log entry's, or a CMD_TXN's
 * sub-command). */
int fsm_apply_command(fsm *f, const command *c, fsm_result *res);

/* strings.c: the RESP read-modify-write commands (command.h, types 12..24). */
int str_apply_set(fsm *f, const command *c, fsm_result *res);
int str_apply_getdel(fsm *f, const command *c, fsm_result *res);
int str_apply_ttl_if(fsm *f, const command *c, fsm_result *res);
int str_apply_incr(fsm *f, const command *c, fsm_result *res);
int str_apply_incrbyfloat(fsm *f, const command *c, fsm_result *res);
int str_apply_append(fsm *f, const command *c, fsm_result *res);
int str_apply_setrange(fsm *f, const command *c, fsm_result *res);
int str_apply_setbit(fsm *f, const command *c, fsm_result *res);
int str_apply_bitop(fsm *f, const command *c, fsm_result *res);
int str_apply_copy(fsm *f, const command *c, fsm_result *res);
int str_apply_flush(fsm *f, const command *c, fsm_result *res);
int str_apply_txn(fsm *f, const command *c, fsm_result *res);
int str_apply_get(fsm *f, const command *c, fsm_result *res);

#endif
