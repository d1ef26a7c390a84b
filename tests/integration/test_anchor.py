"""Journal anchors (README: Journal anchors): `journal anchor` writes the journal's head
into the [archive] Maildir as a plain-text mail (the head equal to what `journal verify`
prints) and journals it; `run` with the clock pinned writes one a day at anchor_hour and
never two; without [archive] the command exits 78; an archive that cannot be written
gives 75, nothing journaled, and `status` shows the day's anchor missing. With the private
Dovecot, one anchor goes by IMAP into a folder of its own."""

import datetime
import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

PNID = "441880000100101"  # bhowanipore
CITIZEN = "919830111222"
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


def at(day, hour, minute=0):
    """Unix time of 2026-10-DAY HOUR:MINUTE IST, as $WABRIDGE_NOW."""
    return {"WABRIDGE_NOW": str(int(datetime.datetime(2026, 10, day, hour, minute,
                                                      tzinfo=IST).timestamp()))}


def archive(path, hour=6):
    return ("[archive]\ndeliver = maildir:%s\naddress = records.officer@police.test\n"
            "anchor_hour = %d\n" % (path, hour))


def anchors(b):
    return b.db("SELECT id, subject, detail FROM journal WHERE kind = 'anchor' ORDER BY id")


def mails(path):
    return sorted(glob.glob(os.path.join(path, "new", "*")) +
                  glob.glob(os.path.join(path, "cur", "*")))


def test(t):
    b = W.Bridge(deliver="maildir")
    arch = os.path.join(b.dir, "archive")
    with open(b.config, "a") as f:
        f.write(archive(arch))
    rc, out, err = b.run("check-config")
    t.eq(rc, 0, "check-config takes the [archive] group", out + err)

    rc, _, err = b.ingest(W.single(PNID, CITIZEN, "wamid.ANC0", int(time.time()) - 60,
                                   "My phone was stolen near the market"))
    t.eq(rc, 0, "a webhook is stored", err)
    rc, _, err = b.run("run", env=at(15, 3))
    t.eq(rc, 0, "run before anchor_hour", err)
    t.eq(anchors(b), [], "writes no anchor before anchor_hour")

    rc, out, err = b.run("journal", "verify")
    head = out.split("head ")[-1].strip()
    t.ok(rc == 0 and len(head) == 64, "journal verify prints the head", out + err)
    entries = b.db("SELECT count(*) FROM journal")[0][0]
    rc, out, err = b.run("journal", "anchor", env=at(15, 3, 5))
    t.eq(rc, 0, "journal anchor exits 0", out + err)
    files = mails(arch)
    t.eq(len(files), 1, "one anchor mail is in the archive Maildir", files)
    t.ok(files and files[0] in out and head in out, "and the command says where, and the head",
         out)
    m = W.parse(open(files[0], "rb").read()) if files else None
    if m is not None:
        t.eq(m["X-Journal-Head"], head, "the mail's X-Journal-Head is journal verify's head")
        t.eq(m["X-Journal-Entry"], str(entries), "X-Journal-Entry is the last entry")
        t.eq(m["X-Journal-Entries"], str(entries), "X-Journal-Entries the count")
        t.eq(m["Auto-Submitted"], "auto-generated", "it is marked auto-generated")
        t.eq(m["To"], "records.officer@police.test", "it goes to [archive] address")
        t.eq(m["Message-ID"], "<anchor-%d-%s@%s>" % (entries, head[:12], W.DOMAIN),
             "its Message-ID names the entry and the head")
        t.eq(str(m["Subject"]), "wabridge journal anchor: entry %d, head %s\u2026" %
             (entries, head[:16]), "its Subject names the entry and the head")
        t.eq(m.get_content_type(), "text/plain", "it is plain text alone")
        body = m.get_content()
        t.ok(head in body and "wabridge journal verify" in body and "wabridge verify" in body
             and "must chain from this hash" in body, "the body says what it is and how to "
             "check it", body)
    a = anchors(b)
    t.ok(len(a) == 1 and a[0][1] == head and a[0][2].startswith("entry %d, " % entries) and
         files and files[0] in a[0][2], "the anchor is journaled: kind anchor, the head, "
         "the entry and where the mail went", a)
    rc, out, err = b.run("journal", "verify")
    t.eq(rc, 0, "the chain stays intact with the anchor in it", out + err)

    rc, _, err = b.run("run", env=at(15, 6, 30))
    t.eq(rc, 0, "run after anchor_hour", err)
    t.eq(len(anchors(b)), 2, "writes the day's anchor (the one on demand came before the hour)")
    for hour in (6, 20):
        rc, _, err = b.run("run", env=at(15, hour, 45))
        t.eq(len(anchors(b)), 2, "a later run the same day (%02d:45) writes none" % hour, err)
    rc, _, err = b.run("run", env=at(16, 5, 59))
    t.eq(len(anchors(b)), 2, "nor the next day before the hour", err)
    rc, _, err = b.run("run", env=at(16, 6))
    t.eq(len(anchors(b)), 3, "the next day at anchor_hour writes one", err)
    t.eq(len(mails(arch)), 3, "three anchor mails in the archive", mails(arch))
    rc, out, err = b.run("status", env=at(16, 7))
    t.ok(rc == 0 and "Journal anchors: daily at 06:00" in out and "MISSING" not in out,
         "status shows the anchors", out + err)

    # Not configured.
    n = W.Bridge(deliver="maildir")
    rc, out, err = n.run("journal", "anchor")
    t.eq(rc, 78, "journal anchor without [archive] exits 78", out + err)
    t.ok("[archive] deliver is not set" in err, "and says what to set", err)
    rc, out, err = n.run("status")
    t.ok("Journal anchors: off" in out, "status says anchors are off", out)

    # Bad [archive] values.
    bad = W.Bridge(deliver="maildir")
    with open(bad.config, "a") as f:
        f.write("[archive]\ndeliver = maildir\nanchor_hour = 24\n")
    rc, out, err = bad.run("check-config")
    t.ok(rc == 78 and "[archive] deliver" in out and "[archive] anchor_hour" in out,
         "check-config names a bad deliver and anchor_hour", out + err)
    bad = W.Bridge(deliver="maildir")
    with open(bad.config, "a") as f:
        f.write("[archive]\ndeliver = imap\n")
    rc, out, err = bad.run("check-config")
    t.ok(rc == 78 and "[archive] imap_user" in out and "[archive] imap_password_file" in out,
         "check-config wants the archive's IMAP login", out + err)

    # An archive that cannot be written: 75, nothing journaled, status shows it missing.
    u = W.Bridge(deliver="maildir")
    blocker = os.path.join(u.dir, "blocker")
    open(blocker, "w").close()
    with open(u.config, "a") as f:
        f.write(archive(os.path.join(blocker, "archive")))
    rc, out, err = u.run("journal", "anchor")
    t.eq(rc, 75, "an archive that cannot be written exits 75", out + err)
    t.ok("archive mailbox" in err and "nothing was journaled" in err,
         "and says which mailbox and that nothing was journaled", err)
    t.eq(anchors(u), [], "no anchor is journaled")
    rc, out, err = u.run("run", env=at(15, 7))
    t.eq(rc, 75, "run with the daily anchor failing exits 75 (work waits)", err)
    t.ok("today's anchor could not be written" in err, "and logs why", err)
    t.eq(anchors(u), [], "still no anchor journaled")
    rc, out, err = u.run("status", env=at(15, 8))
    t.ok("MISSING: today's anchor was due at 2026-10-15 06:00" in out,
         "status shows the day's anchor missing", out)

    # By IMAP into a folder of its own on the private Dovecot.
    if not W.IMAP_PORT:
        t.skip("an anchor by IMAP", "no private Dovecot")
        return
    W.reset_mailboxes()
    i = W.Bridge(deliver="maildir")
    with open(i.config, "a") as f:
        f.write("[archive]\ndeliver = imap\nimap_user = parkstreet\n"
                "imap_password_file = %s/parkstreet.pass\nfolder = Journal\n" % i.dir)
    rc, out, err = i.run("journal", "anchor")
    t.eq(rc, 0, "journal anchor by IMAP exits 0", out + err)
    got = W.mailbox("parkstreet", "Journal")
    t.eq(len(got), 1, "the anchor is in the archive's Journal folder", got)
    if got:
        msg = got[0][3]
        t.ok(msg["X-Journal-Entry"] == "0" and msg["X-Journal-Head"] == "0" * 64,
             "an empty journal is anchored as entry 0 with the genesis hash",
             "%s %s" % (msg["X-Journal-Entry"], msg["X-Journal-Head"]))
    t.ok("imap://" in out and "Journal" in out, "the command names the IMAP place", out)
    a = anchors(i)
    t.ok(len(a) == 1 and a[0][1] == "0" * 64 and "Journal" in a[0][2],
         "the anchor is journaled with the IMAP place", a)


W.Tap().run(test)
