#!/usr/bin/env bash
# deps.sh — install what a fresh Debian 12 machine lacks to build, test and run Spool.
# Idempotent and fast when everything is there (no apt-get update then).
#   scripts/deps.sh            install missing Debian packages, then npm deps of the stand-in
#   DEPS_NO_APT=1 scripts/deps.sh   only the npm part
set -euo pipefail

cd "$(dirname "$0")/.."

PKGS=(
	build-essential pkg-config libmicrohttpd-dev librabbitmq-dev libpq-dev
	libcurl4-openssl-dev libssl-dev libjansson-dev libinih-dev libncurses-dev
	libsystemd-dev libcmocka-dev uuid-dev zlib1g-dev ffmpeg rabbitmq-server postgresql-15
	mandoc wrk tmux python3-boto3 curl jq nodejs clang libclang-rt-14-dev haproxy
	devscripts lintian
)
# postgresql-15 also ships pgbench (/usr/lib/postgresql/15/bin, /usr/bin/pgbench through
# postgresql-client-common), the database ceiling of make bench.
# devscripts and lintian are for t0930 (make deb): hardening-check (devscripts ships it
# in bookworm; hardening-includes is gone) and lintian on the package.

say() { printf 'deps: %s\n' "$*" >&2; }

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if [ -z "${DEPS_NO_APT:-}" ]; then
	missing=()
	for p in "${PKGS[@]}"; do
		installed "$p" || missing+=("$p")
	done
	# npm: a separate package in Debian; bundled in NodeSource's nodejs (do not
	# install Debian's npm next to it, it conflicts).
	if ! command -v npm >/dev/null 2>&1; then
		missing+=(npm)
	fi
	if [ "${#missing[@]}" -gt 0 ]; then
		SUDO=
		[ "$(id -u)" -eq 0 ] || SUDO=sudo
		say "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		$SUDO apt-get update -qq
		# Package scripts must not start services (RabbitMQ, PostgreSQL, ...): the stack
		# runs its own instances on private ports. Deny it for this install unless a
		# policy-rc.d is there already (container images usually have one).
		own_policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
			$SUDO chmod 755 /usr/sbin/policy-rc.d
			own_policy=1
		fi
		rc=0
		$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
		[ -z "$own_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
		[ "$rc" -eq 0 ] || { say "apt-get install failed ($rc)"; exit "$rc"; }
	else
		say "Debian packages: all present"
	fi
fi

# the stand-in's npm dependencies (s3rver, @smithy/signature-v4, ...), pinned by the lock file
SI=scripts/aws-standin
stamp="$SI/node_modules/.spool-deps-stamp"
lock_sum=$(sha256sum "$SI/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && [ -d "$SI/node_modules/s3rver" ]; then
	say "npm modules: up to date"
else
	say "npm ci in $SI"
	(cd "$SI" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	echo "$lock_sum" >"$stamp"
fi

# the interpreter the stack and tests use for boto3
/usr/bin/python3 -c 'import boto3' 2>/dev/null || { say "python3-boto3 not importable by /usr/bin/python3"; exit 1; }
say "ok"
