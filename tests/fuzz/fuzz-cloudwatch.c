/*
 * fuzz-cloudwatch — cloudwatch_parse_get() on a GetMetricData answer, taken as
 * two pages merged into one set of series as cloudwatch_get_metric_data() does
 * when it follows NextToken. The input is copied into a buffer of its exact
 * size, so that reading past the answer is caught.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cloudwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One series per id, each with as many timestamps as values. */
static void check_series(const struct cw_series *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!s[i].id || !memchr(s[i].status, '\0', sizeof(s[i].status)) ||
		    (s[i].n && (!s[i].timestamps || !s[i].values)))
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s[i].id, s[j].id))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *x = size ? xmalloc(size) : NULL;
	if (size)
		memcpy(x, data, size);
	struct cw_series *s = NULL;
	size_t n = 0;
	struct buf next = BUF_INIT;
	if (cloudwatch_parse_get(x, size, &s, &n, &next) == 0) {
		if (next.len > size)
			abort();
		check_series(s, n);
		size_t first = n, points = 0;
		for (size_t i = 0; i < n; i++)
			points += s[i].n;
		/* the same page again: no new series, each one's points doubled */
		if (cloudwatch_parse_get(x, size, &s, &n, &next) != 0 || n != first)
			abort();
		check_series(s, n);
		size_t again = 0;
		for (size_t i = 0; i < n; i++)
			again += s[i].n;
		if (again != 2 * points)
			abort();
	} else if (n || s) {
		abort();
	}
	cloudwatch_series_free(s, n);
	buf_release(&next);
	free(x);
	return 0;
}
