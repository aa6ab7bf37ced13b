#!/usr/bin/env bash
# The local stack's services answer with the credentials the stack made.
. "$(dirname "$0")/lib.sh"

# PostgreSQL through the libpq URI (password auth over TCP)
out=$(psql -X -At "$SPOOL_PG_DSN" -c 'select 1' 2>&1)
expect_eq "psql select 1 via SPOOL_PG_DSN" 1 "$out"
out=$(psql -X -At "$SPOOL_PG_DSN" -c 'select current_user, current_database()' 2>&1)
expect_eq "connected as spool to database spool" "spool|spool" "$out"
out=$(psql -X -At "${SPOOL_PG_DSN/spool:/spool:wrong}" -c 'select 1' 2>&1)
expect_match "a wrong database password is refused" "password authentication failed" "$out"

# RabbitMQ: management API with the stack's user; AMQP port open
expect_status "rabbitmq management overview as spool" 200 \
	-u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/overview"
node=$(printf '%s' "$BODY" | jq -r .node)
expect_match "management API names the stack's own node" '^spool[0-9]+@localhost$' "$node"
expect_status "spool has full permissions on vhost /" 200 \
	-u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/permissions/%2F/spool"
expect_eq "permissions configure/write/read are .*" '.* .* .*' \
	"$(printf '%s' "$BODY" | jq -r '"\(.configure) \(.write) \(.read)"')"
expect_status "a wrong rabbitmq password is refused" 401 \
	-u "$SPOOL_RABBITMQ_USER:wrong" "$SPOOL_RABBITMQ_MGMT_URL/api/overview"
# the daemons' own broker users: no tags, permissions only on spool.* (and the default
# exchange), connected as such; their secrets are their own
for u in spool_api spool_worker; do
	expect_status "$u exists" 200 \
		-u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/users/$u"
	expect_eq "$u has no tags (no management API)" "" "$(printf '%s' "$BODY" | jq -r '.tags | if type == "array" then join(",") else . end')"
	expect_status "$u has permissions on vhost /" 200 \
		-u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL/api/permissions/%2F/$u"
	expect_eq "$u's configure, write and read are anchored on spool.* (write: and amq.default)" "true true true" \
		"$(printf '%s' "$BODY" | jq -r '[(.configure, .read | startswith("^spool\\.") and endswith("$")),
			(.write | startswith("^(spool\\.") and endswith("|amq\\.default)$"))] | map(tostring) | join(" ")')"
done
conns=""
for ((i = 0; i < 30; i++)); do
	conns=$(curl -fsS --max-time 10 -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" \
		"$SPOOL_RABBITMQ_MGMT_URL/api/connections" | jq -r '[.[].user] | unique | join(" ")')
	[[ " $conns " == *" spool_api "* && " $conns " == *" spool_worker "* ]] && break
	sleep 1
done
expect_eq "the daemons' connections are spool_api's and spool_worker's" "spool_api spool_worker" "$conns"
amqp_hostport=${SPOOL_AMQP_URL#*@}
amqp_hostport=${amqp_hostport%%/*}
check "AMQP port $amqp_hostport accepts connections" bash -c "exec 3<>/dev/tcp/${amqp_hostport%:*}/${amqp_hostport#*:}"

# S3 through the SigV4-checking front; secrets readable by ARN
out=$(py "
import os, json, boto3, botocore.config
s3 = $(boto3_client s3)
s3.head_bucket(Bucket=os.environ['SPOOL_S3_BUCKET'])
print('bucket ok')
sm = $(boto3_client secretsmanager)
for var, keys in (('SPOOL_DB_SECRET_ARN', ['username','password','host','port','dbname','engine']),
                  ('SPOOL_RABBITMQ_SECRET_ARN', ['username','password','host','port','vhost']),
                  ('SPOOL_RABBITMQ_API_SECRET_ARN', ['username','password','host','port','vhost']),
                  ('SPOOL_RABBITMQ_WORKER_SECRET_ARN', ['username','password','host','port','vhost']),
                  ('SPOOL_S3_SECRET_ARN', ['access_key_id','secret_access_key'])):
    arn = os.environ[var]
    r = sm.get_secret_value(SecretId=arn)
    assert r['ARN'] == arn, (r['ARN'], arn)
    v = json.loads(r['SecretString'])
    missing = [k for k in keys if k not in v]
    assert not missing, (var, missing)
    print(var, 'ok')
db = json.loads(sm.get_secret_value(SecretId=os.environ['SPOOL_DB_SECRET_ARN'])['SecretString'])
assert db['password'] in os.environ['SPOOL_PG_DSN'] and str(db['port']) in os.environ['SPOOL_PG_DSN']
mq = json.loads(sm.get_secret_value(SecretId=os.environ['SPOOL_RABBITMQ_SECRET_ARN'])['SecretString'])
assert mq['password'] == os.environ['SPOOL_RABBITMQ_PASSWORD'] and mq['vhost'] == '/'
pep = sm.get_secret_value(SecretId=os.environ['SPOOL_PEPPER_SECRET_ARN'])['SecretString']
assert len(pep) == 64 and int(pep, 16) >= 0
print('values ok')
" 2>&1)
expect_match "s3 bucket $SPOOL_S3_BUCKET exists (boto3 through the front)" "bucket ok" "$out"
expect_match "db secret readable by ARN with the RDS shape" "SPOOL_DB_SECRET_ARN ok" "$out"
expect_match "rabbitmq secret readable by ARN" "SPOOL_RABBITMQ_SECRET_ARN ok" "$out"
expect_match "s3 credentials secret readable by ARN" "SPOOL_S3_SECRET_ARN ok" "$out"
expect_match "secret values match the stack's services" "values ok" "$out"

# the generated configs name secrets by ARN and hold no password
for f in "$SPOOL_API_CONFIG" "$SPOOL_WORKER_CONFIG" "$SPOOL_ADMINCTL_CONFIG"; do
	if grep -q "secret = arn:aws:secretsmanager:" "$f" && ! grep -qF "$SPOOL_RABBITMQ_PASSWORD" "$f"; then
		ok "$(basename "$f") names secrets by ARN, no password inline"
	else
		fail "$(basename "$f") names secrets by ARN, no password inline"
	fi
done

done_testing
