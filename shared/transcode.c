/* transcode — the video.transcode engine: ffprobe validation, ffmpeg encode, thumbnail, meta. */
#include "transcode.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fftool.h"
#include "proc.h"

#define PRESET_DEFAULT "veryfast"
#define CRF_DEFAULT 23
#define LOGO_DEMUXER "png_pipe"  /* the logo is a PNG */
#define OUTPUT_DEMUXER "mov"     /* what reads back our MP4 */

/* A growable NULL-terminated argument vector owning its strings. */
struct args {
	char **v;
	size_t n, cap;
};

/* State of one ffmpeg encode, for the -progress callback. */
struct progress {
	const struct transcode_opts *o;
	double total;                /* expected output seconds */
	int last_pct;
	int64_t last_ms;
};

/* Decoding failures that mean the input itself is broken, not the machine. */
static const char *const invalid_input_markers[] = {
	"Invalid data found when processing input",
	"moov atom not found",
	"could not find codec parameters",
	"does not contain any stream",
	"Error while decoding stream",
	"Invalid NAL unit size",
	"Output file is empty, nothing was encoded",
	"Stream map '' matches no streams",
};

static void args_add(struct args *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

__attribute__((format(printf, 2, 3)))
static void args_addf(struct args *a, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	args_add(a, buf_str(&b));
	buf_release(&b);
}

/* Add each string argument up to a NULL. */
__attribute__((sentinel))
static void args_list(struct args *a, ...)
{
	va_list ap;
	va_start(ap, a);
	for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
		args_add(a, s);
	va_end(ap);
}

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static const char *const *args_argv(const struct args *a)
{
	return (const char *const *)a->v;
}

static int fail(struct transcode_result *r, const char *code, bool permanent)
{
	r->error_code = code;
	r->permanent = permanent;
	return -1;
}

/*
 * Map a run of ffmpeg that did not succeed to a result code; `what` names the
 * step, `paths` the files it was given (their names replace them in `err`).
 */
static int fail_run(struct transcode_result *r, struct buf *err, const struct proc_result *pr,
		    const char *what, const struct fftool_path *paths, const char *code, bool permanent)
{
	buf_printf(err, "%s ", what);
	proc_describe(pr, err);
	if (pr->timed_out)
		return fail(r, "timeout", false);
	if (pr->cancelled)
		return fail(r, "cancelled", false);
	fftool_err_tail(err, pr, paths);
	return fail(r, code, permanent);
}

/* A frame rate for generated cards: the source's when sane, else 25. */
static void pick_fps(const char *rate, char *out, size_t n)
{
	unsigned num = 0, den = 0;
	snprintf(out, n, "25");
	if (rate && sscanf(rate, "%u/%u", &num, &den) == 2 && den > 0 && num > 0) {
		double f = (double)num / den;
		if (f >= 1.0 && f <= 120.0)
			snprintf(out, n, "%u/%u", num, den);
	}
}

/*
 * Copy the UTF-8 string `v` ("" when it is not a string) into dst[cap], cut
 * before the first character that does not fit whole: what is kept stays UTF-8
 * that the job's metadata (JSON) can carry.
 */
static void copy_utf8(char *dst, size_t cap, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	if (n >= cap) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, s ? s : "", n);
	dst[n] = '\0';
}

static double json_num_or_str(const json_t *v)
{
	if (json_is_number(v))
		return json_number_value(v);
	if (json_is_string(v))
		return strtod(json_string_value(v), NULL);
	return 0.0;
}

/* An integer in [0, INT_MAX], or -1 when `v` is not one (missing, negative, too large, not an integer). */
static int json_count(const json_t *v)
{
	json_int_t n = json_integer_value(v);
	return json_is_integer(v) && n >= 0 && n <= INT_MAX ? (int)n : -1;
}

void transcode_probe_parse(const json_t *root, struct transcode_probe *pb)
{
	memset(pb, 0, sizeof(*pb));
	pb->video_index = pb->audio_index = -1;
	const json_t *streams = json_object_get(root, "streams");
	size_t i;
	json_t *s;
	double vdur = 0.0;
	json_array_foreach(streams, i, s) {
		const char *type = json_string_value(json_object_get(s, "codec_type"));
		int index = json_count(json_object_get(s, "index"));
		if (!type || index < 0) /* a stream ffmpeg could not be told to map */
			continue;
		json_t *disp = json_object_get(s, "disposition");
		bool cover = json_integer_value(json_object_get(disp, "attached_pic")) != 0;
		if (strcmp(type, "video") == 0 && !cover && pb->video_index < 0) {
			pb->video_index = index;
			pb->width = json_count(json_object_get(s, "width"));
			pb->height = json_count(json_object_get(s, "height"));
			if (pb->width < 0 || pb->height < 0)
				pb->width = pb->height = 0; /* no usable picture size */
			copy_utf8(pb->codec, sizeof(pb->codec), json_object_get(s, "codec_name"));
			copy_utf8(pb->pix_fmt, sizeof(pb->pix_fmt), json_object_get(s, "pix_fmt"));
			const char *rate = json_string_value(json_object_get(s, "avg_frame_rate"));
			if (!rate || strncmp(rate, "0/", 2) == 0)
				rate = json_string_value(json_object_get(s, "r_frame_rate"));
			pick_fps(rate, pb->fps, sizeof(pb->fps));
			vdur = json_num_or_str(json_object_get(s, "duration"));
		} else if (strcmp(type, "audio") == 0 && pb->audio_index < 0) {
			pb->audio_index = index;
		}
	}
	json_t *format = json_object_get(root, "format");
	copy_utf8(pb->demuxer, sizeof(pb->demuxer), json_object_get(format, "format_name"));
	pb->demuxer[strcspn(pb->demuxer, ",")] = '\0'; /* the first name: "mov" of "mov,mp4,..." */
	pb->duration = json_num_or_str(json_object_get(format, "duration"));
	if (!(pb->duration > 0.0) && vdur > 0.0)
		pb->duration = vdur;
	if (!isfinite(pb->duration) || pb->duration < 0.0)
		pb->duration = 0.0;
}

/*
 * Run ffprobe on `path`, which messages call `name`. A run that fails (the file
 * is not media) or a report that does not parse is reported with
 * `bad_code`/`bad_permanent`.
 */
static int probe_run(const struct transcode_opts *o, const char *path, const char *name,
		     struct transcode_probe *pb, const char *bad_code, bool bad_permanent,
		     struct transcode_result *r, struct buf *err)
{
	struct fftool_probe_opts po = { o->ffprobe, o->probe_timeout, o->cancel, o->data };
	const char *code;
	json_t *root;
	if (fftool_probe(&po, path, name, &root, &code, err) != 0) {
		if (strcmp(code, "invalid_media") == 0)
			return fail(r, bad_code, bad_permanent);
		return fail(r, code, false);
	}
	transcode_probe_parse(root, pb);
	json_decref(root);
	return 0;
}

/* ffmpeg -progress lines: "out_time_us=1234567", "progress=end". */
static void progress_line(const char *line, void *data)
{
	struct progress *pg = data;
	if (!pg->o->progress || strncmp(line, "out_time_us=", 12) != 0)
		return;
	char *end;
	long long us = strtoll(line + 12, &end, 10);
	if (end == line + 12 || us < 0 || !(pg->total > 0.0))
		return;
	double pct = (double)us / 1e6 / pg->total * 100.0;
	int p = pct >= 99.0 ? 99 : (int)pct; /* 100 is for when everything is done */
	int64_t now = clock_now_ms();
	if (p > pg->last_pct && now - pg->last_ms >= 1000) {
		pg->last_pct = p;
		pg->last_ms = now;
		pg->o->progress(p, pg->o->data);
	}
}

/* The filter graph: scale to fit, pad, watermark, bumpers; outputs [v] and maybe [a]. */
static void build_graph(struct buf *g, const struct video_params *p, const struct transcode_probe *src,
			bool watermark, bool bumpers, bool audio)
{
	int W = p->width, H = p->height;
	int logo_h = H / 12 < 8 ? 8 : H / 12;  /* 60 px at 720p */
	int margin = H / 36;                   /* 20 px at 720p */
	int card_h = H / 3;

	buf_printf(g, "[0:%d]scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2,"
		   "pad=%d:%d:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1",
		   src->video_index, W, H, W, H);
	if (bumpers)
		buf_printf(g, ",fps=%s", src->fps);
	buf_adds(g, watermark ? "[base];" : ",format=yuv420p[main];");
	int copies = (watermark ? 1 : 0) + (bumpers ? 2 : 0);
	if (copies > 1)
		buf_printf(g, "[1:v]split=%d%s;", copies, watermark ? "[lw][lb1][lb2]" : "[lb1][lb2]");
	else if (copies == 1)
		buf_printf(g, "[1:v]null%s;", watermark ? "[lw]" : "[lb1]");
	if (watermark)
		buf_printf(g, "[lw]scale=-1:%d[wm];[base][wm]overlay=W-w-%d:H-h-%d,format=yuv420p[main];",
			   logo_h, margin, margin);
	if (audio)
		buf_printf(g, "[0:%d]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[amain];",
			   src->audio_index);
	if (!bumpers) {
		/* Rename the outputs so the maps are always [v] and [a]. */
		buf_adds(g, "[main]null[v]");
		if (audio)
			buf_adds(g, ";[amain]anull[a]");
		return;
	}
	for (int i = 1; i <= 2; i++) {
		buf_printf(g, "color=c=black:s=%dx%d:r=%s:d=%.3f,setsar=1[bg%d];"
			   "[lb%d]scale=-1:%d[card%d];"
			   "[bg%d][card%d]overlay=(W-w)/2:(H-h)/2,format=yuv420p[bv%d];",
			   W, H, src->fps, TRANSCODE_BUMPER_SECONDS, i, i, card_h, i, i, i, i);
		if (audio)
			buf_printf(g, "anullsrc=r=48000:cl=stereo,atrim=duration=%.3f,"
				   "aformat=sample_fmts=fltp[ba%d];", TRANSCODE_BUMPER_SECONDS, i);
	}
	if (audio)
		buf_adds(g, "[bv1][ba1][main][amain][bv2][ba2]concat=n=3:v=1:a=1[v][a]");
	else
		buf_adds(g, "[bv1][main][bv2]concat=n=3:v=1:a=0[v]");
}

/* Is the failure of ffmpeg the input's fault (found only while decoding)? */
static bool input_was_bad(const struct proc_result *pr)
{
	const char *tail = buf_str(&pr->err_tail);
	for (size_t i = 0; i < sizeof(invalid_input_markers) / sizeof(invalid_input_markers[0]); i++)
		if (strstr(tail, invalid_input_markers[i]))
			return true;
	return false;
}

static void join(struct buf *b, const char *dir, const char *name)
{
	buf_reset(b);
	buf_printf(b, "%s/%s", dir, name);
}

/* Run ffmpeg with `a`; `pg` (may be NULL) receives -progress lines on fd 3. */
static int ffmpeg_run(const struct transcode_opts *o, struct args *a, int64_t timeout_s,
		      struct progress *pg, const char *what, const struct fftool_path *paths,
		      struct transcode_result *r, struct buf *err)
{
	struct proc_opts po = { 0 };
	po.timeout_ms = timeout_s * 1000;
	po.cancel = o->cancel;
	po.cancel_data = o->data;
	po.err_lines = FFTOOL_ERR_LINES;
	if (pg) {
		po.extra_fd = 3;
		po.on_line = progress_line;
		po.line_data = pg;
	}
	struct proc_result pr;
	int rc = proc_run(args_argv(a), &po, &pr, err);
	if (rc != 0)
		return fail(r, "internal", false);
	if (!proc_ok(&pr)) {
		bool bad = !pr.timed_out && !pr.cancelled && input_was_bad(&pr);
		rc = fail_run(r, err, &pr, what, paths, bad ? "invalid_media" : "ffmpeg_failed", bad);
	}
	proc_result_release(&pr);
	return rc;
}

static void args_ffmpeg(struct args *a, const struct transcode_opts *o)
{
	args_list(a, o->ffmpeg ? o->ffmpeg : "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
		  "error", "-y", NULL);
}

/*
 * Add the input `path`, opened as `demuxer` only (forced, and the one format
 * allowed) from the local file alone, without the mov demuxer's external data
 * references: see fftool.h.
 */
static void args_input(struct args *a, const char *demuxer, const char *path)
{
	args_list(a, "-protocol_whitelist", "file", "-format_whitelist", demuxer, "-f", demuxer, NULL);
	if (strcmp(demuxer, "mov") == 0)
		args_list(a, "-enable_drefs", "0", NULL);
	args_add(a, "-i");
	args_addf(a, "file:%s", path);
}

/* Step 2: the encode into `out` (a temporary name). */
static int encode(const struct transcode_opts *o, const char *input, const char *out,
		  const struct video_params *p, const struct transcode_probe *src, bool watermark,
		  bool bumpers, bool audio, struct transcode_result *r, struct buf *err)
{
	struct args a = { 0 };
	struct buf graph = BUF_INIT;
	char t[32], crf[16], threads[16];
	snprintf(t, sizeof(t), "%.3f", p->max_duration);
	snprintf(crf, sizeof(crf), "%d", o->crf > 0 ? o->crf : CRF_DEFAULT);
	snprintf(threads, sizeof(threads), "%d", o->threads > 0 ? o->threads : 0);

	args_ffmpeg(&a, o);
	args_list(&a, "-t", t, NULL); /* the cut is on the input: bumpers come on top */
	args_input(&a, src->demuxer, input);
	if (watermark || bumpers)
		args_input(&a, LOGO_DEMUXER, o->logo);
	build_graph(&graph, p, src, watermark, bumpers, audio);
	args_list(&a, "-filter_complex", buf_str(&graph), "-map", "[v]", NULL);
	if (audio)
		args_list(&a, "-map", "[a]", "-c:a", "aac", "-b:a", "128k", NULL);
	else
		args_add(&a, "-an");
	args_list(&a, "-sn", "-dn", "-map_metadata", "-1",
		  "-c:v", "libx264", "-preset", o->preset ? o->preset : PRESET_DEFAULT, "-crf", crf,
		  "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-threads", threads,
		  "-progress", "pipe:3", "-nostats", "-f", "mp4", NULL);
	args_addf(&a, "file:%s", out);

	struct progress pg = { o, fmin(src->duration, p->max_duration) +
				      (bumpers ? 2 * TRANSCODE_BUMPER_SECONDS : 0.0), 0, clock_now_ms() };
	const struct fftool_path paths[] = { { input, "the source" }, { out, "the output" },
					     { o->logo, "the logo" }, { NULL, NULL } };
	int rc = ffmpeg_run(o, &a, o->timeout, &pg, "ffmpeg", paths, r, err);
	buf_release(&graph);
	args_free(&a);
	return rc;
}

/* Step 3: one frame of the result at `at` seconds as a JPEG. */
static int thumbnail(const struct transcode_opts *o, const char *video, const char *out, double at,
		     struct transcode_result *r, struct buf *err)
{
	struct args a = { 0 };
	args_ffmpeg(&a, o);
	char ss[32];
	snprintf(ss, sizeof(ss), "%.3f", at);
	args_list(&a, "-ss", ss, NULL);
	args_input(&a, OUTPUT_DEMUXER, video);
	args_list(&a, "-frames:v", "1", "-q:v", "3", "-f", "image2", "-update", "1", NULL);
	args_addf(&a, "file:%s", out);
	const struct fftool_path paths[] = { { video, "the output" }, { out, "the thumbnail" }, { NULL, NULL } };
	int rc = ffmpeg_run(o, &a, o->probe_timeout > 0 ? o->probe_timeout : FFTOOL_PROBE_TIMEOUT, NULL,
			    "thumbnail", paths, r, err);
	args_free(&a);
	return rc;
}

static json_t *meta_json(const struct transcode_probe *out, const struct transcode_probe *src,
			 bool watermark, bool bumpers)
{
	return json_pack("{s:f, s:i, s:i, s:s, s:s, s:b, s:b, s:b, s:{s:f, s:i, s:i, s:b}}",
			 "duration", out->duration, "width", out->width, "height", out->height,
			 "codec", out->codec, "pix_fmt", out->pix_fmt, "has_audio",
			 out->audio_index >= 0, "watermark", watermark, "bumpers", bumpers,
			 "source", "duration", src->duration, "width", src->width, "height",
			 src->height, "has_audio", src->audio_index >= 0);
}

int transcode_run(const struct transcode_opts *o, const char *input, const char *workdir,
		  const struct video_params *p, struct transcode_result *r, struct buf *err)
{
	memset(r, 0, sizeof(*r));
	struct transcode_probe src, res;
	if (probe_run(o, input, "the source", &src, "invalid_media", true, r, err) != 0)
		return -1;
	if (src.video_index < 0) {
		buf_adds(err, "invalid media: no video stream");
		return fail(r, "invalid_media", true);
	}
	if (!(src.duration > 0.0)) {
		buf_adds(err, "invalid media: zero or unknown duration");
		return fail(r, "invalid_media", true);
	}
	if (src.width <= 0 || src.height <= 0) {
		buf_adds(err, "invalid media: video stream without a picture size");
		return fail(r, "invalid_media", true);
	}

	bool logo = o->logo && *o->logo && access(o->logo, R_OK) == 0;
	bool watermark = p->watermark && logo;
	bool bumpers = p->bumpers && logo;
	bool audio = p->audio && src.audio_index >= 0;

	struct buf tmp_video = BUF_INIT, tmp_thumb = BUF_INIT, video = BUF_INIT, thumb = BUF_INIT;
	join(&tmp_video, workdir, "video.part.mp4");
	join(&tmp_thumb, workdir, "thumb.part.jpg");
	join(&video, workdir, TRANSCODE_VIDEO);
	join(&thumb, workdir, TRANSCODE_THUMB);
	unlink(video.data);
	unlink(thumb.data);

	int rc = -1;
	if (o->progress)
		o->progress(0, o->data);
	if (encode(o, input, tmp_video.data, p, &src, watermark, bumpers, audio, r, err) != 0)
		goto out;
	double main_len = fmin(src.duration, p->max_duration);
	double at = (bumpers ? TRANSCODE_BUMPER_SECONDS : 0.0) + fmin(1.0, main_len / 2.0);
	if (thumbnail(o, tmp_video.data, tmp_thumb.data, at, r, err) != 0)
		goto out;
	if (probe_run(o, tmp_video.data, "the output", &res, "internal", false, r, err) != 0)
		goto out;
	if (res.video_index < 0 || access(tmp_thumb.data, R_OK) != 0) {
		buf_adds(err, "ffmpeg wrote no usable output");
		fail(r, "internal", false);
		goto out;
	}
	if (rename(tmp_video.data, video.data) != 0 || rename(tmp_thumb.data, thumb.data) != 0) {
		buf_printf(err, "cannot rename the output: %s", strerror(errno));
		fail(r, "internal", false);
		unlink(video.data);
		goto out;
	}
	r->meta = meta_json(&res, &src, watermark, bumpers);
	if (o->progress)
		o->progress(100, o->data);
	rc = 0;
out:
	unlink(tmp_video.data);
	unlink(tmp_thumb.data);
	buf_release(&tmp_video);
	buf_release(&tmp_thumb);
	buf_release(&video);
	buf_release(&thumb);
	return rc;
}

void transcode_result_release(struct transcode_result *r)
{
	json_decref(r->meta);
	r->meta = NULL;
}
