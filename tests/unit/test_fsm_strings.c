/* test_fsm_strings.c: unit tests of the RESP read-modify-write commands of
 * the state machine (daemon/fsm/strings.c, command.h types 12..24): what
 * each one returns and stores, that a value change keeps the key's TTL, and
 * that a transaction applies all of it or, when a watched key changed,
 * none of it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fsm_fixture.h"

static int64_t last_keep_generation;
static char last_keep_name[64];

static void keep_hook(void *arg, const fsm_ttl_event *ev)
{
    fx_hook(arg, ev);
    last_keep_generation = ev->keep_generation;
    snprintf(last_keep_name, sizeof last_keep_name, "%.*s", (int)ev->keep_name.n,
             ev->keep_name.p ? (const char *)ev->keep_name.p : "");
}

static void setup(void)
{
    fx_setup();
    fsm_set_ttl_hook(fx.f, keep_hook, NULL);
    last_keep_generation = 0;
}

static command cmd(int type, const char *key)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = (uint8_t)type;
    if (key)
        c.key = kbytes_str(key);
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

static int64_t ttl_of(const char *key)
{
    kv_record r;
    ck_assert_int_eq(fx_get(key, 0, &r), 0);
    int64_t t = r.ttl_ms;
    kv_record_free(&r);
    return t;
}

/* ---- SET with GET / KEEPTTL ---- */

START_TEST(test_set_get_returns_the_old_value)
{
    fx_put_rev("k", "old");
    command c = cmd(CMD_KV_SET, "k");
    c.value = kbytes_str("new");
    c.flags = CMD_F_RETURN;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.found, 1);
    ck_assert_str_eq(FX_STR(res.data), "old");
    fsm_result_clear(&res);
    assert_value("k", "new");
}
END_TEST

START_TEST(test_set_nx_get_refused_still_returns_the_old_value)
{
    fx_put_rev("k", "old");
    command c = cmd(CMD_KV_SET, "k");
    c.value = kbytes_str("new");
    c.flags = CMD_F_RETURN | CMD_F_IF_NOT_EXISTS;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ECONDITION);
    ck_assert_str_eq(FX_STR(res.data), "old");
    fsm_result_clear(&res);
    assert_value("k", "old");
}
END_TEST

START_TEST(test_set_keepttl_keeps_the_ttl_and_its_deadline)
{
    command p = fx_put_ttl("k", "v", 5000);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&p, &res), 0);
    int64_t rev = res.revision;
    fsm_result_clear(&res);
    command c = cmd(CMD_KV_SET, "k");
    c.value = kbytes_str("w");
    c.flags = CMD_F_KEEPTTL;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(ttl_of("k"), 5000);
    ck_assert_int_eq(last_keep_generation, rev);
    ck_assert_str_eq(last_keep_name, "k");
    assert_value("k", "w");
}
END_TEST

START_TEST(test_set_without_keepttl_drops_the_ttl)
{
    command p = fx_put_ttl("k", "v", 5000);
    ck_assert_int_eq(fx_apply(&p, NULL), 0);
    command c = cmd(CMD_KV_SET, "k");
    c.value = kbytes_str("w");
    c.flags = CMD_F_RETURN;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(ttl_of("k"), 0);
}
END_TEST

/* ---- GETDEL, TTL_IF ---- */

START_TEST(test_getdel_returns_and_deletes)
{
    fx_put_rev("k", "v");
    command c = cmd(CMD_KV_GETDEL, "k");
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_str_eq(FX_STR(res.data), "v");
    fsm_result_clear(&res);
    assert_absent("k");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_ttl_if_nx_sets_only_without_ttl)
{
    fx_put_rev("k", "v");
    command c = cmd(CMD_KV_TTL_IF, "k");
    c.ttl_ms = 1000;
    c.flags = CMD_F_IF_NO_TTL;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(ttl_of("k"), 1000);
    c.ttl_ms = 2000;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    ck_assert_int_eq(ttl_of("k"), 1000);
}
END_TEST

START_TEST(test_ttl_if_xx_persist_removes_only_an_existing_ttl)
{
    fx_put_rev("k", "v");
    command c = cmd(CMD_KV_TTL_IF, "k");
    c.flags = CMD_F_IF_HAS_TTL;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    command s = fx_set_ttl("k", 3000);
    ck_assert_int_eq(fx_apply(&s, NULL), 0);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(ttl_of("k"), 0);
}
END_TEST

START_TEST(test_ttl_if_revision_must_match)
{
    int64_t rev = fx_put_rev("k", "v");
    command c = cmd(CMD_KV_TTL_IF, "k");
    c.ttl_ms = 1000;
    c.flags = CMD_F_IF_REVISION;
    c.if_revision = rev + 5;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c.if_revision = rev;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
}
END_TEST

START_TEST(test_ttl_if_minus_one_deletes_and_returns_the_value)
{
    fx_put_rev("k", "v");
    command c = cmd(CMD_KV_TTL_IF, "k");
    c.ttl_ms = -1;
    c.flags = CMD_F_RETURN;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_str_eq(FX_STR(res.data), "v");
    fsm_result_clear(&res);
    assert_absent("k");
}
END_TEST

START_TEST(test_ttl_if_removing_no_ttl_takes_no_revision)
{
    int64_t rev = fx_put_rev("k", "v");
    command c = cmd(CMD_KV_TTL_IF, "k");
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fsm_current_revision(fx.f), rev);
}
END_TEST

/* ---- numbers ---- */

START_TEST(test_incr_creates_and_adds)
{
    command c = cmd(CMD_KV_INCR, "n");
    c.num = 5;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 5);
    fsm_result_clear(&res);
    c.num = -7;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, -2);
    fsm_result_clear(&res);
    assert_value("n", "-2");
}
END_TEST

START_TEST(test_incr_refuses_a_value_that_is_not_an_integer)
{
    const char *bad[] = {"abc", " 1", "1 ", "+1", "01", "-0", "1.5", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_put_rev("n", bad[i]);
        command c = cmd(CMD_KV_INCR, "n");
        c.num = 1;
        fsm_result res;
        ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ERANGE);
        ck_assert_int_eq(res.last, FSM_ERANGE_NOT_INTEGER);
        fsm_result_clear(&res);
        assert_value("n", bad[i]);
    }
}
END_TEST

START_TEST(test_incr_refuses_overflow)
{
    fx_put_rev("n", "9223372036854775807");
    command c = cmd(CMD_KV_INCR, "n");
    c.num = 1;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ERANGE);
    ck_assert_int_eq(res.last, FSM_ERANGE_OVERFLOW);
    fsm_result_clear(&res);
    fx_put_rev("n", "-9223372036854775808");
    c.num = -1;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ERANGE);
}
END_TEST

START_TEST(test_incr_keeps_the_ttl)
{
    command p = fx_put_ttl("n", "1", 60000);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&p, &res), 0);
    int64_t rev = res.revision;
    fsm_result_clear(&res);
    command c = cmd(CMD_KV_INCR, "n");
    c.num = 1;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(ttl_of("n"), 60000);
    ck_assert_int_eq(last_keep_generation, rev);
}
END_TEST

static void incrbyfloat(const char *start, const char *by, const char *want)
{
    if (start)
        fx_put_rev("f", start);
    command c = cmd(CMD_KV_INCRBYFLOAT, "f");
    c.value = kbytes_str(by);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_str_eq(FX_STR(res.data), want);
    fsm_result_clear(&res);
    assert_value("f", want);
}

START_TEST(test_incrbyfloat_prints_like_redis)
{
    incrbyfloat("10.50", "0.1", "10.6");
    incrbyfloat(NULL, "-5", "5.6");
    incrbyfloat("5.0e3", "2.0e2", "5200");
    incrbyfloat("0", "1e20", "100000000000000000000");
    incrbyfloat("3", "-3", "0");
    incrbyfloat("1", "0.000001", "1.000001");
}
END_TEST

START_TEST(test_incrbyfloat_refuses_bad_numbers)
{
    fx_put_rev("f", "abc");
    command c = cmd(CMD_KV_INCRBYFLOAT, "f");
    c.value = kbytes_str("1");
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ERANGE);
    ck_assert_int_eq(res.last, FSM_ERANGE_NOT_FLOAT);
    fsm_result_clear(&res);
    fx_put_rev("f", "1");
    c.value = kbytes_str("nan");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ERANGE);
    c.value = kbytes_str("1e308");
    fx_put_rev("f", "1e308");
    ck_assert_int_eq(fx_apply(&c, &res), KAHUNA_ERANGE);
    ck_assert_int_eq(res.last, FSM_ERANGE_NAN_INF);
    fsm_result_clear(&res);
}
END_TEST

/* ---- bytes ---- */

START_TEST(test_append_returns_the_new_length)
{
    command c = cmd(CMD_KV_APPEND, "a");
    c.value = kbytes_str("Hello");
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 5);
    fsm_result_clear(&res);
    c.value = kbytes_str(" World");
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 11);
    fsm_result_clear(&res);
    assert_value("a", "Hello World");
}
END_TEST

START_TEST(test_append_refuses_past_the_value_limit)
{
    char *big = malloc(KAHUNA_MAX_VALUE + 1);
    memset(big, 'x', KAHUNA_MAX_VALUE);
    big[KAHUNA_MAX_VALUE] = '\0';
    fx_put_rev("a", big);
    command c = cmd(CMD_KV_APPEND, "a");
    c.value = kbytes_str("y");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ETOOLARGE);
    free(big);
}
END_TEST

START_TEST(test_setrange_pads_with_zeros)
{
    command c = cmd(CMD_KV_SETRANGE, "r");
    c.value = kbytes_str("ab");
    c.num = 3;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 5);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("r", 0, &r), 0);
    ck_assert_uint_eq(r.value.len, 5);
    ck_assert(memcmp(r.value.data, "\0\0\0ab", 5) == 0);
    kv_record_free(&r);
    c.value = kbytes_str("X");
    c.num = 0;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
}
END_TEST

START_TEST(test_setrange_with_empty_value_creates_nothing)
{
    command c = cmd(CMD_KV_SETRANGE, "r");
    c.value = kbytes_str("");
    c.num = 10;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 0);
    fsm_result_clear(&res);
    assert_absent("r");
}
END_TEST

START_TEST(test_setbit_returns_the_old_bit)
{
    command c = cmd(CMD_KV_SETBIT, "b");
    c.num = 7;
    c.flags = CMD_F_BIT;
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 0);
    fsm_result_clear(&res);
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 1);
    fsm_result_clear(&res);
    assert_value("b", "\x01");
    c.flags = 0;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 1);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("b", 0, &r), 0);
    ck_assert_uint_eq(r.value.len, 1);
    ck_assert_int_eq(r.value.data[0], 0);
    kv_record_free(&r);
}
END_TEST

static command bitop(int op, const char *dest, const char *a, const char *b, kbuf *list)
{
    command c = cmd(CMD_KV_BITOP, dest);
    c.num = op;
    kbuf_reset(list);
    ck_assert_int_eq(cmd_list_add(list, kbytes_str(a)), 0);
    if (b)
        ck_assert_int_eq(cmd_list_add(list, kbytes_str(b)), 0);
    c.aux = kbytes_make(list->data, list->len);
    return c;
}

START_TEST(test_bitop_and_or_xor_not)
{
    kbuf l = KBUF_INIT;
    fx_put_rev("a", "\xf0\x0f");
    fx_put_rev("b", "\xff");
    command c = bitop(CMD_BITOP_AND, "d", "a", "b", &l);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 2);
    fsm_result_clear(&res);
    kv_record r;
    ck_assert_int_eq(fx_get("d", 0, &r), 0);
    ck_assert(r.value.len == 2 && memcmp(r.value.data, "\xf0\x00", 2) == 0);
    kv_record_free(&r);
    c = bitop(CMD_BITOP_OR, "d", "a", "b", &l);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("d", "\xff\x0f");
    c = bitop(CMD_BITOP_XOR, "d", "a", "b", &l);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("d", "\x0f\x0f");
    c = bitop(CMD_BITOP_NOT, "d", "b", NULL, &l);
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    ck_assert_int_eq(fx_get("d", 0, &r), 0);
    ck_assert(r.value.len == 1 && r.value.data[0] == 0);
    kv_record_free(&r);
    kbuf_free(&l);
}
END_TEST

START_TEST(test_bitop_of_missing_keys_deletes_the_destination)
{
    kbuf l = KBUF_INIT;
    fx_put_rev("d", "x");
    command c = bitop(CMD_BITOP_OR, "d", "nope1", "nope2", &l);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 0);
    fsm_result_clear(&res);
    assert_absent("d");
    kbuf_free(&l);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_rename_moves_value_and_ttl)
{
    command p = fx_put_ttl("src", "v", 9000);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&p, &res), 0);
    int64_t rev = res.revision;
    fsm_result_clear(&res);
    command c = cmd(CMD_KV_COPY, "src");
    c.aux = kbytes_str("dst");
    c.flags = CMD_F_MOVE | CMD_F_REPLACE;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_absent("src");
    assert_value("dst", "v");
    ck_assert_int_eq(ttl_of("dst"), 9000);
    /* the TTL event for dst kept src's deadline (before src was removed) */
    int found = 0;
    for (int i = 0; i < fx.nevents; i++)
        if (strcmp(fx.events[i].name, "dst") == 0 && fx.events[i].op == FSM_TTL_ARM)
            found = 1;
    ck_assert(found);
    (void)rev;
}
END_TEST

START_TEST(test_renamenx_and_copy_refuse_an_existing_destination)
{
    fx_put_rev("src", "v");
    fx_put_rev("dst", "w");
    command c = cmd(CMD_KV_COPY, "src");
    c.aux = kbytes_str("dst");
    c.flags = CMD_F_MOVE;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c.flags = 0;
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    c.flags = CMD_F_REPLACE;
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("dst", "v");
    assert_value("src", "v");
}
END_TEST

START_TEST(test_copy_of_a_missing_source_is_not_found)
{
    command c = cmd(CMD_KV_COPY, "nope");
    c.aux = kbytes_str("dst");
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ENOTFOUND);
}
END_TEST

START_TEST(test_flush_deletes_every_key)
{
    char k[16];
    fsm_set_ttl_hook(fx.f, NULL, NULL); /* 1200 events: more than the fixture records */
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof k, "k%d", i);
        fx_put_rev(k, "v");
    }
    command c = cmd(CMD_KV_FLUSH, NULL);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 600);
    fsm_result_clear(&res);
    int64_t rev, keys;
    ck_assert_int_eq(fsm_reader_stats(fx.r, &rev, &keys), 0);
    ck_assert_int_eq(keys, 0);
    assert_absent("k5");
}
END_TEST

/* ---- transactions ---- */

static void txn_add(kbuf *t, const command *c)
{
    ck_assert_int_eq(cmd_txn_add(t, c), 0);
}

START_TEST(test_txn_applies_in_order_with_a_result_each)
{
    kbuf t = KBUF_INIT;
    ck_assert_int_eq(cmd_txn_begin(&t, 0), 0);
    command a = fx_put("x", "1");
    txn_add(&t, &a);
    command b = cmd(CMD_KV_INCR, "x");
    b.num = 10;
    txn_add(&t, &b);
    command g = cmd(CMD_KV_GET, "x");
    txn_add(&t, &g);
    command bad = cmd(CMD_KV_INCR, "y");
    bad.num = 1;
    command py = fx_put("y", "zz");
    txn_add(&t, &py);
    txn_add(&t, &bad);
    command c = cmd(CMD_TXN, NULL);
    c.aux = kbytes_make(t.data, t.len);
    fsm_result res;
    ck_assert_int_eq(fx_apply(&c, &res), 0);
    ck_assert_int_eq(res.value, 5);
    kbytes enc = kbytes_make(res.data.data, res.data.len), data;
    size_t off = 0;
    fsm_result sr;
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), 0);
    ck_assert_int_eq(sr.status, 0);
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), 0);
    ck_assert_int_eq(sr.value, 11);
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), 0);
    ck_assert(sr.found == 1 && data.n == 2 && memcmp(data.p, "11", 2) == 0);
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), 0);
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), 0);
    ck_assert_int_eq(sr.status, KAHUNA_ERANGE); /* one failing command, the others stay */
    ck_assert_int_eq(fsm_txn_result_next(enc, &off, &sr, &data), KAHUNA_ENOTFOUND);
    fsm_result_clear(&res);
    assert_value("x", "11");
    assert_value("y", "zz");
    kbuf_free(&t);
}
END_TEST

START_TEST(test_txn_with_a_changed_watch_applies_nothing)
{
    int64_t rev = fx_put_rev("w", "1");
    kbuf t = KBUF_INIT;
    ck_assert_int_eq(cmd_txn_begin(&t, 2), 0);
    ck_assert_int_eq(cmd_txn_watch(&t, kbytes_str("w"), rev), 0);
    ck_assert_int_eq(cmd_txn_watch(&t, kbytes_str("absent"), 0), 0);
    command a = fx_put("x", "1");
    txn_add(&t, &a);
    command c = cmd(CMD_TXN, NULL);
    c.aux = kbytes_make(t.data, t.len);
    /* unchanged: applies */
    ck_assert_int_eq(fx_apply(&c, NULL), 0);
    assert_value("x", "1");
    /* w written since: nothing */
    fx_put_rev("w", "2");
    command d = fx_del("x");
    ck_assert_int_eq(fx_apply(&d, NULL), 0);
    ck_assert_int_eq(fx_apply(&c, NULL), KAHUNA_ECONDITION);
    assert_absent("x");
    kbuf_free(&t);
}
END_TEST

START_TEST(test_txn_inside_txn_is_refused)
{
    kbuf inner = KBUF_INIT, outer = KBUF_INIT;
    ck_assert_int_eq(cmd_txn_begin(&inner, 0), 0);
    command a = fx_put("x", "1");
    txn_add(&inner, &a);
    command in = cmd(CMD_TXN, NULL);
    in.aux = kbytes_make(inner.data, inner.len);
    ck_assert_int_eq(cmd_txn_begin(&outer, 0), 0);
    txn_add(&outer, &in);
    command c = cmd(CMD_TXN, NULL);
    c.aux = kbytes_make(outer.data, outer.len);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    kbuf_free(&inner);
    kbuf_free(&outer);
}
END_TEST

START_TEST(test_new_commands_round_trip_through_the_codec)
{
    kbuf enc = KBUF_INIT, l = KBUF_INIT;
    command cs[6];
    cs[0] = cmd(CMD_KV_SET, "k");
    cs[0].value = kbytes_str("v");
    cs[0].flags = CMD_F_KEEPTTL | CMD_F_RETURN;
    cs[1] = cmd(CMD_KV_TTL_IF, "k");
    cs[1].ttl_ms = -1;
    cs[1].flags = CMD_F_IF_REVISION;
    cs[1].if_revision = 3;
    cs[2] = cmd(CMD_KV_SETBIT, "k");
    cs[2].num = 100;
    cs[2].flags = CMD_F_BIT;
    cs[3] = bitop(CMD_BITOP_NOT, "d", "s", NULL, &l);
    cs[4] = cmd(CMD_KV_COPY, "a");
    cs[4].aux = kbytes_str("b");
    cs[4].flags = CMD_F_MOVE;
    cs[5] = cmd(CMD_KV_FLUSH, NULL);
    for (int i = 0; i < 6; i++) {
        kbuf_reset(&enc);
        ck_assert_int_eq(cmd_encode(&cs[i], &enc), 0);
        command back;
        ck_assert_int_eq(cmd_decode(enc.data, enc.len, &back), 0);
        ck_assert_int_eq(back.type, cs[i].type);
        ck_assert_int_eq(back.flags, cs[i].flags);
        ck_assert_int_eq(back.ttl_ms, cs[i].ttl_ms);
        ck_assert(kbytes_eq(back.aux, cs[i].aux));
    }
    command badset = cmd(CMD_KV_SET, "k");
    badset.flags = CMD_F_KEEPTTL;
    badset.ttl_ms = 5;
    ck_assert_int_eq(cmd_validate(&badset), KAHUNA_EBADREQ);
    command badbit = cmd(CMD_KV_SETBIT, "k");
    badbit.num = (int64_t)KAHUNA_MAX_VALUE * 8;
    ck_assert_int_eq(cmd_validate(&badbit), KAHUNA_ETOOLARGE);
    kbuf_free(&enc);
    kbuf_free(&l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fsm_strings");
    TCase *t = tcase_create("strings");
    tcase_add_checked_fixture(t, setup, fx_teardown);
    tcase_add_test(t, test_set_get_returns_the_old_value);
    tcase_add_test(t, test_set_nx_get_refused_still_returns_the_old_value);
    tcase_add_test(t, test_set_keepttl_keeps_the_ttl_and_its_deadline);
    tcase_add_test(t, test_set_without_keepttl_drops_the_ttl);
    tcase_add_test(t, test_getdel_returns_and_deletes);
    tcase_add_test(t, test_ttl_if_nx_sets_only_without_ttl);
    tcase_add_test(t, test_ttl_if_xx_persist_removes_only_an_existing_ttl);
    tcase_add_test(t, test_ttl_if_revision_must_match);
    tcase_add_test(t, test_ttl_if_minus_one_deletes_and_returns_the_value);
    tcase_add_test(t, test_ttl_if_removing_no_ttl_takes_no_revision);
    tcase_add_test(t, test_incr_creates_and_adds);
    tcase_add_test(t, test_incr_refuses_a_value_that_is_not_an_integer);
    tcase_add_test(t, test_incr_refuses_overflow);
    tcase_add_test(t, test_incr_keeps_the_ttl);
    tcase_add_test(t, test_incrbyfloat_prints_like_redis);
    tcase_add_test(t, test_incrbyfloat_refuses_bad_numbers);
    tcase_add_test(t, test_append_returns_the_new_length);
    tcase_add_test(t, test_append_refuses_past_the_value_limit);
    tcase_add_test(t, test_setrange_pads_with_zeros);
    tcase_add_test(t, test_setrange_with_empty_value_creates_nothing);
    tcase_add_test(t, test_setbit_returns_the_old_bit);
    tcase_add_test(t, test_bitop_and_or_xor_not);
    tcase_add_test(t, test_bitop_of_missing_keys_deletes_the_destination);
    tcase_add_test(t, test_rename_moves_value_and_ttl);
    tcase_add_test(t, test_renamenx_and_copy_refuse_an_existing_destination);
    tcase_add_test(t, test_copy_of_a_missing_source_is_not_found);
    tcase_add_test(t, test_flush_deletes_every_key);
    tcase_add_test(t, test_txn_applies_in_order_with_a_result_each);
    tcase_add_test(t, test_txn_with_a_changed_watch_applies_nothing);
    tcase_add_test(t, test_txn_inside_txn_is_refused);
    tcase_add_test(t, test_new_commands_round_trip_through_the_codec);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
