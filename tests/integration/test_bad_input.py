"""Hostile and broken webhook bodies: clear exit codes, nothing lost, nothing injected."""

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


def bodies(b):
    """Bodies stored; a refused body must not even create the database."""
    if not b.store_exists():
        return 0
    return b.db("SELECT count(*) FROM bodies")[0][0]


def test_signatures(t):
    b = W.Bridge(deliver="maildir")
    body = W.fixture("bengali-text.json")
    cases = [
        ("a wrong signature", W.sign(body, "not-the-secret")),
        ("a missing signature", None),
        ("an empty signature", ""),
        ("a malformed signature", "sha256=zz" + "0" * 62),
        ("a SHA-1 style header", "sha1=" + hashlib.sha1(body).hexdigest()),
        ("a signature over other bytes", W.sign(body + b" ")),
    ]
    for what, sig in cases:
        rc, _, err = b.ingest(body, signature=sig)
        t.eq(rc, 77, "%s: exit 77" % what)
        t.ok("signature" in err.lower() and "nothing stored" in err, "%s: the error says why" % what, err)
    t.eq(bodies(b), 0, "nothing was stored for any bad signature")
    # The CGI way: the signature from the environment.
    rc, _, _ = b.ingest(body, signature=None, env={"HTTP_X_HUB_SIGNATURE_256": W.sign(body)})
    t.eq(rc, 0, "the signature from $HTTP_X_HUB_SIGNATURE_256 is accepted")
    rc, _, _ = b.ingest(b"{}", signature=None, env={"HTTP_X_HUB_SIGNATURE_256": W.sign(body)})
    t.eq(rc, 77, "an environment signature for other bytes is refused")


def test_bad_bodies(t):
    b = W.Bridge(deliver="maildir")
    notjson = W.fixture("not-json.txt")
    rc, _, err = b.ingest(notjson)
    t.eq(rc, 65, "signed but not JSON: exit 65")
    t.ok("kept as bad" in err, "the error says the body is kept", err)
    t.eq(b.db("SELECT body, state FROM bodies"), [(notjson, "bad")],
         "the non-JSON body is stored byte for byte, marked bad")
    rc, out, _ = b.run("status")
    t.ok("bad" in out and hashlib.sha256(notjson).hexdigest() in out and "not valid JSON" in out,
         "status shows the bad body with its hash and reason", out)

    shape = W.fixture("wrong-shape.json")
    rc, _, err = b.ingest(shape)
    t.eq(rc, 65, "JSON of the wrong shape: exit 65")
    t.eq(b.db("SELECT state FROM bodies WHERE body = ?", shape), [("bad",)],
         "the wrong-shape body is kept as bad")
    for what, raw in [("invalid UTF-8", b'{"object":"\xff\xfe"}'), ("NUL bytes", b'{"a":"\x00"}'),
                      ("an empty body", b""), ("a JSON array", b"[1,2]"),
                      ("deep nesting", b"[" * 5000 + b"]" * 5000)]:
        rc, _, err = b.ingest(raw)
        t.eq(rc, 65, "%s: exit 65, no crash" % what)
    rc, _, _ = b.run("run")
    t.eq(rc, 0, "run over bad bodies exits 0")
    t.eq(b.db("SELECT count(*) FROM messages"), [(0,)], "no messages came out of bad bodies")

    # Unknown station: stored, answered 0, visible, not delivered.
    rc, _, err = b.ingest(W.fixture("unknown-station.json"))
    t.eq(rc, 0, "a message for an unknown station is accepted (exit 0)")
    rc, _, _ = b.run("run")
    t.eq(rc, 0, "run exits 0: an unrouted message is not waiting for a retry")
    t.eq(b.db("SELECT state FROM messages"), [("unrouted",)], "the message is kept as unrouted")
    rc, out, _ = b.run("status")
    t.ok("unrouted" in out and "999990000000001" in out, "status shows the unrouted message", out)
    t.ok(not os.path.exists(os.path.join(b.dir, "mail", "999990000000001")),
         "no mailbox was invented for it")

    # Over max_body: refused before anything is stored.
    small = W.Bridge(deliver="maildir")
    cfg = open(small.config).read().replace("[webhook]\n", "[webhook]\nmax_body = 1KiB\n")
    open(small.config, "w").write(cfg)
    big = W.fixture("bengali-text.json")
    rc, _, err = small.ingest(big + b" " * 2048)
    t.eq(rc, 65, "a body over max_body: exit 65")
    t.ok("limit" in err, "the error names the limit", err)
    t.eq(bodies(small), 0, "nothing stored for an oversized body")


def hostile_payload():
    names = {
        "919830000101": "Eve\r\nBcc: victim@example.org\r\nX-Injected: yes",
        "919830000102": '"Quoted" <fake@example.org>, \\ backslash',
        "919830000103": "N" * 5000,
        "919830000104": "=?UTF-8?B?SW5qZWN0ZWQ=?=",
        "919830000105": "ল" * 3000,
    }
    msgs, contacts = [], []
    for i, (sender, name) in enumerate(sorted(names.items())):
        m, c = W.text_message(sender, "wamid.HOSTILE%02d" % i, 1792051200 + i,
                              "<script>alert('x')</script>\r\n.\r\nSubject: injected", name)
        msgs.append(m)
        contacts.append(c)
    text = "".join("ক্ষ" if i % 5 else " " for i in range(4096 // 3)) + "অ" * (4096 - 4096 // 3)
    m, c = W.text_message("919830000106", "wamid.LONGTEXT", 1792051300, text, "Long")
    msgs.append(m)
    contacts.append(c)
    return W.payload("441880000100101", msgs, contacts), names, text


def test_hostile(t):
    if not W.IMAP_PORT:
        t.skip("hostile names over IMAP", "no private Dovecot")
        return
    W.reset_mailboxes()
    b = W.Bridge()
    body, names, text = hostile_payload()
    rc, _, err = b.ingest(body)
    t.eq(rc, 0, "a payload with hostile names and a 4096-character text is accepted")
    rc, _, err = b.run("run")
    t.eq(rc, 0, "run delivers all of them")
    mails = W.mailbox("bhowanipore")
    t.eq(len(mails), 6, "six mails, one per message")
    for uid, flags, raw, msg in mails:
        sender = msg["X-WhatsApp-From"]
        t.eq(W.wire_problems(raw), [], "%s: valid wire form" % sender)
        head = raw.partition(b"\r\n\r\n")[0].lower()
        t.ok(b"\r\nbcc:" not in head and b"\r\nx-injected:" not in head and
             b"\r\nsubject: injected" not in head, "%s: no header was injected" % sender)
        t.eq(len(msg.get_all("From")), 1, "%s: exactly one From" % sender)
        shown = msg["From"].addresses[0].display_name
        # Python's address parser puts a space between adjacent encoded-words of a
        # phrase (RFC 2047 says to join them), so count characters without spaces.
        t.ok("\n" not in shown and "\r" not in shown and len(shown.replace(" ", "")) <= 128 + 20,
             "%s: the shown name is one capped line" % sender, shown)
        t.eq(msg["From"].addresses[0].addr_spec, "wa-%s@%s" % (sender, W.DOMAIN),
             "%s: the From address is ours, not one from the name" % sender)
        if sender in names:
            html = W.text_of(msg, "html")
            t.ok("<script>" not in html and "&lt;script&gt;" in html,
                 "%s: HTML in the text is escaped" % sender)
    long = [m for m in mails if m[3]["X-WhatsApp-From"] == "919830000106"]
    if long:
        plain = W.text_of(long[0][3])
        t.ok(text in plain.replace("\r\n", "\n"), "the 4096-character text arrives whole")
        subj = str(long[0][3]["Subject"])
        t.ok(len(subj) <= 100 and not subj.endswith("\u09cd"), "its subject is cut, not inside a conjunct",
             subj)
        t.ok(subj.endswith("\u2026"), "and says so with \u2026", subj)
    t.eq(b.db("SELECT count(*) FROM bodies"), [(1,)], "the body is kept")


def test(t):
    test_signatures(t)
    test_bad_bodies(t)
    test_hostile(t)


W.Tap().run(test)
