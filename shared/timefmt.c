#include "timefmt.h"

#include <stdbool.h>
#include <stdio.h>

void timefmt_utc(time_t t, char out[TIMEFMT_UTC_SIZE])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, TIMEFMT_UTC_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0'; /* a year past 9999 */
}

void timefmt_now_ms(char out[TIMEFMT_UTC_MS_SIZE])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, TIMEFMT_UTC_MS_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, TIMEFMT_UTC_MS_SIZE - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L));
}

/* `n` decimal digits at *p into *v, within [lo, hi]; advances *p. */
static bool digits(const char **p, int n, int lo, int hi, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += n;
	*v = x;
	return x >= lo && x <= hi;
}

/* The character `c` (punctuation or an upper-case letter, which matches either case) at *p; advances *p. */
static bool lit(const char **p, char c)
{
	char x = **p;
	if (x >= 'a' && x <= 'z')
		x = (char)(x - 'a' + 'A');
	if (x != c)
		return false;
	(*p)++;
	return true;
}

int timefmt_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int oh = 0, om = 0, sign = 0;
	const char *p = s;
	if (!p || !digits(&p, 4, 0, 9999, &tm.tm_year) || !lit(&p, '-') || !digits(&p, 2, 1, 12, &tm.tm_mon) ||
	    !lit(&p, '-') || !digits(&p, 2, 1, 31, &tm.tm_mday) || !lit(&p, 'T') ||
	    !digits(&p, 2, 0, 23, &tm.tm_hour) || !lit(&p, ':') || !digits(&p, 2, 0, 59, &tm.tm_min))
		return -1;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, 0, 60, &tm.tm_sec))
			return -1;
		if (*p == '.' && p[1] >= '0' && p[1] <= '9')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
	}
	if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, 0, 23, &oh) || !lit(&p, ':') || !digits(&p, 2, 0, 59, &om))
			return -1;
	} else if (!lit(&p, 'Z')) {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int leap = tm.tm_sec == 60, mday = tm.tm_mday;
	tm.tm_sec -= leap;
	time_t t = timegm(&tm); /* normalises tm: a day past the month's end shows */
	if (t == (time_t)-1 || tm.tm_mday != mday)
		return -1;
	*out = t + leap - sign * (oh * 3600L + om * 60L);
	return 0;
}

void timefmt_duration(int64_t secs, char *out, size_t size)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
	for (size_t i = 0; secs > 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (secs % units[i].secs == 0) {
			snprintf(out, size, "%lld%c", (long long)(secs / units[i].secs), units[i].unit);
			return;
		}
	snprintf(out, size, "%llds", (long long)secs);
}
