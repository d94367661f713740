"""Small hand-drawn SVG charts for the scoring reports.

The reports must open anywhere, offline, with no scripts and nothing fetched: so the plots are
plain inline SVG written here (axes, ticks, lines, bars, markers) instead of a plotting library.
All text is escaped; numbers are written with fixed precision so the output is stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

WIDTH = 520
HEIGHT = 320
MARGIN = {"left": 62, "right": 18, "top": 46, "bottom": 48}

GOOD = "#2f6fb3"
BAD = "#c0392b"
GREY = "#8a8f98"
ACCENT = "#e08e0b"


@dataclass(frozen=True)
class Series:
    """One line of a chart; ``fill`` shades the area under it."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = GOOD
    dashed: bool = False
    fill: bool = False


@dataclass(frozen=True)
class Marker:
    """A point to call out, with a short label."""

    x: float
    y: float
    label: str
    color: str = ACCENT


@dataclass(frozen=True)
class Segment:
    """A straight line between two data points (e.g. the KS gap)."""

    x1: float
    y1: float
    x2: float
    y2: float
    color: str = ACCENT
    dashed: bool = True


@dataclass
class _Frame:
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    width: int = WIDTH
    height: int = HEIGHT
    extra_bottom: int = 0  # room for slanted category labels (the svg grows by it)
    parts: list[str] = field(default_factory=list)

    @property
    def plot_w(self) -> float:
        return self.width - MARGIN["left"] - MARGIN["right"]

    @property
    def plot_h(self) -> float:
        return self.height - MARGIN["top"] - MARGIN["bottom"] - self.extra_bottom

    def px(self, x: float) -> float:
        span = self.x_hi - self.x_lo or 1.0
        return MARGIN["left"] + (x - self.x_lo) / span * self.plot_w

    def py(self, y: float) -> float:
        span = self.y_hi - self.y_lo or 1.0
        return MARGIN["top"] + self.plot_h - (y - self.y_lo) / span * self.plot_h


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _tick_label(v: float) -> str:
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _open(frame: _Frame, title: str, x_label: str, y_label: str) -> None:
    w, h = frame.width, frame.height
    frame.parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">')
    frame.parts.append(f"<title>{escape(title)}</title>")
    frame.parts.append(f'<text x="{w / 2:.1f}" y="18" text-anchor="middle" font-size="13" '
                       f'font-weight="bold">{escape(title)}</text>')
    left, top = MARGIN["left"], MARGIN["top"]
    frame.parts.append(f'<rect x="{left}" y="{top}" width="{_fmt(frame.plot_w)}" height="{_fmt(frame.plot_h)}" '
                       f'fill="none" stroke="#ccc"/>')
    frame.parts.append(f'<text x="{left + frame.plot_w / 2:.1f}" y="{h - 8}" text-anchor="middle">'
                       f"{escape(x_label)}</text>")
    frame.parts.append(f'<text x="14" y="{top + frame.plot_h / 2:.1f}" text-anchor="middle" '
                       f'transform="rotate(-90 14 {top + frame.plot_h / 2:.1f})">{escape(y_label)}</text>')


def _y_axis(frame: _Frame, fmt=_tick_label) -> None:
    for t in nice_ticks(frame.y_lo, frame.y_hi):
        y = frame.py(t)
        frame.parts.append(f'<line x1="{MARGIN["left"]}" y1="{_fmt(y)}" x2="{_fmt(MARGIN["left"] + frame.plot_w)}" '
                           f'y2="{_fmt(y)}" stroke="#eee"/>')
        frame.parts.append(f'<text x="{MARGIN["left"] - 6}" y="{_fmt(y + 4)}" text-anchor="end">{escape(fmt(t))}</text>')


def _x_axis(frame: _Frame) -> None:
    base = MARGIN["top"] + frame.plot_h
    for t in nice_ticks(frame.x_lo, frame.x_hi, 6):
        x = frame.px(t)
        frame.parts.append(f'<line x1="{_fmt(x)}" y1="{_fmt(base)}" x2="{_fmt(x)}" y2="{_fmt(base + 4)}" '
                           f'stroke="#666"/>')
        frame.parts.append(f'<text x="{_fmt(x)}" y="{_fmt(base + 16)}" text-anchor="middle">'
                           f"{escape(_tick_label(t))}</text>")


def _legend(frame: _Frame, items: Sequence[tuple[str, str]]) -> None:
    """One row of keys between the title and the plot, where it cannot hide data."""
    x = float(MARGIN["left"])
    y = MARGIN["top"] - 10
    for name, color in items:
        frame.parts.append(f'<rect x="{_fmt(x)}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        frame.parts.append(f'<text x="{_fmt(x + 14)}" y="{y}">{escape(name)}</text>')
        x += 28 + 6.2 * len(name)


def _span(values: Sequence[float], pad_zero: bool = False) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if pad_zero:
        lo = min(lo, 0.0)
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str,
               x_range: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
               diagonal: bool = False, markers: Sequence[Marker] = (), segments: Sequence[Segment] = (),
               legend: bool = True) -> str:
    """Lines (optionally filled) on shared axes, with an optional y = x diagonal and call-outs."""
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys]
    x_lo, x_hi = x_range or _span(xs)
    y_lo, y_hi = y_range or _span(ys, pad_zero=True)
    frame = _Frame(x_lo, x_hi, y_lo, y_hi)
    _open(frame, title, x_label, y_label)
    _y_axis(frame)
    _x_axis(frame)
    if diagonal:
        frame.parts.append(f'<line x1="{_fmt(frame.px(x_lo))}" y1="{_fmt(frame.py(y_lo))}" '
                           f'x2="{_fmt(frame.px(x_hi))}" y2="{_fmt(frame.py(y_hi))}" stroke="{GREY}" '
                           f'stroke-dasharray="4 4"/>')
    for s in series:
        pts = [(frame.px(x), frame.py(y)) for x, y in zip(s.xs, s.ys)
               if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
        if not pts:
            continue
        coords = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in pts)
        if s.fill:
            base = _fmt(frame.py(max(y_lo, 0.0)))
            frame.parts.append(f'<polygon points="{_fmt(pts[0][0])},{base} {coords} {_fmt(pts[-1][0])},{base}" '
                               f'fill="{s.color}" fill-opacity="0.18" stroke="none"/>')
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        frame.parts.append(f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"{dash}>'
                           f"<title>{escape(s.name)}</title></polyline>")
    for g in segments:
        dash = ' stroke-dasharray="3 3"' if g.dashed else ""
        frame.parts.append(f'<line x1="{_fmt(frame.px(g.x1))}" y1="{_fmt(frame.py(g.y1))}" '
                           f'x2="{_fmt(frame.px(g.x2))}" y2="{_fmt(frame.py(g.y2))}" stroke="{g.color}" '
                           f'stroke-width="2"{dash}/>')
    for m in markers:
        x, y = frame.px(m.x), frame.py(m.y)
        anchor = "end" if x > MARGIN["left"] + frame.plot_w * 0.7 else "start"
        dx = -7 if anchor == "end" else 7
        frame.parts.append(f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="4" fill="{m.color}"/>')
        frame.parts.append(f'<text x="{_fmt(x + dx)}" y="{_fmt(y - 6)}" text-anchor="{anchor}" '
                           f'font-weight="bold">{escape(m.label)}</text>')
    if legend:
        _legend(frame, [(s.name, s.color) for s in series])
    frame.parts.append("</svg>")
    return "".join(frame.parts)


def bar_chart(labels: Sequence[str], values: Sequence[float | None], *, title: str, x_label: str, y_label: str,
              color: str = BAD, value_format=lambda v: f"{v:.1%}", tick_format=lambda v: f"{v:.0%}",
              reference: float | None = None, reference_label: str = "") -> str:
    """Vertical bars, one per label, each with its value written on top; ``None`` draws no bar.
    ``reference`` draws a dashed horizontal line (e.g. the overall bad rate)."""
    shown = [v for v in values if v is not None and math.isfinite(v)]
    top = max(shown + ([reference] if reference is not None else []) + [0.0]) or 1.0
    frame = _Frame(0.0, float(len(labels)), 0.0, top * 1.15)
    _open(frame, title, x_label, y_label)
    _y_axis(frame, fmt=lambda t: tick_format(t) if t else "0")
    slot = frame.plot_w / max(len(labels), 1)
    base = frame.py(0.0)
    for i, (label, v) in enumerate(zip(labels, values)):
        cx = MARGIN["left"] + slot * (i + 0.5)
        frame.parts.append(f'<text x="{_fmt(cx)}" y="{_fmt(base + 16)}" text-anchor="middle">{escape(str(label))}'
                           "</text>")
        if v is None or not math.isfinite(v):
            continue
        y = frame.py(v)
        bw = slot * 0.6
        frame.parts.append(f'<rect x="{_fmt(cx - bw / 2)}" y="{_fmt(y)}" width="{_fmt(bw)}" '
                           f'height="{_fmt(max(base - y, 0.0))}" fill="{color}">'
                           f"<title>{escape(f'{label}: {value_format(v)}')}</title></rect>")
        frame.parts.append(f'<text x="{_fmt(cx)}" y="{_fmt(y - 4)}" text-anchor="middle">'
                           f"{escape(value_format(v))}</text>")
    if reference is not None and math.isfinite(reference):
        y = frame.py(reference)
        frame.parts.append(f'<line x1="{MARGIN["left"]}" y1="{_fmt(y)}" x2="{_fmt(MARGIN["left"] + frame.plot_w)}" '
                           f'y2="{_fmt(y)}" stroke="{GREY}" stroke-dasharray="5 4"/>')
        frame.parts.append(f'<text x="{MARGIN["left"] + 4}" y="{_fmt(y - 4)}" '
                           f'fill="{GREY}">{escape(reference_label)}</text>')
    frame.parts.append("</svg>")
    return "".join(frame.parts)


def grouped_bar_chart(labels: Sequence[str], groups: Sequence[tuple[str, Sequence[float], str]], *, title: str,
                      x_label: str, y_label: str, value_format=lambda v: f"{v:.0%}") -> str:
    """Side-by-side bars per label, one per group ``(name, values, color)`` (e.g. development vs new)."""
    shown = [v for _, vals, _ in groups for v in vals if v is not None and math.isfinite(v)]
    frame = _Frame(0.0, float(len(labels)), 0.0, (max(shown + [0.0]) or 1.0) * 1.15)
    slot = (WIDTH - MARGIN["left"] - MARGIN["right"]) / max(len(labels), 1)
    longest = max((len(str(label)) for label in labels), default=0) * 6.2  # rough width of 11px text
    slant = longest > slot * 0.95
    if slant:  # labels would collide: write them at an angle and grow the chart to fit them
        frame.extra_bottom = int(min(longest, 140) * 0.6)
        frame.height += frame.extra_bottom
    _open(frame, title, x_label, y_label)
    _y_axis(frame, fmt=lambda t: value_format(t) if t else "0")
    bw = slot * 0.8 / max(len(groups), 1)
    base = frame.py(0.0)
    for i, label in enumerate(labels):
        left = MARGIN["left"] + slot * i + slot * 0.1
        cx = left + slot * 0.4
        if slant:
            frame.parts.append(f'<text x="{_fmt(cx)}" y="{_fmt(base + 12)}" text-anchor="end" '
                               f'transform="rotate(-35 {_fmt(cx)} {_fmt(base + 12)})">{escape(str(label))}</text>')
        else:
            frame.parts.append(f'<text x="{_fmt(cx)}" y="{_fmt(base + 16)}" text-anchor="middle">'
                               f"{escape(str(label))}</text>")
        for j, (name, vals, color) in enumerate(groups):
            v = vals[i]
            if v is None or not math.isfinite(v):
                continue
            y = frame.py(v)
            frame.parts.append(f'<rect x="{_fmt(left + bw * j)}" y="{_fmt(y)}" width="{_fmt(bw)}" '
                               f'height="{_fmt(max(base - y, 0.0))}" fill="{color}">'
                               f"<title>{escape(f'{label} {name}: {value_format(v)}')}</title></rect>")
    _legend(frame, [(name, color) for name, _, color in groups])
    frame.parts.append("</svg>")
    return "".join(frame.parts)


def step_points(edges: Sequence[float], heights: Sequence[float]) -> tuple[list[float], list[float]]:
    """The outline of a histogram as a polyline: flat across each bin, vertical between bins."""
    xs: list[float] = []
    ys: list[float] = []
    for i, h in enumerate(heights):
        xs += [edges[i], edges[i + 1]]
        ys += [h, h]
    if xs:
        xs = [xs[0]] + xs + [xs[-1]]
        ys = [0.0] + ys + [0.0]
    return xs, ys
