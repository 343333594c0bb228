"""Compute Engine operations: each change's asynchronous record (zone and region operations),
`requestId` replay, and the error shapes the API answers with or puts in a failed operation.
"""
from __future__ import annotations

from .state import ApiError, Clock, Delays, Ids, matches_filter, now_iso, parse_filter

BASE = "https://www.googleapis.com/compute/v1"


def http_error(status: int, reason: str, message: str) -> ApiError:
    """An error answer in the API's shape: the HTTP status, and `reason` in `errors[0]`."""
    return ApiError(status, {"error": {"code": status, "message": message,
                                       "errors": [{"message": message, "domain": "global",
                                                   "reason": reason}]}})


def not_found(kind: str, path: str) -> ApiError:
    return http_error(404, "notFound", f"The resource '{path}' was not found")


class Operations:
    """The operations half of the Compute fake; the class using it sets the attributes below."""

    project: str
    clock: Clock
    delays: Delays
    ids: Ids
    operations: dict[tuple[str, str], dict]  # (scope, name) -> Operation JSON
    request_ids: dict[str, dict]  # requestId -> the operation it made

    def _operation(self, *, zone: str | None = None, region: str | None = None, kind: str,
                   target: str, target_id: str | None, request_id: str | None,
                   then=None, error: dict | None = None, http_status: int | None = None) -> dict:
        scope = f"zones/{zone}" if zone else f"regions/{region}"
        name = f"operation-{self.ids.next()}-{kind.lower()}"  # names fit the `operation` pattern
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

    def _preempted_operation(self, zone: str, inst: dict) -> dict:
        """The system's record that it reclaimed `inst`: `compute.instances.preempted`, DONE."""
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

    def _replayed(self, query: dict) -> dict | None:
        """The operation an earlier call with this requestId made, if any: the API's replay."""
        request_id = rid(query)
        return self.request_ids.get(request_id) if request_id else None

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

def rid(query: dict) -> str | None:
    return (query.get("requestId") or [None])[0]


def capacity_error(fault: str, zone: str, project: str) -> dict:
    """The errors of an operation the cloud could not do for lack of capacity or quota."""
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
