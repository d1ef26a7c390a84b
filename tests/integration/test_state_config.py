"""The state's configuration and the bridges on it: a PostgreSQL URI checked and
described by check-config (a bad one refused, an unverified connection to another host
and a password in the URI warned about, a shared reply secret required), [bridge] node
and lease_seconds checked; `status`, /metrics and the bridges table showing each bridge
and what it holds; a clean stop letting its claims go. Runs on either back end."""

import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


def check(b, t, group, key, value, want_rc, pattern, what):
    """Set one key in a copy of b's configuration and run check-config on it."""
    path = os.path.join(b.dir, "variant.conf")
    with open(b.config) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text)
    W.set_key(path, group, key, value)
    rc, out, err = b.run("-c", path, "check-config", config=False)
    t.eq(rc, want_rc, "%s: check-config exits %d" % (what, want_rc), out + err)
    t.ok(re.search(pattern, out + err), "%s: it says so" % what, out + err)
    return out + err


def test_checks(t):
    b = W.Bridge(deliver="maildir")
    check(b, t, "bridge", "state", "postgresql://wb@127.0.0.1/x?colour=blue", 78,
          r"\[bridge\] state: .*not a PostgreSQL connection URI", "a URI libpq cannot read")
    out = check(b, t, "bridge", "state", "postgresql://wb@db.police.example/wabridge", 0,
                r"warning: .*\[bridge\] state: db\.police\.example is not a loopback host "
                r"and the server's certificate is not verified", "another host, TLS not verified")
    t.ok("sslmode=verify-full" in out, "the warning says what to add", out)
    out = check(b, t, "bridge", "state", "postgresql://wb:hunter2@127.0.0.1/wabridge", 0,
                r"warning: .*\[bridge\] state: the URI holds a password", "a password in the URI")
    t.ok("hunter2" not in out, "check-config never prints that password", out)
    check(b, t, "bridge", "state", "postgresql://wb@db.police.example/wabridge?sslmode="
          "verify-full&sslrootcert=/etc/wabridge/ca.pem", 0,
          r"\[bridge\] state: .*PostgreSQL on db\.police\.example, TLS, certificate "
          r"verified against /etc/wabridge/ca\.pem", "verify-full: the note names the CA")
    # Without a token_secret_file each bridge would make up its own reply secret.
    path = os.path.join(b.dir, "nosecret.conf")
    with open(b.config) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text)
    W.set_key(path, "replies", "token_secret_file", None)
    W.set_key(path, "bridge", "state", "postgresql://wb@127.0.0.1/wabridge")
    rc, out, _ = b.run("-c", path, "check-config", config=False)
    t.eq(rc, 78, "PostgreSQL without a shared token_secret_file: exits 78", out)
    t.ok(re.search(r"\[replies\] token_secret_file: not set, but the state is on PostgreSQL",
                   out), "and says every bridge must share one", out)
    check(b, t, "bridge", "node", "bridge a:1", 78, r"\[bridge\] node: .*not a node name",
          "a node name with a space and a colon")
    check(b, t, "bridge", "lease_seconds", "5", 78, r"\[bridge\] lease_seconds", "a lease of 5 s")
    check(b, t, "bridge", "node", "bridge-a", 0, r"configuration is valid", "a good node name")


def test_bridges(t):
    b = W.Bridge(deliver="maildir", bridge_extra="node = bridge-a\nlease_seconds = 30")
    with W.Serve(b) as s:
        t.ok(s.start(), "serve starts with [bridge] node and lease_seconds", s.log()[-2000:])
        t.ok(W.wait_for(lambda: b.db("SELECT count(*) FROM bridges WHERE node = 'bridge-a' "
                                     "AND stopped_at IS NULL")[0][0] == 1, 60),
             "its heartbeat registered it in the bridges table")
        row = b.db("SELECT id, what, lease_until - seen_at FROM bridges WHERE node = "
                   "'bridge-a'")[0]
        t.ok(re.match(r"^bridge-a:%d:\d+$" % s.proc.pid, row[0]),
             "its id is node:pid:start", row)
        t.eq(row[1:], ("serve", 30), "it runs serve, its lease as configured")
        # Another bridge on another node holds a message: status and /metrics show it.
        b.ingest(W.single(W.STATIONS[0][2], "919830012345", "wamid.BRIDGESTATE1",
                          1792051200, "held by another bridge"))
        b.db_write("INSERT INTO bridges (id, node, pid, started_at, seen_at, lease_until, "
                   "version, what) VALUES ('bridge-b:4242:7', 'bridge-b', 4242, 1, 1, 2, "
                   "'0', 'serve')")
        rc, out, _ = b.run("status")
        t.eq(rc, 0, "status exits 0")
        t.ok(re.search(r"Bridges:\n(.*\n)*  bridge-a:%d:\d+ \(serve .*\): running.*\(this "
                       r"one\)|  bridge-a:%d:\d+ \(serve .*\): running" % (s.proc.pid, s.proc.pid),
                       out), "status lists the running bridge", out)
        t.ok(re.search(r"  bridge-b:4242:7 \(serve 0, pid 4242\): GONE \(lease ran out\)",
                       out), "and the one whose lease ran out as GONE", out)
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.port,
                                      timeout=30).read().decode()
        m = W.parse_metrics(text)
        up = [k for k in m if k[0] == "wabridge_bridge_up"]
        t.ok(any(dict(k[1]).get("node") == "bridge-a" and m[k] == 1 for k in up),
             "/metrics: wabridge_bridge_up is 1 for bridge-a", text[-1500:])
        t.ok(any(dict(k[1]).get("bridge") == "bridge-b:4242:7" and m[k] == 0 for k in up),
             "/metrics: and 0 for the gone bridge-b")
        t.ok(any(k[0] == "wabridge_bridge_claims" and dict(k[1]).get("kind") == "messages"
                 for k in m), "/metrics: wabridge_bridge_claims by kind")
        pid = s.proc.pid
        t.eq(s.stop(), 0, "serve stops on SIGTERM with exit 0")
    # A clean stop lets its claims go.
    stopped = b.db("SELECT stopped_at IS NOT NULL FROM bridges WHERE id LIKE ?",
                   "bridge-a:%d:%%" % pid)
    t.eq([tuple(1 if v in (True, 1) else v for v in r) for r in stopped], [(1,)],
         "after a clean stop its row says stopped")
    t.eq(b.db("SELECT count(*) FROM messages WHERE claim_by LIKE ?", "bridge-a:%d:%%" % pid),
         [(0,)], "and it holds nothing")


def test_read_only_database(t):
    """A database that takes no writes, as a hot standby does until it is promoted: the
    bridge's /healthz and POSTs answer 503 (so a load balancer stops sending to it, and
    Meta retries), and both recover once it takes writes again, without a restart."""
    what = "a database that takes no writes"
    if W.postgres_only(t, what, "a PostgreSQL database switched to read-only; SQLite's "
                       "read-only and full state files are in test_serve.py"):
        return
    b = W.Bridge(deliver="maildir")

    def cut_sessions():
        # the bridge's sessions end; the ones it opens next have the database's setting
        W.pg_exec("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = ? AND pid <> pg_backend_pid()", b.pgdb)

    def healthz(s):
        try:
            return s.request("GET", "/healthz")[0]
        except OSError:
            return None

    with W.Serve(b) as s:
        t.ok(s.start(), "%s: serve starts" % what, s.log()[-2000:])
        t.eq(healthz(s), 200, "%s: /healthz 200 before" % what)
        W.pg_exec("postgres", "ALTER DATABASE %s SET default_transaction_read_only = on" %
                  b.pgdb)
        cut_sessions()
        t.ok(W.wait_for(lambda: healthz(s) == 503, 60),
             "%s: /healthz answers 503" % what, s.log()[-2000:])
        wamid = "wamid.READONLY1.%d" % os.getpid()
        body = W.single(W.STATIONS[0][2], "919830012399", wamid, int(time.time()) - 30,
                        "while the database is read-only")
        t.eq(s.post(body), 503, "%s: a POST is answered 503, not 200" % what)
        t.eq(b.db("SELECT count(*) FROM messages WHERE wamid = ?", wamid), [(0,)],
             "%s: (and is not in the state)" % what)
        t.ok(s.alive(), "%s: serve keeps running" % what)
        W.pg_exec("postgres", "ALTER DATABASE %s RESET default_transaction_read_only" %
                  b.pgdb)
        cut_sessions()
        t.ok(W.wait_for(lambda: healthz(s) == 200, 60),
             "%s: once it takes writes again /healthz answers 200 (no restart)" % what,
             s.log()[-2000:])
        t.eq(s.post(body), 200, "%s: and Meta's retry of the POST gets 200" % what)
        t.ok(W.wait_for(lambda: b.db("SELECT state FROM messages WHERE wamid = ?", wamid) ==
                        [("delivered",)], 60),
             "%s: and is delivered" % what,
             b.db("SELECT state, last_error FROM messages WHERE wamid = ?", wamid))
        t.eq(s.stop(), 0, "%s: serve stops with exit 0" % what)


def test(t):
    test_checks(t)
    test_bridges(t)
    test_read_only_database(t)


W.Tap().run(test)
