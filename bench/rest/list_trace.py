#!/usr/bin/env python3
"""Replays the automerge-paper editing trace through the REST API, one
request per edit on one keep-alive connection, beside counter increments
on the same connection in the same run, and prints both rates and their
ratio (issue goal: list edits at >= 0.5x the counter rate).

  bench/rest/list_trace.py --url http://127.0.0.1:8080 [--trace FILE]
      [--edits N] [--counters N] [--token T]

Each patch [pos, del, text] becomes POST /v1/list/doc/delete {"index":pos,
"count":del} and/or POST /v1/list/doc/insert {"index":pos,"text":text}.
The final text is read back (GET ?format=text) and compared with the
trace's endContent when the whole trace was replayed.
"""
import argparse
import gzip
import http.client
import json
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--trace", default="../shared/traces/automerge-paper.json.gz")
    ap.add_argument("--edits", type=int, default=0, help="0: every patch")
    ap.add_argument("--counters", type=int, default=20000)
    ap.add_argument("--token", default="")
    ap.add_argument("--key", default="trace-doc")
    ap.add_argument("--check-every", type=int, default=0,
                    help="compare the text every N edits (slows the run)")
    args = ap.parse_args()

    with gzip.open(args.trace, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    patches = [p for t in trace["txns"] for p in t["patches"]]
    if args.edits:
        patches = patches[: args.edits]

    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = "Bearer " + args.token

    def post(path, body):
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"list_trace: {path} answered {r.status}: {data[:200]!r}")

    key = urllib.parse.quote(args.key, safe="")

    def read_text():
        # A text page holds at most 100,000 code points: read them all.
        parts, offset, length = [], 0, None
        while length is None or offset < length:
            conn.request("GET", f"/v1/list/{key}?format=text&offset={offset}",
                         headers=headers)
            page = json.loads(conn.getresponse().read())
            length = page["length"]
            parts.append(page["text"])
            if not page["text"]:
                break
            offset += len(page["text"])
        return "".join(parts), length

    def counters(n):
        t0 = time.perf_counter()
        for _ in range(n):
            post("/v1/counter/trace-ctr/incr", '{"by":1}')
        return n / (time.perf_counter() - t0)

    before = counters(args.counters)
    t0 = time.perf_counter()
    requests = 0
    shadow = ""
    for n, (pos, dels, text) in enumerate(patches):
        if args.check_every:
            shadow = shadow[:pos] + text + shadow[pos + dels:]
        if dels:
            post(f"/v1/list/{key}/delete", json.dumps({"index": pos, "count": dels}))
            requests += 1
        if text:
            post(f"/v1/list/{key}/insert", json.dumps({"index": pos, "text": text}))
            requests += 1
        if args.check_every and (n + 1) % args.check_every == 0:
            got, _ = read_text()
            if got != shadow:
                sys.exit(f"list_trace: the text differs after edit {n} "
                         f"(patch {pos, dels, text!r})")
    secs = time.perf_counter() - t0
    after = counters(args.counters)
    counter_rate = (before + after) / 2
    list_rate = requests / secs

    text, length = read_text()
    got = {"text": text}
    expected = ""
    for pos, dels, text in patches:
        expected = expected[:pos] + text + expected[pos + dels:]
    if not args.edits:
        assert expected == trace["endContent"]
    ok = got.get("text") == expected
    if not ok:
        text = got.get("text") or ""
        i = next((i for i, (a, b) in enumerate(zip(text, expected)) if a != b),
                 min(len(text), len(expected)))
        print(f"first difference at {i}: got {text[i-20:i+20]!r}, "
              f"expected {expected[i-20:i+20]!r}")
    print(f"list edits: {requests} requests in {secs:.1f} s = {list_rate:.0f}/s "
          f"(document length {length})")
    print(f"counter increments: {before:.0f}/s before, {after:.0f}/s after "
          f"(mean {counter_rate:.0f}/s)")
    print(f"ratio list / counter: {list_rate / counter_rate:.2f} (goal >= 0.5)")
    print(f"final text equals the trace's text: {'yes' if ok else 'NO'}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
