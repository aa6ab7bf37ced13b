#!/usr/bin/env bash
# check.sh UNITBIN... — `make check`: unit tests, then the integration tests against the
# local stack. Brings the stack up if it is not running, and down again afterwards in that
# case (SPOOL_KEEP_STACK=1 leaves it up). Final line: "N passed, N failed" (unit test cases
# + integration test runs); exit status non-zero on any failure.
#
# SPOOL_TEST_LANES (default 2): the integration tests run in this many lanes, each against
# a stack of its own (scripts/run-integration.sh). The stack of lane N > 1 lives in
# <run dir>-laneN, on the ports 200 * (N - 1) above the first stack's; check.sh brings
# it up and down again (SPOOL_KEEP_STACK=1 leaves it up too). The tests wait on leases,
# redeliveries and sweeps, but their own commands keep two cores busy as well: two lanes
# took the sanitized suite from about 1,300 s to 1,000-1,200 s there, not to half.
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

started=
RUN1=${SPOOL_RUN_DIR:-$ROOT/.run}
LANES=${SPOOL_TEST_LANES:-2}
case $LANES in '' | *[!0-9]* | 0) echo "check: bad SPOOL_TEST_LANES '$LANES'" >&2 && exit 2 ;; esac
lane_dirs=()
stop_stack() {
	local d
	[ -z "${SPOOL_KEEP_STACK:-}" ] || return 0
	for d in "${lane_dirs[@]}"; do
		echo "== stack of $(basename "$d") down"
		SPOOL_RUN_DIR=$d "$STACK" down || true
	done
	lane_dirs=()
	if [ -n "$started" ]; then
		echo "== stack down (started by check.sh)"
		"$STACK" down || true
		started=
	fi
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

# the other lanes' stacks come up in the background, side by side, while the unit tests
# run (their output in build/laneN-up.log, their logs in each run dir's log/); the first
# stack's ports are those it has (its port_base) or will have
run_dirs=$RUN1
lane_pids=()
if [ "$LANES" -gt 1 ]; then
	base=$(cat "$RUN1/port_base" 2>/dev/null || echo "${SPOOL_PORT_BASE:-25400}")
	mkdir -p "$ROOT/build"
	for ((i = 2; i <= LANES; i++)); do
		d=$RUN1-lane$i
		lane_dirs+=("$d")
		run_dirs+=" $d"
		echo "== stack of lane $i up in the background ($d, ports from $((base + 200 * (i - 1))))"
		SPOOL_RUN_DIR=$d SPOOL_PORT_BASE=$((base + 200 * (i - 1))) "$STACK" up </dev/null >"$ROOT/build/lane$i-up.log" 2>&1 &
		lane_pids+=($!)
	done
fi

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
for ((i = 2; i <= LANES; i++)); do
	if ! wait "${lane_pids[$((i - 2))]}"; then
		cat "$ROOT/build/lane$i-up.log"
		echo "check: the stack of lane $i did not come up"
		total_fail=$((total_fail + 1))
		echo "$total_pass passed, $total_fail failed"
		exit 1
	fi
	echo "== stack of lane $i is up"
done
before=$total_fail
out=$(SPOOL_TEST_RUN_DIRS=$run_dirs scripts/run-integration.sh 2>&1)
rc=$?
printf '%s\n' "$out"
count "$out"
[ "$rc" -eq 0 ] || [ "$total_fail" -gt "$before" ] || total_fail=$((total_fail + 1))

stop_stack
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
