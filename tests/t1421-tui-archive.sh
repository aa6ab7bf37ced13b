#!/usr/bin/env bash
# t1421 — the TUI's Archive screen driven in tmux. Two finished jobs of a tenant of
# the test's own (one succeeded with params and a result, one failed with an error,
# each with its history) are archived by a worker whose [retention] is 1s, as
# t1420 does; then `:archive` lists them (the last 7 days), `t` keeps the
# tenant's, the status tabs keep one status, Enter shows an archived job's params,
# result, error and events from its archived line, `e` exports the rows, and a
# range that holds nothing (`:archive SINCE`, `d`) lists nothing.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v tmux >/dev/null || skip_all "tmux is not installed"
[ -x bin/adminctl ] && [ -x bin/spool-worker ] || bail "the binaries are not built"
. tests/data/sched-lib.sh
sql "select 1" >/dev/null || bail "psql cannot reach the stack's database"

RUN=$$-$RANDOM
TEN="t1421-$RANDOM" # short enough for the TENANT column
# mk_job STATUS PARAMS RESULT ERROR: a finished job of $TEN with one event, as a worker
# leaves it; finished 2 s ago, not earlier: the Archive lists the newest first, and the
# jobs that the tests before this one finished on this stack must not push these two off
# the first screen
mk_job() {
	sql "with j as (insert into jobs (tenant_id, type, status, attempts, params, result, error, created_at, started_at, finished_at)
	       values ('$TEN', 'noop', '$1', 1, '$2', $3, $4, now() - interval '4 seconds', now() - interval '3 seconds',
	         now() - interval '2 seconds')
	       returning id, status, error),
	     e as (insert into job_events (job_id, event, status, attempt, worker_id, error)
	       select id, status, status, 1, 'w-t1421', error from j)
	     select id from j"
}
S=$(mk_job succeeded '{"t1421": "p-'$RUN'"}' "'{\"out\": \"r-$RUN\"}'" null)
F=$(mk_job failed '{"t1421": "q-'$RUN'"}' null "'{\"code\": \"e_t1421\", \"message\": \"it broke $RUN\"}'")
[[ $S =~ ^[0-9a-f-]{36}$ && $F =~ ^[0-9a-f-]{36}$ ]] || bail "cannot make the jobs: $S $F"

# ---- a worker of the test's own with [retention] 1s archives them (the stack's is stopped)
scripts/stack.sh stop spool-worker >/dev/null 2>&1 3>&-
at_exit 'scripts/stack.sh start spool-worker >/dev/null 2>&1 3>&-'
worker_own "t1421-$$" $'concurrency = 1\n[retention]\nsucceeded = 1s\nfailed = 1s\ncancelled = 1s\ninterval = 1s'
wait_sql 0 60 "SELECT count(*) FROM jobs WHERE id IN ('$S', '$F')" ||
	bail "the jobs were not archived: $(tail -n 5 "$T_TMP/t1421-$$.log")"
expect_eq "the worker archived both jobs: each left a tombstone" 2 \
	"$(sql "SELECT count(*) FROM job_tombstones WHERE id IN ('$S', '$F')")"
kill -TERM "$WPID"

# ---- the TUI
TM=(tmux -L "spooltest-$$")
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 180 -y 40 "bin/adminctl -f $SPOOL_ADMINCTL_CONFIG; echo EXIT; sleep 600"
. tests/data/tui-lib.sh
type_text() { "${TM[@]}" send-keys -l "$1"; sleep 0.3; }
colon() { keys : && keys C-u && type_text "$1" && keys Enter; } # TEXT: the command line `:TEXT`

expect_screen "the TUI starts on the Overview" 'Overview' 20
colon archive
expect_screen ":archive shows the archived jobs of the last 7 days" "archived jobs finished [0-9-]+T[0-9:]+Z – now" 10
expect_screen "… the succeeded job, with its status and tenant" "$S +succeeded +noop +$TEN" 20
expect_screen "… and the failed one, with its error" "$F +failed +noop +$TEN .* e_t1421: it broke $RUN" 5
# (the test's worker archives every finished job of the stack: others finished later
# may head the list, so the order is checked between the two jobs of the test)
expect_eq "… newest first: the failed job, finished last, comes before the succeeded one" "$F $S" \
	"$(screen | awk -v s="$S" -v f="$F" '$1 == s || $1 == f { printf "%s%s", sep, $1; sep = " " }')"

keys t && keys C-u && type_text "$TEN" && keys Enter
expect_screen "t: only the tenant's jobs" "tenant $TEN" 5
expect_screen "… two of them" $'\n2 archived jobs' 20
keys Right
expect_screen "→: the succeeded tab lists the succeeded job" "$S +succeeded" 20
if screen | grep -q "$F"; then fail "… not the failed one" "$(screen)"; else ok "… not the failed one"; fi
keys Right
expect_screen "→ again: the failed tab lists the failed job" "$F +failed" 20
if screen | grep -q "$S"; then fail "… not the succeeded one" "$(screen)"; else ok "… not the succeeded one"; fi

keys Enter
expect_screen "Enter shows the archived job" "job $F \(archived\)" 10
expect_screen "… its params" "\"t1421\": \"q-$RUN\"" 5
expect_screen "… its error" "\"code\": \"e_t1421\"" 5
expect_screen "… its archived events" "events \(1\)" 5
expect_screen "… the event with its worker" "failed +failed +#1 w-t1421" 5
keys q
expect_screen "q goes back to the Archive" "archived jobs finished" 5
keys Left
expect_screen "←: the succeeded tab" "$S +succeeded" 20
keys Enter
expect_screen "Enter on the succeeded job shows its result" "\"out\": \"r-$RUN\"" 10
keys q

keys e
expect_screen "e asks where to export" "export to \(.csv: CSV, else JSON lines\): adminctl-[^ ]*-archive-[0-9]{8}-[0-9]{6}\.jsonl" 5
keys C-u && type_text "$T_TMP/archive.jsonl" && keys Enter
expect_screen "… exports the row shown" "exported 1 rows \(JSON lines\) to $T_TMP/archive.jsonl" 10
expect_eq "the export holds the succeeded job with its params and result" \
	"$S succeeded $TEN p-$RUN r-$RUN null" \
	"$(jq -r '"\(.id) \(.status) \(.tenant) \(.params | fromjson | .t1421) \(.result | fromjson | .out) \(.error)"' \
		"$T_TMP/archive.jsonl" 2>&1)"

# ---- a range that holds nothing
colon "archive $(date -u -d tomorrow +%F)"
expect_screen ":archive SINCE: the range from that date" "archived jobs finished $(date -u -d tomorrow +%F)T00:00:00Z" 5
expect_screen "… where nothing matches" "no archived job matches" 20
keys d && keys C-u && type_text "1" && keys Enter
expect_screen "d 1: the last day again lists the succeeded job" "$S +succeeded" 20
keys d && keys C-u && type_text "not-a-date" && keys Enter
expect_screen "d with neither days nor a date says so" "archive: a number of days, or SINCE" 5

keys q && keys q
expect_screen "q, q: back to the Overview, then quit" "EXIT" 10

done_testing
