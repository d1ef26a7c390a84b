#!/bin/sh
# postfix.sh: a private Postfix SMTP server on 127.0.0.1 for the tests, delivering by LMTP
# into the private Dovecot of tests/lib/dovecot.sh (which also checks its logins).
#
#   sh tests/lib/postfix.sh start DIR DOVECOT_DIR   config, queue, certificates, log in DIR
#   sh tests/lib/postfix.sh stop DIR
#
# Ports, in DIR/ports as "SMTP SMTPS PLAIN": SMTP offers STARTTLS and AUTH only after it;
# SMTPS is TLS from the first byte; PLAIN offers no STARTTLS and AUTH in clear text (for
# the rules on plain text). A restart (stop, start) keeps the ports. The certificate is
# for 127.0.0.1 and localhost, by DIR/ca.pem; DIR/other-ca.pem is a CA that signed
# nothing here. Logins are Dovecot's users (password `secret`); mail for
# USER@police.test goes into USER's INBOX there, any other address is refused (550 5.1.1).
# Every SMTP session ends in a line of DIR/postfix.log such as "disconnect from
# localhost[127.0.0.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
# which tells whether AUTH was ever tried.
#
# Postfix's master refuses to run unless it is root ("the master command is reserved for
# the superuser"); its daemons then run as the unprivileged `postfix` user, with nothing
# chrooted and every path in DIR. Started as anyone else this exits with status 3, and
# the tests that need it skip. Nothing in /etc/postfix is read or changed, and the only
# listeners are on 127.0.0.1.
set -eu

PORT_FIRST=10025
PORT_LAST=10124
DAEMONS=/usr/lib/postfix/sbin
DOMAIN=police.test

SERVICE=postfix
. "$(dirname "$0")/service.sh"

usage() { die "usage: postfix.sh start DIR DOVECOT_DIR | stop DIR"; }

# The queue directories as Postfix's post-install makes them (we use no sendmail, so
# maildrop and public stay empty).
make_queue() {
	q=$DIR/queue
	mkdir -p "$q/pid" "$DIR/data"
	for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
		mkdir -p "$q/$d"
		chown postfix:root "$q/$d"
		chmod 700 "$q/$d"
	done
	mkdir -p "$q/maildrop" "$q/public"
	chown postfix:postdrop "$q/maildrop" "$q/public"
	chmod 730 "$q/maildrop"
	chmod 710 "$q/public"
	chown postfix "$DIR/data"
}

write_conf() { # smtp smtps plain
	users=$(awk -F: -v d="$DOMAIN" '{ printf "%s%s@%s=ok", (NR > 1 ? ", " : ""), $1, d }' \
		"$DC/passwd")
	mkdir -p "$DIR/conf"
	cat >"$DIR/conf/main.cf" <<EOF
# Private test instance written by tests/lib/postfix.sh; nothing from /etc/postfix.
compatibility_level = 3.6
config_directory = $DIR/conf
queue_directory = $DIR/queue
data_directory = $DIR/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $DIR/postfix.log
maillog_file_prefixes = $DIR
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = smtp.test
mydomain = test
myorigin = \$myhostname
mydestination =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
# Nothing leaves: mail for $DOMAIN goes to Dovecot, anything else bounces.
default_transport = error:the test server delivers to $DOMAIN only
relay_transport = \$default_transport
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = inline:{ $users }
virtual_transport = lmtp:unix:$DC/run/lmtp
# Mail passes as sent: no header rewriting, no MIME conversion.
local_header_rewrite_clients =
disable_mime_output_conversion = yes
smtputf8_enable = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC/run/auth-smtp
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_tls_cert_file = $DIR/server.pem
smtpd_tls_key_file = $DIR/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
smtpd_client_connection_rate_limit = 0
# Retry quickly: a test that stops Dovecot should not wait minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
EOF
	cat >"$DIR/conf/master.cf" <<EOF
127.0.0.1:$1 inet n - n - - smtpd
127.0.0.1:$2 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
127.0.0.1:$3 inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_tls_auth_only=no
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

# Start the master on ports $1.. Returns 0 when up, 2 when a port was busy, 1 else.
try_start() {
	ports_busy "$@" && return 2
	write_conf "$@"
	if MAIL_CONFIG="$DIR/conf" "$DAEMONS/master" -c "$DIR/conf" -w >"$DIR/start.out" 2>&1; then
		return 0
	fi
	if grep -q "Address already in use" "$DIR/start.out" "$DIR/postfix.log" 2>/dev/null; then
		return 2
	fi
	return 1
}

# The master answers once its smtpd listeners are set up (master -w waits for that);
# check the banner anyway, within a minute (only a hang takes that long).
wait_banner() {
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$end" ]; do
		if curl -s --max-time 1 "smtp://127.0.0.1:$1/" -X NOOP >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

cmd_start() {
	[ "$(id -u)" = 0 ] || { echo "postfix.sh: Postfix's master runs only as root" >&2; exit 3; }
	[ -x "$DAEMONS/master" ] || die "no $DAEMONS/master (install postfix)"
	[ -S "$DC/run/lmtp" ] || die "no LMTP socket in $DC/run (install dovecot-lmtpd)"
	[ -e "$DIR/queue/pid/master.pid" ] && die "$DIR already has a running instance; stop it first"
	mkdir -p "$DIR"
	make_certs
	make_queue
	: >>"$DIR/postfix.log"
	if [ -f "$DIR/ports" ]; then
		# shellcheck disable=SC2046
		try_start $(cat "$DIR/ports") || show_failure "ports $(cat "$DIR/ports")"
		set -- $(cat "$DIR/ports")
		port=$1
	else
		port=$PORT_FIRST
		while [ $((port + 2)) -le $PORT_LAST ]; do
			rc=0
			try_start "$port" $((port + 1)) $((port + 2)) || rc=$?
			case $rc in
			0) break ;;
			2) port=$((port + 3)) ;;
			*) show_failure "port $port" ;;
			esac
		done
		[ $((port + 2)) -le $PORT_LAST ] || show_failure "no free ports in $PORT_FIRST-$PORT_LAST"
		echo "$port $((port + 1)) $((port + 2))" >"$DIR/ports"
	fi
	wait_banner "$port" || { cmd_stop; show_failure "no SMTP greeting on port $port"; }
	echo "postfix.sh: private Postfix on 127.0.0.1:$(cat "$DIR/ports") (dir $DIR)"
}

cmd_stop() {
	pidfile="$DIR/queue/pid/master.pid"
	[ -f "$pidfile" ] || { echo "postfix.sh: nothing running in $DIR" >&2; return 0; }
	pid=$(tr -d ' ' <"$pidfile")
	kill "$pid" 2>/dev/null || :
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "postfix.sh: master $pid ignored SIGTERM, killing it" >&2
		kill -9 "$pid" 2>/dev/null || :
	fi
	rm -f "$pidfile"
	# smtpd processes share the listening sockets and leave a moment after the master:
	# stopped means nothing answers on the ports any more.
	for p in $(cat "$DIR/ports" 2>/dev/null); do
		i=0
		while [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && [ $i -lt 200 ]; do
			sleep 0.05
			i=$((i + 1))
		done
	done
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
case $DIR in
/*) ;;
*) die "DIR must be an absolute path (got '$DIR')" ;;
esac

case $cmd in
start) [ $# -eq 3 ] || usage; DC=$3; cmd_start ;;
stop) cmd_stop ;;
*) usage ;;
esac
