# tests/data/bystander.sh — the legitimate traffic of another tenant, checked after
# each attack of the t11xx tests: an attack must fail without hurting anyone else.
# Sourced after tests/lib.sh.
#
#   bystander_init            a key of a tenant of its own (BYSTANDER_KEY)
#   bystander WHAT            GET /health, submit a noop job, read it, then wait for it
#                             to succeed; each request answered within
#                             BYSTANDER_MAX_S seconds (default 2), the job done within 30
#
# Needs a worker with enable_noop (the stack's, or the test's own copy of its config).

BYSTANDER_MAX_S=${BYSTANDER_MAX_S:-2}

bystander_init() {
	BYSTANDER_KEY=$(bin/adminctl -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "bystander-$T_NAME" 2>/dev/null |
		head -n 1)
	[ -n "$BYSTANDER_KEY" ] || bail "cannot create the bystander's API key with adminctl"
}

# _by_req OUT ARGS...: one request; "STATUS SECONDS" on stdout, the body in OUT
_by_req() {
	local out=$1
	shift
	curl -sS -o "$out" -w '%{http_code} %{time_total}' --max-time 30 \
		-H "Authorization: Bearer $BYSTANDER_KEY" "$@" 2>/dev/null || echo "000 30"
}

# _by_fast WHAT STATUS-SECONDS WANT: the status is WANT and it came within BYSTANDER_MAX_S
_by_fast() {
	local st=${2%% *} secs=${2#* }
	if [ "$st" = "$3" ] && awk -v s="$secs" -v m="$BYSTANDER_MAX_S" 'BEGIN { exit !(s <= m) }'; then
		return 0
	fi
	echo "$1: HTTP $st in ${secs}s (want $3 within ${BYSTANDER_MAX_S}s)"
	return 1
}

bystander() {
	local what=$1 f=$T_TMP/bystander.json r id errs="" st i
	r=$(_by_req "$f" "$SPOOL_API_URL/health")
	_by_fast "GET /health" "$r" 200 >>"$T_TMP/by.err" || errs=y
	r=$(_by_req "$f" -X POST -H 'Content-Type: application/json' \
		-d "{\"type\":\"noop\",\"params\":{\"t\":\"$T_NAME\"}}" "$SPOOL_API_URL/v1/jobs")
	_by_fast "POST /v1/jobs" "$r" 202 >>"$T_TMP/by.err" || errs=y
	id=$(jq -r '.id // empty' "$f" 2>/dev/null)
	r=$(_by_req "$f" "$SPOOL_API_URL/v1/jobs/$id")
	_by_fast "GET /v1/jobs/{id}" "$r" 200 >>"$T_TMP/by.err" || errs=y
	st=
	for i in 1 2 3; do
		_by_req "$f" "$SPOOL_API_URL/v1/jobs/$id?wait=10" >/dev/null
		st=$(jq -r '.status // empty' "$f" 2>/dev/null)
		[ "$st" = succeeded ] && break
	done
	[ "$st" = succeeded ] || { echo "the noop job '$id' is '$st', not succeeded" >>"$T_TMP/by.err"; errs=y; }
	if [ -z "$errs" ]; then
		ok "meanwhile another tenant is served as usual ($what)"
	else
		fail "meanwhile another tenant is served as usual ($what)" "$(cat "$T_TMP/by.err")"
	fi
	rm -f "$T_TMP/by.err"
}
