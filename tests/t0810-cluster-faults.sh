#!/usr/bin/env bash
# t0810 — the clustered fault suite, on the clustered stack (three RabbitMQ nodes, three
# API instances behind HAProxy, three workers). Each scenario runs under a steady load of
# submissions through the balancer (tests/faults/steady.py: a client that sends a
# submission again, with the same Idempotency-Key, when it got no answer or a
# 502/503/504), and then every accepted job (the ids of the 202s and 200s) must have
# finished exactly once: none missing (lost), none left queued/running/retrying
# (stranded), one succeeded event each, one job per idempotency key, no unsent outbox
# row. Scenarios:
#   leader   kill -9 the node that leads spool.jobs, then start it again
#   cluster  stop every RabbitMQ node for 30 s (submissions are still accepted at the
#            first try: the outbox holds them), then start them again
#   purge    purge spool.jobs while jobs wait (workers stopped); adminctl job redrive
#            sends them again
#   api      kill -9 one API instance behind the balancer
#   worker   kill -9 one of three workers while it runs a video.transcode job
# Prints a table scenario | accepted | succeeded | failed | lost | duplicated |
# stranded | worst submit latency during the fault. T0810_ONLY=leader,api runs only
# those. Skipped on a stack that is not clustered.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

[ "${SPOOL_RABBITMQ_NODES:-1}" -ge 3 ] && [ "${SPOOL_API_INSTANCES:-1}" -ge 2 ] &&
	[ "${SPOOL_WORKERS:-1}" -ge 3 ] ||
	skip_all "the stack is not clustered (SPOOL_RABBITMQ_NODES=3 SPOOL_API_INSTANCES=3 SPOOL_WORKERS=3 scripts/stack.sh up)"
command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"

RUN=$SPOOL_RUN_DIR
RATE=${T0810_RATE:-10}
RUNTAG=t0810-$(date +%s)-$$
IFS=, read -r -a MGMTS <<<"$SPOOL_RABBITMQ_MGMT_URLS"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
stack() { scripts/stack.sh "$@" >>"$T_TMP/stack.log" 2>&1; }
mgmt() { curl -sS --max-time 5 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$@"; }
# mgmt_any PATH: from the first node whose management API answers
mgmt_any() {
	local m out
	for m in "${MGMTS[@]}"; do
		out=$(mgmt -f "$m$1" 2>/dev/null) && { printf '%s' "$out"; return 0; }
	done
	return 1
}
want() { [ -z "${T0810_ONLY:-}" ] || [[ ,$T0810_ONLY, == *,$1,* ]]; }
now() { date +%s.%N; }

# Whatever a scenario stopped comes back, even when the test dies half-way.
at_exit 'scripts/stack.sh up >/dev/null 2>&1'

# healthy: every node and instance up, spool.jobs with 3 members online, /ready 200 on
# every instance (bounded)
healthy() {
	local i a bad
	scripts/stack.sh status >/dev/null 2>&1 || stack up
	for ((i = 0; i < 240; i++)); do
		bad=
		[ "$(mgmt_any /api/queues/%2F/spool.jobs | jq '.online | length' 2>/dev/null)" = 3 ] || bad=1
		for a in ${SPOOL_API_URLS//,/ }; do
			[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$a/ready")" = 200 ] || bad=1
		done
		[ -z "$bad" ] && return 0
		sleep 0.5
	done
	return 1
}

ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=s=320x240:r=25:d=3 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "cannot make the clip"
healthy || bail "the stack is not ready to begin with: $(scripts/stack.sh status 2>&1)"
KEY=$(upload "$T_TMP/clip.mp4") || bail "cannot upload the clip"

# load_start NAME [STEADY-ARGS]: the steady load in the background; load_stop NAME ends it
load_start() {
	local name=$1
	shift
	rm -f "$T_TMP/$name.stop"
	py_file tests/faults/steady.py "$T_TMP/$name.jsonl" "$T_TMP/$name.stop" --tag "$RUNTAG-$name" \
		--rate "$RATE" "$@" >"$T_TMP/$name.sum" 2>"$T_TMP/$name.err" &
	LPID=$!
}
load_stop() {
	touch "$T_TMP/$1.stop"
	wait "$LPID"
	echo "# $1 load: $(cat "$T_TMP/$1.sum") $(head -c 300 "$T_TMP/$1.err")"
}
fault_begin() { FAULT_T0=$(now); }
fault_end() { FAULT_T1=$(now); echo "# $1: the fault lasted $(awk -v a="$FAULT_T0" -v b="$FAULT_T1" 'BEGIN { printf "%.1f", b - a }') s"; }

# ids NAME: the accepted job ids as a PostgreSQL array literal
ids() { echo "{$(jq -r 'select((.status == 202 or .status == 200) and .valid) | .id' "$T_TMP/$1.jsonl" | sort -u | paste -sd, -)}"; }

# measure NAME: "accepted succeeded failed lost duplicated stranded badsucc inconsistent outbox keydup"
measure() {
	sql -F ' ' -v ids="$(ids "$1")" -v tag="$RUNTAG-$1-%" <<-'SQL'
		WITH ids AS (SELECT DISTINCT unnest(:'ids'::uuid[]) AS id),
		j AS (SELECT ids.id, jobs.status FROM ids LEFT JOIN jobs ON jobs.id = ids.id),
		ev AS (SELECT job_id, count(*) FILTER (WHERE event = 'succeeded') AS ns FROM job_events
		       WHERE job_id IN (SELECT id FROM ids) GROUP BY job_id),
		last AS (SELECT DISTINCT ON (job_id) job_id, status FROM job_events
		         WHERE job_id IN (SELECT id FROM ids) ORDER BY job_id, id DESC)
		SELECT count(*),
		       count(*) FILTER (WHERE j.status = 'succeeded'),
		       count(*) FILTER (WHERE j.status = 'failed'),
		       count(*) FILTER (WHERE j.status IS NULL),
		       count(*) FILTER (WHERE coalesce(ev.ns, 0) > 1),
		       count(*) FILTER (WHERE j.status IN ('queued', 'running', 'retrying')),
		       count(*) FILTER (WHERE (j.status = 'succeeded') <> (coalesce(ev.ns, 0) = 1)),
		       count(*) FILTER (WHERE last.status IS DISTINCT FROM j.status),
		       (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND
		          substring(payload FROM '"job_id":"([0-9a-f-]{36})"')::uuid IN (SELECT id FROM ids)),
		       (SELECT count(*) FROM (SELECT idempotency_key FROM jobs WHERE idempotency_key LIKE :'tag'
		          GROUP BY idempotency_key HAVING count(*) > 1) k)
		FROM j LEFT JOIN ev ON ev.job_id = j.id LEFT JOIN last ON last.job_id = j.id
	SQL
}

# settle NAME SECONDS: wait until every accepted job is final and its outbox rows sent
settle() {
	local end=$((SECONDS + $2)) m
	while :; do
		m=($(measure "$1"))
		[ "${#m[@]}" -eq 10 ] && [ "${m[3]}" -eq 0 ] && [ "${m[5]}" -eq 0 ] && [ "${m[8]}" -eq 0 ] && break
		[ $SECONDS -lt $end ] || break
		sleep 1
	done
	echo "# $1 settled in $((SECONDS - end + $2)) s"
}

# worst NAME: the longest submission (first try to final answer, retries included) begun
# during the fault
worst() {
	jq -s --argjson a "$FAULT_T0" --argjson b "$FAULT_T1" \
		'[.[] | select(.t >= $a and .t <= $b) | .secs] | max // 0 | . * 10 | round / 10' "$T_TMP/$1.jsonl"
}

TABLE=()
# verify NAME: the checks and a table row
verify() {
	local name=$1 m w
	m=($(measure "$name"))
	[ "${#m[@]}" -eq 10 ] || { fail "$name: measured" "${m[*]}"; return; }
	w=$(worst "$name")
	TABLE+=("$(printf '%-8s | %8s | %9s | %6s | %4s | %10s | %8s | %6s s' "$name" "${m[0]}" "${m[1]}" "${m[2]}" \
		"${m[3]}" "$((m[4] + m[9]))" "${m[5]}" "$w")")
	[ "${m[0]}" -gt 0 ] && ok "$name: ${m[0]} jobs accepted" || fail "$name: jobs accepted" "$(cat "$T_TMP/$name.sum" "$T_TMP/$name.err")"
	expect_eq "$name: every submission answered with 202 or 200 in the end" 0 \
		"$(jq -s '[.[] | select((.status == 202 or .status == 200) and .valid | not)] | length' "$T_TMP/$name.jsonl")"
	expect_eq "$name: lost (accepted, no job)" 0 "${m[3]}"
	expect_eq "$name: duplicated (more than one succeeded event)" 0 "${m[4]}"
	expect_eq "$name: duplicated (more than one job for an idempotency key)" 0 "${m[9]}"
	expect_eq "$name: stranded (left queued/running/retrying)" 0 "${m[5]}"
	expect_eq "$name: failed" 0 "${m[2]}"
	expect_eq "$name: exactly one succeeded event per succeeded job" 0 "${m[6]}"
	expect_eq "$name: last event status = job status" 0 "${m[7]}"
	expect_eq "$name: no unsent outbox rows" 0 "${m[8]}"
	healthy && ok "$name: the stack is healthy again" || fail "$name: the stack is healthy again" "$(scripts/stack.sh status 2>&1)"
}

# node_pidfile NODENAME: the pid file of the stack's RabbitMQ node of that name; sets NODE_N
node_pidfile() {
	case $1 in
	"spool${SPOOL_PORT_BASE}@localhost") NODE_N=1 && echo "$RUN/rabbitmq/rabbit.pid" ;;
	"spool${SPOOL_PORT_BASE}n"[0-9]*@localhost) NODE_N=${1#spool"${SPOOL_PORT_BASE}"n} NODE_N=${NODE_N%@*} &&
		echo "$RUN/rabbitmq-$NODE_N/rabbit.pid" ;;
	*) return 1 ;;
	esac
}

# ---- a. kill -9 the leader of spool.jobs, then start it again
if want leader; then
	load_start leader
	sleep 3
	leader=$(mgmt_any /api/queues/%2F/spool.jobs | jq -r '.leader // empty')
	pf=$(node_pidfile "$leader") || bail "leader: no node of the stack leads spool.jobs ('$leader')"
	node_pidfile "$leader" >/dev/null
	fault_begin
	kill -9 "$(cat "$pf")" && ok "leader: kill -9 $leader (rabbitmq-$NODE_N)" || fail "leader: kill -9 $leader"
	newleader=
	for ((i = 0; i < 60; i++)); do
		newleader=$(mgmt_any /api/queues/%2F/spool.jobs | jq -r '.leader // empty')
		[ -n "$newleader" ] && [ "$newleader" != "$leader" ] && break
		sleep 0.5
	done
	expect_match "leader: another node leads spool.jobs" "^spool" "$([ "$newleader" != "$leader" ] && echo "$newleader")"
	echo "# leader: $newleader leads spool.jobs $(awk -v a="$FAULT_T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s after the kill"
	sleep 5
	stack start "rabbitmq-$NODE_N" || fail "leader: rabbitmq-$NODE_N started again" "$(tail -n 20 "$T_TMP/stack.log")"
	fault_end leader
	sleep 2
	load_stop leader
	settle leader 120
	verify leader
fi

# ---- b. every RabbitMQ node down for 30 s
if want cluster; then
	load_start cluster
	sleep 3
	fault_begin
	stack stop rabbitmq
	down_at=$SECONDS
	expect_eq "cluster: no RabbitMQ node answers" "" "$(mgmt_any /api/overview | jq -r .node 2>/dev/null)"
	sleep $((30 - (SECONDS - down_at)))
	stack start rabbitmq || fail "cluster: RabbitMQ started again" "$(tail -n 20 "$T_TMP/stack.log")"
	fault_end cluster
	sleep 2
	load_stop cluster
	expect_eq "cluster: every submission during the outage accepted at the first try" 0 \
		"$(jq -s --argjson a "$FAULT_T0" --argjson b "$FAULT_T1" \
			'[.[] | select(.t >= $a and .t <= $b and (.tries > 1 or .first != 202))] | length' "$T_TMP/cluster.jsonl")"
	expect_match "cluster: submissions were accepted during the outage" '^[1-9]' \
		"$(jq -s --argjson a "$FAULT_T0" --argjson b "$FAULT_T1" '[.[] | select(.t >= $a and .t <= $b)] | length' "$T_TMP/cluster.jsonl")"
	settle cluster 150
	verify cluster
fi

# ---- c. purge spool.jobs with jobs waiting, then re-drive them
if want purge; then
	stack stop spool-worker
	load_start purge
	sleep 8
	fault_begin
	# the outbox has published what was accepted so far: then the purge loses it
	for ((i = 0; i < 60; i++)); do
		[ "$(sql -c "SELECT count(*) FROM outbox WHERE sent_at IS NULL")" = 0 ] && break
		sleep 0.5
	done
	mgmt -X DELETE "${MGMTS[0]}/api/queues/%2F/spool.jobs/contents" -o /dev/null -w '%{http_code}' >"$T_TMP/purge.st"
	expect_eq "purge: spool.jobs purged (204)" 204 "$(cat "$T_TMP/purge.st")"
	sleep 2
	load_stop purge
	stack start spool-worker || fail "purge: the workers started again"
	# the purged jobs are older than 5 s now: sent again through the outbox
	sleep 4
	redriven=0
	for ((i = 0; i < 20; i++)); do
		n=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" job redrive --older-than 5s 2>&1 >/dev/null | grep -oE '[0-9]+' | head -n1)
		redriven=$((redriven + ${n:-0}))
		[ "$(sql -v ids="$(ids purge)" <<<"SELECT count(*) FROM jobs WHERE id = ANY(:'ids'::uuid[]) AND status = 'queued'")" = 0 ] && break
		sleep 3
	done
	fault_end purge
	echo "# purge: $redriven jobs re-driven"
	expect_match "purge: adminctl job redrive sent jobs again" '^[1-9]' "$redriven"
	expect_match "purge: their history says redriven" '^[1-9]' \
		"$(sql -v ids="$(ids purge)" <<<"SELECT count(DISTINCT job_id) FROM job_events WHERE job_id = ANY(:'ids'::uuid[]) AND event = 'redriven'")"
	settle purge 90
	verify purge
fi

# ---- d. kill -9 one API instance behind the balancer
if want api; then
	load_start api --threads 8 --rate $((RATE * 2))
	sleep 3
	fault_begin
	victim=$(cat "$RUN/pids/spool-api-2.pid")
	kill -9 "$victim" && ok "api: kill -9 spool-api-2 (pid $victim)" || fail "api: kill -9 spool-api-2"
	sleep 5
	stack start spool-api-2 || fail "api: spool-api-2 started again" "$(tail -n 20 "$T_TMP/stack.log")"
	fault_end api
	sleep 2
	load_stop api
	echo "# api: submissions sent again after a failed try: $(jq -s '[.[] | select(.tries > 1)] | length' "$T_TMP/api.jsonl"), what those tries saw: $(jq -s -c '[.[] | .errors[]] | group_by(.) | map({(tostring): length}) | add // {}' "$T_TMP/api.jsonl")"
	settle api 90
	verify api
fi

# ---- e. kill -9 one of three workers while it runs a video.transcode job
if want worker; then
	load_start worker --every 5 --kind "$(jq -cn --arg k "$KEY" '{type: "video.transcode", source: {key: $k}, params: {height: 360, max_duration: 3}}')"
	victim= wname=
	for ((i = 0; i < 240; i++)); do
		while IFS='|' read -r wid; do
			for f in "$RUN"/pids/spool-worker*.pid; do
				if [ "${wid##*:}" = "$(cat "$f")" ]; then victim=${wid##*:} wname=$(basename "$f" .pid); fi
			done
		done < <(sql -c "SELECT worker_id FROM jobs WHERE status = 'running' AND type = 'video.transcode' AND idempotency_key LIKE '$RUNTAG-worker-%'")
		[ -z "$victim" ] || break
		sleep 0.25
	done
	[ -n "$victim" ] || bail "worker: no worker of the stack ran a video.transcode job"
	fault_begin
	kill -9 "$victim" && ok "worker: kill -9 $wname (pid $victim) running a video.transcode job" || fail "worker: kill -9 $wname"
	sleep 2
	stack start "$wname" || fail "worker: $wname started again"
	# its job's lease (10 s) expires and a reaper returns it
	for ((i = 0; i < 120; i++)); do
		[ "$(sql -c "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE e.event = 'reaped' AND j.idempotency_key LIKE '$RUNTAG-worker-%'")" -gt 0 ] && break
		sleep 0.5
	done
	fault_end worker
	sleep 2
	load_stop worker
	expect_match "worker: the killed worker's job(s) reaped" '^[1-9]' \
		"$(sql -c "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE e.event = 'reaped' AND j.idempotency_key LIKE '$RUNTAG-worker-%'")"
	settle worker 150
	verify worker
fi

echo "#"
printf '# %-8s | %8s | %9s | %6s | %4s | %10s | %8s | %s\n' scenario accepted succeeded failed lost duplicated stranded \
	"worst submit latency during the fault"
for row in "${TABLE[@]}"; do echo "# $row"; done
done_testing
