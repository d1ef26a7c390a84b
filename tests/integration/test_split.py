"""`#new` end to end: a citizen wrote about two incidents within one complaint; an officer
answers the mail of the message that starts the second one with #new. That message and
the later ones move to a new complaint (a new reference, opened at that message's time);
the old thread gets a note, the new thread starts with a root mail that carries the moved
mails as message/rfc822; the citizen's next message threads under that root with the new
reference; a number in a reply to the new thread registers the new complaint; the new
complaint is acknowledged once with its own reference, the old one not again; a replay
splits nothing twice; and every #new that cannot be done is refused, told in the thread,
and moves nothing. Real private Dovecot, dry-run sends, the clock pinned."""

import email.utils
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

PNID = "441880000100101"          # bhowanipore
USER = "bhowanipore"
OFFICER = "si.das@police.test"
OFFICER_NAME = "SI Anita Das"
CITIZEN = "919830111222"
T0 = 1796536800                   # 2026-12-06 11:30 IST


def at(t):
    return {"WABRIDGE_NOW": str(t)}


class Setup:
    def __init__(self):
        W.reset_mailboxes()
        self.b = W.Bridge(duty=True, bridge_extra="digest_hour = -1\n"
                          "signature_reminder_hours = 0")
        W.set_key(self.b.config, "station:bhowanipore", "officers", OFFICER)
        self.n = 0

    def message(self, text, when):
        self.n += 1
        wamid = "wamid.SPL%04d" % self.n
        body = W.single(PNID, CITIZEN, wamid, when, text, name="Anne Roy")
        rc, _, err = self.b.ingest(body, env=at(when))
        assert rc == 0, err
        return wamid

    def run(self, when):
        rc, _, err = self.b.run("run", env=at(when))
        assert rc in (0, 75), err
        return err

    def reply(self, mail, when):
        return self.b.run("reply", stdin=mail, env=at(when))

    def ref(self, wamid):
        return self.b.db("SELECT c.ref FROM messages m JOIN complaints c ON c.id = "
                         "m.complaint_id WHERE m.wamid = ?", wamid)[0][0]

    def mail_of(self, wamid):
        return [m for m in W.mailbox(USER) if m[3]["X-WhatsApp-Message-Id"] == wamid][0]

    def sends(self, ref, purpose=None):
        return self.b.db("SELECT o.kind, o.text, o.context_wamid FROM outbox o JOIN "
                         "complaints c ON c.id = o.complaint_id WHERE c.ref = ? AND "
                         "o.purpose IS NOT DISTINCT FROM ? ORDER BY o.id", ref, purpose)


def reply_mail(original, text, irt="auto", subject=None):
    o = original[3]
    irt = o["Message-ID"] if irt == "auto" else irt
    lines = ["From: %s <%s>" % (OFFICER_NAME, OFFICER), "To: %s" % o["Reply-To"],
             "Subject: Re: %s" % (subject or o["Subject"]), "Date: %s" % email.utils.formatdate(),
             "Message-ID: %s" % email.utils.make_msgid(domain="police.test"),
             "MIME-Version: 1.0"]
    if irt:
        lines += ["In-Reply-To: %s" % irt, "References: %s" % irt]
    lines += ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
              text, "", "> (the citizen's message)"]
    return ("\r\n".join(lines) + "\r\n").encode()


def flags(m):
    return {f.decode() if isinstance(f, bytes) else f for f in m[1]}


def test_split(t):
    s = Setup()
    m1 = s.message("My phone was stolen at the market.", T0)
    m2 = s.message("The phone is a black Samsung.", T0 + 600)
    m3 = s.message("Also, my neighbour's scooter was damaged last night.", T0 + 1200)
    m4 = s.message("The scooter number is WB01 1234.", T0 + 1500)
    s.run(T0 + 1600)
    old = s.ref(m1)
    t.eq({s.ref(w) for w in (m2, m3, m4)}, {old}, "(four messages, one complaint)")
    t.eq(len(s.sends(old, "ack")), 1, "(the complaint is acknowledged)")

    split = reply_mail(s.mail_of(m3), "Separate incident: the scooter.\n#new")
    rc, _, err = s.reply(split, T0 + 1700)
    t.eq(rc, 0, "the #new reply is accepted", err)
    new = s.ref(m3)
    t.ok(new != old and new.startswith("BHP-2026-") and ("split off into new complaint %s"
         % new) in err, "the message answered now belongs to a new complaint", (old, new, err))
    t.eq([s.ref(w) for w in (m1, m2, m3, m4)], [old, old, new, new],
         "it and the later message moved; the earlier ones stayed")
    row = s.b.db("SELECT opened_at, station, citizen, state, first_wamid, root FROM "
                 "complaints WHERE ref = ?", new)[0]
    t.eq(row[:5], (T0 + 1200, "bhowanipore", CITIZEN, "open", m3),
         "the new complaint: opened at the split message's time, same station and citizen, "
         "its first wamid a real one")
    root_local = row[5] or ""
    t.ok(root_local.startswith("wb-split-"), "its first mail is the bridge's root", row)
    t.eq(s.b.db("SELECT state FROM complaints WHERE ref = ?", old), [("open",)],
         "the old complaint stays open")
    t.eq(s.b.db("SELECT wamid, moved, officer FROM splits"), [(m3, 2, OFFICER)],
         "one splits row")

    s.run(T0 + 1800)
    box = W.mailbox(USER)
    notes = [m for m in box if m[3]["X-Wabridge-Split"]]
    t.eq(len(notes), 1, "the old thread holds one split note")
    if notes:
        n = notes[0][3]
        body = W.text_of(n)
        t.eq(n["Subject"], "[%s] Split: 2 messages moved to new complaint %s" % (old, new),
             "its subject tells the story")
        t.ok(n["In-Reply-To"] == "<%s@%s>" % (m1, W.DOMAIN), "threaded under the old complaint",
             n["In-Reply-To"])
        t.ok(OFFICER_NAME in body and new in body and "scooter was damaged" in body and
             "WB01 1234" in body and "wamid." not in body,
             "it names the officer, the new reference and each moved message (no raw ids)",
             body)
    roots = [m for m in box if m[3]["Message-ID"] == "<%s@%s>" % (root_local, W.DOMAIN)]
    t.eq(len(roots), 1, "the new thread's root mail is in the mailbox")
    if roots:
        raw, r = roots[0][2], roots[0][3]
        body = W.text_of(r)
        t.eq(r["Subject"], "[%s] Also, my neighbour's scooter was damaged last night." % new,
             "its subject is the split message's summary under the new reference")
        t.ok(("complaint+%s." % new) in r["Reply-To"], "Reply-To is the new complaint's",
             r["Reply-To"])
        t.ok(r["In-Reply-To"] is None, "it starts a thread")
        t.ok(("Split from %s by %s" % (old, OFFICER_NAME)) in body and
             ("these messages were first filed under %s" % old) in body and
             "WB01 1234" in body, "its body says where they came from and what they say",
             body)
        t.ok(("as delivered under %s (photos and files included) stay in that "
              "complaint's thread" % old) in body,
             "it says the delivered mails stay in the old thread (their bytes have left "
             "the database; the mailbox holds them)", body)
        left = s.b.db("SELECT count(*) FROM rendered r JOIN messages m ON m.id = r.msg "
                      "WHERE m.wamid IN (?, ?)", m3, m4)[0][0]
        t.eq(left, 0, "no delivered mail's bytes are kept for it")
    acks = s.sends(new, "ack")
    t.eq(len(acks), 1, "the new complaint is acknowledged")
    if acks:
        t.ok(new in acks[0][1] and acks[0][2] == m3,
             "with the new reference, quoting the real message (not the root)", acks[0])
    t.eq(len(s.sends(old, "ack")), 1, "the old complaint is not acknowledged again")

    m5 = s.message("Any news about the scooter?", T0 + 2000)
    s.run(T0 + 2100)
    t.eq(s.ref(m5), new, "a later message joins the new complaint")
    later = s.mail_of(m5)[3]
    root_id = "<%s@%s>" % (root_local, W.DOMAIN)
    t.ok(later["Subject"].startswith("[%s]" % new) and later["In-Reply-To"] == root_id and
         root_id in later["References"], "it threads under the new root, with the new "
         "reference", (later["Subject"], later["In-Reply-To"], later["References"]))

    if roots:
        rc, _, err = s.reply(reply_mail(roots[0], "Complaint No. 15/2026"), T0 + 2200)
        t.eq(rc, 0, "a reply to the root with a number", err)
        t.eq(s.b.db("SELECT ref, number FROM complaints ORDER BY id"),
             [(old, None), (new, "15/2026")], "registers the new complaint")
        sends = s.sends(new)
        t.ok(len(sends) == 2 and new in sends[0][1] and "Separate incident" in sends[0][1],
             "the #new reply's words went to the citizen under the new reference", sends)
        t.ok(len(sends) == 2 and new in sends[1][1] and "15/2026" in sends[1][1],
             "and the citizen gets the number with the new reference", sends)
        s.run(T0 + 2300)
        root_now = [m for m in W.mailbox(USER) if m[3]["Message-ID"] == root_id]
        t.ok(root_now and "$WA_Registered" in flags(root_now[0]),
             "the root mail carries $WA_Registered", root_now and flags(root_now[0]))

    rc, _, err = s.reply(split, T0 + 2400)
    t.ok(rc == 0 and "already accepted" in err, "the same #new reply again is a replay", err)
    t.eq(s.b.db("SELECT count(*) FROM complaints"), [(2,)], "no third complaint")
    t.eq(s.b.db("SELECT count(*) FROM splits"), [(1,)], "still one split")
    rc, out, err = s.b.run("complaint", old)
    t.ok(rc == 0 and ("split into %s by %s" % (new, OFFICER)) in out,
         "`complaint OLD` shows the split", out + err)
    rc, out, err = s.b.run("complaint", new)
    t.ok(rc == 0 and ("split from %s by %s" % (old, OFFICER)) in out,
         "`complaint NEW` shows where it came from", out + err)
    if roots:
        rc, _, err = s.reply(reply_mail(roots[0], "Gariahat's area.\n#transfer GRH"), T0 + 2500)
        t.eq(rc, 0, "the new complaint is transferred by a reply to its root", err)
        s.run(T0 + 2600)
        there = [m[3]["Message-ID"] for m in W.mailbox("jadavpur")]
        t.ok(root_id in there and "<%s@%s>" % (m5, W.DOMAIN) in there,
             "its root mail goes along to the new station's mailbox", there)
        t.eq(s.b.db("SELECT station FROM complaints ORDER BY id"),
             [("bhowanipore",), ("gariahat",)], "the old complaint stays")


def test_number_with_new(t):
    s = Setup()
    m1 = s.message("My bicycle was stolen.", T0)
    m2 = s.message("Separately: a man threatened me at the bus stop.", T0 + 300)
    s.run(T0 + 400)
    old = s.ref(m1)
    rc, _, err = s.reply(reply_mail(s.mail_of(m2), "#new Complaint No. 21/2026"), T0 + 500)
    t.eq(rc, 0, "#new with a complaint number in one reply", err)
    new = s.ref(m2)
    t.eq(s.b.db("SELECT ref, number FROM complaints ORDER BY id"),
         [(old, None), (new, "21/2026")], "the number registers the NEW complaint")
    sends = s.sends(new)
    t.ok(len(sends) == 1 and new in sends[0][1] and "21/2026" in sends[0][1] and
         old not in sends[0][1], "the citizen gets it with the new reference", sends)
    t.eq(s.sends(old), [], "nothing goes under the old reference")


def test_refusals(t):
    s = Setup()
    m1 = s.message("My bicycle was stolen.", T0)
    m2 = s.message("It is a red Hero bicycle.", T0 + 300)
    s.run(T0 + 400)
    ref = s.ref(m1)
    first, second = s.mail_of(m1), s.mail_of(m2)
    cases = [
        ("no In-Reply-To or References", reply_mail(second, "#new", irt=None),
         "no mail at all"),
        ("a reply to a note of the bridge",
         reply_mail(second, "#new", irt="<wb-out-1@%s>" % W.DOMAIN), "not a citizen's message"),
        ("a reply to a mail elsewhere", reply_mail(second, "#new", irt="<x@police.test>"),
         "no mail of the bridge"),
        ("an unknown message", reply_mail(second, "#new", irt="<wamid.NOPE@%s>" % W.DOMAIN),
         "not a citizen's message"),
        ("the first message", reply_mail(first, "#new"), "first message of %s" % ref),
        ("with #transfer", reply_mail(second, "#new #transfer GRH"), "send one at a time"),
        ("with #close", reply_mail(second, "#new #close"), "send one at a time"),
    ]
    for what, mail, want in cases:
        rc, _, err = s.reply(mail, T0 + 500)
        t.ok(rc == 65 and want in err, "%s: refused (65) with the reason" % what, err)
    rc, _, err = s.reply(reply_mail(first, "Recovered. #close"), T0 + 600)
    t.eq(rc, 0, "(the complaint is closed)", err)
    rc, _, err = s.reply(reply_mail(second, "#new"), T0 + 700)
    t.ok(rc == 65 and "%s is closed" % ref in err, "a closed complaint: refused", err)
    t.eq(s.b.db("SELECT count(*) FROM complaints"), [(1,)], "no complaint was split off")
    t.eq({s.ref(m1), s.ref(m2)}, {ref}, "nothing moved")
    t.eq(s.b.db("SELECT count(*) FROM splits"), [(0,)], "no split recorded")
    t.eq(s.b.db("SELECT count(*) FROM replies WHERE state = 'refused'"), [(len(cases) + 1,)],
         "each kept as refused")
    t.eq(s.b.db("SELECT count(*) FROM outbox o JOIN replies r ON r.id = o.reply_id WHERE "
                "r.state != 'accepted'"), [(0,)], "nothing sent to the citizen")
    s.run(T0 + 800)
    told = [m for m in W.mailbox(USER) if m[3]["X-Wabridge-Refused-Reply"]]
    t.eq(len(told), len(cases) + 1, "each refusal is told in the thread")
    t.ok(told and all("Split NOT done" in m[3]["Subject"] for m in told),
         "as a split that was not done", [m[3]["Subject"] for m in told])


def main():
    if not W.IMAP_PORT:
        W.Tap().run(lambda t: t.skip("split", "no private Dovecot"))
        return
    only = os.environ.get("WB_TEST_ONLY")
    W.Tap().run(lambda t: [f(t) for f in (test_split, test_number_with_new, test_refusals)
                           if not only or only in f.__name__])


main()
