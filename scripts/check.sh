#!/usr/bin/env bash
# check.sh UNITBIN... — `make check`: unit tests, then the integration tests against the
# local stack. Brings the stack up if it is not running, and down again afterwards in that
# case (SPOOL_KEEP_STACK=1 leaves it up). Final line: "N passed, N failed" (unit test cases
# + integration test scripts); exit status non-zero on any failure.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
STACK=scripts/stack.sh

total_pass=0
total_fail=0
count() { # OUTPUT: add the counts of its last "N passed, N failed" line
	local line p f
	line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' <<<"$1" | tail -n1)
	p=$(sed -E 's/.*(^|[^0-9])([0-9]+) passed.*/\2/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-1}))
}

echo "== unit tests"
if [ $# -gt 0 ]; then
	out=$(scripts/run-unit.sh "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	count "$out"
	[ "$rc" -eq 0 ] || [ "$total_fail" -gt 0 ] || total_fail=$((total_fail + 1))
else
	echo "(no unit test binaries given)"
fi

started=
stop_stack() {
	if [ -n "$started" ] && [ -z "${SPOOL_KEEP_STACK:-}" ]; then
		echo "== stack down (started by check.sh)"
		"$STACK" down || true
		started=
	fi
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

echo "== integration tests"
if "$STACK" status >/dev/null 2>&1; then
	echo "(stack already running: leaving it up afterwards)"
	# (re)start spool-api/worker if built and not running; idempotent for the rest
	"$STACK" up || true
else
	echo "== stack up"
	started=1
	if ! "$STACK" up; then
		echo "check: the stack did not come up"
		total_fail=$((total_fail + 1))
		echo "$total_pass passed, $total_fail failed"
		exit 1
	fi
fi
before=$total_fail
out=$(scripts/run-integration.sh 2>&1)
rc=$?
printf '%s\n' "$out"
count "$out"
[ "$rc" -eq 0 ] || [ "$total_fail" -gt "$before" ] || total_fail=$((total_fail + 1))

stop_stack
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
