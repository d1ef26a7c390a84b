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
import imaplib
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
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

    def __init__(self, deliver="imap", extra=""):
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
