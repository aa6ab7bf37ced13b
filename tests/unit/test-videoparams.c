/* Unit tests for videoparams: defaults, every key's bounds and types, unknown keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "videoparams.h"

/* Parse `text` as JSON params; return what videoparams_parse returns. */
static int parse(const char *text, struct video_params *p, struct buf *field, struct buf *msg)
{
	json_error_t je;
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
	if (text && !j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	buf_reset(field);
	buf_reset(msg);
	int rc = videoparams_parse(j, p, field, msg);
	json_decref(j);
	return rc;
}

/* Assert that `text` is rejected naming `want_field`. */
static void expect_invalid(const char *text, const char *want_field)
{
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	if (parse(text, &p, &field, &msg) != -1)
		fail_msg("accepted %s", text);
	assert_string_equal(buf_str(&field), want_field);
	assert_true(msg.len > 0);
	buf_release(&field);
	buf_release(&msg);
}

static void test_defaults(void **state)
{
	(void)state;
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	const char *empty[] = { NULL, "null", "{}" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(parse(empty[i], &p, &field, &msg), 0);
		assert_int_equal(p.height, 720);
		assert_int_equal(p.width, 1280);
		assert_true(p.max_duration == 30.0);
		assert_false(p.audio);
		assert_true(p.watermark);
		assert_false(p.bumpers);
	}
	assert_int_equal(field.len, 0);
	buf_release(&field);
	buf_release(&msg);
}

static void test_heights(void **state)
{
	(void)state;
	static const int h[] = { 240, 360, 480, 720, 1080 }, w[] = { 426, 640, 854, 1280, 1920 };
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	for (size_t i = 0; i < 5; i++) {
		char text[64];
		snprintf(text, sizeof(text), "{\"height\": %d}", h[i]);
		assert_int_equal(parse(text, &p, &field, &msg), 0);
		assert_int_equal(p.height, h[i]);
		assert_int_equal(p.width, w[i]);
		assert_int_equal(p.width % 2, 0);
		assert_int_equal(p.height % 2, 0);
	}
	buf_release(&field);
	buf_release(&msg);
	expect_invalid("{\"height\": 721}", "height");
	expect_invalid("{\"height\": 0}", "height");
	expect_invalid("{\"height\": -720}", "height");
	expect_invalid("{\"height\": 2160}", "height");
	expect_invalid("{\"height\": 720.5}", "height");
	expect_invalid("{\"height\": \"720\"}", "height");
	expect_invalid("{\"height\": null}", "height");
}

static void test_max_duration(void **state)
{
	(void)state;
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	assert_int_equal(parse("{\"max_duration\": 1}", &p, &field, &msg), 0);
	assert_true(p.max_duration == 1.0);
	assert_int_equal(parse("{\"max_duration\": 600}", &p, &field, &msg), 0);
	assert_true(p.max_duration == 600.0);
	assert_int_equal(parse("{\"max_duration\": 12.5}", &p, &field, &msg), 0);
	assert_true(p.max_duration == 12.5);
	buf_release(&field);
	buf_release(&msg);
	expect_invalid("{\"max_duration\": 0}", "max_duration");
	expect_invalid("{\"max_duration\": 0.99}", "max_duration");
	expect_invalid("{\"max_duration\": 600.01}", "max_duration");
	expect_invalid("{\"max_duration\": -5}", "max_duration");
	expect_invalid("{\"max_duration\": \"30\"}", "max_duration");
	expect_invalid("{\"max_duration\": true}", "max_duration");
}

static void test_booleans(void **state)
{
	(void)state;
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	assert_int_equal(parse("{\"audio\": true, \"watermark\": false, \"bumpers\": true}", &p, &field,
			       &msg), 0);
	assert_true(p.audio);
	assert_false(p.watermark);
	assert_true(p.bumpers);
	buf_release(&field);
	buf_release(&msg);
	expect_invalid("{\"audio\": 1}", "audio");
	expect_invalid("{\"watermark\": \"yes\"}", "watermark");
	expect_invalid("{\"bumpers\": null}", "bumpers");
}

static void test_unknown_and_shape(void **state)
{
	(void)state;
	expect_invalid("{\"height\": 720, \"colour\": \"red\"}", "colour");
	expect_invalid("{\"Height\": 720}", "Height");
	expect_invalid("[]", "params");
	expect_invalid("\"720\"", "params");
	expect_invalid("42", "params");
}

static void test_to_json(void **state)
{
	(void)state;
	struct video_params p;
	struct buf field = BUF_INIT, msg = BUF_INIT;
	assert_int_equal(parse("{\"height\": 480, \"max_duration\": 10, \"bumpers\": true}", &p, &field,
			       &msg), 0);
	json_t *j = videoparams_to_json(&p);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "width")), 854);
	assert_int_equal(json_integer_value(json_object_get(j, "height")), 480);
	assert_true(json_number_value(json_object_get(j, "max_duration")) == 10.0);
	assert_true(json_is_false(json_object_get(j, "audio")));
	assert_true(json_is_true(json_object_get(j, "watermark")));
	assert_true(json_is_true(json_object_get(j, "bumpers")));

	/* The normalised form minus the derived width parses back to the same values. */
	json_object_del(j, "width");
	struct video_params q;
	assert_int_equal(videoparams_parse(j, &q, &field, &msg), 0);
	assert_int_equal(q.width, p.width);
	assert_int_equal(q.height, p.height);
	assert_true(q.max_duration == p.max_duration);
	assert_true(q.audio == p.audio && q.watermark == p.watermark && q.bumpers == p.bumpers);
	json_decref(j);
	buf_release(&field);
	buf_release(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_heights),
		cmocka_unit_test(test_max_duration),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_unknown_and_shape),
		cmocka_unit_test(test_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
