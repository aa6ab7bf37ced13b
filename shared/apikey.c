#include "apikey.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "job.h"

int apikey_pepper_check(const char *pepper, size_t len, const char *ref, struct buf *err)
{
	size_t n = pepper ? strnlen(pepper, len) : 0;
	if (n < len) {
		buf_printf(err, "api.pepper_secret '%s': the pepper has a NUL byte; use text, e.g. 64 hex digits "
				"(openssl rand -hex 32)", ref ? ref : "");
		return -1;
	}
	if (n < APIKEY_PEPPER_MIN) {
		buf_printf(err, "api.pepper_secret '%s': the pepper is %zu bytes, shorter than the minimum of %d; "
				"store a random one, e.g. 64 hex digits (openssl rand -hex 32)", ref ? ref : "", n,
			   APIKEY_PEPPER_MIN);
		return -1;
	}
	return 0;
}

void apikey_hash(const char *pepper, const char *key, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), pepper, (int)strlen(pepper), (const unsigned char *)key, strlen(key), out, &len);
}

static bool urlsafe_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '_';
}

bool apikey_format_ok(const char *key)
{
	if (!key || strncmp(key, "sk_", 3))
		return false;
	size_t n = 0;
	for (const char *p = key + 3; *p; p++, n++)
		if (!urlsafe_char(*p) || n + 3 >= APIKEY_MAX_LEN)
			return false;
	return n >= 32;
}

void apikey_generate(struct buf *out)
{
	unsigned char raw[32];
	unsigned char enc[48]; /* 4 * ceil(32 / 3) + NUL */
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		/* The CSPRNG cannot fail on a working system; a key without entropy must never exist. */
		abort();
	}
	int n = EVP_EncodeBlock(enc, raw, sizeof(raw));
	buf_reset(out);
	buf_adds(out, "sk_");
	for (int i = 0; i < n && enc[i] != '='; i++)
		buf_addc(out, enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : (char)enc[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
}

/* The hash as a bytea parameter in hex ("\x…"). */
static void hash_param(const unsigned char hash[32], char out[67])
{
	static const char hex[] = "0123456789abcdef";
	out[0] = '\\';
	out[1] = 'x';
	for (int i = 0; i < 32; i++) {
		out[2 + 2 * i] = hex[hash[i] >> 4];
		out[3 + 2 * i] = hex[hash[i] & 15];
	}
	out[66] = '\0';
}

bool apikey_tenant_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 63 || t[0] == '-' || t[0] == '_')
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

int apikey_insert(struct db_conn *c, const char *pepper, const char *tenant, const char *name, const char *key,
		  char id_out[37], struct buf *err)
{
	unsigned char hash[32];
	char hex[67], prefix[APIKEY_PREFIX_LEN + 1];
	apikey_hash(pepper, key, hash);
	hash_param(hash, hex);
	memcpy(prefix, key, APIKEY_PREFIX_LEN);
	prefix[APIKEY_PREFIX_LEN] = '\0';
	/* One statement: the tenant row and the key commit together. */
	const char *params[] = { tenant, name ? name : "", prefix, hex };
	PGresult *r = db_exec(c, "apikey_create",
			      "WITH t AS (INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING)"
			      " INSERT INTO api_keys (tenant_id, name, prefix, hash) VALUES ($1, $2, $3, $4::bytea)"
			      " RETURNING id",
			      4, params, err);
	if (!r)
		return -1;
	db_copy(id_out, 37, r, 0, 0);
	PQclear(r);
	return 0;
}

int apikey_create(struct db_conn *c, const char *pepper, const char *tenant, const char *name,
		  struct buf *key_out, char id_out[37], struct buf *err)
{
	apikey_generate(key_out);
	if (apikey_insert(c, pepper, tenant, name, buf_str(key_out), id_out, err) < 0) {
		buf_reset(key_out);
		return -1;
	}
	return 0;
}

int apikey_lookup(struct db_conn *c, const unsigned char hash[32], char **tenant_out, char id_out[37],
		  struct buf *err)
{
	char hex[67];
	hash_param(hash, hex);
	const char *params[] = { hex };
	PGresult *r = db_exec(c, "apikey_lookup",
			      "UPDATE api_keys SET last_used_at = now() WHERE hash = $1::bytea AND revoked_at IS NULL"
			      " RETURNING id, tenant_id, hash",
			      1, params, err);
	if (!r)
		return -1;
	bool found = false;
	if (PQntuples(r) == 1) {
		size_t len = 0;
		unsigned char *stored = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2), &len);
		found = stored && len == 32 && CRYPTO_memcmp(stored, hash, 32) == 0;
		PQfreemem(stored);
	}
	if (found) {
		db_copy(id_out, 37, r, 0, 0);
		*tenant_out = db_strdup(r, 0, 1);
	}
	PQclear(r);
	return found ? 0 : 1;
}

int apikey_revoke(struct db_conn *c, const char *id, struct buf *err)
{
	if (!job_id_valid(id))
		return 1;
	const char *params[] = { id };
	PGresult *r = db_exec(c, "apikey_revoke",
			      "UPDATE api_keys SET revoked_at = now() WHERE id = $1::uuid AND revoked_at IS NULL"
			      " RETURNING id",
			      1, params, err);
	if (!r)
		return -1;
	bool found = PQntuples(r) == 1;
	PQclear(r);
	return found ? 0 : 1;
}

int apikey_list(struct db_conn *c, struct apikey_info **out, size_t *n, struct buf *err)
{
	*out = NULL;
	*n = 0;
	PGresult *r = db_exec(c, "apikey_list",
			      "SELECT id, tenant_id, name, prefix, " DB_RFC3339("created_at") ", "
			      DB_RFC3339("revoked_at") " FROM api_keys ORDER BY created_at, id",
			      0, NULL, err);
	if (!r)
		return -1;
	size_t rows = (size_t)PQntuples(r);
	struct apikey_info *v = xcalloc(rows ? rows : 1, sizeof(*v));
	for (size_t i = 0; i < rows; i++) {
		int row = (int)i;
		db_copy(v[i].id, sizeof(v[i].id), r, row, 0);
		v[i].tenant = xstrdup(PQgetvalue(r, row, 1));
		v[i].name = xstrdup(PQgetvalue(r, row, 2));
		v[i].prefix = xstrdup(PQgetvalue(r, row, 3));
		db_copy(v[i].created_at, sizeof(v[i].created_at), r, row, 4);
		db_copy(v[i].revoked_at, sizeof(v[i].revoked_at), r, row, 5);
	}
	PQclear(r);
	*out = v;
	*n = rows;
	return 0;
}

void apikey_info_free(struct apikey_info *infos, size_t n)
{
	for (size_t i = 0; infos && i < n; i++) {
		free(infos[i].tenant);
		free(infos[i].name);
		free(infos[i].prefix);
	}
	free(infos);
}
