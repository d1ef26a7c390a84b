# service.sh: what the test harness's private servers share (sourced by dovecot.sh,
# postfix.sh and postgres.sh, which set SERVICE to their name and DIR to their
# directory; the server's log is DIR/SERVICE.log, its start's output DIR/start.out).

die() { echo "$SERVICE.sh: $*" >&2; exit 1; }

# The start failed for good: what it printed and the log's tail, then exit 1.
show_failure() {
	echo "$SERVICE.sh: $SERVICE did not start ($*); output and log tail:" >&2
	cat "$DIR/start.out" >&2 2>/dev/null || :
	tail -n 30 "$DIR/$SERVICE.log" >&2 2>/dev/null || :
	exit 1
}

# Is any of these TCP ports listened on? (Servers that bind with SO_REUSEPORT may start
# on a busy port without a word: look first.)
ports_busy() {
	for p in "$@"; do
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || return 0
	done
	return 1
}

openssl_q() { openssl "$@" >/dev/null 2>&1 || die "openssl $1 failed"; }

# DIR/ca.pem, and DIR/server.pem (127.0.0.1, localhost) with DIR/server.key signed by
# it; DIR/other-ca.pem signs nothing. Kept when DIR already has them.
make_certs() {
	[ -f "$DIR/server.pem" ] && return 0
	ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
	for ca in ca other-ca; do
		# shellcheck disable=SC2086
		openssl_q req -x509 $ec -keyout "$DIR/$ca.key" -out "$DIR/$ca.pem" -days 30 \
			-subj "/CN=wabridge test $ca" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
	done
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
		>"$DIR/server.ext"
	# shellcheck disable=SC2086
	openssl_q req $ec -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj "/CN=localhost"
	openssl_q x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
		-CAcreateserial -out "$DIR/server.pem" -days 30 -extfile "$DIR/server.ext"
}
