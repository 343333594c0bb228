"""The agent trusts only the Jupyter it started, and a machine it means to stop gets stopped.

An impostor that binds the Jupyter port first gets no token and cannot steer the agent; a
failed stop command is retried, then the fallback runs, and the agent keeps watching while
every way fails; a Jupyter that stays down counts as idle when no job or GPU is busy.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.agent.fakes import (
    FakeJupyter,
    agent_state,
    free_port,
    kernel,
    run_agent,
    start_agent,
    wait_for_checks,
)

TIMEOUT = 600


@pytest.fixture
def other_process():
    """A live process that is not the one listening on the fake Jupyter's port."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def authorized(fake: FakeJupyter) -> list[str]:
    return [h["authorization"] for _, _, h in fake.requests if "authorization" in h]


def once(fake_url, token_file, job_dir, tmp_path, *extra):
    stopped = tmp_path / "stopped"
    proc, state = run_agent(
        "--once", "--jupyter-url", fake_url, "--token-file", str(token_file),
        "--idle-timeout", str(TIMEOUT), "--interval", "1", "--job-dir", str(job_dir),
        "--stop-command", f"echo stop >> {stopped}", *extra, state_file=tmp_path / "state.json")
    assert proc.returncode == 0, proc.stderr
    return state, stopped.exists()


def test_agent_sends_no_token_to_an_impostor_bound_on_the_jupyter_port(
        fake_jupyter, token_file, job_dir, tmp_path, other_process):
    # The fake listens in this test's process; the pid file names another one: an impostor.
    fake_jupyter.kernels = [kernel("a", state="busy")]  # it would keep the machine up
    pid_file = tmp_path / "jupyter.pid"
    pid_file.write_text(str(other_process.pid))
    state, stopped = once(fake_jupyter.url, token_file, job_dir, tmp_path,
                          "--jupyter-pid-file", str(pid_file))
    assert authorized(fake_jupyter) == [] and fake_jupyter.requests == []
    assert "not held by our Jupyter" in state["reasons"][0]
    assert state["idle"] is True  # its "busy kernel" is not believed
    assert not stopped  # idle, but not for the timeout yet


def test_agent_talks_to_the_jupyter_it_started(fake_jupyter, token_file, job_dir, tmp_path):
    fake_jupyter.kernels = [kernel("a", ago=3600)]
    pid_file = tmp_path / "jupyter.pid"
    pid_file.write_text(str(os.getpid()))  # the fake's listener is this process's
    state, stopped = once(fake_jupyter.url, token_file, job_dir, tmp_path,
                          "--jupyter-pid-file", str(pid_file))
    assert authorized(fake_jupyter)
    assert stopped and state["stop_reason"].startswith("idle for")


def test_failed_stop_command_is_retried_then_falls_back(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel("a", ago=3600)]
    tries, fallback = tmp_path / "tries", tmp_path / "fallback"
    proc, state = run_agent(
        "--once", "--jupyter-url", fake_jupyter.url, "--token-file", str(token_file),
        "--idle-timeout", str(TIMEOUT), "--stop-command", f"echo x >> {tries}; false",
        "--fallback-stop-command", f"touch {fallback}", "--stop-retry-delay", "0",
        state_file=tmp_path / "state.json")
    assert proc.returncode == 0, proc.stderr
    assert tries.read_text() == "x\n" * 3
    assert fallback.exists()
    assert state["stop_exit_code"] == 0


def test_agent_keeps_watching_when_every_stop_fails(fake_jupyter, token_file, tmp_path):
    fake_jupyter.kernels = [kernel("a", ago=3600)]
    state_file = tmp_path / "state.json"
    agent = start_agent(
        "--jupyter-url", fake_jupyter.url, "--token-file", str(token_file),
        "--idle-timeout", "1", "--interval", "0.2", "--stop-command", "false",
        "--fallback-stop-command", "false", "--stop-retry-delay", "0",
        "--state-file", str(state_file))
    try:
        wait_for_checks(state_file, 3)  # two checks after a stop that failed every way
        assert agent.poll() is None, "the agent exited, leaving the machine unwatched"
        assert "exited 1" in agent_state(state_file)["stop_error"]
    finally:
        agent.kill()
        agent.wait()


def agent_on_a_silent_port(token_file, job_dir, tmp_path, *, grace: float):
    """The agent in its loop, 1 s idle timeout, watching a Jupyter port nothing answers on:
    (its state file, the file its stop command makes, the process)."""
    state_file, stopped = tmp_path / "state.json", tmp_path / "stopped"
    agent = start_agent(
        "--jupyter-url", f"http://127.0.0.1:{free_port()}", "--token-file", str(token_file),
        "--idle-timeout", "1", "--interval", "0.2", "--job-dir", str(job_dir),
        "--startup-grace", str(grace), "--stop-command", f"touch {stopped}",
        "--state-file", str(state_file))
    return state_file, stopped, agent


def test_jupyter_that_stays_down_counts_as_idle(token_file, job_dir, tmp_path):
    state_file, stopped, agent = agent_on_a_silent_port(token_file, job_dir, tmp_path, grace=0)
    try:
        assert agent.wait(timeout=120) == 0  # it stopped the machine, then ended
        state = agent_state(state_file)
        assert stopped.exists()
        assert state["reasons"][0].startswith("jupyter not answering")
    finally:
        agent.kill()


def test_a_jupyter_still_starting_gets_the_startup_grace_before_it_counts_as_idle(
        token_file, job_dir, tmp_path):
    """A short idle timeout must not stop a machine whose Jupyter has not come up yet (a slow
    boot): one that has never answered counts as idle only after --startup-grace too."""
    state_file, stopped, agent = agent_on_a_silent_port(token_file, job_dir, tmp_path, grace=600)
    try:
        state = wait_for_checks(state_file, 2)
        state = wait_for_checks(state_file, state["checks"] + 10)  # idle well past 1 s by now
        assert state["idle_seconds"] > 1 and state["idle"] is True
        assert not stopped.exists() and agent.poll() is None
    finally:
        agent.kill()
        agent.wait()


def test_jupyter_down_with_a_job_running_is_not_idle(token_file, job_dir, tmp_path, job):
    job("run-1")
    state, stopped = once(f"http://127.0.0.1:{free_port()}", token_file, job_dir, tmp_path)
    assert not stopped
    assert state["idle"] is False
    assert state["reasons"][0].startswith("jobs running")


@pytest.mark.parametrize("cloud", ["gcp", "aws", "paperspace"])
def test_boot_scripts_give_the_agent_a_power_off_fallback_and_the_jupyter_pid(cloud):
    from nbctl_cloud.bootscript import POWER_OFF
    if cloud == "gcp":
        from nbctl_cloud.providers.gcp.startup import startup_script
        script = startup_script(idle_timeout=60, metadata_url=None, jupyter_port=8888)
    elif cloud == "aws":
        from nbctl_cloud.providers.aws.ec2 import user_data
        import gzip
        script = gzip.decompress(user_data(name="sp1", idle_timeout=60, metadata_url=None,
                                           jupyter_port=8888)).decode()
    else:
        from nbctl_cloud.bootscript import startup_script
        script = startup_script(stop_command="shutdown -h now", idle_timeout=60,
                                fallback_stop_command=POWER_OFF)
    import shlex
    assert f"--fallback-stop-command {shlex.quote(POWER_OFF)}" in script
    assert '--jupyter-pid-file "$RUN/jupyter.pid"' in script


def test_a_pid_file_planted_as_a_link_names_no_job(token_file, job_dir, tmp_path, other_process):
    """A link in the job folder pointing at a file with a live pid must not keep the machine up
    (nor, on a notice, make the agent signal that process): only the agent's own regular files
    name jobs."""
    target = tmp_path / "elsewhere.pid"
    target.write_text(str(other_process.pid))
    (job_dir / "planted.pid").symlink_to(target)
    state, stopped = once(f"http://127.0.0.1:{free_port()}", token_file, job_dir, tmp_path)
    assert not any(r.startswith("jobs running") for r in state["reasons"]), state
    assert state["reasons"][0].startswith("jupyter not answering")
