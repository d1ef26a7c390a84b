#!/bin/sh
# The whole test suite: unit programs (GTest, TAP output), the fuzz targets over their
# corpora, then integration scripts against a private Dovecot started here and stopped
# at the end, and a private Postfix (as root) delivering into that Dovecot. Every test
# prints TAP; this script counts the results and ends with
# "N passed, N failed[, N skipped]".
#
#   WABRIDGE     the binary under test (make check: the sanitizer build)
#   WB_UNIT_DIR  where the unit test programs are
#   WB_FUZZ_DIR  where the fuzz targets are (each runs briefly over its corpus); unset: none
#   WB_VALGRIND  1 = run every wabridge and unit program under valgrind
#   WB_ONLY      run only tests whose file name contains this string
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
: "${WABRIDGE:=$top/wabridge}"
: "${WB_UNIT_DIR:=$top/build}"
: "${WB_ONLY:=}"
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

work=$(mktemp -d /tmp/wbt.XXXXXX)
chmod 711 "$work" # the private Dovecot runs as its own user and must get in
dc="$work/dc"
smtp="$work/smtp"
log="$work/log"
passed=0 failed=0 skipped=0

stop() {
	[ -f "$smtp/ports" ] && sh tests/lib/postfix.sh stop "$smtp" >/dev/null 2>&1
	[ -f "$dc/dovecot.conf" ] && sh tests/lib/dovecot.sh stop "$dc" >/dev/null 2>&1
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
	"$@" > "$log" 2>&1
	rc=$?
	cat "$log"
	tally "$name" "$rc" "$log"
}

mkdir -p "$dc"
if sh tests/lib/dovecot.sh start "$dc" > "$work/dovecot.out" 2>&1; then
	WB_IMAP_PORT=$(cat "$dc/port")
	WB_DOVECOT_DIR=$dc
	export WB_IMAP_PORT WB_DOVECOT_DIR
	echo "# private Dovecot on 127.0.0.1:$WB_IMAP_PORT"
else
	cat "$work/dovecot.out"
	echo "not ok - the private Dovecot did not start; IMAP tests cannot run"
	failed=$((failed + 1))
fi

# The private Postfix delivers into that Dovecot; it needs root (tests/lib/postfix.sh).
if [ -n "${WB_DOVECOT_DIR:-}" ]; then
	rc=0
	sh tests/lib/postfix.sh start "$smtp" "$dc" > "$work/postfix.out" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		read -r WB_SMTP_PORT WB_SMTPS_PORT WB_SMTP_PLAIN_PORT < "$smtp/ports"
		WB_SMTP_DIR=$smtp WB_SMTP_CA=$smtp/ca.pem
		export WB_SMTP_PORT WB_SMTPS_PORT WB_SMTP_PLAIN_PORT WB_SMTP_DIR WB_SMTP_CA
		echo "# private Postfix on 127.0.0.1:$WB_SMTP_PORT (STARTTLS), $WB_SMTPS_PORT (TLS), $WB_SMTP_PLAIN_PORT (plain)"
	elif [ "$rc" -eq 3 ]; then
		echo "# no private Postfix ($(cat "$work/postfix.out")): SMTP tests skip"
	else
		cat "$work/postfix.out"
		echo "not ok - the private Postfix did not start; SMTP tests cannot run"
		failed=$((failed + 1))
	fi
fi

for t in "$WB_UNIT_DIR"/test-*; do
	[ -x "$t" ] || continue
	case "${t##*/}" in *"$WB_ONLY"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" $WB_WRAP "$t" --tap
done
for t in ${WB_FUZZ_DIR:+"$WB_FUZZ_DIR"/fuzz-*}; do
	[ -x "$t" ] || continue
	case "${t##*/}" in *"$WB_ONLY"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" sh tests/fuzz/run.sh check "$t"
done
for t in tests/integration/test_*.py; do
	case "${t##*/}" in *"$WB_ONLY"*) ;; *) continue ;; esac
	run_one "$(basename "$t")" python3 "$t"
done

echo
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
