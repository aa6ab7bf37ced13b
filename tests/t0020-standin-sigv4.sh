#!/usr/bin/env bash
# The AWS stand-in checks SigV4 like AWS: wrong keys, tampered presigned URLs and
# expired ones are refused; CloudWatch keeps what is put.
. "$(dirname "$0")/lib.sh"

# --- a wrong secret key: 403 for each service, in that service's own error format
out=$(py "
import os, boto3, botocore.config, botocore.exceptions
os.environ['AWS_SECRET_ACCESS_KEY'] = 'wrong' + os.environ['AWS_SECRET_ACCESS_KEY'][5:]
def code(f):
    try:
        f()
        return 'no error'
    except botocore.exceptions.ClientError as e:
        return '%s %s' % (e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code'])
sm = $(boto3_client secretsmanager)
print('secretsmanager', code(lambda: sm.get_secret_value(SecretId=os.environ['SPOOL_DB_SECRET_ARN'])))
cw = $(boto3_client cloudwatch)
print('monitoring', code(lambda: cw.list_metrics(Namespace='Spool')))
s3 = $(boto3_client s3)
print('s3', code(lambda: s3.head_object(Bucket=os.environ['SPOOL_S3_BUCKET'], Key='nothing')))
print('s3get', code(lambda: s3.list_objects_v2(Bucket=os.environ['SPOOL_S3_BUCKET'])))
" 2>&1)
expect_match "secretsmanager: wrong secret key -> 403 InvalidSignatureException" "secretsmanager 403 InvalidSignatureException" "$out"
expect_match "monitoring: wrong secret key -> 403 SignatureDoesNotMatch" "monitoring 403 SignatureDoesNotMatch" "$out"
expect_match "s3: wrong secret key -> 403 (HEAD)" "s3 403" "$out"
expect_match "s3: wrong secret key -> 403 SignatureDoesNotMatch" "s3get 403 SignatureDoesNotMatch" "$out"

out=$(py "
import os, boto3, botocore.config, botocore.exceptions
os.environ['AWS_ACCESS_KEY_ID'] = 'AKIANOSUCHKEY0000000'
def code(f):
    try:
        f(); return 'no error'
    except botocore.exceptions.ClientError as e:
        return '%s %s' % (e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code'])
print('secretsmanager', code(lambda: $(boto3_client secretsmanager).list_secrets()))
print('monitoring', code(lambda: $(boto3_client cloudwatch).list_metrics()))
print('s3', code(lambda: $(boto3_client s3).list_objects_v2(Bucket=os.environ['SPOOL_S3_BUCKET'])))
" 2>&1)
expect_match "unknown access key: secretsmanager UnrecognizedClientException" "secretsmanager 403 UnrecognizedClientException" "$out"
expect_match "unknown access key: monitoring InvalidClientTokenId" "monitoring 403 InvalidClientTokenId" "$out"
expect_match "unknown access key: s3 InvalidAccessKeyId" "s3 403 InvalidAccessKeyId" "$out"

# --- unsigned requests
expect_status "unsigned S3 GET -> 403" 403 "$SPOOL_S3_ENDPOINT/$SPOOL_S3_BUCKET/"
expect_match "unsigned S3 GET -> AccessDenied XML" "<Code>AccessDenied</Code>" "$BODY"
expect_status "unsigned Secrets Manager call -> 403" 403 -X POST -H 'X-Amz-Target: secretsmanager.ListSecrets' \
	-H 'Content-Type: application/x-amz-json-1.1' -d '{}' "$SPOOL_AWS_ENDPOINT/"
expect_eq "unsigned Secrets Manager call -> JSON __type" MissingAuthenticationTokenException "$(jq -r .__type <<<"$BODY")"
expect_status "unsigned CloudWatch call -> 403" 403 -X POST -d 'Action=ListMetrics&Version=2010-08-01' "$SPOOL_AWS_ENDPOINT/"
expect_match "unsigned CloudWatch call -> XML ErrorResponse" "<ErrorResponse.*<Code>MissingAuthenticationToken</Code>" "$BODY"

# --- presigned URLs made by boto3, used with curl
key="t0020/$$-hello world.txt"
urls=$(py "
import os, sys, boto3, botocore.config
s3 = $(boto3_client s3)
b = os.environ['SPOOL_S3_BUCKET']
s3.put_object(Bucket=b, Key=sys.argv[1], Body=b'hello presigned\n')
print(s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': sys.argv[1]}, ExpiresIn=300))
print(s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': sys.argv[1]}, ExpiresIn=1))
print(s3.generate_presigned_url('put_object', Params={'Bucket': b, 'Key': sys.argv[1] + '.put'}, ExpiresIn=300))
" "$key" 2>&1)
get_url=$(sed -n 1p <<<"$urls")
short_url=$(sed -n 2p <<<"$urls")
put_url=$(sed -n 3p <<<"$urls")
at_exit "py \"import os, boto3, botocore.config; s3 = $(boto3_client s3); [s3.delete_object(Bucket=os.environ['SPOOL_S3_BUCKET'], Key=k) for k in ('$key', '$key.put')]\""
expect_match "boto3 made presigned URLs" "^http://.*X-Amz-Signature=" "$get_url"

expect_status "presigned GET works with curl" 200 "$get_url"
expect_eq "presigned GET returns the object" "hello presigned" "$BODY"
expect_status "presigned PUT works with curl" 200 -X PUT --data-binary 'put by curl' "$put_url"
expect_status "object put by presigned URL is there (signed GET)" 200 "$(py "
import os, sys, boto3, botocore.config
print($(boto3_client s3).generate_presigned_url('get_object', Params={'Bucket': os.environ['SPOOL_S3_BUCKET'], 'Key': sys.argv[1]}, ExpiresIn=60))" "$key.put")"
expect_eq "presigned PUT stored the body" "put by curl" "$BODY"

tampered_path=${get_url/hello%20world/hello%20World}
expect_status "tampered path -> 403" 403 "$tampered_path"
expect_match "tampered path -> SignatureDoesNotMatch" "<Code>SignatureDoesNotMatch</Code>" "$BODY"
expect_status "tampered query (extra parameter) -> 403" 403 "$get_url&response-content-type=text%2Fhtml"
expect_status "tampered expiry -> 403" 403 "${get_url/X-Amz-Expires=300/X-Amz-Expires=600}"
expect_match "tampered expiry -> SignatureDoesNotMatch" "<Code>SignatureDoesNotMatch</Code>" "$BODY"
sig=${get_url##*X-Amz-Signature=}
bad_sig=$(printf '%s' "$sig" | tr '0-9a-f' '1-9a-f0')
expect_status "tampered signature -> 403" 403 "${get_url%%X-Amz-Signature=*}X-Amz-Signature=$bad_sig"
expect_status "presigned GET with the method changed to DELETE -> 403" 403 -X DELETE "$get_url"

sleep 2
expect_status "expired presigned URL (expires=1, 2 s later) -> 403" 403 "$short_url"
expect_match "expired presigned URL -> AccessDenied 'Request has expired'" "<Code>AccessDenied</Code><Message>Request has expired" "$BODY"

# --- CloudWatch: PutMetricData, then GetMetricData and ListMetrics see it
ns="SpoolTest$$"
out=$(py "
import os, sys, time, datetime, boto3, botocore.config
cw = $(boto3_client cloudwatch)
ns = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc).replace(second=30, microsecond=0)
dims = [{'Name': 'queue', 'Value': 'spool.jobs'}]
cw.put_metric_data(Namespace=ns, MetricData=[
    {'MetricName': 'JobsDone', 'Dimensions': dims, 'Timestamp': now, 'Value': 3, 'Unit': 'Count'},
    {'MetricName': 'JobsDone', 'Dimensions': dims, 'Timestamp': now, 'Value': 5, 'Unit': 'Count'},
    {'MetricName': 'JobsDone', 'Dimensions': dims, 'Timestamp': now,
     'StatisticValues': {'SampleCount': 2, 'Sum': 10, 'Minimum': 1, 'Maximum': 9}, 'Unit': 'Count'},
    {'MetricName': 'Latency', 'Timestamp': now, 'Values': [0.5, 1.5], 'Counts': [1, 3], 'Unit': 'Seconds'},
])
q = lambda i, name, stat, d: {'Id': i, 'MetricStat': {'Metric': {'Namespace': ns, 'MetricName': name, 'Dimensions': d}, 'Period': 60, 'Stat': stat}}
r = cw.get_metric_data(StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
    MetricDataQueries=[q('sum', 'JobsDone', 'Sum', dims), q('avg', 'JobsDone', 'Average', dims),
                       q('mn', 'JobsDone', 'Minimum', dims), q('mx', 'JobsDone', 'Maximum', dims),
                       q('n', 'JobsDone', 'SampleCount', dims), q('lat', 'Latency', 'Average', []),
                       q('other', 'JobsDone', 'Sum', [{'Name': 'queue', 'Value': 'other'}])])
for m in r['MetricDataResults']:
    print(m['Id'], ','.join('%g' % v for v in m['Values']), len(m['Timestamps']))
names = sorted('%s:%s' % (m['MetricName'], ','.join(d['Name'] + '=' + d['Value'] for d in m['Dimensions']))
               for m in cw.list_metrics(Namespace=ns)['Metrics'])
print('list', ' '.join(names))
" "$ns" 2>&1)
expect_match "GetMetricData Sum" "sum 18 1" "$out"
expect_match "GetMetricData Average" "avg 4.5 1" "$out"
expect_match "GetMetricData Minimum" "mn 1 1" "$out"
expect_match "GetMetricData Maximum" "mx 9 1" "$out"
expect_match "GetMetricData SampleCount" "n 4 1" "$out"
expect_match "GetMetricData Average over Values/Counts" "lat 1.25 1" "$out"
expect_match "GetMetricData with other dimensions is empty" "other  0" "$out"
expect_match "ListMetrics lists both metrics" "list JobsDone:queue=spool.jobs Latency:" "$out"

# --- multipart uploads: tracked by the front (s3rver has no List/Abort)
out=$(py "
import os, sys, boto3, botocore.config, botocore.exceptions
s3 = $(boto3_client s3)
b = os.environ['SPOOL_S3_BUCKET']; k = sys.argv[1]
up = s3.create_multipart_upload(Bucket=b, Key=k)['UploadId']
ids = [u['UploadId'] for u in s3.list_multipart_uploads(Bucket=b, Prefix=k).get('Uploads', [])]
print('listed', up in ids)
p = s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=1, Body=b'x' * (5 * 1024 * 1024))
print('parts', [(x['PartNumber'], x['Size']) for x in s3.list_parts(Bucket=b, Key=k, UploadId=up)['Parts']])
s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=up)
print('after abort', len(s3.list_multipart_uploads(Bucket=b, Prefix=k).get('Uploads', [])))
up = s3.create_multipart_upload(Bucket=b, Key=k)['UploadId']
e1 = s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=1, Body=b'a' * (5 * 1024 * 1024))['ETag']
e2 = s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=2, Body=b'b' * 10)['ETag']
s3.complete_multipart_upload(Bucket=b, Key=k, UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e1}, {'PartNumber': 2, 'ETag': e2}]})
print('after complete', len(s3.list_multipart_uploads(Bucket=b, Prefix=k).get('Uploads', [])), s3.head_object(Bucket=b, Key=k)['ContentLength'])
try:
    s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=up); print('abort again: no error')
except botocore.exceptions.ClientError as e:
    print('abort again', e.response['Error']['Code'])
s3.delete_object(Bucket=b, Key=k)
" "t0020/$$-multipart.bin" 2>&1)
expect_match "CreateMultipartUpload is listed by ListMultipartUploads" "listed True" "$out"
expect_match "ListParts shows the uploaded part" "parts \\[\\(1, 5242880\\)\\]" "$out"
expect_match "AbortMultipartUpload leaves no upload" "after abort 0" "$out"
expect_match "CompleteMultipartUpload leaves no upload, object complete" "after complete 0 5242890" "$out"
expect_match "aborting a finished upload -> NoSuchUpload" "abort again NoSuchUpload" "$out"

# the stand-in logs requests but no signatures nor secret values
if grep -qE 'X-Amz-Signature|Signature=|AWS4-HMAC' "$SPOOL_LOG_DIR/aws-standin.log" ||
	grep -qF "$AWS_SECRET_ACCESS_KEY" "$SPOOL_LOG_DIR/aws-standin.log"; then
	fail "stand-in log holds no signatures or keys"
else
	ok "stand-in log holds no signatures or keys"
fi

done_testing
