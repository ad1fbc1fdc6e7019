#!/usr/bin/env bash
# test_locks.sh: the lock REST API of SPEC §3 against a real kahunad:
# acquire, extend, release and their errors, fencing tokens, TTL expiry,
# waiting acquires served in arrival order, a waiter whose client hangs up
# is dropped, and listings.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
jcurl() { kcurl "$1" "$2" "${JSON[@]}" --data-binary "$3"; }
in_range() { [ "$1" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]; }

acquire() { jcurl POST "/v1/locks/$1/acquire" "{\"owner\":\"$2\",\"ttl_ms\":${3:-30000}}"; }
release() { jcurl POST "/v1/locks/$1/release" "{\"owner\":\"$2\"}"; }

# lock_free NAME: 0 when GET /v1/locks/NAME answers 404.
lock_free() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$KURL/v1/locks/$1")" = 404 ]; }

# waiters_are N: 0 when the node reports N requests waiting for a lock.
waiters_are() { curl -s "$KURL/metrics" | grep -qx "kahuna_lock_waiters $1"; }

# bg_acquire NAME OWNER WAIT_MS OUT [curl args]: a waiting acquire in the
# background; its status goes to OUT.status and its body to OUT.body.
bg_acquire() {
    local name=$1 owner=$2 wait=$3 out=$4; shift 4
    curl -s "$@" -o "$out.body" -w '%{http_code}' -X POST "${JSON[@]}" \
        --data-binary "{\"owner\":\"$owner\",\"ttl_ms\":30000,\"wait_ms\":$wait}" \
        "$KURL/v1/locks/$name/acquire" >"$out.status"
}

start_kahunad n1 || { echo "kahunad did not start"; exit 1; }

# ---------------------------------------------------------------- acquire
acquire jobs/nightly w1 30000
expect_status "acquire a free lock" 200
expect_json "acquire answers the name (the path before the action)" .name jobs/nightly
expect_json "acquire answers the owner" .owner w1
expect_json "acquire answers the ttl_ms" .ttl_ms 30000
tok1=$(jfield .fencing_token)
check "acquire answers a fencing token" [ "$tok1" -gt 0 ]

kcurl GET /v1/locks/jobs/nightly
expect_status "get a held lock" 200
expect_json "get shows the owner" .owner w1
expect_json "get shows the fencing token" .fencing_token "$tok1"
check "get shows the remaining ttl_ms" in_range "$(jfield .ttl_ms)" 1 30000

acquire jobs/nightly w2
expect_status "acquire of a lock held by another owner" 409
expect_json "lock_held code" .error.code lock_held
expect_json "lock_held names the holder" .owner w1
check "lock_held gives the holder's remaining ttl_ms" in_range "$(jfield .ttl_ms)" 1 30000

acquire jobs/nightly w1 60000
expect_status "acquire again by the owner" 200
expect_json "reacquire by the owner keeps the token" .fencing_token "$tok1"
expect_json "reacquire by the owner gives a fresh TTL" .ttl_ms 60000

# ---------------------------------------------------------------- extend
jcurl POST /v1/locks/jobs/nightly/extend '{"owner":"w1","ttl_ms":45000}'
expect_status "extend by the owner" 200
expect_json "extend keeps the token" .fencing_token "$tok1"
expect_json "extend answers the new ttl" .ttl_ms 45000
jcurl POST /v1/locks/jobs/nightly/extend '{"owner":"w2","ttl_ms":45000}'
expect_status "extend by another owner" 409
expect_json "not_owner code" .error.code not_owner
jcurl POST /v1/locks/free-lock/extend '{"owner":"w1","ttl_ms":1000}'
expect_status "extend of a lock that is not held" 404

# ---------------------------------------------------------------- release
release jobs/nightly w2
expect_status "release by another owner" 409
expect_json "release by another owner is not_owner" .error.code not_owner
kcurl GET /v1/locks/jobs/nightly
expect_json "a refused release leaves the holder" .owner w1
release jobs/nightly w1
expect_status "release by the owner" 200
expect_json "release answers the name" .name jobs/nightly
check "release returns a revision" [ "$(jfield .revision)" -gt 0 ]
kcurl GET /v1/locks/jobs/nightly
expect_status "a released lock is free" 404
release jobs/nightly w1
expect_status "release of a free lock" 404

# ---------------------------------------------------------------- tokens
prev=$tok1
for owner in a b c; do
    acquire tokens $owner
    t=$(jfield .fencing_token)
    check "fencing tokens strictly increase ($owner)" [ "$t" -gt "$prev" ]
    prev=$t
    release tokens $owner
done

# ---------------------------------------------------------------- TTL expiry
acquire short holder 300
expect_status "acquire with a short TTL" 200
tshort=$(jfield .fencing_token)
check "a lock is free once its TTL passes" wait_until 10 lock_free short
acquire short next
expect_status "an expired lock can be taken by another owner" 200
check "the new grant has a larger token" [ "$(jfield .fencing_token)" -gt "$tshort" ]

# ---------------------------------------------------------------- waiting
acquire queue holder
bg_acquire queue w1 20000 "$TEST_TMP/w1" & p1=$!
check "first waiter is queued" wait_until 10 waiters_are 1
bg_acquire queue w2 20000 "$TEST_TMP/w2" & p2=$!
check "second waiter is queued" wait_until 10 waiters_are 2
bg_acquire queue w3 20000 "$TEST_TMP/w3" & p3=$!
check "third waiter is queued" wait_until 10 waiters_are 3

release queue holder
wait $p1
check "the first waiter gets the lock on release" [ "$(cat "$TEST_TMP/w1.status")" = 200 ]
check "the first waiter's answer names it" [ "$(jq -r .owner "$TEST_TMP/w1.body")" = w1 ]
kcurl GET /v1/locks/queue
expect_json "the lock is the first waiter's" .owner w1
check "the others still wait" waiters_are 2
release queue w1
wait $p2
check "the second waiter comes next" [ "$(jq -r .owner "$TEST_TMP/w2.body")" = w2 ]
release queue w2
wait $p3
check "the third waiter comes last" [ "$(jq -r .owner "$TEST_TMP/w3.body")" = w3 ]
release queue w3

# a waiter whose client hangs up is dropped
acquire hangup holder
bg_acquire hangup quitter 20000 "$TEST_TMP/quitter" --max-time 1 & pq=$!
check "the quitter waits" wait_until 10 waiters_are 1
wait $pq
check "a waiter whose client went away is dropped" wait_until 10 waiters_are 0
bg_acquire hangup stayer 20000 "$TEST_TMP/stayer" & ps=$!
check "a later waiter waits" wait_until 10 waiters_are 1
release hangup holder
wait $ps
check "the lock goes to the waiter still there" [ "$(jq -r .owner "$TEST_TMP/stayer.body")" = stayer ]
kcurl GET /v1/locks/hangup
expect_json "the dropped waiter never got the lock" .owner stayer

# a wait that runs out answers lock_held
acquire busy holder
jcurl POST /v1/locks/busy/acquire '{"owner":"patient","ttl_ms":1000,"wait_ms":300}'
expect_status "a wait that runs out" 409
expect_json "it answers lock_held" .error.code lock_held
expect_json "with the holder" .owner holder
kcurl GET /v1/locks/busy
expect_json "the holder keeps the lock" .owner holder

# a wait ends early when the holder's TTL runs out
acquire expiring holder 400
jcurl POST /v1/locks/expiring/acquire '{"owner":"waiter","ttl_ms":5000,"wait_ms":10000}'
expect_status "a waiter gets the lock when the holder's TTL passes" 200
expect_json "the waiter holds it" .owner waiter

# ---------------------------------------------------------------- listing
for i in 1 2 3; do acquire "ls/l$i" o$i; done
kcurl GET "/v1/locks?prefix=ls/"
expect_status "list locks" 200
expect_json "held locks with the prefix" '.items | length' 3
expect_json "items carry the owner" '.items[0].owner' o1
expect_json "items carry the token" '.items[0].fencing_token | type' number
expect_json "items carry ttl_ms" '.items[0].ttl_ms | type' number
expect_json "no more" .more false
kcurl GET "/v1/locks?prefix=ls/&limit=2"
expect_json "paging: limit" '.items | length' 2
expect_json "paging: more" .more true
kcurl GET "/v1/locks?prefix=ls/&limit=2&after=ls/l2"
expect_json "paging: after" '.items[0].name' ls/l3
release ls/l2 o2
kcurl GET "/v1/locks?prefix=ls/"
expect_json "released locks are not listed" '.items | length' 2

kcurl GET /v1/locks/jobs/acquire
expect_status "GET of a name ending in acquire reads that lock" 404

metrics=$(curl -s "$KURL/metrics")
check "metrics count acquires" grep -q '^kahuna_http_requests_total{route="/v1/locks/{name}/acquire",method="POST",code="200"} [1-9]' <<<"$metrics"
check "metrics count lock_held" grep -q '^kahuna_http_requests_total{route="/v1/locks/{name}/acquire",method="POST",code="409"} [1-9]' <<<"$metrics"

# a clean stop answers a waiting acquire 503 instead of leaving it hanging
acquire last holder
bg_acquire last late 60000 "$TEST_TMP/late" & pl=$!
check "a waiter is queued before the stop" wait_until 10 waiters_are 1
stop_kahunad "$KPID"
check "kahunad stops cleanly with a waiter queued" [ $? = 0 ]
wait $pl
check "the waiter is answered 503 on stop" [ "$(cat "$TEST_TMP/late.status")" = 503 ]
check "the 503 is unavailable" [ "$(jq -r .error.code "$TEST_TMP/late.body")" = unavailable ]

done_testing
