#!/usr/bin/python3
"""webhook-sink — a tiny HTTP receiver for the webhook tests.

    webhook-sink.py LOG [STATUSES]

Listens on 127.0.0.1 on a free port, prints the port on the first line of stdout,
and appends one JSON line per request to LOG: {"at", "path", "headers", "body",
"status"}. STATUSES (e.g. "500,200") are the answers to the first, second, ...
request; the last one repeats (default 200).
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_path = sys.argv[1]
statuses = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "200").split(",")]
lock = threading.Lock()
seen = 0


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        with lock:
            status = statuses[min(seen, len(statuses) - 1)]
            seen += 1
            with open(log_path, "a") as f:
                f.write(json.dumps({"at": time.time(), "path": self.path, "headers": dict(self.headers),
                                    "body": body, "status": status}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
