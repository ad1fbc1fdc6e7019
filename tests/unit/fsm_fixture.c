/* fsm_fixture.c: the temporary state machine of the fsm unit tests. */
#include "fsm_fixture.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"

fx_state fx;

void fx_mkdtemp(char *dir)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, 256, "%s/kahuna-fsm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void fx_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void fx_hook(void *arg, const fsm_ttl_event *ev)
{
    (void)arg;
    ck_assert_int_lt(fx.nevents, FX_MAX_EVENTS);
    fx_event *e = &fx.events[fx.nevents++];
    e->kind = ev->kind;
    e->op = ev->op;
    size_t n = ev->name.n < sizeof e->name - 1 ? ev->name.n : sizeof e->name - 1;
    memcpy(e->name, ev->name.p, n);
    e->name[n] = '\0';
    e->generation = ev->generation;
    e->ttl_ms = ev->ttl_ms;
}

static void fx_open(void)
{
    fsm_options o = {16};
    ck_assert_int_eq(fsm_open(fx.path, &o, &fx.f), 0);
    fsm_set_ttl_hook(fx.f, fx_hook, NULL);
    ck_assert_int_eq(fsm_reader_open(fx.path, &fx.r), 0);
}

void fx_setup(void)
{
    memset(&fx, 0, sizeof fx);
    log_set_level(LOG_ERROR);
    fx_mkdtemp(fx.dir);
    snprintf(fx.path, sizeof fx.path, "%s/state.db", fx.dir);
    fx_open();
}

void fx_teardown(void)
{
    fsm_reader_close(fx.r);
    fsm_close(fx.f);
    fx.r = NULL;
    fx.f = NULL;
    fx_rmdir(fx.dir);
}

void fx_reopen(void)
{
    fsm_reader_close(fx.r);
    fsm_close(fx.f);
    fx_open();
}

fsm_entry fx_entry(uint64_t index, const command *cmd)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(cmd_encode(cmd, &b), 0);
    fsm_entry e = {index, 1, FSM_ENTRY_COMMAND, NULL, 0};
    e.data = kbuf_detach(&b, &e.len);
    return e;
}

void fx_entry_free(fsm_entry *e)
{
    free((void *)e->data);
    e->data = NULL;
}

int fx_apply(const command *cmd, fsm_result *res)
{
    fsm_result local;
    fsm_entry e = fx_entry(fsm_applied_index(fx.f) + 1, cmd);
    fsm_result *r = res ? res : &local;
    ck_assert_int_eq(fsm_apply_batch(fx.f, &e, 1, r), 0);
    fx_entry_free(&e);
    int status = r->status;
    if (!res)
        fsm_result_clear(&local);
    return status;
}

static command fx_cmd(uint8_t type, const char *key)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.key = kbytes_str(key);
    return c;
}

command fx_put(const char *key, const char *value)
{
    command c = fx_cmd(CMD_KV_PUT, key);
    c.value = kbytes_str(value);
    return c;
}

command fx_put_ttl(const char *key, const char *value, int64_t ttl_ms)
{
    command c = fx_put(key, value);
    c.ttl_ms = ttl_ms;
    return c;
}

command fx_del(const char *key) { return fx_cmd(CMD_KV_DELETE, key); }

command fx_set_ttl(const char *key, int64_t ttl_ms)
{
    command c = fx_cmd(CMD_KV_SET_TTL, key);
    c.ttl_ms = ttl_ms;
    return c;
}

command fx_kv_expire(const char *key, int64_t revision)
{
    command c = fx_cmd(CMD_KV_EXPIRE, key);
    c.num = revision;
    return c;
}

command fx_acquire(const char *name, const char *owner, int64_t ttl_ms)
{
    command c = fx_cmd(CMD_LOCK_ACQUIRE, name);
    c.owner = kbytes_str(owner);
    c.ttl_ms = ttl_ms;
    return c;
}

command fx_extend(const char *name, const char *owner, int64_t ttl_ms)
{
    command c = fx_acquire(name, owner, ttl_ms);
    c.type = CMD_LOCK_EXTEND;
    return c;
}

command fx_release(const char *name, const char *owner)
{
    command c = fx_cmd(CMD_LOCK_RELEASE, name);
    c.owner = kbytes_str(owner);
    return c;
}

command fx_lock_expire(const char *name, int64_t token)
{
    command c = fx_cmd(CMD_LOCK_EXPIRE, name);
    c.num = token;
    return c;
}

command fx_seq_next(const char *name, int64_t count, const char *ikey, int64_t now_ms)
{
    command c = fx_cmd(CMD_SEQ_NEXT, name);
    c.num = count;
    c.aux = kbytes_str(ikey ? ikey : "");
    c.now_ms = now_ms;
    return c;
}

command fx_seq_set(const char *name, int64_t value, int force)
{
    command c = fx_cmd(CMD_SEQ_SET, name);
    c.num = value;
    c.flags = force ? CMD_F_FORCE : 0;
    return c;
}

command fx_seq_del(const char *name) { return fx_cmd(CMD_SEQ_DELETE, name); }

int64_t fx_put_rev(const char *key, const char *value)
{
    fsm_result res;
    command c = fx_put(key, value);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t rev = res.revision;
    fsm_result_clear(&res);
    return rev;
}

int fx_get(const char *key, int64_t at, kv_record *out)
{
    return fsm_kv_get(fx.r, kbytes_str(key), at, out);
}
