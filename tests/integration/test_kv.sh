#!/usr/bin/env bash
# test_kv.sh: the key/value REST API of SPEC §3 against a real kahunad:
# writes and their conditions, TTLs (expiry, PATCH), history and
# ?revision, listings with paging, raw and base64 values with binary bytes,
# HEAD, percent-encoded keys, stale reads, the leader header and metrics.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')

# jcurl METHOD PATH JSON: a request with a JSON body.
jcurl() { kcurl "$1" "$2" "${JSON[@]}" --data-binary "$3"; }

# in_range N LO HI: LO <= N <= HI (integers).
in_range() { [ "$1" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]; }

# gone PATH: 0 when GET PATH answers 404.
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$KURL$1")" = 404 ]; }

start_kahunad n1 || { echo "kahunad did not start"; exit 1; }

# ---------------------------------------------------------------- put/get
jcurl PUT /v1/kv/greeting '{"value":"hello"}'
expect_status "put creates a key" 200
expect_json "put answers the key" .key greeting
expect_json "a new key has version 1" .version 1
rev1=$(jfield .revision)
check "put returns a positive revision" [ "$rev1" -gt 0 ]

kcurl GET /v1/kv/greeting
expect_status "get an existing key" 200
expect_json "get returns the value" .value hello
expect_json "get returns the revision of the last write" .revision "$rev1"
expect_json "get returns create_revision" .create_revision "$rev1"
expect_json "get returns the version" .version 1
expect_json "a key without TTL has no ttl_ms" '.ttl_ms // "none"' none

jcurl PUT /v1/kv/greeting '{"value":"hello again"}'
rev2=$(jfield .revision)
check "revisions strictly increase" [ "$rev2" -gt "$rev1" ]
expect_json "version counts the writes" .version 2
kcurl GET /v1/kv/greeting
expect_json "create_revision stays the first write's" .create_revision "$rev1"
expect_json "revision is the last write's" .revision "$rev2"

jcurl PUT /v1/kv/other '{"value":"x"}'
check "the revision is store-wide" [ "$(jfield .revision)" -gt "$rev2" ]

kcurl GET /v1/kv/missing
expect_status "get a missing key" 404
expect_json "missing key error code" .error.code not_found

# ---------------------------------------------------------------- conditions
jcurl PUT /v1/kv/cond '{"value":"v1"}'
crev=$(jfield .revision)
jcurl PUT /v1/kv/cond '{"value":"v2","if_not_exists":true}'
expect_status "if_not_exists on an existing key" 409
expect_json "condition_failed code" .error.code condition_failed
expect_json "condition_failed carries the current revision" .revision "$crev"
jcurl PUT /v1/kv/cond-new '{"value":"n","if_not_exists":true}'
expect_status "if_not_exists on an absent key" 200
jcurl PUT /v1/kv/cond-absent '{"value":"n","if_exists":true}'
expect_status "if_exists on an absent key" 409
expect_json "an absent key's current revision is 0" .revision 0
kcurl GET /v1/kv/cond-absent
expect_status "a failed if_exists creates nothing" 404
jcurl PUT /v1/kv/cond '{"value":"v2","if_exists":true}'
expect_status "if_exists on an existing key" 200
crev=$(jfield .revision)
jcurl PUT /v1/kv/cond "{\"value\":\"v3\",\"if_revision\":$((crev - 1))}"
expect_status "if_revision that does not match" 409
expect_json "if_revision failure carries the current revision" .revision "$crev"
jcurl PUT /v1/kv/cond "{\"value\":\"v3\",\"if_revision\":$crev}"
expect_status "if_revision that matches" 200
jcurl PUT /v1/kv/cond '{"value":"v4","if_value":"not-v3"}'
expect_status "if_value that does not match" 409
jcurl PUT /v1/kv/cond '{"value":"v4","if_value":"v3"}'
expect_status "if_value that matches" 200
kcurl GET /v1/kv/cond
expect_json "failed conditions changed nothing" .value v4
expect_json "the key took exactly the successful writes" .version 4

# ---------------------------------------------------------------- TTL
jcurl PUT /v1/kv/ephemeral '{"value":"soon gone","ttl_ms":400}'
expect_status "put with a TTL" 200
kcurl GET /v1/kv/ephemeral
ttl=$(jfield .ttl_ms)
check "get reports the remaining ttl_ms" in_range "$ttl" 1 400
check "a key disappears when its TTL passes" wait_until 10 gone /v1/kv/ephemeral
kcurl GET /v1/kv?prefix=ephemeral
expect_json "an expired key is not listed" '.items | length' 0

jcurl PUT /v1/kv/patched '{"value":"keep me"}'
prev=$(jfield .revision)
jcurl PATCH /v1/kv/patched '{"ttl_ms":60000}'
expect_status "patch sets a TTL" 200
kcurl GET /v1/kv/patched
expect_json "patch keeps the value" .value "keep me"
expect_json "patch keeps the version" .version 1
ttl=$(jfield .ttl_ms)
check "patched key has a TTL" in_range "$ttl" 1 60000
jcurl PATCH /v1/kv/patched '{"ttl_ms":0}'
expect_status "patch with 0 removes the TTL" 200
kcurl GET /v1/kv/patched
expect_json "no TTL after patch 0" '.ttl_ms // "none"' none
expect_json "value unchanged after patches" .value "keep me"
jcurl PATCH /v1/kv/patched '{"ttl_ms":300}'
check "a patched short TTL expires the key" wait_until 10 gone /v1/kv/patched
jcurl PATCH /v1/kv/never-there '{"ttl_ms":1000}'
expect_status "patch of a missing key" 404
kcurl PATCH "/v1/kv/greeting?ttl_ms=60000"
expect_status "patch takes ttl_ms from the query string too" 200

# ---------------------------------------------------------------- delete
jcurl PUT /v1/kv/del '{"value":"d"}'
drev=$(jfield .revision)
kcurl DELETE "/v1/kv/del?if_revision=$((drev + 1000))"
expect_status "delete with a wrong if_revision" 409
kcurl GET /v1/kv/del
expect_status "a failed delete keeps the key" 200
kcurl DELETE "/v1/kv/del?if_revision=$drev"
expect_status "delete with the right if_revision" 200
expect_json "delete answers the key" .key del
check "delete returns a newer revision" [ "$(jfield .revision)" -gt "$drev" ]
kcurl GET /v1/kv/del
expect_status "a deleted key is gone" 404
kcurl DELETE /v1/kv/del
expect_status "delete of a missing key" 404
jcurl PUT /v1/kv/del2 '{"value":"d"}'
kcurl DELETE /v1/kv/del2
expect_status "delete without condition" 200

# ---------------------------------------------------------------- HEAD
out=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "$KURL/v1/kv/greeting")
check "head of an existing key is 200 without body" [ "$out" = "200 0" ]
out=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "$KURL/v1/kv/missing")
check "head of a missing key is 404 without body" [ "$out" = "404 0" ]

# ---------------------------------------------------------------- history
for i in $(seq 1 20); do
    jcurl PUT /v1/kv/hist "{\"value\":\"v$i\"}"
    eval "hrev$i=$(jfield .revision)"
done
kcurl GET "/v1/kv/hist?history"
expect_status "history" 200
n=$(jfield '.items | length')
check "history keeps at least the last 16 versions" [ "$n" -ge 16 ]
expect_json "history is newest first" '.items[0].value' v20
expect_json "history item carries its revision" '.items[0].revision' "$hrev20"
expect_json "history items are not deleted" '.items[0].deleted' false
expect_json "history second item" '.items[1].value' v19
kcurl GET "/v1/kv/hist?revision=$hrev18"
expect_status "get at a kept revision" 200
expect_json "value at that revision" .value v18
kcurl GET "/v1/kv/hist?revision=$hrev1"
expect_status "get at a revision older than the kept history" 410
expect_json "compacted code" .error.code compacted
kcurl GET "/v1/kv/hist?revision=999999999"
expect_status "get at a future revision" 400
kcurl DELETE /v1/kv/hist
kcurl GET "/v1/kv/hist?history"
expect_json "history shows the delete first" '.items[0].deleted' true
kcurl GET "/v1/kv/hist?revision=$hrev20"
expect_json "an old revision of a deleted key is still readable" .value v20

# ---------------------------------------------------------------- listing
for i in $(seq -w 1 25); do jcurl PUT "/v1/kv/list/k$i" "{\"value\":\"$i\"}"; done
jcurl PUT /v1/kv/listx '{"value":"not in the prefix"}'
kcurl GET "/v1/kv?prefix=list/&limit=10"
expect_status "list a prefix" 200
expect_json "page 1 is full" '.items | length' 10
expect_json "page 1 says more" .more true
expect_json "items are ordered by key" '.items[0].key' list/k01
expect_json "items carry values" '.items[0].value' 01
last=$(jfield '.items[-1].key')
kcurl GET "/v1/kv?prefix=list/&limit=10&after=$last"
expect_json "page 2 starts after the last key seen" '.items[0].key' list/k11
last=$(jfield '.items[-1].key')
kcurl GET "/v1/kv?prefix=list/&limit=10&after=$last"
expect_json "page 3 has the rest" '.items | length' 5
expect_json "page 3 says no more" .more false
kcurl GET "/v1/kv?prefix=list/&keys_only"
expect_json "keys_only lists all 25 keys" '.items | length' 25
expect_json "keys_only leaves values out" '.items[0].value // "none"' none
kcurl GET "/v1/kv?prefix=list"
expect_json "a prefix matches bytewise" '.items | length' 26
kcurl GET "/v1/kv/?prefix=list/k2"
expect_json "the collection with a trailing slash lists too" '.items | length' 6

# ---------------------------------------------------------------- binary values
printf 'bin\000ary\377\376 data\n' >"$TEST_TMP/bin"
kcurl PUT /v1/kv/bin -H 'Content-Type: application/octet-stream' --data-binary @"$TEST_TMP/bin"
expect_status "raw put of binary bytes" 200
kcurl GET /v1/kv/bin
want=$(base64 -w0 <"$TEST_TMP/bin")
expect_json "binary values come back as value_base64" .value_base64 "$want"
expect_json "no text value for binary bytes" '.value // "none"' none
curl -s -o "$TEST_TMP/bin.out" "$KURL/v1/kv/bin?raw"
check "raw read returns the exact bytes" cmp -s "$TEST_TMP/bin" "$TEST_TMP/bin.out"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$KURL/v1/kv/bin?raw")
check "raw read is application/octet-stream" [ "$ctype" = application/octet-stream ]
hdrs=$(curl -s -D - -o /dev/null "$KURL/v1/kv/bin?raw")
check "raw read carries the revision header" grep -qi '^X-Kahuna-Revision: [0-9]' <<<"$hdrs"

jcurl PUT /v1/kv/b64 "{\"value_base64\":\"$want\"}"
expect_status "put value_base64" 200
curl -s -o "$TEST_TMP/b64.out" "$KURL/v1/kv/b64?raw"
check "value_base64 is stored as bytes" cmp -s "$TEST_TMP/bin" "$TEST_TMP/b64.out"
kcurl GET "/v1/kv/greeting?encoding=base64"
expect_json "encoding=base64 forces value_base64" .value_base64 "$(printf 'hello again' | base64 -w0)"
jcurl PUT /v1/kv/utf8 '{"value":"h\u00e9llo \u2603 \u0000end"}'
kcurl GET /v1/kv/utf8
expect_json "UTF-8 text with NUL comes back as value" '.value | length' 12

printf 'plain text' | curl -s -o /dev/null -X PUT -H 'Content-Type: text/plain' --data-binary @- "$KURL/v1/kv/rawtext?ttl_ms=60000"
kcurl GET /v1/kv/rawtext
expect_json "a non-JSON put stores its body" .value "plain text"
check "a non-JSON put takes ttl_ms from the query" [ "$(jfield .ttl_ms)" -gt 0 ]
kcurl PUT "/v1/kv/rawtext?if_not_exists" -H 'Content-Type: text/plain' --data-binary 'other'
expect_status "a non-JSON put takes conditions from the query" 409
kcurl PUT "/v1/kv/rawtext?if_value=plain%20text" -H 'Content-Type: text/plain' --data-binary 'replaced'
expect_status "if_value from the query is percent-decoded" 200
kcurl PUT /v1/kv/empty -H 'Content-Type: application/octet-stream' --data-binary ''
expect_status "an empty value is allowed" 200
kcurl GET /v1/kv/empty
expect_json "the empty value reads back" .value ""

# ---------------------------------------------------------------- keys
jcurl PUT "/v1/kv/app/db%2Furl%20x" '{"value":"p"}'
expect_json "percent-encoding in keys is decoded" .key "app/db/url x"
kcurl GET "/v1/kv/app/db/url%20x"
expect_json "slash or %2F name the same key" .value p
jcurl PUT "/v1/kv/%C3%A9t%C3%A9" '{"value":"summer"}'
expect_json "UTF-8 keys" .key "été"
jcurl PUT "/v1/kv/bad%FFkey" '{"value":"v"}'
expect_status "a key that is not UTF-8 is allowed" 200
expect_json "it is answered as key_base64" .key_base64 "$(printf 'bad\377key' | base64 -w0)"

# ---------------------------------------------------------------- stale, headers
kcurl GET "/v1/kv/greeting?consistency=stale"
expect_status "a stale read" 200
expect_json "a stale read returns the value" .value "hello again"
hdrs=$(curl -s -D - -o /dev/null "$KURL/v1/kv/greeting")
check "responses carry X-Kahuna-Leader" grep -qi '^X-Kahuna-Leader: n1' <<<"$hdrs"
hdrs=$(curl -s -D - -o /dev/null "$KURL/v1/kv/missing")
check "errors carry X-Kahuna-Leader too" grep -qi '^X-Kahuna-Leader: n1' <<<"$hdrs"

# ---------------------------------------------------------------- metrics
metrics=$(curl -s "$KURL/metrics")
check "metrics count kv puts by route" grep -q '^kahuna_http_requests_total{route="/v1/kv/{key}",method="PUT",code="200"} [1-9]' <<<"$metrics"
check "metrics count 404s" grep -q '^kahuna_http_requests_total{route="/v1/kv/{key}",method="GET",code="404"} [1-9]' <<<"$metrics"
check "metrics count listings" grep -q '^kahuna_http_requests_total{route="/v1/kv",method="GET",code="200"} [1-9]' <<<"$metrics"
check "metrics never label by key" bash -c '! grep -q greeting <<<"$1"' _ "$metrics"

done_testing
