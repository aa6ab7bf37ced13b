#!/usr/bin/python3
"""authflood.py — authenticated requests as fast as they go, for the attack suites.

  authflood.py URL [--key KEY | --keys FILE] [--sources A,B,…] [--count N] [--seconds S]

Each source address (default 127.0.0.1) gets one keep-alive connection bound to it,
in a thread of its own, and sends GET URL with "Authorization: Bearer KEY" until it has
sent N requests (default 100) or S seconds (default 10) have passed. With --keys, the
keys of FILE (one a line) are dealt out in order: source i sends keys i*N … i*N+N-1,
each once. Prints one JSON object: the count of each status, "sent", "seconds",
"retry_after" (the Retry-After values seen on 429s) and "bodies" (the first body of
each status). Only stdlib.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    opts = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    sources = opts.get('--sources', '127.0.0.1').split(',')
    count = int(opts.get('--count', '100'))
    seconds = float(opts.get('--seconds', '10'))
    keys = None
    if '--keys' in opts:
        with open(opts['--keys']) as f:
            keys = [line.strip() for line in f if line.strip()]
    path = url.path + ('?' + url.query if url.query else '')
    lock = threading.Lock()
    statuses, retry_after, bodies = {}, set(), {}
    deadline = time.monotonic() + seconds

    def run(i, src):
        conn = None
        for n in range(count):
            if time.monotonic() > deadline:
                break
            key = keys[(i * count + n) % len(keys)] if keys else opts['--key']
            st, ra, body = 0, None, b''
            for _ in range(2):  # one retry on a dropped keep-alive connection
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10,
                                                          source_address=(src, 0))
                    conn.request('GET', path, headers={'Authorization': 'Bearer ' + key})
                    resp = conn.getresponse()
                    body = resp.read()
                    st, ra = resp.status, resp.getheader('Retry-After')
                    if resp.getheader('Connection', '').lower() == 'close':
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException):
                    if conn:
                        conn.close()
                    conn = None
            with lock:
                statuses[str(st)] = statuses.get(str(st), 0) + 1
                bodies.setdefault(str(st), body.decode('utf-8', 'replace'))
                if st == 429:
                    retry_after.add(ra)
        if conn:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(sources)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = dict(statuses)
    out['sent'] = sum(statuses.values())
    out['seconds'] = round(time.monotonic() - t0, 3)
    out['retry_after'] = sorted(str(r) for r in retry_after)
    out['bodies'] = bodies
    print(json.dumps(out))


main()
