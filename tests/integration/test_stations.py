"""A thousand stations on one bridge (issue 14).

- check-config on a configuration of 1,000 stations (each with its own mailbox login):
  valid; a phone_number_id two of them share is reported naming both groups and both
  lines, and so is a code.
- `serve` delivers to those stations through a relay in front of the private Dovecot
  (tests/lib/imapproxy.py) that counts the connections: with [imap] max_connections = 4,
  mails to 150 different stations never have more than 4 connections open at once, and
  Dovecot holds no more than 4 sessions of the stations once the daemon rests.
- Sessions are reused: 60 mails to 3 stations take 3 logins.
- A session the server closed is opened again before the next mail, which does not
  fail for it: after the relay cuts every connection, the next mails are delivered at
  their first attempt.
- /metrics counts the logins (the relay's connections) and the sessions open.
- `run` (cron) keeps to the same bound.

The stations' users (st0001 … st1000) are added to the private Dovecot
(tests/lib/dovecot.sh adduser); wamids are new in every run, so the test can run again
on the same instance."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import imapproxy  # noqa: E402
import wbtest as W  # noqa: E402

N = 1000
MAX = 4
PNID0 = 551770000000000


def user(i):
    return "st%04d" % i


def pnid(i):
    return str(PNID0 + i)


def station_groups(passfile):
    """[station:stNNNN] for NNNN in 1..N, each with its own login; (text, first line of
    the text for each station)."""
    out = []
    for i in range(1, N + 1):
        out += ["[station:%s]" % user(i), "name = Station %d" % i, "code = S%04d" % i,
                "phone_number_id = %s" % pnid(i), "address = %s@police.test" % user(i),
                "deliver = imap", "imap_user = %s" % user(i),
                "imap_password_file = %s" % passfile, "folder = INBOX", ""]
    return "\n".join(out) + "\n"


def add_users():
    subprocess.run(["sh", os.path.join(W.TOP, "tests", "lib", "dovecot.sh"), "adduser",
                    W.DOVECOT_DIR] + [user(i) for i in range(1, N + 1)], check=True)


def station_sessions():
    """The stations' users logged in to Dovecot now (doveadm who)."""
    p = subprocess.run(["sh", os.path.join(W.TOP, "tests", "lib", "dovecot.sh"), "doveadm",
                        W.DOVECOT_DIR, "who", "-1"], capture_output=True, text=True)
    return [ln for ln in p.stdout.splitlines() if re.match(r"^st\d{4} +imap ", ln)]


def line_of(path, text):
    with open(path) as f:
        for n, ln in enumerate(f, 1):
            if ln.rstrip("\n") == text:
                return n
    return None


def test_check_config(t, b):
    rc, out, err = b.run("check-config")
    t.eq(rc, 0, "check-config: a configuration of %d stations is valid" % N, out + err)
    t.ok("configuration is valid" in out, "and says so", out[-500:])

    bad = b.config + ".dup"
    with open(b.config) as f:
        text = f.read()
    text = text.replace("phone_number_id = %s\n" % pnid(777), "phone_number_id = %s\n" %
                        pnid(5), 1).replace("code = S0900\n", "code = S0010\n", 1)
    with open(bad, "w") as f:
        f.write(text)
    rc, out, err = b.run("-c", bad, "check-config", config=False)
    t.eq(rc, 78, "check-config: a phone_number_id two of the %d stations share is a "
         "problem" % N, out + err)
    with open(bad) as f:
        l5, l777 = [n for n, ln in enumerate(f, 1)
                    if ln == "phone_number_id = %s\n" % pnid(5)]
    t.ok("%s: [station:st0777] phone_number_id: %s is also the phone_number_id of "
         "[station:st0005] on line %d; each number belongs to one station (line %d)" %
         (bad, pnid(5), l5, l777) in out, "naming both stations and both lines", out)
    t.ok(re.search(r"\[station:st0900\] code: S0010 is also the code of \[station:st0010\] "
                   r"on line %d; every station needs its own \(line \d+\)" %
                   line_of(bad, "code = S0010"), out), "and so for a code", out)
    t.eq(len([ln for ln in out.splitlines() if not ln.startswith("warning")]), 2,
         "and nothing else", out)


def post_one(t, sv, i, wamid):
    body = W.single(pnid(i), "9198300%05d" % (i % 100000), wamid, int(time.time()),
                    "Complaint to station %d" % i)
    return sv.post(body)


def drained(b):
    return W.wait_for(lambda: W.pending(b) == 0, 180 * W.SLOW, 0.2)


def in_mailbox(i, wamid):
    return "<%s@%s>" % (wamid, W.DOMAIN) in W.message_ids(user(i))


def test_bound(t, b, sv, proxy, tag):
    """Mails to 150 stations, one each, through at most MAX connections."""
    proxy.reset_counts()
    stations = list(range(101, 251))
    codes = [post_one(t, sv, i, "wamid.%s.B%04d" % (tag, i)) for i in stations]
    t.eq(sorted(set(codes)), [200], "%d webhooks to %d stations answered 200" %
         (len(codes), len(stations)))
    t.ok(drained(b), "serve delivers them all", W.pending(b))
    missing = [i for i in stations[::15] if not in_mailbox(i, "wamid.%s.B%04d" % (tag, i))]
    t.eq(missing, [], "each station's mail is in its own mailbox (every 15th looked at)")
    t.ok(proxy.most_open <= MAX, "never more than [imap] max_connections = %d connections "
         "open at once (the relay saw at most %d, %d in all)" % (MAX, proxy.most_open,
                                                                  proxy.accepted))
    t.ok(proxy.accepted >= len(stations), "(one login per station at least: %d)" %
         proxy.accepted)
    rest = W.wait_for(lambda: len(station_sessions()) <= MAX, 30 * W.SLOW)
    t.ok(rest, "at rest Dovecot holds at most %d sessions of the stations" % MAX,
         station_sessions())
    t.ok(0 < proxy.open_count() <= MAX, "and the daemon keeps %d open for the next mails" %
         proxy.open_count())


def test_reuse(t, b, sv, proxy, tag):
    """60 mails to 3 stations: 3 logins."""
    proxy.reset_counts()
    three = [301, 302, 303]
    for k in range(60):
        i = three[k % 3]
        st = post_one(t, sv, i, "wamid.%s.R%02d" % (tag, k))
        if st != 200:
            t.eq(st, 200, "a webhook to a station answered 200")
            return
    t.ok(drained(b), "60 mails to 3 stations delivered", W.pending(b))
    n = b.db("SELECT count(*) FROM messages WHERE wamid LIKE ? AND state = 'delivered'",
             "wamid.%s.R%%" % tag)[0][0]
    t.eq(n, 60, "all 60 delivered")
    t.eq(proxy.accepted, 3, "with 3 logins: each station's session is used again for its "
         "next mail (%d logins for 60 mails)" % proxy.accepted)


def test_cut(t, b, sv, proxy, tag):
    """Every session cut by the server side: the next mails go at their first attempt."""
    before = proxy.open_count()
    proxy.drop()
    t.ok(W.wait_for(lambda: proxy.open_count() == 0, 10), "the relay cut the %d sessions "
         "the daemon kept" % before)
    proxy.reset_counts()
    for k in range(12):
        i = [301, 302, 303][k % 3]
        post_one(t, sv, i, "wamid.%s.C%02d" % (tag, k))
    t.ok(drained(b), "the mails after the cut are delivered", W.pending(b))
    rows = b.db("SELECT state, max(attempts), count(*) FROM messages WHERE wamid LIKE ? "
                "GROUP BY state", "wamid.%s.C%%" % tag)
    t.eq(rows, [("delivered", 0, 12)], "each at its first attempt: a session the server "
         "closed is opened afresh, not used and failed")
    t.eq(proxy.accepted, 3, "with one new login per station")


def test_metrics(t, sv, logins):
    st, _, m = sv.metrics()
    t.eq(st, 200, "/metrics answers")
    t.eq(W.metric(m, "wabridge_imap_logins_total"), float(logins),
         "/metrics: wabridge_imap_logins_total counts every login the relay saw (%d)" % logins)
    s = W.metric(m, "wabridge_imap_sessions")
    t.ok(s is not None and 0 < s <= MAX, "/metrics: wabridge_imap_sessions is within the "
         "bound (%r)" % s)


def test_run(t, b, proxy, tag):
    """The cron mode keeps to the same bound, and logs out before it exits."""
    W.set_key(b.config, "imap", "max_connections", "2")
    for i in range(401, 441):
        rc, out, err = b.ingest(W.single(pnid(i), "919830012345", "wamid.%s.U%04d" %
                                         (tag, i), int(time.time()), "Cron complaint %d" % i))
        if rc != 0:
            t.eq(rc, 0, "ingest takes a webhook", err)
            return
    proxy.reset_counts()
    rc, out, err = b.run("run", timeout=300 * W.SLOW)
    t.eq(rc, 0, "run delivers mails to 40 stations", err[-2000:])
    t.ok(proxy.most_open <= 2, "with at most [imap] max_connections = 2 connections at once "
         "(%d seen, %d in all)" % (proxy.most_open, proxy.accepted))
    t.ok(W.wait_for(lambda: proxy.open_count() == 0, 10), "and none left open after it")
    t.ok(in_mailbox(440, "wamid.%s.U0440" % tag), "the last station's mail is there")


def test(t):
    if not W.IMAP_PORT or not W.DOVECOT_DIR:
        t.skip("many stations", "no private Dovecot (WB_IMAP_PORT / WB_DOVECOT_DIR unset)")
        return
    add_users()
    tag = "ST%d" % os.getpid()
    b = W.Bridge()
    passfile = os.path.join(b.dir, "station.pass")
    W.write_secret(passfile, "secret")
    with open(b.config, "a") as f:
        f.write(station_groups(passfile))
    test_check_config(t, b)

    proxy = imapproxy.IMAPProxy(W.IMAP_PORT).start()
    W.set_key(b.config, "imap", "url", "imap://127.0.0.1:%d" % proxy.port)
    W.set_key(b.config, "imap", "max_connections", str(MAX))
    logins = 0
    try:
        with W.Serve(b) as sv:
            if not t.ok(sv.start(), "serve starts with %d stations" % N, sv.log()[-2000:]):
                return
            test_bound(t, b, sv, proxy, tag)
            logins += proxy.accepted
            test_reuse(t, b, sv, proxy, tag)
            logins += proxy.accepted
            test_cut(t, b, sv, proxy, tag)
            logins += proxy.accepted
            test_metrics(t, sv, logins)
            t.eq(sv.stop(), 0, "serve stops on SIGTERM", sv.log()[-2000:])
            t.ok(W.wait_for(lambda: proxy.open_count() == 0, 10),
                 "and logs out of every session it kept")
        test_run(t, b, proxy, tag)
    finally:
        proxy.stop()


W.Tap().run(test)
