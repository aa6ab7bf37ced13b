#!/usr/bin/env bash
# adminctl db migrate / db status: idempotent, concurrent-safe, refuses a newer schema.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}

# --- the stack's database --------------------------------------------------------
check "db migrate on the stack" $ADM db migrate
out=$($ADM db migrate 2>&1); rc=$?
expect_eq "db migrate again: exit 0" 0 "$rc"
expect_match "db migrate again: nothing to do" "up to date" "$out"
out=$($ADM --json db status); rc=$?
expect_eq "db status: exit 0" 0 "$rc"
expect_eq "db status --json: current = latest" "true up to date" \
	"$(printf '%s' "$out" | jq -r '"\(.current == .latest) \(.state)"')"

# --- a scratch database: from empty, concurrency, a newer schema ------------------------
db=spool_t0110_$$
# stack.env may carry the admin DSN unquoted (its '&' then ends the assignment)
: "${SPOOL_PG_ADMIN_DSN:=$(sed -n 's/^SPOOL_PG_ADMIN_DSN=//p' "$T_ENV")}"
psql -X -q "$SPOOL_PG_ADMIN_DSN" -c "CREATE DATABASE $db OWNER spool" || bail "cannot create scratch database"
at_exit "psql -X -q '$SPOOL_PG_ADMIN_DSN' -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)'"
pw=${SPOOL_PG_DSN#postgresql://spool:}
pw=${pw%%@*}
hostport=${SPOOL_PG_DSN#*@}
hostport=${hostport%%/*}
printf '{"username":"spool","password":"%s","host":"%s","port":%s,"dbname":"%s"}' \
	"$pw" "${hostport%:*}" "${hostport#*:}" "$db" >"$T_TMP/db.json"
chmod 600 "$T_TMP/db.json"
sed "s|^secret = arn:aws:secretsmanager:[^ ]*spool/db.*|secret = file:$T_TMP/db.json|" \
	"$SPOOL_ADMINCTL_CONFIG" >"$T_TMP/adminctl.ini"
S="$ADM -c $T_TMP/adminctl.ini"
scratch_psql() { psql -X -q -At "postgresql://spool:$pw@$hostport/$db?sslmode=disable" -c "$1" 2>&1; }

out=$($S --json db status); rc=$?
expect_eq "empty database: db status exits 1 (pending)" 1 "$rc"
expect_eq "empty database: version 0, pending" "0 pending" "$(printf '%s' "$out" | jq -r '"\(.current) \(.state)"')"

# two at once: the advisory lock makes one apply and the other find it done
$S db migrate >"$T_TMP/m1" 2>&1 &
p1=$!
$S db migrate >"$T_TMP/m2" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
expect_eq "two concurrent migrations both succeed" "0 0" "$r1 $r2"
expect_eq "exactly one applied the migration" 1 "$(cat "$T_TMP/m1" "$T_TMP/m2" | grep -c 'migrated schema from version 0')"
latest=$($S --json db status | jq -r .latest)
expect_eq "schema_version has one row per migration" "$latest" "$(scratch_psql 'select count(*) from schema_version')"
tables=$(scratch_psql "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'public'")
expect_eq "the tables exist" "api_keys,audit,job_events,job_tombstones,jobs,limits,outbox,schema_version,selections,stats_turns,tenant_priorities,tenants,webhook_deliveries" "$tables"
expect_eq "gen_random_uuid makes job ids" 1 \
	"$(scratch_psql "insert into jobs (tenant_id, type) values ('t', 'noop') returning 1")"
out=$(scratch_psql "insert into jobs (tenant_id, type, status) values ('t', 'noop', 'bogus')")
expect_match "jobs.status is checked" "violates check constraint" "$out"
out=$(scratch_psql "insert into jobs (tenant_id, type, idempotency_key) values ('t', 'noop', 'k'), ('t', 'noop', 'k')")
expect_match "(tenant, idempotency_key) is unique" "duplicate key" "$out"
idx=$(scratch_psql "select count(*) from pg_indexes where indexname in ('jobs_tenant_created', 'jobs_status_lease', 'jobs_type_status', 'outbox_unsent')")
expect_eq "the job and outbox indexes exist" 4 "$idx"
expect_eq "jobs carry due_at and redriven_at, and the re-drive's index exists" "2 1" \
	"$(scratch_psql "select count(*) from information_schema.columns where table_name = 'jobs' and column_name in ('due_at', 'redriven_at')") $(scratch_psql "select count(*) from pg_indexes where indexname = 'jobs_unclaimed'")"

out=$($S db migrate 2>&1); rc=$?
expect_eq "migrate again: 0, up to date" "0 schema is up to date at version $latest" "$rc $out"

# a schema from the future
scratch_psql "insert into schema_version (version) values ($((latest + 1)))" >/dev/null
out=$($S db migrate 2>&1); rc=$?
expect_eq "newer schema: db migrate fails" 1 "$rc"
expect_match "newer schema: says so" "newer than this program knows" "$out"
out=$($S --json db status); rc=$?
expect_eq "newer schema: db status exits 1, state newer" "1 newer" "$rc $(printf '%s' "$out" | jq -r .state)"
expect_eq "nothing was changed" "$((latest + 1))" "$(scratch_psql 'select max(version) from schema_version')"

# --- the database is down -------------------------------------------------------------
sed "s|\"port\":[0-9]*|\"port\":1|" "$T_TMP/db.json" >"$T_TMP/db-down.json"
sed "s|db.json|db-down.json|" "$T_TMP/adminctl.ini" >"$T_TMP/down.ini"
out=$($ADM -c "$T_TMP/down.ini" db status 2>&1); rc=$?
expect_eq "unreachable database: exit 69" 69 "$rc"
expect_match "unreachable database: one line saying so" "^adminctl: database: cannot connect" "$out"
if [[ $out == *"$pw"* ]]; then fail "the password is not printed" "$out"; else ok "the password is not printed"; fi

done_testing
