"""`wabridge parse-reply`: the reply parser alone, as an admin runs it."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

BENGALI_REPLY = (
    "From: OC Bhowanipore <oc.bhowanipore@police.test>\r\n"
    "To: complaint+BHP-2026-000001.0a1b2c3d4e@wa.police.test\r\n"
    "Subject: Re: [BHP-2026-000001] =?UTF-8?B?4Ka44KeN4KaV4KeB4Kaf4Ka+4KawIOCmmuCngeCmsOCmvw==?=\r\n"
    "In-Reply-To: <wamid.X@wa.police.test>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে। থানায় এসে কপি নিয়ে যাবেন। #escalate\r\n"
    "\r\n"
    "-- \r\n"
    "OC, Bhowanipore PS\r\n"
    "\r\n"
    "On Thu, 15 Oct 2026 at 13:30, Citizen <wa-919830111222@wa.police.test> wrote:\r\n"
    "> GD No 999/2025 was mentioned in the complaint itself\r\n"
).encode()


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "replies")


def test_fixtures(t, b):
    """The project's own replies (tests/fixtures/replies/, also the bench's): the new
    text and the number of each, as expected.json has them."""
    with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    for name, want in sorted(expected.items()):
        with open(os.path.join(FIXTURES, name), "rb") as f:
            mail = f.read()
        rc, out, err = b.run("parse-reply", "--json", stdin=mail, config=False)
        got = json.loads(out) if rc == 0 else {}
        text = got.get("text", "")
        if "text" in want:
            t.eq(text, want["text"], "%s: the officer's new text" % name, err)
        else:
            t.ok(text.startswith(want["startswith"]), "%s: the officer's new text" % name,
                 text[:200])
        t.eq(got.get("number"), want["number"], "%s: the number" % name)


def test(t):
    b = W.Bridge(deliver="maildir")
    test_fixtures(t, b)
    rc, out, err = b.run("parse-reply", "--json", stdin=BENGALI_REPLY, config=False)
    t.eq(rc, 0, "parse-reply --json exits 0", err)
    got = json.loads(out) if rc == 0 else {}
    t.eq(got.get("text"), "অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে। থানায় এসে কপি নিয়ে যাবেন।",
         "the new text, without the tag, the signature and the quote")
    t.eq(got.get("number"), "123/2026", "the Bengali number in ASCII digits")
    t.eq(got.get("tags"), ["escalate"], "the #escalate tag")
    t.eq(got.get("cuts"), [{"line": 3, "rule": "signature"}],
         "cuts: the text ends at the signature delimiter, body line 3")
    rc, out, _ = b.run("parse-reply", stdin=BENGALI_REPLY, config=False)
    t.eq(out, "অভিযোগ নং ১২৩/২০২৬ নথিভুক্ত হয়েছে। থানায় এসে কপি নিয়ে যাবেন।\n",
         "without --json it prints the text alone")
    t.ok("999/2025" not in out, "a number in the quoted text is not taken")
    rc, _, err = b.run("parse-reply", stdin=b"\x00\x01\x02 not a mail", config=False)
    t.eq(rc, 65, "garbage is unparsable: exit 65")
    rc, _, err = b.run("parse-reply", "a", "b", config=False)
    t.eq(rc, 64, "two files: exit 64")
    rc, _, err = b.run("parse-reply", "--station", "nowhere", stdin=BENGALI_REPLY)
    t.eq(rc, 78, "an unknown --station is a configuration error (78)")


W.Tap().run(test)
