#!/usr/bin/env bash
# SIGHUP reloads spool-api's reloadable limits into a fresh config, swapped only
# when the file is valid: max_upload and max_body change at run time, an invalid
# edit is refused with the error logged and the old limits kept.
. tests/lib.sh
. tests/data/second-api.sh

api2_start "max_upload = 2M" "max_body = 64K"
cfg=$T_TMP/api2.ini
log=$SPOOL_LOG_DIR/spool-api-$T_NAME.log
auth=(-H "Authorization: Bearer $SPOOL_API_KEY")
# the log is appended to across runs: look only at what this run adds
new_log() { tail -n +"$((mark + 1))" "$log"; }
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T_TMP/3m.bin"

expect_status "3 MiB over a 2 MiB max_upload: 413" 413 -X POST "${auth[@]}" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T_TMP/3m.bin" "$API2_URL/v1/videos"

sed -i 's/^max_upload = 2M$/max_upload = 4M/' "$cfg"
mark=$(wc -l <"$log")
kill -HUP "$API2_PID"
for _ in $(seq 1 50); do new_log | grep -q "reload: configuration" && break; sleep 0.1; done
expect_match "the reload is logged" "reload: configuration '.*api2.ini' applied" "$(new_log)"
expect_status "after SIGHUP with max_upload = 4M the same body is accepted: 202" 202 -X POST "${auth[@]}" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T_TMP/3m.bin" "$API2_URL/v1/videos"

sed -i 's/^max_upload = 4M$/max_upload = lots/' "$cfg"
mark=$(wc -l <"$log")
kill -HUP "$API2_PID"
for _ in $(seq 1 50); do new_log | grep -q "max_upload.*not a size" && break; sleep 0.1; done
expect_match "an invalid edit is refused, naming the key" "key 'max_upload' in \[api\]: 'lots' is not a size" "$(new_log)"
expect_status "and the old limits stay: still 202" 202 -X POST "${auth[@]}" \
	-H 'Content-Type: application/octet-stream' --data-binary @"$T_TMP/3m.bin" "$API2_URL/v1/videos"
check "the API is still serving" curl -fsS -o /dev/null "$API2_URL/health"

done_testing
