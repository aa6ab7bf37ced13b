# tests/data/second-api.sh — a second spool-api for tests that need two API
# processes or a config of their own; sourced after tests/lib.sh.
#
#   api_config_copy FILE PORT MPORT [LINE...]   the copy of api.ini api2_start uses
#   api2_start [LINE...]   start bin/spool-api on a free port with a copy of the stack's
#                          api.ini, LINEs added to its [api] section, its /metrics
#                          listener on another free port; sets API2_URL,
#                          API2_METRICS_URL, API2_PID; logs to
#                          $SPOOL_LOG_DIR/spool-api-<test>.log; stopped (SIGTERM)
#                          when the test exits
#   API2_SCHEME=https API2_CURL=(--cacert FILE)   set before api2_start for a TLS
#                          listener: the URL's scheme and curl's options while polling
#   API2_PORT=N            listen on port N instead of a free one
#   API2_METRICS_PORT=N    its /metrics listener on port N instead of a free one
#   API2_WRAP=(CMD ARGS)   run the API as CMD ARGS env ... bin/spool-api ... (e.g. nsenter
#                          into a namespace, setpriv, or env with variables of its own);
#                          CMD must exec what follows, so that API2_PID is spool-api's pid

# api_config_copy FILE PORT MPORT [LINE...]: the stack's api.ini with another port and
# /metrics listener, LINEs added to its [api] section
api_config_copy() {
	local out=$1 port=$2 mport=$3
	shift 3
	awk -v port="$port" -v mport="$mport" -v extra="$(printf '%s\n' "$@")" '
		/^\[/ { section = $0 }
		section == "[api]" && /^port *=/ { print "port = " port; next }
		section == "[api]" && /^metrics_listen *=/ { print "metrics_listen = 127.0.0.1:" mport; next }
		{ print }
		$0 == "[api]" && extra != "" { print extra }' "$SPOOL_API_CONFIG" >"$out"
}

api2_start() {
	local port mport cfg i free
	# two free ports taken at once (both sockets open), so that they differ: picked one at
	# a time, the kernel may hand out the same one twice and /metrics then takes the API's
	free=$(py 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
	port=${API2_PORT:-${free% *}}
	mport=${API2_METRICS_PORT:-${free#* }}
	cfg=$T_TMP/api2.ini
	api_config_copy "$cfg" "$port" "$mport" "$@"
	API2_METRICS_URL=http://127.0.0.1:$mport/metrics
	${API2_WRAP+"${API2_WRAP[@]}"} env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		bin/spool-api -c "$cfg" >>"$SPOOL_LOG_DIR/spool-api-$T_NAME.log" 2>&1 </dev/null &
	API2_PID=$!
	API2_URL=${API2_SCHEME:-http}://127.0.0.1:$port
	at_exit "kill -TERM $API2_PID; sleep 0.5"
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null --max-time 1 ${API2_CURL+"${API2_CURL[@]}"} "$API2_URL/health" 2>/dev/null && break
		kill -0 "$API2_PID" 2>/dev/null || bail "the second spool-api exited: $(tail -n 5 "$SPOOL_LOG_DIR/spool-api-$T_NAME.log")"
		sleep 0.1
	done
	# its events queue is declared once it has connected
	for ((i = 0; i < 50; i++)); do
		grep -q "events: consuming 'spool.events.api.[^']*\.$API2_PID'" "$SPOOL_LOG_DIR/spool-api-$T_NAME.log" && return 0
		sleep 0.1
	done
	bail "the second spool-api does not consume its events queue"
}
