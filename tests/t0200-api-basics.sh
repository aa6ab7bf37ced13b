#!/usr/bin/env bash
# t0200 — spool-api basics: /health, /ready, /metrics (on its own listener), X-Request-Id,
# unknown routes.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
curl -fsS -o /dev/null "$U/health" 2>/dev/null || bail "spool-api is not answering on $U"

expect_status "GET /health is 200" 200 -D "$T_TMP/h" "$U/health"
expect_eq "/health body" '{"status":"ok"}' "$BODY"
expect_match "/health has the JSON content type" $'[Cc]ontent-[Tt]ype: application/json; charset=utf-8\r' "$(cat "$T_TMP/h")"
rid=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: \(.*\)\r$/\1/p' "$T_TMP/h")
expect_match "a new X-Request-Id is a UUID" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$rid"

expect_status "HEAD /health is 200" 200 -I "$U/health"

expect_status "a sane client X-Request-Id" 200 -D "$T_TMP/h" -H 'X-Request-Id: t0200.abc_DEF-1' "$U/health"
expect_match "is echoed" $'X-Request-Id: t0200.abc_DEF-1\r' "$(cat "$T_TMP/h")"
long=$(head -c 200 /dev/zero | tr '\0' a)
expect_status "an insane client X-Request-Id" 200 -D "$T_TMP/h" -H "X-Request-Id: $long" "$U/health"
rid=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: \(.*\)\r$/\1/p' "$T_TMP/h")
expect_match "is replaced by a UUID" '^[0-9a-f-]{36}$' "$rid"
expect_status "X-Request-Id with a space" 200 -D "$T_TMP/h" -H 'X-Request-Id: a b' "$U/health"
expect_match "is replaced too" $'X-Request-Id: [0-9a-f-]{36}\r' "$(cat "$T_TMP/h")"

# /ready may take a moment after the stack starts (publisher connecting)
for _ in $(seq 1 20); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/ready")" = 200 ] && break
	sleep 0.5
done
expect_status "GET /ready is 200" 200 "$U/ready"
expect_eq "/ready names every check ok" 'ready ok ok ok' \
	"$(jq -r '[.status,.checks.database,.checks.queue,.checks.storage]|join(" ")' <<<"$BODY")"

expect_status "unknown route is 404" 404 -D "$T_TMP/h" "$U/nope"
expect_eq "404 error code" not_found "$(jq -r .error.code <<<"$BODY")"
rid=$(sed -n 's/^[Xx]-[Rr]equest-[Ii]d: \(.*\)\r$/\1/p' "$T_TMP/h")
expect_eq "error body request_id matches the header" "$rid" "$(jq -r .error.request_id <<<"$BODY")"
expect_status "/v1/jobs/x/y is 404" 404 -H "Authorization: Bearer $SPOOL_API_KEY" "$U/v1/jobs/x/y"

expect_status "GET /metrics on the API's listener is 404" 404 "$U/metrics"
expect_status "GET /metrics on the metrics listener is 200" 200 -D "$T_TMP/h" "$SPOOL_METRICS_URL"
expect_match "metrics are Prometheus text" $'Content-Type: text/plain; version=0.0.4' "$(cat "$T_TMP/h")"
for m in 'spool_http_requests_total\{route="GET /health",status="200"\} [0-9]+' \
	'spool_http_request_duration_seconds_bucket\{route="GET /health",le="\+Inf"\} [0-9]+' \
	'spool_http_request_duration_seconds_count' 'spool_jobs_submitted_total [0-9]+' \
	'spool_outbox_backlog [0-9]+' 'spool_http_connections [0-9]+'; do
	expect_match "metrics have ${m%%[\\ ]*}" "$m" "$BODY"
done

# keep-alive: several requests over one connection
n=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' "$U/health" "$U/health" "$U/health" | paste -sd+ | bc)
expect_eq "three GETs reuse one connection" 1 "$n"

done_testing
