"""wbtest: the small helper library of the integration tests (Python standard library only).

Each test script prints TAP ("ok N - what", "not ok N - what") through Tap, runs the
wabridge binary named by $WABRIDGE (wrapped in $WB_WRAP, e.g. valgrind), and reads the
private Dovecot started by tests/run-all.sh ($WB_IMAP_PORT, $WB_DOVECOT_DIR) with imaplib,
an independent client, so the tests check what a mail client would see.

The state store is SQLite (a file in the Bridge's directory) unless $WB_STATE_BACKEND is
"pg": then every Bridge gets a fresh database on the private PostgreSQL of
tests/lib/postgres.sh ($WB_PG_DIR etc., set by tests/run-all.sh), and Bridge.db() and
db_write() reach it through psql, with the same results as through sqlite3.
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
import uuid
from decimal import Decimal

TOP = os.environ.get("WB_TOP") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FIXTURES = os.path.join(TOP, "tests", "fixtures", "webhooks")
WABRIDGE = os.environ.get("WABRIDGE") or os.path.join(TOP, "wabridge")
WRAP = shlex.split(os.environ.get("WB_WRAP", ""))
IMAP_PORT = os.environ.get("WB_IMAP_PORT")
DOVECOT_DIR = os.environ.get("WB_DOVECOT_DIR")
STATE_BACKEND = os.environ.get("WB_STATE_BACKEND") or "sqlite"
PG = STATE_BACKEND == "pg"
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


# ---- the state on PostgreSQL (WB_STATE_BACKEND=pg) -------------------------------------

def sqlite_only(t, what, why):
    """On the PostgreSQL pass, skip a check that is about SQLite itself (its file, WAL,
    PRAGMAs) with a visible reason; True when skipped."""
    if not PG:
        return False
    t.skip(what, "SQLite only (%s); this pass runs on PostgreSQL" % why)
    return True


def postgres_only(t, what, why):
    """On the SQLite pass, skip a check that is about PostgreSQL itself with a visible
    reason (it runs on the PostgreSQL pass); True when skipped."""
    if PG:
        return False
    t.skip(what, "PostgreSQL only (%s); this pass runs on SQLite" % why)
    return True


class PgError(Exception):
    """psql failed: the statement and what PostgreSQL said."""


def _pg_env():
    d = os.environ.get("WB_PG_DIR")
    if not d or not os.path.exists(os.path.join(d, "port")):
        raise PgError("WB_STATE_BACKEND=pg needs the private PostgreSQL: run tests/run-all.sh,"
                      " or `sh tests/lib/postgres.sh start DIR` and "
                      "eval \"$(sh tests/lib/postgres.sh env DIR)\"")
    with open(os.path.join(d, "port")) as f:
        port = f.read().strip()
    return d, port


def psql(db, script, args=()):
    """Run a psql script on database db as the test superuser, through the cluster's
    socket; its standard output as text. Stops at the first error (PgError)."""
    d, port = _pg_env()
    cmd = [os.environ.get("WB_PG_PSQL") or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
           "-h", d, "-p", port, "-U", "wbtest", "-d", db] + list(args)
    e = dict(os.environ, PGCLIENTENCODING="UTF8")
    for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGOPTIONS"):
        e.pop(k, None)
    p = subprocess.run(cmd, input=script.encode(), capture_output=True, env=e, timeout=300)
    if p.returncode != 0:
        raise PgError("psql on %s failed (status %d): %s\n%s" % (
            db, p.returncode, p.stderr.decode("utf-8", "replace").strip(), script[:600]))
    return p.stdout.decode("utf-8")


_pg_created = []


def _pg_drop_created():
    if os.environ.get("WB_KEEP") == "1":
        return
    for db in _pg_created:
        try:
            psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);' % db)
        except (PgError, OSError, subprocess.SubprocessError):
            pass  # the cluster goes at the end of the run anyway


def pg_create_db(prefix="wbi"):
    """A new empty database on the private cluster (dropped when this test script ends,
    unless WB_KEEP=1); its name."""
    name = "%s_%s" % (prefix, uuid.uuid4().hex[:16])
    psql("postgres", 'CREATE DATABASE "%s";' % name)
    if not _pg_created:
        import atexit
        atexit.register(_pg_drop_created)
    _pg_created.append(name)
    return name


def pg_url(db, tls=False):
    """The libpq URI wabridge gets for database db: TCP to 127.0.0.1 (the password comes
    from state_password_file), with tls verified against the cluster's CA. Where
    127.0.0.1 is not the cluster's (test_tls runs in a network namespace of its own,
    WB_PG_SOCKET=1), through the cluster's socket instead."""
    d, port = _pg_env()
    if os.environ.get("WB_PG_SOCKET") == "1":
        return "postgresql://wbtest@%s:%s/%s" % (d.replace("/", "%2F"), port, db)
    url = "postgresql://wbtest@127.0.0.1:%s/%s" % (port, db)
    if tls:
        url += "?sslmode=verify-full&sslrootcert=%s" % os.path.join(d, "ca.pem")
    return url


def sql_literal(v):
    """A Python value as a PostgreSQL literal, as sqlite3 would bind it: None, int, float,
    str (a text; NUL cannot be in one), bytes (bytea)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return "(%d)" % v if v < 0 else "%d" % v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "'%r'::float8" % v
        return "(%r)" % v if v < 0 else repr(v)
    if isinstance(v, str):
        if "\0" in v:
            raise ValueError("a PostgreSQL text cannot hold NUL: %r" % v)
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    raise TypeError("no SQL literal for %r" % (v,))


def bind(sql, params):
    """sql with each ? placeholder (outside quotes and comments) replaced by the next of
    params as a literal: psql has no bind parameters."""
    out = []
    i, n, k = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
        elif c == "?":
            if k >= len(params):
                raise ValueError("more ? than parameters (%d) in: %s" % (len(params), sql))
            out.append(sql_literal(params[k]))
            k += 1
            i += 1
        else:
            out.append(c)
            i += 1
    if k != len(params):
        raise ValueError("%d parameters for %d ? in: %s" % (len(params), k, sql))
    return "".join(out)


def _copy_csv_rows(text):
    """Rows of COPY ... (FORMAT csv, FORCE_QUOTE *): every value is quoted, so an
    unquoted empty field is NULL (None)."""
    rows, row, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            j, buf = i + 1, []
            while True:
                q = text.index('"', j)
                buf.append(text[j:q])
                if q + 1 < n and text[q + 1] == '"':
                    buf.append('"')
                    j = q + 2
                    continue
                break
            row.append("".join(buf))
            i = q + 1
        else:
            row.append(None)
        if i < n and text[i] == ",":
            i += 1
            if i >= n or text[i] == "\n":
                row.append(None)
        if i >= n or text[i] == "\n":
            rows.append(tuple(row))
            row = []
            i += 1
        elif text[i] != '"' and text[i] != ",":
            raise PgError("unexpected COPY output at %d: %r" % (i, text[max(0, i - 40):i + 40]))
    return rows


def _pg_value(v, typ):
    """One value as sqlite3 would give it: integers (and booleans, 0/1) as int, bytea as
    bytes, NULL as None, the rest as str."""
    if v is None:
        return None
    if typ in ("smallint", "integer", "bigint", "oid"):
        return int(v)
    if typ == "boolean":
        return 1 if v == "t" else 0
    if typ == "bytea":
        return bytes.fromhex(v[2:])
    if typ in ("real", "double precision"):
        return float(v)
    if typ == "numeric":
        d = Decimal(v)
        return int(d) if d == d.to_integral_value() else float(d)
    return v


def pg_query(db, sql, *params):
    """Rows of a query as sqlite3's fetchall() gives them: a list of tuples."""
    q = bind(sql, params).strip().rstrip(";")
    mark = "--wb-%s--" % uuid.uuid4().hex
    out = psql(db, "%s \\gdesc\n\\echo %s\nCOPY (%s) TO STDOUT WITH (FORMAT csv, "
               "FORCE_QUOTE *);\n" % (q, mark, q), ["--csv", "-t"])
    head, sep, body = out.partition(mark + "\n")
    if not sep:
        raise PgError("no result from psql for: %s\n%s" % (q, out))
    import csv
    import io
    types = [r[-1] for r in csv.reader(io.StringIO(head)) if r]
    rows = _copy_csv_rows(body)
    if any(len(r) != len(types) for r in rows):
        raise PgError("%d columns described, rows of %s in: %s" % (
            len(types), sorted({len(r) for r in rows}), q))
    return [tuple(_pg_value(v, t) for v, t in zip(r, types)) for r in rows]


def pg_exec(db, sql, *params):
    """Run one statement (no result)."""
    psql(db, bind(sql, params).strip().rstrip(";") + ";\n")


class _PgLock:
    """A psql session holding an EXCLUSIVE lock on every table of a database (others
    read, nobody writes) until released: SQLite's BEGIN IMMEDIATE, on PostgreSQL."""

    def __init__(self, db):
        d, port = _pg_env()
        self.p = subprocess.Popen(
            [os.environ.get("WB_PG_PSQL") or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", d, "-p", port, "-U", "wbtest", "-d", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.p.stdin.write(
            "BEGIN;\nDO $$DECLARE r record; BEGIN FOR r IN SELECT schemaname, tablename "
            "FROM pg_tables WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> "
            "'information_schema' LOOP EXECUTE format('LOCK TABLE %I.%I IN EXCLUSIVE MODE', "
            "r.schemaname, r.tablename); END LOOP; END$$;\n\\echo locked\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if line.strip() != "locked":
            self.p.kill()
            raise PgError("could not lock the tables of %s: %s" % (db, self.p.stderr.read()))

    def release(self):
        try:
            self.p.stdin.write("ROLLBACK;\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


class _SqliteLock:
    def __init__(self, path):
        self.con = sqlite3.connect(path, timeout=1)
        self.con.execute("BEGIN IMMEDIATE")

    def release(self):
        self.con.rollback()
        self.con.close()


class Bridge:
    """A wabridge set-up in a temporary directory: config, secrets, state."""

    def __init__(self, deliver="imap", extra="", duty=False, bridge_extra=""):
        """duty=False turns the station's duty off (no acknowledgement, clock, reminder
        or digest), so tests of other features see only the mails they make."""
        self.dir = tempfile.mkdtemp(prefix="wbi.")
        self.pgdb = None
        if PG:
            # a database of its own on the private cluster; the password in a file
            self.pgdb = pg_create_db()
            self.state = pg_url(self.pgdb)
            with open(os.path.join(_pg_env()[0], "password")) as f:
                write_secret(os.path.join(self.dir, "state_password"), f.read().strip())
        else:
            self.state = os.path.join(self.dir, "state.db")
        write_secret(os.path.join(self.dir, "app_secret"), APP_SECRET)
        write_secret(os.path.join(self.dir, "reply_secret"), TOKEN_SECRET)
        for st in STATIONS:
            write_secret(os.path.join(self.dir, st[3] + ".pass"), "secret")
        lines = [
            "[bridge]",
            "state = %s" % self.state,
        ]
        if PG:
            lines.append("state_password_file = %s/state_password" % self.dir)
            # the files a SQLite state keeps beside it (Maildirs, spool) stay in the
            # Bridge's directory on PostgreSQL too
            lines.append("data_dir = %s" % self.dir)
        lines += [
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
        """Change the state database behind wabridge's back (crash simulations). One
        statement with sqlite3's ? placeholders, on either back end."""
        if self.pgdb:
            pg_exec(self.pgdb, sql, *params)
            return
        con = sqlite3.connect(self.state)
        try:
            con.execute(sql, params)
            con.commit()
        finally:
            con.close()

    def db(self, sql, *params):
        """The rows of a query, as sqlite3's fetchall() gives them (a list of tuples;
        integers and truth values int, BLOB/bytea bytes, NULL None), on either back end."""
        if self.pgdb:
            return pg_query(self.pgdb, sql, *params)
        con = sqlite3.connect(self.state)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def state_size(self):
        """Bytes the state takes: the SQLite file, or on PostgreSQL the tables and their
        indexes and TOAST (without the catalogue every database carries)."""
        if not PG:
            return os.path.getsize(self.state)
        return self.db("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                       "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
                       "'public' AND c.relkind = 'r'")[0][0]

    def store_exists(self):
        """Has wabridge made its store yet? SQLite: the file; PostgreSQL: any table in the
        (otherwise empty) database."""
        if self.pgdb:
            return pg_query(self.pgdb, "SELECT count(*) FROM pg_tables WHERE schemaname "
                            "NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema'"
                            )[0][0] > 0
        return os.path.exists(self.state)

    def lock_store(self):
        """Hold the store's write lock from outside (another process) until .release():
        readers go on, every writer waits."""
        return _PgLock(self.pgdb) if self.pgdb else _SqliteLock(self.state)


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
