"""Fake Paperspace machines that boot for real, through the API over loopback HTTP: a startup
script runs under the machine's own root at each boot, or only at the first (`isRunOnce`); a
stop is the guest's shutdown (SIGTERM, then the power goes); the disk outlives a stop and goes
with a delete; the machine's python3 is the image's, without nbctl; a power-off from the guest
stops the machine."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_for

WAIT = 120.0  # seconds: only a broken emulator waits this long

# starts a process that notes SIGTERM and lives on, so that only the power-off ends it
LINGER = """echo "$$" > "$NBCTL_ROOT/script.pid"
python3 - <<'EOF' &
import os, signal, time
root = os.environ["NBCTL_ROOT"]
signal.signal(signal.SIGTERM, lambda *_: open(root + "/got-term", "w").write("term"))
open(root + "/child.pid", "w").write(str(os.getpid()))
while True:
    time.sleep(0.05)
EOF
"""
BOOTED = 'echo booted >> "$NBCTL_ROOT/boots"\n'


@pytest.fixture
def emu(booting_emu):
    return booting_emu


@pytest.fixture
def api(emu):
    with httpx.Client(base_url=emu.url + "/",
                      headers={"Authorization": f"Bearer {emu.key}"}) as client:
        yield client


def create(api, script: str, *, run_once: bool = False, enabled: bool = True) -> tuple[str, str]:
    """(machine id, script id) of a machine with this startup script, once it is ready."""
    sid = api.post("startup-scripts", json={"name": "s", "script": script,
                                            "isRunOnce": run_once}).json()["id"]
    if not enabled:
        api.put(f"startup-scripts/{sid}", json={"isEnabled": False}).raise_for_status()
    r = api.post("machines", json={
        "name": "m", "machineType": "A4000", "templateId": "tubuntu2204", "diskSize": 50,
        "region": "East Coast (NY2)", "startOnCreate": True, "startupScriptId": sid})
    r.raise_for_status()
    mid = r.json()["data"]["id"]
    wait_state(api, mid, "ready")
    return mid, sid


def state(api, mid: str) -> str | None:
    r = api.get(f"machines/{mid}")
    return None if r.status_code == 404 else r.json()["state"]


def wait_state(api, mid: str, want: str | None) -> None:
    wait_for(lambda: state(api, mid) == want, WAIT, what=f"{mid} to be {want}")


def stop_and_start(api, emu, mid: str) -> None:
    api.patch(f"machines/{mid}/stop").raise_for_status()
    wait_state(api, mid, "off")
    api.patch(f"machines/{mid}/start").raise_for_status()
    wait_state(api, mid, "ready")
    wait_for(lambda: len(emu.machine(mid).boots) == 2, WAIT, what="the second boot")


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def pid_in(path: Path) -> int:
    wait_for(lambda: read(path).strip(), WAIT, what=f"a pid in {path.name}")
    return int(read(path))


def test_a_startup_script_runs_at_every_boot_under_the_machines_own_root(emu, api):
    mid, sid = create(api, BOOTED)
    m = emu.machine(mid)
    # the first boot's script has run before the stop (a stop can end it before it writes)
    wait_for(lambda: read(m.root / "boots") == "booted\n", WAIT, what="the first boot")
    stop_and_start(api, emu, mid)
    wait_for(lambda: read(m.root / "boots") == "booted\nbooted\n", WAIT, what="two boots")
    assert m.ran == [[sid], [sid]]
    assert m.root.parent == emu.guests.base


def test_a_run_once_startup_script_runs_only_at_the_first_boot(emu, api):
    mid, sid = create(api, BOOTED, run_once=True)
    m = emu.machine(mid)
    wait_for(lambda: read(m.root / "boots") == "booted\n", WAIT, what="the first boot's run")
    stop_and_start(api, emu, mid)
    assert m.ran == [[sid], []]
    assert read(m.root / "boots") == "booted\n"


def test_a_disabled_startup_script_does_not_run(emu, api):
    mid, _ = create(api, BOOTED, enabled=False)
    m = emu.machine(mid)
    assert m.ran == [[]] and m.proc is None
    assert not (m.root / "boots").exists()


def test_a_stop_sends_sigterm_to_the_scripts_processes_then_the_power_goes(emu, api):
    mid, _ = create(api, LINGER)
    m = emu.machine(mid)
    child = pid_in(m.root / "child.pid")
    assert os.getpgid(child) == m.proc.pid != os.getpgid(0)  # a process group of its own
    api.patch(f"machines/{mid}/stop").raise_for_status()
    wait_for(lambda: (m.root / "got-term").exists(), WAIT, what="SIGTERM at stopping")
    wait_state(api, mid, "off")
    wait_for(lambda: not alive(child), WAIT, what="the power to go")
    assert m.proc is None and not m.up


def test_an_auto_shutdown_is_the_guests_shutdown_too(emu, api):
    emu.hour_seconds = 0.5  # one hour of autoShutdownTimeout lasts half a second here
    mid, _ = create(api, LINGER)
    m = emu.machine(mid)
    child = pid_in(m.root / "child.pid")
    api.put(f"machines/{mid}", json={"autoShutdownEnabled": True,
                                     "autoShutdownTimeout": 1}).raise_for_status()
    wait_for(lambda: (m.root / "got-term").exists(), WAIT, what="SIGTERM at stopping")
    wait_state(api, mid, "off")
    wait_for(lambda: not alive(child), WAIT, what="the power to go")


def test_a_restart_is_a_shutdown_and_a_boot(emu, api):
    mid, sid = create(api, LINGER)
    m = emu.machine(mid)
    child = pid_in(m.root / "child.pid")
    api.patch(f"machines/{mid}/restart").raise_for_status()
    wait_for(lambda: len(m.boots) == 2, WAIT, what="the boot after the restart")
    assert (m.root / "got-term").exists()
    wait_for(lambda: not alive(child), WAIT, what="the first boot's processes to end")
    assert m.ran == [[sid], [sid]]


def test_the_disk_outlives_a_stop_and_goes_with_a_delete(emu, api):
    mid, _ = create(api, 'mkdir -p "$NBCTL_ROOT/var/lib"\n'
                         'echo kept >> "$NBCTL_ROOT/var/lib/data"\n')
    m = emu.machine(mid)
    data = m.root / "var/lib/data"
    wait_for(lambda: read(data) == "kept\n", WAIT, what="the first boot's write")
    stop_and_start(api, emu, mid)
    wait_for(lambda: read(data) == "kept\nkept\n", WAIT, what="the second boot's write")
    api.delete(f"machines/{mid}").raise_for_status()
    wait_state(api, mid, None)
    assert not m.root.exists() and emu.machine(mid) is None


def test_the_machines_python3_is_the_images_and_cannot_import_nbctl(emu, api):
    probe = ('cd /\npython3 -c "import nbctl_cloud" 2> "$NBCTL_ROOT/import.err"\n'
             'echo $? > "$NBCTL_ROOT/import.rc"\n'
             'sudo python3 -c "import sys; print(sys.prefix)" > "$NBCTL_ROOT/prefix"\n')
    mid, _ = create(api, probe)
    m = emu.machine(mid)
    wait_for(lambda: read(m.root / "prefix"), WAIT, what="the probe to finish")
    assert read(m.root / "import.rc").strip() != "0"
    assert "ModuleNotFoundError" in read(m.root / "import.err")
    assert Path(read(m.root / "prefix").strip()).resolve() != Path(sys.prefix).resolve()


@pytest.mark.parametrize("command", ["shutdown -h now", "poweroff", "systemctl poweroff"])
def test_a_power_off_from_the_guest_stops_the_machine(emu, api, command):
    mid, _ = create(api, f"{command}\n")
    wait_state(api, mid, "off")
    assert not emu.machine(mid).up
    api.patch(f"machines/{mid}/start").raise_for_status()  # a stopped machine, as after a stop
    wait_state(api, mid, "off")  # its script powers it off again at this boot too
    assert len(emu.machine(mid).boots) == 2


def test_nbctls_own_startup_script_starts_its_agent_on_the_machine(emu, paperspace, make_spec):
    inst = paperspace.create(make_spec())
    wait_for(lambda: emu.machine(inst.native_id) is not None, WAIT, what="a boot")
    state_file = emu.machine(inst.native_id).root / "var/lib/nbctl/agent-state.json"

    def agent_state() -> dict:
        try:
            return json.loads(state_file.read_text())
        except (OSError, ValueError):
            return {}
    wait_for(agent_state, WAIT, what="the agent's first check")
