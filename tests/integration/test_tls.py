"""TLS and plain text on the IMAP connections (README "Pointing it at a real IMAP server"),
and check-config's network rules.

- A private Dovecot with certificates of a private CA offers STARTTLS on imap://:
  127.0.0.1 shows a certificate for 127.0.0.1, 127.0.0.2 one for mail.other.example.
  Without ca_file nothing is trusted and no login is tried (Dovecot's log says "no auth
  attempts"); with ca_file or the pin the mail is delivered; the other host's
  certificate is refused even with its CA.
- A scripted fake IMAP server without STARTTLS on an address that is not loopback
  records every byte it gets: no LOGIN and no password reach it, unless [imap]
  allow_plaintext = true says so (and check-config warns); the replies mailbox follows
  the same rule.

The address that is not loopback: the script re-runs itself in a private network
namespace (unshare, as root: CI) with 198.18.0.1 on its own loopback interface, so it
touches nothing outside. Where no namespace can be made, it uses an address of this
machine that is not loopback; only when there is none either it skips those cases, with
a visible SKIP. Needs openssl and iproute2 (tools/deps.sh installs them).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

DOVECOT_SH = os.path.join(W.TOP, "tests", "lib", "dovecot.sh")
NETNS_ADDR = "198.18.0.1"  # RFC 2544 benchmarking range, only inside our namespace
NETNS_FLAG = "WB_TLS_IN_NETNS"
PASSWORD = "secret"  # every test user's password, also on the fake server


# ---- where the server that is not loopback lives -----------------------------------------

def enter_namespace():
    """Re-run this script in a private network namespace when we can; returns only when
    we are in one or cannot make one."""
    if os.environ.get(NETNS_FLAG) or not shutil.which("unshare") or not shutil.which("ip"):
        return
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return
    # 127.0.0.1 in there is not the private PostgreSQL's: reach it through its socket
    env = dict(os.environ, **{NETNS_FLAG: "1", "WB_PG_SOCKET": "1"})
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv, env)


def remote_address():
    """(address, why not) of an address that is not loopback, for the fake server."""
    if os.environ.get(NETNS_FLAG):
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", NETNS_ADDR + "/32", "dev", "lo"]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                return None, "%s failed in the private namespace: %s" % (" ".join(cmd), p.stderr)
        return NETNS_ADDR, None
    if not shutil.which("ip"):
        return None, "no network namespace (unshare refused) and no ip(8) to find an address"
    out = subprocess.run(["ip", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True).stdout
    for m in re.finditer(r"\binet6? ([0-9a-f.:]+)/", out):
        return m.group(1), None
    return None, "no network namespace (unshare refused) and no address but loopback"


# ---- a private CA and the Dovecot that uses it -----------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """ca.pem; server.pem for 127.0.0.1, other.pem for mail.other.example, both by ca."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=wabridge test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("server", "IP:127.0.0.1"), ("other", "DNS:mail.other.example")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n" % san)
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "30",
                "-extfile", name + ".ext", cwd=d)
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                          "server.pem"], cwd=d, check=True, capture_output=True, text=True)
    return out.stdout.strip().split("=", 1)[1]


class TlsDovecot:
    """The private Dovecot of tests/lib/dovecot.sh, with STARTTLS on 127.0.0.1 and .2."""

    def __init__(self, certs):
        self.dir = tempfile.mkdtemp(prefix="wbtls.", dir="/tmp")
        os.chmod(self.dir, 0o711)
        tls = os.path.join(self.dir, "tls")
        os.mkdir(tls)
        for name in ("server.pem", "server.key", "other.pem", "other.key"):
            shutil.copy(os.path.join(certs, name), tls)
        with open(os.path.join(self.dir, "extra.conf"), "w") as f:
            f.write("ssl = yes\nssl_cert = <%s/server.pem\nssl_key = <%s/server.key\n"
                    "local 127.0.0.2 {\n  protocol imap {\n    ssl_cert = <%s/other.pem\n"
                    "    ssl_key = <%s/other.key\n  }\n}\n" % (tls, tls, tls, tls))
        env = dict(os.environ, DOVECOT_LISTEN="127.0.0.1, 127.0.0.2")
        subprocess.run(["sh", DOVECOT_SH, "start", self.dir], check=True, capture_output=True,
                       env=env)
        self.port = int(open(os.path.join(self.dir, "port")).read())
        # dovecot.sh's own login (its check that the server answers) is logged by
        # another process, maybe after start returned: wait for it, so that it never
        # lands among the lines a case looks at.
        self.wait_log(0, "Logged out")

    def stop(self):
        subprocess.run(["sh", DOVECOT_SH, "stop", self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_size(self):
        return os.path.getsize(os.path.join(self.dir, "dovecot.log"))

    def log_since(self, offset):
        with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
            f.seek(offset)
            return f.read()

    def wait_log(self, offset, *needles):
        """The log since offset once one of needles is in it. Dovecot's log process may
        write a connection's lines after the client is gone; the bound only ends a wait
        for a line that never comes (the case then fails on what it finds)."""
        return (W.wait_for(lambda: (lambda log: log if any(n in log for n in needles)
                                    else None)(self.log_since(offset)), 30)
                or self.log_since(offset))

    def messages(self, user):
        out = subprocess.run(["sh", DOVECOT_SH, "doveadm", self.dir, "mailbox", "status",
                              "-u", user, "messages", "INBOX"], capture_output=True, text=True)
        m = re.search(r"messages=(\d+)", out.stdout)
        return int(m.group(1)) if m else -1


# ---- a scripted IMAP server without STARTTLS -------------------------------------------

class FakeImap(threading.Thread):
    """Answers OK to everything (APPEND with an APPENDUID), offers no STARTTLS, and keeps
    every byte it receives."""

    GREETING = b"* OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE AUTH=PLAIN] fake ready\r\n"
    REPLIES = {
        b"CAPABILITY": b"* CAPABILITY IMAP4rev1 UIDPLUS IDLE AUTH=PLAIN\r\n%s OK done\r\n",
        b"APPEND": b"%s OK [APPENDUID 7 42] appended\r\n",
        b"SELECT": b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [PERMANENTFLAGS (\\*)] ok"
                   b"\r\n%s OK [READ-WRITE] selected\r\n",
        b"UID": b"* SEARCH\r\n%s OK done\r\n",
        b"LOGOUT": b"* BYE bye\r\n%s OK done\r\n",
    }

    def __init__(self, addr):
        super().__init__(daemon=True)
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((addr, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.commands = []
        self.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.serve(conn)
                except OSError:
                    pass

    def serve(self, conn):
        f = conn.makefile("rb")
        conn.sendall(self.GREETING)
        while True:
            line = f.readline()
            if not line:
                return
            self.received += line
            words = line.split(None, 2)
            if len(words) < 2:
                return
            tag, cmd = words[0], words[1].upper()
            self.commands.append(cmd.decode(errors="replace"))
            literal = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
            if literal:
                if not literal.group(2):
                    conn.sendall(b"+ go ahead\r\n")
                self.received += f.read(int(literal.group(1)))
                self.received += f.readline()
            conn.sendall(self.REPLIES.get(cmd, b"%s OK done\r\n") % tag)
            if cmd == b"LOGOUT":
                return

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.join(5)

    def got_credentials(self):
        return ("LOGIN" in self.commands or "AUTHENTICATE" in self.commands or
                PASSWORD.encode() in self.received)


# ---- the bridge ---------------------------------------------------------------------------

def bridge(url, deliver="imap", **imap):
    """A W.Bridge whose [imap] url is url, with more [imap] keys."""
    b = W.Bridge(deliver=deliver)
    W.set_key(b.config, "imap", "url", url)
    for key, value in imap.items():
        W.set_key(b.config, "imap", key, value)
    return b


def replies_bridge(url, **imap):
    """Stations on Maildirs; the replies mailbox on url."""
    b = bridge(url, deliver="maildir", **imap)
    W.write_secret(os.path.join(b.dir, "replies.pass"), PASSWORD)
    for key, value in (("mode", "imap"), ("imap_user", "replies"),
                       ("imap_password_file", "%s/replies.pass" % b.dir)):
        W.set_key(b.config, "replies", key, value)
    return b


def deliver_one(t, b, what):
    rc, _, err = b.ingest(W.fixture("bengali-text.json"))
    t.eq(rc, 0, what + ": ingest stores the webhook", err)
    return b.run("run")


def retry_wait(b):
    rows = b.db("SELECT next_at - updated_at FROM messages")
    return rows[0][0] if rows else None


# ---- the cases ----------------------------------------------------------------------------

def test_starttls(t, dc, certs, pin):
    url = "imap://127.0.0.1:%d" % dc.port

    at = dc.log_size()
    b = bridge(url)
    rc, _, err = deliver_one(t, b, "STARTTLS, no ca_file")
    log = dc.wait_log(at, "no auth attempts", "Login:")
    t.eq(rc, 75, "STARTTLS with a certificate of an unknown CA and no ca_file: run waits "
         "for a retry (exit 75)", err)
    t.ok("not trusted" in err and "ca_file" in err,
         "the log says the certificate is not trusted and names ca_file", err)
    t.eq(dc.messages("bhowanipore"), 0, "nothing delivered")
    t.ok("Login:" not in log and "auth failed" not in log and "no auth attempts" in log
         and "TLS" in log, "Dovecot saw a TLS session with no login attempt", log)
    wait = retry_wait(b)
    t.ok(wait is not None and wait >= 300, "a bad certificate is retried later (backoff of "
         "5 min or more), not soon: %r s" % wait)

    at = dc.log_size()
    b = bridge(url, ca_file="%s/ca.pem" % certs)
    rc, _, err = deliver_one(t, b, "STARTTLS, ca_file")
    t.eq(rc, 0, "with ca_file naming the CA the mail is delivered", err)
    t.eq(dc.messages("bhowanipore"), 1, "one mail in the INBOX")
    log = dc.wait_log(at, "Login:")
    t.ok("Login: user=<bhowanipore>" in log and "TLS" in log, "the login went over TLS", log)

    at = dc.log_size()
    b = bridge("imap://127.0.0.2:%d" % dc.port, ca_file="%s/ca.pem" % certs)
    rc, _, err = deliver_one(t, b, "another host's certificate")
    log = dc.wait_log(at, "no auth attempts", "Login:")
    t.eq(rc, 75, "a certificate for mail.other.example is refused at 127.0.0.2, though the "
         "CA is trusted", err)
    t.ok("does not match" in err, "the log says the name does not match", err)
    t.ok("Login:" not in log and "no auth attempts" in log, "no login attempt", log)

    at = dc.log_size()
    b = bridge(url, tls_fingerprint=pin)
    rc, _, err = deliver_one(t, b, "pinned")
    t.eq(rc, 0, "with the certificate pinned by tls_fingerprint the mail is delivered", err)
    t.eq(dc.messages("bhowanipore"), 2, "a second mail in the INBOX")


def test_plaintext(t, addr):
    host = "[%s]" % addr if ":" in addr else addr
    fake = FakeImap(addr)
    try:
        b = bridge("imap://%s:%d" % (host, fake.port))
        rc, _, err = deliver_one(t, b, "no STARTTLS")
        t.eq(rc, 75, "a server at %s without STARTTLS: delivery waits (exit 75)" % addr, err)
        t.ok(not fake.got_credentials(), "no LOGIN, no AUTHENTICATE and no password reached "
             "it", "commands: %s" % fake.commands)
        t.ok("STARTTLS" in err and "allow_plaintext" in err,
             "the log says why and names allow_plaintext", err)
        wait = retry_wait(b)
        t.ok(wait is not None and wait >= 300, "retried later, not soon: %r s" % wait)
    finally:
        fake.stop()

    fake = FakeImap(addr)
    try:
        b = bridge("imap://%s:%d" % (host, fake.port), allow_plaintext="true")
        rc, out, err = b.run("check-config")
        t.eq(rc, 0, "check-config accepts allow_plaintext = true", out + err)
        want = "warning: %s: [imap] allow_plaintext: true, and %s is not a loopback host" % (
            b.config, addr)
        t.ok(want in out, "and warns, naming the file, group and key", out)
        rc, _, err = deliver_one(t, b, "allow_plaintext")
        t.eq(rc, 0, "with allow_plaintext = true the mail is delivered in plain text", err)
        t.ok("LOGIN" in fake.commands and "APPEND" in fake.commands,
             "the server got the login and the mail", fake.commands)
    finally:
        fake.stop()


def test_replies(t, addr):
    host = "[%s]" % addr if ":" in addr else addr
    fake = FakeImap(addr)
    try:
        b = replies_bridge("imap://%s:%d" % (host, fake.port))
        rc, _, err = b.run("run")
        t.eq(rc, 75, "replies mailbox without STARTTLS off loopback: run exits 75", err)
        t.ok("replies mailbox" in err and "STARTTLS" in err, "and says why", err)
        t.ok(not fake.got_credentials(), "the replies login never reached the server",
             "commands: %s" % fake.commands)
    finally:
        fake.stop()


def check_config(text):
    """check-config on [bridge], [whatsapp] and text: (exit code, output, file)."""
    d = tempfile.mkdtemp(prefix="wbtlscc.")
    path = os.path.join(d, "wabridge.conf")
    with open(path, "w") as f:
        f.write("[bridge]\nstate = %s/state.db\n[whatsapp]\ndry_run = true\n%s" % (d, text))
    p = subprocess.run(W.WRAP + [W.WABRIDGE, "-c", path, "check-config"], capture_output=True,
                       text=True, timeout=120)
    shutil.rmtree(d, ignore_errors=True)
    return p.returncode, p.stdout + p.stderr, path


def test_check_config(t):
    rc, out, path = check_config("[webhook]\nlisten = 0.0.0.0:8080\n")
    t.eq(rc, 78, "check-config: listen 0.0.0.0:8080 without app_secret_file exits 78", out)
    t.ok("%s: [webhook] app_secret_file: not set, but listen = 0.0.0.0:8080 is not a "
         "loopback address" % path in out and "allow_unsigned = true" in out,
         "naming the key and what to do", out)

    rc, out, path = check_config(
        "[webhook]\nlisten = 0.0.0.0:8080\nallow_unsigned = true\n")
    t.eq(rc, 0, "with allow_unsigned = true it exits 0", out)
    t.ok("warning: %s: [webhook] allow_unsigned: true" % path in out and
         "signature checking is OFF" in out, "and warns loudly", out)

    rc, out, _ = check_config("[webhook]\nlisten = [::1]:8080\n")
    t.eq(rc, 0, "an unsigned listener on [::1] is fine", out)
    t.ok("warning" not in out, "without a warning", out)

    rc, out, path = check_config("[smtp]\nurl = smtp://mail.police.example:25\n")
    t.eq(rc, 0, "smtp:// off loopback is accepted", out)
    t.ok("%s: [smtp] url: smtp://mail.police.example:25: STARTTLS required" % path in out,
         "and check-config states that STARTTLS is required", out)

    rc, out, path = check_config(
        "[smtp]\nurl = smtp://mail.police.example\nallow_plaintext = true\n")
    t.eq(rc, 0, "smtp:// with allow_plaintext is accepted", out)
    t.ok("warning: %s: [smtp] allow_plaintext: true" % path in out, "with a warning", out)

    rc, out, _ = check_config("[smtp]\nurl = smtp://127.0.0.1:25\nallow_plaintext = true\n")
    t.ok(rc == 0 and "warning" not in out,
         "allow_plaintext to a loopback host changes nothing: no warning", out)

    rc, out, _ = check_config("[smtp]\nurl = smtps://mail.police.example\n")
    t.ok(rc == 0 and "[smtp] url: smtps://mail.police.example: TLS, certificate verified "
         "against the system CAs for mail.police.example" in out, "smtps:// is verified", out)

    rc, out, _ = check_config("[imap]\nurl = imap://mail.police.example\n")
    t.ok(rc == 0 and "[imap] url: imap://mail.police.example: STARTTLS required" in out,
         "imap:// off loopback: STARTTLS required", out)


def test(t):
    test_check_config(t)
    for tool in ("openssl", "dovecot"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            t.ok(False, "%s is installed (tools/deps.sh installs it)" % tool)
            return
    addr, why = remote_address()
    certs = tempfile.mkdtemp(prefix="wbtlsca.")
    try:
        pin = make_certs(certs)
        dc = TlsDovecot(certs)
        try:
            test_starttls(t, dc, certs, pin)
        finally:
            dc.stop()
    finally:
        shutil.rmtree(certs, ignore_errors=True)
    if addr is None:
        t.skip("IMAP without STARTTLS off loopback", why)
        t.skip("the replies mailbox without STARTTLS off loopback", why)
        return
    test_plaintext(t, addr)
    test_replies(t, addr)


if __name__ == "__main__":
    enter_namespace()
    W.Tap().run(test)
