"""Emulated VMs that run for real: a RUNNING VM runs its start-up script under its own root, reaches
its own metadata server, hears a preemption notice, starts the job in its metadata once, and dies
with a stop, a delete or a preemption."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from nbctl_cloud.model import JobSpec, State

from tests.emulators.gcp import Delays, GcpEmulator
from tests.gcp.helpers import spot, wait_state

ZONE = "us-central1-a"


@pytest.fixture
def vm_emu(monkeypatch):
    emulator = GcpEmulator(delays=Delays(operation=0.05, provision=0.2, stop=0.1, delete=0.1,
                                         wait_timeout=1.0, notice=0.5), run_vms=True).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator
    emulator.stop()
    assert emulator.violations == []


@pytest.fixture
def gcp(vm_emu):
    from nbctl_cloud.providers.gcp import GcpProvider
    provider = GcpProvider({"region": "us-central1"}, owner="tester")
    yield provider
    provider.close()


def until(check, timeout=60.0):
    """Wait for check() to be true; raise on timeout (which stops a broken test only)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still not true after {timeout:.0f}s: {check}")
        time.sleep(0.05)


def running_vm(gcp, emu, name="sp1"):
    gcp.create(spot(name))
    wait_state(gcp, name, State.RUNNING)
    vm = emu.compute.vms.vms[(ZONE, name)]
    until(lambda: (vm.root / "run/nbctl/jobs.pid").exists())  # the script got to the end
    return vm


def metadata(vm, path, flavor=True, query=""):
    """GET from the VM's metadata server, as the VM does (through its http_proxy)."""
    port = vm.server.server_address[1]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": f"http://127.0.0.1:{port}"}))
    req = urllib.request.Request(f"http://metadata.google.internal/computeMetadata/v1/{path}{query}",
                                 headers={"Metadata-Flavor": "Google"} if flavor else {})
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("ETag")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("ETag")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def pids(vm) -> list[int]:
    return [int((vm.root / "run/nbctl" / f).read_text()) for f in ("agent.pid", "jobs.pid")]


def test_a_running_vm_runs_its_startup_script_under_its_own_root(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    assert (vm.root / "opt/nbctl/nbctl_agent.py").exists()
    assert (vm.root / "opt/nbctl/nbctl_jobs.py").exists()
    assert (vm.root / "opt/nbctl/nbctl_carry.py").exists()  # the launcher's fetch-and-check
    assert all(alive(p) for p in pids(vm))


def test_the_metadata_server_answers_only_with_the_metadata_flavor_header(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    assert metadata(vm, "instance/name")[:2] == (200, "sp1")
    assert metadata(vm, "instance/name", flavor=False)[0] == 403


def test_preempted_is_true_during_the_notice_then_the_vm_is_gone(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    assert metadata(vm, "instance/preempted")[1] == "FALSE"
    vm_emu.preempt("sp1", ZONE, notice=600)  # a window as long as the checks need
    assert metadata(vm, "instance/preempted")[1] == "TRUE"
    before = pids(vm)
    vm_emu.end_notice("sp1", ZONE)
    assert wait_state(gcp, "sp1", State.PREEMPTED).state is State.PREEMPTED
    assert until(lambda: not any(alive(p) for p in before))


def test_wait_for_change_answers_when_the_attribute_changes(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    status, _, tag = metadata(vm, "instance/attributes/nbctl-job")
    assert status == 404
    spec = spot()
    job = JobSpec(run_id="r1", instance=spec, command=["true"], checkpoint_url="/nonexistent",
                  runtime_url="/nonexistent/runtime.tar.gz", runtime_sha256="0" * 64)
    threading.Timer(0.3, gcp.run_job, ("sp1", job, 0)).start()
    status, body, _ = metadata(vm, "instance/attributes/nbctl-job",
                               query=f"?wait_for_change=true&last_etag={tag}&timeout_sec=600")
    # A wait that timed out would answer what was there: 404. The job means it woke on the change.
    assert status == 200 and json.loads(body)["run_id"] == "r1"


def test_stop_kills_the_vm_processes_and_keeps_its_disk(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    before = pids(vm)
    gcp.stop("sp1")
    wait_state(gcp, "sp1", State.STOPPED)
    assert until(lambda: not any(alive(p) for p in before))
    assert (vm.root / "opt/nbctl/nbctl_agent.py").exists()


def test_delete_kills_the_vm_processes_and_removes_its_disk(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    before = pids(vm)
    gcp.delete("sp1")
    assert until(lambda: not any(alive(p) for p in before))
    assert until(lambda: not vm.root.exists())


def test_the_vm_starts_the_job_in_its_metadata_and_cancel_stops_it(gcp, vm_emu, tmp_path):
    running_vm(gcp, vm_emu)
    job = JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                  command=["python3", "-c", "import time; time.sleep(60)"], workdir=str(tmp_path))
    gcp.run_job("sp1", job, 0)
    status = tmp_path / "ck/_nbctl/r1/status-0.json"
    assert until(lambda: status.exists() and json.loads(status.read_text())["state"] == "running")
    gcp.cancel_job("sp1", job)
    assert until(lambda: json.loads(status.read_text())["state"] == "exited")
    assert json.loads(status.read_text())["exit_code"] == -15  # the launcher's SIGTERM


def test_the_job_runs_in_the_working_directory_carried_as_an_archive(gcp, vm_emu, tmp_path):
    from nbctl_cloud.runtime.workdir import pack
    vm = running_vm(gcp, vm_emu)
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "input.txt").write_text("from the laptop\n")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    archive = str(tmp_path / "ck/_nbctl/r1/workdir.tar.gz")
    pack(str(project), archive)
    job = JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                  command=["python3", "-c", "import os; print(open('data/input.txt').read(), "
                           "os.path.exists('.git'), os.getcwd())"],
                  workdir=str(project), workdir_url=archive)
    gcp.run_job("sp1", job, 0)
    status = tmp_path / "ck/_nbctl/r1/status-0.json"
    assert until(lambda: status.exists() and json.loads(status.read_text())["state"] == "exited")
    assert json.loads(status.read_text())["exit_code"] == 0
    out = (tmp_path / "ck/_nbctl/r1/log-0.txt").read_text()
    assert "from the laptop" in out and "False" in out  # .git stays behind
    assert str(vm.root) in out and str(project) not in out  # a folder of the VM's own


def test_a_restarted_vm_does_not_start_an_attempt_it_started_before(gcp, vm_emu, tmp_path):
    vm = running_vm(gcp, vm_emu)
    job = JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                  command=["python3", "-c", "print('once')"], workdir=str(tmp_path))
    gcp.run_job("sp1", job, 0)
    log = vm.root / "var/log/nbctl-jobs.log"
    assert until(lambda: log.exists() and "started r1 attempt 0" in log.read_text())
    gcp.stop("sp1")
    wait_state(gcp, "sp1", State.STOPPED)
    gcp.start("sp1")
    wait_state(gcp, "sp1", State.RUNNING)
    until(lambda: (vm.root / "run/nbctl/jobs.pid").exists() and alive(pids(vm)[1]))
    # The launcher reads nbctl-job at once after it starts; a later change is the marker that
    # it has read, and passed over, the first one.
    gcp.run_job("sp1", JobSpec(run_id="r2", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                               command=["python3", "-c", "print('next')"], workdir=str(tmp_path)), 0)
    until(lambda: "started r2 attempt 0" in log.read_text())
    assert log.read_text().count("started r1 attempt 0") == 1


def test_shutdown_on_the_vm_stops_it_as_halting_a_gce_vm_does(gcp, vm_emu):
    vm = running_vm(gcp, vm_emu)
    proxy = f"http://127.0.0.1:{vm.server.server_address[1]}"
    subprocess.run([str(vm.root / "emulator-bin/shutdown"), "-h", "now"], check=True, timeout=10,
                   env={"PATH": "/usr/bin:/bin", "http_proxy": proxy})
    assert wait_state(gcp, "sp1", State.STOPPED).state is State.STOPPED


# The job saves on the first SIGTERM and ignores any repeat (a real shutdown may send more).
TRAP = ("import pathlib, signal, sys, time\n"
        "def bye(*_):\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    sys.exit(85)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "pathlib.Path(sys.argv[1]).write_text('ready')\n"
        "time.sleep(600)\n")


def test_a_preemption_notice_is_a_soft_off_that_terms_the_guest_before_the_power_goes(
        gcp, vm_emu, tmp_path):
    vm = running_vm(gcp, vm_emu)
    inst = vm_emu.compute.instances[(ZONE, "sp1")]
    inst["metadata"]["items"].append({"key": "shutdown-script", "value": "echo ran > shutdown-ran"})
    job = JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                  command=["python3", "-c", TRAP, str(tmp_path / "ready")], workdir=str(tmp_path))
    gcp.run_job("sp1", job, 0)
    status = tmp_path / "ck/_nbctl/r1/status-0.json"
    until((tmp_path / "ready").exists)  # its SIGTERM handler is in place
    op = vm_emu.preempt("sp1", ZONE, notice=600)  # the window outlasts the test
    assert op["operationType"] == "compute.instances.preempted"  # recorded from the start
    assert gcp.gce._preemption_times(ZONE)  # and nbctl finds it there
    assert metadata(vm, "instance/preempted")[1] == "TRUE"
    until(lambda: status.exists() and json.loads(status.read_text())["state"] == "exited")
    assert json.loads(status.read_text())["exit_code"] == 85  # SIGTERM, not the power-off
    assert until(lambda: (vm.root / "shutdown-ran").exists())
    assert gcp.get("sp1").state is State.STOPPING  # still in its window


def test_the_vm_python_has_no_nbctl_and_the_job_imports_the_carried_runtime(gcp, vm_emu, tmp_path):
    vm = running_vm(gcp, vm_emu)
    python = str(vm.root / "emulator-bin/python3")
    for module in ("nbctl_cloud", "orchestrator"):  # as on a stock Deep Learning VM image
        r = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True,
                           cwd=str(vm.root), env={"PATH": "/usr/bin:/bin"}, timeout=60)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, (module, r.stderr)
    job = JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                  command=["python3", "-c", "import nbctl_cloud.runtime.checkpoint as c; "
                           "print(c.__file__); print(c.Checkpointer)"], workdir=str(tmp_path))
    gcp.run_job("sp1", job, 0)
    status = tmp_path / "ck/_nbctl/r1/status-0.json"
    assert until(lambda: status.exists() and json.loads(status.read_text())["state"] == "exited")
    assert json.loads(status.read_text())["exit_code"] == 0
    where = (tmp_path / "ck/_nbctl/r1/log-0.txt").read_text().split()[0]
    folder = vm.root / "opt/nbctl/runtime"
    assert Path(where).parent.parent.parent.parent == folder  # <sha256>/nbctl_cloud/runtime/...


def test_a_runtime_changed_after_it_was_packed_never_runs_and_the_attempt_says_why(
        gcp, vm_emu, tmp_path):
    from nbctl_cloud.runtime_bundle import carry
    vm = running_vm(gcp, vm_emu)
    ran = tmp_path / "ran"
    job = carry(JobSpec(run_id="r1", instance=spot(), checkpoint_url=str(tmp_path / "ck"),
                        command=["touch", str(ran)], workdir=str(tmp_path)))
    with open(job.runtime_url, "ab") as f:
        f.write(b"\0")  # someone with access to the job's storage changed it
    gcp.run_job("sp1", job, 0)
    status = tmp_path / "ck/_nbctl/r1/status-0.json"
    assert until(status.exists)
    got = json.loads(status.read_text())
    assert got["state"] == "exited" and got["exit_code"] == 127
    assert job.runtime_sha256 in got["detail"] and "refusing to run it" in got["detail"]
    # the launcher reports before it would start anything: by now it has passed this attempt by
    assert "started r1" not in (vm.root / "var/log/nbctl-jobs.log").read_text()
    assert not ran.exists()
