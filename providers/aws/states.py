"""Native states of each AWS backend -> nbctl's State, one table each."""
from __future__ import annotations

from nbctl_cloud.model import State

SAGEMAKER_STATES: dict[str, State] = {
    "Pending": State.PROVISIONING,
    "Updating": State.PROVISIONING,
    "InService": State.RUNNING,
    "Stopping": State.STOPPING,
    "Stopped": State.STOPPED,
    "Failed": State.FAILED,
    "Deleting": State.DELETING,
}

EC2_STATES: dict[str, State] = {
    "pending": State.PROVISIONING,
    "running": State.RUNNING,
    "stopping": State.STOPPING,
    "stopped": State.STOPPED,
    "shutting-down": State.DELETING,
    "terminated": State.DELETED,
}

# What EC2 writes when it reclaims a spot instance: the instance's StateReason code, and the
# status code of its spot request.
SPOT_STATE_REASONS = frozenset({"Server.SpotInstanceShutdown", "Server.SpotInstanceTermination"})
SPOT_REQUEST_INTERRUPTED = frozenset({
    "instance-stopped-by-price", "instance-stopped-no-capacity",
    "instance-terminated-by-price", "instance-terminated-no-capacity",
    "instance-terminated-capacity-oversubscribed", "instance-stopped-capacity-oversubscribed",
})


def sagemaker_state(status: str) -> State:
    return SAGEMAKER_STATES.get(status, State.PENDING)


def ec2_state(name: str, reason_code: str | None = None) -> State:
    """A spot instance stopped by EC2 (not by its owner) is PREEMPTED."""
    state = EC2_STATES.get(name, State.PENDING)
    if state in (State.STOPPED, State.STOPPING) and reason_code in SPOT_STATE_REASONS:
        return State.PREEMPTED
    return state
