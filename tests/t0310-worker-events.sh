#!/usr/bin/env bash
# The worker publishes job.started, job.succeeded and job.failed on spool.events.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
worker_ensure

mgmt=(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json')
q=t0310-events-$$
check "declare a test queue" "${mgmt[@]}" -X PUT -d '{"durable":false,"auto_delete":false}' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q"
at_exit "${mgmt[*]} -X DELETE $SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q"
check "bind it to spool.events with '#'" "${mgmt[@]}" -X POST -d '{"routing_key":"#"}' \
	"$SPOOL_RABBITMQ_MGMT_URL/api/bindings/%2F/e/spool.events/q/$q"

clip=$T_TMP/clip.mp4
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$clip" || bail "ffmpeg failed"
key=$(upload "$clip") || bail "cannot upload the clip"
good=$(submit media.probe "$key")
bad=$(submit media.probe "${key%/*}/does-not-exist-$$")
expect_eq "good job succeeded" succeeded "$(job_wait "$good" 60 | jq -r .status)"
job=$(job_wait "$bad" 60)
expect_eq "job with a missing source failed" failed "$(jq -r .status <<<"$job")"
expect_eq "missing source is source_not_found" source_not_found "$(jq -r .error.code <<<"$job")"

# events are published right after the database write: give them a moment
events=
for _ in $(seq 20); do
	events=$("${mgmt[@]}" -X POST -d '{"count":100,"ackmode":"ack_requeue_true","encoding":"auto"}' \
		"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q/get")
	n=$(jq --arg g "$good" --arg b "$bad" '[.[] | .payload | fromjson | select(.job_id == $g or .job_id == $b)] | length' <<<"$events")
	[ "$n" -ge 4 ] && break
	sleep 0.5
done
# routing keys of one job's events, sorted (fetching with requeue may reorder them)
ev() { jq -r --arg id "$1" '[.[] | select((.payload | fromjson).job_id == $id) | .routing_key] | sort | join(" ")' <<<"$events"; }
expect_eq "events of the good job" "job.started job.succeeded" "$(ev "$good")"
expect_eq "events of the failing job" "job.failed job.started" "$(ev "$bad")"
body=$(jq -r --arg id "$good" '[.[] | select(.routing_key == "job.succeeded") | .payload | fromjson | select(.job_id == $id)][0]' <<<"$events")
expect_eq "event body names the event" job.succeeded "$(jq -r .event <<<"$body")"
expect_eq "event body has the job type" media.probe "$(jq -r .type <<<"$body")"

# spool.events.api, whose consumer (the API's webhooks) needs only the final events, is
# bound with their keys alone; a "job.#" binding of an earlier release goes at the declare
ebind() {
	"${mgmt[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/bindings/%2F/e/spool.events/q/spool.events.api" |
		jq -r '[.[].routing_key] | sort | join(" ")'
}
finals="job.cancelled job.failed job.succeeded"
expect_eq "spool.events.api is bound with the final events' keys only" "$finals" "$(ebind)"
check "bind spool.events.api with 'job.#' as an earlier release did" "${mgmt[@]}" -X POST \
	-d '{"routing_key":"job.#"}' "$SPOOL_RABBITMQ_MGMT_URL/api/bindings/%2F/e/spool.events/q/spool.events.api"
expect_eq "(now bound with job.# too)" "job.# $finals" "$(ebind)"
worker_own t0310-declare
b=
for _ in $(seq 40); do
	b=$(ebind)
	[ "$b" = "$finals" ] && break
	sleep 0.25
done
expect_eq "a worker's declare at its start removed the job.# binding" "$finals" "$b"

# with no subscriber bound for job.started (the test queue gone), its publish is not an
# error: an event no queue takes is dropped, while a job's message must be routed
check "delete the test queue" "${mgmt[@]}" -X DELETE "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q"
wlogs=("$SPOOL_LOG_DIR/spool-worker.log" "$T_TMP/t0310-declare.log")
before=$(cat "${wlogs[@]}" 2>/dev/null | grep -c 'unroutable')
id=$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)
expect_eq "a job with no subscriber for its job.started succeeds" succeeded "$(job_wait "$id" 60 | jq -r .status)"
expect_eq "no publish came back unroutable" "$before" "$(cat "${wlogs[@]}" 2>/dev/null | grep -c 'unroutable')"

done_testing
