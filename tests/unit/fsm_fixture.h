/* fsm_fixture.h: a state machine in a temporary directory for the fsm unit
 * tests: apply commands one at a time (encoded, as the log carries them),
 * read them back through a reader, and record the TTL hook's events.
 *
 * check runs each test in a forked child; the fixture is global to it.
 * fx_setup/fx_teardown are the checked fixture; teardown removes the
 * directory. */
#ifndef KAHUNA_FSM_FIXTURE_H
#define KAHUNA_FSM_FIXTURE_H

#include <stdint.h>

#include "buf.h"
#include "fsm/command.h"
#include "fsm/fsm.h"

typedef struct fx_event {
    int kind, op;
    char name[64];
    int64_t generation, ttl_ms;
} fx_event;

#define FX_MAX_EVENTS 256

typedef struct fx_state {
    char dir[256];
    char path[300];
    fsm *f;
    fsm_reader *r;
    fx_event events[FX_MAX_EVENTS];
    int nevents;
} fx_state;

extern fx_state fx;

void fx_setup(void);
void fx_teardown(void);

/* Closes and reopens the writer (and the reader) on the same files. */
void fx_reopen(void);

/* Makes a temporary directory (mkdtemp) into dir[256]; fx_rmdir removes a
 * directory and the files in it. */
void fx_mkdtemp(char *dir);
void fx_rmdir(const char *dir);

/* The TTL hook that records into fx.events (arg unused). */
void fx_hook(void *arg, const fsm_ttl_event *ev);

/* Encodes cmd as entry fsm_applied_index()+1 and applies it; fails the
 * test when encoding or the batch fails. Returns res->status. res may be
 * NULL; otherwise the caller clears it (fsm_result_clear). */
int fx_apply(const command *cmd, fsm_result *res);

/* Encodes cmd into an entry for a batch; data is malloc'd (fx_entry_free). */
fsm_entry fx_entry(uint64_t index, const command *cmd);
void fx_entry_free(fsm_entry *e);

/* Command builders (strings are C strings, borrowed). */
command fx_put(const char *key, const char *value);
command fx_put_ttl(const char *key, const char *value, int64_t ttl_ms);
command fx_del(const char *key);
command fx_set_ttl(const char *key, int64_t ttl_ms);
command fx_kv_expire(const char *key, int64_t revision);
command fx_acquire(const char *name, const char *owner, int64_t ttl_ms);
command fx_extend(const char *name, const char *owner, int64_t ttl_ms);
command fx_release(const char *name, const char *owner);
command fx_lock_expire(const char *name, int64_t token);
command fx_seq_next(const char *name, int64_t count, const char *ikey, int64_t now_ms);
command fx_seq_set(const char *name, int64_t value, int force);
command fx_seq_del(const char *name);

/* Shorthands: puts key = value and returns the put's revision (fails the
 * test when the put fails); reads key as of revision at (0 = latest). */
int64_t fx_put_rev(const char *key, const char *value);
int fx_get(const char *key, int64_t at, kv_record *out);

/* The value of a record as a C string (for comparisons). */
#define FX_STR(kb) kbuf_str(&(kb))

#endif
