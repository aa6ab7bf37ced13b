#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "table.h"

static int cmd_contexts_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_contexts_entry = {
	.name = "contexts",
	.usage = "[--no-resolve]",
	.args_min = 0,
	.args_max = 0,
	.exec = cmd_contexts_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	(void)val;
	if (opt != 'n')
		return -1;
	*(bool *)arg = false;
	return 0;
}

/* "HOST:PORT/DBNAME" of the database secret of `cfg` (never its user or password), or why not. */
static void db_where(const struct config *cfg, bool resolve, struct buf *out)
{
	if (!resolve) {
		buf_adds(out, "");
		return;
	}
	struct secrets *sec = secrets_new(cfg);
	struct buf val = BUF_INIT, err = BUF_INIT;
	struct db_secret ds = { 0 };
	if (secrets_get(sec, cfg->database.secret, &val, &err) < 0 ||
	    db_secret_parse(buf_str(&val), &ds, &err) < 0)
		buf_printf(out, "? (%s)", buf_str(&err));
	else
		buf_printf(out, "%s:%d/%s", ds.host, ds.port, ds.dbname);
	db_secret_free(&ds);
	if (val.data)
		OPENSSL_cleanse(val.data, val.len);
	buf_release(&val);
	buf_release(&err);
	secrets_free(sec);
}

/* Every context of the config file: its name, whether it is production, where its services are. */
static int cmd_contexts_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = { { "no-resolve", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	bool resolve = true;
	int rc;
	if (cmd_getopt(ctx, &cmd_contexts_entry, argc, argv, NULL, longopts, on_opt, &resolve) < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_contexts(ctx)))
		return rc;
	const struct ctx_info *cur = ctx_find(&ctx->ctxf, ctx->context);
	static const struct table_col cols[] = {
		{ "NAME", 0 },		     { "CURRENT", 0 },	 { "PRODUCTION", 0 }, { "DATABASE", TABLE_SHRINK },
		{ "MANAGEMENT URL", TABLE_SHRINK }, { "S3 ENDPOINT", TABLE_SHRINK }, { "BUCKET", 0 },
		{ "AWS ENDPOINT", TABLE_SHRINK },
	};
	struct table t;
	json_t *arr = json_array();
	table_init(&t, cols, 8);
	rc = CMD_EXIT_OK;
	for (size_t i = 0; i < ctx->ctxf.n; i++) {
		const struct ctx_info *c = &ctx->ctxf.v[i];
		struct config cfg;
		struct buf err = BUF_INIT, db = BUF_INIT;
		if (ctx_load(&ctx->ctxf, c, &cfg, PROG_ADMINCTL, &err) < 0) {
			fputs(buf_str(&err), stderr);
			buf_adds(&db, "? (the context's config has errors)");
			rc = CMD_EXIT_CONFIG;
		} else {
			db_where(&cfg, resolve, &db);
		}
		table_row(&t);
		table_cell(&t, c->name);
		table_cell(&t, c == cur ? "*" : "");
		table_cell(&t, c->production ? "yes" : "no");
		table_cell(&t, buf_str(&db));
		table_cell(&t, cfg.rabbitmq.management_url);
		table_cell(&t, cfg.s3.endpoint_url);
		table_cell(&t, cfg.s3.bucket);
		table_cell(&t, cfg.aws.endpoint_url);
		json_array_append_new(arr, json_pack("{s:s, s:b, s:b, s:s?, s:s?, s:s?, s:s?, s:s?}", "name", c->name,
						     "current", c == cur, "production", c->production, "database",
						     resolve ? buf_str(&db) : NULL, "management_url",
						     cfg.rabbitmq.management_url, "s3_endpoint", cfg.s3.endpoint_url,
						     "bucket", cfg.s3.bucket, "aws_endpoint", cfg.aws.endpoint_url));
		config_free(&cfg);
		buf_release(&db);
		buf_release(&err);
	}
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:o}", "file", ctx->config_path, "contexts", arr));
	else
		json_decref(arr);
	if (!ctx->json)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}
