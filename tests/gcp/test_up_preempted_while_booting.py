"""`up` of a spot VM that the cloud takes back before it reaches RUNNING, as happens when a
zone is short of spot capacity: the core starts it again instead of failing, a few times."""
from __future__ import annotations

from dataclasses import replace

import pytest
from nbctl_cloud import lifecycle
from nbctl_cloud.errors import NbctlError
from nbctl_cloud.model import State
from nbctl_cloud.store import Store

from tests.gcp.conftest import FAST, serve
from tests.gcp.helpers import spot

ZONE = "us-central1-a"


@pytest.fixture
def emu(monkeypatch):
    """The emulator with a boot long enough that every poll sees it (a busy machine's polls
    could otherwise miss a 0.2 s boot, and with it the moment to preempt)."""
    yield from serve(monkeypatch, replace(FAST, provision=1.5))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("NBCTL_POLL_INTERVAL", "0.05")
    return Store(f"sqlite:///{tmp_path}/state.db")


def preempt_while_booting(emu, times):
    """A progress callback that preempts the VM the first `times` times it is seen booting."""
    seen = {"preempted": 0, "booting": False}

    def progress(name, state, elapsed):
        booting = state in (State.PENDING, State.PROVISIONING)
        if booting and not seen["booting"] and seen["preempted"] < times:
            emu.preempt(name, ZONE, notice=0)
            seen["preempted"] += 1
        seen["booting"] = booting
    return progress, seen


def test_a_spot_vm_preempted_while_booting_is_started_again(gcp, emu, store):
    progress, seen = preempt_while_booting(emu, times=2)
    inst, created = lifecycle.up(gcp, spot(), store=store, timeout=30, progress=progress)
    assert created and inst.state is State.RUNNING
    assert seen["preempted"] == 2
    assert emu.counts["compute.instances.start"] == 2
    assert emu.counts["compute.instances.insert"] == 1


def test_a_spot_vm_preempted_at_every_boot_is_deleted_with_a_clear_error(gcp, emu, store):
    progress, seen = preempt_while_booting(emu, times=99)
    with pytest.raises(NbctlError, match="PREEMPTED, not RUNNING.*deleted again"):
        lifecycle.up(gcp, spot(), store=store, timeout=30, progress=progress)
    assert seen["preempted"] == lifecycle.PREEMPTED_RESTARTS + 1
    assert gcp.get("sp1") is None or gcp.get("sp1").state is State.DELETED
