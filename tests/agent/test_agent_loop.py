"""The agent as it runs on a machine: a loop of checks at --interval, against a fake Jupyter
whose kernels change while the agent watches. The agent counts its checks in its state file,
so the tests hold it to its rule in checks, not in wall-clock time (which includes starting
Python, and stretches on a loaded machine); scripts/bench_agent_idle.py measures the seconds."""
from __future__ import annotations

import json

from tests.agent.fakes import agent_state, kernel, start_agent, wait_for_checks

TIMEOUT, INTERVAL = 1.0, 0.2


def _start(fake_jupyter, token_file, tmp_path, *, timeout: float = TIMEOUT,
           interval: float = INTERVAL):
    return start_agent(
        "--jupyter-url", fake_jupyter.url, "--token-file", str(token_file),
        "--idle-timeout", str(timeout), "--interval", str(interval),
        "--stop-command", f"echo stop >> {tmp_path / 'stopped'}",
        "--state-file", str(tmp_path / "state.json"))


def test_agent_stops_the_machine_at_the_first_check_past_the_timeout_and_exits(
        fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(state="busy")]  # busy until the agent has seen it so
    agent = _start(fake_jupyter, token_file, tmp_path)
    try:
        assert wait_for_checks(tmp_path / "state.json", 1)["idle"] is False
        fake_jupyter.kernels = [kernel(state="idle", ago=3600)]
        assert agent.wait(timeout=60) == 0
    finally:
        agent.kill()
        agent.wait()
    state = agent_state(tmp_path / "state.json")
    assert (tmp_path / "stopped").read_text() == "stop\n"
    # the check before the stop had not yet seen the timeout pass: the stop came at the first
    # check that did, i.e. within the timeout plus one interval of the agent's own clock
    assert state["idle_before"] < TIMEOUT <= state["idle_seconds"]
    assert state["checks"] >= 2


def test_busy_kernel_in_the_window_restarts_the_idle_clock(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(state="busy", ago=3600)]  # a long cell, started long ago
    agent = _start(fake_jupyter, token_file, tmp_path)
    try:
        # more checks than the timeout holds intervals, every one of them busy: not stopped
        watched = wait_for_checks(tmp_path / "state.json", int(TIMEOUT / INTERVAL) + 3)
        assert watched["idle"] is False and "kernel k1 busy" in watched["reasons"]
        assert "stopped_at" not in watched and not (tmp_path / "stopped").exists()
        assert agent.poll() is None
        fake_jupyter.kernels = [kernel(state="idle", ago=3600)]  # the cell ends
        assert agent.wait(timeout=60) == 0
    finally:
        agent.kill()
        agent.wait()
    assert (tmp_path / "stopped").exists()
    state = agent_state(tmp_path / "state.json")
    # idle is counted from the last busy observation, not from Jupyter's hour-old timestamp
    assert TIMEOUT <= state["idle_seconds"] < 3600 - 60
    assert state["stop_reason"] == "idle for %.0f s" % state["idle_seconds"]


def test_state_file_is_rewritten_at_each_check(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel(state="busy")]
    agent = _start(fake_jupyter, token_file, tmp_path, timeout=60, interval=0.1)
    state = tmp_path / "state.json"
    try:
        first = wait_for_checks(state, 1)
        later = wait_for_checks(state, first["checks"] + 1)
        assert later["checked_at"] >= first["checked_at"]
        assert json.loads(state.read_text())["checks"] > first["checks"]
    finally:
        agent.kill()
        agent.wait()
