"""benches/bgp_bench.py's results as a markdown table and an SVG plot."""
import statistics
from collections.abc import Callable

from bgp_svg import Panel, Series, chart

ORDER = ["kroute", "gobgpd", "BIRD"]
COLOUR = {"kroute": "#d62728", "gobgpd": "#1f77b4", "BIRD": "#2ca02c"}


def grouped(runs: list[dict]) -> dict[tuple[int, str], list[dict]]:
    out: dict[tuple[int, str], list[dict]] = {}
    for r in runs:
        out.setdefault((r["routes"], r["sender"]), []).append(r)
    return out


def cell(values: list[float], avg: Callable, unit: str, digits: int) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit}"
    lo, hi = min(values), max(values)
    return f"{avg(values):.{digits}f} {unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def ok(rs: list[dict], key: str) -> list[float]:
    return [r[key] for r in rs if r.get(key) is not None]


def ingest_limit(runs: list[dict]) -> dict[int, float]:
    """Per size, FRR's ingest limit: the fastest transfer of any sender."""
    out: dict[int, float] = {}
    for r in runs:
        t = r.get("transfer_s")
        if t is not None:
            out[r["routes"]] = min(out.get(r["routes"], t), t)
    return out


def table(runs: list[dict], info: dict, notes: list[str], avg: Callable) -> str:
    groups = grouped(runs)
    limit = ingest_limit(runs)
    n_runs = max((r["run"] for r in runs), default=0) + 1
    head = (
        f"{info['date']}, kroute built from {info['kroute_commit']}, {info['frr']}, {info['gobgpd']}, "
        f"{info['bird']}; kernel {info['kernel']}, {info['cpus']} CPUs, load {info['loadavg_at_start']:.2f} "
        f"at start; kroute with proxy.enabled: {str(info.get('kroute_proxy', False)).lower()}; "
        f"{n_runs} run(s) each, median (min–max).\n\n"
    )
    rows = [
        "| routes | sender | total: start → FRR holds all | setup: start → Established | "
        "transfer: Established → FRR holds all | FRR ingest limit (fastest transfer) | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sorted({k[0] for k in groups}):
        for name in sorted({k[1] for k in groups if k[0] == n}, key=ORDER.index):
            rs = groups[(n, name)]
            errors = [r["error"] for r in rs if "error" in r]
            lim = f"{limit[n]:.2f} s" if n in limit else "–"
            rows.append(
                f"| {n:,} | {name} | {cell(ok(rs, 'total_s'), avg, 's', 2)} | "
                f"{cell(ok(rs, 'setup_s'), avg, 's', 2)} | {cell(ok(rs, 'transfer_s'), avg, 's', 2)} | "
                f"{lim} | {cell(ok(rs, 'peak_rss_mib'), avg, 'MiB', 0)} |"
                + (f" failed: {'; '.join(errors)}" if errors else "")
            )
    tail = "".join(f"\n- {n}" for n in notes)
    return head + "\n".join(rows) + "\n" + (tail + "\n" if tail else "")


def svg(runs: list[dict], info: dict) -> str:
    groups = grouped(runs)
    senders = sorted({k[1] for k in groups}, key=ORDER.index)

    def series(key: str) -> list[Series]:
        out = []
        for name in senders:
            pts = [
                (n, statistics.median(ok(rs, key)))
                for (n, s), rs in sorted(groups.items())
                if s == name and ok(rs, key)
            ]
            out.append(Series(name, pts, colour=COLOUR[name]))
        return out

    times = series("total_s")
    limit = sorted(ingest_limit(runs).items())
    times.append(Series("FRR ingest limit (fastest transfer)", limit, dashed=True, colour="#777"))
    rss = series("peak_rss_mib")
    sizes = sorted({n for n, _ in groups})
    rss.append(Series("goal: 64 MB", [(sizes[0], 64e6 / 2**20), (sizes[-1], 64e6 / 2**20)],
                      dashed=True, colour="#d62728"))
    caption = (
        f"Receiving FRR in a network namespace; medians. {info['date']}, commit {info['kroute_commit']}, "
        f"{info['cpus']} CPUs."
    )
    return chart(
        [
            Panel("Sender start → FRR holds all routes", "routes (/32)", "seconds", times),
            Panel("Sender peak RSS (VmHWM)", "routes (/32)", "MiB", rss),
        ],
        caption,
    )
