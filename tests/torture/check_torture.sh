#!/bin/bash
# make check: a short torture run (tests/torture/harness.py) against a real
# 3-node kahunad cluster: fixed seed, every nemesis at least once (kills,
# pauses, partitions with the fault switch, leader transfer, membership
# change, all nodes killed at once), every workload (REST and RESP), then
# the checkers. About a minute on 2 cores. TORTURE_SEED, TORTURE_DURATION
# and TORTURE_NODES override the defaults. The run dir is removed when the
# run passes and kept (with the nodes' data dirs) when it does not; its path
# and the replay command are printed. An undecided verdict (a search budget
# ran out) is a SKIP (77): the run proved nothing either way.
set -u
seed=${TORTURE_SEED:-42}
root="${TOP_BUILDDIR:-.}/torture-runs"
dir="$root/check-seed$seed-$$"
mkdir -p "$root"
# fault windows of 1.8..3 s: longer than an election timeout (1..2 s), so
# that killing, pausing or cutting off the leader does make the others elect
/usr/bin/python3 "${TOP_SRCDIR:-.}/tests/torture/harness.py" --kahunad "${KAHUNAD:?set KAHUNAD}" \
    --nodes "${TORTURE_NODES:-3}" --seed "$seed" --duration "${TORTURE_DURATION:-40}" \
    --fault-seconds 3 --quiet-seconds 1.2 \
    --nemesis all --require-all-nemeses --run-dir "$dir"
rc=$?
case $rc in
0) rm -rf "$dir" ;;
2) echo "# undecided verdict: see $dir/verdict.json" >&2; exit 77 ;;
*) echo "# torture run failed (status $rc); kept $dir" >&2 ;;
esac
exit $rc
