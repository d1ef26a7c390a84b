"""The custody journal (README: Custody journal): complaints ingested, delivered into the
private Dovecot (a Maildir without it), acknowledged on WhatsApp (dry run), answered by an
officer and a stranger, a status from WhatsApp: every event is an entry, `journal verify`
finds the chain intact and `journal show` lists the entries. Then one entry's detail is
edited in the state database behind wabridge's back: `journal verify` names that entry
and exits 1 (SPEC §2)."""

import email.utils
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

PNID = "441880000100101"  # bhowanipore
CITIZEN = "919830111222"
OFFICER = "oc.bhowanipore@police.test"


def reply(b, msgid, sender, text):
    lines = ["From: Officer <%s>" % sender, "To: bhowanipore.ps@police.test",
             "Subject: Re: complaint", "Date: %s" % email.utils.formatdate(),
             "Message-ID: %s" % email.utils.make_msgid(domain="police.test"),
             "In-Reply-To: %s" % msgid, "References: %s" % msgid, "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "", text, ""]
    return b.run("reply", stdin="\r\n".join(lines).encode())


def status(wamid, st):
    body = {"object": "whatsapp_business_account", "entry": [{"id": "209384756102938",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919831200101", "phone_number_id": PNID},
                "statuses": [{"id": wamid, "status": st, "timestamp": str(int(time.time())),
                              "recipient_id": CITIZEN}]}}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


def test(t):
    if W.IMAP_PORT:
        W.reset_mailboxes()
    b = W.Bridge(deliver="imap" if W.IMAP_PORT else "maildir", duty=True)
    W.set_key(b.config, "station:bhowanipore", "officers", OFFICER)
    now = int(time.time())
    for i in range(2):
        rc, _, err = b.ingest(W.single(PNID, CITIZEN, "wamid.JRN%d" % i, now - 60 + i,
                                       "My phone was stolen \x1b[31m near the market %d" % i))
        t.eq(rc, 0, "webhook %d is stored" % i, err)
    rc, _, err = b.run("run")
    t.ok(rc in (0, 75), "run delivers", err)
    rows = b.db("SELECT m.wamid, c.ref FROM messages m JOIN complaints c ON c.id = "
                "m.complaint_id WHERE m.state = 'delivered' ORDER BY m.id")
    t.eq(len(rows), 2, "both messages are delivered", rows)
    ref = rows[0][1]
    sent = b.db("SELECT wamid FROM outbox WHERE wamid IS NOT NULL")
    if sent:
        rc, _, err = b.ingest(status(sent[0][0], "delivered"))
        t.eq(rc, 0, "a status of the acknowledgement is stored", err)
        b.run("run")
    msgid = "<%s@%s>" % ("wamid.JRN0", W.DOMAIN)
    rc, _, err = reply(b, msgid, "stranger@evil.test", "close it")
    t.ok(rc in (67, 77), "a stranger's reply is refused", "%d %s" % (rc, err))
    rc, _, err = reply(b, msgid, OFFICER, "Registered, GD 1234/2026")
    t.ok(rc in (0, 65, 67, 77), "an officer's reply is handled", "%d %s" % (rc, err))

    kinds = [k for (k,) in b.db("SELECT kind FROM journal ORDER BY id")]
    t.eq(kinds.count("body"), 2 + (1 if sent else 0), "every webhook body is journaled", kinds)
    delivered = b.db("SELECT subject FROM journal WHERE kind = 'delivered' ORDER BY id")
    t.eq(len([s for (s,) in delivered if s.startswith("wamid.JRN")]), 2,
         "every citizen's mail delivered is journaled", delivered)
    notes = b.db("SELECT count(*) FROM mailops WHERE kind = 'append' AND state = 'done'")[0][0]
    t.eq(len(delivered), 2 + notes, "and every note of the bridge placed in the mailbox",
         delivered)
    t.ok(kinds.count("reply") >= 1, "replies taken or refused are journaled", kinds)
    t.ok("send" in kinds, "the acknowledgement's send is journaled", kinds)
    if sent:
        t.ok("status" in kinds, "the send's status is journaled", kinds)
    t.ok("duty" in kinds, "the duty that fired is journaled", kinds)
    d = b.db("SELECT ref, subject, detail FROM journal WHERE kind = 'delivered' ORDER BY id")[0]
    t.eq(d[0], ref, "a delivery entry names its complaint")
    t.ok(re.search(r"UIDVALIDITY \d+ UID \d+, mail sha256 [0-9a-f]{64} \(\d+ bytes\), "
                   r"digest sha256 [0-9a-f]{64}, mailbox of bhowanipore$", d[2]),
         "and where the mail went, its hash and its digest's", d[2])
    body_sha = b.db("SELECT sha256 FROM bodies ORDER BY id")[0][0]
    t.eq(b.db("SELECT subject FROM journal WHERE kind = 'body' ORDER BY id")[0][0], body_sha,
         "a body entry's subject is the body's SHA-256")

    rc, out, err = b.run("journal", "verify")
    t.eq(rc, 0, "journal verify exits 0 on an intact chain", out + err)
    head = b.db("SELECT hash FROM journal ORDER BY id DESC LIMIT 1")[0][0]
    t.ok(("%d entries checked" % len(kinds)) in out and head in out,
         "it prints how many entries it checked and the head hash", out)
    rc, out, err = b.run("journal", "show", "--ref", ref)
    t.eq(rc, 0, "journal show exits 0", err)
    t.ok("delivered" in out and ref in out and "\x1b" not in out,
         "it lists the complaint's entries, control characters escaped", out)
    rc, out, _ = b.run("journal", "show", "--limit", "1")
    t.ok(out.endswith("1 entry\n") and out.startswith("%d  " % len(kinds)),
         "--limit 1 shows the last entry", out)
    rc, _, err = b.run("journal", "frobnicate")
    t.eq(rc, 64, "journal with an unknown step exits 64", err)

    victim = b.db("SELECT id FROM journal WHERE kind = 'delivered' ORDER BY id")[0][0]
    b.db_write("UPDATE journal SET detail = replace(detail, 'UID', 'uid') WHERE id = ?", victim)
    rc, out, err = b.run("journal", "verify")
    t.eq(rc, 1, "journal verify exits 1 when an entry was edited", out + err)
    t.ok(("BROKEN at entry %d " % victim) in out and "delivered" in out,
         "and names the edited entry with its kind", out)
    rc, _, err = b.run("-c", "/nonexistent.conf", "journal", "verify", config=False)
    t.eq(rc, 78, "a missing configuration exits 78", err)


W.Tap().run(test)
