#include "jobops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "outbox.h"
#include "selection.h"
#include "timefmt.h"

/* How long dead-letter reading waits for the next message before it stops. */
#define DEAD_WAIT_MS 2000
/* How many times jobops_cancel judges a job that changes state under it. */
#define CANCEL_ROUNDS 4

/*
 * The retry of every job the caller's WHERE clause selects ($1.. its parameters,
 * $N the actor); `extra` (jsonb) is merged into the 'retried' events' detail.
 */
#define RETRY_SQL(cond, actor, extra)                                                                             \
	"WITH o AS (SELECT id, status, error FROM jobs WHERE " cond " FOR UPDATE),"                       \
	" u AS (UPDATE jobs j SET status = 'queued', attempts = 0, error = NULL, result = NULL,"             \
	"   progress = NULL, worker_id = NULL, lease_until = NULL, cancel_requested = false,"               \
	"   started_at = NULL, finished_at = NULL, due_at = now(), updated_at = now()"                      \
	"   FROM o WHERE j.id = o.id RETURNING j.id, j.type, j.priority, o.status AS old_status, o.error AS old_error),"  \
	" e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"                            \
	"   SELECT id, 'retried', 'queued', 0,"                                                             \
	"     jsonb_build_object('actor', " actor "::text, 'from', old_status, 'error', old_error) || " extra  \
	"     FROM u)"                                                                                       \
	" SELECT id, type, priority FROM u ORDER BY id"

#define MATCH_COND                                                                                         \
	"status = 'failed' AND ($1::text IS NULL OR type = $1)"                                            \
	" AND ($2::timestamptz IS NULL OR finished_at >= $2::timestamptz)"

static void rollback(struct db_conn *c)
{
	struct buf ignored = BUF_INIT;
	db_cmd(c, "ROLLBACK", &ignored);
	buf_release(&ignored);
}

/* The spool.jobs messages of the retried jobs (rows of id, type, priority in `r`) into the outbox, in one statement. */
static int outbox_add_retried(struct db_conn *c, const PGresult *r, struct buf *err)
{
	size_t rows = (size_t)PQntuples(r);
	struct jobcodec_message *msgs = xcalloc(rows ? rows : 1, sizeof(*msgs));
	for (size_t i = 0; i < rows; i++) {
		msgs[i] = (struct jobcodec_message){ .version = 1, .attempt = 1 };
		db_copy(msgs[i].id, sizeof(msgs[i].id), r, (int)i, 0);
		db_copy(msgs[i].type, sizeof(msgs[i].type), r, (int)i, 1);
		if (jobprio_parse(PQgetvalue(r, (int)i, 2), &msgs[i].priority) < 0)
			msgs[i].priority = JOBPRIO_NORMAL;
	}
	int rc = outbox_add_messages(c, msgs, rows, err);
	free(msgs);
	return rc;
}

/* Run a retry statement and queue the messages, all in one transaction. Rows retried, or -1. */
static int64_t retry_tx(struct db_conn *c, const char *name, const char *sql, int np, const char *const *params,
			char ***ids, struct buf *err)
{
	if (db_cmd(c, "BEGIN", err) < 0)
		return -1;
	PGresult *r = db_exec(c, name, sql, np, params, err);
	if (!r || outbox_add_retried(c, r, err) < 0 || db_cmd(c, "COMMIT", err) < 0) {
		PQclear(r);
		rollback(c);
		return -1;
	}
	int64_t n = PQntuples(r);
	if (ids) {
		*ids = xcalloc((size_t)n + 1, sizeof(char *));
		for (int64_t i = 0; i < n; i++)
			(*ids)[i] = db_strdup(r, (int)i, 0);
	}
	PQclear(r);
	return n;
}

enum job_rc jobops_retry(struct db_conn *c, const char *id, const char *actor, struct buf *err)
{
	if (!job_id_valid(id))
		return JOB_NOT_FOUND;
	const char *params[] = { id, actor };
	int64_t n = retry_tx(c, "jobops_retry",
			     RETRY_SQL("id = $1::uuid AND status IN ('failed', 'cancelled')", "$2", "'{}'::jsonb"), 2, params, NULL,
			     err);
	if (n < 0)
		return JOB_ERR;
	if (n == 1)
		return JOB_OK;
	struct job j;
	enum job_rc rc = job_get(c, id, NULL, &j, err);
	job_clear(&j);
	return rc == JOB_OK ? JOB_WRONG_STATE : rc;
}

int64_t jobops_retry_matching(struct db_conn *c, const struct jobops_match *m, bool dry_run, const char *actor,
			      char ***ids, struct buf *err)
{
	const char *params[] = { m->type, m->since, actor };
	int64_t n;
	if (ids)
		*ids = NULL;
	if (dry_run) {
		PGresult *r = db_exec(c, "jobops_retry_preview",
				      "SELECT id FROM jobs WHERE " MATCH_COND " ORDER BY finished_at, id", 2, params, err);
		if (!r) {
			n = -1;
		} else {
			n = PQntuples(r);
			if (ids) {
				*ids = xcalloc((size_t)n + 1, sizeof(char *));
				for (int64_t i = 0; i < n; i++)
					(*ids)[i] = db_strdup(r, (int)i, 0);
			}
			PQclear(r);
		}
	} else {
		n = retry_tx(c, "jobops_retry_matching", RETRY_SQL(MATCH_COND, "$3", "'{}'::jsonb"), 3, params, ids, err);
	}
	if (n < 0 && m->since && (strstr(buf_str(err), "22007") || strstr(buf_str(err), "22008"))) {
		buf_reset(err);
		buf_printf(err, "malformed since '%s': use an RFC 3339 time", m->since);
	}
	return n;
}

int64_t jobops_retry_selection(struct db_conn *c, const char *selection, const char *actor, char ***ids,
			       struct buf *err)
{
	const char *params[] = { selection, actor };
	PGresult *r = db_exec(c, "jobops_retry_selection",
			      RETRY_SQL("status IN ('failed', 'cancelled') AND (id, status, updated_at) IN"
					" (SELECT s.id, s.status, s.updated_at FROM selections x,"
					"   unnest(x.job_ids, x.seen_status, x.seen_updated) AS s(id, status, updated_at)"
					"   WHERE x.id = $1::bigint)",
					"$2", "jsonb_build_object('selection', $1::bigint)"),
			      2, params, err);
	if (!r || outbox_add_retried(c, r, err) < 0) {
		PQclear(r);
		return -1;
	}
	int64_t n = PQntuples(r);
	*ids = xcalloc((size_t)n + 1, sizeof(char *));
	for (int64_t i = 0; i < n; i++)
		(*ids)[i] = db_strdup(r, (int)i, 0);
	PQclear(r);
	return n;
}

void jobops_ids_free(char **ids, int64_t n)
{
	for (int64_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

enum jobops_cancel_rc jobops_cancel_rule(enum job_status s)
{
	switch (s) {
	case JOB_SCHEDULED:
	case JOB_QUEUED:
	case JOB_RETRYING:
		return JOBOPS_CANCELLED;
	case JOB_RUNNING:
		return JOBOPS_CANCEL_REQUESTED;
	case JOB_SUCCEEDED:
	case JOB_FAILED:
	case JOB_CANCELLED:
		break;
	}
	return JOBOPS_CANCEL_REFUSED;
}

const char *jobops_cancel_rc_name(enum jobops_cancel_rc rc)
{
	switch (rc) {
	case JOBOPS_CANCELLED:
		return "cancelled";
	case JOBOPS_CANCEL_REQUESTED:
		return "cancel_requested";
	case JOBOPS_CANCEL_NOT_FOUND:
		return "not_found";
	case JOBOPS_CANCEL_REFUSED:
		return "refused";
	case JOBOPS_CANCEL_ERR:
		break;
	}
	return "error";
}

enum jobops_cancel_rc jobops_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
				    struct job *out, struct buf *err)
{
	/* most jobs cancelled wait in the queue: try that first, the state found says what next */
	enum jobops_cancel_rc want = JOBOPS_CANCELLED;
	for (int round = 1;; round++) {
		enum job_rc rc = want == JOBOPS_CANCELLED ? job_cancel(c, id, tenant, actor, out, err)
							  : job_request_cancel(c, id, tenant, actor, out, err);
		if (rc == JOB_OK)
			return want;
		if (rc == JOB_NOT_FOUND)
			return JOBOPS_CANCEL_NOT_FOUND;
		if (rc == JOB_ERR)
			return JOBOPS_CANCEL_ERR;
		want = jobops_cancel_rule(out->status);
		if (want == JOBOPS_CANCEL_REFUSED || round == CANCEL_ROUNDS)
			return JOBOPS_CANCEL_REFUSED;
		job_clear(out);
	}
}

int jobops_cancel_many(struct db_conn *c, const char *const *ids, size_t n, const char *actor,
		       struct jobops_result *res, struct buf *err)
{
	int done = 0;
	for (size_t i = 0; i < n; i++) {
		struct job j;
		res[i].id = ids[i];
		res[i].rc = jobops_cancel(c, ids[i], NULL, actor, &j, err);
		res[i].status = j.status;
		job_clear(&j);
		if (res[i].rc == JOBOPS_CANCEL_ERR) {
			for (size_t k = i + 1; k < n; k++)
				res[k] = (struct jobops_result){ ids[k], JOBOPS_CANCEL_ERR, JOB_QUEUED };
			return -1;
		}
		if (res[i].rc == JOBOPS_CANCELLED || res[i].rc == JOBOPS_CANCEL_REQUESTED)
			done++;
	}
	return done;
}

int jobops_events(struct db_conn *c, const char *id, struct jobops_event **out, size_t *n, struct buf *err)
{
	*out = NULL;
	*n = 0;
	if (!job_id_valid(id))
		return 0;
	const char *params[] = { id };
	PGresult *r = db_exec(c, "jobops_events",
			      "SELECT " DB_RFC3339("at") ", event, status, attempt, worker_id, error::text, detail::text"
			      " FROM job_events WHERE job_id = $1::uuid ORDER BY id",
			      1, params, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	struct jobops_event *v = xcalloc(k ? k : 1, sizeof(*v));
	for (size_t i = 0; i < k; i++) {
		int row = (int)i;
		db_copy(v[i].at, sizeof(v[i].at), r, row, 0);
		db_copy(v[i].event, sizeof(v[i].event), r, row, 1);
		db_copy(v[i].status, sizeof(v[i].status), r, row, 2);
		v[i].attempt = atoi(PQgetvalue(r, row, 3));
		v[i].worker_id = db_strdup(r, row, 4);
		v[i].error = PQgetisnull(r, row, 5) ? NULL : json_loads(PQgetvalue(r, row, 5), JSON_DECODE_ANY, NULL);
		v[i].detail = PQgetisnull(r, row, 6) ? NULL : json_loads(PQgetvalue(r, row, 6), JSON_DECODE_ANY, NULL);
	}
	PQclear(r);
	*out = v;
	*n = k;
	return 0;
}

void jobops_events_free(struct jobops_event *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].worker_id);
		json_decref(e[i].error);
		json_decref(e[i].detail);
	}
	free(e);
}

int jobops_since(const char *arg, time_t now, time_t *when)
{
	int64_t secs;
	if (!arg || !*arg)
		return -1;
	if (config_parse_duration(arg, &secs) == 0) {
		*when = now - (time_t)secs;
		return 0;
	}
	return timefmt_parse(arg, when);
}

int jobops_dead_read(struct mq *m, int limit, struct jobops_dead **out, size_t *n, uint32_t *total,
		     struct buf *err)
{
	uint32_t messages = 0, consumers = 0;
	*out = NULL;
	*n = 0;
	*total = 0;
	if (mq_queue_counts(m, MQ_DEAD_QUEUE, &messages, &consumers, err) < 0)
		return -1;
	*total = messages;
	size_t want = limit > 0 && (uint32_t)limit < messages ? (size_t)limit : messages;
	if (want == 0)
		return 0;
	if (mq_consume(m, MQ_DEAD_QUEUE, want > 65535 ? 65535 : (int)want, err) < 0)
		return -1;
	struct jobops_dead *v = xcalloc(want, sizeof(*v));
	size_t got = 0;
	while (got < want) {
		struct mq_delivery d;
		int rc = mq_next(m, &d, DEAD_WAIT_MS, err);
		if (rc < 0) {
			jobops_dead_free(v, got);
			return -1;
		}
		if (rc == 0)
			break; /* fewer than counted: someone else took them */
		struct jobops_dead *x = &v[got++];
		struct buf why = BUF_INIT;
		x->body = d.body;
		x->len = d.len;
		x->tag = d.tag;
		x->redelivered = d.redelivered;
		d.body = NULL;
		if (jobcodec_message_decode(x->body, x->len, &x->msg, &why) < 0) {
			x->poison = true;
			x->reason = buf_detach(&why);
		}
		buf_release(&why);
		mq_delivery_free(&d);
	}
	*out = v;
	*n = got;
	return 0;
}

void jobops_dead_free(struct jobops_dead *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].body);
		free(d[i].reason);
	}
	free(d);
}

void jobops_dead_excerpt(const struct jobops_dead *d, struct buf *out)
{
	buf_reset(out);
	buf_add(out, d->body, d->len < 200 ? d->len : 200);
	for (size_t i = 0; i < out->len; i++)
		if ((unsigned char)out->data[i] < 0x20)
			out->data[i] = ' ';
}

static bool dead_wanted(const char *id, const char *const *ids, size_t nids)
{
	for (size_t i = 0; i < nids; i++)
		if (!strcmp(ids[i], id))
			return true;
	return nids == 0;
}

/*
 * The retry of read messages `d` (n of them) whose job is one of `ids` (nids 0:
 * every one), acknowledging over `m` those retried or stale; `out` initialised.
 */
static int dead_retry_msgs(struct db_conn *c, struct mq *m, const struct jobops_dead *d, size_t n,
			   const char *const *ids, size_t nids, const char *actor, struct jobops_dead_retried *out,
			   struct buf *err)
{
	struct buf e = BUF_INIT, b = BUF_INIT;
	char *seen = xcalloc(nids + 1, 1);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i].poison) {
			jobops_dead_excerpt(&d[i], &b);
			json_array_append_new(out->poison, json_pack("{s:s, s:s}", "reason", d[i].reason, "body", buf_str(&b)));
			continue;
		}
		const char *id = d[i].msg.id;
		if (!dead_wanted(id, ids, nids))
			continue;
		for (size_t k = 0; k < nids; k++)
			seen[k] |= !strcmp(ids[k], id);
		buf_reset(&e);
		enum job_rc r = jobops_retry(c, id, actor, &e);
		if (r == JOB_ERR) {
			buf_printf(err, "'%s': %s", id, buf_str(&e));
			rc = -1;
			break;
		}
		if (r == JOB_NOT_FOUND) {
			json_array_append_new(out->errors, json_pack("{s:s, s:s}", "id", id, "reason", "no such job"));
			continue; /* left in the queue for a look */
		}
		json_array_append_new(r == JOB_OK ? out->done : out->stale, json_string(id));
		if (mq_ack(m, d[i].tag) < 0)
			out->ack_failed++;
	}
	for (size_t k = 0; k < nids; k++)
		if (!seen[k])
			json_array_append_new(out->errors, json_pack("{s:s, s:s}", "id", ids[k], "reason", "no dead letter"));
	free(seen);
	buf_release(&e);
	buf_release(&b);
	return rc;
}

static void dead_retried_init(struct jobops_dead_retried *out)
{
	memset(out, 0, sizeof(*out));
	out->done = json_array();
	out->stale = json_array();
	out->poison = json_array();
	out->errors = json_array();
}

int jobops_dead_retry(struct db_conn *c, struct mq *m, const char *const *ids, size_t nids, const char *actor,
		      struct jobops_dead_retried *out, struct buf *err)
{
	dead_retried_init(out);
	struct jobops_dead *d = NULL;
	size_t n = 0;
	uint32_t total = 0;
	struct buf e = BUF_INIT;
	if (jobops_dead_read(m, 65535, &d, &n, &total, &e) < 0) {
		buf_printf(err, "cannot read '%s': %s", MQ_DEAD_QUEUE, buf_str(&e));
		buf_release(&e);
		return -1;
	}
	buf_release(&e);
	out->read_ok = true;
	int rc = dead_retry_msgs(c, m, d, n, ids, nids, actor, out, err);
	jobops_dead_free(d, n);
	return rc;
}

int jobops_dead_retry_held(struct db_conn *c, struct mq *m, const struct jobops_dead *d, size_t n, const char *actor,
			   struct jobops_dead_retried *out, struct buf *err)
{
	dead_retried_init(out);
	out->read_ok = true;
	return dead_retry_msgs(c, m, d, n, NULL, 0, actor, out, err);
}

void jobops_dead_retry_clear(struct jobops_dead_retried *out)
{
	json_decref(out->done);
	json_decref(out->stale);
	json_decref(out->poison);
	json_decref(out->errors);
	memset(out, 0, sizeof(*out));
}

int jobops_dead_purge_held(struct db_conn *c, struct mq *m, const struct jobops_dead *d, size_t n, const char *actor,
			   struct jobops_dead_purged *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	out->ids = json_array();
	for (size_t i = 0; i < n; i++) {
		if (mq_ack(m, d[i].tag) < 0)
			continue;
		out->purged++;
		if (d[i].poison)
			out->poison++;
		else
			json_array_append_new(out->ids, json_string(d[i].msg.id));
	}
	json_t *res = json_pack("{s:I, s:I}", "messages", (json_int_t)out->purged, "poison", (json_int_t)out->poison);
	int rc = selection_record_purge(c, actor, MQ_DEAD_QUEUE, out->ids, res, out->selection, err);
	json_decref(res);
	if (rc < 0)
		out->selection[0] = '\0';
	return rc;
}

json_t *jobops_dead_purged_detail(const struct jobops_dead_purged *p)
{
	return json_pack("{s:s, s:s?, s:I, s:O}", "via", "amqp", "selection", *p->selection ? p->selection : NULL,
			 "poison", (json_int_t)p->poison, "ids", p->ids);
}

void jobops_dead_purged_clear(struct jobops_dead_purged *p)
{
	json_decref(p->ids);
	memset(p, 0, sizeof(*p));
}

int jobops_limits_changed(struct db_conn *c, const char *actor, const char *action, enum joblimits_scope scope,
			  const char *name, json_t *detail, int *woken, struct buf *err)
{
	struct buf e = BUF_INIT, target = BUF_INIT;
	int rc = 0;
	buf_printf(&target, "%s:%s", joblimits_scope_name(scope), name);
	*woken = job_wake_deferred(c, NULL, NULL, JOBOPS_LIMITS_WAKE_MAX, JOB_WAKE_WAIT, actor, &e);
	if (*woken < 0) {
		buf_printf(err, "waking the deferred jobs failed: %s (the workers' sweep will)", buf_str(&e));
		buf_reset(&e);
		*woken = 0;
		rc = -1;
	}
	json_object_set_new(detail, "woken", json_integer(*woken));
	if (audit_record(c, actor, action, buf_str(&target), 1, detail, &e) < 0) {
		buf_printf(err, "%sthe audit record failed: %s", rc < 0 ? "; " : "", buf_str(&e));
		rc = -1;
	}
	buf_release(&target);
	buf_release(&e);
	return rc;
}
