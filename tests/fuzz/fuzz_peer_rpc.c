/* fuzz_peer_rpc.c: fuzz target for the forwarding codec (daemon/peer/
 * rpc.c), the bytes a follower and the leader exchange on
 * POST /raft/v1/forward.
 *
 * The input goes to both decoders. What decodes must encode back to the
 * very same bytes (the encoding is canonical and consumed exactly). The
 * input is also read as the fields of a request (op, flags, wait_ms, a, b),
 * and the encoder must refuse exactly what the decoder would refuse: what
 * it accepts decodes back to the same fields.
 *
 * Built two ways (tests/fuzz/Makefile.inc): with clang and libFuzzer by
 * `make fuzz`, and with driver.c as a `make check` program under gcc, on
 * the seed corpus tests/fuzz/corpus/peer_rpc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "peer/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c) do { if (!(c)) abort(); } while (0)

static int bytes_same(kbytes a, kbytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static void fuzz_request_decode(const uint8_t *data, size_t size)
{
    rpc_request rq;
    int rc = rpc_request_decode(kbytes_make(data, size), &rq);
    ASSERT(rc == 0 || rc == KAHUNA_EBADREQ);
    if (rc)
        return;
    ASSERT(rq.op >= RPC_PROPOSE && rq.op <= RPC_ADMIN_TRANSFER);
    ASSERT(rq.flags == 0 && rq.wait_ms >= 0);
    ASSERT(rq.a.n <= size && rq.b.n <= size);
    kbuf enc = KBUF_INIT;
    rc = rpc_request_encode(&rq, &enc);
    if (rc == KAHUNA_ENOMEM) {
        kbuf_free(&enc);
        return;
    }
    ASSERT(rc == 0);
    ASSERT(bytes_same(kbytes_make(enc.data, enc.len), kbytes_make(data, size)));
    kbuf_free(&enc);
}

static void result_free(fsm_result *res)
{
    free(res->owner);
    kbuf_free(&res->data);
}

static void fuzz_result_decode(const uint8_t *data, size_t size)
{
    fsm_result res;
    int rc = rpc_result_decode(kbytes_make(data, size), &res);
    ASSERT(rc == 0 || rc == KAHUNA_EBADREQ || rc == KAHUNA_ENOMEM);
    if (rc) {
        ASSERT(res.owner == NULL && res.data.data == NULL);
        return;
    }
    ASSERT(res.status <= 0);
    ASSERT(res.found == 0 || res.found == 1);
    ASSERT(res.data.len <= size);
    kbuf enc = KBUF_INIT;
    rc = rpc_result_encode(&res, &enc);
    if (rc == 0)
        ASSERT(bytes_same(kbytes_make(enc.data, enc.len), kbytes_make(data, size)));
    else
        ASSERT(rc == KAHUNA_ENOMEM);
    kbuf_free(&enc);
    result_free(&res);
}

/* Reads the input as request fields: op, flags, 8 bytes of wait_ms, a
 * split byte, then the rest split into a and b. */
static void fuzz_request_encode(const uint8_t *data, size_t size)
{
    if (size < 11)
        return;
    rpc_request rq;
    memset(&rq, 0, sizeof rq);
    rq.op = data[0] % 6;
    rq.flags = data[1] % 3 == 0 ? data[1] : 0;
    uint64_t w = 0;
    for (int i = 0; i < 8; i++)
        w = w << 8 | data[2 + i];
    memcpy(&rq.wait_ms, &w, sizeof w);
    if (data[2] & 1)
        rq.wait_ms = 0;
    size_t rest = size - 11, split = rest ? data[10] % (rest + 1) : 0;
    rq.a = kbytes_make(data + 11, split);
    rq.b = kbytes_make(data + 11 + split, rest - split);

    kbuf enc = KBUF_INIT;
    int rc = rpc_request_encode(&rq, &enc);
    if (rc == 0) {
        rpc_request back;
        ASSERT(rpc_request_decode(kbytes_make(enc.data, enc.len), &back) == 0);
        ASSERT(back.op == rq.op && back.flags == rq.flags && back.wait_ms == rq.wait_ms);
        ASSERT(bytes_same(back.a, rq.a) && bytes_same(back.b, rq.b));
    } else {
        ASSERT(rc == KAHUNA_EBADREQ || rc == KAHUNA_ENOMEM);
        ASSERT(enc.len == 0);
    }
    kbuf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request_decode(data, size);
    fuzz_result_decode(data, size);
    fuzz_request_encode(data, size);
    return 0;
}
