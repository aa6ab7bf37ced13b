#!/usr/bin/env bash
# t1412 — the scheduling metrics reach CloudWatch (the AWS stand-in) with the
# values of a known set of jobs: tenant P paused with 3 noop jobs deferred,
# tenant W with 4 jobs queued whose messages were purged (no worker takes them:
# waiting), tenant S with 2 jobs scheduled an hour ahead. Two workers of the
# test's own publish JobsWaiting / JobsDeferred / JobsScheduled by Tenant, the
# Paused gauge (1 by Tenant=P) and OldestWaitingAge; the stats_turns row lets
# one of them a turn per interval, not both. After resume, P's jobs run and
# JobWaitTime (by JobType=noop) has their samples, at least their time deferred;
# P's deferred count falls to 0 and its Paused series stops.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/sched-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"
grep -q '^enabled = true' "$SPOOL_WORKER_CONFIG" || skip_all "[cloudwatch] is not enabled in $SPOOL_WORKER_CONFIG"
interval=$(sed -n 's/^interval = \([0-9]*\)s$/\1/p' "$SPOOL_WORKER_CONFIG" | head -n1)
[ "${interval:-60}" -le 10 ] || skip_all "[cloudwatch] interval is ${interval:-60}s; this test wants <= 10s"

RUN=$(date +%s)
TW=t1410-w-$RUN TP=t1410-p-$RUN TS=t1410-s-$RUN
KW=$(key "$TW") KP=$(key "$TP") KS=$(key "$TS")
[ -n "$KW" ] && [ -n "$KP" ] && [ -n "$KS" ] || bail "cannot create API keys with adminctl"
at_exit "sql \"DELETE FROM limits WHERE name LIKE 't1410-%-$RUN'\" >/dev/null"
# ---- the jobs: P's deferred by its pause (the stack's worker claims them) -----
check "pause tenant P" $ADM pause tenant "$TP"
at_exit "$ADM resume tenant $TP >/dev/null 2>&1"
P_IDS=$(for _ in 1 2 3; do submit_noop "$KP"; done)
wait_sql 3 30 "SELECT count(*) FROM jobs WHERE tenant_id = '$TP' AND deferred_at IS NOT NULL" ||
	fail "tenant P's 3 jobs are deferred" "$(sql "SELECT status, deferred_at FROM jobs WHERE tenant_id = '$TP'")"
P_DEFERRED_AT=$(date +%s.%N)

# ---- W's queued without a message, S's scheduled ----------------------------------
scripts/stack.sh stop spool-worker >/dev/null 2>&1 || bail "cannot stop the stack's worker"
at_exit "scripts/stack.sh start spool-worker >/dev/null 2>&1"
W_IDS=$(for _ in 1 2 3 4; do submit_noop "$KW"; done)
S_IDS=$(for _ in 1 2; do submit_noop "$KS" ',"delay":3600'; done)
at_exit "$ADM job cancel $(echo $W_IDS $S_IDS) >/dev/null 2>&1"
expect_eq "4 W jobs and 2 S jobs accepted" 6 "$(echo $W_IDS $S_IDS | wc -w)"
wait_sql 0 30 "SELECT count(*) FROM outbox WHERE sent_at IS NULL" || fail "the outbox is sent"
purge_jobs_queue || fail "purge spool.jobs"

# ---- two workers publish; one per interval computes ------------------------------
since_ms=$(($(date +%s) * 1000))
worker_own t1410-a $'concurrency = 2\nredrive_after = 1h'
A_PID=$WPID
worker_own t1410-b $'concurrency = 2\nredrive_after = 1h'
wait_latest 4 $((interval * 4 + 20)) JobsWaiting Tenant "$TW" "$since_ms" ||
	fail "JobsWaiting by Tenant=W reaches 4" "latest: $(latest JobsWaiting Tenant "$TW" "$since_ms")"
ok "JobsWaiting by Tenant=W is 4"
expect_eq "JobsDeferred by Tenant=W is 0" 0 "$(latest JobsDeferred Tenant "$TW" "$since_ms")"
expect_eq "JobsDeferred by Tenant=P is 3" 3 "$(latest JobsDeferred Tenant "$TP" "$since_ms")"
expect_eq "JobsWaiting by Tenant=P is 0" 0 "$(latest JobsWaiting Tenant "$TP" "$since_ms")"
expect_eq "JobsScheduled by Tenant=S is 2" 2 "$(latest JobsScheduled Tenant "$TS" "$since_ms")"
expect_eq "Paused by Tenant=P is 1" 1 "$(latest Paused Tenant "$TP" "$since_ms")"
total=$(latest JobsWaiting - - "$since_ms")
expect_eq "JobsWaiting without dimensions counts W's 4 at least ($total)" yes \
	"$(awk -v t="$total" 'BEGIN { print (t != "none" && t >= 4) ? "yes" : "no" }')"
paused=$(latest Paused - - "$since_ms")
expect_eq "Paused without dimensions counts P ($paused)" yes \
	"$(awk -v t="$paused" 'BEGIN { print (t != "none" && t >= 1) ? "yes" : "no" }')"
age=$(latest OldestWaitingAge - - "$since_ms")
expect_eq "OldestWaitingAge is at least P's time deferred ($age s)" yes \
	"$(awk -v a="$age" -v t0="$P_DEFERRED_AT" -v now="$since_ms" 'BEGIN { print (a != "none" && a >= now / 1000 - t0 - 1) ? "yes" : "no" }')"
unit=$(jq -rs '[.[] | select(.name == "OldestWaitingAge")] | last | .unit' "$METRICS")
expect_eq "OldestWaitingAge is in Seconds" Seconds "$unit"

# one computation per interval, whichever worker: over a window of 4 intervals
w0=$(($(date +%s) * 1000))
sleep $((interval * 4))
w1=$(($(date +%s) * 1000))
n=$(jq -rs --argjson a "$w0" --argjson b "$w1" \
	'[.[] | select(.name == "JobsWaiting" and (.dims | length) == 0 and .ts >= $a and .ts < $b)] | length' "$METRICS")
expect_eq "two workers computed JobsWaiting about once per interval over 4 ($n times, not 8)" yes \
	"$([ "$n" -ge 2 ] && [ "$n" -le 5 ] && echo yes)"
# computed SINCE_MS: how many times JobsWaiting without dimensions was put after SINCE_MS
computed() {
	jq -rs --argjson a "$1" '[.[] | select(.name == "JobsWaiting" and (.dims | length) == 0 and .ts >= $a)] | length' "$METRICS"
}
kill -9 "$A_PID"
w0=$(($(date +%s) * 1000))
for ((i = 0; i < interval * 3; i++)); do
	[ "$(computed "$w0")" -ge 1 ] && break
	sleep 1
done
n=$(computed "$w0")
expect_eq "with one worker killed the other computes them ($n times within 3 intervals)" yes "$([ "$n" -ge 1 ] && echo yes)"

# ---- resume: P's jobs run, JobWaitTime has them ---------------------------------
check "resume tenant P" $ADM resume tenant "$TP"
resumed_ms=$(($(date +%s) * 1000))
wait_sql 3 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TP' AND status = 'succeeded'" ||
	fail "tenant P's jobs succeed after resume"
waited=$(awk -v t0="$P_DEFERRED_AT" -v now="$resumed_ms" 'BEGIN { printf "%d", now / 1000 - t0 }')
found=
for ((i = 0; i < interval * 4 + 20; i++)); do
	found=$(jq -rs --argjson t "$resumed_ms" '[.[] | select(.name == "JobWaitTime" and .ts >= $t and
		(.dims | length) == 1 and .dims[0].Name == "JobType" and .dims[0].Value == "noop")] | if length == 0 then "none" else
		"\(map(.count) | add) \(map(.max) | max)" end' "$METRICS")
	[ "$found" != none ] && [ "${found%% *}" -ge 3 ] && break
	sleep 1
done
read -r cnt mx <<<"$found"
expect_eq "JobWaitTime by JobType=noop: P's 3 samples at least ($cnt)" yes "$([ "$cnt" != none ] && [ "$cnt" -ge 3 ] && echo yes)"
expect_eq "JobWaitTime's maximum ($mx s) is at least P's time deferred ($waited s)" yes \
	"$(awk -v m="$mx" -v w="$waited" 'BEGIN { print (m != "" && m >= w) ? "yes" : "no" }')"
after=$(($(date +%s) * 1000))
# until P's JobsDeferred is 0, or two computations after resume went without it (the
# second starts an interval after the first, whose puts are all in by then)
for ((i = 0; i < interval * 4 + 20; i++)); do
	[ "$(latest JobsDeferred Tenant "$TP" "$after")" = 0 ] || [ "$(computed "$after")" -ge 2 ] && break
	sleep 1
done
latest_p=$(latest JobsDeferred Tenant "$TP" "$after")
expect_eq "JobsDeferred by Tenant=P after resume: 0 or not published" yes \
	"$([ "$latest_p" = 0 ] || [ "$latest_p" = none ] && echo yes)"
expect_eq "Paused by Tenant=P is no longer published" none "$(latest Paused Tenant "$TP" "$after")"
done_testing
