#!/usr/bin/env bash
# t0990 — secrets are never logged: after the other tests, every log of the stack
# ($SPOOL_LOG_DIR, the daemons', the services' and the AWS stand-in's, and the
# tests' own) is searched for every secret value: the database and RabbitMQ
# passwords (the master's and administrator's, and the daemons' own roles' and users'), the API-key pepper, the S3 secret key (all fetched from the stand-in's
# Secrets Manager with boto3), the AWS secret key of stack.env, the demo API key
# and the demo tenant's webhook signing key. Run it last.
# lane: each: it reads every log of its stack, after the other tests
. "$(dirname "$0")/lib.sh"

[ -d "$SPOOL_LOG_DIR" ] || bail "no log directory $SPOOL_LOG_DIR"
[ -n "${SPOOL_API_KEY:-}" ] || bail "SPOOL_API_KEY is empty in stack.env"

# NAME<TAB>VALUE lines, into a file only this user can read
umask 077
py "
import hashlib, hmac, json, os, boto3, botocore
sm = $(boto3_client secretsmanager)
def get(arn):
    return sm.get_secret_value(SecretId=os.environ[arn])['SecretString']
db, mq, s3 = (json.loads(get(a)) for a in ('SPOOL_DB_SECRET_ARN', 'SPOOL_RABBITMQ_SECRET_ARN', 'SPOOL_S3_SECRET_ARN'))
pepper = get('SPOOL_PEPPER_SECRET_ARN')
own = [(n, json.loads(get(a))['password']) for n, a in (
    ('spool-api database password', 'SPOOL_DB_API_SECRET_ARN'),
    ('spool-worker database password', 'SPOOL_DB_WORKER_SECRET_ARN'),
    ('spool-api rabbitmq password', 'SPOOL_RABBITMQ_API_SECRET_ARN'),
    ('spool-worker rabbitmq password', 'SPOOL_RABBITMQ_WORKER_SECRET_ARN'))]
rows = [('database password', db['password']), ('rabbitmq password', mq['password']),
        ('api pepper', pepper), ('s3 secret key', s3['secret_access_key']),
        ('aws secret key (stack.env)', os.environ['AWS_SECRET_ACCESS_KEY']),
        ('demo api key', os.environ['SPOOL_API_KEY']),
        ('demo webhook signing key', hmac.new(pepper.encode(), b'webhook:demo', hashlib.sha256).hexdigest())] + own
for name, value in rows:
    print('%s\t%s' % (name, value))
" >"$T_TMP/secrets" || bail "cannot fetch the secrets from the stand-in"
expect_eq "eleven secret values fetched" 11 "$(awk -F '\t' 'length($2) >= 8' "$T_TMP/secrets" | wc -l)"

mapfile -t logs < <(find "$SPOOL_LOG_DIR" -type f 2>/dev/null; find "$SPOOL_RUN_DIR/standin" -type f -name '*.log' 2>/dev/null)
[ "${#logs[@]}" -gt 0 ] || bail "no log files under $SPOOL_LOG_DIR"
ok "searching ${#logs[@]} log files ($(du -ch "${logs[@]}" | tail -n1 | cut -f1))"
for f in api worker aws-standin postgres rabbitmq; do
	ls "$SPOOL_LOG_DIR" | grep -q "$f" || fail "the $f log is among them"
done

while IFS=$'\t' read -r name value; do
	hits=$(grep -rlF -- "$value" "${logs[@]}" 2>/dev/null | sed "s|^$SPOOL_RUN_DIR/||" | head -n 5)
	if [ -z "$hits" ]; then
		ok "$name: in no log"
	else
		fail "$name: found in the logs" "$hits"
	fi
done <"$T_TMP/secrets"

done_testing
