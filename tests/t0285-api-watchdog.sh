#!/usr/bin/env bash
# t0285 — spool-api pings systemd's watchdog only while its listener serves. A second
# spool-api (max_connections 8, no cap per address, long header and idle timeouts)
# reports to a NOTIFY_SOCKET the test reads, with WATCHDOG_USEC set: READY=1, then
# WATCHDOG=1 about every second, each after a real GET /health through its own
# listener that the access log leaves out. Then a real wedge: eight connections that
# send nothing hold every slot, the listener can serve nobody, and no WATCHDOG=1 is
# sent while they last; once they close the pings come back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/data/second-api.sh"
. "$(dirname "$0")/data/notify.sh"

notify_start

API2_PORT=$((SPOOL_PORT_BASE + 60))
API2_METRICS_PORT=$((SPOOL_PORT_BASE + 61))
API2_WRAP=(env NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=3000000)
api2_start "max_connections = 8" "max_connections_per_address = 0" "header_timeout = 600s" \
	"connection_timeout = 600s"
LOG=$SPOOL_LOG_DIR/spool-api-$T_NAME.log

pings() { notify_count WATCHDOG=1; }
health_lines() { grep -c '"msg":"request".*"path":"/health"' "$LOG" || true; }
# pings_in SECONDS: how many WATCHDOG=1 arrived in the next SECONDS
pings_in() {
	local n0
	n0=$(pings)
	sleep "$1"
	echo $(($(pings) - n0))
}

grep -q ' READY=1$' "$NLOG" && ok "READY=1 on the notify socket" || fail "READY=1 on the notify socket" "$(cat "$NLOG")"
h0=$(health_lines)
n=$(pings_in 3)
if [ "$n" -ge 2 ]; then ok "WATCHDOG=1 about every second ($n in 3 s)"; else fail "WATCHDOG=1 about every second ($n in 3 s)"; fi
expect_eq "the watchdog's requests are not in the access log" "$h0" "$(health_lines)"
expect_status "a client's GET /health is 200" 200 "$API2_URL/health"
expect_eq "… and is logged" "$((h0 + 1))" "$(health_lines)"

# --- every connection slot held by clients that send nothing
"$T_PY" -c '
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(8)]
print("held", flush=True)
time.sleep(600)
' "$API2_PORT" >"$T_TMP/hold.out" &
HOLD=$!
at_exit "kill $HOLD"
for _ in $(seq 1 50); do grep -q held "$T_TMP/hold.out" && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$API2_URL/health") || true
expect_eq "with the eight slots held, a client is not served" 000 "$code"
sleep 3 # the ping under way when the slots filled
n=$(pings_in 4)
expect_eq "no WATCHDOG=1 for 4 s while the listener serves nobody" 0 "$n"
grep -q '"watchdog: not pinged: the listener does not answer: GET http://127.0.0.1:'"$API2_PORT"'/health' "$LOG" &&
	ok "spool-api logged why" || fail "spool-api logged why" "$(tail -n 3 "$LOG")"

kill "$HOLD"
wait "$HOLD" 2>/dev/null
end=$((SECONDS + 30))
while [ "$(pings_in 1)" = 0 ] && [ $SECONDS -lt $end ]; do :; done
n=$(pings_in 3)
if [ "$n" -ge 2 ]; then ok "the slots free again: WATCHDOG=1 again ($n in 3 s)"; else fail "the slots free again: WATCHDOG=1 again ($n in 3 s)"; fi
grep -q '"watchdog: the listener answers again; pinging"' "$LOG" && ok "… logged" || fail "… logged" "$(tail -n 3 "$LOG")"

done_testing
