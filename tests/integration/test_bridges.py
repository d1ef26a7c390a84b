"""Several bridges on one state (issue 14): two `wabridge serve` processes share one state
database, one Dovecot and one (fake) Graph API, with [bridge] node names of their own
(bridge-a, bridge-b: as if on two hosts, so that neither can see the other's process and
only the lease frees a dead one's work) and lease_seconds = 10.

Client threads stream signed webhooks, each with a fresh wamid, to bridges picked by a
seeded RNG; a POST that gets no answer goes again, the same bytes, to the other bridge,
and now and then a body answered 200 goes to the other bridge as well (Meta delivers
twice). Officers' replies land in the replies mailbox both bridges watch.

First, before the stream, a `wabridge run` on bridge-a's node is held in a photo's
download past the lease of the messages it claimed, beside bridge-a's serve: serve leaves
the live process's work alone (on one node the process says, not the lease), and run
delivers it once. Then one bridge is SIGKILLed at moments the seed picks (after so many
200s), and:

- three rounds restart it at once: its claims are let go at its node's next heartbeat;
- one round kills the bridge whose WhatsApp send the fake Graph API holds, and leaves it
  dead until its lease has run out while the other works on: that send stays `sending`
  (WhatsApp may have it) and is neither sent again nor called `unknown` before the
  grace time, which a last `run` with the clock 31 minutes on then ends;
- one round holds the survivor's IMAP relay (tests/lib/imapproxy.py, one in front of
  each bridge) and lets the victim's next APPEND reach Dovecot but never its answer, so
  that the victim holds a batch `delivering`, one mail of it stored; it lets the
  survivor go on, shows that the living victim's claims outlast their first lease (its
  heartbeat renews them), kills the victim and leaves it dead: the survivor delivers
  those messages, finds the stored one in the mailbox instead of appending it again, and
  a trigger the test puts on the tables shows that each claim passed from the dead bridge
  to the survivor, at a time (the survivor's own clock, lease_until - lease) not before
  the dead one's lease ran out.

Then both drain: every webhook answered 200 is exactly one mail (no Message-ID twice,
nothing left delivering), every reply is exactly one send, `status` lists both bridges and
/metrics has wabridge_bridge_up and wabridge_bridge_claims for each.

WB_SEED picks other kill points (the default is fixed, so a failure can be repeated)."""

import base64
import collections
import email.utils
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import fakegraph  # noqa: E402
import imapproxy  # noqa: E402
import wbtest as W  # noqa: E402

TOKEN = "EAAbridges-test-token-14a2"
BHP = W.STATIONS[0][2]
OFFICER = "oc.bhowanipore@police.test"
LEASE = 10
SEED = int(os.environ.get("WB_SEED") or 1414)
POSTERS = 3
RESTART_ROUNDS = 3
LOG_TABLE = "wbtest_claims"
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + \
    b"bridges" * 300 + b"\xff\xd9"


def mid(wamid):
    return "<%s@%s>" % (wamid, W.DOMAIN)


# ---- the two bridges ------------------------------------------------------------------------

class Node:
    """One bridge process: its own copy of the configuration ([bridge] node, the listen port
    W.Serve picks, [imap] url through a relay of its own), on the shared state."""

    def __init__(self, b, name):
        self.b, self.name = b, name
        self.dir = os.path.join(b.dir, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "wabridge.conf")
        shutil.copy(b.config, self.config)
        self.proxy = imapproxy.IMAPProxy(W.IMAP_PORT).start()
        W.set_key(self.config, "imap", "url", "imap://127.0.0.1:%d" % self.proxy.port)
        W.set_key(self.config, "bridge", "node", name)
        # each its own passing files, as on two hosts
        W.set_key(self.config, "bridge", "spool_dir", os.path.join(self.dir, "spool"))
        self.sv = W.Serve(self)
        self.id = None

    def start(self):
        """Start serve and wait for its row in `bridges` (its first heartbeat); its id."""
        self.id = None
        if not self.sv.start():
            return None
        pid = self.sv.proc.pid
        row = W.wait_for(lambda: self.b.db("SELECT id FROM bridges WHERE node = ? AND pid = ?",
                                           self.name, pid), 60, 0.1)
        self.id = row[0][0] if row else None
        return self.id

    def kill(self):
        """SIGKILL; its relay's connections die with it. Its exit status."""
        self.sv.send_signal(signal.SIGKILL)
        self.sv.proc.wait(60)
        self.proxy.drop()
        return self.sv.proc.returncode

    def stop(self):
        self.sv.kill()
        self.proxy.stop()


def claims(b, bridge_id):
    """What bridge_id holds now: {table: [(id, state, lease_until)]}."""
    out = {}
    for table in ("messages", "outbox", "mailops", "mailout"):
        out[table] = b.db("SELECT id, state, lease_until FROM %s WHERE claim_by = ? "
                          "ORDER BY id" % table, bridge_id)
    return out


def install_log(b):
    """A table and triggers of the test's own that record every change of a claim on
    messages and outbox (and of an outbox row's state), with the old and new claimant and
    lease: wabridge's own clock, as it wrote them."""
    cols = "tbl, row_id, old_by, old_until, new_by, new_until, old_state, new_state"
    if W.PG:
        W.psql(b.pgdb, """
CREATE TABLE %(t)s (n bigserial PRIMARY KEY, tbl text, row_id bigint, old_by text,
  old_until bigint, new_by text, new_until bigint, old_state text, new_state text);
CREATE FUNCTION %(t)s_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO %(t)s (%(c)s) VALUES (TG_TABLE_NAME, NEW.id, OLD.claim_by, OLD.lease_until,
    NEW.claim_by, NEW.lease_until, OLD.state, NEW.state);
  RETURN NULL; END $$;
CREATE TRIGGER %(t)s_m AFTER UPDATE ON messages FOR EACH ROW
  WHEN (OLD.claim_by IS DISTINCT FROM NEW.claim_by) EXECUTE FUNCTION %(t)s_f();
CREATE TRIGGER %(t)s_o AFTER UPDATE ON outbox FOR EACH ROW
  WHEN (OLD.claim_by IS DISTINCT FROM NEW.claim_by OR OLD.state IS DISTINCT FROM NEW.state)
  EXECUTE FUNCTION %(t)s_f();
""" % {"t": LOG_TABLE, "c": cols})
        return
    import sqlite3
    con = sqlite3.connect(b.state, timeout=30)
    try:
        body = ("INSERT INTO %s (%s) VALUES ('%%s', NEW.id, OLD.claim_by, OLD.lease_until, "
                "NEW.claim_by, NEW.lease_until, OLD.state, NEW.state);" % (LOG_TABLE, cols))
        con.executescript("""
CREATE TABLE %(t)s (n INTEGER PRIMARY KEY, tbl TEXT, row_id INTEGER, old_by TEXT,
  old_until INTEGER, new_by TEXT, new_until INTEGER, old_state TEXT, new_state TEXT);
CREATE TRIGGER %(t)s_m AFTER UPDATE ON messages
  WHEN OLD.claim_by IS NOT NEW.claim_by BEGIN %(m)s END;
CREATE TRIGGER %(t)s_o AFTER UPDATE ON outbox
  WHEN OLD.claim_by IS NOT NEW.claim_by OR OLD.state IS NOT NEW.state BEGIN %(o)s END;
""" % {"t": LOG_TABLE, "m": body % "messages", "o": body % "outbox"})
    finally:
        con.close()


def claim_log(b, tbl, row_id):
    return b.db("SELECT old_by, old_until, new_by, new_until, old_state, new_state FROM %s "
                "WHERE tbl = ? AND row_id = ? ORDER BY n" % LOG_TABLE, tbl, row_id)


# ---- the stream of webhooks --------------------------------------------------------------

class Stream:
    """Client threads, each posting signed one-text bodies with fresh wamids, one after
    another at a steady pace, to a bridge its seeded RNG picks. A POST without an answer
    (or not 200) goes again, the same bytes, to the other bridge, until one answers 200;
    one body in eight answered 200 is posted to the other bridge too, as Meta sometimes
    delivers twice. answers[wamid] lists every status (None: no answer)."""

    def __init__(self, nodes, tag, seed):
        self.nodes, self.tag, self.seed = nodes, tag, seed
        self.answers = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(k,), daemon=True)
                        for k in range(POSTERS)]

    def _post(self, node, body):
        try:
            return node.sv.post(body, timeout=10)
        except (OSError, http.client.HTTPException):
            return None

    def _note(self, wamid, st):
        with self.lock:
            self.answers[wamid].append(st)

    def _loop(self, k):
        rng = random.Random(self.seed * 1000 + k)
        i = 0
        while not self.halt.is_set():
            i += 1
            wamid = "wamid.%s.%d.%05d" % (self.tag, k, i)
            # seven citizens per thread: their messages make complaints that get replies
            body = W.single(BHP, "9198306%05d" % (k * 100 + i % 7), wamid,
                            int(time.time()) - 300, "stream %s %d %d" % (self.tag, k, i),
                            "Citizen %d" % (i % 7))
            at = rng.randrange(len(self.nodes))
            # one bridge at most is down at a time: running out of tries is a hang
            for attempt in range(400):
                node = self.nodes[(at + attempt) % len(self.nodes)]
                st = self._post(node, body)
                self._note(wamid, st)
                if st == 200:
                    break
                if attempt % 2:
                    time.sleep(0.05)
            if rng.random() < 0.125:
                other = self.nodes[(at + attempt + 1) % len(self.nodes)]
                self._note(wamid, self._post(other, body))
            # about ten webhooks a second in all: below what the bridges deliver, so that
            # the stream is a stream and not a backlog
            self.halt.wait(rng.uniform(0.15, 0.45))

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def stop(self):
        self.halt.set()
        for th in self.threads:
            th.join(60 * W.SLOW)

    def oks(self):
        with self.lock:
            return sum(v.count(200) for v in self.answers.values())

    def accepted(self):
        with self.lock:
            return sorted(w for w, v in self.answers.items() if 200 in v)

    def twice(self):
        with self.lock:
            return sum(1 for v in self.answers.values() if v.count(200) > 1)

    def others(self):
        with self.lock:
            return sorted({str(s) for v in self.answers.values() for s in v
                           if s not in (200, None)})


# ---- officers' replies ------------------------------------------------------------------

class Replies:
    """Officers' replies into the replies mailbox both bridges watch, one per complaint,
    each with a complaint number of its own ("Complaint No. N/2026")."""

    def __init__(self, b):
        self.b = b
        self.number = 100
        self.replied = {}     # complaint ref -> number

    def mail(self, ref, first_wamid, number):
        lines = ["From: Officer in Charge <%s>" % OFFICER,
                 "To: complaint+%s.%s@%s" % (ref, W.reply_token(ref), W.DOMAIN),
                 "Subject: Re: [%s] complaint" % ref,
                 "Date: %s" % email.utils.formatdate(localtime=True),
                 "Message-ID: <reply-%d.%d@police.test>" % (number, os.getpid()),
                 "In-Reply-To: %s" % mid(first_wamid), "References: %s" % mid(first_wamid),
                 "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                 "Content-Transfer-Encoding: 8bit", "",
                 "Complaint No. %d/2026 registered." % number, ""]
        return "\r\n".join(lines).encode()

    def answer(self, limit=None, only=None):
        """A reply to each complaint (or to `only`, a ref) that has none yet, at most limit;
        the numbers given."""
        rows = self.b.db("SELECT ref, first_wamid FROM complaints ORDER BY id")
        given = []
        m = W.imap("replies")
        try:
            for ref, first in rows:
                if ref in self.replied or (only and ref != only):
                    continue
                if limit is not None and len(given) >= limit:
                    break
                self.number += 1
                m.append("INBOX", None, None, self.mail(ref, first, self.number))
                self.replied[ref] = self.number
                given.append(self.number)
        finally:
            m.logout()
        return given


def sends(graph):
    return [r for r in graph.snapshot() if r["method"] == "POST" and
            r["path"].endswith("/messages")]


def send_number(r):
    m = re.search(r"(\d+)/2026", json.loads(r["body"]).get("text", {}).get("body", ""))
    return int(m.group(1)) if m else None


def sends_quiet(b):
    """No send or mailbox operation waits (a send `sending` has left the queue)."""
    return b.db("SELECT (SELECT count(*) FROM outbox WHERE state IN ('queued', 'retry')) + "
                "(SELECT count(*) FROM mailops WHERE state = 'pending')")[0][0] == 0


def message_ids(user):
    """The Message-ID of every mail in the user's INBOX (headers only)."""
    m = W.imap(user)
    try:
        m.select("INBOX", readonly=True)
        _, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        out = []
        for part in data:
            if isinstance(part, tuple):
                h = W.parse(part[1])
                out.append(h["Message-ID"])
        return out
    finally:
        m.logout()


def bridge_gone_in_status(b, config, bridge_id):
    rc, out, _ = b.run("-c", config, "status", config=False)
    return rc == 0 and re.search(re.escape(bridge_id) + r" \([^)]*\): GONE", out)


# ---- the rounds ----------------------------------------------------------------------------

class Test:
    def __init__(self, t, b, nodes, graph, rng):
        self.t, self.b, self.nodes, self.graph, self.rng = t, b, nodes, graph, rng
        self.replies = Replies(b)
        self.stream = None
        self.dead = []          # ids of the bridges killed
        self.held_send = None   # (outbox id, the dead bridge's id) of the held send
        # each bridge killed at least once in the rounds that restart at once
        self.victims = nodes + [rng.choice(nodes) for _ in range(RESTART_ROUNDS - 2)]
        rng.shuffle(self.victims)

    def restart(self, node, what):
        bid = node.start()
        return self.t.ok(bid, "%s: %s starts again on the same state" % (what, node.name),
                         node.sv.log()[-2000:])

    def kill(self, node, what):
        rc = node.kill()
        self.t.eq(rc, -signal.SIGKILL, "%s: %s died of SIGKILL" % (what, node.name))
        self.dead.append(node.id)
        return node.id

    def run_round(self, a):
        """`wabridge run` on bridge-a's node, held (the fake Graph API holds the download
        of a photo it renders) past the lease of what it claimed, beside `serve` on that
        node: serve sees the process alive and leaves its work alone, whatever the lease
        says; once let go, run delivers it, each mail once."""
        t, b, graph = self.t, self.b, self.graph
        what = "run beside serve on one node"
        media_id = "9014%08d" % os.getpid()
        info = graph.add_media({"id": media_id, "mime_type": "image/jpeg",
                                "data_b64": base64.b64encode(PHOTO).decode()})
        graph.add_fail({"media_id": media_id, "mode": "slow", "hold": True, "times": 1})
        wamids = ["wamid.RUN%d.%d" % (os.getpid(), i) for i in range(3)]
        photo = {"from": "919830700100", "id": wamids[0], "timestamp": str(int(time.time()) -
                 300), "type": "image", "image": {"id": media_id, "mime_type": "image/jpeg",
                                                   "sha256": info["sha256_b64"]}}
        bodies = [W.payload(BHP, [photo], [{"profile": {"name": "Photo"},
                                            "wa_id": "919830700100"}])]
        bodies += [W.single(BHP, "91983070010%d" % i, w, int(time.time()) - 300, "run %d" % i)
                   for i, w in enumerate(wamids[1:], 1)]
        for body in bodies:
            rc, _, err = b.ingest(body)
            t.eq(rc, 0, "%s: a webhook taken by ingest" % what, err)
        run = subprocess.Popen(W.WRAP + [W.WABRIDGE, "-c", a.config, "run"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=a.dir)
        try:
            held = W.wait_for(lambda: [r for r in graph.snapshot() if r.get("held")], 60, 0.05)
            rid = W.wait_for(lambda: b.db("SELECT id FROM bridges WHERE pid = ? AND what = "
                                          "'run'", run.pid), 60, 0.05)
            rid = rid[0][0] if rid else None
            mine = claims(b, rid)["messages"] if rid else []
            t.ok(held and len(mine) == 3,
                 "%s: run holds the three messages, its photo's download held" % what, mine)
            if not (held and rid and a.start()):
                t.ok(False, "%s: serve starts beside it" % what, a.sv.log()[-2000:])
                return False
            # The lease runs out (status, with the same clock, says so); then a message
            # serve delivers proves that serve has claimed since: its claim looked at the
            # run's rows too (in id order, theirs first).
            gone = W.wait_for(lambda: bridge_gone_in_status(b, a.config, rid), LEASE + 60,
                              0.25)
            wamid = "wamid.BESIDE%d" % os.getpid()
            st = a.sv.post(W.single(BHP, "919830700200", wamid, int(time.time()) - 300,
                                    "beside the run"))
            done = W.wait_for(lambda: b.db("SELECT state FROM messages WHERE wamid = ?",
                                           wamid) == [("delivered",)], 60, 0.1)
            t.ok(gone and st == 200 and done, "%s: once run's lease has run out, serve "
                 "takes and delivers a new message" % what)
            still = claims(b, rid)["messages"]
            t.eq([x[0] for x in still], [x[0] for x in mine],
                 "%s: run, alive on this node, keeps its claims past their lease" % what,
                 claim_log(b, "messages", mine[0][0]) if mine else None)
        finally:
            graph.release()
            out = run.communicate(timeout=120 * W.SLOW)[0].decode("utf-8", "replace")
        t.eq(run.returncode, 0, "%s: run then finishes its work and exits 0" % what, out[-2000:])
        counts = collections.Counter(message_ids("bhowanipore"))
        t.eq([counts[mid(w)] for w in wamids + [wamid]], [1, 1, 1, 1],
             "%s: each of its messages is one mail, and serve's" % what)
        return True

    def restart_round(self, n):
        """Kill a bridge the seed picks after so many more 200s, and restart it at once."""
        t, b = self.t, self.b
        victim = self.victims[n - 1]
        after = self.rng.randint(5, 40)
        what = "round %d (%s killed after %d more 200s, restarted)" % (n, victim.name, after)
        given = self.replies.answer(limit=4)
        base = self.stream.oks()
        got = W.wait_for(lambda: self.stream.oks() >= base + after, 120, 0.005)
        dead = self.kill(victim, what)
        t.ok(got, "%s: the stream went on to the kill (%d replies put in the replies "
             "mailbox)" % (what, len(given)))
        print("# %s: at the kill it held %r" % (what, {k: len(v) for k, v in
                                                        claims(b, dead).items()}))
        if not self.restart(victim, what):
            return False
        # Same node: the restarted bridge knows the dead process is gone and lets go of
        # its claims at its first heartbeat, without waiting for the lease.
        freed = W.wait_for(lambda: not any(claims(b, dead).values()), 60, 0.1)
        t.ok(freed, "%s: the dead process's claims are let go at once" % what,
             claims(b, dead))
        t.ok(W.wait_for(lambda: b.db("SELECT stopped_at FROM bridges WHERE id = ?", dead)
                        [0][0] is not None, 60, 0.1),
             "%s: its row in bridges says it stopped" % what)
        return True

    def send_round(self):
        """Kill the bridge inside a WhatsApp send that the fake holds; leave it dead until
        its lease has run out while the other goes on."""
        t, b, graph = self.t, self.b, self.graph
        what = "send round"
        t.ok(W.wait_for(lambda: sends_quiet(b), 120, 0.1),
             "%s: (the sends of the rounds before are done)" % what)
        before = len(sends(graph))
        graph.add_fail({"send": True, "hold": True, "ok": True, "times": 1})
        given = self.replies.answer(limit=1)
        held = W.wait_for(lambda: [r for r in sends(graph) if r.get("held")], 60, 0.05)
        if not t.ok(given and held, "%s: a reply's send reached the fake, which holds it" %
                    what, (given, sends(graph)[before:])):
            graph.release()
            return False
        opaque = json.loads(held[0]["body"])["biz_opaque_callback_data"]
        oid = int(opaque.rsplit("-", 1)[1])
        by = b.db("SELECT claim_by, state FROM outbox WHERE id = ?", oid)[0]
        victim = next((n for n in self.nodes if n.id == by[0]), None)
        if not t.ok(victim and by[1] == "sending",
                    "%s: the outbox row is `sending`, claimed by the bridge in the call" % what,
                    by):
            graph.release()
            return False
        survivor = next(n for n in self.nodes if n is not victim)
        kill_at = int(time.time())
        dead = self.kill(victim, what)
        graph.release()  # the answer goes to a dead connection: WhatsApp has the message
        self.held_send = (oid, dead)
        row = b.db("SELECT state, claim_by, lease_until FROM outbox WHERE id = ?", oid)[0]
        t.ok(row[0] == "sending" and row[1] == dead and row[2] >= kill_at,
             "%s: at the kill its send is `sending`, claimed by it, the lease still running"
             % what, row)
        # The lease runs out (as `status`, with the same clock, sees it); then a message
        # posted to the survivor and delivered, and a reply sent after it, prove the
        # survivor has looked at the outbox since (its pass that expands and delivers
        # the message starts after the post; its outbox part comes after that).
        gone = W.wait_for(lambda: bridge_gone_in_status(b, survivor.config, dead),
                          (LEASE + 60), 0.25)
        t.ok(gone, "%s: status shows %s GONE once its lease ran out" % (what, dead))
        wamid = "wamid.SENDROUND.%d" % os.getpid()
        st = survivor.sv.post(W.single(BHP, "919830700001", wamid, int(time.time()) - 300,
                                       "after the lease"))
        self.send_round_wamid = wamid if st == 200 else None
        delivered = W.wait_for(lambda: b.db("SELECT state FROM messages WHERE wamid = ?",
                                            wamid) == [("delivered",)], 60, 0.1)
        t.ok(st == 200 and delivered, "%s: the survivor takes and delivers a new message" %
             what)
        ref = b.db("SELECT c.ref FROM messages m JOIN complaints c ON c.id = m.complaint_id "
                   "WHERE m.wamid = ?", wamid)
        n = self.replies.answer(only=ref[0][0]) if ref else []
        sent = W.wait_for(lambda: n and any(send_number(r) == n[0] and r.get("wamid")
                                            for r in sends(graph)), 60, 0.1)
        t.ok(sent, "%s: the survivor sends a reply that came after the lease ran out" % what)
        row = b.db("SELECT state, claim_by FROM outbox WHERE id = ?", oid)[0]
        t.eq(row, ("sending", dead), "%s: the dead bridge's send is still `sending`, its claim "
             "untouched (WhatsApp may have it: it waits 30 minutes for a status, and nobody "
             "sends it again)" % what)
        t.eq(len([r for r in sends(graph) if json.loads(r["body"]).get(
            "biz_opaque_callback_data") == opaque]), 1, "%s: it reached WhatsApp once" % what)
        log = claim_log(b, "outbox", oid)
        t.eq([(x[4], x[5]) for x in log], [("queued", "sending")],
             "%s: its row changed once only, queued → sending" % what, log)
        return self.restart(victim, what)

    def lease_round(self):
        """The survivor's IMAP held; the victim's relay lets its next APPEND reach Dovecot
        and keeps the answer from it, so that it holds a batch of messages `delivering`, one
        of them already in the mailbox. The victim killed there and left dead; the
        survivor's IMAP let go."""
        t, b = self.t, self.b
        victim = self.rng.choice(self.nodes)
        survivor = next(n for n in self.nodes if n is not victim)
        what = "lease round (%s killed with claimed messages, not restarted)" % victim.name
        # No send or mailbox operation may be waiting: then the next APPEND through the
        # victim's relay is a citizen's mail.
        t.ok(W.wait_for(lambda: sends_quiet(b), 120, 0.1),
             "%s: (no send or mailbox operation waits)" % what)
        # The survivor, once held, claims nothing more; the stream goes on, so the victim
        # claims what comes and appends it.
        survivor.proxy.hold()
        victim.proxy.hold_answers()
        answered = victim.proxy.answered.wait(120 * W.SLOW)
        survivor.proxy.release()
        # While it lives, the victim's claims outlast their first lease: its heartbeat
        # renews them. Shown once the survivor has delivered a message that came after
        # that lease ran out (its claim looked at every row in id order, the victim's too).
        first = claims(b, victim.id)["messages"]
        lease0 = max([x[2] for x in first] or [0])
        later = W.wait_for(lambda: b.db("SELECT count(*) FROM messages WHERE received_at > ? "
                                        "AND state = 'delivered'", lease0)[0][0], 120, 0.1)
        still = claims(b, victim.id)["messages"]
        t.ok(first and later and [x[0] for x in still] == [x[0] for x in first] and
             all(x[2] > lease0 for x in still),
             "%s: while it lives, held in IMAP, its claims are renewed past their first lease "
             "and the survivor takes none of them" % what, (first, still))
        self.stream.stop()
        kill_at = int(time.time())
        dead = self.kill(victim, what)
        stored = victim.proxy.appended_id
        held = claims(b, dead)
        msgs = held["messages"]
        print("# %s: at the kill it held %r" % (what, held))
        if not t.ok(answered and stored and msgs,
                    "%s: at the kill it holds messages it could not deliver (%d), one of them "
                    "stored by Dovecot without its hearing so (%s)" % (what, len(msgs), stored),
                    held):
            return self.restart(victim, what)
        ids = [m[0] for m in msgs]
        marks = ",".join("?" * len(ids))
        wamid = stored[1:].split("@")[0]
        t.ok(all(s == "delivering" and until >= kill_at for _, s, until in msgs) and
             b.db("SELECT id FROM messages WHERE wamid = ?", wamid)[0][0] in ids and
             message_ids("bhowanipore").count(stored) == 1,
             "%s: all `delivering`, each claim's lease still running at the kill, the "
             "stored one among them and in the mailbox" % what, msgs)
        done = W.wait_for(lambda: b.db("SELECT count(*) FROM messages WHERE id IN (%s) AND "
                                       "state = 'delivered'" % marks, *ids)[0][0] == len(ids),
                          LEASE + 120, 0.2)
        t.ok(done, "%s: the survivor delivers every message the dead bridge held" % what,
             b.db("SELECT id, state, claim_by, last_error FROM messages WHERE id IN (%s)" %
                  marks, *ids))
        wrong = []
        for mid_, _, until in msgs:
            log = claim_log(b, "messages", mid_)
            took = [x for x in log if x[0] == dead]
            if not (len(took) == 1 and took[0][2] == survivor.id and
                    took[0][3] - LEASE >= took[0][1] == until):
                wrong.append((mid_, log))
        t.eq(wrong, [], "%s: each claim passed from %s to %s (the survivor), only once its "
             "lease had run out (the survivor's claim time, lease_until - %d, is not before "
             "the dead bridge's lease_until)" % (what, dead, survivor.id, LEASE))
        found = b.db("SELECT e.detail FROM events e JOIN messages m ON m.id = e.message_id "
                     "WHERE m.wamid = ? AND e.new = 'delivered'", wamid)
        t.eq(found, [("found in the mailbox after an interrupted delivery",)],
             "%s: the survivor finds the mail Dovecot stored for the dead bridge and does not "
             "append it again" % what)
        t.eq(message_ids("bhowanipore").count(stored), 1, "%s: it is there once" % what)
        return self.restart(victim, what)

    def finish(self):
        """Both drain; then every check of the whole run."""
        t, b, graph = self.t, self.b, self.graph
        self.replies.answer()
        # Every reply taken (a send each), none waiting, and nothing held by the bridges
        # that run: a send still `sending` then is one a kill interrupted.
        n_replies = len(self.replies.replied)
        ok = W.wait_for(lambda: W.pending(b) == 0 and b.db(
            "SELECT count(*) FROM outbox")[0][0] == n_replies and sends_quiet(b) and not any(
            any(claims(b, n.id).values()) for n in self.nodes), 120, 0.2)
        t.ok(ok, "both bridges drain every message, send and mailbox operation, and hold "
             "nothing",
             b.db("SELECT state, count(*) FROM messages GROUP BY state"))
        a, bb = self.nodes
        rc, out, err = b.run("-c", a.config, "status", config=False)
        lines = [ln for ln in out.splitlines() if ln.startswith("  ") and
                 any(n.id in ln for n in self.nodes)]
        t.ok(rc == 0 and "Bridges:" in out and all(re.search(
            re.escape(n.id) + r" \(serve [^)]*\): running", out) for n in self.nodes),
            "status lists both bridges running", out[-3000:] + err)
        print("# status, the running bridges:\n# " + "\n# ".join(lines))
        st, _, m = a.sv.metrics()
        up = {n.name: W.metric(m, "wabridge_bridge_up", bridge=n.id, node=n.name,
                                self="1" if n is a else "0") for n in self.nodes}
        t.eq((st, up), (200, {"bridge-a": 1.0, "bridge-b": 1.0}),
             "/metrics: wabridge_bridge_up is 1 for both, self=1 for the one asked", m)
        kinds = {(n.name, k): W.metric(m, "wabridge_bridge_claims", bridge=n.id, kind=k)
                 for n in self.nodes for k in ("messages", "sends", "mailops", "mailout")}
        t.ok(all(v is not None for v in kinds.values()),
             "/metrics: wabridge_bridge_claims for each bridge and kind", kinds)
        dead_up = [W.metric(m, "wabridge_bridge_up", bridge=d, node=d.split(":")[0],
                            self="0") for d in self.dead]
        t.ok(all(v in (None, 0.0) for v in dead_up),
             "/metrics: the killed processes are not up", list(zip(self.dead, dead_up)))
        for n in self.nodes:
            t.eq(n.sv.stop(), 0, "%s exits 0 on SIGTERM" % n.name, n.sv.log()[-2000:])
        t.eq(b.db("SELECT count(*) FROM messages WHERE claim_by IS NOT NULL")[0][0], 0,
             "after a clean stop no message is claimed")

        # Mail: every webhook answered 200 is exactly one mail.
        accepted = self.stream.accepted()
        if getattr(self, "send_round_wamid", None):
            accepted.append(self.send_round_wamid)
        counts = collections.Counter(message_ids("bhowanipore"))
        t.eq(sorted(k for k, c in counts.items() if c > 1), [],
             "no Message-ID is in the mailbox twice (mails and the bridges' notes)")
        t.eq([w for w in accepted if counts[mid(w)] != 1], [],
             "every one of the %d webhooks answered 200 is exactly one mail (%d answered 200 "
             "by both bridges)" % (len(accepted), self.stream.twice()))
        t.eq(self.stream.others(), [], "every answer was 200 (or none, from a killed bridge)")
        t.eq(b.db("SELECT state, count(*) FROM messages GROUP BY state"),
             [("delivered", len(b.db("SELECT id FROM messages")))],
             "every message stored ended delivered, none left delivering")
        stored = {r[0] for r in b.db("SELECT wamid FROM messages")}
        t.eq([w for w in accepted if w not in stored], [],
             "every wamid answered 200 is a message in the store")

        # Replies: each exactly one send.
        later = str(int(time.time()) + 31 * 60)
        rc, _, err = b.run("-c", a.config, "run", config=False, env={"WABRIDGE_NOW": later})
        t.ok(rc in (0, 75), "a run with the clock 31 minutes on", err[-2000:])
        got = collections.Counter(send_number(r) for r in sends(graph))
        numbers = sorted(self.replies.replied.values())
        rows = dict((n, s) for n, s in b.db(
            "SELECT c.number, o.state FROM outbox o JOIN complaints c ON c.id = o.complaint_id"))
        t.eq(sorted(n for n in got if n not in numbers), [], "every send answers a reply")
        t.eq([n for n in numbers if got[n] > 1], [], "no reply is sent twice")
        lost = [n for n in numbers if got[n] == 0]
        oids = dict(b.db("SELECT c.number, o.id FROM outbox o JOIN complaints c ON "
                         "c.id = o.complaint_id"))
        t.ok(all(rows.get("%d/2026" % n) == "unknown" and any(
            x[4] == "queued" and x[5] == "sending" and x[2] in self.dead
            for x in claim_log(b, "outbox", oids["%d/2026" % n])) for n in lost),
             "a reply not sent is one whose send a kill interrupted before it reached "
             "WhatsApp (`unknown`, never sent by itself)", (lost, rows))
        t.ok(len(numbers) >= 10 and all(got[n] == 1 for n in numbers if n not in lost),
             "every one of the %d replies is exactly one send (%d interrupted by a kill "
             "before the call)" % (len(numbers), len(lost)), got)
        states = collections.Counter(rows.values())
        print("# outbox states at the end: %r" % dict(states))
        if self.held_send:
            oid, dead = self.held_send
            log = claim_log(b, "outbox", oid)
            t.eq(b.db("SELECT state, claim_by FROM outbox WHERE id = ?", oid),
                 [("unknown", None)], "the held send of the dead bridge is `unknown` after "
                 "the grace time, and not sent again", log)
            t.eq([(x[4], x[5]) for x in log if x[4] != x[5]],
                 [("queued", "sending"), ("sending", "unknown")],
                 "its only changes of state: queued → sending → unknown", log)
        t.eq(sorted(s for s in states if s not in ("accepted", "sent", "unknown")), [],
             "no send is left waiting", states)
        logs = "".join(n.sv.log() for n in self.nodes)
        for n in self.nodes:
            for f in os.listdir(n.dir):
                if f.startswith("serve."):
                    with open(os.path.join(n.dir, f), errors="replace") as fh:
                        logs += fh.read()
        t.ok("ERROR: AddressSanitizer" not in logs and "runtime error:" not in logs,
             "no sanitizer report in any of the bridges' logs")


def test(t):
    if not W.IMAP_PORT:
        t.skip("several bridges on one state", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    print("# seed %d (WB_SEED), lease %d s, state on %s" % (SEED, LEASE,
                                                           "PostgreSQL" if W.PG else "SQLite"))
    W.reset_mailboxes()
    graph = fakegraph.FakeGraph(TOKEN)
    graph.start()
    b = W.Bridge(bridge_extra="lease_seconds = %d" % LEASE)
    b.use_graph(graph.port, TOKEN)
    W.set_key(b.config, "whatsapp", "dry_run", "false")
    W.set_key(b.config, "station:bhowanipore", "officers", OFFICER)
    W.write_secret(os.path.join(b.dir, "replies.pass"), "secret")
    W.set_key(b.config, "replies", "mode", "imap")
    W.set_key(b.config, "replies", "imap_user", "replies")
    W.set_key(b.config, "replies", "imap_password_file", os.path.join(b.dir, "replies.pass"))
    rc, _, err = b.run("status")  # makes the store's schema, for the test's triggers
    if not t.ok(rc == 0, "the shared state is made", err):
        return
    install_log(b)
    nodes = [Node(b, "bridge-a"), Node(b, "bridge-b")]
    x = Test(t, b, nodes, graph, random.Random(SEED))
    try:
        if not x.run_round(nodes[0]):
            return
        t.ok(nodes[1].start(), "bridge-b starts on the shared state", nodes[1].sv.log()[-2000:])
        if not all(n.id for n in nodes):
            return
        x.stream = Stream(nodes, "BR%d" % os.getpid(), SEED).start()
        for r in range(1, RESTART_ROUNDS + 1):
            t0 = time.monotonic()
            if not x.restart_round(r):
                return
            print("# round %d: %.1f s" % (r, time.monotonic() - t0))
        for name, fn in (("send round", x.send_round), ("lease round", x.lease_round)):
            t0 = time.monotonic()
            if not fn():
                return
            print("# %s: %.1f s" % (name, time.monotonic() - t0))
        t0 = time.monotonic()
        x.finish()
        print("# the end: %.1f s" % (time.monotonic() - t0))
    finally:
        if x.stream:
            x.stream.stop()
        for n in nodes:
            n.stop()
        graph.stop()


W.Tap().run(test)
