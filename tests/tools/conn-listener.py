#!/usr/bin/python3
"""conn-listener — a TCP listener that records connections and never answers.

    conn-listener.py LOG

Listens on 127.0.0.1 on a free port, prints the port on the first line of stdout,
and appends to LOG "open <unix time> <connections open>" when a connection comes
and "close <unix time> <connections open>" when its peer closes it. It reads and
drops what it is sent and never writes: a webhook receiver that hangs, or the
place nothing may ever connect to. Closes are taken before new connections that
are ready at the same time, so a client that closes one connection and then
opens the next is never counted twice.
"""
import selectors
import socket
import sys
import time

log_path = sys.argv[1]
sel = selectors.DefaultSelector()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
sel.register(server, selectors.EVENT_READ)
print(server.getsockname()[1], flush=True)
open_now = 0


def note(what):
    with open(log_path, "a") as f:
        f.write("%s %.3f %d\n" % (what, time.time(), open_now))


while True:
    ready = [key.fileobj for key, _ in sel.select()]
    for conn in ready:
        if conn is server:
            continue
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn)
            conn.close()
            open_now -= 1
            note("close")
    if server in ready:
        conn, _ = server.accept()
        sel.register(conn, selectors.EVENT_READ)
        open_now += 1
        note("open")
