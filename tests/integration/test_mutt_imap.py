"""A real mail client reads the mailbox: mutt, in a tmux terminal, against the private
Dovecot over IMAP, shows a Bengali photo complaint with its decoded subject and sender,
the complaint's state line first in the body, and the attachments by name (the photo
named in station time, a document with a Bengali file name)."""

import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAmutt-test-token"
PNID = "441880000100101"


def deliver_complaint(graph, b):
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000) + b"\xff\xd9"
    doc = b"%PDF-1.4\n% signed complaint\n%%EOF\n"
    ip = graph.add_media({"id": "5550001", "mime_type": "image/jpeg",
                          "data_b64": base64.b64encode(photo).decode()})
    dp = graph.add_media({"id": "5550002", "mime_type": "application/pdf",
                          "data_b64": base64.b64encode(doc).decode()})
    contact = {"profile": {"name": "অনিতা মুখার্জি"}, "wa_id": "919830600700"}
    msgs = [
        {"from": "919830600700", "id": "wamid.MUTTPHOTO", "timestamp": "1792051200",
         "type": "image", "image": {"id": "5550001", "mime_type": "image/jpeg",
                                    "sha256": ip["sha256_b64"], "caption": "চুরির অভিযোগ – সই করা"}},
        {"from": "919830600700", "id": "wamid.MUTTDOC", "timestamp": "1792051260",
         "type": "document", "document": {"id": "5550002", "mime_type": "application/pdf",
                                          "sha256": dp["sha256_b64"], "filename": "অভিযোগপত্র.pdf"}},
    ]
    rc, _, err = b.ingest(W.payload(PNID, msgs, [contact]))
    assert rc == 0, err
    rc, _, err = b.run("run")
    assert rc == 0, err


def test(t):
    if not W.IMAP_PORT:
        t.skip("mutt over IMAP", "no private Dovecot")
        return
    if not shutil.which("mutt") or not shutil.which("tmux"):
        t.skip("mutt over IMAP", "mutt or tmux is not installed")
        return
    W.reset_mailboxes()
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        b = W.Bridge()
        b.use_graph(graph.port, TOKEN)
        deliver_complaint(graph, b)
    finally:
        graph.stop()
    t.eq(len(W.mailbox("bhowanipore")), 2, "two mails in the INBOX")

    home = tempfile.mkdtemp(prefix="wbm.")
    rc = W.imap_muttrc(home, "bhowanipore",
                       "set read_only=yes\nset index_format='%4C %-30.30L %s'\n"
                       "set attach_format='%I|%F|%m/%M'\n")
    sock = "wbmutt%d" % os.getpid()
    env = "env HOME=%s LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color" % home
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "220", "-y", "50",
                    "%s mutt -n -F %s -f imap://127.0.0.1:%s/INBOX" % (env, rc, W.IMAP_PORT)],
                   check=True)
    try:
        index = W.tmux_showing(sock, "BHP-2026-000001")
        t.ok("[BHP-2026-000001] Photo: চুরির অভিযোগ – সই করা" in index,
             "mutt's index shows the decoded Bengali subject", index)
        t.ok("অনিতা মুখার্জি" in index, "mutt's index shows the decoded sender", index)
        t.ok("Document: অভিযোগপত্র.pdf" in index, "the document's subject shows its Bengali name",
             index)
        # The photo mail in the pager: the state line is the first line of the body,
        # before the caption; the photo is an attachment, the JSON prints no banner.
        subprocess.run(["tmux", "-L", sock, "send-keys", "Enter"], check=True)
        page = W.tmux_showing(sock, "NOT REGISTERED", "Attachment #")
        body = [ln.strip() for ln in page[page.find("[-- Attachment #1"):].splitlines()
                if ln.strip() and not ln.startswith("[--")]
        t.ok(body[:2] == ["NOT REGISTERED – reply to this mail with the complaint number.",
                          "চুরির অভিযোগ – সই করা"],
             "mutt's pager shows the state line first, then the citizen's caption", page)
        banners = [ln for ln in page.splitlines() if "Attachment #" in ln]
        t.ok(any("photo-20261015-133000.jpg" in ln for ln in banners) and
             not any("whatsapp-message.json" in ln for ln in banners),
             "the photo is an attachment named in station time; the JSON stays out of the "
             "way", banners)
        # Its attachment list: the photo with disposition attachment, and the JSON.
        subprocess.run(["tmux", "-L", sock, "send-keys", "v"], check=True)
        atts = W.tmux_showing(sock, "A|photo-20261015-133000.jpg|image/jpeg",
                              "whatsapp-message.json")
        t.ok("A|photo-20261015-133000.jpg|image/jpeg" in atts and
             "whatsapp-message.json" in atts,
             "the photo mail lists the photo (Content-Disposition: attachment, local time in "
             "its name) and the message object", atts)
        subprocess.run(["tmux", "-L", sock, "send-keys", "q", "q", "j", "v"], check=True)
        # The index shows the name too (in the subject): wait for the attachment list.
        atts = W.tmux_showing(sock, "অভিযোগপত্র.pdf|application/pdf")
        t.ok("A|অভিযোগপত্র.pdf|application/pdf" in atts,
             "the document's RFC 2231 file name decodes to the Bengali name in mutt", atts)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


W.Tap().run(test)
