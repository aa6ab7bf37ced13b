/* Unit tests for adminctl's contexts (adminctl/context.c) and its CSV and JSON-lines tables (table.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../adminctl/context.h"
#include "../../adminctl/table.h"
#include "buf.h"
#include "config.h"

#define REQUIRED_SHARED "[api]\npepper_secret = file:/pepper\n"
#define REQUIRED_CONTEXT(db, bucket) \
	"[database]\nsecret = file:/" db "\n[rabbitmq]\nsecret = env:MQ\n[s3]\nbucket = " bucket "\n"

static char path[64];

/* Write `text` to a file of its own and scan it into `f`; returns ctx_file_read's result. */
static int read_text(struct ctx_file *f, const char *text, struct buf *err)
{
	snprintf(path, sizeof(path), "/tmp/test-context.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	buf_reset(err);
	int rc = ctx_file_read(f, path, err);
	unlink(path);
	return rc;
}

static void test_plain_file_is_default(void **state)
{
	(void)state;
	struct ctx_file f;
	struct buf err = BUF_INIT;
	struct config cfg;
	assert_int_equal(read_text(&f, REQUIRED_SHARED REQUIRED_CONTEXT("db.json", "b"), &err), 0);
	assert_false(f.named);
	assert_int_equal(f.n, 1);
	assert_string_equal(ctx_find(&f, NULL)->name, "default");
	assert_non_null(ctx_find(&f, "default"));
	assert_null(ctx_find(&f, "prod"));
	assert_false(f.v[0].production);
	assert_int_equal(ctx_load(&f, &f.v[0], &cfg, PROG_ADMINCTL, &err), 0);
	assert_string_equal(cfg.s3.bucket, "b");
	config_free(&cfg);
	ctx_file_free(&f);
	buf_release(&err);
}

static const char two[] = "; shared\n" REQUIRED_SHARED "[log]\nlevel = warn\n"
			  "[context staging]\n" REQUIRED_CONTEXT("staging.json", "staging-bucket")
			  "[context prod]\n"
			  "production = true\n"
			  "; a comment under it\n" REQUIRED_CONTEXT("prod.json", "prod-bucket");

static void test_two_contexts(void **state)
{
	(void)state;
	struct ctx_file f;
	struct buf err = BUF_INIT, names = BUF_INIT;
	struct config cfg;
	assert_int_equal(read_text(&f, two, &err), 0);
	assert_true(f.named);
	assert_int_equal(f.n, 2);
	ctx_names(&f, &names);
	assert_string_equal(buf_str(&names), "staging, prod");
	assert_string_equal(ctx_find(&f, NULL)->name, "staging"); /* the first */
	assert_false(ctx_find(&f, "staging")->production);
	assert_true(ctx_find(&f, "prod")->production);
	assert_null(ctx_find(&f, "default"));

	assert_int_equal(ctx_load(&f, ctx_find(&f, "staging"), &cfg, PROG_ADMINCTL, &err), 0);
	assert_string_equal(cfg.s3.bucket, "staging-bucket");
	assert_string_equal(cfg.database.secret, "file:/staging.json");
	assert_string_equal(cfg.log.level, "warn"); /* shared */
	config_free(&cfg);
	assert_int_equal(ctx_load(&f, ctx_find(&f, "prod"), &cfg, PROG_ADMINCTL, &err), 0);
	assert_string_equal(cfg.s3.bucket, "prod-bucket");
	assert_string_equal(cfg.database.secret, "file:/prod.json");
	assert_string_equal(cfg.api.pepper_secret, "file:/pepper");
	config_free(&cfg);
	ctx_file_free(&f);
	buf_release(&err);
	buf_release(&names);
}

/* A mistake in a context is reported at its line of the file. */
static void test_errors_name_the_files_line(void **state)
{
	(void)state;
	struct ctx_file f;
	struct buf err = BUF_INIT;
	struct config cfg;
	const char text[] = REQUIRED_SHARED "[context a]\n" REQUIRED_CONTEXT("a.json", "a")
		"[context b]\n" REQUIRED_CONTEXT("b.json", "b") "pool_size = many\n";
	assert_int_equal(read_text(&f, text, &err), 0);
	assert_int_equal(ctx_load(&f, ctx_find(&f, "a"), &cfg, PROG_ADMINCTL, &err), 0); /* b's mistake is b's */
	config_free(&cfg);
	assert_int_equal(ctx_load(&f, ctx_find(&f, "b"), &cfg, PROG_ADMINCTL, &err), -1);
	assert_non_null(strstr(buf_str(&err), "line 17: unknown key 'pool_size' in [s3]"));
	config_free(&cfg);
	ctx_file_free(&f);
	buf_release(&err);
}

static void expect_scan_error(const char *text, const char *want)
{
	struct ctx_file f;
	struct buf err = BUF_INIT;
	if (read_text(&f, text, &err) != -1)
		fail_msg("accepted:\n%s", text);
	if (!strstr(buf_str(&err), want))
		fail_msg("messages\n%s\nlack '%s'", buf_str(&err), want);
	ctx_file_free(&f);
	buf_release(&err);
}

static void test_scan_errors(void **state)
{
	(void)state;
	expect_scan_error("[context a b]\n", "line 1: bad context name 'a b'");
	expect_scan_error("[context ]\n", "bad context name ''");
	expect_scan_error("[context a]\n[context a]\n", "line 2: context 'a' is defined twice");
	expect_scan_error("[context a]\nproduction = maybe\n", "line 2: key 'production' in [context a]: 'maybe' is not a boolean");
	expect_scan_error("[context a]\nbucket = x\n", "line 2: unknown key 'bucket' in [context a]");
}

static void test_confirmed(void **state)
{
	(void)state;
	char name[] = "prod";
	struct ctx_info c = { .name = name, .production = true };
	assert_true(ctx_confirmed(&c, "prod"));
	assert_true(ctx_confirmed(&c, "  prod \n"));
	assert_false(ctx_confirmed(&c, "pro"));
	assert_false(ctx_confirmed(&c, "prod2"));
	assert_false(ctx_confirmed(&c, "PROD"));
	assert_false(ctx_confirmed(&c, ""));
	assert_false(ctx_confirmed(&c, NULL));
}

/* Write `t` in format `f` into a string (caller frees). */
static char *export_to_string(const struct table *t, enum table_format f)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	assert_int_equal(table_export(t, f, fp), 0);
	fclose(fp);
	return out;
}

static void test_csv_and_jsonl(void **state)
{
	(void)state;
	static const struct table_col cols[] = { { "ID", 0 }, { "RUN AT", 0 }, { "ERROR", TABLE_SHRINK } };
	struct table t;
	table_init(&t, cols, 3);
	table_row(&t);
	table_cell(&t, "a");
	table_cell(&t, NULL);
	table_cell(&t, "say \"no\", twice\nthen stop");
	table_row(&t);
	table_cell(&t, "b");
	table_cell(&t, "2026-01-01T00:00:00Z");
	table_cell(&t, "plain");
	char *csv = export_to_string(&t, TABLE_CSV);
	assert_string_equal(csv, "ID,RUN AT,ERROR\r\n"
				 "a,,\"say \"\"no\"\", twice\nthen stop\"\r\n"
				 "b,2026-01-01T00:00:00Z,plain\r\n");
	char *jl = export_to_string(&t, TABLE_JSONL);
	assert_string_equal(jl, "{\"id\":\"a\",\"run_at\":null,\"error\":\"say \\\"no\\\", twice\\nthen stop\"}\n"
				"{\"id\":\"b\",\"run_at\":\"2026-01-01T00:00:00Z\",\"error\":\"plain\"}\n");
	free(csv);
	free(jl);
	table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_file_is_default),
		cmocka_unit_test(test_two_contexts),
		cmocka_unit_test(test_errors_name_the_files_line),
		cmocka_unit_test(test_scan_errors),
		cmocka_unit_test(test_confirmed),
		cmocka_unit_test(test_csv_and_jsonl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
