#!/usr/bin/python3
"""steady.py — a steady load of job submissions through the REST API, as a client that
retries (used by t0810-cluster-faults.sh).

  steady.py OUT STOPFILE --tag TAG [--rate R] [--threads T] [--every K --kind JSON]
            [--max-secs S]

Submits noop jobs at R a second (default 10) with T client threads (default 6), each
on its own keep-alive connection, until STOPFILE exists (or S seconds, default 600).
Submission n carries "Idempotency-Key: TAG-n". A submission that gets no answer
(connection refused, reset or closed, a timeout, a cut answer) or a 502/503/504 is
sent again with the same key after a short pause (0.2 s more each time, at most 2 s)
until it gets another answer or 120 s have passed since its first try. With --every
K, every K-th submission has the body JSON (e.g. a media job) instead.

Every submission is written to OUT as one JSON line: {"n", "t" (wall clock of its
first try), "secs" (first try to final answer), "tries", "status" (the final HTTP
status; 0 none), "first" (the first try's status), "id", "valid", "errors" (what the
failed tries saw)}; valid says whether the final answer was complete and well formed
(a 202 or a 200 of the same key with a job id, or any other status with a JSON error
body). Prints a summary line "sent=N accepted=N retried=N unanswered=N invalid=N".
Only stdlib.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

RETRY_STATUS = (502, 503, 504)


def main():
    out, stopfile = sys.argv[1], sys.argv[2]
    opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    tag = opts['--tag']
    rate = float(opts.get('--rate', '10'))
    threads = int(opts.get('--threads', '6'))
    every = int(opts.get('--every', '0'))
    kind = json.loads(opts['--kind']) if every else None
    max_secs = float(opts.get('--max-secs', '600'))
    url = urllib.parse.urlsplit(os.environ['SPOOL_API_URL'])
    key = os.environ['SPOOL_API_KEY']
    lock = threading.Lock()
    nxt = [0]
    rows = []
    t0 = time.monotonic()

    def take():
        with lock:
            if os.path.exists(stopfile) or time.monotonic() - t0 > max_secs:
                return -1
            i = nxt[0]
            nxt[0] += 1
            return i

    def body_for(i):
        if every and i % every == every - 1:
            return kind
        return {'type': 'noop'}

    def attempt(conn, i):
        """one try: (status, doc or None, raw, will_close); raises on no/partial answer"""
        headers = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json',
                   'Idempotency-Key': '%s-%d' % (tag, i)}
        conn.request('POST', '/v1/jobs', body=json.dumps(body_for(i)), headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        return resp.status, doc, data, resp.will_close

    def submit(state, i):
        row = {'n': i, 't': time.time(), 'tries': 0, 'status': 0, 'first': None, 'id': None,
               'valid': False, 'errors': []}
        start = time.monotonic()
        while True:
            row['tries'] += 1
            status, doc, data = 0, None, b''
            try:
                if state['conn'] is None:
                    state['conn'] = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                status, doc, data, close = attempt(state['conn'], i)
                if close:
                    state['conn'].close()
                    state['conn'] = None
            except Exception as e:  # no answer, a cut one, a timeout
                row['errors'].append(type(e).__name__)
                if state['conn'] is not None:
                    state['conn'].close()
                state['conn'] = None
            if row['first'] is None:
                row['first'] = status
            if status in RETRY_STATUS:
                row['errors'].append(status)
            if (status == 0 or status in RETRY_STATUS) and time.monotonic() - start < 120:
                time.sleep(min(2.0, 0.2 * row['tries']))
                continue
            break
        row['secs'] = round(time.monotonic() - start, 3)
        row['status'] = status
        if status in (200, 202) and isinstance(doc, dict):
            jid = doc.get('id')
            row['id'] = jid
            row['valid'] = isinstance(jid, str) and len(jid) == 36
        elif status:
            row['valid'] = isinstance(doc, dict) and isinstance(doc.get('error'), dict)
            if not row['valid']:
                row['detail'] = repr(data[:200])
        return row

    def run():
        state = {'conn': None}
        while True:
            i = take()
            if i < 0:
                break
            wait = t0 + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            row = submit(state, i)
            with lock:
                rows.append(row)
        if state['conn'] is not None:
            state['conn'].close()

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rows.sort(key=lambda r: r['n'])
    with open(out, 'w') as f:
        for r in rows:
            f.write(json.dumps(r) + '\n')
    print('sent=%d accepted=%d retried=%d unanswered=%d invalid=%d secs=%.1f' % (
        len(rows), sum(1 for r in rows if r['status'] in (200, 202) and r['valid']),
        sum(1 for r in rows if r['tries'] > 1), sum(1 for r in rows if r['status'] == 0),
        sum(1 for r in rows if not r['valid']), time.monotonic() - t0))


if __name__ == '__main__':
    main()
