#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "audit.h"
#include "cmd.h"

static int cmd_keys_create_exec(struct cmd_ctx *ctx, int argc, char **argv);

const struct cmd_entry cmd_keys_create_entry = {
	.name = "keys create",
	.usage = "--tenant T [--name N]",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_keys_create_exec,
};

struct create_opts {
	const char *tenant, *name;
};

static int on_opt(int opt, const char *val, void *arg)
{
	struct create_opts *o = arg;
	if (opt == 't')
		o->tenant = val;
	else if (opt == 'n')
		o->name = val;
	else
		return -1;
	return 0;
}

static int cmd_keys_create_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct create_opts o = { 0 };
	int rc;
	if (cmd_getopt(ctx, &cmd_keys_create_entry, argc, argv, "t:n:", longopts, on_opt, &o) < 0)
		return CMD_EXIT_USAGE;
	if (!o.tenant)
		return cmd_usage(&cmd_keys_create_entry);
	if (!apikey_tenant_valid(o.tenant)) {
		cmd_error("keys create: tenant '%s' is not valid: use 1-63 of a-z 0-9 - _", o.tenant);
		return CMD_EXIT_USAGE;
	}
	if (o.name && strlen(o.name) > 200) {
		cmd_error("keys create: name is longer than 200 characters");
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_keys_create_entry)))
		return rc;
	struct buf pepper = BUF_INIT, err = BUF_INIT, key = BUF_INIT;
	char id[37];
	if (!ctx->cfg.api.pepper_secret) {
		cmd_error("keys create: no [api] pepper_secret in '%s'", ctx->config_path);
		return CMD_EXIT_CONFIG;
	}
	if (secrets_get(cmd_secrets(ctx), ctx->cfg.api.pepper_secret, &pepper, &err) < 0) {
		cmd_error("keys create: %s", buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (apikey_pepper_check(pepper.data, pepper.len, ctx->cfg.api.pepper_secret, &err) < 0) {
		cmd_error("keys create: %s", buf_str(&err));
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	if ((rc = cmd_db(ctx)))
		goto out;
	if (apikey_create(ctx->db, buf_str(&pepper), o.tenant, o.name, &key, id, &err) < 0) {
		cmd_error("keys create: %s", buf_str(&err));
		rc = CMD_EXIT_FAILURE;
		goto out;
	}
	json_t *detail = json_pack("{s:s, s:s?}", "tenant", o.tenant, "name", o.name);
	if (audit_record(ctx->db, cmd_actor(ctx), "keys.create", id, 1, detail, &err) < 0)
		cmd_error("keys create: key made, but the audit record failed: %s", buf_str(&err));
	json_decref(detail);
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:s, s:s, s:s?}", "key", buf_str(&key), "id", id, "tenant", o.tenant,
					 "name", o.name));
	else
		printf("%s\n%s\n", buf_str(&key), id);
	rc = CMD_EXIT_OK;
out:
	if (pepper.data)
		OPENSSL_cleanse(pepper.data, pepper.len);
	buf_release(&pepper);
	buf_release(&key);
	buf_release(&err);
	return rc;
}
