"""No module of nbctl's own grows past 400 lines: one purpose each, readable in one sitting."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("orchestrator", "providers", "tests", "scripts")
LIMIT = 400


def line_counts() -> dict[str, int]:
    counts = {}
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            with path.open("rb") as f:
                counts[str(path.relative_to(REPO))] = sum(1 for _ in f)
    return counts


def test_the_modules_are_found():
    counts = line_counts()
    assert "orchestrator/jobs.py" in counts and "tests/test_module_size.py" in counts


def test_no_module_is_over_400_lines():
    over = {path: n for path, n in line_counts().items() if n > LIMIT}
    assert not over, (f"over {LIMIT} lines; split along a seam, one purpose per module: "
                      + ", ".join(f"{path} ({n})" for path, n in sorted(over.items())))
