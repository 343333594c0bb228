"""The example provider plugin (scripts/examples/provider-plugin), installed as its own
distribution, driven through the real CLI: nbctl finds it by its entry point and runs every
verb it has; what it lacks is refused in one line. And a plugin that claims a capability
without its verbs is refused when it is loaded.

The README's test command installs the plugin (`pip install -e scripts/examples/provider-plugin`).
"""
from __future__ import annotations

import json
import textwrap
from importlib.metadata import PackageNotFoundError, distribution

import pytest

from .conftest import plugin_env, run_nbctl

FAST = {"NBCTL_POLL_INTERVAL": "0.05"}


@pytest.fixture(autouse=True)
def example_installed():
    try:
        distribution("nbctl-example-provider")
    except PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install -e "
                    "scripts/examples/provider-plugin (see README.md)")


def nbctl(*args: str) -> dict | list:
    """Run the CLI with --output json; it must succeed."""
    r = run_nbctl(*args, "--output", "json", env=FAST)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def state_of(name: str, *extra: str) -> str:
    return nbctl("status", name, *extra)["state"]


@pytest.fixture
def box():
    made = nbctl("up", "box", "--provider", "example")
    assert (made["state"], made["created"], made["provider"]) == ("RUNNING", True, "example")
    yield "box"
    run_nbctl("down", "box", "--yes", env=FAST)


def test_gpus_lists_the_plugins_offers_cheapest_first():
    rows = nbctl("gpus", "--provider", "example")
    assert {(r["gpu"], r["count"]) for r in rows} == {("t4", 1), ("t4", 2), ("a10g", 1)}
    assert {r["provider"] for r in rows} == {"example"}
    assert [r["price"] for r in rows] == sorted(r["price"] for r in rows)


def test_up_without_a_gpu_needs_none_and_runs(box):
    assert state_of(box) == "RUNNING"
    assert [r["name"] for r in nbctl("list")] == [box]


def test_stop_and_start_wait_until_the_machine_is_there(box):
    assert nbctl("stop", box)["state"] == "STOPPED"
    assert state_of(box) == "STOPPED"
    assert nbctl("start", box)["state"] == "RUNNING"
    assert state_of(box) == "RUNNING"


def test_status_refresh_reports_what_the_cloud_says(box):
    from nbctl_example_provider import ExampleProvider

    ExampleProvider({}, owner="tester").stop(box)  # halted behind nbctl's back
    assert state_of(box) == "RUNNING"  # the store, as last seen
    assert state_of(box, "--refresh") == "STOPPING"


def test_down_deletes_the_machine_in_the_cloud(box, nbctl_home):
    r = run_nbctl("down", box, "--yes", env=FAST)
    assert r.returncode == 0, r.stderr
    cloud = json.loads((nbctl_home / "data" / "example-cloud.json").read_text())
    assert cloud["machines"] == {}
    assert nbctl("list") == []


def test_cost_prices_a_machine_by_the_plugins_own_offers():
    made = nbctl("up", "gpu1", "--provider", "example", "--gpu", "t4")
    assert made["state"] == "RUNNING"
    rows = {r["name"]: r for r in nbctl("cost")}
    assert rows["gpu1"]["provider"] == "example"
    assert rows["gpu1"]["hourly"] == 0.35  # the plugin's price list, not nbctl's catalog
    assert run_nbctl("down", "gpu1", "--yes", env=FAST).returncode == 0


def test_open_is_refused_in_one_line(box):
    r = run_nbctl("open", box, env=FAST)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "nbctl: error: example machines have no notebook to open"]


HALFWAY = textwrap.dedent('''
    """Declares stop/start but defines only stop."""
    from nbctl_cloud.provider import Provider, StopStart

    class HalfwayProvider(Provider, StopStart):
        name = "halfway"
        needs_gpu = False

        def offers(self, gpu=None, count=None, spot=False):
            return []

        def create(self, spec):
            raise NotImplementedError

        def get(self, name):
            return None

        def list(self, labels=None):
            return []

        def delete(self, name):
            pass

        def stop(self, name):
            pass
''')


def test_a_plugin_missing_a_verb_of_its_capability_is_refused_at_load(tmp_path):
    env = plugin_env(tmp_path, "halfway", HALFWAY, "HalfwayProvider")
    r = run_nbctl("up", "box", "--provider", "halfway", env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "halfway" in lines[0] and "start()" in lines[0] and "stop-start" in lines[0]
