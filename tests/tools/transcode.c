/*
 * transcode — run the video.transcode engine on a local file, for tests.
 *   transcode [-l logo] [-p params-json] [-t timeout] [-P preset] [-j threads]
 *             [-c cancel-after] INPUT OUTDIR
 * Prints one JSON object: {"ok":true,"meta":{…},"params":{…}} or
 * {"ok":false,"error_code":…,"permanent":…,"message":…}. Exit 0 on success, 1 on
 * a transcode failure, 2 on bad usage or parameters.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "transcode.h"
#include "videoparams.h"

static void usage(void)
{
	fprintf(stderr, "usage: transcode [-l logo] [-p params-json] [-t timeout] [-P preset] "
			"[-j threads] [-c cancel-after] INPUT OUTDIR\n");
	exit(2);
}

/* Progress goes to stderr so that stdout stays one JSON document. */
static void on_progress(int percent, void *data)
{
	(void)data;
	fprintf(stderr, "progress %d\n", percent);
}

/* -c: cancel the job once this monotonic time has passed. */
static double cancel_at;

static bool should_cancel(void *data)
{
	(void)data;
	return clock_now_s() >= cancel_at;
}

int main(int argc, char **argv)
{
	struct transcode_opts o = { 0 };
	const char *params_text = NULL;
	int c;
	o.ffmpeg = getenv("FFMPEG");
	o.ffprobe = getenv("FFPROBE");
	o.timeout = 7200;
	o.progress = on_progress;
	while ((c = getopt(argc, argv, "l:p:t:P:j:c:")) != -1) {
		switch (c) {
		case 'l': o.logo = optarg; break;
		case 'p': params_text = optarg; break;
		case 't': o.timeout = atoll(optarg); break;
		case 'P': o.preset = optarg; break;
		case 'j': o.threads = atoi(optarg); break;
		case 'c':
			cancel_at = clock_now_s() + atof(optarg);
			o.cancel = should_cancel;
			break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();

	json_t *pj = NULL;
	if (params_text) {
		json_error_t je;
		pj = json_loads(params_text, JSON_DECODE_ANY, &je);
		if (!pj) {
			fprintf(stderr, "transcode: bad params JSON: %s\n", je.text);
			return 2;
		}
	}
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT, err = BUF_INIT;
	if (videoparams_parse(pj, &p, &field, &msg) != 0) {
		json_t *out = json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "error_code", "invalid",
					"field", buf_str(&field), "message", buf_str(&msg));
		json_dumpf(out, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(out);
		json_decref(pj);
		buf_release(&field);
		buf_release(&msg);
		return 2;
	}
	json_decref(pj);

	struct transcode_result r;
	int rc = transcode_run(&o, argv[optind], argv[optind + 1], &p, &r, &err);
	json_t *out;
	if (rc == 0)
		out = json_pack("{s:b, s:O, s:o}", "ok", 1, "meta", r.meta, "params",
				videoparams_to_json(&p));
	else
		out = json_pack("{s:b, s:s, s:b, s:s}", "ok", 0, "error_code", r.error_code,
				"permanent", r.permanent, "message", buf_str(&err));
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	transcode_result_release(&r);
	buf_release(&field);
	buf_release(&msg);
	buf_release(&err);
	return rc == 0 ? 0 : 1;
}
