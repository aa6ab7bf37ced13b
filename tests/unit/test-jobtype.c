/* Unit tests for the job-type table: lookup, unknown names, each type's rules, its config keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "config.h"
#include "jobtype.h"

/* Every row is found by its name and sits at its id; names are distinct. */
static void test_lookup(void **state)
{
	(void)state;
	for (int i = 0; i < JOBTYPE_COUNT; i++) {
		const struct jobtype *jt = jobtype_get(i);
		assert_int_equal(jt->id, i);
		assert_non_null(jt->name);
		assert_ptr_equal(jobtype_find(jt->name), jt);
		assert_ptr_equal(jobtype_find_n(jt->name, strlen(jt->name)), jt);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(jobtype_get(j)->name, jt->name);
	}
	assert_int_equal(jobtype_find("video.transcode")->id, JOBTYPE_VIDEO_TRANSCODE);
	assert_int_equal(jobtype_find("media.probe")->id, JOBTYPE_MEDIA_PROBE);
	assert_int_equal(jobtype_find("noop")->id, JOBTYPE_NOOP);
	/* a prefix of a longer string, by length */
	assert_ptr_equal(jobtype_find_n("noop=3", 4), jobtype_get(JOBTYPE_NOOP));

	struct buf names = BUF_INIT;
	jobtype_names(&names);
	assert_string_equal(buf_str(&names), "video.transcode, media.probe, noop");
	buf_release(&names);
}

static void test_unknown(void **state)
{
	(void)state;
	assert_null(jobtype_find(NULL));
	assert_null(jobtype_find(""));
	assert_null(jobtype_find("noo"));
	assert_null(jobtype_find("noop "));
	assert_null(jobtype_find(" noop"));
	assert_null(jobtype_find("NOOP"));
	assert_null(jobtype_find("video.transcodes"));
	assert_null(jobtype_find("video"));
	assert_null(jobtype_find_n("noop", 3));
	assert_null(jobtype_find_n("", 0));
}

/* `params` (JSON text) checked by the type `name`: "" if accepted, else the field named. */
static void expect_params(const char *name, const char *params, const char *field)
{
	const struct jobtype *jt = jobtype_find(name);
	json_t *p = json_loads(params, 0, NULL);
	struct buf f = BUF_INIT, msg = BUF_INIT;
	assert_non_null(jt);
	assert_non_null(p);
	int rc = jt->check_params ? jt->check_params(p, &f, &msg) : 0;
	if (!*field) {
		assert_int_equal(rc, 0);
	} else {
		assert_int_equal(rc, -1);
		assert_string_equal(buf_str(&f), field);
		assert_true(msg.len > 0);
	}
	buf_release(&f);
	buf_release(&msg);
	json_decref(p);
}

static void test_rules(void **state)
{
	(void)state;
	assert_true(jobtype_find("video.transcode")->needs_source);
	assert_true(jobtype_find("media.probe")->needs_source);
	assert_false(jobtype_find("noop")->needs_source);

	expect_params("video.transcode", "{}", "");
	expect_params("video.transcode", "{\"height\":480,\"audio\":true,\"max_duration\":12.5}", "");
	expect_params("video.transcode", "{\"height\":7}", "height");
	expect_params("video.transcode", "{\"max_duration\":0}", "max_duration");
	expect_params("video.transcode", "{\"audio\":\"yes\"}", "audio");
	expect_params("video.transcode", "{\"colour\":\"red\"}", "colour");
	/* media.probe takes any object; noop any but a bad duration_ms (0..10000) */
	assert_null(jobtype_find("media.probe")->check_params);
	expect_params("media.probe", "{\"height\":7}", "");
	expect_params("noop", "{\"anything\":[1,2]}", "");
	expect_params("noop", "{\"duration_ms\":0}", "");
	expect_params("noop", "{\"duration_ms\":10000}", "");
	expect_params("noop", "{\"duration_ms\":10001}", "duration_ms");
	expect_params("noop", "{\"duration_ms\":-1}", "duration_ms");
	expect_params("noop", "{\"duration_ms\":1.5}", "duration_ms");
	expect_params("noop", "{\"duration_ms\":\"5\"}", "duration_ms");

	assert_true(jobtype_find("video.transcode")->enabled_by_default);
	assert_true(jobtype_find("media.probe")->enabled_by_default);
	assert_false(jobtype_find("noop")->enabled_by_default);
	assert_string_equal(jobtype_find("noop")->enable_key, "enable_noop");
}

/*
 * A type's enable_key is a [worker] boolean of the config table whose default is
 * the type's enabled_by_default; a type without one is enabled (else nothing could
 * ever run it).
 */
static void test_enable_keys(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg, PROG_WORKER);
	for (int i = 0; i < JOBTYPE_COUNT; i++) {
		const struct jobtype *jt = jobtype_get(i);
		bool on = !jt->enabled_by_default;
		if (!jt->enable_key) {
			assert_true(jt->enabled_by_default);
			continue;
		}
		assert_int_equal(config_get_bool(&cfg, "worker", jt->enable_key, &on), 0);
		assert_true(on == jt->enabled_by_default);
	}
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_enable_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
