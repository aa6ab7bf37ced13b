#!/usr/bin/env bash
# t0510 — no job is stranded: with the stack's worker stopped, five noop jobs are
# submitted and spool.jobs is purged (an operator's purge, a replaced or restored
# broker node), so that PostgreSQL knows the jobs and no message does. A worker
# with a short redrive_after publishes their messages again through the outbox
# and each runs exactly once. `adminctl job redrive --dry-run` lists them and
# changes nothing; a job queued for less than --older-than is left alone;
# `adminctl job redrive` is audited; and a job whose message is in the queue twice
# (re-driven while its first message waited) still runs once, the second delivery
# acknowledged and dropped.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"

ADM="bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
KEY=$($ADM keys create --tenant t0510 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
api() { curl -fsS --max-time 40 -H "Authorization: Bearer $KEY" "$@"; }
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }
mgmt() { curl -fsS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json' "$@"; }
Q=$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.jobs

# wait_eq WANT CMD...: poll CMD (10 s at most) until it prints WANT
wait_eq() {
	local want=$1 i
	shift
	for ((i = 0; i < 50; i++)); do
		[ "$("$@")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
submit_noop() { api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" | json_id; }
ids_sql() { local l; l=$(printf "'%s'," "$@"); echo "${l%,}"; }
alt() { local IFS='|'; echo "$*"; } # ID... as one regex
# the payloads of spool.jobs now (read and put back) naming one of the ids
queued_for() {
	mgmt -X POST -d '{"count":1000,"ackmode":"ack_requeue_true","encoding":"auto"}' "$Q/get" |
		jq -r --arg ids "$*" '[.[] | .payload | fromjson | select(.job_id as $j | $ids | contains($j))] | length'
}
unsent() { sql "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND payload ~ '$(alt "$@")'"; }
# wait_published ID...: the outbox rows of the jobs sent to RabbitMQ
wait_published() { wait_eq 0 unsent "$@"; }
wait_final() { # ID...
	local id
	for id in "$@"; do
		api "$SPOOL_API_URL/v1/jobs/$id?wait=30" >/dev/null || true
		api "$SPOOL_API_URL/v1/jobs/$id?wait=30" >/dev/null || true
	done
}
# ran_once ID...: each succeeded, with one started event and one attempt
ran_once() {
	local id
	for id in "$@"; do
		expect_eq "job ${id:0:8} succeeded in one attempt, started once" "succeeded 1 1 1" "$(sql "SELECT status,
			attempts, (SELECT count(*) FROM job_events WHERE job_id = j.id AND event = 'started'),
			(SELECT count(*) FROM job_events WHERE job_id = j.id AND event = 'succeeded')
			FROM jobs j WHERE id = '$id'" | tr '|' ' ')"
	done
}

consumers() { mgmt "$Q" | jq -r .consumers; }
worker_stop() {
	kill -TERM "$WPID"
	wait "$WPID" 2>/dev/null || true
}

scripts/stack.sh stop spool-worker >/dev/null 2>&1 || bail "cannot stop the stack's worker"
at_exit "scripts/stack.sh start spool-worker"
wait_eq 0 consumers
expect_eq "no worker consumes spool.jobs" 0 "$(consumers)"

# ---- five jobs, their messages purged --------------------------------------
ids=($(submit_noop) $(submit_noop) $(submit_noop) $(submit_noop) $(submit_noop))
expect_eq "five noop jobs accepted" 5 "$(printf '%s\n' "${ids[@]}" | grep -c '^[0-9a-f-]\{36\}$')"
wait_published "${ids[@]}" || fail "their outbox rows are sent"
expect_eq "their messages are in spool.jobs" 5 "$(queued_for "${ids[@]}")"
mgmt -X DELETE "$Q/contents" >/dev/null || fail "purge spool.jobs"
expect_eq "spool.jobs purged: no message of them is left" 0 "$(queued_for "${ids[@]}")"
IDS=$(ids_sql "${ids[@]}")
expect_eq "PostgreSQL still has them queued" "5" "$(sql "SELECT count(*) FROM jobs WHERE id IN ($IDS) AND status = 'queued'")"

# queued for a few seconds only: not re-driven when the threshold is longer
ours_in_outbox() { sql "SELECT count(*) FROM outbox WHERE payload ~ '$(alt "${ids[@]}")'"; }
outbox_before=$(ours_in_outbox)
out=$($ADM --json job redrive --older-than 1h)
expect_eq "redrive --older-than 1h: none of them" 0 \
	"$(jq --arg ids "${ids[*]}" '[.jobs[] | select(.id as $j | $ids | contains($j))] | length' <<<"$out")"
expect_eq "they were not re-driven: no event, no outbox row" "0 $outbox_before" \
	"$(sql "SELECT count(*) FROM job_events WHERE job_id IN ($IDS) AND event = 'redriven'") $(ours_in_outbox)"

sleep 2
audit_before=$(sql "SELECT count(*) FROM audit WHERE action = 'job.redrive'")
out=$($ADM --json job redrive --older-than 1s --dry-run); rc=$?
expect_eq "redrive --dry-run: exit 0, a dry run" "0 true" "$rc $(jq -r .dry_run <<<"$out")"
expect_eq "redrive --dry-run lists the five" 5 \
	"$(jq --arg ids "${ids[*]}" '[.jobs[] | select(.id as $j | $ids | contains($j))] | length' <<<"$out")"
text=$($ADM job redrive --older-than 1s --dry-run 2>"$T_TMP/dry.err")
expect_eq "redrive --dry-run prints one line per job" 5 "$(grep -c -F -f <(printf '%s\n' "${ids[@]}") <<<"$text")"
expect_match "redrive --dry-run says it is one" "would be re-driven \(dry run\)" "$(cat "$T_TMP/dry.err")"
expect_eq "the dry runs changed nothing: no event, no redriven_at, no outbox row" "0 0 $outbox_before" \
	"$(sql "SELECT count(*) FROM job_events WHERE job_id IN ($IDS) AND event = 'redriven'") $(sql "SELECT count(*) FROM jobs WHERE id IN ($IDS) AND redriven_at IS NOT NULL") $(ours_in_outbox)"
expect_eq "still no message of them" 0 "$(queued_for "${ids[@]}")"
expect_eq "the dry runs are not audited" "$audit_before" "$(sql "SELECT count(*) FROM audit WHERE action = 'job.redrive'")"

# ---- a worker re-drives them ------------------------------------------------------
worker_own t0510-a $'concurrency = 2\nlease = 6s\nheartbeat = 1s\nredrive_after = 3s'
wait_final "${ids[@]}"
ran_once "${ids[@]}"
expect_eq "each was re-driven once, by the worker" "5 t0510-a" \
	"$(sql "SELECT count(*), string_agg(DISTINCT detail->>'actor', ',') FROM job_events WHERE job_id IN ($IDS) AND event = 'redriven'" | tr '|' ' ')"
expect_match "the worker logs the re-drive" "job ${ids[0]} is queued and unclaimed since .*published again" \
	"$(cat "$T_TMP/t0510-a.log")"
worker_stop

# ---- the message twice: the second delivery finds the job claimed -----------------
dup=$(submit_noop)
wait_published "$dup" || fail "its outbox row is sent"
expect_eq "its message waits in spool.jobs" 1 "$(queued_for "$dup")"
sleep 1
audit_before=$(sql "SELECT count(*) FROM audit WHERE action = 'job.redrive'")
out=$($ADM --json job redrive --older-than 1s); rc=$?
expect_eq "redrive: exit 0, not a dry run" "0 false" "$rc $(jq -r .dry_run <<<"$out")"
expect_eq "redrive took the waiting job" "$dup" "$(jq -r --arg d "$dup" '.jobs[] | select(.id == $d) | .id' <<<"$out")"
wait_published "$dup" || fail "its second outbox row is sent"
expect_eq "now its message is in spool.jobs twice" 2 "$(queued_for "$dup")"
expect_eq "redrive is audited: one row more, with its count and the job" "$((audit_before + 1)) $(jq -r .count <<<"$out") t unclaimed>1s" \
	"$(sql "SELECT count(*) FROM audit WHERE action = 'job.redrive'") $(sql "SELECT count, detail->'ids' ? '$dup', target FROM audit WHERE action = 'job.redrive' ORDER BY id DESC LIMIT 1" | tr '|' ' ')"
expect_eq "its history has the re-drive by the operator" "$($ADM --json audit --limit 1 | jq -r '.entries[0].actor')" \
	"$(sql "SELECT detail->>'actor' FROM job_events WHERE job_id = '$dup' AND event = 'redriven'")"

worker_own t0510-b
wait_final "$dup"
ran_once "$dup"
wait_eq 0 queued_for "$dup"
expect_eq "both deliveries were acknowledged: none is left" 0 "$(queued_for "$dup")"
expect_match "the second delivery was dropped as not claimable" "job is not claimable \(succeeded|running\), delivery ignored" \
	"$(grep -F "$dup" "$T_TMP/t0510-b.log")"
worker_stop

done_testing
