"""The read path without SQLAlchemy: `status` and `list` read a SQLite store through sqlite3,
exactly as the Store reads it, and a refresh with nothing changed never opens the Store."""
from __future__ import annotations

import subprocess
import sys

from nbctl_cloud.model import Instance, InstanceSpec, State
from nbctl_cloud.store import SCHEMA_VERSION, Store
from nbctl_cloud.store.snapshot import Snapshot
from sqlalchemy import create_engine, text


def fill(store: Store) -> None:
    spec = InstanceSpec(name="a", provider="local", gpu="t4", gpu_count=2, preemptible=True)
    store.save(Instance(name="a", provider="local", state=State.RUNNING, gpu="t4", gpu_count=2,
                        preemptible=True, zone="z1", url="http://127.0.0.1:1/", detail="ok",
                        labels={"nbctl-name": "a", "k": "v"}, native_id="i-1"), spec)
    store.save(Instance(name="b", provider="gcp", state=State.STOPPED, zone="us-central1-a"))


def test_snapshot_reads_what_the_store_reads(nbctl_home):
    store = Store()
    fill(store)
    snap = Snapshot.open()
    assert snap is not None
    assert snap.all() == store.all()
    assert snap.all("gcp") == store.all("gcp")
    assert snap.states() == store.states() == {"local": {"a": State.RUNNING},
                                               "gcp": {"b": State.STOPPED}}


def test_snapshot_serves_only_a_sqlite_store_at_this_schema(nbctl_home, tmp_path):
    assert Snapshot.open() is None  # no database yet: the Store must create it
    assert Snapshot.open("postgresql://u@127.0.0.1/db") is None
    url = f"sqlite:///{tmp_path}/s.db"
    Store(url)
    assert Snapshot.open(url) is not None
    with create_engine(url).begin() as c:
        c.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
                  {"v": str(SCHEMA_VERSION + 1)})
    assert Snapshot.open(url) is None  # the Store then refuses it, naming the upgrade


def test_reconcile_opens_the_store_only_to_write(nbctl_home):
    fill(Store())
    snap = Snapshot.open()
    records = snap.all()
    assert snap.reconcile([(r, r.instance) for r in records]) == 0
    assert snap._store is None
    from dataclasses import replace
    moved = replace(records[0].instance, state=State.STOPPED)
    assert snap.reconcile([(records[0], moved)]) == 1
    assert [r.instance.state for r in Store().all()] == [State.STOPPED, State.STOPPED]


def test_status_and_list_load_no_sqlalchemy(nbctl_home):
    fill(Store())
    code = ("import sys\nfrom nbctl_cloud.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('sqlalchemy' in sys.modules, file=sys.stderr)\n")
    for args in (["status"], ["list"], ["status", "-o", "json"]):
        res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                             text=True, check=True)
        assert "us-central1-a" in res.stdout
        assert res.stderr.strip().splitlines()[-1] == "False", args
