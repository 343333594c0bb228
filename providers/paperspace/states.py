"""Paperspace machine states -> nbctl's normalized State, in one table.

The states are the `state` enum of the Machine object in the Paperspace API v1 reference
(https://docs.digitalocean.com/reference/paperspace/api-reference/#tag/Machine, OpenAPI
document https://api.paperspace.com/v1/openapi.json): off, starting, stopping, restarting,
serviceready, ready, upgrading, provisioning. Paperspace has no spot machines, so nothing
maps to PREEMPTED. No state says a create failed: that shows in the machine's `create` event
(state "error"), which the caller passes as `failed`.
"""
from __future__ import annotations

from nbctl_cloud.model import State

MACHINE_STATES: dict[str, State] = {
    "provisioning": State.PROVISIONING,
    "starting": State.PROVISIONING,
    # The host agent answers, but the machine is not yet usable.
    "serviceready": State.PROVISIONING,
    "ready": State.RUNNING,
    "restarting": State.PROVISIONING,
    "upgrading": State.PROVISIONING,
    "stopping": State.STOPPING,
    "off": State.STOPPED,
}


def machine_state(native: str | None, *, deleted: bool = False, failed: bool = False) -> State:
    """The normalized state; a machine with `dtDeleted` set is on its way out, one whose
    create event failed is FAILED."""
    if deleted:
        return State.DELETING
    if failed:
        return State.FAILED
    return MACHINE_STATES.get((native or "").lower(), State.PENDING)
