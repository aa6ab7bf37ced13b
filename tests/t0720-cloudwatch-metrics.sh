#!/usr/bin/env bash
# The daemons publish their metrics to CloudWatch (the AWS stand-in): jobs
# submitted and succeeded, HTTP status classes, the worker's backlog per
# instance and the free bytes of its tmpdir; adminctl metrics reads the same
# series back.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
grep -q '^enabled = true' "$SPOOL_API_CONFIG" || skip_all "[cloudwatch] is not enabled in $SPOOL_API_CONFIG"
interval=$(sed -n 's/^interval = \([0-9]*\)s$/\1/p' "$SPOOL_API_CONFIG" | head -n1)
interval=${interval:-60}
[ "$interval" -le 15 ] || skip_all "[cloudwatch] interval is ${interval}s; this test wants <= 15s"

# A fixed window from the minute the test started: sums over it only grow.
t0=$(($(date +%s) / 60 * 60))
since=$(date -u -d "@$t0" +%Y-%m-%dT%H:%M:%SZ)

# Sum of a metric (no dimensions) from $t0 to the end of the current minute, as boto3 reads it.
cw_sum() { # NAME [STAT]
	py "
import os, datetime, time, boto3, botocore.config
cw = $(boto3_client cloudwatch)
end = datetime.datetime.fromtimestamp((int(time.time()) // 60 + 1) * 60, datetime.timezone.utc)
r = cw.get_metric_data(MetricDataQueries=[{'Id': 'm', 'MetricStat': {'Metric': {'Namespace': 'Spool',
    'MetricName': '$1'}, 'Period': 60, 'Stat': '${2:-Sum}'}}],
    StartTime=datetime.datetime.fromtimestamp($t0, datetime.timezone.utc), EndTime=end)
v = r['MetricDataResults'][0]['Values']
print('%g %d' % (sum(v), len(v)) if v else 'none 0')
"
}

n=5
before_sub=$(cw_sum JobsSubmitted | cut -d' ' -f1)
before_ok=$(cw_sum JobsSucceeded | cut -d' ' -f1)
[ "$before_sub" != none ] || before_sub=0
[ "$before_ok" != none ] || before_ok=0
ids=()
for ((i = 0; i < n; i++)); do
	ids+=("$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" |
		json_id)")
done
for id in "${ids[@]}"; do
	[ "$(job_wait "$id" 30 | jq -r .status)" = succeeded ] || fail "job $id succeeded"
done
ok "$n noop jobs succeeded"

# the sums, polled until they all show the jobs, for two intervals and a second at most
sums() {
	read -r sub _ <<<"$(cw_sum JobsSubmitted)"
	read -r okd _ <<<"$(cw_sum JobsSucceeded)"
	read -r h2 _ <<<"$(cw_sum Http2xx)"
	read -r bl nbl <<<"$(cw_sum BacklogPerInstance Average)"
	read -r qd nqd <<<"$(cw_sum QueueDepth Maximum)"
	read -r dur ndur <<<"$(cw_sum JobDuration SampleCount)"
	awk -v a="$before_sub" -v b="$sub" -v c="$before_ok" -v d="$okd" -v h="$h2" -v nb="$nbl" -v nq="$nqd" -v du="$dur" -v n=$n \
		'BEGIN { exit !(b != "none" && b - a >= n && d != "none" && d - c >= n && h != "none" && h > 0 &&
			nb >= 1 && nq >= 1 && du != "none" && du > 0) }'
}
end=$((SECONDS + interval * 2 + 1))
until sums || [ $SECONDS -ge $end ]; do sleep 1; done
expect_match "JobsSubmitted grew by at least $n (before $before_sub, now $sub)" yes \
	"$(awk -v a="$before_sub" -v b="$sub" -v n=$n 'BEGIN { print (b != "none" && b - a >= n) ? "yes" : "no" }')"
expect_match "JobsSucceeded grew by at least $n (before $before_ok, now $okd)" yes \
	"$(awk -v a="$before_ok" -v b="$okd" -v n=$n 'BEGIN { print (b != "none" && b - a >= n) ? "yes" : "no" }')"
expect_match "Http2xx > 0 ($h2)" yes "$(awk -v b="$h2" 'BEGIN { print (b != "none" && b > 0) ? "yes" : "no" }')"
expect_match "BacklogPerInstance has data points ($nbl)" '^[1-9]' "$nbl"
expect_match "QueueDepth has data points ($nqd)" '^[1-9]' "$nqd"
expect_match "JobDuration has samples ($dur)" yes "$(awk -v b="$dur" 'BEGIN { print (b != "none" && b > 0) ? "yes" : "no" }')"

# with the dimensions of [cloudwatch] dimensions too, and JobDuration by JobType
dims=$(py "
import os, boto3, botocore.config
cw = $(boto3_client cloudwatch)
seen = set()
for name in ('JobsSubmitted', 'JobsSucceeded', 'JobDuration', 'BacklogPerInstance'):
    for m in cw.list_metrics(Namespace='Spool', MetricName=name)['Metrics']:
        seen.add(name + ':' + ','.join(sorted(d['Name'] + '=' + d['Value'] for d in m['Dimensions'])))
print(' '.join(sorted(seen)))
")
expect_match "JobsSubmitted with Service=api" 'JobsSubmitted:Env=local,Service=api' "$dims"
expect_match "JobsSucceeded with Service=worker" 'JobsSucceeded:Env=local,Service=worker' "$dims"
expect_match "JobDuration by JobType" 'JobDuration:JobType=noop( |$)' "$dims"
expect_match "BacklogPerInstance without dimensions only" '^[^B]*BacklogPerInstance: ' "$dims "

# the free bytes of the worker's tmpdir: the latest data point, in Bytes, within
# 10 % of what df reads of it now
tmpdir=$(sed -n 's/^tmpdir = //p' "$SPOOL_WORKER_CONFIG" | tail -n1)
[ -d "$tmpdir" ] || fail "the worker's tmpdir '$tmpdir' exists"
tfree=$(py "
import os, datetime, boto3, botocore.config
cw = $(boto3_client cloudwatch)
now = datetime.datetime.now(datetime.timezone.utc)
r = cw.get_metric_statistics(Namespace='Spool', MetricName='TmpdirFreeBytes',
    Dimensions=[{'Name': 'Env', 'Value': 'local'}, {'Name': 'Service', 'Value': 'worker'}],
    StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=1),
    Period=60, Statistics=['Maximum'])
p = sorted(r['Datapoints'], key=lambda d: d['Timestamp'])
print('%d %s' % (p[-1]['Maximum'], p[-1].get('Unit')) if p else 'none none')
")
read -r tf tunit <<<"$tfree"
avail=$(df -B1 --output=avail "$tmpdir" | tail -n1 | tr -d ' ')
expect_eq "TmpdirFreeBytes is in Bytes" Bytes "$tunit"
expect_eq "TmpdirFreeBytes ($tf) within 10% of df's free bytes of $tmpdir ($avail)" yes \
	"$(awk -v a="$tf" -v d="$avail" 'BEGIN { print (a != "none" && d > 0 && a >= d * 0.9 && a <= d * 1.1) ? "yes" : "no" }')"

# adminctl reads the same series (others may submit meanwhile: between two boto3 reads)
b1=$(cw_sum JobsSubmitted | cut -d' ' -f1)
out=$(bin/adminctl -c "$SPOOL_ADMINCTL_CONFIG" --json metrics JobsSubmitted --since "$since" --period 1m 2>&1)
b2=$(cw_sum JobsSubmitted | cut -d' ' -f1)
asum=$(jq -r '[.metrics[] | select(.name == "JobsSubmitted") | .points[].v] | add // "none"' <<<"$out" 2>/dev/null)
expect_eq "adminctl metrics JobsSubmitted --json: the sum boto3 reads ($b1 <= $asum <= $b2)" yes \
	"$(awk -v a="$asum" -v b1="$b1" -v b2="$b2" 'BEGIN { print (a != "none" && a + 0 >= b1 && a + 0 <= b2) ? "yes" : "no" }')"

done_testing
