#!/usr/bin/env bash
# t0700 — the TUI driven in tmux against the local stack: the Overview shows the
# broker's queue depth, the database's job counts and its jobs waiting unclaimed
# past redrive_after, and keeps a long queue name
# to its column and the numbers in theirs, the failed tab plus a search shows
# exactly the failed jobs, R retries them (they run again and succeed), `?` opens
# the help, a poison message in spool.dead is listed on the
# Dead screen and P + y purges it, `a` on the Overview shows the audit trail with
# those actions, 80x24 and back redraws cleanly, RabbitMQ stopped shows as down
# while the TUI keeps working, read-only refuses actions, q exits 0.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || skip_all "tmux is not installed"
command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
[ -x bin/adminctl ] || bail "bin/adminctl is not built"

U=$SPOOL_API_URL
R=t0700-$$-$RANDOM                       # in every key of this run: the search term
TENANT=t0700
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$TENANT" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
api() { curl -fsS --max-time 40 -H "Authorization: Bearer $KEY" "$@"; }
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }

# ---- jobs in several states -------------------------------------------------
submit() { # TYPE [SOURCE-KEY]
	local body='{"type":"'$1'"}'
	[ -n "${2:-}" ] && body=$(jq -cn --arg t "$1" --arg k "$2" '{type: $t, source: {key: $k}}')
	api -X POST -H 'Content-Type: application/json' -d "$body" "$U/v1/jobs" | json_id
}
wait_final() { # ID...: each in a final state within 60 s
	local id
	for id in "$@"; do
		api "$U/v1/jobs/$id?wait=30" >/dev/null || true
		api "$U/v1/jobs/$id?wait=30" >/dev/null || true
	done
}
noop=($(submit noop) $(submit noop))
printf 'not a video\n' >"$T_TMP/text.mp4"
up=$(api -X POST -H 'Content-Type: application/json' -d "{\"size\": $(stat -c %s "$T_TMP/text.mp4")}" \
	"$U/v1/uploads") || bail "POST /v1/uploads failed"
curl -fsS -X PUT --upload-file "$T_TMP/text.mp4" "$(jq -r .url <<<"$up")" >/dev/null || bail "upload failed"
text_job=$(submit media.probe "$(jq -r .key <<<"$up")")
missing=()
for i in 1 2 3; do missing+=("$(submit media.probe "uploads/$TENANT/$R/clip-$i.mp4")"); done
wait_final "${noop[@]}" "$text_job" "${missing[@]}"
expect_eq "noop jobs succeeded" "succeeded succeeded" \
	"$(sql "SELECT string_agg(status, ' ') FROM jobs WHERE id IN ('${noop[0]}', '${noop[1]}')")"
expect_eq "the text file failed with invalid_media" "failed invalid_media" \
	"$(sql "SELECT status || ' ' || (error->>'code') FROM jobs WHERE id = '$text_job'")"
expect_eq "the probes of missing sources failed" "3" \
	"$(sql "SELECT count(*) FROM jobs WHERE status = 'failed' AND error->>'code' = 'source_not_found' AND error->>'message' LIKE '%$R%'")"

# ---- the TUI in tmux ---------------------------------------------------------
TM=(tmux -L "spooltest-$$")    # a server of its own: other runs of this test may be going
"${TM[@]}" kill-server 2>/dev/null
at_exit "${TM[*]} kill-server"
start_tui() { # EXTRA-OPTIONS
	"${TM[@]}" kill-server 2>/dev/null
	rm -f "$T_TMP/exit"
	"${TM[@]}" new-session -d -x 100 -y 30 \
		"bin/adminctl -f $SPOOL_ADMINCTL_CONFIG $*; echo \$? >$T_TMP/exit; echo EXIT; sleep 600"
}
. tests/data/tui-lib.sh
# the number in column 2 of the row naming QUEUE
screen_queue() { screen | awk -v q="$1" '$1 == q { gsub(",", "", $2); print $2 }'; }
mgmt_ready() {
	curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$1" | jq -r .messages_ready
}

start_tui
expect_screen "the TUI starts on the Overview" '1 Overview.*2 Jobs' 10
expect_screen "database and rabbitmq are up" 'database up +rabbitmq up' 15
expect_screen "the queues are listed" 'spool\.dead +[0-9]' 10

# A queue name longer than its column, as the API's own spool.events.api.<host>.<pid>
# can be, is cut keeping its end, and the row's numbers stay in their columns: each
# ends where its header ends. (A queue of the test's own, so that the name is long
# whatever the host name and pid.)
longq=spool.events.api.t0700-long-host-name.example.$$
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'content-type: application/json' "$@"; }
mgmt -X PUT -d '{"durable": false, "auto_delete": false}' "$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$longq" ||
	fail "declare the queue $longq"
at_exit "curl -fsS -u '$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD' -X DELETE '$SPOOL_RABBITMQ_MGMT_URL/api/queues/%2F/$longq'"
aligned() { # QUEUE: 0 when the row of QUEUE (cut to the column) has its 5 numbers under the headers
	screen | py 'import re, sys
name = sys.argv[1]
shown = name if len(name) <= 22 else "\u2026" + name[-21:]
lines = sys.stdin.buffer.read().decode("utf-8", "replace").split("\n")
head = [l for l in lines if re.match(r"^  queue +ready +unacked", l)]
row = [l for l in lines if l[2:24].rstrip() == shown]
if not head or not row:
    sys.exit(1)
ends = [m.end() for m in re.finditer(r"\S+", head[0])][1:]
got = [m.end() for m in re.finditer(r"\S+", row[0][24:])]
sys.exit(0 if len(ends) == 5 and [e + 24 for e in got] == ends else 1)' "$1"
}
same=
for _ in 1 2 3 4 5; do
	keys r
	sleep 1
	aligned "$longq" && same=1 && break
done
[ -n "$same" ] && ok "a long queue name is cut to its column (…${longq: -21}) and its numbers stay in their columns" ||
	fail "a long queue name keeps the numbers in their columns" "$(screen)"

# The queue depth as the broker counts it (the management API refreshes every second)
same=
for _ in 1 2 3 4 5; do
	keys r
	sleep 1.5
	want=$(mgmt_ready spool.dead) got=$(screen_queue spool.dead)
	[ -n "$got" ] && [ "$got" = "$want" ] && same=1 && break
done
[ -n "$same" ] && ok "spool.dead depth is the broker's ($got)" || fail "spool.dead depth" "screen '$got', management API '$want'"

# The job counts of the database
same=
for _ in 1 2 3 4 5; do
	keys r
	sleep 1
	want=$(sql "SELECT string_agg(s || ' ' || to_char(coalesce(n, 0), 'FM999,999,999'), '   ' ORDER BY o)
		FROM unnest(ARRAY['queued','running','retrying','succeeded','failed','cancelled']) WITH ORDINALITY AS u(s, o)
		LEFT JOIN (SELECT status, count(*) n FROM jobs GROUP BY status) c ON c.status = u.s")
	got=$(screen | grep -m1 -o 'queued [0-9,]* .*cancelled [0-9,]*' | sed 's/ *$//')
	[ "$got" = "$want" ] && same=1 && break
done
[ -n "$same" ] && ok "job counts per state are the database's" || fail "job counts" "screen: $got
psql:   $want"

# Jobs waiting unclaimed past redrive_after (5m): one stranded an hour ago, its
# message just published again (so that no worker's re-drive touches it meanwhile)
stranded=$(sql "INSERT INTO jobs (tenant_id, type, due_at, redriven_at) VALUES ('$TENANT', 'noop',
	now() - interval '1 hour', now()) RETURNING id" | head -n 1)
at_exit "psql -X -At '$SPOOL_PG_DSN' -c \"DELETE FROM jobs WHERE id = '$stranded'\""
same=
for _ in 1 2 3 4 5; do
	keys r
	sleep 1
	want=$(sql "SELECT to_char(count(*), 'FM999,999,999') FROM jobs WHERE status IN ('queued', 'retrying')
		AND due_at < now() - interval '5 minutes'")
	got=$(screen | sed -n 's/^ *unclaimed > 5m \([0-9,]*\) .*/\1/p')
	[ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" != 0 ] && same=1 && break
done
[ -n "$same" ] && ok "the jobs waiting unclaimed > 5m are the database's ($got)" || fail "unclaimed > 5m" "screen: '$got'
psql:   '$want'
$(screen)"
expect_screen "… labelled as what they are" 'unclaimed > 5m [0-9,]+ +\(queued or due for retry, no worker took them: re-driven\)' 2
sql "DELETE FROM jobs WHERE id = '$stranded'" >/dev/null

# ---- Jobs: failed tab and search ---------------------------------------------
keys 2
expect_screen "the Jobs screen" 'search: -' 10
for _ in 1 2 3 4 5; do keys l; done # all → queued → running → retrying → succeeded → failed
keys / && "${TM[@]}" send-keys -l "$R" && keys Enter
expect_screen "failed + search: three jobs" "search: $R +3 jobs" 15
want=$(sql "SELECT left(id::text, 8) FROM jobs WHERE status = 'failed' AND (error->>'message' ILIKE '%$R%' OR type = '$R' OR id::text LIKE '$R%') ORDER BY 1" | tr '\n' ' ')
got=$(screen | awk '$3 == "failed" && $2 == "media.probe" { print $1 }' | sort | tr '\n' ' ')
expect_eq "the rows are exactly the failed jobs of psql" "$want" "$got"

# ---- help overlay --------------------------------------------------------------
keys '?'
expect_screen "? opens the help overlay" 'keys — Jobs' 5
expect_screen "… generated from the key table" 'R +retry the selected, marked or matching jobs' 2
# a plain key (an Escape could merge with the next key into an Alt sequence when
# the TUI is slow to read, as under the sanitizers on a loaded machine)
keys x
if wait_gone 'keys — Jobs' 5; then ok "any key closes the help"; else fail "any key closes the help" "$(screen)"; fi

# ---- retry from the TUI ----------------------------------------------------------
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "ffmpeg failed"
for i in 1 2 3; do
	py "import boto3, botocore.config, os, sys
$(boto3_client s3).upload_file(sys.argv[1], os.environ['SPOOL_S3_BUCKET'], sys.argv[2])" \
		"$T_TMP/clip.mp4" "uploads/$TENANT/$R/clip-$i.mp4" || bail "cannot put clip-$i in S3"
done
audit_before=$(sql "SELECT coalesce(max(id), 0) FROM audit")
keys R
expect_screen "R asks which jobs" 'retry: \(s\)elected job or \(a\)ll 3 matching the filter' 5
keys a
expect_screen "the confirmation says how many, and which" "retry 3 failed media.probe jobs matching '$R' \([0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{8}\)\? y/N" 15
keys y
expect_screen "the retry is done" 'retry: 3 of 3 jobs done' 20
n=$(sql "SELECT count(*) FROM jobs WHERE id IN ('${missing[0]}', '${missing[1]}', '${missing[2]}') AND status <> 'failed'")
expect_eq "the three jobs left the failed state" 3 "$n"
wait_final "${missing[@]}"
expect_eq "they ran again and succeeded" "succeeded succeeded succeeded" \
	"$(sql "SELECT string_agg(status, ' ') FROM jobs WHERE id IN ('${missing[0]}', '${missing[1]}', '${missing[2]}')")"
expect_eq "the retry is in the audit trail (actor, action, count)" "local-stack job.retry filter 3" \
	"$(sql "SELECT actor || ' ' || action || ' ' || target || ' ' || count FROM audit WHERE id > $audit_before AND action = 'job.retry' ORDER BY id DESC LIMIT 1")"
expect_eq "exactly those jobs were retried" "$(printf '%s\n' "${missing[@]}" | sort | tr '\n' ' ')" \
	"$(sql "SELECT jsonb_array_elements_text(detail->'ids') FROM audit WHERE id > $audit_before AND action = 'job.retry' ORDER BY 1" | tr '\n' ' ')"

# ---- dead letters: a poison message, listed, then purged ------------------------------
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
routed=$(mgmt -H 'Content-Type: application/json' -X POST "$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/amq.default/publish" \
	-d "$(jq -cn --arg p "poison $R" '{properties: {}, routing_key: "spool.jobs", payload: $p, payload_encoding: "string"}')" |
	jq -r .routed)
expect_eq "the poison message is routed to spool.jobs" true "$routed"
dead=0
for _ in $(seq 1 40); do
	dead=$(mgmt_ready spool.dead)
	[ "${dead:-0}" -gt 0 ] && break
	sleep 0.5
done
[ "${dead:-0}" -gt 0 ] && ok "the worker dead-letters it to spool.dead ($dead)" || fail "poison in spool.dead" "messages_ready '$dead'"
keys 4
keys End # the newest message is the last of the queue
expect_screen "the Dead screen lists the poison message" "poison +- +- +message is not JSON: .*'poison'" 15
keys P
# the management API's count lags: the held ones are those the screen read
expect_screen "P holds the messages shown and asks, stating how many" "purge these [0-9]+ held messages? \([0-9]+ poison\) from spool\.dead for good\? y/N" 15
n=$(screen | sed -nE 's/.*purge these ([0-9]+) held message.*/\1/p' | head -n 1)
keys y
expect_screen "the purge is done" "purge: $n messages? dropped from spool\.dead" 20
left=
for _ in $(seq 1 20); do
	left=$(mgmt_ready spool.dead)
	[ "$left" = 0 ] && break
	sleep 0.5
done
expect_eq "spool.dead is empty (management API)" 0 "$left"
expect_eq "the purge is in the audit trail" "local-stack dead.purge spool.dead $n" \
	"$(sql "SELECT actor || ' ' || action || ' ' || target || ' ' || count FROM audit WHERE id > $audit_before AND action = 'dead.purge' ORDER BY id DESC LIMIT 1")"

# ---- the audit view ------------------------------------------------------------------
keys 1
keys a
expect_screen "a on the Overview opens the audit trail" 'Audit trail \(newest first' 10
expect_screen "… with the retry done from the Jobs screen" 'local-stack +job\.retry +filter +3 ' 10
expect_screen "… and the purge" "local-stack +dead\.purge +spool\.dead +$n " 5
keys q
expect_screen "q goes back to the Overview" 'Services' 5

# ---- resize ----------------------------------------------------------------------
keys 1
expect_screen "back on the Overview" 'Services' 5
check_frame() { # WHAT COLS ROWS
	local s lines first last
	s=$(screen)
	lines=$(printf '%s\n' "$s" | wc -l)
	first=$(printf '%s\n' "$s" | head -n 1)
	last=$(printf '%s\n' "$s" | tail -n 1)
	if [ "$lines" -eq "$3" ] && [[ $first =~ ^\ spool\ +1\ Overview ]] && [[ $last =~ ^a\ audit\ +f\ failures\ +\?\ help\ +q\ quit ]] &&
		[ "$(printf '%s\n' "$s" | LC_ALL=C.UTF-8 wc -L)" -le "$2" ] &&
		[ "$(printf '%s\n' "$s" | grep -c '1 Overview')" -eq 1 ] && [ "$(printf '%s\n' "$s" | grep -c '? help')" -eq 1 ]; then
		ok "$1"
	else
		fail "$1" "$s"
	fi
}
"${TM[@]}" resize-window -x 80 -y 24
sleep 1
check_frame "80x24: header and key bar intact, nothing left over" 80 24
"${TM[@]}" resize-window -x 100 -y 30
sleep 1
check_frame "back to 100x30: redrawn whole" 100 30

# ---- metrics ---------------------------------------------------------------------------
py "import boto3, botocore.config, os, datetime
now = datetime.datetime.now(datetime.timezone.utc)
$(boto3_client cloudwatch).put_metric_data(Namespace='Spool', MetricData=[
    {'MetricName': 'JobsFailed', 'Value': float(v), 'Unit': 'Count', 'Timestamp': now - datetime.timedelta(minutes=5 * i)}
    for i, v in enumerate([3, 5, 8, 2, 7])])" || fail "put metric data into the stand-in"
keys 6
expect_screen "the Metrics screen draws CloudWatch series as sparklines" 'jobs failed +[ ▁▂▃▄▅▆▇█]*[▁▂▃▄▅▆▇█]' 15
keys p
expect_screen "p changes the period" 'period 15m \(p\), range 3h' 5
keys ']'
expect_screen "] lengthens the range" 'period 15m \(p\), range 12h' 5
keys 1

# ---- RabbitMQ down -------------------------------------------------------------------
RMQDIR=$SPOOL_RUN_DIR/rabbitmq
rmqctl() {
	env HOME="$RMQDIR/home" RABBITMQ_NODENAME="spool$SPOOL_PORT_BASE@localhost" RABBITMQ_USE_LONGNAME=false \
		ERL_EPMD_PORT=$((SPOOL_PORT_BASE + 3)) RABBITMQ_CONF_ENV_FILE="$RMQDIR/rabbitmq-env.conf" \
		/usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}
wait_ready() { # STATUS SECONDS
	local i
	for ((i = 0; i < $2 * 4; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/ready")" = "$1" ] && return 0
		sleep 0.25
	done
	return 1
}
if rmqctl -q status >/dev/null 2>&1; then
	rmqctl -q stop_app >/dev/null || bail "rabbitmqctl stop_app failed"
	at_exit 'rmqctl -q start_app'
	keys r
	expect_screen "RabbitMQ stopped: the Overview shows it down" 'rabbitmq DOWN' 30
	expect_screen "… and the status line says why" 'rabbitmq down: ' 5
	expect_screen "… the queues show as down" 'spool\.jobs +down' 5
	keys 2
	expect_screen "the Jobs screen still works" "search: $R +[0-9]+ jobs" 10
	keys 1
	expect_screen "and back to the Overview" 'database up +rabbitmq DOWN' 10
	rmqctl -q start_app >/dev/null || bail "rabbitmqctl start_app failed"
	wait_ready 200 60 || fail "the API is ready again after RabbitMQ restarts" "$(curl -s "$U/ready")"
	keys r
	expect_screen "RabbitMQ back: up again in the TUI" 'database up +rabbitmq up' 30
	id=$(submit noop)
	wait_final "$id"
	expect_eq "the worker runs jobs again" succeeded "$(sql "SELECT status FROM jobs WHERE id = '$id'")"
else
	fail "rabbitmqctl reaches the stack's node" "cannot run the RabbitMQ part"
fi

# ---- quit ------------------------------------------------------------------------------
keys q
expect_screen "q quits and the shell gets the terminal back" 'EXIT' 10
expect_eq "adminctl exited 0" 0 "$(cat "$T_TMP/exit" 2>/dev/null)"

# ---- read-only -------------------------------------------------------------------------
start_tui --read-only
expect_screen "read-only: marked in the header" 'read-only' 10
keys 2
expect_screen "read-only: the Jobs screen" 'search: -' 10
keys R
expect_screen "read-only: R is refused in the status line" 'read-only: retry is disabled' 5

# ---- a signal restores the terminal ------------------------------------------------------
pid=$(pgrep -f "^bin/adminctl -f $SPOOL_ADMINCTL_CONFIG --read-only" | head -n 1)
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	expect_screen "SIGTERM: the TUI ends and the shell gets the terminal back" 'EXIT' 10
	expect_eq "exit status 128+15" 143 "$(cat "$T_TMP/exit" 2>/dev/null)"
else
	fail "find the TUI's pid" "$(ps -ef | grep adminctl)"
fi

done_testing
