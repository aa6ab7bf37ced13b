#!/usr/bin/env bash
# deploy-lint.sh — validate deploy/spool.yaml offline (no AWS call).
#
#   scripts/deploy-lint.sh [--install-only] [TEMPLATE]
#
# 1. cfn-lint from the npm registry (npm package "cfn-lint", martysweet/cfn-lint, pinned
#    below): schema check of every resource and property against the CloudFormation
#    resource specification it bundles, and evaluation of the intrinsic functions with
#    example parameter values. Installed once into build/deploy-lint/ (idempotent).
#    Its bundled specification dates from 2019: properties CloudFormation gained later
#    and that the template uses are added to the installed copy (OVERLAY below, listed
#    one by one so that nothing else is waved through).
#    (The Python cfn-lint of aws-cloudformation is not installable here: no PyPI.)
# 2. scripts/security-groups-check.py (Debian's python3 + python3-yaml): references,
#    the security groups exactly as the seed wants them, least-privilege IAM, the
#    bucket, the health check, the user data.
# Exit status: 0 when both pass.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CFN_LINT_VERSION=1.9.7
DIR=$ROOT/build/deploy-lint
BIN=$DIR/node_modules/.bin/cfn-lint
SPEC=$DIR/node_modules/cfn-lint/data/aws_resources_specification.json
PY=/usr/bin/python3
install_only=0
if [ "${1:-}" = --install-only ]; then install_only=1; shift; fi
TEMPLATE=${1:-deploy/spool.yaml}

say() { echo "deploy-lint: $*" >&2; }

# python3-yaml (Debian) for the structural checks
if ! "$PY" -c 'import yaml' 2>/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing python3-yaml"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-yaml >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-yaml >/dev/null; }
	fi
	"$PY" -c 'import yaml' || { say "python3-yaml missing (apt-get install python3-yaml)"; exit 2; }
fi

# cfn-lint from npm, pinned, in build/deploy-lint
installed=$(node -e "try{console.log(require('$DIR/node_modules/cfn-lint/package.json').version)}catch(e){}" 2>/dev/null || true)
if [ "$installed" != "$CFN_LINT_VERSION" ] || [ ! -x "$BIN" ]; then
	command -v npm >/dev/null 2>&1 || { say "npm missing (scripts/deps.sh installs it)"; exit 2; }
	say "installing cfn-lint@$CFN_LINT_VERSION into build/deploy-lint"
	mkdir -p "$DIR"
	[ -f "$DIR/package.json" ] || echo '{"name":"spool-deploy-lint","private":true}' >"$DIR/package.json"
	(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error --save-exact \
		"cfn-lint@$CFN_LINT_VERSION" >/dev/null) || { say "npm install cfn-lint failed"; exit 2; }
fi

# the specification overlay: newer properties used by the template, nothing more
"$PY" - "$SPEC" <<'PYEOF'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
pt, rt = spec["PropertyTypes"], spec["ResourceTypes"]
changed = False
def prim(t, required=False):
    return {"PrimitiveType": t, "Required": required, "UpdateType": "Mutable"}
# IMDSv2 settings of launch templates (CloudFormation 2019-11)
if "AWS::EC2::LaunchTemplate.MetadataOptions" not in pt:
    pt["AWS::EC2::LaunchTemplate.MetadataOptions"] = {"Properties": {
        "HttpEndpoint": prim("String"), "HttpPutResponseHopLimit": prim("Integer"),
        "HttpTokens": prim("String"), "HttpProtocolIpv6": prim("String"),
        "InstanceMetadataTags": prim("String")}}
    changed = True
ltd = pt["AWS::EC2::LaunchTemplate.LaunchTemplateData"]["Properties"]
if "MetadataOptions" not in ltd:
    ltd["MetadataOptions"] = {"Type": "MetadataOptions", "Required": False, "UpdateType": "Mutable"}
    changed = True
# several path patterns in one listener rule condition (CloudFormation 2019-11)
if "AWS::ElasticLoadBalancingV2::ListenerRule.PathPatternConfig" not in pt:
    pt["AWS::ElasticLoadBalancingV2::ListenerRule.PathPatternConfig"] = {"Properties": {
        "Values": {"Type": "List", "PrimitiveItemType": "String", "Required": False,
                   "UpdateType": "Mutable"}}}
    changed = True
rc = pt["AWS::ElasticLoadBalancingV2::ListenerRule.RuleCondition"]["Properties"]
if "PathPatternConfig" not in rc:
    rc["PathPatternConfig"] = {"Type": "PathPatternConfig", "Required": False, "UpdateType": "Mutable"}
    changed = True
if changed:
    json.dump(spec, open(path, "w"))
PYEOF
[ $install_only -eq 1 ] && exit 0

# example values for the parameters without a default (cfn-lint checks their shape)
PARAMS="CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
PARAMS="$PARAMS,SpoolVersion=0.1.0,PackageUrl=https://example.invalid/spool_0.1.0_amd64.deb"
rc=0
say "cfn-lint $CFN_LINT_VERSION: $TEMPLATE"
if ! out=$(cd "$ROOT" && FORCE_COLOR=0 NO_COLOR=1 "$BIN" validate "$TEMPLATE" --parameters "$PARAMS" 2>&1); then
	rc=1
fi
# colours off whatever the library thinks of the terminal
printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g'
if ! printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep -q '^Template valid!'; then rc=1; fi

say "security-groups-check: $TEMPLATE"
"$PY" scripts/security-groups-check.py "$TEMPLATE" || rc=1
exit $rc
