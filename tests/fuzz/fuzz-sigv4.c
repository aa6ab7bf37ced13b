/*
 * fuzz-sigv4 — the SigV4 encoders on arbitrary wire paths and queries (S3 keys
 * and presigned-URL queries come from users): canonical URI both ways, canonical
 * query, and encode/decode round trips. Then a whole signature of the request.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* input: path, then an optional NUL and the query */
	const char *raw = (const char *)data;
	const char *nul = memchr(raw, '\0', size);
	size_t plen = nul ? (size_t)(nul - raw) : size;
	char *path = xstrndup(raw, plen);
	char *query = nul ? xstrndup(nul + 1, size - plen - 1) : NULL;
	struct buf a = BUF_INIT, b = BUF_INIT;

	sigv4_canonical_uri(&a, path, SIGV4_S3);
	buf_reset(&a);
	sigv4_canonical_uri(&a, path, 0);
	buf_reset(&a);
	sigv4_canonical_query(&a, query ? query : path);
	buf_reset(&a);

	/* encoding then decoding gives the bytes back (up to the first NUL) */
	sigv4_uri_encode(&a, path, plen, false);
	sigv4_uri_decode(&b, a.data ? a.data : "", a.len);
	if (b.len != plen || memcmp(buf_str(&b), path, plen))
		abort();
	buf_reset(&a);
	buf_reset(&b);
	sigv4_uri_encode(&a, path, plen, true);
	sigv4_uri_decode(&b, a.data ? a.data : "", a.len);
	if (b.len != plen || memcmp(buf_str(&b), path, plen))
		abort();

	struct buf wire = BUF_INIT;
	buf_addc(&wire, '/');
	buf_add(&wire, path, plen);
	struct sigv4_creds creds = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL };
	struct sigv4_params p = { "us-east-1", "s3", 1440938160, SIGV4_S3, 900 };
	struct sigv4_request req = { .method = "GET", .host = "bucket.example.com", .path = buf_str(&wire),
				     .query = query };
	struct sigv4_out out;
	sigv4_out_init(&out);
	sigv4_sign(&creds, &p, &req, &out);
	sigv4_out_release(&out);
	sigv4_out_init(&out);
	p.service = "secretsmanager";
	p.flags = 0;
	sigv4_presign(&creds, &p, &req, &out);
	sigv4_out_release(&out);

	buf_release(&wire);
	buf_release(&a);
	buf_release(&b);
	free(path);
	free(query);
	return 0;
}
