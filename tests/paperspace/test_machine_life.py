"""What happens to a Paperspace machine after nbctl asked for it: its startup script runs at
boot, auto-shutdown stops it when idle, and a create Paperspace accepted can still fail."""
import pytest
from nbctl_cloud.errors import NbctlError
from nbctl_cloud.model import State

from tests.paperspace.conftest import wait_state


def events_of(emu, machine_id: str) -> list[dict]:
    import httpx
    r = httpx.get(f"{emu.url}/machine-events", params={"machineId": machine_id},
                  headers={"Authorization": f"Bearer {emu.key}"})
    r.raise_for_status()
    return r.json()["items"]


def test_paperspace_stops_an_idle_machine_after_its_auto_shutdown_timeout(
        emu, paperspace, make_spec):
    emu.hour_seconds = 0.5  # one hour of autoShutdownTimeout lasts half a second here
    inst = paperspace.create(make_spec(idle_timeout=3600))
    wait_state(paperspace, "ps1", State.STOPPED)
    assert emu.runs_of(inst.native_id), "it booted before it was shut down"
    assert "stop" in [e["name"] for e in events_of(emu, inst.native_id)]


def test_paperspace_counts_auto_shutdown_idleness_from_the_last_activity(emu):
    import time
    from datetime import datetime, timedelta, timezone

    import httpx
    emu.hour_seconds = 0.5
    with httpx.Client(base_url=emu.url + "/",
                      headers={"Authorization": f"Bearer {emu.key}"}) as api:
        mid = api.post("machines", json={
            "name": "m", "machineType": "A4000", "templateId": "tubuntu2204", "diskSize": 50,
            "region": "East Coast (NY2)", "startOnCreate": True, "autoShutdownEnabled": True,
            "autoShutdownTimeout": 1}).json()["data"]["id"]
        emu.set_busy(mid, True)  # in use from the start: auto-shutdown waits
        wait_native(api, mid, "ready")
        ready_for = time.monotonic() + 1.0
        while time.monotonic() < ready_for:  # busy for longer than the timeout ...
            assert api.get(f"machines/{mid}").json()["state"] == "ready"
            time.sleep(0.05)
        released = datetime.now(timezone.utc)
        emu.set_busy(mid, False)  # ... then idle: the hour counts from here
        wait_native(api, mid, "off")
    (stop,) = [e for e in events_of(emu, mid) if e["name"] == "stop"]
    stopped = datetime.fromisoformat(stop["dtCreated"].replace("Z", "+00:00"))
    assert stopped - released >= timedelta(seconds=0.45)  # not at once: ms-rounded 0.5 s


def test_paperspace_runs_the_startup_script_at_every_boot(emu, paperspace, make_spec):
    inst = paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    wait_state(paperspace, "ps1", State.STOPPED)
    paperspace.start("ps1")
    wait_state(paperspace, "ps1", State.RUNNING)
    runs = emu.runs_of(inst.native_id)
    assert [r["boot"] for r in runs] == [1, 2]
    assert all("jupyter" in r["script"] and "nbctl_agent" in r["script"] for r in runs)


def test_paperspace_runs_a_run_once_startup_script_only_at_the_first_boot(emu):
    import httpx
    with httpx.Client(base_url=emu.url + "/",
                      headers={"Authorization": f"Bearer {emu.key}"}) as api:
        script = api.post("startup-scripts", json={"name": "once", "script": "echo hi",
                                                   "isRunOnce": True}).json()
        machine = api.post("machines", json={
            "name": "m", "machineType": "A4000", "templateId": "tubuntu2204", "diskSize": 50,
            "region": "East Coast (NY2)", "startOnCreate": True,
            "startupScriptId": script["id"]}).json()
        mid = machine["data"]["id"]
        wait_native(api, mid, "ready")
        api.patch(f"machines/{mid}/stop").raise_for_status()
        wait_native(api, mid, "off")
        api.patch(f"machines/{mid}/start").raise_for_status()
        wait_native(api, mid, "ready")
    assert [(r["boot"], r["script"]) for r in emu.runs_of(mid)] == [(1, "echo hi")]


def test_paperspace_reports_a_failed_create_only_in_its_create_event(emu, paperspace, make_spec):
    emu.fail_provisioning("A4000", "ny2", error="host allocation failed")
    inst = paperspace.create(make_spec(zones=("ny2",)))
    failed = wait_state(paperspace, "ps1", State.FAILED)
    assert "host allocation failed" in failed.detail
    (create,) = [e for e in events_of(emu, inst.native_id) if e["name"] == "create"]
    assert create["state"] == "error"
    assert [m["state"] for m in emu.live_machines()] == ["provisioning"]


def test_up_of_a_machine_whose_create_failed_deletes_it_and_says_why(
        emu, paperspace, make_spec, tmp_path, monkeypatch):
    from nbctl_cloud import lifecycle
    from nbctl_cloud.store import Store
    monkeypatch.setenv("NBCTL_POLL_INTERVAL", "0.05")
    emu.fail_provisioning("A4000", "ny2", error="host allocation failed")
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with pytest.raises(NbctlError, match="host allocation failed.*deleted again"):
            lifecycle.up(paperspace, make_spec(zones=("ny2",)), store=store)
    finally:
        store.engine.dispose()
    assert paperspace.get("ps1") is None and emu.live_machines() == [] and emu.scripts == {}


def wait_native(api, machine_id: str, state: str, timeout: float = 60.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.get(f"machines/{machine_id}").json()["state"] == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"machine {machine_id} did not reach {state}")
