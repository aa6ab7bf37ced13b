#!/usr/bin/env bash
# A text file named .mp4 fails permanently with invalid_media after one attempt; its
# error message names "the source", never the worker's temporary path. The worker's
# failure line carries the error as fields.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure

fake=$T_TMP/not-a-video.mp4
printf 'this is not a video\njust some text\n' >"$fake"
key=$(upload "$fake") || bail "cannot upload the file"
id=$(submit media.probe "$key")
expect_match "job submitted" '^[0-9a-f-]{36}$' "$id"

job=$(job_wait "$id" 60)
expect_eq "job failed" failed "$(jq -r .status <<<"$job")"
expect_eq "error code invalid_media" invalid_media "$(jq -r .error.code <<<"$job")"
expect_eq "error is permanent" true "$(jq -r .error.permanent <<<"$job")"
expect_match "error message quotes ffprobe" 'ffprobe' "$(jq -r .error.message <<<"$job")"
# clients are told what failed, not where the worker keeps its temporary files
msg=$(jq -r .error.message <<<"$job")
expect_match "error message says 'the source'" 'the source' "$msg"
expect_match "error message quotes ffprobe's reason" 'Invalid data found' "$msg"
if grep -Eq 'spool-job-|/source|file:|/tmp/' <<<"$msg"; then
	fail "error message shows no temporary path" "$msg"
else
	ok "error message shows no temporary path"
fi
expect_eq "one attempt" 1 "$(jq -r .attempts <<<"$job")"

# not retried: still one attempt a little later, and no retrying event in the history
sleep 3
job=$(job_wait "$id" 1)
expect_eq "still failed after a while" failed "$(jq -r .status <<<"$job")"
expect_eq "still one attempt" 1 "$(jq -r .attempts <<<"$job")"
n=$(psql -X -At "$SPOOL_PG_DSN" -v id="$id" <<<"SELECT count(*) FROM job_events WHERE job_id = :'id' AND event = 'retrying'")
expect_eq "no retrying event recorded" 0 "$n"

# the worker's log line of the failure: code, attempt, type, tenant, job as fields, level info (permanent)
tenant=$(psql -X -At "$SPOOL_PG_DSN" -v id="$id" <<<"SELECT tenant_id FROM jobs WHERE id = :'id'")
fields=$(cat "$SPOOL_LOG_DIR/spool-worker.log" "$T_TMP/worker.log" 2>/dev/null | py '
import json, sys
for raw in sys.stdin:
    try:
        o = json.loads(raw)
    except ValueError:
        continue
    if o.get("job_id") == sys.argv[1] and str(o.get("msg", "")).startswith("job failed"):
        print(" ".join(json.dumps(o.get(k)) for k in ("level", "code", "attempt", "max_attempts", "type", "tenant", "permanent", "retry_in")))
' "$id")
expect_eq "the worker logged the failure with its fields" \
	"\"info\" \"invalid_media\" 1 $(jq -r .max_attempts <<<"$job") \"media.probe\" \"$tenant\" true null" "$fields"

done_testing
