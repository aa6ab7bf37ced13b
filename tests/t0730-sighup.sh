#!/usr/bin/env bash
# SIGHUP reloads spool-worker's config: log level, concurrency (threads and
# prefetch) and lookahead (prefetch) change at once, keys that need a restart are
# named and kept, and an invalid file is refused with its errors logged while the
# worker goes on.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

worker_ensure
[ -x bin/spool-worker ] || bail "bin/spool-worker is not built"
cfg=$T_TMP/worker.ini
log=$T_TMP/worker.log
wid=t0730-$$
sed -e 's/^level = .*/level = info/' -e 's/^concurrency = .*/concurrency = 2/' "$SPOOL_WORKER_CONFIG" >"$cfg"
sed -i "s/^\[worker\]$/[worker]\nid = $wid\nlookahead = 1/" "$cfg"
env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null bin/spool-worker -d -f "$cfg" >"$log" 2>&1 &
pid=$!
at_exit "kill -TERM $pid; sleep 1; kill -KILL $pid"

# wait_log REGEX [SECONDS]: until the worker's log has a line matching REGEX
wait_log() {
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		grep -qE -- "$1" "$log" && return 0
		sleep 0.1
	done
	return 1
}
mgmt() { curl -fsS -u "$SPOOL_RABBITMQ_USER:$SPOOL_RABBITMQ_PASSWORD" "$SPOOL_RABBITMQ_MGMT_URL$1"; }
# the prefetch of the test worker's consumer (the one whose connection is newest
# among those with that prefetch is enough: we look for the value we set)
prefetches() { mgmt /api/consumers | jq -r '[.[] | select(.queue.name == "spool.jobs") | .prefetch_count] | sort | join(" ")'; }
# wait_prefetch N: until a consumer of spool.jobs has prefetch N (the management API
# lists a consumer, or its change, within its stats interval), 10 s at most
wait_prefetch() {
	for _ in $(seq 50); do
		[[ " $(prefetches) " == *" $1 "* ]] && return
		sleep 0.2
	done
}

# the stack's worker sets no lookahead: its default, 2, on top of its 2 threads
wait_prefetch 4
expect_match "the stack's worker consumes with prefetch 4 (concurrency 2 + the default lookahead 2)" '(^| )4( |$)' \
	"$(prefetches)"
wait_log "consuming 'spool.jobs'.* \\(prefetch 3 each\\)" 20 || bail "the test worker did not start consuming: $(tail -n 5 "$log")"
ok "test worker consuming with prefetch 3 (concurrency 2 + lookahead 1)"

# a valid edit: debug logs, 5 threads, a lookahead of 3, and a key that needs a restart
sed -i -e 's/^level = .*/level = debug/' -e 's/^concurrency = .*/concurrency = 5/' -e 's/^lookahead = .*/lookahead = 3/' "$cfg"
sed -i "s/^id = $wid$/id = $wid\nlease = 97s/" "$cfg"
kill -HUP "$pid"
wait_log "reload: configuration '[^']*' applied" 10
check "reload logged as applied" grep -q "reload: configuration '$cfg' applied (log level debug, concurrency 5)" "$log"
check "concurrency change logged" grep -q "reload: concurrency 2 -> 5" "$log"
check "prefetch change logged" grep -q "reload: prefetch 3 -> 8 (concurrency 5, lookahead 3)" "$log"
check "worker.lease named as needing a restart" grep -qE "need a restart and keep their old values: .*worker\\.lease" "$log"
wait_prefetch 8
expect_match "RabbitMQ shows a consumer with prefetch 8" '(^| )8( |$)' "$(prefetches)"
expect_eq "$(ls "/proc/$pid/task" | wc -l) threads >= 5 workers + consumer" yes \
	"$([ "$(ls "/proc/$pid/task" | wc -l)" -ge 6 ] && echo yes || echo no)"

# an invalid edit: refused, errors logged, the old config kept
cp "$cfg" "$cfg.good"
sed -i -e 's/^concurrency = .*/concurrency = lots/' "$cfg"
echo "bogus_key = 1" >>"$cfg"
kill -HUP "$pid"
wait_log "reload: configuration not changed" 10
check "invalid config refused" grep -q "reload: configuration not changed" "$log"
check "the error names the bad value" grep -qE "configuration not changed: .*'lots' is not a whole number" "$log"
check "the error names the unknown key" grep -qE "configuration not changed: .*unknown key 'bogus_key'" "$log"
check "the worker is still running" kill -0 "$pid"

# it keeps working with the old config (debug level: it logs each delivery it takes)
before=$(grep -c '"claimed job of type' "$log" || true)
ids=()
for ((i = 0; i < 20; i++)); do
	ids+=("$(_w_api -X POST -H 'Content-Type: application/json' -d '{"type":"noop"}' "$SPOOL_API_URL/v1/jobs" |
		json_id)")
done
for id in "${ids[@]}"; do job_wait "$id" 30 >/dev/null; done
after=$(grep -c '"claimed job of type' "$log" || true)
expect_eq "the test worker ran some of 20 jobs after the refused reload" yes \
	"$([ "$after" -gt "$before" ] && echo yes || echo "no ($before -> $after)")"
check "and logged at debug level" grep -q '"level":"debug"' "$log"

# back down to 1 thread: the extra threads end
cp "$cfg.good" "$cfg"
sed -i -e 's/^concurrency = .*/concurrency = 1/' "$cfg"
kill -HUP "$pid"
wait_log "reload: concurrency 5 -> 1" 10
check "concurrency lowered to 1" grep -q "reload: concurrency 5 -> 1" "$log"
check "prefetch follows: 1 + lookahead 3" grep -q "reload: prefetch 8 -> 4 (concurrency 1, lookahead 3)" "$log"

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
expect_eq "SIGTERM after reloads: exit 0" 0 "$?"
check "stopped cleanly" grep -q '"msg":"stopped"' "$log"

done_testing
