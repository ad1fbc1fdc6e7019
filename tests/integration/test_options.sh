#!/bin/bash
# test_options.sh: kahunad's options and start-up rules (SPEC §2): a bad
# option, a busy port, a data dir in use or of another node id each refuse
# with a clear message; the command line beats the environment, which beats
# the config file (seen through GET /v1/cluster node_id); defaults for the
# data dir; SIGTERM and SIGINT stop cleanly with exit 0.
. "$(dirname "$0")/lib.sh"

# run_kahunad ARGS...: runs kahunad in the foreground (it must exit by
# itself: these runs are refused), at most 20 s; sets RC and ERR (stderr).
# A refused start must never take a real port or data dir, so the
# environment points at throwaway ones (the command line beats it).
run_kahunad() {
    RC=0
    KAHUNA_LISTEN="127.0.0.1:$(free_port)" KAHUNA_RESP_LISTEN=off \
        KAHUNA_DATA_DIR="${RUN_DATA_DIR:-$TEST_TMP/throwaway}" \
        timeout 20 "$KAHUNAD" "$@" >"$TEST_TMP/run.out" 2>"$TEST_TMP/run.err" || RC=$?
    ERR=$(cat "$TEST_TMP/run.err")
    OUT=$(cat "$TEST_TMP/run.out")
}
matches() { [[ "$1" == *"$2"* ]]; }
expect_rc() { check "$1 (exit $2, got $RC; stderr: $ERR)" [ "$RC" = "$2" ]; }
expect_err() { check "$1 (stderr mentions '$2', got: $ERR)" matches "$ERR" "$2"; }

# launch NAME ARGS...: starts kahunad in the background with ARGS only (no
# --node-id or --data-dir from lib.sh), output in $TEST_TMP/NAME.log; sets
# LPID. The caller picks the port (in ARGS, env or config file).
launch() {
    local name=$1; shift
    "$KAHUNAD" "$@" >>"$TEST_TMP/$name.log" 2>&1 &
    LPID=$!
    KPIDS+=("$LPID")
}
cluster_node_id() {
    curl -sf "http://127.0.0.1:$1/v1/cluster" | jq -r .node_id
}

# ---- help and version ----
run_kahunad --help
expect_rc "--help" 0
check "--help prints the options" matches "$OUT" "--node-id ID"
run_kahunad --version
expect_rc "--version" 0
check "--version prints a version ($OUT)" matches "$OUT" "kahunad "

# ---- bad options: exit 64 with a message ----
run_kahunad --bogus
expect_rc "unknown option" 64
expect_err "unknown option named" "unknown option '--bogus'"
run_kahunad --listen nonsense
expect_rc "bad --listen" 64
expect_err "bad --listen explained" "--listen 'nonsense'"
run_kahunad --listen 127.0.0.1:70000
expect_rc "port out of range" 64
expect_err "port range explained" "1 to 65535"
run_kahunad --node-id "bad id"
expect_rc "bad node id" 64
expect_err "bad node id explained" "letters, digits"
run_kahunad --log-level loud
expect_rc "bad log level" 64
run_kahunad --listen
expect_rc "option without its value" 64
expect_err "missing value explained" "needs a value"
RC=0; KAHUNA_LOG_LEVEL=loud run_kahunad
expect_rc "bad environment value" 64
expect_err "bad environment value names the variable" "KAHUNA_LOG_LEVEL"
printf 'node-id = n1\nfrobnicate = yes\n' >"$TEST_TMP/bad.conf"
run_kahunad --config "$TEST_TMP/bad.conf"
expect_rc "unknown config key" 64
expect_err "config error gives file and line" "$TEST_TMP/bad.conf:2: unknown key 'frobnicate'"
run_kahunad --config "$TEST_TMP/missing.conf"
expect_rc "missing config file" 64
expect_err "missing config file named" "cannot read config file $TEST_TMP/missing.conf"
run_kahunad --peers "n1=http://127.0.0.1:1,n2=http://127.0.0.1:2"
expect_rc "multi-node peers without a peer secret refused" 64
expect_err "the refusal says what to pass" "peer-secret"

# ---- a single-node --peers list is fine; the RESP listener is announced ----
start_kahunad n1 --peers "n1=http://127.0.0.1:1" || { echo "cannot start kahunad" >&2; exit 1; }
N1_URL=$KURL; N1_PORT=$KPORT; N1_PID=$KPID; N1_DATA=$KDATA; N1_LOG=$KLOG
kcurl GET /v1/cluster
expect_status "cluster status" 200
expect_json "node id" .node_id n1
check "start-up line names node, URLs and data dir" \
    grep -q "kahunad n1 serving REST on http://127.0.0.1:$N1_PORT and the Redis protocol on 127.0.0.1:$KRESP_PORT, data in $N1_DATA" "$N1_LOG"
check "the RESP listener answers PING" [ "$(redis-cli -p "$KRESP_PORT" ping)" = PONG ]

# ---- a busy RESP port ----
run_kahunad --node-id n8 --data-dir "$TEST_TMP/other8" --listen "127.0.0.1:$(free_port)" \
    --resp-listen "127.0.0.1:$KRESP_PORT"
expect_rc "busy RESP port refused" 1
expect_err "busy RESP port named" "cannot serve the Redis protocol on 127.0.0.1 port $KRESP_PORT"

# ---- a busy port ----
run_kahunad --node-id n9 --data-dir "$TEST_TMP/other" --listen "127.0.0.1:$N1_PORT"
expect_rc "busy port refused" 1
expect_err "busy port named" "port $N1_PORT is in use"

# ---- a data dir in use by a running kahunad ----
run_kahunad --node-id n1 --data-dir "$N1_DATA" --listen "127.0.0.1:$(free_port)"
expect_rc "data dir in use refused" 1
expect_err "data dir in use explained" "in use by another kahunad (pid $N1_PID)"

# ---- SIGTERM: clean stop, exit 0 ----
stop_kahunad "$N1_PID"
RC=$?
check "SIGTERM exits 0 (got $RC)" [ "$RC" = 0 ]
check "SIGTERM logs a clean stop" grep -q "stopped cleanly" "$N1_LOG"

# ---- a data dir of another node id ----
run_kahunad --node-id n2 --data-dir "$N1_DATA" --listen "127.0.0.1:$(free_port)"
expect_rc "data dir of another node refused" 1
expect_err "data dir owner named" "data dir $N1_DATA belongs to node n1; pass --node-id n1 or use another --data-dir"

# ---- SIGINT: clean stop too ----
start_kahunad n1 || { echo "cannot restart kahunad" >&2; exit 1; }
kill -INT "$KPID"
wait "$KPID"
RC=$?
check "SIGINT exits 0 (got $RC)" [ "$RC" = 0 ]

# ---- precedence: command line > environment > config file ----
port=$(free_port)
cat >"$TEST_TMP/kahuna.conf" <<EOF
# a config file as users write it
node-id = from-file
listen = 127.0.0.1:$port      # REST
resp-listen = off
data-dir = $TEST_TMP/prec
log-level = debug
EOF
launch file --config "$TEST_TMP/kahuna.conf"
check "config file alone: serves on the file's port" wait_until 20 curl -sf "http://127.0.0.1:$port/ready"
check "config file alone: node id from the file" [ "$(cluster_node_id "$port")" = from-file ]
stop_kahunad "$LPID"

rm -rf "$TEST_TMP/prec"
KAHUNA_CONFIG="$TEST_TMP/kahuna.conf" KAHUNA_NODE_ID=from-env launch env
check "env + file: ready" wait_until 20 curl -sf "http://127.0.0.1:$port/ready"
check "env beats the config file" [ "$(cluster_node_id "$port")" = from-env ]
stop_kahunad "$LPID"

rm -rf "$TEST_TMP/prec"
KAHUNA_CONFIG="$TEST_TMP/kahuna.conf" KAHUNA_NODE_ID=from-env launch cmd --node-id from-cmd
check "cmd + env + file: ready" wait_until 20 curl -sf "http://127.0.0.1:$port/ready"
check "the command line beats env and file" [ "$(cluster_node_id "$port")" = from-cmd ]
stop_kahunad "$LPID"

# ---- the default data dir: $XDG_DATA_HOME/kahuna/ID, else ~/.local/share/kahuna/ID ----
port=$(free_port)
mkdir -p "$TEST_TMP/home"
HOME="$TEST_TMP/home" XDG_DATA_HOME= KAHUNA_LISTEN="127.0.0.1:$port" KAHUNA_RESP_LISTEN=off \
    launch home --node-id dd1
check "default data dir: ready" wait_until 20 curl -sf "http://127.0.0.1:$port/ready"
check "default data dir is ~/.local/share/kahuna/ID" [ -f "$TEST_TMP/home/.local/share/kahuna/dd1/raft.db" ]
check "the data dir is private (0700)" [ "$(stat -c %a "$TEST_TMP/home/.local/share/kahuna/dd1")" = 700 ]
stop_kahunad "$LPID"
HOME="$TEST_TMP/home" XDG_DATA_HOME="$TEST_TMP/xdg" KAHUNA_LISTEN="127.0.0.1:$port" \
    KAHUNA_RESP_LISTEN=off launch xdg --node-id dd2
check "XDG data dir: ready" wait_until 20 curl -sf "http://127.0.0.1:$port/ready"
check "XDG_DATA_HOME is preferred" [ -f "$TEST_TMP/xdg/kahuna/dd2/raft.db" ]
stop_kahunad "$LPID"

done_testing
