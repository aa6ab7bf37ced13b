#include "rmqadmin.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

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
 * One request to the management API for `queue`'s contents (DELETE) or the
 * vhost's queue list (GET, body into `body`). Returns 0 for a 2xx answer.
 */
static int request(const struct config *cfg, struct secrets *sec, const char *method, const char *queue,
		   struct buf *body, struct buf *err)
{
	if (!cfg->rabbitmq.management_url || !*cfg->rabbitmq.management_url) {
		buf_adds(err, "rabbitmq: no management_url in [rabbitmq]");
		return RMQADMIN_DOWN;
	}
	struct mq_secret s;
	if (credentials(cfg, sec, &s, err) < 0)
		return RMQADMIN_ERROR;
	CURL *h = curl_easy_init();
	struct buf url = BUF_INIT;
	int rc = RMQADMIN_ERROR;
	if (!h || make_url(h, cfg, &s, queue, &url) < 0) {
		buf_adds(err, "rabbitmq management: cannot set up the request");
		goto out;
	}
	long ct = cfg->rabbitmq.connect_timeout > 0 ? (long)cfg->rabbitmq.connect_timeout : 5L;
	curl_easy_setopt(h, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_USERNAME, s.username);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s.password);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, ct < RMQADMIN_TIMEOUT_S ? ct : RMQADMIN_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, RMQADMIN_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	/* the URL holds no credentials: they go in the Authorization header */
	if (cc != CURLE_OK) {
		buf_printf(err, "rabbitmq management API at '%s': %s", cfg->rabbitmq.management_url,
			   curl_easy_strerror(cc));
		rc = RMQADMIN_DOWN;
	} else if (status >= 500) {
		buf_printf(err, "rabbitmq management API at '%s': HTTP %ld", cfg->rabbitmq.management_url, status);
		rc = RMQADMIN_DOWN;
	} else if (status < 200 || status > 299) {
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

int rmqadmin_purge(const struct config *cfg, struct secrets *sec, const char *queue, struct buf *err)
{
	struct buf body = BUF_INIT;
	int rc = request(cfg, sec, "DELETE", queue, &body, err);
	buf_release(&body);
	return rc;
}
