/*
 * video.transcode — fetch the source, run the transcode engine (transcode.h),
 * upload the clip and its thumbnail to results/{job_id}/ and describe them in
 * the job's result.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "handlers.h"
#include "log.h"
#include "s3.h"
#include "transcode.h"
#include "videoparams.h"
#include "sigv4.h"

#define VIDEO_TYPE "video/mp4"
#define THUMB_TYPE "image/jpeg"

/* sha256 (hex) and size of the file at `path`; -1 with errno on a read error. */
static int file_digest(const char *path, char hex[65], long long *size)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	int64_t n = 0;
	int rc = sigv4_sha256_file(fp, 0, -1, hex, &n);
	fclose(fp);
	if (rc < 0) {
		errno = EIO;
		return -1;
	}
	*size = (long long)n;
	return 0;
}

static void on_progress(int percent, void *data)
{
	struct handler_ctx *ctx = data;

	if (ctx->progress)
		ctx->progress(percent, ctx->progress_data);
}

static bool on_cancel(void *data)
{
	struct handler_ctx *ctx = data;

	return handler_cancelled((void *)(uintptr_t)ctx->abort);
}

/* Upload WORKDIR/name to results/{id}/name; its key into `key`. */
static int upload(struct handler_ctx *ctx, const char *name, const char *type, struct buf *key,
		  struct handler_result *res)
{
	struct buf path = BUF_INIT, what = BUF_INIT;
	struct aws_error ae;
	int rc = HANDLER_OK;

	buf_printf(&path, "%s/%s", ctx->tmpdir, name);
	buf_reset(key);
	buf_printf(key, "results/%s/%s", ctx->job->id, name);
	memset(&ae, 0, sizeof(ae));
	if (s3_put_file(ctx->s3, buf_str(key), buf_str(&path), type, &ae) < 0) {
		buf_printf(&what, "cannot store '%s'", buf_str(key));
		rc = handler_s3_fail(res, buf_str(&what), &ae);
	}
	buf_release(&path);
	buf_release(&what);
	return rc;
}

int handler_transcode(struct handler_ctx *ctx, struct handler_result *res)
{
	const struct config *cfg = ctx->cfg;
	struct video_params vp;
	struct buf field = BUF_INIT, msg = BUF_INIT, src = BUF_INIT, vkey = BUF_INIT, tkey = BUF_INIT,
		   vpath = BUF_INIT, tpath = BUF_INIT;
	struct transcode_result tr = { 0 };
	int rc = HANDLER_FAIL;

	if (videoparams_parse(ctx->job->params, &vp, &field, &msg) < 0) {
		handler_fail(res, "invalid", true, "params: '%s' %s", buf_str(&field), buf_str(&msg));
		goto done;
	}
	if (handler_fetch_source(ctx, &src, res) < 0)
		goto done;

	struct transcode_opts o = { 0 };
	o.ffmpeg = cfg->worker.ffmpeg;
	o.ffprobe = cfg->worker.ffprobe;
	o.threads = (int)cfg->worker.ffmpeg_threads;
	o.timeout = cfg->worker.transcode_timeout;
	o.probe_timeout = cfg->worker.probe_timeout;
	o.logo = cfg->worker.logo && *cfg->worker.logo ? cfg->worker.logo : NULL;
	o.progress = on_progress;
	o.cancel = on_cancel;
	o.data = ctx;
	buf_reset(&msg);
	if (transcode_run(&o, buf_str(&src), ctx->tmpdir, &vp, &tr, &msg) < 0) {
		handler_fail(res, tr.error_code ? tr.error_code : "internal", tr.permanent, "%s", buf_str(&msg));
		goto done;
	}
	/* the source is not needed any more: free its disk space before uploading */
	remove(buf_str(&src));

	char sha[65];
	long long vsize = 0;
	struct stat st;
	buf_printf(&vpath, "%s/%s", ctx->tmpdir, TRANSCODE_VIDEO);
	buf_printf(&tpath, "%s/%s", ctx->tmpdir, TRANSCODE_THUMB);
	if (file_digest(buf_str(&vpath), sha, &vsize) < 0 || stat(buf_str(&tpath), &st) < 0) {
		handler_fail(res, "internal", false, "cannot read the transcoded output: %s", strerror(errno));
		goto done;
	}
	if (upload(ctx, TRANSCODE_VIDEO, VIDEO_TYPE, &vkey, res) < 0 ||
	    upload(ctx, TRANSCODE_THUMB, THUMB_TYPE, &tkey, res) < 0)
		goto done;
	res->result = json_pack("{s:s, s:I, s:s, s:s, s:{s:{s:s, s:I}}, s:O}", "key", buf_str(&vkey), "size",
				(json_int_t)vsize, "sha256", sha, "content_type", VIDEO_TYPE, "outputs", "thumbnail",
				"key", buf_str(&tkey), "size", (json_int_t)st.st_size, "meta",
				tr.meta ? tr.meta : json_null());
	if (!res->result) {
		handler_fail(res, "internal", false, "cannot build the job's result");
		goto done;
	}
	rc = HANDLER_OK;
done:
	transcode_result_release(&tr);
	buf_release(&field);
	buf_release(&msg);
	buf_release(&src);
	buf_release(&vkey);
	buf_release(&tkey);
	buf_release(&vpath);
	buf_release(&tpath);
	return rc;
}
