"""Preemptible jobs on emulated Compute Engine: `nbctl run --provider gcp --preemptible` as a user
runs it, against the emulator in a subprocess whose VMs run their start-up script for real.

The job is scripts/examples/train_numpy.py: seeded SGD that checkpoints through
nbctl_cloud.runtime.checkpoint, which the VM's python3 has only because `nbctl run` carried nbctl's
runtime to it. However often and whenever the VM is preempted, the job finishes and
its final weights equal, byte for byte, those of the same job never interrupted.
"""
from __future__ import annotations

import glob
import json
import os
import random
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_nbctl, wait_for
from tests.gcp.helpers import EmulatorProcess

pytestmark = pytest.mark.slow

TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
TRAIN_ARGS = ("--steps", "160", "--every", "10")


@pytest.fixture(scope="module")
def server():
    emu = EmulatorProcess("--run-vms", "--preempt-notice", "1")
    yield emu
    violations = emu.control("violations")["violations"]
    emu.close()
    assert violations == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """The final weights of the job run once, never interrupted, without a step time (a sleep per
    step that changes nothing of the weights)."""
    d = tmp_path_factory.mktemp("reference")
    out = d / "weights.npy"
    env = dict(os.environ, NBCTL_CHECKPOINT_URL=str(d / "ck"))
    subprocess.run([sys.executable, str(TRAIN), *TRAIN_ARGS, "--out", str(out)], env=env,
                   check=True, capture_output=True, timeout=120)
    return out.read_bytes()


def start_job(server, tmp_path, name: str, zones: str,
              step_time: str = "0.02") -> tuple[subprocess.Popen, dict]:
    """`nbctl run ... --follow` in the background; returns it and where its files go.
    The step time only paces the job: the result is the same whatever it is."""
    paths = {"ck": tmp_path / "ck", "out": tmp_path / "weights.npy"}
    env = dict(os.environ, PYTHONPATH=str(REPO), **server.env())
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbctl_cloud", "run", name, "--provider", "gcp", "--gpu", "t4",
         "--preemptible", "--zone", zones, "--checkpoint-url", paths["ck"].as_uri(),
         "--max-restarts", "10", "--follow", "--output", "json", "--",
         "python3", str(TRAIN), *TRAIN_ARGS, "--step-time", step_time, "--out", str(paths["out"])],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, paths


def attempt_status(ck, restart: int) -> dict | None:
    for path in glob.glob(str(ck / "_nbctl" / "*" / f"status-{restart}.json")):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None
    return None


def wait_running(proc, ck, restart: int, timeout: float = 60.0) -> dict | None:
    """The attempt's status once it runs; None if the job ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = attempt_status(ck, restart)
        if status and status.get("state") == "running":
            return status
        if status and status.get("state") == "exited":
            return None
        time.sleep(0.05)
    return None


def wait_checkpointed(ck, timeout: float = 120.0) -> None:
    """Until the job has saved a checkpoint; raise if it never does (this only stops a broken
    test: it is no claim on how fast the job starts)."""
    deadline = time.monotonic() + timeout
    while not list((ck / "manifests").glob("*.json")):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no checkpoint under {ck} after {timeout:.0f}s")
        time.sleep(0.05)


def preempt_until_exited(server, ck, name: str, zone: str, restart: int) -> dict:
    """Preempt with a notice longer than the attempt needs to leave, and end the notice once it
    has exited: the VM goes after the job, as with a notice that outlasts it, without waiting out
    the rest of the window. Returns the attempt's status."""
    server.control("preempt", {"name": name, "zone": zone, "notice": 300})
    wait_for(lambda: (attempt_status(ck, restart) or {}).get("state") == "exited", timeout=120,
             what=f"attempt {restart} to exit within its notice")
    server.control("end-notice", {"name": name, "zone": zone})
    return attempt_status(ck, restart)


def finish(proc, name: str, env: dict) -> dict:
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        run_nbctl("down", name, "--yes", env=env)
    assert proc.returncode == 0, err
    return json.loads(out)


def vm_zones(server, name: str) -> list[str]:
    return [i["zone"] for i in server.control("state")["instances"] if i["name"] == name]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_job_preempted_at_random_points_finishes_with_the_uninterrupted_result(
        server, tmp_path, reference, seed):
    rng = random.Random(seed)
    name, zone = f"job{seed}", "us-central1-a"
    proc, paths = start_job(server, tmp_path, name, zone)
    preempted = 0
    for restart in range(2):
        if wait_running(proc, paths["ck"], restart) is None:
            break
        # Anywhere: before the first save, mid-step, mid-save. Each attempt gets at most about
        # a second, so two preemptions always land before the job's 3 s of steps are done.
        time.sleep(rng.uniform(0.1, 1.0))
        server.control("preempt", {"name": name, "zone": zone, "notice": rng.choice([0, 1])})
        preempted += 1
    job = finish(proc, name, server.env())
    assert job["state"] == "SUCCEEDED"
    assert job["preemptions"] == preempted == 2
    assert paths["out"].read_bytes() == reference


def test_the_example_job_survives_three_preemptions_with_notice_on_a_python_without_nbctl(
        server, tmp_path, reference):
    """The VMs' python3 has no nbctl (tests/emulators/gcp/vms.py): the job wrapper and the
    checkpoint helper come from the runtime `nbctl run` carried in the job's storage."""
    name, zone = "carried1", "us-east1-c"
    proc, paths = start_job(server, tmp_path, name, zone, step_time="0.06")  # about 10 s of steps
    for restart in range(3):
        assert wait_running(proc, paths["ck"], restart) is not None, f"attempt {restart}"
        time.sleep(0.5)
        server.control("preempt", {"name": name, "zone": zone, "notice": 1})
    job = finish(proc, name, server.env())
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == 3
    assert paths["out"].read_bytes() == reference
    runtime = glob.glob(str(paths["ck"] / "_nbctl" / "*" / "runtime.tar.gz"))
    assert len(runtime) == 1  # one runtime for every attempt, beside the working directory's


def test_a_notice_long_enough_lets_the_job_checkpoint_and_exit_before_the_vm_goes(
        server, tmp_path, reference):
    name, zone = "notice1", "us-central1-c"
    proc, paths = start_job(server, tmp_path, name, zone, step_time="0.06")  # outlasts the notice
    assert wait_running(proc, paths["ck"], 0) is not None
    wait_checkpointed(paths["ck"])  # its SIGTERM handler is in place: the notice reaches it
    # The agent polls `instance/preempted` every few seconds; the notice outlasts that.
    first = preempt_until_exited(server, paths["ck"], name, zone, 0)
    job = finish(proc, name, server.env())
    assert first["state"] == "exited" and first["exit_code"] == 85  # saved, then "resume me"
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == 1
    assert paths["out"].read_bytes() == reference


def test_a_stockout_when_the_preempted_vm_restarts_moves_the_job_to_the_next_zone(
        server, tmp_path, reference):
    name = "failover1"
    proc, paths = start_job(server, tmp_path, name, "us-west1-a,us-west1-b")  # zones of its own
    assert wait_running(proc, paths["ck"], 0) is not None
    time.sleep(1.0)
    for method in ("instances.start", "instances.insert"):  # zone a runs out for a while
        server.control("inject", {"method": method, "error": "stockout", "zone": "us-west1-a",
                                  "count": 5})
    server.control("preempt", {"name": name, "zone": "us-west1-a", "notice": 0})
    assert wait_running(proc, paths["ck"], 1) is not None
    assert vm_zones(server, name) == ["us-west1-b"]  # the preempted VM was deleted first
    job = finish(proc, name, server.env())
    assert job["state"] == "SUCCEEDED" and job["restarts"] == 1
    assert paths["out"].read_bytes() == reference


def test_a_workdir_too_big_to_carry_is_refused_before_any_vm(server, tmp_path):
    big = tmp_path / "project"
    big.mkdir()
    with open(big / "data.bin", "wb") as f:
        f.truncate(300 * 2**20)  # sparse: its size counts, its bytes are never read
    env = dict(os.environ, PYTHONPATH=str(REPO), **server.env())
    r = subprocess.run(
        [sys.executable, "-m", "nbctl_cloud", "run", "big1", "--provider", "gcp", "--gpu", "t4",
         "--preemptible", "--zone", "us-central1-a", "--checkpoint-url", (tmp_path / "ck").as_uri(),
         "--workdir", str(big), "--", "python3", "train.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--git" in r.stderr
    assert not [i for i in server.control("state")["instances"] if i["name"] == "big1"]
    assert not (tmp_path / "ck").exists()


OWN = REPO / "scripts" / "examples" / "train_own_checkpoints.py"
OWN_ARGS = ("--steps", "300", "--every", "10", "--step-time", "0.03")


def test_a_job_with_its_own_checkpoints_that_exits_143_on_the_notice_is_resumed(server, tmp_path):
    """No nbctl helper in the job: at the soft-off's SIGTERM it saves and exits 143. Each of
    three preemptions is a preemption, not a failure, and the result is the uninterrupted one."""
    ref = tmp_path / "ref.json"
    subprocess.run([sys.executable, str(OWN), "--steps", "300", "--every", "10", "--out",
                    str(ref), "--checkpoint-url", str(tmp_path / "ref")],
                   check=True, capture_output=True, timeout=120)
    name, zone = "own1", "us-central1-a"
    ck, out = tmp_path / "ck", tmp_path / "w.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), **server.env())
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbctl_cloud", "run", name, "--provider", "gcp", "--gpu", "t4",
         "--preemptible", "--zone", zone, "--checkpoint-url", ck.as_uri(), "--max-restarts", "5",
         "--follow", "--output", "json", "--", "python3", str(OWN), *OWN_ARGS, "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    own = ck / "own-checkpoints"
    for restart in range(3):
        assert wait_running(proc, ck, restart) is not None
        seen = set(own.glob("*.json")) if own.is_dir() else set()
        wait_for(lambda: own.is_dir() and set(own.glob("*.json")) - seen, timeout=120,
                 what=f"a checkpoint from attempt {restart}")  # its SIGTERM handler is set
        status = preempt_until_exited(server, ck, name, zone, restart)
        assert status["signal"] == "SIGTERM", status
        log = next((ck / "_nbctl").glob(f"*/log-{restart}.txt")).read_text()
        assert "SIGTERM: saved step" in log, log  # the job's own handler saved and returned
        assert status["exit_code"] == 143, status  # one SIGTERM: no repeat ends its exit
    job = finish(proc, name, server.env())
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == job["restarts"] == 3, job
    assert out.read_bytes() == ref.read_bytes()
