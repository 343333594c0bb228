"""A stateful fake of the Compute Engine v1 API: instances, zone/region operations, images,
resource policies. Answers in the API's JSON shapes; asynchronous like the cloud.
"""
from __future__ import annotations

import re
import time

from .state import ApiError, Clock, Delays, Ids, matches_filter, now_iso, parse_filter

BASE = "https://www.googleapis.com/compute/v1"
NAME_RX = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
DLVM_PROJECT = "deeplearning-platform-release"
IMAGE_FAMILIES = ("common-cu124", "common-cu123", "common-cu121", "pytorch-latest-gpu",
                  "tf-latest-gpu")


def http_error(status: int, reason: str, message: str) -> ApiError:
    return ApiError(status, {"error": {"code": status, "message": message,
                                       "errors": [{"message": message, "domain": "global",
                                                   "reason": reason}]}})


def not_found(kind: str, path: str) -> ApiError:
    return http_error(404, "notFound", f"The resource '{path}' was not found")


class Compute:
    def __init__(self, project: str, clock: Clock, delays: Delays):
        self.project = project
        self.clock = clock
        self.delays = delays
        self.ids = Ids()
        self.instances: dict[tuple[str, str], dict] = {}  # (zone, name) -> Instance JSON
        self.operations: dict[tuple[str, str], dict] = {}  # (scope, name) -> Operation JSON
        self.policies: dict[tuple[str, str], dict] = {}  # (region, name) -> ResourcePolicy
        self.request_ids: dict[str, dict] = {}  # requestId -> the operation it made
        self.images = {f: self._image(f) for f in IMAGE_FAMILIES}
        self.vms = None  # a VmRuntime when VMs run for real (see vms.py)
        # One row per boot: when it was asked for and when the VM was RUNNING (epoch seconds).
        self.boots: list[dict] = []

    def _image(self, family: str) -> dict:
        name = f"{family}-v20250601-debian-11-py310"
        return {"kind": "compute#image", "id": self.ids.next(), "name": name, "family": family,
                "status": "READY", "selfLink": f"{BASE}/projects/{DLVM_PROJECT}/global/images/{name}"}

    # -- operations --------------------------------------------------------------------
    def _operation(self, *, zone: str | None = None, region: str | None = None, kind: str,
                   target: str, target_id: str | None, request_id: str | None,
                   then=None, error: dict | None = None, http_status: int | None = None) -> dict:
        scope = f"zones/{zone}" if zone else f"regions/{region}"
        name = f"operation-{self.ids.next()}-{kind}"
        op = {"kind": "compute#operation", "id": self.ids.next(), "name": name,
              "operationType": kind, "targetLink": target, "status": "PENDING", "progress": 0,
              "insertTime": now_iso(), "user": "user@example.com",
              "selfLink": f"{BASE}/projects/{self.project}/{scope}/operations/{name}"}
        if zone:
            op["zone"] = f"{BASE}/projects/{self.project}/zones/{zone}"
        else:
            op["region"] = f"{BASE}/projects/{self.project}/regions/{region}"
        if target_id:
            op["targetId"] = target_id
        self.operations[(scope, name)] = op
        if request_id:
            self.request_ids[request_id] = op

        def running():
            op.update(status="RUNNING", progress=50, startTime=now_iso())

        def done():
            op.update(status="DONE", progress=100, endTime=now_iso())
            if error:
                op["error"] = error
                op["httpErrorStatusCode"] = http_status or 400
                op["httpErrorMessage"] = "BAD REQUEST" if (http_status or 400) == 400 else "FORBIDDEN"
            elif then:
                then()

        self.clock.after(self.delays.operation / 2, running)
        self.clock.after(self.delays.operation, done)
        return op

    def _replayed(self, query: dict) -> dict | None:
        rid = (query.get("requestId") or [None])[0]
        return self.request_ids.get(rid) if rid else None

    def _get_instance(self, p: dict) -> dict:
        inst = self.instances.get((p["zone"], p["instance"]))
        if inst is None:
            raise not_found("instance", f"projects/{p['project']}/zones/{p['zone']}/instances/{p['instance']}")
        return inst

    def _set(self, inst: dict, **kw) -> None:
        inst.update(kw)

    # -- instances ---------------------------------------------------------------------
    def insert(self, p: dict, query: dict, body: dict, fault: str | None) -> dict:
        again = self._replayed(query)
        if again is not None:
            return again
        zone, name = p["zone"], body.get("name", "")
        self._check_insert(zone, body)
        if (zone, name) in self.instances:
            raise http_error(409, "alreadyExists",
                             f"The resource 'projects/{self.project}/zones/{zone}/instances/{name}' already exists")
        link = f"{BASE}/projects/{self.project}/zones/{zone}/instances/{name}"
        rid = (query.get("requestId") or [None])[0]
        if fault in ("stockout", "stockout-details", "quota", "quota-global"):
            return self._operation(zone=zone, kind="insert", target=link, target_id=None,
                                   request_id=rid, error=_insert_error(fault, zone, self.project),
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
                             request_id=rid, then=lambda: self._boot(inst, zone, asked))
        self.instances[(zone, name)] = inst
        return op

    def _check_insert(self, zone: str, body: dict) -> None:
        name = body.get("name") or ""
        if not NAME_RX.fullmatch(name):
            raise http_error(400, "invalid", f"Invalid value for field 'resource.name': '{name}'. "
                             "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")
        if "machineTypes/" not in body.get("machineType", ""):
            raise http_error(400, "invalid", "Invalid value for field 'resource.machineType'")
        boots = [d for d in body.get("disks", []) if d.get("boot")]
        if len(boots) != 1:
            raise http_error(400, "invalid", "Exactly one boot disk is required")
        src = (boots[0].get("initializeParams") or {}).get("sourceImage", "")
        if not any(src.endswith("/" + img["name"]) or src == img["selfLink"] for img in self.images.values()):
            raise http_error(404, "notFound", f"The resource '{src}' was not found")
        accels = body.get("guestAccelerators") or []
        for a in accels:
            t = a.get("acceleratorType", "")
            if f"zones/{zone}/acceleratorTypes/" not in t:
                raise http_error(400, "invalid", f"Invalid value for field "
                                 f"'resource.guestAccelerators[0].acceleratorType': '{t}'")
        sched = body.get("scheduling") or {}
        if accels and sched.get("onHostMaintenance") != "TERMINATE":
            raise http_error(400, "badRequest", "Instances with guest accelerators do not support "
                             "live migration.")
        if sched.get("provisioningModel") == "SPOT" and sched.get("automaticRestart"):
            raise http_error(400, "badRequest", "Invalid value for field "
                             "'resource.scheduling.automaticRestart': 'true'. Spot VMs cannot restart automatically.")

    def _boot(self, inst: dict, zone: str, asked: float) -> None:
        inst["status"] = "STAGING"

        def up():
            if inst["status"] == "STAGING":
                inst["status"] = "RUNNING"
                inst["lastStartTimestamp"] = now_iso()
                for nic in inst.get("networkInterfaces") or []:
                    nic.setdefault("networkIP", "10.128.0.2")
                    for ac in nic.get("accessConfigs") or []:
                        ac["natIP"] = "203.0.113.10"
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
        terms = parse_filter((query.get("filter") or [None])[0])
        by_zone: dict[str, list] = {}
        for (z, _), i in sorted(self.instances.items()):
            if matches_filter(i, terms):
                by_zone.setdefault(f"zones/{z}", []).append(i)
        return {"kind": "compute#instanceAggregatedList", "id": f"projects/{self.project}/aggregated/instances",
                "items": {scope: {"instances": insts} for scope, insts in by_zone.items()},
                "selfLink": f"{BASE}/projects/{self.project}/aggregated/instances"}

    def stop(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query)
        if again is not None:
            return again
        inst = self._get_instance(p)

        def act():
            if inst["status"] in ("RUNNING", "STAGING", "PROVISIONING"):
                inst["status"] = "STOPPING"
                self.clock.after(self.delays.stop, lambda: self._stopped(inst))
        return self._operation(zone=p["zone"], kind="stop", target=inst["selfLink"],
                               target_id=inst["id"], request_id=_rid(query), then=act)

    def _stopped(self, inst: dict) -> None:
        if inst["status"] == "STOPPING":
            self._power_off(inst)
            inst["status"] = "TERMINATED"
            inst["lastStopTimestamp"] = now_iso()
            for nic in inst.get("networkInterfaces") or []:
                for ac in nic.get("accessConfigs") or []:
                    ac.pop("natIP", None)

    def start(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query)
        if again is not None:
            return again
        inst = self._get_instance(p)
        zone, asked = p["zone"], time.time()
        if fault in ("stockout", "stockout-details"):  # a spot VM may not get its capacity back
            return self._operation(zone=zone, kind="start", target=inst["selfLink"],
                                   target_id=inst["id"], request_id=_rid(query),
                                   error=_insert_error(fault, zone, self.project), http_status=503)

        def act():
            if inst["status"] == "TERMINATED":
                self._boot(inst, zone, asked)
        return self._operation(zone=zone, kind="start", target=inst["selfLink"],
                               target_id=inst["id"], request_id=_rid(query), then=act)

    def delete(self, p: dict, query: dict, body, fault) -> dict:
        again = self._replayed(query)
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
                               target_id=inst["id"], request_id=_rid(query), then=act)

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
                               target_id=inst["id"], request_id=_rid(query), then=act)

    def add_policies(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get_instance(p)
        region = p["zone"].rsplit("-", 1)[0]
        urls = []
        for url in body.get("resourcePolicies", []):
            m = re.search(r"regions/([^/]+)/resourcePolicies/([^/]+)$", url)
            if not m or (m.group(1), m.group(2)) not in self.policies:
                raise http_error(404, "notFound", f"The resource '{url}' was not found")
            if m.group(1) != region:
                raise http_error(400, "invalid", f"Resource policy {url} is not in region {region}")
            urls.append(self.policies[(m.group(1), m.group(2))]["selfLink"])
        have = inst.setdefault("resourcePolicies", [])
        if any("/resourcePolicies/" in u for u in have) and urls:
            raise http_error(400, "invalid", "An instance can have only one instance schedule policy.")

        def act():
            have.extend(u for u in urls if u not in have)
        return self._operation(zone=p["zone"], kind="addResourcePolicies", target=inst["selfLink"],
                               target_id=inst["id"], request_id=_rid(query), then=act)

    def remove_policies(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get_instance(p)
        drop = {u.rsplit("/", 1)[-1] for u in body.get("resourcePolicies", [])}

        def act():
            inst["resourcePolicies"] = [u for u in inst.get("resourcePolicies", [])
                                        if u.rsplit("/", 1)[-1] not in drop]
        return self._operation(zone=p["zone"], kind="removeResourcePolicies", target=inst["selfLink"],
                               target_id=inst["id"], request_id=_rid(query), then=act)

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
        """The cloud reclaims a spot VM. With a notice, `instance/preempted` is TRUE for that
        long first (GCE gives 30 s); then the VM's processes die, it is TERMINATED, and a
        `compute.instances.preempted` operation records it (returned when there is no notice)."""
        inst = self.instances.get((zone, name))
        if inst is None:
            raise not_found("instance", f"projects/{self.project}/zones/{zone}/instances/{name}")
        if notice > 0:
            if self.vms is not None:
                self.vms.notice(zone, name)
            self.clock.after(notice, lambda: self._reclaim(zone, name))
            return {"name": name, "zone": zone, "noticeSeconds": notice}
        return self._reclaim(zone, name)

    def _reclaim(self, zone: str, name: str) -> dict | None:
        inst = self.instances.get((zone, name))
        if inst is None or inst["status"] not in ("RUNNING", "STAGING", "PROVISIONING"):
            return None  # stopped or deleted during the notice: nothing left to take
        self._power_off(inst)
        inst["status"] = "TERMINATED"
        inst["lastStopTimestamp"] = now_iso()
        op_name = f"systemevent-{self.ids.next()}"
        scope = f"zones/{zone}"
        op = {"kind": "compute#operation", "id": self.ids.next(), "name": op_name,
              "operationType": "compute.instances.preempted", "targetLink": inst["selfLink"],
              "targetId": inst["id"], "status": "DONE", "progress": 100, "user": "system",
              "statusMessage": "Instance was preempted.", "insertTime": now_iso(),
              "startTime": now_iso(), "endTime": now_iso(),
              "zone": f"{BASE}/projects/{self.project}/zones/{zone}",
              "selfLink": f"{BASE}/projects/{self.project}/{scope}/operations/{op_name}"}
        self.operations[(scope, op_name)] = op
        return op

    # -- operations API ----------------------------------------------------------------
    def op_get(self, p: dict, query, body, fault) -> dict:
        scope = f"zones/{p['zone']}" if "zone" in p else f"regions/{p['region']}"
        op = self.operations.get((scope, p["operation"]))
        if op is None:
            raise not_found("operation", f"projects/{p['project']}/{scope}/operations/{p['operation']}")
        return op

    def op_list(self, p: dict, query: dict, body, fault) -> dict:
        scope = f"zones/{p['zone']}" if "zone" in p else f"regions/{p['region']}"
        terms = parse_filter((query.get("filter") or [None])[0])
        items = [op for (s, _), op in self.operations.items() if s == scope and matches_filter(op, terms)]
        return {"kind": "compute#operationList", "id": f"projects/{self.project}/{scope}/operations",
                "items": items, "selfLink": f"{BASE}/projects/{self.project}/{scope}/operations"}

    # -- images ------------------------------------------------------------------------
    def image_from_family(self, p: dict, query, body, fault) -> dict:
        img = self.images.get(p["family"]) if p["project"] == DLVM_PROJECT else None
        if img is None:
            raise not_found("image", f"projects/{p['project']}/global/images/family/{p['family']}")
        return img

    # -- resource policies -------------------------------------------------------------
    def policy_insert(self, p: dict, query: dict, body: dict, fault) -> dict:
        again = self._replayed(query)
        if again is not None:
            return again
        region, name = p["region"], body.get("name", "")
        if (region, name) in self.policies:
            raise http_error(409, "alreadyExists", f"The resource 'projects/{self.project}/regions/"
                             f"{region}/resourcePolicies/{name}' already exists")
        sched = body.get("instanceSchedulePolicy") or {}
        if not sched.get("timeZone") or not (sched.get("vmStartSchedule") or sched.get("vmStopSchedule")):
            raise http_error(400, "invalid", "instanceSchedulePolicy needs timeZone and a schedule")
        link = f"{BASE}/projects/{self.project}/regions/{region}/resourcePolicies/{name}"
        pol = dict(body, kind="compute#resourcePolicy", id=self.ids.next(), selfLink=link,
                   region=f"{BASE}/projects/{self.project}/regions/{region}", status="CREATING",
                   creationTimestamp=now_iso())

        def act():
            pol["status"] = "READY"
            self.policies[(region, name)] = pol
        return self._operation(region=region, kind="insert", target=link, target_id=pol["id"],
                               request_id=_rid(query), then=act)

    def policy_get(self, p: dict, query, body, fault) -> dict:
        pol = self.policies.get((p["region"], p["resourcePolicy"]))
        if pol is None:
            raise not_found("policy", f"projects/{p['project']}/regions/{p['region']}/resourcePolicies/{p['resourcePolicy']}")
        return pol

    def policy_delete(self, p: dict, query, body, fault) -> dict:
        pol = self.policy_get(p, query, body, fault)
        users = [i["selfLink"] for i in self.instances.values()
                 if pol["selfLink"] in i.get("resourcePolicies", [])]
        if users:
            raise http_error(400, "resourceInUseByAnotherResource",
                             f"The resource_policy resource '{pol['selfLink']}' is already being "
                             f"used by '{users[0]}'")
        key = (p["region"], p["resourcePolicy"])
        return self._operation(region=p["region"], kind="delete", target=pol["selfLink"],
                               target_id=pol["id"], request_id=_rid(query),
                               then=lambda: self.policies.pop(key, None))

    def policy_list(self, p: dict, query, body, fault) -> dict:
        items = [pol for (r, _), pol in self.policies.items() if r == p["region"]]
        return {"kind": "compute#resourcePolicyList", "items": items,
                "id": f"projects/{self.project}/regions/{p['region']}/resourcePolicies"}

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


def _rid(query: dict) -> str | None:
    return (query.get("requestId") or [None])[0]


def _full(partial: str, project: str) -> str:
    if partial.startswith("https://"):
        return partial
    if partial.startswith("projects/"):
        return f"{BASE}/{partial}"
    return f"{BASE}/projects/{project}/{partial}"


def _insert_error(fault: str, zone: str, project: str) -> dict:
    region = zone.rsplit("-", 1)[0]
    if fault == "stockout":
        return {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message":
                            f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                            "resources available to fulfill the request.  Try a different zone, "
                            "or try again later."}]}
    if fault == "stockout-details":
        return {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "message":
                            f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                            "resources available to fulfill the request. '(resource type:compute)'.",
                            "errorDetails": [{"errorInfo": {"reason": "STOCKOUT",
                                                            "domain": "compute.googleapis.com"}}]}]}
    if fault == "quota-global":
        return {"errors": [{"code": "QUOTA_EXCEEDED", "message":
                            "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.",
                            "errorDetails": [{"quotaInfo": {"metricName": "compute.googleapis.com/gpus_all_regions",
                                                            "limitName": "GPUS-ALL-REGIONS-per-project",
                                                            "limit": 0}}]}]}
    return {"errors": [{"code": "QUOTA_EXCEEDED", "message":
                        f"Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region {region}.",
                        "errorDetails": [{"quotaInfo": {"metricName": "compute.googleapis.com/nvidia_t4_gpus",
                                                        "limitName": "NVIDIA-T4-GPUS-per-project-region",
                                                        "dimensions": {"region": region}, "limit": 0}}]}]}
