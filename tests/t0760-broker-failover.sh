#!/usr/bin/env bash
# t0760 — several broker nodes: spool-api and spool-worker get two endpoints
# ([rabbitmq] endpoints), two TCP proxies in front of the stack's broker standing for
# two nodes of a cluster. Node B is down at first: every connection goes to node A.
# Then B comes up and A dies while jobs flow: every connection fails over to B, and
# every accepted job finishes exactly once, nothing left in the outbox.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
[ -x bin/spool-api ] && [ -x bin/spool-worker ] || skip_all "the daemons are not built"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
free_port() { py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AMQP_PORT=$((SPOOL_PORT_BASE + 1))
PA=$(free_port)
PB=$(free_port)
RUNTAG=t0760-$(date +%s)-$$

# proxy NAME PORT: node NAME on PORT, a TCP relay to the broker (unix-relay.py joins
# TCP to TCP as well); its pid in $PROXY
proxy() {
	"$T_PY" tests/tools/unix-relay.py "tcp:$2=tcp:$AMQP_PORT" >"$T_TMP/$1.out" 2>&1 &
	PROXY=$!
	at_exit "kill -9 $PROXY"
	for ((i = 0; i < 50; i++)); do grep -qs ready "$T_TMP/$1.out" && return 0; sleep 0.1; done
	bail "proxy $1 did not start: $(cat "$T_TMP/$1.out")"
}
# connections PORT: the connections the daemons hold to the node on PORT
connections() { ss -tnH state established "( dport = :$1 )" | wc -l; }

# wait_ready: /ready 200 and the worker consuming (bounded)
wait_up() {
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SPOOL_API_URL/ready")" = 200 ] &&
			grep -q "consuming 'spool.jobs'" "$T_TMP/worker.log" && return 0
		sleep 0.2
	done
	return 1
}

# burst NAME N RATE: noop jobs through the API in the background ($BPID)
burst() {
	py_file tests/faults/burst.py "$T_TMP/$1.jsonl" "$2" --rate "$3" --tag "$RUNTAG-$1" >"$T_TMP/$1.sum" 2>&1 &
	BPID=$!
}
ids() { echo "{$(jq -r 'select(.status == 202 and .valid) | .id' "$T_TMP/$1.jsonl" | paste -sd, -)}"; }
# outcome NAME: "accepted not-final succeeded-not-once unsent-outbox"
outcome() {
	sql -F ' ' -v ids="$(ids "$1")" <<-'SQL'
		WITH ids AS (SELECT DISTINCT unnest(:'ids'::uuid[]) AS id),
		ev AS (SELECT job_id, count(*) FILTER (WHERE event = 'succeeded') AS ns FROM job_events
		       WHERE job_id IN (SELECT id FROM ids) GROUP BY job_id)
		SELECT count(*),
		       count(*) FILTER (WHERE jobs.status IS DISTINCT FROM 'succeeded'),
		       count(*) FILTER (WHERE coalesce(ev.ns, 0) <> 1),
		       (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND
		          substring(payload FROM '"job_id":"([0-9a-f-]{36})"')::uuid IN (SELECT id FROM ids))
		FROM ids LEFT JOIN jobs ON jobs.id = ids.id LEFT JOIN ev ON ev.job_id = ids.id
	SQL
}
# settle NAME SECONDS: until every accepted job succeeded and the outbox is sent
settle() {
	local end=$((SECONDS + $2)) m
	while :; do
		m=($(outcome "$1"))
		[ "${#m[@]}" -eq 4 ] && [ "${m[1]}" -eq 0 ] && [ "${m[3]}" -eq 0 ] && break
		[ $SECONDS -lt $end ] || break
		sleep 1
	done
	echo "${m[*]}"
}
verify() { # NAME
	local m
	m=($(settle "$1" 90))
	[ "${m[0]:-0}" -gt 0 ] && ok "$1: ${m[0]} jobs accepted" || fail "$1: jobs accepted" "$(cat "$T_TMP/$1.sum")"
	expect_eq "$1: every accepted job succeeded" 0 "${m[1]:-x}"
	expect_eq "$1: each exactly once (one succeeded event)" 0 "${m[2]:-x}"
	expect_eq "$1: no unsent outbox row" 0 "${m[3]:-x}"
}

# ---- the daemons, with node B (down) and node A in their endpoints
proxy a "$PA"
PROXY_A=$PROXY
scripts/stack.sh stop spool-api >/dev/null 2>&1
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-api; scripts/stack.sh start spool-worker"
for f in api worker; do
	var=SPOOL_${f^^}_CONFIG
	awk -v eps="endpoints = 127.0.0.1:$PB, 127.0.0.1:$PA" '{ print } $0 == "[rabbitmq]" { print eps }' "${!var}" >"$T_TMP/$f.ini"
done
printf 'id = t0760\n' >>"$T_TMP/worker.ini"
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-api -f "$T_TMP/api.ini" >"$T_TMP/api.log" 2>&1 </dev/null &
API=$!
at_exit "kill -TERM $API; sleep 0.5"
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-worker -f "$T_TMP/worker.ini" >"$T_TMP/worker.log" 2>&1 </dev/null &
WORKER=$!
at_exit "kill -TERM $WORKER; sleep 1"
wait_up || bail "the daemons did not come up: $(tail -n 5 "$T_TMP/api.log" "$T_TMP/worker.log")"
ok "spool-api is ready and spool-worker consumes with node B down"

burst before 60 60
wait "$BPID"
verify before
expect_eq "no connection went to node B (it is down)" "" \
	"$(grep -h "connected to '127.0.0.1:$PB'" "$T_TMP/api.log" "$T_TMP/worker.log")"
n=$(connections "$PA")
[ "$n" -ge 4 ] && ok "node A carries the connections ($n)" || fail "node A carries the connections" "$n connections"
expect_match "the daemons logged their connections to node A" \
	"connected to '127.0.0.1:$PA'" "$(cat "$T_TMP/api.log" "$T_TMP/worker.log")"

# ---- node B comes up, node A dies while jobs flow
proxy b "$PB"
burst failover 400 100
sleep 1.5
kill -9 "$PROXY_A"
wait "$PROXY_A" 2>/dev/null
ok "node A killed mid-burst"
wait "$BPID"
verify failover
nb=$(connections "$PB")
[ "$nb" -ge 4 ] && ok "the connections moved to node B ($nb)" || fail "the connections moved to node B" "$nb connections"
expect_eq "none is left on node A" 0 "$(connections "$PA")"
for f in api worker; do
	expect_match "spool-$f logged its failover to node B" "connected to '127\.0\.0\.1:$PB'" "$(cat "$T_TMP/$f.log")"
done
expect_eq "spool-api is ready on node B" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$SPOOL_API_URL/ready")"
check "spool-api still runs" kill -0 "$API"
check "spool-worker still runs" kill -0 "$WORKER"

# and after it, jobs flow through B alone
burst after 40 40
wait "$BPID"
verify after

done_testing
