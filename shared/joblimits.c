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

int joblimits_list(struct db_conn *c, struct joblimits_row **rows, size_t *n, struct buf *err)
{
	*rows = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "joblimits_list",
			      "SELECT l.scope, l.name, l.max_running IS NOT NULL, coalesce(l.max_running, 0), l.paused,"
			      "  CASE WHEN l.name = '*' THEN 0 WHEN l.scope = 'tenant' THEN"
			      "    (SELECT count(*) FROM jobs j WHERE j.status = 'running' AND j.tenant_id = l.name)"
			      "  ELSE (SELECT count(*) FROM jobs j WHERE j.status = 'running' AND j.type = l.name) END,"
			      "  CASE WHEN l.name = '*' THEN"
			      "    (SELECT count(*) FROM jobs j WHERE j.deferred_at IS NOT NULL"
			      "      AND j.status IN ('queued', 'retrying'))"
			      "  WHEN l.scope = 'tenant' THEN"
			      "    (SELECT count(*) FROM jobs j WHERE j.deferred_at IS NOT NULL"
			      "      AND j.status IN ('queued', 'retrying') AND j.tenant_id = l.name)"
			      "  ELSE (SELECT count(*) FROM jobs j WHERE j.deferred_at IS NOT NULL"
			      "      AND j.status IN ('queued', 'retrying') AND j.type = l.name) END,"
			      "  " DB_RFC3339("l.updated_at") ", l.updated_by, l.own, coalesce(p.priority, '')"
			      " FROM (SELECT scope, name, max_running, paused, updated_at, updated_by, true AS own FROM limits"
			      "   UNION ALL SELECT 'tenant', t.tenant, NULL, false, t.updated_at, t.updated_by, false"
			      "   FROM tenant_priorities t WHERE NOT EXISTS (SELECT 1 FROM limits x"
			      "     WHERE x.scope = 'tenant' AND x.name = t.tenant)) l"
			      " LEFT JOIN tenant_priorities p ON l.scope = 'tenant' AND p.tenant = l.name"
			      " ORDER BY l.scope = 'type', l.name",
			      0, NULL, err);
	if (!r)
		return -1;
	size_t k = (size_t)PQntuples(r);
	*rows = xcalloc(k ? k : 1, sizeof(**rows));
	for (size_t i = 0; i < k; i++) {
		struct joblimits_row *o = &(*rows)[i];
		int row = (int)i;
		o->scope = strcmp(PQgetvalue(r, row, 0), "type") ? JOBLIMITS_TENANT : JOBLIMITS_TYPE;
		o->name = xstrdup(PQgetvalue(r, row, 1));
		o->limited = !strcmp(PQgetvalue(r, row, 2), "t");
		o->max_running = strtoll(PQgetvalue(r, row, 3), NULL, 10);
		o->paused = !strcmp(PQgetvalue(r, row, 4), "t");
		o->running = strtoll(PQgetvalue(r, row, 5), NULL, 10);
		o->deferred = strtoll(PQgetvalue(r, row, 6), NULL, 10);
		snprintf(o->updated_at, sizeof(o->updated_at), "%s", PQgetvalue(r, row, 7));
		o->updated_by = xstrdup(PQgetvalue(r, row, 8));
		o->own_limits = !strcmp(PQgetvalue(r, row, 9), "t");
		snprintf(o->priority, sizeof(o->priority), "%s", PQgetvalue(r, row, 10));
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
