# Helpers of the scheduling tests (t14*), sourced after lib.sh with the stack's
# variables: SQL as the database's owner, polls and samples of it, the tenants'
# keys and jobs.
ADM="bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }
mgmt() { curl -fsS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
# key TENANT: a new API key of TENANT
key() { $ADM keys create --tenant "$1" 2>/dev/null | head -n 1; }
# submit_noop KEY [JSON-EXTRA]: one noop job; prints its id
submit_noop() {
	curl -fsS --max-time 40 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"type\":\"noop\"${2:-}}" "$SPOOL_API_URL/v1/jobs" | json_id
}
# wait_sql WANT SECONDS QUERY: poll until QUERY prints WANT (5 times a second)
wait_sql() {
	local want=$1 i
	for ((i = 0; i < $2 * 5; i++)); do
		[ "$(sql "$3")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
# sample FILE QUERY: QUERY's answer into FILE 20 times a second until FILE.stop exists,
# through one psql session: a psql started for each sample took tens of milliseconds of
# CPU, which a busy loop of them took from the scheduler it watched
sample() {
	while [ ! -e "$1.stop" ]; do
		printf '%s;\n' "$2"
		sleep 0.05
	done | psql -X -At "$SPOOL_PG_DSN" >>"$1" || true
}
# once WHERE: "N N N": jobs succeeded in one attempt, their 'started' events, their 'succeeded' events
once() {
	sql "SELECT count(*) FILTER (WHERE status = 'succeeded' AND attempts = 1),
		(SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $1 AND e.event = 'started'),
		(SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $1 AND e.event = 'succeeded')
		FROM jobs j WHERE $1" | tr '|' ' '
}
# purge_jobs_queue: drop every message of spool.jobs (the jobs stay in PostgreSQL)
purge_jobs_queue() { mgmt -X DELETE "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.jobs/contents" >/dev/null; }
# the CloudWatch stand-in's data, one JSON object a line
METRICS=$SPOOL_RUN_DIR/standin/metrics.jsonl
# latest NAME DIM VALUE [SINCE_MS]: the value of the newest datum of NAME with that one
# dimension ("-" for none) put after SINCE_MS, "none" when there is none
latest() {
	jq -rs --arg n "$1" --arg d "$2" --arg v "$3" --argjson t "${4:-0}" '
		[.[] | select(.ns == "Spool" and .name == $n and .ts >= $t and
			(if $d == "-" then (.dims | length) == 0
			 else (.dims | length) == 1 and .dims[0].Name == $d and .dims[0].Value == $v end))]
		| if length == 0 then "none" else (last | .max | tostring) end' "$METRICS"
}
# wait_latest WANT SECONDS NAME DIM VALUE SINCE_MS
wait_latest() {
	local i
	for ((i = 0; i < $2; i++)); do
		[ "$(latest "$3" "$4" "$5" "$6")" = "$1" ] && return 0
		sleep 1
	done
	return 1
}
