#!/usr/bin/env bash
# t0210 — the job endpoints end to end: submit, wait, get, list (filters, cursor
# pagination), idempotency, cancel (with the worker stopped), 409s, result redirect.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
PIDF=$SPOOL_RUN_DIR/pids/spool-worker.pid

submit() { # BODY [extra curl args]: prints the job id; the status goes to $T_TMP/sub.status
	local body=$1
	shift
	curl -sS -o "$T_TMP/sub" -w '%{http_code}' "${AUTH[@]}" "${JSON[@]}" "$@" -d "$body" "$U/v1/jobs" >"$T_TMP/sub.status"
	jq -r '.id // empty' "$T_TMP/sub"
}
sub_status() { cat "$T_TMP/sub.status"; }

worker_pid() { [ -s "$PIDF" ] && head -n1 "$PIDF" | tr -dc 0-9; }
worker_stop() {
	local pid
	pid=$(worker_pid) || return 0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
# Started the way scripts/stack.sh starts it.
worker_start() {
	local pid
	pid=$(worker_pid || true)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0
	(env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null setsid \
		"$T_ROOT/bin/spool-worker" -c "$SPOOL_WORKER_CONFIG" >>"$SPOOL_LOG_DIR/spool-worker.log" 2>&1 </dev/null &
		echo $! >"$PIDF")
	sleep 1
}

[ -n "$(worker_pid)" ] && kill -0 "$(worker_pid)" 2>/dev/null || bail "spool-worker is not running ($PIDF)"

# --- submit, Location, wait until final
id=$(submit '{"type":"noop","params":{"t":"t0210"}}' -D "$T_TMP/h")
expect_eq "POST /v1/jobs is 202" 202 "$(sub_status)"
expect_match "Location names the job" $'Location: /v1/jobs/'"$id"$'\r' "$(cat "$T_TMP/h")"
expect_eq "the new job is queued" queued "$(jq -r .status "$T_TMP/sub")"
expect_status "GET ?wait=25" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=25"
expect_eq "the noop job succeeded" "succeeded 1" "$(jq -r '"\(.status) \(.attempts)"' <<<"$BODY")"
expect_match "it has the API's shape" '^[^ ]+ noop [0-9TZ:.-]+ [0-9TZ:.-]+ [0-9TZ:.-]+$' \
	"$(jq -r '"\(.id) \(.type) \(.created_at) \(.started_at) \(.finished_at)"' <<<"$BODY")"
done_id=$id

# --- ?wait returns at the deadline for a job that does not finish (worker stopped below)

# --- idempotency
key="t0210-$RANDOM-$RANDOM"
a=$(submit '{"type":"noop"}' -H "Idempotency-Key: $key")
sa=$(sub_status)
b=$(submit '{"type":"noop"}' -H "Idempotency-Key: $key")
expect_eq "first submit with an Idempotency-Key is 202, replay is 200" "202 200" "$sa $(sub_status)"
expect_eq "the replay returns the first job" "$a" "$b"
c=$(submit '{"type":"noop"}' -H "Idempotency-Key: $key-other")
[ "$c" != "$a" ] && ok "another key makes another job" || fail "another key makes another job"

# --- list: newest first, cursor walk without duplicates, filters
ids=()
for i in 1 2 3 4 5 6 7; do ids+=("$(submit "{\"type\":\"noop\",\"params\":{\"n\":$i}}")"); done
seen=()
cursor=
pages=0
while :; do
	q="limit=3&type=noop"
	[ -n "$cursor" ] && q="$q&cursor=$cursor"
	curl -sS "${AUTH[@]}" "$U/v1/jobs?$q" >"$T_TMP/page"
	pages=$((pages + 1))
	n=$(jq '.jobs|length' "$T_TMP/page")
	[ "$n" -le 3 ] || fail "page $pages has $n > 3 jobs"
	mapfile -t got < <(jq -r '.jobs[].id' "$T_TMP/page")
	seen+=("${got[@]}")
	cursor=$(jq -r '.next_cursor // empty' "$T_TMP/page")
	# stop once our 7 jobs (the newest) are behind us, or at the end
	[ -z "$cursor" ] || [ "${#seen[@]}" -ge 12 ] && break
done
dupes=$(printf '%s\n' "${seen[@]}" | sort | uniq -d | wc -l)
expect_eq "no job twice across $pages pages" 0 "$dupes"
want=$(printf '%s\n' "${ids[@]}" | tac | paste -sd' ')
got=$(printf '%s\n' "${seen[@]}" | grep -Fx -f <(printf '%s\n' "${ids[@]}") | paste -sd' ')
expect_eq "our 7 jobs come newest first across pages" "$want" "$got"
created=$(jq -r '.jobs[].created_at' "$T_TMP/page" | paste -sd' ')
sorted=$(jq -r '.jobs[].created_at' "$T_TMP/page" | sort -r | paste -sd' ')
expect_eq "a page is ordered by created_at, newest first" "$sorted" "$created"
expect_status "list limit=1" 200 "${AUTH[@]}" "$U/v1/jobs?limit=1"
expect_eq "limit=1 gives one job and a cursor" "1 true" "$(jq -r '"\(.jobs|length) \(.next_cursor != null)"' <<<"$BODY")"
expect_status "list status=succeeded" 200 "${AUTH[@]}" "$U/v1/jobs?status=succeeded&limit=100"
expect_eq "only succeeded jobs" succeeded "$(jq -r '[.jobs[].status]|unique|join(",")' <<<"$BODY")"
expect_match "including the first job" "$done_id" "$(jq -r '.jobs[].id' <<<"$BODY")"

# --- cancel: stop the worker so that the job stays queued
worker_stop
at_exit worker_start
q=$(submit '{"type":"noop"}')
t0=$(date +%s%N)
expect_status "?wait=2 on a job that stays queued" 200 "${AUTH[@]}" "$U/v1/jobs/$q?wait=2"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "answers with the job as it is" queued "$(jq -r .status <<<"$BODY")"
[ "$ms" -ge 1900 ] && [ "$ms" -le 4000 ] && ok "after the wait ($ms ms)" || fail "after the wait" "$ms ms"
(sleep 1; curl -s -o /dev/null "${AUTH[@]}" -X DELETE "$U/v1/jobs/$q") &
t0=$(date +%s%N)
expect_status "?wait=20 while another request cancels" 200 "${AUTH[@]}" "$U/v1/jobs/$q?wait=20"
ms=$((($(date +%s%N) - t0) / 1000000))
wait
expect_eq "the waiter sees cancelled" cancelled "$(jq -r .status <<<"$BODY")"
[ "$ms" -lt 5000 ] && ok "promptly ($ms ms)" || fail "promptly" "$ms ms"
q2=$(submit '{"type":"noop"}')
expect_status "DELETE a queued job" 200 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$q2"
expect_eq "it is cancelled" cancelled "$(jq -r .status <<<"$BODY")"
expect_status "DELETE it again" 409 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$q2"
expect_eq "conflict" conflict "$(jq -r .error.code <<<"$BODY")"
worker_start
expect_status "DELETE a succeeded job" 409 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$done_id"
expect_status "result of a cancelled job" 409 "${AUTH[@]}" "$U/v1/jobs/$q2/result"

# --- media.probe: upload through a presigned URL, result via 302
media=$T_TMP/clip.mp4
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=25:duration=2 \
	-f lavfi -i sine=frequency=440:duration=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
	-c:a aac -shortest "$media" || bail "ffmpeg could not make the test clip"
msize=$(stat -c %s "$media")
expect_status "POST /v1/uploads" 201 "${AUTH[@]}" -X POST -H 'Content-Type: application/json' \
	-d "{\"size\": $msize}" "$U/v1/uploads"
ukey=$(jq -r .key <<<"$BODY")
uurl=$(jq -r .url <<<"$BODY")
expect_match "upload key is under the tenant" '^uploads/[^/]+/[0-9a-f-]{36}$' "$ukey"
expect_eq "upload method" PUT "$(jq -r .method <<<"$BODY")"
expect_eq "the size and the Content-Length to send" "$msize $msize" \
	"$(jq -r '"\(.size) \(.headers["Content-Length"])"' <<<"$BODY")"
expect_match "Content-Length is signed" 'X-Amz-SignedHeaders=content-length%3Bhost' "$uurl"
expect_status "POST /v1/uploads without a size: 422" 422 "${AUTH[@]}" -X POST "$U/v1/uploads"
expect_eq "naming the field size" "invalid size" "$(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
check "PUT to the presigned URL" curl -fsS -T "$media" "$uurl"
p=$(submit "{\"type\":\"media.probe\",\"source\":{\"key\":\"$ukey\"}}")
expect_eq "probe submitted" 202 "$(sub_status)"
expect_status "wait for the probe" 200 "${AUTH[@]}" "$U/v1/jobs/$p?wait=25"
expect_eq "probe succeeded" succeeded "$(jq -r .status <<<"$BODY")"
expect_match "the job carries a presigned result url" '^https?://.*X-Amz-Signature=' "$(jq -r '.result.url // empty' <<<"$BODY")"
expect_status "GET result is 302" 302 -D "$T_TMP/h" "${AUTH[@]}" "$U/v1/jobs/$p/result"
loc=$(sed -n 's/^[Ll]ocation: \(.*\)\r$/\1/p' "$T_TMP/h")
expect_match "to a presigned URL" 'X-Amz-Signature=' "$loc"
expect_status "curl -L follows it to the report" 200 -L "${AUTH[@]}" "$U/v1/jobs/$p/result"
expect_match "the report is JSON describing the streams" 'stream' "$(jq -c . <<<"$BODY" 2>&1 | head -c 2000)"

done_testing
