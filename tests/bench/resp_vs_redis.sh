#!/usr/bin/env bash
# resp_vs_redis.sh: `make bench-resp`. The benchmark of the Redis-protocol
# issue: redis-benchmark -t set,get -c 50 -P 16 against one kahunad node and
# against redis-server with appendonly yes / appendfsync always (every
# acknowledged write fsync'ed, as kahuna's are), one after the other in one
# run, then a table of requests/s and the ratios kahuna/redis.
#
# It installs nothing: without redis-server (or redis-benchmark) it says
# what to install and exits 2. Both servers run on free loopback ports with
# their data under the build tree (not /tmp, often a tmpfs where fsync costs
# nothing), on the same file system; both are stopped on exit, whatever
# happens (lib.sh's trap).
#
# SET and GET run as two redis-benchmark invocations (-t set, then -t get),
# each with its own request count, so that each lasts seconds rather than
# the fraction of a second 200000 GETs take: shorter runs are mostly noise.
#
# Knobs (environment):
#   RESP_BENCH_SET_REQUESTS (1000000)  -n of the SET run
#   RESP_BENCH_GET_REQUESTS (3000000)  -n of the GET run
#   RESP_BENCH_CLIENTS (50)            -c
#   RESP_BENCH_PIPELINE (16)           -P
#   RESP_BENCH_ARGS                    extra redis-benchmark options (-d 100)
#   BENCH_TMPDIR                       where the data dirs go
# Exit status: 0 when every run produced a figure (a target missed is
# reported, not an error), 1 when a run failed, 2 when something is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${TOP_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${TOP_BUILDDIR:=$PWD}"
: "${KAHUNAD:=$TOP_BUILDDIR/daemon/kahunad}"
if [ ! -x "$KAHUNAD" ]; then
    echo "bench-resp: $KAHUNAD is not built; run make first (or set KAHUNAD)" >&2
    exit 2
fi
if ! command -v redis-server >/dev/null; then
    echo "bench-resp: redis-server is needed for the comparison: apt-get install redis-server" >&2
    echo "bench-resp: (the package also starts a system redis on port 6379; this script does not use it)" >&2
    exit 2
fi
for tool in redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "bench-resp: $tool is needed: apt-get install redis-tools" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "bench-resp: curl is needed: apt-get install curl" >&2; exit 2; }

SET_REQUESTS=${RESP_BENCH_SET_REQUESTS:-1000000}
GET_REQUESTS=${RESP_BENCH_GET_REQUESTS:-3000000}
CLIENTS=${RESP_BENCH_CLIENTS:-50}
PIPELINE=${RESP_BENCH_PIPELINE:-16}

TMPDIR=${BENCH_TMPDIR:-$TOP_BUILDDIR/tests/bench/tmp}
made_tmpdir=""
[ -d "$TMPDIR" ] || made_tmpdir=1
mkdir -p "$TMPDIR"
export TMPDIR

# lib.sh: free ports, start_kahunad (waits for /ready), wait_until, and a
# trap that stops every process listed in KPIDS, whatever happens.
# shellcheck source=../integration/lib.sh
. "$TOP_SRCDIR/tests/integration/lib.sh"
trap 'set +e; cleanup; [ -z "$made_tmpdir" ] || rmdir "$TMPDIR" 2>/dev/null' EXIT

# start_redis: redis-server on a free port, AOF with an fsync per write, no
# RDB snapshots, data in $TEST_TMP/redis. Sets RPORT, RPID, RLOG.
start_redis() {
    local tries=0 dir="$TEST_TMP/redis"
    RLOG="$TEST_TMP/redis.log"
    mkdir -p "$dir"
    while [ $tries -lt 5 ]; do
        tries=$((tries + 1))
        RPORT=$(free_port)
        redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$dir" --daemonize no \
            --appendonly yes --appendfsync always --save '' --logfile '' >>"$RLOG" 2>&1 &
        RPID=$!
        KPIDS+=("$RPID")
        if wait_until 20 bash -c "redis-cli -p $RPORT PING | grep -q PONG"; then
            return 0
        fi
        kill -0 "$RPID" 2>/dev/null && break
        wait "$RPID" 2>/dev/null || true
        grep -qi "in use" "$RLOG" || break
    done
    echo "bench-resp: redis-server did not start; its log:" >&2
    tail -n 20 "$RLOG" >&2
    return 1
}

# bench PORT: redis-benchmark's SET, then GET, against PORT; prints
# "SET <rps>" and "GET <rps>" lines (the figures of its -q summary).
bench() {
    local out t n
    for t in set get; do
        n=$SET_REQUESTS
        [ "$t" = get ] && n=$GET_REQUESTS
        # shellcheck disable=SC2086 # RESP_BENCH_ARGS is a list of options
        out=$(redis-benchmark -h 127.0.0.1 -p "$1" -t "$t" -c "$CLIENTS" -P "$PIPELINE" \
            -n "$n" -q ${RESP_BENCH_ARGS:-} 2>&1 </dev/null) || {
            echo "bench-resp: redis-benchmark -t $t against port $1 failed:" >&2
            printf '%s\n' "$out" | tr '\r' '\n' | tail -n 5 >&2
            return 1
        }
        printf '%s\n' "$out" | tr '\r' '\n' |
            awk '/requests per second/ { sub(":", "", $1); print $1, $2 }'
    done
}

# rps TEST LINES: the figure of TEST ("SET", "GET") in bench's output.
rps() { awk -v t="$1" '$1 == t { print $2; exit }' <<<"$2"; }

if ! start_redis; then
    FAILS=1
    exit 2
fi
if ! start_kahunad bench --log-level warn; then
    echo "bench-resp: kahunad did not start; its log:" >&2
    cat "$KLOG" >&2 || true
    FAILS=1
    exit 2
fi
if ! wait_until 10 bash -c "redis-cli -p $KRESP_PORT PING | grep -q PONG"; then
    echo "bench-resp: kahunad does not answer the Redis protocol on $KRESP_PORT" >&2
    FAILS=1
    exit 2
fi

fs=$(df -PT "$KDATA" 2>/dev/null | awk 'NR == 2 { print $2 }')
rfs=$(df -PT "$TEST_TMP/redis" 2>/dev/null | awk 'NR == 2 { print $2 }')
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
read -r load1 load5 load15 _ </proc/loadavg
rver=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
echo "# resp_vs_redis: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPU(s) ${cpu:+($cpu)}, $(uname -sr)"
echo "# load average at start: $load1 $load5 $load15"
echo "# redis-server ${rver:-?} on 127.0.0.1:$RPORT: appendonly yes, appendfsync always, save '', data on ${rfs:-unknown}"
echo "# kahunad on 127.0.0.1:$KRESP_PORT (RESP), single node, data dir on ${fs:-unknown}"
echo "# redis-benchmark -t set -c $CLIENTS -P $PIPELINE -n $SET_REQUESTS -q${RESP_BENCH_ARGS:+ $RESP_BENCH_ARGS}"
echo "# redis-benchmark -t get -c $CLIENTS -P $PIPELINE -n $GET_REQUESTS -q${RESP_BENCH_ARGS:+ $RESP_BENCH_ARGS}"

rc=0
redis_out=$(bench "$RPORT") || rc=1
kahuna_out=$(bench "$KRESP_PORT") || rc=1

ratio() { awk -v k="$1" -v r="$2" 'BEGIN { if (k == "" || r == "" || r + 0 == 0) print "-"; else printf "%.2f", k / r }'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN { if (x == "-") print "-"; else if (x + 0 >= t + 0) print "met"; else print "missed" }'; }

printf '%-5s %16s %16s %13s %8s %7s\n' test "redis-server/s" "kahunad/s" "kahuna/redis" target result
for t in SET GET; do
    r=$(rps "$t" "$redis_out")
    k=$(rps "$t" "$kahuna_out")
    x=$(ratio "$k" "$r")
    case $t in SET) want=0.50 ;; GET) want=1.00 ;; esac
    [ -n "$r" ] && [ -n "$k" ] || rc=1
    printf '%-5s %16s %16s %13s %8s %7s\n' "$t" "${r:--}" "${k:--}" "$x" ">= $want" "$(verdict "$x" "$want")"
done

read -r load1 load5 load15 _ </proc/loadavg
echo "# load average at end: $load1 $load5 $load15"
metrics=$(curl -s "$KURL/metrics" 2>/dev/null || true)
props=$(awk '/^kahuna_proposals_total / { print $2 }' <<<"$metrics")
batches=$(awk '/^kahuna_batches_total / { print $2 }' <<<"$metrics")
if [ -n "$props" ] && [ -n "$batches" ]; then
    echo "# kahunad: $props proposals in $batches batches (one fsync each)"
fi

stop_rc=0
stop_kahunad "$KPID" || stop_rc=$?
if [ "$stop_rc" -ne 0 ]; then
    echo "bench-resp: kahunad exited with status $stop_rc on SIGTERM (expected 0); its log:" >&2
    tail -n 20 "$KLOG" >&2
    rc=1
fi
if [ "$rc" -ne 0 ]; then
    FAILS=1 # lib.sh's cleanup keeps the temporary dir for inspection
    exit 1
fi
exit 0
