/* test_command.c: unit tests of the command codec and its validation
 * (daemon/fsm/command.c): round trips of every command, and the rejection
 * of malformed, truncated and oversized encodings and of commands that
 * break a limit of SPEC §3. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fsm/command.h"
#include "errors.h"

static command cmd_of(uint8_t type, const char *key)
{
    command c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.key = kbytes_str(key);
    return c;
}

static void assert_same(const command *a, const command *b)
{
    ck_assert_uint_eq(a->type, b->type);
    ck_assert_uint_eq(a->flags, b->flags);
    ck_assert(kbytes_eq(a->key, b->key));
    ck_assert(kbytes_eq(a->value, b->value));
    ck_assert(kbytes_eq(a->owner, b->owner));
    ck_assert(kbytes_eq(a->aux, b->aux));
    ck_assert_int_eq(a->ttl_ms, b->ttl_ms);
    ck_assert_int_eq(a->if_revision, b->if_revision);
    ck_assert_int_eq(a->num, b->num);
    ck_assert_int_eq(a->now_ms, b->now_ms);
}

/* Encodes c, decodes it back, and checks that nothing changed. */
static void round_trip(const command *c)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(cmd_encode(c, &b), 0);
    command d;
    ck_assert_int_eq(cmd_decode(b.data, b.len, &d), 0);
    assert_same(c, &d);
    kbuf_free(&b);
}

static void encode(const command *c, kbuf *b)
{
    ck_assert_int_eq(cmd_encode(c, b), 0);
}

static int decode_bytes(const void *p, size_t n)
{
    command d;
    return cmd_decode(p, n, &d);
}

/* ----------------------------------------------------------- round trips */

START_TEST(test_codec_round_trips_every_command_type)
{
    command c = cmd_of(CMD_NOOP, "");
    round_trip(&c);

    c = cmd_of(CMD_KV_PUT, "app/db/url");
    c.value = kbytes_make("v\0al", 4);
    c.ttl_ms = 30000;
    c.flags = CMD_F_IF_REVISION | CMD_F_IF_VALUE;
    c.if_revision = 77;
    c.aux = kbytes_str("old");
    round_trip(&c);

    c = cmd_of(CMD_KV_DELETE, "k");
    c.flags = CMD_F_IF_REVISION;
    c.if_revision = 5;
    round_trip(&c);

    c = cmd_of(CMD_KV_SET_TTL, "k");
    c.ttl_ms = KAHUNA_MAX_TTL_MS;
    round_trip(&c);

    c = cmd_of(CMD_KV_EXPIRE, "k");
    c.num = INT64_MAX;
    round_trip(&c);

    c = cmd_of(CMD_LOCK_ACQUIRE, "jobs/nightly");
    c.owner = kbytes_str("w1@host");
    c.ttl_ms = 1;
    round_trip(&c);
    c.type = CMD_LOCK_EXTEND;
    round_trip(&c);
    c.type = CMD_LOCK_RELEASE;
    c.ttl_ms = 0;
    round_trip(&c);

    c = cmd_of(CMD_LOCK_EXPIRE, "l");
    c.num = 12;
    round_trip(&c);

    c = cmd_of(CMD_SEQ_NEXT, "ids");
    c.num = KAHUNA_MAX_SEQ_COUNT;
    c.aux = kbytes_str("req-1");
    c.now_ms = 1700000000000;
    round_trip(&c);

    c = cmd_of(CMD_SEQ_SET, "ids");
    c.num = 0;
    c.flags = CMD_F_FORCE;
    round_trip(&c);

    c = cmd_of(CMD_SEQ_DELETE, "ids");
    round_trip(&c);
}
END_TEST

START_TEST(test_codec_round_trips_binary_keys_and_values_at_the_limits)
{
    uint8_t *key = malloc(KAHUNA_MAX_KEY);
    uint8_t *val = malloc(KAHUNA_MAX_VALUE);
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(val);
    for (size_t i = 0; i < KAHUNA_MAX_KEY; i++)
        key[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < KAHUNA_MAX_VALUE; i++)
        val[i] = (uint8_t)(i * 13 + 1);
    command c = cmd_of(CMD_KV_PUT, "");
    c.key = kbytes_make(key, KAHUNA_MAX_KEY);
    c.value = kbytes_make(val, KAHUNA_MAX_VALUE);
    c.flags = CMD_F_IF_VALUE;
    c.aux = kbytes_make(val, KAHUNA_MAX_VALUE);
    round_trip(&c);
    free(key);
    free(val);
}
END_TEST

START_TEST(test_codec_round_trips_empty_value_and_empty_if_value)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.flags = CMD_F_IF_VALUE;
    kbuf b = KBUF_INIT;
    encode(&c, &b);
    command d;
    ck_assert_int_eq(cmd_decode(b.data, b.len, &d), 0);
    ck_assert_uint_eq(d.value.n, 0);
    ck_assert_uint_eq(d.aux.n, 0);
    ck_assert_uint_eq(d.flags, CMD_F_IF_VALUE);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_codec_encoding_starts_with_version_and_type)
{
    command c = cmd_of(CMD_SEQ_DELETE, "s");
    kbuf b = KBUF_INIT;
    encode(&c, &b);
    ck_assert_uint_ge(b.len, 2);
    ck_assert_uint_eq(b.data[0], 1);
    ck_assert_uint_eq(b.data[1], CMD_SEQ_DELETE);
    /* exactly: version, type, tag 2 (key), length 1, "s" */
    ck_assert_uint_eq(b.len, 5);
    ck_assert_mem_eq(b.data, "\x01\x0b\x02\x01s", 5);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_codec_encode_appends_to_the_buffer)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "xyz"), 0);
    command c = cmd_of(CMD_SEQ_DELETE, "s");
    encode(&c, &b);
    ck_assert_mem_eq(b.data, "xyz", 3);
    command d;
    ck_assert_int_eq(cmd_decode(b.data + 3, b.len - 3, &d), 0);
    assert_same(&c, &d);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_codec_encode_refuses_an_invalid_command_and_leaves_the_buffer)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "xyz"), 0);
    command c = cmd_of(CMD_KV_PUT, "");
    ck_assert_int_eq(cmd_encode(&c, &b), KAHUNA_EBADREQ);
    ck_assert_uint_eq(b.len, 3);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_codec_decoded_fields_point_into_the_entry)
{
    command c = cmd_of(CMD_KV_PUT, "key");
    c.value = kbytes_str("value");
    kbuf b = KBUF_INIT;
    encode(&c, &b);
    command d;
    ck_assert_int_eq(cmd_decode(b.data, b.len, &d), 0);
    ck_assert(d.key.p >= b.data && d.key.p + d.key.n <= b.data + b.len);
    ck_assert(d.value.p >= b.data && d.value.p + d.value.n <= b.data + b.len);
    kbuf_free(&b);
}
END_TEST

/* ------------------------------------------------------- malformed bytes */

START_TEST(test_decode_rejects_empty_and_short_input)
{
    ck_assert_int_eq(decode_bytes("", 0), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01", 1), KAHUNA_EBADREQ);
    command d;
    ck_assert_int_eq(cmd_decode(NULL, 0, &d), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_unknown_format_version)
{
    ck_assert_int_eq(decode_bytes("\x01\x00", 2), 0);   /* a NOOP */
    ck_assert_int_eq(decode_bytes("\x00\x00", 2), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x02\x00", 2), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\xff\x00", 2), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_unknown_and_reserved_types)
{
    ck_assert_int_eq(decode_bytes("\x01\x19\x02\x01k", 5), KAHUNA_EBADREQ); /* 12..24: RESP commands */
    ck_assert_int_eq(decode_bytes("\x01\x3f\x02\x01k", 5), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x40\x02\x01k", 5), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\xff\x02\x01k", 5), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x01k", 5), 0);   /* seq_delete k */
}
END_TEST

START_TEST(test_decode_rejects_unknown_tag)
{
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x01k\x0a\x01x", 8), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x01k\xff\x00", 7), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0b\x00\x00\x02\x01k", 7), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_repeated_and_out_of_order_tags)
{
    /* seq_delete with key twice */
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x01k\x02\x01k", 8), KAHUNA_EBADREQ);
    /* kv_put: value (3) before key (2) */
    ck_assert_int_eq(decode_bytes("\x01\x01\x03\x01v\x02\x01k", 8), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x01\x02\x01k\x03\x01v", 8), 0);
}
END_TEST

START_TEST(test_decode_rejects_length_beyond_the_end)
{
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x02k", 5), KAHUNA_EBADREQ);
    /* a length of 2^63 */
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01k", 14),
                     KAHUNA_EBADREQ);
    /* the largest varint */
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01k", 14),
                     KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_truncated_varint_and_missing_length)
{
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02", 3), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x81", 4), KAHUNA_EBADREQ);
    /* seq_set with num whose varint is cut */
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x01\x82", 8), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_overlong_and_oversized_varints)
{
    /* length 1 written in two bytes */
    ck_assert_int_eq(decode_bytes("\x01\x0b\x02\x81\x00k", 6), KAHUNA_EBADREQ);
    /* num = 2 padded inside its payload */
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x02\x84\x00", 9), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x01\x04", 8), 0);   /* num = 2 */
    /* an 11-byte varint, and a 10-byte one over 64 bits */
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x0b\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 18),
                     KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 17),
                     KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_integer_payload_with_extra_or_no_bytes)
{
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x02\x04\x04", 9), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0a\x02\x01s\x08\x00", 7), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_flags_wider_than_32_bits)
{
    /* seq_set s force, with flags = 0x10 | 1 << 32 */
    ck_assert_int_eq(decode_bytes("\x01\x0a\x01\x05\x90\x80\x80\x80\x10\x02\x01s", 12), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x0a\x01\x01\x10\x02\x01s", 8), 0);
}
END_TEST

START_TEST(test_decode_rejects_what_validation_rejects)
{
    /* kv_put without key; lock_acquire without ttl; seq_next without count */
    ck_assert_int_eq(decode_bytes("\x01\x01\x03\x01v", 5), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x05\x02\x01l\x04\x01o", 8), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_bytes("\x01\x09\x02\x01s", 5), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_decode_rejects_oversized_key_and_value_as_bad_request)
{
    uint8_t *big = calloc(1, KAHUNA_MAX_VALUE + 64);
    ck_assert_ptr_nonnull(big);
    /* kv_put with a 4097-byte key: 01 01 | 02 <4097 = 81 20> key */
    memcpy(big, "\x01\x01\x02\x81\x20", 5);
    memset(big + 5, 'k', KAHUNA_MAX_KEY + 1);
    ck_assert_int_eq(decode_bytes(big, 5 + KAHUNA_MAX_KEY + 1), KAHUNA_EBADREQ);
    big[3] = 0x80;                              /* 4096 = 80 20: at the limit */
    ck_assert_int_eq(decode_bytes(big, 5 + KAHUNA_MAX_KEY), 0);
    /* kv_put k with a value of 1 MiB + 1: 01 01 | 02 01 k | 03 <1048577 = 81 80 40> */
    memcpy(big, "\x01\x01\x02\x01k\x03\x81\x80\x40", 9);
    ck_assert_int_eq(decode_bytes(big, 9 + KAHUNA_MAX_VALUE + 1), KAHUNA_EBADREQ);
    big[6] = 0x80;                              /* 1048576: exactly 1 MiB */
    ck_assert_int_eq(decode_bytes(big, 9 + KAHUNA_MAX_VALUE), 0);
    /* lock_acquire l, owner of 257 bytes (81 02), ttl 1 (zigzag 2) */
    memcpy(big, "\x01\x05\x02\x01l\x04\x81\x02", 8);
    memset(big + 8, 'o', KAHUNA_MAX_OWNER + 1);
    memcpy(big + 8 + KAHUNA_MAX_OWNER + 1, "\x06\x01\x02", 3);
    ck_assert_int_eq(decode_bytes(big, 8 + KAHUNA_MAX_OWNER + 1 + 3), KAHUNA_EBADREQ);
    free(big);
}
END_TEST

START_TEST(test_decode_survives_every_truncation_and_byte_flip)
{
    command c = cmd_of(CMD_KV_PUT, "some/key");
    c.value = kbytes_str("a value");
    c.ttl_ms = 1234567;
    c.flags = CMD_F_IF_REVISION | CMD_F_IF_VALUE;
    c.if_revision = 99;
    c.aux = kbytes_str("prev");
    c.now_ms = 1700000000000;
    kbuf b = KBUF_INIT;
    encode(&c, &b);
    /* Every prefix decodes or is refused, never read past its end (ASan). */
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, b.data, n);
        command d;
        int rc = cmd_decode(p, n, &d);
        ck_assert(rc == 0 || rc == KAHUNA_EBADREQ);
        free(p);
    }
    /* Every single-byte change, to every value. */
    uint8_t *p = malloc(b.len);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < b.len; i++) {
        for (int v = 0; v < 256; v++) {
            memcpy(p, b.data, b.len);
            p[i] = (uint8_t)v;
            command d;
            int rc = cmd_decode(p, b.len, &d);
            ck_assert(rc == 0 || rc == KAHUNA_EBADREQ);
            if (rc == 0)
                ck_assert_int_eq(cmd_validate(&d), 0);
        }
    }
    free(p);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_decode_survives_random_bytes)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf[64];
    for (int iter = 0; iter < 200000; iter++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t n = (size_t)(x % sizeof buf);
        uint64_t y = x;
        for (size_t i = 0; i < n; i++) {
            y ^= y << 13; y ^= y >> 7; y ^= y << 17;
            buf[i] = (uint8_t)y;
        }
        if (n >= 1) buf[0] = 1;                 /* mostly the right version */
        if (n >= 2) buf[1] = (uint8_t)(buf[1] % 13);
        command d;
        int rc = cmd_decode(buf, n, &d);
        ck_assert(rc == 0 || rc == KAHUNA_EBADREQ);
        if (rc == 0) {
            ck_assert_int_eq(cmd_validate(&d), 0);
            kbuf b = KBUF_INIT;
            ck_assert_int_eq(cmd_encode(&d, &b), 0);
            command e;
            ck_assert_int_eq(cmd_decode(b.data, b.len, &e), 0);
            assert_same(&d, &e);
            kbuf_free(&b);
        }
    }
}
END_TEST

/* ------------------------------------------------------------ validation */

START_TEST(test_validate_key_must_be_1_to_4096_bytes)
{
    static uint8_t key[KAHUNA_MAX_KEY + 1];
    memset(key, 'k', sizeof key);
    command c = cmd_of(CMD_KV_PUT, "");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.key = kbytes_make(key, 1);
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.key = kbytes_make(key, KAHUNA_MAX_KEY);
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.key = kbytes_make(key, KAHUNA_MAX_KEY + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
    c = cmd_of(CMD_SEQ_NEXT, "");
    c.num = 1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.key = kbytes_make(key, KAHUNA_MAX_KEY + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
}
END_TEST

START_TEST(test_validate_value_over_1_mib_is_too_large)
{
    uint8_t *v = calloc(1, KAHUNA_MAX_VALUE + 1);
    ck_assert_ptr_nonnull(v);
    command c = cmd_of(CMD_KV_PUT, "k");
    c.value = kbytes_make(v, KAHUNA_MAX_VALUE);
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.value = kbytes_make(v, KAHUNA_MAX_VALUE + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
    c.value = kbytes_make(NULL, 0);
    c.flags = CMD_F_IF_VALUE;
    c.aux = kbytes_make(v, KAHUNA_MAX_VALUE + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
    free(v);
}
END_TEST

START_TEST(test_validate_owner_must_be_1_to_256_bytes_for_lock_ops)
{
    static char owner[KAHUNA_MAX_OWNER + 2];
    memset(owner, 'o', KAHUNA_MAX_OWNER + 1);
    command c = cmd_of(CMD_LOCK_ACQUIRE, "l");
    c.ttl_ms = 1000;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.owner = kbytes_make(owner, KAHUNA_MAX_OWNER);
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.owner = kbytes_make(owner, KAHUNA_MAX_OWNER + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
    c.type = CMD_LOCK_EXTEND;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_ETOOLARGE);
    c = cmd_of(CMD_LOCK_RELEASE, "l");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.owner = kbytes_str("o");
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_lock_ttl_must_be_1ms_to_366_days)
{
    command c = cmd_of(CMD_LOCK_ACQUIRE, "l");
    c.owner = kbytes_str("o");
    int64_t bad[] = {0, -1, KAHUNA_MAX_TTL_MS + 1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.ttl_ms = bad[i];
        c.type = CMD_LOCK_ACQUIRE;
        ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
        c.type = CMD_LOCK_EXTEND;
        ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    }
    c.ttl_ms = 1;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.ttl_ms = KAHUNA_MAX_TTL_MS;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_kv_ttl_may_be_0_for_none)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.ttl_ms = 0;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.ttl_ms = KAHUNA_MAX_TTL_MS;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.ttl_ms = KAHUNA_MAX_TTL_MS + 1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.ttl_ms = -1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_KV_SET_TTL, "k");
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.ttl_ms = -5;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.ttl_ms = KAHUNA_MAX_TTL_MS + 1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_seq_count_must_be_1_to_max)
{
    command c = cmd_of(CMD_SEQ_NEXT, "s");
    c.num = 0;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = -1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = KAHUNA_MAX_SEQ_COUNT + 1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = 1;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.num = KAHUNA_MAX_SEQ_COUNT;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_seq_value_must_not_be_negative)
{
    command c = cmd_of(CMD_SEQ_SET, "s");
    c.num = -1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = 0;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.num = INT64_MAX;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_idempotency_key_at_most_256_bytes)
{
    static char k[KAHUNA_MAX_IDEMPOTENCY_KEY + 1];
    memset(k, 'i', sizeof k);
    command c = cmd_of(CMD_SEQ_NEXT, "s");
    c.num = 1;
    c.aux = kbytes_make(k, KAHUNA_MAX_IDEMPOTENCY_KEY);
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.aux = kbytes_make(k, KAHUNA_MAX_IDEMPOTENCY_KEY + 1);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_if_revision_must_not_be_negative)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.flags = CMD_F_IF_REVISION;
    c.if_revision = -1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.if_revision = 0;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c = cmd_of(CMD_KV_DELETE, "k");
    c.flags = CMD_F_IF_REVISION;
    c.if_revision = -3;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_if_revision_needs_its_flag)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.if_revision = 4;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.flags = CMD_F_IF_REVISION;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_if_not_exists_and_if_exists_not_both)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.flags = CMD_F_IF_NOT_EXISTS | CMD_F_IF_EXISTS;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.flags = CMD_F_IF_NOT_EXISTS;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.flags = CMD_F_IF_EXISTS;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_rejects_flags_a_type_does_not_take)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.flags = CMD_F_FORCE;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.flags = 0x80;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_KV_DELETE, "k");
    c.flags = CMD_F_IF_NOT_EXISTS;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_SEQ_NEXT, "s");
    c.num = 1;
    c.flags = CMD_F_FORCE;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_rejects_fields_a_type_does_not_use)
{
    command c = cmd_of(CMD_KV_DELETE, "k");
    c.value = kbytes_str("v");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_KV_PUT, "k");
    c.owner = kbytes_str("o");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_KV_PUT, "k");
    c.aux = kbytes_str("x");                    /* if_value without its flag */
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_LOCK_RELEASE, "l");
    c.owner = kbytes_str("o");
    c.ttl_ms = 5;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_SEQ_DELETE, "s");
    c.num = 3;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c = cmd_of(CMD_NOOP, "k");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_now_ms_is_allowed_everywhere_but_not_negative)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.now_ms = 1700000000000;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c.now_ms = -1;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_expire_needs_a_positive_generation)
{
    command c = cmd_of(CMD_KV_EXPIRE, "k");
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = 1;
    ck_assert_int_eq(cmd_validate(&c), 0);
    c = cmd_of(CMD_LOCK_EXPIRE, "l");
    c.num = -2;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.num = 2;
    ck_assert_int_eq(cmd_validate(&c), 0);
}
END_TEST

START_TEST(test_validate_rejects_unknown_type_and_null)
{
    command c = cmd_of(63, "k"); /* 12..24 are the RESP commands */
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    c.type = CMD_TYPE_MAX_;
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
    ck_assert_int_eq(cmd_validate(NULL), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_validate_rejects_null_pointer_with_length)
{
    command c = cmd_of(CMD_KV_PUT, "k");
    c.value = kbytes_make(NULL, 3);
    ck_assert_int_eq(cmd_validate(&c), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_type_names_for_logs_and_metrics)
{
    ck_assert_str_eq(cmd_type_name(CMD_NOOP), "noop");
    ck_assert_str_eq(cmd_type_name(CMD_KV_PUT), "kv_put");
    ck_assert_str_eq(cmd_type_name(CMD_KV_DELETE), "kv_delete");
    ck_assert_str_eq(cmd_type_name(CMD_KV_SET_TTL), "kv_set_ttl");
    ck_assert_str_eq(cmd_type_name(CMD_KV_EXPIRE), "kv_expire");
    ck_assert_str_eq(cmd_type_name(CMD_LOCK_ACQUIRE), "lock_acquire");
    ck_assert_str_eq(cmd_type_name(CMD_LOCK_EXTEND), "lock_extend");
    ck_assert_str_eq(cmd_type_name(CMD_LOCK_RELEASE), "lock_release");
    ck_assert_str_eq(cmd_type_name(CMD_LOCK_EXPIRE), "lock_expire");
    ck_assert_str_eq(cmd_type_name(CMD_SEQ_NEXT), "seq_next");
    ck_assert_str_eq(cmd_type_name(CMD_SEQ_SET), "seq_set");
    ck_assert_str_eq(cmd_type_name(CMD_SEQ_DELETE), "seq_delete");
    ck_assert_str_eq(cmd_type_name(200), "unknown");
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *command_suite(void)
{
    Suite *s = suite_create("command");
    TCase *tc;

    tc = tcase_create("codec");
    tcase_add_test(tc, test_codec_round_trips_every_command_type);
    tcase_add_test(tc, test_codec_round_trips_binary_keys_and_values_at_the_limits);
    tcase_add_test(tc, test_codec_round_trips_empty_value_and_empty_if_value);
    tcase_add_test(tc, test_codec_encoding_starts_with_version_and_type);
    tcase_add_test(tc, test_codec_encode_appends_to_the_buffer);
    tcase_add_test(tc, test_codec_encode_refuses_an_invalid_command_and_leaves_the_buffer);
    tcase_add_test(tc, test_codec_decoded_fields_point_into_the_entry);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_decode_rejects_empty_and_short_input);
    tcase_add_test(tc, test_decode_rejects_unknown_format_version);
    tcase_add_test(tc, test_decode_rejects_unknown_and_reserved_types);
    tcase_add_test(tc, test_decode_rejects_unknown_tag);
    tcase_add_test(tc, test_decode_rejects_repeated_and_out_of_order_tags);
    tcase_add_test(tc, test_decode_rejects_length_beyond_the_end);
    tcase_add_test(tc, test_decode_rejects_truncated_varint_and_missing_length);
    tcase_add_test(tc, test_decode_rejects_overlong_and_oversized_varints);
    tcase_add_test(tc, test_decode_rejects_integer_payload_with_extra_or_no_bytes);
    tcase_add_test(tc, test_decode_rejects_flags_wider_than_32_bits);
    tcase_add_test(tc, test_decode_rejects_what_validation_rejects);
    tcase_add_test(tc, test_decode_rejects_oversized_key_and_value_as_bad_request);
    tcase_add_test(tc, test_decode_survives_every_truncation_and_byte_flip);
    tcase_add_test(tc, test_decode_survives_random_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, test_validate_key_must_be_1_to_4096_bytes);
    tcase_add_test(tc, test_validate_value_over_1_mib_is_too_large);
    tcase_add_test(tc, test_validate_owner_must_be_1_to_256_bytes_for_lock_ops);
    tcase_add_test(tc, test_validate_lock_ttl_must_be_1ms_to_366_days);
    tcase_add_test(tc, test_validate_kv_ttl_may_be_0_for_none);
    tcase_add_test(tc, test_validate_seq_count_must_be_1_to_max);
    tcase_add_test(tc, test_validate_seq_value_must_not_be_negative);
    tcase_add_test(tc, test_validate_idempotency_key_at_most_256_bytes);
    tcase_add_test(tc, test_validate_if_revision_must_not_be_negative);
    tcase_add_test(tc, test_validate_if_revision_needs_its_flag);
    tcase_add_test(tc, test_validate_if_not_exists_and_if_exists_not_both);
    tcase_add_test(tc, test_validate_rejects_flags_a_type_does_not_take);
    tcase_add_test(tc, test_validate_rejects_fields_a_type_does_not_use);
    tcase_add_test(tc, test_validate_now_ms_is_allowed_everywhere_but_not_negative);
    tcase_add_test(tc, test_validate_expire_needs_a_positive_generation);
    tcase_add_test(tc, test_validate_rejects_unknown_type_and_null);
    tcase_add_test(tc, test_validate_rejects_null_pointer_with_length);
    tcase_add_test(tc, test_type_names_for_logs_and_metrics);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(command_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
