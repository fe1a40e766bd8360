"""Inline SVG line charts for the HTML report: no script, no fonts, no network.

Each chart plots one or more series over the run's time axis (seconds since start) with an
optional horizontal SLO line. Gaps (None values) break the line instead of drawing zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_chart", "nice_ticks"]

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 34


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    colour: str


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `maximum` (1-2-5 steps)."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:g}%"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    unit: str = "",
    slo: tuple[float, str] | None = None,
    chart_id: str = "",
) -> str:
    """An SVG line chart; `slo` = (value, label) draws a dashed limit line."""
    xs = [x for one in series for x, y in one.points if y is not None]
    ys = [y for one in series for _, y in one.points if y is not None]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)}</text>',
    ]
    if not xs:
        parts.append(
            f'<text class="no-data" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    x_max = max(xs) or 1.0
    y_top = max([*ys, slo[0] if slo else 0.0]) * 1.1 or 1.0
    y_ticks = nice_ticks(y_top)
    y_max = y_ticks[-1]

    def px(x: float) -> float:
        return LEFT + x / x_max * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - y / y_max * plot_h

    for tick in y_ticks:
        y = py(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick, unit)}</text>'
        )
    for tick in nice_ticks(x_max, 6):
        if tick > x_max:
            break
        x = px(tick)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{tick:g}s</text>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    if slo:
        y = py(slo[0])
        parts.append(
            f'<line class="slo" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="slo-label" x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end">'
            f"{escape(slo[1])}</text>"
        )
    for one in series:
        path, pen_down = [], False
        for x, y in one.points:
            if y is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{px(x):.1f},{py(y):.1f}")
            pen_down = True
        if path:
            parts.append(
                f'<path class="series" d="{" ".join(path)}" stroke="{escape(one.colour)}" fill="none">'
                f"<title>{escape(one.name)}</title></path>"
            )
    legend_x = LEFT + 8
    for one in series:
        parts.append(
            f'<rect x="{legend_x}" y="{TOP + 2}" width="10" height="3" fill="{escape(one.colour)}"/>'
            f'<text class="legend" x="{legend_x + 14}" y="{TOP + 7}">{escape(one.name)}</text>'
        )
        legend_x += 14 + 7 * len(one.name) + 14
    parts.append(
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">time since start</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
