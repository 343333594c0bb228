"""Jobs on spot VMs: nbctl hands a job attempt to the VM through its metadata.

`run_job` writes the instance attribute `nbctl-job` (JSON: run_id, restart, command,
checkpoint_url, status_url, workdir_url, git_url, and nbctl's carried runtime: runtime_url,
runtime_sha256, requirements); the job launcher that the VM's start-up script runs
(job_launcher.py) sees the change at once, checks and unpacks the runtime, and starts
`python3 -m nbctl_cloud.runtime.jobwrap` from it.
The attribute survives a stop or a preemption, and the launcher starts each (run_id, restart)
once per disk, so rebooting never runs an attempt twice. `cancel_job` removes the attribute,
and the launcher sends the job SIGTERM.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from nbctl_cloud.errors import NbctlError, NotFound

from .gce import Gce

if TYPE_CHECKING:  # pragma: no cover
    from nbctl_cloud.model import JobSpec

JOB_KEY = "nbctl-job"
FINGERPRINT_TRIES = 3  # another writer changed the metadata between our read and write


def current(items: dict[str, str]) -> dict | None:
    try:
        value = json.loads(items.get(JOB_KEY) or "null")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_job(gce: Gce, name: str, zone: str, job: "JobSpec", restart: int) -> None:
    """Put attempt `restart` in the VM's metadata; the same attempt twice is a no-op."""
    from nbctl_cloud.runtime_bundle import attempt
    want = attempt(job, restart)
    _update(gce, name, zone, f"start job {job.run_id} on {name}",
            lambda items: None if current(items) == want else {**items, JOB_KEY: json.dumps(want)})


def cancel_job(gce: Gce, name: str, zone: str, run_id: str) -> None:
    """Remove the job's attribute (the launcher then SIGTERMs it); another job's: no-op."""
    def drop(items: dict[str, str]) -> dict[str, str] | None:
        if (current(items) or {}).get("run_id") != run_id:
            return None
        return {k: v for k, v in items.items() if k != JOB_KEY}
    try:
        _update(gce, name, zone, f"cancel job {run_id} on {name}", drop)
    except NotFound:
        return


def _update(gce: Gce, name: str, zone: str, action: str, change) -> None:
    """Read-modify-write of the metadata items; `change` returns None for "nothing to do"."""
    for attempt in range(FINGERPRINT_TRIES):
        vm = gce.get_vm(name, zone)
        if vm is None:
            raise NotFound(f"{name} does not exist in {zone}")
        items = change({i.key: i.value for i in vm.metadata.items})
        if items is None:
            return
        try:
            gce.set_metadata(vm, zone, items, action=action)
            return
        except NbctlError as e:
            if e.code != "conditionNotMet" or attempt == FINGERPRINT_TRIES - 1:
                raise
