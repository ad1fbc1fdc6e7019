#!/bin/bash
# test_cluster_kill_leader.sh: kill -9 of the leader during concurrent
# writes (SPEC §6). Writers PUT keys through every node and record each
# write the cluster acknowledged (200); 504s and broken connections are
# "maybe applied", 503s "not applied". The leader is killed mid-burst; a
# new leader must be serving writes within 10 s; kahuna-cli fails over from
# the dead node; the killed node is restarted on its data dir. Done twice
# (the second time the new leader dies). At the end every acknowledged
# write is there with its value on every node, no write answered 503 is,
# and the three nodes hold the same state.
. "$(dirname "$0")/lib.sh"

WRITERS=6

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader
urls=("$(node_url 1)" "$(node_url 2)" "$(node_url 3)")

pids=()
for w in $(seq 1 $WRITERS); do
    kv_writer "w$w" kill "${urls[@]}" &
    pids+=($!)
done
check "writers get acknowledgements" wait_until 30 at_least_acked 150

probes=()
for ROUND in 1 2; do
    # ---- kill -9 the leader mid-burst ----
    check "round $ROUND: a leader is known" wait_leader
    old=$LEADER
    old_i=$LEADER_I
    before=$(acked_count)
    kill_node "$old_i"
    t0=$(now_ms)
    echo "# round $ROUND: killed leader $old after $before acknowledged writes" >&2

    check "round $ROUND: a new leader is elected without $old" wait_until 10 find_leader "$old"
    probe="kill/probe-$ROUND after $old"
    probes+=("$probe")
    new_leader_serves() { put_ok "$LEADER_I" "${probe%% *}" "${probe#* }"; }
    check "round $ROUND: the new leader ($LEADER) acknowledges a write within 10 s" \
        wait_until 10 new_leader_serves
    echo "# round $ROUND: a new leader served a write $(($(now_ms) - t0)) ms after the kill" >&2
    check "round $ROUND: writers go on being acknowledged after the kill" \
        wait_until 15 at_least_acked $((before + 100))

    if [ $ROUND = 1 ]; then
        # kahuna-cli fails over from the dead node (listed first) to the others
        others=()
        for i in 1 2 3; do [ "$i" != "$old_i" ] && others+=("$i"); done
        export KAHUNA_ENDPOINTS
        KAHUNA_ENDPOINTS=$(cluster_endpoints "$old_i" "${others[@]}")
        "$KAHUNA_CLI" kv set kill/cli "via cli" >/dev/null
        check "kahuna-cli kv set with the dead node first exits 0" [ $? = 0 ]
        out=$("$KAHUNA_CLI" kv get kill/cli)
        check "kahuna-cli kv get reads it ($out)" [ "$out" = "via cli" ]
        s1=$("$KAHUNA_CLI" seq next kill/seq)
        s2=$("$KAHUNA_CLI" seq next kill/seq)
        check "kahuna-cli seq next hands out 1 then 2 ($s1 $s2)" [ "$s1 $s2" = "1 2" ]
    fi

    # ---- the killed node comes back ----
    restart_node "$old_i"
    check "round $ROUND: the restarted $old becomes ready" wait_node_ready "$old_i" 20
    check "round $ROUND: the restarted $old reads the new leader's write" \
        has_value "$old_i" "${probe%% *}" "${probe#* }"
    check "round $ROUND: writers go on with all three nodes" wait_until 15 at_least_acked $((before + 200))
done
touch "$TEST_TMP/stop"
for p in "${pids[@]}"; do wait "$p"; done
echo "# $(acked_count) writes acknowledged, $(cat "$TEST_TMP"/maybe.* 2>/dev/null | wc -l) of unknown fate" >&2

check "the nodes converge" wait_until 20 applied_equal 1 2 3
for i in 1 2 3; do
    missing_acked "$i" kill/
    check "n$i has every acknowledged write with its value ($MISSING missing)" [ "$MISSING" = 0 ]
    [ "$MISSING" = 0 ] || head -5 "$TEST_TMP/missing.$i" >&2
    applied_refused "$i" kill/
    check "n$i has no write that was answered 503 ($APPLIED_REFUSED applied)" [ "$APPLIED_REFUSED" = 0 ]
done
check "the three nodes hold the same keys and values" same_state kill/ 1 2 3
# nothing but what the writers wrote: every key is acked or of unknown fate
{
    cat "$TEST_TMP"/acked.*
    cut -d' ' -f1,2 "$TEST_TMP"/maybe.* 2>/dev/null
    printf '%s\n' "${probes[@]}"
    echo "kill/cli via cli"
} >"$TEST_TMP/written"
sort -o "$TEST_TMP/written" "$TEST_TMP/written"
sort "$TEST_TMP/state.first" >"$TEST_TMP/state.sorted"
extra=$(comm -13 "$TEST_TMP/written" "$TEST_TMP/state.sorted" | wc -l)
check "no key was written that nobody wrote ($extra extra)" [ "$extra" = 0 ]

check "a write through the restarted node" put_ok "$old_i" kill/last "done"

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
