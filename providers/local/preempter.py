"""Watchdog that simulates a cloud preemption of one local instance at a chosen moment.

Usage: python -m nbctl_cloud.providers.local.preempter DIR SERVER_PID PORT DELAY_SECONDS NOTICE_SECONDS

The delay counts from the moment the server answers, so "preempt after 2s" gives the
notebook two seconds of life however long Jupyter takes to start; a job attempt started on the
machine in the meantime restarts the count once, from the attempt's start, so each attempt of a
job gets the whole random window, however long the controller took to start it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .process import alive, answers, preempt, read_token


def attempt_started(d: Path, since: float) -> float | None:
    """When a job attempt's pid file appeared on this instance after `since`, if one did."""
    times = []
    for f in (d / "jobs").glob("*.pid"):
        try:
            times.append(f.stat().st_mtime)
        except FileNotFoundError:
            continue
    newest = max(times, default=0.0)
    return newest if newest > since else None


def main(argv: list[str]) -> int:
    d, pid, port = Path(argv[0]), int(argv[1]), int(argv[2])
    delay, notice = float(argv[3]), float(argv[4])
    token = read_token(d)
    while not answers(port, token):
        if not alive(pid, d):
            return 0  # it never came up: nothing to preempt
        time.sleep(0.2)
    since = time.time()
    deadline, restarted = since + delay, False
    while time.time() < deadline:
        if not alive(pid, d):
            return 0  # stopped or deleted first: nothing to preempt
        started = attempt_started(d, since)
        if started and not restarted:
            deadline, restarted = started + delay, True
        time.sleep(min(0.2, max(0.0, deadline - time.time())))
    if alive(pid, d):
        preempt(d, pid, notice)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
