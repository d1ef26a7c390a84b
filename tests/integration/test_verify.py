"""`wabridge verify` (README: For archivists): complaints delivered into the private Dovecot
are all intact; then, with Dovecot's own tool (doveadm), one mail's photo is swapped and
another mail expunged: verify names both and exits 1 (SPEC §2). The same mails read from
an mbox and a Maildir copy are intact; a truncated mbox, a folder of other mail, a mail
with a forged X-Payload-SHA256, hostile bytes and a path that is not there get clear
reports and the right exit codes, never a crash. Anchor mails of the journal are checked
against the chain."""

import base64
import email
import email.policy
import hashlib
import mailbox
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAtest-access-token-verify"
PNID = "441880000100101"  # bhowanipore
TS = 1792051200            # 2026-10-15 08:00 UTC


def photo_bytes(seed):
    body = hashlib.sha256(seed.encode()).digest() * 100
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def image_payload(sender, wamid, media_id, sha_b64, ts):
    msg = {"from": sender, "id": wamid, "timestamp": str(ts), "type": "image",
           "image": {"id": media_id, "mime_type": "image/jpeg", "sha256": sha_b64,
                     "caption": "Signed complaint"}}
    return W.payload(PNID, [msg], [{"profile": {"name": "সুমনা রায়"}, "wa_id": sender}])


def doveadm(*args, stdin=None):
    p = subprocess.run(["sh", os.path.join(W.TOP, "tests", "lib", "dovecot.sh"), "doveadm",
                        W.DOVECOT_DIR] + list(args), input=stdin, capture_output=True)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def problems(out):
    return [line for line in out.splitlines() if re.match(r"^(altered|missing|unknown): ", line)]


def mail_of(wamid):
    for uid, _, raw, msg in W.mailbox("bhowanipore"):
        if msg["X-WhatsApp-Message-Id"] == wamid:
            return uid, raw, msg
    return None, None, None


class Setup:
    def __init__(self, t, graph):
        self.t = t
        self.b = W.Bridge(bridge_extra="")
        self.b.use_graph(graph.port, TOKEN)
        self.dir = self.b.dir
        for i, (sender, text) in enumerate([("919830111001", "My bicycle was stolen"),
                                            ("919830111002", "আমার ফোন চুরি হয়েছে")]):
            rc, _, err = self.b.ingest(W.single(PNID, sender, "wamid.VRT%d" % i, TS + i, text))
            t.eq(rc, 0, "text webhook %d stored" % i, err)
        self.photo = photo_bytes("verify photo")
        info = graph.add_media({"id": "5550001", "mime_type": "image/jpeg",
                                "data_b64": base64.b64encode(self.photo).decode()})
        rc, _, err = self.b.ingest(image_payload("919830111003", "wamid.VRTP", "5550001",
                                                 info["sha256_b64"], TS + 5))
        t.eq(rc, 0, "photo webhook stored", err)
        rc, _, err = self.b.run("run")
        t.eq(rc, 0, "run delivers everything", err)
        states = self.b.db("SELECT state FROM messages")
        t.eq(sorted(s[0] for s in states), ["delivered"] * 3, "three mails delivered")

    def verify(self, *args):
        return self.b.run("verify", *args)


def test_intact(t, s):
    rc, out, err = s.verify("--station", "bhowanipore", "--all")
    t.eq(rc, 0, "verify of the station's folder: all intact, exit 0", out + err)
    t.ok("3 mails read: 3 intact, 0 altered, 0 unknown; 0 missing" in out,
         "the summary counts three intact mails and nothing missing", out)
    t.eq(len([x for x in out.splitlines() if x.startswith("intact: imap://")]), 3,
         "--all prints a line per intact mail, naming its IMAP place", out)
    kept = s.b.db("SELECT count(*) FROM rendered")[0][0]
    t.eq(kept, 0, "delivered mails' bytes have left the database (the mailbox holds them)")
    rows = s.b.db("SELECT count(*) FROM deliveries d JOIN journal j ON j.id = d.journal_id "
                  "WHERE j.kind = 'delivered' AND j.detail LIKE '%mail sha256 ' || d.sha256 "
                  "|| '%'")[0][0]
    t.eq(rows, 3, "each delivery is recorded with its hash, in its journal entry")


def copies(t, s):
    """The folder as an mbox (Python's writer: LF, From_ lines) and as a Maildir."""
    box = os.path.join(s.dir, "copy.mbox")
    md = os.path.join(s.dir, "copy.maildir")
    mb = mailbox.mbox(box)
    mdir = mailbox.Maildir(md)
    for _, _, raw, _ in W.mailbox("bhowanipore"):
        mb.add(raw)
        mdir.add(raw)
    mb.flush()
    mb.close()
    return box, md


def test_copies(t, s):
    box, md = copies(t, s)
    rc, out, err = s.verify(box)
    t.eq(rc, 0, "an mbox copy of the folder verifies intact", out + err)
    t.ok(out.startswith("3 mails read: 3 intact"), "all three mails of the mbox", out)
    rc, out, err = s.verify(md)
    t.eq(rc, 0, "a Maildir copy (LF line ends) verifies intact", out + err)
    # a mail software's status headers are filing, not a change of content
    with open(box, "rb") as f:
        data = f.read()
    filed = os.path.join(s.dir, "filed.mbox")
    with open(filed, "wb") as f:
        f.write(re.sub(rb"\nSubject:", b"\nStatus: RO\nX-Mozilla-Status: 0001\nSubject:", data))
    rc, out, err = s.verify("--all", filed)
    t.eq(rc, 0, "status headers added by mail software: still intact", out + err)
    t.ok("re-filed by mail software, content unchanged" in out and
         "header X-Mozilla-Status added by mail software" in out,
         "but the report says what mail software added", out)
    # truncated: the file ends inside the last mail
    cut = os.path.join(s.dir, "cut.mbox")
    with open(cut, "wb") as f:
        f.write(data[:len(data) - len(data) // 5])
    rc, out, err = s.verify(cut)
    t.eq(rc, 1, "a truncated mbox: problems found, exit 1", out + err)
    t.ok(any("cut short" in p or "ends inside" in p for p in problems(out)),
         "the cut mail is named as cut short", out)
    t.ok("AddressSanitizer" not in err and "runtime error" not in err, "no crash", err)


def test_other_mail(t, s):
    md = os.path.join(s.dir, "other.maildir")
    mdir = mailbox.Maildir(md)
    for i in range(2):
        mdir.add(("From: someone@example.org\nTo: bhp@police.test\nSubject: lunch %d\n"
                  "Message-ID: <x%d@example.org>\n\nAt one?\n" % (i, i)).encode())
    junk = os.path.join(md, "new", "junk")
    with open(junk, "wb") as f:
        f.write(os.urandom(512))
    rc, out, err = s.verify(md)
    t.eq(rc, 1, "a folder of other mail: nothing vouched for, exit 1", out + err)
    lines = problems(out)
    t.eq(len([x for x in lines if x.startswith("unknown:") and "not the bridge's mail" in x]),
         2, "each other mail is reported unknown, not the bridge's", out)
    t.ok(any(x.startswith("unknown:") and "junk: not read as a mail: not mail" in x
             for x in lines), "a file that is not mail at all is reported too", out)
    t.ok("3 mails read: 0 intact, 0 altered, 3 unknown" in out, "none counted intact", out)
    rc, out, err = s.verify(os.path.join(s.dir, "no-such-folder"))
    t.eq(rc, 66, "a path that is not there: exit 66", out + err)
    t.ok("no-such-folder" in err, "the error names the path", err)
    rc, out, err = s.verify("--station", "nowhere")
    t.eq(rc, 66, "an unknown station: exit 66", out + err)
    rc, out, err = s.verify()
    t.eq(rc, 64, "nothing named: a usage error", out + err)


def test_forged(t, s):
    _, raw, _ = mail_of("wamid.VRT0")
    other_body = [sha for sha, body in s.b.db("SELECT sha256, body FROM bodies")
                  if b"wamid.VRT1" in bytes(body)][0]
    mine = re.search(rb"X-Payload-SHA256: ([0-9a-f]{64})", raw).group(1)
    cases = [("never.eml", hashlib.sha256(b"forged").hexdigest().encode(),
              "names a webhook body the bridge never received"),
             ("other.eml", other_body.encode(), "but the message came in the webhook body")]
    for name, fake, words in cases:
        path = os.path.join(s.dir, name)
        with open(path, "wb") as f:
            f.write(raw.replace(mine, fake))
        rc, out, err = s.verify(path)
        t.eq(rc, 1, "%s: a forged X-Payload-SHA256 is a problem, exit 1" % name, out + err)
        line = "\n".join(problems(out))
        t.ok(line.startswith("altered: ") and words in line and
             "header X-Payload-SHA256 changed" in line,
             "%s: reported altered, saying what the header names" % name, out)
    # a header forged to inject a line into the report, and a bridge-looking stranger
    evil = os.path.join(s.dir, "evil.eml")
    with open(evil, "wb") as f:
        f.write(b"From: x@y\r\nMessage-ID: <wamid.FAKE\x1b[2J@wa.police.test>\r\n"
                b"X-Complaint-Ref: BHP-2026-\x1b]0;owned\x07\r\nSubject: hi\r\n\r\nbody\r\n")
    rc, out, err = s.verify(evil)
    t.eq(rc, 1, "a mail that looks like the bridge's but was never delivered: exit 1",
         out + err)
    t.ok("journal records no delivery" in out and "\x1b" not in out,
         "reported unknown, control characters escaped", out)


def test_altered_and_deleted(t, s):
    uid, raw, msg = mail_of("wamid.VRTP")
    t.ok(uid is not None, "the photo mail is in the folder")
    # the photo swapped for other bytes, stored back with doveadm and the original expunged
    new_photo = photo_bytes("something else")
    old_b64 = base64.encodebytes(s.photo).replace(b"\n", b"\r\n")
    t.ok(old_b64 in raw, "the photo's base64 is found in the mail")
    altered = raw.replace(old_b64, base64.encodebytes(new_photo).replace(b"\n", b"\r\n"))
    doveadm("save", "-u", "bhowanipore", "-m", "INBOX", stdin=altered)
    doveadm("expunge", "-u", "bhowanipore", "mailbox", "INBOX", "uid", str(uid))
    # another mail deleted
    doveadm("expunge", "-u", "bhowanipore", "mailbox", "INBOX", "header", "Message-ID",
            "wamid.VRT1")
    rc, out, err = s.verify("--station", "bhowanipore")
    t.eq(rc, 1, "verify after the changes: problems found, exit 1", out + err)
    lines = problems(out)
    t.eq(len(lines), 2, "exactly two problems", out)
    alt = [x for x in lines if x.startswith("altered:") and "wamid.VRTP" in x]
    t.ok(alt and re.search(r"part [0-9.]+ \([^)]*\.jpg, image/jpeg\) changed", alt[0]) and
         hashlib.sha256(new_photo).hexdigest() in alt[0] and
         "its Content-Description says " + hashlib.sha256(s.photo).hexdigest() in alt[0],
         "the altered mail is named with the part that changed and both hashes", out)
    mis = [x for x in lines if x.startswith("missing:") and "wamid.VRT1" in x]
    t.ok(mis and "not in the mailbox" in mis[0], "the deleted mail is named missing", out)
    t.ok("1 intact, 1 altered, 0 unknown; 1 missing" in out, "the summary counts them", out)


def test_anchor(t, s):
    arch = os.path.join(s.dir, "archive")
    with open(s.b.config, "a") as f:
        f.write("[archive]\ndeliver = maildir:%s\naddress = records@police.test\n" % arch)
    rc, out, err = s.b.run("journal", "anchor")
    t.eq(rc, 0, "an anchor of the journal is written", out + err)
    rc, out, err = s.verify("--all", arch)
    t.eq(rc, 0, "verify on the archive: the anchor fits the journal", out + err)
    t.ok("1 journal anchor, 0 not fitting" in out, "counted as an anchor", out)
    first = s.b.db("SELECT min(id) FROM journal")[0][0]
    last = s.b.db("SELECT max(id) FROM journal WHERE kind != 'anchor'")[0][0]
    s.b.db_write("UPDATE journal SET detail = detail || ' (rewritten)' WHERE id = ?", last)
    rc, out, err = s.verify(arch)
    t.eq(rc, 1, "after an entry was rewritten: the anchor no longer fits, exit 1", out + err)
    t.ok("altered:" in out and "journal anchor" in out, "the anchor is named", out)
    s.b.db_write("UPDATE journal SET detail = replace(detail, ' (rewritten)', '') WHERE id = ?",
                 last)
    t.ok(first is not None, "the journal has entries")


def test(t):
    if not W.IMAP_PORT:
        t.skip("verify against the private Dovecot", "no private Dovecot")
        return
    W.reset_mailboxes()
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        s = Setup(t, graph)
        test_intact(t, s)
        test_copies(t, s)
        test_other_mail(t, s)
        test_forged(t, s)
        test_anchor(t, s)
        test_altered_and_deleted(t, s)
    finally:
        graph.stop()
        shutil.rmtree(os.path.join(W.TOP, "nothing"), ignore_errors=True)


W.Tap().run(test)
