#!/bin/bash
# test_cluster_restart_all.sh: an acknowledged write survives the crash of
# all nodes at once (SPEC §6). Keys, a lock and a sequence are written, and
# writers keep going (key writes and seq next) when all three nodes are
# killed with SIGKILL together; the three restart on their data dirs; every
# acknowledged key is there with its value on every node, the revision did
# not go backwards, the lock keeps its owner and token, fencing tokens and
# sequence values go on increasing, and no sequence value is handed out
# twice across the crash.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader

# ---- state before the crash ----
for k in $(seq 1 60); do
    i=$((k % 3 + 1))
    ccurl "$i" PUT "/v1/kv/all/seq-$k" "${JSON[@]}" -d "{\"value\": \"v$k\"}"
    [ "$HTTP_STATUS" = 200 ] && echo "all/seq-$k v$k" >>"$TEST_TMP/acked.sequential"
done
check "60 sequential writes acknowledged" [ "$(wc -l <"$TEST_TMP/acked.sequential")" = 60 ]
ccurl 1 POST /v1/locks/all/held/acquire "${JSON[@]}" -d '{"owner": "keeper", "ttl_ms": 600000}'
expect_status "a lock with a long TTL" 200
token_held=$(jfield .fencing_token)
ccurl 2 POST /v1/locks/all/cycled/acquire "${JSON[@]}" -d '{"owner": "a", "ttl_ms": 600000}'
ccurl 2 POST /v1/locks/all/cycled/release "${JSON[@]}" -d '{"owner": "a"}'
expect_status "a lock acquired and released" 200
ccurl 3 POST /v1/sequences/all/ids/next "${JSON[@]}" -d '{"count": 10}'
expect_status "seq next 10" 200

# seq_writer URL: seq next until $TEST_TMP/stop; records each acknowledged
# value range "value last" in seqs.acked.
seq_writer() {
    local url=$1 out code
    while keep_going; do
        out=$(curl -s --max-time 5 -w '\n%{http_code}' -X POST "$url/v1/sequences/all/ids/next")
        code=${out##*$'\n'}
        if [ "$code" = 200 ]; then
            printf '%s' "${out%$'\n'*}" | jq -r '"\(.value) \(.last)"' >>"$TEST_TMP/seqs.acked"
        else
            sleep 0.05
        fi
    done
}
echo "1 10" >"$TEST_TMP/seqs.acked"
kv_writer w1 all/burst "$(node_url 1)" "$(node_url 2)" "$(node_url 3)" &
wp1=$!
kv_writer w2 all/burst "$(node_url 2)" "$(node_url 3)" "$(node_url 1)" &
wp2=$!
seq_writer "$(node_url 3)" &
wp3=$!
seq_writer "$(node_url 1)" &
wp4=$!
check "the writers get acknowledgements" wait_until 20 at_least_acked 160
seq_acked() { [ "$(wc -l <"$TEST_TMP/seqs.acked")" -ge 20 ]; }
check "seq next gets acknowledgements" wait_until 20 seq_acked
rev_before=$(curl -s "$(node_url 1)/v1/cluster" | jq -r .revision)

# ---- kill -9 all three at once ----
kill -KILL "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}"
for i in 1 2 3; do kill_node "$i"; done
touch "$TEST_TMP/stop"
wait "$wp1" "$wp2" "$wp3" "$wp4"
echo "# killed all three after $(acked_count) acknowledged writes, $(wc -l <"$TEST_TMP/seqs.acked") seq ranges" >&2
rm -f "$TEST_TMP/stop"

for i in 1 2 3; do restart_node "$i"; done
for i in 1 2 3; do
    check "n$i is ready after the restart" wait_node_ready "$i" 30
done
check "a leader is elected after the restart" wait_leader

# ---- everything is there ----
for i in 1 2 3; do
    check "n$i has every acknowledged key after a linearizable read" \
        has_value "$i" all/seq-60 v60
done
check "the nodes converge" wait_until 20 applied_equal 1 2 3
for i in 1 2 3; do
    missing_acked "$i" all/
    check "n$i has every acknowledged write with its value ($MISSING missing)" [ "$MISSING" = 0 ]
    [ "$MISSING" = 0 ] || head -5 "$TEST_TMP/missing.$i" >&2
    applied_refused "$i" all/
    check "n$i has no write that was answered 503 ($APPLIED_REFUSED applied)" [ "$APPLIED_REFUSED" = 0 ]
done
check "the three nodes hold the same state" same_state all/ 1 2 3

ccurl "$LEADER_I" PUT /v1/kv/all/after "${JSON[@]}" -d '{"value": "after"}'
expect_status "a write after the restart" 200
check "the revision did not go backwards ($(jfield .revision) > $rev_before)" \
    [ "$(jfield .revision)" -gt "$rev_before" ]

for i in 1 2 3; do
    ccurl "$i" GET /v1/locks/all/held
    expect_status "n$i: the lock is still held" 200
    expect_json "n$i: by its owner" .owner keeper
    expect_json "n$i: with its token" .fencing_token "$token_held"
done
ccurl 2 POST /v1/locks/all/held/acquire "${JSON[@]}" -d '{"owner": "thief", "ttl_ms": 1000}'
expect_status "another owner is refused" 409
ccurl 3 POST /v1/locks/all/cycled/acquire "${JSON[@]}" -d '{"owner": "b", "ttl_ms": 60000}'
expect_status "acquire the released lock after the restart" 200
check "its fencing token increased ($(jfield .fencing_token) > 1)" [ "$(jfield .fencing_token)" -gt 1 ]

# sequence: values after the restart above every value handed out before
max_before=$(awk '$2 > m { m = $2 } END { print m }' "$TEST_TMP/seqs.acked")
ccurl 1 GET /v1/sequences/all/ids
check "the sequence kept at least what it acknowledged ($(jfield .value) >= $max_before)" \
    [ "$(jfield .value)" -ge "$max_before" ]
for i in 1 2 3 1 2 3; do
    ccurl "$i" POST /v1/sequences/all/ids/next
    expect_status "seq next on n$i after the restart" 200
    v=$(jfield .value)
    check "seq value $v above every value handed out before ($max_before)" [ "$v" -gt "$max_before" ]
    echo "$v $v" >>"$TEST_TMP/seqs.acked"
done
dups=$(awk '{ for (v = $1; v <= $2; v++) print v }' "$TEST_TMP/seqs.acked" | sort -n | uniq -d | wc -l)
check "no sequence value was handed out twice ($dups duplicates)" [ "$dups" = 0 ]

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
