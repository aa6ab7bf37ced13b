#!/usr/bin/env bash
# t0630 — adminctl's contexts and exports against the stack: one adminctl.ini with two
# contexts of the same stack (staging, and prod marked production); `contexts` lists
# them without secrets; -C, --context and SPOOL_CONTEXT choose the config the command
# runs with (its audit actor shows which); an unknown context exits 78 naming the known
# ones; in prod, keys revoke and a retry of several jobs are refused without the
# context's name and with a wrong one, done with the right one; in staging they need
# none. Then --csv and --jsonl of the listings parse with Python's csv and json, values
# whole (a long error with a line break, a name with a comma, quotes and a line break).
. "$(dirname "$0")/lib.sh"
. tests/data/failed-jobs.sh

ADM=${ADMINCTL:-bin/adminctl}
[ -x "$ADM" ] || bail "$ADM is not built"
curl -fsS --max-time 2 "$SPOOL_API_URL/health" >/dev/null 2>&1 || skip_all "spool-api is not running"
R=t0630-$$-$RANDOM
sql() { psql -X -At "$SPOOL_PG_DSN" -c "$1"; }

# ---- a config file with two contexts, each the stack's whole adminctl.ini ------------
CTX=$T_TMP/adminctl.ini
{
	echo "; shared by both contexts"
	echo "[context staging]"
	sed "s/^user = .*/user = staging-$R/" "$SPOOL_ADMINCTL_CONFIG"
	echo "[context prod]"
	echo "production = true"
	sed "s/^user = .*/user = prod-$R/" "$SPOOL_ADMINCTL_CONFIG"
} >"$CTX"
grep -q "^user = staging-$R" "$CTX" || bail "the stack's adminctl.ini has no [adminctl] user line"
A() { "$ADM" -f "$CTX" "$@"; }

out=$(A --jsonl contexts); rc=$?
expect_eq "contexts: exit 0" 0 "$rc"
expect_eq "contexts --jsonl: the two contexts, the first current, prod production" \
	"staging * no|prod - yes" \
	"$(py 'import json, sys
rows = [json.loads(l) for l in sys.stdin.read().splitlines()]
print("|".join("%s %s %s" % (r["name"], r["current"] or "-", r["production"]) for r in rows))' <<<"$out")"
pg_port=$(sed -n 's|.*@127.0.0.1:\([0-9]*\)/.*|\1|p' <<<"$SPOOL_PG_DSN")
expect_eq "contexts: the database of each (host:port/dbname from the secret)" \
	"127.0.0.1:$pg_port/spool 127.0.0.1:$pg_port/spool" \
	"$(py 'import json, sys
print(" ".join(json.loads(l)["database"] for l in sys.stdin.read().splitlines()))' <<<"$out")"
expect_eq "contexts: the management URL of each" "$SPOOL_RABBITMQ_MGMT_URL $SPOOL_RABBITMQ_MGMT_URL" \
	"$(py 'import json, sys
print(" ".join(json.loads(l)["management_url"] for l in sys.stdin.read().splitlines()))' <<<"$out")"
db_pw=$(sed -n 's|postgresql://[^:]*:\([^@]*\)@.*|\1|p' <<<"$SPOOL_PG_DSN")
if [ -n "$db_pw" ] && ! grep -qF -- "$db_pw" <<<"$(A contexts; A --json contexts)"; then
	ok "contexts shows no secret (the database password is nowhere in it)"
else
	fail "contexts shows no secret" "$(A contexts)"
fi
expect_eq "-C prod: prod is the current one" "prod" \
	"$(A -C prod --csv contexts | py 'import csv, sys
print(" ".join(r["NAME"] for r in csv.DictReader(sys.stdin) if r["CURRENT"] == "*"))')"
expect_eq "SPOOL_CONTEXT=prod: the same" "prod" \
	"$(SPOOL_CONTEXT=prod A --jsonl contexts | jq -r 'select(.current == "*") | .name')"
expect_eq "-C beats SPOOL_CONTEXT" "staging" \
	"$(SPOOL_CONTEXT=prod A --context staging --jsonl contexts | jq -r 'select(.current == "*") | .name')"

# the config each runs with: its [adminctl] user is the actor of what it does
kid_s=$(A -C staging --json keys create --tenant "$R" --name "staging key" | json_id)
kid_p=$(SPOOL_CONTEXT=prod A --json keys create --tenant "$R" --name "prod key" | json_id)
expect_eq "-C staging runs with staging's config, SPOOL_CONTEXT=prod with prod's (audit actors)" \
	"staging-$R prod-$R" \
	"$(sql "SELECT string_agg(actor, ' ' ORDER BY id) FROM audit WHERE action = 'keys.create' AND target IN ('$kid_s', '$kid_p')")"

out=$(A -C nope keys list 2>&1); rc=$?
expect_eq "an unknown context: exit 78 (configuration)" 78 "$rc"
expect_match "… saying which contexts there are" "no context 'nope' in '.*' \(it has: staging, prod" "$out"
out=$(SPOOL_CONTEXT=nope A keys list 2>&1); rc=$?
expect_eq "an unknown SPOOL_CONTEXT: exit 78 too" 78 "$rc"
printf '[context bad name]\n' >"$T_TMP/bad.ini"
out=$("$ADM" -f "$T_TMP/bad.ini" keys list 2>&1); rc=$?
expect_eq "a bad context name: exit 78, naming the line" "78 config: '$T_TMP/bad.ini' line 1: bad context name 'bad name'" \
	"$rc $(head -n 1 <<<"$out" | sed 's/ (1 to.*//')"
out=$(A config check 2>&1); rc=$?
expect_eq "config check checks each context" "0 context staging: configuration OK|context prod: configuration OK" \
	"$rc $(tr '\n' '|' <<<"$out" | sed 's/|$//')"

# ---- production: the context's name before a destructive action --------------------
active() { sql "SELECT count(*) FROM api_keys WHERE id = '$1' AND revoked_at IS NULL"; }
out=$(A -C prod keys revoke "$kid_p" 2>&1 </dev/null); rc=$?
expect_eq "prod, no terminal, no --confirm-context: keys revoke refused (exit 1)" 1 "$rc"
expect_match "… saying to give the name" "refused to revoke key $kid_p in the production context 'prod'.*--confirm-context prod" "$out"
expect_eq "… the key is still active" 1 "$(active "$kid_p")"
out=$(A -C prod --confirm-context staging keys revoke "$kid_p" 2>&1); rc=$?
expect_eq "prod, --confirm-context staging (a wrong name): refused" 1 "$rc"
expect_match "… saying so" "is not this context's name" "$out"
expect_eq "… the key is still active" 1 "$(active "$kid_p")"
# on a terminal it asks (script(1) gives it one; what is typed comes after the question)
if command -v script >/dev/null; then
	out=$( (sleep 1; printf 'staging\n') | script -qec "'$ADM' -f '$CTX' -C prod keys revoke '$kid_p'" /dev/null 2>&1); rc=$?
	expect_eq "prod on a terminal: asks for the name; a wrong one typed refuses" 1 "$rc"
	expect_match "… the question, then the refusal" "type its name to revoke key $kid_p: staging.*the name typed is not 'prod'" "$(tr -d '\r' <<<"$out" | tr '\n' ' ')"
	expect_eq "… the key is still active" 1 "$(active "$kid_p")"
	kid_t=$(A -C staging --json keys create --tenant "$R" --name "typed" | json_id)
	out=$( (sleep 1; printf 'prod\n') | script -qec "'$ADM' -f '$CTX' -C prod keys revoke '$kid_t'" /dev/null 2>&1); rc=$?
	expect_eq "prod on a terminal: the right name typed goes on" "0 0" "$rc $(active "$kid_t")"
fi
out=$(A -C prod keys revoke "$kid_p" --confirm-context prod 2>&1); rc=$?
expect_eq "prod, --confirm-context prod after the command: revoked" "0 revoked $kid_p" "$rc $out"
expect_eq "… the key is revoked" 0 "$(active "$kid_p")"
out=$(A -C staging --confirm-context prod keys revoke "$kid_s" 2>&1 </dev/null); rc=$?
expect_eq "staging with --confirm-context prod (meant for another context): refused" \
	"1 refused to revoke key $kid_s: --confirm-context 'prod' is not this context's name (this is the context 'staging')" \
	"$rc $(sed 's/^adminctl: //' <<<"$out")"
out=$(A -C staging keys revoke "$kid_s" 2>&1 </dev/null); rc=$?
expect_eq "staging (not production): revoked without a name" "0 revoked $kid_s" "$rc $out"

# failed jobs to retry: their error, long and with a marker at its end, set in the database
KEY=$(A -C staging keys create --tenant "$R" --name "jobs, \"quoted\" and
two lines" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key"
long="$R error, with \"quotes\", 'apostrophes', commas, a line
break and$(printf ' lorem ipsum %.0s' $(seq 1 300)) END-$R"
failed_jobs "$KEY" "$long"
expect_eq "three failed jobs of the test" 3 "$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$R' AND status = 'failed'")"
out=$(A -C prod job retry "${ids[0]}" "${ids[1]}" 2>&1 </dev/null); rc=$?
expect_eq "prod: a retry of two jobs without the name is refused" 1 "$rc"
expect_match "… saying what it would do" "refused to retry 2 jobs in the production context 'prod'" "$out"
expect_eq "… and nothing was retried" 3 "$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$R' AND status = 'failed'")"
out=$(A -C prod bulk retry --tenant "$R" --yes 2>&1 </dev/null); rc=$?
expect_eq "prod: a bulk retry without the name is refused, --yes or not" 1 "$rc"
expect_match "… saying which context" "production context 'prod'" "$out"
expect_eq "… and nothing was retried" 3 "$(sql "SELECT count(*) FROM jobs WHERE tenant_id = '$R' AND status = 'failed'")"

# ---- --csv and --jsonl of the listings ---------------------------------------------------
csv_rows() { # COLUMN VALUE: how many rows of the CSV on stdin have COLUMN = VALUE
	py 'import csv, sys
data = sys.stdin.buffer.read().decode()
rows = list(csv.DictReader(data.splitlines(keepends=True) and __import__("io").StringIO(data, newline="")))
print(sum(1 for r in rows if r[sys.argv[1]] == sys.argv[2]))' "$1" "$2"
}
out=$(A --csv jobs --status failed --limit 1000)
expect_eq "jobs --csv: the header" "ID,STATUS,TYPE,TENANT,ATT,CREATED,RUN AT,ERROR,PRIORITY" "$(head -n 1 <<<"$out" | tr -d '\r')"
expect_eq "jobs --csv: our three failed jobs (csv.DictReader)" 3 "$(csv_rows TENANT "$R" <<<"$out")"
expect_eq "jobs --csv: the error whole, quotes and commas kept" "internal: $long" \
	"$(py 'import csv, io, sys
rows = [r for r in csv.DictReader(io.StringIO(sys.stdin.read(), newline="")) if r["TENANT"] == sys.argv[1]]
print(rows[0]["ERROR"])' "$R" <<<"$out")"
out=$(A jobs --status failed --limit 1000 --jsonl)
expect_eq "jobs --jsonl (after the command): every line a JSON object, ours whole" "3 internal: $long" \
	"$(py 'import json, sys
rows = [json.loads(l) for l in sys.stdin.read().splitlines()]
ours = [r for r in rows if r["tenant"] == sys.argv[1]]
print(len(ours), ours[0]["error"])' "$R" <<<"$out")"
expect_eq "jobs --jsonl: the keys are the columns" "att created error id priority run_at status tenant type" \
	"$(head -n 1 <<<"$out" | jq -r 'keys | join(" ")')"
out=$(A --csv keys list)
expect_eq "keys list --csv: a name with a comma, quotes and a line break comes back whole" "jobs, \"quoted\" and
two lines" "$(py 'import csv, io, sys
rows = [r for r in csv.DictReader(io.StringIO(sys.stdin.read(), newline="")) if r["TENANT"] == sys.argv[1] and r["NAME"].startswith("jobs")]
sys.stdout.write(rows[0]["NAME"])' "$R" <<<"$out")"
expect_eq "keys list --csv: the revoked keys have REVOKED" "$(sql "SELECT count(*) FROM api_keys WHERE tenant_id = '$R' AND revoked_at IS NOT NULL")" \
	"$(py 'import csv, io, sys
print(sum(1 for r in csv.DictReader(io.StringIO(sys.stdin.read(), newline="")) if r["TENANT"] == sys.argv[1] and r["REVOKED"]))' "$R" <<<"$out")"
out=$(A --jsonl queues)
expect_eq "queues --jsonl: spool.jobs and spool.dead among the rows" "spool.dead spool.jobs" \
	"$(jq -r 'select(.queue == "spool.jobs" or .queue == "spool.dead") | .queue' <<<"$out" | sort | tr '\n' ' ' | sed 's/ $//')"
out=$(A --csv audit --limit 5)
expect_eq "audit --csv: five rows, the header of the table" "5 AT ACTOR ACTION TARGET COUNT DETAIL" \
	"$(py 'import csv, io, sys
r = list(csv.reader(io.StringIO(sys.stdin.read(), newline="")))
print(len(r) - 1, " ".join(r[0]))' <<<"$out")"
out=$(A --jsonl job show "${ids[0]}")
expect_eq "job show --jsonl: the history, one event a line" "queued started succeeded" \
	"$(jq -r .event <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "job show --json: the error whole" "$long" "$(A --json job show "${ids[0]}" | jq -r .job.error.message)"
expect_eq "job show --json: every field of the job" \
	"attempts callback_url cancel_requested created_at due_at error finished_at id idempotency_key lease_until max_attempts params priority progress result run_at source started_at status tenant type worker_id" \
	"$(A --json job show "${ids[0]}" | jq -r '.job | keys | join(" ")')"
printf 'a small object, with a comma\n' >"$T_TMP/obj.txt"
size=$(stat -c %s "$T_TMP/obj.txt")
up=$(curl -fsS --max-time 40 -H "Authorization: Bearer $KEY" -X POST -H 'Content-Type: application/json' \
	-d "{\"size\": $size}" "$SPOOL_API_URL/v1/uploads") || fail "POST /v1/uploads"
curl -fsS --max-time 40 -X PUT --upload-file "$T_TMP/obj.txt" "$(jq -r .url <<<"$up")" >/dev/null || fail "upload to S3"
okey=$(jq -r .key <<<"$up")
out=$(A results ls "${okey%/*}/" --csv)
expect_eq "results ls --csv: the object uploaded, its size" "$okey $size" \
	"$(py 'import csv, io, sys
rows = list(csv.DictReader(io.StringIO(sys.stdin.read(), newline="")))
print(" ".join(r["KEY"] + " " + r["SIZE"] for r in rows))' <<<"$out")"
out=$(A --csv dead list); rc=$?
expect_eq "dead list --csv: exit 0, a CSV header" "0 yes" "$rc $(head -n 1 <<<"$out" | grep -q ',' && echo yes)"
A -C staging limits set tenant "$R" --max-running 7 >/dev/null 2>&1 || fail "limits set tenant $R"
at_exit "'$ADM' -f '$CTX' limits set tenant '$R' --unlimited"
out=$(A --jsonl limits); rc=$?
expect_eq "limits --jsonl: exit 0, our tenant's limit in its row" "0 7 no" \
	"$rc $(jq -r --arg t "$R" 'select(.scope == "tenant" and .name == $t) | "\(.max_running) \(.paused)"' <<<"$out")"

sql "DELETE FROM jobs WHERE tenant_id = '$R'" >/dev/null
done_testing
