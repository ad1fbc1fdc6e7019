#!/bin/bash
# test_resp_server.sh: connection, server, transaction, lock, sequence and
# cluster commands of the RESP listener (SPEC §4) through redis-cli, and
# AUTH with KAHUNA_REQUIREPASS.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

start_resp n1 || { echo "kahunad did not start"; exit 1; }

# ---- connection ----
expect_rcli "ping" "PONG" PING
expect_rcli "ping with a message" '"hi"' PING hi
expect_rcli "ping with too many arguments" "(error) ERR wrong number of arguments for 'ping' command" PING a b
expect_rcli "echo" '"hello world"' ECHO "hello world"
expect_rcli "select 0" "OK" SELECT 0
expect_rcli "select 1" "(error) ERR DB index is out of range" SELECT 1
expect_rcli "select not a number" "(error) ERR invalid DB index" SELECT x
expect_rcli "unknown command" "(error) ERR unknown command 'NOPE', with args beginning with: 'a' 'b' " NOPE a b
expect_rcli "quit" "OK" QUIT
got=$(printf 'CLIENT SETNAME worker-1\nCLIENT GETNAME\nCLIENT SETNAME "bad name"\nCLIENT ID\nCLIENT INFO\n' | rcli_session)
check "client setname/getname ($got)" bash -c '[[ $1 == *$'"'"'OK\n"worker-1"\n(error) ERR Client names cannot contain spaces, newlines or special characters.\n(integer) '"'"'* ]]' _ "$got"
check "client info names the client" bash -c '[[ $1 == *"name=worker-1"* && $1 == *"cmd=client|info"* || $1 == *"name=worker-1"* ]]' _ "$got"
expect_rcli_match "client list" '^id=[0-9]+ addr=127\.0\.0\.1:[0-9]+ .*resp=2' CLIENT LIST
expect_rcli "client unknown subcommand" "(error) ERR unknown subcommand 'FOO'. Try CLIENT HELP." CLIENT FOO
expect_rcli "client id with arguments" "(error) ERR wrong number of arguments for 'client|id' command" CLIENT ID 1
expect_rcli_match "command count" '^\(integer\) [0-9]{2,3}$' COMMAND COUNT
expect_rcli_match "command info get" '^1\) +1\) "get"' COMMAND INFO get
expect_rcli_match "command docs set" 'summary' COMMAND DOCS set
expect_rcli "command info of an unknown command" "1) (nil)" COMMAND INFO nope
expect_rcli "command getkeys" $'1) "a"\n2) "c"' COMMAND GETKEYS MSET a b c d
expect_rcli_match "info server" 'redis_version:7\.0\.0' INFO server
expect_rcli_match "info replication" 'kahuna_raft_role:leader' INFO replication
expect_rcli_match "time" '^1\) "[0-9]{10}"' TIME
expect_rcli_match "config get" 'appendfsync' CONFIG GET '*'
expect_rcli_match "cluster.info" 'node_id:n1' CLUSTER.INFO
got=$(redis-cli --no-raw -3 -p "$KRESP_PORT" HELLO 3)
check "hello 3 answers a map ($got)" bash -c '[[ $1 == *'"'"'1# "server" => "kahuna"'"'"'* && $1 == *'"'"'"proto" => (integer) 3'"'"'* ]]' _ "$got"
expect_rcli "hello 4" "(error) NOPROTO unsupported protocol version" HELLO 4
expect_rcli "hello bad option" "(error) ERR Syntax error in HELLO option 'FOO'" HELLO 3 FOO
expect_rcli "resp3 nil" "(nil)" -3 GET nope
expect_rcli "readonly" "OK" READONLY
got=$(printf 'SET ro 1\nREADONLY\nGET ro\nREADWRITE\nGET ro\n' | rcli_session)
check "readonly reads still see the connection's writes" [ "$got" = $'OK\nOK\n"1"\nOK\n"1"' ]

# ---- transactions ----
got=$(printf 'MULTI\nSET t 1\nINCR t\nGET t\nEXEC\n' | rcli_session)
check "multi/exec ($got)" [ "$got" = $'OK\nQUEUED\nQUEUED\nQUEUED\n1) OK\n2) (integer) 2\n3) "2"' ]
got=$(printf 'MULTI\nSET t\nEXEC\n' | rcli_session)
check "an error while queueing aborts exec" [ "$got" = $'OK\n(error) ERR wrong number of arguments for \'set\' command\n(error) EXECABORT Transaction discarded because of previous errors.' ]
got=$(printf 'MULTI\nSET t x\nDISCARD\nGET t\n' | rcli_session)
check "discard" [ "$got" = $'OK\nQUEUED\nOK\n"2"' ]
got=$(printf 'EXEC\nDISCARD\nMULTI\nMULTI\nWATCH t\nDISCARD\n' | rcli_session)
check "transaction misuse ($got)" [ "$got" = $'(error) ERR EXEC without MULTI\n(error) ERR DISCARD without MULTI\nOK\n(error) ERR MULTI calls can not be nested\n(error) ERR WATCH inside MULTI is not allowed\nOK' ]
got=$(printf 'MULTI\nINCR tx_str\nSET tx_str abc\nINCR tx_str\nGET tx_str\nEXEC\n' | rcli_session)
check "a failing command inside exec does not stop the others ($got)" [ "$got" = $'OK\nQUEUED\nQUEUED\nQUEUED\nQUEUED\n1) (integer) 1\n2) OK\n3) (error) ERR value is not an integer or out of range\n4) "abc"' ]
rcli SET w 1 >/dev/null
( printf 'WATCH w\nMULTI\nSET w mine\n'; sleep 0.5; printf 'EXEC\nGET w\n' ) | rcli_session > "$TEST_TMP/watch.out" &
wpid=$!
sleep 0.2
rcli SET w theirs >/dev/null
wait $wpid
check "exec after a watched key changed does nothing" [ "$(cat "$TEST_TMP/watch.out")" = $'OK\nOK\nQUEUED\n(nil)\n"theirs"' ]
got=$(printf 'WATCH w\nMULTI\nSET w mine\nEXEC\n' | rcli_session)
check "exec with an unchanged watched key" [ "$got" = $'OK\nOK\nQUEUED\n1) OK' ]
got=$(printf 'WATCH w\nUNWATCH\nMULTI\nPING\nEXEC\n' | rcli_session)
check "unwatch" [ "$got" = $'OK\nOK\nOK\nQUEUED\n1) PONG' ]

# ---- locks ----
tok=$(redis-cli -p "$KRESP_PORT" LOCK.ACQUIRE L alice 30000)
check "lock acquire returns a token ($tok)" [ "$tok" -gt 0 ]
expect_rcli "reacquire by the owner keeps the token" "(integer) $tok" LOCK.ACQUIRE L alice 30000
expect_rcli "acquire by another owner is nil" "(nil)" LOCK.ACQUIRE L bob 30000
expect_rcli_match "lock info" "^1\\) \"alice\"
2\\) \\(integer\\) $tok
3\\) \\(integer\\) (29[0-9]{3}|30000)\$" LOCK.INFO L
expect_rcli "extend by the owner" "(integer) 1" LOCK.EXTEND L alice 60000
expect_rcli "extend by another" "(integer) 0" LOCK.EXTEND L bob 60000
expect_rcli "release by another" "(integer) 0" LOCK.RELEASE L bob
expect_rcli "release by the owner" "(integer) 1" LOCK.RELEASE L alice
expect_rcli "info of a free lock" "(nil)" LOCK.INFO L
expect_rcli "release of a free lock" "(integer) 0" LOCK.RELEASE L alice
tok2=$(redis-cli -p "$KRESP_PORT" LOCK.ACQUIRE L bob 30000)
check "fencing tokens increase ($tok < $tok2)" [ "$tok2" -gt "$tok" ]
expect_rcli "acquire with a bad ttl" "(error) ERR invalid ttl_ms: from 1 to 31622400000 milliseconds (366 days)" LOCK.ACQUIRE L2 a 0
expect_rcli "acquire with a bad wait" "(error) ERR syntax error" LOCK.ACQUIRE L2 a 100 NOWAIT 5
( sleep 0.3; redis-cli -p "$KRESP_PORT" LOCK.RELEASE L bob >/dev/null ) &
got=$(redis-cli -p "$KRESP_PORT" LOCK.ACQUIRE L carol 30000 WAIT 10000)
check "acquire with wait is granted on release ($got)" [ "$got" -gt "$tok2" ]
got=$(redis-cli -p "$KRESP_PORT" LOCK.ACQUIRE L dave 30000 WAIT 200)
check "acquire with wait times out with nil" [ -z "$got" ]
rcli LOCK.ACQUIRE short o 200 >/dev/null
check "a lock expires after its ttl" wait_until 10 bash -c "[ -z \"\$(redis-cli -p $KRESP_PORT LOCK.INFO short)\" ]"

# ---- sequences ----
expect_rcli "seq.next starts at 1" "(integer) 1" SEQ.NEXT s
expect_rcli "seq.next with a count returns the first" "(integer) 2" SEQ.NEXT s 10
expect_rcli "seq.get" "(integer) 11" SEQ.GET s
expect_rcli "seq.get of a missing sequence" "(nil)" SEQ.GET nope
expect_rcli "seq.set" "OK" SEQ.SET s 100
expect_rcli "seq.next after set" "(integer) 101" SEQ.NEXT s
expect_rcli "seq.set backwards" "(error) ERR the sequence would move backwards: add FORCE to allow it" SEQ.SET s 5
expect_rcli "seq.set backwards with force" "OK" SEQ.SET s 5 FORCE
expect_rcli "seq.next after force" "(integer) 6" SEQ.NEXT s
expect_rcli "seq.next bad count" "(error) ERR invalid count: from 1 to 1000000" SEQ.NEXT s 0
expect_rcli "seq.del" "(integer) 1" SEQ.DEL s
expect_rcli "seq.next after del starts again" "(integer) 1" SEQ.NEXT s

# ---- AUTH ----
KAHUNA_REQUIREPASS=s3cret start_resp n2
expect_rcli "a command before auth" "(error) NOAUTH Authentication required." GET a
expect_rcli "auth with a wrong password" "(error) WRONGPASS invalid username-password pair or user is disabled." AUTH nope
expect_rcli "redis-cli -a authenticates" "PONG" -a s3cret --no-auth-warning PING
expect_rcli "hello without its auth option before auth (as Redis 7)" "(error) NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time" HELLO 3
got=$(printf 'HELLO 3\nHELLO 3 AUTH default s3cret SETNAME w1\nCLIENT GETNAME\n' | redis-cli -p "$KRESP_PORT" 2>&1)
check "hello with auth ($got)" bash -c '[[ $1 == "NOAUTH HELLO must be called"* && $1 == *"proto"* && $1 == *"w1" ]]' _ "$got"
got=$(printf 'AUTH default s3cret\nSET a 1\nGET a\n' | rcli_session)
check "auth then commands" [ "$got" = $'OK\nOK\n"1"' ]
start_resp n3
expect_rcli "auth without a configured password" "(error) ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?" AUTH x

done_testing
