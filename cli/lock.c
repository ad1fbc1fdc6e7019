/* lock.c: kahuna-cli lock acquire|extend|release|info|ls (SPEC §5), over
 * the REST lock API (SPEC §3); lock run is in run.c.
 *
 * The owner defaults to $KAHUNA_OWNER, else USER@HOSTNAME, so that an
 * acquire in one cron step and a release in another agree. */
#include "call.h"
#include "cli.h"
#include "errors.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int lock_user_host(kbuf *user, kbuf *host)
{
    const char *u = getenv("USER");
    int rc;
    if (!u || !*u)
        u = getenv("LOGNAME");
    if (!u || !*u) {
        struct passwd *pw = getpwuid(getuid());
        u = pw ? pw->pw_name : NULL;
    }
    if (u && *u)
        rc = kbuf_append_str(user, u);
    else
        rc = kbuf_printf(user, "uid%ld", (long)getuid());
    if (rc)
        return rc;
    char h[HOST_NAME_MAX + 1];
    if (gethostname(h, sizeof(h)) != 0)
        return kbuf_append_str(host, "localhost");
    h[HOST_NAME_MAX] = '\0';
    return kbuf_append_str(host, h);
}

int lock_default_owner(const cli_inv *inv, kbuf *out)
{
    if (inv->set[OPT_OWNER])
        return kbuf_append_str(out, inv->str[OPT_OWNER]);
    const char *env = getenv("KAHUNA_OWNER");
    if (env && *env)
        return kbuf_append_str(out, env);
    kbuf user = KBUF_INIT, host = KBUF_INIT;
    int rc = lock_user_host(&user, &host);
    if (!rc)
        rc = cli_format_owner(out, kbuf_str(&user), kbuf_str(&host));
    kbuf_free(&user);
    kbuf_free(&host);
    return rc;
}

/* POST /v1/locks/NAME/ACTION with {"owner", ...}; prints the fencing token
 * for acquire and extend. */
static int lock_action(cli_ctx *c, const cli_inv *inv, const char *action)
{
    const char *name = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT, owner = KBUF_INIT, suffix = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    json_t *body = NULL;
    int status = CLI_EXIT_SOFTWARE;
    int is_release = strcmp(action, "release") == 0;
    int64_t budget = c->timeout_ms;

    kbuf_printf(&what, "lock %s %s", action, name);
    if (lock_default_owner(inv, &owner) || kbuf_printf(&suffix, "/%s", action) ||
        call_path(&path, "/v1/locks/", kbytes_str(name), kbuf_str(&suffix)))
        goto out;
    if (owner.len == 0 || owner.len > CLI_MAX_OWNER) {
        err_printf("%s: the owner must be 1 to %d bytes long ($KAHUNA_OWNER?)", kbuf_str(&what), CLI_MAX_OWNER);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    body = json_pack("{s:s%}", "owner", kbuf_str(&owner), owner.len);
    if (!body)
        goto out;
    if (!is_release) {
        int64_t ttl = inv->set[OPT_TTL] ? inv->num[OPT_TTL] : CLI_DEFAULT_LOCK_TTL_MS;
        if (json_object_set_new(body, "ttl_ms", json_integer(ttl)))
            goto out;
    }
    if (inv->set[OPT_WAIT]) {
        if (json_object_set_new(body, "wait_ms", json_integer(inv->num[OPT_WAIT])))
            goto out;
        if (budget > INT64_MAX - inv->num[OPT_WAIT])
            budget = INT64_MAX;
        else
            budget += inv->num[OPT_WAIT];
    }
    /* Acquire and extend by the owner are harmless to repeat (SPEC §3). */
    call_json(c, "POST", kbuf_str(&path), body, budget, is_release ? 0 : CALL_IDEMPOTENT, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    status = CLI_EXIT_OK;
    if (c->json)
        status = call_print_body(&r);
    else if (!is_release && jint(r.json, "fencing_token") >= 0 &&
             (strcmp(action, "acquire") == 0 || !c->quiet))
        out_printf("%lld\n", (long long)jint(r.json, "fencing_token"));
out:
    json_decref(body);
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    kbuf_free(&owner);
    kbuf_free(&suffix);
    return status;
}

int cmd_lock_acquire(cli_ctx *c, const cli_inv *inv)
{
    return lock_action(c, inv, "acquire");
}

int cmd_lock_extend(cli_ctx *c, const cli_inv *inv)
{
    return lock_action(c, inv, "extend");
}

int cmd_lock_release(cli_ctx *c, const cli_inv *inv)
{
    return lock_action(c, inv, "release");
}

int cmd_lock_info(cli_ctx *c, const cli_inv *inv)
{
    const char *name = inv->pos[0];
    kbuf path = KBUF_INIT, what = KBUF_INIT;
    call_result r = CALL_RESULT_INIT;
    int status = CLI_EXIT_SOFTWARE;

    kbuf_printf(&what, "lock info %s", name);
    if (call_path(&path, "/v1/locks/", kbytes_str(name), NULL))
        goto out;
    call_do(c, "GET", kbuf_str(&path), NULL, kbytes_make(NULL, 0), c->timeout_ms, CALL_IDEMPOTENT, &r);
    if (!call_ok(&r)) {
        status = call_fail(c, &r, kbuf_str(&what));
        goto out;
    }
    if (c->json) {
        status = call_print_body(&r);
        goto out;
    }
    kbuf owner = KBUF_INIT;
    jvalue(r.json, "owner", "owner_base64", &owner);
    out_printf("name: %s\nowner: ", name);
    out_write(owner.data, owner.len);
    out_printf("\nfencing_token: %lld\nttl_ms: %lld\n", (long long)jint(r.json, "fencing_token"),
               (long long)jint(r.json, "ttl_ms"));
    kbuf_free(&owner);
    status = CLI_EXIT_OK;
out:
    call_result_free(&r);
    kbuf_free(&path);
    kbuf_free(&what);
    return status;
}

/* NAME, OWNER, FENCING_TOKEN, TTL_MS separated by tabs. */
static int print_lock(json_t *item, void *arg)
{
    kbuf name = KBUF_INIT, owner = KBUF_INIT;
    jvalue(item, "name", "name_base64", &name);
    jvalue(item, "owner", "owner_base64", &owner);
    int rc = out_write(name.data, name.len) || out_write("\t", 1) || out_write(owner.data, owner.len) ||
             out_printf("\t%lld\t%lld\n", (long long)jint(item, "fencing_token"), (long long)jint(item, "ttl_ms"));
    kbuf_free(&name);
    kbuf_free(&owner);
    return rc ? -1 : 0;
}

int cmd_lock_ls(cli_ctx *c, const cli_inv *inv)
{
    return call_list(c, "/v1/locks", inv->npos ? inv->pos[0] : "", inv->set[OPT_LIMIT] ? inv->num[OPT_LIMIT] : 0,
                     NULL, "name", print_lock, NULL, "lock ls");
}
