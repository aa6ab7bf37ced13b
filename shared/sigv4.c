#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char hexdig[] = "0123456789abcdef";
static const char HEXDIG[] = "0123456789ABCDEF";

void sigv4_out_init(struct sigv4_out *out)
{
	memset(out, 0, sizeof(*out));
	buf_init(&out->canonical_request);
	buf_init(&out->string_to_sign);
	buf_init(&out->signed_headers);
	buf_init(&out->authorization);
	buf_init(&out->query);
}

void sigv4_out_release(struct sigv4_out *out)
{
	buf_release(&out->canonical_request);
	buf_release(&out->string_to_sign);
	buf_release(&out->signed_headers);
	buf_release(&out->authorization);
	buf_release(&out->query);
}

static bool is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			buf_addc(out, (char)c);
		} else {
			char e[3] = { '%', HEXDIG[c >> 4], HEXDIG[c & 15] };
			buf_add(out, e, 3);
		}
	}
}

void sigv4_uri_decode(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			buf_addc(out, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		} else {
			buf_addc(out, s[i]);
		}
	}
}

static void digest_hex(const unsigned char md[32], char hex[65])
{
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = hexdig[md[i] >> 4];
		hex[2 * i + 1] = hexdig[md[i] & 15];
	}
	hex[64] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	digest_hex(md, hex);
}

int sigv4_sha256_file(FILE *fp, int64_t off, int64_t len, char hex[65], int64_t *size)
{
	if (fseeko(fp, (off_t)off, SEEK_SET) != 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	char *chunk = xmalloc(64 * 1024);
	int64_t got = 0;
	int rc = 0;
	while (len < 0 || got < len) {
		size_t want = len < 0 || len - got > 64 * 1024 ? 64 * 1024 : (size_t)(len - got);
		size_t n = fread(chunk, 1, want, fp);
		if (n == 0) {
			if (ferror(fp) || len >= 0)
				rc = -1;
			break;
		}
		EVP_DigestUpdate(ctx, chunk, n);
		got += (int64_t)n;
	}
	unsigned char md[32];
	unsigned int ml = 0;
	EVP_DigestFinal_ex(ctx, md, &ml);
	EVP_MD_CTX_free(ctx);
	free(chunk);
	digest_hex(md, hex);
	if (size)
		*size = got;
	return rc;
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
	unsigned int olen = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen);
}

/* Remove empty and dot segments: "//a/./b/../c/" -> "/a/c/". */
static void normalize_path(struct buf *out, const char *path)
{
	size_t n = strlen(path);
	size_t *starts = xmalloc((n + 1) * sizeof(*starts));
	size_t *lens = xmalloc((n + 1) * sizeof(*lens));
	size_t nseg = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t l = (size_t)(e - p);
		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* skip */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else {
			starts[nseg] = (size_t)(p - path);
			lens[nseg] = l;
			nseg++;
		}
		p = e;
	}
	buf_addc(out, '/');
	for (size_t i = 0; i < nseg; i++) {
		if (i)
			buf_addc(out, '/');
		buf_add(out, path + starts[i], lens[i]);
	}
	if (nseg && n && path[n - 1] == '/')
		buf_addc(out, '/');
	free(starts);
	free(lens);
}

void sigv4_canonical_uri(struct buf *out, const char *path, unsigned flags)
{
	if (!path || !*path) {
		buf_addc(out, '/');
		return;
	}
	if (flags & SIGV4_S3) {
		for (const char *p = path; *p; p++) {
			unsigned char c = (unsigned char)*p;
			if (is_unreserved(c) || c == '/' ||
			    (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0))
				buf_addc(out, (char)c);
			else
				sigv4_uri_encode(out, p, 1, false);
		}
		return;
	}
	struct buf norm = BUF_INIT;
	normalize_path(&norm, path);
	sigv4_uri_encode(out, norm.data, norm.len, true);
	buf_release(&norm);
}

struct qparam {
	char *key;
	char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

void sigv4_canonical_query(struct buf *out, const char *query)
{
	if (!query || !*query)
		return;
	size_t cap = 1;
	for (const char *p = query; *p; p++)
		cap += *p == '&';
	struct qparam *qp = xcalloc(cap, sizeof(*qp));
	size_t n = 0;
	const char *p = query;
	while (*p) {
		const char *e = strchr(p, '&');
		if (!e)
			e = p + strlen(p);
		if (e > p) {
			const char *eq = memchr(p, '=', (size_t)(e - p));
			const char *kend = eq ? eq : e;
			struct buf raw = BUF_INIT, enc = BUF_INIT;
			sigv4_uri_decode(&raw, p, (size_t)(kend - p));
			sigv4_uri_encode(&enc, buf_str(&raw), raw.len, false);
			qp[n].key = buf_detach(&enc);
			buf_reset(&raw);
			if (eq)
				sigv4_uri_decode(&raw, eq + 1, (size_t)(e - eq - 1));
			sigv4_uri_encode(&enc, buf_str(&raw), raw.len, false);
			qp[n].value = buf_detach(&enc);
			buf_release(&raw);
			n++;
		}
		p = *e ? e + 1 : e;
	}
	qsort(qp, n, sizeof(*qp), qparam_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(out, '&');
		buf_printf(out, "%s=%s", qp[i].key, qp[i].value);
		free(qp[i].key);
		free(qp[i].value);
	}
	free(qp);
}

struct chdr {
	char *name;  /* lower-case */
	char *value; /* trimmed, inner runs of blanks collapsed */
	size_t order;
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static char *trim_collapse(const char *s)
{
	struct buf b = BUF_INIT;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	bool space = false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
			space = true;
			continue;
		}
		if (space && b.len)
			buf_addc(&b, ' ');
		space = false;
		buf_addc(&b, *s);
	}
	return buf_detach(&b);
}

/*
 * Build the canonical request and string to sign and compute the signature.
 * `extra` are headers the signer itself adds (x-amz-date etc.), signed too.
 * `query` is the full wire query to canonicalise.
 */
static void sign_core(const struct sigv4_creds *creds, const struct sigv4_params *p,
		      const struct sigv4_request *req, const struct sigv4_header *extra,
		      size_t nextra, const char *query, struct sigv4_out *out)
{
	size_t total = 1 + req->nheaders + nextra;
	struct chdr *h = xcalloc(total, sizeof(*h));
	size_t n = 0;
	h[n].name = xstrdup("host");
	h[n].value = trim_collapse(req->host ? req->host : "");
	h[n].order = n;
	n++;
	for (size_t i = 0; i < req->nheaders + nextra; i++) {
		const struct sigv4_header *src = i < req->nheaders ? &req->headers[i]
								  : &extra[i - req->nheaders];
		if (!strcasecmp(src->name, "host"))
			continue;
		h[n].name = lower_dup(src->name);
		h[n].value = trim_collapse(src->value ? src->value : "");
		h[n].order = n;
		n++;
	}
	qsort(h, n, sizeof(*h), chdr_cmp);

	struct buf *cr = &out->canonical_request;
	buf_reset(cr);
	buf_printf(cr, "%s\n", req->method);
	sigv4_canonical_uri(cr, req->path, p->flags);
	buf_addc(cr, '\n');
	sigv4_canonical_query(cr, query);
	buf_addc(cr, '\n');
	buf_reset(&out->signed_headers);
	for (size_t i = 0; i < n; i++) {
		bool same_as_prev = i && !strcmp(h[i].name, h[i - 1].name);
		if (same_as_prev) {
			buf_printf(cr, ",%s", h[i].value);
		} else {
			if (i)
				buf_addc(cr, '\n');
			buf_printf(cr, "%s:%s", h[i].name, h[i].value);
			if (out->signed_headers.len)
				buf_addc(&out->signed_headers, ';');
			buf_adds(&out->signed_headers, h[i].name);
		}
	}
	buf_printf(cr, "\n\n%s\n%s", buf_str(&out->signed_headers), out->payload_hash);
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);

	char crhash[65];
	sigv4_sha256_hex(cr->data, cr->len, crhash);
	struct buf *sts = &out->string_to_sign;
	buf_reset(sts);
	buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", out->amz_date,
		   out->amz_date, p->region, p->service, crhash);

	unsigned char k[32];
	struct buf secret = BUF_INIT;
	buf_printf(&secret, "AWS4%s", creds->secret_access_key ? creds->secret_access_key : "");
	hmac(secret.data, secret.len, out->amz_date, 8, k);
	/* Overwrite the copy of the secret before freeing it. */
	memset(secret.data, 0, secret.len);
	buf_release(&secret);
	hmac(k, 32, p->region, strlen(p->region), k);
	hmac(k, 32, p->service, strlen(p->service), k);
	hmac(k, 32, "aws4_request", 12, k);
	unsigned char sig[32];
	hmac(k, 32, sts->data, sts->len, sig);
	for (int i = 0; i < 32; i++) {
		out->signature[2 * i] = hexdig[sig[i] >> 4];
		out->signature[2 * i + 1] = hexdig[sig[i] & 15];
	}
	out->signature[64] = '\0';
}

static bool has_token(const struct sigv4_creds *c)
{
	return c->session_token && *c->session_token;
}

int sigv4_sign(const struct sigv4_creds *creds, const struct sigv4_params *p,
	       const struct sigv4_request *req, struct sigv4_out *out)
{
	if (!req->method || !req->host || !p->region || !p->service)
		return -1;
	sigv4_amz_date(p->now, out->amz_date);
	if (req->payload_hash)
		snprintf(out->payload_hash, sizeof(out->payload_hash), "%s", req->payload_hash);
	else
		sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
				 out->payload_hash);

	struct sigv4_header extra[3];
	size_t nextra = 0;
	extra[nextra++] = (struct sigv4_header){ "x-amz-date", out->amz_date };
	if (has_token(creds))
		extra[nextra++] = (struct sigv4_header){ "x-amz-security-token", creds->session_token };
	if ((p->flags & SIGV4_S3) && !(p->flags & SIGV4_NO_CONTENT_SHA))
		extra[nextra++] = (struct sigv4_header){ "x-amz-content-sha256", out->payload_hash };
	sign_core(creds, p, req, extra, nextra, req->query, out);

	buf_reset(&out->authorization);
	buf_printf(&out->authorization,
		   "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		   creds->access_key_id, out->amz_date, p->region, p->service,
		   buf_str(&out->signed_headers), out->signature);
	return 0;
}

/* Append "&name=value" (value encoded) to a wire query. */
static void query_add(struct buf *q, const char *name, const char *value)
{
	if (q->len)
		buf_addc(q, '&');
	buf_printf(q, "%s=", name);
	sigv4_uri_encode(q, value, strlen(value), false);
}

int sigv4_presign(const struct sigv4_creds *creds, const struct sigv4_params *p,
		  const struct sigv4_request *req, struct sigv4_out *out)
{
	if (!req->method || !req->host || !p->region || !p->service)
		return -1;
	if (p->expires < 1 || p->expires > SIGV4_MAX_PRESIGN_EXPIRES)
		return -1;
	sigv4_amz_date(p->now, out->amz_date);
	if (req->payload_hash)
		snprintf(out->payload_hash, sizeof(out->payload_hash), "%s", req->payload_hash);
	else if (p->flags & SIGV4_S3)
		snprintf(out->payload_hash, sizeof(out->payload_hash), "%s", SIGV4_UNSIGNED_PAYLOAD);
	else
		sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0,
				 out->payload_hash);

	/* Signed header names are known before signing: host plus the request's. */
	struct buf names = BUF_INIT;
	{
		struct sigv4_out tmp;
		sigv4_out_init(&tmp);
		memcpy(tmp.amz_date, out->amz_date, sizeof(tmp.amz_date));
		memcpy(tmp.payload_hash, out->payload_hash, sizeof(tmp.payload_hash));
		sign_core(creds, p, req, NULL, 0, NULL, &tmp);
		buf_adds(&names, buf_str(&tmp.signed_headers));
		sigv4_out_release(&tmp);
	}

	struct buf *q = &out->query;
	buf_reset(q);
	if (req->query && *req->query)
		buf_adds(q, req->query);
	struct buf cred = BUF_INIT;
	buf_printf(&cred, "%s/%.8s/%s/%s/aws4_request", creds->access_key_id, out->amz_date,
		   p->region, p->service);
	char exp[24];
	snprintf(exp, sizeof(exp), "%lld", (long long)p->expires);
	query_add(q, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
	query_add(q, "X-Amz-Credential", buf_str(&cred));
	query_add(q, "X-Amz-Date", out->amz_date);
	query_add(q, "X-Amz-Expires", exp);
	if (has_token(creds))
		query_add(q, "X-Amz-Security-Token", creds->session_token);
	query_add(q, "X-Amz-SignedHeaders", buf_str(&names));
	buf_release(&cred);
	buf_release(&names);

	sign_core(creds, p, req, NULL, 0, buf_str(q), out);
	buf_printf(q, "&X-Amz-Signature=%s", out->signature);
	buf_reset(&out->authorization);
	return 0;
}
