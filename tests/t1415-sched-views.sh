#!/usr/bin/env bash
# t1415 — what operators see of scheduling. Tenant W: 2 jobs queued whose messages
# were purged (waiting, no row of its own in limits); tenant V limited to 1: one
# of its 6 jobs of 10 s running, the others deferred; tenant P paused: 2 deferred; tenant S: one job
# scheduled an hour ahead. `adminctl limits` (table and --json) shows each with
# its limit, running, waiting, deferred, pause and the age of its oldest waiting
# job, W's limit marked as the default's; the TUI's Overview shows the same rows;
# `adminctl jobs --status scheduled` and the TUI's Jobs list show S's run_at; the
# TUI's audit trail shows the pause and the resume of P.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/sched-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"
command -v tmux >/dev/null || skip_all "tmux is not installed"

RUN=$(date +%s)
TW=t1415-w-$RUN TV=t1415-v-$RUN TP=t1415-p-$RUN TS=t1415-s-$RUN
KW=$(key "$TW") KV=$(key "$TV") KP=$(key "$TP") KS=$(key "$TS")
[ -n "$KW" ] && [ -n "$KV" ] && [ -n "$KP" ] && [ -n "$KS" ] || bail "cannot create API keys with adminctl"
at_exit "sql \"DELETE FROM limits WHERE name LIKE 't1415-%-$RUN'\" >/dev/null"
at_exit "$ADM job cancel \$(psql -X -At \"$SPOOL_PG_DSN\" -c \"SELECT id FROM jobs WHERE tenant_id LIKE 't1415-%-$RUN' AND status IN ('scheduled', 'queued', 'retrying', 'running')\") >/dev/null 2>&1"
# ---- W's jobs without a message (no worker while they are published), S's scheduled
scripts/stack.sh stop spool-worker >/dev/null 2>&1 || bail "cannot stop the stack's worker"
at_exit "scripts/stack.sh start spool-worker >/dev/null 2>&1"
submit_noop "$KW" >/dev/null
submit_noop "$KW" >/dev/null
S_ID=$(submit_noop "$KS" ',"delay":3600')
wait_sql 0 30 "SELECT count(*) FROM outbox WHERE sent_at IS NULL" || fail "the outbox is sent"
purge_jobs_queue || fail "purge spool.jobs"
scripts/stack.sh start spool-worker >/dev/null 2>&1 || bail "cannot start the stack's worker"

# ---- V limited to 1 (one of 6 jobs of 10 s runs, the rest deferred), P paused (2 deferred)
check "limits set tenant V --max-running 1" $ADM limits set tenant "$TV" --max-running 1
check "pause tenant P" $ADM pause tenant "$TP"
for _ in 1 2 3 4 5 6; do submit_noop "$KV" ',"params":{"duration_ms":10000}' >/dev/null; done
submit_noop "$KP" >/dev/null
submit_noop "$KP" >/dev/null
wait_sql "1 5" 40 "SELECT count(*) FILTER (WHERE status = 'running') || ' ' || count(*) FILTER (WHERE deferred_at IS NOT NULL)
	FROM jobs WHERE tenant_id = '$TV'" || fail "tenant V: 1 running, 5 deferred" \
	"$(sql "SELECT status, deferred_at FROM jobs WHERE tenant_id = '$TV'")"
wait_sql 2 40 "SELECT count(*) FROM jobs WHERE tenant_id = '$TP' AND deferred_at IS NOT NULL" ||
	fail "tenant P: 2 deferred"

# ---- adminctl limits -----------------------------------------------------------
# the table (tab-separated when not a terminal): NAME MAX PAUSED RUNNING WAITING DEFERRED
table=$($ADM limits 2>/dev/null)
row() { awk -F'\t' -v n="$1" '$1 == "tenant" && $2 == n { print $3 "|" $4 "|" $5 "|" $6 "|" $7 }' <<<"$table"; }
# V's deferred jobs start one by one every 10 s: 1 to 5 are left while the test looks
expect_eq "limits: the header" "SCOPE NAME MAX RUNNING PAUSED RUNNING WAITING DEFERRED OLDEST PRIORITY UPDATED BY" \
	"$(head -n 1 <<<"$table" | tr '\t' ' ')"
expect_match "limits: V limited to 1, 1 running, 0 waiting, 1 to 5 deferred" '^1[|]no[|]1[|]0[|][1-5]$' "$(row "$TV")"
expect_eq "limits: P paused, 2 deferred" "unlimited|paused|0|0|2" "$(row "$TP")"
expect_eq "limits: W without a row of its own, 2 waiting" "unlimited|no|0|2|0" "$(row "$TW")"
json=$($ADM --json limits)
expect_eq "limits --json: W is not a row of its own, waits 2, its oldest for seconds" "false 2 yes" \
	"$(jq -r --arg n "$TW" '.[] | select(.scope == "tenant" and .name == $n) |
		"\(.own) \(.waiting) \(if .oldest_waiting_s > 1 then "yes" else "no" end)"' <<<"$json")"
expect_match "limits --json: V's row of its own, 1 running, deferred ones" '^true 1 1 [1-5]$' \
	"$(jq -r --arg n "$TV" '.[] | select(.scope == "tenant" and .name == $n) | "\(.own) \(.max_running) \(.running) \(.deferred)"' <<<"$json")"
expect_eq "limits --json: the noop type counts V's, P's and W's waiting and deferred jobs" yes \
	"$(jq -r '.[] | select(.scope == "type" and .name == "noop") | if .waiting >= 2 and .deferred >= 3 and .running >= 1 then "yes" else "no" end' <<<"$json")"
# a default '*' applies to W: its limit shows as the default's
check "limits set tenant '*' --max-running 50" $ADM limits set tenant '*' --max-running 50
at_exit "sql \"DELETE FROM limits WHERE scope = 'tenant' AND name = '*'\" >/dev/null"
expect_eq "limits: W's limit is the default's, marked (*)" "50 (*)|no|0|2|0" "$(table=$($ADM limits 2>/dev/null); row "$TW")"

# ---- the scheduled job's run_at ----------------------------------------------------
run_at=$(sql "SELECT to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM jobs WHERE id = '$S_ID'")
expect_match "adminctl jobs --status scheduled shows S's job with its run_at" "^${S_ID:0:8}.*scheduled.*$run_at" \
	"$($ADM jobs --status scheduled 2>/dev/null | tr '\t' ' ' | grep "^${S_ID:0:8}")"

# ---- the TUI --------------------------------------------------------------------
TM=(tmux -L "spooltest-$$")
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 160 -y 60 "bin/adminctl -f $SPOOL_ADMINCTL_CONFIG; sleep 600"
screen() { "${TM[@]}" capture-pane -p; }
keys() { "${TM[@]}" send-keys "$@"; sleep 0.3; }
expect_screen() { # WHAT REGEX [SECONDS]
	local i
	for ((i = 0; i < ${3:-10} * 5; i++)); do
		if [[ $(screen) =~ $2 ]]; then
			ok "$1"
			return 0
		fi
		sleep 0.2
	done
	fail "$1" "screen does not match: $2
$(screen)"
}
expect_screen "Overview: the columns" 'scope +name +max +running +waiting +deferred +oldest +paused' 15
expect_screen "Overview: V limited to 1, 1 running, deferred ones, waiting for seconds" \
	"tenant +$TV +1 +1 +0 +[1-5] +[0-9]+[sm] +no" 10
expect_screen "Overview: P paused with 2 deferred" "tenant +$TP +unlimited +0 +0 +2 +[0-9]+[sm] +PAUSED" 5
expect_screen "Overview: W, under the default, 2 waiting" "tenant +$TW +50 \(\*\) +0 +2 +0 +[0-9]+[sm] +no" 5
# the Jobs list: S's job (searched by its id) with its run_at
keys 2
expect_screen "the Jobs screen" 'search: -' 10
keys / && "${TM[@]}" send-keys -l "${S_ID:0:8}" && keys Enter
expect_screen "Jobs: the run at column" 'id +type +status +tries +created +run at' 5
expect_screen "Jobs: S's scheduled job with its run_at" "${S_ID:0:8} +noop +scheduled +0/[0-9]+ +[0-9-]+ [0-9:]+ +${run_at/T/ }" 10
# the audit trail: P's pause, then its resume
check "resume tenant P" $ADM resume tenant "$TP"
keys 1
keys a
expect_screen "audit: the pause of P" "limits\.pause +tenant:$TP " 10
expect_screen "audit: the resume of P" "limits\.resume +tenant:$TP " 10
"${TM[@]}" kill-server
wait_sql 2 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TP' AND status = 'succeeded'" ||
	fail "tenant P's jobs run after resume"
ok "tenant P's jobs ran after the resume"
done_testing
