/*
 * jobtype — the job types Spool knows, described by one table.
 *
 * Each row says what a job of the type needs to be accepted (a source, a check of
 * its params) and whether workers run it unless told otherwise. Everything that
 * depends on the set of types follows this table: the API's validation of
 * POST /v1/jobs and of ?type=, the per-type configuration keys ([api] max_attempts,
 * [worker] backoff_caps) and their documentation, and the worker's handler
 * registry, which holds one handler per enum jobtype_id. Adding a job type is one
 * enum value and one row here and one handler in daemons/worker/.
 *
 * The table is constant and static: nothing is allocated, nothing is freed.
 */
#ifndef SPOOL_JOBTYPE_H
#define SPOOL_JOBTYPE_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"

/* The job types, in the order of the table (and of the lists in messages). */
enum jobtype_id {
	JOBTYPE_VIDEO_TRANSCODE,
	JOBTYPE_MEDIA_PROBE,
	JOBTYPE_NOOP,
	JOBTYPE_COUNT
};

/* The longest wait a noop job may ask for in params.duration_ms (10 s). */
#define JOBTYPE_NOOP_MAX_MS 10000

struct jobtype {
	enum jobtype_id id;
	const char *name;          /* as in the API and the queue: "video.transcode" */
	bool needs_source;         /* a job must name a source {"key": …} */
	/*
	 * Check the job's `params` (a JSON object): 0, or -1 with the offending key in
	 * `field` (relative to params; "params" for the object itself) and a lower-case
	 * message in `msg`, both appended to. NULL: any object is accepted.
	 */
	int (*check_params)(const json_t *params, struct buf *field, struct buf *msg);
	bool enabled_by_default;   /* workers run it when the configuration does not say */
	/*
	 * The [worker] boolean key that says whether workers run it (its default is
	 * enabled_by_default), or NULL: workers always do as enabled_by_default says.
	 */
	const char *enable_key;
};

/* The row of `id` (0 <= id < JOBTYPE_COUNT); iterate the table with it. */
const struct jobtype *jobtype_get(enum jobtype_id id);
/* The row named `name` exactly, or NULL (also for a NULL `name`). */
const struct jobtype *jobtype_find(const char *name);
/* The row whose name is the `len` bytes at `name`, or NULL. */
const struct jobtype *jobtype_find_n(const char *name, size_t len);
/* Append the names, in table order, separated by ", ": "video.transcode, media.probe, noop". */
void jobtype_names(struct buf *out);

#endif
