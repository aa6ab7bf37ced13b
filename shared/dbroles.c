#include "dbroles.h"

#include <stdlib.h>
#include <string.h>

/*
 * What each daemon does to each table (the SQL of job.c, outbox.c, apikey.c and
 * daemons/). A statement's RETURNING, WHERE and FOR UPDATE need SELECT besides
 * UPDATE. Only the retention sweep deletes (jobs and their history, once
 * archived); outbox rows are marked sent. A new
 * table, or a daemon's new use of one, is added here with its migration.
 */
static const char *const api_grants[] = {
	"api_keys:SELECT,UPDATE",          /* apikey_lookup sets last_used_at */
	"jobs:SELECT,INSERT,UPDATE",       /* submit, get, list, cancel */
	"job_events:INSERT",
	"outbox:SELECT,INSERT,UPDATE",     /* the publisher claims and marks rows */
	"webhook_deliveries:SELECT,INSERT,UPDATE",
	"schema_version:SELECT",           /* /ready compares it with the binary's */
	"limits:SELECT",                   /* /ready lists the paused tenants and types */
	"job_tombstones:SELECT",           /* GET /v1/jobs/{id} of an archived job: 410 */
	"tenant_priorities:SELECT",        /* a submission's default priority */
};

static const char *const worker_grants[] = {
	"jobs:SELECT,UPDATE,DELETE",       /* claim, progress, results, reaper, re-drive; retention */
	"job_events:SELECT,INSERT,DELETE", /* history; retention archives and deletes it */
	"job_tombstones:SELECT,INSERT,UPDATE", /* retention: what was archived, where */
	"outbox:SELECT,INSERT,UPDATE",     /* messages of reaped, re-driven and woken jobs, sent at once */
	"limits:SELECT",                   /* the claim's limits and pauses */
	"stats_turns:SELECT,UPDATE",       /* one worker per interval computes the scheduling metrics */
};

const char *dbroles_kind_name(enum dbroles_kind k)
{
	return k == DBROLES_API ? "api" : "worker";
}

const char *const *dbroles_grants(enum dbroles_kind kind, int *n)
{
	if (kind == DBROLES_API) {
		*n = (int)(sizeof(api_grants) / sizeof(api_grants[0]));
		return api_grants;
	}
	*n = (int)(sizeof(worker_grants) / sizeof(worker_grants[0]));
	return worker_grants;
}


/* Is the existing role fit to be a daemon's? 1 absent, 0 fit, -1 refused or error. */
static int role_state(struct db_conn *c, const char *role, struct buf *err)
{
	const char *p[] = { role };
	PGresult *r = db_exec(c, NULL,
			      "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls,"
			      " rolname = current_user FROM pg_roles WHERE rolname = $1",
			      1, p, err);
	if (!r)
		return -1;
	int rc = 1;
	if (PQntuples(r) == 1) {
		rc = 0;
		if (!strcmp(PQgetvalue(r, 0, 1), "t")) {
			buf_printf(err, "role '%s' is the user running this command: give each daemon a role of its own",
				   role);
			rc = -1;
		} else if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
			buf_printf(err, "role '%s' exists with more than login rights (superuser, createrole, createdb, "
					"replication or bypassrls): not a daemon's role",
				   role);
			rc = -1;
		}
	}
	PQclear(r);
	return rc;
}

static int create_role(struct db_conn *c, const char *qrole, const char *role, const char *password,
		       struct buf *err)
{
	char *verifier = PQencryptPasswordConn(c->pg, password, role, "scram-sha-256");
	if (!verifier) {
		buf_printf(err, "role '%s': cannot make the password verifier: %s", role, PQerrorMessage(c->pg));
		return -1;
	}
	char *lit = PQescapeLiteral(c->pg, verifier, strlen(verifier));
	memset(verifier, 0, strlen(verifier));
	PQfreemem(verifier);
	if (!lit) {
		buf_printf(err, "role '%s': cannot quote the password verifier", role);
		return -1;
	}
	/* DDL takes no parameters: the name is quoted with PQescapeIdentifier, the verifier with PQescapeLiteral */
	struct buf sql = BUF_INIT;
	buf_printf(&sql,
		   "CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
		   " PASSWORD %s",
		   qrole, lit);
	int rc = db_cmd(c, buf_str(&sql), err);
	memset(sql.data, 0, sql.len);
	buf_release(&sql);
	PQfreemem(lit);
	return rc;
}

/* GRANT the table's privileges, and USAGE on its id's sequence when it inserts. */
static int grant_one(struct db_conn *c, const char *qrole, const char *spec, struct buf *err)
{
	const char *colon = strchr(spec, ':');
	struct buf table = BUF_INIT, sql = BUF_INIT;
	buf_add(&table, spec, (size_t)(colon - spec));
	buf_printf(&sql, "GRANT %s ON TABLE public.%s TO %s", colon + 1, buf_str(&table), qrole);
	int rc = db_cmd(c, buf_str(&sql), err);
	if (rc == 0 && strstr(colon + 1, "INSERT")) {
		struct buf qualified = BUF_INIT;
		buf_printf(&qualified, "public.%s", buf_str(&table));
		const char *p[] = { buf_str(&qualified) };
		PGresult *r = db_exec(c, NULL, "SELECT pg_get_serial_sequence($1, 'id')", 1, p, err);
		buf_release(&qualified);
		if (!r) {
			rc = -1;
		} else {
			if (!PQgetisnull(r, 0, 0)) {
				buf_reset(&sql);
				buf_printf(&sql, "GRANT USAGE ON SEQUENCE %s TO %s", PQgetvalue(r, 0, 0), qrole);
				rc = db_cmd(c, buf_str(&sql), err);
			}
			PQclear(r);
		}
	}
	buf_release(&sql);
	buf_release(&table);
	return rc;
}

int dbroles_ensure(struct db_conn *c, enum dbroles_kind kind, const char *role, const char *password,
		   bool *created, struct buf *err)
{
	if (created)
		*created = false;
	if (!role || !*role || strlen(role) > 63) {
		buf_printf(err, "the %s role's name must be 1-63 bytes", dbroles_kind_name(kind));
		return -1;
	}
	char *qrole = PQescapeIdentifier(c->pg, role, strlen(role));
	if (!qrole) {
		buf_printf(err, "role '%s': cannot quote the name", role);
		return -1;
	}
	struct buf sql = BUF_INIT;
	int n, state;
	const char *const *grants = dbroles_grants(kind, &n);
	size_t mark = err->len;
	if (db_cmd(c, "BEGIN", err) < 0)
		goto fail;
	if ((state = role_state(c, role, err)) < 0)
		goto fail;
	if (state == 1) {
		if (!password || !*password) {
			buf_printf(err, "role '%s': no password to create it with", role);
			goto fail;
		}
		if (create_role(c, qrole, role, password, err) < 0)
			goto fail;
	}
	buf_printf(&sql, "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %s;"
			 " REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %s;"
			 " GRANT USAGE ON SCHEMA public TO %s;"
			 " REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		   qrole, qrole, qrole);
	if (db_cmd(c, buf_str(&sql), err) < 0)
		goto fail;
	for (int i = 0; i < n; i++)
		if (grant_one(c, qrole, grants[i], err) < 0)
			goto fail;
	if (db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	if (created)
		*created = state == 1;
	buf_release(&sql);
	PQfreemem(qrole);
	return 0;
fail:
	{
		struct buf why = BUF_INIT, ignored = BUF_INIT;
		buf_adds(&why, buf_str(err) + mark);
		buf_truncate(err, mark);
		buf_printf(err, "%s role '%s': %s", dbroles_kind_name(kind), role, buf_str(&why));
		db_cmd(c, "ROLLBACK", &ignored);
		buf_release(&why);
		buf_release(&ignored);
	}
	buf_release(&sql);
	PQfreemem(qrole);
	return -1;
}
