#include "s3.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "timefmt.h"

#define MAX_PARTS 10000
#define MIN_PART (5 * 1024 * 1024)
#define DEFAULT_CT "binary/octet-stream"

struct s3 {
	char *bucket;
	char *region;
	char *endpoint;          /* scheme://host[:port][/base] the requests go to */
	bool path_style;
	int64_t part_size, threshold, concurrency, presign_expires;
	struct awscreds *creds;
	struct aws_client *client;
	struct secrets *sec;
	char *cred_ref;          /* credentials_secret, or NULL */
	pthread_mutex_t lock;
	bool creds_loaded;
};

static void set_err(struct aws_error *err, long status, const char *code, bool transient,
		    const char *msg)
{
	aws_error_set(err, status, code, transient, "%s", msg);
}

struct s3 *s3_new(const struct config *cfg, struct secrets *sec)
{
	struct s3 *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->bucket = xstrdup(cfg->s3.bucket ? cfg->s3.bucket : "");
	const char *region = cfg->s3.region && *cfg->s3.region ? cfg->s3.region : cfg->aws.region;
	s->region = xstrdup(region && *region ? region : "us-east-1");
	const char *custom = cfg->s3.endpoint_url && *cfg->s3.endpoint_url ? cfg->s3.endpoint_url
				: (cfg->aws.endpoint_url && *cfg->aws.endpoint_url ? cfg->aws.endpoint_url : NULL);
	struct buf ep = BUF_INIT;
	if (custom) {
		size_t l = strlen(custom);
		while (l && custom[l - 1] == '/')
			l--;
		buf_add(&ep, custom, l);
		s->path_style = true;
	} else {
		s->path_style = cfg->s3.force_path_style || strchr(s->bucket, '.') != NULL;
		if (s->path_style)
			buf_printf(&ep, "https://s3.%s.amazonaws.com", s->region);
		else
			buf_printf(&ep, "https://%s.s3.%s.amazonaws.com", s->bucket, s->region);
	}
	s->endpoint = buf_detach(&ep);
	s->part_size = cfg->s3.part_size >= MIN_PART ? cfg->s3.part_size : 8 * 1024 * 1024;
	s->threshold = cfg->s3.multipart_threshold > 0 ? cfg->s3.multipart_threshold : 16 * 1024 * 1024;
	s->concurrency = cfg->s3.upload_concurrency > 0 ? cfg->s3.upload_concurrency : 4;
	s->presign_expires = cfg->s3.presign_expires > 0 ? cfg->s3.presign_expires : 900;
	s->sec = sec;
	if (cfg->s3.credentials_secret && *cfg->s3.credentials_secret) {
		s->cred_ref = xstrdup(cfg->s3.credentials_secret);
		s->creds = awscreds_new_static("", "", NULL);
	} else {
		s->creds = awscreds_new(cfg);
		s->creds_loaded = true;
	}
	s->client = aws_client_new(cfg, s->creds);
	return s;
}

void s3_free(struct s3 *s)
{
	if (!s)
		return;
	aws_client_free(s->client);
	awscreds_free(s->creds);
	free(s->bucket);
	free(s->region);
	free(s->endpoint);
	free(s->cred_ref);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const char *s3_bucket(const struct s3 *s)
{
	return s->bucket;
}

/* Resolve the credentials secret into the static provider (force: refetch). */
static int load_secret_creds(struct s3 *s, bool force, struct aws_error *err)
{
	pthread_mutex_lock(&s->lock);
	if (s->creds_loaded && !force) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	struct buf val = BUF_INIT, why = BUF_INIT;
	int rc = -1;
	if (!s->sec) {
		set_err(err, 0, "NoCredentials", false, "s3 credentials_secret set but no secrets resolver");
		goto out;
	}
	if (force)
		secrets_invalidate(s->sec, s->cred_ref);
	if (secrets_get(s->sec, s->cred_ref, &val, &why) != 0) {
		set_err(err, 0, "NoCredentials", true, buf_str(&why));
		goto out;
	}
	struct s3_secret sc;
	if (s3_secret_parse(buf_str(&val), &sc, &why) != 0) {
		aws_error_set(err, 0, "NoCredentials", false, "secret '%s': %s", s->cred_ref, buf_str(&why));
		goto out;
	}
	awscreds_set_static(s->creds, sc.access_key_id, sc.secret_access_key, sc.session_token);
	s3_secret_free(&sc);
	s->creds_loaded = true;
	rc = 0;
out:
	if (val.data)
		memset(val.data, 0, val.len);
	buf_release(&val);
	buf_release(&why);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static bool is_auth_error(const struct aws_error *e)
{
	return e->status == 403 && (!strcmp(e->code, "InvalidAccessKeyId") ||
				    !strcmp(e->code, "SignatureDoesNotMatch") ||
				    !strcmp(e->code, "InvalidToken") || !strcmp(e->code, "ExpiredToken"));
}

/* aws_client_call plus lazy secret credentials and one refetch on rejection. */
static int s3_call(struct s3 *s, const struct aws_request *req, struct aws_response *resp,
		   struct aws_error *err)
{
	struct aws_error local;
	if (!err)
		err = &local;
	if (s->cred_ref && load_secret_creds(s, false, err) != 0)
		return -1;
	int rc = aws_client_call(s->client, req, resp, err);
	if (rc != 0 && s->cred_ref && is_auth_error(err)) {
		log_warn("s3: credentials from '%s' rejected (%s), refetching the secret", s->cred_ref,
			 err->code);
		if (load_secret_creds(s, true, err) != 0 || aws_request_rewind(req) != 0)
			return -1;
		rc = aws_client_call(s->client, req, resp, err);
	}
	return rc;
}

/* Wire path of `key` ("" for the bucket itself). */
static void object_path(const struct s3 *s, const char *key, struct buf *out)
{
	buf_reset(out);
	if (s->path_style) {
		buf_addc(out, '/');
		sigv4_uri_encode(out, s->bucket, strlen(s->bucket), false);
	}
	if (key) {
		buf_addc(out, '/');
		sigv4_uri_encode(out, key, strlen(key), true);
	} else if (!s->path_style) {
		buf_addc(out, '/');
	}
}

static void req_init(const struct s3 *s, struct aws_request *r, const char *method, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->endpoint = s->endpoint;
	r->path = path;
	r->region = s->region;
	r->service = "s3";
	r->sign_flags = SIGV4_S3;
}

int s3_put_buffer(struct s3 *s, const char *key, const void *data, size_t len,
		  const char *content_type, struct aws_error *err)
{
	struct buf path = BUF_INIT;
	object_path(s, key, &path);
	struct sigv4_header h = { "Content-Type", content_type ? content_type : DEFAULT_CT };
	struct aws_request r;
	req_init(s, &r, "PUT", buf_str(&path));
	r.headers = &h;
	r.nheaders = 1;
	r.body = data ? data : "";
	r.body_len = len;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	aws_response_release(&resp);
	buf_release(&path);
	return rc;
}

/* --- multipart primitives --- */

static int mp_create(struct s3 *s, const char *key, const char *ct, struct buf *upload_id,
		     struct aws_error *err)
{
	struct buf path = BUF_INIT;
	object_path(s, key, &path);
	struct sigv4_header h = { "Content-Type", ct ? ct : DEFAULT_CT };
	struct aws_request r;
	req_init(s, &r, "POST", buf_str(&path));
	r.query = "uploads=";
	r.headers = &h;
	r.nheaders = 1;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	if (rc == 0 && s3_multipart_parse_create(resp.body.data, resp.body.len, upload_id) != 0) {
		set_err(err, resp.status, "MalformedResponse", false, "CreateMultipartUpload: no UploadId");
		rc = -1;
	}
	aws_response_release(&resp);
	buf_release(&path);
	return rc;
}

int s3_multipart_parse_create(const char *xml, size_t len, struct buf *upload_id)
{
	return aws_xml_get(xml, len, "UploadId", upload_id);
}

int s3_multipart_parse_complete(const char *xml, size_t len, struct aws_error *err)
{
	/* CompleteMultipartUpload can fail inside a 200 answer. */
	if (!xml || !len || !aws_xml_find(xml, len, "Error", &(const char *){ NULL }, &(size_t){ 0 }))
		return 0;
	struct aws_error local;
	aws_error_parse(500, xml, len, NULL, err ? err : &local);
	return -1;
}

static void mp_query(struct buf *q, int part, const char *upload_id)
{
	buf_reset(q);
	if (part > 0)
		buf_printf(q, "partNumber=%d&", part);
	buf_adds(q, "uploadId=");
	sigv4_uri_encode(q, upload_id, strlen(upload_id), false);
}

/* Upload one part from memory; its ETag (as sent, with quotes) into etag. */
static int mp_part(struct s3 *s, const char *key, const char *upload_id, int part, const void *data,
		   size_t len, struct buf *etag, struct aws_error *err)
{
	struct buf path = BUF_INIT, q = BUF_INIT;
	object_path(s, key, &path);
	mp_query(&q, part, upload_id);
	struct aws_request r;
	req_init(s, &r, "PUT", buf_str(&path));
	r.query = buf_str(&q);
	r.body = data;
	r.body_len = len;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	if (rc == 0 && aws_response_header(&resp, "ETag", etag) != 0) {
		set_err(err, resp.status, "MalformedResponse", true, "UploadPart: no ETag");
		rc = -1;
	}
	aws_response_release(&resp);
	buf_release(&path);
	buf_release(&q);
	return rc;
}

static int mp_complete(struct s3 *s, const char *key, const char *upload_id, char **etags, int nparts,
		       struct aws_error *err)
{
	struct buf path = BUF_INIT, q = BUF_INIT, body = BUF_INIT;
	object_path(s, key, &path);
	mp_query(&q, 0, upload_id);
	buf_adds(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (int i = 0; i < nparts; i++) {
		buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
		for (const char *p = etags[i]; *p; p++) {
			if (*p == '"')
				buf_adds(&body, "&quot;");
			else if (*p == '&')
				buf_adds(&body, "&amp;");
			else
				buf_addc(&body, *p);
		}
		buf_adds(&body, "</ETag></Part>");
	}
	buf_adds(&body, "</CompleteMultipartUpload>");
	struct sigv4_header h = { "Content-Type", "application/xml" };
	struct aws_request r;
	req_init(s, &r, "POST", buf_str(&path));
	r.query = buf_str(&q);
	r.headers = &h;
	r.nheaders = 1;
	r.body = body.data;
	r.body_len = body.len;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	if (rc == 0)
		rc = s3_multipart_parse_complete(resp.body.data, resp.body.len, err);
	aws_response_release(&resp);
	buf_release(&path);
	buf_release(&q);
	buf_release(&body);
	return rc;
}

static void mp_abort(struct s3 *s, const char *key, const char *upload_id)
{
	struct buf path = BUF_INIT, q = BUF_INIT;
	object_path(s, key, &path);
	mp_query(&q, 0, upload_id);
	struct aws_request r;
	req_init(s, &r, "DELETE", buf_str(&path));
	r.query = buf_str(&q);
	struct aws_response resp;
	aws_response_init(&resp);
	struct aws_error e;
	if (s3_call(s, &r, &resp, &e) != 0) {
		struct buf m = BUF_INIT;
		aws_error_format(&e, &m);
		log_warn("s3: AbortMultipartUpload of '%s' failed: %s", key, buf_str(&m));
		buf_release(&m);
	}
	aws_response_release(&resp);
	buf_release(&path);
	buf_release(&q);
}

/* --- parallel multipart upload of a file --- */

struct mp_job {
	struct s3 *s;
	const char *key, *path, *upload_id;
	int64_t size, part_size;
	int nparts;
	char **etags;
	pthread_mutex_t lock;
	int next;                /* next part index to take */
	bool failed;
	struct aws_error err;
};

static void *mp_worker(void *arg)
{
	struct mp_job *j = arg;
	FILE *fp = fopen(j->path, "rb");
	char *chunk = xmalloc((size_t)j->part_size);
	struct buf etag = BUF_INIT;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		int idx = j->failed ? j->nparts : j->next++;
		pthread_mutex_unlock(&j->lock);
		if (idx >= j->nparts)
			break;
		struct aws_error e;
		aws_error_clear(&e);
		int64_t off = (int64_t)idx * j->part_size;
		size_t len = (size_t)(j->size - off < j->part_size ? j->size - off : j->part_size);
		bool ok = fp && fseeko(fp, (off_t)off, SEEK_SET) == 0 && fread(chunk, 1, len, fp) == len;
		if (!ok)
			aws_error_set(&e, 0, "LocalIOError", false, "reading '%s': %s", j->path, strerror(errno));
		else if (mp_part(j->s, j->key, j->upload_id, idx + 1, chunk, len, &etag, &e) == 0)
			j->etags[idx] = xstrdup(buf_str(&etag));
		else
			ok = false;
		if (!ok) {
			pthread_mutex_lock(&j->lock);
			if (!j->failed) {
				j->failed = true;
				j->err = e;
			}
			pthread_mutex_unlock(&j->lock);
			break;
		}
	}
	buf_release(&etag);
	free(chunk);
	if (fp)
		fclose(fp);
	aws_thread_cleanup();
	return NULL;
}

static int put_multipart(struct s3 *s, const char *key, const char *path, int64_t size,
			 const char *ct, struct aws_error *err)
{
	struct buf upload_id = BUF_INIT;
	if (mp_create(s, key, ct, &upload_id, err) != 0) {
		buf_release(&upload_id);
		return -1;
	}
	struct mp_job j;
	memset(&j, 0, sizeof(j));
	j.s = s;
	j.key = key;
	j.path = path;
	j.upload_id = buf_str(&upload_id);
	j.size = size;
	j.part_size = s->part_size;
	if ((size + j.part_size - 1) / j.part_size > MAX_PARTS)
		j.part_size = (size + MAX_PARTS - 1) / MAX_PARTS;
	j.nparts = (int)((size + j.part_size - 1) / j.part_size);
	j.etags = xcalloc((size_t)j.nparts, sizeof(char *));
	pthread_mutex_init(&j.lock, NULL);
	int nthreads = (int)(s->concurrency < j.nparts ? s->concurrency : j.nparts);
	pthread_t *th = xcalloc((size_t)nthreads, sizeof(*th));
	int started = 0;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, mp_worker, &j) != 0)
			break;
		started++;
	}
	if (!started)
		mp_worker(&j); /* no thread could start: do it here */
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	int rc = -1;
	if (j.failed) {
		if (err)
			*err = j.err;
	} else {
		rc = mp_complete(s, key, j.upload_id, j.etags, j.nparts, err);
	}
	if (rc != 0)
		mp_abort(s, key, j.upload_id);
	for (int i = 0; i < j.nparts; i++)
		free(j.etags[i]);
	free(j.etags);
	pthread_mutex_destroy(&j.lock);
	buf_release(&upload_id);
	return rc;
}

int s3_put_file(struct s3 *s, const char *key, const char *path, const char *content_type,
		struct aws_error *err)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		aws_error_set(err, 0, "LocalIOError", false, "'%s': %s", path,
			      errno ? strerror(errno) : "not a regular file");
		return -1;
	}
	if ((int64_t)st.st_size >= s->threshold)
		return put_multipart(s, key, path, (int64_t)st.st_size, content_type, err);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		aws_error_set(err, 0, "LocalIOError", false, "'%s': %s", path, strerror(errno));
		return -1;
	}
	char hex[65];
	if (sigv4_sha256_file(fp, 0, (int64_t)st.st_size, hex, NULL) != 0) {
		aws_error_set(err, 0, "LocalIOError", false, "reading '%s' failed", path);
		fclose(fp);
		return -1;
	}
	fseeko(fp, 0, SEEK_SET);
	struct buf opath = BUF_INIT;
	object_path(s, key, &opath);
	struct sigv4_header h = { "Content-Type", content_type ? content_type : DEFAULT_CT };
	struct aws_request r;
	req_init(s, &r, "PUT", buf_str(&opath));
	r.headers = &h;
	r.nheaders = 1;
	r.body_fp = fp;
	r.body_len = (size_t)st.st_size;
	r.payload_hash = hex;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	aws_response_release(&resp);
	buf_release(&opath);
	fclose(fp);
	return rc;
}

int s3_get_file(struct s3 *s, const char *key, const char *path, int64_t max, struct aws_error *err)
{
	FILE *fp = fopen(path, "w+b");
	if (!fp) {
		aws_error_set(err, 0, "LocalIOError", false, "'%s': %s", path, strerror(errno));
		return -1;
	}
	struct buf opath = BUF_INIT;
	object_path(s, key, &opath);
	struct aws_request r;
	req_init(s, &r, "GET", buf_str(&opath));
	r.out_fp = fp;
	r.out_max = max;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	if (fclose(fp) != 0 && rc == 0) {
		aws_error_set(err, 0, "LocalIOError", false, "writing '%s': %s", path, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(path);
	aws_response_release(&resp);
	buf_release(&opath);
	return rc;
}

static void copy_etag(char *dst, size_t cap, const char *src)
{
	size_t l = strlen(src);
	if (l >= 2 && src[0] == '"' && src[l - 1] == '"') {
		src++;
		l -= 2;
	}
	if (l >= cap)
		l = cap - 1;
	memcpy(dst, src, l);
	dst[l] = '\0';
}

int s3_head(struct s3 *s, const char *key, struct s3_object *out, struct aws_error *err)
{
	struct buf opath = BUF_INIT, v = BUF_INIT;
	object_path(s, key, &opath);
	struct aws_request r;
	req_init(s, &r, "HEAD", buf_str(&opath));
	struct aws_response resp;
	aws_response_init(&resp);
	struct aws_error local;
	struct aws_error *e = err ? err : &local;
	int rc = s3_call(s, &r, &resp, e);
	memset(out, 0, sizeof(*out));
	if (rc != 0 && e->status == 404) {
		rc = 1;
	} else if (rc == 0) {
		out->key = xstrdup(key);
		if (aws_response_header(&resp, "Content-Length", &v) == 0)
			out->size = strtoll(buf_str(&v), NULL, 10);
		if (aws_response_header(&resp, "ETag", &v) == 0)
			copy_etag(out->etag, sizeof(out->etag), buf_str(&v));
		if (aws_response_header(&resp, "Last-Modified", &v) == 0) {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			if (strptime(buf_str(&v), "%a, %d %b %Y %H:%M:%S", &tm))
				out->last_modified = timegm(&tm);
		}
	}
	aws_response_release(&resp);
	buf_release(&opath);
	buf_release(&v);
	return rc;
}

int s3_delete(struct s3 *s, const char *key, struct aws_error *err)
{
	struct buf opath = BUF_INIT;
	object_path(s, key, &opath);
	struct aws_request r;
	req_init(s, &r, "DELETE", buf_str(&opath));
	struct aws_response resp;
	aws_response_init(&resp);
	struct aws_error local;
	struct aws_error *e = err ? err : &local;
	int rc = s3_call(s, &r, &resp, e);
	if (rc != 0 && e->status == 404 && strcmp(e->code, "NoSuchBucket") != 0) {
		aws_error_clear(e);
		rc = 0;
	}
	aws_response_release(&resp);
	buf_release(&opath);
	return rc;
}

void s3_objects_free(struct s3_object *objs, size_t n)
{
	for (size_t i = 0; objs && i < n; i++)
		free(objs[i].key);
	free(objs);
}

void s3_listing_release(struct s3_listing *l)
{
	s3_objects_free(l->objs, l->nobjs);
	for (size_t i = 0; i < l->nprefixes; i++)
		free(l->prefixes[i]);
	free(l->prefixes);
	memset(l, 0, sizeof(*l));
}

int s3_list_parse(const char *xml, size_t len, struct s3_listing *l, int want_prefixes,
		  struct buf *token)
{
	const char *v, *p = xml;
	size_t vl;
	struct buf t = BUF_INIT;
	if (!xml)
		len = 0;
	while (xml && (p = aws_xml_find(p, len - (size_t)(p - xml), "Contents", &v, &vl))) {
		if (l->nobjs == l->objs_cap) {
			l->objs_cap = l->objs_cap ? l->objs_cap * 2 : 64;
			l->objs = xrealloc(l->objs, l->objs_cap * sizeof(*l->objs));
		}
		struct s3_object *o = &l->objs[l->nobjs];
		memset(o, 0, sizeof(*o));
		if (aws_xml_get(v, vl, "Key", &t) != 0)
			continue;
		o->key = xstrdup(buf_str(&t));
		if (aws_xml_get(v, vl, "Size", &t) == 0)
			o->size = strtoll(buf_str(&t), NULL, 10);
		if (aws_xml_get(v, vl, "ETag", &t) == 0)
			copy_etag(o->etag, sizeof(o->etag), buf_str(&t));
		if (aws_xml_get(v, vl, "LastModified", &t) == 0)
			timefmt_parse(buf_str(&t), &o->last_modified);
		l->nobjs++;
	}
	p = xml;
	while (xml && want_prefixes && (p = aws_xml_find(p, len - (size_t)(p - xml), "CommonPrefixes", &v, &vl))) {
		if (aws_xml_get(v, vl, "Prefix", &t) != 0)
			continue;
		if (l->nprefixes == l->prefixes_cap) {
			l->prefixes_cap = l->prefixes_cap ? l->prefixes_cap * 2 : 16;
			l->prefixes = xrealloc(l->prefixes, l->prefixes_cap * sizeof(*l->prefixes));
		}
		l->prefixes[l->nprefixes++] = xstrdup(buf_str(&t));
	}
	int rc = 0;
	/* an empty token would ask for the first page again, and again */
	if (aws_xml_get(xml, len, "IsTruncated", &t) == 0 && !strcmp(buf_str(&t), "true"))
		rc = aws_xml_get(xml, len, "NextContinuationToken", token) == 0 && token->len ? 1 : -1;
	buf_release(&t);
	return rc;
}

int s3_list(struct s3 *s, const char *prefix, const char *delimiter, struct s3_object **objs,
	    size_t *nobjs, char ***prefixes, size_t *nprefixes, struct aws_error *err)
{
	struct buf opath = BUF_INIT, q = BUF_INIT, token = BUF_INIT;
	object_path(s, NULL, &opath);
	struct s3_listing l = { 0 };
	int rc = 0;
	for (int page = 0;; page++) {
		buf_reset(&q);
		if (token.len) {
			buf_adds(&q, "continuation-token=");
			sigv4_uri_encode(&q, token.data, token.len, false);
			buf_addc(&q, '&');
		}
		if (delimiter && *delimiter) {
			buf_adds(&q, "delimiter=");
			sigv4_uri_encode(&q, delimiter, strlen(delimiter), false);
			buf_addc(&q, '&');
		}
		buf_adds(&q, "list-type=2");
		if (prefix && *prefix) {
			buf_adds(&q, "&prefix=");
			sigv4_uri_encode(&q, prefix, strlen(prefix), false);
		}
		struct aws_request r;
		req_init(s, &r, "GET", buf_str(&opath));
		r.query = buf_str(&q);
		struct aws_response resp;
		aws_response_init(&resp);
		rc = s3_call(s, &r, &resp, err);
		int more = 0;
		if (rc == 0)
			more = s3_list_parse(resp.body.data, resp.body.len, &l, prefixes != NULL, &token);
		if (more < 0) {
			set_err(err, resp.status, "MalformedResponse", false,
				"ListObjectsV2: truncated page without NextContinuationToken");
			rc = -1;
		}
		aws_response_release(&resp);
		if (rc != 0 || !more)
			break;
	}
	buf_release(&opath);
	buf_release(&q);
	buf_release(&token);
	if (rc != 0) {
		s3_listing_release(&l);
		return -1;
	}
	*objs = l.objs;
	*nobjs = l.nobjs;
	if (prefixes) {
		*prefixes = l.prefixes;
		if (nprefixes)
			*nprefixes = l.nprefixes;
	}
	return 0;
}

/* A presigned URL for `method` on `key` that also signs the `nheaders` of `headers`. */
static int presign(struct s3 *s, const char *method, const char *key, const struct sigv4_header *headers,
		   size_t nheaders, int64_t expires, struct buf *url, time_t *expires_at, struct aws_error *err)
{
	if (s->cred_ref && load_secret_creds(s, false, err) != 0)
		return -1;
	struct aws_credentials cr = { 0 };
	struct buf why = BUF_INIT;
	if (awscreds_get(s->creds, &cr, &why) != 0) {
		set_err(err, 0, "NoCredentials", true, buf_str(&why));
		buf_release(&why);
		return -1;
	}
	time_t now = time(NULL);
	if (expires <= 0)
		expires = s->presign_expires;
	if (expires > SIGV4_MAX_PRESIGN_EXPIRES)
		expires = SIGV4_MAX_PRESIGN_EXPIRES;
	if (cr.expiration) {
		int64_t left = (int64_t)(cr.expiration - now);
		if (left <= 0) {
			set_err(err, 0, "ExpiredToken", true, "credentials have expired");
			aws_credentials_clear(&cr);
			buf_release(&why);
			return -1;
		}
		if (expires > left)
			expires = left;
	}
	struct buf sh = BUF_INIT, host = BUF_INIT, base = BUF_INIT, opath = BUF_INIT, full = BUF_INIT;
	aws_endpoint_split(s->endpoint, &sh, &host, &base);
	object_path(s, key, &opath);
	buf_printf(&full, "%s%s", buf_str(&base), buf_str(&opath));
	struct sigv4_creds sc = { cr.access_key_id, cr.secret_access_key, cr.session_token };
	struct sigv4_params sp = { s->region, "s3", now, SIGV4_S3, expires };
	struct sigv4_request sr = { method, buf_str(&host), buf_str(&full), NULL, headers, nheaders, NULL, 0, NULL };
	struct sigv4_out so;
	sigv4_out_init(&so);
	int rc = sigv4_presign(&sc, &sp, &sr, &so);
	if (rc == 0) {
		buf_reset(url);
		buf_printf(url, "%s%s?%s", buf_str(&sh), buf_str(&full), buf_str(&so.query));
		if (expires_at)
			*expires_at = now + (time_t)expires;
	} else {
		set_err(err, 0, "InvalidRequest", false, "cannot presign");
	}
	sigv4_out_release(&so);
	aws_credentials_clear(&cr);
	buf_release(&why);
	buf_release(&sh);
	buf_release(&host);
	buf_release(&base);
	buf_release(&opath);
	buf_release(&full);
	return rc;
}

int s3_presign(struct s3 *s, const char *method, const char *key, int64_t expires, struct buf *url,
	       time_t *expires_at, struct aws_error *err)
{
	return presign(s, method, key, NULL, 0, expires, url, expires_at, err);
}

int s3_presign_put(struct s3 *s, const char *key, int64_t size, int64_t expires, struct buf *url,
		   time_t *expires_at, struct aws_error *err)
{
	char len[24];
	if (size < 0) {
		set_err(err, 0, "InvalidRequest", false, "cannot presign a negative size");
		return -1;
	}
	snprintf(len, sizeof(len), "%lld", (long long)size);
	const struct sigv4_header h = { "content-length", len };
	return presign(s, "PUT", key, &h, 1, expires, url, expires_at, err);
}

/* --- streaming upload --- */

struct s3_upload {
	struct s3 *s;
	char *key;
	char *content_type;
	struct buf upload_id;    /* empty until the first part goes */
	struct buf pending;      /* bytes not yet sent; `buffer` allocated at the first */
	char **etags;
	int nparts, cap;
	int64_t total;
	int64_t size;            /* announced, -1 unknown */
	size_t buffer;           /* s3_upload_buffer(s, size) */
};

int64_t s3_upload_buffer(const struct s3 *s, int64_t size)
{
	return size >= 0 && size < s->part_size ? size : s->part_size;
}

struct s3_upload *s3_upload_begin(struct s3 *s, const char *key, const char *content_type, int64_t size,
				  struct aws_error *err)
{
	(void)err;
	struct s3_upload *u = xcalloc(1, sizeof(*u));
	u->s = s;
	u->size = size;
	u->buffer = (size_t)s3_upload_buffer(s, size);
	u->key = xstrdup(key);
	u->content_type = xstrdup(content_type ? content_type : DEFAULT_CT);
	buf_init(&u->upload_id);
	buf_init(&u->pending);
	return u;
}

int64_t s3_upload_size(const struct s3_upload *u)
{
	return u->total;
}

/* Send pending[0 .. len) as the next part. */
static int upload_send(struct s3_upload *u, size_t len, struct aws_error *err)
{
	if (!u->upload_id.len && mp_create(u->s, u->key, u->content_type, &u->upload_id, err) != 0)
		return -1;
	if (u->nparts >= MAX_PARTS) {
		set_err(err, 0, "EntityTooLarge", false, "upload exceeds 10000 parts");
		return -1;
	}
	struct buf etag = BUF_INIT;
	int rc = mp_part(u->s, u->key, buf_str(&u->upload_id), u->nparts + 1, u->pending.data, len,
			 &etag, err);
	if (rc == 0) {
		if (u->nparts == u->cap) {
			u->cap = u->cap ? u->cap * 2 : 16;
			u->etags = xrealloc(u->etags, (size_t)u->cap * sizeof(char *));
		}
		u->etags[u->nparts++] = buf_detach(&etag);
		memmove(u->pending.data, u->pending.data + len, u->pending.len - len);
		buf_truncate(&u->pending, u->pending.len - len);
	}
	buf_release(&etag);
	return rc;
}

int s3_upload_part(struct s3_upload *u, const void *data, size_t len, struct aws_error *err)
{
	size_t ps = (size_t)u->s->part_size;
	const char *p = data;
	if (u->size >= 0 && (int64_t)len > u->size - u->total) {
		aws_error_set(err, 0, "IncompleteBody", 0, "more bytes than the %lld announced", (long long)u->size);
		return -1;
	}
	if (len && !u->pending.data)
		buf_reserve(&u->pending, u->buffer); /* once, exactly: no growth by doubling */
	while (len) {
		size_t room = ps - u->pending.len;
		size_t take = len < room ? len : room;
		buf_add(&u->pending, p, take);
		p += take;
		len -= take;
		u->total += (int64_t)take;
		if (u->pending.len >= ps && upload_send(u, ps, err) != 0)
			return -1;
	}
	return 0;
}

static void upload_free(struct s3_upload *u)
{
	for (int i = 0; i < u->nparts; i++)
		free(u->etags[i]);
	free(u->etags);
	free(u->key);
	free(u->content_type);
	buf_release(&u->upload_id);
	buf_release(&u->pending);
	free(u);
}

int s3_upload_complete(struct s3_upload *u, struct aws_error *err)
{
	int rc;
	if (!u->upload_id.len) {
		/* Never reached a full part: one plain PUT. */
		rc = s3_put_buffer(u->s, u->key, u->pending.data, u->pending.len, u->content_type, err);
	} else {
		rc = 0;
		if (u->pending.len)
			rc = upload_send(u, u->pending.len, err);
		if (rc == 0)
			rc = mp_complete(u->s, u->key, buf_str(&u->upload_id), u->etags, u->nparts, err);
		if (rc != 0)
			mp_abort(u->s, u->key, buf_str(&u->upload_id));
	}
	upload_free(u);
	return rc;
}

void s3_upload_abort(struct s3_upload *u)
{
	if (!u)
		return;
	if (u->upload_id.len)
		mp_abort(u->s, u->key, buf_str(&u->upload_id));
	upload_free(u);
}

int s3_ping(struct s3 *s, struct aws_error *err)
{
	struct buf opath = BUF_INIT;
	object_path(s, NULL, &opath);
	struct aws_request r;
	req_init(s, &r, "HEAD", buf_str(&opath));
	r.max_attempts = 1;
	struct aws_response resp;
	aws_response_init(&resp);
	int rc = s3_call(s, &r, &resp, err);
	aws_response_release(&resp);
	buf_release(&opath);
	return rc;
}
