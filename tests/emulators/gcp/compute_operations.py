"""Compute Engine operations: each change's asynchronous record (zone and region operations),
`requestId` replay, and the error shapes the API answers with or puts in a failed operation.
"""
from __future__ import annotations

import time

from .state import ApiError, Clock, Delays, Ids, matches_filter, now_iso, parse_filter

BASE = "https://www.googleapis.com/compute/v1"


# The reason phrase Compute Engine puts in an operation's httpErrorMessage (RFC 9110 phrases,
# upper case, as in the operations gcloud prints: "503 SERVICE UNAVAILABLE").
HTTP_PHRASES = {400: "BAD REQUEST", 403: "FORBIDDEN", 404: "NOT FOUND", 409: "CONFLICT",
                412: "PRECONDITION FAILED", 429: "TOO MANY REQUESTS",
                500: "INTERNAL SERVER ERROR", 503: "SERVICE UNAVAILABLE"}


def http_error(status: int, reason: str, message: str, domain: str = "global") -> ApiError:
    """An error answer in the API's shape: the HTTP status, and `reason` in `errors[0]`."""
    return ApiError(status, {"error": {"code": status, "message": message,
                                       "errors": [{"message": message, "domain": domain,
                                                   "reason": reason}]}})


def quota_exceeded(resource: str) -> ApiError:
    """insert refused at once for a regional GPU quota: 403, reason quotaExceeded, domain
    usageLimits (the shape gcloud prints as "Could not fetch resource: - Quota 'NVIDIA_T4_GPUS'
    exceeded.  Limit: 0.0 in region us-central1."; docs: compute/resource-usage#gpu_quota)."""
    zone = resource.split("/zones/", 1)[-1].split("/", 1)[0] if "/zones/" in resource else ""
    region = zone.rsplit("-", 1)[0] or "us-central1"
    return http_error(403, "quotaExceeded", f"Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in "
                      f"region {region}.", domain="usageLimits")


def not_found(kind: str, path: str) -> ApiError:
    return http_error(404, "notFound", f"The resource '{path}' was not found")


class Operations:
    """The operations half of the Compute fake; the class using it sets the attributes below."""

    project: str
    clock: Clock
    delays: Delays
    ids: Ids
    operations: dict[tuple[str, str], dict]  # (scope, name) -> Operation JSON
    request_ids: dict[tuple[str, str], tuple[float, dict]]  # (method, requestId) -> (when, op)

    def _operation(self, *, zone: str | None = None, region: str | None = None, kind: str,
                   target: str, target_id: str | None, request_id: str | None,
                   then=None, error: dict | None = None, http_status: int | None = None,
                   method: str | None = None) -> dict:
        """A new operation; `method` (default: kind) keys its requestId for replays."""
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
            self.request_ids[(method or kind, request_id)] = (time.monotonic(), op)

        def running():
            op.update(status="RUNNING", progress=50, startTime=now_iso())

        def done():
            op.update(status="DONE", progress=100, endTime=now_iso())
            if error:
                op["error"] = error
                op["httpErrorStatusCode"] = http_status or 400
                op["httpErrorMessage"] = HTTP_PHRASES[http_status or 400]
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

    def _replayed(self, query: dict, kind: str) -> dict | None:
        """The operation an earlier call of this method with this requestId made, if any: the
        API's replay. compute.v1.json, `requestId` of every mutating method: "the server will
        know to ignore the request if it has already been completed. For example, consider a
        situation where you make an initial request and the request times out. If you make the
        request again with the same request ID, the server can check if original operation with
        the same request ID was received, and if so, will ignore the second request." The server
        keeps them "for at least 60 minutes" (delays.request_id_ttl), per method."""
        request_id = rid(query)
        seen = self.request_ids.get((kind, request_id)) if request_id else None
        if seen is None:
            return None
        when, op = seen
        if time.monotonic() - when >= self.delays.request_id_ttl:
            del self.request_ids[(kind, request_id)]
            return None
        return op

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
        # The shape gcloud prints for a stockout of a GPU VM: help link, localizedMessage and
        # an ErrorInfo with reason resource_availability and the zones that have capacity
        # (docs: compute/docs/troubleshooting/troubleshooting-resource-availability; Operation
        # schema of compute.v1.json: error.errors[].errorDetails[].{help,localizedMessage,errorInfo}).
        others = ",".join(f"{region}-{z}" for z in "abcf" if f"{region}-{z}" != zone)
        return {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "message":
                            f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                            "resources available to fulfill the request.  '(resource type:compute)'.",
                            "errorDetails": [
                                {"help": {"links": [{"description": "Troubleshooting documentation",
                                                     "url": "https://cloud.google.com/compute/docs/resource-error"}]}},
                                {"localizedMessage": {"locale": "en-US", "message":
                                    f"A n1-standard-4 VM instance with 1 nvidia-tesla-t4 accelerator(s) "
                                    f"is currently unavailable in the {zone} zone. Consider trying your "
                                    f"request in the {others} zone(s), which currently has capacity to "
                                    "accommodate your request. Alternatively, you can try your request "
                                    "again with a different VM hardware configuration or at a later "
                                    "time. For more information, see the troubleshooting documentation."}},
                                {"errorInfo": {"reason": "resource_availability",
                                               "domain": "compute.googleapis.com",
                                               "metadatas": {"attachment": "nvidia-tesla-t4:1",
                                                             "vmType": "n1-standard-4", "zone": zone,
                                                             "zonesAvailable": others}}}]}]}
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
