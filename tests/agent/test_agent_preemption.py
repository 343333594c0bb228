"""Preemption notices: the agent reads the cloud's metadata server (GCE `instance/preempted`,
EC2 IMDSv2 `spot/instance-action`) and sends SIGTERM, once, to every live nbctl job."""
from __future__ import annotations

import signal

import pytest

from tests.agent.fakes import agent_state, free_port, run_agent, start_agent, wait_for


@pytest.fixture
def watch(fake_metadata, job_dir, tmp_path):
    """One --once pass of the agent watching for a notice (no Jupyter, no idle stop)."""
    def run(kind: str, *, url: str | None = None):
        return run_agent("--once", "--preemption", kind, "--metadata-url", url or fake_metadata.url,
                         "--signal-jobs", "--job-dir", str(job_dir),
                         "--jupyter-url", f"http://127.0.0.1:{free_port()}",
                         state_file=tmp_path / "state.json")
    return run


def test_gce_notice_sends_sigterm_to_running_jobs(watch, fake_metadata, job):
    fake_metadata.preempted = True
    first, second = job("run-1"), job("run-2")
    proc, state = watch("gce")
    assert proc.returncode == 0
    assert first.wait(timeout=60) == -signal.SIGTERM
    assert second.wait(timeout=60) == -signal.SIGTERM
    assert sorted(state["signalled_pids"]) == sorted([first.pid, second.pid])
    assert state["preemption"]["action"] == "preempted"


def test_gce_no_notice_leaves_jobs_running(watch, fake_metadata, job):
    running = job(trap=True)
    _, state = watch("gce")
    assert running.terms() == 0 and running.poll() is None
    assert "preemption" not in state
    assert "preemption_error" not in state


def test_gce_request_carries_the_metadata_flavor_header(watch, fake_metadata):
    watch("gce")
    method, path, headers = fake_metadata.requests[0]
    assert (method, path) == ("GET", "/computeMetadata/v1/instance/preempted")
    assert headers["metadata-flavor"] == "Google"


def test_ec2_notice_sends_sigterm_to_running_jobs(watch, fake_metadata, job):
    fake_metadata.ec2_notice = {"action": "terminate", "time": "2026-11-23T02:03:03Z"}
    running = job()
    _, state = watch("ec2")
    assert running.wait(timeout=60) == -signal.SIGTERM
    assert state["preemption"]["action"] == "terminate"
    assert state["preemption"]["time"] == "2026-11-23T02:03:03Z"
    assert state["signalled_pids"] == [running.pid]


def test_ec2_uses_an_imdsv2_token(watch, fake_metadata):
    fake_metadata.ec2_notice = {"action": "stop", "time": "2026-11-23T02:03:03Z"}
    _, state = watch("ec2")
    (put, put_path, put_headers), (get, get_path, get_headers) = fake_metadata.requests[:2]
    assert (put, put_path) == ("PUT", "/latest/api/token")
    assert int(put_headers["x-aws-ec2-metadata-token-ttl-seconds"]) > 0
    assert (get, get_path) == ("GET", "/latest/meta-data/spot/instance-action")
    assert get_headers["x-aws-ec2-metadata-token"] == fake_metadata.EC2_TOKEN
    assert state["preemption"]["action"] == "stop"


def test_ec2_404_means_no_notice(watch, fake_metadata, job):
    running = job(trap=True)
    _, state = watch("ec2")
    assert running.terms() == 0 and running.poll() is None
    assert "preemption" not in state


def test_unreachable_metadata_server_is_recorded_not_fatal(watch, job):
    running = job(trap=True)
    proc, state = watch("gce", url=f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 0
    assert running.terms() == 0
    assert "preemption_error" in state


def test_notice_without_signal_jobs_is_only_recorded(fake_metadata, job, job_dir, tmp_path):
    fake_metadata.preempted = True
    running = job(trap=True)
    _, state = run_agent("--once", "--preemption", "gce", "--metadata-url", fake_metadata.url,
                         "--job-dir", str(job_dir), state_file=tmp_path / "state.json")
    assert running.terms() == 0
    assert "preemption" in state and "signalled_pids" not in state


def test_notice_arriving_later_is_seen_and_jobs_are_signalled_once(
        fake_metadata, job, job_dir, tmp_path):
    trapping = job(trap=True)  # a job that saves its checkpoint and keeps going
    state_file = tmp_path / "state.json"
    agent = start_agent("--preemption", "gce", "--metadata-url", fake_metadata.url,
                        "--signal-jobs", "--job-dir", str(job_dir), "--interval", "0.1",
                        "--jupyter-url", f"http://127.0.0.1:{free_port()}",
                        "--state-file", str(state_file))
    try:
        # the agent has asked at least once, been told FALSE, and recorded it: only now does
        # the notice arrive, so it truly arrives later (no sleep decides the order)
        wait_for(state_file.exists, 60, what="the agent's first pass")
        assert fake_metadata.requests and "preemption" not in agent_state(state_file)
        assert trapping.terms() == 0
        fake_metadata.preempted = True
        wait_for(lambda: "signalled_at" in agent_state(state_file), 60,
                 what="the agent to signal the jobs")
        polls = len(fake_metadata.requests)
        wait_for(lambda: len(fake_metadata.requests) >= polls + 5, 60,
                 what="five more polls of the metadata server")  # still watching
        assert trapping.terms() == 1  # once, though it went on seeing the notice
        assert agent_state(state_file)["signalled_pids"] == [trapping.pid]
    finally:
        agent.kill()
        agent.wait()
