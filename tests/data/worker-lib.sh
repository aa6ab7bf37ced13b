# tests/data/worker-lib.sh — helpers of the worker tests (t03xx), sourced after tests/lib.sh.
#
#   worker_ensure                 start bin/spool-worker unless the stack runs one
#   api_ready                     true when spool-api answers /health
#   upload FILE                   put FILE in S3 as a job source; prints its key
#   submit TYPE KEY               submit a job; prints its id
#   job_wait ID [SECONDS]         wait for a final state; prints the job JSON
#   result_fetch JOB_JSON OUT     download the job's main result into OUT
#
# Jobs go through the REST API. While spool-api is not available (development),
# they are inserted with SQL and published through the RabbitMQ management API.

W_TENANT=${W_TENANT:-t03-worker}

api_ready() {
	curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1
}

_w_key() {
	if [ -z "${SPOOL_API_KEY:-}" ]; then
		SPOOL_API_KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$W_TENANT" 2>/dev/null | head -n 1)
		export SPOOL_API_KEY
	fi
}

worker_ensure() {
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

upload() {
	local file=$1 key
	if api_ready; then
		_w_key
		local up
		up=$(curl -fsS -X POST -H "Authorization: Bearer $SPOOL_API_KEY" "$SPOOL_API_URL/v1/uploads") || return 1
		key=$(jq -r .key <<<"$up")
		curl -fsS -X PUT --upload-file "$file" "$(jq -r .url <<<"$up")" >/dev/null || return 1
	else
		key=uploads/$W_TENANT/$(cat /proc/sys/kernel/random/uuid)
		py "
import os, sys, boto3, botocore.config
s3 = $(boto3_client s3)
s3.upload_file(sys.argv[1], os.environ['SPOOL_S3_BUCKET'], sys.argv[2])
" "$file" "$key" || return 1
	fi
	echo "$key"
}

submit() {
	local type=$1 key=$2 body id
	body=$(jq -cn --arg t "$type" --arg k "$key" '{type: $t, source: {key: $k}}')
	if api_ready; then
		_w_key
		curl -fsS -X POST -H "Authorization: Bearer $SPOOL_API_KEY" -H 'Content-Type: application/json' \
			-d "$body" "$SPOOL_API_URL/v1/jobs" | jq -r .id
		return
	fi
	id=$(psql -X -At "$SPOOL_PG_DSN" -v type="$type" -v src="$(jq -c .source <<<"$body")" -v tenant="$W_TENANT" \
		<<<"INSERT INTO jobs (tenant_id, type, source) VALUES (:'tenant', :'type', :'src'::jsonb) RETURNING id" |
		head -n 1) || return 1
	local msg
	msg=$(jq -cn --arg id "$id" --arg t "$type" '{v: 1, job_id: $id, type: $t, attempt: 1}')
	curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg p "$msg" '{properties: {delivery_mode: 2}, routing_key: "job", payload: $p, payload_encoding: "string"}')" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/exchanges/%2F/spool.jobs/publish" | jq -e .routed >/dev/null || return 1
	echo "$id"
}

_w_final() { [[ $1 =~ ^(succeeded|failed|cancelled)$ ]]; }

job_wait() {
	local id=$1 secs=${2:-60} end job status
	[ -n "$id" ] || return 1
	end=$((SECONDS + secs))
	while :; do
		if api_ready; then
			_w_key
			job=$(curl -fsS --max-time 40 -H "Authorization: Bearer $SPOOL_API_KEY" "$SPOOL_API_URL/v1/jobs/$id?wait=30")
		else
			job=$(psql -X -At "$SPOOL_PG_DSN" -v id="$id" <<<"SELECT row_to_json(j) FROM jobs j WHERE id = :'id'")
			sleep 0.5
		fi
		status=$(jq -r .status <<<"$job" 2>/dev/null)
		if _w_final "$status" || [ $SECONDS -ge $end ]; then
			echo "$job"
			return
		fi
	done
}

result_fetch() {
	local job=$1 out=$2
	if api_ready; then
		_w_key
		local url
		url=$(curl -sS -o /dev/null -w '%{redirect_url}' -H "Authorization: Bearer $SPOOL_API_KEY" \
			"$SPOOL_API_URL/v1/jobs/$(jq -r .id <<<"$job")/result") || return 1
		[ -n "$url" ] || return 1
		curl -fsS "$url" -o "$out"
	else
		py "
import os, sys, boto3, botocore.config
s3 = $(boto3_client s3)
s3.download_file(os.environ['SPOOL_S3_BUCKET'], sys.argv[1], sys.argv[2])
" "$(jq -r .result.key <<<"$job")" "$out"
	fi
}
