# tests/bystander.sh — a legitimate tenant beside an attack (source it after lib.sh).
#
# The attack suites (t11xx) run each attack and, while it is under way, check that an
# honest tenant is still served: bystander_ok LABEL asks GET /health, submits a noop job
# with the bystander's own key, reads it back, and waits for it to finish; every request
# must answer within BYSTANDER_MAX_S seconds (default 2) and the job within 20 s.
#
#   . tests/lib.sh; . tests/bystander.sh
#   bystander_init                 # a key of a tenant of its own (revoked at exit)
#   bystander_ok "slowloris"       # one check line: "slowloris: a bystander is served …"
#
# BYSTANDER_URL (default $SPOOL_API_URL) and BYSTANDER_CURL (extra curl arguments, e.g.
# --interface 127.0.0.1) say how the bystander reaches the API.

BYSTANDER_MAX_S=${BYSTANDER_MAX_S:-2}
BYSTANDER_URL=${BYSTANDER_URL:-$SPOOL_API_URL}
BYSTANDER_KEY=
BYSTANDER_TENANT=

bystander_init() {
	BYSTANDER_TENANT=bystander-$T_NAME-$$
	local out
	out=$("$T_ROOT/bin/adminctl" -f "$SPOOL_ADMINCTL_CONFIG" keys create --tenant "$BYSTANDER_TENANT" \
		--name "$T_NAME" 2>"$T_TMP/bystander.err") ||
		bail "bystander: adminctl keys create failed: $(cat "$T_TMP/bystander.err")"
	BYSTANDER_KEY=$(grep -o 'sk_[A-Za-z0-9_-]*' <<<"$out" | head -n1)
	[ -n "$BYSTANDER_KEY" ] || bail "bystander: no key in: $out"
	local id
	id=$(grep -o 'key_[A-Za-z0-9_-]*\|[0-9a-f]\{8\}-[0-9a-f-]\{27\}' <<<"$out" | head -n1)
	[ -z "$id" ] || at_exit "'$T_ROOT/bin/adminctl' -f '$SPOOL_ADMINCTL_CONFIG' keys revoke '$id'"
}

# _bystander_req WHAT EXPECT CURL-ARGS...: one request; sets _B_BODY; 0 when the status
# is EXPECT and the answer came within BYSTANDER_MAX_S, else prints why and returns 1
_bystander_req() {
	local what=$1 expect=$2 out code secs
	shift 2
	out=$(curl -sS -o "$T_TMP/bystander.body" -w '%{http_code} %{time_total}' \
		--max-time $((BYSTANDER_MAX_S * 3)) ${BYSTANDER_CURL:-} "$@" 2>&1)
	code=${out%% *} secs=${out##* }
	_B_BODY=$(cat "$T_TMP/bystander.body" 2>/dev/null)
	if [ "$code" != "$expect" ]; then
		echo "$what: status '$code' (expected $expect): $out $_B_BODY"
		return 1
	fi
	if ! awk -v s="$secs" -v m="$BYSTANDER_MAX_S" 'BEGIN { exit !(s <= m) }'; then
		echo "$what: took ${secs}s (limit ${BYSTANDER_MAX_S}s)"
		return 1
	fi
}

_bystander_round() {
	local h=(-H "Authorization: Bearer $BYSTANDER_KEY") id st i
	_bystander_req "GET /health" 200 "$BYSTANDER_URL/health" || return 1
	_bystander_req "POST /v1/jobs" 202 "${h[@]}" -H 'Content-Type: application/json' \
		-d '{"type":"noop"}' "$BYSTANDER_URL/v1/jobs" || return 1
	id=$(json_id <<<"$_B_BODY")
	for ((i = 0; i < 40; i++)); do
		_bystander_req "GET /v1/jobs/$id" 200 "${h[@]}" "$BYSTANDER_URL/v1/jobs/$id" || return 1
		st=$(jq -r .status <<<"$_B_BODY")
		[ "$st" = succeeded ] && return 0
		sleep 0.5
	done
	echo "job $id still '$st' after 20 s"
	return 1
}

# bystander_ok LABEL: one check that the bystander tenant is served normally
bystander_ok() {
	[ -n "$BYSTANDER_KEY" ] || bystander_init
	local why
	if why=$(_bystander_round); then
		ok "$1: a bystander tenant is served (health, submit, get within ${BYSTANDER_MAX_S}s)"
	else
		fail "$1: a bystander tenant is served (health, submit, get within ${BYSTANDER_MAX_S}s)" "$why"
	fi
}
