"""The senders of benches/bgp_bench.py, each started in the sender namespace
with the same N /32 routes to announce to the receiving FRR: kroute (routes
from LoadBalancer services in a manifests dir), gobgpd (routes added over its
gRPC API by benches/gobgp-inject) and BIRD (routes in its config).

A sender's `prepare` writes everything it needs (not timed); `start` starts
its processes (the clock runs from there) and returns the pids whose memory
counts."""
import os
import subprocess

import bgp_manifests

SENDER_IP, FRR_IP = "10.99.0.1", "10.99.0.2"
LOCAL_ASN, FRR_ASN = 64512, 65002
GOBGP_API = "127.0.0.1:50051"


class Sender:
    name = ""

    def __init__(self, ns: str, workdir: str):
        self.ns, self.dir = ns, workdir
        self.procs: list[subprocess.Popen] = []

    def spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        out = open(os.path.join(self.dir, log), "w")
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        self.procs.append(p)
        return p

    def write(self, name: str, text: str) -> str:
        """Writes `name` in the sender's work dir; its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def prepare(self, n: int) -> None:
        raise NotImplementedError

    def start(self) -> list[int]:
        raise NotImplementedError

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def note(self) -> str:
        """What the sender's own log says worth keeping (read after `stop`)."""
        return ""

    def exited(self) -> str | None:
        """Why the sender is gone early (its first process exited), else None."""
        p = self.procs[0] if self.procs else None
        if p is not None and p.poll() is not None:
            return f"{self.name} exited with {p.returncode} (log in {self.dir})"
        return None


class Kroute(Sender):
    """`kroute run` on a manifests dir: N/10 LoadBalancer services x 10
    ingress IPs, bgp enabled, FRR as the one global peer; the proxy
    disabled (`proxy.enabled: false`: no nftables programming is timed)
    unless `proxy` is set (then the services are programmed into the sender
    namespace's nftables as well)."""

    name = "kroute"
    INGRESS_PER_SERVICE = 10

    def __init__(self, ns: str, workdir: str, binary: str, proxy: bool):
        super().__init__(ns, workdir)
        self.binary, self.proxy = binary, proxy

    def prepare(self, n: int) -> None:
        per = self.INGRESS_PER_SERVICE
        if n % per:
            raise SystemExit(f"kroute: {n} routes is not a multiple of {per} ingress IPs per service")
        manifests = os.path.join(self.dir, "manifests")
        bgp_manifests.write(manifests, n // per, per, SENDER_IP)
        proxy = (
            "{enabled: true, clusterCIDRs: [10.128.0.0/9], serviceCIDRs: [10.96.0.0/16]}"
            if self.proxy
            else "{enabled: false}"
        )
        self.config = self.write(
            "kroute.yaml",
            f"nodeName: node-a\n"
            f"source: {{manifests: {manifests}}}\n"
            f"proxy: {proxy}\n"
            f"health: {{address: '127.0.0.1:10256'}}\n"
            f"metrics: {{address: '127.0.0.1:10249'}}\n"
            f"admin: {{socket: {os.path.join(self.dir, 'kroute.sock')}}}\n"
            f"bgp:\n"
            f"  enabled: true\n"
            f"  asn: {LOCAL_ASN}\n"
            f"  routerId: {SENDER_IP}\n"
            f"  listenAddresses: [{SENDER_IP}]\n"
            f"  advertise: {{clusterIP: false, externalIP: false, loadBalancerIP: true, podCIDR: false}}\n"
            f"  gracefulRestart: {{enabled: false}}\n"
            f"  peers: [{{address: {FRR_IP}, asn: {FRR_ASN}}}]\n",
        )

    def start(self) -> list[int]:
        return [self.spawn([self.binary, "run", "--config", self.config], "kroute.log").pid]


class Gobgp(Sender):
    """gobgpd with FRR as its neighbor; benches/gobgp-inject adds the N
    routes over gRPC (AddPathStream) as soon as gobgpd's API answers."""

    name = "gobgpd"

    def __init__(self, ns: str, workdir: str, injector: str):
        super().__init__(ns, workdir)
        self.injector = injector

    def prepare(self, n: int) -> None:
        self.n = n
        self.config = self.write(
            "gobgpd.toml",
            f'[global.config]\n  as = {LOCAL_ASN}\n  router-id = "{SENDER_IP}"\n'
            f'  local-address-list = ["{SENDER_IP}"]\n'
            f'[[neighbors]]\n  [neighbors.config]\n'
            f'    neighbor-address = "{FRR_IP}"\n    peer-as = {FRR_ASN}\n',
        )

    def start(self) -> list[int]:
        gobgpd = self.spawn(
            ["gobgpd", "-f", self.config, "-t", "toml", "--api-hosts", GOBGP_API, "-l", "warn"],
            "gobgpd.log",
        )
        first = bgp_manifests.FIRST_ROUTE
        self.spawn(
            [self.injector, "-api", GOBGP_API, "-first", str(first), "-count", str(self.n),
             "-nexthop", SENDER_IP],
            "inject.log",
        )
        return [gobgpd.pid]

    def note(self) -> str:
        with open(os.path.join(self.dir, "inject.log")) as f:
            return f.read().strip()


class Bird(Sender):
    """BIRD 2 with the N routes as `blackhole` statics exported to FRR."""

    name = "BIRD"

    def prepare(self, n: int) -> None:
        routes = "".join(f"  route {p} blackhole;\n" for p in bgp_manifests.route_prefixes(n))
        self.config = self.write(
            "bird.conf",
            f"router id {SENDER_IP};\nprotocol device {{}}\n"
            f"protocol static announced {{\n  ipv4;\n{routes}}}\n"
            f"protocol bgp frr {{\n  local {SENDER_IP} as {LOCAL_ASN};\n"
            f"  neighbor {FRR_IP} as {FRR_ASN};\n"
            f"  ipv4 {{ import none; export where source = RTS_STATIC; next hop self; }};\n}}\n",
        )

    def start(self) -> list[int]:
        sock, pid = os.path.join(self.dir, "bird.ctl"), os.path.join(self.dir, "bird.pid")
        return [self.spawn(["bird", "-f", "-c", self.config, "-s", sock, "-P", pid], "bird.log").pid]
