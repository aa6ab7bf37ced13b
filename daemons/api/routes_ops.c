/*
 * routes_ops — the unauthenticated operational endpoints: /health (liveness, no
 * dependency calls) and /ready (database, queue, storage). /metrics is not here:
 * it has a listener of its own (prom.c).
 */
#include "api.h"
#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <string.h>

/* /ready is unauthenticated: its answer is reused for this long so that it cannot
 * be turned into a flood of database and S3 calls. */
#define READY_CACHE_NS 1000000000ull

enum MHD_Result route_health(struct req *r)
{
	return reply_static(r, 200, "{\"status\":\"ok\"}");
}

struct readiness {
	bool db_ok, queue_ok, storage_ok;
	uint64_t at_ns;
};

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER; /* guards ready_cache */
static struct readiness ready_cache;

static void ready_check(struct api *a, struct readiness *out)
{
	struct buf err = BUF_INIT;
	struct aws_error aerr;
	out->db_ok = db_ping(a->db, &err) == 0;
	if (!out->db_ok)
		log_warn("ready: database: %s", buf_str(&err));
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
	pthread_mutex_unlock(&ready_lock);
	json_t *checks = json_object();
	json_object_set_new(checks, "database", json_string(s.db_ok ? "ok" : "unavailable"));
	json_object_set_new(checks, "queue", json_string(s.queue_ok ? "ok" : "unavailable"));
	json_object_set_new(checks, "storage", json_string(s.storage_ok ? "ok" : "unavailable"));
	if (s.db_ok && s.queue_ok && s.storage_ok) {
		json_t *o = json_object();
		json_object_set_new(o, "status", json_string("ready"));
		json_object_set_new(o, "checks", checks);
		return reply_json(r, 200, o);
	}
	struct buf failing = BUF_INIT;
	const char *name;
	json_t *v;
	json_object_foreach(checks, name, v)
		if (strcmp(json_string_value(v), "ok"))
			buf_printf(&failing, "%s%s", failing.len ? ", " : "", name);
	enum MHD_Result ret = reply_not_ready(r, checks, buf_str(&failing));
	buf_release(&failing);
	return ret;
}
