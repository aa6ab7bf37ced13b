#!/usr/bin/env bash
# bench.sh — spool-api benchmarks against the local stack (make bench). Prints one
# "name value" line per number:
#   wrk (keep-alive, 2 threads, $BENCH_CONNS connections, $BENCH_SECONDS s) on GET /health,
#   POST /v1/jobs (noop) and GET /v1/jobs/{id}: req/s, p50/p99 latency (ms), API CPU
#   time per request (us, from /proc/PID/stat);
#   end to end: $BENCH_JOBS noop jobs submitted, jobs/s until all are final and the
#   submit->finished p50/p99 (ms, from the database's timestamps);
#   peak RSS (VmHWM, KiB) of spool-api and spool-worker.
# BENCH_E2E_ONLY=1 runs only the end-to-end part. The POST /v1/jobs run leaves
# queued jobs: they are cancelled, and the bench waits until the worker has
# drained their messages from spool.jobs so that the queue is empty again.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
NJOBS=${BENCH_JOBS:-5000}
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run scripts/stack.sh up first"
set -a
# shellcheck disable=SC1091
. "$RUN/stack.env"
set +a
for t in wrk curl jq psql; do command -v "$t" >/dev/null || die "'$t' is not installed"; done
U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || die "SPOOL_API_KEY is empty in $RUN/stack.env"
curl -fsS -o /dev/null "$U/health" || die "spool-api does not answer on $U"
api_pid=$(head -n1 "$RUN/pids/spool-api.pid" 2>/dev/null | tr -dc 0-9) || true
worker_pid=$(head -n1 "$RUN/pids/spool-worker.pid" 2>/dev/null | tr -dc 0-9) || true
[ -n "$api_pid" ] && [ -r "/proc/$api_pid/stat" ] || die "no running spool-api in $RUN/pids/spool-api.pid"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/spool-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
tag="bench-$$-$RANDOM"
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The wrk script: optional POST body and headers, and a done() that prints
# "requests seconds p50_us p99_us errors".
cat >"$TMP/bench.lua" <<'LUA'
local key = os.getenv("SPOOL_API_KEY")
local body = os.getenv("BENCH_BODY")
wrk.headers["Authorization"] = "Bearer " .. key
if body and body ~= "" then
	wrk.method = "POST"
	wrk.body = body
	wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %d %.6f %d %d %d\n", summary.requests, summary.duration / 1e6,
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout + e.status))
end
LUA

# run NAME URL [BODY]
run() {
	local name=$1 url=$2 body=${3:-} c0 c1 line
	c0=$(cpu_ticks "$api_pid")
	line=$(BENCH_BODY=$body wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$TMP/bench.lua" "$url" | grep '^RESULT')
	c1=$(cpu_ticks "$api_pid")
	read -r _ n dur p50 p99 errs <<<"$line"
	awk -v name="$name" -v n="$n" -v d="$dur" -v p50="$p50" -v p99="$p99" -v e="$errs" \
		-v cpu=$((c1 - c0)) -v hz="$HZ" 'BEGIN {
		printf "%s_rps %.0f\n", name, n / d
		printf "%s_p50_ms %.3f\n", name, p50 / 1000
		printf "%s_p99_ms %.3f\n", name, p99 / 1000
		printf "%s_cpu_us_per_req %.1f\n", name, (n > 0 ? cpu / hz * 1e6 / n : 0)
		printf "%s_errors %d\n", name, e
	}'
}

E2E_ONLY=${BENCH_E2E_ONLY:-}
[ -n "$E2E_ONLY" ] || run health "$U/health"
id=$(curl -fsS -H "Authorization: Bearer $SPOOL_API_KEY" -H 'Content-Type: application/json' \
	-d '{"type":"noop"}' "$U/v1/jobs" | jq -r .id)
[ -n "$E2E_ONLY" ] || run get "$U/v1/jobs/$id"

q() { psql "$SPOOL_PG_DSN" -XAtq -c "$1"; }
# parallel REQUEST-CONFIG: run a curl config (entries separated by "next") over 32
# keep-alive connections; prints the count of 2xx answers
parallel() {
	curl -sS --no-progress-meter --parallel --parallel-max 32 -K "$1" | grep -c '^2' || true
}

# End to end: NJOBS submits over 32 parallel keep-alive connections.
{
	for ((i = 0; i < NJOBS; i++)); do
		printf 'url = "%s/v1/jobs"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' \
			"$U" "$SPOOL_API_KEY"
		printf 'data = "{\\"type\\":\\"noop\\",\\"params\\":{\\"bench\\":\\"%s\\"}}"\noutput = "/dev/null"\n' "$tag"
		printf 'write-out = "%%{http_code}\\n"\n'
		[ $((i + 1)) -lt "$NJOBS" ] && echo next
	done
} >"$TMP/submit.curl"
t0=$(date +%s.%N)
accepted=$(parallel "$TMP/submit.curl")
t1=$(date +%s.%N)
[ "$accepted" = "$NJOBS" ] || die "only $accepted of $NJOBS submits were accepted"
for _ in $(seq 1 1200); do
	left=$(q "SELECT count(*) FROM jobs WHERE params->>'bench' = '$tag' AND status NOT IN ('succeeded','failed','cancelled')")
	[ "$left" = 0 ] && break
	sleep 0.5
done
[ "$left" = 0 ] || die "$left of $NJOBS jobs not final after 10 minutes"
q "SELECT count(*),
	count(*) / extract(epoch FROM max(finished_at) - min(created_at)),
	1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
	1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
	count(*) FILTER (WHERE status <> 'succeeded')
   FROM jobs WHERE params->>'bench' = '$tag'" |
	awk -F'|' -v t0="$t0" -v t1="$t1" '{
		printf "e2e_jobs %d\n", $1
		printf "e2e_submit_rps %.0f\n", $1 / (t1 - t0)
		printf "e2e_jobs_per_s %.0f\n", $2
		printf "e2e_latency_p50_ms %.1f\n", $3
		printf "e2e_latency_p99_ms %.1f\n", $4
		printf "e2e_not_succeeded %d\n", $5
	}'

hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
if [ -n "$E2E_ONLY" ]; then
	echo "api_vmhwm_kib $(hwm "$api_pid")"
	[ -n "$worker_pid" ] && echo "worker_vmhwm_kib $(hwm "$worker_pid")"
	exit 0
fi

# POST /v1/jobs last: the worker does not have to drain it before the end-to-end run.
run submit "$U/v1/jobs" "{\"type\":\"noop\",\"params\":{\"bench\":\"$tag-wrk\"}}"
# ...and its jobs that are still queued are cancelled through the API.
cursor=
: >"$TMP/ids"
while :; do
	curl -fsS -H "Authorization: Bearer $SPOOL_API_KEY" \
		"$U/v1/jobs?status=queued&type=noop&limit=100${cursor:+&cursor=$cursor}" >"$TMP/page"
	jq -r --arg t "$tag-wrk" '.jobs[] | select(.params.bench == $t) | .id' "$TMP/page" >>"$TMP/ids"
	cursor=$(jq -r '.next_cursor // empty' "$TMP/page")
	[ -n "$cursor" ] || break
done
if [ -s "$TMP/ids" ]; then
	awk -v u="$U" -v k="$SPOOL_API_KEY" '{
		if (NR > 1) print "next"
		printf "url = \"%s/v1/jobs/%s\"\nrequest = \"DELETE\"\nheader = \"Authorization: Bearer %s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", u, $1, k
	}' "$TMP/ids" >"$TMP/cancel.curl"
	parallel "$TMP/cancel.curl" >/dev/null
fi
# The cancelled jobs' messages are still in spool.jobs: the worker acks and ignores
# them; wait (up to 5 minutes) until it has, so the next user finds an empty queue.
depth() {
	curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.jobs" | jq -r '.messages // 0'
}
d0=$(date +%s.%N)
for _ in $(seq 1 600); do
	left=$(depth) || break
	[ "$left" = 0 ] && break
	sleep 0.5
done
d1=$(date +%s.%N)
awk -v a="$d0" -v b="$d1" -v l="${left:-?}" 'BEGIN { printf "drain_s %.1f\ndrain_left %s\n", b - a, l }'

echo "api_vmhwm_kib $(hwm "$api_pid")"
[ -n "$worker_pid" ] && echo "worker_vmhwm_kib $(hwm "$worker_pid")"
