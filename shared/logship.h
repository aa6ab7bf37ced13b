/*
 * logship — ship the daemon's log lines to CloudWatch Logs (PutLogEvents).
 *
 * When [log] cloudwatch_group is set, logship_start() registers a log sink
 * (log.h): every line the daemon writes to stderr is also copied, as it is
 * (JSON lines are already free of secrets), into a bounded in-memory queue. A
 * background thread (bgthread.h) sends the queue's lines every
 * LOGSHIP_INTERVAL_MS, or as soon as a full batch is waiting, to the group's
 * stream ([log] cloudwatch_stream, default the host name), which it creates with
 * CreateLogStream on first use (ResourceAlreadyExistsException is fine). The
 * calls go through aws.h (SigV4 "logs", JSON 1.1 protocol, the standard retries);
 * when one still fails on throttling, a 5xx or no answer, the lines stay queued and
 * the thread tries again after a backoff (1 s doubling to 60 s). A batch refused
 * for good (a 4xx other than throttling) is dropped and counted as below.
 *
 * The logging thread never waits for the network: it copies the line and takes
 * the queue's mutex for a few pointer updates. When the queue holds [log]
 * cloudwatch_queue bytes, new lines are dropped (stderr still has them) and
 * counted; the next batch sent ends with a line {"level":"warn", "msg":
 * "dropped N lines", "dropped": N}, and the counter LogLinesDropped (metrics.h)
 * grows by N.
 *
 * Each call respects PutLogEvents' limits: at most LOGSHIP_MAX_EVENTS events,
 * at most LOGSHIP_MAX_BYTES bytes counting LOGSHIP_EVENT_OVERHEAD per event, in
 * chronological order (each line is stamped when queued, never before the line
 * queued before it), spanning at most LOGSHIP_MAX_SPAN_MS. A line longer than
 * LOGSHIP_MAX_EVENT_BYTES is cut there (at a UTF-8 boundary); bytes that are not
 * UTF-8 are written as \xNN (utf8.h).
 *
 * logship_stop() sends what is queued, within LOGSHIP_STOP_MS (and one call's
 * [aws] timeout), then stops the thread; call it after the daemon's last line.
 */
#ifndef SPOOL_LOGSHIP_H
#define SPOOL_LOGSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

#define LOGSHIP_MAX_EVENTS 10000
#define LOGSHIP_MAX_BYTES 1048576
#define LOGSHIP_EVENT_OVERHEAD 26
#define LOGSHIP_MAX_SPAN_MS (24LL * 3600 * 1000)
#define LOGSHIP_MAX_EVENT_BYTES (262144 - LOGSHIP_EVENT_OVERHEAD)
#define LOGSHIP_INTERVAL_MS 5000
#define LOGSHIP_STOP_MS 5000

/*
 * Start shipping when cfg->log.cloudwatch_group is set (else do nothing and
 * return 0). `daemon` names the program in the drop notices. `cfg` is read only
 * here. 0, or -1 with the reason in err (the thread did not start).
 */
int logship_start(const struct config *cfg, const char *daemon, struct buf *err);
/* Send what is queued (bounded, see above) and stop. Nothing after it is shipped. */
void logship_stop(void);

/* --- the queue and the batches, exposed for tests --- */

/* One queued line: its time stamp (ms since the epoch) and text (UTF-8, no newline). */
struct logship_event {
	int64_t ts_ms;
	const char *msg;
	size_t len;
};

/*
 * The lines waiting, oldest first: a mutex-guarded list holding at most `cap`
 * bytes (each line's length plus its bookkeeping). Pushes come from any thread;
 * peek and pop belong to one consumer thread.
 */
struct logship_queue;

struct logship_queue *logship_queue_new(size_t cap);
/* Free the queue and the lines in it. */
void logship_queue_free(struct logship_queue *q);
/*
 * Queue a copy of `line` stamped max(now_ms, the last stamp). Returns 1 when
 * queued and a full batch is now waiting (wake the consumer), 0 when queued,
 * -1 when dropped (full, or closed) and counted.
 */
int logship_queue_push(struct logship_queue *q, int64_t now_ms, const char *line, size_t len);
/*
 * Describe in ev[] the lines at the head that one PutLogEvents call may take
 * with at most `max_events` events and `max_bytes` bytes (see above); the
 * pointers stay valid until logship_queue_pop(). Returns how many; *full is set
 * when a limit (not the end of the queue) ended the batch.
 */
size_t logship_queue_peek(struct logship_queue *q, struct logship_event *ev, size_t max_events,
			  size_t max_bytes, bool *full);
/* Remove (and free) the first n lines, which the last peek described. */
void logship_queue_pop(struct logship_queue *q, size_t n);
/* The lines dropped since the last call (reset to 0). */
uint64_t logship_queue_take_dropped(struct logship_queue *q);
/* The lines queued, and their cost in bytes into *bytes (may be NULL). */
size_t logship_queue_len(struct logship_queue *q, size_t *bytes);
/* Refuse every push from now on and free the lines queued. */
void logship_queue_close(struct logship_queue *q);

/*
 * The PutLogEvents request body (JSON) of n events into `body` (reset first).
 * The messages must be UTF-8.
 */
void logship_encode_put(const char *group, const char *stream, const struct logship_event *ev, size_t n,
			struct buf *body);

#endif
