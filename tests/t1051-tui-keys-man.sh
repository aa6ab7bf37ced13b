#!/usr/bin/env bash
# t1051 — the KEYS section of adminctl(8) lists exactly the TUI's key table, as
# `adminctl tui --keys` prints it (the table that dispatches the keys and that `?`
# shows): every screen, key and description, and no more entries.
. "$(dirname "$0")/lib.sh"

[ -x bin/adminctl ] || bail "bin/adminctl is not built"
keys=$(bin/adminctl tui --keys)
expect_eq "tui --keys exits 0" 0 $?
expect_match "tui --keys: screen, key, description" $'^all\t\\?\tthis help' "$keys"
# the KEYS section as rendered, its whitespace collapsed
man=$(LC_ALL=C.UTF-8 mandoc -Tutf8 -O width=300 man/adminctl.8 | LC_ALL=C.UTF-8 col -b |
	sed -n '/^KEYS$/,/^[A-Z][A-Z ]*$/p' | sed '$d' | tr -s ' \t\n' '   ')
[ -n "$man" ] || bail "adminctl(8) has no KEYS section"
missing=()
while IFS=$'\t' read -r screen key what; do
	grep -qF -- " $screen $key $what " <<<"$man " || missing+=("$screen $key: $what")
done <<<"$keys"
expect_eq "every key of the table is in adminctl(8)'s KEYS, with its screen and description" "" \
	"$(printf '%s\n' "${missing[@]}")"
entries=$(sed -n '/^\.Sh KEYS$/,/^\.Sh /p' man/adminctl.8 | grep -c '^\.It ')
expect_eq "KEYS has as many entries as the table" "$(wc -l <<<"$keys")" "$entries"
done_testing
