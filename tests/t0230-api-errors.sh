#!/usr/bin/env bash
# t0230 — spool-api error answers: status, code, the field named, headers.
. "$(dirname "$0")/lib.sh"

U=$SPOOL_API_URL
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"
AUTH=(-H "Authorization: Bearer $SPOOL_API_KEY")
JSON=(-H 'Content-Type: application/json')

# err WHAT STATUS CODE FIELD CURL-ARGS...: status, error.code, error.field ("-" none)
err() {
	local what=$1 st=$2 code=$3 field=$4
	shift 4
	expect_status "$what: $st" "$st" -D "$T_TMP/h" "$@"
	local got
	got=$(jq -r '[.error.code, (.error.field // "-"), (.error.request_id|length > 0|tostring)]|join(" ")' <<<"$BODY" 2>&1)
	expect_eq "$what: code and field" "$code $field true" "$got"
	expect_match "$what: JSON content type" $'Content-Type: application/json; charset=utf-8\r' "$(cat "$T_TMP/h")"
}

err "malformed JSON" 400 bad_request - "${AUTH[@]}" "${JSON[@]}" -d '{"type":' "$U/v1/jobs"
err "JSON array body" 400 bad_request - "${AUTH[@]}" "${JSON[@]}" -d '[1]' "$U/v1/jobs"
err "empty body" 400 bad_request - "${AUTH[@]}" "${JSON[@]}" -X POST "$U/v1/jobs"
err "unknown type" 422 invalid type "${AUTH[@]}" "${JSON[@]}" -d '{"type":"bogus"}' "$U/v1/jobs"
expect_match "the message names the field" "type" "$(jq -r .error.message <<<"$BODY")"
err "missing type" 422 invalid type "${AUTH[@]}" "${JSON[@]}" -d '{}' "$U/v1/jobs"
err "probe without source" 422 invalid source "${AUTH[@]}" "${JSON[@]}" -d '{"type":"media.probe"}' "$U/v1/jobs"
err "source key with .." 422 invalid source.key "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"media.probe","source":{"key":"uploads/demo/../other/x"}}' "$U/v1/jobs"
err "source key of another tenant" 422 invalid source.key "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"media.probe","source":{"key":"uploads/someone-else/x.mp4"}}' "$U/v1/jobs"
err "source key not a string" 422 invalid source.key "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"media.probe","source":{"key":5}}' "$U/v1/jobs"
err "params not an object" 422 invalid params "${AUTH[@]}" "${JSON[@]}" -d '{"type":"noop","params":3}' "$U/v1/jobs"
err "bad transcode height" 422 invalid params.height "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"video.transcode","source":{"key":"uploads/demo/x.mp4"},"params":{"height":7}}' "$U/v1/jobs"
err "http callback_url" 422 invalid callback_url "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"noop","callback_url":"http://example.com/hook"}' "$U/v1/jobs"
err "ftp callback_url" 422 invalid callback_url "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"noop","callback_url":"ftp://example.com/hook"}' "$U/v1/jobs"
err "loopback callback_url" 422 invalid callback_url "${AUTH[@]}" "${JSON[@]}" \
	-d '{"type":"noop","callback_url":"https://127.0.0.1/hook"}' "$U/v1/jobs"

long=$(head -c 201 /dev/zero | tr '\0' k)
err "Idempotency-Key over 200 chars" 400 bad_request Idempotency-Key "${AUTH[@]}" "${JSON[@]}" \
	-H "Idempotency-Key: $long" -d '{"type":"noop"}' "$U/v1/jobs"

err "text/plain body" 415 unsupported_media_type - "${AUTH[@]}" -H 'Content-Type: text/plain' -d 'x' "$U/v1/jobs"
err "no Content-Type" 415 unsupported_media_type - "${AUTH[@]}" -H 'Content-Type:' --data-binary x "$U/v1/jobs"

max=$(sed -n 's/^max_body *= *//p' "$SPOOL_API_CONFIG" | head -n1)
big=$T_TMP/big.json
head -c $((1024 * 1024)) /dev/zero | tr '\0' a >"$big"
err "1 MiB body (Content-Length)" 413 too_large - "${AUTH[@]}" "${JSON[@]}" --data-binary @"$big" "$U/v1/jobs"
err "1 MiB body (chunked)" 413 too_large - "${AUTH[@]}" "${JSON[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$big" "$U/v1/jobs"
[ -z "$max" ] || ok "(max_body is $max in the config)"
# A huge declared length is refused without the body being sent.
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${AUTH[@]}" "${JSON[@]}" \
	-H 'Content-Length: 10000000000' -H 'Expect: 100-continue' -X POST "$U/v1/jobs" 2>/dev/null || true)
expect_eq "10 GB declared body is refused at once" 413 "$st"

err "PUT /v1/jobs" 405 method_not_allowed - "${AUTH[@]}" -X PUT "$U/v1/jobs"
expect_match "Allow lists the methods" $'Allow: GET, HEAD, POST\r' "$(cat "$T_TMP/h")"
err "POST /health" 405 method_not_allowed - -X POST "$U/health"
expect_match "Allow for /health" $'Allow: GET, HEAD\r' "$(cat "$T_TMP/h")"
err "PATCH a job" 405 method_not_allowed - "${AUTH[@]}" -X PATCH "$U/v1/jobs/00000000-0000-4000-8000-000000000000"
expect_match "Allow for a job" $'Allow: GET, HEAD, DELETE\r' "$(cat "$T_TMP/h")"

err "bad status filter" 400 bad_request status "${AUTH[@]}" "$U/v1/jobs?status=done"
err "bad type filter" 400 bad_request type "${AUTH[@]}" "$U/v1/jobs?type=bogus"
err "limit 0" 400 bad_request limit "${AUTH[@]}" "$U/v1/jobs?limit=0"
err "limit 101" 400 bad_request limit "${AUTH[@]}" "$U/v1/jobs?limit=101"
err "limit abc" 400 bad_request limit "${AUTH[@]}" "$U/v1/jobs?limit=abc"
err "bad cursor" 400 bad_request cursor "${AUTH[@]}" "$U/v1/jobs?cursor=not-a-cursor"
err "bad wait" 400 bad_request wait "${AUTH[@]}" "$U/v1/jobs/00000000-0000-4000-8000-000000000000?wait=x"

err "malformed job id" 404 not_found - "${AUTH[@]}" "$U/v1/jobs/not-a-uuid"
err "missing job" 404 not_found - "${AUTH[@]}" "$U/v1/jobs/00000000-0000-4000-8000-000000000000"
err "missing job result" 404 not_found - "${AUTH[@]}" "$U/v1/jobs/00000000-0000-4000-8000-000000000000/result"
err "cancel missing job" 404 not_found - "${AUTH[@]}" -X DELETE "$U/v1/jobs/00000000-0000-4000-8000-000000000000"
err "unknown route" 404 not_found - "$U/v2/jobs"
# The path is quoted in the message; bytes that are not UTF-8 are written \xNN, so the message stays.
err "route that is not UTF-8" 404 not_found - "$U/v1/%FF%C0"
expect_eq "its message quotes the path with the bytes escaped" "no route for '/v1/\\xFF\\xC0'" "$(jq -r .error.message <<<"$BODY")"

done_testing
