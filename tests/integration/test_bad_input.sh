#!/usr/bin/env bash
# test_bad_input.sh: SPEC §6 "bad input of any kind gets a clear error and
# changes nothing; it never crashes a node", for the REST API. Each bad
# request gets the status and error body of SPEC §3 / docs/api.md; after
# all of them the store is unchanged (same revision, same values) and the
# node still serves.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
jcurl() { kcurl "$1" "$2" "${JSON[@]}" --data-binary "$3"; }

# refused NAME STATUS CODE: the last answer was STATUS with the error body
# shape {"error":{"code":CODE,"message":"..."}}.
refused() {
    expect_status "$1" "$2"
    expect_json "$1: error code" .error.code "$3"
    check "$1: error message" [ -n "$(jfield '.error.message // empty')" ]
}

# store_revision: the store-wide revision (from /v1/cluster).
store_revision() { curl -s "$KURL/v1/cluster" | jq -r .revision; }

start_kahunad n1 || { echo "kahunad did not start"; exit 1; }

# state that every bad request must leave alone
jcurl PUT /v1/kv/keep '{"value":"original"}'
keep_rev=$(jfield .revision)
jcurl POST /v1/locks/held/acquire '{"owner":"alice","ttl_ms":600000}'
lock_tok=$(jfield .fencing_token)
kcurl POST /v1/sequences/counter/next
rev0=$(store_revision)

# ---------------------------------------------------------------- JSON
jcurl PUT /v1/kv/keep '{"value":'
refused "truncated JSON" 400 bad_request
jcurl PUT /v1/kv/keep 'not json at all'
refused "not JSON" 400 bad_request
jcurl PUT /v1/kv/keep '["value","x"]'
refused "a JSON array instead of an object" 400 bad_request
jcurl PUT /v1/kv/keep '"x"'
refused "a JSON string instead of an object" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"a","value":"b"}'
refused "duplicate JSON fields" 400 bad_request
printf '{"value":"\377"}' >"$TEST_TMP/badutf8"
kcurl PUT /v1/kv/keep "${JSON[@]}" --data-binary @"$TEST_TMP/badutf8"
refused "JSON that is not UTF-8" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x"} trailing'
refused "JSON with trailing garbage" 400 bad_request
jcurl PUT /v1/kv/keep ''
refused "an empty JSON body" 400 bad_request

# ---------------------------------------------------------------- types and fields
jcurl PUT /v1/kv/keep '{"value":5}'
refused "value of the wrong type" 400 bad_request
check "the message names value" grep -q value <<<"$(jfield .error.message)"
jcurl PUT /v1/kv/keep '{"value":"x","ttl_ms":"10s"}'
refused "ttl_ms as a string" 400 bad_request
check "the message names ttl_ms" grep -q ttl_ms <<<"$(jfield .error.message)"
jcurl PUT /v1/kv/keep '{"value":"x","ttl_ms":1.5}'
refused "ttl_ms as a fraction" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x","if_not_exists":"yes"}'
refused "a condition of the wrong type" 400 bad_request
jcurl PUT /v1/kv/keep '{"ttl_ms":1000}'
refused "put without value" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x","value_base64":"eA=="}'
refused "value and value_base64 together" 400 bad_request
jcurl PUT /v1/kv/keep '{"value_base64":"not base64!"}'
refused "invalid base64" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x","if_exists":true,"if_not_exists":true}'
refused "contradictory conditions" 400 bad_request
jcurl PATCH /v1/kv/keep '{}'
refused "patch without ttl_ms" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"ttl_ms":1000}'
refused "acquire without owner" 400 bad_request
check "the message names owner" grep -q owner <<<"$(jfield .error.message)"
jcurl POST /v1/locks/held/acquire '{"owner":"bob"}'
refused "acquire without ttl_ms" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"owner":42,"ttl_ms":1000}'
refused "owner of the wrong type" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"owner":"","ttl_ms":1000}'
refused "an empty owner" 400 bad_request
jcurl POST /v1/locks/held/release '{}'
refused "release without owner" 400 bad_request
jcurl PUT /v1/sequences/counter '{"force":true}'
refused "sequence set without value" 400 bad_request
jcurl PUT /v1/sequences/counter '{"value":"9"}'
refused "sequence value as a string" 400 bad_request

# ---------------------------------------------------------------- ranges
jcurl PUT /v1/kv/keep '{"value":"x","ttl_ms":-1}'
refused "a negative TTL" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x","ttl_ms":99999999999999}'
refused "a huge TTL" 400 bad_request
jcurl PUT /v1/kv/keep '{"value":"x","ttl_ms":123456789012345678901234567890}'
refused "a TTL past 64 bits" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"owner":"bob","ttl_ms":0}'
refused "a zero lock TTL" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"owner":"bob","ttl_ms":-5}'
refused "a negative lock TTL" 400 bad_request
jcurl POST /v1/locks/held/acquire '{"owner":"bob","ttl_ms":1000,"wait_ms":-1}'
refused "a negative wait" 400 bad_request
jcurl POST /v1/locks/held/extend '{"owner":"alice","ttl_ms":0}'
refused "a zero extend TTL" 400 bad_request
jcurl POST /v1/sequences/counter/next '{"count":0}'
refused "count 0" 400 bad_request
jcurl POST /v1/sequences/counter/next '{"count":-1}'
refused "a negative count" 400 bad_request
jcurl POST /v1/sequences/counter/next '{"count":1000000000}'
refused "a huge count" 400 bad_request
jcurl PUT /v1/sequences/counter '{"value":-3}'
refused "a negative sequence value" 400 bad_request
jcurl POST /v1/sequences/counter/next '{"idempotency_key":""}'
refused "an empty idempotency key" 400 bad_request
kcurl PATCH "/v1/kv/keep?ttl_ms=-1"
refused "a negative TTL in the query" 400 bad_request
kcurl GET "/v1/kv/keep?revision=abc"
refused "a revision that is not a number" 400 bad_request
kcurl GET "/v1/kv/keep?revision=0"
refused "revision 0" 400 bad_request
kcurl GET "/v1/kv?limit=0"
refused "limit 0" 400 bad_request
kcurl GET "/v1/kv?limit=100000"
refused "a limit over the maximum" 400 bad_request
kcurl GET "/v1/kv/keep?encoding=rot13"
refused "an unknown encoding" 400 bad_request
kcurl GET "/v1/kv/keep?consistency=maybe"
refused "an unknown consistency" 400 bad_request
kcurl PUT "/v1/kv/keep?if_exists=perhaps" -H 'Content-Type: text/plain' --data-binary x
refused "a query flag that is not a boolean" 400 bad_request

# ---------------------------------------------------------------- sizes
key4097=$(head -c 4097 /dev/zero | tr '\0' k)
jcurl PUT "/v1/kv/$key4097" '{"value":"x"}'
refused "a key over 4096 bytes" 413 too_large
kcurl GET "/v1/kv/$key4097"
refused "reading a key over 4096 bytes" 413 too_large
jcurl POST "/v1/locks/$key4097/acquire" '{"owner":"o","ttl_ms":1000}'
refused "a lock name over 4096 bytes" 413 too_large
head -c $((1024 * 1024 + 1)) /dev/zero >"$TEST_TMP/big"
kcurl PUT /v1/kv/keep -H 'Content-Type: application/octet-stream' --data-binary @"$TEST_TMP/big"
refused "a raw value over 1 MiB" 413 too_large
{ printf '{"value_base64":"'; base64 -w0 <"$TEST_TMP/big"; printf '"}'; } >"$TEST_TMP/big.json"
kcurl PUT /v1/kv/keep "${JSON[@]}" --data-binary @"$TEST_TMP/big.json"
refused "a value_base64 over 1 MiB" 413 too_large
owner257=$(head -c 257 /dev/zero | tr '\0' o)
jcurl POST /v1/locks/held/acquire "{\"owner\":\"$owner257\",\"ttl_ms\":1000}"
refused "an owner over 256 bytes" 413 too_large
head -c $((3 * 1024 * 1024)) /dev/zero >"$TEST_TMP/huge"
kcurl PUT /v1/kv/keep -H 'Content-Type: application/octet-stream' --data-binary @"$TEST_TMP/huge"
refused "a body over the limit" 413 too_large
kcurl PUT /v1/kv/keep -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$TEST_TMP/huge"
refused "a chunked body over the limit" 413 too_large

# ---------------------------------------------------------------- URLs
kcurl GET "/v1/kv/bad%zzescape"
refused "an invalid percent escape in a key" 400 bad_request
kcurl GET "/v1/kv/bad%4"
refused "a truncated percent escape" 400 bad_request
kcurl GET "/v1/kv?prefix=%GG"
refused "an invalid percent escape in the query" 400 bad_request
jcurl POST "/v1/locks//acquire" '{"owner":"o","ttl_ms":1000}'
refused "an empty lock name" 400 bad_request
kcurl GET /v2/kv/keep
refused "an unknown API version" 404 not_found
kcurl GET /nowhere
refused "an unknown route" 404 not_found
kcurl GET /
refused "the root" 404 not_found
kcurl POST /v1/kv/keep "${JSON[@]}" --data-binary '{"value":"x"}'
refused "POST on a key" 405 bad_request
hdrs=$(curl -s -D - -o /dev/null -X POST "$KURL/v1/kv/keep")
check "405 says what is allowed" grep -qi '^Allow: GET, HEAD, PUT, DELETE, PATCH' <<<"$hdrs"
kcurl DELETE /v1/kv
refused "DELETE on the key collection" 405 bad_request
kcurl PUT /v1/locks/held "${JSON[@]}" --data-binary '{}'
refused "PUT on a lock" 405 bad_request
kcurl POST /v1/locks/held/steal "${JSON[@]}" --data-binary '{"owner":"bob"}'
refused "an unknown lock action" 405 bad_request
kcurl BREW /v1/kv/keep
refused "an unknown method" 405 bad_request
kcurl GET /v1/cluster/members
refused "GET on members" 405 bad_request

# ---------------------------------------------------------------- not the owner
jcurl POST /v1/locks/held/release '{"owner":"mallory"}'
refused "a lock released by another owner" 409 not_owner
jcurl POST /v1/locks/held/extend '{"owner":"mallory","ttl_ms":1000}'
refused "a lock extended by another owner" 409 not_owner
jcurl POST /v1/locks/held/acquire '{"owner":"mallory","ttl_ms":1000}'
refused "a held lock taken by another owner" 409 lock_held

# ---------------------------------------------------------------- HTTP garbage
if exec 3<>"/dev/tcp/127.0.0.1/$KPORT"; then
    printf 'THIS IS NOT HTTP\r\n\r\n' >&3
    reply=$(timeout 5 head -c 200 <&3)
    exec 3>&-
    check "a request line that is not HTTP gets an HTTP error" grep -q '^HTTP/1.1 [45]' <<<"$reply"
fi
if exec 3<>"/dev/tcp/127.0.0.1/$KPORT"; then
    printf 'PUT /v1/kv/keep HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort' >&3
    exec 3>&-
fi

# ---------------------------------------------------------------- nothing changed
check "bad requests took no revision" [ "$(store_revision)" = "$rev0" ]
kcurl GET /v1/kv/keep
expect_json "the key kept its value" .value original
expect_json "the key kept its revision" .revision "$keep_rev"
kcurl GET /v1/locks/held
expect_json "the lock kept its owner" .owner alice
expect_json "the lock kept its token" .fencing_token "$lock_tok"
kcurl GET /v1/sequences/counter
expect_json "the sequence kept its value" .value 1
for k in "$key4097" bad; do
    check "no key was created" [ "$(curl -s -o /dev/null -w '%{http_code}' "$KURL/v1/kv/$k")" != 200 ]
done

# ---------------------------------------------------------------- still serving
kcurl GET /health
expect_status "the node still serves" 200
jcurl PUT /v1/kv/after '{"value":"fine"}'
expect_status "the node still takes writes" 200
kcurl GET /v1/kv/after
expect_json "and reads" .value fine
check "the node process is alive" kill -0 "$KPID"

done_testing
