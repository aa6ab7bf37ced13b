/*
 * events — the wake-up consumer: resumes GET /v1/jobs/{id}?wait=N requests the
 * moment their job reaches a final state.
 *
 * Every API process must see every final event, whichever process accepted the
 * waiting request. spool.events.api is one durable queue consumed competitively
 * (by webhooks.c: at-least-once work that must happen once in the fleet), so
 * this thread declares a queue of its own, spool.events.api.<host>.<pid>:
 * exclusive and auto-delete (it goes away with the connection), bound to
 * spool.events with the three final routing keys. A missed event only delays
 * a waiter to its deadline; after a reconnect the waiter rechecks its jobs in
 * the database once, since events may have been lost while the queue was gone.
 *
 * The thread owns its RabbitMQ connection (librabbitmq is not thread safe) and
 * reconnects with jittered backoff.
 */
#include "api.h"
#include "bgthread.h"
#include "daemon.h"
#include "log.h"
#include "mq.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NEXT_MS 500
#define PREFETCH 256

static const char *const final_keys[] = { "job.succeeded", "job.failed", "job.cancelled" };

static struct {
	struct bgthread thread;
	char queue[256];
} ev = { .thread = BGTHREAD_INIT };

static int subscribe(struct mq *m, struct buf *err)
{
	if (mq_connect(m, err) < 0 || publisher_declare_topology(m, err) < 0 ||
	    mq_declare_private_queue(m, ev.queue, MQ_EVENTS_EXCHANGE, final_keys,
				     sizeof(final_keys) / sizeof(final_keys[0]), 0, err) < 0 ||
	    mq_consume(m, ev.queue, PREFETCH, err) < 0) {
		mq_disconnect(m);
		return -1;
	}
	return 0;
}

/* Wake the waiters of the event's job if the event is final; malformed events are dropped. */
static void handle(const struct mq_delivery *d)
{
	json_t *o = json_loadb(d->body, d->len, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "job_id"));
	const char *event = json_string_value(json_object_get(o, "event"));
	if (!event)
		event = d->routing_key;
	bool final = false;
	for (size_t i = 0; event && i < sizeof(final_keys) / sizeof(final_keys[0]); i++)
		final |= !strcmp(event, final_keys[i]);
	if (id && job_id_valid(id) && final)
		waiter_wake(id);
	else if (!id || !job_id_valid(id))
		log_warn("events: ignoring a malformed event on '%s'", d->routing_key ? d->routing_key : "");
	json_decref(o);
}

static void *events_main(void *arg)
{
	struct api *a = arg;
	struct mq *m = mq_new(a->cfg, a->sec);
	struct buf err = BUF_INIT;
	unsigned attempt = 0;
	bool was_down = false;
	while (!bgthread_stopping(&ev.thread)) {
		if (!mq_connected(m)) {
			buf_reset(&err);
			if (subscribe(m, &err) < 0) {
				if (!was_down)
					log_warn("events: RabbitMQ unavailable, ?wait requests end at their "
						 "deadline: %s", buf_str(&err));
				was_down = true;
				bgthread_wait_for(&ev.thread, daemon_jitter_ms(500, attempt++, 30000));
				continue;
			}
			log_info("events: consuming '%s'", ev.queue);
			attempt = 0;
			if (was_down)
				waiter_recheck(); /* events may have passed while the queue was gone */
			was_down = false;
		}
		struct mq_delivery d;
		memset(&d, 0, sizeof(d));
		buf_reset(&err);
		int rc = mq_next(m, &d, NEXT_MS, &err);
		if (rc < 0) {
			log_warn("events: connection lost: %s", buf_str(&err));
			mq_disconnect(m);
			was_down = true;
			continue;
		}
		if (rc == 0)
			continue;
		handle(&d);
		mq_ack(m, d.tag);
		mq_delivery_free(&d);
	}
	mq_free(m);
	buf_release(&err);
	return NULL;
}

int events_start(struct api *a, struct buf *err)
{
	char host[128] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	snprintf(ev.queue, sizeof(ev.queue), "%s.%s.%ld", MQ_EVENTS_API_QUEUE, host, (long)getpid());
	return bgthread_start(&ev.thread, "events", events_main, a, err);
}

void events_stop(void)
{
	bgthread_stop(&ev.thread);
}
