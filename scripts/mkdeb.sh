#!/usr/bin/env bash
# mkdeb.sh — `make deb`: build/spool_<version>_<arch>.deb with dpkg-deb.
#
#   1. release binaries linked from build/rel's objects into $DEB_DIR/bin by a sub-make
#      with SANITIZE= forced (packaging/deb.mk says why bin/ is not used: it may hold a
#      sanitized build, and bin/ is left alone) and CFLAGS, CPPFLAGS and LDFLAGS from
#      dpkg-buildflags with hardening=+all, as dpkg-buildpackage gives them (so CFLAGS
#      in the environment do not reach the package; DEB_CFLAGS_APPEND etc. do);
#   2. `make install DESTDIR=$DEB_DIR/debian/spool PREFIX=/usr SYSCONFDIR=/etc
#      UNITDIR=/lib/systemd/system CREATE_USER=no` with those binaries as BINS (`-o
#      all`: install's prerequisite `all` would build bin/); sysusers.d and tmpfiles.d
#      go to /usr/lib, and postinst applies them;
#   3. binaries stripped, man pages gzipped, /usr/share/doc/spool (copyright,
#      changelog.gz) added, as Debian packages have them;
#   4. DEBIAN/ from packaging/debian/: control with Version = what `adminctl version`
#      prints (scripts/version.sh, compiled in), Architecture = dpkg --print-architecture, Depends from
#      dpkg-shlibdeps (plus systemd-sysusers and systemd-tmpfiles for postinst, as
#      debhelper words them, and ffmpeg for the workers), or a fixed list where
#      dpkg-shlibdeps is missing; conffiles, maintainer scripts, md5sums; the lintian
#      overrides in /usr/share/lintian/overrides/spool;
#   5. dpkg-deb --build --root-owner-group.
#
# Environment: DEB_DIR (work directory, default build/deb), DEB_OUT (where the .deb
# goes, default build), DEB_MAINTAINER (the Maintainer field). The last line printed is
# the path of the package.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAKE=${MAKE:-make}
DEB_DIR=${DEB_DIR:-build/deb}
DEB_OUT=${DEB_OUT:-build}
MAINTAINER=${DEB_MAINTAINER:-Spool maintainers <maintainers@users.noreply.r-seed-abade7ff.example>}

say() { printf 'mkdeb: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

for t in dpkg-deb dpkg dpkg-buildflags install strip gzip md5sum readelf; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing (dpkg, dpkg-dev, binutils)"
done

mkdir -p "$DEB_DIR" "$DEB_OUT"
DEB_DIR=$(cd "$DEB_DIR" && pwd)
DEB_OUT=$(cd "$DEB_OUT" && pwd)
STAGE=$DEB_DIR/debian/spool
BINDIR=$DEB_DIR/bin
rm -rf "$STAGE"

# a parallel build unless make deb was itself given -j (then the jobserver is inherited)
jobs=()
case " ${MAKEFLAGS:-} " in
*" -j"* | *jobserver*) ;;
*) jobs=(-j"$(nproc 2>/dev/null || echo 2)") ;;
esac
flags=()
for f in CFLAGS CPPFLAGS LDFLAGS; do
	v=$(DEB_BUILD_MAINT_OPTIONS="hardening=+all ${DEB_BUILD_MAINT_OPTIONS:-}" dpkg-buildflags --get "$f")
	flags+=("$f=$v")
	say "$f=$v"
done
submake=("$MAKE" --no-print-directory "${jobs[@]}" -f Makefile -f packaging/deb.mk SANITIZE= "${flags[@]}"
	DEB_BINDIR="$BINDIR")

sanitized() { # FILE: linked with a sanitizer runtime (shared, as gcc does, or static, as clang)
	readelf -d "$1" 2>/dev/null | grep -qE 'NEEDED.*lib(a|ub|t|l)san' && return 0
	readelf -Ws "$1" 2>/dev/null | grep -qE ' __(asan|ubsan|tsan|lsan)_'
}
if [ -f bin/spool-api ] && sanitized bin/spool-api; then
	say "bin/ holds a sanitized build: left alone, the package gets release binaries from build/rel"
fi

say "release binaries from build/rel"
"${submake[@]}" deb-bins
bins=("$BINDIR/spool-api" "$BINDIR/spool-worker" "$BINDIR/adminctl")
for b in "${bins[@]}"; do
	! sanitized "$b" || die "$b is linked with a sanitizer (CFLAGS or LDFLAGS in the environment?)"
done

say "make install DESTDIR=$STAGE"
"${submake[@]}" -o all install DESTDIR="$STAGE" PREFIX=/usr SYSCONFDIR=/etc \
	UNITDIR=/lib/systemd/system CREATE_USER=no BINS="${bins[*]}" >"$DEB_DIR/install.log" 2>&1 ||
	die "make install failed: $(tail -n 20 "$DEB_DIR/install.log")"

# what `adminctl version` prints is the package's version
version=$("$STAGE/usr/bin/adminctl" version | sed -n 's/^adminctl //p')
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "adminctl version printed no usable version: '$version'"
tree=$(scripts/version.sh)
[ "$version" = "$tree" ] || die "adminctl version prints '$version' but the tree is '$tree'"
arch=$(dpkg --print-architecture)
gitrev=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)

# the sample configs 0644 as lintian wants (they name secrets, never hold one): postinst
# makes them root:spool 0640 at once, and dpkg never replaces a config that was changed
chmod 644 "$STAGE"/etc/spool/*.ini
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE"/usr/bin/*
gzip -9n "$STAGE"/usr/share/man/man*/*
doc=$STAGE/usr/share/doc/spool
install -d "$doc"
install -m 644 packaging/debian/copyright "$doc/copyright"
{
	printf 'spool (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built by make deb from git %s.\n\n' "$gitrev"
	printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"

# Depends
extra="systemd | systemd-standalone-sysusers | systemd-sysusers, systemd | systemd-standalone-tmpfiles | systemd-tmpfiles, ffmpeg"
depends=
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	# dpkg-shlibdeps wants a source tree: debian/control there, the package in debian/spool
	printf 'Source: spool\n\nPackage: spool\nArchitecture: any\n' >"$DEB_DIR/debian/control"
	if out=$(cd "$DEB_DIR" && dpkg-shlibdeps -O debian/spool/usr/bin/* 2>"$DEB_DIR/shlibdeps.err"); then
		depends=$(sed -n 's/^shlibs:Depends=//p' <<<"$out")
	else
		say "dpkg-shlibdeps failed, using the fixed list: $(tail -n 5 "$DEB_DIR/shlibdeps.err")"
	fi
	rm -f "$DEB_DIR/debian/control"
fi
if [ -z "$depends" ]; then
	depends="libc6, libmicrohttpd12, librabbitmq4, libpq5, libcurl4, libssl3, libjansson4, libinih1, libncursesw6, libtinfo6, libsystemd0, libuuid1, zlib1g"
fi
depends="$depends, $extra"

if [ -s packaging/debian/spool.lintian-overrides ]; then
	install -d "$STAGE/usr/share/lintian/overrides"
	install -m 644 packaging/debian/spool.lintian-overrides "$STAGE/usr/share/lintian/overrides/spool"
fi

install -d -m 755 "$STAGE/DEBIAN"
size=$(du -sk --apparent-size --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$MAINTAINER|" \
	-e "s|@INSTALLED_SIZE@|$size|" -e "s#@DEPENDS@#$depends#" \
	packaging/debian/control >"$STAGE/DEBIAN/control"
! grep -q '@[A-Z_]*@' "$STAGE/DEBIAN/control" || die "control: a placeholder is left"
install -m 644 packaging/debian/conffiles "$STAGE/DEBIAN/conffiles"
while read -r c; do
	[ -f "$STAGE$c" ] || die "conffile $c is not in the package"
done <packaging/debian/conffiles
for s in postinst prerm postrm; do
	install -m 755 "packaging/debian/$s" "$STAGE/DEBIAN/$s"
done
# md5sums of every file but the conffiles (dpkg keeps theirs apart), as dh_md5sums does
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
	grep -vxF -f <(sed 's#^/##' "$ROOT/packaging/debian/conffiles") | xargs md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 644 "$STAGE/DEBIAN/md5sums"

deb=$DEB_OUT/spool_${version}_${arch}.deb
dpkg-deb --build --root-owner-group -Zxz "$STAGE" "$deb" >/dev/null
say "built $deb (git $gitrev)"
echo "$deb"
