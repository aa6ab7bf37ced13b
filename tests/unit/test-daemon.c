/* Backoff arithmetic and memory protection shared by the daemons (shared/daemon.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

static void test_backoff_ceiling(void **state)
{
	(void)state;
	assert_int_equal(daemon_backoff_ceiling(100, 0, 30000), 100);
	assert_int_equal(daemon_backoff_ceiling(100, 1, 30000), 200);
	assert_int_equal(daemon_backoff_ceiling(100, 8, 30000), 25600);
	assert_int_equal(daemon_backoff_ceiling(100, 9, 30000), 30000);
	assert_int_equal(daemon_backoff_ceiling(2, 1000000, 3600), 3600); /* no overflow */
	assert_int_equal(daemon_backoff_ceiling(2, -1, 3600), 2);
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_true(daemon_jitter_ms(500, 0, 5000) <= 500);
		assert_true(daemon_jitter_ms(500, 3, 5000) <= 4000);
		assert_true(daemon_jitter_ms(500, 100, 5000) <= 5000);
	}
	assert_int_equal(daemon_jitter_ms(0, 5, 5000), 0);
}

/* No core dumps: not dumpable, core limit 0, and a forked child inherits both. */
static void test_protect_memory(void **state)
{
	(void)state;
	assert_int_equal(daemon_protect_memory("test-daemon"), -1);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 1);
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_ceiling),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_protect_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
