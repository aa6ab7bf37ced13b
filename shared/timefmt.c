#include "timefmt.h"

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
