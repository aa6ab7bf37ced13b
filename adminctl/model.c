/*
 * The TUI's model: one fetch thread, its own service clients, snapshots
 * published under one mutex (see model.h). What each kind of snapshot fetches
 * is in model-fetch.c, the actions in model-actions.c.
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "model-internal.h"

/* How often the connection of held dead letters is served: under half the shortest heartbeat (1 s). */
#define HOLD_SERVE_MS 400

const char *model_svc_name(enum model_svc s)
{
	static const char *const names[MODEL_SVC_COUNT] = { "database", "rabbitmq", "s3", "cloudwatch" };
	return (unsigned)s < MODEL_SVC_COUNT ? names[s] : "?";
}

static void snap_free(struct model_snap *s)
{
	if (!s)
		return;
	model_kinds[s->kind].free(s);
	free(s);
}

static struct model_snap *snap_new(enum model_kind kind)
{
	struct model_snap *s = xcalloc(1, sizeof(*s));
	s->kind = kind;
	s->refs = 1;
	s->at = time(NULL);
	return s;
}

/* Replace the current snapshot of its kind (takes the caller's reference). */
static void publish(struct model *m, struct model_snap *s)
{
	pthread_mutex_lock(&m->mu);
	struct model_snap *old = m->snap[s->kind];
	s->version = ++m->snap_version[s->kind];
	m->snap[s->kind] = s;
	if (!m->dirty[s->kind])
		m->st.busy[s->kind] = false;
	m->version++;
	if (old && --old->refs == 0)
		snap_free(old);
	pthread_mutex_unlock(&m->mu);
}

void model_set_svc(struct model *m, enum model_svc svc, bool up, const char *err)
{
	pthread_mutex_lock(&m->mu);
	m->st.known[svc] = true;
	m->st.up[svc] = up;
	snprintf(m->st.err[svc], sizeof(m->st.err[svc]), "%s", up ? "" : err);
	m->version++;
	pthread_mutex_unlock(&m->mu);
}

void model_set_msg(struct model *m, bool error, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&m->mu);
	va_start(ap, fmt);
	vsnprintf(m->st.msg, sizeof(m->st.msg), fmt, ap);
	va_end(ap);
	m->st.msg_error = error;
	m->st.msg_version++;
	m->version++;
	pthread_mutex_unlock(&m->mu);
}

/* One line from a possibly multi-line error message. */
void model_one_line(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/* The database connection, connected on demand; NULL (and the service down) when unreachable. */
struct db_conn *model_need_db(struct model *m, char *err, size_t size)
{
	if (m->db)
		return m->db;
	struct buf e = BUF_INIT;
	m->db = db_connect(m->cfg, m->sec, &e);
	if (!m->db) {
		model_one_line(err, size, buf_str(&e));
		model_set_svc(m, MODEL_SVC_DB, false, err);
	} else {
		model_set_svc(m, MODEL_SVC_DB, true, NULL);
	}
	buf_release(&e);
	return m->db;
}

/* After a failed statement: drop a connection that is gone, so that the next fetch reconnects. */
void model_db_failed(struct model *m, const struct buf *e, char *err, size_t size)
{
	model_one_line(err, size, buf_str(e));
	if (m->db && (m->db->broken || PQstatus(m->db->pg) != CONNECTION_OK)) {
		db_close(m->db);
		m->db = NULL;
		model_set_svc(m, MODEL_SVC_DB, false, err);
	}
}

int model_need_mq(struct model *m, char *err, size_t size)
{
	if (mq_connected(m->mq))
		return 0;
	struct buf e = BUF_INIT;
	int rc = mq_connect(m->mq, &e);
	if (rc < 0) {
		model_one_line(err, size, buf_str(&e));
		model_set_svc(m, MODEL_SVC_MQ, false, err);
	}
	buf_release(&e);
	return rc;
}

/* Work on one request; called with mu held, returns with it held. false when there was nothing to do. */
static bool work_one(struct model *m)
{
	if (m->actions) {
		struct model_pending_action *pa = m->actions;
		m->actions = pa->next;
		if (!m->actions)
			m->actions_tail = &m->actions;
		m->st.action_busy = true;
		pthread_mutex_unlock(&m->mu);
		model_run_action(m, pa);
		model_action_free(pa);
		pthread_mutex_lock(&m->mu);
		m->st.action_busy = m->actions != NULL;
		m->dead_force = true;
		/* what was shown is stale now */
		for (int k = 0; k < MODEL_KIND_COUNT; k++)
			if (m->snap[k] && model_kinds[k].after_action)
				m->dirty[k] = m->st.busy[k] = true;
		return true;
	}
	for (int k = 0; k < MODEL_KIND_COUNT; k++) {
		if (!m->dirty[k])
			continue;
		m->dirty[k] = false;
		struct model_params req = { .filter = m->filter, .met_period = m->met_period, .met_range = m->met_range };
		memcpy(req.job_id, m->job_id, sizeof(req.job_id));
		memcpy(req.fail_group, m->fail_group, sizeof(req.fail_group));
		req.arch_filter = m->arch_filter;
		char *prefix = m->res_prefix ? xstrdup(m->res_prefix) : NULL;
		char *url_key = m->res_url_key ? xstrdup(m->res_url_key) : NULL;
		req.res_prefix = prefix;
		req.res_url_key = url_key;
		pthread_mutex_unlock(&m->mu);

		struct model_snap *s = snap_new((enum model_kind)k);
		model_kinds[k].fetch(m, s, &req);
		free(prefix);
		free(url_key);
		publish(m, s);
		pthread_mutex_lock(&m->mu);
		return true;
	}
	return false;
}

static void *fetch_main(void *arg)
{
	struct model *m = arg;
	pthread_mutex_lock(&m->mu);
	int64_t served = 0; /* when the connection of held dead letters was last served */
	while (!m->stop) {
		if (m->holding && clock_now_ms() - served >= HOLD_SERVE_MS) {
			pthread_mutex_unlock(&m->mu);
			model_dead_keepalive(m);
			pthread_mutex_lock(&m->mu);
			served = clock_now_ms();
			continue;
		}
		if (work_one(m))
			continue;
		if (!m->holding) {
			pthread_cond_wait(&m->cond, &m->mu);
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HOLD_SERVE_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&m->cond, &m->mu, &until);
	}
	pthread_mutex_unlock(&m->mu);
	aws_thread_cleanup();
	return NULL;
}

struct model *model_new(const struct config *cfg, const char *actor)
{
	struct model *m = xcalloc(1, sizeof(*m));
	m->cfg = cfg;
	m->actor = xstrdup(actor);
	m->filter.status = -1;
	m->met_period = 300;
	m->met_range = 3 * 3600;
	m->arch_filter.status = -1;
	m->actions_tail = &m->actions;
	m->sec = secrets_new(cfg);
	m->mq = mq_new(cfg, m->sec);
	m->s3 = s3_new(cfg, m->sec);
	m->cw = cloudwatch_new(cfg);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cond, NULL);
	if (pthread_create(&m->thread, NULL, fetch_main, m) != 0)
		abort(); /* as for memory: nothing sensible to go on with */
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	model_events_stop(m);
	model_dead_release(m);
	for (int k = 0; k < MODEL_KIND_COUNT; k++)
		if (m->snap[k] && --m->snap[k]->refs == 0)
			snap_free(m->snap[k]);
	while (m->actions) {
		struct model_pending_action *pa = m->actions;
		m->actions = pa->next;
		model_action_free(pa);
	}
	db_close(m->db);
	mq_free(m->mq);
	s3_free(m->s3);
	cloudwatch_free(m->cw);
	secrets_free(m->sec);
	free(m->res_prefix);
	free(m->res_url_key);
	free(m->actor);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Mark `kind` for a fetch; mu held. */
static void mark(struct model *m, enum model_kind kind)
{
	m->dirty[kind] = true;
	m->st.busy[kind] = true;
	m->version++;
	pthread_cond_signal(&m->cond);
}

void model_mark_locked(struct model *m, enum model_kind kind)
{
	mark(m, kind);
}

void model_set_visible(struct model *m, enum model_kind kind)
{
	pthread_mutex_lock(&m->mu);
	m->visible = kind;
	pthread_mutex_unlock(&m->mu);
}

void model_refresh(struct model *m, enum model_kind kind)
{
	pthread_mutex_lock(&m->mu);
	mark(m, kind);
	pthread_mutex_unlock(&m->mu);
}

void model_want_jobs(struct model *m, const struct model_filter *f)
{
	pthread_mutex_lock(&m->mu);
	m->filter = *f;
	mark(m, MODEL_JOBS);
	pthread_mutex_unlock(&m->mu);
}

void model_want_job(struct model *m, const char *id)
{
	pthread_mutex_lock(&m->mu);
	snprintf(m->job_id, sizeof(m->job_id), "%s", id);
	mark(m, MODEL_JOB);
	pthread_mutex_unlock(&m->mu);
}

void model_want_results(struct model *m, const char *prefix)
{
	pthread_mutex_lock(&m->mu);
	free(m->res_prefix);
	m->res_prefix = xstrdup(prefix ? prefix : "");
	free(m->res_url_key);
	m->res_url_key = NULL;
	mark(m, MODEL_RESULTS);
	pthread_mutex_unlock(&m->mu);
}

void model_want_url(struct model *m, const char *key)
{
	pthread_mutex_lock(&m->mu);
	free(m->res_url_key);
	m->res_url_key = xstrdup(key);
	mark(m, MODEL_RESULTS);
	pthread_mutex_unlock(&m->mu);
}

void model_want_failures(struct model *m, const char *group)
{
	pthread_mutex_lock(&m->mu);
	snprintf(m->fail_group, sizeof(m->fail_group), "%s", group ? group : "");
	mark(m, MODEL_FAILURES);
	pthread_mutex_unlock(&m->mu);
}

void model_want_archive(struct model *m, const struct model_archive_filter *f)
{
	pthread_mutex_lock(&m->mu);
	m->arch_filter = *f;
	mark(m, MODEL_ARCHIVE);
	pthread_mutex_unlock(&m->mu);
}

void model_want_metrics(struct model *m, int period, int range)
{
	pthread_mutex_lock(&m->mu);
	m->met_period = period > 0 ? period : 60;
	m->met_range = range >= m->met_period ? range : m->met_period;
	mark(m, MODEL_METRICS);
	pthread_mutex_unlock(&m->mu);
}

struct model_snap *model_snap_get(struct model *m, enum model_kind kind)
{
	pthread_mutex_lock(&m->mu);
	struct model_snap *s = m->snap[kind];
	if (s)
		s->refs++;
	pthread_mutex_unlock(&m->mu);
	return s;
}

void model_snap_put(struct model *m, struct model_snap *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&m->mu);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&m->mu);
	if (last)
		snap_free(s);
}

void model_status(struct model *m, struct model_status *out)
{
	pthread_mutex_lock(&m->mu);
	*out = m->st;
	pthread_mutex_unlock(&m->mu);
}

unsigned long model_version(struct model *m)
{
	pthread_mutex_lock(&m->mu);
	unsigned long v = m->version;
	pthread_mutex_unlock(&m->mu);
	return v;
}

bool model_kind_timed(enum model_kind kind)
{
	return model_kinds[kind].timed;
}
