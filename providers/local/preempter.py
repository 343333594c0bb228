"""Watchdog that simulates a cloud preemption of one local instance at a chosen moment.

Usage: python -m nbctl_cloud.providers.local.preempter DIR SERVER_PID PORT DELAY_SECONDS NOTICE_SECONDS

The delay counts from the moment the server answers, so "preempt after 2s" gives the
notebook two seconds of life however long Jupyter takes to start.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .process import alive, answers, preempt, read_token


def main(argv: list[str]) -> int:
    d, pid, port = Path(argv[0]), int(argv[1]), int(argv[2])
    delay, notice = float(argv[3]), float(argv[4])
    token = read_token(d)
    while not answers(port, token):
        if not alive(pid, d):
            return 0  # it never came up: nothing to preempt
        time.sleep(0.2)
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
