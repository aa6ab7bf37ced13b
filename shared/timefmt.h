/*
 * timefmt — times as the API, the logs and AWS write them: RFC 3339 in UTC,
 * written and read.
 */
#ifndef SPOOL_TIMEFMT_H
#define SPOOL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TIMEFMT_UTC_SIZE 21    /* "2026-11-29T23:45:00Z" and its NUL */
#define TIMEFMT_UTC_MS_SIZE 25 /* "2026-11-29T23:45:00.123Z" and its NUL */

/* `t` as "YYYY-MM-DDTHH:MM:SSZ". */
void timefmt_utc(time_t t, char out[TIMEFMT_UTC_SIZE]);
/* The current time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void timefmt_now_ms(char out[TIMEFMT_UTC_MS_SIZE]);

/*
 * Parse an RFC 3339 time: "YYYY-MM-DDTHH:MM:SS" followed by "Z" or an offset
 * "+HH:MM" / "-HH:MM" (AWS's documents, S3 listings, operators' "--since").
 * Also accepted: a fraction of a second (ignored: the result is whole seconds),
 * no seconds ("2024-05-01T12:00Z"), a lower-case "t" or "z". Nothing may follow.
 * 0 and the time in *out, or -1 (*out untouched) when `s` is not such a time
 * or a field is out of range.
 */
int timefmt_parse(const char *s, time_t *out);

/*
 * `secs` as a duration is written in the configuration: in the largest of d, h, m
 * and s that it is a whole number of ("5m", "90s", "2h", "7d"; "0s").
 */
void timefmt_duration(int64_t secs, char *out, size_t size);

#endif
