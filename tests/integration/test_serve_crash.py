"""`wabridge serve` killed with SIGKILL (SPEC §7: nothing accepted is lost, exactly once).

Client threads stream signed POSTs with unique wamids while the daemon delivers; the
daemon is killed at a different point in each round: right after start, early in the
stream, later in the stream, and with no POST in flight while the worker works off a
backlog. Then serve is started again on the same config and left to drain. Every POST
answered 200 must then be exactly one mail in the mailbox; a POST that got no answer may
or may not be there, but no Message-ID is ever there twice and nothing stays
'delivering'."""

import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

BHP = W.STATIONS[0][2]

# (what, kill after this many 200s, None: still posting at the kill, else: stop posting
# and kill this many seconds later, while the worker works off the backlog)
ROUNDS = [
    ("killed early in the stream", 1, None),
    ("killed mid-stream", 12, None),
    ("killed later in the stream", 40, None),
    ("killed 0.02 s into a backlog", 40, 0.02),
    ("killed 0.1 s into a backlog", 40, 0.1),
    ("killed 0.3 s into a backlog", 60, 0.3),
]


def mid(wamid):
    return "<%s@%s>" % (wamid, W.DOMAIN)


def one_round(t, b, sv, n, what, kill_after, backlog, accepted_all):
    tag = "CRASH%d.%d" % (n, os.getpid())
    if not t.ok(sv.start(), "%s: serve starts" % what, sv.log()[-2000:]):
        return False
    p = W.Poster(sv, BHP, tag, threads=3).start()
    got = W.wait_for(lambda: p.ok_count() >= kill_after, 15, 0.005)
    if backlog is not None:
        p.stop()
        time.sleep(backlog)  # the worker is busy with the backlog now
    sv.send_signal(signal.SIGKILL)
    sv.proc.wait(10)
    p.stop()
    ok = p.accepted()
    lost_answers = sum(1 for v in p.results.values() if v is None)
    others = sorted(set(str(v) for v in p.results.values() if v not in (200, None)))
    t.ok(got and ok, "%s: %d POSTs answered 200 before SIGKILL (%d without an answer)" %
         (what, len(ok), lost_answers), sv.log()[-2000:])
    t.eq(others, [], "%s: every answer was 200 (or none, once killed)" % what)
    t.eq(sv.proc.returncode, -signal.SIGKILL, "%s: the daemon died of SIGKILL" % what)
    t.eq(b.db("PRAGMA integrity_check"), [("ok",)], "%s: the database is intact" % what)
    in_db = W.wamids_in_bodies(b)
    t.eq([w for w in ok if w not in in_db], [],
         "%s: every POST answered 200 was committed (table bodies) before its answer" % what)
    accepted_all.extend(ok)
    left = dict(b.db("SELECT state, count(*) FROM messages WHERE wamid LIKE ? GROUP BY state",
                     "wamid.%s.%%" % tag))
    left["bodies not yet expanded"] = b.db("SELECT count(*) FROM bodies WHERE state = 'new'")[0][0]
    print("# %s: at the kill: %r" % (what, left))
    if backlog is not None:
        t.ok(W.pending(b) > 0, "%s: (the worker still had work when it was killed)" % what,
             left)

    # Restart, drain, stop.
    if not t.ok(sv.start(), "%s: serve starts again on the same state" % what,
                sv.log()[-2000:]):
        return False
    drained = W.wait_for(lambda: W.pending(b) == 0, 20, 0.2)
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


def test(t):
    if not W.IMAP_PORT:
        t.skip("serve crash rounds", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    W.reset_mailboxes()
    b = W.Bridge()
    accepted = []
    with W.Serve(b) as sv:
        for n, (what, kill_after, backlog) in enumerate(ROUNDS, 1):
            t0 = time.monotonic()
            if not one_round(t, b, sv, n, what, kill_after, backlog, accepted):
                break
            print("# %s: %.1f s" % (what, time.monotonic() - t0))
    counts = collections.Counter(W.message_ids("bhowanipore"))
    t.ok(accepted and all(counts[mid(w)] == 1 for w in accepted),
         "across all rounds: the %d POSTs answered 200 are %d mails, one each" %
         (len(accepted), len(accepted)))
    t.eq(sum(counts.values()), len(counts), "across all rounds: no mail twice")
    log = "".join(open(os.path.join(b.dir, f), errors="replace").read()
                  for f in os.listdir(b.dir) if f.startswith("serve."))
    t.ok("ERROR: AddressSanitizer" not in log and "runtime error:" not in log,
         "no sanitizer report in any of the daemon's logs")


W.Tap().run(test)
