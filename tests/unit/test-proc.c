/* Subprocesses (shared/proc.c): what a child sees of its parent's environment, and finding the program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

/* Run argv with stdout captured into `out`; asserts it ran and exited 0. */
static void run_ok(const char *const argv[], struct buf *out)
{
	struct proc_opts o = { 0 };
	struct proc_result r;
	struct buf err = BUF_INIT;
	o.timeout_ms = 10000;
	o.out = out;
	assert_int_equal(proc_run(argv, &o, &r, &err), 0);
	assert_true(proc_ok(&r));
	proc_result_release(&r);
	buf_release(&err);
}

/* The child's environment is PATH and LC_ALL only, whatever the parent holds. */
static void test_env_scrubbed(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
	setenv("SPOOL_API_KEY", "sk_not_for_children", 1);
	setenv("LD_PRELOAD", "", 1);
	struct buf out = BUF_INIT;
	const char *const argv[] = { "env", NULL };
	run_ok(argv, &out);
	assert_string_equal(buf_str(&out), "PATH=" PROC_PATH "\nLC_ALL=C\n");
	buf_release(&out);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("SPOOL_API_KEY");
	unsetenv("LD_PRELOAD");
}

/* A name is looked up in the parent's PATH, in order; a path is used as it is. */
static void test_program_lookup(void **state)
{
	(void)state;
	char dir[] = "/tmp/spool-test-proc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct buf script = BUF_INIT, path = BUF_INIT, out = BUF_INIT;
	buf_printf(&script, "%s/spool-test-prog", dir);
	FILE *fp = fopen(buf_str(&script), "w");
	assert_non_null(fp);
	fputs("#!/bin/sh\necho from-the-test-dir\n", fp);
	fclose(fp);
	assert_int_equal(chmod(buf_str(&script), 0755), 0);
	const char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;
	buf_printf(&path, "/nonexistent:%s:/usr/bin:/bin", dir);
	setenv("PATH", buf_str(&path), 1);

	const char *const by_name[] = { "spool-test-prog", NULL };
	run_ok(by_name, &out);
	assert_string_equal(buf_str(&out), "from-the-test-dir\n");
	buf_reset(&out);
	const char *const by_path[] = { buf_str(&script), NULL };
	run_ok(by_path, &out);
	assert_string_equal(buf_str(&out), "from-the-test-dir\n");

	/* not executable: EACCES, as execvp says it */
	assert_int_equal(chmod(buf_str(&script), 0644), 0);
	struct proc_opts o = { 0 };
	struct proc_result r;
	struct buf err = BUF_INIT;
	assert_int_equal(proc_run(by_name, &o, &r, &err), -1);
	assert_string_equal(buf_str(&err), "cannot run 'spool-test-prog': Permission denied");
	buf_reset(&err);
	const char *const missing[] = { "spool-no-such-program", NULL };
	assert_int_equal(proc_run(missing, &o, &r, &err), -1);
	assert_string_equal(buf_str(&err), "cannot run 'spool-no-such-program': No such file or directory");

	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
	unlink(buf_str(&script));
	rmdir(dir);
	buf_release(&err);
	buf_release(&script);
	buf_release(&path);
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_scrubbed),
		cmocka_unit_test(test_program_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
