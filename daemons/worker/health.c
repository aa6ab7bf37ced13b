/*
 * health — spool-worker's liveness: GET /health on [worker] health_listen, and
 * the truth the systemd watchdog is pinged on (main.c pings only while
 * worker_health() says healthy).
 *
 * Every thread stamps a struct alive while it makes progress (alive.h): the
 * consumer in its loop (at least every CONSUME_TICK_MS, and each second while it
 * waits to reconnect), each worker thread while idle (each second) and while it
 * runs a job (S3 transfers moving bytes, the wait for ffmpeg or ffprobe, the
 * retries of database writes), the heartbeat thread each second and the reaper
 * each second between its passes. A stamp older than [worker] stall_timeout
 * names a wedged thread.
 *
 * The broker: the worker is healthy while it is connected, or while the
 * consumer keeps trying to reconnect (its last attempt no older than the
 * longest reconnection backoff plus stall_timeout). A broker outage does not
 * make the worker unhealthy: restarting it would not bring the broker back,
 * and it resumes by itself once the broker is back; GET /health says
 * "reconnecting" and for how long.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

/* The consumer's longest wait between two reconnection attempts (main.c's backoff cap). */
#define RECONNECT_MAX_MS 30000
/* GET /health: few connections, short timeouts. */
#define HEALTH_CONNECTIONS 4
#define HEALTH_TIMEOUT_S 5

static struct MHD_Daemon *health_mhd;

/* Add the stamp age of thread `name` to `threads`; note it in `why` if stalled. */
static bool check(json_t *threads, const char *name, const struct alive *a, uint64_t now, uint64_t stall_ms,
		  const char *job, struct buf *why)
{
	uint64_t age = alive_age_ms(a, now);
	bool ok = age <= stall_ms;

	json_object_set_new(threads, name, age == UINT64_MAX ? json_null() : json_integer((json_int_t)age));
	if (!ok && why->len == 0) {
		if (age == UINT64_MAX)
			buf_printf(why, "the %s thread never started", name);
		else
			buf_printf(why, "the %s thread shows no progress for %llu s (over stall_timeout %llu s)%s%s", name,
				   (unsigned long long)(age / 1000), (unsigned long long)(stall_ms / 1000),
				   job ? ", running job " : "", job ? job : "");
	}
	return ok;
}

int worker_health(struct worker *w, struct buf *why, json_t **report)
{
	uint64_t now = clock_now_ns(), stall_ms = (uint64_t)w->cfg->worker.stall_timeout * 1000u;
	json_t *threads = json_object();
	bool ok = true;

	buf_reset(why);
	ok &= check(threads, "consumer", &w->consumer_alive, now, stall_ms, NULL, why);
	ok &= check(threads, "heartbeat", &w->heartbeat_alive, now, stall_ms, NULL, why);
	ok &= check(threads, "reaper", &w->reaper_alive, now, stall_ms, NULL, why);
	ok &= check(threads, "archiver", &w->archiver_alive, now, stall_ms, NULL, why);
	ok &= check(threads, "completer", completer_alive(w), now, stall_ms, NULL, why);
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->nstarted; i++) {
		char name[32], job[JOB_ID_LEN + 1];
		if (!w->threads[i].alive)
			continue;
		snprintf(name, sizeof(name), "job %d", i);
		memcpy(job, w->slots[i].id, sizeof(job));
		ok &= check(threads, name, &w->slots[i].alive, now, stall_ms, w->slots[i].busy ? job : NULL, why);
	}
	pthread_mutex_unlock(&w->mu);

	uint64_t down = atomic_load(&w->broker_down_ns), tried = atomic_load(&w->broker_try_ns);
	const char *broker = down ? "reconnecting" : "connected";
	if (down && now - tried > (RECONNECT_MAX_MS + stall_ms) * 1000000u) {
		ok = false;
		broker = "not reconnecting";
		if (why->len == 0)
			buf_printf(why, "the broker is away for %llu s and no reconnection was tried for %llu s",
				   (unsigned long long)((now - down) / 1000000000u),
				   (unsigned long long)((now - tried) / 1000000000u));
	}
	if (report) {
		json_t *o = json_pack("{s:s, s:s, s:o}", "status", ok ? "ok" : "unhealthy", "broker", broker,
				      "threads_ms", threads);
		if (down)
			json_object_set_new(o, "broker_down_s", json_integer((json_int_t)((now - down) / 1000000000u)));
		if (!ok)
			json_object_set_new(o, "reason", json_string(buf_str(why)));
		*report = o;
	} else {
		json_decref(threads);
	}
	return ok ? 0 : -1;
}

/* Queue a JSON response (stolen). */
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s)
		return MHD_NO;
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* MHD's access handler: GET (or HEAD) /health, 404 for anything else. */
static enum MHD_Result on_health(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				 const char *version, const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct worker *w = cls;
	struct buf why = BUF_INIT;
	json_t *report = NULL;
	(void)version;
	(void)upload_data;

	*upload_data_size = 0; /* a body is not read */
	if (strcmp(url, "/health") != 0 || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)) {
		(void)con_cls;
		return answer(conn, 404, json_pack("{s:{s:s, s:s}}", "error", "code", "not_found", "message",
						   "only GET /health is served here"));
	}
	int rc = worker_health(w, &why, &report);
	buf_release(&why);
	return answer(conn, rc == 0 ? 200 : 503, report);
}

int worker_health_start(struct worker *w, struct buf *err)
{
	const char *addr = w->cfg->worker.health_listen;

	if (!addr || !*addr)
		return 0;
	health_mhd = listener_start("worker: health_listen", addr, on_health, w, HEALTH_CONNECTIONS, HEALTH_TIMEOUT_S,
				    err);
	if (!health_mhd)
		return -1;
	log_info("health on %s (GET /health)", addr);
	return 0;
}

void worker_health_stop(void)
{
	if (health_mhd)
		MHD_stop_daemon(health_mhd);
	health_mhd = NULL;
}
