#!/usr/bin/env bash
# deploy-lint.sh — validate deploy/spool.yaml offline (no AWS call).
#
#   scripts/deploy-lint.sh [--install-only] [TEMPLATE]
#
# 1. cfn-lint 1.x (aws-cloudformation/cfn-lint, Python): every resource, property,
#    attribute and intrinsic function against the CloudFormation schemas it bundles,
#    values against the services' allowed values (engine versions, instance types, …)
#    and its best-practice rules, with deploy/.cfnlintrc (which says why each ignored
#    rule is ignored). No error and no warning may remain. It is taken from PATH (the
#    pyenv python3 of the project's machines carries it), else from
#    ~/.pyenv/shims; PyPI is not reachable here, so nothing installs it. When it is
#    missing the step says so and fails: SPOOL_DEPLOY_LINT_NO_CFN=1 skips it knowingly.
# 2. scripts/security-groups-check.py (Debian's python3 + python3-yaml): references,
#    the security groups exactly as the stack wants them, least-privilege IAM, the
#    bucket, the groups, alarms and time-outs, the user data.
# Exit status: 0 when both pass, 1 when one fails, 2 when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
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
[ $install_only -eq 1 ] && exit 0

# cfn_lint_bin: prints the cfn-lint 1.x to use, or nothing
cfn_lint_bin() {
	local c
	for c in "$(command -v cfn-lint 2>/dev/null || true)" "${HOME:-/root}/.pyenv/shims/cfn-lint"; do
		[ -n "$c" ] && [ -x "$c" ] || continue
		case $("$c" --version 2>/dev/null) in
		"cfn-lint 1."*) echo "$c"; return 0 ;;
		esac
	done
	return 0
}

rc=0
if [ "${SPOOL_DEPLOY_LINT_NO_CFN:-0}" = 1 ]; then
	say "cfn-lint: skipped (SPOOL_DEPLOY_LINT_NO_CFN=1)"
else
	CFN_LINT=$(cfn_lint_bin)
	[ -n "$CFN_LINT" ] || { say "cfn-lint 1.x not found (the pyenv python3's cfn-lint)"; exit 2; }
	say "$("$CFN_LINT" --version): $TEMPLATE"
	# the configuration applies to the template wherever it is (copies in tests too);
	# warnings fail as errors do
	if "$CFN_LINT" --config-file deploy/.cfnlintrc --format parseable -- "$TEMPLATE"; then
		echo "cfn-lint: no error, no warning"
	else
		rc=1
	fi
fi

say "security-groups-check: $TEMPLATE"
"$PY" scripts/security-groups-check.py "$TEMPLATE" || rc=1
exit $rc
