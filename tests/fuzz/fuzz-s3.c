/*
 * fuzz-s3 — S3's XML answers as s3_list and the multipart upload read them:
 * s3_list_parse() on the input taken as two pages of one listing (with and
 * without common prefixes), s3_multipart_parse_create() and
 * s3_multipart_parse_complete(). The input is copied into a buffer of its exact
 * size, so that reading past the answer is caught.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_listing(const struct s3_listing *l)
{
	if (l->nobjs > l->objs_cap || l->nprefixes > l->prefixes_cap)
		abort();
	for (size_t i = 0; i < l->nobjs; i++)
		if (!l->objs[i].key || !memchr(l->objs[i].etag, '\0', sizeof(l->objs[i].etag)))
			abort();
	for (size_t i = 0; i < l->nprefixes; i++)
		if (!l->prefixes[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *x = size ? xmalloc(size) : NULL;
	if (size)
		memcpy(x, data, size);

	struct s3_listing l = { 0 };
	struct buf token = BUF_INIT;
	int rc = s3_list_parse(x, size, &l, 1, &token);
	/* a listing goes on only with a token that moves it on */
	if (rc < -1 || rc > 1 || (rc == 1 && (token.len == 0 || token.len > size)))
		abort();
	check_listing(&l);
	size_t nobjs = l.nobjs, nprefixes = l.nprefixes;
	/* a second page only adds to the listing */
	s3_list_parse(x, size, &l, 0, &token);
	check_listing(&l);
	if (l.nobjs != 2 * nobjs || l.nprefixes != nprefixes)
		abort();
	s3_listing_release(&l);
	if (l.objs || l.prefixes || l.nobjs || l.nprefixes)
		abort();

	if (s3_multipart_parse_create(x, size, &token) == 0 && token.len > size)
		abort();
	struct aws_error e;
	memset(&e, 0, sizeof(e));
	if (s3_multipart_parse_complete(x, size, &e) != 0 && (e.status != 500 || !*e.code))
		abort();
	s3_multipart_parse_complete(x, size, NULL);
	buf_release(&token);
	free(x);
	return 0;
}
