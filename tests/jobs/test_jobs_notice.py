"""Jobs on the local provider that leave on a notice their own way: exit 143 after SIGTERM is a
preemption, exit 143 by itself a failure; and what `jobs list`, `jobs logs -o json` and
`controller -o json` show of them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO, wait_for

pytestmark = pytest.mark.slow

TRAIN = REPO / "scripts" / "examples" / "train_own_checkpoints.py"
TRAIN_ARGS = ("--steps", "300", "--every", "10", "--step-time", "0.02")
NOTICE = 3.0  # long enough for the job (running, its handler set) to save and exit: it needs ms


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """The job's final weights, run once and never interrupted."""
    d = tmp_path_factory.mktemp("reference")
    subprocess.run([sys.executable, str(TRAIN), "--steps", "300", "--every", "10",
                    "--checkpoint-url", str(d / "ck"), "--out", str(d / "w.json")],
                   check=True, capture_output=True, timeout=120)
    return (d / "w.json").read_bytes()


def saved_steps(ck) -> list[int]:
    folder = ck / "own-checkpoints"
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("step-*.json")) \
        if folder.is_dir() else []


def attempt_status(ck, run_id: str, restart: int) -> dict | None:
    try:
        return json.loads((ck / "_nbctl" / run_id / f"status-{restart}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def controller_once(nbctl) -> list[dict]:
    r = nbctl("controller", "--once", "-o", "json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.timeout(600)
def test_a_job_with_its_own_checkpoints_that_exits_143_on_sigterm_survives_three_preemptions(
        nbctl, tmp_path, reference):
    from nbctl_cloud import jobs
    from nbctl_cloud.registry import get_provider
    from nbctl_cloud.store import Store
    ck, out = tmp_path / "ck", tmp_path / "w.json"
    r = nbctl("run", "job1", "--preemptible", "--max-restarts", "5", "--checkpoint-url", str(ck),
              "-o", "json", "--", sys.executable, str(TRAIN), *TRAIN_ARGS, "--out", str(out))
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    events = []
    try:
        provider, store = get_provider("local"), Store()
        before = 0  # the newest step saved before this attempt started
        for restart in range(3):
            # Mid-run: it has saved a checkpoint in this attempt, so its SIGTERM handler is set.
            wait_for(lambda: max(saved_steps(ck), default=0) > before, timeout=120, step=0.02,
                     what=f"a checkpoint from attempt {restart}")
            provider.preempt("job1", notice_seconds=NOTICE)  # SIGTERM now, the machine after
            status = attempt_status(ck, run_id, restart)
            assert status["exit_code"] == 143 and status["signal"] == "SIGTERM", status
            # What it saved on SIGTERM is where the next attempt resumes: read now, before the
            # next attempt can save anything (read after the restart, a fast attempt could have
            # saved its last checkpoint already, and no newer one would ever come).
            before = max(saved_steps(ck))

            def restarted(n=restart + 1):
                events.extend(controller_once(nbctl))
                return jobs.get(store, run_id).restarts == n
            wait_for(restarted, timeout=180, step=0.5, what=f"restart {restart + 1}")

        def ended():
            events.extend(controller_once(nbctl))
            return jobs.get(store, run_id).state.final
        wait_for(ended, timeout=300, step=0.5, what="the job to end")
        job = json.loads(nbctl("jobs", "status", run_id, "-o", "json").stdout)
        assert job["state"] == "SUCCEEDED", job
        assert job["preemptions"] == job["restarts"] == 3  # no failure among them
        assert out.read_bytes() == reference

        # The controller's stream: one object a line, each job change and each pass.
        changes = [e for e in events if e["event"] == "job"]
        assert [e["restarts"] for e in changes if e["state"] == "RUNNING"] == [1, 2, 3]
        assert changes[-1]["state"] == "SUCCEEDED" and changes[-1]["run_id"] == run_id
        assert all(e["active"] == 1 for e in events if e["event"] == "pass")

        logs = json.loads(nbctl("jobs", "logs", run_id, "-o", "json").stdout)
        assert logs["run_id"] == run_id
        assert [a["attempt"] for a in logs["attempts"]] == [0, 1, 2, 3]
        assert [a["exit_code"] for a in logs["attempts"]] == [143, 143, 143, 0]
        assert [a["signal"] for a in logs["attempts"]] == ["SIGTERM"] * 3 + [None]
        assert "SIGTERM: saved step" in logs["attempts"][0]["log"]
        assert "sha256" in logs["attempts"][3]["log"]
        one = json.loads(nbctl("jobs", "logs", run_id, "--attempt", "1", "-o", "json").stdout)
        assert [a["attempt"] for a in one["attempts"]] == [1]
    finally:
        nbctl("jobs", "cancel", run_id)
        nbctl("down", "job1", "--yes")


EXITS = textwrap.dedent("""
    import sys, time
    time.sleep(float(sys.argv[1]))
    sys.exit(int(sys.argv[2]))
""")


@pytest.fixture
def exits(tmp_path):
    path = tmp_path / "exits.py"
    path.write_text(EXITS)
    return path


def test_a_job_that_exits_143_by_itself_fails_and_is_not_restarted(nbctl, tmp_path, exits):
    try:
        r = nbctl("run", "job1", "--preemptible", "--checkpoint-url", str(tmp_path / "ck"),
                  "--follow", "-o", "json", "--", "python3", str(exits), "0.5", "143",
                  timeout=300)
        assert r.returncode == 1, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "FAILED" and job["exit_code"] == 143, job
        assert job["restarts"] == job["preemptions"] == 0
        # Just finished: `jobs list` shows it without --all.
        listed = json.loads(nbctl("jobs", "list", "-o", "json").stdout)
        assert [(j["run_id"], j["state"]) for j in listed] == [(job["run_id"], "FAILED")]
        assert job["run_id"] in nbctl("jobs", "list").stdout
    finally:
        nbctl("down", "job1", "--yes")


def test_jobs_list_leaves_out_jobs_that_ended_over_a_day_ago_unless_all(nbctl, tmp_path, exits):
    from nbctl_cloud import jobs
    from nbctl_cloud.store import Store
    running = None
    try:
        r = nbctl("run", "job1", "--checkpoint-url", str(tmp_path / "ck"), "--follow", "-o",
                  "json", "--", "python3", str(exits), "0", "0", timeout=300)
        assert json.loads(r.stdout)["state"] == "SUCCEEDED", r.stderr
        r2 = nbctl("run", "job1", "--checkpoint-url", str(tmp_path / "ck2"), "-o", "json",
                   "--", "python3", str(exits), "600", "0")
        running = json.loads(r2.stdout)["run_id"]
        store = Store()
        a_day_on = time.time() + jobs.RECENT_SECONDS + 60
        assert [j.spec.run_id for j in jobs.recent_jobs(store, now=a_day_on)] == [running]
        assert len(jobs.recent_jobs(store)) == 2
        assert len(json.loads(nbctl("jobs", "list", "--all", "-o", "json").stdout)) == 2
    finally:
        if running:
            nbctl("jobs", "cancel", running)
        nbctl("down", "job1", "--yes")


def test_a_cancelled_job_is_not_taken_for_a_preempted_one(nbctl, tmp_path, exits):
    ck = tmp_path / "ck"
    r = nbctl("run", "job1", "--preemptible", "--checkpoint-url", str(ck), "-o", "json",
              "--", "python3", str(exits), "600", "0")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    try:
        wait_for(lambda: (attempt_status(ck, run_id, 0) or {}).get("state") == "running",
                 timeout=120, what="the attempt to run")
        assert nbctl("jobs", "cancel", run_id).returncode == 0
        wait_for(lambda: (attempt_status(ck, run_id, 0) or {}).get("state") == "exited",
                 timeout=60, what="the attempt to exit")
        assert attempt_status(ck, run_id, 0)["signal"] == "SIGTERM"  # as a notice would
        events = controller_once(nbctl)
        assert events == [{"event": "pass", "at": events[0]["at"], "active": 0, "changed": 0}]
        job = json.loads(nbctl("jobs", "status", run_id, "-o", "json").stdout)
        assert job["state"] == "CANCELLED" and job["restarts"] == 0
    finally:
        nbctl("down", "job1", "--yes")


def test_a_job_signalled_as_its_machine_is_stopped_under_it_resumes_as_preempted(
        nbctl, nbctl_home, tmp_path, reference):
    """A machine stopped under a job (by hand, by a schedule): its shutdown sends the job SIGTERM,
    as systemd does, and the machine ends STOPPED. The controller starts it again and the job
    resumes, counted a preemption."""
    from nbctl_cloud import jobs
    from nbctl_cloud.store import Store
    ck, out = tmp_path / "ck", tmp_path / "w.json"
    r = nbctl("run", "job1", "--checkpoint-url", str(ck), "-o", "json", "--", sys.executable,
              str(TRAIN), *TRAIN_ARGS, "--out", str(out))
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    try:
        wait_for(lambda: saved_steps(ck), timeout=120, what="a first checkpoint")
        pid = int((nbctl_home / "data" / "local" / "job1" / "jobs" / f"{run_id}.pid").read_text())
        os.killpg(pid, signal.SIGTERM)  # the shutdown's SIGTERM to the job's processes
        wait_for(lambda: (attempt_status(ck, run_id, 0) or {}).get("state") == "exited",
                 timeout=60, what="the attempt to exit")
        assert nbctl("stop", "job1").returncode == 0
        store = Store()

        def ended():
            controller_once(nbctl)
            return jobs.get(store, run_id).state.final
        wait_for(ended, timeout=300, step=0.5, what="the job to end")
        job = jobs.get(store, run_id)
        assert job.state.value == "SUCCEEDED", job.detail
        assert job.restarts == job.preemptions == 1
        assert out.read_bytes() == reference
    finally:
        nbctl("jobs", "cancel", run_id)
        nbctl("down", "job1", "--yes")
