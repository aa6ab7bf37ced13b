#!/usr/bin/python3
"""unix-relay — join loopback TCP ports of two network namespaces through Unix sockets.

    unix-relay.py SPEC...

Each SPEC is either "tcp:PORT=unix:PATH" (listen on 127.0.0.1:PORT, pass each
connection to the Unix socket PATH) or "unix:PATH=tcp:PORT" (listen on the Unix
socket PATH, pass each connection to 127.0.0.1:PORT). A file system is shared
between namespaces where a network is not: one relay in each namespace, the two
ends meeting at PATH, lets a process in a namespace of its own reach a service
of the host's loopback (or the other way round). Prints "ready" once every
listener is open.
"""
import os
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def connect(target):
    kind, where = target.split(":", 1)
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX)
        s.connect(where)
    else:
        s = socket.create_connection(("127.0.0.1", int(where)))
    return s


def serve(listener, target):
    while True:
        client, _ = listener.accept()
        try:
            upstream = connect(target)
        except OSError:
            client.close()
            continue
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


def listen(source):
    kind, where = source.split(":", 1)
    if kind == "unix":
        if os.path.exists(where):
            os.unlink(where)
        s = socket.socket(socket.AF_UNIX)
        s.bind(where)
    else:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(where)))
    s.listen(128)
    return s


threads = []
for spec in sys.argv[1:]:
    source, target = spec.split("=", 1)
    threads.append(threading.Thread(target=serve, args=(listen(source), target), daemon=True))
for t in threads:
    t.start()
print("ready", flush=True)
for t in threads:
    t.join()
