#!/bin/bash
# test_cluster_snapshot.sh: a follower far behind catches up by snapshot.
# With --snapshot-entries 50 the nodes snapshot their state and compact
# their logs every 50 applied entries. A follower is stopped, a few hundred
# keys are written, and the follower is restarted: the entries it misses
# are gone from the leader's log, so the leader sends it a snapshot; it
# installs it (log line, kahuna_raft_snapshots_installed_total), serves
# every key, takes later writes from the log, and keeps it all across a
# kill -9.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
KEYS=300

start_cluster 3 --snapshot-entries 50 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader
L=$LEADER_I
F=$(a_follower)
check "a write before the follower stops" put_ok "$F" snap/first 1
check "the follower has it" wait_until 10 has_value "$F" snap/first 1 stale
stop_node "$F"
check "n$F stopped cleanly" [ $? = 0 ]
log_from=$(wc -l <"${NODE_LOG[$F]}")

# ---- a few hundred writes while it is away (4 in parallel) ----
writer() {
    local w=$1 k
    for ((k = w; k <= KEYS; k += 4)); do
        ccurl "$L" PUT "/v1/kv/snap/k$k" "${JSON[@]}" -d "{\"value\": \"v$k\"}"
        [ "$HTTP_STATUS" = 200 ] && echo "snap/k$k v$k" >>"$TEST_TMP/acked.$w"
    done
}
wps=()
for w in 1 2 3 4; do
    writer "$w" &
    wps+=($!)
done
wait "${wps[@]}"
check "$KEYS writes acknowledged ($(acked_count))" [ "$(acked_count)" = $KEYS ]
echo "snap/first 1" >>"$TEST_TMP/acked.1"
first_index() { node_view "$L" | jq -r .commit_index; }
echo "# leader at commit index $(first_index)" >&2

# ---- the follower comes back ----
restart_node "$F"
check "n$F becomes ready" wait_node_ready "$F" 30
check "the nodes converge" wait_until 30 applied_equal 1 2 3
installed=$(metric "$F" kahuna_raft_snapshots_installed_total)
check "n$F installed a snapshot (kahuna_raft_snapshots_installed_total = $installed)" \
    [ "${installed:-0}" -ge 1 ]
check "n$F's log says it installed the snapshot" \
    grep -q "installed the snapshot" <(tail -n +"$((log_from + 1))" "${NODE_LOG[$F]}")
sent=$(metric "$L" kahuna_raft_snapshots_sent_total)
check "the leader sent it (kahuna_raft_snapshots_sent_total = $sent)" [ "${sent:-0}" -ge 1 ]

missing_acked "$F" snap/
check "n$F has every key with its value ($MISSING missing)" [ "$MISSING" = 0 ]
check "all three hold the same state" same_state snap/ 1 2 3
dump_kv "$F" snap/ >"$TEST_TMP/lin.$F"
check "n$F serves every key to linearizable reads too" cmp -s "$TEST_TMP/lin.$F" "$TEST_TMP/state.first"
ccurl "$F" GET /v1/kv/snap/k7
expect_json "a key's version" .version 1
ccurl "$F" GET "/v1/kv?prefix=snap/&keys_only"
check "listing on n$F" [ "$HTTP_STATUS" = 200 ]

# ---- then the log again, and a crash ----
for k in 1 2 3 4 5; do
    check "write after the catch-up ($k)" put_ok "$F" "snap/after-$k" "a$k"
done
check "the nodes converge again" wait_until 20 applied_equal 1 2 3
kill_node "$F"
restart_node "$F"
check "n$F is ready after kill -9" wait_node_ready "$F" 30
for k in 1 5; do
    check "n$F kept snap/after-$k" has_value "$F" "snap/after-$k" "a$k"
done
check "the nodes converge after the crash" wait_until 20 applied_equal 1 2 3
missing_acked "$F" snap/
check "n$F still has every key after kill -9 ($MISSING missing)" [ "$MISSING" = 0 ]
check "all three still hold the same state" same_state snap/ 1 2 3

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
