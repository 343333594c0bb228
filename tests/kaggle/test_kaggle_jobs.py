"""Jobs on Kaggle through the CLI, as a user runs them, against the fake Kaggle API whose pushed
versions run for real on an image python without nbctl: a job carried across its session limit
by chained versions, a job that waits out a used-up GPU quota, a failing kernel, bad
credentials, and what `nbctl up` and bad options are told."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_nbctl, wait_for
from tests.kaggle.conftest import CONFIG, KEY, TRAIN, USER, job_json, logs

pytestmark = pytest.mark.slow

# ~20 s of training: more than two 9 s stretches of a 16 s session (stopped 7 s ahead of it)
TRAIN_ARGS = ("--steps", "400", "--every", "10", "--step-time", "0.05")


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> str:
    """The sha256 of the weights of the same training never stopped (without its step time,
    a sleep per step that changes nothing of the weights: 20 s less)."""
    tmp = tmp_path_factory.mktemp("reference")
    args = TRAIN_ARGS[:TRAIN_ARGS.index("--step-time")]
    done = subprocess.run([sys.executable, str(TRAIN), *args, "--out", str(tmp / "w.npy")],
                          check=True, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, NBCTL_CHECKPOINT_URL=str(tmp / "ck")))
    return re.search(r"sha256 ([0-9a-f]{64})", done.stdout).group(1)


def assert_resumed(attempts: list[dict], expected_sha256: str) -> None:
    """Each attempt started at the step the one before saved on its notice (no step lost past
    the last checkpoint), and the last one's weights are those of a run never stopped. (An
    attempt whose notice came as the training ended saved its last step instead.)"""
    starts = [int(re.search(r"starting at step (\d+)", a["log"]).group(1)) for a in attempts]
    for before, start in zip(attempts, starts[1:]):
        saved = re.search(r"preempted: saved step (\d+)", before["log"])
        assert start == (int(saved.group(1)) if saved else int(TRAIN_ARGS[1])), before["log"]
    assert starts[0] == 0
    assert re.search(r"sha256 ([0-9a-f]{64})", attempts[-1]["log"]).group(1) == expected_sha256


def test_training_runs_across_chained_versions_and_ends_bit_identical(
        kfake, env, workdir, expected):
    done = run_nbctl("run", "kjob", "--provider", "kaggle", "--gpu", "t4", "--workdir",
                     str(workdir), "--follow", "-o", "json", "--",
                     "python3", "train_numpy.py", *TRAIN_ARGS, "--out", "weights.npy",
                     env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "SUCCEEDED" and job["preemptions"] == 0
    status = job_json(env, job["run_id"])
    assert status["versions"] == job["restarts"] + 1 >= 3  # at least 3 chained versions
    assert status["session_hours"] > 0
    kernel = kfake.kernels[(USER, job["run_id"])]
    assert len(kernel["versions"]) == status["versions"]
    for n, version in enumerate(kernel["versions"]):
        pushed = version.metadata
        assert pushed["machineShape"] == "NvidiaTeslaT4" and pushed["isPrivate"] is True
        assert pushed["enableInternet"] is False and pushed["sessionTimeoutSeconds"] == 16
        assert pushed.get("kernelDataSources", []) == ([f"{USER}/{job['run_id']}"] if n else [])
        assert KEY not in pushed["text"]  # nothing of the credentials travels
        assert version.status == "COMPLETE"
    assert_resumed(logs(env, job["run_id"]), expected)
    for path in Path(env["NBCTL_HOME"]).rglob("*"):  # the store, the job's files, the log
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_used_up_gpu_quota_makes_the_job_wait_until_it_refreshes(
        kfake, env, workdir, expected):
    kfake.set_quota(gpu_hours=20 / 3600)  # 20 s: room for one 9 s version, not two
    done = run_nbctl("run", "kquota", "--provider", "kaggle", "--gpu", "t4", "--workdir",
                     str(workdir), "-o", "json", "--",
                     "python3", "train_numpy.py", *TRAIN_ARGS, "--out", "weights.npy", env=env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]

    def state() -> dict:
        assert run_nbctl("controller", "--once", env=env).returncode == 0
        return job_json(env, run_id)

    wait_for(lambda: state()["state"] == "WAITING", 120, what="the job to wait for quota")
    waiting = job_json(env, run_id)
    assert "waiting for Kaggle GPU quota" in waiting["detail"]
    assert "refreshes at" in waiting["detail"]
    assert len(kfake.kernels[(USER, run_id)]["versions"]) == 1
    quota = run_nbctl("quota", "--provider", "kaggle", "-o", "json", env=env)
    assert quota.returncode == 0, quota.stderr
    gpu = next(r for r in json.loads(quota.stdout) if r["kind"] == "gpu")
    assert gpu["left_hours"] * 3600 <= 14
    kfake.set_quota(gpu_hours=30.0)  # the next week's allowance: Kaggle's usual 30 h
    kfake.refresh_quota()
    wait_for(lambda: state()["state"] == "SUCCEEDED", 180, what="the job to finish")
    assert_resumed(logs(env, run_id), expected)
    cost = run_nbctl("cost", "-o", "json", env=env)
    row = next(r for r in json.loads(cost.stdout) if r["name"] == run_id)
    assert row["provider"] == "kaggle" and row["cost"] == 0.0 and row["hours"] > 0


def test_a_failing_kernel_ends_the_job_failed_with_kaggles_message(kfake, env, workdir):
    (workdir / "boom.py").write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    done = run_nbctl("run", "kfail", "--provider", "kaggle", "--workdir", str(workdir),
                     "--follow", "-o", "json", "--", "python3", "boom.py", env=env, timeout=300)
    assert done.returncode == 1
    job = json.loads(done.stdout)
    assert job["state"] == "FAILED" and job["exit_code"] == 3
    kernel = kfake.kernels[(USER, job["run_id"])]["versions"][-1]
    assert kernel.status == "ERROR" and kernel.metadata.get("machineShape") is None
    assert "exited with code 3" in job["detail"] and kernel.failure in job["detail"]
    assert "about to fail" in logs(env, job["run_id"])[0]["log"]


def test_bad_credentials_and_inputs_are_refused_in_one_line(kfake, env, workdir):
    args = ("run", "kbad", "--provider", "kaggle", "--gpu", "t4", "--workdir", str(workdir),
            "--", "python3", "train_numpy.py", "--out", "w.npy")
    bad = run_nbctl(*args, env=dict(env, KAGGLE_KEY="not-the-key"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "KAGGLE_USERNAME" in bad.stderr and "KAGGLE_KEY" in bad.stderr
    assert "not-the-key" not in bad.stderr
    none = run_nbctl(*args, env={k: v for k, v in env.items() if not k.startswith("KAGGLE_")
                                 or k == "KAGGLE_API_ENVIRONMENT"})
    assert none.returncode == 2 and "KAGGLE_USERNAME and KAGGLE_KEY" in none.stderr
    assert kfake.calls("SaveKernel") == []
    for extra, words in ((("--checkpoint-url", "s3://b/x"), "does not apply to Kaggle"),
                         (("--restart-on-failure",), "drop --restart-on-failure"),
                         (("--preemptible",), "not preemptible")):
        done = run_nbctl(*args[:4], *extra, *args[4:], env=env)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    up = run_nbctl("up", "knb", "--provider", "kaggle", "--gpu", "t4", env=env)
    assert up.returncode == 2 and "no API for interactive sessions" in up.stderr
    assert "nbctl run" in up.stderr
    assert kfake.calls("SaveKernel") == []


def test_cancel_stops_the_running_version_through_the_api(kfake, env, workdir, nbctl_home):
    # a session long enough that nbctl's own stop never comes first
    (nbctl_home / "config.toml").write_text(CONFIG.replace('"16s"', '"300s"'))
    (workdir / "forever.py").write_text("import time\nprint('up', flush=True)\n"
                                        "while True:\n    time.sleep(0.1)\n")
    done = run_nbctl("run", "kcancel", "--provider", "kaggle", "--workdir", str(workdir),
                     "-o", "json", "--", "python3", "forever.py", env=env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    wait_for(lambda: kfake.session(USER, run_id).status == "RUNNING", 60,
             what="the version to run")
    cancel = run_nbctl("jobs", "cancel", run_id, env=env)
    assert cancel.returncode == 0, cancel.stderr
    wait_for(lambda: kfake.session(USER, run_id).status == "CANCEL_ACKNOWLEDGED", 60,
             what="Kaggle to stop the session")
    assert len(kfake.calls("CancelKernelSession")) == 1
    assert job_json(env, run_id)["state"] == "CANCELLED"
    assert run_nbctl("controller", "--once", env=env).returncode == 0
    assert job_json(env, run_id)["state"] == "CANCELLED"  # no next version for a cancelled job
    assert len(kfake.kernels[(USER, run_id)]["versions"]) == 1
