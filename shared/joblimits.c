/* joblimits — tenants' and job types' concurrency limits and pauses (see joblimits.h). */
#include "joblimits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scope_names[JOBLIMITS_SCOPE_COUNT] = {
	[JOBLIMITS_TENANT] = "tenant",
	[JOBLIMITS_TYPE] = "type",
};

const char *joblimits_scope_name(enum joblimits_scope s)
{
	return (unsigned)s < JOBLIMITS_SCOPE_COUNT ? scope_names[s] : "unknown";
}

int joblimits_scope_parse(const char *s, enum joblimits_scope *out)
{
	for (int i = 0; s && i < JOBLIMITS_SCOPE_COUNT; i++)
		if (!strcmp(s, scope_names[i])) {
			*out = (enum joblimits_scope)i;
			return 0;
		}
	return -1;
}

bool joblimits_name_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > JOBLIMITS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return false;
	return true;
}

enum joblimits_verdict joblimits_decide(const struct joblimits_eff *tenant, const struct joblimits_eff *type)
{
	if (tenant->paused)
		return JOBLIMITS_TENANT_PAUSED;
	if (type->paused)
		return JOBLIMITS_TYPE_PAUSED;
	if (tenant->limited && tenant->running >= tenant->max_running)
		return JOBLIMITS_TENANT_FULL;
	if (type->limited && type->running >= type->max_running)
		return JOBLIMITS_TYPE_FULL;
	return JOBLIMITS_START;
}

const char *joblimits_verdict_reason(enum joblimits_verdict v)
{
	switch (v) {
	case JOBLIMITS_START:
		return "";
	case JOBLIMITS_TENANT_PAUSED:
		return "tenant paused";
	case JOBLIMITS_TYPE_PAUSED:
		return "type paused";
	case JOBLIMITS_TENANT_FULL:
		return "tenant limit";
	case JOBLIMITS_TYPE_FULL:
		return "type limit";
	}
	return "";
}

void joblimits_rows_free(struct joblimits_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].name);
		free(rows[i].updated_by);
	}
	free(rows);
}

int joblimits_list(struct db_conn *c, size_t max_others, struct joblimits_row **rows, size_t *n, struct buf *err)
{
	char max[24];
	snprintf(max, sizeof(max), "%zu", max_others);
	const char *params[] = { max };
	*rows = NULL;
	*n = 0;
	/* one pass over the jobs not finished, grouped by tenant and by type */
	PGresult *r = db_exec(
		c, "joblimits_list",
		"WITH act AS (SELECT CASE WHEN grouping(j.tenant_id) = 0 THEN 'tenant' ELSE 'type' END AS scope,"
		"    coalesce(j.tenant_id, j.type) AS name,"
		"    count(*) FILTER (WHERE j.status = 'running') AS running,"
		"    count(*) FILTER (WHERE j.status <> 'running' AND j.deferred_at IS NULL) AS waiting,"
		"    count(*) FILTER (WHERE j.status <> 'running' AND j.deferred_at IS NOT NULL) AS deferred,"
		"    min(coalesce(j.run_at, j.created_at)) FILTER (WHERE j.status <> 'running') AS oldest"
		"  FROM jobs j WHERE j.status IN ('running', 'queued', 'retrying')"
		"  GROUP BY GROUPING SETS ((j.tenant_id), (j.type))),"
		" gov AS (SELECT a.* FROM act a WHERE NOT EXISTS"
		"  (SELECT 1 FROM limits l WHERE l.scope = a.scope AND l.name = a.name)),"
		" star AS (SELECT scope, sum(running) AS running, sum(waiting) AS waiting, sum(deferred) AS deferred,"
		"  min(oldest) AS oldest FROM gov GROUP BY scope),"
		" busy AS (SELECT * FROM gov ORDER BY running + waiting + deferred DESC, name LIMIT $1::int),"
		/* and the tenants with a default priority but no row of limits */
		" other AS (SELECT * FROM busy UNION SELECT 'tenant', t.tenant, coalesce(a.running, 0),"
		"  coalesce(a.waiting, 0), coalesce(a.deferred, 0), a.oldest FROM tenant_priorities t"
		"  LEFT JOIN act a ON a.scope = 'tenant' AND a.name = t.tenant WHERE NOT EXISTS"
		"  (SELECT 1 FROM limits x WHERE x.scope = 'tenant' AND x.name = t.tenant))"
		" SELECT l.scope, l.name, true, l.max_running IS NOT NULL, coalesce(l.max_running, 0), l.paused,"
		"  coalesce(CASE WHEN l.name = '*' THEN s.running ELSE a.running END, 0),"
		"  coalesce(CASE WHEN l.name = '*' THEN s.waiting ELSE a.waiting END, 0),"
		"  coalesce(CASE WHEN l.name = '*' THEN s.deferred ELSE a.deferred END, 0),"
		"  coalesce(extract(epoch FROM now() - CASE WHEN l.name = '*' THEN s.oldest ELSE a.oldest END), 0)"
		"    ::float8,"
		"  " DB_RFC3339("l.updated_at") ", l.updated_by, coalesce(p.priority, '')"
		" FROM limits l LEFT JOIN act a ON a.scope = l.scope AND a.name = l.name"
		"  LEFT JOIN star s ON s.scope = l.scope AND l.name = '*'"
		"  LEFT JOIN tenant_priorities p ON l.scope = 'tenant' AND p.tenant = l.name"
		" UNION ALL"
		" SELECT b.scope, b.name, false, d.max_running IS NOT NULL, coalesce(d.max_running, 0),"
		"  coalesce(d.paused, false), b.running, b.waiting, b.deferred,"
		"  coalesce(extract(epoch FROM now() - b.oldest), 0)::float8, '', '', coalesce(p.priority, '')"
		" FROM other b LEFT JOIN limits d ON d.scope = b.scope AND d.name = '*'"
		"  LEFT JOIN tenant_priorities p ON b.scope = 'tenant' AND p.tenant = b.name"
		" ORDER BY 1, 2",
		1, params, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	*rows = xcalloc(k ? k : 1, sizeof(**rows));
	for (size_t i = 0; i < k; i++) {
		struct joblimits_row *o = &(*rows)[i];
		int row = (int)i;
		o->scope = strcmp(PQgetvalue(r, row, 0), "type") ? JOBLIMITS_TENANT : JOBLIMITS_TYPE;
		o->name = xstrdup(PQgetvalue(r, row, 1));
		o->own = !strcmp(PQgetvalue(r, row, 2), "t");
		o->limited = !strcmp(PQgetvalue(r, row, 3), "t");
		o->max_running = strtoll(PQgetvalue(r, row, 4), NULL, 10);
		o->paused = !strcmp(PQgetvalue(r, row, 5), "t");
		o->running = strtoll(PQgetvalue(r, row, 6), NULL, 10);
		o->waiting = strtoll(PQgetvalue(r, row, 7), NULL, 10);
		o->deferred = strtoll(PQgetvalue(r, row, 8), NULL, 10);
		o->oldest_wait_s = strtod(PQgetvalue(r, row, 9), NULL);
		snprintf(o->updated_at, sizeof(o->updated_at), "%s", PQgetvalue(r, row, 10));
		o->updated_by = xstrdup(PQgetvalue(r, row, 11));
		snprintf(o->priority, sizeof(o->priority), "%s", PQgetvalue(r, row, 12));
	}
	*n = k;
	PQclear(r);
	return 0;
}

int joblimits_set(struct db_conn *c, enum joblimits_scope scope, const char *name, int64_t max_running,
	       const char *actor, struct buf *err)
{
	char max[24];
	snprintf(max, sizeof(max), "%lld", (long long)max_running);
	const char *params[] = { joblimits_scope_name(scope), name, max_running < 0 ? NULL : max, actor };
	PGresult *r = db_exec(c, "joblimits_set",
			      "INSERT INTO limits (scope, name, max_running, updated_by) VALUES ($1, $2, $3::int, $4)"
			      " ON CONFLICT (scope, name) DO UPDATE SET max_running = EXCLUDED.max_running,"
			      "   updated_at = now(), updated_by = EXCLUDED.updated_by",
			      4, params, err);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

int joblimits_pause(struct db_conn *c, enum joblimits_scope scope, const char *name, bool paused, const char *actor,
		 bool *changed, struct buf *err)
{
	const char *params[] = { joblimits_scope_name(scope), name, paused ? "true" : "false", actor };
	PGresult *r = db_exec(c, "joblimits_pause",
			      "WITH old AS (SELECT paused FROM limits WHERE scope = $1 AND name = $2)"
			      " INSERT INTO limits (scope, name, paused, updated_by) VALUES ($1, $2, $3::bool, $4)"
			      " ON CONFLICT (scope, name) DO UPDATE SET paused = EXCLUDED.paused,"
			      "   updated_at = now(), updated_by = EXCLUDED.updated_by"
			      " RETURNING coalesce((SELECT paused FROM old), false) <> $3::bool",
			      4, params, err);
	if (!r)
		return -1;
	if (changed)
		*changed = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return 0;
}

int joblimits_paused_names(struct db_conn *c, size_t max, char ***names, size_t *n, struct buf *err)
{
	char lim[24];
	snprintf(lim, sizeof(lim), "%zu", max);
	const char *params[] = { lim };
	*names = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "joblimits_paused_names",
			      "SELECT scope || ':' || name FROM limits WHERE paused"
			      " ORDER BY scope, name LIMIT $1::int",
			      1, params, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	*names = xcalloc(k ? k : 1, sizeof(**names));
	for (size_t i = 0; i < k; i++)
		(*names)[i] = xstrdup(PQgetvalue(r, (int)i, 0));
	*n = k;
	PQclear(r);
	return 0;
}
