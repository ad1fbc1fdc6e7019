#!/usr/bin/env bash
# cluster_vs_etcd.sh: `make bench-cluster`. The benchmark of the Raft issue:
# a 3-node kahuna cluster and a 3-member etcd 3.4 cluster on this machine,
# one after the other in one run, under the same kbench workloads (64
# keep-alive HTTP clients, 100-byte values, distinct keys):
#   kv-set   durable writes, a new key each
#   kv-get   linearizable reads of 1000 keys written beforehand
#   lock     acquire + release cycles, one lock per client (no contention)
# then a table of ops/s and p99 per system, the ratios kahuna/etcd, and
# PASS/FAIL against the issue's floors: 10 000 writes/s, 30 000 reads/s,
# 5 000 lock cycles/s, and kahuna at least 3x etcd on writes and on lock
# cycles.
#
# etcd runs as Debian's etcd-server ships it (fsync of its WAL on every
# commit, the default) behind its own v3 HTTP/JSON gateway; kahunad fsyncs
# every committed batch. Every member and node writes its data under the
# build tree (not /tmp, often a tmpfs where fsync costs nothing).
#
# Where the clients go, for each system ("clients-to"):
#   leader   all 64 clients on the leader's HTTP port
#   spread   client i on member i mod 3: followers forward writes to the
#            leader (etcd's gateway does too) and serve reads by ReadIndex
# Both are run and printed. Ratios in the table compare the same mode;
# the 3x floors compare each kahuna mode with etcd's better mode.
#
# It installs nothing unless asked: without etcd it says
# `apt-get install etcd-server` and exits 77; with --install (as root) it
# runs that itself. Every process it starts is stopped on exit (lib.sh's
# trap), whatever happens.
#
# Options (or the environment variables after them):
#   --install               apt-get install -y etcd-server when etcd is missing
#   --kahuna-nodes N        3 (default), or 1 for a single node (no --peers)
#                           CLUSTER_BENCH_KAHUNA_NODES
#   --only etcd|kahuna      run one system only (no ratios)
#   --modes "leader spread" which clients-to modes to run  CLUSTER_BENCH_MODES
#   --duration D            measured time per workload     BENCH_DURATION (10s)
#   --warmup D              unmeasured time before it      BENCH_WARMUP (1s)
#   --clients N             BENCH_CLIENTS (64)             --threads N: BENCH_THREADS (1)
#   BENCH_TMPDIR            where the data dirs go
#   ETCD                    the etcd binary (default: etcd on PATH)
# Exit status: 0 every run completed without errors and every floor is met
# (by at least one kahuna mode), 1 a floor missed or requests failed, 2 a
# server did not start or a tool is missing, 77 etcd is not installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${TOP_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${TOP_BUILDDIR:=$PWD}"
: "${KAHUNAD:=$TOP_BUILDDIR/daemon/kahunad}"
: "${KBENCH:=$TOP_BUILDDIR/tests/bench/kbench}"
: "${ETCD:=etcd}" # the etcd binary (another build of etcd 3.4 works too)

me=bench-cluster
install=""
only=""
KNODES=${CLUSTER_BENCH_KAHUNA_NODES:-3}
MODES=${CLUSTER_BENCH_MODES:-leader spread}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-1s}
CLIENTS=${BENCH_CLIENTS:-64}
THREADS=${BENCH_THREADS:-1}
while [ $# -gt 0 ]; do
    case $1 in
    --install) install=1; shift; continue ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    esac
    [ $# -ge 2 ] || { echo "$me: $1 needs a value (see --help)" >&2; exit 2; }
    case $1 in
    --kahuna-nodes) KNODES=$2 ;;
    --only) only=$2 ;;
    --modes) MODES=$2 ;;
    --duration) DURATION=$2 ;;
    --warmup) WARMUP=$2 ;;
    --clients) CLIENTS=$2 ;;
    --threads) THREADS=$2 ;;
    *) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift 2
done
case $KNODES in 1 | 3) ;; *) echo "$me: --kahuna-nodes must be 1 or 3 (got '$KNODES')" >&2; exit 2 ;; esac
case $only in "" | etcd | kahuna) ;; *) echo "$me: --only takes etcd or kahuna (got '$only')" >&2; exit 2 ;; esac
for m in $MODES; do
    case $m in leader | spread) ;; *) echo "$me: unknown mode '$m' (leader, spread)" >&2; exit 2 ;; esac
done
[ -n "$MODES" ] || { echo "$me: --modes is empty" >&2; exit 2; }

for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "$me: $tool is needed: apt-get install $tool" >&2; exit 2; }
done
if [ "$only" != etcd ] && [ ! -x "$KAHUNAD" ]; then
    echo "$me: $KAHUNAD is not built; run make first (or set KAHUNAD)" >&2
    exit 2
fi
if [ ! -x "$KBENCH" ]; then
    echo "$me: $KBENCH is not built; run make first (or set KBENCH)" >&2
    exit 2
fi
if [ "$only" != kahuna ] && ! command -v "$ETCD" >/dev/null; then
    if [ -n "$install" ] && [ "$(id -u)" = 0 ]; then
        echo "# $me: etcd is missing; running apt-get install -y etcd-server" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >&2; } ||
            { echo "$me: apt-get install etcd-server failed" >&2; exit 77; }
        command -v "$ETCD" >/dev/null || { echo "$me: still no $ETCD after the install" >&2; exit 77; }
    else
        echo "$me: etcd is needed for the comparison: apt-get install etcd-server" >&2
        [ -z "$install" ] || echo "$me: (--install works only as root)" >&2
        echo "$me: (or run kahuna alone: --only kahuna)" >&2
        exit 77
    fi
fi

TMPDIR=${BENCH_TMPDIR:-$TOP_BUILDDIR/tests/bench/tmp}
made_tmpdir=""
[ -d "$TMPDIR" ] || made_tmpdir=1
mkdir -p "$TMPDIR"
export TMPDIR

# lib.sh: free ports, wait_until, and a trap that stops every process
# listed in KPIDS, whatever happens.
# shellcheck source=../integration/lib.sh
. "$TOP_SRCDIR/tests/integration/lib.sh"
trap 'set +e; cleanup; [ -z "$made_tmpdir" ] || rmdir "$TMPDIR" 2>/dev/null' EXIT

# stop_all "OK_STATUSES" PID...: SIGTERM, wait up to 10 s each (then
# SIGKILL); drops them from KPIDS. Returns 1 when one of them needed the
# SIGKILL or exited with a status not in OK_STATUSES (kahunad: "0"; etcd
# re-raises the signal, so "143" is its clean stop).
stop_all() {
    local okst=$1 pid rc=0 i keep=() p st
    shift
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
        st=0
        wait "$pid" 2>/dev/null || st=$?
        case " $okst " in *" $st "*) ;; *) rc=1 ;; esac
    done
    for p in "${KPIDS[@]}"; do
        for pid in "$@"; do [ "$p" = "$pid" ] && continue 2; done
        keep+=("$p")
    done
    KPIDS=("${keep[@]}")
    return $rc
}

fs_of() { df -PT "$1" 2>/dev/null | awk 'NR == 2 { print $2 }'; }

# ---------------------------------------------------------------- etcd

# start_etcd: 3 members on free loopback ports, data under $TEST_TMP/etcd-N.
# Sets EURLS (client URLs, member order), EPIDS, ELOGS. Retries on a port
# taken between free_port and etcd's bind.
start_etcd() {
    local tries=0 i cport pport cluster token ok
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1))
        EURLS=() EPIDS=() ELOGS=()
        local cports=() pports=()
        cluster=""
        for i in 1 2 3; do
            cport=$(free_port) pport=$(free_port)
            cports+=("$cport") pports+=("$pport")
            cluster+="${cluster:+,}e$i=http://127.0.0.1:$pport"
        done
        token="kbench-$$-$tries"
        for i in 1 2 3; do
            local dir="$TEST_TMP/etcd-$i-$tries" log="$TEST_TMP/etcd-$i.log"
            mkdir -p "$dir"
            "$ETCD" --name "e$i" --data-dir "$dir" \
                --listen-client-urls "http://127.0.0.1:${cports[i - 1]}" \
                --advertise-client-urls "http://127.0.0.1:${cports[i - 1]}" \
                --listen-peer-urls "http://127.0.0.1:${pports[i - 1]}" \
                --initial-advertise-peer-urls "http://127.0.0.1:${pports[i - 1]}" \
                --initial-cluster "$cluster" --initial-cluster-state new \
                --initial-cluster-token "$token" \
                --logger zap --log-outputs stderr --log-level warn >>"$log" 2>&1 &
            EPIDS+=("$!") ELOGS+=("$log")
            KPIDS+=("$!")
            EURLS+=("http://127.0.0.1:${cports[i - 1]}")
        done
        ok=1
        for i in 0 1 2; do
            wait_until 30 etcd_healthy "${EURLS[i]}" || { ok=""; break; }
        done
        [ -n "$ok" ] && return 0
        stop_all "0 143" "${EPIDS[@]}" || true
        grep -qi "address already in use" "${ELOGS[@]}" || break
    done
    echo "$me: etcd did not start; the end of its logs:" >&2
    for i in 0 1 2; do tail -n 5 "${ELOGS[i]}" >&2 || true; done
    return 1
}

# shellcheck disable=SC2317 # called through wait_until
etcd_healthy() { curl -sf "$1/health" | jq -e '.health == "true"' >/dev/null; }

# etcd_leader_url: the client URL of the member that leads now.
etcd_leader_url() {
    local u st
    for u in "${EURLS[@]}"; do
        st=$(curl -sf -X POST "$u/v3/maintenance/status" -d '{}') || continue
        if jq -e '.header.member_id == .leader' >/dev/null <<<"$st"; then
            echo "$u"
            return 0
        fi
    done
    return 1
}

# --------------------------------------------------------------- kahuna

# start_kahuna N: N nodes (1 or 3) on free loopback ports, RESP off, data
# under $TEST_TMP/kahuna-nI; waits until /ready is 200 on every node. Sets
# KURLS, KNPIDS, KNLOGS, KNDATA (node order n1..nN).
start_kahuna() {
    local n=$1 tries=0 i ok secret peers
    secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1))
        KURLS=() KNPIDS=() KNLOGS=() KNDATA=()
        local ports=()
        peers=""
        for i in $(seq 1 "$n"); do
            ports+=("$(free_port)")
            peers+="${peers:+,}n$i=http://127.0.0.1:${ports[i - 1]}"
        done
        for i in $(seq 1 "$n"); do
            local dir="$TEST_TMP/kahuna-n$i-$tries" log="$TEST_TMP/kahuna-n$i.log"
            local cluster_args=()
            [ "$n" -gt 1 ] && cluster_args=(--peers "$peers" --peer-secret "$secret")
            mkdir -p "$dir"
            "$KAHUNAD" --node-id "n$i" --listen "127.0.0.1:${ports[i - 1]}" --resp-listen off \
                --data-dir "$dir" --log-level warn "${cluster_args[@]}" >>"$log" 2>&1 &
            KNPIDS+=("$!") KNLOGS+=("$log") KNDATA+=("$dir")
            KPIDS+=("$!")
            KURLS+=("http://127.0.0.1:${ports[i - 1]}")
        done
        ok=1
        for i in $(seq 0 $((n - 1))); do
            wait_until 30 curl -sf "${KURLS[i]}/ready" || { ok=""; break; }
        done
        [ -n "$ok" ] && return 0
        stop_all 0 "${KNPIDS[@]}" || true
        grep -qi "in use" "${KNLOGS[@]}" || break
    done
    echo "$me: kahunad did not start ($n node(s)); the end of its logs:" >&2
    for i in $(seq 0 $((n - 1))); do tail -n 10 "${KNLOGS[i]}" >&2 || true; done
    return 1
}

# kahuna_leader_url: the URL of the node /v1/cluster names as leader.
kahuna_leader_url() {
    local st lid i
    st=$(curl -sf "${KURLS[0]}/v1/cluster") || return 1
    lid=$(jq -r '.leader // empty' <<<"$st")
    [ -n "$lid" ] || return 1
    for i in "${!KURLS[@]}"; do
        [ "n$((i + 1))" = "$lid" ] && { echo "${KURLS[i]}"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- runs

RESULTS="$TEST_TMP/results.jsonl"
: >"$RESULTS"
rc=0

# run_kbench SYSTEM MODE URL,...: the three workloads, one JSON line each,
# tagged with system and mode, appended to RESULTS.
run_kbench() {
    local system=$1 mode=$2 endpoints=$3 out krc=0
    echo "# $system, clients to $mode: kbench --target $system --endpoints $endpoints" >&2
    out=$("$KBENCH" --target "$system" --endpoints "$endpoints" --clients "$CLIENTS" --threads "$THREADS" \
        --duration "$DURATION" --warmup "$WARMUP" --workload kv-set,kv-get,lock --json) || krc=$?
    if [ -n "$out" ]; then
        jq -c --arg s "$system" --arg m "$mode" '. + {system: $s, mode: $m}' <<<"$out" >>"$RESULTS"
    fi
    if [ "$krc" -ne 0 ]; then
        echo "$me: kbench against $system ($mode) exited with status $krc" >&2
        rc=1
    fi
}

join_urls() { local IFS=,; echo "$*"; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
read -r load1 load5 load15 _ </proc/loadavg
echo "# cluster_vs_etcd: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPU(s) ${cpu:+($cpu)}, $(uname -sr)"
echo "# load average at start: $load1 $load5 $load15"
echo "# kbench --clients $CLIENTS --threads $THREADS --duration $DURATION --warmup $WARMUP" \
    "--workload kv-set,kv-get,lock (100-byte values, distinct keys, linearizable reads)"

if [ "$only" != kahuna ]; then
    if ! start_etcd; then
        FAILS=1
        exit 2
    fi
    ever=$("$ETCD" --version 2>/dev/null | awk '/^etcd Version/ { print $3 }')
    echo "# etcd ${ever:-?}: 3 members at $(join_urls "${EURLS[@]}"), data on $(fs_of "$TEST_TMP"), fsync per commit (default)"
    for mode in $MODES; do
        case $mode in
        leader)
            lurl=""
            if wait_until 10 etcd_leader_url; then lurl=$(etcd_leader_url) || lurl=""; fi
            if [ -z "$lurl" ]; then
                echo "$me: no etcd member says it leads" >&2
                rc=1
                continue
            fi
            run_kbench etcd leader "$lurl" ;;
        spread) run_kbench etcd spread "$(join_urls "${EURLS[@]}")" ;;
        esac
    done
    stop_all "0 143" "${EPIDS[@]}" || { echo "$me: an etcd member did not stop cleanly" >&2; rc=1; }
    # etcd's data (and its dirty pages, still being written back) must not
    # slow the fsyncs of the system measured next: drop it and flush
    rm -rf "$TEST_TMP"/etcd-*
    sync
fi

if [ "$only" != etcd ]; then
    if ! start_kahuna "$KNODES"; then
        FAILS=1
        exit 2
    fi
    read -r load1 load5 load15 _ </proc/loadavg
    echo "# kahunad: $KNODES node(s) at $(join_urls "${KURLS[@]}"), data on $(fs_of "$TEST_TMP"), fsync per batch;" \
        "load average now: $load1 $load5 $load15"
    for mode in $MODES; do
        if [ "$KNODES" -eq 1 ] && [ "$mode" = spread ]; then
            echo "# kahuna, clients to spread: skipped (one node: the same as leader)" >&2
            continue
        fi
        case $mode in
        leader)
            lurl=""
            if wait_until 10 kahuna_leader_url; then lurl=$(kahuna_leader_url) || lurl=""; fi
            if [ -z "$lurl" ]; then
                echo "$me: no kahuna node names a leader" >&2
                rc=1
                continue
            fi
            run_kbench kahuna leader "$lurl" ;;
        spread) run_kbench kahuna spread "$(join_urls "${KURLS[@]}")" ;;
        esac
    done
    if lurl=$(kahuna_leader_url); then
        metrics=$(curl -s "$lurl/metrics" 2>/dev/null || true)
        props=$(awk '/^kahuna_proposals_total / { print $2 }' <<<"$metrics")
        batches=$(awk '/^kahuna_batches_total / { print $2 }' <<<"$metrics")
        if [ -n "$props" ] && [ -n "$batches" ]; then
            echo "# kahunad leader: $props proposals in $batches batches (one fsync each)"
        fi
    fi
    stop_all 0 "${KNPIDS[@]}" || { echo "$me: a kahunad node did not exit 0 on SIGTERM" >&2; rc=1; }
fi
read -r load1 load5 load15 _ </proc/loadavg
echo "# load average at end: $load1 $load5 $load15"

# ---------------------------------------------------------------- report

# fig SYSTEM MODE WORKLOAD FIELD: one figure from RESULTS ("" if none).
# The lock row is read as whole cycles (cycles_per_s, cycle_p99_ms).
fig() {
    jq -r --arg s "$1" --arg m "$2" --arg w "$3" --arg f "$4" \
        'select(.system == $s and .mode == $m and .workload == $w) | .[$f] // empty' "$RESULTS" | head -n 1
}
rate_field() { [ "$1" = lock ] && echo cycles_per_s || echo ops_per_s; }
p_field() { [ "$1" = lock ] && echo "cycle_$2_ms" || echo "$2_ms"; }
ratio() { awk -v k="$1" -v e="$2" 'BEGIN { if (k == "" || e == "" || e + 0 == 0) print "-"; else printf "%.2f", k / e }'; }
label() { case $1 in kv-set) echo "kv-set/s" ;; kv-get) echo "kv-get/s" ;; lock) echo "lock cycles/s" ;; esac; }

echo
printf '%-14s %-7s %-7s %10s %8s %8s %8s %7s\n' workload system to "ops/s" "p50 ms" "p99 ms" "p999 ms" errors
for w in kv-set kv-get lock; do
    for s in etcd kahuna; do
        for m in $MODES; do
            r=$(fig "$s" "$m" "$w" "$(rate_field "$w")")
            [ -n "$r" ] || continue
            printf '%-14s %-7s %-7s %10.0f %8.2f %8.2f %8.2f %7s\n' "$(label "$w")" "$s" "$m" "$r" \
                "$(fig "$s" "$m" "$w" "$(p_field "$w" p50)")" "$(fig "$s" "$m" "$w" "$(p_field "$w" p99)")" \
                "$(fig "$s" "$m" "$w" "$(p_field "$w" p999)")" "$(fig "$s" "$m" "$w" errors)"
        done
    done
done
echo "# lock rows are whole cycles (acquire sent to release answered); each cycle is two requests"

# best_etcd WORKLOAD: etcd's better rate over the modes run, and its mode.
best_etcd() {
    local m r best="" bm=""
    for m in $MODES; do
        r=$(fig etcd "$m" "$1" "$(rate_field "$1")")
        [ -n "$r" ] || continue
        if [ -z "$best" ] || awk -v a="$r" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=$r bm=$m; fi
    done
    echo "$best $bm"
}

if [ "$only" = "" ]; then
    echo
    printf '%-14s %-7s %24s\n' workload to "kahuna/etcd (same mode)"
    for w in kv-set kv-get lock; do
        for m in $MODES; do
            k=$(fig kahuna "$m" "$w" "$(rate_field "$w")")
            e=$(fig etcd "$m" "$w" "$(rate_field "$w")")
            [ -n "$k" ] || continue
            printf '%-14s %-7s %24s\n' "$(label "$w")" "$m" "$(ratio "$k" "$e")"
        done
    done
fi

# The floors, for each kahuna mode: rate floors always, 3x etcd's better
# mode on writes and lock cycles when etcd ran.
[ "$only" = etcd ] || { echo; printf '%-30s %-7s %12s %12s %7s\n' check to value floor result; }
overall=FAIL
any_mode=""
for m in $MODES; do
    [ -n "$(fig kahuna "$m" kv-set ops_per_s)" ] || continue
    any_mode=1
    mode_ok=1
    for w in kv-set kv-get lock; do
        k=$(fig kahuna "$m" "$w" "$(rate_field "$w")")
        case $w in kv-set) floor=10000 ;; kv-get) floor=30000 ;; lock) floor=5000 ;; esac
        res=$(awk -v k="$k" -v f="$floor" 'BEGIN { print (k != "" && k + 0 >= f) ? "PASS" : "FAIL" }')
        [ "$res" = PASS ] || mode_ok=""
        printf '%-30s %-7s %12.0f %12s %7s\n' "$(label "$w")" "$m" "${k:-0}" ">= $floor" "$res"
        [ "$w" = kv-get ] && continue
        [ "$only" = "" ] || continue
        read -r e em <<<"$(best_etcd "$w")"
        x=$(ratio "$k" "${e:-}")
        res=$(awk -v x="$x" 'BEGIN { print (x != "-" && x + 0 >= 3) ? "PASS" : "FAIL" }')
        [ "$res" = PASS ] || mode_ok=""
        printf '%-30s %-7s %12s %12s %7s\n' "$(label "$w") vs etcd ($em)" "$m" "${x}x" ">= 3.00x" "$res"
    done
    [ -n "$mode_ok" ] && overall=PASS
done
if [ -z "$any_mode" ]; then
    overall="-"
    [ "$only" = etcd ] || rc=1
fi
if [ "$KNODES" -eq 1 ] && [ -n "$any_mode" ]; then
    echo "# kahuna ran as a SINGLE node (--kahuna-nodes 1): not the issue's 3-node benchmark"
fi
[ "$only" = "" ] || echo "# --only $only: no comparison, so the 3x floors are not judged"
if [ "$KNODES" -eq 1 ] && [ -n "$any_mode" ]; then
    echo "overall: $overall (single kahuna node)"
else
    echo "overall: $overall"
fi
[ "$overall" = FAIL ] && rc=1

if [ "$rc" -ne 0 ]; then
    FAILS=1 # lib.sh's cleanup keeps the temporary dir (logs, results.jsonl)
    exit 1
fi
exit 0
