"""Media through the spool (src/spool.c, pipeline.c): a medium is downloaded into a file,
the mail rendered into another and delivered from a mapping of it; neither is held in
memory nor kept in the state database.

Against the fake Graph API (tests/lib/fakegraph.py, Meta's two-step download, media made
from a seed so that 100 MiB need not be sent to it) and the private Dovecot:
- a 100 MiB document arrives byte for byte, its SHA-256 in the part's description and in
  the delivery record, the state database never holding it, the spool empty afterwards,
  and `run` stays far below the memory the old path needed;
- a download over the cap is stopped while it streams, a truncated one is retried;
- a spool that cannot be written (a file where its directory should be; a full tmpfs,
  as root) is a retry with the reason, and once mended the mail goes out with its medium;
- a mailbox that is down: the mail waits in the spool and the retry sends it without
  downloading the medium again;
- a file left for a message still "received", or for a station it no longer goes to,
  is not delivered; stale files are swept at the start of a run."""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAspool-access-token-31c7e5"
PNID = "441880000100101"
MIB = 1024 * 1024


def doc_payload(wamid, media_id, sha_b64, ts, name):
    msg = {"from": "919830444777", "id": wamid, "timestamp": str(ts), "type": "document",
           "document": {"id": media_id, "mime_type": "application/pdf", "sha256": sha_b64,
                        "filename": name, "caption": "FIR copy and evidence"}}
    contact = {"profile": {"name": "Anjali Sen"}, "wa_id": "919830444777"}
    return W.payload(PNID, [msg], [contact])


class Setup:
    n = 0  # documents sent by every Setup: media ids and wamids never repeat

    def __init__(self, graph):
        self.graph = graph
        graph.reset()
        self.b = W.Bridge()
        self.b.use_graph(graph.port, TOKEN)
        self.spool = os.path.join(self.b.dir, "spool")

    def send_doc(self, size, fail=None, seed=None):
        """A document of size bytes made from a seed; returns (wamid, media_id, seed, sha hex)."""
        Setup.n += 1
        self.n = Setup.n
        media_id = str(5029384756000 + self.n)
        seed = seed or "doc %d of %s" % (self.n, self.b.dir)
        info = self.graph.add_media({"id": media_id, "mime_type": "application/pdf",
                                     "size": size, "seed": seed})
        if fail:
            self.graph.add_fail(dict(fail, media_id=media_id))
        wamid = "wamid.SPOOLDOC%03d" % self.n
        rc, _, err = self.b.ingest(doc_payload(wamid, media_id, info["sha256_b64"],
                                               1792051200 + self.n, "evidence-%d.pdf" % self.n))
        assert rc == 0, err
        return wamid, media_id, seed, info["sha256"]

    def state(self, wamid):
        return self.b.db("SELECT state, next_at, last_error FROM messages WHERE wamid = ?",
                         wamid)[0]

    def run(self, at=None):
        env = {"WABRIDGE_NOW": str(at)} if at else None
        return self.b.run("run", env=env)

    def run_after_retry(self, wamid):
        """One run at the message's next_at."""
        return self.run(int(self.state(wamid)[1]) + 1)

    def spool_files(self):
        return sorted(os.listdir(self.spool)) if os.path.isdir(self.spool) else []

    def downloads(self, media_id):
        return [r for r in self.graph.snapshot()
                if r.get("media_id") == media_id and r.get("step") == "download"]


def vm_hwm(pid):
    """VmHWM of a process in KiB (0 once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(bridge):
    """`wabridge run`: its exit code, standard error and peak resident size in KiB, read
    from VmHWM as it runs (the high-water mark of the program itself: getrusage() would
    also count this Python process, which the child was a copy of before its exec)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(W.WRAP + [W.WABRIDGE, "-c", bridge.config, "run"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             cwd=bridge.dir)
        peak = 0
        while p.poll() is None:
            peak = max(peak, vm_hwm(p.pid))
            time.sleep(0.01)
        err.seek(0)
        return p.returncode, err.read().decode("utf-8", "replace"), peak


def mails_for(wamid, user="bhowanipore"):
    return [m for m in W.mailbox(user) if m[3]["X-WhatsApp-Message-Id"] == wamid]


def pdf_part(msg):
    for part in msg.walk():
        if part.get_content_type() == "application/pdf":
            return part
    return None


def check_arrived(t, s, wamid, seed, size, sha, what):
    """One mail with the document byte for byte; the spool empty; nothing in `rendered`."""
    mails = mails_for(wamid)
    t.eq(len(mails), 1, "%s: exactly one mail" % what)
    if not mails:
        return None
    raw, msg = mails[0][2], mails[0][3]
    part = pdf_part(msg)
    got = part.get_payload(decode=True) if part is not None else b""
    t.ok(got == fakegraph.generated_bytes(seed, size),
         "%s: the attached bytes are exactly the %d bytes served" % (what, size),
         "got %d bytes" % len(got))
    t.eq(hashlib.sha256(got).hexdigest(), sha, "%s: their SHA-256 is Meta's" % what)
    t.ok(part is not None and part["Content-Description"].endswith("SHA-256 " + sha),
         "%s: Content-Description names that SHA-256" % what)
    t.eq(W.wire_problems(raw[:200000]), [], "%s: valid wire form (headers and first lines)" % what)
    t.eq(s.spool_files(), [], "%s: the spool is empty once it is delivered" % what)
    t.eq(s.b.db("SELECT count(*) FROM rendered r JOIN messages m ON m.id = r.msg "
                "WHERE m.wamid = ?", wamid)[0][0], 0,
         "%s: the state database never kept the mail" % what)
    return raw


def test_large(t, graph):
    s = Setup(graph)
    size = 100 * MIB if not W.WRAP else 8 * MIB  # valgrind would take many minutes
    wamid, media_id, seed, sha = s.send_doc(size)
    rc, err, peak_kib = run_measured(s.b)
    t.eq(s.state(wamid)[0], "delivered", "a %d MiB document is delivered" % (size // MIB),
         err[-2000:])
    raw = check_arrived(t, s, wamid, seed, size, sha, "%d MiB document" % (size // MIB))
    if raw is None:
        return
    canon = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    rec = s.b.db("SELECT d.sha256, d.size FROM deliveries d JOIN messages m ON m.id = d.msg "
                 "WHERE m.wamid = ?", wamid)
    t.eq(rec, [(hashlib.sha256(canon).hexdigest(), len(canon))],
         "the delivery record has the hash and size of the mail as delivered")
    media = s.b.db("SELECT m.sha256, m.size FROM media m JOIN messages x ON x.id = "
                   "m.message_id WHERE x.wamid = ?", wamid)
    t.eq(media, [(sha, size)], "the medium's facts are recorded")
    t.ok(s.b.state_size() < 8 * MIB, "the state database stays small",
         "%d bytes" % s.b.state_size())
    rc, out, err = s.b.run("verify", "--station", "bhowanipore")
    t.eq(rc, 0, "verify finds the mail intact against its digest", out[-1500:] + err[-1500:])
    # The old path held the medium, the mail and copies of it: 730 MiB for this one. Now
    # a few buffers, and of the mapped mail only what was read last (spool.h): the whole
    # mail mapped at once would already pass its size. (ASan's own memory comes on top in
    # the sanitizer build: 77 MiB in all, against 34 MiB without.)
    print("# run's peak RSS: %d MiB, the mail %d MiB" % (peak_kib // 1024, len(canon) // MIB))
    if W.WRAP:
        t.skip("run's peak memory", "under valgrind")
    else:
        t.ok(peak_kib * 1024 < len(canon), "run's peak RSS stays under the mail's size "
             "(neither the document nor the mail held whole)", "%d MiB" % (peak_kib // 1024))


def test_cap_and_truncation(t, graph):
    s = Setup(graph)
    W.set_key(s.b.config, "whatsapp", "media_max", "4MiB")
    wamid, media_id, seed, sha = s.send_doc(2 * MIB, {"mode": "oversize_stream", "times": 1,
                                                      "limit": 64 * MIB})
    s.run()
    dl = s.downloads(media_id)
    t.ok(dl and dl[-1]["client_gone"] and dl[-1]["bytes_sent"] < 16 * MIB,
         "a download past media_max is stopped while it streams",
         dl and {k: dl[-1][k] for k in ("bytes_sent", "client_gone")})
    t.eq(s.spool_files(), [], "what it had written is removed")
    msg = mails_for(wamid)
    t.ok(len(msg) == 1 and "could not be fetched" in W.text_of(msg[0][3]),
         "the mail goes out with a notice instead of the medium")

    wamid, media_id, seed, sha = s.send_doc(3 * MIB, {"mode": "truncated", "times": 1})
    s.run()
    st = s.state(wamid)
    t.ok(st[0] == "retry" and any(w in (st[2] or "") for w in ("partial", "truncated")),
         "a truncated download is a retry", st)
    t.eq(s.spool_files(), [], "the partial file is removed")
    s.run_after_retry(wamid)
    t.eq(s.state(wamid)[0], "delivered", "the retry delivers it")
    check_arrived(t, s, wamid, seed, 3 * MIB, sha, "after a truncated download")


def test_unwritable(t, graph):
    s = Setup(graph)
    blocker = os.path.join(s.b.dir, "not-a-dir")
    with open(blocker, "w") as f:
        f.write("a file where the spool's parent should be\n")
    W.set_key(s.b.config, "bridge", "spool_dir", os.path.join(blocker, "spool"))
    wamid, media_id, seed, sha = s.send_doc(1 * MIB)
    rc, out, err = s.run()
    st = s.state(wamid)
    t.eq(st[0], "retry", "an unwritable spool: the message waits for a retry", st)
    t.ok("spool" in (st[2] or "") and "not-a-dir" in (st[2] or ""),
         "the reason names the spool directory", st[2])
    t.ok("not-a-dir" in err, "and the log says so", err[-1000:])
    t.eq(mails_for(wamid), [], "no mail went out without its medium")
    t.eq(s.downloads(media_id), [], "nothing was downloaded to nowhere")
    W.set_key(s.b.config, "bridge", "spool_dir", None)
    s.run_after_retry(wamid)
    t.eq(s.state(wamid)[0], "delivered", "once the spool is mended, it is delivered")
    check_arrived(t, s, wamid, seed, 1 * MIB, sha, "after an unwritable spool")


def mount_tmpfs(where, size):
    os.makedirs(where, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                        where], capture_output=True, text=True)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def remount(where, size):
    return subprocess.run(["mount", "-o", "remount,size=%s" % size, where],
                          capture_output=True).returncode == 0


def test_disk_full(t, graph):
    what = "a full spool (a 1 MiB tmpfs)"
    if os.geteuid() != 0:
        t.skip(what, "needs root to mount a tmpfs")
        return
    s = Setup(graph)
    ok, why = mount_tmpfs(s.spool, "1m")
    if not ok:
        t.skip(what, "mount -t tmpfs failed: %s" % why)
        return
    try:
        # 3 MiB cannot be downloaded; 600 kB can, but the mail with it in base64 cannot
        # be written next to it.
        big = s.send_doc(3 * MIB)
        mid = s.send_doc(600 * 1024)
        rc, out, err = s.run()
        for (wamid, media_id, seed, sha), phase in ((big, "download"), (mid, "rendering")):
            st = s.state(wamid)
            t.eq(st[0], "retry", "full spool during the %s: a retry" % phase, st)
            t.ok("No space left on device" in (st[2] or ""),
                 "full spool during the %s: the reason says the disk is full" % phase, st[2])
            t.eq(mails_for(wamid), [], "full spool during the %s: no mail without its medium"
                 % phase)
        t.eq(s.spool_files(), [], "nothing half-written is left in the spool")
        t.ok(remount(s.spool, "64m"), "(the tmpfs grows to 64 MiB)")
        later = max(int(s.state(big[0])[1]), int(s.state(mid[0])[1])) + 1
        s.run(later)
        for (wamid, media_id, seed, sha), size, phase in ((big, 3 * MIB, "download"),
                                                          (mid, 600 * 1024, "rendering")):
            t.eq(s.state(wamid)[0], "delivered", "once there is room, the message stopped "
                 "at the %s is delivered" % phase)
            check_arrived(t, s, wamid, seed, size, sha, "after a full spool (%s)" % phase)
    finally:
        if subprocess.run(["umount", s.spool], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", s.spool], capture_output=True)


def test_mailbox_down(t, graph):
    s = Setup(graph)
    W.set_key(s.b.config, "imap", "url", "imap://127.0.0.1:%d" % W.free_port())
    wamid, media_id, seed, sha = s.send_doc(5 * MIB)
    s.run()
    st = s.state(wamid)
    t.eq(st[0], "retry", "the mailbox is down: a retry", st)
    files = s.spool_files()
    t.ok(len(files) == 1 and files[0].startswith("mail-") and ".bhowanipore.BHP-" in files[0],
         "the rendered mail waits in the spool, named for its message, station and complaint",
         files)
    t.eq(s.b.db("SELECT count(*) FROM rendered")[0][0], 0, "and not in the state database")
    W.set_key(s.b.config, "imap", "url", "imap://127.0.0.1:%s" % W.IMAP_PORT)
    s.run_after_retry(wamid)
    t.eq(s.state(wamid)[0], "delivered", "the mailbox is back: delivered")
    t.eq(len(s.downloads(media_id)), 1, "from the spool: the medium was downloaded once")
    check_arrived(t, s, wamid, seed, 5 * MIB, sha, "after the mailbox was down")


def test_stale_files(t, graph):
    s = Setup(graph)
    W.set_key(s.b.config, "imap", "url", "imap://127.0.0.1:%d" % W.free_port())
    wamid, media_id, seed, sha = s.send_doc(1 * MIB)
    s.run()
    files = s.spool_files()
    t.eq(len(files), 1, "(the mail waits in the spool)", files)
    if len(files) != 1:
        return
    old = files[0]
    # A second message left "received" with a file under its name (a crash between the
    # file and the commit): its contents must never be delivered.
    wamid2, media_id2, seed2, sha2 = s.send_doc(1 * MIB)
    mid2, ref2 = s.b.db("SELECT m.id, c.ref FROM messages m JOIN complaints c ON c.id = "
                        "m.complaint_id WHERE m.wamid = ?", wamid2)[0]
    # The first one's complaint moves to another station meanwhile (what a #transfer does
    # to a waiting message): the mail rendered for Bhowanipore must not go to Gariahat.
    s.b.db_write("UPDATE messages SET station = 'gariahat', state = 'received', next_at = 0 "
                 "WHERE wamid = ?", wamid)
    s.b.db_write("UPDATE complaints SET station = 'gariahat' WHERE id = (SELECT complaint_id "
                 "FROM messages WHERE wamid = ?)", wamid)
    junk = os.path.join(s.spool, "mail-%d.bhowanipore.%s.eml" % (mid2, ref2))
    with open(junk, "wb") as f:
        f.write(b"Subject: not the real mail\r\n\r\njunk\r\n")
    dead = os.path.join(s.spool, "tmp-999999999-media-%d-Ab12Cd" % mid2)
    with open(dead, "wb") as f:
        f.write(b"half a download")
    mine = os.path.join(s.spool, "README.operator")
    with open(mine, "w") as f:
        f.write("a file the spool does not make\n")
    W.set_key(s.b.config, "imap", "url", "imap://127.0.0.1:%s" % W.IMAP_PORT)
    rc, out, err = s.run(int(s.state(wamid)[1]) + 1)
    t.ok("spool " in err and "removed" in err, "the run says it swept the spool", err[-800:])
    for w, seed_, user in ((wamid, seed, "jadavpur"), (wamid2, seed2, "bhowanipore")):
        got = mails_for(w, user)  # jadavpur: gariahat's mailbox
        t.eq(len(got), 1, "%s: delivered once, to the station it goes to now" % w)
        part = pdf_part(got[0][3]) if got else None
        t.ok(part is not None and part.get_payload(decode=True) ==
             fakegraph.generated_bytes(seed_, 1 * MIB),
             "%s: rendered afresh, with its medium (no stale file delivered)" % w)
    t.eq(mails_for(wamid), [], "nothing went to the station it no longer belongs to")
    t.eq(s.spool_files(), ["README.operator"],
         "the stale mail, the dead process's download and the delivered mails are gone; "
         "a file the spool does not make stays")
    t.ok(not os.path.exists(os.path.join(s.spool, old)), "(the file for Bhowanipore too)")


def test(t):
    if not W.IMAP_PORT:
        t.skip("media through the spool", "no private Dovecot")
        return
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    try:
        for name, fn in (("large", test_large), ("cap", test_cap_and_truncation),
                         ("unwritable", test_unwritable), ("full", test_disk_full),
                         ("mailbox_down", test_mailbox_down), ("stale", test_stale_files)):
            only = os.environ.get("WB_TEST_ONLY")
            if only and only != name:
                continue
            W.reset_mailboxes()
            fn(t, graph)
    finally:
        graph.stop()


W.Tap().run(test)
