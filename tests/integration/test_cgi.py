"""`wabridge ingest` as a CGI program (RFC 3875): the web server passes the request in
the environment and on stdin; wabridge answers with a Status header like the daemon."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402


def cgi(b, method, body=b"", query="", headers=None):
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "QUERY_STRING": query,
           "REMOTE_ADDR": "192.0.2.7", "SERVER_PROTOCOL": "HTTP/1.1"}
    if method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(headers or {})
    rc, out, err = b.run("ingest", stdin=body, env=env)
    head, _, rest = out.partition("\r\n\r\n")
    status = head.splitlines()[0] if head else ""
    return rc, status, rest, err


def test(t):
    b = W.Bridge(deliver="maildir")
    W.write_secret(os.path.join(b.dir, "verify_token"), "let-me-in")
    cfg = open(b.config).read().replace(
        "[webhook]\n", "[webhook]\nverify_token_file = %s/verify_token\n" % b.dir)
    open(b.config, "w").write(cfg)
    body = W.fixture("bengali-text.json")

    rc, status, out, _ = cgi(b, "GET", query="hub.mode=subscribe&hub.verify_token=let-me-in"
                             "&hub.challenge=1158201444")
    t.eq((rc, status, out), (0, "Status: 200 OK", "1158201444"),
         "GET handshake with the right token echoes the challenge")
    rc, status, _, err = cgi(b, "GET", query="hub.mode=subscribe&hub.verify_token=nope"
                             "&hub.challenge=1158201444")
    t.eq(status, "Status: 403 Forbidden", "a wrong verify token gets 403")
    t.ok("192.0.2.7" in err, "the refusal is logged with the peer address", err)

    rc, status, _, _ = cgi(b, "POST", body, headers={"HTTP_X_HUB_SIGNATURE_256": W.sign(body)})
    t.eq((rc, status), (0, "Status: 200 OK"), "a signed POST is stored and answered 200")
    t.eq(b.db("SELECT source, body = ? FROM bodies", body), [("cgi", 1)],
         "the body is kept byte for byte, marked as coming through CGI")
    rc, status, _, _ = cgi(b, "POST", body, headers={"HTTP_X_HUB_SIGNATURE_256": W.sign(b"x")})
    t.eq(status, "Status: 401 Unauthorized", "a wrong signature gets 401")
    rc, status, _, _ = cgi(b, "POST", body)
    t.eq(status, "Status: 401 Unauthorized", "a missing signature gets 401")
    notjson = W.fixture("not-json.txt")
    rc, status, _, _ = cgi(b, "POST", notjson,
                           headers={"HTTP_X_HUB_SIGNATURE_256": W.sign(notjson)})
    t.eq(status, "Status: 200 OK", "a signed non-JSON body is kept and answered 200 (Meta stops)")
    t.eq(b.db("SELECT state FROM bodies WHERE body = ?", notjson), [("bad",)], "it is kept as bad")
    env_big = {"HTTP_X_HUB_SIGNATURE_256": W.sign(body), "CONTENT_LENGTH": str(64 * 1024 * 1024)}
    rc, status, _, _ = cgi(b, "POST", body, headers=env_big)
    t.eq(status, "Status: 413 Content Too Large", "a Content-Length over max_body gets 413 unread")
    rc, status, _, _ = cgi(b, "PUT", body)
    t.eq(status, "Status: 405 Method Not Allowed", "other methods get 405")
    t.eq(b.db("SELECT count(*) FROM bodies"), [(2,)], "only the two signed bodies were stored")
    rc, _, _ = b.run("run")
    t.eq(rc, 0, "cron's run delivers what CGI stored")
    new = os.path.join(b.dir, "mail", "bhowanipore", "new")
    t.eq(len(os.listdir(new)) if os.path.isdir(new) else 0, 1, "one mail in the station's Maildir")


W.Tap().run(test)
