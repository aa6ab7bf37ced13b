#!/usr/bin/env bash
# t0245 — a batch publish (mq_publish_batch) whose connection the broker closed, as a
# restart does, is sent again at once on a new connection instead of failing:
# bin/tools/mqbatch publishes a batch, the test closes its connection through the
# management API, and the next batch still succeeds, every message in the queue.
. "$(dirname "$0")/lib.sh"

[ -x bin/tools/mqbatch ] || bail "bin/tools/mqbatch is not built (make)"
MGMT=(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD")
Q=t0245.$$
N=50
at_exit "${MGMT[*]} -X DELETE $SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$Q"

mkfifo "$T_TMP/in"
bin/tools/mqbatch -f "$SPOOL_ADMINCTL_CONFIG" "$Q" "$N" <"$T_TMP/in" >"$T_TMP/out" 2>"$T_TMP/err" &
mpid=$!
exec 3>"$T_TMP/in"
at_exit "kill $mpid 2>/dev/null"
# read_line K: wait for the K-th line of the tool's output; prints it
read_line() {
	local i
	for ((i = 0; i < 120; i++)); do
		[ "$(wc -l <"$T_TMP/out")" -ge "$1" ] && break
		sleep 0.25
	done
	sed -n "$1p" "$T_TMP/out"
}
port=$(read_line 1)
[ "${port%% *}" = port ] || bail "mqbatch did not start: $(cat "$T_TMP/err")"
port=${port#port }
expect_eq "the first batch is confirmed" ok "$(read_line 2)"

# the management API lists a new connection only after its next statistics round
conn=
for ((i = 0; i < 50; i++)); do
	[ "$i" -eq 0 ] || sleep 0.2
	conn=$("${MGMT[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/connections?columns=name,peer_port" |
		jq -r --argjson p "$port" '.[] | select(.peer_port == $p) | .name')
	[ -z "$conn" ] || break
done
[ -n "$conn" ] || bail "no connection from port $port on the broker"
check "close its connection (as a broker restart does)" "${MGMT[@]}" -X DELETE -H 'X-Reason: t0245' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/connections/$(jq -rn --arg c "$conn" '$c | @uri')"
sleep 1
echo next >&3
expect_eq "the next batch is sent again on a new connection and confirmed" ok "$(read_line 3)"
expect_match "it says so in its log" 'connection was lost during a batch of 50 messages' "$(cat "$T_TMP/err")"
exec 3>&-
wait "$mpid"

n=0
for _ in $(seq 20); do
	n=$("${MGMT[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$Q?columns=messages" | jq -r 'if type == "object" then .messages // 0 else 0 end')
	[ "$n" -ge $((2 * N)) ] && break
	sleep 0.5
done
if [ "$n" -ge $((2 * N)) ]; then ok "both batches are in the queue ($n messages)"; else fail "both batches are in the queue" "$n messages"; fi

done_testing
