/*
 * cloudwatch — PutMetricData and GetMetricData over the Query protocol
 * (form-encoded POST, Version=2010-08-01, signing name "monitoring").
 *
 * Endpoint: [cloudwatch] endpoint_url, else [aws] endpoint_url, else
 * https://monitoring.REGION.amazonaws.com. Credentials: the standard chain.
 * Thread safe; calls retry per aws.h and fill `err` (may be NULL) on failure.
 * Every string in the structs below is borrowed for the duration of the call.
 */
#ifndef SPOOL_CLOUDWATCH_H
#define SPOOL_CLOUDWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws.h"
#include "buf.h"
#include "config.h"

#define CW_MAX_DATUMS 1000            /* per PutMetricData call */
#define CW_MAX_PUT_BYTES (1000 * 1000) /* request body limit per call */
#define CW_MAX_DIMENSIONS 30
#define CW_MAX_QUERIES 500            /* per GetMetricData call */

struct cw_dimension {
	const char *name;
	const char *value;
};

/* One datum: a single value, or a statistic set when `is_stats`. */
struct cw_datum {
	const char *name;
	const struct cw_dimension *dims;
	size_t ndims;                /* at most CW_MAX_DIMENSIONS */
	const char *unit;            /* "Count", "Seconds", "Bytes", ... or NULL */
	time_t timestamp;            /* 0: the time of the call */
	int storage_resolution;      /* 1 (high resolution) or 0/60 (standard) */
	bool is_stats;
	double value;                /* !is_stats */
	double sample_count, sum, min, max; /* is_stats */
};

struct cloudwatch;

/* A client publishing into [cloudwatch] namespace. Never NULL. */
struct cloudwatch *cloudwatch_new(const struct config *cfg);
void cloudwatch_free(struct cloudwatch *cw);

/*
 * Publish `n` datums, split into as many PutMetricData calls as the limits
 * require (CW_MAX_DATUMS, CW_MAX_PUT_BYTES). Datums with non-finite values are
 * skipped (CloudWatch rejects them). Returns 0, or -1 at the first failed call.
 */
int cloudwatch_put(struct cloudwatch *cw, const struct cw_datum *d, size_t n, struct aws_error *err);

/*
 * Encode as many of the `n` datums as fit one call into a form body for
 * namespace `ns` (body reset first). Returns how many datums were consumed
 * (skipped non-finite ones included), at least 1 when n > 0.
 */
size_t cloudwatch_encode_put(const char *ns, const struct cw_datum *d, size_t n, size_t max_bytes,
			     struct buf *body);

/* One GetMetricData query: a metric statistic, or a metric math expression. */
struct cw_query {
	const char *id;              /* [a-z][a-zA-Z0-9_]* */
	const char *label;           /* may be NULL */
	const char *expression;      /* if set, the rest but id/label/period is ignored */
	const char *namespace_;      /* NULL: the client's namespace */
	const char *metric;
	const struct cw_dimension *dims;
	size_t ndims;
	const char *stat;            /* "Sum", "Average", "p99", ... */
	int period;                  /* seconds, multiple of 60 (or 1/5/10/30 for high resolution) */
};

/* One returned series, points in the order CloudWatch gave them. Owned. */
struct cw_series {
	char *id;
	char *label;
	char status[32];             /* "Complete", "PartialData", ... */
	time_t *timestamps;
	double *values;
	size_t n;
};

/*
 * Run `nq` queries over [start, end), following NextToken, batching by
 * CW_MAX_QUERIES. *out gets one series per returned id (free with
 * cloudwatch_series_free()).
 */
int cloudwatch_get_metric_data(struct cloudwatch *cw, const struct cw_query *q, size_t nq,
			       time_t start, time_t end, struct cw_series **out, size_t *nout,
			       struct aws_error *err);
void cloudwatch_series_free(struct cw_series *s, size_t n);

/* Parse one GetMetricData response page, merging into *out (exposed for tests).
 * Returns 0 (NextToken into `next`, empty when none) or -1. */
int cloudwatch_parse_get(const char *xml, size_t len, struct cw_series **out, size_t *nout,
			 struct buf *next);

#endif
