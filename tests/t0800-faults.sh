#!/usr/bin/env bash
# t0800 — fault injection: a burst of jobs through the REST API (noop, and media.probe
# of a small clip) while something breaks; then every accepted job (ids from the 202
# answers) must be final, succeeded exactly once, with no unsent outbox rows and the
# last job_events status equal to the job's. Scenarios: kill -9 a worker, restart
# RabbitMQ, restart PostgreSQL, the S3 stand-in down 10 s, SIGTERM the worker, SIGTERM
# the API, a poison message on spool.jobs. Prints a table scenario | accepted |
# succeeded | failed | lost | duplicated. Every service stopped is started again
# (scripts/stack.sh start SERVICE), also when the test fails.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
[ -x bin/spool-worker ] || skip_all "bin/spool-worker is not built"
command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
PIDS=$SPOOL_RUN_DIR/pids
N=${T0800_JOBS:-300}     # noop jobs per scenario
NP=${T0800_PROBES:-6}    # media.probe jobs per scenario
RUNTAG=t0800-$(date +%s)-$$

sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
stack() { scripts/stack.sh "$@" >>"$T_TMP/stack.log" 2>&1; }

# Whatever a scenario stopped comes back, even when the test dies half-way.
at_exit 'scripts/stack.sh up >/dev/null 2>&1'

# healthy: services up, the stack's daemons running, /ready 200 (bounded)
healthy() {
	local i s
	for s in postgres rabbitmq aws-standin s3rver spool-worker spool-api; do
		scripts/stack.sh status 2>/dev/null | grep -q "^$s *up" || stack start "${s/aws-standin/aws}"
	done
	for ((i = 0; i < 120; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SPOOL_API_URL/ready")" = 200 ] && return 0
		sleep 0.25
	done
	return 1
}

# A small clip for the media.probe jobs.
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "cannot make the clip"
healthy || bail "the stack is not ready to begin with"
KEY=$(upload "$T_TMP/clip.mp4") || bail "cannot upload the clip"

# worker_extra NAME [INI-LINES]: one more worker with a short lease; its pid in $XPID
worker_extra() {
	local ini=$T_TMP/$1.ini
	grep -v '^concurrency' "$SPOOL_WORKER_CONFIG" >"$ini"
	printf 'id = %s\nconcurrency = 2\nlease = 5s\nheartbeat = 1s\n%s\n' "$1" "${2:-}" >>"$ini"
	bin/spool-worker -d -f "$ini" >>"$T_TMP/$1.log" 2>&1 &
	XPID=$!
	at_exit "kill -9 $XPID"
	sleep 1
	kill -0 "$XPID" 2>/dev/null || bail "worker $1 did not start: $(tail -n 5 "$T_TMP/$1.log")"
}

# burst NAME [BURST-ARGS]: submit N noop + NP probe jobs in the background ($BPID)
burst() {
	local name=$1
	shift
	py_file tests/faults/burst.py "$T_TMP/$name.jsonl" "$N" --probe "$KEY" --probes "$NP" \
		--tag "$RUNTAG-$name" "$@" >"$T_TMP/$name.sum" 2>"$T_TMP/$name.err" &
	BPID=$!
}
burst_wait() {
	wait "$BPID"
	echo "# $1 burst: $(cat "$T_TMP/$1.sum") $(head -c 300 "$T_TMP/$1.err")"
}

# ids NAME: the accepted job ids as a PostgreSQL array literal
ids() { echo "{$(jq -r 'select(.status == 202 and .valid) | .id' "$T_TMP/$1.jsonl" | paste -sd, -)}"; }

# measure NAME: "accepted succeeded failed lost duplicated badsucc inconsistent outbox"
measure() {
	sql -F ' ' -v ids="$(ids "$1")" <<-'SQL'
		WITH ids AS (SELECT DISTINCT unnest(:'ids'::uuid[]) AS id),
		j AS (SELECT ids.id, jobs.status FROM ids LEFT JOIN jobs ON jobs.id = ids.id),
		ev AS (SELECT job_id, count(*) FILTER (WHERE event = 'succeeded') AS ns FROM job_events
		       WHERE job_id IN (SELECT id FROM ids) GROUP BY job_id),
		last AS (SELECT DISTINCT ON (job_id) job_id, status FROM job_events
		         WHERE job_id IN (SELECT id FROM ids) ORDER BY job_id, id DESC)
		SELECT count(*),
		       count(*) FILTER (WHERE j.status = 'succeeded'),
		       count(*) FILTER (WHERE j.status = 'failed'),
		       count(*) FILTER (WHERE j.status IS NULL OR j.status NOT IN ('succeeded', 'failed', 'cancelled')),
		       count(*) FILTER (WHERE coalesce(ev.ns, 0) > 1),
		       count(*) FILTER (WHERE (j.status = 'succeeded') <> (coalesce(ev.ns, 0) = 1)),
		       count(*) FILTER (WHERE last.status IS DISTINCT FROM j.status),
		       (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND
		          substring(payload FROM '"job_id":"([0-9a-f-]{36})"')::uuid IN (SELECT id FROM ids))
		FROM j LEFT JOIN ev ON ev.job_id = j.id LEFT JOIN last ON last.job_id = j.id
	SQL
}

# settle NAME SECONDS: wait until every accepted job is final and its outbox rows sent
settle() {
	local end=$((SECONDS + $2)) m
	while :; do
		m=($(measure "$1"))
		[ "${#m[@]}" -eq 8 ] && [ "${m[3]}" -eq 0 ] && [ "${m[7]}" -eq 0 ] && break
		[ $SECONDS -lt $end ] || break
		sleep 1
	done
	echo "# $1 settled in $((SECONDS - end + $2)) s"
}

# T0800_ONLY=kill9,s3 runs only those scenarios
want() { [ -z "${T0800_ONLY:-}" ] || [[ ,$T0800_ONLY, == *,$1,* ]]; }

TABLE=()
# verify NAME: the checks and a table row
verify() {
	local name=$1 m left
	m=($(measure "$name"))
	[ "${#m[@]}" -eq 8 ] || { fail "$name: measured" "${m[*]}"; return; }
	TABLE+=("$(printf '%-22s | %8s | %9s | %6s | %4s | %10s' "$name" "${m[0]}" "${m[1]}" "${m[2]}" "${m[3]}" "${m[4]}")")
	[ "${m[0]}" -gt 0 ] && ok "$name: ${m[0]} jobs accepted" || fail "$name: jobs accepted" "$(cat "$T_TMP/$name.sum" "$T_TMP/$name.err")"
	expect_eq "$name: lost (accepted, not final)" 0 "${m[3]}"
	expect_eq "$name: duplicated (more than one succeeded event)" 0 "${m[4]}"
	expect_eq "$name: failed" 0 "${m[2]}"
	expect_eq "$name: exactly one succeeded event per succeeded job" 0 "${m[5]}"
	expect_eq "$name: last event status = job status" 0 "${m[6]}"
	expect_eq "$name: no unsent outbox rows" 0 "${m[7]}"
	left=$(sql -v ids="$(ids "$name")" <<<"SELECT count(*) FROM jobs WHERE id = ANY(:'ids'::uuid[]) AND status IN ('running', 'queued', 'retrying')")
	expect_eq "$name: none left running/queued/retrying" 0 "$left"
	expect_eq "$name: every answer complete and valid" 0 \
		"$(jq -s '[.[] | select(.valid | not)] | length' "$T_TMP/$name.jsonl")"
	# jobs stored although the client got no 202 (an answer lost on the way)
	local orphans
	orphans=$(sql -v ids="$(ids "$name")" -v tag="$RUNTAG-$name-%" \
		<<<"SELECT count(*) FROM jobs WHERE idempotency_key LIKE :'tag' AND id <> ALL(:'ids'::uuid[])")
	expect_eq "$name: no job stored without its 202 reaching the client" 0 "$orphans"
	if [ "$orphans" != 0 ]; then
		sql -v ids="$(ids "$name")" -v tag="$RUNTAG-$name-%" <<<"SELECT idempotency_key, created_at FROM jobs WHERE idempotency_key LIKE :'tag' AND id <> ALL(:'ids'::uuid[])" |
			while IFS='|' read -r k at; do
				echo "#   orphan $k created $at; the client saw: $(jq -c --argjson n "${k##*-}" 'select(.n == $n)' "$T_TMP/$name.jsonl")"
			done
	fi
	healthy && ok "$name: the stack is healthy again" || fail "$name: the stack is healthy again" "$(scripts/stack.sh status 2>&1)"
}

# ---- 1. kill -9 a worker mid-burst (a second worker with a 5 s lease; the stack's keeps going)
if want kill9; then
	worker_extra t0800-k
	# media.probe jobs (tens of ms each, noop ones take 1 ms) so that the frozen worker holds one
	NP=$((NP * 5)) burst kill9 --rate 150
	# freeze it at a moment it has a job running (claimed, not yet recorded), then kill it
	hit=0
	for ((i = 0; i < 200; i++)); do
		kill -STOP "$XPID"
		hit=$(sql -c "SELECT count(*) FROM jobs WHERE worker_id = 't0800-k' AND status = 'running' AND idempotency_key LIKE '$RUNTAG-kill9-%'")
		[ "$hit" -gt 0 ] && [ "$i" -gt 10 ] && break
		kill -CONT "$XPID"
		sleep 0.02
	done
	kill -9 "$XPID"
	wait "$XPID" 2>/dev/null
	expect_match "kill9: the worker was killed with job(s) running" '^[1-9]' "$hit"
	worker_extra t0800-r # its reaper runs every 2-3 s (the stack's, with a 60 s lease, every 30 s)
	RPID=$XPID
	burst_wait kill9
	settle kill9 60
	expect_match "kill9: its running job(s) reaped" '^[1-9]' \
		"$(sql -v ids="$(ids kill9)" <<<"SELECT count(*) FROM job_events WHERE job_id = ANY(:'ids'::uuid[]) AND event = 'reaped'")"
	verify kill9
	kill -TERM "$RPID"
	wait "$RPID" 2>/dev/null
fi

# ---- 2. restart RabbitMQ mid-burst
if want rabbitmq; then
	burst rabbitmq --rate 100
	sleep 1
	stack stop rabbitmq
	sleep 1
	stack start rabbitmq || fail "RabbitMQ started again" "$(tail -n 20 "$T_TMP/stack.log")"
	burst_wait rabbitmq
	settle rabbitmq 90
	verify rabbitmq
fi

# ---- 3. restart PostgreSQL mid-burst (503 for what cannot be stored)
if want postgres; then
	burst postgres --rate 100
	sleep 1
	stack stop postgres
	sleep 2
	stack start postgres || fail "PostgreSQL started again" "$(tail -n 20 "$T_TMP/stack.log")"
	burst_wait postgres
	settle postgres 90
	verify postgres
fi

# ---- 4. the S3 stand-in down for 10 s while media.probe jobs run: retrying, then succeeded.
if want s3; then
	# A worker with a 4 s backoff cap takes them (the stack's, with its 16 s+ backoff, pauses).
	stack stop spool-worker
	worker_extra t0800-s3 'backoff_cap = 4s'
	S3W=$XPID
	# a fresh worker has fetched no secret yet (database, S3): one probe job first
	job=$(job_wait "$(submit media.probe "$KEY")" 30)
	expect_eq "s3: the test worker ran a probe before the outage" succeeded "$(jq -r .status <<<"$job")"
	stack stop aws
	NP=$((NP * 3)) burst s3 --rate 100
	sleep 10
	stack start aws || fail "the AWS stand-in started again" "$(tail -n 20 "$T_TMP/stack.log")"
	burst_wait s3
	stack start spool-worker
	settle s3 90
	expect_match "s3: probe jobs went through retrying" '^[1-9]' \
		"$(sql -v ids="$(ids s3)" <<<"SELECT count(DISTINCT job_id) FROM job_events WHERE job_id = ANY(:'ids'::uuid[]) AND event = 'retrying'")"
	kill -TERM "$S3W"
	wait "$S3W" 2>/dev/null
	verify s3
fi

# ---- 5. SIGTERM the stack's worker under load, then start it again
if want sigterm-worker; then
	burst sigterm-worker --rate 150
	sleep 1
	stack stop spool-worker
	expect_match "the worker stopped on SIGTERM (exit 0 logged)" 'stopped' \
		"$(tail -n 5 "$SPOOL_LOG_DIR/spool-worker.log")"
	stack start spool-worker
	burst_wait sigterm-worker
	settle sigterm-worker 60
	verify sigterm-worker
fi

# ---- 6. SIGTERM the API under load: in-flight requests complete; start it again
if want sigterm-api; then
	N=$((N * 2)) burst sigterm-api --threads 8 --rate 300
	sleep 1
	stack stop spool-api
	burst_wait sigterm-api
	stack start spool-api
	expect_eq "sigterm-api: no broken answer (cut short or timed out)" 0 \
		"$(jq -s '[.[] | select(.status == -1)] | length' "$T_TMP/sigterm-api.jsonl")"
	settle sigterm-api 60
	verify sigterm-api
fi

# ---- 7. a poison message on spool.jobs goes to spool.dead without blocking the others
if want poison; then
	mark="poison $RUNTAG"
	mgmt() { curl -sS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json' "$@"; }
	burst poison --rate 150
	sleep 0.5
	routed=$(mgmt -X POST -d "$(jq -cn --arg p "{not json: $mark" \
		'{properties: {delivery_mode: 2}, routing_key: "job", payload: $p, payload_encoding: "string"}')" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/spool.jobs/publish" | jq -r .routed)
	expect_eq "poison message published to spool.jobs" true "$routed"
	burst_wait poison
	settle poison 60
	found=
	for ((i = 0; i < 20; i++)); do
		depth=$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead" | jq -r '.messages // 0')
		if [ "${depth:-0}" -gt 0 ] && mgmt -X POST -d "{\"count\": $depth, \"ackmode\": \"ack_requeue_true\", \"encoding\": \"auto\"}" \
			"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead/get" | jq -e --arg m "$mark" 'any(.[]; .payload | contains($m))' >/dev/null; then
			found=1
			break
		fi
		sleep 0.5
	done
	[ -n "$found" ] && ok "the poison message is in spool.dead" || fail "the poison message is in spool.dead" "depth $depth"
	verify poison
fi

echo "#"
printf '# %-22s | %8s | %9s | %6s | %4s | %10s\n' scenario accepted succeeded failed lost duplicated
for row in "${TABLE[@]}"; do echo "# $row"; done
done_testing
