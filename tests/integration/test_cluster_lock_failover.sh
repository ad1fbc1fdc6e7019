#!/bin/bash
# test_cluster_lock_failover.sh: at no moment do two owners hold a lock,
# and fencing tokens strictly increase (SPEC §6), across a kill -9 of the
# leader. Four cron-like clients contend for one lock through every node:
#  - two run `kahuna-cli lock run` in a loop; the command records its
#    fencing token and when it started and ended;
#  - two drive acquire/release with curl and record the interval in which
#    the service guarantees they hold the lock: from the acquire's answer
#    to the first release sent, cut at the acquire's send time + TTL (the
#    lease never ends early, SPEC §1).
# The leader is killed mid-way and restarted. In the end, ordered by start,
# the recorded intervals never overlap and their tokens strictly increase.
. "$(dirname "$0")/lib.sh"

LOCK=cron/job
TTL_MS=5000

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }
check "a leader is elected" wait_leader
ENDPOINTS=("$(node_url 1)" "$(node_url 2)" "$(node_url 3)")

# cli_worker ID: `kahuna-cli lock run` until $TEST_TMP/stop; appends
# "token start end cliID" to records for each run that exited 0, and the
# exit status of every run to status.cliID.
cli_worker() {
    local id=$1 rc run=0 eps
    # each worker starts at another endpoint
    eps=$(IFS=,; echo "${ENDPOINTS[*]:$id} ${ENDPOINTS[*]:0:$id}" | tr ' ' ,)
    while keep_going; do
        run=$((run + 1))
        local rec="$TEST_TMP/run.cli$id.$run"
        # shellcheck disable=SC2016 # expanded by the command's shell
        KAHUNA_ENDPOINTS=${eps%,} "$KAHUNA_CLI" --timeout 5s lock run "$LOCK" --ttl "${TTL_MS}ms" --wait 3s -- \
            sh -c 's=$(date +%s%N); sleep 0.2; e=$(date +%s%N)
                   echo "$KAHUNA_FENCING_TOKEN $((s / 1000000)) $((e / 1000000)) $1" >"$0"' \
            "$rec" "cli$id" 2>>"$TEST_TMP/cli$id.err"
        rc=$?
        echo "$rc" >>"$TEST_TMP/status.cli$id"
        if [ "$rc" = 0 ] && [ -s "$rec" ]; then
            cat "$rec" >>"$TEST_TMP/records"
        fi
        rm -f "$rec"
    done
}

# post URL PATH BODY: POST with a JSON body; prints "status body" on one
# line (status 000: no answer).
post() {
    local out
    out=$(curl -s --max-time 5 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d "$3" "$1$2")
    [ $? = 7 ] && { echo "refused"; return; }
    echo "${out##*$'\n'} ${out%$'\n'*}" | tr '\n' ' '
    echo
}

# curl_worker ID: acquire / hold 0.2 s / release with curl until
# $TEST_TMP/stop, over every endpoint; appends "token start end curlID"
# to records for each grant it got.
curl_worker() {
    local id=$1 e=$1 round=0 owner ans st tok t_send t_ack t_rel end tries
    while keep_going; do
        round=$((round + 1))
        owner="curl$id-$round"
        tok=""
        tries=0
        # acquire: 503/refused = not applied, try the next node; 504/000 =
        # unknown, acquire again as the same owner (harmless, SPEC §3)
        while keep_going && [ $tries -lt 20 ]; do
            tries=$((tries + 1))
            e=$(((e + 1) % 3))
            t_send=$(now_ms)
            ans=$(post "${ENDPOINTS[$e]}" "/v1/locks/$LOCK/acquire" \
                "{\"owner\": \"$owner\", \"ttl_ms\": $TTL_MS, \"wait_ms\": 2000}")
            st=${ans%% *}
            case $st in
            200) t_ack=$(now_ms); tok=$(jq -r .fencing_token <<<"${ans#* }"); break ;;
            409) break ;; # held by another owner (never ours: SPEC §3)
            *) sleep 0.1 ;;
            esac
        done
        [ -n "$tok" ] || continue
        sleep 0.2   # the work done under the lock
        t_rel=$(now_ms)
        for tries in 1 2 3 4 5 6 7 8 9 10; do
            ans=$(post "${ENDPOINTS[$e]}" "/v1/locks/$LOCK/release" "{\"owner\": \"$owner\"}")
            st=${ans%% *}
            case $st in
            200 | 404 | 409) break ;;
            *) e=$(((e + 1) % 3)); sleep 0.1 ;;
            esac
        done
        end=$t_rel
        [ $((t_send + TTL_MS)) -lt "$end" ] && end=$((t_send + TTL_MS))
        echo "$tok $t_ack $end curl$id" >>"$TEST_TMP/records"
    done
}

records() { [ -f "$TEST_TMP/records" ] && wc -l <"$TEST_TMP/records" || echo 0; }
at_least_records() { [ "$(records)" -ge "$1" ]; }

pids=()
for w in 1 2; do
    cli_worker "$w" &
    pids+=($!)
    curl_worker "$w" &
    pids+=($!)
done
check "the clients take turns with the lock" wait_until 20 at_least_records 8

# ---- kill -9 the leader mid-way, restart it ----
old=$LEADER
old_i=$LEADER_I
lock_is_held() { curl -sf --max-time 2 -o /dev/null "$(node_url "$old_i")/v1/locks/$LOCK"; }
wait_until 5 lock_is_held # kill it while somebody holds the lock
before=$(records)
kill_node "$old_i"
echo "# killed leader $old after $before holds" >&2
check "a new leader is elected" wait_leader "$old"
check "the lock is granted again after the failover" wait_until 30 at_least_records $((before + 6))
restart_node "$old_i"
check "the old leader comes back" wait_node_ready "$old_i" 20
before=$(records)
check "the clients go on with three nodes" wait_until 20 at_least_records $((before + 6))
touch "$TEST_TMP/stop"
for p in "${pids[@]}"; do wait "$p"; done

# ---- the records ----
sort -n -k2,2 -k3,3 "$TEST_TMP/records" >"$TEST_TMP/records.sorted"
echo "# $(records) holds; lock run exit statuses: $(sort "$TEST_TMP"/status.cli* | uniq -c | tr -s ' \n' ' ')" >&2
overlaps=$(awk 'NR > 1 && $2 < maxend { print "  " prev " overlaps " $0 }
               { if ($3 > maxend) { maxend = $3; prev = $0 } }' "$TEST_TMP/records.sorted")
check "no two holders at once" [ -z "$overlaps" ]
[ -z "$overlaps" ] || echo "$overlaps" | head -10 >&2
bad_tokens=$(awk 'NR > 1 && $1 <= last { print "  token " $1 " after " last " (" $0 ")" } { last = $1 }' \
    "$TEST_TMP/records.sorted")
check "fencing tokens strictly increase from one holder to the next" [ -z "$bad_tokens" ]
[ -z "$bad_tokens" ] || echo "$bad_tokens" | head -10 >&2
dups=$(awk '{ print $1 }' "$TEST_TMP/records.sorted" | sort | uniq -d | wc -l)
check "no token was granted twice ($dups)" [ "$dups" = 0 ]
for c in cli1 cli2 curl1 curl2; do
    check "client $c held the lock at least once" grep -q " $c\$" "$TEST_TMP/records"
done
check "no lock run ended in an error other than 'not obtained' (75) or 'no leader' (69)" \
    [ -z "$(grep -vxE '0|69|75' "$TEST_TMP"/status.cli*)" ]

# a last grant after the end: the token is above every recorded one
last=$(tail -1 "$TEST_TMP/records.sorted" | awk '{ print $1 }')
got_lock() {
    ccurl "$LEADER_I" POST "/v1/locks/$LOCK/acquire" -H 'Content-Type: application/json' \
        -d '{"owner": "final", "ttl_ms": 60000, "wait_ms": 2000}'
    [ "$HTTP_STATUS" = 200 ]
}
wait_leader
check "the lock can be taken at the end" wait_until 20 got_lock
check "its token is above every recorded one ($(jfield .fencing_token) > $last)" \
    [ "$(jfield .fencing_token)" -gt "$last" ]

# ---- a holder that never releases, and the leader dies at once ----
# SPEC §3: never granted to a new owner before the holder's TTL has passed,
# also across a change of leader.
ccurl "$LEADER_I" POST "/v1/locks/$LOCK/release" -H 'Content-Type: application/json' -d '{"owner": "final"}'
expect_status "release the lock" 200
check "a leader is known" wait_leader
ghost_ttl=3000
t_ghost=$(now_ms)
ccurl "$LEADER_I" POST "/v1/locks/$LOCK/acquire" -H 'Content-Type: application/json' \
    -d "{\"owner\": \"ghost\", \"ttl_ms\": $ghost_ttl}"
expect_status "a holder takes the lock on the leader" 200
ghost_token=$(jfield .fencing_token)
old=$LEADER
kill_node "$LEADER_I"
survivors=()
for i in 1 2 3; do [ "n$i" != "$old" ] && survivors+=("$i"); done
k=0
next_got_it() {
    k=$((k + 1))
    ccurl "${survivors[$((k % 2))]}" POST "/v1/locks/$LOCK/acquire" -H 'Content-Type: application/json' \
        -d '{"owner": "next", "ttl_ms": 60000}'
    [ "$HTTP_STATUS" = 200 ]
}
check "the next owner gets the lock after the failover" wait_until 30 next_got_it
t_next=$(now_ms)
check "not before the holder's TTL has passed ($((t_next - t_ghost)) ms >= $ghost_ttl)" \
    [ $((t_next - t_ghost)) -ge $ghost_ttl ]
check "with a larger token ($(jfield .fencing_token) > $ghost_token)" [ "$(jfield .fencing_token)" -gt "$ghost_token" ]
restart_node "$(node_index "$old")"
check "the killed leader comes back" wait_node_ready "$(node_index "$old")" 20

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
