#!/usr/bin/env bash
# t0450 — a transcode longer than RabbitMQ's consumer timeout is neither killed nor
# duplicated by the queue, and a delivery waiting behind it for a free thread does
# not cost the worker its channel either.
#
# RabbitMQ 3.10 has only the node-wide consumer_timeout (per-queue and per-consumer
# timeouts came in 3.11.15/3.12), read by each channel when it opens. So for the
# duration of the test the running broker gets consumer_timeout = 8 s and checks it
# every second (channel_tick_interval, 60 s by default: the check runs on the
# channel's tick); both are restored at exit. The stack's worker is replaced by one
# with concurrency 1 and [rabbitmq] consumer_timeout = 8s, whose channel opens
# after the change. A consumer that never acks (bin/tools/amqp-hold) runs alongside:
# its channel must be closed, which shows the short timeout was really in force.
. "$(dirname "$0")/lib.sh"
. tests/data/worker-lib.sh

command -v ffmpeg >/dev/null || skip_all "ffmpeg is not installed"
[ -x bin/tools/amqp-hold ] || bail "bin/tools/amqp-hold is not built (make)"
worker_ensure
sql() { psql -X -At "$SPOOL_PG_DSN" "$@"; }
TIMEOUT_S=8

# rabbitmqctl for the stack's node (the same environment scripts/stack.sh uses)
RMQDIR=$SPOOL_RUN_DIR/rabbitmq
rmqctl() {
	env HOME="$RMQDIR/home" RABBITMQ_NODENAME="spool$SPOOL_PORT_BASE@localhost" RABBITMQ_USE_LONGNAME=false \
		ERL_EPMD_PORT=$((SPOOL_PORT_BASE + 3)) RABBITMQ_CONF_ENV_FILE="$RMQDIR/rabbitmq-env.conf" \
		/usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}
rmq_env() { rmqctl -q eval "{ok, V} = application:get_env(rabbit, $1), V." 2>/dev/null; }
old_timeout=$(rmq_env consumer_timeout)
old_tick=$(rmq_env channel_tick_interval)
[[ $old_timeout =~ ^[0-9]+$ && $old_tick =~ ^[0-9]+$ ]] ||
	skip_all "cannot read the broker's consumer_timeout with rabbitmqctl ('$old_timeout', '$old_tick')"

# a 320x180 source of 90 s: upscaled to 1080p it takes several times the timeout
MEDIA=$SPOOL_RUN_DIR/media # shared by the tests of this stack (tests/media.sh)
tests/media.sh "$MEDIA" >/dev/null 2>&1 || bail "cannot generate the test media"
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=320x180:r=25:d=90 \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$MEDIA/long-90s.mp4" || bail "cannot make the long clip"

# --- our worker in place of the stack's; at exit: ours stops, the broker's settings
# are restored, then the stack's worker starts again (so its channel has them)
scripts/stack.sh stop spool-worker >/dev/null 2>&1
at_exit "scripts/stack.sh start spool-worker"
at_exit "rmqctl -q eval 'application:set_env(rabbit, consumer_timeout, $old_timeout), application:set_env(rabbit, channel_tick_interval, $old_tick).'"
rmqctl -q eval "application:set_env(rabbit, consumer_timeout, $((TIMEOUT_S * 1000))), application:set_env(rabbit, channel_tick_interval, 1000)." \
	>/dev/null || bail "cannot set the broker's consumer_timeout"
ok "broker: consumer_timeout ${TIMEOUT_S} s for new channels, checked every second"

bin/tools/amqp-hold "$SPOOL_AMQP_URL" 30 >"$T_TMP/hold.out" 2>&1 &
HOLD=$!
at_exit "kill $HOLD"

ini=$T_TMP/worker.ini
grep -v '^concurrency' "$SPOOL_WORKER_CONFIG" | sed 's/^level = .*/level = debug/' >"$ini"
printf 'id = t0450\nconcurrency = 1\n\n[rabbitmq]\nconsumer_timeout = %ss\n' "$TIMEOUT_S" >>"$ini"
LOG=$T_TMP/worker.log
bin/spool-worker -d -f "$ini" >"$LOG" 2>&1 </dev/null &
WPID=$!
at_exit "kill -TERM $WPID; sleep 1"
for ((i = 0; i < 50; i++)); do grep -q "consuming 'spool.jobs'" "$LOG" && break; sleep 0.2; done
grep -q "consuming 'spool.jobs'" "$LOG" || bail "our worker is not consuming: $(tail -n 5 "$LOG")"

# --- a long job, then a short one that waits behind it (one thread)
submit_video() { # KEY PARAMS-JSON
	_w_api -X POST -H 'Content-Type: application/json' \
		-d "$(jq -cn --arg k "$1" --argjson p "$2" '{type: "video.transcode", source: {key: $k}, params: $p}')" \
		"$SPOOL_API_URL/v1/jobs" | json_id
}
key=$(upload "$MEDIA/long-90s.mp4") || bail "cannot upload the long clip"
long=$(submit_video "$key" '{"max_duration": 180, "height": 1080}')
for ((i = 0; i < 100; i++)); do
	[ "$(sql -c "SELECT status || ' ' || worker_id FROM jobs WHERE id = '$long'")" = "running t0450" ] && break
	sleep 0.2
done
expect_eq "the long job runs on our worker" "running t0450" "$(sql -c "SELECT status || ' ' || worker_id FROM jobs WHERE id = '$long'")"
key=$(upload "$MEDIA/short-3s.mp4") || bail "cannot upload the short clip"
short=$(submit_video "$key" '{}')

job=$(job_wait "$long" 480) # minutes of 1080p encoding on a loaded machine
expect_eq "long job succeeded" succeeded "$(jq -r .status <<<"$job")"
job=$(job_wait "$short" 60)
expect_eq "short job succeeded" succeeded "$(jq -r .status <<<"$job")"

# --- the timeout was in force: the consumer that never acks lost its channel
wait "$HOLD"
hold=$(cat "$T_TMP/hold.out")
expect_match "a consumer holding a delivery loses its channel after ~${TIMEOUT_S} s" \
	"^closed after ($(seq -s "|" "$TIMEOUT_S" $((TIMEOUT_S + 4))))\.[0-9] s: 406 PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out" "$hold"

# --- the long job: one run, longer than twice the timeout, no interference
ran=$(sql -c "SELECT round(extract(epoch FROM finished_at - started_at)) FROM jobs WHERE id = '$long'")
if [ "${ran:-0}" -ge $((2 * TIMEOUT_S)) ]; then
	ok "the long job ran ${ran} s (at least twice the timeout)"
else
	fail "the long job runs at least twice the timeout" "it ran '${ran}' s: make the source longer"
fi
for id in "$long" "$short"; do
	expect_eq "job ${id:0:8}: one attempt, on our worker" "1 t0450" \
		"$(sql -c "SELECT attempts || ' ' || worker_id FROM jobs WHERE id = '$id'")"
	expect_eq "job ${id:0:8}: one started and one succeeded event" "1 1" \
		"$(sql -c "SELECT count(*) FILTER (WHERE event = 'started') || ' ' || count(*) FILTER (WHERE event = 'succeeded') FROM job_events WHERE job_id = '$id'")"
	expect_eq "job ${id:0:8}: never reaped, requeued or retried" 0 \
		"$(sql -c "SELECT count(*) FROM job_events WHERE job_id = '$id' AND event IN ('reaped', 'requeued', 'retrying', 'retried')")"
done

# --- the short job waited longer than the timeout, its delivery handed back meanwhile
waited=$(sql -c "SELECT round(extract(epoch FROM started_at - created_at)) FROM jobs WHERE id = '$short'")
if [ "${waited:-0}" -gt "$TIMEOUT_S" ]; then
	ok "the short job waited ${waited} s for the thread (more than the timeout)"
else
	fail "the short job waits longer than the timeout" "it waited '${waited}' s"
fi
backs=$(grep -c "giving its delivery back" "$LOG")
if [ "$backs" -ge 3 ]; then
	ok "its delivery was handed back $backs times (every $((TIMEOUT_S / 3)) s)"
else
	fail "its delivery is handed back while it waits" "$backs hand-backs in the log"
fi

# --- and the worker kept its one connection and channel throughout
check "our worker is still running" kill -0 "$WPID"
expect_eq "it connected once" 1 "$(grep -c "consuming 'spool.jobs'" "$LOG")"
expect_eq "the broker never closed its channel or connection" "" \
	"$(grep -iE 'PRECONDITION_FAILED|acknowledgement .*timed out|closed by the server|reconnecting|cannot ack' "$LOG")"

done_testing
