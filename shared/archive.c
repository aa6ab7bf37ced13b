#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <zlib.h>

#include "jobops.h"
#include "timefmt.h"

#define GZ_CHUNK 65536

int archive_gzip(const void *data, size_t len, struct buf *out, struct buf *err)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		buf_adds(err, "gzip: cannot initialise zlib");
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	int rc;
	do {
		buf_grow(out, GZ_CHUNK);
		z.next_out = (Bytef *)out->data + out->len;
		z.avail_out = GZ_CHUNK;
		rc = deflate(&z, Z_FINISH);
		out->len += GZ_CHUNK - z.avail_out;
	} while (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0));
	deflateEnd(&z);
	out->data[out->len] = '\0';
	if (rc != Z_STREAM_END) {
		buf_printf(err, "gzip: deflate failed (%d)", rc);
		return -1;
	}
	return 0;
}

int archive_gunzip(const void *data, size_t len, size_t max, struct buf *out, struct buf *err)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		buf_adds(err, "gunzip: cannot initialise zlib");
		return -1;
	}
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	size_t start = out->len;
	int rc;
	do {
		if (out->len - start >= max) {
			inflateEnd(&z);
			buf_printf(err, "gunzip: more than %zu bytes once decompressed", max);
			return -1;
		}
		buf_grow(out, GZ_CHUNK);
		z.next_out = (Bytef *)out->data + out->len;
		z.avail_out = GZ_CHUNK;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += GZ_CHUNK - z.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&z);
	if (out->data)
		out->data[out->len] = '\0';
	if (rc != Z_STREAM_END) {
		buf_printf(err, "gunzip: %s", rc == Z_BUF_ERROR ? "truncated data" : "corrupt data");
		return -1;
	}
	return 0;
}

void archive_key(const char *prefix, const char *day, const char *first, struct buf *out)
{
	uuid_t u;
	char us[37];
	uuid_generate_random(u);
	uuid_unparse_lower(u, us);
	buf_reset(out);
	buf_printf(out, "%s%s/%s-%s.jsonl.gz", prefix, day, first, us);
}

int archive_parse_time(const char *arg, time_t now, time_t *out)
{
	char full[40];
	int y, m, d;
	char extra;
	if (arg && sscanf(arg, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3 && strlen(arg) == 10) {
		snprintf(full, sizeof(full), "%sT00:00:00Z", arg);
		return timefmt_parse(full, out);
	}
	return jobops_since(arg, now, out);
}

bool archive_line_matches(const struct archive_query *q, json_t *l)
{
	json_t *job = json_object_get(l, "job");
	const char *fin = json_string_value(json_object_get(l, "finished_at"));
	const char *tenant = json_string_value(json_object_get(job, "tenant_id"));
	const char *status = json_string_value(json_object_get(job, "status"));
	time_t t;
	if (!fin || timefmt_parse(fin, &t) < 0 || t < q->since || t > q->until)
		return false;
	if (q->tenant && (!tenant || strcmp(tenant, q->tenant)))
		return false;
	return !q->status || (status && !strcmp(status, q->status));
}

/* Fetch object `key` and gunzip it into `text`: 0, or -1 with err (and ae for S3's failure). */
static int read_object(struct s3 *s3, const char *key, struct buf *text, struct aws_error *ae, struct buf *err)
{
	char path[] = "/tmp/spool-archive.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		buf_printf(err, "cannot create a temporary file for '%s'", key);
		return -1;
	}
	close(fd);
	int rc = -1;
	struct buf gz = BUF_INIT, e = BUF_INIT;
	if (s3_get_file(s3, key, path, ARCHIVE_MAX_BYTES, ae) < 0) {
		buf_printf(err, "cannot read '%s'", key);
		goto out;
	}
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		buf_printf(err, "cannot open the temporary copy of '%s'", key);
		goto out;
	}
	char chunk[GZ_CHUNK];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&gz, chunk, got);
	fclose(fp);
	if (archive_gunzip(gz.data, gz.len, ARCHIVE_MAX_BYTES, text, &e) < 0) {
		buf_printf(err, "'%s': %s", key, buf_str(&e));
		goto out;
	}
	rc = 0;
out:
	unlink(path);
	buf_release(&gz);
	buf_release(&e);
	return rc;
}

/* Each line of `text` (changed in place) that matches to fn: 1 when fn stopped, else 0. */
static int read_lines(char *text, const struct archive_query *q, archive_line_fn fn, void *arg, size_t *bad)
{
	int stop = 0;
	for (char *line = text, *nl; !stop && line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!*line)
			continue;
		json_t *l = json_loads(line, 0, NULL);
		if (!l) {
			if (bad)
				(*bad)++;
			continue;
		}
		if (archive_line_matches(q, l))
			stop = fn(arg, l, line);
		json_decref(l);
	}
	return stop ? 1 : 0;
}

int archive_read(struct s3 *s3, const char *prefix, const struct archive_query *q, archive_line_fn fn, void *arg,
		 size_t *bad, struct aws_error *ae, struct buf *err)
{
	struct buf p = BUF_INIT, text = BUF_INIT;
	int rc = 0, stop = 0;
	aws_error_clear(ae);
	/* each UTC day from since's to until's */
	for (int64_t day = q->since - q->since % 86400; day <= q->until && !stop && rc == 0; day += 86400) {
		struct s3_object *objs = NULL;
		size_t n = 0;
		archive_day_prefix(prefix ? prefix : "", day, &p);
		if (s3_list(s3, buf_str(&p), NULL, &objs, &n, NULL, NULL, ae) < 0) {
			buf_printf(err, "cannot list '%s'", buf_str(&p));
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n && !stop && rc == 0; i++) {
			buf_reset(&text);
			if (read_object(s3, objs[i].key, &text, ae, err) < 0)
				rc = -1;
			else if (text.data)
				stop = read_lines(text.data, q, fn, arg, bad);
		}
		s3_objects_free(objs, n);
	}
	buf_release(&p);
	buf_release(&text);
	return rc;
}

void archive_day_prefix(const char *prefix, int64_t t, struct buf *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	buf_reset(out);
	buf_printf(out, "%s%04d/%02d/%02d/", prefix, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int archive_lock(struct db_conn *c, struct buf *err)
{
	PGresult *r = db_exec(c, "archive_lock", "SELECT pg_try_advisory_lock(" ARCHIVE_LOCK_KEY ")", 0, NULL, err);
	if (!r)
		return -1;
	int taken = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	return taken;
}

void archive_unlock(struct db_conn *c)
{
	struct buf ignored = BUF_INIT;
	PGresult *r = db_exec(c, "archive_unlock", "SELECT pg_advisory_unlock(" ARCHIVE_LOCK_KEY ")", 0, NULL, &ignored);
	if (r)
		PQclear(r);
	buf_release(&ignored);
}

/*
 * The oldest expired jobs, each with its events as one JSON line. $1..$3 the
 * retentions of succeeded, failed and cancelled jobs (0: for ever), $4 the
 * smallest of those that are not 0 (the index's range), $5 the limit.
 */
static const char select_sql[] =
	"SELECT j.id, j.updated_at::text,"
	" to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY/MM/DD'),"
	" to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"'),"
	" json_build_object('finished_at', " DB_RFC3339("j.finished_at") ", 'job', to_jsonb(j),"
	"  'events', coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.id)"
	"   FROM job_events e WHERE e.job_id = j.id), '[]'::jsonb))::text"
	" FROM jobs j"
	" WHERE j.status IN ('succeeded', 'failed', 'cancelled')"
	"  AND j.finished_at < now() - $4::bigint * interval '1 second'"
	"  AND ((j.status = 'succeeded' AND $1::bigint > 0 AND j.finished_at < now() - $1::bigint * interval '1 second')"
	"   OR (j.status = 'failed' AND $2::bigint > 0 AND j.finished_at < now() - $2::bigint * interval '1 second')"
	"   OR (j.status = 'cancelled' AND $3::bigint > 0"
	"    AND j.finished_at < now() - $3::bigint * interval '1 second'))"
	" ORDER BY j.finished_at, j.id LIMIT $5::int";

/*
 * Delete the jobs $1 (ids) still at their updated_at $2 and finished, with
 * their events, and tombstone them with key $3; the rows deleted.
 */
static const char delete_sql[] =
	"WITH t AS (SELECT j.id FROM jobs j"
	"   JOIN unnest($1::uuid[], $2::timestamptz[]) AS a(id, updated_at)"
	"   ON j.id = a.id AND j.updated_at = a.updated_at"
	"   WHERE j.status IN ('succeeded', 'failed', 'cancelled')"
	"   FOR UPDATE OF j SKIP LOCKED),"
	" ev AS (DELETE FROM job_events e USING t WHERE e.job_id = t.id),"
	" d AS (DELETE FROM jobs j USING t WHERE j.id = t.id"
	"   RETURNING j.id, j.tenant_id, j.status, j.finished_at)"
	" INSERT INTO job_tombstones (id, tenant_id, status, finished_at, archive_key)"
	" SELECT id, tenant_id, status, finished_at, $3 FROM d"
	" ON CONFLICT (id) DO UPDATE SET archive_key = EXCLUDED.archive_key, archived_at = now(),"
	"  status = EXCLUDED.status, finished_at = EXCLUDED.finished_at";

static int64_t smallest_retention(const struct config_retention *rt)
{
	int64_t v[] = { rt->succeeded, rt->failed, rt->cancelled }, min = 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i] > 0 && (min == 0 || v[i] < min))
			min = v[i];
	return min;
}

/* Delete rows [from, to) of the selection `r`, tombstoned with `key`; the jobs deleted, or -1. */
static int delete_chunk(struct db_conn *c, const PGresult *r, int from, int to, const char *key, struct buf *err)
{
	struct buf ids = BUF_INIT, stamps = BUF_INIT;
	buf_addc(&ids, '{');
	buf_addc(&stamps, '{');
	for (int i = from; i < to; i++) {
		/* ids are uuids and stamps timestamps as PostgreSQL wrote them: no quote or backslash inside */
		buf_printf(&ids, "%s%s", i > from ? "," : "", PQgetvalue(r, i, 0));
		buf_printf(&stamps, "%s\"%s\"", i > from ? "," : "", PQgetvalue(r, i, 1));
	}
	buf_addc(&ids, '}');
	buf_addc(&stamps, '}');
	const char *p[] = { buf_str(&ids), buf_str(&stamps), key };
	PGresult *d = db_exec(c, "archive_delete", delete_sql, 3, p, err);
	buf_release(&ids);
	buf_release(&stamps);
	if (!d)
		return -1;
	int n = atoi(PQcmdTuples(d));
	PQclear(d);
	return n;
}

int archive_batch(struct db_conn *c, struct s3 *s3, const struct config *cfg, size_t *archived, bool *full,
		  struct buf *key, struct buf *err)
{
	const struct config_retention *rt = &cfg->retention;
	*archived = 0;
	*full = false;
	int64_t min = smallest_retention(rt);
	if (min == 0)
		return 0; /* everything is kept for ever */
	char a[4][24];
	snprintf(a[0], sizeof(a[0]), "%lld", (long long)rt->succeeded);
	snprintf(a[1], sizeof(a[1]), "%lld", (long long)rt->failed);
	snprintf(a[2], sizeof(a[2]), "%lld", (long long)rt->cancelled);
	snprintf(a[3], sizeof(a[3]), "%lld", (long long)min);
	char lim[24];
	snprintf(lim, sizeof(lim), "%lld", (long long)rt->batch_size);
	const char *p[] = { a[0], a[1], a[2], a[3], lim };
	PGresult *r = db_exec(c, "archive_select", select_sql, 5, p, err);
	if (!r)
		return -1;
	int n = PQntuples(r);
	*full = n == (int)rt->batch_size;
	if (n == 0) {
		PQclear(r);
		return 0;
	}
	/* one object per finish date: the batch stops where the date changes */
	int take = 1;
	while (take < n && !strcmp(PQgetvalue(r, take, 2), PQgetvalue(r, 0, 2)))
		take++;
	if (take < n)
		*full = true;
	struct buf lines = BUF_INIT, gz = BUF_INIT, k = BUF_INIT;
	for (int i = 0; i < take; i++) {
		buf_add(&lines, PQgetvalue(r, i, 4), (size_t)PQgetlength(r, i, 4));
		buf_addc(&lines, '\n');
	}
	archive_key(cfg->retention.archive_prefix ? cfg->retention.archive_prefix : "", PQgetvalue(r, 0, 2),
		    PQgetvalue(r, 0, 3), &k);
	int rc = archive_gzip(lines.data, lines.len, &gz, err);
	buf_release(&lines);
	if (rc == 0) {
		struct aws_error aerr;
		aws_error_clear(&aerr);
		if (s3_put_buffer(s3, buf_str(&k), gz.data, gz.len, "application/gzip", &aerr) < 0) {
			buf_printf(err, "archive PUT of '%s' failed (nothing deleted): %s", buf_str(&k), aerr.message);
			rc = -1;
		}
	}
	buf_release(&gz);
	/* S3 has the object: now, and only now, the rows go */
	for (int from = 0; rc == 0 && from < take; from += ARCHIVE_DELETE_CHUNK) {
		int to = from + ARCHIVE_DELETE_CHUNK < take ? from + ARCHIVE_DELETE_CHUNK : take;
		int d = delete_chunk(c, r, from, to, buf_str(&k), err);
		if (d < 0)
			rc = -1;
		else
			*archived += (size_t)d;
	}
	PQclear(r);
	if (key) {
		buf_reset(key);
		buf_adds(key, buf_str(&k));
	}
	buf_release(&k);
	return rc;
}

int archive_tombstone_get(struct db_conn *c, const char *id, const char *tenant, struct archive_tombstone *out,
			  struct buf *err)
{
	const char *p[] = { id, tenant };
	memset(out, 0, sizeof(*out));
	PGresult *r = db_exec(c, "archive_tombstone",
			      "SELECT status, " DB_RFC3339("finished_at") ", " DB_RFC3339("archived_at") ", archive_key"
			      " FROM job_tombstones WHERE id = $1::uuid AND tenant_id = $2",
			      2, p, err);
	if (!r)
		return -1;
	int found = PQntuples(r) == 1;
	if (found) {
		db_copy(out->status, sizeof(out->status), r, 0, 0);
		db_copy(out->finished_at, sizeof(out->finished_at), r, 0, 1);
		db_copy(out->archived_at, sizeof(out->archived_at), r, 0, 2);
		out->key = db_strdup(r, 0, 3);
	}
	PQclear(r);
	return found;
}
