#!/bin/bash
# test_cli.sh: every kahuna-cli command of SPEC §5 against a real kahunad:
# what it prints and its exit status (0 done, 1 no, 64 usage, 69 no
# cluster, 70 other), failover between endpoints, binary-safe values.
. "$(dirname "$0")/lib.sh"

start_kahunad n1 || { echo "cannot start kahunad" >&2; exit 1; }
export KAHUNA_ENDPOINTS=$KURL
unset KAHUNA_OWNER KAHUNA_PAGE_SIZE

# kcli ARGS...: runs kahuna-cli; sets OUT (stdout), ERR (stderr), RC.
kcli() {
    OUT=$("$KAHUNA_CLI" "$@" 2>"$TEST_TMP/stderr")
    RC=$?
    ERR=$(cat "$TEST_TMP/stderr")
}
expect_rc() { check "$1 (exit $2, got $RC; stderr: $ERR)" [ "$RC" = "$2" ]; }
expect_out() { check "$1 (stdout '$2', got '$OUT')" [ "$OUT" = "$2" ]; }
matches() { [[ "$1" =~ $2 ]]; }
expect_out_match() { check "$1 (stdout ~ $2, got '$OUT')" matches "$OUT" "$2"; }
expect_err_match() { check "$1 (stderr ~ $2, got '$ERR')" matches "$ERR" "$2"; }
is_number() { [[ "$1" =~ ^[0-9]+$ ]]; }
dead_port=$(free_port)

# ---- help, version, usage errors (64) ----
kcli --help
expect_rc "help" 0
expect_out_match "help lists commands" "kahuna-cli lock run NAME"
kcli --version
expect_rc "version" 0
expect_out_match "version" "^kahuna-cli [0-9]"
for args in "" "frob" "kv" "kv frob" "kv get" "kv get a b" "kv set k" "kv set k v --ttl" \
            "kv set k v --ttl 5x" "kv get k --ttl 5s" "kv get k --bogus" "kv ls --limit 0" \
            "kv ls --limit x" "kv set k v --if-exists --if-not-exists" "lock run L" \
            "lock acquire L --ttl 0" "seq set s abc" "seq next s --count 0" "cluster add n2" \
            "cluster add n2 not-a-url" "kv ttl k soon" "--timeout 0 health" "--endpoints foo health"; do
    # shellcheck disable=SC2086
    kcli $args
    expect_rc "usage error: '$args'" 64
    check "usage error '$args' says why on stderr" [ -n "$ERR" ]
    check "usage error '$args' prints nothing on stdout" [ -z "$OUT" ]
done

# ---- health ----
kcli health
expect_rc "health" 0
expect_out "health prints ok" "ok"

# ---- kv set / get ----
kcli kv set app/x hello
expect_rc "kv set" 0
check "kv set prints the revision ($OUT)" is_number "$OUT"
rev1=$OUT
kcli kv get app/x
expect_rc "kv get" 0
expect_out "kv get prints the value alone" "hello"
"$KAHUNA_CLI" kv get app/x >"$TEST_TMP/got"
printf 'hello' >"$TEST_TMP/want"
check "kv get adds no newline when stdout is not a terminal" cmp -s "$TEST_TMP/got" "$TEST_TMP/want"
kcli kv get app/x --json
expect_rc "kv get --json" 0
check "kv get --json prints the server's JSON" [ "$(printf '%s' "$OUT" | jq -r .value)" = "hello" ]
kcli kv get app/x --stale
expect_out "kv get --stale" "hello"
kcli --json kv set app/x hello2
expect_rc "kv set --json" 0
check "kv set --json has the revision" is_number "$(printf '%s' "$OUT" | jq -r .revision)"
kcli kv get app/x --revision "$rev1"
expect_rc "kv get --revision" 0
expect_out "kv get --revision gives the old value" "hello"

kcli kv get app/missing
expect_rc "kv get of a missing key" 1
check "kv get of a missing key prints nothing" [ -z "$OUT" ]
check "kv get of a missing key says so" [ -n "$ERR" ]
kcli --quiet kv get app/missing
expect_rc "kv get --quiet of a missing key" 1
check "--quiet: no message for a no answer" [ -z "$ERR" ]

# options in either form and after positionals; a value that starts with '-'
kcli kv set --ttl=60s app/dash -- -5
expect_rc "kv set -- -5" 0
kcli kv get app/dash
expect_out "value that starts with -" "-5"

# keys with characters that need percent-encoding
weird='dir/a b?c#d%e&f+g'
kcli kv set "$weird" w
expect_rc "kv set of a key with special characters" 0
kcli kv get "$weird"
expect_out "kv get of a key with special characters" "w"

# conditions
kcli kv set app/x other --if-not-exists
expect_rc "kv set --if-not-exists on an existing key" 1
expect_err_match "condition failure says so" "condition"
kcli kv set app/new v --if-exists
expect_rc "kv set --if-exists on a missing key" 1
kcli kv set app/new v --if-not-exists
expect_rc "kv set --if-not-exists on a missing key" 0
rev_new=$OUT
kcli kv set app/new v2 --if-revision 999999
expect_rc "kv set --if-revision with a wrong revision" 1
kcli kv set app/new v2 --if-revision "$rev_new"
expect_rc "kv set --if-revision with the right revision" 0
kcli kv set app/new v3 --if-value nope
expect_rc "kv set --if-value with a wrong value" 1
kcli kv set app/new v3 --if-value v2
expect_rc "kv set --if-value with the right value" 0
kcli kv set app/new v4 --if-exists --quiet
expect_rc "kv set --if-exists on an existing key" 0
check "kv set --quiet prints nothing" [ -z "$OUT" ]

# ---- binary-safe values: --file PATH and --file - (stdin) ----
head -c 5000 /dev/urandom >"$TEST_TMP/bin"
printf '\0\n\377\0end\n' >>"$TEST_TMP/bin"
kcli kv set bin/file --file "$TEST_TMP/bin"
expect_rc "kv set --file" 0
"$KAHUNA_CLI" kv get bin/file >"$TEST_TMP/bin.out"
check "kv set --file / kv get round trip is byte exact" cmp -s "$TEST_TMP/bin" "$TEST_TMP/bin.out"
"$KAHUNA_CLI" kv set bin/stdin --file - <"$TEST_TMP/bin" >/dev/null
check "kv set --file - exits 0" [ $? = 0 ]
"$KAHUNA_CLI" kv get bin/stdin >"$TEST_TMP/bin.out2"
check "kv set --file - / kv get round trip is byte exact" cmp -s "$TEST_TMP/bin" "$TEST_TMP/bin.out2"
: >"$TEST_TMP/empty"
kcli kv set bin/empty --file "$TEST_TMP/empty"
expect_rc "kv set of an empty value" 0
"$KAHUNA_CLI" kv get bin/empty >"$TEST_TMP/empty.out"
check "empty value round trip" cmp -s "$TEST_TMP/empty" "$TEST_TMP/empty.out"
kcli kv set bin/nofile --file "$TEST_TMP/does-not-exist"
expect_rc "kv set --file of a missing file" 64

# ---- kv ttl and TTL expiry ----
kcli kv set ttl/a v --ttl 1s
expect_rc "kv set --ttl" 0
kcli --json kv get ttl/a
check "a key with a TTL reports ttl_ms" is_number "$(printf '%s' "$OUT" | jq -r .ttl_ms)"
check "the key disappears when its TTL passes" wait_until 15 bash -c "! '$KAHUNA_CLI' kv get ttl/a"
kcli kv get ttl/a
expect_rc "kv get after the TTL" 1
kcli kv set ttl/b v
kcli kv ttl ttl/b 500ms
expect_rc "kv ttl on an existing key" 0
check "kv ttl makes the key expire" wait_until 15 bash -c "! '$KAHUNA_CLI' kv get ttl/b"
kcli kv ttl ttl/missing 5s
expect_rc "kv ttl on a missing key" 1

# ---- kv del ----
kcli kv set del/a v
kcli kv del del/a --if-revision 999999
expect_rc "kv del --if-revision wrong" 1
kcli kv del del/a
expect_rc "kv del" 0
check "kv del prints the revision" is_number "$OUT"
kcli kv del del/a
expect_rc "kv del of a missing key" 1
kcli kv get del/a
expect_rc "kv get after del" 1

# ---- kv ls (paging) ----
for k in c a e b d; do "$KAHUNA_CLI" kv set "ls/$k" "v$k" >/dev/null; done
"$KAHUNA_CLI" kv set ls-not/x v >/dev/null
kcli kv ls ls/
expect_rc "kv ls" 0
expect_out "kv ls prints keys in order, one a line" "$(printf 'ls/a\nls/b\nls/c\nls/d\nls/e')"
kcli kv ls ls/ --limit 3
expect_out "kv ls --limit" "$(printf 'ls/a\nls/b\nls/c')"
OUT=$(KAHUNA_PAGE_SIZE=2 "$KAHUNA_CLI" kv ls ls/)
expect_out "kv ls follows the pages" "$(printf 'ls/a\nls/b\nls/c\nls/d\nls/e')"
OUT=$(KAHUNA_PAGE_SIZE=2 "$KAHUNA_CLI" kv ls ls/ --limit 3)
expect_out "kv ls follows the pages up to the limit" "$(printf 'ls/a\nls/b\nls/c')"
kcli --json kv ls ls/ --limit 2
check "kv ls --json: items" [ "$(printf '%s' "$OUT" | jq -r '[.items[].key]|join(",")')" = "ls/a,ls/b" ]
check "kv ls --json: more" [ "$(printf '%s' "$OUT" | jq -r .more)" = "true" ]
kcli kv ls nothing-here/
expect_rc "kv ls of an empty prefix" 0
expect_out "kv ls of an empty prefix prints nothing" ""
kcli kv ls
expect_out_match "kv ls without prefix lists all" "ls-not/x"

# ---- kv history ----
"$KAHUNA_CLI" kv set hist/a one >/dev/null
"$KAHUNA_CLI" kv set hist/a two >/dev/null
kcli kv history hist/a
expect_rc "kv history" 0
check "kv history: newest first ($OUT)" matches "$OUT" "^[0-9]+"$'\t'"two"$'\n'"[0-9]+"$'\t'"one"
kcli kv history hist/none
check "kv history of a key never written: no answer or an empty one (exit $RC)" \
    eval '[ "$RC" = 1 ] || { [ "$RC" = 0 ] && [ -z "$OUT" ]; }'

# ---- locks ----
kcli lock acquire jobs/nightly --owner w1 --ttl 30s
expect_rc "lock acquire" 0
check "lock acquire prints the fencing token" is_number "$OUT"
tok1=$OUT
kcli lock acquire jobs/nightly --owner w1 --ttl 30s
expect_out "lock acquire again by the owner keeps the token" "$tok1"
kcli lock acquire jobs/nightly --owner w2
expect_rc "lock acquire of a held lock" 1
expect_err_match "lock held names the holder" "w1"
kcli lock info jobs/nightly
expect_rc "lock info" 0
expect_out_match "lock info shows the owner" "owner: w1"
expect_out_match "lock info shows the token" "fencing_token: $tok1"
kcli lock extend jobs/nightly --owner w1 --ttl 20s
expect_rc "lock extend by the owner" 0
kcli lock extend jobs/nightly --owner w2
expect_rc "lock extend by another owner" 1
kcli lock release jobs/nightly --owner w2
expect_rc "lock release by another owner" 1
kcli lock ls jobs/
expect_rc "lock ls" 0
expect_out_match "lock ls shows the lock" "^jobs/nightly"$'\t'"w1"$'\t'"$tok1"
kcli lock release jobs/nightly --owner w1
expect_rc "lock release" 0
kcli lock info jobs/nightly
expect_rc "lock info of a free lock" 1
kcli lock release jobs/nightly --owner w1
expect_rc "lock release of a free lock" 1
kcli lock acquire jobs/nightly --owner w2
check "a new grant has a larger token ($OUT > $tok1)" [ "$OUT" -gt "$tok1" ]
"$KAHUNA_CLI" lock release jobs/nightly --owner w2

# default owner: $KAHUNA_OWNER, else USER@HOSTNAME
OUT=$(KAHUNA_OWNER=cron-a "$KAHUNA_CLI" lock acquire own/a)
kcli lock info own/a
expect_out_match "owner from KAHUNA_OWNER" "owner: cron-a"
KAHUNA_OWNER=cron-a "$KAHUNA_CLI" lock release own/a
check "release with the same KAHUNA_OWNER" [ $? = 0 ]
OUT=$(USER=tester "$KAHUNA_CLI" lock acquire own/b)
kcli lock info own/b
expect_out_match "owner defaults to USER@HOSTNAME" "owner: tester@$(hostname)"
USER=tester "$KAHUNA_CLI" lock release own/b
check "release by USER@HOSTNAME" [ $? = 0 ]

# --wait: granted once the holder's TTL has passed
"$KAHUNA_CLI" lock acquire wait/a --owner holder --ttl 500ms >/dev/null
kcli lock acquire wait/a --owner waiter --wait 10s
expect_rc "lock acquire --wait gets the lock when the TTL passes" 0
kcli lock info wait/a
expect_out_match "the waiter holds it" "owner: waiter"

# ---- sequences ----
kcli seq next s1
expect_rc "seq next" 0
expect_out "a new sequence starts at 1" "1"
kcli seq next s1 --count 5
expect_out "seq next --count prints the first value" "2"
kcli seq get s1
expect_out "seq get prints the last value handed out" "6"
kcli seq set s1 100
expect_rc "seq set" 0
kcli seq next s1
expect_out "next after set N is N+1" "101"
kcli seq set s1 50
check "seq set backwards without --force fails (got $RC)" [ "$RC" != 0 ] && [ "$RC" != 64 ]
kcli seq set s1 50 --force
expect_rc "seq set backwards with --force" 0
kcli seq next s1
expect_out "next after a forced set" "51"
kcli seq ls s
expect_out_match "seq ls" "^s1"$'\t'"51"
kcli seq del s1
expect_rc "seq del" 0
kcli seq get s1
expect_rc "seq get of a deleted sequence" 1
kcli seq del s1
expect_rc "seq del of a missing sequence" 1
kcli seq next s1
expect_out "a deleted sequence starts again at 1" "1"

# ---- cluster ----
kcli cluster status
expect_rc "cluster status" 0
expect_out_match "cluster status shows the node" "node_id: n1"
expect_out_match "cluster status shows the leader" "leader: n1"
kcli --json cluster status
check "cluster status --json" [ "$(printf '%s' "$OUT" | jq -r .node_id)" = "n1" ]
kcli cluster members
expect_rc "cluster members" 0
expect_out_match "cluster members lists n1" "^n1"$'\t'"http"
kcli cluster add n2 "http://127.0.0.1:$dead_port"
expect_rc "cluster add on a node that runs alone" 70
expect_err_match "cluster add says why" "alone"
kcli cluster remove n2
expect_rc "cluster remove on a node that runs alone" 70
kcli cluster transfer-leader
expect_rc "cluster transfer-leader on a node that runs alone" 70
kcli cluster transfer-leader n2
expect_rc "cluster transfer-leader ID on a node that runs alone" 70

# ---- endpoints: unreachable (69) and failover ----
kcli --endpoints "http://127.0.0.1:$dead_port" kv get app/x
expect_rc "nothing listens: exit 69" 69
expect_err_match "unreachable says so" "reach"
OUT=$(KAHUNA_ENDPOINTS="http://127.0.0.1:$dead_port" "$KAHUNA_CLI" health 2>/dev/null)
check "KAHUNA_ENDPOINTS is used" [ $? = 69 ]
kcli --endpoints "http://127.0.0.1:$dead_port,$KURL" kv get app/x
expect_rc "failover: first endpoint dead, second alive" 0
expect_out "failover gives the value" "hello2"
OUT=$(KAHUNA_ENDPOINTS="http://127.0.0.1:$dead_port,$KURL" "$KAHUNA_CLI" kv set app/fo v)
check "failover from KAHUNA_ENDPOINTS for a write" [ $? = 0 ]
kcli kv get app/x --endpoints "http://127.0.0.1:$dead_port"
expect_rc "--endpoints after the positionals" 69

# an endpoint that answers 503 (no leader) is skipped; alone it means 69.
# The fake server binds a port of the kernel's choice and writes it down.
if [ -x /usr/bin/python3 ]; then
/usr/bin/python3 - "$TEST_TMP/fake.port" >"$TEST_TMP/fake503.log" 2>&1 <<'EOF' &
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        if n:
            self.rfile.read(n)
        body = b'{"error":{"code":"unavailable","message":"no leader"}}'
        self.send_response(503)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Retry-After', '0')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = answer
    def log_message(self, *a):
        pass
srv = HTTPServer(('127.0.0.1', 0), H)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
srv.serve_forever()
EOF
KPIDS+=("$!")
if wait_until 10 test -s "$TEST_TMP/fake.port"; then
    fake_url="http://127.0.0.1:$(cat "$TEST_TMP/fake.port")"
    kcli --endpoints "$fake_url,$KURL" kv get app/x
    expect_rc "a 503 endpoint is skipped for the next" 0
    expect_out "value through the second endpoint" "hello2"
    kcli --endpoints "$fake_url" --timeout 1s kv get app/x
    expect_rc "only 503 answers: exit 69" 69
    expect_err_match "503 says no leader" "leader"
else
    check "fake 503 server started ($(cat "$TEST_TMP/fake503.log"))" false
fi
else
    echo "# no /usr/bin/python3: the 503 fail-over checks are skipped" >&2
fi

done_testing
