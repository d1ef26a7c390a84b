"""The station's duty (issue 10) end to end on the private Dovecot, with the bridge's clock
pinned by WABRIDGE_NOW so that hours pass without anybody waiting: the acknowledgement
(once per complaint, in the citizen's language, with and without the signature
instruction), the clock (due soon, overdue, both escalation tiers, each once across
`run`, `serve` and a SIGKILL), the clock stopping at `delivered` and not before, serious
words and #escalate, the signature reminder, and the daily digest read in mutt."""

import email.utils
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

PNID = "441880000100101"          # bhowanipore
USER = "bhowanipore"
OFFICER = "oc.bhowanipore@police.test"
T0 = 1796536800                   # 2026-12-06 11:30 IST
H = 3600
SMTP_PORT = os.environ.get("WB_SMTP_PORT")   # the private Postfix (tests/lib/postfix.sh)
SMTP_CA = os.environ.get("WB_SMTP_CA")
SMTP_DIR = os.environ.get("WB_SMTP_DIR")
TOKEN = "EAAduty-test-token-3e1f"


def at(t):
    return {"WABRIDGE_NOW": str(t)}


class Setup:
    def __init__(self, bridge_extra="digest_hour = -1", smtp=True):
        W.reset_mailboxes()
        self.b = W.Bridge(duty=True, bridge_extra=bridge_extra)
        cfg = self.b.config
        W.set_key(cfg, "station:bhowanipore", "officers", OFFICER)
        W.set_key(cfg, "station:bhowanipore", "escalate_to", "dcsouth@police.test")
        W.set_key(cfg, "station:bhowanipore", "escalate_late_to", "jtcp@police.test")
        if smtp and SMTP_PORT:
            W.set_key(cfg, "smtp", "url", "smtp://127.0.0.1:%s" % SMTP_PORT)
            W.set_key(cfg, "smtp", "ca_file", SMTP_CA)
            # The private Postfix relays only for a login (a Dovecot user's).
            W.write_secret(os.path.join(self.b.dir, "smtp.pass"), "secret")
            W.set_key(cfg, "smtp", "user", "wabridge")
            W.set_key(cfg, "smtp", "password_file", os.path.join(self.b.dir, "smtp.pass"))
        else:
            # No SMTP server: escalation mail waits in the queue.
            W.set_key(cfg, "smtp", "url", "smtp://127.0.0.1:%d" % W.free_port())
        self.n = 0

    def message(self, text, when, sender="919830111222", name="সুমনা রায়", msgs=None):
        self.n += 1
        wamid = "wamid.DUTY%04d" % self.n
        if msgs is None:
            m, c = W.text_message(sender, wamid, when, text, name)
            msgs = ([m], [c])
        body = W.payload(PNID, *msgs)
        rc, _, err = self.b.ingest(body, env=at(when))
        assert rc == 0, err
        return wamid

    def run(self, when):
        rc, out, err = self.b.run("run", env=at(when))
        assert rc in (0, 75), err
        return err

    def ref(self, wamid):
        return self.b.db("SELECT c.ref FROM messages m JOIN complaints c ON c.id = "
                         "m.complaint_id WHERE m.wamid = ?", wamid)[0][0]

    def duties(self, ref):
        return sorted(k for (k,) in self.b.db(
            "SELECT d.kind FROM duties d JOIN complaints c ON c.id = d.complaint_id WHERE "
            "c.ref = ?", ref))

    def sends(self, ref, purpose):
        return self.b.db("SELECT o.kind, o.lang, o.text, o.template, o.params, o.state FROM "
                         "outbox o JOIN complaints c ON c.id = o.complaint_id WHERE c.ref = ? "
                         "AND o.purpose = ? ORDER BY o.id", ref, purpose)

    def notes(self, ref):
        """The bridge's duty notes and send records in the complaint's thread."""
        return [m for m in W.mailbox(USER)
                if m[3]["X-Complaint-Ref"] == ref and not m[3]["X-WhatsApp-Type"]]

    def first(self, wamid):
        return [m for m in W.mailbox(USER) if m[3]["X-WhatsApp-Message-Id"] == wamid][0]


def flags(m):
    return {f.decode() if isinstance(f, bytes) else f for f in m[1]}


def image_message(sender, wamid, ts, caption):
    msg = {"from": sender, "id": wamid, "timestamp": str(ts), "type": "image",
           "image": {"caption": caption, "mime_type": "image/jpeg",
                     "sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                     "id": "1480000000000001"}}
    return [msg], [{"profile": {"name": "Ravi Kumar"}, "wa_id": sender}]


def status_body(wamid, status, ts):
    st = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": "919830111222"}
    body = {"object": "whatsapp_business_account", "entry": [{"id": "209384756102938",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919831200101", "phone_number_id": PNID},
                "statuses": [st]}}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


def reply_mail(original, text, sender=OFFICER):
    o = original[3]
    lines = ["From: Officer in Charge <%s>" % sender, "To: %s" % o["Reply-To"],
             "Subject: Re: %s" % o["Subject"], "Date: %s" % email.utils.formatdate(),
             "Message-ID: %s" % email.utils.make_msgid(domain="police.test"),
             "MIME-Version: 1.0", "In-Reply-To: %s" % o["Message-ID"],
             "References: %s" % o["Message-ID"], "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit", "", text]
    return ("\r\n".join(lines) + "\r\n").encode()


# ---- acknowledgement ----------------------------------------------------------------------

def test_ack(t):
    s = Setup()
    bn = s.message("আমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে।", T0)
    hi = s.message("मेरा बटुआ बस में चोरी हो गया।", T0, sender="919830222333", name="Ravi")
    en = s.message("My bicycle was stolen from the market.", T0, sender="919830333444",
                   name="Anne")
    photo = s.message(None, T0, msgs=image_message("919830444555", "wamid.DUTYPHOTO", T0,
                                                   "मेरी लिखित शिकायत"))
    s.run(T0 + 60)
    s.run(T0 + 120)  # a second pass acknowledges nothing twice
    for wamid, lang, needle, paper in (
            (bn, "bn", "আপনার অভিযোগ আমরা পেয়েছি", "সই করুন"),
            (hi, "hi", "हमें आपकी शिकायत मिल गई है", "हस्ताक्षर करें"),
            (en, "en", "we have received your complaint", "sign it")):
        ref = s.ref(wamid)
        sends = s.sends(ref, "ack")
        t.eq(len(sends), 1, "%s: one acknowledgement for the complaint" % lang)
        kind, got_lang, text, _, _, state = sends[0]
        t.eq(got_lang, lang, "%s: the acknowledgement is in the citizen's language" % lang)
        t.ok(needle in text and ref in text and "Bhowanipore Police Station" in text,
             "%s: it names the reference and the station" % lang, text)
        t.ok(paper in text, "%s: no photo yet, so it asks for the signed paper" % lang, text)
        t.eq(state, "accepted", "%s: sent (dry run) through the outbox" % lang)
    ref = s.ref("wamid.DUTYPHOTO")
    sends = s.sends(ref, "ack")
    t.eq(len(sends), 1, "photo: one acknowledgement")
    t.ok(sends and "हस्ताक्षर" not in sends[0][2] and sends[0][1] == "hi",
         "photo: a photo came, so no signature instruction (in Hindi)",
         sends and sends[0][2])
    # A follow-up message in the same complaint is not acknowledged again.
    s.message("আরেকটি কথা: ফোনটি কালো রঙের।", T0 + 300)
    s.run(T0 + 360)
    t.eq(len(s.sends(s.ref(bn), "ack")), 1, "a follow-up message brings no second ack")
    # The thread records it, and the first mail carries $WA_Acknowledged.
    ref = s.ref(bn)
    notes = [m for m in s.notes(ref) if "Acknowledged" in m[3]["Subject"]]
    t.eq(len(notes), 1, "the thread holds one record of the acknowledgement")
    t.ok("$WA_Acknowledged" in flags(s.first(bn)), "the first mail has $WA_Acknowledged",
         flags(s.first(bn)))
    # send_ack = false turns it off.
    s2 = Setup(bridge_extra="digest_hour = -1\nsend_ack = false")
    w = s2.message("Someone took my phone.", T0)
    s2.run(T0 + 60)
    t.eq(s2.sends(s2.ref(w), "ack"), [], "send_ack = false: no acknowledgement")


# ---- the clock ----------------------------------------------------------------------------

def count_notes(s, ref, title_part):
    return len([m for m in s.notes(ref) if title_part in (m[3]["X-Wabridge-Duty"] or "")])


def test_clock(t):
    s = Setup()
    w = s.message("আমার বাড়িতে চুরি হয়েছে।", T0)
    ref = s.ref(w)
    s.run(T0 + 60)
    s.run(T0 + 11 * H)
    t.eq([k for k in s.duties(ref) if k != "ack"], [], "11 h: nothing due yet")
    s.run(T0 + 12 * H + 1)
    t.eq([k for k in s.duties(ref) if k != "ack"], ["due_soon"], "12 h: due soon")
    t.eq(count_notes(s, ref, "Due soon"), 1, "the due-soon note is in the thread")
    # serve takes over at 24 h, is killed, and run goes on: each step once.
    with W.Serve(s.b, env=at(T0 + 24 * H + 5)) as sv:
        t.ok(sv.start(), "serve starts", sv.log())
        ok = W.wait_for(lambda: "overdue" in s.duties(ref) and not W.pending(s.b), 30)
        t.ok(ok, "serve: overdue at 24 h", "%r pending %r\n%s" % (
            s.duties(ref), W.pending(s.b), sv.log()))
        W.wait_for(lambda: s.b.db("SELECT count(*) FROM mailops WHERE state = 'pending'")
                   == [(0,)], 30)
        sv.kill()
    s.run(T0 + 24 * H + 10)
    got = [k for k in s.duties(ref) if k != "ack"]
    t.eq(got, ["due_soon", "overdue", "overdue_note"], "24 h: overdue once, across serve, "
         "SIGKILL and run")
    t.eq(count_notes(s, ref, "OVERDUE"), 1, "one overdue note in the thread")
    rc, out, _ = s.b.run("complaints", "--overdue", env=at(T0 + 24 * H + 10))
    t.ok(rc == 0 and ref in out and "[overdue]" in out and "1 complaint" in out,
         "`complaints --overdue` lists it with its state", out)
    rc, out, _ = s.b.run("status", env=at(T0 + 24 * H + 10))
    t.ok(rc == 0 and "bhowanipore: 1 open: 1 overdue" in out,
         "status counts the station's overdue complaints", out)
    rc, out, _ = s.b.run("complaints", "--overdue", env=at(T0 + 11 * H))
    t.ok(rc == 0 and ref not in out, "not overdue when the clock says 11 h", out)
    t.eq(count_notes(s, ref, "ESCALATED"), 1, "one escalation note in the thread")
    t.ok("$WA_Overdue" in flags(s.first(w)) and "$WA_Escalated" in flags(s.first(w)),
         "the first mail has $WA_Overdue and $WA_Escalated", flags(s.first(w)))
    mails = s.b.db("SELECT kind, rcpts FROM mailout")
    t.eq(mails, [("escalation", "dcsouth@police.test")], "the first tier is mailed once")
    s.run(T0 + 47 * H)
    t.ok("escalate_late" not in s.duties(ref), "47 h: no second tier yet")
    with W.Serve(s.b, env=at(T0 + 48 * H + 1)) as sv:
        t.ok(sv.start(), "serve starts again", sv.log())
        W.wait_for(lambda: "escalate_late" in s.duties(ref), 30)
        sv.kill()
    s.run(T0 + 48 * H + 5)
    s.run(T0 + 49 * H)
    t.eq(sorted(k for k in s.duties(ref) if k not in ("ack", "reminder")),
         ["due_soon", "escalate_late", "overdue", "overdue_note"], "48 h: the second tier once")
    mails = s.b.db("SELECT kind, rcpts FROM mailout ORDER BY id")
    t.eq(mails, [("escalation", "dcsouth@police.test"), ("escalation", "jtcp@police.test")],
         "the second tier goes to escalate_late_to, once")
    t.eq(count_notes(s, ref, "ESCALATED"), 2, "two escalation notes in the thread")
    rc, out, _ = s.b.run("complaint", ref, env=at(T0 + 49 * H))
    t.ok(rc == 0 and "overdue" in out and "escalate_late" in out,
         "`complaint REF` shows the clock and the escalations", out)


def test_clock_stops_at_delivered(t):
    s = Setup()
    sent = s.message("আমার সাইকেল চুরি হয়েছে।", T0, sender="919830555001")
    dlv = s.message("আমার ব্যাগ চুরি হয়েছে।", T0, sender="919830555002")
    s.run(T0 + 60)
    for w, num in ((sent, "Complaint No. 101/2026"), (dlv, "Complaint No. 102/2026")):
        rc, _, err = s.b.run("reply", stdin=reply_mail(s.first(w), num), env=at(T0 + H))
        t.eq(rc, 0, "the officer's reply with the number is accepted", err)
    s.run(T0 + H + 60)
    wamids = dict(s.b.db("SELECT c.ref, o.wamid FROM outbox o JOIN complaints c ON "
                         "c.id = o.complaint_id WHERE o.purpose IS NULL"))
    for w, status in ((sent, "sent"), (dlv, "delivered")):
        rc, _, err = s.b.ingest(status_body(wamids[s.ref(w)], status, T0 + 2 * H),
                                env=at(T0 + 2 * H))
        t.eq(rc, 0, "status %s taken" % status, err)
    s.run(T0 + 2 * H + 60)
    s.run(T0 + 25 * H)
    t.ok("overdue" in s.duties(s.ref(sent)), "a number replied and `sent` but not delivered: "
         "the clock runs on to overdue", s.duties(s.ref(sent)))
    t.eq([k for k in s.duties(s.ref(dlv)) if k != "ack"], [],
         "the number delivered: the clock stopped, nothing more fires")


# ---- serious words and #escalate ------------------------------------------------------------

def test_serious(t):
    s = Setup()
    w = s.message("আমার প্রতিবেশীকে খুন করার হুমকি দিচ্ছে।", T0, sender="919830666001")
    near = s.message("ভাইবোনের খুনসুটি নিয়ে কোনো অভিযোগ নয়, আমার ফোন হারিয়েছে।", T0,
                     sender="919830666002")
    hand = s.message("Someone is following my daughter to school.", T0,
                     sender="919830666003", name="Meera")
    s.run(T0 + 60)
    ref = s.ref(w)
    t.ok("serious" in s.duties(ref), "a Bengali serious word escalates at once",
         s.duties(ref))
    t.eq(s.b.db("SELECT serious FROM complaints WHERE ref = ?", ref), [("খুন",)],
         "the words that matched are recorded")
    t.ok("$WA_Escalated" in flags(s.first(w)), "$WA_Escalated on the first mail")
    mail = s.b.db("SELECT mail FROM mailout WHERE message_id LIKE 'wb-esc-%-serious@%'")
    t.ok(mail and b"Importance: high" in mail[0][0], "the escalation mail is Importance: high")
    t.eq([k for k in s.duties(s.ref(near)) if k != "ack"], [],
         "a partial Bengali word (খুনসুটি) does not fire")
    # The shorter clock: overdue after serious_sla_hours (4 h), not 24.
    s.run(T0 + 4 * H + 1)
    t.ok("overdue" in s.duties(ref), "a serious complaint is overdue at 4 h", s.duties(ref))
    t.ok("overdue" not in s.duties(s.ref(near)), "an ordinary one is not")
    # #escalate by hand.
    rc, _, err = s.b.run("reply", stdin=reply_mail(s.first(hand), "#escalate\nPlease look "
                                                 "at this today."), env=at(T0 + H))
    t.eq(rc, 0, "an officer's #escalate is accepted", err)
    s.run(T0 + H + 30)
    ref3 = s.ref(hand)
    t.ok("manual" in s.duties(ref3), "#escalate escalates", s.duties(ref3))
    mail = s.b.db("SELECT mail FROM mailout WHERE message_id LIKE 'wb-esc-%-manual@%'")
    t.ok(mail and OFFICER.encode() in mail[0][0] and b"Please look" in mail[0][0],
         "the escalation mail names the officer and their words")


# ---- escalation mail through a real SMTP server -----------------------------------------

def postfix(cmd):
    args = ["sh", os.path.join(W.TOP, "tests", "lib", "postfix.sh"), cmd, SMTP_DIR]
    if cmd == "start":
        args.append(W.DOVECOT_DIR)
    subprocess.run(args, check=True, capture_output=True)


def photo_bytes(seed):
    body = (seed.encode() * 64)[:4000]
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def test_escalation_smtp(t):
    if not SMTP_PORT:
        t.skip("escalation mail through Postfix", "no private Postfix (not root)")
        return
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        escalation_smtp(t, graph)
    finally:
        graph.stop()
        postfix("start") if not smtp_up() else None


def smtp_up():
    import socket
    try:
        socket.create_connection(("127.0.0.1", int(SMTP_PORT)), timeout=2).close()
        return True
    except OSError:
        return False


def escalation_smtp(t, graph):
    s = Setup()
    s.b.use_graph(graph.port, TOKEN)
    for user in ("dcsouth", "jtcp"):
        m = W.imap(user)
        m.select("INBOX")
        m.store("1:*", "+FLAGS", "\\Deleted") if m.search(None, "ALL")[1][0] else None
        m.expunge()
        m.logout()
    data = photo_bytes("signed complaint")
    info = graph.add_media({"id": "1029384756999", "mime_type": "image/jpeg",
                            "data_b64": __import__("base64").b64encode(data).decode()})
    msg = {"from": "919830999001", "id": "wamid.DUTYKIDNAP", "timestamp": str(T0),
           "type": "image", "image": {"id": "1029384756999", "mime_type": "image/jpeg",
                                      "sha256": info["sha256_b64"],
                                      "caption": "আমার মেয়েকে অপহরণ করা হয়েছে, গতকাল রাত থেকে"}}
    contact = {"profile": {"name": "সুমনা রায়"}, "wa_id": "919830999001"}
    s.message(None, T0, msgs=([msg], [contact]))
    ref = s.ref("wamid.DUTYKIDNAP")
    # The mail server is down: the escalation waits, and says so.
    postfix("stop")
    s.run(T0 + 60)
    s.run(T0 + 90)
    t.ok("serious" in s.duties(ref), "the kidnapping caption escalates at once",
         s.duties(ref))
    rows = s.b.db("SELECT state, attempts, last_error FROM mailout")
    t.ok(len(rows) == 1 and rows[0][0] == "pending" and rows[0][1] >= 1 and rows[0][2],
         "SMTP down: the escalation mail waits for a retry, with the reason", rows)
    rc, out, _ = s.b.run("status", env=at(T0 + 90))
    t.ok("escalation" in out and "waiting" in out, "status shows the waiting mail", out)
    postfix("start")
    s.run(T0 + 3 * H)
    rows = s.b.db("SELECT state FROM mailout")
    t.eq(rows, [("sent",)], "the server is back: the mail is sent, once")
    s.run(T0 + 3 * H + 60)
    got = W.wait_for(lambda: [m for m in W.mailbox("dcsouth")
                              if "অপহরণ" in (m[3]["Subject"] or "") and
                              m[3]["X-Wabridge-Escalation"] == "serious"], 20)
    t.eq(len(got or []), 1, "the superior's mailbox has the escalation mail, once")
    if not got:
        return
    m = got[0][3]
    t.eq(m["Importance"], "high", "Importance: high")
    t.ok(ref in m["Subject"], "the subject names the reference", m["Subject"])
    body = W.text_of(m)
    t.ok("অপহরণ" in body and "Bhowanipore Police Station" in body,
         "the summary names the station and carries the citizen's words", body)
    parts = [p for p in m.iter_attachments() if p.get_content_type() == "image/jpeg"]
    t.ok(len(parts) == 1 and parts[0].get_content() == data,
         "the original photo is attached byte for byte")
    import hashlib
    t.ok(parts and hashlib.sha256(data).hexdigest() in (parts[0]["Content-Description"] or ""),
         "with its SHA-256", parts and parts[0]["Content-Description"])
    t.eq(m["Reply-To"] and "bhowanipore.ps@police.test" in m["Reply-To"], True,
         "a superior's answer goes to the station")


def test_escalation_refused(t):
    """A superior's address the mail server refuses for good: the station is told."""
    if not SMTP_PORT:
        t.skip("a refused escalation mail", "no private Postfix (not root)")
        return
    s = Setup()
    W.set_key(s.b.config, "station:bhowanipore", "escalate_to", "nosuchuser@police.test")
    w = s.message("আমার মেয়েকে অপহরণ করেছে", T0, sender="919830999002")
    s.run(T0 + 60)
    s.run(T0 + 120)
    ref = s.ref(w)
    rows = s.b.db("SELECT state, last_error FROM mailout")
    t.ok(len(rows) == 1 and rows[0][0] == "failed" and "550" in (rows[0][1] or ""),
         "a 550 for the only recipient: the mail is failed, not retried", rows)
    notes = [m for m in s.notes(ref) if "NOT delivered" in m[3]["Subject"]]
    t.eq(len(notes), 1, "the thread tells the station, once")
    t.ok(notes and "nosuchuser@police.test" in W.text_of(notes[0][3]),
         "naming the address", notes and W.text_of(notes[0][3]))
    rc, out, _ = s.b.run("status", env=at(T0 + 120))
    t.ok("failed" in out and "nosuchuser@police.test" in out, "status lists it", out)


# ---- the signature reminder ---------------------------------------------------------------

def test_reminder(t):
    s = Setup()
    w = s.message("My neighbour's dog bit my son.", T0, sender="919830777001", name="Anne")
    paper = s.message(None, T0, msgs=image_message("919830777002", "wamid.DUTYPAPER2", T0,
                                                   "signed complaint"))
    s.run(T0 + 60)
    s.run(T0 + 47 * H)
    t.eq(s.sends(s.ref(w), "reminder"), [], "47 h: no reminder yet")
    s.run(T0 + 48 * H + 1)
    s.run(T0 + 50 * H)
    sends = s.sends(s.ref(w), "reminder")
    t.eq(len(sends), 1, "48 h without a photo: one reminder")
    # The citizen's window closed 24 h after their message: the approved template.
    t.ok(sends and sends[0][0] == "template" and sends[0][3] == "complaint_signature_reminder"
         and s.ref(w) in sends[0][4], "outside the window it is the approved template "
         "with the reference", sends)
    t.eq(s.sends(s.ref("wamid.DUTYPAPER2"), "reminder"), [],
         "a complaint with a photo gets no reminder")
    notes = [m for m in s.notes(s.ref(w)) if "Reminder" in m[3]["Subject"]]
    t.eq(len(notes), 1, "the thread says the reminder went")


# ---- the digest ---------------------------------------------------------------------------

def test_digest(t):
    s = Setup(bridge_extra="digest_hour = 8\nsend_ack = true")
    morning = T0 - 4 * H - 1800   # 07:00 IST the same day: before the digest hour
    for i, (text, age) in enumerate((("আমার মোবাইল ফোন চুরি হয়েছে।", 44 * H),
                                     ("मेरा बटुआ चोरी हो गया।", 16 * H),
                                     ("My car window was smashed.", 5 * H))):
        s.message(text, T0 - age, sender="91983088800%d" % i,
                  name=("সুমনা রায়", "रवि", "Anne")[i])
    s.run(morning)
    t.eq(s.b.db("SELECT count(*) FROM duties WHERE kind = 'digest'"), [(0,)],
         "before 08:00 no digest")
    s.run(T0)                    # 11:30 IST
    s.run(T0 + 600)
    digests = [m for m in W.mailbox(USER) if (m[3]["Message-ID"] or "").startswith("<wb-digest-")]
    t.eq(len(digests), 1, "one digest in the station's mailbox for the day")
    if not digests:
        return
    d = digests[0][3]
    body = W.text_of(d)
    t.ok("3 open" in d["Subject"] and "overdue" in body and "due soon" in body,
         "the digest lists the open complaints with their state", d["Subject"] + "\n" + body)
    refs = [ln for ln in body.splitlines() if "BHP-" in ln]
    t.ok(len(refs) >= 3 and "000001" in refs[0], "oldest first", body)
    t.ok("<table" in W.text_of(d, "html"), "the HTML part is a table")
    mutt_digest(t, s, d["Subject"])


def mutt_digest(t, s, subject):
    """The digest as mutt shows it on a terminal: readable, Bengali included."""
    home = tempfile.mkdtemp(prefix="wbmutt.")
    rc = W.imap_muttrc(home, USER, "set read_only=yes\nset pager_index_lines=0\n")
    sock = "wbduty%d" % os.getpid()
    env = "env HOME=%s LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color" % home
    push = "push '<limit>~s digest<enter><display-message>'"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "60",
                    "%s mutt -n -F %s -f imap://127.0.0.1:%s/INBOX -e \"%s\"" % (
                        env, rc, W.IMAP_PORT, push)], check=True)
    try:
        screen = W.tmux_showing(sock, "BHP-2026-000001", "overdue", "BHP-2026-000003")
        t.ok("BHP-2026-000001" in screen and "overdue" in screen and
             "BHP-2026-000003" in screen,
             "mutt shows the digest with the references and states", screen)
        t.ok("সুমনা রায়" in screen, "the Bengali name reads in mutt", screen)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main():
    if not W.IMAP_PORT:
        W.Tap().run(lambda t: t.skip("duty", "no private Dovecot"))
        return
    only = os.environ.get("WB_TEST_ONLY")
    W.Tap().run(lambda t: [f(t) for f in (
        test_ack, test_clock, test_clock_stops_at_delivered, test_serious,
        test_escalation_smtp, test_escalation_refused, test_reminder, test_digest) if not only or only in f.__name__])


main()
