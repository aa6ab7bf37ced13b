/*
 * spool-api — the REST API daemon (spool-api(8); the README's "The REST API").
 *
 * Start-up: config (exit 78 on errors), the API-key pepper, the database pool,
 * the S3 client, the outbox publisher (which declares the RabbitMQ topology and
 * keeps retrying while the broker is away, so the API starts and accepts jobs
 * without it), the ?wait timer, the events and webhooks threads, the connections
 * watchdog, then the HTTP server and READY=1.
 * SIGHUP reloads the reloadable keys; SIGTERM stops accepting, answers what is
 * in flight (waiting clients get the job as it is), then stops the threads.
 */
#include "api.h"
#include "apikey.h"
#include "daemon.h"
#include "log.h"
#include "logship.h"
#include "metrics.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#define PROG "spool-api"
#define USAGE "[-Vdnv] [-f file]"
#define DEFAULT_CONFIG "/etc/spool/api.ini"
#define EX_UNAVAILABLE_CODE 69
#define EX_OSERR_CODE 71
#define DRAIN_MS 30000
/* Descriptors beside the connections: database pool, brokers, S3, logs, MHD's own. */
#define FD_RESERVE 128

/*
 * SIGHUP: read the file again into a fresh config and, if it is valid, make it
 * the current one (daemon_reload_config): the handlers and threads take the new
 * values of the reloadable keys at their next read; cached secrets are dropped.
 */
static void reload(struct api *a)
{
	if (daemon_reload_config(&a->cfg, PROG_API, false, a->sec) == 0) {
		const struct config *cfg = a->cfg;
		metrics_set_interval(cfg->cloudwatch.interval);
		log_info("reload: configuration '%s' applied", cfg->path);
	}
}

/*
 * Room for api.max_connections: raise the soft limit on open files towards the
 * hard one (the systemd unit sets both to 65536; a login shell often gives
 * 1024), and warn when it stays short, since libmicrohttpd then stops accepting
 * at the limit rather than at max_connections.
 */
/*
 * Ping systemd's watchdog only when the daemon serves: a real request through its
 * own listener (server_probe) must be answered. Nothing is probed when no
 * watchdog is asked for (WATCHDOG_USEC unset). Each outage is logged once.
 */
static void watchdog_ping(struct api *a)
{
	static bool failing;
	uint64_t usec = 0;
	struct buf err = BUF_INIT;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return;
	if (server_probe(a, &err) == 0) {
		daemon_notify("WATCHDOG=1");
		if (failing)
			log_info("watchdog: the listener answers again; pinging");
		failing = false;
	} else if (!failing) {
		log_error("watchdog: not pinged: the listener does not answer: %s", buf_str(&err));
		failing = true;
	}
	buf_release(&err);
}

static void fd_limit_raise(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)(cfg->api.max_connections + cfg->database.pool_size + FD_RESERVE);
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = was;
	if (rl.rlim_cur < want)
		log_warn("the limit of %llu open files is too low for max_connections (%lld): connections past "
			 "about %lld wait to be accepted; raise LimitNOFILE (ulimit -n) to %llu or lower max_connections",
			 (unsigned long long)rl.rlim_cur, (long long)cfg->api.max_connections,
			 (long long)rl.rlim_cur - (long long)(want - (rlim_t)cfg->api.max_connections),
			 (unsigned long long)want);
}

/* Fetch the pepper, retrying a little: Secrets Manager may be starting too. */
static int pepper_fetch(struct api *a, struct buf *pepper)
{
	struct buf err = BUF_INIT;
	for (unsigned attempt = 0; attempt < 6 && !daemon_stop; attempt++) {
		buf_reset(&err);
		if (secrets_get(a->sec, a->cfg->api.pepper_secret, pepper, &err) == 0) {
			buf_release(&err);
			return 0;
		}
		log_warn("cannot fetch api.pepper_secret: %s", buf_str(&err));
		daemon_sleep_ms((int)daemon_jitter_ms(500, attempt, 5000));
	}
	log_error("cannot fetch api.pepper_secret: %s; giving up", buf_str(&err));
	buf_release(&err);
	return -1;
}

/*
 * The background threads, before the HTTP server: the publisher (which keeps
 * retrying while RabbitMQ is away), the scheduler, the ?wait timer, the events and webhooks
 * consumers, the connections watchdog and the CloudWatch flush. 0, or -1 with
 * err: a thread did not start (the others are stopped again by threads_stop).
 */
static int threads_start(struct api *a, struct buf *err)
{
	if (publisher_start(a, err) < 0 || scheduler_start(a, err) < 0 || waiter_start(a, err) < 0 ||
	    events_start(a, err) < 0 ||
	    webhooks_start(a, err) < 0 || conns_start(a, err) < 0)
		return -1;
	int rc = metrics_start(a->cfg, NULL, NULL, err);
	if (rc == METRICS_BAD_DIMENSIONS) {
		log_error("%s; no metrics are published", buf_str(err));
		buf_reset(err);
		rc = 0;
	}
	return rc < 0 ? -1 : 0;
}

/* Stop the background threads and the metrics listener; what is not running is passed over. */
static void threads_stop(void)
{
	events_stop();
	webhooks_stop();
	waiter_stop();
	scheduler_stop();
	publisher_stop();
	conns_stop();
	metrics_stop();
	prom_listen_stop();
}

/* SIGTERM: stop accepting, let in-flight requests finish (bounded), stop. */
static void drain(struct api *a)
{
	daemon_notify("STOPPING=1");
	atomic_store(&a->draining, true);
	log_info("stopping: no new connections, finishing %d requests in flight",
		 atomic_load(&a->inflight));
	server_quiesce(a);
	waiter_stop();
	for (int ms = 0; atomic_load(&a->inflight) > 0 && ms < DRAIN_MS; ms += 20) {
		waiter_flush();
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&a->inflight) > 0)
		log_warn("stopping with %d requests still in flight", atomic_load(&a->inflight));
	waiter_flush();
	server_stop(a);
	threads_stop();
}

static int run(struct api *a)
{
	struct buf pepper = BUF_INIT, err = BUF_INIT;
	if (pepper_fetch(a, &pepper) < 0)
		return EX_UNAVAILABLE_CODE;
	if (apikey_pepper_check(pepper.data, pepper.len, a->cfg->api.pepper_secret, &err) < 0) {
		log_error("%s", buf_str(&err));
		OPENSSL_cleanse(pepper.data, pepper.len);
		buf_release(&pepper);
		buf_release(&err);
		return EX_CONFIG_CODE;
	}
	auth_init(buf_str(&pepper), a->cfg->api.key_cache_size);
	webhooks_init(pepper.data ? pepper.data : "", pepper.len);
	OPENSSL_cleanse(pepper.data, pepper.len);
	buf_release(&pepper);
	a->db = db_pool_new(a->cfg, a->sec, (int)a->cfg->database.pool_size);
	a->s3 = s3_new(a->cfg, a->sec);

	fd_limit_raise(a->cfg);
	int rc = threads_start(a, &err);
	if (rc == 0) {
		/* MHD's threads inherit this mask: only the main thread takes the signals. */
		sigset_t set, old;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		rc = prom_listen_start(a->cfg, &err);
		if (rc == 0)
			rc = server_start(a, &err);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (rc < 0) {
		log_error("%s", buf_str(&err));
		threads_stop();
		rc = EX_OSERR_CODE;
	} else {
		log_info("listening on %s port %lld with %lld threads (%s)", a->cfg->api.listen,
			 (long long)a->cfg->api.port, (long long)a->cfg->api.threads,
			 a->tls_cert.len ? "https" : "http");
		daemon_notify("READY=1");
		while (!daemon_stop) {
			daemon_sleep_ms(1000);
			watchdog_ping(a);
			if (daemon_reload) {
				daemon_reload = 0;
				reload(a);
			}
		}
		drain(a);
		rc = daemon_exit_code(); /* 78 when the broker's queues do not fit the config */
		if (rc == 0)
			log_info("stopped");
	}
	waiter_free();
	conns_free();
	videos_budget_free();
	webhooks_free();
	s3_free(a->s3);
	db_pool_free(a->db);
	auth_free();
	buf_release(&err);
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	struct config cfg;
	struct secrets *sec = NULL;
	struct api a;
	int rc = daemon_parse_args(argc, argv, PROG, USAGE, DEFAULT_CONFIG, &o);
	if (rc >= 0 || (rc = daemon_protect_memory(PROG)) >= 0)
		return rc;
	/*
	 * Buffers of 1 MiB and more (the uploads' S3 parts) come straight from mmap,
	 * so that freeing one gives its memory back: by default glibc raises this
	 * threshold past the first such buffer freed and keeps later ones in its heaps.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	/*
	 * The handler threads allocate little and briefly: two heaps serve them. By
	 * default glibc gives threads up to eight heaps per core, each kept with its
	 * high-water mark, which with [api] threads = 32 adds megabytes of RSS.
	 */
	mallopt(M_ARENA_MAX, 2);
	memset(&cfg, 0, sizeof(cfg));
	memset(&a, 0, sizeof(a));
	/* -n checks the TLS files too: load as for a start, then check */
	bool check_only = o.check_only;
	o.check_only = false;
	rc = daemon_load_config(&o, PROG_API, PROG, &cfg, &sec);
	a.cfg = &cfg;
	a.sec = sec;
	if (rc < 0) {
		struct buf err = BUF_INIT;
		if (server_tls_load(&a, &err) < 0) {
			fprintf(stderr, "%s: %s\n", PROG, buf_str(&err));
			rc = EX_CONFIG_CODE;
		}
		buf_release(&err);
	}
	if (rc < 0 && check_only) {
		rc = daemon_check_only(&cfg, sec, PROG);
	} else if (rc < 0) {
		daemon_signals_install();
		rc = daemon_logship_start(&cfg, PROG);
		if (rc < 0)
			rc = run(&a);
		logship_stop(); /* after the last line */
	}
	server_tls_free(&a);
	daemon_reload_free();
	secrets_free(sec);
	config_free(&cfg);
	return rc;
}
