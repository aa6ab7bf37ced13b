#!/usr/bin/env bash
# adminctl keys create / list / revoke: key format, stored as a keyed hash, audited.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}
tenant=t0120-$$
q() { psql -X -q -At "$SPOOL_PG_DSN" -c "$1" 2>&1; }

out=$($ADM keys create --tenant "$tenant" --name "ci key" 2>"$T_TMP/err"); rc=$?
expect_eq "keys create: exit 0" 0 "$rc"
key=$(printf '%s\n' "$out" | sed -n 1p)
id=$(printf '%s\n' "$out" | sed -n 2p)
expect_match "the key alone on the first line: sk_ + 43 URL-safe chars" '^sk_[A-Za-z0-9_-]{43}$' "$key"
expect_match "the id on the second line" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$id"
expect_eq "nothing else on stdout" 2 "$(printf '%s\n' "$out" | wc -l)"
key2=$($ADM keys create --tenant "$tenant" | head -1)
if [ "$key" != "$key2" ]; then ok "a second key differs"; else fail "a second key differs"; fi

# the database holds HMAC-SHA256(pepper, key), never the key
pepper=$(py "
import os, boto3, botocore.config
sm = $(boto3_client secretsmanager)
print(sm.get_secret_value(SecretId=os.environ['SPOOL_PEPPER_SECRET_ARN'])['SecretString'], end='')")
want=$(printf '%s' "$key" | openssl dgst -sha256 -hmac "$pepper" -r | cut -d' ' -f1)
got=$(q "select encode(hash, 'hex') from api_keys where id = '$id'")
expect_eq "stored hash = HMAC-SHA256(pepper, key)" "$want" "$got"
expect_eq "the key is nowhere in the database row" 0 \
	"$(q "select count(*) from api_keys where id = '$id' and (position('$key' in name || prefix || encode(hash, 'escape')) > 0)")"
expect_eq "the tenant row was created" 1 "$(q "select count(*) from tenants where id = '$tenant'")"

# list
json=$($ADM --json keys list)
entry=$(printf '%s' "$json" | jq -c --arg id "$id" '.keys[] | select(.id == $id)')
expect_eq "list --json: tenant, name, prefix, not revoked" "$tenant|ci key|${key:0:10}|null" \
	"$(printf '%s' "$entry" | jq -r '"\(.tenant)|\(.name)|\(.prefix)|\(.revoked_at)"')"
expect_eq "list --json: exactly these fields" "created_at,id,name,prefix,revoked_at,tenant" \
	"$(printf '%s' "$entry" | jq -r 'keys | join(",")')"
expect_match "list --json: created_at is RFC 3339 UTC" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' \
	"$(printf '%s' "$entry" | jq -r .created_at)"
table=$($ADM keys list)
expect_match "list: a table with a header" "^ID	TENANT	NAME	PREFIX	CREATED	REVOKED" "$table"
expect_match "list: the key's row" "$id	$tenant	ci key	${key:0:10}	" "$table"
if [[ "$json$table" == *"$key"* ]]; then fail "list never shows a whole key"; else ok "list never shows a whole key"; fi

# revoke
out=$($ADM keys revoke "$id"); rc=$?
expect_eq "revoke: exit 0" "0 revoked $id" "$rc $out"
expect_match "revoked_at is set" '^20' "$($ADM --json keys list | jq -r --arg id "$id" '.keys[] | select(.id == $id) | .revoked_at')"
$ADM keys revoke "$id" >/dev/null 2>&1; rc=$?
expect_eq "revoking again: exit 1" 1 "$rc"
out=$($ADM keys revoke 00000000-0000-0000-0000-000000000000 2>&1); rc=$?
expect_eq "revoking an unknown id: exit 1" 1 "$rc"
expect_match "revoking an unknown id: says so" "no active key" "$out"
$ADM keys revoke not-a-uuid >/dev/null 2>&1; rc=$?
expect_eq "revoking a malformed id: exit 1" 1 "$rc"

# audit trail
expect_eq "keys.create and keys.revoke are audited for the key" "keys.create,keys.revoke" \
	"$(q "select string_agg(action, ',' order by id) from audit where target = '$id'")"
expect_eq "the audit actor is adminctl.user" "local-stack" "$(q "select actor from audit where target = '$id' limit 1")"

# read-only and usage
n0=$(q "select count(*) from api_keys")
$ADM --read-only keys create --tenant "$tenant" >/dev/null 2>&1; rc=$?
expect_eq "--read-only keys create: exit 1" 1 "$rc"
expect_eq "--read-only: no key made" "$n0" "$(q "select count(*) from api_keys")"
$ADM keys create >/dev/null 2>&1; rc=$?
expect_eq "keys create without --tenant: usage 2" 2 "$rc"
$ADM keys create --tenant 'Bad Tenant' >/dev/null 2>&1; rc=$?
expect_eq "keys create with a bad tenant: usage 2" 2 "$rc"
$ADM keys revoke >/dev/null 2>&1; rc=$?
expect_eq "keys revoke without ID: usage 2" 2 "$rc"

# json create
out=$($ADM --json keys create --tenant "$tenant" --name j)
expect_match "create --json: key and id" '^sk_.{43} [0-9a-f-]{36} '"$tenant"'$' \
	"$(printf '%s' "$out" | jq -r '"\(.key) \(.id) \(.tenant)"')"

# the API accepts a fresh key and refuses a revoked one, when it is running
if curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1; then
	expect_status "the API accepts a new key" 200 -H "Authorization: Bearer $key2" "$SPOOL_API_URL/v1/jobs"
	expect_status "the API refuses a made-up key" 401 -H "Authorization: Bearer sk_${key2:3:20}xxxxxxxxxxxxxxxxxxxxxxx" "$SPOOL_API_URL/v1/jobs"
fi

done_testing
