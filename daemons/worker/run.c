/*
 * run — what a worker thread does with one delivery: claim the job, hand the
 * delivery back for acking, run the handler under a heartbeat, hand a success
 * to the completer (completer.c), or record a failure and publish its events.
 * Also the heartbeat thread.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "handlers.h"
#include "log.h"
#include "outbox.h"
#include "metrics.h"
#include "s3.h"
#include "schedstats.h"
#include "utf8.h"
#include "worker.h"

/* How long a DB outage may delay claiming or recording before we give up. */
#define DB_ACQUIRE_MS 5000

struct thread_ctx {
	struct worker *w;
	struct slot *slot;
	struct mq *mq;     /* publishing connection of this thread */
	struct s3 *s3;
	uint64_t started;  /* completer_started() of the running job's job.started */
};

void worker_request_ack(struct worker *w, uint64_t tag, unsigned gen, enum worker_ack what)
{
	pthread_mutex_lock(&w->mu);
	if (w->nacks == w->acap) {
		w->acap = w->acap ? 2 * w->acap : 16;
		w->acks = xrealloc(w->acks, w->acap * sizeof(*w->acks));
	}
	w->acks[w->nacks++] = (struct ack_req){ tag, gen, what };
	w->claiming--;
	bool first = w->nacks == 1;
	pthread_mutex_unlock(&w->mu);
	/* wake the consumer thread from its poll; one wake-up covers a batch */
	if (first) {
		uint64_t one = 1;
		if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("cannot wake the consumer thread: %s", strerror(errno));
	}
}

static bool stopping(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	bool s = w->stopping;
	pthread_mutex_unlock(&w->mu);
	return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	if (remove(path) < 0 && errno != ENOENT)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Remove a job's temporary directory and everything in it. */
static void remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Publish job.<event> without waiting for its confirm (events are
 * notifications, the database is the truth; a failed one is only logged
 * anyway): the next confirmed publish of this thread, or confirm_events() when
 * the thread runs out of work, waits for them, which saves the thread a broker
 * disk sync per event.
 */
static void publish_event_next(struct thread_ctx *t, const struct job *j, const char *event, time_t next_at)
{
	struct buf body = BUF_INIT, key = BUF_INIT, err = BUF_INIT;

	if (next_at)
		jobcodec_event_encode_next(j, event, next_at, &body);
	else
		jobcodec_event_encode(j, event, &body);
	buf_printf(&key, "job.%s", event);
	if (mq_publish_nowait(t->mq, MQ_EVENTS_EXCHANGE, buf_str(&key), body.data, body.len, &err) < 0)
		log_warn("cannot publish event '%s': %s", buf_str(&key), buf_str(&err));
	else
		log_debug("published event '%s'", buf_str(&key));
	buf_release(&body);
	buf_release(&key);
	buf_release(&err);
}

static void publish_event(struct thread_ctx *t, const struct job *j, const char *event)
{
	publish_event_next(t, j, event, 0);
}

/* Wait for the confirms of the events published so far (the thread is idle). */
static void confirm_events(struct thread_ctx *t)
{
	struct buf err = BUF_INIT;

	if (mq_confirm_wait(t->mq, &err) < 0)
		log_warn("cannot publish events: %s", buf_str(&err));
	buf_release(&err);
}

/*
 * Wait `ms` between two tries of a database write, a second at a time, showing
 * the thread's progress (alive_touch): a backoff is not a wedge. With
 * `until_stop`, end early once the daemon is stopping.
 */
static void backoff_ms(unsigned ms, bool until_stop)
{
	while (ms > 0 && !(until_stop && daemon_stop)) {
		unsigned step = ms < 1000 ? ms : 1000;
		struct timespec ts = { step / 1000, (long)(step % 1000) * 1000000L };
		if (until_stop)
			daemon_sleep_ms((int)step);
		else
			nanosleep(&ts, NULL);
		alive_touch();
		ms -= step;
	}
}

/*
 * Claim the job of `item`: JOB_OWN_OK claimed, JOB_OWN_NOT_OURS not claimable
 * (`job` filled if it exists), JOB_OWN_ERR the database stayed unreachable (or
 * we are stopping).
 */
static enum job_own_rc claim(struct thread_ctx *t, const struct work *item, struct job *job)
{
	struct worker *w = t->w;
	struct buf err = BUF_INIT;
	enum job_own_rc rc = JOB_OWN_ERR;

	for (unsigned attempt = 0; !stopping(w); attempt++) {
		buf_reset(&err);
		struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
		if (c) {
			rc = job_claim(c, item->msg.id, w->id, (int)w->cfg->worker.lease, job, &err);
			db_release(c);
			if (rc != JOB_OWN_ERR)
				break;
		}
		log_warn("cannot claim the job: %s; retrying", buf_str(&err));
		backoff_ms(daemon_jitter_ms(500, attempt, 30000), true);
	}
	buf_release(&err);
	return rc;
}

/* Seconds before the retry of a job of `type` whose attempt n failed: n^4 + base + jitter, capped per type. */
static int retry_delay(const struct config *cfg, const char *type, int n)
{
	double jitter = daemon_jitter_ms(10000u * (unsigned)(n + 1), 0, UINT_MAX) / 1000.0;

	return job_retry_delay(n, cfg->worker.backoff_base,
			       config_type_value(&cfg->worker.backoff_caps, type, cfg->worker.backoff_cap), jitter);
}

/*
 * Write the failure to the database, retrying through an outage for up to a
 * lease; a failure that leaves attempts is due again in `delay` seconds. On
 * JOB_OWN_OK, *job is replaced by the job as now stored (its status the outcome).
 * A success goes to the completer instead.
 */
static enum job_own_rc record(struct thread_ctx *t, struct job *job, struct handler_result *res, int delay)
{
	struct worker *w = t->w;
	struct buf err = BUF_INIT;
	double deadline = clock_now_s() + (double)w->cfg->worker.lease;
	enum job_own_rc rc = JOB_OWN_ERR;

	for (unsigned attempt = 0;; attempt++) {
		buf_reset(&err);
		struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
		if (c) {
			struct job fresh;
			rc = job_fail(c, job->id, w->id, job->attempts, res->code, buf_str(&res->message),
				      res->permanent, delay, &fresh, &err);
			db_release(c);
			if (rc == JOB_OWN_OK) {
				job_clear(job);
				*job = fresh;
			}
			if (rc != JOB_OWN_ERR)
				break;
		}
		if (clock_now_s() >= deadline) {
			log_error("cannot record the job's outcome: %s; its lease will expire and it will run again",
				  buf_str(&err));
			break;
		}
		log_warn("cannot record the job's outcome: %s; retrying", buf_str(&err));
		backoff_ms(daemon_jitter_ms(500, attempt, 10000), false);
	}
	buf_release(&err);
	return rc;
}

/*
 * The fields of a job failure's log line, for queries on the log (the job_id
 * field is the thread's): error code, attempt, type, tenant, whether permanent,
 * and `retry_in` (stolen: seconds, or null when it will not be retried).
 */
static json_t *failure_fields(const struct job *job, const struct handler_result *res, const struct work *item,
			      json_t *retry_in)
{
	return json_pack("{s:s, s:i, s:i, s:s, s:o, s:b, s:o}", "code", res->code, "attempt",
			 job->attempts, "max_attempts", job->max_attempts, "type", job->type ? job->type : item->msg.type,
			 "tenant", job->tenant ? utf8_json(job->tenant) : json_null(), "permanent", res->permanent,
			 "retry_in", retry_in);
}

/* After a failure is recorded: events, and the message's next stop (a retry after `delay` seconds). */
static void after(struct thread_ctx *t, const struct work *item, const struct job *job,
		  const struct handler_result *res, int delay)
{
	struct buf err = BUF_INIT, msg = BUF_INIT;

	switch (job->status) {
	case JOB_RETRYING: {
		struct jobcodec_message m;
		jobcodec_message_of(job, job->attempts + 1, &m);
		if (!job->type)
			snprintf(m.type, sizeof(m.type), "%s", item->msg.type);
		jobcodec_message_encode(&m, &msg);
		metrics_add(metrics_counter(METRIC_JOBS_RETRIED, "Count"), 1);
		log_fields(LL_INFO, failure_fields(job, res, item, json_integer(delay)),
			   "job failed (%s: %s), attempt %d of %d; retrying in %d s", res->code,
			   buf_str(&res->message), job->attempts, job->max_attempts, delay);
		if (mq_publish_delayed(t->mq, delay, job->priority, msg.data, msg.len, &err) < 0)
			log_error("cannot queue the retry of the job: %s", buf_str(&err));
		publish_event_next(t, job, "retrying", time(NULL) + delay);
		break;
	}
	default:
		metrics_add(metrics_counter(METRIC_JOBS_FAILED, "Count"), 1);
		/* attempts exhausted is the operator's to look at; a permanent failure is the job's input */
		log_fields(res->permanent ? LL_INFO : LL_ERROR, failure_fields(job, res, item, json_null()),
			   "job failed (%s: %s), attempt %d of %d%s", res->code, buf_str(&res->message), job->attempts,
			   job->max_attempts, res->permanent ? ", permanent" : ", no attempts left");
		if (mq_publish(t->mq, "", MQ_DEAD_QUEUE, item->d.body, item->d.len, &err) < 0)
			outbox_dead_dropped(job->id, buf_str(&err));
		publish_event(t, job, "failed");
		break;
	}
	buf_release(&err);
	buf_release(&msg);
}

/* Progress of the running job, written at most every PROGRESS_EVERY_S seconds. */
#define PROGRESS_EVERY_S 2.0

struct progress_state {
	struct thread_ctx *t;
	const struct job *job;
	double last;
	int percent;
};

/* Store the percentage on the job and publish job.progress, rate-limited. */
static void progress_report(int percent, void *data)
{
	struct progress_state *ps = data;
	struct thread_ctx *t = ps->t;
	struct worker *w = t->w;
	struct buf err = BUF_INIT, body = BUF_INIT;
	double now = clock_now_s();

	if (percent == ps->percent || (percent < 100 && now - ps->last < PROGRESS_EVERY_S))
		return;
	ps->last = now;
	ps->percent = percent;
	struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
	enum job_own_rc rc = JOB_OWN_ERR;
	if (c) {
		rc = job_set_progress(c, ps->job->id, w->id, ps->job->attempts, percent, &err);
		db_release(c);
	}
	if (rc == JOB_OWN_ERR) {
		log_warn("cannot record the job's progress: %s", buf_str(&err));
	} else if (rc == JOB_OWN_OK) {
		/* the usual event, with the percentage, after the job's job.started */
		completer_sync(w, t->started);
		jobcodec_event_encode(ps->job, "progress", &body);
		json_t *ev = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
		if (ev) {
			json_object_set_new(ev, "status", json_string("running"));
			json_object_set_new(ev, "progress", json_integer(percent));
			char *text = json_dumps(ev, JSON_COMPACT);
			buf_reset(&err);
			if (mq_publish(t->mq, MQ_EVENTS_EXCHANGE, "job.progress", text, strlen(text), &err) < 0)
				log_warn("cannot publish event 'job.progress': %s", buf_str(&err));
			free(text);
			json_decref(ev);
		}
	}
	buf_release(&err);
	buf_release(&body);
}

/*
 * Run the handler of the claimed `job`, in a fresh temporary directory when it
 * needs files (a noop job makes none: two syscalls and a tree walk per job).
 */
static int run_handler(struct thread_ctx *t, const struct job *job, struct handler_result *res)
{
	const struct config *cfg = t->w->cfg;
	const struct handler *h = handler_find(job->type);
	char dir[PATH_MAX];

	if (!h)
		return handler_fail(res, "unsupported_type", true, "job type '%s' is not supported by this worker",
				    job->type ? job->type : "");
	if (h->needs_files) {
		snprintf(dir, sizeof(dir), "%s/spool-job-XXXXXX", cfg->worker.tmpdir);
		if (!mkdtemp(dir))
			return handler_fail(res, "internal", false, "cannot create a temporary directory in '%s': %s",
					    cfg->worker.tmpdir, strerror(errno));
	}
	struct progress_state ps = { t, job, 0, -1 };
	struct handler_ctx hc = { cfg, job, h->needs_files ? dir : NULL, t->s3, &t->slot->abort, progress_report, &ps };
	int rc = h->fn(&hc, res);
	if (h->needs_files) {
		if (rc != HANDLER_OK)
			handler_redact(res, dir);
		remove_tree(dir);
	}
	return rc;
}

/*
 * The shutdown grace ran out (or SIGUSR1 asked for it) while the job ran, or it
 * was claimed as the shutdown began: give it back to the queue now, through the
 * outbox, without spending its attempt (job_hand_back), rather than leave it to
 * the reaper after the lease.
 */
static void hand_back(struct thread_ctx *t, const struct job *job)
{
	struct buf err = BUF_INIT;
	enum job_own_rc rc = JOB_OWN_ERR;
	struct db_conn *c = db_acquire(t->w->db, DB_ACQUIRE_MS, &err);

	if (c) {
		rc = job_hand_back(c, job->id, t->w->id, job->attempts, "the worker was stopped", &err);
		db_release(c);
	}
	if (rc == JOB_OWN_ERR)
		log_fields(LL_WARN, json_pack("{s:s, s:i}", "code", "hand_back_failed", "attempt", job->attempts),
			   "cannot hand the job back: %s; its lease will expire and the reaper will requeue it",
			   buf_str(&err));
	else if (rc == JOB_OWN_NOT_OURS)
		log_warn("job abandoned while shutting down; it was no longer ours");
	else
		log_fields(LL_INFO, json_pack("{s:i}", "attempt", job->attempts),
			   "job handed back: the worker is stopping (attempt %d not counted)", job->attempts);
	buf_release(&err);
}

/* The job's cancel was requested and the handler stopped: record it as cancelled. */
static void cancelled(struct thread_ctx *t, const struct job *job)
{
	struct buf err = BUF_INIT;
	enum job_own_rc rc = JOB_OWN_ERR;
	struct db_conn *c = db_acquire(t->w->db, DB_ACQUIRE_MS, &err);

	if (c) {
		rc = job_cancel_running(c, job->id, t->w->id, job->attempts, &err);
		db_release(c);
	}
	if (rc == JOB_OWN_ERR)
		log_warn("cannot record the cancellation: %s; its lease will expire", buf_str(&err));
	else if (rc == JOB_OWN_NOT_OURS)
		log_warn("job stopped for a cancel request but it was no longer ours");
	else
		log_info("job cancelled on request (attempt %d)", job->attempts);
	buf_release(&err);
}

static void slot_set(struct worker *w, struct slot *s, const struct job *job)
{
	pthread_mutex_lock(&w->mu);
	s->busy = job != NULL;
	if (job) {
		memcpy(s->id, job->id, sizeof(s->id));
		s->attempt = job->attempts;
		s->next_beat = clock_now_s() + (double)w->cfg->worker.heartbeat;
		atomic_store(&s->abort, HANDLER_RUN);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Deferred jobs woken by one job's end at most (more wait for the next end or the sweep). */
#define WAKE_LIMIT 100

void worker_wake_deferred(struct worker *w, struct mq *mq, const char *tenant, const char *type)
{
	struct buf err = BUF_INIT;
	struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
	int n = c ? job_wake_deferred(c, tenant, type, WAKE_LIMIT, 0, w->id, &err) : -1;

	if (n > 0) {
		/* their messages at once rather than at the API publisher's next poll (the rows stay the truth) */
		bool mq_failed;
		log_info("woke %d deferred job%s", n, n == 1 ? "" : "s");
		outbox_publish(c, mq, WAKE_LIMIT, "wake-up", &mq_failed);
	}
	if (c)
		db_release(c);
	if (n < 0)
		log_warn("cannot wake deferred jobs: %s; the sweep will", buf_str(&err));
	buf_release(&err);
}

/*
 * Our claimed job stopped running (whatever became of it): free the slot, and
 * wake the deferred jobs of its tenant and type that may start now (joblimits.h).
 * Should this fail, the reaper's sweep of deferred jobs wakes them.
 */
static void stopped_running(struct thread_ctx *t, const struct job *job)
{
	slot_set(t->w, t->slot, NULL);
	if (job->tenant && job->type)
		worker_wake_deferred(t->w, t->mq, job->tenant, job->type);
}

static void process(struct thread_ctx *t, struct work *item)
{
	struct worker *w = t->w;
	struct job job;
	struct handler_result res = { 0 };

	memset(&job, 0, sizeof(job));
	log_set_job_id(item->msg.id);
	enum job_own_rc rc = claim(t, item, &job);
	if (rc == JOB_OWN_ERR) {
		/* stopping while the database is away: let another worker have it */
		worker_request_ack(w, item->d.tag, item->gen, WORKER_REQUEUE);
		goto out;
	}
	if (rc == JOB_OWN_NOT_OURS) {
		worker_request_ack(w, item->d.tag, item->gen, WORKER_ACK);
		log_info("job is not claimable (%s), delivery ignored",
			 job.id[0] ? job_status_name(job.status) : "no such job");
		goto out;
	}
	if (rc == JOB_OWN_DEFERRED) {
		/* its tenant or type is paused or at its limit: it waits, without a message, for a wake-up */
		worker_request_ack(w, item->d.tag, item->gen, WORKER_ACK);
		log_info("job of tenant '%s' and type '%s' deferred: paused or at its limit", job.tenant ? job.tenant : "",
			 job.type ? job.type : "");
		goto out;
	}
	/*
	 * Ack on claim, not when the job ends. RabbitMQ closes the channel of a
	 * consumer that keeps a delivery unacked past its consumer_timeout (30 min by
	 * default) and requeues every delivery unacked on it: a transcode longer than
	 * that would be run again and cost this worker its connection. From the
	 * claim on, the database keeps the job instead: its lease, extended by the
	 * heartbeat thread, and the reapers of all workers, which requeue it when the
	 * lease expires (a crash); a second delivery of it finds it not claimable.
	 * So only deliveries waiting for a free thread stay unacked, and the consumer
	 * thread hands those back well before [rabbitmq] consumer_timeout (hold_s()
	 * in main.c).
	 */
	slot_set(w, t->slot, &job); /* before the ack, so a drain never sees us idle */
	worker_request_ack(w, item->d.tag, item->gen, WORKER_ACK);
	if (stopping(w)) {
		/* claimed as the shutdown began: hand it back rather than start it */
		hand_back(t, &job);
		stopped_running(t, &job);
		goto out;
	}
	if (job.cancel_requested) {
		/* cancelled while running an earlier attempt (then requeued or reaped) */
		cancelled(t, &job);
		stopped_running(t, &job);
		goto out;
	}
	log_info("claimed job of type '%s' (attempt %d of %d)", job.type ? job.type : "", job.attempts,
		 job.max_attempts);
	t->started = completer_started(w, &job);
	metrics_add(metrics_counter(METRIC_JOBS_STARTED, "Count"), 1);
	if (job.attempts == 1) { /* how long it waited to start: from its run_at, or its submission */
		double waited = schedstats_wait_s(job.run_at[0] ? job.run_at : job.created_at, job.started_at);
		if (waited >= 0)
			metrics_observe(metrics_timing(METRIC_JOB_WAIT_TIME, "Seconds", "JobType",
						       job.type ? job.type : ""),
					waited);
	}

	double t0 = clock_now_s();
	int hr = run_handler(t, &job, &res);
	metrics_observe(metrics_timing(METRIC_JOB_DURATION, "Seconds", "JobType", job.type ? job.type : ""),
			clock_now_s() - t0);
	int ab = atomic_load(&t->slot->abort);
	if (hr != HANDLER_OK && ab == HANDLER_SHUTDOWN) {
		hand_back(t, &job);
	} else if (hr != HANDLER_OK && ab == HANDLER_CANCEL_REQUESTED) {
		cancelled(t, &job);
	} else if (hr != HANDLER_OK && ab != HANDLER_RUN) {
		log_warn("job abandoned: the lease was lost");
	} else if (hr == HANDLER_OK) {
		/* the completer records it, with others, and wakes deferred jobs; this thread goes on */
		completer_succeeded(w, &job, res.result);
		res.result = NULL;
		slot_set(w, t->slot, NULL);
		goto out;
	} else {
		/* the retry's delay is drawn before the outcome is recorded: the job's due_at says it */
		int delay = retry_delay(w->cfg, job.type ? job.type : item->msg.type, job.attempts);
		completer_sync(w, t->started); /* its events come after its job.started */
		rc = record(t, &job, &res, delay);
		if (rc == JOB_OWN_NOT_OURS)
			log_warn("the claim on the job was lost before it finished; outcome discarded");
		else if (rc == JOB_OWN_OK)
			after(t, item, &job, &res, delay);
	}
	stopped_running(t, &job);
out:
	handler_result_release(&res);
	job_clear(&job);
	log_set_job_id(NULL);
}

void *worker_thread_main(void *arg)
{
	struct worker_thread *wt = arg;
	struct worker *w = wt->w;
	struct thread_ctx t = { w, &w->slots[wt->index], mq_new(w->cfg, w->sec), s3_new(w->cfg, w->sec), 0 };

	alive_bind(&t.slot->alive);
	alive_stamp(&t.slot->alive);
	for (;;) {
		struct work item;

		pthread_mutex_lock(&w->mu);
		if (!w->stopping && w->qlen == 0) {
			pthread_mutex_unlock(&w->mu);
			confirm_events(&t);
			pthread_mutex_lock(&w->mu);
		}
		/* idle: show progress each second */
		while (!w->stopping && w->qlen == 0 && wt->index < w->nthreads) {
			alive_stamp(&t.slot->alive);
			clock_cond_wait_ms(&w->work_cv, &w->mu, 1000);
		}
		alive_stamp(&t.slot->alive);
		if (w->stopping || wt->index >= w->nthreads) { /* stopping, or SIGHUP lowered concurrency */
			wt->alive = false;
			pthread_mutex_unlock(&w->mu);
			break;
		}
		worker_queue_pop(w, &item);
		w->claiming++;
		pthread_mutex_unlock(&w->mu);

		process(&t, &item);
		mq_delivery_free(&item.d);
	}
	confirm_events(&t);
	mq_free(t.mq);
	s3_free(t.s3);
	alive_bind(NULL);
	return NULL;
}

/* Extend the leases of running jobs every worker.heartbeat seconds. */
void *worker_heartbeat_main(void *arg)
{
	struct worker *w = arg;
	struct buf err = BUF_INIT;
	int lease = (int)w->cfg->worker.lease;

	pthread_mutex_lock(&w->mu);
	while (!w->exiting) {
		alive_stamp(&w->heartbeat_alive);
		for (int i = 0; i < w->nstarted; i++) {
			struct slot *s = &w->slots[i];
			if (!s->busy || s->next_beat > clock_now_s())
				continue;
			char id[JOB_ID_LEN + 1];
			int attempt = s->attempt;
			memcpy(id, s->id, sizeof(id));
			s->next_beat = clock_now_s() + (double)w->cfg->worker.heartbeat;
			pthread_mutex_unlock(&w->mu);

			buf_reset(&err);
			enum job_beat_rc rc = JOB_BEAT_ERR;
			struct db_conn *c = db_acquire(w->db, DB_ACQUIRE_MS, &err);
			if (c) {
				rc = job_heartbeat_check(c, id, w->id, attempt, lease, &err);
				db_release(c);
			}
			pthread_mutex_lock(&w->mu);
			bool same = s->busy && strcmp(s->id, id) == 0 && s->attempt == attempt; /* still that job */
			if (rc == JOB_BEAT_ERR) {
				log_warn("heartbeat of job %s failed: %s", id, buf_str(&err));
				s->next_beat = clock_now_s() + 1;
			} else if (rc == JOB_BEAT_NOT_OURS && same) {
				log_warn("job %s is no longer ours (lease lost); aborting it", id);
				atomic_store(&s->abort, HANDLER_LEASE_LOST);
			} else if (rc == JOB_BEAT_CANCEL && same && atomic_load(&s->abort) == HANDLER_RUN) {
				log_info("job %s: cancel requested; stopping it", id);
				atomic_store(&s->abort, HANDLER_CANCEL_REQUESTED);
			}
		}
		clock_cond_wait_ms(&w->beat_cv, &w->mu, 1000);
	}
	pthread_mutex_unlock(&w->mu);
	buf_release(&err);
	return NULL;
}
