#include "outbox.h"
#include "jobcodec.h"
#include "log.h"
#include "metrics.h"
#include "mq.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rows added in the caller's transaction -------------------------------- */

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
	struct jobcodec_message m;
	struct buf payload = BUF_INIT;
	jobcodec_message_of(j, attempt, &m);
	jobcodec_message_encode(&m, &payload);
	int rc = outbox_add(c, exchange, key, buf_str(&payload), err);
	buf_release(&payload);
	return rc;
}

/* The spool.jobs message of `j` for its next attempt, into the outbox. */
int outbox_add_job(struct db_conn *c, const struct job *j, struct buf *err)
{
	return outbox_add_message(c, j, j->attempts + 1, MQ_JOBS_EXCHANGE, jobprio_key(j->priority), err);
}

int outbox_add_jobs(struct db_conn *c, const struct job *jobs, size_t n, struct buf *err)
{
	struct jobcodec_message *msgs = xcalloc(n ? n : 1, sizeof(*msgs));
	for (size_t i = 0; i < n; i++)
		jobcodec_message_of(&jobs[i], jobs[i].attempts + 1, &msgs[i]);
	int rc = outbox_add_messages(c, msgs, n, err);
	free(msgs);
	return rc;
}

/*
 * The rows of `payloads` (a JSON array of strings, stolen) for exchange/key, in
 * their order; `keys` (NULL, or an array of strings as long, stolen) gives
 * each its own routing key instead.
 */
static int outbox_add_payloads(struct db_conn *c, const char *exchange, const char *key, json_t *payloads,
			       json_t *keys, struct buf *err)
{
	char *arr = json_dumps(payloads, JSON_COMPACT);
	char *karr = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
	json_decref(payloads);
	json_decref(keys);
	const char *params[] = { exchange, key, arr, karr };
	PGresult *r = db_exec(c, "outbox_add_payloads",
			      "INSERT INTO outbox (exchange, routing_key, payload)"
			      " SELECT $1, coalesce(k.k, $2), x.p FROM jsonb_array_elements_text($3::jsonb)"
			      "   WITH ORDINALITY AS x(p, i)"
			      " LEFT JOIN jsonb_array_elements_text($4::jsonb) WITH ORDINALITY AS k(k, i) ON k.i = x.i"
			      " ORDER BY x.i",
			      4, params, err);
	free(arr);
	free(karr);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int outbox_add_messages(struct db_conn *c, const struct jobcodec_message *msgs, size_t n, struct buf *err)
{
	if (n == 0)
		return 0;
	json_t *payloads = json_array(), *keys = json_array();
	struct buf msg = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		jobcodec_message_encode(&msgs[i], &msg);
		json_array_append_new(payloads, json_string(buf_str(&msg)));
		json_array_append_new(keys, json_string(jobprio_key(msgs[i].priority)));
	}
	buf_release(&msg);
	return outbox_add_payloads(c, MQ_JOBS_EXCHANGE, MQ_JOBS_KEY, payloads, keys, err);
}

int outbox_add_events(struct db_conn *c, const struct job *jobs, size_t n, const char *event, struct buf *err)
{
	if (n == 0)
		return 0;
	json_t *payloads = json_array();
	struct buf msg = BUF_INIT, key = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		buf_reset(&msg);
		jobcodec_event_encode(&jobs[i], event, &msg);
		json_array_append_new(payloads, json_string(buf_str(&msg)));
	}
	buf_release(&msg);
	buf_printf(&key, "job.%s", event);
	int rc = outbox_add_payloads(c, "spool.events", buf_str(&key), payloads, NULL, err);
	buf_release(&key);
	return rc;
}

/* The spool.events message of `j` (event "cancelled", …), into the outbox. */
int outbox_add_event(struct db_conn *c, const struct job *j, const char *event, struct buf *err)
{
	struct buf payload = BUF_INIT, key = BUF_INIT;
	jobcodec_event_encode(j, event, &payload);
	buf_printf(&key, "job.%s", event);
	int rc = outbox_add(c, "spool.events", buf_str(&key), buf_str(&payload), err);
	buf_release(&payload);
	buf_release(&key);
	return rc;
}

/* Outbox rows after a job left `running` without its worker: its next stop and event. */
int outbox_add_next(struct db_conn *c, const struct job *j, struct buf *err)
{
	if (j->status == JOB_RETRYING)
		return outbox_add_job(c, j, err) < 0 || outbox_add_event(c, j, "retrying", err) < 0 ? -1 : 0;
	if (outbox_add_message(c, j, j->attempts, "", "spool.dead", err) < 0)
		return -1;
	return outbox_add_event(c, j, "failed", err);
}

/* ---- the publisher's side ------------------------------------------------------ */

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

/* The bigint[] literal of `ids`, into `arr`. */
static void ids_literal(const int64_t *ids, size_t n, struct buf *arr)
{
	buf_addc(arr, '{');
	for (size_t i = 0; i < n; i++)
		buf_printf(arr, "%s%" PRId64, i ? "," : "", ids[i]);
	buf_addc(arr, '}');
}

int outbox_mark_sent(struct db_conn *c, const int64_t *ids, size_t n, struct buf *err)
{
	if (n == 0)
		return 0;
	struct buf arr = BUF_INIT;
	ids_literal(ids, n, &arr);
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

/* Dead letters not kept, since the start of the process. */
static atomic_uint_fast64_t dead_dropped;

void outbox_dead_dropped(const char *job_id, const char *why)
{
	atomic_fetch_add_explicit(&dead_dropped, 1, memory_order_relaxed);
	metrics_add(metrics_counter(METRIC_DEAD_LETTERS_DROPPED, "Count"), 1);
	log_fields(LL_WARN, json_pack("{s:s}", "job_id", job_id ? job_id : ""),
		   "dead letter of job %s not kept in '%s' (%s); the job stays failed in PostgreSQL", job_id ? job_id : "?",
		   MQ_DEAD_QUEUE, why);
}

uint64_t outbox_dead_dropped_total(void)
{
	return atomic_load_explicit(&dead_dropped, memory_order_relaxed);
}

/* The job id of a queue message's payload, or NULL (owned by `o` after the call). */
static const char *payload_job_id(const char *payload, json_t **o)
{
	*o = json_loads(payload, 0, NULL);
	return json_string_value(json_object_get(*o, "job_id"));
}

/*
 * The rows of a published batch to mark sent, into ids (*sent of them): the
 * confirmed ones, and the dead letters the broker refused (counted and logged:
 * sending them again would only be refused again and hold up the rest). Other
 * refused rows stay to be sent again.
 */
static void settle_refused(const struct outbox_row *rows, size_t n, const unsigned char *refused, int64_t *ids,
			   size_t *sent, const char *who)
{
	*sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (!refused[i]) {
			ids[(*sent)++] = rows[i].id;
			continue;
		}
		json_t *o;
		const char *id = payload_job_id(rows[i].payload, &o);
		if (!*rows[i].exchange && !strcmp(rows[i].routing_key, MQ_DEAD_QUEUE)) {
			outbox_dead_dropped(id, "refused by the broker: the queue is at its length limit");
			ids[(*sent)++] = rows[i].id;
		} else {
			log_warn("%s: the broker refused outbox row %" PRId64 " to '%s' (it will be sent again)", who,
				 rows[i].id, *rows[i].exchange ? rows[i].exchange : rows[i].routing_key);
		}
		json_decref(o);
	}
}

/*
 * The rows whose jobs may not start now are held back in the database
 * (job_hold_over_limit): their ids become 0 in `rows`. The rows left to
 * publish, all of them should the hold fail (the claim is the exact guard).
 */
static size_t hold_back(struct db_conn *c, struct outbox_row *rows, size_t n, const char *who, struct buf *err)
{
	int64_t *all = n ? xmalloc(n * sizeof(*all)) : NULL, *held = NULL;
	size_t k = 0, nheld = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].exchange, MQ_JOBS_EXCHANGE))
			all[k++] = rows[i].id;
	struct buf arr = BUF_INIT;
	ids_literal(all, k, &arr);
	if (k > 0 && job_hold_over_limit(c, buf_str(&arr), who, &held, &nheld, err) < 0) {
		log_warn("%s: cannot hold back the jobs over their limits (published, their claims defer them): %s",
			 who, buf_str(err));
		buf_reset(err);
	}
	for (size_t h = 0; h < nheld; h++)
		for (size_t i = 0; i < n; i++)
			if (rows[i].id == held[h])
				rows[i].id = 0;
	buf_release(&arr);
	free(all);
	free(held);
	return n - nheld;
}

int outbox_publish(struct db_conn *c, struct mq *m, int limit, const char *who, bool *mq_failed)
{
	struct buf err = BUF_INIT;
	struct outbox_row *rows = NULL;
	size_t n = 0, sent = 0;
	*mq_failed = false;
	if (outbox_fetch(c, limit, &rows, &n, &err) < 0) {
		log_warn("%s: cannot read the outbox: %s", who, buf_str(&err));
		buf_release(&err);
		return -1;
	}
	int64_t *ids = n ? xmalloc(n * sizeof(*ids)) : NULL;
	struct mq_message *msgs = n ? xmalloc(n * sizeof(*msgs)) : NULL;
	size_t k = hold_back(c, rows, n, who, &err);
	/* the rows to publish first: swapped, not copied, so that each is still freed once */
	for (size_t i = 0, j = 0; i < n; i++) {
		if (!rows[i].id)
			continue;
		if (i != j) {
			struct outbox_row t = rows[j];
			rows[j] = rows[i];
			rows[i] = t;
		}
		msgs[j] = (struct mq_message){ rows[j].exchange, rows[j].routing_key, rows[j].payload,
					       strlen(rows[j].payload) };
		j++;
	}
	/* the whole batch, then its confirms: one broker disk sync per batch, not per row */
	unsigned char *refused = k ? xcalloc(k, 1) : NULL;
	if (mq_publish_batch_refused(m, msgs, k, refused, &err) < 0) {
		log_warn("%s: publish of %zu outbox rows failed (they will be sent again): %s", who, k,
			 buf_str(&err));
		*mq_failed = true;
	} else {
		settle_refused(rows, k, refused, ids, &sent, who);
	}
	free(refused);
	free(msgs);
	if (sent > 0 && outbox_mark_sent(c, ids, sent, &err) < 0)
		log_warn("%s: %zu rows published but not marked sent (they will be sent again): %s",
			 who, sent, buf_str(&err));
	free(ids);
	outbox_rows_free(rows, n);
	buf_release(&err);
	return *mq_failed ? -1 : (int)n;
}
