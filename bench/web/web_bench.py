#!/usr/bin/python3
"""The browser side of scripts/bench.sh web: real headless Chromium (python3-selenium,
chromium-driver) against a controller web_bench.cpp started. Two modes, each bounded
in time, every browser quit on the way out (error or not):

  web_bench.py fleet --url https://127.0.0.1:PORT --link URL --loads N
      signs in with the link, loads /fleet N times and prints one JSON line: per load
      the first contentful paint, DOM interactive and the moment the page's script drew
      the fleet (the "fd-drawn" mark: the page is usable), all from navigation start
      (Navigation Timing and paint entries); and the bytes of the HTML, the CSS, the
      script and /api/fleet (Resource Timing: as sent, encodedBodySize, and as read, decodedBodySize).

  web_bench.py live --url https://127.0.0.1:PORT --run ID --links URL,URL,... --hold S
      one browser per link, each signed in and on the live page of run ID until its probe
      charts show points; prints "ready" (for the caller's CPU window), holds S seconds,
      then prints one JSON line: each browser's chart points before and after the hold
      (they grow only by pushed samples) and the seconds between the two readings.
"""
import argparse
import json
import os
import sys
import time

# Chromium as the browser test drives it (headless, the test's CA not held: insecure
# certificates accepted, no proxy), missing parts a failure.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "web"))
from browser import driver  # noqa: E402

WAIT = 60  # seconds any one thing may take


def until(what, cond, limit=WAIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {limit}s")


def sign_in(d, link):
    d.get(link)
    until("signed in (the fleet page)", lambda: d.execute_script("return document.querySelector('meta[name=fd-csrf]') !== null"))


TIMING = """
const n = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const drawn = performance.getEntriesByName('fd-drawn')[0];
if (!n || !drawn || !n.loadEventEnd) return null;
// Bytes as sent (encoded: gzip when the server compresses) and as the page reads them.
const size = (e) => ({ wire: e.encodedBodySize, body: e.decodedBodySize });
const res = (re) => performance.getEntriesByType('resource').filter((r) => re.test(r.name)).map(size);
return { first_paint_ms: fcp ? fcp.startTime : null, dom_interactive_ms: n.domInteractive, drawn_ms: drawn.startTime,
         load_ms: n.loadEventEnd, html_bytes: size(n), css_bytes: res(/static\\/style\\.css/),
         js_bytes: res(/static\\/app\\.js/), fleet_bytes: res(/api\\/fleet\\?/),
         racks: document.querySelectorAll('tr.rack').length, rows: document.querySelectorAll('tr').length,
         total: (document.getElementById('count-total') || {}).textContent };
"""


def fleet(args):
    d = driver()
    try:
        sign_in(d, args.link)
        loads = []
        for _ in range(args.loads):
            d.get(args.url + "/fleet")
            until("the fleet drawn", lambda: d.execute_script(TIMING))
            # The paint entry may be queued a moment after the load.
            loads.append(until("the first contentful paint", lambda: (lambda t: t if t and t["first_paint_ms"] is not None else None)(d.execute_script(TIMING)), 5))
        print(json.dumps({"loads": loads}))
    finally:
        d.quit()


POINTS = "return [...document.querySelectorAll('svg.probe-chart')].map((c) => +c.dataset.points)"


def points(d):
    """The points each chart of the page shows, once the page has drawn what it was
    pushed (charts are redrawn on the next animation frame)."""
    d.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
    return d.execute_script(POINTS)


def live(args):
    drivers = []
    try:
        for link in args.links.split(","):
            d = driver()
            drivers.append(d)
            sign_in(d, link)
            d.get(args.url + "/runs/" + args.run)
            until("the run's charts with points", lambda: (lambda p: len(p) >= 3 and min(p) > 0)(d.execute_script(POINTS)))
        before = [points(d) for d in drivers]
        t0 = time.monotonic()
        print("ready", flush=True)
        time.sleep(args.hold)
        after = [points(d) for d in drivers]
        held = time.monotonic() - t0
        live_dots = [d.execute_script("return document.getElementById('live').classList.contains('on')") for d in drivers]
        print(json.dumps({"browsers": len(drivers), "held_s": held, "points_before": before, "points_after": after,
                          "streams_open": live_dots}), flush=True)
    finally:
        for d in drivers:
            d.quit()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["fleet", "live"])
    p.add_argument("--url", required=True)
    p.add_argument("--link")
    p.add_argument("--links")
    p.add_argument("--run")
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--hold", type=float, default=15)
    args = p.parse_args()
    if args.mode == "fleet":
        fleet(args)
    else:
        live(args)


if __name__ == "__main__":
    main()
