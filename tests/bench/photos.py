#!/usr/bin/env python3
"""photos: the photo half of `make bench` section g (state size), for tests/bench/run.sh.

  photos.py --port PORT --secret FILE --graph-token FILE --graph-port-file FILE
            --db STATE_DB --pnids PNID[,PNID...] [-n 1000] [--timeout 90]

Starts the fake Graph API (tests/lib/fakegraph.py) in this process and writes its port to
--graph-port-file, then waits for that file to be read (the caller writes the serve
configuration with it and starts serve, then touches FILE.go). It registers N photos
with it, each its own media id and 100-200 kB of random bytes (random: a JPEG does not
compress either), and POSTs one signed image webhook per photo to serve on 127.0.0.1:PORT,
as Meta sends them (one message a webhook). Then it waits, keeping the fake up for the
downloads, until all N messages are 'delivered' in STATE_DB, at most --timeout seconds.

Output: key=value lines (sent, ok, media_bytes, intake_s, delivered, delivery_s,
complete). Standard library only, plus fakegraph. Exit 2 when it cannot run."""

import argparse
import base64
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakegraph  # noqa: E402
from media import delivered, hand_over, post, webhook  # noqa: E402

MEDIA_BASE = 2039485761000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--graph-token", required=True)
    ap.add_argument("--graph-port-file", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--pnids", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=90)
    a = ap.parse_args()
    secret = open(a.secret, "rb").read().strip()
    token = open(a.graph_token).read().strip()
    pnids = a.pnids.split(",")

    graph = fakegraph.FakeGraph(token)
    graph.start()
    try:
        if not hand_over(graph, a.graph_port_file, "photos"):
            return 2

        rnd = random.Random(1729)
        bodies = []
        media_bytes = 0
        for i in range(a.n):
            data = rnd.randbytes(rnd.randint(100 * 1024, 200 * 1024))
            media_bytes += len(data)
            mid = str(MEDIA_BASE + i)
            info = graph.add_media({"id": mid, "mime_type": "image/jpeg",
                                    "data_b64": base64.b64encode(data).decode()})
            # a few messages a citizen, as in real use
            bodies.append(webhook(pnids[i % len(pnids)], i, "image", mid, info["sha256_b64"],
                                  1796536800 + i, tag="PHOTO", sender="9198%08d" % (i % 500),
                                  name="Citizen %d" % (i % 500),
                                  caption="Photo of the damaged gate, %d" % i))

        t0 = time.monotonic()
        ok = post(a.port, secret, bodies)
        t1 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < a.timeout:
            n = delivered(a.db, "wamid.BENCHPHOTO%")
            if n >= a.n:
                break
            time.sleep(0.2)
        t2 = time.monotonic()
        print("sent=%d" % len(bodies))
        print("ok=%d" % ok)
        print("media_bytes=%d" % media_bytes)
        print("webhook_bytes=%d" % sum(len(b) for b in bodies))
        print("intake_s=%.2f" % (t1 - t0))
        print("delivered=%d" % n)
        print("delivery_s=%.2f" % (t2 - t0))
        print("complete=%d" % (n >= a.n))
    finally:
        graph.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
