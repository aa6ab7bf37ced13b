/*
 * completer — the thread that records succeeded jobs in batches, and that
 * publishes every job.started event.
 *
 * A worker thread whose job succeeded hands it here (completer_succeeded) and
 * takes its next delivery at once. Every [worker] batch_wait_us, or as soon as
 * [worker] batch_max jobs wait, the completer marks them all succeeded in one
 * statement (job_succeed_batch: conditional on each job's claim, so a job whose
 * lease was lost is not marked, and nothing succeeds twice), publishes their
 * job.succeeded events in one batch with one confirm wait, and wakes the
 * deferred jobs of their tenants and types. Should the statement fail, the jobs
 * are recorded one by one (job_succeed), so that one bad row does not lose the
 * others; through a database outage it retries, as the worker threads do, until
 * a lease has passed since the hand-off (then the reaper runs the job again).
 * The deliveries were acknowledged at the claim (run.c): there is none to ack.
 *
 * The job.started events go through the same connection, queued by the worker
 * threads at the claim (completer_started), and each flush publishes and
 * confirms those first: so a job's job.started is confirmed before its
 * job.succeeded is published. A worker thread that publishes another event of
 * its job itself (progress, retrying, failed) first waits for its job.started
 * (completer_sync).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "daemon.h"
#include "jobcodec.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

/* How long a database outage may delay a batch before one try ends. */
#define DB_ACQUIRE_MS 5000

/* A succeeded job waiting to be recorded. */
struct completion {
	char id[JOB_ID_LEN + 1];
	int attempt;
	json_t *result;        /* owned */
	char *tenant, *type;   /* owned, may be NULL: for the wake-up of deferred jobs */
	double deadline;       /* clock_now_s(): a lease after the hand-off, when the reaper may take it */
};

struct completer {
	struct worker *w;
	pthread_t tid;
	bool started;          /* tid is a thread */
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* work handed over, or stop */
	pthread_cond_t done_cv; /* started events published, or room for completions */
	char **events;         /* job.started bodies waiting (owned) */
	size_t nevents, ecap;
	uint64_t seq_queued;   /* job.started events queued so far */
	uint64_t seq_done;     /* of them, published (confirmed or failed) */
	struct completion *v;  /* completions waiting */
	size_t n, cap;
	double first_at;       /* clock_now_s() when the oldest waiting thing arrived */
	bool stop;
	struct mq *mq;         /* the completer's own publishing connection */
	struct alive alive;
};

static size_t batch_max(const struct worker *w)
{
	return (size_t)w->cfg->worker.batch_max;
}

/* Under mu: note the arrival of the first thing to do. */
static void arrived(struct completer *cp)
{
	if (cp->nevents + cp->n == 1)
		cp->first_at = clock_now_s();
	pthread_cond_signal(&cp->cv);
}

uint64_t completer_started(struct worker *w, const struct job *job)
{
	struct completer *cp = w->completer;
	struct buf body = BUF_INIT;

	jobcodec_event_encode(job, "started", &body);
	pthread_mutex_lock(&cp->mu);
	if (cp->nevents == cp->ecap) {
		cp->ecap = cp->ecap ? 2 * cp->ecap : 16;
		cp->events = xrealloc(cp->events, cp->ecap * sizeof(*cp->events));
	}
	cp->events[cp->nevents++] = buf_detach(&body);
	uint64_t seq = ++cp->seq_queued;
	arrived(cp);
	pthread_mutex_unlock(&cp->mu);
	return seq;
}

void completer_sync(struct worker *w, uint64_t seq)
{
	struct completer *cp = w->completer;

	pthread_mutex_lock(&cp->mu);
	while (cp->seq_done < seq && !cp->stop) {
		alive_touch();
		clock_cond_wait_ms(&cp->done_cv, &cp->mu, 1000);
	}
	pthread_mutex_unlock(&cp->mu);
}

void completer_succeeded(struct worker *w, const struct job *job, json_t *result)
{
	struct completer *cp = w->completer;

	pthread_mutex_lock(&cp->mu);
	/* bounded: through an outage the worker threads wait here rather than pile up jobs */
	while (cp->n >= 4 * batch_max(w) && !cp->stop) {
		alive_touch();
		clock_cond_wait_ms(&cp->done_cv, &cp->mu, 1000);
	}
	if (cp->n == cp->cap) {
		cp->cap = cp->cap ? 2 * cp->cap : 64;
		cp->v = xrealloc(cp->v, cp->cap * sizeof(*cp->v));
	}
	struct completion *c = &cp->v[cp->n++];
	memcpy(c->id, job->id, sizeof(c->id));
	c->attempt = job->attempts;
	c->result = result;
	c->tenant = job->tenant ? xstrdup(job->tenant) : NULL;
	c->type = job->type ? xstrdup(job->type) : NULL;
	c->deadline = clock_now_s() + (double)w->cfg->worker.lease;
	arrived(cp);
	pthread_mutex_unlock(&cp->mu);
}

static void completion_release(struct completion *c)
{
	json_decref(c->result);
	free(c->tenant);
	free(c->type);
}

/* Wait `ms` between two tries, a second at a time, showing progress. */
static void backoff(unsigned ms)
{
	while (ms > 0) {
		unsigned step = ms < 1000 ? ms : 1000;
		struct timespec ts = { step / 1000, (long)(step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		alive_touch();
		ms -= step;
	}
}

/* Publish the job.started bodies `ev` (n of them) in one batch with one confirm wait. */
static void publish_started(struct completer *cp, char **ev, size_t n)
{
	struct mq_message *m = xcalloc(n, sizeof(*m));
	struct buf err = BUF_INIT;

	for (size_t i = 0; i < n; i++)
		m[i] = (struct mq_message){ MQ_EVENTS_EXCHANGE, "job.started", ev[i], strlen(ev[i]) };
	if (mq_publish_batch(cp->mq, m, n, &err) < 0)
		log_warn("cannot publish %zu event(s) 'job.started': %s", n, buf_str(&err));
	else
		log_debug("published %zu event(s) 'job.started'", n);
	buf_release(&err);
	free(m);
}

/*
 * Record one job as job_succeed, retrying through an outage until its deadline
 * (or, with *gave_up, not at all: an earlier job found the database away past
 * its own). JOB_OWN_OK fills *out.
 */
static enum job_own_rc record_one(struct completer *cp, const struct completion *c, struct job *out, bool *gave_up)
{
	struct worker *w = cp->w;
	struct buf err = BUF_INIT;
	enum job_own_rc rc = JOB_OWN_ERR;

	buf_adds(&err, "the database was unreachable for an earlier job of the batch");
	for (unsigned attempt = 0; !*gave_up; attempt++) {
		buf_reset(&err);
		struct db_conn *conn = db_acquire(w->db, DB_ACQUIRE_MS, &err);
		if (conn) {
			rc = job_succeed(conn, c->id, w->id, c->attempt, c->result, out, &err);
			db_release(conn);
			if (rc != JOB_OWN_ERR)
				break;
		}
		if (clock_now_s() >= c->deadline) {
			*gave_up = conn == NULL;
			break;
		}
		log_warn("cannot record the job's outcome: %s; retrying", buf_str(&err));
		backoff(daemon_jitter_ms(500, attempt, 10000));
	}
	if (rc == JOB_OWN_ERR)
		log_error("cannot record the job's outcome: %s; its lease will expire and it will run again",
			  buf_str(&err));
	buf_release(&err);
	return rc;
}

/*
 * Mark the `n` jobs of `v` succeeded: one statement, retried while the database
 * is unreachable; should the database refuse it, one by one. done[i] says which
 * were marked (out[i] then the job as stored).
 */
static void record_batch(struct completer *cp, const struct completion *v, size_t n, struct job *out, bool *done)
{
	struct worker *w = cp->w;
	struct job_success *in = xcalloc(n, sizeof(*in));
	struct buf err = BUF_INIT;
	double deadline = v[0].deadline;
	int marked = -1;

	for (size_t i = 0; i < n; i++) {
		in[i] = (struct job_success){ v[i].id, v[i].attempt, v[i].result };
		if (v[i].deadline < deadline)
			deadline = v[i].deadline;
	}
	for (unsigned attempt = 0;; attempt++) {
		buf_reset(&err);
		struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
		if (c) {
			marked = job_succeed_batch(c, w->id, in, n, out, done, &err);
			db_release(c);
			break; /* done, or refused: one by one */
		}
		if (clock_now_s() >= deadline)
			break;
		log_warn("cannot record %zu succeeded job(s): %s; retrying", n, buf_str(&err));
		backoff(daemon_jitter_ms(500, attempt, 10000));
	}
	if (marked < 0) {
		bool gave_up = false;
		log_warn("cannot record %zu succeeded job(s) at once: %s; recording them one by one", n, buf_str(&err));
		for (size_t i = 0; i < n; i++) {
			log_set_job_id(v[i].id);
			done[i] = record_one(cp, &v[i], &out[i], &gave_up) == JOB_OWN_OK;
			log_set_job_id(NULL);
		}
	}
	buf_release(&err);
	free(in);
}

/* The jobs of `v` stopped running: wake the deferred jobs of each tenant and type once (as run.c's stopped_running). */
static void wake_deferred(struct completer *cp, const struct completion *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].tenant || !v[i].type)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = v[k].tenant && v[k].type && !strcmp(v[k].tenant, v[i].tenant) &&
			       !strcmp(v[k].type, v[i].type);
		if (!seen)
			worker_wake_deferred(cp->w, cp->mq, v[i].tenant, v[i].type);
	}
}

/* Record the `n` succeeded jobs of `v`, publish their events, wake deferred jobs. */
static void complete(struct completer *cp, struct completion *v, size_t n)
{
	struct job *out = xcalloc(n, sizeof(*out));
	bool *done = xcalloc(n, sizeof(*done));
	struct mq_message *m = xcalloc(n, sizeof(*m));
	struct buf *bodies = xcalloc(n, sizeof(*bodies));
	struct buf err = BUF_INIT;
	size_t nm = 0;

	record_batch(cp, v, n, out, done);
	for (size_t i = 0; i < n; i++) {
		log_set_job_id(v[i].id);
		if (!done[i]) {
			log_warn("the claim on the job was lost before it finished; outcome discarded");
		} else {
			metrics_add(metrics_counter(METRIC_JOBS_SUCCEEDED, "Count"), 1);
			log_info("job succeeded (attempt %d)", out[i].attempts);
			jobcodec_event_encode(&out[i], "succeeded", &bodies[nm]);
			m[nm] = (struct mq_message){ MQ_EVENTS_EXCHANGE, "job.succeeded", bodies[nm].data, bodies[nm].len };
			nm++;
		}
		log_set_job_id(NULL);
	}
	/* at debug: one line a millisecond under load; the per-job lines stay at info */
	log_fields(LL_DEBUG, json_pack("{s:I, s:I}", "batch", (json_int_t)n, "marked", (json_int_t)nm),
		   "completer: recorded a batch of %zu succeeded job(s)", n);
	if (nm > 0 && mq_publish_batch(cp->mq, m, nm, &err) < 0)
		log_warn("cannot publish %zu event(s) 'job.succeeded': %s", nm, buf_str(&err));
	else if (nm > 0)
		log_debug("published %zu event(s) 'job.succeeded'", nm);
	wake_deferred(cp, v, n);
	for (size_t i = 0; i < n; i++) {
		job_clear(&out[i]);
		buf_release(&bodies[i]);
	}
	buf_release(&err);
	free(bodies);
	free(m);
	free(done);
	free(out);
}

static void *completer_main(void *arg)
{
	struct completer *cp = arg;
	struct worker *w = cp->w;

	alive_bind(&cp->alive);
	pthread_mutex_lock(&cp->mu);
	for (;;) {
		alive_stamp(&cp->alive);
		if (cp->nevents + cp->n == 0) {
			if (cp->stop)
				break;
			clock_cond_wait_ms(&cp->cv, &cp->mu, 1000);
			continue;
		}
		/* a batch fills for batch_wait_us from its first arrival, or until batch_max */
		double due = cp->first_at + (double)w->cfg->worker.batch_wait_us / 1e6, now = clock_now_s();
		if (!cp->stop && cp->n < batch_max(w) && now < due) {
			int ms = (int)((due - now) * 1000.0);
			if (ms <= 0) {
				pthread_mutex_unlock(&cp->mu);
				struct timespec ts = { 0, (long)((due - now) * 1e9) };
				nanosleep(&ts, NULL);
				pthread_mutex_lock(&cp->mu);
			} else {
				clock_cond_wait_ms(&cp->cv, &cp->mu, ms);
			}
			continue;
		}
		char **ev = cp->events;
		size_t nev = cp->nevents;
		uint64_t seq = cp->seq_queued;
		cp->events = NULL;
		cp->nevents = cp->ecap = 0;
		size_t n = cp->n < batch_max(w) ? cp->n : batch_max(w);
		struct completion *v = NULL;
		if (n > 0) {
			v = xcalloc(n, sizeof(*v));
			memcpy(v, cp->v, n * sizeof(*v));
			memmove(cp->v, cp->v + n, (cp->n - n) * sizeof(*v));
			cp->n -= n;
		}
		cp->first_at = clock_now_s(); /* what is left is due at once next time round, or a new batch starts */
		if (cp->n > 0)
			cp->first_at -= 1.0;
		pthread_mutex_unlock(&cp->mu);

		if (nev > 0)
			publish_started(cp, ev, nev);
		for (size_t i = 0; i < nev; i++)
			free(ev[i]);
		free(ev);
		pthread_mutex_lock(&cp->mu);
		cp->seq_done = seq;
		pthread_cond_broadcast(&cp->done_cv);
		pthread_mutex_unlock(&cp->mu);

		if (n > 0) {
			complete(cp, v, n);
			for (size_t i = 0; i < n; i++)
				completion_release(&v[i]);
			free(v);
		}
		pthread_mutex_lock(&cp->mu);
		pthread_cond_broadcast(&cp->done_cv); /* room for more */
	}
	pthread_mutex_unlock(&cp->mu);
	alive_bind(NULL);
	return NULL;
}

int completer_start(struct worker *w, struct buf *err)
{
	struct completer *cp = xcalloc(1, sizeof(*cp));

	cp->w = w;
	pthread_mutex_init(&cp->mu, NULL);
	clock_cond_init(&cp->cv);
	clock_cond_init(&cp->done_cv);
	cp->mq = mq_new(w->cfg, w->sec);
	alive_stamp(&cp->alive);
	w->completer = cp;
	int rc = pthread_create(&cp->tid, NULL, completer_main, cp);
	if (rc != 0) {
		buf_printf(err, "cannot start the completer thread: %s", strerror(rc));
		return -1;
	}
	cp->started = true;
	return 0;
}

const struct alive *completer_alive(const struct worker *w)
{
	return &w->completer->alive;
}

int completer_stop(struct worker *w, const struct timespec *until)
{
	struct completer *cp = w->completer;

	if (!cp)
		return 0;
	pthread_mutex_lock(&cp->mu);
	cp->stop = true;
	pthread_cond_broadcast(&cp->cv);
	pthread_cond_broadcast(&cp->done_cv);
	pthread_mutex_unlock(&cp->mu);
	if (cp->started && pthread_clockjoin_np(cp->tid, NULL, CLOCK_MONOTONIC, until) != 0)
		return 1; /* stuck in I/O: left as it is, the process exits */
	for (size_t i = 0; i < cp->n; i++)
		completion_release(&cp->v[i]);
	free(cp->v);
	for (size_t i = 0; i < cp->nevents; i++)
		free(cp->events[i]);
	free(cp->events);
	mq_free(cp->mq);
	pthread_mutex_destroy(&cp->mu);
	pthread_cond_destroy(&cp->cv);
	pthread_cond_destroy(&cp->done_cv);
	free(cp);
	w->completer = NULL;
	return 0;
}
