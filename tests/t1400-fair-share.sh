#!/usr/bin/env bash
# t1400 — fair share between tenants, per-type limits, pause and resume, with two
# workers (the stack's and one of the test's own, concurrency 4) claiming at once.
# Tenant A, limited to 2 running jobs, submits 200 noop jobs of 300 ms and tenant B
# then 5: B's jobs start within a job's duration and a bounded slack of their
# submission (A's backlog alone would take 30 s); sampled often, A never has more
# than 2 running, nor do the jobs' started/finished events ever overlap by more
# than 2; each of A's jobs runs once, in one attempt, some after being deferred.
# The noop type limited to 1: never 2 running. Tenant D paused: submissions
# accepted, the running job finishes, the new ones are held back at publish (never
# queued) and stay deferred through a restart of both workers; /ready lists the
# pause and stays 200, the TUI's Overview shows it; resume runs them, each once.
# A pause lifted without a wake-up: the workers' sweep runs the job it deferred.
# Every change is audited.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/sched-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"

RUN=$(date +%s)
TA=t1400-a-$RUN TB=t1400-b-$RUN TC=t1400-c-$RUN TD=t1400-d-$RUN
KA=$(key "$TA") KB=$(key "$TB") KC=$(key "$TC") KD=$(key "$TD")
[ -n "$KA" ] && [ -n "$KB" ] && [ -n "$KC" ] && [ -n "$KD" ] || bail "cannot create API keys with adminctl"
at_exit "sql \"DELETE FROM limits WHERE name LIKE 't1400-%-$RUN' OR (scope = 'type' AND name = 'noop')\" >/dev/null"

# submit KEY DURATION_MS: one noop job; prints its id
submit() {
	curl -fsS --max-time 40 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"type\":\"noop\",\"params\":{\"duration_ms\":$2}}" "$SPOOL_API_URL/v1/jobs" | json_id
}
export -f submit
# overlap WHERE: the most jobs (matching WHERE on jobs j) running at once by their
# events: each one's 'started' to its end, and how many were started by then and not ended
overlap() {
	sql "WITH iv AS (SELECT e.job_id, min(e.at) FILTER (WHERE e.event = 'started') s,
		max(e.at) FILTER (WHERE e.event IN ('succeeded', 'failed', 'cancelled', 'retrying', 'requeued')) f
		FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $1 GROUP BY e.job_id)
		SELECT coalesce(max((SELECT count(*) FROM iv b WHERE b.s <= a.s AND (b.f IS NULL OR b.f > a.s))), 0)
		FROM iv a WHERE a.s IS NOT NULL"
}
worker_own t1400-w2 "concurrency = 4"

# ---- tenant A limited to 2, tenant B unlimited ------------------------------
check "limits set tenant A --max-running 2" $ADM limits set tenant "$TA" --max-running 2
expect_eq "limits --json shows it" "2 false" \
	"$($ADM --json limits | jq -r --arg n "$TA" '.[] | select(.scope == "tenant" and .name == $n) | "\(.max_running) \(.paused)"')"
sample "$T_TMP/a-running" "SELECT count(*) FROM jobs WHERE status = 'running' AND tenant_id = '$TA'" &
SAMPLER=$!
at_exit "touch $T_TMP/a-running.stop"
seq 200 | xargs -P 8 -I{} bash -c 'submit "$0" 300' "$KA" >"$T_TMP/a-ids"
expect_eq "tenant A: 200 jobs accepted" 200 "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/a-ids")"
for _ in 1 2 3 4 5; do submit "$KB" 300; done >"$T_TMP/b-ids"
expect_eq "tenant B: 5 jobs accepted" 5 "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/b-ids")"
wait_sql 5 30 "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND status = 'succeeded'" ||
	fail "tenant B's jobs finish within 30 s"
# a B job waits for a free thread (a job's 0.3 s), for the deferral of the A messages
# ahead of it in spool.jobs and for the API's publisher: 5 s of slack on a loaded machine
waits=$(sql "SELECT round(extract(epoch FROM started_at - created_at)::numeric, 2) FROM jobs
	WHERE tenant_id = '$TB' ORDER BY created_at")
worst=$(sort -n <<<"$waits" | tail -n 1)
if awk -v w="$worst" 'BEGIN { exit !(w != "" && w <= 5.3) }'; then
	ok "tenant B's jobs start within 5.3 s of submission behind A's 200 (waits: $(echo $waits))"
else
	fail "tenant B's jobs start within 5.3 s of submission behind A's 200" "waits: $(echo $waits)"
fi
wait_sql 200 150 "SELECT count(*) FROM jobs WHERE tenant_id = '$TA' AND status = 'succeeded'" ||
	fail "tenant A's 200 jobs finish within 150 s" "$(sql "SELECT status, count(*) FROM jobs WHERE tenant_id = '$TA' GROUP BY 1")"
touch "$T_TMP/a-running.stop"
wait "$SAMPLER"
expect_eq "tenant A: the sampler ran (over 50 samples)" yes "$([ "$(wc -l <"$T_TMP/a-running")" -gt 50 ] && echo yes)"
expect_eq "tenant A: at most 2 running at any sample, 2 at some" 2 "$(sort -n "$T_TMP/a-running" | tail -n 1)"
expect_eq "tenant A: at most 2 running by the jobs' events" 2 "$(overlap "j.tenant_id = '$TA'")"
expect_eq "tenant A: each job succeeded once, in one attempt" "200 200 200" "$(once "j.tenant_id = '$TA'")"
deferred=$(sql "SELECT count(DISTINCT e.job_id) FROM job_events e JOIN jobs j ON j.id = e.job_id
	WHERE j.tenant_id = '$TA' AND e.event = 'deferred' AND e.detail->>'reason' = 'tenant limit'")
expect_match "tenant A: jobs were deferred for the tenant limit, not retried" '^[1-9][0-9]*$' "$deferred"
expect_eq "tenant B: each job succeeded once, in one attempt" "5 5 5" "$(once "j.tenant_id = '$TB'")"

# ---- the noop type limited to 1 across both workers --------------------------
check "limits set type noop --max-running 1" $ADM limits set type noop --max-running 1
sample "$T_TMP/noop-running" "SELECT count(*) FROM jobs WHERE status = 'running' AND type = 'noop'" &
SAMPLER=$!
at_exit "touch $T_TMP/noop-running.stop"
seq 12 | xargs -P 6 -I{} bash -c 'submit "$0" 300' "$KC" >"$T_TMP/c-ids"
expect_eq "tenant C: 12 jobs accepted" 12 "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/c-ids")"
wait_sql 12 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TC' AND status = 'succeeded'" ||
	fail "tenant C's jobs finish within 60 s"
touch "$T_TMP/noop-running.stop"
wait "$SAMPLER"
expect_eq "type noop: 1 running at most at any sample" 1 "$(sort -n "$T_TMP/noop-running" | tail -n 1)"
expect_eq "type noop: 1 running at most by the jobs' events" 1 "$(overlap "j.tenant_id = '$TC'")"
expect_eq "tenant C: each job succeeded once, in one attempt" "12 12 12" "$(once "j.tenant_id = '$TC'")"
expect_match "tenant C: jobs deferred for the type limit" '^[1-9][0-9]*$' \
	"$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.tenant_id = '$TC'
		AND e.event = 'deferred' AND e.detail->>'reason' = 'type limit'")"
check "limits set type noop --unlimited" $ADM limits set type noop --unlimited

# ---- pause and resume tenant D, across a restart of the workers --------------
d_long=$(submit "$KD" 6000)
wait_sql 1 20 "SELECT count(*) FROM jobs WHERE id = '$d_long' AND status = 'running'" ||
	fail "tenant D: a long job running"
check "pause tenant D" $ADM pause tenant "$TD"
d_new=$(for _ in 1 2 3 4; do submit "$KD" 300; done)
expect_eq "tenant D paused: 4 submissions accepted" 4 "$(grep -c '^[0-9a-f-]\{36\}$' <<<"$d_new")"
NEW="j.tenant_id = '$TD' AND j.id IN ($(printf "'%s'," $d_new | sed 's/,$//'))"
wait_sql succeeded 20 "SELECT status FROM jobs WHERE id = '$d_long'" ||
	fail "tenant D paused: the running job finishes"
wait_sql 4 20 "SELECT count(*) FROM jobs j WHERE $NEW AND deferred_at IS NOT NULL" ||
	fail "tenant D paused: the new jobs are deferred"
sleep 3 # nothing may start meanwhile
expect_eq "tenant D paused: none of the new jobs started, all still queued" "0 4" \
	"$(sql "SELECT (SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $NEW AND e.event = 'started'),
		(SELECT count(*) FROM jobs j WHERE $NEW AND status = 'queued')" | tr '|' ' ')"
expect_eq "tenant D paused: deferred for the pause, no attempt spent" "4 0" \
	"$(sql "SELECT count(DISTINCT e.job_id), (SELECT coalesce(sum(attempts), 0) FROM jobs j WHERE $NEW)
		FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $NEW AND e.event = 'deferred'
		AND e.detail->>'reason' = 'tenant paused'" | tr '|' ' ')"
expect_eq "tenant D paused: held back at publish, their messages never queued" 4 \
	"$(sql "SELECT count(DISTINCT e.job_id) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $NEW
		AND e.event = 'deferred' AND e.detail->>'actor' IN ('publisher', 'wake-up')")"
# the TUI's Overview shows the pause, with the deferred jobs
TM=(tmux -L "spooltest-$$")
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 160 -y 60 "bin/adminctl -f $SPOOL_ADMINCTL_CONFIG; sleep 600"
tui_shows() {
	local i
	for ((i = 0; i < 50; i++)); do
		"${TM[@]}" capture-pane -p | grep -Eq "$1" && return 0
		sleep 0.2
	done
	return 1
}
if tui_shows "tenant +$TD +unlimited +0 +0 +4 +[0-9]+[smhd]( [0-9]+[mh])? +PAUSED"; then
	ok "the TUI's Overview shows tenant D paused with 4 deferred jobs"
else
	fail "the TUI's Overview shows tenant D paused with 4 deferred jobs" "$("${TM[@]}" capture-pane -p)"
fi
"${TM[@]}" kill-server
expect_status "/ready stays 200 while a tenant is paused" 200 "$SPOOL_API_URL/ready"
expect_eq "/ready lists the paused tenant" "tenant:$TD" "$(jq -r --arg n "tenant:$TD" '.paused[] | select(. == $n)' <<<"$BODY")"

# both workers restart: the pause is in PostgreSQL
kill -TERM "$WPID"
wait "$WPID" 2>/dev/null || true
scripts/stack.sh stop spool-worker >/dev/null 2>&1
scripts/stack.sh start spool-worker >/dev/null 2>&1 || fail "the stack's worker restarts"
worker_own t1400-w2b "concurrency = 4"
sleep 4 # the workers' sweep (every 3 s) passes at least once
expect_eq "tenant D paused after the workers restarted: none started" 0 \
	"$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE $NEW AND e.event = 'started'")"
expect_eq "limits --json: tenant D paused, 4 deferred" "true 4" \
	"$($ADM --json limits | jq -r --arg n "$TD" '.[] | select(.scope == "tenant" and .name == $n) | "\(.paused) \(.deferred)"')"

check "resume tenant D" $ADM resume tenant "$TD"
wait_sql 4 30 "SELECT count(*) FROM jobs j WHERE $NEW AND status = 'succeeded'" ||
	fail "tenant D resumed: the deferred jobs run"
expect_eq "tenant D: each job succeeded once, in one attempt" "5 5 5" "$(once "j.tenant_id = '$TD'")"
expect_status "/ready after the resume" 200 "$SPOOL_API_URL/ready"
expect_eq "/ready no longer lists tenant D" "" "$(jq -r --arg n "tenant:$TD" '.paused[] | select(. == $n)' <<<"$BODY")"
# ---- a missed wake-up: the workers' sweep (every 3 s) wakes the job -----------
TE=t1400-e-$RUN
KE=$(key "$TE")
check "pause tenant E" $ADM pause tenant "$TE"
e_job=$(submit "$KE" 0)
wait_sql 1 20 "SELECT count(*) FROM jobs WHERE id = '$e_job' AND deferred_at IS NOT NULL" ||
	fail "tenant E paused: its job is deferred"
# lifted behind adminctl's back: nothing wakes the job but the sweep
sql "UPDATE limits SET paused = false WHERE scope = 'tenant' AND name = '$TE'" >/dev/null
wait_sql succeeded 15 "SELECT status FROM jobs WHERE id = '$e_job'" ||
	fail "tenant E: the sweep wakes the deferred job and it runs, within 15 s"
expect_eq "tenant E: woken by a worker's sweep, once, in one attempt" "1 1 1" \
	"$(sql "SELECT (SELECT count(*) FROM job_events WHERE job_id = j.id AND event = 'woken'
		AND detail->>'actor' <> 'claim'), (SELECT count(*) FROM job_events WHERE job_id = j.id
		AND event = 'started'), attempts FROM jobs j WHERE id = '$e_job'" | tr '|' ' ')"

expect_eq "the changes are audited" "limits.set limits.pause limits.resume" \
	"$(sql "SELECT string_agg(action, ' ' ORDER BY id) FROM audit WHERE target IN ('tenant:$TA', 'tenant:$TD')")"
expect_eq "noop's limits audited" 2 "$(sql "SELECT count(*) FROM audit WHERE action = 'limits.set'
	AND target = 'type:noop' AND at > to_timestamp($RUN)")"

done_testing
