/*
 * adminctl — the operator's tool: this file parses the global options and
 * dispatches through cmd_table to a scriptable subcommand or to the TUI (cmd-tui.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "daemon.h"

static int usage(FILE *fp, int code)
{
	cmd_print_help(fp);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "jsonl", no_argument, NULL, CMD_OPT_JSONL },
		{ "csv", no_argument, NULL, CMD_OPT_CSV },
		{ "confirm-context", required_argument, NULL, CMD_OPT_CONFIRM },
		{ "context", required_argument, NULL, 'C' },
		{ "read-only", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "program", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_ctx ctx;
	/* it holds the same secrets as the daemons */
	if (daemon_protect_memory("adminctl") >= 0)
		return CMD_EXIT_FAILURE;
	memset(&ctx, 0, sizeof(ctx));
	const char *env = getenv("SPOOL_ADMINCTL_CONFIG");
	ctx.config_path = env && *env ? env : CMD_DEFAULT_CONFIG;
	env = getenv("SPOOL_CONTEXT");
	ctx.context = env && *env ? env : NULL;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:C:c:f:h", opts, NULL)) != -1) {
		if (cmd_common_option(&ctx, opt, optarg))
			continue;
		switch (opt) {
		case 'C':
			ctx.context = optarg;
			break;
		case 'c': /* a synonym of -f, kept for scripts written with it */
		case 'f':
			ctx.config_path = optarg;
			break;
		case 'R':
			ctx.read_only = true;
			break;
		case 'P':
			ctx.program = optarg;
			break;
		case 'h':
			return usage(stdout, CMD_EXIT_OK);
		case ':':
			cmd_error("option '%s' needs a value", argv[optind - 1]);
			return usage(stderr, CMD_EXIT_USAGE);
		default:
			cmd_error("unknown option '%s'", argv[optind - 1]);
			return usage(stderr, CMD_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	static char tui_name[] = "tui", *tui_argv[] = { tui_name, NULL };
	if (argc == 0) { /* no command: the TUI */
		argc = 1;
		argv = tui_argv;
	}
	int words = 0;
	const struct cmd_entry *e = cmd_find(argc, argv, &words);
	if (!e) {
		cmd_error("unknown command '%s%s%s' (adminctl -h lists them)", argv[0], argc > 1 ? " " : "",
			  argc > 1 ? argv[1] : "");
		return CMD_EXIT_USAGE;
	}
	int rc = e->exec(&ctx, argc - words + 1, argv + words - 1);
	cmd_ctx_free(&ctx);
	return rc;
}
