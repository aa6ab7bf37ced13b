#!/usr/bin/env bash
# POST /v1/videos: upload and submit in one call (raw body or multipart), params from
# the query, 422/415/413 before the body, and no object or multipart upload left
# behind by a body over the limit or a client that goes away mid-upload.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
command -v ffprobe >/dev/null || skip_all "ffprobe is not installed"

# A tenant of its own, so that its uploads/ prefix is this test's alone.
TENANT=t0420-videos-$$
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$TENANT" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
SPOOL_API_KEY=$KEY
AUTH="Authorization: Bearer $KEY"

MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"

# s3_state: "<objects under uploads/TENANT/> <multipart uploads under it>"
s3_state() {
	py "
import os, boto3, botocore.config
s3 = $(boto3_client s3)
b, p = os.environ['SPOOL_S3_BUCKET'], 'uploads/$TENANT/'
objs = s3.list_objects_v2(Bucket=b, Prefix=p).get('KeyCount', 0)
ups = len(s3.list_multipart_uploads(Bucket=b, Prefix=p).get('Uploads', []))
print(objs, ups)
"
}

# --- raw body: 202 with the job and Location, the job succeeds at 1280x720
expect_status "raw video/mp4 body -> 202" 202 -D "$T_TMP/headers" -H "$AUTH" -H 'Content-Type: video/mp4' \
	--data-binary @"$MEDIA/landscape-1080.mp4" "$SPOOL_API_URL/v1/videos"
id=$(json_id <<<"$BODY")
expect_match "raw: job id" '^[0-9a-f-]{36}$' "$id"
expect_eq "raw: job type" video.transcode "$(jq -r .type <<<"$BODY")"
expect_match "raw: source key under the tenant's uploads/" "^uploads/$TENANT/[0-9a-f-]{36}\$" "$(jq -r .source.key <<<"$BODY")"
expect_match "raw: Location of the job" "Location: /v1/jobs/$id" "$(tr -d '\r' <"$T_TMP/headers")"
job=$(job_wait "$id" 120)
expect_eq "raw: job succeeded" succeeded "$(jq -r .status <<<"$job")"
if result_fetch "$job" "$T_TMP/raw.mp4"; then
	v=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$T_TMP/raw.mp4")
	expect_eq "raw: result is 1280x720" "1280,720" "$v"
else
	fail "raw: result downloaded"
fi

# --- multipart/form-data with a file field; the stored object is the file itself
expect_status "multipart file field -> 202" 202 -H "$AUTH" -F "file=@$MEDIA/short-3s.mp4;type=video/mp4" \
	-F note=ignored "$SPOOL_API_URL/v1/videos"
id=$(json_id <<<"$BODY")
src=$(jq -r .source.key <<<"$BODY")
sum=$(py "
import os, hashlib, boto3, botocore.config
s3 = $(boto3_client s3)
print(hashlib.sha256(s3.get_object(Bucket=os.environ['SPOOL_S3_BUCKET'], Key='$src')['Body'].read()).hexdigest())
" 2>&1)
expect_eq "multipart: stored object is the file, byte for byte" "$(sha256sum "$MEDIA/short-3s.mp4" | cut -d' ' -f1)" "$sum"
job=$(job_wait "$id" 120)
expect_eq "multipart: job succeeded" succeeded "$(jq -r .status <<<"$job")"

# --- params from the query, with their JSON types
expect_status "height=480&audio=true -> 202" 202 -H "$AUTH" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$MEDIA/short-3s.mp4" "$SPOOL_API_URL/v1/videos?height=480&audio=true&max_duration=2.5"
expect_eq "query params typed in the job" '{"audio":true,"height":480,"max_duration":2.5}' \
	"$(jq -cS .params <<<"$BODY")"
job=$(job_wait "$(json_id <<<"$BODY")" 120)
expect_eq "height=480: job succeeded" succeeded "$(jq -r .status <<<"$job")"
if result_fetch "$job" "$T_TMP/480.mp4"; then
	v=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 "$T_TMP/480.mp4")
	expect_eq "height=480: result is 854x480" "854,480" "$v"
else
	fail "height=480: result downloaded"
fi

before=$(s3_state)

# --- refused before the body
expect_status "height=7 -> 422" 422 -H "$AUTH" -H 'Content-Type: video/mp4' \
	--data-binary @"$MEDIA/short-3s.mp4" "$SPOOL_API_URL/v1/videos?height=7"
expect_eq "422 names height" height "$(jq -r .error.field <<<"$BODY")"
expect_status "unknown query parameter -> 422" 422 -H "$AUTH" -H 'Content-Type: video/mp4' \
	--data-binary @"$MEDIA/short-3s.mp4" "$SPOOL_API_URL/v1/videos?heigth=480"
expect_eq "422 names the unknown parameter" heigth "$(jq -r .error.field <<<"$BODY")"
expect_status "text/plain -> 415" 415 -H "$AUTH" -H 'Content-Type: text/plain' \
	--data-binary @"$MEDIA/short-3s.mp4" "$SPOOL_API_URL/v1/videos"
expect_eq "415 code" unsupported_media_type "$(jq -r .error.code <<<"$BODY")"
expect_status "no key -> 401" 401 -H 'Content-Type: video/mp4' --data-binary @"$MEDIA/short-3s.mp4" \
	"$SPOOL_API_URL/v1/videos"
expect_status "empty body -> 400" 400 -H "$AUTH" -H 'Content-Type: video/mp4' -X POST "$SPOOL_API_URL/v1/videos"
expect_status "multipart without a file field -> 400" 400 -H "$AUTH" -F note=x "$SPOOL_API_URL/v1/videos"
expect_eq "400 names file" file "$(jq -r .error.field <<<"$BODY")"
expect_status "GET /v1/videos -> 405" 405 -H "$AUTH" "$SPOOL_API_URL/v1/videos"

# --- over the limit, on a second spool-api with a small max_upload. The part size is
# the minimum (5M) and the limit above it, so a chunked body over the limit has a
# multipart upload under way when it passes the limit: the abort is what is tested.
port=$((${SPOOL_PORT_BASE:-25400} + 19))
awk -v port="$port" '
	/^\[/ { sect = $0; print; if (sect == "[api]") print "max_upload = 8M"; if (sect == "[s3]") print "part_size = 5M"; next }
	sect == "[api]" && /^(port|max_upload) *=/ { if ($1 == "port") print "port = " port; next }
	sect == "[s3]" && /^part_size *=/ { next }
	{ print }' "$SPOOL_API_CONFIG" >"$T_TMP/api-small.ini"
grep -q '^\[s3\]' "$T_TMP/api-small.ini" || printf '[s3]\npart_size = 5M\n' >>"$T_TMP/api-small.ini"
bin/spool-api -d -f "$T_TMP/api-small.ini" >"$T_TMP/api-small.log" 2>&1 &
SMALL_PID=$!
at_exit "kill $SMALL_PID"
SMALL=http://127.0.0.1:$port
for ((i = 0; i < 50; i++)); do curl -fsS -o /dev/null "$SMALL/health" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$SMALL/health" || bail "second spool-api did not start: $(cat "$T_TMP/api-small.log")"

head -c $((12 * 1024 * 1024)) /dev/urandom >"$T_TMP/12m.bin"
expect_status "12 MiB with Content-Length over an 8M limit -> 413" 413 -H "$AUTH" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T_TMP/12m.bin" "$SMALL/v1/videos"
expect_eq "413 code" too_large "$(jq -r .error.code <<<"$BODY")"
expect_status "12 MiB chunked over an 8M limit -> 413" 413 -H "$AUTH" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T_TMP/12m.bin" "$SMALL/v1/videos"
expect_eq "chunked 413 code" too_large "$(jq -r .error.code <<<"$BODY")"
expect_status "12 MiB multipart chunked over an 8M limit -> 413" 413 -H "$AUTH" -H 'Transfer-Encoding: chunked' \
	-F "file=@$T_TMP/12m.bin" "$SMALL/v1/videos"
expect_eq "after the 413s: no new object, no multipart upload left" "$before" "$(s3_state)"
expect_status "a body under the limit still goes through" 202 -H "$AUTH" -H 'Transfer-Encoding: chunked' \
	-H 'Content-Type: video/mp4' --data-binary @"$MEDIA/short-3s.mp4" "$SMALL/v1/videos?max_duration=1"
before=$(s3_state)

# --- a client that goes away mid-upload: 12 of 40 announced MiB (two parts sent), then close
out=$(py "
import os, socket, time, urllib.parse, boto3, botocore.config
u = urllib.parse.urlparse(os.environ['SPOOL_API_URL'])
s3 = $(boto3_client s3)
def uploads():
    return len(s3.list_multipart_uploads(Bucket=os.environ['SPOOL_S3_BUCKET'], Prefix='uploads/$TENANT/').get('Uploads', []))
s = socket.create_connection((u.hostname, u.port))
s.sendall(('POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $KEY\r\n'
           'Content-Type: video/mp4\r\nContent-Length: %d\r\n\r\n' % (40 << 20)).encode())
chunk = os.urandom(1 << 20)
for _ in range(20):
    s.sendall(chunk)
during = 0
for _ in range(50):
    during = uploads()
    if during:
        break
    time.sleep(0.1)
time.sleep(2)
s.close()
t0, after = time.time(), -1
while time.time() - t0 < 40:
    after = uploads()
    if after == 0:
        break
    time.sleep(0.2)
print('during', during, 'after', after)
print('seconds %.1f' % (time.time() - t0))
" 2>&1)
# The abort is at once when spool-api sees the close; should libmicrohttpd miss the
# end of the stream (a close racing its edge-triggered epoll reads) the connection
# timeout (api.connection_timeout, 75 s) ends the request and aborts the upload.
expect_eq "disconnect: a multipart upload existed mid-body, none after the close" "during 1 after 0" \
	"$(head -n1 <<<"$out")"
echo "# disconnect: upload gone $(sed -n 2p <<<"$out") after the close"
expect_eq "disconnect: no object left" "$before" "$(s3_state)"

done_testing
