"""`wabridge serve` killed with SIGKILL (SPEC §7: nothing accepted is lost, exactly once).

Client threads stream signed POSTs with unique wamids while the daemon delivers; the
daemon is killed at a different point in each round. Three rounds kill it while the
POSTs still come: right after start, early and later in the stream. Three kill it with
no POST in flight at a point of its IMAP work that is made certain, not waited for: the
daemon talks to Dovecot through a relay the test holds (tests/lib/imapproxy.py), so on
a fast machine as on a slow one the kill lands

- with a backlog the worker cannot deliver, the server answering nothing;
- after Dovecot has stored a mail but before the worker has heard so (the one crash
  that could make a mail twice);
- halfway through the mail of an APPEND.

Then serve is started again on the same config and left to drain. Every POST answered
200 must then be exactly one mail in the mailbox; a POST that got no answer may or may
not be there, but no Message-ID is ever there twice and nothing stays 'delivering'."""

import collections
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import imapproxy  # noqa: E402
import wbtest as W  # noqa: E402

BHP = W.STATIONS[0][2]
HELD = 20  # POSTs answered 200 while the server is held: work the worker cannot do
POSTERS = 3

# (what, kill after this many 200s, how the relay holds the IMAP work at the kill: None
# for a kill while the POSTs still come)
ROUNDS = [
    ("killed early in the stream", 1, None),
    ("killed mid-stream", 12, None),
    ("killed later in the stream", 40, None),
    ("killed with a backlog, the IMAP server silent", 10, "hold"),
    ("killed after the server stored a mail, before the worker heard", 10, "answers"),
    ("killed halfway through an APPEND", 10, "cut"),
]


def mid(wamid):
    return "<%s@%s>" % (wamid, W.DOMAIN)


def hold(t, what, proxy, how, p):
    """Hold the relay and wait until the kill can land where the round says; then stop
    posting. True when it got there (the timeouts only catch a hang)."""
    if how == "hold":
        proxy.hold()
        before = p.ok_count()
        ok = W.wait_for(lambda: p.ok_count() >= before + HELD, 60, 0.01)
    elif how == "answers":
        proxy.hold_answers()
        ok = proxy.answered.wait(60 * W.SLOW)
    else:
        proxy.cut_append()
        ok = proxy.cut.wait(60 * W.SLOW)
    p.stop()
    return t.ok(ok, "%s: (the relay held the daemon's IMAP work where the round kills it)" %
                what)


def premise(t, b, what, proxy, how, tag, held):
    """What must be true at the kill for the round to prove anything."""
    delivered = dict(b.db("SELECT wamid, state FROM messages WHERE wamid LIKE ?",
                          "wamid.%s.%%" % tag))
    if how == "hold":
        # Each client thread had at most one POST under way when the relay began to
        # hold; every later one cannot have reached the mailbox.
        waiting = [w for w in held if delivered.get(w) != "delivered"]
        t.ok(len(waiting) >= HELD - POSTERS and W.pending(b) >= len(waiting),
             "%s: (%d of the %d POSTs answered while the server was silent were not "
             "delivered, %d messages waiting: the worker had work at the kill)" %
             (what, len(waiting), len(held), W.pending(b)))
    elif how == "answers":
        mid_ = proxy.appended_id
        wamid = mid_[1:].split("@")[0] if mid_ else None
        t.eq(W.message_ids("bhowanipore").count(mid_), 1,
             "%s: (the mail of the held APPEND is in the mailbox)" % what, mid_)
        t.ok(wamid in delivered and delivered[wamid] != "delivered",
             "%s: (and the store does not know it was delivered: %r)" %
             (what, delivered.get(wamid)))
    else:
        t.ok(W.pending(b) > 0, "%s: (the worker still had work at the kill)" % what)


def one_round(t, b, sv, proxy, n, what, kill_after, how, accepted_all):
    tag = "CRASH%d.%d" % (n, os.getpid())
    if not t.ok(sv.start(), "%s: serve starts" % what, sv.log()[-2000:]):
        return False
    p = W.Poster(sv, BHP, tag, threads=POSTERS).start()
    got = W.wait_for(lambda: p.ok_count() >= kill_after, 60, 0.005)
    before = set(p.accepted())
    if how is not None and got:
        got = hold(t, what, proxy, how, p)
    sv.send_signal(signal.SIGKILL)
    sv.proc.wait(60)
    p.stop()
    proxy.drop()  # the killed daemon's connections die with it
    ok = p.accepted()
    lost_answers = sum(1 for v in p.results.values() if v is None)
    others = sorted(set(str(v) for v in p.results.values() if v not in (200, None)))
    t.ok(got and ok, "%s: %d POSTs answered 200 before SIGKILL (%d without an answer)" %
         (what, len(ok), lost_answers), sv.log()[-2000:])
    t.eq(others, [], "%s: every answer was 200 (or none, once killed)" % what)
    t.eq(sv.proc.returncode, -signal.SIGKILL, "%s: the daemon died of SIGKILL" % what)
    if not W.sqlite_only(t, "%s: the database is intact" % what,
                         "PRAGMA integrity_check of the file wabridge was writing"):
        t.eq(b.db("PRAGMA integrity_check"), [("ok",)], "%s: the database is intact" % what)
    in_db = W.wamids_in_bodies(b)
    t.eq([w for w in ok if w not in in_db], [],
         "%s: every POST answered 200 was committed (table bodies) before its answer" % what)
    accepted_all.extend(ok)
    left = dict(b.db("SELECT state, count(*) FROM messages WHERE wamid LIKE ? GROUP BY state",
                     "wamid.%s.%%" % tag))
    left["bodies not yet expanded"] = b.db("SELECT count(*) FROM bodies WHERE state = 'new'")[0][0]
    print("# %s: at the kill: %r" % (what, left))
    if how is not None:
        premise(t, b, what, proxy, how, tag, [w for w in ok if w not in before])

    # Restart, drain, stop.
    if not t.ok(sv.start(), "%s: serve starts again on the same state" % what,
                sv.log()[-2000:]):
        return False
    drained = W.wait_for(lambda: W.pending(b) == 0, 60, 0.2)
    t.ok(drained, "%s: the restarted daemon drains every message" % what,
         b.db("SELECT state, count(*), max(last_error) FROM messages GROUP BY state"))
    rc = sv.stop()
    t.eq(rc, 0, "%s: the restarted daemon exits 0 on SIGTERM" % what, sv.log()[-2000:])
    t.eq(b.db("SELECT count(*) FROM messages WHERE state = 'delivering'")[0][0], 0,
         "%s: no message is left in 'delivering'" % what)

    counts = collections.Counter(W.message_ids("bhowanipore"))
    t.eq(sorted(m for m, c in counts.items() if c > 1), [],
         "%s: no Message-ID is in the mailbox twice" % what)
    t.eq([w for w in ok if counts[mid(w)] != 1], [],
         "%s: every POST answered 200 is exactly one mail" % what)
    unanswered = [w for w, v in p.results.items() if v != 200]
    t.ok(all(counts[mid(w)] <= 1 for w in unanswered),
         "%s: the %d unanswered POSTs made at most one mail each" % (what, len(unanswered)))
    states = b.db("SELECT state, count(*) FROM messages WHERE wamid LIKE ? GROUP BY state",
                  "wamid.%s.%%" % tag)
    t.eq([s for s in states if s[0] != "delivered"], [],
         "%s: every stored message of the round ended delivered" % what, states)
    return True


def stop_between_stations(t):
    """SIGTERM while a batch for three stations is being delivered. A batch records all
    its mails as being delivered before the first goes; a stop after the first station
    must put the others back as they were (nothing left 'delivering' after a clean stop),
    and the next start delivers them, each once. The relay holds the first station's
    APPEND answer, so the stop lands there on any machine."""
    W.reset_mailboxes()
    b = W.Bridge()
    proxy = imapproxy.IMAPProxy(W.IMAP_PORT).start()
    W.set_key(b.config, "imap", "url", "imap://127.0.0.1:%d" % proxy.port)
    what = "SIGTERM between the stations of one batch"
    # One message for each station, stored before serve starts: one batch, in this order.
    wamids = []
    for n, (key, _, pnid, _) in enumerate(W.STATIONS):
        wamid = "wamid.STOPB%d.%d" % (n, os.getpid())
        body = W.single(pnid, "91983040%04d" % n, wamid, int(time.time()) - 60 + n,
                        "stop between stations %d" % n)
        rc, _, err = b.ingest(body)
        t.eq(rc, 0, "%s: (the message for %s is stored)" % (what, key), err)
        wamids.append(wamid)
    users = [s[3] for s in W.STATIONS]
    try:
        with W.Serve(b) as sv:
            proxy.hold_answers()
            if not t.ok(sv.start(), "%s: serve starts" % what, sv.log()[-2000:]):
                return
            held = proxy.answered.wait(60 * W.SLOW)
            t.ok(held and proxy.appended_id == mid(wamids[0]),
                 "%s: (the first station's APPEND is held: %r)" % (what, proxy.appended_id))
            logged = len(sv.log())
            sv.send_signal(signal.SIGTERM)
            # serve logs this line once the worker has been told to stop
            t.ok(W.wait_for(lambda: "stopping:" in sv.log()[logged:], 60 * W.SLOW, 0.01),
                 "%s: (serve says it is stopping)" % what, sv.log()[-2000:])
            proxy.release()
            try:
                sv.proc.wait(60 * W.SLOW)
            except subprocess.TimeoutExpired:
                pass
            t.eq(sv.proc.poll(), 0, "%s: serve exits 0" % what, sv.log()[-2000:])
            states = dict(b.db("SELECT wamid, state FROM messages WHERE wamid LIKE ?",
                               "wamid.STOPB%%.%d" % os.getpid()))
            t.eq([states.get(w) for w in wamids], ["delivered", "rendered", "rendered"],
                 "%s: the held mail delivered, the other stations' back to 'rendered', "
                 "none left 'delivering'" % what, states)
            back = b.db("SELECT count(*) FROM events e JOIN messages m ON m.id = e.message_id "
                        "WHERE m.wamid IN (?, ?) AND e.old = 'delivering' AND e.new = "
                        "'rendered'", wamids[1], wamids[2])[0][0]
            t.eq(back, 2, "%s: (both were in the batch: their events go 'delivering' → "
                 "'rendered')" % what)
            t.ok("pass failed" not in sv.log()[logged:],
                 "%s: the stop is not logged as a failed pass" % what, sv.log()[logged:])
            t.eq([W.message_ids(u).count(mid(w)) for u, w in zip(users, wamids)], [1, 0, 0],
                 "%s: only the held mail is in its mailbox" % what)
            if not t.ok(sv.start(), "%s: serve starts again" % what, sv.log()[-2000:]):
                return
            t.ok(W.wait_for(lambda: W.pending(b) == 0, 60, 0.2),
                 "%s: the next start delivers the rest" % what)
            t.eq(sv.stop(), 0, "%s: and exits 0 on SIGTERM" % what)
            t.eq([W.message_ids(u).count(mid(w)) for u, w in zip(users, wamids)], [1, 1, 1],
                 "%s: each of the three is one mail in its station's mailbox" % what)
    finally:
        proxy.stop()


def test(t):
    if not W.IMAP_PORT:
        t.skip("serve crash rounds", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    W.reset_mailboxes()
    b = W.Bridge()
    proxy = imapproxy.IMAPProxy(W.IMAP_PORT).start()
    W.set_key(b.config, "imap", "url", "imap://127.0.0.1:%d" % proxy.port)
    accepted = []
    try:
        with W.Serve(b) as sv:
            for n, (what, kill_after, how) in enumerate(ROUNDS, 1):
                t0 = time.monotonic()
                if not one_round(t, b, sv, proxy, n, what, kill_after, how, accepted):
                    break
                print("# %s: %.1f s" % (what, time.monotonic() - t0))
    finally:
        proxy.stop()
    counts = collections.Counter(W.message_ids("bhowanipore"))
    t.ok(accepted and all(counts[mid(w)] == 1 for w in accepted),
         "across all rounds: the %d POSTs answered 200 are %d mails, one each" %
         (len(accepted), len(accepted)))
    t.eq(sum(counts.values()), len(counts), "across all rounds: no mail twice")
    log = "".join(open(os.path.join(b.dir, f), errors="replace").read()
                  for f in os.listdir(b.dir) if f.startswith("serve."))
    t.ok("ERROR: AddressSanitizer" not in log and "runtime error:" not in log,
         "no sanitizer report in any of the daemon's logs")
    stop_between_stations(t)


W.Tap().run(test)
