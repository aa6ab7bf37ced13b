#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"

#define MAX_EXPIRES (7 * 86400)

static int cmd_results_url_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_results_url_entry = {
	.name = "results url",
	.usage = "KEY [--expires DUR]",
	.args_min = 1,
	.args_max = 1,
	.exec = cmd_results_url_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	int64_t *expires = arg;
	if (opt != 'e')
		return -1;
	if (cmd_parse_duration(val, expires) < 0 || *expires < 1 || *expires > MAX_EXPIRES) {
		cmd_error("results url: --expires '%s' is not a duration from 1s to 7d (like 15m, 2h)", val);
		return -1;
	}
	return 0;
}

/* The URL alone on stdout's first line so that `$(adminctl results url K)` works. */
static int cmd_results_url_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t expires = 0;
	int rc;
	int first = cmd_getopt(ctx, &cmd_results_url_entry, argc, argv, "e:", longopts, on_opt, &expires);
	if (first < 0)
		return CMD_EXIT_USAGE;
	const char *key = argv[first];
	if ((rc = cmd_s3(ctx)))
		return rc;
	struct aws_error e;
	struct s3_object obj = { 0 };
	aws_error_clear(&e);
	rc = s3_head(ctx->s3, key, &obj, &e);
	free(obj.key);
	if (rc < 0)
		return cmd_s3_failed("results url", &e);
	if (rc == 1) {
		cmd_error("results url: no object '%s' in bucket '%s' (adminctl results ls lists them)", key,
			  s3_bucket(ctx->s3));
		return CMD_EXIT_FAILURE;
	}
	struct buf url = BUF_INIT;
	time_t expires_at = 0;
	char when[32];
	if (s3_presign(ctx->s3, "GET", key, expires, &url, &expires_at, &e) < 0) {
		buf_release(&url);
		return cmd_s3_failed("results url", &e);
	}
	timefmt_utc(expires_at, when);
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:s, s:s, s:I}", "key", key, "url", buf_str(&url), "expires_at", when,
					 "size", (json_int_t)obj.size));
	} else {
		printf("%s\n", buf_str(&url));
		fprintf(stderr, "expires: %s\n", when);
	}
	buf_release(&url);
	return CMD_EXIT_OK;
}
