"""The receiving side of benches/bgp_bench.py: two network namespaces joined
by a veth (sender 10.99.0.1 <-> FRR 10.99.0.2) and FRR's bgpd in the second,
passive towards the sender (so a sender's own connect timing is measured),
queried over its vty socket (what vtysh
speaks)."""
import json
import os
import re
import socket
import subprocess
import time

from bgp_senders import FRR_ASN, FRR_IP, LOCAL_ASN, SENDER_IP


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


class Scene:
    """Namespaces `<prefix>s` (sender) and `<prefix>f` (FRR); removed by `close`."""

    def __init__(self, prefix: str):
        self.sender, self.frr = f"{prefix}s", f"{prefix}f"
        self.made: list[str] = []
        for ns in (self.sender, self.frr):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.sender, "link", "add", "s0", "type", "veth", "peer", "name", "f0",
           "netns", self.frr)
        for ns, dev, ip in ((self.sender, "s0", SENDER_IP), (self.frr, "f0", FRR_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def reset_sender(self) -> None:
        """Flushes the sender namespace's nftables: `kroute run` leaves its
        tables in place at exit, and the next run would time sweeping them."""
        sh("ip", "netns", "exec", self.sender, "nft", "flush", "ruleset")

    def close(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        self.made.clear()


ADJ_UP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) .*ADJCHANGE: neighbor \S+ .*\bUp\b")


class Frr:
    """A fresh bgpd (no zebra) in the FRR namespace, logging with ms stamps."""

    def __init__(self, ns: str, workdir: str):
        self.ns, self.dir = ns, workdir
        self.log = os.path.join(workdir, "bgpd.log")
        self.vty: socket.socket | None = None
        conf = os.path.join(workdir, "bgpd.conf")
        with open(conf, "w") as f:
            f.write(
                f"frr defaults traditional\nhostname receiver\n"
                f"log file {self.log}\nlog timestamp precision 3\n"
                f"router bgp {FRR_ASN}\n bgp router-id {FRR_IP}\n"
                f" bgp log-neighbor-changes\n no bgp ebgp-requires-policy\n"
                f" neighbor {SENDER_IP} remote-as {LOCAL_ASN}\n"
                f" neighbor {SENDER_IP} passive\n"
            )
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "/usr/lib/frr/bgpd", "-f", conf, "-Z", "-S",
             "--vty_socket", workdir, "-i", os.path.join(workdir, "bgpd.pid")],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(workdir, "bgpd.stderr"), "w"),
            stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while self.peer() is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"bgpd did not come up (logs in {workdir})")
            time.sleep(0.05)

    def show(self, command: str) -> dict:
        """A `show ... json` command over bgpd's vty socket, as vtysh sends it
        (the line and a NUL; the answer ends with three NULs and a status
        byte): a fraction of a millisecond, where spawning vtysh costs ~70 ms
        of CPU that FRR and the sender would miss."""
        if self.vty is None:
            try:
                self.vty = socket.socket(socket.AF_UNIX)
                self.vty.connect(os.path.join(self.dir, "bgpd.vty"))
            except OSError:
                self.vty = None
                return {}
        self.vty.sendall(command.encode() + b"\0")
        buf = b""
        while len(buf) < 4 or buf[-4:-1] != b"\0\0\0":
            chunk = self.vty.recv(65536)
            if not chunk:
                raise RuntimeError(f"bgpd closed its vty socket (logs in {self.dir})")
            buf += chunk
        try:
            return json.loads(buf[:-4])
        except ValueError:
            return {}

    def peer(self) -> dict | None:
        """FRR's summary of the sender's session (state, pfxRcd), None before bgpd answers."""
        return self.show("show bgp ipv4 unicast summary json").get("peers", {}).get(SENDER_IP)

    def established_at(self) -> float | None:
        """Wall-clock time of the session's `Up` in bgpd's log (ms precision)."""
        try:
            with open(self.log) as f:
                for line in f:
                    m = ADJ_UP.match(line)
                    if m:
                        stamp, frac = m.group(1).split(".")
                        secs = time.mktime(time.strptime(stamp, "%Y/%m/%d %H:%M:%S"))
                        return secs + float("0." + frac)
        except FileNotFoundError:
            pass
        return None

    def stop(self) -> None:
        if self.vty is not None:
            self.vty.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
