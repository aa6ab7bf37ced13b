#!/usr/bin/env bash
# t1072 — every bulk action of the TUI acts on a frozen set, driven in tmux:
# - Dead screen, P: the dead letters shown are held (a connection of their own,
#   its heartbeats at 2 s flowing while the y/N waits), a dead letter published
#   after the screen loaded is not among them; y drops exactly the shown ones,
#   recorded as a purge selection and in the audit trail with exactly their
#   jobs; the new one stays; n puts the held ones back;
# - Dead screen, R then a: retries exactly the jobs of the held dead letters;
#   one arriving meanwhile stays in spool.dead, its job still failed;
# - Jobs screen, C then a: the filter is resolved first, the y/N gives the count
#   and first ids, and exactly those jobs are cancelled though another job comes
#   to match before the y;
# - in a production context a wrong name typed after the y does nothing: the
#   dead letters held are put back, the jobs' selection is declined.
# The stack's worker is stopped for the test, so that queued jobs stay unclaimed.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || skip_all "tmux is not installed"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"
sql() { psql -X -q -At "$SPOOL_PG_DSN" -c "$1" 2>&1; }
sql "select 1" >/dev/null || bail "psql cannot reach the stack's database"

scripts/stack.sh stop spool-worker >/dev/null 2>&1 3>&-
at_exit 'scripts/stack.sh start spool-worker >/dev/null 2>&1 3>&-'

TEN="t1072-$$-$RANDOM"
at_exit "psql -X -q -At '$SPOOL_PG_DSN' -c \"update jobs set status = 'cancelled' where tenant_id = '$TEN' and status in ('queued', 'failed')\""
mk_job() { # STATUS: a job of the test as a worker leaves it, its id
	sql "with j as (insert into jobs (tenant_id, type, status, attempts, error, finished_at)
	       values ('$TEN', 'noop', '$1', case when '$1' = 'failed' then 1 else 0 end,
	         case when '$1' = 'failed' then '{\"code\": \"e_t1072\", \"message\": \"x\"}'::jsonb end,
	         case when '$1' = 'failed' then now() end) returning id)
	     select id from j"
}
status_of() { sql "select string_agg(status, ' ' order by array_position(array[$(printf "'%s'::uuid," "$@" | sed 's/,$//')], id))
	from jobs where id in ($(printf "'%s'," "$@" | sed 's/,$//'))"; }

# the stack's adminctl config as two contexts, a 2 s AMQP heartbeat, and a slow refresh
# (the Dead screen's list is read when it is shown and after each action, not by the timer)
CTX=$T_TMP/adminctl.ini
conf() { sed -e '/^\[rabbitmq\]$/a heartbeat = 2s' -e '/^\[adminctl\]$/a refresh = 300s' "$SPOOL_ADMINCTL_CONFIG"; }
{
	echo "[context local]"
	conf
	echo "[context prod]"
	echo "production = true"
	conf
} >"$CTX"
ADM="bin/adminctl -f $CTX -C local"

mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
dead_pub() { # PAYLOAD: straight into spool.dead
	mgmt -H 'Content-Type: application/json' -X POST "$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/amq.default/publish" \
		-d "$(jq -cn --arg p "$1" '{properties: {}, routing_key: "spool.dead", payload: $p, payload_encoding: "string"}')" |
		jq -r .routed
}
dead_msg() { jq -cn --arg id "$1" '{v: 1, job_id: $id, type: "noop", attempt: 1}'; }
dead_total() { $ADM --json dead list 2>/dev/null | jq -r .total; } # ready: not those held
dead_jobs() { $ADM --json dead list 2>/dev/null | jq -r '[.messages[] | .job_id // "poison"] | join(" ")'; }
wait_dead() { # N: spool.dead holds N ready messages within 30 s
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(dead_total)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
# the TUI reads the list only when the management API counts messages, whose figures lag
mgmt_ready() { # N: the management API counts N ready in spool.dead within 30 s
	local i
	for ((i = 0; i < 60; i++)); do
		[ "$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead" | jq -r .messages_ready)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
$ADM dead purge --yes >/dev/null 2>&1 # start from an empty queue
wait_dead 0 || bail "spool.dead cannot be emptied: $(dead_total)"

f1=$(mk_job failed) f2=$(mk_job failed) f3=$(mk_job failed)
expect_eq "a job's dead letter and a poison message published" "true true" \
	"$(dead_pub "$(dead_msg "$f1")") $(dead_pub "poison $TEN")"
wait_dead 2 || fail "spool.dead holds the two" "total $(dead_total)"
mgmt_ready 2 || fail "the management API counts the two" "$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead")"

start_tui() { # CONTEXT: the TUI in a tmux server of its own; its exit status goes to $T_TMP/exit-CONTEXT
	TM=(tmux -L "spooltest-$$-$1")
	"${TM[@]}" kill-server 2>/dev/null
	at_exit "${TM[*]} kill-server"
	"${TM[@]}" new-session -d -x 120 -y 40 "bin/adminctl -f $CTX -C $1; echo \$? >$T_TMP/exit-$1; echo EXIT; sleep 600"
}
quit_tui() { # CONTEXT: q back to the Overview, q quits with 0 (under the sanitizers: no error, no leak)
	keys 1
	keys q
	for _ in $(seq 50); do [ -f "$T_TMP/exit-$1" ] && break; sleep 0.2; done
	expect_eq "q quits the TUI ($1) with 0" 0 "$(cat "$T_TMP/exit-$1" 2>/dev/null)"
}
start_tui local
. tests/data/tui-lib.sh
type_text() { "${TM[@]}" send-keys -l "$1"; sleep 0.3; }

expect_screen "the TUI starts" 'database up +rabbitmq up' 20
keys 4
expect_screen "the Dead screen lists the job's dead letter" " ${f1:0:8} +noop " 15
expect_screen "… and the poison message" "poison +- +- .*poison $TEN" 5

# ---- P: the letters shown are held; one arriving later is not among them ---------------
expect_eq "a third dead letter arrives after the screen loaded" true "$(dead_pub "$(dead_msg "$f2")")"
wait_dead 3 || fail "spool.dead holds three" "total $(dead_total)"
audit_before=$(sql "select coalesce(max(id), 0) from audit")
keys P
expect_screen "P holds the two shown and asks with their count" \
	"purge these 2 held messages \(1 poison\) from spool\.dead for good\? y/N" 15
sleep 8 # four heartbeat intervals: the hold outlives a connection without heartbeats
expect_eq "while the y/N waits, only the new one is ready (the two stay held)" 1 "$(dead_total)"
keys y
expect_screen "y drops exactly the two" "purge: 2 messages dropped from spool\.dead \(selection [0-9]+\)" 20
sel=$(screen | sed -nE 's/.*purge: 2 messages dropped from spool\.dead \(selection ([0-9]+)\).*/\1/p' | head -n 1)
wait_dead 1 || fail "one dead letter left" "total $(dead_total)"
expect_eq "the one that arrived later stays" "$f2" "$(dead_jobs)"
expect_eq "the audit trail: a purge of 2, one poison, exactly the shown job, the selection" \
	"dead.purge 2 1 [\"$f1\"] $sel" \
	"$(sql "select action || ' ' || count || ' ' || (detail->>'poison') || ' ' || (detail->'ids')::text || ' ' || (detail->>'selection')
	        from audit where id > $audit_before and action = 'dead.purge'")"
expect_eq "the selection is a done purge of exactly that job" "purge done $f1" \
	"$($ADM --json selection show "$sel" | jq -r '"\(.action) \(.state) \(.ids | join(" "))"')"

# ---- P then n: the held one goes back -------------------------------------------------
expect_screen "the screen lists what is left" " ${f2:0:8} +noop " 15
keys P
expect_screen "P asks for the one shown" "purge these 1 held message \(0 poison\)" 15
keys n
expect_screen "n puts it back" "dead letters put back: nothing done" 10
wait_dead 1 && ok "… it is ready again" || fail "… it is ready again" "total $(dead_total)"
sleep 2 # the list read again after the release

# ---- R a: exactly the jobs of the held letters ------------------------------------------
keys R
expect_screen "R asks which" 'dead retry: \(s\)elected or \(a\)ll shown dead letters\?' 5
keys a
expect_screen "a holds the one shown and asks" "retry the jobs of these 1 held dead letter \(0 poison stay\)\? y/N" 15
expect_eq "a dead letter arrives while the y/N waits" true "$(dead_pub "$(dead_msg "$f3")")"
wait_dead 1 || fail "the new one is ready, the held one not" "total $(dead_total)"
keys y
expect_screen "y retries the held one's job" "dead retry: 1 job retried, 0 stale dropped" 20
expect_eq "its job is queued, the later one's still failed" "queued failed" "$(status_of "$f2" "$f3")"
wait_dead 1 || fail "one dead letter left" "total $(dead_total)"
expect_eq "the later one stays in spool.dead" "$f3" "$(dead_jobs)"

# ---- Jobs: all matching, resolved before the y/N ---------------------------------------
sql "update jobs set status = 'cancelled' where id = '$f2'" >/dev/null # out of the way: queued jobs of the test below
q1=$(mk_job queued) q2=$(mk_job queued) q3=$(mk_job queued)
keys 2
expect_screen "the Jobs screen" 'search: -' 10
keys l # all → queued
keys / && type_text "tenant=$TEN" && keys Enter
expect_screen "queued + search: three jobs" "search: tenant=$TEN +3 jobs" 15
audit_before=$(sql "select coalesce(max(id), 0) from audit")
keys C
expect_screen "C asks which" 'cancel: \(s\)elected job or \(a\)ll 3 matching the filter' 5
keys a
expect_screen "a resolves the filter and asks with the count and the first ids" \
	"cancel 3 queued noop jobs matching 'tenant=$TEN' \(${q1:0:8} ${q2:0:8} ${q3:0:8}\)\? y/N" 15
q4=$(mk_job queued)
keys y
expect_screen "y cancels exactly the three" "cancel: 3 of 3 jobs done" 20
expect_eq "the three counted are cancelled, the one created after the count is not" \
	"cancelled cancelled cancelled queued" "$(status_of "$q1" "$q2" "$q3" "$q4")"
expect_eq "the audit trail names exactly them" "job.cancel filter 3 $(printf '%s\n' "$q1" "$q2" "$q3" | sort | tr '\n' ' ')" \
	"$(sql "select action || ' ' || target || ' ' || count || ' ' ||
	        (select string_agg(x, ' ' order by x) from jsonb_array_elements_text(detail->'ids') x) || ' '
	        from audit where id > $audit_before and action = 'job.cancel'")"

quit_tui local

# ---- production: a wrong name does nothing ----------------------------------------------
# the Dead screen reads the letters when the management API counts some ready, and that
# count lags the release of the hold above: wait for it before the TUI's first load
mgmt_ready 1 || fail "the management API counts the one left" "$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/spool.dead")"
start_tui prod
expect_screen "the TUI starts in prod" 'PRODUCTION prod' 20
expect_screen "… its services answer" 'database up +rabbitmq up' 20
keys 4
expect_screen "the Dead screen lists the one left" " ${f3:0:8} +noop " 15
keys P
expect_screen "P asks" "purge these 1 held message \(0 poison\)" 15
keys y
expect_screen "in production the context's name is asked for" "production context: type 'prod' to go on:" 5
type_text staging && keys Enter
expect_screen "a wrong name refuses" "refused: the name typed is not 'prod'; nothing done" 5
wait_dead 1 && ok "… the held dead letter is back" || fail "… the held dead letter is back" "total $(dead_total)"
expect_eq "… and still there" "$f3" "$(dead_jobs)"

keys 2
expect_screen "the Jobs screen" 'search: -' 10
keys l
keys / && type_text "tenant=$TEN" && keys Enter
expect_screen "queued + search: the one left" "search: tenant=$TEN +1 jobs?" 15
keys C
keys a
expect_screen "C a asks with the count" "cancel 1 queued noop job matching 'tenant=$TEN' \(${q4:0:8}\)\? y/N" 15
keys y
expect_screen "the name is asked for" "production context: type 'prod' to go on:" 5
type_text staging && keys Enter
expect_screen "a wrong name refuses" "refused: the name typed is not 'prod'; nothing done" 5
sleep 2
expect_eq "… nothing was cancelled" queued "$(status_of "$q4")"
expect_eq "… and its selection is declined" declined \
	"$(sql "select state from selections where '$q4'::uuid = any(job_ids) order by id desc limit 1")"

quit_tui prod
$ADM dead purge --yes >/dev/null 2>&1
done_testing
