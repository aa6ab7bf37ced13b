#!/usr/bin/env bash
# t0905: cfn-lint 1.x passes deploy/spool.yaml with deploy/.cfnlintrc — no error, no
# warning, no informational finding — and its verdicts mean something: copies broken in
# one way each (an unknown property, a deprecated engine version, a stateful resource
# without a deletion policy) are reported with the rule expected. Then
# scripts/deploy-lint.sh (cfn-lint and security-groups-check) passes end to end.
# Skipped where cfn-lint 1.x is missing, except on CI, whose machines carry it (the
# pyenv python3's) as the developers' do. No AWS call.
# lane: first: it installs packages, as the other t09xx tests do
. "$(dirname "$0")/lib.sh"

CFN_LINT=
for c in "$(command -v cfn-lint 2>/dev/null || true)" "${HOME:-/root}/.pyenv/shims/cfn-lint"; do
	[ -n "$c" ] && [ -x "$c" ] || continue
	case $("$c" --version 2>/dev/null) in
	"cfn-lint 1."*) CFN_LINT=$c; break ;;
	esac
done
if [ -z "$CFN_LINT" ]; then
	[ "${CI:-}" = true ] && bail "cfn-lint 1.x missing on CI (the pyenv python3 carries it)"
	skip_all "cfn-lint 1.x not found"
fi
echo "# $("$CFN_LINT" --version)"

lint() { "$CFN_LINT" --config-file deploy/.cfnlintrc --format parseable -- "$1" 2>&1; }

out=$(lint deploy/spool.yaml)
rc=$?
expect_eq "cfn-lint deploy/spool.yaml: exit 0" 0 "$rc"
expect_eq "cfn-lint deploy/spool.yaml: no finding at all (errors, warnings, informational)" "" "$out"

# one broken copy per severity: each must be reported by the rule named
broken() { # NAME PYTHON-REPLACEMENT-ARGS
	py "
import sys
s = open('deploy/spool.yaml').read()
t = s.replace($2, 1)
assert t != s, 'the replaced text is not in the template'
open(sys.argv[1], 'w').write(t)
" "$T_TMP/$1.yaml" || fail "broken copy $1: python"
}
broken bad-prop "'HealthCheckPath: /health', 'HealthCheckPathh: /health'"
o=$(lint "$T_TMP/bad-prop.yaml")
expect_match "cfn-lint: an unknown property is an error (E3002)" ":E3002:.*HealthCheckPathh" "$o"

broken old-engine "\"EngineVersion: '15.15'\", \"EngineVersion: '15'\""
o=$(lint "$T_TMP/old-engine.yaml")
expect_match "cfn-lint: a deprecated PostgreSQL version is a warning (W3691)" ":W3691:" "$o"

# informational rules run too (.cfnlintrc include_checks: I): a secret without its
# deletion policy is reported
broken no-policy "'    # the broker goes with the stack, and so do its credentials\n    DeletionPolicy: Delete\n', '    # the broker goes with the stack, and so do its credentials\n'"
o=$(lint "$T_TMP/no-policy.yaml")
expect_match "cfn-lint: .cfnlintrc is read (informational I3011 reported)" ":I3011:.*DeletionPolicy" "$o"

# deploy-lint fails on a warning as on an error
if o=$(scripts/deploy-lint.sh "$T_TMP/old-engine.yaml" 2>&1); then
	fail "deploy-lint fails on a cfn-lint warning" "$o"
else
	ok "deploy-lint fails on a cfn-lint warning"
fi
o=$(scripts/deploy-lint.sh 2>&1)
rc=$?
expect_eq "scripts/deploy-lint.sh: exit 0" 0 "$rc"
expect_match "scripts/deploy-lint.sh: both steps passed" "cfn-lint: no error, no warning.*checks, 0 failed" "$(echo "$o" | tr '\n' ' ')"

done_testing
