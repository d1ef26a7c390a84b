#!/bin/sh
# make bench: throughput, latency and memory of `wabridge serve`, and its delivery speed
# against plain IMAP APPEND, on a private Dovecot. A measurement, not a test: it prints
# each figure with its target and figure/target, marks a missed target MISSED, and exits
# 0 (1 only when the bench itself cannot run). About 1-3 minutes.
#
#   a. webhook intake: WB_BENCH_REQUESTS (20000) distinct signed webhooks over 32
#      keep-alive connections (load.c): accepted/s, p50, p99 latency.
#   c. memory: VmRSS of serve after warm-up (10%), half-way and at the end of (a).
#   b. delivery: WB_BENCH_MAILS (3000) webhooks into a fresh daemon, timed from the first
#      byte sent until all are 'delivered' in the state database; right after it,
#      append.c (libetpan APPEND over one connection, no flags, as wabridge calls it) of
#      the very mails it rendered, on the same Dovecot. The machine is noisy (about
#      ±20%): only ratios measured within one run mean anything.
#
# Environment: WABRIDGE (default ./wabridge), WB_BENCH_REQUESTS, WB_BENCH_MAILS,
# WB_BENCH_CONNS (32), WB_KEEP=1 keeps the work directory.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
: "${WABRIDGE:=$top/wabridge}"
: "${WB_BENCH_REQUESTS:=20000}"
: "${WB_BENCH_MAILS:=3000}"
: "${WB_BENCH_CONNS:=32}"
CC=${CC:-cc}
PNIDS=441880000100101,441880000200202,441880000300303
MAX_INTAKE_S=60   # run a stops sending after this long, whatever it reached
MAX_DELIVERY_S=90 # run b waits this long for the last delivery

say() { printf '%s\n' "$*"; }
die() { say "bench: $*" >&2; exit 1; }

[ -x "$WABRIDGE" ] || die "$WABRIDGE is missing: run make first"

work=$(mktemp -d /tmp/wbb.XXXXXX) || die "cannot create a work directory under /tmp"
chmod 711 "$work" # the private Dovecot runs as its own user and must get in
dc=$work/dc
serve_pid=

stop_serve() {
	[ -n "$serve_pid" ] || return 0
	kill -TERM "$serve_pid" 2>/dev/null
	i=0
	while kill -0 "$serve_pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	stop_tenths=$i
	if kill -0 "$serve_pid" 2>/dev/null; then
		kill -KILL "$serve_pid" 2>/dev/null
		stop_tenths=killed
	fi
	wait "$serve_pid" 2>/dev/null
	serve_pid=
}

cleanup() {
	stop_serve
	[ -f "$dc/dovecot.conf" ] && sh tests/lib/dovecot.sh stop "$dc" >/dev/null 2>&1
	if [ "${WB_KEEP:-}" = 1 ]; then say "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools --------------------------------------------------------------------------------

etpan_libs=$(pkg-config --libs libetpan | tr ' ' '\n' | grep -v '^-specs=' | tr '\n' ' ')
$CC -O2 -std=c17 -Wall -Wextra -o "$work/load" tests/bench/load.c \
	$(pkg-config --cflags --libs glib-2.0 sqlite3) || die "cannot build tests/bench/load.c"
$CC -O2 -std=c17 -Wall -Wextra -o "$work/append" tests/bench/append.c \
	$(pkg-config --cflags libetpan) $etpan_libs || die "cannot build tests/bench/append.c"

# The value of KEY in a key=value output file ("" when absent).
val() { sed -n "s/^$2=//p" "$1" | head -n 1; }
# Arithmetic and comparisons on decimals.
calc() { awk "BEGIN { x = $1; if (x == int(x)) printf \"%d\", x; else printf \"%.${2:-2}f\", x }"; }
is_true() { awk "BEGIN { exit !($1) }"; }
ratio() { # figure target
	if [ -z "$1" ] || is_true "$2 == 0"; then say "n/a"; else calc "$1 / $2"; fi
}
verdict() { # condition
	if is_true "$1"; then say ""; else say " MISSED"; fi
}

# ---- the private Dovecot and the configurations --------------------------------------------

sh tests/lib/dovecot.sh start "$dc" >"$work/dovecot.out" 2>&1 ||
	{ cat "$work/dovecot.out" >&2; die "the private Dovecot did not start"; }
imap_port=$(cat "$dc/port")

printf 'bench-app-secret-5be1c0\n' >"$work/app_secret"
printf 'bench-reply-secret-a93d27\n' >"$work/reply_secret"
printf 'secret\n' >"$work/imap.pass"
chmod 600 "$work/app_secret" "$work/reply_secret" "$work/imap.pass"

# write_config NAME: a fresh state in $work/NAME, 3 stations delivering over IMAP.
write_config() {
	d=$work/$1
	mkdir -p "$d"
	port=$("$work/load" --free-port) || die "no free port"
	cat >"$d/wabridge.conf" <<EOF
[bridge]
state = $d/state.db
domain = wa.police.test
timezone = Asia/Kolkata

[webhook]
listen = 127.0.0.1:$port
path = /webhook
app_secret_file = $work/app_secret

[whatsapp]
dry_run = true

[replies]
token_secret_file = $work/reply_secret

[imap]
url = imap://127.0.0.1:$imap_port
EOF
	for s in bhowanipore:BHP:441880000100101:bhowanipore \
		gariahat:GRH:441880000200202:jadavpur \
		parkstreet:PST:441880000300303:parkstreet; do
		IFS=: read -r key code pnid user <<EOF
$s
EOF
		cat >>"$d/wabridge.conf" <<EOF

[station:$key]
name = $key Police Station
code = $code
phone_number_id = $pnid
address = $key.ps@police.test
deliver = imap
imap_user = $user
imap_password_file = $work/imap.pass
folder = INBOX
EOF
	done
	"$WABRIDGE" -c "$d/wabridge.conf" check-config >"$d/check.out" 2>&1 ||
		{ cat "$d/check.out" >&2; die "the bench configuration is refused"; }
}

# start_serve NAME: serve in the background; returns once /healthz answers.
start_serve() {
	d=$work/$1
	port=$(sed -n 's/^listen = 127\.0\.0\.1://p' "$d/wabridge.conf")
	"$WABRIDGE" -q -c "$d/wabridge.conf" serve 2>"$d/serve.log" &
	serve_pid=$!
	i=0
	until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
		kill -0 "$serve_pid" 2>/dev/null ||
			{ cat "$d/serve.log" >&2; serve_pid=; die "wabridge serve exited at start"; }
		[ $i -lt 100 ] || die "wabridge serve does not answer on 127.0.0.1:$port"
		sleep 0.1
		i=$((i + 1))
	done
}

# Per-thread CPU ticks of a process: "tid name ticks" lines.
cpu_snapshot() {
	for t in /proc/"$1"/task/*; do
		name=$(cat "$t/comm" 2>/dev/null) || continue
		ticks=$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{ print $12 + $13 }')
		[ -n "$ticks" ] && say "${t##*/} $name $ticks"
	done
}
cpu_delta() { # before after seconds → "name[ ×n] X s (Y% of a core)" per thread name
	awk -v hz="$(getconf CLK_TCK)" -v secs="$3" '
		NR == FNR { before[$1] = $3; next }
		{ d = $3 - ($1 in before ? before[$1] : 0); sum[$2] += d; n[$2]++ }
		END {
			for (k in sum)
				printf "%s%s %.1f s (%d%% of a core)\n", k, (n[k] > 1 ? " x" n[k] : ""),
				       sum[k] / hz, (secs > 0 ? 100 * sum[k] / hz / secs : 0)
		}' "$1" "$2" | sort
}

extract_mails() { # NAME DIR [MAX]: the rendered mails of a state database, one file each
	mkdir -p "$2"
	sqlite3 "$work/$1/state.db" "SELECT writefile('$2/' || printf('%08d', id) || '.eml', mail)
		FROM messages WHERE mail IS NOT NULL ORDER BY id LIMIT ${3:--1}" >/dev/null
	ls "$2" | wc -l | tr -d ' '
}

run_append() { # DIR OUT
	sh tests/lib/dovecot.sh reset "$dc" >/dev/null 2>&1 || die "cannot reset the mailboxes"
	"$work/append" -p "$imap_port" -u bhowanipore -w "$work/imap.pass" "$1" >"$2" 2>&1 ||
		{ cat "$2" >&2; die "the IMAP APPEND baseline failed"; }
}

if [ "$WABRIDGE" = "$top/wabridge" ]; then
	rev="commit $(git rev-parse --short HEAD 2>/dev/null || say "?")"
	git diff --quiet HEAD -- src include 2>/dev/null || rev="$rev+dirty"
else
	rev=$WABRIDGE
fi
say "wabridge bench: $WABRIDGE ($rev), $(nproc) cores, Dovecot on 127.0.0.1:$imap_port"
say "noise on this kind of machine is about ±20%: compare ratios taken in one run"
say ""

# ---- a + c: intake and memory -------------------------------------------------------------

N=$WB_BENCH_REQUESTS
warm=$((N / 10))
half=$((N / 2))
rss_points=$(awk -v n="$N" 'BEGIN { for (i = 1; i <= 10; i++) printf "%s%d", (i > 1 ? "," : ""), n * i / 10 }')
write_config a
start_serve a
cpu_snapshot "$serve_pid" >"$work/cpu.before"
t0=$(date +%s.%N)
"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$N" -c "$WB_BENCH_CONNS" \
	-t "$MAX_INTAKE_S" -r intake -m "$serve_pid" -M "$rss_points" \
	-D "$work/a/state.db" -E 0 >"$work/a.out" 2>&1 || { cat "$work/a.out" >&2; die "load failed"; }
t1=$(date +%s.%N)
cpu_snapshot "$serve_pid" >"$work/cpu.after"
queued=$(sqlite3 "$work/a/state.db" "SELECT count(*) FROM messages WHERE state NOT IN
	('delivered','failed','unrouted')" 2>/dev/null)
stop_serve
a_stop=$stop_tenths

o=$work/a.out
rps=$(val "$o" ok_per_s); p50=$(val "$o" p50_ms); p90=$(val "$o" p90_ms)
p99=$(val "$o" p99_ms); pmax=$(val "$o" max_ms)
say "a. webhook intake: $(val "$o" sent) signed webhooks (body $(val "$o" body_bytes_avg) B on average), $(val "$o" connections) keep-alive connections, $(val "$o" elapsed_s) s"
say "   answers: $(val "$o" ok) x 200, $(val "$o" non200) other$(grep '^status_' "$o" | sed 's/^status_\([0-9]*\)=\(.*\)/, \2 x \1/' | tr -d '\n'), errors: $(val "$o" errors_conn) connection, $(val "$o" errors_proto) protocol, $(val "$o" errors_timeout) timeout"
[ "$(val "$o" sent)" -lt "$N" ] && say "   (stopped after ${MAX_INTAKE_S} s before all $N were sent)"
say "   latency p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max $pmax ms"
say "   latency histogram (answers at or under): $(for b in 1 2 5 10 20 50 100 200 500 1000; do printf '%sms:%s ' "$b" "$(val "$o" "lat_le_${b}ms")"; done)"
say "   mails delivered meanwhile: $(val "$o" delivered_at_send_end) (the worker runs alongside); still queued at the end: ${queued:-?}"
say "   serve stopped $( [ "$a_stop" = killed ] && say 'only by SIGKILL, 10 s' || say "$(calc "$a_stop / 10" 1) s") after SIGTERM"
say "   serve CPU by thread during the run ($(calc "$t1 - $t0" 1) s wall):"
cpu_delta "$work/cpu.before" "$work/cpu.after" "$(calc "$t1 - $t0" 3)" | sed 's/^/     /'
r_a1=$(ratio "$rps" 2000); r_a2=$(ratio "$p99" 20)
line_a1="webhooks/s: $(calc "$rps" 0) (target 2000, ratio $r_a1)$(verdict "$rps >= 2000")"
line_a2="p99 latency: $p99 ms (target < 20 ms, ratio $r_a2)$(verdict "$p99 < 20")"
line_a3="p50 latency: $p50 ms"
say "   $line_a1"
say "   $line_a3"
say "   $line_a2"
say ""

rss_w=$(val "$o" "rss_kb_at_$warm"); rss_h=$(val "$o" "rss_kb_at_$half"); rss_e=$(val "$o" "rss_kb_at_$N")
say "c. memory: serve VmRSS at start $(val "$o" rss_kb_start) kB, after $warm webhooks (warm-up) ${rss_w:-n/a} kB, after $half ${rss_h:-n/a} kB, after $N ${rss_e:-n/a} kB"
say "   every $warm webhooks (kB): $(grep '^rss_kb_at_' "$o" | sed 's/^.*=//' | tr '\n' ' ')"
if [ -n "$rss_w" ] && [ -n "$rss_e" ] && [ "$rss_w" -gt 0 ] && [ "$rss_e" -gt 0 ]; then
	growth=$(calc "100 * ($rss_e - $rss_w) / $rss_w" 1)
	line_c="RSS growth after warm-up: $growth% (target < 10%, ratio $(ratio "$growth" 10))$(verdict "$growth < 10")"
else
	line_c="RSS growth after warm-up: n/a (run a did not reach $N answers) MISSED"
fi
say "   $line_c"
say ""

# ---- b: delivery against plain APPEND, back to back -----------------------------------------

M=$WB_BENCH_MAILS
sh tests/lib/dovecot.sh reset "$dc" >/dev/null 2>&1 || die "cannot reset the mailboxes"
write_config b
start_serve b
"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$M" -c "$WB_BENCH_CONNS" \
	-t "$MAX_INTAKE_S" -r deliver -D "$work/b/state.db" -E "$M" -T "$MAX_DELIVERY_S" \
	>"$work/b.out" 2>&1 || { cat "$work/b.out" >&2; die "load failed"; }
stop_serve
o=$work/b.out
e2e=$(val "$o" e2e_per_s)
n2=$(extract_mails b "$work/mails")
run_append "$work/mails" "$work/b.append"
base=$(val "$work/b.append" append_per_s)

say "b. delivery: $M webhooks into a fresh daemon ($(val "$o" ok) answered 200 in $(val "$o" elapsed_s) s, $(calc "$(val "$o" ok_per_s)" 0)/s), then until all are delivered over IMAP"
say "   delivered $(val "$o" delivered) of $M in $(val "$o" e2e_s) s from the first byte sent$( [ "$(val "$o" delivery_complete)" = 1 ] || say " (gave up after ${MAX_DELIVERY_S} s; states: $(grep '^msg_state_' "$o" | sed 's/^msg_state_//' | tr '\n' ' '))")"
say "   then plain IMAP APPEND of the same $n2 mails ($(val "$work/b.append" mail_bytes_avg) B on average, as wabridge rendered them) with libetpan over one connection: $(val "$work/b.append" elapsed_s) s, p50 $(val "$work/b.append" p50_ms) ms, p99 $(val "$work/b.append" p99_ms) ms"
line_b1="end-to-end delivery: $(calc "$e2e" 0) mails/s"
line_b2="plain IMAP APPEND: $(calc "$base" 0) mails/s"
line_b3="delivery/APPEND: $(calc "$e2e / $base") (target 0.9, ratio $(calc "$e2e / $base / 0.9"))$(verdict "$e2e / $base >= 0.9")"
say "   $line_b1"
say "   $line_b2"
say "   $line_b3"
say ""

# ---- summary ------------------------------------------------------------------------------

warnings=$(cat "$work/a/serve.log" "$work/b/serve.log" | grep -c . )
say "summary ($rev):"
say "  $line_a1"
say "  $line_a3"
say "  $line_a2"
say "  $line_b1"
say "  $line_b2"
say "  $line_b3"
say "  $line_c"
if [ "$warnings" -gt 0 ]; then
	say "  serve logged $warnings warning lines (-q); the first ones:"
	cat "$work/a/serve.log" "$work/b/serve.log" | head -n 5 | sed 's/^/    /'
fi
exit 0
