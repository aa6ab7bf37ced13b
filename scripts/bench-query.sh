#!/usr/bin/env bash
# bench-query.sh — adminctl's query language on a million jobs (make bench). In a
# scratch database of the stack's PostgreSQL (spool_bench_query, dropped at the
# end unless BENCH_QUERY_KEEP=1): the migrations, then $BENCH_QUERY_JOBS jobs
# (default 1,000,000; INSERT ... SELECT generate_series) with a realistic mix of
# types, statuses, tenants, params, results and errors over 30 days, without
# migration 8's indexes; then the time each of those indexes takes to build
# (what the migration holds writes for), and for each typical query the best
# wall time of 3 runs of `adminctl jobs --limit 50 QUERY` (the whole process:
# start, config, secrets, connect, query, print) and the plan PostgreSQL chose,
# caught by auto_explain (loaded for that database only) as adminctl runs it.
# Prints "name value" lines and the plans.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${SPOOL_RUN_DIR:-$ROOT/.run}
NJOBS=${BENCH_QUERY_JOBS:-1000000}
DB=spool_bench_query
die() { printf 'bench-query: error: %s\n' "$*" >&2; exit 1; }

[ -f "$RUN/stack.env" ] || die "no $RUN/stack.env: run scripts/stack.sh up first"
set -a
# shellcheck disable=SC1091
. "$RUN/stack.env"
set +a
for t in psql jq; do command -v "$t" >/dev/null || die "'$t' is not installed"; done
ADM=$ROOT/bin/adminctl
[ -x "$ADM" ] || die "$ADM is not built"
PGLOG=$RUN/log/postgres.log
[ -f "$PGLOG" ] || die "no $PGLOG"

# the master user's DSN, pointed at the scratch database
url=${SPOOL_PG_DSN%%\?*}
BDSN="${url%/*}/$DB?${SPOOL_PG_DSN#*\?}"
pgport=${url##*:}
pgport=${pgport%%/*}
# the superuser, through the stack's socket (auto_explain is a superuser setting)
admin() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$RUN/pg/sock" -p "$pgport" -U postgres -d postgres -c "$1"; }
bsql() { psql -X -q -At -v ON_ERROR_STOP=1 "$BDSN" -c "$1"; }
# seconds (3 decimals) that `bsql SQL` takes
timed_sql() {
	local t0 t1
	t0=$(date +%s.%N)
	bsql "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/spool-bench-query.XXXXXX")
cleanup() {
	rm -rf "$TMP"
	[ "${BENCH_QUERY_KEEP:-0}" = 1 ] || admin "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

admin "DROP DATABASE IF EXISTS $DB"
admin "CREATE DATABASE $DB OWNER spool"
# auto_explain for this database's sessions only: adminctl's own statements, with their plans
admin "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'"
admin "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0"
admin "ALTER DATABASE $DB SET auto_explain.log_analyze = on"
admin "ALTER DATABASE $DB SET auto_explain.log_buffers = on"

# adminctl's configuration for it: the stack's, with the database secret an env: reference
pw=${url#*://*:}
pw=${pw%%@*}
hostport=${url#*@}
hostport=${hostport%%/*}
export BENCH_DB_SECRET
BENCH_DB_SECRET=$(jq -cn --arg p "$pw" --arg h "${hostport%:*}" --arg port "${hostport##*:}" --arg d "$DB" \
	'{username: "spool", password: $p, host: $h, port: ($port | tonumber), dbname: $d}')
sed -e 's|^secret = .*spool/db-.*$|secret = env:BENCH_DB_SECRET|' -e '/^api_role_secret/d' -e '/^worker_role_secret/d' \
	"$SPOOL_ADMINCTL_CONFIG" >"$TMP/adminctl.ini"
"$ADM" -f "$TMP/adminctl.ini" db migrate >/dev/null || die "adminctl db migrate failed on $DB"

# migration 8's indexes, as it creates them (shared/migrate.c)
idx_names=(jobs_params_gin jobs_result_gin jobs_error_gin jobs_error_message_trgm)
idx_sql=(
	"CREATE INDEX jobs_params_gin ON jobs USING gin (params jsonb_path_ops)"
	"CREATE INDEX jobs_result_gin ON jobs USING gin (result jsonb_path_ops) WHERE result IS NOT NULL"
	"CREATE INDEX jobs_error_gin ON jobs USING gin (error jsonb_path_ops) WHERE error IS NOT NULL"
	"CREATE INDEX jobs_error_message_trgm ON jobs USING gin ((error->>'message') gin_trgm_ops) WHERE error IS NOT NULL"
)
for n in "${idx_names[@]}"; do bsql "DROP INDEX IF EXISTS $n"; done

echo "jobs $NJOBS"
seed="
INSERT INTO jobs (tenant_id, type, status, attempts, max_attempts, params, result, error,
	created_at, started_at, finished_at, updated_at)
SELECT 'tenant-' || (i % 40),
	t.type, s.status, s.attempts, 5, t.params,
	CASE WHEN s.status = 'succeeded' AND t.type <> 'noop' THEN jsonb_build_object('meta', jsonb_build_object(
		'width', (t.params->>'height')::int * 16 / 9, 'height', (t.params->>'height')::int,
		'duration', 5 + i % 600, 'codec', t.params->>'codec')) END,
	CASE WHEN s.status = 'failed' THEN e.error END,
	c.at, c.at + interval '1 second', CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled')
		THEN c.at + (5 + i % 300) * interval '1 second' END, c.at + interval '5 minutes'
FROM generate_series(1, $NJOBS) AS i
CROSS JOIN LATERAL (SELECT now() - i * (interval '30 days' / $NJOBS) AS at) c
CROSS JOIN LATERAL (SELECT CASE WHEN i % 10 < 7 THEN 'video.transcode' WHEN i % 10 < 9 THEN 'media.probe'
		ELSE 'noop' END AS type,
	CASE WHEN i % 10 < 7 THEN jsonb_build_object('height', (ARRAY[360, 480, 720, 1080])[1 + (i / 10) % 4],
		'codec', (ARRAY['h264', 'h264', 'hevc', 'vp9', 'av1'])[1 + (i / 7) % 5],
		'bitrate', 500 + (i % 40) * 100, 'watermark', i % 3 = 0)
		ELSE '{}'::jsonb END AS params) t
CROSS JOIN LATERAL (SELECT CASE WHEN i % 100 < 84 THEN 'succeeded' WHEN i % 100 < 94 THEN 'failed'
		WHEN i % 100 < 97 THEN 'cancelled' WHEN i % 100 < 99 THEN 'queued' ELSE 'running' END AS status,
	1 + (i / 100) % 3 + CASE WHEN i % 100 BETWEEN 84 AND 93 THEN 2 ELSE 0 END AS attempts) s
CROSS JOIN LATERAL (SELECT CASE (i / 100) % 10
	WHEN 0 THEN jsonb_build_object('code', 'invalid_media', 'message', 'moov atom not found')
	WHEN 1 THEN jsonb_build_object('code', 'invalid_media', 'message', 'Invalid data found when processing input')
	WHEN 2 THEN jsonb_build_object('code', 'invalid_media', 'message', 'no video stream in input #' || i)
	WHEN 3 THEN jsonb_build_object('code', 'timeout', 'message', 'ffmpeg timed out after ' || (60 + i % 600) || ' s')
	WHEN 4 THEN jsonb_build_object('code', 'source_not_found', 'message', 'no such key uploads/t' || i % 40 || '/clip-' || i || '.mp4')
	WHEN 5 THEN jsonb_build_object('code', 'source_not_found', 'message', 'no such key uploads/t' || i % 40 || '/in-' || i || '.mov')
	WHEN 6 THEN jsonb_build_object('code', 'internal', 'message', 'S3 PUT failed: connection reset by peer')
	WHEN 7 THEN jsonb_build_object('code', 'source_too_large', 'message', 'source is ' || (3000 + i % 900) || ' MiB, over the 2048 MiB limit')
	WHEN 8 THEN jsonb_build_object('code', 'internal', 'message', 'ffmpeg exited with status 137 (out of memory?)')
	ELSE jsonb_build_object('code', 'invalid_media', 'message', 'Error while decoding stream #0:' || i % 3 || ': Invalid NAL unit size')
	END AS error) e"
echo "seed_s $(timed_sql "$seed")"
echo "analyze_s $(timed_sql "ANALYZE jobs")"
echo "table_mb $(bsql "SELECT pg_total_relation_size('jobs') / 1048576")"
for i in "${!idx_sql[@]}"; do
	echo "index_build_s ${idx_names[$i]} $(timed_sql "${idx_sql[$i]}") ($(bsql "SELECT pg_relation_size('${idx_names[$i]}') / 1048576") MB)"
done
bsql "ANALYZE jobs"

# The plan of adminctl's list statement that the log got after byte $1.
plan_after() {
	tail -c +"$(($1 + 1))" "$PGLOG" | awk '
		/LOG:  duration: .* plan:/ { keep = 0; inplan = 1; d = $0; sub(/.*duration: /, "", d); sub(/ ms.*/, "", d)
			buf = "    (in the database: " d " ms)\n"; next }
		inplan && /Query Text:/ { keep = ($0 ~ /ORDER BY created_at DESC/); next }
		inplan && /^[0-9]{4}-[0-9]{2}-[0-9]{2} / { if (keep) { print buf; exit } inplan = 0; next }
		inplan && keep { buf = buf "    " $0 "\n" }
		END { if (keep && buf != "") print buf }' | sed -e 's/^    \t*/    /' | grep -v '^ *$' || true
}

queries=(
	"status=failed"
	"error.code=invalid_media"
	"error.code=source_too_large created>2d"
	"params.height=720 params.codec=hevc"
	"result.meta.width>=1900 type=video.transcode"
	"error.message~'out of memory'"
	"error.message~moov created>7d"
	"tenant=tenant-7 status=failed attempts>=3"
	"created<2d created>3d"
	"!status=succeeded type=media.probe"
	"status=failed (error.code=timeout or error.code=internal) created>1d"
	"params.codec=av1 params.watermark=true status=running"
	"moov"
)
for q in "${queries[@]}"; do
	best=
	for _ in 1 2 3; do
		off=$(stat -c %s "$PGLOG")
		t0=$(date +%s.%N)
		n=$("$ADM" -f "$TMP/adminctl.ini" jobs --limit 50 "$q" 2>/dev/null | tail -n +2 | wc -l)
		t1=$(date +%s.%N)
		ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; boff=$off; fi
	done
	sleep 0.2 # the log line of the last run written
	echo "query_ms $best rows $n :: adminctl jobs $q"
	plan_after "$boff"
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
