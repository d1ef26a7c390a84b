"""The Thunderbird tag definitions in contrib/ stay true to the bridge: every IMAP keyword
the code sets has a tag, under the lower-case key Thunderbird looks up, with a name and a
colour, in both the user.js lines and the enterprise policies.json, which agree."""

import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import wbtest as W  # noqa: E402

TOP = os.environ.get("WB_TOP") or os.path.join(os.path.dirname(__file__), "..", "..")


def keywords_in_code():
    found = set()
    for path in glob.glob(os.path.join(TOP, "src", "*.c")):
        with open(path, encoding="utf-8") as f:
            found |= set(re.findall(r'"(\$WA_[A-Za-z]+)"', f.read()))
    return found


def user_js():
    prefs = {}
    with open(os.path.join(TOP, "contrib", "thunderbird", "user.js"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            m = re.fullmatch(r'user_pref\("([^"]+)", "([^"]*)"\);', line)
            if m:
                prefs[m.group(1)] = m.group(2)
            else:
                prefs.setdefault("#bad", []).append(line)
    return prefs


def main():
    tap = W.Tap()

    def run(t):
        code = keywords_in_code()
        spec = {"$WA_Acknowledged", "$WA_Registered", "$WA_Escalated", "$WA_Overdue",
                "$WA_SendFailed"}
        t.ok(spec <= code, "the code sets every keyword SPEC §5 names", sorted(code))
        prefs = user_js()
        t.eq(prefs.get("#bad"), None, "every line of user.js is a comment or a user_pref")
        for kw in sorted(code):
            key = "mailnews.tags.%s" % kw.lower()
            t.ok(prefs.get(key + ".tag", "").startswith("WA: "),
                 "%s has a tag name under the lower-case key" % kw, key)
            t.ok(re.fullmatch(r"#[0-9a-f]{6}", prefs.get(key + ".color", "")),
                 "%s has a colour" % kw, prefs.get(key + ".color"))
            t.ok(prefs.get(key + ".ordinal"), "%s has an ordinal" % kw)
        with open(os.path.join(TOP, "contrib", "thunderbird", "policies.json"),
                  encoding="utf-8") as f:
            policy = json.load(f)["policies"]["Preferences"]
        t.eq({k: v["Value"] for k, v in policy.items()}, prefs,
             "policies.json sets exactly what user.js sets")
        t.ok(all(v.get("Status") == "default" for v in policy.values()),
             "as defaults, so an officer may still change a colour")

    tap.run(run)


main()
