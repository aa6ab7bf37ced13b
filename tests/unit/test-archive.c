/*
 * Unit tests for archive: gzip written and read back, bounds and corruption
 * refused, keys and day prefixes, the reader's times and filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <string.h>

#include "archive.h"

static void test_roundtrip(void **state)
{
	(void)state;
	struct buf in = BUF_INIT, gz = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		buf_printf(&in, "{\"finished_at\":\"2026-12-07T02:00:00.000Z\",\"job\":{\"n\":%d},\"events\":[]}\n", i);
	assert_int_equal(archive_gzip(in.data, in.len, &gz, &err), 0);
	assert_true(gz.len > 18 && gz.len < in.len / 4);
	/* gzip's magic bytes: what gunzip and every reader expect */
	assert_int_equal((unsigned char)gz.data[0], 0x1f);
	assert_int_equal((unsigned char)gz.data[1], 0x8b);
	assert_int_equal(archive_gunzip(gz.data, gz.len, in.len, &out, &err), 0);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.data, in.data, in.len);
	/* empty input is a valid, empty archive */
	buf_reset(&gz);
	buf_reset(&out);
	assert_int_equal(archive_gzip("", 0, &gz, &err), 0);
	assert_int_equal(archive_gunzip(gz.data, gz.len, 10, &out, &err), 0);
	assert_int_equal(out.len, 0);
	buf_release(&in);
	buf_release(&gz);
	buf_release(&out);
	buf_release(&err);
}

static void test_refused(void **state)
{
	(void)state;
	struct buf in = BUF_INIT, gz = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
	for (int i = 0; i < 100000; i++)
		buf_addc(&in, 'a');
	assert_int_equal(archive_gzip(in.data, in.len, &gz, &err), 0);
	/* more than the bound once decompressed */
	assert_int_equal(archive_gunzip(gz.data, gz.len, 1000, &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "more than 1000 bytes"));
	/* truncated */
	buf_reset(&out);
	buf_reset(&err);
	assert_int_equal(archive_gunzip(gz.data, gz.len / 2, in.len, &out, &err), -1);
	assert_non_null(strstr(buf_str(&err), "gunzip"));
	/* not gzip at all */
	buf_reset(&out);
	buf_reset(&err);
	assert_int_equal(archive_gunzip("plain text, not gzip", 20, in.len, &out, &err), -1);
	buf_release(&in);
	buf_release(&gz);
	buf_release(&out);
	buf_release(&err);
}

static void test_keys(void **state)
{
	(void)state;
	struct buf k = BUF_INIT, k2 = BUF_INIT;
	regex_t re;
	assert_int_equal(regcomp(&re,
				 "^archive/jobs/2026/12/07/20261207T020000Z-"
				 "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\.jsonl\\.gz$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	archive_key("archive/jobs/", "2026/12/07", "20261207T020000Z", &k);
	assert_int_equal(regexec(&re, buf_str(&k), 0, NULL, 0), 0);
	archive_key("archive/jobs/", "2026/12/07", "20261207T020000Z", &k2);
	assert_string_not_equal(buf_str(&k), buf_str(&k2)); /* two batches of one second: two objects */
	regfree(&re);
	/* the day of any time in it, UTC */
	archive_day_prefix("archive/jobs/", 1796687999 /* 2026-12-07T23:59:59Z */, &k);
	assert_string_equal(buf_str(&k), "archive/jobs/2026/12/07/");
	archive_day_prefix("p/", 1796688000 /* 2026-12-08T00:00:00Z */, &k);
	assert_string_equal(buf_str(&k), "p/2026/12/08/");
	buf_release(&k);
	buf_release(&k2);
}

static void test_parse_time(void **state)
{
	(void)state;
	time_t now = 1796687999, t = 0; /* 2026-12-07T23:59:59Z */
	assert_int_equal(archive_parse_time("2026-12-01", now, &t), 0);
	assert_int_equal(t, 1796083200); /* its midnight UTC */
	assert_int_equal(archive_parse_time("7d", now, &t), 0);
	assert_int_equal(t, now - 7 * 86400);
	assert_int_equal(archive_parse_time("2026-12-01T10:00:00Z", now, &t), 0);
	assert_int_equal(t, 1796083200 + 36000);
	assert_int_equal(archive_parse_time("2026-12-1", now, &t), -1);
	assert_int_equal(archive_parse_time("yesterday", now, &t), -1);
	assert_int_equal(archive_parse_time("", now, &t), -1);
}

static void test_line_matches(void **state)
{
	(void)state;
	json_t *l = json_loads("{\"finished_at\": \"2026-12-07T10:00:00Z\", \"job\": {\"id\": \"x\","
			       " \"tenant_id\": \"acme\", \"status\": \"failed\"}, \"events\": []}",
			       0, NULL);
	assert_non_null(l);
	time_t fin = 1796637600; /* 2026-12-07T10:00:00Z */
	struct archive_query q = { .since = fin - 60, .until = fin + 60 };
	assert_true(archive_line_matches(&q, l));
	q.since = fin; /* both ends are in the range */
	q.until = fin;
	assert_true(archive_line_matches(&q, l));
	q.since = fin + 1;
	q.until = fin + 60;
	assert_false(archive_line_matches(&q, l));
	q.since = fin - 60;
	q.tenant = "acme";
	q.status = "failed";
	assert_true(archive_line_matches(&q, l));
	q.status = "succeeded";
	assert_false(archive_line_matches(&q, l));
	q.status = NULL;
	q.tenant = "acm";
	assert_false(archive_line_matches(&q, l));
	json_decref(l);
	/* a line without a finish time matches nothing */
	l = json_loads("{\"job\": {\"id\": \"x\"}}", 0, NULL);
	q.tenant = NULL;
	assert_false(archive_line_matches(&q, l));
	json_decref(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_line_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
