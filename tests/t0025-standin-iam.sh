#!/usr/bin/env bash
# The AWS stand-in enforces IAM on role keys (scripts/aws-standin/iam.js), checked with
# boto3 and curl as independent clients:
#  - the stack's spool-api and spool-worker run with the keys of the template's ApiRole
#    and WorkerRole, and what their policies leave out is refused, in each service's
#    own AccessDenied (S3 403 XML, Secrets Manager 400 JSON, CloudWatch 403 Query XML),
#    presigned URLs included, and what they do is allowed (the API deletes the upload of
#    a replayed POST /v1/videos);
#  - on a second stand-in with policies of this test's own: an explicit Deny wins over
#    an Allow, s3:prefix and cloudwatch:namespace conditions, a missing object 404
#    NoSuchKey only with s3:ListBucket on the bucket and 403 AccessDenied without, and a
#    condition the stand-in cannot evaluate never allows and always denies (logged).
. "$(dirname "$0")/lib.sh"

KEYS=$SPOOL_RUN_DIR/secrets/iam-keys
[ -s "$KEYS" ] || bail "no $KEYS: the stack runs no role keys"
api_ak=$(awk '$3=="ApiRole"{print $1}' "$KEYS")
api_sk=$(awk '$3=="ApiRole"{print $2}' "$KEYS")
wrk_ak=$(awk '$3=="WorkerRole"{print $1}' "$KEYS")
wrk_sk=$(awk '$3=="WorkerRole"{print $2}' "$KEYS")
[ -n "$api_ak" ] && [ -n "$wrk_ak" ] || bail "no ApiRole / WorkerRole key in $KEYS"
export API_AK=$api_ak API_SK=$api_sk WRK_AK=$wrk_ak WRK_SK=$wrk_sk

# --- the daemons run with the role keys, and the stand-in saw them as those roles
key_of() { tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | sed -n 's/^AWS_ACCESS_KEY_ID=//p'; }
api_pid=$(cat "$SPOOL_RUN_DIR/pids/spool-api.pid" 2>/dev/null)
wrk_pid=$(cat "$SPOOL_RUN_DIR/pids/spool-worker.pid" 2>/dev/null)
expect_eq "spool-api runs with the ApiRole key" "$api_ak" "$(key_of "$api_pid")"
expect_eq "spool-worker runs with the WorkerRole key" "$wrk_ak" "$(key_of "$wrk_pid")"
check "spool-api and spool-worker configs read S3 with the role key (no credentials_secret)" \
	sh -c "! grep -q credentials_secret '$SPOOL_API_CONFIG' '$SPOOL_WORKER_CONFIG'"
expect_status "/ready: storage ok as ApiRole (HeadBucket = s3:ListBucket on the bucket)" 200 "$SPOOL_API_URL/ready"
check "the stand-in served ApiRole and WorkerRole requests" \
	sh -c "grep -q 'role=ApiRole' '$SPOOL_LOG_DIR/aws-standin.log' && grep -q 'role=WorkerRole' '$SPOOL_LOG_DIR/aws-standin.log'"

# shared by both halves: a client per key, the error of a call
PYLIB="
import os, sys, json, boto3, botocore.config, botocore.exceptions
def client(svc, ak, sk, ep=None):
    cfg = botocore.config.Config(retries={'max_attempts': 1}, s3={'addressing_style': 'path'}, signature_version='s3v4') if svc == 's3' else botocore.config.Config(retries={'max_attempts': 1})
    return boto3.client(svc, endpoint_url=ep or os.environ['SPOOL_AWS_ENDPOINT'], region_name='us-east-1',
                        aws_access_key_id=ak, aws_secret_access_key=sk, config=cfg)
def code(f):
    try:
        f()
        return 'ok'
    except botocore.exceptions.ClientError as e:
        r = e.response
        return '%s %s %s' % (r['ResponseMetadata']['HTTPStatusCode'], r['Error'].get('Code'), r['Error'].get('Message', ''))
B = os.environ['SPOOL_S3_BUCKET']
"

# --- the stack's roles, as the template writes them
prefix="t0025-$$"
at_exit "py \"$PYLIB
s3 = client('s3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
for k in ('uploads/$prefix/src', 'results/$prefix/out', 'archive/jobs/$prefix.jsonl.gz'):
    s3.delete_object(Bucket=B, Key=k)\""
out=$(py "$PYLIB
admin = client('s3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
admin.put_object(Bucket=B, Key='uploads/$prefix/src', Body=b'source')
admin.put_object(Bucket=B, Key='results/$prefix/out', Body=b'result')
api_s3 = client('s3', os.environ['API_AK'], os.environ['API_SK'])
wrk_s3 = client('s3', os.environ['WRK_AK'], os.environ['WRK_SK'])
print('api-get-upload', code(lambda: api_s3.get_object(Bucket=B, Key='uploads/$prefix/src')))
print('api-put-result', code(lambda: api_s3.put_object(Bucket=B, Key='results/$prefix/other', Body=b'x')))
print('wrk-put-result', code(lambda: wrk_s3.put_object(Bucket=B, Key='results/$prefix/out', Body=b'result')))
print('wrk-put-archive', code(lambda: wrk_s3.put_object(Bucket=B, Key='archive/jobs/$prefix.jsonl.gz', Body=b'x')))
print('wrk-get-archive', code(lambda: wrk_s3.get_object(Bucket=B, Key='archive/jobs/$prefix.jsonl.gz')))
print('api-put-archive', code(lambda: api_s3.put_object(Bucket=B, Key='archive/jobs/$prefix.jsonl.gz', Body=b'x')))
print('wrk-put-upload', code(lambda: wrk_s3.put_object(Bucket=B, Key='uploads/$prefix/src', Body=b'x')))
print('wrk-get-outside', code(lambda: wrk_s3.get_object(Bucket=B, Key='elsewhere/$prefix')))
print('wrk-missing-source', code(lambda: wrk_s3.get_object(Bucket=B, Key='uploads/$prefix/missing')))
print('wrk-delete', code(lambda: wrk_s3.delete_object(Bucket=B, Key='results/$prefix/out')))
print('api-put-url', api_s3.generate_presigned_url('put_object', Params={'Bucket': B, 'Key': 'results/$prefix/by-url'}, ExpiresIn=300))
print('api-get-url', api_s3.generate_presigned_url('get_object', Params={'Bucket': B, 'Key': 'results/$prefix/out'}, ExpiresIn=300))
api_sm = client('secretsmanager', os.environ['API_AK'], os.environ['API_SK'])
wrk_sm = client('secretsmanager', os.environ['WRK_AK'], os.environ['WRK_SK'])
print('api-pepper', code(lambda: api_sm.get_secret_value(SecretId=os.environ['SPOOL_PEPPER_SECRET_ARN'])))
print('wrk-db', code(lambda: wrk_sm.get_secret_value(SecretId=os.environ['SPOOL_DB_WORKER_SECRET_ARN'])))
print('wrk-master-db', code(lambda: wrk_sm.get_secret_value(SecretId=os.environ['SPOOL_DB_SECRET_ARN'])))
print('wrk-pepper', code(lambda: wrk_sm.get_secret_value(SecretId=os.environ['SPOOL_PEPPER_SECRET_ARN'])))
print('wrk-s3secret', code(lambda: wrk_sm.get_secret_value(SecretId=os.environ['SPOOL_S3_SECRET_ARN'])))
print('api-list-secrets', code(lambda: api_sm.list_secrets()))
for who, c in (('api', api_sm), ('wrk', wrk_sm)):
    for what in ('RABBITMQ', 'RABBITMQ_API', 'RABBITMQ_WORKER'):
        print(who + '-mq-' + what.lower(), code(lambda: c.get_secret_value(SecretId=os.environ['SPOOL_' + what + '_SECRET_ARN'])))
api_cw = client('cloudwatch', os.environ['API_AK'], os.environ['API_SK'])
print('api-metric-spool', code(lambda: api_cw.put_metric_data(Namespace='Spool', MetricData=[{'MetricName': 'T0025', 'Value': 1}])))
print('api-metric-other', code(lambda: api_cw.put_metric_data(Namespace='Other', MetricData=[{'MetricName': 'T0025', 'Value': 1}])))
print('api-list-metrics', code(lambda: api_cw.list_metrics(Namespace='Spool')))
" 2>&1)
expect_match "ApiRole reads uploads/" "api-get-upload ok" "$out"
expect_match "ApiRole may not write results/: 403 AccessDenied" "api-put-result 403 AccessDenied Access Denied" "$out"
expect_match "WorkerRole writes results/" "wrk-put-result ok" "$out"
expect_match "WorkerRole writes the archive (archive/)" "wrk-put-archive ok" "$out"
expect_match "WorkerRole may not read the archive back: 403 AccessDenied" "wrk-get-archive 403 AccessDenied" "$out"
expect_match "ApiRole may not write the archive: 403 AccessDenied" "api-put-archive 403 AccessDenied" "$out"
expect_match "WorkerRole may not write uploads/: 403 AccessDenied" "wrk-put-upload 403 AccessDenied" "$out"
expect_match "WorkerRole may not read outside its prefixes: 403 AccessDenied" "wrk-get-outside 403 AccessDenied" "$out"
expect_match "WorkerRole (s3:ListBucket): a missing source is 404 NoSuchKey" "wrk-missing-source 404 NoSuchKey" "$out"
expect_match "WorkerRole may not delete: 403 AccessDenied" "wrk-delete 403 AccessDenied" "$out"
expect_match "ApiRole reads the pepper" "api-pepper ok" "$out"
# the broker: each daemon its own user's secret; the API role the administrator's and the
# worker's too, for the first boot's bootstrap of the broker users
expect_match "ApiRole reads its own broker secret" "api-mq-rabbitmq_api ok" "$out"
expect_match "ApiRole reads the administrator's broker secret (the bootstrap)" "api-mq-rabbitmq ok" "$out"
expect_match "ApiRole reads the worker's broker secret (the bootstrap)" "api-mq-rabbitmq_worker ok" "$out"
expect_match "WorkerRole reads its own broker secret" "wrk-mq-rabbitmq_worker ok" "$out"
expect_match "WorkerRole may not read the administrator's broker secret" "wrk-mq-rabbitmq 400 AccessDeniedException" "$out"
expect_match "WorkerRole may not read the API's broker secret" "wrk-mq-rabbitmq_api 400 AccessDeniedException" "$out"
expect_match "WorkerRole reads its own database secret" "wrk-db ok" "$out"
expect_match "WorkerRole may not read the master database secret" "wrk-master-db 400 AccessDeniedException" "$out"
expect_match "WorkerRole may not read the pepper: 400 AccessDeniedException naming action and ARN" \
	"wrk-pepper 400 AccessDeniedException User: arn:aws:sts::[0-9]{12}:assumed-role/WorkerRole/[^ ]+ is not authorized to perform: secretsmanager:GetSecretValue on resource: ${SPOOL_PEPPER_SECRET_ARN} because no identity-based policy allows the secretsmanager:GetSecretValue action" "$out"
expect_match "WorkerRole may not read the stack's S3 key secret" "wrk-s3secret 400 AccessDeniedException" "$out"
expect_match "ApiRole may not list secrets" "api-list-secrets 400 AccessDeniedException .*secretsmanager:ListSecrets" "$out"
expect_match "ApiRole puts metrics in its namespace" "api-metric-spool ok" "$out"
expect_match "ApiRole may not put metrics in another namespace: 403 AccessDenied" \
	"api-metric-other 403 AccessDenied User: .*assumed-role/ApiRole/.* is not authorized to perform: cloudwatch:PutMetricData because no identity-based policy allows" "$out"
expect_match "ApiRole may not read metrics: 403 AccessDenied" "api-list-metrics 403 AccessDenied .*cloudwatch:ListMetrics" "$out"

# the raw answers, as AWS words them
put_url=$(sed -n 's/^api-put-url //p' <<<"$out")
get_url=$(sed -n 's/^api-get-url //p' <<<"$out")
expect_status "a presigned PUT signed by ApiRole to results/ is evaluated as ApiRole: 403" 403 -X PUT --data-binary x "$put_url"
expect_match "... with S3's XML <Code>AccessDenied</Code>" '^<\?xml[^>]*>.?<Error><Code>AccessDenied</Code><Message>Access Denied</Message>' "$BODY"
expect_status "a presigned GET signed by ApiRole of results/ works" 200 "$get_url"
expect_eq "... and returns the object" result "$BODY"
raw=$(py "$PYLIB
import botocore.awsrequest, botocore.auth, botocore.credentials, urllib.request
def raw(svc, body, headers):
    req = botocore.awsrequest.AWSRequest(method='POST', url=os.environ['SPOOL_AWS_ENDPOINT'] + '/', data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(os.environ['WRK_AK'], os.environ['WRK_SK']), svc, 'us-east-1').add_auth(req)
    p = req.prepare()
    try:
        r = urllib.request.urlopen(urllib.request.Request(p.url, data=p.body, headers=dict(p.headers), method='POST'))
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
st, b = raw('secretsmanager', json.dumps({'SecretId': os.environ['SPOOL_PEPPER_SECRET_ARN']}).encode(),
            {'X-Amz-Target': 'secretsmanager.GetSecretValue', 'Content-Type': 'application/x-amz-json-1.1'})
print('sm', st, json.loads(b)['__type'])
st, b = raw('monitoring', b'Action=PutMetricData&Version=2010-08-01&Namespace=Other&MetricData.member.1.MetricName=T0025&MetricData.member.1.Value=1',
            {'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'})
print('cw', st, b.replace(chr(10), ' '))
" 2>&1)
expect_match "Secrets Manager raw answer: 400, __type AccessDeniedException" "sm 400 AccessDeniedException" "$raw"
expect_match "CloudWatch raw answer: 403 Query XML ErrorResponse, Sender, AccessDenied" \
	'cw 403 <\?xml[^>]*> <ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code>' "$raw"

# --- POST /v1/videos replayed (Idempotency-Key): the API deletes the upload no job took
# (a tenant of its own, so that its uploads/ prefix is this test's alone)
TENANT=$prefix-videos
KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$TENANT" 2>/dev/null | head -n 1)
[ -n "$KEY" ] || bail "cannot create an API key with adminctl"
count_uploads() {
	py "$PYLIB
s3 = client('s3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
n = 0
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=B, Prefix='uploads/$TENANT/'):
    n += len(page.get('Contents', []))
print(n)"
}
head -c 4096 /dev/urandom >"$T_TMP/clip"
VIDEO=(-H "Authorization: Bearer $KEY" -H 'Content-Type: video/mp4' -H "Idempotency-Key: $prefix-replay"
	--data-binary @"$T_TMP/clip" "$SPOOL_API_URL/v1/videos")
expect_status "POST /v1/videos as ApiRole -> 202" 202 "${VIDEO[@]}"
expect_status "the same POST again -> 200, the job replayed" 200 "${VIDEO[@]}"
expect_eq "one upload kept: the replay's was deleted (s3:DeleteObject on uploads/)" 1 "$(count_uploads)"

# --- a second stand-in, with this test's roles
PORT=$((SPOOL_PORT_BASE + 25))
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && bail "port $PORT is in use"
D=$T_TMP/standin
mkdir -p "$D/iam"
printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T_TMP/admin-credentials"
mkkey() { printf 'AKIAT0025%s %s %s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F | cut -c1-11)" \
	"$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" "$1"; }
{ mkkey Reader; mkkey Lister; mkkey Odd; } >"$T_TMP/iam-keys"
BA="arn:aws:s3:::$SPOOL_S3_BUCKET"
cat >"$D/iam/Reader.json" <<EOF
{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "$BA/$prefix/*"},
 {"Effect": "Deny", "Action": "s3:*", "Resource": "$BA/$prefix/private/*"},
 {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "$BA", "Condition": {"StringLike": {"s3:prefix": "$prefix/*"}}},
 {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
 {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:$prefix/denied-*"},
 {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*", "Condition": {"StringLike": {"cloudwatch:namespace": "T0025*"}}},
 {"Effect": "Deny", "Action": "cloudwatch:PutMetricData", "Resource": "*", "Condition": {"StringEquals": {"cloudwatch:namespace": "T0025/Forbidden"}}}
]}
EOF
cat >"$D/iam/Lister.json" <<EOF
{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["$BA", "$BA/$prefix/*"]}
]}
EOF
cat >"$D/iam/Odd.json" <<EOF
{"Version": "2012-10-17", "Statement": [
 {"Sid": "FancyAllow", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringFancy": {"s3:prefix": "x"}}},
 {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
 {"Sid": "VpcDeny", "Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}}
]}
EOF
node scripts/aws-standin/server.js --listen 127.0.0.1 --port "$PORT" --data "$D" --s3-upstream "$SPOOL_S3RVER_URL" \
	--credentials-file "$T_TMP/admin-credentials" --iam-keys "$T_TMP/iam-keys" --iam-dir "$D/iam" \
	>"$T_TMP/standin.log" 2>&1 &
spid=$!
at_exit "kill $spid"
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/__standin/health" 2>/dev/null && break
	sleep 0.1
done
check "second stand-in answers" curl -fsS -o /dev/null "http://127.0.0.1:$PORT/__standin/health"

key_for() { awk -v r="$1" '$3==r{print $1" "$2}' "$T_TMP/iam-keys"; }
read -r READER_AK READER_SK <<<"$(key_for Reader)"
read -r LISTER_AK LISTER_SK <<<"$(key_for Lister)"
read -r ODD_AK ODD_SK <<<"$(key_for Odd)"
export READER_AK READER_SK LISTER_AK LISTER_SK ODD_AK ODD_SK EP="http://127.0.0.1:$PORT"
at_exit "py \"$PYLIB
s3 = client('s3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
for k in ('$prefix/public', '$prefix/private/x'):
    s3.delete_object(Bucket=B, Key=k)\""
out=$(py "$PYLIB
EP = os.environ['EP']
admin = client('s3', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'], EP)
admin.put_object(Bucket=B, Key='$prefix/public', Body=b'public')
admin.put_object(Bucket=B, Key='$prefix/private/x', Body=b'private')
asm = client('secretsmanager', os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'], EP)
ok_arn = asm.create_secret(Name='$prefix/fine', SecretString='a')['ARN']
no_arn = asm.create_secret(Name='$prefix/denied-one', SecretString='b')['ARN']
rs3 = client('s3', os.environ['READER_AK'], os.environ['READER_SK'], EP)
ls3 = client('s3', os.environ['LISTER_AK'], os.environ['LISTER_SK'], EP)
os3 = client('s3', os.environ['ODD_AK'], os.environ['ODD_SK'], EP)
print('reader-get', code(lambda: rs3.get_object(Bucket=B, Key='$prefix/public')))
print('reader-deny-wins', code(lambda: rs3.get_object(Bucket=B, Key='$prefix/private/x')))
print('reader-missing', code(lambda: rs3.get_object(Bucket=B, Key='$prefix/missing')))
print('reader-missing-head', code(lambda: rs3.head_object(Bucket=B, Key='$prefix/missing')))
print('reader-list-prefix', code(lambda: rs3.list_objects_v2(Bucket=B, Prefix='$prefix/')))
print('reader-list-other', code(lambda: rs3.list_objects_v2(Bucket=B, Prefix='uploads/')))
print('reader-list-all', code(lambda: rs3.list_objects_v2(Bucket=B)))
print('lister-missing', code(lambda: ls3.get_object(Bucket=B, Key='$prefix/missing')))
print('lister-missing-head', code(lambda: ls3.head_object(Bucket=B, Key='$prefix/missing')))
print('lister-missing-outside', code(lambda: ls3.get_object(Bucket=B, Key='elsewhere/missing')))
print('odd-unknown-operator', code(lambda: os3.get_object(Bucket=B, Key='$prefix/public')))
rsm = client('secretsmanager', os.environ['READER_AK'], os.environ['READER_SK'], EP)
osm = client('secretsmanager', os.environ['ODD_AK'], os.environ['ODD_SK'], EP)
print('reader-secret', code(lambda: rsm.get_secret_value(SecretId=ok_arn)))
print('reader-secret-deny', code(lambda: rsm.get_secret_value(SecretId=no_arn)))
print('reader-secret-deny-by-name', code(lambda: rsm.get_secret_value(SecretId='$prefix/denied-one')))
print('odd-unmodeled-key-deny', code(lambda: osm.get_secret_value(SecretId=ok_arn)))
rcw = client('cloudwatch', os.environ['READER_AK'], os.environ['READER_SK'], EP)
m = [{'MetricName': 'T0025', 'Value': 1}]
print('reader-metric', code(lambda: rcw.put_metric_data(Namespace='T0025/Fine', MetricData=m)))
print('reader-metric-deny', code(lambda: rcw.put_metric_data(Namespace='T0025/Forbidden', MetricData=m)))
print('reader-metric-other', code(lambda: rcw.put_metric_data(Namespace='Spool', MetricData=m)))
" 2>&1)
expect_match "Reader: an allowed GET" "reader-get ok" "$out"
expect_match "Reader: an explicit Deny wins over the Allow: 403 AccessDenied" "reader-deny-wins 403 AccessDenied" "$out"
expect_match "Reader (ListBucket only with s3:prefix): a missing object is 403 AccessDenied" "reader-missing 403 AccessDenied" "$out"
expect_match "... and 403 to a HEAD" "reader-missing-head 403" "$out"
expect_match "Reader: a listing with its s3:prefix" "reader-list-prefix ok" "$out"
expect_match "Reader: a listing with another prefix: 403" "reader-list-other 403 AccessDenied" "$out"
expect_match "Reader: a listing without prefix: 403" "reader-list-all 403 AccessDenied" "$out"
expect_match "Lister (s3:ListBucket): a missing object is 404 NoSuchKey" "lister-missing 404 NoSuchKey" "$out"
expect_match "... and 404 to a HEAD" "lister-missing-head 404" "$out"
expect_match "Lister: a missing object outside its grant is 403" "lister-missing-outside 403 AccessDenied" "$out"
expect_match "Odd: an Allow with an unknown condition operator does not allow" "odd-unknown-operator 403 AccessDenied" "$out"
expect_match "Reader: secret allowed by Resource *" "reader-secret ok" "$out"
expect_match "Reader: explicit Deny on the secret wins, worded as AWS does" \
	"reader-secret-deny 400 AccessDeniedException User: .*assumed-role/Reader/.* is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:[0-9]+:secret:$prefix/denied-one-[A-Za-z0-9]{6} with an explicit deny in an identity-based policy" "$out"
expect_match "... also when the secret is named by name" "reader-secret-deny-by-name 400 AccessDeniedException .*explicit deny" "$out"
expect_match "Odd: a Deny on a condition key the stand-in does not model denies" "odd-unmodeled-key-deny 400 AccessDeniedException .*explicit deny" "$out"
expect_match "Reader: PutMetricData in a namespace its condition allows" "reader-metric ok" "$out"
expect_match "Reader: a Deny on the namespace wins" "reader-metric-deny 403 AccessDenied .*explicit deny" "$out"
expect_match "Reader: another namespace is refused" "reader-metric-other 403 AccessDenied" "$out"
log=$(cat "$T_TMP/standin.log")
expect_match "the unknown operator is logged" "Odd statement FancyAllow: the condition operator StringFancy is not evaluated" "$log"
expect_match "the unmodeled key is logged" "Odd statement VpcDeny: the condition key aws:SourceVpc is not modeled" "$log"

done_testing
