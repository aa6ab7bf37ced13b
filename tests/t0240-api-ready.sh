#!/usr/bin/env bash
# t0240 — /ready follows RabbitMQ: 503 naming the queue while the broker's AMQP
# side is stopped (rabbitmqctl stop_app), jobs submitted meanwhile wait in the
# outbox and complete once it is back.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')

# rabbitmqctl for the stack's node (the same environment scripts/stack.sh uses)
RMQDIR=$SPOOL_RUN_DIR/rabbitmq
rmqctl() {
	env HOME="$RMQDIR/home" RABBITMQ_NODENAME="spool$SPOOL_PORT_BASE@localhost" RABBITMQ_USE_LONGNAME=false \
		ERL_EPMD_PORT=$((SPOOL_PORT_BASE + 3)) RABBITMQ_CONF_ENV_FILE="$RMQDIR/rabbitmq-env.conf" \
		/usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}
rmqctl -q status >/dev/null 2>&1 || skip_all "cannot reach the stack's RabbitMQ node with rabbitmqctl"

wait_ready() { # STATUS SECONDS
	local i
	for ((i = 0; i < $2 * 4; i++)); do
		[ "$(curl -s -o "$T_TMP/ready" -w '%{http_code}' "$U/ready")" = "$1" ] && return 0
		sleep 0.25
	done
	return 1
}

wait_ready 200 20 || bail "/ready is not 200 to begin with: $(cat "$T_TMP/ready")"
ok "/ready is 200 with RabbitMQ up"

rmqctl -q stop_app >/dev/null || bail "rabbitmqctl stop_app failed"
at_exit 'rmqctl -q start_app'
t0=$(date +%s)
if wait_ready 503 30; then ok "/ready is 503 within $(($(date +%s) - t0)) s of RabbitMQ stopping"; else fail "/ready turns 503" "$(cat "$T_TMP/ready")"; fi
expect_status "/ready while RabbitMQ is down" 503 -D "$T_TMP/h" "$U/ready"
expect_eq "it names the queue, not the others" "unavailable ok ok unavailable" \
	"$(jq -r '[.checks.queue,.checks.database,.checks.storage,.error.code]|join(" ")' <<<"$BODY")"
expect_match "with Retry-After" $'Retry-After: [0-9]+\r' "$(cat "$T_TMP/h")"
expect_status "/health stays 200" 200 "$U/health"

ids=()
for i in 1 2 3; do
	expect_status "submit $i while RabbitMQ is down" 202 "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop"}' "$U/v1/jobs"
	ids+=("$(json_id <<<"$BODY")")
done
sleep 1
backlog=$(curl -s "$SPOOL_METRICS_URL" | sed -n 's/^spool_outbox_backlog \([0-9]*\)$/\1/p')
[ "${backlog:-0}" -ge 3 ] && ok "they wait in the outbox (backlog $backlog)" || fail "they wait in the outbox" "backlog '$backlog'"

rmqctl -q start_app >/dev/null || bail "rabbitmqctl start_app failed"
t0=$(date +%s)
if wait_ready 200 60; then ok "/ready is 200 again within $(($(date +%s) - t0)) s"; else fail "/ready back to 200" "$(cat "$T_TMP/ready")"; fi
for id in "${ids[@]}"; do
	expect_status "job ${id:0:8} completes after the restart" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=25"
	expect_eq "job ${id:0:8} succeeded" succeeded "$(jq -r .status <<<"$BODY")"
done

done_testing
