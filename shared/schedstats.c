/*
 * schedstats — the scheduling figures and their CloudWatch datums. See schedstats.h.
 */
#include "schedstats.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

int schedstats_turn(struct db_conn *c, int64_t interval_s, struct buf *err)
{
	char secs[32];
	/* most of an interval: flushes of several workers drift a little */
	snprintf(secs, sizeof(secs), "%.3f", (double)(interval_s > 0 ? interval_s : 1) * 0.8);
	const char *p[] = { secs };
	PGresult *r = db_exec(c, "schedstats_turn",
			      "UPDATE stats_turns SET at = now() WHERE name = 'schedule'"
			      " AND at <= now() - make_interval(secs => $1::float8) RETURNING 1",
			      1, p, err);
	if (!r)
		return -1;
	int mine = PQntuples(r) == 1;
	PQclear(r);
	return mine;
}

static int64_t group_total(const struct schedstats_group *g)
{
	return g->waiting + g->deferred + g->scheduled;
}

static int by_total_desc(const void *a, const void *b)
{
	const struct schedstats_group *x = a, *y = b;
	int64_t tx = group_total(x), ty = group_total(y);
	if (tx != ty)
		return tx > ty ? -1 : 1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

void schedstats_bound(struct schedstats_group *g, size_t *n, size_t top)
{
	if (*n > 1)
		qsort(g, *n, sizeof(*g), by_total_desc);
	if (*n <= top + 1) /* one more fits as itself rather than as "other" */
		return;
	struct schedstats_group other = { .name = NULL };
	for (size_t i = top; i < *n; i++) {
		other.waiting += g[i].waiting;
		other.deferred += g[i].deferred;
		other.scheduled += g[i].scheduled;
		free(g[i].name);
		g[i].name = NULL;
	}
	other.name = xstrdup(SCHEDSTATS_OTHER);
	g[top] = other;
	*n = top + 1;
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int read_paused(struct db_conn *c, struct schedstats *out, struct buf *err)
{
	char max[16];
	snprintf(max, sizeof(max), "%d", SCHEDSTATS_PAUSED_MAX);
	const char *p[] = { max };
	PGresult *r = db_exec(c, "schedstats_paused",
			      "SELECT scope || ':' || name, count(*) OVER () FROM limits WHERE paused"
			      " ORDER BY scope, name LIMIT $1::int",
			      1, p, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	out->paused = xcalloc(k ? k : 1, sizeof(*out->paused));
	for (size_t i = 0; i < k; i++)
		out->paused[i] = xstrdup(PQgetvalue(r, (int)i, 0));
	out->npaused = k;
	out->paused_total = k ? col_i64(r, 0, 1) : 0;
	PQclear(r);
	return 0;
}

int schedstats_read(struct db_conn *c, struct schedstats *out, struct buf *err)
{
	memset(out, 0, sizeof(*out));
	/* one pass over jobs_waiting: a row per tenant, per type, and the total (grouping 3) */
	PGresult *r = db_exec(
		c, "schedstats_read",
		"SELECT grouping(tenant_id, type), coalesce(tenant_id, ''), coalesce(type, ''),"
		" count(*) FILTER (WHERE status <> 'scheduled' AND deferred_at IS NULL),"
		" count(*) FILTER (WHERE status <> 'scheduled' AND deferred_at IS NOT NULL),"
		" count(*) FILTER (WHERE status = 'scheduled'),"
		" coalesce(extract(epoch FROM now() - min(coalesce(run_at, created_at))"
		"   FILTER (WHERE status <> 'scheduled')), 0)::float8"
		" FROM jobs WHERE status IN ('queued', 'retrying', 'scheduled')"
		" GROUP BY GROUPING SETS ((tenant_id), (type), ())",
		0, NULL, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	out->tenants = xcalloc(k ? k : 1, sizeof(*out->tenants));
	out->types = xcalloc(k ? k : 1, sizeof(*out->types));
	for (size_t i = 0; i < k; i++) {
		int row = (int)i;
		long g = strtol(PQgetvalue(r, row, 0), NULL, 10);
		struct schedstats_group v = { .waiting = col_i64(r, row, 3),
					      .deferred = col_i64(r, row, 4),
					      .scheduled = col_i64(r, row, 5) };
		if (g == 1) { /* by tenant (type aggregated) */
			v.name = xstrdup(PQgetvalue(r, row, 1));
			out->tenants[out->ntenants++] = v;
		} else if (g == 2) {
			v.name = xstrdup(PQgetvalue(r, row, 2));
			out->types[out->ntypes++] = v;
		} else {
			out->total = v;
			out->oldest_s = strtod(PQgetvalue(r, row, 6), NULL);
		}
	}
	PQclear(r);
	schedstats_bound(out->tenants, &out->ntenants, SCHEDSTATS_TOP);
	schedstats_bound(out->types, &out->ntypes, SCHEDSTATS_TOP);
	return read_paused(c, out, err);
}

void schedstats_clear(struct schedstats *s)
{
	for (size_t i = 0; i < s->ntenants; i++)
		free(s->tenants[i].name);
	for (size_t i = 0; i < s->ntypes; i++)
		free(s->types[i].name);
	for (size_t i = 0; i < s->npaused; i++)
		free(s->paused[i]);
	free(s->tenants);
	free(s->types);
	free(s->paused);
	memset(s, 0, sizeof(*s));
}

/* The three gauges of one group, with one dimension (dim NULL: none). */
static size_t group_datums(const struct schedstats_group *g, const struct cw_dimension *dim, struct cw_datum *d)
{
	const char *names[] = { METRIC_JOBS_WAITING, METRIC_JOBS_DEFERRED, METRIC_JOBS_SCHEDULED };
	const int64_t values[] = { g->waiting, g->deferred, g->scheduled };
	for (size_t i = 0; i < 3; i++)
		d[i] = (struct cw_datum){ .name = names[i], .unit = "Count", .value = (double)values[i],
					  .dims = dim, .ndims = dim ? 1 : 0 };
	return 3;
}

size_t schedstats_datums(const struct schedstats *s, struct cw_datum **d, struct cw_dimension **dims)
{
	size_t ndims = s->ntenants + s->ntypes + s->npaused;
	size_t max = 3 * (1 + s->ntenants + s->ntypes) + 2 + s->npaused;
	struct cw_datum *o = xcalloc(max, sizeof(*o));
	struct cw_dimension *dm = xcalloc(ndims ? ndims : 1, sizeof(*dm));
	size_t n = 0, nd = 0;

	n += group_datums(&s->total, NULL, o + n);
	for (size_t i = 0; i < s->ntenants; i++) {
		dm[nd] = (struct cw_dimension){ "Tenant", s->tenants[i].name };
		n += group_datums(&s->tenants[i], &dm[nd++], o + n);
	}
	for (size_t i = 0; i < s->ntypes; i++) {
		dm[nd] = (struct cw_dimension){ "JobType", s->types[i].name };
		n += group_datums(&s->types[i], &dm[nd++], o + n);
	}
	o[n++] = (struct cw_datum){ .name = METRIC_OLDEST_WAITING_AGE, .unit = "Seconds", .value = s->oldest_s };
	o[n++] = (struct cw_datum){ .name = METRIC_PAUSED, .unit = "Count", .value = (double)s->paused_total };
	for (size_t i = 0; i < s->npaused; i++) {
		const char *colon = strchr(s->paused[i], ':');
		if (!colon)
			continue;
		bool tenant = !strncmp(s->paused[i], "tenant:", 7);
		dm[nd] = (struct cw_dimension){ tenant ? "Tenant" : "JobType", colon + 1 };
		o[n++] = (struct cw_datum){ .name = METRIC_PAUSED, .unit = "Count", .value = 1, .dims = &dm[nd++],
					    .ndims = 1 };
	}
	*d = o;
	*dims = dm;
	return n;
}

/* Whole seconds and milliseconds of "…SS.mmmZ" (no fraction: .000). */
static int parse_ms(const char *s, double *out)
{
	time_t t;
	if (!s || timefmt_parse(s, &t) < 0)
		return -1;
	double frac = 0;
	const char *dot = strchr(s, '.');
	if (dot) {
		double scale = 0.1;
		for (const char *p = dot + 1; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	*out = (double)t + frac;
	return 0;
}

double schedstats_wait_s(const char *from, const char *to)
{
	double a, b;
	if (parse_ms(from, &a) < 0 || parse_ms(to, &b) < 0)
		return -1;
	return b - a;
}
