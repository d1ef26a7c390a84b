"""What the commands print never carries a control character from outside to the
terminal: `status`, `complaints`, `complaint REF`, `parse-reply` and the error lines on stderr show
escape sequences, carriage returns, backspaces, C1 controls and bidirectional overrides
escaped and visible (\\x1b, \\u202e), whether they came in a signed body that is not a
webhook or sit in the store (a reply's sender and reason, a server's error text)."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

PNID = W.STATIONS[0][2]
# What a terminal acts on: C0 controls but newline, DEL, C1 controls (as characters and
# as bare bytes), line and paragraph separators, bidirectional embeddings, overrides and
# isolates; bytes that are not UTF-8 (decoded as surrogate escapes).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                 "\udc80-\udcff]")
HOSTILE = "evil\x1b]0;owned\x07\x1b[2J\rOK\b\b\u009b31m\u202egnp.exe"
SHOWN = "evil\\x1b]0;owned\\x07\\x1b[2J\\x0dOK\\x08\\x08\\u009b31m\\u202egnp.exe"


def raw_controls(text):
    return sorted(set("%r" % c for c in RAW.findall(text)))


def run(b, *args, stdin=None):
    """wabridge's exit status, stdout and stderr, every byte kept (not UTF-8: escaped)."""
    p = subprocess.run(W.WRAP + [W.WABRIDGE, "-c", b.config] + list(args), input=stdin,
                       capture_output=True, cwd=b.dir, timeout=120)
    return (p.returncode, p.stdout.decode("utf-8", "surrogateescape"),
            p.stderr.decode("utf-8", "surrogateescape"))


def test_bad_bodies(t, b):
    for body in (b"\x1b[2J", b"\xc2\x9b", b'{"a":1}\x08'):
        rc, _, err = run(b, "ingest", "--signature", W.sign(body), stdin=body)
        t.eq(rc, 65, "a signed body that is not JSON (%r): exit 65" % body)
        t.eq(raw_controls(err), [], "ingest's error line for %r shows no raw control" % body,
             err)
    rc, out, err = run(b, "status")
    t.eq(rc, 0, "status exits 0")
    t.eq(raw_controls(out + err), [], "status passes no control character of the bodies "
         "to the terminal", out)
    for shown in ("\\x1b", "\\u009b", "\\x08"):
        t.ok("near '%s'" % shown in out, "status shows %s escaped, where the parser saw it" %
             shown, out)


def test_stored_strings(t, b):
    """Strings already in the store (from any version, any server) are shown escaped."""
    msg = W.single(PNID, "919830500001", "wamid.TERM1", 1792051200, "my phone was stolen")
    rc, _, err = b.ingest(msg)
    t.eq(rc, 0, "a citizen's message is stored", err)
    rc, _, err = b.run("run")
    t.eq(rc, 0, "and delivered", err)
    ref = b.db("SELECT ref FROM complaints")[0][0]
    cid = b.db("SELECT id FROM complaints")[0][0]
    b.db_write("UPDATE messages SET last_error = ?", "imap: \"NO " + HOSTILE + "\"")
    b.db_write("UPDATE complaints SET number = ?", "12\x1b[8m/2026")
    b.db_write("INSERT INTO replies (key, sha256, mail, source, received_at, updated_at, "
               "sender, complaint_id, state, reason) VALUES ('k1', 'x', ?, 'pipe', "
               "1792051300, 1792051300, ?, ?, 'unauthorised', ?)", b"\x00",
               HOSTILE + "@evil.example", cid, "the sender " + HOSTILE + " is not one of the officers")
    b.db_write("INSERT INTO outbox (complaint_id, station, phone_number_id, recipient, kind, "
               "lang, state, last_error, created_at, updated_at) VALUES (?, 'bhowanipore', ?, "
               "'919830500001', 'text', 'bn', 'failed', ?, 1792051400, 1792051400)", cid, PNID,
               "WhatsApp reported failure 131026: " + HOSTILE)
    for args in (["status"], ["complaints"], ["complaint", ref]):
        rc, out, err = run(b, *args)
        what = " ".join(args[:1] + (["REF"] if len(args) > 1 else []))
        t.eq(rc, 0, "%s exits 0" % what, err)
        t.eq(raw_controls(out + err), [], "%s passes no control character to the terminal"
             % what, out)
        if args[0] != "complaints":
            t.ok(SHOWN in out, "%s shows the hostile text escaped and visible" % what, out)
        else:
            t.ok("12\\x1b[8m/2026" in out, "complaints shows the number escaped", out)


def test_parse_reply(t, b):
    mail = ("From: oc@police.test\r\nSubject: Re: x\r\nContent-Type: text/plain; "
            "charset=utf-8\r\n\r\nComplaint No. 5/2026, see invoice\u202egnp.exe\r\n"
            "second line\r\n").encode()
    rc, out, err = run(b, "parse-reply", stdin=mail)
    t.eq(rc, 0, "parse-reply exits 0", err)
    t.eq(raw_controls(out), [], "parse-reply passes no bidirectional override", out)
    t.ok("invoice\\u202egnp.exe\nsecond line" in out,
         "parse-reply shows it escaped, and keeps the officer's lines", out)


def test(t):
    b = W.Bridge(deliver="maildir")
    W.set_key(b.config, "station:bhowanipore", "officers", "oc.bhowanipore@police.test")
    test_bad_bodies(t, b)
    test_stored_strings(t, b)
    test_parse_reply(t, b)


W.Tap().run(test)
