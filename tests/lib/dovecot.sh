#!/bin/sh
# dovecot.sh: a private Dovecot IMAP server on 127.0.0.1 for the tests.
#
#   sh tests/lib/dovecot.sh start DIR          config, mail and logs in DIR; port in DIR/port
#   sh tests/lib/dovecot.sh stop DIR
#   sh tests/lib/dovecot.sh reset DIR          empty every INBOX, delete every other folder
#   sh tests/lib/dovecot.sh doveadm DIR ARGS   doveadm -c DIR/dovecot.conf ARGS
#   sh tests/lib/dovecot.sh adduser DIR USER... more users (password `secret`) on a running
#                                              instance: a bridge of many stations, each
#                                              with its own mailbox login
#   sh tests/lib/dovecot.sh sessions DIR       one line per IMAP session of this instance,
#                                              "[USER IP COMMAND]", e.g. "[replies
#                                              127.0.0.1 IDLE]": a test waits for a client
#                                              to be in IDLE instead of guessing
#
# Everything lives in DIR (keep it under /tmp and short: Dovecot's unix sockets go in
# there). The config includes nothing from /etc/dovecot and the system instance is never
# touched. Dovecot refuses to run its login processes as root, so the whole instance runs
# as one unprivileged user: `dovecot` when we are root (through setpriv), else ourselves.
# Users: bhowanipore jadavpur parkstreet replies wabridge, all with password `secret`.
#
# With dovecot-lmtpd installed, Dovecot also takes mail by LMTP on DIR/run/lmtp (USER or
# USER@ANY.DOMAIN) and checks SMTP logins on DIR/run/auth-smtp: the private Postfix of
# tests/lib/postfix.sh delivers and authenticates through them.
#
# For TLS tests: DOVECOT_LISTEN (default 127.0.0.1) lists the addresses to listen on,
# and DIR/extra.conf, when present at start, is appended to the configuration (ssl = yes,
# ssl_cert, local blocks). Logins and connections that never tried one ("no auth
# attempts") are in DIR/dovecot.log.
set -eu

USERS="bhowanipore jadavpur parkstreet replies wabridge dcsouth jtcp"
PORT_FIRST=10143
PORT_LAST=10242

SERVICE=dovecot
. "$(dirname "$0")/service.sh"

usage() {
	die "usage: dovecot.sh start|stop|reset|sessions DIR | doveadm DIR ARGS... | adduser DIR USER..."
}

# The account the instance runs as: RUN_USER, RUN_UID, RUN_GID.
pick_user() {
	if [ "$(id -u)" = 0 ]; then
		RUN_USER=dovecot
		id "$RUN_USER" >/dev/null 2>&1 ||
			die "running as root but there is no 'dovecot' user (install dovecot-imapd)"
	else
		RUN_USER=$(id -un)
	fi
	RUN_UID=$(id -u "$RUN_USER")
	RUN_GID=$(id -g "$RUN_USER")
}

write_passwd() {
	: >"$DIR/passwd"
	for u in $USERS; do
		echo "$u:{PLAIN}secret:$RUN_UID:$RUN_GID::$DIR/mail/$u::" >>"$DIR/passwd"
	done
}

# " lmtp" when Dovecot's LMTP server is installed.
lmtp_protocol() {
	[ -x /usr/lib/dovecot/lmtp ] && echo " lmtp" || :
}

# A standalone config: no !include, every path inside DIR, chroots off (we are not root).
write_conf() {
	port=$1
	listen=${DOVECOT_LISTEN:-127.0.0.1}
	cat >"$DIR/dovecot.conf" <<EOF
# Private test instance written by tests/lib/dovecot.sh; nothing from /etc/dovecot.
instance_name = wbtest-$(basename "$DIR")
base_dir = $DIR/run
state_dir = $DIR/state
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
protocols = imap$(lmtp_protocol)
listen = $listen
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# Session processes name their user and command (cmd_sessions shows them).
verbose_proctitle = yes
default_login_user = $RUN_USER
default_internal_user = $RUN_USER
default_internal_group = $(id -gn "$RUN_USER")
first_valid_uid = $RUN_UID
last_valid_uid = $RUN_UID
first_valid_gid = $RUN_GID
last_valid_gid = $RUN_GID
mail_location = maildir:%h/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = $DIR/passwd
}
userdb {
  driver = passwd-file
  args = $DIR/passwd
}
protocol imap {
  mail_max_userip_connections = 100
}
service imap-login {
  chroot =
  inet_listener imap {
    address = $listen
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service ipc {
  chroot =
}
service old-stats {
  chroot =
}
service auth-worker {
  user = \$default_internal_user
}
EOF
	[ -z "$(lmtp_protocol)" ] || cat >>"$DIR/dovecot.conf" <<EOF
# For the private Postfix (tests/lib/postfix.sh): LMTP delivery and SMTP logins, on
# sockets inside DIR that its unprivileged daemons may use.
protocol lmtp {
  auth_username_format = %Ln
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener auth-smtp {
    mode = 0666
  }
}
EOF
	if [ -f "$DIR/extra.conf" ]; then
		cat "$DIR/extra.conf" >>"$DIR/dovecot.conf"
	fi
}

# Start the master once on port $1. Returns 0 when up, 2 when the port was busy, 1 else.
try_start() {
	write_conf "$1"
	: >"$DIR/dovecot.log"
	if [ "$(id -u)" = 0 ]; then
		chown -R "$RUN_USER:" "$DIR"
		set -- setpriv --reuid="$RUN_USER" --regid="$RUN_GID" --init-groups -- \
			dovecot -c "$DIR/dovecot.conf"
	else
		set -- dovecot -c "$DIR/dovecot.conf"
	fi
	# dovecot binds its listeners before it daemonises, so a busy port fails right here.
	if "$@" >"$DIR/start.out" 2>&1; then
		return 0
	fi
	if grep -q "Address already in use" "$DIR/start.out" "$DIR/dovecot.log" 2>/dev/null; then
		return 2
	fi
	return 1
}

# The master answers before its imap-login process accepts: wait for the banner (a
# minute at most: only a hang takes that long, even on a busy machine).
wait_banner() {
	host=$(echo "${DOVECOT_LISTEN:-127.0.0.1}" | tr ',' ' ' | awk '{print $1}')
	case $host in *:*) host="[$host]" ;; esac
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$end" ]; do
		if curl -s --max-time 1 "imap://$host:$1/" -X CAPABILITY \
			--user bhowanipore:secret >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

cmd_start() {
	[ -e "$DIR/run/master.pid" ] && die "$DIR already has a running instance; stop it first"
	pick_user
	mkdir -p "$DIR/run" "$DIR/state" "$DIR/mail"
	for u in $USERS; do
		mkdir -p "$DIR/mail/$u"
	done
	write_passwd
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
	wait_banner "$port" || { cmd_stop; show_failure "no IMAP answer on port $port"; }
	echo "dovecot.sh: private Dovecot on 127.0.0.1:$port (dir $DIR)"
}

cmd_stop() {
	pidfile="$DIR/run/master.pid"
	[ -f "$pidfile" ] || { echo "dovecot.sh: nothing running in $DIR" >&2; return 0; }
	pid=$(cat "$pidfile")
	kill "$pid" 2>/dev/null || :
	# Dovecot's own shutdown takes 2-3 s; give it 10 before the hard kill.
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "dovecot.sh: master $pid ignored SIGTERM, killing it" >&2
		kill -9 "$pid" 2>/dev/null || :
	fi
	rm -f "$pidfile"
}

run_doveadm() {
	doveadm -c "$DIR/dovecot.conf" "$@"
}

# Children sort after their parents ("A" < "A/B"), so deleting in reverse order empties
# every folder before its parent goes. A parent that only existed implicitly vanishes
# with its last child, so single deletes may fail: the final listing is what counts.
cmd_reset() {
	for u in $USERS; do
		run_doveadm expunge -u "$u" mailbox INBOX all
		run_doveadm mailbox list -u "$u" | grep -vx INBOX | sort -r |
			while IFS= read -r box; do
				run_doveadm mailbox delete -u "$u" -s "$box" 2>/dev/null || :
			done
		left=$(run_doveadm mailbox list -u "$u" | grep -vx INBOX || :)
		[ -z "$left" ] || die "reset: could not delete folders of $u: $left"
	done
}

# passwd-file is read again when it changes, so new users can log in at once. Users
# already there are left as they are; the `reset` command knows only the built-in ones.
cmd_adduser() {
	pick_user
	for u in "$@"; do
		case $u in
		*[!a-z0-9_-]* | "") die "adduser: '$u' is not a user name ([a-z0-9_-])" ;;
		esac
	done
	# One pass over the names (a thousand of them take a moment, not a process each).
	new=$(printf '%s\n' "$@" | awk -F: 'NR == FNR { have[$1] = 1; next }
		!($0 in have) && !seen[$0]++' "$DIR/passwd" -)
	[ -n "$new" ] || return 0
	(cd "$DIR/mail" && printf '%s\n' "$new" | xargs mkdir -p)
	[ "$(id -u)" != 0 ] || (cd "$DIR/mail" && printf '%s\n' "$new" | xargs chown "$RUN_USER:")
	{
		cat "$DIR/passwd"
		printf '%s\n' "$new" | awk -v uid="$RUN_UID" -v gid="$RUN_GID" -v top="$DIR/mail" \
			'{ printf "%s:{PLAIN}secret:%s:%s::%s/%s::\n", $0, uid, gid, top, $0 }'
	} >"$DIR/passwd.tmp"
	[ "$(id -u)" != 0 ] || chown "$RUN_USER:" "$DIR/passwd.tmp"
	mv "$DIR/passwd.tmp" "$DIR/passwd"
}

# The imap processes are the master's children; their titles say user, address and the
# command in progress.
cmd_sessions() {
	pidfile="$DIR/run/master.pid"
	[ -f "$pidfile" ] || die "nothing running in $DIR"
	ps -o args= --ppid "$(cat "$pidfile")" | sed -n 's/^[^ ]*\/imap \(\[.*\]\)$/\1/p'
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2
case $DIR in
/*) ;;
*) die "DIR must be an absolute path (got '$DIR')" ;;
esac
# Unix socket paths (DIR/run/...) must fit in sun_path.
[ ${#DIR} -le 60 ] || die "DIR must be at most 60 characters (got ${#DIR}): $DIR"

case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
reset) [ -f "$DIR/dovecot.conf" ] || die "no instance in $DIR"; cmd_reset ;;
doveadm) [ -f "$DIR/dovecot.conf" ] || die "no instance in $DIR"; run_doveadm "$@" ;;
sessions) cmd_sessions ;;
adduser) [ -f "$DIR/passwd" ] || die "no instance in $DIR"; cmd_adduser "$@" ;;
*) usage ;;
esac
