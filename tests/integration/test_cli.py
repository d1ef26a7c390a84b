"""The command line: help, usage errors, check-config over a broken file, version."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


def test(t):
    b = W.Bridge(deliver="maildir")
    rc, out, _ = b.run("--help", config=False)
    t.eq(rc, 0, "--help exits 0")
    for word in ("serve", "run", "ingest", "status", "check-config", "--signature",
                 "WABRIDGE_CONFIG", "HTTP_X_HUB_SIGNATURE_256", "Exit codes"):
        t.ok(word in out, "--help documents %s" % word)
    rc, _, err = b.run("frobnicate")
    t.eq(rc, 64, "an unknown command exits 64 (usage)")
    t.ok("unknown command" in err, "and says so", err)
    rc, _, err = b.run("--bogus", config=False)
    t.eq(rc, 64, "an unknown option exits 64")
    rc, _, err = b.run("ingest", "a", "b")
    t.eq(rc, 64, "ingest with two files exits 64")
    rc, _, err = b.run("ingest", "/nonexistent/body.json")
    t.eq(rc, 66, "ingest of a missing file exits 66 (no input)")
    rc, out, _ = b.run("version")
    t.eq(rc, 0, "version exits 0")
    t.ok(re.search(r"wabridge \d+\.\d+", out) and "GMime" in out and "libetpan" in out,
         "version names wabridge and its libraries", out)

    rc, out, _ = b.run("check-config")
    t.eq(rc, 0, "check-config on the test configuration exits 0")

    d = tempfile.mkdtemp(prefix="wbc.")
    secret = os.path.join(d, "open_secret")
    with open(secret, "w") as f:
        f.write("hunter2-do-not-print\n")
    os.chmod(secret, 0o644)
    bad = os.path.join(d, "bad.conf")
    with open(bad, "w") as f:
        f.write("[bridge]\ntimezone = Asia/Kolkatta\nsla_hours = many\n"
                "[webhook]\napp_secret_file = %s\nmax_body = 4 parsecs\n"
                "[whatsapp]\ndry_run = true\n"
                "[station:a]\nname = A\ncode = DUP\nphone_number_id = 12ab\naddress = a@x.test\n"
                "number_patterns = ([0-9+\n"
                "[station:b]\nname = B\ncode = DUP\nphone_number_id = 123\naddress = b@x.test\n"
                "colour = blue\n" % secret)
    rc, out, err = b.run("-c", bad, "check-config", config=False)
    t.eq(rc, 78, "check-config on a broken file exits 78")
    for what in ("timezone", "sla_hours", "app_secret_file", "max_body", "phone_number_id",
                 "number_patterns", "code", "colour"):
        t.ok(re.search(r"bad\.conf: \[[a-z:]+\] %s" % what, out),
             "check-config reports the %s problem with file, group and key" % what, out)
    t.ok("hunter2" not in out + err, "no secret is printed")
    rc, _, err = b.run("-c", bad, "run", config=False)
    t.eq(rc, 78, "run refuses a broken configuration with 78")
    t.ok("check-config" in err, "and points at check-config", err)

    # The shipped example stays valid (with its secret files provided).
    example = open(os.path.join(W.TOP, "contrib", "wabridge.conf.example")).read()
    for path in set(re.findall(r"= (/etc/wabridge/[^\s]+)", example)):
        local = os.path.join(d, os.path.basename(path))
        W.write_secret(local, "x")
        example = example.replace("= " + path, "= " + local)
    example = example.replace("/var/lib/wabridge", d)
    ex = os.path.join(d, "example.conf")
    open(ex, "w").write(example)
    rc, out, err = b.run("-c", ex, "check-config", config=False)
    t.eq(rc, 0, "contrib/wabridge.conf.example passes check-config", out + err)


W.Tap().run(test)
