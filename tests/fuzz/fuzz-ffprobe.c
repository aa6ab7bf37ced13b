/*
 * fuzz-ffprobe — what the worker reads of FFmpeg's programs: ffprobe's JSON
 * report (fftool_probe_parse, then transcode_probe_parse as the transcode engine
 * reads it, checking that what it keeps is sane: sizes and indexes not negative,
 * a finite duration, strings that JSON can carry in the job's metadata, a frame
 * rate ffmpeg accepts), and stderr as fftool_err_tail words it, which must not
 * show the local paths it was told to hide.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fftool.h"
#include "proc.h"
#include "transcode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string field the job's metadata can carry: NUL-terminated, valid UTF-8. */
static int is_json_string(const char *s, size_t cap)
{
	if (!memchr(s, '\0', cap))
		return 0;
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

static void check_probe(const struct transcode_probe *pb)
{
	unsigned num, den;
	char rest;
	if (pb->width < 0 || pb->height < 0 || pb->video_index < -1 || pb->audio_index < -1 ||
	    !isfinite(pb->duration) || pb->duration < 0.0 || !is_json_string(pb->codec, sizeof(pb->codec)) ||
	    !is_json_string(pb->pix_fmt, sizeof(pb->pix_fmt)) || !memchr(pb->fps, '\0', sizeof(pb->fps)))
		abort();
	/* size, names and frame rate come with the video stream */
	if (pb->video_index < 0) {
		if (*pb->fps || pb->width || pb->height || *pb->codec || *pb->pix_fmt)
			abort();
	} else if (strcmp(pb->fps, "25") != 0 &&
		   (sscanf(pb->fps, "%u/%u%c", &num, &den, &rest) != 2 || den == 0 || num < den || num > 120.0 * den))
		abort();
}

static void probe(const uint8_t *data, size_t size)
{
	char *x = size ? xmalloc(size) : NULL;
	if (size)
		memcpy(x, data, size);
	json_t *root;
	struct buf err = BUF_INIT;
	if (fftool_probe_parse(x, size, "the source", &root, &err) == 0) {
		if (!json_is_object(root) || err.len)
			abort();
		struct transcode_probe pb;
		transcode_probe_parse(root, &pb);
		check_probe(&pb);
		json_decref(root);
	} else if (root || !err.len) {
		abort();
	}
	buf_release(&err);
	free(x);
}

static void err_tail(const uint8_t *data, size_t size)
{
	static const struct fftool_path paths[] = {
		{ "/w/job/source", "the source" },
		{ "/w/job/", "the job's directory" },
		{ NULL, NULL },
	};
	struct proc_result pr;
	memset(&pr, 0, sizeof(pr));
	buf_add(&pr.err_tail, data, size);
	struct buf msg = BUF_INIT;
	fftool_err_tail(&msg, &pr, paths);
	if (strstr(buf_str(&msg), "/w/job/") || strchr(buf_str(&msg), '\n'))
		abort();
	buf_release(&msg);
	proc_result_release(&pr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	probe(data, size);
	err_tail(data, size);
	return 0;
}
