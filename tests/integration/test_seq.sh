#!/usr/bin/env bash
# test_seq.sh: the sequence REST API of SPEC §3 against a real kahunad:
# next (count, idempotency key, optional body), get, set (force to move
# back), delete (a new sequence starts at 1), listings, and concurrent
# callers getting unique values with no gaps.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
jcurl() { kcurl "$1" "$2" "${JSON[@]}" --data-binary "$3"; }

start_kahunad n1 || { echo "kahunad did not start"; exit 1; }

kcurl POST /v1/sequences/orders/next
expect_status "next without a body" 200
expect_json "a new sequence starts at 1" .value 1
expect_json "count 1 hands out one value" .last 1
expect_json "next answers the name" .name orders

jcurl POST /v1/sequences/orders/next '{"count":10}'
expect_status "next with a count" 200
expect_json "the block starts after the last value" .value 2
expect_json "the block has count values" .last 11

kcurl GET /v1/sequences/orders
expect_status "get a sequence" 200
expect_json "get returns the last value handed out" .value 11

jcurl POST /v1/sequences/orders/next '{"count":5,"idempotency_key":"req-1"}'
expect_json "next with an idempotency key" .value 12
expect_json "its block" .last 16
jcurl POST /v1/sequences/orders/next '{"count":5,"idempotency_key":"req-1"}'
expect_status "the same idempotency key again" 200
expect_json "the same key returns the same answer" .value 12
expect_json "the same block" .last 16
jcurl POST /v1/sequences/orders/next '{"idempotency_key":"req-2"}'
expect_json "another key gets a new value" .value 17
kcurl GET /v1/sequences/orders
expect_json "a repeated key handed out nothing new" .value 17

jcurl PUT /v1/sequences/orders '{"value":100}'
expect_status "set a sequence forward" 200
kcurl POST /v1/sequences/orders/next
expect_json "next after set N returns N+1" .value 101
jcurl PUT /v1/sequences/orders '{"value":50}'
expect_status "moving backwards without force" 409
expect_json "it is a failed condition" .error.code condition_failed
kcurl GET /v1/sequences/orders
expect_json "a refused set changes nothing" .value 101
jcurl PUT /v1/sequences/orders '{"value":50,"force":true}'
expect_status "moving backwards with force" 200
kcurl POST /v1/sequences/orders/next
expect_json "next after a forced set" .value 51

jcurl PUT /v1/sequences/fresh '{"value":7}'
expect_status "set creates a sequence" 200
kcurl POST /v1/sequences/fresh/next
expect_json "next after set on a new name" .value 8

kcurl DELETE /v1/sequences/orders
expect_status "delete a sequence" 200
kcurl GET /v1/sequences/orders
expect_status "a deleted sequence is gone" 404
expect_json "not_found code" .error.code not_found
kcurl DELETE /v1/sequences/orders
expect_status "delete of a missing sequence" 404
kcurl POST /v1/sequences/orders/next
expect_json "a sequence created again starts at 1" .value 1

kcurl GET /v1/sequences/never
expect_status "get a missing sequence" 404

# names with slashes: the last segment is the action
kcurl POST /v1/sequences/eu/invoices/next
expect_json "the name is the path before the action" .name eu/invoices
kcurl GET /v1/sequences/eu/invoices
expect_json "it reads back" .value 1

# ---------------------------------------------------------------- listing
for s in a b c; do kcurl POST "/v1/sequences/ls/$s/next"; done
kcurl GET "/v1/sequences?prefix=ls/"
expect_status "list sequences" 200
expect_json "sequences with the prefix" '.items | length' 3
expect_json "items carry name" '.items[0].name' ls/a
expect_json "items carry value" '.items[0].value' 1
expect_json "no more" .more false
kcurl GET "/v1/sequences?prefix=ls/&limit=1&after=ls/a"
expect_json "paging" '.items[0].name' ls/b
expect_json "paging: more" .more true

# ---------------------------------------------------------------- concurrency
pids=()
for i in $(seq 1 40); do
    curl -s -X POST "$KURL/v1/sequences/race/next" -o "$TEST_TMP/race.$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
values=$(cat "$TEST_TMP"/race.* | jq -r .value | sort -n | tr '\n' ' ')
check "concurrent callers get unique values with no gaps" [ "$values" = "$(seq 1 40 | tr '\n' ' ')" ]

metrics=$(curl -s "$KURL/metrics")
check "metrics count next" grep -q '^kahuna_http_requests_total{route="/v1/sequences/{name}/next",method="POST",code="200"} [1-9]' <<<"$metrics"

done_testing
