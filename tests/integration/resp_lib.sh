# resp_lib.sh: helpers for the RESP integration tests, sourced after
# lib.sh. They drive the node started by start_kahunad through redis-cli
# (Debian's redis-tools) on $KRESP_PORT, printing replies the way an
# interactive redis-cli does ("(integer) 1", "(nil)", "(error) ERR ...").

# rcli ARGS...: one command on its own connection.
rcli() { redis-cli --no-raw -p "$KRESP_PORT" "$@" 2>&1; }

# rcli_session: the commands on stdin, one per line, on one connection.
rcli_session() { redis-cli --no-raw -p "$KRESP_PORT" 2>&1; }

# expect_rcli NAME WANT ARGS...: checks the (whole) output of one command.
expect_rcli() {
    local name=$1 want=$2 got
    shift 2
    got=$(rcli "$@")
    check "$name (want [$want], got [$got])" [ "$got" = "$want" ]
}

# expect_rcli_match NAME REGEX ARGS...: the output matches an extended regex.
expect_rcli_match() {
    local name=$1 re=$2 got
    shift 2
    got=$(rcli "$@")
    check "$name (want /$re/, got [$got])" bash -c '[[ $1 =~ $2 ]]' _ "$got" "$re"
}

# start_resp NAME [kahunad args...]: start_kahunad, then waits until the
# RESP port answers PING.
start_resp() {
    start_kahunad "$@" || return 1
    if ! wait_until 10 bash -c "redis-cli -p $KRESP_PORT PING | grep -qE 'PONG|NOAUTH'"; then
        echo "# kahunad does not answer the Redis protocol on $KRESP_PORT (is the RESP listener wired in main.c?)" >&2
        tail -5 "$KLOG" >&2
        return 1
    fi
}

# resp_python: Debian's python3 with the redis module (never pyenv's).
RESP_PYTHON=/usr/bin/python3
