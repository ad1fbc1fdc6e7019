#!/bin/bash
# test_resp_strings.sh: the string commands of the RESP listener (SPEC §4)
# through redis-cli, with Redis 7's replies and error texts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resp_lib.sh"

start_resp n1 || { echo "kahunad did not start"; exit 1; }

# ---- GET / SET and its options ----
expect_rcli "get of a missing key is nil" "(nil)" GET nope
expect_rcli "set answers OK" "OK" SET k v
expect_rcli "get returns the value" '"v"' GET k
expect_rcli "set nx on an existing key is nil" "(nil)" SET k w NX
expect_rcli "set xx on a missing key is nil" "(nil)" SET nokey w XX
expect_rcli "set xx on an existing key writes" "OK" SET k w XX
expect_rcli "set get returns the old value" '"w"' SET k x GET
expect_rcli "set get on a missing key is nil" "(nil)" SET newkey x GET
expect_rcli "set nx get refused returns the old value" '"x"' SET k y NX GET
expect_rcli "set nx get refused changes nothing" '"x"' GET k
expect_rcli "nx and xx together" "(error) ERR syntax error" SET k v NX XX
expect_rcli "ex and px together" "(error) ERR syntax error" SET k v EX 1 PX 1
expect_rcli "keepttl and ex together" "(error) ERR syntax error" SET k v KEEPTTL EX 1
expect_rcli "unknown option" "(error) ERR syntax error" SET k v FOO
expect_rcli "ex not an integer" "(error) ERR value is not an integer or out of range" SET k v EX abc
expect_rcli "ex zero" "(error) ERR invalid expire time in 'set' command" SET k v EX 0
expect_rcli "px negative" "(error) ERR invalid expire time in 'set' command" SET k v PX -5
expect_rcli "ttl beyond 366 days" "(error) ERR invalid expire time in 'set' command" SET k v EX 40000000
expect_rcli "set ex" "OK" SET e v EX 100
expect_rcli "ttl after set ex" "(integer) 100" TTL e
expect_rcli "set px" "OK" SET e v PX 50000
expect_rcli_match "pttl after set px" '^\(integer\) (49[0-9]{3}|50000)$' PTTL e
expect_rcli "set keepttl keeps the ttl" "OK" SET e w KEEPTTL
expect_rcli_match "pttl after keepttl" '^\(integer\) (4[0-9]{4}|50000)$' PTTL e
expect_rcli "set without keepttl drops it" "OK" SET e w
expect_rcli "ttl after plain set" "(integer) -1" TTL e
now=$(date +%s)
expect_rcli "set exat" "OK" SET e v EXAT $((now + 100))
expect_rcli_match "ttl after exat" '^\(integer\) (99|100|101)$' TTL e
expect_rcli "set pxat in the past deletes" "OK" SET e v PXAT 1000
expect_rcli "key set in the past is gone" "(nil)" GET e
expect_rcli "set px expires" "OK" SET short v PX 150
check "a key with a ttl disappears" wait_until 10 bash -c "[ -z \"\$(redis-cli -p $KRESP_PORT GET short)\" ]"
expect_rcli "empty key refused" "(error) ERR invalid key: kahuna keys are 1 to 4096 bytes, not empty" SET "" v
long=$(head -c 5000 /dev/zero | tr '\0' a)
expect_rcli "key over 4096 bytes refused" "(error) ERR invalid key: kahuna keys are 1 to 4096 bytes" SET "$long" v
expect_rcli "get of an over-long key is nil" "(nil)" GET "$long"
expect_rcli "wrong number of arguments" "(error) ERR wrong number of arguments for 'get' command" GET a b

# ---- SETNX SETEX PSETEX GETSET GETDEL GETEX ----
expect_rcli "setnx creates" "(integer) 1" SETNX nx1 v
expect_rcli "setnx refuses" "(integer) 0" SETNX nx1 w
expect_rcli "setex" "OK" SETEX sx 60 v
expect_rcli "setex ttl" "(integer) 60" TTL sx
expect_rcli "setex bad time" "(error) ERR invalid expire time in 'setex' command" SETEX sx 0 v
expect_rcli "psetex" "OK" PSETEX px 60000 v
expect_rcli "psetex bad time" "(error) ERR invalid expire time in 'psetex' command" PSETEX px -1 v
expect_rcli "getset returns the old value" '"v"' GETSET nx1 new
expect_rcli "getset of a missing key" "(nil)" GETSET gs1 v
expect_rcli "getdel returns the value" '"new"' GETDEL nx1
expect_rcli "getdel deleted it" "(nil)" GET nx1
expect_rcli "getdel of a missing key" "(nil)" GETDEL nx1
expect_rcli "getex without options" '"v"' GETEX gs1
expect_rcli "getex ex" '"v"' GETEX gs1 EX 200
expect_rcli "getex set the ttl" "(integer) 200" TTL gs1
expect_rcli "getex persist" '"v"' GETEX gs1 PERSIST
expect_rcli "getex persist removed the ttl" "(integer) -1" TTL gs1
expect_rcli "getex syntax" "(error) ERR syntax error" GETEX gs1 EX 1 PX 1
expect_rcli "getex missing" "(nil)" GETEX nope EX 10

# ---- MGET MSET MSETNX ----
expect_rcli "mset" "OK" MSET m1 a m2 b
expect_rcli "mget" $'1) "a"\n2) "b"\n3) (nil)' MGET m1 m2 m3
expect_rcli "mset odd arguments" "(error) ERR wrong number of arguments for 'mset' command" MSET m1 a m2
expect_rcli "msetnx refused when one exists" "(integer) 0" MSETNX m1 x m3 y
expect_rcli "msetnx refused wrote nothing" "(nil)" GET m3
expect_rcli "msetnx" "(integer) 1" MSETNX m3 x m4 y
expect_rcli "msetnx wrote all" $'1) "x"\n2) "y"' MGET m3 m4

# ---- APPEND STRLEN GETRANGE SETRANGE ----
expect_rcli "append creates" "(integer) 5" APPEND s Hello
expect_rcli "append adds" "(integer) 11" APPEND s " World"
expect_rcli "strlen" "(integer) 11" STRLEN s
expect_rcli "strlen of a missing key" "(integer) 0" STRLEN nope
expect_rcli "getrange" '"Hello"' GETRANGE s 0 4
expect_rcli "getrange negative" '"World"' GETRANGE s -5 -1
expect_rcli "getrange beyond" '"World"' GETRANGE s 6 100
expect_rcli "getrange empty" '""' GETRANGE s 5 2
expect_rcli "getrange missing" '""' GETRANGE nope 0 1
expect_rcli "getrange not an integer" "(error) ERR value is not an integer or out of range" GETRANGE s a 1
expect_rcli "setrange" "(integer) 11" SETRANGE s 6 Redis
expect_rcli "setrange wrote" '"Hello Redis"' GET s
expect_rcli "setrange pads with zeros" "(integer) 5" SETRANGE pad 3 ab
expect_rcli "setrange padding" '"\x00\x00\x00ab"' GET pad
expect_rcli "setrange negative offset" "(error) ERR offset is out of range" SETRANGE s -1 x
expect_rcli "setrange past the value limit" "(error) ERR string exceeds maximum allowed size (1048576 bytes)" SETRANGE s 1048576 x
expect_rcli "setrange empty on a missing key" "(integer) 0" SETRANGE nope2 5 ""
expect_rcli "setrange empty created nothing" "(integer) 0" EXISTS nope2

# ---- INCR family ----
expect_rcli "incr creates" "(integer) 1" INCR n
expect_rcli "incrby" "(integer) 11" INCRBY n 10
expect_rcli "decr" "(integer) 10" DECR n
expect_rcli "decrby" "(integer) 5" DECRBY n 5
expect_rcli "incrby negative" "(integer) -5" INCRBY n -10
expect_rcli "incr of a string" "(error) ERR value is not an integer or out of range" INCR s
expect_rcli "incrby not an integer" "(error) ERR value is not an integer or out of range" INCRBY n x
rcli SET big 9223372036854775807 >/dev/null
expect_rcli "incr overflow" "(error) ERR increment or decrement would overflow" INCR big
expect_rcli "decrby of the minimum" "(error) ERR decrement would overflow" DECRBY n -9223372036854775808
expect_rcli "incrbyfloat" '"10.6"' INCRBYFLOAT f 10.6
rcli SET f 10.50 >/dev/null
expect_rcli "incrbyfloat prints like redis" '"10.6"' INCRBYFLOAT f 0.1
expect_rcli "incrbyfloat negative" '"5.6"' INCRBYFLOAT f -5
rcli SET f 5.0e3 >/dev/null
expect_rcli "incrbyfloat exponent" '"5200"' INCRBYFLOAT f 2.0e2
expect_rcli "incrbyfloat bad increment" "(error) ERR value is not a valid float" INCRBYFLOAT f abc
expect_rcli "incrbyfloat of a string" "(error) ERR value is not a valid float" INCRBYFLOAT s 1
rcli SET ct 5 EX 100 >/dev/null
expect_rcli "incr keeps the ttl" "(integer) 6" INCR ct
expect_rcli_match "ttl kept by incr" '^\(integer\) (99|100)$' TTL ct

# ---- bits ----
expect_rcli "setbit returns the old bit" "(integer) 0" SETBIT b 7 1
expect_rcli "setbit again" "(integer) 1" SETBIT b 7 1
expect_rcli "getbit" "(integer) 1" GETBIT b 7
expect_rcli "getbit beyond" "(integer) 0" GETBIT b 100
expect_rcli "setbit bad bit" "(error) ERR bit is not an integer or out of range" SETBIT b 7 2
expect_rcli "setbit bad offset" "(error) ERR bit offset is not an integer or out of range" SETBIT b -1 1
rcli SET foobar foobar >/dev/null
expect_rcli "bitcount" "(integer) 26" BITCOUNT foobar
expect_rcli "bitcount range" "(integer) 4" BITCOUNT foobar 0 0
expect_rcli "bitcount range 2" "(integer) 6" BITCOUNT foobar 1 1
expect_rcli "bitcount bits" "(integer) 17" BITCOUNT foobar 5 30 BIT
expect_rcli "bitcount missing" "(integer) 0" BITCOUNT nope
printf '\xff\xf0\x00' | redis-cli -p "$KRESP_PORT" -x SET bp >/dev/null
expect_rcli "bitpos 0" "(integer) 12" BITPOS bp 0
printf '\x00\xff\xf0' | redis-cli -p "$KRESP_PORT" -x SET bp2 >/dev/null
expect_rcli "bitpos 1" "(integer) 8" BITPOS bp2 1 0
expect_rcli "bitpos 1 from byte 2" "(integer) 16" BITPOS bp2 1 2
expect_rcli "bitpos bits" "(integer) 16" BITPOS bp2 1 2 -1 BYTE
expect_rcli "bitpos bit range" "(integer) 7" BITPOS bp2 0 7 15 BIT
printf '\xff\xff' | redis-cli -p "$KRESP_PORT" -x SET ones >/dev/null
expect_rcli "bitpos 0 all ones no end" "(integer) 16" BITPOS ones 0
expect_rcli "bitpos 0 all ones with end" "(integer) -1" BITPOS ones 0 0 -1
expect_rcli "bitpos missing key 0" "(integer) 0" BITPOS nope 0
expect_rcli "bitpos missing key 1" "(integer) -1" BITPOS nope 1
expect_rcli "bitpos bad bit" "(error) ERR The bit argument must be 1 or 0." BITPOS bp 2
rcli SET ka foobar >/dev/null
rcli SET kb abcdef >/dev/null
expect_rcli "bitop and" "(integer) 6" BITOP AND dest ka kb
expect_rcli "bitop and result" '"`bc`ab"' GET dest
expect_rcli "bitop or" "(integer) 6" BITOP OR dest ka kb
expect_rcli "bitop or result" '"goofev"' GET dest
expect_rcli "bitop not many" "(error) ERR BITOP NOT must be called with a single source key." BITOP NOT dest ka kb
expect_rcli "bitop unknown" "(error) ERR syntax error" BITOP NAND dest ka

# ---- LCS ----
rcli MSET key1 ohmytext key2 mynewtext >/dev/null
expect_rcli "lcs" '"mytext"' LCS key1 key2
expect_rcli "lcs len" "(integer) 6" LCS key1 key2 LEN
expect_rcli "lcs idx" $'1) "matches"\n2) 1) 1) 1) (integer) 4\n         2) (integer) 7\n      2) 1) (integer) 5\n         2) (integer) 8\n   2) 1) 1) (integer) 2\n         2) (integer) 3\n      2) 1) (integer) 0\n         2) (integer) 1\n3) "len"\n4) (integer) 6' LCS key1 key2 IDX
expect_rcli "lcs idx minmatchlen withmatchlen" $'1) "matches"\n2) 1) 1) 1) (integer) 4\n         2) (integer) 7\n      2) 1) (integer) 5\n         2) (integer) 8\n      3) (integer) 4\n3) "len"\n4) (integer) 6' LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
expect_rcli "lcs len and idx" "(error) ERR If you want both the length and indexes, please just use IDX." LCS key1 key2 LEN IDX

# ---- binary values ----
printf 'a\r\nb\0c' > "$TEST_TMP/bin"
check "set a binary value from stdin" bash -c "redis-cli -p $KRESP_PORT -x SET bin < '$TEST_TMP/bin' | grep -q OK"
redis-cli -p "$KRESP_PORT" --raw GET bin | head -c 6 > "$TEST_TMP/bin.out"
check "binary value comes back byte for byte" cmp -s "$TEST_TMP/bin" "$TEST_TMP/bin.out"
expect_rcli "strlen of a binary value" "(integer) 6" STRLEN bin

done_testing
