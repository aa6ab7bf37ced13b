/*
 * worker — the state shared by spool-worker's threads.
 *
 * Threads: the main thread owns the consuming RabbitMQ connection (librabbitmq
 * connections are single-threaded): it consumes the queue of each priority
 * (jobprio.h), hands the deliveries to the worker threads through a bounded
 * queue per priority, from which a free thread takes the next by weight
 * (worker_queue_pop), and performs the acks and rejects the workers ask for.
 * Each worker thread has its own publishing connection (events, retries, dead
 * letters) and its own S3 client. The completer thread (completer.c) records
 * succeeded jobs in batches and publishes the job.started and job.succeeded
 * events. A heartbeat thread extends the
 * leases of running jobs; a reaper thread returns other workers' expired jobs
 * to the queue and re-drives jobs left without a message; an archiver thread
 * moves finished jobs past their retention to the S3 archive. Everything in struct worker below `mu` is guarded by it.
 */
#ifndef SPOOL_WORKER_WORKER_H
#define SPOOL_WORKER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "alive.h"
#include "config.h"
#include "db.h"
#include "job.h"
#include "jobcodec.h"
#include "jobprio.h"
#include "mq.h"
#include "secrets.h"

/* A delivery waiting for a worker thread. */
struct work {
	struct mq_delivery d;  /* owned */
	struct jobcodec_message msg;
	unsigned gen;          /* consumer connection generation it came on */
	double received;       /* clock_now_s() */
};

/* The deliveries of one priority waiting for a worker thread: a ring of `qcap`. */
struct work_ring {
	struct work *v;
	int head, len;
};

/* What the consumer thread does with a delivery a worker thread is done with. */
enum worker_ack {
	WORKER_ACK,            /* acknowledge: the broker forgets it */
	WORKER_REJECT,         /* reject without requeue: dead-lettered to spool.dead */
	WORKER_REQUEUE,        /* reject with requeue: another consumer may take it */
};

/* An ack or reject the consumer thread performs for a worker. */
struct ack_req {
	uint64_t tag;
	unsigned gen;
	enum worker_ack what;
};

/* What a worker thread is running, for the heartbeat thread. */
struct slot {
	bool busy;
	char id[JOB_ID_LEN + 1];
	int attempt;
	double next_beat;
	atomic_int abort;      /* enum handler_abort */
	struct alive alive;    /* stamped by its worker thread while it makes progress */
};

struct worker {
	/*
	 * The current config, replaced by SIGHUP (the main thread, through
	 * daemon_reload_config); read it once per use. Replaced configs stay
	 * allocated until exit, so a pointer read from here stays valid; keys that
	 * need a restart are equal in all of them.
	 */
	const struct config *_Atomic cfg;
	struct secrets *sec;
	/* Liveness (health.c): each thread stamps its own while it makes progress. */
	struct alive consumer_alive, heartbeat_alive, reaper_alive, archiver_alive;
	_Atomic uint64_t broker_down_ns;  /* clock_now_ns() when the consumer's connection went down; 0: up */
	_Atomic uint64_t broker_try_ns;   /* clock_now_ns() of the consumer's last connection attempt */
	struct db_pool *db;
	char id[256];          /* worker id: cfg worker.id or host:pid */
	int maxthreads;        /* capacity of slots, queue and threads */
	struct worker_thread *threads;
	struct completer *completer; /* completer.c; set before the worker threads start */

	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* work queued or stopping */
	pthread_cond_t beat_cv;   /* wakes the heartbeat thread to exit */
	struct work_ring queue[JOBPRIO_COUNT]; /* by priority, each of `qcap` */
	int qcap, qlen;           /* qlen: the deliveries of all of them */
	struct jobprio_picker picker; /* which priority the next free thread takes */
	struct ack_req *acks;     /* pending ack requests */
	size_t nacks, acap;
	struct slot *slots;       /* one per worker thread */
	int claiming;             /* deliveries taken but not yet acked or given back */
	bool stopping;            /* no new work */
	bool exiting;             /* heartbeat thread should end */
	unsigned gen;             /* current consumer connection generation */
	int nthreads;             /* worker threads wanted (worker.concurrency) */
	int lookahead;            /* deliveries per queue held beyond nthreads (worker.lookahead) */
	int nstarted;             /* threads[0..nstarted) were started at some point */
	int wake_fd;              /* eventfd: ack requests are waiting for the consumer thread */
};

/* Worker thread body; `arg` is a struct worker_thread. */
struct worker_thread {
	struct worker *w;
	int index;
	pthread_t tid;
	bool alive;            /* under mu: started and not yet returned */
	bool joinable;         /* under mu: tid is a thread not yet joined */
};
void *worker_thread_main(void *arg);
void *worker_heartbeat_main(void *arg);
/* The reaper thread (reaper.c): every lease/2 s, expired leases back to the queue, then a re-drive pass. */
void *worker_reaper_main(void *arg);
/* The archiver thread (archiver.c): every [retention] interval, a retention sweep (archive.h). */
void *worker_archiver_main(void *arg);

/*
 * health.c: whether every thread shows progress within [worker] stall_timeout and
 * the broker is connected or being reconnected to. 0 healthy, -1 not, with the
 * first problem in `why`; *report (may be NULL) gets the JSON of GET /health.
 */
int worker_health(struct worker *w, struct buf *why, json_t **report);
/* Serve GET /health on [worker] health_listen (nothing when unset); -1 with err. */
int worker_health_start(struct worker *w, struct buf *err);
void worker_health_stop(void);

/*
 * The completer (completer.c), the thread that records succeeded jobs in
 * batches of up to [worker] batch_max, gathered for [worker] batch_wait_us, and
 * publishes every job.started and job.succeeded event.
 *
 * completer_start: before the worker threads; -1 with err. completer_stop:
 * after the worker threads ended, records what is left and joins the thread,
 * giving up at `until` (CLOCK_MONOTONIC; then 1: the thread is stuck in I/O and
 * stays allocated, else 0).
 */
struct completer;
int completer_start(struct worker *w, struct buf *err);
int completer_stop(struct worker *w, const struct timespec *until);
/* The completer's liveness stamp, for health.c. */
const struct alive *completer_alive(const struct worker *w);
/*
 * Queue the job.started event of our just-claimed `job` (encoded now); the next
 * flush publishes it with a confirm. Returns its sequence number, for completer_sync.
 */
uint64_t completer_started(struct worker *w, const struct job *job);
/*
 * Wait until the job.started events up to `seq` were published (confirmed, or
 * failed and logged): before a worker thread publishes another event of that
 * job itself, so that job.started comes first.
 */
void completer_sync(struct worker *w, uint64_t seq);
/*
 * Hand over our running `job`, whose handler succeeded with `result` (stolen):
 * the completer marks it succeeded (conditional on the claim, as job_succeed),
 * publishes job.succeeded and wakes deferred jobs of its tenant and type. Waits
 * while 4 × batch_max jobs are waiting already (a database outage).
 */
void completer_succeeded(struct worker *w, const struct job *job, json_t *result);

/*
 * A job of `tenant` and `type` stopped running: wake their deferred jobs that may
 * start now (job_wake_deferred) and publish their messages on `mq` at once.
 * Failures are logged: the reaper's sweep of deferred jobs wakes them then.
 */
void worker_wake_deferred(struct worker *w, struct mq *mq, const char *tenant, const char *type);

/*
 * Under mu: take the delivery a free worker thread runs next into *out, of the
 * priority jobprio_pick chooses among those waiting; false when none waits.
 */
bool worker_queue_pop(struct worker *w, struct work *out);

/* Ask the consumer thread to ack/reject `tag` (see struct ack_req). */
void worker_request_ack(struct worker *w, uint64_t tag, unsigned gen, enum worker_ack what);

#endif
