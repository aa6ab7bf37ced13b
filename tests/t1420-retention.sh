#!/usr/bin/env bash
# Retention: finished jobs past their [retention] are archived to S3 (gzip JSON lines,
# the job with its events), deleted from PostgreSQL with their events, and answered 410
# with the archive key (404 to another tenant); a job younger than its retention stays;
# adminctl jobs --archived reads them back. Dead letters: a copy spool.dead refuses
# (a length limit with reject-publish) is counted and logged with the job id, and the
# job stays failed.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
ADM="bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'content-type: application/json' "$@"; }
api() { curl -sS --max-time 30 -H "Authorization: Bearer $SPOOL_API_KEY" "$@"; }
# wait_until SECONDS CMD...: until CMD succeeds (bounded); 1 when it never did
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt "$end" ] || return 1
		sleep 0.5
	done
}

# ---- one worker of the test's own: the stack's is stopped, so that this one runs every
# job and sweeps; it runs with the worker role's key, as the stack's does (IAM enforced)
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
wid=t1420-$$
ini=$T_TMP/worker.ini
log=$T_TMP/worker.log
grep -v '^concurrency' "$SPOOL_WORKER_CONFIG" >"$ini"
printf 'id = %s\nconcurrency = 2\n[retention]\nsucceeded = 1h\nfailed = 2s\ncancelled = 2s\ninterval = 1s\n' "$wid" >>"$ini"
run=${SPOOL_RUN_DIR:-.run}
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
	AWS_ACCESS_KEY_ID="$(cat "$run/secrets/iam-worker-access-key-id")" \
	AWS_SECRET_ACCESS_KEY="$(cat "$run/secrets/iam-worker-secret-access-key")" \
	bin/spool-worker -d -f "$ini" >"$log" 2>&1 &
wpid=$!
at_exit "kill -TERM $wpid; sleep 2; kill -KILL $wpid"
wait_until 30 grep -q "consuming 'spool.jobs'" "$log" || bail "the test worker did not start: $(tail -n 5 "$log")"
ok "a worker with [retention] failed = 2s, cancelled = 2s, succeeded = 1h runs"

# ---- dead letters: spool.dead bounded to 1 message with reject-publish (a policy), and
# holding one: the failed job's copy is refused
mgmt -X PUT -d '{"pattern": "^spool\\.dead$", "apply-to": "queues", "priority": 10,
	"definition": {"max-length": 1, "overflow": "reject-publish"}}' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/policies/%2F/t1420-dead-bound" >/dev/null || bail "cannot set the policy"
at_exit "curl -fsS -u '$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD' -X DELETE '$SPOOL_RABBITMQ_MGMT_URL/api/policies/%2F/t1420-dead-bound'"
dead_count() { mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead" | jq -r .messages; }
mgmt -X POST -d '{"properties": {}, "routing_key": "spool.dead", "payload": "{\"v\":1,\"job_id\":\"00000000-0000-4000-8000-000000000000\",\"type\":\"noop\",\"attempt\":1}", "payload_encoding": "string"}' \
		"$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/amq.default/publish" >/dev/null 2>&1 ||
	true # refused (400) when spool.dead already holds a message: the bound is reached either way
# (the management API's counts lag a few seconds)
wait_until 30 test "$(dead_count)" -ge 1 || bail "spool.dead holds no message"
dead_before=$(dead_count)

# the failed job: a probe of a source that does not exist (source_not_found, permanent)
F=$(api -X POST -H 'Content-Type: application/json' \
	-d '{"type": "media.probe", "source": {"key": "uploads/demo/t1420-missing-'$$'"}}' "$SPOOL_API_URL/v1/jobs" | json_id)
tenant=$(sql "SELECT tenant_id FROM jobs WHERE id = '$F'")
expect_eq "the failed job is failed" failed "$(job_wait "$F" 60 | jq -r .status)"
wait_until 20 grep -q "dead letter of job $F not kept" "$log"
line=$(grep "dead letter of job $F not kept" "$log" | head -n 1)
expect_eq "the refused dead letter is logged at warning with the job id" "warn $F" \
	"$(jq -r '"\(.level) \(.job_id)"' <<<"$line" 2>/dev/null)"
expect_match "… saying the job stays failed" "stays failed in PostgreSQL" "$line"
expect_eq "spool.dead did not take it (still $dead_before message(s))" "$dead_before" "$(dead_count)"
# (its 2s retention may have archived it already: then its tombstone says how it ended)
expect_eq "the job is failed in PostgreSQL" failed \
	"$(sql "SELECT coalesce((SELECT status FROM jobs WHERE id = '$F'), (SELECT status FROM job_tombstones WHERE id = '$F'))")"

# CloudWatch (the stand-in): DeadLettersDropped, and later JobsArchived
t0=$(($(date +%s) / 60 * 60))
cw_sum() { # NAME: the sum of the metric from $t0 (no dimensions)
	py "
import os, datetime, time, boto3, botocore.config
cw = $(boto3_client cloudwatch)
end = datetime.datetime.fromtimestamp((int(time.time()) // 60 + 1) * 60, datetime.timezone.utc)
r = cw.get_metric_data(MetricDataQueries=[{'Id': 'm', 'MetricStat': {'Metric': {'Namespace': 'Spool',
    'MetricName': '$1'}, 'Period': 60, 'Stat': 'Sum'}}],
    StartTime=datetime.datetime.fromtimestamp($t0 - 120, datetime.timezone.utc), EndTime=end)
print('%g' % sum(r['MetricDataResults'][0]['Values']))
"
}
cw_at_least() { [ "$(cw_sum "$1" | cut -d. -f1)" -ge "$2" ]; }
if grep -q '^enabled = true' "$ini"; then
	wait_until 60 cw_at_least DeadLettersDropped 1
	expect_eq "DeadLettersDropped counted it (CloudWatch)" yes "$(cw_at_least DeadLettersDropped 1 && echo yes)"
fi

# the outbox's path (a reaped last attempt's copy goes so; here the API's publisher sends
# it): refused, it is counted on /metrics, logged, marked sent, and holds up nothing
dropped() { curl -fsS "$SPOOL_METRICS_URL" | awk '$1 == "spool_dead_letters_dropped_total" { print $2 }'; }
before=$(dropped)
expect_match "spool-api's /metrics has spool_dead_letters_dropped_total" '^[0-9]+$' "$before"
oid=$(sql "INSERT INTO outbox (exchange, routing_key, payload) VALUES ('', 'spool.dead',
	'{\"v\":1,\"job_id\":\"$F\",\"type\":\"media.probe\",\"attempt\":1}') RETURNING id" | head -n 1)
N=$(api -X POST -H 'Content-Type: application/json' -d '{"type": "noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)
sent() { [ "$(sql "SELECT sent_at IS NOT NULL FROM outbox WHERE id = $oid")" = t ]; }
wait_until 60 sent
expect_eq "the refused outbox row is marked sent, not sent again and again" t "$(sql "SELECT sent_at IS NOT NULL FROM outbox WHERE id = $oid")"
expect_eq "a job submitted after it runs: the outbox goes on" succeeded "$(job_wait "$N" 60 | jq -r .status)"
wait_until 20 test "$(dropped)" -gt "$before"
expect_eq "spool_dead_letters_dropped_total counted it" "$((before + 1))" "$(dropped)"
apilog=${SPOOL_RUN_DIR:-.run}/log/spool-api.log
expect_eq "spool-api logged it at warning with the job id" "warn $F" \
	"$(grep "dead letter of job $F not kept" "$apilog" | tail -n 1 | jq -r '"\(.level) \(.job_id)"' 2>/dev/null)"
mgmt -X DELETE "$SPOOL_RABBITMQ_MGMT_URL/api/policies/%2F/t1420-dead-bound" >/dev/null

# ---- a job of each final status ---------------------------------------------------------
S=$(api -X POST -H 'Content-Type: application/json' -d '{"type": "noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)
expect_eq "the succeeded job succeeded" succeeded "$(job_wait "$S" 60 | jq -r .status)"
C=$(api -X POST -H 'Content-Type: application/json' -d '{"type": "noop", "delay": 3600}' "$SPOOL_API_URL/v1/jobs" | json_id)
expect_eq "the scheduled job is cancelled" cancelled "$(api -X DELETE "$SPOOL_API_URL/v1/jobs/$C" | jq -r .status)"
gone() { [ "$(sql "SELECT count(*) FROM jobs WHERE id IN ('$1')")" = 0 ]; }
wait_until 60 gone "$F" && wait_until 30 gone "$C"
expect_eq "the failed and the cancelled job are deleted from jobs" 0 \
	"$(sql "SELECT count(*) FROM jobs WHERE id IN ('$F', '$C')")"
expect_eq "… and their events" 0 "$(sql "SELECT count(*) FROM job_events WHERE job_id IN ('$F', '$C')")"
expect_eq "… each leaving a tombstone of its tenant" "$tenant $tenant" \
	"$(sql "SELECT string_agg(tenant_id, ' ') FROM job_tombstones WHERE id IN ('$F', '$C')")"
keyF=$(sql "SELECT archive_key FROM job_tombstones WHERE id = '$F'")
day=$(date -u +%Y/%m/%d)
expect_match "the key is dated by the finish: archive/jobs/$day/…jsonl.gz" \
	"^archive/jobs/$day/[0-9]{8}T[0-9]{6}Z-[0-9a-f-]{36}\\.jsonl\\.gz$" "$keyF"
grep -q "retention: archived" "$log" && ok "the worker logged the archive" || fail "the worker logged the archive" "$(tail -n 5 "$log")"

# a younger one stays: the succeeded job finished before the cancelled one, so the sweep
# that took the cancelled one (2s) passed over it: its 1h keeps it
expect_eq "the succeeded job, younger than its 1h, is still in jobs with its events" "succeeded t" \
	"$(sql "SELECT status, (SELECT count(*) > 0 FROM job_events WHERE job_id = '$S') FROM jobs WHERE id = '$S'" | tr '|' ' ')"

# ---- the object: gunzips, each line JSON with the job and its events
out=$(py "
import os, gzip, json, boto3, botocore.config
s3 = $(boto3_client s3)
body = s3.get_object(Bucket=os.environ['SPOOL_S3_BUCKET'], Key='$keyF')['Body'].read()
lines = gzip.decompress(body).decode().splitlines()
recs = [json.loads(l) for l in lines]
r = [x for x in recs if x['job']['id'] == '$F'][0]
print(len(recs) > 0, r['job']['status'], r['job']['tenant_id'], len(r['events']) > 0,
      all(e['job_id'] == '$F' for e in r['events']), r['finished_at'][:10],
      all('job' in x and 'events' in x for x in recs))
" 2>&1)
expect_eq "the S3 object gunzips into JSON lines holding the failed job and its events" \
	"True failed $tenant True True $(date -u +%F) True" "$out"

# ---- the API: 410 with the key for the tenant, 404 for another
expect_status "GET /v1/jobs/{failed}: 410 Gone" 410 -H "Authorization: Bearer $SPOOL_API_KEY" "$SPOOL_API_URL/v1/jobs/$F"
expect_eq "… code archived, the archive key, the status" "archived $keyF failed" \
	"$(jq -r '"\(.error.code) \(.error.archive.key) \(.error.archive.status)"' <<<"$BODY")"
expect_match "… archived_at and request_id" '^[0-9]{4}-.*Z [^ ]+$' \
	"$(jq -r '"\(.error.archive.archived_at) \(.error.request_id)"' <<<"$BODY")"
expect_status "GET /v1/jobs/{cancelled}/result: 410 too" 410 -H "Authorization: Bearer $SPOOL_API_KEY" "$SPOOL_API_URL/v1/jobs/$C/result"
other=$($ADM keys create --tenant "t1420-other-$$" 2>/dev/null | head -n 1)
[ -n "$other" ] || bail "cannot create a key of another tenant"
expect_status "another tenant's GET of the archived job: 404" 404 -H "Authorization: Bearer $other" "$SPOOL_API_URL/v1/jobs/$F"
expect_eq "… not_found, the archive not named" "not_found null" "$(jq -r '"\(.error.code) \(.error.archive)"' <<<"$BODY")"
listed=$(api "$SPOOL_API_URL/v1/jobs?limit=100" | jq -r '[.jobs[].id] | map(select(. == "'"$F"'" or . == "'"$C"'")) | length')
expect_eq "the list does not show archived jobs" 0 "$listed"

# ---- SIGHUP: succeeded = 2s; the succeeded job goes too
sed -i 's/^succeeded = 1h$/succeeded = 2s/' "$ini"
kill -HUP "$wpid"
wait_until 60 gone "$S"
expect_eq "after the reload the succeeded job is archived and deleted" "0 0 1" \
	"$(sql "SELECT (SELECT count(*) FROM jobs WHERE id = '$S'), (SELECT count(*) FROM job_events WHERE job_id = '$S'), (SELECT count(*) FROM job_tombstones WHERE id = '$S')" | tr '|' ' ')"
expect_status "GET /v1/jobs/{succeeded}: 410" 410 -H "Authorization: Bearer $SPOOL_API_KEY" "$SPOOL_API_URL/v1/jobs/$S"

# ---- adminctl jobs --archived
out=$($ADM jobs --archived --since "$(date -u +%F)" 2>&1); rc=$?
expect_eq "adminctl jobs --archived --since TODAY: exit 0" 0 "$rc"
for id in "$S" "$F" "$C"; do
	expect_match "… lists ${id:0:8}" "$id" "$out"
done
expect_match "… with the table's header" $'^ID[ \t]+STATUS[ \t]+TYPE[ \t]+TENANT' "$out"
out=$($ADM jobs --archived --since "$(date -u +%F)" --status failed --tenant "$tenant" 2>&1)
expect_eq "--status failed --tenant: the failed job, not the others" "yes no no" \
	"$(for id in "$F" "$S" "$C"; do grep -q "$id" <<<"$out" && echo yes || echo no; done | tr '\n' ' ' | sed 's/ $//')"
out=$($ADM --json jobs --archived --since 1h --tenant "$tenant" 2>&1)
expect_eq "--json prints the archived lines: each job with its events" "$F failed true
$S succeeded true
$C cancelled true" \
	"$(for id in "$F" "$S" "$C"; do jq -r 'select(.job.id == "'"$id"'") | "\(.job.id) \(.job.status) \(.events | length > 0)"' <<<"$out"; done)"
out=$($ADM jobs --archived --since "$(date -u -d tomorrow +%F)" 2>&1)
if grep -q "$F" <<<"$out"; then fail "--since tomorrow lists nothing of today" "$out"; else ok "--since tomorrow lists nothing of today"; fi
out=$($ADM jobs --archived 2>&1); rc=$?
expect_eq "--archived without --since: usage error" 2 "$rc"

if grep -q '^enabled = true' "$ini"; then
	wait_until 60 cw_at_least JobsArchived 3
	expect_eq "JobsArchived counted at least the three (CloudWatch)" yes "$(cw_at_least JobsArchived 3 && echo yes)"
fi

done_testing
