#!/bin/bash
# test_resp_rest.sh: the RESP listener and the REST API serve one store
# (SPEC §4): what one writes the other reads, values, TTLs, locks and
# sequences included.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

start_resp n1 || { echo "kahunad did not start"; exit 1; }

# RESP -> REST
rcli SET app/db/url "postgres://x" >/dev/null
kcurl GET /v1/kv/app/db/url
expect_status "REST reads a key SET over RESP" 200
expect_json "REST sees the value" .value "postgres://x"
rcli SET ttlkey v PX 60000 >/dev/null
kcurl GET /v1/kv/ttlkey
expect_json "REST sees a TTL set over RESP" '.ttl_ms > 55000 and .ttl_ms <= 60000' true
printf '\xff\x00\x01' | redis-cli -p "$KRESP_PORT" -x SET binkey >/dev/null
kcurl GET /v1/kv/binkey
expect_json "REST returns a binary value as base64" .value_base64 "/wAB"
rcli EXPIRE app/db/url 120 >/dev/null
kcurl GET /v1/kv/app/db/url
expect_json "REST sees EXPIRE" '.ttl_ms > 115000' true
rcli DEL app/db/url >/dev/null
kcurl GET /v1/kv/app/db/url
expect_status "REST sees DEL" 404

# REST -> RESP
kcurl PUT /v1/kv/from/rest -H 'Content-Type: application/json' -d '{"value":"hello","ttl_ms":90000}'
expect_status "REST put" 200
expect_rcli "RESP reads a key PUT over REST" '"hello"' GET from/rest
expect_rcli_match "RESP sees the REST TTL" '^\(integer\) (8[5-9]|90)$' TTL from/rest
kcurl PUT /v1/kv/b64 -H 'Content-Type: application/json' -d '{"value_base64":"AAEC"}'
expect_rcli "RESP reads a binary REST value" '"\x00\x01\x02"' GET b64
kcurl DELETE /v1/kv/from/rest
expect_rcli "RESP sees a REST delete" "(nil)" GET from/rest
rev_before=$(curl -s "$KURL/v1/kv/b64" | jq .revision)
rcli INCR counter >/dev/null
kcurl GET /v1/kv/counter
expect_json "INCR is a write with a newer revision" ".revision > $rev_before" true
expect_json "INCR stores text" .value "1"

# locks and sequences are shared too
tok=$(redis-cli -p "$KRESP_PORT" LOCK.ACQUIRE shared/lock resp-owner 30000)
kcurl GET /v1/locks/shared/lock
expect_json "REST sees a RESP lock" .owner "resp-owner"
expect_json "same fencing token" .fencing_token "$tok"
kcurl POST /v1/locks/shared/lock/acquire -H 'Content-Type: application/json' -d '{"owner":"rest-owner","ttl_ms":1000}'
expect_status "REST acquire of a RESP lock is refused" 409
kcurl POST /v1/locks/shared/lock/release -H 'Content-Type: application/json' -d '{"owner":"resp-owner"}'
expect_status "REST releases the RESP lock" 200
expect_rcli "RESP sees the release" "(nil)" LOCK.INFO shared/lock
kcurl POST /v1/sequences/orders/next -H 'Content-Type: application/json' -d '{"count":3}'
expect_rcli "RESP sees the REST sequence" "(integer) 3" SEQ.GET orders
expect_rcli "RESP continues it" "(integer) 4" SEQ.NEXT orders

# MULTI/EXEC is one write: REST sees all of it
printf 'MULTI\nSET tx/a 1\nSET tx/b 2\nEXEC\n' | rcli_session >/dev/null
kcurl GET '/v1/kv?prefix=tx/'
expect_json "both keys of a transaction" '.items | length' 2
a=$(curl -s "$KURL/v1/kv/tx/a" | jq .revision)
b=$(curl -s "$KURL/v1/kv/tx/b" | jq .revision)
check "one transaction: consecutive revisions in one entry ($a, $b)" [ $((b - a)) = 1 ]

done_testing
