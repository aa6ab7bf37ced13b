#!/usr/bin/env bash
# t0770 — the clustered stack (SPOOL_RABBITMQ_NODES=3, SPOOL_API_INSTANCES=3,
# SPOOL_WORKERS=3): the shared queues are quorum queues with a member on each of the
# three nodes (management API); through the balancer, long-polls (?wait) held by every
# API instance wake up when their job finishes, a queued job is cancelled whichever
# instance answers the DELETE, webhooks are delivered exactly once although every
# instance consumes the events, and jobs run end to end on more than one worker.
# Skipped on a stack that is not clustered.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

[ "${SPOOL_RABBITMQ_NODES:-1}" -ge 3 ] && [ "${SPOOL_API_INSTANCES:-1}" -ge 2 ] &&
	[ "${SPOOL_WORKERS:-1}" -ge 2 ] ||
	skip_all "the stack is not clustered (SPOOL_RABBITMQ_NODES=3 SPOOL_API_INSTANCES=3 SPOOL_WORKERS=3 scripts/stack.sh up)"
command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"

U=$SPOOL_API_URL
IFS=, read -r -a APIS <<<"$SPOOL_API_URLS"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
mgmt() { curl -sS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
noop() { # [JSON-FIELDS]: POST a noop job through the balancer; prints its id
	curl -sS --max-time 30 "${AUTH[@]}" "${JSON[@]}" -d "{\"type\": \"noop\"${1:+, $1}}" "$U/v1/jobs" | jq -r '.id // empty'
}
# Whatever the test stopped comes back.
at_exit 'scripts/stack.sh start spool-worker >/dev/null 2>&1'

# wait_ready URL: /ready 200 within 60 s
wait_ready() {
	local i
	for ((i = 0; i < 240; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/ready")" = 200 ] && return 0
		sleep 0.25
	done
	return 1
}
for a in "$U" "${APIS[@]}"; do
	wait_ready "$a" || bail "$a/ready is not 200"
done
expect_eq "three API instances behind the balancer" 3 "${#APIS[@]}"

# ---- the quorum queues: three members, all online
for q in spool.jobs.high spool.jobs spool.jobs.low spool.dead spool.events.api; do
	info=$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$q")
	expect_eq "$q: a quorum queue with 3 members online" "quorum 3 3" \
		"$(jq -r '"\(.type) \(.members | length) \(.online | length)"' <<<"$info")"
done
expect_eq "the cluster has 3 running nodes" 3 \
	"$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/nodes" | jq '[.[] | select(.running)] | length')"

# ---- long-polls on every instance, woken by the job's event
scripts/stack.sh stop spool-worker >/dev/null 2>&1 || bail "cannot stop the workers"
id=$(noop)
[ -n "$id" ] || bail "no job accepted"
# six through the balancer (round robin: two on each instance) and one on each instance
waiters=()
for ((i = 0; i < 6; i++)); do waiters+=("$U"); done
waiters+=("${APIS[@]}")
t0=$(date +%s.%N)
for ((i = 0; i < ${#waiters[@]}; i++)); do
	curl -sS --max-time 70 "${AUTH[@]}" -o "$T_TMP/wait.$i" -w '%{http_code} %{time_total}\n' \
		"${waiters[$i]}/v1/jobs/$id?wait=55" >"$T_TMP/wait.$i.st" 2>&1 &
done
sleep 3 # the waits are held (the job stays queued: no worker)
expect_eq "the job is still queued while the waits are held" queued "$(sql -c "SELECT status FROM jobs WHERE id = '$id'")"
scripts/stack.sh start spool-worker >/dev/null 2>&1 || fail "the workers started again"
wait
t1=$(date +%s.%N)
woken=0 slow=
for ((i = 0; i < ${#waiters[@]}; i++)); do
	read -r st secs <"$T_TMP/wait.$i.st"
	if [ "$st" = 200 ] && [ "$(jq -r .status "$T_TMP/wait.$i")" = succeeded ] &&
		awk -v s="$secs" 'BEGIN { exit !(s < 45) }'; then
		woken=$((woken + 1))
	else
		slow+="${waiters[$i]}: $st ${secs}s $(head -c 200 "$T_TMP/wait.$i") "
	fi
done
expect_eq "every long-poll answered succeeded well before its 55 s (balancer and each instance)" \
	"${#waiters[@]}" "$woken"
[ -z "$slow" ] || echo "# $slow"
echo "# long-polls answered $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after they began"

# ---- cancel whichever instance answers
scripts/stack.sh stop spool-worker >/dev/null 2>&1 || bail "cannot stop the workers"
cancelled=0
for ((i = 0; i < 6; i++)); do
	cid=$(noop)
	st=$(curl -sS -o "$T_TMP/cancel" -w '%{http_code}' --max-time 30 -X DELETE "${AUTH[@]}" "$U/v1/jobs/$cid")
	[ "$st" = 200 ] && [ "$(jq -r .status "$T_TMP/cancel")" = cancelled ] &&
		[ "$(sql -c "SELECT status FROM jobs WHERE id = '$cid'")" = cancelled ] && cancelled=$((cancelled + 1))
done
expect_eq "six queued jobs cancelled through the balancer (200, cancelled in the database)" 6 "$cancelled"
for a in "${APIS[@]}"; do
	cid=$(noop)
	expect_status "DELETE on $a cancels a job submitted through the balancer" 200 -X DELETE "${AUTH[@]}" "$a/v1/jobs/$cid"
	expect_status "... and a second DELETE there is 409" 409 -X DELETE "${AUTH[@]}" "$a/v1/jobs/$cid"
done
scripts/stack.sh start spool-worker >/dev/null 2>&1 || fail "the workers started again"

# ---- webhooks delivered once
: >"$T_TMP/sink.log"
"$T_PY" tests/tools/webhook-sink.py "$T_TMP/sink.log" 200 >"$T_TMP/sink.port" &
sink_pid=$!
at_exit "kill $sink_pid"
for _ in $(seq 1 50); do [ -s "$T_TMP/sink.port" ] && break; sleep 0.1; done
port=$(head -n1 "$T_TMP/sink.port")
[ -n "$port" ] || bail "the webhook sink did not start"
NW=12
hooked=()
for ((i = 0; i < NW; i++)); do
	hooked+=("$(noop "\"callback_url\": \"http://127.0.0.1:$port/hook/$i\"")")
done
expect_eq "$NW jobs with a callback_url accepted" "$NW" "$(printf '%s\n' "${hooked[@]}" | grep -c .)"
for _ in $(seq 1 600); do [ "$(wc -l <"$T_TMP/sink.log")" -ge "$NW" ] && break; sleep 0.1; done
sleep 3 # a duplicate would come now
expect_eq "the sink got $NW POSTs" "$NW" "$(wc -l <"$T_TMP/sink.log")"
expect_eq "one POST per job" "$NW" "$(jq -r '.body | fromjson | .id' "$T_TMP/sink.log" | sort -u | wc -l)"
ids="{$(IFS=,; echo "${hooked[*]}")}"
expect_eq "one delivered row per job in webhook_deliveries" "$NW" \
	"$(sql -v ids="$ids" <<<"SELECT count(DISTINCT job_id) FROM webhook_deliveries WHERE job_id = ANY(:'ids'::uuid[]) AND delivered")"
expect_eq "no second delivery recorded" 0 \
	"$(sql -v ids="$ids" <<<"SELECT count(*) FROM (SELECT job_id FROM webhook_deliveries WHERE job_id = ANY(:'ids'::uuid[]) GROUP BY job_id HAVING count(*) > 1) d")"

# ---- jobs end to end: a media.probe and a batch of noop jobs
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "cannot make the clip"
KEY=$(upload "$T_TMP/clip.mp4") || bail "cannot upload the clip"
job=$(job_wait "$(submit media.probe "$KEY")" 60)
expect_eq "a media.probe job through the balancer succeeds" succeeded "$(jq -r .status <<<"$job")"
batch=()
for ((i = 0; i < 40; i++)); do batch+=("$(noop)"); done
ids="{$(IFS=,; echo "${batch[*]}")}"
for _ in $(seq 1 240); do
	[ "$(sql -v ids="$ids" <<<"SELECT count(*) FROM jobs WHERE id = ANY(:'ids'::uuid[]) AND status = 'succeeded'")" = 40 ] && break
	sleep 0.25
done
expect_eq "40 noop jobs succeeded" 40 \
	"$(sql -v ids="$ids" <<<"SELECT count(*) FROM jobs WHERE id = ANY(:'ids'::uuid[]) AND status = 'succeeded'")"
expect_match "they ran on more than one worker" '^[2-9]' \
	"$(sql -v ids="$ids" <<<"SELECT count(DISTINCT worker_id) FROM jobs WHERE id = ANY(:'ids'::uuid[])")"
done_testing
