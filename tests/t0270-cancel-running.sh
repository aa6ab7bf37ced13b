#!/usr/bin/env bash
# t0270 — one cancel rule from every front end. A running job cancelled through
# DELETE /v1/jobs/{id} (202, the job still running), through `adminctl job cancel`
# (exit 0, "cancel requested") and through the TUI's C (the same outcome in its
# status line): each time the worker sees cancel_requested at its next heartbeat,
# kills ffmpeg, and the job ends cancelled with a job.cancelled event. A queued
# job is cancelled at once by adminctl; a finished job is refused by both (409,
# exit 1).
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

MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
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
mine=$(hostname):$WPID
ADM=(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG")

# A long transcode that our worker runs with ffmpeg: sets $id and $ff. Another test's
# worker may be consuming spool.jobs too: submit again until ours claims the job.
start_running() { # WHAT
	local st wid
	for try in 1 2 3 4 5; do
		id=$(_w_api -X POST -H 'Content-Type: application/json' \
			-d "$(jq -cn --arg k "$key" '{type: "video.transcode", source: {key: $k}, params: {max_duration: 45, audio: true}}')" \
			"$U/v1/jobs" | json_id)
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
	expect_match "$1: long transcode submitted" '^[0-9a-f-]{36}$' "$id"
	expect_eq "$1: our worker runs it with ffmpeg" "running $mine yes" "$st $wid $([ -n "$ff" ] && echo yes || echo no)"
	sleep 1
}

# The job ends cancelled by the worker within a heartbeat of T0 (SECONDS), its ffmpeg gone.
ends_cancelled() { # WHAT T0
	local el gone=yes p
	expect_status "$1: ?wait=30 until it is final" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=30"
	el=$((SECONDS - $2))
	expect_eq "$1: the job ended cancelled" cancelled "$(jq -r .status <<<"$BODY")"
	if [ "$el" -le $((HEARTBEAT + 3)) ]; then ok "$1: cancelled ${el} s after the request (heartbeat ${HEARTBEAT} s)"; else fail "$1: cancelled ${el} s after the request (heartbeat ${HEARTBEAT} s)"; fi
	expect_eq "$1: no ffmpeg left under the worker" "" "$(pgrep -P "$WPID" -x ffmpeg || true)"
	for p in $ff; do kill -0 "$p" 2>/dev/null && gone=no; done
	expect_eq "$1: the job's ffmpeg ($ff) is gone" yes "$gone"
	expect_eq "$1: cancelled once, by the worker" 1 \
		"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$id' AND event = 'cancelled' AND worker_id IS NOT NULL")"
}

# The worker is stopped (SIGSTOP; its ffmpeg runs on) between a cancel and its repeat:
# else its next heartbeat may end the job between the two on a busy machine, and the
# repeat would meet a cancelled job. The latency is counted from the SIGCONT.
freeze() { kill -STOP "$WPID"; }
thaw() { kill -CONT "$WPID"; }
at_exit "kill -CONT $WPID"

# --- through the API
start_running API
freeze
expect_status "API: DELETE of the running job is 202" 202 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"
expect_eq "API: it answers with the job, still running" "$id running" "$(jq -r '"\(.id) \(.status)"' <<<"$BODY")"
expect_eq "API: cancel_requested is set" t "$(sql -c "SELECT cancel_requested FROM jobs WHERE id = '$id'")"
expect_status "API: a second DELETE is 202 too" 202 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"
thaw
t0=$SECONDS
ends_cancelled API "$t0"
expect_eq "API: events: cancel_requested twice (by the API key), then cancelled once (by the worker)" \
	"cancel_requested|running|2|2
cancelled|cancelled|1|1" \
	"$(sql -c "SELECT event, status, count(*), count(*) FILTER (WHERE detail->>'actor' LIKE 'api:key:%' OR (event = 'cancelled' AND worker_id IS NOT NULL)) FROM job_events WHERE job_id = '$id' AND event IN ('cancel_requested', 'cancelled') GROUP BY event, status ORDER BY min(id)")"
for _ in $(seq 1 30); do
	sent=$(sql -c "SELECT count(*) FROM outbox WHERE routing_key = 'job.cancelled' AND payload LIKE '%$id%' AND sent_at IS NOT NULL")
	[ "$sent" = 1 ] && break
	sleep 0.2
done
expect_eq "API: job.cancelled published (through the outbox)" 1 "$sent"
expect_eq "API: no result was stored" "" "$(sql -c "SELECT result FROM jobs WHERE id = '$id'")"
grep -q "job cancelled on request" "$SPOOL_LOG_DIR/spool-worker-$T_NAME.log" && ok "API: the worker logged the cancellation" ||
	fail "API: the worker logged the cancellation"
finished=$id

# --- a finished job cannot be cancelled, through the API or adminctl
expect_status "API: DELETE of a cancelled job is 409" 409 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$finished"
expect_eq "API: 409 conflict" conflict "$(jq -r .error.code <<<"$BODY")"
err=$("${ADM[@]}" job cancel "$finished" 2>&1 >/dev/null); rc=$?
expect_eq "CLI: job cancel of the cancelled job exits 1" 1 "$rc"
expect_match "CLI: … saying it is cancelled" "'$finished' is cancelled: only scheduled, queued, retrying or running jobs can be cancelled" "$err"
json=$("${ADM[@]}" --json job cancel "$finished" 2>/dev/null)
expect_eq "CLI: --json: refused, with its state, nothing cancelled" "0 refused cancelled" \
	"$(jq -r '"\(.count) \(.errors[0].outcome) \(.errors[0].status)"' <<<"$json")"

# --- through adminctl job cancel
start_running CLI
audit_before=$(sql -c "SELECT coalesce(max(id), 0) FROM audit")
freeze
out=$("${ADM[@]}" job cancel "$id"); rc=$?
expect_eq "CLI: job cancel of the running job exits 0" 0 "$rc"
expect_eq "CLI: … saying its cancellation was requested" \
	"$id cancel requested: it is running; its worker stops it at its next heartbeat" "$out"
expect_eq "CLI: cancel_requested is set, the job still running" "t|running" \
	"$(sql -c "SELECT cancel_requested, status FROM jobs WHERE id = '$id'")"
json=$("${ADM[@]}" --json job cancel "$id"); rc=$?
expect_eq "CLI: --json, again: exit 0, the outcome is cancel_requested" "0 1 $id $id 0" \
	"$rc $(jq -r '"\(.count) \(.ids[0]) \(.cancel_requested[0]) \(.cancelled | length)"' <<<"$json")"
thaw
t0=$SECONDS
ends_cancelled CLI "$t0"
expect_eq "CLI: cancel_requested twice, by the adminctl user" "2" \
	"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$id' AND event = 'cancel_requested' AND detail->>'actor' = 'local-stack'")"
expect_eq "CLI: audited as job.cancel, cancel requested" "job.cancel $id 1 $id" \
	"$(sql -c "SELECT action || ' ' || target || ' ' || count || ' ' || (detail->'cancel_requested'->>0) FROM audit WHERE id > $audit_before ORDER BY id LIMIT 1")"

# --- through the TUI (in tmux)
if command -v tmux >/dev/null; then
	start_running TUI
	TM=(tmux -L "spooltest-$$")
	at_exit "${TM[*]} kill-server"
	"${TM[@]}" new-session -d -x 120 -y 30 "${ADM[*]}; echo EXIT; sleep 600"
	screen() { "${TM[@]}" capture-pane -p; }
	keys() { "${TM[@]}" send-keys "$@"; sleep 0.3; }
	expect_screen() { # WHAT REGEX [SECONDS]
		local i
		for ((i = 0; i < ${3:-10} * 5; i++)); do
			[[ $(screen) =~ $2 ]] && { ok "$1"; return; }
			sleep 0.2
		done
		fail "$1" "screen does not match: $2
$(screen)"
	}
	expect_screen "TUI: starts" '1 Overview.*2 Jobs' 10
	keys 2
	expect_screen "TUI: the Jobs screen" 'search: -' 10
	keys / && "${TM[@]}" send-keys -l "$id" && keys Enter
	expect_screen "TUI: the search finds the running job" "${id:0:8} +video\.transcode +running" 10
	keys C
	expect_screen "TUI: C asks which jobs" 'cancel: \(s\)elected job or \(a\)ll 1 matching the filter' 5
	keys s
	expect_screen "TUI: the confirmation names the running job" "cancel 1 running video\.transcode job \(${id:0:8}\)\? y/N" 5
	keys y
	t0=$SECONDS
	expect_screen "TUI: the cancel is done: cancellation requested" 'cancel: 1 of 1 jobs done, 1 running: cancel requested' 10
	ends_cancelled TUI "$t0"
	for _ in $(seq 1 10); do
		[[ $(screen) =~ ${id:0:8}\ +video\.transcode\ +cancelled ]] && break
		keys r
		sleep 0.5
	done
	expect_screen "TUI: the row shows it cancelled" "${id:0:8} +video\.transcode +cancelled" 2
	expect_eq "TUI: cancel_requested by the adminctl user" "1" \
		"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$id' AND event = 'cancel_requested' AND detail->>'actor' = 'local-stack'")"
	keys q
	"${TM[@]}" kill-server 2>/dev/null
else
	fail "TUI: tmux is installed" "the TUI part cannot run"
fi

# --- a queued job through adminctl: cancelled at once (inserted without a message, so no worker takes it)
q=$(sql -c "INSERT INTO jobs (tenant_id, type) VALUES ('t0270', 'noop') RETURNING id" | head -n 1)
json=$("${ADM[@]}" --json job cancel "$q"); rc=$?
expect_eq "CLI: job cancel of a queued job: exit 0, cancelled" "0 1 $q 0" \
	"$rc $(jq -r '"\(.count) \(.cancelled[0]) \(.cancel_requested | length)"' <<<"$json")"
expect_eq "CLI: it is cancelled in the database" cancelled "$(sql -c "SELECT status FROM jobs WHERE id = '$q'")"
q=$(sql -c "INSERT INTO jobs (tenant_id, type, status, attempts) VALUES ('t0270', 'noop', 'retrying', 1) RETURNING id" | head -n 1)
out=$("${ADM[@]}" job cancel "$q"); rc=$?
expect_eq "CLI: job cancel of a retrying job: exit 0, its id printed" "0 $q" "$rc $out"
expect_eq "CLI: it is cancelled in the database" cancelled "$(sql -c "SELECT status FROM jobs WHERE id = '$q'")"

done_testing
