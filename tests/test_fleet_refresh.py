"""`status --refresh` reconciles in bulk: one transaction that writes only the rows that changed,
under the store's compare-and-set rules; every provider is listed in a process of its own, and
one whose listing fails is reported by name while the others are still reconciled.

The store's verb runs on SQLite and, where NBCTL_TEST_POSTGRES_URL names a server, PostgreSQL;
the CLI runs as a user runs it, with the example plugin and a second plugin beside it.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import pytest
from nbctl_cloud.model import Instance, State
from nbctl_cloud.store import Store

from .conftest import plugin_env, run_nbctl


def machine(name: str, state: State = State.RUNNING, **kw) -> Instance:
    return Instance(name=name, provider="example", state=state, native_id=f"id-{name}",
                    labels={"nbctl-name": name, "nbctl-owner": "tester"}, **kw)


def commits(path) -> int:
    """SQLite's file change counter (database header, offset 24): one more per write
    transaction committed, by any connection or process."""
    with open(path, "rb") as f:
        f.seek(24)
        return int.from_bytes(f.read(4), "big")


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.engine.dispose()


def test_a_reconcile_with_nothing_changed_writes_nothing(tmp_path):
    s = Store(f"sqlite:///{tmp_path}/state.db")
    for n in ("a", "b", "c"):
        s.save(machine(n))
    records, before = s.all(), commits(tmp_path / "state.db")
    assert s.reconcile([(r, replace(r.instance)) for r in records]) == 0
    assert commits(tmp_path / "state.db") == before
    assert [r.updated_at for r in s.all()] == [r.updated_at for r in records]


def test_a_reconcile_writes_the_changed_rows_only_and_records_each_state_change(store):
    for n in ("a", "b", "c"):
        store.save(machine(n))
    records = {r.instance.name: r for r in store.all()}
    seen = [(records["a"], machine("a")),
            (records["b"], machine("b", State.STOPPED, detail="stopped by its schedule")),
            (records["c"], machine("c", url="https://c.example/lab")),
            (None, machine("d", State.PROVISIONING))]
    assert store.reconcile(seen) == 3
    after = {r.instance.name: r for r in store.all()}
    assert after["a"].updated_at == records["a"].updated_at
    assert after["b"].instance.state is State.STOPPED
    assert after["b"].state_since > records["b"].state_since
    assert after["c"].instance.url == "https://c.example/lab"
    assert after["c"].state_since == records["c"].state_since  # the state did not move
    assert after["d"].instance.state is State.PROVISIONING
    assert [(e["name"], e["kind"], e["state"]) for e in store.events()][-2:] == [
        ("b", "state", "STOPPED"), ("d", "created", "PROVISIONING")]


def test_a_row_written_by_another_process_meanwhile_keeps_that_answer(store, store_url):
    store.save(machine("a"))
    (read,) = store.all()
    other = Store(store_url)  # another nbctl: `stop a` saved its fresher answer
    other.save(machine("a", State.STOPPING))
    other.engine.dispose()
    assert store.reconcile([(read, machine("a", State.PREEMPTED))]) == 0
    assert store.get("a").instance.state is State.STOPPING
    assert [e["state"] for e in store.events("a")] == ["RUNNING", "STOPPING"]


def test_a_name_another_process_inserted_meanwhile_is_left_to_it(store, store_url):
    other = Store(store_url)
    other.save(machine("a", State.PROVISIONING))
    other.engine.dispose()
    assert store.reconcile([(None, machine("a", State.RUNNING)), (None, machine("b"))]) == 1
    assert store.get("a").instance.state is State.PROVISIONING
    assert [e["kind"] for e in store.events("a")] == ["created"]
    assert store.get("b").instance.state is State.RUNNING


# -- through the CLI --------------------------------------------------------------------------
FAST = {"NBCTL_POLL_INTERVAL": "0.05"}

# A second plugin beside the example: its own cloud file, and a listing that fails with an
# AuthError, or whose process dies, when FLAKY says so.
FLAKY = textwrap.dedent('''
    import os

    from nbctl_cloud.config import data_dir
    from nbctl_cloud.errors import AuthError
    from nbctl_example_provider import ExampleProvider

    class FlakyProvider(ExampleProvider):
        name = "flaky"

        def __init__(self, config=None, owner="nbctl"):
            super().__init__({"path": str(data_dir() / "flaky-cloud.json"), **(config or {})},
                             owner)

        def list(self, labels=None):
            if os.environ.get("FLAKY") == "refused":
                raise AuthError("the flaky cloud refused the key: run `flaky login`")
            if os.environ.get("FLAKY") == "dies":
                os._exit(3)
            return super().list(labels)
''')


@pytest.fixture
def two_clouds(tmp_path):
    """`box` on the example cloud, `fl1` on the flaky one, both RUNNING in the store."""
    env = {**plugin_env(tmp_path, "flaky", FLAKY, "FlakyProvider"), **FAST}
    for name, provider in (("box", "example"), ("fl1", "flaky")):
        r = run_nbctl("up", name, "--provider", provider, env=env)
        assert r.returncode == 0, r.stderr
    return env


def states(env: dict, *extra: str) -> dict[str, str]:
    r = run_nbctl("status", *extra, "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    return {row["name"]: row["state"] for row in json.loads(r.stdout)}


def test_a_second_refresh_with_nothing_changed_writes_nothing(two_clouds, nbctl_home):
    db = nbctl_home / "data" / "state.db"
    assert states(two_clouds, "--refresh") == {"box": "RUNNING", "fl1": "RUNNING"}
    before = commits(db)
    assert states(two_clouds, "--refresh") == {"box": "RUNNING", "fl1": "RUNNING"}
    assert commits(db) == before


def test_a_refresh_writes_what_changed_behind_nbctls_back(two_clouds):
    from nbctl_example_provider import ExampleProvider

    ExampleProvider({}, owner="tester").stop("box")
    ExampleProvider({}, owner="tester").delete("box")
    assert states(two_clouds, "--refresh") == {"box": "DELETED", "fl1": "RUNNING"}


@pytest.mark.parametrize("how, says", [
    ("refused", "flaky: the flaky cloud refused the key: run `flaky login`"),
    ("dies", "flaky: its listing process ended without an answer (exit code 3)")])
def test_a_provider_whose_listing_fails_is_named_and_the_others_still_reconcile(
        two_clouds, how, says):
    from nbctl_example_provider import ExampleProvider

    ExampleProvider({}, owner="tester").stop("box")  # halted behind nbctl's back
    r = run_nbctl("status", "--refresh", env={**two_clouds, "FLAKY": how})
    assert r.returncode == (2 if how == "refused" else 1)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert "the other providers were refreshed" in lines[0]
    assert "Traceback" not in r.stderr
    assert states(two_clouds) == {"box": "STOPPING", "fl1": "RUNNING"}
