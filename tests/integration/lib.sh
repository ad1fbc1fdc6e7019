# lib.sh: shared helpers for integration tests. Source it from a test:
#   . "$(dirname "$0")/lib.sh"
# Every test runs real kahunad processes on free loopback ports and drives
# them with curl and kahuna-cli. Waits poll with a deadline; every process a
# test starts is stopped when the test exits (trap), whatever happens.
set -u

: "${KAHUNAD:=$TOP_BUILDDIR/daemon/kahunad}"
: "${KAHUNA_CLI:=$TOP_BUILDDIR/cli/kahuna-cli}"
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kahuna-$TEST_NAME.XXXXXX")
KPIDS=()
FAILS=0
PASSES=0

cleanup() {
    local pid
    # Only the test's own shell cleans up: a background job killed before
    # it has exec'd (a forked copy of this shell) runs this trap too.
    [ "${BASHPID:-$$}" = "$$" ] || return 0
    for pid in "${KPIDS[@]}"; do
        kill -CONT "$pid" 2>/dev/null
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${KPIDS[@]}"; do
        local i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$FAILS" -eq 0 ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$TEST_TMP"
    else
        echo "# kept $TEST_TMP for inspection" >&2
    fi
}
trap cleanup EXIT

# port_in_use PORT: 0 when something listens on PORT (v4 or v6).
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    grep -qi ":$hex [0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port: prints a loopback port that nothing listens on now. The caller
# must still cope with a race (start_kahunad retries on "address in use").
free_port() {
    local p
    while :; do
        # Below Linux's ephemeral range (32768-60999), so no client socket
        # of this or a concurrent test can hold the port we pick.
        p=$((10240 + ${SRANDOM:-$RANDOM} % 22000))
        port_in_use "$p" || { echo "$p"; return; }
    done
}

# wait_until DEADLINE_S CMD...: polls CMD every 50 ms until it succeeds or
# the deadline passes (returns 1).
wait_until() {
    local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
    shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
        sleep 0.05
    done
}

# start_kahunad NAME [extra kahunad args...]: starts a node with its own data
# dir under $TEST_TMP/NAME, on free ports, and waits until /ready answers 200.
# Sets KURL (http://127.0.0.1:PORT), KPORT, KRESP_PORT, KPID, KDATA, KLOG.
start_kahunad() {
    local name=$1; shift
    local tries=0
    KDATA="$TEST_TMP/$name"
    KLOG="$TEST_TMP/$name.log"
    mkdir -p "$KDATA"
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1))
        KPORT=$(free_port)
        KRESP_PORT=$(free_port)
        KURL="http://127.0.0.1:$KPORT"
        "$KAHUNAD" --node-id "${KNODE_ID:-n1}" --listen "127.0.0.1:$KPORT" \
            --resp-listen "127.0.0.1:$KRESP_PORT" --data-dir "$KDATA" "$@" >>"$KLOG" 2>&1 &
        KPID=$!
        KPIDS+=("$KPID")
        if wait_until 20 curl -sf "$KURL/ready"; then
            return 0
        fi
        if kill -0 "$KPID" 2>/dev/null; then
            echo "# kahunad $name did not become ready; log:" >&2
            tail -20 "$KLOG" >&2
            return 1
        fi
        wait "$KPID" 2>/dev/null
        grep -qi "in use" "$KLOG" || { tail -20 "$KLOG" >&2; return 1; }
    done
    return 1
}

# stop_kahunad PID: SIGTERM and wait for a clean exit (returns its status).
stop_kahunad() {
    local pid=$1 rc
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    return $rc
}

# kcurl METHOD PATH [curl args...]: one request to the current node; sets
# HTTP_STATUS and HTTP_BODY.
kcurl() {
    local method=$1 path=$2; shift 2
    local out
    out=$(curl -s -X "$method" -w '\n%{http_code}' "$@" "$KURL$path")
    HTTP_STATUS=${out##*$'\n'}
    HTTP_BODY=${out%$'\n'*}
}

# check NAME CONDITION...: runs the condition, records pass or fail.
check() {
    local name=$1; shift
    if "$@"; then
        PASSES=$((PASSES + 1))
    else
        FAILS=$((FAILS + 1))
        echo "FAIL: $name" >&2
        [ -n "${HTTP_STATUS:-}" ] && echo "  last HTTP: $HTTP_STATUS $HTTP_BODY" >&2
    fi
}

# expect_status NAME WANT: checks the last kcurl status.
expect_status() { check "$1 (status $2)" [ "$HTTP_STATUS" = "$2" ]; }

# jfield EXPR: the jq expression applied to the last HTTP body.
jfield() { printf '%s' "$HTTP_BODY" | jq -r "$1"; }

# expect_json NAME JQ_EXPR WANT: checks a field of the last HTTP body.
expect_json() {
    local got
    got=$(jfield "$2" 2>/dev/null)
    check "$1 ($2 = $3, got $got)" [ "$got" = "$3" ]
}

# done_testing: prints the tally; exit status 0 only when nothing failed.
done_testing() {
    echo "$TEST_NAME: $PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}
