"""The dashboard's bar chart of daily paid revenue, drawn here as SVG (no script, no library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

from bayar.payments.money import display as rupiah

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 92, 12, 22, 40
TICKS = 4


@dataclass(frozen=True)
class Bar:
    day: date
    amount: int  # rupiah
    count: int  # paid orders
    today: bool = False


def nice_ceiling(value: int, ticks: int = TICKS) -> int:
    """The smallest 'round' axis maximum (1, 2, 2.5 or 5 × 10^k per tick) at or above `value`."""
    if value <= 0:
        return ticks * 1000
    step = max(1, -(-value // ticks))
    magnitude: int = 10 ** (len(str(step)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        candidate = factor * magnitude
        if candidate >= step and candidate == int(candidate):
            return int(candidate) * ticks
    return 10 * magnitude * ticks  # pragma: no cover (10 × magnitude always fits)


def compact(amount: int) -> str:
    """70rb, 1,2jt: the short Indonesian forms (ribu, juta) that fit above a bar."""
    if amount >= 1_000_000:
        text = f"{amount / 1_000_000:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        return f"{text}jt"
    if amount >= 1_000:
        text = f"{amount / 1_000:.1f}".rstrip("0").rstrip(".").replace(".", ",")
        return f"{text}rb"
    return str(amount)


def bar_chart(bars: list[Bar], *, title: str) -> Markup:
    """An SVG of one bar per day, the y axis in rupiah, each bar's amount above it and in its
    tooltip; today's bar stands out."""
    top = nice_ceiling(max((b.amount for b in bars), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    bar_w = slot * 0.62
    total = sum(b.amount for b in bars)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(rupiah(total))} in total" '
        f'xmlns="http://www.w3.org/2000/svg" data-testid="sales-chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(TICKS + 1):
        value = top * i // TICKS
        y = TOP + plot_h - plot_h * i / TICKS
        parts.append(
            f'<line class="grid{" base" if i == 0 else ""}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(rupiah(value))}</text>"
        )
    for i, bar in enumerate(bars):
        x = LEFT + slot * i + (slot - bar_w) / 2
        h = plot_h * bar.amount / top if top else 0
        y = TOP + plot_h - h
        cx = x + bar_w / 2
        label = f"{bar.day:%a %d %b}: {rupiah(bar.amount)}, {bar.count} paid"
        css = "bar today" if bar.today else "bar"
        parts.append(
            f'<g data-day="{bar.day.isoformat()}" data-amount="{bar.amount}">'
            f"<title>{escape(label)}</title>"
            f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{max(h, 0):.1f}" rx="3"/>'
        )
        if bar.amount:
            parts.append(
                f'<text class="value" x="{cx:.1f}" y="{y - 6:.1f}" text-anchor="middle">'
                f"{escape(compact(bar.amount))}</text>"
            )
        day_css = "day today" if bar.today else "day"
        parts.append(
            f'<text class="{day_css}" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{bar.day:%a}</text>'
            f'<text class="{day_css}" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 31}" '
            f'text-anchor="middle">{bar.day.day} {bar.day:%b}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every interpolated text is escaped above)
