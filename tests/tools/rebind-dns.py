#!/usr/bin/python3
"""rebind-dns — a tiny hostile DNS server (UDP, A and AAAA) for the webhook attack tests.

    rebind-dns.py ADDRESS LOG [PUBLIC]

Answers on ADDRESS port 53 and appends one line per query to LOG:
"<name> <type> <answer>". Names (case-insensitive, TTL 0):

    *.rebind.test   A: PUBLIC (default 93.184.216.34) the first time the name is
                    asked, 127.0.0.1 every later time (DNS rebinding); AAAA: none
    *.mapped.test   AAAA: ::ffff:127.0.0.1; A: none
    anything else   NXDOMAIN

Prints "ready" on stdout once it listens.
"""
import socket
import struct
import sys

address, log_path = sys.argv[1], sys.argv[2]
public = sys.argv[3] if len(sys.argv) > 3 else "93.184.216.34"
A, AAAA = 1, 28
asked = {}


def parse_question(msg):
    """(name, qtype, end of the question) of the first question."""
    labels, i = [], 12
    while msg[i]:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, _qclass = struct.unpack("!HH", msg[i + 1:i + 5])
    return ".".join(labels).lower(), qtype, i + 5


def answer(name, qtype):
    """(rcode, rdata or None, text for the log)."""
    if name.endswith(".rebind.test"):
        if qtype != A:
            return 0, None, "-"
        asked[name] = asked.get(name, 0) + 1
        addr = public if asked[name] == 1 else "127.0.0.1"
        return 0, socket.inet_pton(socket.AF_INET, addr), addr
    if name.endswith(".mapped.test"):
        if qtype != AAAA:
            return 0, None, "-"
        return 0, socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1"), "::ffff:127.0.0.1"
    return 3, None, "NXDOMAIN"


def reply(msg):
    qid, flags = struct.unpack("!HH", msg[:4])
    name, qtype, end = parse_question(msg)
    rcode, rdata, text = answer(name, qtype)
    with open(log_path, "a") as f:
        f.write("%s %s %s\n" % (name, {A: "A", AAAA: "AAAA"}.get(qtype, str(qtype)), text))
    out = struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1, 1 if rdata else 0, 0, 0)
    out += msg[12:end]
    if rdata:
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 0, len(rdata)) + rdata
    return out


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, 53))
print("ready", flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    try:
        sock.sendto(reply(data), peer)
    except (IndexError, struct.error, UnicodeError):
        pass
