"""The receiving side of benches/bgp_bench.py: two network namespaces joined
by a veth (sender 10.99.0.1 <-> FRR 10.99.0.2) and FRR's bgpd in the second,
passive towards the sender (so a sender's own connect timing is measured),
queried with vtysh."""
import json
import os
import re
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

    def vtysh(self, command: str) -> dict:
        out = subprocess.run(
            ["vtysh", "--vty_socket", self.dir, "-c", command],
            capture_output=True,
            check=False,
        ).stdout
        try:
            return json.loads(out)
        except ValueError:
            return {}

    def peer(self) -> dict | None:
        """FRR's summary of the sender's session (state, pfxRcd), None before bgpd answers."""
        return self.vtysh("show bgp ipv4 unicast summary json").get("peers", {}).get(SENDER_IP)

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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
