#!/usr/bin/env bash
# t0255 — the final events reach an API process only when it needs them: its private
# queue spool.events.api.<host>.<pid> has no binding to spool.events while no ?wait
# request waits there; the first wait binds it (confirmed before the job is read) and
# is still woken at once; the binding goes a few seconds after the last wait; many
# concurrent waits on fast noop jobs, begun while unbound, all end with their job
# final well before their deadline. And the webhook consumer of spool.events.api
# takes only the events of jobs with a callback_url to the database (the metric
# spool_webhook_events_total), which still get their first delivery row.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
[ -n "${SPOOL_METRICS_URL:-}" ] || skip_all "the stack's API has no metrics listener"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
MGMT=(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD")
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
now() { date +%s.%N; }
ms_since() { py 'import sys; print(int((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "${2:-$(now)}"; }
metric() { curl -fsS "$SPOOL_METRICS_URL" | awk -v k="$1" '$1 == k { print $2 }'; }
NOOP='{"type":"noop","params":{"t":"t0255"}}'
submit() { curl -sS "${AUTH[@]}" "${JSON[@]}" -d "${1:-$NOOP}" "$U/v1/jobs" | jq -r '.id // empty'; }

# the stack's API process's own queue (the one whose consumer is its pid's connection)
pid=$(cat "$SPOOL_RUN_DIR/pids/spool-api.pid" 2>/dev/null || true)
[ -n "$pid" ] || bail "no pid file for the stack's spool-api"
queue=$("${MGMT[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F?columns=name" |
	jq -r --arg p ".$pid" '.[] | .name | select(startswith("spool.events.api.") and endswith($p))' | head -n1)
[ -n "$queue" ] || bail "no private events queue of spool-api $pid"
qpath=$(jq -rn --arg q "$queue" '$q | @uri')
final_keys() {
	"${MGMT[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$qpath/bindings" |
		jq -r '[.[] | select(.source == "spool.events") | .routing_key] | sort | join(" ")'
}
# until_keys WANT SECONDS: poll the bindings until they are WANT; prints them
until_keys() {
	local k i
	for ((i = 0; i < $2 * 4; i++)); do
		k=$(final_keys)
		[ "$k" = "$1" ] && break
		sleep 0.25
	done
	echo "$k"
}
KEYS="job.cancelled job.failed job.succeeded"

# --- no waiter: no binding (a wait of an earlier test lingers a few seconds)
expect_eq "no binding to spool.events while nothing waits" "" "$(until_keys "" 15)"
expect_eq "spool_events_bound is 0" 0 "$(metric spool_events_bound)"

# --- the first waiter binds, and is woken as soon as its job is cancelled
first=$(submit)
tenant=$(sql -c "SELECT tenant_id FROM jobs WHERE id = '$first'")
parked() { sql -c "INSERT INTO jobs (tenant_id, type, params) VALUES ('$tenant', 'noop', '{\"t\":\"t0255\"}') RETURNING id" | head -n1; }
p=$(parked)
[ -n "$p" ] || bail "cannot insert a parked job"
binds0=$(metric 'spool_events_binds_total{op="bind"}')
curl -sS -o "$T_TMP/w1" "${AUTH[@]}" "$U/v1/jobs/$p?wait=20" &
wpid=$!
expect_eq "a waiting request binds the final keys" "$KEYS" "$(until_keys "$KEYS" 5)"
expect_eq "spool_events_bound is 1" 1 "$(metric spool_events_bound)"
expect_eq "one bind counted" $((binds0 + 1)) "$(metric 'spool_events_binds_total{op="bind"}')"
expect_status "DELETE the parked job" 200 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$p"
t_cancel=$(now)
wait "$wpid"
el=$(ms_since "$t_cancel")
expect_eq "the wait answers with the job cancelled" cancelled "$(jq -r .status "$T_TMP/w1")"
if [ "$el" -lt 500 ]; then ok "woken ${el} ms after the cancel (< 500 ms)"; else fail "woken ${el} ms after the cancel (< 500 ms)"; fi

# --- the binding lingers a moment after the last waiter, then goes
expect_eq "the binding is still there right after the last wait" "$KEYS" "$(final_keys)"
expect_eq "and is gone a few seconds later" "" "$(until_keys "" 15)"

# --- a first wait on a fast job: the bind happens on the way, the answer is prompt
id=$(submit)
[ -n "$id" ] || bail "cannot submit a noop job"
t0=$(now)
expect_status "?wait=20 on a new noop job, nothing bound before" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=20"
t_answer=$(now)
el=$(ms_since "$t0" "$t_answer")
expect_eq "it answers with the job succeeded" succeeded "$(jq -r .status <<<"$BODY")"
fin=$(sql -c "SELECT extract(epoch FROM finished_at) FROM jobs WHERE id = '$id'")
lag=$(ms_since "$fin" "$t_answer")
if [ "$el" -lt 5000 ]; then ok "answered in ${el} ms of a 20 s wait"; else fail "answered in ${el} ms of a 20 s wait"; fi
if [ "$lag" -lt 1500 ]; then ok "within ${lag} ms of the worker's finish (or of its own read, when the job was done first)"; else fail "within ${lag} ms of the worker's finish"; fi

# --- many waits begun while unbound, on noop jobs that finish at once
expect_eq "unbound again before the burst" "" "$(until_keys "" 15)"
N=${T0255_WAITS:-30}     # under api.max_waits_per_key (32)
ids=()
for ((i = 0; i < N; i++)); do ids+=("$(submit)"); done
t0=$(now)
for ((i = 0; i < N; i++)); do
	curl -sS -o "$T_TMP/b$i" "${AUTH[@]}" "$U/v1/jobs/${ids[$i]}?wait=30" &
done
wait
el=$(ms_since "$t0")
done_n=0
for ((i = 0; i < N; i++)); do
	[ "$(jq -r .status "$T_TMP/b$i" 2>/dev/null)" = succeeded ] && done_n=$((done_n + 1))
done
expect_eq "all $N concurrent waits answer with their job succeeded" "$N" "$done_n"
if [ "$el" -lt 15000 ]; then ok "all answered in ${el} ms (deadline 30 s)"; else fail "all answered in ${el} ms (deadline 30 s)"; fi

# --- the webhook consumer: jobs without a callback_url skip the database
settle() { # wait until the metric stops moving
	local a b
	a=$(metric "$1")
	for _ in $(seq 20); do sleep 0.5; b=$(metric "$1"); [ "$a" = "$b" ] && break; a=$b; done
	echo "$b"
}
look0=$(settle 'spool_webhook_events_total{database="looked_up"}')
skip0=$(metric 'spool_webhook_events_total{database="skipped"}')
M=10
plain=()
for ((i = 0; i < M; i++)); do plain+=("$(submit)"); done
cb=$(submit '{"type":"noop","callback_url":"https://hooks.example.com/t0255"}')
[ -n "$cb" ] || bail "cannot submit a job with a callback_url"
for _ in $(seq 60); do
	n=$(sql -c "SELECT count(*) FROM webhook_deliveries WHERE job_id = '$cb'")
	[ "${n:-0}" -ge 1 ] && break
	sleep 0.5
done
expect_eq "the job with a callback_url got its first delivery row" 1 "$(sql -c "SELECT count(*) FROM webhook_deliveries WHERE job_id = '$cb' AND attempt = 1")"
for _ in $(seq 40); do
	skip=$(metric 'spool_webhook_events_total{database="skipped"}')
	[ $((skip - skip0)) -ge "$M" ] && break
	sleep 0.5
done
look=$(settle 'spool_webhook_events_total{database="looked_up"}')
if [ $((skip - skip0)) -ge "$M" ]; then ok "the $M final events without a callback skipped the database"; else fail "the $M final events without a callback skipped the database" "skipped $((skip - skip0))"; fi
expect_eq "only the callback job's final event was looked up" 1 $((look - look0))

done_testing
