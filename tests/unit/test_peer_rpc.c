/* test_peer_rpc.c: unit tests of the forwarding codec (daemon/peer/rpc.c):
 * round trips of every field and op, the byte layout, and the refusal of
 * every malformed input (truncated, bad magic, version, op, flags, reserved
 * bytes, trailing bytes, lengths past the end). */
#include "peer/rpc.h"
#include "errors.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What fsm_result_clear does, without linking the state machine: this test
 * builds from the codec's sources alone. */
static void result_clear(fsm_result *r)
{
    free(r->owner);
    kbuf_free(&r->data);
    memset(r, 0, sizeof *r);
}

static int same_bytes(kbytes a, kbytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Encodes rq, decodes it back, checks every field, returns the encoding. */
static kbuf request_round_trip(const rpc_request *rq)
{
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_request_encode(rq, &enc), 0);
    rpc_request back;
    ck_assert_int_eq(rpc_request_decode(kbytes_make(enc.data, enc.len), &back), 0);
    ck_assert_int_eq(back.op, rq->op);
    ck_assert_int_eq(back.flags, 0);
    ck_assert_int_eq(back.wait_ms, rq->wait_ms);
    ck_assert(same_bytes(back.a, rq->a));
    ck_assert(same_bytes(back.b, rq->b));
    /* decoded fields point into the input: nothing was allocated */
    if (back.a.n)
        ck_assert(back.a.p >= enc.data && back.a.p + back.a.n <= enc.data + enc.len);
    if (back.b.n)
        ck_assert(back.b.p >= enc.data && back.b.p + back.b.n <= enc.data + enc.len);
    return enc;
}

static const uint8_t binary_cmd[] = {1, 5, 0, 0xff, 0x80, '\n', 0, 'x'};

START_TEST(test_rpc_request_propose_round_trips_binary_command_and_wait)
{
    const int64_t waits[] = {0, 1, 30000, INT64_MAX};
    for (size_t i = 0; i < sizeof waits / sizeof *waits; i++) {
        rpc_request rq = {.op = RPC_PROPOSE, .wait_ms = waits[i],
                          .a = kbytes_make(binary_cmd, sizeof binary_cmd)};
        kbuf enc = request_round_trip(&rq);
        kbuf_free(&enc);
    }
}
END_TEST

START_TEST(test_rpc_request_admin_ops_round_trip)
{
    rpc_request add = {.op = RPC_ADMIN_ADD, .a = kbytes_str("n4"), .b = kbytes_str("http://10.0.0.4:7070")};
    rpc_request rm = {.op = RPC_ADMIN_REMOVE, .a = kbytes_str("n2")};
    rpc_request tr = {.op = RPC_ADMIN_TRANSFER, .a = kbytes_str("n3")};
    rpc_request tr_any = {.op = RPC_ADMIN_TRANSFER};
    rpc_request tr_bin = {.op = RPC_ADMIN_TRANSFER, .a = kbytes_make("\xc3\xa9\xff", 3)};
    const rpc_request *all[] = {&add, &rm, &tr, &tr_any, &tr_bin};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        kbuf enc = request_round_trip(all[i]);
        kbuf_free(&enc);
    }
}
END_TEST

START_TEST(test_rpc_request_layout_is_big_endian_as_documented)
{
    rpc_request rq = {.op = RPC_PROPOSE, .wait_ms = 0x0102030405060708LL, .a = kbytes_make("AB", 2)};
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_request_encode(&rq, &enc), 0);
    static const uint8_t want[] = {'K', 'F', 'W', 'D', 1, RPC_PROPOSE, 0, 0,
                                   1, 2, 3, 4, 5, 6, 7, 8,
                                   0, 0, 0, 2, 'A', 'B',
                                   0, 0, 0, 0};
    ck_assert_uint_eq(enc.len, sizeof want);
    ck_assert_int_eq(memcmp(enc.data, want, sizeof want), 0);
    kbuf_free(&enc);
}
END_TEST

START_TEST(test_rpc_request_encode_appends_to_the_buffer)
{
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&enc, "prefix"), 0);
    rpc_request rq = {.op = RPC_ADMIN_REMOVE, .a = kbytes_str("n2")};
    ck_assert_int_eq(rpc_request_encode(&rq, &enc), 0);
    ck_assert_int_eq(memcmp(enc.data, "prefix", 6), 0);
    rpc_request back;
    ck_assert_int_eq(rpc_request_decode(kbytes_make(enc.data + 6, enc.len - 6), &back), 0);
    ck_assert_int_eq(back.op, RPC_ADMIN_REMOVE);
    kbuf_free(&enc);
}
END_TEST

START_TEST(test_rpc_request_encode_refuses_what_decode_refuses)
{
    const rpc_request bad[] = {
        {.op = 0, .a = kbytes_str("x")},
        {.op = 5, .a = kbytes_str("x")},
        {.op = RPC_PROPOSE},                                           /* no command */
        {.op = RPC_PROPOSE, .a = kbytes_str("c"), .b = kbytes_str("b")}, /* b on a proposal */
        {.op = RPC_PROPOSE, .flags = 1, .a = kbytes_str("c")},
        {.op = RPC_PROPOSE, .wait_ms = -1, .a = kbytes_str("c")},
        {.op = RPC_ADMIN_ADD, .a = kbytes_str("n4")},                  /* no url */
        {.op = RPC_ADMIN_ADD, .b = kbytes_str("http://h:1")},          /* no id */
        {.op = RPC_ADMIN_ADD, .a = kbytes_make("n\0004", 3), .b = kbytes_str("http://h:1")},
        {.op = RPC_ADMIN_ADD, .a = kbytes_str("n4"), .b = kbytes_make("http://h\0:1", 11)},
        {.op = RPC_ADMIN_REMOVE},
        {.op = RPC_ADMIN_REMOVE, .a = kbytes_str("n2"), .b = kbytes_str("u")},
        {.op = RPC_ADMIN_REMOVE, .a = kbytes_str("n2"), .wait_ms = 5},
        {.op = RPC_ADMIN_TRANSFER, .b = kbytes_str("u")},
        {.op = RPC_ADMIN_TRANSFER, .a = kbytes_make("\0", 1)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kbuf enc = KBUF_INIT;
        ck_assert_msg(rpc_request_encode(&bad[i], &enc) == KAHUNA_EBADREQ, "case %zu", i);
        ck_assert_uint_eq(enc.len, 0);
        kbuf_free(&enc);
    }
}
END_TEST

/* A valid encoding of each op, for the refusal tests. */
static kbuf valid_request(int which)
{
    rpc_request rqs[] = {
        {.op = RPC_PROPOSE, .wait_ms = 77, .a = kbytes_make(binary_cmd, sizeof binary_cmd)},
        {.op = RPC_ADMIN_ADD, .a = kbytes_str("n4"), .b = kbytes_str("http://h:1")},
        {.op = RPC_ADMIN_REMOVE, .a = kbytes_str("n2")},
        {.op = RPC_ADMIN_TRANSFER},
    };
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_request_encode(&rqs[which], &enc), 0);
    return enc;
}

START_TEST(test_rpc_request_truncated_at_every_byte_is_refused)
{
    for (int w = 0; w < 4; w++) {
        kbuf enc = valid_request(w);
        for (size_t n = 0; n < enc.len; n++) {
            /* a copy of exactly n bytes, so ASan sees any read past them */
            uint8_t *p = malloc(n ? n : 1);
            ck_assert_ptr_nonnull(p);
            memcpy(p, enc.data, n);
            rpc_request back;
            ck_assert_msg(rpc_request_decode(kbytes_make(p, n), &back) == KAHUNA_EBADREQ, "op %d len %zu", w, n);
            free(p);
        }
        kbuf_free(&enc);
    }
    rpc_request back;
    ck_assert_int_eq(rpc_request_decode(kbytes_make(NULL, 0), &back), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_rpc_request_trailing_bytes_are_refused)
{
    for (int w = 0; w < 4; w++) {
        kbuf enc = valid_request(w);
        ck_assert_int_eq(kbuf_append_byte(&enc, 0), 0);
        rpc_request back;
        ck_assert_int_eq(rpc_request_decode(kbytes_make(enc.data, enc.len), &back), KAHUNA_EBADREQ);
        kbuf_free(&enc);
    }
}
END_TEST

/* Decodes enc with the byte at off set to v. */
static int decode_request_patched(const kbuf *enc, size_t off, uint8_t v)
{
    uint8_t *p = malloc(enc->len);
    ck_assert_ptr_nonnull(p);
    memcpy(p, enc->data, enc->len);
    p[off] = v;
    rpc_request back;
    int rc = rpc_request_decode(kbytes_make(p, enc->len), &back);
    free(p);
    return rc;
}

START_TEST(test_rpc_request_bad_magic_version_op_or_flags_are_refused)
{
    kbuf enc = valid_request(0);
    ck_assert_int_eq(decode_request_patched(&enc, 0, 'X'), KAHUNA_EBADREQ);  /* magic */
    ck_assert_int_eq(decode_request_patched(&enc, 3, 'R'), KAHUNA_EBADREQ);  /* the answer's magic */
    ck_assert_int_eq(decode_request_patched(&enc, 4, 0), KAHUNA_EBADREQ);    /* version */
    ck_assert_int_eq(decode_request_patched(&enc, 4, 2), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_request_patched(&enc, 5, 0), KAHUNA_EBADREQ);    /* op */
    ck_assert_int_eq(decode_request_patched(&enc, 5, 5), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_request_patched(&enc, 5, 0xff), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_request_patched(&enc, 6, 1), KAHUNA_EBADREQ);    /* flags */
    ck_assert_int_eq(decode_request_patched(&enc, 7, 1), KAHUNA_EBADREQ);
    ck_assert_int_eq(decode_request_patched(&enc, 8, 0x80), KAHUNA_EBADREQ); /* negative wait */
    /* the same bytes as an admin op with a wait */
    ck_assert_int_eq(decode_request_patched(&enc, 5, RPC_ADMIN_TRANSFER), KAHUNA_EBADREQ);
    kbuf_free(&enc);

    /* an admin op with a NUL in its node id */
    kbuf rm = valid_request(2);
    ck_assert_int_eq(decode_request_patched(&rm, rm.len - 4 - 1, 0), KAHUNA_EBADREQ);
    kbuf_free(&rm);
}
END_TEST

START_TEST(test_rpc_request_huge_lengths_are_refused)
{
    kbuf enc = valid_request(1); /* ADD: a = "n4", b = "http://h:1" */
    const size_t a_len_at = 16, b_len_at = 16 + 4 + 2;
    const uint8_t lens[][4] = {{0xff, 0xff, 0xff, 0xff}, {0x80, 0, 0, 0}, {0, 0, 0, 3}, {0, 0x10, 0, 0}};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        for (int field = 0; field < 2; field++) {
            uint8_t *p = malloc(enc.len);
            ck_assert_ptr_nonnull(p);
            memcpy(p, enc.data, enc.len);
            memcpy(p + (field ? b_len_at : a_len_at), lens[i], 4);
            rpc_request back;
            ck_assert_int_eq(rpc_request_decode(kbytes_make(p, enc.len), &back), KAHUNA_EBADREQ);
            free(p);
        }
    }
    kbuf_free(&enc);
}
END_TEST

/* ---- answers ---- */

static void result_round_trip(const fsm_result *res)
{
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_result_encode(res, &enc), 0);
    fsm_result back;
    ck_assert_int_eq(rpc_result_decode(kbytes_make(enc.data, enc.len), &back), 0);
    ck_assert_int_eq(back.status, res->status);
    ck_assert_int_eq(back.revision, res->revision);
    ck_assert_int_eq(back.version, res->version);
    ck_assert_int_eq(back.create_revision, res->create_revision);
    ck_assert_int_eq(back.token, res->token);
    ck_assert_int_eq(back.ttl_ms, res->ttl_ms);
    ck_assert_int_eq(back.value, res->value);
    ck_assert_int_eq(back.last, res->last);
    ck_assert_int_eq(back.found, res->found ? 1 : 0);
    if (res->owner) {
        ck_assert_ptr_nonnull(back.owner);
        ck_assert_str_eq(back.owner, res->owner);
    } else {
        ck_assert_ptr_null(back.owner);
    }
    ck_assert(same_bytes(kbytes_make(back.data.data, back.data.len), kbytes_make(res->data.data, res->data.len)));
    result_clear(&back);
    kbuf_free(&enc);
}

START_TEST(test_rpc_result_round_trips_every_field)
{
    fsm_result res = {.status = 0, .revision = INT64_MAX, .version = 1, .create_revision = -1,
                      .token = INT64_MIN, .ttl_ms = 30000, .value = -42, .last = 0x0102030405060708LL,
                      .found = 1};
    result_round_trip(&res);
    res.found = 0;
    result_round_trip(&res);
}
END_TEST

START_TEST(test_rpc_result_round_trips_every_status)
{
    for (int st = 0; st >= KAHUNA_ERANGE; st--) {
        fsm_result res = {.status = st, .revision = 7};
        result_round_trip(&res);
    }
}
END_TEST

START_TEST(test_rpc_result_round_trips_empty_and_binary_owner_and_data)
{
    char owner_bin[] = {'\x80', '\xff', 'a', '\x01', '\xc3', '\xa9', 0};
    static const uint8_t data_bin[] = {0, 1, 0xff, 0, '\r', '\n', 0x80};
    char empty[] = "";
    char plain[] = "worker-1";
    char *owners[] = {NULL, empty, owner_bin, plain};
    for (size_t i = 0; i < sizeof owners / sizeof *owners; i++) {
        for (int d = 0; d < 3; d++) {
            fsm_result res = {.status = KAHUNA_ELOCKHELD, .token = 9, .owner = owners[i]};
            if (d == 1)
                ck_assert_int_eq(kbuf_append(&res.data, data_bin, sizeof data_bin), 0);
            if (d == 2)
                ck_assert_int_eq(kbuf_reserve(&res.data, 16), 0); /* allocated, but empty */
            result_round_trip(&res);
            kbuf_free(&res.data);
        }
    }
}
END_TEST

START_TEST(test_rpc_result_layout_is_big_endian_as_documented)
{
    char owner[] = "o";
    fsm_result res = {.status = KAHUNA_ENOTFOUND, .revision = 0x0102030405060708LL, .owner = owner, .found = 1};
    ck_assert_int_eq(kbuf_append(&res.data, "D", 1), 0);
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_result_encode(&res, &enc), 0);
    static const uint8_t head[] = {'K', 'F', 'W', 'R', 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe,
                                   1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_uint_eq(enc.len, 4 + 1 + 1 + 2 + 4 + 7 * 8 + 1 + 1 + 4 + 1 + 4 + 1);
    ck_assert_int_eq(memcmp(enc.data, head, sizeof head), 0);
    static const uint8_t tail[] = {1, 1, 0, 0, 0, 1, 'o', 0, 0, 0, 1, 'D'};
    ck_assert_int_eq(memcmp(enc.data + enc.len - sizeof tail, tail, sizeof tail), 0);
    kbuf_free(&enc);
    kbuf_free(&res.data);
}
END_TEST

START_TEST(test_rpc_result_encode_refuses_a_positive_status)
{
    fsm_result res = {.status = 1};
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_result_encode(&res, &enc), KAHUNA_EBADREQ);
    ck_assert_uint_eq(enc.len, 0);
    kbuf_free(&enc);
}
END_TEST

static kbuf valid_result(void)
{
    char owner[] = "own";
    fsm_result res = {.status = 0, .revision = 5, .owner = owner, .found = 1};
    ck_assert_int_eq(kbuf_append(&res.data, "data", 4), 0);
    kbuf enc = KBUF_INIT;
    ck_assert_int_eq(rpc_result_encode(&res, &enc), 0);
    kbuf_free(&res.data);
    return enc;
}

/* Decoding fails and leaves nothing to free. */
static void assert_result_refused(const uint8_t *p, size_t n)
{
    fsm_result back;
    memset(&back, 0xa5, sizeof back);
    ck_assert_int_eq(rpc_result_decode(kbytes_make(p, n), &back), KAHUNA_EBADREQ);
    ck_assert_ptr_null(back.owner);
    ck_assert_ptr_null(back.data.data);
    ck_assert_int_eq(back.status, 0);
}

START_TEST(test_rpc_result_truncated_at_every_byte_is_refused)
{
    kbuf enc = valid_result();
    for (size_t n = 0; n < enc.len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, enc.data, n);
        assert_result_refused(p, n);
        free(p);
    }
    assert_result_refused(NULL, 0);
    kbuf_free(&enc);
}
END_TEST

START_TEST(test_rpc_result_trailing_bytes_are_refused)
{
    kbuf enc = valid_result();
    ck_assert_int_eq(kbuf_append_byte(&enc, 'x'), 0);
    assert_result_refused(enc.data, enc.len);
    kbuf_free(&enc);
}
END_TEST

/* Offsets in valid_result()'s encoding. */
#define R_STATUS 8
#define R_FOUND (12 + 56)
#define R_HAS_OWNER (R_FOUND + 1)
#define R_OWNER_LEN (R_FOUND + 2)
#define R_OWNER (R_OWNER_LEN + 4)
#define R_DATA_LEN (R_OWNER + 3)

static void assert_patched_result_refused(const kbuf *enc, size_t off, uint8_t v)
{
    uint8_t *p = malloc(enc->len);
    ck_assert_ptr_nonnull(p);
    memcpy(p, enc->data, enc->len);
    p[off] = v;
    assert_result_refused(p, enc->len);
    free(p);
}

START_TEST(test_rpc_result_bad_magic_version_reserved_or_flags_are_refused)
{
    kbuf enc = valid_result();
    assert_patched_result_refused(&enc, 0, 'x');
    assert_patched_result_refused(&enc, 3, 'D');       /* the request's magic */
    assert_patched_result_refused(&enc, 4, 0);         /* version */
    assert_patched_result_refused(&enc, 4, 2);
    assert_patched_result_refused(&enc, 5, 1);         /* reserved */
    assert_patched_result_refused(&enc, 6, 1);
    assert_patched_result_refused(&enc, 7, 1);
    assert_patched_result_refused(&enc, R_STATUS, 0x7f);  /* status > 0 */
    assert_patched_result_refused(&enc, R_STATUS + 3, 1); /* status 1 */
    assert_patched_result_refused(&enc, R_STATUS, 0x80);  /* status far below every code */
    assert_patched_result_refused(&enc, R_FOUND, 2);
    assert_patched_result_refused(&enc, R_HAS_OWNER, 2);
    assert_patched_result_refused(&enc, R_HAS_OWNER, 0); /* owner bytes without an owner */
    assert_patched_result_refused(&enc, R_OWNER + 1, 0); /* NUL inside the owner */
    kbuf_free(&enc);
}
END_TEST

START_TEST(test_rpc_result_huge_lengths_are_refused)
{
    kbuf enc = valid_result();
    const uint8_t lens[][4] = {{0xff, 0xff, 0xff, 0xff}, {0x80, 0, 0, 0}, {0, 0, 0, 9}, {1, 0, 0, 0}};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        for (int field = 0; field < 2; field++) {
            uint8_t *p = malloc(enc.len);
            ck_assert_ptr_nonnull(p);
            memcpy(p, enc.data, enc.len);
            memcpy(p + (field ? R_DATA_LEN : R_OWNER_LEN), lens[i], 4);
            assert_result_refused(p, enc.len);
            free(p);
        }
    }
    kbuf_free(&enc);
}
END_TEST

START_TEST(test_rpc_request_and_answer_are_not_confused)
{
    kbuf rq = valid_request(0), rs = valid_result();
    rpc_request r;
    fsm_result res;
    ck_assert_int_eq(rpc_request_decode(kbytes_make(rs.data, rs.len), &r), KAHUNA_EBADREQ);
    ck_assert_int_eq(rpc_result_decode(kbytes_make(rq.data, rq.len), &res), KAHUNA_EBADREQ);
    kbuf_free(&rq);
    kbuf_free(&rs);
}
END_TEST

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("peer_rpc");
    TCase *rq = tcase_create("request");
    tcase_add_test(rq, test_rpc_request_propose_round_trips_binary_command_and_wait);
    tcase_add_test(rq, test_rpc_request_admin_ops_round_trip);
    tcase_add_test(rq, test_rpc_request_layout_is_big_endian_as_documented);
    tcase_add_test(rq, test_rpc_request_encode_appends_to_the_buffer);
    tcase_add_test(rq, test_rpc_request_encode_refuses_what_decode_refuses);
    tcase_add_test(rq, test_rpc_request_truncated_at_every_byte_is_refused);
    tcase_add_test(rq, test_rpc_request_trailing_bytes_are_refused);
    tcase_add_test(rq, test_rpc_request_bad_magic_version_op_or_flags_are_refused);
    tcase_add_test(rq, test_rpc_request_huge_lengths_are_refused);
    suite_add_tcase(s, rq);
    TCase *rs = tcase_create("answer");
    tcase_add_test(rs, test_rpc_result_round_trips_every_field);
    tcase_add_test(rs, test_rpc_result_round_trips_every_status);
    tcase_add_test(rs, test_rpc_result_round_trips_empty_and_binary_owner_and_data);
    tcase_add_test(rs, test_rpc_result_layout_is_big_endian_as_documented);
    tcase_add_test(rs, test_rpc_result_encode_refuses_a_positive_status);
    tcase_add_test(rs, test_rpc_result_truncated_at_every_byte_is_refused);
    tcase_add_test(rs, test_rpc_result_trailing_bytes_are_refused);
    tcase_add_test(rs, test_rpc_result_bad_magic_version_reserved_or_flags_are_refused);
    tcase_add_test(rs, test_rpc_result_huge_lengths_are_refused);
    tcase_add_test(rs, test_rpc_request_and_answer_are_not_confused);
    suite_add_tcase(s, rs);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
