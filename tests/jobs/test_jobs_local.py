"""Jobs on the local provider: run, recover from preemption, fail honestly."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

COUNTER = textwrap.dedent("""
    import os, signal, sys, time
    ck = os.environ["NBCTL_CHECKPOINT_URL"]
    os.makedirs(ck, exist_ok=True)
    p = os.path.join(ck, "step.txt")
    step = int(open(p).read()) if os.path.exists(p) else 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with open(os.path.join(ck, "attempts.txt"), "a") as f:
        f.write(f"{os.environ['NBCTL_RESTART']}:{step}\\n")
    while step < int(sys.argv[1]):
        time.sleep(0.1)
        step += 1
        open(p + ".tmp", "w").write(str(step)); os.replace(p + ".tmp", p)
        if stop:
            sys.exit(85)
    sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
""")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "count.py"
    path.write_text(COUNTER)
    return path


def run_job(nbctl, tmp_path, script, *extra, steps=10, code=0, env=None):
    ck = tmp_path / "ck"
    r = nbctl("run", "job1", "--checkpoint-url", str(ck), "--follow", "-o", "json", *extra,
              "--", "python3", str(script), str(steps), str(code), env=env, timeout=300)
    return r, ck


def teardown_job(nbctl):
    nbctl("down", "job1", "--yes")


def test_a_job_runs_to_success_with_the_nbctl_environment(nbctl, tmp_path, script):
    try:
        r, ck = run_job(nbctl, tmp_path, script)
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "SUCCEEDED" and job["restarts"] == 0
        assert (ck / "step.txt").read_text() == "10"
        assert (ck / "attempts.txt").read_text() == "0:0\n"
        logs = nbctl("jobs", "logs", job["run_id"])
        assert logs.returncode == 0 and "attempt 0" in logs.stdout
    finally:
        teardown_job(nbctl)


def test_a_preempted_job_resumes_from_its_checkpoint_and_finishes(nbctl, tmp_path, script):
    env = {"NBCTL_LOCAL_PREEMPT_AFTER": "3s-4s", "NBCTL_LOCAL_PREEMPT_NOTICE": "1s"}
    try:
        r, ck = run_job(nbctl, tmp_path, script, "--preemptible", "--max-restarts", "20",
                        steps=40, env=env)
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "SUCCEEDED" and job["preemptions"] >= 1
        attempts = [tuple(map(int, ln.split(":"))) for ln in (ck / "attempts.txt").read_text().split()]
        assert attempts[0] == (0, 0)
        assert all(b[1] >= a[1] for a, b in zip(attempts, attempts[1:]))  # never went back
        assert attempts[-1][1] > 0  # the last attempt resumed, it did not start over
        assert (ck / "step.txt").read_text() == "40"
    finally:
        teardown_job(nbctl)


def test_a_job_that_fails_by_itself_is_not_restarted(nbctl, tmp_path, script):
    try:
        r, ck = run_job(nbctl, tmp_path, script, steps=2, code=3)
        assert r.returncode == 1
        job = json.loads(r.stdout)
        assert job["state"] == "FAILED" and job["exit_code"] == 3 and job["restarts"] == 0
    finally:
        teardown_job(nbctl)


def test_restart_on_failure_is_bounded_by_max_restarts(nbctl, tmp_path, script):
    try:
        r, ck = run_job(nbctl, tmp_path, script, "--restart-on-failure", "--max-restarts", "2",
                        steps=1, code=3)
        job = json.loads(r.stdout)
        assert job["state"] == "FAILED" and job["restarts"] == 2
        assert len((ck / "attempts.txt").read_text().split()) == 3
    finally:
        teardown_job(nbctl)


def test_a_local_job_imports_the_checkpoint_helper_from_the_carried_runtime(nbctl, nbctl_home,
                                                                            tmp_path):
    ck = tmp_path / "ck"
    try:
        r = nbctl("run", "job1", "--checkpoint-url", str(ck), "--follow", "-o", "json", "--",
                  "python3", "-c", "import nbctl_cloud.runtime.checkpoint as c; print(c.__file__)")
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)
        [archive] = (ck / "_nbctl").glob("*/runtime.tar.gz")
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        where = nbctl("jobs", "logs", job["run_id"]).stdout.splitlines()[1]
        assert where == str(nbctl_home / "data" / "local" / "job1" / "runtime" / sha
                            / "nbctl_cloud" / "runtime" / "checkpoint.py")
    finally:
        teardown_job(nbctl)


def test_a_local_job_whose_runtime_was_changed_never_runs_and_fails_with_why(nbctl, tmp_path):
    from nbctl_cloud import jobs
    from nbctl_cloud.model import InstanceSpec, JobSpec
    from nbctl_cloud.registry import get_provider
    from nbctl_cloud.runtime_bundle import carry
    from nbctl_cloud.store import Store
    ran = tmp_path / "ran"
    assert nbctl("up", "job1").returncode == 0
    try:
        spec = JobSpec(run_id="r1", instance=InstanceSpec(name="job1", provider="local"),
                       command=["touch", str(ran)], checkpoint_url=str(tmp_path / "ck"),
                       workdir=str(tmp_path))
        spec = carry(spec)
        with open(spec.runtime_url, "ab") as f:
            f.write(b"\0")
        store, provider = Store(), get_provider("local")
        job = jobs.submit(provider, spec, store)
        job = jobs.step(store, job, provider)
        assert job.state.value == "FAILED" and "refusing to run it" in job.detail
        assert spec.runtime_sha256 in job.detail and not ran.exists()
    finally:
        teardown_job(nbctl)


@pytest.mark.parametrize("args,needle", [
    (["--checkpoint-url", "/tmp/x"], "no command"),
    (["--checkpoint-url", "/tmp/x", "--max-restarts", "-1", "--", "true"], "max-restarts"),
    (["--checkpoint-url", "nosuchfs://bucket/x", "--", "true"], "nosuchfs"),
    (["--", "true"], "checkpoint-url"),
    (["--checkpoint-url", "/tmp/x", "--provider", "nope", "--", "true"], "unknown provider"),
])
def test_bad_job_input_is_one_line_exit_2_and_creates_nothing(nbctl, nbctl_home, args, needle):
    r = nbctl("run", "job1", *args)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    assert not (nbctl_home / "data" / "local").exists() or not any((nbctl_home / "data" / "local").iterdir())
    assert json.loads(nbctl("jobs", "list", "--all", "-o", "json").stdout) == []


def test_two_controllers_restart_a_preempted_job_once(nbctl, tmp_path, script):
    from nbctl_cloud import jobs
    from nbctl_cloud.registry import get_provider
    from nbctl_cloud.store import Store
    r = nbctl("run", "job1", "--preemptible", "--checkpoint-url", str(tmp_path / "ck"), "-o",
              "json", "--", "python3", str(script), "600")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    try:
        provider = get_provider("local")
        provider.preempt("job1")
        store = Store()
        job = jobs.get(store, run_id)
        barrier = threading.Barrier(3)

        def controller(i):
            barrier.wait()
            jobs.step(Store(), job, get_provider("local"), holder=f"controller-{i}")

        threads = [threading.Thread(target=controller, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = jobs.get(store, run_id)
        assert after.restarts == 1 and after.preemptions == 1
    finally:
        nbctl("jobs", "cancel", run_id)
        teardown_job(nbctl)


TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
TRAIN_ARGS = ("--steps", "200", "--every", "10", "--step-time", "0.02")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """The example job's final weights, run once and never interrupted."""
    d = tmp_path_factory.mktemp("reference")
    args = TRAIN_ARGS[:TRAIN_ARGS.index("--step-time")]  # a sleep that changes no weight
    subprocess.run([sys.executable, str(TRAIN), *args, "--checkpoint-url", str(d / "ck"),
                    "--out", str(d / "w.npy")], check=True, capture_output=True, timeout=120)
    return (d / "w.npy").read_bytes()


# The cap for a hung run, above the CLI call's own 600 s: on a loaded machine an attempt may
# make little progress before its preemption, and the job then needs many of them.
@pytest.mark.timeout(660)
@pytest.mark.parametrize("window,notice", [
    ("1s-3s", "0"),        # no notice: killed wherever it is, mid-step or mid-save
    ("1s-3s", "1s"),       # a notice: SIGTERM, a save of the current step, exit 85
])
def test_the_example_job_preempted_at_random_points_ends_bit_identical(
        nbctl, tmp_path, reference, window, notice):
    """The local preempter picks a random moment of each attempt in the window (counted from
    the server answering); the job (4 s of steps) is taken away at least once, and its weights
    equal the uninterrupted run's."""
    out = tmp_path / "w.npy"
    env = {"NBCTL_LOCAL_PREEMPT_AFTER": window, "NBCTL_LOCAL_PREEMPT_NOTICE": notice}
    try:
        r = nbctl("run", "job1", "--preemptible", "--max-restarts", "30", "--follow",
                  "--checkpoint-url", str(tmp_path / "ck"), "-o", "json", "--",
                  sys.executable, str(TRAIN), *TRAIN_ARGS, "--out", str(out),
                  env=env, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "SUCCEEDED" and job["preemptions"] >= 1, job
        assert out.read_bytes() == reference
    finally:
        teardown_job(nbctl)
