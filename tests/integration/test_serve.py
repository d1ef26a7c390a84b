"""`wabridge serve` as a daemon (SPEC §2, §3, §7): the verification handshake, signed POSTs
committed before the 200 and delivered by the worker at once, 401/413/404/405, hostile and
slow clients, /healthz, /metrics, `status`, SIGTERM/SIGINT under load, SIGHUP reloads,
and a store that cannot commit. The store cases need root: a 2 MiB tmpfs filled to ENOSPC
and emptied again; the tmpfs remounted read-only (under the running daemon when Linux
allows it, which it does not while the database is open for writing, and before a start)
and read-write again; and ext4 on a loop device that an injected error turns read-only
under the running daemon. Without root or a mount they are skipped, never passed.
The SIGKILL crash rounds are in test_serve_crash.py."""

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

BHP, GRH, PST = (s[2] for s in W.STATIONS)
MAX_BODY = 64 * 1024
ERRS = (OSError, http.client.HTTPException)  # no answer: refused, reset, garbled
SEQ = [0]


def msg(pnid=BHP, sender="919830400001", text=None, name="Serve Citizen", tag="SRV"):
    """A one-text body with a fresh wamid: (wamid, body)."""
    SEQ[0] += 1
    wamid = "wamid.%s%05d.%d" % (tag, SEQ[0], os.getpid())
    ts = int(time.time()) - 600 + SEQ[0]
    return wamid, W.single(pnid, sender, wamid, ts, text or "serve test %d" % SEQ[0], name)


def mid(wamid):
    return "<%s@%s>" % (wamid, W.DOMAIN)


def stored(b, body):
    return b.db("SELECT count(*) FROM bodies WHERE body = ?", body)[0][0]


def nbodies(b):
    return b.db("SELECT count(*) FROM bodies")[0][0]


def in_mailbox(user, wamid, folder="INBOX", timeout=60):
    """Wait until the wamid's mail is in the folder; how many copies are there then."""
    def look():
        n = W.message_ids(user, folder).count(mid(wamid))
        return n or None
    return W.wait_for(look, timeout, 0.1) or 0


# How long a raw request waits for the server to answer or close: longer than the
# daemon's 10 s idle timeout, so an answer is never missed for being slow.
ANSWER_S = 15


def raw(port, chunks, timeout=ANSWER_S, pause=0.0):
    """Send bytes (a list of pieces, pause seconds apart) on a fresh connection and read
    until the server closes or timeout passes: (bytes read, seconds taken, closed?).
    A send the server refuses (it closed early) ends the sending, not the reading."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    start = time.monotonic()
    data, closed = b"", False
    try:
        for piece in chunks:
            try:
                s.sendall(piece)
            except OSError:
                break
            if pause:
                time.sleep(pause)
        end = start + timeout * W.SLOW
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not got:
                closed = True
                break
            data += got
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 100"):
                head = data.split(b"\r\n\r\n", 1)[0].lower()
                m = re.search(rb"content-length:\s*(\d+)", head)
                if m and len(data.split(b"\r\n\r\n", 1)[1]) >= int(m.group(1)):
                    break
    finally:
        s.close()
    return data, time.monotonic() - start, closed


def status_of(resp):
    """The status code of the last response in raw bytes (after any 100 Continue), or None."""
    codes = re.findall(rb"^HTTP/1\.[01] (\d{3})", resp, re.M)
    return int(codes[-1]) if codes else None


def section(t, name, fn, *args):
    """Run one part; an exception is one failure, and the other parts still run."""
    t0 = time.monotonic()
    try:
        fn(t, *args)
    except Exception:  # noqa: BLE001 - a crash in a test is a failed test
        t.ok(False, "%s: raised" % name, traceback.format_exc())
    print("# %s: %.1f s" % (name, time.monotonic() - t0))


def still_serving(t, sv, what):
    alive = sv.alive()
    st = None
    if alive:
        try:
            st = sv.request("GET", "/healthz", timeout=10)[0]
        except ERRS as e:
            st = repr(e)
    t.ok(alive and st == 200, "%s: the daemon is alive and /healthz still answers 200" % what,
         "alive=%r healthz=%r\n%s" % (alive, st, sv.log()[-2000:]))


def worker_parked(sv):
    """Is the daemon's worker thread asleep (waiting on its condition variable, no pass
    under way)? Read from /proc: the thread GLib named "worker" waits in a futex. None
    when the thread cannot be seen (no thread names, as under valgrind)."""
    task = "/proc/%d/task" % sv.proc.pid
    try:
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "comm")) as f:
                if f.read().strip() != "worker":
                    continue
            with open(os.path.join(task, tid, "wchan")) as f:
                return f.read().startswith("futex")
    except OSError:
        pass
    return None


def try_post(sv, body, signature="auto", timeout=10):
    """POST and return the status, or a description of why there was no answer."""
    try:
        return sv.post(body, signature, timeout=timeout)
    except ERRS as e:
        return repr(e)


# ---- the listener -------------------------------------------------------------------

def handshake_cases(t, sv):
    tok = W.Serve.VERIFY_TOKEN

    def hs(params):
        return sv.request("GET", "/webhook?" + urllib.parse.urlencode(params))

    st, h, body = sv.request("GET", "/healthz")
    t.eq((st, body.strip()), (200, b"ok"), "GET /healthz: 200 ok while the store is writable")
    st, h, body = hs([("hub.mode", "subscribe"), ("hub.verify_token", tok),
                      ("hub.challenge", "1158201444")])
    t.eq((st, body), (200, b"1158201444"), "handshake with the right token: 200, body exactly the challenge")
    st, h, body = hs([("hub.challenge", "a b&c"), ("hub.verify_token", tok),
                      ("hub.mode", "subscribe")])
    t.eq((st, body), (200, b"a b&c"), "handshake: the challenge comes back URL-decoded, any order of arguments")
    for what, params in [
            ("a wrong token", [("hub.mode", "subscribe"), ("hub.verify_token", "verify-me-124"),
                               ("hub.challenge", "42")]),
            ("a token that is a prefix", [("hub.mode", "subscribe"),
                                          ("hub.verify_token", tok[:-1]), ("hub.challenge", "42")]),
            ("the token plus a byte", [("hub.mode", "subscribe"),
                                       ("hub.verify_token", tok + "x"), ("hub.challenge", "42")]),
            ("an empty token", [("hub.mode", "subscribe"), ("hub.verify_token", ""),
                                ("hub.challenge", "42")]),
            ("no token", [("hub.mode", "subscribe"), ("hub.challenge", "42")]),
            ("a wrong mode", [("hub.mode", "unsubscribe"), ("hub.verify_token", tok),
                              ("hub.challenge", "42")]),
            ("no mode", [("hub.verify_token", tok), ("hub.challenge", "42")])]:
        st, h, body = hs(params)
        t.ok(st == 403 and b"42" not in body, "handshake with %s: 403, challenge not echoed" % what,
             "status %r body %r" % (st, body[:200]))
    st, h, body = hs([("hub.mode", "subscribe"), ("hub.verify_token", tok),
                      ("hub.challenge", "9" * 10240)])
    t.ok(st in (400, 403), "a 10 KB hub.challenge: 403 or 400", "status %r" % st)
    t.ok(b"9" * 1024 not in body, "a 10 KB hub.challenge is not echoed")
    still_serving(t, sv, "after the 10 KB challenge")


def routing_cases(t, b, sv):
    before = nbodies(b)
    wamid, body = msg()
    st, _, _ = sv.request("GET", "/nope")
    t.eq(st, 404, "GET of an unknown path: 404")
    st = sv.request("POST", "/webhookx", body, {"X-Hub-Signature-256": W.sign(body)})[0]
    t.eq(st, 404, "a signed POST to an unknown path: 404")
    st = sv.request("POST", "/", body, {"X-Hub-Signature-256": W.sign(body)})[0]
    t.eq(st, 404, "a signed POST to / : 404")
    for method in ("PUT", "DELETE", "PATCH"):
        st = sv.request(method, "/webhook", body, {"X-Hub-Signature-256": W.sign(body)})[0]
        t.eq(st, 405, "%s %s: 405" % (method, "/webhook"))
    t.eq(nbodies(b), before, "nothing was stored by the 404s and 405s")


GARBAGE = [
    ("binary noise (a TLS ClientHello)", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" +
     bytes(range(256)) + b"\r\n\r\n"),
    ("a bare request line", b"GET\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\n\r\n"),
    ("a header line without a colon", b"GET /healthz HTTP/1.1\r\nHost x\r\nnonsense\r\n\r\n"),
    ("NUL bytes in the request line", b"GET /web\x00hook HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a 64 KB URL", b"GET /webhook?hub.challenge=" + b"A" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("a 64 KB header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"B" * 65536 + b"\r\n\r\n"),
    ("a negative Content-Length", b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nabc"),
    ("a non-numeric Content-Length", b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n{}"),
    ("a broken chunk size", b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\n{}\r\n0\r\n\r\n"),
    ("a 20-digit chunk size", b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
]


def garbage_cases(t, b, sv):
    before = nbodies(b)
    for what, data in GARBAGE:
        resp, took, closed = raw(sv.port, [data], timeout=ANSWER_S)
        st = status_of(resp)
        t.ok((st is not None and st >= 400) or (not resp and closed),
             "garbage HTTP (%s): answered 4xx/5xx or closed, not served" % what,
             "status %r closed %r after %.1f s: %r" % (st, closed, took, resp[:200]))
    # Two different Content-Lengths are an unrecoverable framing error (RFC 9112 §6.3),
    # the stuff of request smuggling: 400, even when one reading is a signed body.
    for what, lengths in [("2 then 40", (2, 40)), ("40 then 2", (40, 2))]:
        resp, took, closed = raw(sv.port, [b"POST /webhook HTTP/1.1\r\nHost: x\r\n"
                                           b"X-Hub-Signature-256: " + W.sign(b"{}").encode() +
                                           b"\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n{}"
                                           % lengths + b" " * 38], timeout=ANSWER_S)
        st = status_of(resp)
        t.ok(st == 400 or (st is None and closed),
             "two different Content-Lengths (%s), signed for the first 2 bytes: 400" % what,
             "status %r closed %r: %r" % (st, closed, resp[:200]))
    still_serving(t, sv, "after the garbage requests")
    t.eq(nbodies(b), before, "nothing was stored from garbage requests")


def slow_clients(t, sv):
    """Slowloris: clients that dribble headers (and a body) must not block others."""
    stop = threading.Event()
    socks = []
    started = []

    def dribble(s, first, byte, began):
        try:
            s.sendall(first)
            began.set()
            while not stop.is_set():
                s.sendall(byte)
                stop.wait(0.3)
        except OSError:
            began.set()

    threads = []
    for i in range(24):
        s = socket.create_connection(("127.0.0.1", sv.port), timeout=5)
        socks.append(s)
        if i % 3 == 0:
            first, byte = b"GET /healthz HTTP/1.1\r\nHost: slow\r\n", b"X"
        elif i % 3 == 1:
            first, byte = (b"POST /webhook HTTP/1.1\r\nHost: slow\r\nContent-Length: 50000\r\n"
                           b"X-Hub-Signature-256: sha256=00\r\n\r\n{"), b" "
        else:
            first, byte = b"", b""  # connects and says nothing
        started.append(threading.Event())
        th = threading.Thread(target=dribble, args=(s, first, byte, started[-1]), daemon=True)
        th.start()
        threads.append(th)
    # The slow clients dribble until the end of this part: a server that let them hold
    # up everyone else would not answer at all, so the answers only need a hang bound.
    try:
        for began in started:
            began.wait(10)
        times, codes = [], []
        for _ in range(3):
            t0 = time.monotonic()
            try:
                codes.append(sv.request("GET", "/healthz", timeout=10)[0])
            except ERRS as e:
                codes.append(repr(e))
            times.append(time.monotonic() - t0)
        t.eq(codes, [200, 200, 200], "24 slow clients (dribbled headers, dribbled body, "
             "silent): another client is answered (%s s)" % ", ".join("%.2f" % x for x in times))
        wamid, body = msg(sender="919830400009")
        t0 = time.monotonic()
        st = try_post(sv, body, timeout=10)
        t.eq(st, 200, "a signed POST is answered 200 while the slow clients hang on "
             "(%.2f s)" % (time.monotonic() - t0))
        t.eq(in_mailbox("bhowanipore", wamid), 1, "…and delivered")
    finally:
        stop.set()
        for s in socks:
            s.close()
        for th in threads:
            th.join(2)


# ---- POSTs, delivery, limits --------------------------------------------------------

def post_cases(t, b, sv, counts):
    wamid, body = msg(text="first line of a complaint\nsecond line")
    st = try_post(sv, body)
    t.eq(st, 200, "a signed POST: 200")
    t.eq(stored(b, body), 1, "when the 200 arrives the raw body is already in table bodies, byte for byte")
    counts["ok"] += 1
    counts["text"] += 1
    t.eq(in_mailbox("bhowanipore", wamid), 1,
         "the worker delivers it to IMAP with no further request")
    # A second POST once the worker sleeps (its next retry an hour away): the new work
    # must wake it, or it is not delivered at all.
    looks = []

    def asleep():  # twice in a row, not a passing wait for a lock
        looks.append(W.pending(b) == 0 and worker_parked(sv) is not False)
        return looks[-2:] == [True, True]
    t.ok(W.wait_for(asleep, 60), "(the worker has gone to sleep)")
    if worker_parked(sv) is None:
        print("# the worker's thread cannot be seen here; the POST may find it awake")
    wamid2, body2 = msg(text="later message")
    t0 = time.monotonic()
    t.eq(try_post(sv, body2), 200, "a second signed POST, after the worker went idle: 200")
    counts["ok"] += 1
    counts["text"] += 1
    n = in_mailbox("bhowanipore", wamid2)
    t.ok(n == 1, "new work wakes the idle worker: delivered %.1f s after the POST" %
         (time.monotonic() - t0), "copies in the mailbox: %d" % n)
    # The mail is in the mailbox a moment before the worker has heard so and recorded it.
    both = [("delivered",), ("delivered",)]
    W.wait_for(lambda: b.db("SELECT state FROM messages WHERE wamid IN (?, ?)", wamid,
                            wamid2) == both, 60)
    t.eq(b.db("SELECT state FROM messages WHERE wamid IN (?, ?)", wamid, wamid2), both,
         "the store records both as delivered")

    # Meta's retry of the same body: 200 again, no second mail. A new message posted
    # after it is delivered after it too: once that one is there, a second copy would be.
    t.eq(try_post(sv, body), 200, "the same body again (Meta's retry): 200")
    wamid3, body3 = msg(text="after the retry")
    t.eq(try_post(sv, body3), 200, "a new message after the retry: 200")
    t.eq(in_mailbox("bhowanipore", wamid3), 1, "(the message after the retry is delivered)")
    counts["ok"] += 2
    counts["text"] += 1
    t.eq(W.message_ids("bhowanipore").count(mid(wamid)), 1, "a retried body makes no second mail")

    # Bad signatures: 401, nothing stored, the peer address in the log.
    before = nbodies(b)
    logged = len(sv.log())
    _, bad = msg(text="never stored")
    for what, sig in [("a wrong signature", W.sign(bad, "not-the-secret")),
                      ("a missing signature", None), ("an empty signature", ""),
                      ("a SHA-1 style signature", "sha1=" + hashlib.sha1(bad).hexdigest()),
                      ("a signature over other bytes", W.sign(bad + b" "))]:
        t.eq(try_post(sv, bad, sig), 401, "POST with %s: 401" % what)
        counts["sig"] += 1
    t.eq(nbodies(b), before, "nothing was stored for any bad signature")
    log = sv.log()[logged:]
    t.ok("127.0.0.1" in log and "signature" in log.lower(),
         "a 401 is logged with the peer address", log[-1500:])

    # A batch: two citizens in one POST → two mails with the right names.
    batch = W.fixture("batch-two.json")
    t.eq(try_post(sv, batch), 200, "a batch of two messages from two citizens: 200")
    counts["ok"] += 1
    counts["text"] += 2

    def two():
        mails = W.mailbox("jadavpur")
        return mails if len(mails) >= 2 else None
    mails = W.wait_for(two, 5, 0.1) or W.mailbox("jadavpur")
    t.eq(len(mails), 2, "the batch makes two mails in Gariahat's mailbox")
    senders = sorted((m[3]["From"].addresses[0].display_name, m[3]["X-WhatsApp-From"]) for m in mails)
    t.eq(senders, [("Imran Sheikh (+91 98305 55666)", "919830555666"),
                   ("মিতালী পাল (+91 98307 77888)", "919830777888")],
         "each mail of the batch carries its own sender's name")

    # A signed body that is not JSON: stored as bad and answered 200, so Meta stops retrying.
    notjson = W.fixture("not-json.txt")
    t.eq(try_post(sv, notjson), 200, "a signed body that is not JSON: 200 (SPEC §3)")
    counts["ok"] += 1
    t.eq(stored(b, notjson), 1, "the non-JSON body is stored when the 200 arrives")
    W.wait_for(lambda: b.db("SELECT state FROM bodies WHERE body = ?", notjson) == [("bad",)], 60)
    t.eq(b.db("SELECT state FROM bodies WHERE body = ?", notjson), [("bad",)],
         "the non-JSON body is kept, marked bad")


def limit_cases(t, b, sv, counts):
    before = nbodies(b)
    logged = len(sv.log())
    # Refused by the announced length, before the body is read: the rest of the body never
    # comes, so a server that waited for it would not answer 413 at all.
    head = (b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\nContent-Length: 1073741824\r\n\r\n")
    resp, took, _ = raw(sv.port, [head + b'{"object":"whatsapp'])
    t.ok(status_of(resp) == 413,
         "Content-Length 1 GiB with a few bytes sent: 413, without the rest of the body",
         "status %r after %.1f s: %r" % (status_of(resp), took, resp[:200]))
    counts["big"] += 1
    # With Expect: 100-continue the client must get the 413 instead of a 100.
    resp, took, _ = raw(sv.port, [head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")])
    t.ok(status_of(resp) == 413 and b" 100 " not in resp.split(b"\r\n", 1)[0],
         "Content-Length 1 GiB with Expect: 100-continue: 413, no 100 Continue",
         "status %r after %.1f s: %r" % (status_of(resp), took, resp[:200]))
    counts["big"] += 1

    # The boundary: a signed body of exactly max_body is taken, one byte more is not.
    wamid, body = msg(text="exactly max_body")
    exact = body[:-1] + b" " * (MAX_BODY - len(body)) + body[-1:]
    t.eq(len(exact), MAX_BODY, "(the padded body is exactly max_body bytes)")
    t.eq(try_post(sv, exact), 200, "a signed body of exactly max_body: 200")
    counts["ok"] += 1
    counts["text"] += 1
    over = exact[:-1] + b" " + exact[-1:]
    resp, took, _ = raw(sv.port, [b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: " +
                                  W.sign(over).encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(over)
                                  + over])
    t.eq(status_of(resp), 413, "a signed body of max_body + 1: 413")
    counts["big"] += 1

    # Chunked: no length announced, the body grows past max_body.
    _, small = msg(text="chunked and small")
    chunks = [b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              b"X-Hub-Signature-256: " + W.sign(small).encode() + b"\r\n\r\n"]
    for i in range(0, len(small), 100):
        piece = small[i:i + 100]
        chunks.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    chunks.append(b"0\r\n\r\n")
    resp, _, _ = raw(sv.port, [b"".join(chunks)])
    t.eq(status_of(resp), 200, "a small signed chunked body: 200")
    t.eq(stored(b, small), 1, "the chunked body is stored as its de-chunked bytes")
    counts["ok"] += 1
    counts["text"] += 1
    stored_before = nbodies(b)
    _, grow = msg(text="chunked and growing")
    grow = grow[:-1] + b" " * (MAX_BODY + 32768) + grow[-1:]
    pieces = [b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
              b"X-Hub-Signature-256: " + W.sign(grow).encode() + b"\r\n\r\n"]
    for i in range(0, len(grow), 8192):
        piece = grow[i:i + 8192]
        pieces.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    pieces.append(b"0\r\n\r\n")
    resp, took, _ = raw(sv.port, pieces)
    t.eq(status_of(resp), 413, "a signed chunked body that grows past max_body: 413",
         "after %.1f s: %r" % (took, resp[:200]))
    counts["big"] += 1
    t.eq(nbodies(b), stored_before, "nothing was stored from the chunked body over max_body")
    t.eq(nbodies(b) - before, 2, "of the size cases only the two good bodies were stored")
    still_serving(t, sv, "after the oversized bodies")
    t.ok(len(re.findall("larger than max_body|too large|413", sv.log()[logged:])) >= 1,
         "an oversized body is logged", sv.log()[logged:][-1500:])


def metrics_cases(t, sv, m0, counts):
    st, h, m1 = sv.metrics()
    t.eq(st, 200, "GET /metrics: 200")
    ctype = h.get("content-type", "")
    t.ok(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
         "GET /metrics: Content-Type text/plain; version=0.0.4", ctype)
    t.ok(st == 200 and ("__bad_lines__", ()) not in m1,
         "every /metrics line is in Prometheus text format", m1.get(("__bad_lines__", ())))
    st, _, text = sv.request("GET", "/metrics")
    text = text.decode("utf-8", "replace")
    for name, kind in [("wabridge_webhooks_received_total", "counter"),
                       ("wabridge_webhooks_rejected_total", "counter"),
                       ("wabridge_messages_total", "counter"),
                       ("wabridge_mails_delivered_total", "counter"),
                       ("wabridge_replies_parsed_total", "counter"),
                       ("wabridge_whatsapp_sends_total", "counter"),
                       ("wabridge_queue_depth", "gauge"),
                       ("wabridge_oldest_unregistered_complaint_seconds", "gauge")]:
        t.ok(re.search(r"^# TYPE %s %s$" % (name, kind), text, re.M) and
             any(k[0] == name for k in m1),
             "/metrics has %s (a %s)" % (name, kind), text[:3000])
    for reason in ("signature", "too_large", "store"):
        t.ok(W.metric(m1, "wabridge_webhooks_rejected_total", reason=reason) is not None,
             "/metrics has wabridge_webhooks_rejected_total{reason=\"%s\"}, even at 0" % reason)
    t.ok(any(k[0] == "wabridge_whatsapp_sends_total" and dict(k[1]).get("outcome")
             for k in m1), "/metrics: wabridge_whatsapp_sends_total has an outcome label")

    def delta(name, **labels):
        return (W.metric(m1, name, **labels) or 0) - (W.metric(m0, name, **labels) or 0)
    t.ok(delta("wabridge_webhooks_received_total") >= counts["ok"] > 0,
         "webhooks_received_total rose by at least the %d POSTs answered 200" % counts["ok"],
         "delta %r" % delta("wabridge_webhooks_received_total"))
    t.eq(delta("wabridge_webhooks_rejected_total", reason="signature"), counts["sig"],
         "webhooks_rejected_total{reason=\"signature\"} rose by the %d 401s" % counts["sig"])
    t.eq(delta("wabridge_webhooks_rejected_total", reason="too_large"), counts["big"],
         "webhooks_rejected_total{reason=\"too_large\"} rose by the %d 413s" % counts["big"])
    t.eq(delta("wabridge_messages_total", type="text"), counts["text"],
         "messages_total{type=\"text\"} rose by the %d new text messages" % counts["text"])
    t.ok(delta("wabridge_mails_delivered_total") >= counts["text"],
         "mails_delivered_total rose by at least the %d mails delivered" % counts["text"],
         "delta %r" % delta("wabridge_mails_delivered_total"))
    t.eq(W.metric(m1, "wabridge_queue_depth"), 0.0, "queue_depth is 0 once all is delivered")
    age = W.metric(m1, "wabridge_oldest_unregistered_complaint_seconds")
    t.ok(age is not None and age > 0,
         "oldest_unregistered_complaint_seconds > 0 with unregistered complaints open", repr(age))
    # A gauge that moves: queue_depth counts a message that cannot be delivered.
    return m1


def status_cases(t, b, sv):
    """Parkstreet's password file is wrong: its message waits, with the error in status."""
    wamid, body = msg(pnid=PST, sender="919830400077", text="to a station that cannot log in")
    t.eq(try_post(sv, body), 200, "a POST for a station whose IMAP login fails: 200")
    got = W.wait_for(lambda: b.db("SELECT state FROM messages WHERE wamid = ?", wamid) ==
                     [("retry",)], 60)
    t.ok(got, "its delivery fails and waits for a retry",
         b.db("SELECT state, last_error FROM messages WHERE wamid = ?", wamid))
    st, h, m = sv.metrics()
    t.eq(W.metric(m, "wabridge_queue_depth"), 1.0, "/metrics queue_depth counts the waiting message")
    rc, out, err = b.run("status")
    t.eq(rc, 0, "wabridge status exits 0 while serve runs")
    t.ok(re.search(r"parkstreet: queue 1 \(oldest \d{4}-\d\d-\d\d", out),
         "status shows parkstreet's queue depth and its oldest waiting item", out)
    t.ok(re.search(r"parkstreet:.*\n\s+last error: .*\S", out),
         "status shows parkstreet's last error", out)
    t.ok(re.search(r"bhowanipore: queue 0", out), "status shows bhowanipore's empty queue", out)
    sha = hashlib.sha256(W.fixture("not-json.txt")).hexdigest()
    t.ok(sha in out and "bad" in out, "status lists the bad body kept, with its SHA-256", out)


def test_daemon(t):
    b = W.Bridge()
    W.set_key(b.config, "webhook", "max_body", "64KiB")
    W.write_secret(os.path.join(b.dir, "parkstreet.pass"), "wrong-password")
    with W.Serve(b) as sv:
        if not t.ok(sv.start(), "serve starts and /healthz answers 200", sv.log()):
            return
        section(t, "handshake", handshake_cases, sv)
        section(t, "routing", routing_cases, b, sv)
        section(t, "garbage", garbage_cases, b, sv)
        # The counters must move by exactly what the next two parts do. (Every request
        # before has been answered; the slow clients, whose requests never end, come
        # after the metrics.)
        st, h, m0 = sv.metrics()
        counts = {"ok": 0, "sig": 0, "big": 0, "text": 0}
        section(t, "posts", post_cases, b, sv, counts)
        section(t, "limits", limit_cases, b, sv, counts)
        W.wait_for(lambda: W.pending(b) == 0, 60)
        section(t, "metrics", metrics_cases, sv, m0, counts)
        section(t, "slow clients", slow_clients, sv)
        section(t, "status", status_cases, b, sv)
        rc = sv.stop(signal.SIGTERM)
        t.eq(rc, 0, "SIGTERM: serve exits 0", sv.log()[-2000:])
        t.ok("ERROR: AddressSanitizer" not in sv.log() and "runtime error:" not in sv.log(),
             "no sanitizer report in the daemon's log", sv.log()[-3000:])


# ---- signals ------------------------------------------------------------------------

def drain(t, b, sv, what):
    """Start serve again, wait until nothing is pending, stop it; True when it drained."""
    if not t.ok(sv.start(), "%s: serve starts again" % what, sv.log()[-2000:]):
        return False
    ok = W.wait_for(lambda: W.pending(b) == 0, 60, 0.2)
    t.ok(ok, "%s: the restarted daemon drains the queue" % what,
         b.db("SELECT state, count(*) FROM messages GROUP BY state"))
    t.eq(sv.stop(), 0, "%s: the restarted daemon exits 0 on SIGTERM" % what, sv.log()[-2000:])
    return ok


def signal_cases(t, b, sv):
    if not t.ok(sv.start(), "serve starts for the signal tests", sv.log()):
        return
    _, body = msg(text="before SIGINT")
    t.eq(try_post(sv, body), 200, "a POST before SIGINT: 200")
    rc = sv.stop(signal.SIGINT)
    t.eq(rc, 0, "SIGINT: serve exits 0", sv.log()[-2000:])
    # Committed before its 200; whether the worker also expanded it into a message
    # before the stop depends on how soon it ran, so the raw body is what is checked.
    t.ok(stored(b, body) == 1, "the POST before SIGINT is in the store")

    # SIGTERM under load.
    if not t.ok(sv.start(), "serve starts again for SIGTERM under load", sv.log()):
        return
    p = W.Poster(sv, BHP, "TERM%d" % os.getpid()).start()
    W.wait_for(lambda: p.ok_count() >= 30, 60)
    before_term = len(sv.log())
    sv.send_signal(signal.SIGTERM)
    try:
        sv.proc.wait(20 * W.SLOW)
    except subprocess.TimeoutExpired:
        pass
    rc = sv.proc.poll()
    p.stop()
    sv.kill()
    ok = p.accepted()
    t.ok(len(ok) >= 30, "under load %d POSTs were answered 200 before SIGTERM" % len(ok),
         "results: %r" % sorted(set(p.results.values()), key=str))
    t.eq(rc, 0, "SIGTERM under load: serve exits 0 (within 20 s)", sv.log()[-3000:])
    # (a stop that lands in a batch's deliveries once made the pass report a failure)
    t.ok("pass failed" not in sv.log()[before_term:],
         "SIGTERM under load: the stop is not logged as a failed pass", sv.log()[before_term:])
    others = sorted(set(str(v) for v in p.results.values() if v not in (200, None)))
    t.eq(others, [], "under load every answer was 200 (or no answer once the daemon stopped)")
    in_db = W.wamids_in_bodies(b)
    missing = [w for w in ok if w not in in_db]
    t.eq(missing, [], "every POST answered 200 before SIGTERM is in the store (table bodies)")
    t.eq(b.db("SELECT count(*) FROM messages WHERE state = 'delivering'")[0][0], 0,
         "after a clean SIGTERM no message is left in 'delivering'")
    drain(t, b, sv, "after SIGTERM")
    ids = W.message_ids("bhowanipore")
    dup = sorted(set(i for i in ids if ids.count(i) > 1))
    t.eq(dup, [], "no Message-ID is in the mailbox twice")
    lost = [w for w in ok if ids.count(mid(w)) != 1]
    t.eq(lost, [], "every POST answered 200 is exactly one mail")


def reload_cases(t, b, sv):
    if not t.ok(sv.start(), "serve starts for the SIGHUP tests", sv.log()):
        return
    good = open(b.config).read()
    W.set_key(b.config, "bridge", "timezone", "Asia/Kolkatta")
    logged = len(sv.log())
    sv.send_signal(signal.SIGHUP)

    def refused():
        log = sv.log()[logged:].lower()
        return "reload" in log and ("refused" in log or "keeping" in log)
    t.ok(W.wait_for(refused, 60), "SIGHUP with a broken config: the log says the reload was "
         "refused and the old configuration kept", sv.log()[logged:][-2000:])
    t.ok(sv.alive(), "the daemon survives the broken config", sv.log()[-2000:])
    wamid, body = msg(pnid=PST, sender="919830400100", text="after a refused reload")
    t.eq(try_post(sv, body), 200, "after the refused reload a POST still gets 200")
    t.eq(in_mailbox("parkstreet", wamid), 1,
         "…and is delivered with the old configuration (Parkstreet's INBOX)")

    with open(b.config, "w") as f:
        f.write(good)
    W.set_key(b.config, "station:parkstreet", "folder", "Reloaded")
    sighup_and_flush(t, sv, "919830400102", "SIGHUP with a good config: the log mentions "
                     "the reload", "right after the reload")
    wamid, body = msg(pnid=PST, sender="919830400101", text="after a good reload")
    st = try_post(sv, body)
    t.eq(st, 200, "after the good reload a POST gets 200")
    t.eq(in_mailbox("parkstreet", wamid, "Reloaded"), 1,
         "the new configuration takes effect: the mail lands in the new folder")
    t.ok(st == 200 and W.message_ids("parkstreet").count(mid(wamid)) == 0,
         "…and not in the old one")
    template_reload(t, b, sv)
    t.eq(sv.stop(), 0, "SIGTERM after the reloads: exit 0", sv.log()[-2000:])


def sighup_and_flush(t, sv, sender, what, text):
    """SIGHUP, wait for the reload, then post one message and wait for its delivery (to
    either folder). A pass the worker began before the reload keeps the old
    configuration; a message posted after the reload and delivered ends such a pass, so
    the next one, and every later POST, has the new configuration."""
    logged = len(sv.log())
    sv.send_signal(signal.SIGHUP)
    t.ok(W.wait_for(lambda: "configuration reloaded" in sv.log()[logged:], 60), what,
         sv.log()[logged:][-2000:])
    wamid, body = msg(pnid=PST, sender=sender, text=text)
    t.eq(try_post(sv, body), 200, "(a POST right after the reload: 200)")
    t.ok(W.wait_for(lambda: mid(wamid) in W.message_ids("parkstreet", "Reloaded") +
                    W.message_ids("parkstreet"), 60), "(it is delivered)")


def reloaded_text(t, b, sv, marker, sender, what):
    """SIGHUP, then one message: its mail's text body should start with marker."""
    sighup_and_flush(t, sv, sender, "SIGHUP (%s): the configuration is reloaded" % what,
                     "flush after the %s" % what)
    wamid, body = msg(pnid=PST, sender=sender, text="after the %s" % what)
    t.eq(try_post(sv, body), 200, "after the %s a POST gets 200" % what)
    t.eq(in_mailbox("parkstreet", wamid, "Reloaded", timeout=60), 1, "…and is delivered")
    mails = [m for _, _, _, m in W.mailbox("parkstreet", "Reloaded")
             if m["Message-ID"] == mid(wamid)]
    text = W.text_of(mails[0]) if mails else ""
    t.ok(text.startswith(marker), "the mail's text comes from the templates as they "
         "were at the SIGHUP (%s)" % what, text[:300])


def template_reload(t, b, sv):
    """The templates are part of the configuration: SIGHUP reads them again."""
    tdir = os.path.join(b.dir, "templates")
    os.makedirs(tdir)
    path = os.path.join(tdir, "mail.txt")
    with open(path, "w") as f:
        f.write("First restyle.\n{{text}}\n")
    W.set_key(b.config, "bridge", "templates", tdir)
    reloaded_text(t, b, sv, "First restyle.", "919830400102", "templates directory set")
    with open(path, "w") as f:
        f.write("Second restyle.\n{{text}}\n")
    reloaded_text(t, b, sv, "Second restyle.", "919830400103", "template file changed")
    with open(path, "wb") as f:
        f.write(b"Broken \xff restyle.\n")
    logged = len(sv.log())
    sv.send_signal(signal.SIGHUP)
    t.ok(W.wait_for(lambda: "reload refused" in sv.log()[logged:], 60),
         "SIGHUP with a template that is not UTF-8: the reload is refused and says why",
         sv.log()[logged:][-2000:])
    t.ok("mail.txt is not valid UTF-8" in sv.log()[logged:], "…naming the file",
         sv.log()[logged:][-2000:])


def test_signals(t):
    b = W.Bridge()
    with W.Serve(b) as sv:
        section(t, "signals", signal_cases, b, sv)
    b2 = W.Bridge()
    with W.Serve(b2) as sv:
        section(t, "reload", reload_cases, b2, sv)


# ---- a store that cannot commit -------------------------------------------------------

def fill(path):
    """Write zeros to path until the file system is full; True when ENOSPC came."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno != 28:
                    raise
                break
        small = b"\0" * 512
        while True:
            try:
                f.write(small)
            except OSError:
                return True


def health(sv):
    try:
        return sv.request("GET", "/healthz", timeout=10)[0]
    except ERRS as e:
        return repr(e)


def disk_full_cases(t, b, sv, mnt):
    if not t.ok(sv.start(), "serve starts with its state on a 2 MiB tmpfs", sv.log()):
        return
    wamid, body = msg(tag="FULL", text="before the disk fills")
    t.eq(try_post(sv, body), 200, "a POST while the tmpfs has room: 200")
    t.eq(in_mailbox("bhowanipore", wamid), 1, "…and it is delivered")
    st, h, m0 = sv.metrics()
    filler = os.path.join(mnt, "filler")
    t.ok(fill(filler), "(the tmpfs is now full: ENOSPC)")
    results = []
    for i in range(30):
        w, bd = msg(tag="FULL", text="while the disk is full %d %s" % (i, "x" * 3000))
        results.append((w, bd, try_post(sv, bd)))
        if results[-1][2] == 503 and len([r for r in results if r[2] == 503]) >= 3:
            break
    codes = [r[2] for r in results]
    t.ok(503 in codes, "with the disk full the POSTs get 503 once the store cannot commit",
         "codes %r\n%s" % (codes, sv.log()[-2000:]))
    t.eq(sorted(set(str(c) for c in codes if c not in (200, 503))), [],
         "with the disk full every POST is answered 200 (committed) or 503, nothing else")
    print("# disk full: the POSTs got %r" % codes)
    in_db = W.wamids_in_bodies(b)
    t.eq([r[0] for r in results if r[2] == 200 and r[0] not in in_db], [],
         "every POST answered 200 while the disk was full was really committed")
    t.eq(health(sv), 503, "with the disk full /healthz answers 503")
    st, h, m1 = sv.metrics()
    t.ok(st == 200 and (W.metric(m1, "wabridge_webhooks_rejected_total", reason="store") or 0) -
         (W.metric(m0, "wabridge_webhooks_rejected_total", reason="store") or 0) >= 1,
         "/metrics works with the disk full and counts rejected{reason=\"store\"}", "status %r" % st)
    t.ok(sv.alive(), "the daemon is still running with the disk full", sv.log()[-2000:])

    os.unlink(filler)
    t.eq(W.wait_for(lambda: health(sv) == 200, 60, 0.2) and 200 or health(sv), 200,
         "space again: /healthz recovers to 200 by itself (no restart)")
    w2, bd2 = msg(tag="FULL", text="after the disk has room again")
    t.eq(try_post(sv, bd2), 200, "space again: a POST gets 200")
    # Meta retries what got 503: everything must end as exactly one mail.
    for w, bd, c in results:
        if c != 200:
            try_post(sv, bd)
    allw = [wamid, w2] + [r[0] for r in results]
    W.wait_for(lambda: W.pending(b) == 0, 60, 0.2)
    ids = W.message_ids("bhowanipore")
    t.eq([w for w in allw if ids.count(mid(w)) != 1], [],
         "after recovery (and Meta's retries of the 503s) each message is exactly one mail")
    t.eq(sv.stop(), 0, "SIGTERM after the disk-full episode: exit 0", sv.log()[-2000:])


def remount(mnt, mode):
    p = subprocess.run(["mount", "-o", "remount," + mode, mnt], capture_output=True, text=True)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def read_only_cases(t, b, sv, mnt):
    # 1. The file system turns read-only under the running daemon. Linux refuses
    #    remount,ro ("busy") while a process holds a file on it open for writing, which a
    #    daemon with its SQLite database open normally does; then this case is skipped.
    if not t.ok(sv.start(), "serve starts (read-only tests)", sv.log()):
        return
    ok, why = remount(mnt, "ro")
    if not ok:
        t.skip("read-only store under a running daemon",
               "mount -o remount,ro refused while serve holds the store open: %s" %
               (why.splitlines() or ["?"])[0])
    else:
        w, bd = msg(tag="RO", text="while read-only")
        t.eq(try_post(sv, bd), 503, "store remounted read-only: a POST gets 503")
        t.eq(health(sv), 503, "store remounted read-only: /healthz answers 503")
        remount(mnt, "rw")
        t.ok(W.wait_for(lambda: health(sv) == 200, 60, 0.2),
             "remounted read-write: /healthz recovers to 200 by itself")
        t.eq(try_post(sv, bd), 200, "remounted read-write: the retried POST gets 200")
    t.eq(sv.stop(), 0, "SIGTERM: exit 0", sv.log()[-2000:])

    # 2. The daemon starts while the store is read-only (say, after the kernel remounted
    #    it on an error), and the store comes back while it runs: the only way to test
    #    read-only → writable without a restart, since Linux will not remount a file
    #    system read-only under an open database (case 1) and ext4 will not come back
    #    read-write after an error without an unmount (ext4_error_cases).
    ok, why = remount(mnt, "ro")
    if not ok:
        t.skip("serve started on a read-only store", "mount -o remount,ro failed: %s" %
               (why.splitlines() or ["?"])[0])
        return
    try:
        sv.start(wait=False)
        st = sv.wait_up()
        t.eq(st, 503, "serve started on a read-only store runs and answers /healthz 503",
             sv.log()[-2000:])
        w, bd = msg(tag="RO", text="started read-only")
        t.eq(try_post(sv, bd), 503, "…and a POST gets 503 (never 200)")
    finally:
        ok, why = remount(mnt, "rw")
    t.ok(ok, "(remounted read-write)", why)
    W.wait_for(lambda: not sv.alive() or health(sv) == 200, 60, 0.2)
    t.ok(sv.alive() and health(sv) == 200,
         "the store is writable again: /healthz recovers to 200 without a restart",
         sv.log()[-2000:])
    st = try_post(sv, bd)
    t.eq(st, 200, "…and the retried POST gets 200")
    t.eq(in_mailbox("bhowanipore", w) if st == 200 else 0, 1, "…and is delivered")
    t.eq(sv.stop(), 0, "SIGTERM: exit 0", sv.log()[-2000:])


def mounted_options(mnt):
    """The mount options of mnt from /proc/mounts, or None when it is not mounted."""
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 4 and fields[1] == mnt:
                return fields[0], fields[3].split(",")
    return None


def ext4_error_cases(t):
    """The state file system turns read-only under the running daemon, the way a disk
    error does it: ext4 with errors=remount-ro on a loop device, and an error injected
    through /sys/fs/ext4/DEV/trigger_fs_error. (ext4 cannot be made writable again
    without an unmount, so recovery is covered by the tmpfs cases.)"""
    what = "store turning read-only under a running daemon (ext4 error, remount-ro)"
    b = W.Bridge()
    mnt = os.path.join(b.dir, "ext4")
    img = os.path.join(b.dir, "ext4.img")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    if not shutil.which("mkfs.ext4"):
        t.skip(what, "no mkfs.ext4 (e2fsprogs)")
        return
    p = subprocess.run(["mkfs.ext4", "-q", "-F", img], capture_output=True, text=True)
    if p.returncode != 0:
        t.skip(what, "mkfs.ext4 failed: %s" % (p.stderr.strip().splitlines() or ["?"])[0])
        return
    p = subprocess.run(["mount", "-o", "loop,errors=remount-ro", img, mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        t.skip(what, "mount -o loop failed: %s" % (p.stderr.strip().splitlines() or ["?"])[0])
        return
    try:
        dev = (mounted_options(mnt) or ("?",))[0]
        trigger = "/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev)
        if not os.path.exists(trigger):
            t.skip(what, "no %s in this kernel" % trigger)
            return
        W.set_key(b.config, "bridge", "state", os.path.join(mnt, "state.db"))
        b.state = os.path.join(mnt, "state.db")
        with W.Serve(b) as sv:
            if not t.ok(sv.start(), "serve starts with its state on ext4", sv.log()):
                return
            w, bd = msg(tag="EXT4", text="before the disk error")
            t.eq(try_post(sv, bd), 200, "a POST before the disk error: 200")
            t.eq(in_mailbox("bhowanipore", w), 1, "…and it is delivered")
            with open(trigger, "w") as f:
                f.write("wabridge test: simulated disk error\n")
            opts = W.wait_for(lambda: {"ro", "emergency_ro"} & set(
                (mounted_options(mnt) or ("", []))[1]), 60)
            t.ok(opts, "(the kernel remounted the state file system read-only)",
                 mounted_options(mnt))
            codes = [try_post(sv, msg(tag="EXT4", text="after the disk error %d" % i)[1])
                     for i in range(3)]
            t.eq(codes, [503, 503, 503], "store gone read-only under the daemon: POSTs get 503")
            t.eq(health(sv), 503, "store gone read-only under the daemon: /healthz answers 503")
            t.ok(sv.alive(), "the daemon keeps running on a read-only store", sv.log()[-2000:])
            rc = sv.stop()
            t.ok(rc is not None and rc >= 0,
                 "SIGTERM with the store read-only: the daemon exits by itself (status %r)" % rc,
                 sv.log()[-2000:])
            t.ok("ERROR: AddressSanitizer" not in sv.log() and "runtime error:" not in sv.log(),
                 "no sanitizer report after the disk error", sv.log()[-3000:])
    finally:
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)


def test_store_failures(t):
    what = "store that cannot commit (tmpfs disk full, read-only)"
    if W.sqlite_only(t, what, "the state file on a full, read-only or failing file system"):
        return
    if os.geteuid() != 0:
        t.skip(what, "needs root to mount a tmpfs")
        return
    b = W.Bridge()
    mnt = tempfile.mkdtemp(prefix="wbfull.", dir=b.dir)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        t.skip(what, "mount -t tmpfs failed: %s" % (p.stderr.strip().splitlines() or ["?"])[0])
        return
    try:
        W.set_key(b.config, "bridge", "state", os.path.join(mnt, "state.db"))
        b.state = os.path.join(mnt, "state.db")
        with W.Serve(b) as sv:
            section(t, "disk full", disk_full_cases, b, sv, mnt)
            sv.kill()
            section(t, "read-only", read_only_cases, b, sv, mnt)
    finally:
        remount(mnt, "rw")
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
    section(t, "ext4 error", ext4_error_cases)


def test(t):
    if not W.IMAP_PORT:
        t.skip("wabridge serve", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    W.reset_mailboxes()
    test_daemon(t)
    test_signals(t)
    test_store_failures(t)


W.Tap().run(test)
