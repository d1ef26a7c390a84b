#!/bin/sh
# make bench: throughput, latency and memory of `wabridge serve`, and its delivery speed
# against plain IMAP APPEND, on a private Dovecot. A measurement, not a test: it prints
# each figure with its target and figure/target, marks a missed target MISSED, and exits
# 0 (1 only when the bench itself cannot run). About 2 minutes with the current daemon,
# 3.5 with a slow one (every phase is bounded in time).
#
#   a. webhook intake: WB_BENCH_REQUESTS (20000) distinct signed webhooks over 32
#      keep-alive connections (load.c), closed loop: accepted/s, p50, p99 latency. Then
#      5 s at a steady WB_BENCH_RATE (2000)/s into a fresh daemon: p99 at that rate.
#   c. memory: VmRSS of serve in (a), which starts after a warm-up of 500 webhooks taken
#      through to delivery: after its first 10% (warm-up), half-way, at the end, and every
#      10% with RssAnon, to tell a leak from caches filling up; and in (b) as each tenth
#      of the mails is delivered, for the delivery path.
#   b. delivery: WB_BENCH_MAILS (3000) webhooks into a fresh daemon, timed from the first
#      byte sent until all are 'delivered' in the state database; right after it,
#      append.c (libetpan APPEND, no flags, as wabridge calls it) of the very mails it
#      rendered into the same mailboxes, one connection per mailbox, one mail at a time,
#      on the same Dovecot, twice (the better run is the baseline), with the same into one
#      mailbox over one connection, for reference, in between. The machine is noisy
#      (about ±20%): only ratios measured within one run mean anything.
#   d. under attack: a fresh daemon on the defaults (request_timeout raised so that the
#      attack stays open by construction) gets WB_BENCH_SLOW (5000) slow connections
#      that dribble header lines from 625 addresses, 32 connections at a time flooding
#      unsigned bodies of almost max_body, and 300 wrong-signature bodies held one byte
#      short of their end (load.c -A); meanwhile a signed POST and a GET /healthz from
#      127.0.0.1, one after the other for 10 s, are timed, and VmRSS is sampled.
#   e. the station's duty: WB_BENCH_COMPLAINTS (2000) complaints opened at once in one
#      station (Maildir, so the mail server is out of it), then `wabridge run` with the
#      clock pinned: once with nothing due, once at the half-way mark, when every
#      complaint's "due soon" duty fires.
#   f. the reply parser: build/bench-parse times wb_reply_parse on every reply of
#      tests/fixtures/replies and, when ../shared is there, of the public corpora
#      (target: under 2 ms a mail).
#   g. state size: WB_BENCH_PHOTOS (1000) image webhooks into a fresh daemon, each its own
#      media id with 100-200 kB of random bytes served by the fake Graph API (photos.py
#      runs tests/lib/fakegraph.py and sends them), delivered into Maildirs;
#      then WB_BENCH_TEXTS (10000) of load.c's text webhooks the same way. After each, serve
#      stops, one more `wabridge run` gives freed space back (wb_store_give_back), the WAL
#      is checkpointed away, and the state database is measured: its file, its pages in
#      use (live), the raw webhook bodies (sum of bodies.size), the media, the rendered
#      mails it still keeps; growth per 10,000 messages of each kind. Targets: the
#      database must not grow with media (its size at most 5% of the media received),
#      and stay within a small multiple of the raw bodies: 10x for photos, whose bodies
#      are small (about 570 B) next to what every message costs (its record, its
#      delivery record and digest, two journal entries: about 3.5 kB), 4x for texts.
#      About 40 s.
#   h. media memory: a fresh daemon delivering over IMAP into the private Dovecot, after a
#      warm-up photo taken through the whole path, gets a 100 MiB document and four
#      32 MiB videos (WB_BENCH_MEDIA), one webhook each, one right after the other, from
#      the fake Graph API (media.py runs it, sends them and samples serve every 10 ms),
#      and fetches, renders and delivers them. Figure: the growth of serve's VmHWM (the
#      kernel's high-water mark of its resident size) from before the webhooks to after
#      the last delivery, against the media received. Target: at most 25% of the media
#      (the old path held each medium, its mail and copies: several times the media).
#      Also shown: the peaks of RssAnon and RssFile as sampled. About 30 s.
#   i. many stations: WB_BENCH_STATION_MAILS (3000) webhooks into a fresh daemon whose
#      configuration has 1,000 stations, each with its own mailbox login (users st0001 …
#      st1000 added to the private Dovecot), the mails spread at random over all of them;
#      then the same number into a fresh daemon of the usual 3 stations. Both with the
#      default [imap] max_connections (16), timed like b from the first byte sent until
#      all are delivered. The cost ratio is mails/s over 1,000 stations ÷ mails/s over 3
#      (target >= 0.5: the cost grows with the mail, not with the stations); the logins
#      each took (/metrics) and the most sessions Dovecot held at once are printed beside.
#      Also timed: check-config and serve's start-up (until /healthz answers) on the
#      1,000 stations, against the 3.
#   j. intake on PostgreSQL: a private cluster (tests/lib/postgres.sh; the section says it
#      cannot run, and why, when PostgreSQL is not installed) with fsync and
#      synchronous_commit on, as SQLite's synchronous=FULL. a's closed loop (after a
#      warm-up of 500 webhooks taken through to delivery) and a's steady rate, each into a
#      fresh database: with one `serve`, then with two on one database (each its own
#      listener and node), load.c's connections split between them (-p P1,P2: one set of
#      latencies, p99 of all requests). Beside SQLite's figures of a (or, when a is not in
#      the run, the same measured here), as a table with the ratios PostgreSQL one bridge /
#      SQLite and two bridges / one. Targets: one bridge >= 0.5 x SQLite's intake; two
#      bridges >= one (on 2 cores they share the CPUs with each other, PostgreSQL and the
#      load generator, and every write holds one advisory lock); p99 at the steady rate
#      < 20 ms, as on SQLite. Then WB_BENCH_PG_MAILS (1000) webhooks into two fresh
#      bridges until all are delivered over IMAP, then as many more: delivered = answered
#      200 = distinct wamids = mails in the emptied mailboxes; the database's growth for
#      a message (the first thousand, then the next after a VACUUM) and for a status
#      webhook (three times as many, load -X). About 3 minutes.
#
# Environment: WABRIDGE (default ./wabridge), WB_BENCH_REQUESTS, WB_BENCH_MAILS,
# WB_BENCH_CONNS (32), WB_BENCH_RATE, WB_BENCH_SLOW, WB_BENCH_COMPLAINTS, WB_BENCH_PHOTOS,
# WB_BENCH_TEXTS, WB_BENCH_MEDIA (KIND:BYTES[xN],...), WB_BENCH_PG_MAILS, WB_BENCH_STATION_MAILS, WB_KEEP=1 keeps the work directory. WB_BENCH_ONLY=LETTERS runs only
# those sections (e.g. WB_BENCH_ONLY=g, or =eg; a and c are one run, either letter).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
: "${WABRIDGE:=$top/wabridge}"
: "${WB_BENCH_REQUESTS:=20000}"
: "${WB_BENCH_MAILS:=3000}"
: "${WB_BENCH_CONNS:=32}"
: "${WB_BENCH_RATE:=2000}"
: "${WB_BENCH_SLOW:=5000}"
: "${WB_BENCH_COMPLAINTS:=2000}"
: "${WB_BENCH_PHOTOS:=1000}"
: "${WB_BENCH_TEXTS:=10000}"
: "${WB_BENCH_MEDIA:=document:104857600,video:33554432x4}"
: "${WB_BENCH_PG_MAILS:=1000}"
: "${WB_BENCH_STATION_MAILS:=3000}"
: "${WB_BENCH_ONLY:=}"
CC=${CC:-cc}
# key:code:phone_number_id:IMAP user of tests/lib/dovecot.sh
STATIONS="bhowanipore:BHP:441880000100101:bhowanipore gariahat:GRH:441880000200202:jadavpur
parkstreet:PST:441880000300303:parkstreet"
PNIDS=$(for s in $STATIONS; do printf '%s\n' "$s"; done | cut -d: -f3 | paste -sd, -)
MAX_INTAKE_S=60   # run a stops sending after this long, whatever it reached
MAX_DELIVERY_S=90 # run b waits this long for the last delivery
ATTACK_S=10       # run d times Meta's requests this long

say() { printf '%s\n' "$*"; }
die() { say "bench: $*" >&2; exit 1; }
# want LETTER: does this run include that section (all of them when WB_BENCH_ONLY is empty)?
want() {
	case $WB_BENCH_ONLY in
	"" | *"$1"*) return 0 ;;
	*) return 1 ;;
	esac
}

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
	[ -f "$work/dch/run/master.pid" ] && sh tests/lib/dovecot.sh stop "$work/dch" >/dev/null 2>&1
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
growth() { # from to: the growth in percent, "" when either is unknown
	if [ -n "$1" ] && [ -n "$2" ] && is_true "$1 > 0 && $2 > 0"; then
		calc "100 * ($2 - $1) / $1" 1 | sed 's/^-0\.0$/0.0/'
	fi
}
mib() { calc "$1 / 1048576" 1; }
verdict() { # condition
	if is_true "$1"; then say ""; else say " MISSED"; fi
}

# ---- the private Dovecot and the configurations --------------------------------------------

sh tests/lib/dovecot.sh start "$dc" >"$work/dovecot.out" 2>&1 ||
	{ cat "$work/dovecot.out" >&2; die "the private Dovecot did not start"; }
imap_port=$(cat "$dc/port")

# Secret files are created 0600: wabridge refuses them readable by group or others.
(
	umask 077
	printf 'bench-app-secret-5be1c0\n' >"$work/app_secret"
	printf 'bench-reply-secret-a93d27\n' >"$work/reply_secret"
	printf 'secret\n' >"$work/imap.pass" # every user of tests/lib/dovecot.sh
)

# write_config NAME [maildir] [STATION_LIST]: a fresh state in $work/NAME, 3 stations
# (or those of STATION_LIST, in the form of $STATIONS) delivering over IMAP, or into
# Maildirs under $work/NAME/mail.
write_config() {
	d=$work/$1
	mkdir -p "$d"
	port=$("$work/load" --free-port) || die "no free port"
	cat >"$d/wabridge.conf" <<EOF
[bridge]
state = $d/state.db
domain = wa.police.test
timezone = Asia/Kolkata
# The station's duty adds mails of its own (the acknowledgement's record in each thread)
# and sends; the figures here are of the citizens' messages, so it is off.
send_ack = false
sla_hours = 0
signature_reminder_hours = 0
digest_hour = -1

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
	for s in ${3:-$STATIONS}; do
		IFS=: read -r key code pnid user <<EOF
$s
EOF
		deliver=imap
		[ "${2:-}" = maildir ] && deliver=maildir:$d/mail/$key
		cat >>"$d/wabridge.conf" <<EOF

[station:$key]
name = $key Police Station
code = $code
phone_number_id = $pnid
address = $key.ps@police.test
deliver = $deliver
imap_user = $user
imap_password_file = $work/imap.pass
folder = INBOX
EOF
	done
	"$WABRIDGE" -c "$d/wabridge.conf" check-config >"$d/check.out" 2>&1 ||
		{ cat "$d/check.out" >&2; die "the bench configuration is refused"; }
}

# start_serve NAME: serve in the background; returns once /healthz answers, with
# start_ms set to the time from its start until then.
start_serve() {
	d=$work/$1
	port=$(sed -n 's/^listen = 127\.0\.0\.1://p' "$d/wabridge.conf")
	t0=$(date +%s%3N)
	"$WABRIDGE" -q -c "$d/wabridge.conf" serve 2>"$d/serve.log" &
	serve_pid=$!
	i=0
	until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz"; do
		kill -0 "$serve_pid" 2>/dev/null ||
			{ cat "$d/serve.log" >&2; serve_pid=; die "wabridge serve exited at start"; }
		[ $i -lt 3000 ] || die "wabridge serve does not answer on 127.0.0.1:$port"
		sleep 0.01
		i=$((i + 1))
	done
	start_ms=$(($(date +%s%3N) - t0))
}

# use_fake_graph NAME SCRIPT: once SCRIPT (just started in the background as $py_pid,
# its errors in $work/NAME.err) has its fake Graph API up, point $work/NAME's
# configuration at it.
use_fake_graph() {
	i=0
	until [ -s "$work/$1/graph.port" ]; do
		kill -0 "$py_pid" 2>/dev/null || { cat "$work/$1.err" >&2; die "$2 exited at start"; }
		[ $i -lt 100 ] || die "$2 did not start the fake Graph API"
		sleep 0.1
		i=$((i + 1))
	done
	sed -i "s|^\[whatsapp\]\$|&\napi_base = http://127.0.0.1:$(cat "$work/$1/graph.port")/v26.0\naccess_token_file = $work/graph_token|" \
		"$work/$1/wabridge.conf"
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
				if (sum[k] > 0)
					printf "%s%s %.1f s (%d%% of a core)\n", k, (n[k] > 1 ? " x" n[k] : ""),
					       sum[k] / hz, (secs > 0 ? 100 * sum[k] / hz / secs : 0)
		}' "$1" "$2" | sort
}

# extract_mails DIR: the mails run b delivered, read back from the private Dovecot's
# Maildirs (the state database lets a mail's bytes go once it is delivered), as
# DIR/NNNNNNNN.USER.eml in the order they were delivered, with the CRLF line ends
# wabridge appended them with.
extract_mails() {
	mkdir -p "$1"
	users=$(for s in $STATIONS; do printf '%s\n' "$s"; done | cut -d: -f4)
	python3 - "$dc/mail" "$1" $users <<'PY' || return 1
import os, re, sys
top, out, users = sys.argv[1], sys.argv[2], sys.argv[3:]
# In the order they were delivered across the mailboxes, as wabridge appended them:
# Dovecot names a Maildir file "SECONDS.MMICROSECONDSP…".
files = []
for user in users:
    for sub in ("cur", "new"):
        d = os.path.join(top, user, "Maildir", sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            m = re.match(r"(\d+)\.M(\d+)P", name)
            key = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
            files.append((key, name, user, os.path.join(d, name)))
for n, (_, _, user, path) in enumerate(sorted(files), 1):
    with open(path, "rb") as f:
        data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(out, "%08d.%s.eml" % (n, user)), "wb") as f:
        f.write(data)
PY
	ls "$1" | wc -l | tr -d ' '
}

run_append() { # DIR OUT -U | -u USER
	dir=$1 out=$2
	shift 2
	sh tests/lib/dovecot.sh reset "$dc" >/dev/null 2>&1 || die "cannot reset the mailboxes"
	"$work/append" -p "$imap_port" -w "$work/imap.pass" "$@" "$dir" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "the IMAP APPEND baseline failed"; }
}

if [ "$WABRIDGE" = "$top/wabridge" ]; then
	rev="commit $(git rev-parse --short HEAD 2>/dev/null || say "?")"
	git diff --quiet HEAD -- src include 2>/dev/null || rev="$rev+dirty"
else
	rev=$WABRIDGE
fi
say "wabridge bench: $WABRIDGE ($rev), $(nproc) cores, Dovecot on 127.0.0.1:$imap_port"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); noise on this kind of machine is about ±20%: compare ratios taken in one run"
say ""

# ---- a + c: intake and memory -------------------------------------------------------------
if want a || want c; then
	N=$WB_BENCH_REQUESTS
	warm=$((N / 10))
	half=$((N / 2))
	rss_points=$(awk -v n="$N" 'BEGIN { for (i = 1; i <= 10; i++) printf "%s%d", (i > 1 ? "," : ""), n * i / 10 }')
	W0=500
	write_config a
	start_serve a
	# Warm-up: a few hundred webhooks through the whole path (intake, expansion, rendering,
	# IMAP delivery), so that memory measured after it is not code and caches paging in.
	"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$W0" -c "$WB_BENCH_CONNS" \
		-t "$MAX_INTAKE_S" -r warmup -m "$serve_pid" -D "$work/a/state.db" -E "$W0" -T 30 \
		>"$work/a0.out" 2>&1 || { cat "$work/a0.out" >&2; die "load failed"; }
	cpu_snapshot "$serve_pid" >"$work/cpu.before"
	t0=$(date +%s.%N)
	"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$N" -c "$WB_BENCH_CONNS" \
		-t "$MAX_INTAKE_S" -r intake -m "$serve_pid" -M "$rss_points" \
		-D "$work/a/state.db" -E 0 >"$work/a.out" 2>&1 || { cat "$work/a.out" >&2; die "load failed"; }
	t1=$(date +%s.%N)
	cpu_snapshot "$serve_pid" >"$work/cpu.after"
	queued=$(sqlite3 -separator ' ' "$work/a/state.db" "SELECT
		(SELECT count(*) FROM bodies WHERE state = 'new'),
		(SELECT count(*) FROM messages WHERE state NOT IN ('delivered','failed','unrouted'))" 2>/dev/null)
	stop_serve
	a_stop=$stop_tenths

	o=$work/a.out
	rps=$(val "$o" ok_per_s); p50=$(val "$o" p50_ms); p90=$(val "$o" p90_ms)
	p99=$(val "$o" p99_ms); pmax=$(val "$o" max_ms)
	say "a. webhook intake, after a warm-up of $W0 webhooks taken through to delivery ($(val "$work/a0.out" delivered) delivered in $(val "$work/a0.out" e2e_s) s):"
	say "   $(val "$o" sent) signed webhooks (body $(val "$o" body_bytes_avg) B on average), $(val "$o" connections) keep-alive connections, $(val "$o" elapsed_s) s"
	say "   answers: $(val "$o" ok) x 200, $(val "$o" non200) other$(grep '^status_' "$o" | sed 's/^status_\([0-9]*\)=\(.*\)/, \2 x \1/' | tr -d '\n'), errors: $(val "$o" errors_conn) connection, $(val "$o" errors_proto) protocol, $(val "$o" errors_timeout) timeout"
	[ "$(val "$o" sent)" -lt "$N" ] && say "   (stopped after ${MAX_INTAKE_S} s before all $N were sent)"
	say "   latency mean $(val "$o" mean_ms) ms (closed loop: = connections / rate), p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max $pmax ms"
	say "   latency histogram (answers at or under): $(for b in 1 2 5 10 20 50 100 200 500 1000; do printf '%sms:%s ' "$b" "$(val "$o" "lat_le_${b}ms")"; done)"
	say "   mails delivered meanwhile: $(val "$o" delivered_at_send_end) (the worker runs alongside); left at the end: ${queued%% *} bodies not yet expanded, ${queued#* } messages not yet delivered"
	say "   the load generator itself used $(val "$o" client_cpu_s) s of CPU"
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

	# The same at a steady WB_BENCH_RATE (2000)/s, as Meta sends (open loop), into a fresh daemon: the
	# latency at the target rate, counted from when each webhook was due. Sending stops after
	# 10 s, so that a daemon far below the rate does not hold the bench up.
	P=$((WB_BENCH_RATE * 5))
	write_config p
	start_serve p
	"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$P" -c "$WB_BENCH_CONNS" \
		-t 10 -r paced -R "$WB_BENCH_RATE" >"$work/p.out" 2>&1 ||
		{ cat "$work/p.out" >&2; die "load failed"; }
	stop_serve
	op=$work/p.out
	pp99=$(val "$op" p99_ms)
	say "   at a steady $WB_BENCH_RATE/s instead (fresh daemon, $P webhooks, latency from when each was due): answered $(calc "$(val "$op" ok_per_s)" 0)/s, $(val "$op" non200) not 200, p50 $(val "$op" p50_ms) ms, p90 $(val "$op" p90_ms) ms, p99 $pp99 ms, max $(val "$op" max_ms) ms; $(val "$op" late_5ms) waited over 5 ms for a free connection"
	line_a4="p99 latency at a steady $WB_BENCH_RATE/s: $pp99 ms (target < 20 ms, ratio $(ratio "$pp99" 20))$(verdict "$pp99 < 20")"
	say "   $line_a4"
	say ""

	rss_w=$(val "$o" "rss_kb_at_$warm"); rss_h=$(val "$o" "rss_kb_at_$half"); rss_e=$(val "$o" "rss_kb_at_$N")
	say "c. memory: serve VmRSS at start $(val "$work/a0.out" rss_kb_start) kB, after the $W0 warm-up webhooks were delivered $(val "$o" rss_kb_start) kB; in run a, after the first $warm (warm-up) ${rss_w:-n/a} kB, after $half ${rss_h:-n/a} kB, after $N ${rss_e:-n/a} kB"
	say "   VmRSS every $warm webhooks (kB): $(grep '^rss_kb_at_' "$o" | sed 's/^.*=//' | tr '\n' ' ')"
	say "   of which RssAnon (heap, SQLite page caches included; the rest is mostly code paged in) (kB): $(val "$work/a0.out" anon_kb_start) at start, $(val "$o" anon_kb_start) after the warm-up, then $(grep '^anon_kb_at_' "$o" | sed 's/^.*=//' | tr '\n' ' ')"
	g_rss=$(growth "$rss_h" "$rss_e")
	g_anon=$(growth "$(val "$o" "anon_kb_at_$half")" "$(val "$o" "anon_kb_at_$N")")
	[ -n "$g_rss" ] && say "   growth over the second half ($half to $N): $g_rss% VmRSS, ${g_anon:-n/a}% RssAnon"
	g=$(growth "$rss_w" "$rss_e")
	if [ -n "$g" ]; then
		line_c="RSS growth after warm-up, taking webhooks: $g% (target < 10%, ratio $(ratio "$g" 10))$(verdict "$g < 10")"
	else
		line_c="RSS growth after warm-up, taking webhooks: n/a (run a did not reach $N answers) MISSED"
	fi
	say "   $line_c"
	say "   (the delivery path's memory is measured in b)"
	say ""
fi

# ---- b: delivery against plain APPEND, back to back -----------------------------------------
if want b; then
	M=$WB_BENCH_MAILS
	sh tests/lib/dovecot.sh reset "$dc" >/dev/null 2>&1 || die "cannot reset the mailboxes"
	write_config b
	start_serve b
	"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$M" -c "$WB_BENCH_CONNS" \
		-t "$MAX_INTAKE_S" -r deliver -m "$serve_pid" -D "$work/b/state.db" -E "$M" \
		-T "$MAX_DELIVERY_S" \
		>"$work/b.out" 2>&1 || { cat "$work/b.out" >&2; die "load failed"; }
	stop_serve
	o=$work/b.out
	e2e=$(val "$o" e2e_per_s)
	n2=$(extract_mails "$work/mails")
	run_append "$work/mails" "$work/b.append" -U
	run_append "$work/mails" "$work/b.append1" -u bhowanipore
	run_append "$work/mails" "$work/b.append2" -U
	# Noise only ever slows a run down: the better of the two is the baseline.
	u1=$(val "$work/b.append" append_per_s); u2=$(val "$work/b.append2" append_per_s)
	if is_true "${u1:-0} >= ${u2:-0}"; then base=$u1; else base=$u2; fi
	base1=$(val "$work/b.append1" append_per_s)

	say "b. delivery: $M webhooks into a fresh daemon ($(val "$o" ok) answered 200 in $(val "$o" elapsed_s) s, $(calc "$(val "$o" ok_per_s)" 0)/s), then until all are delivered over IMAP"
	say "   delivered $(val "$o" delivered) of $M in $(val "$o" e2e_s) s from the first byte sent$( [ "$(val "$o" delivery_complete)" = 1 ] || say " (gave up after ${MAX_DELIVERY_S} s; states: $(grep '^msg_state_' "$o" | sed 's/^msg_state_//' | tr '\n' ' '))")"
	say "   then plain IMAP APPEND (libetpan, no flags, one mail at a time) of the same $n2 mails ($(val "$work/b.append" mail_bytes_avg) B on average, as wabridge rendered them):"
	for f in b.append b.append2; do
		say "     into the same $(val "$work/$f" connections) mailboxes, one connection each, as wabridge's worker does: $(calc "$(val "$work/$f" append_per_s)" 0)/s, $(val "$work/$f" elapsed_s) s, p50 $(val "$work/$f" p50_ms) ms, p99 $(val "$work/$f" p99_ms) ms"
	done
	say "     all into one mailbox over one connection: $(calc "${base1:-0}" 0)/s, $(val "$work/b.append1" elapsed_s) s, p50 $(val "$work/b.append1" p50_ms) ms, p99 $(val "$work/b.append1" p99_ms) ms"
	[ "$(val "$o" delivery_complete)" = 1 ] && partial= || partial=" (not all delivered: the rate of those that were)"
	line_b1="end-to-end delivery: $(calc "${e2e:-0}" 0) mails/s$partial"
	line_b2="plain IMAP APPEND: $(calc "${base:-0}" 0) mails/s (same mails, same mailboxes; the better of two runs)"
	if [ -n "$e2e" ] && [ -n "$base" ] && is_true "$base > 0"; then
		ok_b="$e2e / $base >= 0.9"
		[ -z "$partial" ] || ok_b=0
		line_b3="delivery/APPEND: $(calc "$e2e / $base") (target 0.9, ratio $(calc "$e2e / $base / 0.9"))$(verdict "$ok_b")"
	else
		line_b3="delivery/APPEND: n/a MISSED"
	fi
	say "   $line_b1"
	say "   $line_b2"
	say "   $line_b3"
	d1=$((M / 10))
	r1=$(val "$o" "rss_kb_delivered_$d1"); r2=$(val "$o" "rss_kb_delivered_$M")
	say "   memory: serve VmRSS as each tenth was delivered (kB): $(grep '^rss_kb_delivered_' "$o" | sed 's/^.*=//' | tr '\n' ' ')"
	say "   of which RssAnon (kB): $(grep '^anon_kb_delivered_' "$o" | sed 's/^.*=//' | tr '\n' ' ')"
	g=$(growth "$r1" "$r2")
	if [ -n "$g" ]; then
		line_c2="RSS growth after warm-up, delivering ($d1 to $M mails): $g% (target < 10%, ratio $(ratio "$g" 10))$(verdict "$g < 10")"
	else
		line_c2="RSS growth after warm-up, delivering: n/a (not all delivered) MISSED"
	fi
	say "   $line_c2"
	say ""
fi

# ---- d: Meta's requests under attack ---------------------------------------------------------
if want d; then
	write_config d
	# Defaults, but the slow connections must outlast the measurement whatever its speed.
	sed -i 's|^path = /webhook$|&\nrequest_timeout = 300|' "$work/d/wabridge.conf"
	start_serve d
	"$work/load" -A -B $((4 * 1024 * 1024)) -p "$port" -s "$work/app_secret" -P "$PNIDS" -n 2000 \
		-t "$ATTACK_S" -S "$WB_BENCH_SLOW" -m "$serve_pid" >"$work/d.out" 2>&1 ||
		{ cat "$work/d.out" >&2; die "load failed"; }
	stop_serve
	o=$work/d.out
	say "d. under attack: $(val "$o" attack_slow) slow connections ($(val "$o" attack_slow_open_at_end) still open at the end), $(val "$o" attack_flood_posts) unsigned POSTs of almost 4 MiB ($(val "$o" attack_flood_401) answered 401 from their headers), $(val "$o" attack_held) wrong-signature bodies held ($(val "$o" attack_held_holding) taken into body_memory, $(( $(val "$o" attack_held_503) + $(val "$o" attack_held_other) )) refused at once)"
	say "   meanwhile from 127.0.0.1, each on a new connection: $(val "$o" post_n) signed POSTs ($(val "$o" post_ok) answered 200), p50 $(val "$o" post_p50_ms) ms, p99 $(val "$o" post_p99_ms) ms, max $(val "$o" post_max_ms) ms; $(val "$o" healthz_n) GET /healthz ($(val "$o" healthz_ok) answered 200), p50 $(val "$o" healthz_p50_ms) ms, p99 $(val "$o" healthz_p99_ms) ms, max $(val "$o" healthz_max_ms) ms"
	say "   serve VmRSS: $(val "$o" rss_kb_start) kB before the attack, at most $(val "$o" rss_kb_max) kB during it"
	pm=$(val "$o" post_max_ms); hm=$(val "$o" healthz_max_ms); rss_d=$(calc "$(val "$o" rss_kb_max) / 1024" 1)
	all_ok="$(val "$o" post_ok) == $(val "$o" post_n) && $(val "$o" healthz_ok) == $(val "$o" healthz_n) && $(val "$o" post_n) > 0"
	line_d1="signed POST under attack: max $pm ms (target < 1000 ms, ratio $(ratio "$pm" 1000))$(verdict "$pm < 1000 && $all_ok")"
	line_d2="/healthz under attack: max $hm ms (target < 1000 ms, ratio $(ratio "$hm" 1000))$(verdict "$hm < 1000 && $all_ok")"
	line_d3="serve VmRSS under attack: $rss_d MB (target < 256 MB, ratio $(ratio "$rss_d" 256))$(verdict "$rss_d < 256")"
	say "   $line_d1"
	say "   $line_d2"
	say "   $line_d3"
	say ""
fi

# ---- e: the station's duty over many open complaints ----------------------------------------
if want e; then
	E=$WB_BENCH_COMPLAINTS
	d=$work/e
	mkdir -p "$d"
	cat >"$d/wabridge.conf" <<EOF
[bridge]
state = $d/state.db
domain = wa.police.test
send_ack = false
digest_hour = -1
signature_reminder_hours = 0

[whatsapp]
dry_run = true

[replies]
token_secret_file = $work/reply_secret

[station:bhowanipore]
name = Bhowanipore Police Station
code = BHP
phone_number_id = 441880000100101
deliver = maildir:$d/mail
EOF
	T0=1796536800
	i=0
	{
		printf '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"919831200101","phone_number_id":"441880000100101"},"contacts":[],"messages":['
		while [ $i -lt "$E" ]; do
			[ $i -gt 0 ] && printf ','
			printf '{"from":"9198%08d","id":"wamid.BENCHDUTY%06d","timestamp":"%d","type":"text","text":{"body":"My phone was stolen near the market, complaint %d"}}' \
				"$i" "$i" "$T0" "$i"
			i=$((i + 1))
		done
		printf ']}}]}]}'
	} >"$d/body.json"
	duty_run() { # seconds after T0: the run's wall time in ms
		t0=$(date +%s%N)
		WABRIDGE_NOW=$((T0 + $1)) "$WABRIDGE" -q -c "$d/wabridge.conf" run >>"$d/run.log" 2>&1
		t1=$(date +%s%N)
		calc "($t1 - $t0) / 1000000" 0
	}
	WABRIDGE_NOW=$T0 "$WABRIDGE" -q -c "$d/wabridge.conf" ingest <"$d/body.json" >"$d/ingest.log" 2>&1 ||
		die "the duty bench's body was refused: $(cat "$d/ingest.log")"
	e_first=$(duty_run 60)
	e_idle=$(duty_run 600)
	e_fire=$(duty_run $((12 * 3600 + 1)))
	fired=$(sqlite3 "$d/state.db" "SELECT count(*) FROM duties WHERE kind = 'due_soon'" 2>/dev/null || echo 0)
	e_rate=$(calc "$fired * 1000 / ($e_fire > 0 ? $e_fire : 1)" 0)
	say "e. the station's duty: $E open complaints of one station (Maildir, clock 24 h): the first run (deliveries, serious-word scan) $e_first ms; a run with nothing due $e_idle ms; the run at the half-way mark fired $fired due-soon duties (a note rendered and queued each) in $e_fire ms"
	line_e1="duties fired by one run: $e_rate/s (target >= 100/s, so that $E complaints due at once fire within a cron minute; ratio $(ratio "$e_rate" 100))$(verdict "$e_rate >= 100 && $fired == $E")"
	line_e2="a run with nothing due over $E open complaints: $e_idle ms (target < 1000 ms, ratio $(ratio "$e_idle" 1000))$(verdict "$e_idle < 1000")"
	say "   $line_e1"
	say "   $line_e2"
	say ""
fi

# ---- f. the reply parser ------------------------------------------------------------------
if want f; then
	# Each mail's best of 20 parses (wb_reply_parse, as `reply` and `parse-reply` call it):
	# the public corpora when ../shared holds them (the target: under 2 ms a mail), and the
	# project's own replies, whose 4,000-line history and 580 kB line are stress cases.
	corpora="$top/../shared/corpora/replies"
	"$top/build/bench-parse" "$top/tests/fixtures/replies" >"$work/f-own.out" 2>&1 ||
		die "build/bench-parse failed: $(cat "$work/f-own.out")"
	say "f. the reply parser, each mail's best of 20 parses:"
	say "   the project's replies: $(val "$work/f-own.out" mails) mails, mean $(val "$work/f-own.out" mean_us) µs, max $(val "$work/f-own.out" max_us) µs ($(basename "$(val "$work/f-own.out" slowest)"))"
	if [ -d "$corpora" ]; then
		"$top/build/bench-parse" "$corpora" >"$work/f-corp.out" 2>&1 ||
			die "build/bench-parse failed on the corpora: $(cat "$work/f-corp.out")"
		f_mean=$(val "$work/f-corp.out" mean_us)
		f_max=$(val "$work/f-corp.out" max_us)
		say "   the public corpora: $(val "$work/f-corp.out" mails) mails, mean $f_mean µs, p99 $(val "$work/f-corp.out" p99_us) µs, max $f_max µs"
		line_f="reply parsing on the corpora: max $f_max µs a mail (target < 2000 µs, ratio $(ratio "$f_max" 2000))$(verdict "$f_max < 2000")"
	else
		line_f="reply parsing: no public corpora at $corpora; the project's replies took at most $(val "$work/f-own.out" max_us) µs a mail"
	fi
	say "   $line_f"
	say ""
fi

# ---- g. state size ------------------------------------------------------------------------
if want g; then
	# What the state database costs on disk, measured as a file after `wabridge run` has given
	# freed space back (wb_store_give_back) and the WAL is checkpointed away. Each run's
	# growth counts from its own empty database (measured once serve has created it).
	GP=$WB_BENCH_PHOTOS
	GT=$WB_BENCH_TEXTS
	# db_size NAME: "FILE LIVE" in bytes for $work/NAME/state.db: the file (the -wal, if any,
	# included) once checkpointed, and its pages in use (page_count less freelist_count).
	db_size() {
		sqlite3 "$work/$1/state.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null 2>&1
		f_main=$(stat -c %s "$work/$1/state.db" 2>/dev/null || echo 0)
		f_wal=$(stat -c %s "$work/$1/state.db-wal" 2>/dev/null || echo 0)
		f_live=$(sqlite3 "$work/$1/state.db" "SELECT (p.page_count - f.freelist_count) *
			s.page_size FROM pragma_page_count() p, pragma_freelist_count() f,
			pragma_page_size() s" 2>/dev/null || echo 0)
		say "$((f_main + f_wal)) $f_live"
	}
	# give_back NAME: one more `run`, which ends by giving freed space back to the disk.
	give_back() {
		"$WABRIDGE" -q -c "$work/$1/wabridge.conf" run >>"$work/$1/run.log" 2>&1
	}

	# 1. Photos: one image webhook each, its media fetched from the fake Graph API (photos.py
	# runs it and sends the webhooks), rendered into the mail and delivered into Maildirs
	# (the state kept is the same whatever the back end; Maildir keeps the mail server's
	# speed out of the time this takes).
	(umask 077; printf 'EAAbench-graph-token-4c1d\n' >"$work/graph_token")
	write_config gp maildir
	python3 tests/bench/photos.py --port "$port" --secret "$work/app_secret" \
		--graph-token "$work/graph_token" --graph-port-file "$work/gp/graph.port" \
		--db "$work/gp/state.db" --pnids "$PNIDS" -n "$GP" --timeout "$MAX_DELIVERY_S" \
		>"$work/gp.out" 2>"$work/gp.err" &
	py_pid=$!
	use_fake_graph gp photos.py
	start_serve gp
	set -- $(db_size gp)
	gp_empty=$1
	touch "$work/gp/graph.port.go"
	wait "$py_pid" || { cat "$work/gp.err" >&2; die "photos.py failed"; }
	stop_serve
	give_back gp
	o=$work/gp.out
	set -- $(db_size gp)
	gp_file=$1 gp_live=$2
	gp_bodies=$(sqlite3 "$work/gp/state.db" "SELECT coalesce(sum(size), 0) FROM bodies")
	gp_mail=$(sqlite3 "$work/gp/state.db" "SELECT coalesce(sum(length(mail)), 0) FROM rendered")
	gp_media=$(val "$o" media_bytes)

	# 2. Texts: load.c's text webhooks (1-2 kB of Bengali text each), the same way.
	write_config gt maildir
	start_serve gt
	set -- $(db_size gt)
	gt_empty=$1
	"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$GT" -c "$WB_BENCH_CONNS" \
		-t "$MAX_INTAKE_S" -r size -D "$work/gt/state.db" -E "$GT" -T "$MAX_DELIVERY_S" \
		>"$work/gt.out" 2>&1 || { cat "$work/gt.out" >&2; die "load failed"; }
	stop_serve
	give_back gt
	set -- $(db_size gt)
	gt_file=$1 gt_live=$2
	gt_bodies=$(sqlite3 "$work/gt/state.db" "SELECT coalesce(sum(size), 0) FROM bodies")
	gt_mail=$(sqlite3 "$work/gt/state.db" "SELECT coalesce(sum(length(mail)), 0) FROM rendered")

	say "g. state size, after a last \`wabridge run\` (which gives freed space back) and with the WAL checkpointed:"
	say "   photos: $(val "$o" delivered) of $GP image webhooks delivered$( [ "$(val "$o" complete)" = 1 ] || say " (gave up after ${MAX_DELIVERY_S} s)") in $(val "$o" delivery_s) s; media $(mib "$gp_media") MiB ($(calc "$gp_media / $GP / 1024" 0) kB a photo)"
	say "     database: file $(mib "$gp_file") MiB, live $(mib "$gp_live") MiB (empty: $(mib "$gp_empty") MiB); raw webhook bodies $(mib "$gp_bodies") MiB ($(calc "$gp_bodies / $GP" 0) B each); rendered mails still waiting for delivery $(mib "$gp_mail") MiB"
	say "   texts: $(val "$work/gt.out" delivered) of $GT text webhooks delivered$( [ "$(val "$work/gt.out" delivery_complete)" = 1 ] || say " (gave up after ${MAX_DELIVERY_S} s)") in $(val "$work/gt.out" e2e_s) s"
	say "     database: file $(mib "$gt_file") MiB, live $(mib "$gt_live") MiB (empty: $(mib "$gt_empty") MiB); raw webhook bodies $(mib "$gt_bodies") MiB ($(calc "$gt_bodies / $GT" 0) B each); rendered mails still waiting for delivery $(mib "$gt_mail") MiB"
	g_text=$(calc "($gt_file - $gt_empty) * 10000 / $GT / 1048576" 1)
	g_photo=$(calc "($gp_file - $gp_empty) * 10000 / $GP / 1048576" 1)
	g_praw=$(calc "$gp_bodies * 10000 / $GP / 1048576" 1)
	say "   DB growth per 10,000 messages: text $g_text MiB, photos $g_photo MiB (raw bodies $g_praw MiB) (texts' raw bodies $(calc "$gt_bodies * 10000 / $GT / 1048576" 1) MiB; photos scaled from $GP)"
	if is_true "$gp_bodies > 0 && $gt_bodies > 0"; then
		r_gp=$(calc "$gp_file / $gp_bodies" 1)
		r_gt=$(calc "$gt_file / $gt_bodies" 1)
		line_g1="state database with photos / raw webhook bodies: ${r_gp}x (target <= 10x, ratio $(ratio "$r_gp" 10))$(verdict "$r_gp <= 10")"
		line_g2="state database with texts / raw webhook bodies: ${r_gt}x (target <= 4x, ratio $(ratio "$r_gt" 4))$(verdict "$r_gt <= 4")"
	else
		line_g1="state database with photos / raw webhook bodies: n/a (no bodies stored) MISSED"
		line_g2="state database with texts / raw webhook bodies: n/a (no bodies stored) MISSED"
	fi
	if is_true "${gp_media:-0} > 0"; then
		p_gm=$(calc "100 * ($gp_file - $gp_empty) / $gp_media" 1)
		line_g3="state database growth / media received (1000 photos): ${p_gm}% (target <= 5%, ratio $(ratio "$p_gm" 5))$(verdict "$p_gm <= 5")"
	else
		line_g3="state database growth / media received: n/a (no media) MISSED"
	fi
	say "   $line_g3"
	say "   $line_g1"
	say "   $line_g2"
	say ""
fi

# ---- h. media memory ------------------------------------------------------------------------
if want h; then
	# serve's resident size while big media go through it: each is downloaded into the
	# spool, its mail written there and delivered from a mapping of that file (spool.h).
	[ -f "$work/graph_token" ] || (umask 077; printf 'EAAbench-graph-token-4c1d\n' >"$work/graph_token")
	write_config h
	pnid=$(printf '%s\n' "$STATIONS" | head -n 1 | cut -d: -f3)
	python3 tests/bench/media.py --port "$port" --secret "$work/app_secret" \
		--graph-token "$work/graph_token" --graph-port-file "$work/h/graph.port" \
		--db "$work/h/state.db" --pid 0 --pnid "$pnid" --media "$WB_BENCH_MEDIA" \
		--timeout 300 >"$work/h.out" 2>"$work/h.err" &
	py_pid=$!
	use_fake_graph h media.py
	start_serve h
	printf '%s\n' "$serve_pid" >"$work/h/graph.port.pid"
	touch "$work/h/graph.port.go"
	wait "$py_pid" || { cat "$work/h.err" >&2; die "media.py failed"; }
	spool_left=$(ls "$work/h/spool" 2>/dev/null | wc -l | tr -d ' ')
	stop_serve
	o=$work/h.out
	h_media=$(val "$o" media_bytes)
	h_growth=$(( $(val "$o" hwm_kb_after) - $(val "$o" hwm_kb_before) ))
	mibk() { calc "$1 / 1024" 1; }
	say "h. media memory: $(val "$o" media_n) media ($(val "$o" media_list)), $(mib "$h_media") MiB, one webhook each, fetched, rendered and delivered over IMAP by serve: $(val "$o" mails) mails of $(mib "$(val "$o" mail_bytes)") MiB in $(val "$o" delivery_s) s$( [ "$(val "$o" complete)" = 1 ] || say " (NOT all delivered within the time allowed)")"
	say "   serve VmHWM $(mibk "$(val "$o" hwm_kb_before)") MiB before (after a warm-up photo), $(mibk "$(val "$o" hwm_kb_after)") MiB after; sampled every 10 ms: VmRSS at most $(mibk "$(val "$o" rss_kb_peak_sampled)") MiB, RssAnon $(mibk "$(val "$o" anon_kb_before)") MiB before and at most $(mibk "$(val "$o" anon_kb_peak)") MiB, RssFile at most $(mibk "$(val "$o" file_kb_peak)") MiB; $spool_left files left in the spool"
	if is_true "${h_media:-0} > 0" && [ "$(val "$o" complete)" = 1 ]; then
		p_h=$(calc "100 * $h_growth * 1024 / $h_media" 1)
		line_h1="serve peak RSS growth (VmHWM) / media fetched, rendered and delivered: $(mibk "$h_growth") MiB / $(mib "$h_media") MiB = ${p_h}% (target <= 25%, ratio $(ratio "$p_h" 25))$(verdict "$p_h <= 25")"
	else
		line_h1="serve peak RSS growth (VmHWM) / media: n/a (not all delivered) MISSED"
	fi
	say "   $line_h1"
	say ""
fi

# ---- i. many stations ----------------------------------------------------------------------
if want i; then
	H=$WB_BENCH_STATION_MAILS
	HN=1000
	# st0001:S0001:551770000000001:st0001 … : each station its own mailbox login
	many=$(awk -v n="$HN" 'BEGIN { for (i = 1; i <= n; i++)
		printf "st%04d:S%04d:55177000000%04d:st%04d\n", i, i, i, i }')
	many_pnids=$(printf '%s\n' "$many" | cut -d: -f3 | paste -sd, -)
	# A Dovecot of its own, set up as the README's "Many stations" asks of a mail server
	# that takes logins for hundreds of mailboxes: login and imap processes kept for the
	# next connection instead of one forked per login (about 40 ms a login on this kind of
	# machine, against 2 ms).
	dch=$work/dch
	mkdir -p "$dch"
	cp contrib/dovecot-many-stations.conf "$dch/extra.conf"
	sh tests/lib/dovecot.sh start "$dch" >"$work/dovecot-i.out" 2>&1 ||
		{ cat "$work/dovecot-i.out" >&2; die "the private Dovecot of i did not start"; }
	sh tests/lib/dovecot.sh adduser "$dch" $(printf '%s\n' "$many" | cut -d: -f4) ||
		die "cannot add the stations' users to the private Dovecot"
	# Every station's mailbox made once beforehand, as a station in service has one: the
	# figure is of delivering mail, not of a server creating a thousand mailboxes.
	sh tests/lib/dovecot.sh doveadm "$dch" mailbox status -A messages INBOX >/dev/null 2>&1 ||
		die "cannot open the stations' mailboxes in the private Dovecot"
	imap_port_b=$imap_port
	imap_port=$(cat "$dch/port")
	ms_now() { date +%s%3N; }
	# check_ms NAME: check-config's wall time in ms (best of 3)
	check_ms() {
		best=
		for _ in 1 2 3; do
			t0=$(ms_now)
			"$WABRIDGE" -c "$work/$1/wabridge.conf" check-config >/dev/null 2>&1
			t1=$(ms_now)
			[ -z "$best" ] || [ $((t1 - t0)) -lt "$best" ] && best=$((t1 - t0))
		done
		say "$best"
	}
	# many_run NAME PNIDS: serve on a fresh state, H webhooks, until delivered. Sets
	# start_ms (exec to the first /healthz answer), logins, most sessions held by Dovecot.
	many_run() {
		d=$work/$1
		start_serve "$1"
		# Dovecot's logged-in sessions (doveadm who), sampled while the mails go: the most
		# seen.
		( most=0
		  while kill -0 "$serve_pid" 2>/dev/null; do
			n=$(sh tests/lib/dovecot.sh doveadm "$dch" who -1 2>/dev/null | grep -c ' imap ')
			[ "$n" -gt "$most" ] && most=$n && echo "$most" >"$d/sessions.most"
			sleep 0.2
		  done ) &
		sampler=$!
		"$work/load" -p "$port" -s "$work/app_secret" -P "$2" -n "$H" -c "$WB_BENCH_CONNS" \
			-t "$MAX_INTAKE_S" -r "many$1" -D "$d/state.db" -E "$H" -T "$((MAX_DELIVERY_S * 2))" \
			>"$work/$1.out" 2>&1 || { cat "$work/$1.out" >&2; die "load failed"; }
		logins=$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^wabridge_imap_logins_total //p')
		stop_serve
		wait "$sampler" 2>/dev/null
		most_sessions=$(cat "$d/sessions.most" 2>/dev/null || echo 0)
	}
	write_config i1000 "" "$many"
	write_config i3
	c1000=$(check_ms i1000); c3=$(check_ms i3)
	many_run i1000 "$many_pnids"
	s1000=$start_ms l1000=$logins m1000=$most_sessions
	many_run i3 "$PNIDS"
	s3=$start_ms l3=$logins m3=$most_sessions
	sh tests/lib/dovecot.sh stop "$dch" >/dev/null 2>&1
	imap_port=$imap_port_b
	o1=$work/i1000.out o3=$work/i3.out
	r1=$(val "$o1" e2e_per_s); r3=$(val "$o3" e2e_per_s)
	done1=$( [ "$(val "$o1" delivery_complete)" = 1 ] && say "" || say " (not all delivered: the rate of those that were)")
	done3=$( [ "$(val "$o3" delivery_complete)" = 1 ] && say "" || say " (not all delivered: the rate of those that were)")
	say "i. many stations: $H webhooks (1-2 kB texts) into a fresh daemon, [imap] max_connections = 16 (the default), Dovecot with contrib/dovecot-many-stations.conf:"
	say "   over $HN stations, each its own mailbox login: delivered $(val "$o1" delivered) in $(val "$o1" e2e_s) s, $(calc "${r1:-0}" 0) mails/s$done1; ${l1000:-?} logins, at most ${m1000} sessions in Dovecot at once"
	say "   over 3 stations: delivered $(val "$o3" delivered) in $(val "$o3" e2e_s) s, $(calc "${r3:-0}" 0) mails/s$done3; ${l3:-?} logins, at most ${m3} sessions in Dovecot at once"
	say "   check-config: $c1000 ms for $HN stations, $c3 ms for 3; serve up (exec to /healthz): $s1000 ms for $HN stations, $s3 ms for 3"
	if [ -n "$r1" ] && [ -n "$r3" ] && is_true "$r3 > 0"; then
		ok_i="$r1 / $r3 >= 0.5"
		[ -z "$done1$done3" ] || ok_i=0
		line_i1="delivery over $HN stations / over 3: $(calc "$r1 / $r3") ($(calc "$r1" 0) / $(calc "$r3" 0) mails/s; target 0.5, ratio $(calc "$r1 / $r3 / 0.5"))$(verdict "$ok_i")"
	else
		line_i1="delivery over $HN stations / over 3: n/a MISSED"
	fi
	line_i2="check-config of $HN stations: $c1000 ms (target < 1000 ms, ratio $(ratio "$c1000" 1000))$(verdict "$c1000 < 1000")"
	line_i3="serve start-up with $HN stations: $s1000 ms (target < 2000 ms, ratio $(ratio "$s1000" 2000))$(verdict "$s1000 < 2000")"
	say "   $line_i1"
	say "   $line_i2"
	say "   $line_i3"
	say ""
fi

# ---- j. intake on PostgreSQL: one bridge and two, beside SQLite -----------------------------
if want j; then
	# The closed loop and the steady rate of a, each set-up on a fresh database of a private
	# PostgreSQL (tests/lib/postgres.sh) that flushes every commit to disk, as SQLite does
	# with synchronous=FULL: one `serve`, then two on one database (each its own port and
	# node), the load's connections split between them (load.c -p P1,P2, one set of
	# latencies). SQLite's figures are a's when a ran, else measured here the same way, so
	# that the comparison is always of one run. Then a delivery check with two bridges.
	pg=$work/pg
	jN=$WB_BENCH_REQUESTS
	jW=500
	j_pids=
	# j_stop: stop every bridge of this section (SIGTERM to all, then each waited for).
	j_stop() {
		for p in $j_pids; do kill -TERM "$p" 2>/dev/null; done
		for p in $j_pids; do
			serve_pid=$p
			stop_serve
		done
		j_pids=
	}
	j_cleanup() {
		j_stop
		[ -f "$pg/data/postmaster.pid" ] && sh tests/lib/postgres.sh stop "$pg" >/dev/null 2>&1
		cleanup
	}
	jsql() { # DB SQL: psql's unaligned answer
		sh tests/lib/postgres.sh psql "$pg" -d "$1" -qtAc "$2" 2>/dev/null
	}
	# j_start NAME DB K: K bridges on a fresh database DB, configurations in $work/NAME_1..K,
	# each its own listener and node; their ports in j_ports (P1,P2), their pids in j_pids.
	j_start() {
		jsql postgres "CREATE DATABASE $2" >/dev/null || die "cannot create the database $2"
		j_ports=
		k=1
		while [ "$k" -le "$3" ]; do
			write_config "${1}_$k"
			jd=$work/${1}_$k
			(umask 077; cp "$pg/password" "$jd/pg.pass")
			sed -i "s|^state = .*|state = $WB_PG_URL/$2\nstate_password_file = $jd/pg.pass\nnode = ${1}_$k\ndata_dir = $jd|" \
				"$jd/wabridge.conf"
			start_serve "${1}_$k"
			j_pids="$j_pids $serve_pid"
			serve_pid=
			j_ports=${j_ports:+$j_ports,}$port
			k=$((k + 1))
		done
	}
	# j_wait DB N SECONDS: wait until N messages are delivered; prints how many were.
	j_wait() {
		jt=$(($(date +%s) + $3))
		while :; do
			jn=$(jsql "$1" "SELECT count(*) FROM messages WHERE state = 'delivered'")
			[ "${jn:-0}" -ge "$2" ] || [ "$(date +%s)" -ge "$jt" ] && break
			sleep 0.2
		done
		say "${jn:-0}"
	}
	# j_ticks serve|pg: CPU ticks used so far by the bridges running, or by the cluster.
	j_ticks() {
		if [ "$1" = pg ]; then
			jpm=$(head -n 1 "$pg/data/postmaster.pid")
			jps="$jpm $(ps -o pid= --ppid "$jpm" | tr '\n' ' ')"
		else
			jps=$j_pids
		fi
		for p in $jps; do
			sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }'
		done | awk '{ s += $1 } END { print s + 0 }'
	}
	# j_closed NAME DB K: a warm-up of jW webhooks taken through to delivery, then a's closed
	# loop, into K fresh bridges on DB; the load's output in $work/NAME.out, the CPU each
	# side used in $work/NAME.cpu.
	j_closed() {
		j_start "$1" "$2" "$3"
		"$work/load" -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" -n "$jW" \
			-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r warmup >"$work/$1.warm" 2>&1 ||
			{ cat "$work/$1.warm" >&2; die "load failed"; }
		jw=$(j_wait "$2" "$jW" 60)
		s0=$(j_ticks serve); g0=$(j_ticks pg); t0=$(date +%s.%N)
		"$work/load" -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" -n "$jN" \
			-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r intake >"$work/$1.out" 2>&1 ||
			{ cat "$work/$1.out" >&2; die "load failed"; }
		t1=$(date +%s.%N); s1=$(j_ticks serve); g1=$(j_ticks pg)
		hz=$(getconf CLK_TCK)
		printf 'warm_delivered=%s\nwall=%s\nserve=%s\npg=%s\n' "$jw" "$(calc "$t1 - $t0" 1)" \
			"$(calc "($s1 - $s0) / $hz" 1)" "$(calc "($g1 - $g0) / $hz" 1)" >"$work/$1.cpu"
		j_stop
	}
	# j_paced NAME DB K: a's steady rate into K fresh bridges on DB.
	j_paced() {
		j_start "$1" "$2" "$3"
		"$work/load" -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" \
			-n $((WB_BENCH_RATE * 5)) -c "$WB_BENCH_CONNS" -t 10 -r paced -R "$WB_BENCH_RATE" \
			>"$work/$1.out" 2>&1 || { cat "$work/$1.out" >&2; die "load failed"; }
		j_stop
	}
	# j_say LABEL NAME: a closed loop's figures, as in a.
	j_say() {
		o=$work/$2.out c=$work/$2.cpu
		say "   $1: $(val "$o" sent) webhooks in $(val "$o" elapsed_s) s$( [ "$(val "$o" sent)" -lt "$jN" ] && say " (stopped after ${MAX_INTAKE_S} s)"), $(val "$o" ok) x 200, $(val "$o" non200) other, $(( $(val "$o" errors_conn) + $(val "$o" errors_proto) + $(val "$o" errors_timeout) )) errors$(grep '^ok_port_' "$o" | sed 's/^ok_port_\([0-9]*\)=\(.*\)/; \2 by the bridge on :\1/' | tr -d '\n')"
		say "     $(calc "$(val "$o" ok_per_s)" 0)/s; latency p50 $(val "$o" p50_ms) ms, p90 $(val "$o" p90_ms) ms, p99 $(val "$o" p99_ms) ms, max $(val "$o" max_ms) ms (warm-up: $(val "$c" warm_delivered) of $jW delivered)"
		say "     CPU over the $(val "$c" wall) s: serve $(val "$c" serve) s, PostgreSQL $(val "$c" pg) s, the load generator $(val "$o" client_cpu_s) s, of $(calc "$(nproc) * $(val "$c" wall)" 1) s on $(nproc) cores (other programs' included)"
	}

	rc=0
	sh tests/lib/postgres.sh start "$pg" >"$work/pg.out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		why=$(grep -v '^ *$' "$work/pg.out" | tail -n 1 | sed 's/^postgres\.sh: //')
		[ "$rc" = 3 ] && what="cannot run" || what="cannot run, the private PostgreSQL did not start"
		say "j. intake on PostgreSQL: $what: $why"
		line_j1="intake on PostgreSQL: not measured ($why)"
		say ""
	else
		trap j_cleanup EXIT
		eval "$(sh tests/lib/postgres.sh env "$pg")"
		# tests/lib/postgres.sh turns syncing off for the tests; a bench of commits wants
		# what a deployment has: every commit on disk before it returns.
		for jset in "fsync = on" "synchronous_commit = on" "full_page_writes = on"; do
			jsql postgres "ALTER SYSTEM SET $jset" >/dev/null || die "cannot set $jset"
		done
		jsql postgres "SELECT pg_reload_conf()" >/dev/null
		sleep 0.5
		pgv=$(jsql postgres "SHOW server_version" | cut -d' ' -f1)
		pgs="fsync $(jsql postgres "SHOW fsync"), synchronous_commit $(jsql postgres "SHOW synchronous_commit")"
		[ -f "$pg/server.pem" ] && pgs="$pgs, TLS (libpq's default sslmode=prefer)"

		# SQLite: a's figures when a ran, else the same measured here.
		if [ -s "$work/a.out" ] && [ -s "$work/p.out" ]; then
			sq=$work/a.out sqp=$work/p.out sqfrom="a, this run"
		else
			write_config jsq
			start_serve jsq
			"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$jW" \
				-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r warmup -D "$work/jsq/state.db" \
				-E "$jW" -T 60 >"$work/jsq.warm" 2>&1 || { cat "$work/jsq.warm" >&2; die "load failed"; }
			"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" -n "$jN" \
				-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r intake >"$work/jsq.out" 2>&1 ||
				{ cat "$work/jsq.out" >&2; die "load failed"; }
			stop_serve
			write_config jsqp
			start_serve jsqp
			"$work/load" -p "$port" -s "$work/app_secret" -P "$PNIDS" \
				-n $((WB_BENCH_RATE * 5)) -c "$WB_BENCH_CONNS" -t 10 -r paced \
				-R "$WB_BENCH_RATE" >"$work/jsqp.out" 2>&1 || { cat "$work/jsqp.out" >&2; die "load failed"; }
			stop_serve
			sq=$work/jsq.out sqp=$work/jsqp.out sqfrom="measured here as in a"
		fi

		j_closed jc1 wbj_c1 1
		j_paced jp1 wbj_p1 1
		j_closed jc2 wbj_c2 2
		j_paced jp2 wbj_p2 2
		# Two bridges deliver what they accept: into emptied mailboxes, so that what these
		# hold afterwards can be counted against what the state says was delivered.
		JM=$WB_BENCH_PG_MAILS
		sh tests/lib/dovecot.sh reset "$dc" >/dev/null 2>&1 || die "cannot reset the mailboxes"
		j_start jd wbj_d 2
		jsz0=$(jsql wbj_d "SELECT pg_database_size('wbj_d')")
		jt0=$(date +%s.%N)
		"$work/load" -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" -n "$JM" \
			-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r deliver >"$work/jd.out" 2>&1 ||
			{ cat "$work/jd.out" >&2; die "load failed"; }
		jok=$(val "$work/jd.out" ok)
		jdel=$(j_wait wbj_d "$jok" "$MAX_DELIVERY_S")
		jt1=$(date +%s.%N)
		# What the database grows by a message, for the capacity plan in README: the first
		# thousand into a fresh database, then (after a VACUUM, as autovacuum does in
		# service, which lets the rows deliveries deleted be used again) as many more.
		jsz1=$(jsql wbj_d "SELECT pg_database_size('wbj_d')")
		jsql wbj_d "VACUUM" >/dev/null
		"$work/load" -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" -n "$JM" \
			-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r deliver2 >"$work/jd2.out" 2>&1 ||
			{ cat "$work/jd2.out" >&2; die "load failed"; }
		jok2=$(val "$work/jd2.out" ok)
		jdel=$(j_wait wbj_d $((jok + jok2)) "$MAX_DELIVERY_S")
		jsz2=$(jsql wbj_d "SELECT pg_database_size('wbj_d')")
		jdel2=$((jdel - jok))
		# The status webhooks of the bridge's sends (sent, delivered, read each): what one
		# adds to the database, after a VACUUM as above.
		jsql wbj_d "VACUUM" >/dev/null
		jsz2v=$(jsql wbj_d "SELECT pg_database_size('wbj_d')")
		JS=$((WB_BENCH_PG_MAILS * 3))
		"$work/load" -X -p "$j_ports" -s "$work/app_secret" -P "$PNIDS" -n "$JS" \
			-c "$WB_BENCH_CONNS" -t "$MAX_INTAKE_S" -r statuses >"$work/js.out" 2>&1 ||
			{ cat "$work/js.out" >&2; die "load failed"; }
		jsok=$(val "$work/js.out" ok)
		jsql wbj_d "VACUUM" >/dev/null
		jsz3=$(jsql wbj_d "SELECT pg_database_size('wbj_d')")
		jok=$((jok + jok2))
		JM=$((JM * 2))
		j_stop
		jmails=$(find "$dc/mail" -path '*/Maildir/*' -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l | tr -d ' ')
		jwamids=$(jsql wbj_d "SELECT count(DISTINCT wamid) FROM messages WHERE state = 'delivered'")
		jstates=$(jsql wbj_d "SELECT state || ' ' || count(*) FROM messages GROUP BY state ORDER BY state" | paste -sd, - | sed 's/,/, /g')
		sh tests/lib/postgres.sh stop "$pg" >/dev/null 2>&1
		trap cleanup EXIT

		say "j. intake on PostgreSQL $pgv (a private cluster on 127.0.0.1: $pgs), as in a: $jN signed webhooks over $WB_BENCH_CONNS keep-alive connections, closed loop, after a warm-up of $jW; then $WB_BENCH_RATE/s for 5 s. Each set-up on a fresh database"
		j_say "one bridge" jc1
		j_say "two bridges on one database, $((WB_BENCH_CONNS / 2)) connections to each" jc2
		for jp in jp1 jp2; do
			[ $jp = jp1 ] && jl="one bridge" || jl="two bridges"
			say "   $jl at a steady $WB_BENCH_RATE/s: answered $(calc "$(val "$work/$jp.out" ok_per_s)" 0)/s, $(val "$work/$jp.out" non200) not 200, p50 $(val "$work/$jp.out" p50_ms) ms, p99 $(val "$work/$jp.out" p99_ms) ms, max $(val "$work/$jp.out" max_ms) ms; $(val "$work/$jp.out" late_5ms) waited over 5 ms for a free connection"
		done
		jok1=$(val "$work/jd.out" ok)
		say "   delivery with two bridges: $WB_BENCH_PG_MAILS webhooks into fresh ones ($jok1 answered 200), then until all are delivered over IMAP: in $(calc "$jt1 - $jt0" 1) s from the first byte sent ($(calc "$jok1 / ($jt1 - $jt0)" 0) mails/s); then $WB_BENCH_PG_MAILS more; in all $jdel of $jok delivered; messages: $jstates; $jmails mails in the mailboxes"
		[ "$jok1" -gt 0 ] && [ "$jdel2" -gt 0 ] &&
			say "   the database grew by $(calc "($jsz1 - $jsz0) / $jok1 / 1024" 1) KiB a message for the first $jok1 (fresh), by $(calc "($jsz2 - $jsz1) / $jdel2 / 1024" 1) KiB a message for the next $jdel2 (after a VACUUM); the webhook bodies are $(val "$work/jd.out" body_bytes_avg) B on average"
		[ "${jsok:-0}" -gt 0 ] &&
			say "   then $jsok status webhooks ($(val "$work/js.out" body_bytes_avg) B each; sent, delivered and read of $((JS / 3)) sends) grew it by $(calc "($jsz3 - $jsz2v) / $jsok / 1024" 2) KiB each"
		s_rps=$(val "$sq" ok_per_s); s_p99=$(val "$sq" p99_ms); s_pp=$(val "$sqp" p99_ms)
		c1_rps=$(val "$work/jc1.out" ok_per_s); c1_p99=$(val "$work/jc1.out" p99_ms); p1=$(val "$work/jp1.out" p99_ms)
		c2_rps=$(val "$work/jc2.out" ok_per_s); c2_p99=$(val "$work/jc2.out" p99_ms); p2=$(val "$work/jp2.out" p99_ms)
		say ""
		printf '   %-34s %10s %8s %8s %15s\n' "" "accepted/s" "p50 ms" "p99 ms" "p99 at $WB_BENCH_RATE/s" \
			"SQLite ($sqfrom)" "$(calc "$s_rps" 0)" "$(val "$sq" p50_ms)" "$s_p99" "$s_pp" \
			"PostgreSQL, one bridge" "$(calc "$c1_rps" 0)" "$(val "$work/jc1.out" p50_ms)" "$c1_p99" "$p1" \
			"PostgreSQL, two bridges" "$(calc "$c2_rps" 0)" "$(val "$work/jc2.out" p50_ms)" "$c2_p99" "$p2" \
			"PostgreSQL one bridge / SQLite" "$(ratio "$c1_rps" "$s_rps")" "$(ratio "$(val "$work/jc1.out" p50_ms)" "$(val "$sq" p50_ms)")" "$(ratio "$c1_p99" "$s_p99")" "$(ratio "$p1" "$s_pp")" \
			"PostgreSQL two bridges / one" "$(ratio "$c2_rps" "$c1_rps")" "$(ratio "$(val "$work/jc2.out" p50_ms)" "$(val "$work/jc1.out" p50_ms)")" "$(ratio "$c2_p99" "$c1_p99")" "$(ratio "$p2" "$p1")"
		say "   (every write transaction holds one advisory lock, so a second bridge adds a listener and a committer, not a second writer; and on $(nproc) cores both bridges, PostgreSQL and the load generator share the same CPUs: not-worse is the target for two)"
		line_j1="PostgreSQL, one bridge: $(calc "$c1_rps" 0) webhooks/s = $(ratio "$c1_rps" "$s_rps") x SQLite's $(calc "$s_rps" 0) (target >= 0.5 x, ratio $(ratio "$c1_rps" "$(calc "$s_rps * 0.5")"))$(verdict "$c1_rps >= 0.5 * $s_rps")"
		line_j2="PostgreSQL, two bridges: $(calc "$c2_rps" 0) webhooks/s = $(ratio "$c2_rps" "$c1_rps") x one bridge (target >= 1.0 x, ratio $(ratio "$c2_rps" "$c1_rps"))$(verdict "$c2_rps >= $c1_rps")"
		line_j3="PostgreSQL, p99 latency at a steady $WB_BENCH_RATE/s: one bridge $p1 ms, two bridges $p2 ms (target < 20 ms as on SQLite, ratio $(ratio "$p1" 20) and $(ratio "$p2" 20))$(verdict "$p1 < 20 && $p2 < 20")"
		line_j4="PostgreSQL, two bridges deliver what they accept: $jdel of $jok delivered, $jwamids distinct wamids, $jmails mails in the mailboxes$(verdict "$jok == $JM && $jdel == $jok && $jwamids == $jok && $jmails == $jok")"
		say "   $line_j1"
		say "   $line_j2"
		say "   $line_j3"
		say "   $line_j4"
		jlogs=$(ls "$work"/jsq/serve.log "$work"/jsqp/serve.log "$work"/j[cpd][12]_*/serve.log "$work"/jd_*/serve.log 2>/dev/null)
		jwarn=$(cat $jlogs 2>/dev/null | grep -c .)
		if [ "$jwarn" -gt 0 ]; then
			say "   the bridges logged $jwarn warning lines (-q); the first ones:"
			cat $jlogs | head -n 5 | sed 's/^/     /'
		fi
		say ""
	fi
fi

# ---- summary ------------------------------------------------------------------------------

warnings=$(cat "$work/a/serve.log" "$work/b/serve.log" "$work/gp/serve.log" "$work/gt/serve.log" "$work/h/serve.log" "$work/i1000/serve.log" "$work/i3/serve.log" 2>/dev/null | grep -c . )
# (run d's log holds the refusals of the attack, bounded by design: not counted here)
say "summary ($rev):"
# Only the lines of the sections that ran (WB_BENCH_ONLY).
for v in line_a1 line_a3 line_a2 line_a4 line_b1 line_b2 line_b3 line_c line_c2 line_d1 \
	line_d2 line_d3 line_e1 line_e2 line_f line_g3 line_g1 line_g2 line_h1 line_i1 line_i2 line_i3 \
	line_j1 line_j2 line_j3 line_j4; do
	eval "l=\${$v:-}"
	[ -n "$l" ] && say "  $l"
done
if [ "$warnings" -gt 0 ]; then
	say "  serve logged $warnings warning lines (-q); the first ones:"
	cat "$work/a/serve.log" "$work/b/serve.log" "$work/gp/serve.log" "$work/gt/serve.log" "$work/h/serve.log" "$work/i1000/serve.log" "$work/i3/serve.log" 2>/dev/null | head -n 5 | sed 's/^/    /'
fi
exit 0
