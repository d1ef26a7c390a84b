#!/usr/bin/env python3
"""media: the driver of `make bench` section h (memory against media size), for
tests/bench/run.sh.

  media.py --port PORT --secret FILE --graph-token FILE --graph-port-file FILE
           --db STATE_DB --pid SERVE_PID --pnid PNID [--media KIND:BYTES[xN],...]
           [--timeout 300]

Starts the fake Graph API (tests/lib/fakegraph.py) in this process and writes its port to
--graph-port-file, then waits for FILE.go (the caller has started serve with it; with
--pid 0 serve's pid is read from FILE.pid then). A
warm-up photo goes through the whole path first (fetch, rendering, delivery), so that
code and caches paging in do not count. Then it reads serve's VmHWM, registers the media
(random bytes the fake makes from a seed: they neither compress nor repeat), POSTs one
signed webhook per medium, one right after the other, and until all are 'delivered' in
STATE_DB samples serve's VmRSS, RssAnon and RssFile every 10 ms. Last it reads VmHWM
again: its growth is what the media cost the daemon at its peak.

Default media: a 100 MiB document and four 32 MiB videos.
Output: key=value lines. Standard library only, plus fakegraph. Exit 2 when it cannot run."""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakegraph  # noqa: E402

MEDIA_BASE = 3049586172000
MIME = {"document": "application/pdf", "video": "video/mp4", "image": "image/jpeg"}


def webhook(pnid, i, kind, media_id, sha_b64, ts, tag="MEDIA", sender=None, name=None,
            caption=None):
    """One signed-to-be media webhook as Meta sends it (one message), wamid
    wamid.BENCH<tag><i>; photos.py passes its own sender, name and caption."""
    sender = sender or "91983%07d" % i
    obj = {"id": media_id, "mime_type": MIME[kind], "sha256": sha_b64,
           "caption": caption or "Evidence %d" % i}
    if kind == "document":
        obj["filename"] = "evidence-%d.pdf" % i
    msg = {"from": sender, "id": "wamid.BENCH%s%06d" % (tag, i), "timestamp": str(ts),
           "type": kind, kind: obj}
    body = {"object": "whatsapp_business_account", "entry": [{"id": "209384756102938",
            "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "919831200101", "phone_number_id": pnid},
                "contacts": [{"profile": {"name": name or "Citizen %d" % i}, "wa_id": sender}],
                "messages": [msg]}}]}]}
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).replace(
        "/", "\\/").encode()


def delivered(db, like):
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            return c.execute("SELECT count(*) FROM messages WHERE state = 'delivered' AND "
                             "wamid LIKE ?", (like,)).fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return 0


def mail_bytes(db, like):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return c.execute("SELECT coalesce(sum(d.size), 0), count(*) FROM deliveries d JOIN "
                         "messages m ON m.id = d.msg WHERE m.wamid LIKE ?", (like,)).fetchone()
    finally:
        c.close()


def status(pid):
    """VmHWM, VmRSS, RssAnon, RssFile of pid in kB (empty once it is gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def post(port, secret, bodies):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = 0
    for b in bodies:
        sig = "sha256=" + hmac.new(secret, b, hashlib.sha256).hexdigest()
        conn.request("POST", "/webhook", body=b, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sig})
        r = conn.getresponse()
        r.read()
        ok += r.status == 200
    conn.close()
    return ok


def wait_delivered(a, like, n, deadline, samples=None):
    while time.monotonic() < deadline:
        if samples is not None:
            samples.append(status(a.pid))
        if delivered(a.db, like) >= n:
            return True
        time.sleep(0.01)
    return False


def hand_over(graph, port_file, who):
    """Give run.sh the fake Graph API's port (in port_file) and wait until it has started
    serve with it (it touches port_file.go); False when that takes over 30 s."""
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % graph.port)
    os.rename(port_file + ".tmp", port_file)
    deadline = time.monotonic() + 30
    while not os.path.exists(port_file + ".go"):
        if time.monotonic() > deadline:
            print("%s: serve was not started" % who, file=sys.stderr)
            return False
        time.sleep(0.05)
    return True


def parse_media(spec):
    out = []
    for item in spec.split(","):
        kind, _, size = item.partition(":")
        size, _, times = size.partition("x")
        out += [(kind, int(size))] * int(times or 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    for k in ("--port", "--pid"):
        ap.add_argument(k, type=int, required=True)
    for k in ("--secret", "--graph-token", "--graph-port-file", "--db", "--pnid"):
        ap.add_argument(k, required=True)
    ap.add_argument("--media", default="document:104857600,video:33554432x4")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    secret = open(a.secret, "rb").read().strip()
    token = open(a.graph_token).read().strip()
    media = parse_media(a.media)

    graph = fakegraph.FakeGraph(token)
    graph.start()
    try:
        if not hand_over(graph, a.graph_port_file, "media"):
            return 2
        if not a.pid:  # serve started after this: its pid is written beside the port
            with open(a.graph_port_file + ".pid") as f:
                a.pid = int(f.read())

        # Warm-up: one photo through the whole path.
        info = graph.add_media({"id": str(MEDIA_BASE), "mime_type": MIME["image"],
                                "size": 200 * 1024, "seed": "warm-up"})
        post(a.port, secret, [webhook(a.pnid, 0, "image", str(MEDIA_BASE),
                                      info["sha256_b64"], 1796536800, "WARMUP")])
        warm = wait_delivered(a, "wamid.BENCHWARMUP%", 1, time.monotonic() + 60)

        bodies = []
        total = 0
        for i, (kind, size) in enumerate(media, 1):
            mid = str(MEDIA_BASE + i)
            info = graph.add_media({"id": mid, "mime_type": MIME[kind], "size": size,
                                    "seed": "bench medium %d" % i})
            bodies.append(webhook(a.pnid, i, kind, mid, info["sha256_b64"], 1796536800 + i))
            total += size
        before = status(a.pid)
        samples = [before]
        t0 = time.monotonic()
        ok = post(a.port, secret, bodies)
        done = wait_delivered(a, "wamid.BENCHMEDIA%", len(media),
                              time.monotonic() + a.timeout, samples)
        t1 = time.monotonic()
        after = status(a.pid)
        samples.append(after)
        size_sum, n_mails = mail_bytes(a.db, "wamid.BENCHMEDIA%")
        peak = lambda k: max((s.get(k, 0) for s in samples), default=0)  # noqa: E731
        print("warm_up_delivered=%d" % warm)
        print("media_n=%d" % len(media))
        print("media_bytes=%d" % total)
        print("media_largest=%d" % max(s for _, s in media))
        print("media_list=%s" % " ".join("%s:%d" % m for m in media))
        print("sent=%d" % len(bodies))
        print("ok=%d" % ok)
        print("complete=%d" % done)
        print("delivery_s=%.2f" % (t1 - t0))
        print("mail_bytes=%d" % size_sum)
        print("mails=%d" % n_mails)
        print("hwm_kb_before=%d" % before.get("VmHWM", 0))
        print("hwm_kb_after=%d" % after.get("VmHWM", 0))
        print("rss_kb_before=%d" % before.get("VmRSS", 0))
        print("anon_kb_before=%d" % before.get("RssAnon", 0))
        print("anon_kb_peak=%d" % peak("RssAnon"))
        print("file_kb_peak=%d" % peak("RssFile"))
        print("rss_kb_peak_sampled=%d" % peak("VmRSS"))
        print("samples=%d" % len(samples))
    finally:
        graph.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
