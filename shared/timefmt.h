/*
 * timefmt — times as the API, the logs and AWS write them: RFC 3339 in UTC.
 */
#ifndef SPOOL_TIMEFMT_H
#define SPOOL_TIMEFMT_H

#include <time.h>

#define TIMEFMT_UTC_SIZE 21    /* "2026-11-29T23:45:00Z" and its NUL */
#define TIMEFMT_UTC_MS_SIZE 25 /* "2026-11-29T23:45:00.123Z" and its NUL */

/* `t` as "YYYY-MM-DDTHH:MM:SSZ". */
void timefmt_utc(time_t t, char out[TIMEFMT_UTC_SIZE]);
/* The current time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void timefmt_now_ms(char out[TIMEFMT_UTC_MS_SIZE]);

#endif
