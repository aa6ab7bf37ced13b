#!/usr/bin/python3
"""burst.py — submit a burst of jobs through the REST API (used by t0800-faults.sh).

  burst.py OUT N [--probe KEY] [--probes M] [--threads T] [--rate R] [--tag TAG]

Submits N noop jobs (and M media.probe jobs of the uploaded KEY, spread through the
burst) with T client threads, each on its own keep-alive connection. Every answer is
written to OUT as one JSON line: {"n", "status", "id", "valid", "detail"} where status
is the HTTP status (0 when no answer came: connection refused or reset before any
byte) and valid says whether the answer was complete and well formed (a 202 with a job
id and status "queued", or any other status with a JSON error body). Prints a summary
line "sent=N accepted=N unavailable=N refused=N invalid=N". With --tag, request n carries
"Idempotency-Key: TAG-n", so jobs stored without a 202 reaching the client can be found.
Only stdlib.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def main():
    args = sys.argv[1:]
    out, n = args[0], int(args[1])
    opts = dict(zip(args[2::2], args[3::2]))
    probe_key = opts.get('--probe')
    probes = int(opts.get('--probes', '0')) if probe_key else 0
    threads = int(opts.get('--threads', '4'))
    tag = opts.get('--tag')
    rate = float(opts.get('--rate', '0'))  # jobs per second over all threads, 0 = as fast as possible
    url = urllib.parse.urlsplit(os.environ['SPOOL_API_URL'])
    key = os.environ['SPOOL_API_KEY']
    total = n + probes
    # which submissions are probes: spread evenly
    probe_at = set()
    if probes:
        step = total / probes
        probe_at = {int(i * step + step / 2) for i in range(probes)}
    lock = threading.Lock()
    nxt = [0]
    rows = []
    t0 = time.monotonic()

    def take():
        with lock:
            i = nxt[0]
            if i >= total:
                return -1
            nxt[0] += 1
            return i

    def body_for(i):
        if i in probe_at:
            return {'type': 'media.probe', 'source': {'key': probe_key}}
        return {'type': 'noop'}

    def one(conn, i):
        body = json.dumps(body_for(i))
        headers = {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'}
        if tag:
            headers['Idempotency-Key'] = '%s-%d' % (tag, i)
        conn.request('POST', '/v1/jobs', body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()  # raises IncompleteRead on a truncated body
        row = {'n': i, 'status': resp.status, 'id': None, 'valid': False, 'type': body_for(i)['type'],
               'close': resp.will_close}
        try:
            doc = json.loads(data)
        except ValueError:
            row['detail'] = 'body is not JSON: %r' % data[:200]
            return row
        if resp.status == 202:
            jid = doc.get('id') if isinstance(doc, dict) else None
            row['valid'] = isinstance(jid, str) and len(jid) == 36 and doc.get('status') == 'queued'
            row['id'] = jid
            if not row['valid']:
                row['detail'] = 'bad 202 body: %r' % data[:200]
        else:
            row['valid'] = isinstance(doc, dict) and isinstance(doc.get('error'), dict)
            if not row['valid']:
                row['detail'] = 'bad error body: %r' % data[:200]
            else:
                row['detail'] = doc['error'].get('code')
        return row

    def run():
        conn = None
        while True:
            i = take()
            if i < 0:
                break
            if rate > 0:
                wait = t0 + i / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            try:
                row = one(conn, i)
                if row.get('close'):
                    conn.close()
                    conn = None
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
                    http.client.RemoteDisconnected) as e:
                # no answer at all: the request was not accepted
                row = {'n': i, 'status': 0, 'id': None, 'valid': True, 'detail': type(e).__name__,
                       'type': body_for(i)['type']}
                conn.close()
                conn = None
                time.sleep(0.05)
            except Exception as e:  # a partial answer, a timeout: a broken response
                row = {'n': i, 'status': -1, 'id': None, 'valid': False, 'detail': repr(e),
                       'type': body_for(i)['type']}
                conn.close()
                conn = None
            row.pop('close', None)
            with lock:
                rows.append(row)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rows.sort(key=lambda r: r['n'])
    with open(out, 'w') as f:
        for r in rows:
            f.write(json.dumps(r) + '\n')
    acc = sum(1 for r in rows if r['status'] == 202 and r['valid'])
    print('sent=%d accepted=%d unavailable=%d refused=%d invalid=%d secs=%.1f' % (
        len(rows), acc, sum(1 for r in rows if r['status'] == 503),
        sum(1 for r in rows if r['status'] == 0),
        sum(1 for r in rows if not r['valid']), time.monotonic() - t0))


if __name__ == '__main__':
    main()
