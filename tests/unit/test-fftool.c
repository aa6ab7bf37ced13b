/* Unit tests for fftool: paths replaced by names, stderr tails, accepted formats, ffprobe with stand-ins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fftool.h"

static void test_redact(void **state)
{
	(void)state;
	const struct fftool_path paths[] = {
		{ "/tmp/spool-job-k22hea/source", "the source" },
		{ NULL, "skipped" },
		{ "/tmp/spool-job-k22hea/", "the output" },
		{ "/tmp/spool-job-k22hea", "the job's temporary directory" },
		{ NULL, NULL },
	};
	struct buf m = BUF_INIT;
	buf_adds(&m, "file:/tmp/spool-job-k22hea/source: Invalid data; /tmp/spool-job-k22hea/source again");
	fftool_redact(&m, paths);
	assert_string_equal(buf_str(&m), "the source: Invalid data; the source again");

	buf_reset(&m);
	buf_adds(&m, "cannot open 'file:/tmp/spool-job-k22hea/video.part.mp4' in /tmp/spool-job-k22hea: full");
	fftool_redact(&m, paths);
	assert_string_equal(buf_str(&m), "cannot open 'the output' in the job's temporary directory: full");

	buf_reset(&m);
	buf_adds(&m, "nothing to hide");
	fftool_redact(&m, paths);
	fftool_redact(&m, NULL);
	assert_string_equal(buf_str(&m), "nothing to hide");
	buf_release(&m);
}

static void test_err_tail(void **state)
{
	(void)state;
	const struct fftool_path paths[] = { { "/w/source", "the source" }, { NULL, NULL } };
	struct proc_result pr;
	memset(&pr, 0, sizeof(pr));
	buf_adds(&pr.err_tail, "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8a1b2c0] moov atom not found\n"
			       "file:/w/source: Invalid data found when processing input");
	struct buf err = BUF_INIT;
	buf_adds(&err, "ffmpeg exit status 1");
	fftool_err_tail(&err, &pr, paths);
	assert_string_equal(buf_str(&err),
			    "ffmpeg exit status 1: moov atom not found; the source: Invalid data found when processing input");

	/* nothing on stderr: nothing appended */
	buf_reset(&pr.err_tail);
	buf_reset(&err);
	fftool_err_tail(&err, &pr, paths);
	assert_string_equal(buf_str(&err), "");
	proc_result_release(&pr);
	buf_release(&err);
}

/* A stand-in ffprobe in the test's directory: a shell script with `body`. */
static char dir[64];

static const char *program(const char *name, const char *body)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s\n", body);
	fclose(fp);
	chmod(path, 0755);
	return path;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-fftool-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Probe /w/source with a stand-in ffprobe; the code (NULL on success) and message. */
static const char *probe(const char *body, int64_t timeout, json_t **out, struct buf *err)
{
	struct fftool_probe_opts o = { program("ffprobe", body), timeout, NULL, NULL };
	const char *code = NULL;
	buf_reset(err);
	int rc = fftool_probe(&o, "/w/source", "the source", out, &code, err);
	assert_int_equal(rc, code ? -1 : 0);
	return code;
}

static void test_probe(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	json_t *out = NULL;

	/* the path is given with the file: prefix, last */
	assert_null(probe("for a; do last=$a; done; printf '{\"format\": {\"filename\": \"%s\", "
			  "\"format_name\": \"mov,mp4,m4a,3gp,3g2,mj2\"}}' \"$last\"",
			  0, &out, &err));
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "format"), "filename")),
			    "file:/w/source");
	json_decref(out);

	assert_string_equal(probe("echo 'file:/w/source: Invalid data found when processing input' >&2; exit 1", 0,
				  &out, &err),
			    "invalid_media");
	assert_null(out);
	assert_string_equal(buf_str(&err), "ffprobe cannot read the source (exit status 1): "
					   "the source: Invalid data found when processing input");

	assert_string_equal(probe("echo '[1, 2]'", 0, &out, &err), "invalid_media");
	assert_string_equal(buf_str(&err), "ffprobe's report on the source is not a JSON object");
	assert_string_equal(probe("echo 'not json'", 0, &out, &err), "invalid_media");
	assert_non_null(strstr(buf_str(&err), "ffprobe's report on the source is not JSON: "));

	assert_string_equal(probe("sleep 5", 1, &out, &err), "timeout");
	assert_non_null(strstr(buf_str(&err), "ffprobe timed out after "));

	struct fftool_probe_opts o = { "/nonexistent/ffprobe", 0, NULL, NULL };
	const char *code = NULL;
	buf_reset(&err);
	assert_int_equal(fftool_probe(&o, "/w/source", "the source", &out, &code, &err), -1);
	assert_string_equal(code, "internal");
	assert_non_null(strstr(buf_str(&err), "/nonexistent/ffprobe"));
	buf_release(&err);
}

/* The accepted containers, and ffprobe run to open only them, from the local file alone. */
static void test_formats(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	fftool_formats_list(&b);
	assert_string_equal(buf_str(&b), "mov,matroska,mpegts,mpeg,avi,flv,asf,ogg,mp3,wav,flac,aac");
	buf_release(&b);

	assert_true(fftool_format_accepted("mov,mp4,m4a,3gp,3g2,mj2"));
	assert_true(fftool_format_accepted("matroska,webm"));
	assert_true(fftool_format_accepted("mpegts"));
	assert_false(fftool_format_accepted("hls"));
	assert_false(fftool_format_accepted("dash"));
	assert_false(fftool_format_accepted("concat"));
	assert_false(fftool_format_accepted("png_pipe"));
	assert_false(fftool_format_accepted("mpegtsraw"));
	assert_false(fftool_format_accepted("webm_dash_manifest"));
	assert_false(fftool_format_accepted("mo"));
	assert_false(fftool_format_accepted(",,"));
	assert_false(fftool_format_accepted(""));
	assert_false(fftool_format_accepted(NULL));

	fftool_format_refused(&b, "the source", "hls");
	assert_string_equal(buf_str(&b), "the source's format 'hls' is not accepted (accepted: mp4/mov, "
					 "matroska/webm, mpeg-ts, mpeg-ps, avi, flv, asf/wmv, ogg, mp3, wav, flac, aac)");
	buf_reset(&b);
	fftool_format_refused(&b, "the source", NULL);
	assert_non_null(strstr(buf_str(&b), "the source's format is not accepted (accepted: mp4/mov, "));
	buf_release(&b);
}

static void test_probe_parse(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	json_t *out = NULL;
	const char *report = "{\n    \"streams\": [],\n    \"format\": {\"format_name\": \"mov,mp4,m4a,3gp,3g2,mj2\", \"duration\": \"2.000000\"}\n}\n";
	assert_int_equal(fftool_probe_parse(report, strlen(report), "the source", &out, &err), 0);
	assert_non_null(json_object_get(out, "format"));
	assert_string_equal(buf_str(&err), "");
	json_decref(out);

	/* only the `len` bytes count */
	assert_int_equal(fftool_probe_parse(report, 5, "the source", &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(buf_str(&err), "ffprobe's report on the source is not JSON: "));
	buf_reset(&err);
	assert_int_equal(fftool_probe_parse("[1, 2]", 6, "the output", &out, &err), -1);
	assert_string_equal(buf_str(&err), "ffprobe's report on the output is not a JSON object");
	buf_reset(&err);
	assert_int_equal(fftool_probe_parse(NULL, 0, "the source", &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(buf_str(&err), "is not JSON"));
	buf_reset(&err);
	/* a JSON object whose format is not an accepted one */
	assert_int_equal(fftool_probe_parse("{\"format\": {\"format_name\": \"hls\"}}", 34, "the source", &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(buf_str(&err), "the source's format 'hls' is not accepted (accepted: "));
	buf_release(&err);
}

static void test_probe_refuses(void **state)
{
	(void)state;
	struct buf err = BUF_INIT;
	json_t *out = NULL;

	/* the whitelists come before the file */
	assert_null(probe("printf '{\"format\": {\"format_name\": \"mpegts\", \"args\": \"%s\"}}' \"$*\"", 0,
			  &out, &err));
	const char *args = json_string_value(json_object_get(json_object_get(out, "format"), "args"));
	assert_non_null(strstr(args, "-protocol_whitelist file -format_whitelist "
				     "mov,matroska,mpegts,mpeg,avi,flv,asf,ogg,mp3,wav,flac,aac -enable_drefs 0 "));
	json_decref(out);

	/* ffprobe refused the format: the message names it, not ffprobe's wording */
	assert_string_equal(probe("echo \"[hls @ 0x55bb98e7d280] Format not on whitelist 'mov,matroska'\" >&2; "
				  "echo 'file:/w/source: Invalid argument' >&2; exit 1",
				  0, &out, &err),
			    "invalid_media");
	assert_null(out);
	assert_non_null(strstr(buf_str(&err), "the source's format 'hls' is not accepted (accepted: mp4/mov, "));
	assert_null(strstr(buf_str(&err), "/w/source"));
	assert_string_equal(probe("echo \"[@x] Format not on whitelist 'mov'\" >&2; exit 1", 0, &out, &err),
			    "invalid_media");
	assert_non_null(strstr(buf_str(&err), "the source's format is not accepted (accepted: "));

	/* a report of a format that is not accepted, or of none */
	assert_string_equal(probe("echo '{\"format\": {\"format_name\": \"hls\"}, \"streams\": []}'", 0, &out, &err),
			    "invalid_media");
	assert_null(out);
	assert_non_null(strstr(buf_str(&err), "the source's format 'hls' is not accepted (accepted: "));
	assert_string_equal(probe("echo '{\"streams\": []}'", 0, &out, &err), "invalid_media");
	assert_non_null(strstr(buf_str(&err), "the source's format is not accepted (accepted: "));
	buf_release(&err);
}

static bool cancel_now(void *data)
{
	(void)data;
	return true;
}

static void test_probe_cancel(void **state)
{
	(void)state;
	struct fftool_probe_opts o = { program("ffprobe", "sleep 5"), 0, cancel_now, NULL };
	struct buf err = BUF_INIT;
	const char *code = NULL;
	json_t *out = NULL;
	assert_int_equal(fftool_probe(&o, "/w/source", "the source", &out, &code, &err), -1);
	assert_string_equal(code, "cancelled");
	assert_string_equal(buf_str(&err), "ffprobe cancelled");
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_err_tail),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_probe_refuses),
		cmocka_unit_test(test_probe_parse),
		cmocka_unit_test(test_probe_cancel),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
