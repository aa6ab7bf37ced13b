#!/usr/bin/env bash
# video.transcode through the REST API: upload, submit, wait, download the result.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
command -v ffprobe >/dev/null || skip_all "ffprobe is not installed"

MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"

# submit_video KEY [PARAMS-JSON]: POST /v1/jobs type video.transcode; prints the job id
submit_video() {
	_w_api -X POST -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg k "$1" --argjson p "${2:-{\}}" '{type: "video.transcode", source: {key: $k}, params: $p}')" \
		"$SPOOL_API_URL/v1/jobs" | json_id
}

# a landscape 1080p clip with audio -> 1280x720 h264 without audio
key=$(upload "$MEDIA/landscape-1080.mp4") || bail "cannot upload the clip"
id=$(submit_video "$key")
expect_match "transcode job submitted" '^[0-9a-f-]{36}$' "$id"
job=$(job_wait "$id" 120)
expect_eq "job succeeded" succeeded "$(jq -r .status <<<"$job")"
expect_eq "progress is 100" 100 "$(jq -r .progress <<<"$job")"
expect_eq "result key" "results/$id/video.mp4" "$(jq -r .result.key <<<"$job")"
expect_eq "result content type" video/mp4 "$(jq -r .result.content_type <<<"$job")"
expect_eq "thumbnail key" "results/$id/thumb.jpg" "$(jq -r .result.outputs.thumbnail.key <<<"$job")"
expect_eq "meta width" 1280 "$(jq -r .result.meta.width <<<"$job")"
expect_eq "meta has no audio" false "$(jq -r .result.meta.has_audio <<<"$job")"

out=$T_TMP/out.mp4
if result_fetch "$job" "$out"; then
	ok "result downloaded through the presigned redirect"
	v=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$out")
	expect_eq "video stream is h264 1280x720" "h264,1280,720" "$v"
	a=$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$out")
	expect_eq "no audio stream" "" "$a"
	expect_eq "size matches the result" "$(jq -r .result.size <<<"$job")" "$(stat -c %s "$out")"
	expect_eq "sha256 matches the result" "$(jq -r .result.sha256 <<<"$job")" "$(sha256sum "$out" | cut -d' ' -f1)"
else
	fail "result downloaded through the presigned redirect"
fi
n=$(psql -X -At "$SPOOL_PG_DSN" -v id="$id" <<<"SELECT count(*) FROM job_events WHERE job_id = :'id' AND event = 'succeeded'")
expect_eq "one succeeded event" 1 "$n"

# a longer job shows its progress while it runs (stored at most every ~2 s)
key=$(upload "$MEDIA/long-45s.mp4") || bail "cannot upload the long clip"
id=$(submit_video "$key" '{"max_duration": 45}')
seen=
for ((i = 0; i < 600; i++)); do
	job=$(_w_api "$SPOOL_API_URL/v1/jobs/$id")
	p=$(jq -r '.progress // empty' <<<"$job")
	[[ $p =~ ^[0-9]+$ ]] && [ "$p" -gt 0 ] && [ "$p" -lt 100 ] && [ "$(jq -r .status <<<"$job")" = running ] && seen=$p
	[ -z "$seen" ] && [[ ! $(jq -r .status <<<"$job") =~ ^(succeeded|failed)$ ]] || break
	sleep 0.2
done
expect_match "progress between 0 and 100 while running" '^[0-9]+$' "$seen"
job=$(job_wait "$id" 180)
expect_eq "long job succeeded" succeeded "$(jq -r .status <<<"$job")"
expect_eq "long job: progress 100 at the end" 100 "$(jq -r .progress <<<"$job")"

# a text file named .mp4 -> invalid_media, permanent, one attempt
key=$(upload "$MEDIA/text.mp4") || bail "cannot upload the text file"
id=$(submit_video "$key")
job=$(job_wait "$id" 60)
expect_eq "text file: failed" failed "$(jq -r .status <<<"$job")"
expect_eq "text file: invalid_media" invalid_media "$(jq -r .error.code <<<"$job")"
expect_eq "text file: permanent" true "$(jq -r .error.permanent <<<"$job")"
expect_eq "text file: one attempt" 1 "$(jq -r .attempts <<<"$job")"

done_testing
