#!/bin/bash
# test_cluster_basic.sh: a three-node cluster on loopback (SPEC §3, §6):
# it elects one leader that every node names; a write given to a follower
# is forwarded to the leader and acknowledged with a revision; it can then
# be read on every node, linearizably at once and from the local state
# (?consistency=stale) once the node has applied it; every response names
# the leader in X-Kahuna-Leader; GET /v1/cluster lists three voters; and
# transfer-leadership hands the leadership to the node asked for.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')

start_cluster 3 || { echo "cannot start a cluster of 3" >&2; exit 1; }

# ---- one leader, named by every node ----
check "the cluster elects a leader that every node names" wait_leader
leaders=0
for i in 1 2 3; do
    ccurl "$i" GET /v1/cluster
    expect_status "n$i: cluster view" 200
    expect_json "n$i: node_id" .node_id "n$i"
    expect_json "n$i: names the leader" .leader "$LEADER"
    [ "$(jfield .role)" = leader ] && leaders=$((leaders + 1))
    check "n$i: X-Kahuna-Leader names the leader ($HTTP_LEADER)" [ "$HTTP_LEADER" = "$LEADER" ]
done
check "exactly one node says it leads ($leaders)" [ "$leaders" = 1 ]

ccurl "$LEADER_I" GET /v1/cluster
expect_json "three members" '.members | length' 3
expect_json "all of them voters" '[.members[] | select(.role == "voter")] | length' 3
expect_json "the members are n1 n2 n3" '[.members[].id] | sort | join(" ")' "n1 n2 n3"
expect_json "one member is marked leader" '[.members[] | select(.leader)] | map(.id) | join(" ")' "$LEADER"
for i in 1 2 3; do
    expect_json "n$i's url" ".members[] | select(.id == \"n$i\") | .url" "$(node_url "$i")"
done
term=$(jfield .term)
check "term is at least 1 ($term)" [ "$term" -ge 1 ]

# ---- a write on a follower is forwarded ----
F=$(a_follower)
ccurl "$F" PUT /v1/kv/basic/k1 "${JSON[@]}" -d '{"value": "one"}'
expect_status "a write on follower n$F" 200
rev1=$(jfield .revision)
check "it is acknowledged with a revision ($rev1)" [ "$rev1" -ge 1 ]
expect_json "version 1" .version 1
check "X-Kahuna-Leader on the forwarded write names the leader ($HTTP_LEADER)" \
    [ "$HTTP_LEADER" = "$LEADER" ]

for i in 1 2 3; do
    ccurl "$i" GET /v1/kv/basic/k1
    expect_status "n$i: linearizable read right after the write" 200
    expect_json "n$i: the value" .value one
    expect_json "n$i: the revision" .revision "$rev1"
    check "n$i: stale read catches up" wait_until 10 has_value "$i" basic/k1 one stale
    ccurl "$i" GET "/v1/kv/basic/k1?consistency=stale"
    expect_json "n$i: stale read's revision" .revision "$rev1"
done

# ---- writes on every node: revisions strictly increase ----
prev=$rev1
for i in 1 2 3 1 2 3; do
    ccurl "$i" PUT /v1/kv/basic/k2 "${JSON[@]}" -d "{\"value\": \"from n$i\"}"
    expect_status "write on n$i" 200
    r=$(jfield .revision)
    check "revision increases ($r > $prev)" [ "$r" -gt "$prev" ]
    prev=$r
    for j in 1 2 3; do
        ccurl "$j" GET /v1/kv/basic/k2
        expect_json "n$j reads the write just made on n$i" .value "from n$i"
    done
done

# locks and sequences through followers too
ccurl "$F" POST /v1/locks/basic/l/acquire "${JSON[@]}" -d '{"owner": "a", "ttl_ms": 60000}'
expect_status "lock acquire on a follower" 200
tok=$(jfield .fencing_token)
for i in 1 2 3; do
    ccurl "$i" GET /v1/locks/basic/l
    expect_json "n$i sees the holder" .owner a
    expect_json "n$i sees the token" .fencing_token "$tok"
done
ccurl "$LEADER_I" POST /v1/locks/basic/l/acquire "${JSON[@]}" -d '{"owner": "b", "ttl_ms": 1000}'
expect_status "another owner is refused on the leader" 409
last=0
for i in 1 2 3 1 2 3; do
    ccurl "$i" POST /v1/sequences/basic/s/next
    expect_status "seq next on n$i" 200
    v=$(jfield .value)
    check "sequence values follow each other ($v = $last + 1)" [ "$v" = $((last + 1)) ]
    last=$v
done

# ---- /ready everywhere ----
for i in 1 2 3; do
    check "n$i is ready" node_ready "$i"
done

# ---- transfer leadership ----
old=$LEADER
T=$(a_follower)
ccurl "$T" POST /v1/cluster/transfer-leadership "${JSON[@]}" -d "{\"to\": \"n$T\"}"
expect_status "transfer-leadership to n$T (asked on n$T, a follower)" 200
check "the leadership moves to n$T" wait_leader "$old"
check "the new leader is n$T ($LEADER)" [ "$LEADER" = "n$T" ]
ccurl "$(node_index "$old")" GET /v1/cluster
expect_json "the old leader follows" .role follower
expect_json "the old leader names n$T" .leader "n$T"
check "a higher term ($(jfield .term) > $term)" [ "$(jfield .term)" -gt "$term" ]
ccurl "$(node_index "$old")" PUT /v1/kv/basic/k3 "${JSON[@]}" -d '{"value": "after transfer"}'
expect_status "a write on the old leader after the transfer" 200
check "X-Kahuna-Leader names the new leader ($HTTP_LEADER)" [ "$HTTP_LEADER" = "n$T" ]
for i in 1 2 3; do
    ccurl "$i" GET /v1/kv/basic/k3
    expect_json "n$i reads it" .value "after transfer"
done

# transfer without a target picks another voter
old=$LEADER
ccurl "$LEADER_I" POST /v1/cluster/transfer-leadership "${JSON[@]}" -d '{}'
expect_status "transfer-leadership without a target" 200
check "the leadership moves away from $old" wait_leader "$old"

check "every node stops cleanly (exit 0 on SIGTERM)" stop_cluster
check "no sanitizer report in the node logs" logs_clean

done_testing
