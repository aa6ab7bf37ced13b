#!/usr/bin/env bash
# t1071 — the TUI's Failures screen driven in tmux: `f` on the Overview shows the
# failure groups, where jobs whose messages differ only in numbers, paths and ids
# are one group with their count; Enter lists the group's jobs; R resolves the
# group into a frozen selection and asks for its count, n declines it (nothing
# changes), R then y retries exactly the group's jobs, audited with the selection.
# The stack's worker is stopped for the test, so that retried jobs stay queued.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || skip_all "tmux is not installed"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"
sql() { psql -X -q -At "$SPOOL_PG_DSN" -c "$1" 2>&1; }
sql "select 1" >/dev/null || bail "psql cannot reach the stack's database"

scripts/stack.sh stop spool-worker >/dev/null 2>&1 3>&-
at_exit 'scripts/stack.sh start spool-worker >/dev/null 2>&1 3>&-'

TEN="t1071-$$-$RANDOM"
G="e_tui_$RANDOM"
mk_failed() { # MESSAGE: a job failed with code $G as a worker leaves it
	sql "with j as (insert into jobs (tenant_id, type, status, attempts, error, finished_at)
	       values ('$TEN', 'noop', 'failed', 1,
	         jsonb_build_object('code', '$G', 'message', \$m\$$1\$m\$, 'permanent', true), now()) returning id, error),
	     e as (insert into job_events (job_id, event, status, attempt, error) select id, 'failed', 'failed', 1, error from j)
	     select id from j"
}
ids=()
for i in 7 42 1234; do
	ids+=("$(mk_failed "ffmpeg exited $i reading /tmp/job-$i/in.mp4 at 0x${i}af")")
done
sorted=$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')

# the same order as the screen's: the groups' position of ours
pos=$(bin/adminctl --json failures | jq --arg c "$G" '[.groups[].code] | index($c)')
grp=$(bin/adminctl --json failures | jq -r --arg c "$G" '.groups[] | select(.code == $c) | .group')
[[ $pos =~ ^[0-9]+$ && -n $grp ]] || bail "adminctl failures does not show the group: $pos"

TM=(tmux -L "spooltest-$$")
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 120 -y 40 \
	"bin/adminctl -f $SPOOL_ADMINCTL_CONFIG; echo \$? >$T_TMP/exit; echo EXIT; sleep 600"
. tests/data/tui-lib.sh

expect_screen "the TUI starts on the Overview" 'Overview' 20
keys f
expect_screen "f shows the failure groups" 'Failure groups' 10
expect_screen "our three failures are one group, with its signature" \
	"$grp +3 .* $G: ffmpeg exited <n> reading <path> at <hex>" 15
for ((i = 0; i < pos; i++)); do keys j; done
keys Enter
expect_screen "Enter lists the group's jobs" "Failure group $grp" 10
expect_screen "… all three of them" "${ids[2]} +failed +noop" 10
got=$(screen | grep -oE '^ +[0-9a-f-]{36} +failed' | awk '{ print $1 }' | sort | tr '\n' ' ')
expect_eq "… exactly them" "$sorted" "$got"

audit_before=$(sql "select coalesce(max(id), 0) from audit")
keys R
expect_screen "R resolves the group and asks for the count" "retry 3 jobs of group $grp \(selection [0-9]+\)\? y/N" 15
keys n
expect_screen "n declines it" 'not confirmed: nothing done' 10
expect_eq "… and nothing changed" "failed failed failed" \
	"$(sql "select string_agg(status, ' ') from jobs where tenant_id = '$TEN'")"
keys R
expect_screen "R asks again" "retry 3 jobs of group $grp \(selection [0-9]+\)\? y/N" 15
sel=$(screen | sed -nE 's/.*\(selection ([0-9]+)\)\? y\/N.*/\1/p' | head -n 1)
keys y
expect_screen "y retries the group" "retry: 3 of 3 jobs done \(selection $sel\), 0 skipped" 20
expect_eq "the group's jobs are queued with fresh attempts" "queued 0|queued 0|queued 0" \
	"$(sql "select string_agg(status || ' ' || attempts, '|') from jobs where tenant_id = '$TEN'")"
expect_eq "the audit trail names the selection" "bulk.retry selection:$sel 3 group" \
	"$(sql "select action || ' ' || target || ' ' || count || ' ' || (detail->>'scope') from audit
	        where id > $audit_before and action like 'bulk.%'")"
expect_eq "the declined selection is kept as declined, the other done" "declined done" \
	"$(sql "select string_agg(state, ' ' order by id) from selections where id > (
	        select coalesce(max(id), 0) from selections where id < $sel) - 1 and filter = 'group=$grp'")"

keys q
expect_screen "q goes back to the Overview" 'Overview' 10
keys q
for _ in $(seq 50); do [ -f "$T_TMP/exit" ] && break; sleep 0.2; done
expect_eq "q quits with 0" 0 "$(cat "$T_TMP/exit" 2>/dev/null)"

sql "update jobs set status = 'cancelled' where tenant_id = '$TEN' and status = 'queued'" >/dev/null
done_testing
