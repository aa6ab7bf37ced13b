/*
 * apikey — API keys: making, hashing, looking up, listing and revoking them.
 *
 * A key is "sk_" followed by 43 URL-safe base64 characters (32 random bytes from
 * RAND_bytes). It is shown once, when created; the database keeps only
 * HMAC-SHA256(pepper, key) (unique) and the key's first 10 characters as a
 * display prefix. A key belongs to one tenant.
 *
 * Return convention: 0 success, 1 "not found" where documented, -1 database
 * error with a one-line reason in `err`. Key values never reach `err` or a log.
 */
#ifndef SPOOL_APIKEY_H
#define SPOOL_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "db.h"

#define APIKEY_MAX_LEN 200
#define APIKEY_PREFIX_LEN 10

/*
 * The shortest pepper accepted. It keys every stored key hash and every webhook
 * secret: a short or empty one lets a copy of the database be brute-forced.
 */
#define APIKEY_PEPPER_MIN 32

/*
 * Is `pepper` (len bytes, as resolved from [api] pepper_secret `ref`) fit to use:
 * at least APIKEY_PEPPER_MIN bytes and no NUL byte? 0, or -1 with the reason in
 * `err` (naming `ref`, never the pepper): a configuration error.
 */
int apikey_pepper_check(const char *pepper, size_t len, const char *ref, struct buf *err);

/* HMAC-SHA256(pepper, key) into `out`. */
void apikey_hash(const char *pepper, const char *key, unsigned char out[32]);

/* true if `key` is "sk_" + at least 32 URL-safe base64 chars, at most APIKEY_MAX_LEN long. */
bool apikey_format_ok(const char *key);

/* A fresh random key into `out` (reset first). */
void apikey_generate(struct buf *out);

/*
 * Make a key for `tenant` (the tenant row is created if missing), named `name`
 * (may be NULL). The key goes to `key_out` (reset first; the only copy), its id to
 * `id_out`.
 */
int apikey_create(struct db_conn *c, const char *pepper, const char *tenant, const char *name,
		  struct buf *key_out, char id_out[37], struct buf *err);

/*
 * Record `key` (apikey_format_ok), made elsewhere, for `tenant` as apikey_create
 * does: a key kept outside the database (a secret) whose record was lost.
 */
int apikey_insert(struct db_conn *c, const char *pepper, const char *tenant, const char *name, const char *key,
		  char id_out[37], struct buf *err);

/* Tenant ids appear in S3 keys and URLs: 1-63 of a-z 0-9 '-' '_', not starting with '-' or '_'. */
bool apikey_tenant_valid(const char *tenant);

/*
 * Find the key with this hash: 0 found and not revoked (*tenant_out malloc'd,
 * caller frees; `id_out` filled), 1 not found or revoked. The stored hash is
 * compared again with CRYPTO_memcmp. Updates last_used_at.
 */
int apikey_lookup(struct db_conn *c, const unsigned char hash[32], char **tenant_out, char id_out[37],
		  struct buf *err);

/* Revoke key `id`; 1 if there is no such (unrevoked) key, also for a malformed id. */
int apikey_revoke(struct db_conn *c, const char *id, struct buf *err);

struct apikey_info {
	char id[37];
	char *tenant;
	char *name;
	char *prefix;
	char created_at[40]; /* RFC 3339 UTC */
	char revoked_at[40]; /* "" when not revoked */
};

/* Every key, oldest first. *out is an array of *n (free with apikey_info_free). */
int apikey_list(struct db_conn *c, struct apikey_info **out, size_t *n, struct buf *err);
void apikey_info_free(struct apikey_info *infos, size_t n);

#endif
