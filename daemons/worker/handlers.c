/*
 * handlers — the registry of job types. See handlers.h.
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"

static struct handler handlers[] = {
	{ "noop", handler_noop, 0 },
	{ "media.probe", handler_probe, 1 },
};

void handlers_init(const struct config *cfg)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, "noop") == 0)
			handlers[i].enabled = cfg->worker.enable_noop;
}

const struct handler *handler_find(const char *type)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (type && strcmp(handlers[i].type, type) == 0)
			return handlers[i].enabled ? &handlers[i] : NULL;
	return NULL;
}

int handler_fail(struct handler_result *res, const char *code, int permanent, const char *fmt, ...)
{
	va_list ap;

	snprintf(res->code, sizeof(res->code), "%s", code);
	res->permanent = permanent;
	buf_reset(&res->message);
	va_start(ap, fmt);
	buf_vprintf(&res->message, fmt, ap);
	va_end(ap);
	return HANDLER_FAIL;
}

void handler_result_release(struct handler_result *res)
{
	json_decref(res->result);
	res->result = NULL;
	buf_release(&res->message);
}

/* noop: nothing to do once claimed; for health checks and benchmarks. */
int handler_noop(struct handler_ctx *ctx, struct handler_result *res)
{
	(void)ctx;
	res->result = json_object();
	return HANDLER_OK;
}
