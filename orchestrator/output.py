"""Printing: aligned tables for people, JSON for scripts, progress only on a terminal."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence


def emit(data: Any, fmt: str, columns: Sequence[tuple[str, str]] | None = None,
         rows: Iterable[dict] | None = None, text: str | None = None) -> None:
    """JSON: dump `data`. Table: `columns` (key, header) over `rows`, or `text`."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return
    if text is not None:
        sys.stdout.write(text.rstrip("\n") + "\n")
        return
    if columns is not None:
        sys.stdout.write(table(columns, list(rows or [])))


def status_row(d: dict) -> dict:
    """An instance's dict as `nbctl status` shows it: with "gpu_label" (t4:1, or none)."""
    d = dict(d)
    d["gpu_label"] = (f"{d['gpu']}:{d['gpu_count']}" if d.get("gpu_count")
                      else (d.get("gpu") or "none"))
    return d


def table(columns: Sequence[tuple[str, str]], rows: list[dict]) -> str:
    cells = [[h for _, h in columns]] + [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if v < 100 else f"{v:.2f}"
    return str(v)


class Progress:
    """Shows `name  STATE  12s` on one rewritten line of stderr, only on a terminal."""

    def __init__(self, fmt: str):
        self.on = fmt != "json" and sys.stderr.isatty()
        self.last = ""

    def __call__(self, name: str, state, elapsed: float) -> None:
        if not self.on:
            return
        line = f"{name}  {getattr(state, 'value', state)}  {int(elapsed)}s"
        sys.stderr.write("\r" + line.ljust(len(self.last)))
        sys.stderr.flush()
        self.last = line

    def done(self) -> None:
        if self.on and self.last:
            sys.stderr.write("\n")
            self.last = ""
