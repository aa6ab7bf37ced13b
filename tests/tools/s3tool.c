/*
 * s3tool — drive the S3 client of libspool from the shell, for tests.
 *   s3tool -f CONFIG put KEY FILE | get KEY FILE [MAX] | head KEY | rm KEY
 * CONFIG is any Spool INI file (its [s3], [aws] and [secrets] sections are used;
 * default: $SPOOL_ADMINCTL_CONFIG). `head` prints {"key","size","etag","last_modified"};
 * `get` with MAX refuses an object longer than MAX bytes.
 * Exit 0 ok, 1 the S3 call failed (message on stderr), 2 usage, 3 `head` of a
 * missing key, 78 bad config.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "s3.h"
#include "secrets.h"

static int usage(void)
{
	fputs("usage: s3tool [-f config] put KEY FILE | get KEY FILE [MAX] | head KEY | rm KEY\n", stderr);
	return 2;
}

/* Load `path` for whichever program its sections say (adminctl, worker, then api). */
static int load_config(struct config *cfg, const char *path)
{
	static const unsigned progs[] = { PROG_ADMINCTL, PROG_WORKER, PROG_API };
	struct buf err = BUF_INIT;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		buf_reset(&err);
		if (config_load(cfg, path, progs[i], &err) == 0) {
			buf_release(&err);
			return 0;
		}
		config_free(cfg);
	}
	fputs(buf_str(&err), stderr);
	buf_release(&err);
	return -1;
}

static int run(struct s3 *s3, int argc, char **argv)
{
	struct aws_error e;
	const char *cmd = argv[0];
	int rc = -1;
	aws_error_clear(&e);
	if (!strcmp(cmd, "put") && argc == 3) {
		rc = s3_put_file(s3, argv[1], argv[2], NULL, &e);
	} else if (!strcmp(cmd, "get") && (argc == 3 || argc == 4)) {
		rc = s3_get_file(s3, argv[1], argv[2], argc == 4 ? strtoll(argv[3], NULL, 10) : 0, &e);
	} else if (!strcmp(cmd, "rm") && argc == 2) {
		rc = s3_delete(s3, argv[1], &e);
	} else if (!strcmp(cmd, "head") && argc == 2) {
		struct s3_object o = { 0 };
		rc = s3_head(s3, argv[1], &o, &e);
		if (rc == 0)
			printf("{\"key\":\"%s\",\"size\":%" PRId64 ",\"etag\":\"%s\",\"last_modified\":%lld}\n", argv[1],
			       o.size, o.etag, (long long)o.last_modified);
		free(o.key);
		if (rc == 1) {
			fprintf(stderr, "s3tool: no object '%s'\n", argv[1]);
			return 3;
		}
	} else {
		return usage();
	}
	if (rc < 0) {
		struct buf msg = BUF_INIT;
		aws_error_format(&e, &msg);
		fprintf(stderr, "s3tool: %s %s: %s\n", cmd, argv[1], buf_str(&msg));
		buf_release(&msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("SPOOL_ADMINCTL_CONFIG");
	int c;
	while ((c = getopt(argc, argv, "f:c:")) != -1) {
		if (c == 'f' || c == 'c')
			path = optarg;
		else
			return usage();
	}
	if (!path || optind >= argc)
		return usage();
	struct config cfg;
	if (load_config(&cfg, path) < 0)
		return 78;
	struct secrets *sec = secrets_new(&cfg);
	struct s3 *s3 = s3_new(&cfg, sec);
	int rc = run(s3, argc - optind, argv + optind);
	s3_free(s3);
	secrets_free(sec);
	config_free(&cfg);
	return rc;
}
