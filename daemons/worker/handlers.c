/*
 * handlers — the registry of job types. See handlers.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "clock.h"
#include "daemon.h"
#include "fftool.h"
#include "handlers.h"
#include "jobtype.h"
#include "s3.h"

/* Bytes of sources this process is downloading now: promised, not yet all on disk. */
static _Atomic int64_t downloading;

/* The function of each job type of jobtype.h's table; NULL: this worker has none. */
static const handler_fn fns[JOBTYPE_COUNT] = {
	[JOBTYPE_VIDEO_TRANSCODE] = handler_transcode,
	[JOBTYPE_MEDIA_PROBE] = handler_probe,
	[JOBTYPE_NOOP] = handler_noop,
};

static struct handler handlers[JOBTYPE_COUNT]; /* by enum jobtype_id, set by handlers_init */

/* The job types whose handler reads or writes files: the others get no temporary directory. */
static const bool needs_files[JOBTYPE_COUNT] = {
	[JOBTYPE_VIDEO_TRANSCODE] = true,
	[JOBTYPE_MEDIA_PROBE] = true,
};

void handlers_init(const struct config *cfg)
{
	for (int i = 0; i < JOBTYPE_COUNT; i++) {
		const struct jobtype *jt = jobtype_get(i);
		bool on = jt->enabled_by_default;
		/* an enable_key the config table lacks leaves the default (test-jobtype rules it out) */
		if (jt->enable_key)
			config_get_bool(cfg, "worker", jt->enable_key, &on);
		handlers[i] = (struct handler){ jt->name, fns[i], fns[i] && on, needs_files[i] };
	}
}

const struct handler *handler_find(const char *type)
{
	const struct jobtype *jt = jobtype_find(type);
	return jt && handlers[jt->id].enabled ? &handlers[jt->id] : NULL;
}

int handler_fail(struct handler_result *res, const char *code, bool permanent, const char *fmt, ...)
{
	va_list ap;

	snprintf(res->code, sizeof(res->code), "%s", code);
	res->permanent = permanent;
	buf_reset(&res->message);
	va_start(ap, fmt);
	buf_vprintf(&res->message, fmt, ap);
	va_end(ap);
	return HANDLER_FAIL;
}

int handler_s3_fail(struct handler_result *res, const char *what, const struct aws_error *ae)
{
	struct buf msg = BUF_INIT;

	aws_error_format(ae, &msg);
	bool transient = ae->transient || ae->status == 0 || ae->status >= 500 || ae->status == 429;
	handler_fail(res, "storage_error", !transient, "%s: %s", what, buf_str(&msg));
	buf_release(&msg);
	return HANDLER_FAIL;
}

/*
 * Promise `size` bytes of tmpdir to a download if the file system has them free
 * with tmpdir_reserve to spare, counting the downloads under way as used; else
 * fail the job as transient (no_space): another worker, or this one later, may
 * have room. The caller gives the promise back with atomic_fetch_sub.
 */
int handlers_free_bytes(const char *dir, int64_t *out)
{
	struct statvfs sv;
	if (statvfs(dir, &sv) != 0)
		return -1;
	unsigned long long free_bytes = (unsigned long long)sv.f_bavail * sv.f_frsize;
	*out = free_bytes > INT64_MAX ? INT64_MAX : (int64_t)free_bytes;
	return 0;
}

static int space_promise(struct handler_ctx *ctx, int64_t size, struct handler_result *res)
{
	int64_t avail;
	if (handlers_free_bytes(ctx->tmpdir, &avail) != 0)
		return handler_fail(res, "internal", false, "cannot read the free space of '%s': %s", ctx->tmpdir,
				    strerror(errno));
	int64_t reserve = ctx->cfg->worker.tmpdir_reserve;
	int64_t promised = atomic_fetch_add(&downloading, size);
	if (avail - promised - reserve >= size)
		return HANDLER_OK;
	atomic_fetch_sub(&downloading, size);
	return handler_fail(res, "no_space", false,
			    "not enough free space in '%s' for the source: %lld bytes free, %lld of them promised to "
			    "downloads under way; the job needs %lld (its source) + %lld ([worker] tmpdir_reserve)",
			    ctx->cfg->worker.tmpdir, (long long)avail, (long long)promised, (long long)size,
			    (long long)reserve);
}

/*
 * The source's size comes first, from a HEAD: over max_source_size the job fails
 * for good and nothing is downloaded; then the space check; then the download,
 * which stops should the object be longer than the HEAD said.
 */
int handler_fetch_source(struct handler_ctx *ctx, struct buf *path, struct handler_result *res)
{
	const char *key = json_string_value(json_object_get(ctx->job->source, "key"));
	struct aws_error ae;
	struct s3_object obj;

	if (!key || !*key)
		return handler_fail(res, "invalid_source", true, "the job has no source key");
	memset(&ae, 0, sizeof(ae));
	int rc = s3_head(ctx->s3, key, &obj, &ae);
	free(obj.key);
	if (rc == 1)
		return handler_fail(res, "source_not_found", true, "source '%s' does not exist", key);
	if (rc < 0)
		return handler_s3_fail(res, "cannot read the size of the source", &ae);
	int64_t max = ctx->cfg->worker.max_source_size;
	if (obj.size > max)
		return handler_fail(res, "source_too_large", true, "the source '%s' is %lld bytes, over the limit of %lld",
				    key, (long long)obj.size, (long long)max);
	if (space_promise(ctx, obj.size, res) < 0)
		return HANDLER_FAIL;
	buf_reset(path);
	buf_printf(path, "%s/source", ctx->tmpdir);
	/* (a limit of 0 would be none: an empty source may grow by one byte at most) */
	rc = s3_get_file(ctx->s3, key, buf_str(path), obj.size > 0 ? obj.size : 1, &ae);
	atomic_fetch_sub(&downloading, obj.size);
	if (rc < 0) {
		if (ae.status == 404)
			return handler_fail(res, "source_not_found", true, "source '%s' does not exist", key);
		return handler_s3_fail(res, "cannot download the source", &ae);
	}
	return HANDLER_OK;
}

/* Lease lost, shutdown, or a cancel request the heartbeat read from the job. */
bool handler_cancelled(void *data)
{
	const atomic_int *abort = data;
	return atomic_load(abort) != HANDLER_RUN;
}

void handler_redact(struct handler_result *res, const char *tmpdir)
{
	struct buf source = BUF_INIT, files = BUF_INIT;
	buf_printf(&source, "%s/source", tmpdir);
	buf_printf(&files, "%s/", tmpdir);
	const struct fftool_path paths[] = { { buf_str(&source), "the source" }, { buf_str(&files), "the output" },
					     { tmpdir, "the job's temporary directory" }, { NULL, NULL } };
	fftool_redact(&res->message, paths);
	buf_release(&source);
	buf_release(&files);
}

void handler_result_release(struct handler_result *res)
{
	json_decref(res->result);
	res->result = NULL;
	buf_release(&res->message);
}

/*
 * noop: nothing to do once claimed but wait params.duration_ms (at most
 * JOBTYPE_NOOP_MAX_MS, checked at submission), in steps that see an abort.
 */
int handler_noop(struct handler_ctx *ctx, struct handler_result *res)
{
	const json_t *d = json_object_get(ctx->job->params, "duration_ms");
	json_int_t ms = json_is_integer(d) ? json_integer_value(d) : 0;
	if (ms > JOBTYPE_NOOP_MAX_MS)
		ms = JOBTYPE_NOOP_MAX_MS;
	double until = clock_now_s() + (double)ms / 1000.0;
	for (double now = clock_now_s(); now < until; now = clock_now_s()) {
		if (handler_cancelled((void *)(uintptr_t)ctx->abort))
			return handler_fail(res, "cancelled", false, "stopped while waiting");
		double left = until - now;
		daemon_sleep_ms(left > 0.1 ? 100 : (int)(left * 1000) + 1);
	}
	res->result = json_object();
	return HANDLER_OK;
}
