"""`wabridge serve` under attack: thousands of slow connections and floods of bodies
nobody signed must not keep Meta out, nor take the daemon's memory.

With 5,000 connections open that dribble header lines (8 from each of 625 addresses in
127.0.0.0/8, under the per-address limit), a flood of unsigned POSTs announcing almost
max_body, and 400 POSTs with a well-formed but wrong signature that send all but the last
byte of a near-max_body body and then hold on, a signed POST from 127.0.0.1 is answered
200 (and committed) and /healthz 200; the daemon's resident memory stays bounded (the
figure is printed). Also: a 17th connection from one address is refused; a POST without
a signature header gets 401 before its body is sent; a connection that keeps
dribbling is cut at request_timeout; refusals are logged a bounded number of times
while /metrics counts each. The signed POST's mail goes out over IMAP during the attack:
with thousands of descriptors taken by connections, libetpan's sockets (it waits with
select(2)) must still get descriptors below FD_SETSIZE.

Premises are arranged, not timed: the attack daemon's request_timeout is long, so the
slow connections are still open during the checks (the test verifies they are), and the
held bodies wait for their last byte. Waits have generous timeouts that only catch a
hang; elapsed times are printed, never asserted."""

import http.client
import os
import re
import resource
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

BHP = W.STATIONS[0][2]
MAX_BODY = 1024 * 1024
BODY_MEMORY = 16 * 1024 * 1024
PER_IP = 16
SLOW_CONNS = 5000
SLOW_PER_ADDR = 8          # under PER_IP, so the per-address limit refuses none
UNSIGNED = 600             # unsigned near-max_body POSTs
HELD = 400                 # wrong-signature near-max_body bodies held open, 4 per address
RSS_GROWTH_BOUND_MB = 250  # without a budget the held bodies alone would take 400 MB
ERRS = (OSError, http.client.HTTPException)
WAIT = 60                  # seconds (times W.SLOW): only ever reached by a hang


def addr(net, i):
    """The i-th address (from 1) of 127.net.0.0/16."""
    return "127.%d.%d.%d" % (net, (i >> 8) & 255, i & 255)


def connect(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(WAIT * W.SLOW)
    s.connect(("127.0.0.1", port))
    return s


def read_status(s, timeout=WAIT):
    """The status code of the next response's status line (past a 100 Continue only when
    asked by the caller), or None when the server closed without one (or nothing came
    within timeout)."""
    s.settimeout(timeout * W.SLOW)
    data = b""
    try:
        while b"\r\n" not in data:
            got = s.recv(4096)
            if not got:
                break
            data += got
    except OSError:
        pass
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def closed_by_server(s, timeout=WAIT):
    """Wait until the server closes s (EOF or reset); False if it is still open then."""
    end = time.monotonic() + timeout * W.SLOW
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                if not s.recv(65536):
                    return True
            except OSError:
                return True
    return False


def still_open(s):
    """Has the server left s open (nothing to read, no EOF)?"""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return True
    try:
        s.setblocking(False)
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Dribbler:
    """Slow clients: each socket has sent a request line and a few header lines, and gets
    one more header line every second or so, never the blank line that ends them."""

    def __init__(self, socks):
        self.socks = socks
        self.closed = 0
        self.halt = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        live = list(self.socks)
        while not self.halt.wait(1.0):
            keep = []
            for s in live:
                try:
                    s.send(b"X-Slow: 1\r\n", socket.MSG_DONTWAIT)
                    keep.append(s)
                except BlockingIOError:
                    keep.append(s)
                except OSError:
                    self.closed += 1
            live = keep

    def start(self):
        self.th.start()
        return self

    def stop(self):
        self.halt.set()
        self.th.join(WAIT)


def open_slow(port, net, n, per_addr, first):
    socks = []
    for i in range(n):
        s = connect(port, addr(net, 1 + i // per_addr))
        s.sendall(first(i))
        socks.append(s)
    return socks


def slow_first(i):
    if i % 2:
        return b"GET /healthz HTTP/1.1\r\nHost: slow\r\n"
    return (b"POST /webhook HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
            b"X-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n")


def unsigned_flood(port, results):
    """POSTs with no signature header announcing almost max_body: the status each got."""
    for i in range(UNSIGNED):
        try:
            s = connect(port, addr(20, 1 + i % 200))
            s.sendall(b"POST /webhook HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (MAX_BODY - 64))
            results.append(read_status(s))
            s.close()
        except OSError as e:
            results.append(repr(e))


def held_flood(port):
    """Wrong-signature POSTs that ask (Expect: 100-continue) before sending a near-max_body
    body, then send all of it but the last byte and hold on. Returns (sockets holding a
    body, statuses of those refused at once)."""
    body = b"{" + b" " * (MAX_BODY - 200) + b"}"
    held, refused = [], []
    for i in range(HELD):
        s = connect(port, addr(30, 1 + i // 4))
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: held\r\nContent-Type: application/json\r\n"
                  b"X-Hub-Signature-256: sha256=" + b"ab" * 32 + b"\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        st = read_status(s)
        if st == 100:
            try:
                s.sendall(body[:-1])
                held.append(s)
                continue
            except OSError:
                st = "reset while sending"
        refused.append(st)
        s.close()
    return held, refused


def metric(sv, name, **labels):
    try:
        st, _, m = sv.metrics()
    except ERRS:
        return None
    return W.metric(m, name, **labels) if st == 200 else None


def timed(fn):
    t0 = time.monotonic()
    try:
        v = fn()
    except ERRS as e:
        v = repr(e)
    return v, time.monotonic() - t0


# ---- the attack ------------------------------------------------------------------------

def attack_cases(t, b, sv):
    pid = sv.proc.pid
    rss0 = rss_kb(pid)
    m0 = {r: metric(sv, "wabridge_webhooks_rejected_total", reason=r) or 0
          for r in ("signature", "busy")}
    logged = len(sv.log())

    held, refused = held_flood(sv.port)
    print("# wrong-signature bodies: %d held by the daemon, %d refused at once (%s)" %
          (len(held), len(refused), sorted(set(map(str, refused)))))
    t.ok(len(refused) > 0 and set(refused) == {503},
         "near-max_body bodies beyond [webhook] body_memory are refused 503 before they are "
         "read", "held %d, refused %r" % (len(held), sorted(set(map(str, refused)))))
    t.ok(len(held) * MAX_BODY <= BODY_MEMORY,
         "the bodies the daemon took fit in body_memory (%d of ~1 MiB)" % len(held))

    slow = open_slow(sv.port, 10, SLOW_CONNS, SLOW_PER_ADDR, slow_first)
    drib = Dribbler(slow).start()
    flood_results = []
    flood = threading.Thread(target=unsigned_flood, args=(sv.port, flood_results), daemon=True)
    flood.start()
    try:
        # The acceptor takes the backlog in its own time: wait for it (a hang bound).
        W.wait_for(lambda: (metric(sv, "wabridge_http_connections") or 0) >= SLOW_CONNS,
                   120, 0.2)
        open_now = metric(sv, "wabridge_http_connections") or 0
        t.ok(open_now >= SLOW_CONNS,
             "(premise) the daemon holds the %d slow connections (it reports %d open)" %
             (SLOW_CONNS, open_now))
        wamid = "wamid.ATTACK.%d" % os.getpid()
        body = W.single(BHP, "919830500001", wamid, int(time.time()) - 60, "during the attack")
        st, took = timed(lambda: sv.post(body, timeout=WAIT))
        print("# signed POST during the attack: %r after %.3f s" % (st, took))
        t.eq(st, 200, "during the attack a signed POST from 127.0.0.1 is answered 200")
        t.eq(b.db("SELECT count(*) FROM bodies WHERE body = ?", body)[0][0], 1,
             "…and its body is committed when the 200 arrives")
        got = W.wait_for(lambda: "<%s@%s>" % (wamid, W.DOMAIN) in W.message_ids("bhowanipore"),
                         WAIT, 0.2)
        t.ok(got, "…and delivered over IMAP while the attack holds thousands of descriptors "
             "(libetpan's sockets must stay below FD_SETSIZE)", sv.log()[-2000:])
        hz, took = timed(lambda: sv.request("GET", "/healthz", timeout=WAIT)[0])
        print("# /healthz during the attack: %r after %.3f s" % (hz, took))
        t.eq(hz, 200, "during the attack /healthz is answered 200")
        rss1 = rss_kb(pid)
        growth = (rss1 - rss0) / 1024
        print("# daemon VmRSS: %.1f MB before, %.1f MB with %d slow connections, %d held "
              "bodies and the unsigned flood open (+%.1f MB; bound +%d MB)" %
              (rss0 / 1024, rss1 / 1024, SLOW_CONNS, len(held), growth, RSS_GROWTH_BOUND_MB))
        if W.WRAP:
            t.skip("resident memory stays bounded", "under %s the figure is the tool's" % W.WRAP[0])
        else:
            t.ok(growth < RSS_GROWTH_BOUND_MB, "the daemon's resident memory stays bounded "
                 "(+%.1f MB < +%d MB)" % (growth, RSS_GROWTH_BOUND_MB))
        flood.join(WAIT * W.SLOW * 4)
        codes = sorted(set(map(str, flood_results)))
        t.ok(not flood.is_alive() and len(flood_results) == UNSIGNED and codes == ["401"],
             "%d unsigned near-max_body POSTs: each answered 401 from its headers" % UNSIGNED,
             "answers %r of %d" % (codes, len(flood_results)))
        t.eq(drib.closed, 0, "(premise) every slow connection was still open after the checks")
    finally:
        drib.stop()
        for s in slow + held:
            s.close()
    flood.join(WAIT * W.SLOW)
    rejected = {r: (metric(sv, "wabridge_webhooks_rejected_total", reason=r) or 0) - m0[r]
                for r in m0}
    t.ok(rejected["signature"] >= UNSIGNED and rejected["busy"] >= len(refused),
         "/metrics counts every refusal: %d signature, %d busy" % (rejected["signature"],
                                                                  rejected["busy"]))
    lines = [ln for ln in sv.log()[logged:].splitlines() if "refused (" in ln]
    print("# %d refusal lines logged for %d refusals" % (len(lines), UNSIGNED + len(refused)))
    t.ok(len(lines) <= 20, "refusals are logged a bounded number of times, not one line each",
         "\n".join(lines[:40]))
    summary = W.wait_for(lambda: re.search(r"… and \d+ more refused \(missing "
                                           r"X-Hub-Signature-256\)", sv.log()), WAIT, 0.2)
    t.ok(summary, "the refusals held back are told in a summary line", sv.log()[-3000:])


# ---- smaller cases -----------------------------------------------------------------------

def per_address_cases(t, sv):
    mine = [connect(sv.port, "127.40.0.1") for _ in range(PER_IP)]
    extra = connect(sv.port, "127.40.0.1")
    try:
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        st = read_status(extra)
        t.ok(st is None and closed_by_server(extra), "a connection over "
             "max_connections_per_ip (%d) from one address is closed unanswered" % PER_IP,
             "status %r" % st)
        mine[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t.eq(read_status(mine[0]), 200, "(premise) the %d before it were taken and are served"
             % PER_IP)
        t.ok(all(still_open(s) for s in mine[1:]), "…and the others are still open")
        other = connect(sv.port, "127.40.0.2")
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t.eq(read_status(other), 200, "another address is served meanwhile")
        other.close()
    finally:
        for s in mine + [extra]:
            s.close()


def early_401_cases(t, sv, b):
    before = b.db("SELECT count(*) FROM bodies")[0][0]
    for what, sig in [("no X-Hub-Signature-256", b""),
                      ("a malformed X-Hub-Signature-256", b"X-Hub-Signature-256: sha256=00\r\n")]:
        s = connect(sv.port, "127.0.0.1")
        try:
            s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                      sig + b"Content-Length: 500000\r\n\r\n")
            t.eq(read_status(s), 401, "a POST with %s is answered 401 before its body is sent"
                 % what)
        finally:
            s.close()
    t.eq(b.db("SELECT count(*) FROM bodies")[0][0], before, "nothing was stored")


def deadline_cases(t, b2):
    with W.Serve(b2) as sv:
        if not t.ok(sv.start(), "serve starts with request_timeout = 2", sv.log()):
            return
        halt = threading.Event()
        heads = connect(sv.port, "127.50.0.1")
        body = connect(sv.port, "127.50.0.2")
        heads.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        body.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=" +
                     b"0" * 64 + b"\r\nContent-Length: 100000\r\n\r\n{")

        def dribble(s, byte):
            while not halt.wait(0.2):
                try:
                    s.send(byte, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    pass
                except OSError:
                    return
        threads = [threading.Thread(target=dribble, args=a, daemon=True)
                   for a in ((heads, b"X"), (body, b" "))]
        for th in threads:
            th.start()
        try:
            t0 = time.monotonic()
            cut = closed_by_server(heads)
            print("# header dribbler cut after %.1f s" % (time.monotonic() - t0))
            t.ok(cut, "a connection that dribbles its headers is cut at request_timeout, "
                 "however steadily it sends")
            t0 = time.monotonic()
            cut = closed_by_server(body)
            print("# body dribbler cut after %.1f s more" % (time.monotonic() - t0))
            t.ok(cut, "a connection that dribbles its body is cut at request_timeout")
        finally:
            halt.set()
            for th in threads:
                th.join(5)
            heads.close()
            body.close()
        idle = connect(sv.port, "127.50.0.3")
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        t.eq(read_status(idle), 200, "a keep-alive connection is answered")
        t.ok(closed_by_server(idle), "…and closed when it sends nothing within request_timeout "
             "of the answer")
        idle.close()
        cuts = metric(sv, "wabridge_http_requests_cut_total")
        t.ok(cuts is not None and cuts >= 3, "/metrics counts the cut requests (%r)" % cuts)
        t.ok(re.search(r"connection from 127\.50\.0\.\d cut", sv.log()), "a cut is logged",
             sv.log()[-2000:])
        t.eq(sv.request("GET", "/healthz")[0], 200, "the daemon serves on after the cuts")
        t.eq(sv.stop(), 0, "SIGTERM: exit 0", sv.log()[-2000:])


def test(t):
    if not W.IMAP_PORT:
        t.skip("serve under attack", "no private Dovecot (WB_IMAP_PORT unset)")
        return
    W.reset_mailboxes()
    nofile = raise_nofile()
    if nofile < SLOW_CONNS + HELD + 2 * PER_IP + 200:
        t.skip("serve under attack", "this test needs %d open files, the hard limit is %d" %
               (SLOW_CONNS + HELD + 2 * PER_IP + 200, nofile))
        return
    b = W.Bridge()
    for key, value in [("max_body", "1MiB"), ("body_memory", "16MiB"),
                       ("max_connections", "8000"), ("max_connections_per_ip", str(PER_IP)),
                       ("request_timeout", "600")]:
        W.set_key(b.config, "webhook", key, value)
    with W.Serve(b) as sv:
        if not t.ok(sv.start(), "serve starts with the attack limits", sv.log()):
            return
        early_401_cases(t, sv, b)
        per_address_cases(t, sv)
        attack_cases(t, b, sv)
        t.eq(sv.request("GET", "/healthz")[0], 200, "the daemon serves on after the attack")
        rc = sv.stop(signal.SIGTERM)
        t.eq(rc, 0, "SIGTERM after the attack: exit 0", sv.log()[-2000:])
        t.ok("ERROR: AddressSanitizer" not in sv.log() and "runtime error:" not in sv.log(),
             "no sanitizer report in the daemon's log", sv.log()[-3000:])
    b2 = W.Bridge(deliver="maildir")
    W.set_key(b2.config, "webhook", "request_timeout", "2")
    deadline_cases(t, b2)


W.Tap().run(test)
