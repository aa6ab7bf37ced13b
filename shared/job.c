#include "job.h"
#include "timefmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define MESSAGE_MAX 4096
#define CURSOR_MAX 128

static const char *const status_names[JOB_STATUS_COUNT] = {
	[JOB_QUEUED] = "queued",     [JOB_RUNNING] = "running", [JOB_RETRYING] = "retrying",
	[JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed",   [JOB_CANCELLED] = "cancelled",
};

const char *job_status_name(enum job_status s)
{
	if ((unsigned)s >= JOB_STATUS_COUNT)
		return "unknown";
	return status_names[s];
}

int job_status_parse(const char *s, enum job_status *out)
{
	for (int i = 0; s && i < JOB_STATUS_COUNT; i++)
		if (!strcmp(s, status_names[i])) {
			*out = (enum job_status)i;
			return 0;
		}
	return -1;
}

int job_status_final(enum job_status s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

int job_id_valid(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < JOB_ID_LEN; i++) {
		char ch = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return 0;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			return 0;
		}
	}
	return s[JOB_ID_LEN] == '\0';
}

void job_clear(struct job *j)
{
	if (!j)
		return;
	free(j->tenant);
	free(j->type);
	json_decref(j->source);
	json_decref(j->params);
	json_decref(j->result);
	json_decref(j->error);
	free(j->callback_url);
	free(j->idempotency_key);
	free(j->worker_id);
	memset(j, 0, sizeof(*j));
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *ref_or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

json_t *job_to_json(const struct job *j)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(j->id));
	json_object_set_new(o, "type", str_or_null(j->type));
	json_object_set_new(o, "status", json_string(job_status_name(j->status)));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
	json_object_set_new(o, "progress", j->progress >= 0 ? json_integer(j->progress) : json_null());
	json_object_set_new(o, "source", ref_or_null(j->source));
	json_object_set_new(o, "params", j->params ? json_incref(j->params) : json_object());
	json_object_set_new(o, "result", ref_or_null(j->result));
	json_object_set_new(o, "error", ref_or_null(j->error));
	json_object_set_new(o, "created_at", str_or_null(j->created_at));
	json_object_set_new(o, "started_at", str_or_null(j->started_at));
	json_object_set_new(o, "finished_at", str_or_null(j->finished_at));
	return o;
}

/* ---- rows ---------------------------------------------------------------- */

/* The columns every job query returns, in the order job_from_row reads them. */
#define JOB_COLS                                                                                        \
	"id, tenant_id, type, status, attempts, max_attempts, coalesce(progress, -1), source::text, "    \
	"params::text, result::text, error::text, callback_url, idempotency_key, worker_id, "           \
	"cancel_requested, " DB_RFC3339("created_at") ", " DB_RFC3339("started_at") ", "                \
	DB_RFC3339("finished_at") ", " DB_RFC3339("lease_until") ", "                                  \
	"(extract(epoch FROM created_at) * 1000000)::bigint"
#define JOB_NCOLS 20

static json_t *json_col(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	json_t *v = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
	if (v && json_is_null(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static void job_from_row(const PGresult *r, int row, struct job *j)
{
	memset(j, 0, sizeof(*j));
	db_copy(j->id, sizeof(j->id), r, row, 0);
	j->tenant = db_strdup(r, row, 1);
	j->type = db_strdup(r, row, 2);
	if (job_status_parse(PQgetvalue(r, row, 3), &j->status) < 0)
		j->status = JOB_FAILED;
	j->attempts = atoi(PQgetvalue(r, row, 4));
	j->max_attempts = atoi(PQgetvalue(r, row, 5));
	j->progress = atoi(PQgetvalue(r, row, 6));
	j->source = json_col(r, row, 7);
	j->params = json_col(r, row, 8);
	j->result = json_col(r, row, 9);
	j->error = json_col(r, row, 10);
	j->callback_url = db_strdup(r, row, 11);
	j->idempotency_key = db_strdup(r, row, 12);
	j->worker_id = db_strdup(r, row, 13);
	j->cancel_requested = !strcmp(PQgetvalue(r, row, 14), "t");
	db_copy(j->created_at, sizeof(j->created_at), r, row, 15);
	db_copy(j->started_at, sizeof(j->started_at), r, row, 16);
	db_copy(j->finished_at, sizeof(j->finished_at), r, row, 17);
	db_copy(j->lease_until, sizeof(j->lease_until), r, row, 18);
}

static void rollback(struct db_conn *c)
{
	struct buf ignored = BUF_INIT;
	db_cmd(c, "ROLLBACK", &ignored);
	buf_release(&ignored);
}

static char *dump_or_null(json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Queue a row for the outbox publisher, in the caller's transaction. */
static int outbox_add(struct db_conn *c, const char *exchange, const char *key, const char *payload,
		      struct buf *err)
{
	const char *params[] = { exchange, key, payload };
	PGresult *r = db_exec(c, "outbox_add",
			      "INSERT INTO outbox (exchange, routing_key, payload) VALUES ($1, $2, $3)", 3, params,
			      err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* The queue message of `j` for `attempt`, into the outbox for exchange/key. */
static int outbox_add_message(struct db_conn *c, const struct job *j, int attempt, const char *exchange,
			      const char *key, struct buf *err)
{
	struct job_message m = { .version = 1, .attempt = attempt };
	struct buf payload = BUF_INIT;
	memcpy(m.id, j->id, sizeof(m.id));
	snprintf(m.type, sizeof(m.type), "%s", j->type ? j->type : "");
	job_message_encode(&m, &payload);
	int rc = outbox_add(c, exchange, key, buf_str(&payload), err);
	buf_release(&payload);
	return rc;
}

/* The spool.jobs message of `j` for its next attempt, into the outbox. */
static int outbox_add_job(struct db_conn *c, const struct job *j, struct buf *err)
{
	return outbox_add_message(c, j, j->attempts + 1, "spool.jobs", "job", err);
}

/* The spool.events message of `j` (event "cancelled", …), into the outbox. */
static int outbox_add_event(struct db_conn *c, const struct job *j, const char *event, struct buf *err)
{
	struct buf payload = BUF_INIT, key = BUF_INIT;
	job_event_encode(j, event, &payload);
	buf_printf(&key, "job.%s", event);
	int rc = outbox_add(c, "spool.events", buf_str(&key), buf_str(&payload), err);
	buf_release(&payload);
	buf_release(&key);
	return rc;
}

/* ---- create, get, list ----------------------------------------------------- */

/*
 * One statement, so one round trip and one implicit transaction: the job, its
 * first job_events row and its outbox row (the message of job_message_encode(),
 * byte for byte, for the job type names it accepts).
 */
int job_create(struct db_conn *c, const struct job_new *in, struct job *out, int *existed, struct buf *err)
{
	char maxa[16];
	snprintf(maxa, sizeof(maxa), "%d", in->max_attempts > 0 ? in->max_attempts : 5);
	char *src = dump_or_null(in->source);
	char *prm = in->params ? json_dumps(in->params, JSON_COMPACT) : xstrdup("{}");
	const char *params[] = { in->tenant, in->type, src, prm, in->callback_url, in->idempotency_key, maxa };
	int rc = -1;
	*existed = 0;
	memset(out, 0, sizeof(*out));
	PGresult *r = db_exec(c, "job_create",
			      "WITH u AS (INSERT INTO jobs (tenant_id, type, source, params, callback_url,"
			      "     idempotency_key, max_attempts)"
			      "   VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7::int)"
			      "   ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt)"
			      "   SELECT id, 'queued', 'queued', 0 FROM u),"
			      " o AS (INSERT INTO outbox (exchange, routing_key, payload)"
			      "   SELECT 'spool.jobs', 'job', format('{\"v\":1,\"job_id\":\"%s\",\"type\":%s,\"attempt\":%s}',"
			      "     id, to_json(type), attempts + 1) FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      7, params, err);
	if (!r)
		goto done;
	if (PQntuples(r) == 0) {
		/* The tenant used this idempotency key before: answer with that job. */
		PQclear(r);
		const char *p2[] = { in->tenant, in->idempotency_key };
		r = db_exec(c, "job_by_idempotency_key",
			    "SELECT " JOB_COLS " FROM jobs WHERE tenant_id = $1 AND idempotency_key = $2", 2, p2, err);
		if (!r)
			goto done;
		if (PQntuples(r) != 1) {
			buf_adds(err, "database: idempotency key conflict but no job found");
			goto done;
		}
		*existed = 1;
	}
	job_from_row(r, 0, out);
	rc = 0;
done:
	PQclear(r);
	free(src);
	free(prm);
	return rc;
}

enum job_rc job_get(struct db_conn *c, const char *id, const char *tenant, struct job *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_NOT_FOUND;
	const char *params[] = { id, tenant };
	PGresult *r = db_exec(c, "job_get",
			      "SELECT " JOB_COLS " FROM jobs WHERE id = $1::uuid AND ($2::text IS NULL OR tenant_id = $2)",
			      2, params, err);
	if (!r)
		return JOB_ERR;
	int found = PQntuples(r) == 1;
	if (found)
		job_from_row(r, 0, out);
	PQclear(r);
	return found ? JOB_OK : JOB_NOT_FOUND;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void cursor_encode(const char *micros, const char *id, struct buf *out)
{
	char plain[96];
	int n = snprintf(plain, sizeof(plain), "%s:%s", micros, id);
	unsigned acc = 0;
	int bits = 0;
	for (int i = 0; i < n; i++) {
		acc = (acc << 8) | (unsigned char)plain[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			buf_addc(out, b64url[(acc >> bits) & 63]);
		}
	}
	if (bits > 0)
		buf_addc(out, b64url[(acc << (6 - bits)) & 63]);
}

/* Decode and check a cursor into its microseconds and id; -1 if malformed. */
static int cursor_decode(const char *cur, char micros[24], char id[JOB_ID_LEN + 1])
{
	char plain[CURSOR_MAX];
	size_t n = 0, len = strlen(cur);
	unsigned acc = 0;
	int bits = 0;
	if (len == 0 || len > CURSOR_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p = cur[i] ? strchr(b64url, cur[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 6) | (unsigned)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(plain) - 1)
				return -1;
			plain[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	plain[n] = '\0';
	const char *colon = memchr(plain, ':', n);
	size_t dl = colon ? (size_t)(colon - plain) : 0;
	if (!colon || dl == 0 || dl > 18)
		return -1;
	for (size_t i = 0; i < dl; i++)
		if (!isdigit((unsigned char)plain[i]))
			return -1;
	if (!job_id_valid(colon + 1))
		return -1;
	memcpy(micros, plain, dl);
	micros[dl] = '\0';
	memcpy(id, colon + 1, JOB_ID_LEN + 1);
	return 0;
}

void job_cursor_encode(int64_t micros, const char *id, struct buf *out)
{
	char m[24];
	snprintf(m, sizeof(m), "%" PRId64, micros);
	buf_reset(out);
	cursor_encode(m, id, out);
}

int job_cursor_decode(const char *cursor, int64_t *micros, char id[JOB_ID_LEN + 1])
{
	char m[24];
	if (!cursor || cursor_decode(cursor, m, id) < 0)
		return -1;
	*micros = strtoll(m, NULL, 10);
	return 0;
}

/* The decoded cursor and the parameters of a filter's WHERE clause (see filter_where). */
struct filter_sql {
	struct buf sql;
	const char *params[8];
	int np;
	unsigned mask;           /* which filters are set: names the prepared statement */
	char micros[24], cid[JOB_ID_LEN + 1];
};

/*
 * Append the conditions of `f` to q->sql (which ends in "WHERE true"), with their
 * parameters. One prepared statement per combination of filters (q->mask), so
 * that each plan can use the (tenant_id, created_at, id) and (created_at, id)
 * indexes. -1 for a malformed cursor (err says so).
 */
static int filter_where(const struct job_filter *f, struct filter_sql *q, struct buf *err)
{
	if (f->cursor && cursor_decode(f->cursor, q->micros, q->cid) < 0) {
		buf_adds(err, "malformed cursor: pass next_cursor from the previous page unchanged");
		return -1;
	}
	if (f->tenant) {
		q->mask |= 1;
		q->params[q->np++] = f->tenant;
		buf_printf(&q->sql, " AND tenant_id = $%d", q->np);
	}
	if (f->has_status) {
		q->mask |= 2;
		q->params[q->np++] = job_status_name(f->status);
		buf_printf(&q->sql, " AND status = $%d", q->np);
	}
	if (f->type) {
		q->mask |= 4;
		q->params[q->np++] = f->type;
		buf_printf(&q->sql, " AND type = $%d", q->np);
	}
	if (f->since) {
		q->mask |= 8;
		q->params[q->np++] = f->since;
		buf_printf(&q->sql, " AND created_at >= $%d::timestamptz", q->np);
	}
	if (f->cursor) {
		q->mask |= 16;
		q->params[q->np++] = q->micros;
		q->params[q->np++] = q->cid;
		buf_printf(&q->sql,
			   " AND (created_at, id) < (timestamptz 'epoch' + $%d::bigint * interval '1 microsecond',"
			   " $%d::uuid)",
			   q->np - 1, q->np);
	}
	if (f->search && *f->search) {
		q->mask |= 32;
		q->params[q->np++] = f->search;
		buf_printf(&q->sql,
			   " AND (starts_with(id::text, lower($%d))"
			   " OR type = $%d OR error->>'message' ILIKE '%%' || $%d || '%%'"
			   " OR error->>'code' = $%d)",
			   q->np, q->np, q->np, q->np);
	}
	return 0;
}

/* A failed filtered query: a malformed `since` says so. */
static void filter_failed(const struct job_filter *f, struct buf *err)
{
	if (strstr(buf_str(err), "22007") || strstr(buf_str(err), "22008")) {
		buf_reset(err);
		buf_printf(err, "malformed since '%s': use an RFC 3339 time", f->since);
	}
}

int job_list(struct db_conn *c, const struct job_filter *f, struct job **jobs, size_t *n, char **next_cursor,
	     struct buf *err)
{
	char lim[16], name[32];
	struct filter_sql q = { .sql = BUF_INIT };
	*jobs = NULL;
	*n = 0;
	*next_cursor = NULL;
	int limit = f->limit < 1 ? 50 : f->limit > 1000 ? 1000 : f->limit;
	buf_adds(&q.sql, "SELECT " JOB_COLS " FROM jobs WHERE true");
	if (filter_where(f, &q, err) < 0) {
		buf_release(&q.sql);
		return -1;
	}
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	q.params[q.np++] = lim;
	buf_printf(&q.sql, " ORDER BY created_at DESC, id DESC LIMIT $%d::int", q.np);
	snprintf(name, sizeof(name), "job_list_%u", q.mask);

	PGresult *r = db_exec(c, name, buf_str(&q.sql), q.np, q.params, err);
	buf_release(&q.sql);
	if (!r) {
		filter_failed(f, err);
		return -1;
	}
	size_t rows = (size_t)PQntuples(r);
	size_t take = rows > (size_t)limit ? (size_t)limit : rows;
	struct job *v = xcalloc(take ? take : 1, sizeof(*v));
	for (size_t i = 0; i < take; i++)
		job_from_row(r, (int)i, &v[i]);
	if (rows > take && take > 0) {
		struct buf cur = BUF_INIT;
		cursor_encode(PQgetvalue(r, (int)take - 1, JOB_NCOLS - 1), v[take - 1].id, &cur);
		*next_cursor = buf_detach(&cur);
	}
	PQclear(r);
	*jobs = v;
	*n = take;
	return 0;
}

int job_count_matching(struct db_conn *c, const struct job_filter *f, int64_t *n, struct buf *err)
{
	char name[32];
	struct filter_sql q = { .sql = BUF_INIT };
	*n = 0;
	buf_adds(&q.sql, "SELECT count(*) FROM jobs WHERE true");
	if (filter_where(f, &q, err) < 0) {
		buf_release(&q.sql);
		return -1;
	}
	snprintf(name, sizeof(name), "job_count_%u", q.mask);
	PGresult *r = db_exec(c, name, buf_str(&q.sql), q.np, q.params, err);
	buf_release(&q.sql);
	if (!r) {
		filter_failed(f, err);
		return -1;
	}
	*n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int job_count_by_status(struct db_conn *c, const char *tenant, int64_t counts[JOB_STATUS_COUNT], struct buf *err)
{
	const char *params[] = { tenant };
	memset(counts, 0, sizeof(int64_t) * JOB_STATUS_COUNT);
	PGresult *r = db_exec(c, "job_count_by_status",
			      "SELECT status, count(*) FROM jobs WHERE ($1::text IS NULL OR tenant_id = $1)"
			      " GROUP BY status",
			      1, params, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		enum job_status s;
		if (job_status_parse(PQgetvalue(r, i, 0), &s) == 0)
			counts[s] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	}
	PQclear(r);
	return 0;
}

/* ---- transitions ------------------------------------------------------------- */

enum job_rc job_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor, struct job *out,
		       struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_NOT_FOUND;
	const char *params[] = { id, tenant, actor };
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_ERR;
	PGresult *r = db_exec(c, "job_cancel",
			      "WITH u AS (UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),"
			      "   lease_until = NULL"
			      "   WHERE id = $1::uuid AND ($2::text IS NULL OR tenant_id = $2)"
			      "   AND status IN ('queued', 'retrying') RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"
			      "   SELECT id, 'cancelled', 'cancelled', attempts, jsonb_build_object('actor', $3::text)"
			      "   FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      3, params, err);
	if (!r) {
		rollback(c);
		return JOB_ERR;
	}
	int done = PQntuples(r) == 1;
	if (done)
		job_from_row(r, 0, out);
	PQclear(r);
	if (done) {
		if (outbox_add_event(c, out, "cancelled", err) < 0 || db_cmd(c, "COMMIT", err) < 0) {
			rollback(c);
			job_clear(out);
			return JOB_ERR;
		}
		return JOB_OK;
	}
	rollback(c);
	enum job_rc rc = job_get(c, id, tenant, out, err);
	return rc == JOB_OK ? JOB_WRONG_STATE : rc;
}

enum job_own_rc job_claim(struct db_conn *c, const char *id, const char *worker_id, int lease_s, struct job *out,
			  struct buf *err)
{
	char lease[16];
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(lease, sizeof(lease), "%d", lease_s > 0 ? lease_s : 60);
	const char *params[] = { id, worker_id, lease };
	PGresult *r = db_exec(c, "job_claim",
			      "WITH u AS (UPDATE jobs SET status = 'running', attempts = attempts + 1,"
			      "   worker_id = $2, lease_until = now() + $3::int * interval '1 second',"
			      "   started_at = coalesce(started_at, now()), updated_at = now(), progress = NULL"
			      "   WHERE id = $1::uuid AND (status IN ('queued', 'retrying')"
			      "     OR (status = 'running' AND lease_until < now()))"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id)"
			      "   SELECT id, 'started', 'running', attempts, worker_id FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      3, params, err);
	if (!r)
		return JOB_OWN_ERR;
	int claimed = PQntuples(r) == 1;
	if (claimed)
		job_from_row(r, 0, out);
	PQclear(r);
	if (claimed)
		return JOB_OWN_OK;
	return job_get(c, id, NULL, out, err) == JOB_ERR ? JOB_OWN_ERR : JOB_OWN_NOT_OURS;
}

/* Run a conditional update of our own running job. */
static enum job_own_rc own_update(struct db_conn *c, const char *name, const char *sql, const char *const *params,
				  int np, struct buf *err)
{
	PGresult *r = db_exec(c, name, sql, np, params, err);
	if (!r)
		return JOB_OWN_ERR;
	int ok = PQntuples(r) > 0;
	PQclear(r);
	return ok ? JOB_OWN_OK : JOB_OWN_NOT_OURS;
}

enum job_own_rc job_set_progress(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				 int progress, struct buf *err)
{
	char att[16], prog[16];
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(prog, sizeof(prog), "%d", progress < 0 ? 0 : progress > 100 ? 100 : progress);
	const char *params[] = { id, worker_id, att, prog };
	return own_update(c, "job_set_progress",
			  "UPDATE jobs SET progress = $4::int, updated_at = now()"
			  " WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			  " RETURNING id",
			  params, 4, err);
}

/* Take the single job row of `r` (cleared) into out; 1 if there was one. */
static int one_job(PGresult *r, struct job *out)
{
	int got = PQntuples(r) == 1;
	if (got)
		job_from_row(r, 0, out);
	PQclear(r);
	return got;
}

enum job_own_rc job_succeed(struct db_conn *c, const char *id, const char *worker_id, int attempt, json_t *result,
			    struct job *out, struct buf *err)
{
	char att[16];
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	char *res = dump_or_null(result);
	const char *params[] = { id, worker_id, att, res };
	PGresult *r = db_exec(c, "job_succeed",
			      "WITH u AS (UPDATE jobs SET status = 'succeeded', result = $4::jsonb, progress = 100,"
			      "   finished_at = now(), updated_at = now(), lease_until = NULL"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id)"
			      "   SELECT id, 'succeeded', 'succeeded', attempts, worker_id FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      4, params, err);
	free(res);
	if (!r)
		return JOB_OWN_ERR;
	return one_job(r, out) ? JOB_OWN_OK : JOB_OWN_NOT_OURS;
}

enum job_own_rc job_fail(struct db_conn *c, const char *id, const char *worker_id, int attempt, const char *code,
			 const char *message, int permanent, struct job *out, struct buf *err)
{
	char att[16];
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	const char *params[] = { id, worker_id, att, code ? code : "error", message ? message : "",
				 permanent ? "true" : "false" };
	PGresult *r = db_exec(c, "job_fail",
			      "WITH u AS (UPDATE jobs SET"
			      "   status = CASE WHEN $6::bool OR attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,"
			      "   error = jsonb_build_object('code', $4::text, 'message', $5::text, 'permanent', $6::bool),"
			      "   finished_at = CASE WHEN $6::bool OR attempts >= max_attempts THEN now() END,"
			      "   updated_at = now(), lease_until = NULL"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, error)"
			      "   SELECT id, status, status, attempts, worker_id, error FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      6, params, err);
	if (!r)
		return JOB_OWN_ERR;
	return one_job(r, out) ? JOB_OWN_OK : JOB_OWN_NOT_OURS;
}

enum job_rc job_request_cancel(struct db_conn *c, const char *id, const char *tenant, const char *actor,
			       struct job *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_NOT_FOUND;
	const char *params[] = { id, tenant, actor };
	PGresult *r = db_exec(c, "job_request_cancel",
			      "WITH u AS (UPDATE jobs SET cancel_requested = true, updated_at = now()"
			      "   WHERE id = $1::uuid AND ($2::text IS NULL OR tenant_id = $2)"
			      "   AND status = 'running' RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, detail)"
			      "   SELECT id, 'cancel_requested', 'running', attempts, worker_id,"
			      "     jsonb_build_object('actor', $3::text) FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      3, params, err);
	if (!r)
		return JOB_ERR;
	if (one_job(r, out))
		return JOB_OK;
	enum job_rc rc = job_get(c, id, tenant, out, err);
	return rc == JOB_OK ? JOB_WRONG_STATE : rc;
}

enum job_beat_rc job_heartbeat_check(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				     int lease_s, struct buf *err)
{
	char att[16], lease[16];
	if (!job_id_valid(id))
		return JOB_BEAT_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(lease, sizeof(lease), "%d", lease_s > 0 ? lease_s : 60);
	const char *params[] = { id, worker_id, att, lease };
	PGresult *r = db_exec(c, "job_heartbeat_check",
			      "UPDATE jobs SET lease_until = now() + $4::int * interval '1 second', updated_at = now()"
			      " WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      " RETURNING cancel_requested",
			      4, params, err);
	if (!r)
		return JOB_BEAT_ERR;
	enum job_beat_rc rc = JOB_BEAT_NOT_OURS;
	if (PQntuples(r) == 1)
		rc = !strcmp(PQgetvalue(r, 0, 0), "t") ? JOB_BEAT_CANCEL : JOB_BEAT_OK;
	PQclear(r);
	return rc;
}

enum job_own_rc job_cancel_running(struct db_conn *c, const char *id, const char *worker_id, int attempt,
				   struct buf *err)
{
	char att[16];
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	const char *params[] = { id, worker_id, att };
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_OWN_ERR;
	PGresult *r = db_exec(c, "job_cancel_running",
			      "WITH u AS (UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),"
			      "   lease_until = NULL"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   AND cancel_requested RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id)"
			      "   SELECT id, 'cancelled', 'cancelled', attempts, worker_id FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      3, params, err);
	if (!r)
		goto fail;
	struct job j;
	if (!one_job(r, &j)) {
		rollback(c);
		return JOB_OWN_NOT_OURS;
	}
	int rc = outbox_add_event(c, &j, "cancelled", err);
	job_clear(&j);
	if (rc < 0 || db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	return JOB_OWN_OK;
fail:
	rollback(c);
	return JOB_OWN_ERR;
}

/* ---- reaper and requeue ------------------------------------------------------- */

/* Outbox rows after a job left `running` without its worker: its next stop and event. */
static int outbox_add_next(struct db_conn *c, const struct job *j, struct buf *err)
{
	if (j->status == JOB_RETRYING)
		return outbox_add_job(c, j, err) < 0 || outbox_add_event(c, j, "retrying", err) < 0 ? -1 : 0;
	if (outbox_add_message(c, j, j->attempts, "", "spool.dead", err) < 0)
		return -1;
	return outbox_add_event(c, j, "failed", err);
}

/* Append the rows of `r` to *out (*n of them), then queue their outbox rows. */
static int reaped_take(struct db_conn *c, PGresult *r, struct job **out, size_t *n, struct buf *err)
{
	size_t k = (size_t)PQntuples(r);
	if (k == 0)
		return 0;
	*out = xrealloc(*out, (*n + k) * sizeof(**out));
	for (size_t i = 0; i < k; i++) {
		struct job *j = &(*out)[*n];
		memset(j, 0, sizeof(*j));
		job_from_row(r, (int)i, j);
		(*n)++;
		if (outbox_add_next(c, j, err) < 0)
			return -1;
	}
	return 0;
}

int job_retry_delay(int attempt, int64_t base_s, int64_t cap_s, double jitter_s)
{
	double n = attempt > 0 ? attempt : 0;
	double d = n * n * n * n + (double)base_s + (jitter_s > 0 ? jitter_s : 0);

	if (d > (double)cap_s)
		d = (double)cap_s;
	if (d > INT_MAX)
		d = INT_MAX;
	return d < 1 ? 1 : (int)d;
}

enum job_reap_rc job_reap_expired(struct db_conn *c, const char *worker_id, int limit, int64_t stale_retry_s,
				  struct job **out, size_t *n, struct buf *err)
{
	char lim[16], stale[24];
	PGresult *r = NULL;
	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	snprintf(stale, sizeof(stale), "%lld", (long long)(stale_retry_s > 0 ? stale_retry_s : 3600));
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_REAP_ERR;
	r = db_exec(c, "job_reap_lock", "SELECT pg_try_advisory_xact_lock(" JOB_REAP_LOCK_KEY ")", 0, NULL, err);
	if (!r)
		goto fail;
	int locked = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	r = NULL;
	if (!locked) {
		rollback(c);
		return JOB_REAP_LOCKED;
	}
	const char *p1[] = { worker_id, lim };
	r = db_exec(c, "job_reap_expired",
		    "WITH x AS (SELECT id FROM jobs WHERE status = 'running' AND lease_until < now()"
		    "   ORDER BY lease_until LIMIT $2::int FOR UPDATE SKIP LOCKED),"
		    " u AS (UPDATE jobs j SET"
		    "   status = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'retrying' END,"
		    "   error = jsonb_build_object('code', 'lease_expired', 'message',"
		    "     format('worker %L stopped renewing its lease', j.worker_id), 'permanent', false),"
		    "   finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,"
		    "   updated_at = now(), lease_until = NULL"
		    "   FROM x WHERE j.id = x.id RETURNING j.*),"
		    " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, error)"
		    "   SELECT id, 'reaped', status, attempts, $1, error FROM u)"
		    " SELECT " JOB_COLS " FROM u",
		    2, p1, err);
	if (!r || reaped_take(c, r, out, n, err) < 0)
		goto fail;
	PQclear(r);
	/* retrying jobs whose delayed message never came back: queue them again */
	const char *p2[] = { worker_id, lim, stale };
	r = db_exec(c, "job_reap_stale_retry",
		    "WITH x AS (SELECT id FROM jobs WHERE status = 'retrying'"
		    "   AND updated_at < now() - $3::bigint * interval '1 second'"
		    "   ORDER BY updated_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
		    " u AS (UPDATE jobs j SET updated_at = now() FROM x WHERE j.id = x.id RETURNING j.*),"
		    " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id)"
		    "   SELECT id, 'reaped', status, attempts, $1 FROM u)"
		    " SELECT " JOB_COLS " FROM u",
		    3, p2, err);
	if (!r || reaped_take(c, r, out, n, err) < 0 || db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	PQclear(r);
	return JOB_REAP_DONE;
fail:
	PQclear(r);
	rollback(c);
	for (size_t i = 0; i < *n; i++)
		job_clear(&(*out)[i]);
	free(*out);
	*out = NULL;
	*n = 0;
	return JOB_REAP_ERR;
}

enum job_own_rc job_requeue(struct db_conn *c, const char *id, const char *worker_id, int attempt,
			    const char *reason, struct buf *err)
{
	char att[16];
	struct job j;
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	const char *params[] = { id, worker_id, att, reason ? reason : "the worker stopped" };
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_OWN_ERR;
	PGresult *r = db_exec(c, "job_requeue",
			      "WITH u AS (UPDATE jobs SET status = 'retrying', lease_until = NULL, updated_at = now(),"
			      "   progress = NULL"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, detail)"
			      "   SELECT id, 'requeued', 'retrying', attempts, worker_id,"
			      "     jsonb_build_object('reason', $4::text) FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      4, params, err);
	if (!r)
		goto fail;
	if (PQntuples(r) == 0) {
		PQclear(r);
		rollback(c);
		return JOB_OWN_NOT_OURS;
	}
	memset(&j, 0, sizeof(j));
	job_from_row(r, 0, &j);
	PQclear(r);
	int rc = outbox_add_job(c, &j, err);
	job_clear(&j);
	if (rc < 0 || db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	return JOB_OWN_OK;
fail:
	rollback(c);
	return JOB_OWN_ERR;
}

/* ---- messages ---------------------------------------------------------------- */

void job_message_encode(const struct job_message *m, struct buf *out)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:i}", "v", m->version ? m->version : 1, "job_id", m->id, "type",
			      m->type, "attempt", m->attempt);
	char *s = json_dumps(o, JSON_COMPACT);
	buf_reset(out);
	buf_adds(out, s);
	free(s);
	json_decref(o);
}

static int type_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(((struct job_message *)0)->type))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || strchr("._-", s[i])))
			return 0;
	return 1;
}

int job_message_decode(const char *data, size_t len, struct job_message *m, struct buf *err)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	if (len > MESSAGE_MAX) {
		buf_printf(err, "message of %zu bytes is longer than %d", len, MESSAGE_MAX);
		return -1;
	}
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		buf_printf(err, "message is not JSON: %s", je.text);
		return -1;
	}
	int rc = -1;
	json_t *v = json_object_get(o, "v"), *id = json_object_get(o, "job_id"), *type = json_object_get(o, "type"),
	       *att = json_object_get(o, "attempt");
	if (!json_is_object(o))
		buf_adds(err, "message is not a JSON object");
	else if (!json_is_integer(v) || json_integer_value(v) != 1)
		buf_adds(err, "message has no version 'v' or not version 1");
	else if (!json_is_string(id) || !job_id_valid(json_string_value(id)))
		buf_adds(err, "message 'job_id' is not a UUID");
	else if (!json_is_string(type) || !type_name_ok(json_string_value(type)))
		buf_adds(err, "message 'type' is missing or not a job type name");
	else if (!json_is_integer(att) || json_integer_value(att) < 0 || json_integer_value(att) > 1000000)
		buf_adds(err, "message 'attempt' is not a whole number in [0, 1000000]");
	else {
		m->version = 1;
		memcpy(m->id, json_string_value(id), JOB_ID_LEN + 1);
		snprintf(m->type, sizeof(m->type), "%s", json_string_value(type));
		m->attempt = (int)json_integer_value(att);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

void job_event_encode(const struct job *j, const char *event, struct buf *out)
{
	/* A job requeued through the outbox (reaper, shutdown) is tried again at once. */
	job_event_encode_next(j, event, j->status == JOB_RETRYING ? time(NULL) : 0, out);
}

void job_event_encode_next(const struct job *j, const char *event, time_t next_attempt_at, struct buf *out)
{
	char at[TIMEFMT_UTC_MS_SIZE];
	timefmt_now_ms(at);
	struct buf name = BUF_INIT;
	if (strncmp(event, "job.", 4))
		buf_adds(&name, "job.");
	buf_adds(&name, event);
	json_t *o = json_object();
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "event", json_string(buf_str(&name)));
	json_object_set_new(o, "job_id", json_string(j->id));
	json_object_set_new(o, "type", str_or_null(j->type));
	json_object_set_new(o, "status", json_string(job_status_name(j->status)));
	json_object_set_new(o, "attempt", json_integer(j->attempts));
	json_object_set_new(o, "at", json_string(at));
	json_object_set_new(o, "error", ref_or_null(j->error));
	if (next_attempt_at > 0) {
		char next[TIMEFMT_UTC_SIZE];
		timefmt_utc(next_attempt_at, next);
		json_object_set_new(o, "next_attempt_at", json_string(next));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	buf_reset(out);
	buf_adds(out, s);
	free(s);
	json_decref(o);
	buf_release(&name);
}

/* ---- outbox ---------------------------------------------------------------- */

int outbox_fetch(struct db_conn *c, int limit, struct outbox_row **rows, size_t *n, struct buf *err)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	const char *params[] = { lim };
	*rows = NULL;
	*n = 0;
	/*
	 * Rows are claimed for 30 s so that several publishers (one per API instance)
	 * do not all send the same rows; an unconfirmed claim simply expires.
	 */
	PGresult *r = db_exec(c, "outbox_fetch",
			      "WITH c AS (UPDATE outbox SET claimed_until = now() + interval '30 seconds'"
			      "   WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL"
			      "     AND (claimed_until IS NULL OR claimed_until < now())"
			      "     ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED)"
			      "   RETURNING id, exchange, routing_key, payload)"
			      " SELECT id, exchange, routing_key, payload FROM c ORDER BY id",
			      1, params, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	struct outbox_row *v = xcalloc(k ? k : 1, sizeof(*v));
	for (size_t i = 0; i < k; i++) {
		v[i].id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
		v[i].exchange = db_strdup(r, (int)i, 1);
		v[i].routing_key = db_strdup(r, (int)i, 2);
		v[i].payload = db_strdup(r, (int)i, 3);
	}
	PQclear(r);
	*rows = v;
	*n = k;
	return 0;
}

void outbox_rows_free(struct outbox_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].exchange);
		free(rows[i].routing_key);
		free(rows[i].payload);
	}
	free(rows);
}

int outbox_mark_sent(struct db_conn *c, const int64_t *ids, size_t n, struct buf *err)
{
	if (n == 0)
		return 0;
	struct buf arr = BUF_INIT;
	buf_addc(&arr, '{');
	for (size_t i = 0; i < n; i++)
		buf_printf(&arr, "%s%" PRId64, i ? "," : "", ids[i]);
	buf_addc(&arr, '}');
	const char *params[] = { buf_str(&arr) };
	PGresult *r = db_exec(c, "outbox_mark_sent",
			      "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[]) AND sent_at IS NULL", 1,
			      params, err);
	buf_release(&arr);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int outbox_backlog(struct db_conn *c, int64_t *count, struct buf *err)
{
	PGresult *r = db_exec(c, "outbox_backlog", "SELECT count(*) FROM outbox WHERE sent_at IS NULL", 0, NULL, err);
	if (!r)
		return -1;
	*count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}
