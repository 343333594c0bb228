"""A stateful fake of the Compute Engine v1 API: instances, zone/region operations, images,
resource policies. Answers in the API's JSON shapes; asynchronous like the cloud.
Instances and images are here; operations and error shapes in compute_operations, resource
policies in compute_policies.
"""
from __future__ import annotations

import base64
import json
import time

from . import reference
from .compute_operations import (
    BASE,
    Operations,
    capacity_error,
    http_error,
    not_found,
    rid,
)
from .compute_policies import ResourcePolicies
from .state import Clock, Delays, Ids, matches_filter, now_iso, parse_filter

__all__ = ["Compute", "http_error", "BASE"]
DLVM_PROJECT = "deeplearning-platform-release"
MAX_RESULTS = 500
# The zones listed as scopes: those of the dated reference table (see reference.py).
ZONES = tuple(sorted(reference.ZONE_ACCELERATORS))
IMAGE_FAMILIES = ("common-cu124", "common-cu123", "common-cu121", "pytorch-latest-gpu",
                  "tf-latest-gpu")


class Compute(Operations, ResourcePolicies):
    """The Compute Engine fake of one project; `handlers()` maps API methods to its verbs."""

    def __init__(self, project: str, clock: Clock, delays: Delays):
        self.project = project
        self.clock = clock
        self.delays = delays
        self.ids = Ids()
        self.instances: dict[tuple[str, str], dict] = {}  # (zone, name) -> Instance JSON
        self.operations: dict[tuple[str, str], dict] = {}  # (scope, name) -> Operation JSON
        self.policies: dict[tuple[str, str], dict] = {}  # (region, name) -> ResourcePolicy
        self.request_ids: dict[tuple[str, str], tuple[float, dict]] = {}  # see _replayed
        self.images = {f: self._image(f) for f in IMAGE_FAMILIES}
        self.vms = None  # a VmRuntime when VMs run for real (see vms.py)
        # One row per boot: when it was asked for and when the VM was RUNNING (epoch seconds).
        self.boots: list[dict] = []
        self.boot_count: dict[tuple[str, str], int] = {}  # (zone, name) -> boots so far
        self.preempt_boots: dict[tuple[str, str], int] = {}  # (zone, name) -> boots to take back
        self.preempting: dict[tuple[str, str], dict] = {}  # (zone, name) -> its preempted op

    def _image(self, family: str) -> dict:
        name = f"{family}-v20250601-debian-11-py310"
        return {"kind": "compute#image", "id": self.ids.next(), "name": name, "family": family,
                "status": "READY", "selfLink": f"{BASE}/projects/{DLVM_PROJECT}/global/images/{name}"}

    # -- instances ---------------------------------------------------------------------
    def _get_instance(self, p: dict) -> dict:
        inst = self.instances.get((p["zone"], p["instance"]))
        if inst is None:
            raise not_found("instance", f"projects/{p['project']}/zones/{p['zone']}/instances/{p['instance']}")
        return inst

    def insert(self, p: dict, query: dict, body: dict, fault: str | None) -> dict:
        again = self._replayed(query, "insert")
        if again is not None:
            return again
        zone, name = p["zone"], body.get("name", "")
        self._check_insert(zone, body)
        if (zone, name) in self.instances:
            raise http_error(409, "alreadyExists",
                             f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' already exists")
        link = f"{BASE}/projects/{self.project}/zones/{zone}/instances/{name}"
        request_id = rid(query)
        if fault in ("stockout", "stockout-details", "quota", "quota-global"):
            return self._operation(zone=zone, kind="insert", target=link, target_id=None,
                                   request_id=request_id,
                                   error=capacity_error(fault, zone, self.project),
                                   http_status=403 if fault.startswith("quota") else 503)
        inst = dict(body)
        inst.update(kind="compute#instance", id=self.ids.next(), status="PROVISIONING",
                    zone=f"{BASE}/projects/{self.project}/zones/{zone}", selfLink=link,
                    creationTimestamp=now_iso(), labelFingerprint="42WmSpB8rSM=",
                    fingerprint="fp-1")
        inst["machineType"] = _full(body["machineType"], self.project)
        meta = dict(inst.get("metadata") or {})
        meta.update(kind="compute#metadata", fingerprint="meta-1")
        inst["metadata"] = meta
        asked = time.time()
        op = self._operation(zone=zone, kind="insert", target=link, target_id=inst["id"],
                             request_id=request_id, then=lambda: self._boot(inst, zone, asked))
        self.instances[(zone, name)] = inst
        return op

    def _check_insert(self, zone: str, body: dict) -> None:
        # The name, machine type, accelerators and live migration are checked before this
        # handler, against the discovery document and reference.py (see semantics.py).
        boots = [d for d in body.get("disks", []) if d.get("boot")]
        if len(boots) != 1:
            raise http_error(400, "invalid", "Exactly one boot disk is required")
        src = (boots[0].get("initializeParams") or {}).get("sourceImage", "")
        if not any(src.endswith("/" + img["name"]) or src == img["selfLink"] for img in self.images.values()):
            raise http_error(404, "notFound", f"The resource '{src}' was not found")
        sched = body.get("scheduling") or {}
        if sched.get("provisioningModel") == "SPOT" and sched.get("automaticRestart"):
            raise http_error(400, "badRequest", "Invalid value for field "
                             "'resource.scheduling.automaticRestart': 'true'. Spot VMs cannot restart automatically.")

    def _boot(self, inst: dict, zone: str, asked: float) -> None:
        inst["status"] = "STAGING"
        # Each boot is its own: a timer left from an earlier boot (one preempted or stopped
        # while it staged) must not bring a later boot up early.
        key = (zone, inst["name"])
        self.boot_count[key] = boot = self.boot_count.get(key, 0) + 1

        def up():
            if inst["status"] == "STAGING" and self.boot_count[key] == boot \
                    and self.preempt_boots.get(key, 0) > 0:
                # A spot VM can be reclaimed before it runs (docs: compute/docs/instances/spot
                # "Compute Engine might preempt Spot VMs at any time"): no guest, no notice.
                self.preempt_boots[key] -= 1
                self.preempt(zone, inst["name"], notice=0)
            elif inst["status"] == "STAGING" and self.boot_count[key] == boot:
                inst["status"] = "RUNNING"
                inst["lastStartTimestamp"] = now_iso()
                for nic in inst.get("networkInterfaces") or []:
                    nic.setdefault("networkIP", "10.128.0.2")
                    for ac in nic.get("accessConfigs") or []:
                        ac["natIP"] = (self.vms.address(zone, inst["name"]) if self.vms
                                       else "203.0.113.10")
                self.boots.append({"name": inst["name"], "zone": zone, "asked": asked,
                                   "running": time.time()})
                if self.vms is not None:
                    self.vms.boot(zone, inst)
        self.clock.after(self.delays.provision / 2, up)

    def get(self, p: dict, query: dict, body, fault) -> dict:
        return self._get_instance(p)

    def list(self, p: dict, query: dict, body, fault) -> dict:
        terms = parse_filter((query.get("filter") or [None])[0])
        items = [i for (z, _), i in sorted(self.instances.items())
                 if z == p["zone"] and matches_filter(i, terms)]
        return {"kind": "compute#instanceList", "id": f"projects/{self.project}/zones/{p['zone']}/instances",
                "items": items, "selfLink": f"{BASE}/projects/{self.project}/zones/{p['zone']}/instances"}

    def aggregated_list(self, p: dict, query: dict, body, fault) -> dict:
        """Every zone is a scope; pages of at most maxResults instances (compute.v1.json:
        maxResults "Acceptable values are 0 to 500, inclusive. (Default: 500)", pageToken /
        nextPageToken); a scope with nothing on this page carries the NO_RESULTS_ON_PAGE warning
        (InstancesScopedList.warning) in place of its list."""
        size = int((query.get("maxResults") or [MAX_RESULTS])[0])
        if not 0 <= size <= MAX_RESULTS:
            raise http_error(400, "invalid", f"Invalid value for field 'maxResults': '{size}'. "
                             f"Must be less than or equal to {MAX_RESULTS}")
        size = size or MAX_RESULTS
        filter_ = (query.get("filter") or [""])[0]
        terms = parse_filter(filter_)
        found = [(z, i) for (z, _), i in sorted(self.instances.items()) if matches_filter(i, terms)]
        token = (query.get("pageToken") or [""])[0]
        start = _page_start(token, filter_)
        page = found[start:start + size]
        scopes = sorted({*ZONES, *(z for z, _ in self.instances)})
        items: dict[str, dict] = {f"zones/{z}": {"warning": {
            "code": "NO_RESULTS_ON_PAGE", "data": [{"key": "scope", "value": f"zones/{z}"}],
            "message": f"There are no results for scope 'zones/{z}' on this page."}} for z in scopes}
        for z, inst in page:
            items[f"zones/{z}"].pop("warning", None)
            items[f"zones/{z}"].setdefault("instances", []).append(inst)
        out = {"kind": "compute#instanceAggregatedList", "id": f"projects/{self.project}/aggregated/instances",
               "items": items, "selfLink": f"{BASE}/projects/{self.project}/aggregated/instances"}
        if start + size < len(found):
            out["nextPageToken"] = _page_token(start + size, filter_)
        return out

    def stop(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query, "stop")
        if again is not None:
            return again
        inst = self._get_instance(p)

        def act():
            if inst["status"] in ("RUNNING", "STAGING", "PROVISIONING"):
                inst["status"] = "STOPPING"
                self.clock.after(self.delays.stop, lambda: self._stopped(inst))
        return self._operation(zone=p["zone"], kind="stop", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def _stopped(self, inst: dict) -> None:
        if inst["status"] == "STOPPING":
            self._power_off(inst)
            inst["status"] = "TERMINATED"
            inst["lastStopTimestamp"] = now_iso()
            for nic in inst.get("networkInterfaces") or []:
                for ac in nic.get("accessConfigs") or []:
                    ac.pop("natIP", None)

    def start(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query, "start")
        if again is not None:
            return again
        inst = self._get_instance(p)
        zone, asked = p["zone"], time.time()
        if fault in ("stockout", "stockout-details"):  # a spot VM may not get its capacity back
            return self._operation(zone=zone, kind="start", target=inst["selfLink"],
                                   target_id=inst["id"], request_id=rid(query),
                                   error=capacity_error(fault, zone, self.project), http_status=503)

        def act():
            if inst["status"] == "TERMINATED":
                self._boot(inst, zone, asked)
        return self._operation(zone=zone, kind="start", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def delete(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query, "delete")
        if again is not None:
            return again
        inst = self._get_instance(p)
        key = (p["zone"], p["instance"])

        def act():
            inst["status"] = "STOPPING"
            if self.vms is not None:
                self.vms.destroy(*key)
            self.clock.after(self.delays.delete, lambda: self.instances.pop(key, None))
        return self._operation(zone=p["zone"], kind="delete", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def set_metadata(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get_instance(p)
        if body.get("fingerprint") != inst["metadata"].get("fingerprint"):
            raise http_error(412, "conditionNotMet", "Supplied fingerprint does not match current "
                             "metadata fingerprint.")
        n = int(inst["metadata"]["fingerprint"].split("-")[1]) + 1

        def act():
            inst["metadata"] = {"kind": "compute#metadata", "fingerprint": f"meta-{n}",
                                "items": body.get("items", [])}
        return self._operation(zone=p["zone"], kind="setMetadata", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def guest_shutdown(self, zone: str, name: str) -> None:
        """`shutdown -h now` on the VM: it stops (TERMINATED), keeping its disk."""
        inst = self.instances.get((zone, name))
        if inst is not None and inst["status"] == "RUNNING":
            inst["status"] = "STOPPING"
            self.clock.after(self.delays.stop, lambda: self._stopped(inst))

    def _power_off(self, inst: dict) -> None:
        if self.vms is not None:
            self.vms.halt(inst["zone"].rsplit("/", 1)[-1], inst["name"])

    def preempt(self, zone: str, name: str, notice: float = 0.0) -> dict:
        """The cloud reclaims a spot VM and returns its `compute.instances.preempted` operation.

        GCE's preemption process (docs: compute/docs/instances/spot#preemption-process): an ACPI
        G2 soft-off starts the notice window (the guest shuts down: its processes get SIGTERM,
        shutdown scripts run, `instance/preempted` is TRUE) and the VM is STOPPING; at the end
        of the window (30 s on GCE, `notice` here) a G3 mechanical off powers it off and the
        instanceTerminationAction applies: STOP leaves it TERMINATED, DELETE deletes it. The
        operation exists from the start. A VM not yet RUNNING has no guest to warn: at once."""
        key = (zone, name)
        inst = self.instances.get(key)
        if inst is None:
            raise not_found("instance", f"projects/{self.project}/zones/{zone}/instances/{name}")
        if key in self.preempting:
            return self.preempting[key]
        op = self._preempted_operation(zone, inst)
        if notice > 0 and inst["status"] == "RUNNING":
            op.update(status="RUNNING", progress=0)
            op.pop("endTime", None)
            inst["status"] = "STOPPING"
            self.preempting[key] = op
            if self.vms is not None:
                self.vms.soft_off(zone, name)
            self.clock.after(notice, lambda: self._preempted_off(key, inst, op))
        elif inst["status"] in ("RUNNING", "STAGING", "PROVISIONING"):
            self.preempting[key] = op
            self._preempted_off(key, inst, op)
        else:  # stopped already: nothing to take
            self.operations.pop((f"zones/{zone}", op["name"]))
            return {}
        return op

    def end_notice(self, zone: str, name: str) -> None:
        """End the VM's notice window now (tests: a window as long as they need, then cut)."""
        key = (zone, name)
        if key in self.preempting and key in self.instances:
            self._preempted_off(key, self.instances[key], self.preempting[key])

    def _preempted_off(self, key: tuple[str, str], inst: dict, op: dict) -> None:
        """The end of the notice: power off, then the VM's termination action."""
        if self.preempting.get(key) is not op:
            return
        del self.preempting[key]
        op.update(status="DONE", progress=100, endTime=now_iso())
        if self.instances.get(key) is not inst:
            return  # deleted by its owner during the notice
        self._power_off(inst)
        if (inst.get("scheduling") or {}).get("instanceTerminationAction") == "DELETE":
            if self.vms is not None:
                self.vms.destroy(*key)
            self.instances.pop(key, None)
            return
        inst["status"] = "TERMINATED"
        inst["lastStopTimestamp"] = now_iso()
        for nic in inst.get("networkInterfaces") or []:
            for ac in nic.get("accessConfigs") or []:
                ac.pop("natIP", None)

    # -- images ------------------------------------------------------------------------
    def image_from_family(self, p: dict, query, body, fault) -> dict:
        img = self.images.get(p["family"]) if p["project"] == DLVM_PROJECT else None
        if img is None:
            raise not_found("image", f"projects/{p['project']}/global/images/family/{p['family']}")
        return img

    def handlers(self) -> dict:
        return {
            "compute.instances.insert": self.insert,
            "compute.instances.get": self.get,
            "compute.instances.list": self.list,
            "compute.instances.aggregatedList": self.aggregated_list,
            "compute.instances.stop": self.stop,
            "compute.instances.start": self.start,
            "compute.instances.delete": self.delete,
            "compute.instances.setMetadata": self.set_metadata,
            "compute.instances.addResourcePolicies": self.add_policies,
            "compute.instances.removeResourcePolicies": self.remove_policies,
            "compute.zoneOperations.get": self.op_get,
            "compute.zoneOperations.list": self.op_list,
            "compute.regionOperations.get": self.op_get,
            "compute.images.getFromFamily": self.image_from_family,
            "compute.resourcePolicies.insert": self.policy_insert,
            "compute.resourcePolicies.get": self.policy_get,
            "compute.resourcePolicies.delete": self.policy_delete,
            "compute.resourcePolicies.list": self.policy_list,
        }


def _page_token(start: int, filter_: str) -> str:
    """An opaque token, bound to the filter it was made for, as the API's are."""
    return base64.urlsafe_b64encode(json.dumps([start, filter_]).encode()).decode()


def _page_start(token: str, filter_: str) -> int:
    if not token:
        return 0
    try:
        start, made_for = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        start, made_for = None, None
    if not isinstance(start, int) or made_for != filter_:
        raise http_error(400, "invalid", "Invalid value for field 'pageToken'")
    return start


def _full(partial: str, project: str) -> str:
    if partial.startswith("https://"):
        return partial
    if partial.startswith("projects/"):
        return f"{BASE}/{partial}"
    return f"{BASE}/projects/{project}/{partial}"


