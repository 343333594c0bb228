"""A stateful fake of the Notebooks v2 API (Vertex AI Workbench instances) and its
long-running operations, in the API's JSON shapes.
"""
from __future__ import annotations

import hashlib
import re
import time
import uuid

from .state import ApiError, Clock, Delays, Ids, matches_filter, now_iso, parse_filter

ID_RX = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
STATUS_NAMES = {3: "INVALID_ARGUMENT", 5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED",
                8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 14: "UNAVAILABLE"}
HTTP_OF = {3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 14: 503}


def rpc_error(code: int, message: str, details: list | None = None) -> ApiError:
    err = {"code": HTTP_OF[code], "message": message, "status": STATUS_NAMES[code]}
    if details:
        err["details"] = details
    return ApiError(HTTP_OF[code], {"error": err})


class Notebooks:
    def __init__(self, project: str, clock: Clock, delays: Delays):
        self.project = project
        self.clock = clock
        self.delays = delays
        self.ids = Ids(7000)
        self.instances: dict[str, dict] = {}  # full name -> Instance JSON
        self.operations: dict[str, dict] = {}
        self.request_ids: dict[tuple[str, str], tuple[float, dict]] = {}  # (verb, id) -> (when, op)

    def _parent(self, p: dict) -> str:
        return f"projects/{p['projectsId']}/locations/{p['locationsId']}"

    def _name(self, p: dict) -> str:
        return f"{self._parent(p)}/instances/{p['instancesId']}"

    def _get(self, p: dict) -> dict:
        inst = self.instances.get(self._name(p))
        if inst is None:
            raise rpc_error(5, f"Resource '{self._name(p)}' was not found")
        return inst

    def _operation(self, parent: str, target: str, verb: str, *, then=None,
                   error: dict | None = None, response=None) -> dict:
        name = f"{parent}/operations/operation-{self.ids.next()}-{uuid.uuid4().hex[:8]}"
        meta = {"@type": "type.googleapis.com/google.cloud.notebooks.v2.OperationMetadata",
                "createTime": now_iso(), "target": target, "verb": verb, "apiVersion": "v2",
                "endpoint": f"{verb.capitalize()}Instance", "requestedCancellation": False}
        op = {"name": name, "metadata": meta, "done": False}
        self.operations[name] = op

        def done():
            meta["endTime"] = now_iso()
            op["done"] = True
            if error:
                op["error"] = error
                return
            if then:
                then()
            body = response() if callable(response) else None
            op["response"] = ({"@type": "type.googleapis.com/google.cloud.notebooks.v2.Instance", **body}
                              if body else {"@type": "type.googleapis.com/google.protobuf.Empty"})
        self.clock.after(self.delays.operation, done)
        return op

    # -- instances ---------------------------------------------------------------------
    def _replayed(self, verb: str, query: dict) -> dict | None:
        """notebooks.v2.json, create's `requestId`: "Optional. Idempotent request UUID." The
        operation the first call made answers a repeat, for as long as compute keeps its ids."""
        request_id = (query.get("requestId") or [None])[0]
        seen = self.request_ids.get((verb, request_id)) if request_id else None
        if seen is None or time.monotonic() - seen[0] >= self.delays.request_id_ttl:
            return None
        return seen[1]

    def _remember(self, verb: str, query: dict, op: dict) -> dict:
        request_id = (query.get("requestId") or [None])[0]
        if request_id:
            self.request_ids[(verb, request_id)] = (time.monotonic(), op)
        return op

    def create(self, p: dict, query: dict, body: dict, fault: str | None) -> dict:
        again = self._replayed("create", query)
        if again is not None:
            return again
        return self._remember("create", query, self._create(p, query, body, fault))

    def _create(self, p: dict, query: dict, body: dict, fault: str | None) -> dict:
        parent = self._parent(p)
        iid = (query.get("instanceId") or [""])[0]
        if not ID_RX.fullmatch(iid):
            raise rpc_error(3, f"Invalid instance id '{iid}'.")
        name = f"{parent}/instances/{iid}"
        if name in self.instances:
            raise rpc_error(6, f"Resource '{name}' already exists")
        if fault in ("stockout", "stockout-details"):
            return self._operation(parent, name, "create", error={
                "code": 8, "message": f"The zone '{p['locationsId']}' does not have enough resources "
                "available to fulfill the request. Try a different zone, or try again later. "
                "(ZONE_RESOURCE_POOL_EXHAUSTED)"})
        if fault in ("quota", "quota-global"):
            q = "GPUS_ALL_REGIONS" if fault == "quota-global" else "NVIDIA_T4_GPUS"
            return self._operation(parent, name, "create", error={
                "code": 8, "message": f"Quota '{q}' exceeded. Limit: 0.0 in region "
                f"{p['locationsId'].rsplit('-', 1)[0]}."})
        inst = dict(body)
        # GceSetup.machineType is "Optional." in notebooks.v2.json; gcloud workbench instances
        # create documents its default, n1-standard-4.
        setup = inst["gceSetup"] = dict(body.get("gceSetup") or {})
        setup.setdefault("machineType", f"https://www.googleapis.com/compute/v1/projects/"
                         f"{self.project}/zones/{p['locationsId']}/machineTypes/n1-standard-4")
        inst.update(name=name, id=str(uuid.uuid4()), state="PROVISIONING", createTime=now_iso(),
                    updateTime=now_iso(), creator="user@example.com", healthState="HEALTH_STATE_UNSPECIFIED")
        self.instances[name] = inst
        self._schedule(inst, "ACTIVE", self.delays.provision)
        return self._operation(parent, name, "create", response=lambda: inst)

    def _schedule(self, inst: dict, state: str, after: float) -> None:
        def go():
            if inst["name"] not in self.instances:
                return
            inst["state"] = state
            inst["updateTime"] = now_iso()
            if state == "ACTIVE":
                digest = hashlib.sha1(inst["name"].encode()).hexdigest()[:16]
                region = inst["name"].split("/")[3].rsplit("-", 1)[0]
                inst["proxyUri"] = f"{digest}-dot-{region}.notebooks.googleusercontent.com"
        self.clock.after(after, go)

    def get(self, p: dict, query, body, fault) -> dict:
        return self._get(p)

    def list(self, p: dict, query: dict, body, fault) -> dict:
        parent = self._parent(p)
        terms = parse_filter((query.get("filter") or [None])[0])
        items = [i for n, i in sorted(self.instances.items())
                 if (n.startswith(parent + "/") or (p["locationsId"] == "-" and
                                                    n.startswith(f"projects/{p['projectsId']}/")))
                 and matches_filter(i, terms)]
        return {"instances": items} if items else {}

    def stop(self, p: dict, query, body, fault) -> dict:
        inst = self._get(p)
        if inst["state"] not in ("ACTIVE", "STOPPED", "STOPPING"):
            raise rpc_error(9, f"Instance {inst['name']} is {inst['state']}: it cannot be stopped now")

        def act():
            if inst["state"] == "ACTIVE":
                inst["state"] = "STOPPING"
                inst.pop("proxyUri", None)
                self._schedule(inst, "STOPPED", self.delays.stop)
        return self._operation(self._parent(p), inst["name"], "stop", then=act, response=lambda: inst)

    def start(self, p: dict, query, body, fault) -> dict:
        inst = self._get(p)

        def act():
            if inst["state"] == "STOPPED":
                inst["state"] = "STARTING"
                self._schedule(inst, "PROVISIONING", self.delays.provision / 2)
                self._schedule(inst, "ACTIVE", self.delays.provision)
        return self._operation(self._parent(p), inst["name"], "start", then=act, response=lambda: inst)

    def delete(self, p: dict, query, body, fault) -> dict:
        inst = self._get(p)
        name = inst["name"]

        def act():
            inst["state"] = "DELETED"
            self.clock.after(self.delays.delete, lambda: self.instances.pop(name, None))
        return self._operation(self._parent(p), name, "delete", then=act)

    def patch(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get(p)
        mask = (query.get("updateMask") or [""])[0]
        allowed = {"gce_setup.metadata", "labels", "gceSetup.metadata"}
        fields = [f for f in mask.split(",") if f]
        if not fields or any(f not in allowed for f in fields):
            raise rpc_error(3, f"update_mask {mask!r} is not supported")

        def act():
            for f in fields:
                if f == "labels":
                    inst["labels"] = body.get("labels", {})
                else:
                    inst.setdefault("gceSetup", {})["metadata"] = (body.get("gceSetup") or {}).get("metadata", {})
        return self._operation(self._parent(p), inst["name"], "update", then=act, response=lambda: inst)

    def op_get(self, p: dict, query, body, fault) -> dict:
        name = f"projects/{p['projectsId']}/locations/{p['locationsId']}/operations/{p['operationsId']}"
        op = self.operations.get(name)
        if op is None:
            raise rpc_error(5, f"Operation '{name}' was not found")
        return op

    def handlers(self) -> dict:
        pre = "notebooks.projects.locations"
        return {
            f"{pre}.instances.create": self.create,
            f"{pre}.instances.get": self.get,
            f"{pre}.instances.list": self.list,
            f"{pre}.instances.stop": self.stop,
            f"{pre}.instances.start": self.start,
            f"{pre}.instances.delete": self.delete,
            f"{pre}.instances.patch": self.patch,
            f"{pre}.operations.get": self.op_get,
        }
