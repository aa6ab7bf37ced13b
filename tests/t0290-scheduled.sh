#!/usr/bin/env bash
# t0290 — scheduled jobs (POST /v1/jobs with run_at or delay). A job given delay=2
# is `scheduled` with its run_at, nothing of it in the outbox before its time,
# then runs: its start lies in [run_at, run_at + 1.5 s]. A job months ahead stays
# scheduled, is listed (?status=scheduled, adminctl jobs), is cancelled by DELETE
# and never runs. The 422s: both fields, a malformed time, no offset, a negative,
# zero, fractional or string delay, too far ahead, in the past. A run_at with an
# offset is stored as that instant; one a second ago runs at once. An
# Idempotency-Key replays a scheduled submission. Fifty jobs with one run_at all
# start within a second of it, none published before. A scheduled job survives a
# restart of spool-api and spool-worker and still starts at its time. With no job
# due, the promoter sleeps its full 250 ms between passes (spool_scheduler_passes_total
# grows by at most 4 a second, not every 20 ms).
. "$(dirname "$0")/lib.sh"

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"

ADM="bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
KEY=$($ADM keys create --tenant t0290 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
U=$SPOOL_API_URL
AUTH=(-H "Authorization: Bearer $KEY")
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }

# post BODY [curl args]: the answer in $T_TMP/post, the status printed
post() {
	local body=$1
	shift
	curl -sS --max-time 30 -o "$T_TMP/post" -w '%{http_code}' "${AUTH[@]}" -H 'Content-Type: application/json' \
		"$@" -d "$body" "$U/v1/jobs" || echo 000
}
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# spool.jobs messages in the outbox for the ids given (sent or not)
messages_for() {
	local l
	l=$(printf "'%s'," "$@")
	sql "SELECT count(*) FROM outbox WHERE exchange = 'spool.jobs' AND payload::jsonb->>'job_id' IN (${l%,})"
}
# lateness ID: seconds from run_at to started_at (3 decimals)
lateness() { sql "SELECT round(extract(epoch FROM started_at - run_at)::numeric, 3) FROM jobs WHERE id = '$1'"; }
in_window() { # SECONDS: 0 <= s <= 1.5
	awk -v s="$1" 'BEGIN { exit !(s != "" && s >= 0 && s <= 1.5) }'
}
wait_final() { # ID: GET ?wait until final (60 s at most); the JSON printed
	local i out
	for ((i = 0; i < 3; i++)); do
		out=$(curl -fsS --max-time 30 "${AUTH[@]}" "$U/v1/jobs/$1?wait=20") || return 1
		case $(jq -r .status <<<"$out") in succeeded | failed | cancelled) break ;; esac
	done
	echo "$out"
}
health_ok() { curl -fsS --max-time 2 "$U/health" >/dev/null 2>&1; }

# ---- validation: 422 naming the field
now=$(date +%s)
njobs=$(sql "SELECT count(*) FROM jobs WHERE tenant_id = 't0290'")
expect422() { # WHAT BODY FIELD [MESSAGE-REGEX]
	local st
	st=$(post "$2")
	if [ "$st" = 422 ] && [ "$(jq -r .error.field "$T_TMP/post")" = "$3" ] &&
		[[ $(jq -r .error.message "$T_TMP/post") =~ ${4:-.} ]]; then
		ok "$1: 422 naming $3"
	else
		fail "$1: 422 naming $3" "HTTP $st $(cat "$T_TMP/post")"
	fi
}
expect422 "run_at and delay both" "{\"type\":\"noop\",\"delay\":5,\"run_at\":\"$(utc $((now + 60)))\"}" delay "with run_at"
expect422 "run_at not a time" '{"type":"noop","run_at":"tomorrow"}' run_at "RFC 3339"
expect422 "run_at without an offset" '{"type":"noop","run_at":"2031-01-01T00:00:00"}' run_at "RFC 3339"
expect422 "run_at a number" "{\"type\":\"noop\",\"run_at\":$((now + 60))}" run_at
expect422 "delay negative" '{"type":"noop","delay":-1}' delay "from 1 to"
expect422 "delay zero" '{"type":"noop","delay":0}' delay
expect422 "delay fractional" '{"type":"noop","delay":1.5}' delay
expect422 "delay a string" '{"type":"noop","delay":"5"}' delay
expect422 "delay over 366 days" '{"type":"noop","delay":31622401}' delay
expect422 "run_at over 366 days ahead" "{\"type\":\"noop\",\"run_at\":\"$(utc $((now + 367 * 86400)))\"}" run_at "366 days"
expect422 "run_at a minute ago" "{\"type\":\"noop\",\"run_at\":\"$(utc $((now - 60)))\"}" run_at "in the past"
expect_eq "no job was created by the refused requests" "$njobs" \
	"$(sql "SELECT count(*) FROM jobs WHERE tenant_id = 't0290'")"

# ---- delay=2: scheduled, nothing published, then run within [run_at, run_at + 1.5 s]
st=$(post '{"type":"noop","delay":2}')
id=$(jq -r '.id // empty' "$T_TMP/post")
expect_eq "delay=2: 202" 202 "$st"
expect_eq "delay=2: the job is scheduled" scheduled "$(jq -r .status "$T_TMP/post")"
expect_match "delay=2: run_at shown" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "$(jq -r .run_at "$T_TMP/post")"
expect_eq "delay=2: run_at is 2 s after created_at" 2.0 \
	"$(sql "SELECT round(extract(epoch FROM run_at - created_at)::numeric, 1) FROM jobs WHERE id = '$id'")"
expect_eq "delay=2: no spool.jobs message before its time" 0 "$(messages_for "$id")"
expect_status "delay=2: GET shows it scheduled" 200 "${AUTH[@]}" "$U/v1/jobs/$id"
expect_eq "delay=2: GET status and run_at" "scheduled $(jq -r .run_at "$T_TMP/post")" \
	"$(jq -r '"\(.status) \(.run_at)"' <<<"$BODY")"
out=$(wait_final "$id")
expect_eq "delay=2: the job succeeded" succeeded "$(jq -r .status <<<"$out")"
late=$(lateness "$id")
if in_window "$late"; then ok "delay=2: started ${late}s after run_at"; else fail "delay=2: started within 1.5 s of run_at" "lateness: '$late'"; fi
expect_eq "delay=2: one spool.jobs message, one job.queued event" "1 1" \
	"$(messages_for "$id") $(sql "SELECT count(*) FROM outbox WHERE routing_key = 'job.queued' AND payload LIKE '%$id%'")"
expect_eq "delay=2: its history" "scheduled queued started succeeded" \
	"$(sql "SELECT string_agg(event, ' ' ORDER BY id) FROM job_events WHERE job_id = '$id'")"

# ---- months ahead: stays scheduled, listed, cancelled, never runs
far=$(utc $((now + 120 * 86400)))
st=$(post "{\"type\":\"noop\",\"run_at\":\"$far\"}")
fid=$(jq -r '.id // empty' "$T_TMP/post")
expect_eq "120 days ahead: 202 scheduled" "202 scheduled" "$st $(jq -r .status "$T_TMP/post")"
expect_eq "120 days ahead: run_at as given" "${far%Z}.000Z" "$(jq -r .run_at "$T_TMP/post")"
expect_status "list ?status=scheduled" 200 "${AUTH[@]}" "$U/v1/jobs?status=scheduled"
expect_eq "the list holds it, and only scheduled jobs" "$fid scheduled" \
	"$(jq -r --arg id "$fid" '[.jobs[] | select(.id == $id) | .id][0]' <<<"$BODY") $(jq -r '[.jobs[].status] | unique | join(",")' <<<"$BODY")"
table=$($ADM jobs --status scheduled --search "${fid:0:8}" 2>&1)
expect_match "adminctl jobs --status scheduled lists it with its run_at" "$fid	scheduled	noop	t0290	0/[0-9]+	[^	]+	${far%Z}.000Z" "$table"
expect_match "adminctl job show shows its run_at" "run at[^0-9]+${far%Z}" "$($ADM job show "$fid" 2>&1)"
expect_status "DELETE of the scheduled job" 200 -X DELETE "${AUTH[@]}" "$U/v1/jobs/$fid"
expect_eq "it is cancelled" cancelled "$(jq -r .status <<<"$BODY")"
expect_status "DELETE again: 409" 409 -X DELETE "${AUTH[@]}" "$U/v1/jobs/$fid"
expect_eq "the cancelled job never ran and has no message" "0 | 0" \
	"$(sql "SELECT attempts || ' |' || coalesce(started_at::text, '') FROM jobs WHERE id = '$fid'") $(messages_for "$fid")"

# ---- a run_at with an offset is that instant; one just past runs at once
t=$((now + 3600))
st=$(post "{\"type\":\"noop\",\"run_at\":\"$(TZ=Etc/GMT-2 date -d "@$t" +%Y-%m-%dT%H:%M:%S.250%:z)\"}")
oid=$(jq -r '.id // empty' "$T_TMP/post")
expect_eq "run_at with +02:00 and milliseconds: stored in UTC" "202 $(utc $t | sed 's/Z$/.250Z/')" "$st $(jq -r .run_at "$T_TMP/post")"
curl -fsS -o /dev/null -X DELETE "${AUTH[@]}" "$U/v1/jobs/$oid"
st=$(post "{\"type\":\"noop\",\"run_at\":\"$(utc $(($(date +%s) - 1)))\"}")
pid_=$(jq -r '.id // empty' "$T_TMP/post")
expect_eq "run_at a second ago: queued at once" "202 queued" "$st $(jq -r .status "$T_TMP/post")"
expect_eq "run_at a second ago: the job runs" succeeded "$(wait_final "$pid_" | jq -r .status)"

# ---- an Idempotency-Key replays a scheduled submission
ik="t0290-$RANDOM$RANDOM"
s1=$(post '{"type":"noop","delay":600}' -H "Idempotency-Key: $ik")
i1=$(json_id "$T_TMP/post")
s2=$(post '{"type":"noop","delay":600}' -H "Idempotency-Key: $ik")
expect_eq "Idempotency-Key with delay: 202 then 200, one scheduled job" "202 200 $i1 scheduled" \
	"$s1 $s2 $(jq -r '"\(.id) \(.status)"' "$T_TMP/post")"
curl -fsS -o /dev/null -X DELETE "${AUTH[@]}" "$U/v1/jobs/$i1"

# ---- fifty jobs with the same run_at: none published before it, all started within 1 s of it
# (20 s ahead: the 50 submissions, one after the other, take a few seconds on a busy machine)
t50=$(($(date +%s) + 20))
at50=$(utc $t50)
for i in $(seq 1 50); do
	post "{\"type\":\"noop\",\"run_at\":\"$at50\",\"params\":{\"n\":$i}}" >"$T_TMP/st50"
	[ "$(cat "$T_TMP/st50")" = 202 ] && json_id "$T_TMP/post"
done >"$T_TMP/ids50"
mapfile -t ids50 <"$T_TMP/ids50"
expect_eq "50 jobs for $at50 accepted" 50 "${#ids50[@]}"
if [ "$(date +%s)" -lt $((t50 - 1)) ]; then
	expect_eq "a second before their time: all scheduled, no message" "50 0" \
		"$(sql "SELECT count(*) FROM jobs WHERE tenant_id = 't0290' AND status = 'scheduled' AND run_at = '$at50'") $(messages_for "${ids50[@]}")"
else
	fail "the 50 submissions ended a second before their run_at" "now $(date +%s), run_at $t50"
fi
for id50 in "${ids50[@]}"; do wait_final "$id50" >/dev/null; done
l=$(printf "'%s'," "${ids50[@]}")
expect_eq "the 50 jobs succeeded" 50 "$(sql "SELECT count(*) FROM jobs WHERE id IN (${l%,}) AND status = 'succeeded'")"
span=$(sql "SELECT round(extract(epoch FROM min(started_at) - min(run_at))::numeric, 3) || ' ' ||
	round(extract(epoch FROM max(started_at) - min(run_at))::numeric, 3) FROM jobs WHERE id IN (${l%,})")
read -r first last <<<"$span"
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(a != "" && a >= 0 && b <= 1.0) }'; then
	ok "the 50 started from ${first}s to ${last}s after their run_at"
else
	fail "the 50 started within [run_at, run_at + 1 s]" "first $first, last $last"
fi
expect_eq "one spool.jobs message each" 50 "$(messages_for "${ids50[@]}")"

# ---- a scheduled job survives a restart of spool-api and spool-worker
st=$(post '{"type":"noop","delay":25}')
rid=$(jq -r '.id // empty' "$T_TMP/post")
rat=$(sql "SELECT extract(epoch FROM run_at)::bigint FROM jobs WHERE id = '$rid'")
expect_eq "delay=25: scheduled" "202 scheduled" "$st $(jq -r .status "$T_TMP/post")"
at_exit 'scripts/stack.sh up >/dev/null 2>&1'
scripts/stack.sh stop spool-api >"$T_TMP/stack.log" 2>&1
scripts/stack.sh stop spool-worker >>"$T_TMP/stack.log" 2>&1
if health_ok; then fail "spool-api stopped" "it still answers"; else ok "spool-api stopped"; fi
expect_eq "while both are down it is still scheduled" scheduled "$(sql "SELECT status FROM jobs WHERE id = '$rid'")"
scripts/stack.sh start spool-worker >>"$T_TMP/stack.log" 2>&1
scripts/stack.sh start spool-api >>"$T_TMP/stack.log" 2>&1
for ((i = 0; i < 100; i++)); do health_ok && break; sleep 0.2; done
check "spool-api answers again" health_ok
if [ "$(date +%s)" -lt "$rat" ]; then
	ok "both restarted before its run_at"
else
	fail "both restarted before its run_at" "$(tail -n 20 "$T_TMP/stack.log")"
fi
out=$(wait_final "$rid")
expect_eq "after the restart the job succeeded" succeeded "$(jq -r .status <<<"$out")"
late=$(lateness "$rid")
if in_window "$late"; then ok "after the restart it started ${late}s after run_at"; else fail "after the restart it started within 1.5 s of run_at" "lateness: '$late'"; fi

# Idle, the promoter looks every 250 ms (or sooner for a run_at it knows): over 3 s,
# 12 passes and a few for the wake-ups; passing every 20 ms would be 150.
if [ -n "${SPOOL_METRICS_URL:-}" ]; then
	passes() { curl -fsS --max-time 5 "$SPOOL_METRICS_URL" | awk '$1 == "spool_scheduler_passes_total" { print $2 }'; }
	p0=$(passes)
	sleep 3
	p1=$(passes)
	if [[ $p0 =~ ^[0-9]+$ && $p1 =~ ^[0-9]+$ ]] && [ $((p1 - p0)) -ge 1 ] && [ $((p1 - p0)) -le 20 ]; then
		ok "idle, the promoter made $((p1 - p0)) passes in 3 s"
	else
		fail "idle, the promoter makes 1..20 passes in 3 s" "spool_scheduler_passes_total: '$p0' then '$p1'"
	fi
fi

done_testing
