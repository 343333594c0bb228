"""Colab Enterprise runtime states -> nbctl's normalized State, in one table.

The states are NotebookRuntime.RuntimeState of google/cloud/aiplatform/v1/notebook_runtime.proto.
Runtimes are never preempted, so nothing maps to PREEMPTED.
"""
from __future__ import annotations

from nbctl_cloud.model import State

RUNTIME_STATES: dict[str, State] = {
    "RUNTIME_STATE_UNSPECIFIED": State.PENDING,
    "BEING_STARTED": State.PROVISIONING,
    "RUNNING": State.RUNNING,
    "BEING_UPGRADED": State.PROVISIONING,
    "BEING_STOPPED": State.STOPPING,
    "STOPPED": State.STOPPED,
    "ERROR": State.FAILED,
    "INVALID": State.FAILED,
}


def runtime_state(native: str) -> State:
    return RUNTIME_STATES.get(native, State.PENDING)
