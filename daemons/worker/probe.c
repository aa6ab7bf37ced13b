/*
 * media.probe — a JSON report of a source (container, streams, duration, codecs,
 * resolution, bit rate) made with ffprobe and stored in S3 as the job's result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fftool.h"
#include "handlers.h"
#include "log.h"
#include "s3.h"
#include "sigv4.h"

#define REPORT_TYPE "application/json"

/* ffprobe writes numbers as strings ("2.000000"); report them as JSON numbers. */
static json_t *num_real(json_t *s)
{
	if (json_is_number(s))
		return json_real(json_number_value(s));
	if (!json_is_string(s))
		return NULL;
	char *end;
	double v = strtod(json_string_value(s), &end);
	return end != json_string_value(s) && *end == '\0' ? json_real(v) : NULL;
}

static json_t *num_int(json_t *s)
{
	if (json_is_integer(s))
		return json_integer(json_integer_value(s));
	if (!json_is_string(s))
		return NULL;
	char *end;
	long long v = strtoll(json_string_value(s), &end, 10);
	return end != json_string_value(s) && *end == '\0' ? json_integer(v) : NULL;
}

/* "30000/1001" -> 29.97 */
static json_t *num_rate(json_t *s)
{
	if (!json_is_string(s))
		return NULL;
	double n, d;
	if (sscanf(json_string_value(s), "%lf/%lf", &n, &d) != 2 || d == 0)
		return NULL;
	return json_real(n / d);
}

static void put(json_t *o, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(o, key, v);
}

static void copy(json_t *to, const char *key, json_t *from, const char *from_key)
{
	json_t *v = json_object_get(from, from_key);
	if (v)
		json_object_set(to, key, v);
}

static json_t *stream_report(json_t *s)
{
	json_t *o = json_object();

	copy(o, "index", s, "index");
	copy(o, "codec_type", s, "codec_type");
	copy(o, "codec_name", s, "codec_name");
	copy(o, "codec_long_name", s, "codec_long_name");
	copy(o, "profile", s, "profile");
	copy(o, "width", s, "width");
	copy(o, "height", s, "height");
	copy(o, "pix_fmt", s, "pix_fmt");
	put(o, "frame_rate", num_rate(json_object_get(s, "avg_frame_rate")));
	put(o, "sample_rate", num_int(json_object_get(s, "sample_rate")));
	copy(o, "channels", s, "channels");
	copy(o, "channel_layout", s, "channel_layout");
	put(o, "bit_rate", num_int(json_object_get(s, "bit_rate")));
	put(o, "duration", num_real(json_object_get(s, "duration")));
	return o;
}

/* Build the report from ffprobe's JSON; NULL when there is no stream. */
static json_t *report_build(json_t *probe, long long size)
{
	json_t *fmt = json_object_get(probe, "format");
	json_t *streams = json_object_get(probe, "streams");

	if (!json_is_array(streams) || json_array_size(streams) == 0)
		return NULL;
	json_t *r = json_object();
	copy(r, "container", fmt, "format_name");
	copy(r, "container_long_name", fmt, "format_long_name");
	put(r, "duration", num_real(json_object_get(fmt, "duration")));
	put(r, "bit_rate", num_int(json_object_get(fmt, "bit_rate")));
	json_object_set_new(r, "size", json_integer(size));
	json_t *arr = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(streams, i, s)
		json_array_append_new(arr, stream_report(s));
	json_object_set_new(r, "streams", arr);
	return r;
}

/* Result metadata: duration and the first video (else audio) stream's facts. */
static json_t *meta_build(json_t *report)
{
	json_t *meta = json_object(), *video = NULL, *audio = NULL, *s;
	size_t i;

	copy(meta, "duration", report, "duration");
	copy(meta, "container", report, "container");
	json_array_foreach(json_object_get(report, "streams"), i, s) {
		const char *t = json_string_value(json_object_get(s, "codec_type"));
		if (t && !video && strcmp(t, "video") == 0)
			video = s;
		if (t && !audio && strcmp(t, "audio") == 0)
			audio = s;
	}
	if (video) {
		copy(meta, "width", video, "width");
		copy(meta, "height", video, "height");
		copy(meta, "codec", video, "codec_name");
	} else if (audio) {
		copy(meta, "codec", audio, "codec_name");
	}
	if (audio)
		copy(meta, "audio_codec", audio, "codec_name");
	return meta;
}

/* Run ffprobe on the source at `path`; its JSON report into *out, or a failure in `res`. */
static int ffprobe(struct handler_ctx *ctx, const char *path, json_t **out, struct handler_result *res)
{
	const struct config *cfg = ctx->cfg;
	struct fftool_probe_opts o = { cfg->worker.ffprobe, cfg->worker.probe_timeout, handler_cancelled,
				       (void *)(uintptr_t)ctx->abort };
	struct buf err = BUF_INIT;
	const char *code;
	int rc = HANDLER_OK;

	if (fftool_probe(&o, path, "the source", out, &code, &err) < 0)
		rc = handler_fail(res, code, strcmp(code, "invalid_media") == 0, "%s", buf_str(&err));
	buf_release(&err);
	return rc;
}

int handler_probe(struct handler_ctx *ctx, struct handler_result *res)
{
	const struct job *job = ctx->job;
	struct aws_error ae;
	struct buf path = BUF_INIT, rkey = BUF_INIT;
	json_t *probe = NULL, *report = NULL;
	char *text = NULL;
	int rc = HANDLER_FAIL;

	if (handler_fetch_source(ctx, &path, res) < 0)
		goto done;
	struct stat st;
	if (stat(buf_str(&path), &st) < 0) {
		handler_fail(res, "internal", false, "cannot stat the downloaded source: %s", strerror(errno));
		goto done;
	}
	if (ffprobe(ctx, buf_str(&path), &probe, res) < 0)
		goto done;
	report = report_build(probe, (long long)st.st_size);
	if (!report) {
		handler_fail(res, "invalid_media", true, "the source has no audio or video stream");
		goto done;
	}

	text = json_dumps(report, JSON_INDENT(2));
	size_t len = strlen(text);
	char sha[65];
	sigv4_sha256_hex(text, len, sha);
	buf_printf(&rkey, "results/%s/probe.json", job->id);
	memset(&ae, 0, sizeof(ae));
	if (s3_put_buffer(ctx->s3, buf_str(&rkey), text, len, REPORT_TYPE, &ae) < 0) {
		handler_s3_fail(res, "cannot store the report", &ae);
		goto done;
	}
	res->result = json_pack("{s:s, s:I, s:s, s:s, s:o}", "key", buf_str(&rkey), "size", (json_int_t)len,
				"sha256", sha, "content_type", REPORT_TYPE, "meta", meta_build(report));
	rc = HANDLER_OK;
done:
	free(text);
	json_decref(probe);
	json_decref(report);
	buf_release(&path);
	buf_release(&rkey);
	return rc;
}
