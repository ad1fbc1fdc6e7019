#!/bin/bash
# test_cluster_partition.sh: network partitions, made with the test-only
# fault switch (KAHUNA_TEST_FAULTS=1, POST /raft/v1/test/block).
# 1. A follower cut off from the others (a minority) answers writes and
#    linearizable reads with 503 and Retry-After, quickly; the majority goes
#    on taking writes; once healed, the follower catches up.
# 2. The leader cut off from the others: the majority elects a new leader
#    and takes writes; the old leader never acknowledges a write (it cannot
#    reach a majority: 503 or 504) and never serves a stale read; once
#    healed it follows the new leader and every node holds the same state.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
# one_of VALUE WANT...: VALUE is one of the WANTs.
one_of() {
    local v=$1 w
    shift
    for w in "$@"; do [ "$v" = "$w" ] && return 0; done
    return 1
}

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader
L=$LEADER_I
F=$(a_follower)
for i in 1 2 3; do [ "$i" != "$L" ] && [ "$i" != "$F" ] && O=$i; done
check "a write before the partition" put_ok "$F" part/k before
check "n$F has applied it" wait_until 10 has_value "$F" part/k before stale

# ---- 1. a minority follower ----
check "cut n$F off from the others" isolate "$F"
no_leader() { [ "$(node_view "$F" | jq -r .leader)" = null ]; }
check "n$F soon knows it has no leader" wait_until 10 no_leader
# the majority goes on
for i in $L $O; do
    check "the majority takes writes on n$i" put_ok "$i" "part/m1-n$i" "v$i"
done
check "the leader did not change (n$L)" [ "$(cluster_leader "n$F")" = "n$L" ]

t=$(now_ms)
CCURL_TIMEOUT=10 ccurl "$F" PUT /v1/kv/part/minority "${JSON[@]}" -d '{"value": "x"}'
dt=$(($(now_ms) - t))
expect_status "a write on the cut-off follower" 503
expect_json "it is unavailable" .error.code unavailable
check "it answers quickly (${dt} ms < 3000)" [ "$dt" -lt 3000 ]
check "with Retry-After" grep -qi '^retry-after:' "$HTTP_HEADERS"
t=$(now_ms)
ccurl "$F" GET /v1/kv/part/k
dt=$(($(now_ms) - t))
expect_status "a linearizable read on the cut-off follower" 503
check "it answers quickly (${dt} ms < 3000)" [ "$dt" -lt 3000 ]
ccurl "$F" POST /v1/locks/part/l/acquire "${JSON[@]}" -d '{"owner": "x", "ttl_ms": 1000}'
expect_status "a lock acquire on the cut-off follower" 503
ccurl "$F" POST /v1/sequences/part/s/next
expect_status "seq next on the cut-off follower" 503
ccurl "$F" GET "/v1/kv/part/k?consistency=stale"
expect_status "a stale read is still served" 200
expect_json "from its local state" .value before
ccurl "$F" GET /ready
expect_status "the cut-off follower is not ready" 503
check "the health check still answers" curl -sf --max-time 2 -o /dev/null "$(node_url "$F")/health"

ccurl "$L" GET /v1/kv/part/minority
expect_status "the refused write did not happen" 404

check "heal" heal_all
check "n$F follows the leader again" wait_leader
check "the leader is still n$L ($LEADER)" [ "$LEADER" = "n$L" ]
check "n$F catches up with the writes it missed" wait_until 10 has_value "$F" "part/m1-n$L" "v$L" stale
check "n$F takes writes again" wait_until 10 put_ok "$F" part/m1-after healed
check "n$F reads linearizably again" has_value "$F" part/m1-after healed

# ---- 2. the leader cut off ----
old=$LEADER
old_i=$LEADER_I
check "k = v1 through the leader" put_ok "$old_i" part/k v1
check "cut the leader n$old_i off from the others" isolate "$old_i"
# writes given to the old leader at once, while it still believes it leads
isopids=()
for r in 1 2 3; do
    curl -s --max-time 15 -o /dev/null -w '%{http_code}' -X PUT "${JSON[@]}" \
        -d "{\"value\": \"lost-$r\"}" "$(node_url "$old_i")/v1/kv/part/iso-$r" \
        >"$TEST_TMP/iso.$r.status" &
    isopids+=($!)
done
check "the majority elects a new leader" wait_leader "$old"
new_i=$LEADER_I
check "the new leader is not the cut-off one ($LEADER)" [ "$LEADER" != "$old" ]
for i in 1 2 3; do
    [ "$i" = "$old_i" ] && continue
    check "the majority takes writes on n$i" wait_until 10 put_ok "$i" "part/m2-n$i" "v$i"
done
check "k = v2 through the new leader" put_ok "$new_i" part/k v2

# the old leader: never a stale read, never an acknowledged write
t=$(now_ms)
CCURL_TIMEOUT=15 ccurl "$old_i" GET /v1/kv/part/k
dt=$(($(now_ms) - t))
not_v1() { [ "$HTTP_STATUS" != 200 ] || [ "$(jfield .value)" != v1 ]; }
check "a linearizable read on the cut-off old leader never answers v1 (status $HTTP_STATUS)" not_v1
check "it is a 503 (got $HTTP_STATUS)" [ "$HTTP_STATUS" = 503 ]
check "in time (${dt} ms < 3000)" [ "$dt" -lt 3000 ]
for r in 4 5; do
    CCURL_TIMEOUT=15 ccurl "$old_i" PUT "/v1/kv/part/iso-$r" "${JSON[@]}" -d "{\"value\": \"lost-$r\"}"
    echo "$HTTP_STATUS" >"$TEST_TMP/iso.$r.status"
done
wait "${isopids[@]}"
for r in 1 2 3 4 5; do
    s=$(cat "$TEST_TMP/iso.$r.status")
    check "write $r on the cut-off old leader is not acknowledged (503 or 504, got $s)" \
        one_of "$s" 503 504
    echo "$s" >"$TEST_TMP/iso.$r.final"
done

# ---- heal: everybody converges on the new leader's history ----
check "heal" heal_all
check "one leader for all three" wait_leader
check "it is the majority's leader" [ "$LEADER_I" = "$new_i" ]
follows() { [ "$(node_view "$old_i" | jq -r '"\(.role) \(.leader)"')" = "follower $LEADER" ]; }
check "the old leader follows" wait_until 10 follows
check "the old leader reads k = v2" has_value "$old_i" part/k v2
check "the nodes converge" wait_until 20 applied_equal 1 2 3
check "the three nodes hold the same state" same_state part/ 1 2 3
for r in 1 2 3 4 5; do
    case "$(cat "$TEST_TMP/iso.$r.final")" in
    200) # none was (checked above); were it so, it would have to be there
        check "acknowledged write $r survived" has_value "$L" "part/iso-$r" "lost-$r" ;;
    503) # 503 promises the write did not happen
        for i in 1 2 3; do
            ccurl "$i" GET "/v1/kv/part/iso-$r"
            expect_status "n$i: write $r answered 503 did not happen" 404
        done ;;
    esac
done
for i in 1 2 3; do
    for j in 1 2 3; do
        [ "$j" = "$old_i" ] && continue
        check "n$i has the majority's write part/m2-n$j" has_value "$i" "part/m2-n$j" "v$j" stale
    done
done
check "writes on the old leader work again" wait_until 10 put_ok "$old_i" part/end ok

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
