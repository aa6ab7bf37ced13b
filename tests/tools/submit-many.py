#!/usr/bin/python3
"""submit-many — submit many jobs fast: keep-alive connections in a few threads.

    submit-many.py URL KEYS N BODY [CONNECTIONS]

POSTs BODY (a JSON job) N times to URL/v1/jobs over CONNECTIONS (default 4)
keep-alive connections, the API keys of KEYS (a file, one key a line) taken in
turn. A 429 or 503 is sent again after its Retry-After (1 s at most); any other
answer but 202 ends the run with exit 1. Prints the ids of the jobs accepted,
one a line, and on stderr the seconds the whole took.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    url, keys_file, n, body = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    keys = [k.strip() for k in open(keys_file) if k.strip()]
    if not keys:
        sys.stderr.write("submit-many: no API key in %s\n" % keys_file)
        return 2
    u = urllib.parse.urlsplit(url)
    lock = threading.Lock()
    state = {"next": 0, "ids": [], "error": None}

    def take():
        with lock:
            if state["error"] or state["next"] >= n:
                return None
            i = state["next"]
            state["next"] += 1
            return i

    def run():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        while True:
            i = take()
            if i is None:
                break
            key = keys[i % len(keys)]
            while True:
                try:
                    c.request("POST", "/v1/jobs", body=body, headers={
                        "Authorization": "Bearer " + key, "Content-Type": "application/json"})
                    r = c.getresponse()
                    data = r.read()
                except (http.client.HTTPException, OSError):
                    c.close()
                    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                    time.sleep(0.1)
                    continue
                if r.status in (429, 503):
                    time.sleep(min(1.0, float(r.getheader("Retry-After") or 1)))
                    continue
                break
            if r.status != 202:
                with lock:
                    state["error"] = "job %d: HTTP %d: %s" % (i, r.status, data[:200])
                break
            with lock:
                state["ids"].append(json.loads(data)["id"])
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write("".join(i + "\n" for i in state["ids"]))
    sys.stderr.write("submitted %d in %.2f s\n" % (len(state["ids"]), time.monotonic() - t0))
    if state["error"]:
        sys.stderr.write(state["error"] + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
