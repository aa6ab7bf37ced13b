#!/usr/bin/env bash
# t0520 — scale-in hand-back. A long transcode runs on worker t0520-a (shutdown_grace
# 60s); SIGUSR1 makes it stop ffmpeg at once and hand the job back: the job is queued
# again with its attempt not counted (attempts back to 0), a 'handed_back' event, its
# message and a job.queued event in the outbox, and the worker exits 0 well before
# the grace. Worker t0520-c (shutdown_grace 2s) claims it again; SIGTERM: after the
# grace it is handed back the same way. Worker t0520-b then runs it to success:
# attempts 1, succeeded once, never reaped.
#
# The stack's worker is stopped for the test (started again at exit) so that only the
# test's workers claim the job.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }

MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"

scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"

# start_worker NAME GRACE: a worker of the test's own; its pid in $WPID. Four threads: jobs
# other tests left queued may be claimed beside ours (and handed back with it).
start_worker() {
	worker_own "$1" "$(printf 'concurrency = 4\nheartbeat = 1s\nshutdown_grace = %s\n' "$2")"
}

# running_on ID NAME PID: wait until job ID runs on worker NAME, its ffmpeg reporting
# progress; sets $ff to the worker's ffmpeg children
running_on() {
	local st wid end=$((SECONDS + 120))
	ff=
	while [ $SECONDS -lt $end ]; do
		IFS='|' read -r st wid < <(sql -c "SELECT CASE WHEN progress IS NULL THEN status ELSE status || '+progress' END, coalesce(worker_id, '') FROM jobs WHERE id = '$1'")
		ff=$(pgrep -P "$3" -x ffmpeg | xargs)
		[ "$st" = running+progress ] && [ "$wid" = "$2" ] && [ -n "$ff" ] && break
		[[ $st =~ ^(succeeded|failed|cancelled)$ ]] && break
		sleep 0.1
	done
	expect_eq "job runs on $2, ffmpeg reporting progress" "running+progress $2 yes" \
		"$st $wid $([ -n "$ff" ] && echo yes || echo no)"
}

# handed_back WHAT ID NAME N: after its worker exited, the job is queued with attempts 0,
# worker NAME handed it back (attempt 1), the N-th hand-back; its ffmpeg is gone
handed_back() {
	local p gone=yes
	for p in $ff; do kill -0 "$p" 2>/dev/null && gone=no; done
	expect_eq "$1: the job's ffmpeg ($ff) was stopped" yes "$gone"
	expect_eq "$1: the job is queued again, attempts 0, no lease, no progress" "queued|0||" \
		"$(sql -c "SELECT status, attempts, lease_until, progress FROM jobs WHERE id = '$2'")"
	expect_eq "$1: one 'handed_back' event by $3: status queued, attempt 1, with its reason" \
		"1|queued|1|the worker was stopped" \
		"$(sql -c "SELECT count(*), min(status), min(attempt), min(detail->>'reason') FROM job_events WHERE job_id = '$2' AND event = 'handed_back' AND worker_id = '$3'")"
	expect_eq "$1: no retrying, reaped or failed event" 0 \
		"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$2' AND event IN ('retrying', 'reaped', 'failed', 'requeued')")"
	expect_eq "$1: its spool.jobs message (attempt 1) and a job.queued event are in the outbox" "$(($4 + 1)) $4" \
		"$(sql -c "SELECT count(*) FILTER (WHERE routing_key = 'job' AND payload LIKE '%\"attempt\":1%'), count(*) FILTER (WHERE routing_key = 'job.queued') FROM outbox WHERE payload LIKE '%$2%'" | tr '|' ' ')"
	grep -q "job handed back: the worker is stopping (attempt 1 not counted)" "$T_TMP/$3.log" &&
		ok "$1: $3 logged the hand-back" || fail "$1: $3 logged the hand-back" "$(tail -n 5 "$T_TMP/$3.log")"
}

key=$(upload "$MEDIA/long-45s.mp4") || bail "cannot upload the long clip"
id=$(_w_api -X POST -H 'Content-Type: application/json' \
	-d "$(jq -cn --arg k "$key" '{type: "video.transcode", source: {key: $k}, params: {max_duration: 45, height: 720}}')" \
	"$SPOOL_API_URL/v1/jobs" | json_id)
expect_match "long transcode submitted" '^[0-9a-f-]{36}$' "$id"

# hand_back_by NAME GRACE SIG MIN MAX WHY N: worker NAME (shutdown_grace GRACE) runs the job
# as attempt 1; SIG stops it, exit 0, within MIN..MAX s (WHY); the N-th hand-back checked
hand_back_by() {
	local el
	start_worker "$1" "$2"
	running_on "$id" "$1" "$WPID"
	expect_eq "$3: the job runs as attempt 1" 1 "$(sql -c "SELECT attempts FROM jobs WHERE id = '$id'")"
	t0=$SECONDS
	kill "-$3" "$WPID"
	wait "$WPID"
	expect_eq "$3: $1 exits 0" 0 "$?"
	el=$((SECONDS - t0))
	if [ "$el" -ge "$4" ] && [ "$el" -le "$5" ]; then ok "$3: $1 stopped in ${el} s, $6"; else fail "$3: $1 stopped in ${el} s, $6"; fi
	handed_back "$3" "$id" "$1" "$7"
}

# --- SIGUSR1: hand back now, whatever the grace
hand_back_by t0520-a 60s USR1 0 15 "not after its 60 s grace" 1
grep -q '"SIGUSR1: handing running jobs back now"' "$T_TMP/t0520-a.log" && ok "USR1: logged" ||
	fail "USR1: logged" "$(tail -n 5 "$T_TMP/t0520-a.log")"

# --- SIGTERM: the grace runs out, then the job is handed back
hand_back_by t0520-c 2s TERM 2 15 "after its 2 s grace" 2

# --- another worker runs it to success, exactly once, on attempt 1
start_worker t0520-b 30s
job=$(job_wait "$id" 300)
expect_eq "t0520-b: the job succeeded" succeeded "$(jq -r .status <<<"$job")"
expect_eq "… on attempt 1, by t0520-b" "1|t0520-b" "$(sql -c "SELECT attempts, worker_id FROM jobs WHERE id = '$id'")"
expect_eq "… one succeeded event, three claims (started), two hand-backs, none reaped" "1 3 2 0" \
	"$(sql -c "SELECT count(*) FILTER (WHERE event = 'succeeded'), count(*) FILTER (WHERE event = 'started'), count(*) FILTER (WHERE event = 'handed_back'), count(*) FILTER (WHERE event = 'reaped') FROM job_events WHERE job_id = '$id'" | tr '|' ' ')"

done_testing
