#!/bin/bash
# make check: the harness must catch real bugs, end to end. Runs it against
# fakekahuna.py (a stand-in daemon with a bug on demand) and expects the
# verdict INVALID (status 1) for each bug: lose-writes under kill -9 (lost
# acknowledged writes) and lock-early (two lock holders) by default.
# SELFTEST_BUGS lists others: seq-reuse stale-read cas-blind ttl-early crash
# no-restart, and "none" (no bug: the verdict must be VALID, status 0).
# `make torture-selftest` runs them all.
set -u
here="${TOP_SRCDIR:-.}/tests/torture"
root="${TOP_BUILDDIR:-.}/torture-runs"
mkdir -p "$root"
fails=0
for bug in ${SELFTEST_BUGS:-lose-writes lock-early}; do
    case $bug in
    lose-writes|seq-reuse|no-restart|none)
        nem="--nemesis kill --fault-seconds 1 --quiet-seconds 1.2 --duration 5" ;;
    *) nem="--nemesis none --duration 3" ;;
    esac
    want=1
    [ "$bug" = none ] && want=0
    dir="$root/selftest-$bug-$$"
    # shellcheck disable=SC2086
    FAKEKAHUNA_BUG=${bug#none} /usr/bin/python3 "$here/harness.py" --kahunad "$here/fakekahuna.py" \
        --nodes 1 --resp-clients 0 --seed 7 $nem --run-dir "$dir" >"$dir.out" 2>&1
    rc=$?
    if [ $rc -eq $want ] && [ $want -eq 0 ]; then
        echo "ok: no bug, verdict VALID"
        rm -rf "$dir" "$dir.out"
    elif [ $rc -eq $want ]; then
        echo "ok: bug $bug caught: $(grep -cE 'VIOLATION|finding:' "$dir.out") violation(s) or finding(s) reported"
        rm -rf "$dir" "$dir.out"
    else
        echo "FAIL: bug $bug: harness status $rc, expected $want; kept $dir and $dir.out" >&2
        tail -15 "$dir.out" >&2
        fails=$((fails + 1))
    fi
done
[ $fails -eq 0 ]
