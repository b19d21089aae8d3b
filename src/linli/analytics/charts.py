"""The dashboard's daily chart as server-rendered SVG (DESIGN.md: a page that must work
without JavaScript draws its chart on the server): one bar per day for GMV, a line for
orders, both scaled to their own maximum. Only numbers and ISO dates reach the markup."""

from __future__ import annotations

from markupsafe import Markup, escape

from linli.analytics.reads import DayPoint
from linli.money import format_yuan

WIDTH, HEIGHT, PAD_X, PAD_TOP, PAD_BOTTOM = 720, 220, 44, 16, 28


def daily_chart(series: list[DayPoint], title: str) -> Markup:
    n = max(len(series), 1)
    top_gmv = max((p.gmv for p in series), default=0) or 1
    top_orders = max((p.orders for p in series), default=0) or 1
    inner_w, inner_h = WIDTH - 2 * PAD_X, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / n
    bar_w = max(step * 0.7, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" data-testid="daily-chart" xmlns="http://www.w3.org/2000/svg">',
             f'<title>{escape(title)}</title>',
             f'<line class="axis" x1="{PAD_X}" y1="{PAD_TOP + inner_h}" x2="{WIDTH - PAD_X}" y2="{PAD_TOP + inner_h}"/>']
    points = []
    for i, p in enumerate(series):
        x = PAD_X + i * step + (step - bar_w) / 2
        h = inner_h * max(p.gmv, 0) / top_gmv
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{PAD_TOP + inner_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" data-day="{p.day.isoformat()}" data-gmv="{p.gmv}">'
                     f'<title>{p.day.isoformat()} ¥{format_yuan(p.gmv)} · {p.orders}</title></rect>')
        points.append(f"{PAD_X + i * step + step / 2:.1f},{PAD_TOP + inner_h - inner_h * p.orders / top_orders:.1f}")
    if len(points) > 1:
        parts.append(f'<polyline class="line" points="{" ".join(points)}"/>')
    if series:
        parts.append(f'<text class="tick" x="{PAD_X}" y="{HEIGHT - 8}">{series[0].day.isoformat()}</text>')
        parts.append(f'<text class="tick" x="{WIDTH - PAD_X}" y="{HEIGHT - 8}" text-anchor="end">{series[-1].day.isoformat()}</text>')
    parts.append(f'<text class="tick" x="{PAD_X - 4}" y="{PAD_TOP + 10}" text-anchor="end">¥{format_yuan(top_gmv if top_gmv > 1 else 0)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
