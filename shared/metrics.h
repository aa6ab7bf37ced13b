/*
 * metrics — the in-process registry of counters, gauges and timings that a
 * daemon publishes to CloudWatch (PutMetricData), and its flush thread.
 *
 * Register metrics with metrics_counter/gauge/timing (returns the existing one
 * for the same name and dimension); keep the handle and update it from any
 * thread: metrics_add/set/observe are lock-free atomics. Lookups are lock-free
 * too; registration takes a mutex and the registry holds at most
 * METRICS_MAX entries (beyond that registration returns a shared sink that is
 * never published). Handles live until the process exits.
 *
 * Every cfg->cloudwatch.interval the flush thread takes each metric's values
 * since the last flush and publishes them in as few PutMetricData calls as the
 * limits allow: counters and timings as statistic sets (a counter's Sum is the
 * number of events; a counter without events is published as 0), gauges as
 * their last value. Each datum is published without dimensions (the series
 * adminctl and the Auto Scaling policy read), with the metric's own dimension
 * (e.g. JobType) when it has one, and with [cloudwatch] dimensions added to that
 * when configured; METRIC_NO_DIMS metrics only without dimensions.
 * Nothing is published unless cfg->cloudwatch.enabled.
 */
#ifndef SPOOL_METRICS_H
#define SPOOL_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "cloudwatch.h"
#include "config.h"

#define METRICS_MAX 128

/* Metric names the daemons publish (adminctl and deploy/spool.yaml read them). */
#define METRIC_JOBS_SUBMITTED "JobsSubmitted"
#define METRIC_JOBS_STARTED "JobsStarted"
#define METRIC_JOBS_SUCCEEDED "JobsSucceeded"
#define METRIC_JOBS_FAILED "JobsFailed"
#define METRIC_JOBS_RETRIED "JobsRetried"
#define METRIC_JOB_DURATION "JobDuration"
#define METRIC_QUEUE_DEPTH "QueueDepth"
#define METRIC_BACKLOG_PER_INSTANCE "BacklogPerInstance"
#define METRIC_OUTBOX_BACKLOG "OutboxBacklog"
#define METRIC_HTTP_2XX "Http2xx"
#define METRIC_HTTP_4XX "Http4xx"
#define METRIC_HTTP_5XX "Http5xx"
#define METRIC_HTTP_LATENCY "HttpLatency"
#define METRIC_TMPDIR_FREE_BYTES "TmpdirFreeBytes"
#define METRIC_JOBS_ARCHIVED "JobsArchived"
#define METRIC_DEAD_LETTERS_DROPPED "DeadLettersDropped"

/* Flags of a metric. */
#define METRIC_NO_DIMS 1u /* publish only without dimensions */

struct metric;

/* Find or register. `unit` is a CloudWatch unit ("Count", "Seconds", ...). */
struct metric *metrics_counter(const char *name, const char *unit);
struct metric *metrics_gauge(const char *name, const char *unit, unsigned flags);
/* A timing with an optional dimension of its own (dim_name NULL: none). */
struct metric *metrics_timing(const char *name, const char *unit, const char *dim_name, const char *dim_value);

void metrics_add(struct metric *m, uint64_t n);
void metrics_set(struct metric *m, double value);
void metrics_observe(struct metric *m, double value);

/*
 * Parse "Name=Value,Name=Value" ([cloudwatch] dimensions). Fills up to `max`
 * pairs pointing into the copy `*store` (caller frees). Returns the count, or -1
 * with a reason in err.
 */
int metrics_parse_dimensions(const char *spec, char **store, const char **names, const char **values,
			     int max, struct buf *err);

/* metrics_start's failures. */
#define METRICS_BAD_DIMENSIONS (-1) /* [cloudwatch] dimensions is not Name=Value,... */
#define METRICS_NO_THREAD (-2)      /* the flush thread could not start */

/*
 * Start the flush thread when cfg->cloudwatch.enabled (else do nothing). Before
 * each flush `collect(arg)` runs on the flush thread (may be NULL): the place to
 * sample gauges such as queue depth. `cfg` must outlive metrics_stop().
 * 0, or METRICS_BAD_DIMENSIONS or METRICS_NO_THREAD with the reason in err.
 */
int metrics_start(const struct config *cfg, void (*collect)(void *), void *arg, struct buf *err);
/* SIGHUP: the seconds between flushes ([cloudwatch] interval), from the next one on. */
void metrics_set_interval(int64_t seconds);
/* The seconds between flushes now. */
int64_t metrics_interval(void);
/*
 * From the collect callback only: publish `n` datums of its own (series whose
 * dimensions vary from one flush to the next) with the flush's client, as they
 * are (no [cloudwatch] dimensions added). 0, or -1 (logged).
 */
int metrics_put(const struct cw_datum *d, size_t n);
/* Stop the flush thread after one last flush. */
void metrics_stop(void);

#endif
