# tests/data/notify.sh — a systemd notification socket for a daemon under test; sourced
# after tests/lib.sh.
#
#   notify_start     start tests/tools/notify-reader.py on $NOTIFY (give it to the daemon
#                    as NOTIFY_SOCKET, with WATCHDOG_USEC); each message becomes a line
#                    "<monotonic seconds> <message>" of $NLOG; stopped when the test exits
#   notify_count MSG how many messages MSG (e.g. WATCHDOG=1) arrived so far

notify_start() {
	NOTIFY=$T_TMP/notify.sock
	NLOG=$T_TMP/notify.log
	"$T_PY" tests/tools/notify-reader.py "$NOTIFY" "$NLOG" &
	at_exit "kill $!"
	for _ in $(seq 1 50); do [ -S "$NOTIFY" ] && return 0; sleep 0.1; done
	bail "the notify socket reader did not start"
}

notify_count() { grep -c " $1\$" "$NLOG" || true; }
