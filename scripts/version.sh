#!/bin/sh
# version.sh — print the version of this tree on one line: what the programs print
# (`spool-api -V`, `adminctl version`) and the Debian package's version.
#
#   scripts/version.sh           the working tree's version (".dirty" when tracked files changed)
#   scripts/version.sh --commit  HEAD's version, as `make dist` archives it
#
# In a git checkout (this directory the top of its work tree), from
# `git describe --tags --always --dirty`:
#   HEAD tagged v1.2.0 (or 1.2.0)       1.2.0
#   3 commits past the tag v1.2.0       1.2.0+3.git20261206.abc1234
#   no tag at all                       BASE+git20261206.abc1234, BASE the first line of VERSION
# (the date is the commit's, in UTC), with ".dirty" appended when the work tree has
# changes. Outside a checkout (a `make dist` tarball, where VERSION holds the whole
# version): the first line of VERSION. The result must be a Debian upstream version
# without a hyphen: a digit first, then letters, digits and ".+~"; anything else is
# refused with exit 1.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
dirty=--dirty
case ${1:-} in
--commit) dirty= ;;
"") ;;
*)
	echo "usage: version.sh [--commit]" >&2
	exit 2
	;;
esac

die() {
	echo "version.sh: $*" >&2
	exit 1
}

base=
[ ! -f "$ROOT/VERSION" ] || base=$(sed -n '1{s/[[:space:]]//g;p;}' "$ROOT/VERSION")

top=$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null || true)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$ROOT" ]; then
	# shellcheck disable=SC2086 # $dirty is one option or none
	desc=$(git -C "$ROOT" describe --tags --always $dirty) || die "git describe failed"
	suffix=
	case $desc in *-dirty)
		desc=${desc%-dirty}
		suffix=.dirty
		;;
	esac
	date=$(TZ=UTC0 git -C "$ROOT" log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
	if tag=$(git -C "$ROOT" describe --tags --abbrev=0 2>/dev/null); then
		if [ "$desc" = "$tag" ]; then
			version=${tag#v}
		else # TAG-N-gHASH
			rest=${desc#"$tag"-}
			version=${tag#v}+${rest%%-g*}.git$date.${rest#*-g}
		fi
	else
		[ -n "$base" ] || die "no tag and no base version in $ROOT/VERSION"
		version=$base+git$date.$desc
	fi
	version=$version$suffix
else
	[ -n "$base" ] || die "not a git checkout and no $ROOT/VERSION: cannot tell the version"
	version=$base
fi

case $version in
[0-9]*) ;;
*) die "'$version' is not a Debian upstream version (it must start with a digit)" ;;
esac
case $version in
*[!A-Za-z0-9.+~]*) die "'$version' is not a Debian upstream version (letters, digits and .+~ only)" ;;
esac
echo "$version"
