"""Preemptible jobs on emulated EC2 spot instances: `nbctl run --provider aws --preemptible` as a
user runs it, against moto whose instances boot their user data for real (tests/emulators/aws),
with checkpoints in (emulated) S3.

The instances' python3 has no nbctl (tests/emulators/guest.py): the job launcher comes
from the user data, the job wrapper and the checkpoint helper from the runtime `nbctl run`
carried to S3. EC2's rules hold: an interrupted spot instance stops, a start of it is refused,
and only EC2 restarts it when capacity returns; nbctl either waits for that or, past
`spot_restart_wait`, replaces the instance, with one instance and one attempt at a time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from tests.conftest import REPO, run_nbctl, wait_for
from tests.emulators.aws import AwsEmulator, Delays

pytestmark = pytest.mark.slow

WAIT = 120.0  # seconds: only a broken emulator or product waits this long
BUCKET = "nbctl-ck"
PROFILE = "nbctl-job-runner"
TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
TRAIN_ARGS = ("--steps", "160", "--every", "10", "--step-time", "0.04")
OWN = REPO / "scripts" / "examples" / "train_own_checkpoints.py"
OWN_ARGS = ("--steps", "300", "--every", "10", "--step-time", "0.03")
LIVE = ("pending", "running", "stopping", "stopped")


@pytest.fixture
def emu(tmp_path, monkeypatch):
    emulator = AwsEmulator(delays=Delays(provision=0.2, stop=1.0, delete=0.3),
                           run_instances=True, base_dir=str(tmp_path / "ec2")).start()
    emulator.reset()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    emulator.seed_dlami()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("iam").create_instance_profile(InstanceProfileName=PROFILE)
    yield emulator
    emulator.reset()
    emulator.stop()


@pytest.fixture
def cli_env(emu, nbctl_home):
    def configure(restart_wait: float) -> dict:
        (nbctl_home / "config.toml").write_text(
            f'[providers.aws]\nregion = "us-east-1"\ninstance_profile = "{PROFILE}"\n'
            f'spot_restart_wait = {restart_wait}\n')
        return dict(os.environ, PYTHONPATH=str(REPO), NBCTL_POLL_INTERVAL="0.2")
    return configure


def run_job(env: dict, name: str, zones: str, checkpoint_url: str,
            command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nbctl_cloud", "run", name, "--provider", "aws", "--gpu", "t4",
         "--preemptible", "--zone", zones, "--checkpoint-url", checkpoint_url,
         "--max-restarts", "6", "--follow", "--output", "json", "--", *command],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def attempt_status(checkpoint_url: str, restart: int) -> dict | None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(checkpoint_url)
    fs.invalidate_cache()
    for found in fs.glob(f"{path}/_nbctl/*/status-{restart}.json"):
        try:
            return json.loads(fs.cat_file(found))
        except (FileNotFoundError, ValueError):
            return None
    return None


def wait_running(proc: subprocess.Popen, checkpoint_url: str, restart: int) -> None:
    def running():
        if proc.poll() is not None:
            raise AssertionError(f"nbctl run ended early: {proc.communicate()}")
        return (attempt_status(checkpoint_url, restart) or {}).get("state") == "running"
    wait_for(running, WAIT, what=f"attempt {restart} under {checkpoint_url} to run")


def instances(name: str) -> list[dict]:
    """The instances named `name` that are not terminated, oldest first."""
    found = boto3.client("ec2").describe_instances(Filters=[
        {"Name": "tag:nbctl-name", "Values": [name]},
        {"Name": "instance-state-name", "Values": list(LIVE)}])
    return sorted((i for r in found["Reservations"] for i in r["Instances"]),
                  key=lambda i: i["LaunchTime"])


def the_instance(name: str) -> dict:
    live = instances(name)
    assert len(live) == 1, [(i["InstanceId"], i["State"]["Name"]) for i in live]
    return live[0]


def finish(proc: subprocess.Popen, name: str) -> dict:
    try:
        out, err = proc.communicate(timeout=WAIT * 2)
    finally:
        run_nbctl("down", name, "--yes")
    assert proc.returncode == 0, err
    return json.loads(out)


def reference(tmp_path, script, args, suffix: str) -> bytes:
    """The weights of the job run once, never interrupted, without its step time (a sleep per
    step that changes nothing of the weights)."""
    out = tmp_path / f"reference{suffix}"
    args = args[:args.index("--step-time")]
    subprocess.run([sys.executable, str(script), *args, "--out", str(out)], check=True,
                   capture_output=True, timeout=120,
                   env=dict(os.environ, NBCTL_CHECKPOINT_URL=str(tmp_path / "ref-ck")))
    return out.read_bytes()


def test_the_example_job_survives_three_interruptions_that_ec2_restarts_itself(
        emu, cli_env, tmp_path):
    """Each interruption: the notice, the stop, then capacity returns and EC2 restarts the
    instance (nbctl never starts it: EC2 would refuse). One instance throughout; the result is
    byte for byte that of the job never interrupted."""
    env = cli_env(restart_wait=WAIT)
    out = tmp_path / "weights.npy"
    name, ck = "ec2job1", f"s3://{BUCKET}/ec2job1"
    proc = run_job(env, name, "us-east-1a", ck,
                   ["python3", str(TRAIN), *TRAIN_ARGS, "--out", str(out)])
    first = None
    for restart in range(3):
        wait_running(proc, ck, restart)
        inst = the_instance(name)
        first = first or inst["InstanceId"]
        assert inst["InstanceId"] == first  # the same instance, restarted by EC2
        if restart == 0:  # the image's python3 has no nbctl: the job runs from what was carried
            python = emu.machine(first).root / "emulator-bin" / "python3"
            probe = subprocess.run([str(python), "-c", "import nbctl_cloud"], capture_output=True,
                                   env={"PATH": "/usr/bin:/bin"}, timeout=60)
            assert probe.returncode != 0 and b"ModuleNotFoundError" in probe.stderr
        emu.interrupt_spot(first, notice=1)
        wait_for(lambda: the_instance(name)["State"]["Name"] == "stopped", WAIT,
                 what="the interruption")
        emu.spot_capacity_returns(first)
    job = finish(proc, name)
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == job["restarts"] == 3, job
    assert out.read_bytes() == reference(tmp_path, TRAIN, TRAIN_ARGS, ".npy")
    assert emu.count("RunInstances") == 1 and emu.count("StartInstances") == 0


def test_a_job_exiting_143_is_moved_to_a_new_instance_when_ec2_does_not_restart_it(
        emu, cli_env, tmp_path):
    """The job saves its own checkpoint at SIGTERM and exits 143; EC2 never restarts the
    instance, so past spot_restart_wait nbctl cancels its spot request, terminates it and
    launches another (the first time us-east-1a has no spot capacity left: us-east-1b).
    Each interruption is a preemption, not a failure, and nothing is left behind."""
    env = cli_env(restart_wait=0)
    out = tmp_path / "w.json"
    name, ck = "ec2job2", (tmp_path / "ck").as_uri()  # its own checkpoints: on a disk it mounts
    proc = run_job(env, name, "us-east-1a,us-east-1b", ck,
                   ["python3", str(OWN), *OWN_ARGS, "--out", str(out)])
    zones, own = [], tmp_path / "ck" / "own-checkpoints"
    for restart in range(3):
        wait_running(proc, ck, restart)
        seen = set(own.glob("*.json")) if own.is_dir() else set()
        wait_for(lambda: own.is_dir() and set(own.glob("*.json")) - seen, WAIT,
                 what=f"a checkpoint from attempt {restart}")  # its SIGTERM handler is set
        inst = the_instance(name)  # one instance at a time
        zones.append(inst["Placement"]["AvailabilityZone"])
        if restart == 0:
            emu.inject("ec2", "RunInstances", "InsufficientInstanceCapacity",
                       "We currently do not have sufficient g4dn.xlarge capacity in the "
                       "Availability Zone you requested (us-east-1a).", times=1)
        emu.interrupt_spot(inst["InstanceId"], notice=1)
    job = finish(proc, name)
    for restart in range(3):
        status = attempt_status(ck, restart)
        assert status["exit_code"] == 143 and status["signal"] == "SIGTERM", status
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == job["restarts"] == 3, job
    assert out.read_bytes() == reference(tmp_path, OWN, OWN_ARGS, ".json")
    assert zones[0] == "us-east-1a" and zones[1] == "us-east-1b"
    assert emu.count("StartInstances") == 0
    ec2 = boto3.client("ec2")
    assert instances(name) == []
    requests = ec2.describe_spot_instance_requests()["SpotInstanceRequests"]
    assert {r["State"] for r in requests} <= {"cancelled", "closed"}, requests
    assert ec2.describe_volumes()["Volumes"] == []


def test_jobs_on_sagemaker_and_unreachable_storage_are_refused_before_anything_is_made(
        emu, cli_env, nbctl_home):
    env = cli_env(restart_wait=60)
    cases = [
        (["--gpu", "t4", "--checkpoint-url", f"s3://{BUCKET}/x"], "add --preemptible"),
        (["--gpu", "t4", "--preemptible", "--checkpoint-url", f"s3://{BUCKET}/{'x' * 240}"],
         "too long for EC2"),
    ]
    for args, fix in cases:
        r = subprocess.run([sys.executable, "-m", "nbctl_cloud", "run", "j", "--provider", "aws",
                            *args, "--", "python3", "-c", "pass"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and fix in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    (nbctl_home / "config.toml").write_text('[providers.aws]\nregion = "us-east-1"\n')
    r = subprocess.run([sys.executable, "-m", "nbctl_cloud", "run", "j", "--provider", "aws",
                        "--gpu", "t4", "--preemptible", "--checkpoint-url", f"s3://{BUCKET}/j",
                        "--", "python3", "-c", "pass"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "instance_profile" in r.stderr, r.stderr
    assert emu.count("RunInstances") == 0 and emu.count("CreateNotebookInstance") == 0


def test_a_cancelled_job_loses_its_tag_and_its_command_gets_sigterm(emu, cli_env, tmp_path):
    env = cli_env(restart_wait=60)
    name, ck = "ec2cancel", (tmp_path / "ck").as_uri()
    started = subprocess.run(
        [sys.executable, "-m", "nbctl_cloud", "run", name, "--provider", "aws", "--gpu", "t4",
         "--preemptible", "--zone", "us-east-1a", "--checkpoint-url", ck, "--output", "json",
         "--", "python3", "-c", "import time; time.sleep(600)"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=WAIT * 2)
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    try:
        wait_for(lambda: (attempt_status(ck, 0) or {}).get("state") == "running", WAIT,
                 what="the job to run")
        tags = {t["Key"]: t["Value"] for t in the_instance(name)["Tags"]}
        assert tags["nbctl-job"].endswith(f"/{run_id}/launch-0.json")
        cancelled = subprocess.run([sys.executable, "-m", "nbctl_cloud", "jobs", "cancel", run_id],
                                   cwd=REPO, env=env, capture_output=True, text=True, timeout=WAIT)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "nbctl-job" not in {t["Key"] for t in the_instance(name)["Tags"]}
        wait_for(lambda: (attempt_status(ck, 0) or {}).get("state") == "exited", WAIT,
                 what="the command to end on the launcher's SIGTERM")
        assert attempt_status(ck, 0)["signal"] == "SIGTERM"
    finally:
        run_nbctl("down", name, "--yes", env=env)
