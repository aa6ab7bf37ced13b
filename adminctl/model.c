/*
 * The TUI's model: one fetch thread, its own service clients, snapshots
 * published under one mutex (see model.h).
 */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "cloudwatch.h"
#include "db.h"
#include "mq.h"
#include "rmqadmin.h"
#include "secrets.h"

const struct model_metric model_metrics[MODEL_METRICS_COUNT] = {
	{ "jobs submitted", "JobsSubmitted", "Sum", "jobs" },
	{ "jobs succeeded", "JobsSucceeded", "Sum", "jobs" },
	{ "jobs failed", "JobsFailed", "Sum", "jobs" },
	{ "queue depth", "QueueDepth", "Maximum", "messages" },
	{ "job duration", "JobDuration", "Average", "s" },
	{ "HTTP 5xx", "Http5xx", "Sum", "responses" },
};

static const char *const overview_queues[] = { MQ_JOBS_QUEUE, MQ_DEAD_QUEUE, MQ_EVENTS_API_QUEUE };
#define NOVERVIEW_QUEUES (sizeof(overview_queues) / sizeof(overview_queues[0]))

#define ACTION_MAX_JOBS 100000  /* "every job matching the filter" stops here */

struct pending_action {
	struct model_action a;
	struct model_filter filter;
	char scope[16];
	struct pending_action *next;
};

struct model {
	const struct config *cfg;
	char *actor;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stop;

	/* under mu: requests */
	int dirty[MODEL_KIND_COUNT];
	struct model_filter filter;
	char job_id[JOB_ID_LEN + 1];
	char *res_prefix;
	char *res_url_key;
	int met_period, met_range;
	enum model_kind visible;
	int dead_force;          /* read the dead letters on the next fetch, whatever the interval */
	struct pending_action *actions, **actions_tail;

	/* under mu: answers */
	struct model_snap *snap[MODEL_KIND_COUNT];
	unsigned long snap_version[MODEL_KIND_COUNT];
	struct model_status st;
	unsigned long version;

	/* fetch thread only */
	struct secrets *sec;
	struct db_conn *db;
	struct mq *mq;
	struct s3 *s3;
	struct cloudwatch *cw;
};

const char *model_svc_name(enum model_svc s)
{
	static const char *const names[MODEL_SVC_COUNT] = { "database", "rabbitmq", "s3", "cloudwatch" };
	return (unsigned)s < MODEL_SVC_COUNT ? names[s] : "?";
}

static void snap_free(struct model_snap *s)
{
	if (!s)
		return;
	switch (s->kind) {
	case MODEL_OVERVIEW:
		for (size_t i = 0; i < s->u.ov.nworkers; i++)
			free(s->u.ov.workers[i]);
		free(s->u.ov.workers);
		break;
	case MODEL_JOBS:
		for (size_t i = 0; i < s->u.jobs.n; i++)
			job_clear(&s->u.jobs.jobs[i]);
		free(s->u.jobs.jobs);
		break;
	case MODEL_JOB:
		job_clear(&s->u.job.job);
		jobops_events_free(s->u.job.events, s->u.job.nevents);
		break;
	case MODEL_RESULTS:
		free(s->u.res.prefix);
		for (size_t i = 0; i < s->u.res.nprefixes; i++)
			free(s->u.res.prefixes[i]);
		free(s->u.res.prefixes);
		s3_objects_free(s->u.res.objs, s->u.res.nobjs);
		free(s->u.res.url);
		free(s->u.res.url_key);
		break;
	case MODEL_METRICS:
		for (size_t i = 0; i < MODEL_METRICS_COUNT; i++)
			free(s->u.met.series[i].values);
		break;
	case MODEL_DEAD:
		jobops_dead_free(s->u.dead.msgs, s->u.dead.nmsgs);
		break;
	case MODEL_AUDIT:
		audit_entries_free(s->u.audit.entries, s->u.audit.n);
		break;
	}
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
		m->st.busy[s->kind] = 0;
	m->version++;
	if (old && --old->refs == 0)
		snap_free(old);
	pthread_mutex_unlock(&m->mu);
}

static void set_svc(struct model *m, enum model_svc svc, int up, const char *err)
{
	pthread_mutex_lock(&m->mu);
	m->st.known[svc] = 1;
	m->st.up[svc] = up;
	snprintf(m->st.err[svc], sizeof(m->st.err[svc]), "%s", up ? "" : err);
	m->version++;
	pthread_mutex_unlock(&m->mu);
}

static void set_msg(struct model *m, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(struct model *m, int error, const char *fmt, ...)
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
static void one_line(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/* The database connection, connected on demand; NULL (and the service down) when unreachable. */
static struct db_conn *need_db(struct model *m, char *err, size_t size)
{
	if (m->db)
		return m->db;
	struct buf e = BUF_INIT;
	m->db = db_connect(m->cfg, m->sec, &e);
	if (!m->db) {
		one_line(err, size, buf_str(&e));
		set_svc(m, MODEL_SVC_DB, 0, err);
	} else {
		set_svc(m, MODEL_SVC_DB, 1, NULL);
	}
	buf_release(&e);
	return m->db;
}

/* After a failed statement: drop a connection that is gone, so that the next fetch reconnects. */
static void db_failed(struct model *m, const struct buf *e, char *err, size_t size)
{
	one_line(err, size, buf_str(e));
	if (m->db && (m->db->broken || PQstatus(m->db->pg) != CONNECTION_OK)) {
		db_close(m->db);
		m->db = NULL;
		set_svc(m, MODEL_SVC_DB, 0, err);
	}
}

static int need_mq(struct model *m, char *err, size_t size)
{
	if (mq_connected(m->mq))
		return 0;
	struct buf e = BUF_INIT;
	int rc = mq_connect(m->mq, &e);
	if (rc < 0) {
		one_line(err, size, buf_str(&e));
		set_svc(m, MODEL_SVC_MQ, 0, err);
	}
	buf_release(&e);
	return rc;
}

/* Passive-declare one queue; on a connection error the service is marked down. */
static int queue_counts(struct model *m, const char *queue, struct model_queue *q, char *err, size_t size)
{
	snprintf(q->name, sizeof(q->name), "%s", queue);
	q->unacked = -1;
	q->publish_rate = q->deliver_rate = -1;
	if (need_mq(m, err, size) < 0)
		return -1;
	uint32_t msgs = 0, cons = 0;
	struct buf e = BUF_INIT;
	int rc = mq_queue_counts(m->mq, queue, &msgs, &cons, &e);
	if (rc < 0) {
		one_line(err, size, buf_str(&e));
		if (!mq_connected(m->mq))
			set_svc(m, MODEL_SVC_MQ, 0, err);
	} else {
		q->ok = 1;
		q->ready = msgs;
		q->consumers = cons;
		set_svc(m, MODEL_SVC_MQ, 1, NULL);
	}
	buf_release(&e);
	return rc;
}

/* Queue figures from the management API (rates, unacked): 0, or -1 when it cannot answer. */
static int queues_admin(struct model *m, struct model_overview *ov, char *err, size_t size)
{
	struct rmqadmin_queue *q = NULL;
	size_t n = 0;
	struct buf e = BUF_INIT;
	int rc = rmqadmin_queues(m->cfg, m->sec, &q, &n, &e);
	if (rc < 0) {
		one_line(err, size, buf_str(&e));
		buf_release(&e);
		return -1;
	}
	for (size_t i = 0; i < n && ov->nqueues < MODEL_QUEUES_MAX; i++) {
		struct model_queue *mq = &ov->queues[ov->nqueues++];
		snprintf(mq->name, sizeof(mq->name), "%s", q[i].name);
		mq->ok = 1;
		mq->ready = q[i].ready;
		mq->unacked = q[i].unacked;
		mq->consumers = q[i].consumers;
		mq->publish_rate = q[i].publish_rate;
		mq->deliver_rate = q[i].deliver_rate;
	}
	rmqadmin_queues_free(q, n);
	buf_release(&e);
	set_svc(m, MODEL_SVC_MQ, 1, NULL);
	return 0;
}

/* The fallback: passive declares of our queues over AMQP. 1 if every queue answered. */
static int queues_amqp(struct model *m, struct model_overview *ov, char *qerr, size_t size)
{
	int all_ok = 1;
	for (size_t i = 0; i < NOVERVIEW_QUEUES; i++) {
		struct model_queue *q = &ov->queues[ov->nqueues++];
		if (queue_counts(m, overview_queues[i], q, qerr, size) < 0) {
			all_ok = 0;
			if (!mq_connected(m->mq)) {
				/* the broker is down: the other queues would fail the same way */
				for (size_t j = i + 1; j < NOVERVIEW_QUEUES; j++)
					snprintf(ov->queues[ov->nqueues++].name, sizeof(q->name), "%s", overview_queues[j]);
				break;
			}
		}
	}
	return all_ok;
}

static void fetch_overview(struct model *m, struct model_snap *s)
{
	struct model_overview *ov = &s->u.ov;
	char err[256] = "";
	struct db_conn *db = need_db(m, err, sizeof(err));
	if (db) {
		struct buf e = BUF_INIT;
		if (job_count_by_status(db, NULL, ov->counts, &e) == 0) {
			ov->counts_ok = 1;
			PGresult *r = db_exec(db, "tui_workers",
					      "SELECT DISTINCT worker_id FROM jobs WHERE status = 'running' "
					      "AND worker_id IS NOT NULL ORDER BY 1",
					      0, NULL, &e);
			if (r) {
				int n = PQntuples(r);
				ov->workers = xcalloc((size_t)n + 1, sizeof(char *));
				for (int i = 0; i < n; i++)
					ov->workers[ov->nworkers++] = db_strdup(r, i, 0);
				PQclear(r);
			} else {
				db_failed(m, &e, err, sizeof(err));
			}
		} else {
			db_failed(m, &e, err, sizeof(err));
		}
		buf_release(&e);
	}
	char qerr[256] = "";
	int all_ok = 1;
	if (queues_admin(m, ov, qerr, sizeof(qerr)) == 0)
		ov->mq_ok = 1;
	else
		all_ok = queues_amqp(m, ov, qerr, sizeof(qerr));
	if (!ov->mq_ok)
		ov->mq_ok = mq_connected(m->mq);
	if (*err)
		snprintf(s->err, sizeof(s->err), "%s", err);
	else if (!all_ok)
		snprintf(s->err, sizeof(s->err), "rabbitmq: %s", qerr);
}

/* job.h's filter for ours, pages of 1000 (strings borrowed from `f`). */
static struct job_filter to_job_filter(const struct model_filter *f)
{
	struct job_filter jf = { .limit = 1000 };
	if (f->status >= 0) {
		jf.has_status = 1;
		jf.status = (enum job_status)f->status;
	}
	jf.search = *f->search ? f->search : NULL;
	return jf;
}

/* The first MODEL_JOBS_MAX jobs of the filter, and how many match it (one COUNT). */
static void fetch_jobs(struct model *m, struct model_snap *s, const struct model_filter *f)
{
	struct model_jobs *mj = &s->u.jobs;
	mj->filter = *f;
	struct db_conn *db = need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct job_filter jf = to_job_filter(f);
	jf.limit = MODEL_JOBS_MAX;
	char *next = NULL;
	int64_t total = 0;
	struct buf e = BUF_INIT;
	if (job_list(db, &jf, &mj->jobs, &mj->n, &next, &e) < 0 || job_count_matching(db, &jf, &total, &e) < 0)
		db_failed(m, &e, s->err, sizeof(s->err));
	free(next);
	mj->total = total > (int64_t)mj->n ? (size_t)total : mj->n;
	buf_release(&e);
}

static void fetch_job(struct model *m, struct model_snap *s, const char *id)
{
	struct model_job *mj = &s->u.job;
	snprintf(mj->id, sizeof(mj->id), "%s", id);
	if (!*id)
		return;
	struct db_conn *db = need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct buf e = BUF_INIT;
	enum job_rc rc = job_get(db, id, NULL, &mj->job, &e);
	if (rc == JOB_ERR) {
		db_failed(m, &e, s->err, sizeof(s->err));
	} else if (rc == JOB_OK) {
		mj->found = 1;
		if (jobops_events(db, id, &mj->events, &mj->nevents, &e) < 0)
			db_failed(m, &e, s->err, sizeof(s->err));
	}
	buf_release(&e);
}

/* spool.dead's counts from the management API, or a passive declare when it cannot answer. */
static int dead_counts(struct model *m, struct model_dead *d, char *err, size_t size)
{
	struct rmqadmin_queue *q = NULL;
	size_t n = 0;
	struct buf e = BUF_INIT;
	int rc = rmqadmin_queues(m->cfg, m->sec, &q, &n, &e);
	buf_release(&e);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(q[i].name, MQ_DEAD_QUEUE)) {
				d->messages = q[i].ready;
				d->consumers = q[i].consumers;
			}
		rmqadmin_queues_free(q, n);
		set_svc(m, MODEL_SVC_MQ, 1, NULL);
		return 0;
	}
	struct model_queue mq = { 0 };
	if (queue_counts(m, MQ_DEAD_QUEUE, &mq, err, size) < 0)
		return -1;
	d->messages = mq.ready;
	d->consumers = mq.consumers;
	return 0;
}

/* A deep copy of the messages of an older snapshot. */
static void dead_copy(struct model_dead *to, const struct model_dead *from)
{
	to->read_at = from->read_at;
	if (!from->nmsgs)
		return;
	to->msgs = xcalloc(from->nmsgs, sizeof(*to->msgs));
	for (size_t i = 0; i < from->nmsgs; i++) {
		to->msgs[i] = from->msgs[i];
		to->msgs[i].body = xmalloc(from->msgs[i].len + 1);
		memcpy(to->msgs[i].body, from->msgs[i].body, from->msgs[i].len + 1);
		to->msgs[i].reason = from->msgs[i].reason ? xstrdup(from->msgs[i].reason) : NULL;
	}
	to->nmsgs = from->nmsgs;
}

/*
 * The counts of spool.dead, and its first messages: read unacked, then put back
 * by disconnecting, only while the Dead screen is visible and at most once per
 * refresh interval (or when an action asked); otherwise the last ones read.
 */
static void fetch_dead(struct model *m, struct model_snap *s)
{
	struct model_dead *d = &s->u.dead;
	if (dead_counts(m, d, s->err, sizeof(s->err)) < 0)
		return;
	d->ok = 1;
	time_t now = time(NULL);
	int interval = m->cfg->adminctl.refresh > 0 ? (int)m->cfg->adminctl.refresh : 5;
	pthread_mutex_lock(&m->mu);
	struct model_snap *old = m->snap[MODEL_DEAD];
	if (old)
		old->refs++;
	int visible = m->visible == MODEL_DEAD, force = m->dead_force;
	m->dead_force = 0;
	pthread_mutex_unlock(&m->mu);
	int fresh = old && !*old->err && old->u.dead.read_at && now - old->u.dead.read_at < interval;
	if (d->messages == 0 || !visible || (fresh && !force)) {
		if (old && d->messages > 0)
			dead_copy(d, &old->u.dead);
		model_snap_put(m, old);
		return;
	}
	model_snap_put(m, old);
	if (need_mq(m, s->err, sizeof(s->err)) < 0)
		return;
	struct buf e = BUF_INIT;
	uint32_t total = 0;
	if (jobops_dead_read(m->mq, MODEL_DEAD_MAX, &d->msgs, &d->nmsgs, &total, &e) < 0)
		one_line(s->err, sizeof(s->err), buf_str(&e));
	else
		d->read_at = now;
	mq_disconnect(m->mq);
	buf_release(&e);
}

static void fetch_audit(struct model *m, struct model_snap *s)
{
	struct db_conn *db = need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct buf e = BUF_INIT;
	if (audit_list(db, MODEL_AUDIT_MAX, &s->u.audit.entries, &s->u.audit.n, &e) < 0)
		db_failed(m, &e, s->err, sizeof(s->err));
	buf_release(&e);
}

static void s3_failed(struct model *m, const struct aws_error *ae, char *err, size_t size)
{
	struct buf b = BUF_INIT;
	aws_error_format(ae, &b);
	one_line(err, size, buf_str(&b));
	buf_release(&b);
	if (ae->status == 0 || ae->status >= 500)
		set_svc(m, MODEL_SVC_S3, 0, err);
}

static void fetch_results(struct model *m, struct model_snap *s, const char *prefix, const char *url_key)
{
	struct model_results *r = &s->u.res;
	r->prefix = xstrdup(prefix ? prefix : "");
	struct aws_error ae;
	aws_error_clear(&ae);
	if (s3_list(m->s3, *r->prefix ? r->prefix : NULL, "/", &r->objs, &r->nobjs, &r->prefixes, &r->nprefixes,
		    &ae) < 0) {
		s3_failed(m, &ae, s->err, sizeof(s->err));
		return;
	}
	set_svc(m, MODEL_SVC_S3, 1, NULL);
	if (url_key) {
		struct buf url = BUF_INIT;
		aws_error_clear(&ae);
		if (s3_presign(m->s3, "GET", url_key, 0, &url, &r->url_expires, &ae) < 0) {
			s3_failed(m, &ae, s->err, sizeof(s->err));
		} else {
			r->url = buf_detach(&url);
			r->url_key = xstrdup(url_key);
		}
		buf_release(&url);
	}
}

static void fetch_metrics(struct model *m, struct model_snap *s, int period, int range)
{
	struct model_metrics_snap *ms = &s->u.met;
	ms->period = period;
	ms->range = range;
	ms->end = time(NULL) / period * period + period;
	ms->start = ms->end - range;
	size_t npoints = (size_t)(range / period);
	struct cw_query q[MODEL_METRICS_COUNT];
	char ids[MODEL_METRICS_COUNT][8];
	for (size_t i = 0; i < MODEL_METRICS_COUNT; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%zu", i);
		q[i] = (struct cw_query){ .id = ids[i], .metric = model_metrics[i].metric,
					  .stat = model_metrics[i].stat, .period = period };
		ms->series[i].n = npoints;
		ms->series[i].values = xcalloc(npoints + 1, sizeof(double));
		for (size_t k = 0; k < npoints; k++)
			ms->series[i].values[k] = NAN;
	}
	struct cw_series *out = NULL;
	size_t nout = 0;
	struct aws_error ae;
	aws_error_clear(&ae);
	if (cloudwatch_get_metric_data(m->cw, q, MODEL_METRICS_COUNT, ms->start, ms->end, &out, &nout, &ae) < 0) {
		struct buf b = BUF_INIT;
		aws_error_format(&ae, &b);
		one_line(s->err, sizeof(s->err), buf_str(&b));
		buf_release(&b);
		set_svc(m, MODEL_SVC_CW, 0, s->err);
		return;
	}
	set_svc(m, MODEL_SVC_CW, 1, NULL);
	for (size_t k = 0; k < nout; k++) {
		size_t i = (size_t)atoi(out[k].id + 1);
		if (out[k].id[0] != 'm' || i >= MODEL_METRICS_COUNT)
			continue;
		for (size_t p = 0; p < out[k].n; p++) {
			if (out[k].timestamps[p] < ms->start)
				continue;
			size_t slot = (size_t)((out[k].timestamps[p] - ms->start) / period);
			if (slot < npoints)
				ms->series[i].values[slot] = out[k].values[p];
		}
	}
	cloudwatch_series_free(out, nout);
}

/* The ids an action touches: its own list, or every job matching its filter now. */
static int action_ids(struct model *m, struct db_conn *db, struct pending_action *pa, char ***ids, size_t *n,
		      struct buf *e)
{
	*ids = NULL;
	*n = 0;
	if (!pa->a.use_filter) {
		*ids = xcalloc(pa->a.nids + 1, sizeof(char *));
		for (size_t i = 0; i < pa->a.nids; i++)
			(*ids)[(*n)++] = xstrdup(pa->a.ids[i]);
		return 0;
	}
	(void)m;
	struct job_filter jf = to_job_filter(&pa->filter);
	char *cursor = NULL;
	size_t cap = 0;
	do {
		struct job *jobs = NULL;
		size_t got = 0;
		char *next = NULL;
		jf.cursor = cursor;
		int rc = job_list(db, &jf, &jobs, &got, &next, e);
		free(cursor);
		cursor = next;
		if (rc < 0)
			return -1;
		for (size_t i = 0; i < got; i++) {
			if (*n + 1 >= cap) {
				cap = cap ? cap * 2 : 256;
				*ids = xrealloc(*ids, cap * sizeof(char *));
			}
			(*ids)[(*n)++] = xstrdup(jobs[i].id);
			job_clear(&jobs[i]);
		}
		free(jobs);
	} while (cursor && *n < ACTION_MAX_JOBS);
	free(cursor);
	return 0;
}

/* What op_one did to a job. */
enum op_outcome {
	OP_FAILED = -1,          /* database error, in `e` */
	OP_DONE,
	OP_REQUESTED,            /* cancel: it is running, its worker stops it at its next heartbeat */
	OP_SKIPPED,              /* missing, or in a state the action does not apply to */
};

/* One job through the library the daemons use (and so by their rules). */
static enum op_outcome op_one(struct model *m, struct db_conn *db, enum model_op op, const char *id, struct buf *e)
{
	if (op == MODEL_OP_RETRY) {
		enum job_rc rc = jobops_retry(db, id, m->actor, e);
		return rc == JOB_ERR ? OP_FAILED : rc == JOB_OK ? OP_DONE : OP_SKIPPED;
	}
	struct job j;
	enum jobops_cancel_rc rc = jobops_cancel(db, id, NULL, m->actor, &j, e);
	job_clear(&j);
	switch (rc) {
	case JOBOPS_CANCELLED:
		return OP_DONE;
	case JOBOPS_CANCEL_REQUESTED:
		return OP_REQUESTED;
	case JOBOPS_CANCEL_ERR:
		return OP_FAILED;
	default:
		return OP_SKIPPED;
	}
}

/* Record an action; 0, or -1 with `e`. */
static int audit_action(struct model *m, const char *action, const char *target, size_t count, json_t *detail,
			struct buf *e)
{
	buf_reset(e);
	int rc = m->db ? audit_record(m->db, m->actor, action, target, (int)count, detail, e) : -1;
	if (!m->db)
		buf_adds(e, "no database connection");
	json_decref(detail);
	return rc;
}

/* Dead-letter retry and purge, through the library code of `adminctl dead retry|purge`. */
static void run_dead_action(struct model *m, struct pending_action *pa)
{
	const char *verb = pa->a.op == MODEL_OP_DEAD_RETRY ? "dead retry" : "purge";
	char err[256] = "";
	struct db_conn *db = need_db(m, err, sizeof(err));
	if (!db || need_mq(m, err, sizeof(err)) < 0) {
		set_msg(m, 1, "%s failed: %s", verb, err);
		return;
	}
	struct buf e = BUF_INIT;
	if (pa->a.op == MODEL_OP_DEAD_PURGE) {
		int64_t purged = 0;
		const char *via = NULL;
		int rc = jobops_dead_purge(m->cfg, m->sec, m->mq, &purged, &via, NULL, &e);
		mq_disconnect(m->mq);
		if (rc < 0) {
			one_line(err, sizeof(err), buf_str(&e));
			set_msg(m, 1, "purge failed: %s", err);
		} else if (audit_action(m, "dead.purge", MQ_DEAD_QUEUE, (size_t)purged,
					json_pack("{s:s, s:s}", "via", via, "scope", pa->scope), &e) < 0) {
			set_msg(m, 1, "purge: %lld messages dropped, but the audit record failed: %s", (long long)purged,
				buf_str(&e));
		} else {
			set_msg(m, 0, "purge: %lld message%s dropped from %s", (long long)purged, purged == 1 ? "" : "s",
				MQ_DEAD_QUEUE);
		}
		buf_release(&e);
		return;
	}
	struct jobops_dead_retried out;
	int rc = jobops_dead_retry(db, m->mq, (const char *const *)pa->a.ids, pa->a.nids, m->actor, &out, &e);
	mq_disconnect(m->mq); /* puts back what was not acknowledged */
	if (rc < 0)
		one_line(err, sizeof(err), buf_str(&e));
	size_t done = json_array_size(out.done), stale = json_array_size(out.stale);
	int audited = 0;
	if (done + stale > 0)
		audited = audit_action(m, "dead.retry", MQ_DEAD_QUEUE, done,
				       json_pack("{s:s, s:O, s:O}", "scope", pa->scope, "ids", out.done, "stale",
						 out.stale),
				       &e);
	if (rc < 0)
		set_msg(m, 1, "dead retry: %zu jobs retried, then: %s", done, err);
	else if (audited < 0)
		set_msg(m, 1, "dead retry: %zu jobs retried, but the audit record failed: %s", done, buf_str(&e));
	else
		set_msg(m, out.ack_failed || json_array_size(out.errors) ? 1 : 0,
			"dead retry: %zu job%s retried, %zu stale dropped%s%s", done, done == 1 ? "" : "s", stale,
			json_array_size(out.errors) ? ", some left (no such job or no dead letter)" : "",
			out.ack_failed ? ", some not acknowledged" : "");
	jobops_dead_retry_clear(&out);
	buf_release(&e);
}

static void run_action(struct model *m, struct pending_action *pa)
{
	if (pa->a.op == MODEL_OP_DEAD_RETRY || pa->a.op == MODEL_OP_DEAD_PURGE) {
		run_dead_action(m, pa);
		return;
	}
	const char *verb = pa->a.op == MODEL_OP_RETRY ? "retry" : "cancel";
	char err[256] = "";
	struct db_conn *db = need_db(m, err, sizeof(err));
	if (!db) {
		set_msg(m, 1, "%s failed: %s", verb, err);
		return;
	}
	struct buf e = BUF_INIT;
	char **ids = NULL;
	size_t n = 0, done = 0, requested = 0, skipped = 0, failed = 0;
	if (action_ids(m, db, pa, &ids, &n, &e) < 0) {
		db_failed(m, &e, err, sizeof(err));
		set_msg(m, 1, "%s failed: %s", verb, err);
		buf_release(&e);
		return;
	}
	json_t *done_ids = json_array(), *requested_ids = json_array();
	for (size_t i = 0; i < n; i++) {
		buf_reset(&e);
		enum op_outcome rc = op_one(m, db, pa->a.op, ids[i], &e);
		if (rc == OP_SKIPPED) {
			skipped++;
		} else if (rc == OP_FAILED) {
			failed++;
			one_line(err, sizeof(err), buf_str(&e));
			if (!m->db || m->db->broken)
				break;
		} else {
			done++;
			json_array_append_new(done_ids, json_string(ids[i]));
			if (rc == OP_REQUESTED) {
				requested++;
				json_array_append_new(requested_ids, json_string(ids[i]));
			}
		}
	}
	const char *target = n == 1 ? ids[0] : pa->a.use_filter ? "filter" : "marked";
	json_t *detail = json_pack("{s:s, s:i, s:i, s:i, s:o}", "scope", pa->scope, "requested", (int)n, "skipped",
				   (int)skipped, "failed", (int)failed, "ids", done_ids);
	if (pa->a.op == MODEL_OP_CANCEL)
		json_object_set_new(detail, "cancel_requested", requested_ids);
	else
		json_decref(requested_ids);
	if (pa->a.use_filter) {
		json_object_set_new(detail, "status",
				    pa->filter.status >= 0
					    ? json_string(job_status_name((enum job_status)pa->filter.status))
					    : json_null());
		json_object_set_new(detail, "search", json_string(pa->filter.search));
	}
	buf_reset(&e);
	char action[32], running[64];
	snprintf(action, sizeof(action), "job.%s", verb);
	snprintf(running, sizeof(running), "%zu running: cancel requested", requested);
	int audited = m->db ? audit_record(m->db, m->actor, action, target, (int)done, detail, &e) : -1;
	json_decref(detail);
	if (failed)
		set_msg(m, 1, "%s: %zu of %zu jobs done, %zu failed: %s", verb, done, n, failed, err);
	else if (audited < 0)
		set_msg(m, 1, "%s: %zu of %zu jobs done, but the audit record failed: %s", verb, done, n,
			buf_str(&e));
	else
		set_msg(m, 0, "%s: %zu of %zu jobs done%s%s%s", verb, done, n, requested ? ", " : "",
			requested ? running : "", skipped ? " (the others were not in a state for it)" : "");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	buf_release(&e);
}

static void action_free(struct pending_action *pa)
{
	for (size_t i = 0; i < pa->a.nids; i++)
		free(pa->a.ids[i]);
	free(pa->a.ids);
	free(pa);
}

/* Work on one request; called with mu held, returns with it held. 0 when there was nothing to do. */
static int work_one(struct model *m)
{
	if (m->actions) {
		struct pending_action *pa = m->actions;
		m->actions = pa->next;
		if (!m->actions)
			m->actions_tail = &m->actions;
		m->st.action_busy = 1;
		pthread_mutex_unlock(&m->mu);
		run_action(m, pa);
		action_free(pa);
		pthread_mutex_lock(&m->mu);
		m->st.action_busy = m->actions != NULL;
		m->dead_force = 1;
		/* what was shown is stale now */
		for (int k = 0; k < MODEL_KIND_COUNT; k++)
			if (m->snap[k] && k != MODEL_RESULTS && k != MODEL_METRICS)
				m->dirty[k] = m->st.busy[k] = 1;
		return 1;
	}
	for (int k = 0; k < MODEL_KIND_COUNT; k++) {
		if (!m->dirty[k])
			continue;
		m->dirty[k] = 0;
		struct model_filter f = m->filter;
		char id[JOB_ID_LEN + 1];
		memcpy(id, m->job_id, sizeof(id));
		char *prefix = m->res_prefix ? xstrdup(m->res_prefix) : NULL;
		char *url_key = m->res_url_key ? xstrdup(m->res_url_key) : NULL;
		int period = m->met_period, range = m->met_range;
		pthread_mutex_unlock(&m->mu);

		struct model_snap *s = snap_new((enum model_kind)k);
		switch ((enum model_kind)k) {
		case MODEL_OVERVIEW:
			fetch_overview(m, s);
			break;
		case MODEL_JOBS:
			fetch_jobs(m, s, &f);
			break;
		case MODEL_JOB:
			fetch_job(m, s, id);
			break;
		case MODEL_DEAD:
			fetch_dead(m, s);
			break;
		case MODEL_RESULTS:
			fetch_results(m, s, prefix, url_key);
			break;
		case MODEL_METRICS:
			fetch_metrics(m, s, period, range);
			break;
		case MODEL_AUDIT:
			fetch_audit(m, s);
			break;
		}
		free(prefix);
		free(url_key);
		publish(m, s);
		pthread_mutex_lock(&m->mu);
		return 1;
	}
	return 0;
}

static void *fetch_main(void *arg)
{
	struct model *m = arg;
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		if (!work_one(m))
			pthread_cond_wait(&m->cond, &m->mu);
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
	m->stop = 1;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	for (int k = 0; k < MODEL_KIND_COUNT; k++)
		if (m->snap[k] && --m->snap[k]->refs == 0)
			snap_free(m->snap[k]);
	while (m->actions) {
		struct pending_action *pa = m->actions;
		m->actions = pa->next;
		action_free(pa);
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
	m->dirty[kind] = 1;
	m->st.busy[kind] = 1;
	m->version++;
	pthread_cond_signal(&m->cond);
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

void model_want_metrics(struct model *m, int period, int range)
{
	pthread_mutex_lock(&m->mu);
	m->met_period = period > 0 ? period : 60;
	m->met_range = range >= m->met_period ? range : m->met_period;
	mark(m, MODEL_METRICS);
	pthread_mutex_unlock(&m->mu);
}

void model_action(struct model *m, const struct model_action *a)
{
	struct pending_action *pa = xcalloc(1, sizeof(*pa));
	pa->a = *a;
	pa->a.ids = xcalloc(a->nids + 1, sizeof(char *));
	for (size_t i = 0; i < a->nids; i++)
		pa->a.ids[i] = xstrdup(a->ids[i]);
	pa->filter = a->filter;
	snprintf(pa->scope, sizeof(pa->scope), "%s", a->scope ? a->scope : "");
	pa->a.scope = pa->scope;
	pthread_mutex_lock(&m->mu);
	*m->actions_tail = pa;
	m->actions_tail = &pa->next;
	m->st.action_busy = 1;
	m->version++;
	pthread_cond_signal(&m->cond);
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
	int last = --s->refs == 0;
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
