#!/usr/bin/env bash
# t1055 — adminctl events: `--follow` sees the job.started and job.succeeded of jobs
# submitted after it started, through a private queue of its own (exclusive, gone
# when it exits), with its filters (--tenant, --type, --event) applied; it survives a
# RabbitMQ restart (says so on stderr) and sees later events; SIGTERM and SIGINT end
# it with 0. Without --follow: the history from PostgreSQL, filtered by --job.
. "$(dirname "$0")/lib.sh"

curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"

ADM=(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG")
TA=t1050a-$$ TB=t1050b-$$
KA=$("${ADM[@]}" keys create --tenant "$TA" 2>/dev/null | head -n 1)
KB=$("${ADM[@]}" keys create --tenant "$TB" 2>/dev/null | head -n 1)
[ -n "$KA" ] && [ -n "$KB" ] || bail "cannot create API keys with adminctl"
submit() { # KEY TYPE: the new job's id
	curl -fsS --max-time 30 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"type\":\"$2\"}" "$SPOOL_API_URL/v1/jobs" | json_id
}
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
wait_file() { # FILE REGEX SECONDS: 0 once FILE has a line matching REGEX
	local i
	for ((i = 0; i < $3 * 4; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	return 1
}
expect_file() { # WHAT FILE REGEX SECONDS
	if wait_file "$2" "$3" "$4"; then ok "$1"; else fail "$1" "no line matching $3 in $2:
$(tail -n 20 "$2")"; fi
}
follow() { # NAME ARGS...: start `adminctl events --follow ARGS` in the background; pid in PID_<NAME>
	local name=$1
	shift
	"${ADM[@]}" events --follow "$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err" &
	printf -v "PID_$name" %s $!
	at_exit "kill -9 $!"
}

# ---- two followers: tenant A's events as JSON lines; the job.succeeded of noop jobs
follow a --json --tenant "$TA"
follow s --type noop --event succeeded
expect_file "follower A subscribed" "$T_TMP/a.err" 'following \(queue adminctl\.events\.' 30
expect_file "follower S subscribed" "$T_TMP/s.err" 'following \(queue adminctl\.events\.' 30
qa=$(sed -n 's/.*(queue \(adminctl\.events\.[^)]*\)).*/\1/p' "$T_TMP/a.err" | head -n 1)
info=$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$qa")
expect_eq "its queue is exclusive, auto-delete and not durable, of at most 10000 messages" "true true false 10000" \
	"$(jq -r '"\(.exclusive) \(.auto_delete) \(.durable) \(.arguments["x-max-length"])"' <<<"$info")"
expect_eq "its queue is bound to spool.events" "spool.events" \
	"$(mgmt "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$qa/bindings" | jq -r '[.[] | select(.source != "") | .source] | unique | join(" ")')"

ja=$(submit "$KA" noop)
jb=$(submit "$KB" noop)
[ -n "$ja" ] && [ -n "$jb" ] || bail "cannot submit jobs"
expect_file "follower A sees job.started of its tenant's job" "$T_TMP/a.out" "\"event\":\"job.started\",\"job_id\":\"$ja\"" 60
expect_file "follower A sees job.succeeded of it" "$T_TMP/a.out" "\"event\":\"job.succeeded\",\"job_id\":\"$ja\"" 60
line=$(grep -m1 "job.succeeded\",\"job_id\":\"$ja\"" "$T_TMP/a.out")
expect_eq "a JSON line has the event's fields" "noop $TA 1 null" \
	"$(jq -r '"\(.type) \(.tenant) \(.attempt) \(.error)"' <<<"$line")"
expect_match "and its time" '^20[0-9-]+T[0-9:.]+Z$' "$(jq -r .at <<<"$line")"
expect_file "follower S sees tenant B's job.succeeded" "$T_TMP/s.out" "job\.succeeded[[:space:]]+$jb[[:space:]]+noop[[:space:]]+$TB" 60
expect_file "follower S sees tenant A's job.succeeded" "$T_TMP/s.out" "job\.succeeded[[:space:]]+$ja" 30
expect_eq "follower A shows no event of tenant B" 0 "$(grep -c "$jb" "$T_TMP/a.out")"
expect_eq "follower S shows no job.started (--event succeeded)" 0 "$(grep -c 'job\.started' "$T_TMP/s.out")"
expect_match "follower S prints a header then tab-separated lines" \
	$'^TIME\tEVENT\tJOB\tTYPE\tTENANT\tATTEMPT\tERROR' "$(head -n 1 "$T_TMP/s.out")"

# ---- history from PostgreSQL
hist=$("${ADM[@]}" --json events --job "$ja")
expect_eq "events --job: the job's history, oldest first" "job.queued job.started job.succeeded" \
	"$(jq -rs 'map(.event) | join(" ")' <<<"$hist")"
expect_eq "events --event failed --tenant B: nothing" "" "$("${ADM[@]}" --json events --tenant "$TB" --event failed)"
"${ADM[@]}" events --event 'bad name' >/dev/null 2>&1
expect_eq "events with a bad --event name: usage, exit 2" 2 $?

# ---- RabbitMQ restarts: the follower says so and follows again
scripts/stack.sh stop rabbitmq >"$T_TMP/stack.log" 2>&1 3>&-
at_exit 'scripts/stack.sh up >/dev/null 2>&1 3>&-'
expect_file "follower A says on stderr that the connection was lost" "$T_TMP/a.err" 'connection to RabbitMQ lost|RabbitMQ unavailable' 30
scripts/stack.sh start rabbitmq >>"$T_TMP/stack.log" 2>&1 3>&- || fail "RabbitMQ started again" "$(tail -n 20 "$T_TMP/stack.log")"
expect_file "follower A reconnected" "$T_TMP/a.err" 'reconnected, following' 90
expect_file "follower S reconnected" "$T_TMP/s.err" 'reconnected, following' 90
ja2=$(submit "$KA" noop)
expect_file "after the restart follower A sees job.started of a new job" "$T_TMP/a.out" "\"event\":\"job.started\",\"job_id\":\"$ja2\"" 120
expect_file "and its job.succeeded" "$T_TMP/a.out" "\"event\":\"job.succeeded\",\"job_id\":\"$ja2\"" 60
expect_file "follower S sees it too" "$T_TMP/s.out" "job\.succeeded[[:space:]]+$ja2" 60

# ---- SIGTERM and SIGINT: exit 0, and the private queue goes away
qa=$(sed -n 's/.*(queue \(adminctl\.events\.[^)]*\)).*/\1/p' "$T_TMP/a.err" | tail -n 1)
kill -TERM "$PID_a"
for ((i = 0; i < 40; i++)); do kill -0 "$PID_a" 2>/dev/null || break; sleep 0.25; done
wait "$PID_a"
expect_eq "SIGTERM: exit 0" 0 $?
kill -INT "$PID_s"
for ((i = 0; i < 40; i++)); do kill -0 "$PID_s" 2>/dev/null || break; sleep 0.25; done
wait "$PID_s"
expect_eq "SIGINT: exit 0" 0 $?
gone=
for ((i = 0; i < 40; i++)); do
	mgmt -o /dev/null "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$qa" 2>/dev/null || { gone=1; break; }
	sleep 0.25
done
[ -n "$gone" ] && ok "the follower's queue is gone with it" || fail "the follower's queue is gone with it" "$qa"

done_testing
