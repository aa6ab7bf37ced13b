#include "job.h"
#include "jobcodec.h"
#include "joblimits.h"
#include "mq.h"
#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <strings.h>

static const char *const status_names[JOB_STATUS_COUNT] = {
	[JOB_QUEUED] = "queued",     [JOB_RUNNING] = "running", [JOB_RETRYING] = "retrying",
	[JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed",   [JOB_CANCELLED] = "cancelled",
	[JOB_SCHEDULED] = "scheduled",
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

bool job_status_final(enum job_status s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

bool job_id_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < JOB_ID_LEN; i++) {
		char ch = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			return false;
		}
	}
	return s[JOB_ID_LEN] == '\0';
}

/*
 * Random bytes for job_id_new: a pool per thread, refilled by one getrandom()
 * for JOB_ID_POOL / 16 ids, instead of a system call per id.
 */
#define JOB_ID_POOL 4096
static _Thread_local unsigned char id_pool[JOB_ID_POOL];
static _Thread_local size_t id_pool_used = JOB_ID_POOL;

void job_id_new(char out[JOB_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	if (id_pool_used + 16 > JOB_ID_POOL) {
		size_t got = 0;
		while (got < JOB_ID_POOL) {
			ssize_t k = getrandom(id_pool + got, JOB_ID_POOL - got, 0);
			if (k < 0 && errno != EINTR)
				abort(); /* the kernel's generator cannot fail once initialised: an impossible state */
			got += k > 0 ? (size_t)k : 0;
		}
		id_pool_used = 0;
	}
	unsigned char *u = id_pool + id_pool_used;
	id_pool_used += 16;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[u[i] >> 4];
		*o++ = hex[u[i] & 15];
	}
	*o = '\0';
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

/* ---- rows ---------------------------------------------------------------- */

/* The columns every job query returns, in the order job_from_row reads them. */
#define JOB_COLS                                                                                        \
	"id, tenant_id, type, status, attempts, max_attempts, coalesce(progress, -1), source::text, "    \
	"params::text, result::text, error::text, callback_url, idempotency_key, worker_id, "           \
	"cancel_requested, " DB_UTC("created_at") ", " DB_UTC("started_at") ", "                        \
	DB_UTC("finished_at") ", " DB_UTC("lease_until") ", " DB_UTC("due_at") ", "                     \
	DB_UTC("run_at") ", priority, (extract(epoch FROM created_at) * 1000000)::bigint"
#define JOB_NCOLS 23

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
	db_copy_rfc3339(j->created_at, sizeof(j->created_at), r, row, 15);
	db_copy_rfc3339(j->started_at, sizeof(j->started_at), r, row, 16);
	db_copy_rfc3339(j->finished_at, sizeof(j->finished_at), r, row, 17);
	db_copy_rfc3339(j->lease_until, sizeof(j->lease_until), r, row, 18);
	db_copy_rfc3339(j->due_at, sizeof(j->due_at), r, row, 19);
	db_copy_rfc3339(j->run_at, sizeof(j->run_at), r, row, 20);
	if (jobprio_parse(PQgetvalue(r, row, 21), &j->priority) < 0)
		j->priority = JOBPRIO_NORMAL;
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

/* ---- create, get, list ----------------------------------------------------- */

/* SQL: the default priority of tenant `t` (an SQL expression): its row, else '*', else normal. */
#define JOB_TENANT_PRIORITY(t)                                                                          \
	"coalesce((SELECT priority FROM tenant_priorities WHERE tenant IN (" t ", '*')"                   \
	" ORDER BY tenant = '*' LIMIT 1), 'normal')"

int job_tenant_priority(struct db_conn *c, const char *tenant, enum jobprio *out, struct buf *err)
{
	const char *params[] = { tenant };
	PGresult *r = db_exec(c, "job_tenant_priority", "SELECT " JOB_TENANT_PRIORITY("$1"), 1, params, err);
	if (!r)
		return -1;
	if (PQntuples(r) != 1 || jobprio_parse(PQgetvalue(r, 0, 0), out) < 0)
		*out = JOBPRIO_NORMAL;
	PQclear(r);
	return 0;
}

int job_set_tenant_priority(struct db_conn *c, const char *tenant, enum jobprio p, const char *actor,
			    struct buf *err)
{
	const char *params[] = { tenant, jobprio_name(p), actor };
	PGresult *r = db_exec(c, "job_set_tenant_priority",
			      "INSERT INTO tenant_priorities (tenant, priority, updated_by) VALUES ($1, $2, $3)"
			      " ON CONFLICT (tenant) DO UPDATE SET priority = EXCLUDED.priority,"
			      "   updated_at = now(), updated_by = EXCLUDED.updated_by",
			      3, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * SQL: the end of job_create's statements, after a CTE `u` of the jobs
 * inserted (RETURNING *): their first job_events rows, the outbox rows of the
 * queued ones (the message of jobcodec_message_encode(), byte for byte, for the
 * job type names it accepts), and the jobs.
 */
#define JOB_CREATED_ROWS                                                                                \
	" e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"                         \
	"   SELECT id, status, status, 0, CASE WHEN run_at IS NOT NULL THEN"                              \
	"     jsonb_build_object('run_at', " DB_RFC3339("run_at") ") END FROM u),"                        \
	" o AS (INSERT INTO outbox (exchange, routing_key, payload)"                                      \
	"   SELECT 'spool.jobs', CASE priority WHEN 'normal' THEN 'job' ELSE 'job.' || priority END,"     \
	"     format('{\"v\":1,\"job_id\":\"%s\",\"type\":%s,\"attempt\":%s%s}', id, to_json(type),"    \
	"     attempts + 1, CASE WHEN priority <> 'normal' THEN format(',\"priority\":\"%s\"', priority)"   \
	"     ELSE '' END) FROM u WHERE status = 'queued')"                                                \
	" SELECT " JOB_COLS " FROM u"

/* The job of in->tenant with in->idempotency_key into *out: 0, or -1 with err. */
static int job_by_idempotency_key(struct db_conn *c, const struct job_new *in, struct job *out, struct buf *err)
{
	const char *p[] = { in->tenant, in->idempotency_key };
	PGresult *r = db_exec(c, "job_by_idempotency_key",
			      "SELECT " JOB_COLS " FROM jobs WHERE tenant_id = $1 AND idempotency_key = $2", 2, p, err);
	if (!r)
		return -1;
	int rc = -1;
	if (PQntuples(r) == 1) {
		job_from_row(r, 0, out);
		rc = 0;
	} else {
		buf_adds(err, "database: idempotency key conflict but no job found");
	}
	PQclear(r);
	return rc;
}

/*
 * One statement, so one round trip and one implicit transaction: the job, its
 * first job_events row and its outbox row (the message of
 * jobcodec_message_encode(), byte for byte, for the job type names it accepts).
 */
int job_create(struct db_conn *c, const struct job_new *in, struct job *out, bool *existed, struct buf *err)
{
	char maxa[16], run_at[24], delay[24];
	snprintf(maxa, sizeof(maxa), "%d", in->max_attempts > 0 ? in->max_attempts : 5);
	snprintf(run_at, sizeof(run_at), "%lld", (long long)(in->run_at_ms > 0 ? in->run_at_ms : 0));
	snprintf(delay, sizeof(delay), "%lld", (long long)(in->delay_s > 0 ? in->delay_s : 0));
	char *src = dump_or_null(in->source);
	char *prm = in->params ? json_dumps(in->params, JSON_COMPACT) : xstrdup("{}");
	const char *params[] = { in->tenant, in->type, src, prm, in->callback_url, in->idempotency_key, maxa,
				 run_at, delay, in->priority };
	int rc = -1;
	*existed = false;
	memset(out, 0, sizeof(*out));
	/* s.ra: the run_at asked for (NULL: none); a job whose run_at has come is queued at once */
	PGresult *r = db_exec(c, "job_create",
			      "WITH u AS (INSERT INTO jobs (tenant_id, type, source, params, callback_url,"
			      "     idempotency_key, max_attempts, status, run_at, due_at, priority)"
			      "   SELECT $1, $2, $3::jsonb, $4::jsonb, $5, $6, $7::int,"
			      "     CASE WHEN s.ra > now() THEN 'scheduled' ELSE 'queued' END, s.ra, greatest(s.ra, now()),"
			      "     coalesce($10::text, " JOB_TENANT_PRIORITY("$1") ")"
			      "   FROM (SELECT CASE WHEN $8::bigint > 0 THEN to_timestamp($8::bigint / 1000.0)"
			      "     WHEN $9::bigint > 0 THEN now() + $9::bigint * interval '1 second' END AS ra) s"
			      "   ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING *),"
			      JOB_CREATED_ROWS,
			      10, params, err);
	if (!r)
		goto done;
	if (PQntuples(r) == 0) {
		/* The tenant used this idempotency key before: answer with that job. */
		PQclear(r);
		r = NULL;
		if (job_by_idempotency_key(c, in, out, err) < 0)
			goto done;
		*existed = true;
	} else {
		job_from_row(r, 0, out);
	}
	rc = 0;
done:
	PQclear(r);
	free(src);
	free(prm);
	return rc;
}

/* Append `s` to the array literal `a` (empty: not begun) as one element: quoted, or NULL; array_end closes it. */
static void array_add(struct buf *a, const char *s)
{
	buf_addc(a, a->len ? ',' : '{');
	if (!s) {
		buf_adds(a, "NULL");
		return;
	}
	buf_addc(a, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_addc(a, '\\');
		buf_addc(a, *s);
	}
	buf_addc(a, '"');
}

static void array_end(struct buf *a)
{
	buf_adds(a, a->len ? "}" : "{}");
}

/* The SQLSTATE at the end of a db_exec error ("... (SQLSTATE 23505)"), "" if none. */
static const char *sqlstate_of(const struct buf *err)
{
	const char *s = buf_str(err), *p = strstr(s, "(SQLSTATE "), *q;
	while (p && (q = strstr(p + 1, "(SQLSTATE ")))
		p = q;
	return p && strlen(p) == 16 ? p + 10 : "";
}

/* The columns of job_create_batch's rows, one array parameter each. */
enum { B_ID, B_TENANT, B_TYPE, B_SOURCE, B_PARAMS, B_CALLBACK, B_IDEM, B_MAXA, B_RUN_AT, B_DELAY, B_PRIO, B_NCOLS };

/*
 * One statement for the n jobs, as job_create's for one: rows from unnest() of
 * one array per column, inserted in their order (the first of two with one
 * idempotency key wins), their job_events and outbox rows in the same CTE. The
 * ids come from job_id_new(), so that RETURNING maps back to the inputs.
 */
int job_create_batch(struct db_conn *c, const struct job_new *in, size_t n, struct job *out, bool *existed,
		     struct buf *err)
{
	struct buf a[B_NCOLS];
	char num[24], (*ids)[JOB_ID_LEN + 1] = xcalloc(n ? n : 1, sizeof(*ids));
	for (int k = 0; k < B_NCOLS; k++)
		buf_init(&a[k]);
	for (size_t i = 0; i < n; i++) {
		const struct job_new *j = &in[i];
		job_id_new(ids[i]);
		array_add(&a[B_ID], ids[i]);
		array_add(&a[B_TENANT], j->tenant);
		array_add(&a[B_TYPE], j->type);
		char *src = dump_or_null(j->source);
		char *prm = j->params ? json_dumps(j->params, JSON_COMPACT) : NULL;
		array_add(&a[B_SOURCE], src);
		array_add(&a[B_PARAMS], prm ? prm : "{}");
		free(src);
		free(prm);
		array_add(&a[B_CALLBACK], j->callback_url);
		array_add(&a[B_IDEM], j->idempotency_key);
		snprintf(num, sizeof(num), "%d", j->max_attempts > 0 ? j->max_attempts : 5);
		array_add(&a[B_MAXA], num);
		snprintf(num, sizeof(num), "%lld", (long long)(j->run_at_ms > 0 ? j->run_at_ms : 0));
		array_add(&a[B_RUN_AT], num);
		snprintf(num, sizeof(num), "%lld", (long long)(j->delay_s > 0 ? j->delay_s : 0));
		array_add(&a[B_DELAY], num);
		array_add(&a[B_PRIO], j->priority);
		memset(&out[i], 0, sizeof(out[i]));
		existed[i] = false;
	}
	const char *params[B_NCOLS];
	for (int k = 0; k < B_NCOLS; k++) {
		array_end(&a[k]);
		params[k] = buf_str(&a[k]);
	}
	int rc = JOB_BATCH_ERR;
	PGresult *r = db_exec(c, "job_create_batch",
			      "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[],"
			      "     $5::jsonb[], $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bigint[], $11::text[])"
			      "   WITH ORDINALITY AS x(xid, xtenant, xtype, xsource, xparams, xcb, xidem, xmaxa, xrun,"
			      "     xdelay, xprio, xord)),"
			      " u AS (INSERT INTO jobs (id, tenant_id, type, source, params, callback_url,"
			      "     idempotency_key, max_attempts, status, run_at, due_at, priority)"
			      "   SELECT xid, xtenant, xtype, xsource, xparams, xcb, xidem, xmaxa,"
			      "     CASE WHEN s.ra > now() THEN 'scheduled' ELSE 'queued' END, s.ra, greatest(s.ra, now()),"
			      "     coalesce(xprio, " JOB_TENANT_PRIORITY("xtenant") ")"
			      "   FROM x CROSS JOIN LATERAL (SELECT CASE WHEN xrun > 0 THEN to_timestamp(xrun / 1000.0)"
			      "     WHEN xdelay > 0 THEN now() + xdelay * interval '1 second' END AS ra) s"
			      "   ORDER BY xord"
			      "   ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING *),"
			      JOB_CREATED_ROWS,
			      B_NCOLS, params, err);
	if (!r) {
		const char *state = sqlstate_of(err);
		/* class 22 (data exception), 23 (integrity constraint): a row's values, not the database */
		if (!c->broken && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)))
			rc = JOB_BATCH_ROW;
		goto done;
	}
	size_t got = 0;
	for (int row = 0; row < PQntuples(r); row++)
		for (size_t i = 0; i < n; i++)
			if (!out[i].id[0] && !strcmp(PQgetvalue(r, row, 0), ids[i])) {
				job_from_row(r, row, &out[i]);
				got++;
				break;
			}
	/* The rows not inserted: their tenant used the idempotency key before (or earlier in this batch). */
	for (size_t i = 0; got < n && i < n; i++) {
		if (out[i].id[0])
			continue;
		if (!in[i].idempotency_key || job_by_idempotency_key(c, &in[i], &out[i], err) < 0) {
			if (!in[i].idempotency_key)
				buf_adds(err, "database: a job of the batch was neither inserted nor found");
			for (size_t k = 0; k < n; k++)
				job_clear(&out[k]);
			goto done;
		}
		existed[i] = true;
	}
	rc = 0;
done:
	PQclear(r);
	for (int k = 0; k < B_NCOLS; k++)
		buf_release(&a[k]);
	free(ids);
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
	bool found = PQntuples(r) == 1;
	if (found)
		job_from_row(r, 0, out);
	PQclear(r);
	return found ? JOB_OK : JOB_NOT_FOUND;
}

/* The decoded cursor and the parameters of a filter's WHERE clause (see filter_where). */
struct filter_sql {
	struct buf sql;
	const char **params;     /* the filter's own 8 and f->where_np */
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
	int64_t micros = 0;
	if (f->cursor && jobcodec_cursor_decode(f->cursor, &micros, q->cid) < 0) {
		buf_adds(err, "malformed cursor: pass next_cursor from the previous page unchanged");
		return -1;
	}
	q->params = xcalloc((size_t)(f->where ? f->where_np : 0) + 8, sizeof(*q->params));
	if (f->where) {
		/* first, so that its parameters are $1 .. $where_np */
		for (int i = 0; i < f->where_np; i++)
			q->params[q->np++] = f->where_params[i];
		buf_printf(&q->sql, " AND (%s)", f->where);
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
		snprintf(q->micros, sizeof(q->micros), "%" PRId64, micros);
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

static void filter_release(struct filter_sql *q)
{
	buf_release(&q->sql);
	free(q->params);
	q->params = NULL;
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
		filter_release(&q);
		return -1;
	}
	snprintf(lim, sizeof(lim), "%d", limit + 1);
	q.params[q.np++] = lim;
	buf_printf(&q.sql, " ORDER BY created_at DESC, id DESC LIMIT $%d::int", q.np);
	snprintf(name, sizeof(name), "job_list_%u", q.mask);

	PGresult *r = db_exec(c, f->where ? NULL : name, buf_str(&q.sql), q.np, q.params, err);
	filter_release(&q);
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
		jobcodec_cursor_encode(strtoll(PQgetvalue(r, (int)take - 1, JOB_NCOLS - 1), NULL, 10), v[take - 1].id,
				       &cur);
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
		filter_release(&q);
		return -1;
	}
	snprintf(name, sizeof(name), "job_count_%u", q.mask);
	PGresult *r = db_exec(c, f->where ? NULL : name, buf_str(&q.sql), q.np, q.params, err);
	filter_release(&q);
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
			      "   lease_until = NULL, deferred_at = NULL"
			      "   WHERE id = $1::uuid AND ($2::text IS NULL OR tenant_id = $2)"
			      "   AND status IN ('scheduled', 'queued', 'retrying') RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"
			      "   SELECT id, 'cancelled', 'cancelled', attempts, jsonb_build_object('actor', $3::text)"
			      "   FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      3, params, err);
	if (!r) {
		rollback(c);
		return JOB_ERR;
	}
	bool done = PQntuples(r) == 1;
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

static bool one_job(PGresult *r, struct job *out);

/*
 * Jobs woken (or re-driven) in the last 30 s whose message is on its way: they
 * will take a slot of their tenant and type, so the wake-ups count them as
 * running. Bounded by the jobs_unclaimed index.
 */
#define WOKEN_PENDING(cond)                                                                              \
	"(SELECT count(*) FROM jobs p WHERE p.status IN ('queued', 'retrying') AND p.deferred_at IS NULL" \
	" AND greatest(p.due_at, p.redriven_at) > now() - interval '30 seconds'"                          \
	" AND p.redriven_at > now() - interval '30 seconds' AND " cond ")"

/*
 * The effective limit of tenant $1 and type $2 (joblimits.h); with $4 their
 * running jobs but job $3, and with $5 the woken ones on their way too.
 */
#define LIMIT_EFF_SQL                                                                                   \
	"SELECT t.max_running IS NOT NULL, coalesce(t.max_running, 0), coalesce(t.paused, false),"      \
	"  CASE WHEN $4::bool AND t.max_running IS NOT NULL THEN (SELECT count(*) FROM jobs r"          \
	"    WHERE r.status = 'running' AND r.tenant_id = $1 AND r.id <> $3::uuid)"                    \
	"    + CASE WHEN $5::bool THEN " WOKEN_PENDING("p.tenant_id = $1") " ELSE 0 END ELSE 0 END,"      \
	"  y.max_running IS NOT NULL, coalesce(y.max_running, 0), coalesce(y.paused, false),"           \
	"  CASE WHEN $4::bool AND y.max_running IS NOT NULL THEN (SELECT count(*) FROM jobs r"          \
	"    WHERE r.status = 'running' AND r.type = $2 AND r.id <> $3::uuid)"                          \
	"    + CASE WHEN $5::bool THEN " WOKEN_PENDING("p.type = $2") " ELSE 0 END ELSE 0 END"           \
	" FROM (SELECT 1) z"                                                                            \
	" LEFT JOIN LATERAL (SELECT max_running, paused FROM limits l WHERE l.scope = 'tenant'"          \
	"   AND l.name IN ($1, '*') ORDER BY l.name = '*' LIMIT 1) t ON true"                           \
	" LEFT JOIN LATERAL (SELECT max_running, paused FROM limits l WHERE l.scope = 'type'"            \
	"   AND l.name IN ($2, '*') ORDER BY l.name = '*' LIMIT 1) y ON true"

/* Take the tenant's and the type's limit locks ($1, $2), in that order. */
#define LIMIT_LOCK_SQL                                                                                  \
	"SELECT pg_advisory_xact_lock(" JOB_LIMIT_LOCK_TENANT ", hashtext($1)),"                         \
	" pg_advisory_xact_lock(" JOB_LIMIT_LOCK_TYPE ", hashtext($2))"

/* Read the limits of `tenant` and `type` (with the counts `count` says) into the two. */
/* What limit_read counts as running. */
enum limit_count {
	COUNT_NONE,    /* nothing: only the limits */
	COUNT_RUNNING, /* the running jobs (the claim) */
	COUNT_PENDING, /* and the woken ones on their way (the re-check after a deferral) */
};

static int limit_read(struct db_conn *c, const char *tenant, const char *type, const char *id,
		      enum limit_count count, struct joblimits_eff *t, struct joblimits_eff *y, struct buf *err)
{
	const char *params[] = { tenant, type, id, count != COUNT_NONE ? "true" : "false",
				 count == COUNT_PENDING ? "true" : "false" };
	PGresult *r = db_exec(c, "job_limits_eff", LIMIT_EFF_SQL, 5, params, err);
	if (!r)
		return -1;
	struct joblimits_eff *e[2] = { t, y };
	for (int i = 0; i < 2; i++) {
		e[i]->limited = !strcmp(PQgetvalue(r, 0, 4 * i), "t");
		e[i]->max_running = strtoll(PQgetvalue(r, 0, 4 * i + 1), NULL, 10);
		e[i]->paused = !strcmp(PQgetvalue(r, 0, 4 * i + 2), "t");
		e[i]->running = strtoll(PQgetvalue(r, 0, 4 * i + 3), NULL, 10);
	}
	PQclear(r);
	return 0;
}

/* Run `sql` (params: tenant, type) in the caller's transaction; its answer is discarded. */
static int limit_lock(struct db_conn *c, const char *tenant, const char *type, struct buf *err)
{
	const char *params[] = { tenant, type };
	PGresult *r = db_exec(c, "job_limits_lock", LIMIT_LOCK_SQL, 2, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * In the claim's transaction: may job `id` of `tenant` and `type` start?
 * JOBLIMITS_START, another verdict, or -1. A job that cannot start is deferred
 * without the locks (claimers of a full tenant do not queue up on them; see
 * job_claim for why none is stranded); one that may start takes them and counts
 * again, so that concurrent claimers cannot together exceed a limit.
 */
static int claim_verdict(struct db_conn *c, const char *id, const char *tenant, const char *type, struct buf *err)
{
	struct joblimits_eff t, y;
	if (limit_read(c, tenant, type, id, COUNT_RUNNING, &t, &y, err) < 0)
		return -1;
	if (!t.limited && !y.limited && !t.paused && !y.paused)
		return JOBLIMITS_START;
	enum joblimits_verdict v = joblimits_decide(&t, &y);
	if (v != JOBLIMITS_START)
		return (int)v;
	if (limit_lock(c, tenant, type, err) < 0 || limit_read(c, tenant, type, id, COUNT_RUNNING, &t, &y, err) < 0)
		return -1;
	return (int)joblimits_decide(&t, &y);
}

/*
 * After a deferral was committed: should its tenant and type have a free slot
 * by now (a job ended, or a pause was lifted, after the claim counted but before
 * the wake-up could see the deferral), wake the deferred jobs at once. 0 or -1.
 */
static int claim_recheck(struct db_conn *c, const struct job *j, struct buf *err)
{
	struct joblimits_eff t, y;
	if (limit_read(c, j->tenant, j->type, j->id, COUNT_PENDING, &t, &y, err) < 0)
		return -1;
	if (joblimits_decide(&t, &y) != JOBLIMITS_START)
		return 0;
	/* one: should that still be early (a job woken for the slot not yet claimed), its claim defers it again */
	return job_wake_deferred(c, j->tenant, j->type, 1, JOB_WAKE_ALWAYS, "claim", err) < 0 ? -1 : 0;
}

/* Mark job `id` deferred for `verdict` in the caller's transaction; out = the job. */
static int claim_defer(struct db_conn *c, const char *id, enum joblimits_verdict verdict, struct job *out,
		       struct buf *err)
{
	const char *params[] = { id, joblimits_verdict_reason(verdict) };
	PGresult *r = db_exec(c, "job_defer",
			      "WITH u AS (UPDATE jobs SET deferred_at = now(), updated_at = now()"
			      "   WHERE id = $1::uuid AND status IN ('queued', 'retrying') RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"
			      "   SELECT id, 'deferred', status, attempts, jsonb_build_object('reason', $2::text) FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      2, params, err);
	if (!r)
		return -1;
	bool got = PQntuples(r) == 1;
	if (got)
		job_from_row(r, 0, out);
	PQclear(r);
	return got ? 1 : 0;
}

/*
 * The claim of job $1 for worker $2 with a lease of $3 s: queued|retrying (or
 * running, lease expired) -> running, where `cond` (a condition on the row j)
 * holds too, with its job_events row 'started'. Started at the claim itself, not
 * at the transaction's start (which may have waited for the limit locks).
 *
 * Its commit does not wait for the WAL's flush (set_config, local to the
 * statement's own transaction, is read at its commit): a disk sync per job was
 * the largest wait of a worker thread. Safe to lose in a crash of the database
 * host, as LIMIT_TX_BEGIN says of the limited claim: the job is queued again
 * without a message (its delivery was acknowledged), and the re-drive publishes
 * it after redrive_after; the worker's later writes, conditional on the claim,
 * find it not theirs. The job's end is committed synchronously, which flushes
 * the claim before it (the WAL is flushed in order): a finished job's claim is
 * never lost.
 */
#define CLAIM_SQL(cond)                                                                                 \
	"WITH u AS (UPDATE jobs j SET status = 'running', attempts = attempts + 1,"                      \
	"   worker_id = $2, lease_until = now() + $3::int * interval '1 second',"                        \
	"   started_at = coalesce(started_at, now()), updated_at = now(), progress = NULL,"               \
	"   deferred_at = NULL"                                                                           \
	"   WHERE id = $1::uuid AND (status IN ('queued', 'retrying')"                                    \
	"     OR (status = 'running' AND lease_until < now())) AND " cond                                  \
	"   RETURNING *),"                                                                                \
	" e AS (INSERT INTO job_events (job_id, at, event, status, attempt, worker_id)"                   \
	"   SELECT id, clock_timestamp(), 'started', 'running', attempts, worker_id FROM u)"              \
	" SELECT " JOB_COLS ", set_config('synchronous_commit', 'off', true) FROM u"

/* Whether a limits row that limits or pauses may apply to the job row j (a name's own row or its scope's '*'). */
#define LIMITS_APPLY                                                                                    \
	"EXISTS (SELECT 1 FROM limits l"                                                                \
	"   WHERE ((l.scope = 'tenant' AND l.name IN (j.tenant_id, '*'))"                                 \
	"     OR (l.scope = 'type' AND l.name IN (j.type, '*')))"                                          \
	"   AND (l.max_running IS NOT NULL OR l.paused))"

/* Run a CLAIM_SQL: JOB_OWN_OK claimed (out filled), JOB_OWN_NOT_OURS not, or JOB_OWN_ERR. */
static enum job_own_rc claim_run(struct db_conn *c, const char *name, const char *sql,
				 const char *const params[3], struct job *out, struct buf *err)
{
	PGresult *r = db_exec(c, name, sql, 3, params, err);
	if (!r)
		return JOB_OWN_ERR;
	return one_job(r, out) ? JOB_OWN_OK : JOB_OWN_NOT_OURS;
}

/* The claim itself: queued|retrying (or running, lease expired) -> running. JOB_OWN_OK or JOB_OWN_NOT_OURS. */
static enum job_own_rc claim_update(struct db_conn *c, const char *const params[3], struct job *out,
				    struct buf *err)
{
	return claim_run(c, "job_claim", CLAIM_SQL("true"), params, out, err);
}

/*
 * The claim's transaction when a limit or a pause may apply to the job `tenant`
 * and `type`: JOB_OWN_OK claimed, JOB_OWN_DEFERRED deferred, JOB_OWN_NOT_OURS
 * nothing changed (out not filled), JOB_OWN_ERR.
 */
static enum job_own_rc claim_tx(struct db_conn *c, const char *const params[3], const char *tenant,
				const char *type, struct job *out, struct buf *err)
{
	int verdict = claim_verdict(c, params[0], tenant, type, err);
	if (verdict < 0)
		return JOB_OWN_ERR;
	if (verdict != JOBLIMITS_START) {
		int d = claim_defer(c, params[0], (enum joblimits_verdict)verdict, out, err);
		return d < 0 ? JOB_OWN_ERR : d ? JOB_OWN_DEFERRED : JOB_OWN_NOT_OURS;
	}
	return claim_update(c, params, out, err);
}

/*
 * The transaction of a limited claim or of a wake-up, whose advisory locks are
 * held until its commit: the commit does not wait for the WAL's flush, which
 * would keep every other claimer of the tenant or type waiting for a disk sync.
 * Safe to lose in a crash of the database host: a claim lost leaves the job
 * queued without a message (the worker acknowledged it), which the re-drive
 * publishes again after redrive_after, and the worker's later updates of the
 * job (heartbeat, end), conditional on its claim, find it not theirs; a lost
 * deferral leaves the job queued without a message likewise; a lost wake-up
 * leaves its jobs deferred for the sweep, or queued and re-driven. A later
 * synchronous commit of the same connection flushes it.
 */
#define LIMIT_TX_BEGIN "BEGIN; SET LOCAL synchronous_commit = off"

/* In the limited claim's transaction; the rest as job_claim. */
static enum job_own_rc claim_limited(struct db_conn *c, const char *const params[3], const char *tenant,
				     const char *type, struct job *out, struct buf *err)
{
	if (db_cmd(c, LIMIT_TX_BEGIN, err) < 0) {
		rollback(c);
		return JOB_OWN_ERR;
	}
	enum job_own_rc rc = claim_tx(c, params, tenant, type, out, err);
	if (rc == JOB_OWN_ERR || db_cmd(c, "COMMIT", err) < 0) {
		rollback(c);
		job_clear(out);
		return JOB_OWN_ERR;
	}
	if (rc == JOB_OWN_DEFERRED && claim_recheck(c, out, err) < 0)
		buf_reset(err); /* deferred all the same: the workers' sweep wakes it */
	return rc;
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
	/*
	 * The common case, one round trip: no limit or pause may apply to the job,
	 * and it is claimable. Otherwise (nothing claimed) the long way below.
	 */
	enum job_own_rc rc = claim_run(c, "job_claim_unlimited", CLAIM_SQL("NOT " LIMITS_APPLY), params, out, err);
	if (rc != JOB_OWN_NOT_OURS)
		return rc;
	/*
	 * Whether a limits row that limits or pauses may apply to the job (a name's
	 * own row or its scope's '*'): without one, the claim is the single
	 * statement it always was.
	 */
	PGresult *r = db_exec(c, "job_claimable",
			      "SELECT j.tenant_id, j.type, " LIMITS_APPLY
			      " FROM jobs j WHERE j.id = $1::uuid AND (j.status IN ('queued', 'retrying')"
			      "   OR (j.status = 'running' AND j.lease_until < now()))",
			      1, params, err);
	if (!r)
		return JOB_OWN_ERR;
	if (PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 2), "t"))
		rc = claim_limited(c, params, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), out, err);
	else if (PQntuples(r) == 1)
		rc = claim_update(c, params, out, err);
	PQclear(r);
	if (rc != JOB_OWN_NOT_OURS)
		return rc;
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

/* Take the single job row of `r` (cleared) into out; true if there was one. */
static bool one_job(PGresult *r, struct job *out)
{
	bool got = PQntuples(r) == 1;
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

int job_succeed_batch(struct db_conn *c, const char *worker_id, const struct job_success *in, size_t n,
		      struct job *out, bool *done, struct buf *err)
{
	struct buf ids = BUF_INIT, atts = BUF_INIT, results = BUF_INIT;

	memset(out, 0, n * sizeof(*out));
	memset(done, 0, n * sizeof(*done));
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char att[16];
		snprintf(att, sizeof(att), "%d", in[i].attempt);
		array_add(&ids, in[i].id);
		array_add(&atts, att);
		char *res = dump_or_null(in[i].result);
		array_add(&results, res);
		free(res);
	}
	array_end(&ids);
	array_end(&atts);
	array_end(&results);
	const char *params[] = { buf_str(&ids), buf_str(&atts), buf_str(&results), worker_id };
	PGresult *r = db_exec(c, "job_succeed_batch",
			      "WITH b AS (SELECT * FROM unnest($1::text[], $2::int[], $3::jsonb[]) AS b(id, attempt, result)),"
			      " u AS (UPDATE jobs j SET status = 'succeeded', result = b.result, progress = 100,"
			      "   finished_at = now(), updated_at = now(), lease_until = NULL"
			      "   FROM b WHERE j.id = b.id::uuid AND j.status = 'running' AND j.worker_id = $4"
			      "   AND j.attempts = b.attempt RETURNING j.*),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id)"
			      "   SELECT id, 'succeeded', 'succeeded', attempts, worker_id FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      4, params, err);
	buf_release(&ids);
	buf_release(&atts);
	buf_release(&results);
	if (!r)
		return -1;
	int marked = 0;
	for (int row = 0; row < PQntuples(r); row++) {
		const char *id = PQgetvalue(r, row, 0);
		for (size_t i = 0; i < n; i++) {
			if (done[i] || strcasecmp(in[i].id, id) != 0)
				continue;
			job_from_row(r, row, &out[i]);
			done[i] = true;
			marked++;
			break;
		}
	}
	PQclear(r);
	return marked;
}

enum job_own_rc job_fail(struct db_conn *c, const char *id, const char *worker_id, int attempt, const char *code,
			 const char *message, bool permanent, int retry_delay_s, struct job *out, struct buf *err)
{
	char att[16], delay[16];
	memset(out, 0, sizeof(*out));
	if (!job_id_valid(id))
		return JOB_OWN_NOT_OURS;
	snprintf(att, sizeof(att), "%d", attempt);
	snprintf(delay, sizeof(delay), "%d", retry_delay_s > 0 ? retry_delay_s : 0);
	const char *params[] = { id, worker_id, att, code ? code : "error", message ? message : "",
				 permanent ? "true" : "false", delay };
	PGresult *r = db_exec(c, "job_fail",
			      "WITH u AS (UPDATE jobs SET"
			      "   status = CASE WHEN $6::bool OR attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,"
			      "   error = jsonb_build_object('code', $4::text, 'message', $5::text, 'permanent', $6::bool),"
			      "   finished_at = CASE WHEN $6::bool OR attempts >= max_attempts THEN now() END,"
			      "   due_at = CASE WHEN $6::bool OR attempts >= max_attempts THEN due_at"
			      "     ELSE now() + $7::int * interval '1 second' END,"
			      "   updated_at = now(), lease_until = NULL"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, error)"
			      "   SELECT id, status, status, attempts, worker_id, error FROM u)"
			      " SELECT " JOB_COLS " FROM u",
			      7, params, err);
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

/* ---- reaper, re-drive and requeue ----------------------------------------------- */

/*
 * Take a transaction's advisory lock with `sql`, which answers one boolean:
 * 1 taken, 0 another session holds it, -1 database error.
 */
static int xact_lock(struct db_conn *c, const char *name, const char *sql, struct buf *err)
{
	PGresult *r = db_exec(c, name, sql, 0, NULL, err);
	if (!r)
		return -1;
	int taken = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return taken;
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

enum job_reap_rc job_reap_expired(struct db_conn *c, const char *worker_id, int limit, struct job **out, size_t *n,
				  struct buf *err)
{
	char lim[16];
	PGresult *r = NULL;
	*out = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_REAP_ERR;
	int locked = xact_lock(c, "job_reap_lock", "SELECT pg_try_advisory_xact_lock(" JOB_REAP_LOCK_KEY ")", err);
	if (locked <= 0) {
		rollback(c);
		return locked < 0 ? JOB_REAP_ERR : JOB_REAP_LOCKED;
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
		    "   due_at = now(), updated_at = now(), lease_until = NULL"
		    "   FROM x WHERE j.id = x.id RETURNING j.*),"
		    " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, error)"
		    "   SELECT id, 'reaped', status, attempts, $1, error FROM u)"
		    " SELECT " JOB_COLS " FROM u",
		    2, p1, err);
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

/* Jobs waiting for a worker, their message due more than $1 seconds ago and not re-driven since. */
#define REDRIVE_COND                                                                                   \
	"status IN ('queued', 'retrying') AND deferred_at IS NULL"                                     \
	" AND greatest(due_at, redriven_at) < now() - $1::bigint * interval '1 second'"

/* Take the rows of `r` (cleared) into a new array *out of *n jobs. */
static void jobs_take(PGresult *r, struct job **out, size_t *n)
{
	size_t k = (size_t)PQntuples(r);
	*out = xcalloc(k ? k : 1, sizeof(**out));
	for (size_t i = 0; i < k; i++)
		job_from_row(r, (int)i, &(*out)[i]);
	*n = k;
	PQclear(r);
}

/* One pass of the re-drive in its transaction (lock taken): *out the jobs re-driven. */
static int redrive_tx(struct db_conn *c, const char *const params[3], struct job **out, size_t *n,
		      struct buf *err)
{
	PGresult *r = db_exec(c, "job_redrive",
			      "WITH x AS (SELECT id FROM jobs WHERE " REDRIVE_COND
			      "   ORDER BY greatest(due_at, redriven_at) LIMIT $2::int FOR UPDATE SKIP LOCKED),"
			      " u AS (UPDATE jobs j SET redriven_at = now() FROM x WHERE j.id = x.id RETURNING j.*),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"
			      "   SELECT id, 'redriven', status, attempts, jsonb_build_object('actor', $3::text,"
			      "     'waited_s', floor(extract(epoch FROM now() - due_at))::bigint) FROM u)"
			      " SELECT " JOB_COLS " FROM u ORDER BY due_at, id",
			      3, params, err);
	if (!r)
		return -1;
	jobs_take(r, out, n);
	return outbox_add_jobs(c, *out, *n, err);
}

enum job_reap_rc job_redrive(struct db_conn *c, const char *actor, int64_t older_than_s, int limit, unsigned flags,
			     struct job **out, size_t *n, struct buf *err)
{
	char older[24], lim[16];
	*out = NULL;
	*n = 0;
	snprintf(older, sizeof(older), "%lld", (long long)(older_than_s > 0 ? older_than_s : 0));
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	const char *params[] = { older, lim, actor };
	if (flags & JOB_REDRIVE_DRY_RUN) {
		PGresult *r = db_exec(c, "job_redrive_preview",
				      "SELECT " JOB_COLS " FROM jobs WHERE " REDRIVE_COND
				      " ORDER BY greatest(due_at, redriven_at), id LIMIT $2::int",
				      2, params, err);
		if (!r)
			return JOB_REAP_ERR;
		jobs_take(r, out, n);
		return JOB_REAP_DONE;
	}
	if (db_cmd(c, "BEGIN", err) < 0)
		return JOB_REAP_ERR;
	int locked = (flags & JOB_REDRIVE_WAIT)
			     ? xact_lock(c, "job_redrive_wait",
					 "SELECT true FROM pg_advisory_xact_lock(" JOB_REDRIVE_LOCK_KEY ")", err)
			     : xact_lock(c, "job_redrive_lock",
					 "SELECT pg_try_advisory_xact_lock(" JOB_REDRIVE_LOCK_KEY ")", err);
	if (locked <= 0) {
		rollback(c);
		return locked < 0 ? JOB_REAP_ERR : JOB_REAP_LOCKED;
	}
	if (redrive_tx(c, params, out, n, err) < 0 || db_cmd(c, "COMMIT", err) < 0) {
		rollback(c);
		for (size_t i = 0; i < *n; i++)
			job_clear(&(*out)[i]);
		free(*out);
		*out = NULL;
		*n = 0;
		return JOB_REAP_ERR;
	}
	return JOB_REAP_DONE;
}

/*
 * The deferred jobs that may start, oldest first, at most as many per tenant and
 * per type as it has free slots ($2/$3: only those of tenant $2 or type $3, both
 * NULL for all): each loses deferred_at, gets redriven_at and a 'woken' event.
 * Candidates are bounded (the sweep takes the rest at its next pass).
 */
/*
 * CTEs <name>l and <name>f: the effective limit of each tenant (or type, per
 * `scope` and column `col`) of the rows of CTE `src`, and its free slots: its
 * max_running less its running jobs and the count `pending` (of x.name),
 * computed once per name rather than once per row: MATERIALIZED, since a CTE
 * read once is otherwise inlined and its counts run again for every row joined
 * (with a thousand deferred jobs, a wake-up took a second under the locks).
 */
#define LIMIT_FREE_CTE(name, scope, col, src, pending)                                                   \
	" " name "l AS (SELECT n." col " AS name, l.max_running, l.paused FROM (SELECT DISTINCT " col      \
	"   FROM " src ") n CROSS JOIN LATERAL (SELECT max_running, paused FROM limits l"                   \
	"   WHERE l.scope = '" scope "' AND l.name IN (n." col ", '*') ORDER BY l.name = '*' LIMIT 1) l),"  \
	" " name "f AS MATERIALIZED (SELECT x.name, x.paused, CASE WHEN x.max_running IS NULL THEN NULL"   \
	"   ELSE x.max_running"                                                                              \
	"   - (SELECT count(*) FROM jobs r WHERE r.status = 'running' AND r." col " = x.name)"             \
	"   - " pending " END AS free FROM " name "l x),"
#define WAKE_FREE_CTE(name, scope, col) LIMIT_FREE_CTE(name, scope, col, "d", WOKEN_PENDING("p." col " = x.name"))

#define WAKE_SQL                                                                                         \
	"WITH d AS (SELECT id, tenant_id, type, due_at FROM jobs"                                         \
	"   WHERE deferred_at IS NOT NULL AND status IN ('queued', 'retrying')"                           \
	"   AND (($2::text IS NULL AND $3::text IS NULL) OR tenant_id = $2 OR type = $3)"                 \
	"   ORDER BY due_at, id LIMIT 1000),"                                                            \
	WAKE_FREE_CTE("t", "tenant", "tenant_id") WAKE_FREE_CTE("y", "type", "type")                        \
	" e AS (SELECT d.*, coalesce(tf.paused, false) OR coalesce(yf.paused, false) AS paused,"          \
	"   tf.free AS t_free, yf.free AS y_free"                                                         \
	"   FROM d LEFT JOIN tf ON tf.name = d.tenant_id LEFT JOIN yf ON yf.name = d.type),"              \
	" k AS (SELECT e.*, row_number() OVER (PARTITION BY tenant_id ORDER BY due_at, id) AS tn,"       \
	"   row_number() OVER (PARTITION BY type ORDER BY due_at, id) AS yn FROM e"                       \
	"   WHERE NOT paused AND coalesce(t_free, 1) > 0 AND coalesce(y_free, 1) > 0),"                   \
	" f AS (SELECT id FROM k WHERE (t_free IS NULL OR tn <= t_free) AND (y_free IS NULL OR yn <= y_free)" \
	"   ORDER BY due_at, id LIMIT $1::int),"                                                          \
	" x AS (SELECT j.id FROM jobs j JOIN f ON j.id = f.id WHERE j.deferred_at IS NOT NULL"             \
	"   FOR UPDATE OF j SKIP LOCKED),"                                                                \
	" u AS (UPDATE jobs j SET deferred_at = NULL, redriven_at = now(), updated_at = now()"             \
	"   FROM x WHERE j.id = x.id RETURNING j.*),"                                                     \
	" v AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"                         \
	"   SELECT id, 'woken', status, attempts, jsonb_build_object('actor', $4::text) FROM u)"          \
	" SELECT " JOB_COLS " FROM u ORDER BY due_at, id"

/* In the caller's transaction (locks taken): wake; the count, or -1. */
static int wake_tx(struct db_conn *c, const char *const params[4], struct buf *err)
{
	struct job *jobs = NULL;
	size_t n = 0;
	PGresult *r = db_exec(c, "job_wake_deferred", WAKE_SQL, 4, params, err);
	if (!r)
		return -1;
	jobs_take(r, &jobs, &n);
	int rc = outbox_add_jobs(c, jobs, n, err);
	for (size_t i = 0; i < n; i++)
		job_clear(&jobs[i]);
	free(jobs);
	return rc < 0 ? -1 : (int)n;
}

int job_wake_deferred(struct db_conn *c, const char *tenant, const char *type, int limit, unsigned flags,
		      const char *actor, struct buf *err)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	const char *params[] = { lim, tenant, type, actor ? actor : "" };
	if (tenant && type && !(flags & JOB_WAKE_ALWAYS)) {
		/* a job of them stopped running: only where a limit applies (one read, no transaction otherwise) */
		struct joblimits_eff t, y;
		if (limit_read(c, tenant, type, "00000000-0000-0000-0000-000000000000", COUNT_NONE, &t, &y, err) < 0)
			return -1;
		if (!t.limited && !y.limited)
			return 0;
	}
	if (db_cmd(c, LIMIT_TX_BEGIN, err) < 0) {
		rollback(c);
		return -1;
	}
	int go;
	if (tenant && type) /* after the claimers that counted the stopped job as running */
		go = limit_lock(c, tenant, type, err) < 0 ? -1 : 1;
	else if (flags & JOB_WAKE_WAIT)
		go = xact_lock(c, "job_wake_wait", "SELECT true FROM pg_advisory_xact_lock(" JOB_WAKE_LOCK_KEY ")", err);
	else
		go = xact_lock(c, "job_wake_lock", "SELECT pg_try_advisory_xact_lock(" JOB_WAKE_LOCK_KEY ")", err);
	int n = go > 0 ? wake_tx(c, params, err) : go;
	if (n < 0 || db_cmd(c, "COMMIT", err) < 0) {
		rollback(c);
		return -1;
	}
	return n;
}

/*
 * Hold back at publish time: of the outbox rows $1 (a bigint[] literal), the
 * spool.jobs messages of jobs queued or retrying, not deferred, whose tenant or
 * type is paused or would exceed its limit counting its running jobs and those
 * whose message was published but not claimed yet (queued or retrying, due, not
 * deferred, no unsent outbox row), in the rows' order. Each such job gets
 * deferred_at and a 'deferred' event, its row is marked sent; the held row ids
 * are returned. The free slots are counted once per tenant and per type.
 *
 * This runs for every batch the outbox publishes, so it must cost nothing when
 * nothing can be held: with no row in limits (no pause, no limit) the EXISTS is
 * a one-time filter and no outbox row is read. Each row's job is looked up by
 * its key (the OFFSET 0 keeps the lookup a subquery of its own): joined flat,
 * the generic plan scanned jobs_unclaimed for every outbox row, parsing the
 * payload each time, which cost 160 ms a batch with a few thousand jobs queued.
 * For the same reason the UPDATE's test of the job's state is inside a CASE,
 * which keeps the planner from driving it by jobs_unclaimed (rows queued x rows
 * held) rather than by the key of each held row.
 */
#define HOLD_FREE_CTE(name, scope, col)                                                                  \
	LIMIT_FREE_CTE(name, scope, col, "b",                                                                \
		       "(SELECT count(*) FROM jobs p WHERE p.status IN ('queued', 'retrying')"                 \
		       " AND p.deferred_at IS NULL AND p.due_at <= now() AND p." col " = x.name"               \
		       " AND NOT EXISTS (SELECT 1 FROM u WHERE u.id = p.id))")

#define HOLD_SQL                                                                                         \
	"WITH o AS MATERIALIZED (SELECT o.id AS oid, (o.payload::jsonb->>'job_id')::uuid AS jid FROM outbox o" \
	"   WHERE o.id = ANY($1::bigint[]) AND o.sent_at IS NULL AND o.exchange = '" MQ_JOBS_EXCHANGE "'"    \
	"   AND o.routing_key = '" MQ_JOBS_KEY "' AND EXISTS (SELECT 1 FROM limits)),"                        \
	" b AS (SELECT o.oid, j.id, j.tenant_id, j.type FROM o CROSS JOIN LATERAL"                           \
	"   (SELECT j.id, j.tenant_id, j.type, j.status, j.deferred_at FROM jobs j WHERE j.id = o.jid OFFSET 0) j" \
	"   WHERE j.status IN ('queued', 'retrying') AND j.deferred_at IS NULL),"                            \
	" u AS (SELECT (o.payload::jsonb->>'job_id')::uuid AS id FROM outbox o WHERE o.sent_at IS NULL"      \
	"   AND o.exchange = '" MQ_JOBS_EXCHANGE "' AND o.routing_key = '" MQ_JOBS_KEY "'),"                  \
	HOLD_FREE_CTE("t", "tenant", "tenant_id") HOLD_FREE_CTE("y", "type", "type")                        \
	" k AS (SELECT b.oid, b.id, coalesce(tf.paused, false) AS tp, tf.free AS tfree,"                    \
	"   coalesce(yf.paused, false) AS yp, yf.free AS yfree,"                                             \
	"   row_number() OVER (PARTITION BY b.tenant_id ORDER BY b.oid) AS tn,"                              \
	"   row_number() OVER (PARTITION BY b.type ORDER BY b.oid) AS yn"                                    \
	"   FROM b LEFT JOIN tf ON tf.name = b.tenant_id LEFT JOIN yf ON yf.name = b.type),"                  \
	" h AS MATERIALIZED (SELECT * FROM (SELECT oid, id, CASE WHEN tp THEN 'tenant paused'"             \
	"   WHEN yp THEN 'type paused' WHEN tn > tfree THEN 'tenant limit' WHEN yn > yfree THEN 'type limit'"  \
	"   END AS reason FROM k) r WHERE reason IS NOT NULL),"                                                \
	" d AS (UPDATE jobs j SET deferred_at = now(), updated_at = now() FROM h"                            \
	"   WHERE j.id = h.id AND CASE WHEN j.deferred_at IS NULL THEN j.status IN ('queued', 'retrying') END" \
	"   RETURNING j.id, j.status, j.attempts, h.reason, h.oid),"                                          \
	" e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"                             \
	"   SELECT id, 'deferred', status, attempts, jsonb_build_object('reason', reason, 'actor', $2::text) FROM d)," \
	" s AS (UPDATE outbox o SET sent_at = now() FROM d WHERE o.id = d.oid)"                              \
	" SELECT oid FROM d"

int job_hold_over_limit(struct db_conn *c, const char *outbox_ids, const char *actor, int64_t **held, size_t *n,
			struct buf *err)
{
	const char *params[] = { outbox_ids, actor ? actor : "" };
	*held = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "job_hold_over_limit", HOLD_SQL, 2, params, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	*held = k ? xmalloc(k * sizeof(**held)) : NULL;
	for (size_t i = 0; i < k; i++)
		(*held)[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
	*n = k;
	PQclear(r);
	return 0;
}

int job_count_unclaimed(struct db_conn *c, int64_t older_than_s, int64_t *count, struct buf *err)
{
	char older[24];
	snprintf(older, sizeof(older), "%lld", (long long)(older_than_s > 0 ? older_than_s : 0));
	const char *params[] = { older };
	*count = 0;
	PGresult *r = db_exec(c, "job_count_unclaimed",
			      "SELECT count(*) FROM jobs WHERE status IN ('queued', 'retrying') AND deferred_at IS NULL"
			      " AND due_at < now() - $1::bigint * interval '1 second'",
			      1, params, err);
	if (!r)
		return -1;
	*count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* ---- the promoter of scheduled jobs ------------------------------------------------- */

int job_promote_due(struct db_conn *c, const char *actor, int limit, size_t *n, struct buf *err)
{
	char lim[16];
	struct job *jobs = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 500);
	const char *params[] = { actor, lim };
	if (db_cmd(c, "BEGIN", err) < 0)
		return -1;
	PGresult *r = db_exec(c, "job_promote_due",
			      "WITH x AS (SELECT id FROM jobs WHERE status = 'scheduled' AND run_at <= now()"
			      "   ORDER BY run_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"
			      " u AS (UPDATE jobs j SET status = 'queued', due_at = now(), updated_at = now()"
			      "   FROM x WHERE j.id = x.id RETURNING j.*),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, detail)"
			      "   SELECT id, 'queued', 'queued', attempts, jsonb_build_object('actor', $1::text,"
			      "     'late_ms', floor(extract(epoch FROM now() - run_at) * 1000)::bigint) FROM u)"
			      " SELECT " JOB_COLS " FROM u ORDER BY run_at, id",
			      2, params, err);
	if (!r) {
		rollback(c);
		return -1;
	}
	size_t k = 0;
	jobs_take(r, &jobs, &k);
	int rc = outbox_add_jobs(c, jobs, k, err);
	if (rc == 0)
		rc = outbox_add_events(c, jobs, k, "queued", err);
	for (size_t i = 0; i < k; i++)
		job_clear(&jobs[i]);
	free(jobs);
	if (rc < 0 || db_cmd(c, "COMMIT", err) < 0) {
		rollback(c);
		return -1;
	}
	*n = k;
	return 0;
}

int job_next_run_in(struct db_conn *c, int64_t *ms, struct buf *err)
{
	*ms = -1;
	PGresult *r = db_exec(c, "job_next_run_in",
			      /* no row when none is scheduled: greatest() would make the NULL a 0 */
			      "SELECT greatest(0, ceil(extract(epoch FROM min(run_at) - now()) * 1000))::bigint"
			      " FROM jobs WHERE status = 'scheduled' HAVING min(run_at) IS NOT NULL",
			      0, NULL, err);
	if (!r)
		return -1;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		*ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

enum job_own_rc job_hand_back(struct db_conn *c, const char *id, const char *worker_id, int attempt,
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
	PGresult *r = db_exec(c, "job_hand_back",
			      "WITH u AS (UPDATE jobs SET status = 'queued', attempts = attempts - 1,"
			      "   lease_until = NULL, updated_at = now(), due_at = now(), progress = NULL,"
			      "   started_at = CASE WHEN attempts > 1 THEN started_at END"
			      "   WHERE id = $1::uuid AND status = 'running' AND worker_id = $2 AND attempts = $3::int"
			      "   RETURNING *),"
			      " e AS (INSERT INTO job_events (job_id, event, status, attempt, worker_id, detail)"
			      "   SELECT id, 'handed_back', 'queued', $3::int, worker_id,"
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
	int rc = outbox_add_job(c, &j, err) < 0 || outbox_add_event(c, &j, "queued", err) < 0 ? -1 : 0;
	job_clear(&j);
	if (rc < 0 || db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	return JOB_OWN_OK;
fail:
	rollback(c);
	return JOB_OWN_ERR;
}
