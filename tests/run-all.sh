#!/bin/sh
# The whole test suite: unit programs (GTest, TAP output), the fuzz targets over their
# corpora, then integration scripts against a private Dovecot started here and stopped
# at the end, and a private Postfix (as root) delivering into that Dovecot. Every test
# prints TAP; this script counts the results and ends with
# "N passed, N failed[, N skipped]".
#
# The state store: everything runs on SQLite; then the tests that touch the state run
# once more on PostgreSQL (WB_STATE_BACKEND=pg: the unit programs that open a store
# through testlib.h's test_state_location, the integration scripts that make a Bridge),
# against a private cluster started here (tests/lib/postgres.sh) with a Dovecot and
# Postfix of their own. That pass runs beside the SQLite one; its output is kept and
# shown after it, every test name marked "[pg]". Without the postgresql package, or with
# a wabridge that has no PostgreSQL back end, the pass is one SKIP saying so.
#
#   WABRIDGE     the binary under test (make check: the sanitizer build)
#   WB_UNIT_DIR  where the unit test programs are
#   WB_FUZZ_DIR  where the fuzz targets are (each runs briefly over its corpus); unset: none
#   WB_VALGRIND  1 = run every wabridge and unit program under valgrind
#   WB_ONLY      run only tests whose file name contains this string
#   WB_BACKENDS  the passes: "sqlite pg" (default), "sqlite" or "pg" (only the tests that
#                touch the state, on PostgreSQL)
#   WB_PG_SERIAL 1 = run the PostgreSQL pass after the SQLite one instead of beside it
#   WB_KEEP      1 = keep the work directory (logs, services' data) in /tmp/wbt.*
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
: "${WABRIDGE:=$top/wabridge}"
: "${WB_UNIT_DIR:=$top/build}"
: "${WB_ONLY:=}"
: "${WB_BACKENDS:=sqlite pg}"
export WABRIDGE WB_TOP="$top"
# LeakSanitizer on, with the known one-time allocations of GLib's type system suppressed.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if [ "${WB_VALGRIND:-}" = 1 ]; then
	WB_WRAP="valgrind -q --error-exitcode=87 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --suppressions=$top/tests/valgrind.supp"
else
	WB_WRAP=""
fi
export WB_WRAP
case " $WB_BACKENDS " in *" sqlite "*) on_sqlite=1 ;; *) on_sqlite=0 ;; esac
case " $WB_BACKENDS " in *" pg "*) on_pg=1 ;; *) on_pg=0 ;; esac

work=$(mktemp -d /tmp/wbt.XXXXXX)
chmod 711 "$work" # the private Dovecot and PostgreSQL run as their own users and must get in
log="$work/log"
pgpass="$work/pgpass" # the PostgreSQL pass's logs, one per test
passed=0 failed=0 skipped=0
pg_pid=""

# Every private service started, in order, as "KIND DIR" lines: stop() stops them.
: >"$work/services"
stop() {
	[ -z "$pg_pid" ] || kill "$pg_pid" 2>/dev/null
	while read -r kind dir; do
		sh "tests/lib/$kind.sh" stop "$dir" >/dev/null 2>&1
	done <"$work/services"
	[ "${WB_KEEP:-}" = 1 ] || rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Count one program's TAP lines; a program that dies without saying "not ok" still fails.
tally() { # name, rc, tapfile
	p=$(grep -c '^ok ' "$3" | head -n1); s=$(grep -c '^ok .*# SKIP' "$3" | head -n1)
	f=$(grep -c '^not ok ' "$3" | head -n1)
	p=$((p - s))
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $1 exited with status $2 (see the output above)"
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_one() { # name, command...
	name=$1; shift
	echo "# --- $name"
	t0=$(date +%s)
	"$@" > "$log" 2>&1
	rc=$?
	cat "$log"
	echo "# $name: $(($(date +%s) - t0)) s"
	tally "$name" "$rc" "$log"
}

# A private Dovecot in $1 and, as root, a private Postfix in $2 delivering into it; sets
# and exports WB_IMAP_PORT, WB_DOVECOT_DIR and the WB_SMTP_* of the tests. $3 names the
# pass in messages.
start_mail() {
	unset WB_IMAP_PORT WB_DOVECOT_DIR WB_SMTP_PORT WB_SMTPS_PORT WB_SMTP_PLAIN_PORT \
		WB_SMTP_DIR WB_SMTP_CA
	mkdir -p "$1"
	if sh tests/lib/dovecot.sh start "$1" > "$work/dovecot.out" 2>&1; then
		echo "dovecot $1" >>"$work/services"
		WB_IMAP_PORT=$(cat "$1/port")
		WB_DOVECOT_DIR=$1
		export WB_IMAP_PORT WB_DOVECOT_DIR
		echo "# private Dovecot$3 on 127.0.0.1:$WB_IMAP_PORT"
	else
		cat "$work/dovecot.out"
		echo "not ok - the private Dovecot$3 did not start; IMAP tests cannot run"
		failed=$((failed + 1))
		return
	fi
	# The private Postfix delivers into that Dovecot; it needs root (tests/lib/postfix.sh).
	rc=0
	sh tests/lib/postfix.sh start "$2" "$1" > "$work/postfix.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "postfix $2" >>"$work/services"
		read -r WB_SMTP_PORT WB_SMTPS_PORT WB_SMTP_PLAIN_PORT < "$2/ports"
		WB_SMTP_DIR=$2 WB_SMTP_CA=$2/ca.pem
		export WB_SMTP_PORT WB_SMTPS_PORT WB_SMTP_PLAIN_PORT WB_SMTP_DIR WB_SMTP_CA
		echo "# private Postfix$3 on 127.0.0.1:$WB_SMTP_PORT (STARTTLS), $WB_SMTPS_PORT (TLS), $WB_SMTP_PLAIN_PORT (plain)"
	elif [ "$rc" -eq 3 ]; then
		echo "# no private Postfix$3 ($(cat "$work/postfix.out")): SMTP tests skip"
	else
		cat "$work/postfix.out"
		echo "not ok - the private Postfix$3 did not start; SMTP tests cannot run"
		failed=$((failed + 1))
	fi
}

# The tests of each kind, filtered by WB_ONLY: unit programs, fuzz targets, integration
# scripts; then those of the PostgreSQL pass (the ones that touch the state).
wanted() { case "${1##*/}" in *"$WB_ONLY"*) return 0 ;; *) return 1 ;; esac; }
units=""
for t in "$WB_UNIT_DIR"/test-*; do
	[ -x "$t" ] && wanted "$t" && units="$units $t"
done
fuzzers=""
for t in ${WB_FUZZ_DIR:+"$WB_FUZZ_DIR"/fuzz-*}; do
	[ -x "$t" ] && wanted "$t" && fuzzers="$fuzzers $t"
done
scripts=""
for t in tests/integration/test_*.py; do
	wanted "$t" && scripts="$scripts $t"
done
pg_units=""
for t in $units; do
	n=${t##*/}
	grep -q test_state_location "tests/unit/$n.c" 2>/dev/null && pg_units="$pg_units $t"
done
pg_scripts=""
for t in $scripts; do
	grep -q 'Bridge(' "$t" && pg_scripts="$pg_scripts $t"
done

# The PostgreSQL pass, each test's output in $pgpass/NNN.log (its name in NNN.name, its
# status in NNN.rc), with its own Dovecot and Postfix so that resetting mailboxes in one
# pass does not pull mail from under the other.
pg_pass() {
	export WB_STATE_BACKEND=pg
	i=100
	for t in $pg_units $pg_scripts; do
		i=$((i + 1))
		echo "${t##*/}" >"$pgpass/$i.name"
		t0=$(date +%s)
		rc=0
		case $t in
		*.py) python3 "$t" >"$pgpass/$i.log" 2>&1 || rc=$? ;;
		# in a directory of their own: nothing a store makes lands in the tree
		*) (mkdir -p "$work/pgcwd" && cd "$work/pgcwd" && $WB_WRAP "$t" --tap) \
			>"$pgpass/$i.log" 2>&1 || rc=$? ;;
		esac
		echo "$rc $(($(date +%s) - t0))" >"$pgpass/$i.rc"
	done
}

# Show the PostgreSQL pass's results in order, every TAP name marked [pg], and count them.
pg_report() {
	echo
	echo "# ==== PostgreSQL pass (state = postgresql://...)"
	grep -v '^not ok' "$work/pg-services.out" # a failure to start was counted at the top
	for n in "$pgpass"/*.name; do
		[ -e "$n" ] || continue
		base=${n%.name}
		name="[pg] $(cat "$n")"
		echo "# --- $name"
		sed -E 's/^(not ok|ok) ([0-9]+)( -)? ?/\1 \2 - [pg] /' "$base.log" >"$log"
		cat "$log"
		read -r rc secs <"$base.rc" 2>/dev/null || rc=99 secs="?"
		echo "# $name: $secs s"
		tally "$name" "$rc" "$log"
	done
}

# ---- the services and the PostgreSQL pass ---------------------------------------------------

# A wabridge from before the PostgreSQL back end knows no state_password_file: then the
# pass has nothing to test, and says so in one SKIP.
if [ "$on_pg" = 1 ] && [ -n "$pg_units$pg_scripts" ]; then
	printf 'x\n' >"$work/probe.pass"
	chmod 600 "$work/probe.pass"
	printf '[bridge]\nstate = postgresql://wbtest@127.0.0.1:1/probe\n%s\n[whatsapp]\n%s\n' \
		"state_password_file = $work/probe.pass" "dry_run = true" >"$work/probe.conf"
	if "$WABRIDGE" -c "$work/probe.conf" check-config 2>&1 |
		grep -q 'state_password_file: unknown key'; then
		echo "ok - the PostgreSQL pass # SKIP $WABRIDGE has no PostgreSQL back end yet" \
			"([bridge] state_password_file is an unknown key)"
		skipped=$((skipped + 1))
		on_pg=0
	fi
fi

if [ "$on_pg" = 1 ] && [ -n "$pg_units$pg_scripts" ]; then
	mkdir -p "$pgpass"
	rc=0
	sh tests/lib/postgres.sh start "$work/pg" >"$work/postgres.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "postgres $work/pg" >>"$work/services"
		eval "$(sh tests/lib/postgres.sh env "$work/pg")"
		echo "# private PostgreSQL on 127.0.0.1:$WB_PG_PORT (dir $WB_PG_DIR)"
		# The pass's own mail services, started in the foreground (the counts of a
		# failure to start are ours), their coordinates kept for its subshell.
		start_mail "$work/dcpg" "$work/smtppg" " of the PostgreSQL pass" >"$work/pg-services.out"
		env | grep -E '^WB_(IMAP_PORT|DOVECOT_DIR|SMTP_[A-Z_]+)=' |
			sed "s/=\(.*\)/='\1'/;s/^/export /" >"$work/pg-env"
		grep '^not ok' "$work/pg-services.out" || :
		if [ "${WB_PG_SERIAL:-}" != 1 ] && [ "$on_sqlite" = 1 ]; then
			( . "$work/pg-env"; pg_pass ) &
			pg_pid=$!
			echo "# the PostgreSQL pass runs beside this one; its results follow at the end"
		fi
	elif [ "$rc" -eq 3 ]; then
		echo "ok - the PostgreSQL pass # SKIP no private PostgreSQL: $(cat "$work/postgres.out")"
		skipped=$((skipped + 1))
		on_pg=0
	else
		cat "$work/postgres.out"
		echo "not ok - the private PostgreSQL did not start; the PostgreSQL pass cannot run"
		failed=$((failed + 1))
		on_pg=0
	fi
fi

# ---- the SQLite pass ----------------------------------------------------------------------

if [ "$on_sqlite" = 1 ]; then
	start_mail "$work/dc" "$work/smtp" ""
	for t in $units; do
		run_one "$(basename "$t")" $WB_WRAP "$t" --tap
	done
	for t in $fuzzers; do
		run_one "$(basename "$t")" sh tests/fuzz/run.sh check "$t"
	done
	for t in $scripts; do
		run_one "$(basename "$t")" python3 "$t"
	done
fi

# ---- the PostgreSQL pass's results --------------------------------------------------------

if [ "$on_pg" = 1 ] && [ -n "$pg_units$pg_scripts" ]; then
	if [ -n "$pg_pid" ]; then
		wait "$pg_pid"
		pg_pid=""
	else
		( . "$work/pg-env"; pg_pass )
	fi
	pg_report
fi

echo
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
