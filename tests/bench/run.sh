#!/usr/bin/env bash
# run.sh: `make bench`. Starts a fresh single-node kahunad on free ports
# with a temporary data dir, runs kbench's four workloads against it
# (kv-set, kv-get, lock, seq-next; 64 clients by default), prints the
# table and the machine it ran on, and stops the daemon.
#
# The data dir lives under the build tree, not /tmp, so that fsync costs
# what it costs on a real disk (/tmp is often tmpfs). Knobs (environment):
#   BENCH_DURATION (10s)  BENCH_WARMUP (1s)  BENCH_CLIENTS (64)
#   BENCH_THREADS (1)     BENCH_ARGS (extra kbench options, e.g. --json)
#   BENCH_TMPDIR          where the data dir goes
# Exit status: 0 when every request succeeded and kahunad stopped cleanly.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${TOP_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${TOP_BUILDDIR:=$PWD}"
: "${KAHUNAD:=$TOP_BUILDDIR/daemon/kahunad}"
: "${KBENCH:=$TOP_BUILDDIR/tests/bench/kbench}"
for prog in "$KAHUNAD" "$KBENCH"; do
    if [ ! -x "$prog" ]; then
        echo "bench: $prog is not built; run make first (or set KAHUNAD / KBENCH)" >&2
        exit 2
    fi
done
command -v curl >/dev/null || { echo "bench: curl is needed (apt-get install curl)" >&2; exit 2; }

TMPDIR=${BENCH_TMPDIR:-$TOP_BUILDDIR/tests/bench/tmp}
made_tmpdir=""
[ -d "$TMPDIR" ] || made_tmpdir=1
mkdir -p "$TMPDIR"
export TMPDIR

# lib.sh: free ports, start_kahunad (waits for /ready), and a trap that
# stops every daemon it started, whatever happens.
# shellcheck source=../integration/lib.sh
. "$TOP_SRCDIR/tests/integration/lib.sh"
# lib.sh's cleanup is not written for set -e; the empty TMPDIR goes too.
trap 'set +e; cleanup; [ -z "$made_tmpdir" ] || rmdir "$TMPDIR" 2>/dev/null' EXIT

if ! start_kahunad bench --log-level warn; then
    echo "bench: kahunad did not start; its log:" >&2
    cat "$KLOG" >&2 || true
    FAILS=1 # keep the temporary dir for inspection
    exit 2
fi

fs=$(df -PT "$KDATA" 2>/dev/null | awk 'NR == 2 { print $2 }')
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
echo "# kahuna bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPU(s) ${cpu:+($cpu)}, $(uname -sr)"
echo "# single node at $KURL, data dir on ${fs:-unknown} ($KDATA)"
echo "# kbench --clients ${BENCH_CLIENTS:-64} --threads ${BENCH_THREADS:-1} --duration ${BENCH_DURATION:-10s} --warmup ${BENCH_WARMUP:-1s} ${BENCH_ARGS:-}"

rc=0
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
"$KBENCH" --url "$KURL" --clients "${BENCH_CLIENTS:-64}" --threads "${BENCH_THREADS:-1}" \
    --duration "${BENCH_DURATION:-10s}" --warmup "${BENCH_WARMUP:-1s}" \
    --workload kv-set,kv-get,lock,seq-next ${BENCH_ARGS:-} || rc=$?

stop_rc=0
stop_kahunad "$KPID" || stop_rc=$?
if [ "$stop_rc" -ne 0 ]; then
    echo "bench: kahunad exited with status $stop_rc on SIGTERM (expected 0); its log:" >&2
    tail -n 20 "$KLOG" >&2
fi
if [ "$rc" -ne 0 ]; then
    echo "bench: kbench exited with status $rc (see above); daemon log: $KLOG" >&2
fi
if [ "$rc" -ne 0 ] || [ "$stop_rc" -ne 0 ]; then
    FAILS=1 # lib.sh's cleanup keeps the temporary dir for inspection
    exit 1
fi
exit 0
