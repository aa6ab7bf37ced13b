#!/usr/bin/env bash
# Generate the test media of the transcode tests into DIR (made if missing).
#   tests/media.sh DIR
# Every file is synthesised with ffmpeg's lavfi sources (testsrc2, sine), small and
# short so that the whole set takes a few seconds on two cores. Files already
# present are kept (delete DIR to regenerate): the tests share one set per stack,
# $SPOOL_RUN_DIR/media, made by the first of them that needs it. DIR/.recipe holds
# this script's checksum; a set made by another version of it is made anew.
set -euo pipefail

dir=${1:?usage: tests/media.sh DIR}
mkdir -p "$dir"
recipe=$(sha256sum "$0" | cut -d' ' -f1)
if [ "$(cat "$dir/.recipe" 2>/dev/null)" != "$recipe" ]; then
	find "$dir" -mindepth 1 -maxdepth 1 -type f -delete
	echo "$recipe" >"$dir/.recipe"
fi
ff=(ffmpeg -nostdin -hide_banner -loglevel error -y)
x264=(-c:v libx264 -preset ultrafast -pix_fmt yuv420p)

# gen NAME SIZE SECONDS [audio]: a testsrc2 clip at 25 fps, with a 440 Hz tone if asked.
gen() {
	local out=$dir/$1 size=$2 secs=$3 audio=${4:-}
	[ -s "$out" ] && return 0
	local in=(-f lavfi -i "testsrc2=s=$size:r=25:d=$secs")
	local enc=("${x264[@]}")
	if [ -n "$audio" ]; then
		in+=(-f lavfi -i "sine=f=440:r=48000:d=$secs")
		enc+=(-c:a aac -b:a 96k)
	fi
	"${ff[@]}" "${in[@]}" "${enc[@]}" "$out.tmp.mp4"
	mv "$out.tmp.mp4" "$out"
}

gen landscape-1080.mp4 1920x1080 4 audio   # 16:9 1080p with audio
gen portrait.mp4 1080x1920 3               # 9:16
gen square.mp4 720x720 3
gen ultrawide.mp4 2560x720 3               # 32:9
gen long-45s.mp4 320x180 45 audio          # longer than the default max_duration
gen short-3s.mp4 640x360 3                 # 16:9, shorter than max_duration

# No video stream at all.
if [ ! -s "$dir/audio-only.mp4" ]; then
	"${ff[@]}" -f lavfi -i "sine=f=660:r=48000:d=3" -c:a aac -b:a 96k "$dir/audio-only.tmp.mp4"
	mv "$dir/audio-only.tmp.mp4" "$dir/audio-only.mp4"
fi

# Truncated: the first half of an MP4 whose moov atom is at the end, so no index.
if [ ! -s "$dir/corrupt.mp4" ]; then
	size=$(stat -c %s "$dir/short-3s.mp4")
	head -c $((size / 2)) "$dir/short-3s.mp4" >"$dir/corrupt.mp4"
fi

# Not media at all, whatever its name says.
[ -s "$dir/text.mp4" ] || printf 'this is not a video\njust some text\n' >"$dir/text.mp4"
