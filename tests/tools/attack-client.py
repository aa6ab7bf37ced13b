#!/usr/bin/python3
"""attack-client — hostile HTTP clients for the connection attack suite (t1130).

    attack-client.py slowloris PORT SRC N SECONDS
        N connections from SRC that trickle a request header, one byte per
        connection every 0.25 s, for SECONDS; prints {"closed": [seconds after
        the start at which each was closed, sorted], "answered": k, "open": k}.

    attack-client.py uploads PORT KEY N MIB SRC[,SRC...] SECONDS [PID]
        N POST /v1/videos announcing 64 MiB, from the SRC addresses in turn; the
        ones not answered within 0.3 s send MIB MiB and then nothing; watched for
        SECONDS. Prints {"status": {code: count}, "retry_after": [values],
        "admitted": k, "cut_after": [seconds from the last byte sent to the close,
        sorted], "open": k, "rss_peak_kb": VmRSS peak of PID (0 without)}.

    attack-client.py xff PORT CAP N
        CAP idle connections from 127.0.0.2, then one more from there that sends
        X-Forwarded-For: 198.51.100.99; then N connections from 127.0.0.3, each
        sending GET /health with X-Forwarded-For: 198.51.100.I and X-Request-Id:
        t1130-xff-I. Prints {"over_cap": "closed" or the status, "trusted": [statuses]}.

Every address is on the loopback; the server is 127.0.0.1:PORT.
"""
import json
import os
import socket
import sys
import time


def connect(port, src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def peek(s):
    """b'' when the peer closed, the bytes it sent, or None when nothing came yet."""
    try:
        return s.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def status_of(data):
    line = data.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) > 1 else "?"


def header_of(data, name):
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


def rss_kb(pid):
    if not pid:
        return 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slowloris(port, src, n, seconds):
    socks = [connect(port, src) for _ in range(n)]
    for s in socks:
        s.setblocking(False)
    header = b"GET /health HTTP/1.1\r\nHost: t1130\r\nX-Slow: "
    t0 = time.monotonic()
    closed, answered, pos = {}, 0, 0
    while time.monotonic() - t0 < seconds and len(closed) < n:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            d = peek(s)
            if d is None:
                try:
                    s.send(header[pos:pos + 1] if pos < len(header) else b"a")
                    continue
                except OSError:
                    d = b""
            answered += 1 if d else 0
            closed[i] = round(time.monotonic() - t0, 2)
        pos += 1
        time.sleep(0.25)
    print(json.dumps({"closed": sorted(closed.values()), "answered": answered, "open": n - len(closed)}))


def uploads(port, key, n, mib, srcs, seconds, pid):
    head = (f"POST /v1/videos HTTP/1.1\r\nHost: t1130\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: video/mp4\r\nContent-Length: {64 << 20}\r\n\r\n").encode()
    socks = []
    for i in range(n):
        s = connect(port, srcs[i % len(srcs)])
        s.sendall(head)
        socks.append(s)
    time.sleep(0.3)
    status, retry, admitted = {}, [], []
    for s in socks:
        s.setblocking(False)
        d = peek(s)
        if d is None:
            admitted.append(s)
            continue
        code = status_of(d) if d else "closed"
        status[code] = status.get(code, 0) + 1
        if d and header_of(d, "Retry-After") is not None:
            retry.append(header_of(d, "Retry-After"))
        s.close()
    chunk = os.urandom(1 << 20)
    last = {}
    for s in admitted:
        s.setblocking(True)
        s.settimeout(10)
        for _ in range(mib):
            s.sendall(chunk)
        s.setblocking(False)
        last[s] = time.monotonic()
    peak, cut, t0 = rss_kb(pid), {}, time.monotonic()
    while time.monotonic() - t0 < seconds and len(cut) < len(admitted):
        for s in admitted:
            if s not in cut and peek(s) is not None:
                cut[s] = round(time.monotonic() - last[s], 2)
        peak = max(peak, rss_kb(pid))
        time.sleep(0.1)
    print(json.dumps({"status": status, "retry_after": retry, "admitted": len(admitted),
                      "cut_after": sorted(cut.values()), "open": len(admitted) - len(cut),
                      "rss_peak_kb": peak}))


def request(s, xff, rid):
    s.settimeout(5)
    try:
        s.sendall((f"GET /health HTTP/1.1\r\nHost: t1130\r\nX-Forwarded-For: {xff}\r\n"
                   f"X-Request-Id: {rid}\r\nConnection: close\r\n\r\n").encode())
        d = s.recv(65536)
    except OSError:
        d = b""
    return status_of(d) if d else "closed"


def xff(port, cap, n):
    held = [connect(port, "127.0.0.2") for _ in range(cap)]
    time.sleep(0.2)
    over = request(connect(port, "127.0.0.2"), "198.51.100.99", "t1130-xff-over")
    for s in held:
        s.close()
    trusted = [connect(port, "127.0.0.3") for _ in range(n)]
    statuses = [request(s, f"198.51.100.{i}", f"t1130-xff-{i}") for i, s in enumerate(trusted)]
    print(json.dumps({"over_cap": over, "trusted": statuses}))


def main(argv):
    cmd, port = argv[1], int(argv[2])
    if cmd == "slowloris":
        slowloris(port, argv[3], int(argv[4]), float(argv[5]))
    elif cmd == "uploads":
        uploads(port, argv[3], int(argv[4]), int(argv[5]), argv[6].split(","), float(argv[7]),
                int(argv[8]) if len(argv) > 8 else 0)
    elif cmd == "xff":
        xff(port, int(argv[3]), int(argv[4]))
    else:
        sys.exit(f"attack-client: unknown command '{cmd}'")


if __name__ == "__main__":
    main(sys.argv)
