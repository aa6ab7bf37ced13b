#!/usr/bin/env bash
# t0750 — quorum queues. On the stack's broker (one node: quorum queues work on one):
# the shared queues are quorum and a process's own events queue classic, jobs run end to
# end, a retry goes through a quorum delay queue, and a message returned more often than
# the delivery limit is dead-lettered to spool.dead. Then, in a vhost of its own
# (spool-t0750): a spool.jobs made classic stops spool-worker and spool-api at start with
# exit 78 and a message naming the queue and the way out; `adminctl queues migrate`
# converts it, and a classic delay queue, keeping their messages, after which the worker
# starts; and a worker told queue_type = classic then refuses the quorum queues.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
mgmt() { curl -sS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json' "$@"; }
M=$SPOOL_RABBITMQ_MGMT_URL
free_port() { py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# a copy of the stack's config FILE with LINES added to its [rabbitmq] section (a
# `secret =` line there replaces the stack's)
ini_with() { # FILE OUT LINES
	awk -v extra="$3" '
		/^\[/ { section = $0 }
		section == "[rabbitmq]" && /^secret *=/ && extra ~ /(^|\n)secret *=/ { next }
		{ print }
		$0 == "[rabbitmq]" { print extra }' "$1" >"$2"
}
# wait until the management API shows `queue` of `vhost` with `messages` messages (its figures lag)
wait_messages() { # VHOST QUEUE N
	local i n
	for ((i = 0; i < 40; i++)); do
		n=$(mgmt "$M/api/queues/$1/$2" | jq -r '.messages // empty')
		[ "$n" = "$3" ] && return 0
		sleep 0.5
	done
	echo "${n:-none}"
	return 1
}

# ---- 1. the stack's queues
queues=$(mgmt "$M/api/queues/%2F?columns=name,type,arguments,exclusive")
for q in spool.jobs.high spool.jobs spool.jobs.low spool.dead spool.events.api; do
	expect_eq "$q is a quorum queue" quorum "$(jq -r --arg q "$q" '.[] | select(.name == $q) | .type' <<<"$queues")"
done
expect_eq "spool.jobs: delivery limit 10, dead-lettered at least once to spool.dead" \
	"10 at-least-once reject-publish spool.dead" \
	"$(jq -r '.[] | select(.name == "spool.jobs") | .arguments | "\(."x-delivery-limit") \(."x-dead-letter-strategy") \(."x-overflow") \(."x-dead-letter-routing-key")"' <<<"$queues")"
expect_match "the API's own events queue is classic and exclusive" "^classic true$" \
	"$(jq -r '[.[] | select(.name | startswith("spool.events.api.")) | "\(.type) \(.exclusive)"] | first // ""' <<<"$queues")"

# ---- 2. jobs end to end
ids=()
for i in 1 2 3 4 5; do
	ids+=("$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type": "noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)")
done
ok=0
for id in "${ids[@]}"; do [ "$(jq -r .status <<<"$(job_wait "$id" 30)")" = succeeded ] && ok=$((ok + 1)); done
expect_eq "5 noop jobs succeeded through the quorum queues" 5 "$ok"

# ---- 3. a retry through a quorum delay queue: a worker that cannot reach S3 fails a
# media.probe job as transient with a 2 s backoff; the stack's worker then runs attempt 2
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "cannot make the clip"
key=$(upload "$T_TMP/clip.mp4") || bail "cannot upload the clip"
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
awk '/^\[/ { section = $0 } section == "[s3]" && /^endpoint_url/ { print "endpoint_url = http://127.0.0.1:9"; next } { print }' \
	"$SPOOL_WORKER_CONFIG" | grep -v '^concurrency' >"$T_TMP/bad-s3.ini"
printf 'id = t0750-nos3\nconcurrency = 1\nbackoff_cap = 2s\nbackoff_base = 0\n[aws]\nmax_attempts = 1\n' >>"$T_TMP/bad-s3.ini"
bin/spool-worker -d -f "$T_TMP/bad-s3.ini" >"$T_TMP/bad-s3.log" 2>&1 &
BAD=$!
at_exit "kill -9 $BAD"
probe=$(submit media.probe "$key")
for ((i = 0; i < 100; i++)); do
	[ "$(sql -c "SELECT status FROM jobs WHERE id = '$probe'")" = retrying ] && break
	sleep 0.2
done
kill -TERM "$BAD"
wait "$BAD" 2>/dev/null
expect_eq "the probe job is retrying after attempt 1" "retrying 1" "$(sql -c "SELECT status || ' ' || attempts FROM jobs WHERE id = '$probe'")"
retryq=$(mgmt "$M/api/queues/%2F?columns=name,type" | jq -r '[.[] | select(.name | startswith("spool.retry.")) | "\(.name) \(.type)"] | join(",")')
expect_match "its delay queue is a quorum queue" "spool\.retry\.[0-9]+ quorum" "$retryq"
scripts/stack.sh start spool-worker >/dev/null 2>&1
job=$(job_wait "$probe" 60)
expect_eq "attempt 2 ran after the delay and succeeded" "succeeded 2" "$(jq -r '"\(.status) \(.attempts)"' <<<"$job")"

# ---- 4. the delivery limit: a message returned 10 times (as by a consumer that
# crashes on it: each get + reject with requeue counts) goes to spool.dead
scripts/stack.sh stop spool-worker >/dev/null 2>&1
mark="t0750-poison-$$"
expect_eq "a message is published to spool.jobs" true \
	"$(mgmt -X POST -d "$(jq -cn --arg p "{\"mark\": \"$mark\"}" '{properties: {delivery_mode: 2}, routing_key: "job", payload: $p, payload_encoding: "string"}')" \
		"$M/api/exchanges/%2F/spool.jobs/publish" | jq -r .routed)"
counts=()
for ((i = 0; i < 12; i++)); do
	c=$(mgmt -X POST -d '{"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto"}' "$M/api/queues/%2F/spool.jobs/get" |
		jq -r --arg m "$mark" '.[] | select(.payload | contains($m)) | .properties.headers["x-delivery-count"] // 0')
	[ -n "$c" ] || break
	counts+=("$c")
done
expect_eq "it was delivered 11 times (x-delivery-count 0 to 10), then no more" "0 1 2 3 4 5 6 7 8 9 10" "${counts[*]}"
for ((i = 0; i < 20; i++)); do
	dead=$(mgmt -X POST -d '{"count": 1000, "ackmode": "ack_requeue_true", "encoding": "auto"}' "$M/api/queues/%2F/spool.dead/get" |
		jq -r --arg m "$mark" '.[] | select(.payload | contains($m)) | .properties.headers["x-first-death-reason"]')
	[ -n "$dead" ] && break
	sleep 0.25
done
expect_eq "it is in spool.dead, dead-lettered for the delivery limit" delivery_limit "$dead"
scripts/stack.sh start spool-worker >/dev/null 2>&1

# ---- 5. a vhost of its own with a classic spool.jobs (and a classic delay queue)
VH=spool-t0750
mgmt -X DELETE "$M/api/vhosts/$VH" >/dev/null 2>&1
mgmt -X PUT "$M/api/vhosts/$VH" >/dev/null || bail "cannot create vhost $VH"
at_exit "curl -sS -u '$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD' -X DELETE '$M/api/vhosts/$VH'"
mgmt -X PUT -d '{"configure": ".*", "write": ".*", "read": ".*"}' "$M/api/permissions/$VH/$SPOOL_RABBITMQ_USER" >/dev/null ||
	bail "cannot give $SPOOL_RABBITMQ_USER permissions on $VH"
mgmt -X PUT -d '{"durable": true, "arguments": {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "spool.dead"}}' \
	"$M/api/queues/$VH/spool.jobs" >/dev/null
mgmt -X PUT -d '{"durable": true, "arguments": {"x-message-ttl": 600000, "x-dead-letter-exchange": "spool.jobs", "x-dead-letter-routing-key": "job", "x-expires": 900000}}' \
	"$M/api/queues/$VH/spool.retry.600" >/dev/null
for q in spool.jobs spool.jobs spool.jobs spool.retry.600; do
	mgmt -X POST -d "$(jq -cn --arg q "$q" '{properties: {delivery_mode: 2, headers: {"x-t0750": "kept"}}, routing_key: $q, payload: "{\"t0750\": \"\($q)\"}", payload_encoding: "string"}')" \
		"$M/api/exchanges/$VH/amq.default/publish" >/dev/null
done
expect_eq "the vhost's spool.jobs is classic, with 3 messages" "classic 3" \
	"$(wait_messages "$VH" spool.jobs 3 >/dev/null; mgmt "$M/api/queues/$VH/spool.jobs" | jq -r '"\(.type) \(.messages)"')"

# the stack's configs, their secret replaced by one naming the vhost
export T0750_MQ_SECRET
T0750_MQ_SECRET=$(jq -cn --arg p "$SPOOL_RABBITMQ_PASSWORD" --arg u "$SPOOL_RABBITMQ_USER" --argjson port $((SPOOL_PORT_BASE + 1)) --arg vh "$VH" \
	'{username: $u, password: $p, host: "127.0.0.1", port: $port, vhost: $vh}')
ini_with "$SPOOL_WORKER_CONFIG" "$T_TMP/worker.ini" "secret = env:T0750_MQ_SECRET"
ini_with "$SPOOL_WORKER_CONFIG" "$T_TMP/worker-classic.ini" "secret = env:T0750_MQ_SECRET
queue_type = classic"
ini_with "$SPOOL_ADMINCTL_CONFIG" "$T_TMP/adminctl.ini" "secret = env:T0750_MQ_SECRET"
API_PORT=$(free_port)
ini_with "$SPOOL_API_CONFIG" "$T_TMP/api.ini.tmp" "secret = env:T0750_MQ_SECRET"
awk -v port="$API_PORT" -v mport="$(free_port)" '/^\[/ { section = $0 }
	section == "[api]" && /^port *=/ { print "port = " port; next }
	section == "[api]" && /^metrics_listen *=/ { print "metrics_listen = 127.0.0.1:" mport; next } { print }' \
	"$T_TMP/api.ini.tmp" >"$T_TMP/api.ini"
echo "id = t0750" >>"$T_TMP/worker.ini"

want="queue 'spool.jobs' exists as a classic queue but [rabbitmq] queue_type is quorum: move its messages with 'adminctl queues migrate' or set queue_type = classic"
timeout 30 bin/spool-worker -d -f "$T_TMP/worker.ini" >"$T_TMP/w1.log" 2>&1
expect_eq "spool-worker with queue_type = quorum exits 78 at start" 78 $?
if grep -qF "$want" "$T_TMP/w1.log"; then ok "its log says which queue and what to do"; else fail "its log says which queue and what to do" "$(tail -n 5 "$T_TMP/w1.log")"; fi
timeout 30 bin/spool-api -d -f "$T_TMP/api.ini" >"$T_TMP/a1.log" 2>&1
expect_eq "spool-api exits 78 too" 78 $?
if grep -qF "$want" "$T_TMP/a1.log"; then ok "and says the same"; else fail "and says the same" "$(tail -n 5 "$T_TMP/a1.log")"; fi
grep -q 'RestartPreventExitStatus=78' etc/systemd/spool-worker@.service && grep -q 'RestartPreventExitStatus=78' etc/systemd/spool-api.service &&
	ok "systemd does not restart either on 78" || fail "systemd does not restart either on 78"
expect_eq "the classic queue was left alone" "classic 3" "$(mgmt "$M/api/queues/$VH/spool.jobs" | jq -r '"\(.type) \(.messages)"')"

# ---- 6. adminctl queues migrate
out=$(bin/adminctl -f "$T_TMP/adminctl.ini" --json queues migrate 2>"$T_TMP/migrate.err")
expect_eq "adminctl queues migrate exits 0" 0 $?
expect_eq "spool.jobs: classic -> quorum, 3 messages moved" "classic quorum 3" \
	"$(jq -r '.queues[] | select(.name == "spool.jobs") | "\(.was) \(.now) \(.moved)"' <<<"$out")"
expect_eq "spool.retry.600: classic -> quorum, 1 message moved" "classic quorum 1" \
	"$(jq -r '.queues[] | select(.name == "spool.retry.600") | "\(.was) \(.now) \(.moved)"' <<<"$out")"
expect_eq "the queues it made (spool.dead, spool.events.api) were not touched" "quorum null 0|quorum null 0" \
	"$(jq -r '[.queues[] | select(.name == "spool.dead" or .name == "spool.events.api") | "\(.was) \(.now) \(.moved)"] | join("|")' <<<"$out")"
wait_messages "$VH" spool.jobs 3 >/dev/null
expect_eq "spool.jobs is now quorum with its 3 messages" "quorum 3" "$(mgmt "$M/api/queues/$VH/spool.jobs" | jq -r '"\(.type) \(.messages)"')"
wait_messages "$VH" spool.retry.600 1 >/dev/null
expect_eq "spool.retry.600 is quorum with its message and its TTL" "quorum 1 600000" \
	"$(mgmt "$M/api/queues/$VH/spool.retry.600" | jq -r '"\(.type) \(.messages) \(.arguments."x-message-ttl")"')"
expect_eq "the messages kept their bodies and headers" "kept kept kept" \
	"$(mgmt -X POST -d '{"count": 10, "ackmode": "ack_requeue_true", "encoding": "auto"}' "$M/api/queues/$VH/spool.jobs/get" |
		jq -r '[.[] | select(.payload == "{\"t0750\": \"spool.jobs\"}") | .properties.headers["x-t0750"]] | join(" ")')"
expect_eq "no holding queue is left" "" \
	"$(mgmt "$M/api/queues/$VH?columns=name" | jq -r '[.[] | select(.name | startswith("spool.migrate."))] | map(.name) | join(" ")')"
expect_eq "spool.jobs is bound to its exchange again" "job" \
	"$(mgmt "$M/api/queues/$VH/spool.jobs/bindings" | jq -r '[.[] | select(.source == "spool.jobs") | .routing_key] | join(" ")')"
expect_eq "each conversion is in the audit trail" "queues.migrate spool.retry.600 1 classic quorum" \
	"$(sql -c "SELECT action, target, count, detail->>'from', detail->>'to' FROM audit WHERE target = 'spool.retry.600' ORDER BY id DESC LIMIT 1" -F ' ')"
out=$(bin/adminctl -f "$T_TMP/adminctl.ini" queues migrate 2>&1)
expect_match "run again, it changes nothing" "spool\.jobs[[:space:]]+quorum[[:space:]]+\(unchanged\)[[:space:]]+0" "$out"

# ---- 7. the worker starts now; one told queue_type = classic refuses the quorum queues
bin/spool-worker -d -f "$T_TMP/worker.ini" >"$T_TMP/w2.log" 2>&1 &
W2=$!
at_exit "kill -9 $W2"
for ((i = 0; i < 50; i++)); do grep -q "consuming 'spool.jobs'" "$T_TMP/w2.log" && break; sleep 0.2; done
if grep -q "consuming 'spool.jobs'" "$T_TMP/w2.log"; then ok "spool-worker starts on the converted queues"; else fail "spool-worker starts on the converted queues" "$(tail -n 5 "$T_TMP/w2.log")"; fi
kill -TERM "$W2"
wait "$W2"
expect_eq "and stops with 0" 0 $?
timeout 30 bin/spool-worker -d -f "$T_TMP/worker-classic.ini" >"$T_TMP/w3.log" 2>&1
expect_eq "spool-worker with queue_type = classic exits 78 on quorum queues" 78 $?
if grep -qF "queue 'spool.jobs' exists as a quorum queue but [rabbitmq] queue_type is classic: move its messages with 'adminctl queues migrate' or set queue_type = quorum" "$T_TMP/w3.log"; then
	ok "its log says so"
else
	fail "its log says so" "$(tail -n 5 "$T_TMP/w3.log")"
fi

done_testing
