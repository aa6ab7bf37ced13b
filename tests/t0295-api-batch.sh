#!/usr/bin/env bash
# t0295 — group commit of POST /v1/jobs ([api] submit_batch_wait_us, submit_batch_max),
# on a second spool-api whose batches close at 4 submissions or after 100 ms: 200
# concurrent submissions are all 202, each stored once, in shared transactions, and run;
# two submissions with one Idempotency-Key in one batch are one job; a row the
# database refuses (a CHECK constraint this test adds) fails alone, its batch's
# others stored; PostgreSQL stopped mid-burst gives 503s, and every 202 given is a
# job that runs.
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh
. tests/data/worker-lib.sh

worker_ensure
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
: "${SPOOL_PG_ADMIN_DSN:=$(sed -n 's/^SPOOL_PG_ADMIN_DSN=//p' "$T_ENV")}"
ADMIN_DSN=${SPOOL_PG_ADMIN_DSN/@\/postgres?/@\/spool?} # the spool database, as the superuser
asql() { psql -X -At "$ADMIN_DSN" "$@"; }
TAG=t0295-$(date +%s)-$$
api2_start "threads = 16" "submit_batch_wait_us = 100000" "submit_batch_max = 4"
log=$SPOOL_LOG_DIR/spool-api-$T_NAME.log

# post NAME IDEMPOTENCY-KEY BODY (a script for xargs): prints "NAME STATUS ID". The id
# is read from the answer with bash's own pattern match, not jq: this runs 600 times,
# and a process less per request is a good share of the test's CPU.
cat >"$T_TMP/post.sh" <<'SH'
h=()
[ -n "$2" ] && h=(-H "Idempotency-Key: $2")
out=$(curl -sS -w '\n%{http_code}' --max-time 30 -H "Authorization: Bearer $SPOOL_API_KEY" \
	-H 'Content-Type: application/json' "${h[@]}" -d "$3" "$API2_URL/v1/jobs")
id=-
[[ ${out%$'\n'*} =~ ^\{\"id\":\"([0-9a-f-]{36})\" ]] && id=${BASH_REMATCH[1]}
echo "$1 ${out##*$'\n'} $id"
SH
# fire P OUT: the NUL-separated triples (name, key, body) on stdin, P at a time, answers in OUT
fire() {
	P_DIR=$T_TMP SPOOL_API_KEY=$SPOOL_API_KEY API2_URL=$API2_URL xargs -0 -n3 -P"$1" bash "$T_TMP/post.sh" >"$2"
}
# wait_run IDS-FILE N: wait (at most 120 s) until the N jobs of the ids are succeeded; prints how many are
wait_run() {
	local ids n i
	ids="{$(paste -sd, "$1")}"
	for ((i = 0; i < 240; i++)); do
		n=$(sql -v ids="$ids" <<<"SELECT count(*) FROM jobs WHERE id = ANY(:'ids'::uuid[]) AND status = 'succeeded'")
		[ "$n" -ge "$2" ] && break
		sleep 0.5
	done
	echo "$n"
}

# --- 200 concurrent submissions
for i in $(seq 1 200); do printf '%s\0%s\0%s\0' "c$i" "$TAG-c$i" '{"type":"noop","params":{"t":"t0295"}}'; done |
	fire 50 "$T_TMP/burst.out"
expect_eq "200 concurrent submissions: all 202" "200" "$(awk '$2 == 202' "$T_TMP/burst.out" | wc -l | tr -d ' ')"
awk '$2 == 202 { print $3 }' "$T_TMP/burst.out" >"$T_TMP/burst.ids"
expect_eq "200 distinct job ids" 200 "$(sort -u "$T_TMP/burst.ids" | wc -l | tr -d ' ')"
stored=$(sql -v tag="$TAG-c%" -v ids="{$(paste -sd, "$T_TMP/burst.ids")}" <<<"SELECT count(*), count(DISTINCT idempotency_key),
	count(*) FILTER (WHERE id = ANY(:'ids'::uuid[])) FROM jobs WHERE idempotency_key LIKE :'tag'")
expect_eq "each is stored once, under the id it was answered with" "200|200|200" "$stored"
# now() is the transaction's start: jobs committed together have one created_at
shared=$(sql -v tag="$TAG-c%" <<<"SELECT max(n) FROM (SELECT count(*) AS n FROM jobs WHERE idempotency_key LIKE :'tag' GROUP BY created_at) g")
expect_match "they were committed in batches (at most 4 in one transaction, as configured)" '^[234]$' "$shared"
expect_eq "each has its first event" 200 \
	"$(sql -v tag="$TAG-c%" <<<"SELECT count(DISTINCT job_id) FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE idempotency_key LIKE :'tag')")"
echo "# burst answered at $SECONDS s"
expect_eq "all 200 were published and ran" 200 "$(wait_run "$T_TMP/burst.ids" 200)"

echo "# burst ran at $SECONDS s"

# --- one Idempotency-Key twice in one batch (the batch closes at 4, so these 4 share one)
printf '%s\0%s\0%s\0' d1 "$TAG-dup" '{"type":"noop","params":{"t":"t0295"}}' d2 "$TAG-dup" \
	'{"type":"noop","params":{"t":"t0295"}}' d3 "" '{"type":"noop"}' d4 "" '{"type":"noop"}' | fire 4 "$T_TMP/dup.out"
expect_eq "the two with one key: 202 and 200" "200 202" \
	"$(awk '$1 ~ /^d[12]$/ { print $2 }' "$T_TMP/dup.out" | sort | paste -sd' ')"
expect_eq "both answered with the same job" 1 "$(awk '$1 ~ /^d[12]$/ { print $3 }' "$T_TMP/dup.out" | sort -u | wc -l | tr -d ' ')"
expect_eq "one job stored for the key" 1 "$(sql -v k="$TAG-dup" <<<"SELECT count(*) FROM jobs WHERE idempotency_key = :'k'")"
expect_eq "the same job" "$(awk '$1 == "d1" { print $3 }' "$T_TMP/dup.out")" \
	"$(sql -v k="$TAG-dup" <<<"SELECT id FROM jobs WHERE idempotency_key = :'k'")"
expect_eq "the batch's others: 202" "202 202" "$(awk '$1 ~ /^d[34]$/ { print $2 }' "$T_TMP/dup.out" | paste -sd' ')"

# --- a row the database refuses fails alone
at_exit "psql -X -q '$ADMIN_DSN' -c 'ALTER TABLE jobs DROP CONSTRAINT IF EXISTS t0295_refuse'"
asql -q -c "ALTER TABLE jobs ADD CONSTRAINT t0295_refuse CHECK (params->>'t0295' IS DISTINCT FROM 'refuse') NOT VALID" ||
	bail "cannot add the test's constraint"
mark=$(wc -l <"$log")
for i in 1 2 3; do printf '%s\0%s\0%s\0' "g$i" "$TAG-g$i" '{"type":"noop","params":{"t":"t0295"}}'; done >"$T_TMP/refuse.in"
printf '%s\0%s\0%s\0' bad "$TAG-bad" '{"type":"noop","params":{"t0295":"refuse"}}' >>"$T_TMP/refuse.in"
fire 4 "$T_TMP/refuse.out" <"$T_TMP/refuse.in"
asql -q -c "ALTER TABLE jobs DROP CONSTRAINT t0295_refuse"
expect_eq "the refused row: 503" 503 "$(awk '$1 == "bad" { print $2 }' "$T_TMP/refuse.out")"
expect_eq "the others of its batch: 202" "202 202 202" "$(awk '$1 ~ /^g/ { print $2 }' "$T_TMP/refuse.out" | paste -sd' ')"
expect_match "the batch was tried row by row" "trying them one by one" "$(tail -n +"$((mark + 1))" "$log")"
expect_eq "the three are stored, the refused one is not" "3|0" \
	"$(sql -v g="$TAG-g%" -v b="$TAG-bad" <<<"SELECT count(*) FILTER (WHERE idempotency_key LIKE :'g'), count(*) FILTER (WHERE idempotency_key = :'b') FROM jobs")"
awk '$1 ~ /^g/ && $2 == 202 { print $3 }' "$T_TMP/refuse.out" >"$T_TMP/refuse.ids"
expect_eq "and they run" 3 "$(wait_run "$T_TMP/refuse.ids" 3)"

# --- PostgreSQL stopped mid-burst
at_exit 'scripts/stack.sh up >/dev/null 2>&1'
for i in $(seq 1 400); do printf '%s\0%s\0%s\0' "o$i" "$TAG-o$i" '{"type":"noop","params":{"t":"t0295"}}'; done |
	fire 8 "$T_TMP/outage.out" &
FPID=$!
sleep 1
scripts/stack.sh stop postgres >>"$T_TMP/stack.log" 2>&1
sleep 3
scripts/stack.sh start postgres >>"$T_TMP/stack.log" 2>&1 || fail "PostgreSQL started again" "$(tail -n 20 "$T_TMP/stack.log")"
wait "$FPID"
codes=$(awk '{ print $2 }' "$T_TMP/outage.out" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
echo "# outage burst: $codes"
expect_eq "every submission answered 202 or 503" 0 "$(awk '$2 != 202 && $2 != 503' "$T_TMP/outage.out" | wc -l | tr -d ' ')"
expect_match "some were 503 while PostgreSQL was down" '^[1-9]' "$(awk '$2 == 503' "$T_TMP/outage.out" | wc -l | tr -d ' ')"
awk '$2 == 202 { print $3 }' "$T_TMP/outage.out" >"$T_TMP/outage.ids"
n202=$(wc -l <"$T_TMP/outage.ids" | tr -d ' ')
expect_match "some were 202" '^[1-9]' "$n202"
expect_eq "every 202 is a job that runs" "$n202" "$(wait_run "$T_TMP/outage.ids" "$n202")"

done_testing
