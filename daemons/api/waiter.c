/*
 * waiter — GET /v1/jobs/{id}?wait=N without holding an HTTP thread hostage.
 *
 * The handler suspends the connection (MHD_suspend_connection) and hands the
 * request here. Nothing polls the database: the events consumer (events.c)
 * calls waiter_wake() when a job reaches a final state and the job's waiters are
 * resumed at once; a timer thread resumes the others at their deadline. MHD then
 * calls the handler again, which reads the job once and answers with it as it is.
 * One API key holds at most api.max_waits_per_key suspended requests: a waiting
 * connection is a connection nobody else can have, and past the cap a ?wait is
 * answered at once with the job as it is, as a client that polls expects.
 *
 * The events consumer receives final events only while a request holds its
 * binding (events_hold): the handler takes the hold before it reads the job,
 * and the entry keeps it until it is resumed. Two gaps are closed without
 * polling: an event that arrives between the handler's read and waiter_add()
 * is remembered in a small ring of recently finished jobs, which waiter_add()
 * consults; and events lost while the binding was not there (a hold not
 * confirmed in time, a reconnect) are made up by one database pass over the
 * waiting jobs after the events consumer binds (waiter_recheck()).
 *
 * Entries are removed (and connections resumed) only under `mu`; the timer thread
 * works on copies (job id and a sequence number), never on a request pointer
 * outside the lock, because a resumed request completes and is freed by MHD.
 */
#include "api.h"
#include "bgthread.h"
#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The timer sleeps at most this long, so a stop is never missed for long. */
#define IDLE_MS 1000
/*
 * Jobs that became final in the last RECENT_NS are remembered (RECENT of them):
 * long enough to cover the moment between the handler's read and waiter_add(),
 * short enough that a job retried by an operator meanwhile is not taken as final.
 */
#define RECENT 1024
#define RECENT_NS (5ull * 1000000000ull)

struct entry {
	struct req *r;
	char job_id[JOB_ID_LEN + 1];
	char key_id[37];              /* the API key's, for api.max_waits_per_key */
	uint64_t deadline_ns;
	uint64_t seq;
};

struct recent {
	char job_id[JOB_ID_LEN + 1];
	uint64_t at_ns;
};

static struct {
	pthread_mutex_t mu;  /* guards everything below but `timer` */
	struct entry *list;
	size_t n, cap;
	uint64_t next_seq;
	struct recent ring[RECENT];
	size_t ring_next;
	bool stop, recheck;
	struct bgthread timer; /* woken when the next deadline may be earlier, or to recheck */
} w = { .mu = PTHREAD_MUTEX_INITIALIZER, .timer = BGTHREAD_INIT };

/* Resume entry i (lock held): swap-remove it from the list, and release its hold on the events' binding. */
static void resume_at(size_t i)
{
	struct req *r = w.list[i].r;
	w.list[i] = w.list[--w.n];
	r->suspended = false;
	r->resumed = true;
	MHD_resume_connection(r->conn);
	events_release();
}

/* Did `job_id` become final a moment ago? (lock held) */
static bool recently_final(const char *job_id)
{
	uint64_t now = clock_now_ns();
	for (size_t i = 0; i < RECENT; i++)
		if (w.ring[i].at_ns && now - w.ring[i].at_ns < RECENT_NS && !strcmp(w.ring[i].job_id, job_id))
			return true;
	return false;
}

/* Requests of API key `key_id` waiting (lock held). */
static int64_t waiting(const char *key_id)
{
	int64_t n = 0;
	for (size_t i = 0; i < w.n; i++)
		n += !strcmp(w.list[i].key_id, key_id);
	return n;
}

int waiter_add(struct req *r)
{
	int64_t max = r->api->cfg->api.max_waits_per_key;
	pthread_mutex_lock(&w.mu);
	if (waiting(r->key_id) >= max) {
		pthread_mutex_unlock(&w.mu);
		return -1;
	}
	if (w.n == w.cap) {
		w.cap = w.cap ? w.cap * 2 : 64;
		w.list = xrealloc(w.list, w.cap * sizeof(*w.list));
	}
	struct entry *e = &w.list[w.n++];
	e->r = r;
	memcpy(e->job_id, r->job_id, sizeof(e->job_id));
	memcpy(e->key_id, r->key_id, sizeof(e->key_id));
	e->deadline_ns = r->wait_deadline_ns;
	e->seq = ++w.next_seq;
	r->suspended = true;
	MHD_suspend_connection(r->conn);
	bool listed = !(recently_final(r->job_id) || w.stop);
	if (!listed)
		resume_at(w.n - 1); /* the wake-up came before we were listed */
	pthread_mutex_unlock(&w.mu);
	if (listed)
		bgthread_wake(&w.timer); /* the timer may need to wake earlier */
	return 0;
}

void waiter_wake(const char *job_id)
{
	pthread_mutex_lock(&w.mu);
	struct recent *rc = &w.ring[w.ring_next];
	w.ring_next = (w.ring_next + 1) % RECENT;
	snprintf(rc->job_id, sizeof(rc->job_id), "%s", job_id);
	rc->at_ns = clock_now_ns();
	for (size_t k = 0; k < w.n;) {
		if (!strcmp(w.list[k].job_id, job_id))
			resume_at(k); /* swapped: look at k again */
		else
			k++;
	}
	pthread_mutex_unlock(&w.mu);
}

void waiter_recheck(void)
{
	pthread_mutex_lock(&w.mu);
	w.recheck = true;
	pthread_mutex_unlock(&w.mu);
	bgthread_wake(&w.timer);
}

/* Is the job final (or gone)? Errors count as "not yet": the deadline still ends it. */
static bool job_done(struct db_conn *c, const char *id)
{
	struct buf err = BUF_INIT;
	struct job j;
	memset(&j, 0, sizeof(j));
	enum job_rc rc = job_get(c, id, NULL, &j, &err);
	bool done = rc == JOB_NOT_FOUND || (rc == JOB_OK && job_status_final(j.status));
	if (rc == JOB_ERR)
		log_warn("waiter: cannot read job %s: %s", id, buf_str(&err));
	job_clear(&j);
	buf_release(&err);
	return done;
}

/* One database pass over the waiting jobs (after events may have been lost). */
static void recheck_all(struct api *a)
{
	pthread_mutex_lock(&w.mu);
	size_t n = w.n;
	struct entry *snap = n ? xmalloc(n * sizeof(*snap)) : NULL;
	if (n)
		memcpy(snap, w.list, n * sizeof(*snap));
	pthread_mutex_unlock(&w.mu);
	if (!n)
		return;
	struct buf err = BUF_INIT;
	struct db_conn *c = db_acquire(a->db, 1000, &err);
	if (!c)
		log_warn("waiter: cannot recheck the waiting jobs: %s", buf_str(&err));
	for (size_t i = 0; c && i < n; i++) {
		if (!job_done(c, snap[i].job_id))
			continue;
		pthread_mutex_lock(&w.mu);
		for (size_t k = 0; k < w.n; k++)
			if (w.list[k].seq == snap[i].seq) {
				resume_at(k);
				break;
			}
		pthread_mutex_unlock(&w.mu);
	}
	if (c)
		db_release(c);
	buf_release(&err);
	free(snap);
}

/* Resume the entries whose deadline passed; the milliseconds to the next one (lock held). */
static int expire(void)
{
	uint64_t now = clock_now_ns(), next = now + (uint64_t)IDLE_MS * 1000000u;
	for (size_t k = 0; k < w.n;) {
		if (w.list[k].deadline_ns <= now) {
			resume_at(k);
			continue;
		}
		if (w.list[k].deadline_ns < next)
			next = w.list[k].deadline_ns;
		k++;
	}
	return (int)((next - now + 999999u) / 1000000u);
}

static void *waiter_main(void *arg)
{
	struct api *a = arg;
	for (;;) {
		pthread_mutex_lock(&w.mu);
		int ms = expire();
		bool recheck = w.recheck;
		w.recheck = false;
		pthread_mutex_unlock(&w.mu);
		if (recheck)
			recheck_all(a);
		else if (bgthread_wait_for(&w.timer, ms))
			break;
	}
	return NULL;
}

int waiter_start(struct api *a, struct buf *err)
{
	return bgthread_start(&w.timer, "waiter", waiter_main, a, err);
}

/*
 * Stop the thread and resume everyone: each waiting client gets the job as it is.
 * Requests that suspend after this (in flight during shutdown) are resumed at
 * once by waiter_add, and by waiter_flush(), which the drain loop calls.
 */
void waiter_stop(void)
{
	pthread_mutex_lock(&w.mu);
	w.stop = true;
	pthread_mutex_unlock(&w.mu);
	bgthread_stop(&w.timer);
	waiter_flush();
}

void waiter_flush(void)
{
	pthread_mutex_lock(&w.mu);
	while (w.n > 0)
		resume_at(w.n - 1);
	pthread_mutex_unlock(&w.mu);
}

void waiter_free(void)
{
	free(w.list);
	w.list = NULL;
	w.n = w.cap = 0;
}
