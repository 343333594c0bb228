"""The local provider end to end, through the CLI, with a real Jupyter server."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def meta(home, name):
    return json.loads((home / "data" / "local" / name / "instance.json").read_text())


def api_status(url_with_token: str) -> int:
    base, _, token = url_with_token.partition("?token=")
    root = base.rsplit("/lab", 1)[0].rstrip("/")
    req = urllib.request.Request(f"{root}/api/status", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def status_of(nbctl, name, *extra):
    r = nbctl("status", name, "--output", "json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["state"]


@pytest.fixture
def demo(nbctl, nbctl_home):
    r = nbctl("up", "demo", "--provider", "local")
    assert r.returncode == 0, r.stderr
    yield "demo"
    nbctl("down", "demo", "--yes")


def test_up_brings_a_notebook_that_answers_with_its_token_and_up_twice_makes_one_server(
        nbctl, nbctl_home, demo):
    r = nbctl("open", demo)
    assert r.returncode == 0
    url = r.stdout.strip()
    assert "token=" in url and url.startswith("http://127.0.0.1:")
    assert api_status(url) == 200
    assert status_of(nbctl, demo) == "RUNNING"
    # up again: the same server
    pid = meta(nbctl_home, demo)["pid"]
    r = nbctl("up", demo, "--provider", "local", "--output", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["created"] is False
    assert meta(nbctl_home, demo)["pid"] == pid
    assert len(list((nbctl_home / "data" / "local").iterdir())) == 1


def test_a_retried_create_of_the_same_spec_starts_one_server(nbctl_home):
    from nbctl_cloud.model import InstanceSpec
    from nbctl_cloud.providers.local import LocalProvider

    local = LocalProvider({}, owner="tester")
    spec = InstanceSpec(name="again", provider="local", owner="tester").stamped()
    try:
        first = local.create(spec)
        again = local.create(spec)  # the first answer lost, say: the same request once more
        assert again.native_id == first.native_id == str(meta(nbctl_home, "again")["pid"])
        assert meta(nbctl_home, "again")["labels"] == spec.labels
    finally:
        local.delete("again")


def gone(pid: int) -> bool:
    """The process has ended (exited, or a zombie its parent has not reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_server_killed_by_hand_is_not_reported_running(nbctl, nbctl_home, demo):
    pid = meta(nbctl_home, demo)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: gone(pid), 60, what=f"the killed server {pid} to end")
    assert status_of(nbctl, demo, "--refresh") in ("STOPPED", "FAILED")


def test_a_preempted_server_has_its_preemption_record_before_it_dies(nbctl_home):
    from nbctl_cloud.model import InstanceSpec, State
    from nbctl_cloud.providers.local import LocalProvider

    local = LocalProvider({}, owner="tester")
    spec = InstanceSpec(name="spot", provider="local", owner="tester", preemptible=True).stamped()
    try:
        local.create(spec)
        wait_for(lambda: local.get("spot").state is State.RUNNING, 120, what="the server")
        pid = int(local.get("spot").native_id)  # this process's child: waitid sees it die
        record = nbctl_home / "data" / "local" / "spot" / "preempted.json"
        seen = {}

        def at_death():
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # wakes at death, reaps nothing
            seen["record"] = record.exists()
            seen["state"] = local.get("spot").state
        watcher = threading.Thread(target=at_death)
        watcher.start()
        local.preempt("spot", notice_seconds=0)
        watcher.join(timeout=60)
        assert not watcher.is_alive(), "the server outlived its preemption"
        # a job controller looking at that moment reads PREEMPTED, never a user's STOPPED
        assert seen == {"record": True, "state": State.PREEMPTED}
    finally:
        local.delete("spot")


def test_stop_keeps_files_and_start_serves_the_same_folder(nbctl, nbctl_home, demo):
    work = nbctl_home / "data" / "local" / demo / "work"
    (work / "keep.txt").write_text("kept")
    assert nbctl("stop", demo).returncode == 0
    assert status_of(nbctl, demo) == "STOPPED"
    assert (work / "keep.txt").exists()
    r = nbctl("open", demo)  # stopped: open says to start it
    assert r.returncode == 1 and "nbctl start demo" in r.stderr
    assert nbctl("start", demo).returncode == 0
    assert status_of(nbctl, demo) == "RUNNING"
    url = nbctl("open", demo).stdout.strip()
    base, _, token = url.partition("?token=")
    root = base.rsplit("/lab", 1)[0].rstrip("/")
    req = urllib.request.Request(f"{root}/api/contents/keep.txt",
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.load(resp)["name"] == "keep.txt"


def test_down_asks_for_yes_off_a_terminal_then_removes_everything(nbctl, nbctl_home, demo):
    r = nbctl("down", demo)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert status_of(nbctl, demo) == "RUNNING"
    assert nbctl("down", demo, "--yes").returncode == 0
    assert not (nbctl_home / "data" / "local" / demo).exists()
    r = nbctl("list", "--output", "json")
    assert json.loads(r.stdout) == []


def test_two_concurrent_ups_make_one_instance(nbctl_home):
    import subprocess
    import sys
    procs = [subprocess.Popen([sys.executable, "-m", "nbctl_cloud", "up", "race"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    try:
        assert codes[0] == 0
        assert len(list((nbctl_home / "data" / "local").iterdir())) == 1
        errors = " ".join(err for _, err in outs)
        # The loser either saw the lock (clear message) or came second and found it made.
        assert codes == [0, 0] or "in progress in another nbctl process" in errors
    finally:
        subprocess.run([sys.executable, "-m", "nbctl_cloud", "down", "race", "--yes"])


def test_preemptible_local_instance_is_preempted_by_the_simulator(nbctl, nbctl_home):
    env = {"NBCTL_LOCAL_PREEMPT_AFTER": "2s", "NBCTL_LOCAL_PREEMPT_NOTICE": "0"}
    r = nbctl("up", "spot", "--preemptible", env=env)
    assert r.returncode == 0, r.stderr
    try:
        wait_for(lambda: status_of(nbctl, "spot", "--refresh") == "PREEMPTED", 120, step=0.5,
                 what="the simulator to preempt the instance")
        # status NAME --refresh copies the provider's own record of it into the history, once
        for _ in range(2):
            shown = json.loads(nbctl("status", "spot", "--refresh", "-o", "json").stdout)
            assert shown["preemptions"].startswith("1 (last: local preemption simulator at ")
        assert nbctl("up", "spot", "--preemptible").returncode == 0  # up brings it back
        assert status_of(nbctl, "spot") == "RUNNING"
    finally:
        nbctl("down", "spot", "--yes")


def test_up_says_what_it_could_not_do_instead_of_staying_silent(nbctl, nbctl_home):
    first = nbctl("up", "spot", "--preemptible", env={"NBCTL_LOCAL_PREEMPT_AFTER": ""})
    try:
        assert first.returncode == 0, first.stderr
        assert "no preemption is simulated until NBCTL_LOCAL_PREEMPT_AFTER" in first.stderr
        again = nbctl("up", "spot", "--preemptible", "--idle-timeout", "30m")
        assert again.returncode == 0, again.stderr
        assert "idle timeout is unchanged" in again.stderr and "nbctl idle spot" in again.stderr
        assert json.loads(nbctl("status", "spot", "-o", "json").stdout)["spec"]["idle_timeout"] \
            is None
    finally:
        nbctl("down", "spot", "--yes")


def test_malformed_preemption_window_fails_before_creating(nbctl, nbctl_home):
    r = nbctl("up", "spot", "--preemptible", env={"NBCTL_LOCAL_PREEMPT_AFTER": "soon"})
    assert r.returncode == 2 and "NBCTL_LOCAL_PREEMPT_AFTER" in r.stderr
    assert not (nbctl_home / "data" / "local" / "spot").exists()


def test_fake_credentials_never_reach_the_store_or_logs(nbctl, nbctl_home):
    secrets = {"AWS_ACCESS_KEY_ID": "AKIAFAKEKEY1234567890", "AWS_SECRET_ACCESS_KEY":
               "fakeSecretKeyValue0123456789abcdefABCDEF", "PAPERSPACE_API_KEY":
               "ps-fake-api-key-0123456789", "GOOGLE_APPLICATION_CREDENTIALS":
               "/tmp/fake-service-account-9f8e7d.json"}
    assert nbctl("up", "sec", env=secrets).returncode == 0
    nbctl("status", "--refresh", env=secrets)
    nbctl("stop", "sec", env=secrets)
    nbctl("down", "sec", "--yes", env=secrets)
    nbctl("up", "bad", "--gpu", "t4:0", env=secrets)
    blobs = []
    for path in (nbctl_home / "data").rglob("*"):
        if path.is_file():
            blobs.append(path.read_bytes())
    con = sqlite3.connect(nbctl_home / "data" / "state.db")
    for table in ("instances", "events", "meta", "locks", "schedules", "jobs"):
        blobs.append(repr(con.execute(f"select * from {table}").fetchall()).encode())
    assert (nbctl_home / "data" / "nbctl.log").exists()
    for value in secrets.values():
        assert not any(value.encode() in b for b in blobs), value
