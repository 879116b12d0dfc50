"""Inline SVG charts (histogram, bars): no script, no external URL."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from seqclean.html_report.model import ACCENT, FLAG


def _num(x: float) -> str:
    return f"{x:.1f}"


def _fmt_count(n: float) -> str:
    n = float(n)
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{n:.0f}"


def svg_histogram(
    counts: Sequence[int], edges: Sequence[float], threshold: float, *, width: int = 1100, height: int = 260
) -> str:
    """Score histogram on a log count axis (the clean mass near 0 dwarfs the tail), bars past the threshold red."""
    ml, mr, mt, mb = 48, 12, 14, 36
    pw, ph = width - ml - mr, height - mt - mb
    top = max(1.0, math.log10(max([1, *counts]) + 1))
    top = math.ceil(top)
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return ml + (v - lo) / span * pw

    def y(c: float) -> float:
        return mt + ph - math.log10(c + 1) / top * ph

    parts = [_svg_open(width, height, "Histogram of noise scores")]
    for k in range(top + 1):
        yy = mt + ph - k / top * ph
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_num(yy)}" y2="{_num(yy)}" class="grid"/>')
        parts.append(f'<text x="{ml - 6}" y="{_num(yy + 4)}" text-anchor="end">{_fmt_count(10**k)}</text>')
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        colour = FLAG if a >= threshold else ACCENT
        x0, x1 = x(a) + 1, x(b) - 1
        parts.append(
            f'<rect x="{_num(x0)}" y="{_num(y(c))}" width="{_num(max(x1 - x0, 1))}" '
            f'height="{_num(mt + ph - y(c))}" fill="{colour}"><title>{a:g}-{b:g}: {c:,} interactions</title></rect>'
        )
    for k in range(0, 11, 2):
        v = lo + span * k / 10
        parts.append(f'<text x="{_num(x(v))}" y="{mt + ph + 16}" text-anchor="middle">{v:.1f}</text>')
    tx = x(threshold)
    parts.append(
        f'<line x1="{_num(tx)}" x2="{_num(tx)}" y1="{mt}" y2="{mt + ph}" stroke="#111827" stroke-width="2" '
        f'stroke-dasharray="5 4"/>'
        f'<text x="{_num(tx + 5)}" y="{mt + 12}" class="note">threshold {threshold:g}</text>'
        f'<text x="{ml + pw / 2:.0f}" y="{height - 3}" text-anchor="middle" class="axis">noise_score</text>'
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" class="axisline"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    colours: Sequence[str] | None = None,
    tips: Sequence[str] | None = None,
    value_fmt: str = "{:.1%}",
    title: str = "bar chart",
    x_label: str = "",
    width: int = 560,
    height: int = 220,
    line: Sequence[float] | None = None,
    line_label: str = "",
) -> str:
    """Vertical bars with their value on top; an optional line over them (its own 0..max scale)."""
    ml, mr, mt, mb = 12, 12, 18, 40
    pw, ph = width - ml - mr, height - mt - mb
    n = max(len(values), 1)
    vmax = max([*values, 1e-12])
    slot = pw / n
    parts = [_svg_open(width, height, title)]
    for i, v in enumerate(values):
        bh = v / vmax * ph
        x0 = ml + i * slot + slot * 0.15
        colour = colours[i] if colours else ACCENT
        tip = f"<title>{escape(tips[i])}</title>" if tips else ""
        parts.append(
            f'<rect x="{_num(x0)}" y="{_num(mt + ph - bh)}" width="{_num(slot * 0.7)}" height="{_num(bh)}" '
            f'fill="{colour}">{tip}</rect>'
            f'<text x="{_num(x0 + slot * 0.35)}" y="{_num(mt + ph - bh - 4)}" text-anchor="middle">'
            f"{escape(value_fmt.format(v))}</text>"
            f'<text x="{_num(x0 + slot * 0.35)}" y="{mt + ph + 15}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    if line and len(line) == len(values):
        lmax = max([*line, 1e-12])
        pts = " ".join(
            f"{_num(ml + (i + 0.5) * slot)},{_num(mt + ph - v / lmax * ph * 0.9)}" for i, v in enumerate(line)
        )
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#f59e0b" stroke-width="2.5"/>')
        for i, v in enumerate(line):
            parts.append(
                f'<circle cx="{_num(ml + (i + 0.5) * slot)}" cy="{_num(mt + ph - v / lmax * ph * 0.9)}" r="3.5" '
                f'fill="#f59e0b"><title>{escape(line_label)}: {v:.3f}</title></circle>'
            )
    parts.append(
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" class="axisline"/>'
        f'<text x="{ml + pw / 2:.0f}" y="{height - 4}" text-anchor="middle" class="axis">{escape(x_label)}</text>'
        "</svg>"
    )
    return "".join(parts)


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">'
    )


# ------------------------------------------------------------------------------------------------ HTML
