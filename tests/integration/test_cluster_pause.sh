#!/bin/bash
# test_cluster_pause.sh: a leader that is frozen (SIGSTOP) past the election
# timeout and then wakes up (SIGCONT) still believes it leads; it must not
# serve a stale read (SPEC §6: reads are linearizable). While it sleeps the
# two others elect a new leader and k gets a new value; reads of k sent to
# the old leader (some queued while it slept, some right after it woke up)
# answer the new value or 503, never the old one; writes queued on it
# while it slept are there in the end if it acknowledged them, and absent
# if it answered 503; it steps down and follows the new leader; writes
# acknowledged meanwhile are all kept.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader
old=$LEADER
old_i=$LEADER_I
others=()
for i in 1 2 3; do [ "$i" != "$old_i" ] && others+=("$i"); done

ccurl "$old_i" PUT /v1/kv/pause/k "${JSON[@]}" -d '{"value": "old"}'
expect_status "k = old, written on the leader" 200
for i in 1 2 3; do
    check "n$i has k = old" wait_until 10 has_value "$i" pause/k old stale
done

# writers on the two others all along
kv_writer w1 pause/w "$(node_url "${others[0]}")" "$(node_url "${others[1]}")" &
wpid1=$!
kv_writer w2 pause/w "$(node_url "${others[1]}")" "$(node_url "${others[0]}")" &
wpid2=$!
check "writers get acknowledgements" wait_until 20 at_least_acked 20

# ---- freeze the leader ----
pause_node "$old_i"
t0=$(now_ms)
echo "# froze leader $old" >&2
check "the two others elect a new leader" wait_leader "$old"
new=$LEADER
new_i=$LEADER_I
check "the new leader is not the frozen one ($new)" [ "$new" != "$old" ]
ccurl "$new_i" PUT /v1/kv/pause/k "${JSON[@]}" -d '{"value": "new"}'
expect_status "k = new, written on the new leader" 200
before=$(acked_count)
check "writes go on without the frozen leader" wait_until 10 at_least_acked $((before + 20))

# reads sent to the frozen node now: it reads them when it wakes up
qpids=()
for r in 1 2 3 4; do
    curl -s --max-time 20 -o "$TEST_TMP/queued.$r.body" -w '%{http_code}' \
        "$(node_url "$old_i")/v1/kv/pause/k" >"$TEST_TMP/queued.$r.status" &
    qpids+=($!)
done
# writes sent to the frozen node too: it takes them while it still
# believes it leads; it cannot commit them in its old term, so none may be
# acknowledged unless it is really there in the end, and a 503 promises
# that it is not
for r in 1 2 3; do
    curl -s --max-time 20 -o /dev/null -w '%{http_code}' -X PUT "${JSON[@]}" \
        -d "{\"value\": \"queued-$r\"}" "$(node_url "$old_i")/v1/kv/pause/queued-$r" \
        >"$TEST_TMP/qwrite.$r.status" &
    qpids+=($!)
done
paused_long_enough() { [ $(($(now_ms) - t0)) -ge 3500 ]; }
wait_until 10 paused_long_enough

# ---- wake it up: reads at once ----
resume_node "$old_i"
echo "# woke $old after $(($(now_ms) - t0)) ms" >&2
stale_reads=0
other_answers=""
for r in $(seq 1 20); do
    CCURL_TIMEOUT=20 ccurl "$old_i" GET /v1/kv/pause/k
    echo "$HTTP_STATUS $(jfield .value 2>/dev/null)" >>"$TEST_TMP/answers"
    case "$HTTP_STATUS" in
    200) [ "$(jfield .value)" = new ] || stale_reads=$((stale_reads + 1)) ;;
    503) ;;
    *) other_answers="$other_answers $HTTP_STATUS" ;;
    esac
done
wait "${qpids[@]}"
for r in 1 2 3 4; do
    s=$(cat "$TEST_TMP/queued.$r.status")
    v=$(jq -r .value <"$TEST_TMP/queued.$r.body" 2>/dev/null)
    echo "$s $v (queued)" >>"$TEST_TMP/answers"
    case "$s" in
    200) [ "$v" = new ] || stale_reads=$((stale_reads + 1)) ;;
    503) ;;
    *) other_answers="$other_answers $s(queued)" ;;
    esac
done
echo "# answers of the woken leader: $(sort "$TEST_TMP"/answers | uniq -c | tr -s ' \n' ' ')" >&2
check "the woken leader never serves the old value ($stale_reads stale reads)" [ "$stale_reads" = 0 ]
check "it answers the new value or 503 (other answers:$other_answers)" [ -z "$other_answers" ]

# ---- it steps down and follows ----
follows_new() {
    [ "$(node_view "$old_i" | jq -r '"\(.role) \(.leader)"')" = "follower $new" ]
}
check "the old leader steps down and follows $new" wait_until 10 follows_new
ccurl "$old_i" GET /v1/kv/pause/k
expect_status "linearizable read on the old leader" 200
expect_json "it reads the new value" .value new
check "its local state catches up" wait_until 10 has_value "$old_i" pause/k new stale
check "a write through the old leader" put_ok "$old_i" pause/after ok

echo "# queued writes on the woken leader: $(for r in 1 2 3; do printf '%s ' "$(cat "$TEST_TMP/qwrite.$r.status")"; done)" >&2
for r in 1 2 3; do
    s=$(cat "$TEST_TMP/qwrite.$r.status")
    ccurl "$new_i" GET "/v1/kv/pause/queued-$r"
    case "$s" in
    200) expect_status "write $r queued on the frozen leader was acknowledged: it is there" 200 ;;
    503) expect_status "write $r queued on the frozen leader was answered 503: it is not there" 404 ;;
    esac
done

touch "$TEST_TMP/stop"
wait "$wpid1" "$wpid2"
check "the nodes converge" wait_until 20 applied_equal 1 2 3
for i in 1 2 3; do
    missing_acked "$i" pause/w/
    check "n$i has every acknowledged write ($MISSING missing)" [ "$MISSING" = 0 ]
    applied_refused "$i" pause/w/
    check "n$i has no write that was answered 503 ($APPLIED_REFUSED applied)" [ "$APPLIED_REFUSED" = 0 ]
done
check "the three nodes hold the same state" same_state pause/ 1 2 3

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
