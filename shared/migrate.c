#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Held by migrate_apply for its whole run, and for each migration's transaction (pg_advisory_xact_lock). */
#define MIGRATE_LOCK_KEY "7311853201"

/* Migration N is migrations[N - 1]. Never edit one that has shipped: add another. */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE tenants ("
	"  id text PRIMARY KEY,"
	"  name text NOT NULL,"
	"  created_at timestamptz NOT NULL DEFAULT now());"

	"CREATE TABLE api_keys ("
	"  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	"  tenant_id text NOT NULL REFERENCES tenants(id),"
	"  name text NOT NULL DEFAULT '',"
	"  prefix text NOT NULL,"
	"  hash bytea NOT NULL UNIQUE,"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  last_used_at timestamptz,"
	"  revoked_at timestamptz);"
	"CREATE INDEX api_keys_tenant ON api_keys (tenant_id);"

	"CREATE TABLE jobs ("
	"  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
	"  tenant_id text NOT NULL,"
	"  type text NOT NULL,"
	"  status text NOT NULL DEFAULT 'queued' CHECK (status IN"
	"    ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')),"
	"  attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	"  max_attempts int NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),"
	"  progress int CHECK (progress BETWEEN 0 AND 100),"
	"  source jsonb,"
	"  params jsonb NOT NULL DEFAULT '{}',"
	"  result jsonb,"
	"  error jsonb,"
	"  callback_url text,"
	"  idempotency_key text,"
	"  worker_id text,"
	"  lease_until timestamptz,"
	"  cancel_requested boolean NOT NULL DEFAULT false,"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  started_at timestamptz,"
	"  finished_at timestamptz,"
	"  updated_at timestamptz NOT NULL DEFAULT now(),"
	"  UNIQUE (tenant_id, idempotency_key));"
	"CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id DESC);"
	"CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);"
	"CREATE INDEX jobs_status_lease ON jobs (status, lease_until);"
	"CREATE INDEX jobs_type_status ON jobs (type, status);"

	"CREATE TABLE job_events ("
	"  id bigserial PRIMARY KEY,"
	"  job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  at timestamptz NOT NULL DEFAULT now(),"
	"  event text NOT NULL,"
	"  status text NOT NULL,"
	"  attempt int NOT NULL DEFAULT 0,"
	"  worker_id text,"
	"  error jsonb,"
	"  detail jsonb);"
	"CREATE INDEX job_events_job ON job_events (job_id, id);"

	"CREATE TABLE outbox ("
	"  id bigserial PRIMARY KEY,"
	"  exchange text NOT NULL,"
	"  routing_key text NOT NULL,"
	"  payload text NOT NULL,"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  claimed_until timestamptz,"
	"  sent_at timestamptz);"
	"CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;"

	"CREATE TABLE audit ("
	"  id bigserial PRIMARY KEY,"
	"  at timestamptz NOT NULL DEFAULT now(),"
	"  actor text NOT NULL,"
	"  action text NOT NULL,"
	"  target text,"
	"  count int NOT NULL DEFAULT 0,"
	"  detail jsonb);"
	"CREATE INDEX audit_at ON audit (at DESC);",

	/*
	 * 2: webhook deliveries. One row per attempt: a row with `at` NULL is an
	 * attempt due at next_at (claimed by one API process until claimed_until);
	 * once tried it records the answer and, if it failed and attempts are left,
	 * the next row is inserted. `final_at` (the job's finished_at) tells one final
	 * state from a later one after an operator retry; the unique key makes a
	 * duplicate event harmless.
	 */
	"CREATE TABLE webhook_deliveries ("
	"  id bigserial PRIMARY KEY,"
	"  job_id uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  event text NOT NULL,"
	"  final_at timestamptz NOT NULL,"
	"  attempt int NOT NULL CHECK (attempt >= 1),"
	"  url text NOT NULL,"
	"  status_code int,"
	"  error text,"
	"  at timestamptz,"
	"  next_at timestamptz NOT NULL DEFAULT now(),"
	"  claimed_until timestamptz,"
	"  delivered boolean NOT NULL DEFAULT false,"
	"  UNIQUE (job_id, final_at, attempt));"
	"CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE at IS NULL;",

	/*
	 * 3: the re-drive of jobs that wait with no message behind them. due_at is
	 * when the job's spool.jobs message is due (at once for a queued job, after
	 * the backoff for a retrying one); redriven_at when its message was last
	 * published again. A waiting job past greatest(due_at, redriven_at) by more
	 * than [worker] redrive_after is re-driven: the index is that sweep's.
	 * Jobs already waiting keep their last change as due_at; a retrying one's
	 * backoff, not recorded until now, is taken as an hour (the default
	 * backoff_cap), so that none is run before its time.
	 */
	"ALTER TABLE jobs ADD COLUMN due_at timestamptz NOT NULL DEFAULT now(),"
	"  ADD COLUMN redriven_at timestamptz;"
	"UPDATE jobs SET due_at = updated_at + CASE WHEN status = 'retrying' THEN interval '1 hour'"
	"  ELSE interval '0' END WHERE status IN ('queued', 'retrying');"
	"CREATE INDEX jobs_unclaimed ON jobs ((greatest(due_at, redriven_at)))"
	"  WHERE status IN ('queued', 'retrying');",

	/*
	 * 4: scheduled jobs. A job submitted with run_at or delay waits as
	 * 'scheduled' with its run_at, no message anywhere; the promoter queues it
	 * then. The partial index is the promoter's: its pass and its probe of the
	 * earliest run_at read only the jobs still scheduled.
	 */
	"ALTER TABLE jobs ADD COLUMN run_at timestamptz,"
	"  DROP CONSTRAINT jobs_status_check,"
	"  ADD CONSTRAINT jobs_status_check CHECK (status IN"
	"    ('scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'));"
	"CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE status = 'scheduled';",

	/*
	 * 5: concurrency limits and pauses of tenants and job types (joblimits.h). A
	 * job the claim found over a limit or paused stays queued (or retrying)
	 * with deferred_at set and no message, until a wake-up publishes it again.
	 * The partial indexes count running jobs per tenant and per type at each
	 * claim, and find the deferred jobs oldest first.
	 */
	"CREATE TABLE limits ("
	"  scope text NOT NULL CHECK (scope IN ('tenant', 'type')),"
	"  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),"
	"  max_running int CHECK (max_running >= 0),"
	"  paused boolean NOT NULL DEFAULT false,"
	"  updated_at timestamptz NOT NULL DEFAULT now(),"
	"  updated_by text NOT NULL DEFAULT '',"
	"  PRIMARY KEY (scope, name));"
	"ALTER TABLE jobs ADD COLUMN deferred_at timestamptz;"
	"CREATE INDEX jobs_running_tenant ON jobs (tenant_id) WHERE status = 'running';"
	"CREATE INDEX jobs_running_type ON jobs (type) WHERE status = 'running';"
	"CREATE INDEX jobs_deferred ON jobs (due_at, id) WHERE deferred_at IS NOT NULL"
	"  AND status IN ('queued', 'retrying');",

	/*
	 * 6: retention (archive.h). Finished jobs past their [retention] are
	 * written to S3 with their history and deleted; a tombstone per job keeps
	 * its tenant and where it went, for GET /v1/jobs/{id}'s 410. The partial
	 * index is the sweep's: finished jobs, oldest first.
	 */
	"CREATE TABLE job_tombstones ("
	"  id uuid PRIMARY KEY,"
	"  tenant_id text NOT NULL,"
	"  status text NOT NULL,"
	"  finished_at timestamptz NOT NULL,"
	"  archived_at timestamptz NOT NULL DEFAULT now(),"
	"  archive_key text NOT NULL);"
	"CREATE INDEX jobs_finished ON jobs (finished_at, id)"
	"  WHERE status IN ('succeeded', 'failed', 'cancelled');",
	/*
	 * 7: job priorities (jobprio.h). A job's priority routes its messages to
	 * spool.jobs.high, spool.jobs or spool.jobs.low; a tenant's default (or
	 * '*', the default of tenants without a row) applies when a submission
	 * names none. Not a column of limits: a row there also sets max_running.
	 */
	"ALTER TABLE jobs ADD COLUMN priority text NOT NULL DEFAULT 'normal'"
	"  CHECK (priority IN ('high', 'normal', 'low'));"
	"CREATE TABLE tenant_priorities ("
	"  tenant text PRIMARY KEY CHECK (length(tenant) BETWEEN 1 AND 200),"
	"  priority text NOT NULL CHECK (priority IN ('high', 'normal', 'low')),"
	"  updated_at timestamptz NOT NULL DEFAULT now(),"
	"  updated_by text NOT NULL DEFAULT '');",
	/*
	 * 8: the indexes of adminctl's query language (adminctl/query.h). JSON
	 * equality compiles to containment (params @> '{"height":720}'), which GIN
	 * jsonb_path_ops indexes serve; result and error only where set (a strict
	 * @> implies IS NOT NULL, so the partial indexes apply), which also spares
	 * the updates of running jobs. error.message~TEXT and plain words use
	 * ILIKE on error->>'message', served by a pg_trgm index where the
	 * extension is available (Debian's postgresql and RDS have it; it is a
	 * trusted extension, so the database owner may create it). Status, type,
	 * tenant and the times use the indexes of migrations 1-5.
	 * CREATE INDEX holds off writes to jobs while it builds (seconds per
	 * million jobs, see adminctl(8) QUERY LANGUAGE): on a big live table, run
	 * the same statements with CREATE INDEX CONCURRENTLY first; IF NOT EXISTS
	 * then keeps them and this migration only records its version.
	 */
	"CREATE INDEX IF NOT EXISTS jobs_params_gin ON jobs USING gin (params jsonb_path_ops);"
	"CREATE INDEX IF NOT EXISTS jobs_result_gin ON jobs USING gin (result jsonb_path_ops)"
	"  WHERE result IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS jobs_error_gin ON jobs USING gin (error jsonb_path_ops)"
	"  WHERE error IS NOT NULL;"
	"DO $$ BEGIN"
	"  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN"
	"    CREATE EXTENSION IF NOT EXISTS pg_trgm;"
	"    CREATE INDEX IF NOT EXISTS jobs_error_message_trgm ON jobs"
	"      USING gin ((error->>'message') gin_trgm_ops) WHERE error IS NOT NULL;"
	"  END IF;"
	"END $$;",
	/*
	 * 9: frozen selections and failure groups (selection.h). A bulk action
	 * resolves its filter once into a selection: the ids of the jobs it will
	 * touch and what each looked like then (status, updated_at, attempts), so
	 * that acting touches only those that did not move on; `results` says what
	 * was done and what was skipped, `undoes` names the selection an undo
	 * reverses. A purge of dead letters records the jobs of the messages it
	 * dropped. spool_failure_signature() is a failure's error code and message
	 * with what varies between occurrences (quoted strings, UUIDs, paths, hex
	 * ids, numbers) replaced by placeholders. The partial indexes over failed
	 * and retrying jobs are the grouping's (the newest first, a bounded
	 * number of them) and a group's (the first 12 hex digits of the MD5 of
	 * the signature name it).
	 */
	"CREATE FUNCTION spool_failure_signature(e jsonb) RETURNS text"
	"  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$"
	"  SELECT coalesce(e->>'code', '') || ': ' ||"
	"    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace("
	"      left(coalesce(e->>'message', ''), 500),"
	"      '\"[^\"]*\"|''[^'']*''', '\"*\"', 'g'),"
	"      '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<uuid>', 'g'),"
	"      '[^\\s:,;()''\"=]*/[^\\s:,;()''\"]*', '<path>', 'g'),"
	"      '\\m0x[0-9a-fA-F]+\\M|\\m(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{6,}\\M',"
	"      '<hex>', 'g'),"
	"      '[0-9]+([.][0-9]+)?', '<n>', 'g')"
	"  $$;"
	"CREATE INDEX jobs_failed_recent ON jobs (updated_at DESC) WHERE status IN ('failed', 'retrying');"
	"CREATE INDEX jobs_failure_group ON jobs (left(md5(spool_failure_signature(error)), 12))"
	"  WHERE status IN ('failed', 'retrying');"
	"CREATE TABLE selections ("
	"  id bigserial PRIMARY KEY,"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  actor text NOT NULL,"
	"  action text NOT NULL CHECK (action IN ('retry', 'cancel', 'redrive', 'undo', 'purge')),"
	"  filter text NOT NULL,"
	"  job_ids uuid[] NOT NULL,"
	"  seen_status text[] NOT NULL,"
	"  seen_updated timestamptz[] NOT NULL,"
	"  seen_attempts int[] NOT NULL,"
	"  state text NOT NULL DEFAULT 'previewed' CHECK (state IN ('previewed', 'declined', 'done')),"
	"  acted_at timestamptz,"
	"  undoes bigint REFERENCES selections(id),"
	"  results jsonb);"
	"CREATE INDEX selections_undoes ON selections (undoes) WHERE undoes IS NOT NULL;",
	/*
	 * 10: the scheduling metrics (schedstats.h). One grouped query of the jobs
	 * waiting to start reads this partial index only (tenant, type and state
	 * included); stats_turns gives each metrics interval's computation to one
	 * worker: the one whose UPDATE of the row's `at` finds it old enough.
	 */
	"CREATE INDEX jobs_waiting ON jobs (tenant_id, type)"
	"  INCLUDE (status, deferred_at, created_at, run_at)"
	"  WHERE status IN ('queued', 'retrying', 'scheduled');"
	"CREATE TABLE stats_turns ("
	"  name text PRIMARY KEY,"
	"  at timestamptz NOT NULL DEFAULT '-infinity');"
	"INSERT INTO stats_turns (name) VALUES ('schedule');",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char create_version_table[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	"  version int PRIMARY KEY,"
	"  applied_at timestamptz NOT NULL DEFAULT now())";

int migrate_latest(void)
{
	return NMIGRATIONS;
}

/* Current version, 0 when schema_version does not exist yet. */
static int current_version(struct db_conn *c, int *out, struct buf *err)
{
	PGresult *r = db_exec(c, NULL,
			      "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN -1 ELSE 0 END", 0,
			      NULL, err);
	if (!r)
		return -1;
	bool exists = atoi(PQgetvalue(r, 0, 0)) == 0;
	PQclear(r);
	*out = 0;
	if (!exists)
		return 0;
	r = db_exec(c, NULL, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL, err);
	if (!r)
		return -1;
	*out = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static void newer_schema(struct buf *err, int current)
{
	buf_printf(err,
		   "database schema version %d is newer than this program knows (%d): "
		   "upgrade spool before using this database",
		   current, NMIGRATIONS);
}

int migrate_status(struct db_conn *c, int *current, int *latest, struct buf *err)
{
	if (latest)
		*latest = NMIGRATIONS;
	int v;
	if (current_version(c, &v, err) < 0)
		return -1;
	if (current)
		*current = v;
	return 0;
}

int migrate_check(struct db_conn *c, int *current, struct buf *err)
{
	int v;
	if (current_version(c, &v, err) < 0)
		return -1;
	if (current)
		*current = v;
	if (v > NMIGRATIONS) {
		newer_schema(err, v);
		return MIGRATE_NEWER;
	}
	if (v < NMIGRATIONS) {
		buf_printf(err, "database schema version %d is older than %d: run 'adminctl db bootstrap'", v,
			   NMIGRATIONS);
		return MIGRATE_OLDER;
	}
	return 0;
}

/* Apply migration `n` unless it is there already; 1 when it was applied. */
static int apply_one(struct db_conn *c, int n, struct buf *err)
{
	if (db_cmd(c, "BEGIN", err) < 0)
		return -1;
	int v;
	if (db_cmd(c, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err) < 0 ||
	    db_cmd(c, create_version_table, err) < 0 || current_version(c, &v, err) < 0)
		goto fail;
	if (v > NMIGRATIONS) {
		newer_schema(err, v);
		goto fail;
	}
	if (v >= n) {
		if (db_cmd(c, "COMMIT", err) < 0)
			goto fail;
		return 0;
	}
	if (db_cmd(c, migrations[n - 1], err) < 0) {
		struct buf why = BUF_INIT;
		buf_adds(&why, buf_str(err));
		buf_reset(err);
		buf_printf(err, "migration %d failed: %s", n, buf_str(&why));
		buf_release(&why);
		goto fail;
	}
	char num[16];
	snprintf(num, sizeof(num), "%d", n);
	const char *params[] = { num };
	PGresult *r = db_exec(c, NULL, "INSERT INTO schema_version (version) VALUES ($1::int)", 1, params, err);
	if (!r)
		goto fail;
	PQclear(r);
	if (db_cmd(c, "COMMIT", err) < 0)
		goto fail;
	return 1;
fail:
	{
		struct buf ignored = BUF_INIT;
		db_cmd(c, "ROLLBACK", &ignored);
		buf_release(&ignored);
	}
	return -1;
}

/*
 * The migrations from the current version on, under the session's hold of the
 * lock (apply_one takes it again per transaction, which the same session may):
 * a concurrent migrator waits for all of them, then finds the schema current,
 * so one process applies and reports the whole run.
 */
static int apply_all(struct db_conn *c, int *applied, struct buf *err)
{
	int v;
	if (current_version(c, &v, err) < 0)
		return -1;
	if (v > NMIGRATIONS) {
		newer_schema(err, v);
		return -1;
	}
	for (int n = v + 1; n <= NMIGRATIONS; n++) {
		int rc = apply_one(c, n, err);
		if (rc < 0)
			return -1;
		*applied += rc;
	}
	return 0;
}

int migrate_apply(struct db_conn *c, int *from, int *to, struct buf *err)
{
	int v, applied = 0;
	if (current_version(c, &v, err) < 0)
		return -1;
	if (from)
		*from = v;
	if (to)
		*to = v;
	if (v > NMIGRATIONS) {
		newer_schema(err, v);
		return -1;
	}
	if (v == NMIGRATIONS)
		return 0;
	if (db_cmd(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err) < 0)
		return -1;
	int rc = apply_all(c, &applied, err);
	struct buf ignored = BUF_INIT;
	db_cmd(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", &ignored);
	buf_release(&ignored);
	if (rc < 0 || current_version(c, &v, err) < 0)
		return -1;
	/* Another process may have applied some before the lock was ours: report only ours. */
	if (from)
		*from = v - applied;
	if (to)
		*to = v;
	return 0;
}
