/* test_raft_codec.c: the Raft peer wire format (daemon/raft/codec.h):
 * every message type round-trips, and hostile input (truncated, oversize,
 * another cluster, flipped bits, lying lengths, trailing bytes, garbage) is
 * refused with an error, never a crash or an over-read (run it under
 * ASan). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "raft/codec.h"
#include "rng.h"

#define CLUSTER 0x1234abcdull
#define MAXB RAFT_CODEC_MAX_BODY

static raft_msg sample(int type)
{
    raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = (uint8_t)type;
    m.reject = type % 2;
    m.transfer = type == RAFT_MSG_VOTE;
    m.from = 3;
    m.to = 0x0102030405060708ull;
    m.term = 7;
    m.index = 1ull << 40;
    m.log_term = 6;
    m.hint = 5;
    m.commit = 4;
    m.ctx = UINT64_MAX;
    if (type == RAFT_MSG_APPEND) {
        m.n_entries = 3;
        m.entries = calloc(3, sizeof *m.entries);
        for (size_t i = 0; i < 3; i++) {
            m.entries[i].index = 100 + i;
            m.entries[i].term = 7;
            m.entries[i].type = (uint8_t)i;
            m.entries[i].len = i * 5;
            if (i) {
                m.entries[i].data = malloc(m.entries[i].len);
                memset(m.entries[i].data, 'a' + (int)i, m.entries[i].len);
            }
        }
    }
    if (type == RAFT_MSG_SNAPSHOT) {
        m.snapshot.index = 99;
        m.snapshot.term = 6;
        ck_assert_int_eq(raft_config_add(&m.snapshot.config, 1, RAFT_VOTER, "n1=url", 6), 0);
        ck_assert_int_eq(raft_config_add(&m.snapshot.config, 2, RAFT_LEARNER, NULL, 0), 0);
    }
    return m;
}

static void encode(const raft_msg *m, kbuf *b)
{
    ck_assert_int_eq(raft_codec_encode(m, CLUSTER, b), 0);
}

static void same(const raft_msg *a, const raft_msg *b)
{
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->reject, b->reject);
    ck_assert_int_eq(a->transfer, b->transfer);
    ck_assert_uint_eq(a->from, b->from);
    ck_assert_uint_eq(a->to, b->to);
    ck_assert_uint_eq(a->term, b->term);
    ck_assert_uint_eq(a->index, b->index);
    ck_assert_uint_eq(a->log_term, b->log_term);
    ck_assert_uint_eq(a->hint, b->hint);
    ck_assert_uint_eq(a->commit, b->commit);
    ck_assert_uint_eq(a->ctx, b->ctx);
    ck_assert_uint_eq(a->n_entries, b->n_entries);
    for (size_t i = 0; i < a->n_entries; i++) {
        ck_assert_uint_eq(a->entries[i].index, b->entries[i].index);
        ck_assert_uint_eq(a->entries[i].term, b->entries[i].term);
        ck_assert_int_eq(a->entries[i].type, b->entries[i].type);
        ck_assert_uint_eq(a->entries[i].len, b->entries[i].len);
        if (a->entries[i].len)
            ck_assert_mem_eq(a->entries[i].data, b->entries[i].data, a->entries[i].len);
    }
    ck_assert_uint_eq(a->snapshot.index, b->snapshot.index);
    ck_assert_uint_eq(a->snapshot.term, b->snapshot.term);
    ck_assert_uint_eq(a->snapshot.config.n, b->snapshot.config.n);
    for (size_t i = 0; i < a->snapshot.config.n; i++) {
        const raft_server *x = &a->snapshot.config.servers[i], *y = &b->snapshot.config.servers[i];
        ck_assert_uint_eq(x->id, y->id);
        ck_assert_int_eq(x->role, y->role);
        ck_assert_uint_eq(x->ctx_len, y->ctx_len);
        if (x->ctx_len)
            ck_assert_mem_eq(x->ctx, y->ctx, x->ctx_len);
    }
}

/* After a test edits a frame: body length and CRC made right again, so
 * only the edited content can be refused. */
static void refix(kbuf *b, size_t body)
{
    uint8_t *h = b->data;
    h[16] = (uint8_t)(body >> 24);
    h[17] = (uint8_t)(body >> 16);
    h[18] = (uint8_t)(body >> 8);
    h[19] = (uint8_t)body;
    uint32_t crc = raft_crc32(0, h, 20);
    crc = raft_crc32(crc, h + RAFT_CODEC_HEADER, body);
    h[20] = (uint8_t)(crc >> 24);
    h[21] = (uint8_t)(crc >> 16);
    h[22] = (uint8_t)(crc >> 8);
    h[23] = (uint8_t)crc;
}

static int decode(const kbuf *b)
{
    raft_msg m;
    size_t used;
    int rc = raft_codec_decode(b->data, b->len, CLUSTER, MAXB, &m, &used);
    if (rc == 0) {
        ck_assert_uint_le(used, b->len);
        raft_msg_free(&m);
    } else {
        ck_assert_uint_eq(m.n_entries, 0);   /* nothing left to free */
        ck_assert_ptr_null(m.entries);
    }
    return rc;
}

START_TEST(test_raft_crc32_matches_the_standard_check_value)
{
    ck_assert_uint_eq(raft_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(raft_crc32(raft_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    ck_assert_uint_eq(raft_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(test_raft_codec_round_trips_every_message_type)
{
    for (int type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        raft_msg m = sample(type), d;
        kbuf b = KBUF_INIT;
        encode(&m, &b);
        size_t used;
        ck_assert_int_eq(raft_codec_decode(b.data, b.len, CLUSTER, MAXB, &d, &used), 0);
        ck_assert_uint_eq(used, b.len);
        same(&m, &d);
        raft_msg_free(&m);
        raft_msg_free(&d);
        kbuf_free(&b);
    }
}
END_TEST

START_TEST(test_raft_codec_frames_concatenate)
{
    kbuf b = KBUF_INIT;
    raft_msg a = sample(RAFT_MSG_APPEND), h = sample(RAFT_MSG_HEARTBEAT), d;
    encode(&a, &b);
    size_t first = b.len;
    encode(&h, &b);
    size_t used, len;
    ck_assert_int_eq(raft_codec_frame_len(b.data, b.len, CLUSTER, MAXB, &len), 0);
    ck_assert_uint_eq(len, first);
    ck_assert_int_eq(raft_codec_decode(b.data, b.len, CLUSTER, MAXB, &d, &used), 0);
    ck_assert_uint_eq(used, first);
    same(&a, &d);
    raft_msg_free(&d);
    ck_assert_int_eq(raft_codec_decode(b.data + used, b.len - used, CLUSTER, MAXB, &d, &used), 0);
    same(&h, &d);
    raft_msg_free(&d);
    raft_msg_free(&a);
    raft_msg_free(&h);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_frame_length_needs_a_whole_header)
{
    kbuf b = KBUF_INIT;
    raft_msg m = sample(RAFT_MSG_VOTE);
    encode(&m, &b);
    size_t len = 99;
    ck_assert_int_eq(raft_codec_frame_len(b.data, RAFT_CODEC_HEADER - 1, CLUSTER, MAXB, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(raft_codec_frame_len(b.data, b.len, CLUSTER + 1, MAXB, &len), KAHUNA_EMISMATCH);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_truncated_frame_is_refused_at_every_length)
{
    for (int type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        raft_msg m = sample(type);
        kbuf b = KBUF_INIT;
        encode(&m, &b);
        for (size_t n = 0; n < b.len; n++) {
            /* an exact-size copy, so ASan sees any read past the end */
            uint8_t *cut = malloc(n ? n : 1);
            memcpy(cut, b.data, n);
            raft_msg d;
            size_t used;
            ck_assert_int_eq(raft_codec_decode(cut, n, CLUSTER, MAXB, &d, &used), KAHUNA_EBADREQ);
            free(cut);
        }
        raft_msg_free(&m);
        kbuf_free(&b);
    }
}
END_TEST

START_TEST(test_raft_codec_body_over_the_limit_is_refused)
{
    raft_msg m = sample(RAFT_MSG_APPEND), d;
    kbuf b = KBUF_INIT;
    encode(&m, &b);
    size_t used;
    ck_assert_int_eq(raft_codec_decode(b.data, b.len, CLUSTER, 10, &d, &used), KAHUNA_ETOOLARGE);
    b.data[16] = 0xff;                    /* claims 4 GiB */
    ck_assert_int_eq(raft_codec_decode(b.data, b.len, CLUSTER, MAXB, &d, &used), KAHUNA_ETOOLARGE);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_message_of_another_cluster_is_refused)
{
    raft_msg m = sample(RAFT_MSG_APPEND), d;
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(raft_codec_encode(&m, CLUSTER + 1, &b), 0);
    size_t used;
    ck_assert_int_eq(raft_codec_decode(b.data, b.len, CLUSTER, MAXB, &d, &used), KAHUNA_EMISMATCH);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_any_flipped_bit_is_refused)
{
    for (int type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        raft_msg m = sample(type);
        kbuf b = KBUF_INIT;
        encode(&m, &b);
        for (size_t i = 0; i < b.len; i++)
            for (int bit = 0; bit < 8; bit++) {
                b.data[i] ^= (uint8_t)(1u << bit);
                ck_assert_int_ne(decode(&b), 0);
                b.data[i] ^= (uint8_t)(1u << bit);
            }
        ck_assert_int_eq(decode(&b), 0);
        raft_msg_free(&m);
        kbuf_free(&b);
    }
}
END_TEST

START_TEST(test_raft_codec_bad_magic_version_type_or_flags_are_refused)
{
    raft_msg m = sample(RAFT_MSG_HEARTBEAT);
    kbuf b = KBUF_INIT;
    encode(&m, &b);
    size_t body = b.len - RAFT_CODEC_HEADER;
    const struct { size_t at; uint8_t v; } edits[] = {
        {0, 'X'}, {4, 2}, {5, 0}, {5, RAFT_MSG_TYPE_MAX + 1}, {6, 1}, {7, 1},
        {RAFT_CODEC_HEADER, 4},           /* unknown flag */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        uint8_t old = b.data[edits[i].at];
        b.data[edits[i].at] = edits[i].v;
        refix(&b, body);
        ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
        b.data[edits[i].at] = old;
    }
    refix(&b, body);
    ck_assert_int_eq(decode(&b), 0);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

/* Offset of n_entries in the body. */
#define OFF_NENTRIES (RAFT_CODEC_HEADER + 1 + 8 * 8)

START_TEST(test_raft_codec_lying_lengths_are_refused)
{
    raft_msg m = sample(RAFT_MSG_APPEND);
    kbuf b = KBUF_INIT;
    encode(&m, &b);
    size_t body = b.len - RAFT_CODEC_HEADER;
    /* entry count far beyond what the bytes can hold */
    b.data[OFF_NENTRIES] = 0x7f;
    refix(&b, body);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    b.data[OFF_NENTRIES] = 0;
    refix(&b, body);
    ck_assert_int_eq(decode(&b), 0);
    /* first entry (len 0) claims 4 GiB of data */
    size_t len_at = OFF_NENTRIES + 4 + 8 + 8 + 1;
    b.data[len_at] = 0xff;
    refix(&b, body);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    b.data[len_at] = 0;
    /* an entry type the log does not know */
    b.data[len_at - 1] = 9;
    refix(&b, body);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    kbuf_free(&b);
    /* snapshot configuration longer than the frame */
    m = sample(RAFT_MSG_SNAPSHOT);
    encode(&m, &b);
    body = b.len - RAFT_CODEC_HEADER;
    size_t clen_at = OFF_NENTRIES + 4 + 1 + 8 + 8;
    b.data[clen_at + 2] = 0x10;
    refix(&b, body);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_trailing_bytes_in_the_body_are_refused)
{
    raft_msg m = sample(RAFT_MSG_VOTE);
    kbuf b = KBUF_INIT;
    encode(&m, &b);
    ck_assert_int_eq(kbuf_append_byte(&b, 0), 0);
    refix(&b, b.len - RAFT_CODEC_HEADER);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_entries_or_snapshot_in_other_types_are_refused)
{
    raft_msg m = sample(RAFT_MSG_APPEND);
    kbuf b = KBUF_INIT;
    encode(&m, &b);
    b.data[5] = RAFT_MSG_VOTE;
    refix(&b, b.len - RAFT_CODEC_HEADER);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    kbuf_free(&b);
    m = sample(RAFT_MSG_SNAPSHOT);
    encode(&m, &b);
    b.data[5] = RAFT_MSG_APPEND;
    refix(&b, b.len - RAFT_CODEC_HEADER);
    ck_assert_int_eq(decode(&b), KAHUNA_EBADREQ);
    raft_msg_free(&m);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_raft_codec_garbage_is_refused_without_crashing)
{
    rng r;
    rng_seed(&r, 42);
    raft_msg m = sample(RAFT_MSG_APPEND);
    kbuf good = KBUF_INIT;
    encode(&m, &good);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)rng_below(&r, 200);
        uint8_t *p = malloc(n ? n : 1);
        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)rng_next(&r);
        if (i % 2 && n >= RAFT_CODEC_HEADER)   /* garbage behind a plausible header */
            memcpy(p, good.data, 16);
        raft_msg d;
        size_t used;
        int rc = raft_codec_decode(p, n, CLUSTER, MAXB, &d, &used);
        if (rc == 0)
            raft_msg_free(&d);
        free(p);
    }
    raft_msg_free(&m);
    kbuf_free(&good);
}
END_TEST

START_TEST(test_raft_config_decoding_refuses_hostile_bytes)
{
    raft_config c = {0};
    ck_assert_int_eq(raft_config_add(&c, 1, RAFT_VOTER, "abc", 3), 0);
    ck_assert_int_eq(raft_config_add(&c, 2, RAFT_LEARNER, NULL, 0), 0);
    uint8_t *p;
    size_t n;
    ck_assert_int_eq(raft_config_encode(&c, &p, &n), 0);
    raft_config d;
    ck_assert_int_eq(raft_config_decode(p, n, &d), 0);
    ck_assert_uint_eq(d.n, 2);
    raft_config_free(&d);
    for (size_t k = 0; k < n; k++)
        ck_assert_int_eq(raft_config_decode(p, k, &d), KAHUNA_EBADREQ);
    uint8_t *q = malloc(n + 1);
    memcpy(q, p, n);
    q[n] = 0;
    ck_assert_int_eq(raft_config_decode(q, n + 1, &d), KAHUNA_EBADREQ);   /* trailing */
    memcpy(q, p, n);
    q[0] = 2;                                                             /* version */
    ck_assert_int_eq(raft_config_decode(q, n, &d), KAHUNA_EBADREQ);
    memcpy(q, p, n);
    q[4] = 200;                                                           /* count */
    ck_assert_int_eq(raft_config_decode(q, n, &d), KAHUNA_EBADREQ);
    memcpy(q, p, n);
    q[5 + 8] = 7;                                                         /* role */
    ck_assert_int_eq(raft_config_decode(q, n, &d), KAHUNA_EBADREQ);
    memcpy(q, p, n);
    memcpy(q + 5 + 11 + 3, q + 5, 8);                                     /* duplicate id */
    ck_assert_int_eq(raft_config_decode(q, n, &d), KAHUNA_EBADREQ);
    memcpy(q, p, n);
    memset(q + 5, 0, 8);                                                  /* id 0 */
    ck_assert_int_eq(raft_config_decode(q, n, &d), KAHUNA_EBADREQ);
    free(q);
    free(p);
    raft_config_free(&c);
    ck_assert_int_eq(raft_config_add(&c, 1, RAFT_VOTER, "x", RAFT_MAX_SERVER_CTX + 1),
                     KAHUNA_EBADREQ);
    ck_assert_int_eq(raft_config_decode(NULL, 0, &d), KAHUNA_EBADREQ);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("raft_codec");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_raft_crc32_matches_the_standard_check_value);
    tcase_add_test(tc, test_raft_codec_round_trips_every_message_type);
    tcase_add_test(tc, test_raft_codec_frames_concatenate);
    tcase_add_test(tc, test_raft_codec_frame_length_needs_a_whole_header);
    tcase_add_test(tc, test_raft_codec_truncated_frame_is_refused_at_every_length);
    tcase_add_test(tc, test_raft_codec_body_over_the_limit_is_refused);
    tcase_add_test(tc, test_raft_codec_message_of_another_cluster_is_refused);
    tcase_add_test(tc, test_raft_codec_any_flipped_bit_is_refused);
    tcase_add_test(tc, test_raft_codec_bad_magic_version_type_or_flags_are_refused);
    tcase_add_test(tc, test_raft_codec_lying_lengths_are_refused);
    tcase_add_test(tc, test_raft_codec_trailing_bytes_in_the_body_are_refused);
    tcase_add_test(tc, test_raft_codec_entries_or_snapshot_in_other_types_are_refused);
    tcase_add_test(tc, test_raft_codec_garbage_is_refused_without_crashing);
    tcase_add_test(tc, test_raft_config_decoding_refuses_hostile_bytes);
    suite_add_tcase(s, tc);
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
