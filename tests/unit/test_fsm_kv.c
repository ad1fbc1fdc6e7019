/* test_fsm_kv.c: unit tests of the key/value store of the state machine
 * (daemon/fsm/kv.c): puts and their conditions, deletes, TTL changes and
 * expiry, reads at a revision, history and its pruning, listing, and the
 * TTL hook. One test per rule of SPEC §3 "Key/value" and fsm.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fsm_fixture.h"

static command put_if(const char *key, const char *value, uint32_t flags, int64_t if_revision,
                      const char *if_value)
{
    command c = fx_put(key, value);
    c.flags = flags;
    c.if_revision = if_revision;
    if (if_value)
        c.aux = kbytes_str(if_value);
    return c;
}

static void assert_value(const char *key, const char *want)
{
    kv_record r;
    ck_assert_int_eq(fx_get(key, 0, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), want);
    kv_record_free(&r);
}

static void assert_absent(const char *key)
{
    kv_record r;
    ck_assert_int_eq(fx_get(key, 0, &r), KAHUNA_ENOTFOUND);
}

/* ------------------------------------------------------------------ put */

START_TEST(test_kv_put_creates_key_with_version_1)
{
    fsm_result res;
    command c = fx_put("app/db/url", "postgres://x");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 1);
    ck_assert_int_eq(res.version, 1);
    ck_assert_int_eq(res.create_revision, 1);
    ck_assert_int_eq(res.ttl_ms, 0);
    fsm_result_clear(&res);

    kv_record r;
    ck_assert_int_eq(fx_get("app/db/url", 0, &r), 0);
    ck_assert_str_eq(FX_STR(r.key), "app/db/url");
    ck_assert_str_eq(FX_STR(r.value), "postgres://x");
    ck_assert_int_eq(r.revision, 1);
    ck_assert_int_eq(r.create_revision, 1);
    ck_assert_int_eq(r.version, 1);
    ck_assert_int_eq(r.ttl_ms, 0);
    ck_assert_int_eq(r.deleted, 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_put_overwrite_increments_version_keeps_create_revision)
{
    fx_put_rev("other", "x");
    int64_t r1 = fx_put_rev("k", "a");
    fsm_result res;
    command c = fx_put("k", "b");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, r1 + 1);
    ck_assert_int_eq(res.version, 2);
    ck_assert_int_eq(res.create_revision, r1);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "b");
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(r.create_revision, r1);
    ck_assert_int_eq(r.revision, r1 + 1);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_put_takes_the_next_store_revision)
{
    ck_assert_int_eq(fx_put_rev("a", "1"), 1);
    ck_assert_int_eq(fx_put_rev("b", "1"), 2);
    ck_assert_int_eq(fx_put_rev("a", "2"), 3);
    ck_assert_int_eq(fsm_current_revision(fx.f), 3);
}
END_TEST

START_TEST(test_kv_put_stores_binary_keys_and_values)
{
    static const uint8_t key[] = {'k', 0, 0xff, 0x80};
    static const uint8_t val[] = {0, 1, 2, 0, 0xfe};
    command c = fx_put("x", "");
    c.key = kbytes_make(key, sizeof key);
    c.value = kbytes_make(val, sizeof val);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_record r;
    ck_assert_int_eq(fsm_kv_get(fx.r, kbytes_make(key, sizeof key), 0, &r), 0);
    ck_assert_uint_eq(r.value.len, sizeof val);
    ck_assert_mem_eq(r.value.data, val, sizeof val);
    kv_record_free(&r);
    /* a key that is a prefix of it is another key */
    ck_assert_int_eq(fsm_kv_get(fx.r, kbytes_make(key, 2), 0, &r), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_kv_put_empty_value_is_a_value)
{
    fx_put_rev("k", "");
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_uint_eq(r.value.len, 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_put_value_of_1_mib)
{
    uint8_t *v = malloc(KAHUNA_MAX_VALUE);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < KAHUNA_MAX_VALUE; i++)
        v[i] = (uint8_t)(i * 31);
    command c = fx_put("big", "");
    c.value = kbytes_make(v, KAHUNA_MAX_VALUE);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_record r;
    ck_assert_int_eq(fx_get("big", 0, &r), 0);
    ck_assert_uint_eq(r.value.len, KAHUNA_MAX_VALUE);
    ck_assert(memcmp(r.value.data, v, KAHUNA_MAX_VALUE) == 0);
    kv_record_free(&r);
    free(v);
}
END_TEST

START_TEST(test_kv_put_if_not_exists_succeeds_when_absent)
{
    command c = put_if("k", "v", CMD_F_IF_NOT_EXISTS, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "v");
}
END_TEST

START_TEST(test_kv_put_if_not_exists_fails_when_present)
{
    int64_t r1 = fx_put_rev("k", "v1");
    fx_put_rev("other", "x");
    fsm_result res;
    command c = put_if("k", "v2", CMD_F_IF_NOT_EXISTS, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, r1);
    fsm_result_clear(&res);
    assert_value("k", "v1");
    ck_assert_int_eq(fsm_current_revision(fx.f), r1 + 1);
}
END_TEST

START_TEST(test_kv_put_if_exists_fails_when_absent)
{
    fx_put_rev("other", "x");
    fsm_result res;
    command c = put_if("k", "v", CMD_F_IF_EXISTS, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, 0);
    fsm_result_clear(&res);
    assert_absent("k");
    ck_assert_int_eq(fsm_current_revision(fx.f), 1);
}
END_TEST

START_TEST(test_kv_put_if_exists_succeeds_when_present)
{
    fx_put_rev("k", "v1");
    command c = put_if("k", "v2", CMD_F_IF_EXISTS, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "v2");
}
END_TEST

START_TEST(test_kv_put_if_revision_succeeds_when_it_matches)
{
    int64_t r1 = fx_put_rev("k", "v1");
    fx_put_rev("other", "x");
    command c = put_if("k", "v2", CMD_F_IF_REVISION, r1, NULL);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "v2");
}
END_TEST

START_TEST(test_kv_put_if_revision_fails_with_the_current_revision)
{
    fx_put_rev("k", "v1");
    int64_t r2 = fx_put_rev("k", "v2");
    fsm_result res;
    command c = put_if("k", "v3", CMD_F_IF_REVISION, r2 - 1, NULL);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, r2);
    fsm_result_clear(&res);
    assert_value("k", "v2");
    c = put_if("absent", "v", CMD_F_IF_REVISION, r2, NULL);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, 0);
    fsm_result_clear(&res);
}
END_TEST

START_TEST(test_kv_put_if_revision_0_means_the_key_must_be_absent)
{
    command c = put_if("k", "v1", CMD_F_IF_REVISION, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = put_if("k", "v2", CMD_F_IF_REVISION, 0, NULL);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    assert_value("k", "v1");
}
END_TEST

START_TEST(test_kv_put_if_value_succeeds_when_equal)
{
    fx_put_rev("k", "old");
    command c = put_if("k", "new", CMD_F_IF_VALUE, 0, "old");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "new");
}
END_TEST

START_TEST(test_kv_put_if_value_fails_when_different_or_absent)
{
    int64_t r1 = fx_put_rev("k", "old");
    fsm_result res;
    command c = put_if("k", "new", CMD_F_IF_VALUE, 0, "ol");
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, r1);
    fsm_result_clear(&res);
    c = put_if("k", "new", CMD_F_IF_VALUE, 0, "old!");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = put_if("absent", "new", CMD_F_IF_VALUE, 0, "");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    assert_value("k", "old");
    assert_absent("absent");
}
END_TEST

START_TEST(test_kv_put_if_value_empty_matches_an_empty_value)
{
    fx_put_rev("k", "");
    command c = put_if("k", "x", CMD_F_IF_VALUE, 0, "");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "x");
}
END_TEST

START_TEST(test_kv_put_every_condition_must_hold)
{
    int64_t r1 = fx_put_rev("k", "v1");
    command c = put_if("k", "v2", CMD_F_IF_EXISTS | CMD_F_IF_REVISION | CMD_F_IF_VALUE, r1, "nope");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = put_if("k", "v2", CMD_F_IF_EXISTS | CMD_F_IF_REVISION | CMD_F_IF_VALUE, r1 + 5, "v1");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = put_if("k", "v2", CMD_F_IF_EXISTS | CMD_F_IF_REVISION | CMD_F_IF_VALUE, r1, "v1");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("k", "v2");
}
END_TEST

START_TEST(test_kv_put_ttl_replaces_the_ttl_and_0_removes_it)
{
    command c = fx_put_ttl("k", "v", 5000);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.ttl_ms, 5000);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_int_eq(r.ttl_ms, 5000);
    kv_record_free(&r);
    c = fx_put("k", "v2");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_int_eq(r.ttl_ms, 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_put_after_delete_starts_again_at_version_1)
{
    fx_put_rev("k", "a");
    fx_put_rev("k", "b");
    command d = fx_del("k");
    ck_assert_int_eq(fx_apply(&d, NULL), 0);
    fsm_result res;
    command c = fx_put("k", "c");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.version, 1);
    ck_assert_int_eq(res.create_revision, res.revision);
    ck_assert_int_eq(res.revision, 4);
    fsm_result_clear(&res);
}
END_TEST

/* --------------------------------------------------------------- delete */

START_TEST(test_kv_delete_absent_is_not_found)
{
    fx_put_rev("other", "x");
    fsm_result res;
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(res.revision, 0);
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), 1);
}
END_TEST

START_TEST(test_kv_delete_removes_the_key_at_a_new_revision)
{
    fx_put_rev("k", "v");
    fsm_result res;
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, 2);
    fsm_result_clear(&res);
    assert_absent("k");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_kv_delete_if_revision_mismatch_fails_with_current_revision)
{
    int64_t r1 = fx_put_rev("k", "v");
    fsm_result res;
    command c = fx_del("k");
    c.flags = CMD_F_IF_REVISION;
    c.if_revision = r1 + 1;
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_int_eq(res.revision, r1);
    fsm_result_clear(&res);
    assert_value("k", "v");
    c.if_revision = r1;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_absent("k");
}
END_TEST

/* -------------------------------------------------------------- set ttl */

START_TEST(test_kv_set_ttl_absent_is_not_found)
{
    command c = fx_set_ttl("k", 1000);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
}
END_TEST

START_TEST(test_kv_set_ttl_keeps_value_and_version_at_a_new_revision)
{
    fx_put_rev("k", "a");
    int64_t r2 = fx_put_rev("k", "b");
    fsm_result res;
    command c = fx_set_ttl("k", 7000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, r2 + 1);
    ck_assert_int_eq(res.version, 2);
    ck_assert_int_eq(res.create_revision, 1);
    ck_assert_int_eq(res.ttl_ms, 7000);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "b");
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(r.revision, r2 + 1);
    ck_assert_int_eq(r.ttl_ms, 7000);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_set_ttl_0_removes_the_ttl)
{
    command c = fx_put_ttl("k", "v", 3000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_set_ttl("k", 0);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 0, &r), 0);
    ck_assert_int_eq(r.ttl_ms, 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_set_ttl_adds_no_history_version)
{
    fx_put_rev("k", "a");
    command c = fx_set_ttl("k", 100);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 1);
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_get_at_revision_around_a_ttl_change)
{
    int64_t r1 = fx_put_rev("k", "a");
    fsm_result res;
    command c = fx_set_ttl("k", 100);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t r2 = res.revision;
    fsm_result_clear(&res);
    int64_t r3 = fx_put_rev("k", "b");
    kv_record r;
    ck_assert_int_eq(fx_get("k", r1, &r), 0);          /* the version as written */
    ck_assert_str_eq(FX_STR(r.value), "a");
    ck_assert_int_eq(r.revision, r1);
    kv_record_free(&r);
    ck_assert_int_eq(fx_get("k", r2, &r), 0);          /* same value after the PATCH */
    ck_assert_str_eq(FX_STR(r.value), "a");
    kv_record_free(&r);
    ck_assert_int_eq(fx_get("k", r3, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "b");
    kv_record_free(&r);
}
END_TEST

/* --------------------------------------------------------------- expire */

START_TEST(test_kv_expire_deletes_when_the_revision_matches)
{
    fsm_result res;
    command c = fx_put_ttl("k", "v", 1000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t r1 = res.revision;
    fsm_result_clear(&res);
    c = fx_kv_expire("k", r1);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.revision, r1 + 1);
    fsm_result_clear(&res);
    assert_absent("k");
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].deleted, 1);          /* a tombstone, like a delete */
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_expire_of_an_older_revision_changes_nothing)
{
    command c = fx_put_ttl("k", "v1", 1000);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t r1 = res.revision;
    fsm_result_clear(&res);
    c = fx_put_ttl("k", "v2", 1000);                   /* written again: new lease */
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    int64_t before = fsm_current_revision(fx.f);
    c = fx_kv_expire("k", r1);
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    fsm_result_clear(&res);
    ck_assert_int_eq(fsm_current_revision(fx.f), before);
    assert_value("k", "v2");
}
END_TEST

START_TEST(test_kv_expire_after_a_ttl_change_needs_the_new_revision)
{
    command c = fx_put_ttl("k", "v", 1000);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fsm_result res;
    c = fx_set_ttl("k", 5000);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    int64_t r2 = res.revision;
    fsm_result_clear(&res);
    c = fx_kv_expire("k", 1);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = fx_kv_expire("k", r2);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_absent("k");
}
END_TEST

START_TEST(test_kv_expire_of_an_absent_key_is_not_found)
{
    command c = fx_kv_expire("k", 1);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fsm_current_revision(fx.f), 0);
}
END_TEST

/* ------------------------------------------------------ get at revision */

START_TEST(test_kv_get_at_revision_returns_the_version_of_then)
{
    int64_t r1 = fx_put_rev("k", "a");
    int64_t r2 = fx_put_rev("other", "x");
    int64_t r3 = fx_put_rev("k", "b");
    kv_record r;
    ck_assert_int_eq(fx_get("k", r1, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "a");
    ck_assert_int_eq(r.revision, r1);
    ck_assert_int_eq(r.version, 1);
    kv_record_free(&r);
    ck_assert_int_eq(fx_get("k", r2, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "a");
    kv_record_free(&r);
    ck_assert_int_eq(fx_get("k", r3, &r), 0);
    ck_assert_str_eq(FX_STR(r.value), "b");
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(r.create_revision, r1);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_get_at_revision_before_creation_is_not_found)
{
    fx_put_rev("other", "x");
    int64_t r2 = fx_put_rev("k", "a");
    kv_record r;
    ck_assert_int_eq(fx_get("k", r2 - 1, &r), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_kv_get_at_revision_after_delete_is_not_found)
{
    int64_t r1 = fx_put_rev("k", "a");
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    fx_put_rev("other", "x");
    kv_record r;
    ck_assert_int_eq(fx_get("k", r1 + 1, &r), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fx_get("k", r1 + 2, &r), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fx_get("k", r1, &r), 0);          /* before the delete */
    ck_assert_str_eq(FX_STR(r.value), "a");
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_get_at_future_revision_is_bad_request)
{
    int64_t r1 = fx_put_rev("k", "a");
    kv_record r;
    ck_assert_int_eq(fx_get("k", r1 + 1, &r), KAHUNA_EBADREQ);
    ck_assert_int_eq(fx_get("k", -1, &r), KAHUNA_EBADREQ);
    ck_assert_int_eq(fx_get("k", r1, &r), 0);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_get_at_compacted_revision_is_410)
{
    int64_t first = fx_put_rev("k", "v0");
    for (int i = 1; i < 20; i++)
        fx_put_rev("k", "v");
    /* 20 versions, 16 kept: the first 4 are gone */
    kv_record r;
    ck_assert_int_eq(fx_get("k", first, &r), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(fx_get("k", first + 3, &r), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(fx_get("k", first + 4, &r), 0);
    ck_assert_int_eq(r.version, 5);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_compaction_is_remembered_after_delete)
{
    int64_t first = fx_put_rev("k", "v0");
    for (int i = 1; i < 20; i++)
        fx_put_rev("k", "v");
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_record r;
    ck_assert_int_eq(fx_get("k", first, &r), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(fx_get("k", 0, &r), KAHUNA_ENOTFOUND);
    /* a key never pruned says 404 at an old revision */
    fx_put_rev("fresh", "x");
    ck_assert_int_eq(fx_get("fresh", first, &r), KAHUNA_ENOTFOUND);
}
END_TEST

/* -------------------------------------------------------------- history */

START_TEST(test_kv_history_lists_versions_newest_first_with_tombstones)
{
    int64_t r1 = fx_put_rev("k", "a");
    int64_t r2 = fx_put_rev("k", "b");
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    int64_t r4 = fx_put_rev("k", "c");
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 4);
    ck_assert_int_eq(l.items[0].revision, r4);
    ck_assert_str_eq(FX_STR(l.items[0].value), "c");
    ck_assert_int_eq(l.items[0].deleted, 0);
    ck_assert_int_eq(l.items[0].version, 1);
    ck_assert_int_eq(l.items[1].revision, r2 + 1);
    ck_assert_int_eq(l.items[1].deleted, 1);
    ck_assert_int_eq(l.items[2].revision, r2);
    ck_assert_str_eq(FX_STR(l.items[2].value), "b");
    ck_assert_int_eq(l.items[3].revision, r1);
    ck_assert_str_eq(FX_STR(l.items[3].value), "a");
    ck_assert_str_eq(FX_STR(l.items[3].key), "k");
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_history_keeps_the_newest_16_versions)
{
    for (int i = 0; i < 40; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        fx_put_rev("k", v);
    }
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 16);
    ck_assert_str_eq(FX_STR(l.items[0].value), "v39");
    ck_assert_str_eq(FX_STR(l.items[15].value), "v24");
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_history_keep_is_configurable)
{
    fx_teardown();
    memset(&fx, 0, sizeof fx);
    fx_mkdtemp(fx.dir);
    snprintf(fx.path, sizeof fx.path, "%s/state.db", fx.dir);
    fsm_options o = {2};
    ck_assert_int_eq(fsm_open(fx.path, &o, &fx.f), 0);
    ck_assert_int_eq(fsm_reader_open(fx.path, &fx.r), 0);
    fx_put_rev("k", "a");
    fx_put_rev("k", "b");
    fx_put_rev("k", "c");
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(FX_STR(l.items[1].value), "b");
    kv_list_free(&l);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 1, &r), KAHUNA_ECOMPACTED);
}
END_TEST

START_TEST(test_kv_history_counts_every_life_of_a_key)
{
    for (int i = 0; i < 10; i++)
        fx_put_rev("k", "old");
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    for (int i = 0; i < 10; i++)
        fx_put_rev("k", "new");
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 16);                    /* 21 written, 16 kept */
    ck_assert_int_eq(l.items[10].deleted, 1);
    ck_assert_str_eq(FX_STR(l.items[15].value), "old");
    ck_assert_int_eq(l.items[15].revision, 6);
    kv_list_free(&l);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 5, &r), KAHUNA_ECOMPACTED);
    ck_assert_int_eq(fx_get("k", 6, &r), 0);
    ck_assert_int_eq(r.version, 6);
    kv_record_free(&r);
}
END_TEST

START_TEST(test_kv_history_shrinks_to_a_lower_keep_on_the_next_write)
{
    for (int i = 0; i < 10; i++)
        fx_put_rev("k", "v");
    fsm_reader_close(fx.r);
    fsm_close(fx.f);
    fsm_options o = {3};
    ck_assert_int_eq(fsm_open(fx.path, &o, &fx.f), 0);
    ck_assert_int_eq(fsm_reader_open(fx.path, &fx.r), 0);
    fx_put_rev("k", "last");
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(FX_STR(l.items[0].value), "last");
    kv_list_free(&l);
    kv_record r;
    ck_assert_int_eq(fx_get("k", 8, &r), KAHUNA_ECOMPACTED);
}
END_TEST

START_TEST(test_kv_history_of_a_deleted_key_stays_listable)
{
    fx_put_rev("k", "a");
    command c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("k"), &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].deleted, 1);
    ck_assert_str_eq(FX_STR(l.items[1].value), "a");
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_history_of_an_unknown_key_is_not_found)
{
    kv_list l;
    ck_assert_int_eq(fsm_kv_history(fx.r, kbytes_str("nope"), &l), KAHUNA_ENOTFOUND);
    ck_assert_uint_eq(l.n, 0);
}
END_TEST

/* ----------------------------------------------------------------- list */

static void put_bytes(const void *key, size_t n, const char *value)
{
    command c = fx_put("x", value);
    c.key = kbytes_make(key, n);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
}

START_TEST(test_kv_list_orders_keys_bytewise)
{
    put_bytes("b", 1, "1");
    put_bytes("a\xff", 2, "2");
    put_bytes("\x80", 1, "3");
    put_bytes("a", 1, "4");
    put_bytes("a\0", 2, "5");
    put_bytes("A", 1, "6");
    kv_list l;
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str(""), 100, 0, &l), 0);
    ck_assert_uint_eq(l.n, 6);
    ck_assert_int_eq(l.more, 0);
    static const char *want[] = {"A", "a", "a\0", "a\xff", "b", "\x80"};
    static const size_t wlen[] = {1, 1, 2, 2, 1, 1};
    for (size_t i = 0; i < 6; i++) {
        ck_assert_uint_eq(l.items[i].key.len, wlen[i]);
        ck_assert_mem_eq(l.items[i].key.data, want[i], wlen[i]);
    }
    ck_assert_str_eq(FX_STR(l.items[0].value), "6");
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_list_filters_by_prefix)
{
    fx_put_rev("app/a", "1");
    fx_put_rev("app/b", "2");
    fx_put_rev("app0", "3");
    fx_put_rev("ap", "4");
    fx_put_rev("apq", "5");
    put_bytes("z\xff", 2, "6");
    put_bytes("z\xff\xff", 3, "7");
    put_bytes("z\xff\xff\x01", 4, "8");
    kv_list l;
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("app/"), kbytes_str(""), 100, 0, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(FX_STR(l.items[0].key), "app/a");
    ck_assert_str_eq(FX_STR(l.items[1].key), "app/b");
    kv_list_free(&l);
    /* a prefix ending in 0xff bytes has no upper bound to increment */
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_make("z\xff\xff", 3), kbytes_str(""), 100, 0, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    kv_list_free(&l);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("zz"), kbytes_str(""), 100, 0, &l), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(l.more, 0);
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_list_pages_with_after_and_more)
{
    const char *keys[] = {"k1", "k2", "k3", "k4", "k5"};
    for (int i = 0; i < 5; i++)
        fx_put_rev(keys[i], "v");
    fx_put_rev("j", "v");
    fx_put_rev("l", "v");
    kv_list l;
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("k"), kbytes_str(""), 2, 0, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.more, 1);
    ck_assert_str_eq(FX_STR(l.items[1].key), "k2");
    kv_list_free(&l);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("k"), kbytes_str("k2"), 2, 0, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.more, 1);
    ck_assert_str_eq(FX_STR(l.items[0].key), "k3");
    kv_list_free(&l);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("k"), kbytes_str("k4"), 2, 0, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.more, 0);
    ck_assert_str_eq(FX_STR(l.items[0].key), "k5");
    kv_list_free(&l);
    /* after before the prefix: starts at the prefix; after a key not stored */
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("k"), kbytes_str("a"), 10, 0, &l), 0);
    ck_assert_uint_eq(l.n, 5);
    kv_list_free(&l);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str("k35"), 10, 0, &l), 0);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(FX_STR(l.items[0].key), "k4");
    kv_list_free(&l);
    /* exactly limit items: no more */
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str("k"), kbytes_str(""), 5, 0, &l), 0);
    ck_assert_uint_eq(l.n, 5);
    ck_assert_int_eq(l.more, 0);
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_list_keys_only_leaves_values_empty)
{
    command c = fx_put_ttl("k", "value", 900);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    kv_list l;
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str(""), 10, 1, &l), 0);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(FX_STR(l.items[0].key), "k");
    ck_assert_uint_eq(l.items[0].value.len, 0);
    ck_assert_int_eq(l.items[0].ttl_ms, 900);
    ck_assert_int_eq(l.items[0].version, 1);
    kv_list_free(&l);
}
END_TEST

START_TEST(test_kv_list_limit_must_be_1_to_10000)
{
    kv_list l;
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str(""), 0, 0, &l), KAHUNA_EBADREQ);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str(""), 10001, 0, &l), KAHUNA_EBADREQ);
    ck_assert_int_eq(fsm_kv_list(fx.r, kbytes_str(""), kbytes_str(""), 10000, 0, &l), 0);
    kv_list_free(&l);
}
END_TEST

/* ------------------------------------------------------------- TTL hook */

static const fx_event *event(int i)
{
    ck_assert_int_lt(i, fx.nevents);
    return &fx.events[i];
}

START_TEST(test_kv_ttl_hook_arms_a_put_with_ttl_at_its_revision)
{
    command c = fx_put_ttl("k", "v", 2500);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(fx.nevents, 1);
    ck_assert_int_eq(event(0)->kind, FSM_TTL_KV);
    ck_assert_int_eq(event(0)->op, FSM_TTL_ARM);
    ck_assert_str_eq(event(0)->name, "k");
    ck_assert_int_eq(event(0)->generation, res.revision);
    ck_assert_int_eq(event(0)->ttl_ms, 2500);
    fsm_result_clear(&res);
}
END_TEST

START_TEST(test_kv_ttl_hook_disarms_on_put_without_ttl_delete_and_expire)
{
    command c = fx_put("k", "v");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(event(0)->op, FSM_TTL_DISARM);
    ck_assert_int_eq(event(0)->generation, 1);
    c = fx_del("k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(event(1)->op, FSM_TTL_DISARM);
    ck_assert_int_eq(event(1)->kind, FSM_TTL_KV);
    ck_assert_int_eq(event(1)->generation, 2);
    c = fx_put_ttl("k", "v", 10);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_kv_expire("k", 3);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fx.nevents, 4);
    ck_assert_int_eq(event(3)->op, FSM_TTL_DISARM);
    ck_assert_int_eq(event(3)->generation, 4);
}
END_TEST

START_TEST(test_kv_ttl_hook_follows_a_ttl_change)
{
    command c = fx_put("k", "v");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_set_ttl("k", 800);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(event(1)->op, FSM_TTL_ARM);
    ck_assert_int_eq(event(1)->generation, 2);
    ck_assert_int_eq(event(1)->ttl_ms, 800);
    c = fx_set_ttl("k", 0);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(event(2)->op, FSM_TTL_DISARM);
    ck_assert_int_eq(event(2)->generation, 3);
}
END_TEST

START_TEST(test_kv_ttl_hook_quiet_when_nothing_changes)
{
    command c = fx_put_ttl("k", "v", 100);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    c = fx_put_ttl("k", "v", 100);
    c.flags = CMD_F_IF_NOT_EXISTS;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = fx_kv_expire("k", 99);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c = fx_del("nope");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
    ck_assert_int_eq(fx.nevents, 1);
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *kv_suite(void)
{
    Suite *s = suite_create("fsm_kv");
    TCase *tc;

    tc = tcase_create("put");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_kv_put_creates_key_with_version_1);
    tcase_add_test(tc, test_kv_put_overwrite_increments_version_keeps_create_revision);
    tcase_add_test(tc, test_kv_put_takes_the_next_store_revision);
    tcase_add_test(tc, test_kv_put_stores_binary_keys_and_values);
    tcase_add_test(tc, test_kv_put_empty_value_is_a_value);
    tcase_add_test(tc, test_kv_put_value_of_1_mib);
    tcase_add_test(tc, test_kv_put_if_not_exists_succeeds_when_absent);
    tcase_add_test(tc, test_kv_put_if_not_exists_fails_when_present);
    tcase_add_test(tc, test_kv_put_if_exists_fails_when_absent);
    tcase_add_test(tc, test_kv_put_if_exists_succeeds_when_present);
    tcase_add_test(tc, test_kv_put_if_revision_succeeds_when_it_matches);
    tcase_add_test(tc, test_kv_put_if_revision_fails_with_the_current_revision);
    tcase_add_test(tc, test_kv_put_if_revision_0_means_the_key_must_be_absent);
    tcase_add_test(tc, test_kv_put_if_value_succeeds_when_equal);
    tcase_add_test(tc, test_kv_put_if_value_fails_when_different_or_absent);
    tcase_add_test(tc, test_kv_put_if_value_empty_matches_an_empty_value);
    tcase_add_test(tc, test_kv_put_every_condition_must_hold);
    tcase_add_test(tc, test_kv_put_ttl_replaces_the_ttl_and_0_removes_it);
    tcase_add_test(tc, test_kv_put_after_delete_starts_again_at_version_1);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete_ttl_expire");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_kv_delete_absent_is_not_found);
    tcase_add_test(tc, test_kv_delete_removes_the_key_at_a_new_revision);
    tcase_add_test(tc, test_kv_delete_if_revision_mismatch_fails_with_current_revision);
    tcase_add_test(tc, test_kv_set_ttl_absent_is_not_found);
    tcase_add_test(tc, test_kv_set_ttl_keeps_value_and_version_at_a_new_revision);
    tcase_add_test(tc, test_kv_set_ttl_0_removes_the_ttl);
    tcase_add_test(tc, test_kv_set_ttl_adds_no_history_version);
    tcase_add_test(tc, test_kv_get_at_revision_around_a_ttl_change);
    tcase_add_test(tc, test_kv_expire_deletes_when_the_revision_matches);
    tcase_add_test(tc, test_kv_expire_of_an_older_revision_changes_nothing);
    tcase_add_test(tc, test_kv_expire_after_a_ttl_change_needs_the_new_revision);
    tcase_add_test(tc, test_kv_expire_of_an_absent_key_is_not_found);
    suite_add_tcase(s, tc);

    tc = tcase_create("revisions_history");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_kv_get_at_revision_returns_the_version_of_then);
    tcase_add_test(tc, test_kv_get_at_revision_before_creation_is_not_found);
    tcase_add_test(tc, test_kv_get_at_revision_after_delete_is_not_found);
    tcase_add_test(tc, test_kv_get_at_future_revision_is_bad_request);
    tcase_add_test(tc, test_kv_get_at_compacted_revision_is_410);
    tcase_add_test(tc, test_kv_compaction_is_remembered_after_delete);
    tcase_add_test(tc, test_kv_history_lists_versions_newest_first_with_tombstones);
    tcase_add_test(tc, test_kv_history_keeps_the_newest_16_versions);
    tcase_add_test(tc, test_kv_history_keep_is_configurable);
    tcase_add_test(tc, test_kv_history_counts_every_life_of_a_key);
    tcase_add_test(tc, test_kv_history_shrinks_to_a_lower_keep_on_the_next_write);
    tcase_add_test(tc, test_kv_history_of_a_deleted_key_stays_listable);
    tcase_add_test(tc, test_kv_history_of_an_unknown_key_is_not_found);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_kv_list_orders_keys_bytewise);
    tcase_add_test(tc, test_kv_list_filters_by_prefix);
    tcase_add_test(tc, test_kv_list_pages_with_after_and_more);
    tcase_add_test(tc, test_kv_list_keys_only_leaves_values_empty);
    tcase_add_test(tc, test_kv_list_limit_must_be_1_to_10000);
    suite_add_tcase(s, tc);

    tc = tcase_create("ttl_hook");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, test_kv_ttl_hook_arms_a_put_with_ttl_at_its_revision);
    tcase_add_test(tc, test_kv_ttl_hook_disarms_on_put_without_ttl_delete_and_expire);
    tcase_add_test(tc, test_kv_ttl_hook_follows_a_ttl_change);
    tcase_add_test(tc, test_kv_ttl_hook_quiet_when_nothing_changes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
