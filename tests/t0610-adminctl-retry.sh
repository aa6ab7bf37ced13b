#!/usr/bin/env bash
# adminctl job retry / dead list / dead retry / dead purge / audit on real failed jobs:
# media.probe of a text file fails permanently (invalid_media); a dry run changes
# nothing; a retry puts the jobs back with fresh attempts (they fail again, and the
# history keeps both errors); a job whose source was fixed meanwhile succeeds.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

ADM=${ADMINCTL:-bin/adminctl}
[ -x "$ADM" ] || bail "$ADM is not built"
worker_ensure
q() { psql -X -q -At "$SPOOL_PG_DSN" -c "$1" 2>&1; }

t0=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
printf 'this is not a video\n' >"$T_TMP/fake.mp4"
ids=() keys=()
for i in 1 2 3; do
	k=$(upload "$T_TMP/fake.mp4") || bail "cannot upload"
	keys+=("$k")
	ids+=("$(submit media.probe "$k")")
done
for id in "${ids[@]}"; do
	job=$(job_wait "$id" 60)
	expect_eq "job ${id:0:8} failed with invalid_media" "failed invalid_media 1" \
		"$(jq -r '"\(.status) \(.error.code) \(.attempts)"' <<<"$job")"
done
sorted=$(printf '%s\n' "${ids[@]}" | sort | tr '\n' ' ')

# the dead queue has their messages
json=$($ADM --json dead list)
for id in "${ids[@]}"; do
	expect_eq "dead list shows ${id:0:8} as failed" "failed invalid_media" \
		"$(jq -r --arg id "$id" '[.messages[] | select(.job_id == $id)][0] | "\(.status) \(.error.code)"' <<<"$json")"
done

# dry run: counts them, changes nothing
json=$($ADM --json job retry --all-failed --type media.probe --since "$t0" --dry-run); rc=$?
expect_eq "dry run: exit 0, three jobs" "0 3 true" "$rc $(jq -r '"\(.count) \(.dry_run)"' <<<"$json")"
expect_eq "dry run: exactly our jobs" "$sorted" "$(jq -r '.ids[]' <<<"$json" | sort | tr '\n' ' ')"
out=$($ADM job retry --all-failed --type media.probe --since "$t0" --dry-run 2>&1 >/dev/null)
expect_match "dry run: says how many it would retry" "would retry 3 failed jobs of type media.probe" "$out"
in_list=$(printf "'%s'," "${ids[@]}")
in_list=${in_list%,}
expect_eq "dry run: still failed, one attempt, no retried event" "3 0" \
	"$(q "select count(*) filter (where status = 'failed' and attempts = 1),
	       (select count(*) from job_events where event = 'retried' and job_id in ($in_list))
	      from jobs where id in ($in_list)" | tr '|' ' ')"
expect_eq "--type of another type: none" 0 \
	"$($ADM --json job retry --all-failed --type noop --since "$t0" --dry-run | jq -r .count)"

# fix the third job's source: a real video at the same key
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=160x120:r=25:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/ok.mp4" || bail "ffmpeg cannot make a video"
py "
import os, sys, boto3, botocore.config
s3 = $(boto3_client s3)
s3.upload_file(sys.argv[1], os.environ['SPOOL_S3_BUCKET'], sys.argv[2])
" "$T_TMP/ok.mp4" "${keys[2]}" || fail "cannot overwrite the third source"

# the real retry
json=$($ADM --json job retry --all-failed --type media.probe --since "$t0"); rc=$?
expect_eq "retry: exit 0, three jobs" "0 3 false" "$rc $(jq -r '"\(.count) \(.dry_run)"' <<<"$json")"
expect_eq "retry: exactly our jobs" "$sorted" "$(jq -r '.ids[]' <<<"$json" | sort | tr '\n' ' ')"
for i in 0 1; do
	job=$(job_wait "${ids[$i]}" 60)
	expect_eq "job $((i + 1)) fails again with fresh attempts" "failed invalid_media 1" \
		"$(jq -r '"\(.status) \(.error.code) \(.attempts)"' <<<"$job")"
done
job=$(job_wait "${ids[2]}" 60)
expect_eq "the job whose source was fixed succeeds" "succeeded 1" "$(jq -r '"\(.status) \(.attempts)"' <<<"$job")"

show=$($ADM --json job show "${ids[0]}")
expect_eq "job show: both attempts' errors" "invalid_media invalid_media" \
	"$(jq -r '[.errors[].code] | join(" ")' <<<"$show")"
expect_eq "job show: the history" "queued started failed retried started failed" \
	"$(jq -r '[.events[].event] | join(" ")' <<<"$show")"
expect_eq "job show: the retried event names the actor and the state it left" "local-stack failed" \
	"$(jq -r '.events[] | select(.event == "retried") | "\(.detail.actor) \(.detail.from)"' <<<"$show")"
expect_eq "two spool.jobs outbox rows per job (submit, retry), all sent" "6 0" \
	"$(q "select count(*), count(*) filter (where sent_at is null) from outbox
	      where exchange = 'spool.jobs' and payload like '%\"attempt\":1%' and created_at > '$t0'
	      and ($(printf "payload like '%%%s%%' or " "${ids[@]}") false)" | tr '|' ' ')"

# a retried job that is not failed any more is refused
json=$($ADM --json job retry "${ids[2]}"); rc=$?
expect_eq "retry of the succeeded job: exit 1" "1 not failed or cancelled" "$rc $(jq -r '.errors[0].reason' <<<"$json")"

# dead retry of one job: retried from its dead letter, stale letters dropped
json=$($ADM --json dead retry "${ids[1]}"); rc=$?
expect_eq "dead retry ID: exit 0, one job retried" "0 1" "$rc $(jq -r .count <<<"$json")"
expect_eq "dead retry ID: its other dead letter was stale" 1 "$(jq -r '.stale | length' <<<"$json")"
job=$(job_wait "${ids[1]}" 60)
expect_eq "dead-retried job fails again" "failed 1" "$(jq -r '"\(.status) \(.attempts)"' <<<"$job")"

# purge (after the dead letter of the job that failed again: the worker sends it after
# recording the failure, which job_wait saw)
for ((i = 0; i < 50; i++)); do
	$ADM --json dead list | jq -e --arg id "${ids[1]}" 'any(.messages[]; .job_id == $id)' >/dev/null && break
	sleep 0.2
done
json=$($ADM --json dead purge --yes); rc=$?
expect_eq "dead purge --yes: exit 0" 0 "$rc"
expect_match "dead purge: counts what it dropped" '^[1-9][0-9]*$' "$(jq -r .purged <<<"$json")"
purged=$(jq -r .purged <<<"$json")
sleep 1
expect_eq "spool.dead is empty" 0 "$($ADM --json dead list | jq -r .total)"

# audit
json=$($ADM --json audit --limit 20)
expect_eq "audit: the retry of three jobs" "3 media.probe" \
	"$(jq -r '[.entries[] | select(.action == "job.retry" and .count == 3)][0] | "\(.count) \(.detail.type)"' <<<"$json")"
expect_eq "audit: the dead retry" 1 "$(jq -r '[.entries[] | select(.action == "dead.retry")][0].count' <<<"$json")"
expect_eq "audit: the purge with its count" "$purged" \
	"$(jq -r '[.entries[] | select(.action == "dead.purge")][0].count' <<<"$json")"
expect_eq "audit: the dry run is not an action" 0 \
	"$(jq -r '[.entries[] | select(.action == "job.retry" and .detail.dry_run)] | length' <<<"$json")"

done_testing
