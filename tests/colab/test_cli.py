"""nbctl as a user runs it (a subprocess), against the Colab Enterprise fake on loopback:
up with and without an idle timeout, up twice, stop, start, status --refresh, open, down, the
fake's idle shutdown, failover to the next region, and the refusals in one line."""
from __future__ import annotations

import json

import pytest

from tests.colab.conftest import FAST
from tests.conftest import run_nbctl, wait_for
from tests.emulators.colab import ColabEmulator, Delays

pytestmark = pytest.mark.slow

PARENT = "projects/test-project/locations"
# Nothing stops by itself unless a test asks: a minute of idle timeout lasts an hour.
NO_IDLE = Delays(operation=FAST.operation, start=FAST.start, stop=FAST.stop, delete=FAST.delete,
                 idle_seconds_per_minute=3600.0)
# A minute of idle timeout lasts 0.05 s: the API's shortest, 10 minutes, is 0.5 s.
QUICK_IDLE = FAST


def serve(delays: Delays, nbctl_home):
    emulator = ColabEmulator(delays=delays).start()
    (nbctl_home / "config.toml").write_text(
        '[providers.colab]\nruntime_user = "tester@example.com"\nregion = "us-central1"\n')
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests the API's schema refuses"


@pytest.fixture
def fake(nbctl_home):
    yield from serve(NO_IDLE, nbctl_home)


@pytest.fixture
def idle_fake(nbctl_home):
    yield from serve(QUICK_IDLE, nbctl_home)


def env(fake: ColabEmulator) -> dict[str, str]:
    return {**fake.env(), "NBCTL_POLL_INTERVAL": "0.1", "CLOUDSDK_CORE_PROJECT": ""}


def nbctl_json(fake, *args):
    res = run_nbctl(*args, "--output", "json", env=env(fake))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def refused(fake, *args) -> str:
    """nbctl's one-line refusal (exit 2) of a command, with nothing made."""
    res = run_nbctl(*args, env=env(fake))
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert fake.service.templates == {} and fake.service.runtimes == {}
    return lines[0]


def templates(fake) -> dict[str, dict]:
    return dict(fake.service.templates)


def test_up_with_an_idle_timeout_runs_a_runtime_from_a_template_with_that_shutdown(fake):
    out = nbctl_json(fake, "up", "nb1", "--provider", "colab", "--gpu", "t4",
                     "--idle-timeout", "1h")
    assert out["state"] == "RUNNING" and out["created"] is True
    assert out["zone"] == "us-central1" and out["gpu"] == "t4" and out["warnings"] == []
    (name, tpl), = templates(fake).items()
    assert name.startswith(f"{PARENT}/us-central1/notebookRuntimeTemplates/")
    assert tpl["idleShutdownConfig"] == {"idleTimeout": "3600s"}
    assert tpl["machineSpec"] == {"machineType": "n1-standard-4",
                                  "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    assert tpl["labels"]["nbctl-name"] == "nb1" and tpl["labels"]["nbctl-owner"] == "tester"
    assert tpl["labels"]["nbctl-spec-hash"]
    runtime = fake.service.runtimes[f"{PARENT}/us-central1/notebookRuntimes/nb1"]
    assert runtime["notebookRuntimeTemplateRef"]["notebookRuntimeTemplate"] == name
    assert runtime["runtimeUser"] == "tester@example.com"
    assert runtime["runtimeState"] == "RUNNING"
    # the template's and the assign's operations were waited on at the configured endpoint
    assert fake.counts["GetOperation"] >= 2


def test_up_without_an_idle_timeout_and_up_twice_make_one_runtime(fake):
    first = nbctl_json(fake, "up", "nb2", "--provider", "colab", "--gpu", "t4")
    assert first["state"] == "RUNNING" and first["created"] is True
    (tpl,) = templates(fake).values()
    assert "idleShutdownConfig" not in tpl  # Colab Enterprise's own default applies
    again = nbctl_json(fake, "up", "nb2", "--provider", "colab", "--gpu", "t4")
    assert again["state"] == "RUNNING" and again["created"] is False
    assert list(fake.service.runtimes) == [f"{PARENT}/us-central1/notebookRuntimes/nb2"]
    assert len(templates(fake)) == 1 and fake.counts["AssignNotebookRuntime"] == 1


def test_stop_start_status_refresh_open_schedule_and_down_leave_nothing(fake):
    nbctl_json(fake, "up", "nb3", "--provider", "colab", "--gpu", "t4")
    runtime = f"{PARENT}/us-central1/notebookRuntimes/nb3"
    assert nbctl_json(fake, "stop", "nb3")["state"] == "STOPPED"
    assert fake.service.runtimes[runtime]["runtimeState"] == "STOPPED"
    assert nbctl_json(fake, "start", "nb3")["state"] == "RUNNING"
    assert fake.service.runtimes[runtime]["runtimeState"] == "RUNNING"

    lists = fake.counts["ListNotebookRuntimes"]
    rows = nbctl_json(fake, "status", "--refresh")
    assert {r["name"]: r["state"] for r in rows} == {"nb3": "RUNNING"}
    assert fake.counts["ListNotebookRuntimes"] == lists + 1  # one list for the one region

    url = nbctl_json(fake, "open", "nb3")["url"]
    assert url == "https://console.cloud.google.com/vertex-ai/colab/runtimes?project=test-project"

    sched = nbctl_json(fake, "schedule", "set", "nb3", "--stop", "0 19 * * 1-5", "--tz", "UTC")
    assert sched["engine"] == "scheduler"

    assert nbctl_json(fake, "down", "nb3", "--yes")["state"] == "DELETED"
    assert fake.service.runtimes == {} and templates(fake) == {}


def test_the_idle_shutdown_stops_an_idle_runtime_and_a_rounded_timeout_is_noted(idle_fake):
    out = nbctl_json(idle_fake, "up", "idle1", "--provider", "colab", "--gpu", "t4",
                     "--idle-timeout", "90s", "--no-wait")
    assert any("10 min" in w for w in out["warnings"]), out["warnings"]
    (tpl,) = templates(idle_fake).values()
    assert tpl["idleShutdownConfig"] == {"idleTimeout": "600s"}
    runtime = f"{PARENT}/us-central1/notebookRuntimes/idle1"

    def stopped() -> bool:
        idle_fake.clock.tick()  # the fake's time moves on as a request would move it
        return idle_fake.service.runtimes[runtime]["runtimeState"] == "STOPPED"
    wait_for(stopped, 60, what="the fake's idle shutdown to stop idle1")
    assert idle_fake.service.idle_stops == [runtime]
    rows = nbctl_json(idle_fake, "status", "--refresh")
    assert {r["name"]: r["state"] for r in rows} == {"idle1": "STOPPED"}


def test_a_stockout_in_the_first_region_ends_in_the_next_with_nothing_left_behind(fake):
    fake.inject("AssignNotebookRuntime", "stockout", location="us-central1")
    out = nbctl_json(fake, "up", "nb4", "--provider", "colab", "--gpu", "t4",
                     "--zone", "us-central1,us-east4")
    assert out["state"] == "RUNNING" and out["zone"] == "us-east4"
    assert list(fake.service.runtimes) == [f"{PARENT}/us-east4/notebookRuntimes/nb4"]
    assert [n.split("/")[3] for n in templates(fake)] == ["us-east4"]


def test_preemptible_jobs_and_a_changed_idle_timeout_are_refused_in_one_line(fake):
    spot = refused(fake, "up", "sp1", "--provider", "colab", "--gpu", "t4", "--preemptible")
    assert "no spot" in spot and "--provider gcp --preemptible" in spot
    job = refused(fake, "run", "job1", "--provider", "colab", "--gpu", "t4",
                  "--checkpoint-url", "gs://bucket/job1", "--", "python", "train.py")
    assert "no nbctl jobs" in job and "--preemptible" in job
    nbctl_json(fake, "up", "nb5", "--provider", "colab", "--gpu", "t4")
    res = run_nbctl("idle", "nb5", "--timeout", "2h", env=env(fake))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "nbctl down nb5" in res.stderr and "--idle-timeout" in res.stderr
