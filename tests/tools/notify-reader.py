#!/usr/bin/python3
"""notify-reader — the systemd notification socket of a daemon under test.

    notify-reader.py SOCKET LOG

Binds the Unix datagram socket SOCKET (give its path to the daemon as
NOTIFY_SOCKET) and appends each datagram to LOG as one line
"<monotonic seconds> <message>" (newlines of the message as spaces): READY=1,
WATCHDOG=1, STATUS=..., STOPPING=1. Runs until killed.
"""
import socket
import sys
import time

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        m = s.recv(4096).decode(errors="replace").replace("\n", " ")
        f.write("%.3f %s\n" % (time.monotonic(), m))
