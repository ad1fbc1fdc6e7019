#!/bin/bash
# test_resp_keys.sh: the key and expiry commands of the RESP listener
# (SPEC §4) through redis-cli, with Redis 7's replies and error texts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

start_resp n1 || { echo "kahunad did not start"; exit 1; }

rcli MSET a 1 b 2 c 3 >/dev/null

# ---- DEL UNLINK EXISTS TYPE ----
expect_rcli "exists counts every argument" "(integer) 3" EXISTS a b a nope
expect_rcli "type of a string" "string" TYPE a
expect_rcli "type of a missing key" "none" TYPE nope
expect_rcli "del counts the keys that existed" "(integer) 2" DEL a b nope
expect_rcli "del of a key twice counts once" "(integer) 1" DEL c c
expect_rcli "unlink" "(integer) 0" UNLINK a
expect_rcli "exists after del" "(integer) 0" EXISTS a b c

# ---- EXPIRE family, TTL, PERSIST ----
rcli SET k v >/dev/null
expect_rcli "ttl without expiry" "(integer) -1" TTL k
expect_rcli "ttl of a missing key" "(integer) -2" TTL nope
expect_rcli "pttl of a missing key" "(integer) -2" PTTL nope
expect_rcli "expire" "(integer) 1" EXPIRE k 100
expect_rcli "ttl" "(integer) 100" TTL k
expect_rcli "expire of a missing key" "(integer) 0" EXPIRE nope 100
expect_rcli "expire nx with a ttl" "(integer) 0" EXPIRE k 50 NX
expect_rcli "expire xx with a ttl" "(integer) 1" EXPIRE k 200 XX
expect_rcli "ttl after xx" "(integer) 200" TTL k
expect_rcli "expire gt smaller" "(integer) 0" EXPIRE k 100 GT
expect_rcli "expire gt larger" "(integer) 1" EXPIRE k 300 GT
expect_rcli "expire lt larger" "(integer) 0" EXPIRE k 400 LT
expect_rcli "expire lt smaller" "(integer) 1" EXPIRE k 150 LT
expect_rcli "ttl after lt" "(integer) 150" TTL k
expect_rcli "nx with gt" "(error) ERR NX and XX, GT or LT options at the same time are not compatible" EXPIRE k 1 NX GT
expect_rcli "gt with lt" "(error) ERR GT and LT options at the same time are not compatible" EXPIRE k 1 GT LT
expect_rcli "unsupported option" "(error) ERR Unsupported option FOO" EXPIRE k 1 FOO
expect_rcli "expire not an integer" "(error) ERR value is not an integer or out of range" EXPIRE k x
expect_rcli "expire overflow" "(error) ERR invalid expire time in 'expire' command" EXPIRE k 9223372036854775807
expect_rcli "pexpire beyond 366 days" "(error) ERR invalid expire time in 'pexpire' command" PEXPIRE k 40000000000
expect_rcli "persist" "(integer) 1" PERSIST k
expect_rcli "persist again" "(integer) 0" PERSIST k
expect_rcli "persist of a missing key" "(integer) 0" PERSIST nope
expect_rcli "expire nx without a ttl" "(integer) 1" EXPIRE k 100 NX
rcli PERSIST k >/dev/null
expect_rcli "expire gt on a key without ttl" "(integer) 0" EXPIRE k 100 GT
expect_rcli "expire lt on a key without ttl" "(integer) 1" EXPIRE k 100 LT
expect_rcli "pexpire" "(integer) 1" PEXPIRE k 50000
expect_rcli_match "pttl" '^\(integer\) (49[0-9]{3}|50000)$' PTTL k
now=$(date +%s)
expect_rcli "expireat" "(integer) 1" EXPIREAT k $((now + 1000))
expect_rcli_match "expiretime" "^\\(integer\\) ($((now + 999))|$((now + 1000))|$((now + 1001)))\$" EXPIRETIME k
expect_rcli_match "pexpiretime" '^\(integer\) [0-9]{13}$' PEXPIRETIME k
rcli SET a2 v >/dev/null
expect_rcli "expiretime of a key without ttl" "(integer) -1" EXPIRETIME a2
expect_rcli "expiretime of a missing key" "(integer) -2" EXPIRETIME nope
expect_rcli "expire in the past deletes" "(integer) 1" EXPIRE k -1
expect_rcli "key expired in the past is gone" "(integer) 0" EXISTS k
rcli SET k v >/dev/null
expect_rcli "pexpireat in the past deletes" "(integer) 1" PEXPIREAT k 1000
expect_rcli "gone" "(nil)" GET k
rcli SET gone v >/dev/null
expect_rcli "pexpire short" "(integer) 1" PEXPIRE gone 200
check "an expired key disappears" wait_until 10 bash -c "[ \"\$(redis-cli -p $KRESP_PORT EXISTS gone)\" = 0 ]"

# ---- RENAME RENAMENX COPY ----
rcli SET r1 v EX 500 >/dev/null
expect_rcli "rename" "OK" RENAME r1 r2
expect_rcli "rename moved the value" '"v"' GET r2
expect_rcli "rename removed the source" "(integer) 0" EXISTS r1
expect_rcli_match "rename kept the ttl" '^\(integer\) (499|500)$' TTL r2
expect_rcli "rename of a missing key" "(error) ERR no such key" RENAME nope r3
expect_rcli "rename to itself" "OK" RENAME r2 r2
rcli SET r3 w >/dev/null
expect_rcli "renamenx onto an existing key" "(integer) 0" RENAMENX r2 r3
expect_rcli "renamenx" "(integer) 1" RENAMENX r2 r4
expect_rcli "renamenx of a missing key" "(error) ERR no such key" RENAMENX nope r5
expect_rcli "copy" "(integer) 1" COPY r4 r5
expect_rcli "copy onto an existing key" "(integer) 0" COPY r4 r3
expect_rcli "copy replace" "(integer) 1" COPY r4 r3 REPLACE
expect_rcli "copy replaced" '"v"' GET r3
expect_rcli "copy of a missing key" "(integer) 0" COPY nope r6
expect_rcli "copy to itself" "(error) ERR source and destination objects are the same" COPY r4 r4
expect_rcli "copy db 1" "(error) ERR DB index is out of range" COPY r4 r7 DB 1
expect_rcli "copy db 0" "(integer) 1" COPY r4 r7 DB 0

# ---- KEYS SCAN RANDOMKEY ----
rcli FLUSHDB >/dev/null
for i in $(seq 1 30); do echo "SET user:$i v"; done | rcli_session >/dev/null
rcli MSET other x "a*b" y >/dev/null
expect_rcli "dbsize" "(integer) 32" DBSIZE
check "keys * lists every key" [ "$(rcli KEYS '*' | wc -l)" = 32 ]
check "keys with a pattern" [ "$(rcli KEYS 'user:1*' | wc -l)" = 11 ]
expect_rcli "keys with a class" $'1) "user:2"\n2) "user:3"' KEYS 'user:[23]'
expect_rcli "keys with an escape" '1) "a*b"' KEYS 'a\*b'
expect_rcli "keys matching nothing" "(empty array)" KEYS 'zzz*'
got=$(redis-cli -p "$KRESP_PORT" --scan | sort | tr '\n' ' ')
want=$(redis-cli -p "$KRESP_PORT" KEYS '*' | sort | tr '\n' ' ')
check "scan visits every key once (redis-cli --scan)" [ "$got" = "$want" ]
got=$(redis-cli -p "$KRESP_PORT" --scan --pattern 'user:2*' | sort | tr '\n' ' ')
check "scan match (got $got)" [ "$got" = "user:2 user:20 user:21 user:22 user:23 user:24 user:25 user:26 user:27 user:28 user:29 " ]
pages=0 cursor=0 seen=0
while :; do
    out=$(redis-cli -p "$KRESP_PORT" SCAN "$cursor" COUNT 4)
    cursor=$(echo "$out" | head -1)
    seen=$((seen + $(echo "$out" | tail -n +2 | grep -c .)))
    pages=$((pages + 1))
    [ "$cursor" = 0 ] && break
    [ $pages -gt 50 ] && break
done
check "scan count pages through every key ($seen keys in $pages pages)" [ "$seen" = 32 -a "$pages" -ge 8 ]
expect_rcli_match "scan first page" '^1\) "[0-9]+"' SCAN 0 COUNT 5
expect_rcli "scan type list finds nothing" $'1) "0"\n2) (empty array)' SCAN 0 TYPE list COUNT 100
expect_rcli "scan bad cursor" "(error) ERR invalid cursor" SCAN abc
expect_rcli "scan unknown cursor" "(error) ERR invalid cursor" SCAN 12345
expect_rcli "scan count zero" "(error) ERR syntax error" SCAN 0 COUNT 0
expect_rcli "scan bad option" "(error) ERR syntax error" SCAN 0 FOO bar
expect_rcli_match "randomkey" '^"(user:[0-9]+|other|a\*b)"$' RANDOMKEY

# ---- FLUSHDB FLUSHALL ----
expect_rcli "flushdb" "OK" FLUSHDB
expect_rcli "flushdb emptied the store" "(integer) 0" DBSIZE
expect_rcli "randomkey of an empty store" "(nil)" RANDOMKEY
rcli SET x 1 >/dev/null
expect_rcli "flushall async" "OK" FLUSHALL ASYNC
expect_rcli "flushall emptied the store" "(integer) 0" DBSIZE
expect_rcli "flushdb bad option" "(error) ERR syntax error" FLUSHDB NOW

done_testing
