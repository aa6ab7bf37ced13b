#include "awscreds.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "log.h"
#include "timefmt.h"

#define REFRESH_MARGIN 300 /* seconds before expiry */

enum provider_kind { PK_STATIC, PK_CHAIN };

struct awscreds {
	pthread_mutex_t lock;
	enum provider_kind kind;
	char *profile;             /* chain: from config, may be NULL */
	struct aws_credentials cur;
	bool have;
};

void aws_credentials_clear(struct aws_credentials *c)
{
	if (c->secret_access_key)
		memset(c->secret_access_key, 0, strlen(c->secret_access_key));
	free(c->access_key_id);
	free(c->secret_access_key);
	free(c->session_token);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src)
{
	dst->access_key_id = dup_or_null(src->access_key_id);
	dst->secret_access_key = dup_or_null(src->secret_access_key);
	dst->session_token = dup_or_null(src->session_token);
	dst->expiration = src->expiration;
	memcpy(dst->source, src->source, sizeof(dst->source));
}

static void creds_set(struct aws_credentials *c, const char *ak, const char *sk, const char *tok,
		      time_t exp, const char *source)
{
	aws_credentials_clear(c);
	c->access_key_id = xstrdup(ak);
	c->secret_access_key = xstrdup(sk);
	c->session_token = tok && *tok ? xstrdup(tok) : NULL;
	c->expiration = exp;
	snprintf(c->source, sizeof(c->source), "%s", source);
}

struct awscreds *awscreds_new(const struct config *cfg)
{
	struct awscreds *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->kind = PK_CHAIN;
	p->profile = cfg && cfg->aws.profile && *cfg->aws.profile ? xstrdup(cfg->aws.profile) : NULL;
	return p;
}

struct awscreds *awscreds_new_static(const char *ak, const char *sk, const char *token)
{
	struct awscreds *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->kind = PK_STATIC;
	creds_set(&p->cur, ak, sk, token, 0, "static");
	p->have = true;
	return p;
}

void awscreds_set_static(struct awscreds *p, const char *ak, const char *sk, const char *token)
{
	pthread_mutex_lock(&p->lock);
	creds_set(&p->cur, ak, sk, token, 0, "static");
	p->have = true;
	pthread_mutex_unlock(&p->lock);
}

void awscreds_free(struct awscreds *p)
{
	if (!p)
		return;
	aws_credentials_clear(&p->cur);
	free(p->profile);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int awscreds_from_env(struct aws_credentials *out)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (!ak || !*ak || !sk || !*sk)
		return 1;
	creds_set(out, ak, sk, getenv("AWS_SESSION_TOKEN"), 0, "environment");
	return 0;
}

/* --- shared credentials / config files --- */

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

struct profile_keys {
	char *ak, *sk, *tok;
};

/*
 * Scan INI `text` for section `want` (config files name it "profile X" except
 * "default"), filling unset keys. Returns true if the section exists.
 */
static bool ini_profile(const char *text, const char *profile, bool is_config, struct profile_keys *k)
{
	if (!text)
		return false;
	char *copy = xstrdup(text), *save = NULL;
	bool in = false, found = false;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (!e) {
				in = false;
				continue;
			}
			*e = '\0';
			char *name = trim(l + 1);
			if (is_config && strcmp(name, "default") != 0) {
				if (strncmp(name, "profile", 7) || !isspace((unsigned char)name[7])) {
					in = false;
					continue;
				}
				name = trim(name + 8);
			}
			in = !strcmp(name, profile);
			found |= in;
			continue;
		}
		if (!in)
			continue;
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *key = trim(l), *val = trim(eq + 1);
		char **slot = NULL;
		if (!strcasecmp(key, "aws_access_key_id"))
			slot = &k->ak;
		else if (!strcasecmp(key, "aws_secret_access_key"))
			slot = &k->sk;
		else if (!strcasecmp(key, "aws_session_token"))
			slot = &k->tok;
		if (slot && !*slot && *val)
			*slot = xstrdup(val);
	}
	memset(copy, 0, strlen(text));
	free(copy);
	return found;
}

int awscreds_parse_profile(const char *credentials_text, const char *config_text,
			   const char *profile, struct aws_credentials *out, struct buf *err)
{
	struct profile_keys k = { 0 };
	bool found = ini_profile(credentials_text, profile, false, &k);
	found |= ini_profile(config_text, profile, true, &k);
	int rc;
	if (!found || (!k.ak && !k.sk)) {
		rc = 1;
	} else if (!k.ak || !k.sk) {
		buf_printf(err, "aws profile '%s' has %s but not %s", profile,
			   k.ak ? "aws_access_key_id" : "aws_secret_access_key",
			   k.ak ? "aws_secret_access_key" : "aws_access_key_id");
		rc = -1;
	} else {
		creds_set(out, k.ak, k.sk, k.tok, 0, "profile");
		rc = 0;
	}
	if (k.sk)
		memset(k.sk, 0, strlen(k.sk));
	free(k.ak);
	free(k.sk);
	free(k.tok);
	return rc;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_add(&b, tmp, n);
	fclose(fp);
	return buf_detach(&b);
}

static char *home_path(const char *env, const char *rel)
{
	const char *v = getenv(env);
	if (v && *v)
		return xstrdup(v);
	const char *home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/%s", home, rel);
	return buf_detach(&b);
}

static int from_files(const char *cfg_profile, struct aws_credentials *out, struct buf *err)
{
	const char *profile = getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = cfg_profile;
	if (!profile || !*profile)
		profile = "default";
	char *cp = home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	char *fp = home_path("AWS_CONFIG_FILE", ".aws/config");
	char *ctext = cp ? slurp(cp) : NULL;
	char *ftext = fp ? slurp(fp) : NULL;
	int rc = awscreds_parse_profile(ctext, ftext, profile, out, err);
	if (ctext) {
		memset(ctext, 0, strlen(ctext));
		free(ctext);
	}
	if (ftext) {
		memset(ftext, 0, strlen(ftext));
		free(ftext);
	}
	free(cp);
	free(fp);
	return rc;
}

/* --- JSON documents (container endpoint, IMDS) --- */

int awscreds_parse_json(const char *json, struct aws_credentials *out, struct buf *err)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je);
	if (!root || !json_is_object(root)) {
		buf_adds(err, "credentials document is not a JSON object");
		json_decref(root);
		return -1;
	}
	const char *ak = json_string_value(json_object_get(root, "AccessKeyId"));
	const char *sk = json_string_value(json_object_get(root, "SecretAccessKey"));
	const char *tok = json_string_value(json_object_get(root, "Token"));
	const char *exp = json_string_value(json_object_get(root, "Expiration"));
	const char *code = json_string_value(json_object_get(root, "Code"));
	int rc = 0;
	time_t t = 0;
	if (code && strcmp(code, "Success") != 0) {
		buf_printf(err, "credentials document says '%s'", code);
		rc = -1;
	} else if (!ak || !*ak || !sk || !*sk) {
		/* an empty key is no key: the chain's profile files are read the same way */
		buf_printf(err, "credentials document lacks %s", ak && *ak ? "SecretAccessKey" : "AccessKeyId");
		rc = -1;
	} else if (exp && timefmt_parse(exp, &t) != 0) {
		buf_adds(err, "credentials document has a bad Expiration");
		rc = -1;
	} else {
		creds_set(out, ak, sk, tok, t, "container");
	}
	json_decref(root);
	return rc;
}

/* --- HTTP for the metadata endpoints (plain, unsigned, short timeouts) --- */

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	if (b->len + size * nmemb > 1024 * 1024)
		return 0;
	buf_add(b, ptr, size * nmemb);
	return size * nmemb;
}

/* Returns the HTTP status, or -1 on a transport error (reason in err). */
static long http_simple(const char *method, const char *url, struct curl_slist *hdrs,
			long timeout_ms, struct buf *body, struct buf *err)
{
	CURL *h = curl_easy_init();
	if (!h) {
		buf_adds(err, "curl_easy_init failed");
		return -1;
	}
	buf_reset(body);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	CURLcode rc = curl_easy_perform(h);
	long status = -1;
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		buf_printf(err, "%s: %s", url, curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	return status;
}

/* 0 found, 1 not configured, -1 error. */
static int from_container(struct aws_credentials *out, struct buf *err)
{
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct buf url = BUF_INIT;
	if (rel && *rel)
		buf_printf(&url, "http://169.254.170.2%s", rel);
	else if (full && *full)
		buf_adds(&url, full);
	else
		return 1;
	struct curl_slist *hdrs = NULL;
	char *token = NULL;
	const char *tfile = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	if (tfile && *tfile) {
		token = slurp(tfile);
		if (token) {
			char *t = trim(token);
			memmove(token, t, strlen(t) + 1);
		}
	} else if (getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
		token = xstrdup(getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
	}
	if (token && *token) {
		struct buf h = BUF_INIT;
		buf_printf(&h, "Authorization: %s", token);
		hdrs = curl_slist_append(hdrs, buf_str(&h));
		memset(h.data, 0, h.len);
		buf_release(&h);
	}
	struct buf body = BUF_INIT;
	long st = http_simple("GET", buf_str(&url), hdrs, 5000, &body, err);
	int rc = -1;
	if (st == 200) {
		rc = awscreds_parse_json(buf_str(&body), out, err);
		if (rc == 0)
			snprintf(out->source, sizeof(out->source), "container");
	} else if (st > 0) {
		buf_printf(err, "container credentials endpoint answered %ld", st);
	}
	if (body.data)
		memset(body.data, 0, body.len);
	buf_release(&body);
	buf_release(&url);
	curl_slist_free_all(hdrs);
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
	return rc;
}

/* 0 found, 1 disabled/unreachable, -1 error. */
static int from_imds(struct aws_credentials *out, struct buf *err)
{
	const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
	if (dis && !strcasecmp(dis, "true"))
		return 1;
	const char *base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!base || !*base)
		base = "http://169.254.169.254";
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	struct buf url = BUF_INIT, body = BUF_INIT, tmp = BUF_INIT, th = BUF_INIT;
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: 21600");
	int rc = 1;
	buf_printf(&url, "%.*s/latest/api/token", (int)bl, base);
	long st = http_simple("PUT", buf_str(&url), hdrs, 2000, &body, &tmp);
	curl_slist_free_all(hdrs);
	hdrs = NULL;
	if (st != 200 || !body.len)
		goto out; /* not on EC2 (or IMDSv2 off): not an error of the chain */
	buf_printf(&th, "X-aws-ec2-metadata-token: %s", buf_str(&body));
	hdrs = curl_slist_append(NULL, buf_str(&th));
	buf_reset(&url);
	buf_printf(&url, "%.*s/latest/meta-data/iam/security-credentials/", (int)bl, base);
	st = http_simple("GET", buf_str(&url), hdrs, 2000, &body, err);
	if (st == 404)
		goto out; /* no role attached */
	if (st != 200 || !body.len) {
		if (st > 0)
			buf_printf(err, "instance metadata answered %ld for the role name", st);
		rc = -1;
		goto out;
	}
	char *nl = strchr(body.data, '\n');
	if (nl)
		buf_truncate(&body, (size_t)(nl - body.data));
	buf_adds(&url, buf_str(&body));
	st = http_simple("GET", buf_str(&url), hdrs, 2000, &body, err);
	if (st != 200) {
		if (st > 0)
			buf_printf(err, "instance metadata answered %ld for the role credentials", st);
		rc = -1;
		goto out;
	}
	rc = awscreds_parse_json(buf_str(&body), out, err);
	if (rc == 0)
		snprintf(out->source, sizeof(out->source), "imds");
out:
	if (body.data)
		memset(body.data, 0, body.len);
	buf_release(&body);
	buf_release(&url);
	buf_release(&tmp);
	buf_release(&th);
	curl_slist_free_all(hdrs);
	return rc;
}

/* Run the chain; 0 with `out` filled or -1 with a reason. */
static int chain_fetch(struct awscreds *p, struct aws_credentials *out, struct buf *err)
{
	if (awscreds_from_env(out) == 0)
		return 0;
	int rc = from_files(p->profile, out, err);
	if (rc <= 0)
		return rc;
	rc = from_container(out, err);
	if (rc <= 0)
		return rc;
	rc = from_imds(out, err);
	if (rc <= 0)
		return rc;
	buf_printf(err, "no aws credentials found (tried environment, profile '%s', container, "
			"instance metadata)",
		   p->profile ? p->profile : (getenv("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default"));
	return -1;
}

int awscreds_get(struct awscreds *p, struct aws_credentials *out, struct buf *err)
{
	pthread_mutex_lock(&p->lock);
	time_t now = time(NULL);
	bool stale = !p->have || (p->cur.expiration && now >= p->cur.expiration - REFRESH_MARGIN);
	if (stale && p->kind == PK_CHAIN) {
		struct aws_credentials fresh = { 0 };
		struct buf why = BUF_INIT;
		if (chain_fetch(p, &fresh, &why) == 0) {
			aws_credentials_clear(&p->cur);
			p->cur = fresh;
			p->have = true;
		} else if (p->have && (!p->cur.expiration || now < p->cur.expiration)) {
			log_warn("aws credentials: refresh failed, using the current ones until they expire: %s",
				 buf_str(&why));
		} else {
			p->have = false;
			buf_adds(err, buf_str(&why));
			buf_release(&why);
			pthread_mutex_unlock(&p->lock);
			return -1;
		}
		buf_release(&why);
	}
	if (!p->have) {
		buf_adds(err, "no aws credentials");
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	aws_credentials_copy(out, &p->cur);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void awscreds_invalidate(struct awscreds *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->kind == PK_CHAIN) {
		aws_credentials_clear(&p->cur);
		p->have = false;
	}
	pthread_mutex_unlock(&p->lock);
}
