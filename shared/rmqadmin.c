#include "rmqadmin.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define BODY_MAX (16L * 1024 * 1024)

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > (size_t)BODY_MAX)
		return 0; /* aborts the transfer */
	buf_add(b, p, n);
	return n;
}

/* The [rabbitmq] secret's credentials; -1 with `err` if it cannot be had. */
static int credentials(const struct config *cfg, struct secrets *sec, struct mq_secret *s, struct buf *err)
{
	struct buf val = BUF_INIT;
	int rc = -1;
	memset(s, 0, sizeof(*s));
	if (!cfg->rabbitmq.secret || !*cfg->rabbitmq.secret)
		buf_adds(err, "rabbitmq: no [rabbitmq] secret in the config");
	else if (secrets_get(sec, cfg->rabbitmq.secret, &val, err) == 0 && mq_secret_parse(buf_str(&val), s, err) == 0)
		rc = 0;
	buf_release(&val);
	return rc;
}

/* "<management_url>/api/queues/<vhost>[/<queue>/contents]" with the parts escaped. */
static int make_url(CURL *h, const struct config *cfg, const struct mq_secret *s, const char *queue,
		    struct buf *url)
{
	const char *base = cfg->rabbitmq.management_url;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	char *vh = curl_easy_escape(h, s->vhost && *s->vhost ? s->vhost : "/", 0);
	char *q = queue ? curl_easy_escape(h, queue, 0) : NULL;
	if (!vh || (queue && !q)) {
		curl_free(vh);
		curl_free(q);
		return -1;
	}
	buf_add(url, base, bl);
	buf_printf(url, "/api/queues/%s", vh);
	if (q)
		buf_printf(url, "/%s/contents", q);
	else
		buf_adds(url, "?columns=name,durable,messages_ready,messages_unacknowledged,consumers,message_stats");
	curl_free(vh);
	curl_free(q);
	return 0;
}

/*
 * One request of `method` to `url` with the administrator's credentials `s`,
 * `json_in` (or NULL) as its body, the answer's body into `body`; *status gets
 * the HTTP status. 0 when an answer came (any status), RMQADMIN_DOWN when none
 * did or a 5xx.
 */
static int perform(CURL *h, const struct config *cfg, const struct mq_secret *s, const char *method,
		   const char *url, const char *json_in, struct buf *body, long *status, struct buf *err)
{
	struct curl_slist *hdr = NULL;
	long ct = cfg->rabbitmq.connect_timeout > 0 ? (long)cfg->rabbitmq.connect_timeout : 5L;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->username);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, ct < RMQADMIN_TIMEOUT_S ? ct : RMQADMIN_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, RMQADMIN_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	if (json_in) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_in);
	}
	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* the URL holds no credentials: they go in the Authorization header */
	if (cc != CURLE_OK) {
		buf_printf(err, "rabbitmq management API at '%s': %s", cfg->rabbitmq.management_url,
			   curl_easy_strerror(cc));
		return RMQADMIN_DOWN;
	}
	if (*status >= 500) {
		buf_printf(err, "rabbitmq management API at '%s': HTTP %ld", cfg->rabbitmq.management_url, *status);
		return RMQADMIN_DOWN;
	}
	return 0;
}

/*
 * What every call needs: the management URL set, and the administrator's
 * credentials into *s (free with mq_secret_free). 0, or RMQADMIN_DOWN /
 * RMQADMIN_ERROR with `err` (nothing to free then).
 */
static int start(const struct config *cfg, struct secrets *sec, struct mq_secret *s, struct buf *err)
{
	if (!cfg->rabbitmq.management_url || !*cfg->rabbitmq.management_url) {
		buf_adds(err, "rabbitmq: no management_url in [rabbitmq]");
		return RMQADMIN_DOWN;
	}
	return credentials(cfg, sec, s, err) < 0 ? RMQADMIN_ERROR : 0;
}

/*
 * One request to the management API for `queue`'s contents (DELETE) or the
 * vhost's queue list (GET, body into `body`). Returns 0 for a 2xx answer.
 */
static int request(const struct config *cfg, struct secrets *sec, const char *method, const char *queue,
		   struct buf *body, struct buf *err)
{
	struct mq_secret s;
	int rc = start(cfg, sec, &s, err);
	if (rc < 0)
		return rc;
	CURL *h = curl_easy_init();
	struct buf url = BUF_INIT;
	long status = 0;
	rc = RMQADMIN_ERROR;
	if (!h || make_url(h, cfg, &s, queue, &url) < 0) {
		buf_adds(err, "rabbitmq management: cannot set up the request");
		goto out;
	}
	if ((rc = perform(h, cfg, &s, method, buf_str(&url), NULL, body, &status, err)) < 0)
		goto out;
	if (status < 200 || status > 299) {
		buf_printf(err, "rabbitmq management API: %s %s: HTTP %ld%s", method, queue ? queue : "queues", status,
			   status == 401 ? " (the [rabbitmq] secret's user needs the management or monitoring tag)"
			   : status == 404 ? " (no such queue or vhost)" : "");
		rc = RMQADMIN_ERROR;
	} else {
		rc = 0;
	}
out:
	if (h)
		curl_easy_cleanup(h);
	buf_release(&url);
	mq_secret_free(&s);
	return rc;
}

static int64_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* message_stats.<what>_details.rate, 0 when the broker has no figure yet. */
static double rate_of(json_t *stats, const char *details)
{
	json_t *v = json_object_get(json_object_get(stats, details), "rate");
	return json_is_number(v) ? json_number_value(v) : 0.0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct rmqadmin_queue *)a)->name, ((const struct rmqadmin_queue *)b)->name);
}

int rmqadmin_queues(const struct config *cfg, struct secrets *sec, struct rmqadmin_queue **out, size_t *n,
		    struct buf *err)
{
	struct buf body = BUF_INIT;
	*out = NULL;
	*n = 0;
	int rc = request(cfg, sec, "GET", NULL, &body, err);
	if (rc < 0) {
		buf_release(&body);
		return rc;
	}
	json_error_t je;
	json_t *arr = json_loadb(body.data ? body.data : "", body.len, 0, &je);
	buf_release(&body);
	if (!json_is_array(arr)) {
		buf_printf(err, "rabbitmq management API: the queue list is not a JSON array (%s)",
			   arr ? "other JSON" : je.text);
		json_decref(arr);
		return RMQADMIN_ERROR;
	}
	size_t k = json_array_size(arr), m = 0;
	struct rmqadmin_queue *v = xcalloc(k ? k : 1, sizeof(*v));
	for (size_t i = 0; i < k; i++) {
		json_t *q = json_array_get(arr, i), *stats = json_object_get(q, "message_stats");
		const char *name = json_string_value(json_object_get(q, "name"));
		if (!name)
			continue;
		v[m].name = xstrdup(name);
		v[m].ready = int_of(q, "messages_ready");
		v[m].unacked = int_of(q, "messages_unacknowledged");
		v[m].consumers = int_of(q, "consumers");
		v[m].durable = json_is_true(json_object_get(q, "durable"));
		v[m].publish_rate = rate_of(stats, "publish_details");
		v[m].deliver_rate = rate_of(stats, "deliver_get_details");
		v[m].ack_rate = rate_of(stats, "ack_details");
		m++;
	}
	json_decref(arr);
	qsort(v, m, sizeof(*v), by_name);
	*out = v;
	*n = m;
	return 0;
}

void rmqadmin_queues_free(struct rmqadmin_queue *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++)
		free(q[i].name);
	free(q);
}

/* ---- the daemons' users ---------------------------------------------------------- */

#define QUEUES_API "spool\\.(jobs(\\.(high|low))?|dead|events|events\\.api(\\..+)?)"
#define QUEUES_WORKER "spool\\.(jobs(\\.(high|low))?|dead|events|events\\.api|retry\\.((high|low)\\.)?[0-9]+)"
#define READ_WORKER "spool\\.(jobs(\\.(high|low))?|dead|events|retry\\.((high|low)\\.)?[0-9]+)"

/*
 * spool-api: the shared topology (spool.jobs and its priorities' queues,
 * spool.dead, spool.events and its spool.events.api queue, each bound; it
 * consumes spool.events.api for webhooks), its own spool.events.api.HOST.PID
 * queue for long-polls, the outbox's publishes to spool.jobs.
 */
const struct rmqadmin_perms rmqadmin_api_perms = {
	.configure = "^" QUEUES_API "$",
	.write = "^(" QUEUES_API "|amq\\.default)$",
	.read = "^" QUEUES_API "$",
};

/*
 * spool-worker: the shared topology, the delay queues spool.retry[.PRIO].SECONDS
 * (dead-lettering to their job queues), publishes to the job queues,
 * spool.events, spool.dead and the delay queues; it reads the job queues but
 * no events queue.
 */
const struct rmqadmin_perms rmqadmin_worker_perms = {
	.configure = "^" QUEUES_WORKER "$",
	.write = "^(" QUEUES_WORKER "|amq\\.default)$",
	.read = "^" READ_WORKER "$",
};

bool rmqadmin_password_matches(const char *algorithm, const char *hash, const char *password)
{
	const EVP_MD *md = NULL;
	if (!algorithm || !hash || !password)
		return false;
	if (!strcmp(algorithm, "rabbit_password_hashing_sha256"))
		md = EVP_sha256();
	else if (!strcmp(algorithm, "rabbit_password_hashing_sha512"))
		md = EVP_sha512();
	else
		return false;
	size_t hl = strlen(hash);
	if (hl == 0 || hl % 4 || hl > 256)
		return false;
	unsigned char raw[200], mine[EVP_MAX_MD_SIZE + 4];
	int n = EVP_DecodeBlock(raw, (const unsigned char *)hash, (int)hl);
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts the padding's zero bytes */
	for (size_t i = hl; i > 0 && hash[i - 1] == '='; i--)
		n--;
	int dl = EVP_MD_get_size(md);
	if (n != 4 + dl)
		return false;
	size_t pl = strlen(password);
	unsigned char *in = xcalloc(4 + pl + 1, 1);
	memcpy(in, raw, 4);
	memcpy(in + 4, password, pl);
	unsigned int ml = 0;
	bool ok = EVP_Digest(in, 4 + pl, mine, &ml, md, NULL) == 1 && (int)ml == dl &&
		  CRYPTO_memcmp(mine, raw + 4, (size_t)dl) == 0;
	OPENSSL_cleanse(in, 4 + pl);
	free(in);
	return ok;
}

/* "<management_url>/api/<what>/[<vhost>/]<name>" with the parts escaped. */
static int user_url(CURL *h, const struct config *cfg, const char *what, const char *vhost, const char *name,
		    struct buf *url)
{
	const char *base = cfg->rabbitmq.management_url;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	char *vh = vhost ? curl_easy_escape(h, vhost, 0) : NULL;
	char *nm = curl_easy_escape(h, name, 0);
	int rc = -1;
	if (nm && (!vhost || vh)) {
		buf_add(url, base, bl);
		buf_printf(url, "/api/%s/", what);
		if (vh)
			buf_printf(url, "%s/", vh);
		buf_adds(url, nm);
		rc = 0;
	}
	curl_free(vh);
	curl_free(nm);
	return rc;
}

/* The state of one user as the broker has it. */
struct user_state {
	bool exists, password_ok, no_tags, perms_ok;
};

/* Whether `tags` (an array, or a comma-separated string on older brokers) is empty. */
static bool tags_empty(json_t *tags)
{
	if (json_is_array(tags))
		return json_array_size(tags) == 0;
	if (json_is_string(tags))
		return !*json_string_value(tags);
	return tags == NULL;
}

static bool str_is(json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v && !strcmp(v, want);
}

/*
 * One call of the user functions: `method` on `url`, with the error named by
 * `what` (never the body sent). *status gets the HTTP status; 0 for an
 * answer 2xx or one of `ok_status` (0 for none), else RMQADMIN_DOWN/ERROR.
 */
static int user_call(CURL *h, const struct config *cfg, const struct mq_secret *s, const char *method,
		     const char *url, const char *json_in, long ok_status, struct buf *body, long *status,
		     const char *what, struct buf *err)
{
	curl_easy_reset(h);
	int rc = perform(h, cfg, s, method, url, json_in, body, status, err);
	if (rc < 0)
		return rc;
	if ((*status >= 200 && *status <= 299) || (ok_status && *status == ok_status))
		return 0;
	buf_printf(err, "rabbitmq management API: %s %s: HTTP %ld%s", method, what, *status,
		   *status == 401 ? " (the [rabbitmq] secret's user needs the administrator tag)" : "");
	return RMQADMIN_ERROR;
}

/* Read the user's state into *st; 0 or an error. */
static int user_read(CURL *h, const struct config *cfg, const struct mq_secret *s, const char *uurl,
		     const char *purl, const char *name, const char *password, const struct rmqadmin_perms *perms,
		     struct user_state *st, struct buf *err)
{
	struct buf body = BUF_INIT;
	long status = 0;
	memset(st, 0, sizeof(*st));
	int rc = user_call(h, cfg, s, "GET", uurl, NULL, 404, &body, &status, name, err);
	if (rc < 0 || status == 404)
		goto out;
	json_t *u = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	st->exists = true;
	st->password_ok = rmqadmin_password_matches(json_string_value(json_object_get(u, "hashing_algorithm")),
						    json_string_value(json_object_get(u, "password_hash")), password);
	st->no_tags = tags_empty(json_object_get(u, "tags"));
	json_decref(u);
	buf_release(&body);
	if ((rc = user_call(h, cfg, s, "GET", purl, NULL, 404, &body, &status, name, err)) < 0 || status == 404)
		goto out;
	json_t *p = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	st->perms_ok = str_is(p, "configure", perms->configure) && str_is(p, "write", perms->write) &&
		       str_is(p, "read", perms->read);
	json_decref(p);
out:
	buf_release(&body);
	return rc;
}

int rmqadmin_user_ensure(const struct config *cfg, struct secrets *sec, const char *name, const char *password,
			 const char *vhost, const struct rmqadmin_perms *perms, enum rmqadmin_user_change *change,
			 struct buf *err)
{
	*change = RMQADMIN_USER_UNCHANGED;
	struct mq_secret s;
	int rc = start(cfg, sec, &s, err);
	if (rc < 0)
		return rc;
	CURL *h = curl_easy_init();
	struct buf uurl = BUF_INIT, purl = BUF_INIT, body = BUF_INIT;
	long status = 0;
	rc = RMQADMIN_ERROR;
	struct user_state st;
	if (!h || user_url(h, cfg, "users", NULL, name, &uurl) < 0 ||
	    user_url(h, cfg, "permissions", vhost && *vhost ? vhost : "/", name, &purl) < 0) {
		buf_adds(err, "rabbitmq management: cannot set up the request");
		goto out;
	}
	if ((rc = user_read(h, cfg, &s, buf_str(&uurl), buf_str(&purl), name, password, perms, &st, err)) < 0)
		goto out;
	if (!st.exists || !st.password_ok || !st.no_tags) {
		json_t *j = json_pack("{s:s, s:s}", "password", password, "tags", "");
		char *js = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		rc = js ? user_call(h, cfg, &s, "PUT", buf_str(&uurl), js, 0, &body, &status, name, err) : RMQADMIN_ERROR;
		if (js) {
			OPENSSL_cleanse(js, strlen(js));
			free(js);
		}
		if (rc < 0)
			goto out;
		*change = st.exists ? RMQADMIN_USER_UPDATED : RMQADMIN_USER_CREATED;
	}
	if (!st.perms_ok) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "configure", perms->configure, "write", perms->write, "read",
				      perms->read);
		char *js = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		buf_reset(&body);
		rc = js ? user_call(h, cfg, &s, "PUT", buf_str(&purl), js, 0, &body, &status, name, err) : RMQADMIN_ERROR;
		free(js);
		if (rc < 0)
			goto out;
		if (*change == RMQADMIN_USER_UNCHANGED)
			*change = RMQADMIN_USER_UPDATED;
	}
	rc = 0;
out:
	if (h)
		curl_easy_cleanup(h);
	buf_release(&uurl);
	buf_release(&purl);
	buf_release(&body);
	mq_secret_free(&s);
	return rc;
}
