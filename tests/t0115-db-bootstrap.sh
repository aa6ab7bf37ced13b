#!/usr/bin/env bash
# adminctl db bootstrap on fresh databases: the schema, the daemons' roles with only
# their grants (no DDL), the first tenant's key in a Secrets Manager secret, the
# daemons' broker users (no tags, exactly their permissions; the API connects as its
# user; a changed password is set, no password printed); two at once
# are safe, a second run changes nothing, the key works against an API on that
# database. /ready answers 503 naming the schema while the database is behind the
# binary, 200 once bootstrapped, and 200 for a database ahead of it (a rolling deploy).
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh

ADM=${ADMINCTL:-bin/adminctl}
: "${SPOOL_PG_ADMIN_DSN:=$(sed -n 's/^SPOOL_PG_ADMIN_DSN=//p' "$T_ENV")}"
admin_psql() { psql -X -q -At "$SPOOL_PG_ADMIN_DSN" -c "$1"; }
pw=${SPOOL_PG_DSN#postgresql://spool:}
pw=${pw%%@*}
hostport=${SPOOL_PG_DSN#*@}
hostport=${hostport%%/*}
host=${hostport%:*}
port=${hostport#*:}

# roles are the cluster's: names of this test's own, dropped after the databases
api_role=t0115_api_$$
worker_role=t0115_worker_$$
api_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
worker_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
at_exit "psql -X -q '$SPOOL_PG_ADMIN_DSN' -c 'DROP ROLE IF EXISTS $api_role' -c 'DROP ROLE IF EXISTS $worker_role'"
# broker users are the broker's: names of this test's own, deleted at exit
mq_api_user=t0115_mq_api_$$
mq_worker_user=t0115_mq_worker_$$
mq_api_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mq_worker_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mq_admin=(-u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD")
for u in "$mq_api_user" "$mq_worker_user"; do
	at_exit "curl -sS -o /dev/null --max-time 10 -u '$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD' -X DELETE '$SPOOL_RABBITMQ_MGMT_URL/api/users/$u'"
done
amqp_hostport=${SPOOL_AMQP_URL#*@}
amqp_hostport=${amqp_hostport%%/*}
# mq_secret_file FILE USER PASSWORD: a broker secret in the shape of [rabbitmq] secret, as file:
mq_secret_file() {
	jq -cn --arg u "$2" --arg p "$3" --arg h "${amqp_hostport%:*}" --argjson port "${amqp_hostport##*:}" \
		'{username: $u, password: $p, host: $h, port: $port, vhost: "/"}' >"$1"
	chmod 600 "$1"
}
mq_secret_file "$T_TMP/mq-api.json" "$mq_api_user" "$mq_api_pw"
mq_secret_file "$T_TMP/mq-worker.json" "$mq_worker_user" "$mq_worker_pw"

# scratch_db NAME: a database owned by the stack's master user, dropped at exit
scratch_db() {
	admin_psql "CREATE DATABASE $1 OWNER spool" || bail "cannot create database $1"
	at_exit "psql -X -q '$SPOOL_PG_ADMIN_DSN' -c 'DROP DATABASE IF EXISTS $1 WITH (FORCE)'"
}
# secret_file FILE USER PASSWORD DB: a database secret in the RDS shape, as file:
secret_file() {
	jq -cn --arg u "$2" --arg p "$3" --arg h "$host" --argjson port "$port" --arg d "$4" \
		'{username: $u, password: $p, host: $h, port: $port, dbname: $d}' >"$1"
	chmod 600 "$1"
}
# adminctl_ini DB: adminctl.ini for the master user on DB, the daemons' secrets for their roles
adminctl_ini() {
	secret_file "$T_TMP/master-$1.json" spool "$pw" "$1"
	secret_file "$T_TMP/api-$1.json" "$api_role" "$api_pw" "$1"
	secret_file "$T_TMP/worker-$1.json" "$worker_role" "$worker_pw" "$1"
	awk -v m="file:$T_TMP/master-$1.json" -v a="file:$T_TMP/api-$1.json" -v w="file:$T_TMP/worker-$1.json" \
		-v ma="file:$T_TMP/mq-api.json" -v mw="file:$T_TMP/mq-worker.json" '
		/^\[/ { section = $0 }
		section == "[database]" && /^secret *=/ { print "secret = " m; next }
		section == "[database]" && /^api_role_secret *=/ { print "api_role_secret = " a; next }
		section == "[database]" && /^worker_role_secret *=/ { print "worker_role_secret = " w; next }
		section == "[rabbitmq]" && /^api_user_secret *=/ { print "api_user_secret = " ma; next }
		section == "[rabbitmq]" && /^worker_user_secret *=/ { print "worker_user_secret = " mw; next }
		{ print }' "$SPOOL_ADMINCTL_CONFIG" >"$T_TMP/adminctl-$1.ini"
	echo "$T_TMP/adminctl-$1.ini"
}
role_psql() { # ROLE PASSWORD DB SQL
	psql -X -q -At "postgresql://$1:$2@$hostport/$3?sslmode=disable" -c "$4" 2>&1
}

# the secret for the first key: made empty, as a deployment's template makes it
key_secret=$(py "import boto3, botocore.config, os
c = $(boto3_client secretsmanager)
print(c.create_secret(Name='spool/t0115-key-$$', Description='t0115')['ARN'])") || bail "cannot create the key secret"
at_exit "$T_PY -c \"import boto3, botocore.config, os
c = $(boto3_client secretsmanager)
c.delete_secret(SecretId='$key_secret', ForceDeleteWithoutRecovery=True)\""
secret_value() {
	py "import boto3, botocore.config, os
c = $(boto3_client secretsmanager)
try:
    print(c.get_secret_value(SecretId='$key_secret')['SecretString'])
except c.exceptions.ResourceNotFoundException:
    print('(none)')"
}
secret_versions() {
	py "import boto3, botocore.config, os
c = $(boto3_client secretsmanager)
print(sorted(c.describe_secret(SecretId='$key_secret')['VersionIdsToStages']))"
}

# ---- a fresh database, two bootstraps at once -------------------------------------
db=spool_t0115_$$
scratch_db "$db"
ini=$(adminctl_ini "$db")
B=("$ADM" -c "$ini" db bootstrap --tenant first --key-secret "$key_secret")
"${B[@]}" >"$T_TMP/b1" 2>&1 &
p1=$!
"${B[@]}" >"$T_TMP/b2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect_eq "two bootstraps at once both exit 0" "0 0" "$r1 $r2"
both=$(cat "$T_TMP/b1" "$T_TMP/b2")
latest=$("$ADM" -c "$ini" --json db status | jq -r .latest)
expect_eq "one of them migrated from version 0" 1 "$(grep -c "migrated schema from version 0 to $latest" <<<"$both")"
expect_eq "one of them created each role" "1 1" \
	"$(grep -c "role $api_role of spool-api: created" <<<"$both") $(grep -c "role $worker_role of spool-worker: created" <<<"$both")"
expect_eq "one of them made the first tenant" 1 "$(grep -c "first tenant 'first'" <<<"$both")"
expect_eq "the other found it" 1 "$(grep -c "tenants exist: no first key made" <<<"$both")"
dbq() { psql -X -q -At "postgresql://spool:$pw@$hostport/$db?sslmode=disable" -c "$1"; }
expect_eq "the schema is at the latest version" "$latest" "$(dbq 'SELECT max(version) FROM schema_version')"
expect_eq "one tenant, one key" "first 1" "$(dbq "SELECT string_agg(id, ',') || ' ' || (SELECT count(*) FROM api_keys) FROM tenants")"

key=$(secret_value)
expect_match "the key is in the secret" '^sk_[A-Za-z0-9_-]{32,}$' "$key"
if grep -qF -- "$key" <<<"$both"; then fail "the key is not printed" "$both"; else ok "the key is not printed"; fi

# ---- the broker users: created once, no tags, exactly the daemons' permissions -----------
expect_eq "one of them created each broker user" "1 1" \
	"$(grep -c "broker user $mq_api_user of spool-api: created, with its permissions" <<<"$both") $(grep -c "broker user $mq_worker_user of spool-worker: created, with its permissions" <<<"$both")"
expect_eq "the other found them right" "1 1" \
	"$(grep -c "broker user $mq_api_user of spool-api: present, password and permissions checked" <<<"$both") $(grep -c "broker user $mq_worker_user of spool-worker: present, password and permissions checked" <<<"$both")"
for pwv in "$mq_api_pw" "$mq_worker_pw"; do
	if grep -qF -- "$pwv" <<<"$both"; then fail "no broker password is printed" "$both"; else ok "no broker password is printed"; fi
done
# the permissions spool-api and spool-worker need (README, "The local stack"), literally
api_re='^spool\.(jobs(\.(high|low))?|dead|events|events\.api(\..+)?)$'
api_w='^(spool\.(jobs(\.(high|low))?|dead|events|events\.api(\..+)?)|amq\.default)$'
worker_re='^spool\.(jobs(\.(high|low))?|dead|events|events\.api|retry\.((high|low)\.)?[0-9]+)$'
worker_w='^(spool\.(jobs(\.(high|low))?|dead|events|events\.api|retry\.((high|low)\.)?[0-9]+)|amq\.default)$'
worker_r='^spool\.(jobs(\.(high|low))?|dead|events|retry\.((high|low)\.)?[0-9]+)$'
mq_perms() { # USER: "configure write read" on vhost /
	curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/permissions/%2F/$1" |
		jq -r '"\(.configure) \(.write) \(.read)"'
}
mq_tags() {
	curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/users/$1" |
		jq -r '.tags | if type == "array" then join(",") else . end'
}
expect_eq "spool-api's broker user has exactly its permissions" "$api_re $api_w $api_re" "$(mq_perms "$mq_api_user")"
expect_eq "spool-worker's broker user has exactly its permissions" "$worker_re $worker_w $worker_r" "$(mq_perms "$mq_worker_user")"
expect_eq "the broker users have no tags" "|" "$(mq_tags "$mq_api_user")|$(mq_tags "$mq_worker_user")"
expect_eq "the stack's daemons' users have the same permissions" \
	"$api_re $api_w $api_re|$worker_re $worker_w $worker_r" "$(mq_perms spool_api)|$(mq_perms spool_worker)"
expect_match "the output names the secret" "is in secret $key_secret" "$both"

# ---- the roles: login, nothing more, exactly their grants ------------------------------
expect_eq "the roles log in and may do nothing else" "$api_role t f f f
$worker_role t f f f" \
	"$(dbq "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname IN ('$api_role', '$worker_role') ORDER BY rolname" | tr '|' ' ')"
grants() { dbq "SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants WHERE grantee = '$1' GROUP BY table_name ORDER BY table_name" | tr '\n' ' '; }
expect_eq "spool-api's role: its tables and privileges" \
	"api_keys:SELECT,UPDATE job_events:INSERT job_tombstones:SELECT jobs:INSERT,SELECT,UPDATE limits:SELECT outbox:INSERT,SELECT,UPDATE schema_version:SELECT tenant_priorities:SELECT webhook_deliveries:INSERT,SELECT,UPDATE " \
	"$(grants "$api_role")"
expect_eq "spool-worker's role: its tables and privileges" \
	"job_events:DELETE,INSERT,SELECT job_tombstones:INSERT,SELECT,UPDATE jobs:DELETE,SELECT,UPDATE limits:SELECT outbox:INSERT,SELECT,UPDATE stats_turns:SELECT,UPDATE " "$(grants "$worker_role")"
for r in "$api_role:$api_pw" "$worker_role:$worker_pw"; do
	name=${r%%:*}
	rpw=${r#*:}
	expect_match "$name: CREATE TABLE is refused" "permission denied for schema public" \
		"$(role_psql "$name" "$rpw" "$db" 'CREATE TABLE t0115 (i int)')"
	expect_match "$name: DROP TABLE is refused" "must be owner of table jobs" \
		"$(role_psql "$name" "$rpw" "$db" 'DROP TABLE jobs')"
	# the worker deletes jobs (the retention sweep, once archived), never their tombstones
	dt=jobs
	[ "$name" = "$worker_role" ] && dt=job_tombstones
	expect_match "$name: DELETE FROM $dt is refused" "permission denied for table $dt" \
		"$(role_psql "$name" "$rpw" "$db" "DELETE FROM $dt")"
	expect_match "$name: TRUNCATE is refused" "permission denied for table outbox" \
		"$(role_psql "$name" "$rpw" "$db" 'TRUNCATE outbox')"
	expect_match "$name: ALTER TABLE is refused" "must be owner of table jobs" \
		"$(role_psql "$name" "$rpw" "$db" 'ALTER TABLE jobs ADD COLUMN x int')"
done
expect_match "spool-worker's role cannot read the key hashes" "permission denied for table api_keys" \
	"$(role_psql "$worker_role" "$worker_pw" "$db" 'SELECT hash FROM api_keys')"
expect_eq "spool-api's role inserts a job and its event (sequence usage)" "1" \
	"$(role_psql "$api_role" "$api_pw" "$db" "WITH j AS (INSERT INTO jobs (tenant_id, type) VALUES ('first', 'noop') RETURNING id)
		INSERT INTO job_events (job_id, event, status) SELECT id, 'queued', 'queued' FROM j RETURNING 1" | head -n1)"

# ---- a second run changes nothing -------------------------------------------------------
state() {
	dbq "SELECT string_agg(relname || '=' || coalesce(relacl::text, ''), ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
	admin_psql "SELECT string_agg(rolname || coalesce(rolpassword, ''), ' ' ORDER BY rolname) FROM pg_authid WHERE rolname IN ('$api_role', '$worker_role')"
	for u in "$mq_api_user" "$mq_worker_user"; do
		curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/users/$u" | jq -c '[.password_hash, .tags]'
		mq_perms "$u"
	done
	dbq "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM api_keys), (SELECT count(*) FROM audit), (SELECT count(*) FROM schema_version), (SELECT nspacl FROM pg_namespace WHERE nspname = 'public')"
	secret_versions
}
before=$(state)
out=$("${B[@]}" 2>&1); rc=$?
expect_eq "a second run exits 0" 0 "$rc"
expect_eq "a second run says nothing was to do" "schema is up to date at version $latest
role $api_role of spool-api: present, grants checked
role $worker_role of spool-worker: present, grants checked
tenants exist: no first key made
broker user $mq_api_user of spool-api: present, password and permissions checked
broker user $mq_worker_user of spool-worker: present, password and permissions checked" "$out"
expect_eq "a second run changed nothing (grants, passwords, broker users, tenants, keys, audit, the secret)" "$before" "$(state)"
expect_eq "the key in the secret is the same" "$key" "$(secret_value)"

# ---- the key works against an API on that database, connected as its own role -----------
awk -v s="file:$T_TMP/api-$db.json" '
	/^\[/ { section = $0 }
	section == "[database]" && /^secret *=/ { print "secret = " s; next }
	section == "[rabbitmq]" && /^secret *=/ { print "secret = file:'"$T_TMP"'/mq-api.json"; next }
	{ print }' "$SPOOL_API_CONFIG" >"$T_TMP/api-$db.ini"
SPOOL_API_CONFIG=$T_TMP/api-$db.ini api2_start
expect_status "the first key lists the tenant's jobs" 200 -H "Authorization: Bearer $key" "$API2_URL/v1/jobs"
expect_eq "it sees the job made as the API's role" 1 "$(jq '.jobs | length' <<<"$BODY")"
expect_status "another key is refused" 401 -H "Authorization: Bearer sk_${key:3:10}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$API2_URL/v1/jobs"
expect_eq "the API connects as its own role" "$api_role" \
	"$(dbq "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'spool-api'")"
conns=""
for ((i = 0; i < 30; i++)); do
	conns=$(curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/connections" |
		jq -r --arg u "$mq_api_user" '[.[] | select(.user == $u)] | length')
	[ "${conns:-0}" -gt 0 ] && break
	sleep 1
done
expect_match "the API connects to the broker as its own user" '^[1-9]' "$conns"
kill -TERM "$API2_PID" 2>/dev/null
wait "$API2_PID" 2>/dev/null

# ---- a new password in a daemon's broker secret is set; then nothing to do again --------
hash_before=$(curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/users/$mq_worker_user" | jq -r .password_hash)
mq_worker_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
mq_secret_file "$T_TMP/mq-worker.json" "$mq_worker_user" "$mq_worker_pw"
out=$("${B[@]}" 2>&1); rc=$?
expect_eq "a run after the password changed exits 0" 0 "$rc"
expect_match "it updates that user alone" "broker user $mq_api_user of spool-api: present.*broker user $mq_worker_user of spool-worker: updated" "$(tr '\n' ' ' <<<"$out")"
if grep -qF -- "$mq_worker_pw" <<<"$out"; then fail "the new password is not printed" "$out"; else ok "the new password is not printed"; fi
hash_after=$(curl -fsS --max-time 10 "${mq_admin[@]}" "$SPOOL_RABBITMQ_MGMT_URL/api/users/$mq_worker_user" | jq -r .password_hash)
if [ -n "$hash_after" ] && [ "$hash_after" != "$hash_before" ]; then ok "the stored password hash changed"; else fail "the stored password hash changed" "$hash_after"; fi
expect_match "the next run finds the new password in place" "broker user $mq_worker_user of spool-worker: present, password and permissions checked" \
	"$("${B[@]}" 2>&1)"

# ---- /ready and the schema: a database behind, then bootstrapped; one ahead -------------
db2=spool_t0115b_$$
scratch_db "$db2"
ini2=$(adminctl_ini "$db2")
awk -v s="file:$T_TMP/api-$db2.json" '
	/^\[/ { section = $0 }
	section == "[database]" && /^secret *=/ { print "secret = " s; next }
	{ print }' "$SPOOL_API_CONFIG" >"$T_TMP/api-$db2.ini"
log=$SPOOL_LOG_DIR/spool-api-$T_NAME.log
log_from=$(($(wc -l <"$log" 2>/dev/null || echo 0) + 1)) # the log is kept from earlier runs
SPOOL_API_CONFIG=$T_TMP/api-$db2.ini api2_start
wait_ready() { # STATUS SECONDS
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		[ "$(curl -s -o "$T_TMP/ready" -w '%{http_code}' --max-time 5 "$API2_URL/ready")" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
if wait_ready 503 20; then ok "an empty database: /ready is 503"; else fail "an empty database: /ready is 503" "$(cat "$T_TMP/ready")"; fi
expect_eq "the check named is the schema, behind; the others ok" "behind ok ok ok not_ready" \
	"$(jq -r '[.checks.schema, .checks.database, .checks.queue, .checks.storage, .status] | join(" ")' "$T_TMP/ready")"
expect_match "the message names the schema and the way out" \
	"not ready: schema behind \(the database is at version 0, this program needs $latest: run adminctl db bootstrap\)" \
	"$(jq -r .error.message "$T_TMP/ready")"

# the key already in the secret (this database has no tenant): recorded, not replaced
out=$("$ADM" -c "$ini2" db bootstrap --tenant first --key-secret "$key_secret" 2>&1); rc=$?
expect_eq "bootstrap of the second database exits 0" 0 "$rc"
expect_match "it keeps the key already in the secret" "first tenant 'first'.*\(the key already there\)" "$out"
expect_eq "the secret was not written" "$(secret_versions)" "$(sed -n '$p' <<<"$before")"
t0=$(date +%s)
if wait_ready 200 20; then ok "/ready is 200 within $(($(date +%s) - t0)) s of the bootstrap"; else fail "/ready is 200 after the bootstrap" "$(cat "$T_TMP/ready")"; fi
expect_eq "with the schema ok" "ok ready" "$(jq -r '[.checks.schema, .status] | join(" ")' "$T_TMP/ready")"
expect_status "the same key works on this database" 200 -H "Authorization: Bearer $key" "$API2_URL/v1/jobs"

# a newer release migrated the database: this binary keeps serving
psql -X -q "postgresql://spool:$pw@$hostport/$db2?sslmode=disable" \
	-c "INSERT INTO schema_version (version) VALUES ($((latest + 1)))" || bail "cannot add a version"
# /ready reads the version again within 5 s (its cache) and logs the newer schema once
for ((i = 0; i < 100; i++)); do
	tail -n +"$log_from" "$log" | grep -q "ready: schema: database schema version $((latest + 1)) is newer" && break
	curl -s -o /dev/null --max-time 5 "$API2_URL/ready"
	sleep 0.2
done
expect_match "the API read the newer version and said it serves on" "version $((latest + 1)) is newer.*serving meanwhile" \
	"$(tail -n +"$log_from" "$log" | grep "ready: schema:" | tail -n 1)"
expect_status "a database ahead of the binary: /ready stays 200" 200 "$API2_URL/ready"
expect_eq "with the schema ok" ok "$(jq -r .checks.schema <<<"$BODY")"

done_testing
