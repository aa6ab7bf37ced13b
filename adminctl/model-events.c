/*
 * The TUI's live events: a consumer thread of its own (the fetch thread waits
 * on requests, this one on the broker) with one subscription of events.h to
 * every event ("job.#"), started the first time the Events screen asks for its
 * snapshot. Each event goes into a ring of MODEL_EVENTS_MAX records under the
 * model's mutex, the oldest overwritten; while the Events screen is shown each
 * marks MODEL_EVENTS for a fetch, which copies the ring into a snapshot (many
 * events between two fetches make one copy). RabbitMQ away: the service shows
 * as down and the thread reconnects with jittered backoff.
 */
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "clock.h"
#include "daemon.h"
#include "model-internal.h"

#define NEXT_MS 500

static bool stopping(struct model *m)
{
	return atomic_load(&m->ev_stop);
}

static void set_live(struct model *m, bool live)
{
	pthread_mutex_lock(&m->mu);
	m->ev_live = live;
	model_mark_locked(m, MODEL_EVENTS);
	pthread_mutex_unlock(&m->mu);
}

static void push(struct model *m, const struct ev_record *r)
{
	pthread_mutex_lock(&m->mu);
	m->ev_ring[m->ev_head] = *r;
	m->ev_head = (m->ev_head + 1) % MODEL_EVENTS_MAX;
	if (m->ev_n < MODEL_EVENTS_MAX)
		m->ev_n++;
	m->ev_total++;
	if (m->visible == MODEL_EVENTS)
		model_mark_locked(m, MODEL_EVENTS);
	pthread_mutex_unlock(&m->mu);
}

static void *events_main(void *arg)
{
	struct model *m = arg;
	struct secrets *sec = secrets_new(m->cfg);
	struct ev_sub *sub = ev_sub_new(m->cfg, sec, NULL);
	struct buf err = BUF_INIT;
	unsigned attempt = 0;
	while (!stopping(m)) {
		if (!ev_sub_connected(sub)) {
			buf_reset(&err);
			if (ev_sub_connect(sub, &err) < 0) {
				char line[256];
				model_one_line(line, sizeof(line), buf_str(&err));
				model_set_svc(m, MODEL_SVC_MQ, false, line);
				unsigned ms = daemon_jitter_ms(500, attempt++, 10000);
				for (unsigned w = 0; w < ms && !stopping(m); w += 100)
					clock_sleep_ms(100);
				continue;
			}
			attempt = 0;
			model_set_svc(m, MODEL_SVC_MQ, true, NULL);
			set_live(m, true);
		}
		struct ev_record r;
		buf_reset(&err);
		int n = ev_sub_next(sub, &r, NEXT_MS, &err);
		if (n < 0)
			set_live(m, false);
		else if (n > 0)
			push(m, &r);
	}
	ev_sub_free(sub);
	secrets_free(sec);
	buf_release(&err);
	aws_thread_cleanup();
	return NULL;
}

void model_events_fetch(struct model *m, struct model_snap *s, const struct model_params *req)
{
	(void)req;
	struct model_events *e = &s->u.events;
	if (!m->ev_started) {
		pthread_mutex_lock(&m->mu);
		m->ev_ring = xcalloc(MODEL_EVENTS_MAX, sizeof(*m->ev_ring));
		pthread_mutex_unlock(&m->mu);
		if (pthread_create(&m->ev_thread, NULL, events_main, m) != 0)
			abort(); /* as for memory: nothing sensible to go on with */
		m->ev_started = true;
	}
	pthread_mutex_lock(&m->mu);
	e->ev = xcalloc(m->ev_n ? m->ev_n : 1, sizeof(*e->ev));
	for (size_t i = 0; i < m->ev_n; i++)
		e->ev[i] = m->ev_ring[(m->ev_head + MODEL_EVENTS_MAX - 1 - i) % MODEL_EVENTS_MAX];
	e->n = m->ev_n;
	e->total = m->ev_total;
	e->live = m->ev_live;
	pthread_mutex_unlock(&m->mu);
}

void model_events_free(struct model_snap *s)
{
	free(s->u.events.ev);
}

void model_events_stop(struct model *m)
{
	if (m->ev_started) {
		atomic_store(&m->ev_stop, true);
		pthread_join(m->ev_thread, NULL);
		m->ev_started = false;
	}
	free(m->ev_ring);
	m->ev_ring = NULL;
}
