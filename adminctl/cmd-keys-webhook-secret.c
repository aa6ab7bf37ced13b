#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "audit.h"
#include "cmd.h"
#include "webhook.h"

static int cmd_keys_webhook_secret_exec(struct cmd_ctx *ctx, int argc, char **argv);

/*
 * A tenant's webhook signing secret, to hand to the client so that it can check
 * X-Spool-Signature. It is derived from the pepper, never stored; reading it is
 * an audited action like the other key commands.
 */
const struct cmd_entry cmd_keys_webhook_secret_entry = {
	.name = "keys webhook-secret",
	.usage = "--tenant T",
	.args_min = 0,
	.args_max = 0,
	.flags = CMD_ACTION,
	.exec = cmd_keys_webhook_secret_exec,
};

static int on_opt(int opt, const char *val, void *arg)
{
	if (opt != 't')
		return -1;
	*(const char **)arg = val;
	return 0;
}

static int cmd_keys_webhook_secret_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tenant = NULL;
	int rc;
	if (cmd_getopt(ctx, &cmd_keys_webhook_secret_entry, argc, argv, "t:", longopts, on_opt, &tenant) < 0)
		return CMD_EXIT_USAGE;
	if (!tenant || !*tenant)
		return cmd_usage(&cmd_keys_webhook_secret_entry);
	if ((rc = cmd_config(ctx)) || (rc = cmd_check_writable(ctx, &cmd_keys_webhook_secret_entry)))
		return rc;
	if (!ctx->cfg.api.pepper_secret) {
		cmd_error("keys webhook-secret: no [api] pepper_secret in '%s'", ctx->config_path);
		return CMD_EXIT_CONFIG;
	}
	struct buf pepper = BUF_INIT, err = BUF_INIT, hex = BUF_INIT;
	if (secrets_get(cmd_secrets(ctx), ctx->cfg.api.pepper_secret, &pepper, &err) < 0) {
		cmd_error("keys webhook-secret: %s", buf_str(&err));
		rc = CMD_EXIT_UNAVAILABLE;
		goto out;
	}
	if (apikey_pepper_check(pepper.data, pepper.len, ctx->cfg.api.pepper_secret, &err) < 0) {
		cmd_error("keys webhook-secret: %s", buf_str(&err));
		rc = CMD_EXIT_CONFIG;
		goto out;
	}
	if ((rc = cmd_db(ctx)))
		goto out;
	unsigned char key[WEBHOOK_KEY_LEN];
	webhook_tenant_key(pepper.data, pepper.len, tenant, key);
	for (size_t i = 0; i < sizeof(key); i++)
		buf_printf(&hex, "%02x", key[i]);
	OPENSSL_cleanse(key, sizeof(key));
	json_t *detail = json_pack("{s:s}", "tenant", tenant);
	if (audit_record(ctx->db, cmd_actor(ctx), "keys.webhook_secret", tenant, 1, detail, &err) < 0) {
		json_decref(detail);
		cmd_error("keys webhook-secret: cannot write the audit record, not showing the secret: %s",
			  buf_str(&err));
		rc = CMD_EXIT_FAILURE;
		goto out;
	}
	json_decref(detail);
	if (ctx->json)
		cmd_print_json(json_pack("{s:s, s:s}", "tenant", tenant, "secret", buf_str(&hex)));
	else
		printf("%s\n", buf_str(&hex));
	rc = CMD_EXIT_OK;
out:
	if (hex.data)
		OPENSSL_cleanse(hex.data, hex.len);
	if (pepper.data)
		OPENSSL_cleanse(pepper.data, pepper.len);
	buf_release(&hex);
	buf_release(&pepper);
	buf_release(&err);
	return rc;
}
