/*
 * version — the version of Spool this build is, as the programs print it
 * (`spool-api -V`, `spool-worker -V`, `adminctl version`) and as the Debian
 * package is numbered.
 *
 * The string is decided by the build, never by the code: scripts/version.sh
 * derives it from `git describe` in a checkout (VERSION's base version plus
 * +gitDATE.COMMIT while no tag names the commit) or reads the VERSION file of a
 * `make dist` tarball, and the Makefile compiles it into version.o alone, so a
 * new commit relinks the programs without recompiling the rest. It is always a
 * valid Debian upstream version: it starts with a digit and holds only
 * letters, digits and `.+~`.
 */
#ifndef SPOOL_VERSION_H
#define SPOOL_VERSION_H

/* The version, a static string (never freed); "unknown" in a build that did not
 * say (the fuzz targets). */
const char *spool_version(void);

#endif
