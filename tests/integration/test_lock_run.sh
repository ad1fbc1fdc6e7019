#!/bin/bash
# test_lock_run.sh: kahuna-cli lock run (SPEC §5) against a real kahunad:
# mutual exclusion of concurrent runs, the environment of the command, its
# exit status passed through, exit 75 when the lock is not obtained or is
# lost, release at the end, extension while the command runs, and signals
# forwarded to the command.
. "$(dirname "$0")/lib.sh"

start_kahunad n1 || { echo "cannot start kahunad" >&2; exit 1; }
export KAHUNA_ENDPOINTS=$KURL
export KAHUNA_CLI
unset KAHUNA_OWNER
K=$KAHUNA_CLI

lock_free() { ! "$K" lock info "$1" >/dev/null 2>&1; }
file_has() { [ -f "$1" ] && grep -q -- "$2" "$1"; }
matches() { [[ "$1" =~ $2 ]]; }
# is_cli PID: the background job PID has become kahuna-cli (exec done).
is_cli() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$K")" ]; }

# ---- several concurrent runs of one lock never overlap, and all run ----
log="$TEST_TMP/overlap.log"
: >"$log"
pids=()
for i in 1 2 3 4; do
    "$K" lock run jobs/exclusive --wait 60s --ttl 5s -- \
        sh -c 'echo "start $$" >>"$0"; sleep 0.3; echo "end $$" >>"$0"' "$log" 2>>"$TEST_TMP/overlap.err" &
    pids+=("$!")
done
rcs=""
for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done
check "every concurrent run exits 0 (got$rcs)" [ "$rcs" = " 0 0 0 0" ]
check "every run ran (8 lines)" [ "$(wc -l <"$log")" = 8 ]
ok=1
mapfile -t lines <"$log"
for ((i = 0; i < ${#lines[@]}; i += 2)); do
    s=${lines[$i]} e=${lines[$((i + 1))]:-}
    [[ "$s" == "start "* ]] && [ "$e" = "end ${s#start }" ] || ok=0
done
check "runs never overlap: every start is followed by its own end ($(tr '\n' ',' <"$log"))" [ $ok = 1 ]
check "four different commands ran" [ "$(grep -c '^start' "$log" | tr -d ' ')" = 4 ] && \
    [ "$(grep '^start' "$log" | sort -u | wc -l)" = 4 ]
check "the lock is free after the runs" lock_free jobs/exclusive

# ---- the command's environment ----
out=$("$K" lock run env/a -- sh -c 'echo "$KAHUNA_LOCK $KAHUNA_FENCING_TOKEN"')
check "lock run exits 0" [ $? = 0 ]
check "KAHUNA_LOCK and KAHUNA_FENCING_TOKEN are set ($out)" matches "$out" '^env/a [0-9]+$'
tok1=${out#env/a }
out=$("$K" lock run env/a -- sh -c 'echo "$KAHUNA_FENCING_TOKEN"')
check "the next run gets a larger fencing token ($out > $tok1)" [ "$out" -gt "$tok1" ]
out=$("$K" lock run env/a -- sh -c 'echo "$1|$2"' zero "two words")
check "arguments are passed as they are ($out)" [ "$out" = "two words|" ]
out=$("$K" lock run env/a -- printf '%s|' a 'b c' '$HOME')
check "no shell expansion of the command's arguments ($out)" [ "$out" = 'a|b c|$HOME|' ]

# ---- exit status passthrough ----
"$K" lock run st/a -- sh -c 'exit 7'
check "the command's exit status is passed through" [ $? = 7 ]
"$K" lock run st/a -- sh -c 'kill -KILL $$'
check "a command killed by signal N gives 128+N" [ $? = 137 ]
"$K" lock run st/a -- /nonexistent/command 2>/dev/null
check "a command that cannot be run gives 127" [ $? = 127 ]
check "the lock is released after each run" lock_free st/a

# ---- not obtained: nothing runs, exit 75 ----
"$K" lock acquire held/a --owner someone-else --ttl 60s >/dev/null
"$K" lock run held/a -- touch "$TEST_TMP/ran-held" 2>"$TEST_TMP/held.err"
check "a held lock without --wait gives 75" [ $? = 75 ]
check "nothing ran" [ ! -e "$TEST_TMP/ran-held" ]
check "it says so on stderr" [ -s "$TEST_TMP/held.err" ]
"$K" lock run held/a --wait 300ms -- touch "$TEST_TMP/ran-held" 2>/dev/null
check "a lock still held after --wait gives 75" [ $? = 75 ]
check "nothing ran after the wait" [ ! -e "$TEST_TMP/ran-held" ]
"$K" lock info held/a | grep -q "owner: someone-else"
check "the holder keeps the lock" [ $? = 0 ]

# ---- the owner: fresh per run, or --owner ----
out=$("$K" lock run own/a -- sh -c '"$KAHUNA_CLI" lock info own/a | sed -n "s/^owner: //p"')
check "lock run's owner is USER@HOST:PID:RANDOM ($out)" matches "$out" '^.+@.+:[0-9]+:[0-9a-f]{8}$'
out=$("$K" lock run own/a --owner batch-7 -- sh -c '"$KAHUNA_CLI" lock info own/a | sed -n "s/^owner: //p"')
check "lock run --owner ($out)" [ "$out" = batch-7 ]

# ---- the lock is extended while the command runs ----
"$K" lock run ext/a --ttl 1s -- sh -c \
    'sleep 2.5; "$KAHUNA_CLI" lock acquire ext/a --owner intruder >/dev/null 2>&1; echo $? >"$0"' \
    "$TEST_TMP/ext.rc"
check "lock run with a short TTL exits 0" [ $? = 0 ]
check "after 2.5 TTLs the lock is still held (intruder got exit $(cat "$TEST_TMP/ext.rc"))" \
    [ "$(cat "$TEST_TMP/ext.rc")" = 1 ]
check "and released at the end" lock_free ext/a

# ---- SIGTERM to kahuna-cli is forwarded to the command ----
ready="$TEST_TMP/term.ready" got="$TEST_TMP/term.got"
"$K" lock run sig/a --ttl 3s -- sh -c \
    'trap "echo got-term >\"$1\"; exit 3" TERM; echo ready >"$0"; while :; do sleep 0.1; done' \
    "$ready" "$got" &
cli=$!
check "the command started" wait_until 10 test -s "$ready"
kill -TERM "$cli"
wait "$cli"
rc=$?
check "kahuna-cli exits with the command's status after SIGTERM (got $rc)" [ $rc = 3 ]
check "the command got SIGTERM" file_has "$got" got-term
check "the lock is released after the command stopped" lock_free sig/a

# ---- SIGTERM while waiting for the lock: nothing runs ----
"$K" lock acquire sig/b --owner blocker --ttl 60s >/dev/null
"$K" lock run sig/b --wait 60s -- touch "$TEST_TMP/ran-sigb" 2>/dev/null &
cli=$!
check "kahuna-cli started" wait_until 10 is_cli "$cli"
kill -TERM "$cli"
wait "$cli"
rc=$?
check "SIGTERM while waiting ends kahuna-cli (got $rc)" [ $rc = 143 ]
check "nothing ran" [ ! -e "$TEST_TMP/ran-sigb" ]

# ---- the lock is lost while the command runs: SIGTERM it, exit 75 ----
ready="$TEST_TMP/lost.ready" got="$TEST_TMP/lost.got"
"$K" lock run lost/a --ttl 1s --owner victim -- sh -c \
    'trap "echo got-term >\"$1\"; exit 0" TERM; echo ready >"$0"; while :; do sleep 0.1; done' \
    "$ready" "$got" 2>"$TEST_TMP/lost.err" &
cli=$!
check "the command started" wait_until 10 test -s "$ready"
"$K" lock release lost/a --owner victim >/dev/null
check "the lock can be taken away" [ $? = 0 ]
"$K" lock acquire lost/a --owner thief --ttl 60s >/dev/null
check "another owner takes it" [ $? = 0 ]
wait "$cli"
rc=$?
check "kahuna-cli exits 75 when the lock is lost (got $rc)" [ $rc = 75 ]
check "the command got SIGTERM" file_has "$got" got-term
check "it says the lock was lost ($(cat "$TEST_TMP/lost.err"))" file_has "$TEST_TMP/lost.err" "lost"
"$K" lock info lost/a | grep -q "owner: thief"
check "the new owner keeps the lock" [ $? = 0 ]

# ---- usage errors ----
"$K" lock run 2>/dev/null
check "lock run without NAME gives 64" [ $? = 64 ]
"$K" lock run u/a 2>/dev/null
check "lock run without COMMAND gives 64" [ $? = 64 ]
"$K" lock run u/a --ttl soon -- true 2>/dev/null
check "lock run with a bad --ttl gives 64" [ $? = 64 ]

# ---- no cluster: 69, nothing runs ----
"$K" --endpoints "http://127.0.0.1:$(free_port)" lock run u/b -- touch "$TEST_TMP/ran-69" 2>/dev/null
check "lock run with no cluster gives 69" [ $? = 69 ]
check "nothing ran" [ ! -e "$TEST_TMP/ran-69" ]

done_testing
