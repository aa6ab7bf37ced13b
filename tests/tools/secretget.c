/*
 * secretget — resolve one secret reference with libspool's cache, for tests.
 *   secretget -f CONFIG REF
 * Resolves REF, then for each line read on standard input resolves it again,
 * printing "ok <sha256 of the value>" or "error <message>" per attempt (the value
 * itself is never printed). Lets a test stop Secrets Manager between two reads.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "secrets.h"

static void attempt(struct secrets *sec, const char *ref)
{
	struct buf val = BUF_INIT, err = BUF_INIT;
	if (secrets_get(sec, ref, &val, &err) == 0) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		EVP_Digest(val.data ? val.data : "", val.len, md, &n, EVP_sha256(), NULL);
		printf("ok ");
		for (unsigned int i = 0; i < n; i++)
			printf("%02x", md[i]);
		printf("\n");
	} else {
		printf("error %s\n", buf_str(&err));
	}
	fflush(stdout);
	buf_release(&val);
	buf_release(&err);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int c;
	while ((c = getopt(argc, argv, "f:")) != -1) {
		if (c != 'f') {
			fputs("usage: secretget -f config REF\n", stderr);
			return 2;
		}
		path = optarg;
	}
	if (!path || optind != argc - 1) {
		fputs("usage: secretget -f config REF\n", stderr);
		return 2;
	}
	struct config cfg;
	struct buf err = BUF_INIT;
	if (config_load(&cfg, path, PROG_ADMINCTL, &err) < 0) {
		fputs(buf_str(&err), stderr);
		buf_release(&err);
		config_free(&cfg);
		return 78;
	}
	log_init("secretget", NULL, LF_TEXT, LL_INFO);
	struct secrets *sec = secrets_new(&cfg);
	char line[64];
	attempt(sec, argv[optind]);
	while (fgets(line, sizeof(line), stdin))
		attempt(sec, argv[optind]);
	secrets_free(sec);
	config_free(&cfg);
	buf_release(&err);
	return 0;
}
