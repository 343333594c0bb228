"""Every start path takes the instance's lock, and a process is on record before it runs:
concurrent starts, `up` of a stopped instance and the scheduler never leave a second Jupyter
behind, and neither does an nbctl killed right after spawning one."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from tests.conftest import REPO, wait_for

pytestmark = pytest.mark.slow


def jupyters(home: Path, name: str) -> list[int]:
    """The live Jupyter servers serving this instance's folder, found in /proc (not through
    anything nbctl recorded)."""
    arg = f"--ServerApp.root_dir={home / 'data' / 'local' / name / 'work'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if arg not in (proc / "cmdline").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue  # it ended while we looked
        found.append(int(proc.name))
    return found


def together(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run nbctl commands as concurrent processes; wait for all of them."""
    procs = [subprocess.Popen([sys.executable, "-m", "nbctl_cloud", *c], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO) for c in commands]
    outs = [p.communicate(timeout=600) for p in procs]
    return [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(procs, outs)]


def no_jupyter_left(home: Path, name: str) -> None:
    wait_for(lambda: not jupyters(home, name), 120, step=0.2,
             what=f"every Jupyter of {name} to end after `down`")


@pytest.fixture
def stopped(nbctl, nbctl_home):
    """A local instance, made and stopped; deleted (and checked for leftovers) afterwards."""
    r = nbctl("up", "race", "--no-wait")
    assert r.returncode == 0, r.stderr
    r = nbctl("stop", "race")
    assert r.returncode == 0, r.stderr
    yield "race"
    nbctl("down", "race", "--yes")


def test_four_concurrent_starts_in_8_rounds_leave_one_jupyter_and_none_after_down(
        nbctl, nbctl_home, stopped):
    for round_ in range(8):
        results = together(*[["start", stopped, "--no-wait"]] * 4)
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        assert len(jupyters(nbctl_home, stopped)) == 1, f"round {round_}"
        r = nbctl("stop", stopped)
        assert r.returncode == 0, r.stderr
        no_jupyter_left(nbctl_home, stopped)  # stop ends it (SIGKILL after its grace)
    together(*[["start", stopped, "--no-wait"]] * 4)
    assert len(jupyters(nbctl_home, stopped)) == 1
    r = nbctl("down", stopped, "--yes")
    assert r.returncode == 0, r.stderr
    no_jupyter_left(nbctl_home, stopped)


def test_start_up_and_the_scheduler_starting_a_stopped_instance_at_once_leave_one_jupyter(
        nbctl, nbctl_home, stopped):
    r = nbctl("schedule", "set", stopped, "--start", "* * * * *", "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    engine = create_engine(f"sqlite:///{nbctl_home / 'data' / 'state.db'}")
    from nbctl_cloud.store import schedules
    for round_ in range(5):
        with engine.begin() as c:  # a start is due: the schedule is older than this minute
            c.execute(update(schedules).values(created_at=time.time() - 120,
                                               last_start_at=None))
        results = together(["start", stopped, "--no-wait"], ["up", stopped, "--no-wait"],
                           ["scheduler", "--once", "-o", "json"], ["start", stopped, "--no-wait"])
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        assert '"ok": true' in results[2].stdout, results[2].stdout  # the scheduler's start ran
        assert len(jupyters(nbctl_home, stopped)) == 1, f"round {round_}"
        assert nbctl("stop", stopped).returncode == 0
    engine.dispose()


HOOK = '''
import os, signal, subprocess
_record = os.environ.pop("TEST_KILL_AFTER_SPAWNING_JUPYTER", None)
if _record:
    _init = subprocess.Popen.__init__

    def _init_then_die(self, args, *a, **kw):
        _init(self, args, *a, **kw)
        if any(str(x).startswith("--ServerApp.port=") for x in args):
            with open(_record, "w") as f:
                f.write(str(self.pid))
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 before nbctl records anything

    subprocess.Popen.__init__ = _init_then_die
'''


def test_nbctl_killed_right_after_spawning_jupyter_leaves_no_server_that_down_misses(
        nbctl, nbctl_home, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    spawned = tmp_path / "spawned.pid"
    r = nbctl("up", "crash", env={"PYTHONPATH": f"{hook}:{REPO}",
                                  "TEST_KILL_AFTER_SPAWNING_JUPYTER": str(spawned)})
    try:
        assert r.returncode == -9, (r.returncode, r.stderr)
        assert int(spawned.read_text()) in jupyters(nbctl_home, "crash")
        # `up` again finds the server the killed one started, and starts no second one
        again = nbctl("up", "crash")
        assert again.returncode == 0, again.stderr
        assert jupyters(nbctl_home, "crash") == [int(spawned.read_text())]
    finally:
        down = nbctl("down", "crash", "--yes")
    assert down.returncode == 0, down.stderr
    no_jupyter_left(nbctl_home, "crash")
