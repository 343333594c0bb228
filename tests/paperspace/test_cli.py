"""`nbctl` in a subprocess against the fake Paperspace API in another subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import REPO, run_nbctl

pytestmark = pytest.mark.slow

# The fields nbctl sends to POST /machines: all documented, none more.
CREATE_FIELDS = {"name", "machineType", "templateId", "diskSize", "region", "publicIpType",
                 "startupScriptId", "startOnCreate", "emailPassword", "autoShutdownEnabled",
                 "autoShutdownTimeout"}


class Fake:
    def __init__(self, url: str):
        self.url = url
        self.root = url.rsplit("/v1", 1)[0]

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.root}/_emulator/requests").json()

    def violations(self) -> list[dict]:
        return httpx.get(f"{self.root}/_emulator/violations").json()

    def machines(self) -> list[dict]:
        return httpx.get(f"{self.root}/_emulator/machines").json()


@pytest.fixture
def fake():
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulators.paperspace", "--port", "0",
                             "--provision-delay", "0.3", "--transition-delay", "0.15"],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        f = Fake(proc.stdout.readline().strip())
        yield f
        assert f.violations() == [], "requests that do not fit the Paperspace API schema"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def ps(fake):
    env = {"NBCTL_PAPERSPACE_API_URL": fake.url, "PAPERSPACE_API_KEY": "ps-test-key",
           "NBCTL_POLL_INTERVAL": "0.1"}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return run_nbctl(*args, env={**env, **extra})

    return run


def up(ps) -> subprocess.CompletedProcess:
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", "--idle-timeout", "2h")
    assert r.returncode == 0, r.stderr
    return r


def test_up_creates_a_running_machine_with_exactly_the_documented_fields(ps, fake):
    r = up(ps)
    assert "RUNNING" in r.stdout
    (create,) = [q for q in fake.requests() if (q["method"], q["route"]) == ("POST", "/machines")]
    assert set(create["body"]) == CREATE_FIELDS
    assert create["body"]["autoShutdownTimeout"] == 2 and create["body"]["machineType"] == "A4000"


def test_status_refresh_shows_the_machine_running(ps):
    up(ps)
    r = ps("status", "--refresh", "--output", "json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert (row["name"], row["state"], row["zone"]) == ("ps1", "RUNNING", "ny2")


def test_stop_then_start(ps, fake):
    up(ps)
    assert "STOPPED" in ps("stop", "ps1").stdout
    assert fake.machines()[0]["state"] == "off"
    assert "RUNNING" in ps("start", "ps1").stdout


def test_down_deletes_machine_and_marker(ps, fake):
    up(ps)
    r = ps("down", "ps1", "--yes")
    assert r.returncode == 0, r.stderr
    routes = [(q["method"], q["route"]) for q in fake.requests()]
    assert ("DELETE", "/machines/{id}") in routes and ("DELETE", "/startup-scripts/{id}") in routes


def test_missing_key_is_one_line_exit_2_and_creates_nothing(ps, fake):
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", PAPERSPACE_API_KEY="")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "PAPERSPACE_API_KEY" in r.stderr and fake.machines() == []


def test_wrong_key_is_one_line_exit_2_and_creates_nothing(ps, fake):
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", PAPERSPACE_API_KEY="wrong")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "PAPERSPACE_API_KEY" in r.stderr and fake.machines() == []


def test_disk_gb_outside_paperspace_sizes_is_one_line_exit_2_and_creates_nothing(ps, fake):
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", "--disk-gb", "120")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--disk-gb" in r.stderr and "250" in r.stderr
    assert fake.requests() == []


def test_up_of_a_machine_paperspace_fails_to_provision_deletes_it_and_exits_1(ps, fake):
    httpx.post(f"{fake.root}/_emulator/fail-provisioning",
               json={"machineType": "A4000", "region": "ny2"}).raise_for_status()
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", "--zone", "ny2")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "FAILED" in r.stderr and "deleted again" in r.stderr
    assert fake.machines() == []


def test_preemptible_is_a_capability_error_exit_2_and_creates_nothing(ps, fake):
    r = ps("up", "ps1", "--provider", "paperspace", "--gpu", "a4000", "--preemptible")
    assert r.returncode == 2 and "--provider gcp" in r.stderr
    assert fake.requests() == []
