#!/usr/bin/env bash
# Manual pages: mandoc -Tlint clean, spool.ini(5) generated from the config table,
# and each daemon's usage string is the synopsis of its page.
. tests/lib.sh

out=$(mandoc -Tlint -Wwarning man/*.[0-9] 2>&1)
expect_eq "mandoc -Tlint is clean" "" "$out"

check "spool.ini(5) lists exactly the keys of the config table" scripts/gen-man.sh --check

for prog in spool-api spool-worker; do
	usage=$(bin/$prog -h 2>&1 | sed -n 's/^usage: //p')
	synopsis=$(MANWIDTH=200 mandoc -Tascii man/$prog.8 | col -b |
		awk '/^SYNOPSIS/ { getline; sub(/^ +/, ""); print; exit }')
	expect_eq "$prog -h matches the SYNOPSIS of $prog(8)" "$synopsis" "$usage"
done

# spool-api -h and a bad option: exit codes 0 and 2
bin/spool-api -h >/dev/null 2>&1
expect_eq "spool-api -h exits 0" 0 $?
bin/spool-worker -Z >/dev/null 2>&1
expect_eq "spool-worker with a bad option exits 2" 2 $?

done_testing
