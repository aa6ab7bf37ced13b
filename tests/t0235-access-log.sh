#!/usr/bin/env bash
# t0235 — spool-api's access log: one JSON line per request with the client (the
# X-Forwarded-For client behind a trusted proxy, the peer otherwise), method, path
# without its query, status, bytes (the response body), duration_ms, user agent
# (at most 256 bytes, bytes that are not UTF-8 escaped), request id (the client's
# X-Request-Id), trace id (X-Amzn-Trace-Id when well-formed, else null) and tenant
# (once authenticated); level error for a 5xx, info otherwise (4xx included).
#
# A second spool-api trusts 127.0.0.1 as its load balancer; its storage is a port
# where nothing listens, so that GET /ready answers 503.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/data/second-api.sh"

TENANT=t0235
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$TENANT" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"

base=$T_TMP/base.ini
awk -v dead="http://127.0.0.1:$((SPOOL_PORT_BASE + 52))" '
	/^\[/ { section = $0 }
	section == "[s3]" && /^endpoint_url *=/ { print "endpoint_url = " dead; next }
	{ print }' "$SPOOL_API_CONFIG" >"$base"
API2_PORT=$((SPOOL_PORT_BASE + 50))
API2_METRICS_PORT=$((SPOOL_PORT_BASE + 51))
SPOOL_API_CONFIG=$base api2_start "trusted_proxies = 127.0.0.1/32"
LOG=$SPOOL_LOG_DIR/spool-api-$T_NAME.log
TRACE='Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1'
LONG_UA=$(printf 'a%.0s' $(seq 1 1000))

# req NAME CURL-ARGS...: a request with X-Request-Id t0235-NAME; its body size in $SIZE
req() {
	local name=$1
	shift
	SIZE=$(curl -sS -o /dev/null -w '%{size_download}' --max-time 30 -H "X-Request-Id: t0235-$name" "$@")
}

req ok -H "Authorization: Bearer $KEY" -H 'X-Forwarded-For: 198.51.100.9, 203.0.113.7' \
	-H $'User-Agent: t0235/1.0 caf\xc3\xa9 \xff' -H "X-Amzn-Trace-Id: $TRACE" \
	"$API2_URL/v1/jobs?limit=1&status=queued"
size_ok=$SIZE
req nope -H 'X-Forwarded-For: 203.0.113.8' -H "User-Agent: $LONG_UA" -H 'X-Amzn-Trace-Id: Root=bogus' \
	"$API2_URL/nope"
size_nope=$SIZE
req noauth -H 'X-Forwarded-For: 203.0.113.9' -H 'Content-Type: application/json' -d '{}' "$API2_URL/v1/jobs"
size_noauth=$SIZE
req ready "$API2_URL/ready"
size_ready=$SIZE

# line NAME: the access line of request t0235-NAME, its fields as "name=value" lines
line() {
	local i out
	for ((i = 0; i < 50; i++)); do
		out=$(py '
import json, sys
for raw in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    try:
        o = json.loads(raw)
    except ValueError:
        continue
    if o.get("msg") == "request" and o.get("request_id") == sys.argv[2]:
        for k in sorted(o):
            v = o[k]
            if k == "user_agent" and isinstance(v, str) and len(v) > 64:
                v = "%d bytes of %s" % (len(v.encode()), "".join(sorted(set(v))))
            print("%s=%s" % (k, json.dumps(v, ensure_ascii=False)))
        break
' "$LOG" "t0235-$1")
		[ -n "$out" ] && break
		sleep 0.1
	done
	printf '%s\n' "$out"
}

# field LINE NAME: a field's value (JSON) from line's output
field() { sed -n "s/^$2=//p" <<<"$1"; }

l=$(line ok)
expect_eq "200: client is the X-Forwarded-For client behind the trusted proxy" '"203.0.113.7"' "$(field "$l" client)"
expect_eq "200: method, path without the query, status" '"GET" "/v1/jobs" 200' \
	"$(field "$l" method) $(field "$l" path) $(field "$l" status)"
expect_eq "200: bytes is the body's size" "$size_ok" "$(field "$l" bytes)"
expect_match "200: duration_ms is a whole number" '^[0-9]+$' "$(field "$l" duration_ms)"
expect_eq "200: user agent, the byte that is not UTF-8 escaped" '"t0235/1.0 café \\xFF"' "$(field "$l" user_agent)"
expect_eq "200: request id, the client's" '"t0235-ok"' "$(field "$l" request_id)"
expect_eq "200: trace id, the load balancer's" "\"$TRACE\"" "$(field "$l" trace_id)"
expect_eq "200: tenant, authenticated" "\"$TENANT\"" "$(field "$l" tenant)"
expect_eq "200: level info" '"info"' "$(field "$l" level)"
if grep -F 't0235-ok' "$LOG" | grep -q 'status=queued\|limit='; then
	fail "200: the query string is not logged"
else
	ok "200: the query string is not logged"
fi

l=$(line nope)
expect_eq "404: client, path, status, level info" '"203.0.113.8" "/nope" 404 "info"' \
	"$(field "$l" client) $(field "$l" path) $(field "$l" status) $(field "$l" level)"
expect_eq "404: bytes is the error body's size" "$size_nope" "$(field "$l" bytes)"
expect_eq "404: a 1000-byte user agent is cut to 256" '"256 bytes of a"' "$(field "$l" user_agent)"
expect_eq "404: a malformed trace id is not logged" null "$(field "$l" trace_id)"
expect_eq "404: no tenant" null "$(field "$l" tenant)"

l=$(line noauth)
expect_eq "401: POST /v1/jobs without a key, level info, no tenant" \
	'"POST" "/v1/jobs" 401 "info" null' \
	"$(field "$l" method) $(field "$l" path) $(field "$l" status) $(field "$l" level) $(field "$l" tenant)"
expect_eq "401: bytes" "$size_noauth" "$(field "$l" bytes)"
expect_match "401: curl's user agent" '^"curl/' "$(field "$l" user_agent)"

l=$(line ready)
expect_eq "503: /ready with its storage down, level error" '"/ready" 503 "error"' \
	"$(field "$l" path) $(field "$l" status) $(field "$l" level)"
expect_eq "503: client is the peer (the trusted proxy itself) without X-Forwarded-For" '"127.0.0.1"' \
	"$(field "$l" client)"
expect_eq "503: bytes, no trace id" "$size_ready null" "$(field "$l" bytes) $(field "$l" trace_id)"

done_testing
