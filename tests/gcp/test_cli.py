"""nbctl as a user runs it (a subprocess), against the GCP emulator running as a subprocess."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_nbctl
from tests.gcp.helpers import EmulatorProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    emu = EmulatorProcess("--preempt-notice", "0")
    yield emu
    violations = emu.control("violations")["violations"]
    emu.close()
    assert violations == []


@pytest.fixture
def env(server):
    return server.env()


def nbctl_json(env, *args):
    res = run_nbctl(*args, "--output", "json", env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def vms(server):
    return {i["name"]: i for i in server.control("state")["instances"]}


def test_up_on_demand_gives_a_running_workbench_notebook(env, server):
    out = nbctl_json(env, "up", "nb1", "--provider", "gcp", "--gpu", "t4")
    assert out["state"] == "RUNNING" and out["backend"] == "workbench"
    assert out["created"] is True


def test_up_preemptible_fails_over_from_a_stocked_out_zone(env, server):
    server.control("inject", {"method": "instances.insert", "error": "stockout",
                              "zone": "us-central1-a"})
    out = nbctl_json(env, "up", "sp1", "--provider", "gcp", "--gpu", "t4", "--preemptible",
                     "--zone", "us-central1-a,us-central1-b")
    assert out["state"] == "RUNNING" and out["zone"] == "us-central1-b"
    assert vms(server)["sp1"]["zone"] == "us-central1-b"


def test_status_refresh_stop_start_and_down(env, server):
    nbctl_json(env, "up", "sp2", "--provider", "gcp", "--gpu", "t4", "--preemptible",
               "--zone", "us-central1-c")
    rows = nbctl_json(env, "status", "--refresh")
    assert {r["name"]: r["state"] for r in rows}.get("sp2") == "RUNNING"
    assert nbctl_json(env, "stop", "sp2")["state"] == "STOPPED"
    assert vms(server)["sp2"]["status"] == "TERMINATED"
    assert nbctl_json(env, "start", "sp2")["state"] == "RUNNING"
    nbctl_json(env, "down", "sp2", "--yes")
    assert "sp2" not in vms(server)


def test_status_refresh_sees_a_preemption(env, server):
    nbctl_json(env, "up", "sp3", "--provider", "gcp", "--gpu", "t4", "--preemptible",
               "--zone", "us-central1-f")
    server.control("preempt", {"name": "sp3", "zone": "us-central1-f"})
    rows = nbctl_json(env, "status", "--refresh")
    assert {r["name"]: r["state"] for r in rows}["sp3"] == "PREEMPTED"


def test_up_with_a_schedule_installs_an_instance_schedule_policy(env, server):
    nbctl_json(env, "up", "sc1", "--provider", "gcp", "--gpu", "t4", "--preemptible",
               "--zone", "us-central1-a", "--schedule-stop", "0 19 * * 1-5", "--tz", "Europe/Berlin")
    policies = server.control("state")["policies"]
    assert len([p for p in policies if p.startswith("us-central1/nbctl-sched-")]) == 1
    nbctl_json(env, "down", "sc1", "--yes")
    assert server.control("state")["policies"] == []


def test_a_permission_error_exits_non_zero_naming_the_permission(env, server):
    server.control("inject", {"method": "instances.insert", "error": "forbidden"})
    res = run_nbctl("up", "sp4", "--provider", "gcp", "--gpu", "t4", "--preemptible",
                    "--zone", "us-east1-c", env=env)
    assert res.returncode != 0
    assert "compute.instances.create" in res.stderr
    assert "Traceback" not in res.stderr
