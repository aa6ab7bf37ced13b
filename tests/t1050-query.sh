#!/usr/bin/env bash
# t1050 — adminctl's query language against the stack's database: jobs seeded
# with known statuses, types, attempts, times, params, results and errors; each
# query of `adminctl jobs QUERY` matches exactly the expected jobs (fields, JSON
# paths with containment and numeric comparison, ~ and !~, relative ages and
# RFC 3339 dates, !/not, or, parentheses, plain words, quoted values, the old
# flags beside a query); values reach the database as parameters (an injection
# attempt is just text); invalid queries exit 2 naming the exact column; in the
# TUI (tmux) / filters by a query, ! negates it and back, and an invalid query
# shows its column in the status line and leaves the filter as it was.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}
[ -x "$ADM" ] || bail "$ADM is not built"
sql() { psql -X -At -v ON_ERROR_STOP=1 "$SPOOL_PG_DSN" -c "$1"; }
sql "SELECT 1" >/dev/null || bail "psql cannot reach the stack's database"

T=t1050-$$-$RANDOM                 # the tenant of this run's jobs: every query is scoped to it
at_exit "psql -X -q '$SPOOL_PG_DSN' -c \"DELETE FROM jobs WHERE tenant_id = '$T'\""

# ---- seed: six jobs, named A-F by their idempotency key ------------------------
sql "INSERT INTO jobs (tenant_id, idempotency_key, type, status, attempts, max_attempts, params, result, error,
		created_at, started_at, finished_at) VALUES
	('$T', 'A', 'video.transcode', 'succeeded', 1, 5, '{\"height\": 720, \"codec\": \"h264\"}',
		'{\"meta\": {\"width\": 1280, \"height\": 720}}', NULL, now() - interval '1 hour', now() - interval '59 min', now() - interval '58 min'),
	('$T', 'B', 'video.transcode', 'failed', 1, 5, '{\"height\": 1080, \"codec\": \"hevc\"}', NULL,
		'{\"code\": \"invalid_media\", \"message\": \"moov atom not found\"}', now() - interval '5 hours', now() - interval '5 hours', now() - interval '5 hours'),
	('$T', 'C', 'video.transcode', 'failed', 3, 3, '{\"height\": \"720\", \"codec\": \"h264\"}', NULL,
		'{\"code\": \"timeout\", \"message\": \"FFmpeg Timeout after 600 s\"}', now() - interval '2 days', now() - interval '2 days', now() - interval '2 days'),
	('$T', 'D', 'media.probe', 'succeeded', 2, 3, '{}', '{\"meta\": {\"width\": 640, \"codec\": \"vp9\"}}', NULL,
		now() - interval '10 days', now() - interval '10 days', now() - interval '10 days'),
	('$T', 'E', 'media.probe', 'cancelled', 0, 3, '{\"note\": \"50%_off\"}', NULL, NULL,
		'2024-05-01T10:00:00Z', NULL, '2024-05-01T10:05:00Z'),
	('$T', 'F', 'noop', 'failed', 5, 5, '{}', NULL,
		'{\"code\": \"source_not_found\", \"message\": \"no such key uploads/x\"}', now() - interval '30 min', now() - interval '29 min', now() - interval '29 min')" \
	>/dev/null || bail "cannot seed the jobs"
declare -A letter
while IFS='|' read -r id k; do letter[$id]=$k; done < <(sql "SELECT id, idempotency_key FROM jobs WHERE tenant_id = '$T'")
expect_eq "six jobs seeded" 6 "${#letter[@]}"

# The letters of the jobs `adminctl jobs ARGS...` lists, sorted: "A C".
matches() {
	local out id ls=()
	local opts=()
	while [[ ${1:-} == --* ]]; do opts+=("$1" "$2"); shift 2; done
	local query=("tenant=$T")
	[ $# -gt 0 ] && query+=("(" "$@" ")")
	out=$($ADM --json jobs --limit 1000 "${opts[@]}" "${query[@]}") || { echo "exit $?"; return; }
	for id in $(jq -r '.jobs[].id' <<<"$out"); do ls+=("${letter[$id]:-?}"); done
	printf '%s\n' "${ls[@]}" | sort | paste -sd' ' | sed 's/^$/-/'
}
q() { # EXPECTED QUERY-ARGS...: the query matches exactly the expected jobs
	local want=$1
	shift
	expect_eq "jobs $*" "$want" "$(matches "$@")"
}

q "A B C D E F"
q "B C F" status=failed
q "A C" params.height=720                       # the number and the string "720"
q "C" 'params.height="720"'                     # quoted: the string only
q "A C" params.codec=h264
q "B" error.code=invalid_media
q "C" 'error.message~timeout'                   # any case
q "A" 'result.meta.width>=1280'
q "D" 'result.meta.width<1000'
q "D" 'result.meta.codec~VP'
q "A F" 'created>2h'                            # within the last two hours
q "C D E" 'created<1d'                          # more than a day ago
q "E" 'created<2024-06-01'
q "A B C F" 'finished>=2024-06-01T00:00:00+02:00' 'started>3d'
q "C F" 'attempts>=3'
q "A D E" '!status=failed'
q "D E" 'not (type=video.transcode or type=noop)'
q "B C E F" status=failed or status=cancelled 'attempts<2'
q "B F" status=failed and '(error.code=invalid_media or attempts=5)'
q "A C D E F" 'error.code!=invalid_media'       # the jobs without an error too
q "A B D E F" 'error.message!~timeout'
q "B" moov                                       # a plain word: the error message
q "F" source_not_found                           # ... the error code
q "D E" media.probe                              # ... the type
q "E" "params.note~'50%_'"                       # % and _ are literal
q "-" "params.note~'5%0'"
q "D E" 'type~PROBE'
q "C" --status failed 'error.message~TIMEOUT'   # the old flags beside a query
q "-" "\"x'); DROP TABLE jobs; --\""
expect_eq "the table is still there" 6 "$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$T'")"
first=$(sql "SELECT id FROM jobs WHERE tenant_id = '$T' AND idempotency_key = 'D'")
q "D" "id=$first"
q "D" "${first:0:8}"                             # an id prefix, as --search

# ---- refused queries: exit 2 and the exact column --------------------------------
refused() { # EXPECTED-STDERR QUERY-ARGS...
	local want=$1 out rc
	shift
	out=$($ADM jobs "$@" 2>&1 >/dev/null); rc=$?
	expect_eq "jobs $* is refused" "2 $want" "$rc $out"
}
refused "adminctl: query: column 14: expected a value after '='" 'error.message='
refused "adminctl: query: column 28: expected a value after '>='" status=failed 'params.height>='
refused "adminctl: query: column 8: unknown status 'bogus' (scheduled, queued, running, retrying, succeeded, failed, cancelled)" status=bogus
refused "adminctl: query: column 15: expected ')' to close the '(' at column 1" '(status=failed'
refused "adminctl: query: column 10: attempts wants a whole number, not 'many'" attempts=many
refused "adminctl: query: column 9: created wants an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01) or an age (90m, 2h, 7d), not 'soon'" 'created>soon'
refused "adminctl: query: column 1: params needs a key: params.KEY" params=1
refused "adminctl: query: column 5: expected a term after 'or' at column 3" a or

# ---- the TUI's / takes the same language, ! negates it --------------------------
if ! command -v tmux >/dev/null; then
	ok "# SKIP the TUI: tmux is not installed"
	done_testing
fi
TM=(tmux -L "spooltest-$$")
at_exit "${TM[*]} kill-server"
"${TM[@]}" new-session -d -x 120 -y 30 \
	"$ADM -f $SPOOL_ADMINCTL_CONFIG; echo \$? >$T_TMP/exit; sleep 600"
screen() { "${TM[@]}" capture-pane -p; }
keys() { "${TM[@]}" send-keys "$@"; sleep 0.3; }
expect_screen() { # WHAT REGEX: within 15 s
	local i
	for ((i = 0; i < 75; i++)); do
		[[ $(screen) =~ $2 ]] && { ok "$1"; return; }
		sleep 0.2
	done
	fail "$1" "screen does not match: $2
$(screen)"
}
query() { keys / && keys C-u && "${TM[@]}" send-keys -l "$1" && keys Enter; }
B=$(sql "SELECT left(id::text, 8) FROM jobs WHERE tenant_id = '$T' AND idempotency_key = 'B'")
keys 2
expect_screen "TUI: the Jobs screen" 'search: -'
query "tenant=$T error.code=invalid_media"
expect_screen "TUI: / filters by a query: the one job" "search: tenant=$T error\\.code=invalid_media +1 jobs"
expect_screen "TUI: ... and it is job B" "$B +video\\.transcode +failed"
# as the TUI writes counts: with thousands separators
others=$(sql "SELECT to_char(count(*) - 1, 'FM999,999,999') FROM jobs")
keys '!'
expect_screen "TUI: ! negates the query: every other job" "search: not \\(tenant=$T error\\.code=invalid_media\\) +$others jobs"
keys '!'
expect_screen "TUI: ! again: the query as it was" "search: tenant=$T error\\.code=invalid_media +1 jobs"
query "status=failed params.height>="
expect_screen "TUI: an invalid query: its column and error in the status line" \
	"query: column 28: expected a value after '>='"
expect_screen "TUI: ... and the filter stays" "search: tenant=$T error\\.code=invalid_media +1 jobs"
query "tenant=$T (params.height=720 or moov) !attempts=3"
expect_screen "TUI: or, parentheses and ! in /: jobs A and B" "search: tenant=$T .* +2 jobs"
keys q
for ((i = 0; i < 50; i++)); do [ -s "$T_TMP/exit" ] && break; sleep 0.2; done
expect_eq "TUI: q exits 0" 0 "$(cat "$T_TMP/exit" 2>/dev/null)"
done_testing
