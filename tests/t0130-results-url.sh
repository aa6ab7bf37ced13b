#!/usr/bin/env bash
# adminctl results ls / url: presigned GETs work with curl; tampering or expiry gives 403.
. "$(dirname "$0")/lib.sh"

ADM=${ADMINCTL:-bin/adminctl}
S3T=${S3TOOL:-bin/tools/s3tool}
prefix=results/t0130-$$
key=$prefix/video.mp4
head -c 100000 /dev/urandom >"$T_TMP/obj"
check "upload an object with s3tool" $S3T put "$key" "$T_TMP/obj"
at_exit "$S3T rm '$key'"

# ls
out=$($ADM results ls "$prefix/")
expect_match "results ls PREFIX/ shows the object and its size" "$key	100000	20" "$out"
out=$($ADM results ls results/)
expect_match "results ls one level up shows the sub-prefix" "$prefix/" "$out"
out=$($ADM --json results ls "$prefix/" | jq -r '.objects[0] | "\(.key) \(.size)"')
expect_eq "results ls --json" "$key 100000" "$out"

# url
url=$($ADM results url "$key" 2>"$T_TMP/err"); rc=$?
expect_eq "results url: exit 0" 0 "$rc"
expect_eq "the URL alone on stdout" 1 "$(printf '%s\n' "$url" | wc -l)"
expect_match "expires: on stderr" '^expires: 20[0-9-]+T[0-9:]+Z$' "$(cat "$T_TMP/err")"
curl -sS -o "$T_TMP/got" "$url"
check "curl fetches the object byte for byte" cmp "$T_TMP/obj" "$T_TMP/got"
expect_eq "presigned GET: 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url")"

# tampering
expect_status "another key in the path: 403" 403 "${url/video.mp4/other.mp4}"
expect_status "a longer expiry: 403" 403 "${url/X-Amz-Expires=900/X-Amz-Expires=9000}"
sig=${url##*X-Amz-Signature=}
bad=$(printf '%s' "$sig" | tr '0-9a-f' '1-9a-f0')
expect_status "a changed signature: 403" 403 "${url%%X-Amz-Signature=*}X-Amz-Signature=$bad"
expect_status "an added query parameter: 403" 403 "$url&response-content-type=text/html"

# expiry
json=$($ADM --json results url "$key" --expires 2s)
u2=$(printf '%s' "$json" | jq -r .url)
expect_match "--json has url and expires_at" '^20.*Z$' "$(printf '%s' "$json" | jq -r .expires_at)"
expect_match "--expires 2s is signed for 2 seconds" 'X-Amz-Expires=2&' "$u2"
sleep 4
expect_status "after its expiry: 403" 403 "$u2"

# errors
out=$($ADM results url "$prefix/absent" 2>&1); rc=$?
expect_eq "url of a missing object: exit 1" 1 "$rc"
expect_match "url of a missing object: says so" "no object" "$out"
$ADM results url "$key" --expires 8d >/dev/null 2>&1; rc=$?
expect_eq "--expires over 7 days: usage 2" 2 "$rc"
$ADM results url >/dev/null 2>&1; rc=$?
expect_eq "results url without KEY: usage 2" 2 "$rc"
sed 's|^endpoint_url = http://127.0.0.1:[0-9]*$|endpoint_url = http://127.0.0.1:1|' "$SPOOL_ADMINCTL_CONFIG" >"$T_TMP/down.ini"
$ADM -c "$T_TMP/down.ini" results ls >/dev/null 2>&1; rc=$?
expect_eq "S3 unreachable: exit 69" 69 "$rc"

done_testing
