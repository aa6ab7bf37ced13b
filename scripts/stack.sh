#!/usr/bin/env bash
# stack.sh — the Spool local stack: real PostgreSQL 15 and RabbitMQ, s3rver behind a
# SigV4-checking AWS stand-in (Secrets Manager, CloudWatch, CloudWatch Logs, S3 front), then spool-api
# and spool-worker when they are built.
#
#   scripts/stack.sh up       start what is not running (idempotent); data is kept
#   scripts/stack.sh down     stop exactly what this stack started (pid files), wait for ports
#   scripts/stack.sh reset    down, then wipe the run directory
#   scripts/stack.sh status   one line per component; exit 0 when all are up
#   scripts/stack.sh env      print the stack's variables as `export K=V` lines
#   scripts/stack.sh restart  down, then up
#   scripts/stack.sh stop SERVICE   stop one: postgres rabbitmq s3rver aws spool-api spool-worker
#                                   haproxy, or one instance: rabbitmq-N spool-api-N spool-worker-N
#                                   (rabbitmq, spool-api, spool-worker: every instance)
#   scripts/stack.sh start SERVICE  start one that `up` starts, with the configs of the last `up`
#
# Environment:
#   SPOOL_RUN_DIR    data, logs, pid files, generated configs (default <repo>/.run)
#   SPOOL_PORT_BASE  first of the loopback ports (default 25400; keep it below the kernel's
#                    ephemeral ports, 32768), remembered in the run dir:
#                    +0 postgres, +1 amqp, +2 rabbit dist, +3 epmd, +4 rabbit mgmt,
#                    +5 s3rver, +6 aws stand-in, +7 spool-api, +8 its /metrics listener;
#                    in a clustered stack also: RabbitMQ node N (2..3) amqp, dist, mgmt at
#                    +10+3(N-2)..+12+3(N-2); spool-api instance N (2..6) at +20+2(N-2), its
#                    /metrics at +21+2(N-2); the balancer (HAProxy) at +30
#   SPOOL_RABBITMQ_NODES=3  a RabbitMQ cluster of that many nodes (1..3, default 1); the
#                    daemons' [rabbitmq] endpoints name every node
#   SPOOL_API_INSTANCES=N   N spool-api processes (1..6, default 1) behind HAProxy, which
#                    health-checks GET /health and listens where SPOOL_API_URL says
#   SPOOL_BALANCER=1 the balancer even with one API instance
#   SPOOL_WORKERS=M  M spool-worker processes (1..16, default 1)
#                    These four are remembered in the run dir (file topology) like the
#                    port base: reset to change. A stack with several nodes, instances or
#                    workers gives its workers a 10 s lease and a 2 s heartbeat, and its
#                    API instances webhook_allow_hosts = 127.0.0.1 (its tests' receiver).
#   SPOOL_NO_DAEMONS=1  do not start spool-api / spool-worker even if built
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
case $RUN in /*) ;; *) RUN=$PWD/$RUN ;; esac
[ "${1:-}" != up ] || mkdir -p "$RUN"
[ ! -d "$RUN" ] || RUN=$(cd "$RUN" && pwd)
BIN=${SPOOL_BIN_DIR:-$ROOT/bin}
SI=$ROOT/scripts/aws-standin
PY=/usr/bin/python3
PGBIN=/usr/lib/postgresql/15/bin
RMQBIN=/usr/lib/rabbitmq/bin
BUCKET=spool-local
REGION=us-east-1

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- ports

if [ -f "$RUN/port_base" ]; then
	BASE=$(cat "$RUN/port_base")
	if [ -n "${SPOOL_PORT_BASE:-}" ] && [ "$SPOOL_PORT_BASE" != "$BASE" ]; then
		say "note: $RUN was made with SPOOL_PORT_BASE=$BASE; using that (reset to change)"
	fi
else
	BASE=${SPOOL_PORT_BASE:-25400}
fi
case $BASE in '' | *[!0-9]*) die "bad SPOOL_PORT_BASE '$BASE'" ;; esac
[ "$BASE" -ge 1024 ] && [ "$BASE" -le 65520 ] || die "SPOOL_PORT_BASE must be 1024..65520"
# A listener whose port lies among the kernel's ephemeral ports can find it taken by an
# outgoing connection (the stack's own, to PostgreSQL or between RabbitMQ nodes).
if [ "${1:-}" = up ] && read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
	[ "$((BASE + 99))" -ge "$eph_lo" ] && [ "$BASE" -le "$eph_hi" ]; then
	say "warning: ports $BASE..$((BASE + 99)) overlap the ephemeral ports $eph_lo..$eph_hi: a start may fail with 'address in use'; choose a SPOOL_PORT_BASE below $eph_lo"
fi
PG_PORT=$((BASE + 0))
AMQP_PORT=$((BASE + 1))
DIST_PORT=$((BASE + 2))
EPMD_PORT=$((BASE + 3))
MGMT_PORT=$((BASE + 4))
S3_PORT=$((BASE + 5))
AWS_PORT=$((BASE + 6))
API_PORT=$((BASE + 7))
METRICS_PORT=$((BASE + 8))

PIDS=$RUN/pids
LOG=$RUN/log
SEC=$RUN/secrets

# ---------------------------------------------------------------- topology

# NODES APIS WORKERS BALANCER: from $RUN/topology once written, else the environment
topo_var() { # KEY DEFAULT: the remembered value of KEY, else the environment's, else DEFAULT
	local v=
	[ ! -f "$RUN/topology" ] || v=$(sed -n "s/^$1=//p" "$RUN/topology")
	[ -n "$v" ] || v=${!1:-$2}
	case $v in '' | *[!0-9]*) die "bad $1 '$v'" ;; esac
	if [ -f "$RUN/topology" ] && [ -n "${!1:-}" ] && [ "${!1}" != "$v" ]; then
		say "note: $RUN was made with $1=$v; using that (reset to change)"
	fi
	printf '%s' "$v"
}
NODES=$(topo_var SPOOL_RABBITMQ_NODES 1)
APIS=$(topo_var SPOOL_API_INSTANCES 1)
WORKERS=$(topo_var SPOOL_WORKERS 1)
BALANCER=$(topo_var SPOOL_BALANCER 0)
[ "$NODES" -ge 1 ] && [ "$NODES" -le 3 ] || die "SPOOL_RABBITMQ_NODES must be 1..3"
[ "$APIS" -ge 1 ] && [ "$APIS" -le 6 ] || die "SPOOL_API_INSTANCES must be 1..6"
[ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 16 ] || die "SPOOL_WORKERS must be 1..16"
[ "$APIS" -eq 1 ] || BALANCER=1
[ "$BALANCER" -le 1 ] || die "SPOOL_BALANCER must be 0 or 1"
LB_PORT=$((BASE + 30))
CLUSTERED=0
[ "$NODES" -eq 1 ] && [ "$APIS" -eq 1 ] && [ "$WORKERS" -eq 1 ] && [ "$BALANCER" -eq 0 ] || CLUSTERED=1

# instance N of spool-api / spool-worker: its name (pid and log files), config and ports
inst_name() { if [ "$2" -eq 1 ]; then echo "$1"; else echo "$1-$2"; fi; }
api_port() { if [ "$1" -eq 1 ]; then echo "$API_PORT"; else echo $((BASE + 20 + 2 * ($1 - 2))); fi; }
api_metrics_port() { if [ "$1" -eq 1 ]; then echo "$METRICS_PORT"; else echo $((BASE + 21 + 2 * ($1 - 2))); fi; }
api_config() { if [ "$1" -eq 1 ]; then echo "$RUN/api.ini"; else echo "$RUN/api-$1.ini"; fi; }

# ---------------------------------------------------------------- helpers

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port_open() { # PORT SECONDS WHAT
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		port_open "$1" && return 0
		sleep 0.1
	done
	die "$3 did not open port $1 within $2 s (see $LOG/)"
}

wait_port_closed() { # PORT SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		port_open "$1" || return 0
		sleep 0.1
	done
	return 1
}

# a live process (zombies re-parented to a non-reaping PID 1 do not count)
alive() {
	local pid=$1 st
	[ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ "$st" != Z ] && [ "$st" != X ]
}

pidof_file() { [ -s "$1" ] && head -n1 "$1" | tr -dc '0-9'; }

# a live process whose command line contains PATTERN (guards against reused pids)
ours() { # PID PATTERN
	alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# kill the process of a pid file: TERM, wait, KILL; then wait for its port to close
stop_pidfile() { # NAME PIDFILE PORT [GRACE [CMDLINE-PATTERN]]
	local name=$1 pf=$2 port=$3 grace=${4:-10} pat=${5:-$RUN} pid i
	pid=$(pidof_file "$pf" || true)
	if ! [ -n "$pid" ] || ! ours "$pid" "$pat"; then
		rm -f "$pf"
		return 0 # not running: nothing of ours to wait for (the port may be another's)
	fi
	if true; then
		say "$name: stop"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			say "$name (pid $pid) did not stop in ${grace}s: KILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$pf"
	if [ -n "$port" ] && ! wait_port_closed "$port" 10; then
		say "warning: port $port ($name) still open"
	fi
}

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
rand_chars() { # SET N
	local s
	s=$(LC_ALL=C tr -dc "$1" </dev/urandom 2>/dev/null | head -c "$2") || true
	printf '%s' "$s"
}

# a value generated once per run directory, kept in $SEC
persist() { # FILE GENERATOR...
	local f=$SEC/$1
	shift
	if [ ! -s "$f" ]; then
		(umask 077 && "$@" >"$f.tmp" && mv "$f.tmp" "$f")
	fi
	cat "$f"
}

as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

ensure_dirs() {
	mkdir -p "$PIDS" "$LOG" "$RUN/tmp/worker" "$RUN/s3" "$RUN/standin"
	[ -f "$RUN/.spool-run" ] || echo "spool local stack run directory" >"$RUN/.spool-run"
	(umask 077 && mkdir -p "$SEC")
	echo "$BASE" >"$RUN/port_base"
	printf 'SPOOL_RABBITMQ_NODES=%s\nSPOOL_API_INSTANCES=%s\nSPOOL_WORKERS=%s\nSPOOL_BALANCER=%s\n' \
		"$NODES" "$APIS" "$WORKERS" "$BALANCER" >"$RUN/topology"
}

load_secrets() {
	PG_SU_PW=$(persist pg-postgres.pw rand_hex 16)
	PG_PW=$(persist pg-spool.pw rand_hex 16)
	PG_API_PW=$(persist pg-spool_api.pw rand_hex 16)
	PG_WORKER_PW=$(persist pg-spool_worker.pw rand_hex 16)
	RMQ_PW=$(persist rabbitmq-spool.pw rand_hex 16)
	RMQ_API_PW=$(persist rabbitmq-spool_api.pw rand_hex 16)
	RMQ_WORKER_PW=$(persist rabbitmq-spool_worker.pw rand_hex 16)
	# 64 hex digits: spool-api and adminctl refuse a pepper under 32 bytes
	PEPPER=$(persist api-pepper rand_hex 32)
	AWS_AK=$(persist aws-access-key-id eval 'printf AKIA; rand_chars A-Z2-7 16')
	AWS_SK=$(persist aws-secret-access-key rand_chars A-Za-z0-9 40)
	S3_AK=$(persist s3-access-key-id eval 'printf AKIA; rand_chars A-Z2-7 16')
	S3_SK=$(persist s3-secret-access-key rand_chars A-Za-z0-9 40)
	[ ${#AWS_AK} -eq 20 ] && [ ${#AWS_SK} -eq 40 ] || die "bad generated credentials in $SEC"
	[ ${#PEPPER} -ge 32 ] || die "the pepper in $SEC/api-pepper is shorter than 32 bytes: remove it to make a new one"
	(umask 077 && printf '%s:%s\n%s:%s\n' "$AWS_AK" "$AWS_SK" "$S3_AK" "$S3_SK" >"$SEC/aws-credentials")
}

check_port_free() { # PORT WHAT
	if port_open "$1"; then
		die "port $1 ($2) is in use by another process: choose another SPOOL_PORT_BASE"
	fi
}

# ---------------------------------------------------------------- PostgreSQL

PGDIR=$RUN/pg
pg_running() {
	local pid
	pid=$(pidof_file "$PGDIR/data/postmaster.pid" 2>/dev/null || true)
	[ -n "$pid" ] && ours "$pid" "$PGDIR/data" && port_open "$PG_PORT"
}

pg_up() {
	if pg_running; then
		say "postgres: running (port $PG_PORT)"
	else
		check_port_free "$PG_PORT" postgres
		[ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 is not installed (scripts/deps.sh)"
		mkdir -p "$PGDIR/sock"
		touch "$LOG/postgres.log"
		if [ "$(id -u)" -eq 0 ]; then
			chown postgres:postgres "$PGDIR" "$PGDIR/sock" "$LOG/postgres.log"
			chmod 0755 "$PGDIR" "$PGDIR/sock"
			runuser -u postgres -- test -x "$PGDIR" ||
				die "user postgres cannot reach $PGDIR (a parent directory is not searchable)"
		fi
		if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
			say "postgres: initdb"
			rm -rf "$PGDIR/data"
			printf '%s\n' "$PG_SU_PW" >"$PGDIR/su.pw"
			[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$PGDIR/su.pw"
			chmod 600 "$PGDIR/su.pw"
			as_postgres "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
				--auth-local=trust --auth-host=scram-sha-256 --pwfile="$PGDIR/su.pw" \
				>"$LOG/initdb.log" 2>&1 || { rm -f "$PGDIR/su.pw"; die "initdb failed (see $LOG/initdb.log)"; }
			rm -f "$PGDIR/su.pw"
		fi
		say "postgres: start (port $PG_PORT)"
		as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$LOG/postgres.log" -w -t 30 \
			-o "-c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR/sock -c max_connections=200" \
			start >/dev/null 9>&- || die "postgres did not start (see $LOG/postgres.log)"
	fi
	# the master role and database (idempotent; the password follows the run directory's
	# file); the daemons' roles are made by adminctl db bootstrap, which needs CREATEROLE
	local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$PGDIR/sock" -p "$PG_PORT" -U postgres -d postgres)
	"${psql[@]}" >/dev/null <<-SQL || die "could not create the spool role/database"
		SELECT 'CREATE ROLE spool LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'spool') \gexec
		ALTER ROLE spool LOGIN CREATEROLE PASSWORD '$PG_PW';
		SELECT 'CREATE DATABASE spool OWNER spool' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'spool') \gexec
	SQL
}

pg_down() {
	local pid
	pid=$(pidof_file "$PGDIR/data/postmaster.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && ours "$pid" "$PGDIR/data"; then
		say "postgres: stop"
		as_postgres "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 30 stop >/dev/null || say "pg_ctl stop failed"
		wait_port_closed "$PG_PORT" 10 || say "warning: port $PG_PORT (postgres) still open"
	fi
}

# ---------------------------------------------------------------- RabbitMQ

RMQDIR=$RUN/rabbitmq
RMQ_NODE=spool$BASE@localhost

# rmq_node K: select RabbitMQ node K (1 = the single node's directory, name and ports);
# sets RDIR RNODE RNAME (its name in messages) R_AMQP R_DIST R_MGMT and rmq_env. The
# nodes share epmd and node 1's Erlang cookie (copied to their HOME, which tells their
# processes apart).
RDIR= RNODE= RNAME= R_AMQP= R_DIST= R_MGMT=
rmq_env=()
rmq_node() {
	if [ "$1" -eq 1 ]; then
		RDIR=$RMQDIR RNODE=$RMQ_NODE R_AMQP=$AMQP_PORT R_DIST=$DIST_PORT R_MGMT=$MGMT_PORT RNAME=rabbitmq
	else
		RDIR=$RUN/rabbitmq-$1 RNODE=spool${BASE}n$1@localhost RNAME=rabbitmq-$1
		R_AMQP=$((BASE + 10 + 3 * ($1 - 2))) R_DIST=$((BASE + 11 + 3 * ($1 - 2))) R_MGMT=$((BASE + 12 + 3 * ($1 - 2)))
	fi
	rmq_env=(
		HOME="$RDIR/home"
		RABBITMQ_CONF_ENV_FILE="$RDIR/rabbitmq-env.conf"
		RABBITMQ_NODENAME="$RNODE"
		RABBITMQ_USE_LONGNAME=false
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
		RABBITMQ_NODE_PORT="$R_AMQP"
		RABBITMQ_DIST_PORT="$R_DIST"
		ERL_EPMD_PORT="$EPMD_PORT"
		ERL_EPMD_ADDRESS=127.0.0.1
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
		RABBITMQ_CONFIG_FILE="$RDIR/rabbitmq.conf"
		RABBITMQ_ADVANCED_CONFIG_FILE="$RDIR/advanced.config"
		RABBITMQ_ENABLED_PLUGINS_FILE="$RDIR/enabled_plugins"
		RABBITMQ_MNESIA_BASE="$RDIR/mnesia"
		RABBITMQ_LOG_BASE="$RDIR/log"
		RABBITMQ_PID_FILE="$RDIR/rabbit.pid"
	)
}
rmq_node 1
rmqctl() { env "${rmq_env[@]}" "$RMQBIN/rabbitmqctl" "$@"; }
rmq_log() { if [ "$1" -eq 1 ]; then echo "$LOG/rabbitmq.log"; else echo "$LOG/rabbitmq-$1.log"; fi; }
rmq_all() { seq 1 "$NODES"; }

epmd_running() { ours "$(pidof_file "$PIDS/epmd.pid" || true)" "-port $EPMD_PORT" && port_open "$EPMD_PORT"; }
# of the selected node
rmq_running() { ours "$(pidof_file "$RDIR/rabbit.pid" || true)" "$RDIR/home" && port_open "$R_AMQP"; }

# rmq_launch K: start node K in the background unless it runs; 0 when it was started
rmq_launch() {
	rmq_node "$1"
	mkdir -p "$RDIR/home" "$RDIR/mnesia" "$RDIR/log"
	if [ "$1" -ne 1 ]; then
		[ -s "$RMQDIR/home/.erlang.cookie" ] || die "$RNAME: node 1 has not run yet (no Erlang cookie)"
		cmp -s "$RMQDIR/home/.erlang.cookie" "$RDIR/home/.erlang.cookie" ||
			(umask 077 && rm -f "$RDIR/home/.erlang.cookie" && cp "$RMQDIR/home/.erlang.cookie" "$RDIR/home/" &&
				chmod 400 "$RDIR/home/.erlang.cookie")
	fi
	: >"$RDIR/rabbitmq-env.conf"
	[ -f "$RDIR/advanced.config" ] || echo '[].' >"$RDIR/advanced.config"
	cat >"$RDIR/rabbitmq.conf" <<-EOC
		listeners.tcp.default = 127.0.0.1:$R_AMQP
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $R_MGMT
		collect_statistics_interval = 1000
		log.console = true
		log.console.level = info
		log.file = false
		disk_free_limit.absolute = 50MB
	EOC
	if rmq_running; then
		say "$RNAME: running (port $R_AMQP, management $R_MGMT)"
		return 1
	fi
	check_port_free "$R_AMQP" amqp
	check_port_free "$R_MGMT" "rabbitmq management"
	check_port_free "$R_DIST" "rabbitmq distribution"
	if ! grep -q rabbitmq_management "$RDIR/enabled_plugins" 2>/dev/null; then
		env "${rmq_env[@]}" "$RMQBIN/rabbitmq-plugins" -q enable --offline rabbitmq_management \
			>"$LOG/rabbitmq-plugins.log" 2>&1 || die "rabbitmq-plugins failed (see $LOG/rabbitmq-plugins.log)"
	fi
	say "$RNAME: start (node $RNODE, port $R_AMQP, management $R_MGMT)"
	rm -f "$RDIR/rabbit.pid"
	(env "${rmq_env[@]}" setsid "$RMQBIN/rabbitmq-server" >>"$(rmq_log "$1")" 2>&1 </dev/null 9>&- &)
	return 0
}

# rmq_await K: wait for a node rmq_launch started to boot
rmq_await() {
	rmq_node "$1"
	local i
	for ((i = 0; i < 300; i++)); do
		[ -s "$RDIR/rabbit.pid" ] && break
		sleep 0.1
	done
	[ -s "$RDIR/rabbit.pid" ] || die "$RNAME wrote no pid file (see $(rmq_log "$1"))"
	# booted: its listeners open last, the management plugin's after AMQP's (watched
	# here rather than with `rabbitmqctl wait`, whose Erlang VM takes seconds to start on
	# a busy machine). A clustered node waits for the others to load its tables: start
	# them together.
	local pid
	pid=$(pidof_file "$RDIR/rabbit.pid")
	for ((i = 0; i < 1800; i++)); do
		port_open "$R_AMQP" && port_open "$R_MGMT" && return 0
		alive "$pid" || die "$RNAME exited while booting (see $(rmq_log "$1"))"
		sleep 0.1
	done
	die "$RNAME did not boot within 180 s (see $(rmq_log "$1"))"
}

# rmq_join K: node K (2..) joins node 1's cluster unless it is already a member
rmq_join() {
	rmq_node "$1"
	# a member already: node 1 is in the cluster's nodes it keeps in its data directory
	if grep -qF "$RMQ_NODE" "$RDIR/mnesia/$RNODE/cluster_nodes.config" 2>/dev/null; then
		return 0
	fi
	say "$RNAME: join_cluster $RMQ_NODE"
	rmqctl -q stop_app >/dev/null || die "$RNAME: stop_app failed"
	rmqctl -q join_cluster "$RMQ_NODE" >>"$(rmq_log "$1")" 2>&1 || die "$RNAME: join_cluster failed (see $(rmq_log "$1"))"
	rmqctl -q start_app >/dev/null || die "$RNAME: start_app failed"
	wait_port_open "$R_AMQP" 30 "$RNAME"
}

rmq_up() { # [K...]: the nodes to start (default every node)
	local nodes=("$@") k started=()
	[ ${#nodes[@]} -gt 0 ] || nodes=($(rmq_all))
	if ! epmd_running; then
		check_port_free "$EPMD_PORT" epmd
		say "epmd: start (port $EPMD_PORT)"
		(ERL_EPMD_ADDRESS=127.0.0.1 setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 \
			>"$LOG/epmd.log" 2>&1 </dev/null 9>&- & echo $! >"$PIDS/epmd.pid")
		wait_port_open "$EPMD_PORT" 10 epmd
	fi
	# node 1 first when it has never run (it makes the cookie the others share)
	if [ ! -s "$RMQDIR/home/.erlang.cookie" ] && [[ " ${nodes[*]} " == *" 1 "* ]]; then
		rmq_launch 1 && rmq_await 1
	fi
	for k in "${nodes[@]}"; do
		if rmq_launch "$k"; then started+=("$k"); fi
	done
	for k in ${started[@]+"${started[@]}"}; do rmq_await "$k"; done
	for k in "${nodes[@]}"; do [ "$k" -eq 1 ] || rmq_join "$k"; done
	# one node of a cluster back: the users are the cluster's, already there
	if [ "$NODES" -gt 1 ] && [ ${#nodes[@]} -lt "$NODES" ]; then
		rmq_node 1
		return 0
	fi
	# the stack's users (idempotent, on every node of a cluster at once: users are the
	# cluster's; passwords from the run directory), through a node that runs
	for k in $(rmq_all); do
		rmq_node "$k"
		rmq_running && break
	done
	# spool, the administrator adminctl and the tests use: there with its password, tag
	# and permissions already (the management API, quicker than the CLI's Erlang VM),
	# else made with the CLI
	if ! { curl -fsS -o /dev/null --max-time 10 -u "spool:$RMQ_PW" "http://127.0.0.1:$R_MGMT/api/permissions/%2F/spool" 2>/dev/null &&
		curl -fsS --max-time 10 -u "spool:$RMQ_PW" "http://127.0.0.1:$R_MGMT/api/whoami" 2>/dev/null | grep -q administrator; }; then
		if ! rmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx spool; then
			rmqctl -q add_user spool "$RMQ_PW" >/dev/null
		else
			rmqctl -q change_password spool "$RMQ_PW" >/dev/null
		fi
		rmqctl -q set_user_tags spool administrator >/dev/null
		rmqctl -q set_permissions -p / spool '.*' '.*' '.*' >/dev/null
	fi
	# the daemons' users (spool_api, spool_worker: no tags, only the spool.* resources
	# each uses) are made by adminctl db bootstrap with the administrator, as at a
	# deployment's first boot; their permissions are rmqadmin's
	rmq_node 1
}

rmq_stop_node() { # K
	rmq_node "$1"
	local pid i
	pid=$(pidof_file "$RDIR/rabbit.pid" || true)
	if [ -n "$pid" ] && ours "$pid" "$RDIR/home"; then
		say "$RNAME: stop"
		rmqctl -q shutdown --timeout 60 >/dev/null 2>&1 || true
		for ((i = 0; i < 200; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			say "$RNAME (pid $pid) still alive: KILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait_port_closed "$R_AMQP" 15 || say "warning: port $R_AMQP (amqp) still open"
		wait_port_closed "$R_MGMT" 5 || say "warning: port $R_MGMT (rabbitmq management) still open"
		wait_port_closed "$R_DIST" 5 || say "warning: port $R_DIST (rabbitmq dist) still open"
	fi
	rm -f "$RDIR/rabbit.pid"
}

rmq_down() { # [K...]: the nodes to stop (default every node, then epmd), at once
	local k
	if [ $# -gt 0 ]; then
		for k in "$@"; do rmq_stop_node "$k"; done
		rmq_node 1
		return 0
	fi
	for k in $(rmq_all); do rmq_stop_node "$k" & done
	wait
	rmq_node 1
	if ours "$(pidof_file "$PIDS/epmd.pid" || true)" "-port $EPMD_PORT"; then
		say "epmd: stop"
		ERL_EPMD_PORT=$EPMD_PORT epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
		sleep 0.2
		stop_pidfile epmd "$PIDS/epmd.pid" "$EPMD_PORT" 5 "-port $EPMD_PORT"
		wait_port_closed "$EPMD_PORT" 5 || say "warning: port $EPMD_PORT (epmd) still open"
	fi
	rm -f "$PIDS/epmd.pid"
}

# ---------------------------------------------------------------- s3rver and the stand-in

node_up() { # NAME PORT LOGFILE CMD...
	local name=$1 port=$2 logf=$3
	shift 3
	if ours "$(pidof_file "$PIDS/$name.pid" || true)" "$RUN" && port_open "$port"; then
		say "$name: running (port $port)"
		return 0
	fi
	stop_pidfile "$name" "$PIDS/$name.pid" "" 5
	check_port_free "$port" "$name"
	say "$name: start (port $port)"
	(setsid "$@" >>"$logf" 2>&1 </dev/null 9>&- & echo $! >"$PIDS/$name.pid")
	wait_port_open "$port" 20 "$name"
}

s3_up() {
	[ -d "$SI/node_modules/s3rver" ] || die "npm modules missing in $SI: run scripts/deps.sh"
	node_up s3rver "$S3_PORT" "$LOG/s3rver.log" \
		node --openssl-legacy-provider "$SI/node_modules/s3rver/bin/s3rver.js" \
		-d "$RUN/s3" -a 127.0.0.1 -p "$S3_PORT" --silent --configure-bucket "$BUCKET"
}

standin_up() {
	node_up aws-standin "$AWS_PORT" "$LOG/aws-standin.log" \
		node "$SI/server.js" --listen 127.0.0.1 --port "$AWS_PORT" --data "$RUN/standin" \
		--s3-upstream "http://127.0.0.1:$S3_PORT" --credentials-file "$SEC/aws-credentials" \
		--iam-keys "$SEC/iam-keys" --iam-dir "$RUN/iam"
	curl -fsS "http://127.0.0.1:$AWS_PORT/__standin/health" >/dev/null || die "aws-standin not healthy"
}

# ---------------------------------------------------------------- secrets and configs

# a database secret in the RDS shape: USER PASSWORD
db_json() {
	jq -cn --arg u "$1" --arg p "$2" --arg h 127.0.0.1 --argjson port "$PG_PORT" \
		'{username:$u,password:$p,host:$h,port:$port,dbname:"spool",engine:"postgres"}'
}

# a RabbitMQ secret: USER PASSWORD
mq_json() {
	jq -cn --arg u "$1" --arg p "$2" --arg h 127.0.0.1 --argjson port "$AMQP_PORT" \
		'{username:$u,password:$p,host:$h,port:$port,vhost:"/"}'
}

# Create or update the stack's secrets in the stand-in with boto3 (an independent SigV4
# client); prints "name ARN" lines. spool/db is the master user's (adminctl),
# spool/db-api and spool/db-worker the daemons' own, as are spool/rabbitmq-api and
# spool/rabbitmq-worker beside spool/rabbitmq (the administrator's); spool/demo-key is made empty, for
# adminctl db bootstrap to store the first tenant's key in.
seed_secrets() {
	AWS_ENDPOINT="http://127.0.0.1:$AWS_PORT" AK="$AWS_AK" SK="$AWS_SK" \
		DB_JSON=$(db_json spool "$PG_PW") DB_API_JSON=$(db_json spool_api "$PG_API_PW") \
		DB_WORKER_JSON=$(db_json spool_worker "$PG_WORKER_PW") \
		MQ_JSON=$(mq_json spool "$RMQ_PW") MQ_API_JSON=$(mq_json spool_api "$RMQ_API_PW") \
		MQ_WORKER_JSON=$(mq_json spool_worker "$RMQ_WORKER_PW") \
		S3_JSON=$(jq -cn --arg a "$S3_AK" --arg s "$S3_SK" '{access_key_id:$a,secret_access_key:$s}') \
		PEPPER="$PEPPER" \
		"$PY" - <<-'EOF'
			import os, sys, boto3
			from botocore.config import Config
			sm = boto3.client('secretsmanager', endpoint_url=os.environ['AWS_ENDPOINT'],
			                  region_name='us-east-1', aws_access_key_id=os.environ['AK'],
			                  aws_secret_access_key=os.environ['SK'],
			                  config=Config(retries={'max_attempts': 3}))
			want = {'spool/db': os.environ['DB_JSON'], 'spool/rabbitmq': os.environ['MQ_JSON'],
			        'spool/api-pepper': os.environ['PEPPER'], 'spool/s3': os.environ['S3_JSON'],
			        'spool/db-api': os.environ['DB_API_JSON'],
			        'spool/db-worker': os.environ['DB_WORKER_JSON'],
			        'spool/rabbitmq-api': os.environ['MQ_API_JSON'],
			        'spool/rabbitmq-worker': os.environ['MQ_WORKER_JSON']}
			for name, value in want.items():
			    try:
			        cur = sm.get_secret_value(SecretId=name)
			        arn = cur['ARN']
			        if cur.get('SecretString') != value:
			            sm.put_secret_value(SecretId=name, SecretString=value)
			    except sm.exceptions.ResourceNotFoundException:
			        arn = sm.create_secret(Name=name, SecretString=value,
			                               Description='Spool local stack')['ARN']
			    print(name, arn)
			try:
			    arn = sm.describe_secret(SecretId='spool/demo-key')['ARN']
			except sm.exceptions.ResourceNotFoundException:
			    arn = sm.create_secret(Name='spool/demo-key',
			                           Description='Spool local stack: the first tenant\'s API key')['ARN']
			print('spool/demo-key', arn)
		EOF
}

# The daemons' CloudWatch Logs groups (they create their streams themselves).
seed_log_groups() {
	AWS_ENDPOINT="http://127.0.0.1:$AWS_PORT" AK="$AWS_AK" SK="$AWS_SK" "$PY" - <<-'EOF'
		import os, boto3
		logs = boto3.client('logs', endpoint_url=os.environ['AWS_ENDPOINT'], region_name='us-east-1',
		                    aws_access_key_id=os.environ['AK'], aws_secret_access_key=os.environ['SK'])
		for group in ('/spool/api', '/spool/worker'):
		    try:
		        logs.create_log_group(logGroupName=group)
		    except logs.exceptions.ResourceAlreadyExistsException:
		        pass
	EOF
}

# "endpoints = …" naming every node of a cluster; nothing for one node
rmq_endpoints_line() {
	[ "$NODES" -gt 1 ] || return 0
	local k eps=()
	for k in $(rmq_all); do
		rmq_node "$k"
		eps+=("127.0.0.1:$R_AMQP")
	done
	rmq_node 1
	local IFS=,
	echo "endpoints = ${eps[*]}"
}

# [api] lines of a clustered stack: its tests' webhook receiver listens on loopback
api_cluster_lines() {
	[ "$CLUSTERED" -eq 0 ] || echo 'webhook_allow_hosts = 127.0.0.1'
}

write_configs() { # DB_ARN MQ_ARN PEPPER_ARN S3_ARN DB_API_ARN DB_WORKER_ARN MQ_API_ARN MQ_WORKER_ARN
	local db=$1 mq=$2 pep=$3 s3=$4 dbapi=$5 dbworker=$6 mqapi=$7 mqworker=$8 ep="http://127.0.0.1:$AWS_PORT" f
	local common c
	common=$(
		cat <<-EOF
			[log]
			level = info
			format = json

			[aws]
			region = $REGION
			endpoint_url = $ep

			[database]
			secret = @DB@
			sslmode = disable
			pool_size = @POOL@
			@DB_ROLES@

			[rabbitmq]
			secret = @MQ@
			management_url = http://127.0.0.1:$MGMT_PORT
			$(rmq_endpoints_line)
			@MQ_USERS@

			[s3]
			bucket = $BUCKET
			endpoint_url = $ep
			force_path_style = true

			[cloudwatch]
			enabled = true
			namespace = Spool
			endpoint_url = $ep
			interval = 5s
		EOF
	)
	for f in api worker adminctl; do
		{
			echo "; generated by scripts/stack.sh for the local stack in $RUN — do not edit"
			echo "; secrets are named by ARN and fetched from the AWS stand-in (SigV4-checked)"
			echo
			# each program its own database and broker users: the daemons theirs, adminctl
			# the master user and the administrator (one [database] section each: tests
			# edit it as the only one)
			case $f in
			# the API's pool as etc/api.ini's (each GET holds a connection for its one
			# query, so the pool bounds the GETs in flight); the worker's and adminctl's 4
			api) c=${common/@DB@/$dbapi} && c=${c/@MQ@/$mqapi} && c=${c/@POOL@/16} ;;
			worker) c=${common/@DB@/$dbworker} && c=${c/@MQ@/$mqworker} && c=${c/@POOL@/4} ;;
			*)
				c=${common/@DB@/$db}
				c=${c/@POOL@/4}
				c=${c/@MQ@/$mq}
				c=${c/@DB_ROLES@/api_role_secret = $dbapi
worker_role_secret = $dbworker}
				c=${c/@MQ_USERS@/api_user_secret = $mqapi
worker_user_secret = $mqworker}
				;;
			esac
			c=${c/@MQ_USERS@$'\n'/}
			echo "${c/@DB_ROLES@$'\n'/}"
			echo
			case $f in
			api)
				cat <<-EOF
					[api]
					listen = 127.0.0.1
					port = $API_PORT
					pepper_secret = $pep
					metrics_listen = 127.0.0.1:$METRICS_PORT
					; the demo tenant's key drives the benchmarks and the load tests:
					; a high limit of its own; every other tenant gets the default
					tenant_rate_limits = demo=100000/100000
					$(api_cluster_lines)

					[cloudwatch]
					dimensions = Service=api,Env=local

					[log]
					cloudwatch_group = /spool/api
				EOF
				;;
			worker)
				cat <<-EOF
					[cloudwatch]
					dimensions = Service=worker,Env=local

					[log]
					cloudwatch_group = /spool/worker

					[worker]
					concurrency = 2
					enable_noop = true
					tmpdir = $RUN/tmp/worker
					logo = $ROOT/etc/logo.png
				EOF
				if [ "$CLUSTERED" -eq 1 ]; then
					# a killed worker's jobs are reaped in seconds (the fault suite)
					printf 'lease = 10s\nheartbeat = 2s\n'
				fi
				;;
			adminctl)
				cat <<-EOF
					[api]
					pepper_secret = $pep

					[s3]
					credentials_secret = $s3

					[adminctl]
					user = local-stack
				EOF
				;;
			esac
		} >"$RUN/$f.ini.tmp"
		mv "$RUN/$f.ini.tmp" "$RUN/$f.ini"
	done
	# API instances 2..: api.ini with their own ports
	local i
	for ((i = 2; i <= APIS; i++)); do
		awk -v port="$(api_port "$i")" -v mport="$(api_metrics_port "$i")" '
			/^\[/ { section = $0 }
			section == "[api]" && /^port *=/ { print "port = " port; next }
			section == "[api]" && /^metrics_listen *=/ { print "metrics_listen = 127.0.0.1:" mport; next }
			{ print }' "$RUN/api.ini" >"$RUN/api-$i.ini.tmp"
		mv "$RUN/api-$i.ini.tmp" "$RUN/api-$i.ini"
	done
	[ "$BALANCER" -eq 0 ] || write_haproxy_config
}

# HAProxy in front of the API instances: round robin, GET /health checked every second
# (an instance is out after 2 failed checks, back after 2 good ones), a connection
# refused tried again on another instance; long enough for ?wait=60.
write_haproxy_config() {
	local i
	{
		cat <<-EOF
			# generated by scripts/stack.sh for the local stack in $RUN — do not edit
			global
			    log stdout format raw local0 notice
			    maxconn 4096
			defaults
			    mode http
			    log global
			    option dontlognull
			    timeout connect 2s
			    timeout client 90s
			    timeout server 90s
			    timeout http-keep-alive 30s
			    retries 3
			    option redispatch 1
			    retry-on conn-failure
			frontend spool-api
			    bind 127.0.0.1:$LB_PORT
			    default_backend spool-api
			backend spool-api
			    balance roundrobin
			    option httpchk GET /health
			    http-check expect status 200
			    default-server inter 1s fall 2 rise 2
		EOF
		for ((i = 1; i <= APIS; i++)); do
			printf '    server %s 127.0.0.1:%s check\n' "$(inst_name spool-api "$i")" "$(api_port "$i")"
		done
	} >"$RUN/haproxy.cfg.tmp"
	mv "$RUN/haproxy.cfg.tmp" "$RUN/haproxy.cfg"
}

lb_up() {
	command -v haproxy >/dev/null || die "haproxy is not installed (scripts/deps.sh)"
	haproxy -c -q -f "$RUN/haproxy.cfg" >>"$LOG/haproxy.log" 2>&1 || die "bad $RUN/haproxy.cfg (see $LOG/haproxy.log)"
	node_up haproxy "$LB_PORT" "$LOG/haproxy.log" haproxy -db -f "$RUN/haproxy.cfg"
}

write_env() { # DB_ARN MQ_ARN PEPPER_ARN S3_ARN DB_API_ARN DB_WORKER_ARN KEY_ARN MQ_API_ARN MQ_WORKER_ARN
	local key= i k
	[ -f "$RUN/stack.env" ] && key=$(sed -n 's/^SPOOL_API_KEY=//p' "$RUN/stack.env")
	[ -s "$SEC/api-key" ] && key=$(cat "$SEC/api-key")
	(
		umask 077
		cat >"$RUN/stack.env.tmp" <<-EOF
			SPOOL_RUN_DIR=$RUN
			SPOOL_PORT_BASE=$BASE
			SPOOL_LOG_DIR=$LOG
			SPOOL_API_URL=http://127.0.0.1:$([ "$BALANCER" -eq 1 ] && echo "$LB_PORT" || echo "$API_PORT")
			SPOOL_API_URLS=$(for ((i = 1; i <= APIS; i++)); do printf 'http://127.0.0.1:%s,' "$(api_port "$i")"; done | sed 's/,$//')
			SPOOL_RABBITMQ_NODES=$NODES
			SPOOL_API_INSTANCES=$APIS
			SPOOL_WORKERS=$WORKERS
			SPOOL_BALANCER=$BALANCER
			SPOOL_RABBITMQ_MGMT_URLS=$(for k in $(rmq_all); do rmq_node "$k"; printf 'http://127.0.0.1:%s,' "$R_MGMT"; done | sed 's/,$//')
			SPOOL_METRICS_URL=http://127.0.0.1:$METRICS_PORT/metrics
			SPOOL_API_KEY=$key
			SPOOL_PG_DSN=postgresql://spool:$PG_PW@127.0.0.1:$PG_PORT/spool?sslmode=disable
			SPOOL_PG_ADMIN_DSN=postgresql://postgres@/postgres?host=$PGDIR/sock&port=$PG_PORT
			SPOOL_AMQP_URL=amqp://spool:$RMQ_PW@127.0.0.1:$AMQP_PORT/%2F
			SPOOL_RABBITMQ_MGMT_URL=http://127.0.0.1:$MGMT_PORT
			SPOOL_RABBITMQ_USER=spool
			SPOOL_RABBITMQ_PASSWORD=$RMQ_PW
			SPOOL_S3_ENDPOINT=http://127.0.0.1:$AWS_PORT
			SPOOL_S3RVER_URL=http://127.0.0.1:$S3_PORT
			SPOOL_S3_BUCKET=$BUCKET
			SPOOL_AWS_ENDPOINT=http://127.0.0.1:$AWS_PORT
			SPOOL_DB_SECRET_ARN=$1
			SPOOL_RABBITMQ_SECRET_ARN=$2
			SPOOL_PEPPER_SECRET_ARN=$3
			SPOOL_S3_SECRET_ARN=$4
			SPOOL_DB_API_SECRET_ARN=$5
			SPOOL_DB_WORKER_SECRET_ARN=$6
			SPOOL_KEY_SECRET_ARN=$7
			SPOOL_RABBITMQ_API_SECRET_ARN=$8
			SPOOL_RABBITMQ_WORKER_SECRET_ARN=$9
			SPOOL_API_CONFIG=$RUN/api.ini
			SPOOL_WORKER_CONFIG=$RUN/worker.ini
			SPOOL_ADMINCTL_CONFIG=$RUN/adminctl.ini
			AWS_ACCESS_KEY_ID=$AWS_AK
			AWS_SECRET_ACCESS_KEY=$AWS_SK
			AWS_REGION=$REGION
			AWS_DEFAULT_REGION=$REGION
			AWS_EC2_METADATA_DISABLED=true
		EOF
		mv "$RUN/stack.env.tmp" "$RUN/stack.env"
	)
}

# ---------------------------------------------------------------- spool-api / spool-worker

# The environment the programs run with: AWS credentials from the environment, as in
# production from the instance role; nothing from the invoking user's ~/.aws.
spool_env=()
set_spool_env() {
	spool_env=(
		AWS_ACCESS_KEY_ID="$AWS_AK" AWS_SECRET_ACCESS_KEY="$AWS_SK" AWS_REGION="$REGION"
		AWS_DEFAULT_REGION="$REGION" AWS_EC2_METADATA_DISABLED=true
		AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null
	)
}

daemon_up() { # NAME CONFIG PORT(optional, for a health wait) [BINARY]
	local name=$1 cfg=$2 port=${3:-} prog=${4:-$1}
	if ours "$(pidof_file "$PIDS/$name.pid" || true)" "$RUN"; then
		say "$name: running"
		return 0
	fi
	rm -f "$PIDS/$name.pid"
	[ -z "$port" ] || check_port_free "$port" "$name"
	say "$name: start${port:+ (port $port)}"
	# shellcheck disable=SC2046 # KEY=VALUE words of letters and digits
	(env "${spool_env[@]}" $(role_env "$prog") setsid "$BIN/$prog" -c "$cfg" >>"$LOG/$name.log" 2>&1 </dev/null 9>&- &
		echo $! >"$PIDS/$name.pid")
	if [ -n "$port" ]; then
		local i
		for ((i = 0; i < 300; i++)); do
			curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return 0
			alive "$(pidof_file "$PIDS/$name.pid")" || break
			sleep 0.1
		done
		say "warning: $name is not healthy on port $port (see $LOG/$name.log)"
		return 1
	fi
	sleep 0.5
	alive "$(pidof_file "$PIDS/$name.pid")" || { say "warning: $name exited (see $LOG/$name.log)"; return 1; }
}

# The instance roles of deploy/spool.yaml, as the stand-in enforces them: spool-api and
# spool-worker get an access key each, which the stand-in maps to ApiRole / WorkerRole
# ($SEC/iam-keys) and evaluates against the roles' policy statements, resolved by
# scripts/iam-policies.py with this stack's bucket, region and secret ARNs into
# $RUN/iam/<role>.json. They read S3 with these keys too (no [s3] credentials_secret), as
# on EC2 with the instance profile. adminctl, the tests and the tools keep the stack's
# unrestricted key (AWS_ACCESS_KEY_ID of stack.env).
# MqSecret is the broker administrator's (spool/rabbitmq), MqApiSecret and MqWorkerSecret
# the daemons' users' (spool/rabbitmq-api, spool/rabbitmq-worker).
iam_roles_up() { # DB_ARN MQ_ARN PEPPER_ARN DB_API_ARN DB_WORKER_ARN KEY_ARN MQ_API_ARN MQ_WORKER_ARN
	local r ak sk keys=
	for r in api worker; do
		ak=$(persist "iam-$r-access-key-id" eval 'printf AKIA; rand_chars A-Z2-7 16')
		sk=$(persist "iam-$r-secret-access-key" rand_chars A-Za-z0-9 40)
		keys+="$ak $sk $([ $r = api ] && echo ApiRole || echo WorkerRole)"$'\n'
	done
	(umask 077 && printf '%s' "$keys" >"$SEC/iam-keys.tmp" && mv "$SEC/iam-keys.tmp" "$SEC/iam-keys")
	"$PY" "$ROOT/scripts/iam-policies.py" --out "$RUN/iam" --region "$REGION" --account-id 000000000000 \
		--stack-name spool-local --value "MediaBucket=$BUCKET" --value "DbSecret=$1" \
		--value "MqSecret=$2" --value "MqApiSecret=$7" --value "MqWorkerSecret=$8" \
		--value "PepperSecret=$3" --value "DbApiSecret=$4" \
		--value "DbWorkerSecret=$5" --value "FirstKeySecret=$6" >/dev/null ||
		die "scripts/iam-policies.py could not resolve the roles of deploy/spool.yaml"
}

# AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... of a daemon's role key (nothing for others)
role_env() { # NAME
	local r
	case $1 in spool-api) r=api ;; spool-worker) r=worker ;; *) return 0 ;; esac
	[ -s "$SEC/iam-$r-access-key-id" ] || return 0
	printf 'AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s' "$(cat "$SEC/iam-$r-access-key-id")" \
		"$(cat "$SEC/iam-$r-secret-access-key")"
}

# The demo tenant's API key, kept in secrets/api-key and written to stack.env: the one
# db bootstrap stored in spool/demo-key, else (tenants made before) one made here once.
create_demo_key() {
	[ -s "$SEC/api-key" ] && return 0
	local out key
	key=$(AWS_ENDPOINT="http://127.0.0.1:$AWS_PORT" AK="$AWS_AK" SK="$AWS_SK" \
		ARN="$(sed -n 's/^SPOOL_KEY_SECRET_ARN=//p' "$RUN/stack.env")" "$PY" - 2>>"$LOG/adminctl.log" <<-'EOF'
			import os, boto3
			sm = boto3.client('secretsmanager', endpoint_url=os.environ['AWS_ENDPOINT'],
			                  region_name='us-east-1', aws_access_key_id=os.environ['AK'],
			                  aws_secret_access_key=os.environ['SK'])
			try:
			    print(sm.get_secret_value(SecretId=os.environ['ARN'])['SecretString'])
			except sm.exceptions.ResourceNotFoundException:
			    pass
		EOF
	) || key=
	if [[ $key == sk_* ]]; then
		(umask 077 && printf '%s' "$key" >"$SEC/api-key")
		sed -i "s|^SPOOL_API_KEY=.*|SPOOL_API_KEY=$key|" "$RUN/stack.env"
		say "demo tenant API key read from its secret (SPOOL_API_KEY in $RUN/stack.env)"
		return 0
	fi
	out=$(env "${spool_env[@]}" "$BIN/adminctl" -f "$RUN/adminctl.ini" keys create --tenant demo --name local-stack --json 2>>"$LOG/adminctl.log") || {
		say "warning: adminctl keys create failed (see $LOG/adminctl.log)"
		return 0
	}
	key=$(printf '%s' "$out" | jq -r '.key // .api_key // .secret // empty' 2>/dev/null || true)
	[ -n "$key" ] || key=$(printf '%s\n' "$out" | grep -oE '[A-Za-z0-9_]+_[A-Za-z0-9_-]{16,}' | head -n1 || true)
	if [ -n "$key" ]; then
		(umask 077 && printf '%s' "$key" >"$SEC/api-key")
		sed -i "s|^SPOOL_API_KEY=.*|SPOOL_API_KEY=$key|" "$RUN/stack.env"
		say "demo tenant API key created (SPOOL_API_KEY in $RUN/stack.env)"
	else
		say "warning: could not read the key from adminctl keys create output"
	fi
}

start_spool() {
	if [ -n "${SPOOL_NO_DAEMONS:-}" ]; then
		say "SPOOL_NO_DAEMONS set: not starting spool-api / spool-worker"
		return 0
	fi
	if ! [ -x "$BIN/adminctl" ] || ! [ -x "$BIN/spool-api" ] || ! [ -x "$BIN/spool-worker" ]; then
		say "spool binaries not built (make): services only"
		return 0
	fi
	set_spool_env
	# as on a host's first boot: the schema, the daemons' database roles and broker
	# users (they connect as spool_api and spool_worker) and the demo tenant with its
	# key in spool/demo-key
	env "${spool_env[@]}" "$BIN/adminctl" -f "$RUN/adminctl.ini" db bootstrap --tenant demo \
		--key-secret "$(sed -n 's/^SPOOL_KEY_SECRET_ARN=//p' "$RUN/stack.env")" >>"$LOG/adminctl.log" 2>&1 ||
		die "adminctl db bootstrap failed (see $LOG/adminctl.log)"
	create_demo_key
	local i
	for ((i = 1; i <= WORKERS; i++)); do worker_up "$i" || true; done
	for ((i = 1; i <= APIS; i++)); do api_up "$i" || true; done
	[ "$BALANCER" -eq 0 ] || lb_up
}

worker_up() { daemon_up "$(inst_name spool-worker "$1")" "$RUN/worker.ini" "" spool-worker; }
api_up() { daemon_up "$(inst_name spool-api "$1")" "$(api_config "$1")" "$(api_port "$1")" spool-api; }
worker_down() { stop_pidfile "$(inst_name spool-worker "$1")" "$PIDS/$(inst_name spool-worker "$1").pid" "" 40; }
api_down() { stop_pidfile "$(inst_name spool-api "$1")" "$PIDS/$(inst_name spool-api "$1").pid" "$(api_port "$1")" 40; }

# every instance at once (each may take its shutdown grace)
stop_spool() {
	local i
	stop_pidfile haproxy "$PIDS/haproxy.pid" "$LB_PORT" 5
	for ((i = 1; i <= APIS; i++)); do api_down "$i" & done
	for ((i = 1; i <= WORKERS; i++)); do worker_down "$i" & done
	wait
}

# ---------------------------------------------------------------- commands

with_lock() {
	mkdir -p "$RUN"
	exec 9>"$RUN/.lock"
	flock -w 300 9 || die "another stack.sh holds $RUN/.lock"
}

cmd_up() {
	with_lock
	ensure_dirs
	load_secrets
	pg_up
	rmq_up
	s3_up
	standin_up
	local out db mq pep s3 dbapi dbworker key mqapi mqworker
	out=$(seed_secrets) || die "seeding secrets in the stand-in failed (see $LOG/aws-standin.log)"
	db=$(awk '$1=="spool/db"{print $2}' <<<"$out")
	mq=$(awk '$1=="spool/rabbitmq"{print $2}' <<<"$out")
	pep=$(awk '$1=="spool/api-pepper"{print $2}' <<<"$out")
	s3=$(awk '$1=="spool/s3"{print $2}' <<<"$out")
	dbapi=$(awk '$1=="spool/db-api"{print $2}' <<<"$out")
	dbworker=$(awk '$1=="spool/db-worker"{print $2}' <<<"$out")
	key=$(awk '$1=="spool/demo-key"{print $2}' <<<"$out")
	mqapi=$(awk '$1=="spool/rabbitmq-api"{print $2}' <<<"$out")
	mqworker=$(awk '$1=="spool/rabbitmq-worker"{print $2}' <<<"$out")
	[ -n "$db" ] && [ -n "$mq" ] && [ -n "$pep" ] && [ -n "$s3" ] && [ -n "$dbapi" ] && [ -n "$dbworker" ] &&
		[ -n "$key" ] && [ -n "$mqapi" ] && [ -n "$mqworker" ] || die "secret ARNs missing from the stand-in's answers"
	seed_log_groups || die "creating the log groups in the stand-in failed (see $LOG/aws-standin.log)"
	write_configs "$db" "$mq" "$pep" "$s3" "$dbapi" "$dbworker" "$mqapi" "$mqworker"
	write_env "$db" "$mq" "$pep" "$s3" "$dbapi" "$dbworker" "$key" "$mqapi" "$mqworker"
	iam_roles_up "$db" "$mq" "$pep" "$dbapi" "$dbworker" "$key" "$mqapi" "$mqworker"
	start_spool
	say "up: source $RUN/stack.env (or eval \"\$(scripts/stack.sh env)\")"
}

cmd_down() {
	[ -d "$RUN" ] || return 0
	with_lock
	stop_spool
	stop_pidfile aws-standin "$PIDS/aws-standin.pid" "$AWS_PORT" 5
	stop_pidfile s3rver "$PIDS/s3rver.pid" "$S3_PORT" 5
	rmq_down
	pg_down
	say "down"
}

cmd_reset() {
	cmd_down
	if [ -d "$RUN" ]; then
		if [ -f "$RUN/.spool-run" ] || [ -z "$(ls -A "$RUN" | grep -v -e '^\.lock$' -e '^port_base$')" ]; then
			say "wiping $RUN"
			rm -rf "$RUN"
		else
			die "$RUN does not look like a stack run directory (no .spool-run): not wiping"
		fi
	fi
}

# One service of a running stack (fault tests): stop it, or start it again as `up` does.
cmd_one() { # stop|start SERVICE
	[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run scripts/stack.sh up"
	with_lock
	load_secrets
	local i rc=0
	case $1:$2 in
	stop:postgres) pg_down ;;
	start:postgres) pg_up ;;
	stop:rabbitmq) rmq_down ;;
	start:rabbitmq) rmq_up ;;
	stop:rabbitmq-[1-9]) inst_check "$2" "$NODES" && rmq_down "${2##*-}" ;;
	start:rabbitmq-[1-9]) inst_check "$2" "$NODES" && rmq_up "${2##*-}" ;;
	stop:s3rver) stop_pidfile s3rver "$PIDS/s3rver.pid" "$S3_PORT" 5 ;;
	start:s3rver) s3_up ;;
	stop:aws | stop:aws-standin) stop_pidfile aws-standin "$PIDS/aws-standin.pid" "$AWS_PORT" 5 ;;
	start:aws | start:aws-standin) standin_up ;;
	stop:spool-api) for ((i = 1; i <= APIS; i++)); do api_down "$i" & done; wait ;;
	start:spool-api) set_spool_env && for ((i = 1; i <= APIS; i++)); do api_up "$i" || rc=1; done ;;
	stop:spool-api-[1-9]) inst_check "$2" "$APIS" && api_down "${2##*-}" ;;
	start:spool-api-[1-9]) inst_check "$2" "$APIS" && set_spool_env && api_up "${2##*-}" ;;
	stop:spool-worker) for ((i = 1; i <= WORKERS; i++)); do worker_down "$i" & done; wait ;;
	start:spool-worker) set_spool_env && for ((i = 1; i <= WORKERS; i++)); do worker_up "$i" || rc=1; done ;;
	stop:spool-worker-[1-9]*) inst_check "$2" "$WORKERS" && worker_down "${2##*-}" ;;
	start:spool-worker-[1-9]*) inst_check "$2" "$WORKERS" && set_spool_env && worker_up "${2##*-}" ;;
	stop:haproxy | stop:balancer) stop_pidfile haproxy "$PIDS/haproxy.pid" "$LB_PORT" 5 ;;
	start:haproxy | start:balancer) [ "$BALANCER" -eq 1 ] || die "this stack has no balancer" && lb_up ;;
	*) die "usage: stack.sh stop|start postgres|rabbitmq[-N]|s3rver|aws|spool-api[-N]|spool-worker[-N]|haproxy" ;;
	esac
	return $rc
}

inst_check() { # NAME COUNT: NAME's number is one of this stack's instances
	local n=${1##*-}
	case $n in *[!0-9]*) die "bad instance '$1'" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le "$2" ] || die "this stack has no $1 (it has $2)"
}

cmd_status() {
	[ -d "$RUN" ] || { echo "no stack in $RUN"; return 1; }
	local bad=0 line
	st() { # NAME OK DETAIL
		if [ "$2" = 0 ]; then line="up"; else line="down"; bad=1; fi
		printf '%-15s %-5s %s\n' "$1" "$line" "$3"
	}
	pg_running && st postgres 0 "127.0.0.1:$PG_PORT" || st postgres 1 "127.0.0.1:$PG_PORT"
	epmd_running && st epmd 0 "127.0.0.1:$EPMD_PORT" || st epmd 1 "127.0.0.1:$EPMD_PORT"
	local n p k i
	for k in $(rmq_all); do
		rmq_node "$k"
		n=$(inst_name rabbitmq "$k")
		rmq_running && st "$n" 0 "amqp 127.0.0.1:$R_AMQP, mgmt :$R_MGMT" ||
			st "$n" 1 "amqp 127.0.0.1:$R_AMQP, mgmt :$R_MGMT"
	done
	rmq_node 1
	for n in s3rver:$S3_PORT aws-standin:$AWS_PORT; do
		p=${n#*:}
		n=${n%%:*}
		if ours "$(pidof_file "$PIDS/$n.pid" || true)" "$RUN" && port_open "$p"; then st "$n" 0 "127.0.0.1:$p"; else st "$n" 1 "127.0.0.1:$p"; fi
	done
	if [ "$BALANCER" -eq 1 ]; then
		if ours "$(pidof_file "$PIDS/haproxy.pid" || true)" "$RUN" && port_open "$LB_PORT"; then
			st haproxy 0 "127.0.0.1:$LB_PORT"
		else
			st haproxy 1 "127.0.0.1:$LB_PORT"
		fi
	fi
	for n in $(for ((i = 1; i <= APIS; i++)); do inst_name spool-api "$i"; done) \
		$(for ((i = 1; i <= WORKERS; i++)); do inst_name spool-worker "$i"; done); do
		p=${n%-[0-9]*}
		if ours "$(pidof_file "$PIDS/$n.pid" || true)" "$RUN"; then
			printf '%-15s %-5s %s\n' "$n" up "pid $(pidof_file "$PIDS/$n.pid")"
		elif [ -x "$BIN/$p" ]; then
			printf '%-15s %-5s %s\n' "$n" down "(not running)"
		else
			printf '%-15s %-5s %s\n' "$n" -- "(not built)"
		fi
	done
	[ -f "$RUN/stack.env" ] || bad=1
	return $bad
}

cmd_env() {
	[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run scripts/stack.sh up"
	sed -e '/^[A-Za-z_][A-Za-z0-9_]*=/!d' -e 's/^/export /' "$RUN/stack.env"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
reset) cmd_reset ;;
status) cmd_status ;;
env) cmd_env ;;
restart) cmd_down && cmd_up ;;
stop | start) cmd_one "$1" "${2:-}" ;;
*)
	sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
