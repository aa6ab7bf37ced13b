#!/usr/bin/env bash
# t0910: the systemd units in etc/systemd/ — `systemd-analyze verify` clean and
# `systemd-analyze security --offline=true` exposure at most 2.0 ("OK") for both,
# plus the settings the daemons rely on (Type=notify, watchdog, reload, user, stop
# timeout above the worker's shutdown_grace); spool-migrate.service, the oneshot
# adminctl db bootstrap the daemons are ordered after.
# lane: first: it installs packages (systemd), as the other t09xx tests do
. "$(dirname "$0")/lib.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	# Debian's systemd package only installs the tools here: nothing is started
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd >/dev/null 2>&1 || true
	fi
	command -v systemd-analyze >/dev/null 2>&1 || bail "systemd-analyze not found (Debian package systemd)"
fi

UNITS=(spool-api.service spool-worker@.service spool-migrate.service)
DAEMONS=(spool-api.service spool-worker@.service)
U=$T_TMP/units
mkdir -p "$U" "$T_TMP/man/man5" "$T_TMP/man/man7" "$T_TMP/man/man8"
# verify wants ExecStart to exist: copies of the units pointing at stand-in binaries
for p in spool-api spool-worker adminctl; do
	printf '#!/bin/sh\nexit 0\n' >"$U/$p"
	chmod 755 "$U/$p"
done
for u in "${UNITS[@]}"; do
	[ -f "etc/systemd/$u" ] || bail "etc/systemd/$u missing"
	sed "s#/usr/local/bin/#$U/#g" "etc/systemd/$u" >"$U/$u"
	chmod 644 "$U/$u"
done

# Documentation=man:... is checked against the pages in man/ (verify runs man(1))
for f in man/*.[0-9]; do
	s=${f##*.}
	cp "$f" "$T_TMP/man/man$s/"
done
man_opt=()
if ! command -v man >/dev/null 2>&1; then
	man_opt=(--man=no)
	missing=
	for u in "${UNITS[@]}"; do
		for ref in $(sed -n 's/^Documentation=//p' "etc/systemd/$u"); do
			page=${ref#man:}
			name=${page%(*}
			sec=${page##*(}
			sec=${sec%)}
			[ -f "man/$name.$sec" ] || missing="$missing $page"
		done
	done
	expect_eq "Documentation= pages exist in man/ (no man(1) here)" "" "$missing"
fi

out=$(cd "$U" && MANPATH=$T_TMP/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "${man_opt[@]}" \
	./spool-api.service ./spool-worker@1.service ./spool-migrate.service 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	ok "systemd-analyze verify: spool-api.service, spool-worker@1.service, spool-migrate.service"
else
	fail "systemd-analyze verify: spool-api.service, spool-worker@1.service, spool-migrate.service" "rc=$rc
$out"
fi

for u in "${UNITS[@]}"; do
	out=$(cd "$U" && SYSTEMD_COLORS=0 systemd-analyze security --offline=true --no-pager "./$u" 2>&1)
	line=$(printf '%s\n' "$out" | grep 'Overall exposure level' | tail -n 1)
	score=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\) .*/\1/p')
	if [ -z "$score" ]; then
		fail "systemd-analyze security $u: a score" "$out"
		continue
	fi
	echo "# $u: exposure $score ($(printf '%s' "$line" | awk '{print $(NF-1)}'))"
	if awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
		ok "systemd-analyze security $u: exposure $score <= 2.0"
	else
		fail "systemd-analyze security $u: exposure $score <= 2.0" "$(printf '%s\n' "$out" | grep '✗')"
	fi
	# the same figure through the tool's own threshold (exit status)
	check "systemd-analyze security --threshold=20 $u" \
		sh -c "cd '$U' && systemd-analyze security --offline=true --threshold=20 './$u' >/dev/null"
done

# the settings the daemons rely on
prop() { sed -n "s/^$2=//p" "etc/systemd/$1" | tail -n 1; }
secs() { # 30s, 1min 30s, 90 -> seconds
	local v=$1 t=0 n
	v=${v// /}
	while [[ $v =~ ^([0-9]+)(min|s|m)?(.*)$ ]]; do
		n=${BASH_REMATCH[1]}
		case ${BASH_REMATCH[2]} in min | m) n=$((n * 60)) ;; esac
		t=$((t + n))
		v=${BASH_REMATCH[3]}
	done
	echo "$t"
}
for u in "${DAEMONS[@]}"; do
	expect_eq "$u: Type" notify "$(prop "$u" Type)"
	expect_eq "$u: NotifyAccess" main "$(prop "$u" NotifyAccess)"
	expect_eq "$u: WatchdogSec" 30s "$(prop "$u" WatchdogSec)"
	expect_eq "$u: ExecReload" '/bin/kill -HUP $MAINPID' "$(prop "$u" ExecReload)"
	expect_eq "$u: Restart" on-failure "$(prop "$u" Restart)"
	expect_eq "$u: User" spool "$(prop "$u" User)"
	expect_eq "$u: CapabilityBoundingSet empty" "" "$(prop "$u" CapabilityBoundingSet)"
	expect_eq "$u: ProtectSystem" strict "$(prop "$u" ProtectSystem)"
	expect_eq "$u: UMask" 0077 "$(prop "$u" UMask)"
done
expect_eq "api ExecStart" "/usr/local/bin/spool-api -f /etc/spool/api.ini" "$(prop spool-api.service ExecStart)"
expect_eq "worker ExecStart" "/usr/local/bin/spool-worker -f /etc/spool/worker.ini" \
	"$(prop spool-worker@.service ExecStart)"

# the bootstrap: once per boot, retried on failure, before the daemons, which want it
m=spool-migrate.service
expect_eq "$m: Type" oneshot "$(prop $m Type)"
expect_eq "$m: RemainAfterExit" yes "$(prop $m RemainAfterExit)"
expect_eq "$m: Restart" on-failure "$(prop $m Restart)"
expect_eq "$m: not retried on a bad config or usage" "78 2" "$(prop $m RestartPreventExitStatus)"
expect_eq "$m: EnvironmentFile" -/etc/default/spool "$(prop $m EnvironmentFile)"
expect_eq "$m: ExecStart" \
	'/usr/local/bin/adminctl -f /etc/spool/adminctl.ini db bootstrap --key-secret ${SPOOL_FIRST_KEY_SECRET}' \
	"$(prop $m ExecStart)"
expect_match "$m: Before spool-api" '(^| )spool-api\.service( |$)' "$(prop $m Before)"
expect_eq "$m: User" spool "$(prop $m User)"
for u in "${DAEMONS[@]}"; do
	expect_match "$u: Wants $m" "(^| )$m( |\$)" "$(prop "$u" Wants)"
	expect_match "$u: After $m" "(^| )$m( |\$)" "$(prop "$u" After)"
done
# systemd 252 accepts Restart=on-failure on a oneshot (since 244): verify is clean above
# and the unit loads with it (a refusal would be "Service has Restart= setting other than no")
out=$(cd "$U" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no ./$m 2>&1)
expect_eq "$m: Restart= accepted for Type=oneshot" "" "$(grep -i 'restart' <<<"$out")"

# TimeoutStopSec above the worker's shutdown_grace (etc/worker.ini, else the default)
grace=$(sed -n 's/^shutdown_grace *= *//p' etc/worker.ini | tail -n 1)
grace=$(secs "${grace:-30s}")
stop=$(secs "$(prop spool-worker@.service TimeoutStopSec)")
if [ "$stop" -gt "$grace" ]; then
	ok "worker TimeoutStopSec ${stop}s > shutdown_grace ${grace}s"
else
	fail "worker TimeoutStopSec ${stop}s > shutdown_grace ${grace}s"
fi
# the worker's tmpdir is the one writable path the unit gives it
tmpdir=$(sed -n 's/^tmpdir *= *//p' etc/worker.ini | tail -n 1)
expect_match "worker tmpdir $tmpdir is in its StateDirectory" "spool/tmp" \
	"$(prop spool-worker@.service StateDirectory) -> $tmpdir"
expect_eq "worker tmpdir" /var/lib/spool/tmp "$tmpdir"

done_testing
