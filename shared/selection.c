#include "selection.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobcodec.h"
#include "jobops.h"
#include "jobprio.h"
#include "outbox.h"

/* The jobs each action applies to, over jobs' columns. */
static const char *const action_cond[] = {
	[SELECTION_RETRY] = "status IN ('failed', 'cancelled')",
	[SELECTION_CANCEL] = "status IN ('scheduled', 'queued', 'retrying', 'running')",
	[SELECTION_REDRIVE] = "status IN ('queued', 'retrying') AND deferred_at IS NULL",
	[SELECTION_UNDO] = "false",
	[SELECTION_PURGE] = "false",
};

static const char *const action_names[] = {
	[SELECTION_RETRY] = "retry",
	[SELECTION_CANCEL] = "cancel",
	[SELECTION_REDRIVE] = "redrive",
	[SELECTION_UNDO] = "undo",
	[SELECTION_PURGE] = "purge",
};

/* The selection's jobs as seen when it was resolved: s(id, status, updated_at, attempts); $1 the selection. */
#define SNAPSHOT_CTE                                                                                       \
	"s AS (SELECT u.id, u.status, u.updated_at, u.attempts FROM selections x,"                       \
	"   unnest(x.job_ids, x.seen_status, x.seen_updated, x.seen_attempts)"                           \
	"     AS u(id, status, updated_at, attempts) WHERE x.id = $1::bigint)"

/* An event row of each job of CTE `from` (id, status, attempts), naming the actor ($2) and selection ($1). */
#define EVENT_CTE(from, event, extra)                                                                      \
	"e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"                          \
	"   SELECT id, " event ", status, attempts,"                                                         \
	"     jsonb_build_object('actor', $2::text, 'selection', $1::bigint" extra ") FROM " from ")"

const char *selection_action_name(enum selection_action a)
{
	return action_names[a];
}

static int action_parse(const char *s, enum selection_action *out)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (!strcmp(action_names[i], s)) {
			*out = (enum selection_action)i;
			return 0;
		}
	return -1;
}

static bool is_id(const char *s)
{
	if (!s || !*s || strlen(s) > 18)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void rollback(struct db_conn *c)
{
	struct buf ignored = BUF_INIT;
	db_cmd(c, "ROLLBACK", &ignored);
	buf_release(&ignored);
}

void selection_source_init(struct selection_source *s)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->where);
	buf_init(&s->text);
}

void selection_source_release(struct selection_source *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i]);
	buf_release(&s->where);
	buf_release(&s->text);
	memset(s, 0, sizeof(*s));
}

int selection_source_and(struct selection_source *s, const char *expr, int np, const char *const *params,
			 const char *text, struct buf *err)
{
	if (np < 0 || s->nparams + np > SELECTION_MAX_PARAMS) {
		buf_printf(err, "a selection takes at most %d parameters", SELECTION_MAX_PARAMS);
		return -1;
	}
	int base = s->nparams;
	buf_adds(&s->where, s->where.len ? " AND (" : "(");
	bool quoted = false;
	for (const char *p = expr; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (!quoted && *p == '$' && isdigit((unsigned char)p[1])) {
			char *end;
			long k = strtol(p + 1, &end, 10);
			buf_printf(&s->where, "$%ld", k + base);
			p = end - 1;
			continue;
		}
		buf_addc(&s->where, *p);
	}
	buf_addc(&s->where, ')');
	for (int i = 0; i < np; i++)
		s->params[s->nparams++] = params[i] ? xstrdup(params[i]) : NULL;
	if (text && *text)
		buf_printf(&s->text, "%s%s", s->text.len ? " " : "", text);
	return 0;
}

/* Today's filters: the key, its SQL over jobs ($1 the value). */
static const struct {
	const char *key, *expr;
} filters[] = {
	{ "status", "status = $1" },
	{ "type", "type = $1" },
	{ "tenant", "tenant_id = $1" },
	{ "error-code", "error->>'code' = $1" },
	{ "group", "status IN ('failed', 'retrying') AND left(md5(spool_failure_signature(error)), 12) = $1" },
	{ "since", "updated_at >= $1::timestamptz" },
};

int selection_source_filter(struct selection_source *s, const char *key, const char *value, struct buf *err)
{
	enum job_status st;
	if (!strcmp(key, "status") && job_status_parse(value, &st) < 0) {
		buf_printf(err, "unknown status '%s'", value);
		return -1;
	}
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (strcmp(filters[i].key, key))
			continue;
		struct buf text = BUF_INIT;
		buf_printf(&text, "%s=%s", key, value);
		const char *params[] = { value };
		int rc = selection_source_and(s, filters[i].expr, 1, params, buf_str(&text), err);
		buf_release(&text);
		return rc;
	}
	buf_printf(err, "unknown filter '%s'", key);
	return -1;
}

void selection_clear(struct selection *sel)
{
	free(sel->actor);
	free(sel->filter);
	free(sel->state);
	json_decref(sel->job_ids);
	json_decref(sel->results);
	memset(sel, 0, sizeof(*sel));
}

int selection_get(struct db_conn *c, const char *id, struct selection *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (!is_id(id))
		return 1;
	const char *params[] = { id };
	PGresult *r = db_exec(c, "selection_get",
			      "SELECT id, action, actor, filter, state, " DB_RFC3339("created_at") ","
			      " " DB_RFC3339("acted_at") ", undoes, cardinality(job_ids), array_to_json(job_ids)::text,"
			      " results::text FROM selections WHERE id = $1::bigint",
			      1, params, err);
	if (!r)
		return -1;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return 1;
	}
	db_copy(out->id, sizeof(out->id), r, 0, 0);
	if (action_parse(PQgetvalue(r, 0, 1), &out->action) < 0)
		out->action = SELECTION_UNDO;
	out->actor = db_strdup(r, 0, 2);
	out->filter = db_strdup(r, 0, 3);
	out->state = db_strdup(r, 0, 4);
	db_copy(out->created_at, sizeof(out->created_at), r, 0, 5);
	db_copy(out->acted_at, sizeof(out->acted_at), r, 0, 6);
	db_copy(out->undoes, sizeof(out->undoes), r, 0, 7);
	out->count = strtoll(PQgetvalue(r, 0, 8), NULL, 10);
	out->job_ids = json_loads(PQgetvalue(r, 0, 9), 0, NULL);
	if (!out->job_ids)
		out->job_ids = json_array();
	out->results = PQgetisnull(r, 0, 10) ? NULL : json_loads(PQgetvalue(r, 0, 10), 0, NULL);
	PQclear(r);
	return 0;
}

/* A statement that returns one row of one column (a new selection's id): into `id`. 0 or -1. */
static int returned_id(PGresult *r, char *id, size_t size, struct buf *err)
{
	if (!r)
		return -1;
	if (PQntuples(r) != 1) {
		buf_adds(err, "the selection was not stored");
		PQclear(r);
		return -1;
	}
	db_copy(id, size, r, 0, 0);
	PQclear(r);
	return 0;
}

/* Load a selection just stored; its absence is an error here. */
static int load_new(struct db_conn *c, const char *id, struct selection *out, struct buf *err)
{
	int rc = selection_get(c, id, out, err);
	if (rc == 1)
		buf_printf(err, "selection %s vanished", id);
	return rc == 0 ? 0 : -1;
}

int selection_resolve(struct db_conn *c, const struct selection_source *src, enum selection_action action,
		      const char *actor, int limit, struct selection *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (action == SELECTION_UNDO || action == SELECTION_PURGE) {
		buf_adds(err, "an undo or a purge is not resolved from a filter");
		return -1;
	}
	int n = src->nparams;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit < 1 ? 1 : limit > SELECTION_MAX_JOBS ? SELECTION_MAX_JOBS : limit);
	const char *params[SELECTION_MAX_PARAMS + 4];
	for (int i = 0; i < n; i++)
		params[i] = src->params[i];
	params[n] = lim;
	params[n + 1] = actor;
	params[n + 2] = action_names[action];
	params[n + 3] = src->text.len ? buf_str(&src->text) : "all";
	struct buf sql = BUF_INIT;
	buf_printf(&sql,
		   "WITH m AS (SELECT id, status, updated_at, attempts, created_at FROM jobs"
		   " WHERE %s%s%s ORDER BY created_at, id LIMIT $%d::int)"
		   " INSERT INTO selections (actor, action, filter, job_ids, seen_status, seen_updated, seen_attempts)"
		   " SELECT $%d, $%d, $%d,"
		   "  coalesce(array_agg(id ORDER BY created_at, id), '{}'),"
		   "  coalesce(array_agg(status ORDER BY created_at, id), '{}'),"
		   "  coalesce(array_agg(updated_at ORDER BY created_at, id), '{}'),"
		   "  coalesce(array_agg(attempts ORDER BY created_at, id), '{}') FROM m RETURNING id",
		   src->where.len ? buf_str(&src->where) : "", src->where.len ? " AND " : "", action_cond[action],
		   n + 1, n + 2, n + 3, n + 4);
	PGresult *r = db_exec(c, NULL, buf_str(&sql), n + 4, params, err);
	buf_release(&sql);
	if (returned_id(r, out->id, sizeof(out->id), err) < 0)
		return -1;
	char id[24];
	memcpy(id, out->id, sizeof(id));
	return load_new(c, id, out, err);
}

/* Rows (id, type, tenant, status, error code) of `r` as objects; clears `r`. NULL if `r` is. */
static json_t *job_rows(PGresult *r)
{
	if (!r)
		return NULL;
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", PQgetvalue(r, i, 0), "type",
						     PQgetvalue(r, i, 1), "tenant", PQgetvalue(r, i, 2), "status",
						     PQgetvalue(r, i, 3), "error_code",
						     PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4)));
	PQclear(r);
	return arr;
}

json_t *selection_sample(struct db_conn *c, const char *id, int limit, struct buf *err)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 10);
	const char *params[] = { id, lim };
	return job_rows(db_exec(c, "selection_sample",
				"SELECT j.id, j.type, j.tenant_id, j.status, j.error->>'code' FROM selections x,"
				" unnest(x.job_ids) WITH ORDINALITY AS u(id, n) JOIN jobs j ON j.id = u.id"
				" WHERE x.id = $1::bigint ORDER BY u.n LIMIT $2::int",
				2, params, err));
}

json_t *selection_source_jobs(struct db_conn *c, const struct selection_source *src, int limit, struct buf *err)
{
	int n = src->nparams;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 10);
	const char *params[SELECTION_MAX_PARAMS + 1];
	for (int i = 0; i < n; i++)
		params[i] = src->params[i];
	params[n] = lim;
	struct buf sql = BUF_INIT;
	buf_printf(&sql,
		   "SELECT id, type, tenant_id, status, error->>'code' FROM jobs WHERE %s"
		   " ORDER BY created_at, id LIMIT $%d::int",
		   src->where.len ? buf_str(&src->where) : "true", n + 1);
	json_t *rows = job_rows(db_exec(c, NULL, buf_str(&sql), n + 1, params, err));
	buf_release(&sql);
	return rows;
}

int selection_decline(struct db_conn *c, const char *id, struct buf *err)
{
	const char *params[] = { id };
	PGresult *r = db_exec(c, "selection_decline",
			      "UPDATE selections SET state = 'declined' WHERE id = $1::bigint AND state = 'previewed'", 1,
			      params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * The job messages of rows (id, type, attempts, priority) of `r` from column
 * `col`, in the transaction: each to the queue of its priority.
 */
static int publish_rows(struct db_conn *c, const PGresult *r, int col, struct buf *err)
{
	size_t rows = (size_t)PQntuples(r), k = 0;
	struct jobcodec_message *msgs = xcalloc(rows ? rows : 1, sizeof(*msgs));
	for (size_t i = 0; i < rows; i++) {
		if (PQgetisnull(r, (int)i, col))
			continue;
		msgs[k] = (struct jobcodec_message){ .version = 1 };
		msgs[k].attempt = atoi(PQgetvalue(r, (int)i, col + 2)) + 1;
		db_copy(msgs[k].id, sizeof(msgs[k].id), r, (int)i, col);
		db_copy(msgs[k].type, sizeof(msgs[k].type), r, (int)i, col + 1);
		if (jobprio_parse(PQgetvalue(r, (int)i, col + 3), &msgs[k].priority) < 0)
			msgs[k].priority = JOBPRIO_NORMAL;
		k++;
	}
	int rc = outbox_add_messages(c, msgs, k, err);
	free(msgs);
	return rc;
}

/* ids of column 0 of `r` into a new array. */
static json_t *ids_of(const PGresult *r)
{
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(arr, json_string(PQgetvalue(r, i, 0)));
	return arr;
}

/* Cancel by jobops' rule; results: acted, cancel_requested, from. */
static int act_cancel(struct db_conn *c, const char *const *params, json_t *res, struct buf *err)
{
	PGresult *r = db_exec(c, "selection_cancel",
			      "WITH " SNAPSHOT_CTE ","
			      " t AS (SELECT j.id, j.status FROM jobs j JOIN s ON s.id = j.id"
			      "   WHERE j.status = s.status AND j.status IN ('scheduled', 'queued', 'retrying', 'running')"
			      "   AND CASE WHEN j.status = 'running' THEN j.attempts = s.attempts AND NOT j.cancel_requested"
			      "     ELSE j.updated_at = s.updated_at END FOR UPDATE OF j),"
			      " c AS (UPDATE jobs j SET status = 'cancelled', finished_at = now(), updated_at = now(),"
			      "   lease_until = NULL, deferred_at = NULL FROM t WHERE j.id = t.id AND t.status <> 'running'"
			      "   RETURNING j.id, t.status AS prev, j.status, j.attempts),"
			      " r AS (UPDATE jobs j SET cancel_requested = true, updated_at = now() FROM t"
			      "   WHERE j.id = t.id AND t.status = 'running' RETURNING j.id, t.status AS prev, j.status, j.attempts),"
			      " a AS (SELECT * FROM c UNION ALL SELECT * FROM r),"
			      EVENT_CTE("a", "CASE WHEN prev = 'running' THEN 'cancel_requested' ELSE 'cancelled' END", "")
			      " SELECT id, prev FROM a ORDER BY id",
			      2, params, err);
	if (!r)
		return -1;
	json_t *acted = json_array(), *requested = json_array(), *from = json_object();
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *id = PQgetvalue(r, i, 0), *prev = PQgetvalue(r, i, 1);
		json_array_append_new(acted, json_string(id));
		json_object_set_new(from, id, json_string(prev));
		if (!strcmp(prev, "running")) {
			json_array_append_new(requested, json_string(id));
			continue;
		}
		struct job j;
		if (job_get(c, id, NULL, &j, err) != JOB_OK || outbox_add_event(c, &j, "cancelled", err) < 0)
			rc = -1;
		job_clear(&j);
	}
	PQclear(r);
	json_object_set_new(res, "acted", acted);
	json_object_set_new(res, "cancel_requested", requested);
	json_object_set_new(res, "from", from);
	return rc;
}

/* Publish the message of each queued or retrying job again; results: acted. */
static int act_redrive(struct db_conn *c, const char *const *params, json_t *res, struct buf *err)
{
	PGresult *r = db_exec(c, "selection_redrive",
			      "WITH " SNAPSHOT_CTE ","
			      " t AS (SELECT j.id FROM jobs j JOIN s ON s.id = j.id WHERE j.status = s.status"
			      "   AND j.status IN ('queued', 'retrying') AND j.deferred_at IS NULL"
			      "   AND j.updated_at = s.updated_at FOR UPDATE OF j),"
			      " u AS (UPDATE jobs j SET redriven_at = now() FROM t WHERE j.id = t.id"
			      "   RETURNING j.id, j.type, j.attempts, j.status, j.priority),"
			      EVENT_CTE("u", "'redriven'", "")
			      " SELECT id, type, attempts, priority FROM u ORDER BY id",
			      2, params, err);
	if (!r)
		return -1;
	int rc = publish_rows(c, r, 0, err);
	json_object_set_new(res, "acted", ids_of(r));
	PQclear(r);
	return rc;
}

static int act_retry(struct db_conn *c, const char *const *params, json_t *res, struct buf *err)
{
	char **ids = NULL;
	int64_t n = jobops_retry_selection(c, params[0], params[1], &ids, err);
	if (n < 0)
		return -1;
	json_t *acted = json_array();
	for (int64_t i = 0; i < n; i++)
		json_array_append_new(acted, json_string(ids[i]));
	jobops_ids_free(ids, n);
	json_object_set_new(res, "acted", acted);
	return 0;
}

/*
 * Undo a retry ($3): each job still queued whose last 'retried' event is that
 * selection's, with nothing but waiting since (no claim), goes back to the
 * state the retry found, with the error, attempts and time of its last event
 * before the retry.
 */
static int undo_retry(struct db_conn *c, const char *const *params, json_t *res, struct buf *err)
{
	PGresult *r = db_exec(c, "selection_undo_retry",
			      "WITH s AS (SELECT unnest(job_ids) AS id FROM selections WHERE id = $1::bigint),"
			      " t AS (SELECT j.id, r.detail, p.attempt, p.at FROM jobs j JOIN s ON s.id = j.id"
			      "   CROSS JOIN LATERAL (SELECT e.id AS eid, e.detail FROM job_events e WHERE e.job_id = j.id"
			      "     AND e.event = 'retried' ORDER BY e.id DESC LIMIT 1) r"
			      "   CROSS JOIN LATERAL (SELECT e.attempt, e.at FROM job_events e WHERE e.job_id = j.id"
			      "     AND e.id < r.eid ORDER BY e.id DESC LIMIT 1) p"
			      "   WHERE j.status = 'queued' AND (r.detail->>'selection')::bigint = $3::bigint"
			      "   AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = j.id AND e.id > r.eid"
			      "     AND e.event NOT IN ('redriven', 'deferred', 'woken'))"
			      "   FOR UPDATE OF j),"
			      " u AS (UPDATE jobs j SET status = t.detail->>'from', error = t.detail->'error',"
			      "   attempts = t.attempt, finished_at = t.at, updated_at = now(), deferred_at = NULL,"
			      "   lease_until = NULL FROM t WHERE j.id = t.id RETURNING j.id, j.status, j.attempts),"
			      EVENT_CTE("u", "'undone'", ", 'undoes', $3::bigint")
			      " SELECT id FROM u ORDER BY id",
			      3, params, err);
	if (!r)
		return -1;
	json_object_set_new(res, "acted", ids_of(r));
	PQclear(r);
	return 0;
}

/*
 * Undo a cancel ($3): each job still cancelled whose last event is that
 * selection's 'cancelled' goes back to the state it left; queued and retrying
 * ones are due at once and get their message again.
 */
static int undo_cancel(struct db_conn *c, const char *const *params, json_t *res, struct buf *err)
{
	PGresult *r = db_exec(c, "selection_undo_cancel",
			      "WITH s AS (SELECT unnest(job_ids) AS id FROM selections WHERE id = $1::bigint),"
			      " f AS (SELECT results->'from' AS f FROM selections WHERE id = $3::bigint),"
			      " t AS (SELECT j.id, f.f->>(j.id::text) AS prev FROM jobs j JOIN s ON s.id = j.id CROSS JOIN f"
			      "   CROSS JOIN LATERAL (SELECT e.event, e.detail FROM job_events e WHERE e.job_id = j.id"
			      "     ORDER BY e.id DESC LIMIT 1) l"
			      "   WHERE j.status = 'cancelled' AND l.event = 'cancelled'"
			      "   AND (l.detail->>'selection')::bigint = $3::bigint"
			      "   AND f.f->>(j.id::text) IN ('scheduled', 'queued', 'retrying') FOR UPDATE OF j),"
			      " u AS (UPDATE jobs j SET status = t.prev, finished_at = NULL, updated_at = now(),"
			      "   due_at = CASE WHEN t.prev = 'scheduled' THEN j.due_at ELSE now() END, redriven_at = NULL"
			      "   FROM t WHERE j.id = t.id RETURNING j.id, j.type, j.attempts, j.status, j.priority),"
			      EVENT_CTE("u", "'undone'", ", 'undoes', $3::bigint")
			      " SELECT id, status, CASE WHEN status <> 'scheduled' THEN id END, type, attempts, priority"
			      " FROM u ORDER BY id",
			      3, params, err);
	if (!r)
		return -1;
	int rc = publish_rows(c, r, 2, err);
	json_object_set_new(res, "acted", ids_of(r));
	PQclear(r);
	return rc;
}

/* The selection's row, locked for this transaction: its action, state and target. 0, or -1. */
static int lock_selection(struct db_conn *c, const char *id, enum selection_action *action, char *undoes,
			  size_t size, enum selection_action *target_action, struct buf *err)
{
	const char *params[] = { id };
	PGresult *r = db_exec(c, "selection_lock",
			      "SELECT x.action, x.state, x.undoes, t.action FROM selections x"
			      " LEFT JOIN selections t ON t.id = x.undoes WHERE x.id = $1::bigint FOR UPDATE OF x",
			      1, params, err);
	if (!r)
		return -1;
	int rc = -1;
	if (PQntuples(r) != 1)
		buf_printf(err, "no selection %s", id);
	else if (strcmp(PQgetvalue(r, 0, 1), "previewed"))
		buf_printf(err, "selection %s is %s already: resolve the filter again", id, PQgetvalue(r, 0, 1));
	else if (action_parse(PQgetvalue(r, 0, 0), action) < 0)
		buf_printf(err, "selection %s has an unknown action '%s'", id, PQgetvalue(r, 0, 0));
	else {
		db_copy(undoes, size, r, 0, 2);
		*target_action = SELECTION_UNDO;
		if (!PQgetisnull(r, 0, 3))
			action_parse(PQgetvalue(r, 0, 3), target_action);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

/* Mark the selection done with `res` (borrowed) and the skipped jobs as they are now. */
static int finish(struct db_conn *c, const char *id, json_t *res, struct buf *err)
{
	char *js = json_dumps(res, JSON_COMPACT);
	const char *params[] = { id, js };
	PGresult *r = db_exec(c, "selection_finish",
			      "UPDATE selections x SET state = 'done', acted_at = now(), results = $2::jsonb"
			      " || jsonb_build_object('skipped', (SELECT coalesce(jsonb_agg(jsonb_build_object("
			      "   'id', u.id, 'status', coalesce(j.status, 'gone')) ORDER BY u.n), '[]'::jsonb)"
			      "   FROM unnest(x.job_ids) WITH ORDINALITY AS u(id, n) LEFT JOIN jobs j ON j.id = u.id"
			      "   WHERE NOT (($2::jsonb->'acted') ? u.id::text)))"
			      " WHERE id = $1::bigint RETURNING results::text",
			      2, params, err);
	free(js);
	if (!r)
		return -1;
	json_t *stored = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, NULL) : NULL;
	PQclear(r);
	if (stored)
		json_object_set(res, "skipped", json_object_get(stored, "skipped"));
	json_decref(stored);
	return 0;
}

int64_t selection_act(struct db_conn *c, const char *id, const char *actor, json_t **results, struct buf *err)
{
	if (results)
		*results = NULL;
	if (!is_id(id)) {
		buf_printf(err, "no selection '%s'", id);
		return -1;
	}
	if (db_cmd(c, "BEGIN", err) < 0)
		return -1;
	enum selection_action action, target_action;
	char undoes[24];
	json_t *res = json_object();
	int rc = lock_selection(c, id, &action, undoes, sizeof(undoes), &target_action, err);
	const char *params[] = { id, actor, undoes };
	if (rc == 0) {
		switch (action) {
		case SELECTION_RETRY:
			rc = act_retry(c, params, res, err);
			break;
		case SELECTION_CANCEL:
			rc = act_cancel(c, params, res, err);
			break;
		case SELECTION_REDRIVE:
			rc = act_redrive(c, params, res, err);
			break;
		case SELECTION_PURGE:
			rc = -1;
			buf_adds(err, "a purge is recorded, not acted on");
			break;
		case SELECTION_UNDO:
			rc = target_action == SELECTION_RETRY	 ? undo_retry(c, params, res, err)
			     : target_action == SELECTION_CANCEL ? undo_cancel(c, params, res, err)
								 : (buf_adds(err, "only a retry or a cancel can be undone"), -1);
			break;
		}
	}
	if (rc < 0 || finish(c, id, res, err) < 0 || db_cmd(c, "COMMIT", err) < 0) {
		rollback(c);
		json_decref(res);
		return -1;
	}
	int64_t n = (int64_t)json_array_size(json_object_get(res, "acted"));
	if (results)
		*results = res;
	else
		json_decref(res);
	return n;
}

int selection_undo_resolve(struct db_conn *c, const char *target, const char *actor, struct selection *out,
			   struct buf *err)
{
	memset(out, 0, sizeof(*out));
	char tid[24] = "";
	if (!target) {
		PGresult *r = db_exec(c, "selection_undo_last",
				      "SELECT id FROM selections s WHERE state = 'done' AND action IN ('retry', 'cancel')"
				      " AND NOT EXISTS (SELECT 1 FROM selections u WHERE u.undoes = s.id AND u.state = 'done')"
				      " ORDER BY id DESC LIMIT 1",
				      0, NULL, err);
		if (!r)
			return -1;
		bool none = PQntuples(r) == 0;
		if (!none)
			db_copy(tid, sizeof(tid), r, 0, 0);
		PQclear(r);
		if (none) {
			buf_adds(err, "no retry or cancel selection is left to undo");
			return 1;
		}
	} else {
		struct selection t;
		int rc = selection_get(c, target, &t, err);
		if (rc < 0)
			return -1;
		bool ok = rc == 0 && (t.action == SELECTION_RETRY || t.action == SELECTION_CANCEL) &&
			  !strcmp(t.state, "done");
		if (rc == 1)
			buf_printf(err, "no selection '%s'", target);
		else if (!ok)
			buf_printf(err, "selection %s is a %s %s: only a done retry or cancel can be undone", target,
				   t.state, action_names[t.action]);
		selection_clear(&t);
		if (!ok)
			return 1;
		snprintf(tid, sizeof(tid), "%s", target);
		const char *p[] = { tid };
		PGresult *r = db_exec(c, "selection_undone",
				      "SELECT id FROM selections WHERE undoes = $1::bigint AND state = 'done' LIMIT 1", 1, p,
				      err);
		if (!r)
			return -1;
		bool undone = PQntuples(r) > 0;
		if (undone)
			buf_printf(err, "selection %s was undone already by selection %s", tid, PQgetvalue(r, 0, 0));
		PQclear(r);
		if (undone)
			return 1;
	}
	const char *params[] = { tid, actor };
	PGresult *r = db_exec(c, "selection_undo_resolve",
			      "INSERT INTO selections (actor, action, filter, job_ids, seen_status, seen_updated,"
			      "   seen_attempts, undoes)"
			      " SELECT $2, 'undo', 'undo of selection ' || $1::bigint,"
			      "  coalesce(array_agg(j.id ORDER BY a.n), '{}'), coalesce(array_agg(j.status ORDER BY a.n), '{}'),"
			      "  coalesce(array_agg(j.updated_at ORDER BY a.n), '{}'),"
			      "  coalesce(array_agg(j.attempts ORDER BY a.n), '{}'), $1::bigint"
			      " FROM selections x CROSS JOIN LATERAL jsonb_array_elements_text(x.results->'acted')"
			      "   WITH ORDINALITY AS a(id, n) JOIN jobs j ON j.id = a.id::uuid"
			      " WHERE x.id = $1::bigint AND NOT coalesce(x.results->'cancel_requested' ? a.id, false)"
			      " RETURNING id",
			      2, params, err);
	if (returned_id(r, out->id, sizeof(out->id), err) < 0)
		return -1;
	char id[24];
	memcpy(id, out->id, sizeof(id));
	return load_new(c, id, out, err);
}

int selection_record_purge(struct db_conn *c, const char *actor, const char *filter, json_t *ids, json_t *results,
			   char id[24], struct buf *err)
{
	json_t *valid = json_array(), *res = json_deep_copy(results);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) if (job_id_valid(json_string_value(v))) json_array_append(valid, v);
	json_object_set(res, "acted", valid);
	char *js_ids = json_dumps(valid, JSON_COMPACT), *js_res = json_dumps(res, JSON_COMPACT);
	const char *params[] = { actor, filter, js_ids, js_res };
	PGresult *r = db_exec(c, "selection_record_purge",
			      "INSERT INTO selections (actor, action, filter, job_ids, seen_status, seen_updated,"
			      "   seen_attempts, state, acted_at, results)"
			      " SELECT $1, 'purge', $2, coalesce(array_agg(u.id::uuid ORDER BY u.n), '{}'),"
			      "  coalesce(array_agg(coalesce(j.status, 'gone') ORDER BY u.n), '{}'),"
			      "  coalesce(array_agg(coalesce(j.updated_at, now()) ORDER BY u.n), '{}'),"
			      "  coalesce(array_agg(coalesce(j.attempts, 0) ORDER BY u.n), '{}'), 'done', now(), $4::jsonb"
			      " FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS u(id, n)"
			      " LEFT JOIN jobs j ON j.id = u.id::uuid RETURNING id",
			      4, params, err);
	free(js_ids);
	free(js_res);
	json_decref(valid);
	json_decref(res);
	return returned_id(r, id, 24, err);
}

json_t *selection_failure_groups(struct db_conn *c, const char *status, const char *since, bool *capped,
				 struct buf *err)
{
	char lim[16], rows[16];
	snprintf(lim, sizeof(lim), "%d", SELECTION_MAX_GROUPS);
	snprintf(rows, sizeof(rows), "%d", SELECTION_MAX_FAILURE_ROWS);
	const char *params[] = { status, since, lim, rows };
	if (capped)
		*capped = false;
	PGresult *r = db_exec(c, "selection_failure_groups",
			      "SELECT left(md5(sig), 12), sig, min(code), count(*), " DB_RFC3339("min(at)") ","
			      " " DB_RFC3339("max(at)") ", to_json((array_agg(DISTINCT type))[1:10])::text,"
			      " to_json((array_agg(DISTINCT tenant_id))[1:10])::text, sum(count(*)) OVER ()"
			      " FROM (SELECT spool_failure_signature(error) AS sig, error->>'code' AS code,"
			      "   coalesce(finished_at, updated_at) AS at, type, tenant_id FROM jobs"
			      "   WHERE status IN ('failed', 'retrying') AND ($1::text IS NULL OR status = $1::text)"
			      "   AND ($2::timestamptz IS NULL OR updated_at >= $2::timestamptz)"
			      "   ORDER BY updated_at DESC LIMIT $4::int) g"
			      " GROUP BY sig ORDER BY count(*) DESC, sig LIMIT $3::int",
			      4, params, err);
	if (!r)
		return NULL;
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s?, s:I, s:s, s:s, s:o, s:o}", "group", PQgetvalue(r, i, 0), "signature",
				       PQgetvalue(r, i, 1), "code", PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2),
				       "count", (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "first_seen",
				       PQgetvalue(r, i, 4), "last_seen", PQgetvalue(r, i, 5), "types",
				       json_loads(PQgetvalue(r, i, 6), 0, NULL), "tenants",
				       json_loads(PQgetvalue(r, i, 7), 0, NULL)));
	if (capped && PQntuples(r) > 0)
		*capped = strtoll(PQgetvalue(r, 0, 8), NULL, 10) >= SELECTION_MAX_FAILURE_ROWS;
	PQclear(r);
	return arr;
}
