"""Server-made SVG charts: small, dependency-free, accessible (a <title> per bar, text labels, no script)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart"]

PALETTE = {
    "initiation": "#6c8ebf",
    "cultivation": "#4caf7a",
    "separation": "#e0a030",
    "redefinition": "#9a6cc0",
    "closed": "#8c8c8c",
}
DEFAULT_COLOR = "#5b7fa8"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    width: int = 420,
    bar_height: int = 22,
    chart_id: str = "chart",
) -> str:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value; labels on the left."""
    label_w, pad, gap = 120, 8, 6
    height = pad * 2 + 22 + max(1, len(bars)) * (bar_height + gap)
    top = max((v for _, v in bars), default=0) or 1
    span = width - label_w - pad * 2 - 50
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{pad}" y="{pad + 14}" font-size="14" font-weight="600" fill="#222">{escape(title)}</text>',
    ]
    if not bars:
        out.append(f'<text x="{pad}" y="{pad + 40}" font-size="12" fill="#777">no data yet</text>')
    for i, (label, value) in enumerate(bars):
        y = pad + 26 + i * (bar_height + gap)
        w = max(0.0, span * float(value) / top)
        color = PALETTE.get(label, DEFAULT_COLOR)
        text = f"{_fmt(value)}{unit}"
        out.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{_fmt(value)}">'
            f"<title>{escape(label)}: {escape(text)}</title>"
            f'<text x="{label_w - 4}" y="{y + bar_height * 0.7:.1f}" font-size="12" text-anchor="end" fill="#333">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" rx="3" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height * 0.7:.1f}" font-size="12" fill="#333">'
            f"{escape(text)}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)
