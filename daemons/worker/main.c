/*
 * spool-worker — consumes spool.jobs.high, spool.jobs and spool.jobs.low and
 * runs jobs. See spool-worker(8).
 *
 * The main thread: options and config, then the consumer loop (connect with
 * jittered backoff while RabbitMQ is away, receive deliveries, queue them for
 * the worker threads, perform their acks), then the drain on SIGTERM.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "handlers.h"
#include "log.h"
#include "logship.h"
#include "metrics.h"
#include "schedstats.h"
#include "worker.h"

#define PROG "spool-worker"
#define USAGE "[-Vdnv] [-f file]"
#define DEFAULT_CONFIG "/etc/spool/worker.ini"
/*
 * The consumer thread sleeps in poll(2) on the AMQP socket and the worker's
 * eventfd at most this long: a worker thread asking for an ack wakes it at once
 * (with the prefetch full RabbitMQ sends nothing more until acks are performed),
 * and the timeout only paces the watchdog, expiry and AMQP heartbeats.
 */
#define CONSUME_TICK_MS 200
/*
 * A delivery that found no idle worker is given back after at most this long,
 * so that an idle worker elsewhere can take it (see hold_s()).
 */
#define HOLD_MAX_S 60.0
/* The upper bounds of [worker] concurrency and lookahead in the config table. */
#define CONCURRENCY_MAX 256
#define LOOKAHEAD_MAX 64
/* The heartbeat, the reaper and the archiver thread. */
#define WORKER_HELPERS 3
/* A thread could not be started (sysexits.h's EX_OSERR). */
#define EX_OSERR_CODE 71

/*
 * SIGUSR1: stop like SIGTERM, but with no grace: running jobs are stopped and
 * handed back at once without spending an attempt (scale-in). Set by the
 * handler, read by the main thread.
 */
static volatile sig_atomic_t hand_back_now;

static void on_sigusr1(int sig)
{
	(void)sig;
	hand_back_now = 1;
	daemon_stop = 1;
}

static void sigusr1_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/*
 * Take deliveries out of the queue: all of them (hold < 0), or those that
 * waited longer than `hold` seconds for a free worker thread. Returns them in
 * an array of *n (NULL when none; the caller frees it and their deliveries);
 * *gen gets the current connection generation.
 */
static struct work *queue_take(struct worker *w, double hold, size_t *n, unsigned *gen)
{
	double now = clock_now_s();
	struct work *v = NULL;

	*n = 0;
	pthread_mutex_lock(&w->mu);
	*gen = w->gen;
	for (int p = 0; p < JOBPRIO_COUNT; p++) {
		struct work_ring *q = &w->queue[p];
		while (q->len > 0 && (hold < 0 || now - q->v[q->head].received > hold)) {
			if (!v)
				v = xcalloc((size_t)w->qlen, sizeof(*v));
			v[(*n)++] = q->v[q->head];
			q->head = (q->head + 1) % w->qcap;
			q->len--;
			w->qlen--;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return v;
}

bool worker_queue_pop(struct worker *w, struct work *out)
{
	int waiting[JOBPRIO_COUNT];

	for (int p = 0; p < JOBPRIO_COUNT; p++)
		waiting[p] = w->queue[p].len;
	int p = jobprio_pick(&w->picker, waiting);
	if (p < 0)
		return false;
	struct work_ring *q = &w->queue[p];
	*out = q->v[q->head];
	q->head = (q->head + 1) % w->qcap;
	q->len--;
	w->qlen--;
	return true;
}

/*
 * Give back a delivery no worker thread took, so that another consumer may
 * take it. On a quorum queue every requeue counts towards the delivery limit
 * (MQ_DELIVERY_LIMIT), after which the broker dead-letters the message, and a
 * job may wait for a thread through many hand-backs while long jobs run: so a
 * copy is published (confirmed, on `pub`) and the delivery acked. Should both
 * stay (the ack lost with the connection), the second is a duplicate that the
 * claim ignores. Requeued when the copy cannot be published.
 */
static void give_back(struct worker *w, struct mq *mq, struct mq *pub, const struct work *it)
{
	struct buf err = BUF_INIT;

	if (mq_config_queue_type(w->cfg) == MQ_QUORUM) {
		if (mq_publish(pub, "", jobprio_queue(it->msg.priority), it->d.body, it->d.len, &err) == 0) {
			mq_ack(mq, it->d.tag);
			buf_release(&err);
			return;
		}
		log_warn("cannot give the delivery of job %s back as a copy (%s); requeueing it", it->msg.id,
			 buf_str(&err));
	}
	mq_reject(mq, it->d.tag, true);
	buf_release(&err);
}

/* Give every queued delivery back (shutting down), or just drop them (stale connection). */
static void queue_clear(struct worker *w, struct mq *mq, struct mq *pub, bool requeue_now)
{
	unsigned gen;
	size_t n;
	struct work *v = queue_take(w, -1, &n, &gen);

	for (size_t i = 0; i < n; i++) {
		if (requeue_now && v[i].gen == gen)
			give_back(w, mq, pub, &v[i]);
		mq_delivery_free(&v[i].d);
	}
	free(v);
}

/* Perform the acks and rejects the worker threads asked for. */
static void acks_flush(struct worker *w, struct mq *mq)
{
	struct ack_req *reqs;
	size_t n;

	pthread_mutex_lock(&w->mu);
	reqs = w->acks;
	n = w->nacks;
	w->acks = NULL;
	w->nacks = w->acap = 0;
	unsigned gen = w->gen;
	pthread_mutex_unlock(&w->mu);
	for (size_t i = 0; i < n; i++) {
		/* a tag from an earlier connection means nothing now: RabbitMQ requeued it */
		if (reqs[i].gen != gen || !mq_connected(mq))
			continue;
		int rc = reqs[i].what == WORKER_ACK ? mq_ack(mq, reqs[i].tag)
						    : mq_reject(mq, reqs[i].tag, reqs[i].what == WORKER_REQUEUE);
		if (rc < 0)
			log_warn("cannot ack delivery %llu: connection lost", (unsigned long long)reqs[i].tag);
	}
	free(reqs);
}

/*
 * How long a delivery may wait in the internal queue: min(HOLD_MAX_S, a third of
 * [rabbitmq] consumer_timeout). A waiting delivery is unacked, so the broker's
 * timeout runs for it; a third leaves room for the claim that follows and for
 * the broker's clock, which starts when it sends.
 */
static double hold_s(const struct config *cfg)
{
	double third = (double)cfg->rabbitmq.consumer_timeout / 3.0;

	return third < HOLD_MAX_S ? third : HOLD_MAX_S;
}

/* Give back deliveries that waited too long for a free worker. */
static void queue_expire(struct worker *w, struct mq *mq, struct mq *pub)
{
	unsigned gen;
	size_t n;
	struct work *v = queue_take(w, hold_s(w->cfg), &n, &gen);

	for (size_t i = 0; i < n; i++) {
		log_debug("no free worker for job %s; giving its delivery back", v[i].msg.id);
		if (v[i].gen == gen)
			give_back(w, mq, pub, &v[i]);
		mq_delivery_free(&v[i].d);
	}
	free(v);
}

/*
 * The prefetch of each queue: the threads, plus the lookahead. A noop job keeps
 * a thread busy well under a millisecond, about what the broker takes to send
 * the next delivery once the claim's ack reaches it: with a prefetch of the
 * threads alone each thread waits that round trip after every job (the default
 * two threads then ran 700-1,000 noop jobs/s with a fifth of the CPU idle);
 * with two more held, the next delivery is already here.
 */
static int prefetch(const struct worker *w)
{
	return w->nthreads + w->lookahead;
}

/*
 * Connect, declare, consume the queue of each priority, each with a prefetch of
 * the threads plus the lookahead: a high delivery is held here as soon as it is
 * published, however long the normal backlog. 0, or -1 or MQ_MISMATCH (see
 * mq_declare_topology) with `err`.
 */
static int consumer_start(struct worker *w, struct mq *mq, struct buf *err)
{
	static const enum jobprio order[] = { JOBPRIO_HIGH, JOBPRIO_NORMAL, JOBPRIO_LOW };
	int rc = mq_connect(mq, err);
	if (rc == 0)
		rc = mq_declare_topology(mq, err);
	for (size_t i = 0; rc == 0 && i < sizeof(order) / sizeof(order[0]); i++)
		rc = mq_consume(mq, jobprio_queue(order[i]), prefetch(w), err);
	if (rc < 0) {
		mq_disconnect(mq);
		return rc;
	}
	pthread_mutex_lock(&w->mu);
	w->gen++;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* One delivery from a job queue: poison is dead-lettered, the rest queued by its priority. */
static void delivery_take(struct worker *w, struct mq *mq, struct mq_delivery *d)
{
	struct jobcodec_message msg;
	struct buf err = BUF_INIT;

	if (jobcodec_message_decode(d->body, d->len, &msg, &err) < 0) {
		log_fields(LL_ERROR, json_pack("{s:I}", "delivery_tag", (json_int_t)d->tag),
			   "poison message on '%s' sent to '%s': %s", MQ_JOBS_QUEUE, MQ_DEAD_QUEUE, buf_str(&err));
		mq_reject(mq, d->tag, false);
		mq_delivery_free(d);
		buf_release(&err);
		return;
	}
	buf_release(&err);
	pthread_mutex_lock(&w->mu);
	struct work_ring *q = &w->queue[msg.priority];
	if (q->len == w->qcap) {
		/* cannot happen: the ring holds the largest prefetch; be safe anyway */
		pthread_mutex_unlock(&w->mu);
		mq_reject(mq, d->tag, true);
		mq_delivery_free(d);
		return;
	}
	struct work *it = &q->v[(q->head + q->len) % w->qcap];
	it->d = *d;
	it->msg = msg;
	it->gen = w->gen;
	it->received = clock_now_s();
	q->len++;
	w->qlen++;
	pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
}

/*
 * Wait until the broker sent something, a worker thread asked for an ack, or
 * `ms` passed. librabbitmq may already hold received frames: then do not wait.
 */
static void consumer_wait(struct worker *w, struct mq *mq, int ms)
{
	struct pollfd p[2] = { { .fd = w->wake_fd, .events = POLLIN }, { .fd = mq_fd(mq), .events = POLLIN } };
	uint64_t n;

	if (mq_buffered(mq))
		return;
	if (poll(p, p[1].fd >= 0 ? 2 : 1, ms) > 0 && (p[0].revents & POLLIN) &&
	    read(w->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("cannot read the wake-up eventfd: %s", strerror(errno));
}

/*
 * Stamp the consumer's liveness and tell systemd's watchdog we are alive, at most
 * once a second, but only while every thread is (worker_health): a wedged job
 * thread, heartbeat or reaper stops the pings, and systemd restarts the worker
 * WatchdogSec later. The reason is logged once per stall.
 */
static void watchdog_ping(struct worker *w)
{
	static double last;
	static bool stalled;
	double now = clock_now_s();
	struct buf why = BUF_INIT;

	alive_stamp(&w->consumer_alive);
	if (now - last < 1.0)
		return;
	last = now;
	if (worker_health(w, &why, NULL) == 0) {
		daemon_notify("WATCHDOG=1");
		if (stalled)
			log_info("watchdog: every thread shows progress again; pinging");
		stalled = false;
	} else if (!stalled) {
		log_error("watchdog: not pinged: %s", buf_str(&why));
		stalled = true;
	}
	buf_release(&why);
}

static void worker_reload(struct worker *w, struct mq *mq, bool verbose);

/*
 * The consumer loop: returns when daemon_stop is set (by a signal, or by
 * daemon_exit_config when spool.jobs is of another type than the config says).
 * `pub` publishes the copies of deliveries given back.
 */
static void consume(struct worker *w, struct mq *mq, struct mq *pub, bool verbose)
{
	struct buf err = BUF_INIT;
	unsigned failures = 0;
	bool ready = false;

	while (!daemon_stop) {
		watchdog_ping(w);
		if (daemon_reload) {
			daemon_reload = 0;
			worker_reload(w, mq, verbose);
		}
		if (!mq_connected(mq)) {
			buf_reset(&err);
			atomic_store(&w->broker_try_ns, clock_now_ns());
			int rc = consumer_start(w, mq, &err);
			if (rc == MQ_MISMATCH) {
				daemon_exit_config(buf_str(&err)); /* retrying cannot help: exit 78 */
				break;
			}
			if (rc < 0) {
				unsigned ms = daemon_jitter_ms(1000, failures, 30000);
				if (failures == 0 || failures % 10 == 0)
					log_error("%s; retrying", buf_str(&err));
				failures++;
				/* in short steps: the watchdog must hear from us, and SIGHUP is not delayed */
				for (int slept = 0; slept < (int)ms && !daemon_stop && !daemon_reload; slept += 1000) {
					daemon_sleep_ms(1000);
					watchdog_ping(w);
				}
				continue;
			}
			log_info("consuming '%s', '%s' and '%s' (prefetch %d each)", jobprio_queue(JOBPRIO_NORMAL),
				 jobprio_queue(JOBPRIO_HIGH), jobprio_queue(JOBPRIO_LOW), prefetch(w));
			atomic_store(&w->broker_down_ns, 0);
			failures = 0;
			if (!ready) {
				daemon_notify("READY=1");
				ready = true;
			}
			daemon_notify("STATUS=consuming");
		}
		acks_flush(w, mq);
		queue_expire(w, mq, pub);

		consumer_wait(w, mq, CONSUME_TICK_MS);
		acks_flush(w, mq);
		struct mq_delivery d;
		buf_reset(&err);
		int rc = mq_next(mq, &d, 0, &err);
		if (rc == 1) {
			delivery_take(w, mq, &d);
		} else if (rc < 0) {
			log_error("%s; reconnecting", buf_str(&err));
			daemon_notify("STATUS=reconnecting to rabbitmq");
			atomic_store(&w->broker_down_ns, clock_now_ns());
			mq_disconnect(mq);
			queue_clear(w, mq, pub, false);
		}
	}
	buf_release(&err);
}

/*
 * SIGTERM: take no new work, let running jobs finish within shutdown_grace
 * (still acking their deliveries), then abort what is left: the worker threads
 * stop their ffmpeg and hand those jobs back without spending an attempt
 * (job_hand_back). SIGUSR1, before or during the grace, ends the grace at once.
 * Deliveries not yet acked return to the queue when the connection closes.
 */
static void drain(struct worker *w, struct mq *mq, struct mq *pub)
{
	double deadline = clock_now_s() + (double)w->cfg->worker.shutdown_grace;
	bool aborted = false;

	daemon_notify("STOPPING=1");
	if (hand_back_now)
		log_info("SIGUSR1: handing running jobs back now");
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	queue_clear(w, mq, pub, true);
	log_info("stopping: waiting up to %lld s for running jobs", (long long)w->cfg->worker.shutdown_grace);

	for (;;) {
		watchdog_ping(w);
		acks_flush(w, mq);
		pthread_mutex_lock(&w->mu);
		int busy = w->claiming;
		for (int i = 0; i < w->nstarted; i++)
			busy += w->slots[i].busy;
		if (!aborted && hand_back_now && deadline > clock_now_s())
			deadline = clock_now_s();
		if (!aborted && clock_now_s() >= deadline) {
			for (int i = 0; i < w->nstarted; i++)
				atomic_store(&w->slots[i].abort, HANDLER_SHUTDOWN);
			aborted = true;
			if (busy)
				log_warn("%s: handing %d running job(s) back", hand_back_now ? "SIGUSR1" : "shutdown grace over",
					 busy);
		}
		pthread_mutex_unlock(&w->mu);
		/* after the abort, give handlers a moment to notice and clean up */
		if (busy == 0 || (aborted && clock_now_s() >= deadline + 5.0))
			break;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	acks_flush(w, mq);
}

static void worker_id_init(struct worker *w)
{
	char host[200];

	if (w->cfg->worker.id && *w->cfg->worker.id) {
		snprintf(w->id, sizeof(w->id), "%s", w->cfg->worker.id);
		return;
	}
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(w->id, sizeof(w->id), "%s:%ld", host, (long)getpid());
}

/* What the metrics flush thread samples: its own connection to RabbitMQ. */
struct sampler {
	const struct config *cfg;
	struct secrets *sec;
	struct mq *mq;
	struct db_pool *db;
};

/*
 * The scheduling metrics (schedstats.h), when this worker's turn comes: one
 * worker of the deployment computes them per interval.
 */
static void sample_schedule(struct sampler *s)
{
	struct buf err = BUF_INIT;
	struct schedstats st;
	int turn = -1;
	struct db_conn *c = db_acquire(s->db, 2000, &err);

	memset(&st, 0, sizeof(st));
	if (c && (turn = schedstats_turn(c, metrics_interval(), &err)) == 1 && schedstats_read(c, &st, &err) == 0) {
		struct cw_datum *d = NULL;
		struct cw_dimension *dims = NULL;
		size_t n = schedstats_datums(&st, &d, &dims);
		metrics_put(d, n);
		free(d);
		free(dims);
	} else if (turn != 0) {
		log_warn("metrics: cannot read the jobs waiting: %s", buf_str(&err));
	}
	if (c)
		db_release(c);
	schedstats_clear(&st);
	buf_release(&err);
}

/*
 * Before each flush: TmpdirFreeBytes (the free bytes of [worker] tmpdir's file
 * system), QueueDepth (messages in spool.jobs.high, spool.jobs and
 * spool.jobs.low) and BacklogPerInstance (that divided by the consumers of
 * spool.jobs, i.e. the workers consuming; the Auto Scaling policy tracks it).
 */
static void sample_queue(void *arg)
{
	struct sampler *s = arg;
	struct buf err = BUF_INIT;
	uint32_t msgs = 0, consumers = 0;
	int rc = -1;
	int64_t free_bytes;

	sample_schedule(s);
	if (handlers_free_bytes(s->cfg->worker.tmpdir, &free_bytes) == 0)
		metrics_set(metrics_gauge(METRIC_TMPDIR_FREE_BYTES, "Bytes", 0), (double)free_bytes);
	else
		log_warn("metrics: cannot read the free space of '%s': %s", s->cfg->worker.tmpdir, strerror(errno));

	if (!s->mq)
		s->mq = mq_new(s->cfg, s->sec);
	/* idle between flushes, the connection may have missed its heartbeats: retry once */
	for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
		buf_reset(&err);
		if (attempt > 0 || !mq_connected(s->mq))
			if (mq_connect(s->mq, &err) < 0)
				continue;
		msgs = 0;
		rc = 0;
		for (int p = 0; p < JOBPRIO_COUNT && rc == 0; p++) {
			uint32_t m = 0, c = 0;
			rc = mq_queue_counts(s->mq, jobprio_queue((enum jobprio)p), &m, &c, &err);
			msgs += m;
			if (p == JOBPRIO_NORMAL)
				consumers = c;
		}
	}
	if (rc < 0) {
		log_warn("metrics: cannot read the depth of the job queues: %s", buf_str(&err));
	} else {
		metrics_set(metrics_gauge(METRIC_QUEUE_DEPTH, "Count", 0), (double)msgs);
		metrics_set(metrics_gauge(METRIC_BACKLOG_PER_INSTANCE, "Count", METRIC_NO_DIMS),
			    (double)msgs / (consumers ? (double)consumers : 1.0));
	}
	buf_release(&err);
}

/* Block the daemon's signals in the threads started until the mask is restored from *old. */
static void signals_block(sigset_t *old)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, old);
}

/*
 * Have `n` worker threads: start the missing ones (joining those that ended
 * after an earlier decrease first); extra ones end when idle. Signals are
 * blocked in the new threads: only the main thread sees them. 0, or the error
 * of pthread_create (then w->nthreads threads run).
 */
static int workers_resize(struct worker *w, int n)
{
	sigset_t old;
	int rc = 0;

	signals_block(&old);
	pthread_mutex_lock(&w->mu);
	w->nthreads = n;
	pthread_cond_broadcast(&w->work_cv);
	for (int i = 0; i < n && rc == 0; i++) {
		struct worker_thread *t = &w->threads[i];
		if (i < w->nstarted && t->alive)
			continue; /* still running: it sees the new count */
		if (t->joinable)
			pthread_join(t->tid, NULL); /* it has returned: immediate */
		t->joinable = false;
		t->w = w;
		t->index = i;
		t->alive = true;
		/* a fresh stamp, as the helpers get at start: the watchdog may look before the
		 * thread first runs, and must not take it for one that never started */
		alive_stamp(&w->slots[i].alive);
		if ((rc = pthread_create(&t->tid, NULL, worker_thread_main, t)) != 0) {
			t->alive = false;
			w->nthreads = i;
			break;
		}
		t->joinable = true;
		if (i >= w->nstarted)
			w->nstarted = i + 1;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* The threads beside the worker threads, in the order threads_start starts them. */
static void *(*const helper_mains[WORKER_HELPERS])(void *) = { worker_heartbeat_main, worker_reaper_main,
									      worker_archiver_main };
static const char *const helper_names[WORKER_HELPERS] = { "heartbeat", "reaper", "archiver" };

/*
 * Start the worker threads, then the heartbeat, the reaper and the archiver thread (helpers[]).
 * 0, or -1 with err naming the thread that did not start; *nhelpers says how
 * many helpers run.
 */
static int threads_start(struct worker *w, int n, pthread_t helpers[WORKER_HELPERS], int *nhelpers,
			 struct buf *err)
{
	sigset_t old;
	int rc = workers_resize(w, n);

	*nhelpers = 0;
	if (rc != 0) {
		buf_printf(err, "cannot start worker thread %d of %d: %s", w->nthreads + 1, n, strerror(rc));
		return -1;
	}
	signals_block(&old);
	for (int i = 0; i < WORKER_HELPERS && rc == 0; i++) {
		rc = pthread_create(&helpers[i], NULL, helper_mains[i], w);
		if (rc == 0)
			*nhelpers = i + 1;
		else
			buf_printf(err, "cannot start the %s thread: %s", helper_names[i], strerror(rc));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? -1 : 0;
}

/*
 * SIGHUP: a fresh config, swapped in only when valid (daemon_reload_config). What
 * may change applies at once: log level, concurrency (threads and prefetch),
 * lookahead (prefetch), shutdown grace, time limits and attempts for the next
 * jobs; cached secrets are dropped so they are fetched again. What may not is
 * named in the log and keeps its value.
 */
static void worker_reload(struct worker *w, struct mq *mq, bool verbose)
{
	struct buf err = BUF_INIT;

	if (daemon_reload_config(&w->cfg, PROG_WORKER, verbose, w->sec) < 0)
		return;
	const struct config *next = w->cfg;
	metrics_set_interval(next->cloudwatch.interval);
	int n = (int)next->worker.concurrency, was = w->nthreads, was_prefetch = prefetch(w);
	if (n > w->maxthreads)
		n = w->maxthreads;
	if (n != was && workers_resize(w, n) != 0)
		log_error("reload: cannot start worker threads; running %d", w->nthreads);
	w->lookahead = (int)next->worker.lookahead; /* read by this thread alone */
	if (prefetch(w) != was_prefetch) {
		if (mq_connected(mq) && mq_qos(mq, prefetch(w), &err) < 0)
			log_warn("reload: cannot change the prefetch: %s", buf_str(&err));
		else
			log_info("reload: prefetch %d -> %d (concurrency %d, lookahead %d)", was_prefetch, prefetch(w),
				 w->nthreads, w->lookahead);
	}
	log_fields(LL_INFO, json_pack("{s:s, s:s, s:i}", "config", next->path, "log_level", next->log.level,
				      "concurrency", w->nthreads),
		   "reload: configuration '%s' applied (log level %s, concurrency %d)", next->path,
		   next->log.level, w->nthreads);
	if (n != was)
		log_info("reload: concurrency %d -> %d", was, w->nthreads);
	buf_release(&err);
}

/* Join a thread, or give up at `until` (it is stuck in a blocking call). */
static int join_until(pthread_t tid, const struct timespec *until)
{
	return pthread_clockjoin_np(tid, NULL, CLOCK_MONOTONIC, until);
}

/*
 * Tell every thread to end and join them, giving up after 5 s. The number of
 * threads that did not stop (they are blocked in I/O).
 */
static int threads_stop(struct worker *w, const pthread_t *helpers, int nhelpers)
{
	struct timespec until;
	int stuck = 0;

	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	w->exiting = true;
	pthread_cond_broadcast(&w->work_cv);
	pthread_cond_broadcast(&w->beat_cv);
	pthread_mutex_unlock(&w->mu);
	clock_deadline(&until, 5000);
	for (int i = 0; i < w->nstarted; i++)
		if (w->threads[i].joinable && join_until(w->threads[i].tid, &until) != 0)
			stuck++;
	/* after the worker threads: it records the last jobs they handed over */
	stuck += completer_stop(w, &until);
	for (int i = 0; i < nhelpers; i++)
		if (join_until(helpers[i], &until) != 0)
			stuck++;
	return stuck;
}

static int worker_run(const struct config *cfg, struct secrets *sec, bool verbose)
{
	struct worker w;
	pthread_t helpers[WORKER_HELPERS];
	int nhelpers = 0, rc = 0;
	struct buf err = BUF_INIT;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.sec = sec;
	w.lookahead = (int)cfg->worker.lookahead;
	int n = (int)cfg->worker.concurrency;
	worker_id_init(&w);
	/* room for what SIGHUP may raise concurrency to (the config's bound) */
	w.maxthreads = CONCURRENCY_MAX;
	/*
	 * A slot per possible thread, plus the heartbeat, reaper and archiver threads: the pool
	 * opens connections lazily and reuses open ones first, so only as many are
	 * open as threads ever used at once.
	 */
	w.db = db_pool_new(cfg, sec, w.maxthreads + WORKER_HELPERS + 2); /* + the completer's and the metrics thread's */
	w.qcap = w.maxthreads + LOOKAHEAD_MAX;
	for (int p = 0; p < JOBPRIO_COUNT; p++)
		w.queue[p].v = xcalloc((size_t)w.qcap, sizeof(*w.queue[p].v));
	w.slots = xcalloc((size_t)w.maxthreads, sizeof(*w.slots));
	w.threads = xcalloc((size_t)w.maxthreads, sizeof(*w.threads));
	pthread_mutex_init(&w.mu, NULL);
	clock_cond_init(&w.work_cv); /* worker threads wait on it a second at a time */
	/* from now on: each thread stamps its own as soon as it runs */
	alive_stamp(&w.consumer_alive);
	alive_stamp(&w.heartbeat_alive);
	alive_stamp(&w.reaper_alive);
	alive_stamp(&w.archiver_alive);
	/* not connected yet, and the first try is now: the health check must not count a
	 * stall since the clock's epoch before the consumer loop stamps its first try */
	atomic_store(&w.broker_down_ns, clock_now_ns());
	atomic_store(&w.broker_try_ns, clock_now_ns());
	clock_cond_init(&w.beat_cv);
	w.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w.wake_fd < 0) {
		log_error("cannot create an eventfd: %s", strerror(errno));
		return 1;
	}
	handlers_init(cfg);

	struct sampler smp = { cfg, sec, NULL, w.db };
	if (completer_start(&w, &err) < 0 || threads_start(&w, n, helpers, &nhelpers, &err) < 0) {
		log_error("%s", buf_str(&err));
		rc = EX_OSERR_CODE;
	} else {
		log_fields(LL_INFO, json_pack("{s:s, s:i}", "worker_id", w.id, "concurrency", w.nthreads),
			   "spool-worker started as '%s' with %d thread(s)", w.id, w.nthreads);
		int mrc = metrics_start(cfg, sample_queue, &smp, &err);
		if (mrc < 0)
			log_error("%s", buf_str(&err));
		if (mrc == METRICS_NO_THREAD)
			rc = EX_OSERR_CODE;
		else if (mrc < 0)
			daemon_stop = 1;
		sigset_t old;
		signals_block(&old); /* MHD's thread takes no signal */
		buf_reset(&err);
		if (rc == 0 && worker_health_start(&w, &err) < 0) {
			log_error("%s", buf_str(&err));
			rc = EX_OSERR_CODE;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	buf_release(&err);
	if (rc == 0) {
		struct mq *mq = mq_new(cfg, sec), *pub = mq_new(cfg, sec);
		consume(&w, mq, pub, verbose);
		drain(&w, mq, pub);
		mq_free(mq);
		mq_free(pub);
		rc = daemon_exit_code();
	}
	worker_health_stop();
	metrics_stop();
	mq_free(smp.mq);

	int stuck = threads_stop(&w, helpers, nhelpers);
	if (stuck) {
		/* a thread is blocked in I/O; its job keeps its lease until it expires */
		log_warn("%d thread(s) did not stop; exiting anyway", stuck);
		return rc;
	}
	free(w.threads);
	for (int p = 0; p < JOBPRIO_COUNT; p++)
		free(w.queue[p].v);
	free(w.slots);
	free(w.acks);
	db_pool_free(w.db);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.work_cv);
	pthread_cond_destroy(&w.beat_cv);
	close(w.wake_fd);
	if (rc == 0)
		log_info("stopped");
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct config cfg;
	struct secrets *sec = NULL;

	int rc = daemon_parse_args(argc, argv, PROG, USAGE, DEFAULT_CONFIG, &o);
	if (rc >= 0 || (rc = daemon_protect_memory(PROG)) >= 0)
		return rc;
	memset(&cfg, 0, sizeof(cfg));
	rc = daemon_load_config(&o, PROG_WORKER, PROG, &cfg, &sec);
	if (rc >= 0) {
		secrets_free(sec);
		config_free(&cfg);
		return rc;
	}
	daemon_signals_install();
	sigusr1_install();
	rc = daemon_logship_start(&cfg, PROG);
	if (rc < 0)
		rc = worker_run(&cfg, sec, o.verbose);
	logship_stop(); /* after the last line */
	daemon_reload_free();
	secrets_free(sec);
	config_free(&cfg);
	return rc;
}
