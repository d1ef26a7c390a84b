"""Media end to end: a fake Graph API (tests/lib/fakegraph.py, Meta's wire format) and
the private Dovecot. A photo of a signed complaint arrives as one mail with the very
bytes Meta hashed, shown inline; every injected failure is retried or reported, and none
loses the message or makes a second mail."""

import base64
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAtest-access-token-9f8e7d"
PNID = "441880000100101"


def photo_bytes(seed):
    """JPEG-shaped bytes (SOI, APP0 JFIF, payload, EOI); the bridge never decodes them."""
    body = hashlib.sha256(seed.encode()).digest() * 200
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def image_payload(wamid, media_id, sha_b64, ts, caption="সই করা অভিযোগপত্র – থানার জন্য"):
    msg = {"from": "919830444555", "id": wamid, "timestamp": str(ts), "type": "image",
           "image": {"id": media_id, "mime_type": "image/jpeg", "sha256": sha_b64,
                     "caption": caption}}
    contact = {"profile": {"name": "সুমনা রায়"}, "wa_id": "919830444555"}
    return W.payload(PNID, [msg], [contact])


class Setup:
    def __init__(self, graph):
        self.graph = graph
        self.b = W.Bridge()
        self.b.use_graph(graph.port, TOKEN)
        self.n = 0
        self.logs = ""

    def send_photo(self, fail=None):
        """Register a photo with the fake, ingest a webhook naming it; return its facts."""
        self.n += 1
        media_id = str(1029384756000 + self.n)
        data = photo_bytes("photo %d" % self.n)
        info = self.graph.add_media({"id": media_id, "mime_type": "image/jpeg",
                                     "data_b64": base64.b64encode(data).decode()})
        if fail:
            self.graph.add_fail(dict(fail, media_id=media_id))
        wamid = "wamid.PHOTO%03d" % self.n
        rc, _, err = self.b.ingest(image_payload(wamid, media_id, info["sha256_b64"],
                                                 1792051200 + self.n))
        assert rc == 0, err
        self.webhook_hash = info["sha256_b64"]
        return wamid, media_id, data

    def run_until_done(self, wamid, rounds=4):
        """run, and again at each next_at, until the message is delivered or failed."""
        state = None
        for _ in range(rounds):
            row = self.b.db("SELECT state, next_at FROM messages WHERE wamid = ?", wamid)
            now = str(max(int(row[0][1]) + 1, 0)) if row and row[0][0] == "retry" else None
            _, out, err = self.b.run("run", env={"WABRIDGE_NOW": now} if now else None)
            self.logs += out + err
            state = self.b.db("SELECT state FROM messages WHERE wamid = ?", wamid)[0][0]
            if state in ("delivered", "failed"):
                break
        return state


def mails_for(wamid):
    return [m for m in W.mailbox("bhowanipore") if m[3]["X-WhatsApp-Message-Id"] == wamid]


def image_part(msg):
    for part in msg.walk():
        if part.get_content_type() == "image/jpeg":
            return part
    return None


def test_photo(t, s):
    wamid, media_id, data = s.send_photo()
    state = s.run_until_done(wamid)
    t.eq(state, "delivered", "the photo message is delivered")
    mails = mails_for(wamid)
    t.eq(len(mails), 1, "exactly one mail for the photo")
    if not mails:
        return
    raw, msg = mails[0][2], mails[0][3]
    t.eq(W.wire_problems(raw), [], "valid wire form with the photo inside")
    t.eq(str(msg["Subject"]), "[BHP-2026-000001] Photo: সই করা অভিযোগপত্র – থানার জন্য",
         "the subject is the kind of message and the caption")
    part = image_part(msg)
    t.ok(part is not None, "the photo is a part of the mail")
    if part is None:
        return
    got = part.get_payload(decode=True)
    t.ok(got == data, "the attached bytes are exactly the bytes served")
    t.eq(hashlib.sha256(got).digest(), base64.b64decode(s.webhook_hash),
         "the attached bytes have the webhook's SHA-256")
    t.eq(part["Content-Description"], "%s; SHA-256 %s" % (part.get_filename(),
                                                           hashlib.sha256(data).hexdigest()),
         "Content-Description names the file and its SHA-256")
    t.eq(part.get_content_disposition(), "attachment",
         "the photo is a real attachment (Content-Disposition: attachment)")
    t.eq(msg.get_content_type(), "multipart/mixed", "of the top multipart/mixed")
    t.ok(part in list(msg.iter_attachments()), "which a client lists as an attachment")
    t.ok(part.get_filename() and part.get_filename().endswith(".jpg"), "the photo has a .jpg name",
         part.get_filename())
    reqs = [r for r in s.graph.snapshot() if r.get("media_id") == media_id]
    steps = [r.get("step") for r in reqs]
    t.eq(steps, ["lookup", "download"], "two steps: lookup, then download")
    t.ok(all(r["headers"].get("authorization") == "Bearer " + TOKEN for r in reqs),
         "both steps carry the bearer token")
    t.ok(all(r["headers"].get("user-agent", "").startswith("wabridge/") for r in reqs),
         "both steps send wabridge's User-Agent")
    t.eq(reqs[0]["params"].get("phone_number_id"), PNID, "the lookup names the phone_number_id")


# mode, times, expected final state, whether the photo must be attached, what a mail shows
CASES = [
    ("expired_url", 1, "delivered", True),
    ("500", 2, "delivered", True),
    ("429", 1, "delivered", True),
    ("truncated", 1, "delivered", True),
    ("wrong_hash", 1, "delivered", True),
    ("token_expired", 1, "delivered", True),
    ("lookup_404", 5, "delivered", False),
    ("oversize_announce", 5, "delivered", False),
    ("oversize_stream", 5, "delivered", False),
]


def test_failures(t, s):
    for mode, times, want, attached in CASES:
        wamid, media_id, data = s.send_photo({"mode": mode, "times": times})
        state = s.run_until_done(wamid, rounds=times + 3)
        t.eq(state, want, "%s ×%d: the message ends %s" % (mode, times, want))
        mails = mails_for(wamid)
        t.eq(len(mails), 1, "%s: exactly one mail" % mode)
        if not mails:
            continue
        part = image_part(mails[0][3])
        if attached:
            t.ok(part is not None and part.get_payload(decode=True) == data,
                 "%s: retried, and the right bytes arrive" % mode)
        else:
            plain = W.text_of(mails[0][3])
            t.ok(part is None and "could not be fetched" in plain and media_id in plain,
                 "%s: the mail goes out with a notice naming the media instead" % mode, plain)
        events = s.b.db("SELECT count(*) FROM events e JOIN messages m ON m.id = e.message_id "
                        "WHERE m.wamid = ? AND e.new = 'retry'", wamid)[0][0]
        if mode in ("500", "429", "truncated", "wrong_hash", "token_expired"):
            t.ok(events >= 1, "%s: the failure was a retry, recorded" % mode)
    rc, out, err = s.b.run("status")
    t.ok(TOKEN not in out + err, "status never shows the access token")


def test(t):
    if not W.IMAP_PORT:
        t.skip("media end to end", "no private Dovecot")
        return
    W.reset_mailboxes()
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        s = Setup(graph)
        test_photo(t, s)
        test_failures(t, s)
        t.ok("fetched" in s.logs and TOKEN not in s.logs,
             "the runs logged the fetches, never the access token")
    finally:
        graph.stop()


W.Tap().run(test)
