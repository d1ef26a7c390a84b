"""wbtest: the small helper library of the integration tests (Python standard library only).

Each test script prints TAP ("ok N - what", "not ok N - what") through Tap, runs the
wabridge binary named by $WABRIDGE (wrapped in $WB_WRAP, e.g. valgrind), and reads the
private Dovecot started by tests/run-all.sh ($WB_IMAP_PORT, $WB_DOVECOT_DIR) with imaplib,
an independent client, so the tests check what a mail client would see.
"""

import email
import email.policy
import hashlib
import hmac
import http.client
import imaplib
import json
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.environ.get("WB_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIXTURES = os.path.join(TOP, "tests", "fixtures", "webhooks")
WABRIDGE = os.environ.get("WABRIDGE") or os.path.join(TOP, "wabridge")
WRAP = shlex.split(os.environ.get("WB_WRAP", ""))
IMAP_PORT = os.environ.get("WB_IMAP_PORT")
DOVECOT_DIR = os.environ.get("WB_DOVECOT_DIR")
APP_SECRET = "test-app-secret-0f3c9a"
TOKEN_SECRET = "test-reply-secret-77ab12"
DOMAIN = "wa.police.test"

STATIONS = [
    # key, code, phone_number_id, imap user
    ("bhowanipore", "BHP", "441880000100101", "bhowanipore"),
    ("gariahat", "GRH", "441880000200202", "jadavpur"),
    ("parkstreet", "PST", "441880000300303", "parkstreet"),
]


class Tap:
    """TAP output; a failing check prints what was expected and found."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, what))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, what))
            if detail is not None:
                for line in str(detail).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, what, detail=""):
        return self.ok(got == want, what, "want: %r\ngot:  %r\n%s" % (want, got, detail))

    def skip(self, what, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, what, why))

    def run(self, fn):
        """Run the test body; an exception is one more failure, with its traceback."""
        try:
            fn(self)
        except Exception:  # noqa: BLE001 - a crash in a test is a failed test
            self.ok(False, "test body raised", traceback.format_exc())
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def sign(body, secret=APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def reply_token(ref, secret=TOKEN_SECRET):
    return hmac.new(secret.encode(), ref.encode(), hashlib.sha256).hexdigest()[:10]


def write_secret(path, value):
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)


class Bridge:
    """A wabridge set-up in a temporary directory: config, secrets, state."""

    def __init__(self, deliver="imap", extra="", duty=False, bridge_extra=""):
        """duty=False turns the station's duty off (no acknowledgement, clock, reminder
        or digest), so tests of other features see only the mails they make."""
        self.dir = tempfile.mkdtemp(prefix="wbi.")
        self.state = os.path.join(self.dir, "state.db")
        write_secret(os.path.join(self.dir, "app_secret"), APP_SECRET)
        write_secret(os.path.join(self.dir, "reply_secret"), TOKEN_SECRET)
        for st in STATIONS:
            write_secret(os.path.join(self.dir, st[3] + ".pass"), "secret")
        lines = [
            "[bridge]",
            "state = %s" % self.state,
            "domain = %s" % DOMAIN,
            "timezone = Asia/Kolkata",
        ]
        if not duty:
            lines += ["send_ack = false", "sla_hours = 0", "digest_hour = -1",
                      "signature_reminder_hours = 0"]
        lines += bridge_extra.splitlines()
        lines += [
            "[webhook]",
            "app_secret_file = %s/app_secret" % self.dir,
            "[whatsapp]",
            "dry_run = true",
            "[replies]",
            "token_secret_file = %s/reply_secret" % self.dir,
            "[imap]",
            "url = imap://127.0.0.1:%s" % (IMAP_PORT or "1"),
        ]
        for key, code, pnid, user in STATIONS:
            lines += [
                "[station:%s]" % key,
                "name = %s Police Station" % key.capitalize(),
                "code = %s" % code,
                "phone_number_id = %s" % pnid,
                "address = %s.ps@police.test" % key,
                "deliver = %s" % (deliver if deliver != "maildir" else
                                  "maildir:%s/mail/%s" % (self.dir, key)),
                "imap_user = %s" % user,
                "imap_password_file = %s/%s.pass" % (self.dir, user),
                "folder = INBOX",
            ]
        self.config = os.path.join(self.dir, "wabridge.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def use_graph(self, port, token):
        """Point [whatsapp] at a fake Graph API on loopback, with this access token."""
        write_secret(os.path.join(self.dir, "token"), token)
        cfg = open(self.config).read().replace(
            "[whatsapp]\n", "[whatsapp]\napi_base = http://127.0.0.1:%d/v26.0\n"
            "access_token_file = %s/token\n" % (port, self.dir))
        with open(self.config, "w") as f:
            f.write(cfg)

    def run(self, *args, stdin=None, env=None, cwd=None, config=True, timeout=120):
        cmd = WRAP + [WABRIDGE] + (["-c", self.config] if config else []) + list(args)
        e = dict(os.environ)
        e.pop("WABRIDGE_CONFIG", None)
        e.pop("HTTP_X_HUB_SIGNATURE_256", None)
        if env:
            e.update(env)
        p = subprocess.run(cmd, input=stdin, capture_output=True, env=e,
                           cwd=cwd or self.dir, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode(
            "utf-8", "replace")

    def ingest(self, body, signature="auto", **kw):
        args = ["ingest"]
        if signature == "auto":
            signature = sign(body)
        if signature is not None:
            args += ["--signature", signature]
        return self.run(*args, stdin=body, **kw)

    def db_write(self, sql, *params):
        """Change the state database behind wabridge's back (crash simulations)."""
        con = sqlite3.connect(self.state)
        try:
            con.execute(sql, params)
            con.commit()
        finally:
            con.close()

    def db(self, sql, *params):
        con = sqlite3.connect(self.state)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


def single(pnid, sender, wamid, ts, body, name="Citizen"):
    """A wire-style body with one text message."""
    m, c = text_message(sender, wamid, ts, body, name)
    return payload(pnid, [m], [c])


def imap(user):
    m = imaplib.IMAP4("127.0.0.1", int(IMAP_PORT))
    m.login(user, "secret")
    return m


def mailbox(user, folder="INBOX"):
    """Every mail in a folder as (uid, flags, raw bytes, parsed message)."""
    m = imap(user)
    try:
        typ, _ = m.select(folder, readonly=True)
        if typ != "OK":
            return []
        typ, data = m.uid("search", None, "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = m.uid("fetch", uid, "(FLAGS BODY.PEEK[])")
            raw = parts[0][1]
            flags = imaplib.ParseFlags(parts[0][0])
            out.append((int(uid), flags, raw, parse(raw)))
        return out
    finally:
        m.logout()


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def reset_mailboxes():
    subprocess.run(["sh", os.path.join(TOP, "tests", "lib", "dovecot.sh"), "reset",
                    DOVECOT_DIR], check=True, capture_output=True)


def idling(user):
    """Is a session of user waiting in IDLE on the private Dovecot now?"""
    p = subprocess.run(["sh", os.path.join(TOP, "tests", "lib", "dovecot.sh"), "sessions",
                        DOVECOT_DIR], capture_output=True, text=True)
    return any(re.match(r"^\[%s \S+ IDLE\]$" % re.escape(user), ln)
               for ln in p.stdout.splitlines())


def wire_problems(raw):
    """What is wrong with the wire form: bare LF, lines over 998, non-ASCII headers."""
    problems = []
    head, _, _ = raw.partition(b"\r\n\r\n")
    if any(b > 0x7f for b in head):
        problems.append("non-ASCII byte in the header")
    for i, line in enumerate(raw.split(b"\r\n")):
        if len(line) > 998:
            problems.append("line %d is %d octets" % (i, len(line)))
        if b"\n" in line or b"\r" in line:
            problems.append("line %d has a bare CR or LF" % i)
    return problems


def text_of(msg, subtype="plain"):
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part else ""


def payload(pnid, messages, contacts):
    """A webhook body in Meta's wire style (ASCII, \\u escapes, escaped slashes)."""
    body = {"object": "whatsapp_business_account", "entry": [{"id": "209384756102938",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919831200101", "phone_number_id": pnid},
                "contacts": contacts, "messages": messages}}]}]}
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace(
        "/", "\\/").encode()


def text_message(sender, wamid, ts, body, name="Citizen"):
    contact = {"profile": {"name": name}, "wa_id": sender}
    msg = {"from": sender, "id": wamid, "timestamp": str(ts), "type": "text",
           "text": {"body": body}}
    return msg, contact


# ---- helpers for `wabridge serve` (tests/integration/test_serve*.py) -------------------

# Timeouts grow under valgrind ($WB_WRAP), which runs the daemon many times slower.
SLOW = 6 if WRAP else 1


def free_port():
    """A loopback TCP port that was free a moment ago (bind port 0, read it, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(fn, timeout, interval=0.05):
    """Call fn until it returns something true or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout * SLOW
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def imap_muttrc(home, user, extra=""):
    """A muttrc in home for user's INBOX on the private Dovecot (no TLS, nothing asked),
    with extra settings after it; its path."""
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write("set imap_user=%s\nset imap_pass=secret\nset ssl_starttls=no\n"
                "set ssl_force_tls=no\nset folder=imap://127.0.0.1:%s/\nset spoolfile=+INBOX\n"
                "set charset=utf-8\nset sort=date\nset wait_key=no\nset mail_check=0\n"
                "set imap_check_subscribed=no\nset quit=yes\n" % (user, IMAP_PORT) + extra)
    return rc


def tmux_screen(sock):
    """What the terminal of the private tmux server sock shows now."""
    return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-J"],
                          capture_output=True).stdout.decode("utf-8", "replace")


def tmux_showing(sock, *texts):
    """The screen once it shows every one of texts (or after a minute: a hang)."""
    return wait_for(lambda: (lambda s: s if all(x in s for x in texts) else None)(
        tmux_screen(sock)), 60, 0.1) or tmux_screen(sock)


def set_key(path, group, key, value):
    """Set group's key in a key file: replace the key where it is, else add it under the
    group's header, else add the group at the end. value None removes the key."""
    with open(path) as f:
        lines = f.read().split("\n")
    head = "[%s]" % group
    pat = re.compile(r"^\s*%s\s*=" % re.escape(key))
    start = next((i for i, ln in enumerate(lines) if ln.strip() == head), None)
    if start is None:
        if value is not None:
            lines[-1:] = [head, "%s = %s" % (key, value), ""]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
                   len(lines))
        hit = next((i for i in range(start + 1, end) if pat.match(lines[i])), None)
        if hit is not None:
            if value is None:
                del lines[hit]
            else:
                lines[hit] = "%s = %s" % (key, value)
        elif value is not None:
            lines.insert(start + 1, "%s = %s" % (key, value))
    with open(path, "w") as f:
        f.write("\n".join(lines))


def parse_metrics(text):
    """Prometheus text format → {(name, ((label, value), ...)): float}; labels sorted."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$', line)
        if not m:
            out.setdefault(("__bad_lines__", ()), []).append(line)
            continue
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                         m.group(3) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            out.setdefault(("__bad_lines__", ()), []).append(line)
    return out


def metric(metrics, name, **labels):
    """One sample's value from parse_metrics(), or None when it is not there."""
    return metrics.get((name, tuple(sorted(labels.items()))))


class Serve:
    """`wabridge -c CONFIG serve` in the background, for one Bridge.

    The listener gets a free loopback port and the verify token `verify-me-123` (written
    to the bridge's directory) unless the config already names them; stderr goes to a file
    (self.log()). Use it as a context manager so the daemon is always killed at the end."""

    VERIFY_TOKEN = "verify-me-123"

    def __init__(self, bridge, env=None):
        self.b = bridge
        self.env = env
        cfg = open(bridge.config).read()
        m = re.search(r"^listen\s*=\s*127\.0\.0\.1:(\d+)", cfg, re.M)
        if m:
            self.port = int(m.group(1))
        else:
            self.port = free_port()
            set_key(bridge.config, "webhook", "listen", "127.0.0.1:%d" % self.port)
        if "verify_token_file" not in cfg:
            tok = os.path.join(bridge.dir, "verify_token")
            write_secret(tok, self.VERIFY_TOKEN)
            set_key(bridge.config, "webhook", "verify_token_file", tok)
        self.proc = None
        self.logpath = None
        self.starts = 0

    def start(self, wait=True, timeout=60):
        """Start the daemon; with wait, until /healthz answers 200 (False if it never did).
        The port was free when it was picked, but another program may have taken it since:
        then the daemon cannot listen, and it starts again on another port."""
        for _ in range(5):
            self._start()
            if not wait:
                return True
            st = self.wait_up(timeout)
            if st is not None or "cannot listen" not in self.log():
                return st == 200
            self.port = free_port()
            set_key(self.b.config, "webhook", "listen", "127.0.0.1:%d" % self.port)
        return False

    def _start(self):
        self.starts += 1
        self.logpath = os.path.join(self.b.dir, "serve.%d.log" % self.starts)
        e = dict(os.environ)
        e.pop("WABRIDGE_CONFIG", None)
        if self.env:
            e.update(self.env)
        with open(self.logpath, "wb") as log:
            self.proc = subprocess.Popen(WRAP + [WABRIDGE, "-c", self.b.config, "serve"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=e, cwd=self.b.dir)

    def wait_up(self, timeout=60):
        """Poll /healthz until it answers at all (or the daemon dies); its status or None."""
        def probe():
            if self.proc.poll() is not None:
                return "dead"
            try:
                return self.request("GET", "/healthz", timeout=1)[0]
            except (OSError, http.client.HTTPException):
                return None
        st = wait_for(probe, timeout)
        return st if isinstance(st, int) else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        if not self.logpath or not os.path.exists(self.logpath):
            return ""
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One HTTP/1.1 request on a fresh connection: (status, {header: value}, body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def post(self, body, signature="auto", path="/webhook", timeout=10):
        """POST a webhook body, signed with the test app secret unless told; the status."""
        h = {"Content-Type": "application/json"}
        if signature == "auto":
            signature = sign(body)
        if signature is not None:
            h["X-Hub-Signature-256"] = signature
        return self.request("POST", path, body, h, timeout)[0]

    def metrics(self):
        st, h, data = self.request("GET", "/metrics")
        return st, h, parse_metrics(data.decode("utf-8", "replace")) if st == 200 else {}

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signal the daemon and wait for it; its exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


def pending(bridge):
    """Work still to do: bodies not yet expanded into messages (state 'new') plus messages
    waiting for delivery (received, rendered, delivering, retry)."""
    return bridge.db("SELECT (SELECT count(*) FROM bodies WHERE state = 'new') + "
                     "(SELECT count(*) FROM messages WHERE state IN "
                     "('received', 'rendered', 'delivering', 'retry'))")[0][0]


def message_ids(user, folder="INBOX"):
    """The Message-ID of every mail in a folder, in UID order."""
    return [m[3]["Message-ID"] for m in mailbox(user, folder)]


class Poster:
    """Client threads that POST signed one-text bodies with fresh wamids to a Serve, one
    request after another, until stop() or until the daemon stops answering (5 failures
    in a row). results[wamid] is the HTTP status, or None when no answer came."""

    def __init__(self, serve, pnid, tag, threads=2):
        self.sv, self.pnid, self.tag = serve, pnid, tag
        self.results = {}
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(k,), daemon=True)
                        for k in range(threads)]

    def _loop(self, k):
        fails = i = 0
        while not self.halt.is_set() and fails < 5:
            i += 1
            wamid = "wamid.%s.%d.%05d" % (self.tag, k, i)
            body = single(self.pnid, "9198305%05d" % (k * 1000 + i % 7), wamid,
                          int(time.time()) - 300, "load %s %d %d" % (self.tag, k, i),
                          "Load %d" % k)
            try:
                st = self.sv.post(body, timeout=10)
                fails = 0
            except (OSError, http.client.HTTPException):
                st = None
                fails += 1
                time.sleep(0.05)
            with self.lock:
                self.results[wamid] = st

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def ok_count(self):
        with self.lock:
            return sum(1 for v in self.results.values() if v == 200)

    def stop(self):
        self.halt.set()
        for th in self.threads:
            th.join(20 * SLOW)

    def accepted(self):
        """The wamids whose POST was answered 200, sorted."""
        with self.lock:
            return sorted(w for w, v in self.results.items() if v == 200)


def wamids_in_bodies(bridge):
    """Every message id ("id":"…") found in the raw bodies of table bodies: what was
    committed, whether or not it has been expanded into messages yet."""
    found = set()
    for (body,) in bridge.db("SELECT body FROM bodies"):
        found.update(m.decode("utf-8", "replace") for m in
                     re.findall(rb'"id"\s*:\s*"([^"\\]+)"', bytes(body)))
    return found
