#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "daemon.h"

static int cmd_config_check_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_config_check_entry = {
	.name = "config check",
	.usage = "[--program api|worker|adminctl] [FILE]",
	.args_min = 0,
	.args_max = 1,
	.exec = cmd_config_check_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	if (opt != 'P')
		return -1;
	*(const char **)arg = val;
	return 0;
}

static int program_parse(const char *s, unsigned *out)
{
	if (!strcmp(s, "api") || !strcmp(s, "spool-api"))
		*out = PROG_API;
	else if (!strcmp(s, "worker") || !strcmp(s, "spool-worker"))
		*out = PROG_WORKER;
	else if (!strcmp(s, "adminctl"))
		*out = PROG_ADMINCTL;
	else
		return -1;
	return 0;
}

/*
 * Which program a file is for, from the program-specific sections it has:
 * [adminctl] or [context NAME] wins (adminctl.ini also has [api] for the pepper), then [worker],
 * then [api]; adminctl if none.
 */
static unsigned program_guess(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	unsigned seen = 0;
	if (!fp)
		return PROG_ADMINCTL;
	while (fgets(line, sizeof(line), fp)) {
		const char *p = line + strspn(line, " \t");
		if (!strncmp(p, "[api]", 5))
			seen |= PROG_API;
		else if (!strncmp(p, "[worker]", 8))
			seen |= PROG_WORKER;
		else if (!strncmp(p, "[adminctl]", 10) || !strncmp(p, "[context ", 9))
			seen |= PROG_ADMINCTL;
	}
	fclose(fp);
	if (seen & PROG_ADMINCTL)
		return PROG_ADMINCTL;
	if (seen & PROG_WORKER)
		return PROG_WORKER;
	return seen & PROG_API ? PROG_API : PROG_ADMINCTL;
}

static const char *program_name(unsigned p)
{
	return p == PROG_API ? "spool-api" : p == PROG_WORKER ? "spool-worker" : "adminctl";
}

/* Load `path` for `prog` (context `c` of `f` for adminctl) and resolve its secrets: the exit code. */
static int check_one(const struct ctx_file *f, const struct ctx_info *c, const char *path, unsigned prog)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	int rc = CMD_EXIT_OK;
	if ((f ? ctx_load(f, c, &cfg, prog, &err) : config_load(&cfg, path, prog, &err)) < 0) {
		fputs(buf_str(&err), stderr);
		config_free(&cfg);
		buf_release(&err);
		return CMD_EXIT_CONFIG;
	}
	struct secrets *sec = secrets_new(&cfg);
	int checked = daemon_check_secrets(&cfg, sec, &err);
	if (checked < 0) {
		if (f && f->named)
			cmd_error("config check: '%s' context %s: %s", path, c->name, buf_str(&err));
		else
			cmd_error("config check: '%s': %s", path, buf_str(&err));
		rc = checked == -2 ? CMD_EXIT_CONFIG : CMD_EXIT_UNAVAILABLE;
	}
	secrets_free(sec);
	config_free(&cfg);
	buf_release(&err);
	return rc;
}

static int cmd_config_check_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "program", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	const char *progname = ctx->program;
	int first = cmd_getopt(ctx, &cmd_config_check_entry, argc, argv, "", longopts, on_opt, &progname);
	if (first < 0)
		return CMD_EXIT_USAGE;
	const char *path = first < argc ? argv[first] : ctx->config_path;
	unsigned prog;
	if (progname && program_parse(progname, &prog) < 0) {
		cmd_error("config check: unknown program '%s': use api, worker or adminctl", progname);
		return CMD_EXIT_USAGE;
	}
	if (!progname)
		prog = program_guess(path);

	/* an adminctl.ini may describe several contexts: each is checked */
	struct ctx_file f;
	struct buf err = BUF_INIT;
	int rc = CMD_EXIT_OK;
	if (prog == PROG_ADMINCTL ? ctx_file_read(&f, path, &err) < 0 : (memset(&f, 0, sizeof(f)), 0)) {
		fputs(buf_str(&err), stderr);
		rc = CMD_EXIT_CONFIG;
	}
	json_t *names = json_array();
	for (size_t i = 0; rc == CMD_EXIT_OK && i < (prog == PROG_ADMINCTL ? f.n : 1); i++) {
		rc = check_one(prog == PROG_ADMINCTL ? &f : NULL, prog == PROG_ADMINCTL ? &f.v[i] : NULL, path, prog);
		if (rc == CMD_EXIT_OK && f.named) {
			json_array_append_new(names, json_string(f.v[i].name));
			if (!ctx->json)
				printf("context %s: configuration OK\n", f.v[i].name);
		}
	}
	if (rc == CMD_EXIT_OK) {
		if (ctx->json)
			cmd_print_json(json_pack("{s:s, s:s, s:b, s:O}", "file", path, "program", program_name(prog), "ok", 1,
						 "contexts", names));
		else if (!f.named)
			printf("configuration OK\n");
	}
	json_decref(names);
	ctx_file_free(&f);
	buf_release(&err);
	return rc;
}
