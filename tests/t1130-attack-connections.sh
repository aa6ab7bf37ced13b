#!/usr/bin/env bash
# t1130 — attacks on the API's connections, each beside an honest tenant that must
# still be served: slowloris (a header trickled byte by byte, more connections
# than the per-address cap), a flood of ?wait long-polls from one tenant, 100
# stalled video uploads (memory and the S3 multipart uploads they leave), and an
# X-Forwarded-For header sent to dodge the per-address accounting.
#
# A second spool-api with small limits of its own runs the attacks, so that the
# stack's API keeps its defaults:
#   max_connections_per_address 16, header_timeout 3s, max_waits_per_key 4,
#   upload_buffer 64M, upload_buffer_per_key 32M ([s3] part_size 8M: 8 uploads
#   in all, 4 per key), upload_idle_timeout 4s, trusted_proxies 127.0.0.3.
. "$(dirname "$0")/lib.sh"
. tests/bystander.sh
. tests/data/second-api.sh

ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ATTACK=tests/tools/attack-client.py
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
now() { date +%s.%N; }
ms_since() { py 'import sys; print(int((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "${2:-$(now)}"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$API2_PID/status"; }
# expect_jq WHAT EXPR FILE: ok when the jq test EXPR holds on the attack client's report FILE
expect_jq() { if jq -e "$2" "$3" >/dev/null; then ok "$1"; else fail "$1" "$(cat "$3")"; fi; }

# new_key TENANT: a key of a tenant of its own (revoked at exit)
new_key() {
	local out id
	out=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$1" --json 2>&1) || bail "keys create: $out"
	id=$(json_id <<<"$out")
	at_exit "bin/adminctl -f '$SPOOL_ADMINCTL_CONFIG' keys revoke '$id'"
	jq -r .key <<<"$out"
}

api2_start "max_connections_per_address = 16" "header_timeout = 3s" "max_waits_per_key = 4" \
	"upload_buffer = 64M" "upload_buffer_per_key = 32M" "upload_idle_timeout = 4s" \
	"trusted_proxies = 127.0.0.3"
PORT=${API2_URL##*:}
LOG=$SPOOL_LOG_DIR/spool-api-$T_NAME.log
mark=$(wc -l <"$LOG")
new_log() { tail -n +"$((mark + 1))" "$LOG"; }
BYSTANDER_URL=$API2_URL
bystander_init
TENANT_A=attacker-a-$$ TENANT_B=attacker-b-$$
KEY_A=$(new_key "$TENANT_A")
KEY_B=$(new_key "$TENANT_B")

# --- 1. slowloris: 40 connections from 127.0.0.2 trickling their header
"$ATTACK" slowloris "$PORT" 127.0.0.2 40 7 >"$T_TMP/slow.json" &
apid=$!
sleep 1
bystander_ok "slowloris"
wait "$apid"
r=$T_TMP/slow.json
expect_jq "slowloris: the 24 connections over max_connections_per_address (16) are closed at once" \
	'[.closed[] | select(. < 1)] | length == 24' "$r"
expect_jq "slowloris: the 16 within the cap are closed at header_timeout (3 s) although bytes keep coming" \
	'([.closed[] | select(. >= 2.5 and . < 5)] | length == 16) and .open == 0 and .answered == 0' "$r"
# the refusals are summed into one warning per report interval: under load they may span two
refused=$(new_log | grep -o 'refused [0-9]* over max_connections_per_address (16; last from 127.0.0.2)' |
	awk '{n += $2} END {print n + 0}')
expect_eq "slowloris: the 24 refusals are logged, naming the address" 24 "$refused"

# --- 2. long-poll flood: tenant A waits 10 times on a job that stays queued
id=$(sql -c "INSERT INTO jobs (tenant_id, type, params) VALUES ('$TENANT_A', 'noop', '{\"t\":\"t1130-parked\"}') RETURNING id" | head -n1)
[ -n "$id" ] || bail "cannot park a job for $TENANT_A"
polls=()
for i in $(seq 1 10); do
	curl -sS --interface 127.0.0.4 -o "$T_TMP/poll$i" -w '%{http_code} %{time_total}\n' --max-time 40 \
		-H "Authorization: Bearer $KEY_A" "$API2_URL/v1/jobs/$id?wait=30" >"$T_TMP/poll$i.status" 2>&1 &
	polls+=($!)
done
sleep 1.5
answered=$(cat "$T_TMP"/poll*.status 2>/dev/null | awk '$1 == 200 && $2 < 1.5' | wc -l)
queued=$(cat "$T_TMP"/poll[0-9] "$T_TMP"/poll10 2>/dev/null | jq -r .status 2>/dev/null | grep -c '^queued$')
expect_eq "long-polls: the 6 over max_waits_per_key (4) answer at once, 200 with the job queued" "6 6" \
	"$answered $queued"
bystander_ok "long-poll flood"
# another tenant's long-poll is still woken by its job's end
auth=(-H "Authorization: Bearer $SPOOL_API_KEY")
jid=$(curl -sS "${auth[@]}" -H 'Content-Type: application/json' -d '{"type":"noop","params":{"t":"t1130"}}' \
	"$API2_URL/v1/jobs" | jq -r '.id // empty')
expect_status "long-polls: another tenant's ?wait=20" 200 "${auth[@]}" "$API2_URL/v1/jobs/$jid?wait=20"
t_answer=$(now)
fin=$(sql -c "SELECT extract(epoch FROM finished_at) FROM jobs WHERE id = '$jid'")
lag=$(ms_since "${fin:-0}" "$t_answer")
if [ "$(jq -r .status <<<"$BODY")" = succeeded ] && [ "$lag" -lt 1000 ]; then
	ok "long-polls: it answers succeeded ${lag} ms after the job finished (< 1 s)"
else
	fail "long-polls: it answers succeeded within 1 s of the job's end" "status $(jq -r .status <<<"$BODY"), ${lag} ms"
fi
expect_status "long-polls: tenant A cancels its job" 200 -X DELETE -H "Authorization: Bearer $KEY_A" "$API2_URL/v1/jobs/$id"
wait "${polls[@]}"
woken=$(cat "$T_TMP"/poll[0-9] "$T_TMP"/poll10 | jq -r .status | grep -c '^cancelled$')
expect_eq "long-polls: the 4 that waited are woken by the cancel" 4 "$woken"

# --- 3. 100 stalled uploads from tenant A, 9 MiB each (past one part: S3 multipart)
# s3_open TENANT: multipart uploads left open under uploads/TENANT/
s3_open() {
	py "
import os, boto3, botocore.config
s3 = $(boto3_client s3)
print(len(s3.list_multipart_uploads(Bucket=os.environ['SPOOL_S3_BUCKET'], Prefix='uploads/$1/').get('Uploads', [])))
"
}
head -c $((9 << 20)) /dev/urandom >"$T_TMP/normal.bin"
sleep 0.5
base=$(rss_kb)
srcs=$(echo 127.0.0.{10..19} | tr ' ' ,)
"$ATTACK" uploads "$PORT" "$KEY_A" 100 9 "$srcs" 9 "$API2_PID" >"$T_TMP/up.json" &
apid=$!
sleep 2
bystander_ok "stalled uploads"
expect_status "stalled uploads: another tenant's 9 MiB upload is accepted meanwhile" 202 "${auth[@]}" \
	-H 'Content-Type: video/mp4' --data-binary @"$T_TMP/normal.bin" "$API2_URL/v1/videos"
vid=$(jq -r '.id // empty' <<<"$BODY")
[ -z "$vid" ] || curl -sS -o /dev/null "${auth[@]}" -X DELETE "$API2_URL/v1/jobs/$vid"
wait "$apid"
r=$T_TMP/up.json
expect_jq "stalled uploads: 4 fill tenant A's upload_buffer_per_key; the 96 others get 503 with Retry-After" \
	'.admitted == 4 and .status["503"] == 96 and (.retry_after | length == 96 and all(. == "5"))' "$r"
expect_jq "stalled uploads: the idle ones are cut at upload_idle_timeout (4 s)" \
	'.open == 0 and (.cut_after | length == 4 and all(. >= 3.5 and . < 6))' "$r"
peak=$(jq .rss_peak_kb "$r")
grow=$(((peak - base) / 1024))
if [ "$grow" -le $((64 + 16)) ]; then
	ok "stalled uploads: the API's RSS grew by ${grow} MiB (upload_buffer 64 MiB + 16)"
else
	fail "stalled uploads: the API's RSS grew by ${grow} MiB (upload_buffer 64 MiB + 16)" "base ${base} kB, peak ${peak} kB"
fi
sleep 0.5
after=$((($(rss_kb) - base) / 1024))
# grep without -q: its early exit would kill ldd with SIGPIPE, and pipefail fail the test
if ldd bin/spool-api 2>/dev/null | grep libasan >/dev/null; then
	ok "stalled uploads: afterwards RSS is back near its start # SKIP AddressSanitizer's quarantine keeps freed memory"
elif [ "$after" -le 8 ]; then
	ok "stalled uploads: afterwards RSS is back within 8 MiB of its start (${after} MiB)"
else
	fail "stalled uploads: afterwards RSS is back within 8 MiB of its start (${after} MiB)"
fi
expect_eq "stalled uploads: no S3 multipart upload is left open" 0 "$(s3_open "$TENANT_A")"
expect_eq "stalled uploads: each cut one is logged as aborted" 4 \
	"$(new_log | grep -c "upload 'uploads/$TENANT_A/[0-9a-f-]*' aborted after")"

# --- the whole upload_buffer: tenants A and B hold 4 each, a third is told to come back
"$ATTACK" uploads "$PORT" "$KEY_A" 4 1 127.0.0.10 6 >"$T_TMP/upA.json" &
apid=$!
"$ATTACK" uploads "$PORT" "$KEY_B" 4 1 127.0.0.11 6 >"$T_TMP/upB.json" &
bpid=$!
sleep 1.5
expect_status "upload_buffer full: another tenant's upload gets 503" 503 -D "$T_TMP/h" "${auth[@]}" \
	-H 'Content-Type: video/mp4' --data-binary @"$T_TMP/normal.bin" "$API2_URL/v1/videos"
expect_match "upload_buffer full: with Retry-After and a message saying why" \
	'Retry-After: 5.*too many uploads are in progress; try again' "$(tr -d '\r' <"$T_TMP/h" | tr '\n' ' ') $BODY"
bystander_ok "upload_buffer full"
wait "$apid" "$bpid"
expect_eq "upload_buffer full: A and B had 4 each" "4 4" "$(jq .admitted "$T_TMP/upA.json") $(jq .admitted "$T_TMP/upB.json")"

# --- 4. X-Forwarded-For
"$ATTACK" xff "$PORT" 16 20 >"$T_TMP/xff.json"
r=$T_TMP/xff.json
expect_eq "X-Forwarded-For from an untrusted peer does not lift its cap: the 17th connection is closed" \
	closed "$(jq -r .over_cap "$r")"
expect_eq "a trusted proxy (127.0.0.3) is not capped: 20 requests over 20 connections, all 200" \
	20 "$(jq '[.trusted[] | select(. == "200")] | length' "$r")"
client_of() { new_log | grep "\"request_id\":\"$1\"" | jq -r .client | tail -n1; }
expect_eq "the trusted proxy's X-Forwarded-For names the client in the access log" 198.51.100.7 "$(client_of t1130-xff-7)"
curl -sS -o /dev/null --interface 127.0.0.2 -H 'X-Forwarded-For: 198.51.100.1' -H 'X-Request-Id: t1130-xff-untrusted' \
	"$API2_URL/health"
expect_eq "an untrusted peer's X-Forwarded-For is ignored: the log names the peer" 127.0.0.2 "$(client_of t1130-xff-untrusted)"
bystander_ok "after the attacks"

done_testing
