"""A hand-written SVG line chart for benches/bgp_bench.py: panels side by
side, each with axes, ticks, one line per series and a legend."""
import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
PANEL_W, PANEL_H = 440, 320
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 62, 16, 34, 48


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    dashed: bool = False
    colour: str | None = None


@dataclass
class Panel:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1/2/5 x 10^k step that cuts `span` into about `ticks` parts."""
    raw = span / ticks if span > 0 else 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt(v: float) -> str:
    if v >= 1000 and v % 1000 == 0:
        return f"{int(v / 1000)}k"
    return f"{v:g}"


def panel_svg(p: Panel, ox: float) -> list[str]:
    pts = [pt for s in p.series for pt in s.points]
    x_max = max((x for x, _ in pts), default=1.0)
    y_max = max((y for _, y in pts), default=1.0)
    xs, ys = nice_step(x_max), nice_step(y_max)
    x_top, y_top = math.ceil(x_max / xs) * xs, math.ceil(y_max * 1.05 / ys) * ys
    w = PANEL_W - MARGIN_L - MARGIN_R
    h = PANEL_H - MARGIN_T - MARGIN_B
    x0, y0 = ox + MARGIN_L, MARGIN_T + h

    def sx(x: float) -> float:
        return x0 + w * x / x_top

    def sy(y: float) -> float:
        return y0 - h * y / y_top

    out = [
        f'<text x="{ox + PANEL_W / 2}" y="20" text-anchor="middle" font-weight="bold">{escape(p.title)}</text>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + w}" y2="{y0}" stroke="black"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{MARGIN_T}" stroke="black"/>',
    ]
    t = 0.0
    while t <= x_top + xs / 2:
        out.append(f'<line x1="{sx(t)}" y1="{y0}" x2="{sx(t)}" y2="{y0 + 4}" stroke="black"/>')
        out.append(f'<text x="{sx(t)}" y="{y0 + 17}" text-anchor="middle">{fmt(t)}</text>')
        t += xs
    t = 0.0
    while t <= y_top + ys / 2:
        out.append(f'<line x1="{x0}" y1="{sy(t)}" x2="{x0 + w}" y2="{sy(t)}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 6}" y="{sy(t) + 4}" text-anchor="end">{fmt(round(t, 6))}</text>')
        t += ys
    out.append(
        f'<text x="{x0 + w / 2}" y="{PANEL_H - 10}" text-anchor="middle">{escape(p.x_label)}</text>'
    )
    out.append(
        f'<text x="{ox + 14}" y="{MARGIN_T + h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {ox + 14} {MARGIN_T + h / 2})">{escape(p.y_label)}</text>'
    )
    for i, s in enumerate(p.series):
        colour = s.colour or COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(s.points))
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if not s.dashed:
            out += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{colour}"/>'
                for x, y in s.points
            ]
        ly = MARGIN_T + 8 + 16 * i
        out.append(
            f'<line x1="{x0 + 10}" y1="{ly}" x2="{x0 + 34}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{x0 + 40}" y="{ly + 4}">{escape(s.label)}</text>')
    return out


def chart(panels: list[Panel], caption: str) -> str:
    width, height = PANEL_W * len(panels), PANEL_H + 22
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, p in enumerate(panels):
        body += panel_svg(p, PANEL_W * i)
    body.append(f'<text x="8" y="{height - 6}" font-size="11" fill="#555">{escape(caption)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"
