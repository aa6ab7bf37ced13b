#include "daemon.h"
#include "apikey.h"
#include "log.h"
#include "logship.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define EX_USAGE_CODE 2
#define EX_UNAVAILABLE_CODE 69
#define EX_OSERR_CODE 71

volatile sig_atomic_t daemon_stop;
volatile sig_atomic_t daemon_reload;
static atomic_int exit_code;

static void print_usage(FILE *fp, const char *prog, const char *usage)
{
	fprintf(fp, "usage: %s %s\n", prog, usage);
}

int daemon_parse_args(int argc, char **argv, const char *prog, const char *usage,
		      const char *default_config, struct daemon_opts *o)
{
	int c;
	memset(o, 0, sizeof(*o));
	o->config_path = default_config;
	optind = 1;
	while ((c = getopt(argc, argv, "c:f:dnvVh")) != -1) {
		switch (c) {
		case 'c':
		case 'f':
			o->config_path = optarg;
			break;
		case 'd':
			o->foreground = true;
			break;
		case 'n':
			o->check_only = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			printf("%s %s\n", prog, spool_version());
			return 0;
		case 'h':
			print_usage(stdout, prog, usage);
			return 0;
		default:
			print_usage(stderr, prog, usage);
			return EX_USAGE_CODE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		print_usage(stderr, prog, usage);
		return EX_USAGE_CODE;
	}
	return -1;
}

int daemon_protect_memory(const char *prog)
{
	const struct rlimit none = { 0, 0 };
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0) {
		fprintf(stderr, "%s: cannot keep secrets out of core dumps: %s\n", prog, strerror(errno));
		return EX_OSERR_CODE;
	}
	return -1;
}

static int check_one(struct secrets *sec, const char *ref, const char *what,
		     int (*parse)(const char *, struct buf *), struct buf *err)
{
	struct buf val = BUF_INIT;
	if (!ref)
		return 0;
	int rc = secrets_get(sec, ref, &val, err);
	if (rc == 0 && parse)
		rc = parse(buf_str(&val), err);
	if (rc != 0 && err->len)
		buf_printf(err, " (%s)", what);
	buf_release(&val);
	return rc;
}

static int parse_db(const char *json, struct buf *err)
{
	struct db_secret s;
	int rc = db_secret_parse(json, &s, err);
	if (rc == 0)
		db_secret_free(&s);
	return rc;
}

static int parse_mq(const char *json, struct buf *err)
{
	struct mq_secret s;
	int rc = mq_secret_parse(json, &s, err);
	if (rc == 0)
		mq_secret_free(&s);
	return rc;
}

static int parse_s3(const char *json, struct buf *err)
{
	struct s3_secret s;
	int rc = s3_secret_parse(json, &s, err);
	if (rc == 0)
		s3_secret_free(&s);
	return rc;
}

/* The pepper: fetched (-1 if it cannot be), then long enough (-2 if not). */
static int check_pepper(struct secrets *sec, const char *ref, struct buf *err)
{
	struct buf val = BUF_INIT;
	int rc = 0;
	if (!ref)
		return 0;
	if (secrets_get(sec, ref, &val, err) != 0) {
		buf_adds(err, " (api.pepper_secret)");
		rc = -1;
	} else if (apikey_pepper_check(val.data, val.len, ref, err) < 0) {
		rc = -2;
	}
	if (val.data)
		OPENSSL_cleanse(val.data, val.len);
	buf_release(&val);
	return rc;
}

int daemon_check_secrets(const struct config *cfg, struct secrets *sec, struct buf *err)
{
	if (check_one(sec, cfg->database.secret, "database.secret", parse_db, err) ||
	    check_one(sec, cfg->rabbitmq.secret, "rabbitmq.secret", parse_mq, err) ||
	    check_one(sec, cfg->s3.credentials_secret, "s3.credentials_secret", parse_s3, err))
		return -1;
	if (cfg->program & (PROG_API | PROG_ADMINCTL))
		return check_pepper(sec, cfg->api.pepper_secret, err);
	return 0;
}

int daemon_load_config(const struct daemon_opts *o, unsigned program, const char *prog,
		       struct config *cfg, struct secrets **sec)
{
	struct buf err = BUF_INIT;
	*sec = NULL;
	if (config_load(cfg, o->config_path, program, &err) < 0) {
		fputs(buf_str(&err), stderr);
		buf_release(&err);
		return EX_CONFIG_CODE;
	}
	enum log_level lvl = LL_INFO;
	enum log_format fmt = LF_JSON;
	log_level_parse(cfg->log.level, &lvl);
	log_format_parse(cfg->log.format, &fmt);
	if (o->verbose)
		lvl = LL_DEBUG;
	if (o->foreground && isatty(STDERR_FILENO))
		fmt = LF_TEXT;
	const char *instance = program == PROG_WORKER ? cfg->worker.id : NULL;
	log_init(prog, instance, fmt, lvl);
	*sec = secrets_new(cfg);
	buf_release(&err);
	return o->check_only ? daemon_check_only(cfg, *sec, prog) : -1;
}

int daemon_logship_start(const struct config *cfg, const char *prog)
{
	struct buf err = BUF_INIT;
	int rc = logship_start(cfg, prog, &err) < 0 ? EX_OSERR_CODE : -1;
	if (rc >= 0)
		log_error("%s", buf_str(&err));
	buf_release(&err);
	return rc;
}

int daemon_check_only(const struct config *cfg, struct secrets *sec, const char *prog)
{
	struct buf err = BUF_INIT;
	int rc = daemon_check_secrets(cfg, sec, &err);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", prog, buf_str(&err));
		buf_release(&err);
		return rc == -2 ? EX_CONFIG_CODE : EX_UNAVAILABLE_CODE;
	}
	printf("configuration OK\n");
	buf_release(&err);
	return 0;
}

/* The configs daemon_reload_config made, the current one last: threads may still read any of them. */
static struct config **reloaded;
static size_t nreloaded;

/* Read cur->path into `next`; -1 (logged) when it is invalid. See daemon_reload_config. */
static int reload_parse(const struct config *cur, unsigned program, bool verbose, struct config *next)
{
	struct buf err = BUF_INIT, fixed = BUF_INIT;
	int rc = -1;

	if (config_load(next, cur->path, program, &err) < 0) {
		/* one line per problem: keep them on one log line */
		while (err.len > 0 && err.data[err.len - 1] == '\n')
			err.data[--err.len] = '\0';
		for (size_t i = 0; i < err.len; i++)
			if (err.data[i] == '\n')
				err.data[i] = ';';
		log_error("reload: configuration not changed: %s", buf_str(&err));
		goto out;
	}
	if (config_unreloadable_changes(cur, next, &fixed) > 0)
		log_warn("reload: these keys need a restart and keep their old values: %s", buf_str(&fixed));
	config_keep_unreloadable(next, cur);
	enum log_level lvl;
	if (!verbose && log_level_parse(next->log.level, &lvl) == 0)
		log_set_level(lvl);
	rc = 0;
out:
	buf_release(&err);
	buf_release(&fixed);
	return rc;
}

int daemon_reload_config(const struct config *_Atomic *cur, unsigned program, bool verbose,
			 struct secrets *sec)
{
	struct config *next = xcalloc(1, sizeof(*next));

	if (reload_parse(atomic_load(cur), program, verbose, next) < 0) {
		config_free(next);
		free(next);
		return -1;
	}
	reloaded = xrealloc(reloaded, (nreloaded + 1) * sizeof(*reloaded));
	reloaded[nreloaded++] = next;
	atomic_store(cur, next);
	secrets_invalidate(sec, next->database.secret);
	secrets_invalidate(sec, next->rabbitmq.secret);
	if (next->s3.credentials_secret)
		secrets_invalidate(sec, next->s3.credentials_secret);
	return 0;
}

void daemon_reload_free(void)
{
	for (size_t i = 0; i < nreloaded; i++) {
		config_free(reloaded[i]);
		free(reloaded[i]);
	}
	free(reloaded);
	reloaded = NULL;
	nreloaded = 0;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		daemon_reload = 1;
	else
		daemon_stop = 1;
}

void daemon_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void daemon_exit_config(const char *msg)
{
	int none = 0;
	if (atomic_compare_exchange_strong(&exit_code, &none, EX_CONFIG_CODE))
		log_error("%s", msg);
	daemon_stop = 1;
}

int daemon_exit_code(void)
{
	return atomic_load(&exit_code);
}

void daemon_notify(const char *state)
{
	sd_notify(0, state);
}

void daemon_sleep_ms(int ms)
{
	while (ms > 0 && !daemon_stop) {
		int step = ms > 100 ? 100 : ms;
		struct timespec ts = { step / 1000, (long)(step % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !daemon_stop)
			;
		ms -= step;
	}
}

int64_t daemon_backoff_ceiling(int64_t base, int doublings, int64_t cap)
{
	int64_t d = base;
	for (int i = 0; i < doublings && d < cap; i++)
		d *= 2;
	return d > cap ? cap : d;
}

unsigned daemon_jitter_ms(unsigned base_ms, unsigned attempt, unsigned cap_ms)
{
	uint64_t ceil = (uint64_t)daemon_backoff_ceiling(base_ms, (int)(attempt > 64 ? 64 : attempt), cap_ms);
	unsigned r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)rand();
	return ceil ? (unsigned)(r % (ceil + 1)) : 0;
}
