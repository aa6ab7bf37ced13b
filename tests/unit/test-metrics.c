/* Unit tests for metrics (registry, dimensions) and the config helpers it came with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "metrics.h"
#include "mq.h"

static void test_dimensions(void **state)
{
	const char *n[4], *v[4];
	char *store;
	struct buf err = BUF_INIT;

	(void)state;
	assert_int_equal(metrics_parse_dimensions("Service=api, Env=local", &store, n, v, 4, &err), 2);
	assert_string_equal(n[0], "Service");
	assert_string_equal(v[0], "api");
	assert_string_equal(n[1], "Env");
	assert_string_equal(v[1], "local");
	free(store);
	assert_int_equal(metrics_parse_dimensions("", &store, n, v, 4, &err), 0);
	assert_null(store);
	assert_int_equal(metrics_parse_dimensions("Service", &store, n, v, 4, &err), -1);
	assert_non_null(strstr(buf_str(&err), "'Service' is not Name=Value"));
	buf_reset(&err);
	assert_int_equal(metrics_parse_dimensions("a=1,b=2,c=3", &store, n, v, 2, &err), -1);
	assert_null(store);
	buf_release(&err);
}

static void test_registry(void **state)
{
	(void)state;
	struct metric *a = metrics_counter(METRIC_JOBS_SUBMITTED, "Count");
	assert_ptr_equal(a, metrics_counter(METRIC_JOBS_SUBMITTED, "Count"));
	struct metric *noop = metrics_timing(METRIC_JOB_DURATION, "Seconds", "JobType", "noop");
	struct metric *probe = metrics_timing(METRIC_JOB_DURATION, "Seconds", "JobType", "media.probe");
	assert_ptr_not_equal(noop, probe);
	assert_ptr_equal(noop, metrics_timing(METRIC_JOB_DURATION, "Seconds", "JobType", "noop"));
	metrics_add(a, 3);
	metrics_observe(noop, 0.5);
	metrics_set(metrics_gauge(METRIC_QUEUE_DEPTH, "Count", 0), 7);
	/* disabled: starting publishes nothing and needs no thread */
	struct config cfg;
	struct buf err = BUF_INIT;
	config_defaults(&cfg, PROG_WORKER);
	assert_int_equal(metrics_start(&cfg, NULL, NULL, &err), 0);
	metrics_stop();
	config_free(&cfg);
	buf_release(&err);
}

static void test_tls_selection(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg, PROG_WORKER);
	assert_false(mq_use_tls(&cfg, 5672));
	assert_true(mq_use_tls(&cfg, MQ_AMQPS_PORT));
	cfg.rabbitmq.tls = true;
	assert_true(mq_use_tls(&cfg, 5672));
	config_free(&cfg);
}

static void test_keep_unreloadable(void **state)
{
	static const char a[] = "[database]\nsecret = env:A\n[rabbitmq]\nsecret = env:B\n[s3]\nbucket = b\n"
				"[worker]\nconcurrency = 2\nlease = 60s\ntmpdir = /tmp/a\n[log]\nlevel = info\n";
	static const char b[] = "[database]\nsecret = env:A\n[rabbitmq]\nsecret = env:B\n[s3]\nbucket = c\n"
				"[worker]\nconcurrency = 5\nlease = 90s\ntmpdir = /tmp/b\n[log]\nlevel = debug\n";
	struct config cur, next;
	struct buf err = BUF_INIT, changed = BUF_INIT;

	(void)state;
	assert_int_equal(config_load_string(&cur, "a.ini", a, PROG_WORKER, &err), 0);
	assert_int_equal(config_load_string(&next, "b.ini", b, PROG_WORKER, &err), 0);
	assert_int_equal(config_unreloadable_changes(&cur, &next, &changed), 3);
	assert_string_equal(buf_str(&changed), "s3.bucket, worker.lease, worker.tmpdir");
	config_keep_unreloadable(&next, &cur);
	assert_string_equal(next.s3.bucket, "b");
	assert_int_equal(next.worker.lease, 60);
	assert_string_equal(next.worker.tmpdir, "/tmp/a");
	assert_int_equal(next.worker.concurrency, 5);
	assert_string_equal(next.log.level, "debug");
	buf_reset(&changed);
	assert_int_equal(config_unreloadable_changes(&cur, &next, &changed), 0);
	config_free(&cur);
	config_free(&next);
	buf_release(&err);
	buf_release(&changed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dimensions),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_tls_selection),
		cmocka_unit_test(test_keep_unreloadable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
