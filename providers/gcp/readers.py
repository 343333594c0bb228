"""Compute Engine VMs and Workbench instances, as their REST APIs write them in JSON, read into
nbctl's Instance. Both the fleet listing (which reads the JSON itself: listing.py) and the SDK
backends (whose protobuf messages `as_json` turns into the same JSON) read through here, so an
instance reads the same whichever way it was fetched. No SDK is imported here."""
from __future__ import annotations

from datetime import datetime

from nbctl_cloud.model import LABEL_NAME, Instance

from .common import BACKEND_GCE, BACKEND_WORKBENCH, gpu_of
from .states import gce_state, workbench_state

PREEMPTED_OP = "compute.instances.preempted"


def as_json(message) -> dict:
    """A proto-plus message of the SDK as its REST API's JSON (camelCase names, enums by name,
    64-bit integers as strings)."""
    return type(message).to_dict(message, preserving_proto_field_name=False,
                                 use_integers_for_enums=False)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as the APIs write it, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# -- Compute Engine ------------------------------------------------------------------------
def maybe_preempted(vm: dict) -> bool:
    """Stopped and spot: whether the zone's preemption record must be read."""
    return vm.get("status") == "TERMINATED" and \
        (vm.get("scheduling") or {}).get("provisioningModel") == "SPOT"


def preemption_times(operations: list[dict]) -> dict[str, datetime]:
    """VM id -> when the cloud last preempted it, from a zone's preemption operations."""
    out: dict[str, datetime] = {}
    for op in operations:
        at, target = parse_time(op.get("insertTime")), str(op.get("targetId") or "")
        if at is not None and target and (target not in out or at > out[target]):
            out[target] = at
    return out


def vm_instance(vm: dict, zone: str, preempted_at: dict[str, datetime]) -> Instance:
    """A preemption counts only if it came after the VM's last start."""
    accels = vm.get("guestAccelerators") or []
    labels = dict(vm.get("labels") or {})
    vm_id = str(vm.get("id") or "")
    at, started = preempted_at.get(vm_id), parse_time(vm.get("lastStartTimestamp"))
    preempted = at is not None and (started is None or at >= started)
    status = vm.get("status") or ""
    return Instance(
        name=labels.get(LABEL_NAME, vm.get("name", "")), provider="gcp",
        state=gce_state(status, preempted=preempted), native_id=vm_id or None, zone=zone,
        gpu=gpu_of(accels[0].get("acceleratorType")) if accels else None,
        gpu_count=int(accels[0].get("acceleratorCount") or 0) if accels else 0,
        preemptible=(vm.get("scheduling") or {}).get("provisioningModel") == "SPOT",
        backend=BACKEND_GCE, labels=labels, created_at=parse_time(vm.get("creationTimestamp")),
        detail="preempted by Compute Engine" if preempted else (vm.get("statusMessage") or None))


# -- Workbench -----------------------------------------------------------------------------
def workbench_url(raw: dict) -> str | None:
    """The notebook's address while it is ACTIVE (proxyUri, made https)."""
    uri = raw.get("proxyUri")
    if raw.get("state") != "ACTIVE" or not uri:
        return None
    return uri if uri.startswith("https://") else f"https://{uri}"


def workbench_instance(raw: dict) -> Instance:
    name = raw.get("name", "")
    accels = (raw.get("gceSetup") or {}).get("acceleratorConfigs") or []
    labels = dict(raw.get("labels") or {})
    return Instance(
        name=labels.get(LABEL_NAME, name.rsplit("/", 1)[-1]), provider="gcp",
        state=workbench_state(raw.get("state") or "STATE_UNSPECIFIED"),
        native_id=raw.get("id") or name, zone=name.split("/")[3],
        gpu=gpu_of(accels[0].get("type")) if accels else None,
        gpu_count=int(accels[0].get("coreCount") or 0) if accels else 0, preemptible=False,
        backend=BACKEND_WORKBENCH, url=workbench_url(raw), labels=labels,
        created_at=parse_time(raw.get("createTime")))
