#!/usr/bin/env bash
# t0900: deploy/spool.yaml offline — cfn-lint (npm, via scripts/deploy-lint.sh) and
# scripts/security-groups-check.py; then the check is shown to catch what it is for:
# copies of the template with one rule broken each must fail it. No AWS call.
. "$(dirname "$0")/lib.sh"

[ -f deploy/spool.yaml ] || bail "deploy/spool.yaml missing"
check "deploy-lint: install cfn-lint and python3-yaml (idempotent)" scripts/deploy-lint.sh --install-only

out=$(scripts/deploy-lint.sh deploy/spool.yaml 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "deploy-lint: cfn-lint valid, security-groups-check clean"; else fail "deploy-lint" "$out"; fi
expect_match "cfn-lint said: Template valid!" "Template valid!" "$out"
expect_match "security-groups-check: 0 failed" "checks, 0 failed" "$out"

# cfn-lint itself rejects a broken template (so a pass above means something)
sed 's/HealthCheckPath: \/health/HealthCheckPathh: \/health/' deploy/spool.yaml >"$T_TMP/bad-prop.yaml"
if scripts/deploy-lint.sh "$T_TMP/bad-prop.yaml" >"$T_TMP/out" 2>&1; then
	fail "cfn-lint rejects an unknown property" "$(cat "$T_TMP/out")"
else
	expect_match "cfn-lint rejects an unknown property" "HealthCheckPathh is not a valid property" "$(cat "$T_TMP/out")"
fi

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
mutate mq-console sg "R['MqSecurityGroup']['Properties']['SecurityGroupIngress'].append({'IpProtocol': 'tcp', 'FromPort': 443, 'ToPort': 443, 'SourceSecurityGroupId': {'Fn::GetAtt': ['ApiSecurityGroup', 'GroupId']}})"
mutate mq-from-alb-standalone sg "R['Extra'] = {'Type': 'AWS::EC2::SecurityGroupIngress', 'Properties': {'GroupId': {'Fn::GetAtt': ['MqSecurityGroup', 'GroupId']}, 'IpProtocol': 'tcp', 'FromPort': 5671, 'ToPort': 5671, 'SourceSecurityGroupId': {'Fn::GetAtt': ['AlbSecurityGroup', 'GroupId']}}}"
mutate alb-all-ports sg "R['AlbSecurityGroup']['Properties']['SecurityGroupIngress'][1].update({'IpProtocol': '-1', 'FromPort': 0, 'ToPort': 65535})"
mutate api-lt-uses-db-sg sg "R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['SecurityGroupIds'] = [{'Fn::GetAtt': ['DbSecurityGroup', 'GroupId']}]"
mutate public-db sg "R['Database']['Properties']['PubliclyAccessible'] = True"
mutate worker-reads-pepper iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][0]['Resource'].append({'Ref': 'PepperSecret'})"
mutate api-writes-results iam "R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][2]['Action'] = ['s3:GetObject', 's3:PutObject']"
mutate s3-star iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][2]['Action'] = 's3:*'"
mutate metrics-any-namespace iam "del R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][3]['Condition']"
mutate bucket-level-put iam "R['WorkerRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'][-1]['Action'] = ['s3:ListBucket', 's3:PutBucketPolicy']"
mutate no-list-bucket iam "R['ApiRole']['Properties']['Policies'][0]['PolicyDocument']['Statement'].pop()"
mutate bucket-public data "R['MediaBucket']['Properties']['PublicAccessBlockConfiguration']['RestrictPublicBuckets'] = False"
mutate no-health-path data "R['ApiTargetGroup']['Properties']['HealthCheckPath'] = '/'"
mutate alb-forwards-all data "R['HttpsListener']['Properties']['DefaultActions'] = [{'Type': 'forward', 'TargetGroupArn': {'Ref': 'ApiTargetGroup'}}]"
mutate alb-forwards-metrics data "R['ApiPathsRule']['Properties']['Conditions'][0]['PathPatternConfig']['Values'].append('/metrics')"
mutate dangling-ref refs "R['ApiGroup']['Properties']['TargetGroupARNs'] = [{'Ref': 'NoSuchGroup'}]"
mutate dangling-sub refs "R['MqSecret']['Properties']['SecretString'] = {'Fn::Sub': '\${NoSuchBroker}'}"
mutate db-tls-unverified userdata "d = R['WorkerLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('sslmode = verify-full', 'sslmode = require')"
mutate db-ca-not-fetched userdata "d = R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('sslrootcert = /etc/spool/rds-ca.pem', 'sslrootcert = /etc/ssl/certs/ca-certificates.crt')"
mutate unknown-ini-key userdata "d = R['ApiLaunchTemplate']['Properties']['LaunchTemplateData']['UserData']['Fn::Base64']; d['Fn::Sub'] = d['Fn::Sub'].replace('max_wait = 60s', 'max_waits = 60s')"

# the stack's outputs and the parameters the guide speaks of
for p in VpcId PublicSubnetIds PrivateSubnetIds AmiId ApiInstanceType WorkerInstanceType KeyName \
	DbMultiAZ ApiMinSize ApiMaxSize ApiDesiredSize WorkerMinSize WorkerMaxSize WorkerDesiredSize \
	SpoolVersion PackageUrl CertificateArn LogRetentionDays UploadsExpireDays; do
	grep -q "^  $p:" deploy/spool.yaml || fail "parameter $p" "missing"
done
ok "parameters present"
check "deploy/GUIDE.md exists and names the stack's outputs" \
	sh -c 'grep -q LoadBalancerDnsName deploy/GUIDE.md && grep -q DbSecretArn deploy/GUIDE.md'

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
done

done_testing
