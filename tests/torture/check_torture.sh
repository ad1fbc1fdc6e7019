#!/bin/bash
# make check: a short torture run (tests/torture/harness.py) against one real
# kahunad: fixed seed, every fault available to one node at least once, all
# four workloads, then the checkers. TORTURE_SEED and TORTURE_DURATION
# override the defaults. The run dir is removed when the run passes and kept
# (with the node's data dir) when it does not; its path and the replay
# command are printed. An undecided verdict (a search budget ran out) is a
# SKIP (77): the run proved nothing either way.
set -u
seed=${TORTURE_SEED:-42}
root="${TOP_BUILDDIR:-.}/torture-runs"
dir="$root/check-seed$seed-$$"
mkdir -p "$root"
/usr/bin/python3 "${TOP_SRCDIR:-.}/tests/torture/harness.py" --kahunad "${KAHUNAD:?set KAHUNAD}" \
    --seed "$seed" --duration "${TORTURE_DURATION:-24}" --fault-seconds 1.5 --quiet-seconds 1.2 \
    --nemesis all --require-all-nemeses --run-dir "$dir"
rc=$?
case $rc in
0) rm -rf "$dir" ;;
2) echo "# undecided verdict: see $dir/verdict.json" >&2; exit 77 ;;
*) echo "# torture run failed (status $rc); kept $dir" >&2 ;;
esac
exit $rc
