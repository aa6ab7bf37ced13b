/* Unit tests for transcode's reading of ffprobe's report (struct transcode_probe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "transcode.h"

/* transcode_probe_parse on a JSON text that must load. */
static void parse(const char *text, struct transcode_probe *pb)
{
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	assert_non_null(root);
	transcode_probe_parse(root, pb);
	json_decref(root);
}

/* The streams chosen and the picture size. */
static void assert_streams(const struct transcode_probe *pb, int video, int audio, int width, int height)
{
	assert_int_equal(pb->video_index, video);
	assert_int_equal(pb->audio_index, audio);
	assert_int_equal(pb->width, width);
	assert_int_equal(pb->height, height);
}

static void test_probe_parse(void **state)
{
	(void)state;
	struct transcode_probe pb;
	/* cover art first, then the real video stream, then audio; ffprobe writes numbers as strings */
	parse("{\"streams\": ["
	      "{\"index\": 0, \"codec_type\": \"video\", \"codec_name\": \"mjpeg\", \"width\": 600, \"height\": 600,"
	      " \"disposition\": {\"attached_pic\": 1}},"
	      "{\"index\": 1, \"codec_name\": \"h264\", \"codec_type\": \"video\", \"width\": 1920, \"height\": 1080,"
	      " \"pix_fmt\": \"yuv420p\", \"r_frame_rate\": \"30000/1001\", \"avg_frame_rate\": \"0/0\","
	      " \"duration\": \"9.500000\", \"disposition\": {\"attached_pic\": 0}},"
	      "{\"index\": 2, \"codec_type\": \"audio\", \"codec_name\": \"aac\"},"
	      "{\"index\": 3, \"codec_type\": \"audio\", \"codec_name\": \"mp3\"}],"
	      " \"format\": {\"duration\": \"10.005000\"}}",
	      &pb);
	assert_streams(&pb, 1, 2, 1920, 1080);
	assert_string_equal(pb.codec, "h264");
	assert_string_equal(pb.pix_fmt, "yuv420p");
	assert_string_equal(pb.fps, "30000/1001");
	assert_true(pb.duration > 10.004 && pb.duration < 10.006);

	/* no format duration: the video stream's; a silly frame rate: 25 */
	parse("{\"streams\": [{\"index\": 0, \"codec_type\": \"video\", \"width\": 320, \"height\": 240,"
	      " \"avg_frame_rate\": \"1000/1\", \"duration\": 4.25}], \"format\": {}}",
	      &pb);
	assert_streams(&pb, 0, -1, 320, 240);
	assert_string_equal(pb.fps, "25");
	assert_true(pb.duration == 4.25);
	assert_string_equal(pb.codec, "");

	/* nothing usable */
	parse("{\"streams\": [{\"codec_type\": \"data\"}], \"format\": {\"duration\": \"N/A\"}}", &pb);
	assert_streams(&pb, -1, -1, 0, 0);
	assert_true(pb.duration == 0.0);
	parse("{\"format\": {\"duration\": \"inf\"}}", &pb);
	assert_true(pb.duration == 0.0);
	parse("{\"format\": {\"duration\": \"nan\"}}", &pb);
	assert_true(pb.duration == 0.0);
	transcode_probe_parse(NULL, &pb);
	assert_int_equal(pb.video_index, -1);
	assert_true(pb.duration == 0.0);
}

/* Sizes and stream indexes are never negative: what is not a count is not used. */
static void test_probe_counts(void **state)
{
	(void)state;
	struct transcode_probe pb;
	parse("{\"streams\": [{\"index\": -1, \"codec_type\": \"video\", \"width\": 640, \"height\": 480},"
	      " {\"index\": \"1\", \"codec_type\": \"audio\"},"
	      " {\"codec_type\": \"audio\"},"
	      " {\"index\": 3, \"codec_type\": \"video\", \"width\": -320, \"height\": 240},"
	      " {\"index\": 4, \"codec_type\": \"video\", \"width\": 320, \"height\": 240},"
	      " {\"index\": 5, \"codec_type\": \"audio\"}]}",
	      &pb);
	assert_streams(&pb, 3, 5, 0, 0);
	parse("{\"streams\": [{\"index\": 2147483648, \"codec_type\": \"video\"},"
	      " {\"index\": 0, \"codec_type\": \"video\", \"width\": 99999999999, \"height\": 4294967536}]}",
	      &pb);
	assert_streams(&pb, 0, -1, 0, 0);
}

/* A long name is cut before a character that does not fit whole, so that it stays UTF-8. */
static void test_probe_names(void **state)
{
	(void)state;
	struct transcode_probe pb;
	/* 30 bytes of ASCII then a 2-byte character: it does not fit in 31 */
	parse("{\"streams\": [{\"index\": 0, \"codec_type\": \"video\","
	      " \"codec_name\": \"abcdefghijklmnopqrstuvwxyz0123\\u00e9\","
	      " \"pix_fmt\": \"abcdefghijklmnopqrstuvwxyz012\\u00e9\"}]}",
	      &pb);
	assert_string_equal(pb.codec, "abcdefghijklmnopqrstuvwxyz0123");
	assert_string_equal(pb.pix_fmt, "abcdefghijklmnopqrstuvwxyz012\xc3\xa9");
	json_t *j = json_string(pb.codec);
	assert_non_null(j);
	json_decref(j);
	parse("{\"streams\": [{\"index\": 0, \"codec_type\": \"video\", \"codec_name\": 264,"
	      " \"pix_fmt\": \"\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\\u263a\"}]}",
	      &pb);
	assert_string_equal(pb.codec, "");
	assert_int_equal(strlen(pb.pix_fmt), 30); /* ten whole 3-byte characters */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_parse),
		cmocka_unit_test(test_probe_counts),
		cmocka_unit_test(test_probe_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
