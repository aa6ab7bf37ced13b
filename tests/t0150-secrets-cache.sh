#!/usr/bin/env bash
# Secrets by ARN through the stand-in: cached, refetched after the TTL, and an
# expired value still used while Secrets Manager is unreachable (a daemon must not
# stop working because its cache ran out during an outage). A first fetch during
# the outage fails with a clear error.
. tests/lib.sh

cfg=$T_TMP/adminctl.ini
{ cat "$SPOOL_ADMINCTL_CONFIG"; printf '\n[secrets]\ncache_ttl = 1s\n'; } >"$cfg"
tool=bin/tools/secretget
[ -x "$tool" ] || bail "no $tool: run make"
at_exit 'scripts/stack.sh start aws >/dev/null 2>&1'

fifo=$T_TMP/in
mkfifo "$fifo"
"$tool" -f "$cfg" "$SPOOL_DB_SECRET_ARN" <"$fifo" >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
exec 3>"$fifo"

wait_lines() { # N: wait until the tool printed N lines
	for _ in $(seq 1 100); do
		[ "$(wc -l <"$T_TMP/out")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

wait_lines 1
first=$(sed -n 1p "$T_TMP/out")
expect_match "the secret resolves by ARN through the stand-in" '^ok [0-9a-f]{64}$' "$first"

scripts/stack.sh stop aws >/dev/null 2>&1 3>&-
sleep 1.5
echo again >&3
wait_lines 2
second=$(sed -n 2p "$T_TMP/out")
expect_eq "past its TTL with Secrets Manager down, the cached value is still served" "$first" "$second"
expect_match "and a warning says so (naming the ARN, not the value)" \
	"spool/db-.*using the cached value past its TTL" "$(cat "$T_TMP/err")"

cold=$("$tool" -f "$cfg" "$SPOOL_DB_SECRET_ARN" </dev/null 2>/dev/null)
expect_match "a first fetch while Secrets Manager is down fails, naming the secret" \
	"^error secret '$SPOOL_DB_SECRET_ARN'" "$cold"

scripts/stack.sh start aws >/dev/null 2>&1 3>&-
sleep 1.5
echo again >&3
wait_lines 3
third=$(sed -n 3p "$T_TMP/out")
expect_eq "back up: refetched after the TTL, same value" "$first" "$third"
exec 3>&-
wait "$pid"
expect_eq "secretget exits 0" 0 $?

pw=$(py "import boto3, botocore.config, os, json
c = $(boto3_client secretsmanager)
print(json.loads(c.get_secret_value(SecretId='$SPOOL_DB_SECRET_ARN')['SecretString'])['password'])")
if grep -qF -- "$pw" "$T_TMP/out" "$T_TMP/err"; then
	fail "the secret value never appears in output or logs"
else
	ok "the secret value never appears in output or logs"
fi

done_testing
