#!/usr/bin/env bash
# t0270 — DELETE of a running job: 202 with the job still running, the worker sees
# cancel_requested at its next heartbeat, kills ffmpeg, and the job ends cancelled
# with a job.cancelled event; a finished job is still a 409.
#
# The latency is one worker.heartbeat at most, so the stack's worker is replaced
# for the test by one with heartbeat = 2s (the stack's is started again at exit).
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
PIDF=$SPOOL_RUN_DIR/pids/spool-worker.pid
HEARTBEAT=2

MEDIA=$T_TMP/media
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"

# --- our worker in place of the stack's
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
awk -v hb="$HEARTBEAT" '{ print } $0 == "[worker]" { print "heartbeat = " hb "s" }' "$SPOOL_WORKER_CONFIG" >"$T_TMP/worker.ini"
grep -q "^heartbeat = ${HEARTBEAT}s" "$T_TMP/worker.ini" || bail "no [worker] section in $SPOOL_WORKER_CONFIG"
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
	bin/spool-worker -c "$T_TMP/worker.ini" >>"$SPOOL_LOG_DIR/spool-worker-$T_NAME.log" 2>&1 </dev/null &
WPID=$!
at_exit "kill -TERM $WPID; sleep 1"
sleep 1
kill -0 "$WPID" 2>/dev/null || bail "spool-worker did not start: $(tail -n 5 "$SPOOL_LOG_DIR/spool-worker-$T_NAME.log")"

key=$(upload "$MEDIA/long-45s.mp4") || bail "cannot upload the long clip"
# Another test's worker may be consuming spool.jobs too: retry until ours claims the job.
mine=$(hostname):$WPID
for try in 1 2 3 4 5; do
	id=$(_w_api -X POST -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg k "$key" '{type: "video.transcode", source: {key: $k}, params: {max_duration: 45, audio: true}}')" \
		"$U/v1/jobs" | jq -r .id)
	ff=
	for _ in $(seq 1 300); do
		IFS='|' read -r st wid < <(sql -c "SELECT status, coalesce(worker_id, '') FROM jobs WHERE id = '$id'")
		ff=$(pgrep -P "$WPID" -x ffmpeg || true)
		[ "$st" = running ] && { [ -n "$ff" ] || [ "$wid" != "$mine" ]; } && break
		[[ $st =~ ^(succeeded|failed|cancelled)$ ]] && break
		sleep 0.1
	done
	[ "$wid" = "$mine" ] && break
	echo "# job $id was claimed by '$wid', not by our worker: trying again"
	_w_api -X DELETE "$U/v1/jobs/$id" >/dev/null 2>&1 || true
done
expect_match "long transcode submitted" '^[0-9a-f-]{36}$' "$id"
expect_eq "our worker runs it with ffmpeg" "running $mine yes" "$st $wid $([ -n "$ff" ] && echo yes || echo no)"
sleep 1

expect_status "DELETE of the running job is 202" 202 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"
t0=$SECONDS
expect_eq "it answers with the job, still running" "$id running" "$(jq -r '"\(.id) \(.status)"' <<<"$BODY")"
expect_eq "cancel_requested is set" t "$(sql -c "SELECT cancel_requested FROM jobs WHERE id = '$id'")"
expect_status "a second DELETE is 202 too" 202 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"

expect_status "?wait=30 until it is final" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=30"
el=$((SECONDS - t0))
expect_eq "the job ended cancelled" cancelled "$(jq -r .status <<<"$BODY")"
if [ "$el" -le $((HEARTBEAT + 3)) ]; then ok "cancelled ${el} s after the DELETE (heartbeat ${HEARTBEAT} s)"; else fail "cancelled ${el} s after the DELETE (heartbeat ${HEARTBEAT} s)"; fi
expect_eq "no ffmpeg left under the worker" "" "$(pgrep -P "$WPID" -x ffmpeg || true)"
gone=yes
for p in $ff; do kill -0 "$p" 2>/dev/null && gone=no; done
expect_eq "the job's ffmpeg ($ff) is gone" yes "$gone"
expect_eq "events: cancel_requested twice (by the API key), then cancelled once (by the worker)" \
	"cancel_requested|running|2|2
cancelled|cancelled|1|1" \
	"$(sql -c "SELECT event, status, count(*), count(*) FILTER (WHERE detail->>'actor' LIKE 'api:key:%' OR (event = 'cancelled' AND worker_id IS NOT NULL)) FROM job_events WHERE job_id = '$id' AND event IN ('cancel_requested', 'cancelled') GROUP BY event, status ORDER BY min(id)")"
for _ in $(seq 1 30); do
	sent=$(sql -c "SELECT count(*) FROM outbox WHERE routing_key = 'job.cancelled' AND payload LIKE '%$id%' AND sent_at IS NOT NULL")
	[ "$sent" = 1 ] && break
	sleep 0.2
done
expect_eq "job.cancelled published (through the outbox)" 1 "$sent"
expect_eq "no result was stored" "" "$(sql -c "SELECT result FROM jobs WHERE id = '$id'")"
grep -q "job cancelled on request" "$SPOOL_LOG_DIR/spool-worker-$T_NAME.log" && ok "the worker logged the cancellation" ||
	fail "the worker logged the cancellation"

# --- a finished job cannot be cancelled
expect_status "DELETE of a cancelled job is 409" 409 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"
expect_eq "409 conflict" conflict "$(jq -r .error.code <<<"$BODY")"

done_testing
