"""Watchdog that simulates a cloud preemption of one local instance at a chosen moment.

Usage: python -m providers.local.preempter DIR SERVER_PID DELAY_SECONDS NOTICE_SECONDS
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .process import alive, preempt


def main(argv: list[str]) -> int:
    d, pid, delay, notice = Path(argv[0]), int(argv[1]), float(argv[2]), float(argv[3])
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if not alive(pid, d):
            return 0  # stopped or deleted first: nothing to preempt
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    if alive(pid, d):
        preempt(d, pid, notice)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
