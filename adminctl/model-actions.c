/*
 * The TUI's model: the actions (retry, cancel, dead-letter retry and purge,
 * pause, resume and limits of tenants and types), queued by the UI and run on
 * the fetch thread, audited.
 */
#include "model-internal.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "buf.h"
#include "db.h"
#include "joblimits.h"
#include "jobops.h"
#include "mq.h"
#include "query.h"
#include "selection.h"

#define ACTION_MAX_JOBS 100000  /* "every job matching the filter" stops here */

/*
 * The selection source of an action: its own ids, or every job matching the
 * Jobs screen's filter (status, and the search as job_list reads it).
 */
static int action_source(const struct model_pending_action *pa, struct selection_source *src, struct buf *e)
{
	if (!pa->a.use_filter) {
		struct buf arr = BUF_INIT;
		size_t k = 0;
		buf_addc(&arr, '{');
		for (size_t i = 0; i < pa->a.nids; i++)
			if (job_id_valid(pa->a.ids[i]))
				buf_printf(&arr, "%s%s", k++ ? "," : "", pa->a.ids[i]);
		buf_addc(&arr, '}');
		const char *p[] = { buf_str(&arr) };
		int rc = selection_source_and(src, "id = ANY($1::uuid[])", 1, p, pa->scope, e);
		buf_release(&arr);
		return rc;
	}
	if (pa->filter.status >= 0 &&
	    selection_source_filter(src, "status", job_status_name((enum job_status)pa->filter.status), e) < 0)
		return -1;
	if (!*pa->filter.search)
		return 0;
	/* the search is a query (query.h), compiled once into the selection's expression */
	struct query_sql qs = QUERY_SQL_INIT;
	struct query_error qe;
	if (query_compile(pa->filter.search, NULL, 1, &qs, &qe) < 0) {
		buf_printf(e, "query: column %d: %s", qe.column, qe.message);
		return -1;
	}
	struct buf text = BUF_INIT;
	buf_printf(&text, "query=%s", pa->filter.search);
	int rc = selection_source_and(src, buf_str(&qs.sql), qs.nparams, (const char *const *)qs.params,
				      buf_str(&text), e);
	buf_release(&text);
	query_sql_release(&qs);
	return rc;
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

/* The hold's state for the UI: `count` messages held (0: none), `poison` of them; a new version. */
static void set_held(struct model *m, long long count, long long poison)
{
	pthread_mutex_lock(&m->mu);
	m->holding = count > 0;
	m->st.held_count = count;
	m->st.held_poison = poison;
	m->st.held_version++;
	m->version++;
	pthread_mutex_unlock(&m->mu);
}

void model_dead_release(struct model *m)
{
	if (m->held_mq) {
		mq_disconnect(m->held_mq); /* everything not acknowledged goes back, in order */
		mq_free(m->held_mq);
	}
	jobops_dead_free(m->held, m->nheld);
	m->held_mq = NULL;
	m->held = NULL;
	m->nheld = 0;
}

/*
 * Read the first `limit` dead letters (those shown) on a connection of their
 * own and hold them unacknowledged until the operator answers: a purge or retry
 * then acts on exactly them, and one arriving meanwhile is not among them.
 */
static void dead_hold(struct model *m, int limit)
{
	model_dead_release(m);
	struct buf e = BUF_INIT;
	uint32_t total = 0;
	m->held_mq = mq_new(m->cfg, m->sec);
	if (mq_connect(m->held_mq, &e) < 0 || jobops_dead_read(m->held_mq, limit, &m->held, &m->nheld, &total, &e) < 0) {
		char err[256];
		model_one_line(err, sizeof(err), buf_str(&e));
		model_dead_release(m);
		set_held(m, 0, 0);
		model_set_msg(m, true, "cannot hold the dead letters: %s", err);
		buf_release(&e);
		return;
	}
	buf_release(&e);
	long long poison = 0;
	for (size_t i = 0; i < m->nheld; i++)
		poison += m->held[i].poison;
	if (!m->nheld) {
		model_dead_release(m);
		model_set_msg(m, false, "%s is empty: nothing to do", MQ_DEAD_QUEUE);
	} else {
		model_set_msg(m, false, "%zu dead letter%s held until answered", m->nheld, m->nheld == 1 ? "" : "s");
	}
	set_held(m, (long long)m->nheld, poison);
}

void model_dead_keepalive(struct model *m)
{
	if (!m->held_mq)
		return;
	struct mq_delivery d;
	struct buf e = BUF_INIT;
	int rc = mq_next(m->held_mq, &d, 0, &e);
	if (rc > 0) {
		/* not one of those held (fewer were delivered than counted): not ours to keep */
		mq_reject(m->held_mq, d.tag, true);
		mq_delivery_free(&d);
	} else if (rc < 0) {
		char err[256];
		model_one_line(err, sizeof(err), buf_str(&e));
		model_dead_release(m);
		set_held(m, 0, 0);
		model_set_msg(m, true, "the hold on the dead letters was lost (they are back in %s): %s", MQ_DEAD_QUEUE,
			      err);
	}
	buf_release(&e);
}

/* Drop exactly the dead letters held, recorded as a purge selection. */
static void dead_purge_held(struct model *m, struct db_conn *db, struct model_pending_action *pa)
{
	struct buf e = BUF_INIT;
	struct jobops_dead_purged p;
	char err[256] = "";
	if (jobops_dead_purge_held(db, m->held_mq, m->held, m->nheld, m->actor, &p, &e) < 0)
		model_one_line(err, sizeof(err), buf_str(&e));
	size_t held = m->nheld;
	model_dead_release(m);
	json_t *detail = jobops_dead_purged_detail(&p);
	json_object_set_new(detail, "scope", json_string(pa->scope));
	int audited = audit_action(m, "dead.purge", MQ_DEAD_QUEUE, (size_t)p.purged, detail, &e);
	if (*err)
		model_set_msg(m, true, "purge: %lld messages dropped, but the selection was not recorded: %s",
			      (long long)p.purged, err);
	else if (audited < 0)
		model_set_msg(m, true, "purge: %lld messages dropped, but the audit record failed: %s", (long long)p.purged,
			      buf_str(&e));
	else
		model_set_msg(m, (size_t)p.purged != held, "purge: %lld message%s dropped from %s (selection %s)%s",
			      (long long)p.purged, p.purged == 1 ? "" : "s", MQ_DEAD_QUEUE, p.selection,
			      (size_t)p.purged != held ? "; some could not be acknowledged and stay" : "");
	jobops_dead_purged_clear(&p);
	buf_release(&e);
}

/*
 * Dead-letter actions, through the library code of `adminctl dead retry|purge`:
 * the retry of given ids reads the queue itself; a purge, and a retry of
 * "all", act on the dead letters held by MODEL_OP_DEAD_HOLD.
 */
static void run_dead_action(struct model *m, struct model_pending_action *pa)
{
	if (pa->a.op == MODEL_OP_DEAD_HOLD) {
		dead_hold(m, pa->a.limit);
		return;
	}
	bool held = pa->a.op == MODEL_OP_DEAD_PURGE || pa->a.nids == 0;
	if (pa->a.op == MODEL_OP_DEAD_RELEASE || (held && !m->held_mq)) {
		bool lost = pa->a.op != MODEL_OP_DEAD_RELEASE;
		model_dead_release(m);
		set_held(m, 0, 0);
		if (!pa->a.quiet)
			model_set_msg(m, lost, lost ? "no dead letters are held (the hold was lost): nothing done"
						    : "dead letters put back: nothing done");
		return;
	}
	const char *verb = pa->a.op == MODEL_OP_DEAD_RETRY ? "dead retry" : "purge";
	char err[256] = "";
	struct db_conn *db = model_need_db(m, err, sizeof(err));
	if (!db || (!held && model_need_mq(m, err, sizeof(err)) < 0)) {
		model_dead_release(m);
		set_held(m, 0, 0);
		model_set_msg(m, true, "%s failed: %s", verb, err);
		return;
	}
	if (pa->a.op == MODEL_OP_DEAD_PURGE) {
		dead_purge_held(m, db, pa);
		set_held(m, 0, 0);
		return;
	}
	struct buf e = BUF_INIT;
	struct jobops_dead_retried out;
	int rc;
	if (held) {
		rc = jobops_dead_retry_held(db, m->held_mq, m->held, m->nheld, m->actor, &out, &e);
		model_dead_release(m); /* puts back what was not acknowledged */
		set_held(m, 0, 0);
	} else {
		rc = jobops_dead_retry(db, m->mq, (const char *const *)pa->a.ids, pa->a.nids, m->actor, &out, &e);
		mq_disconnect(m->mq); /* puts back what was not acknowledged */
	}
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

/*
 * The audit record ("job.retry" or "job.cancel", its target the id, "marked" or
 * "filter") and the status message of a retry or cancel of the Jobs screen
 * done through selection `sel`: `done` acted on, `res` selection_act's results.
 */
static void finish_jobs_action(struct model *m, const struct model_pending_action *pa, const char *verb,
			       const struct selection *sel, json_t *res, int64_t done)
{
	/* asked for: the marked or selected ids, or what the filter matched */
	size_t n = pa->a.use_filter ? (size_t)sel->count : pa->a.nids;
	size_t requested = json_array_size(json_object_get(res, "cancel_requested"));
	size_t skipped = n - (size_t)done;
	const char *target = pa->a.nids == 1 && !pa->a.use_filter ? pa->a.ids[0] : pa->a.use_filter ? "filter" : "marked";
	json_t *detail = json_pack("{s:s, s:s, s:i, s:i, s:O*}", "scope", pa->scope, "selection", sel->id, "requested",
				   (int)n, "skipped", (int)skipped, "ids", json_object_get(res, "acted"));
	if (!json_object_get(detail, "ids"))
		json_object_set_new(detail, "ids", json_array());
	if (!strcmp(verb, "cancel"))
		json_object_set(detail, "cancel_requested",
				res && json_object_get(res, "cancel_requested") ? json_object_get(res, "cancel_requested")
										: json_array());
	if (pa->a.use_filter) {
		json_object_set_new(detail, "status",
				    pa->filter.status >= 0
					    ? json_string(job_status_name((enum job_status)pa->filter.status))
					    : json_null());
		json_object_set_new(detail, "search", json_string(pa->filter.search));
	}
	struct buf e = BUF_INIT;
	char action[32], running[64];
	snprintf(action, sizeof(action), "job.%s", verb);
	snprintf(running, sizeof(running), "%zu running: cancel requested", requested);
	int audited = m->db ? audit_record(m->db, m->actor, action, target, (int)done, detail, &e) : -1;
	json_decref(detail);
	if (audited < 0)
		model_set_msg(m, true, "%s: %lld of %zu jobs done, but the audit record failed: %s", verb, (long long)done,
			      n, buf_str(&e));
	else
		model_set_msg(m, false, "%s: %lld of %zu jobs done%s%s%s", verb, (long long)done, n, requested ? ", " : "",
			      requested ? running : "", skipped ? " (the others were not in a state for it)" : "");
	buf_release(&e);
}

/* The selection resolved for a group or a filter, for the UI's confirmation (sel_id "" when there is none). */
static void set_selection(struct model *m, const struct selection *sel, const char *action)
{
	pthread_mutex_lock(&m->mu);
	snprintf(m->st.sel_id, sizeof(m->st.sel_id), "%s", sel && sel->count ? sel->id : "");
	m->st.sel_count = sel ? (long long)sel->count : 0;
	snprintf(m->st.sel_action, sizeof(m->st.sel_action), "%s", action);
	/* its first ids, shortened, as a sample for the confirmation */
	size_t len = 0, n = sel ? json_array_size(sel->job_ids) : 0;
	m->st.sel_sample[0] = '\0';
	for (size_t i = 0; i < n && i < 3; i++)
		len += (size_t)snprintf(m->st.sel_sample + len, sizeof(m->st.sel_sample) - len, "%s%.8s", i ? " " : "",
					json_string_value(json_array_get(sel->job_ids, i)));
	if (n > 3)
		snprintf(m->st.sel_sample + len, sizeof(m->st.sel_sample) - len, " …");
	m->st.sel_version++;
	m->version++;
	pthread_mutex_unlock(&m->mu);
}

/*
 * A failure group's, or the Jobs screen's filter's, retry or cancel: resolve
 * its selection, then act on exactly it once confirmed (or decline it).
 */
static void run_selection_action(struct model *m, struct model_pending_action *pa)
{
	char err[256] = "";
	const char *action = pa->a.cancel ? "cancel" : "retry";
	struct db_conn *db = model_need_db(m, err, sizeof(err));
	if (!db) {
		if (pa->a.op == MODEL_OP_GROUP_SELECT || pa->a.op == MODEL_OP_FILTER_SELECT)
			set_selection(m, NULL, action);
		model_set_msg(m, true, "%s failed: %s", action, err);
		return;
	}
	struct buf e = BUF_INIT;
	struct selection sel;
	if (pa->a.op == MODEL_OP_GROUP_SELECT || pa->a.op == MODEL_OP_FILTER_SELECT) {
		bool group = pa->a.op == MODEL_OP_GROUP_SELECT;
		struct selection_source src;
		selection_source_init(&src);
		int rc = group ? selection_source_filter(&src, "group", pa->a.group, &e) : action_source(pa, &src, &e);
		if (rc == 0)
			rc = selection_resolve(db, &src, pa->a.cancel ? SELECTION_CANCEL : SELECTION_RETRY, m->actor,
					       ACTION_MAX_JOBS, &sel, &e);
		selection_source_release(&src);
		if (rc < 0) {
			set_selection(m, NULL, action);
			model_db_failed(m, &e, err, sizeof(err));
			model_set_msg(m, true, "%s failed: %s", action, err);
		} else {
			if (!sel.count)
				selection_decline(db, sel.id, &e);
			set_selection(m, &sel, action);
			model_set_msg(m, false, "selection %s: %lld job%s %s%s to %s", sel.id, (long long)sel.count,
				      sel.count == 1 ? "" : "s", group ? "of group " : "matching the filter",
				      group ? pa->a.group : "", action);
			selection_clear(&sel);
		}
		buf_release(&e);
		return;
	}
	if (pa->a.op == MODEL_OP_SELECTION_DECLINE) {
		if (selection_decline(db, pa->a.selection, &e) < 0)
			model_set_msg(m, true, "selection %s: %s", pa->a.selection, buf_str(&e));
		else if (!pa->a.quiet)
			model_set_msg(m, false, "selection %s not confirmed: nothing done", pa->a.selection);
		buf_release(&e);
		return;
	}
	json_t *res = NULL;
	int64_t done = -1;
	if (selection_get(db, pa->a.selection, &sel, &e) == 0)
		done = selection_act(db, sel.id, m->actor, &res, &e);
	else
		memset(&sel, 0, sizeof(sel));
	if (done < 0) {
		model_db_failed(m, &e, err, sizeof(err));
		model_set_msg(m, true, "selection %s: %s", pa->a.selection, err);
	} else if (pa->a.use_filter) {
		finish_jobs_action(m, pa, selection_action_name(sel.action), &sel, res, done);
	} else {
		size_t skipped = json_array_size(json_object_get(res, "skipped"));
		char audit_name[32], target[40];
		snprintf(audit_name, sizeof(audit_name), "bulk.%s", selection_action_name(sel.action));
		snprintf(target, sizeof(target), "selection:%s", sel.id);
		int audited = audit_action(m, audit_name, target, (size_t)done,
					   json_pack("{s:s, s:s, s:s, s:I, s:I}", "scope", pa->scope, "selection", sel.id,
						     "filter", sel.filter, "selected", (json_int_t)sel.count, "skipped",
						     (json_int_t)skipped),
					   &e);
		model_set_msg(m, audited < 0, "%s: %lld of %lld jobs done (selection %s), %zu skipped%s%s",
			      selection_action_name(sel.action), (long long)done, (long long)sel.count, sel.id, skipped,
			      audited < 0 ? "; the audit record failed: " : "", audited < 0 ? buf_str(&e) : "");
	}
	selection_clear(&sel);
	json_decref(res);
	buf_release(&e);
}

/* Pause, resume or a limit of a tenant or type: joblimits.h, then jobops_limits_changed, as the CLI does. */
static void run_limits_action(struct model *m, struct model_pending_action *pa)
{
	const char *action = pa->a.op == MODEL_OP_PAUSE ? "limits.pause"
			     : pa->a.op == MODEL_OP_RESUME ? "limits.resume"
							   : "limits.set";
	const char *scope = joblimits_scope_name(pa->a.limit_scope), *name = pa->a.limit_name;
	char err[256] = "";
	struct db_conn *db = model_need_db(m, err, sizeof(err));
	if (!db) {
		model_set_msg(m, true, "%s failed: %s", action, err);
		return;
	}
	struct buf e = BUF_INIT;
	bool changed = true;
	int rc;
	json_t *detail;
	if (pa->a.op == MODEL_OP_LIMIT_SET) {
		rc = joblimits_set(db, pa->a.limit_scope, name, pa->a.max_running, m->actor, &e);
		detail = json_pack("{s:o}", "max_running",
				   pa->a.max_running < 0 ? json_null() : json_integer(pa->a.max_running));
	} else {
		rc = joblimits_pause(db, pa->a.limit_scope, name, pa->a.op == MODEL_OP_PAUSE, m->actor, &changed, &e);
		detail = json_pack("{s:b, s:b}", "paused", pa->a.op == MODEL_OP_PAUSE, "changed", changed);
	}
	if (rc < 0) {
		model_db_failed(m, &e, err, sizeof(err));
		model_set_msg(m, true, "%s %s:%s failed: %s", action, scope, name, err);
		json_decref(detail);
		buf_release(&e);
		return;
	}
	int woken;
	buf_reset(&e);
	if (jobops_limits_changed(db, m->actor, action, pa->a.limit_scope, name, detail, &woken, &e) < 0)
		model_set_msg(m, true, "%s %s:%s: done, but %s", action, scope, name, buf_str(&e));
	else if (!changed)
		model_set_msg(m, false, "%s %s:%s: it was %s already", action, scope, name,
			      pa->a.op == MODEL_OP_PAUSE ? "paused" : "running");
	else
		model_set_msg(m, false, "%s %s:%s: done; %d deferred job%s woken", action, scope, name, woken,
			      woken == 1 ? "" : "s");
	json_decref(detail);
	buf_release(&e);
}

void model_run_action(struct model *m, struct model_pending_action *pa)
{
	if (pa->a.op == MODEL_OP_PAUSE || pa->a.op == MODEL_OP_RESUME || pa->a.op == MODEL_OP_LIMIT_SET) {
		run_limits_action(m, pa);
		return;
	}
	if (pa->a.op == MODEL_OP_GROUP_SELECT || pa->a.op == MODEL_OP_FILTER_SELECT ||
	    pa->a.op == MODEL_OP_SELECTION_ACT || pa->a.op == MODEL_OP_SELECTION_DECLINE) {
		run_selection_action(m, pa);
		return;
	}
	if (pa->a.op == MODEL_OP_DEAD_RETRY || pa->a.op == MODEL_OP_DEAD_PURGE || pa->a.op == MODEL_OP_DEAD_HOLD ||
	    pa->a.op == MODEL_OP_DEAD_RELEASE) {
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
	struct selection_source src;
	struct selection sel;
	selection_source_init(&src);
	json_t *res = NULL;
	int64_t done = -1;
	if (action_source(pa, &src, &e) == 0 &&
	    selection_resolve(db, &src, pa->a.op == MODEL_OP_RETRY ? SELECTION_RETRY : SELECTION_CANCEL, m->actor,
			      ACTION_MAX_JOBS, &sel, &e) == 0) {
		done = sel.count ? selection_act(db, sel.id, m->actor, &res, &e) : 0;
		if (!sel.count)
			selection_decline(db, sel.id, &e);
	} else {
		memset(&sel, 0, sizeof(sel));
	}
	selection_source_release(&src);
	if (done < 0) {
		model_db_failed(m, &e, err, sizeof(err));
		model_set_msg(m, true, "%s failed: %s", verb, err);
		selection_clear(&sel);
		json_decref(res);
		buf_release(&e);
		return;
	}
	finish_jobs_action(m, pa, verb, &sel, res, done);
	selection_clear(&sel);
	json_decref(res);
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
