"""Jobs on Paperspace machines: `nbctl run --provider paperspace` as a user runs it, against the
fake API whose machines run their startup script for real (tests/emulators/paperspace), on an
image python3 without nbctl. The attempt reaches the machine through a mailbox in the job's
storage; a machine stopped under the job (by hand, by a schedule) is started again and the job
resumes; Paperspace's own auto-shutdown, blind to jobs, is off while a job runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import REPO, run_nbctl, wait_for

pytestmark = pytest.mark.slow

WAIT = 120.0  # seconds: only a broken emulator or product waits this long
TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
TRAIN_ARGS = ("--steps", "200", "--every", "10", "--step-time", "0.04")


@pytest.fixture
def emu(booting_emu):
    return booting_emu


@pytest.fixture
def env(emu, nbctl_home):
    (nbctl_home / "config.toml").write_text('[providers.paperspace]\nregion = "ny2"\n')
    return dict(os.environ, PYTHONPATH=str(REPO), NBCTL_POLL_INTERVAL="0.2")


def machine(emu, name: str) -> dict:
    with httpx.Client(base_url=emu.url + "/",
                      headers={"Authorization": f"Bearer {emu.key}"}) as api:
        found = [m for m in api.get("machines").json()["items"] if m["name"] == name]
    assert len(found) == 1, found
    return found[0]


def attempt_status(ck, restart: int) -> dict | None:
    for path in ck.glob(f"_nbctl/*/status-{restart}.json"):
        try:
            return json.loads(path.read_text())
        except ValueError:
            return None
    return None


def wait_running(proc, ck, restart: int) -> None:
    def running():
        if proc.poll() is not None:
            raise AssertionError(f"nbctl run ended early: {proc.communicate()}")
        return (attempt_status(ck, restart) or {}).get("state") == "running"
    wait_for(running, WAIT, what=f"attempt {restart} to run")


def test_a_job_resumes_after_its_machine_is_stopped_under_it(emu, env, tmp_path):
    name, ck, out = "psjob", tmp_path / "ck", tmp_path / "weights.npy"
    ref = tmp_path / "reference.npy"
    subprocess.run([sys.executable, str(TRAIN), *TRAIN_ARGS, "--out", str(ref)], check=True,
                   capture_output=True, timeout=120,
                   env=dict(os.environ, NBCTL_CHECKPOINT_URL=str(tmp_path / "ref-ck")))
    up = run_nbctl("up", name, "--provider", "paperspace", "--gpu", "a4000",
                   "--idle-timeout", "1h", env=env)  # a notebook first, then a job on it
    assert up.returncode == 0, up.stderr
    assert machine(emu, name)["autoShutdownEnabled"] is True
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbctl_cloud", "run", name, "--provider", "paperspace",
         "--gpu", "a4000", "--checkpoint-url", ck.as_uri(),
         "--max-restarts", "3", "--follow", "--output", "json", "--",
         "python3", str(TRAIN), *TRAIN_ARGS, "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_running(proc, ck, 0)
        assert machine(emu, name)["autoShutdownEnabled"] is False  # the agent, not Paperspace
        wait_for(lambda: list((ck / "manifests").glob("*.json")), WAIT, what="a checkpoint")
        stopped = run_nbctl("stop", name, env=env)  # by hand, under the job
        assert stopped.returncode == 0, stopped.stderr
        wait_running(proc, ck, 1)
        out_json, err = proc.communicate(timeout=WAIT * 2)
    finally:
        proc.kill()
        run_nbctl("down", name, "--yes", env=env)
    assert proc.returncode == 0, err
    job = json.loads(out_json)
    assert job["state"] == "SUCCEEDED" and job["restarts"] == job["preemptions"] == 1, job
    assert attempt_status(ck, 0)["signal"] == "SIGTERM"  # the guest's shutdown reached it
    assert out.read_bytes() == ref.read_bytes()


def test_a_cancelled_job_on_paperspace_gets_sigterm(emu, env, tmp_path):
    name, ck = "pscancel", tmp_path / "ck"
    started = run_nbctl("run", name, "--provider", "paperspace", "--gpu", "a4000",
                        "--checkpoint-url", ck.as_uri(), "--output", "json", "--",
                        "python3", "-c", "import time; time.sleep(600)", env=env)
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    try:
        wait_for(lambda: (attempt_status(ck, 0) or {}).get("state") == "running", WAIT,
                 what="the job to run")
        cancelled = run_nbctl("jobs", "cancel", run_id, env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        wait_for(lambda: (attempt_status(ck, 0) or {}).get("state") == "exited", WAIT,
                 what="the command to end on the launcher's SIGTERM")
        assert attempt_status(ck, 0)["signal"] == "SIGTERM"
    finally:
        run_nbctl("down", name, "--yes", env=env)
