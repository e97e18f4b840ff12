#!/usr/bin/env python3
"""API load for scripts/soak.sh: a steady, bounded mix of what dashboards,
pollers and operators do to a streamsight server, for a fixed time.

  soak-load.py --port P --streams a,b,c --seconds S [--rate R]
               [--only pollers,snapshot,sse,operator]

Threads (each on its own keep-alive connection unless noted):
  2 pollers    GET stats, the stream list, one stream, its latest
               prediction, its recent history, /metrics, /healthz, /readyz:
               R requests/s in all (default 100)
  1 snapshot   GET a snapshot.jpg every 0.5 s, then POST it to
               /api/v1/classify (the image decode path) every other time
  2 SSE        /api/v1/events and one stream's events: read for 5 s, hang
               up, connect again (the hub's client add/remove path)
  1 operator   every 3 s toggles the last stream off/on (PATCH: its
               pipeline is torn down and rebuilt), and every 12 s adds an
               extra test stream that it deletes 6 s later (POST/DELETE)

Exits 0 after S seconds and prints one JSON line: requests by status class,
errors (5xx answers, connection failures, timeouts) with the first few
messages, SSE events received. Standard library only.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--streams", required=True)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--only", default="pollers,snapshot,sse,operator",
                help="the parts of the load to run (to find which one a "
                     "server's growth follows)")
args = ap.parse_args()

streams = [s for s in args.streams.split(",") if s]
deadline = time.monotonic() + args.seconds
lock = threading.Lock()
counts = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "503_expected": 0,
          "failed": 0, "sse_events": 0, "sse_connections": 0}
# 503 answers that are the API's contract, not failures: /readyz while a
# stream just added (or enabled again) has not started, and a snapshot of
# the stream the operator thread has just disabled.
EXPECTED_503 = ("/readyz", "/snapshot.jpg")
errors = []


def note(key, msg=None):
    with lock:
        counts[key] += 1
        if msg and len(errors) < 10:
            errors.append(msg)


def request(conn, method, path, body=None, headers=None):
    """One request on conn; returns (status, body) or None on failure (the
    connection is then reset)."""
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        note("failed", "%s %s: %s" % (method, path, e))
        conn.close()
        return None
    cls = "%dxx" % (r.status // 100)
    if r.status == 503 and path.endswith(EXPECTED_503):
        note("503_expected")
    elif cls in counts:
        note(cls, "%s %s: %d %s" % (method, path, r.status, data[:200])
             if r.status >= 500 else None)
    return r.status, data


def new_conn(timeout=10):
    return http.client.HTTPConnection("127.0.0.1", args.port, timeout=timeout)


def poller(seed):
    rnd = random.Random(seed)
    conn = new_conn()
    paths = ["/api/v1/stats", "/api/v1/streams", "/metrics", "/healthz",
             "/readyz"]
    for s in streams:
        paths += ["/api/v1/streams/%s" % s,
                  "/api/v1/streams/%s/predictions/latest" % s,
                  "/api/v1/streams/%s/predictions?limit=10" % s]
    interval = 2.0 / args.rate  # two pollers share the rate
    nxt = time.monotonic()
    while time.monotonic() < deadline:
        request(conn, "GET", rnd.choice(paths))
        nxt += interval
        time.sleep(max(0.0, nxt - time.monotonic()))


def snapshotter():
    conn = new_conn()
    n = 0
    while time.monotonic() < deadline:
        s = streams[n % len(streams)]
        r = request(conn, "GET", "/api/v1/streams/%s/snapshot.jpg" % s)
        if r and r[0] == 200 and n % 2 == 0:
            request(conn, "POST", "/api/v1/classify?top_k=3", body=r[1],
                    headers={"Content-Type": "image/jpeg"})
        n += 1
        time.sleep(0.5)


def sse(path):
    while time.monotonic() < deadline:
        conn = new_conn(timeout=20)
        try:
            conn.request("GET", path, headers={"Accept": "text/event-stream"})
            r = conn.getresponse()
            if r.status != 200:
                note("%dxx" % (r.status // 100), "GET %s: %d" % (path, r.status)
                     if r.status >= 500 else None)
                r.read()
                time.sleep(1)
                continue
            note("sse_connections")
            until = min(deadline, time.monotonic() + 5)
            while time.monotonic() < until:
                line = r.fp.readline()
                if not line:
                    note("failed", "GET %s: the server ended the stream" % path)
                    break
                if line.startswith(b"data:"):
                    note("sse_events")
        except (OSError, http.client.HTTPException) as e:
            note("failed", "GET %s: %s" % (path, e))
            time.sleep(1)
        finally:
            conn.close()


def operator():
    conn = new_conn()
    last = streams[-1]
    enabled = True
    extra = False
    i = 0
    while time.monotonic() < deadline:
        enabled = not enabled
        request(conn, "PATCH", "/api/v1/streams/%s" % last,
                body=json.dumps({"enabled": enabled}),
                headers={"Content-Type": "application/json"})
        if i % 4 == 0:  # every 12 s, for 6 s
            body = json.dumps({"id": "soak-extra", "name": "soak-extra",
                               "uri": "test:", "pattern": "smpte",
                               "max_fps": 2})
            r = request(conn, "POST", "/api/v1/streams", body=body,
                        headers={"Content-Type": "application/json"})
            extra = r is not None and r[0] == 201
        elif i % 4 == 2 and extra:
            request(conn, "DELETE", "/api/v1/streams/soak-extra")
            extra = False
        time.sleep(3)
        i += 1
    # Leave the streams as they were found.
    if not enabled:
        request(conn, "PATCH", "/api/v1/streams/%s" % last,
                body=json.dumps({"enabled": True}),
                headers={"Content-Type": "application/json"})
    if extra:
        request(conn, "DELETE", "/api/v1/streams/soak-extra")


only = set(args.only.split(","))
threads = []
if "pollers" in only:
    threads += [threading.Thread(target=poller, args=(i,)) for i in range(2)]
if "snapshot" in only:
    threads.append(threading.Thread(target=snapshotter))
if "sse" in only:
    threads.append(threading.Thread(target=sse, args=("/api/v1/events",)))
    threads.append(threading.Thread(
        target=sse, args=("/api/v1/streams/%s/events" % streams[0],)))
if "operator" in only:
    threads.append(threading.Thread(target=operator))
for th in threads:
    th.daemon = True
    th.start()
for th in threads:
    th.join(args.seconds + 30)
out = dict(counts)
out["errors"] = errors
out["requests"] = sum(counts[k] for k in ("2xx", "3xx", "4xx", "5xx",
                                          "503_expected"))
print(json.dumps(out))
sys.exit(0)
