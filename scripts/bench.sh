#!/usr/bin/env bash
# bench.sh — Spool's figures against the local stack (make bench), each read against
# the machine's own ceiling measured in the same run. Every figure is measured
# $BENCH_RUNS times (3); one "rN name value" line per number as it comes, then the
# median of each with its spread (min..max), then a table: figure, median, ceiling,
# the figure as a fraction of the ceiling.
#
# Spool's figures, each run:
#   wrk (keep-alive, 2 threads, $BENCH_SECONDS s) on GET /health and GET /v1/jobs/{id}
#   at $BENCH_CONNS (32) connections: req/s, p50/p99 latency (ms), API CPU per request (us);
#   end to end at saturation: $BENCH_JOBS (5,000) noop jobs submitted over 32 keep-alive
#   connections; jobs/s until all are final, submit->finished p50/p99 (ms, the database's
#   created_at/finished_at) and the whole machine's CPU per job (ms, /proc/stat: every
#   process, the load generator and the services included), and where it went:
#   PostgreSQL's, RabbitMQ's, spool-api's and spool-worker's processes, and the rest
#   (curl, the bench, the kernel's threads);
#   the same once more with a worker of $BENCH_WIDE_CONCURRENCY (8) threads in place of
#   the stack's (concurrency 2): e2e_wide_*;
#   end to end paced: the same count offered at $BENCH_PACED_RATE (500) jobs/s by
#   bin/bench/pace (open loop, keep-alive), submit->finished p50/p99 from the pacer's own
#   submit times to finished_at, jobs/s achieved, CPU per job;
#   POST /v1/jobs (noop) with no worker running (it is stopped, then started again) at
#   32 and 64 connections: req/s, p99; the jobs left queued are cancelled through the
#   API and the bench waits until the worker has drained their messages;
#   peak RSS (VmHWM, KiB) of spool-api and spool-worker (the worker's before it stops).
# The ceilings, each run, on the same machine and the stack's own services:
#   pgbench (32 clients, $BENCH_SECONDS s, prepared, generic plans as the daemons use)
#   running job creation's INSERT (job, history event, outbox row: shared/job.c) into
#   scratch copies of those tables in a schema of its own, dropped after: commits/s;
#   then a job's whole life there (that creation, the worker's claim, its end: three
#   commits, one job per statement), the same way: jobs/s, the whole machine's and
#   PostgreSQL's own CPU per job;
#   bin/bench/mhd-hello, a bare libmicrohttpd daemon in spool-api's threading mode and
#   thread count, under wrk at 32 connections: req/s;
#   bin/bench/amqp-rate: $BENCH_AMQP_MESSAGES (20,000) persistent messages published with
#   confirms (batches of 100) into a scratch quorum queue, then consumed: messages/s.
# BENCH_SOAK=SECONDS (1: 600) runs only the soak: open-loop load at half the peak end to
# end rate (measured first, or $BENCH_SOAK_RATE) for that long, printing spool-api's and
# spool-worker's RSS every $BENCH_SOAK_EVERY (60) seconds.
# After the table, the video part (once): POST /v1/videos upload throughput of a
# $BENCH_UPLOAD_MIB MiB body (random bytes, so its job then fails invalid_media) and
# spool-api's peak RSS while receiving it; a 1080p 60 s source through the whole path
# (upload, queue, transcode, download) against the same ffmpeg command run by hand on
# the same file: the overhead in %.
# BENCH_E2E_ONLY=1 runs only the end-to-end parts; BENCH_VIDEO_ONLY=1 only the video
# part; BENCH_NO_VIDEO=1 skips it; BENCH_NO_CEILINGS=1 skips the ceilings.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-32}
NJOBS=${BENCH_JOBS:-5000}
RUNS=${BENCH_RUNS:-3}
PACED_RATE=${BENCH_PACED_RATE:-500}
AMQP_MESSAGES=${BENCH_AMQP_MESSAGES:-20000}
WIDE=${BENCH_WIDE_CONCURRENCY:-8}
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
num() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "${3:-1}" ] || die "$1 must be a whole number >= ${3:-1}, not '$2'"; }
num BENCH_SECONDS "$SECS"
num BENCH_CONNS "$CONNS"
num BENCH_JOBS "$NJOBS"
num BENCH_RUNS "$RUNS"
num BENCH_PACED_RATE "$PACED_RATE"
num BENCH_AMQP_MESSAGES "$AMQP_MESSAGES"
num BENCH_WIDE_CONCURRENCY "$WIDE"

[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run scripts/stack.sh up first"
set -a
# shellcheck disable=SC1091
. "$RUN/stack.env"
set +a
for t in wrk curl jq psql pgbench; do command -v "$t" >/dev/null || die "'$t' is not installed (make deps)"; done
for t in pace mhd-hello amqp-rate; do
	[ -x "$ROOT/bin/bench/$t" ] || die "no $ROOT/bin/bench/$t: run 'make bench-bins' first"
done
U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || die "SPOOL_API_KEY is empty in $RUN/stack.env"
curl -fsS -o /dev/null "$U/health" || die "spool-api does not answer on $U"
pidof_daemon() { head -n1 "$RUN/pids/$1.pid" 2>/dev/null | tr -dc 0-9 || true; }
api_pid=$(pidof_daemon spool-api)
[ -n "$api_pid" ] && [ -r "/proc/$api_pid/stat" ] || die "no running spool-api in $RUN/pids/spool-api.pid"
worker_pid=$(pidof_daemon spool-worker)
[ -n "$worker_pid" ] && [ -r "/proc/$worker_pid/stat" ] || die "no running spool-worker in $RUN/pids/spool-worker.pid"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/spool-bench.XXXXXX")
# the scratch things of the ceilings, removed however the bench ends
hello_pid=
wide_pid=
scratch_schema=
worker_stopped=
cleanup() {
	[ -z "$hello_pid" ] || kill "$hello_pid" 2>/dev/null || true
	[ -z "$wide_pid" ] || { kill "$wide_pid" 2>/dev/null && sleep 1; } || true
	[ -z "$worker_stopped" ] || SPOOL_RUN_DIR=$RUN "$ROOT/scripts/stack.sh" start spool-worker >/dev/null 2>&1 || true
	[ -z "$scratch_schema" ] || psql "$SPOOL_PG_DSN" -XAtq -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $scratch_schema CASCADE" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
tag="bench-$$-$RANDOM"
HZ=$(getconf CLK_TCK)
AUTH="Authorization: Bearer $SPOOL_API_KEY"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# the whole machine's busy CPU time (ticks): user nice system irq softirq steal
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# ticks NAME: "pid=ticks ..." of every process named NAME, the CPU of their exited
# children included (the postmaster's backends, say: its cutime/cstime)
ticks() {
	local p
	for p in $(pgrep -x "$1"); do
		awk -v p="$p" '{ printf "%s=%d ", p, $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null || true # gone meanwhile
	done
}
# component_ticks: "machine|postgres|rabbitmq|api|worker", each service's as ticks()
component_ticks() { echo "$(machine_ticks)|$(ticks postgres)|$(ticks beam.smp)|$(ticks spool-api)|$(ticks spool-worker)"; }
# cpu_split BEFORE AFTER (component_ticks): "machine postgres rabbitmq api worker" ticks
# between the two
cpu_split() {
	local a b i out
	IFS='|' read -ra a <<<"$1"
	IFS='|' read -ra b <<<"$2"
	out=$((b[0] - a[0]))
	for i in 1 2 3 4; do out="$out $(ticks_delta "${a[i]:-}" "${b[i]:-}")"; done
	echo "$out"
}
# ticks_delta BEFORE AFTER: the ticks of the processes of AFTER since BEFORE (a process
# started in between counts from 0; one gone by AFTER, a worker stopped, is left out)
ticks_delta() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); was[kv[1]] = kv[2] }
		n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); d += kv[2] - was[kv[1]] }
		print d + 0 }'
}
q() { psql "$SPOOL_PG_DSN" -XAtq -c "$1"; }

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

# wrk_run NAME CONNS URL [BODY [PID]]: "name value" lines; the CPU per request is of
# PID (spool-api's unless given; none for "-")
wrk_run() {
	local name=$1 conns=$2 url=$3 body=${4:-} pid=${5:-$api_pid} c0=0 c1=0 line
	[ "$pid" = - ] || c0=$(cpu_ticks "$pid")
	line=$(BENCH_BODY=$body wrk -t2 -c"$conns" -d"${SECS}s" -s "$TMP/bench.lua" "$url" | grep '^RESULT') ||
		die "wrk on $url printed no result"
	[ "$pid" = - ] || c1=$(cpu_ticks "$pid")
	read -r _ n dur p50 p99 errs <<<"$line"
	awk -v name="$name" -v n="$n" -v d="$dur" -v p50="$p50" -v p99="$p99" -v e="$errs" \
		-v cpu=$((c1 - c0)) -v hz="$HZ" -v own="$pid" 'BEGIN {
		printf "%s_rps %.0f\n", name, n / d
		printf "%s_p50_ms %.3f\n", name, p50 / 1000
		printf "%s_p99_ms %.3f\n", name, p99 / 1000
		if (own != "-")
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

# parallel REQUEST-CONFIG: run a curl config (entries separated by "next") over 32
# keep-alive connections; prints the count of 2xx answers
parallel() {
	curl -sS --no-progress-meter --parallel --parallel-max 32 -K "$1" | grep -c '^2' || true
}

# wait_final TAG: until every job of the tag is final (10 minutes at most)
wait_final() {
	local left
	for _ in $(seq 1 1200); do
		left=$(q "SELECT count(*) FROM jobs WHERE params @> '{\"bench\": \"$1\"}' AND status NOT IN ('succeeded','failed','cancelled')")
		[ "$left" = 0 ] && return 0
		sleep 0.25
	done
	die "$left jobs of $1 not final after 5 minutes"
}

# e2e_saturated TAG: NJOBS submits over 32 parallel keep-alive connections, as fast as
# they are answered
e2e_saturated() {
	local t=$1 i accepted t0 t1 m0 m1
	{
		for ((i = 0; i < NJOBS; i++)); do
			printf 'url = "%s/v1/jobs"\nheader = "%s"\nheader = "Content-Type: application/json"\n' "$U" "$AUTH"
			printf 'data = "{\\"type\\":\\"noop\\",\\"params\\":{\\"bench\\":\\"%s\\"}}"\noutput = "/dev/null"\n' "$t"
			printf 'write-out = "%%{http_code}\\n"\n'
			[ $((i + 1)) -lt "$NJOBS" ] && echo next
		done
	} >"$TMP/submit.curl"
	m0=$(component_ticks)
	t0=$(date +%s.%N)
	accepted=$(parallel "$TMP/submit.curl")
	t1=$(date +%s.%N)
	[ "$accepted" = "$NJOBS" ] || die "only $accepted of $NJOBS submits were accepted"
	wait_final "$t"
	m1=$(component_ticks)
	q "SELECT count(*),
		count(*) / extract(epoch FROM max(finished_at) - min(created_at)),
		1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
		1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),
		count(*) FILTER (WHERE status <> 'succeeded')
	   FROM jobs WHERE params @> '{\"bench\": \"$t\"}'" |
		awk -F'|' -v t0="$t0" -v t1="$t1" -v m="$(cpu_split "$m0" "$m1")" -v hz="$HZ" '{
			printf "e2e_submit_rps %.0f\n", $1 / (t1 - t0)
			printf "e2e_jobs_per_s %.0f\n", $2
			printf "e2e_latency_p50_ms %.1f\n", $3
			printf "e2e_latency_p99_ms %.1f\n", $4
			split(m, c, " ")
			printf "e2e_cpu_ms_per_job %.2f\n", c[1] / hz * 1000 / $1
			# where it went: the services, then the rest (curl, the bench, the kernel threads)
			split("pg rabbitmq api worker", who, " ")
			rest = c[1]
			for (i = 2; i <= 5; i++) {
				printf "e2e_%s_cpu_ms_per_job %.2f\n", who[i - 1], c[i] / hz * 1000 / $1
				rest -= c[i]
			}
			printf "e2e_rest_cpu_ms_per_job %.2f\n", rest / hz * 1000 / $1
			printf "e2e_not_succeeded %d\n", $5
		}'
}

# pace_latency PACER-OUT TAG PREFIX: submit (the pacer's clock) -> finished_at p50/p99
# and the rate the jobs finished at, of the accepted jobs
pace_latency() {
	awk '$3 >= 200 && $3 < 300 && length($4) == 36 { print $4 "\t" $1 }' "$1" >"$TMP/paced.tsv"
	psql "$SPOOL_PG_DSN" -XAtq -v ON_ERROR_STOP=1 \
		-c "CREATE TEMP TABLE paced (id uuid, submitted float8)" \
		-c "\\copy paced FROM '$TMP/paced.tsv'" \
		-c "SELECT count(*),
			count(*) / extract(epoch FROM max(j.finished_at) - min(j.created_at)),
			1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at) - p.submitted),
			1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at) - p.submitted),
			count(*) FILTER (WHERE j.status <> 'succeeded')
		   FROM paced p JOIN jobs j ON j.id = p.id WHERE j.params @> '{\"bench\": \"$2\"}'" |
		awk -F'|' -v p="$3" '{
			printf "%s_jobs_per_s %.0f\n", p, $2
			printf "%s_latency_p50_ms %.1f\n", p, $3
			printf "%s_latency_p99_ms %.1f\n", p, $4
			printf "%s_not_succeeded %d\n", p, $5
		}'
}

# e2e_paced TAG: NJOBS offered at PACED_RATE jobs/s whatever the answers' pace
e2e_paced() {
	local t=$1 m0 m1
	m0=$(machine_ticks)
	SPOOL_API_KEY=$SPOOL_API_KEY "$ROOT/bin/bench/pace" "$U/v1/jobs" "$PACED_RATE" "$NJOBS" 32 \
		"{\"type\":\"noop\",\"params\":{\"bench\":\"$t\"}}" "$TMP/pace.out" >"$TMP/pace.summary" ||
		die "the pacer's submits failed: $(cat "$TMP/pace.summary")"
	wait_final "$t"
	m1=$(machine_ticks)
	sed -n 's/^pace_\(achieved_per_s\|answer_p99_ms\|late_max_ms\) /paced_submit_\1 /p' "$TMP/pace.summary"
	pace_latency "$TMP/pace.out" "$t" paced
	awk -v cpu=$((m1 - m0)) -v hz="$HZ" -v n="$NJOBS" 'BEGIN { printf "paced_cpu_ms_per_job %.2f\n", cpu / hz * 1000 / n }'
}

# queue_depth: the messages in spool.jobs
queue_depth() {
	curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.jobs" | jq -r '.messages // 0'
}

# cancel_queued TAG: cancel the tag's jobs that are still queued, through the API
cancel_queued() {
	local cursor=
	: >"$TMP/ids"
	while :; do
		curl -fsS -H "$AUTH" "$U/v1/jobs?status=queued&type=noop&limit=100${cursor:+&cursor=$cursor}" >"$TMP/page"
		jq -r --arg t "$1" '.jobs[] | select(.params.bench | startswith($t)) | .id' "$TMP/page" >>"$TMP/ids"
		cursor=$(jq -r '.next_cursor // empty' "$TMP/page")
		[ -n "$cursor" ] || break
	done
	[ -s "$TMP/ids" ] || return 0
	awk -v u="$U" -v a="$AUTH" '{
		if (NR > 1) print "next"
		printf "url = \"%s/v1/jobs/%s\"\nrequest = \"DELETE\"\nheader = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", u, $1, a
	}' "$TMP/ids" >"$TMP/cancel.curl"
	parallel "$TMP/cancel.curl" >/dev/null
}

stack() { SPOOL_RUN_DIR=$RUN "$ROOT/scripts/stack.sh" "$@" >"$TMP/stack.log" 2>&1 || die "scripts/stack.sh $*: $(tail -n3 "$TMP/stack.log")"; }

# e2e_wide TAG: e2e_saturated once more with a worker of BENCH_WIDE_CONCURRENCY (8) threads
# in place of the stack's (its config with that concurrency; the stack's worker is
# stopped meanwhile), printed as e2e_wide_*: with jobs that take no time a worker thread
# spends each job on two round trips (the claim, then the next delivery after its ack),
# so the default concurrency of 2 (sized for ffmpeg on two cores) bounds the rate
e2e_wide() {
	local t=$1 ini=$TMP/worker-wide.ini
	sed "s/^concurrency *=.*/concurrency = $WIDE/" "$SPOOL_WORKER_CONFIG" >"$ini"
	grep -q "^concurrency = $WIDE\$" "$ini" || die "no concurrency line in $SPOOL_WORKER_CONFIG"
	worker_stopped=1
	stack stop spool-worker
	"$ROOT/bin/spool-worker" -d -f "$ini" >"$TMP/worker-wide.log" 2>&1 &
	wide_pid=$!
	sleep 1
	kill -0 "$wide_pid" 2>/dev/null || die "the worker of concurrency $WIDE did not start: $(tail -n3 "$TMP/worker-wide.log")"
	e2e_saturated "$t" | sed 's/^e2e_/e2e_wide_/'
	kill "$wide_pid"
	wait "$wide_pid" 2>/dev/null || true
	wide_pid=
	stack start spool-worker
	worker_stopped=
	worker_pid=$(pidof_daemon spool-worker)
}

# submit_no_worker TAG: POST /v1/jobs at 32 and 64 connections with the worker stopped;
# then its jobs are cancelled, the worker started again, and the bench waits (5 minutes
# at most) until it has acked and dropped their messages, so that the queue is empty again
submit_no_worker() {
	local t=$1 d0 d1 left
	echo "worker_vmhwm_kib $(vmhwm "$worker_pid")" | emit
	worker_stopped=1
	stack stop spool-worker
	wrk_run submit_c32 32 "$U/v1/jobs" "{\"type\":\"noop\",\"params\":{\"bench\":\"$t-c32\"}}" | emit
	wrk_run submit_c64 64 "$U/v1/jobs" "{\"type\":\"noop\",\"params\":{\"bench\":\"$t-c\"}}" | emit
	cancel_queued "$t-c"
	stack start spool-worker
	worker_stopped=
	worker_pid=$(pidof_daemon spool-worker)
	d0=$(date +%s.%N)
	for _ in $(seq 1 600); do
		left=$(queue_depth) || break
		[ "$left" = 0 ] && break
		sleep 0.5
	done
	d1=$(date +%s.%N)
	awk -v a="$d0" -v b="$d1" 'BEGIN { printf "drain_s %.1f\n", b - a }' | emit
	[ "${left:-}" = 0 ] || die "spool.jobs still holds ${left:-?} messages after 5 minutes"
}

# ---- ceilings
# ceiling_pgbench: job creation's INSERT (shared/job.c's, with a tenant's default
# priority and no schedule) into scratch copies of jobs, job_events and outbox (their
# indexes, checks and the events' foreign key; sequences of their own)
ceiling_pgbench() {
	local s=bench_pgbench_$$
	scratch_schema=$s
	q "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $s CASCADE; CREATE SCHEMA $s;
	   CREATE TABLE $s.jobs (LIKE public.jobs INCLUDING ALL);
	   CREATE TABLE $s.job_events (LIKE public.job_events INCLUDING ALL);
	   CREATE TABLE $s.outbox (LIKE public.outbox INCLUDING ALL);
	   CREATE SEQUENCE $s.job_events_id_seq; CREATE SEQUENCE $s.outbox_id_seq;
	   ALTER TABLE $s.job_events ALTER id SET DEFAULT nextval('$s.job_events_id_seq'),
	     ADD FOREIGN KEY (job_id) REFERENCES $s.jobs (id) ON DELETE CASCADE;
	   ALTER TABLE $s.outbox ALTER id SET DEFAULT nextval('$s.outbox_id_seq')" >/dev/null
	cat >"$TMP/insert.sql" <<SQL
WITH u AS (INSERT INTO $s.jobs (tenant_id, type, source, params, callback_url,
     idempotency_key, max_attempts, status, run_at, due_at, priority)
   SELECT 'bench', 'noop', NULL::jsonb, '{"bench":"pgbench"}'::jsonb, NULL, NULL, 5,
     CASE WHEN s.ra > now() THEN 'scheduled' ELSE 'queued' END, s.ra, greatest(s.ra, now()),
     coalesce(NULL::text, coalesce((SELECT priority FROM public.tenant_priorities WHERE tenant IN ('bench', '*')
       ORDER BY tenant = '*' LIMIT 1), 'normal'))
   FROM (SELECT CASE WHEN 0::bigint > 0 THEN to_timestamp(0::bigint / 1000.0)
     WHEN 0::bigint > 0 THEN now() + 0::bigint * interval '1 second' END AS ra) s
   ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING *),
 e AS (INSERT INTO $s.job_events (job_id, event, status, attempt, detail)
   SELECT id, status, status, 0, NULL FROM u),
 o AS (INSERT INTO $s.outbox (exchange, routing_key, payload)
   SELECT 'spool.jobs', 'job', format('{"v":1,"job_id":"%s","type":%s,"attempt":%s}', id, to_json(type),
     attempts + 1) FROM u WHERE status = 'queued')
 SELECT * FROM u;
SQL
	pgbench_run "$TMP/insert.sql" ceil_pgbench_insert_tps latency
	# A job's whole life in the database: its creation as above (\gset keeps its id),
	# the worker's claim (CLAIM_SQL with no limits, its commit not waiting for the
	# WAL's flush, as the worker's) and its end (job_succeed, one job per statement;
	# the worker batches ends). Three commits per pgbench transaction: jobs/s, and the
	# whole machine's CPU per job with pgbench's own share, the floor under the end to
	# end figure's (the outbox's mark-sent, the broker and HTTP left out).
	{
		sed '$d' "$TMP/insert.sql"
		echo ' SELECT id FROM u \gset'
		cat <<SQL
WITH u AS (UPDATE $s.jobs j SET status = 'running', attempts = attempts + 1,
   worker_id = 'bench', lease_until = now() + 300 * interval '1 second',
   started_at = coalesce(started_at, now()), updated_at = now(), progress = NULL, deferred_at = NULL
   WHERE id = :id::uuid AND (status IN ('queued', 'retrying') OR (status = 'running' AND lease_until < now()))
   RETURNING *),
 e AS (INSERT INTO $s.job_events (job_id, at, event, status, attempt, worker_id)
   SELECT id, clock_timestamp(), 'started', 'running', attempts, worker_id FROM u)
 SELECT id, set_config('synchronous_commit', 'off', true) FROM u;
WITH u AS (UPDATE $s.jobs SET status = 'succeeded', result = NULL::jsonb, progress = 100,
   finished_at = now(), updated_at = now(), lease_until = NULL
   WHERE id = :id::uuid AND status = 'running' AND worker_id = 'bench' AND attempts = 1
   RETURNING *),
 e AS (INSERT INTO $s.job_events (job_id, event, status, attempt, worker_id)
   SELECT id, 'succeeded', 'succeeded', attempts, worker_id FROM u)
 SELECT id FROM u;
SQL
	} >"$TMP/job.sql"
	q "TRUNCATE $s.jobs CASCADE; TRUNCATE $s.outbox" >/dev/null
	pgbench_run "$TMP/job.sql" ceil_pgbench_job_per_s cpu
	# every job the script created ran its whole life (a claim or end that matched no row would not)
	q "SELECT 'ceil_pgbench_job_not_succeeded ' || count(*) FILTER (WHERE status <> 'succeeded') FROM $s.jobs" | emit
	q "SET client_min_messages = warning; DROP SCHEMA $s CASCADE" >/dev/null
	scratch_schema=
}

# pgbench_run SCRIPT NAME latency|cpu: pgbench (32 clients, $SECS s, prepared, generic
# plans as the daemons use) of SCRIPT; "NAME tps", then with latency pgbench's average
# latency (ceil_pgbench_latency_avg_ms), with cpu the whole machine's and PostgreSQL's
# CPU per pgbench transaction ("NAME_cpu_ms", "NAME_pg_cpu_ms")
pgbench_run() {
	local m0 m1 p0 p1
	m0=$(machine_ticks)
	p0=$(ticks postgres)
	PGOPTIONS="-c plan_cache_mode=force_generic_plan" pgbench -n -M prepared -c 32 -j 2 -T "$SECS" \
		-f "$1" "$SPOOL_PG_DSN" >"$TMP/pgbench.out" 2>&1 ||
		die "pgbench failed: $(tail -n5 "$TMP/pgbench.out")"
	m1=$(machine_ticks)
	p1=$(ticks postgres)
	awk -v name="$2" -v extra="$3" -v cpu=$((m1 - m0)) -v pg="$(ticks_delta "$p0" "$p1")" -v hz="$HZ" '
	     /^number of transactions actually processed: / { split($6, a, "/"); n = a[1] }
	     /^tps = / { printf "%s %.0f\n", name, $3 }
	     /^latency average = / && extra == "latency" { printf "ceil_pgbench_latency_avg_ms %.3f\n", $4 }
	     END { if (n > 0 && extra == "cpu") printf "%s_cpu_ms %.2f\n%s_pg_cpu_ms %.2f\n", name, cpu / hz * 1000 / n, name, pg / hz * 1000 / n }' "$TMP/pgbench.out" | emit
	# a run that finished no transaction prints no rate (its ceiling reads "-")
	grep -q '^tps = ' "$TMP/pgbench.out" ||
		echo "bench: pgbench printed no rate in ${SECS} s: $(grep -m1 'transactions actually processed' "$TMP/pgbench.out")" >&2
}

# ceiling_mhd: bin/bench/mhd-hello with spool-api's [api] threads, under wrk at 32
# connections, on the port after the stack's last (+31)
ceiling_mhd() {
	local port=$((SPOOL_PORT_BASE + 31)) threads
	threads=$(awk -F' *= *' '/^\[/ { sec = $0 } sec == "[api]" && $1 == "threads" { print $2 }' "$SPOOL_API_CONFIG")
	"$ROOT/bin/bench/mhd-hello" "$port" "${threads:-4}" &
	hello_pid=$!
	for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
	wrk_run ceil_mhd_hello 32 "http://127.0.0.1:$port/" "" - | grep -v '_errors ' | emit
	kill "$hello_pid"
	wait "$hello_pid" || true
	hello_pid=
}

# ceiling_amqp: publish with confirms (batched) and consume, a scratch quorum queue
ceiling_amqp() {
	local hostport=${SPOOL_AMQP_URL#*@}
	hostport=${hostport%%/*}
	AMQP_PASSWORD=$SPOOL_RABBITMQ_PASSWORD "$ROOT/bin/bench/amqp-rate" "${hostport%:*}" "${hostport##*:}" \
		"$SPOOL_RABBITMQ_USER" "$AMQP_MESSAGES" 100 | sed 's/^/ceil_/'
}

# soak SECONDS: open-loop load at half the peak end to end rate, RSS every minute
soak() {
	local secs=$1 every=${BENCH_SOAK_EVERY:-60} rate=${BENCH_SOAK_RATE:-} peak t0 now
	num BENCH_SOAK_EVERY "$every"
	if [ -z "$rate" ]; then
		peak=$(e2e_saturated "$tag-peak" | awk '$1 == "e2e_jobs_per_s" { print $2 }')
		rate=$(((peak + 1) / 2))
		echo "soak_peak_jobs_per_s $peak"
	fi
	num BENCH_SOAK_RATE "$rate"
	echo "soak_rate_per_s $rate"
	echo "soak_seconds $secs"
	SPOOL_API_KEY=$SPOOL_API_KEY "$ROOT/bin/bench/pace" "$U/v1/jobs" "$rate" $((rate * secs)) 32 \
		"{\"type\":\"noop\",\"params\":{\"bench\":\"$tag-soak\"}}" "$TMP/soak.out" >"$TMP/soak.summary" 2>"$TMP/soak.err" &
	local pid=$! rc=0
	t0=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		now=$(date +%s)
		printf 'soak_rss t=%ds api_kib=%s worker_kib=%s\n' $((now - t0)) "$(vmrss "$api_pid")" "$(vmrss "$worker_pid")"
		for _ in $(seq 1 "$every"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	done
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || die "the soak's submits failed: $(cat "$TMP/soak.err")"
	wait_final "$tag-soak"
	printf 'soak_rss t=%ds api_kib=%s worker_kib=%s\n' $(($(date +%s) - t0)) "$(vmrss "$api_pid")" "$(vmrss "$worker_pid")"
	sed -n 's/^pace_/soak_/p' "$TMP/soak.summary"
	pace_latency "$TMP/soak.out" "$tag-soak" soak
	echo "soak_api_vmhwm_kib $(vmhwm "$api_pid")"
	echo "soak_worker_vmhwm_kib $(vmhwm "$worker_pid")"
}

if [ -n "${BENCH_SOAK:-}" ]; then
	secs=$BENCH_SOAK
	[ "$secs" != 1 ] || secs=600
	num BENCH_SOAK "$secs"
	soak "$secs"
	exit 0
fi

# emit: "name value" lines of run $R, printed as "rR name value" and kept for the medians
R=0
emit() { sed -u "s/^/r$R /" | tee -a "$TMP/results"; }

# one_run: every figure and ceiling once
one_run() {
	local id t="$tag-r$R"
	if [ -z "${BENCH_E2E_ONLY:-}" ]; then
		wrk_run health "$CONNS" "$U/health" | emit
		id=$(curl -fsS -H "$AUTH" -H 'Content-Type: application/json' -d '{"type":"noop"}' "$U/v1/jobs" | jq -r .id)
		wrk_run get "$CONNS" "$U/v1/jobs/$id" | emit
	fi
	e2e_saturated "$t-sat" | emit
	e2e_paced "$t-paced" | emit
	if [ -z "${BENCH_NO_CEILINGS:-}" ]; then
		ceiling_pgbench
		ceiling_amqp | emit
		[ -n "${BENCH_E2E_ONLY:-}" ] || ceiling_mhd
	fi
	if [ -n "${BENCH_E2E_ONLY:-}" ]; then
		echo "worker_vmhwm_kib $(vmhwm "$worker_pid")" | emit
	else
		submit_no_worker "$t-wrk"
	fi
	# not in a pipeline: it changes worker_pid (the stack's worker is started again)
	e2e_wide "$t-wide" >"$TMP/wide.out"
	emit <"$TMP/wide.out"
	{
		echo "api_vmhwm_kib $(vmhwm "$api_pid")"
		echo "loadavg_1m $(cut -d' ' -f1 /proc/loadavg)"
	} | emit
}

echo "# $RUNS runs of every figure; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/results"
for ((R = 1; R <= RUNS; R++)); do one_run; done

# the median of each name over the runs (the mean of the middle two for an even count)
# and the spread, in the order the names first came
awk 'function fmt(x) { return x >= 100 || x == int(x) ? sprintf("%.0f", x) : sprintf("%.2f", x) }
     { if (!($2 in n)) order[++k] = $2; v[$2, ++n[$2]] = $3 }
     END {
	for (i = 1; i <= k; i++) {
		name = order[i]; c = n[name]
		for (a = 1; a <= c; a++) s[a] = v[name, a] + 0
		for (a = 2; a <= c; a++) for (b = a; b > 1 && s[b - 1] > s[b]; b--) { x = s[b]; s[b] = s[b - 1]; s[b - 1] = x }
		med = c % 2 ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
		printf "%s %s %s %s\n", name, fmt(med), fmt(s[1]), fmt(s[c])
	}
     }' "$TMP/results" >"$TMP/medians"
echo
echo "# median (min..max) of $RUNS runs"
awk '{ printf "%-34s %12s  (%s..%s)\n", $1, $2, $3, $4 }' "$TMP/medians"

# figure, ceiling (empty: none), what the ceiling is
cat >"$TMP/table" <<'TABLE'
health_rps ceil_mhd_hello_rps mhd-hello c32
get_rps ceil_mhd_hello_rps mhd-hello c32
get_p99_ms
submit_c32_rps ceil_pgbench_insert_tps pgbench INSERT c32
submit_c32_p99_ms
submit_c64_rps ceil_pgbench_insert_tps pgbench INSERT c32
submit_c64_p99_ms
e2e_jobs_per_s ceil_pgbench_insert_tps pgbench INSERT c32
e2e_jobs_per_s ceil_pgbench_job_per_s pgbench job's life c32
e2e_jobs_per_s ceil_amqp_publish_per_s AMQP publish+confirm
e2e_jobs_per_s ceil_amqp_consume_per_s AMQP consume+ack
e2e_latency_p50_ms
e2e_latency_p99_ms
e2e_cpu_ms_per_job ceil_pgbench_job_per_s_cpu_ms pgbench job's life CPU/job
e2e_pg_cpu_ms_per_job ceil_pgbench_job_per_s_pg_cpu_ms its PostgreSQL CPU/job
e2e_rabbitmq_cpu_ms_per_job
e2e_api_cpu_ms_per_job
e2e_worker_cpu_ms_per_job
e2e_rest_cpu_ms_per_job
e2e_wide_jobs_per_s ceil_pgbench_insert_tps pgbench INSERT c32
e2e_wide_jobs_per_s ceil_pgbench_job_per_s pgbench job's life c32
e2e_wide_latency_p50_ms
e2e_wide_cpu_ms_per_job
paced_jobs_per_s offered offered rate
paced_latency_p50_ms
paced_latency_p99_ms
paced_cpu_ms_per_job
api_vmhwm_kib
worker_vmhwm_kib
TABLE
echo
echo "# figure against its ceiling (medians)"
awk -v offered="$PACED_RATE" 'NR == FNR { m[$1] = $2; sp[$1] = $3 ".." $4; next }
     FNR == 1 { printf "%-28s %10s  %-20s %10s  %-26s %8s\n", "figure", "median", "(spread)", "ceiling", "(which)", "fraction" }
     {
	f = $1; if (!(f in m)) next
	c = ""; which = ""; frac = "-"
	if ($2 == "offered") { c = offered; which = "offered rate" }
	else if ($2 != "" && ($2 in m)) { c = m[$2]; which = $3; for (i = 4; i <= NF; i++) which = which " " $i }
	if (c != "" && c > 0) frac = sprintf("%.3f", m[f] / c)
	if (c == "" && (f in shown)) next  # its ceilings were not measured: once is enough
	shown[f] = 1
	printf "%-28s %10s  %-20s %10s  %-26s %8s\n", f, m[f], "(" sp[f] ")", (c == "" ? "-" : c), (which == "" ? "-" : which), frac
     }' "$TMP/medians" "$TMP/table"

[ -n "${BENCH_NO_VIDEO:-}" ] || [ -n "${BENCH_E2E_ONLY:-}" ] || { echo; video_bench; }
