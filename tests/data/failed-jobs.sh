# tests/data/failed-jobs.sh — source after tests/lib.sh: failed_jobs KEY MESSAGE submits
# three noop jobs with API key KEY, waits for them, then sets them failed in the database
# with error {"code": "internal", "message": MESSAGE} (a long error of the test's own);
# their ids in the array `ids`.
failed_jobs() {
	local key=$1 msg=$2 id i
	ids=()
	for i in 1 2 3; do
		ids+=("$(curl -fsS --max-time 40 -H "Authorization: Bearer $key" -X POST -H 'Content-Type: application/json' \
			-d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" | json_id)")
	done
	for id in "${ids[@]}"; do
		curl -fsS --max-time 40 -H "Authorization: Bearer $key" "$SPOOL_API_URL/v1/jobs/$id?wait=30" >/dev/null
	done
	psql -X -At "$SPOOL_PG_DSN" -v msg="$msg" >/dev/null <<SQL
UPDATE jobs SET status = 'failed', error = jsonb_build_object('code', 'internal', 'message', :'msg')
WHERE id IN ('${ids[0]}', '${ids[1]}', '${ids[2]}');
SQL
}
