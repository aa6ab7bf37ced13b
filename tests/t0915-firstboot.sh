#!/usr/bin/env bash
# t0915 — a rehearsal of first boot. The user data of deploy/spool.yaml's API and worker
# launch templates, rendered by scripts/userdata.py with the local stack's values (its
# secret ARNs, bucket, region, the log groups it seeded, PackageUrl a file: URL of the
# package), runs as root in a throwaway root: `unshare --mount --pid --fork`, an overlayfs
# whose lower dir is the host's / and whose upper dir is under $T_TMP, chroot. The
# package is build/spool_<version>_<arch>.deb when one of this tree's version is there
# (a clean tree: version.sh's); else `make deb` builds it here into $T_TMP (release
# objects of build/rel reused when they are there: about 30 s; from nothing, a release
# build of everything, which t0930 then reuses); `apt-get install /tmp/spool.deb` runs `dpkg -i` of it for
# real, with its maintainer scripts (systemd-sysusers, systemd-tmpfiles,
# deb-systemd-helper). The API's user data runs first, then the worker's, in the same
# root (two hosts' files do not collide but /etc/default/spool, checked in between).
#
# Shims (first on PATH, each records its arguments in /rehearsal/record/NAME) stand in
# ONLY for what cannot run in a chroot without systemd, AWS or the network:
#   - systemctl: records; `start` of spool-migrate, spool-api and spool-worker@N does
#     what systemd would do with the unit the package installed (ExecStart= of the unit
#     and of the user data's drop-in, User=spool, EnvironmentFile=, the migrate unit
#     before the API) — run with the unit's config adapted to the local stack (the
#     stand-in's endpoints, no TLS to the broker nor the database, loopback ports in the
#     test's range) and the role's access key in place of the instance profile;
#   - aws: records (cloudformation signal-resource, autoscaling calls);
#   - apt-get: records; `install FILE.deb` runs `dpkg -i FILE.deb` for real, package
#     names are taken as installed in the image (no network here);
#   - curl: the instance metadata service (IMDSv2 token, instance-id) is answered; the
#     RDS CA bundle is the host's CA bundle (no network here); the Session Manager
#     agent's regional bucket is unreachable (the user data goes on without it); the
#     user data's readiness probes of 127.0.0.1:8000 and :8081 reach the daemons on
#     their ports in the test's range; anything else (the file: package URL) is curl.
# Not rehearsed: a real signal to CloudFormation (only its arguments are checked), the
# Session Manager agent, the RDS CA bundle's download, TLS to RDS and Amazon MQ,
# systemd's sandboxing of the units, the health report timer and the scale-in drain
# (enabled, not run), and the config check of the user data (`-n` against real AWS:
# its failure is logged and ignored, as the user data does).
#
# Then, from that tree, spool-api and spool-worker (started by the systemctl shim as
# above, as the user spool) take a media.probe job submitted through that API, run by
# that worker (the stack's worker is stopped meanwhile), to success. The throwaway root
# is removed at the end.
# lane: first: it builds in build/ (make deb), as t0930 does
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (unshare, mount, chroot)"
for t in unshare nsenter chroot setpriv dpkg-deb ffmpeg; do
	command -v "$t" >/dev/null || skip_all "$t is missing"
done
grep -qw overlay /proc/filesystems || skip_all "no overlayfs in this kernel"

B=$SPOOL_PORT_BASE
API_PORT=$((B + 50)) MET_PORT=$((B + 51)) HEALTH_PORT=$((B + 52))
RH=$T_TMP/rh   # /rehearsal inside the root
M=$T_TMP/root  # the merged root
mkdir -p "$RH/bin" "$RH/record" "$RH/log" "$RH/conf" "$RH/run" "$T_TMP/upper" "$T_TMP/work" "$M"
chmod 0755 "$RH" "$RH/conf" "$RH/log"

# ---- the package: build/spool_<version>_*.deb when it is this tree's, else make deb here
version=$(scripts/version.sh)
deb=$(ls build/spool_"${version}"_*.deb 2>/dev/null | head -n 1)
if [ -n "$deb" ] && [[ $version != *dirty* ]]; then
	echo "# the package of build/: $deb"
else
	start=$SECONDS
	DEB_DIR=$T_TMP/deb DEB_OUT=$T_TMP env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make --no-print-directory deb SANITIZE= >"$T_TMP/make.out" 2>&1 ||
		bail "make deb failed: $(tail -n 20 "$T_TMP/make.out")"
	deb=$(tail -n 1 "$T_TMP/make.out")
	echo "# make deb: $((SECONDS - start)) s"
fi
[ -f "$deb" ] || bail "no package"
cp "$deb" "$RH/spool.deb"
debver=$(dpkg-deb -f "$deb" Version)

# ---- the user data, rendered with the stack's values
render() { # LAUNCH_TEMPLATE
	"$T_PY" scripts/userdata.py "$1" --region "$AWS_REGION" --stack-name spool-rehearsal \
		--value "SpoolVersion=$debver" --value "PackageUrl=file:///rehearsal/spool.deb" \
		--value "DbSecret=$SPOOL_DB_SECRET_ARN" --value "DbApiSecret=$SPOOL_DB_API_SECRET_ARN" \
		--value "DbWorkerSecret=$SPOOL_DB_WORKER_SECRET_ARN" --value "MqSecret=$SPOOL_RABBITMQ_SECRET_ARN" \
		--value "MqApiSecret=$SPOOL_RABBITMQ_API_SECRET_ARN" --value "MqWorkerSecret=$SPOOL_RABBITMQ_WORKER_SECRET_ARN" \
		--value "MqBroker.Id=b-rehearsal" \
		--value "PepperSecret=$SPOOL_PEPPER_SECRET_ARN" --value "FirstKeySecret=$SPOOL_KEY_SECRET_ARN" \
		--value "MediaBucket=$SPOOL_S3_BUCKET" --value "ApiLogGroup=/spool/api" \
		--value "WorkerLogGroup=/spool/worker" --value "VpcCidr=10.0.0.0/16" \
		--value "MetricNamespace=Spool" --value "WorkersPerHost=1" --value "WorkerConcurrency=2"
}
render ApiLaunchTemplate >"$RH/api-userdata.sh" 2>"$T_TMP/render.err" ||
	bail "cannot render the API's user data: $(cat "$T_TMP/render.err")"
render WorkerLaunchTemplate >"$RH/worker-userdata.sh" 2>"$T_TMP/render.err" ||
	bail "cannot render the worker's user data: $(cat "$T_TMP/render.err")"
expect_eq "the API's user data is a bash script" "#!/bin/bash" "$(head -n 1 "$RH/api-userdata.sh")"
expect_eq "the worker's user data is a bash script" "#!/bin/bash" "$(head -n 1 "$RH/worker-userdata.sh")"
expect_match "the API's user data names the stack's database secret" "secret = $SPOOL_DB_API_SECRET_ARN" \
	"$(cat "$RH/api-userdata.sh")"

# ---- the role keys (the instance profiles' stand-ins), for the daemons the shim starts
for r in api worker; do
	[ -s "$SPOOL_RUN_DIR/secrets/iam-$r-access-key-id" ] || bail "no role key for $r in the stack"
	(umask 077 && printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
		"$(cat "$SPOOL_RUN_DIR/secrets/iam-$r-access-key-id")" \
		"$(cat "$SPOOL_RUN_DIR/secrets/iam-$r-secret-access-key")" >"$RH/run/$r.env")
done
cat >"$RH/run/ports" <<EOF
API_PORT=$API_PORT
MET_PORT=$MET_PORT
HEALTH_PORT=$HEALTH_PORT
AWS_EP=$SPOOL_AWS_ENDPOINT
MGMT_URL=$SPOOL_RABBITMQ_MGMT_URL
EOF

# ---- the shims
cat >"$RH/bin/systemctl" <<'EOF'
#!/bin/bash
# systemctl in a root without systemd: records; starts spool's units as systemd would
echo "$*" >>/rehearsal/record/systemctl
case $1 in
cat) exit 1 ;; # no such unit (amazon-ssm-agent)
start)
	shift
	for u in "$@"; do
		case $u in
		--*) ;;
		spool-migrate.service | spool-api.service | spool-worker@*.service) /rehearsal/bin/start-unit "$u" || exit 1 ;;
		esac
	done
	;;
esac
exit 0
EOF
cat >"$RH/bin/aws" <<'EOF'
#!/bin/bash
echo "$*" >>/rehearsal/record/aws
exit 0
EOF
cat >"$RH/bin/apt-get" <<'EOF'
#!/bin/bash
echo "$*" >>/rehearsal/record/apt-get
[ "$1" = install ] || exit 0
for a in "$@"; do
	case $a in *.deb) dpkg -i "$a" || exit 1 ;; esac
done
exit 0
EOF
cat >"$RH/bin/curl" <<'EOF'
#!/bin/bash
# curl without AWS or the network: see tests/t0915-firstboot.sh
. /rehearsal/run/ports
echo "$*" >>/rehearsal/record/curl
args=() out=
while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; args+=("$1" "$2"); shift 2; continue ;;
	http://169.254.169.254/latest/api/token) echo rehearsal-token; exit 0 ;;
	http://169.254.169.254/latest/meta-data/instance-id) echo i-0rehearsal0000001; exit 0 ;;
	http://169.254.169.254/*) exit 22 ;;
	https://truststore.pki.rds.amazonaws.com/*) cp /etc/ssl/certs/ca-certificates.crt "$out"; exit 0 ;;
	https://*amazon-ssm-*) exit 6 ;;
	http://127.0.0.1:8000/*) args+=("http://127.0.0.1:$API_PORT/${1#http://127.0.0.1:8000/}") ;;
	http://127.0.0.1:8081/*) args+=("http://127.0.0.1:$HEALTH_PORT/${1#http://127.0.0.1:8081/}") ;;
	*) args+=("$1") ;;
	esac
	shift
done
exec /usr/bin/curl "${args[@]}"
EOF
# what systemd does for `systemctl start UNIT`, with the config adapted to the stack
cat >"$RH/bin/start-unit" <<'EOF'
#!/bin/bash
set -u
. /rehearsal/run/ports
u=$1 inst= role=api
case $u in spool-worker@*) inst=${u#spool-worker@}; inst=${inst%.service}; role=worker ;; esac
unitfile=/lib/systemd/system/${u/@$inst/@}
[ -f "$unitfile" ] || unitfile=/usr/lib/systemd/system/${u/@$inst/@}
[ -f "$unitfile" ] || { echo "start-unit: no unit file for $u" >&2; exit 1; }
# the last ExecStart= of the unit and its drop-ins, %i replaced
exec_start=$(cat "$unitfile" /etc/systemd/system/"${u/@$inst/@}".d/*.conf 2>/dev/null |
	sed -n 's/^ExecStart=//p' | grep . | tail -n 1)
exec_start=${exec_start//%i/$inst}
user=$(sed -n 's/^User=//p' "$unitfile")
envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unitfile")
set -a
[ -z "$envfile" ] || [ ! -f "$envfile" ] || . "$envfile"
set +a
read -r -a argv <<<"$(eval "echo $exec_start")"
# -f FILE: the unit's config, adapted to the local stack into /rehearsal/conf
for ((i = 0; i < ${#argv[@]}; i++)); do
	if [ "${argv[$i]}" = -f ]; then
		src=${argv[$((i + 1))]} dst=/rehearsal/conf/$(basename "${argv[$((i + 1))]}")
		python3 /rehearsal/bin/adapt-ini "$src" "$dst" || exit 1
		chown "root:$user" "$dst" && chmod 0640 "$dst"
		argv[$((i + 1))]=$dst
	fi
done
echo "$u: ${argv[*]}" >>/rehearsal/record/started
keys=$(cat /rehearsal/run/$role.env)
if [ "$u" = spool-migrate.service ]; then
	# Type=oneshot, before spool-api
	env -i PATH=/usr/bin:/bin $keys setpriv --reuid="$user" --regid="$user" --init-groups -- \
		"${argv[@]}" >>/rehearsal/log/$u.log 2>&1
	echo "$u exit $?" >>/rehearsal/record/started
	exit 0
fi
env -i PATH=/usr/bin:/bin $keys setsid setpriv --reuid="$user" --regid="$user" --init-groups -- \
	"${argv[@]}" >>/rehearsal/log/$u.log 2>&1 </dev/null &
echo $! >"/rehearsal/run/$u.pid"
exit 0
EOF
# a config rewritten for the local stack: the stand-in's endpoints, plain connections,
# loopback ports in the test's range (keys replaced in their section, or added to it)
cat >"$RH/bin/adapt-ini" <<'EOF'
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
p = dict(l.strip().split("=", 1) for l in open("/rehearsal/run/ports") if "=" in l)
ep = p["AWS_EP"]
set_ = {
    "aws": {"endpoint_url": ep},
    "database": {"sslmode": "disable", "sslrootcert": None},
    "rabbitmq": {"tls": "false"},
    "s3": {"endpoint_url": ep, "force_path_style": "true"},
    "cloudwatch": {"endpoint_url": ep},
    "api": {"listen": "127.0.0.1", "port": p["API_PORT"], "metrics_listen": "127.0.0.1:" + p["MET_PORT"]},
    "worker": {"health_listen": "127.0.0.1:" + p["HEALTH_PORT"]},
}
# the [api] and [worker] keys only in their daemon's files
mine = os.path.basename(dst).split("-")[0].split(".")[0]
# the broker's management API (the first boot's broker users): the stack's, plain HTTP
if mine == "adminctl":
    set_["rabbitmq"]["management_url"] = p["MGMT_URL"]
for other in ("api", "worker"):
    if other != mine:
        del set_[other]
lines, sec, seen, out = open(src).read().splitlines(), None, set(), []
def flush(sec):
    for k, v in set_.get(sec, {}).items():
        if v is not None and (sec, k) not in seen:
            out.append("%s = %s" % (k, v))
for l in lines:
    m = re.match(r"^\[(\w+)\]\s*$", l)
    if m:
        flush(sec)
        sec = m.group(1)
        out.append(l)
        continue
    m = re.match(r"^(\w+)\s*=", l)
    if m and sec in set_ and m.group(1) in set_[sec]:
        k = m.group(1)
        seen.add((sec, k))
        if set_[sec][k] is not None:
            out.append("%s = %s" % (k, set_[sec][k]))
        continue
    out.append(l)
flush(sec)
open(dst, "w").write("\n".join(out) + "\n")
EOF
chmod 0755 "$RH/bin/"*

# ---- the throwaway root: a mount and pid namespace of its own, holding the root open
# until the test says stop (its processes die with the namespace)
cat >"$RH/inner.sh" <<EOF
#!/bin/bash
set -u
mount --make-rprivate / || exit 1
# the upper layer under \$T_TMP; where that cannot be (/ itself an overlay), on a tmpfs
if ! mount -t overlay overlay -o lowerdir=/,upperdir=$T_TMP/upper,workdir=$T_TMP/work $M 2>/dev/null; then
	mkdir -p $T_TMP/t && mount -t tmpfs -o size=2g tmpfs $T_TMP/t && mkdir $T_TMP/t/upper $T_TMP/t/work &&
		mount -t overlay overlay -o lowerdir=/,upperdir=$T_TMP/t/upper,workdir=$T_TMP/t/work $M || exit 1
	echo "upper layer on a tmpfs"
fi
mount -t proc proc $M/proc && mount --rbind /dev $M/dev && mount --rbind /sys $M/sys || exit 1
mkdir -p $M/rehearsal && mount --bind $RH $M/rehearsal || exit 1
ud() { # ROLE: the user data as cloud-init runs it (root, a plain environment)
	chroot $M /usr/bin/env -i PATH=/rehearsal/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 /bin/bash /rehearsal/\$1-userdata.sh >$RH/log/\$1-userdata.out 2>&1
	echo \$? >$RH/run/\$1.rc
}
wait_for() { local i; for ((i = 0; i < 1200; i++)); do [ -e "\$1" ] && return 0; sleep 0.25; done; return 1; }
ud api
wait_for $RH/run/go-worker || exit 1
ud worker
wait_for $RH/run/stop
EOF
chmod 0755 "$RH/inner.sh"

stop_root() {
	touch "$RH/run/stop"
	local i
	for ((i = 0; i < 100; i++)); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$NSPID" 2>/dev/null
	wait "$NSPID" 2>/dev/null
}
unshare --mount --pid --fork --kill-child "$RH/inner.sh" >"$T_TMP/inner.log" 2>&1 &
NSPID=$!
at_exit "stop_root"
# the namespace's first process (unshare's child, pid 1 in there)
for ((i = 0; i < 40; i++)); do
	NSINIT=$(cat "/proc/$NSPID/task/$NSPID/children" 2>/dev/null | awk '{print $1}')
	[ -n "$NSINIT" ] && break
	sleep 0.25
done
[ -n "$NSINIT" ] || bail "the throwaway root's namespace did not start: $(cat "$T_TMP/inner.log")"
in_root() { nsenter -t "$NSINIT" -m -p -- chroot "$M" "$@"; }
as_spool() { # ROLE CMD...: CMD in the root as spool, with ROLE's access key
	local keys
	mapfile -t keys <"$RH/run/$1.env"
	shift
	in_root env -i PATH=/usr/bin:/bin "${keys[@]}" setpriv --reuid=spool --regid=spool --init-groups -- "$@"
}
wait_file() { # FILE SECONDS
	local i
	for ((i = 0; i < $2 * 4; i++)); do
		[ -e "$1" ] && return 0
		kill -0 "$NSPID" 2>/dev/null || return 1
		sleep 0.25
	done
	return 1
}

# the stack's worker stands aside: the job must be the rehearsed worker's
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"

# ---- the API instance's first boot
userdata_ran() { # ROLE GROUP LAST-LINE: the user data ran, said LAST-LINE, signalled SUCCESS
	wait_file "$RH/run/$1.rc" 180 ||
		bail "the $1 user data did not finish: $(tail -n 20 "$RH/log/$1-userdata.out" "$T_TMP/inner.log" 2>&1)"
	expect_eq "the $1 user data exits 0" 0 "$(cat "$RH/run/$1.rc")"
	[ "$(cat "$RH/run/$1.rc")" = 0 ] || tail -n 30 "$RH/log/$1-userdata.out" | _t_indent
	check "it says: $3" grep -qFx "$3" "$RH/log/$1-userdata.out"
	expect_eq "it signals SUCCESS to CloudFormation for $2, this instance" \
		"cloudformation signal-resource --stack-name spool-rehearsal --logical-resource-id $2 --unique-id i-0rehearsal0000001 --status SUCCESS" \
		"$(cat "$RH/record/aws" 2>/dev/null)"
}
userdata_ran api ApiGroup "spool $debver api: ready"
check "apt-get installs the package file" grep -qx "install -y -q /tmp/spool.deb" "$RH/record/apt-get"
expect_eq "dpkg installed the package, this version" "install ok installed $debver" \
	"$(in_root dpkg-query -W -f '${Status} ${Version}' spool 2>&1)"
expect_eq "the user spool: a system user, home /var/lib/spool, no shell" "/var/lib/spool /usr/sbin/nologin" \
	"$(in_root getent passwd spool | awk -F: '$3 < 1000 {print $6, $7}')"
check "the group spool exists" in_root getent group spool
expect_eq "/etc/spool: root:spool 0750" "root:spool 750" "$(in_root stat -c '%U:%G %a' /etc/spool)"
for f in api.ini adminctl.ini; do
	expect_eq "/etc/spool/$f: root:spool 0640" "root:spool 640" "$(in_root stat -c '%U:%G %a' /etc/spool/$f)"
done
expect_eq "/var/lib/spool and its tmp: spool:spool 0750" "spool:spool 750 spool:spool 750" \
	"$(in_root stat -c '%U:%G %a' /var/lib/spool /var/lib/spool/tmp | tr '\n' ' ' | sed 's/ $//')"
expect_eq "/etc/spool/rds-ca.pem: 0644, a PEM" "644 yes" \
	"$(in_root stat -c %a /etc/spool/rds-ca.pem) $(in_root grep -q 'BEGIN CERTIFICATE' /etc/spool/rds-ca.pem && echo yes)"
api_ini=$(in_root cat /etc/spool/api.ini)
for kv in "secret = $SPOOL_DB_API_SECRET_ARN" "secret = $SPOOL_RABBITMQ_API_SECRET_ARN" \
	"pepper_secret = $SPOOL_PEPPER_SECRET_ARN" "bucket = $SPOOL_S3_BUCKET" "cloudwatch_stream = i-0rehearsal0000001" \
	"sslmode = verify-full" "tls = true" "port = 8000" "cloudwatch_group = /spool/api"; do
	check "api.ini: $kv" grep -qFx "$kv" <<<"$api_ini"
done
adm_ini=$(in_root cat /etc/spool/adminctl.ini)
for kv in "secret = $SPOOL_DB_SECRET_ARN" "api_role_secret = $SPOOL_DB_API_SECRET_ARN" \
	"worker_role_secret = $SPOOL_DB_WORKER_SECRET_ARN" "secret = $SPOOL_RABBITMQ_SECRET_ARN" \
	"api_user_secret = $SPOOL_RABBITMQ_API_SECRET_ARN" "worker_user_secret = $SPOOL_RABBITMQ_WORKER_SECRET_ARN" \
	"management_url = https://b-rehearsal.mq.$AWS_REGION.amazonaws.com"; do
	check "adminctl.ini: $kv" grep -qFx "$kv" <<<"$adm_ini"
done
# the files as written, checked by the programs of the package: every key known and valid
# (`config check` also resolves the secrets: here against the stand-in, with the role key)
for f in api adminctl; do
	out=$(as_spool api adminctl config check --program "$f" "/rehearsal/conf/$f.ini" 2>&1)
	expect_eq "adminctl config check of $f.ini (adapted to the stack) as spool: exit 0" 0 "$?"
	[ -n "$out" ] && echo "$out" | _t_indent
done
expect_eq "/etc/default/spool names the first key's secret" "SPOOL_FIRST_KEY_SECRET=$SPOOL_KEY_SECRET_ARN" \
	"$(in_root cat /etc/default/spool)"
expect_eq "systemctl enable: spool-migrate and spool-api" "enable spool-migrate.service spool-api.service" \
	"$(grep '^enable' "$RH/record/systemctl")"
check "the units are the package's" in_root test -f /lib/systemd/system/spool-api.service -a \
	-f /lib/systemd/system/spool-migrate.service -a -f /lib/systemd/system/spool-worker@.service
expect_match "the journal is bounded on the host (journald.conf.d)" "SystemMaxUse=1G.*MaxRetentionSec=7day" \
	"$(in_root cat /etc/systemd/journald.conf.d/spool.conf | tr '\n' ' ')"
expect_match "spool-api's unit runs the package's binary" "^ExecStart=/usr/bin/spool-api " \
	"$(in_root grep '^ExecStart=' /lib/systemd/system/spool-api.service)"
expect_eq "the first boot (adminctl db bootstrap) ran as spool and exited 0" "spool-migrate.service exit 0" \
	"$(grep '^spool-migrate.service exit' "$RH/record/started")"
# the broker users, with the API role's key and the administrator's secret (the stack's
# users exist: the bootstrap finds them right)
migrate_log=$(cat "$RH/log/spool-migrate.service.log" 2>/dev/null)
expect_match "the first boot checked spool-api's broker user" "broker user spool_api of spool-api: (present|created|updated)" "$migrate_log"
expect_match "the first boot checked spool-worker's broker user" "broker user spool_worker of spool-worker: (present|created|updated)" "$migrate_log"
expect_status "spool-api of the root answers /ready" 200 "http://127.0.0.1:$API_PORT/ready"
expect_eq "it runs as spool" spool "$(in_root stat -c %U "/proc/$(cat "$RH/run/spool-api.service.pid")" 2>&1)"

# ---- the worker instance's first boot, in the same root
touch "$RH/run/go-worker"
: >"$RH/record/aws"
: >"$RH/record/systemctl"
userdata_ran worker WorkerGroup "spool $debver worker: 1 workers healthy"
w_ini=$(in_root cat /etc/spool/worker-1.ini)
for kv in "secret = $SPOOL_DB_WORKER_SECRET_ARN" "secret = $SPOOL_RABBITMQ_WORKER_SECRET_ARN" \
	"cloudwatch_stream = i-0rehearsal0000001-worker-1" "tmpdir = /var/lib/spool/tmp" \
	"logo = /usr/share/spool/logo.png" "health_listen = 127.0.0.1:8081"; do
	check "worker-1.ini: $kv" grep -qFx "$kv" <<<"$w_ini"
done
check "the logo is installed where worker.ini says" in_root test -s /usr/share/spool/logo.png
expect_eq "/etc/spool/worker.ini and worker-1.ini: root:spool 0640" "root:spool 640 root:spool 640" \
	"$(in_root stat -c '%U:%G %a' /etc/spool/worker.ini /etc/spool/worker-1.ini | tr '\n' ' ' | sed 's/ $//')"
out=$(as_spool worker adminctl config check --program worker /rehearsal/conf/worker-1.ini 2>&1)
expect_eq "adminctl config check of worker-1.ini (adapted to the stack) as spool: exit 0" 0 "$?"
[ -z "$out" ] || echo "$out" | _t_indent
expect_match "/etc/default/spool: the worker's variables" \
	"^INSTANCE_ID=i-0rehearsal0000001.SPOOL_WORKERS=1.SPOOL_GROUP=spool-rehearsal-worker.SPOOL_DRAIN_HOOK=spool-rehearsal-worker-drain$" \
	"$(in_root grep -v AWS_DEFAULT_REGION /etc/default/spool | tr '\n' .| sed 's/\.$//')"
expect_eq "systemctl enable: spool-worker@1, the health timer and the drain" \
	"enable spool-worker@1.service enable spool-health-report.timer spool-drain.service" \
	"$(grep '^enable' "$RH/record/systemctl" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "spool-worker@1 started with the drop-in's ExecStart (its own file)" \
	"spool-worker@1.service: /usr/bin/spool-worker -f /rehearsal/conf/worker-1.ini" \
	"$(grep '^spool-worker@1.service:' "$RH/record/started")"
check "the health report and drain scripts are executable" in_root test -x /usr/local/sbin/spool-health-report -a -x /usr/local/sbin/spool-drain
wpid=$(cat "$RH/run/spool-worker@1.service.pid" 2>/dev/null)
expect_eq "spool-worker runs as spool" spool "$(in_root stat -c %U "/proc/$wpid" 2>&1)"

# ---- a job through the rehearsed API, run by the rehearsed worker
api() { curl -fsS --max-time 40 -H "Authorization: Bearer $SPOOL_API_KEY" "$@"; }
URL=http://127.0.0.1:$API_PORT
clip=$T_TMP/clip.mp4
check "generate a 1 s clip" ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=s=160x120:r=10:d=1 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$clip"
up=$(api -X POST -H 'Content-Type: application/json' -d "{\"size\": $(stat -c %s "$clip")}" "$URL/v1/uploads")
check "the clip uploaded through the rehearsed API's presigned URL" \
	curl -fsS -X PUT --upload-file "$clip" "$(jq -r .url <<<"$up")"
id=$(api -X POST -H 'Content-Type: application/json' \
	-d "$(jq -cn --arg k "$(jq -r .key <<<"$up")" '{type: "media.probe", source: {key: $k}}')" "$URL/v1/jobs" | json_id)
expect_match "media.probe submitted" '^[0-9a-f-]{36}$' "$id"
job=
for ((i = 0; i < 6; i++)); do
	job=$(api "$URL/v1/jobs/$id?wait=20")
	[[ $(jq -r .status <<<"$job") =~ ^(succeeded|failed|cancelled)$ ]] && break
done
expect_eq "the job succeeded" succeeded "$(jq -r .status <<<"$job")"
expect_eq "its result: the probe of the clip" 160 "$(jq -r .result.meta.width <<<"$job")"
expect_match "the rehearsed worker ran it" "$id" "$(cat "$RH/log/spool-worker@1.service.log")"

for u in spool-migrate.service spool-api.service spool-worker@1.service; do
	expect_eq "$u logged no error" "" "$(grep '"level":"error"' "$RH/log/$u.log" | head -n 3)"
done

# ---- down: the daemons stop, the root goes
for u in spool-api.service spool-worker@1.service; do
	check "$u: SIGTERM sent" in_root kill -TERM "$(cat "$RH/run/$u.pid")"
done
stop_root
left=
for c in /proc/[0-9]*/cmdline; do
	[[ $(tr '\0' ' ' 2>/dev/null <"$c") == *" -f /rehearsal/conf/"* ]] && left+=" ${c//[^0-9]/}"
done
expect_eq "no process of the root is left" "" "$left"
check "the host has no user spool" bash -c '! getent passwd spool'
check "the host has no /etc/spool" test ! -e /etc/spool
check "the namespace holding the root has ended" bash -c "! kill -0 $NSPID 2>/dev/null"
check "the throwaway root is removed" rm -rf "$T_TMP/upper" "$T_TMP/work" "$M"
done_testing
