/*
 * reaper — in every worker, a thread that returns jobs whose worker died (lease
 * expired) to the queue. The database decides which worker acts (an advisory
 * lock in job_reap_expired); the messages go through the outbox, so nothing is
 * lost while RabbitMQ is away.
 */
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

#define REAP_LIMIT 100
/* A retrying job untouched this much longer than the largest backoff cap of any type lost its message. */
#define REAP_STALE_EXTRA_S 300

/* One pass; the number of jobs reaped, or -1. */
static int reap_once(struct worker *w, struct buf *err)
{
	struct job *jobs = NULL;
	size_t n = 0;
	struct db_conn *c = db_acquire(w->db, 5000, err);

	if (!c)
		return -1;
	const struct config *cfg = w->cfg;
	int64_t cap = config_typemap_max(&cfg->worker.backoff_caps, cfg->worker.backoff_cap);
	enum job_reap_rc rc = job_reap_expired(c, w->id, REAP_LIMIT, cap + REAP_STALE_EXTRA_S, &jobs, &n, err);
	db_release(c);
	if (rc == JOB_REAP_ERR)
		return -1;
	for (size_t i = 0; i < n; i++) {
		log_fields(LL_WARN, json_pack("{s:s, s:i}", "job_id", jobs[i].id, "attempt", jobs[i].attempts),
			   "reaped job %s (worker '%s' lost it): now %s", jobs[i].id,
			   jobs[i].worker_id ? jobs[i].worker_id : "", job_status_name(jobs[i].status));
		job_clear(&jobs[i]);
	}
	free(jobs);
	return (int)n;
}

void *worker_reaper_main(void *arg)
{
	struct worker *w = arg;
	struct buf err = BUF_INIT;
	int every = (int)(w->cfg->worker.lease / 2);

	if (every < 1)
		every = 1;
	pthread_mutex_lock(&w->mu);
	while (!w->exiting) {
		/* spread the workers' passes a little */
		clock_cond_wait_ms(&w->beat_cv, &w->mu, (int64_t)every * 1000 + rand() % 1000);
		if (w->exiting)
			break;
		pthread_mutex_unlock(&w->mu);
		buf_reset(&err);
		bool full;
		do {
			int n = reap_once(w, &err);
			if (n < 0)
				log_warn("reaper: %s", buf_str(&err));
			full = n == REAP_LIMIT;
		} while (full);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	buf_release(&err);
	return NULL;
}
