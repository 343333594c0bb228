"""The agent's idleness rule, row by row, against a fake Jupyter REST API (--once checks).

Idle means all of: no kernel busy or connected, no kernel/terminal/API activity within the
timeout, no GPU at or over the threshold, no live job pid. Jupyter not answering counts as
idle from the agent's first look (see test_agent_trust.py), so one look stops nothing.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.agent.fakes import (
    AGENT,
    FakeJupyter,
    jupyter_time,
    kernel,
    run_agent,
    self_signed_tls,
    terminal,
)

TIMEOUT = 600  # seconds; "idle" rows use activity an hour old, "recent" rows 10 s old


@pytest.fixture
def check(fake_jupyter, token_file, job_dir, tmp_path):
    """Run one --once check of the agent; returns (process, state, whether it stopped)."""
    stopped = tmp_path / "stopped"

    def run(*extra: str, env: dict | None = None, url: str | None = None):
        proc, state = run_agent(
            "--once", "--jupyter-url", url or fake_jupyter.url, "--token-file", str(token_file),
            "--idle-timeout", str(TIMEOUT), "--interval", "1", "--job-dir", str(job_dir),
            "--stop-command", f"echo stop >> {stopped}", *extra,
            env=env, state_file=tmp_path / "state.json")
        return proc, state, stopped.exists()
    return run


def test_idle_kernels_past_the_timeout_run_the_stop_command(check, fake_jupyter):
    fake_jupyter.kernels = [kernel("a", ago=3600), kernel("b", ago=1800)]
    proc, state, stopped = check()
    assert proc.returncode == 0
    assert stopped
    assert state["idle"] is True
    assert state["idle_seconds"] >= TIMEOUT
    assert state["stop_reason"].startswith("idle for")
    assert state["stop_exit_code"] == 0


def test_stop_command_runs_exactly_once(check, fake_jupyter, tmp_path):
    fake_jupyter.kernels = [kernel(ago=3600)]
    check()
    assert (tmp_path / "stopped").read_text() == "stop\n"


def test_server_with_no_kernels_idle_past_the_timeout_is_stopped(check, fake_jupyter):
    fake_jupyter.kernels = []
    _, state, stopped = check()
    assert stopped
    assert state["reasons"][0].startswith("no activity for")


def test_busy_kernel_is_not_idle(check, fake_jupyter):
    fake_jupyter.kernels = [kernel("a", ago=3600), kernel("b", state="busy", ago=3600)]
    proc, state, stopped = check()
    assert proc.returncode == 0
    assert not stopped
    assert state["idle"] is False
    assert state["reasons"] == ["kernel b busy"]
    assert "stopped_at" not in state


def test_kernel_with_a_connected_client_is_not_idle(check, fake_jupyter):
    fake_jupyter.kernels = [kernel("a", ago=3600, connections=1)]
    _, state, stopped = check()
    assert not stopped
    assert state["reasons"] == ["kernel a connected"]


def test_recent_kernel_activity_is_not_idle_yet(check, fake_jupyter):
    fake_jupyter.kernels = [kernel("a", ago=10)]
    _, state, stopped = check()
    assert not stopped
    assert state["idle"] is True  # nothing busy now, but not idle for long enough
    assert state["idle_seconds"] < TIMEOUT


def test_recent_terminal_activity_is_not_idle_yet(check, fake_jupyter):
    fake_jupyter.kernels = [kernel("a", ago=3600)]
    fake_jupyter.terminals = [terminal("1", ago=10)]
    _, state, stopped = check()
    assert not stopped
    assert state["idle_seconds"] < TIMEOUT


def test_recent_api_activity_in_status_is_not_idle_yet(check, fake_jupyter):
    fake_jupyter.api_activity = jupyter_time(10)  # e.g. a file saved from the browser
    _, state, stopped = check()
    assert not stopped
    assert state["idle_seconds"] < TIMEOUT


def test_server_without_terminals_is_judged_on_the_rest(check, fake_jupyter):
    fake_jupyter.terminals = None  # GET /api/terminals answers 404
    fake_jupyter.kernels = [kernel(ago=3600)]
    _, _, stopped = check()
    assert stopped


def test_jupyter_not_listening_starts_the_idle_clock_at_the_first_look(check, tmp_path):
    from tests.agent.fakes import free_port
    proc, state, stopped = check(url=f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 0
    assert not stopped
    assert state["idle"] is True and state["idle_seconds"] == 0
    assert state["reasons"][0].startswith("jupyter not answering")


def test_jupyter_answering_an_error_is_not_stopped_at_the_first_look(check, fake_jupyter):
    fake_jupyter.fail_with = 503
    _, state, stopped = check()
    assert not stopped
    assert "HTTP 503" in state["reasons"][0]


def test_wrong_token_is_not_stopped_at_the_first_look(check, fake_jupyter, token_file):
    token_file.write_text("not-the-token")
    _, state, stopped = check()
    assert not stopped
    assert "HTTP 403" in state["reasons"][0]


def test_token_is_sent_and_polling_is_not_counted_as_activity(check, fake_jupyter):
    check()
    gets = [(urlsplit(p), h) for m, p, h in fake_jupyter.requests if m == "GET"]
    assert {u.path for u, _ in gets} == {"/api/status", "/api/kernels", "/api/terminals"}
    assert all(h["authorization"] == f"token {fake_jupyter.token}" for _, h in gets)
    assert all("no_track_activity" in parse_qs(u.query) for u, _ in gets)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl to make a certificate")
def test_self_signed_https_jupyter_on_this_machine_is_read(check, tmp_path):
    server = FakeJupyter(tls=self_signed_tls(tmp_path))
    try:
        server.kernels = [kernel(state="busy")]
        _, state, stopped = check(url=server.url)
    finally:
        server.close()
    assert server.url.startswith("https://")
    assert state["reasons"] == ["kernel k1 busy"]


def test_live_job_pid_is_not_idle(check, fake_jupyter, job):
    fake_jupyter.kernels = [kernel(ago=3600)]
    proc_job = job("run-7")
    _, state, stopped = check()
    assert not stopped
    assert state["reasons"] == [f"jobs running: [{proc_job.pid}]"]


def test_pid_file_of_an_ended_job_does_not_keep_the_machine_up(check, fake_jupyter, job_dir):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    (job_dir / "run-8.pid").write_text(ended.stdout.strip())
    (job_dir / "notes.txt").write_text("12345")  # not a pid file
    _, _, stopped = check()
    assert stopped


def test_gpu_over_the_threshold_is_not_idle(check, fake_jupyter, gpu_bin):
    fake_jupyter.kernels = [kernel(ago=3600)]
    _, state, stopped = check(env=gpu_bin(3, 85))
    assert not stopped
    assert state["reasons"] == ["gpu 85% >= 10%"]


def test_gpu_under_the_threshold_is_idle(check, fake_jupyter, gpu_bin):
    fake_jupyter.kernels = [kernel(ago=3600)]
    _, _, stopped = check(env=gpu_bin(3, 9))
    assert stopped


def test_gpu_threshold_is_configurable(check, fake_jupyter, gpu_bin):
    fake_jupyter.kernels = [kernel(ago=3600)]
    _, _, stopped = check("--gpu-threshold", "90", env=gpu_bin(85))
    assert stopped


def test_no_idle_timeout_never_stops(check, fake_jupyter):
    fake_jupyter.kernels = [kernel(ago=86400)]
    _, state, stopped = check("--idle-timeout", "0")
    assert not stopped
    assert state["idle"] is True


def _agent_module():
    spec = importlib.util.spec_from_file_location("nbctl_agent_under_test", AGENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text, epoch", [
    ("2026-11-23T02:01:03.123456Z", 1795399263.123456),
    ("2026-11-23T02:01:03.123Z", 1795399263.123),
    ("2026-11-23T02:01:03Z", 1795399263.0),
    ("2026-11-23T02:01:03.123456+00:00", 1795399263.123456),
])
def test_jupyter_timestamps_are_read_as_utc(text, epoch):
    assert _agent_module().parse_ts(text) == pytest.approx(epoch)


@pytest.mark.parametrize("text", [None, "", "yesterday"])
def test_missing_or_unreadable_timestamps_count_as_no_activity(text):
    assert _agent_module().parse_ts(text) == 0
