/*
 * jobprio — job priorities (high, normal, low): their names, the queue and
 * routing key of each, and the weighted choice a worker makes between the
 * deliveries it holds. Pure (no database, no I/O).
 *
 * RabbitMQ's quorum queues have no message priorities, so each priority has a
 * queue of its own, bound to exchange spool.jobs with a key of its own:
 *   normal  spool.jobs       key "job"       delay queues spool.retry.<s>
 *   high    spool.jobs.high  key "job.high"  delay queues spool.retry.high.<s>
 *   low     spool.jobs.low   key "job.low"   delay queues spool.retry.low.<s>
 * A delay queue dead-letters to the key of its priority, so a retry returns to
 * the queue it came from. A worker consumes all three, each with a prefetch of
 * its own, and a free worker thread takes the next delivery by smooth weighted
 * round robin over the priorities holding deliveries (jobprio_pick): with all
 * three waiting, of every JOBPRIO_WEIGHT_SUM starts JOBPRIO_WEIGHT_HIGH are
 * high, JOBPRIO_WEIGHT_NORMAL normal and JOBPRIO_WEIGHT_LOW low, so nothing
 * starves; a priority that had nothing waiting starts from no credit, so a
 * high delivery arriving into a normal backlog is the next one taken.
 */
#ifndef SPOOL_JOBPRIO_H
#define SPOOL_JOBPRIO_H

/* The order is that of the table above; 0 (normal) is the default of a zeroed struct. */
enum jobprio {
	JOBPRIO_NORMAL = 0,
	JOBPRIO_HIGH = 1,
	JOBPRIO_LOW = 2,
};
#define JOBPRIO_COUNT 3

#define JOBPRIO_WEIGHT_HIGH 8
#define JOBPRIO_WEIGHT_NORMAL 3
#define JOBPRIO_WEIGHT_LOW 1
#define JOBPRIO_WEIGHT_SUM (JOBPRIO_WEIGHT_HIGH + JOBPRIO_WEIGHT_NORMAL + JOBPRIO_WEIGHT_LOW)

/* "high", "normal", "low" ("normal" for a value out of range). */
const char *jobprio_name(enum jobprio p);
/* 0 and *out, or -1 when `s` (may be NULL) names no priority. */
int jobprio_parse(const char *s, enum jobprio *out);
/* The queue of spool.jobs' messages of priority `p` (spool.jobs, spool.jobs.high, spool.jobs.low). */
const char *jobprio_queue(enum jobprio p);
/* Its routing key on exchange spool.jobs ("job", "job.high", "job.low"). */
const char *jobprio_key(enum jobprio p);
/* The prefix of its delay queues' names ("spool.retry.", "spool.retry.high.", "spool.retry.low."). */
const char *jobprio_retry_prefix(enum jobprio p);
/* 0 and *out when `queue` is one of the three job queues, else -1. */
int jobprio_of_queue(const char *queue, enum jobprio *out);
/*
 * The delay of a delay queue's name and its priority: the seconds (1..1000000)
 * and *out, or 0 when `name` is no delay queue's.
 */
int jobprio_retry_of(const char *name, enum jobprio *out);

/* The state of the weighted choice: zero it to start. */
struct jobprio_picker {
	int credit[JOBPRIO_COUNT];
};
/*
 * Which priority a free thread takes next, given how many deliveries of each
 * are waiting (`waiting`, indexed by enum jobprio): -1 when none is. Each
 * priority with something waiting gains its weight, the one with the most
 * credit is taken (high first on ties) and pays the weights of those waiting;
 * a priority with nothing waiting loses its credit.
 */
int jobprio_pick(struct jobprio_picker *p, const int waiting[JOBPRIO_COUNT]);

#endif
