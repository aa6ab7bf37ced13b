#!/usr/bin/env bash
# The README's main job (make demo): scripts/demo.sh end to end against the stack.
. tests/lib.sh

out=$(scripts/demo.sh 2>"$T_TMP/err")
rc=$?
expect_eq "scripts/demo.sh exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || printf '%s\n' "$(tail -n 5 "$T_TMP/err")" | sed 's/^/#   /'
summary=$(sed -n '/^ffprobe summary/{n;p}' <<<"$out")
expect_eq "the demo's result is a 1280x720 H.264 video without audio" \
	'h264 1280 720 1' \
	"$(jq -r '[.streams[] | select(.codec_type == "video") | .codec_name, .width, .height] + [(.streams | length)] | join(" ")' <<<"$summary" 2>/dev/null)"
expect_match "the downloaded file's sha256 is the one the job recorded" \
	'sha256 ([0-9a-f]{16})…, job says \1…' "$(cat "$T_TMP/err")"

done_testing
