"""Small server-side SVG charts for the ward pages.

Plain SVG with presentation attributes and CSS classes (styled by ``static/monitor.css``):
no script, no inline style, so the pages keep the strict Content-Security-Policy, and they
print as they are drawn.  Every chart has a ``<title>`` and a text summary for screen
readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape


def _fmt(v: float, span: float | None = None) -> str:
    if v == 0 or not math.isfinite(v):
        return "0"
    a = abs(v)
    if span is not None and span < 10 and a < 1000:
        return f"{v:.1f}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.1f}"
    return f"{v:.2g}"


def sparkline(values: Sequence[float | None], *, label: str, width: int = 90,
              height: int = 22, threshold: float | None = None) -> str:
    """A sparkline of risks in [0, 1] (None = not scored that day)."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    n = max(len(values) - 1, 1)
    sx = (width - 4) / n

    def y(v: float) -> float:
        return height - 2 - max(0.0, min(1.0, v)) * (height - 4)

    line = " ".join(f"{2 + i * sx:.1f},{y(v):.1f}" for i, v in pts)
    thr = (f'<line class="thr" x1="2" x2="{width - 2}" y1="{y(threshold):.1f}" '
           f'y2="{y(threshold):.1f}"/>' if threshold is not None else "")
    last = (f'<circle class="dot" cx="{2 + pts[-1][0] * sx:.1f}" cy="{y(pts[-1][1]):.1f}" '
            f'r="2"/>' if pts else "")
    return (f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}"><title>{escape(label)}</title>{thr}'
            f'<polyline class="line" points="{line}"/>{last}</svg>')


def series_chart(title: str, series: dict[str, Sequence[tuple[float, float]]], *,
                 unit: str = "", days: tuple[float, float], marks: Sequence[tuple[float, str]] = (),
                 y_range: tuple[float, float] | None = None, log: bool = False,
                 thresholds: Sequence[float] = (), percent: bool = False,
                 step: bool = False, ticks: int = 4) -> str:
    """A line chart of one or more series over days since infusion.

    ``marks``: (day, kind) vertical markers (``toci``, ``steroid``); ``log``: log10 axis.
    """
    w, h, left, right, top, bottom = 640, 190, 52, 10, 22, 26
    pw, ph = w - left - right, h - top - bottom
    d0, d1 = days
    if d1 <= d0:
        d1 = d0 + 1
    allv = [v for pts in series.values() for _, v in pts if math.isfinite(v)]
    if log:
        allv = [v for v in allv if v > 0]
    if y_range is not None:
        lo, hi = y_range
    elif allv:
        lo, hi = min(allv), max(allv)
        if lo == hi:
            lo, hi = lo - 1, hi + 1
    else:
        lo, hi = 0.0, 1.0
    if log:
        lo, hi = math.log10(max(lo, 1e-3)), math.log10(max(hi, 1e-3))
        if lo == hi:
            lo, hi = lo - 1, hi + 1

    def tx(d: float) -> float:
        return left + (d - d0) / (d1 - d0) * pw

    def ty(v: float) -> float:
        if log:
            v = math.log10(max(v, 1e-3))
        return top + ph - (v - lo) / (hi - lo) * ph

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {w} {h}" '
             f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>',
             f'<text class="ctitle" x="{left}" y="14">{escape(title)}'
             f'{" (" + escape(unit) + ")" if unit else ""}</text>',
             f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}"/>']
    for k in range(ticks + 1):
        v = lo + (hi - lo) * k / ticks
        yy = top + ph - ph * k / ticks
        shown = 10 ** v if log else v
        text = (f"{shown * 100:.0f}%" if percent
                else _fmt(shown, None if log else hi - lo))
        parts.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{yy:.1f}" '
                     f'y2="{yy:.1f}"/><text class="ylab" x="{left - 4}" y="{yy + 4:.1f}" '
                     f'text-anchor="end">{text}</text>')
    span = d1 - d0
    stepd = 1 if span <= 10 else 2 if span <= 20 else 5 if span <= 60 else 10
    d = math.ceil(d0 / stepd) * stepd
    while d <= d1:
        parts.append(f'<text class="xlab" x="{tx(d):.1f}" y="{h - 8}" '
                     f'text-anchor="middle">{d:g}</text>')
        d += stepd
    for t in thresholds:
        parts.append(f'<line class="thr" x1="{left}" x2="{left + pw}" y1="{ty(t):.1f}" '
                     f'y2="{ty(t):.1f}"/>')
    for day, kind in marks:
        if d0 <= day <= d1:
            parts.append(f'<line class="mark mark-{escape(kind)}" x1="{tx(day):.1f}" '
                         f'x2="{tx(day):.1f}" y1="{top}" y2="{top + ph}"><title>{escape(kind)} '
                         f'day {day:.1f}</title></line>')
    for k, (name, pts) in enumerate(series.items()):
        ok = [(x, v) for x, v in pts if math.isfinite(v) and (v > 0 or not log)]
        if not ok:
            continue
        if step:
            coords = []
            for x, v in ok:
                coords += [(tx(x), ty(v)), (tx(x + 1), ty(v))]
        else:
            coords = [(tx(x), ty(v)) for x, v in ok]
        pts_s = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
        parts.append(f'<polyline class="s s{k}" points="{pts_s}"><title>{escape(name)}'
                     f'</title></polyline>')
        if not step:
            parts += [f'<circle class="p s{k}" cx="{a:.1f}" cy="{b:.1f}" r="2.5"/>'
                      for a, b in coords]
    if len(series) > 1:
        x = left + 6
        for k, name in enumerate(series):
            parts.append(f'<rect class="key s{k}" x="{x}" y="{top + 4}" width="10" '
                         f'height="4"/><text class="keyt" x="{x + 13}" y="{top + 10}">'
                         f'{escape(name)}</text>')
            x += 18 + 9 * len(name)
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["series_chart", "sparkline"]
