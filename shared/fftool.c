/* fftool — the ffprobe runner and the wording of FFmpeg programs' failures. See fftool.h. */
#include "fftool.h"

#include <stdbool.h>
#include <string.h>

/* What ends a file name after a directory entry's '/': what ffmpeg writes after a path. */
#define NAME_END " \t\n:;,'\"()[]"

/* What ffmpeg writes when -format_whitelist refuses a file, after "[DEMUXER @ 0x…]". */
#define NOT_ON_WHITELIST "] Format not on whitelist"

/*
 * The containers a tenant's file may be in: FFmpeg demuxers (one of the names
 * of each, as -format_whitelist matches them) that read the one file they are
 * given and nothing else, and how messages call them. Left out on purpose:
 * hls, dash, concat, sdp, rtsp, image2 and the image pipes, mxf, and every
 * other format that names further files or URLs.
 */
static const struct {
	const char *demuxer;
	const char *label;
} formats[] = {
	{ "mov", "mp4/mov" },          /* mov,mp4,m4a,3gp,3g2,mj2; external data references stay off */
	{ "matroska", "matroska/webm" },
	{ "mpegts", "mpeg-ts" },
	{ "mpeg", "mpeg-ps" },
	{ "avi", "avi" },
	{ "flv", "flv" },
	{ "asf", "asf/wmv" },
	{ "ogg", "ogg" },
	{ "mp3", "mp3" },
	{ "wav", "wav" },
	{ "flac", "flac" },
	{ "aac", "aac" },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

void fftool_formats_list(struct buf *b)
{
	for (size_t i = 0; i < NFORMATS; i++)
		buf_printf(b, "%s%s", i ? "," : "", formats[i].demuxer);
}

bool fftool_format_accepted(const char *format_name)
{
	const char *s = format_name;
	while (s && *s) {
		size_t n = strcspn(s, ",");
		for (size_t i = 0; i < NFORMATS; i++)
			if (strlen(formats[i].demuxer) == n && memcmp(formats[i].demuxer, s, n) == 0)
				return true;
		s += n;
		s += *s == ',';
	}
	return false;
}

void fftool_format_refused(struct buf *err, const char *name, const char *format)
{
	if (format && *format)
		buf_printf(err, "%s's format '%s' is not accepted (accepted: ", name, format);
	else
		buf_printf(err, "%s's format is not accepted (accepted: ", name);
	for (size_t i = 0; i < NFORMATS; i++)
		buf_printf(err, "%s%s", i ? ", " : "", formats[i].label);
	buf_addc(err, ')');
}

/*
 * The demuxer ffprobe refused for -format_whitelist, from its stderr line
 * "[hls @ 0x55…] Format not on whitelist '…'", into `out`; false when the
 * run did not end that way. `out` is left empty when the line has no name.
 */
static bool refused_format(const struct proc_result *pr, char *out, size_t n)
{
	const char *tail = buf_str(&pr->err_tail), *hit = strstr(tail, NOT_ON_WHITELIST);
	*out = '\0';
	if (!hit)
		return false;
	const char *bol = hit;
	while (bol > tail && bol[-1] != '\n')
		bol--;
	size_t len = *bol == '[' ? strspn(bol + 1, "abcdefghijklmnopqrstuvwxyz0123456789_,") : 0;
	if (len > 0 && len < n && strncmp(bol + 1 + len, " @ ", 3) == 0)
		snprintf(out, n, "%.*s", (int)len, bol + 1);
	return true;
}

/* Replace every occurrence of `p->path` (and "file:" before it) in `msg` by `p->name`. */
static void redact_one(struct buf *msg, const struct fftool_path *p)
{
	size_t plen = strlen(p->path);
	bool dir = plen > 0 && p->path[plen - 1] == '/';
	const char *s = buf_str(msg), *hit;
	if (plen == 0 || !strstr(s, p->path))
		return;
	struct buf out = BUF_INIT;
	while ((hit = strstr(s, p->path))) {
		const char *start = hit;
		if ((size_t)(hit - s) >= 5 && memcmp(hit - 5, "file:", 5) == 0)
			start = hit - 5;
		buf_add(&out, s, (size_t)(start - s));
		buf_adds(&out, p->name);
		s = hit + plen;
		if (dir)
			s += strcspn(s, NAME_END);
	}
	buf_adds(&out, s);
	buf_reset(msg);
	buf_add(msg, out.data ? out.data : "", out.len);
	buf_release(&out);
}

void fftool_redact(struct buf *msg, const struct fftool_path *paths)
{
	for (; paths && paths->name; paths++)
		if (paths->path)
			redact_one(msg, paths);
}

void fftool_err_tail(struct buf *err, const struct proc_result *pr, const struct fftool_path *paths)
{
	const char *s = buf_str(&pr->err_tail);
	if (!*s)
		return;
	struct buf tail = BUF_INIT;
	bool bol = true;
	for (; *s; s++) {
		/* Drop ffmpeg's "[mov,mp4,… @ 0x55…] " context prefix at the start of a line. */
		const char *close = bol && *s == '[' ? strstr(s, "] ") : NULL;
		const char *nl = strchr(s, '\n');
		if (close && (!nl || close < nl) && memmem(s, (size_t)(close - s), " @ 0x", 5))
			s = close + 2;
		bol = *s == '\n';
		if (!*s)
			break;
		if (bol)
			buf_adds(&tail, "; ");
		else
			buf_addc(&tail, *s);
	}
	fftool_redact(&tail, paths);
	buf_adds(err, ": ");
	buf_adds(err, buf_str(&tail));
	buf_release(&tail);
}

/* Word a run of ffprobe that did not succeed; its error code. */
static const char *probe_failed(const struct proc_result *pr, const char *path, const char *name,
				struct buf *err)
{
	if (pr->timed_out || pr->cancelled) {
		buf_adds(err, "ffprobe ");
		proc_describe(pr, err);
		return pr->timed_out ? "timeout" : "cancelled";
	}
	char format[64];
	if (refused_format(pr, format, sizeof(format))) {
		fftool_format_refused(err, name, format);
		return "invalid_media";
	}
	const struct fftool_path paths[] = { { path, name }, { NULL, NULL } };
	buf_printf(err, "ffprobe cannot read %s (", name);
	proc_describe(pr, err);
	buf_addc(err, ')');
	fftool_err_tail(err, pr, paths);
	return "invalid_media";
}

int fftool_probe_parse(const char *text, size_t len, const char *name, json_t **out, struct buf *err)
{
	json_error_t je;
	*out = json_loadb(text ? text : "", text ? len : 0, 0, &je);
	const char *format = json_string_value(json_object_get(json_object_get(*out, "format"), "format_name"));
	if (json_is_object(*out) && fftool_format_accepted(format))
		return 0;
	if (json_is_object(*out))
		fftool_format_refused(err, name, format);
	else if (*out)
		buf_printf(err, "ffprobe's report on %s is not a JSON object", name);
	else
		buf_printf(err, "ffprobe's report on %s is not JSON: %s", name, je.text);
	json_decref(*out);
	*out = NULL;
	return -1;
}

int fftool_probe(const struct fftool_probe_opts *o, const char *path, const char *name, json_t **out,
		 const char **code, struct buf *err)
{
	struct buf arg = BUF_INIT, report = BUF_INIT, list = BUF_INIT;
	buf_printf(&arg, "file:%s", path);
	fftool_formats_list(&list);
	const char *argv[] = { o->ffprobe ? o->ffprobe : "ffprobe", "-v", "error", "-protocol_whitelist", "file",
			       "-format_whitelist", buf_str(&list), "-enable_drefs", "0", "-print_format", "json",
			       "-show_format", "-show_streams", buf_str(&arg), NULL };
	struct proc_opts po = { 0 };
	po.timeout_ms = (o->timeout > 0 ? o->timeout : FFTOOL_PROBE_TIMEOUT) * 1000;
	po.cancel = o->cancel;
	po.cancel_data = o->cancel_data;
	po.out = &report;
	po.out_max = FFTOOL_PROBE_OUT_MAX;
	po.err_lines = FFTOOL_ERR_LINES;
	struct proc_result pr;
	int rc = -1;
	*out = NULL;
	*code = NULL;
	if (proc_run(argv, &po, &pr, err) != 0) {
		*code = "internal";
	} else if (!proc_ok(&pr)) {
		*code = probe_failed(&pr, path, name, err);
	} else if (pr.out_truncated) {
		buf_printf(err, "ffprobe's report on %s is larger than %u bytes", name, FFTOOL_PROBE_OUT_MAX);
		*code = "invalid_media";
	} else if ((rc = fftool_probe_parse(report.data, report.len, name, out, err)) != 0) {
		*code = "invalid_media";
	}
	proc_result_release(&pr);
	buf_release(&arg);
	buf_release(&report);
	buf_release(&list);
	return rc;
}
