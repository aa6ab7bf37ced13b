#!/usr/bin/env bash
# t0340 — the worker's completer records succeeded jobs in batches: a few hundred noop
# jobs submitted at once all succeed exactly once (the job rows, their 'succeeded'
# history rows, one job.started and one job.succeeded event each, job.started first),
# the log shows batches of more than one job (and none above batch_max) whose sizes add
# up to the jobs; then PostgreSQL stopped, and RabbitMQ restarted, in the middle of a
# burst lose nothing and finish nothing twice. The test's worker (batch_wait_us 20 ms,
# batch_max 16) runs alone: the stack's is stopped, and started again at the end.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
[ -x bin/spool-worker ] || skip_all "bin/spool-worker is not built"
N=${T0340_JOBS:-300}
RUNTAG=t0340-$(date +%s)-$$
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
stack() { scripts/stack.sh "$@" >>"$T_TMP/stack.log" 2>&1; }
at_exit 'scripts/stack.sh up >/dev/null 2>&1'

stack stop spool-worker
W_LOG_LEVEL=debug worker_own t0340 $'concurrency = 4\nbatch_max = 16\nbatch_wait_us = 20000'
WLOG=$T_TMP/t0340.log

mgmt=(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json')
q=t0340-events-$$
check "declare a test queue" "${mgmt[@]}" -X PUT -d '{"durable":false,"auto_delete":false}' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q"
at_exit "${mgmt[*]} -X DELETE $SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q"
check "bind it to spool.events with 'job.*'" "${mgmt[@]}" -X POST -d '{"routing_key":"job.*"}' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/bindings/%2F/e/spool.events/q/$q"

# ready: the API answers /ready 200 (after a service came back), bounded
ready() {
	for ((i = 0; i < 240; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SPOOL_API_URL/ready")" = 200 ] && return 0
		sleep 0.25
	done
	return 1
}
# burst NAME [ARGS]: N noop jobs in the background ($BPID), answers in $T_TMP/NAME.jsonl
burst() {
	local name=$1
	shift
	ready || fail "$name: the API is ready before the burst"
	py_file tests/faults/burst.py "$T_TMP/$name.jsonl" "$N" --threads 8 --tag "$RUNTAG-$name" "$@" \
		>"$T_TMP/$name.sum" 2>"$T_TMP/$name.err" &
	BPID=$!
}
ids() { echo "{$(jq -r 'select(.status == 202 and .valid) | .id' "$T_TMP/$1.jsonl" | paste -sd, -)}"; }
# counts NAME: "accepted succeeded not-final not-ours succeeded-rows-not-one"
counts() {
	sql -F ' ' -v ids="$(ids "$1")" <<-'SQL'
		WITH ids AS (SELECT DISTINCT unnest(:'ids'::uuid[]) AS id),
		s AS (SELECT ids.id, j.status, j.worker_id,
		        (SELECT count(*) FROM job_events e WHERE e.job_id = ids.id AND e.event = 'succeeded') AS ns
		      FROM ids LEFT JOIN jobs j ON j.id = ids.id)
		SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'),
		       count(*) FILTER (WHERE status IS NULL OR status NOT IN ('succeeded', 'failed', 'cancelled')),
		       count(*) FILTER (WHERE worker_id IS DISTINCT FROM 't0340'),
		       count(*) FILTER (WHERE ns <> 1)
		FROM s
	SQL
}
# settle NAME SECONDS: until every accepted job of NAME is final
settle() {
	local end=$((SECONDS + $2)) m
	while m=($(counts "$1")) && [ "${m[2]:-1}" != 0 ] && [ $SECONDS -lt $end ]; do sleep 1; done
}
# verify NAME: every accepted job succeeded once, by the test's worker
verify() {
	local m
	m=($(counts "$1"))
	[ "${m[0]:-0}" -gt 0 ] && ok "$1: ${m[0]} jobs accepted" || fail "$1: jobs accepted" "$(cat "$T_TMP/$1.sum" "$T_TMP/$1.err")"
	expect_eq "$1: every accepted job succeeded" "${m[0]}" "${m[1]}"
	expect_eq "$1: none lost (not final)" 0 "${m[2]}"
	expect_eq "$1: all run by the test's worker" 0 "${m[3]}"
	expect_eq "$1: exactly one 'succeeded' history row per job" 0 "${m[4]}"
}
# batches: the sizes the completer logged so far, one a line ("batch marked")
batches() { jq -r 'select(.msg | startswith("completer: recorded a batch")) | "\(.batch) \(.marked)"' "$WLOG"; }

# ---- 1. a burst, nothing broken: batches, events
burst plain
wait "$BPID"
settle plain 120
verify plain
b=$(batches)
expect_match "batches of more than one job were recorded" '^([2-9]|1[0-6]) ' "$(sort -rn <<<"$b" | head -n 1)"
expect_eq "no batch above batch_max (16)" 0 "$(awk '$1 > 16' <<<"$b" | wc -l)"
expect_eq "the batches marked every job once" "$N" "$(awk '{ s += $2 } END { print s + 0 }' <<<"$b")"
# the events: in the queue's order, each job one job.started, then one job.succeeded
events=$T_TMP/events.jsonl
for _ in $(seq 30); do
	"${mgmt[@]}" -X POST -d '{"count":5000,"ackmode":"ack_requeue_false","encoding":"auto"}' \
		"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q/get" | jq -c '.[] | {k: .routing_key, id: (.payload | fromjson | .job_id)}' >>"$events"
	[ "$(wc -l <"$events")" -ge $((2 * N)) ] && break
	sleep 0.5
done
expect_eq "$N job.started and $N job.succeeded events" "$N job.started $N job.succeeded" \
	"$(jq -r .k "$events" | sort | uniq -c | awk '{ print $1, $2 }' | paste -sd ' ')"
expect_eq "each job's job.started comes before its job.succeeded" 0 \
	"$(jq -rs '[group_by(.id)[] | select((map(.k) | join(" ")) != "job.started job.succeeded")] | length' "$events")"
expect_eq "the events name the accepted jobs" "$N" \
	"$(jq -r .id "$events" | sort -u | grep -cxFf <(jq -r 'select(.status == 202) | .id' "$T_TMP/plain.jsonl"))"

# ---- 2. PostgreSQL stopped in the middle of a burst: nothing lost, nothing twice
burst postgres --rate 150
sleep 1
stack stop postgres
sleep 3
stack start postgres || fail "PostgreSQL started again" "$(tail -n 20 "$T_TMP/stack.log")"
wait "$BPID"
settle postgres 150
verify postgres
echo "# postgres: $(grep -c 'cannot record' "$WLOG") warning(s) of outcomes not recorded at once"

# ---- 3. RabbitMQ restarted in the middle of a burst
burst rabbitmq --rate 150
sleep 1
stack stop rabbitmq
sleep 1
stack start rabbitmq || fail "RabbitMQ started again" "$(tail -n 20 "$T_TMP/stack.log")"
wait "$BPID"
settle rabbitmq 150
verify rabbitmq

kill -TERM "$WPID"
wait "$WPID" 2>/dev/null
expect_eq "no outcome given up (the lease left to expire)" 0 "$(grep -c 'its lease will expire and it will run again' "$WLOG" || true)"
done_testing
