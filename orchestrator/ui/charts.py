"""The dashboard's two charts, drawn here as SVG: nothing to fetch, nothing to run in the page.

Each mark carries a class and data attributes naming what it shows, so a reader (or a test)
can tell a preemption from a restart without reading pixels.
"""
from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S")


def _frame(body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
            + "".join(body) + "</svg>")


def _axes(y_max: float, y_fmt, x1: float = WIDTH - RIGHT) -> list[str]:
    x0, y0 = LEFT, HEIGHT - BOTTOM
    out = [f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" class="axis"/>',
           f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" class="axis"/>']
    for i in range(5):
        v = y_max * i / 4
        y = y0 - (y0 - TOP) * i / 4
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                   f'{escape(y_fmt(v))}</text>')
    return out


def step_chart(points: list[tuple[float, int, int]], marks: list[dict]) -> str:
    """The step reached over time, one line per attempt, with each preemption (red, dashed),
    failure (orange), planned end of a hosted session (grey, dotted) and restart (green)
    marked where its status record puts it."""
    times = [p[0] for p in points] + [m["at"] for m in marks if m.get("at")]
    if not times:
        return _frame(['<text x="20" y="40" class="empty">no checkpoint saved yet</text>'],
                      "no steps yet")
    t0, t1 = min(times), max(times)
    span = max(t1 - t0, 1.0)
    y_max = max([p[1] for p in points] + [1])
    x0, x1, y0 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(t: float) -> float:
        return x0 + (x1 - x0) * (t - t0) / span

    def y(s: float) -> float:
        return y0 - (y0 - TOP) * s / y_max

    body = _axes(y_max, lambda v: f"{v:.0f}")
    body += [f'<text x="{x0}" y="{HEIGHT - 12}" class="tick">{_clock(t0)}</text>',
             f'<text x="{x1}" y="{HEIGHT - 12}" text-anchor="end" class="tick">{_clock(t1)}'
             f'</text>']
    for attempt in sorted({p[2] for p in points}):
        pts = " ".join(f"{x(t):.1f},{y(s):.1f}" for t, s, a in points if a == attempt)
        body.append(f'<polyline points="{pts}" class="steps" data-attempt="{attempt}"/>')
        body += [f'<circle cx="{x(t):.1f}" cy="{y(s):.1f}" r="2.5" class="step"><title>'
                 f'attempt {a}: step {s} at {_clock(t)}</title></circle>'
                 for t, s, a in points if a == attempt]
    for m in marks:
        if not m.get("at"):
            continue
        what = f"{m['kind']} of attempt {m['attempt']}" if m["kind"] != "restart" \
            else f"restart {m['attempt']}"
        body.append(f'<line x1="{x(m["at"]):.1f}" y1="{TOP}" x2="{x(m["at"]):.1f}" y2="{y0}" '
                    f'class="mark {m["kind"]}" data-kind="{m["kind"]}" '
                    f'data-attempt="{m["attempt"]}"><title>{escape(what)} at {_clock(m["at"])}'
                    f'</title></line>')
    return _frame(body, "step reached over time")


def daily_spend(daily: list[dict]) -> str:
    """Spend per day, one bar per day stacked by provider, with a legend."""
    providers = sorted({p for d in daily for p in d["by_provider"]})
    color = {p: COLORS[i % len(COLORS)] for i, p in enumerate(providers)}
    top = max([sum(d["by_provider"].values()) for d in daily] + [0.01])
    x0, x1, y0 = LEFT, WIDTH - RIGHT - 120, HEIGHT - BOTTOM  # the legend on the right
    slot = (x1 - x0) / max(len(daily), 1)
    body = _axes(top, lambda v: f"${v:.2f}", x1)
    for i, d in enumerate(daily):
        base = y0
        for p in providers:
            v = d["by_provider"].get(p, 0.0)
            if not v:
                continue
            h = (y0 - TOP) * v / top
            base -= h
            body.append(f'<rect x="{x0 + i * slot + slot * 0.15:.1f}" y="{base:.1f}" '
                        f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{color[p]}" '
                        f'class="bar" data-day="{d["day"]}" data-provider="{escape(p)}" '
                        f'data-cost="{v:.4f}"><title>{d["day"]} {escape(p)}: ${v:.2f}</title>'
                        f'</rect>')
        if len(daily) <= 14 or i % max(1, len(daily) // 10) == 0:
            body.append(f'<text x="{x0 + (i + 0.5) * slot:.1f}" y="{HEIGHT - 12}" '
                        f'text-anchor="middle" class="tick">{d["day"][5:]}</text>')
    for i, p in enumerate(providers):
        body.append(f'<rect x="{x1 + 16}" y="{TOP + i * 16}" width="10" height="10" '
                    f'fill="{color[p]}"/><text x="{x1 + 32}" y="{TOP + i * 16 + 9}" '
                    f'class="legend">{escape(p)}</text>')
    return _frame(body, "spend per day by provider")
