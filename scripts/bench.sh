#!/usr/bin/env bash
# bench.sh — spool-api benchmarks against the local stack (make bench). Prints one
# "name value" line per number:
#   wrk (keep-alive, 2 threads, $BENCH_CONNS connections, $BENCH_SECONDS s) on GET /health,
#   POST /v1/jobs (noop) and GET /v1/jobs/{id}: req/s, p50/p99 latency (ms), API CPU
#   time per request (us, from /proc/PID/stat);
#   end to end: $BENCH_JOBS noop jobs submitted, jobs/s until all are final and the
#   submit->finished p50/p99 (ms, from the database's timestamps);
#   peak RSS (VmHWM, KiB) of spool-api and spool-worker.
#   POST /v1/videos: upload throughput of a $BENCH_UPLOAD_MIB MiB body (random bytes, so
#   its job then fails invalid_media) and spool-api's peak RSS while receiving it;
#   a 1080p 60 s source through the whole path (upload, queue, transcode, download)
#   against the same ffmpeg command run by hand on the same file: the overhead in %.
# BENCH_E2E_ONLY=1 runs only the end-to-end part; BENCH_VIDEO_ONLY=1 only the video
# part; BENCH_NO_VIDEO=1 skips it. The POST /v1/jobs run leaves
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

# ---- video: POST /v1/videos throughput and peak RSS; the whole path against ffmpeg by hand
vmhwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
video_bench() {
	local mib=${BENCH_UPLOAD_MIB:-200} auth="Authorization: Bearer $SPOOL_API_KEY" out rss0 peak pid
	command -v ffmpeg >/dev/null || die "'ffmpeg' is not installed"
	head -c $((mib << 20)) /dev/urandom >"$TMP/upload.bin"
	rss0=$(vmrss "$api_pid")
	# VmHWM is the peak since start: reset it (clear_refs 5), and sample VmRSS too.
	echo 5 >"/proc/$api_pid/clear_refs" 2>/dev/null || true
	( peak=0; while :; do r=$(vmrss "$api_pid"); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$TMP/rss.peak"; sleep 0.02; done ) &
	pid=$!
	out=$(curl -sS -o "$TMP/upload.json" -w '%{http_code} %{time_total} %{size_upload}' -H "$auth" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$TMP/upload.bin" "$U/v1/videos")
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
	peak=$(cat "$TMP/rss.peak" 2>/dev/null || echo 0)
	read -r code secs bytes <<<"$out"
	[ "$code" = 202 ] || die "POST /v1/videos of $mib MiB answered $code: $(cat "$TMP/upload.json")"
	awk -v s="$secs" -v b="$bytes" -v mib="$mib" 'BEGIN {
		printf "video_upload_mib %d\nvideo_upload_s %.2f\nvideo_upload_mib_per_s %.1f\n", mib, s, b / 1048576 / s }'
	echo "video_upload_api_rss_before_kib $rss0"
	echo "video_upload_api_vmhwm_kib $(vmhwm "$api_pid")"
	echo "video_upload_api_rss_sampled_peak_kib $peak"
	rm -f "$TMP/upload.bin"

	# A 1080p 60 s source with audio, kept in the run directory between runs.
	local src=$RUN/bench-media/src-1080p-60s.mp4 t0 t1 id job tp h0 h1
	if [ ! -s "$src" ]; then
		mkdir -p "$(dirname "$src")"
		ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=1920x1080:r=25:d=60 \
			-f lavfi -i sine=f=440:r=48000:d=60 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
			-c:a aac -b:a 96k "$src.tmp.mp4" && mv "$src.tmp.mp4" "$src"
	fi
	# The engine's ffmpeg command for the same file and params (the worker's logo),
	# caught by an ffmpeg stand-in that records its arguments and fails.
	local logo wrap=$TMP/ffmpeg-record args
	logo=$(sed -n 's/^logo *= *//p' "$SPOOL_WORKER_CONFIG" | head -n1)
	printf '#!/usr/bin/env bash\nprintf "%%q " "$@" >>"%s"\necho >>"%s"\nexit 1\n' "$TMP/ffmpeg.args" "$TMP/ffmpeg.args" >"$wrap"
	chmod +x "$wrap"
	FFMPEG=$wrap "$ROOT/bin/tools/transcode" ${logo:+-l "$logo"} -p '{"max_duration":60}' "$src" "$TMP/hand" >/dev/null 2>&1 || true
	args=$(grep -m1 -- '-progress' "$TMP/ffmpeg.args") || die "could not record the engine's ffmpeg command"
	# BENCH_VIDEO_RUNS rounds of (whole path, ffmpeg by hand); the fastest of each is
	# kept, as other load on the machine only ever adds time.
	local runs=${BENCH_VIDEO_RUNS:-2} n
	: >"$TMP/path.times"
	for ((n = 0; n < runs; n++)); do
		# The whole path, as a client: upload, wait, download the result.
		t0=$(date +%s.%N)
		id=$(curl -fsS -H "$auth" -H 'Content-Type: video/mp4' --data-binary @"$src" \
			"$U/v1/videos?max_duration=60" | jq -r .id) || die "cannot upload $src"
		tp=$(date +%s.%N)
		for _ in $(seq 1 60); do
			job=$(curl -fsS -H "$auth" "$U/v1/jobs/$id?wait=60")
			[[ $(jq -r .status <<<"$job") =~ ^(succeeded|failed|cancelled)$ ]] && break
		done
		[ "$(jq -r .status <<<"$job")" = succeeded ] || die "the 1080p job did not succeed: $job"
		curl -fsS -o "$TMP/result.mp4" "$(curl -sS -o /dev/null -w '%{redirect_url}' -H "$auth" "$U/v1/jobs/$id/result")"
		t1=$(date +%s.%N)
		mkdir -p "$TMP/hand"
		h0=$(date +%s.%N)
		eval "ffmpeg $args" >/dev/null 2>&1 3>/dev/null </dev/null || die "the recorded ffmpeg command failed: ffmpeg $args"
		h1=$(date +%s.%N)
		psql "$SPOOL_PG_DSN" -XAtq -c "SELECT extract(epoch FROM started_at - created_at),
			extract(epoch FROM finished_at - started_at) FROM jobs WHERE id = '$id'" |
			awk -F'|' -v t0="$t0" -v tp="$tp" -v t1="$t1" -v h0="$h0" -v h1="$h1" \
				'{ print t1 - t0, tp - t0, $1, $2, h1 - h0 }' >>"$TMP/path.times"
	done
	awk 'NR == 1 || $1 < p { p = $1; u = $2; q = $3; j = $4 }
	     NR == 1 || $5 < h { h = $5 }
	     END {
		printf "video_1080p60_runs %d\n", NR
		printf "video_1080p60_path_s %.2f\n", p
		printf "video_1080p60_upload_s %.2f\n", u
		printf "video_1080p60_queued_s %.2f\n", q
		printf "video_1080p60_job_run_s %.2f\n", j
		printf "video_1080p60_ffmpeg_by_hand_s %.2f\n", h
		printf "video_1080p60_overhead_pct %.1f\n", 100 * (p - h) / h
	}' "$TMP/path.times"
	echo "video_loadavg_1m $(cut -d' ' -f1 /proc/loadavg)"
}
[ -z "${BENCH_VIDEO_ONLY:-}" ] || { video_bench; exit 0; }

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
[ -n "${BENCH_NO_VIDEO:-}" ] || video_bench
