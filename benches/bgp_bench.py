#!/usr/bin/env python3
"""BGP benchmark: N /32 routes announced to a receiving FRR 8.4 in a network
namespace by kroute, gobgpd and BIRD in turn, in the same run. Per sender and
size: time from the sender's process start to FRR holding all N routes, the
session's setup (start -> Established, from bgpd's log) and transfer
(Established -> FRR holds all), and the sender's peak RSS (VmHWM of its
processes). Root only; Python 3.11 standard library.

    go build -C benches/gobgp-inject -o /tmp/gobgp-inject .
    cargo build --release
    sudo python3 benches/bgp_bench.py --sizes 10000,30000,100000 --runs 3

Writes benches/results/bgp.md (table), bgp.svg (plot) and bgp.json (every
run), and prints the table. A sender whose binary is missing is left out
with a note (`--senders` picks them explicitly).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bgp_report  # noqa: E402
from bgp_frr import Frr, Scene  # noqa: E402
from bgp_senders import Bird, Gobgp, Kroute, Sender  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


class PeakRss:
    """Highest VmHWM seen per process of a sender's process trees; the
    sender's peak is their sum (an upper bound when children come and go)."""

    def __init__(self, roots: list[int]):
        self.roots, self.hwm = roots, {}

    def sample(self) -> None:
        todo = list(self.roots)
        while todo:
            pid = todo.pop()
            self.hwm[pid] = max(self.hwm.get(pid, 0), vm_hwm_kib(pid))
            todo += children(pid)

    def mib(self) -> float:
        return sum(self.hwm.values()) / 1024


def trial(sender: Sender, scene: Scene, n: int, poll: float, timeout: float, keep: str) -> dict:
    """One sender announcing n routes to a fresh FRR: the timings and peak RSS."""
    scene.reset_sender()
    frr = Frr(scene.frr, keep)
    try:
        sender.prepare(n)
        t0 = time.time()
        rss = PeakRss(sender.start())
        held, state, trace = 0, "", []
        while True:
            rss.sample()
            peer = frr.peer() or {}
            held, state = peer.get("pfxRcd", 0), peer.get("state", "")
            now = time.time()
            if not trace or trace[-1][2] != held or trace[-1][1] != state:
                trace.append((round(now - t0, 3), state, held))
            if held >= n:
                break
            if (why := sender.exited()) or now - t0 > timeout:
                raise RuntimeError(why or f"{sender.name}: FRR holds {held}/{n} after {timeout:.0f}s ({state})")
            time.sleep(poll)
        rss.sample()
        up = frr.established_at()
        return {
            "sender": sender.name,
            "routes": n,
            "total_s": now - t0,
            "setup_s": None if up is None else up - t0,
            "transfer_s": None if up is None else now - up,
            "peak_rss_mib": rss.mib(),
            "held": held,
            "trace": trace,
        }
    finally:
        sender.stop()
        frr.stop()


def machine() -> dict:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg()[0],
        "kroute_commit": rev,
        "frr": version(["/usr/lib/frr/bgpd", "--version"]),
        "gobgpd": version(["gobgpd", "--version"]),
        "bird": version(["bird", "--version"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,30000,100000", help="route counts, comma separated")
    ap.add_argument("--runs", type=int, default=1, help="runs per sender and size (median reported)")
    ap.add_argument("--senders", default="kroute,gobgpd,BIRD")
    ap.add_argument("--kroute", default=os.path.join(REPO, "target/release/kroute"))
    ap.add_argument("--kroute-proxy", choices=["on", "off"], default="on",
                    help="on: kroute programs the services into the sender namespace's nftables too "
                    "(proxy.enabled: true); off: proxy.enabled: false (BGP only)")
    ap.add_argument("--kroute-commit", help="the commit the kroute binary was built from (default: HEAD)")
    ap.add_argument("--injector", default="/tmp/gobgp-inject", help="benches/gobgp-inject, built")
    ap.add_argument("--poll", type=float, default=0.02, help="seconds between FRR polls")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--out", default=os.path.join(REPO, "benches/results"))
    ap.add_argument("--keep", action="store_true", help="keep every run's work dir (configs, logs)")
    ap.add_argument("--report-only", action="store_true", help="rewrite bgp.md and bgp.svg from bgp.json")
    args = ap.parse_args()
    if args.report_only:
        with open(os.path.join(args.out, "bgp.json")) as f:
            saved = json.load(f)
        write_report(args.out, saved["runs"], saved["machine"], saved["notes"])
        return
    if os.geteuid() != 0:
        raise SystemExit("bgp_bench: needs root (network namespaces)")
    sizes = [int(s) for s in args.sizes.split(",")]
    wanted = args.senders.split(",")
    notes = []
    binaries = {"kroute": args.kroute, "gobgpd": args.injector}
    for name, path in binaries.items():
        if name in wanted and not os.access(path, os.X_OK):
            notes.append(f"{name} left out: {path} is missing")
            wanted.remove(name)
    for tool in ("/usr/lib/frr/bgpd", "gobgpd", "bird"):
        if not shutil.which(tool):
            raise SystemExit(f"bgp_bench: {tool} is missing (scripts/install-packages.sh installs it)")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    info = machine()
    info["kroute_proxy"] = args.kroute_proxy == "on"
    if args.kroute_commit:
        info["kroute_commit"] = args.kroute_commit
    runs: list[dict] = []
    scene = Scene(f"bgpb{os.getpid()}")
    try:
        for r in range(args.runs):
            for n in sizes:
                for name in wanted:
                    work = tempfile.mkdtemp(prefix=f"bgpb-{name}-{n}-")
                    sender = {
                        "kroute": lambda: Kroute(scene.sender, work, args.kroute, args.kroute_proxy == "on"),
                        "gobgpd": lambda: Gobgp(scene.sender, work, args.injector),
                        "BIRD": lambda: Bird(scene.sender, work),
                    }[name]()
                    try:
                        res = trial(sender, scene, n, args.poll, args.timeout, work)
                        if note := sender.note():
                            res["note"] = note
                        if not args.keep:
                            shutil.rmtree(work)
                    except RuntimeError as e:
                        res = {"sender": name, "routes": n, "error": str(e)}
                    res["run"] = r
                    runs.append(res)
                    print(json.dumps({k: v for k, v in res.items() if k != "trace"}), flush=True)
    finally:
        scene.close()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bgp.json"), "w") as f:
        json.dump({"machine": info, "notes": notes, "runs": runs}, f, indent=1)
    write_report(args.out, runs, info, notes)


def write_report(out: str, runs: list[dict], info: dict, notes: list[str]) -> None:
    table = bgp_report.table(runs, info, notes, statistics.median)
    with open(os.path.join(out, "bgp.md"), "w") as f:
        f.write(table)
    with open(os.path.join(out, "bgp.svg"), "w") as f:
        f.write(bgp_report.svg(runs, info))
    print(table)
    print(f"wrote {out}/bgp.md, bgp.svg, bgp.json")


if __name__ == "__main__":
    main()
