# tests/data/worker-lib.sh — helpers of the worker tests (t03xx), sourced after tests/lib.sh.
#
#   worker_ensure                 start bin/spool-worker unless the stack runs one; needs spool-api
#   worker_own NAME [INI-LINES]   start a worker of the test's own: the stack's worker.ini with
#                                 worker id NAME and INI-LINES added to [worker]; its pid in $WPID
#   upload FILE                   put FILE in S3 through a presigned upload URL; prints its key
#   submit TYPE KEY               POST /v1/jobs; prints the job id
#   job_wait ID [SECONDS]         wait for a final state (?wait=); prints the job JSON
#   result_fetch JOB_JSON OUT     download the main result through GET /v1/jobs/{id}/result
#
# Everything goes through the REST API, as a client would.

W_TENANT=${W_TENANT:-t03-worker}

_w_api() {
	curl -fsS --max-time 40 -H "Authorization: Bearer $SPOOL_API_KEY" "$@"
}

worker_ensure() {
	curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
	if [ -z "${SPOOL_API_KEY:-}" ]; then
		SPOOL_API_KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$W_TENANT" 2>/dev/null | head -n 1)
		[ -n "$SPOOL_API_KEY" ] || bail "cannot create an API key with adminctl"
		export SPOOL_API_KEY
	fi
	local pidf=$SPOOL_RUN_DIR/pids/spool-worker.pid
	if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
		return 0
	fi
	[ -x bin/spool-worker ] || bail "bin/spool-worker is not built"
	bin/spool-worker -d -f "$SPOOL_WORKER_CONFIG" >"$T_TMP/worker.log" 2>&1 &
	W_PID=$!
	at_exit "kill $W_PID; sleep 1"
	sleep 1
	kill -0 "$W_PID" 2>/dev/null || bail "spool-worker did not start: $(cat "$T_TMP/worker.log")"
}

# worker_own NAME [LINES]: a worker of the test's own, the stack's config with LINES
# added to [worker] (and the [log] level $W_LOG_LEVEL when set)
worker_own() {
	local name=$1 ini=$T_TMP/$1.ini
	local level='&'
	[ -z "${W_LOG_LEVEL:-}" ] || level="level = $W_LOG_LEVEL"
	grep -v '^concurrency' "$SPOOL_WORKER_CONFIG" | sed "s/^level = .*/$level/" >"$ini"
	printf 'id = %s\n%s\n' "$name" "${2:-}" >>"$ini"
	bin/spool-worker -d -f "$ini" >"$T_TMP/$name.log" 2>&1 &
	WPID=$!
	at_exit "kill -9 $WPID"
	sleep 1
	kill -0 "$WPID" 2>/dev/null || bail "worker $name did not start: $(tail -n 5 "$T_TMP/$name.log")"
}

upload() {
	local up
	up=$(_w_api -X POST -H 'Content-Type: application/json' -d "{\"size\": $(stat -c %s "$1")}" \
		"$SPOOL_API_URL/v1/uploads") || return 1
	curl -fsS -X PUT --upload-file "$1" "$(jq -r .url <<<"$up")" >/dev/null || return 1
	jq -r .key <<<"$up"
}

submit() {
	_w_api -X POST -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg t "$1" --arg k "$2" '{type: $t, source: {key: $k}}')" \
		"$SPOOL_API_URL/v1/jobs" | json_id
}

job_wait() {
	local id=$1 secs=${2:-60} end job
	[ -n "$id" ] || return 1
	end=$((SECONDS + secs))
	while :; do
		job=$(_w_api "$SPOOL_API_URL/v1/jobs/$id?wait=$((secs < 30 ? secs : 30))")
		if [[ $(jq -r .status <<<"$job" 2>/dev/null) =~ ^(succeeded|failed|cancelled)$ ]] ||
			[ $SECONDS -ge $end ]; then
			echo "$job"
			return
		fi
		sleep 0.2
	done
}

result_fetch() {
	local url
	url=$(curl -sS -o /dev/null -w '%{redirect_url}' -H "Authorization: Bearer $SPOOL_API_KEY" \
		"$SPOOL_API_URL/v1/jobs/$(json_id <<<"$1")/result") || return 1
	[ -n "$url" ] || return 1
	curl -fsS "$url" -o "$2"
}
