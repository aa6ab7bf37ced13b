#!/usr/bin/env bash
# adminctl config check: good configs pass, bad ones exit 78 naming file, line and key.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}

# --- good configs ------------------------------------------------------------------
out=$($ADM config check 2>&1); rc=$?
expect_eq "config check of the stack's adminctl.ini exits 0" 0 "$rc"
expect_eq "it prints configuration OK" "configuration OK" "$out"
for prog in api worker; do
	out=$($ADM config check "$SPOOL_RUN_DIR/$prog.ini" 2>&1); rc=$?
	expect_eq "config check .run/$prog.ini (program guessed from its sections)" "0 configuration OK" "$rc $out"
done
out=$($ADM -c "$SPOOL_ADMINCTL_CONFIG" --json config check | jq -r '"\(.ok) \(.program)"')
expect_eq "--json says ok and the program" "true adminctl" "$out"

# --- bad configs: every problem named, exit 78 ---------------------------------------
good=$T_TMP/good.ini
cp "$SPOOL_ADMINCTL_CONFIG" "$good"

# bad_config NAME: a copy of the good config with sed script $2 applied
bad_config() {
	sed -e "$2" "$good" >"$T_TMP/$1.ini"
	echo "$T_TMP/$1.ini"
}

# expect_config_error WHAT FILE REGEX
expect_config_error() {
	local out rc
	out=$($ADM config check "$2" 2>&1); rc=$?
	expect_eq "$1: exit 78" 78 "$rc"
	expect_match "$1: message names file, line and key" "$3" "$out"
}

f=$(bad_config unknown-key 's/^pool_size = .*/pool_sise = 4/')
line=$(grep -n '^pool_sise' "$f" | cut -d: -f1)
expect_config_error "unknown key" "$f" "config: '$f' line $line: unknown key 'pool_sise' in \[database\]"

f=$(bad_config bad-value 's/^pool_size = .*/pool_size = lots/')
line=$(grep -n '^pool_size' "$f" | cut -d: -f1)
expect_config_error "bad value" "$f" "config: '$f' line $line: key 'pool_size' in \[database\]: 'lots' is not a whole number"

f=$(bad_config out-of-range 's/^pool_size = .*/pool_size = 100000/')
expect_config_error "out of range" "$f" "key 'pool_size' in \[database\]: 100000 is out of range \[1, 256\]"

f=$(bad_config missing-required '/^bucket = /d')
expect_config_error "missing required key" "$f" "config: '$f': required key 'bucket' missing in \[s3\]"

f=$(bad_config unknown-section 's/^\[cloudwatch\]/[cloudwach]/')
line=$(grep -n '^enabled' "$f" | head -1 | cut -d: -f1)
expect_config_error "unknown section" "$f" "config: '$f' line $line: unknown section \[cloudwach\]"

f=$(bad_config bad-secret 's|^secret = arn:aws:secretsmanager:[^ ]*spool/db.*|secret = hunter2|')
expect_config_error "inline secret" "$f" "key 'secret' in \[database\]: not a secret reference"
out=$($ADM config check "$f" 2>&1)
if [[ $out == *hunter2* ]]; then fail "the inline secret value is not echoed" "$out"; else ok "the inline secret value is not echoed"; fi

f=$T_TMP/worker-key.ini
{ cat "$good"; printf '[worker]\nconcurrency = 2\n'; } >"$f"
expect_config_error "key for another program" "$f" "key 'concurrency' in \[worker\] does not apply to this program"
out=$($ADM config check --program worker "$SPOOL_RUN_DIR/adminctl.ini" 2>&1); rc=$?
expect_eq "--program worker on adminctl.ini: exit 78" 78 "$rc"
expect_match "--program worker on adminctl.ini: names [adminctl] user" "key 'user' in \[adminctl\] does not apply" "$out"

# several problems at once: all reported
f=$(bad_config many 's/^pool_size = .*/pool_size = lots/; s/^sslmode = .*/sslmod = disable/; /^bucket = /d')
out=$($ADM config check "$f" 2>&1); rc=$?
expect_eq "three problems: exit 78" 78 "$rc"
expect_eq "three problems: three lines" 3 "$(printf '%s\n' "$out" | grep -c "^config: '$f'")"

out=$($ADM config check "$T_TMP/absent.ini" 2>&1); rc=$?
expect_eq "missing file: exit 78" 78 "$rc"
expect_match "missing file: says so" "cannot open" "$out"

# other commands refuse a bad config the same way
out=$($ADM -c "$T_TMP/many.ini" keys list 2>&1); rc=$?
expect_eq "keys list with a bad config: exit 78" 78 "$rc"
out=$(SPOOL_ADMINCTL_CONFIG=$T_TMP/many.ini $ADM db status 2>&1); rc=$?
expect_eq "SPOOL_ADMINCTL_CONFIG names the default config" 78 "$rc"

# --- secrets are resolved ---------------------------------------------------------------
f=$(bad_config unresolvable 's|^secret = arn:aws:secretsmanager:[^ ]*spool/db.*|secret = file:/nonexistent/db.json|')
out=$($ADM config check "$f" 2>&1); rc=$?
expect_eq "unreadable secret: exit 69" 69 "$rc"
expect_match "unreadable secret: names the key" "database.secret" "$out"
printf '{"username":"u"}' >"$T_TMP/db.json"
f=$(bad_config bad-shape "s|^secret = arn:aws:secretsmanager:[^ ]*spool/db.*|secret = file:$T_TMP/db.json|")
out=$($ADM config check "$f" 2>&1); rc=$?
expect_eq "database secret without password: refused" 69 "$rc"

# --- usage ------------------------------------------------------------------------
$ADM config check a b >/dev/null 2>&1; rc=$?
expect_eq "two files: usage error 2" 2 "$rc"
$ADM --bogus version >/dev/null 2>&1; rc=$?
expect_eq "unknown global option: 2" 2 "$rc"
out=$($ADM version); rc=$?
expect_match "version" "^adminctl [0-9]" "$out"

done_testing
