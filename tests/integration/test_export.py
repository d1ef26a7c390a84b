"""`wabridge export` (README: Evidence package): a complaint with a text, a photo and a
document whose name and caption are hostile is delivered into the private Dovecot (media
from the fake Graph API); a second complaint on another (pinned) day. The package of the
first passes `sha256sum -c MANIFEST`; its webhook bodies, media and journal entries hash
to what the mails and the journal say; the certificate names the REF, the hashes and the
Adhiniyam, with everything from outside escaped in the HTML; --tar gives a ustar that tar
lists with the same files. Selection by station and days, usage errors (64), unknown REF
(67), a DIR that is not empty (73), and a mail deleted from the mailbox (MISSING, exit 0).
"""

import base64
import datetime
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAtest-access-token-export-1"
PNID = "441880000100101"  # bhowanipore
CITIZEN_A = "919830444001"
CITIZEN_B = "919830444002"
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
# Day 1 just after midnight IST (still the day before in UTC); day 2 late in the evening.
DAY1 = int(datetime.datetime(2026, 11, 2, 0, 10, tzinfo=IST).timestamp())
DAY2 = int(datetime.datetime(2026, 11, 3, 23, 30, tzinfo=IST).timestamp())
HOSTILE_TEXT = "<script>alert('x')</script> \u202egnp.exe & \"quotes\""
HOSTILE_NAME = "<img src=x onerror=alert(1)>\u202e"
HOSTILE_FILE = "../../etc/passwd\u202efdp.exe<script>.pdf"
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def photo_bytes(seed):
    body = hashlib.sha256(seed.encode()).digest() * 100
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def media_message(graph, kind, wamid, ts, mime, data, extra):
    media_id = str(abs(hash(wamid)) % 10**12 + 10**12)
    info = graph.add_media({"id": media_id, "mime_type": mime,
                            "data_b64": base64.b64encode(data).decode()})
    obj = {"id": media_id, "mime_type": mime, "sha256": info["sha256_b64"]}
    obj.update(extra)
    return {"from": CITIZEN_A, "id": wamid, "timestamp": str(ts), "type": kind, kind: obj}


def deliver(t, b, body, now):
    rc, _, err = b.ingest(body, env={"WABRIDGE_NOW": str(now)})
    t.eq(rc, 0, "a webhook is stored", err)
    rc, _, err = b.run("run", env={"WABRIDGE_NOW": str(now)})
    t.ok(rc in (0, 75), "run delivers", err)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def canonical(e):
    def ns(x):
        return b"%d:%s," % (len(x), x)
    out = b"wabridge-journal-1\n" + ns(b"%d" % e["id"]) + ns(b"%d" % e["at"]) + \
        ns(e["kind"].encode())
    out += ns(e["ref"].encode()) if e["ref"] is not None else b"N,"
    return out + ns(e["subject"].encode()) + ns(e["detail"].encode()) + ns(e["prev"].encode())


def manifest(d):
    with open(os.path.join(d, "MANIFEST")) as f:
        return [ln.split("  ", 1) for ln in f.read().splitlines()]


def all_files(d):
    out = []
    for root, dirs, files in os.walk(d):
        for n in files + dirs:
            out.append(os.path.relpath(os.path.join(root, n), d))
    return out


def check_package(t, b, d, ref, photo, out):
    rc = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST"], cwd=d,
                        capture_output=True, text=True)
    t.eq(rc.returncode, 0, "sha256sum -c MANIFEST passes in the package", rc.stdout + rc.stderr)
    listed = {p for _, p in manifest(d)}
    files = {f for f in all_files(d) if os.path.isfile(os.path.join(d, f))}
    t.eq(files - {"MANIFEST"}, listed, "MANIFEST lists every other file of the package")
    t.ok(sha(os.path.join(d, "MANIFEST")) in out, "the summary prints the MANIFEST's SHA-256",
         out)
    t.eq(stat.S_IMODE(os.stat(d).st_mode), 0o700, "the package directory is mode 0700")
    bad = [f for f in all_files(d) if not all(SAFE.match(x) for x in f.split(os.sep))]
    t.eq(bad, [], "every file name is made of [A-Za-z0-9._-] only (no traversal, no RTL)")
    real = os.path.realpath(d)
    t.ok(all(os.path.realpath(os.path.join(d, f)).startswith(real + os.sep)
             for f in all_files(d)), "nothing lies outside the package")

    mails = sorted(os.listdir(os.path.join(d, "mails")))
    t.eq(len(mails), 3, "three mails (text, photo, document)", mails)
    t.ok(all(re.match(r"^\d{3}-wamid\.EXP", m) and m.endswith(".eml") for m in mails),
         "mails are named NNN-<Message-ID>.eml", mails)
    media = sorted(os.listdir(os.path.join(d, "media")))
    for m in mails:
        msg = W.parse(open(os.path.join(d, "mails", m), "rb").read())
        t.eq(msg["X-Complaint-Ref"], ref, "%s: of the complaint" % m)
        psha = msg["X-Payload-SHA256"]
        wh = os.path.join(d, "webhooks", psha + ".json")
        t.ok(os.path.exists(wh) and sha(wh) == psha,
             "%s: webhooks/<X-Payload-SHA256>.json hashes to its name" % m)
        for part in msg.walk():
            desc = part["Content-Description"] or ""
            mm = re.search(r"SHA-256 ([0-9a-f]{64})", desc)
            if not mm:
                continue
            num = m[:3]
            got = [f for f in media if f.startswith(num + "-")]
            t.eq(len(got), 1, "%s: its medium is in media/" % m, media)
            if got:
                data = open(os.path.join(d, "media", got[0]), "rb").read()
                t.eq(hashlib.sha256(data).hexdigest(), mm.group(1),
                     "%s: the medium's SHA-256 is its Content-Description's" % m)
                if part.get_content_type() == "image/jpeg":
                    t.ok(data == photo, "the photo's bytes are those the fake served")
    t.eq(len(media), 2, "two media (photo, document)", media)

    jl = [json.loads(x) for x in open(os.path.join(d, "journal.jsonl")).read().splitlines()]
    t.ok(all(hashlib.sha256(canonical(e)).hexdigest() == e["hash"] for e in jl),
         "every journal.jsonl entry recomputes to its hash (journal.h canonical form)")
    kinds = [e["kind"] for e in jl]
    t.ok(kinds.count("delivered") == 3 and kinds.count("body") == 3,
         "it holds the delivered and body entries", kinds)
    t.eq([e["id"] for e in jl], sorted(e["id"] for e in jl), "entries in id order")

    txt = open(os.path.join(d, "certificate.txt"), encoding="utf-8").read()
    html = open(os.path.join(d, "certificate.html"), encoding="utf-8").read()
    head = b.db("SELECT hash FROM journal ORDER BY id DESC LIMIT 1")[0][0]
    for name, sheet in (("certificate.txt", txt), ("certificate.html", html)):
        t.ok(ref in sheet and "Bharatiya Sakshya Adhiniyam" in sheet,
             "%s names the REF and the Adhiniyam" % name)
        hashes = [h for h, p in manifest(d) if not p.startswith("certificate.")]
        t.ok(all(h in sheet for h in hashes), "%s lists every file's SHA-256" % name)
        t.ok(head in sheet, "%s gives the journal head" % name)
        t.ok("signed" in sheet and "Signature" in sheet and "Designation" in sheet,
             "%s leaves fields to sign" % name)
        t.ok("\u202e" not in sheet, "%s: no raw bidi override" % name)
    t.ok("<script" not in html.lower() and "<img" not in html.lower() and
         "&lt;script&gt;" in html, "the HTML escapes the citizen's text", html[:200])
    t.ok("http://" not in html and "https://" not in html and "src=" not in html.replace(
        "src=x", ""), "the HTML loads nothing from outside")
    rep = open(os.path.join(d, "report.txt")).read()
    t.ok(rep.count(" intact  <") == 3, "report.txt: every mail intact", rep)


def test(t):
    if not W.IMAP_PORT:
        t.skip("export", "no private Dovecot")
        return
    W.reset_mailboxes()
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    work = tempfile.mkdtemp(prefix="wbx.")
    try:
        b = W.Bridge()
        b.use_graph(graph.port, TOKEN)
        photo = photo_bytes("export photo")
        contact = {"profile": {"name": HOSTILE_NAME}, "wa_id": CITIZEN_A}
        msgs = [
            W.text_message(CITIZEN_A, "wamid.EXP1", DAY1, HOSTILE_TEXT)[0],
            media_message(graph, "image", "wamid.EXP2", DAY1 + 1, "image/jpeg", photo,
                          {"caption": "signed complaint"}),
            media_message(graph, "document", "wamid.EXP3", DAY1 + 2, "application/pdf",
                          b"%PDF-1.4 hostile name\n%%EOF\n", {"filename": HOSTILE_FILE}),
        ]
        for m in msgs:
            deliver(t, b, W.payload(PNID, [m], [contact]), DAY1)
        deliver(t, b, W.single(PNID, CITIZEN_B, "wamid.EXPB", DAY2, "second complaint"), DAY2)
        refs = [r for (r,) in b.db("SELECT ref FROM complaints ORDER BY id")]
        t.eq(len(refs), 2, "two complaints", refs)
        t.eq(b.db("SELECT count(*) FROM deliveries")[0][0], 4, "four deliveries recorded")
        ref = refs[0]

        d = os.path.join(work, "pkg")
        rc, out, err = b.run("export", ref, "-o", d)
        t.eq(rc, 0, "export REF exits 0", out + err)
        t.ok("3 mails, 0 missing" in out, "the summary counts the mails", out)
        check_package(t, b, d, ref, photo, out)

        # --tar: the same files, deterministic ustar.
        d2 = os.path.join(work, "pkg2")
        rc, out, err = b.run("export", ref.lower(), "-o", d2 + "/", "--tar")
        t.eq(rc, 0, "export --tar exits 0 (REF in any case, DIR with a slash)", out + err)
        p = subprocess.run(["tar", "-tf", d2 + ".tar"], capture_output=True, text=True)
        t.eq(p.returncode, 0, "tar -tf reads the archive", p.stderr)
        names = {n for n in p.stdout.splitlines() if not n.endswith("/")}
        want = {"pkg2/" + f for f in all_files(d2) if os.path.isfile(os.path.join(d2, f))}
        t.eq(names, want, "the archive holds the package's files")
        x = os.path.join(work, "x")
        os.mkdir(x)
        subprocess.run(["tar", "-xf", d2 + ".tar", "-C", x], check=True)
        rc2 = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST"],
                             cwd=os.path.join(x, "pkg2"), capture_output=True, text=True)
        t.eq(rc2.returncode, 0, "unpacked, sha256sum -c MANIFEST passes", rc2.stdout)
        rc, out, err = b.run("export", ref, "-o", os.path.join(work, "pkg2"), "--tar")
        t.eq(rc, 73, "DIR not empty: exit 73", err)

        # Errors.
        rc, _, err = b.run("export", "BHP-2026-999999", "-o", os.path.join(work, "u"))
        t.eq(rc, 67, "unknown REF: exit 67", err)
        t.ok("wabridge complaints" in err, "and it points to 'wabridge complaints'", err)
        t.ok(not os.path.exists(os.path.join(work, "u")), "and makes no directory")
        rc, _, err = b.run("export", ref, "-o", d)
        t.eq(rc, 73, "a DIR that is not empty: exit 73", err)
        t.ok("not an empty directory" in err, "and says so", err)
        for args, what in (((ref,), "no -o"),
                           (("--station", "bhowanipore", "--from", "2026-11-02", "-o",
                             os.path.join(work, "e1")), "--from without --to"),
                           (("--station", "bhowanipore", "--from", "2026-13-02", "--to",
                             "2026-11-03", "-o", os.path.join(work, "e2")), "a bad date"),
                           (("--station", "bhowanipore", "--from", "2026-11-04", "--to",
                             "2026-11-03", "-o", os.path.join(work, "e3")), "from after to"),
                           (("--station", "nowhere", "--from", "2026-11-02", "--to",
                             "2026-11-03", "-o", os.path.join(work, "e4")), "unknown station"),
                           ((ref, "--station", "bhowanipore", "-o", os.path.join(work, "e5")),
                            "both REF and --station")):
            rc, _, err = b.run("export", *args)
            t.eq(rc, 64, "%s: exit 64" % what, err)

        # By station and days (IST).
        for frm, to, n in (("2026-11-02", "2026-11-02", 3), ("2026-11-03", "2026-11-03", 1),
                           ("2026-11-02", "2026-11-03", 4), ("2026-11-01", "2026-11-01", 0)):
            dd = os.path.join(work, "st-%s-%s" % (frm, to))
            rc, out, err = b.run("export", "--station", "bhowanipore", "--from", frm, "--to",
                                 to, "-o", dd)
            t.eq(rc, 0, "--station --from %s --to %s exits 0" % (frm, to), err)
            t.eq(len(os.listdir(os.path.join(dd, "mails"))), n,
                 "%s..%s: %d mails" % (frm, to, n), out)

        # A mail changed in the mailbox (a copy with another Date put in its place).
        m = W.imap("bhowanipore")
        m.select("INBOX")
        typ, data = m.uid("search", None, "HEADER", "Message-ID", "wamid.EXP1")
        uid = data[0].split()[0]
        typ, parts = m.uid("fetch", uid, "(BODY.PEEK[])")
        forged = re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: Mon, 01 Jan 2024 00:00:00 +0000",
                        parts[0][1], count=1)
        m.append("INBOX", None, None, forged)
        m.uid("store", uid, "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        da = os.path.join(work, "altered")
        rc, out, err = b.run("export", ref, "-o", da)
        t.eq(rc, 0, "a mail changed in the mailbox: exit 0", out + err)
        t.ok("1 altered" in out and "altered" in err, "the summary and a warning say so",
             out + err)
        rep = open(os.path.join(da, "report.txt")).read()
        t.ok("001  altered  <wamid.EXP1@" in rep and "header Date changed" in rep,
             "report.txt names the mail altered and what changed", rep)
        t.ok("001  altered" in open(os.path.join(da, "certificate.txt")).read(),
             "so does the certificate")
        first = [f for f in os.listdir(os.path.join(da, "mails")) if f.startswith("001-")]
        t.ok(first and open(os.path.join(da, "mails", first[0]), "rb").read() == forged,
             "the package holds what the mailbox has", first)

        # A mail deleted from the mailbox.
        m = W.imap("bhowanipore")
        m.select("INBOX")
        typ, data = m.uid("search", None, "HEADER", "Message-ID", "wamid.EXPB")
        uids = data[0].split()
        t.eq(len(uids), 1, "the second complaint's mail is in the mailbox")
        for u in uids:
            m.uid("store", u, "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.logout()
        dm = os.path.join(work, "missing")
        rc, out, err = b.run("export", refs[1], "-o", dm)
        t.eq(rc, 0, "a mail gone from the mailbox: still exit 0", out + err)
        t.ok("1 mail, 1 missing" in out, "the summary says it is missing", out)
        t.ok("warning" in err and "MISSING" in err, "a warning on stderr", err)
        rep = open(os.path.join(dm, "report.txt")).read()
        t.ok("MISSING  <wamid.EXPB@" in rep and "journal entry" in rep,
             "report.txt lists it MISSING with its delivery record", rep)
        cert = open(os.path.join(dm, "certificate.txt")).read()
        t.ok("MISSING" in cert, "so does the certificate")
        t.eq(len(os.listdir(os.path.join(dm, "webhooks"))), 1, "its webhook body is exported")
        jl = [json.loads(x) for x in open(os.path.join(dm, "journal.jsonl"))]
        t.ok(any(e["kind"] == "delivered" and "wamid.EXPB" in e["subject"] for e in jl),
             "and its delivered journal entry")
        rc = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST"], cwd=dm,
                            capture_output=True)
        t.eq(rc.returncode, 0, "the package still checks")
    finally:
        graph.stop()
        if os.environ.get("WB_KEEP") == "1":
            print("# kept %s" % work)
        else:
            subprocess.run(["rm", "-rf", work])


W.Tap().run(test)
