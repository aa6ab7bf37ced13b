/*
 * Unit tests for jobops' cancel rule: jobops_cancel_rule, and jobops_cancel and
 * jobops_cancel_many over a scripted job_cancel and job_request_cancel (the
 * Makefile links this test with ld --wrap for both), so no database is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "jobops.h"

#define ID "7c1e0a52-9d2b-4e5f-8a3c-1b2c3d4e5f60"
#define ID2 "00000000-0000-4000-8000-000000000000"
#define ACTOR "adminctl:alice"

enum job_rc __wrap_job_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
			      struct job *out, struct buf *err);
enum job_rc __wrap_job_request_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
				      struct job *out, struct buf *err);

/* Both stand-ins: check the arguments, then answer what the test queued (result, then the job's state). */
static enum job_rc scripted(const char *id, const char *tenant, const char *actor, struct job *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	(void)tenant;
	assert_string_equal(actor, ACTOR);
	snprintf(out->id, sizeof(out->id), "%s", id);
	enum job_rc rc = (enum job_rc)mock();
	out->status = (enum job_status)mock();
	out->cancel_requested = rc == JOB_OK && out->status == JOB_RUNNING;
	if (rc == JOB_ERR)
		buf_adds(err, "database: connection lost");
	return rc;
}

enum job_rc __wrap_job_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
			      struct job *out, struct buf *err)
{
	(void)c;
	function_called();
	return scripted(id, tenant, actor, out, err);
}

enum job_rc __wrap_job_request_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
				      struct job *out, struct buf *err)
{
	(void)c;
	function_called();
	return scripted(id, tenant, actor, out, err);
}

/* Queue one call of `fn` answering `rc` with the job in `status`. */
#define STEP(fn, rc, status)                                    \
	do {                                                    \
		expect_function_call(__wrap_##fn);              \
		will_return(scripted, rc);                      \
		will_return(scripted, status);                  \
	} while (0)

/* jobops_cancel on ID; asserts the outcome and the state it leaves in *out. */
static void expect_cancel(enum jobops_cancel_rc want, enum job_status status)
{
	struct job j;
	struct buf err = BUF_INIT;
	assert_int_equal(jobops_cancel(NULL, ID, NULL, ACTOR, &j, &err), want);
	if (want != JOBOPS_CANCEL_NOT_FOUND && want != JOBOPS_CANCEL_ERR)
		assert_int_equal(j.status, status);
	assert_true(want == JOBOPS_CANCEL_ERR ? err.len > 0 : err.len == 0);
	job_clear(&j);
	buf_release(&err);
}

static void test_rule(void **state)
{
	(void)state;
	assert_int_equal(jobops_cancel_rule(JOB_QUEUED), JOBOPS_CANCELLED);
	assert_int_equal(jobops_cancel_rule(JOB_RETRYING), JOBOPS_CANCELLED);
	assert_int_equal(jobops_cancel_rule(JOB_RUNNING), JOBOPS_CANCEL_REQUESTED);
	assert_int_equal(jobops_cancel_rule(JOB_SUCCEEDED), JOBOPS_CANCEL_REFUSED);
	assert_int_equal(jobops_cancel_rule(JOB_FAILED), JOBOPS_CANCEL_REFUSED);
	assert_int_equal(jobops_cancel_rule(JOB_CANCELLED), JOBOPS_CANCEL_REFUSED);
	/* every final state is refused, every other one acted on */
	for (int s = 0; s < JOB_STATUS_COUNT; s++)
		assert_int_equal(jobops_cancel_rule((enum job_status)s) == JOBOPS_CANCEL_REFUSED,
				 job_status_final((enum job_status)s));
	assert_string_equal(jobops_cancel_rc_name(JOBOPS_CANCELLED), "cancelled");
	assert_string_equal(jobops_cancel_rc_name(JOBOPS_CANCEL_REQUESTED), "cancel_requested");
	assert_string_equal(jobops_cancel_rc_name(JOBOPS_CANCEL_NOT_FOUND), "not_found");
	assert_string_equal(jobops_cancel_rc_name(JOBOPS_CANCEL_REFUSED), "refused");
	assert_string_equal(jobops_cancel_rc_name(JOBOPS_CANCEL_ERR), "error");
}

static void test_queued(void **state)
{
	(void)state;
	STEP(job_cancel, JOB_OK, JOB_CANCELLED);
	expect_cancel(JOBOPS_CANCELLED, JOB_CANCELLED);
}

static void test_running(void **state)
{
	(void)state;
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_OK, JOB_RUNNING);
	expect_cancel(JOBOPS_CANCEL_REQUESTED, JOB_RUNNING);
}

static void test_finished(void **state)
{
	(void)state;
	for (enum job_status s = JOB_SUCCEEDED; s <= JOB_CANCELLED; s++) {
		STEP(job_cancel, JOB_WRONG_STATE, s);
		expect_cancel(JOBOPS_CANCEL_REFUSED, s);
	}
}

static void test_not_found_and_error(void **state)
{
	(void)state;
	STEP(job_cancel, JOB_NOT_FOUND, JOB_QUEUED);
	expect_cancel(JOBOPS_CANCEL_NOT_FOUND, JOB_QUEUED);
	STEP(job_cancel, JOB_ERR, JOB_QUEUED);
	expect_cancel(JOBOPS_CANCEL_ERR, JOB_QUEUED);
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_ERR, JOB_QUEUED);
	expect_cancel(JOBOPS_CANCEL_ERR, JOB_QUEUED);
}

/* A job that changes state between the two statements is judged again in its new state. */
static void test_races(void **state)
{
	(void)state;
	/* running when cancelled, then handed back (retrying) before the request: cancelled after all */
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_WRONG_STATE, JOB_RETRYING);
	STEP(job_cancel, JOB_OK, JOB_CANCELLED);
	expect_cancel(JOBOPS_CANCELLED, JOB_CANCELLED);
	/* running when cancelled, finished before the request: refused in its final state */
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_WRONG_STATE, JOB_SUCCEEDED);
	expect_cancel(JOBOPS_CANCEL_REFUSED, JOB_SUCCEEDED);
	/* claimed by a worker between the UPDATE and the read that followed: a request */
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_OK, JOB_RUNNING);
	expect_cancel(JOBOPS_CANCEL_REQUESTED, JOB_RUNNING);
	/* one that never holds still is refused after four rounds, as last seen */
	for (int i = 0; i < 2; i++) {
		STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
		STEP(job_request_cancel, JOB_WRONG_STATE, JOB_QUEUED);
	}
	expect_cancel(JOBOPS_CANCEL_REFUSED, JOB_QUEUED);
}

static void test_many(void **state)
{
	(void)state;
	const char *ids[] = { ID, ID, ID, ID2 };
	struct jobops_result res[4];
	struct buf err = BUF_INIT;
	STEP(job_cancel, JOB_OK, JOB_CANCELLED);
	STEP(job_cancel, JOB_WRONG_STATE, JOB_RUNNING);
	STEP(job_request_cancel, JOB_OK, JOB_RUNNING);
	STEP(job_cancel, JOB_WRONG_STATE, JOB_FAILED);
	STEP(job_cancel, JOB_NOT_FOUND, JOB_QUEUED);
	assert_int_equal(jobops_cancel_many(NULL, ids, 4, ACTOR, res, &err), 2);
	assert_int_equal(res[0].rc, JOBOPS_CANCELLED);
	assert_int_equal(res[0].status, JOB_CANCELLED);
	assert_int_equal(res[1].rc, JOBOPS_CANCEL_REQUESTED);
	assert_int_equal(res[1].status, JOB_RUNNING);
	assert_int_equal(res[2].rc, JOBOPS_CANCEL_REFUSED);
	assert_int_equal(res[2].status, JOB_FAILED);
	assert_int_equal(res[3].rc, JOBOPS_CANCEL_NOT_FOUND);
	assert_string_equal(res[3].id, ID2);
	/* the database fails on the second: the rest are errors, nothing more is tried */
	STEP(job_cancel, JOB_OK, JOB_CANCELLED);
	STEP(job_cancel, JOB_ERR, JOB_QUEUED);
	assert_int_equal(jobops_cancel_many(NULL, ids, 4, ACTOR, res, &err), -1);
	assert_int_equal(res[0].rc, JOBOPS_CANCELLED);
	for (int i = 1; i < 4; i++)
		assert_int_equal(res[i].rc, JOBOPS_CANCEL_ERR);
	assert_string_equal(buf_str(&err), "database: connection lost");
	buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule),	 cmocka_unit_test(test_queued),		    cmocka_unit_test(test_running),
		cmocka_unit_test(test_finished), cmocka_unit_test(test_not_found_and_error), cmocka_unit_test(test_races),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
