#!/usr/bin/env bash
# Under systemd (JOURNAL_STREAM naming stderr's device and inode) every line starts
# with the syslog priority of its level, <3> error, <4> warn, <6> info, and the JSON
# object after it is whole; with JOURNAL_STREAM naming another file, or unset, the
# lines are plain JSON. spool-api is started on a port that is taken (PostgreSQL's),
# so that it logs info lines and then an error before it exits.
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh

port=$(sed -n 's/.*@127\.0\.0\.1:\([0-9]*\)\/spool.*/\1/p' <<<"$SPOOL_PG_DSN")
[ -n "$port" ] || bail "no PostgreSQL port in SPOOL_PG_DSN"
mport=$(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cfg=$T_TMP/api.ini
api_config_copy "$cfg" "$port" "$mport"
sed -i '/^cloudwatch_group *=/d' "$cfg"

# run_api FILE JOURNAL_STREAM: spool-api's stderr appended to FILE; its exit code
run_api() {
	local rc
	env ${2:+JOURNAL_STREAM=$2} AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		timeout 60 bin/spool-api -c "$cfg" 2>>"$1" </dev/null >/dev/null
	rc=$?
	echo "$rc"
}

out=$T_TMP/journal.log
: >"$out"
rc=$(run_api "$out" "$(stat -c '%d:%i' "$out")")
expect_eq "spool-api on a taken port exits 71" 71 "$rc"
expect_match "an error line starts with <3>" $'(^|\n)<3>\\{"time":"[^"]*","level":"error"' "$(cat "$out")"
expect_match "an info line starts with <6>" $'(^|\n)<6>\\{"time":"[^"]*","level":"info"' "$(cat "$out")"
bad=$(grep -v '^<[0-9]>{' "$out" | head -n 3)
expect_eq "every line has a priority prefix" "" "$bad"
# the prefix matches the level, and the rest of the line is the JSON object
mism=$(sed -n 's/^<\([0-9]\)>//p' "$out" | paste -d' ' <(sed -n 's/^<\([0-9]\)>.*/\1/p' "$out") - |
	while read -r p json; do
		lvl=$(jq -r .level <<<"$json" 2>/dev/null) || { echo "not JSON: $json"; continue; }
		case $p:$lvl in 3:error | 4:warn | 6:info | 7:debug) ;; *) echo "<$p> on a $lvl line" ;; esac
	done)
expect_eq "each prefix is its level's priority and the JSON after it parses" "" "$mism"

plain=$T_TMP/plain.log
: >"$plain"
other=$T_TMP/other
: >"$other"
rc=$(run_api "$plain" "$(stat -c '%d:%i' "$other")")
expect_eq "with JOURNAL_STREAM naming another file: exits 71 too" 71 "$rc"
expect_match "it logged its error" '"level":"error"' "$(cat "$plain")"
expect_eq "and no line has a prefix" "" "$(grep -v '^{' "$plain" | head -n 3)"
: >"$plain"
rc=$(run_api "$plain" "")
expect_eq "without JOURNAL_STREAM: no line has a prefix" "71 " "$rc $(grep -v '^{' "$plain" | head -n 3)"

done_testing
