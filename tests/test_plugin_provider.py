"""A third-party provider found through the `nbctl.providers` entry-point group, and the core's
capability rules applied to it: machines that cannot be stopped and started take no schedule.

The plugin is a real distribution on sys.path (a package plus its .dist-info with
entry_points.txt), found by importlib.metadata in a subprocess running the real CLI.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import plugin_env as install_plugin
from .conftest import run_nbctl

PLUGIN = textwrap.dedent('''
    """A provider whose machines can be created and deleted, never stopped or started."""
    import json, os
    from pathlib import Path
    from nbctl_cloud.provider import Provider
    from nbctl_cloud.model import Capability, Instance, Offer, State

    def _db():
        return Path(os.environ["NBCTL_HOME"]) / "ephemeral.json"

    def _load():
        return json.loads(_db().read_text()) if _db().exists() else {}

    class EphemeralProvider(Provider):
        name = "ephemeral"
        reasons = {Capability.STOP_START: "ephemeral machines cannot be stopped: use down"}
        poll_interval = 0.05

        def offers(self, gpu=None, count=None, spot=False):
            if spot or gpu not in (None, "t4"):
                return []
            return [Offer(provider=self.name, gpu="t4", count=count or 1, instance_type="box",
                          gpu_memory_gb=16, on_demand_hourly=1.0, spot_hourly=None,
                          price_date="2025-06-02", source="test")]

        def create(self, spec):
            db = _load()
            db.setdefault(spec.name, {"gpu": spec.gpu})
            _db().write_text(json.dumps(db))
            return self.get(spec.name)

        def get(self, name):
            if name not in _load():
                return None
            return Instance(name=name, provider=self.name, state=State.RUNNING)

        def list(self, labels=None):
            return [self.get(n) for n in _load()]

        def delete(self, name):
            db = _load()
            db.pop(name, None)
            _db().write_text(json.dumps(db))
''')


@pytest.fixture
def plugin_env(tmp_path):
    return install_plugin(tmp_path, "ephemeral", PLUGIN, "EphemeralProvider")


def test_an_entry_point_provider_is_found_and_runs_the_lifecycle(plugin_env):
    r = run_nbctl("up", "box1", "--provider", "ephemeral", "--gpu", "t4", "--output", "json",
                  env=plugin_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "RUNNING"
    r = run_nbctl("stop", "box1", env=plugin_env)
    assert r.returncode == 2
    assert r.stderr.strip() == "nbctl: error: ephemeral machines cannot be stopped: use down"
    r = run_nbctl("down", "box1", "--yes", env=plugin_env)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("args", [
    ["--start", "0 8 * * 1-5"],
    ["--stop", "0 19 * * 1-5"],
    ["--stop", "0 19 * * 1-5", "--start", "0 8 * * 1-5"],
])
def test_a_schedule_on_machines_that_cannot_stop_or_start_is_refused(plugin_env, args):
    assert run_nbctl("up", "box1", "--provider", "ephemeral", "--gpu", "t4",
                     env=plugin_env).returncode == 0
    r = run_nbctl("schedule", "set", "box1", *args, "--tz", "Europe/Berlin", env=plugin_env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot follow a schedule" in lines[0], r.stderr
    r = run_nbctl("schedule", "show", "box1", env=plugin_env)
    assert r.returncode == 2 and "has no schedule" in r.stderr  # nothing was recorded


def test_up_with_a_schedule_on_such_a_provider_creates_nothing(plugin_env, nbctl_home):
    r = run_nbctl("up", "box2", "--provider", "ephemeral", "--gpu", "t4",
                  "--schedule-start", "0 8 * * 1-5", "--tz", "UTC", env=plugin_env)
    assert r.returncode == 2
    assert "cannot follow a schedule" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (nbctl_home / "ephemeral.json").exists()
    r = run_nbctl("list", "--output", "json", env=plugin_env)
    assert json.loads(r.stdout) == []
