/*
 * daemon — what spool-api and spool-worker share about being a daemon:
 * command-line options (-f/-c FILE, -n, -d, -v, -h), loading the config with
 * every error reported before anything starts (exit 78), signal flags, systemd
 * notification and the jittered backoff used when a service is away.
 */
#ifndef SPOOL_DAEMON_H
#define SPOOL_DAEMON_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "secrets.h"

struct daemon_opts {
	const char *config_path;
	int check_only; /* -n */
	int foreground; /* -d: text logs to the terminal */
	int verbose;    /* -v: debug level */
};

/*
 * Parse argv. `usage` is the synopsis after the program name (e.g. "[-dnv] [-f file]").
 * Returns -1 to go on, or the exit code to end with (0 for -h, 2 for bad usage).
 * SPOOL_<PROG>_CONFIG is not consulted: daemons take the path from -f only.
 */
int daemon_parse_args(int argc, char **argv, const char *prog, const char *usage,
		      const char *default_config, struct daemon_opts *o);

/*
 * Load and check the config for `program`, initialise logging (text on a terminal
 * or with -d, else the configured format; debug with -v), create the secrets
 * resolver (*sec, caller frees). With -n also resolves every secret reference the
 * config names, parsing its JSON shape, and prints "configuration OK".
 * Returns -1 to go on, or the exit code to end with (0 after -n, 78 bad config,
 * 69 a secret could not be fetched).
 */
int daemon_load_config(const struct daemon_opts *o, unsigned program, const char *prog,
		       struct config *cfg, struct secrets **sec);

/*
 * The end of -n: resolve the secrets (daemon_check_secrets), print "configuration
 * OK" and return 0, or print the reason and return 69. For a daemon that checks
 * more of the config itself before (it loads with check_only cleared).
 */
int daemon_check_only(const struct config *cfg, struct secrets *sec, const char *prog);

/* Resolve every secret the config references; -1 with a reason in err. */
int daemon_check_secrets(const struct config *cfg, struct secrets *sec, struct buf *err);

/*
 * SIGHUP: read cur->path again into `next` (a fresh struct) for `program`. If it
 * is invalid, log the errors ("reload: configuration not changed: ...") and
 * return -1; else log the names of the changed keys that need a restart, give
 * them back their current values (config_keep_unreloadable), apply the log
 * level (unless `verbose`: -v keeps debug) and return 0. Either way the caller
 * config_free()s `next` once it is done with it.
 */
int daemon_reload_config(const struct config *cur, unsigned program, int verbose, struct config *next);

/* SIGTERM/SIGINT set daemon_stop, SIGHUP sets daemon_reload; SIGPIPE ignored. */
void daemon_signals_install(void);
extern volatile sig_atomic_t daemon_stop;
extern volatile sig_atomic_t daemon_reload;

/* sd_notify wrapper ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..."). */
void daemon_notify(const char *state);

/* Sleep, waking early (within 100 ms) when daemon_stop is set. */
void daemon_sleep_ms(int ms);

/* min(cap, base * 2^doublings), without overflow: the ceiling of exponential backoff. */
int64_t daemon_backoff_ceiling(int64_t base, int doublings, int64_t cap);
/* Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
unsigned daemon_jitter_ms(unsigned base_ms, unsigned attempt, unsigned cap_ms);

#endif
