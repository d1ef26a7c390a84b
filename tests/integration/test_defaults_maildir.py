"""With no configuration at all, ingest + run deliver to ./wabridge-data/mail/<station>/,
and a real mail reader (mutt, in a tmux terminal) shows the mail with its Bengali decoded."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


# The fixture's message was sent at this time; the bridge's clock is pinned a minute
# later, so the acknowledgement goes out inside the citizen's window and no timer of the
# station's duty is due yet.
SENT = 1792051200


def bare(args, cwd, stdin=None):
    """wabridge with no -c and no $WABRIDGE_CONFIG: the embedded defaults."""
    env = dict(os.environ, WABRIDGE_NOW=str(SENT + 60))
    env.pop("WABRIDGE_CONFIG", None)
    p = subprocess.run(W.WRAP + [W.WABRIDGE] + args, input=stdin, capture_output=True, cwd=cwd,
                       env=env, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def mutt_screens(maildir, home, keys=()):
    """Open the Maildir in mutt inside a private tmux server. keys are (key, text) pairs:
    press key, then wait for text to show. The screens once the index shows the mail and
    once each key's text shows (after a minute without it, as it is: a hang)."""
    sock = "wbtest%d" % os.getpid()
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write("set folder=%s\nset spoolfile=%s\n" % (home, maildir))
        f.write("set mbox_type=Maildir\nset charset=utf-8\nset sort=date\nset quit=yes\n"
                "set wait_key=no\nset read_only=yes\nset index_format='%4C %-40.40L %s'\n")
    env = "env HOME=%s LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color" % home
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "200", "-y", "50",
                    "%s mutt -n -F %s -f %s" % (env, rc, maildir)], check=True)

    try:
        screens = [W.tmux_showing(sock, "P0101-2026-000001")]
        for key, text in keys:
            subprocess.run(["tmux", "-L", sock, "send-keys", key], check=True)
            screens.append(W.tmux_showing(sock, text))
        return screens
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def test(t):
    d = tempfile.mkdtemp(prefix="wbd.")
    body = W.fixture("bengali-text.json")
    rc, _, err = bare(["ingest"], d, stdin=body)
    t.eq(rc, 0, "ingest on the embedded defaults exits 0")
    t.ok("signature checking is OFF" in err, "it warns loudly that signatures are not checked", err)
    rc, _, err = bare(["run"], d)
    t.eq(rc, 0, "run on the embedded defaults exits 0", err)
    maildir = os.path.join(d, "wabridge-data", "mail", "441880000100101")
    new = os.path.join(maildir, "new")
    # The keyword $WA_Acknowledged moves the citizen's mail from new/ to cur/.
    names = [os.path.join(maildir, sub, n) for sub in ("new", "cur")
             if os.path.isdir(os.path.join(maildir, sub))
             for n in sorted(os.listdir(os.path.join(maildir, sub)))]
    mails = [W.parse(open(n, "rb").read()) for n in names]
    files = [n for n, m in zip(names, mails) if m["X-WhatsApp-Type"]]
    t.eq(len(files), 1, "one mail in ./wabridge-data/mail/<phone_number_id>/")
    acks = [m for m in mails if m["X-Wabridge-Outbox"] and "Acknowledged" in m["Subject"]]
    t.eq(len(acks), 1, "the acknowledgement's record is in the thread (a dry run)")
    t.eq(len(mails), 2, "and nothing else")
    t.ok(os.path.exists(os.path.join(d, "wabridge-data", "state.db")), "state in ./wabridge-data/state.db")
    if files:
        raw = open(files[0], "rb").read()
        msg = W.parse(raw)
        t.eq(str(msg["Subject"]), "[P0101-2026-000001] আমার বাড়ির সামনে থেকে স্কুটার চুরি হয়েছে।",
             "the auto station's reference and the Bengali subject")
        t.eq(msg["To"].addresses[0].addr_spec, "station-441880000100101@localhost",
             "an auto station has a made-up address at the default domain")
    rc, _, _ = bare(["ingest"], d, stdin=body)
    bare(["run"], d)
    t.eq(len(os.listdir(new)) + len(os.listdir(os.path.join(maildir, "cur"))), 2,
         "the same body again adds no mail to the Maildir")
    rc, out, _ = bare(["status"], d)
    t.ok("441880000100101: queue 0" in out and "delivered 1" in out, "status on the defaults", out)

    if not shutil.which("mutt") or not shutil.which("tmux"):
        t.skip("mutt shows the mail", "mutt or tmux is not installed")
        return
    home = tempfile.mkdtemp(prefix="wbh.")
    index, _, screen, atts = mutt_screens(maildir, home,
                                       keys=[("=", "P0101-2026-000001"),
                                             ("Enter", "গাড়ির নম্বর WB-02-AK-1234"),
                                             ("v", "[applica/json")])
    t.ok("P0101-2026-000001" in index and "স্কুটার চুরি" in index,
         "mutt's index shows the decoded Bengali subject", index)
    t.ok("তনুশ্রী বসু" in index, "mutt's index shows the decoded sender name", index)
    t.ok("গাড়ির নম্বর WB-02-AK-1234" in screen, "mutt displays the body text", screen)
    t.ok("[-- Attachment" not in screen and "[-- Type:" not in screen,
         "a text-only mail shows only its body in mutt's pager, no attachment banner", screen)
    t.ok("whatsapp-message.json" in atts and "[applica/json" in atts,
         "mutt's attachment view (v) lists the message object", atts)


W.Tap().run(test)
