#!/usr/bin/env bash
# adminctl bulk actions on frozen selections, undo, and failure groups, against the
# real database and the API's outbox publisher. The stack's worker is stopped for
# the test, so that queued jobs stay unclaimed; jobs are made failed or queued in
# the database as a worker leaves them (the job row and its history), each run
# under a tenant and error codes of its own.
#
# - bulk retry: the filter is resolved and shown; before the confirmation (typed
#   on a fifo) another job comes to match and one of the shown jobs is retried
#   by someone else: exactly the shown jobs minus the moved one are retried, and
#   the selection, its results and the audit trail say so;
# - undo of that retry: the jobs still queued go back to failed with their error
#   and attempts; one cancelled meanwhile is skipped;
# - bulk cancel of queued jobs and its undo: back to queued with their message
#   published again; one retried meanwhile is skipped;
# - bulk redrive: messages published again, a job cancelled before the
#   confirmation skipped;
# - failure groups: messages differing only in numbers, paths, hex ids and
#   UUIDs are one group, a quoted name another; a group retry retries exactly it;
# - dead purge: the messages read are held while the operator confirms, exactly
#   they are dropped, one published meanwhile stays, and a refusal puts them back.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}
[ -x "$ADM" ] || bail "$ADM is not built"
q() { psql -X -q -At "$SPOOL_PG_DSN" -c "$1" 2>&1; }
q "select 1" >/dev/null || bail "psql cannot reach the stack's database"

# no worker: retried and queued jobs stay unclaimed
scripts/stack.sh stop spool-worker >/dev/null 2>&1 3>&-
at_exit 'scripts/stack.sh start spool-worker >/dev/null 2>&1 3>&-'

TEN="t1070-$$-$RANDOM"
CODE="e_bulk_$RANDOM"

# a job as a worker leaves it: failed with `code` and `message` after one attempt, or queued
mk_failed() {
	q "with j as (insert into jobs (tenant_id, type, status, attempts, error, started_at, finished_at)
	     values ('$TEN', 'noop', 'failed', 1,
	       jsonb_build_object('code', '$1', 'message', \$m\$$2\$m\$, 'permanent', true),
	       now() - interval '1 minute', now() - interval '30 seconds') returning id, error),
	   e as (insert into job_events (job_id, at, event, status, attempt, error)
	     select id, now() - interval '2 minutes', 'queued', 'queued', 0, null from j union all
	     select id, now() - interval '30 seconds', 'failed', 'failed', 1, error from j)
	   select id from j"
}
mk_queued() { # [TENANT]
	q "with j as (insert into jobs (tenant_id, type, status) values ('${1:-$TEN}', 'noop', 'queued') returning id),
	   e as (insert into job_events (job_id, event, status, attempt) select id, 'queued', 'queued', 0 from j)
	   select id from j"
}
state() { q "select status || ' ' || attempts || ' ' || coalesce(error->>'code', '-') from jobs where id = '$1'"; }

# wait up to $2 seconds for file $1 to match $3
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -q -- "$3" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

A=$(mk_failed "$CODE" "boom") B=$(mk_failed "$CODE" "boom") C=$(mk_failed "$CODE" "boom")
[[ $A =~ ^[0-9a-f-]{36}$ && $B =~ ^[0-9a-f-]{36}$ && $C =~ ^[0-9a-f-]{36}$ ]] || bail "cannot make jobs: $A $B $C"

# --- the frozen selection: preview, changes, confirmation ---
mkfifo "$T_TMP/yes"
$ADM bulk retry --tenant "$TEN" --error-code "$CODE" <"$T_TMP/yes" >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
exec 3>"$T_TMP/yes"
if wait_for "$T_TMP/err" 60 "type 'yes'"; then
	ok "bulk retry shows its selection and asks"
else
	fail "bulk retry shows its selection and asks" "$(cat "$T_TMP/out" "$T_TMP/err")"
fi
expect_match "the preview gives the count and the filter" \
	"selection [0-9]+: 3 jobs to retry \(tenant=$TEN error-code=$CODE\)" "$(head -n 1 "$T_TMP/out")"
expect_eq "the preview lists the three jobs, oldest first" "$A $B $C" \
	"$(grep -oE '^[0-9a-f-]{36}' "$T_TMP/out" | tr '\n' ' ' | sed 's/ $//')"
SEL=$(sed -nE '1s/^selection ([0-9]+):.*/\1/p' "$T_TMP/out")
# meanwhile: a fourth job fails the same way, and someone retries B
D=$(mk_failed "$CODE" "boom")
check "someone else retries one of the previewed jobs" $ADM job retry "$B"
echo yes >&3
exec 3>&-
wait "$pid"
rc=$?
expect_eq "bulk retry: exit 0" 0 "$rc"
AC=$(printf '%s\n' "$A" "$C" | sort | tr '\n' ' ')
expect_eq "exactly the previewed jobs minus the moved one were retried" "$AC" \
	"$(grep -oE '^[0-9a-f-]{36}$' "$T_TMP/out" | sort | tr '\n' ' ')"
expect_match "the moved job is reported skipped" "skipped $B: it moved on \(now queued\)" "$(cat "$T_TMP/err")"
expect_match "the summary counts acted and skipped" "selection $SEL: retry 2 of 3 jobs, 1 skipped" "$(cat "$T_TMP/err")"
expect_eq "A and C queued with fresh attempts" "queued 0 -|queued 0 -" "$(state "$A")|$(state "$C")"
expect_eq "the job that matched only after the preview is left failed" "failed 1 $CODE" "$(state "$D")"
expect_eq "B was retried once, by the other retry only" 1 \
	"$(q "select count(*) from job_events where job_id = '$B' and event = 'retried'")"
expect_eq "A's retried event names the selection" "$SEL" \
	"$(q "select detail->>'selection' from job_events where job_id = '$A' and event = 'retried'")"
show=$($ADM --json selection show "$SEL")
expect_eq "selection show: the frozen ids, in order" "$A $B $C" "$(jq -r '.ids | join(" ")' <<<"$show")"
expect_eq "selection show: acted and skipped" "${AC% }|$B queued|done" \
	"$(jq -r '"\(.results.acted | sort | join(" "))|\(.results.skipped | map("\(.id) \(.status)") | join(" "))|\(.state)"' <<<"$show")"
aud=$($ADM --json audit --limit 20)
expect_eq "the audit trail names the selection and counts what was done" "bulk.retry 2 3 1" \
	"$(jq -r --arg t "selection:$SEL" '[.entries[] | select(.target == $t)][0] |
		"\(.action) \(.count) \(.detail.selected) \(.detail.skipped)"' <<<"$aud")"

# not confirmed: nothing done
out=$(echo no | $ADM bulk retry --tenant "$TEN" --error-code "$CODE" 2>&1); rc=$?
expect_eq "not confirmed: exit 1, D still failed" "1 failed 1 $CODE" "$rc $(state "$D")"
expect_match "not confirmed: says nothing was done" "not confirmed: nothing done" "$out"
out=$($ADM bulk retry --tenant "$TEN-none" --yes 2>&1); rc=$?
expect_eq "nothing matches: exit 1" 1 "$rc"
expect_match "nothing matches: says so" "no job matches" "$out"

# --- undo of the retry ---
check "someone cancels C before the undo" $ADM job cancel "$C"
json=$($ADM --json undo "$SEL" --yes); rc=$?
expect_eq "undo: exit 0, one undone, C skipped" "0 1 $A $C cancelled" \
	"$rc $(jq -r '"\(.count) \(.ids | join(" ")) \(.skipped | map("\(.id) \(.status)") | join(" "))"' <<<"$json")"
expect_eq "undo: A failed again with its error, attempts and finish time" "failed 1 $CODE boom t" \
	"$(q "select status, attempts, error->>'code', error->>'message', finished_at < now() - interval '20 seconds'
	      from jobs where id = '$A'" | tr '|' ' ')"
expect_eq "undo: C left cancelled" "cancelled" "$(q "select status from jobs where id = '$C'")"
USEL=$(jq -r .selection <<<"$json")
expect_eq "the undo is a selection of its own that names its target" "undo $SEL" \
	"$($ADM --json selection show "$USEL" | jq -r '"\(.action) \(.undoes)"')"
out=$($ADM undo "$SEL" --yes 2>&1); rc=$?
expect_match "a second undo of it is refused" "1 .*undone already by selection $USEL" "$rc $out"

# --- bulk cancel of queued jobs and its undo ---
Q1=$(mk_queued) Q2=$(mk_queued) Q3=$(mk_queued)
json=$($ADM --json bulk cancel --tenant "$TEN" --status queued --yes); rc=$?
CSEL=$(jq -r .selection <<<"$json")
# B (queued by the other retry) is one of the tenant's queued jobs too
expect_eq "bulk cancel: exit 0, the four queued jobs" "0 4" "$rc $(jq -r .count <<<"$json")"
expect_eq "cancelled, each with its job.cancelled event in the outbox" "cancelled cancelled cancelled 3" \
	"$(q "select string_agg(status, ' ' order by id::text) from jobs where id in ('$Q1', '$Q2', '$Q3')") $(q \
	"select count(*) from outbox where exchange = 'spool.events' and payload like any
	   (array['%$Q1%', '%$Q2%', '%$Q3%']) and payload like '%cancelled%'")"
check "someone retries Q3 before the undo" $ADM job retry "$Q3"
before=$(q "select coalesce(max(id), 0) from outbox")
json=$($ADM --json undo --yes); rc=$?
expect_eq "undo (the newest): the cancel, exit 0, three back, Q3 skipped" "0 $CSEL 3 $Q3" \
	"$rc $($ADM --json selection show "$(jq -r .selection <<<"$json")" | jq -r .undoes) $(jq -r '"\(.count) \(.skipped | map(.id) | join(" "))"' <<<"$json")"
expect_eq "Q1 and Q2 queued again, with an undone event" "queued queued 2" \
	"$(q "select string_agg(status, ' '), (select count(*) from job_events where event = 'undone'
	      and job_id in ('$Q1', '$Q2')) from jobs where id in ('$Q1', '$Q2')" | tr '|' ' ')"
expect_eq "their messages are in the outbox again" 2 \
	"$(q "select count(distinct j) from outbox, unnest(array['$Q1', '$Q2']) j
	      where id > $before and exchange = 'spool.jobs' and payload like '%' || j || '%'")"
sent=0
for ((i = 0; i < 300; i++)); do
	sent=$(q "select count(*) from outbox where id > $before and exchange = 'spool.jobs' and sent_at is not null
		  and (payload like '%$Q1%' or payload like '%$Q2%')")
	[ "$sent" -ge 2 ] && break
	sleep 0.1
done
expect_eq "the API's publisher sent them" 2 "$sent"

# --- bulk redrive: the messages of queued jobs published again, a job cancelled meanwhile skipped ---
R1=$(mk_queued "$TEN-r") R2=$(mk_queued "$TEN-r") R3=$(mk_queued "$TEN-r")
before=$(q "select coalesce(max(id), 0) from outbox")
mkfifo "$T_TMP/yes3"
$ADM --json bulk redrive --tenant "$TEN-r" <"$T_TMP/yes3" >"$T_TMP/rout" 2>"$T_TMP/rerr" &
pid=$!
exec 5>"$T_TMP/yes3"
wait_for "$T_TMP/rerr" 60 "type 'yes'" || fail "bulk redrive asks" "$(cat "$T_TMP/rerr")"
check "someone cancels R2 before the confirmation" $ADM job cancel "$R2"
echo yes >&5
exec 5>&-
wait "$pid"
rc=$?
expect_eq "bulk redrive: exit 0, R1 and R3 re-driven, R2 skipped" "0 $(printf '%s\n' "$R1" "$R3" | sort | tr '\n' ' ')$R2 cancelled" \
	"$rc $(jq -r '.ids[]' "$T_TMP/rout" | sort | tr '\n' ' ')$(jq -r '.skipped | map("\(.id) \(.status)") | join(" ")' "$T_TMP/rout")"
expect_eq "each has a redriven event naming the selection, and its message in the outbox again" "2 2" \
	"$(q "select count(*) from job_events where event = 'redriven' and job_id in ('$R1', '$R3')
	      and detail->>'selection' = '$(jq -r .selection "$T_TMP/rout")'") $(q "select count(distinct j) from outbox,
	      unnest(array['$R1', '$R3']) j where id > $before and exchange = 'spool.jobs' and payload like '%' || j || '%'")"
expect_eq "R2 got no message" 0 \
	"$(q "select count(*) from outbox where id > $before and exchange = 'spool.jobs' and payload like '%$R2%'")"
$ADM bulk cancel --tenant "$TEN-r" --yes >/dev/null 2>&1

# --- failure groups ---
G="e_grp_$RANDOM"
g1=$(mk_failed "$G" "cannot read /tmp/in/1234.mp4: got 512 bytes at offset 77 (id 3f2a9c01-5b6d-4e7f-8a9b-0c1d2e3f4a5b)")
g2=$(mk_failed "$G" "cannot read /var/spool/x/y.mp4: got 1 bytes at offset 9 (id 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d)")
g3=$(mk_failed "$G" "cannot read ./rel/path.mov: got 65536 bytes at offset 0 (id deadbeef-0000-4000-8000-000000000001)")
g4=$(mk_failed "$G" "quota exceeded for 'alice' after 3 tries")
json=$($ADM --json failures --status failed)
mine=$(jq -c --arg c "$G" '[.groups[] | select(.code == $c)] | sort_by(-.count)' <<<"$json")
expect_eq "messages differing in numbers, paths and ids are one group; the quoted one another" "3 1" \
	"$(jq -r 'map(.count) | join(" ")' <<<"$mine")"
expect_eq "the group's signature" "$G: cannot read <path>: got <n> bytes at offset <n> (id <uuid>)" \
	"$(jq -r '.[0].signature' <<<"$mine")"
expect_eq "the group's types and tenants" "noop $TEN" "$(jq -r '.[0] | "\(.types | join(",")) \(.tenants | join(","))"' <<<"$mine")"
grp=$(jq -r '.[0].group' <<<"$mine")
out=$($ADM failures 2>&1)
expect_match "failures as a table" "$grp[[:space:]]+3[[:space:]]" "$out"
json=$($ADM --json bulk retry --group "$grp" --yes); rc=$?
expect_eq "group retry: exactly the group's three jobs" "0 $(printf '%s\n' "$g1" "$g2" "$g3" | sort | tr '\n' ' ')" \
	"$rc $(jq -r '.ids[]' <<<"$json" | sort | tr '\n' ' ')"
expect_eq "the other group's job is left failed" "failed 1 $G" "$(state "$g4")"
expect_eq "--group of no group: exit 1" 1 "$($ADM bulk retry --group 000000000000 --yes >/dev/null 2>&1; echo $?)"

# --- a query selects too, ANDed with the options: only the failure whose message says "disk"
QC="e_bulkq_$RANDOM"
q1=$(mk_failed "$QC" "disk full on /var/tmp")
q2=$(mk_failed "$QC" "network unreachable")
json=$($ADM --json bulk retry --tenant "$TEN" --yes "error.code=$QC" 'error.message~disk'); rc=$?
expect_eq "bulk retry with a query: exactly the matching job" "0 $q1" "$rc $(jq -r '.ids | join(" ")' <<<"$json")"
expect_eq "the other is left failed" "failed 1 $QC" "$(state "$q2")"
err=$($ADM bulk retry --yes 'error.code=' 2>&1); rc=$?
expect_eq "a bad query: exit 2 and its position" "2 adminctl: query: column 11: expected a value after '='" "$rc $err"

# --- dead purge on a frozen set: the messages read and held, not those arriving later ---
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
dead_pub() { # PAYLOAD: straight into spool.dead
	mgmt -H 'Content-Type: application/json' -X POST "$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/amq.default/publish" \
		-d "$(jq -cn --arg p "$1" '{properties: {}, routing_key: "spool.dead", payload: $p, payload_encoding: "string"}')" |
		jq -r .routed
}
dead_total() { $ADM --json dead list 2>/dev/null | jq -r .total; }
wait_dead() { # N: spool.dead holds N messages within 30 s
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(dead_total)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
$ADM dead purge --yes >/dev/null 2>&1 # start from an empty queue
expect_eq "two dead letters published" "true true" \
	"$(dead_pub "$(jq -cn --arg id "$g4" '{v: 1, job_id: $id, type: "noop", attempt: 1}')") $(dead_pub "poison $TEN")"
wait_dead 2 || fail "spool.dead holds the two" "total $(dead_total)"
mkfifo "$T_TMP/yes2"
$ADM --json dead purge <"$T_TMP/yes2" >"$T_TMP/pout" 2>"$T_TMP/perr" &
pid=$!
exec 4>"$T_TMP/yes2"
if wait_for "$T_TMP/perr" 60 "type 'yes'"; then ok "dead purge shows the messages and asks"
else fail "dead purge shows the messages and asks" "$(cat "$T_TMP/perr")"; fi
expect_match "… their count" "spool.dead: 2 messages to purge" "$(cat "$T_TMP/perr")"
expect_eq "a third dead letter arrives before the confirmation" true \
	"$(dead_pub "$(jq -cn --arg id "$D" '{v: 1, job_id: $id, type: "noop", attempt: 1}')")"
echo yes >&4
exec 4>&-
wait "$pid"
rc=$?
expect_eq "dead purge: exit 0, the two held dropped, one poison, the job's id recorded" "0 2 1 $g4" \
	"$rc $(jq -r '"\(.purged) \(.poison) \(.ids | join(" "))"' "$T_TMP/pout")"
wait_dead 1 && ok "the message that arrived later stays" || fail "the message that arrived later stays" "total $(dead_total)"
expect_eq "… it is the third" "$D" "$($ADM --json dead list | jq -r '.messages[0].job_id')"
expect_eq "the purge is a selection of the jobs of its messages" "purge done $g4" \
	"$($ADM --json selection show "$(jq -r .selection "$T_TMP/pout")" | jq -r '"\(.action) \(.state) \(.ids | join(" "))"')"
out=$(echo no | $ADM dead purge 2>&1); rc=$?
expect_match "a purge not confirmed: exit 1, nothing dropped" "^1 .*not confirmed" "$rc $out"
wait_dead 1 && ok "… the message is back" || fail "… the message is back" "total $(dead_total)"
$ADM dead purge --yes >/dev/null 2>&1

# read-only refuses
out=$($ADM --read-only bulk cancel --tenant "$TEN" --yes 2>&1); rc=$?
expect_match "--read-only refuses a bulk action" "1 .*read-only" "$rc $out"

# leave nothing of ours waiting
$ADM bulk cancel --tenant "$TEN" --yes >/dev/null 2>&1
done_testing
