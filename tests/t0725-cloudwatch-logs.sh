#!/usr/bin/env bash
# The daemons ship their log lines to CloudWatch Logs (the AWS stand-in, which
# checks PutLogEvents' limits and keeps each stream's events in a file): after
# requests and a job both groups hold new lines, every one a JSON object with a level,
# the access line of a request id we chose among them and the job's lines in the
# worker's group. A second spool-api ships through a relay we stop and start: lines
# logged while the relay is away all arrive once it is back (below the queue's
# bound); a flood past its small queue does not slow the requests, and the lines
# dropped are counted in a "dropped N lines" line; SIGTERM ships what is queued, and
# ends it soon when there is nowhere to ship to.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/data/second-api.sh

LOGS=$SPOOL_RUN_DIR/standin/logs
grep -q '^cloudwatch_group = /spool/api' "$SPOOL_API_CONFIG" ||
	skip_all "[log] cloudwatch_group is not set in $SPOOL_API_CONFIG"
worker_ensure
standin_lines=$(wc -l <"$SPOOL_LOG_DIR/aws-standin.log")

# The stack's groups already hold every line the suite's earlier tests logged (tens of
# megabytes): decoding them all with jq at each poll took seconds of CPU. This test
# reads only what is shipped after it begins: the sizes of the stream files now.
declare -A SIZE0=()
for f in "$LOGS"/*/*.jsonl; do [ -f "$f" ] && SIZE0[$f]=$(stat -c %s "$f"); done
# shipped FILE: the lines of a stream file stored since the test began (a line cut at
# that point, its first, dropped)
shipped() {
	local from=${SIZE0[$1]:-0}
	if [ "$from" -eq 0 ]; then cat -- "$1"; else tail -c +"$((from + 1))" -- "$1" | sed '1{/^{/!d}'; fi
}
# the events of a group shipped since the test began, one per line (all its streams, or
# STREAM): "TIMESTAMP<TAB>MESSAGE"; with RAW, only those whose stored line holds RAW
events() { # GROUP [STREAM] [RAW]
	local dir f
	dir=$LOGS/$(jq -rn --arg g "$1" '$g | @uri')
	for f in "$dir"/${2:-*}.jsonl; do
		[ -f "$f" ] || continue
		shipped "$f" | { grep -F -e "${3:-}" || true; } | jq -r '[.timestamp, .message] | @tsv'
	done
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds (every 0.5 s, bounded)
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		"$@" >/dev/null 2>&1 && { ok "$what"; return 0; }
		sleep 0.5
	done
	fail "$what" "not within ${secs}s"
	return 1
}

# has_line GROUP NEEDLE [STREAM]: NEEDLE ('"key":"value"') is in a message of the group;
# the lines are picked by the value, which a stored line holds as it is
has_line() {
	local raw=${2##*\":\"}
	events "$1" "${3:-*}" "${raw%\"}" | grep -F -- "$2" >/dev/null
}

# --- the stack's daemons -------------------------------------------------------------
rid=t0725-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
curl -sS -o /dev/null -H "X-Request-Id: $rid" -H "Authorization: Bearer $SPOOL_API_KEY" \
	"$SPOOL_API_URL/v1/jobs?limit=1"
job=$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)
[ -n "$job" ] || bail "no job submitted"
[ "$(job_wait "$job" 60 | jq -r .status)" = succeeded ] || fail "job $job succeeded"

wait_for "the access line of request $rid is in /spool/api (within 30 s)" 30 has_line /spool/api "\"request_id\":\"$rid\""
line=$(events /spool/api '*' "$rid" | grep -F "\"request_id\":\"$rid\"" | head -n1 | cut -f2)
expect_eq "it is the access line: GET /v1/jobs, 200" "request GET /v1/jobs 200" \
	"$(jq -r '"\(.msg) \(.method) \(.path) \(.status)"' <<<"$line")"
wait_for "the worker's lines of job $job are in /spool/worker" 30 has_line /spool/worker "\"job_id\":\"$job\""

for g in /spool/api /spool/worker; do
	n=$(events "$g" | wc -l)
	expect_match "lines were shipped to $g meanwhile ($n)" '^[1-9]' "$n"
	bad=$(for f in "$LOGS/$(jq -rn --arg g "$g" '$g | @uri')"/*.jsonl; do
		shipped "$f" | jq -r '.message as $m | try ($m | fromjson |
			if type == "object" and (.level | IN("error", "warn", "info", "debug")) and (.time | type == "string")
			then empty else $m end) catch $m'
	done | head -n 3)
	expect_eq "every line shipped to $g meanwhile is a JSON object with a level and a time" "" "$bad"
done
expect_match "/spool/worker has info lines" '"level":"info"' "$(events /spool/worker | head -n 200)"
# the stand-in's own checks: its log shows PutLogEvents answered 200 (none refused)
refused=$(tail -n +"$((standin_lines + 1))" "$SPOOL_LOG_DIR/aws-standin.log" | grep -c ' logs PutLogEvents .* 400 ' || true)
expect_eq "no PutLogEvents call was refused by the stand-in" 0 "$refused"

# the stand-in holds PutLogEvents to AWS's limits, in AWS's words (boto3 as the client)
out=$(py "
import os, time, boto3, botocore.config
logs = $(boto3_client logs)
g, s = '/t0725/limits-$$', 'limits'
logs.create_log_group(logGroupName=g)
def code(f, **kw):
    try:
        f(**kw)
        return 'ok'
    except logs.exceptions.ClientError as e:
        return e.response['Error']['Code']
now = int(time.time() * 1000)
put = lambda ev: code(logs.put_log_events, logGroupName=g, logStreamName=s, logEvents=ev)
print('nostream', put([{'timestamp': now, 'message': 'x'}]))
print('create', code(logs.create_log_stream, logGroupName=g, logStreamName=s))
print('again', code(logs.create_log_stream, logGroupName=g, logStreamName=s))
print('nogroup', code(logs.create_log_stream, logGroupName='/t0725/none', logStreamName=s))
print('good', put([{'timestamp': now, 'message': 'a'}, {'timestamp': now, 'message': 'b'}]))
print('order', put([{'timestamp': now, 'message': 'a'}, {'timestamp': now - 1, 'message': 'b'}]))
print('count', put([{'timestamp': now, 'message': 'e'}] * 10001))
print('count10000', put([{'timestamp': now, 'message': 'e'}] * 10000))
big = 'y' * (1048576 // 4 - 26)
print('bytes', put([{'timestamp': now, 'message': big}] * 4 + [{'timestamp': now, 'message': 'z'}]))
print('bytes4', put([{'timestamp': now, 'message': big}] * 4))
print('span', put([{'timestamp': now - 86400001, 'message': 'a'}, {'timestamp': now, 'message': 'b'}]))
" 2>&1)
at_exit "rm -rf '$LOGS/%2Ft0725%2Flimits-$$'"
expect_eq "PutLogEvents, CreateLogStream: AWS's answers at and past each limit" "nostream ResourceNotFoundException
create ok
again ResourceAlreadyExistsException
nogroup ResourceNotFoundException
good ok
order InvalidParameterException
count InvalidParameterException
count10000 ok
bytes InvalidParameterException
bytes4 ok
span InvalidParameterException" "$out"

# --- a second API shipping through a relay ---------------------------------------------
free_port() { py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(free_port)
port=$(free_port)
mport=$(free_port)
stream=t0725-$$
aws_port=${SPOOL_AWS_ENDPOINT##*:}
relay_pid=
relay_up() {
	"$T_PY" tests/tools/unix-relay.py "tcp:$rport=tcp:$aws_port" >"$T_TMP/relay.out" 2>&1 &
	relay_pid=$!
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q ready "$T_TMP/relay.out" 2>/dev/null && return 0
		sleep 0.1
	done
	bail "the relay did not start: $(cat "$T_TMP/relay.out")"
}
relay_down() {
	[ -n "$relay_pid" ] || return 0
	kill "$relay_pid" 2>/dev/null
	wait "$relay_pid" 2>/dev/null
	relay_pid=
}
at_exit 'relay_down'

cfg=$T_TMP/api2.ini
api_config_copy "$cfg" "$port" "$mport"
sed -i '/^cloudwatch_group *=/d' "$cfg"
cat >>"$cfg" <<-EOF

	[log]
	cloudwatch_group = /spool/api
	cloudwatch_stream = $stream
	cloudwatch_endpoint_url = http://127.0.0.1:$rport
	cloudwatch_queue = 64K
EOF
api2_log=$SPOOL_LOG_DIR/spool-api-$T_NAME.log
URL2=http://127.0.0.1:$port
# start_api2: the second spool-api with $cfg, its pid in $api2, answering on $URL2
start_api2() {
	env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-api -c "$cfg" \
		>>"$api2_log" 2>&1 </dev/null &
	api2=$!
	at_exit "kill -TERM $api2"
	local i
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null --max-time 1 "$URL2/health" 2>/dev/null && return 0
		kill -0 "$api2" 2>/dev/null || bail "the second spool-api exited: $(tail -n 5 "$api2_log")"
		sleep 0.1
	done
}
# stop_api2: SIGTERM it and wait (30 s at most); prints the seconds it took
stop_api2() {
	local t0 i
	t0=$(date +%s)
	kill -TERM "$api2"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$api2" 2>/dev/null || break
		sleep 0.1
	done
	echo $(($(date +%s) - t0))
}
start_api2

# 1. the relay is away for a while: 40 requests' lines wait in the queue and all arrive
for i in $(seq 1 40); do
	curl -sS -o /dev/null --max-time 5 -H "X-Request-Id: $rid-down-$i" "$URL2/health"
done
sleep 6 # at least one flush interval with nowhere to ship to
expect_eq "nothing reached the stream while the relay was away" 0 "$(events /spool/api "$stream" | wc -l)"
relay_up
count_down() { [ "$(events /spool/api "$stream" | grep -c "\"request_id\":\"$rid-down-")" -eq 40 ]; }
wait_for "the 40 access lines logged while the relay was away arrive after it is back (within 90 s)" 90 count_down
expect_eq "none of them was dropped" "" "$(events /spool/api "$stream" | grep -F 'dropped' | head -n1)"

# 2. a flood past the 64 KiB queue with the relay away: requests are not slowed, drops counted
t_start=$(($(date +%s) / 60 * 60 - 600))
# the LogLinesDropped sum (no dimensions) from ten minutes before the test, as boto3 reads it
drops_metric() {
	py "
import os, datetime, time, boto3, botocore.config
cw = $(boto3_client cloudwatch)
end = datetime.datetime.fromtimestamp((int(time.time()) // 60 + 1) * 60, datetime.timezone.utc)
r = cw.get_metric_data(MetricDataQueries=[{'Id': 'm', 'MetricStat': {'Metric': {'Namespace': 'Spool',
    'MetricName': 'LogLinesDropped'}, 'Period': 60, 'Stat': 'Sum'}}],
    StartTime=datetime.datetime.fromtimestamp($t_start, datetime.timezone.utc), EndTime=end)
print('%d' % sum(r['MetricDataResults'][0]['Values']))
"
}
drops_before=$(drops_metric)
relay_down
sleep 1
n=600
t0=$(date +%s%N)
curl -sS -o /dev/null --max-time 60 -H "X-Request-Id: $rid-flood" "$URL2/health?[1-$n]"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
expect_match "$n requests answered while the queue was full, in ${ms} ms (< 30 s)" yes \
	"$([ "$ms" -lt 30000 ] && echo yes || echo no)"
relay_up
has_drops() { events /spool/api "$stream" | grep -q '"msg":"dropped [0-9]* lines"'; }
wait_for "a \"dropped N lines\" line is shipped once the relay is back" 90 has_drops
dropped=$(events /spool/api "$stream" | cut -f2 | jq -r 'select(.msg | test("^dropped")) | .dropped' | awk '{ s += $1 } END { print s + 0 }')
shipped=$(events /spool/api "$stream" | grep -c "\"request_id\":\"$rid-flood\"")
expect_match "some flood lines were shipped ($shipped) and some dropped ($dropped)" yes \
	"$([ "$shipped" -gt 0 ] && [ "$shipped" -lt "$n" ] && [ "${dropped:-0}" -gt 0 ] && echo yes || echo no)"
expect_match "shipped + dropped >= the $n flood lines ($shipped + $dropped)" yes \
	"$([ $((shipped + dropped)) -ge "$n" ] && echo yes || echo no)"
drops_grew() { [ "$(drops_metric)" -ge $((drops_before + dropped)) ]; }
wait_for "the metric LogLinesDropped grew by the $dropped lines dropped (from $drops_before)" 30 drops_grew
notice=$(events /spool/api "$stream" | cut -f2 | grep '"msg":"dropped' | head -n1)
expect_eq "the notice is a warn line of spool-api" "warn spool-api" "$(jq -r '"\(.level) \(.daemon)"' <<<"$notice")"

# 3. SIGTERM ships what is queued (bounded)
for i in 1 2 3; do
	curl -sS -o /dev/null --max-time 5 -H "X-Request-Id: $rid-last-$i" "$URL2/health"
done
secs=$(stop_api2)
kill -0 "$api2" 2>/dev/null && fail "the second spool-api stopped within 30 s" || ok "the second spool-api stopped in ${secs}s"
expect_eq "its last access lines and its 'stopped' line were shipped at SIGTERM" "3 1" \
	"$(events /spool/api "$stream" | grep -c "\"request_id\":\"$rid-last-") $(events /spool/api "$stream" | grep -c '"msg":"stopped"')"

# 4. with nowhere to ship to, SIGTERM still ends it soon (the last flush tries once, within 5 s)
relay_down
start_api2
secs=$(stop_api2)
kill -0 "$api2" 2>/dev/null && fail "stopped within 30 s while the relay was away" ||
	expect_match "stopped in ${secs}s (< 15 s) while the relay was away" yes "$([ "$secs" -lt 15 ] && echo yes || echo no)"

done_testing
