#!/usr/bin/env bash
# t1120 — secrets stay secret, against someone who gets a foothold next to the daemons.
#  - no core dumps, memory closed to the user's other processes: spool-api,
#    spool-worker and adminctl make themselves not dumpable with a core limit of 0.
#    Observable as root: the files of /proc/PID belong to the process's effective
#    uid:gid while it is dumpable and to root:root once it is not, so each runs with
#    another gid;
#  - ffprobe (and ffmpeg) get an environment of their own: none of the worker's
#    AWS_* or SPOOL_* variables reach them;
#  - an empty or short API-key pepper is refused (exit 78, naming the secret, never
#    showing it) by spool-api (start and -n) and by adminctl;
#  - with sslmode = verify-full and sslrootcert, a database server whose certificate
#    another CA signed (a man in the middle), or that is reached under another name,
#    is refused; sslmode = require would have talked to it.
# After each attack another tenant's traffic (health, a noop job) is served as usual.
. "$(dirname "$0")/lib.sh"
. tests/bystander.sh
. tests/data/second-api.sh

command -v setpriv >/dev/null || skip_all "setpriv is not installed"
command -v ffprobe >/dev/null || skip_all "ffprobe is not installed"
[ "$(id -u)" -eq 0 ] || skip_all "needs root: the dumpable state is read from the owner of /proc/PID"
U=$SPOOL_API_URL
JSON=(-H 'Content-Type: application/json')
NOGROUP=65534
AS_NOGROUP=(setpriv --regid="$NOGROUP" --clear-groups)
bystander_init
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "prober-$T_NAME" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key"
AUTH=(-H "Authorization: Bearer $KEY")

# dumpable PID: "yes" when /proc/PID/status is the process's (gid NOGROUP), "no" when root's
dumpable() {
	local g
	g=$(stat -c %g "/proc/$1/status" 2>/dev/null) || { echo "gone"; return; }
	case $g in "$NOGROUP") echo yes ;; 0) echo no ;; *) echo "gid $g?" ;; esac
}
core_limit() { awk '/^Max core file size/ { print $5 " " $6 }' "/proc/$1/limits" 2>/dev/null; }

# --- the observable: a process of that gid is dumpable ------------------------------
"${AS_NOGROUP[@]}" sleep 60 &
ctl=$!
at_exit "kill $ctl"
sleep 0.2
expect_eq "control: an ordinary process run the same way is dumpable" yes "$(dumpable $ctl)"
kill $ctl

# --- spool-api ----------------------------------------------------------------------
API2_WRAP=("${AS_NOGROUP[@]}")
api2_start
expect_eq "spool-api is not dumpable" no "$(dumpable "$API2_PID")"
expect_eq "its core file size limit is 0" "0 0" "$(core_limit "$API2_PID")"
expect_status "and it serves (GET /health)" 200 "$API2_URL/health"
bystander_ok "spool-api not dumpable"

# --- adminctl (the TUI stays up long enough to be looked at) ------------------------
if command -v tmux >/dev/null; then
	TM=(tmux -L "spool-$T_NAME-$$")
	at_exit "${TM[*]} kill-server"
	"${TM[@]}" new-session -d -x 100 -y 30 "exec ${AS_NOGROUP[*]} bin/adminctl -f $SPOOL_ADMINCTL_CONFIG"
	sleep 1
	apid=$("${TM[@]}" list-panes -F '#{pane_pid}' 2>/dev/null | head -n 1)
	expect_match "adminctl runs (its TUI)" "adminctl" "$(cat "/proc/$apid/cmdline" 2>/dev/null | tr '\0' ' ')"
	expect_eq "adminctl is not dumpable" no "$(dumpable "$apid")"
	expect_eq "its core file size limit is 0" "0 0" "$(core_limit "$apid")"
	"${TM[@]}" kill-server
else
	ok "# SKIP adminctl: tmux is not installed"
fi

# --- spool-worker, and the environment of its children -----------------------------
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
cat >"$T_TMP/ffprobe" <<EOF
#!/bin/sh
env >"$T_TMP/ffprobe.env.\$\$"
exec ffprobe "\$@"
EOF
chmod 755 "$T_TMP/ffprobe"
cfg=$T_TMP/worker.ini
awk -v probe="$T_TMP/ffprobe" '{ print } $0 == "[worker]" { print "ffprobe = " probe }' "$SPOOL_WORKER_CONFIG" >"$cfg"
wlog=$SPOOL_LOG_DIR/spool-worker-$T_NAME.log
# the worker's environment holds the AWS credentials of the stand-in (stack.env), plus a canary
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null SPOOL_CANARY=do-not-pass-on \
	"${AS_NOGROUP[@]}" bin/spool-worker -c "$cfg" >>"$wlog" 2>&1 </dev/null &
WPID=$!
at_exit "kill -TERM $WPID; sleep 1"
sleep 1
kill -0 "$WPID" 2>/dev/null || bail "spool-worker did not start: $(tail -n 5 "$wlog")"
expect_eq "spool-worker is not dumpable" no "$(dumpable "$WPID")"
expect_eq "its core file size limit is 0" "0 0" "$(core_limit "$WPID")"
expect_match "its own environment holds the AWS secret key and the canary" "AWS_SECRET_ACCESS_KEY=.*SPOOL_CANARY=" \
	"$(tr '\0' '\n' <"/proc/$WPID/environ" | grep -E '^(AWS_SECRET_ACCESS_KEY|SPOOL_CANARY)=' | sort | paste -sd' ')"

ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=size=64x64:rate=5:duration=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/clip.mp4" || bail "ffmpeg cannot make a clip"
up=$(curl -fsS --max-time 30 "${AUTH[@]}" "${JSON[@]}" -d "{\"size\": $(stat -c %s "$T_TMP/clip.mp4")}" \
	"$U/v1/uploads") || bail "POST /v1/uploads failed"
curl -fsS --max-time 30 -o /dev/null -T "$T_TMP/clip.mp4" "$(jq -r .url <<<"$up")" || bail "upload failed"
id=$(curl -fsS --max-time 30 "${AUTH[@]}" "${JSON[@]}" \
	-d "$(jq -cn --arg k "$(jq -r .key <<<"$up")" '{type: "media.probe", source: {key: $k}}')" "$U/v1/jobs" |
	json_id)
st=
for _ in 1 2 3; do
	st=$(curl -fsS --max-time 30 "${AUTH[@]}" "$U/v1/jobs/$id?wait=10" | jq -r .status)
	[[ $st =~ ^(succeeded|failed)$ ]] && break
done
expect_eq "a media.probe job runs through the ffprobe wrapper" succeeded "$st"
envs=$(cat "$T_TMP"/ffprobe.env.* 2>/dev/null)
[ -n "$envs" ] || fail "ffprobe recorded its environment" "no $T_TMP/ffprobe.env.*"
leaked=$(grep -E '^(AWS_|SPOOL_)' <<<"$envs" | cut -d= -f1 | sort -u | paste -sd' ')
expect_eq "ffprobe's environment has no AWS_ or SPOOL_ variable" "" "$leaked"
expect_match "its PATH is the fixed one, LC_ALL=C" "PATH=/usr/local/bin:/usr/bin:/bin.*LC_ALL=C|LC_ALL=C.*PATH=/usr/local/bin:/usr/bin:/bin" \
	"$(paste -sd' ' <<<"$envs")"
bystander_ok "spool-worker not dumpable, children without its environment"

# --- the pepper ---------------------------------------------------------------------
pepper_cfg() { # PROGRAM-INI OUT: a copy whose pepper_secret is file:$T_TMP/pepper
	awk -v ref="file:$T_TMP/pepper" '/^pepper_secret *=/ { print "pepper_secret = " ref; next } { print }' "$1" >"$2"
}
pepper_cfg "$SPOOL_API_CONFIG" "$T_TMP/api.ini"
sed -i "s/^port *=.*/port = $(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')/" \
	"$T_TMP/api.ini"
pepper_cfg "$SPOOL_ADMINCTL_CONFIG" "$T_TMP/adminctl.ini"
grep -q "^pepper_secret = file:" "$T_TMP/api.ini" "$T_TMP/adminctl.ini" || bail "no pepper_secret in the stack's configs"
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
keys_of() { sql -c "SELECT count(*) FROM api_keys WHERE tenant_id = '$1'"; }

for short in "" "0123456789abcdef0123456789abcde"; do
	printf '%s' "$short" >"$T_TMP/pepper"
	what="a pepper of ${#short} bytes"
	out=$(timeout 30 env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		bin/spool-api -c "$T_TMP/api.ini" 2>&1 </dev/null)
	rc=$?
	expect_eq "$what: spool-api refuses to start, exit 78" 78 "$rc"
	expect_match "$what: saying why and naming the secret" \
		"api.pepper_secret 'file:$T_TMP/pepper': the pepper is ${#short} bytes, shorter than the minimum of 32" "$out"
	out=$(bin/spool-api -n -c "$T_TMP/api.ini" 2>&1)
	expect_eq "$what: spool-api -n, exit 78" 78 "$?"
	out=$(bin/adminctl -f "$T_TMP/adminctl.ini" keys create --tenant "short-$T_NAME" 2>&1)
	rc=$?
	expect_eq "$what: adminctl keys create, exit 78" 78 "$rc"
	expect_match "$what: with the reason" "shorter than the minimum of 32" "$out"
	out=$(bin/adminctl -f "$T_TMP/adminctl.ini" keys webhook-secret --tenant "short-$T_NAME" 2>/dev/null)
	expect_eq "$what: adminctl keys webhook-secret, exit 78, nothing printed" "78 " "$? $out"
	out=$(bin/adminctl -f "$T_TMP/adminctl.ini" config check 2>&1)
	expect_eq "$what: adminctl config check, exit 78" 78 "$?"
done
expect_eq "no key was made with a short pepper" 0 "$(keys_of "short-$T_NAME")"
printf '%s' "0123456789abcdef0123456789abcdef" >"$T_TMP/pepper"
out=$(bin/spool-api -n -c "$T_TMP/api.ini" 2>&1)
expect_eq "32 bytes are enough: spool-api -n" "0 configuration OK" "$? $out"
bystander_ok "short peppers"

# --- the database: verify-full against sslrootcert ----------------------------------
PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PGBIN/initdb" ] || ! id postgres >/dev/null 2>&1; then
	ok "# SKIP database TLS: no PostgreSQL 15 server here"
	done_testing
fi
pg=$(mktemp -d "/tmp/spool-$T_NAME-pg.XXXXXX")
at_exit "rm -rf '$pg'"
chmod 755 "$pg"
ca() { # NAME: a CA key and certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$pg/$1.key" -out "$pg/$1.pem" 2>/dev/null
}
ca spool-test-ca && ca other-ca || bail "openssl cannot make the CAs"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
	-keyout "$pg/server.key" -out "$pg/server.csr" 2>/dev/null &&
	openssl x509 -req -in "$pg/server.csr" -CA "$pg/spool-test-ca.pem" -CAkey "$pg/spool-test-ca.key" \
		-CAcreateserial -days 2 -extfile <(printf 'subjectAltName=DNS:localhost\n') -out "$pg/server.crt" 2>/dev/null ||
	bail "openssl cannot make the server certificate"
chown postgres "$pg" "$pg/server.key" "$pg/server.crt" && chmod 600 "$pg/server.key"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth=trust --no-sync >"$pg/initdb.log" 2>&1 ||
	bail "initdb failed: $(tail -n 5 "$pg/initdb.log")"
pgport=$(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 30 \
	-o "-c port=$pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pg -c ssl=on -c ssl_cert_file=$pg/server.crt -c ssl_key_file=$pg/server.key" \
	start >/dev/null || bail "the TLS postgres did not start: $(tail -n 5 "$pg/postgres.log")"
at_exit "runuser -u postgres -- $PGBIN/pg_ctl -D '$pg/data' -m immediate -w stop"

db_cfg() { # HOST SSLMODE SSLROOTCERT: an adminctl.ini for the TLS server into $T_TMP/db.ini
	printf '{"username": "postgres", "password": "unused", "host": "%s", "port": %s, "dbname": "postgres"}' \
		"$1" "$pgport" >"$T_TMP/db-$1.json"
	awk -v ref="file:$T_TMP/db-$1.json" -v mode="$2" -v ca="$3" '
		/^\[/ { section = $0 }
		section == "[database]" && /^(secret|sslmode|sslrootcert) *=/ { next }
		{ print }
		$0 == "[database]" { print "secret = " ref; print "sslmode = " mode; if (ca != "") print "sslrootcert = " ca }' \
		"$SPOOL_ADMINCTL_CONFIG" >"$T_TMP/db.ini"
}
db_status() { bin/adminctl -f "$T_TMP/db.ini" --json db status 2>&1; }

db_cfg localhost verify-full "$pg/spool-test-ca.pem"
expect_match "verify-full, the server's CA in sslrootcert: connected" '"current": *0' "$(db_status)"
db_cfg localhost verify-full "$pg/other-ca.pem"
out=$(db_status)
expect_eq "a certificate of another CA (a man in the middle): refused, exit 69" 69 "$?"
expect_match "certificate verify failed" "certificate verify failed" "$out"
db_cfg 127.0.0.1 verify-full "$pg/spool-test-ca.pem"
out=$(db_status)
expect_eq "the right CA but another host name: refused, exit 69" 69 "$?"
expect_match "naming the mismatch" 'does not match host name "127.0.0.1"' "$out"
db_cfg localhost verify-full "$pg/no-such-bundle.pem"
out=$(db_status)
expect_eq "sslrootcert missing: refused, exit 69" 69 "$?"
expect_match "naming the file" "no-such-bundle.pem" "$out"
db_cfg localhost require ""
expect_match "(sslmode = require, no sslrootcert, would have trusted the man in the middle)" '"current": *0' \
	"$(db_status)"
bystander_ok "database TLS"

done_testing
