/*
 * webhooks — signed POSTs of the job to its callback_url when it reaches a final
 * state (spool-api(8), the README's "The REST API"), with retries and a delivery history.
 *
 * One thread, the consumer, with its own RabbitMQ connection, consumes the
 * durable spool.events.api queue (shared by every API process, so each event is
 * handled once in the fleet, at least once overall). A final event of a job
 * with a callback_url becomes the first row of its webhook_deliveries (a unique
 * key makes a duplicate event harmless); only then is the message acked, and
 * the delivery threads are woken. Most jobs have no callback_url and their
 * events say so ("callback": false): those are acked without a database round
 * trip. The deliveries of a prefetch window are handled together: one INSERT
 * for the first attempts of all of them, one basic.ack (multiple) for the window. api.webhook_workers delivery threads each
 * claim one due attempt at a time in the database (so that several API
 * processes never send the same attempt), POST it with a new curl handle,
 * record the answer and schedule the next attempt with exponential backoff. A
 * delivery is due in the database, not in memory, so a restart loses nothing.
 *
 * Fairness: a claim passes over the tenants that already have
 * api.webhook_tenant_inflight attempts in flight anywhere in the fleet
 * (claim_one), so a tenant whose receivers are slow or hang holds at most that
 * many delivery threads, each for at most TIMEOUT_MS per attempt, and the other
 * tenants' deliveries keep going on the rest.
 *
 * Safety: the URL policy of shared/webhook.h is applied again at delivery and
 * gives the normalised URL (lower-case host, no trailing dot) that curl is
 * handed; the host is resolved here and refused if any address is not
 * permitted (webhook_addr_permitted: private, loopback, link-local, ... unless
 * the host is in api.webhook_allow_hosts); the address we checked is pinned
 * with CURLOPT_RESOLVE for exactly the name curl looks up, and curl's
 * CURLOPT_OPENSOCKETFUNCTION (open_checked) refuses any connection to another
 * address or to one the policy does not permit, so neither a second lookup (DNS
 * rebinding) nor anything else can change where we connect. Proxy settings of
 * the environment are ignored and no redirects are followed. The signing key is
 * derived from the API-key pepper per tenant (webhook.h); neither it nor the
 * signature is logged.
 */
#include "api.h"
#include "bgthread.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "mq.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NEXT_MS 250
#define IDLE_MS 1000        /* a worker with nothing to do looks again after this */
#define ERROR_WAIT_MS 2000  /* ... or after this when the database failed */
#define PREFETCH 32
#define TIMEOUT_MS 5000
#define MAX_ATTEMPTS 12
#define BACKOFF_BASE_S 2
#define BACKOFF_CAP_S 3600
#define CLAIM_S 60
#define CLAIM_LOCK_KEY "126926743104631" /* "spoolw" as a bigint: any constant all API processes agree on */
#define RESPONSE_MAX 4096
#define STR_(x) #x
#define STR(x) STR_(x)

/* A delivery thread. */
struct worker {
	struct bgthread thread;
	struct api *api;
	int index;
};

static struct {
	struct bgthread consumer;  /* spool.events.api -> first attempts */
	struct worker *workers;    /* api.webhook_workers of them; freed by webhooks_free */
	int nworkers;
	char *pepper;       /* copy of the API-key pepper; cleansed by webhooks_free */
	size_t pepper_len;
} wh = { .consumer = BGTHREAD_INIT };

/* One claimed attempt. */
struct delivery {
	char id[24];
	char job_id[JOB_ID_LEN + 1];
	char event[32];
	int attempt;
	char *url;
};

/* The result of one attempt. */
struct outcome {
	long status;        /* HTTP status, 0 none */
	struct buf error;   /* why it failed, "" when delivered */
	bool permanent;     /* do not try again */
};

/* ---- the database ------------------------------------------------------------ */

/*
 * The first attempts of the webhooks of the `n` jobs `ids` (checked job ids)
 * that have a callback_url and are final, in one statement.
 */
static int enqueue(struct db_conn *c, char (*ids)[JOB_ID_LEN + 1], size_t n, struct buf *err)
{
	struct buf arr = BUF_INIT;
	buf_adds(&arr, "{");
	for (size_t i = 0; i < n; i++)
		buf_printf(&arr, "%s%s", i ? "," : "", ids[i]);
	buf_adds(&arr, "}");
	const char *params[] = { buf_str(&arr) };
	PGresult *r = db_exec(c, "webhook_enqueue_many",
			      "INSERT INTO webhook_deliveries (job_id, event, final_at, attempt, url)"
			      " SELECT id, 'job.' || status, finished_at, 1, callback_url FROM jobs"
			      " WHERE id = ANY($1::uuid[]) AND callback_url IS NOT NULL AND finished_at IS NOT NULL"
			      "   AND status IN ('succeeded', 'failed', 'cancelled')"
			      " ON CONFLICT DO NOTHING",
			      1, params, err);
	buf_release(&arr);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/*
 * Claim the next due attempt, oldest first, among the tenants that have fewer
 * than `cap` attempts in flight (claimed and not yet recorded, by any API
 * process): a tenant whose receivers hang holds at most `cap` delivery threads
 * of the fleet while the others' deliveries go on. Claims are taken one at a
 * time under a transaction-level advisory lock, so that each one counts every
 * claim made before it and the cap holds across API processes; the UPDATE
 * checks the row again, so a claimer that does not take the lock cannot make
 * two processes send the same attempt. An attempt claimed by a process that
 * died stops counting when its claim runs out (CLAIM_S).
 * 1 with *d filled (free d->url), 0 when nothing is due, -1 on error.
 */
static int claim_one(struct db_conn *c, int64_t cap, struct delivery *d, struct buf *err)
{
	char cap_s[24];
	snprintf(cap_s, sizeof(cap_s), "%lld", (long long)cap);
	const char *params[] = { cap_s };
	/* on failure db_release() rolls the transaction back */
	if (db_cmd(c, "BEGIN", err) < 0 || db_cmd(c, "SELECT pg_advisory_xact_lock(" CLAIM_LOCK_KEY ")", err) < 0)
		return -1;
	PGresult *r = db_exec(c, "webhook_claim",
			      "WITH busy AS (SELECT j.tenant_id FROM webhook_deliveries f JOIN jobs j ON j.id = f.job_id"
			      "   WHERE f.at IS NULL AND f.claimed_until >= now()"
			      "   GROUP BY j.tenant_id HAVING count(*) >= $1::int)"
			      " UPDATE webhook_deliveries SET claimed_until = now() + interval '" STR(CLAIM_S) " seconds'"
			      " WHERE id = (SELECT w.id FROM webhook_deliveries w JOIN jobs j ON j.id = w.job_id"
			      "     WHERE w.at IS NULL AND w.next_at <= now()"
			      "       AND (w.claimed_until IS NULL OR w.claimed_until < now())"
			      "       AND NOT EXISTS (SELECT 1 FROM busy WHERE busy.tenant_id = j.tenant_id)"
			      "     ORDER BY w.next_at, w.id LIMIT 1)"
			      "   AND at IS NULL AND (claimed_until IS NULL OR claimed_until < now())"
			      " RETURNING id, job_id, event, attempt, url",
			      1, params, err);
	if (!r || db_cmd(c, "COMMIT", err) < 0) {
		PQclear(r);
		return -1;
	}
	int k = PQntuples(r);
	if (k == 1) {
		db_copy(d->id, sizeof(d->id), r, 0, 0);
		db_copy(d->job_id, sizeof(d->job_id), r, 0, 1);
		db_copy(d->event, sizeof(d->event), r, 0, 2);
		d->attempt = atoi(PQgetvalue(r, 0, 3));
		d->url = db_strdup(r, 0, 4);
	}
	PQclear(r);
	return k == 1;
}

/* Seconds before attempt n+1: 2, 4, 8, … capped, with up to 10 % jitter. */
static int backoff_s(int n)
{
	int64_t s = daemon_backoff_ceiling(BACKOFF_BASE_S, n - 1, BACKOFF_CAP_S);
	return (int)(s + daemon_jitter_ms((unsigned)(s * 100), 0, 360000) / 1000);
}

/* Record the attempt and, when it failed and may be retried, schedule the next one. */
static int record(struct db_conn *c, const struct delivery *d, const struct outcome *o, struct buf *err)
{
	char status[16], delay[16];
	bool delivered = o->status >= 200 && o->status < 300;
	bool again = !delivered && !o->permanent && d->attempt < MAX_ATTEMPTS;
	snprintf(status, sizeof(status), "%ld", o->status);
	snprintf(delay, sizeof(delay), "%d", again ? backoff_s(d->attempt) : 0);
	const char *params[] = { d->id, o->status ? status : NULL, delivered ? NULL : buf_str(&o->error),
				 delivered ? "true" : "false", again ? "true" : "false", delay };
	PGresult *r = db_exec(c, "webhook_record",
			      "WITH u AS (UPDATE webhook_deliveries SET at = now(), status_code = $2::int,"
			      "   error = $3, delivered = $4::bool, claimed_until = NULL"
			      "   WHERE id = $1::bigint RETURNING *)"
			      " INSERT INTO webhook_deliveries (job_id, event, final_at, attempt, url, next_at)"
			      " SELECT job_id, event, final_at, attempt + 1, url, now() + $6::int * interval '1 second'"
			      " FROM u WHERE $5::bool ON CONFLICT DO NOTHING",
			      6, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

/* ---- one POST ------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *data)
{
	(void)p;
	size_t *seen = data;
	*seen += size * n;
	return *seen > RESPONSE_MAX ? 0 : size * n; /* stop reading a long answer */
}

/*
 * What one attempt may connect to: the normalised URL, the allow list it was
 * checked with, and the address resolve() checked and pinned. open_checked()
 * holds every connection to it and says why in `refused` when it does not.
 */
struct target {
	struct webhook_url u;
	const char *allow;
	struct sockaddr_storage addr;
	struct buf refused;
};

/* The port of an AF_INET or AF_INET6 address. */
static int addr_port(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port)
					 : ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
}

static void addr_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    !inet_ntop(sa->sa_family, a, out, INET6_ADDRSTRLEN))
		snprintf(out, INET6_ADDRSTRLEN, "(address family %d)", sa->sa_family);
}

/* Is `sa` the pinned address, on the URL's port? */
static bool addr_is_pinned(const struct sockaddr *sa, const struct target *t)
{
	const struct sockaddr *p = (const struct sockaddr *)&t->addr;
	if (sa->sa_family != p->sa_family)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa, *b = (const void *)p;
		return a->sin_addr.s_addr == b->sin_addr.s_addr && addr_port(sa) == t->u.port;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa, *b = (const void *)p;
		return !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) && addr_port(sa) == t->u.port;
	}
	return false;
}

/*
 * curl's CURLOPT_OPENSOCKETFUNCTION: the last word on where an attempt
 * connects. Only the address resolve() checked and pinned, and only if the
 * policy permits it, whatever curl's own resolution, a proxy setting or a
 * URL quirk would make of the host.
 */
static curl_socket_t open_checked(void *data, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct target *t = data;
	char text[INET6_ADDRSTRLEN];
	(void)purpose;
	addr_text(&a->addr, text);
	buf_reset(&t->refused); /* the reason for the last address refused */
	if (!webhook_addr_permitted(&a->addr, t->u.host, t->allow)) {
		buf_printf(&t->refused, "refused to connect to %s for '%s': a private, loopback or link-local address",
			   text, t->u.host);
		return CURL_SOCKET_BAD;
	}
	if (!addr_is_pinned(&a->addr, t)) {
		char pinned[INET6_ADDRSTRLEN];
		addr_text((const struct sockaddr *)&t->addr, pinned);
		buf_printf(&t->refused, "refused to connect to %s port %d for '%s': only %s port %d was checked", text,
			   addr_port(&a->addr), t->u.host, pinned, t->u.port);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/*
 * Resolve the host and pick the address to connect to: the first one, and only
 * if the policy permits every address. 0 with it in t->addr and, for a name,
 * the "host:port:addr" of CURLOPT_RESOLVE in `pin`.
 */
static int resolve(struct target *t, struct buf *pin, struct outcome *o)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(t->u.host, NULL, &hints, &res);
	if (rc != 0) {
		buf_printf(&o->error, "cannot resolve '%s': %s", t->u.host, gai_strerror(rc));
		return -1;
	}
	int found = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (!webhook_addr_permitted(ai->ai_addr, t->u.host, t->allow)) {
			char text[INET6_ADDRSTRLEN];
			addr_text(ai->ai_addr, text);
			buf_printf(&o->error, "'%s' resolves to a private, loopback or link-local address (%s); "
					      "refused (add it to api.webhook_allow_hosts to allow it)", t->u.host, text);
			o->permanent = 1;
			freeaddrinfo(res);
			return -1;
		}
		if (!found && (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(t->addr)) {
			memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
			found = 1;
		}
	}
	freeaddrinfo(res);
	if (!found) {
		buf_printf(&o->error, "'%s' has no usable address", t->u.host);
		return -1;
	}
	char text[INET6_ADDRSTRLEN];
	addr_text((const struct sockaddr *)&t->addr, text);
	if (!t->u.ipv6) /* a literal IPv6 host is never looked up */
		buf_printf(pin, t->addr.ss_family == AF_INET6 ? "%s:%d:[%s]" : "%s:%d:%s", t->u.host, t->u.port, text);
	return 0;
}

/* The request headers, signature included (free with curl_slist_free_all). */
static struct curl_slist *headers_new(const struct delivery *d, const char *sig)
{
	struct buf hdr = BUF_INIT;
	struct curl_slist *h = NULL;
	h = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
	h = curl_slist_append(h, "User-Agent: spool-webhook/1");
	h = curl_slist_append(h, "Expect:");
	buf_printf(&hdr, "X-Spool-Signature: %s", sig);
	h = curl_slist_append(h, buf_str(&hdr));
	buf_reset(&hdr);
	buf_printf(&hdr, "X-Spool-Event: %s", d->event);
	h = curl_slist_append(h, buf_str(&hdr));
	buf_reset(&hdr);
	buf_printf(&hdr, "X-Spool-Delivery: %s", d->id);
	h = curl_slist_append(h, buf_str(&hdr));
	buf_release(&hdr);
	return h;
}

/*
 * POST `body` to the target; fills `o`. A new curl handle each time, so that no
 * pinned or cached address, nor a connection, carries over from one attempt to
 * the next; no proxy (whatever the environment says), no redirects, and every
 * connection through open_checked.
 */
static void send_post(struct target *t, const char *pin, struct curl_slist *headers, const char *body,
		      struct outcome *o)
{
	CURL *h = curl_easy_init();
	if (!h) {
		buf_adds(&o->error, "cannot start an HTTP request (out of memory)");
		return;
	}
	struct curl_slist *resolve_list = pin[0] ? curl_slist_append(NULL, pin) : NULL;
	size_t seen = 0;
	char cerr[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, t->u.url);
	curl_easy_setopt(h, CURLOPT_RESOLVE, resolve_list);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &seen);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->status);
	if (t->refused.len) {
		buf_adds(&o->error, buf_str(&t->refused));
		o->status = 0;
		o->permanent = 1;
	} else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && o->status)) {
		buf_printf(&o->error, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
		o->status = 0;
	} else if (o->status < 200 || o->status >= 300) {
		buf_printf(&o->error, "HTTP %ld", o->status);
		o->permanent = o->status == 410; /* Gone: the receiver asks us to stop */
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(resolve_list);
}

/* POST the job to d->url; fills `o`. */
static void post(struct api *a, const struct delivery *d, struct outcome *o)
{
	struct buf err = BUF_INIT, pin = BUF_INIT, sig = BUF_INIT;
	struct job j;
	struct target t = { .allow = a->cfg->api.webhook_allow_hosts, .refused = BUF_INIT };
	struct curl_slist *headers = NULL;
	char *body = NULL;
	memset(&j, 0, sizeof(j));
	struct db_conn *c = db_acquire(a->db, 2000, &err);
	enum job_rc rc = c ? job_get(c, d->job_id, NULL, &j, &err) : JOB_ERR;
	if (c)
		db_release(c);
	if (rc != JOB_OK) {
		buf_printf(&o->error, rc == JOB_NOT_FOUND ? "the job no longer exists" : "cannot read the job: %s",
			   buf_str(&err));
		o->permanent = rc == JOB_NOT_FOUND;
		goto out;
	}
	if (webhook_url_check(d->url, t.allow, &t.u, &o->error) < 0) {
		o->permanent = 1;
		goto out;
	}
	if (resolve(&t, &pin, o) < 0)
		goto out;
	json_t *doc = api_job_json(a, &j);
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	unsigned char key[WEBHOOK_KEY_LEN];
	webhook_tenant_key(wh.pepper, wh.pepper_len, j.tenant ? j.tenant : "", key);
	webhook_sign(key, sizeof(key), time(NULL), body, strlen(body), &sig);
	OPENSSL_cleanse(key, sizeof(key));
	headers = headers_new(d, buf_str(&sig));
	send_post(&t, buf_str(&pin), headers, body, o);
out:
	curl_slist_free_all(headers);
	free(body);
	job_clear(&j);
	buf_release(&err);
	buf_release(&pin);
	buf_release(&sig);
	buf_release(&t.refused);
}

/* Claim one due attempt and make it: 1 one was made, 0 none was due, -1 the database failed. */
static int deliver_one(struct api *a)
{
	struct buf err = BUF_INIT;
	struct delivery d;
	memset(&d, 0, sizeof(d));
	struct db_conn *c = db_acquire(a->db, 1000, &err);
	int rc = c ? claim_one(c, a->cfg->api.webhook_tenant_inflight, &d, &err) : -1;
	if (c)
		db_release(c);
	if (rc <= 0) {
		if (rc < 0)
			log_warn("webhooks: cannot read the due deliveries: %s", buf_str(&err));
		buf_release(&err);
		return rc;
	}
	struct outcome o = { 0, BUF_INIT, 0 };
	log_set_job_id(d.job_id);
	post(a, &d, &o);
	if (o.status >= 200 && o.status < 300)
		log_info("webhooks: %s delivered (attempt %d, HTTP %ld)", d.event, d.attempt, o.status);
	else
		log_warn("webhooks: %s attempt %d failed: %s%s", d.event, d.attempt, buf_str(&o.error),
			 o.permanent || d.attempt >= MAX_ATTEMPTS ? "; giving up" : "; will retry");
	buf_reset(&err);
	c = db_acquire(a->db, 2000, &err);
	if (!c || record(c, &d, &o, &err) < 0)
		log_warn("webhooks: cannot record the attempt (it is retried after %d s): %s", CLAIM_S, buf_str(&err));
	if (c)
		db_release(c);
	log_set_job_id(NULL);
	buf_release(&o.error);
	buf_release(&err);
	free(d.url);
	return 1;
}

/* Wake every delivery thread: attempts may be due. */
static void workers_wake(void)
{
	for (int i = 0; i < wh.nworkers; i++)
		bgthread_wake(&wh.workers[i].thread);
}

/*
 * A delivery thread: makes one due attempt after another; when none is due it
 * sleeps until the consumer queues a first attempt or IDLE_MS passes (retries
 * fall due by time). One that found work wakes the next thread, so that a
 * backlog spreads over all of them at once.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (!bgthread_stopping(&w->thread)) {
		int rc = deliver_one(w->api);
		if (rc > 0)
			bgthread_wake(&wh.workers[(w->index + 1) % wh.nworkers].thread);
		else
			bgthread_wait_for(&w->thread, rc < 0 ? ERROR_WAIT_MS : IDLE_MS);
	}
	return NULL;
}

/* ---- the consumer ----------------------------------------------------------------- */

static int subscribe(struct mq *m, struct buf *err)
{
	if (mq_connect(m, err) < 0 || publisher_declare_topology(m, err) < 0 ||
	    mq_consume(m, MQ_EVENTS_API_QUEUE, PREFETCH, err) < 0) {
		mq_disconnect(m);
		return -1;
	}
	return 0;
}

/*
 * Does the event from spool.events.api need the database? A final event of a
 * job with a callback_url does (its job id is copied to `id`), and one that does
 * not say (`"callback"` absent: an older worker); the others, and malformed
 * events, are acknowledged as they are.
 */
static bool needs_lookup(const struct mq_delivery *d, char id[JOB_ID_LEN + 1], bool *final)
{
	*final = mq_event_is_final(d->routing_key);
	if (!*final)
		return false;
	json_t *o = json_loadb(d->body, d->len, 0, NULL);
	const char *job_id = json_string_value(json_object_get(o, "job_id"));
	bool need = job_id && job_id_valid(job_id) && !json_is_false(json_object_get(o, "callback"));
	if (need)
		snprintf(id, JOB_ID_LEN + 1, "%s", job_id);
	json_decref(o);
	return need;
}

/* The deliveries of one prefetch window, handled together. */
struct window {
	struct mq_delivery d[PREFETCH];
	bool lookup[PREFETCH];           /* d[i] needs the database */
	char ids[PREFETCH][JOB_ID_LEN + 1];
	size_t n, nids, nfinal;
};

/*
 * Take what the broker sent, up to a prefetch window, waiting NEXT_MS for the
 * first delivery only. The number taken (0: none came), or -1 when the
 * connection failed (the deliveries taken are freed: the broker sends them again).
 */
static int window_fill(struct mq *m, struct window *w, struct buf *err)
{
	w->n = w->nids = w->nfinal = 0;
	int rc = 0;
	while (w->n < PREFETCH && (rc = mq_next(m, &w->d[w->n], w->n ? 0 : NEXT_MS, err)) == 1) {
		bool final;
		w->lookup[w->n] = needs_lookup(&w->d[w->n], w->ids[w->nids], &final);
		w->nids += w->lookup[w->n];
		w->nfinal += final;
		w->n++;
	}
	if (w->n < PREFETCH && rc < 0) {
		for (size_t i = 0; i < w->n; i++)
			mq_delivery_free(&w->d[i]);
		w->n = w->nids = w->nfinal = 0;
		return -1;
	}
	return (int)w->n;
}

/*
 * Queue the first attempts the window's events ask for, in one statement, and
 * acknowledge the window with one basic.ack (multiple). When the database
 * fails, the events that needed it are given back (requeued) and the others
 * acknowledged: -1, else 0.
 */
static int window_handle(struct api *a, struct mq *m, struct window *w)
{
	int rc = 0;
	if (w->nids) {
		struct buf err = BUF_INIT;
		struct db_conn *c = db_acquire(a->db, 2000, &err);
		rc = c && enqueue(c, w->ids, w->nids, &err) == 0 ? 0 : -1;
		if (c)
			db_release(c);
		if (rc < 0)
			log_warn("webhooks: cannot queue the webhooks of %zu final events: %s", w->nids, buf_str(&err));
		buf_release(&err);
	}
	prom_webhook_events(w->nids, w->nfinal - w->nids);
	if (rc == 0) {
		mq_ack_multiple(m, w->d[w->n - 1].tag);
		if (w->nids)
			workers_wake(); /* new first attempts may be due now */
	} else {
		for (size_t i = 0; i < w->n; i++)
			if (w->lookup[i])
				mq_reject(m, w->d[i].tag, 1);
			else
				mq_ack(m, w->d[i].tag);
	}
	for (size_t i = 0; i < w->n; i++)
		mq_delivery_free(&w->d[i]);
	w->n = w->nids = w->nfinal = 0;
	return rc;
}

/* The consumer: final events become first attempts, and the delivery threads are woken. */
static void *consumer_main(void *arg)
{
	struct api *a = arg;
	struct mq *m = mq_new(a->cfg, a->sec);
	struct window *win = xcalloc(1, sizeof(*win));
	struct buf err = BUF_INIT;
	unsigned attempt = 0;
	int was_down = 0;
	uint64_t next_connect = 0;
	while (!bgthread_stopping(&wh.consumer)) {
		uint64_t now = clock_now_ns();
		if (!mq_connected(m) && now >= next_connect) {
			buf_reset(&err);
			if (subscribe(m, &err) < 0) {
				if (!was_down)
					log_warn("webhooks: RabbitMQ unavailable, final events wait in '%s': %s",
						 MQ_EVENTS_API_QUEUE, buf_str(&err));
				was_down = true;
				next_connect = now + daemon_jitter_ms(500, attempt++, 30000) * 1000000ull;
			} else {
				log_info("webhooks: consuming '%s'", MQ_EVENTS_API_QUEUE);
				attempt = 0;
				was_down = false;
			}
		}
		if (mq_connected(m)) {
			buf_reset(&err);
			int rc = window_fill(m, win, &err);
			if (rc < 0) {
				log_warn("webhooks: connection lost: %s", buf_str(&err));
				mq_disconnect(m);
				was_down = true;
			} else if (rc > 0 && window_handle(a, m, win) < 0) {
				bgthread_wait_for(&wh.consumer, 1000); /* the database is away: do not spin on the messages */
			}
		} else {
			bgthread_wait_for(&wh.consumer, NEXT_MS);
		}
	}
	free(win);
	mq_free(m);
	buf_release(&err);
	return NULL;
}

void webhooks_init(const char *pepper, size_t len)
{
	wh.pepper = xmalloc(len + 1);
	memcpy(wh.pepper, pepper, len);
	wh.pepper[len] = '\0';
	wh.pepper_len = len;
}

int webhooks_start(struct api *a, struct buf *err)
{
	if (!wh.workers) {
		wh.nworkers = (int)a->cfg->api.webhook_workers;
		wh.workers = xcalloc((size_t)wh.nworkers, sizeof(*wh.workers));
		for (int i = 0; i < wh.nworkers; i++)
			wh.workers[i] = (struct worker){ .thread = BGTHREAD_INIT, .api = a, .index = i };
	}
	for (int i = 0; i < wh.nworkers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "webhooks (delivery %d)", i + 1);
		if (bgthread_start(&wh.workers[i].thread, name, worker_main, &wh.workers[i], err) < 0)
			return -1;
	}
	return bgthread_start(&wh.consumer, "webhooks", consumer_main, a, err);
}

void webhooks_stop(void)
{
	bgthread_stop(&wh.consumer);
	for (int i = 0; i < wh.nworkers; i++)
		bgthread_stop(&wh.workers[i].thread);
}

void webhooks_free(void)
{
	if (wh.pepper) {
		OPENSSL_cleanse(wh.pepper, wh.pepper_len);
		free(wh.pepper);
	}
	wh.pepper = NULL;
	wh.pepper_len = 0;
	free(wh.workers);
	wh.workers = NULL;
	wh.nworkers = 0;
}
