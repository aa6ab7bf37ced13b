#include "version.h"

/* SPOOL_VERSION comes from the Makefile (scripts/version.sh) */
#ifndef SPOOL_VERSION
#define SPOOL_VERSION "unknown"
#endif

const char *spool_version(void)
{
	return SPOOL_VERSION;
}
