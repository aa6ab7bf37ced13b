/*
 * Unit tests for adminctl's query language (adminctl/query.c): valid queries
 * compile to the expected SQL and parameters, with the caller's alias and first
 * parameter number; invalid ones are refused at the exact column with the
 * exact message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "query.h"

/* Compile `text` with alias "j" from $first; check the SQL and the parameters (NULL-terminated). */
static void compiles(const char *text, int first, const char *sql, ...)
{
	struct query_sql q = QUERY_SQL_INIT;
	struct query_error e;
	int rc = query_compile(text, "j", first, &q, &e);
	if (rc != 0)
		fail_msg("'%s' refused: column %d: %s", text, e.column, e.message);
	assert_string_equal(buf_str(&q.sql), sql);
	va_list ap;
	va_start(ap, sql);
	int n = 0;
	for (const char *p; (p = va_arg(ap, const char *)); n++) {
		assert_true(n < q.nparams);
		assert_string_equal(q.params[n], p);
	}
	va_end(ap);
	assert_int_equal(q.nparams, n);
	query_sql_release(&q);
	assert_null(q.params);
	assert_int_equal(q.nparams, 0);
}

static void refused(const char *text, int column, const char *message)
{
	struct query_sql q = QUERY_SQL_INIT;
	struct query_error e;
	assert_int_equal(query_compile(text, "j", 1, &q, &e), -1);
	assert_string_equal(e.message, message);
	assert_int_equal(e.column, column);
	assert_int_equal(q.nparams, 0);
	assert_null(q.params);
}

static void test_fields(void **state)
{
	(void)state;
	compiles("status=failed", 1, "(j.status = $1)", "failed", NULL);
	compiles("type=video.transcode", 1, "(j.type = $1)", "video.transcode", NULL);
	compiles("tenant~ACME", 1, "(j.tenant_id ILIKE $1)", "%ACME%", NULL);
	compiles("attempts>=2", 1, "(j.attempts >= $1::int)", "2", NULL);
	compiles("max_attempts < 3", 1, "(j.max_attempts < $1::int)", "3", NULL);
	compiles("id=0b7e4c52-6c1a-4b7e-9d2e-1f1f2a3b4c5d", 1, "(j.id = $1::uuid)",
		 "0b7e4c52-6c1a-4b7e-9d2e-1f1f2a3b4c5d", NULL);
	compiles("worker!=w1", 1, "(NOT coalesce(j.worker_id = $1, false))", "w1", NULL);
	compiles("priority=high", 1, "(j.priority = $1)", "high", NULL);
	compiles("STATUS=queued", 1, "(j.status = $1)", "queued", NULL);
}

static void test_times(void **state)
{
	(void)state;
	compiles("created>2h", 1, "(j.created_at > now() - $1::interval)", "7200 seconds", NULL);
	compiles("finished<=3d", 1, "(j.finished_at <= now() - $1::interval)", "259200 seconds", NULL);
	compiles("started>=90m", 1, "(j.started_at >= now() - $1::interval)", "5400 seconds", NULL);
	compiles("updated<1w", 1, "(j.updated_at < now() - $1::interval)", "604800 seconds", NULL);
	compiles("created<2024-05-01", 1, "(j.created_at < $1::timestamptz)", "2024-05-01T00:00:00Z", NULL);
	compiles("created>=2024-05-01T14:30:00+02:00", 1, "(j.created_at >= $1::timestamptz)",
		 "2024-05-01T12:30:00Z", NULL);
}

static void test_json(void **state)
{
	(void)state;
	compiles("params.height=720", 1, "((j.params @> $1::jsonb OR j.params @> $2::jsonb))", "{\"height\":720}",
		 "{\"height\":\"720\"}", NULL);
	compiles("params.codec=h264", 1, "(j.params @> $1::jsonb)", "{\"codec\":\"h264\"}", NULL);
	compiles("params.height=\"720\"", 1, "(j.params @> $1::jsonb)", "{\"height\":\"720\"}", NULL);
	compiles("params.hdr=true", 1, "((j.params @> $1::jsonb OR j.params @> $2::jsonb))", "{\"hdr\":true}",
		 "{\"hdr\":\"true\"}", NULL);
	compiles("error.code=invalid_media", 1, "(j.error @> $1::jsonb)", "{\"code\":\"invalid_media\"}", NULL);
	compiles("error.message~timeout", 1, "((j.error ->> $1::text) ILIKE $2)", "message", "%timeout%", NULL);
	compiles("result.meta.width>=1280", 1,
		 "(CASE WHEN jsonb_typeof(j.result #> $1::text[]) = 'number' THEN (j.result #>> $1::text[])::numeric "
		 "END >= $2::numeric)",
		 "{\"meta\",\"width\"}", "1280", NULL);
	compiles("result.meta.codec~h26", 1, "((j.result #>> $1::text[]) ILIKE $2)", "{\"meta\",\"codec\"}", "%h26%",
		 NULL);
	compiles("params.name<m", 1, "((j.params #>> $1::text[]) < $2)", "{\"name\"}", "m", NULL);
	compiles("params.a!~x", 1, "(NOT coalesce((j.params ->> $1::text) ILIKE $2, false))", "a", "%x%", NULL);
	/* keys and values with characters of JSON and array literals are encoded, never pasted */
	compiles("source.k{\\=\"a\\\"b\"", 1, "(j.source @> $1::jsonb)", "{\"k{\\\\\":\"a\\\"b\"}", NULL);
}

static void test_text(void **state)
{
	(void)state;
	compiles("timeout", 1,
		 "((starts_with(j.id::text, lower($1)) OR j.type = $1 OR j.error->>'code' = $1 OR "
		 "j.error->>'message' ILIKE $2))",
		 "timeout", "%timeout%", NULL);
	compiles("'out of 50%_'", 1,
		 "((starts_with(j.id::text, lower($1)) OR j.type = $1 OR j.error->>'code' = $1 OR "
		 "j.error->>'message' ILIKE $2))",
		 "out of 50%_", "%out of 50\\%\\_%", NULL);
	compiles("", 1, "true", NULL);
	compiles("   ", 1, "true", NULL);
}

static void test_logic(void **state)
{
	(void)state;
	compiles("status=failed type=noop", 1, "(j.status = $1 AND j.type = $2)", "failed", "noop", NULL);
	compiles("status=failed and type=noop", 1, "(j.status = $1 AND j.type = $2)", "failed", "noop", NULL);
	compiles("status=failed or status=cancelled attempts>1", 1,
		 "(j.status = $1 OR j.status = $2 AND j.attempts > $3::int)", "failed", "cancelled", "1", NULL);
	compiles("(status=failed or status=cancelled) attempts>1", 1,
		 "((j.status = $1 OR j.status = $2) AND j.attempts > $3::int)", "failed", "cancelled", "1", NULL);
	compiles("!status=failed", 1, "(NOT coalesce(j.status = $1, false))", "failed", NULL);
	compiles("not (type=noop OR type = x)", 1, "(NOT coalesce((j.type = $1 OR j.type = $2), false))", "noop", "x",
		 NULL);
	compiles("! ! type=noop", 1, "(NOT coalesce(NOT coalesce(j.type = $1, false), false))", "noop", NULL);
	/* the first parameter is the caller's */
	compiles("status=failed params.height=720", 5,
		 "(j.status = $5 AND (j.params @> $6::jsonb OR j.params @> $7::jsonb))", "failed", "{\"height\":720}",
		 "{\"height\":\"720\"}", NULL);
}

static void test_alias(void **state)
{
	(void)state;
	struct query_sql q = QUERY_SQL_INIT;
	struct query_error e;
	assert_int_equal(query_compile("status=failed error.code=x", NULL, 1, &q, &e), 0);
	assert_string_equal(buf_str(&q.sql), "(status = $1 AND error @> $2::jsonb)");
	assert_int_equal(query_compile("type=noop", "jobs", 3, &q, &e), 0); /* releases the previous one */
	assert_string_equal(buf_str(&q.sql), "(jobs.type = $3)");
	query_sql_release(&q);
}

static void test_errors(void **state)
{
	(void)state;
	refused("error.message=", 14, "expected a value after '='");
	refused("status=failed params.height>=", 28, "expected a value after '>='");
	refused("status=bogus", 8,
		"unknown status 'bogus' (scheduled, queued, running, retrying, succeeded, failed, cancelled)");
	refused("colour=red", 1,
		"unknown field 'colour' (id, status, type, tenant, worker, attempts, max_attempts, created, started, "
		"finished, updated, params.KEY, result.KEY, error.KEY, source.KEY)");
	refused("params=1", 1, "params needs a key: params.KEY");
	refused("status.x=1", 7, "status has no keys");
	refused("params..a=1", 8, "expected a key after '.'");
	refused("attempts=two", 10, "attempts wants a whole number, not 'two'");
	refused("attempts~1", 9, "attempts is a number: '~' compares text");
	refused("created~x", 8, "created is a time: '~' compares text");
	refused("created>yesterday", 9,
		"created wants an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01) or an age (90m, 2h, 7d), "
		"not 'yesterday'");
	refused("status<failed", 7, "status takes = != ~ !~ only");
	refused("id=abc", 4, "'abc' is not a whole job id (a word alone matches an id prefix)");
	refused("(status=failed", 15, "expected ')' to close the '(' at column 1");
	refused("status=failed)", 14, "unexpected ')'");
	refused("()", 2, "expected a term after '('");
	refused("a and", 6, "expected a term after 'and' at column 3");
	refused("a or", 5, "expected a term after 'or' at column 3");
	refused("or a", 1, "expected a term before 'or'");
	refused("not", 4, "expected a term after 'not'");
	refused("a !", 4, "expected a term after '!'");
	refused("foo!bar", 4, "expected '!=' or '!~' after 'foo'");
	refused("= x", 1, "expected a field before '='");
	refused("type='noop", 6, "unterminated quote: ' without its closing '");
	refused("\"abc", 1, "unterminated quote: \" without its closing \"");
	/* columns count characters, not bytes */
	refused("\"é\" type=", 9, "expected a value after '='");
}

static void test_limits(void **state)
{
	(void)state;
	char deep[80];
	memset(deep, '(', 40);
	strcpy(deep + 40, "x");
	refused(deep, 33, "nested deeper than 32");
	char many[400] = "";
	for (int i = 0; i < 65; i++)
		strcat(many, "a ");
	refused(many, 129, "more than 64 terms");
	char big[QUERY_MAX_LEN + 8];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	refused(big, QUERY_MAX_LEN + 1, "longer than 4096 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields), cmocka_unit_test(test_times), cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),   cmocka_unit_test(test_logic), cmocka_unit_test(test_alias),
		cmocka_unit_test(test_errors), cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
