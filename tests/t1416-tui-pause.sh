#!/usr/bin/env bash
# t1416 — pause, resume and limits of a job type and a tenant, from the CLI and from
# the TUI, audited. CLI: `adminctl pause type noop` shows in `adminctl limits`, the
# audit trail and /ready's paused list; tenant A's noop jobs are deferred while a
# media.probe job runs (a text file: it ends invalid_media, claimed all the same);
# the Paused metric by JobType=noop reaches the CloudWatch stand-in (when the stack
# publishes every 10 s or more often); `adminctl resume type noop` runs A's jobs.
# TUI, in a production context: the cursor selects type noop in the Overview's
# limits; `p` asks y/N, then the context's name (a wrong one refuses, nothing is
# paused), then pauses it as the CLI does (limits, audit limits.pause, /ready, B's
# jobs deferred while tenant D's media.probe runs); `u` resumes it (B's jobs run);
# the same for tenant C (limited to 5 by the CLI), whose jobs wait while D's run;
# `L` sets C's max running to 3, which `adminctl limits` shows; `:limit` makes it
# unlimited again. Read-only, p and :pause are refused.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/sched-lib.sh

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"
command -v tmux >/dev/null || skip_all "tmux is not installed"
worker_ensure

RUN=$(date +%s)
TA=t1416a-$RUN TB=t1416b-$RUN TC=t1416c-$RUN TD=t1416d-$RUN
KA=$(key "$TA") KB=$(key "$TB") KC=$(key "$TC") KD=$(key "$TD")
[ -n "$KA" ] && [ -n "$KB" ] && [ -n "$KC" ] && [ -n "$KD" ] || bail "cannot create API keys with adminctl"
at_exit "$ADM resume type noop >/dev/null 2>&1"
at_exit "sql \"DELETE FROM limits WHERE name LIKE 't1416%-$RUN'\" >/dev/null"
at_exit "$ADM job cancel \$(psql -X -At \"$SPOOL_PG_DSN\" -c \"SELECT id FROM jobs WHERE tenant_id LIKE 't1416%-$RUN' AND status IN ('queued', 'retrying', 'running')\") >/dev/null 2>&1"
AUDIT0=$(sql "SELECT coalesce(max(id), 0) FROM audit")
audits() { sql "SELECT count(*) FROM audit WHERE id > $AUDIT0 AND action = '$1' AND target = '$2' AND count = 1"; }
# limit SCOPE NAME: "MAX_RUNNING PAUSED" of its row in `adminctl limits --json` ("" when none)
limit() {
	$ADM --json limits | jq -r --arg s "$1" --arg n "$2" \
		'.[] | select(.scope == $s and .name == $n) | "\(.max_running) \(.paused)"'
}
ready_paused() { curl -fsS --max-time 10 "$SPOOL_API_URL/ready" | jq -r --arg n "$1" '.paused[] | select(. == $n)'; }
# ready_paused_now NAME WANT: ready_paused NAME once it is WANT, or its last answer after
# 3 s (/ready reuses its answer for 1 s, so a change right after a read shows a second later)
ready_paused_now() {
	local got
	for _ in $(seq 30); do
		got=$(ready_paused "$1")
		[ "$got" = "$2" ] && break
		sleep 0.1
	done
	printf '%s' "$got"
}
count() { sql "SELECT count(*) FROM jobs WHERE tenant_id = '$1' AND $2"; }
# probe_runs KEY: a media.probe job of a text file runs meanwhile (claimed: it fails invalid_media)
fake=$T_TMP/not-a-video.mp4
printf 'not a video\n' >"$fake"
probe_runs() {
	local src id job
	src=$(SPOOL_API_KEY=$1 upload "$fake") || return 1
	id=$(SPOOL_API_KEY=$1 submit media.probe "$src")
	job=$(SPOOL_API_KEY=$1 job_wait "$id" 60)
	[ "$(jq -r '.status + " " + .error.code' <<<"$job")" = "failed invalid_media" ]
}

# ---- a job type paused and resumed from the CLI ----------------------------------
since_ms=$(($(date +%s) * 1000))
check "adminctl pause type noop" $ADM pause type noop
expect_eq "adminctl limits: type noop paused, unlimited" "null true" "$(limit type noop)"
expect_eq "the audit trail has the pause of type noop" 1 "$(audits limits.pause type:noop)"
expect_status "/ready stays 200 while a type is paused" 200 "$SPOOL_API_URL/ready"
expect_eq "/ready lists type:noop as paused" type:noop "$(jq -r '.paused[] | select(. == "type:noop")' <<<"$BODY")"
A_IDS=$(for _ in 1 2; do submit_noop "$KA"; done)
wait_sql 2 30 "SELECT count(*) FROM jobs WHERE tenant_id = '$TA' AND deferred_at IS NOT NULL" ||
	fail "tenant A's 2 noop jobs are deferred" "$(sql "SELECT status, deferred_at FROM jobs WHERE tenant_id = '$TA'")"
if probe_runs "$KA"; then ok "a media.probe job runs while type noop is paused"; else fail "a media.probe job runs while type noop is paused"; fi
expect_eq "… and A's noop jobs still wait, deferred" 2 "$(count "$TA" "status = 'queued' AND deferred_at IS NOT NULL")"
interval=$(sed -n 's/^interval = \([0-9]*\)s$/\1/p' "$SPOOL_WORKER_CONFIG" | head -n1)
if grep -q '^enabled = true' "$SPOOL_WORKER_CONFIG" && [ "${interval:-60}" -le 10 ]; then
	if wait_latest 1 $((interval * 4 + 20)) Paused JobType noop "$since_ms"; then
		ok "the Paused metric by JobType=noop is 1"
	else
		fail "the Paused metric by JobType=noop is 1" "latest: $(latest Paused JobType noop "$since_ms")"
	fi
else
	ok "# SKIP the Paused metric: [cloudwatch] is off or its interval is over 10 s"
fi
check "adminctl resume type noop" $ADM resume type noop
expect_eq "the audit trail has the resume of type noop" 1 "$(audits limits.resume type:noop)"
expect_eq "/ready no longer lists type:noop" "" "$(ready_paused_now type:noop "")"
wait_sql 2 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TA' AND status = 'succeeded'" ||
	fail "A's noop jobs run after the resume" "$(sql "SELECT status, deferred_at FROM jobs WHERE tenant_id = '$TA'")"
ok "A's noop jobs ran after the resume ($(echo $A_IDS | wc -w) jobs)"

# ---- the TUI, in a production context ---------------------------------------------
CTX=$T_TMP/adminctl.ini
{
	echo "[context prod]"
	echo "production = true"
	cat "$SPOOL_ADMINCTL_CONFIG"
} >"$CTX"
TM=(tmux -L "spooltest-$$")
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 160 -y 60 "bin/adminctl -f $CTX -C prod; sleep 600"
. tests/data/tui-lib.sh
type_text() { "${TM[@]}" send-keys -l "$1"; sleep 0.3; }
# select_row SCOPE NAME: the Overview's cursor onto the limits row of SCOPE NAME, found by
# what `p` asks about (Esc answers no)
select_row() {
	local i
	keys g
	for ((i = 0; i < 60; i++)); do
		keys p
		wait_screen 'y/N' 5 || return 1
		if [[ $(screen) =~ "pause $1 $2 (" ]]; then
			keys Escape
			return 0
		fi
		keys Escape
		keys j
	done
	return 1
}
# confirm KEY: KEY, y, then the production context's name
confirm() {
	keys "$1"
	wait_screen 'y/N' 5 || fail "$1 asks y/N" "$(screen)"
	keys y
	wait_screen "production context: type 'prod' to go on:" 5 || fail "$1: the context's name is asked" "$(screen)"
	type_text prod
	keys Enter
}
expect_screen "the Overview's limits show type noop" 'type +noop +unlimited ' 20
if select_row type noop; then ok "the cursor selects type noop"; else fail "the cursor selects type noop" "$(screen)"; fi

keys p
expect_screen "p asks y/N" 'pause type noop \(its jobs wait, running ones finish\)\? y/N' 5
keys y
expect_screen "in production it asks for the context's name" "production context: type 'prod' to go on:" 5
type_text staging && keys Enter
expect_screen "a wrong name refuses" "refused: the name typed is not 'prod'; nothing done" 5
sleep 1
expect_eq "… and type noop is not paused" "null false" "$(limit type noop)"
confirm p
wait_sql t 20 "SELECT paused FROM limits WHERE scope = 'type' AND name = 'noop'" || fail "p paused type noop"
expect_eq "adminctl limits: type noop paused by the TUI" "null true" "$(limit type noop)"
expect_eq "the audit trail has the TUI's pause of type noop, as the CLI's" 2 "$(audits limits.pause type:noop)"
expect_eq "/ready lists type:noop" type:noop "$(ready_paused_now type:noop type:noop)"
expect_screen "the Overview shows type noop PAUSED" 'type +noop +unlimited .* PAUSED' 15
B_IDS=$(for _ in 1 2; do submit_noop "$KB"; done)
wait_sql 2 30 "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND deferred_at IS NOT NULL" ||
	fail "tenant B's noop jobs are deferred" "$(sql "SELECT status, deferred_at FROM jobs WHERE tenant_id = '$TB'")"
if probe_runs "$KD"; then ok "D's media.probe job runs meanwhile"; else fail "D's media.probe job runs meanwhile"; fi
expect_eq "… and B's noop jobs still wait" 2 "$(count "$TB" "status = 'queued'")"
confirm u
wait_sql f 20 "SELECT paused FROM limits WHERE scope = 'type' AND name = 'noop'" ||
	fail "u resumed type noop" "$(screen; sql "SELECT action, target FROM audit WHERE id > $AUDIT0 ORDER BY id")"
expect_eq "the audit trail has the TUI's resume of type noop" 2 "$(audits limits.resume type:noop)"
expect_eq "/ready no longer lists type:noop" "" "$(ready_paused_now type:noop "")"
wait_sql 2 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND status = 'succeeded'" ||
	fail "B's noop jobs run after the TUI's resume"
ok "B's noop jobs ran after the TUI's resume ($(echo $B_IDS | wc -w) jobs)"

# ---- a tenant: C, limited to 5 by the CLI, in the limits ----------------------------
check "limits set tenant C --max-running 5" $ADM limits set tenant "$TC" --max-running 5
expect_screen "the Overview's limits show tenant C, limited to 5" "tenant +$TC +5 +0 " 20
if select_row tenant "$TC"; then ok "the cursor selects tenant C"; else fail "the cursor selects tenant C" "$(screen)"; fi
confirm p
wait_sql t 20 "SELECT paused FROM limits WHERE scope = 'tenant' AND name = '$TC'" || fail "p paused tenant C"
expect_eq "adminctl limits: tenant C paused, its limit kept" "5 true" "$(limit tenant "$TC")"
expect_eq "the audit trail has the TUI's pause of tenant C" 1 "$(audits limits.pause "tenant:$TC")"
expect_eq "/ready lists tenant C" "tenant:$TC" "$(ready_paused_now "tenant:$TC" "tenant:$TC")"
C_IDS=$(for _ in 1 2; do submit_noop "$KC"; done)
D_IDS=$(for _ in 1 2; do submit_noop "$KD"; done)
wait_sql 2 30 "SELECT count(*) FROM jobs WHERE tenant_id = '$TC' AND deferred_at IS NOT NULL" ||
	fail "tenant C's jobs are deferred"
wait_sql 2 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TD' AND type = 'noop' AND status = 'succeeded'" ||
	fail "tenant D's jobs run while C is paused"
ok "D's noop jobs ran while C is paused"
expect_eq "… and C's 2 jobs still wait" 2 "$(count "$TC" "status = 'queued'")"
confirm u
wait_sql f 20 "SELECT paused FROM limits WHERE scope = 'tenant' AND name = '$TC'" ||
	fail "u resumed tenant C" "$(screen; sql "SELECT action, target FROM audit WHERE id > $AUDIT0 ORDER BY id")"
expect_eq "the audit trail has the TUI's resume of tenant C" 1 "$(audits limits.resume "tenant:$TC")"
wait_sql 2 60 "SELECT count(*) FROM jobs WHERE tenant_id = '$TC' AND status = 'succeeded'" ||
	fail "C's jobs run after the TUI's resume"
ok "C's jobs ran after the TUI's resume ($(echo $C_IDS $D_IDS | wc -w) jobs of C and D)"

# ---- a limit: L on tenant C -----------------------------------------------------------
keys L
expect_screen "L asks for the max running of tenant C" "max running for tenant $TC \(a number, or 'unlimited'\):" 5
type_text x3 && keys Enter
expect_screen "a malformed number is refused" "limit: a whole number from 0 to 1000000 or 'unlimited', not 'x3'" 5
keys L
type_text 3 && keys Enter
expect_screen "… then y/N" "set max running of tenant $TC to 3\? y/N" 5
keys y
wait_screen "production context: type 'prod' to go on:" 5 && type_text prod && keys Enter
wait_sql 3 20 "SELECT max_running FROM limits WHERE scope = 'tenant' AND name = '$TC'" || fail "L set tenant C's limit"
expect_eq "adminctl limits: tenant C limited to 3" "3 false" "$(limit tenant "$TC")"
expect_eq "the audit trail has limits.set of tenant C with max_running 3" 1 \
	"$(sql "SELECT count(*) FROM audit WHERE id > $AUDIT0 AND action = 'limits.set' AND target = 'tenant:$TC' AND detail->>'max_running' = '3'")"
expect_screen "the Overview shows tenant C's limit 3" "tenant +$TC +3 " 15

# ---- the commands: :limit and :pause name any tenant or type ---------------------------
keys : && type_text "pause type" && keys Enter
expect_screen ":pause without a name says what it wants" ':pause wants tenant\|type NAME' 5
keys : && type_text "limit tenant $TC unlimited" && keys Enter
expect_screen ":limit asks y/N" "set max running of tenant $TC to unlimited\? y/N" 5
keys y
wait_screen "production context: type 'prod' to go on:" 5 && type_text prod && keys Enter
wait_sql 1 20 "SELECT count(*) FROM limits WHERE scope = 'tenant' AND name = '$TC' AND max_running IS NULL" ||
	fail ":limit made tenant C unlimited"
expect_eq "adminctl limits: tenant C unlimited again" "null false" "$(limit tenant "$TC")"
expect_eq "the audit trail has :limit's limits.set of tenant C" 1 \
	"$(sql "SELECT count(*) FROM audit WHERE id > $AUDIT0 AND action = 'limits.set' AND target = 'tenant:$TC' AND detail->'max_running' = 'null'")"
"${TM[@]}" kill-server

# ---- read-only: p refused, nothing paused --------------------------------------------
# a tmux server of its own: a new session on the socket of the one just killed can reach
# that server while it exits, and go down with it
TM=(tmux -L "spooltest-ro-$$")
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 160 -y 60 "bin/adminctl -f $SPOOL_ADMINCTL_CONFIG --read-only; sleep 600"
expect_screen "read-only: the Overview's limits show tenant C" "tenant +$TC +unlimited " 20
keys p
expect_screen "read-only: p is refused in the status line" 'read-only: pause, resume and limits are disabled' 5
keys : && type_text nosuch && keys Enter
expect_screen "an unknown command replaces the message" "unknown command ':nosuch'" 5
keys : && type_text "pause tenant $TC" && keys Enter
expect_screen "read-only: :pause is refused too" 'read-only: pause, resume and limits are disabled' 5
sleep 1
expect_eq "… and tenant C is not paused" "null false" "$(limit tenant "$TC")"
"${TM[@]}" kill-server
done_testing
