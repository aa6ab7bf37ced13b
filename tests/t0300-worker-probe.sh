#!/usr/bin/env bash
# media.probe of a generated 2 s clip: the job succeeds, its report is downloadable
# through the result URL and matches the recorded size and sha256.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
worker_ensure

clip=$T_TMP/clip.mp4
check "generate a 2 s clip with video and audio" ffmpeg -nostdin -hide_banner -loglevel error -y \
	-f lavfi -i testsrc=s=320x240:r=25:d=2 -f lavfi -i sine=f=440:r=48000:d=2 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$clip"

key=$(upload "$clip") || bail "cannot upload the clip"
ok "clip uploaded as $key"
id=$(submit media.probe "$key")
expect_match "media.probe job submitted" '^[0-9a-f-]{36}$' "$id"

job=$(job_wait "$id" 60)
expect_eq "job succeeded" succeeded "$(jq -r .status <<<"$job")"
expect_eq "succeeded on the first attempt" 1 "$(jq -r .attempts <<<"$job")"
expect_eq "result key" "results/$id/probe.json" "$(jq -r .result.key <<<"$job")"
expect_eq "result content type" application/json "$(jq -r .result.content_type <<<"$job")"
expect_eq "meta width" 320 "$(jq -r .result.meta.width <<<"$job")"
expect_eq "meta height" 240 "$(jq -r .result.meta.height <<<"$job")"
expect_eq "meta codec" h264 "$(jq -r .result.meta.codec <<<"$job")"
expect_eq "meta duration about 2 s" true "$(jq '.result.meta.duration | . > 1.8 and . < 2.2' <<<"$job")"

report=$T_TMP/probe.json
check "report downloadable through the result URL" result_fetch "$job" "$report"
expect_eq "report sha256 matches the result" "$(jq -r .result.sha256 <<<"$job")" \
	"$(sha256sum "$report" | cut -d' ' -f1)"
expect_eq "report size matches the result" "$(jq -r .result.size <<<"$job")" "$(stat -c %s "$report")"
expect_eq "report lists a video and an audio stream" "video audio" \
	"$(jq -r '[.streams[].codec_type] | join(" ")' "$report")"
expect_eq "report size is the clip's" "$(stat -c %s "$clip")" "$(jq -r .size "$report")"
expect_match "report container" 'mp4' "$(jq -r .container "$report")"
expect_match "report bit rate is a number" '^[0-9]+$' "$(jq -r .bit_rate "$report")"

done_testing
