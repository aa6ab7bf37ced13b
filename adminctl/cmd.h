/*
 * adminctl's commands. Each lives in its own cmd-*.c and exports one
 * `const struct cmd_entry`; cmd.c collects them in cmd_table. The usage string
 * is the synopsis in adminctl(8).
 *
 * A command gets a context whose services are opened on first use
 * (cmd_config, cmd_secrets, cmd_db): a command that needs no database never
 * connects to one. Commands print their own errors (one line on stderr saying
 * what to do) and return an exit code (CMD_EXIT_*).
 */
#ifndef ADMINCTL_CMD_H
#define ADMINCTL_CMD_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "context.h"
#include "db.h"
#include "job.h"
#include "s3.h"
#include "secrets.h"
#include "timefmt.h"

/* sysexits-style exit codes of adminctl(8). */
#define CMD_EXIT_OK 0
#define CMD_EXIT_FAILURE 1
#define CMD_EXIT_USAGE 2
#define CMD_EXIT_UNAVAILABLE 69
#define CMD_EXIT_CONFIG 78

#define CMD_DEFAULT_CONFIG "/etc/spool/adminctl.ini"

/* cmd_entry.flags */
#define CMD_ACTION 0x1u /* changes something: refused with --read-only, audited */

struct cmd_ctx {
	const char *config_path; /* -c/-f, else SPOOL_ADMINCTL_CONFIG, else the default */
	bool json;               /* --json */
	bool read_only;          /* --read-only (or adminctl.read_only in the config) */
	const char *program;     /* --program for config check, or NULL */
	const char *context;     /* -C/--context, else SPOOL_CONTEXT, else NULL: the file's first */
	const char *confirm_context; /* --confirm-context NAME: the typed name, for scripts */

	/* Opened on demand; released by cmd_ctx_free. */
	struct config cfg;
	bool cfg_loaded;
	struct ctx_file ctxf;         /* the file's contexts (cmd_contexts) */
	bool ctxf_loaded;
	const struct ctx_info *cur;   /* the context `cfg` is of (after cmd_config) */
	struct secrets *sec;
	struct db_conn *db;
	struct s3 *s3;
	char *actor;
};

struct cmd_entry {
	const char *name;  /* one or two words: "version", "keys create" */
	const char *alias; /* or NULL */
	const char *usage; /* arguments after the name, as in adminctl(8) */
	int args_min;      /* operands after options; args_max -1 = any */
	int args_max;
	unsigned flags;
	/* argv[0] is the command name; options are parsed by the command itself. */
	int (*exec)(struct cmd_ctx *ctx, int argc, char **argv);
};

extern const struct cmd_entry *const cmd_table[];

/* The entry named by argv[0] (and argv[1] for two-word names); *words gets 1 or 2. */
const struct cmd_entry *cmd_find(int argc, char **argv, int *words);
/* "usage: adminctl NAME USAGE" to stderr; returns CMD_EXIT_USAGE. */
int cmd_usage(const struct cmd_entry *e);
/* The list of commands, for -h. */
void cmd_print_help(FILE *fp);

/*
 * Parse the command's own options (getopt_long, `--json` always accepted) and
 * check the operand count. Returns the index of the first operand, or -1 after
 * printing usage. `on_opt` (may be NULL) handles the other options; non-zero
 * from it is a usage error.
 */
int cmd_getopt(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv, const char *shortopts,
	       const struct option *longopts, int (*on_opt)(int opt, const char *val, void *arg), void *arg);

/* Options every command takes (cmd_getopt) as well as main: --json, --jsonl, --csv, --confirm-context. */
#define CMD_OPT_JSONL 0x101
#define CMD_OPT_CSV 0x102
#define CMD_OPT_CONFIRM 0x103
/* Apply one of them (getopt's `opt`, `val` its argument): true when it was one. */
bool cmd_common_option(struct cmd_ctx *ctx, int opt, const char *val);

/* Load the config once; on error prints every problem, returns CMD_EXIT_CONFIG. */
int cmd_config(struct cmd_ctx *ctx);
/* Read the config file's contexts once (ctx->ctxf); CMD_EXIT_CONFIG after printing why. */
int cmd_contexts(struct cmd_ctx *ctx);
/*
 * The check before a destructive action (`what_fmt`, printf-style: "cancel 12 jobs") in a
 * production context: the user must type the context's name, given with
 * --confirm-context NAME or, on a terminal, typed at a prompt. 0 to go on (not
 * a production context, or the right name), else CMD_EXIT_FAILURE after saying
 * why; a --confirm-context that names another context refuses in any
 * context. Call it after cmd_config, before changing anything.
 */
int cmd_confirm_destructive(struct cmd_ctx *ctx, const char *what_fmt, ...) __attribute__((format(printf, 2, 3)));

/* The secrets resolver (after cmd_config). */
struct secrets *cmd_secrets(struct cmd_ctx *ctx);
/* Connect to the database once; prints why and returns CMD_EXIT_UNAVAILABLE on failure. */
int cmd_db(struct cmd_ctx *ctx);
/* The S3 client (after cmd_config); CMD_EXIT_CONFIG if the config does not load. */
int cmd_s3(struct cmd_ctx *ctx);
/* Report a failed S3 call: CMD_EXIT_UNAVAILABLE when S3 could not be reached or failed (5xx), else 1. */
int cmd_s3_failed(const char *what, const struct aws_error *e);
/* Refuse an action in read-only mode: CMD_EXIT_FAILURE after saying so, else 0. */
int cmd_check_writable(struct cmd_ctx *ctx, const struct cmd_entry *e);
/* The name for the audit trail. */
const char *cmd_actor(struct cmd_ctx *ctx);
void cmd_ctx_free(struct cmd_ctx *ctx);

/* One error line "adminctl: ..." to stderr. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print `v` (stolen) as indented JSON on stdout. */
void cmd_print_json(json_t *v);

/*
 * Jobs as a table on stdout (table.h): id, status, type, tenant, attempts, the
 * time they were created (or, with `due`, their message was due) and their error.
 */
void cmd_print_jobs(const struct job *jobs, size_t n, bool due);

/* The limits commands' shared steps (cmd-limits.c): see joblimits.h for what they change. */
enum joblimits_scope;
/* Check the operands SCOPE NAME of `cmdname` into *out: 0, or -1 after saying what is wrong. */
int cmd_limits_target(const char *cmdname, const char *scope, const char *name, enum joblimits_scope *out);
/*
 * After a change of limits (committed): wake the deferred jobs that may start
 * now, audit `action` on SCOPE:NAME with `detail` (stolen; "woken" added) and say
 * what was done. Returns the exit code.
 */
int cmd_limits_changed(struct cmd_ctx *ctx, const char *action, enum joblimits_scope scope, const char *name,
		       json_t *detail);
/* `adminctl pause` (paused) and `adminctl resume`: entry `e`, its argv. Returns the exit code. */
int cmd_limits_pause(struct cmd_ctx *ctx, const struct cmd_entry *e, int argc, char **argv, bool paused);

/*
 * The operands QUERY ... of a command, joined with spaces, compiled for the
 * table `jobs` from $1 (query.h) into *out (QUERY_SQL_INIT). CMD_EXIT_OK, or
 * CMD_EXIT_USAGE after "adminctl: query: column N: why" on stderr.
 */
struct query_sql;
int cmd_query(int argc, char **argv, struct query_sql *out);
/* Ask `question` on stderr and read a line on stdin: true only for "yes". */
bool cmd_confirm(const char *question);

struct selection;
/*
 * A resolved selection (selection.h) through the bulk flow of `cmdname`: its
 * count and first jobs, the confirmation (typing "yes", unless `yes`), the
 * action on exactly it, the audit record ("bulk.ACTION" or "undo", target
 * "selection:ID") and what was done. An empty or unconfirmed selection is kept
 * as declined. Returns the exit code: 0 acted on, 1 nothing matched or not
 * confirmed or failed.
 */
int cmd_selection_run(struct cmd_ctx *ctx, const char *cmdname, const struct selection *sel, bool yes);

/* Parse a duration for --expires/--since with config's rules; -1 if bad. */
int cmd_parse_duration(const char *s, int64_t *out);

#endif
