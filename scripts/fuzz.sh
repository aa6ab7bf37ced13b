#!/usr/bin/env bash
# fuzz.sh [BIN...] — run each libFuzzer target for a bounded time; fail on a crash.
#   FUZZ_SECONDS=20   seconds per target (-max_total_time)
#   FUZZ_MERGE=1      afterwards merge what the run found into tests/fuzz/corpus/<target>
#                     (otherwise the committed corpus is never written: each run
#                     starts from a copy of it in a temporary directory)
# Targets default to build/fuzz/fuzz-* (make fuzz-bins). Logs go to
# build/fuzz/logs/<target>.log; a crashing input is kept in build/fuzz/crashes/
# and its path printed with the command that reproduces it.
# Exit status: 0 when no target crashed, leaked, timed out or failed to start.
set -u -o pipefail

cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-20}
case $secs in '' | *[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;; esac

if [ "$#" -eq 0 ]; then
	set -- build/fuzz/fuzz-*
	[ -x "$1" ] || { echo "fuzz: no targets in build/fuzz/: run 'make fuzz-bins' first" >&2; exit 2; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spool-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p build/fuzz/logs build/fuzz/crashes

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
start=$SECONDS
for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: '$bin' is not an executable"
		failed+=("$name")
		continue
	fi
	seeds=tests/fuzz/corpus/${name#fuzz-}
	corpus=$work/$name
	mkdir -p "$corpus"
	[ -d "$seeds" ] && cp -R "$seeds"/. "$corpus"/
	log=build/fuzz/logs/$name.log
	crashdir=build/fuzz/crashes/$name/
	mkdir -p "$crashdir"
	t0=$SECONDS
	"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$crashdir" "$corpus" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
	if [ "$rc" -ne 0 ]; then
		failed+=("$name")
		echo "FAIL $name after $((SECONDS - t0)) s (exit $rc), log $log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/    /'
		# the innermost frame in Spool's own code (an abort() is a broken invariant)
		grep -m1 -E '^ +#[0-9]+ .* in [A-Za-z_0-9]+ .*/(shared|daemons|adminctl|tests)/' "$log" |
			sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in /    at /'
		art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
		[ -n "$art" ] && echo "    reproduce: $bin $art"
		continue
	fi
	echo "ok   $name: ${runs:-?} runs, ${cov:-cov: ?} in $((SECONDS - t0)) s, corpus $(find "$corpus" -type f | wc -l) inputs"
	if [ -n "${FUZZ_MERGE:-}" ]; then
		mkdir -p "$seeds"
		"$bin" -merge=1 "$seeds" "$corpus" >>"$log" 2>&1 ||
			echo "     $name: merge into $seeds failed (see $log)"
	fi
done
echo "fuzz: ${#failed[@]} of $# targets failed in $((SECONDS - start)) s${failed[*]:+: ${failed[*]}}"
[ "${#failed[@]}" -eq 0 ]
