"""Small server-rendered SVG charts for the reseller console.

Every point carries its value as text, so the chart reads without hovering, prints, and needs no
JavaScript or third-party script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#1f5fbf", "#1d7a46", "#a35b00", "#b42318", "#6941c6")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above ``value``: a readable top for the axis."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    format_value: Callable[[int], str] = str,
    width: int = 680,
    height: int = 240,
) -> Markup:
    if any(len(s.values) != len(labels) for s in series):
        raise ValueError("every series needs one value per label")
    left, right, top, bottom = 56, 28, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values]
    top_value = nice_ceiling(max(values, default=0))
    # A loss (a negative margin) gets room below the zero line instead of being drawn off the chart.
    lowest = min(values, default=0)
    bottom_value = -nice_ceiling(-lowest) if lowest < 0 else 0
    span = top_value - bottom_value

    def x(index: int) -> float:
        return left + (plot_w * index / max(len(labels) - 1, 1))

    def y(value: float) -> float:
        return top + plot_h - plot_h * (value - bottom_value) / span

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#1d2430">{escape(title)}</text>',
    ]
    gridlines = sorted({bottom_value, 0, top_value / 2 if bottom_value == 0 else 0, top_value})
    for value in gridlines:
        gy = y(value)
        stroke = "#9aa4b2" if value == 0 else "#dde2ea"
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="{stroke}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#5b6575">'
            f"{escape(format_value(round(value)))}</text>"
        )
    for index, label in enumerate(labels):
        # A label may have a second line ("Jan\n2026"): the year only where it changes.
        for line_number, text in enumerate(label.split("\n")):
            parts.append(
                f'<text x="{x(index):.1f}" y="{height - bottom + 16 + 13 * line_number}" '
                f'text-anchor="middle" fill="#5b6575">{escape(text)}</text>'
            )
    for number, one in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(one.values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for index, value in enumerate(one.values):
            px, py = x(index), y(value)
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>')
            parts.append(
                f'<text x="{px:.1f}" y="{py - 7 - 11 * number:.1f}" text-anchor="middle" fill="{color}">'
                f"{escape(format_value(value))}</text>"
            )
        legend_x = width - right - 150 * (len(series) - number)
        parts.append(f'<rect x="{legend_x}" y="7" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="16" fill="#1d2430">{escape(one.name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # SVG built here from numbers; every label was escaped


def compact_money(currency: str = "USD") -> Callable[[int], str]:
    """A short label for a chart point: whole units, thousands as k, millions as M ("$12.3k")."""
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}.get(currency, "")

    def _format(amount_minor: int) -> str:
        sign = "-" if amount_minor < 0 else ""
        major = abs(amount_minor) / 100
        if major >= 1_000_000:
            text = f"{major / 1_000_000:.1f}M"
        elif major >= 10_000:
            text = f"{major / 1000:.0f}k"
        elif major >= 1000:
            text = f"{major / 1000:.1f}k"
        else:
            text = f"{major:.0f}"
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"

    return _format
