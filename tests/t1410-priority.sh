#!/usr/bin/env bash
# t1410 — job priorities. POST /v1/jobs takes "priority" high, normal or low (anything
# else: 422 naming the field), POST /v1/videos ?priority=; absent, the tenant's default
# applies (`adminctl limits set tenant T --priority P`, audited; none set: normal), shown
# by GET, the list, `adminctl jobs` and `job show`. Behind a backlog of 1,000 normal noop
# jobs of 500 ms (the stack's worker, concurrency 2), a high job starts within a job's
# duration and a bounded slack of its submission (the figure is printed); low jobs
# submitted into a continuing backlog of high and normal jobs still start while high ones
# wait (the share of starts is printed). A high job's retry goes through
# spool.retry.high.<s> and comes back to spool.jobs.high. The queues of the three
# priorities are quorum queues bound with their keys, and `adminctl queues` lists them.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
[ -x bin/adminctl ] || bail "bin/adminctl is not built"
ADM="bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }
mgmt() { curl -sS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" -H 'Content-Type: application/json' "$@"; }
M=$SPOOL_RABBITMQ_MGMT_URL
RUN=$(date +%s)
TB=t1410-b-$RUN TL=t1410-l-$RUN TN=t1410-n-$RUN
key() { $ADM keys create --tenant "$1" 2>/dev/null | head -n 1; }
KB=$(key "$TB") KL=$(key "$TL") KN=$(key "$TN")
[ -n "$KB" ] && [ -n "$KL" ] && [ -n "$KN" ] || bail "cannot create API keys with adminctl"
# four keys of the backlog's tenant: each has its own rate limit ([api] rate_limit)
KB4=$KB,$(key "$TB"),$(key "$TB"),$(key "$TB")
at_exit "sql \"DELETE FROM tenant_priorities WHERE tenant LIKE 't1410-%-$RUN'\" >/dev/null"
# the backlog's jobs left when the test ends are cancelled (their messages are then dropped)
at_exit "sql \"SELECT id FROM jobs WHERE tenant_id = '$TB' AND status IN ('queued', 'retrying')\" | xargs -r -n 500 $ADM job cancel >/dev/null 2>&1"

# post KEY BODY: POST /v1/jobs; the status in $STATUS, the body in $BODY
post() {
	STATUS=$(curl -sS -o "$T_TMP/body" -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' -d "$2" "$SPOOL_API_URL/v1/jobs" 2>/dev/null) || STATUS=000
	BODY=$(cat "$T_TMP/body" 2>/dev/null || true)
}
# submit KEY PRIORITY DURATION_MS: one noop job ("" priority: none given); prints its id
submit_p() {
	local p=""
	[ -n "$2" ] && p=",\"priority\":\"$2\""
	curl -fsS --max-time 40 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"type\":\"noop\",\"params\":{\"duration_ms\":$3}$p}" "$SPOOL_API_URL/v1/jobs" | json_id
}
export SPOOL_API_URL
# submit_many KEYS PRIORITY DURATION_MS N: N noop jobs over 4 keep-alive connections, each with
# one of the comma-separated KEYS, waiting out a 429's Retry-After as a client does; prints their ids
submit_many() {
	py '
import http.client, json, sys, threading, time, urllib.parse
url, keys, prio, dur, n = sys.argv[1], sys.argv[2].split(","), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(url)
body = {"type": "noop", "params": {"duration_ms": dur}}
if prio:
    body["priority"] = prio
data = json.dumps(body)
ids, lock = [], threading.Lock()
def run(k, key):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    tries = 0
    while k > 0 and tries < 1000:
        c.request("POST", "/v1/jobs", data, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse()
        b = r.read()
        if r.status == 202:
            k -= 1
            with lock:
                ids.append(json.loads(b)["id"])
        elif r.status == 429:
            tries += 1
            time.sleep(min(float(r.getheader("Retry-After") or 1), 2))
        else:
            break
ts = [threading.Thread(target=run, args=(n // 4 + (i < n % 4), keys[i % len(keys)])) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(ids))' "$SPOOL_API_URL" "$@"
}
# wait_sql WANT SECONDS QUERY: poll until QUERY prints WANT (5 times a second)
wait_sql() {
	local want=$1 i
	for ((i = 0; i < $2 * 5; i++)); do
		[ "$(sql "$3")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}
# wait_until SECONDS QUERY: poll until QUERY prints t
wait_until() { wait_sql t "$1" "$2"; }

# ---- the queues -----------------------------------------------------------
queues=$(mgmt "$M/api/queues/%2F?columns=name,type,arguments")
for q in spool.jobs.high spool.jobs spool.jobs.low; do
	expect_eq "$q: a quorum queue, delivery limit 10, dead-lettered to spool.dead" "quorum 10 spool.dead" \
		"$(jq -r --arg q "$q" '.[] | select(.name == $q) | "\(.type) \(.arguments."x-delivery-limit") \(.arguments."x-dead-letter-routing-key")"' <<<"$queues")"
done
expect_eq "the exchange routes job.high, job and job.low to them" "job.high:spool.jobs.high job.low:spool.jobs.low job:spool.jobs" \
	"$(mgmt "$M/api/exchanges/%2F/spool.jobs/bindings/source" | jq -r '[.[] | "\(.routing_key):\(.destination)"] | sort | join(" ")')"
expect_eq "adminctl queues lists the three" "spool.jobs spool.jobs.high spool.jobs.low" \
	"$($ADM --json queues | jq -r '[.queues[].name | select(startswith("spool.jobs"))] | sort | join(" ")')"

# ---- 422s -------------------------------------------------------------------
for bad in '"urgent"' '"HIGH"' '""' 5 true '["high"]'; do
	post "$KN" "{\"type\":\"noop\",\"priority\":$bad}"
	expect_eq "priority $bad: 422 invalid naming the field" "422 invalid priority" \
		"$STATUS $(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
done
check "adminctl limits set --priority urgent: usage error (2)" bash -c "$ADM limits set tenant $TL --priority urgent 2>/dev/null; [ \$? = 2 ]"
check "adminctl limits set type … --priority: usage error (2)" bash -c "$ADM limits set type noop --priority high 2>/dev/null; [ \$? = 2 ]"

# ---- the tenant's default -------------------------------------------------------
post "$KN" '{"type":"noop"}'
expect_eq "no default set: normal" "202 normal" "$STATUS $(jq -r .priority <<<"$BODY")"
check "adminctl limits set tenant --priority low" $ADM limits set tenant "$TL" --priority low
expect_eq "the change is audited with the priority" "low" \
	"$(sql "SELECT detail->>'priority' FROM audit WHERE action = 'limits.set' AND target = 'tenant:$TL' ORDER BY id DESC LIMIT 1")"
post "$KL" '{"type":"noop"}'
lid=$(json_id <<<"$BODY")
expect_eq "the tenant's default applies: low" "202 low" "$STATUS $(jq -r .priority <<<"$BODY")"
post "$KL" '{"type":"noop","priority":"high"}'
hid=$(json_id <<<"$BODY")
expect_eq "a priority given wins over the default" "202 high" "$STATUS $(jq -r .priority <<<"$BODY")"
expect_eq "the low and the high job succeed through their queues" "succeeded succeeded" \
	"$(SPOOL_API_KEY=$KL job_wait "$lid" 30 | jq -r .status) $(SPOOL_API_KEY=$KL job_wait "$hid" 30 | jq -r .status)"
expect_eq "GET /v1/jobs/{id} shows it" low \
	"$(curl -fsS -H "Authorization: Bearer $KL" "$SPOOL_API_URL/v1/jobs/$lid" | jq -r .priority)"
expect_eq "GET /v1/jobs lists it" "high low" \
	"$(curl -fsS -H "Authorization: Bearer $KL" "$SPOOL_API_URL/v1/jobs?limit=2" | jq -r '[.jobs[].priority] | join(" ")')"
expect_match "adminctl job show shows it" 'priority[[:space:]]+low' "$($ADM job show "$lid" 2>&1)"
expect_eq "adminctl jobs --json shows it" low \
	"$($ADM --json jobs --search "$lid" | jq -r '.jobs[0].priority')"
expect_match "adminctl jobs shows it in its last column" $'\tlow$' "$($ADM jobs --search "$lid" | tail -n 1)"
expect_eq "adminctl limits --json lists the tenant's default, not a row of its own (the limits of '*' apply)" "low false" \
	"$($ADM --json limits | jq -r --arg n "$TL" '.[] | select(.scope == "tenant" and .name == $n) | "\(.priority) \(.own)"')"
expect_match "adminctl limits shows it" "tenant	$TL	[^	]*	[^	]*	0	0	0	-	low	-	-" "$($ADM limits)"
check "limits set tenant --priority normal again" $ADM limits set tenant "$TL" --priority normal
post "$KL" '{"type":"noop"}'
expect_eq "the new default applies at the next submission" "202 normal" "$STATUS $(jq -r .priority <<<"$BODY")"

# ---- a high job behind 1,000 normal ones -------------------------------------------
CONC=$(awk -F' *= *' '/^concurrency/ { print $2 }' "$SPOOL_WORKER_CONFIG")
DUR=500
# the backlog is submitted with the worker stopped, so that it waits in spool.jobs whatever the machine's speed
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker >/dev/null 2>&1"
submit_many "$KB4" "" $DUR 1000 >"$T_TMP/b-ids"
expect_eq "1,000 normal jobs accepted" 1000 "$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/b-ids")"
scripts/stack.sh start spool-worker >/dev/null 2>&1 || bail "cannot start the stack's worker"
wait_until 30 "SELECT count(*) >= $CONC FROM jobs WHERE tenant_id = '$TB' AND status = 'running'" ||
	fail "the backlog runs"
high=$(submit_p "$KB" high $DUR)
[ -n "$high" ] || bail "the high job was not accepted"
wait_until 30 "SELECT started_at IS NOT NULL FROM jobs WHERE id = '$high'" || fail "the high job starts within 30 s"
wait_s=$(sql "SELECT round(extract(epoch FROM started_at - created_at)::numeric, 2) FROM jobs WHERE id = '$high'")
ahead=$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND priority = 'normal' AND status = 'queued'
	AND created_at < (SELECT created_at FROM jobs WHERE id = '$high')")
# a job's duration for a thread to free, the API's publisher and a loaded machine: 8 s of slack
if awk -v w="$wait_s" -v d="$DUR" 'BEGIN { exit !(w != "" && w <= d / 1000 + 8) }'; then
	ok "the high job started $wait_s s after its submission (a job takes 0.$((DUR / 100)) s, concurrency $CONC), ahead of $ahead normal jobs submitted before it"
else
	fail "the high job starts within a job's duration + 8 s" "it waited $wait_s s"
fi
expect_match "normal jobs submitted before it were still waiting" '^[1-9][0-9][0-9]+$' "$ahead"

# ---- low jobs into a continuing backlog of high and normal ones ------------------------
submit_many "$KB4" high $DUR 60 >"$T_TMP/h-ids"
submit_many "$KB4" low $DUR 6 >"$T_TMP/l-ids"
expect_eq "60 high and 6 low jobs accepted" "60 6" \
	"$(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/h-ids") $(grep -c '^[0-9a-f-]\{36\}$' "$T_TMP/l-ids")"
t0=$(sql "SELECT max(created_at) FROM jobs WHERE tenant_id = '$TB' AND priority = 'low'")
wait_until 60 "SELECT count(*) >= 3 FROM jobs WHERE tenant_id = '$TB' AND priority = 'low' AND started_at IS NOT NULL" ||
	fail "3 low jobs start within 60 s"
# the high jobs still waiting when the third low one started
left=$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND priority = 'high' AND id <> '$high'
	AND (started_at IS NULL OR started_at > (SELECT started_at FROM jobs WHERE tenant_id = '$TB' AND priority = 'low'
		AND started_at IS NOT NULL ORDER BY started_at OFFSET 2 LIMIT 1))")
share=$(sql "SELECT string_agg(priority || ' ' || n, ', ' ORDER BY priority) FROM (SELECT priority, count(*) n FROM jobs
	WHERE tenant_id = '$TB' AND started_at >= '$t0' GROUP BY priority) s")
if [ "${left:-0}" -gt 0 ]; then
	ok "low jobs start while high ones wait ($left high still waiting at the third low start; starts since: $share)"
else
	fail "low jobs start while high ones wait" "no high job was waiting any more; starts since: $share"
fi
highs=$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND priority = 'high' AND started_at >= '$t0'")
normals=$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$TB' AND priority = 'normal' AND started_at >= '$t0'")
expect_eq "high jobs took most starts meanwhile, normal ones some" yes \
	"$([ "$highs" -gt "$normals" ] && [ "$normals" -gt 0 ] && echo yes)"

# ---- a high job's retry comes back to spool.jobs.high -------------------------------------
sql "SELECT id FROM jobs WHERE tenant_id = '$TB' AND status IN ('queued', 'retrying')" | xargs -r -n 500 $ADM job cancel >/dev/null 2>&1
command -v ffmpeg >/dev/null || { done_testing; exit; }
ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "cannot make the clip"
key=$(upload "$T_TMP/clip.mp4") || bail "cannot upload the clip"
# POST /v1/videos takes ?priority= too
video() { # QUERY: POST the clip to /v1/videos?QUERY; the status in $STATUS, the body in $BODY
	STATUS=$(curl -sS -o "$T_TMP/body" -w '%{http_code}' --max-time 60 -H "Authorization: Bearer $KL" \
		-H 'Content-Type: video/mp4' --data-binary "@$T_TMP/clip.mp4" "$SPOOL_API_URL/v1/videos?$1") || STATUS=000
	BODY=$(cat "$T_TMP/body" 2>/dev/null || true)
}
video "height=240&priority=high"
expect_eq "POST /v1/videos?priority=high: 202, a high job" "202 high" "$STATUS $(jq -r .priority <<<"$BODY")"
vhigh=$(json_id <<<"$BODY")
video "height=240&priority=soon"
expect_eq "POST /v1/videos?priority=soon: 422 naming the field" "422 invalid priority" \
	"$STATUS $(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
video "height=240"
expect_eq "POST /v1/videos without it: the tenant's default (normal again)" "202 normal" "$STATUS $(jq -r .priority <<<"$BODY")"
# the high video job ends before the stack's worker stops: handed back at the stop, it
# would be a second message in spool.jobs.high below
wait_sql succeeded 60 "SELECT status FROM jobs WHERE id = '$vhigh'" || fail "the high video job succeeded"
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker >/dev/null 2>&1"
awk '/^\[/ { section = $0 } section == "[s3]" && /^endpoint_url/ { print "endpoint_url = http://127.0.0.1:9"; next } { print }' \
	"$SPOOL_WORKER_CONFIG" | grep -v '^concurrency' >"$T_TMP/bad-s3.ini"
printf 'id = t1410-nos3\nconcurrency = 1\nbackoff_cap = 3s\nbackoff_base = 0\n[aws]\nmax_attempts = 1\n' >>"$T_TMP/bad-s3.ini"
bin/spool-worker -d -f "$T_TMP/bad-s3.ini" >"$T_TMP/bad-s3.log" 2>&1 &
BAD=$!
at_exit "kill -9 $BAD 2>/dev/null"
probe=$(_w_api -X POST -H 'Content-Type: application/json' \
	-d "$(jq -cn --arg k "$key" '{type: "media.probe", source: {key: $k}, priority: "high"}')" "$SPOOL_API_URL/v1/jobs" | json_id)
wait_sql retrying 20 "SELECT status FROM jobs WHERE id = '$probe'"
kill -TERM "$BAD"
wait "$BAD" 2>/dev/null
expect_eq "the high probe job is retrying after attempt 1" "retrying 1" "$(sql "SELECT status || ' ' || attempts FROM jobs WHERE id = '$probe'")"
expect_match "its delay queue is spool.retry.high.<s>, dead-lettering to job.high" "spool\.retry\.high\.[0-9]+ job\.high" \
	"$(mgmt "$M/api/queues/%2F?columns=name,arguments" | jq -r '[.[] | select(.name | startswith("spool.retry.high.")) | "\(.name) \(.arguments."x-dead-letter-routing-key")"] | join(",")')"
n=""
for ((i = 0; i < 60; i++)); do
	n=$(mgmt "$M/api/queues/%2F/spool.jobs.high" | jq -r '.messages // 0')
	[ "$n" = 1 ] && break
	sleep 0.5
done
expect_eq "after the delay its message is back in spool.jobs.high" 1 "$n"
scripts/stack.sh start spool-worker >/dev/null 2>&1
expect_eq "attempt 2 ran and succeeded" "succeeded 2 high" \
	"$(jq -r '"\(.status) \(.attempts) \(.priority)"' <<<"$(job_wait "$probe" 60)")"

done_testing
