#!/usr/bin/env bash
# The video.transcode engine (shared/transcode.c) through bin/tools/transcode on
# generated media: size, codec, pixel format, duration cut, audio, faststart,
# padding (never stretched), watermark, bumpers, thumbnail, invalid input, timeout, cancel.
# Needs ffmpeg/ffprobe, not the daemons.
. "$(dirname "$0")/lib.sh"

TOOL=${TRANSCODE_TOOL:-bin/tools/transcode}  # e.g. a sanitized build
LOGO=etc/logo.png
[ -x "$TOOL" ] || bail "no $TOOL: run make first"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || skip_all "ffmpeg/ffprobe not installed"

MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" || bail "cannot generate the test media"

# run NAME ARGS... INPUT: transcode into $T_TMP/NAME; the JSON result in $OUT, status in $RC
OUT=
RC=
run() {
	local name=$1
	shift
	mkdir -p "$T_TMP/$name"
	OUT=$("$TOOL" "$@" "$T_TMP/$name" 2>"$T_TMP/$name.stderr")
	RC=$?
}

# probe FILE: ffprobe's JSON report
probe() { ffprobe -v error -print_format json -show_format -show_streams "$1"; }

# Mean of the brightest RGB channel over a region of the frame at time T: region_mean FILE T X Y W H
region_mean() {
	ffmpeg -nostdin -v error -ss "$2" -i "$1" -frames:v 1 -vf "crop=$5:$6:$3:$4" \
		-f rawvideo -pix_fmt rgb24 - |
		py 'import sys
d = sys.stdin.buffer.read()
n = len(d) // 3
print(int(max(sum(d[c::3]) / n for c in range(3))) if n else -1)'
}

# Mean absolute difference of a region between two files: region_diff A B T X Y W H
region_diff() {
	local a=$T_TMP/diff-a.rgb b=$T_TMP/diff-b.rgb
	ffmpeg -nostdin -v error -y -ss "$3" -i "$1" -frames:v 1 -vf "crop=$6:$7:$4:$5" -f rawvideo -pix_fmt rgb24 "$a"
	ffmpeg -nostdin -v error -y -ss "$3" -i "$2" -frames:v 1 -vf "crop=$6:$7:$4:$5" -f rawvideo -pix_fmt rgb24 "$b"
	py 'import sys
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
print(int(sum(abs(x - y) for x, y in zip(a, b)) / max(len(a), 1)) if len(a) == len(b) and a else -1)' "$a" "$b"
}

# Top-level MP4 atoms in order: atoms FILE → "ftyp moov mdat"
atoms() {
	py 'import struct, sys
f = open(sys.argv[1], "rb"); out = []
while True:
    h = f.read(8)
    if len(h) < 8: break
    size, kind = struct.unpack(">I4s", h)
    if size == 1: size = struct.unpack(">Q", f.read(8))[0] - 8
    elif size == 0: out.append(kind.decode()); break
    out.append(kind.decode())
    f.seek(size - 8 - (8 if size > 0xffffffff else 0), 1)
print(" ".join(out))' "$1"
}

# le A B: A <= B for decimals
le() { py 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$1" "$2"; }
# near A B TOL: |A - B| <= TOL
near() { py 'import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= t else 1)' "$1" "$2" "$3"; }

nstreams() { jq "[.streams[] | select(.codec_type == \"$2\")] | length" <<<"$1"; }
vfield() { jq -r "[.streams[] | select(.codec_type == \"video\")][0].$2" <<<"$1"; }
duration() { jq -r .format.duration <<<"$1"; }

# common checks of a successful result: WHAT DIR
check_output() {
	local what=$1 dir=$2 p
	if [ "$RC" != 0 ]; then
		fail "$what: transcoded" "$OUT"
		return 1
	fi
	p=$(probe "$dir/video.mp4")
	expect_eq "$what: 1280x720 H.264 yuv420p, square pixels" "1280 720 h264 yuv420p 1:1" \
		"$(vfield "$p" width) $(vfield "$p" height) $(vfield "$p" codec_name) $(vfield "$p" pix_fmt) $(vfield "$p" sample_aspect_ratio)"
	expect_eq "$what: faststart (moov before mdat)" "ftyp moov mdat" "$(atoms "$dir/video.mp4" | grep -o 'ftyp\|moov\|mdat' | tr '\n' ' ' | sed 's/ $//')"
	expect_eq "$what: meta matches the file" "$(vfield "$p" width)x$(vfield "$p" height) $(vfield "$p" codec_name)" \
		"$(jq -r '"\(.meta.width)x\(.meta.height) \(.meta.codec)"' <<<"$OUT")"
	PROBE=$p
}

# --- landscape 1080p with audio: defaults --------------------------------------------
run land -l "$LOGO" "$MEDIA/landscape-1080.mp4"
check_output "landscape 1080p" "$T_TMP/land"
d=$(duration "$PROBE")
check "landscape: duration $d ≈ source 4 s" near "$d" 4 0.2
expect_eq "landscape: no audio stream by default" 0 "$(nstreams "$PROBE" audio)"
expect_eq "landscape: meta says no audio" false "$(jq -r .meta.has_audio <<<"$OUT")"
expect_eq "landscape: watermark applied by default with a logo" true "$(jq -r .meta.watermark <<<"$OUT")"
t=$(probe "$T_TMP/land/thumb.jpg")
expect_eq "thumbnail is a 1280x720 JPEG" "mjpeg 1280 720" "$(vfield "$t" codec_name) $(vfield "$t" width) $(vfield "$t" height)"
expect_match "progress reported up to 100" 'progress 100' "$(tail -n 1 "$T_TMP/land.stderr")"
check "progress never goes backwards" py 'import sys
v = [int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("progress ")]
sys.exit(0 if v and v == sorted(v) and 0 <= v[0] and v[-1] == 100 else 1)' "$T_TMP/land.stderr"
left=$(ls "$T_TMP/land")
expect_eq "only video.mp4 and thumb.jpg are left" "thumb.jpg video.mp4" "$(echo $left)"

# --- audio: true ---------------------------------------------------------------------
run audio -l "$LOGO" -p '{"audio": true}' "$MEDIA/landscape-1080.mp4"
check_output "audio:true" "$T_TMP/audio"
expect_eq "audio:true: one AAC stream" "1 aac" \
	"$(nstreams "$PROBE" audio) $(jq -r '[.streams[] | select(.codec_type == "audio")][0].codec_name' <<<"$PROBE")"
run audio-none -l "$LOGO" -p '{"audio": true}' "$MEDIA/portrait.mp4"
check_output "audio:true on a silent source" "$T_TMP/audio-none"
expect_eq "audio:true on a silent source: no audio stream" 0 "$(nstreams "$PROBE" audio)"

# --- duration cut and short sources --------------------------------------------------
run long -l "$LOGO" "$MEDIA/long-45s.mp4"
check_output "45 s source" "$T_TMP/long"
d=$(duration "$PROBE")
check "45 s source cut to ≤ 30 s ($d)" le "$d" 30.05
check "45 s source cut to about 30 s ($d)" near "$d" 30 0.2
run short -l "$LOGO" -p '{"max_duration": 10}' "$MEDIA/short-3s.mp4"
check_output "3 s source" "$T_TMP/short"
d=$(duration "$PROBE")
check "3 s source keeps its duration ($d)" near "$d" 3 0.2
run cut -p '{"max_duration": 2}' "$MEDIA/short-3s.mp4"
check_output "max_duration 2" "$T_TMP/cut"
check "max_duration 2 cuts to 2 s ($(duration "$PROBE"))" near "$(duration "$PROBE")" 2 0.2

# --- padding, never stretching ---------------------------------------------------------
# portrait 1080x1920 → 404x720 centred: bars left and right
run portrait -l "$LOGO" "$MEDIA/portrait.mp4"
check_output "portrait 9:16" "$T_TMP/portrait"
v=$T_TMP/portrait/video.mp4
expect_match "portrait: left bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 0 0 420 720)"
expect_match "portrait: right bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 860 0 420 560)"
expect_match "portrait: picture in the middle" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" 1 460 40 360 640)"

# ultra-wide 2560x720 → 1280x360 centred: bars top and bottom
run ultrawide -l "$LOGO" "$MEDIA/ultrawide.mp4"
check_output "ultra-wide 32:9" "$T_TMP/ultrawide"
v=$T_TMP/ultrawide/video.mp4
expect_match "ultra-wide: top bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 0 0 1280 176)"
expect_match "ultra-wide: bottom bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 0 544 1000 176)"
expect_match "ultra-wide: picture in the middle" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" 1 40 190 1200 340)"

# square 720x720 → 720x720 at x = 280
run square -l "$LOGO" "$MEDIA/square.mp4"
check_output "square" "$T_TMP/square"
v=$T_TMP/square/video.mp4
expect_match "square: left bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 0 0 276 720)"
expect_match "square: right bar black" '^([0-9]|1[0-9])$' "$(region_mean "$v" 1 1004 0 276 560)"
expect_match "square: picture in the middle" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" 1 290 10 700 700)"

# --- watermark -----------------------------------------------------------------------
run nowm -l "$LOGO" -p '{"watermark": false}' "$MEDIA/landscape-1080.mp4"
check_output "watermark:false" "$T_TMP/nowm"
expect_eq "watermark:false: meta says no watermark" false "$(jq -r .meta.watermark <<<"$OUT")"
# the logo is 160x60 at 720p, 20 px from the bottom-right corner
diff=$(region_diff "$T_TMP/land/video.mp4" "$T_TMP/nowm/video.mp4" 1 1080 620 200 100)
check "watermark: bottom-right corner differs with the logo (mean diff $diff)" test "$diff" -gt 20
diff=$(region_diff "$T_TMP/land/video.mp4" "$T_TMP/nowm/video.mp4" 1 0 0 400 300)
check "watermark: top-left corner the same (mean diff $diff)" test "$diff" -lt 6
run nologo "$MEDIA/landscape-1080.mp4"
check_output "no logo configured" "$T_TMP/nologo"
expect_eq "no logo configured: no watermark" false "$(jq -r .meta.watermark <<<"$OUT")"

# --- bumpers -------------------------------------------------------------------------
run bump -l "$LOGO" -p '{"bumpers": true, "audio": true}' "$MEDIA/short-3s.mp4"
check_output "bumpers" "$T_TMP/bump"
d=$(duration "$PROBE")
check "bumpers add more than 0 s and at most 5 s (3 s → $d s)" py 'import sys; d = float(sys.argv[1]) - 3; sys.exit(0 if 0 < d <= 5 else 1)' "$d"
v=$T_TMP/bump/video.mp4
expect_match "bumper: black around the logo at 0.5 s" '^([0-9]|1[0-9])$' "$(region_mean "$v" 0.5 0 0 300 720)"
expect_match "bumper: logo in the middle at 0.5 s" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" 0.5 400 240 480 240)"
expect_match "bumper: closing card at the end" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" "$(py 'import sys; print(float(sys.argv[1]) - 0.5)' "$d")" 400 240 480 240)"
expect_match "bumpers: main clip in between" '^([4-9][0-9]|[1-2][0-9][0-9])$' "$(region_mean "$v" 3 0 0 300 720)"

run bump-audio -l "$LOGO" -p '{"bumpers": true, "audio": true}' "$MEDIA/landscape-1080.mp4"
check_output "bumpers with audio" "$T_TMP/bump-audio"
d=$(duration "$PROBE")
check "bumpers with audio: 4 s source → ≤ 9 s ($d)" py 'import sys; d = float(sys.argv[1]) - 4; sys.exit(0 if 0 < d <= 5 else 1)' "$d"
a=$(jq -r '[.streams[] | select(.codec_type == "audio")][0].duration' <<<"$PROBE")
check "bumpers with audio: AAC runs the whole length ($a s)" near "$a" "$d" 0.2

# --- other sizes and bad parameters ----------------------------------------------------
run h240 -p '{"height": 240}' "$MEDIA/short-3s.mp4"
p=$(probe "$T_TMP/h240/video.mp4")
expect_eq "height 240 → 426x240" "426x240" "$(vfield "$p" width)x$(vfield "$p" height)"
run badparam -p '{"height": 700}' "$MEDIA/short-3s.mp4"
expect_eq "height 700 rejected naming the field" "2 height" "$RC $(jq -r .field <<<"$OUT")"

# --- invalid media -------------------------------------------------------------------
for f in corrupt text audio-only; do
	run "bad-$f" -l "$LOGO" "$MEDIA/$f.mp4"
	expect_eq "$f: permanent invalid_media" "1 invalid_media true" \
		"$RC $(jq -r '"\(.error_code) \(.permanent)"' <<<"$OUT")"
	expect_eq "$f: no output left" "" "$(ls "$T_TMP/bad-$f")"
done
expect_match "corrupt: message quotes ffprobe's reason" 'moov atom not found|Invalid data' \
	"$(jq -r .message <<<"$(run x "$MEDIA/corrupt.mp4"; echo "$OUT")")"

# --- time limit ----------------------------------------------------------------------
start=$(date +%s.%N)
run timeout -t 1 -P veryslow -l "$LOGO" "$MEDIA/long-45s.mp4"
took=$(py 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "$start" "$(date +%s.%N)")
expect_eq "time limit: transient timeout" "1 timeout false" "$RC $(jq -r '"\(.error_code) \(.permanent)"' <<<"$OUT")"
check "time limit: stopped within 1 s + 2 s grace ($took s)" le "$took" 4
expect_eq "time limit: no ffmpeg left behind" "" "$(pgrep -af -- "$T_TMP/timeout/" || true)"
expect_eq "time limit: no output promised or left" "" "$(ls -A "$T_TMP/timeout")"

# --- cancel --------------------------------------------------------------------------
run cancel -c 1 -P veryslow -l "$LOGO" "$MEDIA/long-45s.mp4"
expect_eq "cancel: transient cancelled" "1 cancelled false" "$RC $(jq -r '"\(.error_code) \(.permanent)"' <<<"$OUT")"
expect_eq "cancel: no ffmpeg left behind" "" "$(pgrep -af -- "$T_TMP/cancel/" || true)"
expect_eq "cancel: no output left" "" "$(ls -A "$T_TMP/cancel")"

done_testing
