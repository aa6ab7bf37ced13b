#include "db.h"
#include "clock.h"
#include "daemon.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000

/* Names of the statements prepared on one connection. */
struct prepared_set {
	char **names;
	size_t n, cap;
};

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct config *cfg;
	struct secrets *sec;
	int size;
	struct db_conn *conns;
	bool *busy;
	int failures;        /* consecutive connection failures */
	int64_t retry_at_ms; /* no new connection attempt before this (monotonic) */
};

static bool prepared_has(const struct prepared_set *ps, const char *name)
{
	for (size_t i = 0; ps && i < ps->n; i++)
		if (!strcmp(ps->names[i], name))
			return true;
	return false;
}

static void prepared_add(struct db_conn *c, const char *name)
{
	struct prepared_set *ps = c->prepared;
	if (!ps)
		ps = c->prepared = xcalloc(1, sizeof(*ps));
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->names = xrealloc(ps->names, ps->cap * sizeof(*ps->names));
	}
	ps->names[ps->n++] = xstrdup(name);
}

static void prepared_free(struct db_conn *c)
{
	struct prepared_set *ps = c->prepared;
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		free(ps->names[i]);
	free(ps->names);
	free(ps);
	c->prepared = NULL;
}

/* Close the server connection of `c` and forget what was prepared on it. */
static void conn_drop(struct db_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->broken = false;
	prepared_free(c);
}

static const char *program_name(const struct config *cfg)
{
	if (cfg->program & PROG_API)
		return "spool-api";
	if (cfg->program & PROG_WORKER)
		return "spool-worker";
	return "adminctl";
}

/* libpq's message without its trailing newline, appended to `err`. */
static void add_pq_message(struct buf *err, const char *msg)
{
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	buf_add(err, msg, n);
}

/* libpq's text on one line: newlines become spaces, trailing blanks dropped. */
static void add_one_line(struct buf *err, const char *msg)
{
	size_t start = err->len;
	add_pq_message(err, msg);
	for (size_t i = start; i < err->len; i++)
		if (err->data[i] == '\n' || err->data[i] == '\t')
			err->data[i] = ' ';
}

/* Server notices ("relation already exists, skipping") are not errors: drop them. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static bool is_auth_failure(const char *msg)
{
	return strstr(msg, "password authentication failed") || strstr(msg, "28P01") ||
	       strstr(msg, "authentication failed");
}

/*
 * Open one connection with the credentials of the [database] secret. When the
 * server rejects them the cached secret is dropped and fetched again once: the
 * password may have been rotated.
 */
static PGconn *connect_pg(const struct config *cfg, struct secrets *sec, struct buf *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct buf val = BUF_INIT, why = BUF_INIT;
		struct db_secret ds = { 0 };
		if (!cfg->database.secret) {
			buf_adds(err, "database: no secret configured ([database] secret)");
			return NULL;
		}
		if (secrets_get(sec, cfg->database.secret, &val, &why) < 0) {
			buf_printf(err, "database: %s", buf_str(&why));
			buf_release(&val);
			buf_release(&why);
			return NULL;
		}
		if (db_secret_parse(buf_str(&val), &ds, &why) < 0) {
			buf_printf(err, "database: secret '%s': %s", cfg->database.secret, buf_str(&why));
			buf_release(&val);
			buf_release(&why);
			db_secret_free(&ds);
			return NULL;
		}
		buf_release(&val);
		char port[16], ctimeout[24];
		struct buf options = BUF_INIT;
		snprintf(port, sizeof(port), "%d", ds.port > 0 ? ds.port : 5432);
		snprintf(ctimeout, sizeof(ctimeout), "%lld", (long long)cfg->database.connect_timeout);
		buf_printf(&options, "-c statement_timeout=%lld", (long long)cfg->database.statement_timeout * 1000);
		/* the text of timestamps that db_copy_rfc3339 reads, whatever the server's default */
		buf_adds(&options, " -c DateStyle=ISO");
		/* The daemons run a few prepared statements many times each: a custom plan per
		 * execution (the default for the first five, and again whenever the estimate
		 * favours it) made the planner about 40 % of the server's CPU at full rate.
		 * adminctl's ad-hoc queries keep the default. */
		if (cfg->program & (PROG_API | PROG_WORKER))
			buf_adds(&options, " -c plan_cache_mode=force_generic_plan");
		/* libpq skips a key whose value is NULL: sslrootcert only when configured */
		const char *const keys[] = { "host", "port", "dbname", "user", "password", "sslmode",
					     "connect_timeout", "options", "application_name", "sslrootcert", NULL };
		const char *const vals[] = { ds.host, port, ds.dbname, ds.username, ds.password,
					     cfg->database.sslmode ? cfg->database.sslmode : "prefer", ctimeout,
					     buf_str(&options), program_name(cfg), cfg->database.sslrootcert, NULL };
		PGconn *pg = PQconnectdbParams(keys, vals, 0);
		buf_release(&options);
		if (pg && PQstatus(pg) == CONNECTION_OK) {
			PQsetNoticeProcessor(pg, ignore_notice, NULL);
			db_secret_free(&ds);
			buf_release(&why);
			return pg;
		}
		const char *msg = pg ? PQerrorMessage(pg) : "out of memory";
		bool auth = is_auth_failure(msg);
		if (!auth || attempt == 1) {
			buf_printf(err, "database: cannot connect to %s:%s/%s: ", ds.host ? ds.host : "?", port,
				   ds.dbname ? ds.dbname : "?");
			add_one_line(err, msg);
		}
		PQfinish(pg);
		db_secret_free(&ds);
		buf_release(&why);
		if (!auth)
			return NULL;
		secrets_invalidate(sec, cfg->database.secret);
	}
	return NULL;
}

struct db_pool *db_pool_new(const struct config *cfg, struct secrets *sec, int size)
{
	struct db_pool *p = xcalloc(1, sizeof(*p));
	if (size < 1)
		size = cfg->database.pool_size > 0 ? (int)cfg->database.pool_size : 1;
	pthread_mutex_init(&p->mu, NULL);
	clock_cond_init(&p->cv);
	p->cfg = cfg;
	p->sec = sec;
	p->size = size;
	p->conns = xcalloc((size_t)size, sizeof(*p->conns));
	p->busy = xcalloc((size_t)size, sizeof(*p->busy));
	for (int i = 0; i < size; i++)
		p->conns[i].pool = p;
	return p;
}

void db_pool_free(struct db_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->size; i++)
		conn_drop(&p->conns[i]);
	free(p->conns);
	free(p->busy);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* Delay before the next attempt after `failures` failures: exponential, 50–150 % jitter. */
static int64_t backoff_ms(int failures)
{
	int64_t d = daemon_backoff_ceiling(BACKOFF_MIN_MS, failures - 1, BACKOFF_MAX_MS);
	unsigned char r[2] = { 0, 0 };
	(void)RAND_bytes(r, sizeof(r));
	unsigned jitter = ((unsigned)r[0] << 8 | r[1]) % 1001; /* 0..1000 */
	return d / 2 + d * (int64_t)jitter / 1000;
}

struct db_conn *db_acquire(struct db_pool *p, int timeout_ms, struct buf *err)
{
	int64_t deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int slot = -1;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* Prefer a slot with a live connection, then any free one. */
		for (int i = 0; i < p->size; i++)
			if (!p->busy[i] && p->conns[i].pg && !p->conns[i].broken) {
				slot = i;
				break;
			}
		if (slot < 0)
			for (int i = 0; i < p->size; i++)
				if (!p->busy[i]) {
					slot = i;
					break;
				}
		if (slot >= 0)
			break;
		int64_t left = deadline - clock_now_ms();
		if (left <= 0) {
			pthread_mutex_unlock(&p->mu);
			buf_printf(err, "database: no free connection within %d ms (pool of %d)", timeout_ms, p->size);
			return NULL;
		}
		clock_cond_wait_ms(&p->cv, &p->mu, left);
	}
	p->busy[slot] = true;
	struct db_conn *c = &p->conns[slot];
	if (c->pg && !c->broken) {
		pthread_mutex_unlock(&p->mu);
		return c;
	}
	int64_t wait = p->retry_at_ms - clock_now_ms();
	/*
	 * The attempts made in one round (after one retry_at) fail together when the
	 * server is away: they count as one failure, or the threads of a large pool
	 * reconnecting at once would push the backoff to seconds after a short restart.
	 */
	int64_t round = p->retry_at_ms;
	pthread_mutex_unlock(&p->mu);

	conn_drop(c);
	if (wait > 0) {
		if (clock_now_ms() + wait > deadline) {
			buf_printf(err, "database: unavailable, next connection attempt in %lld ms", (long long)wait);
			goto fail;
		}
		clock_sleep_ms(wait);
	}
	c->pg = connect_pg(p->cfg, p->sec, err);
	pthread_mutex_lock(&p->mu);
	if (c->pg) {
		p->failures = 0;
		p->retry_at_ms = 0;
		pthread_mutex_unlock(&p->mu);
		return c;
	}
	if (p->retry_at_ms == round) {
		p->failures++;
		p->retry_at_ms = clock_now_ms() + backoff_ms(p->failures);
	}
	pthread_mutex_unlock(&p->mu);
fail:
	pthread_mutex_lock(&p->mu);
	p->busy[slot] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Leave the connection idle: roll back an open transaction, note a dead link. */
static void conn_settle(struct db_conn *c)
{
	if (!c->pg)
		return;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		c->broken = true;
		return;
	}
	PGTransactionStatusType ts = PQtransactionStatus(c->pg);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		PGresult *r = PQexec(c->pg, "ROLLBACK");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			c->broken = true;
		PQclear(r);
	} else if (ts != PQTRANS_IDLE) {
		c->broken = true;
	}
}

void db_release(struct db_conn *c)
{
	if (!c)
		return;
	struct db_pool *p = c->pool;
	if (!p) {
		db_close(c);
		return;
	}
	conn_settle(c);
	if (c->broken)
		conn_drop(c);
	pthread_mutex_lock(&p->mu);
	p->busy[c - p->conns] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Turn a failed result into one line; mark the connection broken if the link died. */
static void note_failure(struct db_conn *c, const PGresult *r, struct buf *err)
{
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	buf_adds(err, "database: ");
	add_one_line(err, primary && *primary ? primary : PQerrorMessage(c->pg));
	if (state)
		buf_printf(err, " (SQLSTATE %s)", state);
	if (PQstatus(c->pg) != CONNECTION_OK)
		c->broken = true;
}

static bool result_ok(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *db_exec(struct db_conn *c, const char *name, const char *sql, int nparams,
		  const char *const *params, struct buf *err)
{
	if (!c || !c->pg || c->broken) {
		buf_adds(err, "database: connection is not usable");
		return NULL;
	}
	PGresult *r;
	if (!name) {
		r = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	} else {
		if (!prepared_has(c->prepared, name)) {
			r = PQprepare(c->pg, name, sql, nparams, NULL);
			if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
				note_failure(c, r, err);
				PQclear(r);
				return NULL;
			}
			PQclear(r);
			prepared_add(c, name);
		}
		r = PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0);
	}
	if (!r || !result_ok(r)) {
		note_failure(c, r, err);
		PQclear(r);
		return NULL;
	}
	return r;
}

int db_cmd(struct db_conn *c, const char *sql, struct buf *err)
{
	if (!c || !c->pg || c->broken) {
		buf_adds(err, "database: connection is not usable");
		return -1;
	}
	PGresult *r = PQexec(c->pg, sql);
	if (!r || !result_ok(r)) {
		note_failure(c, r, err);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

int db_ping(struct db_pool *p, struct buf *err)
{
	struct db_conn *c = db_acquire(p, 2000, err);
	if (!c)
		return -1;
	int rc = db_cmd(c, "SELECT 1", err);
	db_release(c);
	return rc;
}

struct db_conn *db_connect(const struct config *cfg, struct secrets *sec, struct buf *err)
{
	PGconn *pg = connect_pg(cfg, sec, err);
	if (!pg)
		return NULL;
	struct db_conn *c = xcalloc(1, sizeof(*c));
	c->pg = pg;
	return c;
}

void db_close(struct db_conn *c)
{
	if (!c)
		return;
	conn_drop(c);
	free(c);
}

char *db_strdup(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return xstrdup(PQgetvalue(r, row, col));
}

void db_copy_rfc3339(char *dst, size_t size, const PGresult *r, int row, int col)
{
	if (!size)
		return;
	dst[0] = '\0';
	if (PQgetisnull(r, row, col))
		return;
	/* "YYYY-MM-DD HH:MM:SS", then an optional fraction of 1 to 6 digits (trailing zeros dropped) */
	const char *v = PQgetvalue(r, row, col);
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)v[i]) : v[i] != shape[i])
			return;
	char ms[4] = "000";
	const char *f = v + sizeof(shape) - 1;
	if (*f == '.')
		for (int i = 0; i < 3 && isdigit((unsigned char)f[1 + i]); i++)
			ms[i] = f[1 + i];
	snprintf(dst, size, "%.10sT%.8s.%sZ", v, v + 11, ms);
}

void db_copy(char *dst, size_t size, const PGresult *r, int row, int col)
{
	if (!size)
		return;
	snprintf(dst, size, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}
