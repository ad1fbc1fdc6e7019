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

# ---- clusters (issue 3) -------------------------------------------------
# start_cluster N starts nodes n1..nN on free loopback ports, with the same
# --peers and a random --peer-secret, and KAHUNA_TEST_FAULTS=1 so that
# `block` can cut the network between them. Node i is node id "n$i"; its
# port, pid, data dir and log are NODE_PORT[i], NODE_PID[i], NODE_DIR[i],
# NODE_LOG[i] (the log accumulates across restarts). NODE_PID[i] is empty
# while node i is not running. A node keeps its data dir and port across
# kill_node / stop_node / restart_node.
NODE_PORT=()
NODE_PID=()
NODE_DIR=()
NODE_LOG=()
NODE_JOIN=()
CLUSTER_N=0
CLUSTER_ARGS=()
CLUSTER_PEERS=""
CLUSTER_SECRET=""
LEADER=""
LEADER_I=""

# node_url I: http://127.0.0.1:PORT of node I.
node_url() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }

# node_index ID: the index I of node id "nI".
node_index() { echo "${1#n}"; }

# cluster_endpoints [I...]: comma-separated URLs of nodes I... (default:
# every node), for KAHUNA_ENDPOINTS.
cluster_endpoints() {
    local i out=""
    if [ $# -eq 0 ]; then set -- $(seq 1 "$CLUSTER_N"); fi
    for i in "$@"; do out="$out${out:+,}$(node_url "$i")"; done
    echo "$out"
}

# node_running I: 0 when node I's process is running (or stopped by SIGSTOP).
node_running() { [ -n "${NODE_PID[$1]:-}" ] && kill -0 "${NODE_PID[$1]}" 2>/dev/null; }

# start_node I: starts node I (in the background) with its port, data dir
# and arguments; does not wait for it (a lone node of a cluster has no
# leader). A node that was added with add_node_process starts with --join
# and --peers naming the initial members (kahunad needs them to answer the
# leader before its log names them).
start_node() {
    local i=$1
    mkdir -p "${NODE_DIR[$i]}"
    echo "# ---- start $(date +%T.%N)" >>"${NODE_LOG[$i]}"
    if [ "${NODE_JOIN[$i]:-0}" = 1 ]; then
        KAHUNA_TEST_FAULTS=1 "$KAHUNAD" --node-id "n$i" --listen "127.0.0.1:${NODE_PORT[$i]}" \
            --resp-listen off --data-dir "${NODE_DIR[$i]}" --join --peers "$CLUSTER_PEERS" \
            --advertise-url "$(node_url "$i")" --peer-secret "$CLUSTER_SECRET" \
            "${CLUSTER_ARGS[@]}" >>"${NODE_LOG[$i]}" 2>&1 &
    else
        KAHUNA_TEST_FAULTS=1 "$KAHUNAD" --node-id "n$i" --listen "127.0.0.1:${NODE_PORT[$i]}" \
            --resp-listen off --data-dir "${NODE_DIR[$i]}" --peers "$CLUSTER_PEERS" \
            --peer-secret "$CLUSTER_SECRET" "${CLUSTER_ARGS[@]}" >>"${NODE_LOG[$i]}" 2>&1 &
    fi
    NODE_PID[i]=$!
    KPIDS+=("${NODE_PID[$i]}")
}

# node_ready I: 0 when node I answers /ready with 200.
node_ready() { curl -sf --max-time 2 -o /dev/null "$(node_url "$1")/ready"; }

# wait_node_ready I [DEADLINE_S]: waits until node I is ready (default 20 s).
wait_node_ready() { wait_until "${2:-20}" node_ready "$1"; }

# start_cluster N [extra kahunad args...]: starts n1..nN (see above) and
# waits until every node is ready. Retries on other ports when a port was
# taken in between. 1 when the cluster does not come up (logs on stderr).
start_cluster() {
    local n=$1 tries=0 i j ok
    shift
    CLUSTER_N=$n
    CLUSTER_ARGS=("$@")
    CLUSTER_SECRET=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    while [ $tries -lt 3 ]; do
        tries=$((tries + 1))
        CLUSTER_PEERS=""
        for i in $(seq 1 "$n"); do
            while :; do
                NODE_PORT[i]=$(free_port)
                # distinct from the ports already picked
                ok=1
                for ((j = 1; j < i; j++)); do
                    [ "${NODE_PORT[$j]}" = "${NODE_PORT[$i]}" ] && ok=0
                done
                [ $ok = 1 ] && break
            done
            NODE_DIR[i]="$TEST_TMP/n$i"
            NODE_LOG[i]="$TEST_TMP/n$i.log"
            NODE_JOIN[i]=0
            CLUSTER_PEERS="$CLUSTER_PEERS${CLUSTER_PEERS:+,}n$i=$(node_url "$i")"
        done
        for i in $(seq 1 "$n"); do start_node "$i"; done
        ok=1
        for i in $(seq 1 "$n"); do
            wait_node_ready "$i" 30 || { ok=0; break; }
        done
        [ $ok = 1 ] && return 0
        if ! grep -qi "in use" "${NODE_LOG[@]}" 2>/dev/null; then
            for i in $(seq 1 "$n"); do
                echo "# node n$i did not become ready; its log:" >&2
                tail -15 "${NODE_LOG[$i]}" >&2
            done
            return 1
        fi
        for i in $(seq 1 "$n"); do kill_node "$i"; rm -rf "${NODE_DIR[$i]}"; done
    done
    return 1
}

# add_node_process I: makes node I a new node that will start with --join
# (on a free port, with its own data dir); start it with start_node I and
# add it with POST /v1/cluster/members. Raises CLUSTER_N to at least I.
add_node_process() {
    local i=$1
    NODE_PORT[i]=$(free_port)
    NODE_DIR[i]="$TEST_TMP/n$i"
    NODE_LOG[i]="$TEST_TMP/n$i.log"
    NODE_JOIN[i]=1
    [ "$i" -gt "$CLUSTER_N" ] && CLUSTER_N=$i
    return 0
}

# kill_node I: kill -9 node I and reaps it.
kill_node() {
    local pid=${NODE_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    NODE_PID[$1]=""
}

# stop_node I: SIGTERM, waits for the exit; returns the exit status.
stop_node() {
    local pid=${NODE_PID[$1]:-} rc
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    NODE_PID[$1]=""
    return $rc
}

# pause_node I / resume_node I: SIGSTOP / SIGCONT.
pause_node() { kill -STOP "${NODE_PID[$1]}"; }
resume_node() { kill -CONT "${NODE_PID[$1]}"; }

# port_free PORT: nothing listens on PORT.
port_free() { ! port_in_use "$1"; }

# restart_node I: starts node I again on its port and data dir (after
# kill_node or stop_node) once its port is free; does not wait for ready.
restart_node() {
    local i=$1
    wait_until 10 port_free "${NODE_PORT[$i]}"
    start_node "$i"
}

# node_view I: node I's GET /v1/cluster body (1 s budget); fails when it
# does not answer 200.
node_view() { curl -sf --max-time 1 "$(node_url "$1")/v1/cluster"; }

# cluster_leader [EXCLUDED_ID...]: prints the id of the leader, asking
# every running node except the excluded ones: the node with the highest
# term that says it leads itself. Fails when there is none.
cluster_leader() {
    local i v id lead term best="" best_term=-1 skip x
    for i in $(seq 1 "$CLUSTER_N"); do
        skip=0
        for x in "$@"; do [ "$x" = "n$i" ] && skip=1; done
        [ $skip = 1 ] && continue
        node_running "$i" || continue
        v=$(node_view "$i") || continue
        read -r id lead term < <(printf '%s' "$v" | jq -r '"\(.node_id) \(.leader) \(.term)"')
        if [ "$id" = "$lead" ] && [ "$term" -gt "$best_term" ]; then
            best=$id
            best_term=$term
        fi
    done
    [ -n "$best" ] || return 1
    echo "$best"
}

# find_leader [EXCLUDED_ID...]: sets LEADER and LEADER_I when some node
# other than the excluded ones leads.
find_leader() {
    local l
    l=$(cluster_leader "$@") || return 1
    LEADER=$l
    # shellcheck disable=SC2034 # for the tests
    LEADER_I=$(node_index "$l")
}

# wait_leader [EXCLUDED_ID...]: waits (15 s) until a node other than the
# excluded ones leads and every other running, not excluded node agrees;
# sets LEADER and LEADER_I. 1 on timeout.
wait_leader() { wait_until 15 leader_agreed "$@"; }
leader_agreed() {
    find_leader "$@" || return 1
    local i x skip
    for i in $(seq 1 "$CLUSTER_N"); do
        skip=0
        for x in "$@"; do [ "$x" = "n$i" ] && skip=1; done
        [ $skip = 1 ] && continue
        node_running "$i" || continue
        [ "$(node_view "$i" | jq -r .leader)" = "$LEADER" ] || return 1
    done
}

# a_follower [EXCLUDED_ID...]: prints the index of a running node that is
# not the leader $LEADER (nor excluded).
a_follower() {
    local i x skip
    for i in $(seq 1 "$CLUSTER_N"); do
        skip=0
        for x in "$@"; do [ "$x" = "n$i" ] && skip=1; done
        [ $skip = 1 ] && continue
        [ "n$i" != "$LEADER" ] && node_running "$i" && { echo "$i"; return 0; }
    done
    return 1
}

# block I [ID...]: node I drops all Raft traffic to and from the given
# node ids (none: heals). 0 when the node took it (a 2xx answer).
block() {
    local i=$1 ids
    shift
    ids=$(IFS=,; echo "$*")
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
        -H "X-Kahuna-Peer-Secret: $CLUSTER_SECRET" -H 'Content-Type: text/plain' \
        --data-binary "$ids" "$(node_url "$i")/raft/v1/test/block")" == 2?? ]]
}

# isolate I: cuts node I off from every other node, both ways.
isolate() {
    local i=$1 j others=()
    for j in $(seq 1 "$CLUSTER_N"); do
        [ "$j" = "$i" ] && continue
        others+=("n$j")
        node_running "$j" && { block "$j" "n$i" || return 1; }
    done
    block "$i" "${others[@]}"
}

# heal_all: every running node drops nothing any more.
heal_all() {
    local i rc=0
    for i in $(seq 1 "$CLUSTER_N"); do
        node_running "$i" && { block "$i" || rc=1; }
    done
    return $rc
}

# ccurl I METHOD PATH [curl args...]: one request to node I (budget
# $CCURL_TIMEOUT, default 10 s); sets HTTP_STATUS (000: no answer),
# HTTP_BODY, HTTP_LEADER (the X-Kahuna-Leader header) and HTTP_HEADERS (a
# file with the response's header lines).
ccurl() {
    local i=$1 method=$2 path=$3 out
    shift 3
    HTTP_HEADERS="$TEST_TMP/ccurl.${BASHPID:-$$}.hdr"
    out=$(curl -s -X "$method" -D "$HTTP_HEADERS" --max-time "${CCURL_TIMEOUT:-10}" \
        -w '\n%{http_code}' "$@" "$(node_url "$i")$path")
    HTTP_STATUS=${out##*$'\n'}
    HTTP_BODY=${out%$'\n'*}
    # shellcheck disable=SC2034 # for the tests
    HTTP_LEADER=$(tr -d '\r' <"$HTTP_HEADERS" 2>/dev/null |
        sed -n 's/^[Xx]-[Kk]ahuna-[Ll]eader: //p' | tail -1)
}

# cput I KEY VALUE: PUT of a JSON value on node I (ccurl).
cput() {
    ccurl "$1" PUT "/v1/kv/$2" -H 'Content-Type: application/json' \
        --data-binary "$(jq -cn --arg v "$3" '{value: $v}')"
}

# put_ok I KEY VALUE: 0 when node I acknowledges the write (for wait_until:
# a write during an election is answered 503 until a leader is chosen).
put_ok() { cput "$@"; [ "$HTTP_STATUS" = 200 ]; }

# kv_value I KEY [stale]: prints KEY's value as node I has it (linearizable
# read, or the node's local state with "stale"); fails unless 200.
kv_value() {
    local q=""
    [ "${3:-}" = stale ] && q="?consistency=stale"
    curl -sf --max-time 5 "$(node_url "$1")/v1/kv/$2$q" | jq -er .value
}

# has_value I KEY VALUE [stale]: node I has KEY = VALUE.
has_value() { [ "$(kv_value "$1" "$2" "${4:-}")" = "$3" ]; }

# dump_kv I PREFIX [stale]: "key value" lines of every key under PREFIX on
# node I, in key order, paging through the listing. Fails on any error.
dump_kv() {
    local i=$1 prefix=$2 after="" page cons=()
    [ "${3:-}" = stale ] && cons=(--data-urlencode "consistency=stale")
    while :; do
        page=$(curl -sf --max-time 10 -G "$(node_url "$i")/v1/kv" --data-urlencode "prefix=$prefix" \
            --data-urlencode "after=$after" --data-urlencode "limit=1000" "${cons[@]}") || return 1
        printf '%s' "$page" | jq -r '.items[] | "\(.key) \(.value)"' || return 1
        [ "$(printf '%s' "$page" | jq -r .more)" = true ] || break
        after=$(printf '%s' "$page" | jq -r '.items[-1].key')
    done
}

# same_state PREFIX I...: 0 when nodes I... hold the same keys and values
# under PREFIX in their local state (stale reads); leaves the first node's
# "key value" lines in $TEST_TMP/state.first (in the server's key order).
same_state() {
    local prefix=$1 first=$2 i
    shift
    dump_kv "$first" "$prefix" stale >"$TEST_TMP/state.first" || return 1
    for i in "$@"; do
        dump_kv "$i" "$prefix" stale >"$TEST_TMP/state.other" || return 1
        cmp -s "$TEST_TMP/state.first" "$TEST_TMP/state.other" || return 1
    done
}

# applied_equal I...: nodes I... report the same applied_index, and it is
# their commit index (nothing in flight between them).
applied_equal() {
    local i a c first=""
    for i in "$@"; do
        read -r a c < <(node_view "$i" | jq -r '"\(.applied_index) \(.commit_index)"') || return 1
        [ "$a" = "$c" ] || return 1
        [ -z "$first" ] && first=$a
        [ "$a" = "$first" ] || return 1
    done
}

# keep_going: 0 while a background loop of the test should go on: until
# $TEST_TMP/stop exists or the test's own shell has gone (so that a test
# that ends early leaves no loop behind).
keep_going() { [ ! -e "$TEST_TMP/stop" ] && kill -0 "$$" 2>/dev/null; }

# kv_writer NAME PREFIX URL...: writes PREFIX/NAME-1, PREFIX/NAME-2, ...
# (value v-NAME-i) round-robin over the URLs until $TEST_TMP/stop exists.
# Appends "key value" of each acknowledged (200) write to
# $TEST_TMP/acked.NAME, and of each write whose fate is unknown (504, no
# answer, timeout) to $TEST_TMP/maybe.NAME, and of each write that was
# certainly not applied (503, connection refused) to $TEST_TMP/refused.NAME.
# Run it in the background.
kv_writer() {
    local name=$1 prefix=$2 i=0 n code url
    shift 2
    local urls=("$@")
    n=${#urls[@]}
    while keep_going; do
        i=$((i + 1))
        url=${urls[$((i % n))]}
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
            -H 'Content-Type: application/json' -d "{\"value\": \"v-$name-$i\"}" \
            "$url/v1/kv/$prefix/$name-$i")
        [ $? = 7 ] && code=refused # nothing was sent
        case $code in
        200) echo "$prefix/$name-$i v-$name-$i" >>"$TEST_TMP/acked.$name" ;;
        503 | refused)
            echo "$prefix/$name-$i v-$name-$i $code" >>"$TEST_TMP/refused.$name"
            sleep 0.05
            ;;
        *) echo "$prefix/$name-$i v-$name-$i $code" >>"$TEST_TMP/maybe.$name" ;;
        esac
    done
}

# acked_count: how many writes the kv_writers had acknowledged so far.
acked_count() { cat "$TEST_TMP"/acked.* 2>/dev/null | wc -l; }
at_least_acked() { [ "$(acked_count)" -ge "$1" ]; }

# missing_acked I PREFIX: prints the acknowledged "key value" lines that
# node I does not have (local state, after convergence); the count goes to
# MISSING.
missing_acked() {
    cat "$TEST_TMP"/acked.* 2>/dev/null | sort >"$TEST_TMP/all-acked.sorted"
    dump_kv "$1" "$2" stale | sort >"$TEST_TMP/present.$1" || return 1
    comm -23 "$TEST_TMP/all-acked.sorted" "$TEST_TMP/present.$1" >"$TEST_TMP/missing.$1"
    # shellcheck disable=SC2034 # for the tests
    MISSING=$(wc -l <"$TEST_TMP/missing.$1")
}

# applied_refused I PREFIX: prints the keys written by kv_writers that
# node I has although their write was answered "not applied" (503,
# refused); the count goes to APPLIED_REFUSED. Every kv_writer key is
# written once, so its presence means the write was applied.
applied_refused() {
    cat "$TEST_TMP"/refused.* 2>/dev/null | awk '{ print $1 }' | sort >"$TEST_TMP/all-refused.sorted"
    dump_kv "$1" "$2" stale | awk '{ print $1 }' | sort >"$TEST_TMP/present-keys.$1" || return 1
    comm -12 "$TEST_TMP/all-refused.sorted" "$TEST_TMP/present-keys.$1" >"$TEST_TMP/applied-refused.$1"
    # shellcheck disable=SC2034 # for the tests
    APPLIED_REFUSED=$(wc -l <"$TEST_TMP/applied-refused.$1")
}

# stop_cluster: SIGTERM to every running node; 0 when each one exits 0
# (a clean stop, SPEC §2), else prints which did not.
stop_cluster() {
    local i rc=0 s
    for i in $(seq 1 "$CLUSTER_N"); do
        node_running "$i" || continue
        stop_node "$i"
        s=$?
        [ "$s" = 0 ] || { echo "# n$i exited $s on SIGTERM" >&2; rc=1; }
    done
    return $rc
}

# logs_clean: 0 when no node log holds a sanitizer report (for builds with
# -fsanitize=address,undefined); prints the first reports otherwise.
logs_clean() {
    local i bad=0
    for i in $(seq 1 "$CLUSTER_N"); do
        [ -f "${NODE_LOG[$i]:-}" ] || continue
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "${NODE_LOG[$i]}"; then
            grep -m3 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "${NODE_LOG[$i]}" |
                sed "s/^/# n$i: /" >&2
            bad=1
        fi
    done
    [ $bad = 0 ]
}

# metric I NAME: prints the value of Prometheus metric NAME on node I.
metric() {
    curl -sf --max-time 5 "$(node_url "$1")/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

# now_ms: wall clock in milliseconds (for records compared across processes).
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
