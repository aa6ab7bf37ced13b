#!/usr/bin/env bash
# t1110 — sizes are enforced at every door, by a tenant who tries to get past them.
#  - POST /v1/uploads: the size is declared and checked against [api] max_upload;
#    the presigned PUT signs Content-Length, so a PUT of another length is refused
#    (403) and nothing is stored; so is a chunked PUT, a tampered signed-header list,
#    and a body cut short.
#  - the worker reads a source's size (HEAD) before it downloads: over [worker]
#    max_source_size the job fails for good (source_too_large) and nothing is
#    downloaded; without tmpdir_reserve to spare beyond the source it fails as
#    transient (no_space); a download stops at the size HEAD gave.
# After each attack another tenant's traffic (health, a noop job) is served as usual.
# The stack's worker is replaced for the test by one with max_source_size = 64K and
# its tmpdir on its own file system when possible (the stack's is started again at exit).
. "$(dirname "$0")/lib.sh"
. tests/bystander.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
U=$SPOOL_API_URL
JSON=(-H 'Content-Type: application/json')
STANDIN_LOG=$SPOOL_LOG_DIR/aws-standin.log
LIMIT=65536

ATTACKER=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "attacker-$T_NAME" 2>/dev/null | head -n 1)
[ -n "$ATTACKER" ] || bail "cannot create the attacker's API key"
AUTH=(-H "Authorization: Bearer $ATTACKER")
bystander_init

# s3 CMD ARGS...: the S3 client of libspool with the worker's credentials
s3() { bin/tools/s3tool -f "$SPOOL_WORKER_CONFIG" "$@"; }
# stored KEY: "missing" or the object's size
stored() {
	local o
	if o=$(s3 head "$1" 2>/dev/null); then jq -r .size <<<"$o"; else echo missing; fi
}
# ask N: POST /v1/uploads for N bytes; sets UKEY and UURL
ask() {
	expect_status "POST /v1/uploads for $1 bytes: 201" 201 "${AUTH[@]}" "${JSON[@]}" -d "{\"size\": $1}" \
		"$U/v1/uploads"
	UKEY=$(jq -r .key <<<"$BODY")
	UURL=$(jq -r .url <<<"$BODY")
}
# put FILE [CURL-ARGS]: PUT FILE to UURL; prints the status
put() {
	local f=$1
	shift
	curl -sS -o "$T_TMP/put.out" -w '%{http_code}' --max-time 30 "$@" -T "$f" "$UURL" 2>/dev/null || echo 000
}

head -c 1000 /dev/urandom >"$T_TMP/1000"
head -c 1001 /dev/urandom >"$T_TMP/1001"
head -c 999 /dev/urandom >"$T_TMP/999"

# --- the declared size -------------------------------------------------------------
max=$(awk -F' *= *' '$1 == "max_upload" { v = $2 } END { print v }' "$SPOOL_API_CONFIG")
[ -z "$max" ] || bail "the stack's api.ini sets max_upload: this test expects the default"
expect_status "a declared size over max_upload (512M): 413" 413 "${AUTH[@]}" "${JSON[@]}" \
	-d '{"size": 536870913}' "$U/v1/uploads"
expect_eq "too_large" too_large "$(jq -r .error.code <<<"$BODY")"
expect_match "naming the limit" "over the limit of 536870912 bytes" "$(jq -r .error.message <<<"$BODY")"
expect_status "exactly max_upload is allowed" 201 "${AUTH[@]}" "${JSON[@]}" -d '{"size": 536870912}' "$U/v1/uploads"
expect_status "no size: 422" 422 "${AUTH[@]}" -X POST "$U/v1/uploads"
expect_eq "the field is named" "invalid size" "$(jq -r '"\(.error.code) \(.error.field)"' <<<"$BODY")"
for bad in 0 -1 '"1000"' 1.5 null true; do
	expect_status "size $bad: 422" 422 "${AUTH[@]}" "${JSON[@]}" -d "{\"size\": $bad}" "$U/v1/uploads"
done
expect_status "size 2^64: 400 (not a JSON integer we read)" 400 "${AUTH[@]}" "${JSON[@]}" \
	-d '{"size": 18446744073709551616}' "$U/v1/uploads"
expect_status "not JSON: 400" 400 "${AUTH[@]}" "${JSON[@]}" -d 'size=1000' "$U/v1/uploads"
bystander_ok "declared sizes"

# --- the presigned PUT: exactly the declared length or nothing ----------------------
ask 1000
expect_eq "the answer names the size and the Content-Length to send" "1000 1000" \
	"$(jq -r '"\(.size) \(.headers["Content-Length"])"' <<<"$BODY")"
expect_eq "a PUT of 1001 bytes to a 1000-byte URL: 403" 403 "$(put "$T_TMP/1001")"
expect_match "SignatureDoesNotMatch" "<Code>SignatureDoesNotMatch</Code>" "$(cat "$T_TMP/put.out")"
expect_eq "a PUT of 999 bytes: 403" 403 "$(put "$T_TMP/999")"
expect_eq "a chunked PUT (no Content-Length): 403" 403 "$(put - -H 'Transfer-Encoding: chunked' <"$T_TMP/1001")"
tampered=$(sed 's/X-Amz-SignedHeaders=content-length%3Bhost/X-Amz-SignedHeaders=host/' <<<"$UURL")
expect_eq "content-length struck from X-Amz-SignedHeaders: 403" 403 \
	"$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 -T "$T_TMP/1001" "$tampered")"
# the declared length, but the client stops after 999 bytes and goes away
py '
import socket, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port))
s.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n" % (u.path, u.query, u.netloc)).encode() + b"x" * 999)
time.sleep(0.5)
s.close()
' "$UURL"
sleep 0.5
expect_eq "after all that, nothing is stored" missing "$(stored "$UKEY")"
bystander_ok "PUTs of other lengths"
expect_eq "the declared 1000 bytes: 200" 200 "$(put "$T_TMP/1000")"
expect_eq "stored, 1000 bytes" 1000 "$(stored "$UKEY")"
expect_eq "the URL cannot replace it with another length" 403 "$(put "$T_TMP/1001")"
expect_eq "still the 1000 bytes" 1000 "$(stored "$UKEY")"

# --- the worker: our own, with max_source_size = 64K --------------------------------
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
tmpdir=$(mktemp -d /dev/shm/spool-$T_NAME.XXXXXX 2>/dev/null || mktemp -d "$T_TMP/worker-tmp.XXXXXX")
at_exit "rm -rf '$tmpdir'"
cfg=$T_TMP/worker.ini
awk -v dir="$tmpdir" -v max="$LIMIT" '
	/^\[/ { section = $0 }
	section == "[worker]" && /^tmpdir *=/ { next }
	{ print }
	$0 == "[worker]" { print "tmpdir = " dir; print "max_source_size = " max }' "$SPOOL_WORKER_CONFIG" >"$cfg"
wlog=$SPOOL_LOG_DIR/spool-worker-$T_NAME.log
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
	bin/spool-worker -c "$cfg" >>"$wlog" 2>&1 </dev/null &
WPID=$!
at_exit "kill -TERM $WPID; sleep 1"
sleep 1
kill -0 "$WPID" 2>/dev/null || bail "spool-worker did not start: $(tail -n 5 "$wlog")"

# upload FILE: through POST /v1/uploads with its size; prints the key
upload() {
	local up
	up=$(curl -fsS --max-time 30 "${AUTH[@]}" "${JSON[@]}" -d "{\"size\": $(stat -c %s "$1")}" "$U/v1/uploads") ||
		return 1
	curl -fsS --max-time 30 -o /dev/null -T "$1" "$(jq -r .url <<<"$up")" || return 1
	jq -r .key <<<"$up"
}
# probe KEY: submit a media.probe of KEY; prints the job id
probe() {
	curl -fsS --max-time 30 "${AUTH[@]}" "${JSON[@]}" \
		-d "$(jq -cn --arg k "$1" '{type: "media.probe", source: {key: $k}}')" "$U/v1/jobs" | json_id
}
# settle ID STATUS...: wait (30 s at most) for one of the statuses; the job JSON in $BODY
settle() {
	local id=$1 i st
	shift
	for i in $(seq 1 60); do
		BODY=$(curl -fsS --max-time 30 "${AUTH[@]}" "$U/v1/jobs/$id?wait=1" 2>/dev/null)
		st=$(jq -r .status <<<"$BODY" 2>/dev/null)
		for want in "$@"; do [ "$st" = "$want" ] && return 0; done
		sleep 0.2
	done
	return 1
}

ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=size=64x64:rate=5:duration=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T_TMP/small.mp4" || bail "ffmpeg cannot make a clip"
[ "$(stat -c %s "$T_TMP/small.mp4")" -lt $LIMIT ] || bail "the small clip is not under 64K"
key=$(upload "$T_TMP/small.mp4") || bail "cannot upload the small clip"
id=$(probe "$key")
settle "$id" succeeded failed
expect_eq "a source under the limit is probed as usual" succeeded "$(jq -r .status <<<"$BODY")"

head -c $((LIMIT + 1)) /dev/urandom >"$T_TMP/big"
big=$(upload "$T_TMP/big") || bail "cannot upload the large source"
mark=$(wc -l <"$STANDIN_LOG")
id=$(probe "$big")
settle "$id" failed succeeded retrying
expect_eq "a source of 64K + 1 bytes: failed for good at the first attempt" "failed source_too_large true 1" \
	"$(jq -r '"\(.status) \(.error.code) \(.error.permanent) \(.attempts)"' <<<"$BODY")"
expect_match "the message gives both sizes" "is $((LIMIT + 1)) bytes, over the limit of $LIMIT" \
	"$(jq -r .error.message <<<"$BODY")"
seen=$(tail -n +"$((mark + 1))" "$STANDIN_LOG" | grep -F " /$SPOOL_S3_BUCKET/$big " || true)
expect_match "the worker asked S3 for its size (HEAD)" "HEAD s3 " "$seen"
if grep -q "GET s3 " <<<"$seen"; then fail "nothing of it was downloaded" "$seen"; else ok "nothing of it was downloaded"; fi
expect_eq "no job directory is left behind" "" "$(ls -A "$tmpdir")"
bystander_ok "a source over max_source_size"

# the download itself stops at the size HEAD gave (an object replaced meanwhile)
out=$(s3 get "$big" "$T_TMP/got" $LIMIT 2>&1)
rc=$?
expect_eq "a GET capped below the object's size fails" 1 "$rc"
expect_match "saying so" "longer than the limit of $LIMIT bytes" "$out"
[ -e "$T_TMP/got" ] && fail "no partial file is left" "$(stat -c %s "$T_TMP/got")" || ok "no partial file is left"
check "capped at its size, it downloads" s3 get "$big" "$T_TMP/got" $((LIMIT + 1))

# --- no room in tmpdir: transient, retried later ------------------------------------
avail=$(df -B1 --output=avail "$tmpdir" | tail -n 1 | tr -d ' ')
reserve=$((avail + 64 * 1024 * 1024))
if [ "$reserve" -gt $((64 * 1024 * 1024 * 1024)) ]; then
	ok "# SKIP no_space: '$tmpdir' has more free space than tmpdir_reserve may ask ($avail bytes)"
else
	sed -i "/^max_source_size = /a tmpdir_reserve = $reserve" "$cfg"
	mark=$(wc -l <"$wlog")
	kill -HUP "$WPID"
	for _ in $(seq 1 50); do tail -n +"$((mark + 1))" "$wlog" | grep -q "reload: configuration" && break; sleep 0.1; done
	id=$(probe "$key")
	settle "$id" retrying failed succeeded
	expect_eq "no room for source + tmpdir_reserve: retrying (transient no_space)" "retrying no_space false" \
		"$(jq -r '"\(.status) \(.error.code) \(.error.permanent)"' <<<"$BODY")"
	expect_match "the message says what is missing" "bytes free.*the job needs [0-9]+ \(its source\) \+ $reserve" \
		"$(jq -r .error.message <<<"$BODY")"
	expect_status "the retrying job can be cancelled" 200 "${AUTH[@]}" -X DELETE "$U/v1/jobs/$id"
	bystander_ok "a worker without room"
fi

done_testing
