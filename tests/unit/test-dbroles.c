/* Unit tests for dbroles: the daemons' grant tables are well formed and least-privilege. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "dbroles.h"

/* Does `kind` have any privilege on `table`? Checks each entry's shape on the way. */
static bool has_table(enum dbroles_kind kind, const char *table)
{
	int n = 0;
	const char *const *g = dbroles_grants(kind, &n);
	bool found = false;
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *colon = strchr(g[i], ':');
		assert_non_null(colon);
		assert_true(colon > g[i]);
		if ((size_t)(colon - g[i]) == strlen(table) && !strncmp(g[i], table, strlen(table)))
			found = true;
	}
	return found;
}

static void test_shape(void **state)
{
	(void)state;
	static const char *const allowed[] = { "SELECT", "INSERT", "UPDATE", "DELETE" };
	for (int k = DBROLES_API; k <= DBROLES_WORKER; k++) {
		int n = 0;
		const char *const *g = dbroles_grants((enum dbroles_kind)k, &n);
		for (int i = 0; i < n; i++) {
			const char *p = strchr(g[i], ':') + 1;
			/* table names: lower case and '_' only, as they are pasted into GRANT */
			assert_int_equal(strspn(g[i], "abcdefghijklmnopqrstuvwxyz_"), (size_t)(p - 1 - g[i]));
			/*
			 * each privilege one of the allowed: no TRUNCATE, REFERENCES, TRIGGER;
			 * DELETE only for the worker's retention sweep, on jobs and their events
			 */
			bool may_delete = k == DBROLES_WORKER && (!strncmp(g[i], "jobs:", 5) ||
								  !strncmp(g[i], "job_events:", 11));
			while (*p) {
				size_t len = strcspn(p, ",");
				bool ok = false;
				for (size_t a = 0; a < sizeof(allowed) / sizeof(allowed[0]); a++)
					ok |= len == strlen(allowed[a]) && !strncmp(p, allowed[a], len);
				assert_true(ok);
				if (len == 6 && !strncmp(p, "DELETE", 6))
					assert_true(may_delete);
				p += len + (p[len] == ',');
			}
			/* one entry per table */
			for (int j = 0; j < i; j++)
				assert_false(strcspn(g[j], ":") == strcspn(g[i], ":") &&
					     !strncmp(g[j], g[i], strcspn(g[i], ":")));
		}
	}
}

static void test_least_privilege(void **state)
{
	(void)state;
	assert_string_equal(dbroles_kind_name(DBROLES_API), "api");
	assert_string_equal(dbroles_kind_name(DBROLES_WORKER), "worker");
	/* the key hashes are the API's alone; tenants and the audit trail are adminctl's */
	assert_true(has_table(DBROLES_API, "api_keys"));
	assert_false(has_table(DBROLES_WORKER, "api_keys"));
	assert_false(has_table(DBROLES_WORKER, "webhook_deliveries"));
	for (int k = DBROLES_API; k <= DBROLES_WORKER; k++) {
		assert_false(has_table((enum dbroles_kind)k, "tenants"));
		assert_false(has_table((enum dbroles_kind)k, "audit"));
		assert_true(has_table((enum dbroles_kind)k, "jobs"));
		/* the API reads tombstones (410), the worker's sweep writes them */
		assert_true(has_table((enum dbroles_kind)k, "job_tombstones"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_least_privilege),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
