"""Cron schedules of spot VMs as Compute Engine instance-schedule resource policies.

A policy lives in the VM's region and is named from its schedule, so instances with the same
schedule share one policy. It is detached from an instance with removeResourcePolicies and
deleted once no instance uses it (the API refuses to delete a policy in use, which is how we
know another instance still needs it).
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from nbctl_cloud.errors import NbctlError, NotFound
from nbctl_cloud.model import Schedule

from . import faults
from .sdk import compute_v1
from .zones import region_of

if TYPE_CHECKING:  # pragma: no cover
    from .gce import Gce

PREFIX = "nbctl-sched-"
IN_USE = "resourceInUseByAnotherResource"


def policy_name(schedule: Schedule) -> str:
    """Deterministic: identical schedules map to one policy."""
    key = f"{schedule.tz}|{schedule.stop or ''}|{schedule.start or ''}"
    return PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16]


def _ours(vm: compute_v1.Instance) -> list[str]:
    return [url for url in vm.resource_policies if url.rsplit("/", 1)[-1].startswith(PREFIX)]


def ensure_policy(gce: "Gce", region: str, schedule: Schedule) -> str:
    """The policy's URL, creating it if it does not exist yet."""
    name = policy_name(schedule)
    action = f"create schedule policy {name}"
    try:
        return faults.call(gce.c.resource_policies.get, project=gce.project, region=region,
                           resource_policy=name, action=action).self_link
    except NotFound:
        pass
    sched = compute_v1.ResourcePolicyInstanceSchedulePolicy(time_zone=schedule.tz)
    if schedule.stop:
        sched.vm_stop_schedule = compute_v1.ResourcePolicyInstanceSchedulePolicySchedule(schedule=schedule.stop)
    if schedule.start:
        sched.vm_start_schedule = compute_v1.ResourcePolicyInstanceSchedulePolicySchedule(schedule=schedule.start)
    body = compute_v1.ResourcePolicy(
        name=name, region=region, instance_schedule_policy=sched,
        description=f"nbctl schedule: stop {schedule.stop or '-'} start {schedule.start or '-'} ({schedule.tz})")
    try:
        op = faults.call(gce.c.resource_policies.insert_unary, project=gce.project, region=region,
                         resource_policy_resource=body, action=action)
        gce.wait(op, region=region, action=action)
    except NbctlError as e:
        if e.code != "alreadyExists":  # another nbctl made the same one a moment ago
            raise
    return faults.call(gce.c.resource_policies.get, project=gce.project, region=region,
                       resource_policy=name, action=action).self_link


def attach(gce: "Gce", name: str, zone: str, schedule: Schedule) -> None:
    """Make this schedule the VM's only nbctl schedule."""
    vm = gce.get_vm(name, zone)
    if vm is None:
        raise NotFound(f"{name} does not exist in {zone}")
    region = region_of(zone)
    url = ensure_policy(gce, region, schedule)
    current = _ours(vm)
    if current == [url] or url in current and len(current) == 1:
        return
    if current:
        detach_all(gce, vm, zone)
    action = f"attach schedule to {name}"
    op = faults.call(gce.c.instances.add_resource_policies_unary, project=gce.project, zone=zone,
                     instance=name, instances_add_resource_policies_request_resource=
                     compute_v1.InstancesAddResourcePoliciesRequest(resource_policies=[url]),
                     action=action)
    gce.wait(op, zone=zone, action=action)


def detach_all(gce: "Gce", vm: compute_v1.Instance, zone: str) -> None:
    """Detach the VM's nbctl policies, and delete each one no other instance uses."""
    urls = _ours(vm)
    if not urls:
        return
    action = f"detach schedule from {vm.name}"
    op = faults.call(gce.c.instances.remove_resource_policies_unary, project=gce.project,
                     zone=zone, instance=vm.name,
                     instances_remove_resource_policies_request_resource=
                     compute_v1.InstancesRemoveResourcePoliciesRequest(resource_policies=urls),
                     action=action)
    gce.wait(op, zone=zone, action=action)
    for url in urls:
        delete_if_unused(gce, region_of(zone), url.rsplit("/", 1)[-1])


def delete_if_unused(gce: "Gce", region: str, name: str) -> bool:
    """Delete the policy; False when another instance still uses it (or it is gone)."""
    action = f"delete schedule policy {name}"
    try:
        op = faults.call(gce.c.resource_policies.delete_unary, project=gce.project, region=region,
                         resource_policy=name, action=action)
        gce.wait(op, region=region, action=action)
    except NotFound:
        return False
    except NbctlError as e:
        if e.code == IN_USE:
            return False
        raise
    return True


def clear(gce: "Gce", name: str, zone: str) -> None:
    vm = gce.get_vm(name, zone)
    if vm is not None:
        detach_all(gce, vm, zone)
