#!/usr/bin/env python3
"""A demo backend: answers every TCP connection and UDP datagram with its name.

    demo_backend.py NAME PROTO:PORT [PROTO:PORT ...]

Plain sockets on purpose (http.server may hang on a reverse DNS lookup).
"""
import socket
import sys
import threading


def serve_tcp(port, reply):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(reply)


def serve_udp(port, reply):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("0.0.0.0", port))
    while True:
        _, peer = srv.recvfrom(1500)
        srv.sendto(reply, peer)


def main(name, listens):
    reply = (name + "\n").encode()
    serve = {"tcp": serve_tcp, "udp": serve_udp}
    threads = []
    for spec in listens:
        proto, port = spec.split(":")
        t = threading.Thread(target=serve[proto], args=(int(port), reply), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
