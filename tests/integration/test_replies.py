"""Officers' replies end to end (SPEC §6): a complaint arrives in the private Dovecot, an
officer answers it in mutt (a real mail client), the reply comes back through
`wabridge reply` as mutt's sendmail or through the watched replies mailbox, and the fake
Graph API (Meta's wire format) receives exactly one WhatsApp message for the citizen, in
their language, with the complaint number. The thread then holds the record of what was
sent, and the complaint's first mail carries $WA_Registered."""

import email.utils
import imaplib
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

TOKEN = "EAAreply-test-token-5c4d"
PNID = "441880000100101"          # bhowanipore
OFFICER = "oc.bhowanipore@police.test"
CITIZEN = "919830111222"


class Setup:
    """A bridge with officers, real sends to the fake Graph API, IMAP delivery."""

    def __init__(self, graph, mode="pipe"):
        W.reset_mailboxes()
        graph.reset()
        self.graph = graph
        self.b = W.Bridge()
        self.b.use_graph(graph.port, TOKEN)
        cfg = self.b.config
        W.set_key(cfg, "whatsapp", "dry_run", "false")
        W.set_key(cfg, "station:bhowanipore", "officers",
                  "%s, *@bhowanipore.police.test" % OFFICER)
        W.set_key(cfg, "station:gariahat", "officers", "oc.gariahat@police.test")
        if mode == "imap":
            W.write_secret(os.path.join(self.b.dir, "replies.pass"), "secret")
            W.set_key(cfg, "replies", "mode", "imap")
            W.set_key(cfg, "replies", "imap_user", "replies")
            W.set_key(cfg, "replies", "imap_password_file",
                      os.path.join(self.b.dir, "replies.pass"))
        self.n = 0

    def complaint(self, text="আমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে।", age=600,
                  sender=CITIZEN, pnid=PNID, name="সুমনা রায়"):
        """A citizen's message that is `age` seconds old, delivered; its wamid and ref."""
        self.n += 1
        wamid = "wamid.RPL%04d" % self.n
        body = W.single(pnid, sender, wamid, int(time.time()) - age, text, name=name)
        rc, _, err = self.b.ingest(body)
        assert rc == 0, err
        rc, _, err = self.b.run("run")
        assert rc in (0, 75), err  # 75: an earlier send of the test waits for a retry
        assert self.b.db("SELECT state FROM messages WHERE wamid = ?", wamid) == \
            [("delivered",)], err
        ref = self.b.db("SELECT c.ref FROM messages m JOIN complaints c ON c.id = "
                        "m.complaint_id WHERE m.wamid = ?", wamid)[0][0]
        return wamid, ref

    def first_mail(self, wamid, user="bhowanipore"):
        return [m for m in W.mailbox(user) if m[3]["X-WhatsApp-Message-Id"] == wamid][0]

    def sends(self):
        return [r for r in self.graph.snapshot() if r["method"] == "POST" and
                r["path"].endswith("/messages")]

    def reply(self, mail, *args, env=None):
        return self.b.run("reply", *args, stdin=mail, env=env)


def reply_mail(original, text, sender=OFFICER, to=None, subject=None, msgid=None,
               refs=True, html=None, headers=()):
    """A reply to a station mail the way a mail client writes it (quote below); headers:
    lines put on top, as the receiving mail servers add them."""
    o = original[3]
    to = to or o["Reply-To"]
    subject = subject or "Re: " + o["Subject"]
    quoted = "\n".join("> " + ln for ln in W.text_of(o).splitlines()[:6])
    lines = list(headers) + ["From: Officer in Charge <%s>" % sender, "To: %s" % to,
             "Subject: %s" % subject, "Date: %s" % email.utils.formatdate(localtime=True),
             "Message-ID: %s" % (msgid or email.utils.make_msgid(domain="police.test")),
             "MIME-Version: 1.0"]
    if refs:
        lines += ["In-Reply-To: %s" % o["Message-ID"], "References: %s" % o["Message-ID"]]
    if html is None:
        lines += ["Content-Type: text/plain; charset=utf-8",
                  "Content-Transfer-Encoding: 8bit", "",
                  text, "", "On %s, %s wrote:" % (o["Date"], o["From"]), quoted]
    else:
        lines += ["Content-Type: text/html; charset=utf-8",
                  "Content-Transfer-Encoding: 8bit", "", html]
    return ("\r\n".join(lines) + "\r\n").encode()


def status_body(wamid, status, opaque=None, code=None, ts=None, pnid=PNID):
    st = {"id": wamid, "status": status, "timestamp": str(ts or int(time.time())),
          "recipient_id": CITIZEN}
    if opaque:
        st["biz_opaque_callback_data"] = opaque
    if code:
        st["errors"] = [{"code": code, "title": "Re-engagement message",
                         "message": "Re-engagement message",
                         "error_data": {"details": "Message failed to send because more "
                                        "than 24 hours have passed since the customer last "
                                        "replied to this number."}}]
    body = {"object": "whatsapp_business_account", "entry": [{"id": "209384756102938",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919831200101", "phone_number_id": pnid},
                "statuses": [st]}}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


def flags(m):
    return {f.decode() if isinstance(f, bytes) else f for f in m[1]}


def thread_notes(wamid, user="bhowanipore"):
    """The bridge's notes in the thread of the mail with this wamid."""
    root = None
    out = []
    for m in W.mailbox(user):
        if m[3]["X-WhatsApp-Message-Id"] == wamid and not m[3]["X-Wabridge-Outbox"]:
            root = m[3]["Message-ID"]
    for m in W.mailbox(user):
        if m[3]["X-Wabridge-Outbox"] and m[3]["In-Reply-To"] == root:
            out.append(m)
    return out


def append_reply(mail):
    m = W.imap("replies")
    try:
        m.append("INBOX", None, None, mail)
    finally:
        m.logout()


def test_mailbox_refusals(t, graph):
    """Hostile and refused mails in the watched mailbox: marked, kept, nothing sent; a
    temporary failure leaves the mail for the next poll."""
    s = Setup(graph, mode="imap")
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    append_reply(b"\x00\x01 garbage, not a mail \xff\r\n")
    append_reply(reply_mail(first, "Complaint No. 9/2026", sender="someone@example.org"))
    append_reply(reply_mail(first, "Complaint No. 10/2026", refs=False, to="x@police.test",
                            subject="no reference"))
    rc, _, err = s.b.run("run")
    box = W.mailbox("replies")
    t.eq(len(box), 3, "every mail stays in the mailbox", err)
    t.ok(all({"$WB_Processed", "$WB_Rejected"} <= flags(m) for m in box),
         "each is marked processed and rejected", [flags(m) for m in box])
    t.eq(len(s.sends()), 0, "nothing is sent")
    t.eq(sorted(r[0] for r in s.b.db("SELECT state FROM replies")),
         ["unauthorised", "unmatched", "unparsable"], "each is kept with its outcome")
    # The store cannot be written (another process holds the write lock for longer than
    # wabridge waits): the run gives up with 75, the mail stays unmarked, and the next
    # poll takes it once the store is free again.
    append_reply(reply_mail(first, "Complaint No. 11/2026"))
    lock = s.b.lock_store()
    try:
        rc, _, err = s.b.run("run", timeout=300)
    finally:
        lock.release()
    last = [m for m in W.mailbox("replies") if "$WB_Processed" not in flags(m)]
    t.ok(rc == 75 and len(last) == 1, "a locked store: run exits 75, the mail stays unmarked",
         err)
    rc, _, err = s.b.run("run")
    t.ok(rc == 0 and len(s.sends()) == 1, "the next poll takes it and sends once", err)
    t.ok(all("$WB_Processed" in flags(m) for m in W.mailbox("replies")), "all marked now")

# ---- 1. mutt replies, through `wabridge reply` as its sendmail and through a mailbox ----

def mutt_reply(t, s, user, sendmail, text):
    """Open the station's mailbox in mutt, reply to the first mail with text on top."""
    home = tempfile.mkdtemp(prefix="wbm.")
    editor = os.path.join(home, "edit.sh")
    with open(editor, "w") as f:
        f.write("#!/bin/sh\n{ printf '%%s\\n\\n' '%s'; cat \"$1\"; } > \"$1.new\" && "
                "mv \"$1.new\" \"$1\"\n" % text)
    os.chmod(editor, 0o755)
    rc = W.imap_muttrc(home, user,
                       "set send_charset=utf-8\n"
                       "set include=yes\nset reply_to=yes\nset fast_reply=yes\nset askcc=no\n"
                       "set edit_headers=no\nset copy=no\nset record=''\nset postpone=no\n"
                       "set abort_unmodified=no\nset from='%s'\nset use_from=yes\n"
                       "set realname='Officer in Charge'\nset editor='%s'\n"
                       "set sendmail='%s'\nset sendmail_wait=0\n" % (OFFICER, editor, sendmail))
    sock = "wbr%d" % os.getpid()
    env = "env HOME=%s LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color" % home
    log = os.path.join(home, "mutt.out")
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "200", "-y", "50",
                    "%s mutt -n -F %s -f imap://127.0.0.1:%s/INBOX 2>%s" %
                    (env, rc, W.IMAP_PORT, log)], check=True)

    def screen():
        return W.tmux_screen(sock)
    try:
        W.wait_for(lambda: "BHP-" in screen(), 60)
        subprocess.run(["tmux", "-L", sock, "send-keys", "r"], check=True)
        W.wait_for(lambda: "y:Send" in screen() or "Send" in screen(), 60)
        subprocess.run(["tmux", "-L", sock, "send-keys", "y"], check=True)
        shown = W.wait_for(lambda: "Mail sent" in screen() and screen(), 60)
        t.ok(shown, "mutt says the mail was sent", screen())
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def check_registered(t, s, wamid, ref, how, officer_text=None):
    sends = s.sends()
    t.eq(len(sends), 1, "%s: the fake Graph API received exactly one send" % how)
    if not sends:
        return
    req = json.loads(sends[0]["body"])
    t.eq(req.get("to"), CITIZEN, "%s: to the citizen's number stored for the complaint" % how)
    t.eq(sends[0]["path"], "/v26.0/%s/messages" % PNID, "%s: from the station's number" % how)
    body = req.get("text", {}).get("body", "")
    t.ok("123/2026" in body, "%s: the message carries 123/2026 (digits normalised)" % how, body)
    if officer_text:
        want = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": CITIZEN,
                "type": "text", "text": {"preview_url": False, "body":
                                         "Bhowanipore Police Station: আপনার অভিযোগটি নথিভুক্ত "
                                         "হয়েছে।\nঅভিযোগ নম্বর: 123/2026\nআপনার সূত্র: %s\n\n%s"
                                         % (ref, officer_text)},
                "biz_opaque_callback_data": "wb-outbox-1"}
        t.eq(req, want, "%s: the exact request body" % how)
    t.ok("অভিযোগ নম্বর" in body, "%s: the message is in Bengali, the citizen's language" % how,
         body)
    t.eq(req.get("biz_opaque_callback_data", "")[:10], "wb-outbox-",
         "%s: the outbox id travels in biz_opaque_callback_data" % how)
    t.eq(sends[0]["headers"].get("authorization"), "Bearer " + TOKEN,
         "%s: the bearer token is sent" % how)
    first = s.first_mail(wamid)
    t.ok("$WA_Registered" in flags(first), "%s: the complaint's first mail has $WA_Registered" % how,
         first[1])
    notes = thread_notes(wamid)
    t.eq(len(notes), 1, "%s: the thread holds one record mail" % how)
    if notes:
        n = notes[0][3]
        t.ok(n["Subject"].startswith("[%s]" % ref) and "123/2026" in n["Subject"],
             "%s: the record's subject names the complaint and the number" % how, n["Subject"])
        t.ok(body in W.text_of(n).replace("\r\n", "\n"),
             "%s: the record shows exactly what was sent" % how)
        t.eq(n["X-WhatsApp-Message-Id"], sends[0]["wamid"],
             "%s: the record names the wamid Meta gave the send" % how)
        att = [p for p in n.walk() if p.get_filename() == "whatsapp-request.json"]
        t.ok(att and json.loads(att[0].get_content()) == req,
             "%s: the record carries the exact request as JSON" % how)
    t.eq(s.b.db("SELECT number FROM complaints WHERE ref = ?", ref), [("123/2026",)],
         "%s: the complaint number is stored" % how)


def test_mutt_pipe(t, graph):
    if not shutil.which("mutt") or not shutil.which("tmux"):
        t.skip("mutt replies", "mutt or tmux is not installed")
        return
    s = Setup(graph)
    wamid, ref = s.complaint()
    sendmail = " ".join(W.WRAP + [W.WABRIDGE, "-c", s.b.config, "reply"])
    mutt_reply(t, s, "bhowanipore", sendmail, "Complaint No. ১২৩/২০২৬ registered. – OC")
    check_registered(t, s, wamid, ref, "mutt via wabridge reply",
                     "Complaint No. ১২৩/২০২৬ registered. – OC")


def test_mutt_mailbox(t, graph):
    if not shutil.which("mutt") or not shutil.which("tmux"):
        t.skip("mutt replies into the replies mailbox", "mutt or tmux is not installed")
        return
    s = Setup(graph, mode="imap")
    wamid, ref = s.complaint()
    # The "MTA": whatever mutt sends lands in the replies user's INBOX.
    drop = os.path.join(s.b.dir, "drop.py")
    with open(drop, "w") as f:
        f.write("import imaplib, sys, time\nm = imaplib.IMAP4('127.0.0.1', %s)\n"
                "m.login('replies', 'secret')\nm.append('INBOX', None, None, "
                "sys.stdin.buffer.read())\nm.logout()\n" % W.IMAP_PORT)
    mutt_reply(t, s, "bhowanipore", "%s %s" % (sys.executable, drop),
               "Complaint No. ১২৩/২০২৬ registered. – OC")
    t.eq(len(s.sends()), 0, "nothing is sent before the bridge polls the mailbox")
    rc, out, err = s.b.run("run")
    t.eq(rc, 0, "run polls the replies mailbox and finishes everything", err)
    check_registered(t, s, wamid, ref, "mutt via the replies mailbox",
                     "Complaint No. ১২৩/২০২৬ registered. – OC")
    box = W.mailbox("replies")
    t.ok(box and all("$WB_Processed" in flags(m) for m in box),
         "the reply in the replies mailbox is marked processed", [m[1] for m in box])
    rc, _, err = s.b.run("run")
    t.eq((rc, len(s.sends())), (0, 1), "polling again sends nothing twice", err)


# ---- 3. refusals: each gets its exit code and sends nothing -----------------------------

def test_refusals(t, graph):
    s = Setup(graph)
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    cases = [
        ("a sender who is not an officer", reply_mail(first, "Complaint No. 5/2026",
                                                      sender="someone@example.org"), 77),
        ("a forged token", reply_mail(first, "Complaint No. 5/2026",
                                      to="complaint+%s.0000000000@%s" % (ref, W.DOMAIN)), 77),
        ("a token for another complaint's reference",
         reply_mail(first, "Complaint No. 5/2026",
                    to="complaint+BHP-2026-000002.%s@%s" % (W.reply_token(ref), W.DOMAIN)),
         77),
        ("an unknown reference", reply_mail(first, "Complaint No. 5/2026",
                                            to="station@police.test", refs=False,
                                            subject="Re: [BHP-2026-999999] something"), 67),
        ("no reference at all", reply_mail(first, "Complaint No. 5/2026", to="x@police.test",
                                           refs=False, subject="hello"), 67),
        ("a reply without any text", reply_mail(first, ""), 65),
        ("an HTML reply with only the quote",
         reply_mail(first, "", html="<div><blockquote>old text</blockquote></div>"), 65),
        ("bytes that are not a mail", b"\x00\x01\x02 not a mail \xff", 65),
        ("a From: header with a line break injected",
         reply_mail(first, "Complaint No. 5/2026", sender="x@evil.org\r\nFrom: " + OFFICER),
         77),
    ]
    for what, mail, want in cases:
        rc, out, err = s.reply(mail)
        t.eq(rc, want, "%s: exit %d" % (what, want), err)
        lines = [ln for ln in err.splitlines() if ln.startswith("wabridge: warning: reply ")]
        t.ok(len(lines) == 1 and len(lines[0]) > 60 and "nothing was sent" in lines[0] or
             "unparsable" in err, "%s: one readable line for the bounce" % what, err)
    rc, out, err = s.reply(b"From: " + OFFICER.encode() + b"\r\n\r\n" + b"x" * (11 << 20))
    t.eq(rc, 65, "a mail over the 10 MiB cap: exit 65, the MTA bounces it", err)
    t.ok("limit" in err or "larger" in err or "cap" in err, "and says it is too big", err)
    rc, _, err = s.b.run("-c", "/nonexistent/wabridge.conf", "reply", config=False,
                         stdin=reply_mail(first, "Complaint No. 5/2026"))
    t.ok(rc == 75 and "deliver it again" in err,
         "a broken configuration is a temporary failure (75): the MTA keeps the mail", err)
    t.eq(len(s.sends()), 0, "none of them sent anything to the citizen")
    t.eq(s.b.db("SELECT count(*) FROM replies"), [(len(cases),)],
         "every refused mail is kept in the store")
    rc, out, _ = s.b.run("status")
    t.ok("someone@example.org" in out and "not one of the officers" in out,
         "status shows the refused sender and why", out)
    t.ok("does not verify" in out, "status shows the forged token", out)
    t.eq(s.b.db("SELECT number FROM complaints WHERE ref = ?", ref), [(None,)],
         "no complaint number was recorded")
    first = s.first_mail(wamid)
    t.ok("$WA_Registered" not in flags(first), "the first mail is not marked registered")
    # The officer list is a pattern list: a colleague at the station's domain may answer.
    rc, _, err = s.reply(reply_mail(first, "GD 77/26", sender="si.das@bhowanipore.police.test"))
    t.eq(rc, 0, "a sender matching *@bhowanipore.police.test is accepted", err)
    # And an officer of another station may not answer this station's complaint.
    rc, _, err = s.reply(reply_mail(first, "GD 78/26", sender="oc.gariahat@police.test"))
    t.eq(rc, 77, "an officer of another station is refused", err)


# ---- 4. window, template, 131047, replay, crash --------------------------------------

def test_outside_window(t, graph):
    s = Setup(graph)
    graph.set_templates({"templates": [{"name": "complaint_registered", "language": "bn",
                                        "params": 2}]})
    wamid, ref = s.complaint(age=2 * 86400)
    first = s.first_mail(wamid)
    rc, _, err = s.reply(reply_mail(first, "অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে"))
    t.eq(rc, 0, "the reply is accepted", err)
    sends = s.sends()
    t.eq(len(sends), 1, "one send")
    req = json.loads(sends[0]["body"]) if sends else {}
    t.eq(req.get("type"), "template", "outside the 24-hour window the template is used")
    tpl = req.get("template", {})
    t.eq(tpl.get("name"), "complaint_registered", "the configured template")
    t.eq(tpl.get("language"), {"code": "bn"}, "in the citizen's language")
    t.eq(tpl.get("components"), [{"type": "body", "parameters": [
        {"type": "text", "text": "123/2026"},
        {"type": "text", "text": "Bhowanipore Police Station"}]}],
        "with the complaint number and the station as parameters")
    t.eq(sends[0].get("status"), 200, "the fake (checking templates as Meta does) accepted it")
    # An English-speaking citizen gets English.
    wamid2, _ = s.complaint(text="My bicycle was stolen near the market yesterday.",
                            sender="919830999888", name="Rahul")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid2), "Complaint No. 9/2026 registered"))
    body = json.loads(s.sends()[-1]["body"])["text"]["body"]
    t.ok(rc == 0 and "your complaint has been registered" in body and "9/2026" in body,
         "a citizen who wrote English gets the English text", body)
    wamid3, _ = s.complaint(text="मेरा बटुआ बस में चोरी हो गया।", sender="919830777666",
                            name="Amit")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid3), "शिकायत संख्या ४५"))
    body = json.loads(s.sends()[-1]["body"])["text"]["body"]
    t.ok(rc == 0 and "शिकायत संख्या: 45" in body, "a citizen who wrote Hindi gets Hindi", body)
    # Outside the window for an English-speaking citizen, with no approved English
    # translation: Meta refuses (132001), the template goes once more in template_language.
    before = len(s.sends())
    wamid4, ref4 = s.complaint(text="Someone took my wallet on the bus.", sender="919830444333",
                               name="Joseph", age=3 * 86400)
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid4), "Complaint No. 300/2026"))
    tries = [json.loads(x["body"])["template"]["language"]["code"] for x in s.sends()[before:]]
    t.eq(tries, ["en", "bn"], "no English translation (132001): once more in bn", err)
    t.eq([x["status"] for x in s.sends()[before:]], [404, 200], "refused, then accepted")
    t.eq(s.b.db("SELECT lang, state FROM outbox WHERE complaint_id = (SELECT id FROM "
                "complaints WHERE ref = ?)", ref4), [("bn", "accepted")],
         "the record says the language it went out in")


def test_failure_status(t, graph):
    s = Setup(graph)
    graph.set_templates({"templates": [{"name": "complaint_registered", "language": "bn",
                                        "params": 2}]})
    wamid, ref = s.complaint()
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 123/2026"))
    t.eq(rc, 0, "accepted", err)
    sent = s.sends()[0]
    opaque = json.loads(sent["body"])["biz_opaque_callback_data"]
    # Statuses out of order: delivered, then a late sent; then read.
    for st in ("delivered", "sent", "read"):
        rc, _, err = s.b.ingest(status_body(sent["wamid"], st, opaque))
        t.eq(rc, 0, "status %s stored" % st, err)
        if st == "sent":
            t.eq(s.b.db("SELECT state FROM outbox"), [("delivered",)],
                 "a late 'sent' does not move 'delivered' back")
    s.b.run("run")
    t.eq(s.b.db("SELECT state FROM outbox"), [("read",)], "read after delivered")
    notes = thread_notes(wamid)
    t.ok(notes and {"$WA_Delivered", "$WA_Read"} <= flags(notes[0]),
         "the record mail carries $WA_Delivered and $WA_Read", [n[1] for n in notes])
    subjects = [n[3]["Subject"] for n in notes]
    t.eq(subjects, ["[%s] Number 123/2026 sent to the citizen" % ref,
                    "[%s] Number 123/2026 read by the citizen" % ref],
         "the record says what was known when written; the citizen's reading follows as "
         "its own short mail")

    # Another complaint whose send fails later with 131047 (window closed).
    wamid2, ref2 = s.complaint(sender="919830555444", text="আমার ব্যাগ চুরি হয়েছে")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid2), "Complaint No. 124/2026"))
    sent2 = s.sends()[-1]
    rc, _, err = s.b.ingest(status_body(sent2["wamid"], "failed",
                                        json.loads(sent2["body"])["biz_opaque_callback_data"],
                                        code=131047))
    t.eq(rc, 0, "the failed status is stored", err)
    rc, _, err = s.b.run("run")
    notes = thread_notes(wamid2)
    failed = [n for n in notes if n[3]["X-Wabridge-Send-State"] == "failed"]
    t.eq(len(failed), 1, "the failure is told in the thread", err)
    if failed:
        txt = W.text_of(failed[0][3])
        t.ok("131047" in txt and "24 hours" in txt, "the notice names 131047 and why", txt)
        t.ok("The complaint number goes by the approved template instead" in txt,
             "and says the template follows", txt)
        t.eq(failed[0][3]["Subject"], "[%s] Not delivered: the 24-hour window had closed; "
             "template sent instead" % ref2, "its subject alone tells the story")
    t.ok("flag wb-out-2@%s $WA_SendFailed" % W.DOMAIN in err and
         "unflag wamid.RPL0002@%s $WA_SendFailed" % W.DOMAIN in err,
         "the failed send's record is marked; the first mail's $WA_SendFailed is taken "
         "away by the template's success", err)
    first2 = s.first_mail(wamid2)
    t.ok("$WA_SendFailed" not in flags(first2) and "$WA_Registered" in flags(first2),
         "the keyword stays true: the number reached WhatsApp by template", first2[1])
    last = json.loads(s.sends()[-1]["body"])
    t.ok(len(s.sends()) == 3 and last.get("type") == "template" and
         last["template"]["components"][0]["parameters"][0]["text"] == "124/2026",
         "after 131047 the approved template with the number follows, once",
         [json.loads(x["body"]).get("type") for x in s.sends()])
    s.b.run("run")
    t.eq(len(s.sends()), 3, "another run sends nothing more")


def test_window_story(t, graph):
    """131047 end to end: the officer's reply (the number and their own words) is refused
    because the window had closed; the notice says so in plain words, the template carries
    the number, $WA_SendFailed comes and goes, the words are kept and go out when the
    citizen writes again, and every step has a subject of its own."""
    s = Setup(graph)
    graph.set_templates({"templates": [{"name": "complaint_registered", "language": "bn",
                                        "params": 2}]})
    wamid, ref = s.complaint()
    words = "Please come to the station with the UPI statement."
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 77/2026\n" + words))
    t.eq(rc, 0, "the reply is accepted", err)
    sent = s.sends()[-1]
    rc, _, err = s.b.ingest(status_body(sent["wamid"], "failed",
                                        json.loads(sent["body"])["biz_opaque_callback_data"],
                                        code=131047))
    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "the run after the failure", err)
    t.eq(s.b.db("SELECT kind, state FROM outbox ORDER BY id"),
         [("text", "held"), ("template", "accepted")],
         "the text waits as held, the template went")
    rc, out, _ = s.b.run("complaint", ref)
    t.ok("held (the officer's words wait for the citizen's next message)" in out,
         "complaint REF says what a held send waits for", out)
    notes = thread_notes(wamid)
    subjects = [n[3]["Subject"] for n in notes]
    notice = [n for n in notes if n[3]["X-Wabridge-Send-State"] == "held"]
    t.eq(len(notice), 1, "one notice for the refused message", subjects)
    if notice:
        h = notice[0][3]
        txt = W.text_of(h)
        t.eq(h["Subject"], "[%s] Not delivered: the 24-hour window had closed; template "
             "sent instead" % ref, "the notice's subject")
        t.ok("24-hour window" in txt and "keeps the words" in txt and words in txt,
             "it warns that the officer's words could not go, quotes them, and says they "
             "are kept", txt)
        t.ok("within the citizen's 24-hour window" not in txt and "Outbox entry" not in txt
             and "attempts" not in txt and "(language bn)" not in txt,
             "no contradiction, no outbox counters, no language code", txt)
        t.ok("Officer in Charge <%s>" % OFFICER in txt, "the officer is named", txt)
    t.ok("[%s] Number 77/2026 sent to the citizen by template" % ref in subjects,
         "the fallback has a subject of its own", subjects)
    t.eq("$WA_SendFailed" in flags(s.first_mail(wamid)), False,
         "the template's success cleared $WA_SendFailed")
    # The citizen writes again: the kept words go, and the thread says so.
    before = len(s.sends())
    body = W.single(PNID, CITIZEN, "wamid.AGAIN1", int(time.time()), "কখন আসব?",
                    name="সুমনা রায়")
    rc, _, err = s.b.ingest(body)
    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "the run after the citizen's message", err)
    after = s.sends()[before:]
    t.ok(len(after) == 1 and words in json.loads(after[0]["body"])["text"]["body"],
         "the kept words went to the citizen once", [x["body"] for x in after])
    subjects = [n[3]["Subject"] for n in thread_notes(wamid)]
    t.ok("[%s] Officer's words sent after the citizen wrote again" % ref in subjects,
         "the thread records it", subjects)
    t.eq(len(subjects), len(set(subjects)), "every record in the thread has its own subject",
         subjects)
    s.b.run("run")
    t.eq(len(s.sends()), before + 1, "another run sends nothing more")


def test_words_outside_window(t, graph):
    """A reply with the number and words after the window closed: the template carries
    the number at once, the words wait, and go when the citizen writes."""
    s = Setup(graph)
    graph.set_templates({"templates": [{"name": "complaint_registered", "language": "bn",
                                        "params": 2}]})
    wamid, ref = s.complaint(age=2 * 86400)
    words = "Bring the bill of the phone tomorrow."
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "GD No 55/2026. " + words))
    t.eq(rc, 0, "accepted", err)
    t.eq([json.loads(x["body"])["type"] for x in s.sends()], ["template"],
         "only the template went")
    s.b.run("run")
    subjects = [n[3]["Subject"] for n in thread_notes(wamid)]
    t.ok("[%s] Officer's words not sent yet: the 24-hour window had closed" % ref in subjects
         and "[%s] Number 55/2026 sent to the citizen by template" % ref in subjects,
         "the thread has the template's record and the warning about the words", subjects)
    # Only the number, no words: nothing is kept.
    wamid2, ref2 = s.complaint(age=2 * 86400, sender="919830222333")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid2), "অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে"))
    t.eq(s.b.db("SELECT count(*) FROM outbox o JOIN complaints c ON c.id = o.complaint_id "
                "WHERE c.ref = ? AND o.state = 'held'", ref2), [(0,)],
         "a reply that only gives the number keeps nothing back")
    body = W.single(PNID, CITIZEN, "wamid.AGAIN2", int(time.time()), "ঠিক আছে",
                    name="সুমনা রায়")
    s.b.ingest(body)
    s.b.run("run")
    last = json.loads(s.sends()[-1]["body"])
    t.ok(last["type"] == "text" and words in last["text"]["body"],
         "the words went once the citizen wrote", last)


def test_citizen_answers_our_send(t, graph):
    """The citizen answers the bridge's WhatsApp message (context.id = our send's wamid):
    the mail threads under the record of that send (SPEC §5)."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 123/2026"))
    sent = s.sends()[0]["wamid"]
    msg = {"from": CITIZEN, "id": "wamid.ANSWER1", "timestamp": str(int(time.time())),
           "type": "text", "text": {"body": "ধন্যবাদ"}, "context": {"from": "919831200101",
                                                                "id": sent}}
    rc, _, err = s.b.ingest(W.payload(PNID, [msg], [{"profile": {"name": "সুমনা রায়"},
                                                     "wa_id": CITIZEN}]))
    s.b.run("run")
    mail = [m for m in W.mailbox("bhowanipore") if m[3]["X-WhatsApp-Message-Id"] ==
            "wamid.ANSWER1"]
    t.eq(len(mail), 1, "the citizen's answer is one mail", err)
    if mail:
        h = mail[0][3]
        t.eq(h["In-Reply-To"], "<wb-out-1@%s>" % W.DOMAIN,
             "it answers the record of our send")
        t.eq(h["References"], "<%s@%s> <wb-out-1@%s>" % (wamid, W.DOMAIN, W.DOMAIN),
             "and stays in the complaint's thread")
        t.ok(h["Subject"].startswith("[%s]" % ref), "under the same complaint", h["Subject"])


def test_reactions_named(t, graph):
    """A reaction names what it reacts to in words: the station's message with the number,
    or the citizen's own message by its time and first line; never a raw WhatsApp id."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 123/2026"))
    sent = s.sends()[0]["wamid"]
    now = int(time.time())
    for rid, target in (("wamid.REACT1", sent), ("wamid.REACT2", wamid),
                        ("wamid.REACT3", "wamid.NOSUCHMESSAGE")):
        msg = {"from": CITIZEN, "id": rid, "timestamp": str(now), "type": "reaction",
               "reaction": {"message_id": target, "emoji": "\U0001F64F"}}
        rc, _, err = s.b.ingest(W.payload(PNID, [msg], [{"profile": {"name": "সুমনা রায়"},
                                                         "wa_id": CITIZEN}]))
    s.b.run("run")
    mails = {m[3]["X-WhatsApp-Message-Id"]: m for m in W.mailbox("bhowanipore")}
    texts = {k: W.text_of(mails[k][3]) for k in ("wamid.REACT1", "wamid.REACT2",
                                                  "wamid.REACT3") if k in mails}
    t.eq(len(texts), 3, "three reactions, three mails")
    t.ok("the station's message with complaint number 123/2026" in texts.get("wamid.REACT1", ""),
         "a reaction to our send names it by the number", texts.get("wamid.REACT1"))
    t.ok("the citizen's message of" in texts.get("wamid.REACT2", "") and
         "আমার মোবাইল ফোন চুরি হয়েছে" in texts.get("wamid.REACT2", ""),
         "a reaction to the citizen's own message names it by time and first line",
         texts.get("wamid.REACT2"))
    t.ok("not in this complaint's record" in texts.get("wamid.REACT3", ""),
         "a reaction to an unknown message says so", texts.get("wamid.REACT3"))
    t.ok(not any(w in txt for txt in texts.values() for w in (sent, wamid, "NOSUCHMESSAGE")),
         "no raw WhatsApp id in the bodies", texts)


def test_safety_net(t, graph):
    """A reply that quotes the citizen's message without '>' marks (as some phone apps do)
    sends the number alone, never the citizen's words back; the thread says what was held
    back and why. A reply with nothing in it sends nothing, and says so."""
    s = Setup(graph)
    citizen = "আমার মোবাইল ফোন চুরি হয়েছে, গড়িয়াহাট মোড়ে, ১৪ অক্টোবর রাত ৯টা নাগাদ।"
    wamid, ref = s.complaint(text=citizen)
    first = s.first_mail(wamid)
    o = first[3]
    mail = ("From: Officer in Charge <%s>\r\nTo: %s\r\nSubject: Re: %s\r\n"
            "Message-ID: <net-1@police.test>\r\nIn-Reply-To: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Complaint No. 61/2026\r\n\r\n%s\r\n" % (OFFICER, o["Reply-To"], o["Subject"],
                                                       o["Message-ID"], citizen)).encode()
    rc, _, err = s.reply(mail)
    t.eq(rc, 0, "the reply is accepted (its number counts)", err)
    sends = s.sends()
    body = json.loads(sends[0]["body"])["text"]["body"] if sends else ""
    t.ok(len(sends) == 1 and "61/2026" in body and "গড়িয়াহাট" not in body,
         "the number went, without the citizen's own words", body)
    s.b.run("run")
    def bridge_notes():
        return [m for m in W.mailbox("bhowanipore")
                if m[3]["In-Reply-To"] == o["Message-ID"] and "wabridge@" in m[3]["From"]]
    notes = [n for n in bridge_notes() if "NOT sent" in n[3]["Subject"]]
    t.eq([n[3]["Subject"] for n in notes],
         ["[%s] Officer's words NOT sent: they look like quoted text" % ref],
         "the thread says the words were held back")
    if notes:
        txt = W.text_of(notes[0][3])
        t.ok("repeats words of the complaint's own messages" in txt and
             "Only the complaint number 61/2026 went" in txt and citizen in txt,
             "it says why, what went, and quotes what was held back", txt)
    t.eq(s.b.db("SELECT text FROM replies WHERE key LIKE '%net-1%'")[0][0].count("গড়িয়াহাট"), 1,
         "the stored reply keeps the words as written")
    # Nothing in the reply at all: nothing is sent, and the thread says so.
    before = len(s.sends())
    rc, _, err = s.reply(reply_mail(first, "", msgid="<net-2@police.test>"))
    t.eq(rc, 65, "an empty reply is refused as bad", err)
    s.b.run("run")
    t.eq(len(s.sends()), before, "an empty reply sends nothing")
    subjects = [n[3]["Subject"] for n in bridge_notes()]
    t.ok("[%s] Reply not understood: nothing was sent to the citizen" % ref in subjects,
         "and the thread says so", subjects)


def test_phone_replies(t, graph):
    """Replies as phone mail apps write them: the footer above the number, the answer on
    the attribution's line; each sends the right number, and nothing else."""
    s = Setup(graph)
    cases = [
        ("919830300001", "Sent from my iPhone\n\nComplaint No. 71/2026", "71/2026"),
        ("919830300002", "Yes, registered, GD No 72/2026. On Mon, 7 Dec 2026 at 10:00, "
         "Sumana <wa-919830111222@wa.police.test> wrote:", "72/2026"),
        ("919830300003", "Von meinem iPhone gesendet\n\nअभियोग दर्ज: शिकायत संख्या ७३",
         "73"),
    ]
    for sender, text, number in cases:
        wamid, ref = s.complaint(sender=sender, text="My purse was taken on the tram.")
        before = len(s.sends())
        o = s.first_mail(wamid)[3]
        mail = ("From: Officer in Charge <%s>\r\nTo: %s\r\nSubject: Re: %s\r\n"
                "Message-ID: <phone-%s@police.test>\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n\r\n> %s\r\n" %
                (OFFICER, o["Reply-To"], o["Subject"], sender, text.replace("\n", "\r\n"),
                 "My purse was taken on the tram.")).encode()
        rc, _, err = s.reply(mail)
        sent = s.sends()[before:]
        body = json.loads(sent[0]["body"]).get("text", {}).get("body", "") if sent else ""
        t.ok(rc == 0 and len(sent) == 1 and number in body and "iPhone" not in body and
             "wrote" not in body and "purse" not in body,
             "%s: the number %s goes, without footer, attribution or quote" % (
                 text.splitlines()[0][:30], number), err + body)


def test_quoted_header_held_back(t, graph):
    """An Outlook header block squashed onto one line (a third party's name and address)
    never reaches the citizen: the parser cuts it, and the safety net would hold it back
    if it had not; the number goes."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    o = s.first_mail(wamid)[3]
    body = ("Complaint No. 81/2026\r\nforwarding as asked\r\nFrom: Ramesh Gupta "
            "<ramesh.gupta@example.in> Sent: Monday, 7 December 2026 09:12 To: Bhowanipore "
            "PS Subject: my shop\r\n")
    mail = ("From: Officer in Charge <%s>\r\nTo: %s\r\nSubject: Re: %s\r\n"
            "Message-ID: <hdr-1@police.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
            "\r\n\r\n%s" % (OFFICER, o["Reply-To"], o["Subject"], body)).encode()
    rc, _, err = s.reply(mail)
    sent = s.sends()
    text = json.loads(sent[-1]["body"])["text"]["body"] if sent else ""
    t.ok(rc == 0 and "81/2026" in text and "forwarding as asked" in text and
         "Ramesh" not in text and "example.in" not in text,
         "the number and the officer's words went, the third party's name and address did "
         "not", err + text)
    # One header line amid the officer's words: the parser keeps it (it is no block),
    # the safety net does not let it out.
    wamid2, ref2 = s.complaint(sender="919830400004")
    o2 = s.first_mail(wamid2)[3]
    body = ("Complaint No. 82/2026. Spoke to the shop owner today.\r\nFrom: Ramesh Gupta "
            "<ramesh.gupta@example.in>\r\nHe says he will pay back.\r\n")
    mail = ("From: Officer in Charge <%s>\r\nTo: %s\r\nSubject: Re: %s\r\n"
            "Message-ID: <hdr-2@police.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
            "\r\n\r\n%s" % (OFFICER, o2["Reply-To"], o2["Subject"], body)).encode()
    rc, _, err = s.reply(mail)
    text = json.loads(s.sends()[-1]["body"])["text"]["body"]
    t.ok(rc == 0 and "82/2026" in text and "Ramesh" not in text and "shop owner" not in text,
         "a header line left in the text: the number goes alone", err + text)
    s.b.run("run")
    notes = [m for m in W.mailbox("bhowanipore") if m[3]["In-Reply-To"] == o2["Message-ID"]
             and "NOT sent" in m[3]["Subject"]]
    t.ok(len(notes) == 1 and "quoted header line" in W.text_of(notes[0][3]) and
         "ramesh.gupta@example.in" in W.text_of(notes[0][3]),
         "the thread says which line was held back and why",
         [W.text_of(n[3]) for n in notes])


def test_replay(t, graph):
    s = Setup(graph)
    wamid, ref = s.complaint()
    mail = reply_mail(s.first_mail(wamid), "Complaint No. 123/2026",
                      msgid="<reply-1@police.test>")
    rc1, _, err1 = s.reply(mail)
    rc2, _, err2 = s.reply(mail)
    rc3, _, err3 = s.b.run("run")
    t.eq((rc1, rc2, rc3), (0, 0, 0), "the same reply twice: both exit 0", err1 + err2 + err3)
    t.eq(len(s.sends()), 1, "replaying the same reply sends nothing twice")
    t.eq(len(thread_notes(wamid)), 1, "and writes one record")
    t.eq(s.b.db("SELECT seen FROM replies"), [(2,)], "the replay is counted")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 666/2026",
                                    sender="someone@example.org", msgid="<reply-1@police.test>"))
    t.eq(rc, 77, "another sender reusing that Message-ID is no replay: checked and refused",
         err)


def test_crash_between_call_and_record(t, graph):
    """SIGKILL while the Graph call is in flight: Meta got the message, the bridge never
    saw the answer. The outbox row stays `sending`; no run sends it again; the status
    webhook, which echoes wb-outbox-<id>, reconciles it. The fake holds its answer until
    the kill, so the kill lands in the call on any machine."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    graph.add_fail({"send": True, "hold": True, "ok": True, "times": 1})
    mail = reply_mail(s.first_mail(wamid), "Complaint No. 123/2026")
    cmd = W.WRAP + [W.WABRIDGE, "-c", s.b.config, "reply"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=s.b.dir)
    p.stdin.write(mail)
    p.stdin.close()
    arrived = W.wait_for(lambda: s.sends() and s.sends()[0]["held"], 60)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    graph.release()
    t.ok(arrived, "the send reached the fake before the kill")
    W.wait_for(lambda: s.sends() and s.sends()[0].get("wamid"), 60)
    t.eq(s.b.db("SELECT state, wamid FROM outbox"), [("sending", None)],
         "after the crash the row is `sending`, its answer lost")
    for _ in range(2):
        s.b.run("run")
    t.eq(len(s.sends()), 1, "runs after the crash do not send it again")
    sent = s.sends()[0]
    opaque = json.loads(sent["body"])["biz_opaque_callback_data"]
    rc, _, err = s.b.ingest(status_body(sent["wamid"], "sent", opaque))
    t.eq(rc, 0, "the status webhook is taken", err)
    t.eq(s.b.db("SELECT state, wamid FROM outbox"), [("sent", sent["wamid"])],
         "the status's biz_opaque_callback_data reconciles the row with Meta's wamid")
    s.b.run("run")
    t.eq(len(s.sends()), 1, "still one send")
    t.eq(len(thread_notes(wamid)), 1, "the record is written once reconciled")

    # Without any status: after the grace time the row is `unknown`, told, never resent.
    wamid2, _ = s.complaint(sender="919830123123", text="আমার সাইকেল চুরি হয়েছে")
    graph.add_fail({"send": True, "hold": True, "ok": True, "times": 1})
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=s.b.dir)
    p.stdin.write(reply_mail(s.first_mail(wamid2), "Complaint No. 200/2026"))
    p.stdin.close()
    t.ok(W.wait_for(lambda: len(s.sends()) == 2 and s.sends()[1]["held"], 60),
         "the second send reached the fake before the kill")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    graph.release()
    later = str(int(time.time()) + 31 * 60)
    rc, _, err = s.b.run("run", env={"WABRIDGE_NOW": later})
    t.eq(s.b.db("SELECT state FROM outbox WHERE id = 2"), [("unknown",)],
         "unconfirmed after the grace time: unknown")
    t.eq(len(s.sends()), 2, "and not sent again")
    notes = [n for n in thread_notes(wamid2) if n[3]["X-Wabridge-Send-State"] == "unknown"]
    t.ok(notes and "not sent again" in W.text_of(notes[0][3]),
         "the station is told in the thread", err)


def test_html_reply_and_tags(t, graph):
    s = Setup(graph)
    wamid, ref = s.complaint()
    html = ("<div dir=\"ltr\">GDE No 45 নথিভুক্ত। #close</div><br><div class=\"gmail_quote\">"
            "<div class=\"gmail_attr\">On Mon, someone wrote:</div><blockquote>"
            "আমার মোবাইল ফোন চুরি হয়েছে</blockquote></div>")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "", html=html))
    t.eq(rc, 0, "an HTML-only Gmail reply is accepted", err)
    body = json.loads(s.sends()[0]["body"])["text"]["body"]
    t.ok("45" in body and "আমার মোবাইল" not in body and "#close" not in body,
         "the citizen gets the new text and number, not the quote or the tag", body)
    t.eq(s.b.db("SELECT state, closed_reason, number FROM complaints WHERE ref = ?", ref),
         [("closed", "officer", "45")], "#close closes the complaint; the number is stored")


def test_complaint_commands(t, graph):
    """`complaints` lists, `complaint REF` tells the whole story of one complaint."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    wamid2, ref2 = s.complaint(sender="919830222333", text="আমার গাড়ি চুরি হয়েছে")
    first = s.first_mail(wamid)
    s.reply(reply_mail(first, "Complaint No. 5/2026", sender="someone@example.org"))
    s.reply(reply_mail(first, "Complaint No. 123/2026"))
    sent = s.sends()[0]
    s.b.ingest(status_body(sent["wamid"], "delivered",
                           json.loads(sent["body"])["biz_opaque_callback_data"]))
    rc, out, err = s.b.run("complaints")
    t.eq(rc, 0, "complaints exits 0", err)
    t.ok(ref in out and ref2 in out and "123/2026" in out and "2 complaints" in out,
         "complaints lists both, with the number", out)
    rc, out, err = s.b.run("complaints", "--station", "gariahat")
    t.ok(rc == 0 and ref not in out and "0 complaints" in out, "--station filters", out)
    W.set_key(s.b.config, "bridge", "sla_hours", "24")
    later = str(int(time.time()) + 25 * 3600)
    rc, out, err = s.b.run("complaints", "--overdue", env={"WABRIDGE_NOW": later})
    t.ok(rc == 0 and ref2 in out and ref not in out and "[overdue]" in out,
         "--overdue: past the clock without a delivered number", out)
    rc, out, err = s.b.run("complaint", ref)
    t.eq(rc, 0, "complaint REF exits 0", err)
    for what, needle in [("the citizen's message and its mail", "citizen text %s" % wamid),
                         ("the refused reply and why", "someone@example.org"),
                         ("the accepted reply with its number", "number 123/2026"),
                         ("the WhatsApp send", "WhatsApp text in bn"),
                         ("the delivered status", "status of %s: delivered" % sent["wamid"])]:
        t.ok(needle in out, "complaint REF shows %s" % what, out)
    rc, out, err = s.b.run("complaint", ref.lower())
    t.ok(rc == 0 and ref in out, "the reference is taken in any case", err)
    rc, _, err = s.b.run("complaint", "BHP-2026-999999")
    t.ok(rc == 67 and "no complaint BHP-2026-999999" in err, "an unknown REF: exit 67", err)
    for args in (["complaint"], ["complaints", "--open", "--overdue"],
                 ["complaints", "extra"], ["complaints", "--station", "nowhere"]):
        rc, _, err = s.b.run(*args)
        t.ok(rc == 64 and err.startswith("wabridge: "), "usage error: %s" % " ".join(args), err)


def test_send_errors(t, graph):
    """Graph errors by class: 130429 retried with backoff, 131026 final and told in the
    thread, 190 stops sending and alerts; the dry run of the defaults sends nothing."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    graph.add_fail({"send": True, "code": 130429, "http": 400, "times": 1})
    before = int(time.time())
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid), "Complaint No. 1/2026"))
    t.eq(rc, 0, "a throttled send still accepts the reply (exit 0)", err)
    row = s.b.db("SELECT state, error_code, next_at FROM outbox")[0]
    t.ok(row[0] == "retry" and row[1] == 130429 and row[2] > before,
         "130429: kept for a retry later", row)
    # A second before it is due, however long the machine took to get here.
    rc, _, err = s.b.run("run", env={"WABRIDGE_NOW": str(row[2] - 1)})
    t.eq((rc, len(s.sends())), (75, 1), "not before its time: run exits 75, no new request", err)
    rc, _, err = s.b.run("run", env={"WABRIDGE_NOW": str(row[2] + 1)})
    t.eq(s.b.db("SELECT state FROM outbox"), [("accepted",)], "sent at the retry", err)
    t.eq([x["status"] for x in s.sends()], [400, 200], "two requests: refused, then accepted")

    wamid2, ref2 = s.complaint(sender="919830777000", text="আমার পার্স চুরি হয়েছে")
    graph.add_fail({"send": True, "code": 131026, "http": 400, "times": 1})
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid2), "Complaint No. 2/2026"))
    t.eq(s.b.db("SELECT state, error_code FROM outbox WHERE id = 2"), [("failed", 131026)],
         "131026 (not deliverable) is final", err)
    s.b.run("run", env={"WABRIDGE_NOW": str(int(time.time()) + 86400)})
    t.eq(len(s.sends()), 3, "and never retried")
    failed = [n for n in thread_notes(wamid2) if n[3]["X-Wabridge-Send-State"] == "failed"]
    t.ok(failed and "131026" in W.text_of(failed[0][3]), "the station is told in the thread")
    t.ok("$WA_SendFailed" in flags(s.first_mail(wamid2)), "$WA_SendFailed on the first mail")

    wamid3, ref3 = s.complaint(sender="919830777111", text="আমার সাইকেল চুরি হয়েছে")
    graph.add_fail({"send": True, "code": 190, "http": 401, "subcode": 463, "times": 1})
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid3), "Complaint No. 3/2026"))
    t.eq(rc, 0, "the reply is taken even when the token is refused", err)
    t.ok("error: WhatsApp sends stopped" in err and "access token" in err and TOKEN not in err,
         "190: a critical alert naming the access token, without the token", err)
    t.eq(s.b.db("SELECT state, error_code FROM outbox WHERE id = 3"), [("retry", 190)],
         "the send waits for a new token")
    rc, out, _ = s.b.run("status")
    t.ok("outbox 3" in out and "190" in out, "status shows the waiting send and why", out)

    # The embedded-defaults style dry run: nothing reaches Graph, the thread says so.
    graph.reset()
    W.set_key(s.b.config, "whatsapp", "dry_run", "true")
    wamid4, ref4 = s.complaint(sender="919830777222", text="আমার ঘড়ি চুরি হয়েছে")
    rc, _, err = s.reply(reply_mail(s.first_mail(wamid4), "Complaint No. 4/2026"))
    t.eq((rc, len(s.sends())), (0, 0), "dry run: accepted, nothing sent to Graph", err)
    notes = thread_notes(wamid4)
    t.ok(notes and "DRY RUN" in W.text_of(notes[0][3]) and
         "wamid.dryrun." in notes[0][3]["X-WhatsApp-Message-Id"],
         "the record says it was a dry run", [W.text_of(n[3]) for n in notes])


# ---- 5. proof: a reply needs its token or a trusted server's Authentication-Results ------

TRUSTED = "mx.police.test"
SCAM = "Please pay Rs 5000 to UPI 98300xxxxx@upi to get your phone back"


def forged(first, ref, sender=OFFICER, refs=False, subject=None, headers=(), msgid=None):
    """A mail from an officer's address that names the complaint only by the [REF] of its
    subject (or, refs=True, by its In-Reply-To/References) and carries no token: anyone
    can write it, and references are sequential."""
    return reply_mail(first, SCAM, sender=sender, to="bhowanipore.ps@police.test", refs=refs,
                      subject=subject or "Re: [%s] Phone stolen" % ref, headers=headers,
                      msgid=msgid)


def refusal_notes(wamid, user="bhowanipore"):
    """The bridge's notes of refused replies in the thread of the mail with this wamid."""
    box = W.mailbox(user)
    root = [m[3]["Message-ID"] for m in box if m[3]["X-WhatsApp-Message-Id"] == wamid and
            not m[3]["X-Wabridge-Outbox"]]
    return [m for m in box if m[3]["X-Wabridge-Refused-Reply"] and root and
            m[3]["In-Reply-To"] == root[0]]


def check_note(t, note, ref, how, needles):
    """A refusal note: the bridge's, plainly not an officer's reply, safe to read."""
    h = note[3]
    t.ok(str(h["Subject"]).startswith("[%s] REFUSED reply: NOT sent to the citizen" % ref),
         "%s: the note's subject says the reply was refused" % how, h["Subject"])
    t.eq(h["From"].addresses[0].addr_spec, "wabridge@%s" % W.DOMAIN,
         "%s: the note comes from the bridge, not from the officer's address" % how)
    t.eq(h["Auto-Submitted"], "auto-generated", "%s: the note is marked auto-generated" % how)
    t.ok(h["Bcc"] is None and h["Cc"] is None, "%s: nothing from the mail became a header" % how,
         note[2][:2000])
    t.eq(W.wire_problems(note[2]), [], "%s: the note is clean on the wire" % how)
    text = W.text_of(h)
    t.ok(text.startswith("REFUSED: a reply was NOT sent to the citizen") and
         "it was NOT sent to the" in text, "%s: the note says plainly it was NOT sent" % how,
         text)
    t.ok(SCAM not in text, "%s: the note does not repeat the mail's text" % how, text)
    for needle in needles:
        t.ok(needle in text, "%s: the note names %r" % (how, needle), text)
    html = W.text_of(h, "html")
    t.ok("<script" not in html, "%s: no markup from the mail in the HTML note" % how, html)
    return html


def test_forged_pipe(t, graph):
    """Issue #9: a forged From: matching `officers`, the complaint in the subject, no token.
    It reached the citizen; now it exits 77, sends nothing, is kept and shown in status,
    and the station reads a note in the complaint's thread."""
    s = Setup(graph)
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    # The subject tries to smuggle a header through an encoded CR LF, and markup.
    subject = "Re: [%s] =?utf-8?q?<script>x</script>=0D=0ABcc:_victim@evil.test?=" % ref
    rc, _, err = s.reply(forged(first, ref, subject=subject, msgid="<forged-1@evil.test>"))
    t.eq(rc, 77, "a forged reply matched by its subject: exit 77", err)
    t.ok("only by its [REF] subject tag" in err and "nothing was sent to the citizen" in err
         and "the station is told in the complaint's thread" in err,
         "the MTA's bounce line says why and that the station is told", err)
    rc2, _, err2 = s.b.run("run")
    t.eq(len(s.sends()), 0, "the fake Graph API received nothing", err2)
    t.eq(s.b.db("SELECT state, matched_by, sender FROM replies"),
         [("unauthorised", "subject", OFFICER)], "the mail is kept as refused")
    rc, out, _ = s.b.run("status")
    t.ok(OFFICER in out and "unauthorised for %s" % ref in out and
         "only by its [REF] subject tag" in out and "can be forged" in out,
         "status lists the refused reply with its reason", out)
    t.eq(s.b.db("SELECT number FROM complaints WHERE ref = ?", ref), [(None,)],
         "no complaint number is recorded")
    t.ok("$WA_Registered" not in flags(s.first_mail(wamid)), "the complaint is not registered")
    notes = refusal_notes(wamid)
    t.eq(len(notes), 1, "the complaint's thread holds one note of the refusal")
    if notes:
        html = check_note(t, notes[0], ref, "subject", [
            OFFICER, "<script>x</script> Bcc: victim@evil.test", "forged-1@evil.test",
            "only by its [REF]", "the mail server's pipe"])
        t.ok("&lt;script&gt;x&lt;/script&gt;" in html, "the HTML note shows the subject's "
             "markup as text", html)
    # The same mail again (a second copy): refused again, no second note.
    rc, _, err = s.reply(forged(first, ref, subject=subject, msgid="<forged-1@evil.test>"))
    t.eq(rc, 77, "the same forged mail again: 77 again", err)
    # Matched by In-Reply-To/References alone: just as unproven.
    rc, _, err = s.reply(forged(first, ref, refs=True, subject="Re: your complaint"))
    t.ok(rc == 77 and "only by its In-Reply-To/References" in err,
         "a forged reply matched by its thread: exit 77", err)
    # A valid token proves the mail came from the complaint's thread, not who sent it.
    rc, _, err = s.reply(reply_mail(first, "Complaint No. 5/2026",
                                    sender="someone@example.org"))
    t.ok(rc == 77 and "not one of the officers" in err,
         "a valid token from a sender who is not an officer: exit 77", err)
    s.b.run("run")
    t.eq(len(s.sends()), 0, "none of them reached the citizen")
    notes = refusal_notes(wamid)
    t.eq(len(notes), 3, "one note per refused mail (the repeated one once)",
         [str(n[3]["Subject"]) for n in notes])
    # The officer answers properly: the token of the reply address proves the reply,
    # without any Authentication-Results.
    rc, _, err = s.reply(reply_mail(first, "Complaint No. 123/2026"))
    t.eq(rc, 0, "a reply with a token that verifies and no Authentication-Results: exit 0",
         err)
    t.ok("proven by its reply-address token" in err, "the log says what proved it", err)
    t.eq(len(s.sends()), 1, "and it is sent")

    # A flood of forged mails cannot fill the thread: after WB_MAX_REFUSAL_NOTES refusals
    # in a day the thread is no longer told (status still lists each one).
    wamid2, ref2 = s.complaint(sender="919830666555", text="আমার সাইকেল চুরি হয়েছে")
    cid = s.b.db("SELECT id FROM complaints WHERE ref = ?", ref2)[0][0]
    now = int(time.time())
    for i in range(20):
        s.b.db_write("INSERT INTO replies (key, sha256, mail, source, received_at, "
                     "updated_at, sender, complaint_id, matched_by, state, reason) VALUES "
                     "(?, '00', ?, 'pipe', ?, ?, ?, ?, 'subject', 'unauthorised', "
                     "'earlier')", "<earlier-%d@evil.test>" % i, b"\x00", now, now, OFFICER, cid)
    rc, _, err = s.reply(forged(s.first_mail(wamid2), ref2))
    t.ok(rc == 77 and "the thread is not told" in err,
         "over the cap of refusal notes a day: still 77, the thread not told", err)
    s.b.run("run")
    t.eq(len(refusal_notes(wamid2)), 0, "no note past the cap")


def test_forged_mailbox(t, graph):
    """The same forgery through the watched replies mailbox: marked rejected, nothing
    sent, listed in status, told in the thread."""
    s = Setup(graph, mode="imap")
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    append_reply(forged(first, ref))
    rc, _, err = s.b.run("run")
    t.eq(rc, 0, "run takes the mailbox and writes the note", err)
    box = W.mailbox("replies")
    t.ok(len(box) == 1 and {"$WB_Processed", "$WB_Rejected"} <= flags(box[0]),
         "the forged mail stays in the mailbox, marked processed and rejected",
         [flags(m) for m in box])
    t.eq(len(s.sends()), 0, "the fake Graph API received nothing")
    rc, out, _ = s.b.run("status")
    t.ok("via imap from %s" % OFFICER in out and "only by its [REF] subject tag" in out,
         "status lists it with the reason", out)
    notes = refusal_notes(wamid)
    t.eq(len(notes), 1, "the thread holds the note", err)
    if notes:
        check_note(t, notes[0], ref, "mailbox", [OFFICER, "the replies mailbox"])


def test_auth_results(t, graph):
    """[replies] trusted_authserv_id: a reply without a token is taken when a trusted
    server's Authentication-Results report dmarc=pass, or dkim=pass signed by the From:
    domain itself, and nothing trusted says otherwise."""
    s = Setup(graph)
    W.set_key(s.b.config, "replies", "trusted_authserv_id", "%s, mx2.police.test" % TRUSTED)
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    ar = "Authentication-Results: "
    pass_ = ar + TRUSTED + "; dmarc=pass (p=reject dis=none) header.from=police.test"
    cases = [
        ("no Authentication-Results", [], "no Authentication-Results from a trusted server"),
        ("an untrusted server's dmarc=pass", [ar + "mx.evil.test; dmarc=pass "
                                              "header.from=police.test"],
         "no Authentication-Results from a trusted server"),
        ("dkim=pass for another domain", [ar + TRUSTED + "; dkim=pass header.d=evil.test"],
         "no Authentication-Results from a trusted server"),
        ("dkim=pass for a parent domain", [ar + TRUSTED + "; dkim=pass header.d=test"],
         "no Authentication-Results from a trusted server"),
        ("dmarc=fail", [ar + TRUSTED + "; dmarc=fail (p=reject) header.from=police.test"],
         "reports dmarc=fail for police.test"),
        ("a forged pass below the trusted fail",
         [ar + TRUSTED + ";\r\n\tdmarc=fail header.from=police.test", pass_],
         "reports dmarc=fail for police.test"),
        ("an unreadable trusted field", [ar + TRUSTED + "; dmarc=pass (unterminated"],
         "cannot be read"),
    ]
    for i, (what, headers, why) in enumerate(cases):
        rc, _, err = s.reply(forged(first, ref, headers=headers, msgid="<ar-%d@x.test>" % i))
        t.ok(rc == 77 and why in err, "%s: refused (77)" % what, err)
    t.eq(len(s.sends()), 0, "none of them reached the citizen")
    t.eq(len(refusal_notes(wamid)), len(cases), "each refusal is told in the thread")

    # The trusted server's pass: accepted without a token, sent once.
    mail = reply_mail(first, "Complaint No. 123/2026", to="bhowanipore.ps@police.test",
                      refs=False, subject="Re: [%s] Phone stolen" % ref,
                      headers=[pass_, ar + "mx.other.test; dmarc=fail header.from=police.test"])
    rc, _, err = s.reply(mail)
    t.eq(rc, 0, "a trusted dmarc=pass with no token: accepted", err)
    t.ok("proven by dmarc=pass for police.test from trusted mx.police.test" in err,
         "the log says what proved it", err)
    check_registered(t, s, wamid, ref, "trusted dmarc=pass")

    # OpenDKIM's own field, from the second trusted server, for a colleague's subdomain.
    wamid2, ref2 = s.complaint(sender="919830444111", text="আমার ব্যাগ চুরি হয়েছে")
    mail = reply_mail(s.first_mail(wamid2), "GD 77/26", sender="si.das@bhowanipore.police.test",
                      to="bhowanipore.ps@police.test", headers=[
                          ar + "mx2.police.test; dkim=pass (2048-bit key)\r\n"
                          "\theader.d=bhowanipore.police.test header.s=mail header.b=Xy+/12Ab"])
    rc, _, err = s.reply(mail)
    t.ok(rc == 0 and "dkim=pass for bhowanipore.police.test" in err and len(s.sends()) == 2,
         "an aligned dkim=pass from the other trusted server, matched by its thread: sent",
         err)
    # A trusted pass does not make an outsider an officer.
    rc, _, err = s.reply(forged(first, ref, sender="x@evil.test", headers=[
        ar + TRUSTED + "; dmarc=pass header.from=evil.test"]))
    t.ok(rc == 77 and "not one of the officers" in err and len(s.sends()) == 2,
         "a trusted pass for a sender who is not an officer: refused", err)


def test_serve_idle(t, graph):
    """serve watches the replies mailbox (IDLE): a reply dropped there is sent without any
    `run`; a status webhook posted to serve updates the record."""
    s = Setup(graph, mode="imap")
    wamid, ref = s.complaint()
    first = s.first_mail(wamid)
    with W.Serve(s.b) as sv:
        t.ok(sv.start(), "serve starts with [replies] mode = imap", sv.log())
        t.ok(W.wait_for(lambda: W.idling("replies"), 60),
             "(the watcher waits in IDLE)", sv.log())
        append_reply(reply_mail(first, "Complaint No. ৭৭/২০২৬"))
        sent = W.wait_for(lambda: s.sends(), 60)
        t.ok(sent, "the reply dropped into the mailbox is sent while serve runs", sv.log())
        if sent:
            body = json.loads(sent[0]["body"])
            t.ok("77/2026" in body["text"]["body"], "with the number", body)
            st = status_body(sent[0]["wamid"], "delivered", body["biz_opaque_callback_data"])
            code = sv.post(st)
            t.eq(code, 200, "serve takes the status webhook")
            t.ok(W.wait_for(lambda: s.b.db("SELECT state FROM outbox") == [("delivered",)], 60),
                 "the status reaches the outbox")
            W.wait_for(lambda: thread_notes(wamid) and
                       "$WA_Delivered" in flags(thread_notes(wamid)[0]), 60)
            notes = thread_notes(wamid)
            t.ok(notes and "$WA_Delivered" in flags(notes[0]),
                 "the record mail in the thread gets $WA_Delivered", sv.log())
        t.ok(W.wait_for(lambda: all("$WB_Processed" in flags(m) for m in W.mailbox("replies")),
                        60), "the reply is marked processed")
        # A reload takes the watcher out of IDLE and back in with the new configuration.
        sv.send_signal(signal.SIGHUP)
        t.ok(W.wait_for(lambda: "configuration reloaded" in sv.log(), 60), "SIGHUP reloads")
        wamid2, _ = s.complaint(sender="919830888999", text="আমার ফোন হারিয়ে গেছে")
        append_reply(reply_mail(s.first_mail(wamid2), "Complaint No. 78/2026"))
        t.ok(W.wait_for(lambda: len(s.sends()) == 2, 60),
             "after the reload a new reply is still picked up", sv.log())
        st, _, m = sv.metrics()
        t.eq((W.metric(m, "wabridge_replies_parsed_total"),
              W.metric(m, "wabridge_whatsapp_sends_total", outcome="sent")), (2.0, 2.0),
             "/metrics counts the replies parsed and the sends", m)
        t.eq(sv.stop(), 0, "serve stops cleanly (the watcher leaves IDLE)", sv.log())
    t.eq(len(s.sends()), 2, "one send per reply in all")


def main():
    if not W.IMAP_PORT:
        W.Tap().run(lambda t: t.skip("replies", "no private Dovecot"))
        return
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        only = os.environ.get("WB_TEST_ONLY")
        W.Tap().run(lambda t: [f(t, graph) for f in (
            test_refusals, test_mailbox_refusals, test_replay, test_citizen_answers_our_send, test_reactions_named, test_safety_net, test_phone_replies, test_quoted_header_held_back, test_outside_window, test_failure_status, test_window_story, test_words_outside_window,
            test_crash_between_call_and_record, test_html_reply_and_tags,
            test_send_errors, test_complaint_commands, test_forged_pipe, test_forged_mailbox,
            test_auth_results, test_serve_idle, test_mutt_pipe, test_mutt_mailbox)
            if not only or only in f.__name__])
    finally:
        graph.stop()


main()
