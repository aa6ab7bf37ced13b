/*
 * fuzz-awscreds — the credential sources read from outside: the shared
 * credentials and config files (awscreds_parse_profile; the input up to its
 * first NUL byte is the credentials file, what follows up to the next one the
 * config file, as files read as C strings would be), and the JSON document of
 * the container endpoint and of instance metadata (awscreds_parse_json).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "awscreds.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_trimmed(const char *s)
{
	size_t n = strlen(s);
	return n && !isspace((unsigned char)s[0]) && !isspace((unsigned char)s[n - 1]);
}

/* A success fills both keys (a token is absent or not empty); a failure says why; "not found" leaves `c` alone. */
static void check(int rc, const struct aws_credentials *c, const struct buf *err)
{
	if (rc == 0) {
		if (!c->access_key_id || !*c->access_key_id || !c->secret_access_key || !*c->secret_access_key ||
		    (c->session_token && !*c->session_token) || !memchr(c->source, '\0', sizeof(c->source)))
			abort();
	} else if (rc < 0) {
		if (err->len == 0 || c->access_key_id || c->secret_access_key || c->session_token)
			abort();
	} else if (c->access_key_id || c->secret_access_key || c->session_token) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const profiles[] = { "default", "dev", "profile", "" };
	char *text = xmalloc(size + 2);
	memcpy(text, data, size);
	text[size] = text[size + 1] = '\0';
	const char *config = text + strlen(text) + 1;
	if (config > text + size)
		config = NULL;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		struct aws_credentials c = { 0 };
		struct buf err = BUF_INIT;
		int rc = awscreds_parse_profile(text, config, profiles[i], &c, &err);
		if (rc < -1 || rc > 1)
			abort();
		check(rc, &c, &err);
		/* keys come from "key = value" lines: trimmed, never empty */
		if (rc == 0 && (!is_trimmed(c.access_key_id) || !is_trimmed(c.secret_access_key) ||
				(c.session_token && !is_trimmed(c.session_token))))
			abort();
		aws_credentials_clear(&c);
		buf_release(&err);
	}

	struct aws_credentials c = { 0 };
	struct buf err = BUF_INIT;
	int rc = awscreds_parse_json(text, &c, &err);
	if (rc != 0 && rc != -1)
		abort();
	check(rc, &c, &err);
	aws_credentials_clear(&c);
	buf_release(&err);
	free(text);
	return 0;
}
