/*
 * publisher — the outbox publisher thread: sends the outbox rows that
 * POST /v1/jobs wrote (in the job's own transaction) to RabbitMQ and marks them
 * sent once the broker confirmed them. A row is marked only after its confirm,
 * so a crash or a lost connection can duplicate a message (the worker ignores
 * duplicates) but never lose one.
 *
 * It owns its RabbitMQ connection (librabbitmq is not thread safe), declares the
 * topology on every (re)connect, retries with jittered backoff while the broker
 * is away, wakes promptly on publisher_kick() and otherwise polls every second;
 * when idle it checks the broker with a passive declare, which is what /ready
 * reports as the queue's state.
 */
#include "api.h"
#include "bgthread.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "mq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 200
#define POLL_MS 1000

static struct {
	struct bgthread thread; /* woken by publisher_kick */
	atomic_bool queue_ok;
} p = { .thread = BGTHREAD_INIT };

bool publisher_queue_ok(void)
{
	return atomic_load(&p.queue_ok);
}

/* The broker's state as /ready and the spool_queue_up gauge show it. */
static void queue_state(bool ok)
{
	atomic_store(&p.queue_ok, ok);
	prom_set_queue_up(ok);
}

void publisher_kick(void)
{
	bgthread_wake(&p.thread);
}

int publisher_declare_topology(struct mq *m, struct buf *err)
{
	int rc = mq_declare_topology(m, err);
	if (rc == MQ_MISMATCH)
		daemon_exit_config(buf_str(err)); /* retrying cannot help */
	return rc;
}

/* Connect and declare; 0 or -1 (logged when the state changes). */
static int broker_connect(struct mq *m, bool *was_down)
{
	struct buf err = BUF_INIT;
	int rc = mq_connect(m, &err);
	if (rc == 0)
		rc = publisher_declare_topology(m, &err);
	if (rc < 0) {
		if (!*was_down && rc != MQ_MISMATCH)
			log_warn("publisher: RabbitMQ unavailable, jobs wait in the outbox: %s",
				 buf_str(&err));
		*was_down = true;
		mq_disconnect(m);
		buf_release(&err);
		return -1;
	}
	if (*was_down)
		log_info("publisher: connected to RabbitMQ, topology declared");
	*was_down = false;
	buf_release(&err);
	return 0;
}

/* Cheap broker round trip while idle, so that /ready sees a broker that went away. */
static void broker_check(struct mq *m)
{
	struct buf err = BUF_INIT;
	uint32_t msgs, consumers;
	if (mq_queue_counts(m, MQ_JOBS_QUEUE, &msgs, &consumers, &err) < 0) {
		log_warn("publisher: RabbitMQ check failed: %s", buf_str(&err));
		mq_disconnect(m);
		queue_state(false);
	}
	buf_release(&err);
}

static void update_backlog(struct db_conn *c)
{
	struct buf err = BUF_INIT;
	int64_t n;
	if (outbox_backlog(c, &n, &err) == 0)
		prom_set_backlog(n);
	buf_release(&err);
}

/* The backlog grows while the broker is away: keep the gauge current then too. */
static void update_backlog_alone(struct api *a)
{
	struct buf err = BUF_INIT;
	struct db_conn *c = db_acquire(a->db, 1000, &err);
	if (c) {
		update_backlog(c);
		db_release(c);
	}
	buf_release(&err);
}

static void *publisher_main(void *arg)
{
	struct api *a = arg;
	struct mq *m = mq_new(a->cfg, a->sec);
	unsigned attempt = 0;
	bool was_down = false, stop = false;
	uint64_t last_check = 0;
	while (!stop) {
		if (!mq_connected(m)) {
			queue_state(false);
			if (broker_connect(m, &was_down) < 0) {
				update_backlog_alone(a);
				stop = bgthread_wait_for(&p.thread, daemon_jitter_ms(500, attempt++, 30000));
				continue;
			}
			attempt = 0;
			queue_state(true);
			last_check = clock_now_ns();
		}
		struct buf err = BUF_INIT;
		struct db_conn *c = db_acquire(a->db, 2000, &err);
		if (!c) {
			log_warn("publisher: database unavailable: %s", buf_str(&err));
			buf_release(&err);
			stop = bgthread_wait_for(&p.thread, POLL_MS);
			continue;
		}
		buf_release(&err);
		bool mq_failed = false;
		int n = outbox_publish(c, m, BATCH, "publisher", &mq_failed);
		update_backlog(c);
		db_release(c);
		if (mq_failed) {
			mq_disconnect(m);
			queue_state(false);
			continue;
		}
		if (n > 0)
			last_check = clock_now_ns();
		if (n == BATCH)
			continue;
		if (clock_now_ns() - last_check >= (uint64_t)POLL_MS * 1000000u) {
			broker_check(m);
			last_check = clock_now_ns();
		}
		stop = bgthread_wait_for(&p.thread, POLL_MS);
	}
	mq_free(m);
	return NULL;
}

int publisher_start(struct api *a, struct buf *err)
{
	return bgthread_start(&p.thread, "publisher", publisher_main, a, err);
}

void publisher_stop(void)
{
	bgthread_stop(&p.thread);
}
