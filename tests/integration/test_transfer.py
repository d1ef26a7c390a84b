"""`#transfer CODE` end to end (issue 10): an officer of Bhowanipore moves a complaint to
Gariahat. The complaint's mails are then in Gariahat's mailbox under the same
Message-IDs (a message not yet delivered goes there only), both threads hold a note, the
citizen is told in their language which station holds it now, their next message to
Bhowanipore's number lands at Gariahat, and a reply from Bhowanipore is refused with the
reason. An unknown code is refused with the list of codes; a replay and a second run
change nothing; odd codes and a closed complaint are refused. Runs in dry-run mode: the
outbox row and its record are what the citizen would get."""

import email.utils
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

BHP_PNID = "441880000100101"
OFFICER = "oc.bhowanipore@police.test"
GRH_OFFICER = "oc.gariahat@police.test"
CITIZEN = "919830111222"
CODES = ("BHP (Bhowanipore Police Station), GRH (Gariahat Police Station), "
         "PST (Parkstreet Police Station)")


class Setup:
    def __init__(self):
        W.reset_mailboxes()
        self.b = W.Bridge()
        cfg = self.b.config
        for key, value in (("send_ack", "false"), ("sla_hours", "0"), ("digest_hour", "-1"),
                           ("signature_reminder_hours", "0")):
            W.set_key(cfg, "bridge", key, value)
        W.set_key(cfg, "station:bhowanipore", "officers", OFFICER)
        W.set_key(cfg, "station:gariahat", "officers", GRH_OFFICER)
        self.n = 0

    def message(self, text, age=600, sender=CITIZEN, deliver=True):
        self.n += 1
        wamid = "wamid.TRF%04d" % self.n
        body = W.single(BHP_PNID, sender, wamid, int(time.time()) - age, text, name="সুমনা রায়")
        rc, _, err = self.b.ingest(body)
        assert rc == 0, err
        if deliver:
            rc, _, err = self.b.run("run")
            assert rc == 0, err
        return wamid

    def ref_of(self, wamid):
        return self.b.db("SELECT c.ref FROM messages m JOIN complaints c ON c.id = "
                         "m.complaint_id WHERE m.wamid = ?", wamid)[0][0]

    def reply(self, mail):
        return self.b.run("reply", stdin=mail)


def by_wamid(user, wamid):
    return [m for m in W.mailbox(user) if m[3]["X-WhatsApp-Message-Id"] == wamid and
            not m[3]["X-Wabridge-Outbox"]]


def reply_mail(original, text, sender=OFFICER, msgid=None):
    o = original[3]
    lines = ["From: Officer in Charge <%s>" % sender, "To: %s" % o["Reply-To"],
             "Subject: Re: %s" % o["Subject"],
             "Date: %s" % email.utils.formatdate(localtime=True),
             "Message-ID: %s" % (msgid or email.utils.make_msgid(domain="police.test")),
             "MIME-Version: 1.0", "In-Reply-To: %s" % o["Message-ID"],
             "References: %s" % o["Message-ID"],
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
             text, "", "On %s, %s wrote:" % (o["Date"], o["From"]), "> (the complaint)"]
    return ("\r\n".join(lines) + "\r\n").encode()


def notes(user, header):
    return [m for m in W.mailbox(user) if m[3][header]]


def snapshot(s):
    return (sorted(m[3]["Message-ID"] for m in W.mailbox("bhowanipore")),
            sorted(m[3]["Message-ID"] for m in W.mailbox("jadavpur")),
            s.b.db("SELECT station, state, duty_at >= 0 FROM complaints ORDER BY id"),
            s.b.db("SELECT count(*) FROM outbox"), s.b.db("SELECT count(*) FROM transfers"))


def test_end_to_end(t):
    s = Setup()
    first = s.message("আমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে।")
    ref = s.ref_of(first)
    opened = s.b.db("SELECT opened_at FROM complaints")[0][0]
    root = by_wamid("bhowanipore", first)[0]
    # One more message arrives and is not yet delivered when the transfer comes.
    waiting = s.message("ফোনটা কালো রঙের স্যামসাং।", age=300, deliver=False)
    t.eq(s.b.db("SELECT state FROM messages WHERE wamid = ?", waiting), [("received",)],
         "(a second message waits, not yet delivered)")

    transfer = reply_mail(root, "ঘটনাস্থল গড়িয়াহাট থানার এলাকায়।\n#transfer grh")
    rc, _, err = s.reply(transfer)
    t.eq(rc, 0, "the transfer reply is accepted", err)
    t.ok("transferred from bhowanipore to gariahat" in err, "and says so", err)
    t.eq(s.b.db("SELECT station, opened_at, state FROM complaints"),
         [("gariahat", opened, "open")],
         "the complaint is now Gariahat's, open, its clock (opened_at) unchanged")
    t.eq(s.b.db("SELECT from_station, to_station, officer FROM transfers"),
         [("bhowanipore", "gariahat", OFFICER)], "one transfers row")
    t.eq(s.b.db("SELECT station FROM messages WHERE wamid = ?", waiting), [("gariahat",)],
         "the waiting message moves to Gariahat")
    rows = s.b.db("SELECT purpose, kind, lang, text, station FROM outbox")
    t.eq(len(rows), 1, "one outbox row for the reply", rows)
    if rows:
        purpose, kind, lang, text, station = rows[0]
        t.eq((purpose, kind, lang, station), ("transfer", "text", "bn", "gariahat"),
             "the citizen is told by a transfer notice, a text in Bengali")
        t.ok("Gariahat Police Station" in text and ref in text and "আপনার অভিযোগ" in text and
             "Bhowanipore Police Station" in text and "ঘটনাস্থল" in text and
             "#transfer" not in text,
             "the notice names the new station, the old one, the reference and carries the "
             "officer's words (not the tag)", text)

    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "run carries it out", err)
    grh = W.mailbox("jadavpur")
    ids = {m[3]["Message-ID"] for m in grh}
    t.ok(root[3]["Message-ID"] in ids, "the first mail is in Gariahat's mailbox, same "
         "Message-ID", sorted(ids))
    moved = by_wamid("jadavpur", waiting)
    t.eq(len(moved), 1, "the waiting message went to Gariahat's mailbox", sorted(ids))
    t.eq(by_wamid("bhowanipore", waiting), [], "and not to Bhowanipore's")
    if moved:
        t.ok("gariahat.ps@police.test" in moved[0][3]["To"], "rendered for Gariahat",
             moved[0][3]["To"])
        t.ok(root[3]["Message-ID"] in moved[0][3]["References"], "threaded under the first mail")
    arrived = [m for m in grh if m[3]["X-Wabridge-Transfer"]]
    t.eq(len(arrived), 1, "Gariahat's thread holds one transfer note")
    if arrived:
        n = arrived[0][3]
        body = W.text_of(n)
        t.ok(n["In-Reply-To"] == root[3]["Message-ID"] and n["Subject"].startswith("[%s]" % ref),
             "in the complaint's thread", (n["In-Reply-To"], n["Subject"]))
        t.ok("Bhowanipore Police Station" in body and OFFICER in body and "ঘটনাস্থল" in body,
             "saying from which station, by which officer and why", body)
    left = [m for m in W.mailbox("bhowanipore") if m[3]["X-Wabridge-Transfer"]]
    t.eq(len(left), 1, "Bhowanipore's thread holds one transfer note")
    if left:
        body = W.text_of(left[0][3])
        t.ok("Gariahat Police Station" in body and "refused" in body,
             "saying where it went and that replies must come from there", body)
    record = [m for m in grh if m[3]["X-Wabridge-Outbox"]]
    t.ok(len(record) == 1 and "transfer" in record[0][3]["Subject"],
         "the record of the notice is in Gariahat's thread", [m[3]["Subject"] for m in grh])

    later = s.message("আজ থানায় যেতে পারব?", age=60)
    t.eq(s.b.db("SELECT m.station, c.ref FROM messages m JOIN complaints c ON c.id = "
                "m.complaint_id WHERE m.wamid = ?", later), [("gariahat", ref)],
         "a later message to Bhowanipore's number joins the complaint at Gariahat")
    t.eq(len(by_wamid("jadavpur", later)), 1, "and lands in Gariahat's mailbox")
    t.eq(by_wamid("bhowanipore", later), [], "not in Bhowanipore's")

    rc, _, err = s.reply(reply_mail(root, "Complaint No. 5/2026"))
    t.eq(rc, 77, "a reply from Bhowanipore's officer is refused", err)
    t.ok("%s was transferred to Gariahat Police Station (GRH) on " % ref in err and
         "replies must come from its officers" in err, "with the reason", err)
    rc, _, err = s.b.run("run")
    refused = [m for m in W.mailbox("bhowanipore") if m[3]["X-Wabridge-Refused-Reply"]]
    t.ok(len(refused) == 1 and "transferred to Gariahat" in W.text_of(refused[0][3]),
         "Bhowanipore is told in its thread", err)
    t.eq(s.b.db("SELECT count(*) FROM outbox"), [(1,)], "nothing more was sent")

    rc, _, err = s.reply(reply_mail(by_wamid("jadavpur", first)[0], "#transfer XYZ",
                                    sender=GRH_OFFICER))
    t.eq(rc, 65, "an unknown code is refused (65)", err)
    t.ok("no station has code XYZ; the codes are %s" % CODES in err, "with the list", err)
    t.eq(s.b.db("SELECT station FROM complaints"), [("gariahat",)], "nothing changed")

    rc, _, err = s.reply(transfer)
    t.ok(rc == 0 and "already accepted" in err, "the transfer reply again is a replay", err)
    rc, _, err = s.reply(reply_mail(by_wamid("jadavpur", first)[0], "Complaint No. 7/2026",
                                    sender=GRH_OFFICER))
    t.eq(rc, 0, "Gariahat's officer answers through the mail in its own mailbox", err)
    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "run", err)
    before = snapshot(s)
    rc, _, err = s.b.run("run")
    t.ok(rc == 0 and snapshot(s) == before, "a second run changes nothing", err)
    t.eq(s.b.db("SELECT count(*) FROM transfers"), [(1,)], "still one transfer")
    rc, out, err = s.b.run("complaint", ref)
    t.ok(rc == 0 and "transferred from station bhowanipore to gariahat by %s" % OFFICER in out
         and "at station gariahat" in out, "`complaint REF` shows the transfer", out + err)
    rc, out, err = s.b.run("complaints")
    t.ok(rc == 0 and any(ref in ln and "gariahat" in ln for ln in out.splitlines()),
         "`complaints` shows the current station", out + err)


def test_outside_window(t):
    s = Setup()
    first = s.message("My phone was stolen near the crossing.", age=2 * 86400)
    ref = s.ref_of(first)
    root = by_wamid("bhowanipore", first)[0]
    rc, _, err = s.reply(reply_mail(root, "Complaint No. 12/2026 #transfer GRH"))
    t.eq(rc, 0, "a transfer with a complaint number outside the window", err)
    rows = s.b.db("SELECT kind, template, params, lang, purpose FROM outbox")
    t.eq(rows, [("template", "complaint_transferred",
                 '["%s","Gariahat Police Station","Bhowanipore Police Station"]' % ref, "en",
                 "transfer")],
         "one send: the approved transfer template (reference, new, old station)")
    t.eq(s.b.db("SELECT number, station FROM complaints"), [("12/2026", "gariahat")],
         "the number is recorded with the transfer")
    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "run", err)
    t.ok("$WA_Registered" in {f.decode() if isinstance(f, bytes) else f
                              for f in by_wamid("jadavpur", first)[0][1]},
         "the first mail in Gariahat's mailbox carries $WA_Registered")


def test_bad_input(t):
    s = Setup()
    first = s.message("আমার সাইকেল চুরি হয়েছে।")
    ref = s.ref_of(first)
    root = by_wamid("bhowanipore", first)[0]
    cases = [
        ("a code with odd characters", "#transfer G@R!", "the codes are " + CODES),
        ("a code too long", "#transfer GARIAHATPS", "not followed by one station code"),
        ("#transfer with nothing after it", "Please move this.\n#transfer", "the codes are"),
        ("#transfer then a line break", "#transfer\nGRH", "not followed by one station code"),
        ("two transfers", "#transfer GRH #transfer PST", "not followed by one station code"),
        ("its own station", "#transfer bhp", "the code of this station"),
        ("close and transfer", "#close #transfer GRH", "send one of the two"),
    ]
    for what, text, want in cases:
        rc, _, err = s.reply(reply_mail(root, text))
        t.ok(rc == 65 and want in err, "%s: refused (65) with the reason" % what, err)
    t.eq(s.b.db("SELECT station, state FROM complaints"), [("bhowanipore", "open")],
         "none of them changed the complaint")
    t.eq(s.b.db("SELECT count(*) FROM outbox") + s.b.db("SELECT count(*) FROM transfers"),
         [(0,), (0,)], "nothing sent, nothing transferred")
    t.eq(s.b.db("SELECT DISTINCT state FROM replies"), [("refused",)], "each kept as refused")
    rc, _, err = s.b.run("run")
    told = [m for m in W.mailbox("bhowanipore") if m[3]["X-Wabridge-Refused-Reply"]]
    t.eq(len(told), len(cases), "each refusal is told in the thread", err)
    rc, _, err = s.reply(reply_mail(root, "Closed: stolen bicycle recovered. #close"))
    t.eq(rc, 0, "(the complaint is closed)", err)
    rc, _, err = s.reply(reply_mail(root, "#transfer GRH"))
    t.ok(rc == 65 and "%s is closed" % ref in err, "a closed complaint is not transferred",
         err)
    t.eq(s.b.db("SELECT station, state FROM complaints"), [("bhowanipore", "closed")],
         "it stays closed at Bhowanipore")


def main():
    if not W.IMAP_PORT:
        W.Tap().run(lambda t: t.skip("transfer", "no private Dovecot"))
        return
    only = os.environ.get("WB_TEST_ONLY")
    W.Tap().run(lambda t: [f(t) for f in (test_end_to_end, test_outside_window, test_bad_input)
                           if not only or only in f.__name__])


main()
