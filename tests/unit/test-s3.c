/* Unit tests for s3's reading of its XML answers: ListObjectsV2 pages, multipart uploads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "s3.h"

static void test_list_parse(void **state)
{
	(void)state;
	const char *page1 =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>media</Name><Prefix>results/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
		"<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>results/a &amp; b.mp4</Key><LastModified>2024-05-01T12:00:00.000Z</LastModified>"
		"<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1048576</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Size>1</Size></Contents>"
		"<Contents><Key>results/thumb.jpg</Key><Size>20</Size></Contents>"
		"<CommonPrefixes><Prefix>results/x/</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	struct s3_listing l = { 0 };
	struct buf token = BUF_INIT;
	assert_int_equal(s3_list_parse(page1, strlen(page1), &l, 1, &token), 1);
	assert_string_equal(buf_str(&token), "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_int_equal(l.nobjs, 2); /* the Contents without a Key is skipped */
	assert_string_equal(l.objs[0].key, "results/a & b.mp4");
	assert_int_equal(l.objs[0].size, 1048576);
	assert_string_equal(l.objs[0].etag, "9b2cf535f27731c974343645a3985328");
	assert_int_equal(l.objs[0].last_modified, 1714564800);
	assert_string_equal(l.objs[1].key, "results/thumb.jpg");
	assert_int_equal(l.nprefixes, 1);
	assert_string_equal(l.prefixes[0], "results/x/");

	const char *page2 = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<Contents><Key>results/z</Key></Contents>"
			    "<CommonPrefixes><Prefix>results/y/</Prefix></CommonPrefixes></ListBucketResult>";
	assert_int_equal(s3_list_parse(page2, strlen(page2), &l, 0, &token), 0);
	assert_int_equal(l.nobjs, 3);
	assert_int_equal(l.nprefixes, 1); /* prefixes not asked for */
	s3_listing_release(&l);
	assert_null(l.objs);
	assert_int_equal(l.nobjs, 0);

	const char *no_token = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
	assert_int_equal(s3_list_parse(no_token, strlen(no_token), &l, 1, &token), -1);
	/* an empty token would ask for the first page again: s3_list would never end */
	const char *empty_token = "<ListBucketResult><IsTruncated>true</IsTruncated>"
				  "<NextContinuationToken></NextContinuationToken></ListBucketResult>";
	assert_int_equal(s3_list_parse(empty_token, strlen(empty_token), &l, 1, &token), -1);
	assert_int_equal(s3_list_parse(NULL, 0, &l, 1, &token), 0);
	assert_int_equal(l.nobjs, 0);
	s3_listing_release(&l);
	buf_release(&token);
}

static void test_multipart_parse(void **state)
{
	(void)state;
	const char *created = "<InitiateMultipartUploadResult><Bucket>media</Bucket><Key>k</Key>"
			      "<UploadId>VXBsb2FkIElE&amp;x</UploadId></InitiateMultipartUploadResult>";
	struct buf id = BUF_INIT;
	assert_int_equal(s3_multipart_parse_create(created, strlen(created), &id), 0);
	assert_string_equal(buf_str(&id), "VXBsb2FkIElE&x");
	assert_int_equal(s3_multipart_parse_create("<Bucket>media</Bucket>", 22, &id), -1);
	assert_int_equal(s3_multipart_parse_create(NULL, 0, &id), -1);
	buf_release(&id);

	const char *done = "<CompleteMultipartUploadResult><Location>http://h/media/k</Location>"
			   "<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag></CompleteMultipartUploadResult>";
	struct aws_error e;
	assert_int_equal(s3_multipart_parse_complete(done, strlen(done), &e), 0);
	assert_int_equal(s3_multipart_parse_complete(NULL, 0, &e), 0);
	const char *failed = "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>"
			     "<Message>We encountered an internal error. Please try again.</Message></Error>";
	assert_int_equal(s3_multipart_parse_complete(failed, strlen(failed), &e), -1);
	assert_int_equal(e.status, 500);
	assert_string_equal(e.code, "InternalError");
	assert_true(e.transient);
	/* the caller may not want the error */
	assert_int_equal(s3_multipart_parse_complete(failed, strlen(failed), NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_multipart_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
