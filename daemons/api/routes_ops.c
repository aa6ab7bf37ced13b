/*
 * routes_ops — the unauthenticated operational endpoints: /health (liveness, no
 * dependency calls) and /ready (database, queue, storage, schema; and the
 * tenants and job types paused by an operator, which do not make the API
 * unready). /metrics is not here: it has a listener of its own (prom.c).
 */
#include "api.h"
#include "clock.h"
#include "joblimits.h"
#include "log.h"
#include "migrate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* /ready is unauthenticated: its answer is reused for this long so that it cannot
 * be turned into a flood of database and S3 calls. */
#define READY_CACHE_NS 1000000000ull
/* The schema version changes only with a deploy: read it at most this often. */
#define SCHEMA_CACHE_NS 5000000000ull
/* Paused names /ready lists at most. */
#define READY_PAUSED_MAX 100

enum MHD_Result route_health(struct req *r)
{
	return reply_static(r, 200, "{\"status\":\"ok\"}");
}

struct readiness {
	bool db_ok, queue_ok, storage_ok, schema_ok;
	bool schema_version_logged; /* the newer schema was logged */
	int schema_version;   /* the database's, as last read */
	json_t *paused; /* "tenant:NAME", "type:NAME" strings; NULL when the database did not say */
	uint64_t at_ns;
	uint64_t schema_at_ns; /* when it was read; 0: to read */
};

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER; /* guards ready_cache */
static struct readiness ready_cache;

/*
 * A database behind this binary's schema (migrations not run yet: a first boot
 * before adminctl db bootstrap, a deploy that skipped it) is not ready: the
 * API's SQL needs columns it lacks. A database ahead of it is ready: during a
 * rolling deploy the new release migrates first, and the old binaries still
 * running must keep serving (migrations only add), so that is only logged.
 * A failed read keeps the last answer and is tried again next time.
 */
static void schema_check(struct api *a, struct readiness *out)
{
	if (out->schema_at_ns && clock_now_ns() - out->schema_at_ns <= SCHEMA_CACHE_NS)
		return;
	struct buf err = BUF_INIT;
	struct db_conn *c = db_acquire(a->db, 2000, &err);
	if (!c) {
		buf_release(&err);
		return;
	}
	int rc = migrate_check(c, &out->schema_version, &err);
	db_release(c);
	if (rc >= 0) {
		bool was_ok = out->schema_ok || !out->schema_at_ns;
		out->schema_ok = rc != MIGRATE_OLDER;
		out->schema_at_ns = clock_now_ns();
		if (rc == MIGRATE_OLDER && was_ok)
			log_warn("ready: schema: %s", buf_str(&err));
		else if (rc == MIGRATE_NEWER && !out->schema_version_logged)
			log_info("ready: schema: %s; serving meanwhile (a newer release is being deployed)",
				 buf_str(&err));
		out->schema_version_logged = rc == MIGRATE_NEWER;
	}
	buf_release(&err);
}

/* The names paused now (a new array), or NULL when they cannot be read (logged). */
static json_t *ready_paused(struct api *a)
{
	struct buf err = BUF_INIT;
	char **names = NULL;
	size_t n = 0;
	json_t *arr = NULL;
	struct db_conn *c = db_acquire(a->db, 1000, &err);
	if (c && joblimits_paused_names(c, READY_PAUSED_MAX, &names, &n, &err) == 0) {
		arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_array_append_new(arr, json_string(names[i]));
			free(names[i]);
		}
		free(names);
	} else {
		log_warn("ready: paused tenants and types: %s", buf_str(&err));
	}
	if (c)
		db_release(c);
	buf_release(&err);
	return arr;
}

static void ready_check(struct api *a, struct readiness *out)
{
	struct buf err = BUF_INIT;
	struct aws_error aerr;
	out->db_ok = db_ping(a->db, &err) == 0;
	if (!out->db_ok)
		log_warn("ready: database: %s", buf_str(&err));
	else
		schema_check(a, out);
	json_decref(out->paused);
	out->paused = out->db_ok ? ready_paused(a) : NULL;
	out->queue_ok = publisher_queue_ok();
	memset(&aerr, 0, sizeof(aerr));
	out->storage_ok = s3_ping(a->s3, &aerr) == 0;
	if (!out->storage_ok)
		log_warn("ready: storage: %ld %s %s", aerr.status, aerr.code, aerr.message);
	out->at_ns = clock_now_ns();
	buf_release(&err);
}

enum MHD_Result route_ready(struct req *r)
{
	struct readiness s;
	/* One checker at a time; the others wait and take its answer. */
	pthread_mutex_lock(&ready_lock);
	if (!ready_cache.at_ns || clock_now_ns() - ready_cache.at_ns > READY_CACHE_NS)
		ready_check(r->api, &ready_cache);
	s = ready_cache;
	s.paused = ready_cache.paused ? json_deep_copy(ready_cache.paused) : NULL; /* ours, outside the lock */
	pthread_mutex_unlock(&ready_lock);
	json_t *checks = json_object();
	json_object_set_new(checks, "database", json_string(s.db_ok ? "ok" : "unavailable"));
	json_object_set_new(checks, "queue", json_string(s.queue_ok ? "ok" : "unavailable"));
	json_object_set_new(checks, "storage", json_string(s.storage_ok ? "ok" : "unavailable"));
	/* before its first read (the database down since start) the schema is not known to be ok */
	bool schema_ok = s.schema_ok && s.schema_at_ns;
	json_object_set_new(checks, "schema", json_string(schema_ok ? "ok" : s.schema_at_ns ? "behind" : "unknown"));
	if (s.db_ok && s.queue_ok && s.storage_ok && schema_ok) {
		json_t *o = json_object();
		json_object_set_new(o, "status", json_string("ready"));
		json_object_set_new(o, "checks", checks);
		if (s.paused)
			json_object_set_new(o, "paused", s.paused);
		return reply_json(r, 200, o);
	}
	json_decref(s.paused);
	struct buf failing = BUF_INIT;
	const char *name;
	json_t *v;
	json_object_foreach(checks, name, v)
		if (strcmp(json_string_value(v), "ok"))
			buf_printf(&failing, "%s%s %s", failing.len ? ", " : "", name, json_string_value(v));
	if (s.schema_at_ns && !s.schema_ok)
		buf_printf(&failing, " (the database is at version %d, this program needs %d: run adminctl db bootstrap)",
			   s.schema_version, migrate_latest());
	enum MHD_Result ret = reply_not_ready(r, checks, buf_str(&failing));
	buf_release(&failing);
	return ret;
}
