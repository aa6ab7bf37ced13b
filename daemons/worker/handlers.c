/*
 * handlers — the registry of job types. See handlers.h.
 */
#include <stdio.h>
#include <string.h>

#include "fftool.h"
#include "handlers.h"
#include "s3.h"

/* The function of each job type of jobtype.h's table; NULL: this worker has none. */
static const handler_fn fns[JOBTYPE_COUNT] = {
	[JOBTYPE_VIDEO_TRANSCODE] = handler_transcode,
	[JOBTYPE_MEDIA_PROBE] = handler_probe,
	[JOBTYPE_NOOP] = handler_noop,
};

static struct handler handlers[JOBTYPE_COUNT]; /* by enum jobtype_id, set by handlers_init */

void handlers_init(const struct config *cfg)
{
	for (int i = 0; i < JOBTYPE_COUNT; i++) {
		const struct jobtype *jt = jobtype_get(i);
		int on = jt->enabled_by_default;
		/* an enable_key the config table lacks leaves the default (test-jobtype rules it out) */
		if (jt->enable_key)
			config_get_bool(cfg, "worker", jt->enable_key, &on);
		handlers[i] = (struct handler){ jt->name, fns[i], fns[i] && on };
	}
}

const struct handler *handler_find(const char *type)
{
	const struct jobtype *jt = jobtype_find(type);
	return jt && handlers[jt->id].enabled ? &handlers[jt->id] : NULL;
}

int handler_fail(struct handler_result *res, const char *code, int permanent, const char *fmt, ...)
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
	int transient = ae->transient || ae->status == 0 || ae->status >= 500 || ae->status == 429;
	handler_fail(res, "storage_error", !transient, "%s: %s", what, buf_str(&msg));
	buf_release(&msg);
	return HANDLER_FAIL;
}

int handler_fetch_source(struct handler_ctx *ctx, struct buf *path, struct handler_result *res)
{
	const char *key = json_string_value(json_object_get(ctx->job->source, "key"));
	struct aws_error ae;

	if (!key || !*key)
		return handler_fail(res, "invalid_source", 1, "the job has no source key");
	buf_reset(path);
	buf_printf(path, "%s/source", ctx->tmpdir);
	memset(&ae, 0, sizeof(ae));
	if (s3_get_file(ctx->s3, key, buf_str(path), &ae) < 0) {
		if (ae.status == 404)
			return handler_fail(res, "source_not_found", 1, "source '%s' does not exist", key);
		return handler_s3_fail(res, "cannot download the source", &ae);
	}
	return HANDLER_OK;
}

/* Lease lost, shutdown, or a cancel request the heartbeat read from the job. */
int handler_cancelled(void *data)
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

/* noop: nothing to do once claimed; for health checks and benchmarks. */
int handler_noop(struct handler_ctx *ctx, struct handler_result *res)
{
	(void)ctx;
	res->result = json_object();
	return HANDLER_OK;
}
