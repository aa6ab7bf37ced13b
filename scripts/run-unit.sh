#!/usr/bin/env bash
# run-unit.sh BIN... — run each cmocka unit-test binary, count binaries and test cases.
# Prints per-binary results and a final line "N passed, N failed" (test cases, plus one
# failure for each binary that crashed or exited non-zero without reporting a failure).
# Exit status: 0 when everything passed.
set -u -o pipefail

pass=0
fail=0
bins_failed=()
for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: not an executable"
		fail=$((fail + 1))
		bins_failed+=("$name")
		continue
	fi
	out=$("$bin" 2>&1)
	rc=$?
	# cmocka's summary: "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' <<<"$out" | tail -n1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed (sanitizer, signal) or failed outside a test case
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "ok   $name ($p passed)"
	else
		echo "FAIL $name ($p passed, $f failed, exit $rc)"
		printf '%s\n' "$out" | grep -v '^\[ \(RUN\|       OK\) ' | sed 's/^/    /' | tail -n 60
		bins_failed+=("$name")
	fi
done
[ ${#bins_failed[@]} -eq 0 ] || echo "failed: ${bins_failed[*]}"
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
