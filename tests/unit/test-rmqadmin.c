/*
 * Unit tests for rmqadmin: RabbitMQ's password hashes as the bootstrap checks them, and
 * the daemons' broker permissions (each a POSIX extended expression, anchored, matching
 * the resources its daemon uses and not the others').
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdbool.h>
#include <string.h>

#include "rmqadmin.h"

#define SHA256 "rabbit_password_hashing_sha256"
#define SHA512 "rabbit_password_hashing_sha512"

/* made by RabbitMQ 3.10 for the password "known-password-1" */
#define BROKER_HASH "mtxbdrBmh3gj85NBN1DOOTQVZwG8CMwlUpUZxHucd/qPmty6"

static void test_password_hash(void **state)
{
	(void)state;
	assert_true(rmqadmin_password_matches(SHA256, BROKER_HASH, "known-password-1"));
	assert_false(rmqadmin_password_matches(SHA256, BROKER_HASH, "known-password-2"));
	assert_false(rmqadmin_password_matches(SHA256, BROKER_HASH, "known-password-"));
	assert_false(rmqadmin_password_matches(SHA256, BROKER_HASH, ""));
	/* another algorithm, or one unknown: never a match (the user is then written) */
	assert_false(rmqadmin_password_matches(SHA512, BROKER_HASH, "known-password-1"));
	assert_false(rmqadmin_password_matches("rabbit_password_hashing_md5", BROKER_HASH, "known-password-1"));
	assert_false(rmqadmin_password_matches(NULL, BROKER_HASH, "known-password-1"));
	/* salt 01020304, SHA-512 of salt + "pw-512" */
	assert_true(rmqadmin_password_matches(SHA512,
					      "AQIDBFsQOOY3/MB32t1ZH0jQ4AlrQAdhnr/DRd2LZaZQb9UEGWxEjGqckXBw+Ljl"
					      "QZCAmAR/hv8yeKjbm4HEcUL3h5o=",
					      "pw-512"));
	/* broken hashes: empty, truncated, not base64, absent */
	assert_false(rmqadmin_password_matches(SHA256, "", "known-password-1"));
	assert_false(rmqadmin_password_matches(SHA256, "mtxbdrBmh3gj85NBN1DOOTQVZwG8", "known-password-1"));
	assert_false(rmqadmin_password_matches(SHA256, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "x"));
	assert_false(rmqadmin_password_matches(SHA256, NULL, "known-password-1"));
}

static bool matches(const char *re, const char *name)
{
	regex_t r;
	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	bool m = regexec(&r, name, 0, NULL, 0) == 0;
	regfree(&r);
	return m;
}

static void test_permissions(void **state)
{
	(void)state;
	const struct rmqadmin_perms *a = &rmqadmin_api_perms, *w = &rmqadmin_worker_perms;
	static const char *const shared[] = { "spool.jobs", "spool.jobs.high", "spool.jobs.low", "spool.dead",
					      "spool.events", "spool.events.api" };
	for (size_t i = 0; i < sizeof(shared) / sizeof(*shared); i++) {
		assert_true(matches(a->configure, shared[i]));
		assert_true(matches(a->write, shared[i]));
		assert_true(matches(w->configure, shared[i]));
		assert_true(matches(w->write, shared[i]));
	}
	/* the API's own long-poll queue; the worker's delay queues */
	assert_true(matches(a->read, "spool.events.api.host-1.4242"));
	assert_false(matches(w->read, "spool.events.api.host-1.4242"));
	assert_false(matches(w->configure, "spool.events.api.host-1.4242"));
	assert_true(matches(w->configure, "spool.retry.60"));
	assert_true(matches(w->configure, "spool.retry.high.60"));
	assert_true(matches(w->write, "spool.retry.low.3600"));
	assert_true(matches(w->read, "spool.retry.low.3600"));
	assert_false(matches(a->configure, "spool.retry.60"));
	/* the worker reads the job queues, no events queue */
	assert_true(matches(w->read, "spool.jobs.high"));
	assert_false(matches(w->read, "spool.events.api"));
	/* the default exchange: write only */
	assert_true(matches(a->write, "amq.default"));
	assert_true(matches(w->write, "amq.default"));
	assert_false(matches(a->configure, "amq.default"));
	assert_false(matches(w->read, "amq.default"));
	/* anchored: nothing outside spool.*, no look-alike */
	static const char *const others[] = { "", "amq.topic", "other.spool.jobs", "spool.jobsx", "spool.jobs.medium",
					      "xspool.dead", "spool.retry.x", "spool.retry.high." };
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
		assert_false(matches(a->configure, others[i]));
		assert_false(matches(a->write, others[i]));
		assert_false(matches(a->read, others[i]));
		assert_false(matches(w->configure, others[i]));
		assert_false(matches(w->write, others[i]));
		assert_false(matches(w->read, others[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_permissions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
