/*
 * Screen 6, Metrics: CloudWatch series as sparklines with their latest,
 * minimum and maximum values; p and [ ] choose the period and the range.
 */
#include <math.h>
#include <stdio.h>

#include "timefmt.h"
#include "tui.h"

static const int periods[] = { 60, 300, 900, 3600 };
static const int ranges[] = { 3600, 3 * 3600, 12 * 3600, 86400, 7 * 86400 };
#define NPERIODS ((int)(sizeof(periods) / sizeof(periods[0])))
#define NRANGES ((int)(sizeof(ranges) / sizeof(ranges[0])))

static struct {
	int period, range;       /* indexes */
	bool entered;
} ms = { 1, 1, 0 };

static void dur(int s, char *out, size_t size)
{
	if (s % 86400 == 0)
		snprintf(out, size, "%dd", s / 86400);
	else if (s % 3600 == 0)
		snprintf(out, size, "%dh", s / 3600);
	else
		snprintf(out, size, "%dm", s / 60);
}

static void want(struct tui *t)
{
	model_want_metrics(tui_model(t), periods[ms.period], ranges[ms.range]);
}

/* The last `width` points of a series as a sparkline (▁…█; space where there is no point). */
static void spark(int y, int x, int width, const struct model_series *s)
{
	static const char *const blocks[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	size_t first = s->n > (size_t)width ? s->n - (size_t)width : 0;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = first; i < s->n; i++)
		if (!isnan(s->values[i])) {
			lo = fmin(lo, s->values[i]);
			hi = fmax(hi, s->values[i]);
		}
	char line[8 * 512] = "";
	size_t o = 0;
	for (size_t i = first; i < s->n && o + 4 < sizeof(line); i++) {
		const char *b = " ";
		if (!isnan(s->values[i])) {
			int k = hi > lo ? (int)((s->values[i] - lo) / (hi - lo) * 7.0 + 0.5) : (s->values[i] > 0 ? 7 : 0);
			b = blocks[k < 0 ? 0 : k > 7 ? 7 : k];
		}
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s", b);
	}
	tui_cell(y, x, width, TC_BAR, line);
}

static void draw_metrics(struct tui *t, int top, int rows, int cols)
{
	char p[16], r[16];
	dur(periods[ms.period], p, sizeof(p));
	dur(ranges[ms.range], r, sizeof(r));
	int y = top;
	tui_cellf(y++, 0, cols, TC_HEADER, "CloudWatch — period %s (p), range %s ([ ])", p, r);
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_METRICS);
	if (!s) {
		tui_cell(y, 2, cols - 2, TC_WARN, "loading…");
		return;
	}
	if (*s->err) {
		tui_cellf(y, 2, cols - 2, TC_DOWN, "unavailable: %s", s->err);
		model_snap_put(tui_model(t), s);
		return;
	}
	int labelw = 16, statw = 26;
	int w = cols - labelw - statw - 2;
	for (size_t i = 0; i < MODEL_METRICS_COUNT && y + 2 <= top + rows; i++) {
		const struct model_series *se = &s->u.met.series[i];
		double last = NAN, lo = INFINITY, hi = -INFINITY;
		for (size_t k = 0; k < se->n; k++)
			if (!isnan(se->values[k])) {
				last = se->values[k];
				lo = fmin(lo, last);
				hi = fmax(hi, last);
			}
		y++;
		tui_cell(y, 0, labelw, TC_NORMAL, model_metrics[i].title);
		if (isnan(last)) {
			tui_cell(y, labelw, cols - labelw, TC_DIM, "no data");
		} else {
			spark(y, labelw, w, se);
			tui_cellf(y, labelw + w + 2, statw, TC_NORMAL, "%.4g %s (%.4g–%.4g)", last, model_metrics[i].unit,
				  lo, hi);
		}
		y++;
	}
	model_snap_put(tui_model(t), s);
}

static void enter_metrics(struct tui *t)
{
	if (!ms.entered) {
		ms.entered = true;
		want(t);
	}
}

static unsigned key_period(struct tui *t, int key)
{
	(void)key;
	ms.period = (ms.period + 1) % NPERIODS;
	while (periods[ms.period] > ranges[ms.range])
		ms.range++;
	want(t);
	return TUI_REDRAW_ALL;
}

static unsigned key_range(struct tui *t, int key)
{
	ms.range += key == ']' ? 1 : -1;
	if (ms.range < 0)
		ms.range = 0;
	if (ms.range >= NRANGES)
		ms.range = NRANGES - 1;
	while (ms.period > 0 && periods[ms.period] > ranges[ms.range])
		ms.period--;
	want(t);
	return TUI_REDRAW_ALL;
}

static const struct tui_key metrics_keys[] = {
	{ { 'p' }, "p", "period", "next period (1m, 5m, 15m, 1h)", key_period },
	{ { '[', ']' }, "[ ]", "range", "shorter, longer range (1h … 7d)", key_range },
	{ .label = NULL },
};

/* `e`: one row per period of the range, a column per series, its value as fetched (none: empty). */
static bool export_metrics(struct tui *t, struct table *out)
{
	static struct table_col cols[1 + MODEL_METRICS_COUNT];
	struct model_snap *s = model_snap_get(tui_model(t), MODEL_METRICS);
	if (!s || *s->err || s->u.met.period <= 0) {
		model_snap_put(tui_model(t), s);
		return false;
	}
	const struct model_metrics_snap *m = &s->u.met;
	cols[0] = (struct table_col){ "TIME", 0 };
	size_t rows = 0;
	for (size_t i = 0; i < MODEL_METRICS_COUNT; i++) {
		cols[i + 1] = (struct table_col){ model_metrics[i].metric, 0 };
		rows = m->series[i].n > rows ? m->series[i].n : rows;
	}
	table_init(out, cols, 1 + MODEL_METRICS_COUNT);
	for (size_t k = 0; k < rows; k++) {
		char when[TIMEFMT_UTC_SIZE];
		timefmt_utc(m->start + (time_t)k * m->period, when);
		table_row(out);
		table_cell(out, when);
		for (size_t i = 0; i < MODEL_METRICS_COUNT; i++)
			if (k < m->series[i].n && !isnan(m->series[i].values[k]))
				table_cellf(out, "%.6g", m->series[i].values[k]);
			else
				table_cell(out, NULL);
	}
	model_snap_put(tui_model(t), s);
	return true;
}

const struct tui_screen tui_metrics_screen = {
	.name = "Metrics",
	.kind = MODEL_METRICS,
	.keys = metrics_keys,
	.enter = enter_metrics,
	.draw = draw_metrics,
	.export = export_metrics,
};
