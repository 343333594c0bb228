"""Preemption as GCE does it: the `compute.instances.preempted` operation exists from the start
of the notice window, during which the VM is STOPPING; the termination action decides what is
left at its end (STOP: a TERMINATED VM; DELETE: nothing)."""
from __future__ import annotations

from nbctl_cloud.model import State

from tests.gcp.helpers import spot, wait_state

ZONE = "us-central1-a"


def test_nbctl_asks_for_spot_vms_that_stop_rather_than_vanish_when_preempted(gcp, emu):
    gcp.create(spot())
    sent = [r for r in emu.requests if r["method"] == "compute.instances.insert"]
    assert sent[0]["body"]["scheduling"]["instanceTerminationAction"] == "STOP"


def test_the_preempted_operation_exists_from_the_start_of_the_notice(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.preempt("sp1", ZONE, notice=600)  # the window outlasts the test
    assert gcp.gce._preemption_times(ZONE)
    assert gcp.get("sp1").state is State.STOPPING
    emu.end_notice("sp1", ZONE)
    assert gcp.get("sp1").state is State.PREEMPTED


def test_a_spot_vm_with_termination_action_delete_is_deleted_at_preemption(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.compute.instances[(ZONE, "sp1")]["scheduling"]["instanceTerminationAction"] = "DELETE"
    emu.preempt("sp1", ZONE, notice=0)
    assert (ZONE, "sp1") not in emu.compute.instances
    gone = gcp.get("sp1")
    assert gone.state is State.DELETED and "preempted by Compute Engine" in gone.detail


def test_a_vm_deleted_by_its_owner_after_a_preemption_is_simply_gone(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.preempt("sp1", ZONE, notice=0)
    gcp.delete("sp1")
    assert wait_state(gcp, "sp1", None) is None
