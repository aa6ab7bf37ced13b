#include "audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int audit_record(struct db_conn *c, const char *actor, const char *action, const char *target, int count,
		 json_t *detail, struct buf *err)
{
	char num[16];
	snprintf(num, sizeof(num), "%d", count);
	char *js = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	const char *params[] = { actor, action, target, num, js };
	PGresult *r = db_exec(c, "audit_record",
			      "INSERT INTO audit (actor, action, target, count, detail)"
			      " VALUES ($1, $2, $3, $4::int, $5::jsonb)",
			      5, params, err);
	free(js);
	if (!r)
		return -1;
	PQclear(r);
	return 0;
}

char *audit_actor(const char *configured)
{
	if (configured && *configured)
		return xstrdup(configured);
	const char *env = getenv("SUDO_USER");
	if (env && *env)
		return xstrdup(env);
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
		return xstrdup(res->pw_name);
	struct buf b = BUF_INIT;
	buf_printf(&b, "uid:%u", (unsigned)getuid());
	return buf_detach(&b);
}

int audit_list(struct db_conn *c, int limit, struct audit_entry **out, size_t *n, struct buf *err)
{
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
	const char *params[] = { lim };
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "audit_list",
			      "SELECT " DB_RFC3339("at") ", actor, action, target, count, detail::text"
			      " FROM audit ORDER BY id DESC LIMIT $1::int",
			      1, params, err);
	if (!r)
		return -1;
	size_t rows = (size_t)PQntuples(r);
	struct audit_entry *e = xcalloc(rows ? rows : 1, sizeof(*e));
	for (size_t i = 0; i < rows; i++) {
		int row = (int)i;
		db_copy(e[i].at, sizeof(e[i].at), r, row, 0);
		e[i].actor = db_strdup(r, row, 1);
		e[i].action = db_strdup(r, row, 2);
		e[i].target = db_strdup(r, row, 3);
		e[i].count = atoi(PQgetvalue(r, row, 4));
		e[i].detail = PQgetisnull(r, row, 5) ? NULL : json_loads(PQgetvalue(r, row, 5), 0, NULL);
	}
	PQclear(r);
	*out = e;
	*n = rows;
	return 0;
}

void audit_entries_free(struct audit_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].actor);
		free(e[i].action);
		free(e[i].target);
		json_decref(e[i].detail);
	}
	free(e);
}
