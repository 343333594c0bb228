"""The fallback scheduler: catch-up, exactly-once, and the same instants as croniter."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from nbctl_cloud.model import Instance, Schedule, State
from nbctl_cloud.provider import Provider, StopStart
from nbctl_cloud.scheduler import run_once
from nbctl_cloud.store import Store, schedules
from sqlalchemy import update


class Machine(Provider, StopStart):
    """A provider whose machines always run and only record the stops and starts asked."""

    name = "machine"

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def stop(self, name):
        with self.lock:
            self.calls.append(("stop", name))

    def start(self, name):
        with self.lock:
            self.calls.append(("start", name))

    def get(self, name):
        return Instance(name=name, provider=self.name, state=State.RUNNING)

    def offers(self, gpu=None, count=None, spot=False):
        return []

    def create(self, spec):
        return self.get(spec.name)

    def list(self, labels=None):
        return []

    def delete(self, name):
        pass


def ts(s: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo(tz)).timestamp()


def setup(store: Store, name="nb", stop="0 19 * * 1-5", start=None, tz="UTC", created=None):
    store.save(Instance(name=name, provider="machine", state=State.RUNNING))
    store.save_schedule(name, "machine", Schedule(tz=tz, stop=stop, start=start), "scheduler")
    if created is not None:
        with store.engine.begin() as c:
            c.execute(update(schedules).where(schedules.c.name == name).values(created_at=created))


def test_a_fire_missed_while_down_is_performed_once_after_restart(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    setup(Store(url), created=ts("2026-11-23T12:00:00"))  # a Monday
    m = Machine()
    assert run_once(Store(url), lambda _: m, now=ts("2026-11-23T18:59:00")) == []
    # the scheduler was killed at 18:59 and comes back at 19:07: the 19:00 stop is caught up
    fired = run_once(Store(url), lambda _: m, now=ts("2026-11-23T19:07:00"))
    assert [(f.action, f.ok) for f in fired] == [("stop", True)]
    assert run_once(Store(url), lambda _: m, now=ts("2026-11-23T19:08:00")) == []
    assert m.calls == [("stop", "nb")]


def test_a_fire_older_than_the_grace_window_is_skipped_not_performed(tmp_path, nbctl_home):
    store = Store(f"sqlite:///{tmp_path}/s.db")
    setup(store, created=ts("2026-11-23T12:00:00"))
    m = Machine()
    fired = run_once(store, lambda _: m, now=ts("2026-11-23T21:00:00"), grace=900)
    assert [(f.action, f.ok) for f in fired] == [("stop", False)]
    assert m.calls == []
    assert "older than" in (nbctl_home / "data" / "nbctl.log").read_text()


def test_a_fire_before_the_schedule_existed_is_not_performed(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/s.db")
    setup(store, created=ts("2026-11-23T19:03:00"))
    m = Machine()
    assert run_once(store, lambda _: m, now=ts("2026-11-23T19:05:00")) == []


def test_two_schedulers_on_one_store_fire_once(store_url):
    setup(Store(store_url), created=ts("2026-11-23T12:00:00"))
    m = Machine()
    barrier = threading.Barrier(4)
    results = []

    def scheduler():
        s = Store(store_url)  # its own engine and connections, as another process would have
        barrier.wait()
        results.extend(run_once(s, lambda _: m, now=ts("2026-11-23T19:00:30")))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.calls == [("stop", "nb")]
    assert len(results) == 1


def test_two_scheduler_processes_stop_a_real_local_notebook_once(nbctl, nbctl_home, store_url):
    env = {"NBCTL_STATE_URL": store_url}
    assert nbctl("up", "nb", env=env).returncode == 0
    try:
        r = nbctl("schedule", "set", "nb", "--stop", "* * * * *", "--tz", "UTC", env=env)
        assert r.returncode == 0, r.stderr
        s = Store(store_url)
        with s.engine.begin() as c:  # the schedule was set two minutes ago
            c.execute(update(schedules).values(
                created_at=datetime.now(timezone.utc).timestamp() - 120))
        procs = [subprocess.Popen([sys.executable, "-m", "nbctl_cloud", "scheduler", "--once",
                                   "-o", "json"], stdout=subprocess.PIPE, text=True,
                                  env={**__import__("os").environ, **env}) for _ in range(2)]
        outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        assert sorted(len(o) for o in outs) == [0, 1]
        stops = [e for e in s.events("nb") if e["kind"] == "stop"]
        assert len(stops) == 1 and stops[0]["detail"].startswith("schedule")
        assert json.loads(nbctl("status", "nb", "-o", "json", "--refresh", env=env).stdout)["state"] == "STOPPED"
    finally:
        nbctl("down", "nb", "--yes", env=env)


CASES = [
    ("0 19 * * 1-5", "Europe/Berlin"), ("30 2 * * *", "Europe/Berlin"),
    ("0 8 * * 0", "America/New_York"), ("0 8 * * 7", "America/New_York"),
    # steps, an hour range and named weekdays in the two months whose last Sunday moves
    # Berlin's clocks (each month would be ~130 more fires, 400 more passes, of the same rules)
    ("*/30 9-11 * 3,10 MON-FRI", "Europe/Berlin"), ("0 0 1,15 * *", "America/New_York"),
    ("15 1 * * 6,0", "America/New_York"), ("0 */12 * * *", "UTC"), ("0 19 * 3 1-5", "Europe/Berlin"),
]


@pytest.fixture
def memory_dir(tmp_path):
    """A folder on a memory filesystem where there is one: a year of passes is thousands of
    transactions, and the test is of the scheduler's work, not of the disk's syncs."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="nbctl-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("expr,tz", CASES)
def test_fallback_scheduler_fires_at_croniters_instants_over_a_year(memory_dir, expr, tz):
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz))
    end = start + timedelta(days=365)
    it = croniter(expr, start)
    expected = []
    while (t := it.get_next(datetime)) < end:
        expected.append(t.timestamp())
    store = Store(f"sqlite:///{memory_dir}/y.db")
    setup(store, stop=expr, tz=tz, created=start.timestamp())
    m = Machine()
    performed = []
    for f in expected:  # passes just before, at, and after each expected instant
        assert run_once(store, lambda _: m, now=f - 1) == []
        performed += [x.fire_at for x in run_once(store, lambda _: m, now=f + 20)]
        assert run_once(store, lambda _: m, now=f + 40) == []
    assert performed == expected
