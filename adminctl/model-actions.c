/*
 * The TUI's model: the actions (retry, cancel, dead-letter retry and purge),
 * queued by the UI and run on the fetch thread, audited.
 */
#include "model-internal.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "db.h"
#include "mq.h"
#include "query.h"

#define ACTION_MAX_JOBS 100000  /* "every job matching the filter" stops here */

/* The ids an action touches: its own list, or every job matching its filter now. */
static int action_ids(struct model *m, struct db_conn *db, struct model_pending_action *pa, char ***ids, size_t *n,
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
	struct job_filter jf;
	struct query_sql qs = QUERY_SQL_INIT;
	char qerr[256];
	if (model_job_filter(&pa->filter, &qs, &jf, qerr, sizeof(qerr)) < 0) {
		buf_adds(e, qerr);
		return -1;
	}
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
		if (rc < 0) {
			query_sql_release(&qs);
			return -1;
		}
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
	query_sql_release(&qs);
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
static void run_dead_action(struct model *m, struct model_pending_action *pa)
{
	const char *verb = pa->a.op == MODEL_OP_DEAD_RETRY ? "dead retry" : "purge";
	char err[256] = "";
	struct db_conn *db = model_need_db(m, err, sizeof(err));
	if (!db || model_need_mq(m, err, sizeof(err)) < 0) {
		model_set_msg(m, true, "%s failed: %s", verb, err);
		return;
	}
	struct buf e = BUF_INIT;
	if (pa->a.op == MODEL_OP_DEAD_PURGE) {
		int64_t purged = 0;
		const char *via = NULL;
		int rc = jobops_dead_purge(m->cfg, m->sec, m->mq, &purged, &via, NULL, &e);
		mq_disconnect(m->mq);
		if (rc < 0) {
			model_one_line(err, sizeof(err), buf_str(&e));
			model_set_msg(m, true, "purge failed: %s", err);
		} else if (audit_action(m, "dead.purge", MQ_DEAD_QUEUE, (size_t)purged,
					json_pack("{s:s, s:s}", "via", via, "scope", pa->scope), &e) < 0) {
			model_set_msg(m, true, "purge: %lld messages dropped, but the audit record failed: %s", (long long)purged,
				buf_str(&e));
		} else {
			model_set_msg(m, false, "purge: %lld message%s dropped from %s", (long long)purged, purged == 1 ? "" : "s",
				MQ_DEAD_QUEUE);
		}
		buf_release(&e);
		return;
	}
	struct jobops_dead_retried out;
	int rc = jobops_dead_retry(db, m->mq, (const char *const *)pa->a.ids, pa->a.nids, m->actor, &out, &e);
	mq_disconnect(m->mq); /* puts back what was not acknowledged */
	if (rc < 0)
		model_one_line(err, sizeof(err), buf_str(&e));
	size_t done = json_array_size(out.done), stale = json_array_size(out.stale);
	int audited = 0;
	if (done + stale > 0)
		audited = audit_action(m, "dead.retry", MQ_DEAD_QUEUE, done,
				       json_pack("{s:s, s:O, s:O}", "scope", pa->scope, "ids", out.done, "stale",
						 out.stale),
				       &e);
	if (rc < 0)
		model_set_msg(m, true, "dead retry: %zu jobs retried, then: %s", done, err);
	else if (audited < 0)
		model_set_msg(m, true, "dead retry: %zu jobs retried, but the audit record failed: %s", done, buf_str(&e));
	else
		model_set_msg(m, out.ack_failed || json_array_size(out.errors),
			"dead retry: %zu job%s retried, %zu stale dropped%s%s", done, done == 1 ? "" : "s", stale,
			json_array_size(out.errors) ? ", some left (no such job or no dead letter)" : "",
			out.ack_failed ? ", some not acknowledged" : "");
	jobops_dead_retry_clear(&out);
	buf_release(&e);
}

void model_run_action(struct model *m, struct model_pending_action *pa)
{
	if (pa->a.op == MODEL_OP_DEAD_RETRY || pa->a.op == MODEL_OP_DEAD_PURGE) {
		run_dead_action(m, pa);
		return;
	}
	const char *verb = pa->a.op == MODEL_OP_RETRY ? "retry" : "cancel";
	char err[256] = "";
	struct db_conn *db = model_need_db(m, err, sizeof(err));
	if (!db) {
		model_set_msg(m, true, "%s failed: %s", verb, err);
		return;
	}
	struct buf e = BUF_INIT;
	char **ids = NULL;
	size_t n = 0, done = 0, requested = 0, skipped = 0, failed = 0;
	if (action_ids(m, db, pa, &ids, &n, &e) < 0) {
		model_db_failed(m, &e, err, sizeof(err));
		model_set_msg(m, true, "%s failed: %s", verb, err);
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
			model_one_line(err, sizeof(err), buf_str(&e));
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
		model_set_msg(m, true, "%s: %zu of %zu jobs done, %zu failed: %s", verb, done, n, failed, err);
	else if (audited < 0)
		model_set_msg(m, true, "%s: %zu of %zu jobs done, but the audit record failed: %s", verb, done, n,
			buf_str(&e));
	else
		model_set_msg(m, false, "%s: %zu of %zu jobs done%s%s%s", verb, done, n, requested ? ", " : "",
			requested ? running : "", skipped ? " (the others were not in a state for it)" : "");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	buf_release(&e);
}

void model_action_free(struct model_pending_action *pa)
{
	for (size_t i = 0; i < pa->a.nids; i++)
		free(pa->a.ids[i]);
	free(pa->a.ids);
	free(pa);
}

void model_action(struct model *m, const struct model_action *a)
{
	struct model_pending_action *pa = xcalloc(1, sizeof(*pa));
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
	m->st.action_busy = true;
	m->version++;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->mu);
}
