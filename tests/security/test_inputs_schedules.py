"""Schedules: one bad schedule never stops the scheduler from running the others, and what a
schedule or the idle agent does is recorded in the store with its reason."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nbctl_cloud.cli import main
from nbctl_cloud.model import Instance, Schedule, State
from nbctl_cloud.provider import Provider, StopStart
from nbctl_cloud.scheduler import run_once
from nbctl_cloud.store import Store, schedules
from sqlalchemy import update

from tests.agent.fakes import agent_state
from tests.conftest import wait_for


class Machines(Provider, StopStart):
    """A provider whose machines stop and start when asked, and say so."""

    name = "machines"

    def __init__(self):
        super().__init__()
        self.states: dict[str, State] = {}

    def stop(self, name):
        self.states[name] = State.STOPPED

    def start(self, name):
        self.states[name] = State.RUNNING

    def get(self, name):
        return Instance(name=name, provider=self.name, state=self.states.get(name, State.RUNNING))

    def offers(self, gpu=None, count=None, spot=False):
        return []

    def create(self, spec):
        return self.get(spec.name)

    def list(self, labels=None):
        return [self.get(n) for n in self.states]

    def delete(self, name):
        self.states.pop(name, None)


def ts(s: str) -> float:
    return datetime.fromisoformat(s).replace(tzinfo=ZoneInfo("UTC")).timestamp()


def scheduled(store: Store, name: str, stop: str, created: float) -> None:
    """An instance with a stop schedule, as a store (of this or an older version) holds it."""
    store.save(Instance(name=name, provider="machines", state=State.RUNNING))
    store.save_schedule(name, "machines", Schedule(tz="UTC", stop=stop), "scheduler")
    with store.engine.begin() as c:
        c.execute(update(schedules).where(schedules.c.name == name).values(created_at=created))


def test_an_impossible_cron_in_the_store_does_not_stop_the_scheduler_running_the_others(
        capsys, nbctl_home):
    store = Store()
    scheduled(store, "a-bad", "0 0 30 2 *", ts("2026-11-23T12:00:00"))  # left by an older version
    scheduled(store, "b-good", "0 19 * * 1-5", ts("2026-11-23T12:00:00"))
    machines = Machines()
    fired = run_once(store, lambda _: machines, now=ts("2026-11-23T19:00:30"))
    assert [(f.name, f.ok) for f in fired] == [("a-bad", False), ("b-good", True)]
    assert "never fires" in fired[0].detail and "nbctl schedule set a-bad" in fired[0].detail
    assert machines.states == {"b-good": State.STOPPED}
    # the command reports the bad one, with no internal error, and goes on
    assert main(["scheduler", "--once", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert "internal error" not in err
    assert [f["name"] for f in json.loads(out) if not f["ok"]][0] == "a-bad"


def test_a_scheduled_stop_and_start_show_in_list_with_their_reason(capsys, nbctl_home):
    store = Store()
    scheduled(store, "nb", "0 19 * * 1-5", ts("2026-11-23T12:00:00"))
    store.save_schedule("nb", "machines", Schedule(tz="UTC", stop="0 19 * * 1-5",
                                                   start="0 8 * * 1-5"), "scheduler")
    machines = Machines()
    assert [f.ok for f in run_once(store, lambda _: machines, now=ts("2026-11-23T19:00:30"))] \
        == [True]
    assert main(["list", "-o", "json"]) == 0
    assert [(r["name"], r["state"]) for r in json.loads(capsys.readouterr().out)] \
        == [("nb", "STOPPED")]
    assert store.get("nb").instance.detail == "stop: schedule 0 19 * * 1-5 UTC"
    assert [f.ok for f in run_once(store, lambda _: machines, now=ts("2026-11-24T08:00:30"))] \
        == [True]
    assert store.get("nb").instance.state is State.RUNNING
    kinds = [(e["kind"], e["state"] or e["detail"]) for e in store.events("nb")][1:]
    assert kinds == [("stop", "schedule 0 19 * * 1-5 UTC"), ("state", "STOPPED"),
                     ("start", "schedule 0 8 * * 1-5 UTC"), ("state", "RUNNING")]


@pytest.mark.slow
def test_an_idle_stop_on_local_shows_in_status_without_refresh(nbctl, nbctl_home):
    assert nbctl("up", "idle1", "--idle-timeout", "1h").returncode == 0
    d = nbctl_home / "data" / "local" / "idle1"
    try:
        pid = int(json.loads((d / "instance.json").read_text())["pid"])
        r = nbctl("idle", "idle1", "--timeout", "3s")  # idle from the start: stopped soon
        assert r.returncode == 0, r.stderr
        wait_for(lambda: "stopped_at" in agent_state(d / "agent-state.json"), 120,
                 what="the agent to stop the idle server")
        wait_for(lambda: not Path(f"/proc/{pid}").exists()
                 or Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z",
                 60, what="the server to end")
        r = nbctl("status", "idle1", "-o", "json")  # no --refresh
        shown = json.loads(r.stdout)
        assert shown["state"] == "STOPPED" and shown["detail"].startswith("idle: "), shown
        assert "idle" in (Store().events("idle1")[-1]["detail"] or "")  # what `cost` reads
    finally:
        nbctl("down", "idle1", "--yes")
