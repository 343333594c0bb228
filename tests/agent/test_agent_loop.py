"""The agent as it runs on a machine: a loop of checks at --interval, against a fake Jupyter
whose kernels change while the agent watches."""
from __future__ import annotations

import json
import time

from tests.agent.fakes import jupyter_time, kernel, start_agent, wait_for


def _start(fake_jupyter, token_file, tmp_path, *, timeout: float, interval: float):
    return start_agent(
        "--jupyter-url", fake_jupyter.url, "--token-file", str(token_file),
        "--idle-timeout", str(timeout), "--interval", str(interval),
        "--stop-command", f"echo stop >> {tmp_path / 'stopped'}",
        "--state-file", str(tmp_path / "state.json"))


def test_agent_stops_the_machine_once_idle_for_the_timeout_and_exits(
        fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(ago=0)]
    fake_jupyter.api_activity = jupyter_time(0)
    started = time.monotonic()
    agent = _start(fake_jupyter, token_file, tmp_path, timeout=1, interval=0.2)
    assert agent.wait(timeout=10) == 0
    elapsed = time.monotonic() - started
    assert (tmp_path / "stopped").read_text() == "stop\n"
    assert 0.9 <= elapsed <= 1 + 0.2 + 2  # timeout + one interval, plus process start-up


def test_busy_kernel_in_the_window_restarts_the_idle_clock(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(state="busy", ago=3600)]  # a long cell, started long ago
    agent = _start(fake_jupyter, token_file, tmp_path, timeout=1, interval=0.2)
    try:
        time.sleep(1.5)
        assert agent.poll() is None
        assert not (tmp_path / "stopped").exists()
        fake_jupyter.kernels = [kernel(state="idle", ago=3600)]  # the cell ends
        finished = time.monotonic()
        assert agent.wait(timeout=10) == 0
        # idle is counted from the last busy observation, not from Jupyter's old timestamp
        assert time.monotonic() - finished >= 0.7
    finally:
        agent.kill()
    assert (tmp_path / "stopped").exists()


def test_state_file_is_rewritten_at_each_check(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(state="busy")]
    agent = _start(fake_jupyter, token_file, tmp_path, timeout=60, interval=0.1)
    state = tmp_path / "state.json"
    try:
        assert wait_for(state.exists, 10)
        first = json.loads(state.read_text())["checked_at"]
        assert wait_for(lambda: json.loads(state.read_text())["checked_at"] != first, 5)
    finally:
        agent.kill()
        agent.wait()
