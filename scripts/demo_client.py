#!/usr/bin/env python3
"""Makes COUNT requests to IP:PORT over PROTO and prints who answered:

    demo_client.py PROTO IP PORT COUNT   ->   "backend-1 x4, backend-2 x6"

A failure is printed as "refused" or "timeout" (2 s per attempt).
"""
import collections
import socket
import sys


def once(proto, addr):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(2)
        try:
            s.connect(addr)
            if proto == "udp":
                s.send(b"who\n")
                return s.recv(1500).decode().strip()
            data = b""
            while chunk := s.recv(1500):
                data += chunk
            return data.decode().strip()
        except ConnectionRefusedError:
            return "refused"
        except (socket.timeout, TimeoutError):
            return "timeout"
        except OSError as e:
            return "error: " + e.strerror


def main(proto, ip, port, count):
    seen = collections.Counter(once(proto, (ip, int(port))) for _ in range(int(count)))
    print(", ".join(f"{who} x{n}" for who, n in sorted(seen.items())))


if __name__ == "__main__":
    main(*sys.argv[1:5])
