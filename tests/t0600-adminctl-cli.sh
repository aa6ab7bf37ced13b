#!/usr/bin/env bash
# adminctl's inspection commands against the stack: --json shapes, tables, exit codes
# (service down 69, bad config 78, usage 2), read-only refusals, usage = adminctl(8).
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

ADM=${ADMINCTL:-bin/adminctl}
[ -x "$ADM" ] || bail "$ADM is not built"

# ---- usage strings = the synopsis lines of adminctl(8)
man=$(mandoc -Tascii -O width=200 man/adminctl.8 | col -b | sed 's/^ *//')
expect_eq "adminctl(8) is mandoc -Tlint clean" "" "$(mandoc -Tlint -Wwarning man/adminctl.8 2>&1)"
main_usage=$($ADM -h | sed -n 's/^usage: //p')
expect_eq "adminctl -h = SYNOPSIS" "$main_usage" "$(printf '%s\n' "$man" | awk '/^SYNOPSIS/ { getline; print; exit }')"
ncmd=0
while IFS= read -r line; do
	line=${line#  }
	read -r w1 w2 _ <<<"$line"
	# a second word in lower case (not an option or an operand) is part of the name: "queues migrate"
	if [[ $w2 =~ ^[a-z][a-z-]*$ ]]; then name="$w1 $w2"; else name=$w1; fi
	# shellcheck disable=SC2086
	got=$($ADM $name -h 2>&1 >/dev/null); rc=$?
	expect_eq "'$name -h': exit 2 and the usage line" "2 usage: adminctl $line" "$rc $got"
	if grep -qxF -- "adminctl $line" <<<"$man"; then ok "'$name' usage is an entry of adminctl(8)"
	else fail "'$name' usage is an entry of adminctl(8)" "adminctl $line"; fi
	ncmd=$((ncmd + 1))
done < <($ADM -h | sed -n '/^commands:/,$p' | tail -n +2)
expect_eq "adminctl(8) has as many command entries as adminctl -h" "$ncmd" \
	"$(grep -c '^adminctl [a-z]' <<<"$man" | awk '{ print $1 - 1 }')"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS TUI FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
	if grep -qx "$s" <<<"$man"; then ok "adminctl(8) has $s"; else fail "adminctl(8) has $s"; fi
done

# ---- queues
# (the management API counts a quorum queue's consumers up to 5 s late: a worker that
# has just started again, e.g. after t0510 restarted the stack's, may not be counted yet)
for ((i = 0; i < 40; i++)); do
	json=$($ADM --json queues); rc=$?
	[ "$(jq -r '.queues[] | select(.name == "spool.jobs") | .consumers' <<<"$json" 2>/dev/null)" = 0 ] || break
	sleep 0.25
done
expect_eq "queues --json: exit 0, source management" "0 management" "$rc $(jq -r .source <<<"$json")"
expect_eq "queues --json: the fields of a queue" "consumers,deliver_rate,name,publish_rate,ready,unacked" \
	"$(jq -r '.queues[0] | keys | join(",")' <<<"$json")"
expect_eq "queues: spool.jobs (and .high, .low), spool.dead and spool.events.api listed" \
	"spool.dead spool.events.api spool.jobs spool.jobs.high spool.jobs.low" \
	"$(jq -r '[.queues[].name | select((startswith("spool.retry") or startswith("spool.events.api.")) | not)] | join(" ")' <<<"$json")"
expect_match "queues: the API's own events queue (spool.events.api.<host>.<pid>) is listed" '^[1-9]' \
	"$(jq -r '[.queues[] | select(.name | startswith("spool.events.api."))] | length' <<<"$json")"
expect_match "queues: the worker consumes spool.jobs" '^[1-9]' \
	"$(jq -r '.queues[] | select(.name == "spool.jobs") | .consumers' <<<"$json")"
expect_match "queues: a table with a header when not a terminal" \
	$'^QUEUE\tREADY\tUNACKED\tCONSUMERS\tPUBLISH/S\tDELIVER/S\n' "$($ADM queues)"$'\n'

# copies of the config with one service pointed at a closed port
closed=$(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cfg() { # cfg NAME SED-EXPR: a copy of the config edited by SED-EXPR
	sed "$2" "$SPOOL_ADMINCTL_CONFIG" >"$T_TMP/$1.ini"
	echo "$T_TMP/$1.ini"
}
nomgmt=$(cfg nomgmt "s|^management_url = .*|management_url = http://127.0.0.1:$closed|")
json=$($ADM -c "$nomgmt" --json queues 2>"$T_TMP/err"); rc=$?
expect_eq "queues without the management API: exit 0, source amqp" "0 amqp" "$rc $(jq -r .source <<<"$json")"
expect_match "queues without the management API: says it falls back" "figures from AMQP instead" "$(cat "$T_TMP/err")"
expect_eq "queues over AMQP: rates and unacked are null" "null null" \
	"$(jq -r '.queues[] | select(.name == "spool.jobs") | "\(.unacked) \(.publish_rate)"' <<<"$json")"

printf '{"username":"spool","password":"x","host":"127.0.0.1","port":%s,"vhost":"/"}' "$closed" >"$T_TMP/mq.json"
printf '{"username":"spool","password":"x","host":"127.0.0.1","port":%s,"dbname":"spool"}' "$closed" >"$T_TMP/db.json"
nomq=$(cfg nomq "s|^management_url = .*|management_url = http://127.0.0.1:$closed|; s|^secret = $SPOOL_RABBITMQ_SECRET_ARN|secret = file:$T_TMP/mq.json|")
nodb=$(cfg nodb "s|^secret = $SPOOL_DB_SECRET_ARN|secret = file:$T_TMP/db.json|")
nocw=$(cfg nocw "/^\[cloudwatch\]/,/^\[/ s|^endpoint_url = .*|endpoint_url = http://127.0.0.1:$closed|")
down() { # down WHAT CONFIG ARGS...: exit 69 with one line on stderr
	local what=$1 c=$2 out rc
	shift 2
	out=$(timeout 60 "$ADM" -c "$c" "$@" 2>&1 >/dev/null); rc=$?
	expect_eq "$what: exit 69" 69 "$rc"
	expect_eq "$what: one line on stderr" 1 "$(grep -c . <<<"$out")"
}
down "queues with RabbitMQ down" "$nomq" queues
down "dead list with RabbitMQ down" "$nomq" dead list
down "jobs with the database down" "$nodb" jobs
down "job show with the database down" "$nodb" job show 00000000-0000-0000-0000-000000000000
down "audit with the database down" "$nodb" audit
down "job retry with the database down" "$nodb" job retry --all-failed --dry-run
down "metrics with CloudWatch down" "$nocw" metrics
out=$($ADM -c "$nomq" queues 2>&1 >/dev/null)
expect_match "RabbitMQ down: the message says what to check" "is RabbitMQ up" "$out"

# bad config: 78
$ADM -c "$T_TMP/missing.ini" jobs >/dev/null 2>&1
expect_eq "a missing config file: exit 78" 78 $?
bad=$(cfg bad 's|^\[adminctl\]|[adminctl]\nno_such_key = 1|')
out=$($ADM -c "$bad" queues 2>&1); rc=$?
expect_eq "an unknown config key: exit 78" 78 "$rc"
expect_match "an unknown config key: named" "no_such_key" "$out"

# usage: 2
for args in "jobs --status bogus" "jobs --limit 0" "jobs status=" "jobs --since yesterday" "job show" \
	"job retry" "job retry --type noop 00000000-0000-0000-0000-000000000000" \
	"job retry --all-failed 00000000-0000-0000-0000-000000000000" "job cancel" "dead purge --limit 0" "dead retry" \
	"metrics --period 90s" "audit --limit x" "queues --bogus" "no-such-command"; do
	# shellcheck disable=SC2086
	$ADM $args >/dev/null 2>&1
	expect_eq "'$args': exit 2" 2 $?
done

# ---- jobs, job show on a job that ran
worker_ensure
id=$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)
job=$(job_wait "$id" 30)
expect_eq "a noop job succeeded" succeeded "$(jq -r .status <<<"$job")"
json=$($ADM --json jobs --search "${id:0:8}" --limit 5)
expect_eq "jobs --search by id prefix finds it" "$id" "$(jq -r '.jobs[0].id' <<<"$json")"
expect_eq "jobs --json: top-level shape" "jobs,more" "$(jq -r 'keys_unsorted | join(",")' <<<"$json")"
expect_eq "jobs --json: a job's fields" \
	"attempts,created_at,error,finished_at,id,max_attempts,params,priority,progress,result,run_at,source,started_at,status,tenant,type" \
	"$(jq -r '.jobs[0] | keys | join(",")' <<<"$json")"
json=$($ADM --json jobs --status succeeded --type noop --since 10m --limit 1000)
expect_eq "jobs --status --type --since: all match" "true" \
	"$(jq -r '[.jobs[] | .status == "succeeded" and .type == "noop"] | all' <<<"$json")"
expect_match "jobs --status --type --since: ours among them" "$id" "$(jq -r '.jobs[].id' <<<"$json")"
expect_match "jobs: a table with a header" $'^ID\tSTATUS\tTYPE\tTENANT\tATT\tCREATED\tRUN AT\tERROR' "$($ADM jobs --limit 1 2>/dev/null)"
json=$($ADM --json job show "$id")
expect_eq "job show --json: shape" "job,events,errors" "$(jq -r 'keys_unsorted | join(",")' <<<"$json")"
expect_eq "job show: the history" "queued started succeeded" "$(jq -r '[.events[].event] | join(" ")' <<<"$json")"
expect_eq "job show: an event's fields" "at,attempt,detail,error,event,status,worker_id" \
	"$(jq -r '.events[0] | keys | join(",")' <<<"$json")"
expect_match "job show: text with the event table" $'status +succeeded.*\nAT\tEVENT\tSTATUS' "$($ADM job show "$id")"
out=$($ADM job show 00000000-0000-0000-0000-000000000000 2>&1); rc=$?
expect_eq "job show of an unknown id: exit 1" 1 "$rc"
expect_match "job show of an unknown id: says so" "no job" "$out"

# job cancel of a finished job: refused with its state
json=$($ADM --json job cancel "$id"); rc=$?
expect_eq "job cancel of a succeeded job: exit 1, nothing cancelled" "1 0" "$rc $(jq -r .count <<<"$json")"
expect_eq "job cancel --json: the job's state in errors" "succeeded" "$(jq -r '.errors[0].status' <<<"$json")"
json=$($ADM --json job retry "$id"); rc=$?
expect_eq "job retry of a succeeded job: exit 1" "1 not failed or cancelled" "$rc $(jq -r '.errors[0].reason' <<<"$json")"

# ---- read-only
for args in "job retry $id" "job cancel $id" "dead retry --all" "dead purge --yes" "keys revoke $id"; do
	# shellcheck disable=SC2086
	out=$($ADM --read-only $args 2>&1); rc=$?
	expect_eq "--read-only $args: exit 1" 1 "$rc"
	expect_match "--read-only $args: says read-only" "read-only" "$out"
done
ro=$(cfg ro 's|^\[adminctl\]|[adminctl]\nread_only = true|')
$ADM -c "$ro" dead purge --yes >/dev/null 2>&1
expect_eq "adminctl.read_only = true refuses too" 1 $?
$ADM --read-only job retry --all-failed --dry-run >/dev/null 2>&1
expect_eq "--read-only allows a dry run" 0 $?

# ---- dead list, audit
json=$($ADM --json dead list)
expect_eq "dead list --json: shape" "queue,total,messages" "$(jq -r 'keys_unsorted | join(",")' <<<"$json")"
# three audited actions of our own, so that the check does not depend on earlier tests
for _ in 1 2 3; do
	$ADM keys create --tenant "t0600-audit-$$" >/dev/null 2>&1 || fail "keys create (for the audit)"
done
json=$($ADM --json audit --limit 3)
expect_eq "audit --json: an entry's fields" "action,actor,at,count,detail,target" \
	"$(jq -r '.entries[0] | keys | join(",")' <<<"$json")"
expect_eq "audit --limit 3: three entries, the newest first: our keys.create" "keys.create keys.create keys.create" \
	"$(jq -r '[.entries[].action] | join(" ")' <<<"$json")"

# ---- metrics: two datums put with boto3, read back
metric=T0600Probe$$
py "
import os, boto3, botocore.config
cw = $(boto3_client cloudwatch)
cw.put_metric_data(Namespace='Spool', MetricData=[{'MetricName': '$metric', 'Value': v, 'Unit': 'Count'} for v in (3, 4)])
" || fail "PutMetricData with boto3"
json=$($ADM --json metrics "$metric" "$metric:Maximum" --since 10m --period 1m); rc=$?
expect_eq "metrics --json: exit 0" 0 "$rc"
expect_eq "metrics --json: shape" "namespace,start,end,period,metrics" "$(jq -r 'keys_unsorted | join(",")' <<<"$json")"
expect_eq "metrics: Sum and Maximum of what was put" "7 4" \
	"$(jq -r '[.metrics[] | [.points[].v] | add] | map(tostring) | join(" ")' <<<"$json")"
expect_eq "metrics: name, stat, period" "$metric Sum 60" "$(jq -r '"\(.metrics[0].name) \(.metrics[0].stat) \(.period)"' <<<"$json")"
expect_match "metrics: a table of periods when not a terminal" "^TIME"$'\t'"$metric:Sum"$'\t'"$metric:Maximum"$'\n'"[0-9T:-]+Z"$'\t7\t4' \
	"$($ADM metrics "$metric" "$metric:Maximum" --since 10m --period 1m)"

# ---- on a terminal: a chart, and tables no wider than the terminal
if command -v script >/dev/null; then
	tty_out=$(COLUMNS=80 script -qec "stty cols 80 rows 40; $ADM metrics $metric --since 10m --period 1m; $ADM audit --limit 5" /dev/null | sed 's/\x1b\[[0-9;]*m//g; s/\r$//')
	expect_match "metrics on a terminal: a sparkline with min/max/last" "$metric:Sum .* min 7 max 7 last 7" "$tty_out"
	widest=$(sed -n '/^AT /,$p' <<<"$tty_out" | py 'import sys; print(max(len(l.rstrip("\n")) for l in open(0, encoding="utf-8")))')
	if [ "$widest" -le 80 ] && [ "$widest" -gt 0 ]; then ok "audit on an 80-column terminal fits ($widest)"
	else fail "audit on an 80-column terminal fits" "widest line: $widest"$'\n'"$tty_out"; fi
fi

done_testing
