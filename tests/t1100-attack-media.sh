#!/usr/bin/env bash
# A tenant's source is opened only as media: playlists and other indirection formats
# (HLS, DASH, ffconcat, SDP, image demuxers), even dressed as MP4, fail permanently
# with invalid_media naming the refused format, for video.transcode and media.probe,
# without the worker opening the files they point at and without a result; another
# tenant's jobs keep running meanwhile. MP4, Matroska and MPEG-TS sources still work.
#
# The files the playlists point at are FIFOs: a process waits on each to be opened
# for reading, logs the opening and serves real media, so an open by the worker
# shows in the log however far the attack got.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh
. tests/bystander.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
worker_ensure

key_for() {
	bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$1" 2>/dev/null | head -n 1
}
ATTACKER=$(key_for "t1100-attacker-$$")
bystander_init
BYSTANDER=$BYSTANDER_KEY
[ -n "$ATTACKER" ] || bail "cannot create API keys with adminctl"

# --- the worker's disk: real media and a marked text behind FIFOs
S=$T_TMP/secret
mkdir -p "$S"
MARK="spool-secret-$$-$RANDOM"
ff=(ffmpeg -nostdin -hide_banner -loglevel error -y)
"${ff[@]}" -f lavfi -i testsrc2=s=160x90:r=25:d=1 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
	-f mpegts "$S/clip.ts" || bail "cannot make the secret clip"
"${ff[@]}" -i "$S/clip.ts" -c copy -movflags +faststart -f mp4 "$S/clip.mp4" || bail "cannot remux the clip"
printf '%s\n' "$MARK" >"$S/text"
printf '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n%s/secret.ts\n#EXT-X-ENDLIST\n' "$S" >"$S/inner"
for f in secret.ts secret.mp4 secret.txt inner.m3u8; do mkfifo "$S/$f"; done
cat >"$S/serve.py" <<'EOF'
import os, sys, threading, time
log, pairs = sys.argv[1], sys.argv[2:]
def serve(fifo, content):
    data = open(content, 'rb').read()
    while True:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until a reader opens the FIFO
        with open(log, 'a') as f:
            f.write(os.path.basename(fifo) + '\n')
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass
        os.close(fd)
        time.sleep(0.5)  # the reader sees the end before the FIFO is opened again
for p in pairs:
    fifo, content = p.split('=', 1)
    threading.Thread(target=serve, args=(fifo, content)).start()
EOF
OPENED=$S/opened.log
: >"$OPENED"
# python itself in the background (not the py_file function, whose $! would be a
# subshell that a kill leaves its python behind)
"$T_PY" "$S/serve.py" "$OPENED" "$S/secret.ts=$S/clip.ts" "$S/secret.mp4=$S/clip.mp4" \
	"$S/secret.txt=$S/text" "$S/inner.m3u8=$S/inner" &
SERVER=$!
at_exit "kill $SERVER"
sleep 0.5
# the detector works: reading a FIFO shows in the log
expect_eq "reading a secret FIFO gives the marker" "$MARK" "$(timeout 5 cat "$S/secret.txt")"
expect_eq "and the opening is logged" "secret.txt" "$(cat "$OPENED")"
: >"$OPENED"

# --- the payloads: NAME FORMAT FILE (the format the worker must name)
P=$T_TMP/payloads
mkdir -p "$P"
hls() { printf '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n%s\n#EXT-X-ENDLIST\n' "$1"; }
hls "$S/secret.ts" >"$P/hls-absolute"
hls "../../../../../../../../../../../../../..$S/secret.ts" >"$P/hls-relative"
hls "file:$S/secret.ts" >"$P/hls-file-url"
hls "file:$S/secret.txt" >"$P/hls-text"
printf '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\n%s/inner.m3u8\n' "$S" >"$P/hls-nested"
cat >"$P/dash" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S"
     minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
  <BaseURL>file://$S/</BaseURL>
  <Period><AdaptationSet mimeType="video/mp4">
    <Representation id="1" bandwidth="100000" codecs="avc1.64000d" width="160" height="90">
      <BaseURL>secret.mp4</BaseURL>
    </Representation>
  </AdaptationSet></Period>
</MPD>
EOF
printf 'ffconcat version 1.0\nfile %s/secret.ts\nfile %s/secret.mp4\n' "$S" "$S" >"$P/concat"
printf 'ffconcat version 1.0\nfile secret.ts\n' >"$P/concat-relative"
printf 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n' \
	>"$P/sdp"
"${ff[@]}" -f lavfi -i testsrc2=s=160x90:d=1 -frames:v 1 -c:v png -f image2 "$P/png" || bail "cannot make a PNG"
CASES=(
	"hls-absolute hls" "hls-relative hls" "hls-file-url hls" "hls-text hls" "hls-nested hls"
	"dash dash" "concat concat" "concat-relative concat" "sdp sdp" "png png_pipe"
)

# upload_as KEY FILE [CONTENT-TYPE]: presigned PUT as the tenant of KEY; prints the key
upload_as() {
	local up
	up=$(curl -fsS --max-time 20 -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"size\": $(stat -c %s "$2")}" "$SPOOL_API_URL/v1/uploads") || return 1
	curl -fsS --max-time 20 -X PUT -H "Content-Type: ${3:-application/octet-stream}" --upload-file "$2" \
		"$(jq -r .url <<<"$up")" >/dev/null || return 1
	jq -r .key <<<"$up"
}
submit_as() { SPOOL_API_KEY=$1 submit "$2" "$3"; }
wait_as() { SPOOL_API_KEY=$1 job_wait "$2" "${3:-60}"; }

# refused NAME FORMAT ID: the job failed permanently naming FORMAT, at once
refused() {
	local name=$1 format=$2 job
	job=$(wait_as "$ATTACKER" "$3" 60)
	expect_eq "$name: failed" failed "$(jq -r .status <<<"$job")"
	expect_eq "$name: invalid_media" invalid_media "$(jq -r .error.code <<<"$job")"
	expect_eq "$name: permanent" true "$(jq -r .error.permanent <<<"$job")"
	expect_eq "$name: one attempt" 1 "$(jq -r .attempts <<<"$job")"
	expect_match "$name: the message names the refused format" \
		"format '$format' is not accepted \\(accepted: .*mp4.*\\)" "$(jq -r .error.message <<<"$job")"
	expect_eq "$name: no result" null "$(jq -c .result <<<"$job")"
}

IDS=()
for c in "${CASES[@]}"; do
	read -r name format <<<"$c"
	key=$(upload_as "$ATTACKER" "$P/$name") || bail "$name: cannot upload"
	t=$(submit_as "$ATTACKER" video.transcode "$key")
	p=$(submit_as "$ATTACKER" media.probe "$key")
	bystander_ok "$name"
	refused "$name (video.transcode)" "$format" "$t"
	refused "$name (media.probe)" "$format" "$p"
	IDS+=("$t" "$p")
done

# A playlist dressed as MP4: a video/mp4 presigned upload, and POST /v1/videos with a .mp4 file name.
key=$(upload_as "$ATTACKER" "$P/hls-absolute" video/mp4) || bail "dressed: cannot upload"
t=$(submit_as "$ATTACKER" video.transcode "$key")
p=$(submit_as "$ATTACKER" media.probe "$key")
cp "$P/hls-nested" "$P/holiday.mp4"
expect_status "dressed: POST /v1/videos of a playlist named .mp4 -> 202" 202 \
	-H "Authorization: Bearer $ATTACKER" -F "file=@$P/holiday.mp4;type=video/mp4" "$SPOOL_API_URL/v1/videos"
v=$(json_id <<<"$BODY")
bystander_ok "dressed"
refused "dressed video/mp4 upload (video.transcode)" hls "$t"
refused "dressed video/mp4 upload (media.probe)" hls "$p"
refused "dressed POST /v1/videos" hls "$v"
IDS+=("$t" "$p" "$v")

# Nothing was opened and nothing stored under results/.
expect_eq "no secret file was opened" "" "$(sort -u "$OPENED" | tr '\n' ' ')"
left=$(py "
import os, sys, boto3, botocore.config
s3 = $(boto3_client s3)
n = 0
for i in sys.argv[1:]:
    n += s3.list_objects_v2(Bucket=os.environ['SPOOL_S3_BUCKET'], Prefix='results/' + i + '/').get('KeyCount', 0)
print(n)
" "${IDS[@]}")
expect_eq "no result object of any refused job (${#IDS[@]} jobs)" 0 "$left"

# --- real media in the accepted containers still works, for both job types
M=$T_TMP/media
mkdir -p "$M"
src=(-f lavfi -i testsrc2=s=320x180:r=25:d=2 -f lavfi -i sine=f=440:r=48000:d=2)
"${ff[@]}" "${src[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac "$M/clip.mp4" &&
	"${ff[@]}" -i "$M/clip.mp4" -c copy "$M/clip.mkv" &&
	"${ff[@]}" -i "$M/clip.mp4" -c copy -f mpegts "$M/clip.ts" || bail "cannot make the legitimate clips"
for f in mp4:mov mkv:matroska ts:mpegts; do
	ext=${f%%:*} container=${f#*:}
	key=$(upload_as "$BYSTANDER" "$M/clip.$ext") || bail "$ext: cannot upload"
	t=$(submit_as "$BYSTANDER" video.transcode "$key")
	p=$(submit_as "$BYSTANDER" media.probe "$key")
	job=$(wait_as "$BYSTANDER" "$t" 120)
	expect_eq "$ext: video.transcode succeeded" succeeded "$(jq -r .status <<<"$job")"
	expect_eq "$ext: 1280x720 result" 1280x720 "$(jq -r '"\(.result.meta.width)x\(.result.meta.height)"' <<<"$job")"
	job=$(wait_as "$BYSTANDER" "$p" 60)
	expect_eq "$ext: media.probe succeeded" succeeded "$(jq -r .status <<<"$job")"
	expect_match "$ext: container $container" "^$container" "$(jq -r .result.meta.container <<<"$job")"
done

done_testing
