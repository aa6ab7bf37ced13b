#!/usr/bin/env bash
# demo.sh — the README's main job against the local stack (make demo): upload a
# generated 1080p clip through a presigned URL, submit a video.transcode job, wait
# for it, follow the result redirect to the presigned S3 URL, download the 720p
# result and print its ffprobe summary.
#   scripts/demo.sh            (after scripts/stack.sh up)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'demo: %s\n' "$*" >&2; }

[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run 'make up' (scripts/stack.sh up) first"
set -a
# shellcheck disable=SC1091
. "$RUN/stack.env"
set +a
U=${SPOOL_API_URL:?}
[ -n "${SPOOL_API_KEY:-}" ] || die "SPOOL_API_KEY is empty in $RUN/stack.env (adminctl keys create failed?)"
for t in curl jq ffmpeg ffprobe; do command -v "$t" >/dev/null || die "'$t' is not installed (scripts/deps.sh)"; done
curl -fsS -o /dev/null --max-time 5 "$U/health" || die "spool-api does not answer on $U (scripts/stack.sh status)"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")

# api METHOD PATH [curl args]: JSON body to stdout; dies on a status >= 400 with the error
api() {
	local m=$1 p=$2 out st
	shift 2
	out=$(mktemp)
	st=$(curl -sS -o "$out" -w '%{http_code}' --max-time 90 -X "$m" "${AUTH[@]}" "$@" "$U$p") ||
		{ rm -f "$out"; die "$m $p: request failed"; }
	if [ "$st" -ge 400 ]; then
		local msg
		msg=$(jq -r '.error | "\(.code): \(.message) (request \(.request_id))"' "$out" 2>/dev/null || cat "$out")
		rm -f "$out"
		die "$m $p: HTTP $st $msg"
	fi
	cat "$out"
	rm -f "$out"
}

mkdir -p "$RUN/tmp"
clip=$RUN/tmp/demo-clip.mp4
say "making a 6 s 1920x1080 test clip with sound: $clip"
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=25:duration=6 \
	-f lavfi -i sine=frequency=440:duration=6 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
	-c:a aac -shortest "$clip" || die "ffmpeg could not make the clip"

up=$(api POST /v1/uploads -H 'Content-Type: application/json' -d "{\"size\": $(stat -c %s "$clip")}")
key=$(jq -r .key <<<"$up")
url=$(jq -r .url <<<"$up")
say "uploading $(jq -r .size <<<"$up") bytes to $key (presigned PUT for exactly that Content-Length, expires $(jq -r .expires_at <<<"$up"))"
curl -fsS -o /dev/null -T "$clip" "$url" || die "upload to the presigned URL failed"

job=$(api POST /v1/jobs -H 'Content-Type: application/json' \
	-d "$(jq -cn --arg k "$key" '{type:"video.transcode",source:{key:$k},params:{height:720,max_duration:30}}')")
id=$(jq -r .id <<<"$job")
say "submitted video.transcode job $id"

status=
for _ in $(seq 1 10); do
	job=$(api GET "/v1/jobs/$id?wait=30")
	status=$(jq -r .status <<<"$job")
	case $status in succeeded | failed | cancelled) break ;; esac
	say "job $id is $status ($(jq -r '.progress // 0' <<<"$job")%), waiting"
done
case $status in
succeeded) say "job $id succeeded (attempts $(jq -r .attempts <<<"$job"))" ;;
failed) die "job $id failed: $(jq -c .error <<<"$job")" ;;
*) die "job $id did not finish (status '$status')" ;;
esac

# The 302 points at a presigned S3 URL: follow it without the API key.
loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "${AUTH[@]}" "$U/v1/jobs/$id/result") ||
	die "GET /v1/jobs/$id/result failed"
[ "${loc%% *}" = 302 ] || die "GET /v1/jobs/$id/result answered ${loc%% *}, not 302"
say "result: 302 to a presigned GET"
out=$RUN/tmp/demo-result.mp4
curl -fsS --max-time 60 -o "$out" "${loc#* }" || die "could not fetch the result of job $id from S3"
say "downloaded $(stat -c %s "$out") bytes to $out (sha256 $(sha256sum "$out" | cut -c1-16)…, job says $(jq -r '.result.sha256[0:16]' <<<"$job")…)"
say "thumbnail: $(jq -r '.result.outputs.thumbnail.key' <<<"$job")"
echo "ffprobe summary of the result:"
ffprobe -v error -show_entries format=format_name,duration:stream=index,codec_type,codec_name,width,height,pix_fmt \
	-of json "$out" | jq -c '{format: .format.format_name, duration: (.format.duration | tonumber),
	streams: [.streams[] | {codec_type, codec_name, width, height, pix_fmt} | with_entries(select(.value != null))]}'
echo "result.meta from the job:"
jq -c .result.meta <<<"$job"
