#!/usr/bin/env bash
# t1150 — attacks on webhooks: a tenant's callback_url that would make the API connect
# to a loopback port (DNS rebinding, a trailing dot, upper case, a name resolving to
# ::ffff:127.0.0.1, proxy variables in the API's environment), and a tenant whose
# receiver hangs while another tenant's webhooks must keep their latency.
#
# The APIs under attack run in a network and mount namespace of their own: only a
# loopback interface (so the "public" address a hostile DNS server gives first is
# unreachable, and nothing leaves the machine), /etc/resolv.conf pointing at that
# DNS server (tests/tools/rebind-dns.py on 127.0.0.1:53 there), and the stack's
# PostgreSQL, RabbitMQ and AWS stand-in reached through Unix-socket relays
# (tests/tools/unix-relay.py), as is their HTTP port from here. A listener on
# 127.0.0.1 in the namespace (the trap) records every connection: none may come.
# The stack's spool-api is stopped meanwhile, so that these APIs make every delivery.
. "$(dirname "$0")/lib.sh"
. tests/bystander.sh
. tests/data/second-api.sh

[ "$(id -u)" = 0 ] || skip_all "needs root (network and mount namespaces, port 53)"
unshare --net --mount true 2>/dev/null || skip_all "cannot create network and mount namespaces here"

sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
free_port() { py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_bg NAME CMD...: CMD in the background, stopped at exit; waits for its first line
# of output (a port, or "ready") and leaves it in BG_LINE
start_bg() {
	local name=$1 i
	shift
	"$@" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err" </dev/null &
	at_exit "kill $!"
	for ((i = 0; i < 50; i++)); do
		[ -s "$T_TMP/$name.out" ] && break
		sleep 0.1
	done
	BG_LINE=$(head -n1 "$T_TMP/$name.out")
	[ -n "$BG_LINE" ] || bail "$name did not start: $(cat "$T_TMP/$name.err")"
}

# --- the namespace
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$T_TMP/resolv.conf"
# shellcheck disable=SC2016 # $1 is the inner shell's
unshare --net --mount --propagation private -- sh -c \
	'ip link set lo up && mount --bind "$1" /etc/resolv.conf && echo ready && exec sleep 600' sh "$T_TMP/resolv.conf" \
	>"$T_TMP/ns.out" 2>&1 &
NS_PID=$!
at_exit "kill $NS_PID"
for _ in $(seq 1 50); do grep -q ready "$T_TMP/ns.out" && break; sleep 0.1; done
grep -q ready "$T_TMP/ns.out" || bail "the namespace was not set up: $(cat "$T_TMP/ns.out")"
IN_NS=(nsenter -t "$NS_PID" -n -m --wd="$PWD" --)

PG_PORT=$SPOOL_PORT_BASE AMQP_PORT=$((SPOOL_PORT_BASE + 1)) MGMT_PORT=$((SPOOL_PORT_BASE + 4))
AWS_PORT=$((SPOOL_PORT_BASE + 6))
API_A=$(free_port) API_B=$(free_port)
host_side=() ns_side=()
for p in "$PG_PORT" "$AMQP_PORT" "$MGMT_PORT" "$AWS_PORT"; do
	host_side+=("unix:$T_TMP/s$p.sock=tcp:$p") ns_side+=("tcp:$p=unix:$T_TMP/s$p.sock")
done
for p in "$API_A" "$API_B"; do
	host_side+=("tcp:$p=unix:$T_TMP/a$p.sock") ns_side+=("unix:$T_TMP/a$p.sock=tcp:$p")
done
start_bg relay-host "$T_PY" tests/tools/unix-relay.py "${host_side[@]}"
start_bg relay-ns "${IN_NS[@]}" "$T_PY" tests/tools/unix-relay.py "${ns_side[@]}"
start_bg dns "${IN_NS[@]}" "$T_PY" tests/tools/rebind-dns.py 127.0.0.1 "$T_TMP/dns.log"
: >"$T_TMP/trap.log"
: >"$T_TMP/hang.log"
: >"$T_TMP/sink.log"
start_bg trap "${IN_NS[@]}" "$T_PY" tests/tools/conn-listener.py "$T_TMP/trap.log"
TRAP=$BG_LINE
start_bg hang "${IN_NS[@]}" "$T_PY" tests/tools/conn-listener.py "$T_TMP/hang.log"
HANG=$BG_LINE
start_bg sink "${IN_NS[@]}" "$T_PY" tests/tools/webhook-sink.py "$T_TMP/sink.log" 200
SINK=$BG_LINE
expect_eq "in the namespace, probe.rebind.test resolves through the hostile DNS server" "93.184.216.34" \
	"$("${IN_NS[@]}" getent ahosts probe.rebind.test | awk 'NR == 1 { print $1 }')"

# --- two APIs in the namespace (one fleet for the per-tenant cap), with proxy variables in
# their environment as an operator might set for the API's AWS calls: those name the
# stack's services as localhost, which NO_PROXY exempts; webhooks must ignore them all
scripts/stack.sh stop spool-api >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-api"
proxy=http://127.0.0.1:$TRAP
API2_WRAP=("${IN_NS[@]}" env "HTTPS_PROXY=$proxy" "https_proxy=$proxy" "http_proxy=$proxy" "ALL_PROXY=$proxy"
	"all_proxy=$proxy" NO_PROXY=localhost no_proxy=localhost)
sed 's|http://127\.0\.0\.1:|http://localhost:|' "$SPOOL_API_CONFIG" >"$T_TMP/api-ns.ini"
conf=("webhook_allow_hosts = 127.0.0.1" "webhook_workers = 4" "webhook_tenant_inflight = 2")
SPOOL_API_CONFIG=$T_TMP/api-ns.ini API2_PORT=$API_B api2_start "${conf[@]}"
pid_b=$API2_PID
SPOOL_API_CONFIG=$T_TMP/api-ns.ini API2_PORT=$API_A api2_start "${conf[@]}"
A=$API2_URL
expect_eq "the APIs run with HTTPS_PROXY, https_proxy, http_proxy, ALL_PROXY and all_proxy set to the trap" 5 \
	"$(tr '\0' '\n' <"/proc/$pid_b/environ" | grep -ci "^[a-z]*_proxy=$proxy$")"
BYSTANDER_URL=$A
bystander_init

# submit KEY URL: a noop job of KEY's tenant with callback_url URL; prints its id
submit() {
	curl -sS --max-time 5 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg u "$2" '{type: "noop", callback_url: $u}')" "$A/v1/jobs" | jq -r '.id // .'
}
# ended ID: the job's webhook has attempts, all of them made (none left to make)
ended() {
	[ "$(sql -c "SELECT count(*) > 0 AND count(*) FILTER (WHERE at IS NULL) = 0 FROM webhook_deliveries
		WHERE job_id = '$1'")" = t ]
}
# hook_history ID: "attempt delivered(t/f) error" lines of the job's webhook
hook_history() { sql -c "SELECT concat_ws(' ', attempt, CASE WHEN delivered THEN 't' ELSE 'f' END, error)
	FROM webhook_deliveries WHERE job_id = '$1' ORDER BY attempt"; }

# --- connections to loopback: every case ends refused, the trap never connected to
declare -A url=(
	[rebinding]="https://rb.rebind.test:$TRAP/hook"
	[trailing-dot]="https://dot.rebind.test.:$TRAP/hook"
	[upper-case]="https://UP.Rebind.TEST:$TRAP/hook"
	[mapped]="https://m.mapped.test:$TRAP/hook"
)
declare -A job
for c in rebinding trailing-dot upper-case mapped; do
	job[$c]=$(submit "$SPOOL_API_KEY" "${url[$c]}")
	[[ ${job[$c]} =~ ^[0-9a-f-]{36}$ ]] || bail "cannot submit the $c job: ${job[$c]}"
done
for _ in $(seq 1 100); do
	all=1
	for c in "${!job[@]}"; do ended "${job[$c]}" || all=0; done
	[ $all = 1 ] && break
	sleep 0.2
done
refused="resolves to a private, loopback or link-local address"
for c in rebinding trailing-dot upper-case; do
	got=$(hook_history "${job[$c]}")
	expect_match "$c (${url[$c]}): the checked public address was the one connected to (unreachable here), then the loopback answer refused for good" \
		"^1 f Failed to connect to [^ ]+ port $TRAP.*
2 f '[a-z.]*rebind.test' $refused \(127\.0\.0\.1\); refused" "$got"
	bystander_ok "$c"
done
expect_match "mapped (${url[mapped]}): ::ffff:127.0.0.1 is refused at the first attempt, not retried" \
	"^1 f 'm.mapped.test' $refused \(::ffff:127\.0\.0\.1\); refused[^
]*$" "$(hook_history "${job[mapped]}")"
bystander_ok "mapped"
expect_eq "the DNS server was asked for every name" "dot.rebind.test m.mapped.test rb.rebind.test up.rebind.test" \
	"$(awk '$1 != "probe.rebind.test" { print $1 }' "$T_TMP/dns.log" | sort -u | tr '\n' ' ' | sed 's/ $//')"

# a legitimate delivery to an allowed loopback receiver goes there, not to the proxy
ok_id=$(submit "$SPOOL_API_KEY" "http://127.0.0.1:$SINK/legit")
for _ in $(seq 1 50); do ended "$ok_id" && break; sleep 0.2; done
expect_eq "proxy variables: an allowed receiver (http://127.0.0.1:$SINK) gets its webhook directly" \
	"1 t /legit" "$(hook_history "$ok_id" | tr -d '\n') $(jq -r .path "$T_TMP/sink.log" | head -n1)"
bystander_ok "proxy variables"
expect_eq "the trap (loopback port $TRAP) was never connected to" "" "$(cat "$T_TMP/trap.log")"

# --- fairness: tenant A's receiver hangs; tenant B's webhooks keep their latency
a_jobs=()
for i in $(seq 1 8); do a_jobs+=("$(submit "$SPOOL_API_KEY" "http://127.0.0.1:$HANG/a$i")"); done
for _ in $(seq 1 50); do grep -q '^open' "$T_TMP/hang.log" && break; sleep 0.1; done
b_jobs=()
for i in $(seq 1 5); do
	b_jobs+=("$(submit "$BYSTANDER_KEY" "http://127.0.0.1:$SINK/b$i")")
	sleep 1.5
done
for _ in $(seq 1 50); do [ "$(grep -c '"/b' "$T_TMP/sink.log")" -ge 5 ] && break; sleep 0.2; done
bystander_ok "a tenant whose receiver hangs"
ids=$(printf "'%s'," "${b_jobs[@]}")
finished=$(sql -c "SELECT replace(callback_url, 'http://127.0.0.1:$SINK', '') || ' ' || extract(epoch FROM finished_at)
	FROM jobs WHERE id IN (${ids%,})")
late=$(py '
import json, sys
done = dict(line.split() for line in sys.argv[2].splitlines())
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    got.setdefault(r["path"], r["at"])
late = ["%s %s" % (p, "never" if p not in got else "%.1fs" % (got[p] - float(t)))
        for p, t in sorted(done.items()) if p not in got or got[p] - float(t) > 2.0]
print(" ".join(late))' "$T_TMP/sink.log" "$finished")
expect_eq "while A's receiver hangs, each of B's 5 webhooks arrives within 2 s of its job finishing" "" "$late"
max_open=$(awk '{ if ($3 > m) m = $3 } END { print m + 0 }' "$T_TMP/hang.log")
expect_match "A's deliveries in flight at once, over both APIs' 8 delivery threads: at most webhook_tenant_inflight (2)" \
	"^[12]$" "$max_open"
ids=$(printf "'%s'," "${a_jobs[@]}")
expect_match "A's attempts are cut at the time limit and retried later (attempts made | timed out | retries queued)" \
	"^[1-9][0-9]*\|[1-9][0-9]*\|[1-9][0-9]*$" \
	"$(sql -c "SELECT count(*) FILTER (WHERE at IS NOT NULL), count(*) FILTER (WHERE error ~ 'timed out'),
		count(*) FILTER (WHERE attempt > 1) FROM webhook_deliveries WHERE job_id IN (${ids%,})")"
expect_eq "the trap was never connected to" "" "$(cat "$T_TMP/trap.log")"
sql -c "UPDATE webhook_deliveries SET at = now(), error = 'the test ended' WHERE at IS NULL AND job_id IN (${ids%,})" \
	>/dev/null

done_testing
