#!/usr/bin/env python3
"""fakegraph: a fake of Meta's Graph API for WhatsApp media and sends (standard library only).

It speaks the wire format of the real API (reference §1, §9, §10, §12), so the code under
test runs unchanged against graph.facebook.com; only the base URL differs.

Graph side (every request needs "Authorization: Bearer <token>"; a missing or wrong one
gets HTTP 401 {"error":{"message":"Invalid OAuth access token - Cannot parse access
token","type":"OAuthException","code":190,"fbtrace_id":"A…"}}):

  GET /vNN.0/<MEDIA_ID>[?phone_number_id=<id>]            media lookup (any version)
      200 {"messaging_product":"whatsapp","url":"http://127.0.0.1:PORT/whatsapp_business/
           attachments/?mid=<id>&ext=<unix time>&hash=<h>","mime_type":"image/jpeg",
           "sha256":"<64 hex>","file_size":"<n>","id":"<id>"}      (file_size a string)
      400 Graph code 100 (GraphMethodException, subcode 33) "Unsupported get request.
           Object with ID '<id>' does not exist, ..." for an unknown id, as Meta answers
  GET /whatsapp_business/attachments/?mid=&ext=&hash=      the download (lookaside CDN)
      needs the bearer token too and a User-Agent header (400 without one: some CDNs
      refuse such requests, and Meta's is reported to); hash is an HMAC over mid and ext,
      a URL older than the TTL (--url-ttl, default Meta's 300 s) answers 404; the CDN's
      own refusals come as text/plain, not Graph JSON
  POST /vNN.0/<PHONE_NUMBER_ID>/messages                   a send (JSON body)
      200 {"messaging_product":"whatsapp","contacts":[{"input":"<to>","wa_id":"<to>"}],
           "messages":[{"id":"wamid.<random>","message_status":"accepted"}]}
      a mark-as-read body ({"status":"read",...}) gets {"success":true}
      The body is checked as Meta does (send_problem): unknown keys, a wrong
      recipient_type or type, a text without body or over 4096 characters, a context
      without message_id, biz_opaque_callback_data over 512 bytes, a template without
      name or language.code, malformed components or parameters give HTTP 400 code 100;
      a text parameter with a newline, a tab or more than four spaces in a row gives
      132018. Once templates are registered (/_fake/templates), a template name unknown
      in that language gives 132001 and a wrong number of body parameters 132000.
  Errors have Meta's shape {"error":{"message","type","code","error_subcode",
  "error_data","is_transient","fbtrace_id"}}; unknown paths answer code 2500.

Control API, under /_fake/ (a prefix Graph never uses), without a token:

  POST /_fake/media  {"id":"<digits>","mime_type":"…","data_b64":"…",
                      "file_size_as_number":false}
                     → {"id","sha256" (hex),"sha256_b64" (as webhooks give it),"file_size"}
                     Instead of data_b64, "size": N and "seed": "<text>" make N bytes
                     of shake_256(seed) (generated_bytes() here), so a test can serve
                     100 MiB without sending it and make the same bytes to compare.
  POST /_fake/fail   {"media_id":"…","mode":M,"times":N,...}: the next N requests of the
                     mode's step for that media fail, then it behaves. Modes (step):
       expired_url (lookup)        hands out a URL that has already expired
       lookup_404 (lookup)         HTTP 404, Graph code 100
       500 (lookup)                HTTP 500, Graph code 2, is_transient true
       429 (lookup)                HTTP 429, Graph code 4, Retry-After (no is_transient)
       token_expired (lookup)      HTTP 401, Graph code 190 subcode 463 (session expired)
       oversize_announce (lookup)  announces a file_size of 10 GB
       slow (download)             sleeps "delay" seconds (default 5) before answering;
                                   with "hold": true it answers once released instead
       truncated (download)        Content-Length of the whole file, half the body, close
       wrong_hash (download)       serves other bytes than the announced sha256
       oversize_length (download)  Content-Length of 10 GB, then streams zeros
       oversize_stream (download)  chunked, no Content-Length, streams zeros
       redirect_same_host (download)   302 to the same URL on 127.0.0.1
       redirect_other_host (download)  302 to the same URL on "localhost" (another host
                                       for HTTP clients: they must drop the token)
     Optional: "step" ("lookup"/"download") moves 500/429/slow/token_expired to the other
     step; "http", "code", "message", "is_transient" override the error answered.
     Streams stop after "limit" bytes (default 64 MB) or when the client goes away; the
     request log then says client_gone and bytes_sent.
  POST /_fake/fail   {"send":true,"code":131047,"http":400,"times":1}: the next sends fail
                     with Meta's error shape ("details" overrides error_data.details;
                     "subcode", "message", "is_transient" as for media). More keys:
                     "raw": "<text>"  answer exactly this body instead (HTTP "http",
                                      default 200; "ctype", "headers" {name: value}),
                                      for proxies' pages and malformed successes
                     "delay": S       sleep S seconds before answering
                     "hold": true     answer only once released (/_fake/release): the
                                      test, not a clock, says when the answer goes
                     "ok": true       then answer normally (a slow success)
  POST /_fake/templates {"templates":[{"name":"complaint_registered","language":"bn",
                     "params":1},...]}: the approved templates (replaces the list; an
                     empty list turns the template checks off, as at start)
  POST /_fake/config {"url_ttl": seconds}
  POST /_fake/release   answers every request held ("hold": true) so far
  GET  /_fake/requests  every Graph/CDN request seen, oldest first: method, path, query
                     (raw), params, headers (names lowercased), body, step, media_id,
                     status, bytes_sent, client_gone, done, held (waiting to be
                     released now); a successful send also has the wamid answered
  POST /_fake/reset  forgets media, failures, templates and requests; releases what
                     is held

Run: python3 fakegraph.py --port 0 --token TOKEN [--state-dir DIR] [--url-ttl S]
[--watch-stdin] prints "PORT <n>" once listening (and writes DIR/port; DIR/requests.jsonl
logs every request); with --watch-stdin it exits when its stdin closes, so a test that
crashes leaves no server behind.
Import: FakeGraph(token).start() / .port / .release() / .stop().
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOKUP_RE = re.compile(r"^/v\d+\.\d+/([^/]+)$")
SEND_RE = re.compile(r"^/v\d+\.\d+/([^/]+)/messages$")
DOWNLOAD_PATH = "/whatsapp_business/attachments/"
# Top-level keys of a send body Graph knows; others get code 100.
SEND_KEYS = frozenset((
    "messaging_product", "recipient_type", "to", "recipient", "type", "context",
    "biz_opaque_callback_data", "text", "template", "image", "audio", "document", "video",
    "sticker", "location", "contacts", "interactive", "reaction", "status", "message_id",
    "typing_indicator"))
SEND_TYPES = frozenset(k for k in SEND_KEYS if k in (
    "text", "template", "image", "audio", "document", "video", "sticker", "location",
    "contacts", "interactive", "reaction"))
TEXT_MAX = 4096          # characters of text.body
OPAQUE_MAX = 512         # bytes of biz_opaque_callback_data
BAD_PARAM_RE = re.compile(r"[\n\t]| {5}")   # what 132018 refuses in a text parameter
HUGE = 10 * 1024 * 1024 * 1024
CHUNK = 64 * 1024

MODE_STEP = {
    "expired_url": "lookup", "lookup_404": "lookup", "500": "lookup", "429": "lookup",
    "token_expired": "lookup", "oversize_announce": "lookup",
    "slow": "download", "truncated": "download", "wrong_hash": "download",
    "oversize_length": "download", "oversize_stream": "download",
    "redirect_same_host": "download", "redirect_other_host": "download",
}

# The injected Graph errors; a failure spec may override any of these keys.
ERRORS = {
    "lookup_404": {"http": 404, "code": 100, "subcode": 33, "message": "Unsupported get "
                   "request. Object does not exist, cannot be loaded due to missing "
                   "permissions, or does not support this operation."},
    "500": {"http": 500, "code": 2, "is_transient": True,
            "message": "Service temporarily unavailable"},
    "429": {"http": 429, "code": 4, "message": "(#4) Application request limit reached"},
    "token_expired": {"http": 401, "code": 190, "subcode": 463,
                      "message": "Error validating access token: Session has expired on "
                      "Tuesday, 13-Oct-26 01:00:00 PDT. The current time is Wednesday, "
                      "14-Oct-26 02:00:00 PDT."},
}

OVERRIDES = ("http", "code", "subcode", "message", "is_transient")

# Titles Meta puts into error messages ("(#131047) Re-engagement message").
SEND_TITLES = {
    131047: ("Re-engagement message", "Message failed to send because more than 24 hours "
             "have passed since the customer last replied to this number."),
    131026: ("Message undeliverable", "Message Undeliverable."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131056: ("(Business Account, Consumer Account) pair rate limit hit",
             "Too many messages sent from the sender phone number to the same recipient "
             "phone number in a short period of time."),
    132001: ("Template name does not exist in the translation",
             "template name does not exist in the translation"),
    132000: ("Number of parameters does not match the expected number of params",
             "number of localizable_params does not match the expected number of params"),
    132018: ("There was an issue with the parameters in your template.",
             "Param text cannot have new-line/tab characters or more than 4 consecutive "
             "spaces"),
    190: ("Invalid OAuth access token", "Invalid OAuth access token."),
    131000: ("Something went wrong", "Something went wrong"),
}


def generated_bytes(seed, size):
    """The bytes of a medium registered with "size" and "seed": random-looking (they
    neither compress nor repeat), the same for the same seed and size."""
    return hashlib.shake_256(seed.encode()).digest(size)


def fbtrace():
    return "A" + base64.urlsafe_b64encode(os.urandom(15)).decode().rstrip("=")


def graph_error(code, message, etype="OAuthException", subcode=None, transient=None,
                data=None):
    err = {"message": message, "type": etype, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if data is not None:
        err["error_data"] = data
    if transient is not None:
        err["is_transient"] = transient
    err["fbtrace_id"] = fbtrace()
    return {"error": err}


BAD_TOKEN = (401, lambda: graph_error(190, "Invalid OAuth access token - Cannot parse "
                                      "access token"))


class FakeGraph:
    """The server and its state; all state changes hold self.lock."""

    def __init__(self, token, port=0, state_dir=None, url_ttl=300):
        self.token = token
        self.state_dir = state_dir
        self.url_ttl = url_ttl
        self.secret = os.urandom(16)
        self.lock = threading.Lock()
        self.media = {}
        self.fails = []
        self.requests = []
        self.templates = {}  # (name, language code) -> number of body parameters
        self.held = threading.Condition()
        self.releases = 0    # how many times release() has run: a held request waits for it
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.thread = None

    @property
    def port(self):
        return self.httpd.server_address[1]

    def start(self):
        if self.state_dir:
            os.makedirs(self.state_dir, exist_ok=True)
            with open(os.path.join(self.state_dir, "port"), "w") as f:
                f.write("%d\n" % self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- state ------------------------------------------------------------------------

    def reset(self):
        with self.lock:
            self.media.clear()
            self.fails.clear()
            self.templates.clear()
            self.requests.clear()
        self.release()

    def hold(self, entry):
        """Keep a request waiting until release(); entry["held"] says so meanwhile."""
        with self.held:
            seen = self.releases
            entry["held"] = True
            while self.releases == seen:
                self.held.wait()
            entry["held"] = False

    def release(self):
        with self.held:
            self.releases += 1
            self.held.notify_all()

    def add_media(self, spec):
        if "size" in spec:
            data = generated_bytes(str(spec.get("seed", "")), int(spec["size"]))
        else:
            data = base64.b64decode(spec.get("data_b64", ""), validate=True)
        mid = str(spec["id"])
        m = {"id": mid, "mime_type": spec.get("mime_type", "application/octet-stream"),
             "data": data, "size_as_number": bool(spec.get("file_size_as_number")),
             "sha256": hashlib.sha256(data).hexdigest()}
        with self.lock:
            self.media[mid] = m
        return {"id": mid, "sha256": m["sha256"], "file_size": len(data),
                "sha256_b64": base64.b64encode(hashlib.sha256(data).digest()).decode()}

    def add_fail(self, spec):
        spec = dict(spec)
        spec["times"] = int(spec.get("times", 1))
        if spec.get("send"):
            spec["step"] = "send"
        elif spec.get("mode") not in MODE_STEP:
            raise ValueError("unknown mode %r" % spec.get("mode"))
        else:
            spec["media_id"] = str(spec["media_id"])
            spec.setdefault("step", MODE_STEP[spec["mode"]])
        with self.lock:
            self.fails.append(spec)

    def set_templates(self, spec):
        t = {(str(x["name"]), str(x["language"])): int(x.get("params", 0))
             for x in spec.get("templates", [])}
        with self.lock:
            self.templates = t

    def take_fail(self, step, media_id=None):
        """The first pending failure for this step (and media), counted down; or None."""
        with self.lock:
            for f in self.fails:
                if f["step"] == step and f["times"] > 0 and \
                        (step == "send" or f["media_id"] == media_id):
                    f["times"] -= 1
                    return f
        return None

    def url_hash(self, mid, ext):
        return hmac.new(self.secret, ("%s:%s" % (mid, ext)).encode(),
                        hashlib.sha256).hexdigest()[:32]

    def download_url(self, mid, ext, host="127.0.0.1"):
        q = urllib.parse.urlencode({"mid": mid, "ext": ext, "hash": self.url_hash(mid, ext)})
        return "http://%s:%d%s?%s" % (host, self.port, DOWNLOAD_PATH, q)

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def finish(self, entry):
        entry["done"] = True
        if self.state_dir:
            with self.lock, open(os.path.join(self.state_dir, "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.requests))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "fakegraph"

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def handle(self):
        # A client that stops reading mid-answer (a send over its answer cap) resets the
        # connection; that is the client's business, not a traceback on the test's stderr.
        try:
            super().handle()
        except ConnectionResetError:
            self.close_connection = True

    # ---- plumbing ---------------------------------------------------------------------

    @property
    def fake(self):
        return self.server.fake

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def start_entry(self, body, step, media_id=None):
        u = urllib.parse.urlsplit(self.path)
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        e = {"method": self.command, "path": u.path, "query": u.query,
             "params": dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True)),
             "headers": headers, "body": body.decode("utf-8", "replace"), "step": step,
             "media_id": media_id, "status": None, "bytes_sent": 0, "client_gone": False,
             "done": False, "held": False}
        self.fake.record(e)
        return e

    def send(self, status, body, ctype="application/json; charset=UTF-8", extra=None,
             entry=None):
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body, separators=(",", ":")).encode()
        if entry is not None:
            entry["status"] = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:  # as Graph does
                self.send_header("WWW-Authenticate",
                                 'OAuth "Facebook Platform" "invalid_token"')
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if entry is not None:
                entry["bytes_sent"] = len(body)
        except (BrokenPipeError, ConnectionResetError):
            if entry is not None:
                entry["client_gone"] = True
            self.close_connection = True

    def authorized(self):
        return self.headers.get("Authorization") == "Bearer " + self.fake.token

    def stream(self, entry, limit, chunked):
        """Zeros until limit or until the client goes away."""
        zeros = bytes(CHUNK)
        sent = 0
        try:
            while sent < limit:
                if chunked:
                    self.wfile.write(b"%x\r\n" % CHUNK + zeros + b"\r\n")
                else:
                    self.wfile.write(zeros)
                self.wfile.flush()
                sent += CHUNK
                entry["bytes_sent"] = sent
        except OSError:  # EPIPE, ECONNRESET: the client stopped reading and closed
            entry["client_gone"] = True
        self.close_connection = True

    # ---- dispatch ---------------------------------------------------------------------

    def do_GET(self):
        self.dispatch(b"")

    def do_POST(self):
        self.dispatch(self.read_body())

    def dispatch(self, body):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self.control(path, body)
        m_lookup, m_send = LOOKUP_RE.match(path), SEND_RE.match(path)
        if self.command == "GET" and m_lookup:
            step, mid, fn = "lookup", m_lookup.group(1), self.lookup
        elif self.command == "GET" and path == DOWNLOAD_PATH:
            mid = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get(
                "mid", [None])[0]
            step, fn = "download", self.download
        elif self.command == "POST" and m_send:
            step, mid, fn = "send", None, self.send_message
        else:
            entry = self.start_entry(body, "other")
            self.send(400, graph_error(2500, "Unknown path components: %s" % path),
                      entry=entry)
            return self.fake.finish(entry)
        entry = self.start_entry(body, step, mid)
        try:
            fn(entry, mid, body) if step != "send" else fn(entry, m_send.group(1), body)
        finally:
            self.fake.finish(entry)

    # ---- Graph: lookup ----------------------------------------------------------------

    def injected_error(self, f, entry, mode):
        """Answers ERRORS[mode], with what the failure spec overrides."""
        d = dict(ERRORS[mode], **{k: f[k] for k in OVERRIDES if k in f})
        err = graph_error(int(d["code"]), d["message"], subcode=d.get("subcode"),
                          transient=d.get("is_transient"))
        extra = {"Retry-After": str(f.get("retry_after", 1))} if mode == "429" else None
        self.send(int(d["http"]), err, extra=extra, entry=entry)

    def lookup(self, entry, mid, body):
        if not self.authorized():
            return self.send(BAD_TOKEN[0], BAD_TOKEN[1](), entry=entry)
        f = self.fake.take_fail("lookup", mid)
        if f is not None and self.failed_lookup(f, entry):
            return
        m = self.fake.media.get(mid)
        if m is None:
            return self.send(400, graph_error(
                100, "Unsupported get request. Object with ID '%s' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation. "
                "Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api" % mid,
                etype="GraphMethodException", subcode=33), entry=entry)
        ext = int(time.time())
        size = len(m["data"])
        if f is not None and f["mode"] == "expired_url":
            ext -= self.fake.url_ttl + 60
        if f is not None and f["mode"] == "oversize_announce":
            size = HUGE
        self.send(200, {"messaging_product": "whatsapp", "url": self.fake.download_url(mid, ext),
                        "mime_type": m["mime_type"], "sha256": m["sha256"],
                        "file_size": size if m["size_as_number"] else str(size), "id": mid},
                  entry=entry)

    def failed_lookup(self, f, entry):
        """Answers an injected lookup failure; False for the modes that change the answer."""
        mode = f["mode"]
        if mode in ERRORS:
            self.injected_error(f, entry, mode)
        elif mode == "slow":
            self.slow(f, entry)
            return False
        else:
            return False
        return True

    # ---- the CDN: download ------------------------------------------------------------

    def download(self, entry, mid, body):
        q = entry["params"]
        ext = q.get("ext", "")
        # Some CDNs refuse requests without a User-Agent, and clients of Meta's report
        # failures without one (reference §9), so this one does too.
        if not self.headers.get("User-Agent"):
            return self.send(400, "Bad Request: no User-Agent\n", "text/plain", entry=entry)
        if not self.authorized():
            return self.send(BAD_TOKEN[0], BAD_TOKEN[1](), entry=entry)
        good = hmac.compare_digest(q.get("hash", ""), self.fake.url_hash(mid, ext))
        if not good or not ext.isdigit():
            return self.send(403, "URL signature mismatch\n", "text/plain", entry=entry)
        m = self.fake.media.get(mid)
        if int(ext) + self.fake.url_ttl < time.time() or m is None:
            return self.send(404, "URL signature expired\n", "text/plain", entry=entry)
        f = self.fake.take_fail("download", mid)
        if f is None or not self.failed_download(f, entry, m, ext):
            self.send(200, m["data"], self.ctype(m), entry=entry)

    @staticmethod
    def ctype(m):
        """The CDN's Content-Type: the registered type as far as a header can carry it."""
        t = "".join(c for c in m["mime_type"] if " " <= c <= "~")
        return t or "application/octet-stream"

    def failed_download(self, f, entry, m, ext):
        mode, data = f["mode"], m["data"]
        limit = int(f.get("limit", 64 * 1024 * 1024))
        if mode == "slow":
            self.slow(f, entry)
            self.send(200, data, self.ctype(m), entry=entry)
        elif mode == "wrong_hash":
            self.send(200, bytes(b ^ 0x55 for b in data) or b"x", self.ctype(m), entry=entry)
        elif mode in ("truncated", "oversize_length", "oversize_stream"):
            self.send_partial(mode, entry, m, limit)
        elif mode in ("redirect_same_host", "redirect_other_host"):
            host = "127.0.0.1" if mode == "redirect_same_host" else "localhost"
            where = "http://%s:%d%s" % (host, self.fake.port, self.path)
            self.send(302, "", "text/plain", {"Location": where}, entry=entry)
        elif mode in ERRORS:
            self.injected_error(f, entry, mode)
        else:
            return False
        return True

    def send_partial(self, mode, entry, m, limit):
        data = m["data"]
        entry["status"] = 200
        try:
            self.send_response(200)
            self.send_header("Content-Type", self.ctype(m))
            if mode == "truncated":
                self.send_header("Content-Length", str(len(data)))
            elif mode == "oversize_length":
                self.send_header("Content-Length", str(HUGE))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if mode == "truncated":
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                entry["bytes_sent"] = len(data) // 2
                self.close_connection = True
                return
        except (BrokenPipeError, ConnectionResetError):
            entry["client_gone"] = True
            self.close_connection = True
            return
        self.stream(entry, limit, mode == "oversize_stream")

    # ---- Graph: sends -----------------------------------------------------------------

    def send_message(self, entry, phone_number_id, body):
        if not self.authorized():
            return self.send(BAD_TOKEN[0], BAD_TOKEN[1](), entry=entry)
        try:
            req = json.loads(body)
            assert isinstance(req, dict)
        except (ValueError, AssertionError):
            return self.send(400, graph_error(100, "(#100) Invalid parameter"), entry=entry)
        if req.get("messaging_product") != "whatsapp":
            return self.send(400, graph_error(100, "(#100) The parameter messaging_product "
                                              "is required."), entry=entry)
        f = self.fake.take_fail("send")
        if f is not None and self.failed_send(f, entry):
            return
        if req.get("status") == "read":
            return self.send(200, {"success": True}, entry=entry)
        to = str(req.get("to") or "")
        if not to:
            return self.send(400, graph_error(100, "(#100) The parameter to is required."),
                             entry=entry)
        problem = self.send_problem(req)
        if problem is not None:
            return self.send_error_shape(problem, entry)
        wamid = "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" +
                                            secrets.token_hex(10).upper().encode()).decode()
        entry["wamid"] = wamid
        self.send(200, {"messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                        "messages": [{"id": wamid, "message_status": "accepted"}]},
                  entry=entry)

    def slow(self, f, entry, default_delay=5):
        """A slow answer: held until released, or "delay" seconds."""
        if f.get("hold"):
            self.fake.hold(entry)
        else:
            time.sleep(float(f.get("delay", default_delay)))

    def failed_send(self, f, entry):
        """Answers an injected send failure; False when the send should go on ("ok")."""
        self.slow(f, entry, 0)
        if "raw" in f:
            self.send(int(f.get("http", 200)), str(f["raw"]), f.get("ctype", "text/plain"),
                      extra=f.get("headers"), entry=entry)
        elif f.get("ok"):
            return False
        else:
            self.send_error_shape(f, entry)
        return True

    def send_problem(self, req):
        """What Meta would refuse in a send body, as a failure spec; or None."""
        unknown = sorted(set(req) - SEND_KEYS)
        if unknown:
            return bad_param("(#100) Param %s is not a valid parameter" % unknown[0])
        if req.get("recipient_type", "individual") != "individual":
            return bad_param("(#100) Param recipient_type must be individual")
        kind = req.get("type", "text")
        if kind not in SEND_TYPES:
            return bad_param("(#100) Param type must be one of {%s}" % ", ".join(
                sorted(SEND_TYPES)))
        ctx = req.get("context")
        if ctx is not None and not (isinstance(ctx, dict) and set(ctx) == {"message_id"} and
                                    isinstance(ctx["message_id"], str)):
            return bad_param("(#100) Param context['message_id'] is required")
        opaque = req.get("biz_opaque_callback_data")
        if opaque is not None and not (isinstance(opaque, str) and
                                       len(opaque.encode()) <= OPAQUE_MAX):
            return bad_param("(#100) Param biz_opaque_callback_data must be at most %d "
                             "characters long" % OPAQUE_MAX)
        if kind == "text":
            return text_problem(req.get("text"))
        if kind == "template":
            return self.template_problem(req.get("template"))
        return None

    def template_problem(self, t):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or \
                not isinstance(t.get("language"), dict) or \
                not isinstance(t["language"].get("code"), str):
            return bad_param("(#100) Param template['name'] and template['language']"
                             "['code'] are required")
        params, problem = body_params(t.get("components", []))
        if problem is not None:
            return problem
        for p in params:
            if p.get("type") == "text" and BAD_PARAM_RE.search(p["text"]):
                return {"code": 132018, "http": 400}
        with self.fake.lock:
            known = dict(self.fake.templates)
        want = known.get((t["name"], t["language"]["code"]))
        if known and want is None:
            return {"code": 132001, "http": 404}
        if known and want != len(params):
            return {"code": 132000, "http": 400, "details": "body: number of "
                    "localizable_params (%d) does not match the expected number of params "
                    "(%d)" % (len(params), want)}
        return None

    def send_error_shape(self, f, entry):
        code = int(f.get("code", 131000))
        title, details = SEND_TITLES.get(code, ("Something went wrong", "Unknown error"))
        err = graph_error(code, f.get("message", "(#%d) %s" % (code, title)),
                          subcode=f.get("subcode"), transient=f.get("is_transient"),
                          data={"messaging_product": "whatsapp",
                                "details": f.get("details", details)})
        self.send(int(f.get("http", 400)), err, entry=entry)

    # ---- control ----------------------------------------------------------------------

    def control(self, path, body):
        fake = self.fake
        try:
            spec = json.loads(body) if body else {}
            if path == "/_fake/requests" and self.command == "GET":
                return self.send(200, fake.snapshot())
            if self.command != "POST":
                return self.send(405, {"error": "use POST"})
            if path == "/_fake/media":
                return self.send(200, fake.add_media(spec))
            if path == "/_fake/fail":
                fake.add_fail(spec)
            elif path == "/_fake/reset":
                fake.reset()
            elif path == "/_fake/release":
                fake.release()
            elif path == "/_fake/templates":
                fake.set_templates(spec)
            elif path == "/_fake/config":
                fake.url_ttl = int(spec.get("url_ttl", fake.url_ttl))
            else:
                return self.send(404, {"error": "no such control path"})
            self.send(200, {"ok": True})
        except (ValueError, KeyError, TypeError) as e:
            self.send(400, {"error": "%s: %s" % (type(e).__name__, e)})


def bad_param(message):
    """A failure spec for Meta's answer to a malformed send body."""
    return {"code": 100, "http": 400, "message": message, "details": message}


def text_problem(text):
    if not isinstance(text, dict) or not set(text) <= {"body", "preview_url"}:
        return bad_param("(#100) Param text must be an object with body and preview_url")
    body = text.get("body")
    if not isinstance(body, str) or not body:
        return bad_param("(#100) Param text['body'] is required")
    if len(body) > TEXT_MAX:
        return bad_param("(#100) Param text['body'] must be at most %d characters long"
                         % TEXT_MAX)
    if not isinstance(text.get("preview_url", False), bool):
        return bad_param("(#100) Param text['preview_url'] must be a boolean")
    return None


def body_params(components):
    """The body component's parameters and None, or [] and a failure spec."""
    if not isinstance(components, list):
        return [], bad_param("(#100) Param template['components'] must be an array")
    params = []
    for c in components:
        if not isinstance(c, dict) or not isinstance(c.get("type"), str) or \
                not isinstance(c.get("parameters", []), list):
            return [], bad_param("(#100) Param template['components'][0] is malformed")
        for p in c.get("parameters", []):
            if not isinstance(p, dict) or not isinstance(p.get("type"), str) or \
                    (p["type"] == "text" and not isinstance(p.get("text"), str)):
                return [], bad_param("(#100) Param template['components'][0]"
                                     "['parameters'][0] is malformed")
        if c["type"] == "body":
            params += c.get("parameters", [])
    return params, None


def watch_stdin(stop):
    """Sets stop at EOF on stdin; os.read, as a buffered read would hold a lock at exit."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop.set()


def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake Graph API for wabridge's tests.")
    ap.add_argument("--port", type=int, default=0, help="0: pick a free one")
    ap.add_argument("--token", required=True, help="the access token to expect")
    ap.add_argument("--state-dir", help="write DIR/port and DIR/requests.jsonl")
    ap.add_argument("--url-ttl", type=int, default=300, help="download URL lifetime (s)")
    ap.add_argument("--watch-stdin", action="store_true",
                    help="exit when stdin closes (the test that started us has ended)")
    args = ap.parse_args(argv)
    fake = FakeGraph(args.token, args.port, args.state_dir, args.url_ttl).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.watch_stdin:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    print("PORT %d" % fake.port, flush=True)
    while not stop.wait(1):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
