#!/bin/bash
# test_restart.sh: everything survives a clean stop and restart (SPEC §2,
# §6): keys with their values, versions and history, locks with their
# owners and tokens (TTLs restart in full), sequences that continue where
# they were, fencing tokens and revisions that keep increasing.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')

start_kahunad n1 || { echo "cannot start kahunad" >&2; exit 1; }
kcurl GET /v1/cluster
term1=$(jfield .term)

# ---- write ----
for i in 1 2 3 4 5; do
    kcurl PUT "/v1/kv/app/key$i" "${JSON[@]}" -d "{\"value\": \"value $i\"}"
    expect_status "put app/key$i" 200
done
kcurl PUT /v1/kv/app/key1 "${JSON[@]}" -d '{"value": "value 1, second version"}'
expect_status "second write of app/key1" 200
kcurl PUT /v1/kv/bin "${JSON[@]}" -d '{"value_base64": "AP8BgA=="}'
expect_status "binary value" 200
kcurl PUT /v1/kv/ttl/long "${JSON[@]}" -d '{"value": "lives", "ttl_ms": 600000}'
expect_status "key with a long TTL" 200
kcurl PUT /v1/kv/ttl/short "${JSON[@]}" -d '{"value": "dies", "ttl_ms": 200}'
expect_status "key with a short TTL" 200
kcurl PUT /v1/kv/gone "${JSON[@]}" -d '{"value": "x"}'
kcurl DELETE /v1/kv/gone
expect_status "delete" 200

kcurl POST /v1/locks/jobs/nightly/acquire "${JSON[@]}" -d '{"owner": "w1", "ttl_ms": 600000}'
expect_status "acquire a lock" 200
token1=$(jfield .fencing_token)
kcurl POST /v1/locks/released/acquire "${JSON[@]}" -d '{"owner": "w1", "ttl_ms": 600000}'
token_released=$(jfield .fencing_token)
kcurl POST /v1/locks/released/release "${JSON[@]}" -d '{"owner": "w1"}'
expect_status "release a lock" 200

kcurl POST /v1/sequences/orders/next "${JSON[@]}" -d '{"count": 5}'
expect_status "seq next 5" 200
expect_json "first five" .last 5
kcurl POST /v1/sequences/orders/next
expect_json "sixth" .value 6

# the short TTL runs out before the stop
short_gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$KURL/v1/kv/ttl/short")" = 404 ]; }
check "short TTL expires" wait_until 20 short_gone

kcurl GET /v1/cluster
revision_before=$(curl -s "$KURL/v1/kv/app/key5" | jq -r .revision)
commit_before=$(jfield .commit_index)

# ---- stop, restart ----
stop_kahunad "$KPID"
rc=$?
check "clean stop exits 0 (got $rc)" [ "$rc" = 0 ]
start_kahunad n1 || { echo "cannot restart kahunad" >&2; exit 1; }

# ---- everything is there ----
kcurl GET /v1/cluster
check "a restart takes a new term" [ "$(jfield .term)" -gt "$term1" ]
check "the log continues (commit index $(jfield .commit_index) > $commit_before)" \
    [ "$(jfield .commit_index)" -gt "$commit_before" ]
for i in 2 3 4 5; do
    kcurl GET "/v1/kv/app/key$i"
    expect_status "get app/key$i after restart" 200
    expect_json "value of app/key$i" .value "value $i"
done
kcurl GET /v1/kv/app/key1
expect_json "latest value of app/key1" .value "value 1, second version"
expect_json "version of app/key1" .version 2
kcurl GET "/v1/kv/app/key1?history"
expect_status "history after restart" 200
expect_json "both versions kept" '.items | length' 2
kcurl GET "/v1/kv/bin?encoding=base64"
expect_json "binary value after restart" .value_base64 "AP8BgA=="
kcurl GET /v1/kv/ttl/long
expect_status "long-TTL key after restart" 200
check "its TTL restarted in full ($(jfield .ttl_ms) > 590000)" [ "$(jfield .ttl_ms)" -gt 590000 ]
kcurl GET /v1/kv/ttl/short
expect_status "expired key stays gone" 404
kcurl GET /v1/kv/gone
expect_status "deleted key stays deleted" 404
kcurl GET "/v1/kv?prefix=app/"
expect_json "listing after restart" '.items | length' 5

kcurl GET /v1/locks/jobs/nightly
expect_status "lock still held" 200
expect_json "lock owner" .owner w1
expect_json "lock token" .fencing_token "$token1"
check "lock TTL restarted in full ($(jfield .ttl_ms) > 590000)" [ "$(jfield .ttl_ms)" -gt 590000 ]
kcurl POST /v1/locks/jobs/nightly/acquire "${JSON[@]}" -d '{"owner": "w2", "ttl_ms": 1000}'
expect_status "another owner is refused" 409
expect_json "holder named" .error.code lock_held
kcurl POST /v1/locks/jobs/nightly/acquire "${JSON[@]}" -d '{"owner": "w1", "ttl_ms": 600000}'
expect_status "holder re-acquires" 200
expect_json "same token on re-acquire" .fencing_token "$token1"
kcurl GET /v1/locks/released
expect_status "released lock stays free" 404
kcurl POST /v1/locks/released/acquire "${JSON[@]}" -d '{"owner": "w2", "ttl_ms": 600000}'
expect_status "acquire after restart" 200
check "fencing tokens keep increasing ($(jfield .fencing_token) > $token_released)" \
    [ "$(jfield .fencing_token)" -gt "$token_released" ]

kcurl GET /v1/sequences/orders
expect_json "sequence value kept" .value 6
kcurl POST /v1/sequences/orders/next
expect_json "sequence continues" .value 7

kcurl PUT /v1/kv/app/new "${JSON[@]}" -d '{"value": "after"}'
check "revisions keep increasing ($(jfield .revision) > $revision_before)" \
    [ "$(jfield .revision)" -gt "$revision_before" ]

# ---- a second restart, after writes in the new term ----
stop_kahunad "$KPID"
start_kahunad n1 || { echo "cannot restart kahunad twice" >&2; exit 1; }
kcurl GET /v1/kv/app/new
expect_json "write of the second term survives" .value after
kcurl POST /v1/sequences/orders/next
expect_json "sequence continues again" .value 8

done_testing
