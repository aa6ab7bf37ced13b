#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "selection.h"

static int cmd_selection_show_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_selection_show_entry = {
	.name = "selection show",
	.usage = "ID",
	.args_min = 1,
	.args_max = 1,
	.flags = 0,
	.exec = cmd_selection_show_exec,
};

/* One selection: who resolved it, when, from which filter, its job ids and what became of them. */
static int cmd_selection_show_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	int rc, first = cmd_getopt(ctx, &cmd_selection_show_entry, argc, argv, NULL, NULL, NULL, NULL);
	if (first < 0)
		return CMD_EXIT_USAGE;
	if ((rc = cmd_db(ctx)))
		return rc;
	struct buf err = BUF_INIT;
	struct selection sel;
	rc = selection_get(ctx->db, argv[first], &sel, &err);
	if (rc != 0) {
		if (rc < 0)
			cmd_error("selection show: %s", buf_str(&err));
		else
			cmd_error("selection show: no selection '%s' (adminctl audit names them)", argv[first]);
		buf_release(&err);
		return CMD_EXIT_FAILURE;
	}
	buf_release(&err);
	if (ctx->json) {
		cmd_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:O, s:O?}", "id", sel.id,
					 "action", selection_action_name(sel.action), "actor", sel.actor, "filter",
					 sel.filter, "state", sel.state, "created_at", sel.created_at, "acted_at",
					 *sel.acted_at ? sel.acted_at : NULL, "undoes", *sel.undoes ? sel.undoes : NULL,
					 "count", (json_int_t)sel.count, "ids", sel.job_ids, "results", sel.results));
	} else {
		printf("selection %s: %s of %lld job%s by %s at %s (%s)\n", sel.id, selection_action_name(sel.action),
		       (long long)sel.count, sel.count == 1 ? "" : "s", sel.actor, sel.created_at, sel.filter);
		printf("state: %s%s%s\n", sel.state, *sel.acted_at ? ", acted at " : "", sel.acted_at);
		if (*sel.undoes)
			printf("undoes: selection %s\n", sel.undoes);
		json_t *acted = json_object_get(sel.results, "acted");
		printf("acted on: %zu, skipped: %zu\n", json_array_size(acted),
		       json_array_size(json_object_get(sel.results, "skipped")));
		size_t i;
		json_t *v;
		json_array_foreach(sel.job_ids, i, v)
		{
			const char *id = json_string_value(v);
			const char *what = !sel.results ? "-" : "skipped";
			size_t k;
			json_t *a;
			json_array_foreach(acted, k, a) if (!strcmp(json_string_value(a), id)) what = "acted";
			printf("%s\t%s\n", id, what);
		}
	}
	selection_clear(&sel);
	return CMD_EXIT_OK;
}
