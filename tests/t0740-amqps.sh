#!/usr/bin/env bash
# AMQPS ([rabbitmq] tls, ca_file): the worker connects with TLS and verifies the
# broker's certificate chain and host name. The broker here is openssl s_server
# with a CA made for the test: the TLS handshake must succeed with the right CA
# (the failure that follows is AMQP's: s_server speaks no AMQP) and fail on a
# foreign CA or a wrong host name; TLS against the plain AMQP port fails cleanly.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip_all "openssl is not installed"
[ -x bin/spool-worker ] || bail "bin/spool-worker is not built"
d=$T_TMP

# a CA, a second (foreign) CA, a server certificate for 127.0.0.1 and one for another name
mkca() { openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$1" -keyout "$d/$1.key" -out "$d/$1.pem" 2>/dev/null; }
mksrv() { # NAME SAN
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$2" >"$d/$1.ext" &&
		openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 1 \
			-extfile "$d/$1.ext" -out "$d/$1.pem" 2>/dev/null
}
mkca ca && mkca other && mksrv srv "DNS:localhost" && mksrv wrongname "DNS:broker.example" ||
	bail "openssl could not make the test certificates"
ok "test CA and certificates made"

port=$(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# run_worker NAME TLS CA [PORT]: a worker for 4 s against the broker on PORT (default:
# the stack's, with its secret); its log in $d/NAME.log; prints its first RabbitMQ error
run_worker() {
	local name=$1 tls=$2 ca=$3 p=${4:-} cfg=$d/$1.ini
	printf '{"username":"spool","password":"x","host":"localhost","port":%s,"vhost":"/"}\n' "$p" >"$d/$name.secret"
	sed -e 's/^enabled = true/enabled = false/' "$SPOOL_WORKER_CONFIG" >"$cfg"
	[ -z "$p" ] || sed -i "s|^secret = arn:aws:secretsmanager:[^ ]*:secret:spool/rabbitmq.*|secret = file:$d/$name.secret|" "$cfg"
	sed -i "s|^\[rabbitmq\]$|[rabbitmq]\ntls = $tls\nconnect_timeout = 2s${ca:+\nca_file = $ca}|" "$cfg"
	timeout -s TERM 4 env AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null \
		bin/spool-worker -d -f "$cfg" >"$d/$name.log" 2>&1
	grep -m1 '"level":"error".*rabbitmq' "$d/$name.log" | jq -r .msg 2>/dev/null
}

# s_server CERT: a TLS server on $port for one test
s_server() {
	openssl s_server -www -accept "$port" -cert "$d/$1.pem" -key "$d/$1.key" >"$d/s_server-$1.log" 2>&1 </dev/null &
	srv=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

s_server srv
msg=$(run_worker good true "$d/ca.pem" "$port")
kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
# s_server answers no AMQP: the login times out or the peer closes, after the handshake
expect_match "the right CA: the TLS handshake succeeds, the AMQP login fails ($msg)" '^rabbitmq: login' "$msg"
expect_eq "...without any certificate complaint" "" "$(grep -iE 'verif|certificate' <<<"$msg")"

s_server srv
msg=$(run_worker foreign true "$d/other.pem" "$port")
kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
expect_match "a foreign CA: refused by peer verification ($msg)" "with TLS: SSL peer cert verification failed" "$msg"

s_server wrongname
msg=$(run_worker hostname true "$d/ca.pem" "$port")
kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
expect_match "a certificate for another host name: refused ($msg)" "with TLS: SSL hostname verification failed" "$msg"

amqp_port=$(sed -n 's|^SPOOL_AMQP_URL=amqp://[^@]*@127.0.0.1:\([0-9]*\)/.*|\1|p' "$SPOOL_RUN_DIR/stack.env")
msg=$(run_worker plain true "$d/ca.pem" "$amqp_port")
expect_match "TLS against the plain AMQP port fails cleanly" "cannot connect to 'localhost:$amqp_port' with TLS: SSL handshake failed" "$msg"
check "...and the worker stopped cleanly on SIGTERM" grep -q '"msg":"stopped"' "$d/plain.log"

msg=$(run_worker plaintext false "")
expect_eq "tls = false: plain AMQP still works (no error)" "" "$msg"
check "...the worker consumed" grep -q "consuming 'spool.jobs'" "$d/plaintext.log"

done_testing
