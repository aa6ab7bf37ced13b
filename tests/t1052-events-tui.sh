#!/usr/bin/env bash
# t1052 — the TUI in tmux: `:` with Tab completion opens the Events screen, which
# shows a new job's job.started and job.succeeded as they happen; p pauses it (a
# later job shows only once resumed); Enter opens the job of the selected event and
# q goes back to the events; an unknown command is said so in the status line; `!`
# negates the Jobs screen's search (the count is psql's); `?` lists every key of
# `adminctl tui --keys` and the commands; `:quit` exits 0.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || skip_all "tmux is not installed"
curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"

TENANT=t1052-$$
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$TENANT" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
submit() { # TYPE [SOURCE-KEY]: the new job's id
	local body='{"type":"'$1'"}'
	[ -n "${2:-}" ] && body=$(jq -cn --arg t "$1" --arg k "$2" '{type: $t, source: {key: $k}}')
	curl -fsS --max-time 30 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$body" \
		"$SPOOL_API_URL/v1/jobs" | json_id
}
wait_job() { curl -fsS --max-time 40 -H "Authorization: Bearer $KEY" "$SPOOL_API_URL/v1/jobs/$1?wait=30" | jq -r .status; }
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }

TM=(tmux -L "spooltest-$$")
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 120 -y 30 \
	"bin/adminctl -f $SPOOL_ADMINCTL_CONFIG; echo \$? >$T_TMP/exit; echo EXIT; sleep 600"
. tests/data/tui-lib.sh

expect_screen "the TUI starts on the Overview" '1 Overview.*2 Jobs' 15

# ---- the command line ----------------------------------------------------------
keys :
keys j Tab
expect_screen "Tab with several matches completes their common part and lists them" ':job +jobs job' 5
keys C-u
keys e v Tab
nl=$'\n'
expect_screen "Tab with one match completes it" "$nl:events *$nl" 5
keys Enter
expect_screen ":events opens the Events screen" 'Events live, newest first' 10

# ---- live events -----------------------------------------------------------------
j1=$(submit noop)
[ -n "$j1" ] || bail "cannot submit a job"
expect_screen "the Events screen shows the new job's job.started" "job\.started +$j1 +noop +$TENANT " 30
expect_screen "… and its job.succeeded" "job\.succeeded +$j1 +noop +$TENANT " 30

keys p
expect_screen "p pauses the view" 'Events PAUSED' 5
j2=$(submit noop)
expect_eq "a job submitted while paused succeeds" succeeded "$(wait_job "$j2")"
sleep 2
if [[ $(screen) =~ $j2 ]]; then fail "the paused view does not show it" "$(screen)"; else ok "the paused view does not show it"; fi
keys p
expect_screen "p resumes: its events show" "job\.succeeded +$j2 " 15

keys g
keys Enter
expect_screen "Enter opens the job of the selected (newest) event" "job $j2" 10
keys q
expect_screen "q goes back to the Events screen" 'Events live, newest first' 5

keys : b o g u s Enter
expect_screen "an unknown command is said so in the status line" "unknown command ':bogus'" 5

# ---- ! negates the Jobs screen's search -------------------------------------------
R=t1052x$$
for i in 1 2; do submit media.probe "uploads/$TENANT/$R/missing-$i.mp4" >/dev/null; done
for ((i = 0; i < 60; i++)); do
	[ "$(sql "SELECT count(*) FROM jobs WHERE status = 'failed' AND error->>'message' LIKE '%$R%'")" = 2 ] && break
	sleep 0.5
done
keys : j o b s Enter
expect_screen ":jobs opens the Jobs screen" 'search: -' 10
keys /
keys "$R" Enter
expect_screen "the search finds the two jobs" "search: $R +2 jobs" 15
keys '!'
want=$(sql "SELECT to_char(count(*), 'FM999,999,999') FROM jobs WHERE NOT coalesce(starts_with(id::text, lower('$R'))
	OR type = '$R' OR error->>'message' ILIKE '%$R%' OR error->>'code' = '$R', false)")
expect_screen "! shows the jobs the search does not match: psql's count ($want)" "search: not \\($R\\) +$want jobs" 15
keys '!'
expect_screen "! again: the matching ones" "search: $R +2 jobs" 15

# ---- ? lists every key of the table, and the commands -------------------------------
keys '?'
expect_screen "? opens the list of keys" 'keys — Jobs' 5
seen=$(screen)
for _ in $(seq 12); do
	keys NPage
	seen+=$'\n'$(screen)
	[[ $(screen) =~ :quit ]] && break
done
missing=()
while IFS=$'\t' read -r scr key what; do
	grep -qF -- "$key" <<<"$seen" && grep -qF -- "$what" <<<"$seen" || missing+=("$scr $key")
done < <(bin/adminctl tui --keys)
expect_eq "every key of adminctl tui --keys and every command is listed" "" "${missing[*]}"
expect_match "each screen's keys under its name" 'Events' "$seen"
keys x
if wait_screen 'keys — Jobs' 1; then fail "any other key closes the list" "$(screen)"; else ok "any other key closes the list"; fi

keys : q u i t Enter
for ((i = 0; i < 50; i++)); do [ -s "$T_TMP/exit" ] && break; sleep 0.2; done
expect_eq ":quit exits 0" 0 "$(cat "$T_TMP/exit" 2>/dev/null)"

done_testing
