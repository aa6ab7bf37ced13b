#!/usr/bin/env bash
# t0250 — GET /v1/jobs/{id}?wait=N: answered the moment the job is final (woken by
# the job's event, no database polling), across two API processes; at the
# deadline with the job as it is; wait over api.max_wait is a 400 naming `wait`.
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
now() { date +%s.%N; }
# ms_since T0 [T1]: milliseconds from T0 to T1 (or now)
ms_since() { py 'import sys; print(int((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "${2:-$(now)}"; }

# --- a noop job: the answer comes right after the worker's finish
id=$(curl -sS "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop","params":{"t":"t0250"}}' "$U/v1/jobs" | jq -r '.id // empty')
[ -n "$id" ] || bail "cannot submit a noop job"
expect_status "?wait=20 on a noop job" 200 "${AUTH[@]}" "$U/v1/jobs/$id?wait=20"
t_answer=$(now)
tenant=$(sql -c "SELECT tenant_id FROM jobs WHERE id = '$id'") # after the wait: psql takes time under load
expect_eq "it answers with the job succeeded" succeeded "$(jq -r .status <<<"$BODY")"
fin=$(sql -c "SELECT extract(epoch FROM finished_at) FROM jobs WHERE id = '$id'")
lag=$(ms_since "$fin" "$t_answer")
if [ "$lag" -lt 1000 ]; then ok "answered ${lag} ms after the worker's finish (< 1 s)"; else fail "answered ${lag} ms after the worker's finish (< 1 s)"; fi

# A job nobody will run: inserted straight into the database (no queue message),
# so it stays queued until this test cancels it.
parked() { sql -c "INSERT INTO jobs (tenant_id, type, params) VALUES ('$tenant', 'noop', '{\"t\":\"t0250-parked\"}') RETURNING id" | head -n1; }

# --- the deadline: the job as it is
p=$(parked)
t0=$(now)
expect_status "?wait=2 on a job that stays queued" 200 "${AUTH[@]}" "$U/v1/jobs/$p?wait=2"
el=$(ms_since "$t0")
expect_eq "answered with the job still queued" queued "$(jq -r .status <<<"$BODY")"
if [ "$el" -ge 1900 ] && [ "$el" -lt 3000 ]; then ok "answered at the deadline (${el} ms)"; else fail "answered at the deadline (${el} ms)"; fi

# --- wake-up across API processes: wait on B, cancel through A
api2_start
p=$(parked)
curl -sS -o "$T_TMP/b" -w '%{http_code}' "${AUTH[@]}" "$API2_URL/v1/jobs/$p?wait=20" >"$T_TMP/b.status" &
bpid=$!
sleep 1
expect_status "DELETE through API A" 200 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$p"
t_cancel=$(now)
wait "$bpid"
el=$(ms_since "$t_cancel")
expect_eq "API B answers 200 with the job cancelled" "200 cancelled" "$(cat "$T_TMP/b.status") $(jq -r .status "$T_TMP/b")"
if [ "$el" -lt 300 ]; then ok "API B woke ${el} ms after the cancel on A (~200 ms)"; else fail "API B woke ${el} ms after the cancel on A (~200 ms)"; fi

# --- and a worker's finish seen by B while A took the job
for i in 1 2 3; do
	id=$(curl -sS "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop"}' "$U/v1/jobs" | jq -r '.id // empty')
	curl -sS "${AUTH[@]}" "$API2_URL/v1/jobs/$id?wait=20" >"$T_TMP/n$i"
	t_answer=$(now)
	fin=$(sql -c "SELECT extract(epoch FROM finished_at) FROM jobs WHERE id = '$id'")
	lag=$(ms_since "$fin" "$t_answer")
	[ "$(jq -r .status "$T_TMP/n$i")" = succeeded ] && [ "$lag" -lt 1000 ] || break
done
if [ "$(jq -r .status "$T_TMP/n$i")" = succeeded ] && [ "$lag" -lt 1000 ]; then
	ok "API B answers noop jobs submitted on A within 1 s of their finish"
else
	fail "API B answers noop jobs submitted on A within 1 s of their finish" "status $(jq -r .status "$T_TMP/n$i"), ${lag} ms"
fi

# --- each process has its own exclusive events queue; spool.events.api stays shared
queues=$(curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F?columns=name,exclusive,auto_delete,durable" 2>/dev/null)
n=$(jq '[.[] | select((.name | startswith("spool.events.api.")) and .exclusive and .auto_delete)] | length' <<<"$queues")
if [ "${n:-0}" -ge 2 ]; then ok "two exclusive auto-delete spool.events.api.<host>.<pid> queues"; else fail "two exclusive auto-delete spool.events.api.<host>.<pid> queues" "$queues"; fi
expect_eq "spool.events.api is durable" true "$(jq -r '.[] | select(.name == "spool.events.api") | .durable' <<<"$queues")"

# --- bad waits
max=$(curl -sS "${AUTH[@]}" -o /dev/null -w '%{http_code}' "$U/v1/jobs/$id?wait=60")
expect_eq "?wait=60 (the maximum) is accepted" 200 "$max"
expect_status "?wait=61 is 400" 400 "${AUTH[@]}" "$U/v1/jobs/$id?wait=61"
expect_eq "the error names 'wait'" "bad_request wait" "$(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
expect_status "?wait=-1 is 400" 400 "${AUTH[@]}" "$U/v1/jobs/$id?wait=-1"

done_testing
