#!/usr/bin/env bash
# test_cluster_ops.sh: the cluster and operations endpoints of SPEC §3 on a
# single node: GET /v1/cluster, membership and leadership changes (refused
# on a node that runs alone, see docs/api.md), /health, /ready, /metrics,
# the X-Kahuna-Leader header, and many keep-alive clients at once.
. "$(dirname "$0")/lib.sh"

JSON=(-H 'Content-Type: application/json')
jcurl() { kcurl "$1" "$2" "${JSON[@]}" --data-binary "$3"; }

start_kahunad n1 || { echo "kahunad did not start"; exit 1; }

kcurl GET /v1/cluster
expect_status "cluster view" 200
expect_json "node_id" .node_id n1
expect_json "a single node leads" .leader n1
check "term is at least 1" [ "$(jfield .term)" -ge 1 ]
ci=$(jfield .commit_index)
ai=$(jfield .applied_index)
check "commit_index is set" [ "$ci" -ge 1 ]
check "applied_index is set" [ "$ai" -ge 1 ]
expect_json "one member" '.members | length' 1
expect_json "the member is this node" '.members[0].id' n1
expect_json "the member's url" '.members[0].url' "$KURL"
expect_json "the member's role" '.members[0].role' voter
expect_json "the member leads" '.members[0].leader' true
expect_json "the member's match_index" '.members[0].match_index | type' number
expect_json "the member's last_contact_ms" '.members[0].last_contact_ms' 0

kcurl PUT /v1/kv/a -H 'Content-Type: text/plain' --data-binary x
kcurl GET /v1/cluster
check "commit_index follows writes" [ "$(jfield .commit_index)" -gt "$ci" ]

jcurl POST /v1/cluster/members '{"id":"n2","url":"http://127.0.0.1:1"}'
expect_status "adding a member to a node that runs alone" 400
expect_json "it is a bad request" .error.code bad_request
check "the message says why" grep -q "alone" <<<"$(jfield .error.message)"
kcurl DELETE /v1/cluster/members/n2
expect_status "removing a member from a node that runs alone" 400
jcurl POST /v1/cluster/transfer-leadership '{"to":"n2"}'
expect_status "transferring leadership on a node that runs alone" 400
kcurl POST /v1/cluster/transfer-leadership
expect_status "transfer without a target" 400
jcurl POST /v1/cluster/members '{"id":"n2"}'
expect_status "adding a member without url" 400
check "the message names the field" grep -q url <<<"$(jfield .error.message)"
kcurl GET /v1/cluster
expect_json "membership unchanged" '.members | length' 1

kcurl GET /health
expect_status "health" 200
expect_json "health says ok" .status ok
kcurl GET /ready
expect_status "ready" 200
expect_json "ready says so" .ready true
out=$(curl -s -I -o /dev/null -w '%{http_code}' "$KURL/health")
check "HEAD /health" [ "$out" = 200 ]
kcurl POST /health
expect_status "POST /health" 405
hdrs=$(curl -s -D - -o /dev/null -X POST "$KURL/health")
check "405 carries Allow" grep -qi '^Allow: GET, HEAD' <<<"$hdrs"

ctype=$(curl -s -o "$TEST_TMP/metrics" -w '%{content_type}' "$KURL/metrics")
check "metrics are Prometheus text" grep -q '^text/plain; version=0.0.4' <<<"$ctype"
m=$(cat "$TEST_TMP/metrics")
check "metrics: term gauge" grep -q '^kahuna_term [1-9]' <<<"$m"
check "metrics: commit index" grep -q '^kahuna_commit_index [1-9]' <<<"$m"
check "metrics: applied index" grep -q '^kahuna_applied_index [1-9]' <<<"$m"
check "metrics: revision" grep -q '^kahuna_revision [1-9]' <<<"$m"
check "metrics: proposals" grep -q '^kahuna_proposals_total [1-9]' <<<"$m"
check "metrics: batches" grep -q '^kahuna_batches_total [1-9]' <<<"$m"
check "metrics: lock waiters" grep -q '^kahuna_lock_waiters 0' <<<"$m"
check "metrics: is leader" grep -q '^kahuna_is_leader 1' <<<"$m"
check "metrics: request counter" grep -q '^kahuna_http_requests_total{route="/health",method="GET",code="200"} [1-9]' <<<"$m"
check "metrics: 405 counted" grep -q '^kahuna_http_requests_total{route="/health",method="POST",code="405"} [1-9]' <<<"$m"
check "metrics: histogram buckets" grep -q '^kahuna_http_request_duration_seconds_bucket{route="/health",le="0.0005"} ' <<<"$m"
check "metrics: histogram +Inf" grep -q '^kahuna_http_request_duration_seconds_bucket{route="/health",le="+Inf"} [1-9]' <<<"$m"
check "metrics: histogram count" grep -q '^kahuna_http_request_duration_seconds_count{route="/health"} [1-9]' <<<"$m"
check "metrics: every sample line is name{labels} value" \
    bash -c '! grep -v "^#" <<<"$1" | grep -vqE "^[a-z_]+(\{.*\})? [0-9.e+-]+$"' _ "$m"

for path in /v1/cluster /health /ready /metrics /v1/kv/nope /nowhere; do
    hdrs=$(curl -s -D - -o /dev/null "$KURL$path")
    check "X-Kahuna-Leader on $path" grep -qi '^X-Kahuna-Leader: n1' <<<"$hdrs"
done

# many keep-alive clients at once: each curl reuses its connection for 50
# requests; all answers must be right
pids=()
for c in $(seq 1 16); do
    (
        urls=()
        for i in $(seq 1 50); do urls+=(-o /dev/null -X PUT -H 'Content-Type: text/plain' --data-binary "v$c-$i" "$KURL/v1/kv/par/$c/$i" --next); done
        curl -s "${urls[@]}" -o /dev/null "$KURL/health"
        curl -s -o "$TEST_TMP/par.$c" "$KURL/v1/kv?prefix=par/$c/&keys_only"
    ) &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
ok=1
for c in $(seq 1 16); do
    [ "$(jq '.items | length' "$TEST_TMP/par.$c")" = 50 ] || ok=0
done
check "parallel keep-alive clients all get their writes done" [ $ok = 1 ]
kcurl GET /v1/kv/par/7/33
expect_json "a value written in parallel reads back" .value v7-33

done_testing
