#!/usr/bin/env bash
# t0900: deploy/spool.yaml offline — scripts/security-groups-check.py passes; then the
# check is shown to catch what it is for: copies of the template with one rule broken
# each must fail it, naming the rule. The worker hosts' health report and scale-in drain
# scripts run against loopback stand-ins of the instance metadata and the workers'
# /health, with `aws` and `systemctl` recording their calls; the configuration lines of
# the user data run and write the expected files. No AWS call. (cfn-lint:
# t0905-cfn-lint.sh.)
# lane: first: it installs packages (deploy-lint.sh), as the other t09xx tests do
. "$(dirname "$0")/lib.sh"

[ -f deploy/spool.yaml ] || bail "deploy/spool.yaml missing"
check "deploy-lint: python3-yaml present (installed if missing)" scripts/deploy-lint.sh --install-only

out=$(/usr/bin/python3 scripts/security-groups-check.py deploy/spool.yaml 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "security-groups-check passes"; else fail "security-groups-check" "$out"; fi
expect_match "security-groups-check: 0 failed" "checks, 0 failed" "$out"
# (cfn-lint itself: tests/t0905-cfn-lint.sh)

# one mutation per rule: the checker must fail each, naming the rule
mutate() { # NAME RULE PYTHON-STATEMENTS (t = the template as a dict)
	local name=$1 rule=$2 code=$3
	py "
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('sgc', 'scripts/security-groups-check.py')
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
t = m.load('deploy/spool.yaml')
R = t['Resources']
$code
json.dump(t, open(sys.argv[1], 'w'))
" "$T_TMP/$name.json" || { fail "mutation $name: python"; return; }
	local o
	if o=$(/usr/bin/python3 scripts/security-groups-check.py "$T_TMP/$name.json" 2>&1); then
		fail "security-groups-check fails on: $name" "$o"
	else
		expect_match "security-groups-check fails on: $name" "FAIL $rule" "$o"
	fi
}
mutate ssh-to-workers sg "R['WorkerSecurityGroup']['Properties']['SecurityGroupIngress'] = [{'IpProtocol': 'tcp', 'FromPort': 22, 'ToPort': 22, 'CidrIp': '0.0.0.0/0'}]"
mutate api-open sg "R['ApiSecurityGroup']['Properties']['SecurityGroupIngress'][0] = {'IpProtocol': 'tcp', 'FromPort': 8000, 'ToPort': 8000, 'CidrIp': '0.0.0.0/0'}"
mutate db-from-alb sg "R['DbSecurityGroup']['Properties']['SecurityGroupIngress'][1]['SourceSecurityGroupId'] = {'Fn::GetAtt': ['AlbSecurityGroup', 'GroupId']}"
mutate db-from-vpc sg "R['DbSecurityGroup']['Properties']['SecurityGroupIngress'].append({'IpProtocol': 'tcp', 'FromPort': 5432, 'ToPort': 5432, 'CidrIp': '10.0.0.0/8'})"
# the management API (443) is the API instances' alone (the first boot's broker users)
mutate mq-console-from-workers sg "R['MqSecurityGroup']['Properties']['SecurityGroupIngress'].append({'IpProtocol': 'tcp', 'FromPort': 443, 'ToPort': 443, 'SourceSecurityGroupId': {'Fn::GetAtt': ['WorkerSecurityGroup', 'GroupId']}})"
mutate mq-console-dropped sg "R['MqSecurityGroup']['Properties']['SecurityGroupIngress'] = [r for r in R['MqSecurityGroup']['Properties']['SecurityGroupIngress'] if r['FromPort'] != 443]"
mutate mq-from-alb-standalone sg "R['Extra'] = {'Type': 'AWS::EC2::SecurityGroupIngress', 'Properties': {'GroupId': {'Fn::GetAtt': ['MqSecurityGroup', 'GroupId']}, 'IpProtocol': 'tcp', 'FromPort': 5671, 'ToPort': 5671, 'SourceSecurityGroupId': {'Fn::GetAtt': ['AlbSecurityGroup', 'GroupId']}}}"
mutate alb-all-ports sg "R['AlbSecurityGroup']['Properties']['SecurityGroupIngress'][1].update({'IpProtocol': '-1', 'FromPort': 0, 'ToPort': 65535})"
mutate api-lt-uses-db-sg sg "R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['SecurityGroupIds'] = [{'Fn::GetAtt': ['DbSecurityGroup', 'GroupId']}]"
mutate public-db sg "R['Database']['Properties']['PubliclyAccessible'] = True"
mutate worker-reads-pepper iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][0].update(Resource=[{'Ref': 'MqWorkerSecret'}, {'Ref': 'PepperSecret'}])"
mutate worker-reads-mq-admin iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][0].update(Resource=[{'Ref': 'MqWorkerSecret'}, {'Ref': 'MqSecret'}])"
mutate api-misses-worker-mq-user iam "R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] = [s for s in R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if s.get('Sid') != 'MqUser']"
mutate api-writes-results iam "R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][2]['Action'] = ['s3:GetObject', 's3:PutObject']"
mutate s3-star iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][2]['Action'] = 's3:*'"
mutate metrics-any-namespace iam "del R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][3]['Condition']"
mutate bucket-level-put iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][-1]['Action'] = ['s3:ListBucket', 's3:PutBucketPolicy']"
mutate no-list-bucket iam "[st.remove(x) for st in [R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement']] for x in list(st) if x.get('Sid') == 'Bucket']"
mutate bucket-public data "R['MediaBucket']['Properties']['PublicAccessBlockConfiguration']['RestrictPublicBuckets'] = False"
mutate no-health-path data "R['ApiTargetGroup']['Properties']['HealthCheckPath'] = '/'"
mutate alb-forwards-all data "R['HttpsListener']['Properties']['DefaultActions'] = [{'Type': 'forward', 'TargetGroupArn': {'Ref': 'ApiTargetGroup'}}]"
mutate alb-forwards-metrics data "R['ApiPathsRule']['Properties']['Conditions'][0]['PathPatternConfig']['Values'].append('/metrics')"
mutate dangling-ref refs "R['ApiGroup']['Properties']['TargetGroupARNs'] = [{'Ref': 'NoSuchGroup'}]"
mutate dangling-sub refs "R['MqSecret']['Properties']['SecretString'] = {'Fn::Sub': '\${NoSuchBroker}'}"
mutate db-tls-unverified userdata "d = R['WorkerLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('sslmode = verify-full', 'sslmode = require')"
mutate db-ca-not-fetched userdata "d = R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('sslrootcert = /etc/spool/rds-ca.pem', 'sslrootcert = /etc/ssl/certs/ca-certificates.crt')"
mutate unknown-ini-key userdata "d = R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('pool_size = 16', 'pool_sizes = 16')"
# the groups, signals, scale-in, retention, alarms, time-outs
mutate desired-capacity data "R['ApiGroup']['Properties']['DesiredCapacity'] = 2"
mutate no-creation-signals data "del R['ApiGroup']['CreationPolicy']"
mutate update-without-signals data "del R['WorkerGroup']['UpdatePolicy']['AutoScalingRollingUpdate']['WaitOnResourceSignals']"
mutate no-drain-hook data "del R['WorkerGroup']['Properties']['LifecycleHookSpecificationList']"
mutate worker-elb-health data "R['WorkerGroup']['Properties']['HealthCheckType'] = 'ELB'"
mutate pepper-not-retained data "del R['PepperSecret']['DeletionPolicy']"
mutate worker-db-secret-not-retained data "R['DbWorkerSecret']['UpdateReplacePolicy'] = 'Delete'"
mutate db-single-az data "R['Database']['Properties']['MultiAZ'] = False"
mutate broker-single-by-default data "t['Parameters']['MqDeploymentMode']['Default'] = 'SINGLE_INSTANCE'"
mutate alb-idle-above-keepalive data "R['LoadBalancer']['Properties']['LoadBalancerAttributes'][0]['Value'] = '120'"
mutate deregistration-below-long-poll data "R['ApiTargetGroup']['Properties']['TargetGroupAttributes'][0]['Value'] = '30'"
mutate no-outbox-alarm data "del R['OutboxBacklogAlarm']"
mutate alarm-on-unpublished-metric data "R['FailedJobsAlarm']['Properties']['MetricName'] = 'JobsLost'"
mutate ami-by-id data "t['Parameters']['AmiId'] = {'Type': 'AWS::EC2::Image::Id'}"
mutate ubuntu-root-device data "R['WorkerLaunchTemplate']['Properties']['LaunchTemplateData']['BlockDeviceMappings'][0]['DeviceName'] = '/dev/sda1'"
# IAM beyond the data plane
mutate worker-writes-first-key iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'].append({'Effect': 'Allow', 'Action': 'secretsmanager:PutSecretValue', 'Resource': {'Ref': 'FirstKeySecret'}})"
mutate api-cannot-read-first-key iam "[x.update(Action='secretsmanager:PutSecretValue') for x in R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if x.get('Sid') == 'FirstKey']"
mutate worker-reads-master-db iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'].append({'Effect': 'Allow', 'Action': 'secretsmanager:GetSecretValue', 'Resource': {'Ref': 'DbSecret'}})"
mutate worker-reads-api-db iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'].append({'Effect': 'Allow', 'Action': 'secretsmanager:GetSecretValue', 'Resource': {'Ref': 'DbApiSecret'}})"
mutate worker-cannot-read-its-db iam "[s for s in R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if s.get('Sid') == 'DbRole'][0]['Resource'] = {'Ref': 'DbApiSecret'}"
mutate admin-managed-policy iam "R['WorkerRole']['Properties']['ManagedPolicyArns'].append('arn:aws:iam::aws:policy/AdministratorAccess')"
mutate lifecycle-on-any-group iam "[s for s in R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if s.get('Sid') == 'Lifecycle'][0]['Resource'] = '*'"
mutate api-sets-health iam "R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'].append([s for s in R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if s.get('Sid') == 'Lifecycle'][0])"
mutate signal-any-stack iam "[s for s in R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'] if s.get('Sid') == 'Signal'][0]['Resource'] = '*'"
# the instances' boot
ud() { echo "d = R['$1']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace($2)"; }
mutate set-e userdata "$(ud WorkerLaunchTemplate "'set -uo pipefail', 'set -euo pipefail'")"
mutate signal-without-ready userdata "$(ud ApiLaunchTemplate "'http://127.0.0.1:8000/ready', 'http://127.0.0.1:8000/health'")"
mutate workers-started-not-enabled userdata "$(ud WorkerLaunchTemplate "'systemctl enable \"spool-worker@\$i.service\"', 'systemctl enable --now \"spool-worker@\$i.service\"'")"
mutate bootstrap-outside-the-unit userdata "$(ud ApiLaunchTemplate "'systemctl daemon-reload', 'adminctl db bootstrap; systemctl daemon-reload'")"
mutate no-logo userdata "$(ud WorkerLaunchTemplate "'logo = /usr/share/spool/logo.png', 'logo = /usr/local/share/spool/logo.png'")"
mutate keepalive-below-idle userdata "$(ud ApiLaunchTemplate "'connection_timeout = 75s', 'connection_timeout = 30s'")"
mutate classic-queues userdata "$(ud WorkerLaunchTemplate "'queue_type = quorum', 'queue_type = classic'")"
mutate user-data-too-big userdata "$(ud WorkerLaunchTemplate "'set -uo pipefail', 'set -uo pipefail' + chr(10) + '#' * 3000")"
mutate logs-elsewhere userdata "$(ud ApiLaunchTemplate "'cloudwatch_group = \${ApiLogGroup}', 'cloudwatch_group = /var/log'")"

# the stack's outputs and the parameters the guide speaks of
for p in VpcId PublicSubnetIds PrivateSubnetIds AmiId ApiInstanceType WorkerInstanceType KeyName \
	DatabaseMultiAZ ApiMinSize ApiMaxSize WorkerMinSize WorkerMaxSize WorkerDrainTimeout \
	SpoolVersion PackageUrl CertificateArn LogRetentionDays UploadsExpireDays; do
	grep -q "^  $p:" deploy/spool.yaml || fail "parameter $p" "missing"
done
ok "parameters present"
check "deploy/GUIDE.md exists and names the stack's outputs" \
	sh -c 'grep -q LoadBalancerDnsName deploy/GUIDE.md && grep -q DbSecretArn deploy/GUIDE.md && grep -q FirstKeySecretArn deploy/GUIDE.md'

# the user data scripts, rendered with placeholders, are valid bash
for lt in ApiLaunchTemplate WorkerLaunchTemplate; do
	py "
import importlib.util, re, sys
spec = importlib.util.spec_from_file_location('sgc', 'scripts/security-groups-check.py')
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
u = m.load('deploy/spool.yaml')['Resources'][sys.argv[1]]['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']['Fn::Sub']
open(sys.argv[2], 'w').write(re.sub(r'[$][{]([A-Za-z:]+)[}]', 'PLACEHOLDER', u))
" "$lt" "$T_TMP/$lt.sh" && check "user data of $lt: bash -n" bash -n "$T_TMP/$lt.sh"
	expect_match "user data of $lt: stack values substituted" "PLACEHOLDER" "$(cat "$T_TMP/$lt.sh" 2>/dev/null)"
	# the scripts it installs (health report, scale-in drain) are valid bash too
	n=0
	while IFS= read -r f; do
		n=$((n + 1))
		check "user data of $lt: installed script ${f##*/}: bash -n" bash -n "$f"
	done < <(py "
import re, sys
src = open(sys.argv[1]).read()
for i, m in enumerate(re.finditer(r\"<<'SH'\\n(.*?)\\n *SH\\n\", src, re.S)):
    p = '%s/%s-sh%d' % (sys.argv[2], sys.argv[3], i)
    open(p, 'w').write(m.group(1))
    print(p)
" "$T_TMP/$lt.sh" "$T_TMP" "$lt")
	[ "$lt" = ApiLaunchTemplate ] || expect_eq "user data of $lt: two installed scripts" 2 "$n"
done

# The configuration files as the user data writes them (its own lines, run with the
# paths moved under the test's directory): one worker-N.ini per spool-worker@N, each
# the shared file but for its health port and log stream; api.ini's stream named.
E=$T_TMP/etc
mkdir -p "$E/spool"
py "
import importlib.util, re, sys
spec = importlib.util.spec_from_file_location('sgc', 'scripts/security-groups-check.py')
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
R = m.load('deploy/spool.yaml')['Resources']
E = sys.argv[1]
for lt, first, last in (('WorkerLaunchTemplate', 'cat > /etc/spool/worker.ini', 'chown root:spool /etc/spool/worker*.ini'),
                        ('ApiLaunchTemplate', 'cat > /etc/spool/api.ini', 'chown root:spool')):
    u = R[lt]['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']['Fn::Sub']
    part = u[u.index(first):u.index(last)]
    part = re.sub(r'[$][{]([A-Za-z:]+)[}]', lambda v: 'STACK-' + v.group(1).replace('::', '-'), part)
    part = part.replace('/etc/spool/', E + '/spool/').replace('/etc/default/', E + '/default-')
    assert '/etc/' not in part.replace(E, '')
    open('%s/%s.sh' % (E, lt), 'w').write('INSTANCE_ID=i-0123456789abcdef0\nN=2\n' + part)
" "$E" || bail "cannot extract the user data's configuration lines"
check "worker user data: its configuration lines run" bash -e "$E/WorkerLaunchTemplate.sh"
check "API user data: its configuration lines run" bash -e "$E/ApiLaunchTemplate.sh"
for i in 1 2; do
	expect_eq "worker-$i.ini: health on 127.0.0.1:808$i" "health_listen = 127.0.0.1:808$i" \
		"$(grep '^health_listen' "$E/spool/worker-$i.ini" 2>&1)"
	expect_eq "worker-$i.ini: its own log stream" "cloudwatch_stream = i-0123456789abcdef0-worker-$i" \
		"$(grep '^cloudwatch_stream' "$E/spool/worker-$i.ini" 2>&1)"
	expect_eq "worker-$i.ini: otherwise worker.ini" \
		"$(grep -v '^health_listen\|^cloudwatch_stream' "$E/spool/worker.ini")" \
		"$(grep -v '^health_listen\|^cloudwatch_stream' "$E/spool/worker-$i.ini" 2>&1)"
done
check "no worker-3.ini for two workers" test ! -e "$E/spool/worker-3.ini"
expect_eq "api.ini: the instance's log stream" "cloudwatch_stream = i-0123456789abcdef0" \
	"$(grep '^cloudwatch_stream' "$E/spool/api.ini" 2>&1)"
expect_eq "/etc/default/spool: the first key's secret for spool-migrate.service" \
	"SPOOL_FIRST_KEY_SECRET=STACK-FirstKeySecret" "$(grep '^SPOOL_FIRST_KEY_SECRET=' "$E/default-spool" 2>&1)"

# What the worker hosts run, for real against loopback stand-ins of what only EC2 has:
# the instance metadata (a token, the target lifecycle state) and the workers' /health
# are a small HTTP server; `aws` and `systemctl` are commands that record their
# arguments (no Auto Scaling here, no systemd as PID 1). The scripts are the ones the
# user data installs, with their paths moved under the test's own directory.
F=$T_TMP/fake
case $F in /tmp/*/fake) ;; *) bail "unexpected test directory '$F'" ;; esac
mkdir -p "$F/bin" "$F/run"
IMDS_PORT=$((${SPOOL_PORT_BASE:-25400} + 90))
HEALTH_BASE=$((${SPOOL_PORT_BASE:-25400} + 90)) # worker N answers on HEALTH_BASE + N
printf '%s\n' '#!/bin/bash' 'echo "aws $*" >>"$FAKE/calls"' \
	'if [ -s "$FAKE/aws-fail" ]; then n=$(cat "$FAKE/aws-fail"); echo $((n - 1)) >"$FAKE/aws-fail"; [ "$n" -gt 0 ] && exit 1; fi' \
	'exit 0' >"$F/bin/aws"
printf '%s\n' '#!/bin/bash' 'echo "systemctl $*" >>"$FAKE/calls"' \
	'case "$1" in list-units) cat "$FAKE/failed-units" 2>/dev/null ;; esac' 'exit 0' >"$F/bin/systemctl"
chmod +x "$F/bin/aws" "$F/bin/systemctl"
printf '%s\n' INSTANCE_ID=i-0123456789abcdef0 AWS_DEFAULT_REGION=us-east-1 SPOOL_WORKERS=2 \
	SPOOL_GROUP=spool-test-worker SPOOL_DRAIN_HOOK=spool-test-worker-drain >"$F/default"
echo InService >"$F/state"
# (exec: the pid that at_exit kills is python's own)
(exec "$T_PY" -c "
import http.server, os, sys, threading
F, imds, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, code, body):
        self.send_response(code); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_PUT(self):
        ok = self.server.server_port == imds and self.path == '/latest/api/token' and self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')
        self.answer(200 if ok else 400, b'tok' if ok else b'')
    def do_GET(self):
        port = self.server.server_port
        if port == imds:
            if self.headers.get('X-aws-ec2-metadata-token') != 'tok':
                return self.answer(401, b'')
            if self.path == '/latest/meta-data/autoscaling/target-lifecycle-state':
                return self.answer(200, open(F + '/state').read().strip().encode())
            return self.answer(404, b'')
        down = os.path.exists('%s/down-%d' % (F, port - base))
        self.answer(503 if down or self.path != '/health' else 200, b'{}')
servers = [http.server.ThreadingHTTPServer(('127.0.0.1', p), H) for p in (imds, base + 1, base + 2)]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
open(F + '/ready', 'w').write('1')
threading.Event().wait(600)
" "$F" "$IMDS_PORT" "$HEALTH_BASE" >"$F/server.log" 2>&1) &
at_exit "kill $!"
for _ in $(seq 1 100); do [ -f "$F/ready" ] && break; sleep 0.1; done
[ -f "$F/ready" ] || bail "the IMDS and /health stand-in did not start: $(cat "$F/server.log")"
# the scripts as installed, with their paths moved under $F
py "
import importlib.util, re, sys
spec = importlib.util.spec_from_file_location('sgc', 'scripts/security-groups-check.py')
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
u = m.load('deploy/spool.yaml')['Resources']['WorkerLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']['Fn::Sub']
F, imds, base = sys.argv[1], sys.argv[2], sys.argv[3]
for name in ('spool-health-report', 'spool-drain'):
    body = re.search(r\"cat > /usr/local/sbin/%s <<'SH'\n(.*?)\nSH\n\" % name, u, re.S).group(1)
    body = body.replace('/etc/default/spool', F + '/default').replace('/run/', F + '/run/')
    body = body.replace('http://169.254.169.254', 'http://127.0.0.1:' + imds).replace('8080 + i', base + ' + i')
    body = body.replace('sleep 10', 'sleep 1')
    assert '/usr/' not in body and ' /run' not in body and '/etc/' not in body, body
    open('%s/%s' % (F, name), 'w').write(body)
" "$F" "$IMDS_PORT" "$HEALTH_BASE" || bail "cannot extract the worker host's scripts"
export FAKE=$F
report() { PATH="$F/bin:$PATH" bash "$F/spool-health-report" 2>>"$F/report.err"; }
calls() { cat "$F/calls" 2>/dev/null; }
unhealthy="aws autoscaling set-instance-health --instance-id i-0123456789abcdef0 --health-status Unhealthy --should-respect-grace-period"
query="systemctl list-units --state=failed --plain --no-legend spool-worker@*"

report
report
report
expect_eq "health report: both workers answer, no unit failed: nothing reported" \
	"$(printf '%s\n' "$query" "$query" "$query")" "$(calls)"
: >"$F/calls"
touch "$F/down-2"
report
report
expect_eq "health report: worker 2's /health failed twice: not yet reported" "" "$(calls | grep '^aws')"
report
expect_eq "health report: the third failure in a row reports the instance unhealthy" "$unhealthy" "$(calls | grep '^aws')"
: >"$F/calls"
rm -f "$F/down-2"
report
touch "$F/down-2"
report
report
expect_eq "health report: a success resets the count (two failures after it: no report)" "" "$(calls | grep '^aws')"
rm -f "$F/down-2"
echo "spool-worker@1.service loaded failed failed Spool worker 1" >"$F/failed-units"
report
expect_eq "health report: a failed spool-worker unit is reported at once" "$unhealthy" "$(calls | grep '^aws')"
: >"$F/calls"
touch "$F/run/spool-draining"
report
expect_eq "health report: nothing while the host drains" "" "$(calls)"
rm -f "$F/run/spool-draining" "$F/failed-units"

# scale-in: nothing while in service; on Terminated the workers are stopped, then the
# lifecycle action is completed (retried when the call fails)
: >"$F/calls"
echo 1 >"$F/aws-fail"
PATH="$F/bin:$PATH" timeout 120 bash "$F/spool-drain" >"$F/drain.out" 2>&1 &
drain=$!
at_exit "kill $drain"
sleep 6
expect_eq "drain: nothing happens while the target state is InService" "" "$(calls)"
echo Terminated >"$F/state"
for _ in $(seq 1 300); do kill -0 $drain 2>/dev/null || break; sleep 0.1; done
wait $drain
expect_eq "drain: exits 0 once the lifecycle action is completed" 0 "$?"
complete="aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --lifecycle-hook-name spool-test-worker-drain --auto-scaling-group-name spool-test-worker --instance-id i-0123456789abcdef0"
expect_eq "drain: stops every worker, then completes the action (a failed call retried)" \
	"$(printf '%s\n' "systemctl stop spool-worker@*.service" "$complete" "$complete")" "$(calls)"
check "drain: the health report is told to keep quiet" test -e "$F/run/spool-draining"

done_testing
