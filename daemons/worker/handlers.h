/*
 * handlers — what the worker does for each job type, in one registry keyed by
 * jobtype.h's table (which says whether a type is enabled by default and which
 * [worker] key turns it on or off).
 *
 * A handler runs on a worker thread after the job has been claimed. It gets the
 * job (read only), a private temporary directory (created and removed by the
 * caller, whatever happens), the thread's S3 client, and an abort flag it must
 * poll in long waits (set when the lease is lost, the shutdown grace ran out or
 * a client asked to cancel the job).
 * It returns HANDLER_OK with `res->result` set (a new reference, stored as the
 * job's result) or HANDLER_FAIL with `res->code`, `res->message` and
 * `res->permanent` filled (permanent: never retried, e.g. invalid_media).
 */
#ifndef SPOOL_WORKER_HANDLERS_H
#define SPOOL_WORKER_HANDLERS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "job.h"
#include "jobtype.h"

struct aws_error;
struct s3;

/* Values of the abort flag. */
enum handler_abort {
	HANDLER_RUN = 0,
	HANDLER_LEASE_LOST = 1,
	HANDLER_SHUTDOWN = 2,
	HANDLER_CANCEL_REQUESTED = 3, /* cancel_requested seen by the heartbeat */
};

struct handler_ctx {
	const struct config *cfg;
	const struct job *job;
	const char *tmpdir;  /* the job's temporary directory; NULL for a handler without needs_files */
	struct s3 *s3;
	const atomic_int *abort;
	/*
	 * Report progress (0..100) of the job: stored on the job and published as a
	 * job.progress event, rate-limited by the caller. May be NULL.
	 */
	void (*progress)(int percent, void *data);
	void *progress_data;
};

struct handler_result {
	json_t *result;     /* on success; owned by the caller afterwards */
	char code[64];      /* on failure: machine-readable error code */
	struct buf message; /* on failure: human-readable, no secrets */
	bool permanent;
};

enum { HANDLER_OK = 0, HANDLER_FAIL = -1 };

typedef int (*handler_fn)(struct handler_ctx *ctx, struct handler_result *res);

struct handler {
	const char *type;   /* job type, e.g. "media.probe" */
	handler_fn fn;
	bool enabled;
	bool needs_files;   /* runs in a temporary directory of its own (ctx->tmpdir); else tmpdir is NULL */
};

/* Decide which handlers are enabled: the type's enable_key in `cfg`, else enabled_by_default. */
void handlers_init(const struct config *cfg);
/* The enabled handler of `type`, or NULL (then the job fails: unsupported_type). */
const struct handler *handler_find(const char *type);

/* Fill a failure into `res` and return HANDLER_FAIL. */
int handler_fail(struct handler_result *res, const char *code, bool permanent, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void handler_result_release(struct handler_result *res);
/* Store an S3 failure: 5xx, throttling and connection errors are transient. */
int handler_s3_fail(struct handler_result *res, const char *what, const struct aws_error *ae);
/* Download the job's source.key to TMPDIR/source; its path into `path`. */
int handler_fetch_source(struct handler_ctx *ctx, struct buf *path, struct handler_result *res);
/*
 * Clients read res->message as the job's error.message: replace the paths of
 * the job's temporary directory `tmpdir` in it by what they are ("the source",
 * "the output"), whichever handler or library call wrote them.
 */
void handler_redact(struct handler_result *res, const char *tmpdir);
/* A cancel predicate for proc.h / transcode.h: `data` is ctx->abort. */
bool handler_cancelled(void *data);

/* Handlers (one file each). */
int handler_noop(struct handler_ctx *ctx, struct handler_result *res);
int handler_probe(struct handler_ctx *ctx, struct handler_result *res);
int handler_transcode(struct handler_ctx *ctx, struct handler_result *res);

/*
 * The bytes of the file system of `dir` free to an unprivileged user (statvfs
 * f_bavail * f_frsize) into *out: 0, or -1 with errno set.
 */
int handlers_free_bytes(const char *dir, int64_t *out);

#endif
