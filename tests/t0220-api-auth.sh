#!/usr/bin/env bash
# t0220 — API keys: 401 with WWW-Authenticate, keys of other tenants, revocation
# taking effect within api.key_cache_ttl.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
JSON=(-H 'Content-Type: application/json')
ADM=("$T_ROOT/bin/adminctl" -c "$SPOOL_ADMINCTL_CONFIG")

unauth() { # WHAT CURL-ARGS...
	local what=$1
	shift
	expect_status "$what: 401" 401 -D "$T_TMP/h" "$@"
	expect_match "$what: WWW-Authenticate: Bearer" $'WWW-Authenticate: Bearer[^\r]*\r' "$(cat "$T_TMP/h")"
	expect_eq "$what: code" unauthorized "$(jq -r .error.code <<<"$BODY")"
}

unauth "no Authorization" "$U/v1/jobs"
unauth "Basic scheme" -H 'Authorization: Basic dXNlcjpwYXNz' "$U/v1/jobs"
unauth "malformed key" -H 'Authorization: Bearer nope' "$U/v1/jobs"
unauth "unknown key" -H "Authorization: Bearer sk_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" "$U/v1/jobs"
unauth "POST without a key" "${JSON[@]}" -d '{"type":"noop"}' "$U/v1/jobs"
unauth "uploads without a key" -X POST "$U/v1/uploads"
expect_status "the public endpoints need no key" 200 "$U/health"

# a second tenant
tenant="t0220-$RANDOM$RANDOM"
out=$("${ADM[@]}" keys create --tenant "$tenant" --name t0220 2>"$T_TMP/adm.err") ||
	bail "adminctl keys create failed: $(cat "$T_TMP/adm.err")"
key2=$(sed -n 1p <<<"$out")
kid2=$(sed -n 2p <<<"$out")
expect_match "adminctl printed a key" '^sk_[A-Za-z0-9_-]{32,}$' "$key2"
A1=(-H "Authorization: Bearer $SPOOL_API_KEY")
A2=(-H "Authorization: Bearer $key2")

expect_status "the new key works" 200 "${A2[@]}" "$U/v1/jobs"
expect_eq "a new tenant has no jobs" 0 "$(jq '.jobs|length' <<<"$BODY")"
expect_status "tenant 2 submits" 202 "${A2[@]}" "${JSON[@]}" -d '{"type":"noop"}' "$U/v1/jobs"
j2=$(json_id <<<"$BODY")
expect_status "tenant 1 submits" 202 "${A1[@]}" "${JSON[@]}" -d '{"type":"noop"}' "$U/v1/jobs"
j1=$(json_id <<<"$BODY")

expect_status "tenant 1 cannot see tenant 2's job" 404 "${A1[@]}" "$U/v1/jobs/$j2"
expect_eq "…it is just not found" not_found "$(jq -r .error.code <<<"$BODY")"
expect_status "nor cancel it" 404 "${A1[@]}" -X DELETE "$U/v1/jobs/$j2"
expect_status "nor fetch its result" 404 "${A1[@]}" "$U/v1/jobs/$j2/result"
expect_status "tenant 2 cannot see tenant 1's job" 404 "${A2[@]}" "$U/v1/jobs/$j1"
expect_status "tenant 2 lists" 200 "${A2[@]}" "$U/v1/jobs?limit=100"
expect_eq "only its own job" "$j2" "$(jq -r '.jobs[].id' <<<"$BODY" | paste -sd' ')"
expect_status "tenant 2 sees its job" 200 "${A2[@]}" "$U/v1/jobs/$j2"
expect_status "tenant 2 uploads" 201 "${A2[@]}" "${JSON[@]}" -d '{"size":1024}' -X POST "$U/v1/uploads"
expect_match "under its own prefix" "^uploads/$tenant/" "$(jq -r .key <<<"$BODY")"
expect_status "tenant 1 may not use tenant 2's upload key" 422 "${A1[@]}" "${JSON[@]}" \
	-d "{\"type\":\"media.probe\",\"source\":{\"key\":\"uploads/$tenant/x.mp4\"}}" "$U/v1/jobs"

# revocation: within key_cache_ttl (default 30 s) the key stops working
ttl=$(sed -n 's/^key_cache_ttl *= *\([0-9]*\).*/\1/p' "$SPOOL_API_CONFIG" | head -n1)
ttl=${ttl:-30}
check "adminctl keys revoke" "${ADM[@]}" keys revoke "$kid2"
t0=$(date +%s)
st=200
while [ $(($(date +%s) - t0)) -le $((ttl + 5)) ]; do
	st=$(curl -s -o /dev/null -w '%{http_code}' "${A2[@]}" "$U/v1/jobs")
	[ "$st" = 401 ] && break
	sleep 1
done
expect_eq "the revoked key is refused within key_cache_ttl ($ttl s; took $(($(date +%s) - t0)) s)" 401 "$st"
expect_status "the other key still works" 200 "${A1[@]}" "$U/v1/jobs?limit=1"

done_testing
