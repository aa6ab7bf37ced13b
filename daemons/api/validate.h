/*
 * validate — the pure checks of spool-api's request path: routing, the request
 * headers it reads (X-Request-Id, Idempotency-Key, Content-Length, Content-Type),
 * query arguments, and the bodies of POST /v1/jobs and POST /v1/uploads.
 *
 * Nothing here touches a libmicrohttpd connection, the database or a lock, so the
 * fuzz target (tests/fuzz/fuzz-http.c) links this file alone with libspool. What
 * needs the outside world comes in through struct validate_job: the webhook allow
 * list as a string, the ownership of a job as a callback.
 *
 * Strings passed in are borrowed; nothing returned needs freeing except where a
 * function says "new reference" or fills a struct buf (the caller releases it).
 */
#ifndef SPOOL_API_VALIDATE_H
#define SPOOL_API_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "job.h"

/* The routes, for dispatch, metrics labels and the access log. */
enum route {
	ROUTE_NONE = 0,               /* unknown path: 404 */
	ROUTE_HEALTH,
	ROUTE_READY,
	ROUTE_METRICS,                /* served on [api] metrics_listen only, never routed here */
	ROUTE_JOBS_CREATE,
	ROUTE_JOBS_LIST,
	ROUTE_JOBS_GET,
	ROUTE_JOBS_CANCEL,
	ROUTE_JOBS_RESULT,
	ROUTE_UPLOADS_CREATE,
	ROUTE_VIDEOS_CREATE,
	ROUTE_COUNT
};

/* A path and the route each method maps to there (ROUTE_NONE: 405); `allow` lists the methods. */
struct validate_route {
	enum route get, post, del;
	const char *allow;
};

/*
 * Which path `url` is, or NULL (404). The {id} segment of /v1/jobs/{id}[/result]
 * is copied to `id` when it is at most JOB_ID_LEN characters (else "", which no job
 * has); a matched path without one leaves `id` "". The id is not checked
 * (job_id_valid).
 */
const struct validate_route *validate_path(const char *url, char id[JOB_ID_LEN + 1]);
/* The route of `method` on path `p`: GET and HEAD read, POST, DELETE; ROUTE_NONE for others. */
enum route validate_method(const struct validate_route *p, const char *method);

/* true if an X-Request-Id may be used as given: 1 to 128 of [A-Za-z0-9._-]. */
bool validate_request_id(const char *s);

#define VALIDATE_TRACE_ID_MAX 256
/*
 * true if an X-Amzn-Trace-Id (as an ALB adds) may be logged as given: at most
 * VALIDATE_TRACE_ID_MAX characters of ';'-separated KEY=VALUE fields, keys of
 * [A-Za-z0-9], values of [A-Za-z0-9._:-], one of them Root=1-<8 hex>-<24 hex>.
 */
bool validate_trace_id(const char *s);

#define VALIDATE_IDEMPOTENCY_KEY_MAX 200
/* 0 if an Idempotency-Key header (NULL: absent) is acceptable, -1 if too long. */
int validate_idempotency_key(const char *key);

/*
 * Parse a Content-Length of at most `max` bytes into *n: 0, or -1 when it is not
 * a decimal number or exceeds `max` (413).
 */
int validate_content_length(const char *cl, uint64_t max, unsigned long long *n);
/*
 * Does the Content-Type `ct` have the media type `type` (case-insensitive, any
 * parameters after ';' or ' ')? A `type` ending in '/' ("video/") matches any
 * subtype.
 */
bool validate_media_type(const char *ct, const char *type);

/*
 * Parse a non-negative decimal query argument of at most `max` into *out: 0, or -1
 * if `s` is NULL, is not digits only (no white space, no sign) or exceeds `max`.
 */
int validate_int_arg(const char *s, long max, long *out);

/*
 * A query parameter of POST /v1/videos as the JSON type videoparams expects for
 * `name` (integer height, number max_duration, boolean flags); a value that does
 * not convert stays a string so that videoparams names it. New reference.
 */
json_t *validate_video_param(const char *name, const char *value);

/* A failed check: the field it concerns and what is wrong, phrased to follow "field 'F' ". */
struct validate_error {
	char field[64];
	struct buf msg;
};
#define VALIDATE_ERROR_INIT { "", BUF_INIT }

/*
 * 0 if the query argument `key`=`value` (value NULL: given without '=') is
 * well-formed UTF-8, else -1 with `v` naming the parameter (its name escaped as
 * utf8_escape does when the name itself is not UTF-8, cut to fit) and saying what
 * is wrong.
 */
int validate_query_arg(const char *key, const char *value, struct validate_error *v);

/* 0 if `type` (NULL: not a string) is a job type of jobtype.h's table, else -1 naming `field`. */
int validate_job_type(const char *type, const char *field, struct validate_error *v);

/* What validate_job() needs from outside the request body. */
struct validate_job {
	const char *tenant;
	const char *allow_hosts;      /* api.webhook_allow_hosts, NULL none */
	/*
	 * true if the tenant has a job `id` (a valid job id), false if not or the
	 * lookup failed. Called only for a "results/<id>/…" source key; NULL: never owned.
	 */
	bool (*owns_job)(const char *tenant, const char *id, void *arg);
	void *arg;
	time_t now;                   /* the time run_at is judged against */
};

/* The furthest ahead a job may be scheduled (run_at or delay): 366 days. */
#define VALIDATE_SCHEDULE_MAX_S (366 * 86400)
/* How far in the past a run_at may be and still mean "at once" (a client's clock, the trip here). */
#define VALIDATE_RUN_AT_PAST_S 5

/*
 * Fill `in` (type, source, params, callback_url, priority, run_at_ms, delay_s) from the
 * POST /v1/jobs `body` (a JSON object) or name the first invalid field in `v`:
 * 0 or -1. Strings in `in` borrow from `body`; `in`'s other fields are left
 * alone. Scheduling takes at most one of "run_at" (an RFC 3339 time with "Z" or
 * an offset, milliseconds kept, at most VALIDATE_SCHEDULE_MAX_S after ctx->now
 * and at most VALIDATE_RUN_AT_PAST_S before it) and "delay" (an integer of
 * seconds, 1 to VALIDATE_SCHEDULE_MAX_S); null is the same as absent. A
 * "priority" is "high", "normal" or "low" (absent or null: in->priority stays
 * NULL, the tenant's default).
 */
int validate_job(const struct validate_job *ctx, json_t *body, struct job_new *in, struct validate_error *v);

/*
 * The declared size of a POST /v1/uploads `body` (a JSON object): its "size", a
 * positive integer of bytes, into *size; 0, or -1 naming the field in `v`. The
 * caller compares it with [api] max_upload.
 */
int validate_upload(json_t *body, int64_t *size, struct validate_error *v);

#endif
