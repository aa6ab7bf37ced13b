#include "cmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "table.h"

extern const struct cmd_entry cmd_config_check_entry;
extern const struct cmd_entry cmd_contexts_entry;
extern const struct cmd_entry cmd_db_bootstrap_entry;
extern const struct cmd_entry cmd_db_migrate_entry;
extern const struct cmd_entry cmd_db_status_entry;
extern const struct cmd_entry cmd_keys_create_entry;
extern const struct cmd_entry cmd_keys_list_entry;
extern const struct cmd_entry cmd_keys_webhook_secret_entry;
extern const struct cmd_entry cmd_keys_revoke_entry;
extern const struct cmd_entry cmd_results_ls_entry;
extern const struct cmd_entry cmd_results_url_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_tui_entry;
extern const struct cmd_entry cmd_queues_entry;
extern const struct cmd_entry cmd_queues_migrate_entry;
extern const struct cmd_entry cmd_jobs_entry;
extern const struct cmd_entry cmd_job_show_entry;
extern const struct cmd_entry cmd_job_retry_entry;
extern const struct cmd_entry cmd_job_redrive_entry;
extern const struct cmd_entry cmd_job_cancel_entry;
extern const struct cmd_entry cmd_dead_list_entry;
extern const struct cmd_entry cmd_dead_retry_entry;
extern const struct cmd_entry cmd_dead_purge_entry;
extern const struct cmd_entry cmd_metrics_entry;
extern const struct cmd_entry cmd_audit_entry;
extern const struct cmd_entry cmd_events_entry;
extern const struct cmd_entry cmd_limits_entry;
extern const struct cmd_entry cmd_limits_set_entry;
extern const struct cmd_entry cmd_pause_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_bulk_retry_entry;
extern const struct cmd_entry cmd_bulk_cancel_entry;
extern const struct cmd_entry cmd_bulk_redrive_entry;
extern const struct cmd_entry cmd_undo_entry;
extern const struct cmd_entry cmd_selection_show_entry;
extern const struct cmd_entry cmd_failures_entry;

/* In the order of adminctl(8). */
const struct cmd_entry *const cmd_table[] = {
	&cmd_queues_entry,
	&cmd_queues_migrate_entry,
	&cmd_jobs_entry,
	&cmd_job_show_entry,
	&cmd_job_retry_entry,
	&cmd_job_redrive_entry,
	&cmd_job_cancel_entry,
	&cmd_bulk_retry_entry,
	&cmd_bulk_cancel_entry,
	&cmd_bulk_redrive_entry,
	&cmd_undo_entry,
	&cmd_selection_show_entry,
	&cmd_failures_entry,
	&cmd_events_entry,
	&cmd_dead_list_entry,
	&cmd_dead_retry_entry,
	&cmd_dead_purge_entry,
	&cmd_limits_entry,
	&cmd_limits_set_entry,
	&cmd_pause_entry,
	&cmd_resume_entry,
	&cmd_results_ls_entry,
	&cmd_results_url_entry,
	&cmd_metrics_entry,
	&cmd_audit_entry,
	&cmd_keys_create_entry,
	&cmd_keys_list_entry,
	&cmd_keys_webhook_secret_entry,
	&cmd_keys_revoke_entry,
	&cmd_db_bootstrap_entry,
	&cmd_db_migrate_entry,
	&cmd_db_status_entry,
	&cmd_config_check_entry,
	&cmd_contexts_entry,
	&cmd_tui_entry,
	&cmd_version_entry,
	NULL,
};

/* Does `name` ("a" or "a b") match argv's first one or two words? Returns the word count. */
static int name_matches(const char *name, int argc, char **argv)
{
	const char *sp = strchr(name, ' ');
	if (!sp)
		return !strcmp(name, argv[0]) ? 1 : 0;
	size_t n = (size_t)(sp - name);
	if (argc < 2 || strlen(argv[0]) != n || strncmp(name, argv[0], n) || strcmp(sp + 1, argv[1]))
		return 0;
	return 2;
}

const struct cmd_entry *cmd_find(int argc, char **argv, int *words)
{
	const struct cmd_entry *found = NULL;

	if (argc < 1)
		return NULL;
	/* the longest name wins: "queues migrate" over "queues" */
	for (const struct cmd_entry *const *e = cmd_table; *e; e++) {
		int w = name_matches((*e)->name, argc, argv);
		if (!w && (*e)->alias)
			w = name_matches((*e)->alias, argc, argv);
		if (w && (!found || w > *words)) {
			found = *e;
			*words = w;
		}
	}
	return found;
}

int cmd_usage(const struct cmd_entry *e)
{
	fprintf(stderr, "usage: adminctl %s%s%s\n", e->name, *e->usage ? " " : "", e->usage);
	return CMD_EXIT_USAGE;
}

void cmd_print_help(FILE *fp)
{
	fputs("usage: adminctl [-h] [-C context] [-f file] [--json | --jsonl | --csv] [--read-only] "
	      "[--confirm-context name] command [args]\n\ncommands:\n", fp);
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		fprintf(fp, "  %s%s%s\n", (*e)->name, *(*e)->usage ? " " : "", (*e)->usage);
}

void cmd_error(const char *fmt, ...)
{
	va_list ap;
	struct buf b = BUF_INIT;
	buf_adds(&b, "adminctl: ");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_addc(&b, '\n');
	fputs(buf_str(&b), stderr);
	buf_release(&b);
}

int cmd_getopt(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int (*on_opt)(int opt, const char *val, void *arg), void *arg)
{
	struct option all[20];
	size_t n = 0;
	for (; longopts && longopts[n].name && n < 15; n++)
		all[n] = longopts[n];
	all[n++] = (struct option){ "json", no_argument, NULL, 'J' };
	all[n++] = (struct option){ "jsonl", no_argument, NULL, CMD_OPT_JSONL };
	all[n++] = (struct option){ "csv", no_argument, NULL, CMD_OPT_CSV };
	all[n++] = (struct option){ "confirm-context", required_argument, NULL, CMD_OPT_CONFIRM };
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	struct buf so = BUF_INIT;
	buf_printf(&so, ":%s", shortopts ? shortopts : "");
	optind = 0; /* 0: glibc re-initialises its state after main's getopt */
	opterr = 0;
	int opt;
	bool bad = false;
	while (!bad && (opt = getopt_long(argc, argv, buf_str(&so), all, NULL)) != -1) {
		if (cmd_common_option(ctx, opt, optarg))
			continue;
		else if (opt == '?' || opt == ':' || !on_opt || on_opt(opt, optarg, arg))
			bad = true;
	}
	buf_release(&so);
	int left = argc - optind;
	if (bad || left < e->args_min || (e->args_max >= 0 && left > e->args_max)) {
		cmd_usage(e);
		return -1;
	}
	return optind;
}

bool cmd_common_option(struct cmd_ctx *ctx, int opt, const char *val)
{
	switch (opt) {
	case 'J':
		ctx->json = true;
		table_set_format(TABLE_AUTO);
		return true;
	case CMD_OPT_JSONL:
		ctx->json = false;
		table_set_format(TABLE_JSONL);
		return true;
	case CMD_OPT_CSV:
		ctx->json = false;
		table_set_format(TABLE_CSV);
		return true;
	case CMD_OPT_CONFIRM:
		ctx->confirm_context = val;
		return true;
	default:
		return false;
	}
}

int cmd_contexts(struct cmd_ctx *ctx)
{
	if (ctx->ctxf_loaded)
		return 0;
	struct buf err = BUF_INIT;
	if (ctx_file_read(&ctx->ctxf, ctx->config_path, &err) < 0) {
		fputs(buf_str(&err), stderr);
		buf_release(&err);
		ctx_file_free(&ctx->ctxf);
		return CMD_EXIT_CONFIG;
	}
	buf_release(&err);
	ctx->ctxf_loaded = true;
	return 0;
}

int cmd_config(struct cmd_ctx *ctx)
{
	if (ctx->cfg_loaded)
		return 0;
	int rc = cmd_contexts(ctx);
	if (rc)
		return rc;
	ctx->cur = ctx_find(&ctx->ctxf, ctx->context);
	if (!ctx->cur) {
		struct buf names = BUF_INIT;
		ctx_names(&ctx->ctxf, &names);
		cmd_error("no context '%s' in '%s' (it has: %s; adminctl contexts lists them)", ctx->context,
			  ctx->config_path, buf_str(&names));
		buf_release(&names);
		return CMD_EXIT_CONFIG;
	}
	struct buf err = BUF_INIT;
	if (ctx_load(&ctx->ctxf, ctx->cur, &ctx->cfg, PROG_ADMINCTL, &err) < 0) {
		fputs(buf_str(&err), stderr);
		buf_release(&err);
		config_free(&ctx->cfg);
		return CMD_EXIT_CONFIG;
	}
	buf_release(&err);
	ctx->cfg_loaded = true;
	if (ctx->cfg.adminctl.read_only)
		ctx->read_only = true;
	return 0;
}

struct secrets *cmd_secrets(struct cmd_ctx *ctx)
{
	if (!ctx->sec)
		ctx->sec = secrets_new(&ctx->cfg);
	return ctx->sec;
}

int cmd_db(struct cmd_ctx *ctx)
{
	int rc = cmd_config(ctx);
	if (rc)
		return rc;
	if (ctx->db)
		return 0;
	struct buf err = BUF_INIT;
	ctx->db = db_connect(&ctx->cfg, cmd_secrets(ctx), &err);
	if (!ctx->db) {
		cmd_error("%s (is the database up and the [database] secret right?)", buf_str(&err));
		buf_release(&err);
		return CMD_EXIT_UNAVAILABLE;
	}
	buf_release(&err);
	return 0;
}

int cmd_s3(struct cmd_ctx *ctx)
{
	int rc = cmd_config(ctx);
	if (rc)
		return rc;
	if (!ctx->s3)
		ctx->s3 = s3_new(&ctx->cfg, cmd_secrets(ctx));
	return 0;
}

int cmd_s3_failed(const char *what, const struct aws_error *e)
{
	struct buf b = BUF_INIT;
	aws_error_format(e, &b);
	bool down = e->status == 0 || e->status >= 500;
	cmd_error("%s: %s%s", what, buf_str(&b), down ? " (is S3 reachable at the configured endpoint?)" : "");
	buf_release(&b);
	return down ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
}

int cmd_check_writable(struct cmd_ctx *ctx, const struct cmd_entry *e)
{
	if (!ctx->read_only)
		return 0;
	cmd_error("'%s' changes things and adminctl is read-only here (--read-only or adminctl.read_only)",
		  e->name);
	return CMD_EXIT_FAILURE;
}

/* A line typed on the terminal (not stdin: that may be a pipe of ids): 0, or -1 without one. */
static int read_tty_line(const char *prompt, char *line, size_t size)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	char *got = fgets(line, (int)size, tty);
	fclose(tty);
	return got ? 0 : -1;
}

/* cmd_confirm_destructive() once `what` is written out. */
static int confirm_destructive(struct cmd_ctx *ctx, const char *what)
{
	const char *name = ctx->cur->name;
	if (ctx->confirm_context) {
		if (ctx_confirmed(ctx->cur, ctx->confirm_context))
			return 0;
		cmd_error("refused to %s: --confirm-context '%s' is not this context's name (this is the "
			  "%scontext '%s')", what, ctx->confirm_context, ctx->cur->production ? "production " : "", name);
		return CMD_EXIT_FAILURE;
	}
	char line[256], prompt[512];
	snprintf(prompt, sizeof(prompt), "adminctl: '%s' is a production context: type its name to %s: ", name, what);
	if (!isatty(STDIN_FILENO) || read_tty_line(prompt, line, sizeof(line)) < 0) {
		cmd_error("refused to %s in the production context '%s': without a terminal, give "
			  "--confirm-context %s", what, name, name);
		return CMD_EXIT_FAILURE;
	}
	if (ctx_confirmed(ctx->cur, line))
		return 0;
	cmd_error("refused to %s: the name typed is not '%s'", what, name);
	return CMD_EXIT_FAILURE;
}

int cmd_confirm_destructive(struct cmd_ctx *ctx, const char *what_fmt, ...)
{
	/* a name given for another context is a mistake wherever it is made */
	if (!ctx->cur || (!ctx->cur->production && (!ctx->confirm_context || ctx_confirmed(ctx->cur, ctx->confirm_context))))
		return 0;
	struct buf what = BUF_INIT;
	va_list ap;
	va_start(ap, what_fmt);
	buf_vprintf(&what, what_fmt, ap);
	va_end(ap);
	int rc = confirm_destructive(ctx, buf_str(&what));
	buf_release(&what);
	return rc;
}

const char *cmd_actor(struct cmd_ctx *ctx)
{
	if (!ctx->actor)
		ctx->actor = audit_actor(ctx->cfg_loaded ? ctx->cfg.adminctl.user : NULL);
	return ctx->actor;
}

void cmd_ctx_free(struct cmd_ctx *ctx)
{
	db_close(ctx->db);
	ctx->db = NULL;
	s3_free(ctx->s3);
	ctx->s3 = NULL;
	secrets_free(ctx->sec);
	ctx->sec = NULL;
	if (ctx->cfg_loaded)
		config_free(&ctx->cfg);
	ctx->cfg_loaded = false;
	free(ctx->actor);
	ctx->actor = NULL;
	if (ctx->ctxf_loaded)
		ctx_file_free(&ctx->ctxf);
	ctx->ctxf_loaded = false;
	ctx->cur = NULL;
}

void cmd_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(v);
}

int cmd_parse_duration(const char *s, int64_t *out)
{
	return config_parse_duration(s, out);
}
