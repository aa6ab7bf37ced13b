#!/usr/bin/env bash
# t0930: make deb — a Debian package of release binaries whatever SANITIZE and bin/ say
# (bin/ left untouched), the control fields (Version as `adminctl version` prints it,
# Architecture, Depends), every installed file inside (binaries stripped, man pages
# gzipped, units, the sample configs as conffiles), maintainer scripts that parse,
# lintian without errors where lintian is installed, and the extracted spool-api runs.
# Not installed for real (no chroot): the maintainer scripts are only checked statically.
. "$(dirname "$0")/lib.sh"

W=$T_TMP/work
X=$T_TMP/x
C=$T_TMP/control
arch=$(dpkg --print-architecture)

sum_bin() { for b in bin/spool-api bin/spool-worker bin/adminctl; do
	[ -f "$b" ] && stat -c '%n %Y %s' "$b"
done; }
bin_before=$(sum_bin)

# SANITIZE on the command line (as in CI's make check): the package is a release build
# all the same. The work directory and the .deb go to $T_TMP, not build/.
start=$SECONDS
# (without the MAKEFLAGS of make check: its jobserver is not passed down to tests, and
# mkdeb.sh runs its own -j$(nproc) then)
DEB_DIR=$W DEB_OUT=$T_TMP env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make --no-print-directory deb SANITIZE=address,undefined \
	>"$T_TMP/make.out" 2>&1 || bail "make deb failed: $(tail -n 30 "$T_TMP/make.out")"
deb=$(tail -n 1 "$T_TMP/make.out")
echo "# make deb: $((SECONDS - start)) s"
[ -f "$deb" ] || bail "make deb printed no package path: $(tail -n 5 "$T_TMP/make.out")"
expect_match "the package is named spool_<version>_<arch>.deb" "/spool_[0-9][^_]*_${arch}\.deb$" "$deb"
expect_eq "bin/ is left as it was" "$bin_before" "$(sum_bin)"

# the link commands of packaging/deb.mk are the Makefile's bin/ rules with another output
for p in spool-api spool-worker adminctl; do
	mine=$(make -n --no-print-directory -W build/rel/libspool.a SANITIZE= "bin/$p" | grep -- " -o bin/$p ")
	deb_cmd=$(make -n --no-print-directory -f Makefile -f packaging/deb.mk -W build/rel/libspool.a \
		SANITIZE= DEB_BINDIR=/deb-bin "/deb-bin/$p" | grep -- " -o /deb-bin/$p " | sed "s# -o /deb-bin/# -o bin/#")
	if [ -n "$mine" ] && [ "$mine" = "$deb_cmd" ]; then
		ok "deb.mk links $p as the Makefile does"
	else
		fail "deb.mk links $p as the Makefile does" "Makefile: $mine
deb.mk:   $deb_cmd"
	fi
done

# ---- control fields
info=$(dpkg-deb --info "$deb")
field() { dpkg-deb --field "$deb" "$1"; }
expect_eq "Package" spool "$(field Package)"
expect_eq "Architecture" "$arch" "$(field Architecture)"
expect_match "Maintainer" '^[^<]+ <[^@>]+@[^>]+>$' "$(field Maintainer)"
expect_match "Description" '^asynchronous media-job platform' "$(field Description)"
expect_match "Installed-Size" '^[0-9]+$' "$(field Installed-Size)"
deps=$(field Depends)
for d in libc6 libmicrohttpd12 librabbitmq4 libpq5 libcurl4 libssl3 libjansson4 libinih1 libsystemd0 \
	libuuid1 libncursesw6 adduser ffmpeg; do
	expect_match "Depends names $d" "(^|, )$d( \([^)]*\))?(,|$)" "$deps"
done
expect_match "--info lists the maintainer scripts" "postinst.*prerm|prerm.*postinst" "$(tr '\n' ' ' <<<"$info")"

# ---- contents
dpkg-deb -x "$deb" "$X" || bail "dpkg-deb -x failed"
dpkg-deb -e "$deb" "$C" || bail "dpkg-deb -e failed"
expect_eq "Version is what adminctl version prints" "adminctl $(field Version)" "$("$X/usr/bin/adminctl" version)"

want=(
	usr/bin/spool-api usr/bin/spool-worker usr/bin/adminctl
	usr/share/spool/logo.png usr/share/doc/spool/copyright usr/share/doc/spool/changelog.gz
	lib/systemd/system/spool-api.service lib/systemd/system/spool-worker@.service
	etc/spool/api.ini etc/spool/worker.ini etc/spool/adminctl.ini
)
for f in man/*.[578]; do want+=("usr/share/man/man${f##*.}/${f##*/}.gz"); done
expect_eq "files in the package" "$(printf '%s\n' "${want[@]}" | sort)" \
	"$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort)"
expect_eq "owned by root" "" "$(dpkg-deb --contents "$deb" | awk '$2 != "root/root"')"
mode() { stat -c %a "$X/$1"; }
expect_eq "spool-api mode" 755 "$(mode usr/bin/spool-api)"
expect_eq "api.ini mode" 640 "$(mode etc/spool/api.ini)"
expect_eq "api unit ExecStart is /usr/bin's" "ExecStart=/usr/bin/spool-api -f /etc/spool/api.ini" \
	"$(grep '^ExecStart=' "$X/lib/systemd/system/spool-api.service")"
expect_eq "worker.ini logo is /usr/share's" "logo = /usr/share/spool/logo.png" \
	"$(grep '^logo *=' "$X/etc/spool/worker.ini")"
check "man pages are gzipped spool.ini(5)" sh -c "gzip -dc '$X/usr/share/man/man5/spool.ini.5.gz' | cmp - man/spool.ini.5"
check "md5sums match the files" sh -c "cd '$X' && md5sum --quiet -c '$C/md5sums'"

expect_eq "conffiles" "/etc/spool/api.ini
/etc/spool/worker.ini
/etc/spool/adminctl.ini" "$(cat "$C/conffiles")"

# release binaries: no sanitizer runtime, stripped
for b in spool-api spool-worker adminctl; do
	f=$X/usr/bin/$b
	san=$(readelf -d "$f" | grep -E 'NEEDED.*lib(a|ub|t|l)san'; readelf -Ws "$f" | grep -cE ' __(asan|ubsan)_' | grep -v '^0$')
	expect_eq "$b has no sanitizer" "" "$san"
	expect_eq "$b is stripped" "" "$(readelf -S "$f" | grep -F .symtab)"
done

# ---- maintainer scripts
for s in postinst prerm postrm; do
	expect_eq "$s mode" 755 "$(stat -c %a "$C/$s")"
	check "$s passes sh -n" sh -n "$C/$s"
	if command -v dash >/dev/null 2>&1; then check "$s passes dash -n" dash -n "$C/$s"; fi
	if command -v shellcheck >/dev/null 2>&1; then check "$s passes shellcheck -s sh" shellcheck -s sh "$C/$s"; fi
done
expect_match "postinst daemon-reload is guarded by /run/systemd/system" \
	'\[ -d /run/systemd/system \]' "$(cat "$C/postinst")"

# the scripts run with every command that changes the system replaced by a stub that
# logs its arguments (getent finds no user: a first install)
S=$T_TMP/stubs
mkdir -p "$S"
for c in adduser addgroup install chgrp chmod chown rm systemctl dpkg-statoverride deluser; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$T_TMP" >"$S/$c"
done
printf '#!/bin/sh\nexit 2\n' >"$S/getent"
chmod +x "$S"/*
run_script() { : >"$T_TMP/calls"; PATH=$S:$PATH sh "$C/$1" "${@:2}" >"$T_TMP/script.out" 2>&1; }
run_script postinst configure ''
expect_eq "postinst configure exits 0" 0 $?
calls=$(cat "$T_TMP/calls")
expect_match "postinst adds the system user and group spool" \
	'(^|
)adduser --system --quiet --group --home /var/lib/spool [^
]*spool(
|$)' "$calls"
expect_match "postinst makes /var/lib/spool/tmp spool:spool 0750" \
	'install -d -o spool -g spool -m 0750 /var/lib/spool /var/lib/spool/tmp' "$calls"
run_script prerm upgrade 0.1.0
expect_eq "prerm upgrade exits 0 and stops nothing" "0 " "$? $(grep -F 'systemctl stop' "$T_TMP/calls")"
run_script postrm purge
expect_eq "postrm purge exits 0" 0 $?
expect_match "postrm purge removes /var/lib/spool" 'rm -rf /var/lib/spool' "$(cat "$T_TMP/calls")"
run_script postinst bogus
expect_eq "postinst refuses an unknown action" 1 $?

# ---- lintian (heavy: not among the project's dependencies; skipped where absent)
if command -v lintian >/dev/null 2>&1; then
	out=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges')
	expect_eq "lintian reports no errors" "" "$(grep '^E:' <<<"$out")"
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# lintian: /'
else
	ok "lintian is not installed: check skipped (apt-get install lintian to run it) # SKIP"
fi

# ---- the extracted binary runs
usage=$("$X/usr/bin/spool-api" -h 2>&1)
expect_eq "extracted spool-api -h exits 0" 0 $?
synopsis=$(MANWIDTH=200 mandoc -Tascii man/spool-api.8 | col -b |
	awk '/^SYNOPSIS/ { getline; sub(/^ +/, ""); print; exit }')
expect_match "extracted spool-api -h prints a usage line" '^usage: spool-api ' "$usage"
expect_eq "its usage line is the SYNOPSIS of spool-api(8)" "usage: $synopsis" "$(sed -n '/^usage: /p' <<<"$usage")"

done_testing
