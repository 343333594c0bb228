"""What Compute Engine and Notebooks refuse in a well-formed request: the meaning checks.

A request that fits its discovery schema may still name a machine type or GPU the zone does
not offer, attach GPUs in a count or to a machine series that cannot take them, ask live
migration of a GPU VM, carry labels out of syntax, or a boot disk smaller than its image.
The facts come from reference.py (Google's docs, dated); the messages follow the API's
"Invalid value for field '<path>': '<value>'. <why>" form. Each check names its source.
"""
from __future__ import annotations

import re

from . import reference as ref
from .discovery import Problem

_TYPE_RX = re.compile(r"(?:.*/)?zones/([^/]+)/(machineTypes|acceleratorTypes)/([^/]+)\Z")


def check(method_id: str, params: dict, body, image_disk_gb) -> list[Problem]:
    """Problems with the meaning of a request; `image_disk_gb(source)` is an image's size."""
    if not isinstance(body, dict):
        return []
    if method_id == "compute.instances.insert":
        return instance_insert(params["zone"], body, image_disk_gb)
    if method_id == "notebooks.projects.locations.instances.create":
        return labels(body.get("labels"), "instance.labels")
    return []


def instance_insert(zone: str, body: dict, image_disk_gb) -> list[Problem]:
    # An unknown zone: "Invalid value for field 'zone'" (gcloud and the API, regions-zones doc).
    if zone not in ref.ZONE_ACCELERATORS:
        return [Problem(f"Invalid value for field 'zone': '{zone}'. Unknown zone.")]
    out = labels(body.get("labels"), "resource.labels")
    machine = _machine_type(zone, body.get("machineType", ""))
    if isinstance(machine, Problem):
        return out + [machine]
    out += accelerators(zone, machine, body.get("guestAccelerators") or [])
    sched = body.get("scheduling") or {}
    # "GPU machine types": VMs with GPUs cannot live-migrate; onHostMaintenance must be
    # TERMINATE, for attached (N1) and built-in (A2, A3, G2) GPUs alike.
    if ((body.get("guestAccelerators") or machine in ref.ATTACHED)
            and sched.get("onHostMaintenance", "MIGRATE") != "TERMINATE"):
        out.append(Problem("Instances with guest accelerators do not support live migration.",
                           "badRequest"))
    return out + boot_disk(body.get("disks") or [], image_disk_gb)


def _machine_type(zone: str, link: str) -> str | Problem:
    """The machine type's name, or how the API refuses it (the form gcloud's own
    instances-create parser matches: "Machine type with name '...' does not exist in zone")."""
    m = _TYPE_RX.match(link)
    name = m.group(3) if m and m.group(2) == "machineTypes" else None
    if name is None or m.group(1) != zone or name not in ref.machine_types(zone):
        return Problem(f"Invalid value for field 'resource.machineType': '{link}'. Machine type "
                       f"with name '{name or link}' does not exist in zone '{zone}'.")
    return name


def accelerators(zone: str, machine: str, configs: list) -> list[Problem]:
    """GPUs per "GPU regions and zone availability" and "GPU machine types"."""
    out: list[Problem] = []
    for i, cfg in enumerate(configs):
        field = f"resource.guestAccelerators[{i}]"
        link = cfg.get("acceleratorType", "")
        m = _TYPE_RX.match(link)
        gpu = m.group(3) if m and m.group(2) == "acceleratorTypes" else link
        count = int(cfg.get("acceleratorCount") or 0)
        if not m or m.group(1) != zone or gpu not in ref.ZONE_ACCELERATORS[zone]:
            out.append(Problem(f"Invalid value for field '{field}.acceleratorType': '{link}'. "
                               f"Accelerator type '{gpu}' does not exist in zone {zone}."))
        elif machine in ref.ATTACHED:
            # A2/A3/G2 come with their GPUs: only the very same GPUs may be named again.
            if (gpu, count) != ref.ATTACHED[machine]:
                have, n = ref.ATTACHED[machine]
                out.append(Problem(f"Invalid value for field '{field}': '{gpu} x {count}'. Machine "
                                   f"type {machine} comes with {n} {have} attached.", "badRequest"))
        elif not machine.startswith("n1-") or gpu not in ref.N1_GPU_COUNTS:
            out.append(Problem(f"[{machine}, {gpu}] features are not compatible for creating "
                               "instance.", "badRequest"))
        elif count not in ref.N1_GPU_COUNTS[gpu]:
            allowed = ", ".join(map(str, ref.N1_GPU_COUNTS[gpu]))
            out.append(Problem(f"Invalid value for field '{field}.acceleratorCount': '{count}'. "
                               f"{gpu} is attached in counts of {allowed}."))
    return out


def labels(value, field: str) -> list[Problem]:
    """Label syntax per https://cloud.google.com/compute/docs/labeling-resources."""
    if not isinstance(value, dict):
        return []
    if len(value) > ref.MAX_LABELS:
        return [Problem(f"Invalid value for field '{field}': ''. A resource can have at most "
                        f"{ref.MAX_LABELS} labels; {len(value)} were given.")]
    out = []
    for k, v in value.items():
        if not re.fullmatch(ref.LABEL_KEY, k):
            out.append(Problem(f"Invalid value for field '{field}': ''. Label key '{k}' violates "
                               "format constraints. The key must start with a lowercase character, "
                               "can only contain lowercase letters, numeric characters, underscores "
                               "and dashes. The key can be at most 63 characters long."))
        elif not isinstance(v, str) or not re.fullmatch(ref.LABEL_VALUE, v):
            out.append(Problem(f"Invalid value for field '{field}': ''. Label value '{v}' violates "
                               "format constraints. The value can only contain lowercase letters, "
                               "numeric characters, underscores and dashes. The value can be at "
                               "most 63 characters long."))
    return out


def boot_disk(disks: list, image_disk_gb) -> list[Problem]:
    """A disk made from an image may not be smaller than the image (images docs)."""
    out = []
    for i, disk in enumerate(disks):
        init = disk.get("initializeParams") or {}
        size, source = init.get("diskSizeGb"), init.get("sourceImage")
        need = image_disk_gb(source) if source else None
        if size is not None and need is not None and int(size) < need:
            out.append(Problem(f"Invalid value for field 'resource.disks[{i}].initializeParams."
                               f"diskSizeGb': '{size}'. Requested disk size cannot be smaller than "
                               f"the image size ({need} GB)"))
    return out
