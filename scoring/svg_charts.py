"""Line charts as plain SVG text: the reports' charts without a plotting dependency.

`line_chart` draws named series of (x, y) points on shared axes, with optional shaded bands
(e.g. the days a gateway was degraded), grid lines with y ticks, x tick labels and a legend.
Any browser shows the file; it is also a stable text artefact to diff.

>>> svg = line_chart({"model": ([0.1, 0.5, 1.0], [0.3, 0.8, 1.0])}, x_label="contacted share", y_label="gains")
>>> svg.startswith("<svg") and "polyline" in svg and ">model</text>" in svg
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

__all__ = ["Band", "line_chart", "DEFAULT_COLOURS"]

DEFAULT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Band:
    """A shaded span of the x axis, [start, end], with a label."""

    start: float
    end: float
    label: str


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str = "",
    colours: Mapping[str, str] | None = None,
    bands: Sequence[Band] = (),
    x_ticks: Sequence[float] | None = None,
    x_tick_format: str = "{:g}",
    y_tick_format: str = "{:.3f}",
    width: int = 760,
    height: int = 360,
) -> str:
    """An SVG line chart of `series` (name -> (xs, ys)); see the module docstring."""
    if not series:
        raise ValueError("a chart needs at least one series")
    xs = np.concatenate([np.asarray(points[0], dtype=np.float64) for points in series.values()])
    ys = np.concatenate([np.asarray(points[1], dtype=np.float64) for points in series.values()])
    x_low, x_high = float(xs.min()), float(xs.max())
    pad = max((float(ys.max()) - float(ys.min())) * 0.05, 1e-9)
    y_low, y_high = float(ys.min()) - pad, float(ys.max()) + pad
    left, right, top, bottom = 64, 190, 20, 44

    def x(value: float) -> float:
        return left + (value - x_low) / max(x_high - x_low, 1e-12) * (width - left - right)

    def y(value: float) -> float:
        return top + (y_high - value) / (y_high - y_low) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>']
    for band in bands:
        parts.append(f'<rect x="{x(band.start):.1f}" y="{top}" width="{max(x(band.end) - x(band.start), 1):.1f}" '
                     f'height="{height - top - bottom}" fill="#fde0dd"/>'
                     f'<text x="{x(band.start) + 2:.1f}" y="{top + 12}" fill="#c51b8a">{escape(band.label)}</text>')
    for tick in np.linspace(y_low + pad, y_high - pad, 5):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{y_tick_format.format(tick)}</text>')
    for tick in (x_ticks if x_ticks is not None else np.linspace(x_low, x_high, 6)):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x_tick_format.format(tick)}</text>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        parts.append(f'<text x="14" y="{(top + height - bottom) / 2:.0f}" text-anchor="middle" '
                     f'transform="rotate(-90 14 {(top + height - bottom) / 2:.0f})">{escape(y_label)}</text>')
    for rank, (name, (series_x, series_y)) in enumerate(series.items()):
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(series_x, series_y))
        colour = (colours or {}).get(name, DEFAULT_COLOURS[rank % len(DEFAULT_COLOURS)])
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
                     f'<text x="{width - right + 8}" y="{top + 14 * (rank + 1)}" fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
