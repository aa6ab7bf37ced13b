#!/usr/bin/env bash
# Regenerate the key list of man/spool.ini.5 from the config table (shared/config.c),
# between the ".\" BEGIN KEYS" and ".\" END KEYS" lines. With --check, only report
# whether the page is up to date (exit 1 if not).
set -euo pipefail
cd "$(dirname "$0")/.."
page=man/spool.ini.5
tool=bin/tools/config-doc
[ -x "$tool" ] || make --no-print-directory "$tool" >/dev/null
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v gen="$tool" '
	/^\.\\" BEGIN KEYS/ { print; while ((gen | getline line) > 0) print line; close(gen); skip = 1; next }
	/^\.\\" END KEYS/ { skip = 0 }
	!skip { print }
' "$page" >"$tmp"
if [ "${1:-}" = --check ]; then
	if ! cmp -s "$tmp" "$page"; then
		echo "man/spool.ini.5 is out of date with shared/config.c: run scripts/gen-man.sh" >&2
		exit 1
	fi
	exit 0
fi
cp "$tmp" "$page"
