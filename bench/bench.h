/*
 * bench.h — what the programs of bench/ share (each is one file, built alone by the
 * Makefile's bench-bins).
 */
#ifndef SPOOL_BENCH_H
#define SPOOL_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The whole number `s` in min..max; else says what is wrong, naming `prog` and
 * `what`, and ends the program with status 2 (a usage error). */
static inline long bench_arg_long(const char *prog, const char *s, const char *what, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "%s: %s '%s' is not a number in %ld..%ld\n", prog, what, s, min, max);
		exit(2);
	}
	return v;
}

#endif
