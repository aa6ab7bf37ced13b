#!/usr/bin/env bash
# t0705 — the TUI's contexts, export and job detail, in tmux against the stack: started
# in the production context `prod` its header names it on a red bar; `e` writes the
# Jobs screen's rows whole (the default name in the current directory as JSON lines,
# or a .csv as CSV) and says where; the Job screen shows a long error whole, wrapped,
# and End scrolls to its last line; a retry of every matching job in prod waits for
# the context's name (a wrong one refuses, nothing is retried; the right one retries);
# X switches to `staging`, whose header is not red, whose services answer and where the
# jobs marked in prod are marked no more; the name
# stays in the header at 80 columns.
. "$(dirname "$0")/lib.sh"
. tests/data/failed-jobs.sh

command -v tmux >/dev/null || skip_all "tmux is not installed"
curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"
ADM=$T_ROOT/bin/adminctl
R=t0705-$$-$RANDOM
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }

CTX=$T_TMP/adminctl.ini
{
	echo "[context staging]"
	cat "$SPOOL_ADMINCTL_CONFIG"
	echo "[context prod]"
	echo "production = true"
	cat "$SPOOL_ADMINCTL_CONFIG"
} >"$CTX"

# three failed jobs of the test, each with a long error ending in a marker
KEY=$("$ADM" -f "$CTX" keys create --tenant "$R" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
long="BEGIN-$R$(printf ' lorem ipsum dolor %.0s' $(seq 1 200)) END-$R"
failed_jobs "$KEY" "$long"
at_exit "psql -X -At '$SPOOL_PG_DSN' -c \"DELETE FROM jobs WHERE tenant_id = '$R'\""
failed() { sql "SELECT count(*) FROM jobs WHERE tenant_id = '$R' AND status = 'failed'"; }
expect_eq "three failed jobs with a long error" 3 "$(failed)"

TM=(tmux -L "spooltest-$$")
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
mkdir -p "$T_TMP/cwd"
"${TM[@]}" new-session -d -x 100 -y 30 -c "$T_TMP/cwd" \
	"$ADM -f $CTX -C prod; echo \$? >$T_TMP/exit; echo EXIT; sleep 600"
. tests/data/tui-lib.sh
type_text() { "${TM[@]}" send-keys -l "$1"; sleep 0.3; }
header_red() { "${TM[@]}" capture-pane -p -e | head -n 1 | grep -q $'\e\\[[0-9;]*41m'; }

# ---- the header ---------------------------------------------------------------------
expect_screen "the TUI starts, its header naming the production context" '^ spool .*PRODUCTION prod *
' 10
if header_red; then ok "the production header is red"; else fail "the production header is red" "$("${TM[@]}" capture-pane -p -e | head -n 1 | cat -v)"; fi
expect_screen "the services answer" 'database up +rabbitmq up' 15

# ---- Jobs: the failed jobs of the test, exported ---------------------------------------
keys 2
expect_screen "the Jobs screen" 'search: -' 10
for _ in 1 2 3 4 5; do keys l; done # all → queued → running → retrying → succeeded → failed
keys / && type_text "$R" && keys Enter
expect_screen "failed + search: our three jobs" "search: $R +3 jobs" 15
keys e
expect_screen "e asks for a file, the default in the current directory" \
	"export to \(.csv: CSV, else JSON lines\): adminctl-prod-jobs-[0-9]{8}-[0-9]{6}\.jsonl" 5
keys Enter
expect_screen "… and says where it wrote" "exported 3 rows \(JSON lines\) to adminctl-prod-jobs-[0-9]{8}-[0-9]{6}\.jsonl \(in /" 5
f=$(ls "$T_TMP"/cwd/adminctl-prod-jobs-*.jsonl 2>/dev/null | head -n 1)
expect_eq "the JSON lines parse: our three jobs, failed, the error whole" "3 failed $long" \
	"$(py 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(len(rows), " ".join(sorted(set(r["status"] for r in rows))), json.loads(rows[0]["error"])["message"])' "$f" 2>&1)"
keys e
keys C-u && type_text "$T_TMP/jobs.csv" && keys Enter
expect_screen "a .csv name writes CSV" "exported 3 rows \(CSV\) to $T_TMP/jobs.csv" 5
expect_eq "the CSV parses (csv.DictReader): our three ids" "$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')" \
	"$(py 'import csv, sys
print(" ".join(sorted(r["ID"] for r in csv.DictReader(open(sys.argv[1], newline="")))) + " ")' "$T_TMP/jobs.csv" 2>&1)"

# ---- the Job screen: the long error whole, scrolled to its end ------------------------
keys Enter
expect_screen "Enter opens the job, its error whole under 'error'" "(^|
)error *
.*\"message\": \"BEGIN-$R lorem ipsum" 10
expect_screen "… the text longer than the screen, the last row says which lines" 'lines 1–[0-9]+ of [0-9]+ +↑↓' 5
if [[ $(screen) =~ END-$R ]]; then fail "the end of the error is below the screen at first" "$(screen)"; else ok "the end of the error is below the screen at first"; fi
keys End
expect_screen "End scrolls to the end: the error's last words" "END-$R\"" 5
expect_screen "… and the row says so" 'lines [0-9]+–([0-9]+) of \1 \(end\)' 5
if screen | grep -q '…'; then fail "no line of the job is cut" "$(screen)"; else ok "no line of the job is cut (wrapped, no …)"; fi
keys PPage
if wait_screen "END-$R" 1; then fail "PgUp scrolls back up" "$(screen)"; else ok "PgUp scrolls back up"; fi
first=$(screen | sed -n 's/^lines \([0-9]*\)–.*/\1/p')
keys Down
expect_screen "↓ scrolls a line" "lines $((first + 1))–" 5
keys q
expect_screen "q goes back to the Jobs screen" "search: $R +3 jobs" 5

# ---- production: a retry of every matching job waits for the context's name -----------
keys R
expect_screen "R asks which jobs" 'retry: \(s\)elected job or \(a\)ll 3 matching the filter' 5
keys a
expect_screen "… then y/N" "retry 3 failed noop jobs matching '$R' \([0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8}\)\? y/N" 15
keys y
expect_screen "in production it asks for the context's name" "production context: type 'prod' to go on:" 5
type_text staging && keys Enter
expect_screen "a wrong name refuses" "refused: the name typed is not 'prod'; nothing done" 5
sleep 2
expect_eq "… and nothing was retried" 3 "$(failed)"
keys R && keys a
expect_screen "… the y/N again" "retry 3 failed noop jobs matching '$R' \(" 15
keys y
expect_screen "asked again" "production context: type 'prod' to go on:" 5
type_text prod && keys Enter
expect_screen "the right name sends it" "(confirmed|retry: 3 of 3 jobs done)" 10
n=3
for _ in $(seq 1 40); do
	n=$(failed)
	[ "$n" = 0 ] && break
	sleep 0.5
done
expect_eq "… and the three jobs left the failed state" 0 "$n"

# ---- e on the Metrics screen: a row per period, a column per series ------------------------
keys 6
expect_screen "the Metrics screen" 'JobsSubmitted|jobs submitted' 15
exported=
for _ in 1 2 3 4 5; do
	keys e && keys C-u && type_text "$T_TMP/metrics.csv" && keys Enter
	wait_screen "exported [0-9]+ rows \(CSV\) to $T_TMP/metrics.csv" 3 && exported=1 && break
done
[ -n "$exported" ] && ok "e on the Metrics screen writes its series" || fail "e on the Metrics screen" "$(screen)"
expect_eq "… as CSV: TIME, then the series" "TIME JobsSubmitted" \
	"$(py 'import csv, sys
h = next(csv.reader(open(sys.argv[1], newline="")))
print(h[0], h[1])' "$T_TMP/metrics.csv" 2>&1)"
keys 2

# ---- X: switch to staging ---------------------------------------------------------------
for _ in 1 2 3 4 5; do keys h; done # back to the "all" tab
p=${ids[0]:0:8}
keys / && keys C-u && type_text "$p" && keys Enter
expect_screen "the all tab, searched by id prefix: the job" "search: $p +1 jobs?" 15
keys Space
expect_screen "Space marks one" '1 marked' 5
keys X
expect_screen "X asks for the context" 'switch to context \(staging, prod\):' 5
type_text nope && keys Enter
expect_screen "an unknown name is refused, naming those there are" "no context 'nope' \(there are: staging, prod\)" 5
keys X && type_text staging && keys Enter
expect_screen "the header names staging" '^ spool .* staging *
' 10
if screen | head -n 1 | grep -q PRODUCTION; then fail "… not production" "$(screen | head -n 1)"; else ok "… not production"; fi
if header_red; then fail "the staging header is not red" "$("${TM[@]}" capture-pane -p -e | head -n 1 | cat -v)"; else ok "the staging header is not red"; fi
expect_screen "the new context's services answer (a new model)" 'database up +rabbitmq up' 15
keys 2
expect_screen "the Jobs screen of staging" "search: $p +1 jobs?" 15
if screen | grep -q 'marked'; then fail "the marks of the other context are dropped" "$(screen)"; else ok "the marks of the other context are dropped"; fi
"${TM[@]}" resize-window -x 80 -y 24 2>/dev/null || "${TM[@]}" resize-pane -x 80 -y 24
expect_screen "at 80 columns the context's name stays at the header's end" '^ spool .* staging *
' 5
keys q
if wait_screen 'EXIT' 10; then ok "q exits"; else fail "q exits" "$(screen)"; fi
expect_eq "… with status 0" 0 "$(cat "$T_TMP/exit" 2>/dev/null)"
done_testing
