/*
 * events — the wake-up consumer: resumes GET /v1/jobs/{id}?wait=N requests the
 * moment their job reaches a final state.
 *
 * Every API process must see every final event, whichever process accepted the
 * waiting request. spool.events.api is one durable queue consumed competitively
 * (by webhooks.c: at-least-once work that must happen once in the fleet), so
 * this thread declares a queue of its own, spool.events.api.<host>.<pid>:
 * exclusive and auto-delete (it goes away with the connection).
 *
 * The queue is bound to spool.events with the three final routing keys only
 * while a ?wait request of this process needs it: most processes, most of the
 * time, have none, and every event routed here would be a delivery and an ack
 * for nothing. A request that begins to wait takes a hold (events_hold) BEFORE
 * it reads its job: the first hold wakes this thread, which binds and, once the
 * broker confirmed every binding (queue.bind-ok), lets the holds go on; so a
 * final event that comes after the request's read of the job reaches this
 * queue. The hold is released when the request stops waiting (events_release).
 * The binding stays LINGER_MS after the last hold went, so that bursts of polls
 * do not bind and unbind over and over. A request whose hold is not confirmed
 * within HOLD_MS (the broker is slow or away) reads its job all the same; the
 * waiters are checked in the database once after every bind (waiter_recheck),
 * which also makes up for the events lost while the queue was gone.
 *
 * The thread owns its RabbitMQ connection (librabbitmq is not thread safe): it
 * waits in poll(2) on the connection and on an eventfd the first hold writes,
 * and reconnects with jittered backoff.
 */
#include "api.h"
#include "bgthread.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "mq.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NEXT_MS 500
#define PREFETCH 256
/* How long the binding stays after the last waiter left. */
#define LINGER_MS 5000
/* How long a request that begins to wait waits for the binding before it reads its job anyway. */
#define HOLD_MS 2000

static struct {
	struct bgthread thread;
	char queue[256];
	int wake_fd;          /* eventfd: a hold wants the binding; -1 before events_start */
	pthread_mutex_t mu;   /* guards the fields below */
	pthread_cond_t cv;    /* `up` or `bound` changed (clock_cond_init) */
	int64_t holds;        /* requests that wait, or are about to */
	uint64_t idle_ns;     /* when `holds` last went to 0 */
	bool up;              /* connected and consuming */
	bool bound;           /* the final keys' bindings are confirmed */
} ev = { .thread = BGTHREAD_INIT, .wake_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static void set_state(bool up, bool bound)
{
	pthread_mutex_lock(&ev.mu);
	ev.up = up;
	ev.bound = bound;
	pthread_cond_broadcast(&ev.cv);
	pthread_mutex_unlock(&ev.mu);
}

int events_hold(void)
{
	pthread_mutex_lock(&ev.mu);
	ev.holds++;
	if (ev.up && !ev.bound) {
		uint64_t one = 1;
		if (write(ev.wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("events: cannot write the wake-up eventfd: %s", strerror(errno));
		struct timespec deadline;
		clock_deadline(&deadline, HOLD_MS);
		while (ev.up && !ev.bound && clock_cond_wait_until(&ev.cv, &ev.mu, &deadline) != ETIMEDOUT)
			;
	}
	int rc = ev.bound ? 0 : -1;
	pthread_mutex_unlock(&ev.mu);
	return rc;
}

void events_release(void)
{
	pthread_mutex_lock(&ev.mu);
	if (ev.holds > 0 && --ev.holds == 0)
		ev.idle_ns = clock_now_ns();
	pthread_mutex_unlock(&ev.mu);
}

static int subscribe(struct mq *m, struct buf *err)
{
	if (mq_connect(m, err) < 0 || publisher_declare_topology(m, err) < 0 ||
	    mq_declare_private_queue(m, ev.queue, MQ_EVENTS_EXCHANGE, NULL, 0, 0, err) < 0 ||
	    mq_consume(m, ev.queue, PREFETCH, err) < 0) {
		mq_disconnect(m);
		return -1;
	}
	return 0;
}

/* Bind or unbind the queue as the holds ask: 0, or -1 + err (the connection failed). */
static int sync_binding(struct mq *m, struct buf *err)
{
	pthread_mutex_lock(&ev.mu);
	bool want = ev.holds > 0 || (ev.bound && clock_now_ns() - ev.idle_ns < LINGER_MS * 1000000ull);
	bool change = want != ev.bound;
	if (change && !want)
		ev.bound = false; /* a hold from now on waits for the next bind */
	pthread_mutex_unlock(&ev.mu);
	if (!change)
		return 0;
	uint64_t t0 = clock_now_ns();
	if (mq_bind_keys(m, ev.queue, MQ_EVENTS_EXCHANGE, mq_final_events, MQ_NFINAL_EVENTS, want, err) < 0)
		return -1;
	prom_events_binding(want);
	log_debug("events: '%s' %s the final events in %.1f ms", ev.queue, want ? "bound to" : "unbound from",
		  (double)(clock_now_ns() - t0) / 1e6);
	if (want) {
		set_state(true, true);
		waiter_recheck(); /* requests that read their job before the binding was there */
	}
	return 0;
}

/* Wait up to `ms` for a delivery or a hold's wake-up; librabbitmq may hold frames already. */
static void wait_input(struct mq *m, int ms)
{
	struct pollfd p[2] = { { .fd = ev.wake_fd, .events = POLLIN }, { .fd = mq_fd(m), .events = POLLIN } };
	uint64_t n;

	if (mq_buffered(m))
		return;
	if (poll(p, p[1].fd >= 0 ? 2 : 1, ms) > 0 && (p[0].revents & POLLIN) &&
	    read(ev.wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("events: cannot read the wake-up eventfd: %s", strerror(errno));
}

/* Wake the waiters of the event's job if the event is final; malformed events are dropped. */
static void handle(const struct mq_delivery *d)
{
	json_t *o = json_loadb(d->body, d->len, 0, NULL);
	const char *id = json_string_value(json_object_get(o, "job_id"));
	const char *event = json_string_value(json_object_get(o, "event"));
	if (!event)
		event = d->routing_key;
	if (id && job_id_valid(id) && mq_event_is_final(event))
		waiter_wake(id);
	else if (!id || !job_id_valid(id))
		log_warn("events: ignoring a malformed event on '%s'", d->routing_key ? d->routing_key : "");
	json_decref(o);
}

/* Handle what the broker sent, acknowledged with one basic.ack: 0, or -1 + err (connection lost). */
static int drain(struct mq *m, struct buf *err)
{
	uint64_t last = 0;
	int rc = 0;
	for (int n = 0; n < PREFETCH; n++) {
		struct mq_delivery d;
		if ((rc = mq_next(m, &d, 0, err)) != 1)
			break;
		handle(&d);
		last = d.tag;
		mq_delivery_free(&d);
	}
	if (rc < 0)
		return -1;
	return last ? mq_ack_multiple(m, last) : 0;
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
			set_state(false, false);
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
			was_down = false;
			set_state(true, false);
		}
		buf_reset(&err);
		if (sync_binding(m, &err) < 0) {
			log_warn("events: cannot bind '%s': %s", ev.queue, buf_str(&err));
			mq_disconnect(m);
			was_down = true;
			continue;
		}
		wait_input(m, NEXT_MS);
		if (drain(m, &err) < 0) {
			log_warn("events: connection lost: %s", buf_str(&err));
			mq_disconnect(m);
			was_down = true;
		}
	}
	set_state(false, false);
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
	clock_cond_init(&ev.cv);
	ev.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev.wake_fd < 0) {
		buf_printf(err, "events: cannot make its eventfd: %s", strerror(errno));
		return -1;
	}
	return bgthread_start(&ev.thread, "events", events_main, a, err);
}

void events_stop(void)
{
	bgthread_stop(&ev.thread);
	pthread_mutex_lock(&ev.mu); /* a hold writes to it under the lock */
	if (ev.wake_fd >= 0)
		close(ev.wake_fd);
	ev.wake_fd = -1;
	pthread_mutex_unlock(&ev.mu);
}
