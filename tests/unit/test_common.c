/* test_common.c: unit tests of common/: byte buffers, durations,
 * percent-coding, base64, UTF-8 validation and the error table.
 *
 * One test per rule, named after the rule. The inputs that users and peers
 * send (durations on the command line, escapes in URLs, value_base64 in
 * JSON) get the most cases: every accepted form and every rejection. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "duration.h"
#include "errors.h"
#include "pct.h"
#include "utf8.h"

/* ------------------------------------------------------------------ buf */

START_TEST(test_buf_append_keeps_length_and_trailing_nul)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append(&b, "ab\0cd", 5), 0);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_mem_eq(b.data, "ab\0cd", 5);
    ck_assert_int_eq(b.data[5], '\0');
    ck_assert_int_eq(kbuf_append_str(&b, "xy"), 0);
    ck_assert_int_eq(kbuf_append_byte(&b, 'z'), 0);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_mem_eq(b.data, "ab\0cdxyz", 9);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_buf_grows_past_many_reallocations)
{
    kbuf b = KBUF_INIT;
    for (int i = 0; i < 100000; i++)
        ck_assert_int_eq(kbuf_append_byte(&b, (uint8_t)(i & 0xff)), 0);
    ck_assert_uint_eq(b.len, 100000);
    ck_assert_uint_ge(b.cap, b.len + 1);
    for (int i = 0; i < 100000; i++)
        ck_assert_int_eq(b.data[i], (uint8_t)(i & 0xff));
    ck_assert_int_eq(b.data[b.len], '\0');
    kbuf_free(&b);
}
END_TEST

START_TEST(test_buf_empty_append_gives_a_c_string)
{
    kbuf b = KBUF_INIT;
    ck_assert_str_eq(kbuf_str(&b), "");
    ck_assert_int_eq(kbuf_append(&b, NULL, 0), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(kbuf_str(&b), "");
    ck_assert_uint_eq(b.len, 0);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_appends_formatted_text)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "n="), 0);
    ck_assert_int_eq(kbuf_printf(&b, "%d/%s", 42, "x"), 0);
    ck_assert_str_eq(kbuf_str(&b), "n=42/x");
    ck_assert_uint_eq(b.len, 6);
    /* longer than the first allocation */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(kbuf_printf(&b, "[%s]", big), 0);
    ck_assert_uint_eq(b.len, 6 + 2 + 999);
    ck_assert_int_eq(b.data[b.len - 1], ']');
    ck_assert_int_eq(b.data[b.len], '\0');
    kbuf_free(&b);
}
END_TEST

START_TEST(test_buf_reset_keeps_memory_and_empties)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "hello"), 0);
    uint8_t *p = b.data;
    size_t cap = b.cap;
    kbuf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_eq(b.data, p);
    ck_assert_uint_eq(b.cap, cap);
    ck_assert_str_eq(kbuf_str(&b), "");
    kbuf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    kbuf_reset(&b); /* on an empty buffer: harmless */
    kbuf_free(&b);  /* twice: harmless */
}
END_TEST

START_TEST(test_buf_detach_hands_over_data_and_resets)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "abc"), 0);
    size_t n = 0;
    uint8_t *p = kbuf_detach(&b, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq((char *)p, "abc");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    free(p);
}
END_TEST

START_TEST(test_buf_reserve_refuses_size_overflow)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "x"), 0);
    ck_assert_int_eq(kbuf_reserve(&b, SIZE_MAX), KAHUNA_ENOMEM);
    ck_assert_int_eq(kbuf_reserve(&b, SIZE_MAX - 1), KAHUNA_ENOMEM);
    ck_assert_uint_eq(b.len, 1); /* unchanged */
    ck_assert_str_eq(kbuf_str(&b), "x");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_bytes_compare_and_copy)
{
    ck_assert(kbytes_eq(kbytes_str("abc"), kbytes_make("abc", 3)));
    ck_assert(!kbytes_eq(kbytes_str("abc"), kbytes_str("abd")));
    ck_assert(!kbytes_eq(kbytes_str("abc"), kbytes_str("ab")));
    ck_assert(kbytes_eq(kbytes_make(NULL, 0), kbytes_str("")));
    ck_assert_uint_eq(kbytes_str(NULL).n, 0);
    char *s = kbytes_strdup(kbytes_make("a\0b", 3));
    ck_assert_ptr_nonnull(s);
    ck_assert_mem_eq(s, "a\0b\0", 4);
    free(s);
    s = kbytes_strdup(kbytes_make(NULL, 0));
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* ------------------------------------------------------------- duration */

static int64_t dur(const char *s)
{
    int64_t ms = -12345;
    ck_assert_msg(duration_parse_ms(s, &ms) == 0, "duration \"%s\" rejected", s);
    return ms;
}

static void dur_rejected(const char *s)
{
    int64_t ms = -12345;
    ck_assert_msg(duration_parse_ms(s, &ms) == KAHUNA_EBADREQ, "duration \"%s\" accepted", s);
    ck_assert_msg(ms == -12345, "duration \"%s\": output written on rejection", s);
}

START_TEST(test_duration_bare_number_is_milliseconds)
{
    ck_assert_int_eq(dur("0"), 0);
    ck_assert_int_eq(dur("1"), 1);
    ck_assert_int_eq(dur("250"), 250);
    ck_assert_int_eq(dur("007"), 7);
}
END_TEST

START_TEST(test_duration_accepts_ms_s_m_h)
{
    ck_assert_int_eq(dur("500ms"), 500);
    ck_assert_int_eq(dur("0ms"), 0);
    ck_assert_int_eq(dur("30s"), 30000);
    ck_assert_int_eq(dur("5m"), 300000);
    ck_assert_int_eq(dur("1h"), 3600000);
    ck_assert_int_eq(dur("24h"), 86400000);
}
END_TEST

START_TEST(test_duration_accepts_up_to_int64_max_ms)
{
    ck_assert_int_eq(dur("9223372036854775807"), INT64_MAX);
    ck_assert_int_eq(dur("9223372036854775807ms"), INT64_MAX);
    ck_assert_int_eq(dur("9223372036854775s"), 9223372036854775000LL);
    ck_assert_int_eq(dur("2562047788015h"), 2562047788015LL * 3600000);
}
END_TEST

START_TEST(test_duration_rejects_empty_and_missing_number)
{
    dur_rejected("");
    dur_rejected("ms");
    dur_rejected("s");
    dur_rejected("h");
    int64_t ms = 0;
    ck_assert_int_eq(duration_parse_ms(NULL, &ms), KAHUNA_EBADREQ);
}
END_TEST

START_TEST(test_duration_rejects_sign_space_and_fraction)
{
    dur_rejected("-1");
    dur_rejected("-5s");
    dur_rejected("+5");
    dur_rejected(" 5");
    dur_rejected("5 ");
    dur_rejected("5 s");
    dur_rejected("1.5s");
    dur_rejected("1e3");
    dur_rejected("0x10");
}
END_TEST

START_TEST(test_duration_rejects_unknown_unit_and_trailing_junk)
{
    dur_rejected("5x");
    dur_rejected("5S");
    dur_rejected("5MS");
    dur_rejected("5sec");
    dur_rejected("5min");
    dur_rejected("5d");
    dur_rejected("5us");
    dur_rejected("5ns");
    dur_rejected("5sm");
    dur_rejected("5ms5");
    dur_rejected("1h30m");
    dur_rejected("5s\n");
}
END_TEST

START_TEST(test_duration_rejects_overflow)
{
    dur_rejected("9223372036854775808");
    dur_rejected("99999999999999999999999");
    dur_rejected("9223372036854776s");
    dur_rejected("153722867280913m");
    dur_rejected("2562047788016h");
}
END_TEST

/* ------------------------------------------------------------------ pct */

static void pct_ok(const char *in, int plus, const char *want, size_t want_n)
{
    kbuf b = KBUF_INIT;
    ck_assert_msg(pct_decode(in, strlen(in), plus, &b) == 0, "pct \"%s\" rejected", in);
    ck_assert_uint_eq(b.len, want_n);
    ck_assert_mem_eq(b.data, want, want_n);
    ck_assert_int_eq(b.data[b.len], '\0');
    kbuf_free(&b);
}

static void pct_bad(const char *in)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "keep"), 0);
    ck_assert_msg(pct_decode(in, strlen(in), 0, &b) == KAHUNA_EBADREQ, "pct \"%s\" accepted", in);
    /* a rejected decode leaves out as it was */
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(kbuf_str(&b), "keep");
    kbuf_free(&b);
}

START_TEST(test_pct_decodes_escapes_of_any_byte)
{
    pct_ok("app/db/url", 0, "app/db/url", 10);
    pct_ok("a%2Fb", 0, "a/b", 3);
    pct_ok("a%2fb", 0, "a/b", 3);
    pct_ok("%41%42%43", 0, "ABC", 3);
    pct_ok("%00x", 0, "\0x", 2);
    pct_ok("%FF%fe", 0, "\xff\xfe", 2);
    pct_ok("%e2%82%ac", 0, "\xe2\x82\xac", 3);
    pct_ok("%25", 0, "%", 1);
    pct_ok("", 0, "", 0);
}
END_TEST

START_TEST(test_pct_plus_is_space_only_in_query)
{
    pct_ok("a+b", 1, "a b", 3);
    pct_ok("a+b", 0, "a+b", 3);
    pct_ok("a%2Bb", 1, "a+b", 3);
}
END_TEST

START_TEST(test_pct_rejects_truncated_or_non_hex_escapes)
{
    pct_bad("%");
    pct_bad("abc%");
    pct_bad("abc%4");
    pct_bad("%4g");
    pct_bad("%g4");
    pct_bad("%%41");
    pct_bad("% 41");
    pct_bad("%-1");
    pct_bad("ok%zz");
    pct_bad("%41%41%4");
}
END_TEST

START_TEST(test_pct_decode_stops_at_length_not_nul)
{
    kbuf b = KBUF_INIT;
    /* n = 3 covers "a%4" only when it ignores the rest: must be rejected */
    ck_assert_int_eq(pct_decode("a%41", 3, 0, &b), KAHUNA_EBADREQ);
    kbuf_reset(&b);
    ck_assert_int_eq(pct_decode("a%41zzz", 4, 0, &b), 0);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_str_eq(kbuf_str(&b), "aA");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_pct_encode_path_keeps_unreserved_and_slash)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(pct_encode_path(kbytes_str("AZaz09-._~/x"), &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "AZaz09-._~/x");
    kbuf_reset(&b);
    ck_assert_int_eq(pct_encode_path(kbytes_make("a b?#%+\0\xff", 9), &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "a%20b%3F%23%25%2B%00%FF");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_pct_encode_query_encodes_slash)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(pct_encode_query(kbytes_str("a/b&c=d"), &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "a%2Fb%26c%3Dd");
    kbuf_reset(&b);
    ck_assert_int_eq(pct_encode_query(kbytes_make(NULL, 0), &b), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(kbuf_str(&b), "");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_pct_encode_then_decode_gives_every_byte_back)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (int q = 0; q < 2; q++) {
        kbuf enc = KBUF_INIT, dec = KBUF_INIT;
        int rc = q ? pct_encode_query(kbytes_make(all, 256), &enc)
                   : pct_encode_path(kbytes_make(all, 256), &enc);
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(pct_decode((const char *)enc.data, enc.len, q, &dec), 0);
        ck_assert_uint_eq(dec.len, 256);
        ck_assert_mem_eq(dec.data, all, 256);
        kbuf_free(&enc);
        kbuf_free(&dec);
    }
}
END_TEST

/* --------------------------------------------------------------- base64 */

/* RFC 4648 §10 test vectors. */
static const struct { const char *plain, *enc; } rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(test_base64_encodes_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        kbuf b = KBUF_INIT;
        ck_assert_int_eq(base64_encode(kbytes_str(rfc4648[i].plain), &b), 0);
        ck_assert_uint_eq(b.len, strlen(rfc4648[i].enc));
        ck_assert_str_eq(kbuf_str(&b), rfc4648[i].enc);
        kbuf_free(&b);
    }
}
END_TEST

START_TEST(test_base64_decodes_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        kbuf b = KBUF_INIT;
        const char *e = rfc4648[i].enc;
        ck_assert_int_eq(base64_decode(e, strlen(e), &b), 0);
        ck_assert_uint_eq(b.len, strlen(rfc4648[i].plain));
        ck_assert_str_eq(kbuf_str(&b), rfc4648[i].plain);
        kbuf_free(&b);
    }
}
END_TEST

START_TEST(test_base64_appends_to_existing_content)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "x:"), 0);
    ck_assert_int_eq(base64_encode(kbytes_str("foo"), &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "x:Zm9v");
    ck_assert_int_eq(base64_decode("Zm8=", 4, &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "x:Zm9vfo");
    kbuf_free(&b);
}
END_TEST

START_TEST(test_base64_round_trips_binary)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= 256; n++) {
        kbuf enc = KBUF_INIT, dec = KBUF_INIT;
        ck_assert_int_eq(base64_encode(kbytes_make(all, n), &enc), 0);
        ck_assert_uint_eq(enc.len, (n + 2) / 3 * 4);
        ck_assert_int_eq(base64_decode((const char *)enc.data, enc.len, &dec), 0);
        ck_assert_uint_eq(dec.len, n);
        if (n)
            ck_assert_mem_eq(dec.data, all, n);
        kbuf_free(&enc);
        kbuf_free(&dec);
    }
}
END_TEST

START_TEST(test_base64_uses_plus_and_slash_alphabet)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(base64_encode(kbytes_make("\xfb\xff\xbf", 3), &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "+/+/");
    kbuf_reset(&b);
    ck_assert_int_eq(base64_decode("+/+/", 4, &b), 0);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_mem_eq(b.data, "\xfb\xff\xbf", 3);
    kbuf_free(&b);
}
END_TEST

static void b64_bad(const char *in)
{
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(kbuf_append_str(&b, "keep"), 0);
    ck_assert_msg(base64_decode(in, strlen(in), &b) == KAHUNA_EBADREQ, "base64 \"%s\" accepted", in);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(kbuf_str(&b), "keep");
    kbuf_free(&b);
}

START_TEST(test_base64_rejects_length_not_multiple_of_4)
{
    b64_bad("Z");
    b64_bad("Zg");
    b64_bad("Zg=");
    b64_bad("Zm9");
    b64_bad("Zm9vY");
    b64_bad("Zg===");
}
END_TEST

START_TEST(test_base64_rejects_characters_outside_the_alphabet)
{
    b64_bad("Zm9\n");
    b64_bad("Zm\n9");
    b64_bad("Zm 9");
    b64_bad("Zm-_");   /* the URL-safe alphabet is not accepted */
    b64_bad("Zm9*");
    b64_bad("Zm9\x80");
    b64_bad("Zm9vZm9*"); /* after a good group: nothing of it is kept */
    /* an embedded NUL inside the given length */
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(base64_decode("Zm\0v", 4, &b), KAHUNA_EBADREQ);
    kbuf_free(&b);
}
END_TEST

START_TEST(test_base64_rejects_bad_padding)
{
    b64_bad("====");
    b64_bad("Z===");
    b64_bad("=Zm9");
    b64_bad("Z=m9");
    b64_bad("Zm=9");
    b64_bad("Zg==Zm9v"); /* padding before the end */
    b64_bad("Zm8=Zm9v");
}
END_TEST

START_TEST(test_base64_rejects_nonzero_bits_after_the_last_byte)
{
    /* "Zg==" is 'f'; "Zh==" would decode to 'f' too with stray bits: only
     * one spelling of each value is accepted. */
    b64_bad("Zh==");
    b64_bad("Zm9=");
    kbuf b = KBUF_INIT;
    ck_assert_int_eq(base64_decode("Zg==", 4, &b), 0);
    ck_assert_int_eq(base64_decode("Zm8=", 4, &b), 0);
    ck_assert_str_eq(kbuf_str(&b), "ffo");
    kbuf_free(&b);
}
END_TEST

/* ----------------------------------------------------------------- utf8 */

static int u8(const char *s) { return utf8_valid((const uint8_t *)s, strlen(s)); }

START_TEST(test_utf8_accepts_every_sequence_length)
{
    ck_assert(utf8_valid((const uint8_t *)"", 0));
    ck_assert(u8("plain ascii"));
    ck_assert(utf8_valid((const uint8_t *)"a\0b", 3)); /* NUL is valid UTF-8 */
    ck_assert(u8("\x7f"));
    ck_assert(u8("\xc2\x80"));         /* U+0080 */
    ck_assert(u8("\xc3\xa9t\xc3\xa9")); /* "été" */
    ck_assert(u8("\xdf\xbf"));         /* U+07FF */
    ck_assert(u8("\xe0\xa0\x80"));     /* U+0800 */
    ck_assert(u8("\xe2\x82\xac"));     /* U+20AC euro */
    ck_assert(u8("\xed\x9f\xbf"));     /* U+D7FF, last before surrogates */
    ck_assert(u8("\xee\x80\x80"));     /* U+E000, first after surrogates */
    ck_assert(u8("\xef\xbf\xbf"));     /* U+FFFF */
    ck_assert(u8("\xf0\x90\x80\x80")); /* U+10000 */
    ck_assert(u8("\xf0\x9f\x98\x80")); /* U+1F600 */
    ck_assert(u8("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
}
END_TEST

START_TEST(test_utf8_rejects_overlong_forms)
{
    ck_assert(!u8("\xc0\x80"));         /* NUL in two bytes */
    ck_assert(!u8("\xc0\xaf"));         /* '/' in two bytes */
    ck_assert(!u8("\xc1\xbf"));
    ck_assert(!u8("\xe0\x80\x80"));
    ck_assert(!u8("\xe0\x9f\xbf"));     /* U+07FF in three bytes */
    ck_assert(!u8("\xf0\x80\x80\x80"));
    ck_assert(!u8("\xf0\x8f\xbf\xbf")); /* U+FFFF in four bytes */
}
END_TEST

START_TEST(test_utf8_rejects_surrogates)
{
    ck_assert(!u8("\xed\xa0\x80"));     /* U+D800 */
    ck_assert(!u8("\xed\xad\xbf"));     /* U+DB7F */
    ck_assert(!u8("\xed\xb0\x80"));     /* U+DC00 */
    ck_assert(!u8("\xed\xbf\xbf"));     /* U+DFFF */
    ck_assert(!u8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
}
END_TEST

START_TEST(test_utf8_rejects_code_points_above_10ffff)
{
    ck_assert(!u8("\xf4\x90\x80\x80")); /* U+110000 */
    ck_assert(!u8("\xf5\x80\x80\x80"));
    ck_assert(!u8("\xf7\xbf\xbf\xbf"));
    ck_assert(!u8("\xf8\x88\x80\x80\x80")); /* old five-byte form */
    ck_assert(!u8("\xfc\x84\x80\x80\x80\x80"));
    ck_assert(!u8("\xfe"));
    ck_assert(!u8("\xff"));
}
END_TEST

START_TEST(test_utf8_rejects_stray_and_missing_continuations)
{
    ck_assert(!u8("\x80"));
    ck_assert(!u8("a\xbf"));
    ck_assert(!u8("\xc3"));             /* truncated at the end */
    ck_assert(!u8("\xe2\x82"));
    ck_assert(!u8("\xf0\x9f\x98"));
    ck_assert(!u8("\xc3(")); /* lead byte then ASCII */
    ck_assert(!u8("\xe2\x28\xa1"));
    ck_assert(!u8("\xf0\x9f\x98\x28"));
    ck_assert(!u8("\xe2\x82\xac\x80")); /* one continuation too many */
}
END_TEST

START_TEST(test_utf8_checks_only_the_given_length)
{
    /* a valid prefix of a longer invalid buffer */
    ck_assert(utf8_valid((const uint8_t *)"ab\xff", 2));
    /* a sequence cut by the length is invalid even when the bytes follow */
    ck_assert(!utf8_valid((const uint8_t *)"\xe2\x82\xac", 2));
}
END_TEST

/* --------------------------------------------------------------- errors */

START_TEST(test_errors_map_to_spec_codes_and_statuses)
{
    static const struct { int code; const char *name; int http; } t[] = {
        {KAHUNA_OK, "ok", 200},
        {KAHUNA_EBADREQ, "bad_request", 400},
        {KAHUNA_ENOTFOUND, "not_found", 404},
        {KAHUNA_ELOCKHELD, "lock_held", 409},
        {KAHUNA_ENOTOWNER, "not_owner", 409},
        {KAHUNA_ECONDITION, "condition_failed", 409},
        {KAHUNA_ECOMPACTED, "compacted", 410},
        {KAHUNA_ETOOLARGE, "too_large", 413},
        {KAHUNA_EUNAVAILABLE, "unavailable", 503},
        {KAHUNA_ESHUTDOWN, "unavailable", 503},
        {KAHUNA_ETIMEOUT, "timeout", 504},
        {KAHUNA_EINTERNAL, "internal", 500},
        {KAHUNA_ENOMEM, "internal", 500},
        {KAHUNA_EIO, "internal", 500},
        {KAHUNA_ERANGE, "bad_request", 400},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ck_assert_str_eq(kahuna_error_name(t[i].code), t[i].name);
        ck_assert_int_eq(kahuna_http_status(t[i].code), t[i].http);
    }
}
END_TEST

START_TEST(test_errors_every_code_has_a_message)
{
    for (int code = 0; code >= KAHUNA_ERANGE; code--) {
        const char *m = kahuna_strerror(code);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_ne(m, "unknown error");
        ck_assert_ptr_nonnull(kahuna_error_name(code));
        int h = kahuna_http_status(code);
        ck_assert(h == 200 || (h >= 400 && h <= 599));
    }
}
END_TEST

START_TEST(test_errors_unknown_code_is_internal)
{
    ck_assert_str_eq(kahuna_error_name(-999), "internal");
    ck_assert_str_eq(kahuna_error_name(7), "internal");
    ck_assert_int_eq(kahuna_http_status(-999), 500);
    ck_assert_str_eq(kahuna_strerror(-999), "unknown error");
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc;

    tc = tcase_create("buf");
    tcase_add_test(tc, test_buf_append_keeps_length_and_trailing_nul);
    tcase_add_test(tc, test_buf_grows_past_many_reallocations);
    tcase_add_test(tc, test_buf_empty_append_gives_a_c_string);
    tcase_add_test(tc, test_buf_printf_appends_formatted_text);
    tcase_add_test(tc, test_buf_reset_keeps_memory_and_empties);
    tcase_add_test(tc, test_buf_detach_hands_over_data_and_resets);
    tcase_add_test(tc, test_buf_reserve_refuses_size_overflow);
    tcase_add_test(tc, test_bytes_compare_and_copy);
    suite_add_tcase(s, tc);

    tc = tcase_create("duration");
    tcase_add_test(tc, test_duration_bare_number_is_milliseconds);
    tcase_add_test(tc, test_duration_accepts_ms_s_m_h);
    tcase_add_test(tc, test_duration_accepts_up_to_int64_max_ms);
    tcase_add_test(tc, test_duration_rejects_empty_and_missing_number);
    tcase_add_test(tc, test_duration_rejects_sign_space_and_fraction);
    tcase_add_test(tc, test_duration_rejects_unknown_unit_and_trailing_junk);
    tcase_add_test(tc, test_duration_rejects_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("pct");
    tcase_add_test(tc, test_pct_decodes_escapes_of_any_byte);
    tcase_add_test(tc, test_pct_plus_is_space_only_in_query);
    tcase_add_test(tc, test_pct_rejects_truncated_or_non_hex_escapes);
    tcase_add_test(tc, test_pct_decode_stops_at_length_not_nul);
    tcase_add_test(tc, test_pct_encode_path_keeps_unreserved_and_slash);
    tcase_add_test(tc, test_pct_encode_query_encodes_slash);
    tcase_add_test(tc, test_pct_encode_then_decode_gives_every_byte_back);
    suite_add_tcase(s, tc);

    tc = tcase_create("base64");
    tcase_add_test(tc, test_base64_encodes_rfc4648_vectors);
    tcase_add_test(tc, test_base64_decodes_rfc4648_vectors);
    tcase_add_test(tc, test_base64_appends_to_existing_content);
    tcase_add_test(tc, test_base64_round_trips_binary);
    tcase_add_test(tc, test_base64_uses_plus_and_slash_alphabet);
    tcase_add_test(tc, test_base64_rejects_length_not_multiple_of_4);
    tcase_add_test(tc, test_base64_rejects_characters_outside_the_alphabet);
    tcase_add_test(tc, test_base64_rejects_bad_padding);
    tcase_add_test(tc, test_base64_rejects_nonzero_bits_after_the_last_byte);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_accepts_every_sequence_length);
    tcase_add_test(tc, test_utf8_rejects_overlong_forms);
    tcase_add_test(tc, test_utf8_rejects_surrogates);
    tcase_add_test(tc, test_utf8_rejects_code_points_above_10ffff);
    tcase_add_test(tc, test_utf8_rejects_stray_and_missing_continuations);
    tcase_add_test(tc, test_utf8_checks_only_the_given_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_errors_map_to_spec_codes_and_statuses);
    tcase_add_test(tc, test_errors_every_code_has_a_message);
    tcase_add_test(tc, test_errors_unknown_code_is_internal);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(common_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
