"""Native GCP states -> nbctl's normalized State: one table per backend.

A Compute Engine VM that is TERMINATED because the cloud preempted it reads PREEMPTED; that
takes the cloud's own record (a `compute.instances.preempted` operation), so the caller says
whether such a record exists.
"""
from __future__ import annotations

from nbctl_cloud.model import State

GCE_STATES: dict[str, State] = {
    "PROVISIONING": State.PROVISIONING,
    "STAGING": State.PROVISIONING,
    "RUNNING": State.RUNNING,
    "STOPPING": State.STOPPING,
    "SUSPENDING": State.STOPPING,
    "SUSPENDED": State.STOPPED,
    "TERMINATED": State.STOPPED,
    "REPAIRING": State.PROVISIONING,
}

# notebooks v2 Instance.State (google.cloud.notebooks.v2.State)
WORKBENCH_STATES: dict[str, State] = {
    "STATE_UNSPECIFIED": State.PENDING,
    "STARTING": State.PROVISIONING,
    "PROVISIONING": State.PROVISIONING,
    "INITIALIZING": State.PROVISIONING,
    "ACTIVE": State.RUNNING,
    "UPGRADING": State.PROVISIONING,
    "STOPPING": State.STOPPING,
    "STOPPED": State.STOPPED,
    "SUSPENDING": State.STOPPING,
    "SUSPENDED": State.STOPPED,
    "DELETED": State.DELETED,
    "ORPHANED": State.FAILED,
}


def gce_state(status: str, *, preempted: bool = False) -> State:
    """The normalized state of a VM; TERMINATED with a preemption record is PREEMPTED."""
    state = GCE_STATES.get(status, State.PENDING)
    if state is State.STOPPED and status == "TERMINATED" and preempted:
        return State.PREEMPTED
    return state


def workbench_state(state: str) -> State:
    return WORKBENCH_STATES.get(state, State.PENDING)
