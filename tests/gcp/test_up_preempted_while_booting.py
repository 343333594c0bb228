"""`up` of a spot VM that the cloud takes back before it reaches RUNNING, as happens when a
zone is short of spot capacity: the core starts it again instead of failing, a few times.
The emulator reclaims the boots server-side, so the outcome does not hang on when the
client's polls happen to land."""
from __future__ import annotations

import pytest
from nbctl_cloud import lifecycle
from nbctl_cloud.errors import NbctlError
from nbctl_cloud.model import State
from nbctl_cloud.store import Store

from tests.gcp.helpers import spot

ZONE = "us-central1-a"
PATIENCE = 600  # stops a broken test only; a loaded machine may take its time


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("NBCTL_POLL_INTERVAL", "0.05")
    return Store(f"sqlite:///{tmp_path}/state.db")


def test_a_spot_vm_preempted_while_booting_is_started_again(gcp, emu, store):
    emu.preempt_boots("sp1", ZONE, times=2)
    inst, created = lifecycle.up(gcp, spot(), store=store, timeout=PATIENCE)
    assert created and inst.state is State.RUNNING
    assert emu.compute.preempt_boots[(ZONE, "sp1")] == 0
    assert emu.counts["compute.instances.start"] == 2
    assert emu.counts["compute.instances.insert"] == 1


def test_a_spot_vm_preempted_at_every_boot_is_deleted_with_a_clear_error(gcp, emu, store):
    emu.preempt_boots("sp1", ZONE, times=99)
    with pytest.raises(NbctlError, match="PREEMPTED, not RUNNING.*deleted again"):
        lifecycle.up(gcp, spot(), store=store, timeout=PATIENCE)
    assert emu.counts["compute.instances.start"] == lifecycle.PREEMPTED_RESTARTS
    assert 99 - emu.compute.preempt_boots[(ZONE, "sp1")] == lifecycle.PREEMPTED_RESTARTS + 1
    assert gcp.get("sp1") is None or gcp.get("sp1").state is State.DELETED
