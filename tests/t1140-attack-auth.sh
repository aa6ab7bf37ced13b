#!/usr/bin/env bash
# t1140 — attacks on authentication and its limits, each beside an honest tenant:
#   1. a flood with one valid key gets 429 (with Retry-After) by default
#   2. with key_cache_ttl = 0 the key's limit still holds (and 429s cost no lookup)
#   3. a drained key stays drained when its cache entry is pushed out
#   4. 2,000 made-up keys: one database lookup per key, none for a key sent again,
#      429 without lookups past an address's failed authentications, good keys
#      still served from the cache
#   5. /metrics is 404 on the API's listener, served on its own
#   6. query parameters that are not UTF-8 get 400 naming them (no job made), and
#      the log keeps a path that is not UTF-8, escaped
. tests/lib.sh
. tests/bystander.sh
. tests/data/second-api.sh

U=$SPOOL_API_URL
ADM=("$T_ROOT/bin/adminctl" -f "$SPOOL_ADMINCTL_CONFIG")
MAIN_URL=$U

# new_key TENANT: a key of its own (revoked at exit) in $KEY
new_key() {
	local out id
	out=$("${ADM[@]}" keys create --tenant "$1" --name t1140 2>"$T_TMP/adm.err") ||
		bail "adminctl keys create failed: $(cat "$T_TMP/adm.err")"
	KEY=$(sed -n 1p <<<"$out")
	id=$(sed -n 2p <<<"$out")
	at_exit "${ADM[*]} keys revoke $id"
}

# metric METRICS-URL NAME: the value of one series (0 when absent)
metric() {
	curl -fsS --max-time 5 "$1" | awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }'
}

# flood OUT URL ARGS...: tests/data/authflood.py's JSON in OUT; st OUT STATUS: a count from it
flood() {
	local out=$1
	shift
	py_file tests/data/authflood.py "$@" >"$out" 2>"$out.err" || echo '{}' >"$out"
}
st() { jq -r --arg s "$2" '.[$s] // 0' "$1"; }

# within WHAT N MAX: ok when N <= MAX
within() {
	if [ "$2" -le "$3" ]; then ok "$1 ($2 <= $3)"; else fail "$1" "$2 > $3"; fi
}

# random_keys N FILE: N well-formed keys nobody made
random_keys() {
	py 'import secrets, sys
with open(sys.argv[2], "w") as f:
    for _ in range(int(sys.argv[1])):
        print("sk_" + secrets.token_urlsafe(32), file=f)' "$1" "$2"
}

bystander_init
LOOKUPS=spool_auth_key_lookups_total

# ---- 1. one valid key, flooding the API: 429s by default; the bystander is served
tenant1=t1140-flood-$$
new_key "$tenant1"
k1=$KEY
flood "$T_TMP/f1" "$U/v1/jobs/x" --key "$k1" --sources 127.0.0.2 --count 100000 --seconds 4 &
fpid=$!
sleep 0.5
bystander_ok "key flood"
wait "$fpid"
served=$(st "$T_TMP/f1" 404) limited=$(st "$T_TMP/f1" 429) secs=$(jq -r '.seconds // 0' "$T_TMP/f1")
expect_match "key flood: 429s by default ($limited of $(jq -r .sent "$T_TMP/f1"))" '^[1-9][0-9]*$' "$limited"
# rate_limit 50/s after a burst of 100, plus slack for the clock
within "key flood: served at most the burst plus the rate" "$served" \
	"$(awk -v s="$secs" 'BEGIN { printf "%d", 100 + 50 * s + 20 }')"
expect_eq "key flood: 429s carry Retry-After: 1" '["1"]' "$(jq -c .retry_after "$T_TMP/f1")"
expect_status "key flood: another tenant is untouched" 200 -H "Authorization: Bearer $BYSTANDER_KEY" "$U/v1/jobs?limit=1"
expect_eq "key flood: 429s in the contract's shape" "rate_limited too many requests for this API key; slow down" \
	"$(jq -r '.bodies["429"] // "{}" | fromjson | "\(.error.code) \(.error.message)"' "$T_TMP/f1")"

# ---- 2. key_cache_ttl = 0: every request asks the database, the limit still holds
api2_start "key_cache_ttl = 0"
new_key "t1140-nocache-$$"
k2=$KEY
l0=$(metric "$API2_METRICS_URL" "$LOOKUPS")
flood "$T_TMP/f2" "$API2_URL/v1/jobs/x" --key "$k2" --sources 127.0.0.3 --count 100000 --seconds 3 &
fpid=$!
sleep 0.5
BYSTANDER_URL=$API2_URL bystander_ok "key flood with key_cache_ttl = 0"
wait "$fpid"
l1=$(metric "$API2_METRICS_URL" "$LOOKUPS")
served=$(st "$T_TMP/f2" 404) limited=$(st "$T_TMP/f2" 429) secs=$(jq -r '.seconds // 0' "$T_TMP/f2")
expect_match "key_cache_ttl = 0: still 429s ($limited of $(jq -r .sent "$T_TMP/f2"))" '^[1-9][0-9]*$' "$limited"
within "key_cache_ttl = 0: served at most the burst plus the rate" "$served" \
	"$(awk -v s="$secs" 'BEGIN { printf "%d", 100 + 50 * s + 20 }')"
# the bystander's requests are looked up too (no cache): a few dozen at most
within "key_cache_ttl = 0: a 429 costs no lookup (lookups $((l1 - l0)), served $served)" "$((l1 - l0))" "$((served + 60))"
kill -TERM "$API2_PID" 2>/dev/null
wait "$API2_PID" 2>/dev/null

# ---- 3. a drained key's bucket outlives its cache entry: a cache of one slot,
# which any other key takes over, and a slow limit (2/s, burst 20)
api2_start "key_cache_size = 1" "rate_limit = 2" "rate_burst = 20"
new_key "t1140-evict-$$"
k3=$KEY
new_key "t1140-other-$$"
k3b=$KEY
flood "$T_TMP/f3a" "$API2_URL/v1/jobs/x" --key "$k3" --sources 127.0.0.4 --count 40
drained_at=$(date +%s.%N)
within "eviction: the key is drained first (served $(st "$T_TMP/f3a" 404) of 40)" "$(st "$T_TMP/f3a" 404)" 22
l0=$(metric "$API2_METRICS_URL" "$LOOKUPS")
expect_status "eviction: another key takes the only cache slot" 404 -H "Authorization: Bearer $k3b" "$API2_URL/v1/jobs/x"
l1=$(metric "$API2_METRICS_URL" "$LOOKUPS")
expect_eq "eviction: that key was looked up" 1 "$((l1 - l0))"
sleep 1 # two tokens back: the next request of the drained key gets as far as its lookup
flood "$T_TMP/f3b" "$API2_URL/v1/jobs/x" --key "$k3" --sources 127.0.0.4 --count 100000 --seconds 2 &
fpid=$!
BYSTANDER_URL=$API2_URL bystander_ok "drained key after eviction"
wait "$fpid"
l2=$(metric "$API2_METRICS_URL" "$LOOKUPS")
served=$(st "$T_TMP/f3b" 404) limited=$(st "$T_TMP/f3b" 429)
expect_match "eviction: the drained key was looked up again (its cache entry had gone)" '^[1-9][0-9]*$' "$((l2 - l1))"
# what 2 tokens a second gave it since it was drained; a bucket reset to full would serve 20 at once
within "eviction: the drained key is still limited (served $served, refused $limited)" "$served" \
	"$(awk -v t0="$drained_at" -v t1="$(date +%s.%N)" 'BEGIN { printf "%d", 2 * (t1 - t0) + 3 }')"
kill -TERM "$API2_PID" 2>/dev/null
wait "$API2_PID" 2>/dev/null

# ---- 4. made-up keys: 2,000 of them from 100 addresses (20 each: auth_failure_burst)
random_keys 2000 "$T_TMP/keys"
src() { local i s=; for ((i = 1; i <= $2; i++)); do s+="${s:+,}$1.$i"; done; echo "$s"; }
expect_status "made-up keys: a good key is served (and cached)" 200 -H "Authorization: Bearer $BYSTANDER_KEY" "$U/v1/jobs?limit=1"
l0=$(metric "$SPOOL_METRICS_URL" "$LOOKUPS")
flood "$T_TMP/f4a" "$U/v1/jobs/x" --keys "$T_TMP/keys" --sources "$(src 127.0.1 100)" --count 20 &
fpid=$!
bystander_ok "2,000 made-up keys"
wait "$fpid"
l1=$(metric "$SPOOL_METRICS_URL" "$LOOKUPS")
expect_eq "made-up keys: 2,000 answers 401" 2000 "$(st "$T_TMP/f4a" 401)"
# the bystander's own requests are cached: they add no lookup
expect_eq "made-up keys: one lookup per key" 2000 "$((l1 - l0))"
# the same keys again, from other addresses: known unknown, no lookup at all
flood "$T_TMP/f4b" "$U/v1/jobs/x" --keys "$T_TMP/keys" --sources "$(src 127.0.2 100)" --count 20
l2=$(metric "$SPOOL_METRICS_URL" "$LOOKUPS")
expect_eq "made-up keys sent again: 401 again" 2000 "$(st "$T_TMP/f4b" 401)"
expect_eq "made-up keys sent again: no lookup" 0 "$((l2 - l1))"
# one address sending 300 fresh keys: 401s up to its failed-authentication burst, then 429s
random_keys 300 "$T_TMP/keys2"
a0=$(metric "$SPOOL_METRICS_URL" 'spool_rate_limited_total{limit="auth_failures"}')
flood "$T_TMP/f4c" "$U/v1/jobs/x" --keys "$T_TMP/keys2" --sources 127.0.3.1 --count 300
l3=$(metric "$SPOOL_METRICS_URL" "$LOOKUPS")
a1=$(metric "$SPOOL_METRICS_URL" 'spool_rate_limited_total{limit="auth_failures"}')
refused=$(st "$T_TMP/f4c" 401) limited=$(st "$T_TMP/f4c" 429) secs=$(jq -r '.seconds // 0' "$T_TMP/f4c")
within "one address, fresh keys: 401 only up to its failed-authentication burst" "$refused" \
	"$(awk -v s="$secs" 'BEGIN { printf "%d", 20 + s + 2 }')"
expect_eq "one address, fresh keys: the rest is 429" 300 "$((refused + limited))"
expect_eq "one address, fresh keys: a lookup for each 401, none for a 429" "$refused" "$((l3 - l2))"
expect_eq "one address, fresh keys: counted as auth_failures" "$limited" "$((a1 - a0))"
expect_status "made-up keys: the good key is still served, from that address too" 200 --interface 127.0.3.1 \
	-H "Authorization: Bearer $BYSTANDER_KEY" "$U/v1/jobs?limit=1"
expect_status "made-up keys: and from elsewhere" 200 -H "Authorization: Bearer $BYSTANDER_KEY" "$U/v1/jobs?limit=1"
expect_eq "made-up keys: the good key came from the cache (no lookup)" 0 \
	"$(($(metric "$SPOOL_METRICS_URL" "$LOOKUPS") - l3))"
bystander_ok "after the made-up keys"

# ---- 5. /metrics: never on the API's listener
expect_status "/metrics on the API's listener: 404" 404 "$U/metrics"
expect_eq "/metrics: in the contract's shape" not_found "$(jq -r .error.code <<<"$BODY")"
expect_status "/metrics on the API's listener, with a key: 404" 404 -H "Authorization: Bearer $BYSTANDER_KEY" "$U/metrics"
expect_status "/metrics on its own listener: 200" 200 "$SPOOL_METRICS_URL"
expect_match "/metrics: Prometheus text" 'spool_http_requests_total\{route="GET /health",status="200"\} [0-9]+' "$BODY"
expect_status "the metrics listener serves nothing else" 404 "${SPOOL_METRICS_URL%/metrics}/health"
expect_status "the metrics listener: POST is 405" 405 -X POST "$SPOOL_METRICS_URL"
expect_match "the metrics listener is not on the API's port" '^http://127\.0\.0\.1:[0-9]+/metrics$' "$SPOOL_METRICS_URL"
[ "${SPOOL_METRICS_URL%/metrics}" != "$U" ] && ok "…a port of its own" || fail "…a port of its own" "$SPOOL_METRICS_URL"
bystander_ok "/metrics probes"

# ---- 6. query parameters and paths that are not UTF-8
new_key "t1140-utf8-$$"
A6=(-H "Authorization: Bearer $KEY")
head -c 2048 /dev/urandom >"$T_TMP/clip.bin"
expect_status "POST /v1/videos?height=<not UTF-8>: 400" 400 "${A6[@]}" -H 'Content-Type: video/mp4' \
	--data-binary @"$T_TMP/clip.bin" "$U/v1/videos?height=72%ff"
expect_eq "…naming the parameter" "bad_request height" "$(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
expect_match "…and saying why" "query parameter 'height' is not valid UTF-8" "$(jq -r .error.message <<<"$BODY")"
expect_status "POST /v1/videos?watermark=<not UTF-8>: 400" 400 "${A6[@]}" -H 'Content-Type: video/mp4' \
	--data-binary @"$T_TMP/clip.bin" "$U/v1/videos?watermark=%c0%af"
expect_eq "…naming it" watermark "$(jq -r .error.field <<<"$BODY")"
expect_status "POST /v1/videos?<name not UTF-8>=1: 400" 400 "${A6[@]}" -H 'Content-Type: video/mp4' \
	--data-binary @"$T_TMP/clip.bin" "$U/v1/videos?%ffx=1"
expect_eq "…naming it escaped" '\xFFx' "$(jq -r .error.field <<<"$BODY")"
expect_status "no job was made" 200 "${A6[@]}" "$U/v1/jobs?limit=100"
expect_eq "…the tenant has none" 0 "$(jq '.jobs | length' <<<"$BODY")"
expect_status "GET /v1/jobs?type=<not UTF-8>: 400" 400 "${A6[@]}" "$U/v1/jobs?type=no%edop"
expect_eq "…naming it" type "$(jq -r .error.field <<<"$BODY")"
expect_status "GET /v1/jobs/{id}?wait=<not UTF-8>: 400" 400 "${A6[@]}" "$U/v1/jobs/00000000-0000-4000-8000-000000000000?wait=%ed%a0%80"
expect_eq "…naming it" wait "$(jq -r .error.field <<<"$BODY")"
expect_status "a valid UTF-8 parameter is fine (é)" 400 "${A6[@]}" "$U/v1/jobs?type=caf%c3%a9"
expect_match "…and judged on its value" "must be one of" "$(jq -r .error.message <<<"$BODY")"
tag=t1140-$$-$RANDOM
expect_status "a path that is not UTF-8: 404" 404 "$U/v1/$tag-%ff%fe"
expect_eq "…its message keeps the path, escaped" "no route for '/v1/$tag-\\xFF\\xFE'" "$(jq -r .error.message <<<"$BODY")"
sleep 0.2
line=$(grep -F "$tag" "$SPOOL_LOG_DIR/spool-api.log" | tail -n1)
expect_eq "the access log keeps the path, escaped" "/v1/$tag-\\xFF\\xFE 404" "$(jq -r '"\(.path) \(.status)"' <<<"$line")"
bystander_ok "not UTF-8"

done_testing
