#!/usr/bin/env bash
# t0530 — the worker's GET /health ([worker] health_listen) and the truth of its
# systemd watchdog. A worker of the test's own (stall_timeout 5s) reports to a
# NOTIFY_SOCKET the test reads: READY=1, then WATCHDOG=1 about every second, and
# /health is 200 naming its threads (anything else 404). Then a real wedge: its S3
# endpoint is a listener that accepts and never answers ([aws] timeout 120s), so
# the job thread downloading a source blocks in the transfer. /health turns 503
# naming that thread and its job, and no WATCHDOG=1 is sent while it lasts; once
# the listener goes away the transfer fails, the thread moves on, /health is 200
# again and the pings come back.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/notify.sh

[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
HPORT=$((SPOOL_PORT_BASE + 54))
HOLE=$((SPOOL_PORT_BASE + 53))
H=http://127.0.0.1:$HPORT

# a TCP listener that accepts and never answers: the wedged S3 (python itself in the
# background, so that killing $! closes its connections)
"$T_PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
' "$HOLE" &
HOLE_PID=$!
at_exit "kill $HOLE_PID"

notify_start

scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"

ini=$T_TMP/worker.ini
awk -v hole="http://127.0.0.1:$HOLE" -v h="127.0.0.1:$HPORT" '
	/^\[/ { section = $0 }
	section == "[s3]" && /^endpoint_url *=/ { print "endpoint_url = " hole; next }
	/^concurrency *=/ { next }
	{ print }
	$0 == "[aws]" { print "timeout = 120s" }
	$0 == "[worker]" { print "id = t0530"; print "concurrency = 1"; print "heartbeat = 1s";
		print "stall_timeout = 5s"; print "health_listen = " h }' "$SPOOL_WORKER_CONFIG" >"$ini"
WLOG=$SPOOL_LOG_DIR/spool-worker-$T_NAME.log
env NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=3000000 bin/spool-worker -d -f "$ini" >"$WLOG" 2>&1 </dev/null &
WPID=$!
at_exit "kill -9 $WPID"

# wait_for WHAT SECONDS CMD...: until CMD succeeds, at most SECONDS
wait_for() {
	local what=$1 end=$((SECONDS + $2))
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then fail "$what" "$(tail -n 5 "$WLOG")"; return 1; fi
		sleep 0.2
	done
	ok "$what"
}
pings() { notify_count WATCHDOG=1; }

wait_for "READY=1 on the notify socket" 60 grep -q ' READY=1$' "$NLOG"
expect_status "GET /health: 200" 200 "$H/health"
expect_eq "… ok, broker connected, the archiver, completer, consumer, heartbeat, reaper and job 0 threads" \
	'ok connected ["archiver","completer","consumer","heartbeat","job 0","reaper"]' \
	"$(jq -c -r '"\(.status) \(.broker) \(.threads_ms | keys)"' <<<"$BODY")"
expect_status "GET /nope: 404" 404 "$H/nope"
expect_status "POST /health: 404" 404 -X POST -d x "$H/health"
n0=$(pings)
sleep 3
n1=$(pings)
if [ $((n1 - n0)) -ge 2 ]; then ok "WATCHDOG=1 about every second ($((n1 - n0)) in 3 s)"; else fail "WATCHDOG=1 about every second ($((n1 - n0)) in 3 s)"; fi

# --- the wedge: a job thread blocked in an S3 download that never answers
printf 'not a video, never read\n' >"$T_TMP/src.bin"
key=$(upload "$T_TMP/src.bin") || bail "cannot upload the source"
id=$(submit media.probe "$key")
expect_match "media.probe submitted" '^[0-9a-f-]{36}$' "$id"
running() { [ "$(sql -c "SELECT status || ' ' || worker_id FROM jobs WHERE id = '$id'")" = "running t0530" ]; }
wait_for "the job runs on t0530" 60 running
unhealthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$H/health")" = 503 ]; }
wait_for "GET /health turns 503 within stall_timeout and a few seconds" 30 unhealthy
expect_status "GET /health: 503" 503 "$H/health"
expect_match "… naming the job thread and its job" \
	"^unhealthy the job 0 thread shows no progress for [0-9]+ s \(over stall_timeout 5 s\), running job $id\$" \
	"$(jq -r '"\(.status) \(.reason)"' <<<"$BODY")"
expect_eq "… the other threads are fine" "true" \
	"$(jq -r '[.threads_ms.consumer, .threads_ms.heartbeat, .threads_ms.reaper] | all(. < 5000)' <<<"$BODY")"
n0=$(pings)
sleep 4
n1=$(pings)
expect_eq "no WATCHDOG=1 for 4 s while the thread is wedged" 0 "$((n1 - n0))"
grep -q '"watchdog: not pinged: the job 0 thread shows no progress' "$WLOG" && ok "the worker logged why" ||
	fail "the worker logged why" "$(tail -n 5 "$WLOG")"

# --- unwedged: the listener goes, the download fails, the thread moves on
kill "$HOLE_PID"
wait "$HOLE_PID" 2>/dev/null
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$H/health")" = 200 ]; }
wait_for "GET /health is 200 again once the transfer failed" 60 healthy
n0=$(pings)
sleep 3
n1=$(pings)
if [ $((n1 - n0)) -ge 2 ]; then ok "WATCHDOG=1 pings again ($((n1 - n0)) in 3 s)"; else fail "WATCHDOG=1 pings again ($((n1 - n0)) in 3 s)"; fi
expect_match "the job left running (its download failed)" '^(retrying|failed)$' \
	"$(sql -c "SELECT status FROM jobs WHERE id = '$id'")"
# a retry of it would fail later (its source is no video) inside another test's window
# (t0610 counts the media.probe jobs failed since it began): cancel it
if [ "$(sql -c "SELECT status FROM jobs WHERE id = '$id'")" = retrying ]; then
	bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" job cancel "$id" >/dev/null ||
		fail "cancel the retrying job" "$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" job cancel "$id" 2>&1)"
fi

kill -TERM "$WPID"
wait "$WPID"
expect_eq "the worker exits 0 on SIGTERM" 0 "$?"
done_testing
