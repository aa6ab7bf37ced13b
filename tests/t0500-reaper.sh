#!/usr/bin/env bash
# Leases and crashes: kill -9 a worker mid-job; the reaper of another worker returns
# the job to the queue and it completes exactly once. SIGTERM after the shutdown
# grace hands the running job back at once, its attempt not counted.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
command -v ffprobe >/dev/null || skip_all "ffprobe is not installed"
MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"

sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }

# worker_start NAME [EXTRA-INI-LINES]: a worker with a short lease; its pid in $WPID
worker_start() {
	worker_own "$1" "$(printf 'concurrency = 1\nlease = 5s\nheartbeat = 1s\n%s' "${2:-}")"
}

# kill_tree PID: kill -9 a worker and the ffmpeg process groups it started, like a crash
kill_tree() {
	local kids k
	kids=$(pgrep -P "$1" || true)
	kill -9 "$1"
	for k in $kids; do kill -9 -- "-$k" 2>/dev/null || kill -9 "$k" 2>/dev/null || true; done
	wait "$1" 2>/dev/null || true
}

submit_video() {
	_w_api -X POST -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg k "$1" '{type: "video.transcode", source: {key: $k}, params: {max_duration: 45}}')" \
		"$SPOOL_API_URL/v1/jobs" | json_id
}

# run_on WORKER: submit long jobs until one runs on WORKER (the stack's worker takes
# some too); prints the ids submitted, the one running on WORKER first
run_on() {
	local wid=$1 key ids=() id i mine=
	key=$(upload "$MEDIA/long-45s.mp4") || return 1
	for i in 1 2 3; do ids+=("$(submit_video "$key")"); done
	for ((i = 0; i < 150; i++)); do
		[ -z "$mine" ] || break
		for id in "${ids[@]}"; do
			[ "$(sql -c "SELECT worker_id FROM jobs WHERE id = '$id' AND status = 'running'")" = "$wid" ] && mine=$id
		done
		[ -n "$mine" ] || sleep 0.2
	done
	[ -n "$mine" ] || return 1
	echo "$mine"
	for id in "${ids[@]}"; do [ "$id" = "$mine" ] || echo "$id"; done
}

# all_succeed_once ID...: each job ends succeeded, with one succeeded event
all_succeed_once() {
	local id job
	for id in "$@"; do
		job=$(job_wait "$id" 180)
		expect_eq "job ${id:0:8} succeeded" succeeded "$(jq -r .status <<<"$job")"
		expect_eq "job ${id:0:8}: one succeeded event" 1 \
			"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$id' AND event = 'succeeded'")"
	done
}

# ---- kill -9 mid-job
worker_start t0500-a
A=$WPID
ids=$(run_on t0500-a) || bail "no job ran on the test worker"
victim=$(head -n 1 <<<"$ids")
ok "a job runs on worker t0500-a"
kill_tree "$A"
ok "worker t0500-a killed with -9 mid-job"
worker_start t0500-b   # its reaper runs every 2-3 s

all_succeed_once $ids
expect_eq "killed job reaped once" 1 \
	"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$victim' AND event = 'reaped'")"
expect_eq "killed job took two attempts" 2 "$(sql -c "SELECT attempts FROM jobs WHERE id = '$victim'")"
expect_match "reaped by another worker" '.+' \
	"$(sql -c "SELECT worker_id FROM job_events WHERE job_id = '$victim' AND event = 'reaped' AND worker_id <> 't0500-a'")"
expect_eq "killed job's reaping left the error lease_expired" lease_expired \
	"$(sql -c "SELECT error->>'code' FROM job_events WHERE job_id = '$victim' AND event = 'reaped'")"

# ---- SIGTERM: after the grace the running job is handed back at once, not after its lease
kill -TERM "$WPID"
wait "$WPID" 2>/dev/null || true
worker_start t0500-c 'shutdown_grace = 1s'
C=$WPID
ids=$(run_on t0500-c) || bail "no job ran on the test worker"
victim=$(head -n 1 <<<"$ids")
ok "a job runs on worker t0500-c"
t0=$SECONDS
kill -TERM "$C"
wait "$C"
expect_eq "worker t0500-c exits 0 on SIGTERM" 0 "$?"
expect_match "it stopped within the grace and a few seconds" '^[0-6]$' "$((SECONDS - t0))"
expect_eq "job handed back by the worker" 1 \
	"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$victim' AND event = 'handed_back' AND worker_id = 't0500-c'")"
expect_match "its lease is gone at once" '^(queued|running|succeeded)$' \
	"$(sql -c "SELECT status FROM jobs WHERE id = '$victim' AND (status <> 'running' OR worker_id <> 't0500-c')")"
all_succeed_once $ids
expect_eq "handed-back job not reaped" 0 \
	"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$victim' AND event = 'reaped'")"
expect_eq "handed-back job took one attempt: the one handed back is not counted" 1 \
	"$(sql -c "SELECT attempts FROM jobs WHERE id = '$victim'")"

done_testing
