#!/bin/sh
# postgres.sh: a private PostgreSQL cluster on 127.0.0.1 for the tests.
#
#   sh tests/lib/postgres.sh start DIR         cluster, socket and log in DIR; port in DIR/port
#   sh tests/lib/postgres.sh stop DIR
#   sh tests/lib/postgres.sh psql DIR ARGS     psql as the test superuser, through the socket
#                                              (database postgres unless ARGS name one)
#   sh tests/lib/postgres.sh env DIR           the coordinates as shell assignments, for
#                                              eval "$(sh tests/lib/postgres.sh env DIR)"
#
# Everything lives in DIR (keep it under /tmp and short: the socket goes in there): the
# data directory DIR/data, the log DIR/postgres.log, the socket DIR/.s.PGSQL.PORT. Nothing
# in /etc/postgresql is read and the distribution's cluster is never touched. initdb and
# the server refuse to run as root, so the cluster runs as one unprivileged user:
# `postgres` (made by Debian's package) when we are root, through setpriv; else ourselves.
#
# One superuser, wbtest, with a random password in DIR/password. Through the socket it
# gets in without one (trust: the harness's own psql); on 127.0.0.1 it must give it
# (scram-sha-256), so wabridge's state_password_file is really used. The server also
# speaks TLS on 127.0.0.1 with a certificate for 127.0.0.1 and localhost signed by
# DIR/ca.pem (when openssl is there): a URI with sslmode=verify-full and
# sslrootcert=DIR/ca.pem verifies it; DIR/other-ca.pem signed nothing here. DIR/pgpass is
# a libpq password file for the same role (PGPASSFILE), for programs that open a store
# without a configuration (the unit tests).
#
# Exit status 3 from start means there is no PostgreSQL server to run (the postgresql
# package is missing, or no unprivileged user to run it as): the runner skips the
# PostgreSQL pass with that message.
set -eu

PORT_FIRST=10432
PORT_LAST=10531
ROLE=wbtest

SERVICE=postgres
. "$(dirname "$0")/service.sh"
skip() { echo "postgres.sh: $*" >&2; exit 3; }

usage() { die "usage: postgres.sh start|stop|env DIR | psql DIR ARGS..."; }

# The newest installed server's programs: PG_BIN (initdb, pg_ctl, psql), or empty.
find_bin() {
	if [ -n "${WB_PG_BIN:-}" ]; then
		PG_BIN=$WB_PG_BIN
		return
	fi
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
}

# Run a command as the cluster's user (root: through setpriv; else directly).
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$RUN_USER" --regid="$(id -g "$RUN_USER")" --init-groups -- "$@"
	else
		"$@"
	fi
}

pick_user() {
	if [ "$(id -u)" = 0 ]; then
		RUN_USER=${WB_PG_USER:-postgres}
		id "$RUN_USER" >/dev/null 2>&1 ||
			skip "running as root but there is no '$RUN_USER' user to run PostgreSQL as (install postgresql)"
	else
		RUN_USER=$(id -un)
	fi
}

# The settings of this instance, after initdb's defaults (later lines win).
write_conf() {
	port=$1
	cat >"$DIR/data/wbtest.conf" <<EOF
# Private test instance written by tests/lib/postgres.sh.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
unix_socket_permissions = 0777
max_connections = 200
shared_buffers = 32MB
max_wal_size = 1GB
lc_messages = 'C'
# No durability: the crash tests SIGKILL wabridge, never this server, and a server that
# died takes the test run with it anyway. What wabridge asks for (commits it waits on)
# is unchanged on its side; only this server does not sync to disk.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	if [ -f "$DIR/server.pem" ]; then
		cat >>"$DIR/data/wbtest.conf" <<EOF
ssl = on
ssl_cert_file = '$DIR/server.pem'
ssl_key_file = '$DIR/server.key'
EOF
	fi
	# The socket trusts (the harness itself); TCP needs the password.
	cat >"$DIR/data/pg_hba.conf" <<EOF
# Written by tests/lib/postgres.sh.
local all all               trust
host  all all 127.0.0.1/32  scram-sha-256
EOF
}

# Start the server once on port $1. Returns 0 when up, 2 when the port was busy, 1 else.
try_start() {
	ports_busy "$1" && return 2
	write_conf "$1"
	: >"$DIR/postgres.log"
	[ "$(id -u)" != 0 ] || chown "$RUN_USER" "$DIR/postgres.log"
	if as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 -s start \
		>"$DIR/start.out" 2>&1; then
		return 0
	fi
	if grep -q "Address already in use" "$DIR/postgres.log" 2>/dev/null; then
		return 2
	fi
	return 1
}

cmd_start() {
	find_bin
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] ||
		skip "no PostgreSQL server installed (no /usr/lib/postgresql/*/bin/initdb; tools/deps.sh installs postgresql)"
	[ -f "$DIR/data/postmaster.pid" ] && die "$DIR already has a running instance; stop it first"
	pick_user
	mkdir -p "$DIR"
	rm -rf "$DIR/data"
	# A password of 36 hex digits.
	pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" >"$DIR/password"
	chmod 600 "$DIR/password"
	if command -v openssl >/dev/null 2>&1; then
		make_certs
		chmod 600 "$DIR/server.key" # the server refuses a key others may read
	fi
	# The clients (root's psql, wabridge run as anyone) must reach the socket in DIR.
	chmod 711 "$DIR"
	[ "$(id -u)" != 0 ] || chown -R "$RUN_USER" "$DIR"
	# Locale C sorts text by bytes, as SQLite does (ORDER BY gives the same order on both).
	if ! as_owner "$PG_BIN/initdb" -D "$DIR/data" -U "$ROLE" --pwfile="$DIR/password" \
		-A trust -E UTF8 --locale=C --no-sync >"$DIR/initdb.out" 2>&1; then
		cat "$DIR/initdb.out" >&2
		die "initdb failed in $DIR/data"
	fi
	echo "include = 'wbtest.conf'" >>"$DIR/data/postgresql.conf"
	port=$PORT_FIRST
	while [ "$port" -le $PORT_LAST ]; do
		rc=0
		try_start "$port" || rc=$?
		case $rc in
		0) break ;;
		2) port=$((port + 1)) ;;
		*) show_failure "port $port" ;;
		esac
	done
	[ "$port" -le $PORT_LAST ] || show_failure "no free port in $PORT_FIRST-$PORT_LAST"
	echo "$port" >"$DIR/port"
	printf '127.0.0.1:%s:*:%s:%s\n%s:%s:*:%s:%s\n' "$port" "$ROLE" "$pw" "$DIR" "$port" \
		"$ROLE" "$pw" >"$DIR/pgpass"
	chmod 600 "$DIR/pgpass"
	# The server is up (pg_ctl -w waited for it): prove the password works on TCP.
	PGPASSWORD=$pw "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U "$ROLE" -d postgres \
		-c 'SELECT 1' >/dev/null 2>"$DIR/check.out" ||
		{ cmd_stop; cat "$DIR/check.out" >&2; show_failure "no login on 127.0.0.1:$port"; }
	echo "postgres.sh: private PostgreSQL on 127.0.0.1:$port (dir $DIR)"
}

cmd_stop() {
	find_bin
	if [ ! -f "$DIR/data/postmaster.pid" ]; then
		echo "postgres.sh: nothing running in $DIR" >&2
		return 0
	fi
	RUN_USER=$(stat -c %U "$DIR/data")
	# fast: roll back what is open and stop; a wabridge a test left running is cut off.
	as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 -s stop >/dev/null 2>&1 || {
		pid=$(head -n 1 "$DIR/data/postmaster.pid" 2>/dev/null || :)
		echo "postgres.sh: pg_ctl stop failed, killing postmaster ${pid:-?}" >&2
		[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || :
		rm -f "$DIR/data/postmaster.pid"
	}
}

cmd_psql() {
	find_bin
	[ -f "$DIR/port" ] || die "no instance in $DIR"
	PGHOST=$DIR PGPORT=$(cat "$DIR/port") PGUSER=$ROLE PGDATABASE=postgres \
		exec "$PG_BIN/psql" -X "$@"
}

cmd_env() {
	find_bin
	[ -f "$DIR/port" ] || die "no instance in $DIR"
	port=$(cat "$DIR/port")
	ca=""
	[ ! -f "$DIR/ca.pem" ] || ca=$DIR/ca.pem
	cat <<EOF
WB_PG_DIR='$DIR'
WB_PG_PORT='$port'
WB_PG_URL='postgresql://$ROLE@127.0.0.1:$port'
WB_PG_PASSWORD_FILE='$DIR/password'
WB_PG_CA='$ca'
WB_PG_PSQL='$PG_BIN/psql'
export WB_PG_DIR WB_PG_PORT WB_PG_URL WB_PG_PASSWORD_FILE WB_PG_CA WB_PG_PSQL
EOF
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2
case $DIR in
/*) ;;
*) die "DIR must be an absolute path (got '$DIR')" ;;
esac
# The socket DIR/.s.PGSQL.NNNNN.lock must fit in sun_path (108 bytes).
[ ${#DIR} -le 80 ] || die "DIR must be at most 80 characters (got ${#DIR}): $DIR"

case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
psql) cmd_psql "$@" ;;
env) cmd_env ;;
*) usage ;;
esac
