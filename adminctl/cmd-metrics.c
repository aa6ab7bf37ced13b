#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloudwatch.h"
#include "cmd.h"
#include "jobops.h"
#include "table.h"

#define DEFAULT_SINCE (3 * 3600)
#define TARGET_POINTS 60

static int cmd_metrics_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_metrics_entry = {
	.name = "metrics",
	.usage = "[NAME ...] [--since DUR] [--period DUR]",
	.args_min = 0,
	.args_max = 64,
	.exec = cmd_metrics_exec,
};

/* What the daemons publish, with the statistic that makes sense for each. */
static const char *const default_metrics[] = {
	"JobsSubmitted:Sum", "JobsSucceeded:Sum", "JobsFailed:Sum", "QueueDepth:Average", "JobDuration:Average",
	"Http5xx:Sum",
};
#define NDEFAULT (sizeof(default_metrics) / sizeof(default_metrics[0]))

struct metrics_opts {
	time_t start;
	int64_t period;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct metrics_opts *o = arg;
	if (opt == 'S' && jobops_since(val, time(NULL), &o->start) == 0)
		return 0;
	if (opt == 'p' && cmd_parse_duration(val, &o->period) == 0 && o->period >= 60 && o->period % 60 == 0)
		return 0;
	if (opt == 'S')
		cmd_error("metrics: --since wants a duration (30m, 2h, 7d) or an RFC 3339 time, not '%s'", val);
	else if (opt == 'p')
		cmd_error("metrics: --period wants a multiple of a minute (1m, 5m, 1h), not '%s'", val);
	return -1;
}

/* One requested metric: "Name" or "Name:Stat" split. */
struct metric {
	char name[128];
	char stat[32];
	char id[16];
	const struct cw_series *s;
};

static int metric_parse(const char *arg, struct metric *m)
{
	const char *colon = strchr(arg, ':');
	size_t nl = colon ? (size_t)(colon - arg) : strlen(arg);
	if (nl == 0 || nl >= sizeof(m->name) || (colon && (!colon[1] || strlen(colon + 1) >= sizeof(m->stat))))
		return -1;
	memcpy(m->name, arg, nl);
	m->name[nl] = '\0';
	snprintf(m->stat, sizeof(m->stat), "%s", colon ? colon + 1 : "Sum");
	return 0;
}

/* The value of series `s` in the slot starting at `t`, NAN when it has none. */
static double value_at(const struct cw_series *s, time_t t)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->timestamps[i] == t)
			return s->values[i];
	return NAN;
}

static void print_json(const struct metric *m, size_t nm, const char *ns, time_t start, time_t end, int64_t period)
{
	json_t *arr = json_array();
	char t[32], a[32], b[32];
	for (size_t i = 0; i < nm; i++) {
		json_t *pts = json_array();
		for (time_t x = start; x < end; x += period) {
			double v = value_at(m[i].s, x);
			if (isnan(v))
				continue;
			timefmt_utc(x, t);
			json_array_append_new(pts, json_pack("{s:s, s:f}", "t", t, "v", v));
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "name", m[i].name, "stat", m[i].stat, "points", pts));
	}
	timefmt_utc(start, a);
	timefmt_utc(end, b);
	cmd_print_json(json_pack("{s:s, s:s, s:s, s:I, s:o}", "namespace", ns, "start", a, "end", b, "period",
				 (json_int_t)period, "metrics", arr));
}

static void print_table(const struct metric *m, size_t nm, time_t start, time_t end, int64_t period)
{
	struct table_col *cols = xcalloc(nm + 1, sizeof(*cols));
	struct buf *names = xcalloc(nm, sizeof(*names));
	char t[32];
	cols[0].name = "TIME";
	for (size_t i = 0; i < nm; i++) {
		buf_printf(&names[i], "%s:%s", m[i].name, m[i].stat);
		cols[i + 1] = (struct table_col){ buf_str(&names[i]), TABLE_RIGHT };
	}
	struct table tb;
	table_init(&tb, cols, nm + 1);
	for (time_t x = start; x < end; x += period) {
		size_t have = 0;
		for (size_t i = 0; i < nm; i++)
			have += !isnan(value_at(m[i].s, x));
		if (!have)
			continue; /* a period without any data is no row */
		table_row(&tb);
		timefmt_utc(x, t);
		table_cell(&tb, t);
		for (size_t i = 0; i < nm; i++) {
			double v = value_at(m[i].s, x);
			if (isnan(v))
				table_cell(&tb, NULL);
			else
				table_cellf(&tb, "%.6g", v);
		}
	}
	table_print(&tb, stdout);
	table_free(&tb);
	for (size_t i = 0; i < nm; i++)
		buf_release(&names[i]);
	free(names);
	free(cols);
}

/* One sparkline per metric, as wide as the terminal allows, with min/max/last. */
static void print_chart(const struct metric *m, size_t nm, time_t start, time_t end, int64_t period)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	size_t slots = (size_t)((end - start) / period), label = 0;
	for (size_t i = 0; i < nm; i++) {
		size_t l = strlen(m[i].name) + strlen(m[i].stat) + 1;
		label = l > label ? l : label;
	}
	int tw = table_term_width(stdout);
	size_t width = (size_t)tw > label + 40 ? (size_t)tw - label - 38 : 10;
	size_t per = (slots + width - 1) / width; /* slots per character */
	per = per ? per : 1;
	char a[32], b[32];
	timefmt_utc(start, a);
	timefmt_utc(end, b);
	printf("%s .. %s, one point per %lld s\n", a, b, (long long)period * (long long)per);
	for (size_t i = 0; i < nm; i++) {
		double lo = INFINITY, hi = -INFINITY, last = NAN;
		size_t cells = (slots + per - 1) / per;
		double *col = xcalloc(cells ? cells : 1, sizeof(double));
		for (size_t c = 0; c < cells; c++) {
			col[c] = NAN;
			for (size_t k = 0; k < per && c * per + k < slots; k++) {
				double v = value_at(m[i].s, start + (time_t)((c * per + k) * (size_t)period));
				if (!isnan(v) && (isnan(col[c]) || v > col[c]))
					col[c] = v;
				if (!isnan(v))
					last = v;
			}
			if (!isnan(col[c])) {
				lo = col[c] < lo ? col[c] : lo;
				hi = col[c] > hi ? col[c] : hi;
			}
		}
		printf("%s:%s%*s  ", m[i].name, m[i].stat, (int)(label - strlen(m[i].name) - strlen(m[i].stat) - 1), "");
		for (size_t c = 0; c < cells; c++) {
			if (isnan(col[c])) {
				fputs(" ", stdout);
				continue;
			}
			int level = hi > lo ? (int)((col[c] - lo) / (hi - lo) * 7.0 + 0.5) : 0;
			fputs(bars[level < 0 ? 0 : level > 7 ? 7 : level], stdout);
		}
		if (isnan(last))
			printf("  (no data)\n");
		else
			printf("  min %.4g max %.4g last %.4g\n", lo, hi, last);
		free(col);
	}
}

/* CloudWatch series of the Spool namespace: a table, a chart on a terminal, or JSON. */
static int cmd_metrics_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "period", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	time_t now = time(NULL);
	struct metrics_opts o = { now - DEFAULT_SINCE, 0 };
	int rc, first = cmd_getopt(ctx, &cmd_metrics_entry, argc, argv, NULL, longopts, on_opt, &o);
	if (first < 0)
		return CMD_EXIT_USAGE;
	size_t nm = first < argc ? (size_t)(argc - first) : NDEFAULT;
	struct metric *m = xcalloc(nm, sizeof(*m));
	for (size_t i = 0; i < nm; i++) {
		const char *arg = first < argc ? argv[first + (int)i] : default_metrics[i];
		if (metric_parse(arg, &m[i]) < 0) {
			cmd_error("metrics: '%s' is not NAME or NAME:STAT", arg);
			free(m);
			return cmd_usage(&cmd_metrics_entry);
		}
		snprintf(m[i].id, sizeof(m[i].id), "m%u", (unsigned)(i % 100000u));
	}
	if ((rc = cmd_config(ctx))) {
		free(m);
		return rc;
	}
	if (o.start >= now)
		o.start = now - 60;
	if (o.period == 0) {
		o.period = ((now - o.start) / TARGET_POINTS + 59) / 60 * 60;
		o.period = o.period < 60 ? 60 : o.period;
	}
	/* Whole periods, aligned as CloudWatch aligns them. */
	time_t start = o.start / o.period * o.period, end = (now / o.period + 1) * o.period;
	struct cw_query *q = xcalloc(nm, sizeof(*q));
	for (size_t i = 0; i < nm; i++)
		q[i] = (struct cw_query){ .id = m[i].id, .label = m[i].name, .metric = m[i].name, .stat = m[i].stat,
					  .period = (int)o.period };
	struct cloudwatch *cw = cloudwatch_new(&ctx->cfg);
	struct cw_series *s = NULL;
	size_t ns = 0;
	struct aws_error e;
	aws_error_clear(&e);
	if (cloudwatch_get_metric_data(cw, q, nm, start, end, &s, &ns, &e) < 0) {
		struct buf b = BUF_INIT;
		aws_error_format(&e, &b);
		bool down = e.status == 0 || e.status >= 500;
		cmd_error("metrics: %s%s", buf_str(&b), down ? " (is CloudWatch reachable at the configured endpoint?)" : "");
		buf_release(&b);
		rc = down ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
	} else {
		for (size_t i = 0; i < nm; i++)
			for (size_t k = 0; k < ns; k++)
				if (!strcmp(s[k].id, m[i].id))
					m[i].s = &s[k];
		const char *nsname = ctx->cfg.cloudwatch.namespace_ ? ctx->cfg.cloudwatch.namespace_ : "";
		if (ctx->json)
			print_json(m, nm, nsname, start, end, o.period);
		else if (table_is_tty(stdout) && table_get_format() == TABLE_AUTO)
			print_chart(m, nm, start, end, o.period);
		else
			print_table(m, nm, start, end, o.period);
		rc = CMD_EXIT_OK;
	}
	cloudwatch_series_free(s, ns);
	cloudwatch_free(cw);
	free(q);
	free(m);
	return rc;
}
