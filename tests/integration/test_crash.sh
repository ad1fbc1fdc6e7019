#!/bin/bash
# test_crash.sh: an acknowledged write survives kill -9 (SPEC §6). Twelve
# concurrent writers PUT keys in a loop and record each key the server
# acknowledged (HTTP 200); kahunad is killed with SIGKILL in the middle of
# the burst, restarted on the same data dir, and every acknowledged key
# must be there with its value. Done twice, so that the second crash also
# hits a log that was replayed once.
. "$(dirname "$0")/lib.sh"

WRITERS=12

# writer ID URL: PUTs crash/ID-1, crash/ID-2, ... until $TEST_TMP/stop
# exists or the server is gone; appends each acknowledged key to acked.ID.
writer() {
    local id=$1 url=$2 i=0 code
    while [ ! -e "$TEST_TMP/stop" ]; do
        i=$((i + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT \
            -H 'Content-Type: application/json' -d "{\"value\": \"v-$ROUND-$id-$i\"}" \
            "$url/v1/kv/crash/$ROUND-$id-$i")
        if [ "$code" = 200 ]; then
            echo "crash/$ROUND-$id-$i v-$ROUND-$id-$i" >>"$TEST_TMP/acked.$ROUND.$id"
        elif [ "$code" = 000 ]; then
            break # the server is gone
        fi
    done
}

acked_count() { cat "$TEST_TMP"/acked."$ROUND".* 2>/dev/null | wc -l; }
at_least_acked() { [ "$(acked_count)" -ge "$1" ]; }

# all_keys: "key value" lines of every crash/ key, paging through the list.
all_keys() {
    local after="" page
    while :; do
        page=$(curl -sf -G "$KURL/v1/kv" --data-urlencode "prefix=crash/" \
            --data-urlencode "after=$after" --data-urlencode "limit=1000") || return 1
        printf '%s' "$page" | jq -r '.items[] | "\(.key) \(.value)"'
        [ "$(printf '%s' "$page" | jq -r .more)" = true ] || break
        after=$(printf '%s' "$page" | jq -r '.items[-1].key')
    done
}

start_kahunad n1 || { echo "cannot start kahunad" >&2; exit 1; }

for ROUND in 1 2; do
    rm -f "$TEST_TMP/stop"
    pids=()
    for w in $(seq 1 $WRITERS); do
        writer "$w" "$KURL" &
        pids+=($!)
    done
    # mid-burst: enough acknowledged, writers still going
    check "round $ROUND: writers get acknowledgements" wait_until 60 at_least_acked 400
    kill -KILL "$KPID"
    wait "$KPID" 2>/dev/null
    touch "$TEST_TMP/stop"
    for p in "${pids[@]}"; do wait "$p"; done
    acked=$(acked_count)
    echo "# round $ROUND: $acked writes acknowledged before kill -9" >&2

    start_kahunad n1 || { echo "cannot restart kahunad after kill -9" >&2; exit 1; }
    all_keys >"$TEST_TMP/present.$ROUND"
    check "round $ROUND: listing after restart" [ $? = 0 ]
    sort -o "$TEST_TMP/present.$ROUND" "$TEST_TMP/present.$ROUND"
    cat "$TEST_TMP"/acked.*.* | sort >"$TEST_TMP/acked.all"
    missing=$(comm -23 "$TEST_TMP/acked.all" "$TEST_TMP/present.$ROUND" | wc -l)
    check "round $ROUND: every acknowledged key is there with its value ($missing missing)" \
        [ "$missing" = 0 ]
    if [ "$missing" != 0 ]; then
        comm -23 "$TEST_TMP/acked.all" "$TEST_TMP/present.$ROUND" | head -5 >&2
    fi
    kcurl GET /ready
    expect_status "round $ROUND: ready after restart" 200
done

# the node still takes writes after the crashes
kcurl PUT /v1/kv/after-crash -H 'Content-Type: application/json' -d '{"value": "ok"}'
expect_status "write after the crashes" 200

done_testing
