/*
 * daemon — what spool-api and spool-worker share about being a daemon:
 * command-line options (-f/-c FILE, -n, -d, -v, -h), loading the config with
 * every error reported before anything starts (exit 78), replacing it on
 * SIGHUP, signal flags, systemd notification and the jittered backoff used when
 * a service is away.
 */
#ifndef SPOOL_DAEMON_H
#define SPOOL_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "secrets.h"

struct daemon_opts {
	const char *config_path;
	bool check_only; /* -n */
	bool foreground; /* -d: text logs to the terminal */
	bool verbose;    /* -v: debug level */
};

/*
 * Parse argv. `usage` is the synopsis after the program name (e.g. "[-Vdnv] [-f file]").
 * Returns -1 to go on, or the exit code to end with (0 for -h and for -V, which
 * prints "PROG VERSION" on stdout; 2 for bad usage).
 * SPOOL_<PROG>_CONFIG is not consulted: daemons take the path from -f only.
 */
int daemon_parse_args(int argc, char **argv, const char *prog, const char *usage,
		      const char *default_config, struct daemon_opts *o);

/*
 * Keep this process's memory, which will hold secrets, out of core files and
 * away from other processes of its user: PR_SET_DUMPABLE 0 (no core dump;
 * /proc/PID/mem and environ, ptrace and gcore need CAP_SYS_PTRACE; /proc/PID
 * becomes root's) and RLIMIT_CORE 0 (for systems whose fs.suid_dumpable still
 * dumps such processes). Both are inherited across fork; execve makes a child
 * dumpable again. Call it first, before any secret is read.
 * Returns -1 to go on, or the exit code to end with (71) after printing why.
 */
int daemon_protect_memory(const char *prog);

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
 * OK" and return 0, or print the reason and return 69 (78 for a pepper that is
 * too short). For a daemon that checks more of the config itself before (it
 * loads with check_only cleared).
 */
int daemon_check_only(const struct config *cfg, struct secrets *sec, const char *prog);

/*
 * Start shipping the log to CloudWatch Logs when [log] cloudwatch_group says so
 * (logship.h; logship_stop() after the daemon's last line). Returns -1 to go
 * on, or the exit code to end with (71: its thread did not start, logged).
 */
int daemon_logship_start(const struct config *cfg, const char *prog);

/*
 * Resolve every secret the config references and check its shape: 0; -1 with
 * a reason in err when one cannot be fetched or read (a service or secret is
 * wrong: exit 69); -2 when the API-key pepper is unfit (apikey_pepper_check: a
 * configuration error, exit 78).
 */
int daemon_check_secrets(const struct config *cfg, struct secrets *sec, struct buf *err);

/*
 * SIGHUP. A daemon keeps its current config in an atomic pointer, *cur, that
 * its threads read once per use. Read (*cur)->path again into a fresh config
 * for `program`. If it is invalid, log the errors ("reload: configuration not
 * changed: ...") and return -1, *cur unchanged. Else log the names of the
 * changed keys that need a restart and give them back their current values
 * (config_keep_unreloadable), apply the log level (unless `verbose`: -v keeps
 * debug), make *cur point to the new config, drop the secrets it names
 * (database, RabbitMQ, S3 credentials) from `sec`'s cache so that their next
 * use fetches them again, and return 0.
 *
 * A replaced config may still be in use by a thread that read it a moment
 * before: every config made here stays allocated until daemon_reload_free(),
 * so a pointer read from *cur stays valid, and the keys that need a restart are
 * equal in all of them. The first config is the caller's.
 */
int daemon_reload_config(const struct config *_Atomic *cur, unsigned program, bool verbose,
			 struct secrets *sec);
/* At exit, once no thread reads a config any more: free those daemon_reload_config made. */
void daemon_reload_free(void);

/* SIGTERM/SIGINT set daemon_stop, SIGHUP sets daemon_reload; SIGPIPE ignored. */
void daemon_signals_install(void);
extern volatile sig_atomic_t daemon_stop;
extern volatile sig_atomic_t daemon_reload;

/*
 * A configuration error found while running, which retrying cannot mend (the
 * broker's queues are of another type than the config says): log `msg` as an
 * error (only the first time) and set daemon_stop, so that the daemon ends
 * with daemon_exit_code() 78 (EX_CONFIG; the systemd units do not restart on
 * it). Safe from any thread.
 */
void daemon_exit_config(const char *msg);
/* The exit status daemon_exit_config asked for, or 0. */
int daemon_exit_code(void);

/* sd_notify wrapper ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=..."). */
void daemon_notify(const char *state);

/* Sleep, waking early (within 100 ms) when daemon_stop is set. */
void daemon_sleep_ms(int ms);

/* min(cap, base * 2^doublings), without overflow: the ceiling of exponential backoff. */
int64_t daemon_backoff_ceiling(int64_t base, int doublings, int64_t cap);
/* Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
unsigned daemon_jitter_ms(unsigned base_ms, unsigned attempt, unsigned cap_ms);

#endif
