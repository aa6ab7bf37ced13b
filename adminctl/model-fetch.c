/*
 * The TUI's model: the fetch of each kind of snapshot, on the fetch thread,
 * and the table of them (see model-internal.h).
 */
#include "model-internal.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "audit.h"
#include "selection.h"
#include "buf.h"
#include "cloudwatch.h"
#include "db.h"
#include "mq.h"
#include "query.h"
#include "rmqadmin.h"

const struct model_metric model_metrics[MODEL_METRICS_COUNT] = {
	{ "jobs submitted", "JobsSubmitted", "Sum", "jobs" },
	{ "jobs succeeded", "JobsSucceeded", "Sum", "jobs" },
	{ "jobs failed", "JobsFailed", "Sum", "jobs" },
	{ "queue depth", "QueueDepth", "Maximum", "messages" },
	{ "job duration", "JobDuration", "Average", "s" },
	{ "HTTP 5xx", "Http5xx", "Sum", "responses" },
};

static const char *const overview_queues[] = { MQ_JOBS_HIGH_QUEUE, MQ_JOBS_QUEUE, MQ_JOBS_LOW_QUEUE,
								    MQ_DEAD_QUEUE, MQ_EVENTS_API_QUEUE };
#define NOVERVIEW_QUEUES (sizeof(overview_queues) / sizeof(overview_queues[0]))

/* Passive-declare one queue; on a connection error the service is marked down. */
static int queue_counts(struct model *m, const char *queue, struct model_queue *q, char *err, size_t size)
{
	snprintf(q->name, sizeof(q->name), "%s", queue);
	q->unacked = -1;
	q->publish_rate = q->deliver_rate = -1;
	if (model_need_mq(m, err, size) < 0)
		return -1;
	uint32_t msgs = 0, cons = 0;
	struct buf e = BUF_INIT;
	int rc = mq_queue_counts(m->mq, queue, &msgs, &cons, &e);
	if (rc < 0) {
		model_one_line(err, size, buf_str(&e));
		if (!mq_connected(m->mq))
			model_set_svc(m, MODEL_SVC_MQ, false, err);
	} else {
		q->ok = true;
		q->ready = msgs;
		q->consumers = cons;
		model_set_svc(m, MODEL_SVC_MQ, true, NULL);
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
		model_one_line(err, size, buf_str(&e));
		buf_release(&e);
		return -1;
	}
	for (size_t i = 0; i < n && ov->nqueues < MODEL_QUEUES_MAX; i++) {
		struct model_queue *mq = &ov->queues[ov->nqueues++];
		snprintf(mq->name, sizeof(mq->name), "%s", q[i].name);
		mq->ok = true;
		mq->ready = q[i].ready;
		mq->unacked = q[i].unacked;
		mq->consumers = q[i].consumers;
		mq->publish_rate = q[i].publish_rate;
		mq->deliver_rate = q[i].deliver_rate;
	}
	rmqadmin_queues_free(q, n);
	buf_release(&e);
	model_set_svc(m, MODEL_SVC_MQ, true, NULL);
	return 0;
}

/* The fallback: passive declares of our queues over AMQP. true if every queue answered. */
static bool queues_amqp(struct model *m, struct model_overview *ov, char *qerr, size_t size)
{
	bool all_ok = true;
	for (size_t i = 0; i < NOVERVIEW_QUEUES; i++) {
		struct model_queue *q = &ov->queues[ov->nqueues++];
		if (queue_counts(m, overview_queues[i], q, qerr, size) < 0) {
			all_ok = false;
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

/* The database's part of the Overview: job counts, jobs waiting unclaimed, live workers, limits. */
static void overview_db(struct model *m, struct model_overview *ov, char *err, size_t size)
{
	struct db_conn *db = model_need_db(m, err, size);
	if (!db)
		return;
	struct buf e = BUF_INIT;
	ov->unclaimed_after = m->cfg->worker.redrive_after;
	if (job_count_by_status(db, NULL, ov->counts, &e) < 0 ||
	    job_count_unclaimed(db, ov->unclaimed_after, &ov->unclaimed, &e) < 0) {
		model_db_failed(m, &e, err, size);
		buf_release(&e);
		return;
	}
	ov->counts_ok = true;
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
		model_db_failed(m, &e, err, size);
	}
	buf_reset(&e);
	if (joblimits_list(db, JOBLIMITS_LIST_OTHERS, &ov->limits, &ov->nlimits, &e) < 0)
		model_db_failed(m, &e, err, size);
	buf_release(&e);
}

static void fetch_overview(struct model *m, struct model_snap *s, const struct model_params *req)
{
	(void)req;
	struct model_overview *ov = &s->u.ov;
	char err[256] = "";
	overview_db(m, ov, err, sizeof(err));
	char qerr[256] = "";
	bool all_ok = true;
	if (queues_admin(m, ov, qerr, sizeof(qerr)) == 0)
		ov->mq_ok = true;
	else
		all_ok = queues_amqp(m, ov, qerr, sizeof(qerr));
	if (!ov->mq_ok)
		ov->mq_ok = mq_connected(m->mq);
	if (*err)
		snprintf(s->err, sizeof(s->err), "%s", err);
	else if (!all_ok)
		snprintf(s->err, sizeof(s->err), "rabbitmq: %s", qerr);
}

static void free_overview(struct model_snap *s)
{
	for (size_t i = 0; i < s->u.ov.nworkers; i++)
		free(s->u.ov.workers[i]);
	free(s->u.ov.workers);
	joblimits_rows_free(s->u.ov.limits, s->u.ov.nlimits);
}

int model_job_filter(const struct model_filter *f, struct query_sql *qs, struct job_filter *out, char *err,
		     size_t size)
{
	struct job_filter jf = { .limit = 1000 };
	if (f->status >= 0) {
		jf.has_status = true;
		jf.status = (enum job_status)f->status;
	}
	*out = jf;
	if (!*f->search)
		return 0;
	struct query_error qe;
	if (query_compile(f->search, "jobs", 1, qs, &qe) < 0) {
		snprintf(err, size, "query: column %d: %s", qe.column, qe.message);
		return -1;
	}
	out->where = buf_str(&qs->sql);
	out->where_params = (const char *const *)qs->params;
	out->where_np = qs->nparams;
	return 0;
}

/* The first MODEL_JOBS_MAX jobs of the filter, and how many match it (one COUNT). */
static void fetch_jobs(struct model *m, struct model_snap *s, const struct model_params *req)
{
	const struct model_filter *f = &req->filter;
	struct model_jobs *mj = &s->u.jobs;
	mj->filter = *f;
	struct db_conn *db = model_need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct job_filter jf;
	struct query_sql qs = QUERY_SQL_INIT;
	if (model_job_filter(f, &qs, &jf, s->err, sizeof(s->err)) < 0)
		return;
	jf.limit = MODEL_JOBS_MAX;
	char *next = NULL;
	int64_t total = 0;
	struct buf e = BUF_INIT;
	if (job_list(db, &jf, &mj->jobs, &mj->n, &next, &e) < 0 || job_count_matching(db, &jf, &total, &e) < 0)
		model_db_failed(m, &e, s->err, sizeof(s->err));
	query_sql_release(&qs);
	free(next);
	mj->total = total > (int64_t)mj->n ? (size_t)total : mj->n;
	buf_release(&e);
}

static void free_jobs(struct model_snap *s)
{
	for (size_t i = 0; i < s->u.jobs.n; i++)
		job_clear(&s->u.jobs.jobs[i]);
	free(s->u.jobs.jobs);
}

static void fetch_job(struct model *m, struct model_snap *s, const struct model_params *req)
{
	const char *id = req->job_id;
	struct model_job *mj = &s->u.job;
	snprintf(mj->id, sizeof(mj->id), "%s", id);
	if (!*id)
		return;
	struct db_conn *db = model_need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct buf e = BUF_INIT;
	enum job_rc rc = job_get(db, id, NULL, &mj->job, &e);
	if (rc == JOB_ERR) {
		model_db_failed(m, &e, s->err, sizeof(s->err));
	} else if (rc == JOB_OK) {
		mj->found = true;
		if (jobops_events(db, id, &mj->events, &mj->nevents, &e) < 0)
			model_db_failed(m, &e, s->err, sizeof(s->err));
	}
	buf_release(&e);
}

static void free_job(struct model_snap *s)
{
	job_clear(&s->u.job.job);
	jobops_events_free(s->u.job.events, s->u.job.nevents);
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
		model_set_svc(m, MODEL_SVC_MQ, true, NULL);
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
static void fetch_dead(struct model *m, struct model_snap *s, const struct model_params *req)
{
	(void)req;
	struct model_dead *d = &s->u.dead;
	if (dead_counts(m, d, s->err, sizeof(s->err)) < 0)
		return;
	d->ok = true;
	time_t now = time(NULL);
	int interval = m->cfg->adminctl.refresh > 0 ? (int)m->cfg->adminctl.refresh : 5;
	pthread_mutex_lock(&m->mu);
	struct model_snap *old = m->snap[MODEL_DEAD];
	if (old)
		old->refs++;
	bool visible = m->visible == MODEL_DEAD, force = m->dead_force;
	m->dead_force = false;
	pthread_mutex_unlock(&m->mu);
	bool fresh = old && !*old->err && old->u.dead.read_at && now - old->u.dead.read_at < interval;
	if (d->messages == 0 || !visible || (fresh && !force)) {
		if (old && d->messages > 0)
			dead_copy(d, &old->u.dead);
		model_snap_put(m, old);
		return;
	}
	model_snap_put(m, old);
	if (model_need_mq(m, s->err, sizeof(s->err)) < 0)
		return;
	struct buf e = BUF_INIT;
	uint32_t total = 0;
	if (jobops_dead_read(m->mq, MODEL_DEAD_MAX, &d->msgs, &d->nmsgs, &total, &e) < 0)
		model_one_line(s->err, sizeof(s->err), buf_str(&e));
	else
		d->read_at = now;
	mq_disconnect(m->mq);
	buf_release(&e);
}

static void free_dead(struct model_snap *s)
{
	jobops_dead_free(s->u.dead.msgs, s->u.dead.nmsgs);
}

static void fetch_audit(struct model *m, struct model_snap *s, const struct model_params *req)
{
	(void)req;
	struct db_conn *db = model_need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct buf e = BUF_INIT;
	if (audit_list(db, MODEL_AUDIT_MAX, &s->u.audit.entries, &s->u.audit.n, &e) < 0)
		model_db_failed(m, &e, s->err, sizeof(s->err));
	buf_release(&e);
}

static void free_audit(struct model_snap *s)
{
	audit_entries_free(s->u.audit.entries, s->u.audit.n);
}

static void s3_failed(struct model *m, const struct aws_error *ae, char *err, size_t size)
{
	struct buf b = BUF_INIT;
	aws_error_format(ae, &b);
	model_one_line(err, size, buf_str(&b));
	buf_release(&b);
	if (ae->status == 0 || ae->status >= 500)
		model_set_svc(m, MODEL_SVC_S3, false, err);
}

static void fetch_results(struct model *m, struct model_snap *s, const struct model_params *req)
{
	const char *prefix = req->res_prefix, *url_key = req->res_url_key;
	struct model_results *r = &s->u.res;
	r->prefix = xstrdup(prefix ? prefix : "");
	struct aws_error ae;
	aws_error_clear(&ae);
	if (s3_list(m->s3, *r->prefix ? r->prefix : NULL, "/", &r->objs, &r->nobjs, &r->prefixes, &r->nprefixes,
		    &ae) < 0) {
		s3_failed(m, &ae, s->err, sizeof(s->err));
		return;
	}
	model_set_svc(m, MODEL_SVC_S3, true, NULL);
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

static void free_results(struct model_snap *s)
{
	free(s->u.res.prefix);
	for (size_t i = 0; i < s->u.res.nprefixes; i++)
		free(s->u.res.prefixes[i]);
	free(s->u.res.prefixes);
	s3_objects_free(s->u.res.objs, s->u.res.nobjs);
	free(s->u.res.url);
	free(s->u.res.url_key);
}

static void fetch_metrics(struct model *m, struct model_snap *s, const struct model_params *req)
{
	int period = req->met_period, range = req->met_range;
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
		model_one_line(s->err, sizeof(s->err), buf_str(&b));
		buf_release(&b);
		model_set_svc(m, MODEL_SVC_CW, false, s->err);
		return;
	}
	model_set_svc(m, MODEL_SVC_CW, true, NULL);
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

static void free_metrics(struct model_snap *s)
{
	for (size_t i = 0; i < MODEL_METRICS_COUNT; i++)
		free(s->u.met.series[i].values);
}

/*
 * Every kind of snapshot, indexed by enum model_kind. Neither an S3 listing nor
 * CloudWatch's series change with an action; the Results are listed again only
 * when asked (r, another prefix, a URL to presign), not on the refresh timer;
 * the Archive too (r, another range or filter): it reads every object of its
 * days, and what is archived changes once per sweep.
 */
/* The failure groups, and the first jobs of the group asked for. */
static void fetch_failures(struct model *m, struct model_snap *s, const struct model_params *req)
{
	struct db_conn *db = model_need_db(m, s->err, sizeof(s->err));
	if (!db)
		return;
	struct buf e = BUF_INIT;
	s->u.fail.groups = selection_failure_groups(db, NULL, NULL, NULL, &e);
	if (s->u.fail.groups && *req->fail_group) {
		struct selection_source src;
		selection_source_init(&src);
		if (selection_source_filter(&src, "group", req->fail_group, &e) == 0)
			s->u.fail.jobs = selection_source_jobs(db, &src, MODEL_GROUP_JOBS_MAX, &e);
		selection_source_release(&src);
		if (s->u.fail.jobs)
			snprintf(s->u.fail.group, sizeof(s->u.fail.group), "%s", req->fail_group);
	}
	if (!s->u.fail.groups || (*req->fail_group && !s->u.fail.jobs))
		model_db_failed(m, &e, s->err, sizeof(s->err));
	buf_release(&e);
}

static void free_failures(struct model_snap *s)
{
	json_decref(s->u.fail.groups);
	json_decref(s->u.fail.jobs);
}

/* archive_read's callback: keep the line, the newest MODEL_ARCHIVE_MAX (the lines come oldest day first). */
static int archive_keep(void *arg, json_t *l, const char *text)
{
	(void)text;
	struct model_archive *a = arg;
	if (json_array_size(a->lines) >= MODEL_ARCHIVE_MAX) {
		json_array_remove(a->lines, 0);
		a->more = true;
	}
	json_array_append(a->lines, l);
	return 0;
}

/* The archived jobs of the filter, read back from S3 (every object of each day: slow for many). */
static void fetch_archive(struct model *m, struct model_snap *s, const struct model_params *req)
{
	struct model_archive *a = &s->u.arch;
	a->filter = req->arch_filter;
	a->lines = json_array();
	struct archive_query q = {
		.since = a->filter.since,
		.until = a->filter.until ? a->filter.until : time(NULL),
		.tenant = *a->filter.tenant ? a->filter.tenant : NULL,
		.status = a->filter.status >= 0 ? job_status_name((enum job_status)a->filter.status) : NULL,
	};
	struct aws_error ae;
	struct buf err = BUF_INIT;
	if (archive_read(m->s3, m->cfg->retention.archive_prefix, &q, archive_keep, a, &a->bad, &ae, &err) < 0) {
		if (*ae.message) {
			char why[192];
			s3_failed(m, &ae, why, sizeof(why));
			buf_printf(&err, ": %s", why);
		}
		model_one_line(s->err, sizeof(s->err), buf_str(&err));
	} else {
		model_set_svc(m, MODEL_SVC_S3, true, NULL);
	}
	buf_release(&err);
	/* newest first, as the Jobs screen shows jobs */
	json_t *newest = json_array();
	for (size_t i = json_array_size(a->lines); i > 0; i--)
		json_array_append(newest, json_array_get(a->lines, i - 1));
	json_decref(a->lines);
	a->lines = newest;
}

static void free_archive(struct model_snap *s)
{
	json_decref(s->u.arch.lines);
}

const struct model_kind_ops model_kinds[] = {
	[MODEL_OVERVIEW] = { .fetch = fetch_overview, .free = free_overview, .after_action = true, .timed = true },
	[MODEL_JOBS] = { .fetch = fetch_jobs, .free = free_jobs, .after_action = true, .timed = true },
	[MODEL_JOB] = { .fetch = fetch_job, .free = free_job, .after_action = true, .timed = true },
	[MODEL_DEAD] = { .fetch = fetch_dead, .free = free_dead, .after_action = true, .timed = true },
	[MODEL_RESULTS] = { .fetch = fetch_results, .free = free_results, .after_action = false, .timed = false },
	[MODEL_METRICS] = { .fetch = fetch_metrics, .free = free_metrics, .after_action = false, .timed = true },
	[MODEL_AUDIT] = { .fetch = fetch_audit, .free = free_audit, .after_action = true, .timed = true },
	[MODEL_FAILURES] = { .fetch = fetch_failures, .free = free_failures, .after_action = true, .timed = true },
	[MODEL_EVENTS] = { .fetch = model_events_fetch, .free = model_events_free, .after_action = false, .timed = false },
	[MODEL_ARCHIVE] = { .fetch = fetch_archive, .free = free_archive, .after_action = false, .timed = false },
};
_Static_assert(sizeof(model_kinds) / sizeof(model_kinds[0]) == MODEL_KIND_COUNT,
	       "model_kinds: one entry for each enum model_kind");
