#include "secrets.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>

#include "aws.h"
#include "awscreds.h"
#include "log.h"

struct cache_entry {
	char *ref;
	char *value;
	time_t fetched;
	struct cache_entry *next;
};

struct secrets {
	pthread_mutex_t lock;
	struct cache_entry *cache;
	int64_t ttl;
	char *endpoint;          /* override, or NULL for the regional AWS endpoint */
	struct awscreds *creds;
	struct aws_client *client;
};

/* Zero and free a string that held a secret. */
static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

int secret_arn_parse(const char *arn, struct secret_arn *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	if (!arn || strncmp(arn, "arn:", 4) != 0) {
		buf_adds(err, "not an ARN (expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)");
		return -1;
	}
	/* arn:PARTITION:SERVICE:REGION:ACCOUNT:secret:NAME (NAME may contain ':') */
	const char *f[6];
	size_t fl[6];
	const char *p = arn + 4;
	for (int i = 0; i < 5; i++) {
		const char *c = strchr(p, ':');
		if (!c) {
			buf_adds(err, "ARN has too few fields (expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)");
			return -1;
		}
		f[i] = p;
		fl[i] = (size_t)(c - p);
		p = c + 1;
	}
	f[5] = p;
	fl[5] = strlen(p);
	if (fl[0] == 0 || strncmp(f[0], "aws", 3) != 0) {
		buf_adds(err, "ARN partition is not aws, aws-cn or aws-us-gov");
		return -1;
	}
	if (fl[1] != 14 || strncmp(f[1], "secretsmanager", 14) != 0) {
		buf_adds(err, "ARN is not a Secrets Manager ARN (service must be secretsmanager)");
		return -1;
	}
	if (fl[2] == 0 || fl[2] >= sizeof(out->region)) {
		buf_adds(err, "ARN has no region");
		return -1;
	}
	for (size_t i = 0; i < fl[2]; i++)
		if (!islower((unsigned char)f[2][i]) && !isdigit((unsigned char)f[2][i]) && f[2][i] != '-') {
			buf_adds(err, "ARN region is malformed");
			return -1;
		}
	if (fl[3] != 12 || strspn(f[3], "0123456789") < 12) {
		buf_adds(err, "ARN account must be 12 digits");
		return -1;
	}
	if (fl[4] != 6 || strncmp(f[4], "secret", 6) != 0) {
		buf_adds(err, "ARN resource type is not 'secret'");
		return -1;
	}
	if (fl[5] == 0 || fl[5] >= sizeof(out->name)) {
		buf_adds(err, fl[5] ? "ARN secret name is too long" : "ARN has no secret name");
		return -1;
	}
	memcpy(out->region, f[2], fl[2]);
	memcpy(out->account, f[3], fl[3]);
	memcpy(out->name, f[5], fl[5]);
	return 0;
}

struct secrets *secrets_new(const struct config *cfg)
{
	struct secrets *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->ttl = cfg ? cfg->secrets.cache_ttl : 3600;
	const char *ep = NULL;
	if (cfg && cfg->secrets.endpoint_url && *cfg->secrets.endpoint_url)
		ep = cfg->secrets.endpoint_url;
	else if (cfg && cfg->aws.endpoint_url && *cfg->aws.endpoint_url)
		ep = cfg->aws.endpoint_url;
	s->endpoint = ep ? xstrdup(ep) : NULL;
	s->creds = awscreds_new(cfg);
	s->client = aws_client_new(cfg, s->creds);
	return s;
}

void secrets_free(struct secrets *s)
{
	if (!s)
		return;
	for (struct cache_entry *e = s->cache, *n; e; e = n) {
		n = e->next;
		free(e->ref);
		wipe_free(e->value);
		free(e);
	}
	aws_client_free(s->client);
	awscreds_free(s->creds);
	free(s->endpoint);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int read_file_ref(const char *ref, const char *path, struct buf *out, struct buf *err)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		buf_printf(err, "secret '%s': cannot open the file: %m", ref);
		return -1;
	}
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_add(out, tmp, n);
	memset(tmp, 0, sizeof(tmp));
	int bad = ferror(fp);
	fclose(fp);
	if (bad) {
		buf_printf(err, "secret '%s': cannot read the file", ref);
		return -1;
	}
	while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
		buf_truncate(out, out->len - 1);
	return 0;
}

int secret_value_parse(const char *json, size_t len, struct buf *out, struct buf *err)
{
	json_t *root = json ? json_loadb(json, len, 0, NULL) : NULL;
	const char *str = json_string_value(json_object_get(root, "SecretString"));
	const char *bin = json_string_value(json_object_get(root, "SecretBinary"));
	int rc = -1;
	if (str) {
		buf_adds(out, str);
		rc = 0;
	} else if (bin) {
		size_t bl = strlen(bin);
		unsigned char *dec = xmalloc(bl / 4 * 3 + 4);
		int n = EVP_DecodeBlock(dec, (const unsigned char *)bin, (int)bl);
		if (n >= 0) {
			/* the padding that shortens the value is before what EVP_DecodeBlock ignored at the end */
			while (bl && !isalnum((unsigned char)bin[bl - 1]) && !strchr("+/=", bin[bl - 1]))
				bl--;
			while (bl && bin[bl - 1] == '=' && n > 0) {
				n--;
				bl--;
			}
			buf_add(out, dec, (size_t)n);
			rc = 0;
		} else {
			buf_adds(err, "SecretBinary is not valid base64");
		}
		memset(dec, 0, (size_t)(strlen(bin) / 4 * 3 + 4));
		free(dec);
	} else {
		buf_adds(err, "GetSecretValue answer has neither SecretString nor SecretBinary");
	}
	json_decref(root);
	return rc;
}

/*
 * One Secrets Manager call over the JSON 1.1 protocol: `op` ("GetSecretValue",
 * "PutSecretValue") on the secret `ref`, with `input` (stolen; SecretId is added).
 * 0 with the answer in resp->body, or -1 with `ae` filled and, unless the ARN
 * itself is bad, `err` untouched (the caller words the error). The request body,
 * which may hold a value, is wiped.
 */
static int sm_call(struct secrets *s, const char *ref, const char *op, json_t *input, struct aws_response *resp,
		   struct aws_error *ae, struct buf *err)
{
	struct secret_arn arn;
	struct buf why = BUF_INIT;
	aws_error_clear(ae);
	if (secret_arn_parse(ref, &arn, &why) != 0) {
		buf_printf(err, "secret '%s': %s", ref, buf_str(&why));
		buf_release(&why);
		json_decref(input);
		return -2;
	}
	struct buf ep = BUF_INIT, target = BUF_INIT;
	if (s->endpoint)
		buf_adds(&ep, s->endpoint);
	else
		buf_printf(&ep, "https://secretsmanager.%s.amazonaws.com", arn.region);
	buf_printf(&target, "secretsmanager.%s", op);
	json_object_set_new(input, "SecretId", json_string(ref));
	char *body = json_dumps(input, JSON_COMPACT);
	json_decref(input);
	const struct sigv4_header hdrs[] = {
		{ "Content-Type", "application/x-amz-json-1.1" },
		{ "X-Amz-Target", buf_str(&target) },
	};
	struct aws_request r = { 0 };
	r.method = "POST";
	r.endpoint = buf_str(&ep);
	r.path = "/";
	r.region = arn.region;
	r.service = "secretsmanager";
	r.headers = hdrs;
	r.nheaders = 2;
	r.body = body;
	r.body_len = strlen(body);
	int rc = aws_client_call(s->client, &r, resp, ae) == 0 ? 0 : -1;
	wipe_free(body);
	buf_release(&target);
	buf_release(&ep);
	return rc;
}

/* "secret 'REF': OP: CODE (HTTP N): message" into err. */
static void sm_error(const char *ref, const char *op, const struct aws_error *ae, struct buf *err)
{
	struct buf msg = BUF_INIT;
	aws_error_format(ae, &msg);
	buf_printf(err, "secret '%s': %s: %s", ref, op, buf_str(&msg));
	buf_release(&msg);
}

static void wipe_response(struct aws_response *resp)
{
	if (resp->body.data)
		memset(resp->body.data, 0, resp->body.len);
	aws_response_release(resp);
}

/*
 * GetSecretValue: 0 with the value in `out`, 1 when the secret has no current
 * value (ResourceNotFoundException: also a secret that does not exist), -1 on
 * another error, in `err`.
 */
static int fetch_arn(struct secrets *s, const char *ref, struct buf *out, struct buf *err)
{
	struct aws_response resp;
	struct aws_error ae;
	aws_response_init(&resp);
	int rc = sm_call(s, ref, "GetSecretValue", json_object(), &resp, &ae, err);
	if (rc == -1) {
		sm_error(ref, "GetSecretValue", &ae, err);
		if (strstr(ae.code, "ResourceNotFoundException"))
			rc = 1;
	} else if (rc == 0) {
		struct buf why = BUF_INIT;
		rc = secret_value_parse(resp.body.data, resp.body.len, out, &why);
		if (rc != 0)
			buf_printf(err, "secret '%s': %s", ref, buf_str(&why));
		buf_release(&why);
	}
	wipe_response(&resp);
	return rc < 0 ? -1 : rc;
}

int secrets_get_current(struct secrets *s, const char *arn, struct buf *out, struct buf *err)
{
	buf_reset(out);
	if (!arn || strncmp(arn, "arn:", 4) != 0) {
		buf_printf(err, "secret '%s': not a Secrets Manager ARN", arn ? arn : "");
		return -1;
	}
	size_t mark = err->len;
	int rc = fetch_arn(s, arn, out, err);
	if (rc == 1)
		buf_truncate(err, mark);
	return rc;
}

int secrets_put(struct secrets *s, const char *arn, const char *value, const char *token, struct buf *err)
{
	if (!arn || strncmp(arn, "arn:", 4) != 0) {
		buf_printf(err, "secret '%s': not a Secrets Manager ARN", arn ? arn : "");
		return -1;
	}
	json_t *in = json_pack("{s:s}", "SecretString", value);
	char made[33];
	if (!token) {
		/* raw calls must bring their own token: the SDKs make one the same way */
		unsigned char rnd[16];
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			json_decref(in);
			buf_printf(err, "secret '%s': no random bytes for the request token", arn);
			return -1;
		}
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(made + 2 * i, 3, "%02x", rnd[i]);
		token = made;
	}
	json_object_set_new(in, "ClientRequestToken", json_string(token));
	struct aws_response resp;
	struct aws_error ae;
	aws_response_init(&resp);
	int rc = sm_call(s, arn, "PutSecretValue", in, &resp, &ae, err);
	if (rc == -1)
		sm_error(arn, "PutSecretValue", &ae, err);
	wipe_response(&resp);
	if (rc == 0)
		secrets_invalidate(s, arn);
	return rc < 0 ? -1 : 0;
}

/*
 * The fetch failed. A value whose TTL ran out is still better than none while
 * Secrets Manager is unreachable: a daemon must not stop working because its
 * cache expired during an outage. Rotation is unaffected, since secrets_invalidate()
 * drops the entry altogether. Returns 0 with the old value, or -1 (err kept).
 */
static int stale_value(struct secrets *s, const char *ref, struct buf *out, struct buf *err, size_t mark)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	for (struct cache_entry *e = s->cache; e; e = e->next)
		if (!strcmp(e->ref, ref)) {
			buf_reset(out);
			buf_adds(out, e->value);
			found = true;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (!found)
		return -1;
	log_warn("%s; using the cached value past its TTL", buf_str(err) + mark);
	buf_truncate(err, mark);
	return 0;
}

int secrets_get(struct secrets *s, const char *ref, struct buf *out, struct buf *err)
{
	buf_reset(out);
	if (!ref || !*ref) {
		buf_adds(err, "secret reference is empty");
		return -1;
	}
	if (!strncmp(ref, "file:", 5))
		return read_file_ref(ref, ref + 5, out, err);
	if (!strncmp(ref, "env:", 4)) {
		const char *v = getenv(ref + 4);
		if (!v) {
			buf_printf(err, "secret '%s': environment variable is not set", ref);
			return -1;
		}
		buf_adds(out, v);
		return 0;
	}
	if (strncmp(ref, "arn:", 4) != 0) {
		buf_printf(err, "secret '%s': not a secret reference (use arn:aws:secretsmanager:..., "
				"file:PATH or env:NAME)", ref);
		return -1;
	}
	time_t now = time(NULL);
	pthread_mutex_lock(&s->lock);
	for (struct cache_entry *e = s->cache; e; e = e->next) {
		if (!strcmp(e->ref, ref) && s->ttl > 0 && now - e->fetched < s->ttl) {
			buf_adds(out, e->value);
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&s->lock);

	/* Fetch without the lock: other secrets stay readable meanwhile. */
	size_t mark = err->len;
	if (fetch_arn(s, ref, out, err) != 0)
		return stale_value(s, ref, out, err, mark);
	if (s->ttl <= 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	struct cache_entry *e;
	for (e = s->cache; e; e = e->next)
		if (!strcmp(e->ref, ref))
			break;
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->ref = xstrdup(ref);
		e->next = s->cache;
		s->cache = e;
	}
	wipe_free(e->value);
	e->value = xstrdup(buf_str(out));
	e->fetched = time(NULL);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void secrets_invalidate(struct secrets *s, const char *ref)
{
	pthread_mutex_lock(&s->lock);
	for (struct cache_entry **pp = &s->cache; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->ref, ref)) {
			struct cache_entry *e = *pp;
			*pp = e->next;
			free(e->ref);
			wipe_free(e->value);
			free(e);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* --- JSON secret shapes --- */

static json_t *load_object(const char *json, const char *what, struct buf *err)
{
	json_error_t je;
	json_t *root = json ? json_loads(json, 0, &je) : NULL;
	if (!root) {
		/* je.text may quote the input: report the position only. */
		if (json)
			buf_printf(err, "%s secret is not valid JSON (line %d column %d)", what, je.line,
				   je.column);
		else
			buf_printf(err, "%s secret is empty", what);
		return NULL;
	}
	if (!json_is_object(root)) {
		buf_printf(err, "%s secret is not a JSON object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Get a string field (first of the names given); NULL with err if required and missing. */
static char *field_str(json_t *o, const char *what, const char *name, const char *alias, bool required,
		       struct buf *err)
{
	json_t *v = json_object_get(o, name);
	if (!v && alias)
		v = json_object_get(o, alias);
	if (v && json_is_string(v) && *json_string_value(v))
		return xstrdup(json_string_value(v));
	bool bad = v && !json_is_string(v) && !json_is_null(v);
	if ((bad || required) && err->len)
		buf_adds(err, "; ");
	if (bad)
		buf_printf(err, "%s secret: field '%s' is not a string", what, name);
	else if (required)
		buf_printf(err, "%s secret: field '%s' is missing", what, name);
	return NULL;
}

/* Port as a number or a numeric string; `def` when absent; -1 when bad. */
static int field_port(json_t *o, const char *what, int def, struct buf *err)
{
	json_t *v = json_object_get(o, "port");
	long p = def;
	if (!v || json_is_null(v))
		return def;
	if (json_is_integer(v)) {
		p = (long)json_integer_value(v);
	} else if (json_is_string(v)) {
		char *end;
		p = strtol(json_string_value(v), &end, 10);
		if (*end || end == json_string_value(v))
			p = -1;
	} else {
		p = -1;
	}
	if (p < 1 || p > 65535) {
		if (err->len)
			buf_adds(err, "; ");
		buf_printf(err, "%s secret: field 'port' is not a port number", what);
		return -1;
	}
	return (int)p;
}

int db_secret_parse(const char *json, struct db_secret *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	json_t *o = load_object(json, "database", err);
	if (!o)
		return -1;
	size_t before = err->len;
	out->username = field_str(o, "database", "username", NULL, true, err);
	out->password = field_str(o, "database", "password", NULL, true, err);
	out->host = field_str(o, "database", "host", NULL, true, err);
	out->dbname = field_str(o, "database", "dbname", NULL, false, err);
	out->port = field_port(o, "database", 5432, err);
	json_decref(o);
	if (err->len != before) {
		db_secret_free(out);
		return -1;
	}
	if (!out->dbname)
		out->dbname = xstrdup(out->username); /* libpq's default */
	return 0;
}

void db_secret_free(struct db_secret *s)
{
	free(s->username);
	wipe_free(s->password);
	free(s->host);
	free(s->dbname);
	memset(s, 0, sizeof(*s));
}

/*
 * The secret's "hosts": an array of "HOST[:PORT]" strings (the port defaulting
 * to the secret's), copied into out->hosts. Absent or null: none. The items are
 * not quoted in `err` (the whole secret stays out of messages).
 */
static void mq_hosts(json_t *o, struct mq_secret *out, struct buf *err)
{
	json_t *arr = json_object_get(o, "hosts");
	struct buf host = BUF_INIT, why = BUF_INIT;
	if (!arr || json_is_null(arr))
		return;
	size_t n = json_array_size(arr);
	if (!json_is_array(arr) || n == 0 || n > CONFIG_ENDPOINTS_MAX) {
		buf_printf(err, "%srabbitmq secret: field 'hosts' is not a list of 1 to %d \"HOST:PORT\" strings",
			   err->len ? "; " : "", CONFIG_ENDPOINTS_MAX);
		return;
	}
	out->hosts = xcalloc(n, sizeof(*out->hosts));
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_array_get(arr, i));
		int64_t port;
		buf_reset(&why);
		if (!v || config_parse_endpoint(v, out->port > 0 ? out->port : 5672, &host, &port, &why) < 0) {
			buf_printf(err, "%srabbitmq secret: item %zu of field 'hosts' is not HOST:PORT", err->len ? "; " : "",
				   i + 1);
			break;
		}
		out->hosts[out->nhosts++] = xstrdup(v);
	}
	buf_release(&host);
	buf_release(&why);
}

int mq_secret_parse(const char *json, struct mq_secret *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	json_t *o = load_object(json, "rabbitmq", err);
	if (!o)
		return -1;
	size_t before = err->len;
	out->username = field_str(o, "rabbitmq", "username", NULL, true, err);
	out->password = field_str(o, "rabbitmq", "password", NULL, true, err);
	out->vhost = field_str(o, "rabbitmq", "vhost", NULL, false, err);
	out->port = field_port(o, "rabbitmq", 5672, err);
	mq_hosts(o, out, err);
	/* "host" may be left out when "hosts" names the nodes */
	out->host = field_str(o, "rabbitmq", "host", NULL, out->nhosts == 0, err);
	json_decref(o);
	if (err->len != before) {
		mq_secret_free(out);
		return -1;
	}
	if (!out->vhost)
		out->vhost = xstrdup("/");
	return 0;
}

void mq_secret_free(struct mq_secret *s)
{
	free(s->username);
	wipe_free(s->password);
	free(s->host);
	free(s->vhost);
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	memset(s, 0, sizeof(*s));
}

int s3_secret_parse(const char *json, struct s3_secret *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	json_t *o = load_object(json, "s3", err);
	if (!o)
		return -1;
	size_t before = err->len;
	out->access_key_id = field_str(o, "s3", "access_key_id", "AccessKeyId", true, err);
	out->secret_access_key = field_str(o, "s3", "secret_access_key", "SecretAccessKey", true, err);
	out->session_token = field_str(o, "s3", "session_token", "SessionToken", false, err);
	json_decref(o);
	if (err->len != before) {
		s3_secret_free(out);
		return -1;
	}
	return 0;
}

void s3_secret_free(struct s3_secret *s)
{
	free(s->access_key_id);
	wipe_free(s->secret_access_key);
	wipe_free(s->session_token);
	memset(s, 0, sizeof(*s));
}
