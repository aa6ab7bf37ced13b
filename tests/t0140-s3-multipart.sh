#!/usr/bin/env bash
# A 20 MiB file goes up as a multipart upload and comes back byte for byte.
. "$(dirname "$0")/lib.sh"

S3T=${S3TOOL:-bin/tools/s3tool}
: "${SPOOL_S3_BUCKET:=spool-local}" "${SPOOL_LOG_DIR:=.run/log}"
export SPOOL_S3_BUCKET
key=tests/t0140-$$/big.bin
head -c $((20 * 1024 * 1024)) /dev/urandom >"$T_TMP/big"
check "put 20 MiB (over multipart_threshold)" $S3T put "$key" "$T_TMP/big"
at_exit "$S3T rm '$key'"

meta=$($S3T head "$key")
expect_eq "head: size" $((20 * 1024 * 1024)) "$(printf '%s' "$meta" | jq -r .size)"
# 20 MiB in 8 MiB parts = 3 parts. AWS shows it in the ETag ("…-3"); s3rver does not,
# so count the UploadPart requests in the stand-in's log instead.
etag=$(printf '%s' "$meta" | jq -r .etag)
parts=$(grep -c "UploadPart /$SPOOL_S3_BUCKET/$key?" "$SPOOL_LOG_DIR/aws-standin.log" 2>/dev/null)
if [[ $etag == *-3 ]] || [ "${parts:-0}" -eq 3 ]; then
	ok "it went up as a 3-part multipart upload"
else
	fail "it went up as a 3-part multipart upload" "etag $etag, UploadPart requests logged: ${parts:-none}"
fi

check "get it back" $S3T get "$key" "$T_TMP/back"
check "byte-identical (cmp)" cmp "$T_TMP/big" "$T_TMP/back"
expect_eq "sha256 matches" "$(sha256sum <"$T_TMP/big" | cut -d' ' -f1)" "$(sha256sum <"$T_TMP/back" | cut -d' ' -f1)"

# an independent client sees the same object
size=$(py "
import os, boto3, botocore.config
s3 = $(boto3_client s3)
print(s3.head_object(Bucket=os.environ['SPOOL_S3_BUCKET'], Key='$key')['ContentLength'])")
expect_eq "boto3 head_object: same size" $((20 * 1024 * 1024)) "$size"

check "rm" $S3T rm "$key"
$S3T head "$key" >/dev/null 2>&1; rc=$?
expect_eq "head after rm: not found (3)" 3 "$rc"
$S3T get "$key" "$T_TMP/none" >/dev/null 2>&1; rc=$?
expect_eq "get after rm: fails" 1 "$rc"
if [ -e "$T_TMP/none" ]; then fail "a failed get leaves no file"; else ok "a failed get leaves no file"; fi

done_testing
