"""Idle shutdown on the local provider, with a real Jupyter server and a real kernel client."""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TIMEOUT = 6  # seconds; the agent then checks every second


def state(nbctl, name="idle1"):
    r = nbctl("status", name, "--refresh", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def start_kernel(home, name="idle1"):
    d = home / "data" / "local" / name
    meta = json.loads((d / "instance.json").read_text())
    token = (d / "token").read_text().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{meta['port']}/api/kernels", data=b"{}",
                                 method="POST", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        kernel_id = json.load(r)["id"]
    from jupyter_client import BlockingKernelClient
    client = BlockingKernelClient(connection_file=str(d / "runtime" / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return client


@pytest.fixture
def idle_nb(nbctl, nbctl_home):
    r = nbctl("up", "idle1", "--idle-timeout", f"{TIMEOUT}s")
    assert r.returncode == 0, r.stderr
    yield "idle1"
    nbctl("down", "idle1", "--yes")


def wait_stopped(nbctl, limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        s = state(nbctl)
        if s["state"] == "STOPPED":
            return s, time.monotonic() - t0
        time.sleep(0.5)
    return state(nbctl), time.monotonic() - t0


def test_a_kernel_running_a_long_cell_keeps_the_server_up(nbctl, nbctl_home, idle_nb):
    client = start_kernel(nbctl_home)
    try:
        client.execute(f"import time; time.sleep({3 * TIMEOUT})")
        time.sleep(2 * TIMEOUT)  # twice the idle timeout, all of it busy
        assert state(nbctl)["state"] == "RUNNING"
    finally:
        client.stop_channels()


def test_an_idle_server_is_stopped_within_timeout_plus_one_interval(nbctl, nbctl_home, idle_nb):
    client = start_kernel(nbctl_home)
    reply = client.execute_interactive("x = 1", timeout=30)
    assert reply["content"]["status"] == "ok"
    client.stop_channels()
    last_activity = time.monotonic()
    s, _ = wait_stopped(nbctl, 4 * TIMEOUT)
    took = time.monotonic() - last_activity
    assert s["state"] == "STOPPED"
    assert "idle" in (s["detail"] or "")
    interval = 1.0
    assert took <= TIMEOUT + interval + 3.0  # + the polling of this test and process exit


def test_idle_command_changes_the_timeout_on_a_running_server(nbctl, nbctl_home, idle_nb):
    # only nbctl's agent stops the server: Jupyter's no-activity shutdown, which --off could
    # not reach without a restart, is not set
    pid = int(state(nbctl)["native_id"])
    assert b"shutdown_no_activity" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    off = nbctl("idle", "idle1", "--off")
    assert off.returncode == 0
    assert "culling of idle kernels keeps its old setting" in off.stderr
    time.sleep(TIMEOUT + 3)
    assert state(nbctl)["state"] == "RUNNING"
    assert nbctl("idle", "idle1", "--timeout", "3s").returncode == 0
    s, _ = wait_stopped(nbctl, 20)
    assert s["state"] == "STOPPED"


def test_cost_counts_hours_saved_by_the_idle_stop(nbctl, nbctl_home, idle_nb):
    s, _ = wait_stopped(nbctl, 4 * TIMEOUT)
    assert s["state"] == "STOPPED"
    time.sleep(2)
    rows = json.loads(nbctl("cost", "-o", "json").stdout)
    row = next(r for r in rows if r["name"] == "idle1")
    assert row["saved_hours_idle"] > 0 and row["hours"] > 0
