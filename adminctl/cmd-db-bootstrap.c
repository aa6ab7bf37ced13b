/*
 * db bootstrap — what a fresh deployment needs in its database, safe to run on
 * every boot of every host: the migrations, the daemons' own roles, and the
 * first tenant with an API key kept in a Secrets Manager secret, and the
 * daemons' own broker users. Runs with the master user's credentials
 * (adminctl's [database] secret) and the broker administrator's ([rabbitmq]
 * secret); hosts booting at once take turns on an advisory lock.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apikey.h"
#include "audit.h"
#include "cmd.h"
#include "dbroles.h"
#include "migrate.h"
#include "rmqadmin.h"

/* Held for the whole bootstrap (a session lock); migrate_apply's own is taken inside. */
#define BOOTSTRAP_LOCK_KEY "7311853202"
/* How long a host waits for another's bootstrap (a long migration) before giving up. */
#define BOOTSTRAP_WAIT_S 900

static int cmd_db_bootstrap_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_db_bootstrap_entry = {
	.name = "db bootstrap",
	.usage = "[--key-secret ARN] [--tenant T] [--api-secret REF] [--worker-secret REF]",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_db_bootstrap_exec,
};

struct bootstrap_opts {
	const char *key_secret, *tenant, *api_secret, *worker_secret;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct bootstrap_opts *o = arg;
	switch (opt) {
	case 'k': o->key_secret = val; break;
	case 't': o->tenant = val; break;
	case 'a': o->api_secret = val; break;
	case 'w': o->worker_secret = val; break;
	default: return -1;
	}
	return 0;
}

/*
 * Wait for the bootstrap lock, polling so that [database] statement_timeout
 * does not cut a wait behind another host's long migration. 0, or an exit code.
 */
static int take_lock(struct cmd_ctx *ctx)
{
	struct buf err = BUF_INIT;
	time_t until = time(NULL) + BOOTSTRAP_WAIT_S;
	bool said = false;
	for (;;) {
		PGresult *r = db_exec(ctx->db, NULL, "SELECT pg_try_advisory_lock(" BOOTSTRAP_LOCK_KEY ")", 0, NULL,
				      &err);
		if (!r) {
			cmd_error("db bootstrap: %s", buf_str(&err));
			buf_release(&err);
			return CMD_EXIT_UNAVAILABLE;
		}
		bool got = !strcmp(PQgetvalue(r, 0, 0), "t");
		PQclear(r);
		if (got)
			break;
		if (time(NULL) >= until) {
			cmd_error("db bootstrap: another bootstrap held the lock for %d s: is one stuck?",
				  BOOTSTRAP_WAIT_S);
			buf_release(&err);
			return CMD_EXIT_FAILURE;
		}
		if (!said && !ctx->json) {
			fprintf(stderr, "adminctl: db bootstrap: waiting for another host's bootstrap\n");
			said = true;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 250000000 }, NULL);
	}
	buf_release(&err);
	return 0;
}

/* The role of one daemon, from its database secret; adds {kind, role, created} to `roles`. */
static int ensure_role(struct cmd_ctx *ctx, enum dbroles_kind kind, const char *ref, json_t *roles, int *created_n)
{
	const char *kind_name = dbroles_kind_name(kind);
	if (!ref) {
		if (!ctx->json)
			printf("role of spool-%s: not managed (no [database] %s_role_secret)\n", kind_name, kind_name);
		return 0;
	}
	struct buf value = BUF_INIT, err = BUF_INIT;
	struct db_secret ds = { 0 };
	int rc = 0;
	bool created = false;
	if (secrets_get(cmd_secrets(ctx), ref, &value, &err) < 0) {
		cmd_error("db bootstrap: spool-%s's database secret: %s", kind_name, buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (db_secret_parse(buf_str(&value), &ds, &err) < 0) {
		cmd_error("db bootstrap: spool-%s's database secret '%s': %s", kind_name, ref, buf_str(&err));
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	if (dbroles_ensure(ctx->db, kind, ds.username, ds.password, &created, &err) < 0) {
		cmd_error("db bootstrap: %s", buf_str(&err));
		rc = ctx->db->broken ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
		goto out;
	}
	*created_n += created;
	json_array_append_new(roles, json_pack("{s:s, s:s, s:b}", "daemon", kind_name, "role", ds.username,
					       "created", created));
	if (!ctx->json)
		printf("role %s of spool-%s: %s\n", ds.username, kind_name,
		       created ? "created, with its grants" : "present, grants checked");
out:
	db_secret_free(&ds);
	if (value.data)
		OPENSSL_cleanse(value.data, value.len);
	buf_release(&value);
	buf_release(&err);
	return rc;
}

/*
 * The broker user of one daemon, from its broker secret, with the daemon's
 * permissions (rmqadmin); adds {daemon, user, change} to `users`.
 */
static int ensure_mq_user(struct cmd_ctx *ctx, const char *kind_name, const char *ref,
			  const struct rmqadmin_perms *perms, json_t *users, int *changed_n)
{
	static const char *const said[] = {
		[RMQADMIN_USER_UNCHANGED] = "unchanged",
		[RMQADMIN_USER_CREATED] = "created",
		[RMQADMIN_USER_UPDATED] = "updated",
	};
	if (!ref || !*ref) {
		if (!ctx->json)
			printf("broker user of spool-%s: not managed (no [rabbitmq] %s_user_secret)\n", kind_name,
			       kind_name);
		return 0;
	}
	struct buf value = BUF_INIT, err = BUF_INIT;
	struct mq_secret ms = { 0 };
	enum rmqadmin_user_change change = RMQADMIN_USER_UNCHANGED;
	int rc = 0, r;
	if (secrets_get(cmd_secrets(ctx), ref, &value, &err) < 0) {
		cmd_error("db bootstrap: spool-%s's broker secret: %s", kind_name, buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (mq_secret_parse(buf_str(&value), &ms, &err) < 0) {
		cmd_error("db bootstrap: spool-%s's broker secret '%s': %s", kind_name, ref, buf_str(&err));
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	r = rmqadmin_user_ensure(&ctx->cfg, cmd_secrets(ctx), ms.username, ms.password, ms.vhost, perms, &change,
				 &err);
	if (r < 0) {
		cmd_error("db bootstrap: broker user %s of spool-%s: %s", ms.username, kind_name, buf_str(&err));
		rc = r == RMQADMIN_DOWN ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
		goto out;
	}
	*changed_n += change != RMQADMIN_USER_UNCHANGED;
	json_array_append_new(users, json_pack("{s:s, s:s, s:s}", "daemon", kind_name, "user", ms.username, "change",
					       said[change]));
	if (!ctx->json)
		printf("broker user %s of spool-%s: %s\n", ms.username, kind_name,
		       change == RMQADMIN_USER_UNCHANGED ? "present, password and permissions checked"
		       : change == RMQADMIN_USER_CREATED ? "created, with its permissions"
							 : "updated (password, tags or permissions)");
out:
	mq_secret_free(&ms);
	if (value.data)
		OPENSSL_cleanse(value.data, value.len);
	buf_release(&value);
	buf_release(&err);
	return rc;
}

/* 1 if the database has a tenant, 0 if none, -1 on error (printed). */
static int any_tenant(struct cmd_ctx *ctx)
{
	struct buf err = BUF_INIT;
	PGresult *r = db_exec(ctx->db, NULL, "SELECT EXISTS (SELECT 1 FROM tenants)", 0, NULL, &err);
	if (!r) {
		cmd_error("db bootstrap: %s", buf_str(&err));
		buf_release(&err);
		return -1;
	}
	int rc = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return rc;
}

/*
 * The first tenant and its key, when there is no tenant. The key goes to the
 * secret first and to the database second: should the second fail, the next
 * run finds the key in the secret and records it, so that the key a client
 * was given is never replaced. A value in the secret that is not an API key (a
 * placeholder) is replaced. *made gets 1 when the tenant was created.
 */
static int first_tenant(struct cmd_ctx *ctx, const struct bootstrap_opts *o, json_t *out, int *made)
{
	int rc = any_tenant(ctx);
	if (rc < 0)
		return ctx->db->broken ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
	if (rc == 1) {
		json_object_set_new(out, "tenant", json_null());
		if (!ctx->json)
			printf("tenants exist: no first key made\n");
		return 0;
	}
	if (!o->key_secret) {
		json_object_set_new(out, "tenant", json_null());
		if (!ctx->json)
			printf("no tenant yet: give --key-secret ARN to create the first one\n");
		return 0;
	}
	if (!ctx->cfg.api.pepper_secret) {
		cmd_error("db bootstrap: no [api] pepper_secret in '%s': it is needed to store the first key",
			  ctx->config_path);
		return CMD_EXIT_CONFIG;
	}
	struct buf pepper = BUF_INIT, key = BUF_INIT, err = BUF_INIT;
	struct secrets *sec = cmd_secrets(ctx);
	char id[37];
	bool reused = false;
	if (secrets_get(sec, ctx->cfg.api.pepper_secret, &pepper, &err) < 0) {
		cmd_error("db bootstrap: %s", buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (apikey_pepper_check(pepper.data, pepper.len, ctx->cfg.api.pepper_secret, &err) < 0) {
		cmd_error("db bootstrap: %s", buf_str(&err));
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	rc = secrets_get_current(sec, o->key_secret, &key, &err);
	if (rc < 0) {
		cmd_error("db bootstrap: the key secret: %s", buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (rc == 0 && apikey_format_ok(buf_str(&key))) {
		reused = true;
	} else {
		apikey_generate(&key);
		if (secrets_put(sec, o->key_secret, buf_str(&key), NULL, &err) < 0) {
			cmd_error("db bootstrap: the key secret: %s", buf_str(&err));
			rc = CMD_EXIT_UNAVAILABLE;
			goto out;
		}
	}
	if (apikey_insert(ctx->db, buf_str(&pepper), o->tenant, "first-boot", buf_str(&key), id, &err) < 0) {
		cmd_error("db bootstrap: the first tenant's key is in '%s' but not in the database: %s "
			  "(run again to record it)",
			  o->key_secret, buf_str(&err));
		rc = ctx->db->broken ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
		goto out;
	}
	*made = 1;
	json_object_set_new(out, "tenant", json_string(o->tenant));
	json_object_set_new(out, "key_id", json_string(id));
	json_object_set_new(out, "key_secret", json_string(o->key_secret));
	if (!ctx->json)
		printf("first tenant '%s': its API key (id %s) is in secret %s%s\n", o->tenant, id, o->key_secret,
		       reused ? " (the key already there)" : "");
	rc = 0;
out:
	if (pepper.data)
		OPENSSL_cleanse(pepper.data, pepper.len);
	if (key.data)
		OPENSSL_cleanse(key.data, key.len);
	buf_release(&pepper);
	buf_release(&key);
	buf_release(&err);
	return rc;
}

static int cmd_db_bootstrap_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key-secret", required_argument, NULL, 'k' },
		{ "tenant", required_argument, NULL, 't' },
		{ "api-secret", required_argument, NULL, 'a' },
		{ "worker-secret", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct bootstrap_opts o = { .tenant = "default" };
	int rc, from = 0, to = 0, roles_made = 0, tenant_made = 0, users_changed = 0;
	if (cmd_getopt(ctx, &cmd_db_bootstrap_entry, argc, argv, "", longopts, on_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	if (!apikey_tenant_valid(o.tenant)) {
		cmd_error("db bootstrap: tenant '%s' is not valid: use 1-63 of a-z 0-9 - _", o.tenant);
		return CMD_EXIT_USAGE;
	}
	/* the unit passes ${SPOOL_FIRST_KEY_SECRET}, empty when /etc/default/spool does not set it */
	if (o.key_secret && !*o.key_secret)
		o.key_secret = NULL;
	if (o.key_secret && strncmp(o.key_secret, "arn:", 4)) {
		cmd_error("db bootstrap: --key-secret '%s' is not a Secrets Manager ARN", o.key_secret);
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_db(ctx)) || (rc = cmd_check_writable(ctx, &cmd_db_bootstrap_entry)) || (rc = take_lock(ctx)))
		return rc;
	if (!o.api_secret)
		o.api_secret = ctx->cfg.database.api_role_secret;
	if (!o.worker_secret)
		o.worker_secret = ctx->cfg.database.worker_role_secret;

	struct buf err = BUF_INIT;
	json_t *out = json_object(), *roles = json_array(), *users = json_array();
	if (migrate_apply(ctx->db, &from, &to, &err) < 0) {
		cmd_error("db bootstrap: %s", buf_str(&err));
		rc = ctx->db->broken ? CMD_EXIT_UNAVAILABLE : CMD_EXIT_FAILURE;
		goto done;
	}
	if (!ctx->json) {
		if (to == from)
			printf("schema is up to date at version %d\n", to);
		else
			printf("migrated schema from version %d to %d\n", from, to);
	}
	if ((rc = ensure_role(ctx, DBROLES_API, o.api_secret, roles, &roles_made)) ||
	    (rc = ensure_role(ctx, DBROLES_WORKER, o.worker_secret, roles, &roles_made)) ||
	    (rc = first_tenant(ctx, &o, out, &tenant_made)) ||
	    (rc = ensure_mq_user(ctx, "api", ctx->cfg.rabbitmq.api_user_secret, &rmqadmin_api_perms, users,
				 &users_changed)) ||
	    (rc = ensure_mq_user(ctx, "worker", ctx->cfg.rabbitmq.worker_user_secret, &rmqadmin_worker_perms, users,
				 &users_changed)))
		goto done;
	rc = CMD_EXIT_OK;
done:
	if (to != from || roles_made || tenant_made || users_changed) {
		json_t *detail = json_pack("{s:i, s:i, s:i, s:i, s:s?}", "from", from, "to", to, "roles_created",
					   roles_made, "broker_users_changed", users_changed, "tenant",
					   tenant_made ? o.tenant : NULL);
		if (audit_record(ctx->db, cmd_actor(ctx), "db.bootstrap", NULL,
				 (to - from) + roles_made + tenant_made + users_changed,
				 detail, &err) < 0)
			cmd_error("db bootstrap: done, but the audit record failed: %s", buf_str(&err));
		json_decref(detail);
	}
	db_cmd(ctx->db, "SELECT pg_advisory_unlock(" BOOTSTRAP_LOCK_KEY ")", &err);
	if (ctx->json && rc == CMD_EXIT_OK) {
		json_object_set_new(out, "from", json_integer(from));
		json_object_set_new(out, "to", json_integer(to));
		json_object_set_new(out, "roles", roles);
		json_object_set_new(out, "broker_users", users);
		cmd_print_json(out);
	} else {
		json_decref(roles);
		json_decref(users);
		json_decref(out);
	}
	buf_release(&err);
	return rc;
}
