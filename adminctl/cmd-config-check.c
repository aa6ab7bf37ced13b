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
 * [adminctl] wins (adminctl.ini also has [api] for the pepper), then [worker],
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
		else if (!strncmp(p, "[adminctl]", 10))
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

	struct config cfg;
	struct buf err = BUF_INIT;
	int rc = CMD_EXIT_OK;
	if (config_load(&cfg, path, prog, &err) < 0) {
		fputs(buf_str(&err), stderr);
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	struct secrets *sec = secrets_new(&cfg);
	int checked = daemon_check_secrets(&cfg, sec, &err);
	if (checked < 0) {
		cmd_error("config check: '%s': %s", path, buf_str(&err));
		rc = checked == -2 ? CMD_EXIT_CONFIG : CMD_EXIT_UNAVAILABLE;
	}
	secrets_free(sec);
	if (rc == CMD_EXIT_OK) {
		if (ctx->json)
			cmd_print_json(json_pack("{s:s, s:s, s:b}", "file", path, "program", program_name(prog), "ok", 1));
		else
			printf("configuration OK\n");
	}
out:
	config_free(&cfg);
	buf_release(&err);
	return rc;
}
