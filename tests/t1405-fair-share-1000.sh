#!/usr/bin/env bash
# t1405 — fair share at scale. A worker of the test's own with 48 threads beside
# the stack's (noop jobs only sleep). Tenant A, limited to 40 running jobs,
# submits 1,000 noop jobs of 2 s each (10 keys, keep-alive connections); tenant
# B then submits 10. Each of B's jobs starts within one job's duration plus a
# slack of 8 s of its submission, though A's backlog takes about 50 s; sampled
# all along, A never has more than 40 running, nor do its jobs' events overlap
# by more; every A job succeeds exactly once (one attempt, one started and one
# succeeded event). Prints B's start delays (max, p50), A's total time and the
# peak of A's running jobs. Most of A's backlog is held back at publish
# (deferred by the publisher, README "Scheduling"), so B's messages are not
# queued behind it.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/sched-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"

N=1000 NB=10 DUR_MS=2000 LIMIT=40 THREADS=48 SLACK_S=8
RUN=$(date +%s)
TA=t1405-a-$RUN TB=t1405-b-$RUN
for ((i = 0; i < 10; i++)); do key "$TA"; done >"$T_TMP/a-keys"
key "$TB" >"$T_TMP/b-keys"
[ "$(grep -c . "$T_TMP/a-keys")" = 10 ] && [ -s "$T_TMP/b-keys" ] || bail "cannot create API keys with adminctl"
at_exit "sql \"DELETE FROM limits WHERE name LIKE 't1405-%-$RUN'\" >/dev/null"
at_exit "$ADM job cancel \$(psql -X -At \"$SPOOL_PG_DSN\" -c \"SELECT id FROM jobs WHERE tenant_id LIKE 't1405-%-$RUN' AND status IN ('queued', 'retrying', 'running')\") >/dev/null 2>&1"
BODY="{\"type\":\"noop\",\"params\":{\"duration_ms\":$DUR_MS}}"

worker_own t1405-w "concurrency = $THREADS"
check "limits set tenant A --max-running $LIMIT" $ADM limits set tenant "$TA" --max-running "$LIMIT"
sample "$T_TMP/a-running" "SELECT count(*) FROM jobs WHERE status = 'running' AND tenant_id = '$TA'" &
SAMPLER=$!
at_exit "touch $T_TMP/a-running.stop"

# ---- A's 1,000, then B's 10 -------------------------------------------------------
py_file tests/tools/submit-many.py "$SPOOL_API_URL" "$T_TMP/a-keys" "$N" "$BODY" 4 >"$T_TMP/a-ids" 2>"$T_TMP/a-submit" ||
	fail "tenant A's submission" "$(cat "$T_TMP/a-submit")"
expect_eq "tenant A: $N jobs accepted ($(tail -n 1 "$T_TMP/a-submit"))" "$N" "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/a-ids")"
py_file tests/tools/submit-many.py "$SPOOL_API_URL" "$T_TMP/b-keys" "$NB" "$BODY" 1 >"$T_TMP/b-ids" 2>"$T_TMP/b-submit" ||
	fail "tenant B's submission" "$(cat "$T_TMP/b-submit")"
expect_eq "tenant B: $NB jobs accepted" "$NB" "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/b-ids")"
expect_eq "tenant B submitted while A's backlog waits (A's succeeded < $((N / 2)))" yes \
	"$([ "$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$TA' AND status = 'succeeded'")" -lt $((N / 2)) ] && echo yes)"

wait_sql "$NB" 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND status = 'succeeded'" ||
	fail "tenant B's jobs finish within 60 s" "$(sql "SELECT status, count(*) FROM jobs WHERE tenant_id = '$TB' GROUP BY 1")"
read -r bmax bp50 <<<"$(sql "SELECT round(max(w)::numeric, 2), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w)::numeric, 2)
	FROM (SELECT extract(epoch FROM started_at - created_at) w FROM jobs WHERE tenant_id = '$TB') x" | tr '|' ' ')"
bound=$(awk -v d="$DUR_MS" -v s="$SLACK_S" 'BEGIN { print d / 1000 + s }')
expect_eq "tenant B's jobs start within ${bound} s of submission (max ${bmax} s, p50 ${bp50} s)" yes \
	"$(awk -v w="$bmax" -v b="$bound" 'BEGIN { print (w != "" && w <= b) ? "yes" : "no" }')"

wait_sql "$N" 400 "SELECT count(*) FROM jobs WHERE tenant_id = '$TA' AND status = 'succeeded'" ||
	fail "tenant A's $N jobs finish within 400 s" "$(sql "SELECT status, count(*) FROM jobs WHERE tenant_id = '$TA' GROUP BY 1")"
touch "$T_TMP/a-running.stop"
wait "$SAMPLER"
a_total=$(sql "SELECT round(extract(epoch FROM max(finished_at) - min(created_at))::numeric, 1) FROM jobs WHERE tenant_id = '$TA'")
peak=$(sort -n "$T_TMP/a-running" | tail -n 1)
events_peak=$(sql "WITH ev AS (SELECT e.at, CASE WHEN e.event = 'started' THEN 1 ELSE -1 END AS d
		FROM job_events e JOIN jobs j ON j.id = e.job_id
		WHERE j.tenant_id = '$TA' AND e.event IN ('started', 'succeeded', 'failed', 'retrying', 'requeued', 'cancelled'))
	SELECT coalesce(max(s), 0) FROM (SELECT sum(d) OVER (ORDER BY at, d ROWS UNBOUNDED PRECEDING) AS s FROM ev) x")
expect_eq "tenant A: the sampler ran (over 50 samples)" yes "$([ "$(wc -l <"$T_TMP/a-running")" -gt 50 ] && echo yes)"
expect_eq "tenant A: at most $LIMIT running at any sample (peak $peak)" yes "$([ "$peak" -le "$LIMIT" ] && echo yes)"
expect_eq "tenant A: at most $LIMIT running by the jobs' events (peak $events_peak)" yes \
	"$([ "$events_peak" -le "$LIMIT" ] && echo yes)"
expect_eq "tenant A: each of the $N jobs succeeded once, in one attempt" "$N $N $N" "$(once "j.tenant_id = '$TA'")"
expect_eq "tenant B: each job succeeded once, in one attempt" "$NB $NB $NB" "$(once "j.tenant_id = '$TB'")"
expect_match "tenant A: jobs were deferred for the tenant limit" '^[1-9][0-9]*$' \
	"$(sql "SELECT count(DISTINCT e.job_id) FROM job_events e JOIN jobs j ON j.id = e.job_id
		WHERE j.tenant_id = '$TA' AND e.event = 'deferred' AND e.detail->>'reason' = 'tenant limit'")"
held=$(sql "SELECT count(DISTINCT e.job_id) FROM job_events e JOIN jobs j ON j.id = e.job_id
	WHERE j.tenant_id = '$TA' AND e.event = 'deferred' AND e.detail->>'actor' IN ('publisher', 'wake-up')")
expect_eq "tenant A: most of its backlog was held back at publish, not queued ($held jobs)" yes \
	"$([ "$held" -ge $((N / 2)) ] && echo yes)"
echo "# figures: B's start delays max ${bmax} s, p50 ${bp50} s; A's $N jobs of $((DUR_MS / 1000)) s took ${a_total} s" \
	"(submission $(sed -n 's/^submitted [0-9]* in \(.*\)$/\1/p' "$T_TMP/a-submit")); A's peak running $peak (samples), $events_peak (events), limit $LIMIT"
done_testing
