#!/usr/bin/env bash
# t0060 — the README's layout table names every module of the tree: each .c/.h of
# shared/, daemons/api/, daemons/worker/ and adminctl/ (by its name without the
# extension; adminctl's cmd-*/tui-* by those patterns), and names no module that is
# not there.
. "$(dirname "$0")/lib.sh"

row() { grep -F "| \`$1/\` |" README.md; }
for dir in shared daemons/api daemons/worker adminctl; do
	r=$(row "$dir")
	[ -n "$r" ] || { fail "README has a row for $dir/"; continue; }
	missing=()
	for f in "$dir"/*.[ch]; do
		base=$(basename "$f")
		m=${base%.[ch]}
		case $m in cmd-* | tui-*) grep -qF "\`${m%%-*}-*.c\`" <<<"$r" && [ "$m" != tui-marks ] && continue ;; esac
		grep -qF "\`$m\`" <<<"$r" || grep -qF "\`$base\`" <<<"$r" || missing+=("$base")
	done
	expect_eq "README's $dir/ row names all its modules" "" "${missing[*]}"
done
# every backticked lower-case word in the shared/ row that looks like a module is one
stale=()
for m in $(row shared | grep -o '`[a-z0-9]*`' | tr -d '`' | sort -u); do
	case $m in params | api) continue ;; esac
	[ -f "shared/$m.c" ] || [ -f "shared/$m.h" ] || stale+=("$m")
done
expect_eq "README's shared/ row names no module that is gone" "" "${stale[*]}"
done_testing
