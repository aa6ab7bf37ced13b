#!/usr/bin/env bash
# t0330 — [api] max_attempts, per job type: a new job's max_attempts comes from the
# map for the types it names and from default_max_attempts for the others, through
# POST /v1/jobs and POST /v1/videos alike; SIGHUP changes it; an unknown type in the
# map is a config error (exit 78) naming the file, line and item.
. "$(dirname "$0")/lib.sh"
. tests/data/second-api.sh

AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }

api2_start "default_max_attempts = 4" "max_attempts = media.probe=2, video.transcode = 7"
cfg=$T_TMP/api2.ini
log=$SPOOL_LOG_DIR/spool-api-$T_NAME.log

expect_status "a noop job: 202" 202 "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop","params":{"t":"t0330"}}' \
	"$API2_URL/v1/jobs"
expect_eq "noop is not in the map: default_max_attempts (4)" 4 "$(jq -r .max_attempts <<<"$BODY")"
id=$(json_id <<<"$BODY")
expect_eq "and so it is stored" 4 "$(sql -c "SELECT max_attempts FROM jobs WHERE id = '$id'")"
tenant=$(sql -c "SELECT tenant_id FROM jobs WHERE id = '$id'")

# The source need not exist for the answer (the worker will fail the job as
# source_not_found, which is permanent and does not matter here).
probe='{"type":"media.probe","source":{"key":"uploads/'$tenant'/t0330-missing.mp4"}}'
expect_status "a media.probe job: 202" 202 "${AUTH[@]}" "${JSON[@]}" -d "$probe" "$API2_URL/v1/jobs"
expect_eq "media.probe=2 from the map" 2 "$(jq -r .max_attempts <<<"$BODY")"
id=$(json_id <<<"$BODY")
expect_eq "and so it is stored" 2 "$(sql -c "SELECT max_attempts FROM jobs WHERE id = '$id'")"

head -c 4096 /dev/urandom >"$T_TMP/video.bin"
expect_status "POST /v1/videos: 202" 202 -X POST "${AUTH[@]}" -H 'Content-Type: application/octet-stream' \
	--data-binary @"$T_TMP/video.bin" "$API2_URL/v1/videos"
expect_eq "the video.transcode job it makes: video.transcode = 7 from the map" 7 "$(jq -r .max_attempts <<<"$BODY")"

expect_status "the stack's API (no map): a media.probe gets its default_max_attempts" 202 "${AUTH[@]}" \
	"${JSON[@]}" -d "$probe" "$SPOOL_API_URL/v1/jobs"
def=$(awk -F' *= *' '$1 == "default_max_attempts" { v = $2 } END { print v + 0 ? v : 5 }' "$SPOOL_API_CONFIG")
expect_eq "which is $def" "$def" "$(jq -r .max_attempts <<<"$BODY")"

# --- SIGHUP: the map is reloadable
mark=$(wc -l <"$log")
new_log() { tail -n +"$((mark + 1))" "$log"; }
sed -i 's/^max_attempts = .*/max_attempts = media.probe=3, noop=9/' "$cfg"
kill -HUP "$API2_PID"
for _ in $(seq 1 50); do new_log | grep -q "reload: configuration" && break; sleep 0.1; done
expect_match "the reload is logged" "reload: configuration '.*api2.ini' applied" "$(new_log)"
expect_status "after SIGHUP, media.probe: 202" 202 "${AUTH[@]}" "${JSON[@]}" -d "$probe" "$API2_URL/v1/jobs"
expect_eq "media.probe=3 now" 3 "$(jq -r .max_attempts <<<"$BODY")"
expect_status "after SIGHUP, noop: 202" 202 "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop","params":{"t":"t0330"}}' \
	"$API2_URL/v1/jobs"
expect_eq "noop=9 now" 9 "$(jq -r .max_attempts <<<"$BODY")"

# --- an unknown type is a config error: exit 78, file, line and item named
bad=$T_TMP/bad.ini
sed 's/^max_attempts = .*/max_attempts = noop=2, bogus.type=3/' "$cfg" >"$bad"
line=$(grep -n '^max_attempts = ' "$bad" | cut -d: -f1)
out=$(bin/spool-api -n -c "$bad" 2>&1)
rc=$?
expect_eq "spool-api -n with max_attempts = noop=2, bogus.type=3: exit 78" 78 "$rc"
expect_match "the message names the file, line, key and item" \
	"config: '$bad' line $line: key 'max_attempts' in \[api\]: item 'bogus.type=3': unknown job type 'bogus.type'" \
	"$out"
sed 's/^max_attempts = .*/max_attempts = noop=0/' "$cfg" >"$bad"
out=$(bin/spool-api -n -c "$bad" 2>&1)
rc=$?
expect_eq "max_attempts = noop=0: exit 78" 78 "$rc"
expect_match "out of range, naming the item" "item 'noop=0': 0 is out of range \[1, 100\]" "$out"
out=$(bin/spool-api -n -c "$cfg" 2>&1)
expect_eq "the good config passes spool-api -n" 0 "$?"

done_testing
