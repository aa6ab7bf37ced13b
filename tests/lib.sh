# tests/lib.sh — helpers for the integration tests (bash; source it from tests/tNNNN-*.sh).
#
# Each test is run from the repository root with the stack up (scripts/stack.sh up). It
# prints TAP-like lines ("ok N - what", "not ok N - what") and ends with done_testing,
# which prints "# N passed, N failed" and exits non-zero when anything failed.
#
#   . tests/lib.sh
#   ok "psql answers"                      # a passed check
#   fail "psql answers" "detail"           # a failed check (the test goes on)
#   check "what" CMD ARGS...               # ok if CMD succeeds, else fail with its output
#   expect_eq "what" EXPECTED ACTUAL
#   expect_match "what" REGEX ACTUAL
#   expect_status "what" 200 curl-args...  # runs curl, compares the HTTP status; body in $BODY
#   py 'python code'  /  py_file script.py # /usr/bin/python3 (Debian's, with boto3)
#   boto3_client SERVICE                   # python snippet making a client for the stack
#   at_exit 'command'                      # cleanup commands, run in reverse order at exit
#   skip_all "reason"                      # skip the whole test (counts as passed)
#   bail "reason"                          # stop the test now as failed
#   done_testing

set -u -o pipefail

# Debian's psql, pg_dump and pgbench are pg_wrapper, a Perl script that takes some 30 ms
# of CPU to find the binary of the right version before it runs it. The tests run psql
# thousands of times (their polling loops), so the binaries of the stack's PostgreSQL
# (scripts/stack.sh's PGBIN) come first.
[ -x /usr/lib/postgresql/15/bin/psql ] && PATH=/usr/lib/postgresql/15/bin:$PATH

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_NAME=$(basename "${0%.sh}")
T_PASS=0
T_FAIL=0
T_N=0
T_PY=/usr/bin/python3
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/spool-$T_NAME.XXXXXX")
T_EXIT_CMDS=("rm -rf '$T_TMP'")

_t_run_exit() {
	local i
	for ((i = ${#T_EXIT_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${T_EXIT_CMDS[$i]}" >/dev/null 2>&1 || true
	done
}
trap _t_run_exit EXIT
trap 'exit 130' INT TERM

at_exit() { T_EXIT_CMDS+=("$1"); }

# the stack's variables
T_ENV=${SPOOL_RUN_DIR:-$T_ROOT/.run}/stack.env
if [ ! -f "$T_ENV" ]; then
	echo "Bail out! no $T_ENV: run scripts/stack.sh up first" >&2
	exit 1
fi
set -a
# shellcheck disable=SC1090
. "$T_ENV"
set +a
cd "$T_ROOT" || exit 1

_t_indent() { sed 's/^/#   /' | head -n 40; }

ok() {
	T_N=$((T_N + 1))
	T_PASS=$((T_PASS + 1))
	echo "ok $T_N - $1"
}

fail() {
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $1"
	if [ $# -gt 1 ] && [ -n "$2" ]; then printf '%s\n' "$2" | _t_indent; fi
	return 0
}

# check WHAT CMD...: ok when CMD exits 0
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$what"; else fail "$what" "$out"; fi
}

expect_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "expected: $2
got:      $3"; fi
}

expect_match() {
	if [[ $3 =~ $2 ]]; then ok "$1"; else fail "$1" "expected to match: $2
got: $3"; fi
}

# expect_status WHAT STATUS CURL-ARGS...: the body is left in $BODY, the status in $STATUS
BODY=
STATUS=
expect_status() {
	local what=$1 want=$2
	shift 2
	STATUS=$(curl -sS -o "$T_TMP/body" -w '%{http_code}' --max-time 30 "$@" 2>"$T_TMP/curl.err") || STATUS=000
	BODY=$(cat "$T_TMP/body" 2>/dev/null || true)
	if [ "$STATUS" = "$want" ]; then
		ok "$what"
	else
		fail "$what" "expected HTTP $want, got $STATUS
$(cat "$T_TMP/curl.err")
$BODY"
	fi
}

# json_id [FILE]: the "id" of the JSON object on stdin (or in FILE). An object that
# begins with it, as the API's answers do, is read by bash itself: jq takes tens of
# milliseconds of CPU to start, and some tests submit hundreds of jobs. Anything else
# goes to jq.
json_id() {
	local s=
	if [ $# -gt 0 ]; then s=$(<"$1"); else IFS= read -r -d '' s || true; fi
	if [[ $s =~ ^\{\"id\":\"([^\"\\]*)\" ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		jq -r .id <<<"$s"
	fi
}
export -f json_id

# py CODE [ARGS...]: run Debian's python3 (boto3 available) with the stack's environment
py() {
	local code=$1
	shift
	"$T_PY" -c "$code" "$@"
}
py_file() { "$T_PY" "$@"; }

# boto3_client SERVICE [EXTRA-KWARGS]: python expression for a client against the stand-in
boto3_client() {
	local svc=$1 extra=${2:-}
	local cfg="botocore.config.Config(retries={'max_attempts': 1}"
	[ "$svc" = s3 ] && cfg="$cfg, s3={'addressing_style': 'path'}, signature_version='s3v4'"
	cfg="$cfg)"
	echo "boto3.client('$svc', endpoint_url=os.environ['SPOOL_AWS_ENDPOINT'], region_name=os.environ['AWS_REGION'], aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'], config=$cfg${extra:+, $extra})"
}

skip_all() {
	echo "1..0 # SKIP $1"
	T_EXIT_STATUS=0
	exit 0
}

bail() {
	echo "Bail out! $1"
	T_FAIL=$((T_FAIL + 1))
	done_testing
}

done_testing() {
	echo "1..$T_N"
	echo "# $T_NAME: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] && [ "$T_N" -gt 0 ]
	exit $?
}
