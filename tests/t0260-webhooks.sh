#!/usr/bin/env bash
# t0260 — webhooks: callback_url policy at submission (422 naming callback_url),
# a signed POST of the job on its final state, a retry after a 500 with both
# attempts in webhook_deliveries, and a name that resolves to loopback refused.
#
# Deliveries are made by whichever API process consumes the final event, under
# its own api.webhook_allow_hosts; the sink is on 127.0.0.1, so while the
# deliveries run the stack's spool-api is stopped and an API whose config allows
# 127.0.0.1 is the only consumer (the stack's API is started again at the end).
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }

# submit_cb BASE URL: POST a noop job with callback_url; the body in $T_TMP/sub, prints the status
submit_cb() {
	curl -sS -o "$T_TMP/sub" -w '%{http_code}' "${AUTH[@]}" "${JSON[@]}" \
		-d "$(jq -cn --arg u "$2" '{type: "noop", callback_url: $u}')" "$1/v1/jobs"
}
expect_invalid() { # WHAT BASE URL
	local st
	st=$(submit_cb "$2" "$3")
	expect_eq "$1" "422 invalid callback_url" "$st $(jq -r '"\(.error.code) \(.error.field)"' "$T_TMP/sub")"
}

# --- the policy at submission, on the stack's API (no allowed hosts)
expect_invalid "http://10.0.0.1/ is refused" "$U" "http://10.0.0.1/"
expect_invalid "https://10.0.0.1/ (private) is refused" "$U" "https://10.0.0.1/hook"
expect_invalid "http://localhost is refused" "$U" "http://localhost/hook"
expect_invalid "https://localhost. is refused" "$U" "https://localhost./hook"
expect_invalid "https://127.0.0.1 is refused" "$U" "https://127.0.0.1:8443/"
expect_invalid "https://[::1] is refused" "$U" "https://[::1]/"
expect_invalid "https://169.254.169.254 (metadata) is refused" "$U" "https://169.254.169.254/latest"
expect_invalid "decimal 2130706433 (127.0.0.1) is refused" "$U" "https://2130706433/"
expect_invalid "user information is refused" "$U" "https://user:pw@example.com/"
expect_invalid "ftp:// is refused" "$U" "ftp://example.com/"

# --- the stack's API stops; one that allows 127.0.0.1 takes its place
scripts/stack.sh stop spool-api >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-api"
api2_start "webhook_allow_hosts = 127.0.0.1"
A=$API2_URL

: >"$T_TMP/sink.log"
"$T_PY" tests/tools/webhook-sink.py "$T_TMP/sink.log" 500,200 >"$T_TMP/sink.port" &
sink_pid=$!
at_exit "kill $sink_pid"
for _ in $(seq 1 50); do [ -s "$T_TMP/sink.port" ] && break; sleep 0.1; done
port=$(head -n1 "$T_TMP/sink.port")
[ -n "$port" ] || bail "the webhook sink did not start"

expect_invalid "http://localhost is refused there too (only 127.0.0.1 is allowed)" "$A" "http://localhost:$port/hook"
url="http://127.0.0.1:$port/hook?t=t0260"
expect_eq "http://127.0.0.1 is accepted where allowed" 202 "$(submit_cb "$A" "$url")"
id=$(json_id "$T_TMP/sub")

for _ in $(seq 1 150); do [ "$(wc -l <"$T_TMP/sink.log")" -ge 2 ] && break; sleep 0.1; done
expect_eq "two POSTs reached the sink (500, then 200)" 2 "$(wc -l <"$T_TMP/sink.log")"
sleep 0.5
rows=$(sql -c "SELECT attempt, coalesce(status_code, 0), delivered, url = '$url', next_at IS NOT NULL FROM webhook_deliveries WHERE job_id = '$id' ORDER BY attempt")
expect_eq "two delivery rows: 500 not delivered, 200 delivered" "1|500|f|t|t
2|200|t|t|t" "$rows"

# the signature, as a receiver checks it: key = HMAC(pepper, "webhook:" + tenant)
tenant=$(sql -c "SELECT tenant_id FROM jobs WHERE id = '$id'")
verdict=$(py "
import hashlib, hmac, json, os, sys, time, boto3, botocore
sm = $(boto3_client secretsmanager)
pepper = sm.get_secret_value(SecretId=os.environ['SPOOL_PEPPER_SECRET_ARN'])['SecretString']
key = hmac.new(pepper.encode(), b'webhook:' + sys.argv[1].encode(), hashlib.sha256).digest()
out = []
for line in open(sys.argv[2]):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r['headers'].items()}
    parts = dict(p.split('=', 1) for p in h['x-spool-signature'].split(','))
    want = hmac.new(key, (parts['t'] + '.' + r['body']).encode(), hashlib.sha256).hexdigest()
    job = json.loads(r['body'])
    out.append('%s %s %s %s %s' % (hmac.compare_digest(want, parts['v1']), abs(time.time() - int(parts['t'])) < 120,
                                   job['id'] == sys.argv[3], job['status'], h.get('x-spool-event')))
print(' / '.join(out))
" "$tenant" "$T_TMP/sink.log" "$id")
expect_eq "both POSTs carry a valid X-Spool-Signature and the job" \
	"True True True succeeded job.succeeded / True True True succeeded job.succeeded" "$verdict"
# what a client is given: `adminctl keys webhook-secret` (hex of the signing key)
secret=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys webhook-secret --tenant "$tenant")
expect_eq "the secret from adminctl keys webhook-secret verifies the first POST" True "$(py "
import hashlib, hmac, json, sys
r = json.loads(open(sys.argv[1]).readline())
h = {k.lower(): v for k, v in r['headers'].items()}
parts = dict(p.split('=', 1) for p in h['x-spool-signature'].split(','))
key = bytes.fromhex(sys.argv[2])
print(hmac.compare_digest(hmac.new(key, (parts['t'] + '.' + r['body']).encode(), hashlib.sha256).hexdigest(), parts['v1']))
" "$T_TMP/sink.log" "$secret")"
expect_eq "reading it is in the audit trail" "keys.webhook_secret $tenant" \
	"$(sql -c "SELECT action, target FROM audit WHERE action = 'keys.webhook_secret' ORDER BY id DESC LIMIT 1" | tr '|' ' ')"
body=$(head -n1 "$T_TMP/sink.log" | jq -r .body)
expect_eq "the body has the API's job shape" "noop succeeded 1" "$(jq -r '"\(.type) \(.status) \(.attempts)"' <<<"$body")"
expect_eq "a wrong tenant's key does not verify" False "$(py "
import hashlib, hmac, json, sys
r = json.loads(open(sys.argv[1]).readline())
parts = dict(p.split('=', 1) for p in r['headers']['X-Spool-Signature'].split(','))
key = hmac.new(b'not-the-pepper', b'webhook:x', hashlib.sha256).digest()
print(hmac.compare_digest(hmac.new(key, (parts['t'] + '.' + r['body']).encode(), hashlib.sha256).hexdigest(), parts['v1']))
" "$T_TMP/sink.log")"

# --- a name (not a literal) that resolves to loopback: accepted, then refused at delivery
name=$(hostname)
if getent ahosts "$name" | grep -qE '^(127\.|::1)'; then
	expect_eq "https://$name/ is accepted at submission (a name)" 202 "$(submit_cb "$A" "https://$name:$port/x")"
	rid=$(json_id "$T_TMP/sub")
	for _ in $(seq 1 100); do
		r=$(sql -c "SELECT attempt, delivered, error FROM webhook_deliveries WHERE job_id = '$rid' AND at IS NOT NULL")
		[ -n "$r" ] && break
		sleep 0.1
	done
	expect_match "refused at delivery: resolves to loopback, not retried" \
		"^1\|f\|'$name' resolves to a private, loopback or link-local address" "$r"
	expect_eq "no further attempt is scheduled" 1 "$(sql -c "SELECT count(*) FROM webhook_deliveries WHERE job_id = '$rid'")"
	expect_eq "nothing reached the sink" 2 "$(wc -l <"$T_TMP/sink.log")"
else
	ok "# SKIP $name does not resolve to loopback"
fi

done_testing
