#!/usr/bin/env bash
# t0940 — make bench keeps working: its soak mode (BENCH_SOAK, at a tiny rate for
# 20 s) prints spool-api's and spool-worker's RSS at each interval and finishes every
# job it offered; one short run of the end-to-end figures and the ceilings prints
# the table of medians against ceilings and leaves no scratch schema or queue behind;
# a bad setting is refused.
# lane: first: its benchmark loads the machine on purpose
. "$(dirname "$0")/lib.sh"

for b in pace mhd-hello amqp-rate; do
	[ -x "bin/bench/$b" ] || bail "no bin/bench/$b: run 'make bench-bins' first"
done

# --- the soak: 5 jobs/s for 20 s, RSS every 5 s
out=$(BENCH_SOAK=20 BENCH_SOAK_RATE=5 BENCH_SOAK_EVERY=5 scripts/bench.sh 2>&1)
rc=$?
expect_eq "the soak exits 0" 0 "$rc"
rss=$(grep -cE '^soak_rss t=[0-9]+s api_kib=[1-9][0-9]* worker_kib=[1-9][0-9]*$' <<<"$out")
if [ "$rss" -ge 4 ]; then ok "it prints RSS lines with numbers ($rss)"; else fail "it prints RSS lines with numbers (4 or more, got $rss)" "$out"; fi
expect_eq "no RSS line without numbers" 0 "$(grep '^soak_rss' <<<"$out" | grep -cvE 'api_kib=[1-9][0-9]* worker_kib=[1-9][0-9]*$')"
expect_eq "it offered 5 jobs/s for 20 s" 100 "$(awk '$1 == "soak_sent" { print $2 }' <<<"$out")"
expect_eq "all were accepted" 100 "$(awk '$1 == "soak_accepted" { print $2 }' <<<"$out")"
expect_eq "all succeeded" 0 "$(awk '$1 == "soak_not_succeeded" { print $2 }' <<<"$out")"
expect_match "it prints the submit->finished p50" '^[0-9]+(\.[0-9]+)?$' "$(awk '$1 == "soak_latency_p50_ms" { print $2 }' <<<"$out")"

# --- one short run of the end-to-end figures and the ceilings (pgbench for 5 s: on a
# busy machine its 32 connections can take 2 s, and a run without a transaction done
# prints no rate)
out=$(BENCH_RUNS=1 BENCH_E2E_ONLY=1 BENCH_JOBS=100 BENCH_PACED_RATE=50 BENCH_AMQP_MESSAGES=500 \
	BENCH_SECONDS=5 scripts/bench.sh 2>&1)
rc=$?
expect_eq "a short bench run exits 0" 0 "$rc"
expect_match "it prints the medians" '# median \(min\.\.max\) of 1 runs' "$out"
sed -n '/^# figure/,$p' <<<"$out" | sed 's/^/# /'
row() { awk -v f="$1" -v c="$2" '$1 == f && $0 ~ c' <<<"$out"; }
expect_match "the table reads e2e jobs/s against pgbench's INSERT" \
	'^e2e_jobs_per_s +[0-9]+ +\([0-9]+\.\.[0-9]+\) +[0-9]+ +pgbench INSERT c32 +[0-9]+\.[0-9]+$' "$(row e2e_jobs_per_s 'pgbench INSERT')"
expect_match "and against pgbench running a job's whole life" \
	"^e2e_jobs_per_s +[0-9]+ .* [0-9]+ +pgbench job's life c32 +[0-9]+\\.[0-9]+\$" "$(row e2e_jobs_per_s "job's life")"
expect_eq "every job pgbench created ran its whole life" "r1 ceil_pgbench_job_not_succeeded 0" \
	"$(grep '^r1 ceil_pgbench_job_not_succeeded ' <<<"$out")"
expect_match "PostgreSQL's CPU per job against pgbench's" \
	"^e2e_pg_cpu_ms_per_job +[0-9.]+ .* [0-9.]+ +its PostgreSQL CPU/job +[0-9]+\\.[0-9]+\$" "$(row e2e_pg_cpu_ms_per_job PostgreSQL)"
# the services' shares and the rest add up to the whole machine's CPU per job (to rounding)
expect_eq "the CPU per job is split among the services and the rest" 1 "$(awk '
	$1 == "r1" && $2 == "e2e_cpu_ms_per_job" { all = $3 }
	$1 == "r1" && $2 ~ /^e2e_(pg|rabbitmq|api|worker|rest)_cpu_ms_per_job$/ { sum += $3; n++ }
	END { d = all - sum; print (n == 5 && all > 0 && d < 0.04 && d > -0.04) ? 1 : 0 }' <<<"$out")"
expect_match "and against the broker's publish rate" \
	'AMQP publish\+confirm +[0-9]+\.[0-9]+$' "$(row e2e_jobs_per_s publish)"
expect_match "the paced run against its offered rate" \
	'^paced_jobs_per_s +[0-9]+ .* 50 +offered rate +[0-9]+\.[0-9]+$' "$(row paced_jobs_per_s offered)"
expect_match "the run with a worker of 8 threads is in the table" \
	'^e2e_wide_jobs_per_s +[0-9]+ .* pgbench INSERT c32 +[0-9]+\.[0-9]+$' "$(row e2e_wide_jobs_per_s 'pgbench INSERT')"
pidf=$SPOOL_RUN_DIR/pids/spool-worker.pid
expect_eq "the stack's worker runs again after it" 0 "$(kill -0 "$(cat "$pidf" 2>/dev/null)" 2>/dev/null; echo $?)"
expect_eq "and the worker of 8 threads is gone" "" "$(pgrep -f 'spool-bench\.[^/]*/worker-wide\.ini' || true)"
expect_match "the paced p50 is measured" '^r1 paced_latency_p50_ms [0-9]+\.[0-9]+$' "$(grep '^r1 paced_latency_p50_ms' <<<"$out")"
expect_eq "pgbench's scratch schema is dropped" "" \
	"$(psql "$SPOOL_PG_DSN" -XAtq -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_pgbench_%'")"
expect_eq "amqp-rate's scratch queue is deleted" "" \
	"$(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F" |
		jq -r '.[].name | select(startswith("bench."))')"

# --- a bad setting is refused before anything runs
out=$(BENCH_RUNS=0 scripts/bench.sh 2>&1)
rc=$?
expect_eq "BENCH_RUNS=0 exits 1" 1 "$rc"
expect_match "naming the setting" "BENCH_RUNS must be a whole number" "$out"
done_testing
