#!/usr/bin/env bash
# t0280: optional TLS on the API listener ([api] tls_cert and tls_key): a second
# spool-api with a self-signed certificate answers /health over https to a client
# trusting that certificate, refuses plain http on the same port, and a config with
# only one of the two keys, or a file that is not PEM, is refused with exit 78. Under a
# watchdog its pings follow a GET /health through that HTTPS listener.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/data/second-api.sh"
. "$(dirname "$0")/data/notify.sh"

command -v openssl >/dev/null 2>&1 || skip_all "openssl not found"

cert=$T_TMP/api.crt
key=$T_TMP/api.key
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$key" -out "$cert" >/dev/null 2>&1 ||
	bail "openssl cannot make a self-signed certificate"

# -n: one key without the other is a config error naming the missing one
onlycfg=$T_TMP/only-cert.ini
awk -v c="$cert" '{ print } $0 == "[api]" { print "tls_cert = " c }' "$SPOOL_API_CONFIG" >"$onlycfg"
out=$(bin/spool-api -n -f "$onlycfg" 2>&1)
expect_eq "-n with only tls_cert: exit 78" 78 "$?"
expect_match "-n with only tls_cert: names tls_key" "'tls_cert' in \[api\] is set but 'tls_key' is not" "$out"

# -n reads the files: a key that is not PEM is exit 78 naming it
badcfg=$T_TMP/bad-key.ini
printf 'not a key\n' >"$T_TMP/bad.key"
awk -v c="$cert" -v k="$T_TMP/bad.key" '{ print } $0 == "[api]" { print "tls_cert = " c; print "tls_key = " k }' \
	"$SPOOL_API_CONFIG" >"$badcfg"
out=$(env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-api -n -f "$badcfg" 2>&1)
expect_eq "-n with a tls_key that is not PEM: exit 78" 78 "$?"
expect_match "-n with a tls_key that is not PEM: names it" "tls_key '.*bad.key' is not a PEM file" "$out"

goodcfg=$T_TMP/good.ini
awk -v c="$cert" -v k="$key" '{ print } $0 == "[api]" { print "tls_cert = " c; print "tls_key = " k }' \
	"$SPOOL_API_CONFIG" >"$goodcfg"
out=$(env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-api -n -f "$goodcfg" 2>&1)
expect_eq "-n with both keys: configuration OK" "0 configuration OK" "$? $out"

# under a watchdog: its pings follow GET /health through its own HTTPS listener
notify_start
API2_WRAP=(env NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=3000000)
API2_SCHEME=https
API2_CURL=(--cacert "$cert")
api2_start "tls_cert = $cert" "tls_key = $key"
for _ in $(seq 1 50); do [ "$(notify_count WATCHDOG=1)" -ge 2 ] && break; sleep 0.2; done
expect_eq "WATCHDOG=1 sent: the self-check gets through the HTTPS listener" yes \
	"$([ "$(notify_count WATCHDOG=1)" -ge 2 ] && echo yes || echo no)"

expect_status "https /health with --cacert: 200" 200 --cacert "$cert" "$API2_URL/health"
expect_status "https /v1/jobs with a key: 200" 200 --cacert "$cert" -H "Authorization: Bearer $SPOOL_API_KEY" \
	"$API2_URL/v1/jobs?limit=1"
# a client that does not trust the certificate gets no answer
if curl -sS -o /dev/null --max-time 5 "$API2_URL/health" 2>"$T_TMP/untrusted.err"; then
	fail "https without --cacert: refused (self-signed)"
else
	ok "https without --cacert: refused (self-signed)"
fi
# plain http to the TLS port is not served
http_url=http://${API2_URL#https://}
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$http_url/health" 2>/dev/null) || true
if [ "$code" = 200 ]; then
	fail "plain http to the TLS port: no HTTP answer" "got HTTP $code"
else
	ok "plain http to the TLS port: no HTTP answer (curl: ${code:-none})"
fi
expect_match "the log says https" "listening on .* \(https\)" \
	"$(grep "listening on" "$SPOOL_LOG_DIR/spool-api-$T_NAME.log" | tail -n 1)"

done_testing
