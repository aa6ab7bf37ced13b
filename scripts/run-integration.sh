#!/usr/bin/env bash
# run-integration.sh [PATTERN] — run tests/t*.sh (with the stack up), each with a time
# limit (SPOOL_TEST_TIMEOUT seconds, default 300). PATTERN selects tests by a substring of
# their file name. Prints each test's result with its time and the CPU time of its own
# commands (its output when it failed or with VERBOSE=1) and a final line "N passed,
# N failed" counting test runs. Logs of every test go to the log/tests/ folder of the run
# directory it ran against.
#
# Lanes: SPOOL_TEST_RUN_DIRS names the run directories of several stacks that are up
# (space-separated; default: the one stack, $SPOOL_RUN_DIR or .run). Each stack is a
# lane: the tests are handed out in order to whichever lane is free, each test running
# against its lane's stack alone, so that tests which stop a stack's worker or restart
# its broker do not disturb the others. A test's header may pin it:
#   # lane: first  it runs on the first lane (tests that share something outside the
#                  stack: build/ or the machine's CPU), and the first lane takes these
#                  before the others;
#   # lane: each   it runs on every lane, after all the other tests (checks of a whole
#                  stack's logs).
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
TIMEOUT=${SPOOL_TEST_TIMEOUT:-300}
pattern=${1:-}
read -r -a lanes <<<"${SPOOL_TEST_RUN_DIRS:-${SPOOL_RUN_DIR:-$ROOT/.run}}"

for run in "${lanes[@]}"; do
	if [ ! -f "$run/stack.env" ]; then
		echo "run-integration: no $run/stack.env: start the stack (scripts/stack.sh up)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	mkdir -p "$run/log/tests"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/spool-integration.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the queue: one line per test, "NAME PIN" (PIN: - first each), in file-name order
shopt -s nullglob
for t in tests/t[0-9]*.sh; do
	name=$(basename "$t" .sh)
	[ -z "$pattern" ] || [[ $name == *"$pattern"* ]] || continue
	pin=$(sed -n '2,60s/^# lane: \(first\|each\)\([: ].*\)\?$/\1/p' "$t" | head -n1)
	echo "$name ${pin:--}"
done >"$work/queue"
if [ ! -s "$work/queue" ]; then
	echo "run-integration: no test matches '${pattern}'" >&2
	echo "0 passed, 0 failed"
	exit 0
fi
: >"$work/results"

# take LANE LANES: the name of the next test for lane LANE (1-based), removed from the queue;
# nothing when none is left for it. With several lanes, lane 1 takes the pinned tests
# first; a lane takes the "each" tests once nothing else in the queue is for it.
take() {
	(
		flock 9
		line=$(awk -v lane="$1" -v lanes="$2" '
			$2 == "first" && lanes > 1 { if (lane == 1 && !first) first = NR; next }
			($2 == "-" || $2 == "first") && !any { any = NR }
			END { if (first) print first; else if (any) print any; else print 0 }' "$work/queue")
		case $line in
		0)
			# the "each" tests: this lane's own copy, once
			while read -r name pin; do
				[ "$pin" = each ] || continue
				[ -e "$work/each.$name.$1" ] && continue
				: >"$work/each.$name.$1"
				echo "$name"
				break
			done <"$work/queue"
			;;
		*)
			awk -v n="$line" 'NR == n { print $1 }' "$work/queue"
			awk -v n="$line" 'NR != n' "$work/queue" >"$work/queue.new" && mv "$work/queue.new" "$work/queue"
			;;
		esac
	) 9>"$work/lock"
}

HZ=$(getconf CLK_TCK)
# child_ticks: TICKS = the CPU time (clock ticks) of this shell's finished children and
# theirs (not in a $(...), which is a shell of its own); a test's difference is the CPU
# of its own commands, not of the stack's daemons
TICKS=0
child_ticks() {
	local s
	read -r s <"/proc/$BASHPID/stat"
	# shellcheck disable=SC2086 # the fields after the command name
	set -- ${s##*) }
	TICKS=$((${14} + ${15}))
}

# run_lane LANE RUN_DIR: runs what take hands it; each result goes to stdout (whole, under
# the lock) and to the results file
run_lane() {
	local lane=$1 run=$2 name start rc secs cpu summary log tag=
	[ "${#lanes[@]}" -eq 1 ] || tag=" [lane $1]"
	while name=$(take "$lane" "${#lanes[@]}") && [ -n "$name" ]; do
		log=$run/log/tests/$name.log
		start=$(date +%s)
		child_ticks
		cpu=$TICKS
		SPOOL_RUN_DIR=$run timeout -k 10 "$TIMEOUT" bash "tests/$name.sh" </dev/null >"$log" 2>&1
		rc=$?
		secs=$(($(date +%s) - start))
		child_ticks
		cpu=$(((TICKS - cpu) / HZ))
		summary=$(grep -E '^# .*[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 | sed 's/^# [^:]*: //')
		(
			flock 9
			if [ "$rc" -eq 0 ]; then
				echo "PASS $name" >>"$work/results"
				printf 'PASS %-40s %4ss (cpu %3ss)  %s%s\n' "$name" "$secs" "$cpu" "$summary" "$tag"
				[ -z "${VERBOSE:-}" ] || sed 's/^/    /' "$log"
			else
				echo "FAIL $name${tag:+@$lane}" >>"$work/results"
				what="exit $rc"
				[ "$rc" -ne 124 ] || what="timed out after ${TIMEOUT}s"
				printf 'FAIL %-40s %4ss (cpu %3ss)  %s (%s)%s\n' "$name" "$secs" "$cpu" "$summary" "$what" "$tag"
				grep -v '^ok ' "$log" | sed 's/^/    /' | tail -n 80
			fi
		) 9>"$work/out.lock"
	done
}

pids=()
for i in "${!lanes[@]}"; do
	run_lane $((i + 1)) "${lanes[$i]}" &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT TERM
wait "${pids[@]}"

pass=$(grep -c '^PASS ' "$work/results")
fail=$(grep -c '^FAIL ' "$work/results")
[ "$fail" -eq 0 ] || echo "failed: $(sed -n 's/^FAIL //p' "$work/results" | paste -sd' ')"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
