"""A complaint travels from a signed webhook body to the station's INBOX on a real Dovecot:
headers of SPEC §5, Bengali that decodes back, idempotency, batches, threading."""

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


def one_mail(t, user, what):
    mails = W.mailbox(user)
    t.eq(len(mails), 1, what)
    return mails[0] if mails else None


def test(t):
    if not W.IMAP_PORT:
        t.skip("IMAP delivery", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    W.reset_mailboxes()
    b = W.Bridge()
    body = W.fixture("bengali-text.json")

    rc, _, err = b.ingest(body)
    t.eq(rc, 0, "signed Bengali payload: ingest exits 0")
    rc, _, err = b.run("run")
    t.eq(rc, 0, "run delivers and exits 0")
    got = one_mail(t, "bhowanipore", "exactly one mail in Bhowanipore's INBOX")
    if not got:
        t.ok(False, "run's log", err)
        return
    uid, flags, raw, msg = got
    t.eq(W.wire_problems(raw), [], "CRLF wire form, lines <= 998, ASCII-only header block")
    t.eq(str(msg["Subject"]),
         "[BHP-2026-000001] আমার বাড়ির সামনে থেকে স্কুটার চুরি হয়েছে।",
         "Subject is [REF] and the first line, decoded back to the Bengali")
    t.ok(b"=?UTF-8?B?" in raw.partition(b"\r\n\r\n")[0], "non-ASCII headers are RFC 2047 encoded")
    frm = msg["From"].addresses[0]
    t.eq(frm.display_name, "তনুশ্রী বসু (+91 98301 11222)", "From name decodes to the profile name and number")
    t.eq(frm.addr_spec, "wa-919830111222@" + W.DOMAIN, "From address is wa-<number>@domain")
    t.eq(msg["Message-ID"], "<wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA@%s>" % W.DOMAIN,
         "Message-ID is the wamid at the domain")
    t.eq(msg["To"].addresses[0].addr_spec, "bhowanipore.ps@police.test", "To is the station's address")
    ref = "BHP-2026-000001"
    t.eq(msg["Reply-To"].addresses[0].addr_spec,
         "complaint+%s.%s@%s" % (ref, W.reply_token(ref), W.DOMAIN),
         "Reply-To carries the reference and its HMAC token")
    t.eq(msg["Date"].datetime.timestamp(), 1792051200, "Date is the WhatsApp timestamp")
    t.eq(str(msg["Date"].datetime.utcoffset()), "5:30:00", "Date is in the configured zone (IST)")
    t.eq(msg["Auto-Submitted"], "auto-generated", "Auto-Submitted: auto-generated")
    t.eq(msg["X-WhatsApp-Message-Id"], "wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA", "X-WhatsApp-Message-Id")
    t.eq(msg["X-WhatsApp-From"], "919830111222", "X-WhatsApp-From")
    t.eq(msg["X-WhatsApp-Phone-Number-Id"], "441880000100101", "X-WhatsApp-Phone-Number-Id")
    t.eq(msg["X-WhatsApp-Type"], "text", "X-WhatsApp-Type")
    t.eq(msg["X-Complaint-Ref"], ref, "X-Complaint-Ref")
    t.eq(msg["X-Station"], "bhowanipore", "X-Station")
    t.eq(msg["X-Payload-SHA256"], hashlib.sha256(body).hexdigest(),
         "X-Payload-SHA256 is the SHA-256 of the raw body as received")
    plain = W.text_of(msg, "plain")
    t.ok("গাড়ির নম্বর WB-02-AK-1234, রং লাল।" in plain, "the plain body holds the whole text", plain)
    html = W.text_of(msg, "html")
    t.ok("গাড়ির নম্বর WB-02-AK-1234" in html, "the HTML body holds the text", html[:500])
    names = [p.get_filename() for p in msg.walk() if p.get_filename()]
    t.ok("whatsapp-message.json" in names, "the message object is attached", names)
    t.ok(msg.get_content_type() != "multipart/mixed",
         "a text-only mail is not multipart/mixed (no paperclip)", msg.get_content_type())
    t.ok(msg["X-WhatsApp-Message-Id"] not in plain and "SHA-256" not in plain,
         "no ids or hashes in the body", plain)
    t.eq(b.db("SELECT state FROM messages"), [("delivered",)], "the store records the delivery")
    t.ok(b.db("SELECT uid FROM messages")[0][0] == uid, "the store keeps the UID from APPENDUID")
    t.eq(b.db("SELECT body = ? FROM bodies", body), [(1,)], "the raw body is kept byte for byte")

    # Meta retries the same body: still one mail.
    rc, _, _ = b.ingest(body)
    t.eq(rc, 0, "the same body again is accepted (exit 0)")
    rc, _, _ = b.run("run")
    t.eq(len(W.mailbox("bhowanipore")), 1, "a retried body makes no second mail")
    # The same wamid in different bytes (re-serialised by a proxy): still one mail.
    rc, _, _ = b.ingest(body.replace(b"\n", b"\r\n"))
    b.run("run")
    t.eq(len(W.mailbox("bhowanipore")), 1, "the same wamid in other bytes makes no second mail")

    # A follow-up from the same citizen threads under the first mail.
    b.ingest(W.fixture("bengali-followup.json"))
    rc, _, _ = b.run("run")
    mails = W.mailbox("bhowanipore")
    t.eq(len(mails), 2, "the follow-up is a second mail")
    if len(mails) == 2:
        first, follow = mails[0][3], mails[1][3]
        t.eq(follow["In-Reply-To"], first["Message-ID"], "follow-up In-Reply-To is the first mail")
        t.eq(follow["References"], first["Message-ID"], "follow-up References the first mail")
        t.eq(follow["X-Complaint-Ref"], ref, "the follow-up belongs to the same complaint")
        t.ok(str(follow["Subject"]).startswith("[%s] " % ref), "follow-up subject carries the same ref")

    # A reaction is a note in the thread, not a new complaint; a forward is marked.
    first_wamid = "wamid.HBgMOTE5ODMwMTExMjIyFQIAEhgUQkQ0RjE3QTI5QzBFNTU4MTIzQUIA"
    react = {"from": "919830111222", "id": "wamid.REACT1", "timestamp": "1792058000",
             "type": "reaction", "reaction": {"message_id": first_wamid, "emoji": "🙏"}}
    fwd = {"from": "919830111222", "id": "wamid.FWD1", "timestamp": "1792058100",
           "type": "text", "context": {"forwarded": True},
           "text": {"body": "Your KYC is blocked, click http://bad.example to unblock"}}
    contact = {"profile": {"name": "তনুশ্রী বসু"}, "wa_id": "919830111222"}
    b.ingest(W.payload("441880000100101", [react, fwd], [contact]))
    b.run("run")
    t.eq(b.db("SELECT count(*) FROM complaints WHERE station = 'bhowanipore'"), [(1,)],
         "a reaction and a forward open no new complaint")
    mails = {m[3]["X-WhatsApp-Message-Id"]: m[3] for m in W.mailbox("bhowanipore")}
    r = mails.get("wamid.REACT1")
    t.ok(r is not None and str(r["Subject"]).startswith("[%s] Reaction 🙏" % ref) and
         r["In-Reply-To"] == "<%s@%s>" % (first_wamid, W.DOMAIN),
         "the reaction is a short note threaded under the complaint",
         r and (str(r["Subject"]), r["In-Reply-To"]))
    f = mails.get("wamid.FWD1")
    t.ok(f is not None and "Forwarded message" in W.text_of(f),
         "a forwarded message is marked as forwarded")
    t.ok(f is not None and str(f["Subject"]) == "[%s] Forwarded: Your KYC is blocked, click "
         "http://bad.example to unblock" % ref, "its subject says it is forwarded",
         f and str(f["Subject"]))
    fhtml = W.text_of(f, "html") if f is not None else ""
    t.ok('<a href="http://bad.example">http://bad.example</a>' in fhtml,
         "the link in it is shown as written, as a link", fhtml[:800])

    # Two citizens in one POST, to another station; names matched by wa_id.
    rc, _, _ = b.ingest(W.fixture("batch-two.json"))
    t.eq(rc, 0, "a batch of two is accepted")
    b.run("run")
    mails = W.mailbox("jadavpur")
    t.eq(len(mails), 2, "two messages from two citizens make two mails")
    senders = sorted((m[3]["From"].addresses[0].display_name, m[3]["X-WhatsApp-From"]) for m in mails)
    t.eq(senders, [("Imran Sheikh (+91 98305 55666)", "919830555666"),
                   ("মিতালী পাল (+91 98307 77888)", "919830777888")],
         "each mail carries its own sender's name (matched by wa_id, not position)")
    refs = sorted(m[3]["X-Complaint-Ref"] for m in mails)
    t.eq(refs, ["GRH-2026-000001", "GRH-2026-000002"], "each citizen gets their own complaint")

    # Meta's wire style: \u escapes and \/; signature over the escaped bytes.
    wire = W.fixture("wire-escaped.json")
    rc, _, err = b.ingest(wire)
    t.eq(rc, 0, "the wire-escaped body verifies over its exact bytes")
    b.run("run")
    mails = [m for m in W.mailbox("jadavpur") if m[3]["X-WhatsApp-From"] == "919830333444"]
    t.eq(len(mails), 1, "the wire-escaped message is delivered")
    if mails:
        plain = W.text_of(mails[0][3])
        t.ok("रात में बहुत शोर" in plain and "🙏" in plain and "https://example.org/map" in plain,
             "escapes are decoded to UTF-8 (Devanagari, emoji, slashes)", plain)
        t.eq(mails[0][3]["From"].addresses[0].display_name, "রাহুল ঘোষ 🚓 (+91 98303 33444)",
             "an emoji in a profile name survives")

    rc, out, _ = b.run("status")
    t.eq(rc, 0, "status exits 0")
    t.ok("bhowanipore: queue 0" in out and "delivered 4" in out, "status shows the station's deliveries", out)


W.Tap().run(test)
