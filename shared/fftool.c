/* fftool — the ffprobe runner and the wording of FFmpeg programs' failures. See fftool.h. */
#include "fftool.h"

#include <stdbool.h>
#include <string.h>

void fftool_err_tail(struct buf *err, const struct proc_result *pr)
{
	const char *s = buf_str(&pr->err_tail);
	if (!*s)
		return;
	buf_adds(err, ": ");
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
			buf_adds(err, "; ");
		else
			buf_addc(err, *s);
	}
}

/* Word a run of ffprobe that did not succeed; its error code. */
static const char *probe_failed(const struct proc_result *pr, const char *name, struct buf *err)
{
	if (pr->timed_out || pr->cancelled) {
		buf_adds(err, "ffprobe ");
		proc_describe(pr, err);
		return pr->timed_out ? "timeout" : "cancelled";
	}
	buf_printf(err, "ffprobe cannot read %s (", name);
	proc_describe(pr, err);
	buf_addc(err, ')');
	fftool_err_tail(err, pr);
	return "invalid_media";
}

int fftool_probe(const struct fftool_probe_opts *o, const char *path, const char *name, json_t **out,
		 const char **code, struct buf *err)
{
	struct buf arg = BUF_INIT, report = BUF_INIT;
	buf_printf(&arg, "file:%s", path);
	const char *argv[] = { o->ffprobe ? o->ffprobe : "ffprobe", "-v", "error", "-print_format", "json",
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
		*code = probe_failed(&pr, name, err);
	} else if (pr.out_truncated) {
		buf_printf(err, "ffprobe's report on %s is larger than %u bytes", name, FFTOOL_PROBE_OUT_MAX);
		*code = "invalid_media";
	} else {
		json_error_t je;
		*out = json_loadb(report.data ? report.data : "", report.len, 0, &je);
		if (json_is_object(*out)) {
			rc = 0;
		} else {
			if (*out)
				buf_printf(err, "ffprobe's report on %s is not a JSON object", name);
			else
				buf_printf(err, "ffprobe's report on %s is not JSON: %s", name, je.text);
			json_decref(*out);
			*out = NULL;
			*code = "invalid_media";
		}
	}
	proc_result_release(&pr);
	buf_release(&arg);
	buf_release(&report);
	return rc;
}
