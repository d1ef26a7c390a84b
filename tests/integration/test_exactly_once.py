"""Exactly once: overlapping runs, a crash between APPEND and its record, an IMAP outage
with retries. Each wamid ends as one mail."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

N = 40


def many():
    msgs, contacts = [], []
    for i in range(N):
        m, c = W.text_message("9198300%05d" % i, "wamid.MANY%03d" % i, 1792051200 + i,
                              "complaint number %d" % i, "Citizen %d" % i)
        msgs.append(m)
        contacts.append(c)
    return W.payload("441880000100101", msgs, contacts)


def message_ids():
    return [m[3]["Message-ID"] for m in W.mailbox("bhowanipore")]


def dead_pid():
    """The pid of a claimant that is gone: one no process can have (Linux hands out pids
    below 2**22), so no new process can take it over while the test runs."""
    return 1 << 22


def here(pid):
    """A claim's owner as wabridge names it: a bridge on this host ([bridge] node unset:
    the host name) with that pid, its start time not known."""
    return "%s:%d:0" % (socket.gethostname(), pid)


def test(t):
    if not W.IMAP_PORT:
        t.skip("exactly once over IMAP", "no private Dovecot")
        return
    W.reset_mailboxes()
    b = W.Bridge()
    rc, _, _ = b.ingest(many())
    t.eq(rc, 0, "%d messages accepted" % N)

    # Two runs at once.
    cmd = W.WRAP + [W.WABRIDGE, "-c", b.config, "run"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    t.eq([p.returncode for p in procs], [0, 0], "two overlapping runs both exit 0")
    ids = message_ids()
    t.eq(len(ids), N, "%d mails in the mailbox" % N, "\n".join(o[1].decode() for o in outs)[-3000:])
    t.eq(len(set(ids)), N, "no Message-ID twice")
    per_run = [o[1].decode().count("→ delivered") for o in outs]
    t.eq(sum(per_run), N, "between them the runs delivered each message once %r" % per_run)

    # A crash after APPEND, before the outcome was recorded: the row says "delivering",
    # claimed by a process of this host that is gone (its lease still running: on one
    # host a dead process is known at once). The next run must find the mail, not append again.
    pid = dead_pid()
    b.db_write("UPDATE messages SET state = 'delivering', claim_by = ?, lease_until = ? "
               "WHERE wamid = 'wamid.MANY007'", here(pid), int(time.time()) + 3600)
    rc, _, err = b.run("run")
    t.eq(rc, 0, "the run after the crash exits 0")
    t.eq(len(message_ids()), N, "no second mail for the interrupted delivery")
    t.eq(b.db("SELECT state FROM messages WHERE wamid = 'wamid.MANY007'"), [("delivered",)],
         "the interrupted message is recorded as delivered")
    t.ok(b.db("SELECT count(*) FROM events WHERE detail LIKE '%found in the mailbox%'")[0][0] == 1,
         "the event log says it was found in the mailbox")

    # Crashed before the APPEND reached the server: the mail is not there, so it is sent.
    m = W.imap("bhowanipore")
    m.select("INBOX")
    typ, data = m.search(None, "HEADER", "Message-ID", "wamid.MANY011@")
    m.store(data[0], "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    b.db_write("UPDATE messages SET state = 'delivering', claim_by = ?, lease_until = ? "
               "WHERE wamid = 'wamid.MANY011'", here(dead_pid()), int(time.time()) + 3600)
    b.run("run")
    ids = message_ids()
    t.eq((len(ids), len(set(ids))), (N, N), "a delivery lost before the server saw it is made once")

    # A live claim by another process is left alone (the claimant lives until killed,
    # however long the runs take).
    sleeper = subprocess.Popen(["sleep", "infinity"])
    b.ingest(W.single("441880000100101", "919830099999", "wamid.CLAIMED", 1792060000,
                      "claimed elsewhere"))
    b.db_write("UPDATE messages SET claim_by = ?, lease_until = ? "
               "WHERE wamid = 'wamid.CLAIMED'", here(sleeper.pid), int(time.time()) + 3600)
    rc, _, _ = b.run("run")
    t.eq(b.db("SELECT state FROM messages WHERE wamid = 'wamid.CLAIMED'"), [("received",)],
         "a message claimed by a live process is not touched")
    sleeper.kill()
    sleeper.wait()
    rc, _, _ = b.run("run")
    t.eq(rc, 0, "once the claimant is gone the next run delivers it (exit 0)")
    t.eq(b.db("SELECT state FROM messages WHERE wamid = 'wamid.CLAIMED'"), [("delivered",)],
         "the formerly claimed message is delivered")

    # IMAP outage: retry with backoff, visible in status, delivered when it is back.
    down = W.Bridge()
    cfg = open(down.config).read().replace("imap://127.0.0.1:%s" % W.IMAP_PORT, "imap://127.0.0.1:1")
    open(down.config, "w").write(cfg)
    down.ingest(W.single("441880000100101", "919830088888", "wamid.OUTAGE", 1792060100,
                         "during an outage"))
    before = int(time.time())
    rc, _, err = down.run("run")
    t.eq(rc, 75, "with the IMAP server down, run exits 75")
    state = down.db("SELECT state, attempts, next_at > ? FROM messages", before)
    t.eq(state, [("retry", 1, 1)], "the message waits for a retry in the future")
    rc, out, _ = down.run("status")
    t.ok("queue 1" in out and "last error" in out, "status shows the waiting message and the error", out)
    # A second before it is due, however long the machine took to get here.
    early = str(int(down.db("SELECT next_at FROM messages")[0][0]) - 1)
    rc, _, _ = down.run("run", env={"WABRIDGE_NOW": early})
    t.eq(down.db("SELECT attempts FROM messages"), [(1,)], "a run before next_at does not retry")
    open(down.config, "w").write(cfg.replace("imap://127.0.0.1:1", "imap://127.0.0.1:%s" % W.IMAP_PORT))
    later = str(int(down.db("SELECT next_at FROM messages")[0][0]) + 1)
    rc, _, _ = down.run("run", env={"WABRIDGE_NOW": later})
    t.eq(rc, 0, "after the outage, at next_at, run delivers and exits 0")
    outage = [m for m in W.mailbox("bhowanipore") if m[3]["X-WhatsApp-Message-Id"] == "wamid.OUTAGE"]
    t.eq(len(outage), 1, "the delayed message is in the mailbox once")


W.Tap().run(test)
