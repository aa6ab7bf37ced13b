#!/usr/bin/env bash
# run-integration.sh [PATTERN] — run tests/t*.sh in order (with the stack up), each with a
# time limit (SPOOL_TEST_TIMEOUT seconds, default 300). PATTERN selects tests by a
# substring of their file name. Prints each test's result (its output when it failed or
# with VERBOSE=1) and a final line "N passed, N failed" counting test scripts. Logs of
# every test go to $SPOOL_RUN_DIR/log/tests/.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
TIMEOUT=${SPOOL_TEST_TIMEOUT:-300}
pattern=${1:-}

if [ ! -f "$RUN/stack.env" ]; then
	echo "run-integration: no $RUN/stack.env: start the stack (scripts/stack.sh up)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
logdir=$RUN/log/tests
mkdir -p "$logdir"

pass=0
fail=0
failed=()
shopt -s nullglob
tests=(tests/t[0-9]*.sh)
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	[ -z "$pattern" ] || [[ $name == *"$pattern"* ]] || continue
	start=$(date +%s)
	timeout -k 10 "$TIMEOUT" bash "$t" </dev/null >"$logdir/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	summary=$(grep -E '^# .*[0-9]+ passed, [0-9]+ failed' "$logdir/$name.log" | tail -n1 | sed 's/^# [^:]*: //')
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %-40s %4ss  %s\n' "$name" "$secs" "$summary"
		[ -z "${VERBOSE:-}" ] || sed 's/^/    /' "$logdir/$name.log"
	else
		fail=$((fail + 1))
		failed+=("$name")
		what="exit $rc"
		[ "$rc" -ne 124 ] || what="timed out after ${TIMEOUT}s"
		printf 'FAIL %-40s %4ss  %s (%s)\n' "$name" "$secs" "$summary" "$what"
		grep -v '^ok ' "$logdir/$name.log" | sed 's/^/    /' | tail -n 80
	fi
done
if [ $((pass + fail)) -eq 0 ]; then
	echo "run-integration: no test matches '${pattern}'" >&2
fi
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
