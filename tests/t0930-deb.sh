#!/usr/bin/env bash
# t0930: make deb — a Debian package of release binaries whatever SANITIZE and bin/ say
# (bin/ left untouched), the control fields (Version as `adminctl version` prints it,
# Architecture, Depends), every installed file inside (binaries stripped, man pages
# gzipped, units, the sample configs as conffiles), maintainer scripts that parse,
# the extracted spool-api runs; every binary hardened (hardening-check) and lintian
# clean; the version (scripts/version.sh, in a repository of its own: no tag, a tag,
# commits past it, changes; a make dist tarball without git); and the package installed,
# upgraded, removed and purged for real by dpkg in a throwaway root (--root, its
# maintainer scripts run with DPKG_ROOT): the user spool and /var/lib/spool made by
# systemd-sysusers and systemd-tmpfiles, spool-api.service recorded by
# deb-systemd-helper, an administrator's enable kept over an upgrade, the links gone
# after purge.
# lane: first: it builds in build/ (make deb), as t0915 does
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
	libuuid1 libncursesw6 ffmpeg; do
	expect_match "Depends names $d" "(^|, )$d( \([^)]*\))?(,|$)" "$deps"
done
expect_match "Depends names systemd-sysusers as debhelper does" \
	'(^|, )systemd \| systemd-standalone-sysusers \| systemd-sysusers(,|$)' "$deps"
expect_match "Depends names systemd-tmpfiles as debhelper does" \
	'(^|, )systemd \| systemd-standalone-tmpfiles \| systemd-tmpfiles(,|$)' "$deps"
expect_eq "Depends no longer names adduser" "" "$(grep -o 'adduser' <<<"$deps")"
expect_match "--info lists the maintainer scripts" "postinst.*prerm|prerm.*postinst" "$(tr '\n' ' ' <<<"$info")"

# ---- contents
dpkg-deb -x "$deb" "$X" || bail "dpkg-deb -x failed"
dpkg-deb -e "$deb" "$C" || bail "dpkg-deb -e failed"
expect_eq "Version is what adminctl version prints" "adminctl $(field Version)" "$("$X/usr/bin/adminctl" version)"

want=(
	usr/bin/spool-api usr/bin/spool-worker usr/bin/adminctl
	usr/share/spool/logo.png usr/share/doc/spool/copyright usr/share/doc/spool/changelog.gz
	lib/systemd/system/spool-api.service lib/systemd/system/spool-worker@.service
	lib/systemd/system/spool-migrate.service
	etc/spool/api.ini etc/spool/worker.ini etc/spool/adminctl.ini
	usr/lib/sysusers.d/spool.conf usr/lib/tmpfiles.d/spool.conf
)
[ ! -s packaging/debian/spool.lintian-overrides ] || want+=(usr/share/lintian/overrides/spool)
for f in man/*.[578]; do want+=("usr/share/man/man${f##*.}/${f##*/}.gz"); done
expect_eq "files in the package" "$(printf '%s\n' "${want[@]}" | sort)" \
	"$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort)"
expect_eq "owned by root" "" "$(dpkg-deb --contents "$deb" | awk '$2 != "root/root"')"
mode() { stat -c %a "$X/$1"; }
expect_eq "spool-api mode" 755 "$(mode usr/bin/spool-api)"
expect_eq "api.ini mode (postinst makes it root:spool 0640)" 644 "$(mode etc/spool/api.ini)"
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
expect_match "postinst daemon-reload is guarded by /run/systemd/system and DPKG_ROOT" \
	'\[ -z "\$\{DPKG_ROOT:-\}" \] && \[ -d /run/systemd/system \]' "$(cat "$C/postinst")"
for s in postinst prerm postrm; do
	expect_eq "$s starts and stops units only through deb-systemd-invoke" "" \
		"$(grep -E '^[^#]*systemctl' "$C/$s" | grep -vE 'systemctl --system daemon-reload >/dev/null \|\| true$')"
	expect_eq "$s makes no user by hand (sysusers.d does)" "" "$(grep -E '^[^#]*\<(adduser|useradd|addgroup)\>' "$C/$s")"
done
sh "$C/postinst" bogus >/dev/null 2>&1
expect_eq "postinst refuses an unknown action" 1 $?

# ---- lintian (scripts/deps.sh installs it; skipped where absent)
if command -v lintian >/dev/null 2>&1; then
	out=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges')
	expect_eq "lintian reports no errors nor warnings" "" "$(grep -E '^(E|W):' <<<"$out")"
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# lintian: /'
else
	ok "lintian is not installed: check skipped (scripts/deps.sh installs it) # SKIP"
fi

# ---- the extracted binary runs
usage=$("$X/usr/bin/spool-api" -h 2>&1)
expect_eq "extracted spool-api -h exits 0" 0 $?
synopsis=$(MANWIDTH=200 mandoc -Tascii man/spool-api.8 | col -b |
	awk '/^SYNOPSIS/ { getline; sub(/^ +/, ""); print; exit }')
expect_match "extracted spool-api -h prints a usage line" '^usage: spool-api ' "$usage"
expect_eq "its usage line is the SYNOPSIS of spool-api(8)" "usage: $synopsis" "$(sed -n '/^usage: /p' <<<"$usage")"

# ---- hardening: dpkg-buildflags' hardening=+all on every binary of the package. On
# bookworm that is PIE, the stack protector, FORTIFY_SOURCE, RELRO and BIND_NOW; the
# control-flow protection hardening-check also knows (-fcf-protection) is not among
# bookworm's dpkg-buildflags (dpkg 1.22's "branch" feature adds it), so it is not asked for.
if command -v hardening-check >/dev/null 2>&1; then
	for f in "$X"/usr/bin/*; do
		out=$(hardening-check --nocfprotection "$f" 2>&1)
		rc=$?
		if [ $rc -eq 0 ]; then ok "hardening-check ${f##*/}"; else fail "hardening-check ${f##*/}" "$out"; fi
		for feature in 'Position Independent Executable' 'Stack protected' 'Fortify Source functions' \
			'Read-only relocations' 'Immediate binding'; do
			expect_match "${f##*/}: $feature" "^ $feature: yes" "$(grep -F " $feature:" <<<"$out")"
		done
	done
else
	fail "hardening-check is installed (devscripts, scripts/deps.sh)"
fi
expect_match "make deb took its flags from dpkg-buildflags" 'CPPFLAGS=.*-D_FORTIFY_SOURCE=2' "$(cat "$T_TMP/make.out")"
expect_match "LDFLAGS with relro and now" 'LDFLAGS=.*-Wl,-z,relro.*-Wl,-z,now' "$(cat "$T_TMP/make.out")"

# ---- version: Debian-valid, the tree's, printed alike by the three programs
ver=$(field Version)
check "Version is a valid Debian version" dpkg --validate-version "$ver"
expect_match "Version is an upstream version without a revision" '^[0-9][A-Za-z0-9.+~]*$' "$ver"
expect_eq "Version is scripts/version.sh's" "$(scripts/version.sh)" "$ver"
expect_eq "spool-api -V" "spool-api $ver" "$("$X/usr/bin/spool-api" -V)"
expect_eq "spool-worker -V" "spool-worker $ver" "$("$X/usr/bin/spool-worker" -V)"
expect_eq "adminctl --json version" "$ver" "$("$X/usr/bin/adminctl" --json version | jq -r .version)"
expect_eq "the changelog's entry is that version" "spool ($ver) unstable; urgency=medium" \
	"$(gzip -dc "$X/usr/share/doc/spool/changelog.gz" | head -n 1)"

# scripts/version.sh in a repository of its own
G=$T_TMP/vrepo
mkdir -p "$G/scripts"
cp scripts/version.sh "$G/scripts/"
echo 2.5.0 >"$G/VERSION"
gitc() { git -C "$G" -c user.name=t -c user.email=t@example.invalid "$@" >/dev/null; }
gitc init -q && gitc add -A && gitc commit -q -m one
day=$(TZ=UTC0 git -C "$G" log -1 --format=%cd --date=format-local:%Y%m%d)
h1=$(git -C "$G" rev-parse --short HEAD)
expect_eq "no tag: VERSION's base + git date and commit" "2.5.0+git$day.$h1" "$("$G/scripts/version.sh")"
echo x >>"$G/VERSION.extra" && gitc add VERSION.extra
expect_eq "changes: .dirty" "2.5.0+git$day.$h1.dirty" "$("$G/scripts/version.sh")"
expect_eq "changes, --commit: HEAD's" "2.5.0+git$day.$h1" "$("$G/scripts/version.sh" --commit)"
gitc commit -q -m two && gitc tag v3.0.0
expect_eq "a tagged commit: the tag without its v" 3.0.0 "$("$G/scripts/version.sh")"
echo y >>"$G/VERSION.extra" && gitc commit -q -am three && gitc commit -q --allow-empty -m four
h4=$(git -C "$G" rev-parse --short HEAD)
v4=$("$G/scripts/version.sh")
expect_eq "two commits past the tag" "3.0.0+2.git$day.$h4" "$v4"
check "which sorts after the tag" dpkg --compare-versions "$v4" gt 3.0.0
gitc tag release-x
"$G/scripts/version.sh" >/dev/null 2>&1
expect_eq "a tag that is no Debian version is refused" 1 $?
rm -rf "$G/.git"
expect_eq "outside git: VERSION" 2.5.0 "$("$G/scripts/version.sh")"

# make dist: a tarball whose VERSION holds the whole version, which a build there reads
dv=$(scripts/version.sh --commit)
if out=$(make --no-print-directory dist 2>&1); then
	tb=$(tail -n 1 <<<"$out")
	expect_eq "make dist names build/spool-<version>.tar.gz" "build/spool-$dv.tar.gz" "$tb"
	mkdir -p "$T_TMP/dist"
	tar -xzf "$tb" -C "$T_TMP/dist" && rm -f "$tb"
	expect_eq "its VERSION is the whole version" "$dv" "$(cat "$T_TMP/dist/spool-$dv/VERSION")"
	expect_eq "make version there (no git) says it" "$dv" \
		"$(cd "$T_TMP/dist/spool-$dv" && GIT_CEILING_DIRECTORIES=$T_TMP make --no-print-directory version)"
else
	fail "make dist" "$out"
fi

# ---- installed for real, in a throwaway root: dpkg --root with the maintainer scripts
# run outside a chroot (--force-script-chrootless: dpkg sets DPKG_ROOT for them) and the
# libraries it depends on left out (--force-depends); nothing is started or stopped
# (the scripts leave systemctl and deb-systemd-invoke alone under DPKG_ROOT).
D=$T_TMP/droot
mkdir -p "$D/var/lib/dpkg/info" "$D/var/lib/dpkg/updates" "$D/etc"
: >"$D/var/lib/dpkg/status"
: >"$D/var/lib/dpkg/available"
dpk() { dpkg --root="$D" --force-script-chrootless --force-depends --log="$T_TMP/dpkg.log" "$@" \
	>"$T_TMP/dpkg.out" 2>&1; }
host_passwd=$(sha256sum /etc/passwd)
DSH=$D/var/lib/systemd/deb-systemd-helper-enabled
WANTS=etc/systemd/system/multi-user.target.wants
if dpk -i "$deb"; then
	ok "dpkg --root -i installs the package"
	expect_eq "dpkg knows it installed" "install ok installed $ver" \
		"$(dpkg-query --admindir="$D/var/lib/dpkg" -W -f='${Status} ${Version}' spool)"
	pw=$(grep '^spool:' "$D/etc/passwd")
	expect_match "postinst made the system user spool (sysusers.d)" \
		'^spool:x:[1-9][0-9]{0,2}:[1-9][0-9]{0,2}:Spool daemons:/var/lib/spool:/usr/sbin/nologin$' "$pw"
	uid=$(cut -d: -f3 <<<"$pw")
	gid=$(awk -F: '$1 == "spool" { print $3 }' "$D/etc/group")
	for d in var/lib/spool var/lib/spool/tmp; do
		expect_eq "postinst made /$d spool:spool 0750 (tmpfiles.d)" "$uid:$gid 750" "$(stat -c '%u:%g %a' "$D/$d")"
	done
	expect_eq "api.ini is root:spool 0640" "0:$gid 640" "$(stat -c '%u:%g %a' "$D/etc/spool/api.ini")"
	expect_eq "deb-systemd-helper recorded spool-api.service's link" "/$WANTS/spool-api.service" \
		"$(cat "$DSH/spool-api.service.dsh-also" 2>&1)"
	expect_eq "and did not enable it" "" "$(ls "$D/$WANTS" 2>/dev/null)"
	check "deb-systemd-helper calls it debian-installed" env DPKG_ROOT="$D" DPKG_MAINTSCRIPT_PACKAGE=spool \
		deb-systemd-helper debian-installed spool-api.service

	# the administrator enables the API and two workers; an upgrade keeps them enabled
	check "systemctl --root enable spool-api spool-worker@1 spool-worker@2" \
		systemctl --root="$D" --quiet enable spool-api.service spool-worker@1.service spool-worker@2.service
	expect_eq "enabled by the administrator" "spool-api.service spool-worker@1.service spool-worker@2.service" \
		"$(ls "$D/$WANTS" | tr '\n' ' ' | sed 's/ $//')"
	# and keeps worker.ini as a dpkg-statoverride of theirs says
	check "dpkg-statoverride --update root root 0600 worker.ini" \
		dpkg-statoverride --root="$D" --update --add root root 0600 /etc/spool/worker.ini
	if dpk -i "$deb"; then
		ok "dpkg -i again (an upgrade: prerm upgrade, postinst configure OLD)"
		expect_eq "the upgrade left the overridden worker.ini root:root 0600" "0:0 600" \
			"$(stat -c '%u:%g %a' "$D/etc/spool/worker.ini")"
		expect_eq "and made the others root:spool 0640 again" "0:$gid 640" \
			"$(stat -c '%u:%g %a' "$D/etc/spool/adminctl.ini")"
		expect_eq "the upgrade kept the units enabled" \
			"spool-api.service spool-worker@1.service spool-worker@2.service" \
			"$(ls "$D/$WANTS" | tr '\n' ' ' | sed 's/ $//')"
		expect_eq "and the one user" 1 "$(grep -c '^spool:' "$D/etc/passwd")"
	else
		fail "dpkg -i again" "$(cat "$T_TMP/dpkg.out")"
	fi

	if dpk --remove spool; then
		ok "dpkg --remove"
		expect_eq "remove: binaries gone, configs kept" "1 0" \
			"$([ -e "$D/usr/bin/spool-api" ]; echo $?) $([ -e "$D/etc/spool/api.ini" ]; echo $?)"
		expect_eq "remove: spool-api.service masked by deb-systemd-helper" /dev/null \
			"$(readlink "$D/etc/systemd/system/spool-api.service")"
	else
		fail "dpkg --remove" "$(cat "$T_TMP/dpkg.out")"
	fi
	if dpk --purge spool; then
		ok "dpkg --purge"
		expect_eq "purge: no link left under /etc/systemd/system" "" \
			"$(cd "$D" && find etc/systemd -type l 2>/dev/null)"
		expect_eq "purge: deb-systemd-helper's state gone" "" "$(ls "$DSH" 2>/dev/null)"
		expect_eq "purge: /var/lib/spool and the configs gone" "" \
			"$(ls -d "$D/var/lib/spool" "$D/etc/spool/api.ini" 2>/dev/null)"
		expect_eq "purge: the user spool kept" "$pw" "$(grep '^spool:' "$D/etc/passwd")"
		expect_eq "dpkg forgot the package" "" \
			"$(dpkg-query --admindir="$D/var/lib/dpkg" -W -f='${Status}' spool 2>/dev/null | grep installed)"
	else
		fail "dpkg --purge" "$(cat "$T_TMP/dpkg.out")"
	fi
else
	fail "dpkg --root -i installs the package" "$(cat "$T_TMP/dpkg.out")"
fi
expect_eq "the host's /etc/passwd is untouched" "$host_passwd" "$(sha256sum /etc/passwd)"

done_testing
